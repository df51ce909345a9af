/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pulls (pd-pull.c) from the real distribution registry on 127.0.0.1 (tests/pd-test-registry.c):
 * resolving a reference through a manifest or an image index, fetching the layers into a
 * staging dir through the store and the fetch table, progress, pins, and what a wrong or
 * tampered image does; and the size check before any download.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-pull"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "pd-archive.h"
#include "pd-digest.h"
#include "pd-error.h"
#include "pd-oci.h"
#include "pd-pull.h"
#include "pd-test-registry.h"
#include "pd-test-store.h"
#include "pd-test-utils.h"

#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_IMAGE_CONFIG "application/vnd.docker.container.image.v1+json"
#define ZERO_DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"

static gboolean
strv_array_contains (GPtrArray *array, const char *value)
{
  return g_ptr_array_find_with_equal_func (array, value, g_str_equal, NULL);
}

static PdRemotePlugin *
resolve (PdTestRegistryFixture *f, PdRegistryClient *client, const char *path_and_tag, const char *platform,
         const char *expected, GError **error)
{
  g_autoptr(PdReference) ref = pd_test_registry_ref (f, path_and_tag);

  return pd_pull_resolve (client, ref, platform, expected, NULL, error);
}

static char *
staging_rootfs (const char *staging)
{
  return g_build_filename (staging, "rootfs", NULL);
}

static void
test_pull (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/plugin:v1", FALSE);
  g_autoptr(PdRegistryClient) offline = NULL;
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/plugin:v1", NULL);
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autoptr(PdRemotePlugin) by_digest = NULL;
  g_autofree char *digest_ref = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) pinned_again = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) progress_layers = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();
  PdPullProgress progress;
  g_autofree char *staging = NULL;
  g_autofree char *staging_again = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *rootfs_again = NULL;
  g_autofree char *tree = NULL;
  g_autofree char *tree_again = NULL;
  guint64 bytes_done = 0, bytes_total = 0;
  guint removed;

  remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (remote);
  g_assert_cmpstr (remote->digest, ==, image->manifest_digest);
  g_assert_cmpstr (remote->manifest_digest, ==, image->manifest_digest);
  g_assert_true (g_bytes_equal (remote->manifest, image->manifest));
  g_assert_cmpstr (remote->manifest_media_type, ==, PD_MEDIA_TYPE_DOCKER_MANIFEST);
  g_assert_cmpstr (remote->config_digest, ==, image->config_digest);
  g_assert_true (g_bytes_equal (remote->config_data, image->config));
  g_assert_cmpstr (remote->config->description, ==, "a test plugin");
  g_assert_cmpuint (remote->layers->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      PdDescriptor *layer = remote->layers->pdata[i];

      g_assert_cmpstr (layer->digest, ==, image->digests->pdata[i]);
      g_assert_cmpuint (layer->size, ==, g_bytes_get_size (image->layers->pdata[i]));
      g_assert_cmpstr (remote->config->rootfs_diff_ids[i], ==, image->diff_ids->pdata[i]);
    }

  /* the same by digest */
  digest_ref = g_strdup_printf ("test/plugin@%s", image->manifest_digest);
  by_digest = resolve (f, client, digest_ref, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (by_digest->manifest_digest, ==, image->manifest_digest);
  g_assert_cmpstr (by_digest->config_digest, ==, image->config_digest);

  /* fetched into a staging dir */
  staging = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  pd_pull_progress_init (&progress);
  g_assert_true (pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                                       pd_archive_get_helper_path (), NULL, &progress, pinned,
                                       NULL, &error));
  g_assert_no_error (error);
  rootfs = staging_rootfs (staging);
  tree = pd_test_list_tree (rootfs);
  g_assert_cmpstr (tree, ==, PD_TEST_IMAGE_TREE);

  /* every layer downloaded once, progress complete */
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *path = g_strdup_printf ("/v2/test/plugin/blobs/%s",
                                               (char *) image->digests->pdata[i]);
      g_assert_cmpuint (pd_test_registry_wait_requests (&f->registry, "GET", path, 1), ==, 1);
    }
  progress_layers = pd_pull_progress_dup_layers (&progress, &bytes_done, &bytes_total);
  g_assert_cmpuint (progress_layers->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      PdLayerProgress *layer = progress_layers->pdata[i];

      g_assert_cmpstr (layer->digest, ==, image->digests->pdata[i]);
      g_assert_cmpstr (layer->status, ==, "complete");
      g_assert_cmpuint (layer->current, ==, layer->total);
      g_assert_cmpuint (layer->total, ==, g_bytes_get_size (image->layers->pdata[i]));
    }
  g_assert_cmpuint (bytes_total, ==, g_bytes_get_size (image->layers->pdata[0]) +
                                     g_bytes_get_size (image->layers->pdata[1]));
  g_assert_cmpuint (bytes_done, ==, bytes_total);

  /* the layers, the config and the manifest are stored and pinned, once each */
  g_assert_cmpuint (pinned->len, ==, 4);
  g_assert_true (strv_array_contains (pinned, image->digests->pdata[0]));
  g_assert_true (strv_array_contains (pinned, image->digests->pdata[1]));
  g_assert_true (strv_array_contains (pinned, image->config_digest));
  g_assert_true (strv_array_contains (pinned, image->manifest_digest));
  for (guint i = 0; i < pinned->len; i++)
    {
      g_autoptr(GBytes) stored = pd_store_read_blob (f->store, pinned->pdata[i], 1024 * 1024,
                                                     &error);
      g_assert_no_error (error);
      g_assert_nonnull (stored);
    }
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);

  /* again, with the registry gone: the layers come from the store, and resolve's data is
   * all a fetch needs; a new client that never made a request proves no download */
  pd_test_registry_stop (&f->registry);
  offline = pd_test_registry_client (f, "test/plugin:v1", FALSE);
  staging_again = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  g_assert_true (pd_pull_fetch_layers (offline, remote, f->store, fetches, staging_again,
                                       pd_archive_get_helper_path (), NULL, &progress,
                                       pinned_again, NULL, &error));
  g_assert_no_error (error);
  g_assert_null (pd_registry_client_get_endpoint (offline));
  rootfs_again = staging_rootfs (staging_again);
  tree_again = pd_test_list_tree (rootfs_again);
  g_assert_cmpstr (tree_again, ==, PD_TEST_IMAGE_TREE);
  g_assert_cmpuint (pinned_again->len, ==, 4);
  g_assert_true (strv_array_contains (pinned_again, image->digests->pdata[0]));
  g_assert_true (strv_array_contains (pinned_again, image->digests->pdata[1]));
  g_clear_pointer (&progress_layers, g_ptr_array_unref);
  progress_layers = pd_pull_progress_dup_layers (&progress, &bytes_done, &bytes_total);
  g_assert_cmpuint (progress_layers->len, ==, 2);
  /* Docker's "Already exists" */
  for (guint i = 0; i < 2; i++)
    g_assert_cmpstr (((PdLayerProgress *) progress_layers->pdata[i])->status, ==, "exists");
  g_assert_cmpuint (bytes_done, ==, bytes_total);

  /* pins are balanced: unpinning what was reported frees everything */
  for (guint i = 0; i < pinned->len; i++)
    pd_store_unpin_blob (f->store, pinned->pdata[i]);
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  for (guint i = 0; i < pinned_again->len; i++)
    pd_store_unpin_blob (f->store, pinned_again->pdata[i]);
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 4);

  pd_pull_progress_clear (&progress);
  pd_fetch_table_free (fetches);
}

