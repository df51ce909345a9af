/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-daemon"

#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include "pd-daemon.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-manager.h"
#include "pd-names.h"
#include "pd-plugin.h"
#include "pd-reference.h"

/* how long shutdown waits for cancelled jobs to roll back and plugins to stop (their own stop
 * timeout is 10 s) */
#define PD_SHUTDOWN_GRACE_MS 15000

struct _PdDaemon {
  GObject parent_instance;

  PdEngine *engine;
  PdStore *store; /* the engine's */
  PdAuth *auth;
  GDBusConnection *connection;
  GDBusObjectManagerServer *object_manager;
  PdManager *manager;
  GHashTable *plugins;     /* id → PdPlugin */
  GHashTable *jobs;        /* GUINT_TO_POINTER (id) → PdJob */
  guint32 next_job_id;
  guint max_jobs;
  guint job_linger_ms;

  GSourceFunc shutdown_done;
  gpointer shutdown_data;
  guint shutdown_timeout_id;
  guint plugins_stopping;
  guint subtree_ids[2];
};

G_DEFINE_TYPE (PdDaemon, pd_daemon, G_TYPE_OBJECT)

static void
pd_daemon_finalize (GObject *object)
{
  PdDaemon *self = PD_DAEMON (object);

  g_clear_handle_id (&self->shutdown_timeout_id, g_source_remove);
  for (guint i = 0; i < G_N_ELEMENTS (self->subtree_ids); i++)
    if (self->subtree_ids[i] != 0)
      g_dbus_connection_unregister_subtree (self->connection, self->subtree_ids[i]);
  g_clear_pointer (&self->jobs, g_hash_table_unref);
  g_clear_pointer (&self->plugins, g_hash_table_unref);
  g_clear_object (&self->manager);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->connection);
  g_clear_object (&self->auth);
  g_clear_object (&self->engine);

  G_OBJECT_CLASS (pd_daemon_parent_class)->finalize (object);
}

static void
pd_daemon_class_init (PdDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pd_daemon_finalize;
}

static void
pd_daemon_init (PdDaemon *self)
{
  const char *linger = g_getenv ("PLUGIND_JOB_LINGER_MS");

  self->plugins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->jobs = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->next_job_id = 1;
  /* test-only knob: the integration tests check the end of the linger period */
  self->job_linger_ms = linger != NULL ? (guint) g_ascii_strtoull (linger, NULL, 10) : 60000;
}

PdDaemon *
pd_daemon_new (const char *state_dir, const char *runtime_dir, GError **error)
{
  g_autoptr(PdDaemon) self = g_object_new (PD_TYPE_DAEMON, NULL);

  self->engine = pd_engine_new (state_dir, runtime_dir, error);
  if (self->engine == NULL)
    return NULL;
  self->store = pd_engine_get_store (self->engine);
  self->max_jobs = pd_engine_get_max_jobs (self->engine);
  self->auth = pd_auth_new ();
  return g_steal_pointer (&self);
}

PdEngine *
pd_daemon_get_engine (PdDaemon *self)
{
  return self->engine;
}

PdAuth *
pd_daemon_get_auth (PdDaemon *self)
{
  return self->auth;
}

/* plugins */

static void
export_interface (PdDaemon *self, const char *path, GDBusInterfaceSkeleton *iface)
{
  g_autoptr(GDBusObjectSkeleton) object = g_dbus_object_skeleton_new (path);

  g_dbus_object_skeleton_add_interface (object, iface);
  g_dbus_object_manager_server_export (self->object_manager, object);
}

typedef struct {
  char *id;
  char *rootfs;
  guint64 bytes;
} DiskUsageItem;

static void
disk_usage_item_free (DiskUsageItem *item)
{
  g_free (item->id);
  g_free (item->rootfs);
  g_free (item);
}

static void
disk_usage_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GPtrArray *items = task_data;
  PdDaemon *self = source;

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
  PdDaemon *self = PD_DAEMON (source);
  GPtrArray *items = g_task_get_task_data (G_TASK (result));

  for (guint i = 0; i < items->len; i++)
    {
      DiskUsageItem *item = g_ptr_array_index (items, i);
      PdPlugin *plugin = g_hash_table_lookup (self->plugins, item->id);
      if (plugin != NULL)
        pd_plugin_set_disk_usage (plugin, item->bytes);
    }
}

