/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "test-auth"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

#include "pd-auth.h"
#include "pd-dbus-error.h"
#include "pd-error.h"
#include "pd-names.h"
#include "pd-test-bus.h"
#include "pd-test-utils.h"

#define TEST_OBJECT_PATH "/org/plugind/Test"
#define TEST_INTERFACE   "org.plugind.Test"
#define NOBODY_UID       65534

static const char test_xml[] =
  "<node>"
  "  <interface name='" TEST_INTERFACE "'>"
  "    <method name='Check'/>"
  "    <method name='Unlisted'/>"
  "    <method name='CallerUid'>"
  "      <arg name='uid' type='u' direction='out'/>"
  "    </method>"
  "  </interface>"
  "</node>";

static char *
data_dir (void)
{
  return g_test_build_filename (G_TEST_DIST, "..", "data", NULL);
}

/* the interface XML files that make up the API: org.plugind.Plugind1.*.xml */
static GPtrArray *
load_interfaces (void)
{
  g_autofree char *dir_path = data_dir ();
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *interfaces =
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_dbus_interface_info_unref);
  const char *name;

  dir = g_dir_open (dir_path, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *xml = NULL;
      g_autoptr(GDBusNodeInfo) node = NULL;

      if (!g_str_has_prefix (name, "org.plugind.Plugind1.") || !g_str_has_suffix (name, ".xml"))
        continue;
      path = g_build_filename (dir_path, name, NULL);
      g_file_get_contents (path, &xml, NULL, &error);
      g_assert_no_error (error);
      node = g_dbus_node_info_new_for_xml (xml, &error);
      g_assert_no_error (error);
      for (guint i = 0; node->interfaces != NULL && node->interfaces[i] != NULL; i++)
        g_ptr_array_add (interfaces, g_dbus_interface_info_ref (node->interfaces[i]));
    }
  return interfaces;
}

/* section: the method → action table */

static void
test_rules_cover_methods (void)
{
  g_autoptr(GPtrArray) interfaces = load_interfaces ();
  guint n_methods = 0;

  /* the three interfaces of the API at least */
  g_assert_cmpuint (interfaces->len, >=, 3);

  /* every method has a decision: a method added without one fails here */
  for (guint i = 0; i < interfaces->len; i++)
    {
      GDBusInterfaceInfo *iface = g_ptr_array_index (interfaces, i);

      for (guint j = 0; iface->methods != NULL && iface->methods[j] != NULL; j++)
        {
          const char *method = iface->methods[j]->name;
          const PdAuthRule *rule = pd_auth_lookup_rule (iface->name, method);

          if (rule == NULL)
            g_error ("%s.%s has no authorization rule in pd-auth.c", iface->name, method);
          g_assert_cmpstr (rule->interface_name, ==, iface->name);
          g_assert_cmpstr (rule->method_name, ==, method);
          n_methods++;
        }
    }
  g_assert_cmpuint (n_methods, >, 0);

  /* and every rule names a method that exists */
  for (const PdAuthRule *rule = pd_auth_get_rules (); rule->interface_name != NULL; rule++)
    {
      gboolean found = FALSE;

      g_assert_nonnull (rule->method_name);
      for (guint i = 0; i < interfaces->len && !found; i++)
        {
          GDBusInterfaceInfo *iface = g_ptr_array_index (interfaces, i);

          if (g_strcmp0 (iface->name, rule->interface_name) == 0 &&
              g_dbus_interface_info_lookup_method (iface, rule->method_name) != NULL)
            found = TRUE;
        }
      if (!found)
        g_error ("rule for %s.%s names no method of data/", rule->interface_name,
                 rule->method_name);
      /* a stronger action only makes sense next to an ordinary one, and only a read that
       * anyone may call has none */
      for (guint i = 0; i < PD_AUTH_MAX_ESCALATIONS; i++)
        if (rule->escalations[i].action != NULL)
          {
            g_assert_nonnull (rule->action);
            g_assert_cmpint (rule->escalations[i].when, !=, 0);
          }
      if (rule->action == NULL)
        g_assert_cmpint (rule->access, ==, PD_AUTH_ANYONE);
      n_methods--;
    }
  /* one rule per method, no duplicates */
  g_assert_cmpuint (n_methods, ==, 0);
}

/* the action a call needs: nothing for a call anyone may make */
static const char *
action_for (const PdAuthRule *rule, PdAuthCondition conditions)
{
  if (rule->access == PD_AUTH_ANYONE || rule->access == PD_AUTH_ANYONE_SHOWS_MORE)
    return NULL;
  return pd_auth_rule_get_action (rule, conditions);
}

