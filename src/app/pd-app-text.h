/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* what a plugin's State ("running", ...) is called in the app; never NULL */
char *pd_app_state_label (const char *state);

/* one sentence for a failed call, or NULL when nothing is to be shown (the user dismissed the
 * password dialog) */
char *pd_app_error_sentence (const GError *error);

G_END_DECLS
