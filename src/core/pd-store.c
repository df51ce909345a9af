/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-store"

/* renameat2() and RENAME_NOREPLACE */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-reference.h"
#include "pd-store-private.h"

#define STAGING_PREFIX "stage-"
#define REMOVING_SUFFIX "-removing"
#define ROOTFS_DIR "rootfs"
/* the largest record the store writes: with the bounds on new configs and on settings a record
 * stays far below it, and it stays far below what the loader takes
 * (PD_PLUGIN_RECORD_MAX_SIZE), so that every record saved loads again */
#define RECORD_SAVE_MAX (4 * 1024 * 1024)
G_STATIC_ASSERT (RECORD_SAVE_MAX * 2 <= PD_PLUGIN_RECORD_MAX_SIZE);

G_DEFINE_FINAL_TYPE (PdStore, pd_store, G_TYPE_OBJECT)

static void
pd_store_finalize (GObject *object)
{
  PdStore *self = PD_STORE (object);

  g_free (self->state_dir);
  g_free (self->plugins_dir);
  g_free (self->blobs_dir);
  g_free (self->tmp_dir);
  if (self->state_fd >= 0)
    close (self->state_fd);
  if (self->plugins_fd >= 0)
    close (self->plugins_fd);
  if (self->blobs_fd >= 0)
    close (self->blobs_fd);
  if (self->tmp_fd >= 0)
    close (self->tmp_fd);
  g_clear_pointer (&self->pins, g_hash_table_unref);
  g_clear_pointer (&self->unlisted, g_hash_table_unref);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (pd_store_parent_class)->finalize (object);
}

static void
pd_store_class_init (PdStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pd_store_finalize;
}

static void
pd_store_init (PdStore *self)
{
  self->state_fd = -1;
  self->plugins_fd = -1;
  self->blobs_fd = -1;
  self->tmp_fd = -1;
  g_mutex_init (&self->lock);
  self->pins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->unlisted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/* helpers */

/* "<id>-removing" with a valid id: what pd_store_remove_plugin() makes, and nothing else */
gboolean
pd_store_is_removing_name (const char *name)
{
  g_autofree char *id = NULL;

  if (!g_str_has_suffix (name, REMOVING_SUFFIX))
    return FALSE;
  id = g_strndup (name, strlen (name) - strlen (REMOVING_SUFFIX));
  return pd_plugin_id_is_valid (id);
}

/* for a dir sync after a rename that already succeeded: the change is visible and will be
 * durable with the next sync of the file system, so reporting a failure would make the caller
 * roll back in memory what is already on disk */
void
pd_store_sync_dir_or_warn (int dirfd, const char *what)
{
  g_autoptr(GError) error = NULL;

  if (!pd_fsync_dir_at (dirfd, NULL, &error))
    g_warning ("%s changed, but syncing it failed (the change stands): %s", what,
               error->message);
}

static int
open_dir_at (int dirfd, const char *name, GError **error)
{
  int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    pd_set_error_from_errno (error, errno, "cannot open %s", name);
  return fd;
}

/* the record file's contents, refused before anything is written when it would be too large to
 * be sure to load again */
static char *
record_data_for_save (PdPluginRecord *record, gsize *len, GError **error)
{
  g_autofree char *data = pd_plugin_record_to_data (record, len);

  if (*len > RECORD_SAVE_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the record of plugin %s would be %" G_GSIZE_FORMAT " bytes long, more than "
                   "%u", pd_plugin_record_get_name (record), *len, (guint) RECORD_SAVE_MAX);
      return NULL;
    }
  return g_steal_pointer (&data);
}

/* the name of a dir under tmp/ made by pd_store_create_staging_dir(), else NULL */
static const char *
staging_name (PdStore *self, const char *staging_dir)
{
  gsize len = strlen (self->tmp_dir);
  const char *name;

  if (staging_dir == NULL || strncmp (staging_dir, self->tmp_dir, len) != 0
      || staging_dir[len] != '/')
    return NULL;
  name = staging_dir + len + 1;
  if (!g_str_has_prefix (name, STAGING_PREFIX) || strchr (name, '/') != NULL
      || g_str_equal (name, STAGING_PREFIX))
    return NULL;
  return name;
}

const char *
pd_store_staging_name (PdStore *self, const char *staging_dir)
{
  return staging_name (self, staging_dir);
}

/* renames without ever replacing an existing entry: plain rename() silently replaces an empty
 * dir of the same name */
