/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugind-extract against hostile layers, without the daemon's filter in front of it: writes
 * through a symlink (one the helper had remembered as a directory, one a lower layer left, one
 * reached by a hard link), the disk usage it counts (--usage) and the owners it leaves. Every
 * verdict is the one the helper gave when libarchive's ARCHIVE_EXTRACT_SECURE_SYMLINKS did the
 * checking, and so is every tree it writes.
 */
#define _GNU_SOURCE
#include "config.h"

#define G_LOG_DOMAIN "test-extract-attack"

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pd-archive.h"
#include "pd-error.h"
#include "pd-test-utils.h"

typedef struct {
  char *base;
  char *rootfs;   /* base/rootfs */
  char *outside;  /* base/outside: where "../outside" would lead without the chroot */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *keep = NULL;

  f->base = pd_test_make_tmp_dir ("pd-test-attack-XXXXXX");
  f->rootfs = g_build_filename (f->base, "rootfs", NULL);
  f->outside = g_build_filename (f->base, "outside", NULL);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (f->outside, 0755), ==, 0);
  keep = g_build_filename (f->outside, "keep", NULL);
  pd_test_write_file (keep, "outside");
}

/* whatever a layer did, nothing beside the rootfs changed */
static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autofree char *outside = pd_test_list_tree (f->outside);

  g_assert_cmpstr (outside, ==, "keep f644 outside\n");
  pd_test_rm_rf (f->base);
  g_free (f->base);
  g_free (f->rootfs);
  g_free (f->outside);
}

/* the helper on @entries with @args; its exit status, stdout and stderr */
static int
run (Fixture *f, const PdTestEntry *entries, const char *const *args, char **out, char **err)
{
  static const PdTestTarOptions options = { .padded = TRUE };
  g_autoptr(GBytes) tar = pd_test_build_tar (entries, &options);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) helper = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *err_path = NULL;
  g_autofree char *err_text = NULL;
  g_autofree char *out_text = NULL;
  g_autoptr(GDataInputStream) out_stream = NULL;
  int fd;

  g_ptr_array_add (argv, (char *) pd_archive_get_helper_path ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, f->rootfs);
  g_ptr_array_add (argv, NULL);
  /* stderr to a file: what a helper that refused said does not depend on how much of the
   * layer we wrote before its stdin closed */
  fd = g_file_open_tmp ("pd-attack-stderr-XXXXXX", &err_path, &error);
  g_assert_no_error (error);
  close (fd);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE
                                        | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_stderr_file_path (launcher, err_path);
  helper = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  if (!g_output_stream_write_all (g_subprocess_get_stdin_pipe (helper),
                                  g_bytes_get_data (tar, NULL), g_bytes_get_size (tar), NULL,
                                  NULL, &error))
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_clear_error (&error);
  g_output_stream_close (g_subprocess_get_stdin_pipe (helper), NULL, NULL);
  /* one short line at most, at the end */
  out_stream = g_data_input_stream_new (g_subprocess_get_stdout_pipe (helper));
  out_text = g_data_input_stream_read_upto (out_stream, "", 0, NULL, NULL, &error);
  g_assert_no_error (error);
  g_subprocess_wait (helper, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (helper));
  g_assert_true (g_file_get_contents (err_path, &err_text, NULL, NULL));
  g_unlink (err_path);
  if (out != NULL)
    *out = g_strdup (out_text != NULL ? out_text : "");
  if (err != NULL)
    *err = g_steal_pointer (&err_text);
  return g_subprocess_get_exit_status (helper);
}

static const char *const plain[] = { NULL };
static const char *const layer[] = { "--whiteouts", NULL };
static const char *const usage[] = { "--usage", NULL };

