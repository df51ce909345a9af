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
  GDBusInterfaceSkeleton parent_instance;

  PdEngine *engine;
  PdAuth *auth;
  PdManagedPlugin *plugin;
  /* The properties that are not the record's, as clients were last told: NULL strings stand
   * for "" ("/" for Job); the container values come from the shared table below. */
  GVariant *settings;
  GVariant *privileges;
  GVariant *env;
  GVariant *holders;
  GVariant *implements;
  char *socket;
  char *last_error_name;
  char *last_error_message;
  char *job;
  guint64 state_timestamp;
  guint64 update_timestamp;
  guint32 main_pid;
  guint32 restart_count;
  PdPluginState state;
  gboolean enabled;
  /* PropertiesChanged to come: Change, newest first, and the idle that sends them */
  GSList *changes;
  GSource *changes_source;
};

G_DEFINE_TYPE (PdPlugin, pd_plugin, G_TYPE_DBUS_INTERFACE_SKELETON)

/* section: property values shared between plugins
 *
 * A GVariant from a builder is a tree: one instance (and one buffer) per element, ~1.5 KiB for
 * the Settings, Privileges and Holders of a plugin. They are kept serialised (one buffer each)
 * and plugins with equal values share one instance: with many plugins most have no holders and
 * the same few privileges, settings, env names and Implements. The table holds each value while
 * a plugin uses it, so it holds at most five values per plugin. Plugin objects live on the
 * main thread only. */

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

/* section: the properties
 *
 * The interface is exported with a vtable of its own rather than gdbus-codegen's skeleton,
 * which kept a GValue for each of the 26 properties and a copy of each string (~1.5 KiB per
 * plugin). The record's properties are read from the record when asked; the others are kept
 * as clients were last told (a few words per plugin). PropertiesChanged follows the skeleton's
 * rules, which clients see: a property that changes is queued once with the value it had
 * before, the queue goes out from an idle at G_PRIORITY_DEFAULT (or at a flush) with the
 * newest change first, leaving out the properties that are back to their old value;
 * properties annotated not to emit it are never queued. Get, GetAll and GetManagedObjects
 * build only the values they return. */

/* in the order of the interface XML (checked in class_init) */
enum {
  PROP_ID,
  PROP_NAME,
  PROP_CREATION_TIMESTAMP,
  PROP_REFERENCE,
  PROP_MANIFEST_DIGEST,
  PROP_CONFIG_DIGEST,
  PROP_DESCRIPTION,
  PROP_DOCUMENTATION,
  PROP_INTERFACE_TYPES,
  PROP_PROTOCOL_SCHEME,
  PROP_IMPLEMENTS,
  PROP_SOCKET,
  PROP_HOLDERS,
  PROP_MAIN_PID,
  PROP_RESTART_COUNT,
  PROP_LAST_ERROR_NAME,
  PROP_LAST_ERROR_MESSAGE,
  PROP_ENABLED,
  PROP_STATE,
  PROP_STATE_TIMESTAMP,
  PROP_PRIVILEGES,
  PROP_SETTINGS,
  PROP_ENV,
  PROP_UPDATE_TIMESTAMP,
  PROP_JOB,
  PROP_DISK_USAGE,
  N_PROPS
};

static const char *const property_names[N_PROPS] = {
  "Id", "Name", "CreationTimestamp", "Reference", "ManifestDigest", "ConfigDigest",
  "Description", "Documentation", "InterfaceTypes", "ProtocolScheme", "Implements", "Socket",
  "Holders", "MainPID", "RestartCount", "LastErrorName", "LastErrorMessage", "Enabled", "State",
  "StateTimestamp", "Privileges", "Settings", "Env", "UpdateTimestamp", "Job", "DiskUsage",
};

/* from the XML's EmitsChangedSignal annotations ("false" and "const" do not emit) */
static gboolean property_emits[N_PROPS];

typedef struct {
  guint prop;
  GVariant *before;  /* the value clients were last told */
} Change;

static void
change_free (gpointer data)
{
  Change *change = data;

  g_variant_unref (change->before);
  g_free (change);
}

static GVariant *
string_variant (const char *text)
{
  return g_variant_new_string (text != NULL ? text : "");
}

