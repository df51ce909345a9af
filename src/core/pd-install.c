/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-install"

#include <string.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-install.h"
#include "pd-options.h"
#include "pd-registry.h"
#include "pd-transfer.h"

PdInstallRequest *
pd_install_request_new (void)
{
  return g_new0 (PdInstallRequest, 1);
}

void
pd_install_request_free (PdInstallRequest *request)
{
  if (request == NULL)
    return;
  g_clear_pointer (&request->remote, pd_reference_free);
  g_free (request->name);
  g_clear_object (&request->plugin);
  g_clear_pointer (&request->accepted, g_ptr_array_unref);
  if (request->registry_auth != NULL)
    memset (request->registry_auth, 0, strlen (request->registry_auth));
  g_free (request->registry_auth);
  g_free (request->platform);
  g_free (request->expected_digest);
  g_clear_pointer (&request->settings, g_ptr_array_unref);
  g_free (request);
}

gboolean
pd_install_request_set_remote (PdInstallRequest *request, const char *remote, GError **error)
{
  g_clear_pointer (&request->remote, pd_reference_free);
  request->remote = pd_reference_parse (remote, error);
  if (request->remote == NULL)
    return FALSE;
  /* Docker's TagNameOnly: "repo" means "repo:latest", and says so in every result */
  if (request->remote->tag == NULL && request->remote->digest == NULL)
    request->remote->tag = g_strdup ("latest");
  return TRUE;
}

gboolean
pd_install_check_registry_auth (const char *registry_auth, GError **error)
{
  /* the transfer helper refuses it too, but only after the daemon has started it and written
   * the whole request on its main thread */
  if (strlen (registry_auth) > PD_REGISTRY_AUTH_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "registry-auth is longer than %d bytes", PD_REGISTRY_AUTH_MAX);
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_install_request_parse_options (PdInstallRequest *request, GVariant *options, GError **error)
{
  g_autoptr(GVariant) settings = NULL;
  const char *text;

  if (g_variant_lookup (options, "registry-auth", "&s", &text) && *text != '\0')
    {
      if (!pd_install_check_registry_auth (text, error))
        return FALSE;
      request->registry_auth = g_strdup (text);
    }
  if (g_variant_lookup (options, "platform", "&s", &text))
    {
      g_auto(GStrv) parts = g_strsplit (text, "/", -1);
      guint n = g_strv_length (parts);

      if (n < 2 || n > 3 || *parts[0] == '\0' || *parts[1] == '\0' ||
          (n == 3 && *parts[2] == '\0') || pd_string_has_control_chars (text))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                       "Option 'platform' must be os/arch[/variant], e.g. linux/amd64");
          return FALSE;
        }
      request->platform = g_strdup (text);
    }
  if (g_variant_lookup (options, "expected-digest", "&s", &text))
    {
      if (!pd_digest_is_valid (text))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                       "Option 'expected-digest' must be sha256:<64 hex digits>");
          return FALSE;
        }
      request->expected_digest = g_strdup (text);
    }
  request->grant_all = pd_options_get_boolean (options, "grant-all-privileges", FALSE);
  request->enable = pd_options_get_boolean (options, "enable", FALSE) ||
                    pd_options_get_boolean (options, "restart", FALSE);
  /* as Enable checks it: a job must not keep a plugin starting (and itself running) for days */
  if (!pd_options_check_timeout (options, "activation-timeout", error))
    return FALSE;
  g_variant_lookup (options, "timeout", "u", &request->request_timeout);
  g_variant_lookup (options, "activation-timeout", "u", &request->activation_timeout);
  settings = g_variant_lookup_value (options, "settings", G_VARIANT_TYPE ("a(ss)"));
  if (settings != NULL)
    {
      request->settings = pd_settings_changes_new_from_variant (settings, error);
      if (request->settings == NULL)
        return FALSE;
    }
  return TRUE;
}

char *
pd_install_local_name (const PdReference *remote, const char *name, GError **error)
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

/* section: the job's state */