/* measuring rootfs sizes walks every file: do it off the main thread so start-up stays fast */
static void
measure_disk_usage_async (PdDaemon *self, GPtrArray *plugins)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, disk_usage_done, NULL);
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) disk_usage_item_free);

  for (guint i = 0; i < plugins->len; i++)
    {
      PdPluginRecord *record = pd_plugin_get_record (g_ptr_array_index (plugins, i));
      DiskUsageItem *item = g_new0 (DiskUsageItem, 1);
      item->id = g_strdup (pd_plugin_record_get_id (record));
      g_ptr_array_add (items, item);
    }
  g_task_set_task_data (task, items, (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (task, disk_usage_thread);
}

PdPlugin *
pd_daemon_add_plugin (PdDaemon *self, PdPluginRecord *record)
{
  PdPlugin *plugin = pd_plugin_new (self, record);

  g_hash_table_replace (self->plugins, g_strdup (pd_plugin_record_get_id (record)), plugin);
  if (self->object_manager != NULL)
    export_interface (self, pd_plugin_get_object_path (plugin),
                      G_DBUS_INTERFACE_SKELETON (plugin));
  return plugin;
}

static void
purge_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PdDaemon *self = source;
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

/* its socket dir and logs (the plugin is stopped): nothing of it stays in /run */
static void
remove_runtime_files (PdDaemon *self, const char *id)
{
  const char *runtime_dir = pd_engine_get_runtime_dir (self->engine);
  g_autofree char *dir = g_build_filename (runtime_dir, "plugins", id, NULL);
  g_autofree char *log = g_strdup_printf ("%s/logs/%s.log", runtime_dir, id);
  g_autofree char *old_log = g_strconcat (log, ".1", NULL);
  g_autoptr(GError) error = NULL;

  if (!pd_rm_rf_at (AT_FDCWD, dir, &error))
    g_warning ("cannot delete %s: %s", dir, error->message);
  unlink (log);
  unlink (old_log);
}

gboolean
pd_daemon_remove_plugin (PdDaemon *self, PdPlugin *plugin, GError **error)
{
  PdPluginRecord *record = pd_plugin_get_record (plugin);
  g_autofree char *id = g_strdup (pd_plugin_record_get_id (record));
  g_autofree char *path = g_strdup (pd_plugin_get_object_path (plugin));

  g_autoptr(GTask) purge = NULL;

  if (!pd_store_remove_plugin (self->store, id, error))
    return FALSE;

  remove_runtime_files (self, id);

  /* the plugin is gone; deleting its rootfs may take long, so not on the main thread */
  purge = g_task_new (self, NULL, purge_done, NULL);
  g_task_set_task_data (purge, g_strdup (id), g_free);
  g_task_run_in_thread (purge, purge_thread);

  /* keep the object alive for the event; unexport before so that InterfacesRemoved comes first */
  g_object_ref (plugin);
  pd_plugin_mark_removed (plugin);
  g_dbus_object_manager_server_unexport (self->object_manager, path);
  g_hash_table_remove (self->plugins, id);
  pd_daemon_emit_plugin_event (self, "remove", plugin, NULL);
  g_object_unref (plugin);

  pd_daemon_collect_blobs (self);
  return TRUE;
}

static gint
compare_plugins_by_name (gconstpointer a, gconstpointer b)
{
  PdPluginRecord *ra = pd_plugin_get_record (*(PdPlugin **) a);
  PdPluginRecord *rb = pd_plugin_get_record (*(PdPlugin **) b);

  return g_strcmp0 (pd_plugin_record_get_name (ra), pd_plugin_record_get_name (rb));
}

GPtrArray *
pd_daemon_list_plugins (PdDaemon *self)
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

PdPlugin *
pd_daemon_lookup_plugin_by_name (PdDaemon *self, const char *name)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->plugins);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (g_strcmp0 (pd_plugin_record_get_name (pd_plugin_get_record (value)), name) == 0)
      return value;
  return NULL;
}

PdPlugin *
pd_daemon_resolve_plugin (PdDaemon *self, const char *name_or_id, GError **error)
{
  g_autoptr(PdReference) ref = NULL;
  g_autofree char *escaped = pd_escape_untrusted (name_or_id, -1);
  PdPlugin *found = NULL;
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
      found = pd_daemon_lookup_plugin_by_name (self, familiar);
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

void
pd_daemon_emit_plugin_event (PdDaemon *self, const char *action, PdPlugin *plugin,
                             GVariant *extra_attributes)
{
  PdPluginRecord *record = pd_plugin_get_record (plugin);
  g_auto(GVariantBuilder) attributes = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) extra = extra_attributes != NULL ? g_variant_ref_sink (extra_attributes) : NULL;

  g_variant_builder_add (&attributes, "{sv}", "name",
                         g_variant_new_string (pd_plugin_record_get_name (record)));
  if (extra != NULL)
    {
      GVariantIter iter;
      const char *key;
      GVariant *value;

      g_variant_iter_init (&iter, extra);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
        {
          g_variant_builder_add (&attributes, "{sv}", key, value);
          g_variant_unref (value);
        }
    }
  g_debug ("plugin event %s for %s", action, pd_plugin_record_get_id (record));
  pd_dbus_manager_emit_plugin_event (PD_DBUS_MANAGER (self->manager), action,
                                     pd_plugin_record_get_id (record),
                                     pd_plugin_record_get_name (record),
                                     pd_plugin_get_object_path (plugin),
                                     (guint64) g_get_real_time (),
                                     g_variant_builder_end (&attributes));
}

