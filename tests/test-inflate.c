/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pd_gunzip: the zlib and the ISA-L inflater of gzip layers give the same bytes and the same
 * verdicts, on good streams fed and drained in pieces of every size, multi-member streams,
 * headers with every optional field, and on bad checksums, lengths, truncations, garbage and
 * trailing bytes. In a build without ISA-L both runs use zlib (pd_gunzip_new () falls back). */
#include "config.h"

#include <string.h>

#include <zlib.h>

#include "pd-error.h"
#include "pd-inflate.h"
#include "pd-test-utils.h"

/* gzip header flags (RFC 1952) */
#define FHCRC 0x02
#define FEXTRA 0x04
#define FNAME 0x08
#define FCOMMENT 0x10

static void
put_le32 (GByteArray *out, guint32 v)
{
  guint8 b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff };

  g_byte_array_append (out, b, 4);
}

/* one gzip member of @data with the optional header fields of @flags, appended to @out */
static void
append_member (GByteArray *out, const guint8 *data, gsize len, guint8 flags, int level)
{
  guint8 header[10] = { 0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 3 };
  guint start = out->len;
  z_stream z = { 0 };
  gsize bound;
  guint8 *deflated;

  g_byte_array_append (out, header, sizeof header);
  if ((flags & FEXTRA) != 0)
    {
      static const guint8 extra[] = { 6, 0, 'A', 'B', 2, 0, 'x', 'y' };
      g_byte_array_append (out, extra, sizeof extra);
    }
  if ((flags & FNAME) != 0)
    g_byte_array_append (out, (const guint8 *) "layer.tar", sizeof "layer.tar");
  if ((flags & FCOMMENT) != 0)
    g_byte_array_append (out, (const guint8 *) "a comment", sizeof "a comment");
  if ((flags & FHCRC) != 0)
    {
      guint32 crc = (guint32) crc32 (0, out->data + start, out->len - start);
      guint8 b[2] = { crc & 0xff, (crc >> 8) & 0xff };
      g_byte_array_append (out, b, 2);
    }

  g_assert_cmpint (deflateInit2 (&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
  bound = deflateBound (&z, len);
  deflated = g_malloc (bound);
  z.next_in = (Bytef *) data;
  z.avail_in = (uInt) len;
  z.next_out = deflated;
  z.avail_out = (uInt) bound;
  g_assert_cmpint (deflate (&z, Z_FINISH), ==, Z_STREAM_END);
  g_byte_array_append (out, deflated, (guint) (bound - z.avail_out));
  deflateEnd (&z);
  g_free (deflated);

  put_le32 (out, (guint32) crc32 (0, data, (uInt) len));
  put_le32 (out, (guint32) len);
}

/* text and random bytes mixed, as a layer's files are */
static GBytes *
make_plain (gsize len, guint32 seed)
{
  GByteArray *out = g_byte_array_sized_new ((guint) len);
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  static const char text[] = "#!/bin/sh\nexec /usr/bin/plugin --socket /run/docker/plugins/x.sock\n";

  while (out->len < len)
    {
      /* MIN () evaluates its arguments twice */
      gsize want = (gsize) g_rand_int_range (rand, 1, 3000);
      gsize n = MIN (len - out->len, want);

      guint start = out->len;

      g_byte_array_set_size (out, start + (guint) n);
      if (g_rand_boolean (rand))
        for (gsize i = 0; i < n; i++)
          out->data[start + i] = (guint8) g_rand_int_range (rand, 0, 256);
      else
        for (gsize i = 0; i < n; i++)
          out->data[start + i] = (guint8) text[i % (sizeof text - 1)];
    }
  return g_byte_array_free_to_bytes (out);
}

typedef struct {
  GByteArray *output;
  GError *error;
} Result;

static void
result_clear (Result *r)
{
  g_clear_pointer (&r->output, g_byte_array_unref);
  g_clear_error (&r->error);
}

/* the whole stream through one backend, fed @in_piece bytes at a time, drained @out_piece
 * bytes at a time (as pd-archive.c does, with smaller pieces) */
static void
run (PdInflateBackend backend, const guint8 *data, gsize len, gsize in_piece, gsize out_piece,
     Result *r)
{
  g_autoptr(PdGunzip) gz = pd_gunzip_new (backend);
  g_autofree guint8 *out = g_malloc (out_piece);
  gsize pos = 0;
  gboolean ended = FALSE;

  r->output = g_byte_array_new ();
  r->error = NULL;
  for (guint rounds = 0;; rounds++)
    {
      gssize n;

      /* no spinning: every call consumes or produces something, or ends */
      g_assert_cmpuint (rounds, <, 4 * (len + 1) + 64 * 1024 * 1024 / out_piece);
      if (pd_gunzip_needs_input (gz) && !ended)
        {
          gsize piece = MIN (in_piece, len - pos);

          if (piece == 0)
            ended = TRUE;
          else
            pd_gunzip_feed (gz, data + pos, piece);
          pos += piece;
        }
      n = pd_gunzip_read (gz, out, out_piece, ended, &r->error);
      if (n < 0)
        {
          g_assert_nonnull (r->error);
          return;
        }
      g_assert_no_error (r->error);
      g_assert_cmpint (n, <=, (gssize) out_piece);
      g_byte_array_append (r->output, out, (guint) n);
      if (n == 0 && ended)
        return;
    }
}

/* both backends: the same output (@expected, if not NULL) and the same error message, or none */
static void
check_same (const guint8 *data, gsize len, gsize in_piece, gsize out_piece, GBytes *expected,
            const char *expected_error)
{
  Result zr = { 0 }, ir = { 0 };

  run (PD_INFLATE_ZLIB, data, len, in_piece, out_piece, &zr);
  run (PD_INFLATE_ISAL, data, len, in_piece, out_piece, &ir);
  if (expected_error == NULL)
    {
      g_assert_no_error (zr.error);
      g_assert_no_error (ir.error);
    }
  else
    {
      g_assert_error (zr.error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE);
      g_assert_error (ir.error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE);
      g_assert_cmpstr (zr.error->message, ==, expected_error);
      g_assert_cmpstr (ir.error->message, ==, expected_error);
    }
  if (expected != NULL)
    {
      gsize elen;
      const guint8 *e = g_bytes_get_data (expected, &elen);

      g_assert_cmpmem (zr.output->data, zr.output->len, e, elen);
    }
  /* an error may come at a different point in the output only if the bytes before it agree */
  if (expected_error == NULL)
    g_assert_cmpmem (zr.output->data, zr.output->len, ir.output->data, ir.output->len);
  result_clear (&zr);
  result_clear (&ir);
}

#define ENDS_EARLY "the gzip stream ends early"
#define CHECKSUM "the gzip stream's checksum or length does not match"
#define INVALID "invalid gzip data"
#define TRAILING "unexpected data after the gzip stream"

static void
test_backend (void)
{
  g_test_message ("ISA-L built in: %s; default: %s", pd_inflate_have_isal () ? "yes" : "no",
                  pd_inflate_backend_name (pd_inflate_default_backend ()));
  g_assert_true (pd_inflate_have_isal () == (HAVE_ISAL == 1));
  g_setenv ("PLUGIND_INFLATE", "zlib", TRUE);
  g_assert_cmpint (pd_inflate_default_backend (), ==, PD_INFLATE_ZLIB);
  g_unsetenv ("PLUGIND_INFLATE");
  g_assert_cmpint (pd_inflate_default_backend (), ==,
                   pd_inflate_have_isal () ? PD_INFLATE_ISAL : PD_INFLATE_ZLIB);
}

/* 512 KiB in one member (many deflate blocks, distances across the whole window), in pieces
 * from 1 byte to 1 MiB each way */
static void
test_good (void)
{
  g_autoptr(GBytes) plain = make_plain (512 * 1024, 1);
  g_autoptr(GByteArray) gz = g_byte_array_new ();
  static const gsize pieces[][2] = {
    { 1, 65536 }, { 65536, 1 }, { 7, 1000 }, { 4096, 4096 }, { 65536, 131072 },
    { 1024 * 1024, 1024 * 1024 },
  };

  append_member (gz, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), 0, 6);
  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++)
    {
      /* the byte-by-byte ones on a part only: seconds otherwise, under valgrind minutes */
      gsize len = pieces[i][0] == 1 || pieces[i][1] == 1 ? 8 * 1024 : gz->len;
      g_autoptr(GByteArray) small = g_byte_array_new ();

      if (len == gz->len)
        {
          check_same (gz->data, gz->len, pieces[i][0], pieces[i][1], plain, NULL);
          continue;
        }
      {
        g_autoptr(GBytes) part = g_bytes_new_from_bytes (plain, 0, len);
        append_member (small, g_bytes_get_data (part, NULL), len, 0, 6);
        check_same (small->data, small->len, pieces[i][0], pieces[i][1], part, NULL);
      }
    }
}

