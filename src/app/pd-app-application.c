/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The application: one window, its actions and their keyboard shortcuts */

#include "config.h"

#include <glib/gi18n.h>

#include "pd-app-application.h"
#include "pd-app-window.h"

struct _PdAppApplication
{
  AdwApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (PdAppApplication, pd_app_application, ADW_TYPE_APPLICATION)

static void
on_quit (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static void
on_about (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  GtkApplication *app = GTK_APPLICATION (user_data);
  const char *developers[] = { _("The plugind developers"), NULL };

  adw_show_about_window (gtk_application_get_active_window (app),
                         "application-name", _("Plugins"),
                         "application-icon", PD_APP_ID,
                         "version", PACKAGE_VERSION,
                         "developers", developers,
                         "license-type", GTK_LICENSE_LGPL_2_1,
                         "comments", _("Manage the plugins of container engines"),
                         NULL);
}

static const GActionEntry app_actions[] = {
  { .name = "quit", .activate = on_quit },
  { .name = "about", .activate = on_about },
};

static void
pd_app_application_startup (GApplication *app)
{
  const char *quit_accels[] = { "<Control>q", NULL };
  const char *close_accels[] = { "<Control>w", NULL };

  G_APPLICATION_CLASS (pd_app_application_parent_class)->startup (app);
  g_action_map_add_action_entries (G_ACTION_MAP (app), app_actions, G_N_ELEMENTS (app_actions),
                                   app);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "window.close", close_accels);
}

static void
pd_app_application_activate (GApplication *app)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (window == NULL)
    window = GTK_WINDOW (pd_app_window_new (PD_APP_APPLICATION (app)));
  gtk_window_present (window);
}

static void
pd_app_application_class_init (PdAppApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->startup = pd_app_application_startup;
  app_class->activate = pd_app_application_activate;
}

static void
pd_app_application_init (PdAppApplication *self)
{
}

PdAppApplication *
pd_app_application_new (void)
{
  return g_object_new (PD_APP_TYPE_APPLICATION,
                       "application-id", PD_APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       NULL);
}
