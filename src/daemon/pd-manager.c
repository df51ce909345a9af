/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* O_PATH */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "config.h"

#define G_LOG_DOMAIN "pd-manager"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "pd-archive.h"
#include "pd-digest.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-manager.h"
#include "pd-names.h"
#include "pd-oci.h"
#include "pd-options.h"
#include "pd-plugin.h"
#include "pd-pull-job.h"
#include "pd-reference.h"

struct _PdManager {
  PdDbusManagerSkeleton parent_instance;

  PdDaemon *daemon;   /* not owned: the daemon owns the manager */
};

static void pd_manager_iface_init (PdDbusManagerIface *iface);

G_DEFINE_TYPE_WITH_CODE (PdManager, pd_manager, PD_DBUS_TYPE_MANAGER_SKELETON,
                         G_IMPLEMENT_INTERFACE (PD_DBUS_TYPE_MANAGER, pd_manager_iface_init))

static const char *const create_options[] = {
  "interactive", "b",
  "grant-all-privileges", "b",
  NULL
};

static const char *const get_privileges_options[] = {
  "interactive", "b",
  "registry-auth", "s",
  "platform", "s",
  "settings", "a{ss}",
  "upgrade", "s",
  NULL
};

static const char *const pull_options[] = {
  "interactive", "b",
  "registry-auth", "s",
  "platform", "s",
  "expected-digest", "s",
  "grant-all-privileges", "b",
  "enable", "b",
  "settings", "a{ss}",
  "timeout", "u",
  "activation-timeout", "u",
  NULL
};

/* GetPrivileges answers within default client timeouts (dbus-api.md D2) */
#define GET_PRIVILEGES_DEADLINE_S 15

static void
pd_manager_class_init (PdManagerClass *klass)
{
}

static void
pd_manager_init (PdManager *self)
{
}

static void
set_features (PdManager *self)
{
  g_autoptr(GPtrArray) features = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) compressions = pd_archive_dup_supported_compressions ();

  static const char *const fixed[] = {
    "pull", "push", "create", "upgrade", "enable", "hold", "logs", "inspect-json",
    "setting-values",
    "option:interactive", "option:grant-all-privileges", "option:force", "option:enabled",
    "option:capability", "option:activation-timeout", "option:timeout", "option:stop-timeout",
    "option:lines", "option:follow", "option:registry-auth", "option:platform",
    "option:expected-digest", "option:enable", "option:settings", "option:restart",
    "option:remote", "option:upgrade",
  };

  for (guint i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_ptr_array_add (features, g_strdup (fixed[i]));
  for (guint i = 0; compressions[i] != NULL; i++)
    g_ptr_array_add (features, g_strconcat ("compression:", compressions[i], NULL));
  g_ptr_array_add (features, NULL);
  pd_dbus_manager_set_features (PD_DBUS_MANAGER (self), (const char *const *) features->pdata);
}

PdManager *
pd_manager_new (PdDaemon *daemon)
{
  PdManager *self = g_object_new (PD_TYPE_MANAGER, NULL);

  self->daemon = daemon;
  pd_dbus_manager_set_version (PD_DBUS_MANAGER (self), PACKAGE_VERSION);
  pd_dbus_manager_set_max_jobs (PD_DBUS_MANAGER (self),
                                pd_engine_get_max_jobs (pd_daemon_get_engine (daemon)));
  set_features (self);
  return self;
}

/* GetPlugin, ListPlugins, ListJobs */

static gboolean
handle_get_plugin (PdDbusManager *iface, GDBusMethodInvocation *invocation,
                   const char *arg_name_or_id)
{
  PdManager *self = PD_MANAGER (iface);
  GError *error = NULL;
  PdPlugin *plugin = pd_daemon_resolve_plugin (self->daemon, arg_name_or_id, &error);

  if (plugin == NULL)
    pd_return_gerror (invocation, error);
  else
    pd_dbus_manager_complete_get_plugin (iface, invocation, pd_plugin_get_object_path (plugin));
  return TRUE;
}