static GVariant *
strv_variant (const char *const *strv)
{
  return g_variant_new_strv (strv, strv != NULL ? -1 : 0);
}

/* a property of the record @record (the plugin's, or its image before an upgrade) */
static GVariant *
record_value (PdPluginRecord *record, guint prop)
{
  const PdPluginConfig *config = pd_plugin_record_get_config (record);

  switch (prop)
    {
    case PROP_ID:
      return string_variant (pd_plugin_record_get_id (record));
    case PROP_NAME:
      return string_variant (pd_plugin_record_get_name (record));
    case PROP_CREATION_TIMESTAMP:
      return g_variant_new_uint64 (pd_plugin_record_get_created (record));
    case PROP_REFERENCE:
      return string_variant (pd_plugin_record_get_reference (record));
    case PROP_MANIFEST_DIGEST:
      return string_variant (pd_plugin_record_get_manifest_digest (record));
    case PROP_CONFIG_DIGEST:
      return string_variant (pd_plugin_record_get_config_digest (record));
    case PROP_DESCRIPTION:
      return g_variant_new_take_string (pd_text_truncate (config->description,
                                                          PD_PLUGIN_TEXT_PROPERTY_MAX));
    case PROP_DOCUMENTATION:
      return g_variant_new_take_string (pd_text_truncate (config->documentation,
                                                          PD_PLUGIN_TEXT_PROPERTY_MAX));
    case PROP_INTERFACE_TYPES:
      return strv_variant ((const char *const *) config->interface_types);
    case PROP_PROTOCOL_SCHEME:
      return string_variant (config->protocol_scheme);
    default:
      g_assert_not_reached ();
    }
}

/* the value of property @prop as clients see it now (a new reference, not floating) */
static GVariant *
property_value (PdPlugin *self, guint prop)
{
  GVariant *value;

  switch (prop)
    {
    case PROP_IMPLEMENTS:
      return g_variant_ref (self->implements);
    case PROP_SOCKET:
      value = string_variant (self->socket);
      break;
    case PROP_HOLDERS:
      return g_variant_ref (self->holders);
    case PROP_MAIN_PID:
      value = g_variant_new_uint32 (self->main_pid);
      break;
    case PROP_RESTART_COUNT:
      value = g_variant_new_uint32 (self->restart_count);
      break;
    case PROP_LAST_ERROR_NAME:
      value = string_variant (self->last_error_name);
      break;
    case PROP_LAST_ERROR_MESSAGE:
      value = string_variant (self->last_error_message);
      break;
    case PROP_ENABLED:
      value = g_variant_new_boolean (self->enabled);
      break;
    case PROP_STATE:
      value = g_variant_new_string (pd_plugin_state_to_string (self->state));
      break;
    case PROP_STATE_TIMESTAMP:
      value = g_variant_new_uint64 (self->state_timestamp);
      break;
    case PROP_PRIVILEGES:
      return g_variant_ref (self->privileges);
    case PROP_SETTINGS:
      return g_variant_ref (self->settings);
    case PROP_ENV:
      return g_variant_ref (self->env);
    case PROP_UPDATE_TIMESTAMP:
      value = g_variant_new_uint64 (self->update_timestamp);
      break;
    case PROP_JOB:
      value = g_variant_new_object_path (self->job != NULL ? self->job : "/");
      break;
    case PROP_DISK_USAGE:
      /* does not emit PropertiesChanged: read when asked */
      value = g_variant_new_uint64 (pd_managed_plugin_get_disk_usage (self->plugin));
      break;
    default:
      value = record_value (pd_managed_plugin_get_record (self->plugin), prop);
      break;
    }
  return g_variant_ref_sink (value);
}

