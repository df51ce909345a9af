/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "ctl-commands.h"
#include "ctl-common.h"
#include "ctl-format.h"
#include "pd-error.h"

/* pluginctl status: one plugin's runtime state for a person, in the spirit of systemctl
 * status, from its properties and the end of its log. */

/* log lines shown, and the most bytes of them (a plugin may write huge lines) */
#define STATUS_LOG_LINES 10
#define STATUS_LOG_MAX (64 * 1024)

#define COLOR_RED "\033[1;31m"
#define COLOR_GREEN "\033[1;32m"
#define COLOR_YELLOW "\033[1;33m"
#define COLOR_OFF "\033[0m"

static const char *
state_color (const char *state)
{
  if (g_str_equal (state, "failed"))
    return COLOR_RED;
  if (g_str_equal (state, "running"))
    return COLOR_GREEN;
  if (g_str_equal (state, "disabled"))
    return "";
  return COLOR_YELLOW;
}

/* "Mon 2026-12-07 09:55:36 UTC; 3min 2s ago", from realtime microseconds */
static char *
format_since (guint64 usec)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc ((gint64) (usec / G_USEC_PER_SEC));
  g_autoptr(GDateTime) local = NULL;
  g_autofree char *when = NULL;
  gint64 ago = (g_get_real_time () - (gint64) usec) / G_USEC_PER_SEC;

  if (utc == NULL)
    return NULL;
  local = g_date_time_to_local (utc);
  when = g_date_time_format (local, "%a %Y-%m-%d %H:%M:%S %Z");
  if (ago < 0)
    ago = 0;
  if (ago >= 3600)
    return g_strdup_printf (_("%s; %uh %umin ago"), when, (guint) (ago / 3600),
                            (guint) (ago % 3600 / 60));
  if (ago >= 60)
    return g_strdup_printf (_("%s; %umin %us ago"), when, (guint) (ago / 60), (guint) (ago % 60));
  return g_strdup_printf (_("%s; %us ago"), when, (guint) ago);
}

/* the last lines of the plugin's log, terminal-safe, into @out; FALSE with @error when the
 * caller may not read it (no prompt: status is a read). ReadLog bounds the text and makes it
 * valid UTF-8. */
static gboolean
append_log_tail (PdDbusPlugin *plugin, GString *out, GError **error)
{
  g_autofree char *text = NULL;
  const char *tail;
  GVariantBuilder options;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "lines", g_variant_new_uint32 (STATUS_LOG_LINES));
  g_variant_builder_add (&options, "{sv}", "interactive", g_variant_new_boolean (FALSE));
  if (!pd_dbus_plugin_call_read_log_sync (plugin, g_variant_builder_end (&options), &text, NULL,
                                          error))
    return FALSE;
  tail = text;
  if (strlen (text) > STATUS_LOG_MAX)
    {
      /* the end of the text, from a line start when there is one */
      const char *cut = g_utf8_find_next_char (text + strlen (text) - STATUS_LOG_MAX - 1, NULL);
      const char *newline = strchr (cut, '\n');

      tail = newline != NULL && newline[1] != '\0' ? newline + 1 : cut;
    }
  ctl_append_terminal_safe (out, tail, strlen (tail), TRUE);
  if (out->len > 0 && out->str[out->len - 1] != '\n')
    g_string_append_c (out, '\n');
  return TRUE;
}

/* a "Label: value" line, labels right-aligned to @width columns */
static void
append_field (GString *out, int width, const char *label, const char *value)
{
  int pad = width - (int) g_utf8_strlen (label, -1);

  g_string_append_printf (out, "%*s%s: %s\n", MAX (pad, 0), "", label, value);
}

