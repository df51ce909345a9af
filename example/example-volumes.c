/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* plugind-example's volume store: a volume is the directory <data>/volumes/<name>, and the
 * directories are the only state; which callers mount what is counted in memory */

#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "example.h"

#define DEFAULT_DATA_DIR "/data"
#define MAX_MOUNT_REFS   4096
#define MAX_TREE_DEPTH   128

char data_dir[PATH_MAX - VOLUME_NAME_MAX - 16] = DEFAULT_DATA_DIR;

/* one caller's mounts of a volume: Mount adds one, Unmount takes one away */
struct mount_ref {
  char *name;
  char *id;
  unsigned int count;
};

static struct mount_ref *mount_refs;
static size_t n_mount_refs;

bool
volume_name_valid (const char *name)
{
  size_t len = strlen (name);

  if (len < 2 || len > VOLUME_NAME_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    {
      char c = name[i];
      bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

      if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
        return false;
    }
  return true;
}

/* the volume's directory as the plugin sees it, which is its Mountpoint */
void
volume_path (const char *name, char *out, size_t out_size)
{
  int len = snprintf (out, out_size, "%s/volumes/%s", data_dir, name);

  /* cannot happen: data_dir leaves room for the longest valid name */
  if (len < 0 || (size_t) len >= out_size)
    abort ();
}

/* <data>/volumes, created when @create; -1 with errno set on failure */
int
open_volumes_dir (bool create)
{
  char path[PATH_MAX];
  int fd;

  snprintf (path, sizeof path, "%s/volumes", data_dir);
  fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT || !create)
    return fd;
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return -1;
  fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 && fchmod (fd, 0755) < 0)
    {
      int saved = errno;

      close (fd);
      errno = saved;
      return -1;
    }
  return fd;
}

/* a volume is a real directory under <data>/volumes: a symlink there is none */
bool
volume_exists_at (int volumes_fd, const char *name)
{
  struct stat st;

  return fstatat (volumes_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (st.st_mode);
}

bool
volume_exists (const char *name)
{
  int fd = open_volumes_dir (false);
  bool exists;

  if (fd < 0)
    return false;
  exists = volume_exists_at (fd, name);
  close (fd);
  return exists;
}

struct mount_ref *
mount_ref_find (const char *name, const char *id)
{
  for (size_t i = 0; i < n_mount_refs; i++)
    if (strcmp (mount_refs[i].name, name) == 0 && strcmp (mount_refs[i].id, id) == 0)
      return &mount_refs[i];
  return NULL;
}

/* how many mounts of the volume are active, over all callers */
unsigned long
volume_mount_count (const char *name)
{
  unsigned long count = 0;

  for (size_t i = 0; i < n_mount_refs; i++)
    if (strcmp (mount_refs[i].name, name) == 0)
      count += mount_refs[i].count;
  return count;
}

bool
mount_ref_add (const char *name, const char *id)
{
  struct mount_ref *ref = mount_ref_find (name, id);
  struct mount_ref *grown;

  if (ref != NULL)
    {
      if (ref->count == UINT_MAX)
        return false;
      ref->count++;
      return true;
    }
  if (n_mount_refs >= MAX_MOUNT_REFS)
    return false;
  grown = realloc (mount_refs, (n_mount_refs + 1) * sizeof *mount_refs);
  if (grown == NULL)
    return false;
  mount_refs = grown;
  ref = &mount_refs[n_mount_refs];
  ref->name = strdup (name);
  ref->id = strdup (id);
  ref->count = 1;
  if (ref->name == NULL || ref->id == NULL)
    {
      free (ref->name);
      free (ref->id);
      return false;
    }
  n_mount_refs++;
  return true;
}

void
mount_ref_release (struct mount_ref *ref)
{
  if (--ref->count > 0)
    return;
  free (ref->name);
  free (ref->id);
  *ref = mount_refs[--n_mount_refs];
}

/* removes @name under @parent_fd and everything below it, never following a symlink (a
 * container may have put any of them there); 0, or -1 with errno set */
int
remove_tree_at (int parent_fd, const char *name, unsigned int depth)
{
  for (int attempt = 0; attempt < 3; attempt++)
    {
      struct dirent *entry;
      DIR *dir;
      int fd;

      if (unlinkat (parent_fd, name, AT_REMOVEDIR) == 0)
        return 0;
      if (errno != ENOTEMPTY && errno != EEXIST)
        return -1;
      if (depth >= MAX_TREE_DEPTH)
        {
          errno = ELOOP;
          return -1;
        }
      fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0)
        return -1;
      dir = fdopendir (fd);
      if (dir == NULL)
        {
          int saved = errno;

          close (fd);
          errno = saved;
          return -1;
        }
      while ((entry = readdir (dir)) != NULL)
        {
          if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
          if (unlinkat (fd, entry->d_name, 0) == 0)
            continue;
          /* Linux refuses to unlink a directory with EISDIR */
          if (errno != EISDIR || remove_tree_at (fd, entry->d_name, depth + 1) < 0)
            {
              int saved = errno;

              closedir (dir);
              errno = saved;
              return -1;
            }
        }
      closedir (dir);
    }
  return unlinkat (parent_fd, name, AT_REMOVEDIR);
}

