/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-plugin"

#include <string.h>

#include <gio/gunixfdlist.h>

#include "pd-call.h"
#include "pd-dbus-error.h"
#include "pd-error.h"
#include "pd-install.h"
#include "pd-job.h"
#include "pd-names.h"
#include "pd-options.h"
#include "pd-plugin.h"
#include "pd-publish.h"

struct _PdPlugin {
  PdDbusPluginSkeleton parent_instance;

  PdEngine *engine;
  PdAuth *auth;
  PdManagedPlugin *plugin;
  char *object_path;
  /* the values of the container-typed properties, from the shared table below */
  GVariant *settings;
  GVariant *privileges;
  GVariant *holders;
};

static void pd_plugin_iface_init (PdDbusPluginIface *iface);

G_DEFINE_TYPE_WITH_CODE (PdPlugin, pd_plugin, PD_DBUS_TYPE_PLUGIN_SKELETON,
                         G_IMPLEMENT_INTERFACE (PD_DBUS_TYPE_PLUGIN, pd_plugin_iface_init))

/* section: property values shared between plugins
 *
 * A GVariant from a builder is a tree: one instance (and one buffer) per element, ~1.5 KiB for
 * the Settings, Privileges and Holders of a plugin. They are kept serialised (one buffer each)
 * and plugins with equal values share one instance: with many plugins most have no holders and
 * the same few privileges and settings. The table holds each value while a plugin uses it, so
 * it holds at most three values per plugin. Plugin objects live on the main thread only. */

typedef struct {
  GVariant *value;   /* serialised, not floating */
  guint users;       /* plugins using it */
} SharedValue;

static GHashTable *shared_values;  /* GVariant (its SharedValue's value) → SharedValue */

static guint
shared_value_hash (gconstpointer key)
{
  GVariant *value = (GVariant *) key;
  g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (value);

  return g_bytes_hash (bytes) ^ g_str_hash (g_variant_get_type_string (value));
}

static void
shared_value_free (SharedValue *shared)
{
  g_variant_unref (shared->value);
  g_free (shared);
}

/* takes @value (floating or not), gives the shared instance equal to it (not a reference of
 * the caller: release it with release_shared_value()) */
static GVariant *
acquire_shared_value (GVariant *value)
{
  g_autoptr(GVariant) owned = g_variant_ref_sink (value);
  SharedValue *shared;

  if (shared_values == NULL)
    shared_values = g_hash_table_new_full (shared_value_hash, g_variant_equal, NULL,
                                           (GDestroyNotify) shared_value_free);
  /* serialises a tree in place, dropping its elements */
  (void) g_variant_get_data (owned);
  shared = g_hash_table_lookup (shared_values, owned);
  if (shared == NULL)
    {
      shared = g_new0 (SharedValue, 1);
      shared->value = g_steal_pointer (&owned);
      g_hash_table_insert (shared_values, shared->value, shared);
    }
  shared->users++;
  return shared->value;
}

static void
release_shared_value (GVariant **value)
{
  SharedValue *shared;

  if (*value == NULL)
    return;
  shared = g_hash_table_lookup (shared_values, *value);
  g_assert (shared != NULL && shared->value == *value);
  *value = NULL;
  if (--shared->users == 0)
    g_hash_table_remove (shared_values, shared->value);
}

/* sets a container-typed property of @self to the shared instance equal to @value (taken);
 * @slot is @self's field for that property */
static void
set_shared_property (PdPlugin *self, const char *property, GVariant **slot, GVariant *value)
{
  GVariant *old = *slot;

  *slot = acquire_shared_value (value);
  /* the skeleton takes its own reference; unchanged values do not notify */
  g_object_set (self, property, *slot, NULL);
  release_shared_value (&old);
}

static void
pd_plugin_dispose (GObject *object)
{
  PdPlugin *self = PD_PLUGIN (object);

  g_clear_object (&self->plugin);
  g_clear_object (&self->auth);
  g_clear_object (&self->engine);
  release_shared_value (&self->settings);
  release_shared_value (&self->privileges);
  release_shared_value (&self->holders);

  G_OBJECT_CLASS (pd_plugin_parent_class)->dispose (object);
}

static void
pd_plugin_finalize (GObject *object)
{
  g_free (PD_PLUGIN (object)->object_path);

  G_OBJECT_CLASS (pd_plugin_parent_class)->finalize (object);
}

static void
pd_plugin_class_init (PdPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pd_plugin_dispose;
  object_class->finalize = pd_plugin_finalize;
}

static void
pd_plugin_init (PdPlugin *self)
{
}

