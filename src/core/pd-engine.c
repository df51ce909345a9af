/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-engine"

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include "pd-consumers.h"
#include "pd-engine.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-reference.h"

/* how long the service's stop waits for cancelled operations to roll back and plugins to stop
 * (their own stop timeout is 10 s) */
#define PD_SHUTDOWN_GRACE_MS 15000

struct _PdEngine {
  GObject parent_instance;

  PdStore *store;
  PdDaemonConfig *config;
  PdFetchTable *fetches;   /* blobs being downloaded, shared by every operation's thread */
  char *helper_path;
  char *runtime_dir;
  char *log_dir;           /* <state>/logs: the plugins' logs outlast a reboot */
  GHashTable *plugins;     /* id → PdManagedPlugin */
  GHashTable *operations;  /* GUINT_TO_POINTER (id) → PdOperation, until released */
  PdConsumers *consumers;  /* the enabled plugins' consumer sockets */
  guint32 next_operation_id;

  GSourceFunc shutdown_done;
  gpointer shutdown_data;
  guint shutdown_timeout_id;
  guint plugins_stopping;
};

enum {
  SIGNAL_PLUGIN_ADDED,
  SIGNAL_PLUGIN_REMOVED,
  SIGNAL_PLUGIN_CHANGED,
  SIGNAL_PLUGIN_EVENT,
  SIGNAL_OPERATION_ADDED,
  SIGNAL_OPERATION_FINISHED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PdEngine, pd_engine, G_TYPE_OBJECT)

static void
pd_engine_dispose (GObject *object)
{
  PdEngine *self = PD_ENGINE (object);
  GHashTableIter iter;
  gpointer value;

  g_clear_handle_id (&self->shutdown_timeout_id, g_source_remove);
  if (self->plugins != NULL)
    {
      g_hash_table_iter_init (&iter, self->plugins);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        pd_managed_plugin_set_owner (value, NULL, NULL);
    }
  if (self->operations != NULL)
    {
      g_hash_table_iter_init (&iter, self->operations);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        g_signal_handlers_disconnect_by_data (value, self);
    }
  g_clear_pointer (&self->operations, g_hash_table_unref);
  g_clear_pointer (&self->plugins, g_hash_table_unref);

  G_OBJECT_CLASS (pd_engine_parent_class)->dispose (object);
}

static void
pd_engine_finalize (GObject *object)
{
  PdEngine *self = PD_ENGINE (object);

  g_clear_pointer (&self->consumers, pd_consumers_free);
  g_clear_object (&self->store);
  g_clear_pointer (&self->config, pd_daemon_config_free);
  g_clear_pointer (&self->fetches, pd_fetch_table_free);
  g_free (self->helper_path);
  g_free (self->runtime_dir);
  g_free (self->log_dir);

  G_OBJECT_CLASS (pd_engine_parent_class)->finalize (object);
}

