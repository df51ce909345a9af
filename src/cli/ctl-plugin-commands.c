/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "ctl-commands.h"
#include "ctl-common.h"
#include "ctl-context.h"
#include "ctl-follow.h"
#include "ctl-format.h"
#include "ctl-template.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-json.h"
#include "pd-names.h"
#include "pd-plugin-config.h"
#include "pd-privileges.h"

/* The commands on the daemon's plugins: create, ls, inspect, set, enable, disable, logs, rm. */

/* the largest D-Bus message (and so the largest Inspect answer) */
#define CTL_MAX_DBUS_MESSAGE_SIZE (128 * 1024 * 1024)

/* @method of the plugin @name with @parameters (floating, always consumed). No D-Bus timeout:
 * the daemon bounds what it does itself, and a password dialog may take the user a while. */
static GVariant *
call_plugin (Ctl *ctl, const char *name, const char *method, GVariant *parameters,
             GError **error)
{
  g_autoptr(GVariant) args = g_variant_ref_sink (parameters);
  g_autoptr(PdDbusPlugin) plugin = ctl_get_plugin (ctl, name, error);

  if (plugin == NULL)
    return NULL;
  return g_dbus_proxy_call_sync (G_DBUS_PROXY (plugin), method, args, ctl_call_flags (),
                                 G_MAXINT, NULL, error);
}

/* create */

static gboolean opt_grant_all;

static const GOptionEntry create_entries[] = {
  CTL_GRANT_ALL_ENTRY (&opt_grant_all),
  { NULL }
};

static const CtlUsage create_usage = {
  .name = "create",
  .parameters = N_("NAME DIR|TARBALL"),
  .summary = N_("Create a plugin from a directory holding config.json and rootfs/, or from "
                "a tar archive of them (plain or compressed)."),
  .entries = create_entries,
  .min_args = 2,
  .max_args = 2,
  .args_error = N_("“create” requires exactly 2 arguments: NAME and DIR or TARBALL"),
};

int
ctl_cmd_create (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) local_error = NULL;
  /* declared before @context, so freed after it: the thread that archives a directory may
   * call @follow until it is joined */
  g_autoptr(CtlJobFollow) follow = NULL;
  g_autoptr(CtlContext) context = NULL;
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autofree char *job_path = NULL;
  GVariantBuilder options;
  GBytes *config_data;
  const char *name;
  int fd_index;
  int status;

  status = ctl_parse (&create_usage, &argc, &argv);
  if (status >= 0)
    return status;
  name = argv[1];

  /* read the config locally and compute the privileges exactly as the daemon will */
  context = ctl_context_open (argv[2], &error);
  if (context == NULL)
    return ctl_report_error (error);
  config_data = ctl_context_get_config (context);
  config = pd_plugin_config_new_from_data (g_bytes_get_data (config_data, NULL),
                                           g_bytes_get_size (config_data), &error);
  if (config == NULL)
    {
      g_prefix_error (&error, "%s: ", _("invalid config.json"));
      return ctl_report_error (error);
    }
  privileges = pd_privileges_compute (config, NULL);

  if (privileges->len > 0 && !opt_grant_all && !ctl_ask_privileges (name, privileges, FALSE))
    {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("permission denied while creating plugin %s"), name);
      return ctl_report_error (error);
    }

  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);

  follow = ctl_job_follow_new (CTL_FOLLOW_CREATE, NULL);
  fd_list = g_unix_fd_list_new ();
  fd_index = ctl_context_start (context, fd_list, ctl_job_follow_cancel_soon, follow, &error);
  if (fd_index < 0)
    return ctl_report_error (error);

  ctl_options_init (&options);
  ret = g_dbus_proxy_call_with_unix_fd_list_sync (G_DBUS_PROXY (ctl.manager), "Create",
                                                  g_variant_new ("(sh@a(ssas)a{sv})", name,
                                                                 fd_index,
                                                                 pd_privileges_to_variant (privileges),
                                                                 &options),
                                                  ctl_call_flags (), G_MAXINT,
                                                  fd_list, NULL, NULL, &error);
  /* our copy of the context fd is no longer needed: the daemon has its own */
  g_clear_object (&fd_list);
  if (ret != NULL)
    {
      g_variant_get (ret, "(o)", &job_path);
      results = ctl_job_follow_run (follow, &ctl, job_path, &error);
    }

  /* a local read error explains a failed job better than the daemon's "truncated"; without a
   * job, the daemon never read the stream and its reply is what matters */
  if (!ctl_context_finish (context, &local_error) && ret != NULL)
    {
      g_clear_error (&error);
      error = g_steal_pointer (&local_error);
      g_clear_pointer (&results, g_variant_unref);
    }
  if (results == NULL)
    return ctl_report_error (error);

  g_print ("%s\n", name);
  return CTL_EXIT_OK;
}

/* ls */

static gboolean opt_quiet;
static gboolean opt_no_trunc;
static gboolean opt_state;
static char **opt_filters;
static char *opt_format;

