/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/* the runner's: the log is a part of it */
#define G_LOG_DOMAIN "pd-runner"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-plugin-log.h"

#define READER_MAX_PENDING (1024 * 1024)
#define TAIL_MAX_BYTES (1024 * 1024)

typedef struct {
  PdPluginLog *log;
  int fd;                    /* write end, non-blocking */
  GByteArray *pending;
  gboolean follow;
  guint out_source;
  guint err_source;
} LogReader;

struct _PdPluginLog {
  char *path;
  char *path_old;            /* the rotated file */
  int fd;
  goffset size;
  gboolean had_output;
  GPtrArray *readers;        /* LogReader */
};

static void
log_close_file (PdPluginLog *log)
{
  if (log->fd >= 0)
    close (log->fd);
  log->fd = -1;
}

static gboolean
log_open_file (PdPluginLog *log, gboolean truncate, GError **error)
{
  struct stat st;
  int fd;

  log_close_file (log);
  fd = open (log->path,
             O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (truncate ? O_TRUNC : 0),
             0600);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "Cannot open log file %s", log->path);
      return FALSE;
    }
  /* 0600 whatever the umask, and whatever an older file had */
  if (fstat (fd, &st) < 0 || (fchmod (fd, 0600) < 0 && errno != EPERM))
    {
      pd_set_error_from_errno (error, errno, "Cannot set up log file %s", log->path);
      close (fd);
      return FALSE;
    }
  log->fd = fd;
  log->size = st.st_size;
  return TRUE;
}

static void
log_write_file (PdPluginLog *log, const guint8 *data, gsize len)
{
  if (log->fd < 0)
    return;

  /* rotate before the file would pass the cap (a chunk is at most 16 KiB) */
  if (log->size > 0 && log->size + (goffset) len > PD_PLUGIN_LOG_MAX_SIZE)
    {
      g_autoptr(GError) error = NULL;

      if (rename (log->path, log->path_old) < 0)
        g_debug ("cannot rotate %s: %s", log->path, g_strerror (errno));
      if (!log_open_file (log, TRUE, &error))
        {
          g_debug ("%s", error->message);
          return;
        }
    }

  if (!pd_write_all (log->fd, data, len, NULL))
    {
      /* a full disk loses log output, never the plugin */
      g_debug ("cannot write %s: %s", log->path, g_strerror (errno));
      return;
    }
  log->size += len;
}

/* write(2) to a pipe whose reader may be gone: EPIPE, never a SIGPIPE for the daemon */
static gssize
write_no_sigpipe (int fd, const void *data, gsize len)
{
  sigset_t pipe_set;
  sigset_t old_set;
  sigset_t pending;
  gboolean was_pending;
  gssize n;
  int errsv;

  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  sigpending (&pending);
  was_pending = sigismember (&pending, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
  do
    n = write (fd, data, len);
  while (n < 0 && errno == EINTR);
  errsv = errno;
  if (n < 0 && errsv == EPIPE && !was_pending)
    {
      struct timespec zero = { 0, 0 };
      sigtimedwait (&pipe_set, NULL, &zero);
    }
  pthread_sigmask (SIG_SETMASK, &old_set, NULL);
  errno = errsv;
  return n;
}

static void
log_reader_drop (LogReader *reader)
{
  g_ptr_array_remove (reader->log->readers, reader);
}

static gboolean
log_reader_flush (LogReader *reader)
{
  while (reader->pending->len > 0)
    {
      gssize n = write_no_sigpipe (reader->fd, reader->pending->data, reader->pending->len);
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0)
        return FALSE;
      g_byte_array_remove_range (reader->pending, 0, (guint) n);
    }
  return TRUE;
}