static void
pd_engine_class_init (PdEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pd_engine_dispose;
  object_class->finalize = pd_engine_finalize;

  signals[SIGNAL_PLUGIN_ADDED] =
    g_signal_new ("plugin-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, PD_TYPE_MANAGED_PLUGIN);
  signals[SIGNAL_PLUGIN_REMOVED] =
    g_signal_new ("plugin-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, PD_TYPE_MANAGED_PLUGIN);
  signals[SIGNAL_PLUGIN_CHANGED] =
    g_signal_new ("plugin-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, PD_TYPE_MANAGED_PLUGIN, G_TYPE_UINT);
  signals[SIGNAL_PLUGIN_EVENT] =
    g_signal_new ("plugin-event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 3, G_TYPE_STRING, PD_TYPE_MANAGED_PLUGIN, G_TYPE_VARIANT);
  signals[SIGNAL_OPERATION_ADDED] =
    g_signal_new ("operation-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, PD_TYPE_OPERATION);
  signals[SIGNAL_OPERATION_FINISHED] =
    g_signal_new ("operation-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, PD_TYPE_OPERATION);
}

static void
pd_engine_init (PdEngine *self)
{
  /* keyed by the id of the plugin's record, which the plugin keeps unchanged for its life */
  self->plugins = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  self->operations = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->next_operation_id = 1;
}

PdEngine *
pd_engine_new (const char *state_dir, const char *runtime_dir, GError **error)
{
  g_autoptr(PdEngine) self = g_object_new (PD_TYPE_ENGINE, NULL);
  g_autofree char *plugins_dir = g_build_filename (runtime_dir, "plugins", NULL);
  g_autofree char *logs_dir = g_build_filename (state_dir, "logs", NULL);
  g_autofree char *consumers_dir = g_build_filename (runtime_dir, "consumers", NULL);

  self->config = pd_daemon_config_load (NULL, error);
  if (self->config == NULL)
    return NULL;
  self->fetches = pd_fetch_table_new ();
  if (!pd_mkdir_with_mode (state_dir, 0700, error) ||
      !pd_mkdir_with_mode (runtime_dir, 0700, error) ||
      !pd_mkdir_with_mode (plugins_dir, 0700, error) ||
      !pd_mkdir_with_mode (logs_dir, 0700, error) ||
      !pd_mkdir_with_mode (consumers_dir, 0700, error))
    return NULL;
  self->store = pd_store_new (state_dir, error);
  if (self->store == NULL)
    return NULL;
  self->consumers = pd_consumers_new (self->config, runtime_dir);
  self->runtime_dir = g_strdup (runtime_dir);
  self->log_dir = g_steal_pointer (&logs_dir);
  self->helper_path = g_strdup (pd_archive_get_helper_path ());
  return g_steal_pointer (&self);
}

PdStore *
pd_engine_get_store (PdEngine *self)
{
  return self->store;
}

const PdDaemonConfig *
pd_engine_get_config (PdEngine *self)
{
  return self->config;
}

PdFetchTable *
pd_engine_get_fetch_table (PdEngine *self)
{
  return self->fetches;
}

void
pd_engine_get_archive_limits (PdEngine *self, PdArchiveLimits *limits)
{
  pd_archive_limits_init (limits);
  limits->max_bytes = self->config->max_archive_bytes;
  limits->max_entries = self->config->max_archive_entries;
}

const char *
pd_engine_get_helper_path (PdEngine *self)
{
  return self->helper_path;
}

guint
pd_engine_get_max_jobs (PdEngine *self)
{
  return self->config->max_jobs;
}

/* section: plugins */

static void
on_plugin_event (PdManagedPlugin *plugin, const char *action, gpointer user_data)
{
  pd_engine_emit_plugin_event (user_data, action, plugin, NULL);
}

/* its consumer socket follows its Enabled and its state */
static void
on_plugin_changed (PdManagedPlugin *plugin, guint what, gpointer user_data)
{
  PdEngine *self = user_data;

  if (self->consumers != NULL)
    pd_consumers_update (self->consumers, plugin);
  g_signal_emit (self, signals[SIGNAL_PLUGIN_CHANGED], 0, plugin, what);
}

static const PdManagedPluginOwner plugin_owner = { on_plugin_changed, on_plugin_event };

static gint
compare_plugins_by_name (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (pd_managed_plugin_get_name (*(PdManagedPlugin **) a),
                    pd_managed_plugin_get_name (*(PdManagedPlugin **) b));
}

GPtrArray *
pd_engine_list_plugins (PdEngine *self)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->plugins);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (out, value);
  g_ptr_array_sort (out, compare_plugins_by_name);
  return out;
}

PdManagedPlugin *
pd_engine_lookup_plugin (PdEngine *self, const char *id)
{
  return g_hash_table_lookup (self->plugins, id);
}

PdManagedPlugin *
pd_engine_lookup_plugin_by_name (PdEngine *self, const char *name)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->plugins);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (g_strcmp0 (pd_managed_plugin_get_name (value), name) == 0)
      return value;
  return NULL;
}

PdManagedPlugin *
pd_engine_resolve_plugin (PdEngine *self, const char *name_or_id, GError **error)
{
  g_autoptr(PdReference) ref = NULL;
  g_autofree char *escaped = pd_escape_untrusted (name_or_id, -1);
  PdManagedPlugin *found = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (pd_plugin_id_is_valid (name_or_id))
    {
      found = g_hash_table_lookup (self->plugins, name_or_id);
      if (found != NULL)
        return found;
    }

  /* a name with ":latest" implied; a digest reference never names a local plugin */
  ref = pd_reference_parse (name_or_id, NULL);
  if (ref != NULL && ref->digest == NULL)
    {
      g_autofree char *familiar = NULL;
      if (ref->tag == NULL)
        ref->tag = g_strdup ("latest");
      familiar = pd_reference_familiar (ref);
      found = pd_engine_lookup_plugin_by_name (self, familiar);
      if (found != NULL)
        return found;
    }

  if (*name_or_id != '\0')
    {
      g_hash_table_iter_init (&iter, self->plugins);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          if (!g_str_has_prefix (key, name_or_id))
            continue;
          if (found != NULL)
            {
              g_set_error (error, PD_ERROR, PD_ERROR_AMBIGUOUS_NAME,
                           "multiple plugins found for \"%s\"", escaped);
              return NULL;
            }
          found = value;
        }
      if (found != NULL)
        return found;
    }

  g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin \"%s\" not found", escaped);
  return NULL;
}

