/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The registry side of pulls (pd-pull.h): resolving a reference, and the layer pipeline.
 * plugind-transfer runs it; the daemon links none of it. */
#include "config.h"

#define G_LOG_DOMAIN "pd-pull"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-pull.h"

PdRemotePlugin *
pd_pull_resolve (PdRegistryClient *client, const PdReference *ref, const char *platform,
                 const char *expected_digest, GCancellable *cancellable, GError **error)
{
  g_autoptr(PdRemotePlugin) remote = g_new0 (PdRemotePlugin, 1);
  g_autoptr(PdDescriptor) config_descriptor = NULL;
  g_autofree char *media_type = NULL;
  g_autofree char *digest = NULL;
  g_autoptr(GBytes) body = NULL;
  const char *wanted = ref->digest != NULL ? ref->digest : ref->tag != NULL ? ref->tag : "latest";

  if (platform == NULL)
    platform = pd_pull_get_host_platform ();

  body = pd_registry_client_get_manifest (client, wanted, &media_type, &digest, cancellable,
                                          error);
  if (body == NULL)
    return NULL;
  /* consent binds content: the digest shown to the admin must still be what the tag names */
  if (expected_digest != NULL && !g_str_equal (digest, expected_digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "%s now resolves to %s, not the expected %s", wanted, digest, expected_digest);
      return NULL;
    }
  remote->digest = g_strdup (digest);

  if (pd_oci_media_type_is_index (media_type))
    {
      g_autofree char *picked = pd_oci_pick_from_index (body, platform, error);

      if (picked == NULL)
        return NULL;
      g_clear_pointer (&body, g_bytes_unref);
      g_clear_pointer (&media_type, g_free);
      g_clear_pointer (&digest, g_free);
      body = pd_registry_client_get_manifest (client, picked, &media_type, &digest, cancellable,
                                              error);
      if (body == NULL)
        return NULL;
      if (pd_oci_media_type_is_index (media_type))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                       "the image index names another index");
          return NULL;
        }
    }
  remote->manifest = g_steal_pointer (&body);
  remote->manifest_media_type = g_steal_pointer (&media_type);
  remote->manifest_digest = g_steal_pointer (&digest);
  if (!pd_oci_parse_manifest (remote->manifest, remote->manifest_media_type,
                              &config_descriptor, &remote->layers, error))
    return NULL;

  remote->config_data = pd_registry_client_get_blob (client, config_descriptor->digest,
                                                     PD_MAX_CONFIG_BLOB_SIZE, cancellable, error);
  if (remote->config_data == NULL)
    return NULL;
  remote->config_digest = g_strdup (config_descriptor->digest);
  if (!pd_remote_plugin_parse_config (remote, error))
    return NULL;
  return g_steal_pointer (&remote);
}

static const char *
layer_status (PdPullProgress *progress, guint index)
{
  const char *status;

  if (progress == NULL)
    return NULL;
  g_mutex_lock (&progress->lock);
  status = ((PdLayerProgress *) g_ptr_array_index (progress->layers, index))->status;
  g_mutex_unlock (&progress->lock);
  return status;
}

/* section: layers */

/* a layer already in the store */
typedef struct {
  int fd;
  guint64 done;
  PdPullProgress *progress;
  guint index;
  const char *digest;   /* the blob's own digest, checked at its end when hasher is set */
  PdSha256 *hasher;
} LayerSource;

/* Docker writes the compressed layer's digest, the blob's own, into rootfs.diff_ids (moby's
 * plugin create and push always have). Such a diff_id says nothing the blob's digest does not
 * already say, and the blob's digest is checked on every path: by the download, or here for a
 * stored blob. */
static const char *
layer_diff_id_to_check (PdDescriptor *layer, const char *diff_id)
{
  return g_str_equal (diff_id, layer->digest) ? NULL : diff_id;
}

static gssize
stored_layer_read_cb (void *buffer, gsize count, gpointer user_data, GCancellable *cancellable,
                      GError **error)
{
  LayerSource *source = user_data;
  gssize n;

  do
    n = read (source->fd, buffer, count);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int errsv = errno;
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "reading a stored layer: %s",
                   g_strerror (errsv));
      return -1;
    }
  if (n > 0)
    {
      source->done += (guint64) n;
      pd_pull_progress_set_layer (source->progress, source->index, NULL, source->done);
      if (source->hasher != NULL)
        pd_sha256_update (source->hasher, buffer, (gsize) n);
    }
  else if (source->hasher != NULL)
    {
      g_autofree char *computed = pd_sha256_finish (source->hasher);

      /* checked once, at the first end of the file */
      g_clear_pointer (&source->hasher, pd_sha256_free);

      if (!g_str_equal (computed, source->digest))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                       "the stored blob has digest %s, not %s", computed, source->digest);
          return -1;
        }
    }
  return n;
}