static void
test_rules_decisions (void)
{
  const PdAuthCondition every = PD_AUTH_PRIVILEGES | PD_AUTH_SETTINGS;
  const PdAuthRule *rule;

  /* reads are unauthenticated (docs/dbus-api.md, "Authorization") */
  const char *read_only[][2] = {
    { PD_DBUS_INTERFACE_MANAGER, "GetPlugin" },
    { PD_DBUS_INTERFACE_MANAGER, "ListPlugins" },
    { PD_DBUS_INTERFACE_MANAGER, "ListJobs" },
    { PD_DBUS_INTERFACE_PLUGIN, "Inspect" },
    { PD_DBUS_INTERFACE_JOB, "Wait" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (read_only); i++)
    {
      rule = pd_auth_lookup_rule (read_only[i][0], read_only[i][1]);
      g_assert_nonnull (rule);
      g_assert_null (action_for (rule, 0));
      g_assert_null (action_for (rule, every));
    }

  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_MANAGER, "Create");
  g_assert_nonnull (rule);
  g_assert_cmpstr (action_for (rule, 0), ==, PD_ACTION_INSTALL);
  g_assert_cmpstr (action_for (rule, PD_AUTH_PRIVILEGES), ==, PD_ACTION_INSTALL_PRIVILEGED);
  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_MANAGER, "Pull");
  g_assert_nonnull (rule);
  g_assert_cmpstr (action_for (rule, 0), ==, PD_ACTION_INSTALL);
  g_assert_cmpstr (action_for (rule, PD_AUTH_PRIVILEGES), ==, PD_ACTION_INSTALL_PRIVILEGED);
  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_PLUGIN, "Set");
  g_assert_nonnull (rule);
  g_assert_cmpstr (action_for (rule, 0), ==, PD_ACTION_SET);
  g_assert_cmpstr (action_for (rule, PD_AUTH_PRIVILEGES), ==, PD_ACTION_SET_PRIVILEGED);
  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_PLUGIN, "Remove");
  g_assert_nonnull (rule);
  g_assert_cmpstr (action_for (rule, 0), ==, PD_ACTION_REMOVE);
  /* new settings in an upgrade need their own action, not upgrade alone; consent to other
   * privileges needs install-privileged, settings or not: one action, one prompt at most */
  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_PLUGIN, "Upgrade");
  g_assert_nonnull (rule);
  g_assert_cmpstr (action_for (rule, 0), ==, PD_ACTION_UPGRADE);
  g_assert_cmpstr (action_for (rule, PD_AUTH_PRIVILEGES), ==, PD_ACTION_INSTALL_PRIVILEGED);
  g_assert_cmpstr (action_for (rule, PD_AUTH_SETTINGS), ==, PD_ACTION_UPGRADE_WITH_SETTINGS);
  g_assert_cmpstr (action_for (rule, every), ==, PD_ACTION_INSTALL_PRIVILEGED);
  /* a lookup is query-remote, or the install or upgrade it precedes, never a privileged one */
  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_MANAGER, "GetPrivileges");
  g_assert_nonnull (rule);
  g_assert_cmpstr (action_for (rule, 0), ==, PD_ACTION_QUERY_REMOTE);
  g_assert_cmpstr (action_for (rule, every), ==, PD_ACTION_QUERY_REMOTE);
  g_assert_cmpstr (action_for (rule, PD_AUTH_FOR_INSTALL), ==, PD_ACTION_INSTALL);
  g_assert_cmpstr (action_for (rule, PD_AUTH_FOR_UPGRADE), ==, PD_ACTION_UPGRADE);
  /* env values and args: read-settings, asked without interaction by Inspect */
  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_PLUGIN, "GetSettingValues");
  g_assert_nonnull (rule);
  g_assert_cmpstr (action_for (rule, 0), ==, PD_ACTION_READ_SETTINGS);
  g_assert_cmpstr (action_for (rule, every), ==, PD_ACTION_READ_SETTINGS);
  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_PLUGIN, "Inspect");
  g_assert_nonnull (rule);
  g_assert_cmpint (rule->access, ==, PD_AUTH_ANYONE_SHOWS_MORE);
  g_assert_cmpstr (pd_auth_rule_get_action (rule, 0), ==, PD_ACTION_READ_SETTINGS);
  rule = pd_auth_lookup_rule (PD_DBUS_INTERFACE_JOB, "Cancel");
  g_assert_nonnull (rule);
  g_assert_cmpstr (action_for (rule, 0), ==, PD_ACTION_CANCEL_OTHER_USER);
  /* free for root and for the uid that started the job */
  g_assert_true (pd_auth_rule_exempts (rule, 0, 1000));
  g_assert_true (pd_auth_rule_exempts (rule, 1000, 1000));
  g_assert_false (pd_auth_rule_exempts (rule, 1001, 1000));
  g_assert_false (pd_auth_rule_exempts (pd_auth_lookup_rule (PD_DBUS_INTERFACE_PLUGIN, "Set"),
                                        0, 0));

  /* default deny: unknown methods have no rule */
  g_assert_null (pd_auth_lookup_rule (PD_DBUS_INTERFACE_MANAGER, "NoSuchMethod"));
  g_assert_null (pd_auth_lookup_rule ("org.example.Other", "GetPlugin"));
}