static gboolean
handle_list_plugins (PdDbusManager *iface, GDBusMethodInvocation *invocation,
                     GVariant *arg_filters)
{
  PdManager *self = PD_MANAGER (iface);
  static const char *const allowed[] = { "enabled", "b", "capability", "s", NULL };
  g_autoptr(GPtrArray) plugins = NULL;
  GError *error = NULL;
  GVariantBuilder builder;
  gboolean filter_enabled = FALSE, enabled_value = FALSE;
  const char *capability = NULL;

  if (!pd_options_check (arg_filters, allowed, &error))
    {
      pd_return_gerror (invocation, error);
      return TRUE;
    }
  filter_enabled = g_variant_lookup (arg_filters, "enabled", "b", &enabled_value);
  g_variant_lookup (arg_filters, "capability", "&s", &capability);

  plugins = pd_daemon_list_plugins (self->daemon);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssssbo)"));
  for (guint i = 0; i < plugins->len; i++)
    {
      PdPlugin *plugin = g_ptr_array_index (plugins, i);
      PdDbusPlugin *proxy = PD_DBUS_PLUGIN (plugin);
      PdPluginRecord *record = pd_plugin_get_record (plugin);
      gboolean enabled = pd_plugin_record_get_enabled (record);

      if (filter_enabled && enabled != enabled_value)
        continue;
      /* any matching type keeps the plugin (Docker drops plugins with several types) */
      if (capability != NULL &&
          !pd_plugin_config_has_capability (pd_plugin_record_get_config (record), capability))
        continue;
      g_variant_builder_add (&builder, "(ssssbo)", pd_plugin_record_get_id (record),
                             pd_plugin_record_get_name (record),
                             pd_plugin_record_get_reference (record),
                             pd_dbus_plugin_get_state (proxy), enabled,
                             pd_plugin_get_object_path (plugin));
    }
  pd_dbus_manager_complete_list_plugins (iface, invocation, g_variant_builder_end (&builder));
  return TRUE;
}

static gboolean
handle_list_jobs (PdDbusManager *iface, GDBusMethodInvocation *invocation)
{
  PdManager *self = PD_MANAGER (iface);
  g_autoptr(GPtrArray) jobs = pd_daemon_list_jobs (self->daemon);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(usssdo)"));
  for (guint i = 0; i < jobs->len; i++)
    {
      PdJob *job = g_ptr_array_index (jobs, i);
      PdDbusJob *dbus_job = PD_DBUS_JOB (job);
      g_variant_builder_add (&builder, "(usssdo)", pd_job_get_id (job),
                             pd_dbus_job_get_operation (dbus_job),
                             pd_dbus_job_get_remote (dbus_job),
                             pd_dbus_job_get_plugin_name (dbus_job),
                             pd_dbus_job_get_progress (dbus_job),
                             pd_job_get_object_path (job));
    }
  pd_dbus_manager_complete_list_jobs (iface, invocation, g_variant_builder_end (&builder));
  return TRUE;
}

/* Create */

typedef struct {
  PdManager *manager;
  GDBusMethodInvocation *invocation;
  char *name;
  int fd;
  guint64 fd_size;             /* 0 = unknown (pipe, socket) */
  GPtrArray *accepted;         /* PdPrivilege */
  gboolean grant_all;
  GVariant *options;

  /* job phase */
  PdOperation *job;
  PdStore *store;
  char *staging_dir;
  char *helper_path;
  PdPullProgress progress;     /* its bytes: read so far, and the size of a regular file */

  /* produced by the worker thread */
  PdPluginRecord *record;
  guint64 disk_usage;
  GPtrArray *written_blobs;    /* digests pinned in the store until the job ends */
  GError *error;               /* of a failed job, while its staging dir is deleted */
} CreateData;

/* once the plugin's record references them, or the job failed and GC may collect them */
static void
unpin_written_blobs (CreateData *data)
{
  if (data->written_blobs == NULL)
    return;
  for (guint i = 0; i < data->written_blobs->len; i++)
    pd_store_unpin_blob (data->store, g_ptr_array_index (data->written_blobs, i));
  g_ptr_array_set_size (data->written_blobs, 0);
}

