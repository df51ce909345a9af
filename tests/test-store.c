/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store (pd-store.c): the state dir's layout and modes whatever the umask, staging dirs,
 * deep trees with few fds, plugins committed, saved, upgraded and removed, and what a kill at
 * each crash point leaves for the next start.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-store"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-store.h"
#include "pd-test-store.h"
#include "pd-test-utils.h"

static void
test_store_modes (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  const mode_t umasks[] = { 0, 077 };

  for (gsize i = 0; i < G_N_ELEMENTS (umasks); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdStore) store = NULL;
      g_autofree char *digest = NULL;
      g_autofree char *blob_path = NULL;
      g_autofree char *staging = NULL;
      g_autofree char *tmp = g_build_filename (fixture->state_dir, "tmp", NULL);
      mode_t old_umask;

      pd_test_rm_rf (fixture->state_dir);

      old_umask = umask (umasks[i]);
      store = pd_test_open_store (fixture->state_dir);
      g_assert_cmpstr (pd_store_get_state_dir (store), ==, fixture->state_dir);
      digest = pd_store_put_blob (store, "blob", 4, &error);
      g_assert_no_error (error);
      staging = pd_store_create_staging_dir (store, &error);
      g_assert_no_error (error);
      umask (old_umask);

      blob_path = pd_store_get_blob_path (store, digest);
      g_assert_cmpint (pd_test_path_mode (blob_path), ==, 0600);
      g_assert_cmpint (pd_test_path_mode (staging), ==, 0700);
      g_assert_true (g_str_has_prefix (staging, tmp));
      pd_store_discard_staging_dir (store, staging, &error);
      g_assert_no_error (error);
      pd_test_assert_invariants (fixture->state_dir);
    }
}