static void
test_error_names (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;

  /* what the check returns must survive pd_error_convert() and reach the bus by its name */
  error = g_error_new_literal (PD_ERROR, PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                               "Interactive authentication is required");
  pd_error_convert (&error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED);
  g_assert_cmpstr (pd_error_to_dbus_name (error->code), ==,
                   "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired");
  g_clear_error (&error);

  error = g_error_new_literal (PD_ERROR, PD_ERROR_NOT_AUTHORIZED_DISMISSED, "dismissed");
  pd_error_convert (&error);
  name = g_dbus_error_encode_gerror (error);
  g_assert_cmpstr (name, ==, PD_DBUS_ERROR_PREFIX "NotAuthorizedDismissed");
  g_clear_error (&error);
  g_clear_pointer (&name, g_free);

  /* an error that has a D-Bus name already keeps it on its way to the bus */
  error = g_error_new_literal (G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, "no");
  pd_dbus_error_convert (&error);
  name = g_dbus_error_encode_gerror (error);
  g_assert_cmpstr (name, ==, "org.freedesktop.DBus.Error.AccessDenied");
}

/* the dump that plugind --dump-auth-table prints says what the table says */
static void
test_rules_dump (void)
{
  g_autofree char *dump = pd_auth_dump_rules ();
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  const char *const access_names[] = {
    [PD_AUTH_ANYONE] = "anyone",
    [PD_AUTH_ACTION] = "action",
    [PD_AUTH_ACTION_UNLESS_OWNER] = "action-unless-owner",
    [PD_AUTH_ANYONE_SHOWS_MORE] = "anyone-shows-more",
  };
  JsonArray *rules;
  guint n = 0;

  json_parser_load_from_data (parser, dump, -1, &error);
  g_assert_no_error (error);
  rules = json_node_get_array (json_parser_get_root (parser));
  for (const PdAuthRule *rule = pd_auth_get_rules (); rule->interface_name != NULL; rule++, n++)
    {
      JsonObject *object = json_array_get_object_element (rules, n);
      JsonArray *escalations = json_object_get_array_member (object, "escalations");
      guint k = 0;

      g_assert_cmpstr (json_object_get_string_member (object, "interface"), ==,
                       rule->interface_name);
      g_assert_cmpstr (json_object_get_string_member (object, "method"), ==, rule->method_name);
      g_assert_cmpstr (json_object_get_string_member (object, "access"), ==,
                       access_names[rule->access]);
      g_assert_cmpstr (json_object_get_string_member_with_default (object, "action", NULL), ==,
                       rule->action);
      for (guint i = 0; i < PD_AUTH_MAX_ESCALATIONS; i++)
        {
          JsonObject *escalation;
          JsonArray *when;

          if (rule->escalations[i].action == NULL)
            continue;
          escalation = json_array_get_object_element (escalations, k++);
          when = json_object_get_array_member (escalation, "when");
          g_assert_cmpstr (json_object_get_string_member (escalation, "action"), ==,
                           rule->escalations[i].action);
          g_assert_cmpuint (json_array_get_length (when), ==,
                            ((rule->escalations[i].when & PD_AUTH_PRIVILEGES) != 0) +
                              ((rule->escalations[i].when & PD_AUTH_SETTINGS) != 0) +
                              ((rule->escalations[i].when & PD_AUTH_FOR_INSTALL) != 0) +
                              ((rule->escalations[i].when & PD_AUTH_FOR_UPGRADE) != 0));
        }
      g_assert_cmpuint (json_array_get_length (escalations), ==, k);
    }
  g_assert_cmpuint (json_array_get_length (rules), ==, n);
}

/* section: the policy file */