PdManagedPlugin *
pd_engine_add_plugin (PdEngine *self, PdPluginRecord *record)
{
  PdManagedPlugin *plugin;
  PdOperation *operation;

  plugin = pd_managed_plugin_new (record, self->store, self->runtime_dir, self->log_dir,
                                  self->config->only_requested_capabilities
                                    ? PD_SANDBOX_CAPABILITIES_REQUESTED
                                    : PD_SANDBOX_CAPABILITIES_DOCKER);
  g_hash_table_replace (self->plugins, (char *) pd_managed_plugin_get_id (plugin), plugin);
  pd_managed_plugin_set_owner (plugin, &plugin_owner, self);
  /* an install that goes on with it (to enable it) works on it from now on */
  operation = pd_engine_get_running_operation_for (self, pd_plugin_record_get_name (record));
  if (operation != NULL)
    pd_managed_plugin_set_operation (plugin, operation);
  g_signal_emit (self, signals[SIGNAL_PLUGIN_ADDED], 0, plugin);
  return plugin;
}

gboolean
pd_engine_check_name_free (PdEngine *self, const char *name, GError **error)
{
  if (pd_engine_lookup_plugin_by_name (self, name) != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_EXISTS, "plugin %s already exists", name);
      return FALSE;
    }
  if (pd_engine_get_running_operation_for (self, name) != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY, "plugin %s is already being installed", name);
      return FALSE;
    }
  return TRUE;
}

void
pd_engine_emit_plugin_event (PdEngine *self, const char *action, PdManagedPlugin *plugin,
                             GVariant *extra)
{
  g_auto(GVariantBuilder) attributes = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) sunk = extra != NULL ? g_variant_ref_sink (extra) : NULL;

  g_variant_builder_add (&attributes, "{sv}", "name",
                         g_variant_new_string (pd_managed_plugin_get_name (plugin)));
  if (sunk != NULL)
    {
      GVariantIter iter;
      const char *key;
      GVariant *value;

      g_variant_iter_init (&iter, sunk);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
        {
          g_variant_builder_add (&attributes, "{sv}", key, value);
          g_variant_unref (value);
        }
    }
  g_debug ("plugin event %s for %s", action, pd_managed_plugin_get_id (plugin));
  g_signal_emit (self, signals[SIGNAL_PLUGIN_EVENT], 0, action, plugin,
                 g_variant_builder_end (&attributes));
}

void
pd_engine_collect_blobs (PdEngine *self)
{
  g_autoptr(GPtrArray) plugins = pd_engine_list_plugins (self);
  g_autoptr(GPtrArray) records = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  guint deleted;

  for (guint i = 0; i < plugins->len; i++)
    g_ptr_array_add (records, pd_managed_plugin_get_record (g_ptr_array_index (plugins, i)));
  deleted = pd_store_gc_blobs (self->store, records, &error);
  if (error != NULL)
    g_warning ("blob garbage collection failed: %s", error->message);
  else if (deleted > 0)
    g_debug ("collected %u unreferenced blobs", deleted);
}

/* section: Remove */

