/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store's reconciler (pd-store-reconcile.c), run when a store opens: what a crash leaves is
 * finished or removed, what no crash can make is left in place and said once, modes are
 * repaired, and blob GC holds back while a plugin dir has no record it can read.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-store-reconcile"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-store.h"
#include "pd-test-store.h"
#include "pd-test-utils.h"

static void
test_store_loose_modes_repaired (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(PdStore) store = NULL;
  g_autofree char *plugins = g_build_filename (fixture->state_dir, "plugins", NULL);
  g_autofree char *blobs = g_build_filename (fixture->state_dir, "blobs", "sha256", NULL);

  g_clear_object (&store);
  store = pd_test_open_store (fixture->state_dir);
  g_clear_object (&store);
  g_assert_cmpint (chmod (fixture->state_dir, 0755), ==, 0);
  g_assert_cmpint (chmod (plugins, 0777), ==, 0);
  g_assert_cmpint (chmod (blobs, 0755), ==, 0);
  store = pd_test_open_store (fixture->state_dir);
  pd_test_assert_invariants (fixture->state_dir);
}

static void
test_reconcile (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  /* the entries of plugins/ that no crash makes: kept */
  const char *const kept[] = {
    ID_9, ID_C, ID_D, ID_E, ID_F,
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "foo\n\x1b[31m", "link", "mine-removing",
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autoptr(PdPluginRecord) good = pd_test_make_record (ID_A, "test/good:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) other = pd_test_make_record (ID_E, "test/other:latest", NULL, NULL, NULL);
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *good_digest = NULL;
  g_autofree char *record_data = NULL;
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *plugins = g_build_filename (fixture->state_dir, "plugins", NULL);
  g_autofree char *blobs = g_build_filename (fixture->state_dir, "blobs", "sha256", NULL);
  g_autofree char *tmp = g_build_filename (fixture->state_dir, "tmp", NULL);
  g_autofree char *outside = g_build_filename (fixture->base, "outside", NULL);
  g_autofree char *outside_file = g_build_filename (outside, "precious", NULL);
  g_autofree char *decoy = g_build_filename (fixture->base, ID_B "-removing", NULL);
  g_autofree char *path = NULL;
  g_autofree char *newer_data = NULL;
  g_autofree char *newer_file = g_build_filename (plugins, ID_9, "rootfs", "data", NULL);
  g_autofree char *corrupt_blob = NULL;
  g_autofree char *unreferenced = NULL;
  g_autofree char *removing_b = g_build_filename (plugins, ID_B "-removing", NULL);
  g_autofree char *good_dir = g_build_filename (plugins, ID_A, NULL);
  g_autofree char *interrupted = g_build_filename (good_dir, PD_ATOMIC_TEMP_PREFIX "plugin.json.1234",
                                                   NULL);
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) bytes = NULL;
  gsize len = 0;
  guint removed;
  guint handler_id;

  pd_test_install_plugin (store, good);
  pd_test_install_plugin (store, other);
  good_digest = pd_store_put_blob (store, "good blob", 9, &error);
  g_assert_no_error (error);
  g_clear_object (&store);

  pd_test_make_dir (outside);
  pd_test_write_file (outside_file, "keep");

  /* tmp/: a file, a staging dir, an ingest, a symlink to outside */
  path = g_build_filename (tmp, "stage-0123", "rootfs", "usr", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (tmp, "ingest-0123", NULL);
  pd_test_write_file (path, "half a blob");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (tmp, "link", NULL);
  g_assert_cmpint (symlink (outside, path), ==, 0);
  g_clear_pointer (&path, g_free);

  /* plugins/: a half-removed plugin, reached by a dirfd and never through the cwd: a decoy of
   * the same name in the cwd must survive */
  path = g_build_filename (plugins, ID_B "-removing", "rootfs", "bin", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (plugins, ID_B "-removing", "rootfs", "escape", NULL);
  g_assert_cmpint (symlink (outside, path), ==, 0);
  g_clear_pointer (&path, g_free);
  pd_test_make_dir (decoy);
  g_assert_cmpint (chdir (fixture->base), ==, 0);

  /* a dir without plugin.json */
  path = g_build_filename (plugins, ID_C, "rootfs", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  /* a dir with a corrupt plugin.json */
  path = g_build_filename (plugins, ID_D, "rootfs", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (plugins, ID_D, "plugin.json", NULL);
  pd_test_write_file (path, "{\"version\": 1, \"id\": ");
  g_clear_pointer (&path, g_free);
  /* a valid record but no rootfs */
  path = g_build_filename (plugins, ID_E, "rootfs", NULL);
  pd_test_rm_rf (path);
  g_clear_pointer (&path, g_free);
  /* a record whose id does not match its dir */
  path = g_build_filename (plugins, ID_F, "rootfs", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  record_data = pd_plugin_record_to_data (good, &len);
  path = g_build_filename (plugins, ID_F, "plugin.json", NULL);
  pd_test_write_file (path, record_data);
  g_clear_pointer (&path, g_free);
  /* what a newer daemon wrote before a downgrade: record version 2 and a rootfs with data */
  {
    g_autoptr(PdPluginRecord) newer = pd_test_make_record (ID_9, "test/newer:latest", NULL, NULL, NULL);
    g_autoptr(GString) text = NULL;

    newer_data = pd_plugin_record_to_data (newer, NULL);
    text = g_string_new (newer_data);
    g_assert_cmpuint (g_string_replace (text, "\"version\" : 1", "\"version\" : 2", 1), ==, 1);
    path = g_build_filename (plugins, ID_9, "rootfs", NULL);
    pd_test_make_dir (path);
    g_clear_pointer (&path, g_free);
    pd_test_write_file (newer_file, "precious plugin data");
    path = g_build_filename (plugins, ID_9, "plugin.json", NULL);
    pd_test_write_file (path, text->str);
    g_clear_pointer (&path, g_free);
  }
  /* a name ending like ours but not made by us */
  path = g_build_filename (plugins, "mine-removing", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  /* foreign names: upper-case hex, a short name, a file, a symlink to outside */
  path = g_build_filename (plugins, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (plugins, "foo\n\x1b[31m", NULL);
  pd_test_write_file (path, "junk");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (plugins, "link", NULL);
  g_assert_cmpint (symlink (outside, path), ==, 0);
  g_clear_pointer (&path, g_free);
  /* an interrupted save next to the good record */
  pd_test_write_file (interrupted, "{");
  /* a loose mode on the good plugin */
  g_assert_cmpint (chmod (good_dir, 0755), ==, 0);

  /* blobs: a corrupt one, a foreign name, an ingest leftover, a dir, a symlink */
  corrupt_blob = g_build_filename (blobs, "1111111111111111111111111111111111111111111111111111111111111111", NULL);
  pd_test_write_file (corrupt_blob, "does not hash to its name");
  g_assert_cmpint (chmod (corrupt_blob, 0644), ==, 0);
  path = g_build_filename (blobs, "not-a-digest", NULL);
  pd_test_write_file (path, "x");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (blobs, "ingest-0123456789abcdef", NULL);
  pd_test_write_file (path, "half a blob");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (blobs, "2222222222222222222222222222222222222222222222222222222222222222", NULL);
  pd_test_make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (blobs, "3333333333333333333333333333333333333333333333333333333333333333", NULL);
  g_assert_cmpint (symlink (outside_file, path), ==, 0);
  g_clear_pointer (&path, g_free);

  handler_id = pd_test_collect_store_warnings (warnings);
  store = pd_test_open_store (fixture->state_dir);
  g_assert_cmpint (chdir (cwd), ==, 0);

  /* what the store makes and a crash leaves is gone: tmp/, <id>-removing, interrupted writes */
  g_assert_cmpuint (pd_test_count_entries (tmp), ==, 0);
  g_assert_false (pd_test_path_exists (removing_b));
  g_assert_false (pd_test_path_exists (interrupted));
  g_assert_cmpint (pd_test_path_mode (good_dir), ==, 0700);
  g_assert_true (g_file_test (outside_file, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (decoy, G_FILE_TEST_IS_DIR));

  /* plugin dirs that no crash can produce are real data: kept, and so are foreign entries */
  for (gsize i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *kept_path = g_build_filename (plugins, kept[i], NULL);
      g_assert_true (pd_test_path_exists (kept_path));
    }
  g_assert_cmpuint (pd_test_count_entries (plugins), ==, 1 + G_N_ELEMENTS (kept));
  g_assert_true (g_file_test (newer_file, G_FILE_TEST_IS_REGULAR));

  /* blobs are not hashed at start: only what cannot be a blob goes */
  g_assert_cmpuint (pd_test_count_entries (blobs), ==, 2);
  g_assert_true (pd_store_has_blob (store, good_digest));
  g_assert_true (pd_test_path_exists (corrupt_blob));
  g_assert_cmpint (pd_test_path_mode (corrupt_blob), ==, 0600);
  /* corruption is caught where the blob is read */
  bytes = pd_store_read_blob (store, "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                              1000, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_null (bytes);
  g_clear_error (&error);

  /* only the whole plugin is listed; each entry left in place is logged once, escaped */
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_cmpstr (pd_plugin_record_get_id (g_ptr_array_index (records, 0)), ==, ID_A);
  g_clear_pointer (&records, g_ptr_array_unref);
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_cmpuint (pd_test_count_messages (warnings, "is left in place and not listed"), ==,
                    G_N_ELEMENTS (kept));
  for (gsize i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *escaped = pd_escape_untrusted (kept[i], -1);
      g_autofree char *needle = g_strdup_printf ("plugins/%s is left", escaped);
      g_assert_cmpuint (pd_test_count_messages (warnings, needle), ==, 1);
    }
  g_assert_cmpuint (pd_test_count_messages (warnings, "unsupported version 2"), ==, 1);
  g_assert_cmpuint (pd_test_count_messages (warnings, "its record is for another id"), ==, 1);
  g_assert_cmpuint (pd_test_count_messages (warnings, "it has no rootfs dir"), ==, 1);
  for (guint i = 0; i < warnings->len; i++)
    g_assert_null (strchr (g_ptr_array_index (warnings, i), '\x1b'));

  /* GC deletes nothing while a plugin dir has no record it can read (ID_C has none), since the
   * blobs it needs are unknown, and says why */
  unreferenced = pd_store_put_blob (store, "nobody wants me", 15, &error);
  g_assert_no_error (error);
  pd_store_unpin_blob (store, unreferenced);
  g_clear_pointer (&records, g_ptr_array_unref);
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_ptr_array_set_size (warnings, 0);
  removed = pd_store_gc_blobs (store, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_true (pd_store_has_blob (store, unreferenced));
  g_assert_true (pd_test_path_exists (corrupt_blob));
  g_assert_cmpuint (pd_test_count_messages (warnings, "blob gc: deleting nothing: plugins/" ID_C
                                            " is not a loaded plugin"), ==, 1);
  g_assert_cmpuint (pd_test_count_messages (warnings, "the blobs it needs are unknown"), ==, 1);

  /* records that can be read but not loaded (damaged, of another id, of a newer version, without
   * a rootfs) keep what they name, here nothing: GC runs; foreign names do not hold it back */
  g_assert_true (g_str_equal (kept[1], ID_C));
  path = g_build_filename (plugins, ID_C, NULL);
  pd_test_rm_rf (path);
  g_clear_pointer (&path, g_free);
  g_ptr_array_set_size (warnings, 0);
  removed = pd_store_gc_blobs (store, records, &error);
  g_assert_no_error (error);
  /* the unreferenced, the corrupt and the good blob (no record references it) */
  g_assert_cmpuint (removed, ==, 3);
  g_assert_cmpuint (pd_test_count_entries (blobs), ==, 0);
  g_assert_cmpuint (pd_test_count_messages (warnings, "blob gc"), ==, 0);
  g_assert_true (g_file_test (newer_file, G_FILE_TEST_IS_REGULAR));

  for (gsize i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *gone = g_build_filename (plugins, kept[i], NULL);
      pd_test_rm_rf (gone);
    }
  pd_test_assert_invariants (fixture->state_dir);
  pd_test_stop_collecting_store_warnings (handler_id);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  pd_test_add_store_test ("/store-reconcile/loose-modes", test_store_loose_modes_repaired);
  pd_test_add_store_test ("/store-reconcile/leftovers", test_reconcile);

  return g_test_run ();
}
