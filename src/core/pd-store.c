/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-store"

/* renameat2() and RENAME_NOREPLACE */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
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
#include "pd-store.h"

/*
 * Crash points (pd_crash_point(), reliability.md "Faults to inject"), in the order they fire:
 *
 *   blob-before-rename                  blob ingest synced in tmp/, not yet in blobs/sha256/
 *   blob-after-rename                   blob renamed into blobs/sha256/, dir not yet synced
 *   store-commit-record-before-rename   plugin.json temp written in the staging dir
 *   store-commit-before-rename          staging dir complete (record + rootfs), still in tmp/
 *   store-commit-after-rename           staging dir renamed to plugins/<id>, dirs not synced
 *   store-save-before-rename            new plugin.json temp synced next to the old one
 *   store-save-after-rename             new plugin.json in place
 *   store-remove-before-rename          nothing changed yet
 *   store-remove-after-rename           plugins/<id>-removing exists and is synced
 *   store-remove-after-record-unlink    plugin.json of the -removing dir deleted, rootfs not
 *   store-reconcile-after-tmp           reconciler emptied tmp/, the rest not yet reconciled
 *
 * A commit is one rename of a dir that already holds the record, so no crash can leave a
 * plugins/<id> dir without a valid record or rootfs. When one is found anyway (a record of a
 * newer daemon after a downgrade, a config that a later validator refuses, an I/O error) it is
 * real data: it is left in place, not listed, and blob GC keeps every blob its record file
 * names (or, when that file cannot be read at all, deletes nothing, since its blobs are
 * unknown).
 */

#define STAGING_PREFIX "stage-"
#define INGEST_PREFIX "ingest-"
#define REMOVING_SUFFIX "-removing"
#define RECORD_FILE "plugin.json"
#define ROOTFS_DIR "rootfs"
/* the largest record the store writes: with the bounds on new configs and on settings a record
 * stays far below it, and it stays far below what the loader takes
 * (PD_PLUGIN_RECORD_MAX_SIZE), so that every record saved loads again */
#define RECORD_SAVE_MAX (4 * 1024 * 1024)
G_STATIC_ASSERT (RECORD_SAVE_MAX * 2 <= PD_PLUGIN_RECORD_MAX_SIZE);
/* docker-plugins.md / reliability.md rule 2: manifests are capped at 4 MiB */
#define MANIFEST_MAX_SIZE (4 * 1024 * 1024)

struct _PdStore {
  GObject parent_instance;

  /* immutable after pd_store_new(): safe to read from GTask threads */
  char *state_dir;
  char *plugins_dir;
  char *blobs_dir;
  char *tmp_dir;
  int state_fd;
  int plugins_fd;
  int blobs_fd;
  int tmp_fd;

  /* guards pins and unlisted: blob writers commit from GTask threads */
  GMutex lock;
  /* hex of a blob → pin count (GUINT_TO_POINTER): blobs written by jobs whose records are not
   * committed yet, which GC must not delete */
  GHashTable *pins;
  /* name under plugins/ → why it is left in place and not listed; so that each is logged once */
  GHashTable *unlisted;
};

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

/* the hex part of a valid "sha256:<hex>", else NULL */
static const char *
digest_hex (const char *digest)
{
  return pd_digest_is_valid (digest) ? digest + 7 : NULL;
}

/* "<id>-removing" with a valid id: what pd_store_remove_plugin() makes, and nothing else */
static gboolean
is_removing_name (const char *name)
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
static void
sync_dir_or_warn (int dirfd, const char *what)
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

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* the entry names of the dir @dirfd/@name (or @dirfd itself when @name is NULL), sorted */
static GPtrArray *
list_dir_at (int dirfd, const char *name, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *entry;
  DIR *dir;
  int fd;

  fd = openat (dirfd, name != NULL ? name : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open %s", name != NULL ? name : ".");
      return NULL;
    }
  dir = fdopendir (fd);
  if (dir == NULL)
    {
      pd_set_error_from_errno (error, errno, "cannot read %s", name != NULL ? name : ".");
      close (fd);
      return NULL;
    }
  for (;;)
    {
      errno = 0;
      entry = readdir (dir);
      if (entry == NULL)
        break;
      if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, ".."))
        continue;
      g_ptr_array_add (names, g_strdup (entry->d_name));
    }
  if (errno != 0)
    {
      pd_set_error_from_errno (error, errno, "cannot read %s", name != NULL ? name : ".");
      closedir (dir);
      return NULL;
    }
  closedir (dir);
  g_ptr_array_sort (names, compare_strings);
  return g_steal_pointer (&names);
}

