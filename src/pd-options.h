/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Checks an a{sv} options dict against the accepted keys and their types (dbus-api.md D5):
 * @allowed is a NULL-terminated list of "key", "type" pairs. Unknown keys and wrong types fail
 * with PD_ERROR_INVALID_ARGS "Unknown option 'k'" / "Option 'k' must be of type 't'". */
gboolean pd_options_check (GVariant *options, const char *const *allowed, GError **error);
gboolean pd_options_get_boolean (GVariant *options, const char *key, gboolean default_value);

G_END_DECLS
