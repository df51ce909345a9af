/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-auth"

#include <json-glib/json-glib.h>

#include "pd-auth.h"
#include "pd-dbus-error.h"
#include "pd-error.h"
#include "pd-names.h"
#include "pd-options.h"

#define ESCALATE(conditions, escalated) { { (conditions), (escalated) } }

/* polkitd's D-Bus interface, called directly: libpolkit-gobject would map libsystemd, libgcrypt
 * and libgpg-error into the daemon for good (about 0.7 MiB resident) for these two calls */
#define POLKIT_BUS_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_AUTHORITY_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_AUTHORITY_INTERFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorization's flags */
#define POLKIT_ALLOW_USER_INTERACTION 1u

/* checks of one uid waiting for polkitd at once: a user whose own agent never answers could
 * otherwise fill the daemon's connection with calls awaiting replies (the system bus allows
 * 128 per connection), and every other user would then be denied */
#define PD_AUTH_MAX_CHECKS_PER_UID 16

/* every method of the interfaces of data/; tests/test-auth.c checks the table against them
 * and the policy, and tests/integration/test_auth.py reads it (plugind --dump-auth-table) to
 * call each one as an unprivileged user */
static const PdAuthRule pd_auth_rules[] = {
  { PD_DBUS_INTERFACE_MANAGER, "GetPlugin", PD_AUTH_ANYONE, NULL, { { 0 } } },
  { PD_DBUS_INTERFACE_MANAGER, "ListPlugins", PD_AUTH_ANYONE, NULL, { { 0 } } },
  { PD_DBUS_INTERFACE_MANAGER, "ListJobs", PD_AUTH_ANYONE, NULL, { { 0 } } },
  /* options["authorize"] names the install or upgrade the lookup precedes: when the lookup
   * alone would need a password, that action is asked (and kept, for the call that follows) */
  { PD_DBUS_INTERFACE_MANAGER, "GetPrivileges", PD_AUTH_ACTION, PD_ACTION_QUERY_REMOTE,
    { { PD_AUTH_FOR_INSTALL, PD_ACTION_INSTALL }, { PD_AUTH_FOR_UPGRADE, PD_ACTION_UPGRADE } } },
  { PD_DBUS_INTERFACE_MANAGER, "Pull", PD_AUTH_ACTION, PD_ACTION_INSTALL,
    ESCALATE (PD_AUTH_PRIVILEGES, PD_ACTION_INSTALL_PRIVILEGED) },
  { PD_DBUS_INTERFACE_MANAGER, "Create", PD_AUTH_ACTION, PD_ACTION_INSTALL,
    ESCALATE (PD_AUTH_PRIVILEGES, PD_ACTION_INSTALL_PRIVILEGED) },
  /* the plugin's own Push, reached by name: the same rule as Plugin.Push */
  { PD_DBUS_INTERFACE_MANAGER, "Push", PD_AUTH_ACTION, PD_ACTION_PUSH, { { 0 } } },
  { PD_DBUS_INTERFACE_PLUGIN, "Enable", PD_AUTH_ACTION, PD_ACTION_ENABLE, { { 0 } } },
  { PD_DBUS_INTERFACE_PLUGIN, "Disable", PD_AUTH_ACTION, PD_ACTION_DISABLE, { { 0 } } },
  { PD_DBUS_INTERFACE_PLUGIN, "OpenLog", PD_AUTH_ACTION, PD_ACTION_READ_LOGS, { { 0 } } },
  { PD_DBUS_INTERFACE_PLUGIN, "ReadLog", PD_AUTH_ACTION, PD_ACTION_READ_LOGS, { { 0 } } },
  /* holding pins the plugin running, as enabling starts it */
  { PD_DBUS_INTERFACE_PLUGIN, "Hold", PD_AUTH_ACTION, PD_ACTION_ENABLE, { { 0 } } },
  /* a mount source or a device path changes what the plugin reaches on the host */
  { PD_DBUS_INTERFACE_PLUGIN, "Set", PD_AUTH_ACTION, PD_ACTION_SET,
    ESCALATE (PD_AUTH_PRIVILEGES, PD_ACTION_SET_PRIVILEGED) },
  /* install-privileged implies set; new settings alone need upgrade-with-settings, which
   * implies upgrade and set, so that a grant of upgrade alone lets no env value or arg
   * through */
  { PD_DBUS_INTERFACE_PLUGIN, "Upgrade", PD_AUTH_ACTION, PD_ACTION_UPGRADE,
    { { PD_AUTH_PRIVILEGES, PD_ACTION_INSTALL_PRIVILEGED },
      { PD_AUTH_SETTINGS, PD_ACTION_UPGRADE_WITH_SETTINGS } } },
  { PD_DBUS_INTERFACE_PLUGIN, "Push", PD_AUTH_ACTION, PD_ACTION_PUSH, { { 0 } } },
  { PD_DBUS_INTERFACE_PLUGIN, "Remove", PD_AUTH_ACTION, PD_ACTION_REMOVE, { { 0 } } },
  /* the env values and args only for root and callers read-settings allows without a prompt:
   * a read never asks for a password */
  { PD_DBUS_INTERFACE_PLUGIN, "Inspect", PD_AUTH_ANYONE_SHOWS_MORE, PD_ACTION_READ_SETTINGS,
    { { 0 } } },
  { PD_DBUS_INTERFACE_PLUGIN, "GetSettingValues", PD_AUTH_ACTION, PD_ACTION_READ_SETTINGS,
    { { 0 } } },
  { PD_DBUS_INTERFACE_JOB, "Wait", PD_AUTH_ANYONE, NULL, { { 0 } } },
  /* as udisks does: the uid that started the job and root cancel it freely */
  { PD_DBUS_INTERFACE_JOB, "Cancel", PD_AUTH_ACTION_UNLESS_OWNER, PD_ACTION_CANCEL_OTHER_USER,
    { { 0 } } },
  { NULL, NULL, 0, NULL, { { 0 } } },
};

