/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>

#include "pd-digest.h"

struct _PdSha256 {
  EVP_MD_CTX *ctx;
};

PdSha256 *
pd_sha256_new (void)
{
  PdSha256 *self = g_new0 (PdSha256, 1);

  self->ctx = EVP_MD_CTX_new ();
  if (self->ctx == NULL || EVP_DigestInit_ex (self->ctx, EVP_sha256 (), NULL) != 1)
    g_error ("OpenSSL cannot initialise SHA-256");
  return self;
}

void
pd_sha256_update (PdSha256 *self, const void *data, gsize len)
{
  if (len > 0)
    EVP_DigestUpdate (self->ctx, data, len);
}

char *
pd_sha256_finish (PdSha256 *self)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  char *out;

  EVP_DigestFinal_ex (self->ctx, md, &md_len);
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
  EVP_MD_CTX_free (self->ctx);
  g_free (self);
}

char *
pd_sha256_digest_bytes (const void *data, gsize len)
{
  g_autoptr(PdSha256) sha = pd_sha256_new ();

  pd_sha256_update (sha, data, len);
  return pd_sha256_finish (sha);
}
