/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pd-daemon.h"
#include "pd-job.h"
#include "pd-plugin.h"
#include "pd-reference.h"

G_BEGIN_DECLS

/* The job behind Plugin.Push (dbus-api.md D3): pd_push_run() in a worker thread; Results hold
 * "reference", "manifest-digest" and "size"; PluginEvent("push") at the end. Takes @target
 * and @registry_auth. */
void pd_push_job_start (PdDaemon *daemon, PdOperation *job, PdPlugin *plugin, PdReference *target,
                        char *registry_auth);

G_END_DECLS