typedef struct {
  PdTestRegistryFixture *f;
  PdRemotePlugin *remote;
  PdFetchTable *fetches;
  char *staging;
  GPtrArray *pinned;
  GError *error;
  gboolean ok;
} FetchThread;

static gpointer
fetch_thread (gpointer user_data)
{
  FetchThread *t = user_data;
  /* a client belongs to its thread */
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (t->f, "test/plugin:v1", FALSE);
  PdPullProgress progress;

  pd_pull_progress_init (&progress);
  t->ok = pd_pull_fetch_layers (client, t->remote, t->f->store, t->fetches, t->staging,
                                pd_archive_get_helper_path (), NULL, &progress, t->pinned, NULL,
                                &t->error);
  pd_pull_progress_clear (&progress);
  return NULL;
}

/* two jobs pulling the same image at once download each layer once (PdFetchTable) */
static void
test_pull_concurrent (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/plugin:v1", FALSE);
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/plugin:v1", NULL);
  g_autoptr(PdRemotePlugin) remote = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();
  FetchThread threads[3] = { { 0 } };
  GThread *handles[G_N_ELEMENTS (threads)];
  guint removed;

  remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      threads[i].f = f;
      threads[i].remote = remote;
      threads[i].fetches = fetches;
      threads[i].staging = pd_store_create_staging_dir (f->store, &error);
      g_assert_no_error (error);
      threads[i].pinned = g_ptr_array_new_with_free_func (g_free);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    handles[i] = g_thread_new ("fetch", fetch_thread, &threads[i]);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (handles[i]);

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      g_autofree char *rootfs = staging_rootfs (threads[i].staging);
      g_autofree char *tree = NULL;

      g_assert_no_error (threads[i].error);
      g_assert_true (threads[i].ok);
      tree = pd_test_list_tree (rootfs);
      g_assert_cmpstr (tree, ==, PD_TEST_IMAGE_TREE);
      g_assert_cmpuint (threads[i].pinned->len, ==, 4);
    }
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *path = g_strdup_printf ("/v2/test/plugin/blobs/%s",
                                               (char *) image->digests->pdata[i]);
      g_assert_cmpuint (pd_test_registry_wait_requests (&f->registry, "GET", path, 1), ==, 1);
    }

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      for (guint j = 0; j < threads[i].pinned->len; j++)
        pd_store_unpin_blob (f->store, threads[i].pinned->pdata[j]);
      g_ptr_array_unref (threads[i].pinned);
      g_free (threads[i].staging);
    }
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 4);
  pd_fetch_table_free (fetches);
}

