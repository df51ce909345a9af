/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "plugind"

#include <locale.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "pd-daemon.h"
#include "pd-names.h"

typedef struct {
  GMainLoop *loop;
  PdDaemon *daemon;
  gboolean name_acquired;
  gboolean stopping;
  int exit_status;
} Context;

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

static gboolean
on_signal (gpointer user_data)
{
  Context *context = user_data;

  if (context->stopping)
    return G_SOURCE_CONTINUE;
  context->stopping = TRUE;
  g_message ("stopping");
  pd_daemon_shutdown (context->daemon, quit_loop, context);
  return G_SOURCE_CONTINUE;
}

static void
on_bus_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Context *context = user_data;
  g_autoptr(GError) error = NULL;

  if (!pd_daemon_start (context->daemon, connection, &error))
    {
      g_printerr ("plugind: %s\n", error->message);
      context->exit_status = EXIT_FAILURE;
      g_main_loop_quit (context->loop);
    }
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Context *context = user_data;

  context->name_acquired = TRUE;
  g_message ("acquired the name %s", name);
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
  else
    g_message ("lost the name %s, exiting", name);
  if (!context->stopping)
    {
      context->stopping = TRUE;
      pd_daemon_shutdown (context->daemon, quit_loop, context);
    }
}

int
main (int argc, char **argv)
{
  gboolean replace = FALSE, verbose = FALSE, version = FALSE;
  const GOptionEntry entries[] = {
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace,
      N_("Replace a running instance"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, N_("Print debug messages"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *runtime_dir = NULL;
  Context context = { 0 };
  guint owner_id;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
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
  if (verbose)
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);

  state_dir = dir_from_env (PD_ENV_STATE_DIRECTORY, PD_DEFAULT_STATE_DIR);
  runtime_dir = dir_from_env (PD_ENV_RUNTIME_DIRECTORY, PD_DEFAULT_RUNTIME_DIR);
  context.daemon = pd_daemon_new (state_dir, runtime_dir, &error);
  if (context.daemon == NULL)
    {
      g_printerr ("plugind: cannot open the state in %s: %s\n", state_dir, error->message);
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

  g_bus_unown_name (owner_id);
  g_main_loop_unref (context.loop);
  g_object_unref (context.daemon);
  return context.exit_status;
}