static void
create_data_free (CreateData *data)
{
  if (data->fd >= 0)
    close (data->fd);
  if (data->job != NULL)
    pd_operation_unfollow_progress (data->job);
  pd_pull_progress_clear (&data->progress);
  g_clear_object (&data->manager);
  g_clear_object (&data->invocation);
  g_free (data->name);
  g_clear_pointer (&data->accepted, g_ptr_array_unref);
  g_clear_pointer (&data->options, g_variant_unref);
  g_clear_object (&data->job);
  g_free (data->staging_dir);
  g_free (data->helper_path);
  g_clear_object (&data->record);
  unpin_written_blobs (data);
  g_clear_pointer (&data->written_blobs, g_ptr_array_unref);
  g_clear_object (&data->store);
  g_clear_error (&data->error);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CreateData, create_data_free)

/* dbus-api.md D8 rule 1: exactly one fd, in range, readable, not O_PATH, a file/pipe/socket */
static int
take_context_fd (GDBusMethodInvocation *invocation, GVariant *handle, guint64 *size,
                 GError **error)
{
  GUnixFDList *fd_list = g_dbus_message_get_unix_fd_list (
    g_dbus_method_invocation_get_message (invocation));
  gint32 index = g_variant_get_handle (handle);
  struct stat st;
  int fd, flags;

  if (fd_list == NULL || g_unix_fd_list_get_length (fd_list) != 1)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "the message must carry exactly one file descriptor");
      return -1;
    }
  if (index < 0 || index >= g_unix_fd_list_get_length (fd_list))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "file descriptor index %d is out of range", index);
      return -1;
    }
  fd = g_unix_fd_list_get (fd_list, index, error);
  if (fd < 0)
    return -1;
  flags = fcntl (fd, F_GETFL);
  if (flags < 0 || (flags & O_PATH) != 0 ||
      ((flags & O_ACCMODE) != O_RDONLY && (flags & O_ACCMODE) != O_RDWR))
    {
      close (fd);
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "the context file descriptor must be open for reading");
      return -1;
    }
  if (fstat (fd, &st) != 0 || !(S_ISREG (st.st_mode) || S_ISFIFO (st.st_mode) ||
                                S_ISSOCK (st.st_mode)))
    {
      close (fd);
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "the context must be a regular file, a pipe or a socket");
      return -1;
    }
  *size = S_ISREG (st.st_mode) ? (guint64) st.st_size : 0;
  return fd;
}

/* the checks done before and again after authorization */
static gboolean
check_create_allowed (PdManager *self, const char *name, GError **error)
{
  if (pd_daemon_lookup_plugin_by_name (self->daemon, name) != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_EXISTS, "plugin %s already exists", name);
      return FALSE;
    }
  if (pd_daemon_has_running_job_for (self->daemon, name))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY, "plugin %s is already being installed", name);
      return FALSE;
    }
  return TRUE;
}

static void
create_progress_cb (guint64 bytes_read, gpointer user_data)
{
  CreateData *data = user_data;

  g_mutex_lock (&data->progress.lock);
  data->progress.bytes_done = bytes_read;
  g_mutex_unlock (&data->progress.lock);
}