static void
test_pull_not_plugin (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/image:v1", FALSE);
  const PdTestImageOptions options = { .config_media_type = MEDIA_TYPE_IMAGE_CONFIG };
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/image:v1", &options);
  g_autoptr(PdRemotePlugin) remote = NULL;

  remote = resolve (f, client, "test/image:v1", NULL, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE);
  g_assert_nonnull (strstr (pd_test_message_of (error), MEDIA_TYPE_IMAGE_CONFIG));
  g_assert_null (remote);
  /* refused before its config was fetched */
  {
    g_autofree char *path = g_strdup_printf ("/v2/test/image/blobs/%s", image->config_digest);
    g_assert_cmpuint (pd_test_registry_wait_requests (&f->registry, "GET", path, 0), ==, 0);
  }
}

static void
test_pull_expected_digest (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/plugin:v1", FALSE);
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/plugin:v1", NULL);
  g_autoptr(PdRemotePlugin) remote = NULL;

  remote = resolve (f, client, "test/plugin:v1", NULL, ZERO_DIGEST, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (pd_test_message_of (error), image->manifest_digest));
  g_assert_nonnull (strstr (pd_test_message_of (error), ZERO_DIGEST));
  g_assert_null (remote);
  g_clear_error (&error);

  remote = resolve (f, client, "test/plugin:v1", NULL, image->manifest_digest, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (remote->digest, ==, image->manifest_digest);
}

/* "os/arch[/variant]" as an index platform object */
static char *
platform_json (const char *platform)
{
  g_auto(GStrv) parts = g_strsplit (platform, "/", 3);

  g_assert_nonnull (parts[1]);
  if (parts[2] != NULL)
    return g_strdup_printf ("{\"architecture\": \"%s\", \"os\": \"%s\", \"variant\": \"%s\"}",
                            parts[1], parts[0], parts[2]);
  return g_strdup_printf ("{\"architecture\": \"%s\", \"os\": \"%s\"}", parts[1], parts[0]);
}

static void
test_pull_index (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = pd_test_registry_client (f, "test/multi:latest", TRUE);
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/multi:latest", FALSE);
  const char *host_platform = pd_pull_get_host_platform ();
  const char *other_platform = g_str_equal (host_platform, "linux/s390x") ? "linux/riscv64"
                                                                          : "linux/s390x";
  const PdTestImageOptions host_options = { .description = "for this host" };
  const PdTestImageOptions other_options = { .description = "for another machine" };
  g_autoptr(PdTestImage) host_image = pd_test_push_image (f, "test/multi:host",
                                                             &host_options);
  g_autoptr(PdTestImage) other_image = pd_test_push_image (f, "test/multi:other",
                                                              &other_options);
  g_autofree char *host_json = platform_json (host_platform);
  g_autofree char *other_json = platform_json (other_platform);
  g_autofree char *index = NULL;
  g_autoptr(GBytes) index_bytes = NULL;
  g_autofree char *index_digest = NULL;
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *tree = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  PdFetchTable *fetches = pd_fetch_table_new ();

  g_assert_cmpstr (host_platform, !=, "linux/unknown");
  index = g_strdup_printf ("{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"manifests\": ["
                           "{\"mediaType\": \"%s\", \"digest\": \"%s\", \"size\": %" G_GSIZE_FORMAT
                           ", \"platform\": %s},"
                           "{\"mediaType\": \"%s\", \"digest\": \"%s\", \"size\": %" G_GSIZE_FORMAT
                           ", \"platform\": %s}]}",
                           MEDIA_TYPE_DOCKER_LIST,
                           PD_MEDIA_TYPE_DOCKER_MANIFEST, other_image->manifest_digest,
                           g_bytes_get_size (other_image->manifest), other_json,
                           PD_MEDIA_TYPE_DOCKER_MANIFEST, host_image->manifest_digest,
                           g_bytes_get_size (host_image->manifest), host_json);
  index_bytes = g_bytes_new (index, strlen (index));
  index_digest = pd_test_digest (index_bytes);
  pd_test_registry_put_manifest (pusher, "latest", MEDIA_TYPE_DOCKER_LIST, index_bytes);

  /* the host's platform by default */
  remote = resolve (f, client, "test/multi:latest", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (remote->digest, ==, index_digest);
  g_assert_cmpstr (remote->manifest_digest, ==, host_image->manifest_digest);
  g_assert_cmpstr (remote->config_digest, ==, host_image->config_digest);
  g_assert_cmpstr (remote->config->description, ==, "for this host");
  g_clear_pointer (&remote, pd_remote_plugin_free);

  /* the expected digest is the index's: what the reference names */
  remote = resolve (f, client, "test/multi:latest", other_platform, index_digest, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (remote->digest, ==, index_digest);
  g_assert_cmpstr (remote->manifest_digest, ==, other_image->manifest_digest);
  g_assert_cmpstr (remote->config->description, ==, "for another machine");

  /* and what was picked is what a fetch stores */
  staging = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  g_assert_true (pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                                       pd_archive_get_helper_path (), NULL, NULL, pinned, NULL,
                                       &error));
  g_assert_no_error (error);
  rootfs = staging_rootfs (staging);
  tree = pd_test_list_tree (rootfs);
  g_assert_cmpstr (tree, ==, PD_TEST_IMAGE_TREE);
  g_assert_true (strv_array_contains (pinned, other_image->manifest_digest));
  g_assert_true (strv_array_contains (pinned, other_image->config_digest));
  for (guint i = 0; i < pinned->len; i++)
    pd_store_unpin_blob (f->store, pinned->pdata[i]);
  g_clear_pointer (&remote, pd_remote_plugin_free);

  /* a platform the index lacks */
  remote = resolve (f, client, "test/multi:latest", "windows/amd64", NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE);
  g_assert_nonnull (strstr (pd_test_message_of (error), "windows/amd64"));
  g_assert_nonnull (strstr (pd_test_message_of (error), other_platform));
  g_assert_null (remote);
  pd_fetch_table_free (fetches);
}

/* resolves "test/plugin:v1" and fetches its layers into a new staging dir, which must fail
 * with a digest mismatch that names the first layer, and pin nothing */
static void
assert_fetch_mismatch (PdTestRegistryFixture *f, PdTestImage *image)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/plugin:v1", FALSE);
  g_autoptr(PdRemotePlugin) remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *staging = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();

  g_assert_no_error (error);
  staging = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  g_assert_false (pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                                        pd_archive_get_helper_path (), NULL, NULL, pinned, NULL,
                                        &error));
  g_assert_nonnull (error);
  g_test_message ("%s", pd_test_message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (pd_test_message_of (error), image->digests->pdata[0]));
  g_assert_false (pd_store_has_blob (f->store, image->digests->pdata[0]));
  g_assert_cmpuint (pinned->len, ==, 0);
  pd_fetch_table_free (fetches);
}