static int
rename_noreplace (int olddirfd, const char *oldname, int newdirfd, const char *newname)
{
  struct stat st;

  if (renameat2 (olddirfd, oldname, newdirfd, newname, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
  /* a file system without RENAME_NOREPLACE: check first; only the main thread renames into
   * plugins/, so nothing can appear in between */
  if (fstatat (newdirfd, newname, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      errno = EEXIST;
      return -1;
    }
  return renameat (olddirfd, oldname, newdirfd, newname);
}

/* warns once per entry of plugins/ that is left in place and not listed */
void
pd_store_note_unlisted (PdStore *self, const char *name, const char *reason)
{
  g_autofree char *escaped_name = NULL;
  g_autofree char *escaped_reason = NULL;
  gboolean known;

  g_mutex_lock (&self->lock);
  known = g_hash_table_contains (self->unlisted, name);
  if (!known)
    g_hash_table_insert (self->unlisted, g_strdup (name), g_strdup (reason));
  g_mutex_unlock (&self->lock);
  if (known)
    return;

  /* names and error messages can hold anything a file system or a record can */
  escaped_name = pd_escape_untrusted (name, -1);
  /* our own message, whose quotes are cut already: whole, for the administrator */
  escaped_reason = pd_escape_untrusted_full (reason, -1);
  g_warning ("plugins/%s is left in place and not listed: %s; the plugin stays off the bus and "
             "the blobs its record names are kept until the record is repaired or the directory "
             "removed", escaped_name, escaped_reason);
}

static void
forget_unlisted (PdStore *self, const char *name)
{
  g_mutex_lock (&self->lock);
  g_hash_table_remove (self->unlisted, name);
  g_mutex_unlock (&self->lock);
}

/* records */

/* the record of plugins/<id> when the dir holds a parsable record for @id and a rootfs dir */
static PdPluginRecord *
load_plugin_dir (PdStore *self, const char *id, GError **error)
{
  g_autoptr(GBytes) data = NULL;
  g_autoptr(PdPluginRecord) record = NULL;
  g_autofree char *path = g_build_filename (id, RECORD_FILE, NULL);
  g_autofree char *rootfs = g_build_filename (id, ROOTFS_DIR, NULL);
  struct stat st;
  const char *text;
  gsize len;

  data = pd_read_file_at (self->plugins_fd, path, PD_PLUGIN_RECORD_MAX_SIZE, error);
  if (data == NULL)
    return NULL;
  text = g_bytes_get_data (data, &len);
  record = pd_plugin_record_new_from_data (text, len, error);
  if (record == NULL)
    return NULL;
  if (!g_str_equal (pd_plugin_record_get_id (record), id))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "its record is for another id");
      return NULL;
    }
  if (fstatat (self->plugins_fd, rootfs, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "it has no rootfs dir");
      return NULL;
    }
  return g_steal_pointer (&record);
}

PdStore *
pd_store_new (const char *state_dir, GError **error)
{
  g_autoptr(PdStore) self = NULL;
  int blobs_parent;

  g_return_val_if_fail (state_dir != NULL && g_path_is_absolute (state_dir), NULL);

  self = g_object_new (PD_TYPE_STORE, NULL);
  self->state_dir = g_canonicalize_filename (state_dir, NULL);
  self->plugins_dir = g_build_filename (self->state_dir, "plugins", NULL);
  self->blobs_dir = g_build_filename (self->state_dir, "blobs", "sha256", NULL);
  self->tmp_dir = g_build_filename (self->state_dir, "tmp", NULL);

  if (!pd_mkdir_with_mode (self->state_dir, 0700, error))
    return NULL;
  self->state_fd = open (self->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (self->state_fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open %s", self->state_dir);
      return NULL;
    }

  if (!pd_mkdir_at_with_mode (self->state_fd, "plugins", 0700, error)
      || !pd_mkdir_at_with_mode (self->state_fd, "blobs", 0700, error)
      || !pd_mkdir_at_with_mode (self->state_fd, "tmp", 0700, error))
    return NULL;
  self->plugins_fd = open_dir_at (self->state_fd, "plugins", error);
  if (self->plugins_fd < 0)
    return NULL;
  self->tmp_fd = open_dir_at (self->state_fd, "tmp", error);
  if (self->tmp_fd < 0)
    return NULL;
  blobs_parent = open_dir_at (self->state_fd, "blobs", error);
  if (blobs_parent < 0)
    return NULL;
  if (!pd_mkdir_at_with_mode (blobs_parent, "sha256", 0700, error))
    {
      close (blobs_parent);
      return NULL;
    }
  self->blobs_fd = open_dir_at (blobs_parent, "sha256", error);
  close (blobs_parent);
  if (self->blobs_fd < 0)
    return NULL;

  if (!pd_store_reconcile (self, error))
    return NULL;

  return g_steal_pointer (&self);
}

PdStore *
pd_store_open_for_transfer (const char *state_dir, const char *staging_dir,
                            const PdStoreTransferHooks *hooks, gpointer hooks_data,
                            GError **error)
{
  g_autoptr(PdStore) self = NULL;
  g_autofree char *staging = NULL;
  const char *name;

  g_return_val_if_fail (state_dir != NULL && g_path_is_absolute (state_dir), NULL);

  self = g_object_new (PD_TYPE_STORE, NULL);
  self->hooks = hooks;
  self->hooks_data = hooks_data;
  self->state_dir = g_canonicalize_filename (state_dir, NULL);
  self->plugins_dir = g_build_filename (self->state_dir, "plugins", NULL);
  self->blobs_dir = g_build_filename (self->state_dir, "blobs", "sha256", NULL);
  self->tmp_dir = g_build_filename (self->state_dir, "tmp", NULL);
  name = staging_name (self, staging_dir);
  if (name == NULL && staging_dir != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "not a staging dir of the store");
      return NULL;
    }
  /* the daemon made every dir at its start, and the staging dir for this job */
  self->state_fd = open_dir_at (AT_FDCWD, self->state_dir, error);
  if (self->state_fd < 0)
    return NULL;
  if (name != NULL)
    {
      staging = g_build_filename ("tmp", name, NULL);
      self->tmp_fd = open_dir_at (self->state_fd, staging, error);
      if (self->tmp_fd < 0)
        return NULL;
    }
  self->blobs_fd = open_dir_at (self->state_fd, "blobs/sha256", error);
  if (self->blobs_fd < 0)
    return NULL;
  return g_steal_pointer (&self);
}

const char *
pd_store_get_state_dir (PdStore *self)
{
  g_return_val_if_fail (PD_IS_STORE (self), NULL);
  return self->state_dir;
}

static gint
compare_records_by_name (gconstpointer a, gconstpointer b)
{
  PdPluginRecord *ra = *(PdPluginRecord **) a;
  PdPluginRecord *rb = *(PdPluginRecord **) b;
  int r = g_strcmp0 (pd_plugin_record_get_name (ra), pd_plugin_record_get_name (rb));

  return r != 0 ? r : g_strcmp0 (pd_plugin_record_get_id (ra), pd_plugin_record_get_id (rb));
}

GPtrArray *
pd_store_load_records (PdStore *self, GError **error)
{
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) names = NULL;

  g_return_val_if_fail (PD_IS_STORE (self), NULL);

  names = pd_list_dir_at (self->plugins_fd, NULL, error);
  if (names == NULL)
    return NULL;
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autoptr(GError) local_error = NULL;
      PdPluginRecord *record;

      /* a removal in progress: the plugin is gone already */
      if (pd_store_is_removing_name (name))
        continue;
      if (!pd_plugin_id_is_valid (name))
        {
          pd_store_note_unlisted (self, name, "not a name plugind uses");
          continue;
        }
      record = load_plugin_dir (self, name, &local_error);
      if (record == NULL)
        {
          /* left in place: it may be the data of another daemon version (pd-store-private.h) */
          pd_store_note_unlisted (self, name, local_error->message);
          continue;
        }
      forget_unlisted (self, name);
      g_ptr_array_add (records, record);
    }
  g_ptr_array_sort (records, compare_records_by_name);
  return g_steal_pointer (&records);
}

