/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-pull"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-pull.h"

#define FETCH_WAIT_SLICE_US (100 * 1000)

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

gboolean
pd_remote_plugin_parse_config (PdRemotePlugin *remote, GError **error)
{
  guint n_diff_ids;

  remote->config = pd_plugin_config_new_for_install (g_bytes_get_data (remote->config_data, NULL),
                                                     g_bytes_get_size (remote->config_data),
                                                     error);
  if (remote->config == NULL)
    return FALSE;
  n_diff_ids = remote->config->rootfs_diff_ids != NULL
                 ? g_strv_length (remote->config->rootfs_diff_ids) : 0;
  if (n_diff_ids != remote->layers->len)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "the config lists %u rootfs.diff_ids for %u layers", n_diff_ids,
                   remote->layers->len);
      return FALSE;
    }
  for (guint i = 0; i < n_diff_ids; i++)
    if (!pd_digest_is_valid (remote->config->rootfs_diff_ids[i]))
      {
        g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                     "rootfs.diff_ids[%u] is not a sha256 digest", i);
        return FALSE;
      }
  return TRUE;
}

/* section: download-once */

struct _PdFetchTable {
  GMutex lock;
  GCond cond;
  GHashTable *in_flight;   /* digest */
  /* plugind-transfer: the daemon's table */
  PdFetchClaimFunc claim;
  PdFetchReleaseFunc release;
  gpointer data;
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

PdFetchTable *
pd_fetch_table_new_for_transfer (PdFetchClaimFunc claim, PdFetchReleaseFunc release,
                                 gpointer data)
{
  PdFetchTable *table = pd_fetch_table_new ();

  table->claim = claim;
  table->release = release;
  table->data = data;
  return table;
}

gboolean
pd_fetch_table_try_claim (PdFetchTable *table, const char *digest)
{
  gboolean claimed;

  g_mutex_lock (&table->lock);
  claimed = !g_hash_table_contains (table->in_flight, digest);
  if (claimed)
    g_hash_table_add (table->in_flight, g_strdup (digest));
  g_mutex_unlock (&table->lock);
  return claimed;
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
gboolean
pd_fetch_table_claim (PdFetchTable *table, const char *digest, gboolean *waited,
                   GCancellable *cancellable, GError **error)
{
  *waited = FALSE;
  if (table->claim != NULL)
    return table->claim (digest, waited, table->data, error);
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

void
pd_fetch_table_release (PdFetchTable *table, const char *digest)
{
  if (table->release != NULL)
    {
      table->release (digest, table->data);
      return;
    }
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
