/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "test-store"

/* O_PATH */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-json.h"
#include "pd-oci.h"
#include "pd-store.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define ID_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define ID_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define ID_F "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define ID_9 "9999999999999999999999999999999999999999999999999999999999999999"

#define TEST_CONFIG \
  "{\"Description\": \"a test plugin\", \"Documentation\": \"https://example.com/\"," \
  " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"test.sock\"}," \
  " \"Entrypoint\": [\"/bin/test-plugin\"], \"WorkDir\": \"/\"," \
  " \"Network\": {\"Type\": \"host\"}," \
  " \"Linux\": {\"Capabilities\": [\"CAP_SYS_ADMIN\"], \"AllowAllDevices\": false, \"Devices\": []}," \
  " \"Mounts\": [{\"Name\": \"data\", \"Description\": \"data <dir>\", \"Settable\": [\"source\"]," \
  "   \"Source\": \"/var/lib/data\", \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}]," \
  " \"Env\": [{\"Name\": \"DEBUG\", \"Description\": \"debug\", \"Settable\": [\"value\"], \"Value\": \"0\"}]," \
  " \"Args\": {\"Name\": \"args\", \"Description\": \"\", \"Settable\": [\"value\"], \"Value\": [\"-v\"]}," \
  " \"PropagatedMount\": \"\", \"IpcHost\": false, \"PidHost\": false}"