/* reads a regular file (never through a symlink) of at most @max_size bytes */
static GBytes *
read_file_at (int dirfd, const char *name, gsize max_size, GError **error)
{
  g_autoptr(GByteArray) buf = NULL;
  struct stat st;
  guint8 chunk[65536];
  int fd;

  /* a GByteArray holds at most G_MAXUINT bytes */
  max_size = MIN (max_size, (gsize) G_MAXUINT);
  fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open %s", name);
      return NULL;
    }
  if (fstat (fd, &st) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot stat %s", name);
      close (fd);
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "%s is not a regular file", name);
      close (fd);
      return NULL;
    }
  if ((guint64) st.st_size > max_size)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "%s is larger than %" G_GSIZE_FORMAT " bytes", name, max_size);
      close (fd);
      return NULL;
    }
  buf = g_byte_array_sized_new ((guint) st.st_size);
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          pd_set_error_from_errno (error, errno, "cannot read %s", name);
          close (fd);
          return NULL;
        }
      if (n == 0)
        break;
      /* the file may grow after the fstat: the cap holds for what is read */
      if (buf->len + (gsize) n > max_size)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                       "%s is larger than %" G_GSIZE_FORMAT " bytes", name, max_size);
          close (fd);
          return NULL;
        }
      g_byte_array_append (buf, chunk, (guint) n);
    }
  close (fd);
  return g_byte_array_free_to_bytes (g_steal_pointer (&buf));
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

/* reconciler */

static void
log_cleanup (const char *what, const char *name, const GError *error)
{
  g_autofree char *escaped = pd_escape_untrusted (name, -1);

  if (error != NULL)
    g_message ("reconcile: removing %s %s (%s)", what, escaped, error->message);
  else
    g_message ("reconcile: removing %s %s", what, escaped);
}

static void
remove_or_warn (int dirfd, const char *name)
{
  g_autoptr(GError) error = NULL;

  if (!pd_rm_rf_at (dirfd, name, &error))
    {
      g_autofree char *escaped = pd_escape_untrusted (name, -1);
      g_warning ("reconcile: cannot remove %s: %s", escaped, error->message);
    }
}

/* warns once per entry of plugins/ that is left in place and not listed */
static void
note_unlisted (PdStore *self, const char *name, const char *reason)
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

/* repairs modes and removes the temp files of interrupted writes in plugins/<id>; never
 * touches anything else, since a dir whose record cannot be read may hold real data */
