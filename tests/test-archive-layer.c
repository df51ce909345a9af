/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layers of a pull (pd_archive_apply_layer () in pd-archive.c), without a network: applied
 * through the confined helper one after the other (compressions, diff_ids, whiteouts across
 * layers, unsafe entries, limits, cancellation, the read function's errors), or only checked.
 * Layers are built in memory with libarchive's writer.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-archive-layer"

#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pd-archive.h"
#include "pd-error.h"
#include "pd-test-store.h"
#include "pd-test-utils.h"

#define DIGEST_WRONG "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define ESCAPE_NAME "pd-escape-test-pull"

/* section: building layers */

/* a tar; @padded: libarchive's default 10240-byte blocks (what tar(1) writes), else it ends
 * right after the two end-of-archive blocks; files given by size hold 'z's */
static GBytes *
build_tar (const PdTestEntry *entries, gboolean padded)
{
  const PdTestTarOptions options = { FILTER_NONE, padded, 'z', TRUE };

  return pd_test_build_tar (entries, &options);
}

static GBytes *
build_layer (const PdTestEntry *entries, PdTestFilter filter, char **diff_id)
{
  const PdTestTarOptions options = { filter, FALSE, 'z', TRUE };

  return pd_test_build_layer (entries, &options, diff_id);
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
  /* after the data, waits (as a download from a registry that stalls) until the cancellable
   * is cancelled, or 20 s, which fails the test */
  gboolean stall_at_end;
  gboolean waited;
  gboolean cancelled;
} MemReader;

static gssize
stall (MemReader *r, GCancellable *cancellable, GError **error)
{
  GPollFD pollfd;

  r->waited = TRUE;
  g_assert_nonnull (cancellable);
  g_assert_true (g_cancellable_make_pollfd (cancellable, &pollfd));
  g_poll (&pollfd, 1, 20000);
  g_cancellable_release_fd (cancellable);
  r->cancelled = g_cancellable_is_cancelled (cancellable);
  if (!g_cancellable_set_error_if_cancelled (cancellable, error))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the stalled read was never cancelled");
  return -1;
}

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
  if (r->stall_at_end && r->offset == len)
    return stall (r, cancellable, error);
  n = MIN (count, len - r->offset);
  if (r->chunk > 0)
    n = MIN (n, r->chunk);
  if (n > 0)
    memcpy (buffer, data + r->offset, n);
  r->offset += n;
  return (gssize) n;
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
  g_autofree char *keep = NULL;

  f->base = pd_test_make_tmp_dir ("test-archive-layer-XXXXXX");
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
  g_autofree char *outside = pd_test_list_tree (f->outside);
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
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  assert_contained (f);
  pd_test_rm_rf (f->base);
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
apply_ok (Fixture *f, const PdTestEntry *entries, PdTestFilter filter)
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
  g_autofree char *actual = pd_test_list_tree (f->rootfs);

  g_assert_cmpstr (actual, ==, expected);
}

/* section: one layer */

