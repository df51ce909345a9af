/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-store"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-oci.h"
#include "pd-reference.h"
#include "pd-store-private.h"

const char *
pd_store_digest_hex (const char *digest)
{
  return pd_digest_is_valid (digest) ? digest + 7 : NULL;
}

/* pins */

void
pd_store_pin_blob_hex (PdStore *self, const char *hex)
{
  guint count;

  g_mutex_lock (&self->lock);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->pins, hex));
  g_hash_table_replace (self->pins, g_strdup (hex), GUINT_TO_POINTER (count + 1));
  g_mutex_unlock (&self->lock);
}

void
pd_store_unpin_blob (PdStore *self, const char *digest)
{
  const char *hex = pd_store_digest_hex (digest);
  guint count;

  g_return_if_fail (PD_IS_STORE (self));
  g_return_if_fail (hex != NULL);

  g_mutex_lock (&self->lock);
  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->pins, hex));
  if (count > 1)
    g_hash_table_replace (self->pins, g_strdup (hex), GUINT_TO_POINTER (count - 1));
  else
    g_hash_table_remove (self->pins, hex);
  g_mutex_unlock (&self->lock);

  /* an unbalanced unpin would drop the pin of another job writing the same content */
  if (count == 0)
    g_critical ("blob %s was unpinned more often than it was pinned", digest);
}

/* publishing what a writer (pd-store-writer.c) or plugind-transfer wrote */

gboolean
pd_store_adopt_blob_at (PdStore *store, const char *tmp_name, const char *digest,
                        GError **error)
{
  pd_crash_point ("blob-before-rename");

  /* pinned before it is visible, so a GC running now cannot delete it before the job that
   * wrote it has committed its record (or failed) and unpins it */
  pd_store_pin_blob_hex (store, digest + 7);

  /* an existing blob of the same name should have the same content; replacing it is harmless,
   * repairs one that rotted, and keeps this a single atomic step */
  if (renameat (store->tmp_fd, tmp_name, store->blobs_fd, digest + 7) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot store blob %s", digest);
      pd_store_unpin_blob (store, digest);
      return FALSE;
    }

  pd_crash_point ("blob-after-rename");

  /* the blob is published: the caller must get its digest to unpin it */
  pd_store_sync_dir_or_warn (store->blobs_fd, store->blobs_dir);
  return TRUE;
}

gboolean
pd_store_adopt_blob (PdStore *self, const char *staging_dir, const char *tmp_name,
                     const char *digest, GError **error)
{
  const char *rest = g_str_has_prefix (tmp_name, INGEST_PREFIX)
                       ? tmp_name + strlen (INGEST_PREFIX) : NULL;
  const char *staging = pd_store_staging_name (self, staging_dir);
  g_autofree char *path = NULL;
  struct stat st;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);
  g_return_val_if_fail (staging != NULL, FALSE);

  /* what pd_random_name (INGEST_PREFIX) makes: no path, no dot-dot, a regular file in tmp/ */
  if (rest == NULL || *rest == '\0' || strlen (tmp_name) > 64 ||
      strspn (rest, "0123456789abcdefABCDEF") != strlen (rest) ||
      pd_store_digest_hex (digest) == NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "not a blob ingest of the store");
      return FALSE;
    }
  path = g_build_filename (staging, tmp_name, NULL);
  if (fstatat (self->tmp_fd, path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the blob ingest for %s is missing", digest);
      return FALSE;
    }
  return pd_store_adopt_blob_at (self, path, digest, error);
}

/* reading */

gboolean
pd_store_pin_existing_blob (PdStore *self, const char *digest)
{
  const char *hex = pd_store_digest_hex (digest);
  struct stat st;
  gboolean exists;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);

  if (hex == NULL)
    return FALSE;
  if (self->hooks != NULL)
    return self->hooks->pin_existing (digest, self->hooks_data);
  /* under the lock GC checks pins under before each unlink: the blob cannot go in between */
  g_mutex_lock (&self->lock);
  exists = fstatat (self->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode);
  if (exists)
    {
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->pins, hex));
      g_hash_table_replace (self->pins, g_strdup (hex), GUINT_TO_POINTER (count + 1));
    }
  g_mutex_unlock (&self->lock);
  return exists;
}

gboolean
pd_store_has_blob (PdStore *self, const char *digest)
{
  const char *hex = pd_store_digest_hex (digest);
  struct stat st;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);

  return hex != NULL && fstatat (self->blobs_fd, hex, &st, AT_SYMLINK_NOFOLLOW) == 0
         && S_ISREG (st.st_mode);
}

