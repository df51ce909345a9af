/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Blob writers (pd-store.h): hashing with libcrypto, so plugind-transfer's, not the daemon's. */
#include "config.h"

#define G_LOG_DOMAIN "pd-store"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-reference.h"
#include "pd-store-private.h"

/* writing */

struct _PdBlobWriter {
  PdStore *store;
  PdSha256 *sha;          /* NULL when the caller verifies the content */
  char *verified_digest;  /* then: the digest it verified */
  char *tmp_name;
  int fd;
  guint64 size;
  gboolean committed;
};

PdBlobWriter *
pd_store_blob_writer_new (PdStore *self, GError **error)
{
  PdBlobWriter *writer;
  g_autofree char *name = NULL;
  int fd = -1;

  g_return_val_if_fail (PD_IS_STORE (self), NULL);

  for (int attempt = 0; fd < 0; attempt++)
    {
      g_free (name);
      name = pd_random_name (INGEST_PREFIX);
      fd = openat (self->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0 && (errno != EEXIST || attempt > 100))
        {
          pd_set_error_from_errno (error, errno, "cannot create a blob in %s", self->tmp_dir);
          return NULL;
        }
    }
  if (fchmod (fd, 0600) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot set the mode of %s", name);
      close (fd);
      unlinkat (self->tmp_fd, name, 0);
      return NULL;
    }

  writer = g_new0 (PdBlobWriter, 1);
  writer->store = g_object_ref (self);
  writer->sha = pd_sha256_new ();
  writer->tmp_name = g_steal_pointer (&name);
  writer->fd = fd;
  return writer;
}

gboolean
pd_blob_writer_write (PdBlobWriter *writer, const void *data, gsize len, GError **error)
{
  g_return_val_if_fail (writer != NULL, FALSE);
  g_return_val_if_fail (writer->fd >= 0 && !writer->committed, FALSE);

  if (!pd_write_all (writer->fd, data, len, error))
    {
      g_prefix_error (error, "blob: ");
      return FALSE;
    }
  if (writer->sha != NULL)
    pd_sha256_update (writer->sha, data, len);
  writer->size += len;
  return TRUE;
}

PdBlobWriter *
pd_store_blob_writer_new_verified (PdStore *self, const char *digest, GError **error)
{
  PdBlobWriter *writer;

  g_return_val_if_fail (pd_digest_is_valid (digest), NULL);

  writer = pd_store_blob_writer_new (self, error);
  if (writer == NULL)
    return NULL;
  /* hashing what the caller hashes already would cost a second pass over every byte */
  g_clear_pointer (&writer->sha, pd_sha256_free);
  writer->verified_digest = g_strdup (digest);
  return writer;
}

char *
pd_blob_writer_commit (PdBlobWriter *writer, guint64 *size, GError **error)
{
  PdStore *store;
  g_autofree char *digest = NULL;
  int fd;

  g_return_val_if_fail (writer != NULL, NULL);
  g_return_val_if_fail (writer->fd >= 0 && !writer->committed, NULL);

  store = writer->store;
  fd = writer->fd;
  writer->fd = -1;
  if (fsync (fd) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot sync blob");
      close (fd);
      return NULL;
    }
  if (close (fd) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot close blob");
      return NULL;
    }
  if (writer->sha != NULL)
    digest = pd_sha256_finish (writer->sha);
  else
    digest = g_strdup (writer->verified_digest);
  g_clear_pointer (&writer->sha, pd_sha256_free);

  if (store->hooks != NULL)
    {
      /* the daemon pins and renames it, or the helper dies with it still in tmp/ */
      if (!store->hooks->commit (writer->tmp_name, digest, store->hooks_data, error))
        return NULL;
      writer->committed = TRUE;
    }
  else
    {
      if (!pd_store_adopt_blob_at (store, writer->tmp_name, digest, error))
        return NULL;
      writer->committed = TRUE;
    }
  if (size != NULL)
    *size = writer->size;
  return g_steal_pointer (&digest);
}

void
pd_blob_writer_free (PdBlobWriter *writer)
{
  if (writer == NULL)
    return;
  if (writer->fd >= 0)
    close (writer->fd);
  if (!writer->committed)
    unlinkat (writer->store->tmp_fd, writer->tmp_name, 0);
  g_clear_pointer (&writer->sha, pd_sha256_free);
  g_free (writer->verified_digest);
  g_free (writer->tmp_name);
  g_object_unref (writer->store);
  g_free (writer);
}

char *
pd_store_put_blob (PdStore *self, const void *data, gsize len, GError **error)
{
  g_autoptr(PdBlobWriter) writer = NULL;

  writer = pd_store_blob_writer_new (self, error);
  if (writer == NULL || !pd_blob_writer_write (writer, data, len, error))
    return NULL;
  return pd_blob_writer_commit (writer, NULL, error);
}

