/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugind-extract --whiteouts: OCI/Docker layers applied one helper run at a time into the
 * same directory, with whiteouts, opaque directories and lower entries replaced. Layers are
 * tar streams built here with libarchive's writer; the helper runs for real (it chroots, so
 * the tests run as root or where it can enter a user namespace).
 */
#include "config.h"

#define G_LOG_DOMAIN "test-extract-helper"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pd-archive.h"
#include "pd-test-utils.h"

/* deeper than the helper's removal limit (the daemon's 128 components) */
#define TOO_DEEP 140

/* section: fixture and helpers */

typedef struct {
  char *base;
  char *rootfs;     /* the layers' directory, base/rootfs */
  char *sibling;    /* base/outside: where "../outside" leads from the rootfs */
  char *outside;    /* a separate temporary directory */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *sibling_keep = NULL;
  g_autofree char *outside_keep = NULL;
  g_autofree char *inner = NULL;
  g_autofree char *inner_file = NULL;

  f->base = pd_test_make_tmp_dir ("pd-test-extract-XXXXXX");
  f->rootfs = g_build_filename (f->base, "rootfs", NULL);
  f->sibling = g_build_filename (f->base, "outside", NULL);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (f->sibling, 0755), ==, 0);
  sibling_keep = g_build_filename (f->sibling, "keep", NULL);
  pd_test_write_file (sibling_keep, "sibling");
  f->outside = pd_test_make_tmp_dir ("pd-test-extract-outside-XXXXXX");
  outside_keep = g_build_filename (f->outside, "keep", NULL);
  pd_test_write_file (outside_keep, "outside");
  inner = g_build_filename (f->outside, "dir", NULL);
  g_assert_cmpint (g_mkdir (inner, 0755), ==, 0);
  inner_file = g_build_filename (inner, "inner", NULL);
  pd_test_write_file (inner_file, "inner");
}

/* whatever a layer did, nothing outside the rootfs changed */
static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autofree char *outside = pd_test_list_tree (f->outside);
  g_autofree char *sibling = pd_test_list_tree (f->sibling);

  g_assert_cmpstr (outside, ==,
                   "dir d755\n"
                   "dir/inner f644 inner\n"
                   "keep f644 outside\n");
  g_assert_cmpstr (sibling, ==, "keep f644 sibling\n");
  pd_test_rm_rf (f->outside);
  pd_test_rm_rf (f->base);
  g_free (f->base);
  g_free (f->rootfs);
  g_free (f->sibling);
  g_free (f->outside);
}

/* a tar of @entries as tar(1) writes it */
static GBytes *
build_tar (const PdTestEntry *entries)
{
  static const PdTestTarOptions options = { .padded = TRUE };

  return pd_test_build_tar (entries, &options);
}

/* runs the helper on @entries; its exit status and what it printed */
static int
run_helper_args (Fixture *f, const PdTestEntry *entries, const char *const *args, char **err_out)
{
  g_autoptr(GBytes) tar = build_tar (entries);

  return pd_test_run_extract_helper (tar, args, f->rootfs, err_out);
}

static const char * const layer_args[] = { "--whiteouts", NULL };

