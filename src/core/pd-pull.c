/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-pull"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-pull.h"

#define MAX_CONFIG_SIZE (4 * 1024 * 1024)
#define MAX_LAYERS 127
#define FETCH_WAIT_SLICE_US (100 * 1000)

#define MEDIA_TYPE_DOCKER_INDEX "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"

static const char * const layer_media_types[] = {
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.diff.tar",
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  NULL,
};

void
pd_remote_plugin_free (PdRemotePlugin *remote)
{
  if (remote == NULL)
    return;
  g_free (remote->digest);
  g_free (remote->manifest_digest);
  g_clear_pointer (&remote->manifest, g_bytes_unref);
  g_free (remote->manifest_media_type);
  g_free (remote->config_digest);
  g_clear_pointer (&remote->config_data, g_bytes_unref);
  g_clear_pointer (&remote->config, pd_plugin_config_free);
  g_clear_pointer (&remote->layers, g_ptr_array_unref);
  g_free (remote);
}

const char *
pd_pull_get_host_platform (void)
{
#if defined(__x86_64__)
  return "linux/amd64";
#elif defined(__aarch64__)
  return "linux/arm64";
#elif defined(__arm__) && defined(__ARM_ARCH_7A__)
  return "linux/arm/v7";
#elif defined(__arm__)
  return "linux/arm/v6";
#elif defined(__i386__)
  return "linux/386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "linux/ppc64le";
#elif defined(__s390x__)
  return "linux/s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "linux/riscv64";
#else
  return "linux/unknown";
#endif
}

/* section: JSON */

/* the root object of a manifest or an index (@root keeps it alive), or NULL */
static JsonObject *
parse_object (GBytes *bytes, JsonNode **root, const char *what, GError **error)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(GError) local_error = NULL;

  *root = pd_json_parse (data, len, PD_MAX_MANIFEST_SIZE, &local_error);
  if (*root == NULL || !JSON_NODE_HOLDS_OBJECT (*root))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE, "invalid %s: %s", what,
                   local_error != NULL ? local_error->message : "not an object");
      return NULL;
    }
  return json_node_get_object (*root);
}

static const char *
get_string (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* a descriptor {mediaType, digest, size} with a valid digest and a sane size */
static PdDescriptor *
parse_descriptor (JsonNode *node, const char *what, GError **error)
{
  JsonObject *object;
  JsonNode *size_node;
  const char *media_type, *digest;
  gint64 size;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    goto invalid;
  object = json_node_get_object (node);
  media_type = get_string (object, "mediaType");
  digest = get_string (object, "digest");
  size_node = json_object_get_member (object, "size");
  if (media_type == NULL || digest == NULL || !pd_digest_is_valid (digest) || size_node == NULL ||
      !JSON_NODE_HOLDS_VALUE (size_node) || json_node_get_value_type (size_node) != G_TYPE_INT64)
    goto invalid;
  size = json_node_get_int (size_node);
  if (size < 0)
    goto invalid;
  return pd_descriptor_new (media_type, digest, (guint64) size);

invalid:
  g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
               "invalid manifest: bad %s descriptor", what);
  return NULL;
}

/* section: resolving */

static gboolean
is_index_type (const char *media_type)
{
  return g_strcmp0 (media_type, MEDIA_TYPE_DOCKER_INDEX) == 0 ||
         g_strcmp0 (media_type, MEDIA_TYPE_OCI_INDEX) == 0;
}

/* "os/arch[/variant]" */
static gboolean
platform_matches (JsonObject *platform, const char *wanted)
{
  g_auto(GStrv) parts = g_strsplit (wanted, "/", 3);
  const char *os = get_string (platform, "os");
  const char *arch = get_string (platform, "architecture");
  const char *variant = get_string (platform, "variant");

  if (g_strv_length (parts) < 2 || g_strcmp0 (os, parts[0]) != 0 ||
      g_strcmp0 (arch, parts[1]) != 0)
    return FALSE;
  /* a wanted variant must match; none wanted takes the first entry of the architecture */
  return parts[2] == NULL || g_strcmp0 (variant, parts[2]) == 0;
}