static gboolean
emit_changes (gpointer user_data)
{
  PdPlugin *self = user_data;
  GDBusInterfaceSkeleton *skeleton = G_DBUS_INTERFACE_SKELETON (self);
  GSList *changes = g_steal_pointer (&self->changes);
  g_autoptr(GVariant) signal = NULL;
  GVariantBuilder builder;
  GList *connections;
  guint n = 0;

  self->changes_source = NULL;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sv}"));
  for (GSList *l = changes; l != NULL; l = l->next)
    {
      Change *change = l->data;
      g_autoptr(GVariant) now = property_value (self, change->prop);

      if (!g_variant_equal (now, change->before))
        {
          g_variant_builder_add (&builder, "{sv}", property_names[change->prop], now);
          n++;
        }
    }
  g_slist_free_full (changes, change_free);
  if (n == 0)
    {
      g_variant_builder_clear (&builder);
      return G_SOURCE_REMOVE;
    }
  signal = g_variant_ref_sink (g_variant_new ("(sa{sv}as)", PD_DBUS_INTERFACE_PLUGIN, &builder,
                                              NULL));
  connections = g_dbus_interface_skeleton_get_connections (skeleton);
  for (GList *l = connections; l != NULL; l = l->next)
    g_dbus_connection_emit_signal (l->data, NULL,
                                   g_dbus_interface_skeleton_get_object_path (skeleton),
                                   "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                   signal, NULL);
  g_list_free_full (connections, g_object_unref);
  return G_SOURCE_REMOVE;
}

/* property @prop changed from @before (taken, floating or a reference): queued for
 * PropertiesChanged while exported */
static void
queue_change (PdPlugin *self, guint prop, GVariant *before)
{
  g_autoptr(GVariant) owned = g_variant_take_ref (before);
  Change *change;

  if (!property_emits[prop] ||
      g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self)) == NULL)
    return;
  /* the value before the first change since the last emission is the one clients know */
  for (GSList *l = self->changes; l != NULL; l = l->next)
    if (((Change *) l->data)->prop == prop)
      return;
  change = g_new (Change, 1);
  change->prop = prop;
  change->before = g_steal_pointer (&owned);
  self->changes = g_slist_prepend (self->changes, change);
  if (self->changes_source == NULL)
    {
      self->changes_source = g_idle_source_new ();
      g_source_set_priority (self->changes_source, G_PRIORITY_DEFAULT);
      g_source_set_callback (self->changes_source, emit_changes, g_object_ref (self),
                             g_object_unref);
      g_source_set_static_name (self->changes_source, "[pd-plugin] emit_changes");
      g_source_attach (self->changes_source, g_main_context_get_thread_default ());
      g_source_unref (self->changes_source);
    }
}

/* a string property kept in @slot (NULL for @empty) */
static void
sync_string (PdPlugin *self, guint prop, char **slot, const char *value, const char *empty)
{
  const char *before = *slot != NULL ? *slot : empty;

  if (value == NULL)
    value = empty;
  if (strcmp (before, value) == 0)
    return;
  queue_change (self, prop, prop == PROP_JOB ? g_variant_new_object_path (before)
                                             : g_variant_new_string (before));
  g_free (*slot);
  *slot = strcmp (value, empty) != 0 ? g_strdup (value) : NULL;
}

static void
sync_uint32 (PdPlugin *self, guint prop, guint32 *slot, guint32 value)
{
  if (*slot == value)
    return;
  queue_change (self, prop, g_variant_new_uint32 (*slot));
  *slot = value;
}

static void
sync_uint64 (PdPlugin *self, guint prop, guint64 *slot, guint64 value)
{
  if (*slot == value)
    return;
  queue_change (self, prop, g_variant_new_uint64 (*slot));
  *slot = value;
}

/* a container-typed property kept in @slot, set to the shared instance equal to @value
 * (taken) */
static void
sync_shared (PdPlugin *self, guint prop, GVariant **slot, GVariant *value)
{
  GVariant *before = *slot;

  *slot = acquire_shared_value (value);
  /* equal values are one instance */
  if (before != NULL && before != *slot)
    queue_change (self, prop, g_variant_ref (before));
  release_shared_value (&before);
}

static void
sync_enabled (PdPlugin *self)
{
  gboolean enabled = pd_plugin_record_get_enabled (pd_managed_plugin_get_record (self->plugin));

  if (self->enabled == enabled)
    return;
  queue_change (self, PROP_ENABLED, g_variant_new_boolean (self->enabled));
  self->enabled = enabled;
}

