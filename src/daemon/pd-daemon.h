/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-auth.h"
#include "pd-engine.h"

G_BEGIN_DECLS

/*
 * The daemon: the engine on the bus. It owns the engine, the authority, the ObjectManager at
 * /org/plugind/Plugind1 and every exported object: the Manager, a PdPlugin for each plugin of
 * the engine and a PdJob for each of its operations, added and removed as the engine's signals
 * say, and the Manager's JobNew, JobFinished and PluginEvent signals. Everything here runs on
 * the main thread.
 */
#define PD_TYPE_DAEMON (pd_daemon_get_type ())
G_DECLARE_FINAL_TYPE (PdDaemon, pd_daemon, PD, DAEMON, GObject)

/* opens (and reconciles) the store; nothing is exported yet */
PdDaemon *pd_daemon_new (const char *state_dir, const char *runtime_dir, GError **error);
/* exports the ObjectManager, the Manager and every installed plugin on @connection, then
 * starts the engine (its enabled plugins start again) */
gboolean pd_daemon_start (PdDaemon *self, GDBusConnection *connection, GError **error);
/* stops the plugins, cancels running jobs and calls @done once none is left (or after a grace
 * period) */
void pd_daemon_shutdown (PdDaemon *self, GSourceFunc done, gpointer user_data);

/* the store, the configuration, the plugins and their operations */
PdEngine *pd_daemon_get_engine (PdDaemon *self);

G_END_DECLS
