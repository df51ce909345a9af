/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mounts beneath a PropagatedMount (pd-propagated-mounts.c): which lines of a mount table
 * are beneath the propagated mount, the watch of a real mount table, and the release of what
 * is mounted at a propagated-mount dir (pd_sandbox_release_propagated_mount()). The mounts
 * are made in a mount namespace of the test's own, which goes with it, whatever happens.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-propagated-mounts"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pd-error.h"
#include "pd-propagated-mounts.h"
#include "pd-sandbox-start.h"
#include "pd-test-utils.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif

/* a sandbox's table: 30 is the rootfs, 40 the propagated mount at /data; 41 and 43 beneath
 * it, 42 beneath 41, 44 stacked on 40; 45 at /data/x is the rootfs's (not beneath 40: a mount
 * point of that name under a mount elsewhere); 46 elsewhere */
static const char table[] =
  "30 1 254:0 /plugins/x/rootfs / rw,nosuid - ext4 /dev/vda rw\n"
  "40 30 254:0 /plugins/x/propagated-mount /data rw,nosuid,nodev shared:2 - ext4 /dev/vda rw\n"
  "41 40 0:50 / /data/vol1 rw shared:3 - tmpfs tmpfs rw,size=1024k\n"
  "42 41 0:51 / /data/vol1/inner rw shared:4 master:1 - tmpfs tmpfs rw\n"
  "43 40 0:52 / /data/with\\040space rw shared:5 - xfs /dev/sdb1 rw\n"
  "44 40 0:53 / /data rw shared:6 - tmpfs tmpfs rw\n"
  "45 30 0:54 / /data/x rw - tmpfs tmpfs rw\n"
  "46 30 0:55 / /elsewhere rw - tmpfs tmpfs rw\n";

static void
assert_mount (GPtrArray *mounts, guint index, const char *host_path, const char *fstype)
{
  PdPropagatedMount *mount;

  g_assert_cmpuint (index, <, mounts->len);
  mount = g_ptr_array_index (mounts, index);
  g_assert_cmpstr (mount->host_path, ==, host_path);
  g_assert_cmpstr (mount->fstype, ==, fstype);
}