static void
create_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  CreateData *data = task_data;
  PdArchiveLimits limits;
  g_autoptr(PdContextResult) context = NULL;
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GPtrArray) layers = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_descriptor_free);
  g_autoptr(PdDescriptor) config_descriptor = NULL;
  g_autofree char *config_json = NULL;
  g_autofree char *config_digest = NULL;
  g_autofree char *manifest = NULL;
  g_autofree char *manifest_digest = NULL;
  g_autofree char *id = NULL;
  const char *diff_ids[2] = { NULL, NULL };
  const char *layer_digests[2] = { NULL, NULL };
  GError *error = NULL;
  gsize config_len = 0, manifest_len = 0;

  pd_engine_get_archive_limits (pd_daemon_get_engine (data->manager->daemon), &limits);
  context = pd_archive_ingest_context (data->fd, data->store, data->staging_dir,
                                       data->helper_path, &limits, create_progress_cb, data,
                                       cancellable, &error);
  /* the fd is consumed: close it now rather than when the job ends (D8 rule 5) */
  close (data->fd);
  data->fd = -1;
  if (context == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_ptr_array_add (data->written_blobs, g_strdup (context->layer_digest));

  config = pd_plugin_config_new_for_install (g_bytes_get_data (context->config_data, NULL),
                                             g_bytes_get_size (context->config_data), &error);
  if (config == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  /* consent is bound to the content: the privileges of this very config must be the accepted
   * ones (Docker's create checks nothing) */
  privileges = pd_privileges_compute (config, NULL);
  if (!data->grant_all && !pd_privileges_equal (privileges, data->accepted))
    {
      g_autofree char *computed = pd_privileges_to_string (privileges);
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_PRIVILEGES_MISMATCH,
                               "incorrect privileges: the plugin requests [%s]", computed);
      return;
    }

  /* the diff_id is the digest of the uncompressed layer, as OCI says (Docker records the
   * compressed one) */
  diff_ids[0] = context->diff_id;
  pd_plugin_config_set_diff_ids (config, diff_ids);
  config_json = pd_plugin_config_to_data (config, &config_len);
  config_digest = pd_store_put_blob (data->store, config_json, config_len, &error);
  if (config_digest == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_ptr_array_add (data->written_blobs, g_strdup (config_digest));
  config_descriptor = pd_descriptor_new (PD_MEDIA_TYPE_PLUGIN_CONFIG, config_digest, config_len);
  g_ptr_array_add (layers, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP,
                                              context->layer_digest, context->layer_size));
  manifest = pd_oci_build_manifest (config_descriptor, layers, &manifest_len);
  manifest_digest = pd_store_put_blob (data->store, manifest, manifest_len, &error);
  if (manifest_digest == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_ptr_array_add (data->written_blobs, g_strdup (manifest_digest));

  data->disk_usage = pd_store_get_staging_disk_usage (data->store, data->staging_dir);
  if (!pd_store_sync (data->store, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  id = pd_generate_plugin_id ();
  layer_digests[0] = context->layer_digest;
  data->record = pd_plugin_record_new (id, data->name, NULL, g_steal_pointer (&config),
                                       config_digest, manifest_digest, layer_digests);
  g_task_return_boolean (task, TRUE);
}

static void
create_discard_thread (GTask *task, gpointer source, gpointer task_data,
                       GCancellable *cancellable)
{
  CreateData *data = task_data;
  g_autoptr(GError) error = NULL;

  if (data->staging_dir != NULL &&
      !pd_store_discard_staging_dir (data->store, data->staging_dir, &error))
    g_warning ("cannot remove staging dir %s: %s", data->staging_dir, error->message);
  g_task_return_boolean (task, TRUE);
}

static void
create_discarded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CreateData) data = user_data;

  pd_operation_complete (data->job, NULL, data->error);
  /* blobs written for the failed create */
  unpin_written_blobs (data);
  pd_daemon_collect_blobs (data->manager->daemon);
}

/* a failed create ends once what it staged is gone: deleting a large rootfs takes a while, so
 * not on the main thread. Takes @data and @error. */
static void
create_fail (CreateData *data, GError *error)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, create_discarded_cb, data);

  g_message ("creating plugin %s failed: %s", data->name, error->message);
  data->error = error;
  g_task_set_task_data (task, data, NULL);
  g_task_run_in_thread (task, create_discard_thread);
}

static void
create_thread_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CreateData) data = user_data;
  PdManager *self = data->manager;
  g_autoptr(GError) error = NULL;
  PdPlugin *plugin = NULL;
  g_auto(GVariantBuilder) results = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  pd_operation_unfollow_progress (data->job);
  if (g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (g_cancellable_is_cancelled (pd_operation_get_cancellable_object (data->job)))
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
    }

  if (error == NULL)
    {
      /* the commit is one rename: from here on the job cannot be cancelled */
      pd_operation_set_cancellable (data->job, FALSE);
      pd_operation_set_phase (data->job, "committing");
      pd_crash_point ("create-before-commit");
      /* the name may have been taken while the archive was read */
      if (pd_daemon_lookup_plugin_by_name (self->daemon, data->name) != NULL)
        g_set_error (&error, PD_ERROR, PD_ERROR_PLUGIN_EXISTS, "plugin %s already exists",
                     data->name);
      else if (pd_store_commit_new_plugin (data->store, data->record, data->staging_dir, &error))
        g_clear_pointer (&data->staging_dir, g_free);
    }

  if (error != NULL)
    {
      create_fail (g_steal_pointer (&data), g_steal_pointer (&error));
      return;
    }

  plugin = pd_daemon_add_plugin (self->daemon, data->record);
  pd_plugin_set_disk_usage (plugin, data->disk_usage);
  pd_operation_set_plugin_id (data->job, pd_plugin_record_get_id (data->record));
  pd_daemon_emit_event_when_finished (self->daemon, data->job, plugin);
  g_message ("created plugin %s (%s)", data->name, pd_plugin_record_get_id (data->record));

  g_variant_builder_add (&results, "{sv}", "plugin-id",
                         g_variant_new_string (pd_plugin_record_get_id (data->record)));
  g_variant_builder_add (&results, "{sv}", "manifest-digest",
                         g_variant_new_string (pd_plugin_record_get_manifest_digest (data->record)));
  g_variant_builder_add (&results, "{sv}", "reference", g_variant_new_string (data->name));
  g_variant_builder_add (&results, "{sv}", "size", g_variant_new_uint64 (data->progress.bytes_done));
  pd_operation_complete (data->job, g_variant_builder_end (&results), NULL);
}

