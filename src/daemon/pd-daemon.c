/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-daemon"

#include "pd-daemon.h"
#include "pd-dbus-error.h"
#include "pd-job.h"
#include "pd-manager.h"
#include "pd-names.h"
#include "pd-plugin.h"

struct _PdDaemon {
  GObject parent_instance;

  PdEngine *engine;
  PdAuth *auth;
  GDBusConnection *connection;
  GDBusObjectManagerServer *object_manager;
  PdManager *manager;
  GHashTable *plugins;     /* id → PdPlugin */
  GHashTable *jobs;        /* GUINT_TO_POINTER (id) → PdJob, running or lingering */
  guint job_linger_ms;
  guint restart_backoff_ms;  /* 0: the runner's own */
  guint subtree_ids[2];
};

G_DEFINE_TYPE (PdDaemon, pd_daemon, G_TYPE_OBJECT)

static void
pd_daemon_dispose (GObject *object)
{
  PdDaemon *self = PD_DAEMON (object);

  if (self->engine != NULL)
    g_signal_handlers_disconnect_by_data (self->engine, self);
  for (guint i = 0; i < G_N_ELEMENTS (self->subtree_ids); i++)
    if (self->subtree_ids[i] != 0)
      {
        g_dbus_connection_unregister_subtree (self->connection, self->subtree_ids[i]);
        self->subtree_ids[i] = 0;
      }
  g_clear_pointer (&self->jobs, g_hash_table_unref);
  g_clear_pointer (&self->plugins, g_hash_table_unref);
  g_clear_object (&self->manager);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->connection);
  g_clear_object (&self->auth);
  g_clear_object (&self->engine);

  G_OBJECT_CLASS (pd_daemon_parent_class)->dispose (object);
}

static void
pd_daemon_class_init (PdDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pd_daemon_dispose;
}

static void
pd_daemon_init (PdDaemon *self)
{
  const char *linger = g_getenv ("PLUGIND_JOB_LINGER_MS");
  const char *backoff = g_getenv ("PLUGIND_RESTART_BACKOFF_MS");

  /* keyed by the id of the plugin's record, which the PdPlugin keeps (through its core
   * plugin) for its life */
  self->plugins = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  self->jobs = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  /* test-only knob: the integration tests check the end of the linger period */
  self->job_linger_ms = linger != NULL ? (guint) g_ascii_strtoull (linger, NULL, 10) : 60000;
  /* test-only knob: a crash loop in seconds rather than 1 + 2 + 4 + 8 of them */
  self->restart_backoff_ms = backoff != NULL ? (guint) g_ascii_strtoull (backoff, NULL, 10) : 0;
}

static void
export_interface (PdDaemon *self, const char *path, GDBusInterfaceSkeleton *iface)
{
  g_autoptr(GDBusObjectSkeleton) object = g_dbus_object_skeleton_new (path);

  g_dbus_object_skeleton_add_interface (object, iface);
  g_dbus_object_manager_server_export (self->object_manager, object);
}

/* section: the engine's plugins and events */

static void
on_plugin_added (PdEngine *engine, PdManagedPlugin *managed, PdDaemon *self)
{
  PdPlugin *plugin = pd_plugin_new (engine, self->auth, managed);
  g_autofree char *path = pd_plugin_dup_object_path_for (pd_managed_plugin_get_id (managed));

  if (self->restart_backoff_ms > 0)
    pd_runner_set_restart_backoff_for_testing (pd_managed_plugin_get_runner (managed),
                                               self->restart_backoff_ms);

  g_hash_table_replace (self->plugins, (char *) pd_managed_plugin_get_id (managed), plugin);
  if (self->object_manager != NULL)
    export_interface (self, path, G_DBUS_INTERFACE_SKELETON (plugin));
}

static void
on_plugin_changed (PdEngine *engine, PdManagedPlugin *managed, guint what, PdDaemon *self)
{
  PdPlugin *plugin = g_hash_table_lookup (self->plugins, pd_managed_plugin_get_id (managed));

  if (plugin != NULL && pd_plugin_get_managed (plugin) == managed)
    pd_plugin_update (plugin, what);
}

/* unexported before the "remove" event, so that InterfacesRemoved comes first */
static void
on_plugin_removed (PdEngine *engine, PdManagedPlugin *managed, PdDaemon *self)
{
  g_autofree char *path = pd_plugin_dup_object_path_for (pd_managed_plugin_get_id (managed));

  g_dbus_object_manager_server_unexport (self->object_manager, path);
  g_hash_table_remove (self->plugins, pd_managed_plugin_get_id (managed));
}