/* the config's diff_ids in the wrong order: the first layer fails, nothing is stored */
static void
test_pull_wrong_diff_id (PdTestRegistryFixture *f, gconstpointer data)
{
  const PdTestImageOptions options = { .swap_diff_ids = TRUE };
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/plugin:v1", &options);

  assert_fetch_mismatch (f, image);
  g_assert_false (pd_store_has_blob (f->store, image->digests->pdata[1]));
}

/* fetches the layers of @remote into a new staging dir, unpinning what it pinned: TRUE, or
 * FALSE and @error */
static gboolean
fetch_into_staging (PdTestRegistryFixture *f, PdRegistryClient *client, PdRemotePlugin *remote,
                    PdFetchTable *fetches, char **tree, GError **error)
{
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *staging = pd_store_create_staging_dir (f->store, error);
  g_autofree char *rootfs = NULL;
  gboolean ok;

  g_assert_nonnull (staging);
  ok = pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                             pd_archive_get_helper_path (), NULL, NULL, pinned, NULL, error);
  rootfs = staging_rootfs (staging);
  if (ok && tree != NULL)
    *tree = pd_test_list_tree (rootfs);
  for (guint i = 0; i < pinned->len; i++)
    pd_store_unpin_blob (f->store, pinned->pdata[i]);
  return ok;
}