static gboolean
apply_stored_layer (PdStore *store, PdDescriptor *layer, const char *diff_id,
                    const char *staging_dir, const char *helper_path,
                    const PdArchiveLimits *limits, PdPullProgress *progress, guint index,
                    GCancellable *cancellable, GError **error)
{
  g_autofree char *path = pd_store_get_blob_path (store, layer->digest);
  LayerSource source = { .progress = progress, .index = index, .digest = layer->digest };
  const char *checked_diff_id = layer_diff_id_to_check (layer, diff_id);
  gboolean ok;

  source.fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (source.fd < 0)
    {
      int errsv = errno;
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot open blob %s: %s", layer->digest,
                   g_strerror (errsv));
      return FALSE;
    }
  /* the diff_id check covers the stored blob too: a rotten blob fails here; without one, the
   * blob's own digest does */
  if (checked_diff_id == NULL)
    source.hasher = pd_sha256_new ();
  ok = pd_archive_apply_layer (stored_layer_read_cb, &source, checked_diff_id, staging_dir,
                               helper_path, limits, NULL, cancellable, error);
  /* the hasher is done at the blob's end: a layer that ended before it (bytes after the
   * compressed stream, which a download refuses too) leaves the blob digest unchecked */
  if (ok && source.hasher != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "the stored blob %s goes on after its layer", layer->digest);
      ok = FALSE;
    }
  close (source.fd);
  g_clear_pointer (&source.hasher, pd_sha256_free);
  return ok;
}

/* A download runs in a thread of its own: receiving, hashing and storing the compressed blob
 * overlap with decompressing and re-writing it, the pull's critical path. A few buffers go
 * round between the two threads, so memory stays bounded whatever the speeds. */
#define DOWNLOAD_BUFFERS 4
#define DOWNLOAD_BUFFER_SIZE (256 * 1024)

typedef struct {
  guchar *data;
  gsize len;
} DownloadBuffer;

typedef struct {
  GMutex lock;
  GCond cond;
  GQueue free;            /* DownloadBuffer */
  GQueue filled;          /* DownloadBuffer, in blob order */
  gboolean finished;      /* the downloader is done: the end of the blob, or error */
  GError *error;          /* its error */
  GCancellable *cancellable;  /* stops the downloader: the job's, or the consumer quitting */
  gulong cancel_handler;
  GCancellable *job_cancellable;

  PdBlobStream *stream;
  PdBlobWriter *writer;
  PdPullProgress *progress;
  guint index;
  guint64 received;

  DownloadBuffer *current;  /* the consumer's: the buffer it is reading from */
  gsize current_offset;
  /* the consumer's cancellable (pd_archive_apply_layer's own), which wakes it up */
  GCancellable *read_cancellable;
  gulong read_cancel_handler;
} Download;

static void
download_buffer_free (gpointer data)
{
  DownloadBuffer *buffer = data;

  g_free (buffer->data);
  g_free (buffer);
}

static gpointer
download_thread (gpointer user_data)
{
  Download *download = user_data;
  GError *error = NULL;

  for (;;)
    {
      DownloadBuffer *buffer;
      gssize n;

      g_mutex_lock (&download->lock);
      while (g_queue_is_empty (&download->free) &&
             !g_cancellable_is_cancelled (download->cancellable))
        g_cond_wait (&download->cond, &download->lock);
      buffer = g_queue_pop_head (&download->free);
      g_mutex_unlock (&download->lock);
      if (buffer == NULL)
        {
          g_cancellable_set_error_if_cancelled (download->cancellable, &error);
          break;
        }

      n = pd_blob_stream_read (download->stream, buffer->data, DOWNLOAD_BUFFER_SIZE,
                               download->cancellable, &error);
      if (n > 0 && !pd_blob_writer_write (download->writer, buffer->data, (gsize) n, &error))
        n = -1;
      if (n <= 0)
        {
          g_mutex_lock (&download->lock);
          g_queue_push_head (&download->free, buffer);
          g_mutex_unlock (&download->lock);
          break;
        }
      buffer->len = (gsize) n;
      download->received += (guint64) n;
      pd_pull_progress_set_layer (download->progress, download->index, NULL, download->received);
      g_mutex_lock (&download->lock);
      g_queue_push_tail (&download->filled, buffer);
      g_cond_broadcast (&download->cond);
      g_mutex_unlock (&download->lock);
    }

  g_mutex_lock (&download->lock);
  download->finished = TRUE;
  download->error = error;
  g_cond_broadcast (&download->cond);
  g_mutex_unlock (&download->lock);
  return NULL;
}