typedef struct {
  PdEngine *engine;
  PdOperation *operation;
  PdInstallRequest *request;
  PdStore *store;
  const PdDaemonConfig *config; /* the engine's; it outlives every operation */
  PdFetchTable *fetches;
  char *helper_path;
  PdArchiveLimits limits;
  char *staging_dir;
  PdPullProgress progress;

  /* upgrade: the plugin's settings when the job started */
  PdPluginSettings *old_settings;

  /* the transfer helper: its claims in the fetch table (digest), one waiting for another job */
  PdTransfer *transfer;
  GHashTable *claims;
  char *pending_claim;
  guint claim_retry;

  /* from the helper */
  PdRemotePlugin *remote;
  PdPluginSettings *settings;
  guint64 disk_usage;
  GPtrArray *pinned_blobs;

  /* the main thread's outcome */
  PdManagedPlugin *plugin;
  GError *error;
  gboolean restart;             /* the upgraded plugin was running and is started again */
} PullData;

static void
unpin_blobs (PullData *data)
{
  for (guint i = 0; data->pinned_blobs != NULL && i < data->pinned_blobs->len; i++)
    pd_store_unpin_blob (data->store, g_ptr_array_index (data->pinned_blobs, i));
  if (data->pinned_blobs != NULL)
    g_ptr_array_set_size (data->pinned_blobs, 0);
}

static void release_claims (PullData *data);

static void
pull_data_free (PullData *data)
{
  if (data->operation != NULL)
    pd_operation_unfollow_progress (data->operation);
  release_claims (data);
  g_clear_pointer (&data->claims, g_hash_table_unref);
  unpin_blobs (data);
  g_clear_pointer (&data->pinned_blobs, g_ptr_array_unref);
  g_clear_object (&data->operation);
  g_clear_object (&data->engine);
  g_clear_pointer (&data->request, pd_install_request_free);
  g_clear_object (&data->store);
  g_free (data->helper_path);
  g_free (data->staging_dir);
  pd_pull_progress_clear (&data->progress);
  g_clear_pointer (&data->old_settings, pd_plugin_settings_free);
  g_clear_pointer (&data->remote, pd_remote_plugin_free);
  g_clear_pointer (&data->settings, pd_plugin_settings_free);
  g_clear_object (&data->plugin);
  g_clear_error (&data->error);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PullData, pull_data_free)

/* section: the transfer helper's questions, on the main thread */

/* how often a claim of a blob another job downloads is tried again */
#define CLAIM_RETRY_MS 100

static gboolean
release_claim (PullData *data, const char *digest)
{
  if (!g_hash_table_remove (data->claims, digest))
    return FALSE;
  pd_fetch_table_release (data->fetches, digest);
  return TRUE;
}

static void
release_claims (PullData *data)
{
  GHashTableIter iter;
  gpointer digest;

  g_clear_handle_id (&data->claim_retry, g_source_remove);
  g_clear_pointer (&data->pending_claim, g_free);
  if (data->claims == NULL)
    return;
  g_hash_table_iter_init (&iter, data->claims);
  while (g_hash_table_iter_next (&iter, &digest, NULL))
    {
      pd_fetch_table_release (data->fetches, digest);
      g_hash_table_iter_remove (&iter);
    }
}

static gboolean
answer_claim (PullData *data, gboolean waited, GError **error)
{
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (&fields, "{sv}", "waited", g_variant_new_boolean (waited));
  return pd_transfer_reply (data->transfer, "claimed", g_variant_builder_end (&fields), error);
}

/* a blob another job downloads: tried again until that job is done with it */
static gboolean
claim_retry_cb (gpointer user_data)
{
  PullData *data = user_data;
  g_autoptr(GError) error = NULL;

  if (!pd_fetch_table_try_claim (data->fetches, data->pending_claim))
    return G_SOURCE_CONTINUE;
  data->claim_retry = 0;
  g_hash_table_add (data->claims, g_steal_pointer (&data->pending_claim));
  /* a helper that does not read is killed at the job's end, or by Cancel */
  if (!answer_claim (data, TRUE, &error))
    g_debug ("%s", error->message);
  return G_SOURCE_REMOVE;
}