/* the settings-dependent parts of the record */
static void
sync_settings (PdPlugin *self)
{
  PdPluginRecord *record = pd_managed_plugin_get_record (self->plugin);
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
  sync_shared (self, PROP_SETTINGS, &self->settings, g_variant_builder_end (&builder));
  sync_shared (self, PROP_PRIVILEGES, &self->privileges, pd_privileges_to_variant (privileges));
  /* every local user reads the properties and their PropertiesChanged: names, never values
   * (GetSettingValues gives those to whom read-settings allows) */
  sync_shared (self, PROP_ENV, &self->env, strv_variant ((const char *const *) env_names));
  sync_uint64 (self, PROP_UPDATE_TIMESTAMP, &self->update_timestamp,
               pd_plugin_record_get_updated (record));
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
  sync_shared (self, PROP_HOLDERS, &self->holders, g_variant_builder_end (&builder));
}

/* the runner's state; a plugin whose runner was not made yet (it never ran) shows a new
 * runner's values without making one */
static void
sync_runtime (PdPlugin *self)
{
  PdRunner *runner = pd_managed_plugin_peek_runner (self->plugin);
  PdPluginState state = runner != NULL ? pd_runner_get_state (runner) : PD_PLUGIN_STATE_DISABLED;

  if (strcmp (pd_plugin_state_to_string (self->state), pd_plugin_state_to_string (state)) != 0)
    queue_change (self, PROP_STATE, g_variant_new_string (pd_plugin_state_to_string (self->state)));
  self->state = state;
  sync_uint64 (self, PROP_STATE_TIMESTAMP, &self->state_timestamp,
               pd_managed_plugin_get_state_timestamp (self->plugin));
  sync_uint32 (self, PROP_MAIN_PID, &self->main_pid,
               runner != NULL ? pd_runner_get_main_pid (runner) : 0);
  sync_string (self, PROP_SOCKET, &self->socket,
               runner != NULL ? pd_runner_get_socket (runner) : NULL, "");
  sync_shared (self, PROP_IMPLEMENTS, &self->implements,
               strv_variant (runner != NULL ? pd_runner_get_implements (runner) : NULL));
  sync_uint32 (self, PROP_RESTART_COUNT, &self->restart_count,
               runner != NULL ? pd_runner_get_restart_count (runner) : 0);
  sync_string (self, PROP_LAST_ERROR_NAME, &self->last_error_name,
               runner != NULL ? pd_runner_get_last_error_name (runner) : NULL, "");
  sync_string (self, PROP_LAST_ERROR_MESSAGE, &self->last_error_message,
               runner != NULL ? pd_runner_get_last_error_message (runner) : NULL, "");
}

/* the job of the operation working on the plugin, or "/" */
static void
sync_job (PdPlugin *self)
{
  PdOperation *operation = pd_managed_plugin_get_operation (self->plugin);
  g_autofree char *path = NULL;

  if (operation != NULL && !pd_operation_is_finished (operation))
    path = pd_job_dup_object_path_for (pd_operation_get_id (operation));
  sync_string (self, PROP_JOB, &self->job, path, "/");
}

/* a new image: the record's properties are compared with the image before (Id, Name and
 * CreationTimestamp do not change and do not emit) */
static void
sync_image (PdPlugin *self)
{
  PdPluginRecord *record = pd_managed_plugin_get_record (self->plugin);
  PdPluginRecord *previous = pd_managed_plugin_get_previous_image (self->plugin);

  if (previous != NULL)
    for (guint prop = PROP_REFERENCE; prop <= PROP_PROTOCOL_SCHEME; prop++)
      {
        g_autoptr(GVariant) before = g_variant_ref_sink (record_value (previous, prop));
        g_autoptr(GVariant) now = g_variant_ref_sink (record_value (record, prop));

        if (!g_variant_equal (before, now))
          queue_change (self, prop, g_steal_pointer (&before));
      }
}

