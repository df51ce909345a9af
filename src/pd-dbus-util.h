/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Replies with @error (taken), converted first so that no unmapped GError reaches the bus;
 * PD_ERROR codes go out under pd_error_to_dbus_name(), standard names included. */
void pd_return_gerror (GDBusMethodInvocation *invocation, GError *error);

G_END_DECLS