static gboolean
pull_resolved (PullData *data, GVariant *fields, GError **error)
{
  PdInstallRequest *request = data->request;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) privileges = NULL;

  if (data->remote != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the transfer helper resolved twice");
      return FALSE;
    }
  data->remote = pd_transfer_get_remote (fields, error);
  if (data->remote == NULL)
    return FALSE;
  /* the helper checked it already; a second look costs nothing */
  if (request->expected_digest != NULL &&
      !g_str_equal (data->remote->digest, request->expected_digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "the reference now resolves to %s, not the expected %s",
                   data->remote->digest, request->expected_digest);
      return FALSE;
    }

  /* consent covers what will run: the new config with the settings it will have */
  pd_operation_set_phase (data->operation, "checking-privileges");
  settings = pd_plugin_settings_for_install (data->remote->config, data->old_settings,
                                             request->settings, error);
  if (settings == NULL)
    return FALSE;
  privileges = pd_privileges_compute (data->remote->config, settings);
  if (!request->grant_all && !pd_privileges_equal (privileges, request->accepted))
    {
      g_autofree char *computed = pd_privileges_to_string (privileges);
      g_set_error (error, PD_ERROR, PD_ERROR_PRIVILEGES_MISMATCH,
                   "incorrect privileges: the plugin requests [%s]", computed);
      return FALSE;
    }
  data->settings = g_steal_pointer (&settings);
  pd_operation_set_phase (data->operation, "downloading");
  pd_pull_progress_start (&data->progress, data->remote->layers);
  return pd_transfer_reply (data->transfer, "go", NULL, error);
}

/* a blob the resolved manifest names: a layer, the config, the manifest itself */
static gboolean
job_names_blob (PullData *data, const char *digest)
{
  if (g_str_equal (digest, data->remote->config_digest) ||
      g_str_equal (digest, data->remote->manifest_digest))
    return TRUE;
  for (guint i = 0; i < data->remote->layers->len; i++)
    if (g_str_equal (((PdDescriptor *) g_ptr_array_index (data->remote->layers, i))->digest,
                     digest))
      return TRUE;
  return FALSE;
}

static gboolean
pull_message_cb (PdTransfer *transfer, const char *kind, GVariant *fields, gpointer user_data,
                 GError **error)
{
  PullData *data = user_data;
  const char *digest = NULL;

  data->transfer = transfer;
  if (g_str_equal (kind, "log"))
    return pd_transfer_log_to_operation (data->operation, fields, error);
  if (g_str_equal (kind, "resolved"))
    return pull_resolved (data, fields, error);
  if (g_str_equal (kind, "progress"))
    return pd_transfer_apply_progress (&data->progress, fields, error);

  /* the rest name a blob, and come after the consent check */
  if (data->remote == NULL || data->settings == NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "the transfer helper sent a %s before the consent check",
                   g_str_equal (kind, "commit") ? "commit" : "request");
      return FALSE;
    }
  if (!g_variant_lookup (fields, "digest", "&s", &digest) || !pd_digest_is_valid (digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "the transfer helper sent a request without a digest");
      return FALSE;
    }
  /* a helper gone wrong cannot have the daemon publish or pin other blobs than this job's,
   * nor more pins than the job can need (each blob pinned or published, twice at most) */
  if (!job_names_blob (data, digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "the transfer helper sent a %s of a blob that is not this job's",
                   g_str_equal (kind, "commit") ? "commit" : "request");
      return FALSE;
    }
  if (data->pinned_blobs->len >= 2 * (data->remote->layers->len + 2))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the transfer helper pinned too many blobs");
      return FALSE;
    }
  if (g_str_equal (kind, "claim"))
    {
      if (data->pending_claim != NULL || g_hash_table_contains (data->claims, digest))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                       "the transfer helper claimed a second blob at once");
          return FALSE;
        }
      if (pd_fetch_table_try_claim (data->fetches, digest))
        {
          g_hash_table_add (data->claims, g_strdup (digest));
          return answer_claim (data, FALSE, error);
        }
      data->pending_claim = g_strdup (digest);
      data->claim_retry = g_timeout_add (CLAIM_RETRY_MS, claim_retry_cb, data);
      return TRUE;
    }
  if (g_str_equal (kind, "release"))
    {
      if (!release_claim (data, digest))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                       "the transfer helper released a blob it had not claimed");
          return FALSE;
        }
      return TRUE;
    }
  if (g_str_equal (kind, "pin"))
    {
      g_auto(GVariantBuilder) answer = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
      gboolean exists = pd_store_pin_existing_blob (data->store, digest);

      if (exists)
        g_ptr_array_add (data->pinned_blobs, g_strdup (digest));
      g_variant_builder_add (&answer, "{sv}", "exists", g_variant_new_boolean (exists));
      return pd_transfer_reply (transfer, "pinned", g_variant_builder_end (&answer), error);
    }
  if (g_str_equal (kind, "commit"))
    {
      const char *tmp_name = pd_transfer_lookup_string (fields, "tmp-name", 64, error);

      if (tmp_name == NULL ||
          !pd_store_adopt_blob (data->store, data->staging_dir, tmp_name, digest, error))
        return FALSE;
      g_ptr_array_add (data->pinned_blobs, g_strdup (digest));
      return pd_transfer_reply (transfer, "committed", NULL, error);
    }
  g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the transfer helper sent an unknown message");
  return FALSE;
}