/* section: the mirror */

static PdPluginRecord *
record_of (PdPlugin *self)
{
  return pd_managed_plugin_get_record (self->plugin);
}

/* the settings-dependent parts of the record */
static void
sync_settings (PdPlugin *self)
{
  PdDbusPlugin *iface = PD_DBUS_PLUGIN (self);
  PdPluginRecord *record = record_of (self);
  const PdPluginConfig *config = pd_plugin_record_get_config (record);
  const PdPluginSettings *settings = pd_plugin_record_get_settings (record);
  g_autoptr(GPtrArray) privileges = pd_plugin_record_dup_privileges (record);
  g_autoptr(GPtrArray) infos = pd_plugin_settings_describe (settings, config);
  g_auto(GStrv) env_names = pd_plugin_settings_dup_env_names (settings);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssssb)"));
  for (guint i = 0; i < infos->len; i++)
    {
      PdSettingInfo *info = g_ptr_array_index (infos, i);
      g_variant_builder_add (&builder, "(ssssb)", info->name, info->kind, info->description,
                             info->value, info->settable);
    }
  set_shared_property (self, "settings", &self->settings, g_variant_builder_end (&builder));
  set_shared_property (self, "privileges", &self->privileges,
                       pd_privileges_to_variant (privileges));
  /* every local user reads the properties and their PropertiesChanged: names, never values
   * (GetSettingValues gives those to whom read-settings allows) */
  pd_dbus_plugin_set_env (iface, (const char *const *) env_names);
  pd_dbus_plugin_set_update_timestamp (iface, pd_plugin_record_get_updated (record));
}

static void
sync_holders (PdPlugin *self)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssuu)"));
  for (guint i = 0; i < pd_managed_plugin_get_n_holds (self->plugin); i++)
    {
      const char *who, *why;
      guint32 uid, pid;

      pd_managed_plugin_get_hold (self->plugin, i, &who, &why, &uid, &pid);
      g_variant_builder_add (&builder, "(ssuu)", who, why, uid, pid);
    }
  set_shared_property (self, "holders", &self->holders, g_variant_builder_end (&builder));
}

/* the runner's state */
static void
sync_runtime (PdPlugin *self)
{
  PdDbusPlugin *iface = PD_DBUS_PLUGIN (self);
  PdRunner *runner = pd_managed_plugin_get_runner (self->plugin);

  pd_dbus_plugin_set_state (iface, pd_plugin_state_to_string (pd_runner_get_state (runner)));
  pd_dbus_plugin_set_state_timestamp (iface, pd_runner_get_state_timestamp (runner));
  pd_dbus_plugin_set_main_pid (iface, pd_runner_get_main_pid (runner));
  pd_dbus_plugin_set_socket (iface, pd_runner_get_socket (runner));
  pd_dbus_plugin_set_implements (iface, pd_runner_get_implements (runner));
  pd_dbus_plugin_set_restart_count (iface, pd_runner_get_restart_count (runner));
  pd_dbus_plugin_set_last_error_name (iface, pd_runner_get_last_error_name (runner));
  pd_dbus_plugin_set_last_error_message (iface, pd_runner_get_last_error_message (runner));
}

/* the job of the operation working on the plugin, or "/" */
static void
sync_job (PdPlugin *self)
{
  PdOperation *operation = pd_managed_plugin_get_operation (self->plugin);
  g_autofree char *path = NULL;

  if (operation != NULL && !pd_operation_is_finished (operation))
    path = pd_job_dup_object_path_for (pd_operation_get_id (operation));
  pd_dbus_plugin_set_job (PD_DBUS_PLUGIN (self), path != NULL ? path : "/");
}