static const GOptionEntry list_entries[] = {
  { "quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet, N_("Only display plugin IDs"), NULL },
  { "no-trunc", 0, 0, G_OPTION_ARG_NONE, &opt_no_trunc, N_("Don't truncate output"), NULL },
  { "state", 's', 0, G_OPTION_ARG_NONE, &opt_state,
    N_("Add a STATE column to the table (the default on a terminal)"), NULL },
  { "filter", 'f', 0, G_OPTION_ARG_STRING_ARRAY, &opt_filters,
    N_("Filter output: enabled=true|false, capability=NAME (repeatable)"), N_("KEY=VALUE") },
  { "format", 0, 0, G_OPTION_ARG_STRING, &opt_format,
    N_("Output format: “table” (the default), “json” (one object per line), “raw”, or a Go "
       "template (“table ” before it adds a header)"), N_("FORMAT") },
  { NULL }
};

typedef struct {
  char *id;
  char *name;
  char *reference;
  char *state;
  gboolean enabled;
  char *path;
  char *description;
  char *last_error_name;
  char *last_error;
  guint32 restart_count;
} ListRow;

static void
list_row_free (ListRow *row)
{
  g_free (row->id);
  g_free (row->name);
  g_free (row->reference);
  g_free (row->state);
  g_free (row->path);
  g_free (row->description);
  g_free (row->last_error_name);
  g_free (row->last_error);
  g_free (row);
}

static int
list_row_compare (gconstpointer a, gconstpointer b)
{
  const ListRow *row_a = *(const ListRow *const *) a;
  const ListRow *row_b = *(const ListRow *const *) b;

  return ctl_natural_compare (row_a->name, row_b->name);
}

/* the properties of every plugin (path → a{sv}), with one GetManagedObjects call rather than
 * one per plugin */
static GHashTable *
get_descriptions (Ctl *ctl, GError **error)
{
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GHashTable) descriptions = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                              g_free,
                                                              (GDestroyNotify) g_variant_unref);
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;

  ret = g_dbus_connection_call_sync (ctl->bus, PD_DBUS_NAME, PD_DBUS_ROOT_PATH,
                                     "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                     NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                                     G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
  if (ret == NULL)
    return NULL;
  objects = g_variant_get_child_value (ret, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      GVariant *props = g_variant_lookup_value (interfaces, PD_DBUS_INTERFACE_PLUGIN,
                                                G_VARIANT_TYPE_VARDICT);

      if (props != NULL)
        g_hash_table_insert (descriptions, g_strdup (path), props);
      g_variant_unref (interfaces);
    }
  return g_steal_pointer (&descriptions);
}

/* fills @filters from the -f options; NULL with a usage message on error */
static gboolean
parse_filters (GVariantBuilder *filters, GPtrArray *capabilities, GError **error)
{
  int enabled = -1;

  g_variant_builder_init (filters, G_VARIANT_TYPE_VARDICT);
  for (gsize i = 0; opt_filters != NULL && opt_filters[i] != NULL; i++)
    {
      const char *filter = opt_filters[i];
      const char *eq = strchr (filter, '=');
      g_autofree char *key = NULL;
      const char *value;

      if (eq == NULL)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("bad format of filter (expected name=value)"));
          return FALSE;
        }
      key = g_ascii_strdown (filter, eq - filter);
      g_strstrip (key);
      value = eq + 1;
      if (g_str_equal (key, "enabled"))
        {
          int b;

          if (g_str_equal (value, "true") || g_str_equal (value, "1"))
            b = 1;
          else if (g_str_equal (value, "false") || g_str_equal (value, "0"))
            b = 0;
          else
            {
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("invalid filter 'enabled=%s'"), value);
              return FALSE;
            }
          if (enabled >= 0 && enabled != b)
            {
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("conflicting values for filter 'enabled'"));
              return FALSE;
            }
          enabled = b;
        }
      else if (g_str_equal (key, "capability"))
        {
          if (!g_ptr_array_find_with_equal_func (capabilities, value, g_str_equal, NULL))
            g_ptr_array_add (capabilities, g_strdup (value));
        }
      else
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("invalid filter '%s'"), key);
          return FALSE;
        }
    }
  if (enabled >= 0)
    g_variant_builder_add (filters, "{sv}", "enabled", g_variant_new_boolean (enabled));
  return TRUE;
}

/* ListPlugins with @filters (a floating or owned a{sv}), rows added to @rows unless @seen */
static gboolean
list_plugins (Ctl *ctl, GVariant *filters, GPtrArray *rows, GHashTable *seen, GError **error)
{
  g_autoptr(GVariant) plugins = NULL;
  GVariantIter iter;
  const char *id, *name, *reference, *state, *path;
  gboolean enabled;

  if (!pd_dbus_manager_call_list_plugins_sync (ctl->manager, filters, &plugins, NULL, error))
    return FALSE;
  g_variant_iter_init (&iter, plugins);
  while (g_variant_iter_next (&iter, "(&s&s&s&sb&o)", &id, &name, &reference, &state,
                              &enabled, &path))
    {
      ListRow *row;

      if (g_hash_table_contains (seen, id))
        continue;
      row = g_new0 (ListRow, 1);
      row->id = g_strdup (id);
      row->name = g_strdup (name);
      row->reference = g_strdup (reference);
      row->state = g_strdup (state);
      row->enabled = enabled;
      row->path = g_strdup (path);
      g_hash_table_add (seen, row->id);
      g_ptr_array_add (rows, row);
    }
  return TRUE;
}