static void
test_parse (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) mounts = NULL;
  g_autoptr(GPtrArray) none = NULL;
  g_autoptr(GPtrArray) cut = NULL;
  g_autofree char *moved = NULL;
  g_autoptr(GPtrArray) from_moved = NULL;
  g_autofree char *looped = NULL;
  g_autoptr(GPtrArray) from_loop = NULL;

  mounts = pd_propagated_mounts_parse (table, strlen (table), 40, "/state/plugins/x/pm", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (mounts->len, ==, 4);
  assert_mount (mounts, 0, "/state/plugins/x/pm/vol1", "tmpfs");
  assert_mount (mounts, 1, "/state/plugins/x/pm/vol1/inner", "tmpfs");
  assert_mount (mounts, 2, "/state/plugins/x/pm/with space", "xfs");
  /* stacked on the propagated mount: on the host it is at the dir itself */
  assert_mount (mounts, 3, "/state/plugins/x/pm", "tmpfs");

  /* the plugin unmounted it: nothing of it is in its sandbox */
  none = pd_propagated_mounts_parse (table, strlen (table), 99, "/pm", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (none->len, ==, 0);

  /* a last line without its newline was cut by the read: not read */
  cut = pd_propagated_mounts_parse (table, strlen (table) - 1, 40, "/pm", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cut->len, ==, 4);
  g_clear_pointer (&cut, g_ptr_array_unref);
  cut = pd_propagated_mounts_parse (table, strstr (table, "44 40") - table - 5, 40, "/pm", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cut->len, ==, 2);

  /* the plugin moved it: what is beneath goes by the mount point it has now */
  moved = g_strdup ("30 1 254:0 / / rw - ext4 /dev/vda rw\n"
                    "40 30 254:0 /pm /moved rw - ext4 /dev/vda rw\n"
                    "41 40 0:50 / /moved/a rw - tmpfs tmpfs rw\n");
  from_moved = pd_propagated_mounts_parse (moved, strlen (moved), 40, "/pm", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (from_moved->len, ==, 1);
  assert_mount (from_moved, 0, "/pm/a", "tmpfs");

  /* parents in a loop (no kernel writes that) end the walk */
  looped = g_strdup ("40 1 254:0 / /data rw - ext4 /dev/vda rw\n"
                     "50 51 0:50 / /data/a rw - tmpfs tmpfs rw\n"
                     "51 50 0:51 / /data/b rw - tmpfs tmpfs rw\n");
  from_loop = pd_propagated_mounts_parse (looped, strlen (looped), 40, "/pm", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (from_loop->len, ==, 0);
}

static void
test_parse_errors (void)
{
  static const char *const bad[] = {
    "not a mount table\n",
    "x 30 254:0 / /data rw - ext4 /dev/vda rw\n",
    "40 30 254:0 / /data rw shared:1 ext4 /dev/vda rw\n",
    "40 30 254:0 / /data rw shared:1 master:2 unbindable -\n",
    "\n",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) mounts = pd_propagated_mounts_parse (bad[i], strlen (bad[i]), 40,
                                                                "/pm", &error);

      g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
      g_assert_null (mounts);
    }
}

static void
must_mount (const char *source, const char *target, const char *type, unsigned long flags)
{
  if (mount (source, target, type != NULL ? type : "none", flags,
             type != NULL ? "size=1m" : NULL) != 0)
    g_error ("mount %s on %s: %s", source, target, g_strerror (errno));
}

typedef struct {
  char *base;
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *fixture, gconstpointer data)
{
  fixture->base = pd_test_make_tmp_dir ("propagated-XXXXXX");
  fixture->dir = g_build_filename (fixture->base, "propagated-mount", NULL);
  g_assert_no_errno (g_mkdir (fixture->dir, 0755));
}

static void
fixture_teardown (Fixture *fixture, gconstpointer data)
{
  /* whatever a failed test left mounted goes with the test's namespace */
  umount2 (fixture->dir, MNT_DETACH);
  pd_test_rm_rf (fixture->base);
  g_free (fixture->dir);
  g_free (fixture->base);
}

/* everything at the dir, the topmost first, each with what is beneath it, and nothing else */
static void
test_release (Fixture *fixture, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *vol = g_build_filename (fixture->dir, "vol1", NULL);
  g_autofree char *missing = g_build_filename (fixture->base, "missing", NULL);
  g_autofree char *beside = g_build_filename (fixture->base, "beside", NULL);
  guint64 unmounted = 99;

  /* nothing mounted: nothing to do */
  g_assert_true (pd_sandbox_release_propagated_mount (fixture->dir, &unmounted, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (unmounted, ==, 0);
  g_assert_true (pd_sandbox_release_propagated_mount (missing, &unmounted, &error));
  g_assert_no_error (error);

  /* what a killed daemon leaves: the dir's own mount, a volume beneath it, and a mount a
   * plugin stacked on it; a mount beside the dir stays */
  g_assert_no_errno (g_mkdir (beside, 0755));
  must_mount ("tmpfs", beside, "tmpfs", 0);
  must_mount (fixture->dir, fixture->dir, NULL, MS_BIND);
  g_assert_no_errno (g_mkdir (vol, 0755));
  must_mount ("tmpfs", vol, "tmpfs", 0);
  must_mount ("tmpfs", fixture->dir, "tmpfs", 0);
  g_assert_cmpuint (pd_test_count_mounts (fixture->dir), ==, 3);

  g_assert_true (pd_sandbox_release_propagated_mount (fixture->dir, &unmounted, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (unmounted, ==, 2);
  g_assert_cmpuint (pd_test_count_mounts (fixture->dir), ==, 0);
  g_assert_cmpuint (pd_test_count_mounts (beside), ==, 1);
  g_assert_no_errno (umount2 (beside, 0));
}

static void
on_changed (gpointer user_data)
{
  (*(guint *) user_data)++;
}

/* a real mount table: a mount beneath the watched one shows, and goes */
static void
test_watch (Fixture *fixture, gconstpointer data)
{
  g_autoptr(PdPropagatedMounts) watch = NULL;
  g_autofree char *vol = g_build_filename (fixture->dir, "vol1", NULL);
  struct statx stx;
  guint changes = 0;
  guint n_unlisted = 99;
  GPtrArray *mounts;
  int fd;

  must_mount (fixture->dir, fixture->dir, NULL, MS_BIND);
  g_assert_no_errno (statx (AT_FDCWD, fixture->dir, 0, STATX_MNT_ID, &stx));
  fd = open ("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  watch = pd_propagated_mounts_new (fd, stx.stx_mnt_id, "/host/pm", on_changed, &changes);
  g_assert_cmpuint (pd_propagated_mounts_get (watch)->len, ==, 0);

  g_assert_no_errno (g_mkdir (vol, 0755));
  must_mount ("tmpfs", vol, "tmpfs", 0);
  while (changes == 0)
    g_main_context_iteration (NULL, TRUE);
  mounts = pd_propagated_mounts_get (watch);
  g_assert_cmpuint (mounts->len, ==, 1);
  assert_mount (mounts, 0, "/host/pm/vol1", "tmpfs");
  g_assert_cmpuint (pd_propagated_mounts_get_n_unlisted (watch), ==, 0);

  /* more than are listed: counted */
  for (guint i = 0; i < PD_PROPAGATED_MOUNTS_MAX_LISTED + 3; i++)
    must_mount ("tmpfs", vol, "tmpfs", 0);
  pd_propagated_mounts_refresh (watch);
  g_assert_cmpuint (changes, ==, 2);
  g_assert_cmpuint (pd_propagated_mounts_get (watch)->len, ==, PD_PROPAGATED_MOUNTS_MAX_LISTED);
  n_unlisted = pd_propagated_mounts_get_n_unlisted (watch);
  g_assert_cmpuint (n_unlisted, ==, 4);

  g_assert_no_errno (umount2 (vol, MNT_DETACH));
  while (pd_propagated_mounts_get (watch)->len > 0)
    {
      /* a stack goes one by one */
      if (umount2 (vol, MNT_DETACH) != 0)
        g_main_context_iteration (NULL, TRUE);
    }
  g_assert_cmpuint (pd_propagated_mounts_get_n_unlisted (watch), ==, 0);
  g_assert_no_errno (umount2 (fixture->dir, MNT_DETACH));
}

int
main (int argc, char **argv)
{
  /* before any thread: a mount namespace of the test's own, propagating nothing back */
  if (unshare (CLONE_NEWNS) != 0 || mount ("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
    g_error ("cannot make a mount namespace for the test: %s", g_strerror (errno));

  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/propagated-mounts/parse", test_parse);
  g_test_add_func ("/propagated-mounts/parse-errors", test_parse_errors);
  PD_TEST_ADD ("/propagated-mounts/release", test_release);
  PD_TEST_ADD ("/propagated-mounts/watch", test_watch);

  return g_test_run ();
}
