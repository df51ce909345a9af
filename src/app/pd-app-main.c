/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* plugind-plugins: the desktop app */

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "pd-app-application.h"
#include "pd-names.h"

int
main (int argc, char **argv)
{
  g_autoptr(PdAppApplication) app = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, g_getenv (PD_ENV_LOCALEDIR) != NULL ? g_getenv (PD_ENV_LOCALEDIR)
                                                                       : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = pd_app_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