static void
policy_start_element (GMarkupParseContext *context,
                      const char *element_name,
                      const char **attribute_names,
                      const char **attribute_values,
                      gpointer user_data,
                      GError **error)
{
  GHashTable *actions = user_data;

  if (g_strcmp0 (element_name, "action") != 0)
    return;
  for (guint i = 0; attribute_names[i] != NULL; i++)
    {
      if (g_strcmp0 (attribute_names[i], "id") == 0)
        g_hash_table_add (actions, g_strdup (attribute_values[i]));
    }
}

static void
test_rules_in_policy (void)
{
  g_autofree char *dir = data_dir ();
  g_autofree char *path = g_build_filename (dir, "org.plugind.plugind1.policy.in", NULL);
  g_autofree char *xml = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) actions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GMarkupParseContext) context = NULL;
  const GMarkupParser parser = { .start_element = policy_start_element };

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_test_fail_printf ("the policy file %s is missing", path);
      return;
    }
  g_file_get_contents (path, &xml, NULL, &error);
  g_assert_no_error (error);
  context = g_markup_parse_context_new (&parser, 0, actions, NULL);
  g_markup_parse_context_parse (context, xml, -1, &error);
  g_assert_no_error (error);
  g_markup_parse_context_end_parse (context, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (actions), >, 0);

  for (const PdAuthRule *rule = pd_auth_get_rules (); rule->interface_name != NULL; rule++)
    {
      if (rule->action != NULL && !g_hash_table_contains (actions, rule->action))
        g_error ("%s (%s.%s) is not in %s", rule->action, rule->interface_name,
                 rule->method_name, path);
      for (guint i = 0; i < PD_AUTH_MAX_ESCALATIONS; i++)
        {
          const char *action = rule->escalations[i].action;

          if (action != NULL && !g_hash_table_contains (actions, action))
            g_error ("%s (%s.%s) is not in %s", action, rule->interface_name,
                     rule->method_name, path);
        }
    }
}

/* section: checks over a bus */

typedef struct {
  GTestDBus *bus;
  GDBusConnection *server;
  GDBusConnection *client;
  PdAuth *auth;
  guint registration_id;
  GDBusNodeInfo *node;
} BusFixture;

static void
check_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GError) error = NULL;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      /* as the daemon's handlers answer: a denial keeps its D-Bus name */
      pd_return_gerror (g_steal_pointer (&invocation), g_steal_pointer (&error));
      return;
    }
  g_dbus_method_invocation_return_value (g_steal_pointer (&invocation), NULL);
}

static void
caller_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GError) error = NULL;
  guint32 uid = G_MAXUINT32;

  if (!pd_auth_get_caller_uid_finish (PD_AUTH (source), result, &uid, &error))
    {
      g_dbus_method_invocation_return_gerror (g_steal_pointer (&invocation), error);
      return;
    }
  g_dbus_method_invocation_return_value (g_steal_pointer (&invocation),
                                         g_variant_new ("(u)", uid));
}

static void
method_call_cb (GDBusConnection *connection,
                const char *sender,
                const char *object_path,
                const char *interface_name,
                const char *method_name,
                GVariant *parameters,
                GDBusMethodInvocation *invocation,
                gpointer user_data)
{
  BusFixture *fixture = user_data;

  /* the handler owns @invocation; the callbacks answer and so release it */
  if (g_strcmp0 (method_name, "Unlisted") == 0)
    {
      /* what every handler of the daemon does first: a method without a rule is refused */
      g_assert_null (pd_auth_check_method (invocation));
    }
  else if (g_strcmp0 (method_name, "Check") == 0)
    {
      g_autoptr(GHashTable) details = g_hash_table_new (g_str_hash, g_str_equal);

      g_hash_table_insert (details, "plugin", "test/plugin:latest");
      g_hash_table_insert (details, "operation", "create");
      pd_auth_check_async (fixture->auth, invocation, PD_ACTION_INSTALL, details, NULL,
                           check_done_cb, invocation);
    }
  else
    {
      pd_auth_get_caller_uid_async (fixture->auth, invocation, caller_uid_cb, invocation);
    }
}

static const GDBusInterfaceVTable test_vtable = { .method_call = method_call_cb };

static void
bus_fixture_set_up_with_address (BusFixture *fixture, const char *address)
{
  g_autoptr(GError) error = NULL;

  fixture->server = pd_test_bus_connect (address);
  fixture->client = pd_test_bus_connect (address);
  fixture->auth = pd_auth_new ();
  fixture->node = g_dbus_node_info_new_for_xml (test_xml, &error);
  g_assert_no_error (error);
  fixture->registration_id =
    g_dbus_connection_register_object (fixture->server, TEST_OBJECT_PATH,
                                       fixture->node->interfaces[0], &test_vtable, fixture,
                                       NULL, &error);
  g_assert_no_error (error);
}