/* one layer that must apply cleanly */
static void
apply_layer (Fixture *f, const PdTestEntry *entries)
{
  g_autofree char *err = NULL;

  g_assert_cmpint (run_helper_args (f, entries, layer_args, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
}

/* one layer the helper must refuse with one "ERROR @kind ..." line */
static void
apply_layer_fails (Fixture *f, const PdTestEntry *entries, const char * const *args,
                   const char *kind)
{
  g_autofree char *err = NULL;
  g_autofree char *prefix = g_strdup_printf ("ERROR %s ", kind);

  g_assert_cmpint (run_helper_args (f, entries, args != NULL ? args : layer_args, &err), !=, 0);
  g_assert_true (g_str_has_prefix (err, prefix));
  g_assert_true (g_str_has_suffix (err, "\n"));
  g_assert_true (strchr (err, '\n') == err + strlen (err) - 1);
}

static void
assert_tree (Fixture *f, const char *expected)
{
  g_autofree char *actual = pd_test_list_tree (f->rootfs);

  g_assert_cmpstr (actual, ==, expected);
}

/* section: whiteouts */

static void
test_whiteout_file (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "etc" },
    { T_FILE, "etc/a", NULL, 0, "A" },
    { T_FILE, "etc/b", NULL, 0, "B" },
    { T_FILE, "top", NULL, 0, "T" },
    { T_HARDLINK, "etc/a-link", "etc/a" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, "etc/.wh.a" },
    { T_FILE, ".wh.top" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer (f, upper);
  /* the other name of a hard link stays: a whiteout hides a path, not an inode */
  assert_tree (f,
               "etc d755\n"
               "etc/a-link f644 A\n"
               "etc/b f644 B\n");
}

static void
test_whiteout_dir (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "usr" },
    { T_DIR, "usr/share" },
    { T_FILE, "usr/share/keep", NULL, 0, "K" },
    { T_DIR, "usr/share/doc" },
    { T_FILE, "usr/share/doc/README", NULL, 0, "R" },
    { T_DIR, "usr/share/doc/pkg" },
    { T_DIR, "usr/share/doc/pkg/empty" },
    /* read-only directories are emptied as well */
    { T_DIR, "usr/share/doc/pkg/ro", NULL, 0500 },
    { T_FILE, "usr/share/doc/pkg/ro/file", NULL, 0400, "ro" },
    { T_SYMLINK, "usr/share/doc/pkg/link", "../README" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, "usr/share/.wh.doc" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer (f, upper);
  assert_tree (f,
               "usr d755\n"
               "usr/share d755\n"
               "usr/share/keep f644 K\n");
}

/* a whiteout removes the symlink, never what it points at: inside the rootfs, at an absolute
 * path outside it (which the chroot makes a path inside) or through ".." */
static void
test_whiteout_symlink (Fixture *f, gconstpointer data)
{
  g_autofree char *abs_dir = g_strdup (f->outside);
  g_autofree char *abs_file = g_build_filename (f->outside, "keep", NULL);
  g_autofree char *host_abs = g_build_filename (f->rootfs, "host-abs", NULL);
  const PdTestEntry lower[] = {
    { T_DIR, "real" },
    { T_FILE, "real/victim", NULL, 0, "V" },
    { T_SYMLINK, "to-real", "real" },
    { T_SYMLINK, "to-victim", "real/victim" },
    { T_SYMLINK, "to-abs-dir", abs_dir },
    { T_SYMLINK, "to-abs-file", abs_file },
    { T_SYMLINK, "to-sibling", "../outside" },
    { T_SYMLINK, "to-sibling-file", "../outside/keep" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, ".wh.to-real" },
    { T_FILE, ".wh.to-victim" },
    { T_FILE, ".wh.to-abs-dir" },
    { T_FILE, ".wh.to-abs-file" },
    { T_FILE, ".wh.to-sibling" },
    { T_FILE, ".wh.to-sibling-file" },
    { T_END },
  };

  /* the same names from the host's side, in case the helper ever followed them unconfined */
  g_assert_cmpint (symlink (abs_dir, host_abs), ==, 0);
  apply_layer (f, lower);
  apply_layer (f, (const PdTestEntry[]) { { T_FILE, ".wh.host-abs" }, { T_END } });
  apply_layer (f, upper);
  assert_tree (f,
               "real d755\n"
               "real/victim f644 V\n");
  /* the outside directories are checked by the teardown */
}

static void
test_whiteout_missing (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "d" },
    { T_FILE, "d/file", NULL, 0, "F" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, ".wh.nothing" },
    { T_FILE, "d/.wh.nothing" },
    { T_FILE, "no/such/dir/.wh.file" },
    { T_FILE, "no/.wh..wh..opq" },
    { T_END },
  };
  g_autofree char *before = NULL;

  apply_layer (f, lower);
  before = pd_test_list_tree (f->rootfs);
  apply_layer (f, upper);
  assert_tree (f, before);
  /* and the markers themselves were never written */
  g_assert_cmpstr (before, ==, "d d755\nd/file f644 F\n");
}

/* a marker's type and data do not matter, and reading goes on after its data */
static void
test_whiteout_odd_marker (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_FILE, "a", NULL, 0, "A" },
    { T_FILE, "b", NULL, 0, "B" },
    { T_FILE, "c", NULL, 0, "C" },
    { T_DIR, "d" },
    { T_FILE, "d/old", NULL, 0, "O" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, ".wh.a", NULL, 0, "some data that is skipped" },
    { T_SYMLINK, ".wh.b", "/etc/passwd" },
    { T_DIR, ".wh.c" },
    { T_HARDLINK, "d/.wh..wh..opq", "a" },
    { T_FILE, "after", NULL, 0, "after the markers" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer (f, upper);
  assert_tree (f,
               "after f644 after the markers\n"
               "d d755\n");
}

/* as the OCI image specification puts it, "files that are present in the same layer as a
 * whiteout file can only be hidden by whiteout files in subsequent layers" */