/* the Description and the last error of each row: from @descriptions (path → a{sv}), else
 * from the plugin itself */
static void
fill_descriptions (Ctl *ctl, GPtrArray *rows, GHashTable *descriptions)
{
  for (guint i = 0; i < rows->len; i++)
    {
      ListRow *row = g_ptr_array_index (rows, i);
      GVariant *props = descriptions != NULL ? g_hash_table_lookup (descriptions, row->path)
                                             : NULL;

      if (props != NULL)
        {
          g_variant_lookup (props, "Description", "s", &row->description);
          g_variant_lookup (props, "LastErrorName", "s", &row->last_error_name);
          g_variant_lookup (props, "LastErrorMessage", "s", &row->last_error);
          g_variant_lookup (props, "RestartCount", "u", &row->restart_count);
        }
      else
        {
          /* a plugin created after GetManagedObjects: ask it directly */
          g_autoptr(PdDbusPlugin) plugin = NULL;

          plugin = pd_dbus_plugin_proxy_new_sync (ctl->bus,
                                                  G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                                  PD_DBUS_NAME, row->path, NULL, NULL);
          if (plugin != NULL)
            {
              row->description = pd_dbus_plugin_dup_description (plugin);
              row->last_error_name = pd_dbus_plugin_dup_last_error_name (plugin);
              row->last_error = pd_dbus_plugin_dup_last_error_message (plugin);
              row->restart_count = pd_dbus_plugin_get_restart_count (plugin);
            }
        }
      if (row->description == NULL)
        row->description = g_strdup ("");
      if (row->last_error_name == NULL)
        row->last_error_name = g_strdup ("");
      if (row->last_error == NULL)
        row->last_error = g_strdup ("");
    }
}

/* a row as docker's template sees it, plus State */
static JsonNode *
row_to_json (ListRow *row, gboolean trunc)
{
  g_autofree char *id = trunc ? ctl_truncate_id (row->id) : g_strdup (row->id);
  g_autofree char *description = ctl_format_description (row->description, trunc);
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  /* the keys in Go's sorted map order, as docker's {{json .}} writes them */
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "Description");
  json_builder_add_string_value (builder, description);
  json_builder_set_member_name (builder, "Enabled");
  json_builder_add_boolean_value (builder, row->enabled);
  json_builder_set_member_name (builder, "ID");
  json_builder_add_string_value (builder, id);
  /* LastError, LastErrorName, RestartCount and State are not in Docker's output: whether the
   * plugin runs now, not only whether it should, and why not */
  json_builder_set_member_name (builder, "LastError");
  json_builder_add_string_value (builder, row->last_error);
  json_builder_set_member_name (builder, "LastErrorName");
  json_builder_add_string_value (builder, row->last_error_name);
  json_builder_set_member_name (builder, "Name");
  json_builder_add_string_value (builder, row->name);
  json_builder_set_member_name (builder, "PluginReference");
  json_builder_add_string_value (builder, row->reference);
  json_builder_set_member_name (builder, "RestartCount");
  json_builder_add_int_value (builder, row->restart_count);
  json_builder_set_member_name (builder, "State");
  json_builder_add_string_value (builder, row->state);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/* one object per line */
static void
print_rows_json (GPtrArray *rows, gboolean trunc)
{
  for (guint i = 0; i < rows->len; i++)
    {
      g_autoptr(JsonNode) node = row_to_json (g_ptr_array_index (rows, i), trunc);

      ctl_print_json_line (node);
    }
}

/* each row through @tmpl, docker's way */
static int
print_rows_template (CtlTemplate *tmpl, gboolean table, GPtrArray *rows, gboolean trunc)
{
  g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < rows->len; i++)
    g_ptr_array_add (nodes, row_to_json (g_ptr_array_index (rows, i), trunc));
  if (!ctl_format_list (tmpl, table, nodes, out, &error))
    {
      g_prefix_error (&error, _("template parsing error: "));
      return ctl_report_error (error);
    }
  ctl_print_untrusted (out->str, out->len);
  return CTL_EXIT_OK;
}

/* Docker's columns; @state adds STATE, which scripts parsing Docker's table never see unless
 * they ask */