static void
append_status (GString *out, PdDbusPlugin *plugin, gboolean terminal, gboolean log_allowed,
               const char *log_text)
{
  const char *labels[] = { N_("State"), N_("Enabled"), N_("Main PID"), N_("Restarts"),
                           N_("Error"), N_("Holders"), N_("Socket"), N_("Job"), N_("ID") };
  const char *state = pd_dbus_plugin_get_state (plugin);
  const char *error_name = pd_dbus_plugin_get_last_error_name (plugin);
  const char *job = pd_dbus_plugin_get_job (plugin);
  GVariant *holders = pd_dbus_plugin_get_holders (plugin);
  const char *color = terminal ? state_color (state != NULL ? state : "") : "";
  g_autofree char *name = pd_escape_untrusted_full (pd_dbus_plugin_get_name (plugin), -1);
  g_autofree char *description = NULL;
  g_autofree char *since = NULL;
  g_autofree char *state_text = NULL;
  g_autofree char *pid = NULL;
  g_autofree char *restarts = NULL;
  int width = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    width = MAX (width, (int) g_utf8_strlen (_(labels[i]), -1));

  description = ctl_format_description (pd_dbus_plugin_get_description (plugin), FALSE);
  if (terminal)
    g_string_append_printf (out, "%s●%s ", color, *color != '\0' ? COLOR_OFF : "");
  g_string_append (out, name);
  if (description[0] != '\0')
    {
      g_autofree char *shown = pd_escape_untrusted_full (description, -1);

      g_string_append_printf (out, " - %s", shown);
    }
  g_string_append_c (out, '\n');

  if (pd_dbus_plugin_get_state_timestamp (plugin) > 0)
    since = format_since (pd_dbus_plugin_get_state_timestamp (plugin));
  state_text = g_strdup_printf ("%s%s%s%s%s", color, state != NULL ? state : "",
                                *color != '\0' ? COLOR_OFF : "",
                                since != NULL ? _(" since ") : "", since != NULL ? since : "");
  append_field (out, width, _("State"), state_text);
  append_field (out, width, _("Enabled"),
                pd_dbus_plugin_get_enabled (plugin) ? _("yes") : _("no"));
  if (pd_dbus_plugin_get_main_pid (plugin) != 0)
    {
      pid = g_strdup_printf ("%u", pd_dbus_plugin_get_main_pid (plugin));
      append_field (out, width, _("Main PID"), pid);
    }
  restarts = g_strdup_printf ("%u", pd_dbus_plugin_get_restart_count (plugin));
  append_field (out, width, _("Restarts"), restarts);
  if (error_name != NULL && error_name[0] != '\0')
    {
      /* the daemon's message: untrusted parts escaped there, made safe for a terminal here */
      const char *last = pd_dbus_plugin_get_last_error_message (plugin);
      g_autofree char *message = ctl_escape_message (last);
      g_autofree char *text = g_strdup_printf ("%s%s (%s)%s", terminal ? COLOR_RED : "",
                                               message, error_name, terminal ? COLOR_OFF : "");

      append_field (out, width, _("Error"), text);
    }
  if (holders != NULL && g_variant_n_children (holders) > 0)
    {
      GVariantIter iter;
      const char *who, *why;
      guint32 uid, holder_pid;
      gboolean first = TRUE;

      g_variant_iter_init (&iter, holders);
      while (g_variant_iter_next (&iter, "(&s&suu)", &who, &why, &uid, &holder_pid))
        {
          /* sanitized by the daemon; kept as they are when clean, never raw on a terminal */
          g_autofree char *safe_who = ctl_escape_line (who);
          g_autofree char *safe_why = ctl_escape_line (why);
          g_autofree char *line = g_strdup_printf (_("%s (%s, uid %u)"), safe_who, safe_why,
                                                   uid);

          append_field (out, width, first ? _("Holders") : "", line);
          first = FALSE;
        }
    }
  else
    append_field (out, width, _("Holders"), _("none"));
  if (pd_dbus_plugin_get_socket (plugin) != NULL && pd_dbus_plugin_get_socket (plugin)[0] != '\0')
    append_field (out, width, _("Socket"), pd_dbus_plugin_get_socket (plugin));
  if (job != NULL && !g_str_equal (job, "/"))
    append_field (out, width, _("Job"), job);
  append_field (out, width, _("ID"), pd_dbus_plugin_get_id (plugin));

  if (log_allowed)
    {
      if (log_text[0] != '\0')
        g_string_append_printf (out, "\n%s", log_text);
    }
  else
    {
      g_autofree char *hint = g_strdup_printf (
        _("Hint: the log is not shown: reading it needs authorization (run “pluginctl logs "
          "%s” to authenticate, or run as root)."), name);

      g_string_append_printf (out, "\n%s\n", hint);
    }
}

static const CtlUsage status_usage = {
  .name = "status",
  .parameters = N_("NAME…"),
  .summary = N_("Show the runtime state of plugins: state and since when, enabled, main PID, "
                "restarts, the last error, holders, socket, and the last lines of the log "
                "when you may read it."),
  .entries = NULL,
  .min_args = 1,
  .max_args = -1,
  .args_error = N_("“status” requires at least 1 argument"),
};

int
ctl_cmd_status (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  gboolean terminal = isatty (STDOUT_FILENO);
  int status;

  status = ctl_parse (&status_usage, &argc, &argv);
  if (status >= 0)
    return status;
  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);

  status = CTL_EXIT_OK;
  for (int i = 1; i < argc; i++)
    {
      g_autoptr(PdDbusPlugin) plugin = NULL;
      g_autoptr(GString) out = g_string_new (NULL);
      g_autoptr(GString) log_text = g_string_new (NULL);
      g_autoptr(GError) local_error = NULL;
      gboolean log_allowed;

      plugin = ctl_get_plugin_with_properties (&ctl, argv[i], &local_error);
      if (plugin == NULL)
        {
          int s = ctl_report_error (local_error);

          if (status == CTL_EXIT_OK)
            status = s;
          continue;
        }
      log_allowed = append_log_tail (plugin, log_text, &local_error);
      if (!log_allowed)
        {
          g_autofree char *remote = g_dbus_error_get_remote_error (local_error);

          /* only a refusal becomes the hint; anything else is an error of its own */
          if (remote == NULL ||
              (!g_str_equal (remote, "org.freedesktop.DBus.Error.AccessDenied") &&
               !g_str_equal (remote, pd_error_to_dbus_name (
                                       PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))))
            {
              int s = ctl_report_error (local_error);

              if (status == CTL_EXIT_OK)
                status = s;
              continue;
            }
          g_debug ("no log: %s", local_error->message);
        }
      if (i > 1)
        g_print ("\n");
      append_status (out, plugin, terminal, log_allowed, log_text->str);
      g_print ("%s", out->str);
    }
  return status;
}
