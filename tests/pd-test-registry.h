/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-daemon-config.h"
#include "pd-reference.h"
#include "pd-registry.h"
#include "pd-store.h"

G_BEGIN_DECLS

/*
 * The real distribution registry (/usr/bin/docker-registry) for the tests of the registry
 * client and of pulls: one per test, on 127.0.0.1 and a free port, with its storage in the
 * test's temp dir; it dies with the test. Images are pushed with the client itself.
 */

typedef struct {
  char *dir;
  char *storage;
  char *access_log;  /* its stdout: one line per request */
  char *error_log;
  GSubprocess *proc;
  guint16 port;
  char *host;        /* "127.0.0.1:PORT" */
} PdTestRegistry;

void pd_test_registry_start (PdTestRegistry *reg, const char *parent);
void pd_test_registry_stop (PdTestRegistry *reg);
/* the file the registry keeps a blob (or a manifest) in */
char *pd_test_registry_blob_path (PdTestRegistry *reg, const char *digest);
/* replaces byte @offset of a stored blob: same size, other content */
void pd_test_registry_tamper (PdTestRegistry *reg, const char *digest, gsize offset);
/* how many requests "METHOD PATH…" (a path starting with @path) the access log has seen */
guint pd_test_registry_count_requests (PdTestRegistry *reg, const char *method, const char *path);
/* the registry logs a request once it is done with it, maybe after the client has read its
 * answer: waits until @path was seen at least @at_least times, and a little longer for
 * requests that should not be there */
guint pd_test_registry_wait_requests (PdTestRegistry *reg, const char *method, const char *path,
                                      guint at_least);

/* a registry, the default daemon config and a store, in a temp dir */
typedef struct {
  char *base;
  PdTestRegistry registry;
  PdDaemonConfig *config;
  char *state_dir;
  PdStore *store;
} PdTestRegistryFixture;

void pd_test_registry_fixture_setup (PdTestRegistryFixture *f, gconstpointer data);
/* also asserts that no helper, and no registry, outlives the test */
void pd_test_registry_fixture_teardown (PdTestRegistryFixture *f, gconstpointer data);
typedef void (*PdTestRegistryFunc) (PdTestRegistryFixture *f, gconstpointer data);
/* adds the test @path: @func with this fixture */
void pd_test_add_registry_test (const char *path, PdTestRegistryFunc func);

/* "<registry>/@path_and_tag" */
PdReference *pd_test_registry_ref (PdTestRegistryFixture *f, const char *path_and_tag);
PdRegistryClient *pd_test_registry_client (PdTestRegistryFixture *f, const char *path_and_tag,
                                           gboolean push);
/* uploads @data; its digest */
char *pd_test_registry_upload (PdRegistryClient *client, GBytes *data);
void pd_test_registry_put_manifest (PdRegistryClient *client, const char *tag,
                                    const char *media_type, GBytes *data);

/* @size bytes that do not repeat within 64 KiB */
GBytes *pd_test_noise (gsize size, guint32 seed);

/* a two-layer plugin image in plugind's layout: a lower layer, and an upper one with a whiteout
 * and an opaque directory; or, with the docker_made option, the same tree in one layer exactly
 * as Docker makes it */
typedef struct {
  GPtrArray *layers;    /* GBytes, gzipped */
  GPtrArray *digests;   /* char *, of the layers */
  GPtrArray *diff_ids;  /* char * */
  GBytes *config;
  char *config_digest;
  GBytes *manifest;
  char *manifest_digest;
} PdTestImage;

void pd_test_image_free (PdTestImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdTestImage, pd_test_image_free)

typedef struct {
  const char *description;        /* NULL: "a test plugin" */
  const char *config_media_type;  /* NULL: the plugin one */
  gboolean swap_diff_ids;
  /* as Docker's plugin create and push write them: each layer's compressed (blob) digest */
  gboolean compressed_diff_ids;
  /* the config's two rootfs.diff_ids, whatever the layers are (a hostile config) */
  const char *const *diff_ids;
  /* the image exactly as Docker Engine's plugin create and push make it (moby's
   * CreateFromContext and Push): one gzip layer of the same tree as Go's archive/tar writes it
   * (PdTestTarOptions.docker), its compressed digest as diff_id, the config with every field
   * of moby's PluginConfig as Go's json.Encoder writes it, and the compact manifest of
   * pd_test_docker_manifest () */
  gboolean docker_made;
} PdTestImageOptions;

/* the Docker version the docker_made config names */
#define PD_TEST_DOCKER_VERSION "20.10.24+dfsg1"

/* the manifest `docker plugin push` writes (moby's buildManifest, Go's json.Marshal): compact,
 * schemaVersion, config, layers (gzip, @layers a GBytes each) and mediaType last */
char *pd_test_docker_manifest (GBytes *config, GPtrArray *layers);

/* pushes the image to "<registry>/@path_and_tag" (which has a tag) with a client of its own;
 * @options may be NULL */
PdTestImage *pd_test_push_image (PdTestRegistryFixture *f, const char *path_and_tag,
                                 const PdTestImageOptions *options);

/* the rootfs of that image, as pd_test_list_tree () shows it */
#define PD_TEST_IMAGE_TREE \
  "bin d755\n" \
  "bin/tool f755 #!/bin/tool\n" \
  "etc d755\n" \
  "etc/b f644 B\n" \
  "new f644 N\n" \
  "opt d755\n" \
  "opt/y f644 Y\n" \
  "tool l ->bin/tool\n"

G_END_DECLS
