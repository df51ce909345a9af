/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-push"

#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-oci.h"
#include "pd-push.h"

/* the body's mediaType; an OCI manifest may leave it out */
static char *
manifest_media_type (GBytes *manifest)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (manifest, &len);
  JsonNode *root, *node;

  if (json_parser_load_from_data (parser, data, (gssize) len, NULL) &&
      (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_OBJECT (root) &&
      (node = json_object_get_member (json_node_get_object (root), "mediaType")) != NULL &&
      JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  return g_strdup (PD_MEDIA_TYPE_OCI_MANIFEST);
}

static void
set_status (PdPullProgress *progress, guint index, const char *status, guint64 current)
{
  PdLayerProgress *entry;

  g_mutex_lock (&progress->lock);
  entry = g_ptr_array_index (progress->layers, index);
  entry->status = status;
  if (current > entry->current)
    {
      progress->bytes_done += current - entry->current;
      entry->current = current;
    }
  g_mutex_unlock (&progress->lock);
}

typedef struct {
  PdPullProgress *progress;
  guint index;
} UploadProgress;

static void
upload_progress_cb (guint64 bytes_done, gpointer user_data)
{
  UploadProgress *upload = user_data;

  set_status (upload->progress, upload->index, "uploading", bytes_done);
}

static gboolean
push_blob (PdRegistryClient *client, PdStore *store, const char *digest, const char *mount_from,
           PdPullProgress *progress, guint index, GCancellable *cancellable, GError **error)
{
  g_autofree char *path = pd_store_get_blob_path (store, digest);
  g_autoptr(GMappedFile) file = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autoptr(GError) local_error = NULL;
  UploadProgress upload = { progress, index };
  gboolean exists = FALSE;
  guint64 size;

  if (!pd_registry_client_has_blob (client, digest, &exists, cancellable, error))
    return FALSE;
  g_mutex_lock (&progress->lock);
  size = ((PdLayerProgress *) g_ptr_array_index (progress->layers, index))->total;
  g_mutex_unlock (&progress->lock);
  if (!exists && mount_from != NULL &&
      !pd_registry_client_mount_blob (client, digest, mount_from, &exists, cancellable, error))
    return FALSE;
  if (exists)
    {
      set_status (progress, index, "exists", size);
      return TRUE;
    }

  /* our own store's file, mapped read-only: chunks are slices of it, never copies */
  file = g_mapped_file_new (path, FALSE, &local_error);
  if (file == NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "blob %s is missing from the store: %s",
                   digest, local_error->message);
      return FALSE;
    }
  data = g_mapped_file_get_bytes (file);
  set_status (progress, index, "uploading", 0);
  if (!pd_registry_client_upload_blob (client, digest, data, upload_progress_cb, &upload,
                                       cancellable, error))
    return FALSE;
  set_status (progress, index, "complete", size);
  return TRUE;
}

gboolean
pd_push_run (PdRegistryClient *client, PdStore *store, const char *manifest_digest,
             const char *tag, const char *mount_from, PdPullProgress *progress,
             guint64 *manifest_size, GCancellable *cancellable, GError **error)
{
  g_autoptr(GBytes) manifest = NULL;
  g_autofree char *media_type = NULL;
  g_auto(GStrv) digests = NULL;

  manifest = pd_store_read_blob (store, manifest_digest, PD_MAX_MANIFEST_SIZE, error);
  if (manifest == NULL)
    return FALSE;
  digests = pd_oci_manifest_list_digests (g_bytes_get_data (manifest, NULL),
                                          g_bytes_get_size (manifest), error);
  if (digests == NULL)
    return FALSE;

  g_mutex_lock (&progress->lock);
  g_ptr_array_set_size (progress->layers, 0);
  progress->bytes_done = 0;
  progress->bytes_total = 0;
  for (guint i = 0; digests[i] != NULL; i++)
    {
      g_autofree char *path = pd_store_get_blob_path (store, digests[i]);
      g_autoptr(GFile) file = g_file_new_for_path (path);
      g_autoptr(GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                     G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL,
                                                     NULL);
      PdLayerProgress *entry = g_new0 (PdLayerProgress, 1);

      entry->digest = g_strdup (digests[i]);
      entry->status = "waiting";
      entry->total = info != NULL ? (guint64) g_file_info_get_size (info) : 0;
      progress->bytes_total += entry->total;
      g_ptr_array_add (progress->layers, entry);
    }
  g_mutex_unlock (&progress->lock);

  for (guint i = 0; digests[i] != NULL; i++)
    if (!push_blob (client, store, digests[i], mount_from, progress, i, cancellable, error))
      {
        g_prefix_error (error, "pushing %s: ", digests[i]);
        return FALSE;
      }

  media_type = manifest_media_type (manifest);
  if (!pd_registry_client_put_manifest (client, tag, media_type, manifest, cancellable, error))
    return FALSE;
  *manifest_size = g_bytes_get_size (manifest);
  return TRUE;
}
