/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#define G_LOG_DOMAIN "pd-plugin"

#include <fcntl.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>
#include <glib-unix.h>

#include "pd-error.h"
#include "pd-names.h"
#include "pd-options.h"
#include "pd-plugin.h"
#include "pd-pull-job.h"
#include "pd-push-job.h"
#include "pd-runner.h"

struct _PdPlugin {
  PdDbusPluginSkeleton parent_instance;

  PdDaemon *daemon;          /* not owned: the daemon outlives its plugins */
  PdPluginRecord *record;
  char *object_path;
  PdRunner *runner;
  GCancellable *start_cancellable;  /* of the enable in progress, for the daemon's shutdown */
  GCancellable *start_link;  /* the job's cancellable, which that enable follows */
  gulong start_link_id;
  GList *stop_tasks;         /* shutdown stops waiting for that enable to end */
  GList *start_waiters;      /* forced Disables and Removes waiting for it to end (GTask) */
  guint forcing;             /* forced Disables and Removes ending what holds the plugin */
  GPtrArray *holds;          /* Hold */
  gboolean removed;
  gboolean busy;             /* an authorized state change is in progress (never set while
                              * polkit is asked: a caller it denies must not block anyone) */
};

/* a consumer's reference (dbus-api.md D3 Hold): released when the client closes its end */
typedef struct {
  PdPlugin *plugin;          /* not owned */
  char *who;
  char *why;
  guint32 uid;
  guint32 pid;
  int write_fd;
  guint watch_id;
} Hold;

static void
hold_free (Hold *hold)
{
  g_clear_handle_id (&hold->watch_id, g_source_remove);
  if (hold->write_fd >= 0)
    close (hold->write_fd);
  g_free (hold->who);
  g_free (hold->why);
  g_free (hold);
}

static void pd_plugin_iface_init (PdDbusPluginIface *iface);

G_DEFINE_TYPE_WITH_CODE (PdPlugin, pd_plugin, PD_DBUS_TYPE_PLUGIN_SKELETON,
                         G_IMPLEMENT_INTERFACE (PD_DBUS_TYPE_PLUGIN, pd_plugin_iface_init))

static void
pd_plugin_finalize (GObject *object)
{
  PdPlugin *self = PD_PLUGIN (object);

  g_clear_pointer (&self->holds, g_ptr_array_unref);
  g_clear_object (&self->start_cancellable);
  g_clear_object (&self->start_link);
  if (self->runner != NULL)
    g_signal_handlers_disconnect_by_data (self->runner, self);
  g_clear_object (&self->runner);
  g_clear_object (&self->record);
  g_free (self->object_path);
  G_OBJECT_CLASS (pd_plugin_parent_class)->finalize (object);
}

static void
pd_plugin_class_init (PdPluginClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pd_plugin_finalize;
}

static void
pd_plugin_init (PdPlugin *self)
{
  self->holds = g_ptr_array_new_with_free_func ((GDestroyNotify) hold_free);
}

/* mirrors the settings-dependent parts of the record onto the properties */
static void
sync_settings (PdPlugin *self)
{
  PdDbusPlugin *iface = PD_DBUS_PLUGIN (self);
  const PdPluginConfig *config = pd_plugin_record_get_config (self->record);
  const PdPluginSettings *settings = pd_plugin_record_get_settings (self->record);
  g_autoptr(GPtrArray) privileges = pd_plugin_record_dup_privileges (self->record);
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
  pd_dbus_plugin_set_settings (iface, g_variant_builder_end (&builder));
  pd_dbus_plugin_set_privileges (iface, pd_privileges_to_variant (privileges));
  /* every local user reads the properties and their PropertiesChanged: names, never values
   * (GetSettingValues gives those to whom read-settings allows) */
  pd_dbus_plugin_set_env (iface, (const char *const *) env_names);
  pd_dbus_plugin_set_update_timestamp (iface, pd_plugin_record_get_updated (self->record));
}

static void
sync_holders (PdPlugin *self)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssuu)"));
  for (guint i = 0; i < self->holds->len; i++)
    {
      Hold *hold = g_ptr_array_index (self->holds, i);
      g_variant_builder_add (&builder, "(ssuu)", hold->who, hold->why, hold->uid, hold->pid);
    }
  pd_dbus_plugin_set_holders (PD_DBUS_PLUGIN (self), g_variant_builder_end (&builder));
}

/* mirrors the runner's state onto the properties */
static void
sync_runtime (PdPlugin *self)
{
  PdDbusPlugin *iface = PD_DBUS_PLUGIN (self);
  PdRunner *runner = self->runner;

  pd_dbus_plugin_set_state (iface, pd_plugin_state_to_string (pd_runner_get_state (runner)));
  pd_dbus_plugin_set_state_timestamp (iface, pd_runner_get_state_timestamp (runner));
  pd_dbus_plugin_set_main_pid (iface, pd_runner_get_main_pid (runner));
  pd_dbus_plugin_set_socket (iface, pd_runner_get_socket (runner));
  pd_dbus_plugin_set_implements (iface, pd_runner_get_implements (runner));
  pd_dbus_plugin_set_restart_count (iface, pd_runner_get_restart_count (runner));
  pd_dbus_plugin_set_last_error_name (iface, pd_runner_get_last_error_name (runner));
  pd_dbus_plugin_set_last_error_message (iface, pd_runner_get_last_error_message (runner));
}

static void
on_runner_notify (PdRunner *runner, GParamSpec *pspec, PdPlugin *self)
{
  PdPluginState state = pd_runner_get_state (runner);

  sync_runtime (self);
  /* holds pin a running plugin; once it stopped or failed they mean nothing */
  if (state == PD_PLUGIN_STATE_DISABLED || state == PD_PLUGIN_STATE_FAILED)
    {
      if (self->holds->len > 0)
        {
          g_ptr_array_set_size (self->holds, 0);
          sync_holders (self);
        }
    }
}

static void
on_runner_event (PdRunner *runner, const char *action, PdPlugin *self)
{
  pd_daemon_emit_plugin_event (self->daemon, action, self, NULL);
}

static void
sync_all (PdPlugin *self)
{
  PdDbusPlugin *iface = PD_DBUS_PLUGIN (self);
  PdPluginRecord *record = self->record;
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
}

