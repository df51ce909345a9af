/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "ctl-commands.h"
#include "ctl-common.h"
#include "ctl-credentials.h"
#include "ctl-follow.h"
#include "ctl-format.h"
#include "pd-error.h"
#include "pd-plugin-config.h"
#include "pd-privileges.h"
#include "pd-reference.h"

/* The commands that reach a registry through the daemon: privileges, install, upgrade, push.
 * They send the caller's credentials for that registry, and bind what the user consented to
 * to the manifest digest it was computed from. */

/* registry commands: common parts */

static gboolean opt_grant_all;
static char *opt_format;
static char *opt_platform;
static gboolean opt_content_trust_ignored;

#define CTL_PLATFORM_ENTRY \
  { "platform", 0, 0, G_OPTION_ARG_STRING, &opt_platform, \
    N_("The platform to pick from a multi-platform image (default: the daemon's)"), \
    N_("OS/ARCH[/VARIANT]") }
/* Docker's deprecated no-op, accepted so that its command lines work */
#define CTL_CONTENT_TRUST_ENTRY \
  { "disable-content-trust", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, \
    &opt_content_trust_ignored, N_("Ignored (Docker's content trust is gone)"), NULL }

/* a usage error of @command unless @remote is a reference: -1 when it is, else the exit
 * status */
static int
check_remote (const char *command, const char *remote)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdReference) ref = pd_reference_parse (remote, &error);

  return ref != NULL ? -1 : ctl_usage_error (command, error->message);
}

/* connects and resolves @name, with the plugin's properties loaded */
static PdDbusPlugin *
connect_to_plugin (Ctl *ctl, const char *name, GError **error)
{
  if (!ctl_connect (ctl, error))
    return NULL;
  return ctl_get_plugin_with_properties (ctl, name, error);
}

/* the options every registry call starts with: credentials, the platform, and the digest the
 * user consented to (@expected_digest NULL or "" for none) */
static void
registry_options_init (GVariantBuilder *options, const CtlRegistryAuth *auth,
                       const char *expected_digest)
{
  ctl_options_init (options);
  ctl_registry_auth_add_option (auth, options);
  if (opt_platform != NULL)
    g_variant_builder_add (options, "{sv}", "platform", g_variant_new_string (opt_platform));
  if (expected_digest != NULL && *expected_digest != '\0')
    g_variant_builder_add (options, "{sv}", "expected-digest",
                           g_variant_new_string (expected_digest));
}

/* Manager.GetPrivileges: the privileges as a new PdPrivilege array, the raw a(ssas) in
 * @privileges_variant and the info; @authorize ("install", "upgrade" or NULL) names the call
 * that follows, so that a password the lookup needs covers that call too */
static GPtrArray *
get_privileges (Ctl *ctl,
                const char *remote,
                const CtlRegistryAuth *auth,
                GVariant *settings,
                const char *upgrade,
                const char *authorize,
                GVariant **privileges_variant,
                GVariant **info,
                GError **error)
{
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) privileges = NULL;
  GVariantBuilder options;

  registry_options_init (&options, auth, NULL);
  /* the privileges with the settings the install or upgrade will have: what it compares */
  if (settings != NULL && g_variant_n_children (settings) > 0)
    g_variant_builder_add (&options, "{sv}", "settings", settings);
  if (upgrade != NULL)
    g_variant_builder_add (&options, "{sv}", "upgrade", g_variant_new_string (upgrade));
  if (authorize != NULL)
    g_variant_builder_add (&options, "{sv}", "authorize", g_variant_new_string (authorize));
  /* no D-Bus timeout: the daemon bounds the lookup itself, and a dialog may take a while */
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (ctl->manager), "GetPrivileges",
                                g_variant_new ("(sa{sv})", remote, &options),
                                ctl_call_flags (), G_MAXINT, NULL, error);
  if (ret == NULL)
    return NULL;
  if (!g_variant_is_of_type (ret, G_VARIANT_TYPE ("(a(ssas)a{sv})")))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("the daemon sent an unexpected reply to %s"), "GetPrivileges");
      return NULL;
    }
  g_variant_get (ret, "(@a(ssas)@a{sv})", &privileges, info);
  *privileges_variant = g_variant_ref (privileges);
  return pd_privileges_new_from_variant (privileges);
}

/* the string @key of @dict, "" when absent */
static const char *
lookup_string (GVariant *dict, const char *key)
{
  const char *value = NULL;

  if (dict == NULL || !g_variant_lookup (dict, key, "&s", &value))
    return "";
  return value;
}