struct _PdAuth {
  GObject parent_instance;

  /* the system bus, where polkitd answers, or NULL */
  GDBusConnection *authority;
  /* why polkit cannot be used; set when connecting to the system bus failed */
  char *authority_error;
  gboolean authority_loaded;
  /* GTasks of checks that need polkit and arrived before the system bus was connected */
  GPtrArray *waiting;
  /* for the cancellation ids of CheckAuthorization */
  guint next_check;
  /* uid → the number of its checks waiting for polkitd */
  GHashTable *checks_by_uid;
};

G_DEFINE_TYPE (PdAuth, pd_auth, G_TYPE_OBJECT)

/* section: rules */

const PdAuthRule *
pd_auth_get_rules (void)
{
  return pd_auth_rules;
}

const PdAuthRule *
pd_auth_lookup_rule (const char *interface_name, const char *method_name)
{
  g_return_val_if_fail (interface_name != NULL, NULL);
  g_return_val_if_fail (method_name != NULL, NULL);

  for (const PdAuthRule *rule = pd_auth_rules; rule->interface_name != NULL; rule++)
    {
      if (g_strcmp0 (rule->interface_name, interface_name) == 0 &&
          g_strcmp0 (rule->method_name, method_name) == 0)
        return rule;
    }
  return NULL;
}

const PdAuthRule *
pd_auth_check_method (GDBusMethodInvocation *invocation)
{
  const char *interface_name = g_dbus_method_invocation_get_interface_name (invocation);
  const char *method_name = g_dbus_method_invocation_get_method_name (invocation);
  const PdAuthRule *rule = NULL;

  if (interface_name != NULL && method_name != NULL)
    rule = pd_auth_lookup_rule (interface_name, method_name);
  if (rule == NULL)
    {
      pd_return_gerror (invocation, g_error_new (G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                                                 "No authorization rule for %s.%s",
                                                 interface_name != NULL ? interface_name : "",
                                                 method_name != NULL ? method_name : ""));
      return NULL;
    }
  return rule;
}