/* section: the end, on the main thread */

guint64
pd_install_layers_size (const PdRemotePlugin *remote)
{
  guint64 size = 0;

  for (guint i = 0; i < remote->layers->len; i++)
    size += ((PdDescriptor *) g_ptr_array_index (remote->layers, i))->size;
  return size;
}

static void
complete_job (PullData *data, GError *error)
{
  g_auto(GVariantBuilder) results = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  if (data->plugin != NULL)
    {
      PdPluginRecord *record = pd_managed_plugin_get_record (data->plugin);
      guint64 size = pd_install_layers_size (data->remote);

      g_variant_builder_add (&results, "{sv}", "plugin-id",
                             g_variant_new_string (pd_plugin_record_get_id (record)));
      g_variant_builder_add (&results, "{sv}", "manifest-digest",
                             g_variant_new_string (data->remote->digest));
      g_variant_builder_add (&results, "{sv}", "reference",
                             g_variant_new_string (pd_plugin_record_get_reference (record)));
      g_variant_builder_add (&results, "{sv}", "size", g_variant_new_uint64 (size));
    }
  if (error != NULL)
    g_message ("%s of %s failed: %s", pd_operation_get_kind (data->operation),
               pd_operation_get_remote (data->operation), error->message);
  pd_operation_complete (data->operation, error == NULL ? g_variant_builder_end (&results) : NULL,
                         error);
}

static void
enable_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PullData) data = user_data;
  g_autoptr(GError) error = NULL;

  /* the plugin stays installed when it does not start, as with Docker's install; a cancelled
   * job says so, whatever ended the start */
  if (!pd_managed_plugin_enable_finish (PD_MANAGED_PLUGIN (source), result, &error) &&
      g_cancellable_is_cancelled (pd_operation_get_cancellable_object (data->operation)))
    {
      g_clear_error (&error);
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                   "cancelled while enabling: the plugin is installed and disabled");
    }
  complete_job (data, error);
}

static void
finish_with_plugin (PullData *data_in)
{
  g_autoptr(PullData) data = data_in;

  pd_engine_emit_event_when_finished (data->engine, data->operation, data->plugin);
  pd_operation_set_plugin_id (data->operation, pd_managed_plugin_get_id (data->plugin));
  if (data->request->enable && (data->request->plugin == NULL || data->restart))
    {
      PdManagedPlugin *plugin = data->plugin;
      guint activation_timeout = data->request->activation_timeout;
      guint request_timeout = data->request->request_timeout;
      GCancellable *cancellable = pd_operation_get_cancellable_object (data->operation);

      /* cancelled once committed: installed (or upgraded), not started */
      if (g_cancellable_is_cancelled (cancellable))
        {
          g_autoptr(GError) error = g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                 "cancelled before enabling: the plugin is "
                                                 "installed and disabled");
          complete_job (data, error);
          return;
        }
      pd_operation_set_phase (data->operation, "enabling");
      pd_managed_plugin_enable_for_operation_async (plugin, activation_timeout, request_timeout,
                                                    cancellable, enable_done_cb,
                                                    g_steal_pointer (&data));
      return;
    }
  complete_job (data, NULL);
}