/* GetPrivileges for @remote (for the upgrade of the plugin @upgrade, else for an install with
 * @settings) and the user's consent to them: -1 when the call may go on, with what was
 * consented to in @privileges_variant and the manifest digest it is bound to in @digest; else
 * the exit status */
static int
consent_to_privileges (Ctl *ctl,
                       const char *remote,
                       const CtlRegistryAuth *auth,
                       GVariant *settings,
                       const char *upgrade,
                       GVariant **privileges_variant,
                       char **digest)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GVariant) info = NULL;

  privileges = get_privileges (ctl, remote, auth, settings, upgrade,
                               upgrade != NULL ? "upgrade" : "install", privileges_variant, &info,
                               &error);
  if (privileges == NULL)
    return ctl_report_registry_error (error, auth);
  if (privileges->len > 0 && !opt_grant_all && !ctl_ask_privileges (remote, privileges, TRUE))
    {
      g_autofree char *shown_remote = pd_escape_untrusted_full (remote, -1);

      /* Docker's client says "installing" for an upgrade too */
      g_printerr (_("Error: permission denied while installing plugin %s\n"), shown_remote);
      return CTL_EXIT_FAILURE;
    }
  *digest = g_strdup (lookup_string (info, "manifest-digest"));
  return -1;
}

/* calls @method of @proxy with @parameters (floating), which answers with the path of a job,
 * and follows the job: its results, or NULL with the error of the call or of the job */
static GVariant *
run_registry_job (Ctl *ctl,
                  GDBusProxy *proxy,
                  const char *method,
                  GVariant *parameters,
                  CtlFollowMode mode,
                  const char *digest,
                  GError **error)
{
  g_autoptr(GVariant) ret = NULL;
  g_autofree char *job_path = NULL;

  /* no D-Bus timeout: the daemon bounds the job itself, and a dialog may take a while */
  ret = g_dbus_proxy_call_sync (proxy, method, parameters, ctl_call_flags (), G_MAXINT, NULL,
                                error);
  if (ret == NULL)
    return NULL;
  g_variant_get (ret, "(o)", &job_path);
  return ctl_follow_registry_job (ctl, job_path, mode, digest, error);
}

/* privileges */

static const GOptionEntry privileges_entries[] = {
  { "format", 0, 0, G_OPTION_ARG_STRING, &opt_format,
    N_("Output format: “text” (the default) or “json”"), N_("FORMAT") },
  CTL_PLATFORM_ENTRY,
  { NULL }
};

static void
print_privileges_json (GVariant *info, GPtrArray *privileges)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GVariant) types = NULL;
  guint64 size = 0;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "Reference");
  json_builder_add_string_value (builder, lookup_string (info, "reference"));
  json_builder_set_member_name (builder, "Digest");
  json_builder_add_string_value (builder, lookup_string (info, "manifest-digest"));
  json_builder_set_member_name (builder, "Description");
  json_builder_add_string_value (builder, lookup_string (info, "description"));
  json_builder_set_member_name (builder, "InterfaceTypes");
  json_builder_begin_array (builder);
  types = g_variant_lookup_value (info, "interface-types", G_VARIANT_TYPE_STRING_ARRAY);
  for (gsize i = 0; types != NULL && i < g_variant_n_children (types); i++)
    {
      const char *type = NULL;

      g_variant_get_child (types, i, "&s", &type);
      json_builder_add_string_value (builder, type);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "Size");
  g_variant_lookup (info, "size", "t", &size);
  json_builder_add_int_value (builder, (gint64) MIN (size, (guint64) G_MAXINT64));
  /* Docker's PluginPrivilege objects, as GET /plugins/privileges returns them */
  json_builder_set_member_name (builder, "Privileges");
  json_builder_begin_array (builder);
  for (guint i = 0; i < privileges->len; i++)
    {
      PdPrivilege *privilege = g_ptr_array_index (privileges, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "Name");
      json_builder_add_string_value (builder, privilege->name);
      json_builder_set_member_name (builder, "Description");
      json_builder_add_string_value (builder, privilege->description != NULL
                                                ? privilege->description : "");
      json_builder_set_member_name (builder, "Value");
      json_builder_begin_array (builder);
      for (gsize v = 0; privilege->values != NULL && privilege->values[v] != NULL; v++)
        json_builder_add_string_value (builder, privilege->values[v]);
      json_builder_end_array (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  node = json_builder_get_root (builder);
  ctl_print_json_line (node);
}

static const CtlUsage privileges_usage = {
  .name = "privileges",
  .parameters = N_("REMOTE"),
  .summary = N_("Show the privileges a plugin in a registry requests, and the digest "
                "of its manifest, without installing it."),
  .entries = privileges_entries,
  .min_args = 1,
  .max_args = 1,
  .args_error = N_("“privileges” requires exactly 1 argument"),
};

int
ctl_cmd_privileges (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_auto(CtlRegistryAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GVariant) privileges_variant = NULL;
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *digest = NULL;
  gboolean json = FALSE;
  const char *remote;
  int status;

  status = ctl_parse (&privileges_usage, &argc, &argv);
  if (status >= 0)
    return status;
  if (opt_format != NULL && g_str_equal (opt_format, "json"))
    json = TRUE;
  else if (opt_format != NULL && !g_str_equal (opt_format, "text") && opt_format[0] != '\0')
    return ctl_usage_error ("privileges", _("unsupported format: use “text” or “json”"));
  remote = argv[1];
  status = check_remote ("privileges", remote);
  if (status >= 0)
    return status;

  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);
  ctl_registry_auth_load (&auth, remote);
  privileges = get_privileges (&ctl, remote, &auth, NULL, NULL, NULL, &privileges_variant,
                               &info, &error);
  if (privileges == NULL)
    return ctl_report_registry_error (error, &auth);

  if (json)
    {
      print_privileges_json (info, privileges);
      return CTL_EXIT_OK;
    }
  if (privileges->len > 0)
    ctl_append_privileges (out, remote, privileges);
  else
    {
      g_autofree char *shown_remote = pd_escape_untrusted_full (remote, -1);

      g_string_append_printf (out, _("Plugin \"%s\" is requesting no privileges\n"),
                              shown_remote);
    }
  digest = ctl_escape_line (lookup_string (info, "manifest-digest"));
  g_string_append_printf (out, _("Digest: %s\n"), digest);
  fputs (out->str, stdout);
  return CTL_EXIT_OK;
}