/* members one after the other (as concatenated layers or pigz make), an empty one among them,
 * headers with every optional field, levels 0 (stored blocks) to 9 */
static void
test_multi_member (void)
{
  g_autoptr(GBytes) plain = make_plain (200 * 1024, 2);
  const guint8 *p = g_bytes_get_data (plain, NULL);
  g_autoptr(GByteArray) gz = g_byte_array_new ();
  static const guint8 flags[] = { 0, FNAME, FEXTRA | FNAME | FCOMMENT | FHCRC, FHCRC, 0 };
  static const int levels[] = { 6, 1, 9, 0, 6 };
  static const gsize cuts[] = { 0, 50 * 1024, 50 * 1024, 150 * 1024, 199 * 1024, 200 * 1024 };

  for (guint i = 0; i < G_N_ELEMENTS (flags); i++)
    append_member (gz, p + cuts[i], cuts[i + 1] - cuts[i], flags[i], levels[i]);
  check_same (gz->data, gz->len, 4096, 65536, plain, NULL);
  check_same (gz->data, gz->len, 13, 777, plain, NULL);
}

/* a small stream cut after every byte of its header and trailer and every 29th between: always
 * "ends early", never accepted, from both */
static void
test_truncated (void)
{
  g_autoptr(GBytes) plain = make_plain (3000, 3);
  g_autoptr(GByteArray) gz = g_byte_array_new ();

  append_member (gz, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain),
                 FNAME | FHCRC, 6);
  check_same (gz->data, 0, 4096, 4096, NULL, ENDS_EARLY);
  for (gsize cut = 1; cut < gz->len;)
    {
      gboolean edge = cut < 64 || cut + 16 > gz->len;

      check_same (gz->data, cut, 4096, 4096, NULL, ENDS_EARLY);
      if (edge)
        check_same (gz->data, cut, 1, 4096, NULL, ENDS_EARLY);
      cut += edge ? 1 : 29;
    }
  check_same (gz->data, gz->len, 1, 4096, plain, NULL);
}

