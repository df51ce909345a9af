/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pd-daemon.h"
#include "pd-dbus-generated.h"
#include "pd-plugin-record.h"

G_BEGIN_DECLS

/* A plugin on the bus: a final subclass of the generated skeleton that mirrors a
 * PdPluginRecord onto properties and forwards Set/Remove/Inspect to the core. */
#define PD_TYPE_PLUGIN (pd_plugin_get_type ())
G_DECLARE_FINAL_TYPE (PdPlugin, pd_plugin, PD, PLUGIN, PdDbusPluginSkeleton)

/* Hold takes at most this many holders per plugin (LimitsExceeded beyond) */
#define PD_PLUGIN_MAX_HOLDS 256
/* Description and Documentation on the bus are cut at this many bytes: new configs are bounded
 * (PD_CONFIG_TEXT_MAX), plugins installed before may not be */
#define PD_PLUGIN_TEXT_PROPERTY_MAX 4096

PdPlugin *pd_plugin_new (PdDaemon *daemon, PdPluginRecord *record);
PdPluginRecord *pd_plugin_get_record (PdPlugin *self);
PdDaemon *pd_plugin_get_daemon (PdPlugin *self);
const char *pd_plugin_get_object_path (PdPlugin *self);
void pd_plugin_set_disk_usage (PdPlugin *self, guint64 bytes);
/* set when the plugin left the store: late method calls then fail with NoSuchPlugin */
void pd_plugin_mark_removed (PdPlugin *self);
gboolean pd_plugin_is_removed (PdPlugin *self);

/* running, or on its way to or from it: what Set, Remove and Upgrade refuse */
gboolean pd_plugin_is_active (PdPlugin *self);
/* the record took another image (Upgrade): every property is synced and emitted */
void pd_plugin_image_changed (PdPlugin *self);
/* Enable for a job that works on this plugin (Pull with "enable", Upgrade with "restart"):
 * no authorization (the job's covers it), and that job does not count as Busy. When
 * @job_cancellable fires the start ends (the plugin is stopped) with G_IO_ERROR_CANCELLED. */
void pd_plugin_job_enable_async (PdPlugin *self, guint activation_timeout, guint request_timeout,
                                 GCancellable *job_cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean pd_plugin_job_enable_finish (PdPlugin *self, GAsyncResult *result, GError **error);

/* starts the plugin again if its record says Enabled (daemon start; does not block) */
void pd_plugin_restore (PdPlugin *self);
/* stops a running plugin for the daemon's shutdown, keeping Enabled; never fails */
void pd_plugin_stop_async (PdPlugin *self, GAsyncReadyCallback callback, gpointer user_data);

G_END_DECLS