/* install */

static char *opt_alias;
static gboolean opt_disable;

static const GOptionEntry install_entries[] = {
  { "alias", 0, 0, G_OPTION_ARG_STRING, &opt_alias, N_("Local name for plugin"), N_("NAME") },
  { "disable", 0, 0, G_OPTION_ARG_NONE, &opt_disable,
    N_("Do not enable the plugin on install"), NULL },
  CTL_GRANT_ALL_ENTRY (&opt_grant_all),
  CTL_PLATFORM_ENTRY,
  CTL_CONTENT_TRUST_ENTRY,
  { NULL }
};

static const CtlUsage install_usage = {
  .name = "install",
  .parameters = N_("REMOTE [KEY=VALUE…]"),
  .summary = N_("Install a plugin from a registry: show the privileges it requests and "
                "ask for them, download it, apply the settings and enable it."),
  .entries = install_entries,
  .min_args = 1,
  .max_args = -1,
  .args_error = N_("“install” requires at least 1 argument"),
};

int
ctl_cmd_install (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_auto(CtlRegistryAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GVariant) privileges_variant = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *shown_remote = NULL;
  GVariantBuilder options;
  const char *remote;
  gboolean has_settings;
  int status;

  status = ctl_parse (&install_usage, &argc, &argv);
  if (status >= 0)
    return status;
  remote = argv[1];
  status = check_remote ("install", remote);
  if (status >= 0)
    return status;
  if (opt_alias != NULL)
    {
      g_autofree char *name = pd_reference_local_name (opt_alias, &error);

      if (name == NULL)
        return ctl_usage_error ("install", error->message);
    }
  settings = ctl_parse_settings (argc, argv, 2);
  if (settings == NULL)
    return ctl_usage_error ("install", _(CTL_SETTING_FORMAT_ERROR));
  g_variant_ref_sink (settings);
  has_settings = g_variant_n_children (settings) > 0;

  if (!ctl_connect (&ctl, &error))
    return ctl_report_error (error);
  ctl_registry_auth_load (&auth, remote);
  status = consent_to_privileges (&ctl, remote, &auth, settings, NULL, &privileges_variant,
                                  &digest);
  if (status >= 0)
    return status;

  /* one job: download, settings, enable; the consent is bound to the content looked at */
  registry_options_init (&options, &auth, digest);
  g_variant_builder_add (&options, "{sv}", "enable", g_variant_new_boolean (!opt_disable));
  if (has_settings)
    g_variant_builder_add (&options, "{sv}", "settings", settings);
  results = run_registry_job (&ctl, G_DBUS_PROXY (ctl.manager), "Pull",
                              g_variant_new ("(ss@a(ssas)a{sv})", remote,
                                             opt_alias != NULL ? opt_alias : "",
                                             privileges_variant, &options),
                              CTL_FOLLOW_PULL, digest, &error);
  if (results == NULL)
    return ctl_report_registry_error (error, &auth);
  /* Docker prints the remote as it was given */
  shown_remote = pd_escape_untrusted_full (remote, -1);
  g_print (_("Installed plugin %s\n"), shown_remote);
  return CTL_EXIT_OK;
}