/* the CRC-32, the length and the header CRC are checked */
static void
test_checksums (void)
{
  g_autoptr(GBytes) plain = make_plain (100 * 1024, 4);
  g_autoptr(GByteArray) gz = g_byte_array_new ();
  /* the header CRC of FHCRC sits right after the name */
  gsize hcrc = 10 + sizeof "layer.tar";
  static const gsize from_end[] = { 8, 5, 4, 1 };

  append_member (gz, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain),
                 FNAME | FHCRC, 6);
  for (guint i = 0; i < G_N_ELEMENTS (from_end); i++)
    {
      g_autoptr(GByteArray) bad = g_byte_array_new ();

      g_byte_array_append (bad, gz->data, gz->len);
      bad->data[bad->len - from_end[i]] ^= 0x10;
      check_same (bad->data, bad->len, 4096, 65536, NULL, CHECKSUM);
    }
  gz->data[hcrc] ^= 0x01;
  check_same (gz->data, gz->len, 4096, 65536, NULL, CHECKSUM);
}

/* what follows the last member: another whole member only */
static void
test_trailing (void)
{
  g_autoptr(GBytes) plain = make_plain (4 * 1024, 5);
  g_autoptr(GByteArray) gz = g_byte_array_new ();
  static const struct {
    const char *bytes;
    gsize len;
    const char *error;
  } tails[] = {
    { "\0", 1, TRAILING },
    { "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20, TRAILING },
    { "junk after the member", 21, TRAILING },
    { "\x1f", 1, ENDS_EARLY },
    { "\x1f\x8b", 2, ENDS_EARLY },
    { "\x1f\x8b\x08\0\0\0\0\0\0\x03", 10, ENDS_EARLY },
    { "\x1f\x8b\x09\0\0\0\0\0\0\x03xxxxxxxx", 18, INVALID },
    { "\x1f\x41", 2, TRAILING },
  };

  append_member (gz, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), 0, 6);
  for (guint i = 0; i < G_N_ELEMENTS (tails); i++)
    {
      g_autoptr(GByteArray) bad = g_byte_array_new ();

      g_byte_array_append (bad, gz->data, gz->len);
      g_byte_array_append (bad, (const guint8 *) tails[i].bytes, (guint) tails[i].len);
      g_test_message ("tail %u", i);
      check_same (bad->data, bad->len, 4096, 65536, NULL, tails[i].error);
      check_same (bad->data, bad->len, 1, 65536, NULL, tails[i].error);
    }
}

