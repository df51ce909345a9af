/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-auth.h"
#include "pd-dbus-generated.h"

G_BEGIN_DECLS

/*
 * A long operation exported at /org/plugind/Plugind1/job/<id> (dbus-api.md D4). The operation
 * itself is run by whoever created the job (the manager); the job carries the state, throttles
 * progress (PropertiesChanged at most 4 Hz; State, Phase, Cancellable at once), answers Wait()
 * and Cancel(), and lingers 60 s after completion.
 *
 * Signals (GObject):
 *   "cancel-requested" ()  — an authorized Cancel() arrived while cancellable; the job's
 *                            GCancellable is cancelled just before it is emitted.
 *   "finished" ()          — in complete(): after Completed, before the Wait() replies; the
 *                            daemon emits JobFinished and the owner its PluginEvent from it.
 *   "linger-expired" ()    — the linger period is over: the owner unexports the object.
 */
#define PD_TYPE_JOB (pd_job_get_type ())
G_DECLARE_FINAL_TYPE (PdJob, pd_job, PD, JOB, PdDbusJobSkeleton)

PdJob *pd_job_new (PdAuth *auth,
                   guint32 id,
                   const char *operation,
                   const char *remote,
                   const char *plugin_name,
                   guint32 started_by_uid);
guint32 pd_job_get_id (PdJob *self);
const char *pd_job_get_object_path (PdJob *self);   /* PD_DBUS_JOB_PATH_PREFIX "<id>" */
GCancellable *pd_job_get_cancellable (PdJob *self);
gboolean pd_job_is_finished (PdJob *self);

void pd_job_set_phase (PdJob *self, const char *phase);
void pd_job_set_cancellable (PdJob *self, gboolean cancellable);
/* bytes_total 0 = unknown (ProgressValid false); computes Progress, Rate, ExpectedEndTime */
void pd_job_set_bytes (PdJob *self, guint64 bytes_done, guint64 bytes_total);
/* @layers: a(sstt) (digest, status, current, total), floating ref sunk; throttled like bytes */
void pd_job_set_layers (PdJob *self, GVariant *layers);
void pd_job_set_plugin_path (PdJob *self, const char *object_path);
/* a LogMessage line is cut at this many bytes (docs/plugind.8.rst, LIMITS) */
#define PD_JOB_LOG_LINE_MAX 4096
void pd_job_log (PdJob *self, guint priority, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* Ends the job: @error NULL = done with @results (a{sv}, floating ref sunk, may be NULL);
 * G_IO_ERROR_CANCELLED or PD_ERROR_JOB_CANCELLED = cancelled; anything else = failed (the
 * error is converted with pd_error_convert). Flushes pending property changes, sets State,
 * Result, ErrorName, ErrorMessage, Results, emits Completed, emits "finished", answers every
 * pending Wait(), then starts the linger timer. */
void pd_job_complete (PdJob *self, GVariant *results, const GError *error);

/* Cancels the job as an authorized Cancel() would, whatever its Cancellable property says: for
 * Disable and Remove with "force", which end the job working on their plugin. The job's
 * cancellable fires; it ends as soon as its current step allows. */
void pd_job_cancel (PdJob *self);

/* tests shorten the linger period (default 60 s) */
void pd_job_set_linger_ms (PdJob *self, guint linger_ms);

G_END_DECLS