char *
pd_pull_pick_from_index (GBytes *index, const char *platform, GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GString) available = g_string_new (NULL);
  JsonObject *object = parse_object (index, &root, "image index", error);
  JsonNode *manifests;
  JsonArray *array;

  if (object == NULL)
    return NULL;
  manifests = json_object_get_member (object, "manifests");
  if (manifests == NULL || !JSON_NODE_HOLDS_ARRAY (manifests))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "invalid image index: no manifests");
      return NULL;
    }
  array = json_node_get_array (manifests);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *entry = json_array_get_element (array, i);
      JsonNode *platform_node;
      g_autoptr(PdDescriptor) descriptor = parse_descriptor (entry, "index entry", error);

      if (descriptor == NULL)
        return NULL;
      platform_node = json_object_get_member (json_node_get_object (entry), "platform");
      if (platform_node == NULL || !JSON_NODE_HOLDS_OBJECT (platform_node))
        continue;
      if (platform_matches (json_node_get_object (platform_node), platform))
        return g_strdup (descriptor->digest);
      {
        JsonObject *p = json_node_get_object (platform_node);
        g_autofree char *text = g_strdup_printf ("%s/%s%s%s", get_string (p, "os"),
                                                 get_string (p, "architecture"),
                                                 get_string (p, "variant") != NULL ? "/" : "",
                                                 get_string (p, "variant") != NULL
                                                   ? get_string (p, "variant") : "");
        g_autofree char *escaped = pd_escape_untrusted (text, -1);

        g_string_append_printf (available, "%s%s", available->len > 0 ? ", " : "", escaped);
      }
    }
  g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
               "the image index has no plugin for %s (it has: %s)", platform,
               available->len > 0 ? available->str : "none");
  return NULL;
}

gboolean
pd_pull_parse_manifest (PdRemotePlugin *remote, PdDescriptor **config_out, GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object = parse_object (remote->manifest, &root, "manifest", error);
  JsonNode *layers, *schema;
  JsonArray *array;

  if (object == NULL)
    return FALSE;
  schema = json_object_get_member (object, "schemaVersion");
  if (schema == NULL || !JSON_NODE_HOLDS_VALUE (schema) ||
      json_node_get_value_type (schema) != G_TYPE_INT64 || json_node_get_int (schema) != 2)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "unsupported manifest: schemaVersion must be 2");
      return FALSE;
    }
  if (g_strcmp0 (remote->manifest_media_type, PD_MEDIA_TYPE_DOCKER_MANIFEST) != 0 &&
      g_strcmp0 (remote->manifest_media_type, PD_MEDIA_TYPE_OCI_MANIFEST) != 0)
    {
      g_autofree char *escaped = pd_escape_untrusted (remote->manifest_media_type, -1);
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "unsupported manifest media type \"%s\"", escaped);
      return FALSE;
    }
  *config_out = parse_descriptor (json_object_get_member (object, "config"), "config", error);
  if (*config_out == NULL)
    return FALSE;
  if (!g_str_equal ((*config_out)->media_type, PD_MEDIA_TYPE_PLUGIN_CONFIG))
    {
      g_autofree char *escaped = pd_escape_untrusted ((*config_out)->media_type, -1);
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "not a plugin: the config has media type \"%s\", not %s", escaped,
                   PD_MEDIA_TYPE_PLUGIN_CONFIG);
      return FALSE;
    }
  if ((*config_out)->size > MAX_CONFIG_SIZE)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the plugin config is larger than %d bytes", MAX_CONFIG_SIZE);
      return FALSE;
    }

  layers = json_object_get_member (object, "layers");
  if (layers == NULL || !JSON_NODE_HOLDS_ARRAY (layers))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "invalid manifest: no layers");
      return FALSE;
    }
  array = json_node_get_array (layers);
  if (json_array_get_length (array) == 0 || json_array_get_length (array) > MAX_LAYERS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "invalid manifest: %u layers (1 to %d allowed)",
                   json_array_get_length (array), MAX_LAYERS);
      return FALSE;
    }
  remote->layers = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_descriptor_free);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      PdDescriptor *layer = parse_descriptor (json_array_get_element (array, i), "layer", error);

      if (layer == NULL)
        return FALSE;
      g_ptr_array_add (remote->layers, layer);
      if (!g_strv_contains (layer_media_types, layer->media_type))
        {
          g_autofree char *escaped = pd_escape_untrusted (layer->media_type, -1);
          g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                       "unsupported layer media type \"%s\"", escaped);
          return FALSE;
        }
    }
  return TRUE;
}

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
  guint n_diff_ids;

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

  if (is_index_type (media_type))
    {
      g_autofree char *picked = pd_pull_pick_from_index (body, platform, error);

      if (picked == NULL)
        return NULL;
      g_clear_pointer (&body, g_bytes_unref);
      g_clear_pointer (&media_type, g_free);
      g_clear_pointer (&digest, g_free);
      body = pd_registry_client_get_manifest (client, picked, &media_type, &digest, cancellable,
                                              error);
      if (body == NULL)
        return NULL;
      if (is_index_type (media_type))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                       "the image index names another index");
          return NULL;
        }
    }
  remote->manifest = g_steal_pointer (&body);
  remote->manifest_media_type = g_steal_pointer (&media_type);
  remote->manifest_digest = g_steal_pointer (&digest);
  if (!pd_pull_parse_manifest (remote, &config_descriptor, error))
    return NULL;

  remote->config_data = pd_registry_client_get_blob (client, config_descriptor->digest,
                                                     MAX_CONFIG_SIZE, cancellable, error);
  if (remote->config_data == NULL)
    return NULL;
  remote->config_digest = g_strdup (config_descriptor->digest);
  remote->config = pd_plugin_config_new_for_install (g_bytes_get_data (remote->config_data, NULL),
                                                     g_bytes_get_size (remote->config_data),
                                                     error);
  if (remote->config == NULL)
    return NULL;
  n_diff_ids = remote->config->rootfs_diff_ids != NULL
                 ? g_strv_length (remote->config->rootfs_diff_ids) : 0;
  if (n_diff_ids != remote->layers->len)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "the config lists %u rootfs.diff_ids for %u layers", n_diff_ids,
                   remote->layers->len);
      return NULL;
    }
  for (guint i = 0; i < n_diff_ids; i++)
    if (!pd_digest_is_valid (remote->config->rootfs_diff_ids[i]))
      {
        g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                     "rootfs.diff_ids[%u] is not a sha256 digest", i);
        return NULL;
      }
  return g_steal_pointer (&remote);
}