static void
sync_all (PdPlugin *self)
{
  PdDbusPlugin *iface = PD_DBUS_PLUGIN (self);
  PdPluginRecord *record = record_of (self);
  const PdPluginConfig *config = pd_plugin_record_get_config (record);
  const char *const empty[] = { NULL };
  g_autofree char *description = NULL;
  g_autofree char *documentation = NULL;

  pd_dbus_plugin_set_id (iface, pd_plugin_record_get_id (record));
  pd_dbus_plugin_set_name (iface, pd_plugin_record_get_name (record));
  pd_dbus_plugin_set_creation_timestamp (iface, pd_plugin_record_get_created (record));
  pd_dbus_plugin_set_reference (iface, pd_plugin_record_get_reference (record));
  pd_dbus_plugin_set_manifest_digest (iface, pd_plugin_record_get_manifest_digest (record));
  pd_dbus_plugin_set_config_digest (iface, pd_plugin_record_get_config_digest (record));
  description = pd_text_truncate (config->description, PD_PLUGIN_TEXT_PROPERTY_MAX);
  documentation = pd_text_truncate (config->documentation, PD_PLUGIN_TEXT_PROPERTY_MAX);
  pd_dbus_plugin_set_description (iface, description);
  pd_dbus_plugin_set_documentation (iface, documentation);
  pd_dbus_plugin_set_interface_types (iface, config->interface_types != NULL
                                               ? (const char *const *) config->interface_types
                                               : empty);
  pd_dbus_plugin_set_protocol_scheme (iface, config->protocol_scheme != NULL
                                               ? config->protocol_scheme : "");
  pd_dbus_plugin_set_enabled (iface, pd_plugin_record_get_enabled (record));
  sync_runtime (self);
  sync_holders (self);
  sync_settings (self);
  sync_job (self);
}

void
pd_plugin_update (PdPlugin *self, guint what)
{
  if ((what & PD_MANAGED_PLUGIN_CHANGED_IMAGE) != 0)
    sync_all (self);
  if ((what & PD_MANAGED_PLUGIN_CHANGED_SETTINGS) != 0)
    sync_settings (self);
  if ((what & PD_MANAGED_PLUGIN_CHANGED_ENABLED) != 0)
    pd_dbus_plugin_set_enabled (PD_DBUS_PLUGIN (self),
                                pd_plugin_record_get_enabled (record_of (self)));
  if ((what & PD_MANAGED_PLUGIN_CHANGED_RUNTIME) != 0)
    sync_runtime (self);
  if ((what & PD_MANAGED_PLUGIN_CHANGED_HOLDERS) != 0)
    sync_holders (self);
  if ((what & PD_MANAGED_PLUGIN_CHANGED_OPERATION) != 0)
    sync_job (self);
  if ((what & PD_MANAGED_PLUGIN_CHANGED_DISK_USAGE) != 0)
    pd_dbus_plugin_set_disk_usage (PD_DBUS_PLUGIN (self),
                                   pd_managed_plugin_get_disk_usage (self->plugin));
  /* a new image, new settings or Enabled precede the event of the change that made them: they
   * go out at once; the runner's state and the rest go with the next idle flush */
  if ((what & (PD_MANAGED_PLUGIN_CHANGED_IMAGE | PD_MANAGED_PLUGIN_CHANGED_SETTINGS |
               PD_MANAGED_PLUGIN_CHANGED_ENABLED)) != 0)
    g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
}

char *
pd_plugin_dup_object_path_for (const char *id)
{
  return g_strconcat (PD_DBUS_PLUGIN_PATH_PREFIX, id, NULL);
}

PdPlugin *
pd_plugin_new (PdEngine *engine, PdAuth *auth, PdManagedPlugin *plugin)
{
  PdPlugin *self = g_object_new (PD_TYPE_PLUGIN, NULL);

  self->engine = g_object_ref (engine);
  self->auth = g_object_ref (auth);
  self->plugin = g_object_ref (plugin);
  self->object_path = pd_plugin_dup_object_path_for (pd_managed_plugin_get_id (plugin));
  /* the first values (about 20, set for every plugin at start): not exported yet, so no
   * PropertiesChanged is queued, and with notifications frozen they go out once, together,
   * to no one; changes after this notify one by one as before */
  g_object_freeze_notify (G_OBJECT (self));
  sync_all (self);
  pd_dbus_plugin_set_disk_usage (PD_DBUS_PLUGIN (self),
                                 pd_managed_plugin_get_disk_usage (plugin));
  g_object_thaw_notify (G_OBJECT (self));
  return self;
}

PdManagedPlugin *
pd_plugin_get_managed (PdPlugin *self)
{
  return self->plugin;
}

const char *
pd_plugin_get_object_path (PdPlugin *self)
{
  return self->object_path;
}

/* section: what every call carries */

/* a call between its handler and the end of its authorization */
typedef struct {
  PdCall call;                  /* call.self: the PdPlugin */
  gboolean remove;              /* Remove, else Disable */
  GPtrArray *changes;           /* Set: PdSettingChange, in order */
  char *authorized_privileges;  /* Set, Upgrade: the privileges when the caller was asked */
  PdInstallRequest *request;    /* Upgrade */
  PdReference *target;          /* Push */
  char *registry_auth;          /* Push */
  char *who;                    /* Hold */
  char *why;                    /* Hold */
} CallData;