static void
download_wake_cb (GCancellable *cancellable, gpointer user_data)
{
  Download *download = user_data;

  g_mutex_lock (&download->lock);
  g_cond_broadcast (&download->cond);
  g_mutex_unlock (&download->lock);
}

/* PdLayerReadFunc: what the download thread received, in order; called from the layer's
 * decompressing thread, whose cancellable stops the wait for the network */
static gssize
download_read_cb (void *buffer, gsize count, gpointer user_data, GCancellable *cancellable,
                  GError **error)
{
  Download *download = user_data;
  gsize n;

  if (cancellable != NULL && cancellable != download->read_cancellable)
    {
      if (download->read_cancellable != NULL)
        g_cancellable_disconnect (download->read_cancellable, download->read_cancel_handler);
      g_set_object (&download->read_cancellable, cancellable);
      download->read_cancel_handler = g_cancellable_connect (cancellable,
                                                             G_CALLBACK (download_wake_cb),
                                                             download, NULL);
    }
  if (download->current == NULL)
    {
      g_mutex_lock (&download->lock);
      while (g_queue_is_empty (&download->filled) && !download->finished &&
             !g_cancellable_is_cancelled (cancellable))
        g_cond_wait (&download->cond, &download->lock);
      download->current = g_queue_pop_head (&download->filled);
      g_mutex_unlock (&download->lock);
      download->current_offset = 0;
      if (download->current == NULL && g_cancellable_set_error_if_cancelled (cancellable, error))
        return -1;
      if (download->current == NULL)
        {
          /* the end of the blob, verified, or the download's error */
          if (download->error != NULL)
            {
              g_propagate_error (error, g_steal_pointer (&download->error));
              return -1;
            }
          return 0;
        }
    }
  n = MIN (count, download->current->len - download->current_offset);
  memcpy (buffer, download->current->data + download->current_offset, n);
  download->current_offset += n;
  if (download->current_offset == download->current->len)
    {
      g_mutex_lock (&download->lock);
      g_queue_push_tail (&download->free, g_steal_pointer (&download->current));
      g_cond_broadcast (&download->cond);
      g_mutex_unlock (&download->lock);
    }
  return (gssize) n;
}

static void
download_cancelled_cb (GCancellable *job_cancellable, gpointer user_data)
{
  Download *download = user_data;

  g_cancellable_cancel (download->cancellable);
  /* a downloader waiting for a free buffer wakes up and sees it */
  g_mutex_lock (&download->lock);
  g_cond_broadcast (&download->cond);
  g_mutex_unlock (&download->lock);
}

static gboolean
download_layer (PdRegistryClient *client, PdStore *store, PdDescriptor *layer,
                const char *diff_id, const char *staging_dir, const char *helper_path,
                const PdArchiveLimits *limits, PdPullProgress *progress, guint index,
                GPtrArray *pinned_blobs, GCancellable *cancellable, GError **error)
{
  g_autoptr(PdBlobStream) stream = NULL;
  g_autoptr(PdBlobWriter) writer = NULL;
  g_autofree char *stored = NULL;
  g_autoptr(GError) local_error = NULL;
  Download download = { 0 };
  GThread *thread;
  gboolean ok;

  stream = pd_registry_client_open_blob (client, layer->digest, layer->size, error);
  if (stream == NULL)
    return FALSE;
  /* the stream verifies size and digest on its last read, which apply_layer waits for */
  writer = pd_store_blob_writer_new_verified (store, layer->digest, error);
  if (writer == NULL)
    return FALSE;

  g_mutex_init (&download.lock);
  g_cond_init (&download.cond);
  for (guint i = 0; i < DOWNLOAD_BUFFERS; i++)
    {
      DownloadBuffer *buffer = g_new0 (DownloadBuffer, 1);

      buffer->data = g_malloc (DOWNLOAD_BUFFER_SIZE);
      g_queue_push_tail (&download.free, buffer);
    }
  download.cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    download.cancel_handler = g_cancellable_connect (cancellable,
                                                     G_CALLBACK (download_cancelled_cb),
                                                     &download, NULL);
  download.stream = stream;
  download.writer = writer;
  download.progress = progress;
  download.index = index;

  pd_pull_progress_set_layer (progress, index, "downloading", 0);
  thread = g_thread_new ("pd-download", download_thread, &download);
  ok = pd_archive_apply_layer (download_read_cb, &download, layer_diff_id_to_check (layer, diff_id),
                               staging_dir, helper_path, limits, NULL, cancellable, &local_error);
  /* the layer may end (or fail) before the blob: stop the downloader either way */
  download_cancelled_cb (NULL, &download);
  g_thread_join (thread);
  if (cancellable != NULL)
    g_cancellable_disconnect (cancellable, download.cancel_handler);
  if (download.read_cancellable != NULL)
    g_cancellable_disconnect (download.read_cancellable, download.read_cancel_handler);
  g_clear_object (&download.read_cancellable);
  g_clear_object (&download.cancellable);
  if (download.current != NULL)
    download_buffer_free (download.current);
  g_queue_clear_full (&download.free, download_buffer_free);
  g_queue_clear_full (&download.filled, download_buffer_free);
  g_clear_error (&download.error);
  g_cond_clear (&download.cond);
  g_mutex_clear (&download.lock);

  if (!ok)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  /* pd_archive_apply_layer read to the verified end: the blob is complete and correct */
  if (!pd_blob_stream_is_verified (stream))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "layer %s: the layer ended before the blob did", layer->digest);
      return FALSE;
    }
  stored = pd_blob_writer_commit (writer, NULL, error);
  if (stored == NULL)
    return FALSE;
  g_ptr_array_add (pinned_blobs, g_steal_pointer (&stored));
  return TRUE;
}

