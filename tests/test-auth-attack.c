/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pd-auth's CheckAuthorization against what an unprivileged local user can do, on a private
 * bus with the system bus's rules for replies (only a requested reply is delivered) where the
 * test plays polkitd: a reply forged by another peer, a reply of the wrong type, polkitd going
 * away in the middle of a check and coming back, checks running at once, more checks of one
 * user waiting than the daemon allows. Callers are gdbus
 * run as nobody (root is allowed without polkit), so the test runs as root, as the suite does.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-auth-attack"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "pd-auth.h"
#include "pd-dbus-error.h"
#include "pd-names.h"
#include "pd-test-bus.h"
#include "pd-test-utils.h"

#define NOBODY_UID 65534
#define OBJECT_PATH "/org/plugind/Test"

static const char object_xml[] =
  "<node><interface name='org.plugind.Test'><method name='Check'/></interface></node>";

static const char polkit_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.PolicyKit1.Authority'>"
  "    <method name='CheckAuthorization'>"
  "      <arg type='(sa{sv})' direction='in'/><arg type='s' direction='in'/>"
  "      <arg type='a{ss}' direction='in'/><arg type='u' direction='in'/>"
  "      <arg type='s' direction='in'/><arg type='(bba{ss})' direction='out'/>"
  "    </method>"
  "    <method name='CancelCheckAuthorization'><arg type='s' direction='in'/></method>"
  "  </interface>"
  "</node>";

typedef struct {
  GSubprocess *bus;
  char *dir;
  char *address;
  GDBusConnection *server;    /* the daemon's end: the object whose Check asks pd-auth */
  PdAuth *auth;
  GDBusConnection *polkitd;   /* the test's polkitd, owner of org.freedesktop.PolicyKit1 */
  GPtrArray *pending;         /* its CheckAuthorization invocations, not answered */
} Fixture;

/* section: the bus, polkitd and the daemon's object */

static void
die_with_test (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
bus_start (Fixture *f)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_path = NULL;

  f->dir = g_dir_make_tmp ("pd-test-auth-attack-XXXXXX", &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (f->dir, 0755), ==, 0);
  /* everyone may call and own, but replies and errors are delivered only when requested, as
   * /usr/share/dbus-1/system.conf has it */
  config = g_strdup_printf ("<busconfig><type>session</type><listen>unix:tmpdir=%s</listen>"
                            "<auth>EXTERNAL</auth><policy context='default'>"
                            "<allow user='*'/><allow own='*'/>"
                            "<allow send_type='method_call'/><allow send_type='signal'/>"
                            "<allow send_requested_reply='true' send_type='method_return'/>"
                            "<allow send_requested_reply='true' send_type='error'/>"
                            "<allow receive_type='method_call'/>"
                            "<allow receive_type='method_return'/>"
                            "<allow receive_type='error'/><allow receive_type='signal'/>"
                            "</policy></busconfig>",
                            f->dir);
  config_path = g_build_filename (f->dir, "bus.conf", NULL);
  g_assert_true (g_file_set_contents (config_path, config, -1, NULL));
  g_subprocess_launcher_set_child_setup (launcher, die_with_test, NULL, NULL);
  f->bus = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", "--nofork",
                                        "--print-address=1", "--config-file", config_path, NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (f->bus));
  f->address = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->address);
}

static void
polkit_method_cb (GDBusConnection *connection, const char *sender, const char *object_path,
                  const char *interface_name, const char *method_name, GVariant *parameters,
                  GDBusMethodInvocation *invocation, gpointer user_data)
{
  Fixture *f = user_data;

  if (g_str_equal (method_name, "CancelCheckAuthorization"))
    g_dbus_method_invocation_return_value (invocation, NULL);
  else
    g_ptr_array_add (f->pending, invocation);
}

static const GDBusInterfaceVTable polkit_vtable = { .method_call = polkit_method_cb };

/* a polkitd of its own connection, owning the name */
static void
polkitd_start (Fixture *f)
{
  g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (polkit_xml, NULL);
  g_autoptr(GVariant) owned = NULL;
  g_autoptr(GError) error = NULL;

  f->polkitd = pd_test_bus_connect (f->address);
  g_dbus_connection_register_object (f->polkitd, "/org/freedesktop/PolicyKit1/Authority",
                                     node->interfaces[0], &polkit_vtable, f, NULL, &error);
  g_assert_no_error (error);
  owned = g_dbus_connection_call_sync (f->polkitd, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", "org.freedesktop.PolicyKit1", 0),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       &error);
  g_assert_no_error (error);
}

static void
check_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GDBusMethodInvocation *invocation = user_data;
  g_autoptr(GError) error = NULL;

  if (pd_auth_check_finish (PD_AUTH (source), result, &error))
    g_dbus_method_invocation_return_value (invocation, NULL);
  else
    pd_return_gerror (invocation, g_steal_pointer (&error));
}