/* the PdCall's clear: the fields of a CallData */
static void
call_data_clear (gpointer call)
{
  CallData *data = call;

  g_clear_pointer (&data->changes, g_ptr_array_unref);
  g_free (data->authorized_privileges);
  g_clear_pointer (&data->request, pd_install_request_free);
  g_clear_pointer (&data->target, pd_reference_free);
  if (data->registry_auth != NULL)
    memset (data->registry_auth, 0, strlen (data->registry_auth));
  g_free (data->registry_auth);
  g_free (data->who);
  g_free (data->why);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CallData, pd_call_free)

/* pd_call_begin() on this plugin (@allowed: NULL for a method without options): the call's
 * data, or NULL once the call is answered */
static CallData *
begin_call (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *options,
            const char *const *allowed)
{
  return pd_call_begin (sizeof (CallData), call_data_clear, self, self->auth, invocation,
                        options, allowed);
}

/* the core's plugin the call is on */
static PdManagedPlugin *
call_plugin (CallData *data)
{
  return PD_PLUGIN (data->call.self)->plugin;
}

/* the polkit details of a call on this plugin */
static GHashTable *
new_details (PdPlugin *self, const char *operation)
{
  GHashTable *details = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (details, "plugin", g_strdup (pd_managed_plugin_get_name (self->plugin)));
  g_hash_table_insert (details, "plugin_id", g_strdup (pd_managed_plugin_get_id (self->plugin)));
  g_hash_table_insert (details, "operation", g_strdup (operation));
  return details;
}

static GHashTable *
new_remote_details (PdPlugin *self, const PdReference *remote, const char *operation)
{
  GHashTable *details = new_details (self, operation);

  g_hash_table_insert (details, "remote", pd_reference_familiar (remote));
  g_hash_table_insert (details, "registry", g_strdup (remote->domain));
  return details;
}

/* authorizes a call that needs no escalation, with the details of @operation on this plugin;
 * @callback gets @data (taken) */
static void
authorize_operation (CallData *data, const char *operation, GAsyncReadyCallback callback)
{
  pd_call_authorize (data, 0, new_details (data->call.self, operation), callback);
}

/* the handlers with nothing to check before the authorization */
static gboolean
handle_with_authorization (PdDbusPlugin *iface, GDBusMethodInvocation *invocation,
                           GVariant *options, const char *const *allowed, const char *operation,
                           GAsyncReadyCallback callback)
{
  CallData *data = begin_call (PD_PLUGIN (iface), invocation, options, allowed);

  if (data != NULL)
    authorize_operation (data, operation, callback);
  return TRUE;
}

static gint
compare_string_pointers (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* the "settings" polkit detail: the keys a call changes, sorted, each once, comma-separated;
 * never the values, which may be secrets */
static char *
dup_setting_keys (GPtrArray *changes)
{
  g_autoptr(GPtrArray) keys = g_ptr_array_new ();
  guint n = 0;

  for (guint i = 0; i < changes->len; i++)
    g_ptr_array_add (keys, ((PdSettingChange *) changes->pdata[i])->key);
  g_ptr_array_sort (keys, compare_string_pointers);
  /* a key given more than once is named once */
  for (guint i = 0; i < keys->len; i++)
    if (n == 0 || strcmp (keys->pdata[i], keys->pdata[n - 1]) != 0)
      keys->pdata[n++] = keys->pdata[i];
  g_ptr_array_set_size (keys, n);
  g_ptr_array_add (keys, NULL);
  return g_strjoinv (",", (char **) keys->pdata);
}

/* section: Set */

static void
set_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  PdPlugin *self = data->call.self;
  GError *error = NULL;

  if (!pd_call_authorized (data, result))
    return;
  if (!pd_managed_plugin_set_settings (self->plugin, data->changes, data->authorized_privileges,
                                       &error))
    {
      pd_call_reply_error (data, error);
      return;
    }
  pd_dbus_plugin_complete_set (PD_DBUS_PLUGIN (self), g_object_ref (data->call.invocation));
}