PdPlugin *
pd_plugin_new (PdDaemon *daemon, PdPluginRecord *record)
{
  PdPlugin *self = g_object_new (PD_TYPE_PLUGIN, NULL);

  self->daemon = daemon;
  self->record = g_object_ref (record);
  self->object_path = g_strconcat (PD_DBUS_PLUGIN_PATH_PREFIX, pd_plugin_record_get_id (record),
                                   NULL);
  {
    PdEngine *engine = pd_daemon_get_engine (daemon);
    const char *id = pd_plugin_record_get_id (record);
    g_autofree char *rootfs = pd_store_get_rootfs_path (pd_engine_get_store (engine), id);
    g_autofree char *runtime = g_build_filename (pd_engine_get_runtime_dir (engine), "plugins",
                                                 id, NULL);
    g_autofree char *logs = g_build_filename (pd_engine_get_runtime_dir (engine), "logs", NULL);

    self->runner = pd_runner_new (record, rootfs, runtime, logs);
    pd_runner_set_capabilities (self->runner,
                                pd_engine_get_config (engine)->only_requested_capabilities
                                  ? PD_SANDBOX_CAPABILITIES_REQUESTED
                                  : PD_SANDBOX_CAPABILITIES_DOCKER);
  }
  g_signal_connect (self->runner, "notify", G_CALLBACK (on_runner_notify), self);
  g_signal_connect (self->runner, "event", G_CALLBACK (on_runner_event), self);
  sync_all (self);
  return self;
}

PdPluginRecord *
pd_plugin_get_record (PdPlugin *self)
{
  return self->record;
}

PdDaemon *
pd_plugin_get_daemon (PdPlugin *self)
{
  return self->daemon;
}

const char *
pd_plugin_get_object_path (PdPlugin *self)
{
  return self->object_path;
}

void
pd_plugin_set_disk_usage (PdPlugin *self, guint64 bytes)
{
  pd_dbus_plugin_set_disk_usage (PD_DBUS_PLUGIN (self), bytes);
}

void
pd_plugin_image_changed (PdPlugin *self)
{
  sync_all (self);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
}

void
pd_plugin_mark_removed (PdPlugin *self)
{
  self->removed = TRUE;
}

gboolean
pd_plugin_is_removed (PdPlugin *self)
{
  return self->removed;
}

static PdStore *
plugin_store (PdPlugin *self)
{
  return pd_engine_get_store (pd_daemon_get_engine (self->daemon));
}

/* the state every mutating call re-validates after authorization (systemd's -ESTALE) */
static gboolean
check_can_change (PdPlugin *self, GError **error)
{
  PdPluginRecord *record = self->record;

  if (self->removed)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin \"%s\" not found",
                   pd_plugin_record_get_name (record));
      return FALSE;
    }
  if (self->busy || self->forcing > 0 ||
      pd_daemon_has_running_job_for (self->daemon, pd_plugin_record_get_name (record)))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY,
                   "another operation on plugin %s is in progress",
                   pd_plugin_record_get_name (record));
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_plugin_is_active (PdPlugin *self)
{
  return pd_runner_get_state (self->runner) != PD_PLUGIN_STATE_DISABLED &&
         pd_runner_get_state (self->runner) != PD_PLUGIN_STATE_FAILED;
}

static gint
compare_string_pointers (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

static GHashTable *
new_details (PdPlugin *self)
{
  GHashTable *details = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (details, "plugin", g_strdup (pd_plugin_record_get_name (self->record)));
  g_hash_table_insert (details, "plugin_id", g_strdup (pd_plugin_record_get_id (self->record)));
  return details;
}

/* the "settings" polkit detail: the keys a call changes, sorted, comma-separated; never the
 * values, which may be secrets */
static char *
dup_setting_keys (GHashTable *changes)
{
  g_autoptr(GPtrArray) keys = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, changes);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, key);
  g_ptr_array_sort (keys, compare_string_pointers);
  g_ptr_array_add (keys, NULL);
  return g_strjoinv (",", (char **) keys->pdata);
}

/* Set */

typedef struct {
  PdPlugin *plugin;
  GDBusMethodInvocation *invocation;
  GHashTable *changes;
  char *authorized_privileges;
} SetData;

static void
set_data_free (SetData *data)
{
  g_object_unref (data->plugin);
  g_object_unref (data->invocation);
  g_hash_table_unref (data->changes);
  g_free (data->authorized_privileges);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SetData, set_data_free)

/* the settings @changes would give, and the privileges they would compute to */
static PdPluginSettings *
compute_new_settings (PdPlugin *self, GHashTable *changes, char **privileges_text,
                      gboolean *privileges_changed, GError **error)
{
  const PdPluginConfig *config = pd_plugin_record_get_config (self->record);
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) old_privileges = NULL;
  g_autoptr(GPtrArray) new_privileges = NULL;

  settings = pd_plugin_settings_apply (pd_plugin_record_get_settings (self->record), config,
                                       changes, error);
  if (settings == NULL)
    return NULL;
  old_privileges = pd_plugin_record_dup_privileges (self->record);
  new_privileges = pd_privileges_compute (config, settings);
  *privileges_changed = !pd_privileges_equal (old_privileges, new_privileges);
  *privileges_text = pd_privileges_to_string (new_privileges);
  return g_steal_pointer (&settings);
}

static void
set_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(SetData) data = user_data;
  PdPlugin *self = data->plugin;
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(PdPluginSettings) old_settings = NULL;
  g_autofree char *privileges_text = NULL;
  gboolean privileges_changed = FALSE;
  guint64 old_updated;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  if (!check_can_change (self, &error))
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  /* the plugin may have been enabled while polkit was asked */
  if (pd_plugin_is_active (self))
    {
      pd_return_gerror (data->invocation,
                        g_error_new (PD_ERROR, PD_ERROR_PLUGIN_ENABLED,
                                     "cannot set on an active plugin, disable plugin before "
                                     "setting"));
      return;
    }
  /* the settings may have changed while polkit was asked: what is applied must be what was
   * authorized */
  settings = compute_new_settings (self, data->changes, &privileges_text, &privileges_changed,
                                   &error);
  if (settings == NULL)
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  if (privileges_changed && g_strcmp0 (privileges_text, data->authorized_privileges) != 0)
    {
      pd_return_gerror (data->invocation,
                    g_error_new (PD_ERROR, PD_ERROR_BUSY,
                                 "the settings of plugin %s changed during authorization",
                                 pd_plugin_record_get_name (self->record)));
      return;
    }

  old_settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (self->record));
  old_updated = pd_plugin_record_get_updated (self->record);
  pd_plugin_record_set_settings (self->record, g_steal_pointer (&settings));
  pd_plugin_record_set_updated (self->record, (guint64) g_get_real_time ());
  if (!pd_store_save_record (plugin_store (self), self->record, &error))
    {
      /* nothing changed on disk: put the record back as it was */
      pd_plugin_record_set_settings (self->record, g_steal_pointer (&old_settings));
      pd_plugin_record_set_updated (self->record, old_updated);
      g_prefix_error (&error, "saving the settings of %s: ",
                      pd_plugin_record_get_name (self->record));
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  sync_settings (self);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
  pd_daemon_emit_plugin_event (self->daemon, "set", self, NULL);
  pd_dbus_plugin_complete_set (PD_DBUS_PLUGIN (self), data->invocation);
}