const PdAuthRule *
pd_auth_check_call (GDBusMethodInvocation *invocation, GVariant *options,
                    const char *const *allowed)
{
  const PdAuthRule *rule = pd_auth_check_method (invocation);
  GError *error = NULL;

  if (rule == NULL)
    return NULL;
  if (allowed != NULL && !pd_options_check (options, allowed, &error))
    {
      pd_return_gerror (invocation, error);
      return NULL;
    }
  return rule;
}

const char *
pd_auth_rule_get_action (const PdAuthRule *rule, PdAuthCondition conditions)
{
  for (guint i = 0; i < PD_AUTH_MAX_ESCALATIONS; i++)
    if (rule->escalations[i].action != NULL && (rule->escalations[i].when & conditions) != 0)
      return rule->escalations[i].action;
  return rule->action;
}

gboolean
pd_auth_rule_exempts (const PdAuthRule *rule, guint32 caller_uid, guint32 owner_uid)
{
  return rule->access == PD_AUTH_ACTION_UNLESS_OWNER &&
         (caller_uid == 0 || caller_uid == owner_uid);
}

static const char *
access_to_string (PdAuthAccess access)
{
  switch (access)
    {
    case PD_AUTH_ANYONE:
      return "anyone";
    case PD_AUTH_ACTION:
      return "action";
    case PD_AUTH_ACTION_UNLESS_OWNER:
      return "action-unless-owner";
    case PD_AUTH_ANYONE_SHOWS_MORE:
      return "anyone-shows-more";
    default:
      return "unknown";
    }
}

char *
pd_auth_dump_rules (void)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_array (builder);
  for (const PdAuthRule *rule = pd_auth_rules; rule->interface_name != NULL; rule++)
    {
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "interface");
      json_builder_add_string_value (builder, rule->interface_name);
      json_builder_set_member_name (builder, "method");
      json_builder_add_string_value (builder, rule->method_name);
      json_builder_set_member_name (builder, "access");
      json_builder_add_string_value (builder, access_to_string (rule->access));
      json_builder_set_member_name (builder, "action");
      if (rule->action != NULL)
        json_builder_add_string_value (builder, rule->action);
      else
        json_builder_add_null_value (builder);
      json_builder_set_member_name (builder, "escalations");
      json_builder_begin_array (builder);
      for (guint i = 0; i < PD_AUTH_MAX_ESCALATIONS; i++)
        {
          const PdAuthEscalation *escalation = &rule->escalations[i];

          if (escalation->action == NULL)
            continue;
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "when");
          json_builder_begin_array (builder);
          if ((escalation->when & PD_AUTH_PRIVILEGES) != 0)
            json_builder_add_string_value (builder, "privileges");
          if ((escalation->when & PD_AUTH_SETTINGS) != 0)
            json_builder_add_string_value (builder, "settings");
          if ((escalation->when & PD_AUTH_FOR_INSTALL) != 0)
            json_builder_add_string_value (builder, "for-install");
          if ((escalation->when & PD_AUTH_FOR_UPGRADE) != 0)
            json_builder_add_string_value (builder, "for-upgrade");
          json_builder_end_array (builder);
          json_builder_set_member_name (builder, "action");
          json_builder_add_string_value (builder, escalation->action);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  return json_generator_to_data (generator, NULL);
}

/* section: caller credentials */

static void
on_caller_vanished (GDBusConnection *connection, const char *name, gpointer user_data)
{
  GCancellable *cancellable = G_CANCELLABLE (user_data);

  /* nobody is left to answer to, and polkit might still be showing a dialog */
  g_debug ("caller %s vanished, cancelling its authorization check", name);
  g_cancellable_cancel (cancellable);
}

static guint
pd_auth_watch_caller (GDBusConnection *connection, const char *sender, GCancellable *cancellable)
{
  /* a unique name never comes back, so vanishing once is final; also called when the name is
   * already gone by the time the watch starts */
  return g_bus_watch_name_on_connection (connection, sender, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                         on_caller_vanished, g_object_ref (cancellable),
                                         g_object_unref);
}

static void
pd_auth_get_credentials (GDBusConnection *connection,
                         const char *sender,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data)
{
  g_dbus_connection_call (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionCredentials",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(a{sv})"),
                          G_DBUS_CALL_FLAGS_NONE, -1, cancellable, callback, user_data);
}

