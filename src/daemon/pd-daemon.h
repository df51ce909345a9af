/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-auth.h"
#include "pd-dbus-util.h"
#include "pd-engine.h"
#include "pd-job.h"

G_BEGIN_DECLS

/* forward declaration: PdPlugin is defined in pd-plugin.h, which includes this header */
typedef struct _PdPlugin PdPlugin;

/*
 * The daemon: owns the store, the authority, the ObjectManager at /org/plugind/Plugind1 and
 * every exported object (the Manager, one PdPlugin per record, the jobs). Everything here runs
 * on the main thread.
 */
#define PD_TYPE_DAEMON (pd_daemon_get_type ())
G_DECLARE_FINAL_TYPE (PdDaemon, pd_daemon, PD, DAEMON, GObject)

/* opens (and reconciles) the store; nothing is exported yet */
PdDaemon *pd_daemon_new (const char *state_dir, const char *runtime_dir, GError **error);
/* exports the ObjectManager, the Manager and every installed plugin on @connection */
gboolean pd_daemon_start (PdDaemon *self, GDBusConnection *connection, GError **error);
/* cancels running jobs and calls @done once none is left (or after a grace period) */
void pd_daemon_shutdown (PdDaemon *self, GSourceFunc done, gpointer user_data);

/* the store, the configuration, the limits: what jobs and plugins work with */
PdEngine *pd_daemon_get_engine (PdDaemon *self);
PdAuth *pd_daemon_get_auth (PdDaemon *self);

/* Docker's resolvePluginID: full ID, name with :latest implied, unique ID prefix */
PdPlugin *pd_daemon_resolve_plugin (PdDaemon *self, const char *name_or_id, GError **error);
PdPlugin *pd_daemon_lookup_plugin_by_name (PdDaemon *self, const char *name);
/* PdPlugin objects sorted by name (container only) */
GPtrArray *pd_daemon_list_plugins (PdDaemon *self);
/* exports the plugin object of a record that was just committed */
PdPlugin *pd_daemon_add_plugin (PdDaemon *self, PdPluginRecord *record);
/* removes the plugin from the store and the bus; emits PluginEvent("remove") */
gboolean pd_daemon_remove_plugin (PdDaemon *self, PdPlugin *plugin, GError **error);
void pd_daemon_emit_plugin_event (PdDaemon *self, const char *action, PdPlugin *plugin,
                                  GVariant *extra_attributes);

/* PluginEvent(<the job's operation>, with "remote" when the job has one) for @plugin once @job
 * has finished: after JobFinished, before the Wait() replies (dbus-api.md D4) */
void pd_daemon_emit_event_when_finished (PdDaemon *self, PdOperation *job, PdPlugin *plugin);

/* jobs: the operation of a new exported job (JobNew emitted), or NULL with LimitsExceeded;
 * the job holds it */
PdOperation *pd_daemon_new_job (PdDaemon *self, const char *operation, const char *remote,
                                const char *plugin_name, guint32 uid, GError **error);
/* PdJob objects, running or lingering (container only) */
GPtrArray *pd_daemon_list_jobs (PdDaemon *self);
/* TRUE when a running job works on the plugin named @plugin_name */
gboolean pd_daemon_has_running_job_for (PdDaemon *self, const char *plugin_name);
/* a running job that works on the plugin named @plugin_name, or NULL (not a new reference) */
PdOperation *pd_daemon_get_running_job_for (PdDaemon *self, const char *plugin_name);
/* deletes unreferenced blobs; those running jobs wrote are pinned in the store until their
 * records exist */
void pd_daemon_collect_blobs (PdDaemon *self);

G_END_DECLS