/* jobs */

static guint
count_running_jobs (PdDaemon *self)
{
  GHashTableIter iter;
  gpointer value;
  guint running = 0;

  g_hash_table_iter_init (&iter, self->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (!pd_operation_is_finished (pd_job_get_operation (value)))
      running++;
  return running;
}

void
pd_daemon_collect_blobs (PdDaemon *self)
{
  g_autoptr(GPtrArray) plugins = pd_daemon_list_plugins (self);
  g_autoptr(GPtrArray) records = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  guint deleted;

  for (guint i = 0; i < plugins->len; i++)
    g_ptr_array_add (records, pd_plugin_get_record (g_ptr_array_index (plugins, i)));
  deleted = pd_store_gc_blobs (self->store, records, &error);
  if (error != NULL)
    g_warning ("blob garbage collection failed: %s", error->message);
  else if (deleted > 0)
    g_debug ("collected %u unreferenced blobs", deleted);
}


static void
maybe_finish_shutdown (PdDaemon *self)
{
  GSourceFunc done = self->shutdown_done;

  if (done == NULL || count_running_jobs (self) > 0 || self->plugins_stopping > 0)
    return;
  self->shutdown_done = NULL;
  g_clear_handle_id (&self->shutdown_timeout_id, g_source_remove);
  done (self->shutdown_data);
}

static void
emit_job_event (PdOperation *op, PdPlugin *plugin)
{
  const char *remote = pd_operation_get_remote (op);
  g_auto(GVariantBuilder) extra = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  if (pd_plugin_is_removed (plugin))
    return;
  if (*remote != '\0')
    g_variant_builder_add (&extra, "{sv}", "remote", g_variant_new_string (remote));
  pd_daemon_emit_plugin_event (pd_plugin_get_daemon (plugin), pd_operation_get_kind (op), plugin,
                               g_variant_builder_end (&extra));
}

static void
unref_closure_data (gpointer data, GClosure *closure)
{
  g_object_unref (data);
}

void
pd_daemon_emit_event_when_finished (PdDaemon *self, PdOperation *op, PdPlugin *plugin)
{
  g_signal_connect_data (op, "finished", G_CALLBACK (emit_job_event), g_object_ref (plugin),
                         unref_closure_data, 0);
}

/* JobFinished, after Completed and before the PluginEvent of the operation */
static void
on_job_finished (PdOperation *op, PdDaemon *self)
{
  g_autofree char *path = pd_job_dup_object_path_for (pd_operation_get_id (op));
  const char *result = "done";

  if (pd_operation_get_result (op) == PD_OPERATION_FAILED)
    result = "failed";
  else if (pd_operation_get_result (op) == PD_OPERATION_CANCELLED)
    result = "cancelled";
  pd_dbus_manager_emit_job_finished (PD_DBUS_MANAGER (self->manager), pd_operation_get_id (op),
                                     path, result);
  /* a pull's buffers were freed in its worker thread's malloc arena, which glibc keeps: give
   * them back once the daemon is idle again */
  if (count_running_jobs (self) == 0)
    malloc_trim (0);
  maybe_finish_shutdown (self);
}

static void
on_job_linger_expired (PdJob *job, PdDaemon *self)
{
  g_autofree char *path = g_strdup (pd_job_get_object_path (job));

  g_dbus_object_manager_server_unexport (self->object_manager, path);
  g_hash_table_remove (self->jobs, GUINT_TO_POINTER (pd_job_get_id (job)));
}

PdOperation *
pd_daemon_new_job (PdDaemon *self, const char *operation, const char *remote,
                   const char *plugin_name, guint32 uid, GError **error)
{
  g_autoptr(PdOperation) op = NULL;
  PdJob *job;

  if (count_running_jobs (self) >= self->max_jobs)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "too many jobs are running (at most %u)", self->max_jobs);
      return NULL;
    }
  op = pd_operation_new (self->next_job_id++, operation, remote, plugin_name, uid);
  job = pd_job_new (self->auth, op);
  pd_job_set_linger_ms (job, self->job_linger_ms);
  g_signal_connect_object (op, "finished", G_CALLBACK (on_job_finished), self, 0);
  g_signal_connect_object (job, "linger-expired", G_CALLBACK (on_job_linger_expired), self, 0);
  g_hash_table_insert (self->jobs, GUINT_TO_POINTER (pd_job_get_id (job)), job);
  export_interface (self, pd_job_get_object_path (job), G_DBUS_INTERFACE_SKELETON (job));
  pd_dbus_manager_emit_job_new (PD_DBUS_MANAGER (self->manager), pd_job_get_id (job),
                                pd_job_get_object_path (job), operation);
  return op;
}