typedef struct {
  char *base;       /* the temp dir of the test */
  char *state_dir;  /* base/state */
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->base = g_dir_make_tmp ("test-store-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->state_dir = g_build_filename (fixture->base, "state", NULL);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;

  pd_rm_rf_at (AT_FDCWD, fixture->base, &error);
  g_assert_no_error (error);
  g_free (fixture->base);
  g_free (fixture->state_dir);
}

/* helpers */

static mode_t
path_mode (const char *path)
{
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

static gboolean
path_exists (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0;
}

static void
write_file (const char *path, const char *contents)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static void
make_dir (const char *path)
{
  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

static guint
count_entries (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* g_test_init() makes warnings fatal, and in TAP mode the default handler reports them as
 * "Bail out!"; the store warns on purpose about what it leaves in place, so the tests that
 * provoke this collect the warnings of the store's domain instead */
static gboolean
store_warning_not_fatal (const char *log_domain, GLogLevelFlags log_level, const char *message,
                         gpointer user_data)
{
  return g_strcmp0 (log_domain, "pd-store") != 0 || (log_level & G_LOG_LEVEL_WARNING) == 0;
}

static void
collect_store_warning (const char *log_domain, GLogLevelFlags log_level, const char *message,
                       gpointer user_data)
{
  GPtrArray *messages = user_data;

  g_ptr_array_add (messages, g_strdup (message));
  g_test_message ("expected: %s", message);
}

static guint
collect_store_warnings (GPtrArray *messages)
{
  g_test_log_set_fatal_handler (store_warning_not_fatal, NULL);
  return g_log_set_handler ("pd-store", G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL,
                            collect_store_warning, messages);
}

static void
stop_collecting_store_warnings (guint handler_id)
{
  g_log_remove_handler ("pd-store", handler_id);
  g_test_log_set_fatal_handler (NULL, NULL);
}

static guint
count_messages (GPtrArray *messages, const char *needle)
{
  guint n = 0;

  for (guint i = 0; i < messages->len; i++)
    if (strstr (g_ptr_array_index (messages, i), needle) != NULL)
      n++;
  return n;
}

static PdStore *
open_store (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  PdStore *store = pd_store_new (fixture->state_dir, &error);

  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

static PdPluginConfig *
make_config (void)
{
  g_autoptr(GError) error = NULL;
  PdPluginConfig *config;

  config = pd_plugin_config_new_from_data (TEST_CONFIG, strlen (TEST_CONFIG), &error);
  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

static PdPluginRecord *
make_record (const char *id, const char *name, const char *manifest, const char *cfg,
             const char *const *layers)
{
  return pd_plugin_record_new (id, name, "docker.io/test/plugin:latest", make_config (),
                               cfg, manifest, layers);
}

/* stages a rootfs with one file and commits a plugin */
static void
install_plugin (PdStore *store, PdPluginRecord *record)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *file = NULL;

  staging = pd_store_create_staging_dir (store, &error);
  g_assert_no_error (error);
  rootfs = g_build_filename (staging, "rootfs", NULL);
  make_dir (rootfs);
  file = g_build_filename (rootfs, "hello", NULL);
  write_file (file, "hello world\n");
  pd_store_commit_new_plugin (store, record, staging, &error);
  g_assert_no_error (error);
}

/* invariants 3, 4 and 5 of docs/design.md (section Tests) on a state dir, and every plugin dir
 * being whole */
static void
assert_invariants (const char *state_dir)
{
  g_autofree char *tmp = g_build_filename (state_dir, "tmp", NULL);
  g_autofree char *plugins = g_build_filename (state_dir, "plugins", NULL);
  g_autofree char *blobs = g_build_filename (state_dir, "blobs", "sha256", NULL);
  g_autoptr(GDir) dir = NULL;
  const char *name;

  g_assert_cmpuint (count_entries (tmp), ==, 0);
  g_assert_cmpint (path_mode (state_dir), ==, 0700);
  g_assert_cmpint (path_mode (tmp), ==, 0700);
  g_assert_cmpint (path_mode (plugins), ==, 0700);
  g_assert_cmpint (path_mode (blobs), ==, 0700);

  dir = g_dir_open (plugins, 0, NULL);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (plugins, name, NULL);
      g_autofree char *record_path = g_build_filename (path, "plugin.json", NULL);
      g_autofree char *rootfs = g_build_filename (path, "rootfs", NULL);
      g_autofree char *contents = NULL;
      g_autoptr(PdPluginRecord) record = NULL;
      g_autoptr(GError) error = NULL;
      gsize len;

      g_assert_false (g_str_has_suffix (name, "-removing"));
      g_assert_cmpuint (strlen (name), ==, 64);
      g_assert_true (g_file_test (rootfs, G_FILE_TEST_IS_DIR));
      g_assert_cmpint (path_mode (path), ==, 0700);
      g_assert_cmpint (path_mode (record_path), ==, 0600);
      g_assert_true (g_file_get_contents (record_path, &contents, &len, NULL));
      record = pd_plugin_record_new_from_data (contents, len, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (pd_plugin_record_get_id (record), ==, name);
      /* no temp file of an interrupted write next to the record */
      g_assert_cmpuint (count_entries (path), ==, 2);
    }
  g_clear_pointer (&dir, g_dir_close);

  dir = g_dir_open (blobs, 0, NULL);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (blobs, name, NULL);
      g_autofree char *contents = NULL;
      g_autofree char *digest = NULL;
      gsize len;

      g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
      digest = pd_sha256_digest_bytes (contents, len);
      g_assert_cmpstr (digest + 7, ==, name);
      g_assert_cmpint (path_mode (path), ==, 0600);
    }
}

/* fs-util */

static void
test_errno_mapping (void)
{
  g_autoptr(GError) error = NULL;

  pd_set_error_from_errno (&error, ENOSPC, "cannot write %s", "x");
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SPACE);
  g_clear_error (&error);
  pd_set_error_from_errno (&error, EDQUOT, "cannot write");
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SPACE);
  g_clear_error (&error);
  pd_set_error_from_errno (&error, EACCES, "cannot open %s", "/foo");
  g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
  g_assert_true (g_str_has_prefix (error->message, "cannot open /foo: "));
  g_assert_nonnull (strstr (error->message, g_strerror (EACCES)));
  /* NULL is allowed, as for every GError ** */
  pd_set_error_from_errno (NULL, EIO, "ignored");
}

static void
test_atomic_write (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (fixture->base, "file", NULL);
  g_autofree char *contents = NULL;
  mode_t old_umask;
  int fd;

  fd = open (fixture->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);

  for (guint i = 0; i < 2; i++)
    {
      old_umask = umask (i == 0 ? 0 : 077);
      pd_file_write_atomic_at (fd, "file", "first", 5, 0600, &error);
      g_assert_no_error (error);
      g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
      g_assert_cmpstr (contents, ==, "first");
      g_clear_pointer (&contents, g_free);
      g_assert_cmpint (path_mode (path), ==, 0600);

      /* replaces, with the requested mode whatever the umask */
      pd_file_write_atomic_at (fd, "file", "second", 6, 0644, &error);
      g_assert_no_error (error);
      g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
      g_assert_cmpstr (contents, ==, "second");
      g_clear_pointer (&contents, g_free);
      g_assert_cmpint (path_mode (path), ==, 0644);
      umask (old_umask);
    }

  /* empty content, and no temp file left behind */
  pd_file_write_atomic_at (fd, "file", "", 0, 0600, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "");
  g_clear_pointer (&contents, g_free);
  g_assert_cmpuint (count_entries (fixture->base), ==, 1);

  /* a dir deleted under us is an error, not a crash */
  {
    g_autofree char *gone = g_build_filename (fixture->base, "gone", NULL);
    int gone_fd;

    make_dir (gone);
    gone_fd = open (gone, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    g_assert_cmpint (gone_fd, >=, 0);
    g_assert_cmpint (rmdir (gone), ==, 0);
    pd_file_write_atomic_at (gone_fd, "file", "x", 1, 0600, &error);
    g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
    g_clear_error (&error);
    close (gone_fd);
  }

  /* a dir sync failing after the rename is logged, not reported: the file is in place, and a
   * caller told otherwise would roll back in memory what is on disk. An O_PATH dir fd works
   * for openat/renameat but fsync fails on it with EBADF */
  {
    int path_fd = open (fixture->base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    gboolean ok;

    g_assert_cmpint (path_fd, >=, 0);
    g_assert_false (pd_fsync_dir_at (path_fd, NULL, NULL));
    g_test_expect_message ("pd-fs-util", G_LOG_LEVEL_WARNING,
                           "file was written, but its directory could not be synced*");
    ok = pd_file_write_atomic_at (path_fd, "file", "third", 5, 0600, &error);
    g_test_assert_expected_messages ();
    g_assert_no_error (error);
    g_assert_true (ok);
    g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
    g_assert_cmpstr (contents, ==, "third");
    g_clear_pointer (&contents, g_free);
    g_assert_cmpuint (count_entries (fixture->base), ==, 1);
    close (path_fd);
  }

  pd_fsync_dir_at (fd, NULL, &error);
  g_assert_no_error (error);
  pd_fsync_dir_at (AT_FDCWD, fixture->base, &error);
  g_assert_no_error (error);
  close (fd);
}

static void
test_mkdir_modes (Fixture *fixture, gconstpointer user_data)
{
  const mode_t umasks[] = { 0, 077, 0777 };

  for (gsize i = 0; i < G_N_ELEMENTS (umasks); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *top = g_strdup_printf ("%s/m%" G_GSIZE_FORMAT, fixture->base, i);
      g_autofree char *deep = g_build_filename (top, "a", "b", NULL);
      g_autofree char *mid = g_build_filename (top, "a", NULL);
      mode_t old_umask = umask (umasks[i]);

      pd_mkdir_with_mode (deep, 0700, &error);
      umask (old_umask);
      g_assert_no_error (error);
      g_assert_cmpint (path_mode (top), ==, 0700);
      g_assert_cmpint (path_mode (mid), ==, 0700);
      g_assert_cmpint (path_mode (deep), ==, 0700);

      /* an existing final dir gets the mode */
      g_assert_cmpint (chmod (deep, 0755), ==, 0);
      pd_mkdir_with_mode (deep, 0700, &error);
      g_assert_no_error (error);
      g_assert_cmpint (path_mode (deep), ==, 0700);
    }
}

static void
test_rm_rf_symlinks (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *outside = g_build_filename (fixture->base, "outside", NULL);
  g_autofree char *outside_file = g_build_filename (outside, "precious", NULL);
  g_autofree char *outside_sub = g_build_filename (outside, "sub", NULL);
  g_autofree char *outside_sub_file = g_build_filename (outside_sub, "also-precious", NULL);
  g_autofree char *victim = g_build_filename (fixture->base, "victim", NULL);
  g_autofree char *nested = g_build_filename (victim, "x", "y", "z", NULL);
  g_autofree char *link_dir = g_build_filename (victim, "link-to-dir", NULL);
  g_autofree char *link_file = g_build_filename (victim, "x", "link-to-file", NULL);
  g_autofree char *dangling = g_build_filename (victim, "x", "y", "dangling", NULL);
  g_autofree char *fifo = g_build_filename (victim, "fifo", NULL);
  g_autofree char *file = g_build_filename (nested, "file", NULL);
  g_autofree char *top_link = g_build_filename (fixture->base, "top-link", NULL);
  g_autofree char *unwritable = g_build_filename (victim, "ro", NULL);

  make_dir (outside_sub);
  write_file (outside_file, "keep me");
  write_file (outside_sub_file, "keep me too");
  make_dir (nested);
  write_file (file, "delete me");
  g_assert_cmpint (symlink (outside, link_dir), ==, 0);
  g_assert_cmpint (symlink (outside_file, link_file), ==, 0);
  g_assert_cmpint (symlink ("/nonexistent/path", dangling), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  make_dir (unwritable);
  g_assert_cmpint (chmod (unwritable, 0500), ==, 0);

  /* a symlink given as the top itself is removed, not followed */
  g_assert_cmpint (symlink (outside, top_link), ==, 0);
  pd_rm_rf_at (AT_FDCWD, top_link, &error);
  g_assert_no_error (error);
  g_assert_false (path_exists (top_link));
  g_assert_true (path_exists (outside_sub_file));

  pd_rm_rf_at (AT_FDCWD, victim, &error);
  g_assert_no_error (error);
  g_assert_false (path_exists (victim));
  g_assert_true (g_file_test (outside_file, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (outside_sub_file, G_FILE_TEST_IS_REGULAR));

  /* missing is fine */
  pd_rm_rf_at (AT_FDCWD, victim, &error);
  g_assert_no_error (error);

  /* a plain file */
  pd_rm_rf_at (AT_FDCWD, outside_file, &error);
  g_assert_no_error (error);
  g_assert_false (path_exists (outside_file));
  g_assert_true (path_exists (outside_sub_file));
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
test_deep_tree (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
  g_autofree char *staging = pd_store_create_staging_dir (store, &error);
  g_autofree char *rootfs = NULL;
  struct rlimit saved, low;
  guint64 usage;

  g_assert_no_error (error);
  rootfs = g_build_filename (staging, "rootfs", NULL);
  make_dir (rootfs);
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
  g_assert_false (path_exists (staging));
}

static void
test_rm_rf_mount_point (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (fixture->base, "victim", NULL);
  g_autofree char *mnt = g_build_filename (dir, "mnt", NULL);
  g_autofree char *command = NULL;
  g_autofree char *inside = g_build_filename (mnt, "on-other-fs", NULL);
  int status = 0;

  make_dir (mnt);
  /* the suite runs as root (README): not being able to mount is a failure, never a skip */
  command = g_strdup_printf ("mount -t tmpfs -o size=1m none %s", mnt);
  if (getuid () != 0 || !g_spawn_command_line_sync (command, NULL, NULL, &status, NULL)
      || !g_spawn_check_wait_status (status, NULL))
    {
      g_test_fail_printf ("cannot mount a tmpfs on %s: the store tests need root", mnt);
      return;
    }
  write_file (inside, "on another file system");

  pd_rm_rf_at (AT_FDCWD, dir, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "mount point"));
  g_assert_true (path_exists (inside));

  g_clear_pointer (&command, g_free);
  command = g_strdup_printf ("umount %s", mnt);
  g_assert_true (g_spawn_command_line_sync (command, NULL, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
}

static void
test_crash_point_noop (void)
{
  g_unsetenv ("PLUGIND_CRASH_POINT");
  pd_crash_point ("anything");
  g_setenv ("PLUGIND_CRASH_POINT", "something-else", TRUE);
  pd_crash_point ("anything");
  pd_crash_point (NULL);
  g_unsetenv ("PLUGIND_CRASH_POINT");
}

/* store: layout and blobs */

static void
test_store_modes (Fixture *fixture, gconstpointer user_data)
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

      pd_rm_rf_at (AT_FDCWD, fixture->state_dir, &error);
      g_assert_no_error (error);

      old_umask = umask (umasks[i]);
      store = open_store (fixture);
      g_assert_cmpstr (pd_store_get_state_dir (store), ==, fixture->state_dir);
      digest = pd_store_put_blob (store, "blob", 4, &error);
      g_assert_no_error (error);
      staging = pd_store_create_staging_dir (store, &error);
      g_assert_no_error (error);
      umask (old_umask);

      blob_path = pd_store_get_blob_path (store, digest);
      g_assert_cmpint (path_mode (blob_path), ==, 0600);
      g_assert_cmpint (path_mode (staging), ==, 0700);
      g_assert_true (g_str_has_prefix (staging, tmp));
      pd_store_discard_staging_dir (store, staging, &error);
      g_assert_no_error (error);
      assert_invariants (fixture->state_dir);
    }
}

static void
test_store_loose_modes_repaired (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(PdStore) store = NULL;
  g_autofree char *plugins = g_build_filename (fixture->state_dir, "plugins", NULL);
  g_autofree char *blobs = g_build_filename (fixture->state_dir, "blobs", "sha256", NULL);

  g_clear_object (&store);
  store = open_store (fixture);
  g_clear_object (&store);
  g_assert_cmpint (chmod (fixture->state_dir, 0755), ==, 0);
  g_assert_cmpint (chmod (plugins, 0777), ==, 0);
  g_assert_cmpint (chmod (blobs, 0755), ==, 0);
  store = open_store (fixture);
  assert_invariants (fixture->state_dir);
}

static void
test_blob_put_read (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
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
  write_file (path, "hellO");
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
test_blob_writer (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
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
  g_assert_cmpuint (count_entries (tmp), ==, 1);
  digest = pd_blob_writer_commit (writer, &size, &error);
  g_assert_no_error (error);
  expected = pd_sha256_finish (sha);
  g_assert_cmpstr (digest, ==, expected);
  g_assert_cmpuint (size, ==, 100 * sizeof chunk);
  g_clear_pointer (&writer, pd_blob_writer_free);
  g_assert_cmpuint (count_entries (tmp), ==, 0);

  bytes = pd_store_read_blob (store, digest, 100 * sizeof chunk, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, 100 * sizeof chunk);

  /* a writer dropped without commit leaves nothing */
  writer = pd_store_blob_writer_new (store, &error);
  g_assert_no_error (error);
  pd_blob_writer_write (writer, "partial", 7, &error);
  g_assert_no_error (error);
  g_clear_pointer (&writer, pd_blob_writer_free);
  g_assert_cmpuint (count_entries (tmp), ==, 0);

  /* an empty blob */
  writer = pd_store_blob_writer_new (store, &error);
  g_assert_no_error (error);
  empty = pd_blob_writer_commit (writer, &size, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (size, ==, 0);
  g_assert_cmpstr (empty, ==,
                   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_invariants (fixture->state_dir);
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
test_blob_threads (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(PdStore) store = open_store (fixture);
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
  assert_invariants (fixture->state_dir);
}

static void
test_staging (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
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
  make_dir (inner);

  /* only staging dirs can be discarded through this */
  make_dir (outside);
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
  g_assert_false (path_exists (a));
  g_assert_true (path_exists (b));

  /* the reconciler removes what a crashed operation left in tmp/ */
  g_clear_object (&store);
  store = open_store (fixture);
  g_assert_false (path_exists (b));
  assert_invariants (fixture->state_dir);
}

static gboolean
run_command (const char *command)
{
  int status = 0;

  return g_spawn_command_line_sync (command, NULL, NULL, &status, NULL)
         && g_spawn_check_wait_status (status, NULL);
}

static void
test_no_space (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = NULL;
  g_autoptr(PdBlobWriter) writer = NULL;
  g_autofree char *mount = NULL;
  g_autofree char *umount = NULL;
  g_autofree char *big = g_malloc0 (1024 * 1024);
  g_autofree char *tmp = g_build_filename (fixture->state_dir, "tmp", NULL);
  g_autofree char *digest = NULL;
  gboolean ok = TRUE;

  make_dir (fixture->state_dir);
  mount = g_strdup_printf ("mount -t tmpfs -o size=256k none %s", fixture->state_dir);
  if (getuid () != 0 || !run_command (mount))
    {
      g_test_fail_printf ("cannot mount a tmpfs on %s: the store tests need root",
                          fixture->state_dir);
      return;
    }
  umount = g_strdup_printf ("umount %s", fixture->state_dir);

  store = open_store (fixture);
  writer = pd_store_blob_writer_new (store, &error);
  g_assert_no_error (error);
  for (guint i = 0; ok && i < 4; i++)
    ok = pd_blob_writer_write (writer, big, 1024 * 1024, &error);
  g_assert_false (ok);
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SPACE);
  g_clear_error (&error);
  g_clear_pointer (&writer, pd_blob_writer_free);
  /* the failed ingest is gone and the store still works */
  g_assert_cmpuint (count_entries (tmp), ==, 0);
  digest = pd_store_put_blob (store, "small", 5, &error);
  g_assert_no_error (error);
  assert_invariants (fixture->state_dir);

  g_clear_object (&store);
  g_assert_true (run_command (umount));
}

/* store: records */

static void
test_commit_remove (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
  g_autoptr(PdPluginRecord) a = make_record (ID_A, "test/zeta:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) b = make_record (ID_B, "test/alpha:1.0", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) dup = make_record (ID_A, "test/dup:latest", NULL, NULL, NULL);
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *hello = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *staging_rootfs = NULL;
  g_autofree char *removing = g_build_filename (fixture->state_dir, "plugins",
                                                ID_A "-removing", NULL);

  install_plugin (store, a);
  install_plugin (store, b);

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
  make_dir (staging_rootfs);
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
  store = open_store (fixture);
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 2);
  g_assert_true (pd_plugin_record_get_enabled (g_ptr_array_index (records, 1)));
  g_assert_cmpuint (pd_plugin_record_get_updated (g_ptr_array_index (records, 1)), ==, 1234567);
  g_clear_pointer (&records, g_ptr_array_unref);
  assert_invariants (fixture->state_dir);

  /* remove */
  pd_store_remove_plugin (store, ID_A, &error);
  g_assert_no_error (error);
  g_assert_false (path_exists (rootfs));
  /* the files go in a second step, which the daemon runs in a thread */
  g_assert_true (path_exists (removing));
  g_assert_true (pd_store_purge_removed_plugin (store, ID_A, &error));
  g_assert_no_error (error);
  g_assert_false (path_exists (removing));
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
  assert_invariants (fixture->state_dir);
}

static void
test_reconcile (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
  g_autoptr(PdPluginRecord) good = make_record (ID_A, "test/good:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) other = make_record (ID_E, "test/other:latest", NULL, NULL, NULL);
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
  const char *const kept[] = {
    ID_9, ID_C, ID_D, ID_E, ID_F,
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "foo\n\x1b[31m", "link", "mine-removing",
  };
  gsize len = 0;
  guint removed;
  guint handler_id;

  install_plugin (store, good);
  install_plugin (store, other);
  good_digest = pd_store_put_blob (store, "good blob", 9, &error);
  g_assert_no_error (error);
  g_clear_object (&store);

  make_dir (outside);
  write_file (outside_file, "keep");

  /* tmp/: a file, a staging dir, an ingest, a symlink to outside */
  path = g_build_filename (tmp, "stage-0123", "rootfs", "usr", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (tmp, "ingest-0123", NULL);
  write_file (path, "half a blob");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (tmp, "link", NULL);
  g_assert_cmpint (symlink (outside, path), ==, 0);
  g_clear_pointer (&path, g_free);

  /* plugins/: a half-removed plugin, reached by a dirfd and never through the cwd: a decoy of
   * the same name in the cwd must survive */
  path = g_build_filename (plugins, ID_B "-removing", "rootfs", "bin", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (plugins, ID_B "-removing", "rootfs", "escape", NULL);
  g_assert_cmpint (symlink (outside, path), ==, 0);
  g_clear_pointer (&path, g_free);
  make_dir (decoy);
  g_assert_cmpint (chdir (fixture->base), ==, 0);

  /* a dir without plugin.json */
  path = g_build_filename (plugins, ID_C, "rootfs", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  /* a dir with a corrupt plugin.json */
  path = g_build_filename (plugins, ID_D, "rootfs", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (plugins, ID_D, "plugin.json", NULL);
  write_file (path, "{\"version\": 1, \"id\": ");
  g_clear_pointer (&path, g_free);
  /* a valid record but no rootfs */
  path = g_build_filename (plugins, ID_E, "rootfs", NULL);
  pd_rm_rf_at (AT_FDCWD, path, &error);
  g_assert_no_error (error);
  g_clear_pointer (&path, g_free);
  /* a record whose id does not match its dir */
  path = g_build_filename (plugins, ID_F, "rootfs", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  record_data = pd_plugin_record_to_data (good, &len);
  path = g_build_filename (plugins, ID_F, "plugin.json", NULL);
  write_file (path, record_data);
  g_clear_pointer (&path, g_free);
  /* what a newer daemon wrote before a downgrade: record version 2 and a rootfs with data */
  {
    g_autoptr(PdPluginRecord) newer = make_record (ID_9, "test/newer:latest", NULL, NULL, NULL);
    g_autoptr(GString) text = NULL;

    newer_data = pd_plugin_record_to_data (newer, NULL);
    text = g_string_new (newer_data);
    g_assert_cmpuint (g_string_replace (text, "\"version\" : 1", "\"version\" : 2", 1), ==, 1);
    path = g_build_filename (plugins, ID_9, "rootfs", NULL);
    make_dir (path);
    g_clear_pointer (&path, g_free);
    write_file (newer_file, "precious plugin data");
    path = g_build_filename (plugins, ID_9, "plugin.json", NULL);
    write_file (path, text->str);
    g_clear_pointer (&path, g_free);
  }
  /* a name ending like ours but not made by us */
  path = g_build_filename (plugins, "mine-removing", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  /* foreign names: upper-case hex, a short name, a file, a symlink to outside */
  path = g_build_filename (plugins, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (plugins, "foo\n\x1b[31m", NULL);
  write_file (path, "junk");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (plugins, "link", NULL);
  g_assert_cmpint (symlink (outside, path), ==, 0);
  g_clear_pointer (&path, g_free);
  /* an interrupted save next to the good record */
  write_file (interrupted, "{");
  /* a loose mode on the good plugin */
  g_assert_cmpint (chmod (good_dir, 0755), ==, 0);

  /* blobs: a corrupt one, a foreign name, an ingest leftover, a dir, a symlink */
  corrupt_blob = g_build_filename (blobs, "1111111111111111111111111111111111111111111111111111111111111111", NULL);
  write_file (corrupt_blob, "does not hash to its name");
  g_assert_cmpint (chmod (corrupt_blob, 0644), ==, 0);
  path = g_build_filename (blobs, "not-a-digest", NULL);
  write_file (path, "x");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (blobs, "ingest-0123456789abcdef", NULL);
  write_file (path, "half a blob");
  g_clear_pointer (&path, g_free);
  path = g_build_filename (blobs, "2222222222222222222222222222222222222222222222222222222222222222", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (blobs, "3333333333333333333333333333333333333333333333333333333333333333", NULL);
  g_assert_cmpint (symlink (outside_file, path), ==, 0);
  g_clear_pointer (&path, g_free);

  handler_id = collect_store_warnings (warnings);
  store = open_store (fixture);
  g_assert_cmpint (chdir (cwd), ==, 0);

  /* what the store makes and a crash leaves is gone: tmp/, <id>-removing, interrupted writes */
  g_assert_cmpuint (count_entries (tmp), ==, 0);
  g_assert_false (path_exists (removing_b));
  g_assert_false (path_exists (interrupted));
  g_assert_cmpint (path_mode (good_dir), ==, 0700);
  g_assert_true (g_file_test (outside_file, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (decoy, G_FILE_TEST_IS_DIR));

  /* plugin dirs that no crash can produce are real data: kept, and so are foreign entries */
  for (gsize i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *kept_path = g_build_filename (plugins, kept[i], NULL);
      g_assert_true (path_exists (kept_path));
    }
  g_assert_cmpuint (count_entries (plugins), ==, 1 + G_N_ELEMENTS (kept));
  g_assert_true (g_file_test (newer_file, G_FILE_TEST_IS_REGULAR));

  /* blobs are not hashed at start: only what cannot be a blob goes */
  g_assert_cmpuint (count_entries (blobs), ==, 2);
  g_assert_true (pd_store_has_blob (store, good_digest));
  g_assert_true (path_exists (corrupt_blob));
  g_assert_cmpint (path_mode (corrupt_blob), ==, 0600);
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
  g_assert_cmpuint (count_messages (warnings, "is left in place and not listed"), ==,
                    G_N_ELEMENTS (kept));
  for (gsize i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *escaped = pd_escape_untrusted (kept[i], -1);
      g_autofree char *needle = g_strdup_printf ("plugins/%s is left", escaped);
      g_assert_cmpuint (count_messages (warnings, needle), ==, 1);
    }
  g_assert_cmpuint (count_messages (warnings, "unsupported version 2"), ==, 1);
  g_assert_cmpuint (count_messages (warnings, "its record is for another id"), ==, 1);
  g_assert_cmpuint (count_messages (warnings, "it has no rootfs dir"), ==, 1);
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
  g_assert_true (path_exists (corrupt_blob));
  g_assert_cmpuint (count_messages (warnings, "blob gc: deleting nothing: plugins/" ID_C
                                    " is not a loaded plugin"), ==, 1);
  g_assert_cmpuint (count_messages (warnings, "the blobs it needs are unknown"), ==, 1);

  /* records that can be read but not loaded (damaged, of another id, of a newer version, without
   * a rootfs) keep what they name, here nothing: GC runs; foreign names do not hold it back */
  g_assert_true (g_str_equal (kept[1], ID_C));
  path = g_build_filename (plugins, ID_C, NULL);
  pd_rm_rf_at (AT_FDCWD, path, &error);
  g_assert_no_error (error);
  g_clear_pointer (&path, g_free);
  g_ptr_array_set_size (warnings, 0);
  removed = pd_store_gc_blobs (store, records, &error);
  g_assert_no_error (error);
  /* the unreferenced, the corrupt and the good blob (no record references it) */
  g_assert_cmpuint (removed, ==, 3);
  g_assert_cmpuint (count_entries (blobs), ==, 0);
  g_assert_cmpuint (count_messages (warnings, "blob gc"), ==, 0);
  g_assert_true (g_file_test (newer_file, G_FILE_TEST_IS_REGULAR));

  for (gsize i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *gone = g_build_filename (plugins, kept[i], NULL);
      pd_rm_rf_at (AT_FDCWD, gone, &error);
      g_assert_no_error (error);
    }
  assert_invariants (fixture->state_dir);
  stop_collecting_store_warnings (handler_id);
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
test_gc (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
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
  a = make_record (ID_A, "test/a:latest", blobs.manifest, NULL, NULL);
  g_ptr_array_add (records, a);
  b_layers[0] = b_layer;
  g_ptr_array_add (records, make_record (ID_B, "test/b:latest", NULL, NULL, b_layers));

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
  assert_invariants (fixture->state_dir);
}

/* a record that cannot be loaded (here: larger than the loader reads) keeps the blobs it names,
 * and only those; GC goes on for everyone else */
static void
test_gc_unloadable_record (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(PdPluginRecord) good = make_record (ID_A, "test/good:latest", NULL, NULL, NULL);
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

  install_plugin (store, good);
  put_manifest_blobs (store, &blobs);
  unreferenced = pd_store_put_blob (store, "nobody wants me", 15, &error);
  g_assert_no_error (error);
  manifest_blobs_unpin (store, &blobs);
  pd_store_unpin_blob (store, unreferenced);

  /* plugins/ID_D: a whole plugin whose record (a huge env value in its settings) is larger
   * than the loader reads, as an unbounded Set could once save */
  big_layers[0] = blobs.layer;
  big = make_record (ID_D, "test/big:latest", blobs.manifest, blobs.config, big_layers);
  data = pd_plugin_record_to_data (big, NULL);
  text = g_string_new (data);
  huge_env = g_strconcat ("\"DEBUG=", padding, "\"", NULL);
  g_assert_cmpuint (g_string_replace (text, "\"DEBUG=0\"", huge_env, 1), ==, 1);
  path = g_build_filename (big_dir, "rootfs", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  path = g_build_filename (big_dir, "plugin.json", NULL);
  write_file (path, text->str);
  g_clear_pointer (&path, g_free);

  /* not listed, and said so */
  handler_id = collect_store_warnings (warnings);
  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_cmpuint (count_messages (warnings, "plugins/" ID_D " is left in place and not listed"),
                    ==, 1);
  g_assert_cmpuint (count_messages (warnings, "larger than"), ==, 1);

  /* GC runs for the others, and keeps what the unloadable record names and its manifest lists */
  assert_gc_keeps_manifest_blobs (store, records, unreferenced, &blobs);
  g_assert_cmpuint (count_messages (warnings, "blob gc"), ==, 0);

  /* a plugin dir whose record cannot be read at all: its blobs are unknown, nothing goes */
  unreferenced_2 = pd_store_put_blob (store, "nobody", 6, &error);
  g_assert_no_error (error);
  pd_store_unpin_blob (store, unreferenced_2);
  path = g_build_filename (fixture->state_dir, "plugins", ID_C, "rootfs", NULL);
  make_dir (path);
  g_clear_pointer (&path, g_free);
  removed = pd_store_gc_blobs (store, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_true (pd_store_has_blob (store, unreferenced_2));
  g_assert_cmpuint (count_messages (warnings, "blob gc: deleting nothing: plugins/" ID_C), ==, 1);
  stop_collecting_store_warnings (handler_id);
}

/* what the store saves stays loadable: a record larger than that is refused before a write */
static void
test_record_save_limit (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
  g_autoptr(PdPluginRecord) record = make_record (ID_A, "test/a:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) other = make_record (ID_B, "test/b:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *record_path = g_build_filename (fixture->state_dir, "plugins", ID_A,
                                                   "plugin.json", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *value = g_strnfill (5 * 1024 * 1024, 'x');

  install_plugin (store, record);
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
  make_dir (rootfs);
  g_assert_false (pd_store_commit_new_plugin (store, other, staging, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_clear_error (&error);
  pd_store_discard_staging_dir (store, staging, &error);
  g_assert_no_error (error);

  records = pd_store_load_records (store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  assert_invariants (fixture->state_dir);
}

static void
test_gc_pins (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
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
  assert_invariants (fixture->state_dir);
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
test_gc_concurrent (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdStore) store = open_store (fixture);
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
  assert_invariants (fixture->state_dir);
}

/* record */

static void
count_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
test_record_round_trip (void)
{
  g_autoptr(GError) error = NULL;
  const char *layers[] = {
    "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "sha256:2222222222222222222222222222222222222222222222222222222222222222",
    NULL
  };
  g_autoptr(PdPluginRecord) record = NULL;
  g_autoptr(PdPluginRecord) copy = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autofree char *data = NULL;
  g_autofree char *data2 = NULL;
  gsize len = 0, len2 = 0;
  guint enabled_notifies = 0, settings_notifies = 0, updated_notifies = 0;

  record = pd_plugin_record_new (ID_A, "test/plugin:latest", "docker.io/test/plugin:latest",
                                 make_config (),
                                 "sha256:3333333333333333333333333333333333333333333333333333333333333333",
                                 "sha256:4444444444444444444444444444444444444444444444444444444444444444",
                                 layers);
  g_signal_connect (record, "notify::enabled", G_CALLBACK (count_notify), &enabled_notifies);
  g_signal_connect (record, "notify::settings", G_CALLBACK (count_notify), &settings_notifies);
  g_signal_connect (record, "notify::updated", G_CALLBACK (count_notify), &updated_notifies);

  g_assert_cmpuint (pd_plugin_record_get_created (record), >, 0);
  g_assert_cmpuint (pd_plugin_record_get_updated (record), ==,
                    pd_plugin_record_get_created (record));
  pd_plugin_record_set_enabled (record, TRUE);
  pd_plugin_record_set_enabled (record, TRUE);
  g_assert_cmpuint (enabled_notifies, ==, 1);
  pd_plugin_record_set_updated (record, 42);
  g_assert_cmpuint (updated_notifies, ==, 1);
  settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (record));
  pd_plugin_record_set_settings (record, g_steal_pointer (&settings));
  g_assert_cmpuint (settings_notifies, ==, 1);
  g_object_set (record, "enabled", FALSE, NULL);
  g_assert_cmpuint (enabled_notifies, ==, 2);

  privileges = pd_plugin_record_dup_privileges (record);
  g_assert_nonnull (privileges);
  g_assert_cmpuint (privileges->len, >, 0);

  data = pd_plugin_record_to_data (record, &len);
  g_assert_nonnull (strstr (data, "\"version\" : 1"));
  copy = pd_plugin_record_new_from_data (data, len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (pd_plugin_record_get_id (copy), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (copy), ==, "test/plugin:latest");
  g_assert_cmpstr (pd_plugin_record_get_reference (copy), ==, "docker.io/test/plugin:latest");
  g_assert_cmpstr (pd_plugin_record_get_config_digest (copy), ==,
                   pd_plugin_record_get_config_digest (record));
  g_assert_cmpstr (pd_plugin_record_get_manifest_digest (copy), ==,
                   pd_plugin_record_get_manifest_digest (record));
  g_assert_cmpstrv (pd_plugin_record_get_layer_digests (copy), layers);
  g_assert_false (pd_plugin_record_get_enabled (copy));
  g_assert_cmpuint (pd_plugin_record_get_updated (copy), ==, 42);
  g_assert_cmpuint (pd_plugin_record_get_created (copy), ==,
                    pd_plugin_record_get_created (record));
  g_assert_cmpstr (pd_plugin_record_get_config (copy)->description, ==, "a test plugin");
  data2 = pd_plugin_record_to_data (copy, &len2);
  g_assert_cmpstr (data, ==, data2);
}

static void
test_record_invalid (void)
{
  g_autoptr(PdPluginRecord) record = make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autofree char *good = pd_plugin_record_to_data (record, NULL);
  struct {
    const char *from;
    const char *to;
  } mutations[] = {
    { "\"version\" : 1", "\"version\" : 2" },
    { "\"version\" : 1", "\"version\" : \"1\"" },
    { "\"id\" : \"" ID_A "\"", "\"id\" : \"" ID_A "0\"" },
    { "\"id\" : \"" ID_A "\"", "\"id\" : \"../../../../etc/passwd\"" },
    { "\"id\" : \"" ID_A "\"", "\"id\" : 12" },
    { "\"name\" : \"test/plugin:latest\"", "\"name\" : \"\"" },
    { "\"name\" : \"test/plugin:latest\"", "\"name\" : \"a\\nb\"" },
    { "\"name\" : \"test/plugin:latest\"", "\"name\" : null" },
    { "\"enabled\" : false", "\"enabled\" : \"no\"" },
    { "\"layers\" : [", "\"layers\" : [\"md5:abc\"," },
    { "\"layers\" : [", "\"layers\" : {}, \"x\" : [" },
    { "\"settings\" : {", "\"settings\" : 1, \"x\" : {" },
    { "\"config\" : {", "\"config\" : [], \"x\" : {" },
    { "\"created\" : ", "\"created\" : -1, \"x\" : " },
  };

  g_assert_nonnull (good);
  for (gsize i = 0; i < G_N_ELEMENTS (mutations); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GString) bad = g_string_new (good);
      g_autoptr(PdPluginRecord) parsed = NULL;
      guint n;

      n = g_string_replace (bad, mutations[i].from, mutations[i].to, 1);
      g_assert_cmpuint (n, ==, 1);
      parsed = pd_plugin_record_new_from_data (bad->str, bad->len, &error);
      g_assert_null (parsed);
      g_assert_nonnull (error);
      g_assert_true (error->domain == PD_ERROR);
    }

  /* truncations, garbage and embedded NULs */
  for (gsize len = 0; len < strlen (good); len += 7)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdPluginRecord) parsed = pd_plugin_record_new_from_data (good, len, &error);

      g_assert_null (parsed);
      g_assert_nonnull (error);
    }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(PdPluginRecord) parsed = pd_plugin_record_new_from_data ("{}\0{}", 5, &error);
    g_assert_null (parsed);
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG);
  }
}

/* a record is read at every daemon start: deep nesting (an unknown key holding 100,000 '[')
 * is refused with an error, never parsed recursively */
static void
test_record_deep_nesting (void)
{
  g_autoptr(PdPluginRecord) record = make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autofree char *good = pd_plugin_record_to_data (record, NULL);
  g_autoptr(GString) bad = g_string_new (good);
  g_autoptr(GString) deep = g_string_new ("\"x\" : ");
  g_autoptr(PdPluginRecord) parsed = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, ']');
  g_string_append (deep, ", \"version\" : 1");
  g_assert_cmpuint (g_string_replace (bad, "\"version\" : 1", deep->str, 1), ==, 1);
  parsed = pd_plugin_record_new_from_data (bad->str, bad->len, &error);
  g_assert_null (parsed);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG);
  g_test_message ("%s", error->message);

  /* the record as written still loads */
  g_clear_error (&error);
  g_clear_object (&parsed);
  parsed = pd_plugin_record_new_from_data (good, strlen (good), &error);
  g_assert_no_error (error);
  g_assert_nonnull (parsed);
}

static void
test_record_docker_json (void)
{
  g_autoptr(PdPluginRecord) record = make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) local = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GList) members = NULL;
  g_autofree char *json = NULL;
  g_autofree char *local_json = NULL;
  const char *expected_order[] = { "Config", "Enabled", "Id", "Name", "PluginReference", "Settings" };
  const char *settings_order[] = { "Args", "Devices", "Env", "Mounts" };
  JsonObject *root, *settings;
  GList *l;
  gsize i;

  json = pd_plugin_record_to_docker_json (record, TRUE);
  g_assert_true (g_str_has_prefix (json, "{\"Config\":{"));
  /* Go's encoder escapes < > & */
  g_assert_null (strchr (json, '<'));
  g_assert_nonnull (strstr (json, "data \\u003cdir\\u003e"));

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  members = json_object_get_members (root);
  for (l = members, i = 0; l != NULL; l = l->next, i++)
    {
      g_assert_cmpuint (i, <, G_N_ELEMENTS (expected_order));
      g_assert_cmpstr (l->data, ==, expected_order[i]);
    }
  g_assert_cmpuint (i, ==, G_N_ELEMENTS (expected_order));
  g_assert_cmpstr (json_object_get_string_member (root, "Id"), ==, ID_A);
  g_assert_cmpstr (json_object_get_string_member (root, "Name"), ==, "test/plugin:latest");
  g_assert_cmpstr (json_object_get_string_member (root, "PluginReference"), ==,
                   "docker.io/test/plugin:latest");
  g_assert_false (json_object_get_boolean_member (root, "Enabled"));
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (root, "Config"),
                                                  "Description"), ==, "a test plugin");

  settings = json_object_get_object_member (root, "Settings");
  g_clear_pointer (&members, g_list_free);
  members = json_object_get_members (settings);
  for (l = members, i = 0; l != NULL; l = l->next, i++)
    g_assert_cmpstr (l->data, ==, settings_order[i]);
  g_assert_cmpuint (i, ==, G_N_ELEMENTS (settings_order));
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (settings, "Env"), 0),
                   ==, "DEBUG=0");

  /* exactly json.Marshal's output for the same members: compact, HTML-escaped, in order */
  {
    g_autofree char *again = pd_json_to_go_data (json_parser_get_root (parser), NULL);
    g_assert_cmpstr (again, ==, json);
  }

  /* a created plugin (no remote) shows its name as PluginReference, as Docker does */
  local = pd_plugin_record_new (ID_B, "test/local:latest", NULL, make_config (), NULL, NULL, NULL);
  local_json = pd_plugin_record_to_docker_json (local, TRUE);
  g_assert_nonnull (strstr (local_json, "\"PluginReference\":\"test/local:latest\""));
  g_assert_null (pd_plugin_record_get_remote (local));

  /* what Go escapes beyond JSON: < > & and the JavaScript line separators */
  {
    g_autoptr(PdPluginRecord) odd = pd_plugin_record_new (ID_C, "a<b>&c\u2028d\u2029\"e\\",
                                                          NULL, make_config (), NULL, NULL,
                                                          NULL);
    g_autofree char *odd_json = pd_plugin_record_to_docker_json (odd, TRUE);

    g_assert_nonnull (strstr (odd_json,
                              "\"Name\":\"a\\u003cb\\u003e\\u0026c\\u2028d\\u2029\\\"e\\\\\""));
  }
}

/* without show_values: Docker's shape, every env value and arg hidden, mounts as they are */
static void
test_record_docker_json_hidden (void)
{
  g_autoptr(PdPluginRecord) record = make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autoptr(GHashTable) changes = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *json = NULL;
  g_autofree char *shown = NULL;
  JsonObject *doc;
  JsonArray *env, *args;

  g_hash_table_insert (changes, "DEBUG", "pass=word");
  g_hash_table_insert (changes, "args", "--key s3cret");
  settings = pd_plugin_settings_apply (pd_plugin_record_get_settings (record),
                                       pd_plugin_record_get_config (record), changes, &error);
  g_assert_no_error (error);
  pd_plugin_record_set_settings (record, g_steal_pointer (&settings));

  json = pd_plugin_record_to_docker_json (record, FALSE);
  g_assert_null (strstr (json, "pass=word"));
  g_assert_null (strstr (json, "s3cret"));
  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  doc = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)),
                                       "Settings");
  env = json_object_get_array_member (doc, "Env");
  g_assert_cmpuint (json_array_get_length (env), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (env, 0), ==, "DEBUG=" PD_HIDDEN_VALUE);
  args = json_object_get_array_member (doc, "Args");
  g_assert_cmpuint (json_array_get_length (args), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (args, 0), ==, PD_HIDDEN_VALUE);
  g_assert_cmpstr (json_array_get_string_element (args, 1), ==, PD_HIDDEN_VALUE);
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (json_object_get_array_member (doc, "Mounts"),
                                                    0), "Source"), ==, "/var/lib/data");
  /* Go's encoder escapes the brackets */
  g_assert_nonnull (strstr (json, "\"DEBUG=\\u003chidden\\u003e\""));

  /* the record itself is unchanged, and shows the values on request */
  shown = pd_plugin_record_to_docker_json (record, TRUE);
  g_assert_nonnull (strstr (shown, "\"DEBUG=pass=word\""));
  g_assert_nonnull (strstr (shown, "\"--key\",\"s3cret\""));
}

/* a record without a remote (a created plugin): its name as Reference, no remote, and no
 * "reference" on disk */
static void
test_record_no_reference (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginRecord) record = NULL;
  g_autoptr(PdPluginRecord) copy = NULL;
  g_autoptr(PdPluginRecord) empty = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;

  record = pd_plugin_record_new (ID_A, "test/local:latest", NULL, make_config (), NULL, NULL, NULL);
  g_assert_cmpstr (pd_plugin_record_get_reference (record), ==, "test/local:latest");
  g_assert_null (pd_plugin_record_get_remote (record));
  data = pd_plugin_record_to_data (record, &len);
  g_assert_null (strstr (data, "\"reference\""));
  copy = pd_plugin_record_new_from_data (data, len, &error);
  g_assert_no_error (error);
  g_assert_null (pd_plugin_record_get_remote (copy));

  /* "" is stored as no reference at all */
  empty = pd_plugin_record_new (ID_B, "test/local:latest", "", make_config (), NULL, NULL, NULL);
  g_assert_null (pd_plugin_record_get_remote (empty));
  g_clear_pointer (&data, g_free);
  data = pd_plugin_record_to_data (empty, NULL);
  g_assert_null (strstr (data, "\"reference\""));
}

/* crash consistency */

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
crash_child (Fixture *fixture, const CrashCase *c)
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
      record = make_record (ID_A, "test/crash:latest", NULL, NULL, NULL);
      install_plugin (store, record);
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
test_crash (Fixture *fixture, gconstpointer user_data)
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
  store = open_store (fixture);
  if (c->op == OP_SAVE || c->op == OP_REMOVE)
    {
      g_autoptr(PdPluginRecord) record = make_record (ID_A, "test/crash:latest", NULL, NULL, NULL);
      install_plugin (store, record);
    }
  if (c->op == OP_RECONCILE)
    {
      g_autoptr(PdPluginRecord) record = make_record (ID_B, "test/other:latest", NULL, NULL, NULL);
      g_autofree char *staging = NULL;
      g_autofree char *half = g_build_filename (plugins, ID_A "-removing", "rootfs", NULL);

      install_plugin (store, record);
      staging = pd_store_create_staging_dir (store, &error);
      g_assert_no_error (error);
      make_dir (half);
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
  store = open_store (fixture);
  assert_invariants (fixture->state_dir);
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

  g_test_add_func ("/fs/errno-mapping", test_errno_mapping);
  g_test_add_func ("/fs/crash-point-noop", test_crash_point_noop);
  g_test_add ("/fs/atomic-write", Fixture, NULL, fixture_set_up, test_atomic_write,
              fixture_tear_down);
  g_test_add ("/fs/mkdir-modes", Fixture, NULL, fixture_set_up, test_mkdir_modes,
              fixture_tear_down);
  g_test_add ("/fs/rm-rf-symlinks", Fixture, NULL, fixture_set_up, test_rm_rf_symlinks,
              fixture_tear_down);
  g_test_add ("/fs/rm-rf-mount-point", Fixture, NULL, fixture_set_up, test_rm_rf_mount_point,
              fixture_tear_down);

  g_test_add ("/store/modes", Fixture, NULL, fixture_set_up, test_store_modes, fixture_tear_down);
  g_test_add ("/store/loose-modes-repaired", Fixture, NULL, fixture_set_up,
              test_store_loose_modes_repaired, fixture_tear_down);
  g_test_add ("/store/blob/put-read", Fixture, NULL, fixture_set_up, test_blob_put_read,
              fixture_tear_down);
  g_test_add ("/store/blob/writer", Fixture, NULL, fixture_set_up, test_blob_writer,
              fixture_tear_down);
  g_test_add ("/store/blob/threads", Fixture, NULL, fixture_set_up, test_blob_threads,
              fixture_tear_down);
  g_test_add ("/store/no-space", Fixture, NULL, fixture_set_up, test_no_space,
              fixture_tear_down);
  g_test_add ("/store/staging", Fixture, NULL, fixture_set_up, test_staging, fixture_tear_down);
  g_test_add ("/store/deep-tree", Fixture, NULL, fixture_set_up, test_deep_tree,
              fixture_tear_down);
  g_test_add ("/store/commit-remove", Fixture, NULL, fixture_set_up, test_commit_remove,
              fixture_tear_down);
  g_test_add ("/store/reconcile", Fixture, NULL, fixture_set_up, test_reconcile,
              fixture_tear_down);
  g_test_add ("/store/gc", Fixture, NULL, fixture_set_up, test_gc, fixture_tear_down);
  g_test_add ("/store/gc-pins", Fixture, NULL, fixture_set_up, test_gc_pins, fixture_tear_down);
  g_test_add ("/store/gc-unloadable-record", Fixture, NULL, fixture_set_up,
              test_gc_unloadable_record, fixture_tear_down);
  g_test_add ("/store/record-save-limit", Fixture, NULL, fixture_set_up, test_record_save_limit,
              fixture_tear_down);
  g_test_add ("/store/gc-concurrent", Fixture, NULL, fixture_set_up, test_gc_concurrent,
              fixture_tear_down);

  g_test_add_func ("/record/round-trip", test_record_round_trip);
  g_test_add_func ("/record/invalid", test_record_invalid);
  g_test_add_func ("/record/deep-nesting", test_record_deep_nesting);
  g_test_add_func ("/record/docker-json", test_record_docker_json);
  g_test_add_func ("/record/docker-json-hidden", test_record_docker_json_hidden);
  g_test_add_func ("/record/no-reference", test_record_no_reference);

  for (gsize i = 0; i < G_N_ELEMENTS (crash_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/store/crash/%s", crash_cases[i].point);
      g_test_add (path, Fixture, &crash_cases[i], fixture_set_up, test_crash, fixture_tear_down);
    }

  return g_test_run ();
}