typedef void (*PullStep) (PullData *data);

static void
discard_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PullData *data = task_data;
  g_autoptr(GError) error = NULL;

  if (!pd_store_discard_staging_dir (data->store, data->staging_dir, &error))
    g_warning ("cannot remove %s: %s", data->staging_dir, error->message);
  g_task_return_boolean (task, TRUE);
}

static void
discard_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PullData *data = g_task_get_task_data (G_TASK (result));
  PullStep then = user_data;

  g_clear_pointer (&data->staging_dir, g_free);
  then (data);
}

/* Deletes the staging dir (a failed pull, or the old version after an upgrade) in a thread,
 * since a large rootfs takes a while, then goes on with @then: the job ends only once nothing
 * it staged is left. Takes @data. */
static void
discard_staging_dir_then (PullData *data, PullStep then)
{
  g_autoptr(GTask) task = NULL;

  if (data->staging_dir == NULL)
    {
      then (data);
      return;
    }
  task = g_task_new (NULL, NULL, discard_done, then);
  g_task_set_task_data (task, data, NULL);
  g_task_run_in_thread (task, discard_thread);
}

static void
restarted_old_version_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!pd_managed_plugin_enable_finish (PD_MANAGED_PLUGIN (source), result, &error))
    g_warning ("starting the old version of %s again failed: %s",
               pd_managed_plugin_get_name (PD_MANAGED_PLUGIN (source)),
               error->message);
}

static void
fail_job_discarded (PullData *data_in)
{
  g_autoptr(PullData) data = data_in;

  /* the blobs of the failed job go to GC, unless another plugin uses them */
  unpin_blobs (data);
  pd_engine_collect_blobs (data->engine);
  /* an upgrade that stopped the plugin and then failed: the old version runs again */
  if (data->restart && !pd_managed_plugin_is_removed (data->request->plugin))
    pd_managed_plugin_enable_for_operation_async (data->request->plugin,
                                                  data->request->activation_timeout,
                                                  data->request->request_timeout, NULL,
                                                  restarted_old_version_cb, NULL);
  complete_job (data, data->error);
}

static void
fail_job (PullData *data, GError *error)
{
  data->error = error;
  discard_staging_dir_then (data, fail_job_discarded);
}

static GStrv
dup_layer_digests (PdRemotePlugin *remote)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < remote->layers->len; i++)
    g_strv_builder_add (builder, ((PdDescriptor *) g_ptr_array_index (remote->layers, i))->digest);
  return g_strv_builder_end (builder);
}

static gboolean
commit_new_plugin (PullData *data, GError **error)
{
  PdInstallRequest *request = data->request;
  g_autoptr(PdPluginRecord) record = NULL;
  g_autofree char *id = NULL;
  g_autofree char *reference = pd_reference_to_string (request->remote);
  g_auto(GStrv) layers = dup_layer_digests (data->remote);

  if (pd_engine_lookup_plugin_by_name (data->engine, request->name) != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_EXISTS, "plugin %s already exists",
                   request->name);
      return FALSE;
    }
  id = pd_generate_plugin_id ();
  record = pd_plugin_record_new (id, request->name, reference,
                                 pd_plugin_config_copy (data->remote->config),
                                 data->remote->config_digest, data->remote->manifest_digest,
                                 (const char *const *) layers);
  pd_plugin_record_set_settings (record, g_steal_pointer (&data->settings));
  pd_crash_point ("pull-before-commit");
  if (!pd_store_commit_new_plugin (data->store, record, data->staging_dir, error))
    return FALSE;
  g_clear_pointer (&data->staging_dir, g_free);
  data->plugin = g_object_ref (pd_engine_add_plugin (data->engine, record));
  pd_managed_plugin_set_disk_usage (data->plugin, data->disk_usage);
  g_message ("pulled %s as %s (%s)", reference, request->name, id);
  return TRUE;
}

