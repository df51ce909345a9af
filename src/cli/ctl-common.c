/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "ctl-agent.h"
#include "ctl-common.h"
#include "ctl-format.h"
#include "pd-error.h"
#include "pd-names.h"

/* What every command shares: the connection to the daemon, option parsing, errors and exit
 * statuses, and the yes/no questions. */

/* global options, also accepted after the command name */
static gboolean opt_no_ask_password;

const GOptionEntry ctl_global_entries[] = {
  { "no-ask-password", 0, 0, G_OPTION_ARG_NONE, &opt_no_ask_password,
    N_("Never ask for authentication (fail with exit status 3 instead)"), NULL },
  { NULL }
};

const char ctl_exit_status_help[] =
  N_("Exit status:\n"
     "  0  success\n"
     "  1  failure\n"
     "  2  usage error\n"
     "  3  not authorized (denied, dismissed, or authentication needed with --no-ask-password)\n"
     "  4  no such plugin\n"
     "  64 the template of inspect --format does not parse");

void
ctl_clear (Ctl *ctl)
{
  ctl_agent_stop ();
  g_clear_object (&ctl->manager);
  g_clear_object (&ctl->bus);
}

/* errors */

/* maps the D-Bus error name of @error to an exit status */
static int
exit_status_for_error (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);

  if (name == NULL)
    return CTL_EXIT_FAILURE;
  if (g_str_equal (name, "org.freedesktop.DBus.Error.AccessDenied") ||
      g_str_equal (name, pd_error_to_dbus_name (PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED)) ||
      g_str_equal (name, pd_error_to_dbus_name (PD_ERROR_NOT_AUTHORIZED_DISMISSED)))
    return CTL_EXIT_NOT_AUTHORIZED;
  if (g_str_equal (name, pd_error_to_dbus_name (PD_ERROR_NO_SUCH_PLUGIN)) ||
      g_str_equal (name, "org.freedesktop.DBus.Error.UnknownObject"))
    return CTL_EXIT_NO_SUCH_PLUGIN;
  return CTL_EXIT_FAILURE;
}

/* ctl_connect()'s errors: the bus could not be reached at all */
static GQuark ctl_unreachable_error_quark (void);
G_DEFINE_QUARK (ctl-unreachable-error-quark, ctl_unreachable_error)

/* the sentence a person reads instead of the daemon's or the bus's own text, for errors that
 * are about reaching the daemon rather than about the request; NULL for the others */
static const char *
sentence_for_error (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);

  if (error->domain == ctl_unreachable_error_quark ())
    return _("The system bus cannot be reached: check that dbus-daemon runs and that "
             "DBUS_SYSTEM_BUS_ADDRESS, if set, names the system bus.");
  if (name == NULL)
    return NULL;
  if (g_str_equal (name, "org.freedesktop.DBus.Error.ServiceUnknown") ||
      g_str_equal (name, "org.freedesktop.DBus.Error.NameHasNoOwner") ||
      g_str_has_prefix (name, "org.freedesktop.DBus.Error.Spawn."))
    return _("The plugind daemon is not running and could not be started: start it with "
             "“systemctl start plugind” (or check that it is installed and its bus activation "
             "file is in place).");
  if (g_str_equal (name, pd_error_to_dbus_name (PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED)))
    return _("Not authorized without authentication: run the command without "
             "--no-ask-password in a terminal to be asked for a password, or as root.");
  if (g_str_equal (name, pd_error_to_dbus_name (PD_ERROR_NOT_AUTHORIZED_DISMISSED)))
    return _("Not authorized: the authentication was dismissed; run the command again and "
             "authenticate, or run it as root.");
  if (g_str_equal (name, "org.freedesktop.DBus.Error.AccessDenied"))
    return _("Not authorized: run the command as root, or ask an administrator to allow "
             "you this action (a polkit rule for plugind's actions).");
  return NULL;
}

int
ctl_report_error (GError *error)
{
  int status = exit_status_for_error (error);
  const char *sentence = sentence_for_error (error);
  g_autofree char *message = NULL;

  if (sentence != NULL)
    {
      g_debug ("%s", error->message);
      g_printerr (_("Error: %s\n"), sentence);
      return status;
    }
  g_dbus_error_strip_remote_error (error);
  message = ctl_escape_message (error->message);
  g_printerr (_("Error: %s\n"), message);
  return status;
}

int
ctl_usage_error (const char *command, const char *message)
{
  g_printerr (_("Error: %s\n"), message);
  if (command != NULL)
    g_printerr (_("Run “%s %s --help” for more information.\n"), g_get_prgname (), command);
  else
    g_printerr (_("Run “%s --help” for more information.\n"), g_get_prgname ());
  return CTL_EXIT_USAGE;
}

/* bus */

gboolean
ctl_connect (Ctl *ctl, GError **error)
{
  /* honours DBUS_SYSTEM_BUS_ADDRESS, which the tests and the README's private bus use */
  g_autoptr(GError) local_error = NULL;

  ctl->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local_error);
  if (ctl->bus == NULL)
    {
      /* a bad address, nothing listening, a socket that is no bus: ctl_report_error() says so
       * in one sentence */
      g_set_error_literal (error, ctl_unreachable_error_quark (), 0, local_error->message);
      return FALSE;
    }
  ctl->manager = pd_dbus_manager_proxy_new_sync (ctl->bus,
                                                 G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                                 G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                                 PD_DBUS_NAME, PD_DBUS_MANAGER_PATH,
                                                 NULL, error);
  return ctl->manager != NULL;
}

