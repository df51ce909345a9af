/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pd-daemon.h"
#include "pd-dbus-generated.h"

G_BEGIN_DECLS

/* The Manager object: GetPlugin, ListPlugins, Create, ListJobs, and the daemon's signals. */
#define PD_TYPE_MANAGER (pd_manager_get_type ())
G_DECLARE_FINAL_TYPE (PdManager, pd_manager, PD, MANAGER, PdDbusManagerSkeleton)

PdManager *pd_manager_new (PdDaemon *daemon);

G_END_DECLS