static gboolean
handle_set (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_settings,
            GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = { "interactive", "b", "validate-only", "b", NULL };
  g_autoptr(CallData) data = begin_call (self, invocation, arg_options, allowed);
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autofree char *privileges_text = NULL;
  GHashTable *details;
  gboolean privileges_changed = FALSE;
  GError *error = NULL;

  if (data == NULL)
    return TRUE;
  if (!pd_managed_plugin_check_can_set (self->plugin, &error))
    return pd_call_reply_error (data, error);
  data->changes = pd_settings_changes_new_from_variant (arg_settings, &error);
  if (data->changes == NULL)
    return pd_call_reply_error (data, error);
  if (data->changes->len == 0)
    return pd_call_reply_error (data, g_error_new_literal (PD_ERROR, PD_ERROR_INVALID_ARGS,
                                                           "no settings given"));
  /* grammar errors are reported before anyone is asked for a password */
  settings = pd_managed_plugin_compute_settings (self->plugin, data->changes, &privileges_text,
                                                 &privileges_changed, &error);
  if (settings == NULL)
    return pd_call_reply_error (data, error);
  /* validate-only: every check of Set but the authorization, nothing saved; what it tells is
   * the config's and the state's, which everyone may read (a form checks its values) */
  if (pd_options_get_boolean (arg_options, "validate-only", FALSE))
    {
      pd_dbus_plugin_complete_set (iface, g_object_ref (data->call.invocation));
      return TRUE;
    }

  details = new_details (self, "set");
  g_hash_table_insert (details, "settings", dup_setting_keys (data->changes));
  if (privileges_changed)
    {
      g_hash_table_insert (details, "privileges", g_strdup (privileges_text));
      data->authorized_privileges = g_steal_pointer (&privileges_text);
    }
  pd_call_authorize (g_steal_pointer (&data), privileges_changed ? PD_AUTH_PRIVILEGES : 0,
                     details, set_authorized_cb);
  return TRUE;
}

/* section: Enable, Disable, Remove */

static void
enabled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  GError *error = NULL;

  if (!pd_managed_plugin_enable_finish (PD_MANAGED_PLUGIN (source), result, &error))
    pd_call_reply_error (data, error);
  else
    pd_dbus_plugin_complete_enable (PD_DBUS_PLUGIN (data->call.self),
                                    g_object_ref (data->call.invocation));
}

static void
enable_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  PdManagedPlugin *plugin = call_plugin (data);
  guint activation_timeout = 0, request_timeout = 0;

  if (!pd_call_authorized (data, result))
    return;
  g_variant_lookup (data->call.options, "activation-timeout", "u", &activation_timeout);
  g_variant_lookup (data->call.options, "timeout", "u", &request_timeout);
  pd_managed_plugin_enable_async (plugin, activation_timeout, request_timeout, enabled_cb,
                                  g_steal_pointer (&data));
}

static gboolean
handle_enable (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = {
    "interactive", "b", "activation-timeout", "u", "timeout", "u", NULL
  };
  g_autoptr(CallData) data = begin_call (self, invocation, arg_options, allowed);
  GError *error = NULL;

  if (data == NULL)
    return TRUE;
  if (!pd_options_check_timeout (arg_options, "activation-timeout", &error) ||
      !pd_managed_plugin_check_can_enable (self->plugin, &error))
    return pd_call_reply_error (data, error);
  authorize_operation (g_steal_pointer (&data), "enable", enable_authorized_cb);
  return TRUE;
}

/* Disable and Remove: the same options, and the same force */

static void
stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  PdDbusPlugin *iface = PD_DBUS_PLUGIN (data->call.self);
  GError *error = NULL;

  if (data->remove ? !pd_engine_remove_plugin_finish (PD_ENGINE (source), result, &error)
                   : !pd_managed_plugin_disable_finish (PD_MANAGED_PLUGIN (source), result,
                                                        &error))
    pd_call_reply_error (data, error);
  else if (data->remove)
    pd_dbus_plugin_complete_remove (iface, g_object_ref (data->call.invocation));
  else
    pd_dbus_plugin_complete_disable (iface, g_object_ref (data->call.invocation));
}

static void
stop_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  PdPlugin *self = data->call.self;
  gboolean force = pd_options_get_boolean (data->call.options, "force", FALSE);
  gboolean remove = data->remove;
  guint stop_timeout = 0;

  if (!pd_call_authorized (data, result))
    return;
  g_variant_lookup (data->call.options, "stop-timeout", "u", &stop_timeout);
  if (remove)
    pd_engine_remove_plugin_async (self->engine, self->plugin, force, stop_timeout, stopped_cb,
                                   g_steal_pointer (&data));
  else
    pd_managed_plugin_disable_async (self->plugin, force, stop_timeout, stopped_cb,
                                     g_steal_pointer (&data));
}

