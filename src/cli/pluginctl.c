/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <locale.h>
#include <signal.h>

#include <glib/gi18n.h>

#include "ctl-commands.h"
#include "ctl-common.h"
#include "pd-names.h"

/*
 * pluginctl: the command line client of plugind, modelled on `docker plugin` (its commands,
 * options and output). Every command is a thin layer over the D-Bus API; the only local work is
 * reading the create context and computing the privileges it asks for, with the same core code
 * as the daemon, so that the user consents to exactly what the daemon will check.
 *
 * This file holds main() and the list of commands. ctl-plugin-commands.c and
 * ctl-registry-commands.c implement the commands; ctl-common.c holds what they share (the
 * connection, option parsing, errors, questions), ctl-status.c shows a plugin's runtime state,
 * ctl-follow.c shows a job until it ends,
 * ctl-context.c reads and sends a create context, ctl-credentials.c finds registry credentials
 * and ctl-format.c formats output as Docker does.
 */

static gboolean opt_version;

typedef struct {
  const char *name;
  const char *alias;
  int (*func) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "create", NULL, ctl_cmd_create, N_("Create a plugin from a directory or a tar archive") },
  { "disable", NULL, ctl_cmd_disable, N_("Disable a plugin") },
  { "enable", NULL, ctl_cmd_enable, N_("Enable a plugin") },
  { "inspect", NULL, ctl_cmd_inspect, N_("Display detailed information on plugins") },
  { "install", NULL, ctl_cmd_install, N_("Install a plugin") },
  { "logs", NULL, ctl_cmd_logs, N_("Show the output of a plugin") },
  { "ls", "list", ctl_cmd_list, N_("List plugins") },
  { "privileges", NULL, ctl_cmd_privileges, N_("Show the privileges a plugin in a registry requests") },
  { "push", NULL, ctl_cmd_push, N_("Push a plugin to a registry") },
  { "rm", "remove", ctl_cmd_remove, N_("Remove plugins") },
  { "set", NULL, ctl_cmd_set, N_("Change settings for a plugin") },
  { "status", NULL, ctl_cmd_status, N_("Show the runtime state of plugins, with their last log lines") },
  { "upgrade", NULL, ctl_cmd_upgrade, N_("Upgrade an existing plugin") },
};

static char *
commands_summary (void)
{
  g_autoptr(GString) out = g_string_new (_("Commands:"));

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *names = commands[i].alias != NULL
                               ? g_strdup_printf ("%s, %s", commands[i].name, commands[i].alias)
                               : g_strdup (commands[i].name);

      g_string_append_printf (out, "\n  %-14s %s", names, _(commands[i].summary));
    }
  g_string_append_printf (out, "\n\n%s", _("Run “pluginctl COMMAND --help” for the options of a command."));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

int
main (int argc, char **argv)
{
  static const GOptionEntry main_entries[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, N_("Show the version"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *summary = NULL;
  const char *command;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, g_getenv (PD_ENV_LOCALEDIR) != NULL ? g_getenv (PD_ENV_LOCALEDIR)
                                                                    : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("pluginctl");

  /* the tar worker writes to a pipe the daemon may close: that is an error, not a signal */
  signal (SIGPIPE, SIG_IGN);

  context = g_option_context_new (_("COMMAND [ARGUMENTS…]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  summary = commands_summary ();
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, _(ctl_exit_status_help));
  g_option_context_add_main_entries (context, main_entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, ctl_global_entries, GETTEXT_PACKAGE);
  /* stop at the command: its options belong to it */
  g_option_context_set_strict_posix (context, TRUE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return ctl_usage_error (NULL, error->message);

  if (opt_version)
    {
      g_print ("pluginctl %s\n", PACKAGE_VERSION);
      return CTL_EXIT_OK;
    }
  if (argc < 2)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

      g_printerr ("%s", help);
      return CTL_EXIT_USAGE;
    }

  command = argv[1];
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      if (g_str_equal (command, commands[i].name) ||
          (commands[i].alias != NULL && g_str_equal (command, commands[i].alias)))
        return commands[i].func (argc - 1, argv + 1);
    }

  {
    g_autofree char *message = g_strdup_printf (_("unknown command “%s”"), command);

    return ctl_usage_error (NULL, message);
  }
}