/* section: download-once */

struct _PdFetchTable {
  GMutex lock;
  GCond cond;
  GHashTable *in_flight;   /* digest */
};

PdFetchTable *
pd_fetch_table_new (void)
{
  PdFetchTable *table = g_new0 (PdFetchTable, 1);

  g_mutex_init (&table->lock);
  g_cond_init (&table->cond);
  table->in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return table;
}

void
pd_fetch_table_free (PdFetchTable *table)
{
  if (table == NULL)
    return;
  g_hash_table_unref (table->in_flight);
  g_cond_clear (&table->cond);
  g_mutex_clear (&table->lock);
  g_free (table);
}

/* waits while another job downloads @digest, then claims it */
static gboolean
fetch_table_claim (PdFetchTable *table, const char *digest, gboolean *waited,
                   GCancellable *cancellable, GError **error)
{
  *waited = FALSE;
  g_mutex_lock (&table->lock);
  while (g_hash_table_contains (table->in_flight, digest))
    {
      *waited = TRUE;
      g_cond_wait_until (&table->cond, &table->lock,
                         g_get_monotonic_time () + FETCH_WAIT_SLICE_US);
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          g_mutex_unlock (&table->lock);
          return FALSE;
        }
    }
  g_hash_table_add (table->in_flight, g_strdup (digest));
  g_mutex_unlock (&table->lock);
  return TRUE;
}

static void
fetch_table_release (PdFetchTable *table, const char *digest)
{
  g_mutex_lock (&table->lock);
  g_hash_table_remove (table->in_flight, digest);
  g_cond_broadcast (&table->cond);
  g_mutex_unlock (&table->lock);
}

/* section: progress */

void
pd_layer_progress_free (PdLayerProgress *layer)
{
  g_free (layer->digest);
  g_free (layer);
}

void
pd_pull_progress_init (PdPullProgress *progress)
{
  g_mutex_init (&progress->lock);
  progress->bytes_done = 0;
  progress->bytes_total = 0;
  progress->layers = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_layer_progress_free);
}

void
pd_pull_progress_clear (PdPullProgress *progress)
{
  g_clear_pointer (&progress->layers, g_ptr_array_unref);
  g_mutex_clear (&progress->lock);
}

