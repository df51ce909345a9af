/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

/* OpenSSL's SHA256_* (deprecated since 3.0, kept by every 3.x) run the same assembly as EVP's
 * SHA-256 (SHA-NI, AVX2) without EVP's implicit fetch, whose first use initialises the
 * provider, configuration and error tables: about 2 MiB of libcrypto's pages that would stay
 * resident in the daemon after its first digest (docs/design.md, section Performance) */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#include "pd-digest.h"

struct _PdSha256 {
  SHA256_CTX ctx;
};

PdSha256 *
pd_sha256_new (void)
{
  PdSha256 *self = g_new0 (PdSha256, 1);

  if (SHA256_Init (&self->ctx) != 1)
    g_error ("OpenSSL cannot initialise SHA-256");
  return self;
}

void
pd_sha256_update (PdSha256 *self, const void *data, gsize len)
{
  if (len > 0)
    SHA256_Update (&self->ctx, data, len);
}

char *
pd_sha256_finish (PdSha256 *self)
{
  unsigned char md[SHA256_DIGEST_LENGTH];
  const unsigned int md_len = SHA256_DIGEST_LENGTH;
  char *out;

  SHA256_Final (md, &self->ctx);
  out = g_malloc (7 + md_len * 2 + 1);
  memcpy (out, "sha256:", 7);
  for (unsigned int i = 0; i < md_len; i++)
    {
      static const char hex[] = "0123456789abcdef";
      out[7 + 2 * i] = hex[md[i] >> 4];
      out[7 + 2 * i + 1] = hex[md[i] & 0xf];
    }
  out[7 + md_len * 2] = '\0';
  return out;
}

void
pd_sha256_free (PdSha256 *self)
{
  if (self == NULL)
    return;
  g_free (self);
}

char *
pd_sha256_digest_bytes (const void *data, gsize len)
{
  g_autoptr(PdSha256) sha = pd_sha256_new ();

  pd_sha256_update (sha, data, len);
  return pd_sha256_finish (sha);
}