/* staging and commits */

char *
pd_store_create_staging_dir (PdStore *self, GError **error)
{
  g_return_val_if_fail (PD_IS_STORE (self), NULL);

  for (int attempt = 0;; attempt++)
    {
      g_autofree char *name = pd_random_name (STAGING_PREFIX);

      if (mkdirat (self->tmp_fd, name, 0700) < 0)
        {
          if (errno == EEXIST && attempt < 100)
            continue;
          pd_set_error_from_errno (error, errno, "cannot create a staging dir in %s",
                                   self->tmp_dir);
          return NULL;
        }
      /* mkdirat applied the umask; the staging dir must be 0700 whatever it is */
      if (fchmodat (self->tmp_fd, name, 0700, 0) < 0)
        {
          pd_set_error_from_errno (error, errno, "cannot set the mode of %s", name);
          unlinkat (self->tmp_fd, name, AT_REMOVEDIR);
          return NULL;
        }
      return g_build_filename (self->tmp_dir, name, NULL);
    }
}

gboolean
pd_store_discard_staging_dir (PdStore *self, const char *staging_dir, GError **error)
{
  const char *name;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);

  name = staging_name (self, staging_dir);
  if (name == NULL)
    {
      g_autofree char *escaped = pd_escape_untrusted (staging_dir, -1);
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "%s is not a staging dir", escaped);
      return FALSE;
    }
  /* a failed pull leaves no count behind */
  pd_store_note_staging_usage (staging_dir, FALSE, 0);
  return pd_rm_rf_at (self->tmp_fd, name, error);
}

