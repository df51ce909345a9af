/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-plugin-record.h"

G_BEGIN_DECLS

/*
 * The on-disk store under the state dir (0700 dirs, 0600 files, whatever the umask):
 *
 *   <state>/plugins/<id>/plugin.json    the record (PdPluginRecord), written atomically
 *   <state>/plugins/<id>/rootfs/        the extracted rootfs
 *   <state>/plugins/<id>-removing/      transient while removing
 *   <state>/blobs/sha256/<hex>          content-addressed blobs shared by all plugins
 *   <state>/tmp/                        staging dirs and blob ingests; emptied at start
 *
 * A new plugin is staged in tmp/, its record written into the staging dir, and the whole dir
 * renamed to plugins/<id> in one step, so a plugin is either fully present or absent. Once a
 * rename that commits a change has succeeded the call succeeds: a failing fsync of the dir
 * after it is logged, never reported, because the change is already visible on disk.
 *
 * pd_store_new() runs the reconciler: it empties tmp/, finishes removals of <id>-removing dirs,
 * removes temp files of interrupted record writes, and removes entries of blobs/sha256/ that
 * are not named by a digest or are not regular files. It hashes no blob (that would take
 * minutes on a large store): blobs are published by a rename after hashing, so their names are
 * right by construction, and pd_store_read_blob() checks the content on every read.
 *
 * Since no crash can leave a plugins/<id> dir without a valid record or rootfs, such a dir is
 * real data (a record of a newer daemon, a config a later validator refuses, an I/O error): it
 * is left in place and not listed, and so are entries of plugins/ whose names are not ours;
 * each is logged once with a g_warning. pd_store_gc_blobs() keeps every blob such a dir's record
 * file names (a plain scan for digests, whatever the file's size or version), and deletes
 * nothing while one has no record it can read at all, since the blobs it needs are unknown.
 *
 * A record is written only when it is at most 4 MiB, a quarter of what the loader reads (16
 * MiB): whatever was saved loads again.
 *
 * The blob functions and the staging-dir functions only touch the file system and immutable
 * fields, so a GTask thread may call them; the rest is for the main thread.
 */
#define PD_TYPE_STORE (pd_store_get_type ())
G_DECLARE_FINAL_TYPE (PdStore, pd_store, PD, STORE, GObject)

PdStore *pd_store_new (const char *state_dir, GError **error);
const char *pd_store_get_state_dir (PdStore *self);

/* records of every installed plugin, sorted by name (then id); a GPtrArray of PdPluginRecord
 * owning its elements. A plugin dir whose record cannot be read or parsed, is for another id,
 * or that has no rootfs dir is skipped and left in place (see above). */
GPtrArray *pd_store_load_records (PdStore *self, GError **error);

/* a fresh 0700 dir under tmp/ */
char *pd_store_create_staging_dir (PdStore *self, GError **error);
/* removes a staging dir made by pd_store_create_staging_dir (and only such a dir) */
gboolean pd_store_discard_staging_dir (PdStore *self, const char *staging_dir, GError **error);
/* syncfs() of the state dir's file system: what a job extracted is on disk before its commit
 * makes it visible (a power loss must not leave a committed rootfs with empty files). Any
 * thread. */
gboolean pd_store_sync (PdStore *self, GError **error);
/* @staging_dir holds rootfs/; writes the record into it and renames it to plugins/<id> */
gboolean pd_store_commit_new_plugin (PdStore *self, PdPluginRecord *record,
                                     const char *staging_dir, GError **error);
/* @staging_dir holds the new rootfs/ of an installed plugin: writes the record into it and
 * exchanges it with plugins/<id> in one renameat2 (RENAME_EXCHANGE); @staging_dir then holds
 * the old plugin, for pd_store_discard_staging_dir() */
gboolean pd_store_commit_upgrade (PdStore *self, PdPluginRecord *record,
                                  const char *staging_dir, GError **error);
/* rewrites plugins/<id>/plugin.json atomically. This and the commits refuse a record larger
 * than 4 MiB (PD_ERROR_LIMITS_EXCEEDED) before anything is written. */
gboolean pd_store_save_record (PdStore *self, PdPluginRecord *record, GError **error);
/* renames plugins/<id> to plugins/<id>-removing and fsyncs: from then on the plugin is gone */
gboolean pd_store_remove_plugin (PdStore *self, const char *id, GError **error);
/* deletes plugins/<id>-removing; slow for a large rootfs, so callable from a thread */
gboolean pd_store_purge_removed_plugin (PdStore *self, const char *id, GError **error);
char *pd_store_get_rootfs_path (PdStore *self, const char *id);
/* bytes used by a plugin's rootfs (du, not following symlinks) */
guint64 pd_store_get_disk_usage (PdStore *self, const char *id);
/* the same for the rootfs/ of a staging dir (callable from a thread): the extraction helper's
 * count if pd_store_note_staging_usage () kept one (taken, so a second call walks the tree),
 * else a walk of the tree */
