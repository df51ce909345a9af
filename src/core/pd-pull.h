/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-archive.h"
#include "pd-oci.h"
#include "pd-plugin-config.h"
#include "pd-registry.h"
#include "pd-store.h"

G_BEGIN_DECLS

/*
 * Pulling a plugin image (docs/design.md, section Data flows): resolve the reference to a
 * plugin manifest (from an image index: the requested platform; pd-oci.h reads both), fetch
 * and validate the config, then stream every layer in manifest order — download, verify, store
 * as a blob, decompress and extract confined — in one pass. Blocking: call from a GTask thread.
 */

/* What a reference resolved to: everything but the layers. */
typedef struct {
  char *digest;            /* what the reference names: the manifest, or the image index */
  char *manifest_digest;   /* the plugin manifest (the index entry picked, or = digest) */
  GBytes *manifest;        /* its bytes */
  char *manifest_media_type;
  char *config_digest;
  GBytes *config_data;
  PdPluginConfig *config;
  GPtrArray *layers;       /* PdDescriptor, manifest order */
} PdRemotePlugin;

void pd_remote_plugin_free (PdRemotePlugin *remote);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdRemotePlugin, pd_remote_plugin_free)

/* Parses remote->config_data into remote->config (a valid plugin config, PD_ERROR_INVALID_CONFIG
 * otherwise) and checks its rootfs.diff_ids against remote->layers: one sha256 digest each. */
gboolean pd_remote_plugin_parse_config (PdRemotePlugin *remote, GError **error);

/* "linux/amd64" of this host, as Go's GOOS/GOARCH spell it (variant for arm) */
const char *pd_pull_get_host_platform (void);

/* Fetches the manifest (by the reference's digest, else its tag or "latest"), picks @platform
 * ("os/arch[/variant]"; NULL = the host's) from an index, and fetches and validates the config:
 * a plugin config media type (PD_ERROR_UNSUPPORTED_MEDIA_TYPE otherwise, e.g. for an ordinary
 * container image), a valid config (PD_ERROR_INVALID_CONFIG), one diff_id per layer, layers of
 * a tar media type. @expected_digest (NULL = none): the digest the reference must resolve to
 * (PD_ERROR_DIGEST_MISMATCH). */
PdRemotePlugin *pd_pull_resolve (PdRegistryClient *client,
                                 const PdReference *ref,
                                 const char *platform,
                                 const char *expected_digest,
                                 GCancellable *cancellable,
                                 GError **error);

/* Download-once bookkeeping shared by every job of the daemon: a blob is downloaded by one job
 * at a time; the others wait and then find it in the store. Thread-safe. */
typedef struct _PdFetchTable PdFetchTable;
PdFetchTable *pd_fetch_table_new (void);
void pd_fetch_table_free (PdFetchTable *table);
/* Without waiting: claims @digest and returns TRUE, or FALSE while another job has it (the
 * daemon's side of plugind-transfer, which polls on the main thread). */
gboolean pd_fetch_table_try_claim (PdFetchTable *table, const char *digest);
/* waits while another job downloads @digest, then claims it (@waited: it did wait) */
gboolean pd_fetch_table_claim (PdFetchTable *table, const char *digest, gboolean *waited,
                               GCancellable *cancellable, GError **error);
void pd_fetch_table_release (PdFetchTable *table, const char *digest);
/* The table as plugind-transfer sees it: the daemon's, asked through @claim (which waits as
 * the daemon's claims do; @waited says whether another job had it) and @release. */
typedef gboolean (*PdFetchClaimFunc) (const char *digest, gboolean *waited, gpointer data,
                                      GError **error);
typedef void (*PdFetchReleaseFunc) (const char *digest, gpointer data);
PdFetchTable *pd_fetch_table_new_for_transfer (PdFetchClaimFunc claim,
                                               PdFetchReleaseFunc release, gpointer data);

/* Progress shared with the main thread (which polls it): guarded by its mutex. */
typedef struct {
  char *digest;
  const char *status;  /* "waiting", "downloading", "extracting", "exists", "complete" */
  guint64 current;
  guint64 total;
} PdLayerProgress;

typedef struct {
  GMutex lock;
  guint64 bytes_done;  /* layer bytes downloaded or read from the store */
  guint64 bytes_total;
  GPtrArray *layers;   /* PdLayerProgress */
} PdPullProgress;

void pd_pull_progress_init (PdPullProgress *progress);
void pd_pull_progress_clear (PdPullProgress *progress);
/* (digest, status, current, total) of every layer, for the Job's Layers (a(sstt) as a
 * GVariantBuilder would need GVariant types: returned as a GPtrArray copy of PdLayerProgress) */
GPtrArray *pd_pull_progress_dup_layers (PdPullProgress *progress, guint64 *bytes_done,
                                        guint64 *bytes_total);
void pd_layer_progress_free (PdLayerProgress *layer);
/* forgets the layers, then lists @descriptors (PdDescriptor) as "waiting" with their sizes */
void pd_pull_progress_start (PdPullProgress *progress, GPtrArray *descriptors);
/* layer @index: @status (static; NULL keeps it) and its bytes done so far (never going back);
 * a NULL @progress is ignored. Any thread. */
void pd_pull_progress_set_layer (PdPullProgress *progress, guint index, const char *status,
                                 guint64 current);

/* Applies every layer of @remote onto @staging_dir/rootfs in manifest order, verifying
 * rootfs.diff_ids. A layer already in the store is read from it; others are downloaded once
 * (see PdFetchTable) and stored as they stream by. Every blob used is pinned in @store and its
 * digest appended to @pinned_blobs (the caller unpins them once the record is committed or
 * the job failed); the manifest and config are stored (and pinned) too. A layer whose
 * descriptor's size passes @limits' max_bytes fails with PD_ERROR_LIMITS_EXCEEDED before any
 * download. */
gboolean pd_pull_fetch_layers (PdRegistryClient *client,
                               PdRemotePlugin *remote,
                               PdStore *store,
                               PdFetchTable *fetches,
                               const char *staging_dir,
                               const char *helper_path,
                               const PdArchiveLimits *limits,
                               PdPullProgress *progress,
                               GPtrArray *pinned_blobs,
                               GCancellable *cancellable,
                               GError **error);

G_END_DECLS
