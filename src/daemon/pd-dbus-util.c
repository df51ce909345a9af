/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "pd-dbus-util.h"
#include "pd-error.h"

void
pd_return_gerror (GDBusMethodInvocation *invocation, GError *error)
{
  pd_error_convert (&error);
  pd_error_bound_message (error);
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

/* runs in GDBus's worker thread, before any dispatch */
static GDBusMessage *
call_size_filter (GDBusConnection *connection, GDBusMessage *message, gboolean incoming,
                  gpointer user_data)
{
  g_autoptr(GDBusMessage) reply = NULL;
  GVariant *body;
  const char *path;
  gsize size = 0;

  if (!incoming || g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL)
    return message;
  body = g_dbus_message_get_body (message);
  path = g_dbus_message_get_path (message);
  if (body != NULL)
    size += g_variant_get_size (body);
  if (path != NULL)
    size += strlen (path);
  if (size <= PD_DBUS_CALL_MAX_SIZE)
    return message;

  if ((g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) == 0)
    {
      reply = g_dbus_message_new_method_error (message,
                                               "org.freedesktop.DBus.Error.LimitsExceeded",
                                               "The call is %" G_GSIZE_FORMAT " bytes long, more "
                                               "than the %u that plugind takes",
                                               size, (guint) PD_DBUS_CALL_MAX_SIZE);
      g_dbus_connection_send_message (connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL,
                                      NULL);
    }
  g_object_unref (message);
  return NULL;
}

guint
pd_dbus_add_call_size_filter (GDBusConnection *connection)
{
  return g_dbus_connection_add_filter (connection, call_size_filter, NULL, NULL);
}
