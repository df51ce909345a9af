/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Errors on the bus. Their names come from one table, pd_error_to_dbus_name() in the core;
 * this is the one place that turns a GError into its D-Bus name.
 */

/* Registers the org.plugind.Plugind1.Error names of PdError with GDBus, so that GDBus itself
 * names a PD_ERROR it is given and maps such a name back; once, from any thread. */
void pd_dbus_error_register (void);

/* pd_error_convert() for the bus: an error that already has a D-Bus name (a G_DBUS_ERROR such
 * as a polkit denial, a remote error) keeps it */
void pd_dbus_error_convert (GError **error);

/* The D-Bus name @error goes out under, once pd_dbus_error_convert() made it one of ours: a
 * PdError's name (standard names included), a remote error's own name, GDBus' name of a
 * G_DBUS_ERROR. */
char *pd_dbus_error_name (const GError *error);

/* Replies with @error (taken), converted first so that no unmapped GError reaches the bus, its
 * message cut at PD_MESSAGE_MAX, under pd_dbus_error_name(). */
void pd_return_gerror (GDBusMethodInvocation *invocation, GError *error);

G_END_DECLS