/* upgrade */

static gboolean opt_skip_remote_check;
static gboolean opt_restart;

static const GOptionEntry upgrade_entries[] = {
  CTL_GRANT_ALL_ENTRY (&opt_grant_all),
  { "skip-remote-check", 0, 0, G_OPTION_ARG_NONE, &opt_skip_remote_check,
    N_("Do not check if specified remote plugin matches existing plugin image"), NULL },
  { "restart", 0, 0, G_OPTION_ARG_NONE, &opt_restart,
    N_("Upgrade an enabled plugin: stop it, upgrade it and start it again"), NULL },
  CTL_PLATFORM_ENTRY,
  CTL_CONTENT_TRUST_ENTRY,
  { NULL }
};

/* @ref as reference.TagNameOnly leaves it: ":latest" for a name alone */
static void
tag_name_only (PdReference *ref)
{
  if (ref->tag == NULL && ref->digest == NULL)
    ref->tag = g_strdup ("latest");
}

static const CtlUsage upgrade_usage = {
  .name = "upgrade",
  .parameters = N_("NAME [REMOTE]"),
  .summary = N_("Upgrade a plugin to the image REMOTE (default: the one it was "
                "installed from), keeping its ID, name and settings."),
  .entries = upgrade_entries,
  .min_args = 1,
  .max_args = 2,
  .args_error = N_("“upgrade” requires 1 or 2 arguments: NAME and REMOTE"),
};

int
ctl_cmd_upgrade (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_auto(CtlRegistryAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDbusPlugin) plugin = NULL;
  g_autoptr(PdReference) new_ref = NULL;
  g_autoptr(PdReference) old_ref = NULL;
  g_autoptr(GVariant) privileges_variant = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autofree char *name = NULL;
  g_autofree char *remote = NULL;
  g_autofree char *new_text = NULL;
  g_autofree char *old_text = NULL;
  g_autofree char *new_familiar = NULL;
  g_autofree char *old_familiar = NULL;
  g_autofree char *shown_name = NULL;
  g_autofree char *shown_remote = NULL;
  g_autofree char *digest = NULL;
  GVariantBuilder options;
  int status;

  status = ctl_parse (&upgrade_usage, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc == 3)
    {
      new_ref = pd_reference_parse (argv[2], &error);
      if (new_ref == NULL)
        return ctl_usage_error ("upgrade", error->message);
    }

  plugin = connect_to_plugin (&ctl, argv[1], &error);
  if (plugin == NULL)
    return ctl_report_error (error);
  name = pd_dbus_plugin_dup_name (plugin);
  if (name == NULL)
    {
      g_printerr (_("Error: %s\n"), _("the daemon sent no plugin properties"));
      return CTL_EXIT_FAILURE;
    }
  shown_name = ctl_escape_line (name);
  if (pd_dbus_plugin_get_enabled (plugin) && !opt_restart)
    {
      g_printerr (_("Error: %s\n"), _("the plugin must be disabled before upgrading"));
      return CTL_EXIT_FAILURE;
    }

  /* Docker's checks: the remote defaults to the plugin's reference; another image is asked
   * about */
  old_ref = pd_reference_parse (pd_dbus_plugin_get_reference (plugin), &error);
  if (old_ref == NULL)
    {
      g_prefix_error (&error, "%s: ", _("error parsing current image reference"));
      return ctl_report_error (error);
    }
  remote = g_strdup (argc == 3 ? argv[2] : pd_dbus_plugin_get_reference (plugin));
  if (new_ref == NULL)
    new_ref = pd_reference_copy (old_ref);
  tag_name_only (new_ref);
  tag_name_only (old_ref);
  new_text = pd_reference_to_string (new_ref);
  old_text = pd_reference_to_string (old_ref);
  {
    g_autofree char *familiar = pd_reference_familiar (new_ref);

    new_familiar = ctl_escape_line (familiar);
    g_free (familiar);
    familiar = pd_reference_familiar (old_ref);
    old_familiar = ctl_escape_line (familiar);
  }
  shown_remote = pd_escape_untrusted_full (remote, -1);

  g_print (_("Upgrading plugin %s from %s to %s\n"), shown_name, old_familiar, new_familiar);
  if (!opt_skip_remote_check && !g_str_equal (new_text, old_text))
    {
      g_autoptr(GString) out = g_string_new (_("Plugin images do not match, are you sure? [y/N] "));

      if (!ctl_confirm (out, TRUE))
        {
          g_printerr (_("Error: %s\n"), _("plugin upgrade has been cancelled"));
          return CTL_EXIT_FAILURE;
        }
    }

  ctl_registry_auth_load (&auth, remote);
  /* with the settings the plugin has now, as Upgrade carries them over */
  status = consent_to_privileges (&ctl, remote, &auth, NULL, pd_dbus_plugin_get_id (plugin),
                                  &privileges_variant, &digest);
  if (status >= 0)
    return status;

  registry_options_init (&options, &auth, digest);
  if (opt_restart)
    g_variant_builder_add (&options, "{sv}", "restart", g_variant_new_boolean (TRUE));
  results = run_registry_job (&ctl, G_DBUS_PROXY (plugin), "Upgrade",
                              g_variant_new ("(s@a(ssas)a{sv})", remote, privileges_variant,
                                             &options),
                              CTL_FOLLOW_PULL, digest, &error);
  if (results == NULL)
    return ctl_report_registry_error (error, &auth);
  g_print (_("Upgraded plugin %s to %s\n"), shown_name, shown_remote);
  return CTL_EXIT_OK;
}