static void
print_rows_table (GPtrArray *rows, gboolean trunc, gboolean state)
{
  g_autoptr(GPtrArray) table = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  const char *header[] = { "ID", "NAME", "DESCRIPTION", "ENABLED", "STATE", NULL };
  guint n_columns = state ? 5 : 4;

  g_ptr_array_add (table, g_strdupv ((char **) header));
  for (guint i = 0; i < rows->len; i++)
    {
      ListRow *row = g_ptr_array_index (rows, i);
      g_autofree char *description = ctl_format_description (row->description, trunc);
      char **cells = g_new0 (char *, 6);

      cells[0] = trunc ? ctl_truncate_id (row->id) : g_strdup (row->id);
      /* names and descriptions are untrusted: no terminal escape sequences in a table */
      cells[1] = pd_escape_untrusted_full (row->name, -1);
      cells[2] = pd_escape_untrusted_full (description, -1);
      cells[3] = g_strdup (row->enabled ? "true" : "false");
      if (state)
        cells[4] = g_strdup (row->state);
      g_ptr_array_add (table, cells);
    }
  ctl_print_table (table, n_columns);
}

static const CtlUsage list_usage = {
  .name = "ls",
  .parameters = "",
  .summary = N_("List plugins."),
  .entries = list_entries,
  .min_args = 0,
  .max_args = 0,
  .args_error = N_("“ls” accepts no arguments"),
};

int
ctl_cmd_list (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) capabilities = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) list_row_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) descriptions = NULL;
  g_autoptr(GVariant) base_filters = NULL;
  g_autoptr(CtlTemplate) tmpl = NULL;
  GVariantBuilder filters;
  const char *format;
  gboolean json = FALSE;
  gboolean quiet = FALSE;
  gboolean table = FALSE;
  gboolean trunc;
  int status;

  status = ctl_parse (&list_usage, &argc, &argv);
  if (status >= 0)
    return status;
  /* docker's choices: -q changes the table and raw formats, a template is used as given */
  format = opt_format != NULL && opt_format[0] != '\0' ? opt_format : "table";
  if (g_str_equal (format, "json"))
    json = TRUE;
  else if (g_str_equal (format, "table"))
    quiet = opt_quiet;
  else
    {
      tmpl = ctl_parse_list_format (format, opt_quiet, &table, &error);
      if (tmpl == NULL)
        {
          g_prefix_error (&error, _("template parsing error: "));
          return ctl_report_error (error);
        }
    }
  if (!parse_filters (&filters, capabilities, &error))
    {
      g_variant_builder_clear (&filters);
      return ctl_usage_error ("ls", error->message);
    }
  base_filters = g_variant_ref_sink (g_variant_builder_end (&filters));
  trunc = !opt_no_trunc;

  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);

  /* Docker keeps a plugin matching any of several capability filters: one call per value */
  if (capabilities->len == 0)
    {
      if (!list_plugins (&ctl, base_filters, rows, seen, &error))
        return ctl_report_error (error);
    }
  for (guint i = 0; i < capabilities->len; i++)
    {
      GVariantDict dict;

      g_variant_dict_init (&dict, base_filters);
      g_variant_dict_insert (&dict, "capability", "s", g_ptr_array_index (capabilities, i));
      if (!list_plugins (&ctl, g_variant_dict_end (&dict), rows, seen, &error))
        return ctl_report_error (error);
    }
  g_ptr_array_sort (rows, list_row_compare);

  if (quiet)
    {
      for (guint i = 0; i < rows->len; i++)
        {
          ListRow *row = g_ptr_array_index (rows, i);
          g_autofree char *id = trunc ? ctl_truncate_id (row->id) : g_strdup (row->id);

          g_print ("%s\n", id);
        }
      return CTL_EXIT_OK;
    }

  if (rows->len > 0)
    {
      descriptions = get_descriptions (&ctl, &error);
      if (descriptions == NULL)
        return ctl_report_error (error);
    }
  fill_descriptions (&ctl, rows, descriptions);
  if (tmpl != NULL)
    return print_rows_template (tmpl, table, rows, trunc);
  if (json)
    print_rows_json (rows, trunc);
  else
    print_rows_table (rows, trunc, opt_state || isatty (STDOUT_FILENO));
  return CTL_EXIT_OK;
}

/* inspect */

static gboolean opt_show_values;
static char *opt_inspect_format;

static const GOptionEntry inspect_entries[] = {
  { "show-values", 0, 0, G_OPTION_ARG_NONE, &opt_show_values,
    N_("Show the values of environment variables and arguments, which may contain passwords "
       "(may ask for authentication)"), NULL },
  { "format", 'f', 0, G_OPTION_ARG_STRING, &opt_inspect_format,
    N_("Format the output using the given Go template"), N_("TEMPLATE") },
  { NULL }
};

static JsonNode *
strv_to_json_array (const char *const *strv)
{
  JsonArray *array = json_array_new ();

  for (gsize i = 0; strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);
  return json_node_init_array (json_node_alloc (), array);
}

/* the daemon's JSON, parsed into @parser, with the values of the env vars and args of
 * @plugin in Settings (GetSettingValues, authorized by read-settings: the one call of inspect
 * that may ask for a password), written as the daemon writes it */