static void
create_start_job (CreateData *data, guint32 uid)
{
  PdManager *self = data->manager;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;

  if (!check_create_allowed (self, data->name, &error))
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      create_data_free (data);
      return;
    }
  data->job = pd_daemon_new_job (self->daemon, "create", "", data->name, uid, &error);
  if (data->job == NULL)
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      create_data_free (data);
      return;
    }
  g_object_ref (data->job);
  data->store = g_object_ref (pd_engine_get_store (pd_daemon_get_engine (self->daemon)));
  data->written_blobs = g_ptr_array_new_with_free_func (g_free);
  data->helper_path = g_strdup (pd_engine_get_helper_path (pd_daemon_get_engine (self->daemon)));
  data->staging_dir = pd_store_create_staging_dir (data->store, &error);
  {
    g_autofree char *path = pd_job_dup_object_path_for (pd_operation_get_id (data->job));
    pd_dbus_manager_complete_create (PD_DBUS_MANAGER (self), data->invocation, path);
  }
  g_clear_object (&data->invocation);

  if (data->staging_dir == NULL)
    {
      pd_operation_complete (data->job, NULL, error);
      create_data_free (data);
      return;
    }

  pd_operation_set_phase (data->job, "reading-archive");
  pd_operation_set_cancellable (data->job, TRUE);
  pd_operation_set_bytes (data->job, 0, data->fd_size);
  data->progress.bytes_total = data->fd_size;
  pd_operation_follow_progress (data->job, &data->progress);

  task = g_task_new (NULL, pd_operation_get_cancellable_object (data->job), create_thread_done, data);
  g_task_set_task_data (task, data, NULL);
  g_task_run_in_thread (task, create_thread);
}

static void
create_got_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CreateData *data = user_data;
  g_autoptr(GError) error = NULL;
  guint32 uid = 0;

  if (!pd_auth_get_caller_uid_finish (PD_AUTH (source), result, &uid, &error))
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      create_data_free (data);
      return;
    }
  create_start_job (data, uid);
}

static void
create_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CreateData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      create_data_free (data);
      return;
    }
  pd_auth_get_caller_uid_async (PD_AUTH (source), data->invocation, create_got_uid_cb, data);
}

