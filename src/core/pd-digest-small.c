/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "pd-digest.h"

char *
pd_sha256_digest_small (const void *data, gsize len)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);

  g_checksum_update (checksum, data, (gssize) len);
  return g_strconcat ("sha256:", g_checksum_get_string (checksum), NULL);
}
