/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-operation.h"
#include "pd-transfer-wire.h"

G_BEGIN_DECLS

/*
 * The daemon's side of plugind-transfer (docs/design.md, section "The transfer helper"): the
 * registry, archive and SHA-256 work of a job runs in a process of its own, started per job,
 * so that the daemon maps none of those libraries. One verb per process ("resolve", …); the
 * request goes over a socketpair (never argv or the environment: it holds credentials), and
 * the helper streams messages back until its "result" or "error". Everything runs on the
 * calling thread's main context; nothing blocks but the first write (a request, which fits
 * the socket's buffer).
 *
 * The helper dies with the daemon (PR_SET_PDEATHSIG) and is killed (SIGKILL) when the
 * cancellable fires; the operation ends only once it has been reaped, so that nothing it
 * wrote changes afterwards.
 */

typedef struct _PdTransfer PdTransfer;

/* Every message but the last, on the main thread. FALSE with @error: the helper is killed and
 * the run ends with that error, as it is (say "the transfer helper" in a message about a bad
 * message); FALSE without: an unknown message. */
typedef gboolean (*PdTransferMessageFunc) (PdTransfer *transfer, const char *kind,
                                           GVariant *fields, gpointer user_data,
                                           GError **error);

/* $PLUGIND_TRANSFER_HELPER, else LIBEXECDIR/plugind-transfer */
const char *pd_transfer_get_helper_path (void);

/* Starts the helper for @verb with @request (a{sv}, floating or not) and @fds (kept by the
 * caller, at most PD_TRANSFER_MAX_FDS). */
void pd_transfer_run_async (const char *verb, GVariant *request, const int *fds, guint n_fds,
                            PdTransferMessageFunc func, gpointer func_data,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);
/* the fields of the helper's "result"; its "error" as a PdError (or G_IO_ERROR_CANCELLED);
 * a helper that died or broke the protocol as PD_ERROR_FAILED */
GVariant *pd_transfer_run_finish (GAsyncResult *result, GError **error);

/* At exit: kills the spare helper (one started ahead of the next job, pd-transfer.c) and waits
 * for it, so that nothing of the daemon outlives it. */
void pd_transfer_stop_spare (void);

/* an answer to a message, from a PdTransferMessageFunc: a small message, written at once */
gboolean pd_transfer_reply (PdTransfer *transfer, const char *kind, GVariant *fields,
                            GError **error);

/* a "log" message (the helper's retries and the like): its line, escaped, into @operation's
 * log at level info */
gboolean pd_transfer_log_to_operation (PdOperation *operation, GVariant *fields, GError **error);

G_END_DECLS
