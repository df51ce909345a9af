/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "plugind"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "pd-daemon.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-names.h"
#include "pd-sandbox-start.h"
#include "pd-transfer.h"

/* Method calls larger than this (arguments and object path) are refused with LimitsExceeded
 * before they are dispatched. No call of ours needs near as much, and GLib quotes some
 * arguments (property and interface names, object paths) in its own error replies: this keeps
 * such a reply far below the bus's message size limit (32 MiB by default). */
#define PD_DBUS_CALL_MAX_SIZE (4 * 1024 * 1024)

/* how long --replace waits for the instance it replaces to release the state dir */
#define PD_LOCK_WAIT_MS 30000
#define PD_LOCK_POLL_MS 100

typedef struct {
  GMainLoop *loop;
  PdDaemon *daemon;          /* NULL until the state dir is ours */
  GDBusConnection *connection;
  const char *state_dir;
  const char *runtime_dir;
  int lock_fd;
  gboolean locked;
  guint lock_poll_id;
  gint64 lock_wait_start;
  gboolean name_acquired;
  gboolean stopping;
  int exit_status;
} Context;

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
                                               pd_error_to_dbus_name (PD_ERROR_LIMITS_EXCEEDED),
                                               "The call is %" G_GSIZE_FORMAT " bytes long, more "
                                               "than the %u that plugind takes",
                                               size, (guint) PD_DBUS_CALL_MAX_SIZE);
      g_dbus_connection_send_message (connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL,
                                      NULL);
    }
  g_object_unref (message);
  return NULL;
}

/* systemd may pass several colon-separated directories: the first is ours */
static char *
dir_from_env (const char *variable, const char *fallback)
{
  const char *value = g_getenv (variable);
  g_auto(GStrv) parts = NULL;

  if (value == NULL || *value == '\0')
    return g_strdup (fallback);
  parts = g_strsplit (value, ":", 2);
  return g_strdup (parts[0]);
}

static gboolean
quit_loop (gpointer user_data)
{
  Context *context = user_data;

  g_main_loop_quit (context->loop);
  return G_SOURCE_REMOVE;
}

static void
stop (Context *context)
{
  if (context->stopping)
    return;
  context->stopping = TRUE;
  g_clear_handle_id (&context->lock_poll_id, g_source_remove);
  if (context->daemon != NULL)
    pd_daemon_shutdown (context->daemon, quit_loop, context);
  else
    g_main_loop_quit (context->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  Context *context = user_data;

  if (!context->stopping)
    g_message ("stopping");
  stop (context);
  return G_SOURCE_CONTINUE;
}

/* One daemon per state dir: a second one (started by hand, or racing an activation) would
 * otherwise reconcile the store under the running one and delete its staging dirs and blobs. */
static gboolean
try_lock_state_dir (Context *context, GError **error)
{
  if (flock (context->lock_fd, LOCK_EX | LOCK_NB) == 0)
    {
      context->locked = TRUE;
      return TRUE;
    }
  if (errno != EWOULDBLOCK)
    {
      pd_set_error_from_errno (error, errno, "cannot lock %s", context->state_dir);
      return FALSE;
    }
  return TRUE;
}

static gboolean
start_daemon (Context *context, GError **error)
{
  context->daemon = pd_daemon_new (context->state_dir, context->runtime_dir, error);
  if (context->daemon == NULL)
    return FALSE;
  return context->connection == NULL ||
         pd_daemon_start (context->daemon, context->connection, error);
}

static void
fail (Context *context, const char *what, GError *error)
{
  g_printerr ("plugind: %s: %s\n", what, error->message);
  context->exit_status = EXIT_FAILURE;
  stop (context);
}

/* --replace: the old instance exits once it has lost the name; then the state dir is ours */
static gboolean
lock_poll_cb (gpointer user_data)
{
  Context *context = user_data;
  g_autoptr(GError) error = NULL;

  if (!try_lock_state_dir (context, &error))
    {
      context->lock_poll_id = 0;
      fail (context, context->state_dir, error);
      return G_SOURCE_REMOVE;
    }
  if (!context->locked)
    {
      if (g_get_monotonic_time () - context->lock_wait_start < PD_LOCK_WAIT_MS * 1000)
        return G_SOURCE_CONTINUE;
      context->lock_poll_id = 0;
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   "the instance being replaced did not release it within %d s",
                   PD_LOCK_WAIT_MS / 1000);
      fail (context, context->state_dir, error);
      return G_SOURCE_REMOVE;
    }
  context->lock_poll_id = 0;
  if (!start_daemon (context, &error))
    fail (context, context->state_dir, error);
  return G_SOURCE_REMOVE;
}

/* Exit status: 0 only for a deliberate stop, SIGTERM or SIGINT (the service manager's or an
 * operator's), and for a --replace handover (a restart of the old instance would fight the new
 * one for the name). Every other stop is a failure, so that Restart=on-failure brings the
 * daemon and its enabled plugins back: losing the bus connection above all, since the bus
 * disconnects a client that breaks its limits. */
static void
connection_lost (Context *context)
{
  if (!context->stopping)
    g_printerr ("plugind: %s\n", _("lost the connection to the system bus"));
  context->exit_status = EXIT_FAILURE;
  stop (context);
}

static void
on_connection_closed (GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
                      gpointer user_data)
{
  connection_lost (user_data);
}