static gboolean
handle_set (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_settings,
            GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = { "interactive", "b", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) changes = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GHashTable) details = NULL;
  g_autofree char *privileges_text = NULL;
  gboolean privileges_changed = FALSE;
  SetData *data;

  if (!pd_options_check (arg_options, allowed, &error) || !check_can_change (self, &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  if (pd_plugin_is_active (self))
    {
      pd_return_gerror (invocation, g_error_new (PD_ERROR, PD_ERROR_PLUGIN_ENABLED,
                                             "cannot set on an active plugin, disable plugin "
                                             "before setting"));
      return TRUE;
    }

  changes = pd_settings_changes_new_from_variant (arg_settings, &error);
  if (changes == NULL)
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  if (g_hash_table_size (changes) == 0)
    {
      pd_return_gerror (invocation, g_error_new (PD_ERROR, PD_ERROR_INVALID_ARGS,
                                             "no settings given"));
      return TRUE;
    }

  /* grammar errors are reported before anyone is asked for a password */
  settings = compute_new_settings (self, changes, &privileges_text, &privileges_changed, &error);
  if (settings == NULL)
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }

  details = new_details (self);
  g_hash_table_insert (details, "operation", g_strdup ("set"));
  g_hash_table_insert (details, "settings", dup_setting_keys (changes));
  if (privileges_changed)
    g_hash_table_insert (details, "privileges", g_strdup (privileges_text));

  data = g_new0 (SetData, 1);
  data->plugin = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->changes = g_steal_pointer (&changes);
  data->authorized_privileges = privileges_changed ? g_steal_pointer (&privileges_text) : NULL;
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation,
                       privileges_changed ? PD_ACTION_SET_PRIVILEGED : PD_ACTION_SET, details,
                       arg_options, set_authorized_cb, data);
  return TRUE;
}

/* the data of a call between its handler and its authorization callback */

typedef struct {
  PdPlugin *plugin;
  GDBusMethodInvocation *invocation;
  GVariant *options;
} StateChangeData;

static void
state_change_data_free (StateChangeData *data)
{
  g_object_unref (data->plugin);
  g_object_unref (data->invocation);
  g_variant_unref (data->options);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (StateChangeData, state_change_data_free)

static StateChangeData *
state_change_data_new (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *options)
{
  StateChangeData *data = g_new0 (StateChangeData, 1);

  data->plugin = g_object_ref (self);
  /* the handler's reference: every reply below takes its own */
  data->invocation = invocation;
  data->options = g_variant_ref (options);
  return data;
}

/* asks polkit for @action with the plugin's details and @operation; @callback gets a
 * StateChangeData */
static void
authorize_call (PdPlugin *self, GDBusMethodInvocation *invocation, const char *action,
                const char *operation, GVariant *options, GAsyncReadyCallback callback)
{
  g_autoptr(GHashTable) details = new_details (self);

  g_hash_table_insert (details, "operation", g_strdup (operation));
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, action, details, options,
                       callback, state_change_data_new (self, invocation, options));
}

/* force: Disable and Remove with "force" wait for nothing */

/* a job, a start, a stop or another state change holds the plugin */
static gboolean
is_held (PdPlugin *self)
{
  return self->busy || self->forcing > 0 || self->start_cancellable != NULL ||
         pd_daemon_has_running_job_for (self->daemon, pd_plugin_record_get_name (self->record));
}

static void force_step (GTask *task);

static gboolean
force_step_cb (gpointer user_data)
{
  force_step (user_data);
  return G_SOURCE_REMOVE;
}

/* takes @task; a state change ending in this main loop iteration is over by then */
static void
force_step_later (GTask *task)
{
  g_timeout_add_full (G_PRIORITY_DEFAULT, 10, force_step_cb, task, g_object_unref);
}

static void
force_job_finished_cb (PdOperation *job, gpointer user_data)
{
  g_signal_handlers_disconnect_by_func (job, force_job_finished_cb, user_data);
  force_step_later (user_data);
}

static void
force_stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  pd_runner_disable_finish (PD_RUNNER (source), result, NULL);
  force_step_later (user_data);
}

/* ends what holds the plugin, one thing at a time, and looks again once it is over */
static void
force_step (GTask *task)
{
  PdPlugin *self = g_task_get_source_object (task);
  const char *name = pd_plugin_record_get_name (self->record);
  PdOperation *job;

  if (self->removed)
    {
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN,
                               "plugin \"%s\" not found", name);
      return;
    }
  /* a job working on it (an install that enables it, an upgrade, a push): cancelled, in
   * whatever phase, and waited for */
  job = pd_daemon_get_running_job_for (self->daemon, name);
  if (job != NULL)
    {
      g_signal_connect (job, "finished", G_CALLBACK (force_job_finished_cb), g_object_ref (task));
      pd_operation_cancel (job, "a forced operation on its plugin");
      return;
    }
  /* a start (Enable, or at the daemon's start): cancelled, which kills the plugin */
  if (self->start_cancellable != NULL)
    {
      self->start_waiters = g_list_prepend (self->start_waiters, g_object_ref (task));
      g_cancellable_cancel (self->start_cancellable);
      return;
    }
  /* a stop: joined */
  if (pd_runner_get_state (self->runner) == PD_PLUGIN_STATE_STOPPING)
    {
      pd_runner_disable_async (self->runner, 0, NULL, force_stopped_cb, g_object_ref (task));
      return;
    }
  if (self->busy)
    {
      force_step_later (g_object_ref (task));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

/* the rest of a forced Disable or Remove; takes @data */
typedef void (*StateChangeStep) (StateChangeData *data);

static void
force_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  StateChangeStep then = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;

  PD_PLUGIN (source)->forcing--;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  then (g_steal_pointer (&data));
}

/* Ends whatever holds the plugin, then goes on with @then: the plugin is then running, failed
 * or disabled, and nothing else works on it. New state changes are Busy meanwhile. Takes
 * @data. */
static void
force_then (StateChangeData *data, StateChangeStep then)
{
  g_autoptr(GTask) task = g_task_new (data->plugin, NULL, force_done_cb, data);

  g_task_set_task_data (task, then, NULL);
  data->plugin->forcing++;
  force_step (task);
}

/* Remove */

