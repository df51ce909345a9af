/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* plugind-example's volume store: a volume is the directory <data>/volumes/<name>, and the
 * directories are the only state; which callers mount what is counted in memory. While any
 * caller has it mounted, the directory is bind-mounted at <mount>/<name>, its Mountpoint: a
 * real mount of its own, which plugind makes appear on the host (the config's PropagatedMount
 * is <mount>) */

#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "example.h"

#define DEFAULT_DATA_DIR "/data"
#define DEFAULT_MOUNT_DIR "/mnt/volumes"
#define MAX_MOUNT_REFS   4096
#define MAX_TREE_DEPTH   128

char data_dir[PATH_MAX - VOLUME_NAME_MAX - 16] = DEFAULT_DATA_DIR;
char mount_dir[PATH_MAX - VOLUME_NAME_MAX - 16] = DEFAULT_MOUNT_DIR;

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

void
volume_mountpoint (const char *name, char *out, size_t out_size)
{
  int len = snprintf (out, out_size, "%s/%s", mount_dir, name);

  /* cannot happen: mount_dir leaves room for the longest valid name */
  if (len < 0 || (size_t) len >= out_size)
    abort ();
}

/* mount(2) on what @src_fd and @dst_fd are (O_PATH), through their /proc/self/fd links: what
 * a container did to the paths meanwhile is not followed */
static int
bind_fds (int src_fd, int dst_fd)
{
  char src[64], dst[64];

  snprintf (src, sizeof src, "/proc/self/fd/%d", src_fd);
  snprintf (dst, sizeof dst, "/proc/self/fd/%d", dst_fd);
  return mount (src, dst, "none", MS_BIND, NULL);
}

int
volume_mount (const char *name)
{
  int volumes_fd = open_volumes_dir (false);
  int mounts_fd = -1, src = -1, dst = -1;
  int r = -1, saved;

  if (volumes_fd < 0)
    return -1;
  /* a volume is a real directory, its Mountpoint too: neither is followed through a symlink */
  src = openat (volumes_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  mounts_fd = open (mount_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (src >= 0 && mounts_fd >= 0 && (mkdirat (mounts_fd, name, 0755) == 0 || errno == EEXIST))
    dst = openat (mounts_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst >= 0)
    r = bind_fds (src, dst);
  saved = errno;
  if (r < 0 && mounts_fd >= 0)
    unlinkat (mounts_fd, name, AT_REMOVEDIR);
  close (volumes_fd);
  if (mounts_fd >= 0)
    close (mounts_fd);
  if (src >= 0)
    close (src);
  if (dst >= 0)
    close (dst);
  errno = saved;
  return r;
}

int
volume_unmount (const char *name)
{
  char path[PATH_MAX];
  int mounts_fd;

  volume_mountpoint (name, path, sizeof path);
  /* detached: a process still inside is no reason to keep the volume mounted here */
  if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
    return -1;
  mounts_fd = open (mount_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mounts_fd >= 0)
    {
      unlinkat (mounts_fd, name, AT_REMOVEDIR);
      close (mounts_fd);
    }
  return 0;
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
volume_unmount_all (void)
{
  for (size_t i = 0; i < n_mount_refs; i++)
    if (volume_unmount (mount_refs[i].name) < 0)
      log_error ("unmounting volume %s: %s", mount_refs[i].name, strerror (errno));
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

