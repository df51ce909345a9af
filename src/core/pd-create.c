/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* O_PATH */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "config.h"

#define G_LOG_DOMAIN "pd-create"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd-archive.h"
#include "pd-create.h"
#include "pd-digest.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-oci.h"
#include "pd-transfer.h"

gboolean
pd_create_check_context_fd (int fd, guint64 *size, GError **error)
{
  struct stat st;
  int flags = fcntl (fd, F_GETFL);

  if (flags < 0 || (flags & O_PATH) != 0 ||
      ((flags & O_ACCMODE) != O_RDONLY && (flags & O_ACCMODE) != O_RDWR))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "the context file descriptor must be open for reading");
      return FALSE;
    }
  if (fstat (fd, &st) != 0 || !(S_ISREG (st.st_mode) || S_ISFIFO (st.st_mode) ||
                                S_ISSOCK (st.st_mode)))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "the context must be a regular file, a pipe or a socket");
      return FALSE;
    }
  *size = S_ISREG (st.st_mode) ? (guint64) st.st_size : 0;
  return TRUE;
}

typedef struct {
  PdEngine *engine;
  PdOperation *operation;
  char *name;
  int fd;
  guint64 fd_size;             /* 0 = unknown (pipe, socket) */
  GPtrArray *accepted;         /* PdPrivilege */
  gboolean grant_all;
  PdStore *store;
  char *staging_dir;
  char *helper_path;
  PdArchiveLimits limits;
  PdPullProgress progress;     /* its bytes: read so far, and the size of a regular file */

  /* produced by the worker thread */
  PdPluginRecord *record;
  guint64 disk_usage;
  GPtrArray *written_blobs;    /* digests pinned in the store until the operation ends */
  GError *error;               /* of a failed create, while its staging dir is deleted */
} CreateData;

/* once the plugin's record references them, or the create failed and GC may collect them */
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
  pd_operation_unfollow_progress (data->operation);
  pd_pull_progress_clear (&data->progress);
  unpin_written_blobs (data);
  g_clear_pointer (&data->written_blobs, g_ptr_array_unref);
  g_clear_object (&data->engine);
  g_clear_object (&data->operation);
  g_free (data->name);
  g_clear_pointer (&data->accepted, g_ptr_array_unref);
  g_clear_object (&data->store);
  g_free (data->staging_dir);
  g_free (data->helper_path);
  g_clear_object (&data->record);
  g_clear_error (&data->error);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CreateData, create_data_free)

/* the helper's messages: how far it read, and the blobs it asks the daemon to publish */
static gboolean
create_message_cb (PdTransfer *transfer, const char *kind, GVariant *fields, gpointer user_data,
                   GError **error)
{
  CreateData *data = user_data;
  const char *digest = NULL;
  const char *tmp_name;
  guint64 bytes;

  if (g_str_equal (kind, "progress") && g_variant_lookup (fields, "bytes", "t", &bytes))
    {
      g_mutex_lock (&data->progress.lock);
      data->progress.bytes_done = bytes;
      g_mutex_unlock (&data->progress.lock);
      return TRUE;
    }
  if (!g_str_equal (kind, "commit"))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the transfer helper sent an unknown message");
      return FALSE;
    }
  if (!g_variant_lookup (fields, "digest", "&s", &digest) || !pd_digest_is_valid (digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "the transfer helper sent a commit without its fields");
      return FALSE;
    }
  /* sets @error itself: a missing or long name must not set it twice */
  tmp_name = pd_transfer_lookup_string (fields, "tmp-name", 64, error);
  if (tmp_name == NULL)
    return FALSE;
  if (!pd_store_adopt_blob (data->store, data->staging_dir, tmp_name, digest, error))
    return FALSE;
  g_ptr_array_add (data->written_blobs, g_strdup (digest));
  return pd_transfer_reply (transfer, "committed", NULL, error);
}

static gboolean
is_written_blob (CreateData *data, const char *digest)
{
  for (guint i = 0; i < data->written_blobs->len; i++)
    if (g_str_equal (g_ptr_array_index (data->written_blobs, i), digest))
      return TRUE;
  return FALSE;
}

/* What the helper made, checked as the daemon's own: the config and manifest are blobs it
 * published for this job and hash to their digests, the manifest names them and the layer, the
 * config is valid, and its privileges are the accepted ones (consent is bound to the content:
 * Docker's create checks nothing). The record to commit, or NULL. */
