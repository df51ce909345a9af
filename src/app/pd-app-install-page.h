/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "pd-dbus-generated.h"

G_BEGIN_DECLS

#define PD_APP_TYPE_INSTALL_PAGE (pd_app_install_page_get_type ())
G_DECLARE_FINAL_TYPE (PdAppInstallPage, pd_app_install_page, PD_APP, INSTALL_PAGE, GtkBox)

/* The install of a new plugin (no plugin) or the upgrade of plugin, a page of the main window
 * with its own header bar: a reference, the privileges asked for, consent, progress, result.
 * Emits "done" with the plugin's object path when it succeeded, "close" when the user leaves
 * it (Back, Cancel, Close). */
PdAppInstallPage *pd_app_install_page_new (PdDbusManager *manager, PdDbusPlugin *plugin);

void pd_app_install_page_focus (PdAppInstallPage *self);

G_END_DECLS
