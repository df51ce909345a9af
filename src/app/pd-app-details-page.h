/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "pd-dbus-generated.h"

G_BEGIN_DECLS

#define PD_APP_TYPE_DETAILS_PAGE (pd_app_details_page_get_type ())
G_DECLARE_FINAL_TYPE (PdAppDetailsPage, pd_app_details_page, PD_APP, DETAILS_PAGE, GtkBox)

/* One plugin's page in the main window: its state, the privileges granted, a form for its
 * settings, what holds it, its log, upgrade and remove. Emits "close" when the user goes back
 * (or the plugin is removed), "upgrade" when the user asks for the upgrade page. */
PdAppDetailsPage *pd_app_details_page_new (PdDbusPlugin *plugin);
PdDbusPlugin *pd_app_details_page_get_plugin (PdAppDetailsPage *self);

G_END_DECLS
