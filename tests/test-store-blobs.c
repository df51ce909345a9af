/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store's blobs (pd-store-blobs.c): content-addressed, verified on every read, written in
 * one go or streamed, from several threads, on a full file system; pins; and the garbage
 * collection that keeps what records, manifests and running jobs need.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-store-blobs"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-oci.h"
#include "pd-store.h"
#include "pd-test-store.h"
#include "pd-test-utils.h"

static void
test_blob_put_read (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *again = NULL;
  g_autofree char *expected = pd_sha256_digest_bytes ("hello", 5);
  g_autofree char *path = NULL;
  g_autofree char *missing = pd_sha256_digest_bytes ("missing", 7);

  digest = pd_store_put_blob (store, "hello", 5, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (digest, ==, expected);
  g_assert_true (pd_store_has_blob (store, digest));
  g_assert_false (pd_store_has_blob (store, missing));
  g_assert_false (pd_store_has_blob (store, "sha256:../../etc/passwd"));
  g_assert_false (pd_store_has_blob (store, "hello"));

  /* storing the same content again is fine (deduplicated by name) */
  again = pd_store_put_blob (store, "hello", 5, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again, ==, digest);

  bytes = pd_store_read_blob (store, digest, 5, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), "hello", 5);
  g_clear_pointer (&bytes, g_bytes_unref);

  /* the cap: one byte short fails */
  bytes = pd_store_read_blob (store, digest, 4, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_assert_null (bytes);
  g_clear_error (&error);

  /* bad digests never reach the file system */
  bytes = pd_store_read_blob (store, "sha256:../../../etc/shadow", 100, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  bytes = pd_store_read_blob (store, "sha512:abcd", 100, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_null (pd_store_get_blob_path (store, "sha256:ABC"));

  bytes = pd_store_read_blob (store, missing, 100, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
  g_clear_error (&error);

  /* corruption after the fact is detected on read */
  path = pd_store_get_blob_path (store, digest);
  g_assert_true (g_str_has_suffix (path, digest + 7));
  pd_test_write_file (path, "hellO");
  bytes = pd_store_read_blob (store, digest, 100, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_null (bytes);
  g_clear_error (&error);

  /* a symlink in place of a blob is not followed */
  g_assert_cmpint (unlink (path), ==, 0);
  g_assert_cmpint (symlink ("/etc/hostname", path), ==, 0);
  bytes = pd_store_read_blob (store, digest, 1000, &error);
  g_assert_nonnull (error);
  g_assert_null (bytes);
  g_assert_false (pd_store_has_blob (store, digest));
}

static void
test_blob_writer (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autoptr(PdBlobWriter) writer = NULL;
  g_autoptr(PdSha256) sha = pd_sha256_new ();
  g_autofree char *expected = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *tmp = g_build_filename (fixture->state_dir, "tmp", NULL);
  g_autofree char *empty = NULL;
  g_autoptr(GBytes) bytes = NULL;
  guint8 chunk[10000];
  guint64 size = 0;

  writer = pd_store_blob_writer_new (store, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 100; i++)
    {
      memset (chunk, (int) i, sizeof chunk);
      pd_blob_writer_write (writer, chunk, sizeof chunk, &error);
      g_assert_no_error (error);
      pd_sha256_update (sha, chunk, sizeof chunk);
    }
  /* the ingest lives in tmp/ until the commit */
  g_assert_cmpuint (pd_test_count_entries (tmp), ==, 1);
  digest = pd_blob_writer_commit (writer, &size, &error);
  g_assert_no_error (error);
  expected = pd_sha256_finish (sha);
  g_assert_cmpstr (digest, ==, expected);
  g_assert_cmpuint (size, ==, 100 * sizeof chunk);
  g_clear_pointer (&writer, pd_blob_writer_free);
  g_assert_cmpuint (pd_test_count_entries (tmp), ==, 0);

  bytes = pd_store_read_blob (store, digest, 100 * sizeof chunk, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, 100 * sizeof chunk);

  /* a writer dropped without commit leaves nothing */
  writer = pd_store_blob_writer_new (store, &error);
  g_assert_no_error (error);
  pd_blob_writer_write (writer, "partial", 7, &error);
  g_assert_no_error (error);
  g_clear_pointer (&writer, pd_blob_writer_free);
  g_assert_cmpuint (pd_test_count_entries (tmp), ==, 0);

  /* an empty blob */
  writer = pd_store_blob_writer_new (store, &error);
  g_assert_no_error (error);
  empty = pd_blob_writer_commit (writer, &size, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (size, ==, 0);
  g_assert_cmpstr (empty, ==,
                   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  pd_test_assert_invariants (fixture->state_dir);
}

typedef struct {
  PdStore *store;
  guint index;
  char *digest;
  GError *error;
} ThreadData;

static gpointer
blob_thread (gpointer user_data)
{
  ThreadData *data = user_data;
  g_autofree char *text = g_strdup_printf ("blob number %u", data->index);
  g_autoptr(PdBlobWriter) writer = pd_store_blob_writer_new (data->store, &data->error);

  if (writer != NULL && pd_blob_writer_write (writer, text, strlen (text), &data->error))
    data->digest = pd_blob_writer_commit (writer, NULL, &data->error);
  return NULL;
}

static void
test_blob_threads (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  ThreadData data[8];
  GThread *threads[8];

  /* the blob API is meant for GTask threads */
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      data[i] = (ThreadData) { store, i, NULL, NULL };
      threads[i] = g_thread_new ("blob", blob_thread, &data[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      g_thread_join (threads[i]);
      g_assert_no_error (data[i].error);
      g_assert_true (pd_store_has_blob (store, data[i].digest));
      g_free (data[i].digest);
    }
  pd_test_assert_invariants (fixture->state_dir);
}

static void
test_no_space (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = NULL;
  g_autoptr(PdBlobWriter) writer = NULL;
  g_autofree char *big = g_malloc0 (1024 * 1024);
  g_autofree char *tmp = g_build_filename (fixture->state_dir, "tmp", NULL);
  g_autofree char *digest = NULL;
  gboolean ok = TRUE;

  pd_test_make_dir (fixture->state_dir);
  if (!pd_test_mount_tmpfs (fixture->state_dir, "256k"))
    return;

  store = pd_test_open_store (fixture->state_dir);
  writer = pd_store_blob_writer_new (store, &error);
  g_assert_no_error (error);
  for (guint i = 0; ok && i < 4; i++)
    ok = pd_blob_writer_write (writer, big, 1024 * 1024, &error);
  g_assert_false (ok);
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SPACE);
  g_clear_error (&error);
  g_clear_pointer (&writer, pd_blob_writer_free);
  /* the failed ingest is gone and the store still works */
  g_assert_cmpuint (pd_test_count_entries (tmp), ==, 0);
  digest = pd_store_put_blob (store, "small", 5, &error);
  g_assert_no_error (error);
  pd_test_assert_invariants (fixture->state_dir);

  g_clear_object (&store);
  pd_test_umount (fixture->state_dir);
}

/* a config, two layers and a manifest listing them all, put (and so pinned) in @store */
typedef struct {
  char *config;
  char *layer;
  char *listed_only;  /* a layer only the manifest names */
  char *manifest;
} ManifestBlobs;

static void
manifest_blobs_clear (ManifestBlobs *blobs)
{
  g_free (blobs->config);
  g_free (blobs->layer);
  g_free (blobs->listed_only);
  g_free (blobs->manifest);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ManifestBlobs, manifest_blobs_clear)

static void
put_manifest_blobs (PdStore *store, ManifestBlobs *blobs)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) layers = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_descriptor_free);
  g_autoptr(PdDescriptor) config_desc = NULL;
  g_autofree char *manifest = NULL;
  gsize manifest_len = 0;

  blobs->config = pd_store_put_blob (store, "{\"config\": 1}", 13, &error);
  g_assert_no_error (error);
  blobs->layer = pd_store_put_blob (store, "layer", 5, &error);
  g_assert_no_error (error);
  blobs->listed_only = pd_store_put_blob (store, "second layer", 12, &error);
  g_assert_no_error (error);
  config_desc = pd_descriptor_new (PD_MEDIA_TYPE_PLUGIN_CONFIG, blobs->config, 13);
  g_ptr_array_add (layers, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP, blobs->layer, 5));
  g_ptr_array_add (layers, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP, blobs->listed_only,
                                              12));
  manifest = pd_oci_build_manifest (config_desc, layers, &manifest_len);
  blobs->manifest = pd_store_put_blob (store, manifest, manifest_len, &error);
  g_assert_no_error (error);
}

static void
manifest_blobs_unpin (PdStore *store, ManifestBlobs *blobs)
{
  pd_store_unpin_blob (store, blobs->config);
  pd_store_unpin_blob (store, blobs->layer);
  pd_store_unpin_blob (store, blobs->listed_only);
  pd_store_unpin_blob (store, blobs->manifest);
}

/* GC of @records removes @unreferenced and nothing of @blobs */
static void
assert_gc_keeps_manifest_blobs (PdStore *store, GPtrArray *records, const char *unreferenced,
                                const ManifestBlobs *blobs)
{
  g_autoptr(GError) error = NULL;
  guint removed = pd_store_gc_blobs (store, records, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 1);
  g_assert_false (pd_store_has_blob (store, unreferenced));
  g_assert_true (pd_store_has_blob (store, blobs->manifest));
  g_assert_true (pd_store_has_blob (store, blobs->config));
  g_assert_true (pd_store_has_blob (store, blobs->layer));
  g_assert_true (pd_store_has_blob (store, blobs->listed_only));
}

static void
test_gc (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto(ManifestBlobs) blobs = { NULL };
  g_autofree char *unreferenced = NULL;
  g_autofree char *b_layer = NULL;
  const char *b_layers[2] = { NULL, NULL };
  PdPluginRecord *a;
  guint removed;

  /* the manifest's blobs, one of them named by the manifest alone: it must survive all the same */
  put_manifest_blobs (store, &blobs);
  unreferenced = pd_store_put_blob (store, "nobody wants me", 15, &error);
  g_assert_no_error (error);
  b_layer = pd_store_put_blob (store, "layer of b", 10, &error);
  g_assert_no_error (error);

  /* every put pinned its blob: nothing goes while the "job" that wrote them runs */
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_true (pd_store_has_blob (store, unreferenced));
  /* the job ended: from now on only the records keep blobs */
  manifest_blobs_unpin (store, &blobs);
  pd_store_unpin_blob (store, unreferenced);
  pd_store_unpin_blob (store, b_layer);

  /* record a lists the manifest but none of its layers, as moby's Blobsums can */
  a = pd_test_make_record (ID_A, "test/a:latest", blobs.manifest, NULL, NULL);
  g_ptr_array_add (records, a);
  b_layers[0] = b_layer;
  g_ptr_array_add (records, pd_test_make_record (ID_B, "test/b:latest", NULL, NULL, b_layers));

  assert_gc_keeps_manifest_blobs (store, records, unreferenced, &blobs);
  g_assert_true (pd_store_has_blob (store, b_layer));

  /* nothing to collect: idempotent */
  removed = pd_store_gc_blobs (store, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);

  /* b removed */
  g_ptr_array_remove_index (records, 1);
  removed = pd_store_gc_blobs (store, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 1);
  g_assert_false (pd_store_has_blob (store, b_layer));

  /* no records: everything goes */
  g_ptr_array_set_size (records, 0);
  removed = pd_store_gc_blobs (store, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 4);
  pd_test_assert_invariants (fixture->state_dir);
}

/* a record that cannot be loaded (here: larger than the loader reads) keeps the blobs it names,
 * and only those; GC goes on for everyone else */
static void
test_gc_unloadable_record (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(PdPluginRecord) good = pd_test_make_record (ID_A, "test/good:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) big = NULL;
  g_autoptr(GString) text = NULL;
  g_auto(ManifestBlobs) blobs = { NULL };
  g_autofree char *unreferenced = NULL;
  g_autofree char *unreferenced_2 = NULL;
  g_autofree char *big_dir = g_build_filename (fixture->state_dir, "plugins", ID_D, NULL);
  g_autofree char *path = NULL;
  g_autofree char *data = NULL;
  g_autofree char *padding = g_strnfill (17 * 1024 * 1024, 'x');
  g_autofree char *huge_env = NULL;
  const char *big_layers[2] = { NULL, NULL };
  guint removed;
  guint handler_id;

  pd_test_install_plugin (store, good);
  put_manifest_blobs (store, &blobs);
  unreferenced = pd_store_put_blob (store, "nobody wants me", 15, &error);
  g_assert_no_error (error);
  manifest_blobs_unpin (store, &blobs);
  pd_store_unpin_blob (store, unreferenced);

  /* plugins/ID_D: a whole plugin whose record (a huge env value in its settings) is larger
   * than the loader reads, as an unbounded Set could once save */
  big_layers[0] = blobs.layer;
  big = pd_test_make_record (ID_D, "test/big:latest", blobs.manifest, blobs.config, big_layers);
  data = pd_plugin_record_to_data (big, NULL);
  text = g_string_new (data);
  huge_env = g_strconcat ("\"DEBUG=", padding, "\"", NULL);
  g_assert_cmpuint (g_string_replace (text, "\"DEBUG=0\"", huge_env, 1), ==, 1);
  path = g_build_filename (big_dir, "rootfs", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (big_dir, "plugin.json", NULL);
  pd_test_write_file (path, text->str);
  g_clear_pointer (&path, g_free);

  /* not listed, and said so */
  handler_id = pd_test_collect_store_warnings (warnings);
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_cmpuint (pd_test_count_messages (warnings, "plugins/" ID_D " is left in place and not listed"),
                    ==, 1);
  g_assert_cmpuint (pd_test_count_messages (warnings, "larger than"), ==, 1);

  /* GC runs for the others, and keeps what the unloadable record names and its manifest lists */
  assert_gc_keeps_manifest_blobs (store, records, unreferenced, &blobs);
  g_assert_cmpuint (pd_test_count_messages (warnings, "blob gc"), ==, 0);

  /* a plugin dir whose record cannot be read at all: its blobs are unknown, nothing goes */
  unreferenced_2 = pd_store_put_blob (store, "nobody", 6, &error);
  g_assert_no_error (error);
  pd_store_unpin_blob (store, unreferenced_2);
  path = g_build_filename (fixture->state_dir, "plugins", ID_C, "rootfs", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  removed = pd_store_gc_blobs (store, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_true (pd_store_has_blob (store, unreferenced_2));
  g_assert_cmpuint (pd_test_count_messages (warnings, "blob gc: deleting nothing: plugins/" ID_C), ==, 1);
  pd_test_stop_collecting_store_warnings (handler_id);
}

static void
test_gc_pins (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autoptr(PdBlobWriter) writer = NULL;
  g_autofree char *pinned = NULL;
  g_autofree char *twice = NULL;
  g_autofree char *twice_again = NULL;
  g_autofree char *written = NULL;
  guint removed;

  /* a pinned blob that no record references survives GC; unpinned it is collected */
  pinned = pd_store_put_blob (store, "job in progress", 15, &error);
  g_assert_no_error (error);
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_true (pd_store_has_blob (store, pinned));
  pd_store_unpin_blob (store, pinned);
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 1);
  g_assert_false (pd_store_has_blob (store, pinned));

  /* the writer pins as well */
  writer = pd_store_blob_writer_new (store, &error);
  g_assert_no_error (error);
  pd_blob_writer_write (writer, "streamed", 8, &error);
  g_assert_no_error (error);
  written = pd_blob_writer_commit (writer, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&writer, pd_blob_writer_free);
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_true (pd_store_has_blob (store, written));
  pd_store_unpin_blob (store, written);

  /* one pin per commit: two jobs writing the same content need two unpins */
  twice = pd_store_put_blob (store, "shared layer", 12, &error);
  g_assert_no_error (error);
  twice_again = pd_store_put_blob (store, "shared layer", 12, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (twice, ==, twice_again);
  pd_store_unpin_blob (store, twice);
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  /* only the unpinned "streamed" blob went */
  g_assert_cmpuint (removed, ==, 1);
  g_assert_false (pd_store_has_blob (store, written));
  g_assert_true (pd_store_has_blob (store, twice));
  pd_store_unpin_blob (store, twice_again);
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 1);
  g_assert_false (pd_store_has_blob (store, twice));

  /* an unbalanced unpin is a bug of the caller, and says so */
  g_test_expect_message ("pd-store", G_LOG_LEVEL_CRITICAL, "*unpinned more often*");
  pd_store_unpin_blob (store, twice);
  g_test_assert_expected_messages ();
  pd_test_assert_invariants (fixture->state_dir);
}

typedef struct {
  PdStore *store;
  guint index;
  GPtrArray *digests;  /* every digest this thread committed */
  GError *error;
} PinThreadData;

#define PIN_THREAD_BLOBS 40

static gpointer
pin_thread (gpointer user_data)
{
  PinThreadData *data = user_data;

  for (guint i = 0; i < PIN_THREAD_BLOBS && data->error == NULL; i++)
    {
      g_autofree char *text = g_strdup_printf ("thread %u blob %u", data->index, i);
      char *digest = pd_store_put_blob (data->store, text, strlen (text), &data->error);

      if (digest != NULL)
        g_ptr_array_add (data->digests, digest);
    }
  return NULL;
}

/* GC runs on the main thread while jobs commit blobs in threads: no pinned blob may go */
static void
test_gc_concurrent (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  PinThreadData data[4];
  GThread *threads[4];
  guint removed;

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      data[i] = (PinThreadData) { store, i, g_ptr_array_new_with_free_func (g_free), NULL };
      threads[i] = g_thread_new ("pin", pin_thread, &data[i]);
    }
  for (guint round = 0; round < 50; round++)
    {
      pd_store_gc_blobs (store, NULL, &error);
      g_assert_no_error (error);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      g_thread_join (threads[i]);
      g_assert_no_error (data[i].error);
      g_assert_cmpuint (data[i].digests->len, ==, PIN_THREAD_BLOBS);
    }
  pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    for (guint j = 0; j < data[i].digests->len; j++)
      g_assert_true (pd_store_has_blob (store, g_ptr_array_index (data[i].digests, j)));

  /* the jobs end: everything is collected */
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      for (guint j = 0; j < data[i].digests->len; j++)
        pd_store_unpin_blob (store, g_ptr_array_index (data[i].digests, j));
      g_ptr_array_unref (data[i].digests);
    }
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, G_N_ELEMENTS (threads) * PIN_THREAD_BLOBS);
  pd_test_assert_invariants (fixture->state_dir);
}

static void
test_pin_existing (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autofree char *digest = pd_store_put_blob (store, "a layer", 7, &error);
  g_autofree char *absent = pd_sha256_digest_bytes ("never stored", 12);
  guint removed;

  g_assert_no_error (error);
  /* put_blob pinned it once: drop that pin */
  pd_store_unpin_blob (store, digest);

  /* pinned again as found: GC keeps it */
  g_assert_true (pd_store_pin_existing_blob (store, digest));
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_true (pd_store_has_blob (store, digest));

  /* one count per pin */
  g_assert_true (pd_store_pin_existing_blob (store, digest));
  pd_store_unpin_blob (store, digest);
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  pd_store_unpin_blob (store, digest);
  removed = pd_store_gc_blobs (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 1);
  g_assert_false (pd_store_has_blob (store, digest));

  /* nothing to pin: FALSE, and no pin left behind (an unpin would complain) */
  g_assert_false (pd_store_pin_existing_blob (store, digest));
  g_assert_false (pd_store_pin_existing_blob (store, absent));
  g_assert_false (pd_store_pin_existing_blob (store, "sha256:not-a-digest"));
  g_assert_false (pd_store_pin_existing_blob (store, "md5:0123"));
  g_test_expect_message ("pd-store", G_LOG_LEVEL_CRITICAL, "*unpinned more often*");
  pd_store_unpin_blob (store, absent);
  g_test_assert_expected_messages ();
}

/* plugind-transfer's view of the store: its writers write into the job's staging dir, and the
 * daemon's store (here the same process) pins and renames what they ask for */
typedef struct {
  PdStore *daemon;
  const char *staging_dir;
} TransferHooksData;

static gboolean
transfer_pin_existing (const char *digest, gpointer data)
{
  return pd_store_pin_existing_blob (((TransferHooksData *) data)->daemon, digest);
}

static gboolean
transfer_commit (const char *tmp_name, const char *digest, gpointer data, GError **error)
{
  TransferHooksData *hooks = data;

  return pd_store_adopt_blob (hooks->daemon, hooks->staging_dir, tmp_name, digest, error);
}

static const PdStoreTransferHooks transfer_hooks = {
  .pin_existing = transfer_pin_existing,
  .commit = transfer_commit,
};

static void
test_transfer_view (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autofree char *staging = pd_store_create_staging_dir (store, &error);
  TransferHooksData hooks = { store, staging };
  g_autoptr(PdStore) view = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *outside = g_build_filename (fixture->base, "outside", NULL);
  g_autofree char *link = NULL;
  static const char *const bad_names[] = {
    "../x", "ingest-", "ingest-zz", "ingest-00/../..", "ingest-0123abcd", "plugin.json",
    "ingest-00000000000000000000000000000000000000000000000000000000000000000",
  };

  g_assert_no_error (error);
  /* only a staging dir of the store */
  view = pd_store_open_for_transfer (fixture->state_dir, fixture->base, &transfer_hooks, &hooks,
                                     &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_assert_null (view);
  g_clear_error (&error);
  view = pd_store_open_for_transfer (fixture->state_dir, staging, &transfer_hooks, &hooks,
                                     &error);
  g_assert_no_error (error);

  /* written in the staging dir, renamed into blobs/ by the daemon's store and pinned there */
  digest = pd_store_put_blob (view, "a config", 8, &error);
  g_assert_no_error (error);
  g_assert_true (pd_store_has_blob (store, digest));
  g_assert_cmpuint (pd_store_gc_blobs (store, NULL, &error), ==, 0);
  g_assert_no_error (error);
  g_assert_true (pd_store_pin_existing_blob (view, digest));
  pd_store_unpin_blob (store, digest);
  pd_store_unpin_blob (store, digest);
  g_assert_cmpuint (pd_store_gc_blobs (store, NULL, &error), ==, 1);
  g_assert_no_error (error);

  /* what a helper gone wrong could name: nothing outside the staging dir's ingests */
  g_assert_true (g_file_set_contents (outside, "x", 1, NULL));
  link = g_build_filename (staging, "ingest-0123abcd", NULL);
  g_assert_no_errno (symlink (outside, link));
  for (guint i = 0; i < G_N_ELEMENTS (bad_names); i++)
    {
      g_assert_false (pd_store_adopt_blob (store, staging, bad_names[i], DIGEST_1, &error));
      g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
      g_clear_error (&error);
    }
  g_assert_false (pd_store_has_blob (store, DIGEST_1));
  g_assert_true (g_file_test (outside, G_FILE_TEST_IS_REGULAR));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  pd_test_add_store_test ("/store-blobs/put-read", test_blob_put_read);
  pd_test_add_store_test ("/store-blobs/writer", test_blob_writer);
  pd_test_add_store_test ("/store-blobs/threads", test_blob_threads);
  pd_test_add_store_test ("/store-blobs/no-space", test_no_space);
  pd_test_add_store_test ("/store-blobs/gc", test_gc);
  pd_test_add_store_test ("/store-blobs/gc-pins", test_gc_pins);
  pd_test_add_store_test ("/store-blobs/gc-unloadable-record", test_gc_unloadable_record);
  pd_test_add_store_test ("/store-blobs/gc-concurrent", test_gc_concurrent);
  pd_test_add_store_test ("/store-blobs/pin-existing", test_pin_existing);
  pd_test_add_store_test ("/store-blobs/transfer-view", test_transfer_view);

  return g_test_run ();
}