static void
on_bus_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Context *context = user_data;
  g_autoptr(GError) error = NULL;

  context->connection = g_object_ref (connection);
  /* GLib's default for the bus connection raises SIGTERM when it closes, which would look like
   * a deliberate stop; a closed connection is a failure (see above) */
  g_dbus_connection_set_exit_on_close (connection, FALSE);
  g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), context);
  g_dbus_connection_add_filter (connection, call_size_filter, NULL, NULL);
  /* objects go on the bus before the name is requested, so that whoever sees the name finds
   * them; under --replace they come once the replaced instance has gone */
  if (context->daemon != NULL && !pd_daemon_start (context->daemon, connection, &error))
    fail (context, "cannot start", error);
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Context *context = user_data;

  context->name_acquired = TRUE;
  g_message ("acquired the name %s", name);
  if (context->daemon == NULL && !context->stopping)
    {
      g_message ("waiting for the replaced instance to release %s", context->state_dir);
      context->lock_wait_start = g_get_monotonic_time ();
      context->lock_poll_id = g_timeout_add (PD_LOCK_POLL_MS, lock_poll_cb, context);
    }
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Context *context = user_data;

  if (!context->name_acquired)
    {
      g_printerr ("plugind: %s\n", connection == NULL
                                     ? _("cannot connect to the system bus")
                                     : _("cannot own the name org.plugind.Plugind1 (is another "
                                         "plugind running? use --replace)"));
      context->exit_status = EXIT_FAILURE;
    }
  else if (connection == NULL || g_dbus_connection_is_closed (connection))
    {
      connection_lost (context);
      return;
    }
  else
    g_message ("lost the name %s to a replacement, exiting", name);
  stop (context);
}

int
main (int argc, char **argv)
{
  gboolean replace = FALSE, verbose = FALSE, version = FALSE, dump_auth_table = FALSE;
  g_autofree char *host_mount_namespace = NULL;
  const GOptionEntry entries[] = {
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace,
      N_("Replace a running instance"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Print debug messages"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
    { "host-mount-namespace", 0, 0, G_OPTION_ARG_FILENAME, &host_mount_namespace,
      N_("The mount namespace in which plugins' propagated mounts must appear (default: "
         "plugind's own)"), N_("PATH") },
    { "dump-auth-table", 0, 0, G_OPTION_ARG_NONE, &dump_auth_table,
      N_("Print the authorization rule of every method as JSON and exit"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *lock_path = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *runtime_dir = NULL;
  Context context = { .lock_fd = -1 };
  guint owner_id;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, g_getenv (PD_ENV_LOCALEDIR) != NULL ? g_getenv (PD_ENV_LOCALEDIR)
                                                                    : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  /* state must never be group- or world-readable, whatever we inherited */
  umask (0077);

  option_context = g_option_context_new (NULL);
  g_option_context_set_summary (option_context, _("Docker-compatible plugin manager service"));
  g_option_context_add_main_entries (option_context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      g_printerr ("plugind: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("plugind %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  if (dump_auth_table)
    {
      g_autofree char *table = pd_auth_dump_rules ();
      g_print ("%s\n", table);
      return EXIT_SUCCESS;
    }
  if (verbose)
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  /* opened once, before any thread or plugin: a namespace that cannot be reached is a
   * configuration error, not something to find at a plugin's start */
  if (host_mount_namespace != NULL &&
      !pd_sandbox_set_host_mount_namespace (host_mount_namespace, &error))
    {
      g_printerr ("plugind: %s\n", error->message);
      return EXIT_FAILURE;
    }

  state_dir = dir_from_env (PD_ENV_STATE_DIRECTORY, PD_DEFAULT_STATE_DIR);
  runtime_dir = dir_from_env (PD_ENV_RUNTIME_DIRECTORY, PD_DEFAULT_RUNTIME_DIR);
  context.state_dir = state_dir;
  context.runtime_dir = runtime_dir;
  lock_path = g_build_filename (context.state_dir, "lock", NULL);
  if (!pd_mkdir_with_mode (context.state_dir, 0700, &error))
    {
      g_printerr ("plugind: %s\n", error->message);
      return EXIT_FAILURE;
    }
  context.lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (context.lock_fd < 0 || !try_lock_state_dir (&context, &error))
    {
      g_printerr ("plugind: cannot lock %s: %s\n", lock_path,
                  error != NULL ? error->message : g_strerror (errno));
      return EXIT_FAILURE;
    }
  if (!context.locked && !replace)
    {
      g_printerr ("plugind: %s\n", _("another plugind uses this state directory (use --replace to "
                                      "take over)"));
      return EXIT_FAILURE;
    }
  if (context.locked && !start_daemon (&context, &error))
    {
      g_printerr ("plugind: cannot open the state in %s: %s\n", context.state_dir,
                  error->message);
      return EXIT_FAILURE;
    }

  context.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_signal, &context);
  g_unix_signal_add (SIGINT, on_signal, &context);
  owner_id = g_bus_own_name (G_BUS_TYPE_SYSTEM, PD_DBUS_NAME,
                             G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
                               (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
                             on_bus_acquired, on_name_acquired, on_name_lost, &context, NULL);
  g_main_loop_run (context.loop);

  pd_transfer_stop_spare ();
  g_bus_unown_name (owner_id);
  g_main_loop_unref (context.loop);
  g_clear_object (&context.daemon);
  g_clear_object (&context.connection);
  /* the lock goes with the process; closing it here only makes that explicit */
  close (context.lock_fd);
  return context.exit_status;
}