static gboolean
handle_create (PdDbusManager *iface, GDBusMethodInvocation *invocation, const char *arg_name,
               GVariant *arg_context, GVariant *arg_privileges, GVariant *arg_options)
{
  PdManager *self = PD_MANAGER (iface);
  g_autoptr(CreateData) data = g_new0 (CreateData, 1);
  g_autoptr(GHashTable) details = NULL;
  GError *error = NULL;
  gboolean privileged;

  data->fd = -1;
  pd_pull_progress_init (&data->progress);
  data->manager = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->options = g_variant_ref (arg_options);
  if (!pd_options_check (arg_options, create_options, &error))
    goto fail;
  data->name = pd_reference_local_name (arg_name, &error);
  if (data->name == NULL)
    goto fail;
  if (!check_create_allowed (self, data->name, &error))
    goto fail;
  data->accepted = pd_privileges_new_from_variant (arg_privileges);
  data->grant_all = pd_options_get_boolean (arg_options, "grant-all-privileges", FALSE);
  /* flags and type only: the fd is not read before authorization */
  data->fd = take_context_fd (invocation, arg_context, &data->fd_size, &error);
  if (data->fd < 0)
    goto fail;

  privileged = data->grant_all || data->accepted->len > 0;
  details = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_hash_table_insert (details, "plugin", g_strdup (data->name));
  g_hash_table_insert (details, "operation", g_strdup ("create"));
  if (privileged)
    g_hash_table_insert (details, "privileges", data->grant_all
                                                  ? g_strdup ("all the plugin requests")
                                                  : pd_privileges_to_string (data->accepted));
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation,
                       privileged ? PD_ACTION_INSTALL_PRIVILEGED : PD_ACTION_INSTALL, details,
                       arg_options, create_authorized_cb, g_steal_pointer (&data));
  return TRUE;

fail:
  pd_return_gerror (invocation, error);
  return TRUE;
}

/* GetPrivileges, Pull */

/* the details every remote operation shows polkit */
static GHashTable *
remote_details (const PdReference *ref, const char *operation)
{
  GHashTable *details = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autofree char *familiar = pd_reference_familiar (ref);

  g_hash_table_insert (details, "remote", g_steal_pointer (&familiar));
  g_hash_table_insert (details, "registry", g_strdup (ref->domain));
  g_hash_table_insert (details, "operation", g_strdup (operation));
  return details;
}

typedef struct {
  PdManager *manager;
  GDBusMethodInvocation *invocation;
  PdPullJobRequest *request;
  GCancellable *cancellable;
  guint deadline_source;
  gboolean deadline_passed;
  PdRemotePlugin *remote;
  /* "upgrade": the installed plugin whose settings Upgrade would carry over */
  PdPluginConfig *old_config;
  PdPluginSettings *old_settings;
  GMutex lock;
  char *last_problem;   /* the registry client's last log line (a retry), under lock */
} GetPrivilegesData;

static void
get_privileges_data_free (GetPrivilegesData *data)
{
  g_clear_handle_id (&data->deadline_source, g_source_remove);
  g_clear_object (&data->manager);
  g_clear_object (&data->invocation);
  g_clear_pointer (&data->request, pd_pull_job_request_free);
  g_clear_object (&data->cancellable);
  g_clear_pointer (&data->remote, pd_remote_plugin_free);
  g_clear_pointer (&data->old_config, pd_plugin_config_free);
  g_clear_pointer (&data->old_settings, pd_plugin_settings_free);
  g_mutex_clear (&data->lock);
  g_free (data->last_problem);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GetPrivilegesData, get_privileges_data_free)

/* the worker thread's retries, so that a deadline can say what went wrong */
static void
get_privileges_log_cb (const char *line, gpointer user_data)
{
  GetPrivilegesData *data = user_data;

  g_mutex_lock (&data->lock);
  g_free (data->last_problem);
  data->last_problem = g_strdup (line);
  g_mutex_unlock (&data->lock);
}