static void
remove_finish (StateChangeData *data)
{
  PdPlugin *self = data->plugin;
  g_autoptr(GError) error = NULL;

  self->busy = FALSE;
  if (!pd_daemon_remove_plugin (self->daemon, self, &error))
    pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
  else
    pd_dbus_plugin_complete_remove (PD_DBUS_PLUGIN (self), g_object_ref (data->invocation));
}

static void
remove_disabled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  g_autoptr(GError) error = NULL;

  /* Docker: errors of the disable are only logged, the removal goes on */
  if (!pd_runner_disable_finish (PD_RUNNER (source), result, &error))
    g_warning ("stopping plugin %s before removing it: %s",
               pd_plugin_record_get_name (data->plugin->record), error->message);
  remove_finish (data);
}

/* what Remove refuses without force (docker-protocol.md "Other semantics") */
static gboolean
check_can_remove (PdPlugin *self, gboolean force, GError **error)
{
  const char *name = pd_plugin_record_get_name (self->record);

  /* force ends what holds the plugin first (force_then) */
  if (force && !self->removed && is_held (self))
    return TRUE;
  if (!check_can_change (self, error))
    return FALSE;
  if (force)
    return TRUE;
  if (self->holds->len > 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_IN_USE, "plugin %s is in use", name);
      return FALSE;
    }
  if (pd_plugin_is_active (self) || pd_plugin_record_get_enabled (self->record))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED, "plugin %s is enabled", name);
      return FALSE;
    }
  return TRUE;
}

static void remove_now (StateChangeData *data);

static void
remove_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  PdPlugin *self = data->plugin;
  g_autoptr(GError) error = NULL;
  gboolean force = pd_options_get_boolean (data->options, "force", FALSE);

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error) ||
      !check_can_remove (self, force, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  if (force && is_held (self))
    {
      force_then (g_steal_pointer (&data), remove_now);
      return;
    }
  remove_now (g_steal_pointer (&data));
}

/* takes @data */
static void
remove_now (StateChangeData *data)
{
  PdPlugin *self = data->plugin;

  self->busy = TRUE;
  if (pd_runner_get_state (self->runner) != PD_PLUGIN_STATE_DISABLED)
    {
      guint stop_timeout_ms = 0;

      g_variant_lookup (data->options, "stop-timeout", "u", &stop_timeout_ms);

      pd_runner_disable_async (self->runner, stop_timeout_ms, NULL, remove_disabled_cb, data);
      return;
    }
  remove_finish (data);
  state_change_data_free (data);
}

static gboolean
handle_remove (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = {
    "interactive", "b", "force", "b", "stop-timeout", "u", NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) details = NULL;

  if (!pd_options_check (arg_options, allowed, &error) ||
      !pd_options_check_timeout (arg_options, "stop-timeout", &error) ||
      !check_can_remove (self, pd_options_get_boolean (arg_options, "force", FALSE), &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  details = new_details (self);
  g_hash_table_insert (details, "operation", g_strdup ("remove"));
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, PD_ACTION_REMOVE, details,
                       arg_options, remove_authorized_cb,
                       state_change_data_new (self, invocation, arg_options));
  return TRUE;
}

/* Enable, Disable */

/* persists Enabled; TRUE when it is on disk */
static gboolean
save_enabled (PdPlugin *self, gboolean enabled, GError **error)
{
  gboolean old = pd_plugin_record_get_enabled (self->record);

  if (old == enabled)
    return TRUE;
  pd_plugin_record_set_enabled (self->record, enabled);
  if (!pd_store_save_record (plugin_store (self), self->record, error))
    {
      pd_plugin_record_set_enabled (self->record, old);
      return FALSE;
    }
  pd_dbus_plugin_set_enabled (PD_DBUS_PLUGIN (self), enabled);
  return TRUE;
}

static void complete_pending_stops (PdPlugin *self);

/* @for_job: the caller is the job working on this plugin (Pull with "enable", Upgrade with
 * "restart"), which must not count as another operation in progress */
static gboolean
check_can_enable (PdPlugin *self, gboolean for_job, GError **error)
{
  PdPluginState state = pd_runner_get_state (self->runner);

  if (for_job ? self->removed || self->busy || self->forcing > 0
              : !check_can_change (self, error))
    {
      if (for_job)
        g_set_error (error, PD_ERROR, self->removed ? PD_ERROR_NO_SUCH_PLUGIN : PD_ERROR_BUSY,
                     "plugin %s was removed or is busy", pd_plugin_record_get_name (self->record));
      return FALSE;
    }
  if (state == PD_PLUGIN_STATE_STOPPING)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY, "plugin %s is stopping",
                   pd_plugin_record_get_name (self->record));
      return FALSE;
    }
  if (pd_plugin_is_active (self))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED, "plugin %s is already enabled",
                   pd_plugin_record_get_name (self->record));
      return FALSE;
    }
  return TRUE;
}

static void force_step_later (GTask *task);

/* the enable in progress is over, whatever came of it */
static void
start_ended (PdPlugin *self)
{
  GList *waiters = g_steal_pointer (&self->start_waiters);

  self->busy = FALSE;
  g_clear_object (&self->start_cancellable);
  if (self->start_link != NULL)
    {
      g_cancellable_disconnect (self->start_link, self->start_link_id);
      self->start_link_id = 0;
      g_clear_object (&self->start_link);
    }
  for (GList *l = waiters; l != NULL; l = l->next)
    force_step_later (l->data);
  g_list_free (waiters);
}

/* the job an enable is for was cancelled (its Cancel, a forced Disable, the shutdown: always
 * on the main thread) */
static void
start_link_cancelled_cb (GCancellable *job_cancellable, gpointer user_data)
{
  PdPlugin *self = user_data;

  if (self->start_cancellable != NULL)
    g_cancellable_cancel (self->start_cancellable);
}

static void
enable_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PdPlugin *self = g_task_get_source_object (task);
  GError *error = NULL;

  start_ended (self);
  if (!pd_runner_enable_finish (PD_RUNNER (source), result, &error))
    {
      /* a job's own cancellation stays what it is: the job reports it */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
          (self->stop_tasks != NULL || self->forcing > 0))
        {
          g_clear_error (&error);
          if (self->stop_tasks != NULL)
            g_set_error (&error, PD_ERROR, PD_ERROR_BUSY, "plugind is stopping");
          else
            g_set_error (&error, PD_ERROR, PD_ERROR_BUSY,
                         "plugin %s was disabled or removed (force) while it was starting",
                         pd_plugin_record_get_name (self->record));
        }
      g_task_return_error (task, error);
      complete_pending_stops (self);
      return;
    }
  if (self->stop_tasks != NULL)
    {
      /* the daemon is stopping: Enabled stays as it was */
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_BUSY, "plugind is stopping");
      complete_pending_stops (self);
      return;
    }
  if (!save_enabled (self, TRUE, &error))
    {
      /* what runs must be what is on disk: a plugin whose Enabled cannot be saved is stopped */
      g_prefix_error (&error, "saving the state of %s: ", pd_plugin_record_get_name (self->record));
      pd_runner_disable_async (self->runner, 0, NULL, NULL, NULL);
      g_task_return_error (task, error);
      return;
    }
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
  pd_daemon_emit_plugin_event (self->daemon, "enable", self, NULL);
  g_task_return_boolean (task, TRUE);
}