static gboolean
pd_auth_get_credentials_finish (GDBusConnection *connection,
                                GAsyncResult *result,
                                const char *sender,
                                guint32 *uid,
                                guint32 *pid,
                                GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) creds = NULL;
  g_autoptr(GError) error_local = NULL;

  reply = g_dbus_connection_call_finish (connection, result, &error_local);
  if (reply == NULL)
    {
      if (g_error_matches (error_local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                     "The caller %s disconnected", sender);
      else
        g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                     "Cannot get the credentials of %s: %s", sender, error_local->message);
      return FALSE;
    }
  g_variant_get (reply, "(@a{sv})", &creds);
  if (!g_variant_lookup (creds, "UnixUserID", "u", uid))
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                   "The bus does not know the uid of %s", sender);
      return FALSE;
    }
  /* for people only (Holders): never used to authorize anything */
  if (pid != NULL && !g_variant_lookup (creds, "ProcessID", "u", pid))
    *pid = 0;
  return TRUE;
}

static gboolean
pd_auth_check_sender (GDBusMethodInvocation *invocation, GError **error)
{
  /* a peer-to-peer connection has no sender and no bus to ask for credentials */
  if (g_dbus_method_invocation_get_sender (invocation) == NULL)
    {
      g_set_error_literal (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                           "Calls without a sender bus name are not authorized");
      return FALSE;
    }
  return TRUE;
}

/* section: caller uid */

typedef struct {
  GDBusConnection *connection;
  char *sender;
  GCancellable *cancellable;
  guint watch_id;
  guint32 uid;
  guint32 pid;
} PdAuthUidData;

static void
pd_auth_uid_data_free (PdAuthUidData *data)
{
  if (data->watch_id != 0)
    g_bus_unwatch_name (data->watch_id);
  g_clear_object (&data->connection);
  g_clear_object (&data->cancellable);
  g_free (data->sender);
  g_free (data);
}