static gboolean
commit_upgrade (PullData *data, GError **error)
{
  PdManagedPlugin *plugin = data->request->plugin;
  PdPluginRecord *live = pd_managed_plugin_get_record (plugin);
  g_autoptr(PdPluginRecord) upgraded = NULL;
  g_autofree char *reference = pd_reference_to_string (data->request->remote);
  g_auto(GStrv) layers = dup_layer_digests (data->remote);

  if (pd_managed_plugin_is_removed (plugin))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin %s was removed",
                   pd_plugin_record_get_name (live));
      return FALSE;
    }
  if (pd_managed_plugin_is_active (plugin))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED,
                   "plugin %s was enabled during the upgrade", pd_plugin_record_get_name (live));
      return FALSE;
    }
  upgraded = pd_plugin_record_new_upgraded (live, reference,
                                            pd_plugin_config_copy (data->remote->config),
                                            data->remote->config_digest,
                                            data->remote->manifest_digest,
                                            (const char *const *) layers,
                                            g_steal_pointer (&data->settings));
  /* the old plugin dir, with its propagated-mount dir, goes to tmp/ and is deleted: nothing
   * may be mounted in it (a daemon that was killed leaves mounts) */
  if (!pd_runner_release_mounts (pd_managed_plugin_get_runner (plugin), error))
    return FALSE;
  pd_crash_point ("upgrade-before-commit");
  if (!pd_store_commit_upgrade (data->store, upgraded, data->staging_dir, error))
    return FALSE;
  /* the staging dir now holds the old version */
  pd_managed_plugin_take_image (plugin, upgraded);
  pd_managed_plugin_set_disk_usage (plugin, data->disk_usage);
  data->plugin = g_object_ref (plugin);
  g_message ("upgraded %s to %s", pd_plugin_record_get_name (live), reference);
  return TRUE;
}

static void
commit (PullData *data_in)
{
  g_autoptr(PullData) data = data_in;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  /* one rename, in this main loop iteration: a Cancel from now on leaves the plugin installed
   * (or upgraded) and only keeps it from starting */
  pd_operation_set_phase (data->operation, "committing");
  ok = data->request->plugin != NULL ? commit_upgrade (data, &error)
                                     : commit_new_plugin (data, &error);
  if (!ok)
    {
      fail_job (g_steal_pointer (&data), g_steal_pointer (&error));
      return;
    }
  /* the record references every blob now; an upgrade may have left some unused */
  unpin_blobs (data);
  if (data->request->plugin != NULL)
    pd_engine_collect_blobs (data->engine);
  /* after an upgrade the staging dir holds the old version */
  discard_staging_dir_then (g_steal_pointer (&data), finish_with_plugin);
}

static void
stopped_for_upgrade_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PullData) data = user_data;

  g_task_propagate_boolean (G_TASK (result), NULL);
  /* cancelled while the old version stopped: it starts again (fail_job) */
  if (g_cancellable_is_cancelled (pd_operation_get_cancellable_object (data->operation)))
    {
      fail_job (g_steal_pointer (&data), g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                      "cancelled"));
      return;
    }
  commit (g_steal_pointer (&data));
}