/* push */

static char *opt_remote;

static const GOptionEntry push_entries[] = {
  { "remote", 0, 0, G_OPTION_ARG_STRING, &opt_remote,
    N_("Where to push, REGISTRY/REPOSITORY[:TAG] (default: the reference the plugin was "
       "installed from, else its name)"), N_("REMOTE") },
  CTL_CONTENT_TRUST_ENTRY,
  { NULL }
};

/* Docker's last line of a push: "<tag>: digest: <digest> size: <size>". Scripts read the digest
 * from it (`awk '{print $3}'`, `grep digest:`), so it stays untranslated, as docker's is */
static void
print_push_result (GVariant *results)
{
  g_autoptr(PdReference) pushed = pd_reference_parse (lookup_string (results, "reference"), NULL);
  g_autofree char *line = NULL;
  g_autofree char *shown = NULL;
  guint64 size = 0;

  g_variant_lookup (results, "size", "t", &size);
  line = g_strdup_printf ("%s: digest: %s size: %" G_GUINT64_FORMAT,
                          pushed != NULL && pushed->tag != NULL ? pushed->tag : "latest",
                          lookup_string (results, "manifest-digest"), size);
  shown = ctl_escape_line (line);
  g_print ("%s\n", shown);
}

static const CtlUsage push_usage = {
  .name = "push",
  .parameters = N_("NAME"),
  .summary = N_("Push a plugin to a registry: to --remote, else to the reference it "
                "was installed from, else to its name."),
  .entries = push_entries,
  .min_args = 1,
  .max_args = 1,
  .args_error = N_("“push” requires exactly 1 argument"),
};

int
ctl_cmd_push (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_auto(CtlRegistryAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDbusPlugin) plugin = NULL;
  g_autoptr(GVariant) results = NULL;
  GVariantBuilder options;
  const char *target;
  int status;

  status = ctl_parse (&push_usage, &argc, &argv);
  if (status >= 0)
    return status;
  if (opt_remote != NULL && (status = check_remote ("push", opt_remote)) >= 0)
    return status;

  plugin = connect_to_plugin (&ctl, argv[1], &error);
  if (plugin == NULL)
    return ctl_report_error (error);
  /* where the daemon will push, for the credentials of that registry */
  target = opt_remote;
  if (target == NULL || *target == '\0')
    target = pd_dbus_plugin_get_reference (plugin);
  if (target == NULL || *target == '\0')
    target = pd_dbus_plugin_get_name (plugin);
  if (target != NULL)
    ctl_registry_auth_load (&auth, target);

  ctl_options_init (&options);
  ctl_registry_auth_add_option (&auth, &options);
  if (opt_remote != NULL)
    g_variant_builder_add (&options, "{sv}", "remote", g_variant_new_string (opt_remote));
  results = run_registry_job (&ctl, G_DBUS_PROXY (plugin), "Push",
                              g_variant_new ("(a{sv})", &options), CTL_FOLLOW_PUSH, NULL,
                              &error);
  if (results == NULL)
    return ctl_report_registry_error (error, &auth);
  print_push_result (results);
  return CTL_EXIT_OK;
}