static void
pd_auth_get_caller_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  PdAuthUidData *data = g_task_get_task_data (task);
  GError *error = NULL;

  if (!pd_auth_get_credentials_finish (data->connection, result, data->sender, &data->uid,
                                       &data->pid, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
pd_auth_get_caller_uid_async (PdAuth *self,
                              GDBusMethodInvocation *invocation,
                              GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  PdAuthUidData *data;
  GError *error = NULL;

  g_return_if_fail (PD_IS_AUTH (self));
  g_return_if_fail (G_IS_DBUS_METHOD_INVOCATION (invocation));

  /* the cancellable stays out of the task: a vanished caller gets an AccessDenied error, never
   * a bare G_IO_ERROR_CANCELLED from g_task_propagate_*() */
  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, pd_auth_get_caller_uid_async);
  if (!pd_auth_check_sender (invocation, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  data = g_new0 (PdAuthUidData, 1);
  data->connection = g_object_ref (g_dbus_method_invocation_get_connection (invocation));
  data->sender = g_strdup (g_dbus_method_invocation_get_sender (invocation));
  data->cancellable = g_cancellable_new ();
  data->uid = G_MAXUINT32;
  g_task_set_task_data (task, data, (GDestroyNotify) pd_auth_uid_data_free);
  data->watch_id = pd_auth_watch_caller (data->connection, data->sender, data->cancellable);

  pd_auth_get_credentials (data->connection, data->sender, data->cancellable,
                           pd_auth_get_caller_uid_cb, g_steal_pointer (&task));
}

gboolean
pd_auth_get_caller_uid_finish (PdAuth *self, GAsyncResult *result, guint32 *uid, GError **error)
{
  return pd_auth_get_caller_credentials_finish (self, result, uid, NULL, error);
}

gboolean
pd_auth_get_caller_credentials_finish (PdAuth *self, GAsyncResult *result, guint32 *uid,
                                       guint32 *pid, GError **error)
{
  PdAuthUidData *data;

  g_return_val_if_fail (PD_IS_AUTH (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  data = g_task_get_task_data (G_TASK (result));
  if (uid != NULL)
    *uid = data->uid;
  if (pid != NULL)
    *pid = data->pid;
  return TRUE;
}

/* section: authorization */

typedef struct {
  GDBusConnection *connection;
  char *sender;
  char *action_id;
  GVariant *details; /* a{ss} */
  gboolean interactive;
  GCancellable *cancellable;
  guint watch_id;
  GDBusConnection *authority; /* while polkitd is asked */
  char *cancellation_id;
  guint32 uid;
} PdAuthCheckData;

static void
pd_auth_check_data_free (PdAuthCheckData *data)
{
  if (data->watch_id != 0)
    g_bus_unwatch_name (data->watch_id);
  g_clear_object (&data->connection);
  g_clear_pointer (&data->details, g_variant_unref);
  g_clear_object (&data->cancellable);
  g_clear_object (&data->authority);
  g_free (data->cancellation_id);
  g_free (data->sender);
  g_free (data->action_id);
  g_free (data);
}

static gboolean
pd_auth_get_interactive (GDBusMethodInvocation *invocation, GVariant *options)
{
  GDBusMessage *message = g_dbus_method_invocation_get_message (invocation);
  gboolean flag = (g_dbus_message_get_flags (message) &
                   G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;

  /* the option overrides the header flag for bindings that cannot set it (docs/dbus-api.md);
   * a non-boolean value is the method's InvalidArgs to report, here it is just ignored */
  return pd_options_get_boolean (options, "interactive", flag);
}

static void
pd_auth_check_authorization_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  PdAuthCheckData *data = g_task_get_task_data (task);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) result_details = NULL;
  g_autoptr(GError) error_local = NULL;
  gboolean is_authorized = FALSE;
  gboolean is_challenge = FALSE;
  PdAuth *self = g_task_get_source_object (task);
  guint waiting = GPOINTER_TO_UINT (g_hash_table_lookup (self->checks_by_uid,
                                                         GUINT_TO_POINTER (data->uid)));

  if (waiting > 1)
    g_hash_table_insert (self->checks_by_uid, GUINT_TO_POINTER (data->uid),
                         GUINT_TO_POINTER (waiting - 1));
  else
    g_hash_table_remove (self->checks_by_uid, GUINT_TO_POINTER (data->uid));
  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error_local);
  if (reply == NULL)
    {
      if (g_cancellable_is_cancelled (data->cancellable))
        {
          /* polkitd may still be showing a dialog: only the connection that asked may end it */
          g_dbus_connection_call (data->authority, POLKIT_BUS_NAME, POLKIT_AUTHORITY_PATH,
                                  POLKIT_AUTHORITY_INTERFACE, "CancelCheckAuthorization",
                                  g_variant_new ("(s)", data->cancellation_id), NULL,
                                  G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL, NULL);
          g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                                   "The caller %s disconnected", data->sender);
        }
      else
        {
          g_dbus_error_strip_remote_error (error_local);
          g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                                   "polkit unavailable: %s", error_local->message);
        }
      return;
    }
  g_variant_get (reply, "((bb@a{ss}))", &is_authorized, &is_challenge, &result_details);

  if (is_authorized)
    {
      g_debug ("%s authorized for %s", data->sender, data->action_id);
      g_task_return_boolean (task, TRUE);
      return;
    }
  /* what libpolkit-gobject's polkit_authorization_result_get_dismissed () reads */
  if (g_variant_lookup (result_details, "polkit.dismissed", "&s", NULL))
    {
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_NOT_AUTHORIZED_DISMISSED,
                               "The authentication dialog for %s was dismissed",
                               data->action_id);
      return;
    }
  if (is_challenge && !data->interactive)
    {
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                               "Interactive authentication is required for %s",
                               data->action_id);
      return;
    }
  g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                           "Not authorized for %s", data->action_id);
}

