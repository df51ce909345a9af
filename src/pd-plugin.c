/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-plugin"

#include "pd-error.h"
#include "pd-names.h"
#include "pd-options.h"
#include "pd-plugin.h"

struct _PdPlugin {
  PdDbusPluginSkeleton parent_instance;

  PdDaemon *daemon;          /* not owned: the daemon outlives its plugins */
  PdPluginRecord *record;
  char *object_path;
  gboolean removed;
  gboolean busy;             /* a state change is between authorization and completion */
};

static void pd_plugin_iface_init (PdDbusPluginIface *iface);

G_DEFINE_TYPE_WITH_CODE (PdPlugin, pd_plugin, PD_DBUS_TYPE_PLUGIN_SKELETON,
                         G_IMPLEMENT_INTERFACE (PD_DBUS_TYPE_PLUGIN, pd_plugin_iface_init))

static void
pd_plugin_finalize (GObject *object)
{
  PdPlugin *self = PD_PLUGIN (object);

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
  pd_dbus_plugin_set_env (iface, (const char *const *) settings->env);
  pd_dbus_plugin_set_args (iface, (const char *const *) settings->args);
  pd_dbus_plugin_set_update_timestamp (iface, pd_plugin_record_get_updated (self->record));
}

static void
sync_all (PdPlugin *self)
{
  PdDbusPlugin *iface = PD_DBUS_PLUGIN (self);
  PdPluginRecord *record = self->record;
  const PdPluginConfig *config = pd_plugin_record_get_config (record);
  const char *const empty[] = { NULL };

  pd_dbus_plugin_set_id (iface, pd_plugin_record_get_id (record));
  pd_dbus_plugin_set_name (iface, pd_plugin_record_get_name (record));
  pd_dbus_plugin_set_creation_timestamp (iface, pd_plugin_record_get_created (record));
  pd_dbus_plugin_set_reference (iface, pd_plugin_record_get_reference (record));
  pd_dbus_plugin_set_manifest_digest (iface, pd_plugin_record_get_manifest_digest (record));
  pd_dbus_plugin_set_config_digest (iface, pd_plugin_record_get_config_digest (record));
  pd_dbus_plugin_set_description (iface, config->description != NULL ? config->description : "");
  pd_dbus_plugin_set_documentation (iface,
                                    config->documentation != NULL ? config->documentation : "");
  pd_dbus_plugin_set_interface_types (iface, config->interface_types != NULL
                                               ? (const char *const *) config->interface_types
                                               : empty);
  pd_dbus_plugin_set_protocol_scheme (iface, config->protocol_scheme != NULL
                                               ? config->protocol_scheme : "");
  pd_dbus_plugin_set_enabled (iface, pd_plugin_record_get_enabled (record));
  /* plugins do not run yet: every plugin is disabled */
  pd_dbus_plugin_set_state (iface, "disabled");
  pd_dbus_plugin_set_state_timestamp (iface, pd_plugin_record_get_created (record));
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
pd_plugin_mark_removed (PdPlugin *self)
{
  self->removed = TRUE;
}

gboolean
pd_plugin_is_removed (PdPlugin *self)
{
  return self->removed;
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
  if (self->busy ||
      pd_daemon_has_running_job_for (self->daemon, pd_plugin_record_get_name (record)))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY,
                   "another operation on plugin %s is in progress",
                   pd_plugin_record_get_name (record));
      return FALSE;
    }
  return TRUE;
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

  self->busy = FALSE;
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
  if (!pd_store_save_record (pd_daemon_get_store (self->daemon), self->record, &error))
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
  g_autoptr(GHashTable) changes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GHashTable) details = NULL;
  g_autoptr(GPtrArray) keys = g_ptr_array_new ();
  g_autofree char *privileges_text = NULL;
  gboolean privileges_changed = FALSE;
  GVariantIter iter;
  const char *key, *value;
  SetData *data;

  if (!pd_options_check (arg_options, allowed, &error) || !check_can_change (self, &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  if (pd_plugin_record_get_enabled (self->record))
    {
      pd_return_gerror (invocation, g_error_new (PD_ERROR, PD_ERROR_PLUGIN_ENABLED,
                                             "cannot set on an active plugin, disable plugin "
                                             "before setting"));
      return TRUE;
    }

  g_variant_iter_init (&iter, arg_settings);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
    g_hash_table_replace (changes, g_strdup (key), g_strdup (value));
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
  /* keys only: values may be secrets */
  {
    g_autofree char *joined = NULL;
    GHashTableIter hiter;
    gpointer hkey;

    g_hash_table_iter_init (&hiter, changes);
    while (g_hash_table_iter_next (&hiter, &hkey, NULL))
      g_ptr_array_add (keys, hkey);
    g_ptr_array_sort (keys, compare_string_pointers);
    g_ptr_array_add (keys, NULL);
    joined = g_strjoinv (",", (char **) keys->pdata);
    g_hash_table_insert (details, "settings", g_steal_pointer (&joined));
  }
  if (privileges_changed)
    g_hash_table_insert (details, "privileges", g_strdup (privileges_text));

  data = g_new0 (SetData, 1);
  data->plugin = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->changes = g_steal_pointer (&changes);
  data->authorized_privileges = privileges_changed ? g_steal_pointer (&privileges_text) : NULL;
  self->busy = TRUE;
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation,
                       privileges_changed ? PD_ACTION_SET_PRIVILEGED : PD_ACTION_SET, details,
                       arg_options, set_authorized_cb, data);
  return TRUE;
}

/* Remove */

typedef struct {
  PdPlugin *plugin;
  GDBusMethodInvocation *invocation;
} RemoveData;

static void
remove_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RemoveData *data = user_data;
  PdPlugin *self = data->plugin;
  g_autoptr(GError) error = NULL;

  self->busy = FALSE;
  if (!pd_auth_check_finish (PD_AUTH (source), result, &error) ||
      !check_can_change (self, &error) ||
      !pd_daemon_remove_plugin (self->daemon, self, &error))
    pd_return_gerror (data->invocation, g_steal_pointer (&error));
  else
    pd_dbus_plugin_complete_remove (PD_DBUS_PLUGIN (self), data->invocation);

  g_object_unref (data->invocation);
  g_object_unref (data->plugin);
  g_free (data);
}

static gboolean
handle_remove (PdDbusPlugin *iface, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  PdPlugin *self = PD_PLUGIN (iface);
  static const char *const allowed[] = { "interactive", "b", "force", "b", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) details = NULL;
  RemoveData *data;

  if (!pd_options_check (arg_options, allowed, &error) || !check_can_change (self, &error))
    {
      pd_return_gerror (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  /* plugins cannot run yet, so "force" has nothing to stop; it is accepted for Docker's
   * `rm -f` and will disable a running plugin first */
  details = new_details (self);
  g_hash_table_insert (details, "operation", g_strdup ("remove"));
  data = g_new0 (RemoveData, 1);
  data->plugin = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  self->busy = TRUE;
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, PD_ACTION_REMOVE, details,
                       arg_options, remove_authorized_cb, data);
  return TRUE;
}

static gboolean
handle_inspect (PdDbusPlugin *iface, GDBusMethodInvocation *invocation)
{
  PdPlugin *self = PD_PLUGIN (iface);
  g_autofree char *json = pd_plugin_record_to_docker_json (self->record);

  pd_dbus_plugin_complete_inspect (iface, invocation, json);
  return TRUE;
}

static void
pd_plugin_iface_init (PdDbusPluginIface *iface)
{
  iface->handle_set = handle_set;
  iface->handle_remove = handle_remove;
  iface->handle_inspect = handle_inspect;
}