static gint
compare_jobs_by_id (gconstpointer a, gconstpointer b)
{
  guint32 ia = pd_job_get_id (*(PdJob **) a);
  guint32 ib = pd_job_get_id (*(PdJob **) b);

  return ia < ib ? -1 : ia > ib;
}

GPtrArray *
pd_daemon_list_jobs (PdDaemon *self)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (out, value);
  g_ptr_array_sort (out, compare_jobs_by_id);
  return out;
}

PdOperation *
pd_daemon_get_running_job_for (PdDaemon *self, const char *plugin_name)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      PdOperation *op = pd_job_get_operation (value);

      if (!pd_operation_is_finished (op) &&
          g_strcmp0 (pd_operation_get_plugin_name (op), plugin_name) == 0)
        return op;
    }
  return NULL;
}

gboolean
pd_daemon_has_running_job_for (PdDaemon *self, const char *plugin_name)
{
  return pd_daemon_get_running_job_for (self, plugin_name) != NULL;
}

/* objects that are gone */

/* Calls to a plugin or job path that is no longer exported fail with UnknownObject
 * (dbus-api.md D4), not GDBus' UnknownMethod: a subtree at .../plugin and .../job receives
 * every call to a path under it that has no registered object. */

/* GDBus passes the subtree's path to some callbacks and the called path to others */
static gboolean
is_plugin_subtree (const char *object_path)
{
  return g_str_has_prefix (object_path, PD_DBUS_ROOT_PATH "/plugin");
}

static char **
gone_enumerate (GDBusConnection *connection, const char *sender, const char *object_path,
                gpointer user_data)
{
  PdDaemon *self = user_data;
  GPtrArray *nodes = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  /* what exists, so that introspection still lists the children */
  if (is_plugin_subtree (object_path))
    {
      g_hash_table_iter_init (&iter, self->plugins);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (nodes, g_strdup (key));
    }
  else
    {
      g_hash_table_iter_init (&iter, self->jobs);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (nodes, g_strdup_printf ("%u", GPOINTER_TO_UINT (key)));
    }
  g_ptr_array_add (nodes, NULL);
  return (char **) g_ptr_array_free (nodes, FALSE);
}

static GDBusInterfaceInfo **
gone_introspect (GDBusConnection *connection, const char *sender, const char *object_path,
                 const char *node, gpointer user_data)
{
  GDBusInterfaceInfo **infos = g_new0 (GDBusInterfaceInfo *, 2);

  /* the subtree root itself carries no interface */
  if (node == NULL)
    return infos;
  infos[0] = g_dbus_interface_info_ref (is_plugin_subtree (object_path)
                                          ? pd_dbus_plugin_interface_info ()
                                          : pd_dbus_job_interface_info ());
  return infos;
}

static void
gone_method_call (GDBusConnection *connection, const char *sender, const char *object_path,
                  const char *interface_name, const char *method_name, GVariant *parameters,
                  GDBusMethodInvocation *invocation, gpointer user_data)
{
  g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
                                         "No object at %s", object_path);
}

static GVariant *
gone_get_property (GDBusConnection *connection, const char *sender, const char *object_path,
                   const char *interface_name, const char *property_name, GError **error,
                   gpointer user_data)
{
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT, "No object at %s", object_path);
  return NULL;
}

static gboolean
gone_set_property (GDBusConnection *connection, const char *sender, const char *object_path,
                   const char *interface_name, const char *property_name, GVariant *value,
                   GError **error, gpointer user_data)
{
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT, "No object at %s", object_path);
  return FALSE;
}

static const GDBusInterfaceVTable gone_vtable = {
  .method_call = gone_method_call,
  .get_property = gone_get_property,
  .set_property = gone_set_property,
};