/* @job_cancellable: the job's, for an enable a job asked for (it ends the start) */
static void
start_enable (PdPlugin *self, gboolean for_job, guint activation_timeout, guint request_timeout,
              GCancellable *job_cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  GError *error = NULL;

  if (!check_can_enable (self, for_job, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  self->busy = TRUE;
  g_set_object (&self->start_cancellable, g_cancellable_new ());
  if (job_cancellable != NULL)
    {
      /* before the start: a job already cancelled cancels it at once */
      self->start_link = g_object_ref (job_cancellable);
      self->start_link_id = g_cancellable_connect (job_cancellable,
                                                   G_CALLBACK (start_link_cancelled_cb), self,
                                                   NULL);
    }
  pd_runner_enable_async (self->runner, activation_timeout, request_timeout,
                          self->start_cancellable, enable_done_cb, g_steal_pointer (&task));
}

void
pd_plugin_job_enable_async (PdPlugin *self, guint activation_timeout, guint request_timeout,
                            GCancellable *job_cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  start_enable (self, TRUE, activation_timeout, request_timeout, job_cancellable, callback,
                user_data);
}

gboolean
pd_plugin_job_enable_finish (PdPlugin *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
enable_replied_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    pd_return_gerror (g_object_ref (data->invocation), error);
  else
    pd_dbus_plugin_complete_enable (PD_DBUS_PLUGIN (data->plugin),
                                    g_object_ref (data->invocation));
}

static void
enable_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  g_autoptr(GError) error = NULL;
  guint activation_timeout = 0, request_timeout = 0;
  PdPlugin *plugin;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  g_variant_lookup (data->options, "activation-timeout", "u", &activation_timeout);
  g_variant_lookup (data->options, "timeout", "u", &request_timeout);
  plugin = data->plugin;
  start_enable (plugin, FALSE, activation_timeout, request_timeout, NULL, enable_replied_cb,
                g_steal_pointer (&data));
}

static gboolean
handle_enable (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = {
    "interactive", "b", "activation-timeout", "u", "timeout", "u", NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) details = NULL;

  if (!pd_options_check (arg_options, allowed, &error) ||
      !pd_options_check_timeout (arg_options, "activation-timeout", &error) ||
      !check_can_enable (self, FALSE, &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  details = new_details (self);
  g_hash_table_insert (details, "operation", g_strdup ("enable"));
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, PD_ACTION_ENABLE, details,
                       arg_options, enable_authorized_cb,
                       state_change_data_new (self, invocation, arg_options));
  return TRUE;
}

static gboolean
check_can_disable (PdPlugin *self, gboolean force, GError **error)
{
  const char *name = pd_plugin_record_get_name (self->record);
  PdPluginState state = pd_runner_get_state (self->runner);

  /* force ends what holds the plugin (a start, a job) first (force_then) */
  if (force && !self->removed && is_held (self))
    return TRUE;
  if (!check_can_change (self, error))
    return FALSE;
  if (state == PD_PLUGIN_STATE_DISABLED && !pd_plugin_record_get_enabled (self->record))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_DISABLED,
                   "plugin is already disabled: plugin %s found but disabled", name);
      return FALSE;
    }
  if (state == PD_PLUGIN_STATE_STOPPING || state == PD_PLUGIN_STATE_STARTING)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY, "plugin %s is %s", name,
                   pd_plugin_state_to_string (state));
      return FALSE;
    }
  if (self->holds->len > 0 && !force)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_IN_USE, "plugin %s is in use", name);
      return FALSE;
    }
  return TRUE;
}

