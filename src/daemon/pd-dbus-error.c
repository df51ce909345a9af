/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-dbus-error"

#include "pd-dbus-error.h"
#include "pd-error.h"
#include "pd-names.h"

void
pd_dbus_error_register (void)
{
  static gsize registered = 0;

  if (!g_once_init_enter (&registered))
    return;
  /* the standard names belong to GDBus' own domain, or to no domain at all */
  for (guint code = 0; code < PD_ERROR_N_ERRORS; code++)
    {
      const char *name = pd_error_to_dbus_name (code);

      if (g_str_has_prefix (name, PD_DBUS_ERROR_PREFIX))
        g_dbus_error_register_error (PD_ERROR, code, name);
    }
  g_once_init_leave (&registered, 1);
}

void
pd_dbus_error_convert (GError **error)
{
  /* errors that already carry a D-Bus name (polkit denials, remote errors) stay as they are */
  if (error != NULL && *error != NULL
      && ((*error)->domain == G_DBUS_ERROR || g_dbus_error_is_remote_error (*error)))
    return;
  pd_error_convert (error);
}

char *
pd_dbus_error_name (const GError *error)
{
  g_autoptr(GError) converted = g_error_copy (error);

  pd_dbus_error_convert (&converted);
  if (converted->domain == PD_ERROR)
    return g_strdup (pd_error_to_dbus_name (converted->code));
  /* a remote error keeps its name; g_dbus_error_encode_gerror() would not know it */
  if (g_dbus_error_is_remote_error (converted))
    return g_dbus_error_get_remote_error (converted);
  return g_dbus_error_encode_gerror (converted);
}

void
pd_return_gerror (GDBusMethodInvocation *invocation, GError *error)
{
  g_autofree char *name = NULL;

  pd_dbus_error_convert (&error);
  pd_error_bound_message (error);
  name = pd_dbus_error_name (error);
  g_dbus_error_strip_remote_error (error);
  g_dbus_method_invocation_return_dbus_error (invocation, name, error->message);
  g_error_free (error);
}