static void
test_whiteout_same_layer (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_FILE, "f", NULL, 0, "lower" },
    { T_DIR, "d" },
    { T_FILE, "d/lower", NULL, 0, "L" },
    { T_FILE, "gone", NULL, 0, "G" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, "f", NULL, 0, "upper" },
    { T_FILE, ".wh.f" },
    { T_FILE, "d/upper", NULL, 0, "U" },
    { T_FILE, ".wh.d" },
    { T_FILE, ".wh.gone" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer (f, upper);
  assert_tree (f,
               "d d755\n"
               "d/upper f644 U\n"
               "f f644 upper\n");
}

/* a whiteout or an opaque marker behind a symlink or a file is refused; nothing it points at
 * is touched */
static void
test_whiteout_through_symlink (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "real" },
    { T_FILE, "real/victim", NULL, 0, "V" },
    { T_DIR, "real/sub" },
    { T_FILE, "real/sub/x", NULL, 0, "X" },
    { T_SYMLINK, "p", "real" },
    { T_SYMLINK, "abs", "/real" },
    { T_SYMLINK, "q", f->outside },
    { T_SYMLINK, "r", "../outside" },
    { T_FILE, "plain", NULL, 0, "P" },
    { T_DIR, "dir" },
    { T_SYMLINK, "dir/p", "../real" },
    { T_END },
  };
  const PdTestEntry *bad[] = {
    (const PdTestEntry[]) { { T_FILE, "p/.wh.victim" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "p/sub/.wh.x" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "abs/.wh.victim" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "dir/p/.wh.victim" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "q/.wh.keep" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "r/.wh.keep" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "plain/.wh.x" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "p/.wh..wh..opq" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "p/sub/.wh..wh..opq" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "r/.wh..wh..opq" }, { T_END } },
    (const PdTestEntry[]) { { T_FILE, "plain/.wh..wh..opq" }, { T_END } },
  };
  g_autofree char *before = NULL;

  apply_layer (f, lower);
  before = pd_test_list_tree (f->rootfs);
  g_assert_nonnull (strstr (before, "real/victim f644 V\n"));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("layer: %s", bad[i][0].name);
      apply_layer_fails (f, bad[i], NULL, "invalid-archive");
      assert_tree (f, before);
    }
}

typedef struct {
  const char *test;
  const char *name;
} InvalidName;

static const InvalidName invalid_names[] = {
  { "aufs-plnk", ".wh..wh.plnk" },
  { "aufs-aufs", ".wh..wh.aufs" },
  { "aufs-orph", ".wh..wh.orph" },
  { "aufs-in-dir", "d/.wh..wh.plnk" },
  { "empty", ".wh." },
  { "empty-in-dir", "d/.wh." },
  { "dot", ".wh.." },
  { "dotdot", ".wh..." },
  { "marker-as-dir", ".wh.../x" },
  { "marker-as-dir-in-dir", "d/.wh.sub/x" },
  { "opaque-as-dir", ".wh..wh..opq/x" },
};