/* Docker's diff_ids, the compressed digests, are accepted: the blob digest is checked on
 * download and, since no diff_id covers it, again when a stored blob is used. A stored blob
 * whose bytes changed but decompress to the same tar is refused: a bit of gzip's MTIME field,
 * which readers ignore, and bytes after the compressed stream, which the layer never reads. */
static void
check_blob_digest_diff_ids (PdTestRegistryFixture *f, const PdTestImageOptions *options)
{
  static const char trailer[] = "\0\0\0\0 bytes after the gzip member";
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/plugin:v1", options);
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/plugin:v1", FALSE);
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *blob_path = NULL;
  g_autofree char *blob = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();
  gsize len = 0;

  remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < image->digests->len; i++)
    g_assert_cmpstr (remote->config->rootfs_diff_ids[i], ==, image->digests->pdata[i]);

  /* downloaded, then from the store */
  for (guint round = 0; round < 2; round++)
    {
      g_autofree char *tree = NULL;

      g_assert_true (fetch_into_staging (f, client, remote, fetches, &tree, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (tree, ==, PD_TEST_IMAGE_TREE);
    }
  for (guint i = 0; i < image->digests->len; i++)
    {
      g_autofree char *path = g_strdup_printf ("/v2/test/plugin/blobs/%s",
                                               (char *) image->digests->pdata[i]);
      g_assert_cmpuint (pd_test_registry_wait_requests (&f->registry, "GET", path, 1), ==, 1);
    }

  blob_path = pd_store_get_blob_path (f->store, image->digests->pdata[0]);
  g_assert_true (g_file_get_contents (blob_path, &blob, &len, NULL));
  g_assert_cmpint (g_chmod (blob_path, 0600), ==, 0);
  for (guint rot = 0; rot < 2; rot++)
    {
      g_autoptr(GByteArray) rotten = g_byte_array_new ();

      g_byte_array_append (rotten, (const guint8 *) blob, (guint) len);
      if (rot == 0)
        rotten->data[4] ^= 0x01;
      else
        g_byte_array_append (rotten, (const guint8 *) trailer, sizeof trailer);
      g_assert_true (g_file_set_contents_full (blob_path, (const char *) rotten->data,
                                               (gssize) rotten->len, G_FILE_SET_CONTENTS_CONSISTENT,
                                               0600, NULL));
      g_assert_false (fetch_into_staging (f, client, remote, fetches, NULL, &error));
      g_test_message ("%s", pd_test_message_of (error));
      g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
      g_assert_nonnull (strstr (pd_test_message_of (error), image->digests->pdata[0]));
      g_clear_error (&error);
    }
  /* the blob as it was: fine again */
  g_assert_true (g_file_set_contents_full (blob_path, blob, (gssize) len,
                                           G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
  g_assert_true (fetch_into_staging (f, client, remote, fetches, NULL, &error));
  g_assert_no_error (error);
  pd_fetch_table_free (fetches);
}

static void
test_pull_compressed_diff_ids (PdTestRegistryFixture *f, gconstpointer data)
{
  const PdTestImageOptions options = { .compressed_diff_ids = TRUE };

  check_blob_digest_diff_ids (f, &options);
}

/* the image as Docker Engine makes it: one layer from Go's archive/tar, Docker's config with
 * its nulls, the compact manifest */
static void
test_pull_docker_made (PdTestRegistryFixture *f, gconstpointer data)
{
  const PdTestImageOptions options = { .docker_made = TRUE, .description = "made by docker" };
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/plugin:v1", &options);
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/plugin:v1", FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRemotePlugin) remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (remote->manifest_digest, ==, image->manifest_digest);
  g_assert_cmpstr (remote->config->description, ==, "made by docker");
  g_assert_cmpstrv (remote->config->entrypoint, STRV ("/bin/tool"));
  g_assert_cmpuint (remote->layers->len, ==, 1);
  check_blob_digest_diff_ids (f, &options);
}

/* A hostile config names, as a layer's diff_id, the digest of another blob the pull verifies:
 * another layer's, or a config's. Only the layer's own blob digest stands for its content, so
 * the layer is checked against that diff_id and refused, whether it is downloaded or stored. */
static void
test_pull_diff_id_of_other_blob (PdTestRegistryFixture *f, gconstpointer data)
{
  /* the honest image, whose blobs the hostile ones share */
  g_autoptr(PdTestImage) honest = pd_test_push_image (f, "test/plugin:v1", NULL);
  g_autoptr(PdTestImage) other = pd_test_push_image (f, "test/other:v1",
                                                     &(PdTestImageOptions) { .description = "x" });
  const char *const lies[][2] = {
    /* each layer claims the other's blob digest */
    { honest->digests->pdata[1], honest->digests->pdata[0] },
    /* the first layer's is right, the second claims the first layer's blob digest */
    { honest->diff_ids->pdata[0], honest->digests->pdata[0] },
    /* a config blob's digest, of the honest image and of another one */
    { honest->config_digest, honest->diff_ids->pdata[1] },
    { honest->diff_ids->pdata[0], other->config_digest },
  };

  for (guint stored = 0; stored < 2; stored++)
    for (guint i = 0; i < G_N_ELEMENTS (lies); i++)
      {
        const PdTestImageOptions options = { .diff_ids = lies[i] };
        g_autofree char *tag = g_strdup_printf ("test/hostile:%u-%u", stored, i);
        g_autofree char *bad_layer = NULL;
        g_autoptr(PdTestImage) hostile = pd_test_push_image (f, tag, &options);
        g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, tag, FALSE);
        g_autoptr(GError) error = NULL;
        g_autoptr(PdRemotePlugin) remote = resolve (f, client, tag, NULL, NULL, &error);
        PdFetchTable *fetches = pd_fetch_table_new ();

        g_assert_no_error (error);
        g_assert_cmpstr (hostile->digests->pdata[0], ==, honest->digests->pdata[0]);
        g_assert_cmpstr (remote->config->rootfs_diff_ids[1], ==, lies[i][1]);
        if (stored == 1)
          {
            /* the blobs are in the store, from the honest image */
            g_autoptr(PdRegistryClient) honest_client =
              pd_test_registry_client (f, "test/plugin:v1", FALSE);
            g_autoptr(PdRemotePlugin) honest_remote =
              resolve (f, honest_client, "test/plugin:v1", NULL, NULL, &error);

            g_assert_no_error (error);
            g_assert_true (fetch_into_staging (f, honest_client, honest_remote, fetches, NULL,
                                               &error));
            g_assert_no_error (error);
          }
        g_assert_false (fetch_into_staging (f, client, remote, fetches, NULL, &error));
        g_test_message ("%s", pd_test_message_of (error));
        g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
        bad_layer = g_strdup (g_str_equal (lies[i][0], honest->diff_ids->pdata[0])
                                ? honest->digests->pdata[1] : honest->digests->pdata[0]);
        g_assert_nonnull (strstr (pd_test_message_of (error), bad_layer));
        g_assert_nonnull (strstr (pd_test_message_of (error), "rootfs.diff_ids"));
        /* before the honest pull, the second layer never passed: it is not stored */
        if (stored == 0)
          g_assert_false (pd_store_has_blob (f->store, honest->digests->pdata[1]));
        pd_fetch_table_free (fetches);
      }
}

/* a blob of the image Docker Engine made (tests/integration/docker-made) */
static GBytes *
docker_made_blob (const char *digest)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "integration", "docker-made",
                                                 "blobs", "sha256",
                                                 digest + strlen ("sha256:"), NULL);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_no_error (error);
  return g_bytes_new_take (contents, len);
}