static const PdTestEntry good_layer[] = {
  { T_DIR, "bin" },
  { T_FILE, "bin/tool", NULL, 0755, "#!tool" },
  /* setuid and setgid are stripped; the sticky bit stays */
  { T_FILE, "bin/suid", NULL, 04755, "S" },
  { T_FILE, "bin/sgid", NULL, 02711, "G" },
  { T_DIR, "tmp", NULL, 01777 },
  { T_DIR, "shared", NULL, 02775 },
  { T_DIR, "etc" },
  { T_FILE, "etc/conf", NULL, 0640, "conf" },
  { T_HARDLINK, "etc/conf-link", "etc/conf" },
  { T_SYMLINK, "tool", "bin/tool" },
  { T_SYMLINK, "abs", "/etc/passwd" },
  /* device nodes are dropped, their directory stays; FIFOs stay */
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
  "dev/fifo p644\n" \
  "etc d755\n" \
  "etc/conf f640 conf\n" \
  "etc/conf-link f640 conf\n" \
  "shared d775\n" \
  "tmp d1777\n" \
  "tool l ->bin/tool\n"

static void
test_layer_good (Fixture *f, gconstpointer data)
{
  PdTestFilter filter = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) plain = build_tar (good_layer, FALSE);
  g_autoptr(GBytes) layer = pd_test_compress (plain, filter);
  g_autofree char *diff_id = pd_test_digest (plain);
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
  g_autofree char *compressed_digest = pd_test_digest (layer);
  guint64 size = 0;

  /* the digest of the compressed blob is not the diff_id */
  g_assert_false (apply (f, layer, compressed_digest, NULL, &size, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (pd_test_message_of (error), diff_id));
  g_assert_nonnull (strstr (pd_test_message_of (error), compressed_digest));
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
  PdTestFilter filter = GPOINTER_TO_INT (data);
  static const PdTestEntry entries[] = {
    { T_FILE, "file", NULL, 0, "padded" },
    { T_END },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) tight = build_tar (entries, FALSE);
  g_autoptr(GBytes) blocked = build_tar (entries, TRUE);
  /* and then some, not even a multiple of 512 */
  g_autoptr(GBytes) padded = concat_zeros (blocked, 3000);
  gsize tight_len = g_bytes_get_size (tight);
  g_autoptr(GBytes) layer = pd_test_compress (padded, filter);
  g_autofree char *tight_digest = pd_test_digest (tight);
  g_autofree char *blocked_digest = pd_test_digest (blocked);
  g_autofree char *padded_digest = pd_test_digest (padded);
  guint64 size = 0;

  /* the same tar, three lengths */
  g_assert_cmpuint (tight_len % 512, ==, 0);
  g_assert_cmpuint (tight_len, <, 10240);
  g_assert_cmpuint (g_bytes_get_size (blocked), ==, 10240);
  g_assert_cmpmem (g_bytes_get_data (tight, NULL), tight_len, g_bytes_get_data (padded, NULL),
                   tight_len);

  g_assert_false (apply (f, layer, tight_digest, NULL, NULL, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (pd_test_message_of (error), padded_digest));
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
  static const PdTestEntry entries[] = { { T_END } };
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

static const PdTestEntry layer1[] = {
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

static const PdTestEntry layer2[] = {
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

static const PdTestEntry layer3[] = {
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
  g_assert_nonnull (strstr (pd_test_message_of (error), diff_id));
  g_assert_nonnull (strstr (pd_test_message_of (error), DIGEST_WRONG));
  g_assert_cmpuint (reader.offset, ==, g_bytes_get_size (second));
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
}

/* section: refused layers */

typedef GBytes *(*LayerBuilder) (void);

typedef struct {
  const char *name;
  const PdTestEntry *entries;
  PdTestFilter filter;
  LayerBuilder build;
  PdError code;
  const char *message;   /* a substring of the error message, or NULL */
  PdArchiveLimits limits; /* zeros: the defaults */
} BadCase;

static const PdTestEntry *
make_many (guint n, gsize size)
{
  PdTestEntry *entries = g_new0 (PdTestEntry, n + 1);

  for (guint i = 0; i < n; i++)
    entries[i] = (PdTestEntry) { T_FILE, g_strdup_printf ("f%u", i), NULL, 0, NULL, size };
  return entries;
}

static void
free_many (const PdTestEntry *entries, guint n)
{
  for (guint i = 0; i < n; i++)
    g_free ((char *) entries[i].name);
  g_free ((PdTestEntry *) entries);
}

static GBytes *
build_many_entries (void)
{
  const PdTestEntry *entries = make_many (20, 1);
  GBytes *tar = build_tar (entries, FALSE);

  free_many (entries, 20);
  return tar;
}

/* each file under the cap, together over it */
static GBytes *
build_many_bytes (void)
{
  const PdTestEntry *entries = make_many (8, 64 * 1024);
  g_autoptr(GBytes) tar = build_tar (entries, FALSE);

  free_many (entries, 8);
  return pd_test_compress (tar, FILTER_ZSTD);
}

/* one file of 16 MiB that compresses to almost nothing */
static GBytes *
build_bomb (void)
{
  static const PdTestEntry entries[] = {
    { T_FILE, "bomb", NULL, 0, NULL, 16 * 1024 * 1024 },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FALSE);

  return pd_test_compress (tar, FILTER_GZIP);
}

static GBytes *
build_deep (void)
{
  g_autoptr(GString) name = g_string_new ("d");
  PdTestEntry entries[] = { { T_FILE, NULL, NULL, 0, "deep" }, { T_END } };

  for (guint i = 0; i < 9; i++)
    g_string_append (name, "/d");
  entries[0].name = name->str;
  return build_tar (entries, FALSE);
}

/* a small tar followed by @n_zeros zero bytes after its end-of-archive blocks */
static GBytes *
build_trailing_zeros (gsize n_zeros, PdTestFilter filter)
{
  static const PdTestEntry entries[] = {
    { T_FILE, "small", NULL, 0, "small" },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FALSE);
  g_autoptr(GBytes) padded = concat_zeros (tar, n_zeros);

  return pd_test_compress (padded, filter);
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
  static const PdTestEntry entries[] = {
    { T_FILE, "big", NULL, 0, NULL, 100000 },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FALSE);

  return g_bytes_new_from_bytes (tar, 0, 2 * 512 + 50000);
}

static const BadCase bad_cases[] = {
  { "whiteout-plnk", ENTRIES ({ T_FILE, "ok", NULL, 0, "ok" }, { T_FILE, ".wh..wh.plnk" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-plnk-dir", ENTRIES ({ T_DIR, "d" }, { T_FILE, "d/.wh..wh.plnk" }),
    FILTER_GZIP, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-aufs", ENTRIES ({ T_DIR, "d" }, { T_FILE, "d/.wh..wh.aufs" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-empty", ENTRIES ({ T_FILE, ".wh." }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-empty-dir", ENTRIES ({ T_DIR, "d" }, { T_FILE, "d/.wh." }),
    FILTER_ZSTD, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-dot", ENTRIES ({ T_FILE, ".wh.." }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-dotdot", ENTRIES ({ T_FILE, ".wh..." }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid whiteout" },
  { "whiteout-through-symlink", ENTRIES ({ T_SYMLINK, "s", "/etc" }, { T_FILE, "s/.wh.passwd" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "opaque-through-symlink", ENTRIES ({ T_SYMLINK, "s", "../outside" },
                                       { T_FILE, "s/.wh..wh..opq" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "dotdot", ENTRIES ({ T_DIR, "a" }, { T_FILE, "a/../../" ESCAPE_NAME, NULL, 0, "pwned" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "\"..\"" },
  { "dotdot-whiteout", ENTRIES ({ T_FILE, "../outside/.wh.keep" }),
    FILTER_GZIP, NULL, PD_ERROR_INVALID_ARCHIVE, "\"..\"" },
  { "absolute", ENTRIES ({ T_FILE, "/tmp/" ESCAPE_NAME, NULL, 0, "pwned" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "absolute" },
  { "hardlink-absolute", ENTRIES ({ T_HARDLINK, "passwd", "/etc/passwd" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid target" },
  { "hardlink-dotdot", ENTRIES ({ T_HARDLINK, "keep", "../outside/keep" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "invalid target" },
  { "symlink-write-through", ENTRIES ({ T_SYMLINK, "etc", "/etc" },
                                      { T_FILE, "etc/" ESCAPE_NAME, NULL, 0, "pwned" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "inside a symlink" },
  { "symlink-dir-through", ENTRIES ({ T_SYMLINK, "up", "../../outside" }, { T_DIR, "up/sub" }),
    FILTER_XZ, NULL, PD_ERROR_INVALID_ARCHIVE, "inside a symlink" },
  { "symlink-deep-through", ENTRIES ({ T_DIR, "a" }, { T_SYMLINK, "a/b", "/tmp" },
                                     { T_FILE, "a/b/c/" ESCAPE_NAME, NULL, 0, "pwned" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "inside a symlink" },
  /* the chmod through the hard link that CVE-2021-32760 is about */
  { "hardlink-to-symlink", ENTRIES ({ T_SYMLINK, "shadow", "/etc/shadow" },
                                    { T_HARDLINK, "h", "shadow" }, { T_FILE, "h", NULL, 0777, "" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "hardlink-through-symlink", ENTRIES ({ T_SYMLINK, "e", "/etc" },
                                         { T_HARDLINK, "p", "e/passwd" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "root-not-dir", ENTRIES ({ T_FILE, ".", NULL, 0, "not a dir" }),
    FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "not a directory" },
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
  g_test_message ("%s: %s", c->name, pd_test_message_of (error));
  g_assert_error (error, PD_ERROR, (gint) c->code);
  if (c->message != NULL)
    g_assert_nonnull (strstr (pd_test_message_of (error), c->message));
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
  g_autoptr(GBytes) layer = pd_test_compress (plain, FILTER_GZIP);
  g_autofree char *diff_id = pd_test_digest (plain);
  static const PdTestEntry escaping[] = {
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
  static const PdTestEntry entries[] = {
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
  g_assert_cmpstr (pd_test_message_of (error), ==, read_error->message);
  g_assert_true (reader.failed);
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
}

/* The read that would return the end fails, as a blob stream's verifying read does when the
 * registry sent other bytes than the digest says (pd_blob_stream_read ()): that error must
 * come back as it is, whatever the compression, or a pull would store and use a blob that
 * was never verified. A registry error keeps its PD_ERROR code too. */
static void
test_read_error_at_end (Fixture *f, gconstpointer data)
{
  PdTestFilter filter = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) read_error = g_error_new_literal (PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                                                      "blob sha256:…: the registry sent junk");
  g_autoptr(GBytes) plain = build_big_layer ();
  g_autoptr(GBytes) layer = pd_test_compress (plain, filter);
  /* the read that would return the end fails, as a blob stream's verifying read does */
  MemReader reader = { .data = layer, .chunk = 4096, .fail_with = read_error,
                       .fail_at = g_bytes_get_size (layer) };

  gboolean ok = apply_full (f, &reader, NULL, NULL, NULL, NULL, &error);

  /* every byte was read, and then the read for the end was made */
  g_assert_cmpuint (reader.offset, ==, g_bytes_get_size (layer));
  g_assert_true (reader.failed);
  g_assert_false (ok);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_cmpstr (pd_test_message_of (error), ==, read_error->message);
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
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
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
}

static void
test_cancel_midway (Fixture *f, gconstpointer data)
{
  PdTestFilter filter = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GBytes) plain = build_big_layer ();
  g_autoptr(GBytes) layer = pd_test_compress (plain, filter);
  MemReader reader = { .data = layer, .chunk = 512, .cancel = cancellable,
                       .cancel_at = g_bytes_get_size (layer) / 3 };

  g_assert_false (apply_full (f, &reader, NULL, NULL, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (g_cancellable_is_cancelled (cancellable));
  /* it stopped reading well before the end */
  g_assert_cmpuint (reader.offset, <, g_bytes_get_size (layer));
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
}

/* The tar side finds an unsafe entry while the read function waits for more of the layer:
 * the verdict is the entry's, at once, and the wait ends (its cancellable is cancelled): a
 * stalled download never holds up, nor replaces, a verdict on the bytes already received. */
static void
test_stalled_read (Fixture *f, gconstpointer data)
{
  PdTestFilter filter = GPOINTER_TO_INT (data);
  static const PdTestEntry entries[] = {
    { T_DIR, "a" },
    { T_FILE, "a/../../" ESCAPE_NAME, NULL, 0, "pwned" },
    { T_END },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) layer = build_layer (entries, filter, NULL);
  MemReader reader = { .data = layer, .stall_at_end = TRUE };

  g_assert_false (apply_full (f, &reader, NULL, NULL, NULL, NULL, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE);
  g_assert_nonnull (strstr (error->message, "\"..\""));
  /* every byte was read; a wait for more (if the decompressing side got to it before it was
   * stopped) was cancelled, not given up after its 20 s */
  g_assert_cmpuint (reader.offset, ==, g_bytes_get_size (layer));
  g_assert_true (!reader.waited || reader.cancelled);
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
}

/* section: disk usage */

/* a staged rootfs's usage as pd_store_get_staging_disk_usage () gives it right after the layer,
 * with a file of @extra bytes added behind the helper's back (which only a walk sees) */
static guint64
staging_usage_with_extra (PdStore *store, const char *staging, gsize extra)
{
  g_autofree char *path = g_build_filename (staging, "rootfs", "extra", NULL);
  g_autofree char *data = g_malloc0 (extra);
  guint64 usage;

  g_assert_true (g_file_set_contents (path, data, (gssize) extra, NULL));
  usage = pd_store_get_staging_disk_usage (store, staging);
  g_assert_cmpint (g_unlink (path), ==, 0);
  return usage;
}

static void
apply_to_staging (const char *staging, GBytes *layer, const char *diff_id)
{
  g_autoptr(GError) error = NULL;
  MemReader reader = { .data = layer, .chunk = 65536 };

  g_assert_true (pd_archive_apply_layer (mem_read, &reader, diff_id, staging,
                                         pd_archive_get_helper_path (), NULL, NULL, NULL, &error));
  g_assert_no_error (error);
}

/* the helper counts a first layer's rootfs as it writes it, and its count is the walk's (du -s:
 * allocated blocks, a hard-linked file once, symlinks not followed); a layer over it cannot
 * count the whole rootfs, and the tree is walked again */
static void
test_layer_disk_usage (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *state = g_build_filename (f->base, "state", NULL);
  g_autoptr(PdStore) store = pd_test_open_store (state);
  g_autofree char *staging = pd_store_create_staging_dir (store, &error);
  g_autofree char *long_target = g_strnfill (300, 'l');
  g_autoptr(GArray) entries = g_array_new (TRUE, TRUE, sizeof (PdTestEntry));
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const PdTestEntry fixed[] = {
    { T_DIR, "usr" },
    { T_DIR, "usr/lib" },
    { T_FILE, "usr/lib/big", NULL, 0, NULL, 300000, TRUE },
    { T_FILE, "usr/lib/small", NULL, 0, "x" },
    { T_HARDLINK, "usr/lib/big-link", "usr/lib/big" },
    { T_FILE, "empty" },
    { T_SYMLINK, "short", "usr" },
    { T_SYMLINK, "long", long_target },
    { T_FIFO, "fifo" },
    /* parents that have no entry of their own */
    { T_FILE, "implicit/parent/f", NULL, 0, NULL, 5000 },
  };
  g_autoptr(GBytes) first = NULL;
  g_autoptr(GBytes) second = NULL;
  g_autofree char *first_id = NULL;
  g_autofree char *second_id = NULL;
  guint64 reported, walked, after, walked_after;

  g_assert_no_error (error);
  g_array_append_vals (entries, fixed, G_N_ELEMENTS (fixed));
  /* a directory of many entries, more than one block on most file systems */
  g_array_append_val (entries, ((PdTestEntry) { T_DIR, "many" }));
  for (guint i = 0; i < 300; i++)
    {
      PdTestEntry entry = { T_FILE, NULL, NULL, 0, NULL, i * 37 };

      g_ptr_array_add (names, g_strdup_printf ("many/a-rather-long-file-name-%04u", i));
      entry.name = g_ptr_array_index (names, names->len - 1);
      g_array_append_val (entries, entry);
    }
  first = build_layer ((const PdTestEntry *) (gpointer) entries->data, FILTER_GZIP, &first_id);
  apply_to_staging (staging, first, first_id);
  /* the first call gives the helper's count, which the extra file cannot be part of */
  reported = staging_usage_with_extra (store, staging, 50000);
  walked = pd_store_get_staging_disk_usage (store, staging);
  g_assert_cmpuint (reported, >, 300000);
  g_assert_cmpuint (reported, ==, walked);

  second = build_layer (ENTRIES ({ T_FILE, "usr/lib/.wh.small" },
                                 { T_FILE, "usr/lib/new", NULL, 0, NULL, 20000 }),
                        FILTER_GZIP, &second_id);
  apply_to_staging (staging, second, second_id);
  /* walked: the extra file counts */
  after = staging_usage_with_extra (store, staging, 50000);
  walked_after = pd_store_get_staging_disk_usage (store, staging);
  g_assert_cmpuint (after, >, walked_after);
  g_assert_cmpuint (walked_after, >, walked);

  g_assert_true (pd_store_discard_staging_dir (store, staging, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  /* every compression a registry may use */
  for (PdTestFilter filter = FILTER_NONE; filter <= FILTER_ZSTD; filter++)
    {
      const char *name = pd_test_filter_name (filter);
      g_autofree char *good = g_strdup_printf ("/archive-layer/good/%s", name);
      g_autofree char *padding = g_strdup_printf ("/archive-layer/padding/%s", name);
      g_autofree char *at_end = g_strdup_printf ("/archive-layer/read-error/at-end-%s", name);

      g_test_add (good, Fixture, GINT_TO_POINTER (filter), fixture_setup, test_layer_good,
                  fixture_teardown);
      g_test_add (padding, Fixture, GINT_TO_POINTER (filter), fixture_setup, test_layer_padding,
                  fixture_teardown);
      g_test_add (at_end, Fixture, GINT_TO_POINTER (filter), fixture_setup,
                  test_read_error_at_end, fixture_teardown);
    }
  PD_TEST_ADD ("/archive-layer/check-only", test_layer_check_only);
  PD_TEST_ADD ("/archive-layer/read-sizes", test_layer_read_sizes);
  PD_TEST_ADD ("/archive-layer/diff-id", test_layer_diff_id);
  PD_TEST_ADD ("/archive-layer/empty", test_layer_empty);
  PD_TEST_ADD ("/archive-layer/disk-usage", test_layer_disk_usage);
  PD_TEST_ADD ("/archive-layer/layers/two", test_layers_two);
  PD_TEST_ADD ("/archive-layer/layers/three", test_layers_three);
  PD_TEST_ADD ("/archive-layer/layers/wrong-diff-id", test_layers_wrong_diff_id);
  PD_TEST_ADD ("/archive-layer/cancel/before", test_cancel_before);
  /* a read that fails at the first byte, and one in the middle of a file */
  g_test_add ("/archive-layer/read-error/first", Fixture, GSIZE_TO_POINTER (0), fixture_setup,
              test_read_error, fixture_teardown);
  g_test_add ("/archive-layer/read-error/midway", Fixture, GSIZE_TO_POINTER (300 * 1024),
              fixture_setup, test_read_error, fixture_teardown);
  g_test_add ("/archive-layer/cancel/midway-plain", Fixture, GINT_TO_POINTER (FILTER_NONE),
              fixture_setup, test_cancel_midway, fixture_teardown);
  g_test_add ("/archive-layer/cancel/midway-xz", Fixture, GINT_TO_POINTER (FILTER_XZ),
              fixture_setup, test_cancel_midway, fixture_teardown);
  g_test_add ("/archive-layer/stalled-read/gzip", Fixture, GINT_TO_POINTER (FILTER_GZIP),
              fixture_setup, test_stalled_read, fixture_teardown);
  g_test_add ("/archive-layer/stalled-read/plain", Fixture, GINT_TO_POINTER (FILTER_NONE),
              fixture_setup, test_stalled_read, fixture_teardown);
  PD_TEST_ADD_CASES ("/archive-layer/bad", bad_cases, name, test_layer_bad);

  return pd_test_run_nonfatal ();
}