static void
test_whiteout_invalid (Fixture *f, gconstpointer data)
{
  const char *name = ((const InvalidName *) data)->name;
  const PdTestEntry lower[] = {
    { T_DIR, "d" },
    { T_FILE, "d/file", NULL, 0, "F" },
    { T_FILE, "x", NULL, 0, "X" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, "new", NULL, 0, "N" },
    { T_FILE, name },
    { T_FILE, "d/.wh.file" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer_fails (f, upper, NULL, "invalid-archive");
  /* stopped at the bad name: what came before is there, the whiteout after it not applied */
  assert_tree (f,
               "d d755\n"
               "d/file f644 F\n"
               "new f644 N\n"
               "x f644 X\n");
}

/* section: opaque directories */

static void
test_opaque_dir (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "d" },
    { T_FILE, "d/old", NULL, 0, "old" },
    { T_FILE, "d/both", NULL, 0, "lower" },
    { T_DIR, "d/sub" },
    { T_FILE, "d/sub/old", NULL, 0, "old" },
    { T_DIR, "d/implicit" },
    { T_FILE, "d/implicit/old", NULL, 0, "old" },
    { T_DIR, "d/gone" },
    { T_DIR, "d/gone/deeper" },
    { T_FILE, "d/gone/deeper/old", NULL, 0, "old" },
    { T_SYMLINK, "d/link", "../other" },
    { T_DIR, "other" },
    { T_FILE, "other/x", NULL, 0, "X" },
    { T_END },
  };
  /* children written before the marker stay (even when they merged with a lower directory,
   * whose lower content is hidden all the same), those after it are written normally */
  const PdTestEntry upper[] = {
    { T_DIR, "d", NULL, 0750 },
    { T_FILE, "d/both", NULL, 0, "upper" },
    { T_DIR, "d/sub" },
    { T_FILE, "d/sub/new", NULL, 0, "new" },
    { T_FILE, "d/implicit/new", NULL, 0, "new" },
    { T_FILE, "d/.wh..wh..opq" },
    { T_FILE, "d/after", NULL, 0, "after" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer (f, upper);
  assert_tree (f,
               "d d750\n"
               "d/after f644 after\n"
               "d/both f644 upper\n"
               "d/implicit d755\n"
               "d/implicit/new f644 new\n"
               "d/sub d755\n"
               "d/sub/new f644 new\n"
               "other d755\n"
               "other/x f644 X\n");
}

static void
test_opaque_root (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_FILE, "a", NULL, 0, "A" },
    { T_DIR, "b" },
    { T_FILE, "b/c", NULL, 0, "C" },
    { T_SYMLINK, "out", "../outside" },
    { T_END },
  };
  const PdTestEntry middle[] = {
    { T_DIR, "." },
    { T_FILE, "x", NULL, 0, "X" },
    { T_FILE, ".wh..wh..opq" },
    { T_FILE, "y", NULL, 0, "Y" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, "./z", NULL, 0, "Z" },
    { T_FILE, "./.wh..wh..opq" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer (f, middle);
  assert_tree (f,
               "x f644 X\n"
               "y f644 Y\n");
  apply_layer (f, upper);
  assert_tree (f, "z f644 Z\n");
}

/* section: replacing what a lower layer had */

static void
test_replace_dir_by_file (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "a" },
    { T_FILE, "a/child", NULL, 0, "C" },
    { T_DIR, "a/sub" },
    { T_FILE, "a/sub/deep", NULL, 0, "D" },
    { T_SYMLINK, "a/sub/out", "../../../outside" },
    { T_SYMLINK, "a/sub/abs", f->outside },
    { T_DIR, "h" },
    { T_FILE, "h/child", NULL, 0, "H" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, "a", NULL, 0600, "now a file" },
    { T_HARDLINK, "h", "a" },
    { T_END },
  };
  g_autofree char *a = g_build_filename (f->rootfs, "a", NULL);
  struct stat st;

  apply_layer (f, lower);
  apply_layer (f, upper);
  assert_tree (f,
               "a f600 now a file\n"
               "h f600 now a file\n");
  g_assert_cmpint (lstat (a, &st), ==, 0);
  g_assert_cmpuint (st.st_nlink, ==, 2);
}

static void
test_replace_file_by_dir (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_FILE, "x", NULL, 0, "X" },
    { T_SYMLINK, "s", "real" },
    { T_DIR, "real" },
    { T_FILE, "real/victim", NULL, 0, "V" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_DIR, "x", NULL, 0700 },
    { T_FILE, "x/child", NULL, 0, "child" },
    /* a symlink to a directory is replaced too, not written through */
    { T_DIR, "s" },
    { T_FILE, "s/new", NULL, 0, "new" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer (f, upper);
  assert_tree (f,
               "real d755\n"
               "real/victim f644 V\n"
               "s d755\n"
               "s/new f644 new\n"
               "x d700\n"
               "x/child f644 child\n");
}

static void
test_replace_dir_by_symlink (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "s" },
    { T_FILE, "s/child", NULL, 0, "C" },
    { T_DIR, "s/sub" },
    { T_FILE, "s/sub/x", NULL, 0, "X" },
    { T_DIR, "t" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_SYMLINK, "s", "t" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer (f, upper);
  assert_tree (f,
               "s l ->t\n"
               "t d755\n");
}

/* two directories merge: the children of both, the upper one's metadata */
static void
test_replace_dir_merge (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "m", NULL, 0755 },
    { T_FILE, "m/old", NULL, 0, "old" },
    { T_FILE, "m/both", NULL, 0, "lower" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_DIR, "m", NULL, 0710, .uid = 1234 },
    { T_FILE, "m/new", NULL, 0, "new" },
    { T_SYMLINK, "m/both", "old" },
    { T_END },
  };
  g_autofree char *m = g_build_filename (f->rootfs, "m", NULL);
  struct stat st;

  apply_layer (f, lower);
  apply_layer (f, upper);
  assert_tree (f,
               "m d710\n"
               "m/both l ->old\n"
               "m/new f644 new\n"
               "m/old f644 old\n");
  g_assert_cmpint (lstat (m, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 1234);
  g_assert_cmpint (st.st_mtime, ==, PD_TEST_MTIME);
}

/* section: whole images */