static PdPluginRecord *
create_record (CreateData *data, GVariant *fields, GError **error)
{
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GPtrArray) layers = NULL;
  g_autoptr(PdDescriptor) config_descriptor = NULL;
  g_autoptr(GBytes) config_data = NULL;
  g_autoptr(GBytes) manifest = NULL;
  const char *config_digest = NULL;
  const char *manifest_digest = NULL;
  const char *layer_digests[2] = { NULL, NULL };
  g_autofree char *id = NULL;
  guint64 bytes = 0;

  if (!g_variant_lookup (fields, "config-digest", "&s", &config_digest) ||
      !g_variant_lookup (fields, "manifest-digest", "&s", &manifest_digest) ||
      !g_variant_lookup (fields, "layer-digest", "&s", &layer_digests[0]) ||
      !g_variant_lookup (fields, "disk-usage", "t", &data->disk_usage) ||
      !g_variant_lookup (fields, "bytes-read", "t", &bytes) ||
      !is_written_blob (data, config_digest) || !is_written_blob (data, manifest_digest) ||
      !is_written_blob (data, layer_digests[0]))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "the transfer helper's result names blobs it did not write");
      return NULL;
    }
  g_mutex_lock (&data->progress.lock);
  data->progress.bytes_done = bytes;
  g_mutex_unlock (&data->progress.lock);
  config_data = pd_transfer_lookup_blob (fields, "config", PD_MAX_CONFIG_BLOB_SIZE,
                                         config_digest, error);
  if (config_data == NULL)
    return NULL;
  manifest = pd_transfer_lookup_blob (fields, "manifest", PD_MAX_MANIFEST_SIZE, manifest_digest,
                                      error);
  if (manifest == NULL)
    return NULL;
  if (!pd_oci_parse_manifest (manifest, PD_MEDIA_TYPE_DOCKER_MANIFEST, &config_descriptor,
                              &layers, error))
    return NULL;
  if (!g_str_equal (config_descriptor->digest, config_digest) || layers->len != 1 ||
      !g_str_equal (((PdDescriptor *) g_ptr_array_index (layers, 0))->digest, layer_digests[0]))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "the transfer helper's manifest names other blobs");
      return NULL;
    }
  config = pd_plugin_config_new_for_install (g_bytes_get_data (config_data, NULL),
                                             g_bytes_get_size (config_data), error);
  if (config == NULL)
    return NULL;
  privileges = pd_privileges_compute (config, NULL);
  if (!data->grant_all && !pd_privileges_equal (privileges, data->accepted))
    {
      g_autofree char *computed = pd_privileges_to_string (privileges);
      g_set_error (error, PD_ERROR, PD_ERROR_PRIVILEGES_MISMATCH,
                   "incorrect privileges: the plugin requests [%s]", computed);
      return NULL;
    }
  id = pd_generate_plugin_id ();
  return pd_plugin_record_new (id, data->name, NULL, g_steal_pointer (&config), config_digest,
                               manifest_digest, layer_digests);
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

  pd_operation_complete (data->operation, NULL, data->error);
  /* blobs written for the failed create */
  unpin_written_blobs (data);
  pd_engine_collect_blobs (data->engine);
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
create_transfer_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CreateData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) fields = NULL;
  PdManagedPlugin *plugin = NULL;
  g_auto(GVariantBuilder) results = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  fields = pd_transfer_run_finish (result, &error);
  if (fields != NULL)
    data->record = create_record (data, fields, &error);
  pd_operation_unfollow_progress (data->operation);
  if (error == NULL &&
      g_cancellable_is_cancelled (pd_operation_get_cancellable_object (data->operation)))
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");

  if (error == NULL)
    {
      /* the commit is one rename: from here on the operation cannot be cancelled */
      pd_operation_set_cancellable (data->operation, FALSE);
      pd_operation_set_phase (data->operation, "committing");
      pd_crash_point ("create-before-commit");
      /* the name may have been taken while the archive was read */
      if (pd_engine_lookup_plugin_by_name (data->engine, data->name) != NULL)
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

  plugin = pd_engine_add_plugin (data->engine, data->record);
  pd_managed_plugin_set_disk_usage (plugin, data->disk_usage);
  pd_operation_set_plugin_id (data->operation, pd_managed_plugin_get_id (plugin));
  pd_engine_emit_event_when_finished (data->engine, data->operation, plugin);
  g_message ("created plugin %s (%s)", data->name, pd_plugin_record_get_id (data->record));

  g_variant_builder_add (&results, "{sv}", "plugin-id",
                         g_variant_new_string (pd_plugin_record_get_id (data->record)));
  g_variant_builder_add (&results, "{sv}", "manifest-digest",
                         g_variant_new_string (pd_plugin_record_get_manifest_digest (data->record)));
  g_variant_builder_add (&results, "{sv}", "reference", g_variant_new_string (data->name));
  g_variant_builder_add (&results, "{sv}", "size",
                         g_variant_new_uint64 (data->progress.bytes_done));
  pd_operation_complete (data->operation, g_variant_builder_end (&results), NULL);
}

void
pd_create_start (PdEngine *engine, PdOperation *operation, const char *name, int fd,
                 guint64 fd_size, GPtrArray *accepted, gboolean grant_all)
{
  g_autoptr(CreateData) data = g_new0 (CreateData, 1);
  g_auto(GVariantBuilder) request = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;
  PdArchiveLimits limits;

  data->engine = g_object_ref (engine);
  data->operation = g_object_ref (operation);
  data->name = g_strdup (name);
  data->fd = fd;
  data->fd_size = fd_size;
  data->accepted = g_ptr_array_ref (accepted);
  data->grant_all = grant_all;
  data->store = g_object_ref (pd_engine_get_store (engine));
  data->helper_path = g_strdup (pd_engine_get_helper_path (engine));
  pd_engine_get_archive_limits (engine, &data->limits);
  data->written_blobs = g_ptr_array_new_with_free_func (g_free);
  pd_pull_progress_init (&data->progress);

  data->staging_dir = pd_store_create_staging_dir (data->store, &error);
  if (data->staging_dir == NULL)
    {
      pd_operation_complete (operation, NULL, error);
      return;
    }

  pd_operation_set_phase (operation, "reading-archive");
  pd_operation_set_cancellable (operation, TRUE);
  pd_operation_set_bytes (operation, 0, fd_size);
  data->progress.bytes_total = fd_size;
  pd_operation_follow_progress (operation, &data->progress);

  pd_engine_get_archive_limits (engine, &limits);
  pd_transfer_add_job_fields (&request, &limits, pd_store_get_state_dir (data->store),
                              data->staging_dir, data->helper_path);
  /* the helper reads the context through its own copy of the fd */
  pd_transfer_run_async ("ingest-context", g_variant_builder_end (&request), &data->fd, 1,
                         create_message_cb, data,
                         pd_operation_get_cancellable_object (operation), create_transfer_done,
                         data);
  close (data->fd);
  data->fd = -1;
  data = NULL;
}
