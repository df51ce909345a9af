/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* the inflaters of gzip layers: ISA-L's igzip where plugind was built with libisal, zlib
 * otherwise; both are built in when ISA-L is, and give the same bytes and the same verdicts */
typedef enum {
  PD_INFLATE_ZLIB,
  PD_INFLATE_ISAL,
} PdInflateBackend;

gboolean pd_inflate_have_isal (void);
const char *pd_inflate_backend_name (PdInflateBackend backend);
/* ISA-L when built in, unless the environment's PLUGIND_INFLATE is "zlib" (tests, benchmarks) */
PdInflateBackend pd_inflate_default_backend (void);

/* a streaming decoder of a gzip stream of one or more members (RFC 1952), strict: every
 * member's CRC-32 and length are checked, and a stream that ends inside a member or has bytes
 * after its last member that are not a whole further member is an error
 * (PD_ERROR_INVALID_ARCHIVE, with the same message from both backends) */
typedef struct _PdGunzip PdGunzip;

PdGunzip *pd_gunzip_new (PdInflateBackend backend);
void pd_gunzip_free (PdGunzip *gz);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdGunzip, pd_gunzip_free)

/* TRUE when every byte given to pd_gunzip_feed () has been consumed */
gboolean pd_gunzip_needs_input (PdGunzip *gz);
/* the next compressed bytes; @data must stay valid until pd_gunzip_needs_input () */
void pd_gunzip_feed (PdGunzip *gz, const void *data, gsize len);
/* inflates what was fed into @out; returns the bytes written (0: more input needed, or at
 * @input_ended the end of the stream), or -1 with @error set. @input_ended: nothing more will
 * be fed after the current bytes. */
gssize pd_gunzip_read (PdGunzip *gz, void *out, gsize out_len, gboolean input_ended,
                       GError **error);

G_END_DECLS