GBytes *
pd_store_read_blob (PdStore *self, const char *digest, gsize max_size, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *actual = NULL;
  const char *hex = pd_store_digest_hex (digest);
  gconstpointer data;
  gsize len;

  g_return_val_if_fail (PD_IS_STORE (self), NULL);

  if (hex == NULL)
    {
      g_autofree char *escaped = pd_escape_untrusted (digest, -1);
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "invalid digest %s", escaped);
      return NULL;
    }
  bytes = pd_read_file_at (self->blobs_fd, hex, max_size, &local_error);
  if (bytes == NULL)
    {
      if (g_error_matches (local_error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED))
        g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                     "blob %s is larger than %" G_GSIZE_FORMAT " bytes", digest, max_size);
      else
        g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot read blob %s: %s", digest,
                     local_error->message);
      return NULL;
    }
  data = g_bytes_get_data (bytes, &len);
  actual = pd_sha256_digest_small (data, len);
  if (!g_str_equal (actual, digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "blob %s is corrupt: its content hashes to %s", digest, actual);
      return NULL;
    }
  return g_steal_pointer (&bytes);
}

char *
pd_store_get_blob_path (PdStore *self, const char *digest)
{
  const char *hex = pd_store_digest_hex (digest);

  g_return_val_if_fail (PD_IS_STORE (self), NULL);

  if (hex == NULL)
    return NULL;
  return g_build_filename (self->blobs_dir, hex, NULL);
}

/* garbage collection */

static void
mark_reachable (GHashTable *reachable, const char *digest)
{
  const char *hex = pd_store_digest_hex (digest);

  if (hex != NULL)
    g_hash_table_add (reachable, g_strdup (hex));
}

/* marks what the manifest blob @manifest lists, when it is in the store; @quiet for a digest
 * that may name another kind of blob */
static void
mark_manifest_reachable (PdStore *self, GHashTable *reachable, const char *manifest,
                         const char *owner, gboolean quiet)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_auto(GStrv) listed = NULL;
  const char *data;
  gsize len;

  if (manifest == NULL || !pd_store_has_blob (self, manifest))
    return;
  bytes = pd_store_read_blob (self, manifest, PD_MAX_MANIFEST_SIZE, &local_error);
  if (bytes != NULL)
    {
      data = g_bytes_get_data (bytes, &len);
      listed = pd_oci_manifest_list_digests (data, len, &local_error);
    }
  if (listed == NULL)
    {
      if (!quiet)
        g_warning ("blob gc: cannot read manifest %s of plugin %s: %s", manifest, owner,
                   local_error->message);
      return;
    }
  for (gsize j = 0; listed[j] != NULL; j++)
    mark_reachable (reachable, listed[j]);
}

#define DIGEST_TEXT_LEN (7 + 64)

static gboolean
is_digest_text (const guint8 *p)
{
  if (memcmp (p, "sha256:", 7) != 0)
    return FALSE;
  for (gsize i = 7; i < DIGEST_TEXT_LEN; i++)
    if (!g_ascii_isdigit (p[i]) && (p[i] < 'a' || p[i] > 'f'))
      return FALSE;
  return TRUE;
}

/* Every "sha256:<hex>" that plugins/<id>/plugin.json holds, by a plain scan of its bytes: the
 * blobs of a record that cannot be loaded (too large, of a newer version, damaged) are at most
 * those, whatever its JSON says. Reads any size, a chunk at a time. */
static GPtrArray *
scan_record_digests (PdStore *self, const char *id, GError **error)
{
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  g_autofree guint8 *buf = NULL;
  const gsize chunk = 65536;
  gsize have = 0;
  struct stat st;
  int dir_fd, fd;

  dir_fd = openat (self->plugins_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open plugins/%s", id);
      return NULL;
    }
  fd = openat (dir_fd, RECORD_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  close (dir_fd);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open its %s", RECORD_FILE);
      return NULL;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "its %s is not a regular file", RECORD_FILE);
      close (fd);
      return NULL;
    }
  buf = g_malloc (DIGEST_TEXT_LEN + chunk);
  for (;;)
    {
      ssize_t n = read (fd, buf + have, chunk);
      gsize i;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          pd_set_error_from_errno (error, errno, "cannot read its %s", RECORD_FILE);
          close (fd);
          return NULL;
        }
      if (n == 0)
        break;
      have += (gsize) n;
      for (i = 0; i + DIGEST_TEXT_LEN <= have; i++)
        if (buf[i] == 's' && is_digest_text (buf + i))
          g_ptr_array_add (found, g_strndup ((const char *) buf + i, DIGEST_TEXT_LEN));
      /* what is left is shorter than a digest: it may be the start of one */
      memmove (buf, buf + i, have - i);
      have -= i;
    }
  close (fd);
  return g_steal_pointer (&found);
}