/* everything, in the order the properties were always set (the order of PropertiesChanged) */
static void
sync_all (PdPlugin *self)
{
  sync_image (self);
  sync_enabled (self);
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
    sync_enabled (self);
  if ((what & PD_MANAGED_PLUGIN_CHANGED_RUNTIME) != 0)
    sync_runtime (self);
  if ((what & PD_MANAGED_PLUGIN_CHANGED_HOLDERS) != 0)
    sync_holders (self);
  if ((what & PD_MANAGED_PLUGIN_CHANGED_OPERATION) != 0)
    sync_job (self);
  /* DiskUsage does not emit PropertiesChanged: it is read when asked */
  /* a new image, new settings or Enabled precede the event of the change that made them: they
   * go out at once; the runner's state and the rest go with the next idle flush */
  if ((what & (PD_MANAGED_PLUGIN_CHANGED_IMAGE | PD_MANAGED_PLUGIN_CHANGED_SETTINGS |
               PD_MANAGED_PLUGIN_CHANGED_ENABLED)) != 0)
    g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
}

/* section: the interface's vtable */

static guint
property_index (const char *name)
{
  guint prop = 0;

  while (prop < N_PROPS && strcmp (property_names[prop], name) != 0)
    prop++;
  return prop;
}

static GVariant *
get_property_cb (GDBusConnection *connection, const char *sender, const char *object_path,
                 const char *interface_name, const char *property_name, GError **error,
                 gpointer user_data)
{
  guint prop = property_index (property_name);

  /* GDBus answers for names that are not in the interface; as the skeleton did otherwise */
  if (prop == N_PROPS)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "No property with name %s",
                   property_name);
      return NULL;
    }
  return property_value (user_data, prop);
}

/* every property is read-only: GDBus refuses a Set before it comes here */
static gboolean
set_property_cb (GDBusConnection *connection, const char *sender, const char *object_path,
                 const char *interface_name, const char *property_name, GVariant *value,
                 GError **error, gpointer user_data)
{
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_PROPERTY_READ_ONLY,
               "Property '%s' is not writable", property_name);
  return FALSE;
}

static void method_call_cb (GDBusConnection *connection, const char *sender,
                            const char *object_path, const char *interface_name,
                            const char *method_name, GVariant *parameters,
                            GDBusMethodInvocation *invocation, gpointer user_data);

static const GDBusInterfaceVTable plugin_vtable = {
  method_call_cb, get_property_cb, set_property_cb, { NULL }
};

static GDBusInterfaceInfo *
pd_plugin_get_info (GDBusInterfaceSkeleton *skeleton)
{
  return pd_dbus_plugin_interface_info ();
}

static GDBusInterfaceVTable *
pd_plugin_get_vtable (GDBusInterfaceSkeleton *skeleton)
{
  return (GDBusInterfaceVTable *) &plugin_vtable;
}

/* GetManagedObjects and InterfacesAdded: every property, in the XML's order */
static GVariant *
pd_plugin_get_properties (GDBusInterfaceSkeleton *skeleton)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sv}"));
  for (guint prop = 0; prop < N_PROPS; prop++)
    {
      g_autoptr(GVariant) value = property_value (PD_PLUGIN (skeleton), prop);

      g_variant_builder_add (&builder, "{sv}", property_names[prop], value);
    }
  return g_variant_builder_end (&builder);
}

static void
pd_plugin_flush (GDBusInterfaceSkeleton *skeleton)
{
  /* the source's reference goes with it */
  g_autoptr(PdPlugin) self = g_object_ref (PD_PLUGIN (skeleton));
  GSource *source = g_steal_pointer (&self->changes_source);

  if (source == NULL)
    return;
  g_source_destroy (source);
  emit_changes (self);
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
  release_shared_value (&self->env);
  release_shared_value (&self->holders);
  release_shared_value (&self->implements);

  G_OBJECT_CLASS (pd_plugin_parent_class)->dispose (object);
}

static void
pd_plugin_finalize (GObject *object)
{
  PdPlugin *self = PD_PLUGIN (object);

  g_free (self->socket);
  g_free (self->last_error_name);
  g_free (self->last_error_message);
  g_free (self->job);
  g_slist_free_full (self->changes, change_free);
  /* the idle holds a reference: only a context that went away can leave one */
  if (self->changes_source != NULL)
    g_source_destroy (self->changes_source);

  G_OBJECT_CLASS (pd_plugin_parent_class)->finalize (object);
}