static void
object_method_cb (GDBusConnection *connection, const char *sender, const char *object_path,
                  const char *interface_name, const char *method_name, GVariant *parameters,
                  GDBusMethodInvocation *invocation, gpointer user_data)
{
  Fixture *f = user_data;

  pd_auth_check_async (f->auth, invocation, PD_ACTION_INSTALL, NULL, NULL, check_done_cb,
                       invocation);
}

static const GDBusInterfaceVTable object_vtable = { .method_call = object_method_cb };

static void
setup (Fixture *f)
{
  g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (object_xml, NULL);
  g_autoptr(GError) error = NULL;

  bus_start (f);
  /* pd-auth asks polkitd on the system bus: this one */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", f->address, TRUE);
  f->pending = g_ptr_array_new ();
  polkitd_start (f);
  f->server = pd_test_bus_connect (f->address);
  f->auth = pd_auth_new ();
  g_dbus_connection_register_object (f->server, OBJECT_PATH, node->interfaces[0], &object_vtable,
                                     f, NULL, &error);
  g_assert_no_error (error);
}

static void
teardown (Fixture *f)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&f->auth);
  g_dbus_connection_close_sync (f->server, NULL, NULL);
  g_clear_object (&f->server);
  if (f->polkitd != NULL)
    g_dbus_connection_close_sync (f->polkitd, NULL, NULL);
  g_clear_object (&f->polkitd);
  g_ptr_array_unref (f->pending);
  g_subprocess_force_exit (f->bus);
  g_subprocess_wait (f->bus, NULL, NULL);
  g_clear_object (&f->bus);
  pd_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->address);
}

/* section: callers */

static void
drop_to_nobody (gpointer user_data)
{
  if (setgroups (0, NULL) != 0 || setgid (NOBODY_UID) != 0 || setuid (NOBODY_UID) != 0)
    _exit (99);
}

/* gdbus calls Check as nobody */
static GSubprocess *
caller_start (Fixture *f)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GError) error = NULL;
  GSubprocess *caller;

  g_subprocess_launcher_set_child_setup (launcher, drop_to_nobody, NULL, NULL);
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  caller = g_subprocess_launcher_spawn (launcher, &error, "gdbus", "call", "--address",
                                        f->address, "--dest",
                                        g_dbus_connection_get_unique_name (f->server),
                                        "--object-path", OBJECT_PATH, "--method",
                                        "org.plugind.Test.Check", NULL);
  g_assert_no_error (error);
  return caller;
}

/* "" when the call succeeded, else what gdbus said */
static char *
caller_result (GSubprocess *caller)
{
  GAsyncResult *pending = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  char *err = NULL;

  g_subprocess_communicate_utf8_async (caller, NULL, NULL, pd_test_bus_store_result_cb, &pending);
  result = pd_test_bus_wait_result (&pending);
  g_subprocess_communicate_utf8_finish (caller, result, NULL, &err, &error);
  g_assert_no_error (error);
  if (g_subprocess_get_successful (caller))
    {
      g_free (err);
      return g_strdup ("");
    }
  return err;
}

static void
wait_pending (Fixture *f, guint n)
{
  while (f->pending->len < n)
    g_main_context_iteration (NULL, TRUE);
}

/* a round trip from @connection to the daemon's end: whatever @connection sent before has
 * been delivered (or refused) by then */