static void
purge_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PdEngine *self = source;
  GError *error = NULL;

  if (pd_store_purge_removed_plugin (self->store, task_data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
purge_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("cannot delete the files of plugin %s (deleted at the next start): %s",
               (const char *) g_task_get_task_data (G_TASK (result)), error->message);
}

/* its socket dir (the plugin is stopped): nothing of it stays in /run; and its logs */
static void
remove_runtime_files (PdEngine *self, const char *id)
{
  g_autofree char *dir = g_build_filename (self->runtime_dir, "plugins", id, NULL);
  g_autoptr(GError) error = NULL;

  if (!pd_rm_rf_at (AT_FDCWD, dir, &error))
    g_warning ("cannot delete %s: %s", dir, error->message);
  pd_plugin_log_remove_files (self->log_dir, id);
}

static gboolean
remove_plugin (PdEngine *self, PdManagedPlugin *plugin_in, GError **error)
{
  g_autoptr(PdManagedPlugin) plugin = g_object_ref (plugin_in);
  g_autofree char *id = g_strdup (pd_managed_plugin_get_id (plugin));
  g_autoptr(GTask) purge = NULL;

  if (!pd_store_remove_plugin (self->store, id, error))
    return FALSE;

  pd_consumers_remove (self->consumers, plugin);
  remove_runtime_files (self, id);

  /* the plugin is gone; deleting its rootfs may take long, so not on the main thread */
  purge = g_task_new (self, NULL, purge_done, NULL);
  g_task_set_task_data (purge, g_strdup (id), g_free);
  g_task_run_in_thread (purge, purge_thread);

  /* listeners forget it before the event, so that whoever sees "remove" finds it gone */
  pd_managed_plugin_mark_removed (plugin);
  g_signal_emit (self, signals[SIGNAL_PLUGIN_REMOVED], 0, plugin);
  pd_managed_plugin_set_owner (plugin, NULL, NULL);
  g_hash_table_remove (self->plugins, id);
  pd_engine_emit_plugin_event (self, "remove", plugin, NULL);

  pd_engine_collect_blobs (self);
  return TRUE;
}

static void
removal_stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PdManagedPlugin *plugin = PD_MANAGED_PLUGIN (source);
  GError *error = NULL;

  if (!pd_managed_plugin_stop_for_removal_finish (plugin, result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  pd_managed_plugin_end_removal (plugin);
  if (!remove_plugin (g_task_get_source_object (task), plugin, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
pd_engine_remove_plugin_async (PdEngine *self, PdManagedPlugin *plugin, gboolean force,
                               guint stop_timeout_ms, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);

  pd_managed_plugin_stop_for_removal_async (plugin, force, stop_timeout_ms, removal_stopped_cb,
                                            task);
}

gboolean
pd_engine_remove_plugin_finish (PdEngine *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* section: operations */

static guint
count_running_operations (PdEngine *self)
{
  GHashTableIter iter;
  gpointer value;
  guint running = 0;

  g_hash_table_iter_init (&iter, self->operations);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (!pd_operation_is_finished (value))
      running++;
  return running;
}

static void
maybe_finish_shutdown (PdEngine *self)
{
  GSourceFunc done = self->shutdown_done;

  if (done == NULL || count_running_operations (self) > 0 || self->plugins_stopping > 0)
    return;
  /* nothing of the service stays where container engines look */
  pd_consumers_close_all (self->consumers);
  self->shutdown_done = NULL;
  g_clear_handle_id (&self->shutdown_timeout_id, g_source_remove);
  done (self->shutdown_data);
}

/* the first handler of "finished": the plugin is free, then "operation-finished" */
static void
on_operation_finished (PdOperation *operation, PdEngine *self)
{
  PdManagedPlugin *plugin =
    pd_engine_lookup_plugin_by_name (self, pd_operation_get_plugin_name (operation));

  if (plugin != NULL && pd_managed_plugin_get_operation (plugin) == operation)
    pd_managed_plugin_set_operation (plugin, NULL);
  g_signal_emit (self, signals[SIGNAL_OPERATION_FINISHED], 0, operation);
  /* a pull's buffers were freed in its worker thread's malloc arena, which glibc keeps: give
   * them back once the service is idle again */
  if (count_running_operations (self) == 0)
    malloc_trim (0);
  maybe_finish_shutdown (self);
}

PdOperation *
pd_engine_new_operation (PdEngine *self, const char *kind, const char *remote,
                         const char *plugin_name, guint32 uid, GError **error)
{
  guint max_jobs = self->config->max_jobs;
  PdManagedPlugin *plugin;
  PdOperation *operation;

  if (count_running_operations (self) >= max_jobs)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "too many jobs are running (at most %u)", max_jobs);
      return NULL;
    }
  operation = pd_operation_new (self->next_operation_id++, kind, remote, plugin_name, uid);
  g_hash_table_insert (self->operations, GUINT_TO_POINTER (pd_operation_get_id (operation)),
                       operation);
  g_signal_connect (operation, "finished", G_CALLBACK (on_operation_finished), self);
  plugin = pd_engine_lookup_plugin_by_name (self, plugin_name);
  if (plugin != NULL)
    pd_managed_plugin_set_operation (plugin, operation);
  g_signal_emit (self, signals[SIGNAL_OPERATION_ADDED], 0, operation);
  return operation;
}

static gint
compare_operations_by_id (gconstpointer a, gconstpointer b)
{
  guint32 ia = pd_operation_get_id (*(PdOperation **) a);
  guint32 ib = pd_operation_get_id (*(PdOperation **) b);

  return ia < ib ? -1 : ia > ib;
}

GPtrArray *
pd_engine_list_operations (PdEngine *self)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->operations);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (out, value);
  g_ptr_array_sort (out, compare_operations_by_id);
  return out;
}

PdOperation *
pd_engine_lookup_operation (PdEngine *self, guint32 id)
{
  return g_hash_table_lookup (self->operations, GUINT_TO_POINTER (id));
}

PdOperation *
pd_engine_get_running_operation_for (PdEngine *self, const char *plugin_name)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->operations);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (!pd_operation_is_finished (value) &&
        g_strcmp0 (pd_operation_get_plugin_name (value), plugin_name) == 0)
      return value;
  return NULL;
}

