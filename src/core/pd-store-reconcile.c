/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-store"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-reference.h"
#include "pd-store-private.h"

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
  names = pd_list_dir_at (fd, NULL, NULL);
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

gboolean
pd_store_reconcile (PdStore *self, GError **error)
{
  g_autoptr(GPtrArray) tmp_names = NULL;
  g_autoptr(GPtrArray) plugin_names = NULL;
  g_autoptr(GPtrArray) blob_names = NULL;

  /* tmp/: staging dirs and ingests of operations that did not finish, which nothing else
   * would ever delete */
  tmp_names = pd_list_dir_at (self->tmp_fd, NULL, error);
  if (tmp_names == NULL)
    return FALSE;
  for (guint i = 0; i < tmp_names->len; i++)
    {
      const char *name = g_ptr_array_index (tmp_names, i);
      log_cleanup ("temporary", name, NULL);
      remove_or_warn (self->tmp_fd, name);
    }
  pd_crash_point ("store-reconcile-after-tmp");

  /* plugins/: every path is relative to our dir fd, never to the working dir (Docker's reload
   * removed -removing dirs through a relative path). Only what this store makes is deleted;
   * records are checked (and bad ones reported) by pd_store_load_records(), so that a start
   * parses each record once */
  plugin_names = pd_list_dir_at (self->plugins_fd, NULL, error);
  if (plugin_names == NULL)
    return FALSE;
  for (guint i = 0; i < plugin_names->len; i++)
    {
      const char *name = g_ptr_array_index (plugin_names, i);

      if (pd_store_is_removing_name (name))
        {
          log_cleanup ("interrupted removal", name, NULL);
          remove_or_warn (self->plugins_fd, name);
        }
      else if (!pd_plugin_id_is_valid (name))
        pd_store_note_unlisted (self, name, "not a name plugind uses");
      else
        clean_plugin_dir (self, name);
    }

  /* blobs: published only by a rename after hashing, so a blob's name is right by
   * construction; hashing every blob here would take minutes on a large store, so the content
   * is checked where it is read (pd_store_read_blob()). Ingests live in tmp/: anything not
   * named by a digest, or not a regular file, is not a blob */
  blob_names = pd_list_dir_at (self->blobs_fd, NULL, error);
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