static void
pd_plugin_class_init (PdPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GDBusInterfaceSkeletonClass *skeleton_class = G_DBUS_INTERFACE_SKELETON_CLASS (klass);
  GDBusInterfaceInfo *info = pd_dbus_plugin_interface_info ();
  guint n = 0;

  object_class->dispose = pd_plugin_dispose;
  object_class->finalize = pd_plugin_finalize;
  skeleton_class->get_info = pd_plugin_get_info;
  skeleton_class->get_vtable = pd_plugin_get_vtable;
  skeleton_class->get_properties = pd_plugin_get_properties;
  skeleton_class->flush = pd_plugin_flush;

  /* the XML stays the source of truth: its properties are the ones above, in this order,
   * all of them readable and none writable */
  for (; info->properties[n] != NULL; n++)
    {
      GDBusPropertyInfo *property = info->properties[n];
      const char *emits = g_dbus_annotation_info_lookup (
        property->annotations, "org.freedesktop.DBus.Property.EmitsChangedSignal");

      g_assert (n < N_PROPS && strcmp (property->name, property_names[n]) == 0);
      g_assert (property->flags == G_DBUS_PROPERTY_INFO_FLAGS_READABLE);
      property_emits[n] = g_strcmp0 (emits, "false") != 0 && g_strcmp0 (emits, "const") != 0;
    }
  g_assert (n == N_PROPS);
}

static void
pd_plugin_init (PdPlugin *self)
{
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
  /* the first values: not exported yet, so nothing is queued */
  sync_all (self);
  return self;
}