static gboolean
handle_stop (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *arg_options,
             gboolean remove)
{
  static const char *const allowed[] = {
    "interactive", "b", "force", "b", "stop-timeout", "u", NULL
  };
  g_autoptr(CallData) data = begin_call (self, invocation, arg_options, allowed);
  gboolean force = pd_options_get_boolean (arg_options, "force", FALSE);
  GError *error = NULL;

  if (data == NULL)
    return TRUE;
  if (!pd_options_check_timeout (arg_options, "stop-timeout", &error) ||
      (remove ? !pd_managed_plugin_check_can_remove (self->plugin, force, &error)
              : !pd_managed_plugin_check_can_disable (self->plugin, force, &error)))
    return pd_call_reply_error (data, error);
  data->remove = remove;
  authorize_operation (g_steal_pointer (&data), remove ? "remove" : "disable",
                       stop_authorized_cb);
  return TRUE;
}

static gboolean
handle_disable (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  return handle_stop (PD_PLUGIN (iface), invocation, arg_options, FALSE);
}

static gboolean
handle_remove (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  return handle_stop (PD_PLUGIN (iface), invocation, arg_options, TRUE);
}

/* section: OpenLog, Hold: replies that carry an fd */

static void
return_fd (GDBusMethodInvocation *invocation, int fd)
{
  g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new_from_array (&fd, 1);

  g_dbus_method_invocation_return_value_with_unix_fd_list (invocation,
                                                           g_variant_new ("(h)", 0), fd_list);
}

/* the options OpenLog and ReadLog share */
static PdPluginLogQuery
log_query_from_options (GVariant *options)
{
  PdPluginLogQuery query = { PD_PLUGIN_LOG_READ_DEFAULT_LINES, 0, FALSE };
  guint64 since = 0;

  g_variant_lookup (options, "lines", "u", &query.lines);
  g_variant_lookup (options, "since", "t", &since);
  query.since = (gint64) MIN (since, (guint64) G_MAXINT64);
  query.timestamps = pd_options_get_boolean (options, "timestamps", FALSE);
  return query;
}

static void
open_log_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  GError *error = NULL;
  PdPluginLogQuery query;
  int fd;

  if (!pd_call_authorized (data, result))
    return;
  query = log_query_from_options (data->call.options);
  fd = pd_managed_plugin_open_log (call_plugin (data), &query,
                                   pd_options_get_boolean (data->call.options, "follow", FALSE),
                                   &error);
  if (fd < 0)
    pd_call_reply_error (data, error);
  else
    return_fd (g_object_ref (data->call.invocation), fd);
}

static gboolean
handle_open_log (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  static const char *const allowed[] = {
    "interactive", "b", "lines", "u", "follow", "b", "since", "t", "timestamps", "b", NULL
  };

  return handle_with_authorization (iface, invocation, arg_options, allowed, "read-logs",
                                    open_log_authorized_cb);
}

static void
read_log_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  PdPluginLogQuery query;
  g_autofree char *text = NULL;

  if (!pd_call_authorized (data, result))
    return;
  query = log_query_from_options (data->call.options);
  text = pd_managed_plugin_read_log (call_plugin (data), &query);
  pd_dbus_plugin_complete_read_log (PD_DBUS_PLUGIN (data->call.self),
                                    g_object_ref (data->call.invocation), text);
}

/* ReadLog: the same lines as a string, for clients that cannot receive an fd */
static gboolean
handle_read_log (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  static const char *const allowed[] = {
    "interactive", "b", "lines", "u", "since", "t", "timestamps", "b", NULL
  };
  g_autoptr(CallData) data = begin_call (PD_PLUGIN (iface), invocation, arg_options, allowed);
  guint lines = 0;

  if (data == NULL)
    return TRUE;
  if (g_variant_lookup (arg_options, "lines", "u", &lines) &&
      lines > PD_PLUGIN_LOG_READ_MAX_LINES)
    return pd_call_reply_error (data, g_error_new (PD_ERROR, PD_ERROR_INVALID_ARGS,
                                                   "Option 'lines' must be at most %u",
                                                   PD_PLUGIN_LOG_READ_MAX_LINES));
  authorize_operation (g_steal_pointer (&data), "read-logs", read_log_authorized_cb);
  return TRUE;
}

static void
hold_got_caller_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  GError *error = NULL;
  guint32 uid = 0, pid = 0;
  int fd;

  if (!pd_auth_get_caller_credentials_finish (PD_AUTH (source), result, &uid, &pid, &error))
    {
      pd_call_reply_error (data, error);
      return;
    }
  fd = pd_managed_plugin_add_hold (call_plugin (data), data->who, data->why, uid, pid, &error);
  if (fd < 0)
    pd_call_reply_error (data, error);
  else
    return_fd (g_object_ref (data->call.invocation), fd);
}