void
pd_engine_release_operation (PdEngine *self, PdOperation *operation)
{
  g_signal_handlers_disconnect_by_data (operation, self);
  g_hash_table_remove (self->operations, GUINT_TO_POINTER (pd_operation_get_id (operation)));
}

typedef struct {
  PdEngine *engine;
  PdManagedPlugin *plugin;
} EventData;

static void
event_data_free (gpointer data, GClosure *closure)
{
  EventData *event = data;

  g_object_unref (event->engine);
  g_object_unref (event->plugin);
  g_free (event);
}

static void
emit_operation_event (PdOperation *operation, EventData *event)
{
  const char *remote = pd_operation_get_remote (operation);
  g_auto(GVariantBuilder) extra = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  if (!pd_managed_plugin_is_removed (event->plugin))
    {
      if (*remote != '\0')
        g_variant_builder_add (&extra, "{sv}", "remote", g_variant_new_string (remote));
      pd_engine_emit_plugin_event (event->engine, pd_operation_get_kind (operation),
                                   event->plugin, g_variant_builder_end (&extra));
    }
  /* once: the engine keeps finished operations, which must not keep the engine */
  g_signal_handlers_disconnect_by_func (operation, emit_operation_event, event);
}

void
pd_engine_emit_event_when_finished (PdEngine *self, PdOperation *operation,
                                    PdManagedPlugin *plugin)
{
  EventData *event = g_new0 (EventData, 1);

  event->engine = g_object_ref (self);
  event->plugin = g_object_ref (plugin);
  g_signal_connect_data (operation, "finished", G_CALLBACK (emit_operation_event), event,
                         event_data_free, 0);
}

/* section: start and stop */

/* logs of plugins whose removal was interrupted before it deleted them; a plugin dir the
 * store could not load keeps its logs, like the rest of its data */
static void
remove_orphan_logs (PdEngine *self)
{
  g_autoptr(GPtrArray) names = pd_list_dir_at (AT_FDCWD, self->log_dir, NULL);

  for (guint i = 0; names != NULL && i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *id = pd_plugin_log_file_id (name);
      g_autofree char *plugin_dir = NULL;

      if (id == NULL || g_hash_table_contains (self->plugins, id))
        continue;
      plugin_dir = g_build_filename (pd_store_get_state_dir (self->store), "plugins", id, NULL);
      if (g_file_test (plugin_dir, G_FILE_TEST_EXISTS))
        continue;
      g_debug ("deleting the log of removed plugin %s", id);
      pd_plugin_log_remove_files (self->log_dir, id);
    }
}

gboolean
pd_engine_load (PdEngine *self, GError **error)
{
  g_autoptr(GPtrArray) records = pd_store_load_records (self->store, error);

  if (records == NULL)
    return FALSE;
  for (guint i = 0; i < records->len; i++)
    pd_engine_add_plugin (self, g_ptr_array_index (records, i));
  g_debug ("restored %u plugins", records->len);
  remove_orphan_logs (self);
  return TRUE;
}

typedef struct {
  char *id;
  guint64 bytes;
} DiskUsageItem;

static void
disk_usage_item_free (DiskUsageItem *item)
{
  g_free (item->id);
  g_free (item);
}

static void
disk_usage_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GPtrArray *items = task_data;
  PdEngine *self = source;

  for (guint i = 0; i < items->len; i++)
    {
      DiskUsageItem *item = g_ptr_array_index (items, i);
      item->bytes = pd_store_get_disk_usage (self->store, item->id);
    }
  g_task_return_boolean (task, TRUE);
}

