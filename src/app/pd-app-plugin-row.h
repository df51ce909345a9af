/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "pd-dbus-generated.h"

G_BEGIN_DECLS

#define PD_APP_TYPE_PLUGIN_ROW (pd_app_plugin_row_get_type ())
G_DECLARE_FINAL_TYPE (PdAppPluginRow, pd_app_plugin_row, PD_APP, PLUGIN_ROW, AdwActionRow)

PdAppPluginRow *pd_app_plugin_row_new (PdDbusPlugin *plugin);
PdDbusPlugin *pd_app_plugin_row_get_plugin (PdAppPluginRow *self);
const char *pd_app_plugin_row_get_name (PdAppPluginRow *self);

G_END_DECLS
