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

/* how far a follower may fall behind what it was first sent before it is dropped */
#define READER_MAX_PENDING (1024 * 1024)
/* records are written to the file in pieces of about this size */
#define WRITE_PIECE (64 * 1024)
/* "2026-12-07T09:50:17.123456Z F " */
#define HEADER_LEN (PD_PLUGIN_LOG_TIMESTAMP_LEN + 3)
/* 9999-12-31T23:59:59.999999Z: no time stamp is wider */
#define MAX_TIME_US G_GINT64_CONSTANT (253402300799999999)

typedef struct {
  PdPluginLog *log;
  int fd;                    /* write end, non-blocking */
  GByteArray *pending;
  gsize max_pending;
  gboolean follow;
  gboolean timestamps;
  gboolean at_line_start;    /* the next record it is sent starts a line */
  char since[PD_PLUGIN_LOG_TIMESTAMP_LEN + 1];  /* "" = everything */
  guint out_source;
  guint err_source;
} LogReader;

struct _PdPluginLog {
  char *path;                /* <id>.log; the older generations add .1, .2, … (log_path()) */
  int fd;
  goffset size;
  gboolean had_output;
  gboolean line_open;        /* the last record written was a 'P' one */
  GPtrArray *readers;        /* LogReader */
};

/* the path of generation @i: <id>.log, then <id>.log.1, … (built when needed: a daemon with
 * many plugins keeps one path per plugin, not PD_PLUGIN_LOG_FILES) */
static char *
log_path (PdPluginLog *log, guint i)
{
  return i == 0 ? g_strdup (log->path) : g_strdup_printf ("%s.%u", log->path, i);
}

/* one record of a file, pointing into the bytes read */
typedef struct {
  const char *timestamp;     /* PD_PLUGIN_LOG_TIMESTAMP_LEN bytes */
  char flag;                 /* 'F' or 'P' */
  const guint8 *text;
  gsize len;
} LogRecord;

static void log_reader_send (LogReader *reader, const guint8 *data, gsize len);

/* RFC 3339 in UTC with microseconds; @out has room for PD_PLUGIN_LOG_TIMESTAMP_LEN + 1 */
static void
format_timestamp (gint64 us, char *out)
{
  struct tm tm;
  time_t seconds;

  us = CLAMP (us, 0, MAX_TIME_US);
  seconds = (time_t) (us / G_USEC_PER_SEC);
  gmtime_r (&seconds, &tm);
  g_snprintf (out, PD_PLUGIN_LOG_TIMESTAMP_LEN + 1, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
              (int) (us % G_USEC_PER_SEC));
}

/* a record as a reader gets it: the text, its newline, and with @timestamps the time first */
static void
format_record (GByteArray *out, const LogRecord *record, gboolean timestamps,
               gboolean *at_line_start)
{
  if (timestamps && *at_line_start)
    {
      g_byte_array_append (out, (const guint8 *) record->timestamp, PD_PLUGIN_LOG_TIMESTAMP_LEN);
      g_byte_array_append (out, (const guint8 *) " ", 1);
    }
  g_byte_array_append (out, record->text, (guint) record->len);
  if (record->flag == 'F')
    g_byte_array_append (out, (const guint8 *) "\n", 1);
  *at_line_start = record->flag == 'F';
}

/* parses one line of a file (without its newline); FALSE for what the daemon did not write
 * (a record torn by a crash, the cut start of a read) */
static gboolean
parse_record (const guint8 *line, gsize len, LogRecord *record)
{
  const char *s = (const char *) line;

  if (len < HEADER_LEN || s[4] != '-' || s[10] != 'T' || s[26] != 'Z' || s[27] != ' ' ||
      (s[28] != 'F' && s[28] != 'P') || s[29] != ' ')
    return FALSE;
  record->timestamp = s;
  record->flag = s[28];
  record->text = line + HEADER_LEN;
  record->len = len - HEADER_LEN;
  return TRUE;
}

/* the records of @data, in order */
static GArray *
parse_records (const guint8 *data, gsize len)
{
  GArray *records = g_array_new (FALSE, FALSE, sizeof (LogRecord));
  gsize pos = 0;

  while (pos < len)
    {
      const guint8 *nl = memchr (data + pos, '\n', len - pos);
      gsize end = nl != NULL ? (gsize) (nl - data) : len;
      LogRecord record;

      /* a record without its newline was torn by a crash: its text may be cut */
      if (parse_record (data + pos, end - pos, &record))
        g_array_append_val (records, record);
      pos = end + 1;
    }
  return records;
}

static void
log_close_file (PdPluginLog *log)
{
  if (log->fd >= 0)
    close (log->fd);
  log->fd = -1;
}

