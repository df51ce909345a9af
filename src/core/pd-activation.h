/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "pd-plugin-record.h"

G_BEGIN_DECLS

/*
 * The daemon's side of Docker's plugin handshake, for one start of a plugin whose config has
 * an Interface.Socket (the answer is judged by pd_activate_check_answer()):
 *
 * - the socket is looked for in the plugin's runtime dir after 1 ms, then at intervals
 *   doubling up to 25 ms, with fstatat(AT_SYMLINK_NOFOLLOW): it must be a socket (anything
 *   else, a symlink included, is ActivationFailed "... is not a socket"). It is opened
 *   O_PATH|O_NOFOLLOW and reached through /proc/self/fd/N, so a symlink the plugin swaps in
 *   later is never followed;
 * - then POST /Plugin.Activate with Docker's headers exactly (Accept
 *   application/vnd.docker.plugins.v1.2+json, Host plugin.moby.localhost, an empty body with
 *   Content-Length: 0, no Content-Type), on one connection made with GIO's socket client, with
 *   the enable `timeout` as the timeout of each connect, write and read. A refused connection
 *   (bound, not listening yet) is retried, as Docker does, from a fresh look for the socket.
 *   The answer is parsed as pd-consumer-http.h says (its steps are shared): at most
 *   PD_HTTP_HEAD_MAX bytes of head and PD_ACTIVATE_ANSWER_MAX of body (Content-Length,
 *   chunked, or to the end of the connection); whatever follows it is never read. A 404 is
 *   logged as a warning.
 *
 * No timeout of its own: the runner bounds the whole start.
 */

typedef struct _PdActivation PdActivation;

/* called once, from the main loop: with the plugin's Implements (taken) on success, else with
 * @error (taken, PD_ERROR_ACTIVATION_FAILED) */
typedef void (*PdActivationCallback) (GStrv implements, GError *error, gpointer user_data);

/* Starts the handshake with the plugin of @record (its config names the socket), whose
 * socket dir is @runtime_dir on the host. NULL with PD_ERROR_SANDBOX_FAILED when
 * @runtime_dir cannot be opened. */
PdActivation *pd_activation_start (PdPluginRecord *record,
                                   const char *runtime_dir,
                                   guint request_timeout_s,
                                   PdActivationCallback callback,
                                   gpointer user_data,
                                   GError **error);

/* whether the socket was there (for the runner's timeout message) */
gboolean pd_activation_get_socket_seen (PdActivation *activation);

/* stops the handshake: the callback is not called after this */
void pd_activation_cancel (PdActivation *activation);

PdActivation *pd_activation_ref (PdActivation *activation);
void pd_activation_unref (PdActivation *activation);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdActivation, pd_activation_unref)

G_END_DECLS
