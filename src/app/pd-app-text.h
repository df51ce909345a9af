/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* what a plugin's State ("running", ...) is called in the app; never NULL */
char *pd_app_state_label (const char *state);

/* one sentence for a failed call, or NULL when nothing is to be shown (the user dismissed the
 * password dialog) */
char *pd_app_error_sentence (const GError *error);

/* a privilege a plugin asks for (Docker's name and values, as GetPrivileges returns them) in
 * plain words; risky: whether it reaches into the host (its network, files, devices, processes
 * or the administrator's powers) */
char *pd_app_privilege_words (const char *name, const char *const *values, gboolean *risky);

/* what a job is doing (Job.Phase, an open set: an unknown one is shown as it is) */
char *pd_app_phase_words (const char *phase);

/* what a layer of a job is doing (Job.Layers' status) */
char *pd_app_layer_status (const char *status);

/* "12.3 MB of 40.0 MB", "12.3 MB of 40.0 MB, 1.2 MB/s" with a rate, "12.3 MB" without a total */
char *pd_app_bytes_text (guint64 done, guint64 total, guint64 rate);

G_END_DECLS