static void
bus_fixture_set_up (BusFixture *fixture, gconstpointer user_data)
{
  fixture->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fixture->bus);
  bus_fixture_set_up_with_address (fixture, g_test_dbus_get_bus_address (fixture->bus));
}

static void
bus_fixture_tear_down (BusFixture *fixture, gconstpointer user_data)
{
  /* let replies and signals already queued for the main context be dispatched and freed */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (fixture->registration_id != 0)
    g_dbus_connection_unregister_object (fixture->server, fixture->registration_id);
  g_clear_pointer (&fixture->node, g_dbus_node_info_unref);
  g_clear_object (&fixture->auth);
  if (fixture->client != NULL)
    g_dbus_connection_close_sync (fixture->client, NULL, NULL);
  if (fixture->server != NULL)
    g_dbus_connection_close_sync (fixture->server, NULL, NULL);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->server);
  if (fixture->bus != NULL)
    g_test_dbus_down (fixture->bus);
  g_clear_object (&fixture->bus);
}

static GVariant *
call_test_method (BusFixture *fixture, const char *method, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *server_name = NULL;

  server_name = g_strdup (g_dbus_connection_get_unique_name (fixture->server));
  g_dbus_connection_call (fixture->client, server_name, TEST_OBJECT_PATH, TEST_INTERFACE, method,
                          NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL,
                          pd_test_bus_store_result_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return g_dbus_connection_call_finish (fixture->client, result, error);
}

static void
test_root_allowed (BusFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  if (getuid () != 0)
    {
      g_test_fail_printf ("this test must run as root (the suite does)");
      return;
    }
  /* root passes without asking polkit, whether polkitd runs or not */
  reply = call_test_method (fixture, "Check", &error);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
}

static void
test_unlisted_denied (BusFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  /* root too: default deny is the table's, before any credential */
  reply = call_test_method (fixture, "Unlisted", &error);
  g_assert_null (reply);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED);
  g_assert_nonnull (strstr (error->message, TEST_INTERFACE ".Unlisted"));
}

static void
test_caller_uid (BusFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  guint32 uid = G_MAXUINT32;

  reply = call_test_method (fixture, "CallerUid", &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &uid);
  g_assert_cmpuint (uid, ==, getuid ());
}

/* section: a non-root caller without a usable polkit */

typedef struct {
  GSubprocess *daemon;
  char *dir;
} PrivateBus;

static void
drop_to_nobody (gpointer user_data)
{
  /* between fork and exec: only async-signal-safe calls; failures make the client fail */
  if (setgroups (0, NULL) != 0 || setgid (NOBODY_UID) != 0 || setuid (NOBODY_UID) != 0)
    _exit (99);
}

static void
die_with_test (gpointer user_data)
{
  /* a failed assertion aborts us before private_bus_stop(); the bus must not outlive us holding
   * the test runner's stderr pipe open */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static char *
private_bus_start (PrivateBus *bus)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *config = NULL;
  g_autofree char *config_path = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  char *address;

  /* GTestDBus only lets its own uid connect; this bus lets everyone in */
  bus->dir = g_dir_make_tmp ("pd-test-auth-XXXXXX", &error);
  g_assert_no_error (error);
  /* the socket may be a file in here, and nobody must reach it */
  g_assert_cmpint (g_chmod (bus->dir, 0755), ==, 0);
  config = g_strdup_printf (
    "<busconfig>"
    "<type>session</type>"
    "<listen>unix:tmpdir=%s</listen>"
    "<auth>EXTERNAL</auth>"
    "<policy context='default'>"
    "<allow user='*'/>"
    "<allow send_destination='*' eavesdrop='true'/>"
    "<allow eavesdrop='true'/>"
    "<allow own='*'/>"
    "</policy>"
    "</busconfig>", bus->dir);
  config_path = g_build_filename (bus->dir, "bus.conf", NULL);
  g_file_set_contents (config_path, config, -1, &error);
  g_assert_no_error (error);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_test, NULL, NULL);
  bus->daemon = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", "--nofork",
                                             "--print-address=1", "--config-file", config_path,
                                             NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (bus->daemon));
  address = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (address);
  return address;
}