static void
disable_complete (StateChangeData *data)
{
  PdPlugin *self = data->plugin;
  g_autoptr(GError) error = NULL;

  if (!save_enabled (self, FALSE, &error))
    {
      g_prefix_error (&error, "saving the state of %s: ", pd_plugin_record_get_name (self->record));
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
  pd_daemon_emit_plugin_event (self->daemon, "disable", self, NULL);
  pd_dbus_plugin_complete_disable (PD_DBUS_PLUGIN (self), g_object_ref (data->invocation));
}

static void
disable_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  g_autoptr(GError) error = NULL;

  data->plugin->busy = FALSE;
  if (!pd_runner_disable_finish (PD_RUNNER (source), result, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  disable_complete (data);
}

/* takes @data */
static void
disable_now (StateChangeData *data)
{
  PdPlugin *self = data->plugin;
  guint stop_timeout = 0;

  /* Enabled but not running (its start at daemon start-up failed, or a forced Disable ended
   * it): only the flag changes */
  if (pd_runner_get_state (self->runner) == PD_PLUGIN_STATE_DISABLED)
    {
      disable_complete (data);
      state_change_data_free (data);
      return;
    }
  g_variant_lookup (data->options, "stop-timeout", "u", &stop_timeout);
  self->busy = TRUE;
  pd_runner_disable_async (self->runner, stop_timeout, NULL, disable_done_cb, data);
}

static void
disable_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  PdPlugin *self = data->plugin;
  g_autoptr(GError) error = NULL;
  gboolean force = pd_options_get_boolean (data->options, "force", FALSE);

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error) ||
      !check_can_disable (self, force, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  if (force && is_held (self))
    {
      force_then (g_steal_pointer (&data), disable_now);
      return;
    }
  disable_now (g_steal_pointer (&data));
}

static gboolean
handle_disable (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = {
    "interactive", "b", "force", "b", "stop-timeout", "u", NULL
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) details = NULL;

  if (!pd_options_check (arg_options, allowed, &error) ||
      !pd_options_check_timeout (arg_options, "stop-timeout", &error) ||
      !check_can_disable (self, pd_options_get_boolean (arg_options, "force", FALSE), &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  details = new_details (self);
  g_hash_table_insert (details, "operation", g_strdup ("disable"));
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, PD_ACTION_DISABLE, details,
                       arg_options, disable_authorized_cb,
                       state_change_data_new (self, invocation, arg_options));
  return TRUE;
}

/* OpenLog, Hold: replies that carry an fd */

static void
return_fd (GDBusMethodInvocation *invocation, int fd)
{
  g_autoptr(GUnixFDList) fd_list = g_unix_fd_list_new_from_array (&fd, 1);

  g_dbus_method_invocation_return_value_with_unix_fd_list (invocation,
                                                           g_variant_new ("(h)", 0), fd_list);
}

static void
open_log_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  PdPlugin *self = data->plugin;
  g_autoptr(GError) error = NULL;
  guint lines = 100;
  int fd;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  g_variant_lookup (data->options, "lines", "u", &lines);
  fd = pd_runner_open_log (self->runner, lines,
                           pd_options_get_boolean (data->options, "follow", FALSE), &error);
  if (fd < 0)
    pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
  else
    return_fd (g_object_ref (data->invocation), fd);
}

static gboolean
handle_open_log (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = {
    "interactive", "b", "lines", "u", "follow", "b", NULL
  };
  g_autoptr(GError) error = NULL;

  if (!pd_options_check (arg_options, allowed, &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  authorize_call (self, invocation, PD_ACTION_READ_LOGS, "read-logs", arg_options,
                  open_log_authorized_cb);
  return TRUE;
}

typedef struct {
  StateChangeData base;
  char *who;
  char *why;
} HoldData;

static void
hold_data_free (HoldData *data)
{
  g_object_unref (data->base.plugin);
  g_object_unref (data->base.invocation);
  g_variant_unref (data->base.options);
  g_free (data->who);
  g_free (data->why);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HoldData, hold_data_free)

static gboolean
hold_released_cb (int fd, GIOCondition condition, gpointer user_data)
{
  Hold *hold = user_data;
  PdPlugin *self = hold->plugin;

  g_debug ("hold of %s by %s released", pd_plugin_record_get_name (self->record), hold->who);
  hold->watch_id = 0;
  g_ptr_array_remove (self->holds, hold);
  sync_holders (self);
  return G_SOURCE_REMOVE;
}

static gboolean
check_can_hold (PdPlugin *self, GError **error)
{
  if (self->removed)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin \"%s\" not found",
                   pd_plugin_record_get_name (self->record));
      return FALSE;
    }
  if (pd_runner_get_state (self->runner) != PD_PLUGIN_STATE_RUNNING)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_DISABLED, "plugin %s is not running",
                   pd_plugin_record_get_name (self->record));
      return FALSE;
    }
  /* the Holders property lists every hold, and goes out whole on every change */
  if (self->holds->len >= PD_PLUGIN_MAX_HOLDS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "plugin %s already has %u holders, the most it takes",
                   pd_plugin_record_get_name (self->record), (guint) PD_PLUGIN_MAX_HOLDS);
      return FALSE;
    }
  return TRUE;
}

static void
hold_got_caller_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(HoldData) data = user_data;
  PdPlugin *self = data->base.plugin;
  g_autoptr(GError) error = NULL;
  Hold *hold;
  guint32 uid = 0, pid = 0;
  int fds[2];

  if (!pd_auth_get_caller_credentials_finish (PD_AUTH (source), result, &uid, &pid, &error) ||
      !check_can_hold (self, &error))
    {
      pd_return_gerror (g_object_ref (data->base.invocation), g_steal_pointer (&error));
      return;
    }
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error))
    {
      pd_return_gerror (g_object_ref (data->base.invocation), g_steal_pointer (&error));
      return;
    }
  hold = g_new0 (Hold, 1);
  hold->plugin = self;
  hold->who = g_steal_pointer (&data->who);
  hold->why = g_steal_pointer (&data->why);
  hold->uid = uid;
  hold->pid = pid;
  hold->write_fd = fds[1];
  /* the write end of a pipe reports an error once every read end is closed */
  hold->watch_id = g_unix_fd_add (hold->write_fd, G_IO_ERR | G_IO_HUP, hold_released_cb, hold);
  g_ptr_array_add (self->holds, hold);
  sync_holders (self);
  return_fd (g_object_ref (data->base.invocation), fds[0]);
}

static void
hold_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HoldData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (g_object_ref (data->base.invocation), g_steal_pointer (&error));
      hold_data_free (data);
      return;
    }
  pd_auth_get_caller_uid_async (PD_AUTH (source), data->base.invocation, hold_got_caller_cb,
                                data);
}

/* holders are shown to people: short, valid UTF-8, no control characters */
static char *
sanitize_label (const char *text)
{
  g_autofree char *escaped = pd_escape_untrusted (text, -1);

  if (g_utf8_strlen (escaped, -1) > 256)
    {
      g_autofree char *cut = g_utf8_substring (escaped, 0, 256);
      return g_strconcat (cut, "…", NULL);
    }
  return g_steal_pointer (&escaped);
}

static gboolean
handle_hold (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, const char *arg_who,
             const char *arg_why)
{
  PdPlugin *self = PD_PLUGIN (iface);
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) details = NULL;
  HoldData *data;

  if (!check_can_hold (self, &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  details = new_details (self);
  g_hash_table_insert (details, "operation", g_strdup ("hold"));
  data = g_new0 (HoldData, 1);
  data->base.plugin = g_object_ref (self);
  data->base.invocation = invocation;
  data->base.options = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  data->who = sanitize_label (arg_who);
  data->why = sanitize_label (arg_why);
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, PD_ACTION_ENABLE, details,
                       NULL, hold_authorized_cb, data);
  return TRUE;
}

/* daemon start and stop */

static void
restore_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdPlugin) self = user_data;
  g_autoptr(GError) error = NULL;

  start_ended (self);
  if (!pd_runner_enable_finish (PD_RUNNER (source), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("cannot start plugin %s: %s", pd_plugin_record_get_name (self->record),
                   error->message);
    }
  else if (self->stop_tasks == NULL)
    pd_daemon_emit_plugin_event (self->daemon, "enable", self, NULL);
  complete_pending_stops (self);
}

void
pd_plugin_restore (PdPlugin *self)
{
  if (!pd_plugin_record_get_enabled (self->record) || self->busy)
    return;
  self->busy = TRUE;
  g_set_object (&self->start_cancellable, g_cancellable_new ());
  pd_runner_enable_async (self->runner, 0, 0, self->start_cancellable, restore_done_cb,
                          g_object_ref (self));
}

static void
stop_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!pd_runner_disable_finish (PD_RUNNER (source), result, &error) &&
      !g_error_matches (error, PD_ERROR, PD_ERROR_PLUGIN_DISABLED))
    g_warning ("stopping plugin %s: %s",
               pd_plugin_record_get_name (PD_PLUGIN (g_task_get_source_object (task))->record),
               error->message);
  g_task_return_boolean (task, TRUE);
}