static JsonNode *
parse_json_bytes (GBytes *bytes)
{
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autofree char *text = g_strndup (data, len);
  JsonNode *node = json_from_string (text, &error);

  g_assert_no_error (error);
  return node;
}

static GBytes *
gunzip (GBytes *gzipped)
{
  g_autoptr(GZlibDecompressor) decompressor =
    g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GInputStream) memory = g_memory_input_stream_new_from_bytes (gzipped);
  g_autoptr(GInputStream) stream =
    g_converter_input_stream_new (memory, G_CONVERTER (decompressor));
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_output_stream_splice (out, stream, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                           NULL, &error), >, 0);
  g_assert_no_error (error);
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

/* the member names of two objects, in order, and those of the members that are objects in
 * both, below them */
static void
assert_same_members (JsonObject *ours, JsonObject *docker, const char *where)
{
  g_autoptr(GList) our_names = json_object_get_members (ours);
  g_autoptr(GList) docker_names = json_object_get_members (docker);
  GList *a = our_names, *b = docker_names;

  for (; a != NULL && b != NULL; a = a->next, b = b->next)
    {
      JsonNode *x = json_object_get_member (ours, a->data);
      JsonNode *y = json_object_get_member (docker, b->data);

      g_test_message ("%s: %s, %s", where, (char *) a->data, (char *) b->data);
      g_assert_cmpstr (a->data, ==, b->data);
      if (JSON_NODE_HOLDS_OBJECT (x) && JSON_NODE_HOLDS_OBJECT (y))
        assert_same_members (json_node_get_object (x), json_node_get_object (y), a->data);
    }
  g_assert_null (a);
  g_assert_null (b);
}

