/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The words the app shows for the daemon's states and errors */

#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "pd-app-text.h"
#include "pd-names.h"

char *
pd_app_state_label (const char *state)
{
  static const struct
  {
    const char *state;
    const char *label;
  } labels[] = {
    { "disabled", N_("Disabled") },   { "starting", N_("Starting…") },
    { "running", N_("Running") },     { "stopping", N_("Stopping…") },
    { "restarting", N_("Restarting") }, { "failed", N_("Failed") },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    if (g_strcmp0 (state, labels[i].state) == 0)
      return g_strdup (_(labels[i].label));
  /* a state a newer daemon added: its own word */
  return g_strdup (state != NULL ? state : "");
}

char *
pd_app_error_sentence (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  g_autoptr(GError) copy = g_error_copy (error);

  if (g_strcmp0 (name, PD_DBUS_ERROR_PREFIX "NotAuthorizedDismissed") == 0 ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return NULL;
  if (g_strcmp0 (name, "org.freedesktop.DBus.Error.AccessDenied") == 0 ||
      g_strcmp0 (name, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") == 0)
    return g_strdup (_("You are not allowed to do this."));
  if (g_strcmp0 (name, "org.freedesktop.DBus.Error.ServiceUnknown") == 0 ||
      g_strcmp0 (name, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0 ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY))
    return g_strdup (_("The plugin service is not running."));
  /* the daemon's messages are made for people already (docs/dbus-api.md, Errors) */
  g_dbus_error_strip_remote_error (copy);
  return g_strdup (copy->message);
}
