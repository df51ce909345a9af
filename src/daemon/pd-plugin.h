/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pd-auth.h"
#include "pd-dbus-generated.h"
#include "pd-engine.h"
#include "pd-managed-plugin.h"

G_BEGIN_DECLS

/* A plugin on the bus, at /org/plugind/Plugind1/plugin/<id>: the mirror of a PdManagedPlugin
 * of the engine. Its properties show the record and the runner; its methods decode the
 * arguments, check the options, authorize the caller and call the core. */
#define PD_TYPE_PLUGIN (pd_plugin_get_type ())
G_DECLARE_FINAL_TYPE (PdPlugin, pd_plugin, PD, PLUGIN, GDBusInterfaceSkeleton)

/* Description and Documentation on the bus are cut at this many bytes: new configs are bounded
 * (PD_CONFIG_TEXT_MAX), plugins installed before may not be */
#define PD_PLUGIN_TEXT_PROPERTY_MAX 4096

PdPlugin *pd_plugin_new (PdEngine *engine, PdAuth *auth, PdManagedPlugin *plugin);
PdManagedPlugin *pd_plugin_get_managed (PdPlugin *self);
/* the core's plugin changed (@what: PdManagedPluginChange): the properties follow (the daemon
 * calls it from the engine's "plugin-changed", one connection for every plugin) */
void pd_plugin_update (PdPlugin *self, guint what);
/* the path of the plugin @id: PD_DBUS_PLUGIN_PATH_PREFIX "<id>" */
char *pd_plugin_dup_object_path_for (const char *id);

/* Push of this plugin, the one implementation of Plugin.Push and Manager.Push: @invocation
 * (the handler's reference, taken) is checked against its method's rule and @options against
 * @allowed, the target is @remote ("": the plugin's Reference, else its Name), the caller is
 * authorized as for Plugin.Push, and the answer is the Job's path, (o). TRUE (handled), for a
 * handler to return. */
gboolean pd_plugin_handle_push (PdPlugin *self,
                                GDBusMethodInvocation *invocation,
                                const char *remote,
                                GVariant *options,
                                const char *const *allowed);

G_END_DECLS
