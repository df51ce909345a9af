/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-pull.h"

G_BEGIN_DECLS

/*
 * A long operation of the engine (Create, Pull, Upgrade, Push): what a job on the bus shows.
 * Whoever runs it sets its phase, progress and log, and ends it once with
 * pd_operation_complete(); anyone may stop it with pd_operation_cancel(), which fires its
 * GCancellable. No D-Bus types: the daemon's PdJob mirrors it. Main thread only, except the
 * *_from_thread functions.
 *
 * Signals:
 *   "changed" (PdOperationChange what)  — the phase, Cancellable, progress or plugin changed
 *   "log" (guint priority, const char *line) — a line for the log: valid UTF-8, at most
 *                                         PD_OPERATION_LOG_LINE_MAX bytes
 *   "cancel-requested" ()               — just after the GCancellable was cancelled
 *   "completed" ()                      — the outcome is final: mirrors show it
 *   "finished" ()                       — right after "completed": owners act on the end
 *                                         (the next step of whoever waits, an event)
 */
#define PD_TYPE_OPERATION (pd_operation_get_type ())
G_DECLARE_FINAL_TYPE (PdOperation, pd_operation, PD, OPERATION, GObject)

typedef enum {
  PD_OPERATION_CHANGED_PHASE = 1 << 0,
  PD_OPERATION_CHANGED_CANCELLABLE = 1 << 1,
  PD_OPERATION_CHANGED_PROGRESS = 1 << 2,
  PD_OPERATION_CHANGED_PLUGIN = 1 << 3,
} PdOperationChange;

typedef enum {
  PD_OPERATION_RUNNING,
  PD_OPERATION_DONE,
  PD_OPERATION_FAILED,
  PD_OPERATION_CANCELLED,
} PdOperationResult;

/* a log line is cut at this many bytes (docs/plugind.8.rst, LIMITS) */
#define PD_OPERATION_LOG_LINE_MAX 4096
/* how often a worker thread's progress is read while it runs: more often than a job sends it
 * (every 250 ms at most), so that a short phase still shows */
#define PD_OPERATION_PROGRESS_POLL_MS 100

/* @kind: "create", "pull", "upgrade", "push"; @remote and @plugin_name may be NULL ("") */
PdOperation *pd_operation_new (guint32 id, const char *kind, const char *remote,
                               const char *plugin_name, guint32 started_by_uid);

guint32 pd_operation_get_id (PdOperation *self);
const char *pd_operation_get_kind (PdOperation *self);
const char *pd_operation_get_remote (PdOperation *self);
const char *pd_operation_get_plugin_name (PdOperation *self);
guint32 pd_operation_get_started_by_uid (PdOperation *self);
/* realtime µs */
guint64 pd_operation_get_start_time (PdOperation *self);
const char *pd_operation_get_phase (PdOperation *self);
gboolean pd_operation_get_cancellable (PdOperation *self);
GCancellable *pd_operation_get_cancellable_object (PdOperation *self);
/* the plugin's id once the operation knows it, else NULL */
const char *pd_operation_get_plugin_id (PdOperation *self);

/* progress: bytes_total 0 = unknown (progress not valid) */
guint64 pd_operation_get_bytes_done (PdOperation *self);
guint64 pd_operation_get_bytes_total (PdOperation *self);
double pd_operation_get_progress (PdOperation *self);
gboolean pd_operation_get_progress_valid (PdOperation *self);
/* bytes per second over the last seconds, 0 = not known yet */
guint64 pd_operation_get_rate (PdOperation *self);
/* realtime µs, 0 = not known */
guint64 pd_operation_get_expected_end_time (PdOperation *self);
/* a(sstt): (digest, status, current, total) of every layer; NULL until set */
GVariant *pd_operation_get_layers (PdOperation *self);

gboolean pd_operation_is_finished (PdOperation *self);
PdOperationResult pd_operation_get_result (PdOperation *self);
/* the error of a failed or cancelled operation, as it was given */
const GError *pd_operation_get_error (PdOperation *self);
/* a{sv} of a done operation (an empty one otherwise) */
GVariant *pd_operation_get_results (PdOperation *self);

void pd_operation_set_phase (PdOperation *self, const char *phase);
void pd_operation_set_cancellable (PdOperation *self, gboolean cancellable);
/* computes the progress, the rate and the expected end */
void pd_operation_set_bytes (PdOperation *self, guint64 bytes_done, guint64 bytes_total);
/* @layers: a(sstt), floating reference sunk */
void pd_operation_set_layers (PdOperation *self, GVariant *layers);
void pd_operation_set_plugin_id (PdOperation *self, const char *plugin_id);
void pd_operation_log (PdOperation *self, guint priority, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

/* From a worker thread: the line (priority 6) and the phase reach the operation on the main
 * thread, in order. pd_operation_log_from_thread() is a PdRegistryLogFunc for @operation. */
void pd_operation_log_from_thread (const char *line, gpointer operation);
void pd_operation_set_phase_from_thread (PdOperation *self, const char *phase);

/* The one way a worker thread's progress reaches the operation: while it runs, every
 * PD_OPERATION_PROGRESS_POLL_MS the main thread reads @progress (its layers and bytes); until
 * pd_operation_unfollow_progress(), which reads it a last time. @progress must outlive that. */
void pd_operation_follow_progress (PdOperation *self, PdPullProgress *progress);
void pd_operation_unfollow_progress (PdOperation *self);

/* Ends the operation: @error NULL = done with @results (a{sv}, floating reference sunk, may be
 * NULL); G_IO_ERROR_CANCELLED or PD_ERROR_JOB_CANCELLED = cancelled; anything else = failed.
 * Emits "completed", then "finished". */
void pd_operation_complete (PdOperation *self, GVariant *results, const GError *error);

/* Stops the operation whatever its Cancellable says (a Cancel the caller checked, a forced
 * Disable or Remove, the shutdown): the GCancellable fires once, and "cancel-requested"; the
 * operation ends as soon as its current step allows. @who is for the debug log. */
void pd_operation_cancel (PdOperation *self, const char *who);

G_END_DECLS