/* checks that the plugin is installed for an upgrade (and is not for a new plugin) and the
 * staging dir's rootfs, and writes the record into it: the dir is then a complete
 * plugins/<id> waiting for its rename. Returns the staging dir's name under tmp/. */
static const char *
prepare_commit (PdStore *self, PdPluginRecord *record, const char *staging_dir, gboolean upgrade,
                GError **error)
{
  g_autofree char *data = NULL;
  const char *name = staging_name (self, staging_dir);
  const char *id = pd_plugin_record_get_id (record);
  struct stat st;
  gsize len = 0;
  int staging_fd;
  gboolean exists;

  exists = pd_plugin_id_is_valid (id) &&
           fstatat (self->plugins_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && !upgrade)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_EXISTS, "plugin %s already exists", id);
      return NULL;
    }
  if (!exists && upgrade)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin %s is not installed", id);
      return NULL;
    }
  if (name == NULL || !pd_plugin_id_is_valid (id))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "invalid staging dir or plugin id");
      return NULL;
    }
  staging_fd = open_dir_at (self->tmp_fd, name, error);
  if (staging_fd < 0)
    return NULL;
  if (fstatat (staging_fd, ROOTFS_DIR, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the staging dir has no rootfs");
      close (staging_fd);
      return NULL;
    }

  /* the record goes in before the rename so that plugins/<id> appears complete in one step */
  data = record_data_for_save (record, &len, error);
  if (data == NULL || !pd_file_write_atomic_full_at (staging_fd, RECORD_FILE, data, len, 0600,
                                     "store-commit-record-before-rename", error))
    {
      close (staging_fd);
      return NULL;
    }
  if (fchmod (staging_fd, 0700) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot set the mode of %s", name);
      close (staging_fd);
      return NULL;
    }
  close (staging_fd);
  return name;
}

gboolean
pd_store_sync (PdStore *self, GError **error)
{
  g_return_val_if_fail (PD_IS_STORE (self), FALSE);

  if (syncfs (self->tmp_fd) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot sync %s", self->state_dir);
      return FALSE;
    }
  return TRUE;
}

/* Moves the complete staging dir into place as plugins/<id>: for a new plugin with a rename
 * that never replaces, for an upgrade by exchanging the two dirs */
static gboolean
commit (PdStore *self, PdPluginRecord *record, const char *staging_dir, gboolean upgrade,
        GError **error)
{
  const char *id = pd_plugin_record_get_id (record);
  const char *name = prepare_commit (self, record, staging_dir, upgrade, error);

  if (name == NULL)
    return FALSE;
  if (!upgrade)
    {
      pd_crash_point ("store-commit-before-rename");

      if (rename_noreplace (self->tmp_fd, name, self->plugins_fd, id) < 0)
        {
          int errsv = errno;

          if (errsv == EEXIST)
            g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_EXISTS, "plugin %s already exists", id);
          else
            pd_set_error_from_errno (error, errsv, "cannot move the plugin into place");
          return FALSE;
        }

      pd_crash_point ("store-commit-after-rename");
    }
  else
    {
      pd_crash_point ("store-upgrade-before-exchange");

      /* one step: plugins/<id> is the old plugin before and the new one after, whatever
       * crashes; the old one lands in tmp/, which the reconciler empties */
      if (renameat2 (self->tmp_fd, name, self->plugins_fd, id, RENAME_EXCHANGE) < 0)
        {
          int errsv = errno;

          pd_set_error_from_errno (error, errsv, "cannot swap the upgraded plugin into place%s",
                                   errsv == EINVAL ? " (the file system cannot exchange names)"
                                                   : "");
          return FALSE;
        }

      pd_crash_point ("store-upgrade-after-exchange");
    }

  /* plugins/<id> is complete and visible from here on: the commit stands */
  pd_store_sync_dir_or_warn (self->plugins_fd, self->plugins_dir);
  pd_store_sync_dir_or_warn (self->tmp_fd, self->tmp_dir);
  return TRUE;
}

