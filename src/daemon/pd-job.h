/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-auth.h"
#include "pd-dbus-generated.h"
#include "pd-operation.h"

G_BEGIN_DECLS

/*
 * A job on the bus, at /org/plugind/Plugind1/job/<id>: the mirror of a PdOperation of the
 * engine. It shows the operation's state, sends progress at most every 250 ms (Phase,
 * Cancellable and the end at once), answers Wait() and Cancel(), and lingers 60 s after the
 * end so that clients can read the outcome.
 *
 * The end, in this order: the properties in one PropertiesChanged, Completed (on the
 * operation's "completed"), whatever the operation's "finished" handlers send (JobFinished, the
 * PluginEvent), then the Wait() replies.
 *
 * Signal (GObject): "linger-expired" () — the linger period is over: the owner unexports the
 * object.
 */
#define PD_TYPE_JOB (pd_job_get_type ())
G_DECLARE_FINAL_TYPE (PdJob, pd_job, PD, JOB, PdDbusJobSkeleton)

/* @auth: NULL for a private one (tests) */
PdJob *pd_job_new (PdAuth *auth, PdOperation *operation);
PdOperation *pd_job_get_operation (PdJob *self);
guint32 pd_job_get_id (PdJob *self);
const char *pd_job_get_object_path (PdJob *self);   /* PD_DBUS_JOB_PATH_PREFIX "<id>" */
/* the path of the job of operation @id */
char *pd_job_dup_object_path_for (guint32 id);

/* tests shorten the linger period (default 60 s) */
void pd_job_set_linger_ms (PdJob *self, guint linger_ms);

G_END_DECLS
