/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What the tests of D-Bus objects (test-auth, test-job, test-dbus) share. */

/* a message bus connection to @address, authenticated; fails the test otherwise */
GDBusConnection *pd_test_bus_connect (const char *address);

/* a GAsyncReadyCallback that keeps the result in *(GAsyncResult **) @user_data */
void pd_test_bus_store_result_cb (GObject *source, GAsyncResult *result, gpointer user_data);

/* runs the default main context until *@result is set by pd_test_bus_store_result_cb(), and
 * returns it (the caller owns it) */
GAsyncResult *pd_test_bus_wait_result (GAsyncResult **result);

G_END_DECLS