static void
test_three_layers (Fixture *f, gconstpointer data)
{
  const PdTestEntry base[] = {
    { T_DIR, "bin" },
    { T_FILE, "bin/sh", NULL, 0755, "shell v1" },
    { T_FILE, "bin/tool", NULL, 0755, "tool" },
    { T_DIR, "etc" },
    { T_FILE, "etc/config", NULL, 0644, "config v1" },
    { T_DIR, "etc/conf.d" },
    { T_FILE, "etc/conf.d/a", NULL, 0, "a" },
    { T_FILE, "etc/conf.d/b", NULL, 0, "b" },
    { T_DIR, "var" },
    { T_DIR, "var/cache" },
    { T_FILE, "var/cache/big", NULL, 0, "cache" },
    { T_DIR, "var/lib" },
    { T_FILE, "var/lib/state", NULL, 0, "state" },
    { T_DIR, "lib" },
    { T_FILE, "lib/libx.so.1", NULL, 0, "libx1" },
    { T_SYMLINK, "lib/libx.so", "libx.so.1" },
    { T_END },
  };
  const PdTestEntry update[] = {
    { T_DIR, "bin" },
    { T_FILE, "bin/sh", NULL, 0755, "shell v2" },
    { T_FILE, "bin/.wh.tool" },
    { T_DIR, "etc" },
    { T_DIR, "etc/conf.d" },
    { T_FILE, "etc/conf.d/.wh..wh..opq" },
    { T_FILE, "etc/conf.d/c", NULL, 0, "c" },
    { T_FILE, "etc/config", NULL, 0600, "config v2" },
    { T_FILE, "var/.wh.cache" },
    { T_DIR, "lib" },
    { T_FILE, "lib/libx.so.2", NULL, 0, "libx2" },
    { T_SYMLINK, "lib/libx.so", "libx.so.2" },
    { T_FILE, "lib/.wh.libx.so.1" },
    { T_END },
  };
  const PdTestEntry app[] = {
    { T_DIR, "app", NULL, 0750 },
    { T_FILE, "app/main", NULL, 0755, "main" },
    { T_HARDLINK, "app/sh", "bin/sh" },
    { T_FILE, "var", NULL, 0, "var is a file now" },
    { T_FILE, "etc/conf.d/.wh.c" },
    { T_DIR, "etc/conf.d/c.d" },
    { T_END },
  };

  apply_layer (f, base);
  apply_layer (f, update);
  apply_layer (f, app);
  assert_tree (f,
               "app d750\n"
               "app/main f755 main\n"
               "app/sh f755 shell v2\n"
               "bin d755\n"
               "bin/sh f755 shell v2\n"
               "etc d755\n"
               "etc/conf.d d755\n"
               "etc/conf.d/c.d d755\n"
               "etc/config f600 config v2\n"
               "lib d755\n"
               "lib/libx.so l ->libx.so.2\n"
               "lib/libx.so.2 f644 libx2\n"
               "var f644 var is a file now\n");
}

/* section: limits and the plain mode */

/* removals are bounded in depth; a tree as deep as the daemon allows goes, a deeper one (which
 * no layer can have made) is refused instead of exhausting the helper's descriptors */
static void
test_deep_tree (Fixture *f, gconstpointer data)
{
  g_autoptr(GArray) entries = g_array_new (TRUE, TRUE, sizeof (PdTestEntry));
  g_autoptr(GString) name = g_string_new ("deep");
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  PdTestEntry entry = { T_DIR };
  g_autofree char *deep_listing = NULL;
  int fd;

  for (guint i = 0; i < 127; i++)
    {
      g_ptr_array_add (names, g_strdup (name->str));
      g_string_append (name, "/d");
    }
  g_string_truncate (name, name->len - 1);
  g_string_append (name, "f");
  g_ptr_array_add (names, g_strdup (name->str));
  for (guint i = 0; i < names->len; i++)
    {
      entry.type = i + 1 < names->len ? T_DIR : T_FILE;
      entry.name = g_ptr_array_index (names, i);
      g_array_append_val (entries, entry);
    }
  apply_layer (f, (const PdTestEntry *) (gpointer) entries->data);
  deep_listing = pd_test_list_tree (f->rootfs);
  g_assert_true (g_str_has_prefix (deep_listing, "deep d755\ndeep/d d755\n"));
  g_assert_true (g_str_has_suffix (deep_listing, "/d/f f644 \n"));
  apply_layer (f, (const PdTestEntry[]) { { T_FILE, ".wh.deep" }, { T_END } });
  assert_tree (f, "");

  /* made behind the helper's back */
  fd = open (f->rootfs, O_RDONLY | O_DIRECTORY);
  g_assert_cmpint (fd, >=, 0);
  for (guint i = 0; i < TOO_DEEP; i++)
    {
      int next;

      g_assert_cmpint (mkdirat (fd, "d", 0755), ==, 0);
      next = openat (fd, "d", O_RDONLY | O_DIRECTORY);
      g_assert_cmpint (next, >=, 0);
      close (fd);
      fd = next;
    }
  close (fd);
  apply_layer_fails (f, (const PdTestEntry[]) { { T_FILE, ".wh.d" }, { T_END } }, NULL, "limits");
}