guint64 pd_store_get_staging_disk_usage (PdStore *self, const char *staging_dir);
/* keeps (@known) or forgets the extraction helper's count of @staging_dir's rootfs, the same
 * quantity as the walk's, for the next pd_store_get_staging_disk_usage () (in memory, any
 * thread; pd_store_discard_staging_dir () forgets it too) */
void pd_store_note_staging_usage (const char *staging_dir, gboolean known, guint64 bytes);

/* The store as plugind-transfer sees it: the daemon's state dir, opened without creating or
 * reconciling anything (read-only without @staging_dir). Blobs are written into the job's
 * @staging_dir (not tmp/ itself: a
 * helper killed at any point leaves its ingests where the job's failure deletes them) and
 * synced there as by the daemon; pins and the renames into blobs/ are asked of the daemon
 * through @hooks. */
typedef struct {
  /* pd_store_pin_existing_blob () */
  gboolean (*pin_existing) (const char *digest, gpointer data);
  /* publishes tmp/@tmp_name (synced, closed) as @digest and pins it: pd_store_adopt_blob () in
   * the daemon */
  gboolean (*commit) (const char *tmp_name, const char *digest, gpointer data, GError **error);
} PdStoreTransferHooks;
PdStore *pd_store_open_for_transfer (const char *state_dir, const char *staging_dir,
                                     const PdStoreTransferHooks *hooks, gpointer hooks_data,
                                     GError **error);
/* The daemon's side of a commit of plugind-transfer: pins @staging_dir/@tmp_name (a name the
 * store's writers make, checked) and renames it to blobs/sha256/<hex of @digest>, as
 * pd_blob_writer_commit () does after its fsync. The content is not hashed again: the helper
 * verified it against @digest before it asked. */
gboolean pd_store_adopt_blob (PdStore *self, const char *staging_dir, const char *tmp_name,
                              const char *digest, GError **error);
/* blobs */
typedef struct _PdBlobWriter PdBlobWriter;
PdBlobWriter *pd_store_blob_writer_new (PdStore *self, GError **error);
/* a writer for content the caller hashes itself and verifies against @digest before it
 * commits (a registry blob stream): it is committed as @digest without hashing it again */
PdBlobWriter *pd_store_blob_writer_new_verified (PdStore *self, const char *digest,
                                                 GError **error);
gboolean pd_blob_writer_write (PdBlobWriter *writer, const void *data, gsize len, GError **error);
/* fsyncs and renames into blobs/sha256/<hex>; returns "sha256:<hex>", pinned (see
 * pd_store_unpin_blob()) */
char *pd_blob_writer_commit (PdBlobWriter *writer, guint64 *size, GError **error);
/* discards the ingest when not committed */
void pd_blob_writer_free (PdBlobWriter *writer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdBlobWriter, pd_blob_writer_free)

/* pd_store_blob_writer_new() + write + commit: the returned digest is pinned as well */
char *pd_store_put_blob (PdStore *self, const void *data, gsize len, GError **error);
/* Pins: a committed blob is pinned, one count per commit (two commits of the same content
 * need two unpins), from before the rename that publishes it, and pd_store_gc_blobs() keeps
 * pinned blobs even when no record reaches them. This lets GC run while jobs write blobs that
 * no committed record references yet. The owner of a commit (the daemon, for the job that
 * wrote the blob) calls this once the record that references the blob has been committed, or
 * once the job has failed. Any thread. A blob that is only found present
 * (pd_store_has_blob()) and not written is not pinned. */
void pd_store_unpin_blob (PdStore *self, const char *digest);
gboolean pd_store_has_blob (PdStore *self, const char *digest);
/* pins a blob that is already in the store (one count, like a commit) so that a job can use it
 * until its record exists; FALSE (nothing pinned) when it is not there. Any thread. */
gboolean pd_store_pin_existing_blob (PdStore *self, const char *digest);
/* reads at most @max_size bytes (more → PD_ERROR_LIMITS_EXCEEDED) and checks the hash */
GBytes *pd_store_read_blob (PdStore *self, const char *digest, gsize max_size, GError **error);
char *pd_store_get_blob_path (PdStore *self, const char *digest);
/* deletes every blob that is neither pinned nor reachable from a record: its manifest, config
 * and layers (and, for a manifest blob present in the store, every digest the manifest lists).
 * Returns how many were deleted. @records must be every installed plugin, current for the
 * whole call (main thread: a plugin committed and unpinned during the call would lose its
 * blobs otherwise). Jobs may write blobs meanwhile: their pins are checked, under the lock a
 * writer pins under, right before each unlink. A dir of plugins/ named like a plugin id that is
 * not in @records (one whose record could not be loaded) keeps every blob its record file
 * names; while one has no record file that can be read, nothing is deleted and a g_warning
 * says why. */
guint pd_store_gc_blobs (PdStore *self, GPtrArray *records, GError **error);

G_END_DECLS