/* The test writer's docker_made image against the image Docker Engine 20.10 made: the layer tar
 * byte for byte (the same rootfs written by pd_test_build_tar ()'s docker option), Go's gzip
 * header, the manifest byte for byte (pd_test_docker_manifest ()), and the config's fields in
 * Docker's order. */
static void
test_pull_docker_made_fixtures (PdTestRegistryFixture *f, gconstpointer data)
{
  static const PdTestEntry rootfs[] = {
    { T_DIR, "." },
    { T_FILE, "VERSION", NULL, 0644, "1\n" },
    { T_DIR, "data" },
    { T_DIR, "etc" },
    { T_FILE, "etc/motd", NULL, 0644, "made by docker plugin create\n" },
    { T_HARDLINK, "etc/motd.link", "etc/motd", 0644 },
    { T_DIR, "opt" },
    { T_DIR, "opt/example" },
    { T_SYMLINK, "plugin", "opt/example/plugind-example" },
    { T_END },
  };
  const PdTestTarOptions tar_options = { .docker = TRUE };
  const PdTestTarOptions gzip_options = { .docker = TRUE, .filter = FILTER_GZIP };
  const PdTestImageOptions options = { .docker_made = TRUE };
  g_autofree char *tags_path = g_test_build_filename (G_TEST_DIST, "integration", "docker-made",
                                                      "tags.json", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) tags = NULL;
  g_autofree char *tags_text = NULL;
  g_autoptr(GBytes) manifest = NULL;
  g_autoptr(JsonNode) manifest_node = NULL;
  g_autoptr(GBytes) config = NULL;
  g_autoptr(GBytes) layer = NULL;
  g_autoptr(GBytes) layer_tar = NULL;
  g_autoptr(GBytes) our_tar = NULL;
  g_autoptr(GBytes) our_layer = NULL;
  g_autoptr(GPtrArray) layers = g_ptr_array_new ();
  g_autofree char *our_manifest = NULL;
  g_autoptr(JsonNode) docker_config = NULL;
  g_autoptr(JsonNode) our_config = NULL;
  g_autoptr(PdTestImage) image = NULL;
  JsonObject *object;
  gsize config_len;

  g_assert_true (g_file_get_contents (tags_path, &tags_text, NULL, &error));
  tags = json_from_string (tags_text, &error);
  g_assert_no_error (error);
  manifest = docker_made_blob (json_object_get_string_member (json_node_get_object (tags), "v1"));
  manifest_node = parse_json_bytes (manifest);
  object = json_node_get_object (manifest_node);
  config = docker_made_blob (json_object_get_string_member (
                               json_object_get_object_member (object, "config"), "digest"));
  layer = docker_made_blob (json_object_get_string_member (
                              json_node_get_object (json_array_get_element (
                                json_object_get_array_member (object, "layers"), 0)),
                              "digest"));

  layer_tar = gunzip (layer);
  our_tar = pd_test_build_tar (rootfs, &tar_options);
  g_assert_cmpmem (g_bytes_get_data (our_tar, NULL), g_bytes_get_size (our_tar),
                   g_bytes_get_data (layer_tar, NULL), g_bytes_get_size (layer_tar));
  our_layer = pd_test_build_layer (rootfs, &gzip_options, NULL);
  g_assert_cmpmem (g_bytes_get_data (our_layer, NULL), 10, g_bytes_get_data (layer, NULL), 10);

  g_ptr_array_add (layers, layer);
  our_manifest = pd_test_docker_manifest (config, layers);
  g_assert_cmpmem (our_manifest, strlen (our_manifest), g_bytes_get_data (manifest, NULL),
                   g_bytes_get_size (manifest));

  image = pd_test_push_image (f, "test/plugin:v1", &options);
  docker_config = parse_json_bytes (config);
  our_config = parse_json_bytes (image->config);
  assert_same_members (json_node_get_object (our_config), json_node_get_object (docker_config),
                       "config");
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (docker_config),
                                                  "DockerVersion"), ==, PD_TEST_DOCKER_VERSION);
  config_len = g_bytes_get_size (image->config);
  g_assert_cmpmem ((const char *) g_bytes_get_data (image->config, NULL) + config_len - 2, 2,
                   "}\n", 2);
}