static void
pending_stop_disabled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdPlugin) self = user_data;

  pd_runner_disable_finish (PD_RUNNER (source), result, NULL);
  complete_pending_stops (self);
}

/* the enable the shutdown cancelled has ended: stop what may still run, then let it go on */
static void
complete_pending_stops (PdPlugin *self)
{
  PdPluginState state = pd_runner_get_state (self->runner);
  GList *tasks;

  if (self->stop_tasks == NULL)
    return;
  if (state != PD_PLUGIN_STATE_DISABLED && state != PD_PLUGIN_STATE_FAILED &&
      state != PD_PLUGIN_STATE_STOPPING)
    {
      pd_runner_disable_async (self->runner, 0, NULL, pending_stop_disabled_cb,
                               g_object_ref (self));
      return;
    }
  tasks = g_steal_pointer (&self->stop_tasks);
  for (GList *l = tasks; l != NULL; l = l->next)
    {
      g_task_return_boolean (l->data, TRUE);
      g_object_unref (l->data);
    }
  g_list_free (tasks);
}

void
pd_plugin_stop_async (PdPlugin *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  PdPluginState state = pd_runner_get_state (self->runner);

  /* a plugin still starting: end the start, then stop whatever came of it */
  if (self->start_cancellable != NULL)
    {
      self->stop_tasks = g_list_prepend (self->stop_tasks, g_steal_pointer (&task));
      g_cancellable_cancel (self->start_cancellable);
      return;
    }

  if (state == PD_PLUGIN_STATE_DISABLED || state == PD_PLUGIN_STATE_FAILED)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  /* Enabled stays as it is: the plugin starts again with the daemon */
  pd_runner_disable_async (self->runner, 0, NULL, stop_done_cb, g_steal_pointer (&task));
}

/* Upgrade, Push */

typedef struct {
  PdPlugin *plugin;
  GDBusMethodInvocation *invocation;
  PdPullJobRequest *request;    /* Upgrade */
  PdReference *target;          /* Push */
  char *registry_auth;          /* Push */
  char *authorized_privileges;  /* Upgrade: the Privileges when polkit was asked */
} RemoteCallData;

static void
remote_call_data_free (RemoteCallData *data)
{
  g_object_unref (data->plugin);
  g_object_unref (data->invocation);
  g_clear_pointer (&data->request, pd_pull_job_request_free);
  g_clear_pointer (&data->target, pd_reference_free);
  if (data->registry_auth != NULL)
    memset (data->registry_auth, 0, strlen (data->registry_auth));
  g_free (data->registry_auth);
  g_free (data->authorized_privileges);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (RemoteCallData, remote_call_data_free)

static RemoteCallData *
remote_call_data_new (PdPlugin *self, GDBusMethodInvocation *invocation)
{
  RemoteCallData *data = g_new0 (RemoteCallData, 1);

  data->plugin = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  return data;
}

static GHashTable *
new_remote_details (PdPlugin *self, const PdReference *remote, const char *operation)
{
  GHashTable *details = new_details (self);

  g_hash_table_insert (details, "remote", pd_reference_familiar (remote));
  g_hash_table_insert (details, "registry", g_strdup (remote->domain));
  g_hash_table_insert (details, "operation", g_strdup (operation));
  return details;
}

static gboolean
check_can_upgrade (PdPlugin *self, gboolean restart, GError **error)
{
  if (!check_can_change (self, error))
    return FALSE;
  if (!restart && pd_plugin_is_active (self))
    {
      /* Docker's words (cli/command/plugin/upgrade.go) */
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED,
                   "the plugin must be disabled before upgrading");
      return FALSE;
    }
  return TRUE;
}

static void
start_remote_job (RemoteCallData *data, guint32 uid)
{
  PdPlugin *self = data->plugin;
  const char *operation = data->request != NULL ? "upgrade" : "push";
  PdReference *remote = data->request != NULL ? data->request->remote : data->target;
  g_autofree char *remote_text = pd_reference_to_string (remote);
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  PdOperation *job;

  job = pd_daemon_new_job (self->daemon, operation, remote_text,
                           pd_plugin_record_get_name (self->record), uid, &error);
  if (job == NULL)
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  path = pd_job_dup_object_path_for (pd_operation_get_id (job));
  if (data->request != NULL)
    {
      pd_dbus_plugin_complete_upgrade (PD_DBUS_PLUGIN (self), g_object_ref (data->invocation),
                                       path);
      data->request->plugin = g_object_ref (self);
      pd_pull_job_start (self->daemon, job, g_steal_pointer (&data->request));
    }
  else
    {
      pd_dbus_plugin_complete_push (PD_DBUS_PLUGIN (self), g_object_ref (data->invocation), path);
      pd_push_job_start (self->daemon, job, self, g_steal_pointer (&data->target),
                         g_steal_pointer (&data->registry_auth));
    }
}

static void
remote_call_got_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(RemoteCallData) data = user_data;
  PdPlugin *self = data->plugin;
  g_autoptr(GError) error = NULL;
  guint32 uid = 0;

  if (!pd_auth_get_caller_uid_finish (PD_AUTH (source), result, &uid, &error) ||
      !check_can_change (self, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  if (data->request != NULL)
    {
      g_autoptr(GPtrArray) privileges = pd_plugin_record_dup_privileges (self->record);
      g_autofree char *current = pd_privileges_to_string (privileges);

      /* re-validated: still allowed to run, and still the privileges polkit was told about */
      if (!check_can_upgrade (self, data->request->enable, &error))
        {
          pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
          return;
        }
      if (g_strcmp0 (current, data->authorized_privileges) != 0)
        {
          pd_return_gerror (g_object_ref (data->invocation),
                            g_error_new (PD_ERROR, PD_ERROR_BUSY,
                                         "the settings of plugin %s changed during authorization",
                                         pd_plugin_record_get_name (self->record)));
          return;
        }
    }
  start_remote_job (data, uid);
}

static void
remote_call_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(RemoteCallData) data = user_data;
  g_autoptr(GError) error = NULL;
  GDBusMethodInvocation *invocation = data->invocation;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  pd_auth_get_caller_uid_async (PD_AUTH (source), invocation, remote_call_got_uid_cb,
                                g_steal_pointer (&data));
}