static char *
inspect_with_values (PdDbusPlugin *plugin, JsonNode *root, GError **error)
{
  g_autoptr(GVariant) ret = NULL;
  g_auto(GStrv) env = NULL;
  g_auto(GStrv) args = NULL;
  GVariantBuilder options;
  JsonObject *settings = NULL;

  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root) &&
      json_object_has_member (json_node_get_object (root), "Settings"))
    settings = json_object_get_object_member (json_node_get_object (root), "Settings");
  if (settings == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("the daemon's answer has no Settings object"));
      return NULL;
    }
  ctl_options_init (&options);
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (plugin), "GetSettingValues",
                                g_variant_new ("(a{sv})", &options), ctl_call_flags (), G_MAXINT,
                                NULL, error);
  if (ret == NULL)
    return NULL;
  g_variant_get (ret, "(^as^as)", &env, &args);
  /* replacing a member keeps its place: the order stays Go's */
  json_object_set_member (settings, "Env", strv_to_json_array ((const char *const *) env));
  json_object_set_member (settings, "Args", strv_to_json_array ((const char *const *) args));
  return pd_json_to_go_data (root, NULL);
}

static const CtlUsage inspect_usage = {
  .name = "inspect",
  .parameters = N_("NAME…"),
  .summary = N_("Show plugins as JSON, in Docker's plugin inspect format. The values "
                "of environment variables and arguments are shown as \"<hidden>\" "
                "unless you are root or allowed to read them without "
                "authenticating; --show-values asks for them."),
  .entries = inspect_entries,
  .min_args = 1,
  .max_args = -1,
  .args_error = N_("“inspect” requires at least 1 argument"),
};

int
ctl_cmd_inspect (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new ("[");
  g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  g_autoptr(CtlTemplate) tmpl = NULL;
  guint n_found = 0;
  int status;

  status = ctl_parse (&inspect_usage, &argc, &argv);
  if (status >= 0)
    return status;
  /* docker parses the template first, and exits with 64 when it cannot */
  if (opt_inspect_format != NULL && opt_inspect_format[0] != '\0')
    {
      tmpl = ctl_template_parse (opt_inspect_format, &error);
      if (tmpl == NULL)
        {
          g_prefix_error (&error, _("template parsing error: "));
          ctl_report_error (error);
          return CTL_EXIT_TEMPLATE;
        }
      g_string_truncate (out, 0);
    }

  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);

  for (int i = 1; i < argc; i++)
    {
      g_autoptr(PdDbusPlugin) plugin = NULL;
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *json = NULL;
      GError *local_error = NULL;

      plugin = ctl_get_plugin (&ctl, argv[i], &local_error);
      if (plugin == NULL ||
          !pd_dbus_plugin_call_inspect_sync (plugin, &json, NULL, &local_error))
        {
          g_ptr_array_add (errors, local_error);
          continue;
        }
      /* only valid JSON gets re-indented; the values and templates go into the parsed tree */
      if (opt_show_values || tmpl != NULL)
        root = pd_json_parse (json, strlen (json), CTL_MAX_DBUS_MESSAGE_SIZE, &local_error);
      if (opt_show_values || tmpl != NULL
            ? root == NULL
            : !pd_json_check (json, strlen (json), CTL_MAX_DBUS_MESSAGE_SIZE, &local_error))
        {
          g_prefix_error (&local_error, "%s: ", argv[i]);
          g_ptr_array_add (errors, local_error);
          continue;
        }
      if (opt_show_values)
        {
          g_autofree char *shown = inspect_with_values (plugin, root, &local_error);

          if (shown == NULL)
            {
              g_ptr_array_add (errors, local_error);
              continue;
            }
          g_free (json);
          json = g_steal_pointer (&shown);
        }
      if (tmpl != NULL)
        {
          /* a line per plugin; one the template fails on prints nothing */
          if (!ctl_template_execute (tmpl, root, CTL_TEMPLATE_DATA_PLUGIN, out, &local_error))
            {
              g_prefix_error (&local_error, _("template parsing error: "));
              g_ptr_array_add (errors, local_error);
              continue;
            }
          g_string_append_c (out, '\n');
          continue;
        }
      if (n_found++ > 0)
        g_string_append_c (out, ',');
      ctl_append_indent (out, 1);
      ctl_append_json_indented (out, json, 1);
    }
  if (tmpl != NULL)
    {
      /* docker writes one empty line when nothing else */
      if (out->len == 0)
        g_string_append_c (out, '\n');
      ctl_print_untrusted (out->str, out->len);
    }
  else
    {
      if (n_found > 0)
        g_string_append_c (out, '\n');
      g_string_append (out, "]\n");
      g_print ("%s", out->str);
    }

  status = CTL_EXIT_OK;
  for (guint i = 0; i < errors->len; i++)
    {
      int s = ctl_report_error (g_ptr_array_index (errors, i));

      if (status == CTL_EXIT_OK)
        status = s;
    }
  return status;
}

/* set */

static const CtlUsage set_usage = {
  .name = "set",
  .parameters = N_("NAME KEY=VALUE…"),
  .summary = N_("Change settings of a plugin: KEY is a setting name or NAME.FIELD "
                "(env value, args value, mount source, device path)."),
  .entries = NULL,
  .min_args = 2,
  .max_args = -1,
  .args_error = N_("“set” requires at least 2 arguments: NAME and KEY=VALUE"),
};