/* A layer blob whose bytes differ from its digest but decompress to the same tar (its gzip
 * header's mtime changed): only the blob digest can tell, and it must; the unverified bytes
 * are not committed to the store either. */
static void
test_pull_tampered_layer (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/plugin:v1", NULL);
  g_autofree char *tampered = NULL;
  g_autofree char *tampered_digest = NULL;
  g_autofree char *path = pd_test_registry_blob_path (&f->registry, image->digests->pdata[0]);
  gsize len = 0;

  /* gzip's MTIME field: readers ignore it */
  pd_test_registry_tamper (&f->registry, image->digests->pdata[0], 4);
  g_assert_true (g_file_get_contents (path, &tampered, &len, NULL));
  tampered_digest = pd_sha256_digest_bytes (tampered, len);
  g_assert_cmpstr (tampered_digest, !=, image->digests->pdata[0]);

  assert_fetch_mismatch (f, image);
  g_assert_false (pd_store_has_blob (f->store, tampered_digest));
}

/* a layer the manifest says is larger than MaxArchiveBytes is refused before any download (the
 * registry here is a closed port: asking it would be a RegistryError) and stores nothing */
static void
test_layer_too_large (PdTestStoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (f->state_dir);
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();
  g_autoptr(PdReference) ref = pd_reference_parse ("127.0.0.1:1/test/plugin:latest", &error);
  g_autoptr(PdRegistryClient) client = NULL;
  g_autoptr(PdRemotePlugin) remote = g_new0 (PdRemotePlugin, 1);
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *staging = pd_store_create_staging_dir (store, &error);
  g_autofree char *blobs = g_build_filename (f->state_dir, "blobs", "sha256", NULL);
  g_autoptr(GDir) dir = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();
  PdArchiveLimits limits;

  g_assert_no_error (error);
  client = pd_registry_client_new (config, ref, NULL, FALSE, &error);
  g_assert_no_error (error);
  remote->config = pd_test_level_config ("big", "low");
  pd_plugin_config_set_diff_ids (remote->config, (const char *const[]) { DIGEST_4, DIGEST_5,
                                                                          NULL });
  remote->layers = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_descriptor_free);
  g_ptr_array_add (remote->layers, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP, DIGEST_1,
                                                      1024));
  g_ptr_array_add (remote->layers, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP, DIGEST_2,
                                                      1024 * 1024 + 1));
  remote->config_digest = g_strdup (DIGEST_3);
  remote->config_data = g_bytes_new_static ("{}", 2);
  remote->manifest_digest = g_strdup (DIGEST_6);
  remote->manifest = g_bytes_new_static ("{}", 2);
  pd_archive_limits_init (&limits);
  limits.max_bytes = 1024 * 1024;

  g_assert_false (pd_pull_fetch_layers (client, remote, store, fetches, staging,
                                        pd_archive_get_helper_path (), &limits, NULL, pinned,
                                        NULL, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_assert_nonnull (strstr (pd_test_message_of (error), DIGEST_2));
  g_assert_cmpuint (pinned->len, ==, 0);
  dir = g_dir_open (blobs, 0, NULL);
  g_assert_nonnull (dir);
  g_assert_null (g_dir_read_name (dir));
  pd_fetch_table_free (fetches);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  pd_test_add_registry_test ("/pull/two-layers", test_pull);
  pd_test_add_registry_test ("/pull/concurrent", test_pull_concurrent);
  pd_test_add_registry_test ("/pull/not-plugin", test_pull_not_plugin);
  pd_test_add_registry_test ("/pull/expected-digest", test_pull_expected_digest);
  pd_test_add_registry_test ("/pull/index", test_pull_index);
  pd_test_add_registry_test ("/pull/wrong-diff-id", test_pull_wrong_diff_id);
  pd_test_add_registry_test ("/pull/tampered-layer", test_pull_tampered_layer);
  pd_test_add_registry_test ("/pull/compressed-diff-ids", test_pull_compressed_diff_ids);
  pd_test_add_registry_test ("/pull/docker-made", test_pull_docker_made);
  pd_test_add_registry_test ("/pull/docker-made-fixtures", test_pull_docker_made_fixtures);
  pd_test_add_registry_test ("/pull/diff-id-of-other-blob", test_pull_diff_id_of_other_blob);
  pd_test_add_store_test ("/pull/layer-too-large", test_layer_too_large);

  return pd_test_run_nonfatal ();
}
