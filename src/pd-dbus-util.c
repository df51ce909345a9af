/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "pd-dbus-util.h"
#include "pd-error.h"

void
pd_return_gerror (GDBusMethodInvocation *invocation, GError *error)
{
  pd_error_convert (&error);
  if (g_dbus_error_is_remote_error (error))
    {
      /* standard names GLib has no code for (InteractiveAuthorizationRequired) */
      g_autofree char *name = g_dbus_error_get_remote_error (error);
      g_dbus_error_strip_remote_error (error);
      g_dbus_method_invocation_return_dbus_error (invocation, name, error->message);
    }
  else if (error->domain == PD_ERROR)
    g_dbus_method_invocation_return_dbus_error (invocation, pd_error_to_dbus_name (error->code),
                                                error->message);
  else
    g_dbus_method_invocation_return_gerror (invocation, error);
  g_error_free (error);
}
