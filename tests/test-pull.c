/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pulling, without a network: registry layers applied by pd_archive_apply_layer () through the
 * confined helper (compressions, diff_ids, whiteouts across layers, unsafe entries, limits,
 * cancellation, the read function's errors), and the pieces an upgrade is made of:
 * pd_plugin_settings_merge (), plugind.conf, pd_store_commit_upgrade (),
 * pd_store_pin_existing_blob () and the upgraded record. Layers are built in memory with
 * libarchive's writer.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-pull"

/* nftw () */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pd-archive.h"
#include "pd-daemon-config.h"
#include "pd-digest.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-plugin-config.h"
#include "pd-plugin-record.h"
#include "pd-pull.h"
#include "pd-store.h"

typedef struct archive TestArchive;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestArchive, archive_free)
typedef struct archive_entry TestArchiveEntry;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestArchiveEntry, archive_entry_free)

#define TEST_MTIME 1700000000
#define DIGEST_WRONG "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define ESCAPE_NAME "pd-escape-test-pull"

/* the message of @error, "" without one: assertions do not abort here (see main ()), so a test
 * goes on after a failed g_assert_error () */
static const char *
message_of (const GError *error)
{
  return error != NULL ? error->message : "";
}

/* section: building layers */

typedef enum {
  T_END = 0,
  T_FILE,
  T_DIR,
  T_SYMLINK,
  T_HARDLINK,
  T_CHR,
  T_BLK,
  T_FIFO,
} TestType;

typedef enum {
  FILTER_NONE,
  FILTER_GZIP,
  FILTER_XZ,
  FILTER_ZSTD,
} TestFilter;

typedef struct {
  TestType type;
  const char *name;
  const char *target;   /* symlink or hard-link target */
  guint mode;           /* 0: 0755 for dirs, 0644 otherwise */
  const char *data;     /* file content; NULL with @size: that many 'z' bytes */
  gsize size;
  gboolean random;      /* with @size: pseudo-random bytes that do not compress */
} TestEntry;

static la_ssize_t
append_cb (struct archive *a, void *user_data, const void *buffer, size_t length)
{
  g_byte_array_append (user_data, buffer, (guint) length);
  return (la_ssize_t) length;
}

static void
add_filter (struct archive *a, TestFilter filter)
{
  int r = ARCHIVE_OK;

  switch (filter)
    {
    case FILTER_NONE:
      break;
    case FILTER_GZIP:
      r = archive_write_add_filter_gzip (a);
      break;
    case FILTER_XZ:
      r = archive_write_add_filter_xz (a);
      break;
    case FILTER_ZSTD:
      r = archive_write_add_filter_zstd (a);
      break;
    default:
      g_assert_not_reached ();
    }
  g_assert_cmpint (r, ==, ARCHIVE_OK);
}

/* an uncompressed tar; @padded: libarchive's default 10240-byte blocks (what tar(1) writes),
 * else it ends right after the two end-of-archive blocks */
static GBytes *
build_tar (const TestEntry *entries, gboolean padded)
{
  g_autoptr(TestArchive) a = archive_write_new ();
  GByteArray *out = g_byte_array_new ();
  g_autofree char *filler = g_malloc (65536);
  g_autofree char *noise = g_malloc (65536);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);

  memset (filler, 'z', 65536);
  for (gsize i = 0; i < 65536; i++)
    noise[i] = (char) g_rand_int_range (rand, 0, 256);
  g_assert_nonnull (a);
  g_assert_cmpint (archive_write_set_format_pax_restricted (a), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_set_format_option (a, "pax", "hdrcharset", "BINARY"), ==,
                   ARCHIVE_OK);
  if (!padded)
    g_assert_cmpint (archive_write_set_bytes_in_last_block (a, 1), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open (a, out, NULL, append_cb, NULL), ==, ARCHIVE_OK);

  for (const TestEntry *e = entries; e->type != T_END; e++)
    {
      g_autoptr(TestArchiveEntry) entry = archive_entry_new ();
      gsize size = e->data != NULL ? strlen (e->data) : e->size;

      archive_entry_set_pathname (entry, e->name);
      archive_entry_set_mtime (entry, TEST_MTIME, 0);
      archive_entry_set_uid (entry, 0);
      archive_entry_set_gid (entry, 0);
      switch (e->type)
        {
        case T_FILE:
          archive_entry_set_filetype (entry, AE_IFREG);
          archive_entry_set_size (entry, (la_int64_t) size);
          break;
        case T_DIR:
          archive_entry_set_filetype (entry, AE_IFDIR);
          break;
        case T_SYMLINK:
          archive_entry_set_filetype (entry, AE_IFLNK);
          archive_entry_set_symlink (entry, e->target);
          break;
        case T_HARDLINK:
          archive_entry_set_filetype (entry, AE_IFREG);
          archive_entry_set_hardlink (entry, e->target);
          break;
        case T_CHR:
          archive_entry_set_filetype (entry, AE_IFCHR);
          archive_entry_set_rdevmajor (entry, 1);
          archive_entry_set_rdevminor (entry, 3);
          break;
        case T_BLK:
          archive_entry_set_filetype (entry, AE_IFBLK);
          archive_entry_set_rdevmajor (entry, 7);
          archive_entry_set_rdevminor (entry, 0);
          break;
        case T_FIFO:
          archive_entry_set_filetype (entry, AE_IFIFO);
          break;
        case T_END:
        default:
          g_assert_not_reached ();
        }
      archive_entry_set_perm (entry, e->mode != 0 ? e->mode
                                                  : (e->type == T_DIR ? 0755 : 0644));
      g_assert_cmpint (archive_write_header (a, entry), ==, ARCHIVE_OK);
      if (e->type == T_FILE && e->data != NULL)
        g_assert_cmpint (archive_write_data (a, e->data, size), ==, (la_ssize_t) size);
      else if (e->type == T_FILE)
        for (gsize done = 0; done < size;)
          {
            gsize chunk = MIN (size - done, 65536);
            g_assert_cmpint (archive_write_data (a, e->random ? noise : filler, chunk), ==,
                             (la_ssize_t) chunk);
            done += chunk;
          }
    }
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  return g_byte_array_free_to_bytes (out);
}

/* any bytes compressed as one stream (libarchive's "raw" format writes just the data) */
static GBytes *
compress_bytes (GBytes *plain, TestFilter filter)
{
  g_autoptr(TestArchive) a = NULL;
  g_autoptr(TestArchiveEntry) entry = NULL;
  GByteArray *out;
  gsize len;
  const void *data = g_bytes_get_data (plain, &len);

  if (filter == FILTER_NONE)
    return g_bytes_ref (plain);
  a = archive_write_new ();
  out = g_byte_array_new ();
  g_assert_cmpint (archive_write_set_format_raw (a), ==, ARCHIVE_OK);
  add_filter (a, filter);
  /* no zero padding after the compressed stream */
  g_assert_cmpint (archive_write_set_bytes_in_last_block (a, 1), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open (a, out, NULL, append_cb, NULL), ==, ARCHIVE_OK);
  entry = archive_entry_new ();
  archive_entry_set_pathname (entry, "layer");
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_size (entry, (la_int64_t) len);
  g_assert_cmpint (archive_write_header (a, entry), ==, ARCHIVE_OK);
  if (len > 0)
    g_assert_cmpint (archive_write_data (a, data, len), ==, (la_ssize_t) len);
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
build_layer (const TestEntry *entries, TestFilter filter, char **diff_id)
{
  g_autoptr(GBytes) plain = build_tar (entries, FALSE);

  if (diff_id != NULL)
    *diff_id = pd_sha256_digest_bytes (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));
  return compress_bytes (plain, filter);
}

static GBytes *
concat_zeros (GBytes *bytes, gsize n_zeros)
{
  GByteArray *out = g_byte_array_new ();
  g_autofree guint8 *zeros = g_malloc0 (n_zeros);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  g_byte_array_append (out, data, (guint) len);
  g_byte_array_append (out, zeros, (guint) n_zeros);
  return g_byte_array_free_to_bytes (out);
}

static char *
digest_of (GBytes *bytes)
{
  return pd_sha256_digest_bytes (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* section: reading a layer from memory */

typedef struct {
  GBytes *data;
  gsize offset;
  gsize chunk;              /* at most this many bytes per read (0 = what is asked) */
  const GError *fail_with;  /* returned (copied) by the first read at or after fail_at */
  gsize fail_at;
  GCancellable *cancel;     /* cancelled by the first read at or after cancel_at */
  gsize cancel_at;
  guint n_reads;
  gboolean failed;
} MemReader;

static gssize
mem_read (void *buffer, gsize count, gpointer user_data, GCancellable *cancellable,
          GError **error)
{
  MemReader *r = user_data;
  gsize len;
  const guchar *data = g_bytes_get_data (r->data, &len);
  gsize n;

  r->n_reads++;
  if (r->fail_with != NULL && r->offset >= r->fail_at)
    {
      r->failed = TRUE;
      g_propagate_error (error, g_error_copy (r->fail_with));
      return -1;
    }
  if (r->cancel != NULL && r->offset >= r->cancel_at)
    g_cancellable_cancel (r->cancel);
  n = MIN (count, len - r->offset);
  if (r->chunk > 0)
    n = MIN (n, r->chunk);
  if (n > 0)
    memcpy (buffer, data + r->offset, n);
  r->offset += n;
  return (gssize) n;
}

/* section: looking at trees */

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

/* "path d755", "path f644 content" (or "<N bytes>" past 64), "path l ->target", "path ?",
 * depth first in name order */
static void
list_tree_rec (GString *out, const char *root, const char *rel)
{
  g_autofree char *path = *rel != '\0' ? g_build_filename (root, rel, NULL) : g_strdup (root);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      const char *child = names->pdata[i];
      g_autofree char *child_rel = *rel != '\0' ? g_build_filename (rel, child, NULL)
                                                : g_strdup (child);
      g_autofree char *child_path = g_build_filename (root, child_rel, NULL);
      struct stat st;

      g_assert_cmpint (lstat (child_path, &st), ==, 0);
      if (S_ISDIR (st.st_mode))
        {
          g_string_append_printf (out, "%s d%o\n", child_rel, (guint) (st.st_mode & 07777));
          list_tree_rec (out, root, child_rel);
        }
      else if (S_ISREG (st.st_mode))
        {
          g_autofree char *contents = NULL;
          gsize len = 0;

          g_assert_true (g_file_get_contents (child_path, &contents, &len, NULL));
          if (len <= 64)
            g_string_append_printf (out, "%s f%o %s\n", child_rel, (guint) (st.st_mode & 07777),
                                    contents);
          else
            g_string_append_printf (out, "%s f%o <%" G_GSIZE_FORMAT " bytes>\n", child_rel,
                                    (guint) (st.st_mode & 07777), len);
        }
      else if (S_ISLNK (st.st_mode))
        {
          g_autofree char *target = g_file_read_link (child_path, NULL);

          g_string_append_printf (out, "%s l ->%s\n", child_rel, target);
        }
      else
        {
          g_string_append_printf (out, "%s ?%o\n", child_rel, (guint) st.st_mode);
        }
    }
}

static char *
list_tree (const char *root)
{
  g_autoptr(GString) out = g_string_new (NULL);

  list_tree_rec (out, root, "");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* children of this process, from /proc: a helper must never outlive an apply */
static guint
count_children (void)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;
  pid_t self = getpid ();

  g_assert_nonnull (proc);
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *contents = NULL;
      const char *close_paren;
      int ppid = 0;

      if (!g_ascii_isdigit (*name))
        continue;
      path = g_strdup_printf ("/proc/%s/stat", name);
      if (!g_file_get_contents (path, &contents, NULL, NULL))
        continue;
      close_paren = strrchr (contents, ')');
      if (close_paren != NULL && sscanf (close_paren + 2, "%*c %d", &ppid) == 1 && ppid == self)
        n++;
    }
  return n;
}

