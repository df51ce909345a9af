/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define PD_APP_TYPE_APPLICATION (pd_app_application_get_type ())
G_DECLARE_FINAL_TYPE (PdAppApplication, pd_app_application, PD_APP, APPLICATION, AdwApplication)

PdAppApplication *pd_app_application_new (void);

G_END_DECLS