int
ctl_cmd_set (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GVariant) ret = NULL;
  GVariantBuilder options;
  int status;

  status = ctl_parse (&set_usage, &argc, &argv);
  if (status >= 0)
    return status;

  settings = ctl_parse_settings (argc, argv, 2);
  if (settings == NULL)
    return ctl_usage_error ("set", _(CTL_SETTING_FORMAT_ERROR));
  g_variant_ref_sink (settings);

  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);
  ctl_options_init (&options);
  ret = call_plugin (&ctl, argv[1], "Set", g_variant_new ("(@a(ss)a{sv})", settings, &options),
                     &error);
  if (ret == NULL)
    return ctl_report_error (error);
  return CTL_EXIT_OK;
}

/* enable, disable */

static char *opt_timeout;
static char *opt_activation_timeout;

static const GOptionEntry enable_entries[] = {
  { "timeout", 0, 0, G_OPTION_ARG_STRING, &opt_timeout,
    N_("HTTP client timeout of the calls to the plugin, in seconds (0: none; default: the "
       "daemon's, none)"), N_("SECONDS") },
  { "activation-timeout", 0, 0, G_OPTION_ARG_STRING, &opt_activation_timeout,
    N_("How long to wait for the plugin to start and answer its handshake, in milliseconds "
       "(default: the daemon's, 20000)"), N_("MS") },
  { NULL }
};

/* calls Enable or Disable of the plugin @name with @options; prints @name like Docker */
static int
switch_plugin (const char *name, const char *method, GVariantBuilder *options)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) ret = NULL;

  if (!ctl_connect (&ctl, &error))
    {
      g_variant_builder_clear (options);
      return ctl_report_error (error);
    }
  /* the daemon bounds the start (activation-timeout) and the stop (stop-timeout) itself */
  ret = call_plugin (&ctl, name, method, g_variant_new ("(a{sv})", options), &error);
  if (ret == NULL)
    return ctl_report_error (error);
  g_print ("%s\n", name);
  return CTL_EXIT_OK;
}

static const CtlUsage enable_usage = {
  .name = "enable",
  .parameters = N_("NAME"),
  .summary = N_("Enable a plugin: start it in its sandbox and wait until it answers on "
                "its socket. The plugin then starts again with the daemon."),
  .entries = enable_entries,
  .min_args = 1,
  .max_args = 1,
  .args_error = N_("“enable” requires exactly 1 argument"),
};

int
ctl_cmd_enable (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  GVariantBuilder options;
  guint64 timeout = 0;
  guint64 activation_timeout = 0;
  int status;

  status = ctl_parse (&enable_usage, &argc, &argv);
  if (status >= 0)
    return status;
  if ((opt_timeout != NULL &&
       !ctl_parse_unsigned_option ("--timeout", opt_timeout, 0, G_MAXUINT32, &timeout, &error)) ||
      (opt_activation_timeout != NULL &&
       !ctl_parse_unsigned_option ("--activation-timeout", opt_activation_timeout, 1,
                                   G_MAXUINT32, &activation_timeout, &error)))
    return ctl_usage_error ("enable", error->message);

  ctl_options_init (&options);
  if (opt_timeout != NULL)
    g_variant_builder_add (&options, "{sv}", "timeout", g_variant_new_uint32 ((guint32) timeout));
  if (opt_activation_timeout != NULL)
    g_variant_builder_add (&options, "{sv}", "activation-timeout",
                           g_variant_new_uint32 ((guint32) activation_timeout));
  return switch_plugin (argv[1], "Enable", &options);
}

static gboolean opt_force_disable;

static const GOptionEntry disable_entries[] = {
  { "force", 'f', 0, G_OPTION_ARG_NONE, &opt_force_disable,
    N_("Force the disable of an active plugin (one that holders use)"), NULL },
  { NULL }
};

static const CtlUsage disable_usage = {
  .name = "disable",
  .parameters = N_("NAME"),
  .summary = N_("Disable a plugin: stop it (SIGTERM, then SIGKILL after 10 seconds). "
                "It no longer starts with the daemon."),
  .entries = disable_entries,
  .min_args = 1,
  .max_args = 1,
  .args_error = N_("“disable” requires exactly 1 argument"),
};

int
ctl_cmd_disable (int argc, char **argv)
{
  GVariantBuilder options;
  int status;

  status = ctl_parse (&disable_usage, &argc, &argv);
  if (status >= 0)
    return status;

  ctl_options_init (&options);
  g_variant_builder_add (&options, "{sv}", "force", g_variant_new_boolean (opt_force_disable));
  return switch_plugin (argv[1], "Disable", &options);
}

/* logs */

#define CTL_DEFAULT_LOG_LINES 100

static gboolean opt_follow;
static char *opt_tail;
static char *opt_since;
static gboolean opt_timestamps;

