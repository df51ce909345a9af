/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-publish"

#include <string.h>

#include "pd-error.h"
#include "pd-publish.h"
#include "pd-push.h"
#include "pd-transfer.h"

PdReference *
pd_publish_parse_target (PdManagedPlugin *plugin, const char *remote, GError **error)
{
  g_autoptr(PdReference) target = NULL;

  if (*remote == '\0')
    remote = pd_plugin_record_get_reference (pd_managed_plugin_get_record (plugin));
  target = pd_reference_parse (remote, error);
  if (target == NULL)
    return NULL;
  if (target->digest != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "cannot push to a digest: give a tag");
      return NULL;
    }
  if (target->tag == NULL)
    target->tag = g_strdup ("latest");
  return g_steal_pointer (&target);
}

typedef struct {
  PdEngine *engine;
  PdOperation *operation;
  PdManagedPlugin *plugin;
  PdReference *target;
  char *registry_auth;
  char *manifest_digest;
  char *mount_from;
  PdStore *store;
  PdPullProgress progress;
  guint64 manifest_size;
} PushData;

static void
push_data_free (PushData *data)
{
  pd_operation_unfollow_progress (data->operation);
  g_clear_object (&data->engine);
  g_clear_object (&data->operation);
  g_clear_object (&data->plugin);
  g_clear_pointer (&data->target, pd_reference_free);
  if (data->registry_auth != NULL)
    memset (data->registry_auth, 0, strlen (data->registry_auth));
  g_free (data->registry_auth);
  g_free (data->manifest_digest);
  g_free (data->mount_from);
  g_clear_object (&data->store);
  pd_pull_progress_clear (&data->progress);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PushData, push_data_free)

static gboolean
push_message_cb (PdTransfer *transfer, const char *kind, GVariant *fields, gpointer user_data,
                 GError **error)
{
  PushData *data = user_data;

  if (g_str_equal (kind, "log"))
    return pd_transfer_log_to_operation (data->operation, fields, error);
  if (g_str_equal (kind, "progress"))
    return pd_transfer_apply_progress (&data->progress, fields, error);
  g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the transfer helper sent an unknown message");
  return FALSE;
}

static void
push_transfer_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PushData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) fields = NULL;
  g_autofree char *reference = pd_reference_to_string (data->target);
  g_auto(GVariantBuilder) results = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  pd_operation_unfollow_progress (data->operation);
  fields = pd_transfer_run_finish (result, &error);
  if (fields != NULL && !g_variant_lookup (fields, "manifest-size", "t", &data->manifest_size))
    g_set_error (&error, PD_ERROR, PD_ERROR_FAILED, "the transfer helper gave no manifest size");
  if (error != NULL)
    {
      g_message ("push of %s failed: %s", reference, error->message);
      pd_operation_complete (data->operation, NULL, error);
      return;
    }
  g_message ("pushed %s as %s", pd_managed_plugin_get_name (data->plugin), reference);
  pd_engine_emit_event_when_finished (data->engine, data->operation, data->plugin);
  g_variant_builder_add (&results, "{sv}", "reference", g_variant_new_string (reference));
  g_variant_builder_add (&results, "{sv}", "manifest-digest",
                         g_variant_new_string (data->manifest_digest));
  g_variant_builder_add (&results, "{sv}", "size", g_variant_new_uint64 (data->manifest_size));
  pd_operation_complete (data->operation, g_variant_builder_end (&results), NULL);
}

void
pd_publish_start (PdEngine *engine, PdOperation *operation, PdManagedPlugin *plugin,
                  PdReference *target, char *registry_auth)
{
  g_autoptr(PushData) data = g_new0 (PushData, 1);
  g_auto(GVariantBuilder) request = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *reference = NULL;
  PdPluginRecord *record = pd_managed_plugin_get_record (plugin);
  const char *remote = pd_plugin_record_get_remote (record);
  g_autoptr(PdReference) source = NULL;

  data->engine = g_object_ref (engine);
  data->operation = g_object_ref (operation);
  data->plugin = g_object_ref (plugin);
  data->target = target;
  data->registry_auth = registry_auth;
  data->store = g_object_ref (pd_engine_get_store (engine));
  data->manifest_digest = g_strdup (pd_plugin_record_get_manifest_digest (record));
  pd_pull_progress_init (&data->progress);
  /* the job's Plugin: known from the start, unlike a pull's */
  pd_operation_set_plugin_id (operation, pd_managed_plugin_get_id (plugin));
  /* the repository it came from, on the same registry, may lend its blobs */
  source = remote != NULL ? pd_reference_parse (remote, NULL) : NULL;
  if (source != NULL && g_str_equal (source->domain, target->domain) &&
      !g_str_equal (source->path, target->path))
    data->mount_from = g_strdup (source->path);

  if (data->manifest_digest == NULL)
    {
      g_autoptr(GError) error = g_error_new (PD_ERROR, PD_ERROR_FAILED,
                                             "plugin %s has no manifest to push",
                                             pd_plugin_record_get_name (record));
      pd_operation_complete (operation, NULL, error);
      return;
    }
  pd_operation_set_phase (operation, "uploading");
  pd_operation_set_cancellable (operation, TRUE);
  pd_operation_follow_progress (operation, &data->progress);
  /* the credentials go over the helper's socket, never in its argv or environment */
  reference = pd_reference_to_string (data->target);
  g_variant_builder_add (&request, "{sv}", "reference", g_variant_new_string (reference));
  if (data->registry_auth != NULL && *data->registry_auth != '\0')
    g_variant_builder_add (&request, "{sv}", "registry-auth",
                           g_variant_new_string (data->registry_auth));
  pd_transfer_add_registry_config (&request, pd_engine_get_config (engine));
  g_variant_builder_add (&request, "{sv}", "state-dir",
                         g_variant_new_string (pd_store_get_state_dir (data->store)));
  g_variant_builder_add (&request, "{sv}", "manifest-digest",
                         g_variant_new_string (data->manifest_digest));
  if (data->mount_from != NULL)
    g_variant_builder_add (&request, "{sv}", "mount-from",
                           g_variant_new_string (data->mount_from));
  pd_transfer_run_async ("push", g_variant_builder_end (&request), NULL, 0, push_message_cb,
                         data, pd_operation_get_cancellable_object (operation),
                         push_transfer_done, data);
  data = NULL;
}