static void
pd_auth_check_with_polkit (PdAuth *self, GTask *task)
{
  PdAuthCheckData *data = g_task_get_task_data (task);
  g_autoptr(GVariantBuilder) subject_details = NULL;
  guint32 flags = 0;
  guint waiting;

  if (self->authority == NULL)
    {
      g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                               "polkit unavailable: %s",
                               self->authority_error != NULL ? self->authority_error
                                                             : "no authority");
      return;
    }
  if (g_cancellable_is_cancelled (data->cancellable))
    {
      g_task_return_new_error (task, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                               "The caller %s disconnected", data->sender);
      return;
    }

  waiting = GPOINTER_TO_UINT (g_hash_table_lookup (self->checks_by_uid,
                                                  GUINT_TO_POINTER (data->uid)));
  if (waiting >= PD_AUTH_MAX_CHECKS_PER_UID)
    {
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                               "Too many authorization checks of uid %u are waiting (at most %u)",
                               data->uid, PD_AUTH_MAX_CHECKS_PER_UID);
      return;
    }
  g_hash_table_insert (self->checks_by_uid, GUINT_TO_POINTER (data->uid),
                       GUINT_TO_POINTER (waiting + 1));

  /* the bus name, never a pid: a pid can be recycled under us (CVE-2013-4288) */
  subject_details = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (subject_details, "{sv}", "name", g_variant_new_string (data->sender));
  if (data->interactive)
    flags |= POLKIT_ALLOW_USER_INTERACTION;
  data->authority = g_object_ref (self->authority);
  data->cancellation_id = g_strdup_printf ("plugind-%u", self->next_check++);
  /* no timeout: a password dialog waits for its user */
  g_dbus_connection_call (self->authority, POLKIT_BUS_NAME, POLKIT_AUTHORITY_PATH,
                          POLKIT_AUTHORITY_INTERFACE, "CheckAuthorization",
                          g_variant_new ("((sa{sv})s@a{ss}us)", "system-bus-name", subject_details,
                                         data->action_id, data->details, flags,
                                         data->cancellation_id),
                          G_VARIANT_TYPE ("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE, G_MAXINT,
                          data->cancellable, pd_auth_check_authorization_cb,
                          g_object_ref (task));
}