gboolean
pd_store_commit_new_plugin (PdStore *self, PdPluginRecord *record, const char *staging_dir,
                            GError **error)
{
  g_return_val_if_fail (PD_IS_STORE (self), FALSE);
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), FALSE);

  return commit (self, record, staging_dir, FALSE, error);
}

gboolean
pd_store_commit_upgrade (PdStore *self, PdPluginRecord *record, const char *staging_dir,
                         GError **error)
{
  g_return_val_if_fail (PD_IS_STORE (self), FALSE);
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), FALSE);

  return commit (self, record, staging_dir, TRUE, error);
}

gboolean
pd_store_save_record (PdStore *self, PdPluginRecord *record, GError **error)
{
  g_autofree char *data = NULL;
  const char *id;
  gsize len = 0;
  gboolean ok;
  int fd;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), FALSE);

  id = pd_plugin_record_get_id (record);
  if (!pd_plugin_id_is_valid (id))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "invalid plugin id");
      return FALSE;
    }
  fd = openat (self->plugins_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin %s is not installed", id);
      else
        pd_set_error_from_errno (error, errno, "cannot open plugin %s", id);
      return FALSE;
    }
  data = record_data_for_save (record, &len, error);
  ok = data != NULL && pd_file_write_atomic_full_at (fd, RECORD_FILE, data, len, 0600,
                                                     "store-save-before-rename", error);
  close (fd);
  if (ok)
    pd_crash_point ("store-save-after-rename");
  return ok;
}

gboolean
pd_store_remove_plugin (PdStore *self, const char *id, GError **error)
{
  g_autofree char *removing = NULL;
  g_autofree char *record_path = NULL;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);

  if (!pd_plugin_id_is_valid (id))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "invalid plugin id");
      return FALSE;
    }
  removing = g_strconcat (id, REMOVING_SUFFIX, NULL);

  pd_crash_point ("store-remove-before-rename");

  /* a leftover of an earlier removal of the same id would make the rename fail */
  if (!pd_rm_rf_at (self->plugins_fd, removing, error))
    return FALSE;
  if (rename_noreplace (self->plugins_fd, id, self->plugins_fd, removing) < 0)
    {
      if (errno == ENOENT)
        g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin %s is not installed", id);
      else
        pd_set_error_from_errno (error, errno, "cannot remove plugin %s", id);
      return FALSE;
    }
  /* plugins/<id> is gone from here on, whatever happens next: a restart purges the -removing
   * dir, so a failed sync must not make the caller keep the plugin in memory */
  pd_store_sync_dir_or_warn (self->plugins_fd, self->plugins_dir);

  pd_crash_point ("store-remove-after-rename");

  record_path = g_build_filename (removing, RECORD_FILE, NULL);
  if (unlinkat (self->plugins_fd, record_path, 0) < 0 && errno != ENOENT)
    {
      g_autoptr(GError) local_error = NULL;
      pd_set_error_from_errno (&local_error, errno, "cannot remove %s", record_path);
      g_debug ("%s", local_error->message);
    }

  pd_crash_point ("store-remove-after-record-unlink");
  return TRUE;
}

gboolean
pd_store_purge_removed_plugin (PdStore *self, const char *id, GError **error)
{
  g_autofree char *removing = NULL;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);
  g_return_val_if_fail (pd_plugin_id_is_valid (id), FALSE);

  /* a failure here leaves <id>-removing, which the reconciler deletes at the next start */
  removing = g_strconcat (id, REMOVING_SUFFIX, NULL);
  return pd_rm_rf_at (self->plugins_fd, removing, error);
}

char *
pd_store_get_rootfs_path (PdStore *self, const char *id)
{
  g_return_val_if_fail (PD_IS_STORE (self), NULL);
  g_return_val_if_fail (pd_plugin_id_is_valid (id), NULL);

  return g_build_filename (self->plugins_dir, id, ROOTFS_DIR, NULL);
}

/* disk usage */

typedef struct {
  dev_t dev;
  ino_t ino;
} FileKey;

static guint
file_key_hash (gconstpointer p)
{
  const FileKey *key = p;
  return g_int64_hash (&(gint64) { (gint64) key->ino }) ^ (guint) key->dev;
}

