/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Layer ingest: an image layer from a registry (compressed or plain tar), read, decompressed,
 * hashed and normalised in process as pulls do, entry by entry. The confined extraction helper
 * is not run (pd_archive_apply_layer without a staging dir). The input is read in pieces of
 * varying size, as a network stream arrives. In a build with ISA-L every input goes through
 * both inflaters (pd-inflate.h), which must agree: the same verdict, the same size. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"
#include "pd-archive.h"
#include "pd-inflate.h"

typedef struct {
  const uint8_t *data;
  size_t size;
  size_t pos;
} Input;

static gssize
read_piece (void *buffer, gsize count, gpointer user_data, GCancellable *cancellable,
            GError **error)
{
  Input *input = user_data;
  gsize n = MIN (count, input->size - input->pos);

  /* pieces of 1 to 4096 bytes, decided by the data itself */
  if (n > 0)
    n = MIN (n, (gsize) (input->data[input->pos] % 16) * 256 + 1);
  memcpy (buffer, input->data + input->pos, n);
  input->pos += n;
  return (gssize) n;
}

static PdArchiveLimits limits;

void
fuzz_setup (void)
{
  pd_archive_limits_init (&limits);
  /* small, so that bombs end quickly: the limits are part of what is fuzzed */
  limits.max_bytes = 8 * 1024 * 1024;
  limits.max_entries = 1000;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Input input = { data, size, 0 };
  Input again = { data, size, 0 };
  guint64 uncompressed = 0, uncompressed_zlib = 0;
  gboolean ok, ok_zlib;

  ok = pd_archive_apply_layer (read_piece, &input, NULL, NULL, NULL, &limits, &uncompressed,
                               NULL, NULL);
  if (!pd_inflate_have_isal ())
    return 0;
  g_setenv ("PLUGIND_INFLATE", "zlib", TRUE);
  ok_zlib = pd_archive_apply_layer (read_piece, &again, NULL, NULL, NULL, &limits,
                                    &uncompressed_zlib, NULL, NULL);
  g_unsetenv ("PLUGIND_INFLATE");
  if (ok != ok_zlib || (ok && uncompressed != uncompressed_zlib))
    {
      fprintf (stderr, "ISA-L and zlib disagree: %d/%d, %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT
               " bytes\n", ok, ok_zlib, uncompressed, uncompressed_zlib);
      abort ();
    }
  return 0;
}