static void
pd_auth_check_credentials_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  PdAuthCheckData *data = g_task_get_task_data (task);
  PdAuth *self = g_task_get_source_object (task);
  guint32 uid = G_MAXUINT32;
  GError *error = NULL;

  if (!pd_auth_get_credentials_finish (data->connection, result, data->sender, &uid, NULL,
                                       &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (uid == 0)
    {
      g_debug ("%s is root: allowed %s without polkit", data->sender, data->action_id);
      g_task_return_boolean (task, TRUE);
      return;
    }
  data->uid = uid;
  if (!self->authority_loaded)
    {
      g_ptr_array_add (self->waiting, g_steal_pointer (&task));
      return;
    }
  pd_auth_check_with_polkit (self, task);
}

void
pd_auth_check_async (PdAuth *self,
                     GDBusMethodInvocation *invocation,
                     const char *action_id,
                     GHashTable *details,
                     GVariant *options,
                     GAsyncReadyCallback callback,
                     gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  PdAuthCheckData *data;
  GError *error = NULL;

  g_return_if_fail (PD_IS_AUTH (self));
  g_return_if_fail (G_IS_DBUS_METHOD_INVOCATION (invocation));
  g_return_if_fail (action_id != NULL);

  /* the cancellable stays out of the task, as in pd_auth_get_caller_uid_async() */
  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, pd_auth_check_async);
  if (!pd_auth_check_sender (invocation, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  data = g_new0 (PdAuthCheckData, 1);
  data->connection = g_object_ref (g_dbus_method_invocation_get_connection (invocation));
  data->sender = g_strdup (g_dbus_method_invocation_get_sender (invocation));
  data->action_id = g_strdup (action_id);
  data->interactive = pd_auth_get_interactive (invocation, options);
  {
    g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{ss}"));

    if (details != NULL)
      {
        GHashTableIter iter;
        gpointer key, value;

        g_hash_table_iter_init (&iter, details);
        while (g_hash_table_iter_next (&iter, &key, &value))
          {
            if (key != NULL && value != NULL)
              g_variant_builder_add (&builder, "{ss}", key, value);
          }
      }
    data->details = g_variant_ref_sink (g_variant_builder_end (&builder));
  }
  data->cancellable = g_cancellable_new ();
  g_task_set_task_data (task, data, (GDestroyNotify) pd_auth_check_data_free);
  data->watch_id = pd_auth_watch_caller (data->connection, data->sender, data->cancellable);

  pd_auth_get_credentials (data->connection, data->sender, data->cancellable,
                           pd_auth_check_credentials_cb, g_steal_pointer (&task));
}

gboolean
pd_auth_check_finish (PdAuth *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (PD_IS_AUTH (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
pd_auth_authorize_async (PdAuth *self,
                         GDBusMethodInvocation *invocation,
                         const PdAuthRule *rule,
                         PdAuthCondition conditions,
                         GHashTable *details,
                         GVariant *options,
                         GAsyncReadyCallback callback,
                         gpointer user_data)
{
  g_autoptr(GVariant) quiet = NULL;

  g_return_if_fail (PD_IS_AUTH (self));
  g_return_if_fail (rule != NULL);

  if (rule->access == PD_AUTH_ANYONE)
    {
      g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

      g_task_set_source_tag (task, pd_auth_check_async);
      g_task_return_boolean (task, TRUE);
      return;
    }
  /* a read that shows more to some callers never prompts, whatever the message's flag */
  if (rule->access == PD_AUTH_ANYONE_SHOWS_MORE)
    options = quiet = g_variant_ref_sink (g_variant_new_parsed ("{'interactive': <false>}"));
  pd_auth_check_async (self, invocation, pd_auth_rule_get_action (rule, conditions), details,
                       options, callback, user_data);
}

gboolean
pd_auth_check_finish_or_reply (PdAuth *self, GAsyncResult *result,
                               GDBusMethodInvocation *invocation)
{
  GError *error = NULL;

  if (pd_auth_check_finish (self, result, &error))
    return TRUE;
  pd_return_gerror (g_object_ref (invocation), error);
  return FALSE;
}

/* section: the authority */

static void
pd_auth_authority_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GWeakRef *weak = user_data;
  g_autoptr(PdAuth) self = g_weak_ref_get (weak);
  g_autoptr(GDBusConnection) authority = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) waiting = NULL;

  g_weak_ref_clear (weak);
  g_free (weak);

  authority = g_bus_get_finish (result, &error);
  /* the auth object went away while the bus was connecting */
  if (self == NULL)
    return;

  if (authority == NULL)
    {
      /* not fatal: root still works, everyone else is denied */
      g_message ("polkit unavailable, only root is authorized: %s", error->message);
      self->authority_error = g_strdup (error->message);
    }
  self->authority = g_steal_pointer (&authority);
  self->authority_loaded = TRUE;

  waiting = g_steal_pointer (&self->waiting);
  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < waiting->len; i++)
    pd_auth_check_with_polkit (self, g_ptr_array_index (waiting, i));
}

static void
pd_auth_finalize (GObject *object)
{
  PdAuth *self = PD_AUTH (object);

  /* waiting tasks hold a reference on us, so none can be left here */
  g_ptr_array_unref (self->waiting);
  g_hash_table_unref (self->checks_by_uid);
  g_clear_object (&self->authority);
  g_free (self->authority_error);

  G_OBJECT_CLASS (pd_auth_parent_class)->finalize (object);
}

static void
pd_auth_class_init (PdAuthClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pd_auth_finalize;
}

static void
pd_auth_init (PdAuth *self)
{
  GWeakRef *weak = g_new0 (GWeakRef, 1);

  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
  self->checks_by_uid = g_hash_table_new (NULL, NULL);

  /* a weak reference: the connection may outlive us; polkitd is on the system bus whatever bus
   * the daemon serves on */
  g_weak_ref_init (weak, self);
  g_bus_get (G_BUS_TYPE_SYSTEM, NULL, pd_auth_authority_loaded_cb, weak);
}

PdAuth *
pd_auth_new (void)
{
  return g_object_new (PD_TYPE_AUTH, NULL);
}
