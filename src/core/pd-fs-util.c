/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-fs-util"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "pd-error.h"
#include "pd-fs-util.h"

void
pd_set_error_from_errno (GError **error, int errsv, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (error == NULL)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, PD_ERROR,
               (errsv == ENOSPC || errsv == EDQUOT) ? PD_ERROR_NO_SPACE : PD_ERROR_FAILED,
               "%s: %s", message, g_strerror (errsv));
}

void
pd_crash_point (const char *name)
{
  const char *wanted = getenv ("PLUGIND_CRASH_POINT");

  if (wanted != NULL && name != NULL && strcmp (wanted, name) == 0)
    {
      /* SIGKILL cannot be caught: nothing after this point runs, as with kill -9 */
      kill (getpid (), SIGKILL);
      /* kill() to ourselves is delivered before it returns; be sure anyway */
      for (;;)
        pause ();
    }
}

int
pd_close_keep_errno (int fd)
{
  int errsv = errno;
  int r = -1;

  if (fd >= 0)
    r = close (fd);
  errno = errsv;
  return r;
}

gboolean
pd_write_all (int fd, const void *data, gsize len, GError **error)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, MIN (len, (gsize) G_MAXSSIZE));

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          pd_set_error_from_errno (error, errno, "cannot write");
          return FALSE;
        }
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

char *
pd_random_name (const char *prefix)
{
  return g_strdup_printf ("%s%08x%08x", prefix, g_random_int (), g_random_int ());
}

gboolean
pd_fsync_dir_at (int dirfd, const char *name, GError **error)
{
  int fd;

  if (name == NULL || g_str_equal (name, "."))
    {
      if (dirfd != AT_FDCWD)
        {
          if (fsync (dirfd) < 0 && errno != EINVAL)
            {
              pd_set_error_from_errno (error, errno, "cannot sync directory");
              return FALSE;
            }
          return TRUE;
        }
      name = ".";
    }

  fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open directory %s", name);
      return FALSE;
    }
  /* EINVAL: the file system does not support syncing directories; nothing more to do */
  if (fsync (fd) < 0 && errno != EINVAL)
    {
      pd_set_error_from_errno (error, errno, "cannot sync directory %s", name);
      pd_close_keep_errno (fd);
      return FALSE;
    }
  close (fd);
  return TRUE;
}