static void
private_bus_stop (PrivateBus *bus)
{
  g_subprocess_force_exit (bus->daemon);
  g_subprocess_wait (bus->daemon, NULL, NULL);
  g_clear_object (&bus->daemon);
  /* the config and the socket the killed bus left */
  pd_test_rm_rf (bus->dir);
  g_clear_pointer (&bus->dir, g_free);
}

/* gdbus calls the test method as nobody: a caller polkit must be asked about; returns the
 * running client */
static GSubprocess *
spawn_nobody_check (BusFixture *fixture, const char *address, gboolean interactive)
{
  g_autofree char *gdbus = g_find_program_in_path ("gdbus");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *client;

  g_assert_nonnull (gdbus);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, drop_to_nobody, NULL, NULL);
  g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
  client = g_subprocess_launcher_spawn (launcher, &error, gdbus, "call", "--address", address,
                                        "--dest",
                                        g_dbus_connection_get_unique_name (fixture->server),
                                        "--object-path", TEST_OBJECT_PATH, "--method",
                                        TEST_INTERFACE ".Check",
                                        interactive ? "--interactive" : NULL, NULL);
  g_assert_no_error (error);
  return client;
}

/* the client's stderr once it has ended, "" on success */
static char *
nobody_check_result (GSubprocess *client)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *stdout_buf = NULL;
  char *stderr_buf = NULL;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_async (client, NULL, NULL, pd_test_bus_store_result_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_subprocess_communicate_utf8_finish (client, result, &stdout_buf, &stderr_buf, &error);
  g_assert_no_error (error);
  g_test_message ("gdbus as nobody: %s%s", stdout_buf, stderr_buf);
  if (g_subprocess_get_successful (client))
    {
      g_free (stderr_buf);
      return g_strdup ("");
    }
  g_assert_cmpstr (stderr_buf, !=, "");
  return stderr_buf;
}

static char *
nobody_check (BusFixture *fixture, const char *address, gboolean interactive)
{
  g_autoptr(GSubprocess) client = spawn_nobody_check (fixture, address, interactive);

  return nobody_check_result (client);
}

static void
test_non_root_denied (void)
{
  PrivateBus bus = { NULL, NULL };
  BusFixture fixture = { NULL, };
  g_autofree char *address = NULL;
  g_autofree char *gdbus = g_find_program_in_path ("gdbus");
  g_autofree char *shown = NULL;

  if (getuid () != 0)
    {
      g_test_fail_printf ("this test must run as root to run a caller as nobody");
      return;
    }
  if (gdbus == NULL)
    {
      g_test_fail_printf ("gdbus not found (libglib2.0-bin)");
      return;
    }

  address = private_bus_start (&bus);
  bus_fixture_set_up_with_address (&fixture, address);

  /* a real other-uid caller: polkit is either missing or cannot see our private bus, so the
   * answer must be a denial either way (fail closed) */
  shown = nobody_check (&fixture, address, FALSE);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.AccessDenied"));

  bus_fixture_tear_down (&fixture, NULL);
  private_bus_stop (&bus);
}

/* section: what the daemon asks polkitd, and how it reads the answers */

/* polkitd's Authority on the private bus, as the test tells it to answer */
typedef struct {
  GVariant *answer;                  /* the reply of CheckAuthorization, or NULL */
  char *error_name;                  /* else this error, or, with neither, no answer yet */
  GVariant *asked;                   /* the last CheckAuthorization's parameters */
  char *asked_by;                    /* and its sender */
  GDBusMethodInvocation *pending;    /* a check left without an answer */
  char *cancelled;                   /* CancelCheckAuthorization's id */
  char *cancelled_by;                /* and its sender */
} FakePolkit;

static const char fake_polkit_xml[] =
  "<node>"
  "  <interface name='org.freedesktop.PolicyKit1.Authority'>"
  "    <method name='CheckAuthorization'>"
  "      <arg name='subject' type='(sa{sv})' direction='in'/>"
  "      <arg name='action_id' type='s' direction='in'/>"
  "      <arg name='details' type='a{ss}' direction='in'/>"
  "      <arg name='flags' type='u' direction='in'/>"
  "      <arg name='cancellation_id' type='s' direction='in'/>"
  "      <arg name='result' type='(bba{ss})' direction='out'/>"
  "    </method>"
  "    <method name='CancelCheckAuthorization'>"
  "      <arg name='cancellation_id' type='s' direction='in'/>"
  "    </method>"
  "  </interface>"
  "</node>";

