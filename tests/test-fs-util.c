/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File system helpers (pd-fs-util.c): errno to PdError, atomic writes whatever the umask and
 * whatever fails after the rename, directory modes, rm -rf that never follows a symlink nor
 * crosses a mount point, and crash points that do nothing unless asked.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-fs-util"

/* O_PATH */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-test-store.h"
#include "pd-test-utils.h"

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
test_atomic_write (PdTestStoreFixture *fixture, gconstpointer user_data)
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
      g_assert_cmpint (pd_test_path_mode (path), ==, 0600);

      /* replaces, with the requested mode whatever the umask */
      pd_file_write_atomic_at (fd, "file", "second", 6, 0644, &error);
      g_assert_no_error (error);
      g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
      g_assert_cmpstr (contents, ==, "second");
      g_clear_pointer (&contents, g_free);
      g_assert_cmpint (pd_test_path_mode (path), ==, 0644);
      umask (old_umask);
    }

  /* empty content, and no temp file left behind */
  pd_file_write_atomic_at (fd, "file", "", 0, 0600, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "");
  g_clear_pointer (&contents, g_free);
  g_assert_cmpuint (pd_test_count_entries (fixture->base), ==, 1);

  /* a dir deleted under us is an error, not a crash */
  {
    g_autofree char *gone = g_build_filename (fixture->base, "gone", NULL);
    int gone_fd;

    pd_test_make_dir (gone);
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
    g_assert_cmpuint (pd_test_count_entries (fixture->base), ==, 1);
    close (path_fd);
  }

  pd_fsync_dir_at (fd, NULL, &error);
  g_assert_no_error (error);
  pd_fsync_dir_at (AT_FDCWD, fixture->base, &error);
  g_assert_no_error (error);
  close (fd);
}

static void
test_mkdir_modes (PdTestStoreFixture *fixture, gconstpointer user_data)
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
      g_assert_cmpint (pd_test_path_mode (top), ==, 0700);
      g_assert_cmpint (pd_test_path_mode (mid), ==, 0700);
      g_assert_cmpint (pd_test_path_mode (deep), ==, 0700);

      /* an existing final dir gets the mode */
      g_assert_cmpint (chmod (deep, 0755), ==, 0);
      pd_mkdir_with_mode (deep, 0700, &error);
      g_assert_no_error (error);
      g_assert_cmpint (pd_test_path_mode (deep), ==, 0700);
    }
}

static void
test_rm_rf_symlinks (PdTestStoreFixture *fixture, gconstpointer user_data)
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

  pd_test_make_dir (outside_sub);
  pd_test_write_file (outside_file, "keep me");
  pd_test_write_file (outside_sub_file, "keep me too");
  pd_test_make_dir (nested);
  pd_test_write_file (file, "delete me");
  g_assert_cmpint (symlink (outside, link_dir), ==, 0);
  g_assert_cmpint (symlink (outside_file, link_file), ==, 0);
  g_assert_cmpint (symlink ("/nonexistent/path", dangling), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  pd_test_make_dir (unwritable);
  g_assert_cmpint (chmod (unwritable, 0500), ==, 0);

  /* a symlink given as the top itself is removed, not followed */
  g_assert_cmpint (symlink (outside, top_link), ==, 0);
  pd_rm_rf_at (AT_FDCWD, top_link, &error);
  g_assert_no_error (error);
  g_assert_false (pd_test_path_exists (top_link));
  g_assert_true (pd_test_path_exists (outside_sub_file));

  pd_rm_rf_at (AT_FDCWD, victim, &error);
  g_assert_no_error (error);
  g_assert_false (pd_test_path_exists (victim));
  g_assert_true (g_file_test (outside_file, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (outside_sub_file, G_FILE_TEST_IS_REGULAR));

  /* missing is fine */
  pd_rm_rf_at (AT_FDCWD, victim, &error);
  g_assert_no_error (error);

  /* a plain file */
  pd_rm_rf_at (AT_FDCWD, outside_file, &error);
  g_assert_no_error (error);
  g_assert_false (pd_test_path_exists (outside_file));
  g_assert_true (pd_test_path_exists (outside_sub_file));
}

static void
test_rm_rf_mount_point (PdTestStoreFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (fixture->base, "victim", NULL);
  g_autofree char *mnt = g_build_filename (dir, "mnt", NULL);
  g_autofree char *inside = g_build_filename (mnt, "on-other-fs", NULL);

  pd_test_make_dir (mnt);
  if (!pd_test_mount_tmpfs (mnt, "1m"))
    return;
  pd_test_write_file (inside, "on another file system");

  pd_rm_rf_at (AT_FDCWD, dir, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "mount point"));
  g_assert_true (pd_test_path_exists (inside));

  pd_test_umount (mnt);
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/fs-util/errno-mapping", test_errno_mapping);
  g_test_add_func ("/fs-util/crash-point-noop", test_crash_point_noop);
  pd_test_add_store_test ("/fs-util/atomic-write", test_atomic_write);
  pd_test_add_store_test ("/fs-util/mkdir-modes", test_mkdir_modes);
  pd_test_add_store_test ("/fs-util/rm-rf-symlinks", test_rm_rf_symlinks);
  pd_test_add_store_test ("/fs-util/rm-rf-mount-point", test_rm_rf_mount_point);

  return g_test_run ();
}