static void
round_trip (Fixture *f, GDBusConnection *connection)
{
  g_autoptr(GVariant) reply = NULL;
  GAsyncResult *pending = NULL;
  g_autoptr(GAsyncResult) result = NULL;

  g_dbus_connection_call (connection, g_dbus_connection_get_unique_name (f->server), "/",
                          "org.freedesktop.DBus.Peer", "Ping", NULL, NULL,
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, pd_test_bus_store_result_cb, &pending);
  result = pd_test_bus_wait_result (&pending);
  reply = g_dbus_connection_call_finish (connection, result, NULL);
  g_assert_nonnull (reply);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* the body @body as the reply to the pending check @invocation, sent by @from */
static void
send_reply (GDBusConnection *from, GDBusMethodInvocation *invocation, GVariant *body)
{
  GDBusMessage *call = g_dbus_method_invocation_get_message (invocation);
  g_autoptr(GDBusMessage) reply = g_dbus_message_new_method_reply (call);
  g_autoptr(GError) error = NULL;

  g_dbus_message_set_body (reply, body);
  g_dbus_connection_send_message (from, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &error);
  g_assert_no_error (error);
}

/* section: the attacks */

static void
test_attacks_subprocess (void)
{
  Fixture fixture = { NULL };
  Fixture *f = &fixture;
  g_autoptr(GSubprocess) caller = NULL;
  g_autoptr(GSubprocess) other = NULL;
  g_autoptr(GDBusConnection) rogue = NULL;
  g_autoptr(GVariant) first = NULL;
  g_autoptr(GVariant) second = NULL;
  const char *first_id = NULL, *second_id = NULL;
  char *shown;

  setup (f);

  /* another peer answers the check before polkitd does, "authorized", with the serial of the
   * call (a guess would do as well): the bus does not deliver a reply nobody asked it for, and
   * polkitd's own answer, a denial, is the one that counts */
  caller = caller_start (f);
  wait_pending (f, 1);
  rogue = pd_test_bus_connect (f->address);
  send_reply (rogue, g_ptr_array_index (f->pending, 0),
              g_variant_new_parsed ("((true, false, @a{ss} {}),)"));
  round_trip (f, rogue);
  send_reply (f->polkitd, g_ptr_array_index (f->pending, 0),
              g_variant_new_parsed ("((false, false, @a{ss} {}),)"));
  g_object_unref (g_ptr_array_steal_index (f->pending, 0));
  shown = caller_result (caller);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.AccessDenied"));
  g_free (shown);
  g_clear_object (&caller);

  /* polkitd's answer of the wrong type: a denial */
  caller = caller_start (f);
  wait_pending (f, 1);
  send_reply (f->polkitd, g_ptr_array_index (f->pending, 0),
              g_variant_new_parsed ("((true, true),)"));
  g_object_unref (g_ptr_array_steal_index (f->pending, 0));
  shown = caller_result (caller);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.AccessDenied"));
  g_assert_nonnull (strstr (shown, "polkit unavailable"));
  g_free (shown);
  g_clear_object (&caller);

  /* two checks at once have ids of their own; polkitd restarts while they wait: both are
   * denied, and the next check goes to the polkitd that took the name */
  caller = caller_start (f);
  other = caller_start (f);
  wait_pending (f, 2);
  g_variant_get (g_dbus_method_invocation_get_parameters (g_ptr_array_index (f->pending, 0)),
                 "(@(sa{sv})@s@a{ss}u&s)", NULL, NULL, NULL, NULL, &first_id);
  g_variant_get (g_dbus_method_invocation_get_parameters (g_ptr_array_index (f->pending, 1)),
                 "(@(sa{sv})@s@a{ss}u&s)", NULL, NULL, NULL, NULL, &second_id);
  g_assert_cmpstr (first_id, !=, "");
  g_assert_cmpstr (first_id, !=, second_id);
  /* never answered */
  while (f->pending->len > 0)
    g_object_unref (g_ptr_array_steal_index (f->pending, 0));
  g_dbus_connection_close_sync (f->polkitd, NULL, NULL);
  g_clear_object (&f->polkitd);
  shown = caller_result (caller);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.AccessDenied"));
  g_assert_nonnull (strstr (shown, "polkit unavailable"));
  g_free (shown);
  shown = caller_result (other);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.AccessDenied"));
  g_free (shown);
  g_clear_object (&caller);
  polkitd_start (f);
  caller = caller_start (f);
  wait_pending (f, 1);
  send_reply (f->polkitd, g_ptr_array_index (f->pending, 0),
              g_variant_new_parsed ("((true, false, @a{ss} {}),)"));
  g_object_unref (g_ptr_array_steal_index (f->pending, 0));
  shown = caller_result (caller);
  g_assert_cmpstr (shown, ==, "");
  g_free (shown);

  g_clear_object (&caller);

  /* a user whose agent never answers cannot fill the daemon's connection with waiting checks:
   * past 16 of one uid the next is refused at once, and a check that ends makes room */
  {
    g_autoptr(GPtrArray) callers = g_ptr_array_new_with_free_func (g_object_unref);

    for (guint i = 0; i < 16; i++)
      g_ptr_array_add (callers, caller_start (f));
    wait_pending (f, 16);
    caller = caller_start (f);
    shown = caller_result (caller);
    g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.LimitsExceeded"));
    g_free (shown);
    g_clear_object (&caller);
    g_assert_cmpuint (f->pending->len, ==, 16);
    send_reply (f->polkitd, g_ptr_array_index (f->pending, 0),
                g_variant_new_parsed ("((false, false, @a{ss} {}),)"));
    g_object_unref (g_ptr_array_steal_index (f->pending, 0));
    /* the answered check made room: the next one reaches polkitd */
    caller = caller_start (f);
    wait_pending (f, 16);
    /* the callers go away: their checks are cancelled and end */
    for (guint i = 0; i < callers->len; i++)
      g_subprocess_force_exit (g_ptr_array_index (callers, i));
    g_subprocess_force_exit (caller);
    while (f->pending->len > 0)
      g_object_unref (g_ptr_array_steal_index (f->pending, 0));
  }

  g_dbus_connection_close_sync (rogue, NULL, NULL);
  teardown (f);
}

static void
test_attacks (void)
{
  /* pd-auth's system bus connection is made once per process: a process of its own */
  pd_test_trap_root_subprocess ("/auth-attack/subprocess");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pd_dbus_error_register ();

  g_test_add_func ("/auth-attack", test_attacks);
  g_test_add_func ("/auth-attack/subprocess", test_attacks_subprocess);

  return g_test_run ();
}
