/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <glib-unix.h>
#include <glib/gi18n.h>

#include "ctl-context.h"
#include "pd-archive.h"
#include "pd-fs-util.h"

/* The create context, read here only for its config.json (the privileges the user consents to
 * are computed from it) and sent whole to the daemon, which checks and unpacks it: a tar
 * archive as the file itself, a directory as a tar archive written by a thread into a pipe. */

typedef struct archive CtlArchive;
typedef struct archive_entry CtlArchiveEntry;
typedef struct archive_entry_linkresolver CtlLinkResolver;

static void
ctl_archive_free (CtlArchive *a)
{
  archive_free (a);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlArchive, ctl_archive_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlArchiveEntry, archive_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlLinkResolver, archive_entry_linkresolver_free)

/* the daemon's limit for config.json, so that what is too large fails before any upload */
static gsize
max_config_size (void)
{
  PdArchiveLimits limits;

  pd_archive_limits_init (&limits);
  return limits.max_config_size;
}

/* reading the config */

/* Docker's name test for the context's config: leading "/" stripped, path cleaned */
static gboolean
is_config_entry (const char *pathname)
{
  g_autofree char *clean = NULL;

  if (pathname == NULL || pathname[0] == '\0')
    return FALSE;
  clean = g_canonicalize_filename (pathname, "/");
  return g_str_equal (clean, "/config.json");
}

/* reads config.json from the tar context open on @fd and seeks back to the start, so that the
 * daemon reads the whole file through the same open file description */
static GBytes *
read_tarball_config (int fd, const char *filename, GError **error)
{
  g_autoptr(CtlArchive) a = archive_read_new ();
  gsize max_size = max_config_size ();
  struct archive_entry *entry;
  int r;

  archive_read_support_filter_all (a);
  archive_read_support_format_tar (a);
  if (archive_read_open_fd (a, fd, 64 * 1024) != ARCHIVE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: %s"),
                   filename, archive_error_string (a));
      return NULL;
    }

  while ((r = archive_read_next_header (a, &entry)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    {
      g_autoptr(GByteArray) data = NULL;
      char buf[16384];
      la_ssize_t n;

      if (!is_config_entry (archive_entry_pathname (entry)))
        continue;
      if (archive_entry_filetype (entry) != AE_IFREG)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       _("%s: config.json is not a regular file"), filename);
          return NULL;
        }
      data = g_byte_array_new ();
      while ((n = archive_read_data (a, buf, sizeof buf)) > 0)
        {
          if (data->len + (gsize) n > max_size)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("%s: config.json is larger than %d bytes"), filename,
                           (int) max_size);
              return NULL;
            }
          g_byte_array_append (data, (const guint8 *) buf, (guint) n);
        }
      if (n < 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: %s"),
                       filename, archive_error_string (a));
          return NULL;
        }
      if (lseek (fd, 0, SEEK_SET) != 0)
        {
          pd_set_error_from_errno (error, errno, "%s", filename);
          return NULL;
        }
      return g_byte_array_free_to_bytes (g_steal_pointer (&data));
    }
  if (r == ARCHIVE_EOF)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 _("%s: no config.json in the plugin context"), filename);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: %s"),
                 filename, archive_error_string (a));
  return NULL;
}

/* Docker's CLI pre-check of a context directory: config.json and rootfs/ */
static GBytes *
read_dir_config (const char *dir, GError **error)
{
  g_autofree char *config_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *rootfs_path = g_build_filename (dir, "rootfs", NULL);
  g_autofree char *contents = NULL;
  gsize max_size = max_config_size ();
  gsize len = 0;
  struct stat st;

  /* lstat: the tar does not follow symlinks, so neither may the check */
  if (lstat (config_path, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("%s: the plugin directory must contain a config.json file"), dir);
      return NULL;
    }
  if ((guint64) st.st_size > max_size)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("%s: config.json is larger than %d bytes"), dir, (int) max_size);
      return NULL;
    }
  if (lstat (rootfs_path, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("%s: the plugin directory must contain a rootfs directory"), dir);
      return NULL;
    }
  if (!g_file_get_contents (config_path, &contents, &len, error))
    return NULL;
  return g_bytes_new_take (g_steal_pointer (&contents), len);
}

/* streaming a directory */

typedef struct {
  char *dir;
  int fd;                /* write end of the pipe, owned by the worker */
  GError *error;         /* set by the worker on failure */
  gboolean peer_closed;  /* the daemon stopped reading: its error is the one to show */
  GMainContext *main_context;
  GSourceFunc on_failed;
  gpointer on_failed_data;
} TarWorker;

static void
tar_worker_free (TarWorker *worker)
{
  if (worker->fd >= 0)
    close (worker->fd);
  g_clear_error (&worker->error);
  g_free (worker->dir);
  g_main_context_unref (worker->main_context);
  g_free (worker);
}