static void
test_staging (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autofree char *inner = NULL;
  g_autofree char *tmp = g_build_filename (fixture->state_dir, "tmp", NULL);
  g_autofree char *sneaky = NULL;
  g_autofree char *outside = g_build_filename (fixture->base, "outside", NULL);

  a = pd_store_create_staging_dir (store, &error);
  g_assert_no_error (error);
  b = pd_store_create_staging_dir (store, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a, !=, b);
  g_assert_true (g_file_test (a, G_FILE_TEST_IS_DIR));
  inner = g_build_filename (a, "rootfs", "deep", NULL);
  pd_test_make_dir (inner);

  /* only staging dirs can be discarded through this */
  pd_test_make_dir (outside);
  pd_store_discard_staging_dir (store, outside, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  pd_store_discard_staging_dir (store, tmp, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  sneaky = g_strconcat (a, "/../../plugins", NULL);
  pd_store_discard_staging_dir (store, sneaky, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  pd_store_discard_staging_dir (store, fixture->state_dir, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_true (g_file_test (outside, G_FILE_TEST_IS_DIR));

  pd_store_discard_staging_dir (store, a, &error);
  g_assert_no_error (error);
  g_assert_false (pd_test_path_exists (a));
  g_assert_true (pd_test_path_exists (b));

  /* the reconciler removes what a crashed operation left in tmp/ */
  g_clear_object (&store);
  store = pd_test_open_store (fixture->state_dir);
  g_assert_false (pd_test_path_exists (b));
  pd_test_assert_invariants (fixture->state_dir);
}

/* far deeper than the fd limit below (a plugin may make its writable rootfs as deep as it
 * likes: 30,000 levels take the same few fds, and half a minute to delete on ext4) */
#define DEEP_LEVELS 1000

/* what the walks may use, well above what this process has open otherwise */
#define DEEP_FD_LIMIT 64

/* @levels nested "d" dirs under @dir, with a 1 MiB file at the bottom, made with one fd at a
 * time (no path would fit in PATH_MAX) */
static void
make_deep_tree (const char *dir, guint levels)
{
  g_autofree char *data = g_malloc0 (1024 * 1024);
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int file;

  g_assert_cmpint (fd, >=, 0);
  for (guint i = 0; i < levels; i++)
    {
      int next;

      g_assert_cmpint (mkdirat (fd, "d", 0755), ==, 0);
      next = openat (fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      g_assert_cmpint (next, >=, 0);
      close (fd);
      fd = next;
    }
  file = openat (fd, "bottom", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  g_assert_cmpint (file, >=, 0);
  g_assert_cmpint (write (file, data, 1024 * 1024), ==, 1024 * 1024);
  close (file);
  close (fd);
}

/* a deep tree: measured and removed with a few fds (the walks never hold one per
 * level), so under a limit of 64 open files */
static void
test_deep_tree (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autofree char *staging = pd_store_create_staging_dir (store, &error);
  g_autofree char *rootfs = NULL;
  struct rlimit saved, low;
  guint64 usage;

  g_assert_no_error (error);
  rootfs = g_build_filename (staging, "rootfs", NULL);
  pd_test_make_dir (rootfs);
  make_deep_tree (rootfs, DEEP_LEVELS);

  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  low = saved;
  low.rlim_cur = DEEP_FD_LIMIT;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &low), ==, 0);
  usage = pd_store_get_staging_disk_usage (store, staging);
  pd_store_discard_staging_dir (store, staging, &error);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &saved), ==, 0);

  /* the file at the bottom was reached */
  g_test_message ("disk usage: %" G_GUINT64_FORMAT, usage);
  g_assert_cmpuint (usage, >=, 1024 * 1024);
  g_assert_no_error (error);
  g_assert_false (pd_test_path_exists (staging));
}

static void
test_commit_remove (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autoptr(PdPluginRecord) a = pd_test_make_record (ID_A, "test/zeta:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) b = pd_test_make_record (ID_B, "test/alpha:1.0", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) dup = pd_test_make_record (ID_A, "test/dup:latest", NULL, NULL, NULL);
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *hello = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *staging_rootfs = NULL;
  g_autofree char *removing = g_build_filename (fixture->state_dir, "plugins",
                                                ID_A "-removing", NULL);

  pd_test_install_plugin (store, a);
  pd_test_install_plugin (store, b);

  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 2);
  /* sorted by name */
  g_assert_cmpstr (pd_plugin_record_get_id (g_ptr_array_index (records, 0)), ==, ID_B);
  g_assert_cmpstr (pd_plugin_record_get_id (g_ptr_array_index (records, 1)), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (g_ptr_array_index (records, 1)), ==,
                   "test/zeta:latest");
  g_assert_false (pd_plugin_record_get_enabled (g_ptr_array_index (records, 1)));
  g_clear_pointer (&records, g_ptr_array_unref);

  rootfs = pd_store_get_rootfs_path (store, ID_A);
  hello = g_build_filename (rootfs, "hello", NULL);
  g_assert_true (g_file_test (hello, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (pd_store_get_disk_usage (store, ID_A), >, 0);
  g_assert_cmpuint (pd_store_get_disk_usage (store, ID_C), ==, 0);

  /* a second plugin with the same id is refused and its staging dir is left to the caller */
  staging = pd_store_create_staging_dir (store, &error);
  g_assert_no_error (error);
  staging_rootfs = g_build_filename (staging, "rootfs", NULL);
  pd_test_make_dir (staging_rootfs);
  pd_store_commit_new_plugin (store, dup, staging, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_PLUGIN_EXISTS);
  g_clear_error (&error);
  pd_store_discard_staging_dir (store, staging, &error);
  g_assert_no_error (error);

  /* a staging dir without rootfs is refused */
  g_clear_pointer (&staging, g_free);
  staging = pd_store_create_staging_dir (store, &error);
  g_assert_no_error (error);
  pd_store_commit_new_plugin (store, dup, staging, &error);
  g_assert_nonnull (error);
  g_clear_error (&error);
  pd_store_discard_staging_dir (store, staging, &error);
  g_assert_no_error (error);

  /* save round trip */
  pd_plugin_record_set_enabled (a, TRUE);
  pd_plugin_record_set_updated (a, 1234567);
  pd_store_save_record (store, a, &error);
  g_assert_no_error (error);
  g_clear_object (&store);
  store = pd_test_open_store (fixture->state_dir);
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 2);
  g_assert_true (pd_plugin_record_get_enabled (g_ptr_array_index (records, 1)));
  g_assert_cmpuint (pd_plugin_record_get_updated (g_ptr_array_index (records, 1)), ==, 1234567);
  g_clear_pointer (&records, g_ptr_array_unref);
  pd_test_assert_invariants (fixture->state_dir);

  /* remove */
  pd_store_remove_plugin (store, ID_A, &error);
  g_assert_no_error (error);
  g_assert_false (pd_test_path_exists (rootfs));
  /* the files go in a second step, which the daemon runs in a thread */
  g_assert_true (pd_test_path_exists (removing));
  g_assert_true (pd_store_purge_removed_plugin (store, ID_A, &error));
  g_assert_no_error (error);
  g_assert_false (pd_test_path_exists (removing));
  pd_store_remove_plugin (store, ID_A, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN);
  g_clear_error (&error);
  pd_store_remove_plugin (store, "../../etc", &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN);
  g_clear_error (&error);
  pd_store_save_record (store, a, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN);
  g_clear_error (&error);

  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_cmpstr (pd_plugin_record_get_id (g_ptr_array_index (records, 0)), ==, ID_B);
  pd_test_assert_invariants (fixture->state_dir);
}

/* what the store saves stays loadable: a record larger than that is refused before a write */
static void
test_record_save_limit (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (fixture->state_dir);
  g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_A, "test/a:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) other = pd_test_make_record (ID_B, "test/b:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *record_path = g_build_filename (fixture->state_dir, "plugins", ID_A,
                                                   "plugin.json", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *value = g_strnfill (5 * 1024 * 1024, 'x');

  pd_test_install_plugin (store, record);
  g_assert_true (g_file_get_contents (record_path, &before, NULL, NULL));

  settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (record));
  g_free (settings->env[0]);
  settings->env[0] = g_strconcat ("DEBUG=", value, NULL);
  pd_plugin_record_set_settings (record, g_steal_pointer (&settings));
  g_assert_false (pd_store_save_record (store, record, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "more than 4194304"));
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (record_path, &after, NULL, NULL));
  g_assert_cmpstr (after, ==, before);

  /* a new plugin with such a record is not committed either */
  settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (record));
  pd_plugin_record_set_settings (other, g_steal_pointer (&settings));
  staging = pd_store_create_staging_dir (store, &error);
  g_assert_no_error (error);
  rootfs = g_build_filename (staging, "rootfs", NULL);
  pd_test_make_dir (rootfs);
  g_assert_false (pd_store_commit_new_plugin (store, other, staging, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_clear_error (&error);
  pd_store_discard_staging_dir (store, staging, &error);
  g_assert_no_error (error);

  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  pd_test_assert_invariants (fixture->state_dir);
}

/* section: upgrades */

/* a staging dir whose rootfs holds one file, @name with @contents */
static char *
stage_rootfs (PdStore *store, const char *name, const char *contents)
{
  g_autoptr(GError) error = NULL;
  char *staging = pd_store_create_staging_dir (store, &error);
  g_autofree char *rootfs = NULL;
  g_autofree char *file = NULL;

  g_assert_no_error (error);
  rootfs = g_build_filename (staging, "rootfs", NULL);
  g_assert_cmpint (g_mkdir (rootfs, 0755), ==, 0);
  file = g_build_filename (rootfs, name, NULL);
  g_assert_true (g_file_set_contents (file, contents, -1, NULL));
  return staging;
}

static PdPluginRecord *
read_record_file (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (dir, "plugin.json", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  PdPluginRecord *record;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  record = pd_plugin_record_new_from_data (contents, len, &error);
  g_assert_no_error (error);
  return record;
}

static void
test_store_commit_upgrade (PdTestStoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (f->state_dir);
  g_autoptr(PdPluginRecord) old = pd_plugin_record_new (ID_A, "test/plugin:latest",
                                                        "docker.io/test/plugin:1",
                                                        pd_test_level_config ("version 1", "low"),
                                                        DIGEST_1, DIGEST_2,
                                                        STRV (DIGEST_3));
  g_autoptr(PdPluginRecord) upgraded = NULL;
  g_autoptr(PdPluginRecord) in_staging = NULL;
  g_autoptr(PdPluginRecord) in_plugins = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *first = stage_rootfs (store, "old-file", "old");
  g_autofree char *second = NULL;
  g_autofree char *plugin_dir = g_build_filename (f->state_dir, "plugins", ID_A, NULL);
  g_autofree char *tree = NULL;
  g_autofree char *staging_rootfs = NULL;
  g_autofree char *plugin_rootfs = NULL;
  PdPluginRecord *loaded;

  g_assert_true (pd_store_commit_new_plugin (store, old, first, &error));
  g_assert_no_error (error);

  second = stage_rootfs (store, "new-file", "new");
  upgraded = pd_plugin_record_new_upgraded (old, "docker.io/test/plugin:2",
                                            pd_test_level_config ("version 2", "high"), DIGEST_4,
                                            DIGEST_5, STRV (DIGEST_6),
                                            pd_plugin_settings_new_from_config (
                                              pd_plugin_record_get_config (old)));
  g_assert_true (pd_store_commit_upgrade (store, upgraded, second, &error));
  g_assert_no_error (error);

  /* plugins/<id> is the new plugin */
  plugin_rootfs = g_build_filename (plugin_dir, "rootfs", NULL);
  tree = pd_test_list_tree (plugin_rootfs);
  g_assert_cmpstr (tree, ==, "new-file f644 new\n");
  in_plugins = read_record_file (plugin_dir);
  g_assert_cmpstr (pd_plugin_record_get_id (in_plugins), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_reference (in_plugins), ==, "docker.io/test/plugin:2");
  g_assert_cmpstr (pd_plugin_record_get_config (in_plugins)->description, ==, "version 2");
  g_assert_cmpstr (pd_plugin_record_get_manifest_digest (in_plugins), ==, DIGEST_5);

  /* the staging dir holds the old one, record and rootfs, for discarding */
  g_assert_true (g_file_test (second, G_FILE_TEST_IS_DIR));
  staging_rootfs = g_build_filename (second, "rootfs", NULL);
  g_clear_pointer (&tree, g_free);
  tree = pd_test_list_tree (staging_rootfs);
  g_assert_cmpstr (tree, ==, "old-file f644 old\n");
  in_staging = read_record_file (second);
  g_assert_cmpstr (pd_plugin_record_get_id (in_staging), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_reference (in_staging), ==, "docker.io/test/plugin:1");
  g_assert_cmpstr (pd_plugin_record_get_config (in_staging)->description, ==, "version 1");

  /* loading the store finds the new config, once */
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  loaded = records->pdata[0];
  g_assert_cmpstr (pd_plugin_record_get_id (loaded), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (loaded), ==, "test/plugin:latest");
  g_assert_cmpstr (pd_plugin_record_get_config (loaded)->description, ==, "version 2");
  g_assert_cmpstr (pd_plugin_record_get_config_digest (loaded), ==, DIGEST_4);
  g_assert_cmpstr (pd_plugin_record_get_layer_digests (loaded)[0], ==, DIGEST_6);
  g_assert_cmpstr (pd_plugin_record_get_settings (loaded)->env[0], ==, "LEVEL=low");

  g_assert_true (pd_store_discard_staging_dir (store, second, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (second, G_FILE_TEST_EXISTS));
}

static void
test_store_commit_upgrade_missing (PdTestStoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = pd_test_open_store (f->state_dir);
  g_autoptr(PdPluginRecord) record = pd_plugin_record_new (ID_B, "test/other:latest", NULL,
                                                           pd_test_level_config ("other", "x"),
                                                           NULL, NULL, NULL);
  g_autofree char *staging = stage_rootfs (store, "file", "content");
  g_autofree char *plugin_dir = g_build_filename (f->state_dir, "plugins", ID_B, NULL);
  g_autofree char *tree = NULL;
  g_autofree char *rootfs = g_build_filename (staging, "rootfs", NULL);

  g_assert_false (pd_store_commit_upgrade (store, record, staging, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN);
  g_clear_error (&error);
  /* nothing moved */
  g_assert_false (g_file_test (plugin_dir, G_FILE_TEST_EXISTS));
  tree = pd_test_list_tree (rootfs);
  g_assert_cmpstr (tree, ==, "file f644 content\n");
  g_assert_true (pd_store_discard_staging_dir (store, staging, &error));
  g_assert_no_error (error);
}

/* section: crash consistency */

typedef enum {
  OP_PUT_BLOB,
  OP_COMMIT,
  OP_SAVE,
  OP_REMOVE,
  OP_RECONCILE,
} CrashOp;

typedef enum {
  EXPECT_ABSENT,
  EXPECT_PRESENT,
  EXPECT_EITHER,
} CrashExpect;

typedef struct {
  const char *point;
  CrashOp op;
  CrashExpect expect;  /* the plugin (or blob) after the restart */
} CrashCase;

static const CrashCase crash_cases[] = {
  { "blob-before-rename", OP_PUT_BLOB, EXPECT_ABSENT },
  { "blob-after-rename", OP_PUT_BLOB, EXPECT_PRESENT },
  { "store-commit-record-before-rename", OP_COMMIT, EXPECT_ABSENT },
  { "store-commit-before-rename", OP_COMMIT, EXPECT_ABSENT },
  { "store-commit-after-rename", OP_COMMIT, EXPECT_PRESENT },
  { "store-save-before-rename", OP_SAVE, EXPECT_PRESENT },
  { "store-save-after-rename", OP_SAVE, EXPECT_PRESENT },
  { "store-remove-before-rename", OP_REMOVE, EXPECT_PRESENT },
  { "store-remove-after-rename", OP_REMOVE, EXPECT_ABSENT },
  { "store-remove-after-record-unlink", OP_REMOVE, EXPECT_ABSENT },
  { "store-reconcile-after-tmp", OP_RECONCILE, EXPECT_ABSENT },
};

#define CRASH_BLOB "crash test blob"

/* runs in the forked child: must die at the crash point */
static void
crash_child (PdTestStoreFixture *fixture, const CrashCase *c)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = NULL;
  g_autoptr(PdPluginRecord) record = NULL;

  /* the store is opened before the crash point is armed, except for the reconciler case */
  if (c->op != OP_RECONCILE)
    store = pd_store_new (fixture->state_dir, &error);
  /* libc setenv: g_setenv warns after threads, and this child is single-threaded now */
  setenv ("PLUGIND_CRASH_POINT", c->point, 1);

  switch (c->op)
    {
    case OP_PUT_BLOB:
      g_free (pd_store_put_blob (store, CRASH_BLOB, strlen (CRASH_BLOB), &error));
      break;
    case OP_COMMIT:
      record = pd_test_make_record (ID_A, "test/crash:latest", NULL, NULL, NULL);
      pd_test_install_plugin (store, record);
      break;
    case OP_SAVE:
      {
        g_autoptr(GPtrArray) records = pd_store_load_records (store, &error);
        record = g_object_ref (g_ptr_array_index (records, 0));
        pd_plugin_record_set_enabled (record, TRUE);
        pd_store_save_record (store, record, &error);
      }
      break;
    case OP_REMOVE:
      pd_store_remove_plugin (store, ID_A, &error);
      break;
    case OP_RECONCILE:
      store = pd_store_new (fixture->state_dir, &error);
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
test_crash (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  const CrashCase *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *blob_digest = pd_sha256_digest_bytes (CRASH_BLOB, strlen (CRASH_BLOB));
  g_autofree char *plugins = g_build_filename (fixture->state_dir, "plugins", NULL);
  int status = 0;
  pid_t pid;

  /* the state before the operation */
  store = pd_test_open_store (fixture->state_dir);
  if (c->op == OP_SAVE || c->op == OP_REMOVE)
    {
      g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_A, "test/crash:latest", NULL, NULL, NULL);
      pd_test_install_plugin (store, record);
    }
  if (c->op == OP_RECONCILE)
    {
      g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_B, "test/other:latest", NULL, NULL, NULL);
      g_autofree char *staging = NULL;
      g_autofree char *half = g_build_filename (plugins, ID_A "-removing", "rootfs", NULL);

      pd_test_install_plugin (store, record);
      staging = pd_store_create_staging_dir (store, &error);
      g_assert_no_error (error);
      pd_test_make_dir (half);
    }
  g_clear_object (&store);

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      crash_child (fixture, c);
      /* reaching this means the crash point did not fire */
      _exit (0);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);

  /* restart */
  store = pd_test_open_store (fixture->state_dir);
  pd_test_assert_invariants (fixture->state_dir);
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);

  switch (c->op)
    {
    case OP_PUT_BLOB:
      g_assert_cmpuint (records->len, ==, 0);
      g_assert_true (pd_store_has_blob (store, blob_digest) == (c->expect == EXPECT_PRESENT));
      break;
    case OP_COMMIT:
    case OP_REMOVE:
      g_assert_cmpuint (records->len, ==, c->expect == EXPECT_PRESENT ? 1 : 0);
      if (c->expect == EXPECT_PRESENT)
        {
          g_autofree char *rootfs = pd_store_get_rootfs_path (store, ID_A);
          g_autofree char *hello = g_build_filename (rootfs, "hello", NULL);
          g_autofree char *contents = NULL;

          g_assert_true (g_file_get_contents (hello, &contents, NULL, NULL));
          g_assert_cmpstr (contents, ==, "hello world\n");
        }
      break;
    case OP_SAVE:
      g_assert_cmpuint (records->len, ==, 1);
      /* the old or the new record, whole */
      g_assert_true (pd_plugin_record_get_enabled (g_ptr_array_index (records, 0))
                     == g_str_equal (c->point, "store-save-after-rename"));
      break;
    case OP_RECONCILE:
      g_assert_cmpuint (records->len, ==, 1);
      g_assert_cmpstr (pd_plugin_record_get_id (g_ptr_array_index (records, 0)), ==, ID_B);
      break;
    default:
      g_assert_not_reached ();
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the children of the crash tests must not inherit a crash point, nor the parent */
  g_unsetenv ("PLUGIND_CRASH_POINT");

  pd_test_add_store_test ("/store/modes", test_store_modes);
  pd_test_add_store_test ("/store/staging", test_staging);
  pd_test_add_store_test ("/store/deep-tree", test_deep_tree);
  pd_test_add_store_test ("/store/commit-remove", test_commit_remove);
  pd_test_add_store_test ("/store/record-save-limit", test_record_save_limit);
  pd_test_add_store_test ("/store/commit-upgrade", test_store_commit_upgrade);
  pd_test_add_store_test ("/store/commit-upgrade-missing", test_store_commit_upgrade_missing);
  PD_TEST_ADD_CASES_FULL ("/store/crash", PdTestStoreFixture, crash_cases, point,
                     pd_test_store_fixture_setup, test_crash, pd_test_store_fixture_teardown);

  return g_test_run ();
}