static void
fake_polkit_method_cb (GDBusConnection *connection, const char *sender, const char *object_path,
                       const char *interface_name, const char *method_name,
                       GVariant *parameters, GDBusMethodInvocation *invocation,
                       gpointer user_data)
{
  FakePolkit *fake = user_data;

  if (g_strcmp0 (method_name, "CancelCheckAuthorization") == 0)
    {
      g_free (fake->cancelled);
      g_variant_get (parameters, "(s)", &fake->cancelled);
      g_free (fake->cancelled_by);
      fake->cancelled_by = g_strdup (sender);
      g_dbus_method_invocation_return_value (invocation, NULL);
      return;
    }
  g_clear_pointer (&fake->asked, g_variant_unref);
  fake->asked = g_variant_ref (parameters);
  g_free (fake->asked_by);
  fake->asked_by = g_strdup (sender);
  if (fake->answer != NULL)
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(@(bba{ss}))",
                                                                      fake->answer));
  else if (fake->error_name != NULL)
    g_dbus_method_invocation_return_dbus_error (invocation, fake->error_name, "no backend here");
  else
    fake->pending = invocation;
}

static const GDBusInterfaceVTable fake_polkit_vtable = { .method_call = fake_polkit_method_cb };

/* In a subprocess of its own, whose system bus is a private bus where the test plays polkitd:
 * what the daemon sends CheckAuthorization (the caller's bus name as the subject, the action,
 * the details, no user interaction unless asked), how each answer reads (authorized, a
 * challenge, dismissed, denied, polkitd failing), and a caller that disconnects while polkitd
 * has not answered: its check is cancelled by the same connection that asked. */