static gboolean
tar_set_error (TarWorker *worker, struct archive *a, const char *what, GError **error)
{
  int err = archive_errno (a);

  if (err == EPIPE)
    worker->peer_closed = TRUE;
  if (archive_error_string (a) != NULL && err > 0)
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s: %s", what,
                 archive_error_string (a), g_strerror (err));
  else
    g_set_error (error, G_IO_ERROR, err > 0 ? g_io_error_from_errno (err) : G_IO_ERROR_FAILED,
                 "%s: %s", what, archive_error_string (a) != NULL ? archive_error_string (a)
                                                                  : g_strerror (err));
  return FALSE;
}

/* archives the tree at @root under the name @archive_root ("config.json" or "rootfs") */
static gboolean
tar_write_tree (TarWorker *worker,
                struct archive *disk,
                struct archive *writer,
                struct archive_entry_linkresolver *resolver,
                const char *root,
                const char *archive_root,
                GError **error)
{
  gsize root_len = strlen (root);

  if (archive_read_disk_open (disk, root) != ARCHIVE_OK)
    return tar_set_error (worker, disk, root, error);

  for (;;)
    {
      g_autoptr(CtlArchiveEntry) entry = archive_entry_new ();
      struct archive_entry *sparse = NULL;
      g_autofree char *name = NULL;
      const char *pathname;
      int r;

      r = archive_read_next_header2 (disk, entry);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return tar_set_error (worker, disk, root, error);
      archive_read_disk_descend (disk);

      /* entries come named after @root; the context wants them relative to the directory */
      pathname = archive_entry_pathname (entry);
      if (pathname == NULL || strncmp (pathname, root, root_len) != 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: unexpected path %s"),
                       root, pathname != NULL ? pathname : "(null)");
          return FALSE;
        }
      name = g_strconcat (archive_root, pathname + root_len, NULL);
      archive_entry_copy_pathname (entry, name);

      /* tar cannot hold sockets; Docker's archiver skips them too */
      if (archive_entry_filetype (entry) == AE_IFSOCK)
        continue;
      if (archive_entry_filetype (entry) != AE_IFREG)
        archive_entry_set_size (entry, 0);

      /* with the tar strategy @entry stays ours and @sparse stays NULL */
      archive_entry_linkify (resolver, &entry, &sparse);
      if (entry == NULL)
        continue;

      if (archive_write_header (writer, entry) != ARCHIVE_OK)
        return tar_set_error (worker, writer, name, error);

      if (archive_entry_filetype (entry) == AE_IFREG && archive_entry_hardlink (entry) == NULL &&
          archive_entry_size (entry) > 0)
        {
          char buf[65536];
          la_int64_t total = 0;
          la_ssize_t n;

          while ((n = archive_read_data (disk, buf, sizeof buf)) > 0)
            {
              if (archive_write_data (writer, buf, (size_t) n) < 0)
                return tar_set_error (worker, writer, name, error);
              total += n;
            }
          if (n < 0)
            return tar_set_error (worker, disk, name, error);
          if (total < archive_entry_size (entry))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _("%s: file shrank while it was being read"), name);
              return FALSE;
            }
        }
    }
  archive_read_close (disk);
  return TRUE;
}

/* makes sure the daemon fails to read the context after a local error, even when the tar
 * written so far happens to end at an entry boundary: a header promising more data than
 * will ever come makes any tar reader fail with a truncated archive */
static void
tar_poison (struct archive *writer)
{
  g_autoptr(CtlArchiveEntry) entry = archive_entry_new ();

  archive_entry_set_pathname (entry, "rootfs/.pluginctl-aborted");
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0600);
  archive_entry_set_size (entry, G_GINT64_CONSTANT (1) << 30);
  archive_write_header (writer, entry);
}

static gboolean
tar_write_context (TarWorker *worker, GError **error)
{
  g_autoptr(CtlArchive) disk = archive_read_disk_new ();
  g_autoptr(CtlArchive) writer = archive_write_new ();
  g_autoptr(CtlLinkResolver) resolver = archive_entry_linkresolver_new ();
  g_autofree char *config_path = g_build_filename (worker->dir, "config.json", NULL);
  g_autofree char *rootfs_path = g_build_filename (worker->dir, "rootfs", NULL);
  gboolean ok;

  /* never follow symlinks; modes, owners and times are kept. xattrs, ACLs and file flags are
   * left out: a plugin's privileges come from its config, not from file capabilities */
  archive_read_disk_set_symlink_physical (disk);
  archive_read_disk_set_standard_lookup (disk);
  archive_read_disk_set_behavior (disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                        ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);

  archive_write_set_format_pax_restricted (writer);
  /* unblocked: every byte reaches the pipe at once, so tar_poison() lands after them */
  archive_write_set_bytes_per_block (writer, 0);
  if (archive_write_open_fd (writer, worker->fd) != ARCHIVE_OK)
    return tar_set_error (worker, writer, worker->dir, error);
  /* the tar strategy: a repeated inode becomes a hard link entry, nothing is deferred */
  archive_entry_linkresolver_set_strategy (resolver, ARCHIVE_FORMAT_TAR);

  ok = tar_write_tree (worker, disk, writer, resolver, config_path, "config.json", error) &&
       tar_write_tree (worker, disk, writer, resolver, rootfs_path, "rootfs", error);
  if (!ok)
    {
      if (!worker->peer_closed)
        tar_poison (writer);
      /* no end-of-archive marker after a failure: with our end closed first, the one
       * archive_write_close() tries to write goes nowhere (archive_write_fail() would leak
       * libarchive's client state) */
      close (worker->fd);
      worker->fd = -1;
      archive_write_close (writer);
      return FALSE;
    }
  if (archive_write_close (writer) != ARCHIVE_OK)
    return tar_set_error (worker, writer, worker->dir, error);
  return TRUE;
}