gboolean
pd_file_write_atomic_full_at (int dirfd,
                              const char *name,
                              const void *data,
                              gsize len,
                              mode_t mode,
                              const char *crash_point_before_rename,
                              GError **error)
{
  g_autofree char *tmp_name = NULL;
  int fd = -1;

  g_return_val_if_fail (name != NULL && strchr (name, '/') == NULL, FALSE);

  /* the temp file lives in the same dir so that the rename is atomic; the store's reconciler
   * knows the PD_ATOMIC_TEMP_PREFIX and removes leftovers */
  for (int attempt = 0; fd < 0; attempt++)
    {
      g_free (tmp_name);
      tmp_name = g_strdup_printf (PD_ATOMIC_TEMP_PREFIX "%s.%08x", name, g_random_int ());
      fd = openat (dirfd, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
      if (fd < 0 && (errno != EEXIST || attempt > 100))
        {
          pd_set_error_from_errno (error, errno, "cannot create a temporary file for %s", name);
          return FALSE;
        }
    }

  /* the umask must not decide the mode of state files */
  if (fchmod (fd, mode) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot set the mode of %s", name);
      goto fail;
    }
  if (!pd_write_all (fd, data, len, error))
    {
      g_prefix_error (error, "%s: ", name);
      goto fail;
    }
  if (fsync (fd) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot sync %s", name);
      goto fail;
    }
  if (close (fd) < 0)
    {
      fd = -1;
      pd_set_error_from_errno (error, errno, "cannot close %s", name);
      goto fail;
    }
  fd = -1;

  if (crash_point_before_rename != NULL)
    pd_crash_point (crash_point_before_rename);

  if (renameat (dirfd, tmp_name, dirfd, name) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot rename the temporary file to %s", name);
      goto fail;
    }

  /* the new content is in place from here on: failing now would make the caller roll back in
   * memory what readers already see on disk, so a failed dir sync is only logged */
  {
    g_autoptr(GError) sync_error = NULL;

    if (!pd_fsync_dir_at (dirfd, NULL, &sync_error))
      g_warning ("%s was written, but its directory could not be synced: %s", name,
                 sync_error->message);
  }
  return TRUE;

fail:
  pd_close_keep_errno (fd);
  unlinkat (dirfd, tmp_name, 0);
  return FALSE;
}

gboolean
pd_file_write_atomic_at (int dirfd, const char *name, const void *data, gsize len,
                         mode_t mode, GError **error)
{
  return pd_file_write_atomic_full_at (dirfd, name, data, len, mode, NULL, error);
}

/* section: walking a tree with a few fds */

/* A directory on the way down: its entries, read at once when it was opened, so that its fd
 * can be closed while a subdirectory is walked; the parent is reopened through the child's
 * "..", checked to be the same directory (a rename meanwhile is an error, never a jump to
 * another tree). At most four fds are open, whatever the depth: the root's, the current
 * directory's, and one while a directory is read or its parent reopened. */
typedef struct {
  char *name;           /* in its parent; NULL for the root */
  struct stat st;
  GPtrArray *entries;   /* names */
  guint next;
} WalkLevel;

static void
walk_level_free (WalkLevel *level)
{
  g_free (level->name);
  g_clear_pointer (&level->entries, g_ptr_array_unref);
  g_free (level);
}

/* the names in the dir open at @fd (which stays open; @what names it in errors), "." and ".."
 * left out */
static GPtrArray *
read_dir_names (int fd, const char *what, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int copy = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  DIR *dir;

  if (copy < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot read %s", what);
      return NULL;
    }
  dir = fdopendir (copy);
  if (dir == NULL)
    {
      pd_set_error_from_errno (error, errno, "cannot read %s", what);
      close (copy);
      return NULL;
    }
  for (;;)
    {
      struct dirent *entry;

      errno = 0;
      entry = readdir (dir);
      if (entry == NULL)
        {
          int errsv = errno;

          closedir (dir);
          if (errsv != 0)
            {
              pd_set_error_from_errno (error, errsv, "cannot read %s", what);
              return NULL;
            }
          return g_steal_pointer (&names);
        }
      if (!g_str_equal (entry->d_name, ".") && !g_str_equal (entry->d_name, ".."))
        g_ptr_array_add (names, g_strdup (entry->d_name));
    }
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
pd_list_dir_at (int dirfd, const char *name, GError **error)
{
  const char *what = name != NULL ? name : ".";
  GPtrArray *names;
  int fd;

  fd = openat (dirfd, what, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open %s", what);
      return NULL;
    }
  names = read_dir_names (fd, what, error);
  close (fd);
  if (names != NULL)
    g_ptr_array_sort (names, compare_strings);
  return names;
}

GBytes *
pd_read_file_at (int dirfd, const char *name, gsize max_size, GError **error)
{
  g_autoptr(GByteArray) buf = NULL;
  struct stat st;
  guint8 chunk[65536];
  int fd;

  /* a GByteArray holds at most G_MAXUINT bytes */
  max_size = MIN (max_size, (gsize) G_MAXUINT);
  /* O_NONBLOCK: a FIFO in its place must not block us before the S_ISREG check */
  fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
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

/* "@root_name/a/b/@name" of the levels on @stack, for messages */
static char *
walk_path (const char *root_name, GPtrArray *stack, const char *name)
{
  g_autoptr(GString) path = g_string_new (root_name);

  for (guint i = 1; i < stack->len; i++)
    g_string_append_printf (path, "/%s", ((WalkLevel *) g_ptr_array_index (stack, i))->name);
  if (name != NULL)
    g_string_append_printf (path, "/%s", name);
  return g_string_free (g_steal_pointer (&path), FALSE);
}

static void
keep_first_error (GError **first, GError *error)
{
  if (*first == NULL)
    *first = error;
  else
    g_error_free (error);
}

gboolean
pd_walk_tree_at (int root_fd, const char *root_name, PdWalkFunc func, gpointer user_data,
                 GError **error)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new_with_free_func ((GDestroyNotify) walk_level_free);
  g_autoptr(GError) first_error = NULL;
  WalkLevel *root = g_new0 (WalkLevel, 1);
  int fd = root_fd;

  g_ptr_array_add (stack, root);
  if (fstat (root_fd, &root->st) < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot stat %s", root_name);
      return FALSE;
    }
  root->entries = read_dir_names (root_fd, "a directory", error);
  if (root->entries == NULL)
    {
      g_prefix_error (error, "%s: ", root_name);
      return FALSE;
    }

  for (;;)
    {
      WalkLevel *top = g_ptr_array_index (stack, stack->len - 1);
      GError *local_error = NULL;

      if (top->next < top->entries->len)
        {
          const char *name = g_ptr_array_index (top->entries, top->next++);
          WalkLevel *child;
          struct stat st;
          int child_fd;

          if (fstatat (fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            {
              if (errno != ENOENT)
                {
                  g_autofree char *path = walk_path (root_name, stack, name);
                  pd_set_error_from_errno (&local_error, errno, "cannot stat %s", path);
                  keep_first_error (&first_error, local_error);
                }
              continue;
            }
          /* a directory of another file system (a mount point) is the callback's to judge */
          if (!S_ISDIR (st.st_mode) || st.st_dev != root->st.st_dev)
            {
              if (!func (fd, name, &st, FALSE, user_data, &local_error))
                keep_first_error (&first_error, local_error);
              continue;
            }

          child_fd = openat (fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
          if (child_fd < 0)
            {
              if (errno != ENOENT)
                {
                  g_autofree char *path = walk_path (root_name, stack, name);
                  pd_set_error_from_errno (&local_error, errno, "cannot open %s", path);
                  keep_first_error (&first_error, local_error);
                }
              continue;
            }
          child = g_new0 (WalkLevel, 1);
          child->name = g_strdup (name);
          /* the entry may have been swapped for another since the lstat */
          if (fstat (child_fd, &child->st) < 0 || child->st.st_dev != st.st_dev ||
              child->st.st_ino != st.st_ino)
            {
              g_autofree char *path = walk_path (root_name, stack, name);
              g_set_error (&local_error, PD_ERROR, PD_ERROR_FAILED,
                           "%s changed while being walked", path);
              keep_first_error (&first_error, local_error);
              walk_level_free (child);
              close (child_fd);
              continue;
            }
          child->entries = read_dir_names (child_fd, "a directory", &local_error);
          if (child->entries == NULL)
            {
              g_autofree char *path = walk_path (root_name, stack, name);
              g_prefix_error (&local_error, "%s: ", path);
              keep_first_error (&first_error, local_error);
              walk_level_free (child);
              close (child_fd);
              continue;
            }
          g_ptr_array_add (stack, child);
          if (fd != root_fd)
            close (fd);
          fd = child_fd;
          continue;
        }

      /* @top is done: back to its parent, then the parent's callback for it */
      if (top == root)
        break;
      {
        WalkLevel *parent = g_ptr_array_index (stack, stack->len - 2);
        int parent_fd = root_fd;
        struct stat st;

        if (parent != root)
          {
            parent_fd = openat (fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
            if (parent_fd < 0 || fstat (parent_fd, &st) < 0 || st.st_dev != parent->st.st_dev ||
                st.st_ino != parent->st.st_ino)
              {
                g_autofree char *path = walk_path (root_name, stack, NULL);

                if (parent_fd >= 0)
                  close (parent_fd);
                close (fd);
                /* nothing above can be reached safely any more */
                g_set_error (&local_error, PD_ERROR, PD_ERROR_FAILED,
                             "%s moved while being walked", path);
                keep_first_error (&first_error, local_error);
                g_propagate_error (error, g_steal_pointer (&first_error));
                return FALSE;
              }
          }
        close (fd);
        fd = parent_fd;
        if (!func (fd, top->name, &top->st, TRUE, user_data, &local_error))
          keep_first_error (&first_error, local_error);
        g_ptr_array_set_size (stack, stack->len - 1);
      }
    }

  if (first_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&first_error));
      return FALSE;
    }
  return TRUE;
}

/* section: recursive delete */

typedef struct {
  const char *root_name;
} RmData;

static gboolean
rm_entry_cb (int parent_fd, const char *name, const struct stat *st, gboolean is_dir,
             gpointer user_data, GError **error)
{
  RmData *data = user_data;

  /* a directory of another device is a mount point: never delete what is mounted there */
  if (!is_dir && S_ISDIR (st->st_mode))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "cannot remove %s in %s: it is a mount point", name, data->root_name);
      return FALSE;
    }
  if (unlinkat (parent_fd, name, is_dir ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
    {
      pd_set_error_from_errno (error, errno, "cannot remove %s in %s", name, data->root_name);
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_rm_rf_at (int dirfd, const char *name, GError **error)
{
  struct stat st;
  struct stat parent;
  struct stat fst;
  RmData data = { name };
  int r;
  int fd;

  g_return_val_if_fail (name != NULL && *name != '\0', FALSE);

  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return TRUE;
      pd_set_error_from_errno (error, errno, "cannot stat %s", name);
      return FALSE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      if (unlinkat (dirfd, name, 0) < 0 && errno != ENOENT)
        {
          pd_set_error_from_errno (error, errno, "cannot remove %s", name);
          return FALSE;
        }
      return TRUE;
    }

  /* the device of the dir holding @name: a @name on another device is a mount point */
  if (dirfd == AT_FDCWD || strchr (name, '/') != NULL)
    {
      g_autofree char *parent_name = g_path_get_dirname (name);
      r = fstatat (dirfd, parent_name, &parent, 0);
    }
  else
    r = fstat (dirfd, &parent);
  if (r < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot stat the parent of %s", name);
      return FALSE;
    }
  if (st.st_dev != parent.st_dev)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "cannot remove %s: it is a mount point", name);
      return FALSE;
    }

  fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return TRUE;
      pd_set_error_from_errno (error, errno, "cannot open %s", name);
      return FALSE;
    }
  /* the entry may have been swapped for another dir since the lstat: check it is the same */
  if (fstat (fd, &fst) < 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "cannot remove %s: it changed while being removed", name);
      close (fd);
      return FALSE;
    }
  /* every entry is attempted even after an error, so that as much as possible is gone */
  r = pd_walk_tree_at (fd, name, rm_entry_cb, &data, error);
  close (fd);
  if (!r)
    return FALSE;
  if (unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    {
      pd_set_error_from_errno (error, errno, "cannot remove %s", name);
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_mkdir_with_mode (const char *path, mode_t mode, GError **error)
{
  g_autofree char *copy = NULL;
  struct stat st;
  char *p;
  int fd;

  g_return_val_if_fail (path != NULL && *path != '\0', FALSE);

  copy = g_strdup (path);
  /* create the missing parents; existing parents are left as they are (they may be /var) */
  for (p = copy + 1; *p != '\0'; p++)
    {
      if (*p != '/')
        continue;
      *p = '\0';
      if (mkdir (copy, mode) == 0)
        {
          if (chmod (copy, mode) < 0)
            {
              pd_set_error_from_errno (error, errno, "cannot set the mode of %s", copy);
              return FALSE;
            }
        }
      else if (errno != EEXIST)
        {
          pd_set_error_from_errno (error, errno, "cannot create %s", copy);
          return FALSE;
        }
      *p = '/';
    }

  if (mkdir (path, mode) < 0 && errno != EEXIST)
    {
      pd_set_error_from_errno (error, errno, "cannot create %s", path);
      return FALSE;
    }

  /* chmod through an fd so that the mode is set on the dir we checked, whatever the umask */
  fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open %s", path);
      return FALSE;
    }
  if (fstat (fd, &st) < 0 || ((st.st_mode & 07777) != mode && fchmod (fd, mode) < 0))
    {
      pd_set_error_from_errno (error, errno, "cannot set the mode of %s", path);
      pd_close_keep_errno (fd);
      return FALSE;
    }
  close (fd);
  return TRUE;
}

gboolean
pd_mkdir_at_with_mode (int dirfd, const char *name, mode_t mode, GError **error)
{
  struct stat st;
  int fd;

  if (mkdirat (dirfd, name, mode) < 0 && errno != EEXIST)
    {
      pd_set_error_from_errno (error, errno, "cannot create %s", name);
      return FALSE;
    }
  /* O_NOFOLLOW: a symlink planted at @name is an error, not something to chmod */
  fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open %s", name);
      return FALSE;
    }
  if (fstat (fd, &st) < 0 || ((st.st_mode & 07777) != mode && fchmod (fd, mode) < 0))
    {
      pd_set_error_from_errno (error, errno, "cannot set the mode of %s", name);
      pd_close_keep_errno (fd);
      return FALSE;
    }
  close (fd);
  return TRUE;
}