static void
on_plugin_event (PdEngine *engine, const char *action, PdManagedPlugin *plugin,
                 GVariant *attributes, PdDaemon *self)
{
  g_autofree char *path = pd_plugin_dup_object_path_for (pd_managed_plugin_get_id (plugin));

  if (self->manager == NULL)
    return;
  pd_dbus_manager_emit_plugin_event (PD_DBUS_MANAGER (self->manager), action,
                                     pd_managed_plugin_get_id (plugin),
                                     pd_managed_plugin_get_name (plugin), path,
                                     (guint64) g_get_real_time (), attributes);
}

/* section: the engine's operations */

static void
on_job_linger_expired (PdJob *job, PdDaemon *self)
{
  g_autoptr(PdOperation) operation = g_object_ref (pd_job_get_operation (job));
  g_autofree char *path = g_strdup (pd_job_get_object_path (job));

  g_dbus_object_manager_server_unexport (self->object_manager, path);
  g_hash_table_remove (self->jobs, GUINT_TO_POINTER (pd_operation_get_id (operation)));
  pd_engine_release_operation (self->engine, operation);
}

/* JobNew, before the method that started the operation replies */
static void
on_operation_added (PdEngine *engine, PdOperation *operation, PdDaemon *self)
{
  PdJob *job = pd_job_new (self->auth, operation);

  pd_job_set_linger_ms (job, self->job_linger_ms);
  g_signal_connect_object (job, "linger-expired", G_CALLBACK (on_job_linger_expired), self, 0);
  g_hash_table_insert (self->jobs, GUINT_TO_POINTER (pd_job_get_id (job)), job);
  export_interface (self, pd_job_get_object_path (job), G_DBUS_INTERFACE_SKELETON (job));
  pd_dbus_manager_emit_job_new (PD_DBUS_MANAGER (self->manager), pd_job_get_id (job),
                                pd_job_get_object_path (job),
                                pd_operation_get_kind (operation));
}

/* JobFinished: after the job's Completed, before the plugin's event */
static void
on_operation_finished (PdEngine *engine, PdOperation *operation, PdDaemon *self)
{
  PdJob *job = g_hash_table_lookup (self->jobs,
                                    GUINT_TO_POINTER (pd_operation_get_id (operation)));

  if (job == NULL)
    return;
  pd_dbus_manager_emit_job_finished (PD_DBUS_MANAGER (self->manager), pd_job_get_id (job),
                                     pd_job_get_object_path (job),
                                     pd_dbus_job_get_result (PD_DBUS_JOB (job)));
}

/* section: objects that are gone */

/* Calls to a plugin or job path that is no longer exported fail with UnknownObject, not
 * GDBus' UnknownMethod: a subtree at .../plugin and .../job receives every call to a path under
 * it that has no registered object. */

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

/* section: life cycle */

PdDaemon *
pd_daemon_new (const char *state_dir, const char *runtime_dir, GError **error)
{
  g_autoptr(PdDaemon) self = g_object_new (PD_TYPE_DAEMON, NULL);

  pd_dbus_error_register ();
  self->engine = pd_engine_new (state_dir, runtime_dir, error);
  if (self->engine == NULL)
    return NULL;
  self->auth = pd_auth_new ();
  g_signal_connect (self->engine, "plugin-added", G_CALLBACK (on_plugin_added), self);
  g_signal_connect (self->engine, "plugin-removed", G_CALLBACK (on_plugin_removed), self);
  g_signal_connect (self->engine, "plugin-changed", G_CALLBACK (on_plugin_changed), self);
  g_signal_connect (self->engine, "plugin-event", G_CALLBACK (on_plugin_event), self);
  g_signal_connect (self->engine, "operation-added", G_CALLBACK (on_operation_added), self);
  g_signal_connect (self->engine, "operation-finished", G_CALLBACK (on_operation_finished),
                    self);
  return g_steal_pointer (&self);
}

PdEngine *
pd_daemon_get_engine (PdDaemon *self)
{
  return self->engine;
}

gboolean
pd_daemon_start (PdDaemon *self, GDBusConnection *connection, GError **error)
{
  self->connection = g_object_ref (connection);
  self->object_manager = g_dbus_object_manager_server_new (PD_DBUS_ROOT_PATH);
  self->manager = pd_manager_new (self->engine, self->auth, self->object_manager);
  export_interface (self, PD_DBUS_MANAGER_PATH, G_DBUS_INTERFACE_SKELETON (self->manager));

  /* every plugin is exported ("plugin-added") before the connection is set */
  if (!pd_engine_load (self->engine, error))
    return FALSE;

  g_dbus_object_manager_server_set_connection (self->object_manager, connection);
  if (!register_gone_subtrees (self, error))
    return FALSE;

  pd_engine_start (self->engine);
  return TRUE;
}

void
pd_daemon_shutdown (PdDaemon *self, GSourceFunc done, gpointer user_data)
{
  pd_engine_shutdown (self->engine, done, user_data);
}
