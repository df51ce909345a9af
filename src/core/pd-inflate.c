/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-inflate"

#include <string.h>

#include <zlib.h>
#if HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "pd-error.h"
#include "pd-inflate.h"

/* the verdicts both backends share, so that a layer fails the same way whichever inflates it */
typedef enum {
  VERDICT_CORRUPT,
  VERDICT_CHECKSUM,
} Verdict;

struct _PdGunzip {
  PdInflateBackend backend;
  const guint8 *next_in;
  gsize avail_in;
  gboolean in_member;     /* a member was started and has not ended */
  guint64 member_in;      /* bytes of the current member consumed so far */
  guint64 members;        /* members ended */
  /* a verdict that the rest of the stream is skipped for, and given at its end: bytes that are
   * not a member after the last one, a checksum or length that does not match */
  GError *deferred;
  Verdict last_verdict;
  z_stream zstream;
  gboolean zstream_ready;
#if HAVE_ISAL
  struct inflate_state *isal;
  /* the member's header, parsed here: ISA-L 2.30 fails a header CRC (FHCRC) whose header
   * arrives in more than one piece */
  int hdr_state;
  guint hdr_pos;
  guint8 hdr_flags;
  guint32 hdr_xlen;
  guint32 hdr_crc;
  guint16 hdr_crc_read;
#endif
};

gboolean
pd_inflate_have_isal (void)
{
#if HAVE_ISAL
  return TRUE;
#else
  return FALSE;
#endif
}

const char *
pd_inflate_backend_name (PdInflateBackend backend)
{
  return backend == PD_INFLATE_ISAL ? "isal" : "zlib";
}

PdInflateBackend
pd_inflate_default_backend (void)
{
  const char *choice = g_getenv ("PLUGIND_INFLATE");

  if (!pd_inflate_have_isal () || g_strcmp0 (choice, "zlib") == 0)
    return PD_INFLATE_ZLIB;
  return PD_INFLATE_ISAL;
}

PdGunzip *
pd_gunzip_new (PdInflateBackend backend)
{
  PdGunzip *gz = g_new0 (PdGunzip, 1);

#if !HAVE_ISAL
  backend = PD_INFLATE_ZLIB;
#endif
  gz->backend = backend;
  if (backend == PD_INFLATE_ZLIB)
    {
      /* 16 + 15: gzip only (no zlib or raw deflate), with zlib checking CRC-32 and ISIZE */
      if (inflateInit2 (&gz->zstream, 16 + 15) != Z_OK)
        g_error ("cannot initialise zlib");
      gz->zstream_ready = TRUE;
    }
#if HAVE_ISAL
  else
    gz->isal = g_new0 (struct inflate_state, 1);
#endif
  return gz;
}

void
pd_gunzip_free (PdGunzip *gz)
{
  if (gz == NULL)
    return;
  if (gz->zstream_ready)
    inflateEnd (&gz->zstream);
#if HAVE_ISAL
  g_free (gz->isal);
#endif
  g_clear_error (&gz->deferred);
  g_free (gz);
}

gboolean
pd_gunzip_needs_input (PdGunzip *gz)
{
  return gz->avail_in == 0;
}

void
pd_gunzip_feed (PdGunzip *gz, const void *data, gsize len)
{
  g_return_if_fail (gz->avail_in == 0);
  gz->next_in = data;
  gz->avail_in = len;
}

static void
set_verdict (GError **error, Verdict verdict, PdGunzip *gz, const char *detail)
{
  g_debug ("%s: %s", pd_inflate_backend_name (gz->backend), detail);
  gz->last_verdict = verdict;
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "%s",
               verdict == VERDICT_CHECKSUM ? "the gzip stream's checksum or length does not match"
                                           : "invalid gzip data");
}

/* one call of the backend on what is fed; FALSE with @error on corrupt data */
static gboolean
step_zlib (PdGunzip *gz, guint8 *out, gsize out_len, gsize *consumed, gsize *produced,
           gboolean *member_ended, GError **error)
{
  /* inflate () takes uInt lengths: 64 KiB pieces are what the callers use anyway */
  uInt in_len = (uInt) MIN (gz->avail_in, G_MAXUINT32);
  uInt o_len = (uInt) MIN (out_len, G_MAXUINT32);
  int r;

  if (!gz->in_member)
    inflateReset (&gz->zstream);
  gz->zstream.next_in = (Bytef *) gz->next_in;
  gz->zstream.avail_in = in_len;
  gz->zstream.next_out = out;
  gz->zstream.avail_out = o_len;
  r = inflate (&gz->zstream, Z_NO_FLUSH);
  *consumed = in_len - gz->zstream.avail_in;
  *produced = o_len - gz->zstream.avail_out;
  *member_ended = r == Z_STREAM_END;
  if (r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR)
    return TRUE;
  if (r == Z_MEM_ERROR)
    g_error ("zlib is out of memory");
  if (r == Z_DATA_ERROR && gz->zstream.msg != NULL &&
      (strcmp (gz->zstream.msg, "incorrect data check") == 0 ||
       strcmp (gz->zstream.msg, "incorrect length check") == 0 ||
       strcmp (gz->zstream.msg, "header crc mismatch") == 0))
    set_verdict (error, VERDICT_CHECKSUM, gz, gz->zstream.msg);
  else
    set_verdict (error, VERDICT_CORRUPT, gz,
                 gz->zstream.msg != NULL ? gz->zstream.msg : "inflate failed");
  return FALSE;
}