/* not gzip, or gzip whose deflate data is garbage */
static void
test_garbage (void)
{
  g_autoptr(GBytes) random = make_plain (8192, 6);
  g_autoptr(GByteArray) bad = g_byte_array_new ();
  static const guint8 header[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
  /* a reserved block type (3) in the first block */
  static const guint8 btype3[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0, 0, 0, 0, 0, 0 };

  check_same ((const guint8 *) "plain tar", 9, 4096, 4096, NULL, INVALID);
  check_same (btype3, sizeof btype3, 4096, 4096, NULL, INVALID);
  g_byte_array_append (bad, header, sizeof header);
  /* a stored block whose length and its complement disagree */
  g_byte_array_append (bad, (const guint8 *) "\x01\x10\x00\x10\x00", 5);
  check_same (bad->data, bad->len, 4096, 4096, NULL, INVALID);
}

/* 100 single-bit flips all over a member's deflate data: both refuse every one, with the same
 * verdict (a flip the decoder cannot see is caught by the CRC-32) */
static void
test_bit_flips (void)
{
  g_autoptr(GBytes) plain = make_plain (20 * 1024, 7);
  g_autoptr(GByteArray) gz = g_byte_array_new ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);

  append_member (gz, g_bytes_get_data (plain, NULL), g_bytes_get_size (plain), 0, 6);
  for (guint i = 0; i < 100; i++)
    {
      g_autoptr(GByteArray) bad = g_byte_array_new ();
      gsize at = (gsize) g_rand_int_range (rand, 10, (gint32) gz->len - 8);
      Result zr = { 0 }, ir = { 0 };

      g_byte_array_append (bad, gz->data, gz->len);
      bad->data[at] ^= (guint8) (1 << g_rand_int_range (rand, 0, 8));
      run (PD_INFLATE_ZLIB, bad->data, bad->len, 4096, 65536, &zr);
      run (PD_INFLATE_ISAL, bad->data, bad->len, 4096, 65536, &ir);
      g_assert_error (zr.error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE);
      g_assert_error (ir.error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE);
      if (g_strcmp0 (zr.error->message, ir.error->message) != 0)
        g_test_message ("flip at %" G_GSIZE_FORMAT ": zlib \"%s\", isal \"%s\"", at,
                        zr.error->message, ir.error->message);
      result_clear (&zr);
      result_clear (&ir);
    }
}

/* a bomb comes out in pieces no larger than asked for: the caller's byte limit can stop it */
static void
test_bomb_pieces (void)
{
  g_autofree guint8 *zeros = g_malloc0 (16 * 1024 * 1024);
  g_autoptr(GByteArray) gz = g_byte_array_new ();

  append_member (gz, zeros, 16 * 1024 * 1024, 0, 9);
  g_assert_cmpuint (gz->len, <, 32 * 1024);
  for (PdInflateBackend b = PD_INFLATE_ZLIB; b <= PD_INFLATE_ISAL; b++)
    {
      g_autoptr(PdGunzip) dec = pd_gunzip_new (b);
      g_autoptr(GError) error = NULL;
      guint8 out[4096];
      gssize n;

      pd_gunzip_feed (dec, gz->data, gz->len);
      n = pd_gunzip_read (dec, out, sizeof out, FALSE, &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, ==, sizeof out);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/inflate/backend", test_backend);
  g_test_add_func ("/inflate/good", test_good);
  g_test_add_func ("/inflate/multi-member", test_multi_member);
  g_test_add_func ("/inflate/truncated", test_truncated);
  g_test_add_func ("/inflate/checksums", test_checksums);
  g_test_add_func ("/inflate/trailing", test_trailing);
  g_test_add_func ("/inflate/garbage", test_garbage);
  g_test_add_func ("/inflate/bit-flips", test_bit_flips);
  g_test_add_func ("/inflate/bomb-pieces", test_bomb_pieces);

  return pd_test_run_nonfatal ();
}