/* whiteouts count as entries; file data is still capped */
static void
test_limits (Fixture *f, gconstpointer data)
{
  const char * const max_entries[] = { "--whiteouts", "--max-entries", "2", NULL };
  const char * const max_bytes[] = { "--whiteouts", "--max-bytes", "4", NULL };
  const PdTestEntry lower[] = {
    { T_FILE, "a", NULL, 0, "A" },
    { T_FILE, "b", NULL, 0, "B" },
    { T_FILE, "c", NULL, 0, "C" },
    { T_END },
  };
  const PdTestEntry three_whiteouts[] = {
    { T_FILE, ".wh.a" },
    { T_FILE, ".wh.b" },
    { T_FILE, ".wh.c" },
    { T_END },
  };
  const PdTestEntry big[] = {
    { T_FILE, "big", NULL, 0, "more than four bytes" },
    { T_END },
  };

  apply_layer (f, lower);
  apply_layer_fails (f, three_whiteouts, max_entries, "limits");
  assert_tree (f, "c f644 C\n");
  apply_layer_fails (f, big, max_bytes, "limits");
  apply_layer (f, three_whiteouts);
  assert_tree (f, "");
}

/* without --whiteouts markers are plain names and nothing is ever removed */
static void
test_no_whiteouts (Fixture *f, gconstpointer data)
{
  const PdTestEntry lower[] = {
    { T_DIR, "d" },
    { T_FILE, "d/old", NULL, 0, "old" },
    { T_FILE, "a", NULL, 0, "A" },
    { T_END },
  };
  const PdTestEntry upper[] = {
    { T_FILE, ".wh.a" },
    { T_FILE, "d/.wh..wh..opq" },
    { T_FILE, "d/.wh.old" },
    { T_END },
  };
  const PdTestEntry replace[] = {
    { T_FILE, "d", NULL, 0, "file over a directory" },
    { T_END },
  };
  const char *expected =
    ".wh.a f644 \n"
    "a f644 A\n"
    "d d755\n"
    "d/.wh..wh..opq f644 \n"
    "d/.wh.old f644 \n"
    "d/old f644 old\n";
  g_autofree char *err = NULL;

  g_assert_cmpint (run_helper_args (f, lower, NULL, NULL), ==, 0);
  g_assert_cmpint (run_helper_args (f, upper, NULL, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  assert_tree (f, expected);
  /* libarchive alone cannot put a file over a non-empty directory: it stays */
  apply_layer_fails (f, replace, (const char * const[]) { NULL }, "invalid-archive");
  assert_tree (f, expected);
}

/* section: symlinks on the way (the helper's own check, behind the daemon's filter) */

static const char * const plain_args[] = { NULL };

/* a directory the helper has checked or made is remembered; an entry that replaces it with a
 * symlink is not written through afterwards, nor is a hard link's target reached through it */
static void
test_symlink_replaces_known_dir (Fixture *f, gconstpointer data)
{
  apply_layer_fails (f, ENTRIES ({ T_DIR, "a" }, { T_DIR, "a/b" }, { T_FILE, "a/x", NULL, 0, "x" },
                                 { T_SYMLINK, "a/b", "../../outside" },
                                 { T_FILE, "a/b/f", NULL, 0, "through" }),
                     plain_args, "invalid-archive");
  assert_tree (f, "a d755\na/b l ->../../outside\na/x f644 x\n");
  pd_test_rm_rf (f->rootfs);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  apply_layer_fails (f, ENTRIES ({ T_DIR, "real" }, { T_FILE, "real/f", NULL, 0, "f" },
                                 { T_DIR, "l" }, { T_FILE, "l/g", NULL, 0, "g" },
                                 { T_FILE, "l/.keep" }, { T_FILE, "other" },
                                 /* l is not empty: refused by libarchive, l stays known */
                                 { T_SYMLINK, "l", "real" }),
                     plain_args, "invalid-archive");
  pd_test_rm_rf (f->rootfs);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  apply_layer_fails (f, ENTRIES ({ T_DIR, "real" }, { T_FILE, "real/f", NULL, 0, "f" },
                                 { T_DIR, "l" }, { T_SYMLINK, "l", "real" },
                                 { T_HARDLINK, "h", "l/f" }),
                     plain_args, "invalid-archive");
  assert_tree (f, "l l ->real\nreal d755\nreal/f f644 f\n");
}

/* a directory entry where a symlink is replaces the symlink, in the plain mode too */
static void
test_dir_replaces_symlink (Fixture *f, gconstpointer data)
{
  g_autofree char *err = NULL;

  g_assert_cmpint (run_helper_args (f, ENTRIES ({ T_SYMLINK, "s", "t" }, { T_DIR, "t" },
                                                { T_DIR, "s", NULL, 0700 },
                                                { T_FILE, "s/new", NULL, 0, "new" },
                                                { T_SYMLINK, "u", "/" }, { T_DIR, "u/v" }),
                                    plain_args, &err),
                   !=, 0);
  g_assert_true (g_str_has_prefix (err, "ERROR invalid-archive "));
  g_assert_nonnull (strstr (err, "symlink"));
  assert_tree (f, "s d700\ns/new f644 new\nt d755\nu l ->/\n");
}

/* owners by number, as before chown () was skipped for a new file that gets its owner anyway:
 * a directory merged with a lower one takes the new owner, a hard link leaves the file it
 * links to as it was */
static void
test_owners (Fixture *f, gconstpointer data)
{
  const struct {
    const char *name;
    uid_t uid;
  } expected[] = {
    { "d", 1002 }, { "mine", 0 }, { "theirs", 1000 }, { "theirs-link", 1000 },
    { "mine-link", 0 }, { "f", 0 }, { "h", 0 }, { "p", 0 },
  };

  apply_layer (f, ENTRIES ({ T_DIR, "d" }, { T_FILE, "f", NULL, 0, "f" }));
  apply_layer (f, ENTRIES ({ T_DIR, "d", NULL, 0, .uid = 1002 },
                           { T_FILE, "mine", NULL, 0, "m" },
                           { T_FILE, "theirs", NULL, 0, "t", .uid = 1000 },
                           { T_SYMLINK, "theirs-link", "theirs", .uid = 1000 },
                           { T_SYMLINK, "mine-link", "mine" },
                           { T_HARDLINK, "h", "f", .uid = 1001 },
                           { T_FIFO, "p" }));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autofree char *path = g_build_filename (f->rootfs, expected[i].name, NULL);
      struct stat st;

      g_assert_cmpint (lstat (path, &st), ==, 0);
      g_assert_cmpuint (st.st_uid, ==, expected[i].uid);
      g_assert_cmpuint (st.st_gid, ==, 0);
    }
}

/* --usage counts what a layer over others cannot know: refused before any input is read (so
 * no input is given, which the helper could not take without a broken pipe) */
static void
test_usage_with_whiteouts (Fixture *f, gconstpointer data)
{
  const char *argv[] = { pd_archive_get_helper_path (), "--whiteouts", "--usage", f->rootfs,
                         NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL,
                               NULL, NULL, &err, &status, &error));
  g_assert_no_error (error);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_true (g_str_has_prefix (err, "ERROR failed usage: "));
  assert_tree (f, "");
}