/* section: the layer fixture */

typedef struct {
  char *dir;      /* the staging dir */
  char *rootfs;   /* dir/rootfs */
  char *outside;  /* a sibling of the staging dir that no layer may touch */
  char *base;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *keep = NULL;

  f->base = g_dir_make_tmp ("test-pull-XXXXXX", &error);
  g_assert_no_error (error);
  f->dir = g_build_filename (f->base, "staging", NULL);
  f->rootfs = g_build_filename (f->dir, "rootfs", NULL);
  f->outside = g_build_filename (f->base, "outside", NULL);
  g_assert_cmpint (g_mkdir (f->dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (f->outside, 0755), ==, 0);
  keep = g_build_filename (f->outside, "keep", NULL);
  g_assert_true (g_file_set_contents (keep, "keep", -1, NULL));
}

static void
assert_contained (Fixture *f)
{
  g_autofree char *outside = list_tree (f->outside);
  g_autofree char *staging = NULL;
  g_autofree char *tmp_escape = g_build_filename (g_get_tmp_dir (), ESCAPE_NAME, NULL);
  g_autoptr(GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;

  g_assert_cmpstr (outside, ==, "keep f644 keep\n");
  /* the staging dir holds rootfs/ at most */
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_assert_cmpstr (name, ==, "rootfs");
  g_assert_false (g_file_test (tmp_escape, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test ("/etc/" ESCAPE_NAME, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_children (), ==, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  assert_contained (f);
  pd_rm_rf_at (AT_FDCWD, f->base, &error);
  g_assert_no_error (error);
  g_free (f->base);
  g_free (f->dir);
  g_free (f->rootfs);
  g_free (f->outside);
}

static gboolean
apply_full (Fixture *f, MemReader *reader, const char *diff_id, const PdArchiveLimits *limits,
            guint64 *size, GCancellable *cancellable, GError **error)
{
  return pd_archive_apply_layer (mem_read, reader, diff_id, f->dir, pd_archive_get_helper_path (),
                                 limits, size, cancellable, error);
}

/* applies @layer in 4 KiB reads; TRUE or FALSE with @error */
static gboolean
apply (Fixture *f, GBytes *layer, const char *diff_id, const PdArchiveLimits *limits,
       guint64 *size, GError **error)
{
  MemReader reader = { .data = layer, .chunk = 4096 };
  gboolean ok = apply_full (f, &reader, diff_id, limits, size, NULL, error);

  if (ok)
    g_assert_cmpuint (reader.offset, ==, g_bytes_get_size (layer));
  return ok;
}

static void
apply_ok (Fixture *f, const TestEntry *entries, TestFilter filter)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *diff_id = NULL;
  g_autoptr(GBytes) layer = build_layer (entries, filter, &diff_id);

  g_assert_true (apply (f, layer, diff_id, NULL, NULL, &error));
  g_assert_no_error (error);
}

static void
assert_tree (Fixture *f, const char *expected)
{
  g_autofree char *actual = list_tree (f->rootfs);

  g_assert_cmpstr (actual, ==, expected);
}

/* section: one layer */

static const TestEntry good_layer[] = {
  { T_DIR, "bin" },
  { T_FILE, "bin/tool", NULL, 0755, "#!tool" },
  /* setuid and setgid are stripped, and so is the sticky bit */
  { T_FILE, "bin/suid", NULL, 04755, "S" },
  { T_FILE, "bin/sgid", NULL, 02711, "G" },
  { T_DIR, "tmp", NULL, 01777 },
  { T_DIR, "shared", NULL, 02775 },
  { T_DIR, "etc" },
  { T_FILE, "etc/conf", NULL, 0640, "conf" },
  { T_HARDLINK, "etc/conf-link", "etc/conf" },
  { T_SYMLINK, "tool", "bin/tool" },
  { T_SYMLINK, "abs", "/etc/passwd" },
  /* device nodes and fifos are dropped; their directory stays */
  { T_DIR, "dev" },
  { T_CHR, "dev/null" },
  { T_BLK, "dev/loop0" },
  { T_FIFO, "dev/fifo" },
  { T_END },
};

#define GOOD_TREE \
  "abs l ->/etc/passwd\n" \
  "bin d755\n" \
  "bin/sgid f711 G\n" \
  "bin/suid f755 S\n" \
  "bin/tool f755 #!tool\n" \
  "dev d755\n" \
  "etc d755\n" \
  "etc/conf f640 conf\n" \
  "etc/conf-link f640 conf\n" \
  "shared d775\n" \
  "tmp d777\n" \
  "tool l ->bin/tool\n"

static void
test_layer_good (Fixture *f, gconstpointer data)
{
  TestFilter filter = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) plain = build_tar (good_layer, FALSE);
  g_autoptr(GBytes) layer = compress_bytes (plain, filter);
  g_autofree char *diff_id = digest_of (plain);
  g_autofree char *conf = g_build_filename (f->rootfs, "etc", "conf", NULL);
  g_autofree char *conf_link = g_build_filename (f->rootfs, "etc", "conf-link", NULL);
  guint64 size = 0;
  struct stat st1, st2;

  if (filter != FILTER_NONE)
    g_assert_true (g_bytes_compare (layer, plain) != 0);
  g_assert_true (apply (f, layer, diff_id, NULL, &size, &error));
  g_assert_no_error (error);
  assert_tree (f, GOOD_TREE);
  /* the uncompressed size, whatever the compression */
  g_assert_cmpuint (size, ==, g_bytes_get_size (plain));
  /* a hard link, not a copy */
  g_assert_cmpint (lstat (conf, &st1), ==, 0);
  g_assert_cmpint (lstat (conf_link, &st2), ==, 0);
  g_assert_cmpuint (st1.st_ino, ==, st2.st_ino);
  g_assert_cmpuint (st1.st_nlink, ==, 2);
}

/* a layer read in one go, or one byte at a time, gives the same tree */
static void
test_layer_read_sizes (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *diff_id = NULL;
  g_autoptr(GBytes) layer = build_layer (good_layer, FILTER_GZIP, &diff_id);
  MemReader whole = { .data = layer };
  MemReader bytes = { .data = layer, .chunk = 1 };

  g_assert_true (apply_full (f, &whole, diff_id, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_tree (f, GOOD_TREE);
  g_assert_true (apply_full (f, &bytes, diff_id, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_tree (f, GOOD_TREE);
  g_assert_cmpuint (bytes.n_reads, >, g_bytes_get_size (layer));
}

static void
test_layer_diff_id (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *diff_id = NULL;
  g_autoptr(GBytes) layer = build_layer (good_layer, FILTER_GZIP, &diff_id);
  g_autofree char *compressed_digest = digest_of (layer);
  guint64 size = 0;

  /* the digest of the compressed blob is not the diff_id */
  g_assert_false (apply (f, layer, compressed_digest, NULL, &size, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (message_of (error), diff_id));
  g_assert_nonnull (strstr (message_of (error), compressed_digest));
  g_clear_error (&error);

  g_assert_false (apply (f, layer, DIGEST_WRONG, NULL, NULL, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_clear_error (&error);

  /* NULL: not checked */
  g_assert_true (apply (f, layer, NULL, NULL, &size, &error));
  g_assert_no_error (error);
  assert_tree (f, GOOD_TREE);
}

/* the diff_id covers every byte of the uncompressed stream, including the zeros tar(1) pads
 * its last block with and anything after the end-of-archive blocks */
static void
test_layer_padding (Fixture *f, gconstpointer data)
{
  TestFilter filter = GPOINTER_TO_INT (data);
  static const TestEntry entries[] = {
    { T_FILE, "file", NULL, 0, "padded" },
    { T_END },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) tight = build_tar (entries, FALSE);
  g_autoptr(GBytes) blocked = build_tar (entries, TRUE);
  /* and then some, not even a multiple of 512 */
  g_autoptr(GBytes) padded = concat_zeros (blocked, 3000);
  gsize tight_len = g_bytes_get_size (tight);
  g_autoptr(GBytes) layer = compress_bytes (padded, filter);
  g_autofree char *tight_digest = digest_of (tight);
  g_autofree char *blocked_digest = digest_of (blocked);
  g_autofree char *padded_digest = digest_of (padded);
  guint64 size = 0;

  /* the same tar, three lengths */
  g_assert_cmpuint (tight_len % 512, ==, 0);
  g_assert_cmpuint (tight_len, <, 10240);
  g_assert_cmpuint (g_bytes_get_size (blocked), ==, 10240);
  g_assert_cmpmem (g_bytes_get_data (tight, NULL), tight_len, g_bytes_get_data (padded, NULL),
                   tight_len);

  g_assert_false (apply (f, layer, tight_digest, NULL, NULL, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (message_of (error), padded_digest));
  g_clear_error (&error);
  g_assert_false (apply (f, layer, blocked_digest, NULL, NULL, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_clear_error (&error);

  g_assert_true (apply (f, layer, padded_digest, NULL, &size, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (size, ==, 10240 + 3000);
  assert_tree (f, "file f644 padded\n");
}

/* a layer without entries (1024 zero bytes) still makes the rootfs */
static void
test_layer_empty (Fixture *f, gconstpointer data)
{
  static const TestEntry entries[] = { { T_END } };
  g_autoptr(GError) error = NULL;
  g_autofree char *diff_id = NULL;
  g_autoptr(GBytes) layer = build_layer (entries, FILTER_GZIP, &diff_id);
  guint64 size = 0;

  g_assert_cmpstr (diff_id, ==,
                   "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
  g_assert_false (g_file_test (f->rootfs, G_FILE_TEST_EXISTS));
  g_assert_true (apply (f, layer, diff_id, NULL, &size, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (size, ==, 1024);
  g_assert_true (g_file_test (f->rootfs, G_FILE_TEST_IS_DIR));
  assert_tree (f, "");
}

/* section: several layers */

static const TestEntry layer1[] = {
  { T_DIR, "etc" },
  { T_FILE, "etc/a", NULL, 0, "A1" },
  { T_FILE, "etc/b", NULL, 0, "B1" },
  { T_DIR, "opt" },
  { T_FILE, "opt/x", NULL, 0, "X1" },
  { T_DIR, "opt/sub" },
  { T_FILE, "opt/sub/y", NULL, 0, "Y1" },
  { T_DIR, "var" },
  { T_FILE, "var/keep", NULL, 0, "K1" },
  { T_DIR, "usr" },
  { T_DIR, "usr/bin" },
  { T_FILE, "usr/bin/tool", NULL, 0755, "T1" },
  { T_SYMLINK, "usr/bin/alias", "tool" },
  { T_END },
};

static const TestEntry layer2[] = {
  /* a file whited out, a new one next to it */
  { T_FILE, "etc/.wh.a" },
  { T_FILE, "etc/c", NULL, 0, "C2" },
  /* an opaque dir: what lower layers had goes, what this layer writes stays */
  { T_DIR, "opt", NULL, 0750 },
  { T_FILE, "opt/.wh..wh..opq" },
  { T_FILE, "opt/new", NULL, 0, "N2" },
  /* a whole directory whited out */
  { T_FILE, ".wh.var" },
  /* a file and a symlink replaced */
  { T_FILE, "usr/bin/tool", NULL, 0700, "T2" },
  { T_FILE, "usr/bin/alias", NULL, 0, "no longer a link" },
  { T_END },
};

#define TREE_AFTER_2 \
  "etc d755\n" \
  "etc/b f644 B1\n" \
  "etc/c f644 C2\n" \
  "opt d750\n" \
  "opt/new f644 N2\n" \
  "usr d755\n" \
  "usr/bin d755\n" \
  "usr/bin/alias f644 no longer a link\n" \
  "usr/bin/tool f700 T2\n"

static const TestEntry layer3[] = {
  /* an opaque dir whose layer also writes a name that was whited out below */
  { T_DIR, "etc" },
  { T_FILE, "etc/a", NULL, 0, "A3" },
  { T_FILE, "etc/.wh..wh..opq" },
  /* a directory that was whited out comes back, empty but for what this layer puts there */
  { T_DIR, "var", NULL, 0700 },
  { T_FILE, "var/again", NULL, 0, "V3" },
  /* a directory and a file of upper layers whited out */
  { T_FILE, "usr/.wh.bin" },
  { T_FILE, "opt/.wh.new" },
  /* a whiteout of something that is not there is no error */
  { T_FILE, ".wh.never-existed" },
  { T_END },
};

#define TREE_AFTER_3 \
  "etc d755\n" \
  "etc/a f644 A3\n" \
  "opt d750\n" \
  "usr d755\n" \
  "var d700\n" \
  "var/again f644 V3\n"

static void
test_layers_two (Fixture *f, gconstpointer data)
{
  apply_ok (f, layer1, FILTER_GZIP);
  assert_tree (f,
               "etc d755\n"
               "etc/a f644 A1\n"
               "etc/b f644 B1\n"
               "opt d755\n"
               "opt/sub d755\n"
               "opt/sub/y f644 Y1\n"
               "opt/x f644 X1\n"
               "usr d755\n"
               "usr/bin d755\n"
               "usr/bin/alias l ->tool\n"
               "usr/bin/tool f755 T1\n"
               "var d755\n"
               "var/keep f644 K1\n");
  apply_ok (f, layer2, FILTER_ZSTD);
  assert_tree (f, TREE_AFTER_2);
}

static void
test_layers_three (Fixture *f, gconstpointer data)
{
  apply_ok (f, layer1, FILTER_NONE);
  apply_ok (f, layer2, FILTER_XZ);
  apply_ok (f, layer3, FILTER_GZIP);
  assert_tree (f, TREE_AFTER_3);
}

/* a wrong diff_id on an upper layer: known only after its last byte, reported with the digest
 * the layer really has; the helper is gone (the caller discards the staging dir) */
static void
test_layers_wrong_diff_id (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *diff_id = NULL;
  g_autoptr(GBytes) second = build_layer (layer2, FILTER_GZIP, &diff_id);
  MemReader reader = { .data = second, .chunk = 4096 };

  apply_ok (f, layer1, FILTER_GZIP);
  g_assert_false (apply_full (f, &reader, DIGEST_WRONG, NULL, NULL, NULL, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (message_of (error), diff_id));
  g_assert_nonnull (strstr (message_of (error), DIGEST_WRONG));
  g_assert_cmpuint (reader.offset, ==, g_bytes_get_size (second));
  g_assert_cmpuint (count_children (), ==, 0);
}

/* section: refused layers */

typedef GBytes *(*LayerBuilder) (void);

typedef struct {
  const char *name;
  const TestEntry *entries;
  TestFilter filter;
  LayerBuilder build;
  PdError code;
  const char *message;   /* a substring of the error message, or NULL */
  PdArchiveLimits limits; /* zeros: the defaults */
} BadCase;

static const TestEntry bad_plnk[] = {
  { T_FILE, "ok", NULL, 0, "ok" },
  { T_FILE, ".wh..wh.plnk" },
  { T_END },
};
static const TestEntry bad_plnk_dir[] = {
  { T_DIR, "d" },
  { T_FILE, "d/.wh..wh.plnk" },
  { T_END },
};
static const TestEntry bad_aufs[] = {
  { T_DIR, "d" },
  { T_FILE, "d/.wh..wh.aufs" },
  { T_END },
};
static const TestEntry bad_wh_empty[] = {
  { T_FILE, ".wh." },
  { T_END },
};
static const TestEntry bad_wh_empty_dir[] = {
  { T_DIR, "d" },
  { T_FILE, "d/.wh." },
  { T_END },
};
static const TestEntry bad_wh_dot[] = {
  { T_FILE, ".wh.." },
  { T_END },
};
static const TestEntry bad_wh_dotdot[] = {
  { T_FILE, ".wh..." },
  { T_END },
};
static const TestEntry bad_wh_through_symlink[] = {
  { T_SYMLINK, "s", "/etc" },
  { T_FILE, "s/.wh.passwd" },
  { T_END },
};
static const TestEntry bad_opq_through_symlink[] = {
  { T_SYMLINK, "s", "../outside" },
  { T_FILE, "s/.wh..wh..opq" },
  { T_END },
};
static const TestEntry bad_dotdot[] = {
  { T_DIR, "a" },
  { T_FILE, "a/../../" ESCAPE_NAME, NULL, 0, "pwned" },
  { T_END },
};
static const TestEntry bad_dotdot_whiteout[] = {
  { T_FILE, "../outside/.wh.keep" },
  { T_END },
};
static const TestEntry bad_absolute[] = {
  { T_FILE, "/tmp/" ESCAPE_NAME, NULL, 0, "pwned" },
  { T_END },
};
static const TestEntry bad_hardlink_absolute[] = {
  { T_HARDLINK, "passwd", "/etc/passwd" },
  { T_END },
};
static const TestEntry bad_hardlink_dotdot[] = {
  { T_HARDLINK, "keep", "../outside/keep" },
  { T_END },
};
static const TestEntry bad_symlink_write[] = {
  { T_SYMLINK, "etc", "/etc" },
  { T_FILE, "etc/" ESCAPE_NAME, NULL, 0, "pwned" },
  { T_END },
};
static const TestEntry bad_symlink_dir[] = {
  { T_SYMLINK, "up", "../../outside" },
  { T_DIR, "up/sub" },
  { T_END },
};
static const TestEntry bad_symlink_deep[] = {
  { T_DIR, "a" },
  { T_SYMLINK, "a/b", "/tmp" },
  { T_FILE, "a/b/c/" ESCAPE_NAME, NULL, 0, "pwned" },
  { T_END },
};
static const TestEntry bad_hardlink_to_symlink[] = {
  { T_SYMLINK, "shadow", "/etc/shadow" },
  { T_HARDLINK, "h", "shadow" },
  /* the chmod through the hard link that CVE-2021-32760 is about */
  { T_FILE, "h", NULL, 0777, "" },
  { T_END },
};
static const TestEntry bad_hardlink_through_symlink[] = {
  { T_SYMLINK, "e", "/etc" },
  { T_HARDLINK, "p", "e/passwd" },
  { T_END },
};
static const TestEntry bad_root_file[] = {
  { T_FILE, ".", NULL, 0, "not a dir" },
  { T_END },
};

static const TestEntry *
make_many (guint n, gsize size)
{
  TestEntry *entries = g_new0 (TestEntry, n + 1);

  for (guint i = 0; i < n; i++)
    entries[i] = (TestEntry) { T_FILE, g_strdup_printf ("f%u", i), NULL, 0, NULL, size };
  return entries;
}

static void
free_many (const TestEntry *entries, guint n)
{
  for (guint i = 0; i < n; i++)
    g_free ((char *) entries[i].name);
  g_free ((TestEntry *) entries);
}

static GBytes *
build_many_entries (void)
{
  const TestEntry *entries = make_many (20, 1);
  GBytes *tar = build_tar (entries, FALSE);

  free_many (entries, 20);
  return tar;
}

/* each file under the cap, together over it */
static GBytes *
build_many_bytes (void)
{
  const TestEntry *entries = make_many (8, 64 * 1024);
  g_autoptr(GBytes) tar = build_tar (entries, FALSE);

  free_many (entries, 8);
  return compress_bytes (tar, FILTER_ZSTD);
}

/* one file of 16 MiB that compresses to almost nothing */
static GBytes *
build_bomb (void)
{
  static const TestEntry entries[] = {
    { T_FILE, "bomb", NULL, 0, NULL, 16 * 1024 * 1024 },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FALSE);

  return compress_bytes (tar, FILTER_GZIP);
}

static GBytes *
build_deep (void)
{
  g_autoptr(GString) name = g_string_new ("d");
  TestEntry entries[] = { { T_FILE, NULL, NULL, 0, "deep" }, { T_END } };

  for (guint i = 0; i < 9; i++)
    g_string_append (name, "/d");
  entries[0].name = name->str;
  return build_tar (entries, FALSE);
}

/* a small tar followed by @n_zeros zero bytes after its end-of-archive blocks */
static GBytes *
build_trailing_zeros (gsize n_zeros, TestFilter filter)
{
  static const TestEntry entries[] = {
    { T_FILE, "small", NULL, 0, "small" },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FALSE);
  g_autoptr(GBytes) padded = concat_zeros (tar, n_zeros);

  return compress_bytes (padded, filter);
}

/* what follows the tar's end is decompressed (for the diff_id) and counted too: 4 MiB of
 * zeros gzip to 4 KiB */
static GBytes *
build_trailing_bomb (void)
{
  return build_trailing_zeros (4 * 1024 * 1024, FILTER_GZIP);
}

static GBytes *
build_trailing_plain (void)
{
  return build_trailing_zeros (2 * 1024 * 1024, FILTER_NONE);
}

static GBytes *
build_garbage (void)
{
  GByteArray *out = g_byte_array_new ();
  GRand *rand = g_rand_new_with_seed (42);

  for (guint i = 0; i < 8192; i++)
    {
      guchar c = (guchar) g_rand_int_range (rand, 0, 256);
      g_byte_array_append (out, &c, 1);
    }
  g_rand_free (rand);
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
build_text (void)
{
  static const char text[] = "this is not a tar archive, just some text that goes on and on\n";
  GByteArray *out = g_byte_array_new ();

  for (guint i = 0; i < 40; i++)
    g_byte_array_append (out, (const guint8 *) text, sizeof text - 1);
  return g_byte_array_free_to_bytes (out);
}

/* a gzip header followed by bytes that do not inflate */
static GBytes *
build_gzip_garbage (void)
{
  static const guint8 header[] = { 0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03 };
  g_autoptr(GBytes) garbage = build_garbage ();
  GByteArray *out = g_byte_array_new ();

  g_byte_array_append (out, header, sizeof header);
  g_byte_array_append (out, g_bytes_get_data (garbage, NULL), (guint) g_bytes_get_size (garbage));
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
build_truncated_gzip (void)
{
  g_autoptr(GBytes) layer = build_layer (good_layer, FILTER_GZIP, NULL);

  return g_bytes_new_from_bytes (layer, 0, g_bytes_get_size (layer) / 2);
}

/* cut in the middle of a file's data */
static GBytes *
build_truncated_plain (void)
{
  static const TestEntry entries[] = {
    { T_FILE, "big", NULL, 0, NULL, 100000 },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FALSE);

  return g_bytes_new_from_bytes (tar, 0, 2 * 512 + 50000);
}

static const BadCase bad_cases[] = {
  { "whiteout-plnk", bad_plnk, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-plnk-dir", bad_plnk_dir, FILTER_GZIP, NULL, PD_ERROR_INVALID_ARCHIVE,
    "invalid whiteout" },
  { "whiteout-aufs", bad_aufs, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-empty", bad_wh_empty, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "invalid whiteout" },
  { "whiteout-empty-dir", bad_wh_empty_dir, FILTER_ZSTD, NULL, PD_ERROR_INVALID_ARCHIVE,
    "invalid whiteout" },
  { "whiteout-dot", bad_wh_dot, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-dotdot", bad_wh_dotdot, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "invalid whiteout" },
  { "whiteout-through-symlink", bad_wh_through_symlink, FILTER_NONE, NULL,
    PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "opaque-through-symlink", bad_opq_through_symlink, FILTER_NONE, NULL,
    PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "dotdot", bad_dotdot, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "\"..\"" },
  { "dotdot-whiteout", bad_dotdot_whiteout, FILTER_GZIP, NULL, PD_ERROR_INVALID_ARCHIVE,
    "\"..\"" },
  { "absolute", bad_absolute, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "absolute" },
  { "hardlink-absolute", bad_hardlink_absolute, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "invalid target" },
  { "hardlink-dotdot", bad_hardlink_dotdot, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "invalid target" },
  { "symlink-write-through", bad_symlink_write, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "inside a symlink" },
  { "symlink-dir-through", bad_symlink_dir, FILTER_XZ, NULL, PD_ERROR_INVALID_ARCHIVE,
    "inside a symlink" },
  { "symlink-deep-through", bad_symlink_deep, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "inside a symlink" },
  { "hardlink-to-symlink", bad_hardlink_to_symlink, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "symlink" },
  { "hardlink-through-symlink", bad_hardlink_through_symlink, FILTER_NONE, NULL,
    PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "root-not-dir", bad_root_file, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "not a directory" },
  { "garbage", NULL, FILTER_NONE, build_garbage, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "text", NULL, FILTER_NONE, build_text, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "gzip-garbage", NULL, FILTER_NONE, build_gzip_garbage, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "truncated-gzip", NULL, FILTER_NONE, build_truncated_gzip, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "truncated-plain", NULL, FILTER_NONE, build_truncated_plain, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "limit-entries", NULL, FILTER_NONE, build_many_entries, PD_ERROR_LIMITS_EXCEEDED,
    "more than 10 entries", { .max_entries = 10 } },
  { "limit-bytes", NULL, FILTER_NONE, build_many_bytes, PD_ERROR_LIMITS_EXCEEDED,
    "larger than", { .max_bytes = 256 * 1024 } },
  { "limit-bomb", NULL, FILTER_NONE, build_bomb, PD_ERROR_LIMITS_EXCEEDED, "larger than",
    { .max_bytes = 1024 * 1024 } },
  { "limit-depth", NULL, FILTER_NONE, build_deep, PD_ERROR_LIMITS_EXCEEDED, "deeper",
    { .max_depth = 5 } },
  { "limit-trailing-bomb", NULL, FILTER_NONE, build_trailing_bomb, PD_ERROR_LIMITS_EXCEEDED,
    "larger than", { .max_bytes = 1024 * 1024 } },
  { "limit-trailing-plain", NULL, FILTER_NONE, build_trailing_plain, PD_ERROR_LIMITS_EXCEEDED,
    "larger than", { .max_bytes = 1024 * 1024 } },
};

static void
test_layer_bad (Fixture *f, gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) layer = NULL;
  PdArchiveLimits limits;
  guint64 size = 12345;

  pd_archive_limits_init (&limits);
  if (c->limits.max_bytes != 0)
    limits.max_bytes = c->limits.max_bytes;
  if (c->limits.max_entries != 0)
    limits.max_entries = c->limits.max_entries;
  if (c->limits.max_depth != 0)
    limits.max_depth = c->limits.max_depth;
  layer = c->build != NULL ? c->build () : build_layer (c->entries, c->filter, NULL);

  g_assert_false (apply (f, layer, NULL, &limits, &size, &error));
  g_assert_nonnull (error);
  g_test_message ("%s: %s", c->name, message_of (error));
  g_assert_error (error, PD_ERROR, (gint) c->code);
  if (c->message != NULL)
    g_assert_nonnull (strstr (message_of (error), c->message));
  /* not set on failure */
  g_assert_cmpuint (size, ==, 12345);
  assert_contained (f);
}

#define ZERO_HEX "0000000000000000000000000000000000000000000000000000000000000000"

/* without a staging dir a layer is only checked, in this process: the same verdicts, the same
 * size and digest check, and nothing written anywhere (the fuzz target relies on it) */
static void
test_layer_check_only (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) plain = build_tar (good_layer, FALSE);
  g_autoptr(GBytes) layer = compress_bytes (plain, FILTER_GZIP);
  g_autofree char *diff_id = digest_of (plain);
  static const TestEntry escaping[] = {
    { T_SYMLINK, "link", "/etc" },
    { T_FILE, "link/passwd", NULL, 0, "x" },
    { T_END },
  };
  g_autoptr(GBytes) bad = build_tar (escaping, FALSE);
  struct {
    GBytes *layer;
    const char *diff_id;
    gint code;
  } cases[] = {
    { layer, diff_id, -1 },
    { layer, NULL, -1 },
    { layer, "sha256:" ZERO_HEX, PD_ERROR_DIGEST_MISMATCH },
    { bad, NULL, PD_ERROR_INVALID_ARCHIVE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      MemReader reader = { .data = cases[i].layer, .chunk = 1000 };
      guint64 size = 0;
      gboolean ok = pd_archive_apply_layer (mem_read, &reader, cases[i].diff_id, NULL, NULL,
                                            NULL, &size, NULL, &error);

      if (cases[i].code < 0)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpuint (size, ==, g_bytes_get_size (plain));
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, PD_ERROR, cases[i].code);
        }
    }
  g_assert_false (g_file_test (f->rootfs, G_FILE_TEST_EXISTS));
}

/* section: errors of the read function, cancellation */

static GBytes *
build_big_layer (void)
{
  static const TestEntry entries[] = {
    { T_FILE, "first", NULL, 0, "first" },
    { T_FILE, "big", NULL, 0, NULL, 1024 * 1024, TRUE },
    { T_FILE, "last", NULL, 0, "last" },
    { T_END },
  };

  return build_tar (entries, FALSE);
}

static void
test_read_error (Fixture *f, gconstpointer data)
{
  gsize fail_at = GPOINTER_TO_SIZE (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) read_error = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                              "the test's connection went away at %" G_GSIZE_FORMAT,
                                              fail_at);
  g_autoptr(GBytes) layer = build_big_layer ();
  MemReader reader = { .data = layer, .chunk = 8192, .fail_with = read_error,
                       .fail_at = fail_at };

  g_assert_false (apply_full (f, &reader, NULL, NULL, NULL, NULL, &error));
  /* as it was: not wrapped, not converted */
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_cmpstr (message_of (error), ==, read_error->message);
  g_assert_true (reader.failed);
  g_assert_cmpuint (count_children (), ==, 0);
}

/* The read that would return the end fails, as a blob stream's verifying read does when the
 * registry sent other bytes than the digest says (pd_blob_stream_read ()): that error must
 * come back as it is, whatever the compression, or a pull would store and use a blob that
 * was never verified. A registry error keeps its PD_ERROR code too. */
static void
test_read_error_at_end (Fixture *f, gconstpointer data)
{
  TestFilter filter = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) read_error = g_error_new_literal (PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                                                      "blob sha256:…: the registry sent junk");
  g_autoptr(GBytes) plain = build_big_layer ();
  g_autoptr(GBytes) layer = compress_bytes (plain, filter);
  /* the read that would return the end fails, as a blob stream's verifying read does */
  MemReader reader = { .data = layer, .chunk = 4096, .fail_with = read_error,
                       .fail_at = g_bytes_get_size (layer) };

  gboolean ok = apply_full (f, &reader, NULL, NULL, NULL, NULL, &error);

  /* every byte was read, and then the read for the end was made */
  g_assert_cmpuint (reader.offset, ==, g_bytes_get_size (layer));
  g_assert_true (reader.failed);
  g_assert_false (ok);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_cmpstr (message_of (error), ==, read_error->message);
  g_assert_cmpuint (count_children (), ==, 0);
}

static void
test_cancel_before (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GBytes) layer = build_layer (good_layer, FILTER_GZIP, NULL);
  MemReader reader = { .data = layer, .chunk = 4096 };

  g_cancellable_cancel (cancellable);
  g_assert_false (apply_full (f, &reader, NULL, NULL, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (count_children (), ==, 0);
}

static void
test_cancel_midway (Fixture *f, gconstpointer data)
{
  TestFilter filter = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GBytes) plain = build_big_layer ();
  g_autoptr(GBytes) layer = compress_bytes (plain, filter);
  MemReader reader = { .data = layer, .chunk = 512, .cancel = cancellable,
                       .cancel_at = g_bytes_get_size (layer) / 3 };

  g_assert_false (apply_full (f, &reader, NULL, NULL, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (g_cancellable_is_cancelled (cancellable));
  /* it stopped reading well before the end */
  g_assert_cmpuint (reader.offset, <, g_bytes_get_size (layer));
  g_assert_cmpuint (count_children (), ==, 0);
}

/* section: settings across an upgrade */

#define OLD_CONFIG \
  "{\"Entrypoint\": [\"/bin/plugin\"]," \
  " \"Env\": [" \
  "   {\"Name\": \"CHANGED\", \"Settable\": [\"value\"], \"Value\": \"1\"}," \
  "   {\"Name\": \"UNCHANGED\", \"Settable\": [\"value\"], \"Value\": \"2\"}," \
  "   {\"Name\": \"NULLSET\", \"Settable\": [\"value\"], \"Value\": null}," \
  "   {\"Name\": \"REMOVED\", \"Settable\": [\"value\"], \"Value\": \"4\"}," \
  "   {\"Name\": \"NULLUNSET\", \"Settable\": [\"value\"], \"Value\": null}," \
  "   {\"Name\": \"TONULL\", \"Settable\": [\"value\"], \"Value\": \"7\"}]," \
  " \"Mounts\": [" \
  "   {\"Name\": \"data\", \"Settable\": [\"source\"], \"Source\": \"/old/data\"," \
  "    \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}," \
  "   {\"Name\": \"cache\", \"Settable\": [\"source\"], \"Source\": \"/old/cache\"," \
  "    \"Destination\": \"/cache\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}," \
  "   {\"Name\": \"gone\", \"Settable\": [\"source\"], \"Source\": \"/old/gone\"," \
  "    \"Destination\": \"/gone\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}]," \
  " \"Linux\": {\"Devices\": [" \
  "   {\"Name\": \"gpu\", \"Settable\": [\"path\"], \"Path\": \"/dev/dri/card0\"}," \
  "   {\"Name\": \"fuse\", \"Settable\": [\"path\"], \"Path\": \"/dev/fuse\"}]}," \
  " \"Args\": {\"Name\": \"args\", \"Settable\": [\"value\"], \"Value\": [\"-v\"]}}"

#define NEW_CONFIG_FMT \
  "{\"Entrypoint\": [\"/bin/plugin\"]," \
  " \"Env\": [" \
  "   {\"Name\": \"NEWVAR\", \"Settable\": [\"value\"], \"Value\": \"6\"}," \
  "   {\"Name\": \"UNCHANGED\", \"Settable\": [\"value\"], \"Value\": \"20\"}," \
  "   {\"Name\": \"CHANGED\", \"Settable\": [\"value\"], \"Value\": \"10\"}," \
  "   {\"Name\": \"NULLSET\", \"Settable\": [\"value\"], \"Value\": null}," \
  "   {\"Name\": \"NULLUNSET\", \"Settable\": [\"value\"], \"Value\": \"5\"}," \
  "   {\"Name\": \"TONULL\", \"Settable\": [\"value\"], \"Value\": null}]," \
  " \"Mounts\": [" \
  "   {\"Name\": \"cache\", \"Settable\": [\"source\"], \"Source\": \"/new/cache\"," \
  "    \"Destination\": \"/cache\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}," \
  "   {\"Name\": \"data\", \"Settable\": [\"source\"], \"Source\": \"/new/data\"," \
  "    \"Destination\": \"/srv/data\", \"Type\": \"bind\", \"Options\": [\"rbind\", \"ro\"]}," \
  "   {\"Name\": \"extra\", \"Settable\": [\"source\"], \"Source\": \"/new/extra\"," \
  "    \"Destination\": \"/extra\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}]," \
  " \"Linux\": {\"Devices\": [" \
  "   {\"Name\": \"fuse\", \"Settable\": [\"path\"], \"Path\": \"/dev/fuse-new\"}," \
  "   {\"Name\": \"gpu\", \"Settable\": [\"path\"], \"Path\": \"/dev/dri/card9\"}," \
  "   {\"Name\": \"tty\", \"Settable\": [\"path\"], \"Path\": \"/dev/tty0\"}]}," \
  " \"Args\": {\"Name\": \"%s\", \"Settable\": [\"value\"], \"Value\": [\"-q\"]}}"

static PdPluginConfig *
parse_config (const char *json)
{
  g_autoptr(GError) error = NULL;
  PdPluginConfig *config = pd_plugin_config_new_from_data (json, strlen (json), &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

static PdConfigMount *
settings_mount (const PdPluginSettings *settings, const char *name)
{
  for (guint i = 0; i < settings->mounts->len; i++)
    {
      PdConfigMount *mount = settings->mounts->pdata[i];

      if (g_strcmp0 (mount->name, name) == 0)
        return mount;
    }
  return NULL;
}

static PdConfigDevice *
settings_device (const PdPluginSettings *settings, const char *name)
{
  for (guint i = 0; i < settings->devices->len; i++)
    {
      PdConfigDevice *device = settings->devices->pdata[i];

      if (g_strcmp0 (device->name, name) == 0)
        return device;
    }
  return NULL;
}

static PdConfigMount *
must_mount (const PdPluginSettings *settings, const char *name)
{
  PdConfigMount *mount = settings_mount (settings, name);

  /* g_assert (): the compiler knows it does not return */
  g_assert (mount != NULL);
  return mount;
}

static PdConfigDevice *
must_device (const PdPluginSettings *settings, const char *name)
{
  PdConfigDevice *device = settings_device (settings, name);

  g_assert (device != NULL);
  return device;
}

static void
set_env (PdPluginSettings *settings, const char *name, const char *value)
{
  g_autofree char *prefix = g_strdup_printf ("%s=", name);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  gboolean found = FALSE;

  for (guint i = 0; settings->env[i] != NULL; i++)
    {
      if (g_str_has_prefix (settings->env[i], prefix))
        {
          g_autofree char *entry = g_strconcat (prefix, value, NULL);
          g_strv_builder_add (builder, entry);
          found = TRUE;
        }
      else
        g_strv_builder_add (builder, settings->env[i]);
    }
  if (!found)
    {
      g_autofree char *entry = g_strconcat (prefix, value, NULL);
      g_strv_builder_add (builder, entry);
    }
  g_strfreev (settings->env);
  settings->env = g_strv_builder_end (builder);
}

static void
assert_strv (char **actual, const char *const *expected)
{
  g_autofree char *joined_actual = g_strjoinv ("|", actual);
  g_autofree char *joined_expected = g_strjoinv ("|", (char **) expected);

  g_assert_cmpstr (joined_actual, ==, joined_expected);
}

/* the settings a user made on the old config */
static PdPluginSettings *
user_settings (const PdPluginConfig *old_config)
{
  PdPluginSettings *settings = pd_plugin_settings_new_from_config (old_config);
  PdConfigMount *data, *gone;
  PdConfigDevice *gpu;

  set_env (settings, "CHANGED", "user");
  set_env (settings, "NULLSET", "mine");
  set_env (settings, "REMOVED", "still mine");
  set_env (settings, "TONULL", "kept");
  data = must_mount (settings, "data");
  g_free (data->source);
  data->source = g_strdup ("/home/me/data");
  gone = must_mount (settings, "gone");
  g_free (gone->source);
  gone->source = g_strdup ("/home/me/gone");
  gpu = must_device (settings, "gpu");
  g_free (gpu->path);
  gpu->path = g_strdup ("/dev/dri/card1");
  g_strfreev (settings->args);
  settings->args = g_strdupv ((char *[]) { "-x", "-y", NULL });
  return settings;
}

static void
test_merge (void)
{
  g_autoptr(PdPluginConfig) old_config = parse_config (OLD_CONFIG);
  g_autofree char *new_json = g_strdup_printf (NEW_CONFIG_FMT, "args");
  g_autoptr(PdPluginConfig) new_config = parse_config (new_json);
  g_autoptr(PdPluginSettings) old_settings = user_settings (old_config);
  g_autoptr(PdPluginSettings) before = pd_plugin_settings_copy (old_settings);
  g_autoptr(PdPluginSettings) merged = NULL;
  g_autoptr(JsonNode) before_json = NULL;
  g_autoptr(JsonNode) after_json = NULL;
  PdConfigMount *mount;
  PdConfigDevice *device;

  merged = pd_plugin_settings_merge (old_settings, old_config, new_config);
  g_assert_nonnull (merged);

  /* env, in the new config's order: the user's values kept (also over a new null default),
   * values left at the old default take the new one, new variables come with their default,
   * removed ones are gone even when the user had set them, null defaults stay unset */
  assert_strv (merged->env, (const char *const []) {
                 "NEWVAR=6", "UNCHANGED=20", "CHANGED=user", "NULLSET=mine", "NULLUNSET=5",
                 "TONULL=kept", NULL });

  /* mounts by name, in the new config's order, with the new destination and options */
  g_assert_cmpuint (merged->mounts->len, ==, 3);
  mount = merged->mounts->pdata[0];
  g_assert_cmpstr (mount->name, ==, "cache");
  g_assert_cmpstr (mount->source, ==, "/new/cache");
  mount = merged->mounts->pdata[1];
  g_assert_cmpstr (mount->name, ==, "data");
  g_assert_cmpstr (mount->source, ==, "/home/me/data");
  g_assert_cmpstr (mount->destination, ==, "/srv/data");
  assert_strv (mount->options, (const char *const []) { "rbind", "ro", NULL });
  mount = merged->mounts->pdata[2];
  g_assert_cmpstr (mount->name, ==, "extra");
  g_assert_cmpstr (mount->source, ==, "/new/extra");
  g_assert_null (settings_mount (merged, "gone"));

  /* devices by name */
  g_assert_cmpuint (merged->devices->len, ==, 3);
  device = merged->devices->pdata[0];
  g_assert_cmpstr (device->name, ==, "fuse");
  g_assert_cmpstr (device->path, ==, "/dev/fuse-new");
  device = merged->devices->pdata[1];
  g_assert_cmpstr (device->name, ==, "gpu");
  g_assert_cmpstr (device->path, ==, "/dev/dri/card1");
  device = merged->devices->pdata[2];
  g_assert_cmpstr (device->name, ==, "tty");
  g_assert_cmpstr (device->path, ==, "/dev/tty0");

  /* args the user changed, and the new config still calls them "args" */
  assert_strv (merged->args, (const char *const []) { "-x", "-y", NULL });

  /* the inputs are left alone */
  before_json = pd_plugin_settings_to_json (before);
  after_json = pd_plugin_settings_to_json (old_settings);
  g_assert_true (json_node_equal (before_json, after_json));
}

/* args: a new name means new args; unchanged args take the new default */
static void
test_merge_args (void)
{
  g_autoptr(PdPluginConfig) old_config = parse_config (OLD_CONFIG);
  g_autofree char *renamed_json = g_strdup_printf (NEW_CONFIG_FMT, "flags");
  g_autofree char *same_json = g_strdup_printf (NEW_CONFIG_FMT, "args");
  g_autoptr(PdPluginConfig) renamed = parse_config (renamed_json);
  g_autoptr(PdPluginConfig) same = parse_config (same_json);
  g_autoptr(PdPluginSettings) changed = user_settings (old_config);
  g_autoptr(PdPluginSettings) defaults = pd_plugin_settings_new_from_config (old_config);
  g_autoptr(PdPluginSettings) merged_renamed = pd_plugin_settings_merge (changed, old_config,
                                                                         renamed);
  g_autoptr(PdPluginSettings) merged_defaults = pd_plugin_settings_merge (defaults, old_config,
                                                                          same);
  g_autoptr(PdPluginSettings) new_defaults = pd_plugin_settings_new_from_config (same);
  g_autoptr(JsonNode) merged_json = NULL;
  g_autoptr(JsonNode) defaults_json = NULL;

  assert_strv (merged_renamed->args, (const char *const []) { "-q", NULL });
  /* the rest of the merge does not depend on the args' name */
  g_assert_cmpstr (must_mount (merged_renamed, "data")->source, ==, "/home/me/data");

  /* nothing changed by the user: exactly the new config's defaults */
  assert_strv (merged_defaults->args, (const char *const []) { "-q", NULL });
  merged_json = pd_plugin_settings_to_json (merged_defaults);
  defaults_json = pd_plugin_settings_to_json (new_defaults);
  g_assert_true (json_node_equal (merged_json, defaults_json));
}

/* section: plugind.conf */

typedef struct {
  char *dir;
} ConfFixture;

static void
conf_setup (ConfFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("test-pull-conf-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
conf_teardown (ConfFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  pd_rm_rf_at (AT_FDCWD, f->dir, &error);
  g_assert_no_error (error);
  g_free (f->dir);
}

static char *
write_conf (ConfFixture *f, const char *contents)
{
  char *path = g_build_filename (f->dir, "plugind.conf", NULL);

  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  return path;
}

static PdDaemonConfig *
load_conf (ConfFixture *f, const char *contents, GError **error)
{
  g_autofree char *path = write_conf (f, contents);

  return pd_daemon_config_load (path, error);
}

static void
assert_defaults (const PdDaemonConfig *config)
{
  g_assert_nonnull (config->insecure);
  g_assert_null (config->insecure[0]);
  g_assert_nonnull (config->mirrors);
  g_assert_null (config->mirrors[0]);
  g_assert_nonnull (config->certs_dir);
  g_assert_true (g_str_has_suffix (config->certs_dir, "/certs.d"));
  g_assert_cmpuint (config->max_jobs, ==, 16);
  g_assert_cmpuint (config->max_archive_bytes, ==, G_GUINT64_CONSTANT (8) * 1024 * 1024 * 1024);
  g_assert_cmpuint (config->max_archive_entries, ==, 1000000);
  g_assert_false (config->only_requested_capabilities);
  g_assert_cmpuint (config->stall_timeout_s, ==, 60);
  g_assert_cmpuint (config->stall_min_bytes, ==, 16384);
}

static void
test_conf_missing (ConfFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "no-such.conf", NULL);
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_load (path, &error);
  g_autoptr(PdDaemonConfig) empty = NULL;
  g_autoptr(PdDaemonConfig) defaults = pd_daemon_config_new_default ();

  g_assert_no_error (error);
  g_assert_nonnull (config);
  assert_defaults (config);
  assert_defaults (defaults);
  empty = load_conf (f, "", &error);
  g_assert_no_error (error);
  assert_defaults (empty);
  g_assert_cmpstr (empty->certs_dir, ==, defaults->certs_dir);
}

static void
test_conf_lists (ConfFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDaemonConfig) config = NULL;

  config = load_conf (f,
                      "# plugind\n"
                      "[Registries]\n"
                      "Insecure= Registry.Example:5000 ;; 10.0.0.1:5000;[::1]:5001 ; \n"
                      "Mirrors=https://mirror.example/ ; ;http://m2.example:5000/base//;"
                      "https://m3.example\n"
                      "StallTimeout=5\n"
                      "StallMinBytes=1\n"
                      "[Limits]\n"
                      "MaxJobs = 4\n"
                      "MaxArchiveBytes=1048576\n"
                      "MaxArchiveEntries=100\n"
                      "[Sandbox]\n"
                      "Capabilities = requested\n",
                      &error);
  g_assert_no_error (error);
  g_assert_nonnull (config);
  assert_strv (config->insecure, (const char *const []) {
                 "registry.example:5000", "10.0.0.1:5000", "[::1]:5001", NULL });
  assert_strv (config->mirrors, (const char *const []) {
                 "https://mirror.example", "http://m2.example:5000/base", "https://m3.example",
                 NULL });
  g_assert_cmpuint (config->max_jobs, ==, 4);
  g_assert_cmpuint (config->max_archive_bytes, ==, 1048576);
  g_assert_cmpuint (config->max_archive_entries, ==, 100);
  g_assert_true (config->only_requested_capabilities);
  g_assert_cmpuint (config->stall_timeout_s, ==, 5);
  g_assert_cmpuint (config->stall_min_bytes, ==, 1);

  /* host[:port] compared case-insensitively, and exactly otherwise */
  g_assert_true (pd_daemon_config_is_insecure (config, "registry.example:5000"));
  g_assert_true (pd_daemon_config_is_insecure (config, "REGISTRY.Example:5000"));
  g_assert_true (pd_daemon_config_is_insecure (config, "10.0.0.1:5000"));
  g_assert_true (pd_daemon_config_is_insecure (config, "[::1]:5001"));
  g_assert_false (pd_daemon_config_is_insecure (config, "registry.example"));
  g_assert_false (pd_daemon_config_is_insecure (config, "registry.example:5001"));
  g_assert_false (pd_daemon_config_is_insecure (config, "10.0.0.1"));
  g_assert_false (pd_daemon_config_is_insecure (config, "example:5000"));
}

static void
test_conf_empty_lists (ConfFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDaemonConfig) config = load_conf (f, "[Registries]\nInsecure= ; ;\nMirrors=\n",
                                                &error);

  g_assert_no_error (error);
  g_assert_nonnull (config->insecure);
  g_assert_null (config->insecure[0]);
  g_assert_nonnull (config->mirrors);
  g_assert_null (config->mirrors[0]);
  g_assert_false (pd_daemon_config_is_insecure (config, ""));
}

typedef struct {
  const char *name;
  const char *contents;
  const char *needle1;
  const char *needle2;
} ConfBadCase;

static const ConfBadCase conf_bad_cases[] = {
  { "mirror-scheme", "[Registries]\nMirrors=https://ok.example;ftp://mirror.example/\n",
    "Mirrors", "ftp://mirror.example" },
  { "mirror-no-scheme", "[Registries]\nMirrors=mirror.example\n", "Mirrors", "mirror.example" },
  { "insecure-slash", "[Registries]\nInsecure=ok.example;host.example/path\n", "Insecure",
    "host.example/path" },
  { "insecure-url", "[Registries]\nInsecure=http://host.example\n", "Insecure", "host.example" },
  { "insecure-userinfo", "[Registries]\nInsecure=user@host.example\n", "Insecure",
    "user@host.example" },
  { "insecure-space", "[Registries]\nInsecure=host example\n", "Insecure", "host example" },
  { "stall-timeout-zero", "[Registries]\nStallTimeout=0\n", "StallTimeout", NULL },
  { "stall-timeout-big", "[Registries]\nStallTimeout=3601\n", "StallTimeout", NULL },
  { "stall-min-bytes-zero", "[Registries]\nStallMinBytes=0\n", "StallMinBytes", NULL },
  { "stall-min-bytes-text", "[Registries]\nStallMinBytes=16k\n", "StallMinBytes", NULL },
  { "max-jobs-zero", "[Limits]\nMaxJobs=0\n", "MaxJobs", NULL },
  { "max-jobs-big", "[Limits]\nMaxJobs=1025\n", "MaxJobs", NULL },
  { "max-jobs-negative", "[Limits]\nMaxJobs=-1\n", "MaxJobs", NULL },
  { "max-jobs-text", "[Limits]\nMaxJobs=many\n", "MaxJobs", NULL },
  { "max-bytes-zero", "[Limits]\nMaxArchiveBytes=0\n", "MaxArchiveBytes", NULL },
  { "max-entries-text", "[Limits]\nMaxArchiveEntries=1e6\n", "MaxArchiveEntries", NULL },
  { "sandbox-capabilities", "[Sandbox]\nCapabilities=all\n", "Capabilities", "all" },
  { "malformed", "[Registries\nInsecure=x\n", NULL, NULL },
  { "not-a-keyfile", "this is not a key file\n", NULL, NULL },
};

static void
test_conf_bad (ConfFixture *f, gconstpointer data)
{
  const ConfBadCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = write_conf (f, c->contents);
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_load (path, &error);

  g_assert_null (config);
  g_assert_nonnull (error);
  g_test_message ("%s: %s", c->name, message_of (error));
  g_assert_true (error->domain == PD_ERROR);
  /* the file, and the key when one is at fault */
  g_assert_nonnull (strstr (message_of (error), path));
  if (c->needle1 != NULL)
    g_assert_nonnull (strstr (message_of (error), c->needle1));
  if (c->needle2 != NULL)
    g_assert_nonnull (strstr (message_of (error), c->needle2));
}

static void
test_conf_max_jobs_range (ConfFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDaemonConfig) one = load_conf (f, "[Limits]\nMaxJobs=1\n", &error);
  g_autoptr(PdDaemonConfig) most = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (one->max_jobs, ==, 1);
  most = load_conf (f, "[Limits]\nMaxJobs=1024\n", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (most->max_jobs, ==, 1024);
}

/* a file that exists but cannot be read is an error, not the defaults */
static void
test_conf_unreadable (ConfFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "plugind.conf", NULL);
  g_autoptr(PdDaemonConfig) config = NULL;

  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  config = pd_daemon_config_load (path, &error);
  g_assert_null (config);
  g_assert_nonnull (error);
  g_assert_true (error->domain == PD_ERROR);
  g_assert_nonnull (strstr (message_of (error), path));
}

/* section: the store's part of an upgrade */

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIGEST_1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define DIGEST_2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define DIGEST_3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define DIGEST_4 "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define DIGEST_5 "sha256:5555555555555555555555555555555555555555555555555555555555555555"
#define DIGEST_6 "sha256:6666666666666666666666666666666666666666666666666666666666666666"

#define STORE_CONFIG_FMT \
  "{\"Description\": \"%s\", \"Entrypoint\": [\"/bin/plugin\"]," \
  " \"Env\": [{\"Name\": \"LEVEL\", \"Settable\": [\"value\"], \"Value\": \"%s\"}]}"

typedef struct {
  char *base;
  char *state_dir;
  PdStore *store;
} StoreFixture;

static void
store_setup (StoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->base = g_dir_make_tmp ("test-pull-store-XXXXXX", &error);
  g_assert_no_error (error);
  f->state_dir = g_build_filename (f->base, "state", NULL);
  f->store = pd_store_new (f->state_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->store);
}

static void
store_teardown (StoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_clear_object (&f->store);
  pd_rm_rf_at (AT_FDCWD, f->base, &error);
  g_assert_no_error (error);
  g_free (f->base);
  g_free (f->state_dir);
}

static PdPluginConfig *
store_config (const char *description, const char *level)
{
  g_autofree char *json = g_strdup_printf (STORE_CONFIG_FMT, description, level);

  return parse_config (json);
}

/* a staging dir whose rootfs holds one file, @name with @contents */
static char *
stage_rootfs (StoreFixture *f, const char *name, const char *contents)
{
  g_autoptr(GError) error = NULL;
  char *staging = pd_store_create_staging_dir (f->store, &error);
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
test_store_commit_upgrade (StoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginRecord) old = pd_plugin_record_new (ID_A, "test/plugin:latest",
                                                        "docker.io/test/plugin:1",
                                                        store_config ("version 1", "low"),
                                                        DIGEST_1, DIGEST_2,
                                                        (const char *const []) { DIGEST_3, NULL });
  g_autoptr(PdPluginRecord) upgraded = NULL;
  g_autoptr(PdPluginRecord) in_staging = NULL;
  g_autoptr(PdPluginRecord) in_plugins = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *first = stage_rootfs (f, "old-file", "old");
  g_autofree char *second = NULL;
  g_autofree char *plugin_dir = g_build_filename (f->state_dir, "plugins", ID_A, NULL);
  g_autofree char *tree = NULL;
  g_autofree char *staging_rootfs = NULL;
  g_autofree char *plugin_rootfs = NULL;
  PdPluginRecord *loaded;

  g_assert_true (pd_store_commit_new_plugin (f->store, old, first, &error));
  g_assert_no_error (error);

  second = stage_rootfs (f, "new-file", "new");
  upgraded = pd_plugin_record_new_upgraded (old, "docker.io/test/plugin:2",
                                            store_config ("version 2", "high"), DIGEST_4,
                                            DIGEST_5, (const char *const []) { DIGEST_6, NULL },
                                            pd_plugin_settings_new_from_config (
                                              pd_plugin_record_get_config (old)));
  g_assert_true (pd_store_commit_upgrade (f->store, upgraded, second, &error));
  g_assert_no_error (error);

  /* plugins/<id> is the new plugin */
  plugin_rootfs = g_build_filename (plugin_dir, "rootfs", NULL);
  tree = list_tree (plugin_rootfs);
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
  tree = list_tree (staging_rootfs);
  g_assert_cmpstr (tree, ==, "old-file f644 old\n");
  in_staging = read_record_file (second);
  g_assert_cmpstr (pd_plugin_record_get_id (in_staging), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_reference (in_staging), ==, "docker.io/test/plugin:1");
  g_assert_cmpstr (pd_plugin_record_get_config (in_staging)->description, ==, "version 1");

  /* loading the store finds the new config, once */
  records = pd_store_load_records (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  loaded = records->pdata[0];
  g_assert_cmpstr (pd_plugin_record_get_id (loaded), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (loaded), ==, "test/plugin:latest");
  g_assert_cmpstr (pd_plugin_record_get_config (loaded)->description, ==, "version 2");
  g_assert_cmpstr (pd_plugin_record_get_config_digest (loaded), ==, DIGEST_4);
  g_assert_cmpstr (pd_plugin_record_get_layer_digests (loaded)[0], ==, DIGEST_6);
  g_assert_cmpstr (pd_plugin_record_get_settings (loaded)->env[0], ==, "LEVEL=low");

  g_assert_true (pd_store_discard_staging_dir (f->store, second, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (second, G_FILE_TEST_EXISTS));
}

static void
test_store_commit_upgrade_missing (StoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginRecord) record = pd_plugin_record_new (ID_B, "test/other:latest", NULL,
                                                           store_config ("other", "x"), NULL,
                                                           NULL, NULL);
  g_autofree char *staging = stage_rootfs (f, "file", "content");
  g_autofree char *plugin_dir = g_build_filename (f->state_dir, "plugins", ID_B, NULL);
  g_autofree char *tree = NULL;
  g_autofree char *rootfs = g_build_filename (staging, "rootfs", NULL);

  g_assert_false (pd_store_commit_upgrade (f->store, record, staging, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN);
  g_clear_error (&error);
  /* nothing moved */
  g_assert_false (g_file_test (plugin_dir, G_FILE_TEST_EXISTS));
  tree = list_tree (rootfs);
  g_assert_cmpstr (tree, ==, "file f644 content\n");
  g_assert_true (pd_store_discard_staging_dir (f->store, staging, &error));
  g_assert_no_error (error);
}

static void
test_store_pin_existing (StoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *digest = pd_store_put_blob (f->store, "a layer", 7, &error);
  g_autofree char *absent = pd_sha256_digest_bytes ("never stored", 12);
  guint removed;

  g_assert_no_error (error);
  /* put_blob pinned it once: drop that pin */
  pd_store_unpin_blob (f->store, digest);

  /* pinned again as found: GC keeps it */
  g_assert_true (pd_store_pin_existing_blob (f->store, digest));
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  g_assert_true (pd_store_has_blob (f->store, digest));

  /* one count per pin */
  g_assert_true (pd_store_pin_existing_blob (f->store, digest));
  pd_store_unpin_blob (f->store, digest);
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  pd_store_unpin_blob (f->store, digest);
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 1);
  g_assert_false (pd_store_has_blob (f->store, digest));

  /* nothing to pin: FALSE, and no pin left behind (an unpin would complain) */
  g_assert_false (pd_store_pin_existing_blob (f->store, digest));
  g_assert_false (pd_store_pin_existing_blob (f->store, absent));
  g_assert_false (pd_store_pin_existing_blob (f->store, "sha256:not-a-digest"));
  g_assert_false (pd_store_pin_existing_blob (f->store, "md5:0123"));
  g_test_expect_message ("pd-store", G_LOG_LEVEL_CRITICAL, "*unpinned more often*");
  pd_store_unpin_blob (f->store, absent);
  g_test_assert_expected_messages ();
}

static void
count_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  GPtrArray *names = user_data;

  g_ptr_array_add (names, g_strdup (pspec->name));
}

static void
test_record_upgraded (void)
{
  g_autoptr(PdPluginRecord) old = pd_plugin_record_new (ID_A, "test/plugin:latest",
                                                        "docker.io/test/plugin:1",
                                                        store_config ("version 1", "low"),
                                                        DIGEST_1, DIGEST_2,
                                                        (const char *const []) { DIGEST_3, NULL });
  g_autoptr(PdPluginRecord) upgraded = NULL;
  g_autoptr(PdPluginConfig) new_config = store_config ("version 2", "high");
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (new_config);
  g_autoptr(GPtrArray) notified = g_ptr_array_new_with_free_func (g_free);
  const PdPluginSettings *taken_settings;
  guint64 created = pd_plugin_record_get_created (old);

  pd_plugin_record_set_enabled (old, TRUE);
  /* the clock moves on between install and upgrade */
  g_usleep (2000);
  g_free (settings->env[0]);
  settings->env[0] = g_strdup ("LEVEL=user");
  upgraded = pd_plugin_record_new_upgraded (old, "docker.io/test/plugin:2",
                                            pd_plugin_config_copy (new_config), DIGEST_4,
                                            DIGEST_5, (const char *const []) { DIGEST_6, DIGEST_1,
                                                                               NULL },
                                            pd_plugin_settings_copy (settings));

  /* the same plugin */
  g_assert_cmpstr (pd_plugin_record_get_id (upgraded), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (upgraded), ==, "test/plugin:latest");
  g_assert_cmpuint (pd_plugin_record_get_created (upgraded), ==, created);
  g_assert_true (pd_plugin_record_get_enabled (upgraded));
  /* another image, with the settings given */
  g_assert_cmpstr (pd_plugin_record_get_reference (upgraded), ==, "docker.io/test/plugin:2");
  g_assert_cmpstr (pd_plugin_record_get_config (upgraded)->description, ==, "version 2");
  g_assert_cmpstr (pd_plugin_record_get_config_digest (upgraded), ==, DIGEST_4);
  g_assert_cmpstr (pd_plugin_record_get_manifest_digest (upgraded), ==, DIGEST_5);
  assert_strv ((char **) pd_plugin_record_get_layer_digests (upgraded),
               (const char *const []) { DIGEST_6, DIGEST_1, NULL });
  g_assert_cmpstr (pd_plugin_record_get_settings (upgraded)->env[0], ==, "LEVEL=user");
  g_assert_cmpuint (pd_plugin_record_get_updated (upgraded), >, created);
  /* the old record is untouched so far */
  g_assert_cmpstr (pd_plugin_record_get_reference (old), ==, "docker.io/test/plugin:1");
  g_assert_cmpstr (pd_plugin_record_get_settings (old)->env[0], ==, "LEVEL=low");

  /* a disabled plugin stays disabled */
  {
    g_autoptr(PdPluginRecord) disabled = pd_plugin_record_new (ID_B, "b:latest", NULL,
                                                               store_config ("b", "b"), NULL,
                                                               NULL, NULL);
    g_autoptr(PdPluginRecord) disabled_upgraded =
      pd_plugin_record_new_upgraded (disabled, NULL, store_config ("b2", "b2"), NULL, NULL, NULL,
                                     pd_plugin_settings_copy (settings));

    g_assert_false (pd_plugin_record_get_enabled (disabled_upgraded));
    g_assert_cmpstr (pd_plugin_record_get_id (disabled_upgraded), ==, ID_B);
  }

  /* take_image: the live record gets the image, config and settings, as copies */
  g_signal_connect (old, "notify", G_CALLBACK (count_notify), notified);
  pd_plugin_record_take_image (old, upgraded);
  g_clear_object (&upgraded);
  g_assert_cmpstr (pd_plugin_record_get_id (old), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (old), ==, "test/plugin:latest");
  g_assert_true (pd_plugin_record_get_enabled (old));
  g_assert_cmpuint (pd_plugin_record_get_created (old), ==, created);
  g_assert_cmpstr (pd_plugin_record_get_reference (old), ==, "docker.io/test/plugin:2");
  g_assert_cmpstr (pd_plugin_record_get_config (old)->description, ==, "version 2");
  g_assert_cmpstr (pd_plugin_record_get_config (old)->env->len > 0
                     ? ((PdConfigEnv *) pd_plugin_record_get_config (old)->env->pdata[0])->value
                     : NULL, ==, "high");
  g_assert_cmpstr (pd_plugin_record_get_config_digest (old), ==, DIGEST_4);
  g_assert_cmpstr (pd_plugin_record_get_manifest_digest (old), ==, DIGEST_5);
  assert_strv ((char **) pd_plugin_record_get_layer_digests (old),
               (const char *const []) { DIGEST_6, DIGEST_1, NULL });
  taken_settings = pd_plugin_record_get_settings (old);
  g_assert_cmpstr (taken_settings->env[0], ==, "LEVEL=user");
  g_assert_cmpuint (pd_plugin_record_get_updated (old), >, created);
  /* the D-Bus layer follows settings and updated */
  g_assert_true (g_ptr_array_find_with_equal_func (notified, "settings", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (notified, "updated", g_str_equal, NULL));
}

/* a layer the manifest says is larger than MaxArchiveBytes is refused before any download (the
 * registry here is a closed port: asking it would be a RegistryError) and stores nothing */
static void
test_store_layer_too_large (StoreFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();
  g_autoptr(PdReference) ref = pd_reference_parse ("127.0.0.1:1/test/plugin:latest", &error);
  g_autoptr(PdRegistryClient) client = NULL;
  g_autoptr(PdRemotePlugin) remote = g_new0 (PdRemotePlugin, 1);
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *staging = pd_store_create_staging_dir (f->store, &error);
  g_autofree char *blobs = g_build_filename (f->state_dir, "blobs", "sha256", NULL);
  g_autoptr(GDir) dir = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();
  PdArchiveLimits limits;

  g_assert_no_error (error);
  client = pd_registry_client_new (config, ref, NULL, FALSE, &error);
  g_assert_no_error (error);
  remote->config = store_config ("big", "low");
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

  g_assert_false (pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                                        pd_archive_get_helper_path (), &limits, NULL, pinned,
                                        NULL, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_assert_nonnull (strstr (message_of (error), DIGEST_2));
  g_assert_cmpuint (pinned->len, ==, 0);
  dir = g_dir_open (blobs, 0, NULL);
  g_assert_nonnull (dir);
  g_assert_null (g_dir_read_name (dir));
  pd_fetch_table_free (fetches);
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *name;
    TestFilter filter;
  } filters[] = {
    { "plain", FILTER_NONE },
    { "gzip", FILTER_GZIP },
    { "xz", FILTER_XZ },
    { "zstd", FILTER_ZSTD },
  };

  g_test_init (&argc, &argv, NULL);
  /* a failed assertion fails its test, and the others still run: a bug found by one test
   * does not hide what the rest would find */
  g_test_set_nonfatal_assertions ();

  for (gsize i = 0; i < G_N_ELEMENTS (filters); i++)
    {
      g_autofree char *good = g_strdup_printf ("/pull/layer/good/%s", filters[i].name);
      g_autofree char *padding = g_strdup_printf ("/pull/layer/padding/%s", filters[i].name);

      g_test_add (good, Fixture, GINT_TO_POINTER (filters[i].filter), fixture_setup,
                  test_layer_good, fixture_teardown);
      g_test_add (padding, Fixture, GINT_TO_POINTER (filters[i].filter), fixture_setup,
                  test_layer_padding, fixture_teardown);
    }
  g_test_add ("/pull/layer/check-only", Fixture, NULL, fixture_setup, test_layer_check_only,
              fixture_teardown);
  g_test_add ("/pull/layer/read-sizes", Fixture, NULL, fixture_setup, test_layer_read_sizes,
              fixture_teardown);
  g_test_add ("/pull/layer/diff-id", Fixture, NULL, fixture_setup, test_layer_diff_id,
              fixture_teardown);
  g_test_add ("/pull/layer/empty", Fixture, NULL, fixture_setup, test_layer_empty,
              fixture_teardown);
  g_test_add ("/pull/layers/two", Fixture, NULL, fixture_setup, test_layers_two,
              fixture_teardown);
  g_test_add ("/pull/layers/three", Fixture, NULL, fixture_setup, test_layers_three,
              fixture_teardown);
  g_test_add ("/pull/layers/wrong-diff-id", Fixture, NULL, fixture_setup,
              test_layers_wrong_diff_id, fixture_teardown);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/pull/layer/bad/%s", bad_cases[i].name);
      g_test_add (path, Fixture, &bad_cases[i], fixture_setup, test_layer_bad, fixture_teardown);
    }
  g_test_add ("/pull/layer/read-error/first", Fixture, GSIZE_TO_POINTER (0), fixture_setup,
              test_read_error, fixture_teardown);
  g_test_add ("/pull/layer/read-error/midway", Fixture, GSIZE_TO_POINTER (300 * 1024),
              fixture_setup, test_read_error, fixture_teardown);
  for (gsize i = 0; i < G_N_ELEMENTS (filters); i++)
    {
      g_autofree char *path = g_strdup_printf ("/pull/layer/read-error/at-end-%s",
                                               filters[i].name);
      g_test_add (path, Fixture, GINT_TO_POINTER (filters[i].filter), fixture_setup,
                  test_read_error_at_end, fixture_teardown);
    }
  g_test_add ("/pull/layer/cancel/before", Fixture, NULL, fixture_setup, test_cancel_before,
              fixture_teardown);
  g_test_add ("/pull/layer/cancel/midway-plain", Fixture, GINT_TO_POINTER (FILTER_NONE),
              fixture_setup, test_cancel_midway, fixture_teardown);
  g_test_add ("/pull/layer/cancel/midway-xz", Fixture, GINT_TO_POINTER (FILTER_XZ),
              fixture_setup, test_cancel_midway, fixture_teardown);

  g_test_add_func ("/pull/settings-merge/all", test_merge);
  g_test_add_func ("/pull/settings-merge/args", test_merge_args);

  g_test_add ("/pull/daemon-config/missing", ConfFixture, NULL, conf_setup, test_conf_missing,
              conf_teardown);
  g_test_add ("/pull/daemon-config/lists", ConfFixture, NULL, conf_setup, test_conf_lists,
              conf_teardown);
  g_test_add ("/pull/daemon-config/empty-lists", ConfFixture, NULL, conf_setup,
              test_conf_empty_lists, conf_teardown);
  g_test_add ("/pull/daemon-config/max-jobs-range", ConfFixture, NULL, conf_setup,
              test_conf_max_jobs_range, conf_teardown);
  g_test_add ("/pull/daemon-config/unreadable", ConfFixture, NULL, conf_setup,
              test_conf_unreadable, conf_teardown);
  for (gsize i = 0; i < G_N_ELEMENTS (conf_bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/pull/daemon-config/bad/%s",
                                               conf_bad_cases[i].name);
      g_test_add (path, ConfFixture, &conf_bad_cases[i], conf_setup, test_conf_bad,
                  conf_teardown);
    }

  g_test_add ("/pull/store/commit-upgrade", StoreFixture, NULL, store_setup,
              test_store_commit_upgrade, store_teardown);
  g_test_add ("/pull/store/commit-upgrade-missing", StoreFixture, NULL, store_setup,
              test_store_commit_upgrade_missing, store_teardown);
  g_test_add ("/pull/store/pin-existing", StoreFixture, NULL, store_setup,
              test_store_pin_existing, store_teardown);
  g_test_add ("/pull/store/layer-too-large", StoreFixture, NULL, store_setup,
              test_store_layer_too_large, store_teardown);
  g_test_add_func ("/pull/record/upgraded", test_record_upgraded);

  return g_test_run ();
}