GDBusCallFlags
ctl_call_flags (void)
{
  if (opt_no_ask_password)
    return G_DBUS_CALL_FLAGS_NONE;
  /* the first call that may ask starts the agent, for the rest of the command: polkitd asks
   * through it when no agent of the session can */
  ctl_agent_start ();
  return G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION;
}

/* always says whether a dialog may be shown, so that the daemon need not guess from the
 * header flag */
void
ctl_options_init (GVariantBuilder *builder)
{
  g_variant_builder_init (builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (builder, "{sv}", "interactive",
                         g_variant_new_boolean (!opt_no_ask_password));
}

static PdDbusPlugin *
get_plugin (Ctl *ctl, const char *name, GDBusProxyFlags flags, GError **error)
{
  g_autofree char *path = NULL;

  if (!pd_dbus_manager_call_get_plugin_sync (ctl->manager, name, &path, NULL, error))
    return NULL;
  return pd_dbus_plugin_proxy_new_sync (ctl->bus, flags | G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                        PD_DBUS_NAME, path, NULL, error);
}

PdDbusPlugin *
ctl_get_plugin (Ctl *ctl, const char *name, GError **error)
{
  return get_plugin (ctl, name, G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES, error);
}

PdDbusPlugin *
ctl_get_plugin_with_properties (Ctl *ctl, const char *name, GError **error)
{
  return get_plugin (ctl, name, G_DBUS_PROXY_FLAGS_NONE, error);
}

/* option parsing */

int
ctl_parse (const CtlUsage *usage, int *argc, char ***argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *params = NULL;
  const char *command = (*argv)[0];
  int n_args;

  /* _("") would be the catalog's header */
  params = g_strdup_printf ("%s %s", command,
                            usage->parameters[0] != '\0' ? _(usage->parameters) : "");
  context = g_option_context_new (params);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _(usage->summary));
  g_option_context_set_description (context, _(ctl_exit_status_help));
  if (usage->entries != NULL)
    g_option_context_add_main_entries (context, usage->entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, ctl_global_entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, argc, argv, &error))
    return ctl_usage_error (command, error->message);
  n_args = *argc - 1;
  if (n_args < usage->min_args || (usage->max_args >= 0 && n_args > usage->max_args))
    return ctl_usage_error (usage->name, _(usage->args_error));
  return -1;
}

gboolean
ctl_parse_unsigned_option (const char *option,
                           const char *value,
                           guint64 min,
                           guint64 max,
                           guint64 *out,
                           GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (!g_ascii_string_to_unsigned (value, 10, min, max, out, &local_error))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("invalid value “%s” for %s: %s"), value, option, local_error->message);
      return FALSE;
    }
  return TRUE;
}

GVariant *
ctl_parse_settings (int argc, char **argv, int first)
{
  GVariantBuilder settings;

  g_variant_builder_init (&settings, G_VARIANT_TYPE ("a(ss)"));
  for (int i = first; i < argc; i++)
    {
      const char *arg = argv[i];
      const char *eq = strchr (arg, '=');
      g_autofree char *key = NULL;

      if (eq == arg)
        {
          g_variant_builder_clear (&settings);
          return NULL;
        }
      key = eq != NULL ? g_strndup (arg, eq - arg) : g_strdup (arg);
      /* every pair in the order given, as docker sends them: the daemon applies them in order */
      g_variant_builder_add (&settings, "(ss)", key, eq != NULL ? eq + 1 : "");
    }
  return g_variant_builder_end (&settings);
}

/* questions */

/* Docker's prompt.Confirm: reads the answer from standard input. With @require_terminal,
 * standard input must be a terminal: the consent comes from a person at it, and a script says
 * --grant-all-permissions (or --skip-remote-check) instead of piping "y". Anything else is a
 * refusal. */
gboolean
ctl_confirm (GString *out, gboolean require_terminal)
{
  char answer[256];

  fputs (out->str, stdout);
  fflush (stdout);

  if (require_terminal && !isatty (STDIN_FILENO))
    {
      fputc ('\n', stdout);
      fflush (stdout);
      g_printerr (_("Not asking: standard input is not a terminal.\n"));
      return FALSE;
    }
  if (fgets (answer, sizeof answer, stdin) == NULL)
    {
      /* end of input: finish the prompt line */
      fputc ('\n', stdout);
      return FALSE;
    }
  g_strstrip (answer);
  return g_str_equal (answer, "y") || g_str_equal (answer, "Y");
}

gboolean
ctl_ask_privileges (const char *name, GPtrArray *privileges, gboolean require_terminal)
{
  g_autoptr(GString) out = g_string_new (NULL);

  ctl_append_privileges (out, name, privileges);
  g_string_append (out, _("Do you grant the above permissions? [y/N] "));
  return ctl_confirm (out, require_terminal);
}
