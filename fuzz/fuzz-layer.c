/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Layer ingest: an image layer from a registry (compressed or plain tar), read, decompressed,
 * hashed and normalised in process as pulls do, entry by entry. The confined extraction helper
 * is not run (pd_archive_apply_layer without a staging dir). The input is read in pieces of
 * varying size, as a network stream arrives. */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "pd-archive.h"

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
  guint64 uncompressed = 0;

  pd_archive_apply_layer (read_piece, &input, NULL, NULL, NULL, &limits, &uncompressed, NULL,
                          NULL);
  return 0;
}
