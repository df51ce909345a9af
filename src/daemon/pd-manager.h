/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pd-auth.h"
#include "pd-dbus-generated.h"
#include "pd-engine.h"

G_BEGIN_DECLS

/* The Manager object: GetPlugin, ListPlugins, ListJobs, GetPrivileges, Pull, Create, Push, and
 * the service's signals (emitted by the daemon). Its handlers decode the arguments, check the
 * options, authorize the caller and call the engine. @object_manager: where the jobs and the
 * plugins are exported (ListJobs shows the Progress they show; Push hands the call to the
 * plugin's object); it must outlive the manager. */
#define PD_TYPE_MANAGER (pd_manager_get_type ())
G_DECLARE_FINAL_TYPE (PdManager, pd_manager, PD, MANAGER, PdDbusManagerSkeleton)

PdManager *pd_manager_new (PdEngine *engine, PdAuth *auth,
                           GDBusObjectManagerServer *object_manager);

G_END_DECLS