static void
test_polkit_answers_subprocess (void)
{
  PrivateBus bus = { NULL, NULL };
  BusFixture fixture = { NULL, };
  FakePolkit fake = { NULL, };
  g_autofree char *address = NULL;
  g_autoptr(GDBusConnection) polkitd = NULL;
  g_autoptr(GDBusNodeInfo) node = NULL;
  g_autoptr(GVariant) owned = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) subject_details = NULL;
  g_autoptr(GVariant) details = NULL;
  g_autoptr(GSubprocess) vanishing = NULL;
  const char *kind = NULL;
  const char *action_id = NULL;
  const char *name = NULL;
  const char *cancellation_id = NULL;
  const char *detail = NULL;
  guint32 flags = G_MAXUINT32;
  char *shown;
  guint registration;

  address = private_bus_start (&bus);
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", address, TRUE);
  polkitd = pd_test_bus_connect (address);
  node = g_dbus_node_info_new_for_xml (fake_polkit_xml, &error);
  g_assert_no_error (error);
  registration = g_dbus_connection_register_object (polkitd, "/org/freedesktop/PolicyKit1/Authority",
                                                    node->interfaces[0], &fake_polkit_vtable,
                                                    &fake, NULL, &error);
  g_assert_no_error (error);
  owned = g_dbus_connection_call_sync (polkitd, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", "org.freedesktop.PolicyKit1", 0),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       &error);
  g_assert_no_error (error);
  bus_fixture_set_up_with_address (&fixture, address);

  /* authorized: what was asked */
  fake.answer = g_variant_ref_sink (g_variant_new_parsed ("(true, false, @a{ss} {})"));
  shown = nobody_check (&fixture, address, FALSE);
  g_assert_cmpstr (shown, ==, "");
  g_free (shown);
  g_assert_nonnull (fake.asked);
  g_variant_get (fake.asked, "((&s@a{sv})&s@a{ss}u&s)", &kind, &subject_details, &action_id,
                 &details, &flags, &cancellation_id);
  g_assert_cmpstr (kind, ==, "system-bus-name");
  g_assert_true (g_variant_lookup (subject_details, "name", "&s", &name));
  /* the bus name, never a pid */
  g_assert_cmpuint (g_variant_n_children (subject_details), ==, 1);
  g_assert_true (name[0] == ':');
  g_assert_cmpstr (name, !=, g_dbus_connection_get_unique_name (fixture.server));
  g_assert_cmpstr (action_id, ==, PD_ACTION_INSTALL);
  g_assert_true (g_variant_lookup (details, "plugin", "&s", &detail));
  g_assert_cmpstr (detail, ==, "test/plugin:latest");
  g_assert_cmpuint (flags, ==, 0);
  g_assert_cmpstr (cancellation_id, !=, "");
  g_clear_pointer (&fake.answer, g_variant_unref);

  /* a password would be needed, and the caller did not allow interaction */
  fake.answer = g_variant_ref_sink (g_variant_new_parsed ("(false, true, @a{ss} {})"));
  shown = nobody_check (&fixture, address, FALSE);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"));
  g_free (shown);

  /* the caller allowed interaction: polkitd is told so, and its challenge not met is a denial */
  shown = nobody_check (&fixture, address, TRUE);
  g_variant_get (fake.asked, "((&s@a{sv})&s@a{ss}u&s)", NULL, NULL, NULL, NULL, &flags, NULL);
  g_assert_cmpuint (flags, ==, 1);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.AccessDenied"));
  g_free (shown);
  g_clear_pointer (&fake.answer, g_variant_unref);

  /* the dialog dismissed */
  fake.answer = g_variant_ref_sink (
    g_variant_new_parsed ("(false, false, {'polkit.dismissed': 'true'})"));
  shown = nobody_check (&fixture, address, FALSE);
  g_assert_nonnull (strstr (shown, "NotAuthorizedDismissed"));
  g_free (shown);
  g_clear_pointer (&fake.answer, g_variant_unref);

  /* denied */
  fake.answer = g_variant_ref_sink (g_variant_new_parsed ("(false, false, @a{ss} {})"));
  shown = nobody_check (&fixture, address, FALSE);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.AccessDenied"));
  g_assert_null (strstr (shown, "polkit unavailable"));
  g_free (shown);
  g_clear_pointer (&fake.answer, g_variant_unref);

  /* polkitd failing: denied, and said so */
  fake.error_name = g_strdup ("org.freedesktop.PolicyKit1.Error.Failed");
  shown = nobody_check (&fixture, address, FALSE);
  g_assert_nonnull (strstr (shown, "org.freedesktop.DBus.Error.AccessDenied"));
  g_assert_nonnull (strstr (shown, "polkit unavailable: no backend here"));
  g_free (shown);
  g_clear_pointer (&fake.error_name, g_free);

  /* the caller goes away while polkitd has not answered (a dialog open): the check is
   * cancelled, by the connection that asked, with the id it gave */
  vanishing = spawn_nobody_check (&fixture, address, FALSE);
  while (fake.pending == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_subprocess_force_exit (vanishing);
  while (fake.cancelled == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_variant_get (fake.asked, "((&s@a{sv})&s@a{ss}u&s)", NULL, NULL, NULL, NULL, NULL,
                 &cancellation_id);
  g_assert_cmpstr (fake.cancelled, ==, cancellation_id);
  g_assert_cmpstr (fake.cancelled_by, ==, fake.asked_by);
  g_dbus_method_invocation_return_dbus_error (g_steal_pointer (&fake.pending),
                                              "org.freedesktop.PolicyKit1.Error.Cancelled",
                                              "cancelled");
  g_subprocess_wait (vanishing, NULL, NULL);

  g_dbus_connection_unregister_object (polkitd, registration);
  g_dbus_connection_close_sync (polkitd, NULL, NULL);
  bus_fixture_tear_down (&fixture, NULL);
  private_bus_stop (&bus);
  g_clear_pointer (&fake.asked, g_variant_unref);
  g_free (fake.asked_by);
  g_free (fake.cancelled);
  g_free (fake.cancelled_by);
}

static void
test_polkit_answers (void)
{
  /* the process's system bus connection is made once: a process of its own */
  pd_test_trap_root_subprocess ("/auth/check/polkit-answers/subprocess");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* as the daemon does at its start */
  pd_dbus_error_register ();

  g_test_add_func ("/auth/rules/cover-methods", test_rules_cover_methods);
  g_test_add_func ("/auth/rules/decisions", test_rules_decisions);
  g_test_add_func ("/auth/rules/in-policy", test_rules_in_policy);
  g_test_add_func ("/auth/rules/dump", test_rules_dump);
  g_test_add_func ("/auth/error-names", test_error_names);
  g_test_add ("/auth/check/root-allowed", BusFixture, NULL, bus_fixture_set_up, test_root_allowed,
              bus_fixture_tear_down);
  g_test_add ("/auth/check/caller-uid", BusFixture, NULL, bus_fixture_set_up, test_caller_uid,
              bus_fixture_tear_down);
  g_test_add ("/auth/check/unlisted-denied", BusFixture, NULL, bus_fixture_set_up,
              test_unlisted_denied, bus_fixture_tear_down);
  g_test_add_func ("/auth/check/non-root-denied", test_non_root_denied);
  g_test_add_func ("/auth/check/polkit-answers", test_polkit_answers);
  g_test_add_func ("/auth/check/polkit-answers/subprocess", test_polkit_answers_subprocess);

  return g_test_run ();
}