static void
get_privileges_thread (GTask *task, gpointer source, gpointer task_data,
                       GCancellable *cancellable)
{
  GetPrivilegesData *data = task_data;
  g_autoptr(PdRegistryClient) client = NULL;
  PdEngine *engine = pd_daemon_get_engine (data->manager->daemon);
  GError *error = NULL;

  client = pd_registry_client_new (pd_engine_get_config (engine), data->request->remote,
                                   data->request->registry_auth, FALSE, &error);
  if (client != NULL)
    {
      pd_registry_client_set_log_func (client, get_privileges_log_cb, data);
      data->remote = pd_pull_resolve (client, data->request->remote, data->request->platform,
                                      NULL, cancellable, &error);
    }
  if (data->remote == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static gboolean
get_privileges_deadline_cb (gpointer user_data)
{
  GetPrivilegesData *data = user_data;

  data->deadline_source = 0;
  data->deadline_passed = TRUE;
  g_cancellable_cancel (data->cancellable);
  return G_SOURCE_REMOVE;
}

static void
get_privileges_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GetPrivilegesData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autofree char *reference = NULL;
  g_auto(GVariantBuilder) info = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  const PdPluginConfig *config;
  const char *const empty[] = { NULL };
  guint64 size = 0;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      if (data->deadline_passed)
        {
          g_clear_error (&error);
          g_set_error (&error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                       "the registry did not answer within %d s%s%s%s",
                       GET_PRIVILEGES_DEADLINE_S, data->last_problem != NULL ? " (" : "",
                       data->last_problem != NULL ? data->last_problem : "",
                       data->last_problem != NULL ? ")" : "");
        }
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  config = data->remote->config;
  /* what Pull or Upgrade with the same settings will compare the accepted list with */
  settings = pd_plugin_settings_for_install (config, data->old_settings, data->old_config,
                                             data->request->settings, &error);
  if (settings == NULL)
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  privileges = pd_privileges_compute (config, settings);
  reference = pd_reference_to_string (data->request->remote);
  for (guint i = 0; i < data->remote->layers->len; i++)
    size += ((PdDescriptor *) g_ptr_array_index (data->remote->layers, i))->size;
  g_variant_builder_add (&info, "{sv}", "manifest-digest",
                         g_variant_new_string (data->remote->digest));
  g_variant_builder_add (&info, "{sv}", "reference", g_variant_new_string (reference));
  g_variant_builder_add (&info, "{sv}", "description",
                         g_variant_new_string (config->description != NULL ? config->description
                                                                           : ""));
  g_variant_builder_add (&info, "{sv}", "interface-types",
                         g_variant_new_strv (config->interface_types != NULL
                                               ? (const char *const *) config->interface_types
                                               : empty, -1));
  g_variant_builder_add (&info, "{sv}", "size", g_variant_new_uint64 (size));
  pd_dbus_manager_complete_get_privileges (PD_DBUS_MANAGER (data->manager),
                                           data->invocation,
                                           pd_privileges_to_variant (privileges),
                                           g_variant_builder_end (&info));
}

static void
get_privileges_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GetPrivilegesData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  data->cancellable = g_cancellable_new ();
  data->deadline_source = g_timeout_add_seconds (GET_PRIVILEGES_DEADLINE_S,
                                                 get_privileges_deadline_cb, data);
  task = g_task_new (NULL, data->cancellable, get_privileges_done, data);
  g_task_set_task_data (task, g_steal_pointer (&data), NULL);
  g_task_run_in_thread (task, get_privileges_thread);
}

static gboolean
handle_get_privileges (PdDbusManager *iface, GDBusMethodInvocation *invocation,
                       const char *arg_remote, GVariant *arg_options)
{
  PdManager *self = PD_MANAGER (iface);
  g_autoptr(GetPrivilegesData) data = g_new0 (GetPrivilegesData, 1);
  g_autoptr(GHashTable) details = NULL;
  const char *upgrade = NULL;
  GError *error = NULL;

  data->manager = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->request = pd_pull_job_request_new ();
  g_mutex_init (&data->lock);
  if (!pd_options_check (arg_options, get_privileges_options, &error) ||
      !pd_pull_job_request_parse_options (data->request, arg_options, &error) ||
      !pd_pull_job_request_set_remote (data->request, arg_remote, &error))
    {
      pd_return_gerror (invocation, error);
      return TRUE;
    }
  if (g_variant_lookup (arg_options, "upgrade", "&s", &upgrade))
    {
      PdPlugin *plugin = pd_daemon_resolve_plugin (self->daemon, upgrade, &error);
      PdPluginRecord *record;

      if (plugin == NULL)
        {
          pd_return_gerror (invocation, error);
          return TRUE;
        }
      record = pd_plugin_get_record (plugin);
      data->old_config = pd_plugin_config_copy (pd_plugin_record_get_config (record));
      data->old_settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (record));
    }
  details = remote_details (data->request->remote, "query-remote");
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation, PD_ACTION_QUERY_REMOTE,
                       details, arg_options, get_privileges_authorized_cb,
                       g_steal_pointer (&data));
  return TRUE;
}

typedef struct {
  PdManager *manager;
  GDBusMethodInvocation *invocation;
  PdPullJobRequest *request;
} PullCallData;