static const GDBusInterfaceVTable *
gone_dispatch (GDBusConnection *connection, const char *sender, const char *object_path,
               const char *interface_name, const char *node, gpointer *out_user_data,
               gpointer user_data)
{
  return &gone_vtable;
}

static const GDBusSubtreeVTable gone_subtree_vtable = {
  .enumerate = gone_enumerate,
  .introspect = gone_introspect,
  .dispatch = gone_dispatch,
};

static gboolean
register_gone_subtrees (PdDaemon *self, GError **error)
{
  const char *const paths[] = { PD_DBUS_ROOT_PATH "/plugin", PD_DBUS_ROOT_PATH "/job" };

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      guint id = g_dbus_connection_register_subtree (
        self->connection, paths[i], &gone_subtree_vtable,
        G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES, self, NULL, error);
      if (id == 0)
        return FALSE;
      self->subtree_ids[i] = id;
    }
  return TRUE;
}

/* life cycle */

static gboolean
startup_gc_cb (gpointer user_data)
{
  pd_daemon_collect_blobs (user_data);
  return G_SOURCE_REMOVE;
}

/* enabled plugins start again once the name is owned, each on its own: a slow plugin must not
 * delay the daemon (Docker's bug 20) */
static gboolean
restore_plugins_cb (gpointer user_data)
{
  PdDaemon *self = user_data;
  g_autoptr(GPtrArray) plugins = pd_daemon_list_plugins (self);

  for (guint i = 0; i < plugins->len; i++)
    pd_plugin_restore (g_ptr_array_index (plugins, i));
  return G_SOURCE_REMOVE;
}

gboolean
pd_daemon_start (PdDaemon *self, GDBusConnection *connection, GError **error)
{
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GPtrArray) plugins = NULL;

  records = pd_store_load_records (self->store, error);
  if (records == NULL)
    return FALSE;

  self->connection = g_object_ref (connection);
  self->object_manager = g_dbus_object_manager_server_new (PD_DBUS_ROOT_PATH);
  self->manager = pd_manager_new (self);
  export_interface (self, PD_DBUS_MANAGER_PATH, G_DBUS_INTERFACE_SKELETON (self->manager));

  for (guint i = 0; i < records->len; i++)
    pd_daemon_add_plugin (self, g_ptr_array_index (records, i));
  g_debug ("restored %u plugins", records->len);

  g_dbus_object_manager_server_set_connection (self->object_manager, connection);
  if (!register_gone_subtrees (self, error))
    return FALSE;

  plugins = pd_daemon_list_plugins (self);
  if (plugins->len > 0)
    measure_disk_usage_async (self, plugins);
  /* blobs of a create or removal a crash interrupted; reading every manifest can wait until
   * the name is owned */
  g_idle_add_full (G_PRIORITY_LOW, startup_gc_cb, g_object_ref (self), g_object_unref);
  g_idle_add_full (G_PRIORITY_LOW, restore_plugins_cb, g_object_ref (self), g_object_unref);
  return TRUE;
}

static gboolean
shutdown_timeout_cb (gpointer user_data)
{
  PdDaemon *self = user_data;
  GSourceFunc done = self->shutdown_done;

  g_warning ("jobs did not stop within %d ms; exiting anyway", PD_SHUTDOWN_GRACE_MS);
  self->shutdown_timeout_id = 0;
  self->shutdown_done = NULL;
  if (done != NULL)
    done (self->shutdown_data);
  return G_SOURCE_REMOVE;
}

static void
plugin_stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdDaemon) self = user_data;

  self->plugins_stopping--;
  maybe_finish_shutdown (self);
}

void
pd_daemon_shutdown (PdDaemon *self, GSourceFunc done, gpointer user_data)
{
  g_autoptr(GPtrArray) plugins = pd_daemon_list_plugins (self);
  GHashTableIter iter;
  gpointer value;

  /* plugins stop with the daemon and stay Enabled, so they start again with it (Docker) */
  for (guint i = 0; i < plugins->len; i++)
    {
      self->plugins_stopping++;
      pd_plugin_stop_async (g_ptr_array_index (plugins, i), plugin_stopped_cb,
                            g_object_ref (self));
    }

  self->shutdown_done = done;
  self->shutdown_data = user_data;
  g_hash_table_iter_init (&iter, self->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (!pd_operation_is_finished (pd_job_get_operation (value)))
      g_cancellable_cancel (pd_operation_get_cancellable_object (pd_job_get_operation (value)));
  self->shutdown_timeout_id = g_timeout_add (PD_SHUTDOWN_GRACE_MS, shutdown_timeout_cb, self);
  maybe_finish_shutdown (self);
}