/* whether the last record of the file at @fd (of @size bytes) leaves its line open; a record
 * torn by a crash is ended with a newline first */
static gboolean
log_file_line_open (PdPluginLog *log, int fd, goffset size)
{
  guint8 tail[PD_PLUGIN_LOG_MAX_RECORD + HEADER_LEN + 1];
  gsize want = (gsize) MIN (size, (goffset) sizeof tail);
  gssize n;
  gboolean torn;
  gsize start;
  gsize end;

  if (want == 0)
    return FALSE;
  n = pread (fd, tail, want, size - (goffset) want);
  if (n != (gssize) want)
    return FALSE;
  torn = tail[want - 1] != '\n';
  if (torn && pd_write_all (fd, "\n", 1, NULL))
    log->size++;
  /* the last record is tail[start, end) */
  end = torn ? want : want - 1;
  start = end;
  while (start > 0 && tail[start - 1] != '\n')
    start--;
  return end - start >= HEADER_LEN && tail[start + 28] == 'P';
}

static gboolean
log_open_file (PdPluginLog *log, gboolean truncate, GError **error)
{
  struct stat st;
  int fd;

  log_close_file (log);
  fd = open (log->path,
             O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (truncate ? O_TRUNC : 0),
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

/* <id>.log.3 becomes .4, … , <id>.log becomes .1, and a new <id>.log is opened: a rename
 * loses no file, whatever the moment of a crash */
static void
log_rotate (PdPluginLog *log)
{
  g_autoptr(GError) error = NULL;

  for (guint i = PD_PLUGIN_LOG_FILES - 1; i > 0; i--)
    {
      g_autofree char *from = log_path (log, i - 1);
      g_autofree char *to = log_path (log, i);

      if (rename (from, to) < 0 && errno != ENOENT)
        g_debug ("cannot rotate %s: %s", from, g_strerror (errno));
    }
  if (!log_open_file (log, TRUE, &error))
    g_debug ("%s", error->message);
}

/* writes the records gathered in @out (whole records) and empties it */
static void
log_write_file (PdPluginLog *log, GByteArray *out)
{
  if (log->fd >= 0 && out->len > 0)
    {
      if (log->size > 0 && log->size + (goffset) out->len > PD_PLUGIN_LOG_MAX_SIZE)
        log_rotate (log);
      if (log->fd >= 0)
        {
          if (pd_write_all (log->fd, out->data, out->len, NULL))
            log->size += out->len;
          else
            /* a full disk loses log output, never the plugin */
            g_debug ("cannot write %s: %s", log->path, g_strerror (errno));
        }
    }
  g_byte_array_set_size (out, 0);
}

/* one record: into @file_out (written once it is large) and to every follower */
static void
log_add_record (PdPluginLog *log, GByteArray *file_out, const LogRecord *record)
{
  g_autoptr(GByteArray) formatted = g_byte_array_new ();
  const guint8 sep[] = { ' ', (guint8) record->flag, ' ' };

  g_byte_array_append (file_out, (const guint8 *) record->timestamp, PD_PLUGIN_LOG_TIMESTAMP_LEN);
  g_byte_array_append (file_out, sep, sizeof sep);
  g_byte_array_append (file_out, record->text, (guint) record->len);
  g_byte_array_append (file_out, (const guint8 *) "\n", 1);
  log->line_open = record->flag == 'P';

  for (guint i = log->readers->len; i > 0; i--)
    {
      LogReader *reader = g_ptr_array_index (log->readers, i - 1);

      if (!reader->follow ||
          strncmp (record->timestamp, reader->since, PD_PLUGIN_LOG_TIMESTAMP_LEN) < 0)
        continue;
      g_byte_array_set_size (formatted, 0);
      format_record (formatted, record, reader->timestamps, &reader->at_line_start);
      log_reader_send (reader, formatted->data, formatted->len);
    }
  if (file_out->len >= WRITE_PIECE)
    log_write_file (log, file_out);
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
  if (reader->pending->len + len > reader->max_pending)
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
pd_plugin_log_append_at (PdPluginLog *log, const guint8 *data, gsize len, gint64 now)
{
  g_autoptr(GByteArray) file_out = g_byte_array_new ();
  char timestamp[PD_PLUGIN_LOG_TIMESTAMP_LEN + 1];

  if (len == 0)
    return;
  log->had_output = TRUE;
  format_timestamp (now, timestamp);
  /* every line of the chunk, and what it ends with, as it arrived: nothing waits in memory */
  while (len > 0)
    {
      gsize max = MIN (len, PD_PLUGIN_LOG_MAX_RECORD);
      const guint8 *nl = memchr (data, '\n', max);
      LogRecord record = { timestamp, nl != NULL ? 'F' : 'P', data,
                           nl != NULL ? (gsize) (nl - data) : max };
      gsize used = nl != NULL ? record.len + 1 : max;

      log_add_record (log, file_out, &record);
      data += used;
      len -= used;
    }
  log_write_file (log, file_out);
}

void
pd_plugin_log_append (PdPluginLog *log, const guint8 *data, gsize len)
{
  pd_plugin_log_append_at (log, data, len, g_get_real_time ());
}

/* the last line of a process ends with it: the next process starts a line of its own */
static void
log_end_line (PdPluginLog *log)
{
  g_autoptr(GByteArray) file_out = NULL;
  char timestamp[PD_PLUGIN_LOG_TIMESTAMP_LEN + 1];
  LogRecord record = { timestamp, 'F', NULL, 0 };

  if (!log->line_open)
    return;
  file_out = g_byte_array_new ();
  format_timestamp (g_get_real_time (), timestamp);
  log_add_record (log, file_out, &record);
  log_write_file (log, file_out);
}

/* the file at @path, at most its last @max bytes, prepended to @buf: a read that starts in the
 * middle begins at the next record */
static void
read_file_tail (const char *path, gsize max, GByteArray *buf)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  g_autofree guint8 *data = NULL;
  gsize want;
  gsize got = 0;
  gsize skip = 0;

  if (fd < 0)
    return;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size <= 0)
    {
      close (fd);
      return;
    }
  want = MIN ((gsize) st.st_size, max);
  data = g_malloc (want);
  while (got < want)
    {
      ssize_t n = pread (fd, data + got, want - got, st.st_size - (off_t) want + (off_t) got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (gsize) n;
    }
  close (fd);
  if (want < (gsize) st.st_size)
    {
      const guint8 *nl = memchr (data, '\n', got);
      skip = nl != NULL ? (gsize) (nl - data) + 1 : got;
    }
  g_byte_array_prepend (buf, data + skip, (guint) (got - skip));
}

/* whether @data, the older end of what was read, reaches far enough back for @query: to a
 * record before @since, or to the line before the last @lines lines */
static gboolean
reaches_back (const guint8 *data, gsize len, const PdPluginLogQuery *query, const char *since)
{
  guint complete = 0;

  if (query->lines == G_MAXUINT && since[0] == '\0')
    return FALSE;
  for (gsize pos = 0; pos < len;)
    {
      const guint8 *nl = memchr (data + pos, '\n', len - pos);
      gsize end = nl != NULL ? (gsize) (nl - data) : len;
      LogRecord record;

      if (parse_record (data + pos, end - pos, &record))
        {
          if (since[0] != '\0' &&
              strncmp (record.timestamp, since, PD_PLUGIN_LOG_TIMESTAMP_LEN) < 0)
            return TRUE;
          since = "";
          if (query->lines != G_MAXUINT && record.flag == 'F' && ++complete > query->lines)
            return TRUE;
        }
      pos = end + 1;
    }
  return FALSE;
}

GByteArray *
pd_plugin_log_read (PdPluginLog *log, const PdPluginLogQuery *query)
{
  g_autoptr(GByteArray) raw = g_byte_array_new ();
  g_autoptr(GArray) records = NULL;
  GByteArray *out = g_byte_array_new ();
  char since[PD_PLUGIN_LOG_TIMESTAMP_LEN + 1] = "";
  gboolean at_line_start = TRUE;
  guint first;
  guint found = 0;

  if (query->lines == 0)
    return out;
  if (query->since > 0)
    format_timestamp (query->since, since);
  /* newest first, each file a generation older, until the query is answered */
  for (guint i = 0; i < PD_PLUGIN_LOG_FILES; i++)
    {
      g_autofree char *path = log_path (log, i);
      guint before = raw->len;

      read_file_tail (path, 2 * PD_PLUGIN_LOG_MAX_SIZE, raw);
      if (reaches_back (raw->data, raw->len - before, query, since))
        break;
    }

  records = parse_records (raw->data, raw->len);
  /* the first record at or after @since */
  first = 0;
  while (first < records->len &&
         strncmp (g_array_index (records, LogRecord, first).timestamp, since,
                  PD_PLUGIN_LOG_TIMESTAMP_LEN) < 0)
    first++;
  /* walking back: a line starts after an 'F' record */
  for (guint i = records->len; i > first; i--)
    {
      if (i - 1 == first || g_array_index (records, LogRecord, i - 2).flag == 'F')
        {
          if (++found == query->lines)
            {
              first = i - 1;
              break;
            }
        }
    }
  for (guint i = first; i < records->len; i++)
    format_record (out, &g_array_index (records, LogRecord, i), query->timestamps,
                   &at_line_start);
  return out;
}

char *
pd_plugin_log_read_text (PdPluginLog *log, const PdPluginLogQuery *query)
{
  g_autoptr(GByteArray) data = pd_plugin_log_read (log, query);
  GString *text = g_string_sized_new (MIN (data->len, PD_PLUGIN_LOG_READ_MAX_BYTES) + 1);
  const char *p = (const char *) data->data;
  const char *end = p + data->len;

  /* nothing beyond the bound needs looking at: from the first line start within it */
  if (data->len > PD_PLUGIN_LOG_READ_MAX_BYTES)
    {
      const char *nl;

      p = end - PD_PLUGIN_LOG_READ_MAX_BYTES;
      nl = p[-1] == '\n' ? p - 1 : memchr (p, '\n', (gsize) (end - p));
      if (nl != NULL && nl + 1 < end)
        p = nl + 1;
    }
  while (p < end)
    {
      const char *valid_end;

      /* NUL fails too: a D-Bus string cannot carry it */
      g_utf8_validate_len (p, (gsize) (end - p), &valid_end);
      g_string_append_len (text, p, valid_end - p);
      p = valid_end;
      if (p < end)
        {
          g_string_append (text, "\xef\xbf\xbd");
          p++;
        }
    }
  /* replacements made it longer: cut again, at a line start, else at a character's */
  if (text->len > PD_PLUGIN_LOG_READ_MAX_BYTES)
    {
      const char *text_end = text->str + text->len;
      const char *cut = text_end - PD_PLUGIN_LOG_READ_MAX_BYTES;
      const char *nl = memchr (cut - 1, '\n', (gsize) (text_end - (cut - 1)));

      if (nl != NULL && nl + 1 < text_end)
        cut = nl + 1;
      else
        while (((guchar) *cut & 0xC0) == 0x80)
          cut++;
      g_string_erase (text, 0, cut - text->str);
    }
  return g_string_free (text, FALSE);
}

int
pd_plugin_log_open_reader (PdPluginLog *log, const PdPluginLogQuery *query, gboolean follow,
                           GError **error)
{
  g_autoptr(GByteArray) data = NULL;
  LogReader *reader;
  int fds[2];

  if (log->readers->len >= PD_PLUGIN_LOG_MAX_READERS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "Too many log readers for this plugin (at most %u)", PD_PLUGIN_LOG_MAX_READERS);
      return -1;
    }
  data = pd_plugin_log_read (log, query);

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
  /* what it asked for, whatever its size, and then at most READER_MAX_PENDING behind */
  reader->max_pending = data->len + READER_MAX_PENDING;
  reader->follow = follow;
  reader->timestamps = query->timestamps;
  /* a line the plugin has not ended goes on in the next record, unless none of it was sent */
  reader->at_line_start = data->len == 0 || !log->line_open;
  if (query->since > 0)
    format_timestamp (query->since, reader->since);
  reader->err_source = g_unix_fd_add (reader->fd, G_IO_ERR, log_reader_on_error, reader);
  g_ptr_array_add (log->readers, reader);
  if (data->len > 0)
    log_reader_send (reader, data->data, data->len);
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
    {
      g_debug ("%s", error->message);
      return;
    }
  /* after a crash of the daemon, the last line of the last process may still be open */
  log->line_open = log_file_line_open (log, log->fd, log->size);
  log_end_line (log);
}

void
pd_plugin_log_stop (PdPluginLog *log)
{
  log_end_line (log);
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
  if (log->fd >= 0)
    log_end_line (log);
  log_close_file (log);
}

PdPluginLog *
pd_plugin_log_new (const char *log_dir, const char *id)
{
  PdPluginLog *log = g_new0 (PdPluginLog, 1);
  g_autofree char *name = g_strconcat (id, ".log", NULL);

  log->path = g_build_filename (log_dir, name, NULL);
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
  g_free (log);
}

void
pd_plugin_log_remove_files (const char *log_dir, const char *id)
{
  g_autoptr(PdPluginLog) log = pd_plugin_log_new (log_dir, id);

  for (guint i = 0; i < PD_PLUGIN_LOG_FILES; i++)
    {
      g_autofree char *path = log_path (log, i);

      if (unlink (path) < 0 && errno != ENOENT)
        g_warning ("cannot delete %s: %s", path, g_strerror (errno));
    }
}

char *
pd_plugin_log_file_id (const char *name)
{
  const char *ext = strstr (name, ".log");

  if (ext == NULL || ext == name)
    return NULL;
  /* <id>.log or <id>.log.<n> */
  if (ext[4] != '\0' &&
      (ext[4] != '.' || ext[5] == '\0' || strspn (ext + 5, "0123456789") != strlen (ext + 5)))
    return NULL;
  return g_strndup (name, (gsize) (ext - name));
}