static gboolean
handle_hold (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, const char *arg_who,
             const char *arg_why)
{
  PdPlugin *self = PD_PLUGIN (iface);
  g_autoptr(CallData) data = begin_call (self, invocation, NULL, NULL);
  GError *error = NULL;

  if (data == NULL)
    return TRUE;
  if (!pd_managed_plugin_check_can_hold (self->plugin, &error))
    return pd_call_reply_error (data, error);
  data->who = g_strdup (arg_who);
  data->why = g_strdup (arg_why);
  pd_call_authorize_caller (g_steal_pointer (&data), 0, new_details (self, "hold"),
                            hold_got_caller_cb);
  return TRUE;
}

/* section: Upgrade, Push */

static void
start_remote_job (CallData *data, guint32 uid)
{
  PdPlugin *self = data->call.self;
  const char *kind = data->request != NULL ? "upgrade" : "push";
  PdReference *remote = data->request != NULL ? data->request->remote : data->target;
  g_autofree char *remote_text = pd_reference_to_string (remote);
  g_autofree char *path = NULL;
  GError *error = NULL;
  PdOperation *operation;

  operation = pd_engine_new_operation (self->engine, kind, remote_text,
                                       pd_managed_plugin_get_name (self->plugin), uid, &error);
  if (operation == NULL)
    {
      pd_call_reply_error (data, error);
      return;
    }
  path = pd_job_dup_object_path_for (pd_operation_get_id (operation));
  if (data->request != NULL)
    {
      pd_dbus_plugin_complete_upgrade (PD_DBUS_PLUGIN (self), g_object_ref (data->call.invocation),
                                       path);
      data->request->plugin = g_object_ref (self->plugin);
      pd_install_start (self->engine, operation, g_steal_pointer (&data->request));
    }
  else
    {
      /* Plugin.Push or Manager.Push: both answer (o) */
      g_dbus_method_invocation_return_value (g_object_ref (data->call.invocation),
                                             g_variant_new ("(o)", path));
      pd_publish_start (self->engine, operation, self->plugin, g_steal_pointer (&data->target),
                        g_steal_pointer (&data->registry_auth));
    }
}

static void
remote_call_got_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  PdManagedPlugin *plugin = call_plugin (data);
  GError *error = NULL;
  guint32 uid = 0;

  if (!pd_auth_get_caller_uid_finish (PD_AUTH (source), result, &uid, &error) ||
      !pd_managed_plugin_check_can_change (plugin, &error))
    {
      pd_call_reply_error (data, error);
      return;
    }
  /* checked again: still allowed to run, and still the privileges the caller was authorized
   * for */
  if (data->request != NULL &&
      !pd_managed_plugin_check_can_upgrade (plugin, data->request->enable,
                                            data->authorized_privileges, &error))
    {
      pd_call_reply_error (data, error);
      return;
    }
  start_remote_job (data, uid);
}

static gboolean
handle_upgrade (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, const char *arg_remote,
                GVariant *arg_privileges, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = {
    "interactive", "b", "registry-auth", "s", "platform", "s", "expected-digest", "s",
    "grant-all-privileges", "b", "settings", "a(ss)", "restart", "b", NULL
  };
  g_autoptr(CallData) data = begin_call (self, invocation, arg_options, allowed);
  g_autoptr(GPtrArray) current = NULL;
  GHashTable *details;
  PdPluginRecord *record = pd_managed_plugin_get_record (self->plugin);
  const char *remote = *arg_remote != '\0' ? arg_remote : pd_plugin_record_get_remote (record);
  PdInstallRequest *request;
  GError *error = NULL;
  gboolean privileged;
  gboolean with_settings;

  if (data == NULL)
    return TRUE;
  data->request = request = pd_install_request_new ();
  if (!pd_install_request_parse_options (request, arg_options, &error))
    return pd_call_reply_error (data, error);
  if (remote == NULL)
    {
      g_set_error (&error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "plugin %s was not pulled from a registry: give the remote to upgrade from",
                   pd_plugin_record_get_name (record));
      return pd_call_reply_error (data, error);
    }
  if (!pd_install_request_set_remote (request, remote, &error) ||
      !pd_managed_plugin_check_can_upgrade (self->plugin, request->enable, NULL, &error))
    return pd_call_reply_error (data, error);
  request->accepted = pd_privileges_new_from_variant (arg_privileges);

  /* the same privileges as now: an ordinary upgrade; anything else is consent to more */
  current = pd_plugin_record_dup_privileges (record);
  data->authorized_privileges = pd_managed_plugin_dup_privileges_text (self->plugin);
  privileged = request->grant_all || !pd_privileges_equal (current, request->accepted);
  with_settings = request->settings != NULL && request->settings->len > 0;
  details = new_remote_details (self, request->remote, "upgrade");
  if (privileged)
    pd_call_add_privileges_detail (details, request->grant_all, request->accepted);
  if (with_settings)
    g_hash_table_insert (details, "settings", dup_setting_keys (request->settings));
  /* the table picks one action for both: one check, so one prompt at most */
  pd_call_authorize_caller (g_steal_pointer (&data),
                            (privileged ? PD_AUTH_PRIVILEGES : 0) |
                              (with_settings ? PD_AUTH_SETTINGS : 0),
                            details, remote_call_got_uid_cb);
  return TRUE;
}