static void
clean_plugin_dir (PdStore *self, const char *id)
{
  g_autoptr(GPtrArray) names = NULL;
  struct stat st;
  int fd;

  fd = openat (self->plugins_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;

  /* state dirs are 0700 and records 0600 whatever created them */
  if (fstat (fd, &st) == 0 && (st.st_mode & 07777) != 0700)
    (void) fchmod (fd, 0700);
  if (fstatat (fd, RECORD_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode)
      && (st.st_mode & 07777) != 0600)
    (void) fchmodat (fd, RECORD_FILE, 0600, 0);

  /* an interrupted pd_store_save_record() leaves its temp file next to plugin.json */
  names = list_dir_at (fd, NULL, NULL);
  for (guint i = 0; names != NULL && i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      if (g_str_has_prefix (name, PD_ATOMIC_TEMP_PREFIX))
        {
          g_autofree char *path = g_build_filename (id, name, NULL);
          log_cleanup ("interrupted write", path, NULL);
          remove_or_warn (fd, name);
        }
    }
  close (fd);
}

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

  data = read_file_at (self->plugins_fd, path, PD_PLUGIN_RECORD_MAX_SIZE, error);
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

static gboolean
reconcile (PdStore *self, GError **error)
{
  g_autoptr(GPtrArray) tmp_names = NULL;
  g_autoptr(GPtrArray) plugin_names = NULL;
  g_autoptr(GPtrArray) blob_names = NULL;

  /* tmp/: staging dirs and ingests of operations that did not finish (bug 23) */
  tmp_names = list_dir_at (self->tmp_fd, NULL, error);
  if (tmp_names == NULL)
    return FALSE;
  for (guint i = 0; i < tmp_names->len; i++)
    {
      const char *name = g_ptr_array_index (tmp_names, i);
      log_cleanup ("temporary", name, NULL);
      remove_or_warn (self->tmp_fd, name);
    }
  pd_crash_point ("store-reconcile-after-tmp");

  /* plugins/: every path is relative to our dir fd, never to the cwd (bug 7). Only what this
   * store makes is deleted; records are checked (and bad ones reported) by
   * pd_store_load_records(), so that a start parses each record once */
  plugin_names = list_dir_at (self->plugins_fd, NULL, error);
  if (plugin_names == NULL)
    return FALSE;
  for (guint i = 0; i < plugin_names->len; i++)
    {
      const char *name = g_ptr_array_index (plugin_names, i);

      if (is_removing_name (name))
        {
          log_cleanup ("interrupted removal", name, NULL);
          remove_or_warn (self->plugins_fd, name);
        }
      else if (!pd_plugin_id_is_valid (name))
        note_unlisted (self, name, "not a name plugind uses");
      else
        clean_plugin_dir (self, name);
    }

  /* blobs: published only by a rename after hashing, so a blob's name is right by
   * construction; hashing every blob here would take minutes on a large store, so the content
   * is checked where it is read (pd_store_read_blob()). Ingests live in tmp/: anything not
   * named by a digest, or not a regular file, is not a blob */
  blob_names = list_dir_at (self->blobs_fd, NULL, error);
  if (blob_names == NULL)
    return FALSE;
  for (guint i = 0; i < blob_names->len; i++)
    {
      const char *name = g_ptr_array_index (blob_names, i);
      struct stat st;

      if (!pd_plugin_id_is_valid (name))
        {
          log_cleanup ("foreign blob", name, NULL);
          remove_or_warn (self->blobs_fd, name);
          continue;
        }
      if (fstatat (self->blobs_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      if (!S_ISREG (st.st_mode))
        {
          log_cleanup ("blob that is not a regular file", name, NULL);
          remove_or_warn (self->blobs_fd, name);
        }
      else if ((st.st_mode & 07777) != 0600)
        {
          /* files are 0600 whatever the umask; repair what an older version or an admin left */
          (void) fchmodat (self->blobs_fd, name, 0600, 0);
        }
    }

  /* none of the deletions above needs to be durable: a crash repeats them */
  return TRUE;
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

  if (!reconcile (self, error))
    return NULL;

  return g_steal_pointer (&self);
}

const char *
pd_store_get_state_dir (PdStore *self)
{
  g_return_val_if_fail (PD_IS_STORE (self), NULL);
  return self->state_dir;
}

/* records */

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

  names = list_dir_at (self->plugins_fd, NULL, error);
  if (names == NULL)
    return NULL;
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autoptr(GError) local_error = NULL;
      PdPluginRecord *record;

      /* a removal in progress: the plugin is gone already */
      if (is_removing_name (name))
        continue;
      if (!pd_plugin_id_is_valid (name))
        {
          note_unlisted (self, name, "not a name plugind uses");
          continue;
        }
      record = load_plugin_dir (self, name, &local_error);
      if (record == NULL)
        {
          /* left in place: it may be the data of another daemon version (see the top) */
          note_unlisted (self, name, local_error->message);
          continue;
        }
      forget_unlisted (self, name);
      g_ptr_array_add (records, record);
    }
  g_ptr_array_sort (records, compare_records_by_name);
  return g_steal_pointer (&records);
}

/* staging */

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
  return pd_rm_rf_at (self->tmp_fd, name, error);
}

/* checks the staging dir's rootfs and writes the record into it: the dir is then a complete
 * plugins/<id> waiting for its rename. Returns the staging dir's name under tmp/. */
static const char *
prepare_commit (PdStore *self, PdPluginRecord *record, const char *staging_dir, GError **error)
{
  g_autofree char *data = NULL;
  const char *name = staging_name (self, staging_dir);
  struct stat st;
  gsize len = 0;
  int staging_fd;

  if (name == NULL || !pd_plugin_id_is_valid (pd_plugin_record_get_id (record)))
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

gboolean
pd_store_commit_new_plugin (PdStore *self, PdPluginRecord *record, const char *staging_dir,
                            GError **error)
{
  const char *name;
  const char *id;
  struct stat st;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), FALSE);

  id = pd_plugin_record_get_id (record);
  if (pd_plugin_id_is_valid (id) && fstatat (self->plugins_fd, id, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_EXISTS, "plugin %s already exists", id);
      return FALSE;
    }
  name = prepare_commit (self, record, staging_dir, error);
  if (name == NULL)
    return FALSE;

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

  /* plugins/<id> is complete and visible from here on: the commit stands */
  sync_dir_or_warn (self->plugins_fd, self->plugins_dir);
  sync_dir_or_warn (self->tmp_fd, self->tmp_dir);
  return TRUE;
}