static gboolean
handle_upgrade (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, const char *arg_remote,
                GVariant *arg_privileges, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = {
    "interactive", "b", "registry-auth", "s", "platform", "s", "expected-digest", "s",
    "grant-all-privileges", "b", "settings", "a{ss}", "restart", "b", NULL
  };
  g_autoptr(RemoteCallData) data = remote_call_data_new (self, invocation);
  g_autoptr(GHashTable) details = NULL;
  g_autoptr(GPtrArray) current = NULL;
  g_autoptr(GError) error = NULL;
  const char *remote = *arg_remote != '\0' ? arg_remote
                                           : pd_plugin_record_get_remote (self->record);
  PdPullJobRequest *request;
  gboolean privileged;
  gboolean with_settings;
  const char *action;

  data->request = request = pd_pull_job_request_new ();
  if (!pd_options_check (arg_options, allowed, &error) ||
      !pd_pull_job_request_parse_options (request, arg_options, &error))
    goto fail;
  if (remote == NULL)
    {
      g_set_error (&error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "plugin %s was not pulled from a registry: give the remote to upgrade from",
                   pd_plugin_record_get_name (self->record));
      goto fail;
    }
  if (!pd_pull_job_request_set_remote (request, remote, &error) ||
      !check_can_upgrade (self, request->enable, &error))
    goto fail;
  request->accepted = pd_privileges_new_from_variant (arg_privileges);

  /* the same privileges as now: an ordinary upgrade; anything else is consent to more */
  current = pd_plugin_record_dup_privileges (self->record);
  data->authorized_privileges = pd_privileges_to_string (current);
  privileged = request->grant_all || !pd_privileges_equal (current, request->accepted);
  with_settings = request->settings != NULL && g_hash_table_size (request->settings) > 0;
  details = new_remote_details (self, request->remote, "upgrade");
  if (privileged)
    g_hash_table_insert (details, "privileges", request->grant_all
                                                  ? g_strdup ("all the plugin requests")
                                                  : pd_privileges_to_string (request->accepted));
  if (with_settings)
    g_hash_table_insert (details, "settings", dup_setting_keys (request->settings));
  /* one check, so one prompt at most: install-privileged implies set; new settings alone
   * need upgrade-with-settings, which implies upgrade and set, so that a rule granting
   * upgrade but not set lets no env value or arg through */
  if (privileged)
    action = PD_ACTION_INSTALL_PRIVILEGED;
  else if (with_settings)
    action = PD_ACTION_UPGRADE_WITH_SETTINGS;
  else
    action = PD_ACTION_UPGRADE;
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, action, details,
                       arg_options, remote_call_authorized_cb, g_steal_pointer (&data));
  return TRUE;

fail:
  pd_return_gerror (invocation, g_steal_pointer (&error));
  return TRUE;
}

static gboolean
handle_push (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = {
    "interactive", "b", "registry-auth", "s", "remote", "s", NULL
  };
  g_autoptr(RemoteCallData) data = remote_call_data_new (self, invocation);
  g_autoptr(GHashTable) details = NULL;
  g_autoptr(GError) error = NULL;
  const char *remote = NULL;
  const char *registry_auth = NULL;

  if (!pd_options_check (arg_options, allowed, &error) || !check_can_change (self, &error))
    goto fail;
  /* Docker pushes to the plugin's reference, which is its name for a created plugin */
  if (!g_variant_lookup (arg_options, "remote", "&s", &remote) || *remote == '\0')
    remote = pd_plugin_record_get_reference (self->record);
  data->target = pd_reference_parse (remote, &error);
  if (data->target == NULL)
    goto fail;
  if (data->target->digest != NULL)
    {
      g_set_error (&error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "cannot push to a digest: give a tag");
      goto fail;
    }
  if (data->target->tag == NULL)
    data->target->tag = g_strdup ("latest");
  if (g_variant_lookup (arg_options, "registry-auth", "&s", &registry_auth) &&
      *registry_auth != '\0')
    data->registry_auth = g_strdup (registry_auth);

  details = new_remote_details (self, data->target, "push");
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, PD_ACTION_PUSH, details,
                       arg_options, remote_call_authorized_cb, g_steal_pointer (&data));
  return TRUE;

fail:
  pd_return_gerror (invocation, g_steal_pointer (&error));
  return TRUE;
}

/* Inspect, GetSettingValues: env values and args, where passwords go */

static void
inspect_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  PdPlugin *self = data->plugin;
  g_autofree char *json = NULL;
  gboolean show_values;

  /* a denial, or polkit unavailable, only hides the values */
  show_values = pd_auth_check_finish (PD_AUTH (source), result, NULL);
  json = pd_plugin_record_to_docker_json (self->record, show_values);
  pd_dbus_plugin_complete_inspect (PD_DBUS_PLUGIN (self), g_object_ref (data->invocation), json);
}

static gboolean
handle_inspect (PdDbusPlugin *iface, GDBusMethodInvocation *invocation)
{
  PdPlugin *self = PD_PLUGIN (iface);
  g_autoptr(GVariant) options = g_variant_ref_sink (
    g_variant_new_parsed ("{'interactive': <false>}"));

  /* values for root (no polkit call) and for callers read-settings allows as they are; never
   * a password prompt, whatever the message's flag: a read must not start asking */
  authorize_call (self, invocation, PD_ACTION_READ_SETTINGS, "inspect", options,
                  inspect_authorized_cb);
  return TRUE;
}

static void
get_setting_values_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(StateChangeData) data = user_data;
  PdPlugin *self = data->plugin;
  const PdPluginSettings *settings = pd_plugin_record_get_settings (self->record);
  g_autoptr(GError) error = NULL;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  pd_dbus_plugin_complete_get_setting_values (PD_DBUS_PLUGIN (self),
                                              g_object_ref (data->invocation),
                                              (const char *const *) settings->env,
                                              (const char *const *) settings->args);
}

static gboolean
handle_get_setting_values (PdDbusPlugin *iface, GDBusMethodInvocation *invocation,
                           GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = { "interactive", "b", NULL };
  g_autoptr(GError) error = NULL;

  if (!pd_options_check (arg_options, allowed, &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  authorize_call (self, invocation, PD_ACTION_READ_SETTINGS, "read-settings", arg_options,
                  get_setting_values_authorized_cb);
  return TRUE;
}

static void
pd_plugin_iface_init (PdDbusPluginIface *iface)
{
  iface->handle_enable = handle_enable;
  iface->handle_disable = handle_disable;
  iface->handle_open_log = handle_open_log;
  iface->handle_hold = handle_hold;
  iface->handle_set = handle_set;
  iface->handle_remove = handle_remove;
  iface->handle_inspect = handle_inspect;
  iface->handle_get_setting_values = handle_get_setting_values;
  iface->handle_upgrade = handle_upgrade;
  iface->handle_push = handle_push;
}