static void
disk_usage_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PdEngine *self = PD_ENGINE (source);
  GPtrArray *items = g_task_get_task_data (G_TASK (result));

  for (guint i = 0; i < items->len; i++)
    {
      DiskUsageItem *item = g_ptr_array_index (items, i);
      PdManagedPlugin *plugin = self->plugins != NULL
                                  ? g_hash_table_lookup (self->plugins, item->id) : NULL;
      if (plugin != NULL)
        pd_managed_plugin_set_disk_usage (plugin, item->bytes);
    }
}

/* measuring rootfs sizes walks every file: off the main thread, so that the start stays fast */
static void
measure_disk_usage_async (PdEngine *self, GPtrArray *plugins)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, disk_usage_done, NULL);
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) disk_usage_item_free);

  for (guint i = 0; i < plugins->len; i++)
    {
      DiskUsageItem *item = g_new0 (DiskUsageItem, 1);
      item->id = g_strdup (pd_managed_plugin_get_id (g_ptr_array_index (plugins, i)));
      g_ptr_array_add (items, item);
    }
  g_task_set_task_data (task, items, (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (task, disk_usage_thread);
}

static gboolean
startup_gc_cb (gpointer user_data)
{
  pd_engine_collect_blobs (user_data);
  return G_SOURCE_REMOVE;
}

/* enabled plugins start again each on its own: a slow plugin must not delay the service or the
 * other plugins (docs/design.md, section Daemon start and stop) */
static gboolean
restore_plugins_cb (gpointer user_data)
{
  g_autoptr(GPtrArray) plugins = pd_engine_list_plugins (user_data);

  for (guint i = 0; i < plugins->len; i++)
    pd_managed_plugin_restore (g_ptr_array_index (plugins, i));
  return G_SOURCE_REMOVE;
}

void
pd_engine_start (PdEngine *self)
{
  g_autoptr(GPtrArray) plugins = pd_engine_list_plugins (self);

  /* the enabled plugins' consumer sockets answer from now on, "starting" at first */
  for (guint i = 0; i < plugins->len; i++)
    pd_consumers_update (self->consumers, g_ptr_array_index (plugins, i));
  pd_consumers_sync (self->consumers);

  if (plugins->len > 0)
    measure_disk_usage_async (self, plugins);
  /* blobs of a create or removal a crash interrupted; reading every manifest can wait until
   * the service is reachable */
  g_idle_add_full (G_PRIORITY_LOW, startup_gc_cb, g_object_ref (self), g_object_unref);
  g_idle_add_full (G_PRIORITY_LOW, restore_plugins_cb, g_object_ref (self), g_object_unref);
}

static gboolean
shutdown_timeout_cb (gpointer user_data)
{
  PdEngine *self = user_data;
  GSourceFunc done = self->shutdown_done;

  g_warning ("jobs did not stop within %d ms; exiting anyway", PD_SHUTDOWN_GRACE_MS);
  pd_consumers_close_all (self->consumers);
  self->shutdown_timeout_id = 0;
  self->shutdown_done = NULL;
  if (done != NULL)
    done (self->shutdown_data);
  return G_SOURCE_REMOVE;
}

static void
plugin_stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdEngine) self = user_data;

  self->plugins_stopping--;
  maybe_finish_shutdown (self);
}

void
pd_engine_shutdown (PdEngine *self, GSourceFunc done, gpointer user_data)
{
  g_autoptr(GPtrArray) plugins = pd_engine_list_plugins (self);
  g_autoptr(GPtrArray) operations = pd_engine_list_operations (self);

  /* plugins stop with the service and stay Enabled, so they start again with it (Docker) */
  for (guint i = 0; i < plugins->len; i++)
    {
      self->plugins_stopping++;
      pd_managed_plugin_stop_async (g_ptr_array_index (plugins, i), plugin_stopped_cb,
                                    g_object_ref (self));
    }

  self->shutdown_done = done;
  self->shutdown_data = user_data;
  for (guint i = 0; i < operations->len; i++)
    if (!pd_operation_is_finished (g_ptr_array_index (operations, i)))
      g_cancellable_cancel (
        pd_operation_get_cancellable_object (g_ptr_array_index (operations, i)));
  self->shutdown_timeout_id = g_timeout_add (PD_SHUTDOWN_GRACE_MS, shutdown_timeout_cb, self);
  maybe_finish_shutdown (self);
}
