/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Replies with @error (taken), converted first so that no unmapped GError reaches the bus;
 * PD_ERROR codes go out under pd_error_to_dbus_name(), standard names included. */
void pd_return_gerror (GDBusMethodInvocation *invocation, GError *error);

/* Method calls larger than this (arguments and object path) are refused with LimitsExceeded
 * before they are dispatched. No call of ours needs near as much, and GLib quotes some
 * arguments (property and interface names, object paths) in its own error replies: this keeps
 * such a reply far below the bus's message size limit (32 MiB by default). */
#define PD_DBUS_CALL_MAX_SIZE (4 * 1024 * 1024)
/* installs that filter on @connection; returns its id */
guint pd_dbus_add_call_size_filter (GDBusConnection *connection);

G_END_DECLS