static const GOptionEntry logs_entries[] = {
  { "follow", 'f', 0, G_OPTION_ARG_NONE, &opt_follow,
    N_("Follow the output until the plugin stops"), NULL },
  { "tail", 'n', 0, G_OPTION_ARG_STRING, &opt_tail,
    N_("Number of lines to show from the end of the log, or “all” (default: 100)"), N_("N") },
  { "since", 0, 0, G_OPTION_ARG_STRING, &opt_since,
    N_("Show the output since a time stamp (e.g. “2013-01-02T13:23:37Z”) or for a relative "
       "time (e.g. “42m” for 42 minutes)"),
    N_("TIME") },
  { "timestamps", 't', 0, G_OPTION_ARG_NONE, &opt_timestamps, N_("Show time stamps"), NULL },
  { NULL }
};

/* a Go duration ("1h30m", "1.5h", "90s", "300ms"), in µs; FALSE when @value is none */
static gboolean
parse_go_duration (const char *value, gint64 *out)
{
  static const struct {
    const char *unit;
    gdouble us;
  } units[] = {
    /* the longer first: "ms" before "m" */
    { "ns", 1e-3 }, { "us", 1 }, { "µs", 1 }, { "μs", 1 }, { "ms", 1e3 },
    { "s", 1e6 }, { "m", 60e6 }, { "h", 3600e6 },
  };
  const char *p = value;
  gdouble total = 0;
  gboolean negative = FALSE;

  if (*p == '-' || *p == '+')
    negative = *p++ == '-';
  if (g_str_equal (p, "0"))
    {
      *out = 0;
      return TRUE;
    }
  if (*p == '\0')
    return FALSE;
  while (*p != '\0')
    {
      const char *start = p;
      gdouble number;
      gsize i;

      while (g_ascii_isdigit (*p) || *p == '.')
        p++;
      if (p == start || (p == start + 1 && *start == '.'))
        return FALSE;
      {
        g_autofree char *digits = g_strndup (start, (gsize) (p - start));
        char *end = NULL;

        number = g_ascii_strtod (digits, &end);
        if (end == NULL || *end != '\0')
          return FALSE;
      }
      for (i = 0; i < G_N_ELEMENTS (units); i++)
        if (g_str_has_prefix (p, units[i].unit))
          break;
      if (i == G_N_ELEMENTS (units))
        return FALSE;
      total += number * units[i].us;
      p += strlen (units[i].unit);
    }
  /* about 290 years, Go's own bound */
  if (total > (gdouble) G_MAXINT64 / 1e3)
    return FALSE;
  *out = (gint64) (negative ? -total : total);
  return TRUE;
}

/* Docker's --since: a Go duration back from now, an RFC 3339 time stamp (or one without its
 * zone, in local time, or a date), or seconds since the epoch ("1700000000.5"); in µs since
 * the epoch, at least 1 (0 asks for no bound) */
static gboolean
parse_since (const char *value, gint64 *out, GError **error)
{
  g_autoptr(GTimeZone) local = g_time_zone_new_local ();
  g_autoptr(GDateTime) when = NULL;
  g_autofree char *midnight = g_strconcat (value, "T00:00:00", NULL);
  gint64 duration;
  gint64 result;

  if (parse_go_duration (value, &duration))
    result = g_get_real_time () - duration;
  else if ((when = g_date_time_new_from_iso8601 (value, local)) != NULL ||
           (strlen (value) == 10 &&
            (when = g_date_time_new_from_iso8601 (midnight, local)) != NULL))
    result = g_date_time_to_unix (when) * G_USEC_PER_SEC + g_date_time_get_microsecond (when);
  else
    {
      char *end = NULL;
      gdouble seconds = g_ascii_strtod (value, &end);

      if (!g_ascii_isdigit (value[0]) || end == NULL || *end != '\0' || seconds > 1e13)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("invalid value “%s” for %s: not a time stamp nor a duration"), value,
                       "--since");
          return FALSE;
        }
      result = (gint64) (seconds * G_USEC_PER_SEC);
    }
  *out = MAX (result, 1);
  return TRUE;
}

/* copies @fd to standard output until end of file */
static int
copy_log (int fd)
{
  gboolean terminal = isatty (STDOUT_FILENO);
  g_autoptr(GString) out = g_string_new (NULL);
  char buf[65536];
  gsize pending = 0;  /* the start of an incomplete character, kept at the start of @buf */

  for (;;)
    {
      ssize_t n = read (fd, buf + pending, sizeof buf - pending);
      gboolean at_end;
      gsize len;
      gsize used;

      if (n < 0)
        {
          int saved_errno = errno;

          if (saved_errno == EINTR)
            continue;
          g_printerr (_("Error: reading the log: %s\n"), g_strerror (saved_errno));
          return CTL_EXIT_FAILURE;
        }
      at_end = n == 0;
      len = pending + (gsize) n;
      if (!terminal)
        {
          /* a file or a pipe gets the plugin's bytes as they are */
          if (at_end)
            return CTL_EXIT_OK;
          if (!pd_write_all (STDOUT_FILENO, buf, len, NULL))
            goto write_failed;
          continue;
        }
      g_string_truncate (out, 0);
      used = ctl_append_terminal_safe (out, buf, len, at_end);
      if (!pd_write_all (STDOUT_FILENO, out->str, out->len, NULL))
        goto write_failed;
      if (at_end)
        return CTL_EXIT_OK;
      pending = len - used;
      memmove (buf, buf + used, pending);
    }

write_failed:
  {
    /* pd_write_all() without a GError leaves errno as write(2) set it */
    int saved_errno = errno;

    /* a reader that went away (`pluginctl logs -f NAME | head`) ends the copy quietly */
    if (saved_errno == EPIPE)
      return CTL_EXIT_OK;
    g_printerr (_("Error: writing the log: %s\n"), g_strerror (saved_errno));
    return CTL_EXIT_FAILURE;
  }
}