static void
applies (Fixture *f, const PdTestEntry *entries, const char *const *args)
{
  g_autofree char *err = NULL;

  g_assert_cmpint (run (f, entries, args, NULL, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
}

/* refused as an invalid archive: a write through a symlink */
static void
refused (Fixture *f, const PdTestEntry *entries, const char *const *args)
{
  g_autofree char *err = NULL;

  g_assert_cmpint (run (f, entries, args, NULL, &err), ==, 2);
  g_assert_true (g_str_has_prefix (err, "ERROR invalid-archive "));
  g_assert_nonnull (strstr (err, "symlink"));
}

static void
assert_tree (Fixture *f, const char *expected)
{
  g_autofree char *actual = pd_test_list_tree (f->rootfs);

  g_assert_cmpstr (actual, ==, expected);
}

/* section: symlinks the helper had remembered as directories */

/* the same path, later in the stream, spelt as libarchive cleans it up */
static void
test_known_dir_respelt (Fixture *f, gconstpointer data)
{
  refused (f, ENTRIES ({ T_DIR, "a" }, { T_SYMLINK, "./a", "/" }, { T_FILE, "a//x", NULL, 0, "x" }),
           plain);
  assert_tree (f, "a l ->/\n");
  pd_test_rm_rf (f->rootfs);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  refused (f, ENTRIES ({ T_DIR, "a/." }, { T_SYMLINK, "a/", "../outside" },
                       { T_FILE, "a/./x", NULL, 0, "x" }),
           plain);
  assert_tree (f, "a l ->../outside\n");
}

/* a directory, then a file in its place, then a symlink: what is below is never reached */
static void
test_dir_file_symlink (Fixture *f, gconstpointer data)
{
  refused (f, ENTRIES ({ T_DIR, "a" }, { T_DIR, "a/b" }, { T_FILE, "a/b", NULL, 0, "f" },
                       { T_SYMLINK, "a/b", ".." }, { T_DIR, "a/b/c" }),
           plain);
  assert_tree (f, "a d755\na/b l ->..\n");
}

/* symlinks to "..", "/" and an absolute directory, each with an entry below it */
static void
test_symlink_targets (Fixture *f, gconstpointer data)
{
  const char *const targets[] = { "..", "/", "/t", "../outside" };

  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autofree char *expected = g_strdup_printf ("s l ->%s\nt d755\n", targets[i]);

      refused (f, ENTRIES ({ T_DIR, "t" }, { T_SYMLINK, "s", targets[i] },
                           { T_FILE, "s/keep", NULL, 0, "x" }),
               plain);
      assert_tree (f, expected);
      pd_test_rm_rf (f->rootfs);
      g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
    }
}

/* hard links: a target reached through a symlink, and a link to a symlink used as a directory */
static void
test_hard_links (Fixture *f, gconstpointer data)
{
  refused (f, ENTRIES ({ T_DIR, "t" }, { T_FILE, "t/f", NULL, 0, "f" }, { T_SYMLINK, "s", "t" },
                       { T_HARDLINK, "h", "s/f" }),
           plain);
  assert_tree (f, "s l ->t\nt d755\nt/f f644 f\n");
  pd_test_rm_rf (f->rootfs);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  refused (f, ENTRIES ({ T_DIR, "t" }, { T_SYMLINK, "s", "t" }, { T_HARDLINK, "h", "s" },
                       { T_FILE, "h/x", NULL, 0, "x" }),
           plain);
  assert_tree (f, "h l ->t\ns l ->t\nt d755\n");
}

/* libarchive skips a hard link to itself with a warning and writes nothing, not even its
 * parents: they must not be taken for directories checked, or a symlink later put in the place
 * of one is written through */
static void
test_hard_link_to_itself (Fixture *f, gconstpointer data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  refused (f, ENTRIES ({ T_DIR, "t" }, { T_HARDLINK, "a/b/c", "a/b/c" }, { T_SYMLINK, "a", "t" },
                       { T_FILE, "a/b/x", NULL, 0, "through" }),
           plain);
  assert_tree (f, "a l ->t\nt d755\n");
  pd_test_rm_rf (f->rootfs);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  refused (f, ENTRIES ({ T_DIR, "t" }, { T_HARDLINK, "a/b/c", "a/b/c" }, { T_SYMLINK, "a", "t" },
                       { T_DIR, "a/b/y" }),
           plain);
  assert_tree (f, "a l ->t\nt d755\n");
  pd_test_rm_rf (f->rootfs);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  /* what gets past the daemon: its filter knows only the symlinks of the layer it reads, and
   * the hard link to a lower layer's symlink makes another */
  applies (f, ENTRIES ({ T_DIR, "t" }, { T_SYMLINK, "s", "t" }), plain);
  refused (f, ENTRIES ({ T_HARDLINK, "a/b/c", "a/b/c" }, { T_HARDLINK, "a", "s" },
                       { T_FILE, "a/b/x", NULL, 0, "through" }),
           layer);
  assert_tree (f, "a l ->t\ns l ->t\nt d755\n");
  pd_test_rm_rf (f->rootfs);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  /* after such a warning --usage leaves the count to the daemon */
  g_assert_cmpint (run (f, ENTRIES ({ T_FILE, "f", NULL, 0, "f" }, { T_HARDLINK, "f", "f" }),
                        usage, &out, &err),
                   ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpstr (out, ==, "");
  assert_tree (f, "f f644 f\n");
}

typedef struct {
  GBytes *data;
  gsize offset;
} Reader;

static gssize
read_bytes (void *buffer, gsize count, gpointer user_data, GCancellable *cancellable,
            GError **error)
{
  Reader *reader = user_data;
  gsize size = 0;
  const guchar *data = g_bytes_get_data (reader->data, &size);
  gsize n = MIN (count, size - reader->offset);

  memcpy (buffer, data + reader->offset, n);
  reader->offset += n;
  return (gssize) n;
}

/* @entries as a layer of a pull: through the daemon's filter, onto f->base/rootfs */
static gboolean
pull_layer (Fixture *f, const PdTestEntry *entries, GError **error)
{
  static const PdTestTarOptions options = { .filter = FILTER_GZIP };
  g_autofree char *diff_id = NULL;
  g_autoptr(GBytes) bytes = pd_test_build_layer (entries, &options, &diff_id);
  Reader reader = { bytes, 0 };

  return pd_archive_apply_layer (read_bytes, &reader, diff_id, f->base,
                                 pd_archive_get_helper_path (), NULL, NULL, NULL, error);
}

/* the same two layers pulled: the daemon's filter passes the second one */
static void
test_hard_link_to_itself_pulled (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (pull_layer (f, ENTRIES ({ T_DIR, "t" }, { T_SYMLINK, "s", "t" }), &error));
  g_assert_no_error (error);
  g_assert_false (pull_layer (f, ENTRIES ({ T_HARDLINK, "a/b/c", "a/b/c" }, { T_HARDLINK, "a", "s" },
                                          { T_FILE, "a/b/x", NULL, 0, "through" }),
                              &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE);
  g_assert_nonnull (strstr (error->message, "symlink"));
  assert_tree (f, "a l ->t\ns l ->t\nt d755\n");
}

/* section: layers over others (--whiteouts) */

/* a whiteout, an opaque directory or a hard link to a lower symlink puts a symlink where the
 * helper had seen a directory */
static void
test_layers (Fixture *f, gconstpointer data)
{
  applies (f, ENTRIES ({ T_DIR, "a" }, { T_DIR, "b" }, { T_DIR, "b/c" }, { T_DIR, "t" },
                       { T_SYMLINK, "s", "t" }),
           layer);
  refused (f, ENTRIES ({ T_DIR, "a" }, { T_FILE, "a/f", NULL, 0, "f" }, { T_FILE, ".wh.a" },
                       { T_SYMLINK, "a", "t" }, { T_FILE, "a/x", NULL, 0, "x" }),
           layer);
  refused (f, ENTRIES ({ T_DIR, "b" }, { T_FILE, "b/.wh..wh..opq" }, { T_SYMLINK, "b/c", "/t" },
                       { T_FILE, "b/c/x", NULL, 0, "x" }),
           layer);
  refused (f, ENTRIES ({ T_DIR, "t/d" }, { T_DIR, "d" }, { T_HARDLINK, "d", "s" },
                       { T_FILE, "d/x", NULL, 0, "x" }),
           layer);
  assert_tree (f, "a l ->t\nb d755\nb/c l ->/t\nd l ->t\ns l ->t\nt d755\nt/d d755\n");
}

/* a directory this layer made, with a mode libarchive sets only at the end, is replaced with
 * its parent by a symlink: the late chmod () stays inside the rootfs */
static void
test_late_fixup (Fixture *f, gconstpointer data)
{
  applies (f, ENTRIES ({ T_DIR, "t" }), layer);
  applies (f, ENTRIES ({ T_DIR, "a" }, { T_DIR, "a/b", NULL, 0700 },
                       { T_SYMLINK, "a", "../outside" }),
           layer);
  assert_tree (f, "a l ->../outside\nt d755\n");
}

/* section: long and deep names */

static void
test_long_names (Fixture *f, gconstpointer data)
{
  g_autoptr(GString) deep = g_string_new (NULL);
  g_autoptr(GString) wide = g_string_new (NULL);
  g_autofree char *component = g_strnfill (200, 'x');
  g_autofree char *below = NULL;
  g_autofree char *link = NULL;
  g_autofree char *through = NULL;
  g_autofree char *path = NULL;
  struct stat st;

  for (guint i = 0; i < 127; i++)
    g_string_append_printf (deep, "%s%u", i > 0 ? "/" : "", i % 10);
  while (wide->len + 201 < 4000)
    g_string_append_printf (wide, "%s%s", wide->len > 0 ? "/" : "", component);
  below = g_strconcat (wide->str, "/f", NULL);
  link = g_strconcat (deep->str, "/l", NULL);
  applies (f, ENTRIES ({ T_FILE, below, NULL, 0, "w" }, { T_SYMLINK, link, "/" }), plain);
  through = g_strconcat (link, "/x", NULL);
  refused (f, ENTRIES ({ T_FILE, through, NULL, 0, "x" }), plain);
  /* the rootfs's name and these stay within PATH_MAX */
  path = g_build_filename (f->rootfs, below, NULL);
  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_true (S_ISREG (st.st_mode));
  g_free (path);
  path = g_build_filename (f->rootfs, link, NULL);
  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_true (S_ISLNK (st.st_mode));
  g_free (path);
  path = g_build_filename (f->rootfs, "x", NULL);
  g_assert_false (pd_test_path_exists (path));
}

/* section: --usage */

/* the bytes du -s -B1 gives for the rootfs */
static guint64
du (Fixture *f)
{
  const char *argv[] = { "du", "-s", "-B1", f->rootfs, NULL };
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_ascii_strtoull (out, NULL, 10);
}

/* hard links counted once, replaced files, a long symlink target, a directory with many names,
 * a FIFO, an entry repeated under other spellings: the helper's count is du's */
static void
test_usage (Fixture *f, gconstpointer data)
{
  g_autofree char *long_target = g_strnfill (300, 't');
  g_autoptr(GArray) entries = g_array_new (TRUE, TRUE, sizeof (PdTestEntry));
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const PdTestEntry fixed[] = {
    { T_DIR, "d" },
    { T_FILE, "d/big", NULL, 0, NULL, 100000 },
    { T_HARDLINK, "d/big2", "d/big" },
    { T_HARDLINK, "./d//big3", "d/big" },
    { T_FILE, "r", NULL, 0, NULL, 50000 },
    { T_FILE, "r", NULL, 0, "small" },
    { T_FILE, "x/y/z", NULL, 0, NULL, 9000 },
    { T_DIR, "e" },
    { T_FILE, "e", NULL, 0, NULL, 5000 },
    { T_SYMLINK, "long", long_target },
    { T_FIFO, "p" },
    { T_FILE, "d/big", NULL, 0, NULL, 20000 },
  };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *expected = NULL;

  g_array_append_vals (entries, fixed, G_N_ELEMENTS (fixed));
  for (guint i = 0; i < 400; i++)
    {
      char *name = g_strdup_printf ("many/%0200u", i);
      PdTestEntry entry = { T_FILE, name, NULL, 0, "" };

      g_ptr_array_add (names, name);
      g_array_append_val (entries, entry);
    }
  g_assert_cmpint (run (f, (const PdTestEntry *) entries->data, usage, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  expected = g_strdup_printf ("USAGE %" G_GUINT64_FORMAT "\n", du (f));
  g_assert_cmpstr (out, ==, expected);
}

/* names deep, long and all different (each entry 127 new directories of 31 bytes, 4 KB in
 * all): what the helper remembers of them would grow with the square of their depth; past its
 * bound it forgets, and leaves the count to the daemon */
static void
test_usage_bounded (Fixture *f, gconstpointer data)
{
  g_autofree char *component = g_strnfill (30, 'c');
  g_autoptr(GArray) entries = g_array_new (TRUE, TRUE, sizeof (PdTestEntry));
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *path = NULL;

  for (guint i = 0; i < 24; i++)
    {
      GString *name = g_string_new (NULL);
      PdTestEntry entry = { T_FILE, NULL, NULL, 0, "deep" };

      g_string_append_printf (name, "%02u", i);
      for (guint j = 0; j < 126; j++)
        g_string_append_printf (name, "/%s", component);
      g_string_append (name, "/f");
      entry.name = name->str;
      g_ptr_array_add (names, g_string_free (name, FALSE));
      g_array_append_val (entries, entry);
    }
  g_assert_cmpint (run (f, (const PdTestEntry *) entries->data, usage, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpstr (out, ==, "");
  path = g_build_filename (f->rootfs, "23", component, component, NULL);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_DIR));
}

/* section: owners */

static void
assert_root_owned (const char *rootfs, const char *name)
{
  g_autofree char *path = g_build_filename (rootfs, name, NULL);
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 0);
  g_assert_cmpuint (st.st_gid, ==, 0);
}

/* a file, symlink or FIFO whose owner is the helper's own replaces one of another owner: it
 * ends up with the entry's owner */
static void
test_owners_replaced (Fixture *f, gconstpointer data)
{
  const char *const names[] = { "f", "s", "p", "d/f" };

  applies (f, ENTRIES ({ T_FILE, "f", NULL, 0, "1", .uid = 1000 },
                       { T_SYMLINK, "s", "f", .uid = 1000 }, { T_FIFO, "p", .uid = 1000 },
                       { T_DIR, "d", NULL, 0775, .uid = 1000 },
                       { T_FILE, "d/f", NULL, 0, "1", .uid = 1000 }),
           plain);
  applies (f, ENTRIES ({ T_FILE, "f", NULL, 0, "0" }, { T_SYMLINK, "s", "f" }, { T_FIFO, "p" },
                       { T_FILE, "d/f", NULL, 0, "0" }),
           layer);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    assert_root_owned (f->rootfs, names[i]);
}

/* a staging dir that inherited the setgid bit of its parent (a choice of the host, not of a
 * layer): what libarchive makes in it takes its group, so chown () is not skipped */
static void
test_owners_setgid_rootfs (Fixture *f, gconstpointer data)
{
  const char *const names[] = { "f", "s", "p", "x/y" };

  g_assert_cmpint (chown (f->rootfs, 0, 1234), ==, 0);
  g_assert_cmpint (chmod (f->rootfs, 02755), ==, 0);
  applies (f, ENTRIES ({ T_FILE, "f", NULL, 0, "f" }, { T_SYMLINK, "s", "f" }, { T_FIFO, "p" },
                       { T_FILE, "x/y", NULL, 0, "y" }),
           plain);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    assert_root_owned (f->rootfs, names[i]);
}

/* a rootfs on a file system mounted with grpid, where new files take their directory's group:
 * a (lower layer's) directory of another group must not give its group to the root-owned files
 * made in it, so chown () is not skipped there either. The ext4 image is mounted in a mount
 * namespace of the test's own subprocess, which takes the mount with it however it ends. */
static void
test_owners_grpid_subprocess (void)
{
  Fixture fixture = { NULL };
  Fixture *f = &fixture;
  const char *base = g_getenv ("PD_TEST_GRPID_DIR");
  g_autofree char *image = g_build_filename (base, "ext4.img", NULL);
  g_autoptr(GError) error = NULL;
  int status = -1;

  f->base = g_strdup (base);
  f->rootfs = g_build_filename (base, "rootfs", NULL);
  f->outside = g_build_filename (base, "outside", NULL);
  g_assert_cmpint (unshare (CLONE_NEWNS), ==, 0);
  g_assert_cmpint (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), ==, 0);
  g_assert_true (g_spawn_sync (NULL, (char *[]) { "mkfs.ext4", "-q", image, "8M", NULL }, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  g_assert_true (g_spawn_sync (NULL, (char *[]) { "mount", "-o", "loop,grpid", image, f->rootfs,
                                                  NULL },
                               NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status,
                               &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  /* as a lower layer's directory of another group would be */
  g_assert_cmpint (chown (f->rootfs, 0, 1234), ==, 0);
  applies (f, ENTRIES ({ T_FILE, "f", NULL, 0, "f" }), plain);
  assert_root_owned (f->rootfs, "f");
  g_free (f->base);
  g_free (f->rootfs);
  g_free (f->outside);
}

static void
test_owners_grpid (void)
{
  g_autofree char *base = pd_test_make_tmp_dir ("pd-test-attack-XXXXXX");
  g_autofree char *rootfs = g_build_filename (base, "rootfs", NULL);
  g_autofree char *outside = g_build_filename (base, "outside", NULL);

  g_assert_cmpint (g_mkdir (rootfs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (outside, 0755), ==, 0);
  g_setenv ("PD_TEST_GRPID_DIR", base, TRUE);
  /* not pd_test_trap_root_subprocess (): the dir is removed before the verdict is asserted */
  g_test_trap_subprocess ("/extract-attack/owners/grpid/subprocess", 60 * G_USEC_PER_SEC,
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  pd_test_rm_rf (base);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* a helper that refuses a layer stops reading it: our write fails, it must not kill us */
  signal (SIGPIPE, SIG_IGN);

  PD_TEST_ADD ("/extract-attack/known-dir/respelt", test_known_dir_respelt);
  PD_TEST_ADD ("/extract-attack/known-dir/dir-file-symlink", test_dir_file_symlink);
  PD_TEST_ADD ("/extract-attack/symlink-targets", test_symlink_targets);
  PD_TEST_ADD ("/extract-attack/hard-links", test_hard_links);
  PD_TEST_ADD ("/extract-attack/hard-link-to-itself", test_hard_link_to_itself);
  PD_TEST_ADD ("/extract-attack/hard-link-to-itself/pulled", test_hard_link_to_itself_pulled);
  PD_TEST_ADD ("/extract-attack/layers", test_layers);
  PD_TEST_ADD ("/extract-attack/layers/late-fixup", test_late_fixup);
  PD_TEST_ADD ("/extract-attack/long-names", test_long_names);
  PD_TEST_ADD ("/extract-attack/usage", test_usage);
  PD_TEST_ADD ("/extract-attack/usage/bounded", test_usage_bounded);
  PD_TEST_ADD ("/extract-attack/owners/replaced", test_owners_replaced);
  PD_TEST_ADD ("/extract-attack/owners/setgid-rootfs", test_owners_setgid_rootfs);
  g_test_add_func ("/extract-attack/owners/grpid", test_owners_grpid);
  g_test_add_func ("/extract-attack/owners/grpid/subprocess", test_owners_grpid_subprocess);

  return g_test_run ();
}
