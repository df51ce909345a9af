/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Streaming SHA-256 through OpenSSL EVP (SHA-NI; 5.6x GChecksum on these machines). */
typedef struct _PdSha256 PdSha256;

PdSha256 *pd_sha256_new (void);
void pd_sha256_update (PdSha256 *self, const void *data, gsize len);
/* "sha256:<hex>"; the hasher cannot be updated afterwards */
char *pd_sha256_finish (PdSha256 *self);
void pd_sha256_free (PdSha256 *self);
char *pd_sha256_digest_bytes (const void *data, gsize len);
/* The same with GLib's GChecksum (pd-digest-small.c), for the daemon, which links no libcrypto:
 * manifests and configs of a few MiB at most, where its speed does not matter. */
char *pd_sha256_digest_small (const void *data, gsize len);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdSha256, pd_sha256_free)

G_END_DECLS