static gboolean
file_key_equal (gconstpointer a, gconstpointer b)
{
  const FileKey *ka = a, *kb = b;
  return ka->dev == kb->dev && ka->ino == kb->ino;
}

typedef struct {
  dev_t dev;
  GHashTable *seen;   /* FileKey of files with more than one link */
  guint64 total;
} DiskUsage;

static gboolean
disk_usage_cb (int parent_fd, const char *name, const struct stat *st, gboolean is_dir_done,
               gpointer user_data, GError **error)
{
  DiskUsage *usage = user_data;

  if (st->st_dev != usage->dev)
    return TRUE;
  if (!S_ISDIR (st->st_mode) && st->st_nlink > 1)
    {
      FileKey key = { st->st_dev, st->st_ino };

      if (g_hash_table_contains (usage->seen, &key))
        return TRUE;
      g_hash_table_add (usage->seen, g_memdup2 (&key, sizeof key));
    }
  usage->total += (guint64) st->st_blocks * 512;
  return TRUE;
}

/* du -s semantics: allocated blocks, hard links counted once, symlinks not followed, mounts
 * not crossed; what cannot be read is left out. A few fds whatever the depth: a plugin may
 * have made its rootfs as deep as it likes. */
static guint64
disk_usage_at (int dirfd, const char *path)
{
  g_autoptr(GHashTable) seen = NULL;
  g_autoptr(GError) error = NULL;
  DiskUsage usage = { 0 };
  struct stat st;
  int fd;

  fd = openat (dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return 0;
  if (fstat (fd, &st) < 0)
    {
      close (fd);
      return 0;
    }
  seen = g_hash_table_new_full (file_key_hash, file_key_equal, g_free, NULL);
  usage.dev = st.st_dev;
  usage.seen = seen;
  usage.total = (guint64) st.st_blocks * 512;
  if (!pd_walk_tree_at (fd, path, disk_usage_cb, &usage, &error))
    g_debug ("disk usage of %s: %s", path, error->message);
  close (fd);
  return usage.total;
}

guint64
pd_store_get_disk_usage (PdStore *self, const char *id)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (PD_IS_STORE (self), 0);

  if (!pd_plugin_id_is_valid (id))
    return 0;
  path = g_build_filename (id, ROOTFS_DIR, NULL);
  return disk_usage_at (self->plugins_fd, path);
}

/* the usage the extraction helper counted while it wrote a staged rootfs, by the staging dir's
 * path, until pd_store_get_staging_disk_usage () takes it; in memory, because the staging dir
 * holds the rootfs and the record and nothing else */
static GMutex staging_usage_lock;
static GHashTable *staging_usage;   /* path → guint64 */

void
pd_store_note_staging_usage (const char *staging_dir, gboolean known, guint64 bytes)
{
  g_return_if_fail (staging_dir != NULL);

  g_mutex_lock (&staging_usage_lock);
  if (known)
    {
      if (staging_usage == NULL)
        staging_usage = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_hash_table_replace (staging_usage, g_strdup (staging_dir),
                            g_memdup2 (&bytes, sizeof bytes));
    }
  else if (staging_usage != NULL)
    {
      g_hash_table_remove (staging_usage, staging_dir);
    }
  g_mutex_unlock (&staging_usage_lock);
}

/* the helper's count for @staging_dir, once; FALSE when there is none */
static gboolean
take_staging_usage (const char *staging_dir, guint64 *out_bytes)
{
  gpointer key = NULL, value = NULL;
  gboolean found = FALSE;

  g_mutex_lock (&staging_usage_lock);
  if (staging_usage != NULL &&
      g_hash_table_steal_extended (staging_usage, staging_dir, &key, &value))
    {
      *out_bytes = *(guint64 *) value;
      found = TRUE;
      g_free (key);
      g_free (value);
    }
  g_mutex_unlock (&staging_usage_lock);
  return found;
}

guint64
pd_store_get_staging_disk_usage (PdStore *self, const char *staging_dir)
{
  const char *name = staging_name (self, staging_dir);
  g_autofree char *path = NULL;
  guint64 bytes;

  g_return_val_if_fail (PD_IS_STORE (self), 0);

  if (name == NULL)
    return 0;
  if (take_staging_usage (staging_dir, &bytes))
    return bytes;
  path = g_build_filename (name, ROOTFS_DIR, NULL);
  return disk_usage_at (self->tmp_fd, path);
}
