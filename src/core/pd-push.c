/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-push"

#include <sys/stat.h>

#include "pd-error.h"
#include "pd-oci.h"
#include "pd-push.h"

typedef struct {
  PdPullProgress *progress;
  guint index;
} UploadProgress;

static void
upload_progress_cb (guint64 bytes_done, gpointer user_data)
{
  UploadProgress *upload = user_data;

  pd_pull_progress_set_layer (upload->progress, upload->index, "uploading", bytes_done);
}

static gboolean
push_blob (PdRegistryClient *client, PdStore *store, const PdDescriptor *blob,
           const char *mount_from, PdPullProgress *progress, guint index,
           GCancellable *cancellable, GError **error)
{
  const char *digest = blob->digest;
  g_autofree char *path = pd_store_get_blob_path (store, digest);
  g_autoptr(GMappedFile) file = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autoptr(GError) local_error = NULL;
  UploadProgress upload = { progress, index };
  gboolean exists = FALSE;

  if (!pd_registry_client_has_blob (client, digest, &exists, cancellable, error))
    return FALSE;
  if (!exists && mount_from != NULL &&
      !pd_registry_client_mount_blob (client, digest, mount_from, &exists, cancellable, error))
    return FALSE;
  if (exists)
    {
      pd_pull_progress_set_layer (progress, index, "exists", blob->size);
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
  pd_pull_progress_set_layer (progress, index, "uploading", 0);
  if (!pd_registry_client_upload_blob (client, digest, data, upload_progress_cb, &upload,
                                       cancellable, error))
    return FALSE;
  pd_pull_progress_set_layer (progress, index, "complete", blob->size);
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
  g_autoptr(GPtrArray) blobs = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_descriptor_free);

  manifest = pd_store_read_blob (store, manifest_digest, PD_MAX_MANIFEST_SIZE, error);
  if (manifest == NULL)
    return FALSE;
  digests = pd_oci_manifest_list_digests (g_bytes_get_data (manifest, NULL),
                                          g_bytes_get_size (manifest), error);
  if (digests == NULL)
    return FALSE;

  /* the blobs with their sizes in the store, for the progress */
  for (guint i = 0; digests[i] != NULL; i++)
    {
      g_autofree char *path = pd_store_get_blob_path (store, digests[i]);
      struct stat st;

      g_ptr_array_add (blobs, pd_descriptor_new ("", digests[i],
                                                 stat (path, &st) == 0 ? (guint64) st.st_size
                                                                       : 0));
    }
  pd_pull_progress_start (progress, blobs);

  for (guint i = 0; i < blobs->len; i++)
    {
      PdDescriptor *blob = g_ptr_array_index (blobs, i);

      if (!push_blob (client, store, blob, mount_from, progress, i, cancellable, error))
        {
          g_prefix_error (error, "pushing %s: ", blob->digest);
          return FALSE;
        }
    }

  /* an OCI manifest may leave its mediaType out */
  media_type = pd_oci_manifest_get_media_type (manifest);
  if (media_type == NULL)
    media_type = g_strdup (PD_MEDIA_TYPE_OCI_MANIFEST);
  if (!pd_registry_client_put_manifest (client, tag, media_type, manifest, cancellable, error))
    return FALSE;
  *manifest_size = g_bytes_get_size (manifest);
  return TRUE;
}