#if HAVE_ISAL
enum {
  HDR_FIXED,    /* ID1 ID2 CM FLG MTIME(4) XFL OS */
  HDR_XLEN,
  HDR_EXTRA,
  HDR_NAME,
  HDR_COMMENT,
  HDR_HCRC,
  HDR_DONE,
};

#define FHCRC 0x02
#define FEXTRA 0x04
#define FNAME 0x08
#define FCOMMENT 0x10

/* the state after the fields that @flags does not have, from @state on */
static int
next_header_field (guint8 flags, int state)
{
  if (state <= HDR_XLEN && (flags & FEXTRA) != 0)
    return HDR_XLEN;
  if (state <= HDR_NAME && (flags & FNAME) != 0)
    return HDR_NAME;
  if (state <= HDR_COMMENT && (flags & FCOMMENT) != 0)
    return HDR_COMMENT;
  if (state <= HDR_HCRC && (flags & FHCRC) != 0)
    return HDR_HCRC;
  return HDR_DONE;
}

/* consumes header bytes of @data (RFC 1952, checked as zlib does); sets *@consumed */
static gboolean
parse_header (PdGunzip *gz, const guint8 *data, gsize len, gsize *consumed, GError **error)
{
  gsize i = 0;

  while (i < len && gz->hdr_state != HDR_DONE)
    {
      guint8 c = data[i];

      if (gz->hdr_state == HDR_HCRC)
        {
          /* not part of what it covers */
          gz->hdr_crc_read |= (guint16) (c << (8 * gz->hdr_pos));
          i++;
          if (++gz->hdr_pos == 2)
            {
              if (gz->hdr_crc_read != (gz->hdr_crc & 0xffff))
                {
                  set_verdict (error, VERDICT_CHECKSUM, gz, "header crc mismatch");
                  return FALSE;
                }
              gz->hdr_state = HDR_DONE;
            }
          continue;
        }
      gz->hdr_crc = (guint32) crc32 (gz->hdr_crc, &c, 1);
      i++;
      switch (gz->hdr_state)
        {
        case HDR_FIXED:
          if (gz->hdr_pos == 2 && c != 8)
            {
              set_verdict (error, VERDICT_CORRUPT, gz, "unknown compression method");
              return FALSE;
            }
          if (gz->hdr_pos == 3)
            {
              if ((c & 0xe0) != 0)
                {
                  set_verdict (error, VERDICT_CORRUPT, gz, "unknown header flags set");
                  return FALSE;
                }
              gz->hdr_flags = c;
            }
          if (++gz->hdr_pos == 10)
            {
              gz->hdr_pos = 0;
              gz->hdr_state = next_header_field (gz->hdr_flags, HDR_XLEN);
            }
          break;
        case HDR_XLEN:
          gz->hdr_xlen |= (guint32) c << (8 * gz->hdr_pos);
          if (++gz->hdr_pos == 2)
            {
              gz->hdr_pos = 0;
              gz->hdr_state = gz->hdr_xlen > 0 ? HDR_EXTRA
                                               : next_header_field (gz->hdr_flags, HDR_NAME);
            }
          break;
        case HDR_EXTRA:
          if (--gz->hdr_xlen == 0)
            gz->hdr_state = next_header_field (gz->hdr_flags, HDR_NAME);
          break;
        case HDR_NAME:
          if (c == 0)
            gz->hdr_state = next_header_field (gz->hdr_flags, HDR_COMMENT);
          break;
        case HDR_COMMENT:
          if (c == 0)
            gz->hdr_state = next_header_field (gz->hdr_flags, HDR_HCRC);
          break;
        default:
          g_assert_not_reached ();
        }
    }
  *consumed = i;
  return TRUE;
}