static gboolean
store_small_blob (PdStore *store, const char *digest, GBytes *data, GPtrArray *pinned_blobs,
                  GError **error)
{
  g_autofree char *stored = pd_store_put_blob (store, g_bytes_get_data (data, NULL),
                                               g_bytes_get_size (data), error);

  if (stored == NULL)
    return FALSE;
  g_ptr_array_add (pinned_blobs, g_strdup (stored));
  if (!g_str_equal (stored, digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH, "blob %s was stored as %s",
                   digest, stored);
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_pull_fetch_layers (PdRegistryClient *client, PdRemotePlugin *remote, PdStore *store,
                      PdFetchTable *fetches, const char *staging_dir, const char *helper_path,
                      const PdArchiveLimits *limits, PdPullProgress *progress,
                      GPtrArray *pinned_blobs, GCancellable *cancellable, GError **error)
{
  PdArchiveLimits default_limits;

  if (limits == NULL)
    {
      pd_archive_limits_init (&default_limits);
      limits = &default_limits;
    }
  /* a blob is stored as it streams by: it is bounded too, before any download (the blob
   * stream then reads no more than the size the manifest says). Compression never makes a
   * blob much larger than its tar, so a larger blob could not unpack within the limit. */
  for (guint i = 0; i < remote->layers->len; i++)
    {
      PdDescriptor *layer = g_ptr_array_index (remote->layers, i);

      if (layer->size > limits->max_bytes)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                       "layer %u (%s) is %" G_GUINT64_FORMAT " bytes, larger than %"
                       G_GUINT64_FORMAT " bytes", i + 1, layer->digest, layer->size,
                       limits->max_bytes);
          return FALSE;
        }
    }

  if (progress != NULL)
    pd_pull_progress_start (progress, remote->layers);

  for (guint i = 0; i < remote->layers->len; i++)
    {
      PdDescriptor *layer = g_ptr_array_index (remote->layers, i);
      const char *diff_id = remote->config->rootfs_diff_ids[i];
      gboolean waited = FALSE;
      gboolean ok;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!pd_fetch_table_claim (fetches, layer->digest, &waited, cancellable, error))
        return FALSE;
      if (pd_store_pin_existing_blob (store, layer->digest))
        {
          pd_fetch_table_release (fetches, layer->digest);
          g_ptr_array_add (pinned_blobs, g_strdup (layer->digest));
          /* Docker's "Already exists", unless another job downloaded it just now */
          pd_pull_progress_set_layer (progress, i, waited ? "extracting" : "exists", 0);
          ok = apply_stored_layer (store, layer, diff_id, staging_dir, helper_path, limits,
                                   progress, i, cancellable, error);
        }
      else
        {
          ok = download_layer (client, store, layer, diff_id, staging_dir, helper_path, limits,
                               progress, i, pinned_blobs, cancellable, error);
          pd_fetch_table_release (fetches, layer->digest);
        }
      if (!ok)
        {
          g_prefix_error (error, "layer %u (%s): ", i + 1, layer->digest);
          return FALSE;
        }
      pd_pull_progress_set_layer (progress, i, g_strcmp0 (layer_status (progress, i), "exists") == 0
                                       ? NULL : "complete", layer->size);
    }

  return store_small_blob (store, remote->config_digest, remote->config_data, pinned_blobs,
                           error) &&
         store_small_blob (store, remote->manifest_digest, remote->manifest, pinned_blobs, error);
}