static void
pull_call_data_free (PullCallData *data)
{
  g_clear_object (&data->manager);
  g_clear_object (&data->invocation);
  g_clear_pointer (&data->request, pd_pull_job_request_free);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PullCallData, pull_call_data_free)

/* Docker's getName (docker-plugins.md 1.2 step 3): "" → the remote, tag kept (":latest"
 * implied), digest dropped */
static char *
pull_local_name (const PdReference *remote, const char *name, GError **error)
{
  g_autoptr(PdReference) tagged = NULL;

  if (*name != '\0')
    return pd_reference_local_name (name, error);
  tagged = pd_reference_copy (remote);
  g_clear_pointer (&tagged->digest, g_free);
  if (tagged->tag == NULL)
    tagged->tag = g_strdup ("latest");
  return pd_reference_familiar (tagged);
}

static void
pull_got_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PullCallData) data = user_data;
  PdManager *self = data->manager;
  g_autoptr(GError) error = NULL;
  g_autofree char *remote = NULL;
  g_autofree char *path = NULL;
  PdOperation *job;
  guint32 uid = 0;

  if (!pd_auth_get_caller_uid_finish (PD_AUTH (source), result, &uid, &error) ||
      !check_create_allowed (self, data->request->name, &error))
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  remote = pd_reference_to_string (data->request->remote);
  job = pd_daemon_new_job (self->daemon, "pull", remote, data->request->name, uid, &error);
  if (job == NULL)
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  path = pd_job_dup_object_path_for (pd_operation_get_id (job));
  pd_dbus_manager_complete_pull (PD_DBUS_MANAGER (self), data->invocation, path);
  pd_pull_job_start (self->daemon, job, g_steal_pointer (&data->request));
}

static void
pull_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PullCallData) data = user_data;
  g_autoptr(GError) error = NULL;
  GDBusMethodInvocation *invocation = data->invocation;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (data->invocation, g_steal_pointer (&error));
      return;
    }
  pd_auth_get_caller_uid_async (PD_AUTH (source), invocation, pull_got_uid_cb,
                                g_steal_pointer (&data));
}

static gboolean
handle_pull (PdDbusManager *iface, GDBusMethodInvocation *invocation, const char *arg_remote,
             const char *arg_name, GVariant *arg_privileges, GVariant *arg_options)
{
  PdManager *self = PD_MANAGER (iface);
  g_autoptr(PullCallData) data = g_new0 (PullCallData, 1);
  g_autoptr(GHashTable) details = NULL;
  PdPullJobRequest *request;
  GError *error = NULL;
  gboolean privileged;

  data->manager = g_object_ref (self);
  data->invocation = g_object_ref (invocation);
  data->request = request = pd_pull_job_request_new ();
  if (!pd_options_check (arg_options, pull_options, &error) ||
      !pd_pull_job_request_parse_options (request, arg_options, &error) ||
      !pd_pull_job_request_set_remote (request, arg_remote, &error) ||
      (request->name = pull_local_name (request->remote, arg_name, &error)) == NULL ||
      !check_create_allowed (self, request->name, &error))
    {
      pd_return_gerror (invocation, error);
      return TRUE;
    }
  request->accepted = pd_privileges_new_from_variant (arg_privileges);

  privileged = request->grant_all || request->accepted->len > 0;
  details = remote_details (request->remote, "pull");
  g_hash_table_insert (details, "plugin", g_strdup (request->name));
  if (privileged)
    g_hash_table_insert (details, "privileges", request->grant_all
                                                  ? g_strdup ("all the plugin requests")
                                                  : pd_privileges_to_string (request->accepted));
  pd_auth_check_async (pd_daemon_get_auth (self->daemon), invocation,
                       privileged ? PD_ACTION_INSTALL_PRIVILEGED : PD_ACTION_INSTALL, details,
                       arg_options, pull_authorized_cb, g_steal_pointer (&data));
  return TRUE;
}

static void
pd_manager_iface_init (PdDbusManagerIface *iface)
{
  iface->handle_get_plugin = handle_get_plugin;
  iface->handle_list_plugins = handle_list_plugins;
  iface->handle_list_jobs = handle_list_jobs;
  iface->handle_create = handle_create;
  iface->handle_get_privileges = handle_get_privileges;
  iface->handle_pull = handle_pull;
}