static void
pull_transfer_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PullData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) fields = NULL;
  PdManagedPlugin *plugin = data->request->plugin;

  /* the helper is gone: what it claimed is free for other jobs */
  data->transfer = NULL;
  release_claims (data);
  pd_operation_unfollow_progress (data->operation);
  fields = pd_transfer_run_finish (result, &error);
  if (fields != NULL && (data->settings == NULL ||
                         !g_variant_lookup (fields, "disk-usage", "t", &data->disk_usage)))
    g_set_error (&error, PD_ERROR, PD_ERROR_FAILED,
                 "the transfer helper ended before the consent check");
  if (error == NULL &&
      g_cancellable_is_cancelled (pd_operation_get_cancellable_object (data->operation)))
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
  if (error != NULL)
    {
      fail_job (g_steal_pointer (&data), g_steal_pointer (&error));
      return;
    }

  /* Upgrade with "restart": the plugin ran through the download and stops only now */
  if (plugin != NULL && data->request->enable && pd_managed_plugin_is_active (plugin))
    {
      data->restart = TRUE;
      pd_operation_set_phase (data->operation, "stopping");
      pd_managed_plugin_stop_async (plugin, stopped_for_upgrade_cb, g_steal_pointer (&data));
      return;
    }
  commit (g_steal_pointer (&data));
}

void
pd_install_start (PdEngine *engine, PdOperation *operation, PdInstallRequest *request)
{
  g_autoptr(PullData) data = g_new0 (PullData, 1);
  g_autoptr(GError) error = NULL;
  GVariant *transfer_request;

  data->engine = g_object_ref (engine);
  data->operation = g_object_ref (operation);
  data->request = request;
  data->store = g_object_ref (pd_engine_get_store (engine));
  data->config = pd_engine_get_config (engine);
  data->fetches = pd_engine_get_fetch_table (engine);
  data->helper_path = g_strdup (pd_engine_get_helper_path (engine));
  pd_engine_get_archive_limits (engine, &data->limits);
  data->pinned_blobs = g_ptr_array_new_with_free_func (g_free);
  data->claims = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  pd_pull_progress_init (&data->progress);
  if (request->plugin != NULL)
    {
      PdPluginRecord *record = pd_managed_plugin_get_record (request->plugin);

      data->old_settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (record));
    }

  data->staging_dir = pd_store_create_staging_dir (data->store, &error);
  if (data->staging_dir == NULL)
    {
      fail_job (g_steal_pointer (&data), g_steal_pointer (&error));
      return;
    }
  pd_operation_set_phase (operation, "resolving");
  pd_operation_set_cancellable (operation, TRUE);
  pd_operation_follow_progress (operation, &data->progress);

  /* the helper's messages come to this main thread; it is killed by Cancel */
  transfer_request = pd_install_transfer_request (engine, request, data->staging_dir);
  pd_transfer_run_async ("pull", transfer_request, NULL, 0, pull_message_cb, data,
                         pd_operation_get_cancellable_object (operation), pull_transfer_done,
                         data);
  data = NULL;
}

/* section: the query of GetPrivileges */

GVariant *
pd_install_transfer_request (PdEngine *engine, PdInstallRequest *request,
                             const char *staging_dir)
{
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree char *reference = pd_reference_to_string (request->remote);

  g_variant_builder_add (&fields, "{sv}", "reference", g_variant_new_string (reference));
  if (request->registry_auth != NULL)
    g_variant_builder_add (&fields, "{sv}", "registry-auth",
                           g_variant_new_string (request->registry_auth));
  if (request->platform != NULL)
    g_variant_builder_add (&fields, "{sv}", "platform", g_variant_new_string (request->platform));
  pd_transfer_add_registry_config (&fields, pd_engine_get_config (engine));
  if (staging_dir != NULL)
    {
      PdArchiveLimits limits;

      if (request->expected_digest != NULL)
        g_variant_builder_add (&fields, "{sv}", "expected-digest",
                               g_variant_new_string (request->expected_digest));
      pd_engine_get_archive_limits (engine, &limits);
      pd_transfer_add_job_fields (&fields, &limits,
                                  pd_store_get_state_dir (pd_engine_get_store (engine)),
                                  staging_dir, pd_engine_get_helper_path (engine));
    }
  return g_variant_builder_end (&fields);
}

typedef struct {
  PdEngine *engine;
  PdInstallRequest *request;
  GCancellable *cancellable;
  guint deadline_source;
  gboolean deadline_passed;
  gboolean counted;     /* in queries_running */
  PdRemotePlugin *remote;
  /* "upgrade": the settings of the installed plugin, which an Upgrade would carry over */
  PdPluginSettings *old_settings;
  char *last_problem;   /* the registry client's last log line (a retry) */
} QueryData;