PdManagedPlugin *
pd_plugin_get_managed (PdPlugin *self)
{
  return self->plugin;
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
handle_with_authorization (PdPlugin *self, GDBusMethodInvocation *invocation,
                           GVariant *options, const char *const *allowed, const char *operation,
                           GAsyncReadyCallback callback)
{
  CallData *data = begin_call (self, invocation, options, allowed);

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
  pd_dbus_plugin_complete_set (NULL, g_object_ref (data->call.invocation));
}

static gboolean
handle_set (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *arg_settings,
            GVariant *arg_options)
{
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
      pd_dbus_plugin_complete_set (NULL, g_object_ref (data->call.invocation));
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
    pd_dbus_plugin_complete_enable (NULL, g_object_ref (data->call.invocation));
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
handle_enable (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
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
  GError *error = NULL;

  if (data->remove ? !pd_engine_remove_plugin_finish (PD_ENGINE (source), result, &error)
                   : !pd_managed_plugin_disable_finish (PD_MANAGED_PLUGIN (source), result,
                                                        &error))
    pd_call_reply_error (data, error);
  else if (data->remove)
    pd_dbus_plugin_complete_remove (NULL, g_object_ref (data->call.invocation));
  else
    pd_dbus_plugin_complete_disable (NULL, g_object_ref (data->call.invocation));
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
handle_disable (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  return handle_stop (self, invocation, arg_options, FALSE);
}

static gboolean
handle_remove (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  return handle_stop (self, invocation, arg_options, TRUE);
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
handle_open_log (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  static const char *const allowed[] = {
    "interactive", "b", "lines", "u", "follow", "b", "since", "t", "timestamps", "b", NULL
  };

  return handle_with_authorization (self, invocation, arg_options, allowed, "read-logs",
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
  pd_dbus_plugin_complete_read_log (NULL, g_object_ref (data->call.invocation), text);
}

/* ReadLog: the same lines as a string, for clients that cannot receive an fd */
static gboolean
handle_read_log (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  static const char *const allowed[] = {
    "interactive", "b", "lines", "u", "since", "t", "timestamps", "b", NULL
  };
  g_autoptr(CallData) data = begin_call (self, invocation, arg_options, allowed);
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
handle_hold (PdPlugin *self, GDBusMethodInvocation *invocation, const char *arg_who,
             const char *arg_why)
{
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
      pd_dbus_plugin_complete_upgrade (NULL, g_object_ref (data->call.invocation),
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
handle_upgrade (PdPlugin *self, GDBusMethodInvocation *invocation, const char *arg_remote,
                GVariant *arg_privileges, GVariant *arg_options)
{
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
    {
      if (!pd_install_check_registry_auth (registry_auth, &error))
        return pd_call_reply_error (data, error);
      data->registry_auth = g_strdup (registry_auth);
    }

  details = new_remote_details (self, data->target, "push");
  pd_call_authorize_caller (g_steal_pointer (&data), 0, details, remote_call_got_uid_cb);
  return TRUE;
}

static gboolean
handle_push (PdPlugin *self, GDBusMethodInvocation *invocation, GVariant *arg_options)
{
  static const char *const allowed[] = {
    "interactive", "b", "registry-auth", "s", "remote", "s", NULL
  };
  const char *remote = "";

  /* a "remote" of another type is refused by the options check */
  if (!g_variant_lookup (arg_options, "remote", "&s", &remote))
    remote = "";
  return pd_plugin_handle_push (self, invocation, remote, arg_options, allowed);
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
  pd_dbus_plugin_complete_inspect (NULL, g_object_ref (data->call.invocation), json);
}

static gboolean
handle_inspect (PdPlugin *self, GDBusMethodInvocation *invocation)
{
  /* values for root (no polkit call) and for callers read-settings allows as they are; never
   * a password prompt (the rule says so): a read must not start asking */
  return handle_with_authorization (self, invocation, NULL, NULL, "inspect",
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
  pd_dbus_plugin_complete_get_setting_values (NULL, g_object_ref (data->call.invocation),
                                              (const char *const *) settings->env,
                                              (const char *const *) settings->args);
}

static gboolean
handle_get_setting_values (PdPlugin *self, GDBusMethodInvocation *invocation,
                           GVariant *arg_options)
{
  static const char *const allowed[] = { "interactive", "b", NULL };

  return handle_with_authorization (self, invocation, arg_options, allowed, "read-settings",
                                    get_setting_values_authorized_cb);
}

/* section: the methods
 *
 * GDBus checked the method and its arguments against the interface info; each handler takes
 * the invocation's reference, as the skeleton's handlers did. The replies are encoded by the
 * generated pd_dbus_plugin_complete_*(), which do not use their object. */

static void
method_call_cb (GDBusConnection *connection, const char *sender, const char *object_path,
                const char *interface_name, const char *method_name, GVariant *parameters,
                GDBusMethodInvocation *invocation, gpointer user_data)
{
  PdPlugin *self = user_data;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) list = NULL;
  const char *text = NULL, *text2 = NULL;

  if (g_str_equal (method_name, "Enable") || g_str_equal (method_name, "Disable") ||
      g_str_equal (method_name, "Remove") || g_str_equal (method_name, "OpenLog") ||
      g_str_equal (method_name, "ReadLog") || g_str_equal (method_name, "Push") ||
      g_str_equal (method_name, "GetSettingValues"))
    g_variant_get (parameters, "(@a{sv})", &options);

  if (g_str_equal (method_name, "Enable"))
    handle_enable (self, invocation, options);
  else if (g_str_equal (method_name, "Disable"))
    handle_disable (self, invocation, options);
  else if (g_str_equal (method_name, "Remove"))
    handle_remove (self, invocation, options);
  else if (g_str_equal (method_name, "OpenLog"))
    handle_open_log (self, invocation, options);
  else if (g_str_equal (method_name, "ReadLog"))
    handle_read_log (self, invocation, options);
  else if (g_str_equal (method_name, "Push"))
    handle_push (self, invocation, options);
  else if (g_str_equal (method_name, "GetSettingValues"))
    handle_get_setting_values (self, invocation, options);
  else if (g_str_equal (method_name, "Inspect"))
    handle_inspect (self, invocation);
  else if (g_str_equal (method_name, "Hold"))
    {
      g_variant_get (parameters, "(&s&s)", &text, &text2);
      handle_hold (self, invocation, text, text2);
    }
  else if (g_str_equal (method_name, "Set"))
    {
      g_variant_get (parameters, "(@a(ss)@a{sv})", &list, &options);
      handle_set (self, invocation, list, options);
    }
  else if (g_str_equal (method_name, "Upgrade"))
    {
      g_variant_get (parameters, "(&s@a(ssas)@a{sv})", &text, &list, &options);
      handle_upgrade (self, invocation, text, list, options);
    }
  else
    g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD,
                                           "Method %s is not implemented on interface %s",
                                           method_name, interface_name);
}