gboolean
pd_store_commit_upgrade (PdStore *self, PdPluginRecord *record, const char *staging_dir,
                         GError **error)
{
  const char *name;
  const char *id;
  struct stat st;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), FALSE);

  id = pd_plugin_record_get_id (record);
  if (!pd_plugin_id_is_valid (id) || fstatat (self->plugins_fd, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin %s is not installed", id);
      return FALSE;
    }
  name = prepare_commit (self, record, staging_dir, error);
  if (name == NULL)
    return FALSE;

  pd_crash_point ("store-upgrade-before-exchange");

  /* one step: plugins/<id> is the old plugin before and the new one after, whatever crashes;
   * the old one lands in tmp/, which the reconciler empties */
  if (renameat2 (self->tmp_fd, name, self->plugins_fd, id, RENAME_EXCHANGE) < 0)
    {
      int errsv = errno;

      pd_set_error_from_errno (error, errsv, "cannot swap the upgraded plugin into place%s",
                               errsv == EINVAL ? " (the file system cannot exchange names)" : "");
      return FALSE;
    }

  pd_crash_point ("store-upgrade-after-exchange");

  sync_dir_or_warn (self->plugins_fd, self->plugins_dir);
  sync_dir_or_warn (self->tmp_fd, self->tmp_dir);
  return TRUE;
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
  sync_dir_or_warn (self->plugins_fd, self->plugins_dir);

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

guint64
pd_store_get_staging_disk_usage (PdStore *self, const char *staging_dir)
{
  const char *name = staging_name (self, staging_dir);
  g_autofree char *path = NULL;

  g_return_val_if_fail (PD_IS_STORE (self), 0);

  if (name == NULL)
    return 0;
  path = g_build_filename (name, ROOTFS_DIR, NULL);
  return disk_usage_at (self->tmp_fd, path);
}

/* blobs */

static void
pin_blob (PdStore *self, const char *hex)
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
  const char *hex = digest_hex (digest);
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

  pd_crash_point ("blob-before-rename");

  /* pinned before it is visible, so a GC running now cannot delete it before the job that
   * wrote it has committed its record (or failed) and unpins it */
  pin_blob (store, digest + 7);

  /* an existing blob of the same name should have the same content; replacing it is harmless,
   * repairs one that rotted, and keeps this a single atomic step */
  if (renameat (store->tmp_fd, writer->tmp_name, store->blobs_fd, digest + 7) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot store blob %s", digest);
      pd_store_unpin_blob (store, digest);
      return NULL;
    }
  writer->committed = TRUE;

  pd_crash_point ("blob-after-rename");

  /* the blob is published: the caller must get its digest to unpin it */
  sync_dir_or_warn (store->blobs_fd, store->blobs_dir);
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

gboolean
pd_store_pin_existing_blob (PdStore *self, const char *digest)
{
  const char *hex = digest_hex (digest);
  struct stat st;
  gboolean exists;

  g_return_val_if_fail (PD_IS_STORE (self), FALSE);

  if (hex == NULL)
    return FALSE;
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
  const char *hex = digest_hex (digest);
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
  const char *hex = digest_hex (digest);
  gconstpointer data;
  gsize len;

  g_return_val_if_fail (PD_IS_STORE (self), NULL);

  if (hex == NULL)
    {
      g_autofree char *escaped = pd_escape_untrusted (digest, -1);
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "invalid digest %s", escaped);
      return NULL;
    }
  bytes = read_file_at (self->blobs_fd, hex, max_size, &local_error);
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
  actual = pd_sha256_digest_bytes (data, len);
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
  const char *hex = digest_hex (digest);

  g_return_val_if_fail (PD_IS_STORE (self), NULL);

  if (hex == NULL)
    return NULL;
  return g_build_filename (self->blobs_dir, hex, NULL);
}

static void
mark_reachable (GHashTable *reachable, const char *digest)
{
  const char *hex = digest_hex (digest);

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
  bytes = pd_store_read_blob (self, manifest, MANIFEST_MAX_SIZE, &local_error);
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

  names = list_dir_at (self->plugins_fd, NULL, error);
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

  /* every blob a record can reach is kept, the manifest and what it lists included (bug 3) */
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

  names = list_dir_at (self->blobs_fd, NULL, error);
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