static gpointer
tar_worker_thread (gpointer data)
{
  TarWorker *worker = data;

  if (!tar_write_context (worker, &worker->error) && !worker->peer_closed &&
      worker->on_failed != NULL)
    {
      /* let the main thread cancel the job */
      g_main_context_invoke (worker->main_context, worker->on_failed, worker->on_failed_data);
    }
  if (worker->fd >= 0)
    close (worker->fd);
  worker->fd = -1;
  return NULL;
}

/* the context */

struct _CtlContext {
  int fd;              /* a tar archive, until it is passed on; else -1 */
  char *dir;           /* a directory, else NULL */
  GBytes *config;
  TarWorker *worker;   /* a directory, once started */
  GThread *thread;     /* until it is joined */
};

void
ctl_context_free (CtlContext *context)
{
  if (context->thread != NULL)
    g_thread_join (context->thread);
  if (context->fd >= 0)
    close (context->fd);
  g_clear_pointer (&context->worker, tar_worker_free);
  g_clear_pointer (&context->config, g_bytes_unref);
  g_free (context->dir);
  g_free (context);
}

CtlContext *
ctl_context_open (const char *path, GError **error)
{
  g_autoptr(CtlContext) context = g_new0 (CtlContext, 1);
  struct stat st;

  context->fd = -1;
  if (stat (path, &st) < 0)
    {
      pd_set_error_from_errno (error, errno, "%s", path);
      return NULL;
    }
  if (S_ISDIR (st.st_mode))
    {
      context->dir = g_strdup (path);
      context->config = read_dir_config (path, error);
    }
  else if (S_ISREG (st.st_mode))
    {
      context->fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
      if (context->fd < 0)
        {
          pd_set_error_from_errno (error, errno, "%s", path);
          return NULL;
        }
      context->config = read_tarball_config (context->fd, path, error);
    }
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   _("%s: not a directory or a regular file"), path);
    }
  if (context->config == NULL)
    return NULL;
  return g_steal_pointer (&context);
}

GBytes *
ctl_context_get_config (CtlContext *context)
{
  return context->config;
}

int
ctl_context_start (CtlContext *context,
                   GUnixFDList *fd_list,
                   GSourceFunc on_failed,
                   gpointer on_failed_data,
                   GError **error)
{
  TarWorker *worker;
  int pipe_fds[2];
  int index;

  if (context->dir == NULL)
    {
      index = g_unix_fd_list_append (fd_list, context->fd, error);
      /* @fd_list holds a copy: the daemon reads through the same open file description */
      close (context->fd);
      context->fd = -1;
      return index;
    }

  if (!g_unix_open_pipe (pipe_fds, FD_CLOEXEC, error))
    return -1;
  index = g_unix_fd_list_append (fd_list, pipe_fds[0], error);
  /* only the daemon may hold the read end: if it stops reading, the worker gets EPIPE */
  close (pipe_fds[0]);
  if (index < 0)
    {
      close (pipe_fds[1]);
      return -1;
    }
  worker = g_new0 (TarWorker, 1);
  worker->dir = g_strdup (context->dir);
  worker->fd = pipe_fds[1];
  worker->main_context = g_main_context_ref (g_main_context_default ());
  worker->on_failed = on_failed;
  worker->on_failed_data = on_failed_data;
  context->worker = worker;
  context->thread = g_thread_new ("pluginctl-tar", tar_worker_thread, worker);
  return index;
}

gboolean
ctl_context_finish (CtlContext *context, GError **error)
{
  if (context->thread == NULL)
    return TRUE;
  g_thread_join (g_steal_pointer (&context->thread));
  /* the worker's failure callback may still be queued: run it while its data is alive */
  while (g_main_context_iteration (context->worker->main_context, FALSE))
    ;
  if (context->worker->error != NULL && !context->worker->peer_closed)
    {
      g_propagate_error (error, g_steal_pointer (&context->worker->error));
      return FALSE;
    }
  return TRUE;
}