GPtrArray *
pd_pull_progress_dup_layers (PdPullProgress *progress, guint64 *bytes_done, guint64 *bytes_total)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_layer_progress_free);

  g_mutex_lock (&progress->lock);
  for (guint i = 0; i < progress->layers->len; i++)
    {
      PdLayerProgress *layer = g_ptr_array_index (progress->layers, i);
      PdLayerProgress *dup = g_memdup2 (layer, sizeof *layer);

      dup->digest = g_strdup (layer->digest);
      g_ptr_array_add (copy, dup);
    }
  *bytes_done = progress->bytes_done;
  *bytes_total = progress->bytes_total;
  g_mutex_unlock (&progress->lock);
  return copy;
}

void
pd_pull_progress_start (PdPullProgress *progress, GPtrArray *descriptors)
{
  g_mutex_lock (&progress->lock);
  g_ptr_array_set_size (progress->layers, 0);
  progress->bytes_done = 0;
  progress->bytes_total = 0;
  for (guint i = 0; i < descriptors->len; i++)
    {
      PdDescriptor *descriptor = g_ptr_array_index (descriptors, i);
      PdLayerProgress *entry = g_new0 (PdLayerProgress, 1);

      entry->digest = g_strdup (descriptor->digest);
      entry->status = "waiting";
      entry->total = descriptor->size;
      g_ptr_array_add (progress->layers, entry);
      progress->bytes_total += descriptor->size;
    }
  g_mutex_unlock (&progress->lock);
}

void
pd_pull_progress_set_layer (PdPullProgress *progress, guint index, const char *status,
                            guint64 current)
{
  PdLayerProgress *layer;

  if (progress == NULL)
    return;
  g_mutex_lock (&progress->lock);
  layer = g_ptr_array_index (progress->layers, index);
  if (status != NULL)
    layer->status = status;
  if (current > layer->current)
    {
      progress->bytes_done += current - layer->current;
      layer->current = current;
    }
  g_mutex_unlock (&progress->lock);
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
} LayerSource;

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
  LayerSource source = { .progress = progress, .index = index };
  gboolean ok;

  source.fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (source.fd < 0)
    {
      int errsv = errno;
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot open blob %s: %s", layer->digest,
                   g_strerror (errsv));
      return FALSE;
    }
  /* the diff_id check covers the stored blob too: a rotten blob fails here */
  ok = pd_archive_apply_layer (stored_layer_read_cb, &source, diff_id, staging_dir,
                               helper_path, limits, NULL, cancellable, error);
  close (source.fd);
  return ok;
}

/* A download runs in a thread of its own: receiving, hashing and storing the compressed blob
 * overlap with decompressing and re-writing it, the pull's critical path. A few buffers go
 * round between the two threads, so memory stays bounded whatever the speeds. */
#define DOWNLOAD_BUFFERS 16
#define DOWNLOAD_BUFFER_SIZE (64 * 1024)

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

/* PdLayerReadFunc: what the download thread received, in order */
static gssize
download_read_cb (void *buffer, gsize count, gpointer user_data, GCancellable *cancellable,
                  GError **error)
{
  Download *download = user_data;
  gsize n;

  if (download->current == NULL)
    {
      g_mutex_lock (&download->lock);
      while (g_queue_is_empty (&download->filled) && !download->finished)
        g_cond_wait (&download->cond, &download->lock);
      download->current = g_queue_pop_head (&download->filled);
      g_mutex_unlock (&download->lock);
      download->current_offset = 0;
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
  ok = pd_archive_apply_layer (download_read_cb, &download, diff_id, staging_dir, helper_path,
                               limits, NULL, cancellable, &local_error);
  /* the layer may end (or fail) before the blob: stop the downloader either way */
  download_cancelled_cb (NULL, &download);
  g_thread_join (thread);
  if (cancellable != NULL)
    g_cancellable_disconnect (cancellable, download.cancel_handler);
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
      if (!fetch_table_claim (fetches, layer->digest, &waited, cancellable, error))
        return FALSE;
      if (pd_store_pin_existing_blob (store, layer->digest))
        {
          fetch_table_release (fetches, layer->digest);
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
          fetch_table_release (fetches, layer->digest);
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