static const CtlUsage logs_usage = {
  .name = "logs",
  .parameters = N_("NAME"),
  .summary = N_("Show the output (stdout and stderr) of a plugin. On a terminal, "
                "control characters other than line feed and tab are shown escaped."),
  .entries = logs_entries,
  .min_args = 1,
  .max_args = 1,
  .args_error = N_("“logs” requires exactly 1 argument"),
};

int
ctl_cmd_logs (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDbusPlugin) plugin = NULL;
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GVariant) ret = NULL;
  GVariantBuilder options;
  guint64 lines = CTL_DEFAULT_LOG_LINES;
  gint64 since = 0;
  gint32 fd_index;
  int fd;
  int status;

  status = ctl_parse (&logs_usage, &argc, &argv);
  if (status >= 0)
    return status;
  if (opt_tail != NULL && g_str_equal (opt_tail, "all"))
    lines = G_MAXUINT32;
  else if (opt_tail != NULL &&
           !ctl_parse_unsigned_option ("--tail", opt_tail, 0, G_MAXUINT32, &lines, &error))
    return ctl_usage_error ("logs", error->message);
  if (opt_since != NULL && !parse_since (opt_since, &since, &error))
    return ctl_usage_error ("logs", error->message);

  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);
  plugin = ctl_get_plugin (&ctl, argv[1], &error);
  if (plugin == NULL)
    return ctl_report_error (error);

  ctl_options_init (&options);
  g_variant_builder_add (&options, "{sv}", "lines", g_variant_new_uint32 ((guint32) lines));
  g_variant_builder_add (&options, "{sv}", "follow", g_variant_new_boolean (opt_follow));
  if (since > 0)
    g_variant_builder_add (&options, "{sv}", "since", g_variant_new_uint64 ((guint64) since));
  if (opt_timestamps)
    g_variant_builder_add (&options, "{sv}", "timestamps", g_variant_new_boolean (TRUE));
  ret = g_dbus_proxy_call_with_unix_fd_list_sync (G_DBUS_PROXY (plugin), "OpenLog",
                                                  g_variant_new ("(a{sv})", &options),
                                                  ctl_call_flags (), G_MAXINT, NULL,
                                                  &fd_list, NULL, &error);
  if (ret == NULL)
    return ctl_report_error (error);
  g_variant_get (ret, "(h)", &fd_index);
  if (fd_list == NULL)
    {
      g_printerr (_("Error: %s\n"), _("the daemon sent no file descriptor"));
      return CTL_EXIT_FAILURE;
    }
  fd = g_unix_fd_list_get (fd_list, fd_index, &error);
  if (fd < 0)
    return ctl_report_error (error);
  /* only our duplicate stays open: the daemon sees the reader go away when it is closed */
  g_clear_object (&fd_list);

  /* Ctrl+C ends a follow with the default action: nothing is left to clean up */
  status = copy_log (fd);
  close (fd);
  return status;
}

/* rm */

static gboolean opt_force;

static const GOptionEntry remove_entries[] = {
  { "force", 'f', 0, G_OPTION_ARG_NONE, &opt_force,
    N_("Force the removal of an active plugin"), NULL },
  { NULL }
};

static const CtlUsage remove_usage = {
  .name = "rm",
  .parameters = N_("NAME…"),
  .summary = N_("Remove plugins."),
  .entries = remove_entries,
  .min_args = 1,
  .max_args = -1,
  .args_error = N_("“rm” requires at least 1 argument"),
};

int
ctl_cmd_remove (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  int status;

  status = ctl_parse (&remove_usage, &argc, &argv);
  if (status >= 0)
    return status;

  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);

  status = CTL_EXIT_OK;
  for (int i = 1; i < argc; i++)
    {
      g_autoptr(GVariant) ret = NULL;
      g_autoptr(GError) local_error = NULL;
      GVariantBuilder options;

      ctl_options_init (&options);
      g_variant_builder_add (&options, "{sv}", "force", g_variant_new_boolean (opt_force));
      ret = call_plugin (&ctl, argv[i], "Remove", g_variant_new ("(a{sv})", &options),
                         &local_error);
      if (ret == NULL)
        {
          int s = ctl_report_error (local_error);

          if (status == CTL_EXIT_OK)
            status = s;
          continue;
        }
      /* Docker prints each removed name */
      g_print ("%s\n", argv[i]);
    }
  return status;
}