/* section: privileges */

/* the capabilities extraction needs: chown, writing into directories of other owners, and
 * setting modes and times on their files (see the helper) */
#define EXPECTED_CAPS ((1u << 0) | (1u << 1) | (1u << 3))

/* the hex value of the "@field:" line of /proc/@pid/status */
static guint64
read_status_caps (const char *pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", pid);
  g_autofree char *contents = NULL;
  g_autofree char *prefix = g_strdup_printf ("\n%s:", field);
  const char *line;

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  line = strstr (contents, prefix);
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (prefix), NULL, 16);
}

/* the helper holds only what extraction needs, in every set, from before it reads the archive:
 * its status is read while it waits for the rest of a layer it has started to extract */
static void
test_capabilities (Fixture *f, gconstpointer data)
{
  const PdTestEntry entries[] = { { T_DIR, "probe" }, { T_FILE, "probe/f", NULL, 0, "x" },
                                { T_END } };
  g_autoptr(GBytes) tar = build_tar (entries);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDIN_PIPE);
  g_autoptr(GSubprocess) helper = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *probe = g_build_filename (f->rootfs, "probe", NULL);
  GOutputStream *stdin_pipe;
  const char *pid;
  gint64 deadline;

  helper = g_subprocess_launcher_spawn (launcher, &error, pd_archive_get_helper_path (),
                                        "--whiteouts", f->rootfs, NULL);
  g_assert_no_error (error);
  pid = g_subprocess_get_identifier (helper);
  stdin_pipe = g_subprocess_get_stdin_pipe (helper);
  /* the directory's header only: the helper extracts it, then waits for more */
  g_assert_true (g_output_stream_write_all (stdin_pipe, g_bytes_get_data (tar, NULL), 512, NULL,
                                            NULL, &error));
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (!g_file_test (probe, G_FILE_TEST_IS_DIR))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10 * 1000);
    }

  g_assert_cmphex (read_status_caps (pid, "CapEff"), ==, EXPECTED_CAPS);
  g_assert_cmphex (read_status_caps (pid, "CapPrm"), ==, EXPECTED_CAPS);
  g_assert_cmphex (read_status_caps (pid, "CapBnd"), ==, EXPECTED_CAPS);
  g_assert_cmphex (read_status_caps (pid, "CapInh"), ==, 0);
  g_assert_cmphex (read_status_caps (pid, "CapAmb"), ==, 0);

  /* and it still extracts the rest */
  g_assert_true (g_output_stream_write_all (stdin_pipe,
                                            (const guchar *) g_bytes_get_data (tar, NULL) + 512,
                                            g_bytes_get_size (tar) - 512, NULL, NULL, &error));
  g_assert_no_error (error);
  g_output_stream_close (stdin_pipe, NULL, NULL);
  g_subprocess_wait_check (helper, NULL, &error);
  g_assert_no_error (error);
  assert_tree (f, "probe d755\nprobe/f f644 x\n");

  /* what those capabilities are for: other owners, closed modes, hard links to their files,
   * and a later layer writing into a closed directory of an earlier one */
  apply_layer (f, (const PdTestEntry[]) {
    { T_DIR, "closed", NULL, 0500, .uid = 1000 },
    { T_FILE, "closed/f", NULL, 0400, "y", .uid = 1000 },
    { T_HARDLINK, "closed/h", "closed/f", 0400, .uid = 1000 },
    { T_DIR, "none" },
    { T_END } });
  g_assert_cmpint (chmod (probe, 0), ==, 0);
  apply_layer (f, (const PdTestEntry[]) { { T_FILE, "probe/g", NULL, 0600, "z", .uid = 1000 },
                                          { T_FILE, "none/.wh.x" }, { T_END } });
  g_assert_cmpint (chmod (probe, 0755), ==, 0);
  assert_tree (f, "closed d500\nclosed/f f400 y\nclosed/h f400 y\nnone d755\n"
                  "probe d755\nprobe/f f644 x\nprobe/g f600 z\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  PD_TEST_ADD ("/extract-helper/whiteout/file", test_whiteout_file);
  PD_TEST_ADD ("/extract-helper/whiteout/dir", test_whiteout_dir);
  PD_TEST_ADD ("/extract-helper/whiteout/symlink", test_whiteout_symlink);
  PD_TEST_ADD ("/extract-helper/whiteout/missing", test_whiteout_missing);
  PD_TEST_ADD ("/extract-helper/whiteout/odd-marker", test_whiteout_odd_marker);
  PD_TEST_ADD ("/extract-helper/whiteout/same-layer", test_whiteout_same_layer);
  PD_TEST_ADD ("/extract-helper/whiteout/through-symlink", test_whiteout_through_symlink);
  PD_TEST_ADD ("/extract-helper/opaque/dir", test_opaque_dir);
  PD_TEST_ADD ("/extract-helper/opaque/root", test_opaque_root);
  PD_TEST_ADD ("/extract-helper/replace/dir-by-file", test_replace_dir_by_file);
  PD_TEST_ADD ("/extract-helper/replace/file-by-dir", test_replace_file_by_dir);
  PD_TEST_ADD ("/extract-helper/replace/dir-by-symlink", test_replace_dir_by_symlink);
  PD_TEST_ADD ("/extract-helper/replace/dir-merge", test_replace_dir_merge);
  PD_TEST_ADD ("/extract-helper/layers/three", test_three_layers);
  PD_TEST_ADD ("/extract-helper/limits/deep-tree", test_deep_tree);
  PD_TEST_ADD ("/extract-helper/limits/counts", test_limits);
  PD_TEST_ADD ("/extract-helper/no-whiteouts", test_no_whiteouts);
  PD_TEST_ADD ("/extract-helper/symlinks/known-dir-replaced", test_symlink_replaces_known_dir);
  PD_TEST_ADD ("/extract-helper/symlinks/dir-replaces-symlink", test_dir_replaces_symlink);
  PD_TEST_ADD ("/extract-helper/usage-with-whiteouts", test_usage_with_whiteouts);
  PD_TEST_ADD ("/extract-helper/owners", test_owners);
  PD_TEST_ADD ("/extract-helper/capabilities", test_capabilities);
  PD_TEST_ADD_CASES ("/extract-helper/whiteout/invalid", invalid_names, test,
                     test_whiteout_invalid);

  return g_test_run ();
}