gboolean
pd_plugin_handle_push (PdPlugin *self, GDBusMethodInvocation *invocation, const char *remote,
                       GVariant *options, const char *const *allowed)
{
  g_autoptr(CallData) data = begin_call (self, invocation, options, allowed);
  const char *registry_auth = NULL;
  GHashTable *details;
  GError *error = NULL;

  if (data == NULL)
    return TRUE;
  if (!pd_managed_plugin_check_can_change (self->plugin, &error))
    return pd_call_reply_error (data, error);
  data->target = pd_publish_parse_target (self->plugin, remote, &error);
  if (data->target == NULL)
    return pd_call_reply_error (data, error);
  if (g_variant_lookup (options, "registry-auth", "&s", &registry_auth) && *registry_auth != '\0')
    data->registry_auth = g_strdup (registry_auth);

  details = new_remote_details (self, data->target, "push");
  pd_call_authorize_caller (g_steal_pointer (&data), 0, details, remote_call_got_uid_cb);
  return TRUE;
}

static gboolean
handle_push (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  static const char *const allowed[] = {
    "interactive", "b", "registry-auth", "s", "remote", "s", NULL
  };
  const char *remote = "";

  /* a "remote" of another type is refused by the options check */
  if (!g_variant_lookup (arg_options, "remote", "&s", &remote))
    remote = "";
  return pd_plugin_handle_push (PD_PLUGIN (iface), invocation, remote, arg_options, allowed);
}

/* section: Inspect, GetSettingValues: env values and args, where passwords go */

static void
inspect_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  g_autofree char *json = NULL;
  gboolean show_values;

  /* a denial, or polkit unavailable, only hides the values */
  show_values = pd_auth_check_finish (PD_AUTH (source), result, NULL);
  json = pd_managed_plugin_to_inspect_json (call_plugin (data), show_values);
  pd_dbus_plugin_complete_inspect (PD_DBUS_PLUGIN (data->call.self),
                                   g_object_ref (data->call.invocation), json);
}

static gboolean
handle_inspect (PdDbusPlugin *iface, GDBusMethodInvocation *invocation)
{
  /* values for root (no polkit call) and for callers read-settings allows as they are; never
   * a password prompt (the rule says so): a read must not start asking */
  return handle_with_authorization (iface, invocation, NULL, NULL, "inspect",
                                    inspect_authorized_cb);
}

static void
get_setting_values_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  const PdPluginSettings *settings =
    pd_plugin_record_get_settings (pd_managed_plugin_get_record (call_plugin (data)));

  if (!pd_call_authorized (data, result))
    return;
  pd_dbus_plugin_complete_get_setting_values (PD_DBUS_PLUGIN (data->call.self),
                                              g_object_ref (data->call.invocation),
                                              (const char *const *) settings->env,
                                              (const char *const *) settings->args);
}

static gboolean
handle_get_setting_values (PdDbusPlugin *iface, GDBusMethodInvocation *invocation,
                           GVariant *arg_options)
{
  static const char *const allowed[] = { "interactive", "b", NULL };

  return handle_with_authorization (iface, invocation, arg_options, allowed, "read-settings",
                                    get_setting_values_authorized_cb);
}

static void
pd_plugin_iface_init (PdDbusPluginIface *iface)
{
  iface->handle_enable = handle_enable;
  iface->handle_disable = handle_disable;
  iface->handle_open_log = handle_open_log;
  iface->handle_read_log = handle_read_log;
  iface->handle_hold = handle_hold;
  iface->handle_set = handle_set;
  iface->handle_remove = handle_remove;
  iface->handle_inspect = handle_inspect;
  iface->handle_get_setting_values = handle_get_setting_values;
  iface->handle_upgrade = handle_upgrade;
  iface->handle_push = handle_push;
}
