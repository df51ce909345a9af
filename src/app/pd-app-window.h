/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

#include "pd-app-application.h"

G_BEGIN_DECLS

#define PD_APP_TYPE_WINDOW (pd_app_window_get_type ())
G_DECLARE_FINAL_TYPE (PdAppWindow, pd_app_window, PD_APP, WINDOW, AdwApplicationWindow)

PdAppWindow *pd_app_window_new (PdAppApplication *app);

G_END_DECLS