static gboolean
log_reader_on_writable (int fd, GIOCondition condition, gpointer user_data)
{
  LogReader *reader = user_data;

  if (!log_reader_flush (reader) || (reader->pending->len == 0 && !reader->follow))
    {
      reader->out_source = 0;
      log_reader_drop (reader);
      return G_SOURCE_REMOVE;
    }
  if (reader->pending->len == 0)
    {
      reader->out_source = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
log_reader_on_error (int fd, GIOCondition condition, gpointer user_data)
{
  LogReader *reader = user_data;

  /* the reader closed its end (POLLERR on a pipe's write end) */
  reader->err_source = 0;
  log_reader_drop (reader);
  return G_SOURCE_REMOVE;
}

/* queues @data for @reader and writes what the pipe takes; the reader may be dropped */
static void
log_reader_send (LogReader *reader, const guint8 *data, gsize len)
{
  if (reader->pending->len + len > READER_MAX_PENDING)
    {
      /* too far behind: drop it rather than buffer without end */
      log_reader_drop (reader);
      return;
    }
  g_byte_array_append (reader->pending, data, (guint) len);
  if (reader->out_source != 0)
    return;
  if (!log_reader_flush (reader))
    {
      log_reader_drop (reader);
      return;
    }
  if (reader->pending->len > 0)
    reader->out_source = g_unix_fd_add (reader->fd, G_IO_OUT, log_reader_on_writable, reader);
  else if (!reader->follow)
    log_reader_drop (reader);
}

static void
log_reader_free (LogReader *reader)
{
  g_clear_handle_id (&reader->out_source, g_source_remove);
  g_clear_handle_id (&reader->err_source, g_source_remove);
  if (reader->fd >= 0)
    close (reader->fd);
  g_byte_array_unref (reader->pending);
  g_free (reader);
}

void
pd_plugin_log_end_follow (PdPluginLog *log)
{
  for (guint i = log->readers->len; i > 0; i--)
    {
      LogReader *reader = g_ptr_array_index (log->readers, i - 1);
      reader->follow = FALSE;
      if (reader->pending->len == 0)
        log_reader_drop (reader);
    }
}

void
pd_plugin_log_append (PdPluginLog *log, const guint8 *data, gsize len)
{
  if (len > 0)
    log->had_output = TRUE;
  log_write_file (log, data, len);
  for (guint i = log->readers->len; i > 0; i--)
    {
      LogReader *reader = g_ptr_array_index (log->readers, i - 1);
      if (reader->follow)
        log_reader_send (reader, data, len);
    }
}

/* the tail of the file at @path, at most @max bytes, appended to @buf */
static void
read_file_tail (const char *path, gsize max, GByteArray *buf)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  off_t start;
  gsize want;
  guint old_len = buf->len;

  if (fd < 0)
    return;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size <= 0)
    {
      close (fd);
      return;
    }
  want = MIN ((gsize) st.st_size, max);
  start = st.st_size - (off_t) want;
  g_byte_array_set_size (buf, old_len + (guint) want);
  {
    gsize got = 0;
    while (got < want)
      {
        ssize_t n = pread (fd, buf->data + old_len + got, want - got, start + (off_t) got);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          break;
        got += (gsize) n;
      }
    g_byte_array_set_size (buf, old_len + (guint) got);
  }
  close (fd);
}

int
pd_plugin_log_open_reader (PdPluginLog *log, guint lines, gboolean follow, GError **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GByteArray) current = g_byte_array_new ();
  LogReader *reader;
  int fds[2];
  gsize start;
  guint found = 0;

  if (log->readers->len >= PD_PLUGIN_LOG_MAX_READERS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "Too many log readers for this plugin (at most %u)", PD_PLUGIN_LOG_MAX_READERS);
      return -1;
    }

  if (lines > 0)
    {
      read_file_tail (log->path, TAIL_MAX_BYTES, current);
      if (current->len < TAIL_MAX_BYTES)
        read_file_tail (log->path_old, TAIL_MAX_BYTES - current->len, data);
      g_byte_array_append (data, current->data, current->len);
    }
  /* the last @lines lines; a final line without '\n' counts as one */
  start = data->len;
  if (start > 0 && data->data[start - 1] == '\n')
    start--;
  while (start > 0 && found < lines)
    {
      if (data->data[start - 1] == '\n')
        {
          found++;
          if (found == lines)
            break;
        }
      start--;
    }
  if (start > 0 && lines == 0)
    start = data->len;

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    {
      pd_error_convert (error);
      return -1;
    }
  if (!g_unix_set_fd_nonblocking (fds[1], TRUE, error))
    {
      close (fds[0]);
      close (fds[1]);
      pd_error_convert (error);
      return -1;
    }

  reader = g_new0 (LogReader, 1);
  reader->log = log;
  reader->fd = fds[1];
  reader->pending = g_byte_array_new ();
  reader->follow = follow;
  reader->err_source = g_unix_fd_add (reader->fd, G_IO_ERR, log_reader_on_error, reader);
  g_ptr_array_add (log->readers, reader);
  if (data->len > start)
    log_reader_send (reader, data->data + start, data->len - start);
  else if (!reader->follow)
    log_reader_drop (reader);
  return fds[0];
}

void
pd_plugin_log_start (PdPluginLog *log)
{
  g_autoptr(GError) error = NULL;

  log->had_output = FALSE;
  if (!log_open_file (log, FALSE, &error))
    g_debug ("%s", error->message);
}

void
pd_plugin_log_stop (PdPluginLog *log)
{
  log_close_file (log);
}

gboolean
pd_plugin_log_had_output (PdPluginLog *log)
{
  return log->had_output;
}

void
pd_plugin_log_close (PdPluginLog *log)
{
  g_ptr_array_set_size (log->readers, 0);
  log_close_file (log);
}

PdPluginLog *
pd_plugin_log_new (const char *log_dir, const char *id)
{
  PdPluginLog *log = g_new0 (PdPluginLog, 1);
  g_autofree char *name = g_strconcat (id, ".log", NULL);
  g_autofree char *name_old = g_strconcat (id, ".log.1", NULL);

  log->path = g_build_filename (log_dir, name, NULL);
  log->path_old = g_build_filename (log_dir, name_old, NULL);
  log->fd = -1;
  log->readers = g_ptr_array_new_with_free_func ((GDestroyNotify) log_reader_free);
  return log;
}

void
pd_plugin_log_free (PdPluginLog *log)
{
  if (log == NULL)
    return;
  pd_plugin_log_close (log);
  g_ptr_array_unref (log->readers);
  g_free (log->path);
  g_free (log->path_old);
  g_free (log);
}