/* Marks the blobs of every entry of plugins/ named like a plugin that is not in @records: what
 * its record file names. Returns why GC must not run (a record that cannot even be read, whose
 * blobs are unknown), "" when it may, NULL on error. */
static char *
mark_unlisted_reachable (PdStore *self, GPtrArray *records, GHashTable *reachable,
                         GError **error)
{
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) names = NULL;

  for (guint i = 0; records != NULL && i < records->len; i++)
    g_hash_table_add (listed, (gpointer) pd_plugin_record_get_id (g_ptr_array_index (records, i)));

  names = pd_list_dir_at (self->plugins_fd, NULL, error);
  if (names == NULL)
    return NULL;
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autoptr(GError) scan_error = NULL;
      g_autoptr(GPtrArray) digests = NULL;
      g_autofree char *reason = NULL;

      if (!pd_plugin_id_is_valid (name) || g_hash_table_contains (listed, name))
        continue;
      g_mutex_lock (&self->lock);
      reason = g_strdup (g_hash_table_lookup (self->unlisted, name));
      g_mutex_unlock (&self->lock);
      digests = scan_record_digests (self, name, &scan_error);
      if (digests == NULL)
        return g_strdup_printf ("plugins/%s is not a loaded plugin (%s), and the blobs it needs "
                                "are unknown: %s", name,
                                reason != NULL ? reason : "not loaded", scan_error->message);
      g_debug ("blob gc: keeping the %u blobs named by plugins/%s, which is not loaded (%s)",
               digests->len, name, reason != NULL ? reason : "not loaded");
      for (guint j = 0; j < digests->len; j++)
        {
          mark_reachable (reachable, g_ptr_array_index (digests, j));
          mark_manifest_reachable (self, reachable, g_ptr_array_index (digests, j), name, TRUE);
        }
    }
  return g_strdup ("");
}

guint
pd_store_gc_blobs (PdStore *self, GPtrArray *records, GError **error)
{
  g_autoptr(GHashTable) reachable = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) names = NULL;
  g_autofree char *unlisted = NULL;
  guint removed = 0;

  g_return_val_if_fail (PD_IS_STORE (self), 0);

  unlisted = mark_unlisted_reachable (self, records, reachable, error);
  if (unlisted == NULL)
    return 0;
  if (*unlisted != '\0')
    {
      g_autofree char *escaped = pd_escape_untrusted_full (unlisted, -1);
      g_warning ("blob gc: deleting nothing: %s; repair or remove it to collect blobs again",
                 escaped);
      return 0;
    }

  /* every blob a record can reach is kept, the manifest and what it lists included (Docker's
   * GC did not count manifests, and a push needs them) */
  for (guint i = 0; records != NULL && i < records->len; i++)
    {
      PdPluginRecord *record = g_ptr_array_index (records, i);
      const char *manifest = pd_plugin_record_get_manifest_digest (record);
      const char *const *layers = pd_plugin_record_get_layer_digests (record);

      mark_reachable (reachable, manifest);
      mark_reachable (reachable, pd_plugin_record_get_config_digest (record));
      for (gsize j = 0; layers != NULL && layers[j] != NULL; j++)
        mark_reachable (reachable, layers[j]);
      mark_manifest_reachable (self, reachable, manifest, pd_plugin_record_get_id (record),
                               FALSE);
    }

  names = pd_list_dir_at (self->blobs_fd, NULL, error);
  if (names == NULL)
    return 0;
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      gboolean pinned;
      int errsv = 0;

      if (g_hash_table_contains (reachable, name))
        continue;
      /* checked and unlinked under the lock that a writer takes to pin before its rename: a
       * blob is either pinned in time or published after this unlink */
      g_mutex_lock (&self->lock);
      pinned = g_hash_table_contains (self->pins, name);
      if (!pinned && unlinkat (self->blobs_fd, name, 0) < 0)
        errsv = errno;
      g_mutex_unlock (&self->lock);
      if (pinned)
        {
          g_debug ("blob gc: keeping %s: pinned by a running job", name);
          continue;
        }
      if (errsv != 0)
        {
          g_autofree char *escaped = pd_escape_untrusted (name, -1);
          if (errsv != ENOENT)
            g_warning ("blob gc: cannot remove %s: %s", escaped, g_strerror (errsv));
          continue;
        }
      {
        g_autofree char *escaped = pd_escape_untrusted (name, -1);
        g_debug ("blob gc: removed %s", escaped);
      }
      removed++;
    }
  return removed;
}