/* the lookups running (main thread) */
static guint queries_running;

static void
query_data_free (QueryData *data)
{
  if (data->counted)
    queries_running--;
  g_clear_handle_id (&data->deadline_source, g_source_remove);
  g_clear_object (&data->engine);
  g_clear_object (&data->cancellable);
  g_clear_pointer (&data->remote, pd_remote_plugin_free);
  g_clear_pointer (&data->old_settings, pd_plugin_settings_free);
  g_free (data->last_problem);
  g_free (data);
}

/* the helper's retries, so that a deadline can say what went wrong */
static gboolean
query_message_cb (PdTransfer *transfer, const char *kind, GVariant *fields, gpointer user_data,
                  GError **error)
{
  QueryData *data = user_data;
  char *line;

  if (!g_str_equal (kind, "log"))
    return FALSE;
  line = pd_transfer_get_log_line (fields, error);
  if (line == NULL)
    return FALSE;
  g_free (data->last_problem);
  data->last_problem = line;
  return TRUE;
}

static gboolean
query_deadline_cb (gpointer user_data)
{
  QueryData *data = user_data;

  data->deadline_source = 0;
  data->deadline_passed = TRUE;
  g_cancellable_cancel (data->cancellable);
  return G_SOURCE_REMOVE;
}

static void
query_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  QueryData *data = g_task_get_task_data (task);
  g_autoptr(GVariant) fields = NULL;
  GError *error = NULL;

  g_clear_handle_id (&data->deadline_source, g_source_remove);
  fields = pd_transfer_run_finish (result, &error);
  if (fields != NULL)
    data->remote = pd_transfer_get_remote (fields, &error);
  if (data->remote == NULL)
    {
      if (data->deadline_passed)
        {
          g_clear_error (&error);
          g_set_error (&error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                       "the registry did not answer within %d s%s%s%s",
                       PD_INSTALL_QUERY_DEADLINE_S, data->last_problem != NULL ? " (" : "",
                       data->last_problem != NULL ? data->last_problem : "",
                       data->last_problem != NULL ? ")" : "");
        }
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
pd_install_query_async (PdEngine *engine, PdInstallRequest *request,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (engine, NULL, callback, user_data);
  QueryData *data = g_new0 (QueryData, 1);

  data->engine = g_object_ref (engine);
  data->request = request;
  data->cancellable = g_cancellable_new ();
  if (request->plugin != NULL)
    {
      PdPluginRecord *record = pd_managed_plugin_get_record (request->plugin);

      data->old_settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (record));
    }
  g_task_set_task_data (task, data, (GDestroyNotify) query_data_free);
  if (queries_running >= PD_INSTALL_MAX_QUERIES)
    {
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_BUSY,
                               "%d registry lookups are running; try again later",
                               PD_INSTALL_MAX_QUERIES);
      g_object_unref (task);
      return;
    }
  queries_running++;
  data->counted = TRUE;
  data->deadline_source = g_timeout_add_seconds (PD_INSTALL_QUERY_DEADLINE_S, query_deadline_cb,
                                                 data);
  pd_transfer_run_async ("resolve", pd_install_transfer_request (engine, request, NULL), NULL, 0,
                         query_message_cb, data, data->cancellable, query_done, task);
}

PdRemotePlugin *
pd_install_query_finish (PdEngine *engine, GAsyncResult *result, GPtrArray **privileges,
                         GError **error)
{
  QueryData *data = g_task_get_task_data (G_TASK (result));
  g_autoptr(PdPluginSettings) settings = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  /* what Pull or Upgrade with the same settings will compare the accepted list with */
  settings = pd_plugin_settings_for_install (data->remote->config, data->old_settings,
                                             data->request->settings, error);
  if (settings == NULL)
    return NULL;
  *privileges = pd_privileges_compute (data->remote->config, settings);
  return g_steal_pointer (&data->remote);
}