static gboolean
step_isal (PdGunzip *gz, guint8 *out, gsize out_len, gsize *consumed, gsize *produced,
           gboolean *member_ended, GError **error)
{
  struct inflate_state *st = gz->isal;
  guint32 in_len = (guint32) MIN (gz->avail_in, G_MAXUINT32);
  guint32 o_len = (guint32) MIN (out_len, G_MAXUINT32);
  int r;

  if (!gz->in_member)
    {
      gz->hdr_state = HDR_FIXED;
      gz->hdr_pos = 0;
      gz->hdr_xlen = 0;
      gz->hdr_crc = (guint32) crc32 (0, NULL, 0);
      gz->hdr_crc_read = 0;
    }
  if (gz->hdr_state != HDR_DONE)
    {
      *produced = 0;
      *member_ended = FALSE;
      if (!parse_header (gz, gz->next_in, gz->avail_in, consumed, error))
        return FALSE;
      /* then the deflate data and the trailer, whose CRC-32 and ISIZE ISA-L checks */
      if (gz->hdr_state == HDR_DONE)
        {
          isal_inflate_init (st);
          st->crc_flag = ISAL_GZIP_NO_HDR_VER;
        }
      return TRUE;
    }
  st->next_in = (guint8 *) gz->next_in;
  st->avail_in = in_len;
  st->next_out = out;
  st->avail_out = o_len;
  r = isal_inflate (st);
  *consumed = in_len - st->avail_in;
  *produced = o_len - st->avail_out;
  *member_ended = r >= 0 && st->block_state == ISAL_BLOCK_FINISH;
  if (r >= 0)
    return TRUE;
  if (r == ISAL_INCORRECT_CHECKSUM)
    set_verdict (error, VERDICT_CHECKSUM, gz, "incorrect checksum");
  else
    {
      g_autofree char *detail = g_strdup_printf ("isal_inflate: %d", r);
      set_verdict (error, VERDICT_CORRUPT, gz, detail);
    }
  return FALSE;
}
#endif

gssize
pd_gunzip_read (PdGunzip *gz, void *out, gsize out_len, gboolean input_ended, GError **error)
{
  static const guint8 magic[] = { 0x1f, 0x8b };
  gsize total = 0;

  g_return_val_if_fail (out_len > 0, -1);

  while (total < out_len)
    {
      g_autoptr(GError) local_error = NULL;
      gsize consumed = 0, produced = 0;
      gboolean member_ended = FALSE;
      gboolean ok;

      /* the rest is skipped and refused at its end, so that a reader's own check at the end
       * of the stream (a blob's digest, the more precise verdict on wrong bytes) has its say
       * first */
      if (gz->deferred != NULL)
        {
          gz->avail_in = 0;
          if (!input_ended || total > 0)
            break;
          g_propagate_error (error, g_steal_pointer (&gz->deferred));
          return -1;
        }
      if (gz->avail_in == 0)
        {
          if (!input_ended || total > 0)
            break;
          /* the end: clean only between members, and after at least one */
          if (gz->in_member || gz->members == 0)
            {
              g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                           "the gzip stream ends early");
              return -1;
            }
          return 0;
        }

      /* what follows a member must be another: bytes that are not a gzip header are refused
       * here by both backends alike, not left to each one's header parser */
      for (guint64 i = gz->in_member ? gz->member_in : 0; i < sizeof magic; i++)
        {
          guint64 k = i - (gz->in_member ? gz->member_in : 0);

          if (k >= gz->avail_in)
            break;
          if (gz->next_in[k] != magic[i])
            {
              if (gz->members == 0)
                {
                  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "invalid gzip data");
                  return -1;
                }
              g_set_error (&gz->deferred, PD_ERROR, PD_ERROR_INVALID_ARCHIVE,
                           "unexpected data after the gzip stream");
              break;
            }
        }
      if (gz->deferred != NULL)
        continue;

#if HAVE_ISAL
      if (gz->backend == PD_INFLATE_ISAL)
        ok = step_isal (gz, (guint8 *) out + total, out_len - total, &consumed, &produced,
                        &member_ended, &local_error);
      else
#endif
        ok = step_zlib (gz, (guint8 *) out + total, out_len - total, &consumed, &produced,
                        &member_ended, &local_error);
      if (!ok && gz->last_verdict == VERDICT_CHECKSUM)
        {
          gz->deferred = g_steal_pointer (&local_error);
          continue;
        }
      if (!ok)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return -1;
        }
      if (!gz->in_member)
        {
          gz->in_member = TRUE;
          gz->member_in = 0;
        }
      gz->next_in += consumed;
      gz->avail_in -= consumed;
      gz->member_in += consumed;
      total += produced;
      if (member_ended)
        {
          gz->in_member = FALSE;
          gz->members++;
        }
      else if (consumed == 0 && produced == 0)
        {
          /* neither backend stops with input and room left unless the data is bad: never
           * spin on it */
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARCHIVE, "invalid gzip data");
          return -1;
        }
    }
  return (gssize) total;
}
