/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Checks an a{sv} options dict against the accepted keys and their types, so that a misspelt
 * option is an error and not silently ignored: @allowed is a NULL-terminated list of "key",
 * "type" pairs. Unknown keys and wrong types fail with PD_ERROR_INVALID_ARGS
 * "Unknown option 'k'" / "Option 'k' must be of type 't'". */
gboolean pd_options_check (GVariant *options, const char *const *allowed, GError **error);
gboolean pd_options_get_boolean (GVariant *options, const char *key, gboolean default_value);

/* the longest "activation-timeout" or "stop-timeout" any call may ask for: no call may keep a
 * plugin starting or stopping (and Busy for everyone else) for days */
#define PD_OPTIONS_MAX_TIMEOUT_MS 300000
/* PD_ERROR_INVALID_ARGS when the u option @key of @options (may be NULL) is larger */
gboolean pd_options_check_timeout (GVariant *options, const char *key, GError **error);

G_END_DECLS
