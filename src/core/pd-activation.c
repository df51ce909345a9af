/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/* the runner's: the handshake is a part of it, and its 404 warning is the runner's */
#define G_LOG_DOMAIN "pd-runner"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string.h>

#include <gio/gunixsocketaddress.h>

#include "pd-activate.h"
#include "pd-activation.h"
#include "pd-consumer-http.h"
#include "pd-error.h"
#include "pd-sandbox.h"

/* the socket is looked for after 1 ms, then at intervals doubling up to 25 ms: most plugins
 * make it within a few ms of their start (bench/README.md) */
#define SOCKET_POLL_FIRST_MS 1
#define SOCKET_POLL_INTERVAL_MS 25

/* Docker's request (its Go client adds User-Agent and Accept-Encoding, which no plugin can
 * rely on): an empty body with Content-Length: 0 and no Content-Type */
#define ACTIVATE_REQUEST \
  "POST /Plugin.Activate HTTP/1.1\r\n" \
  "Host: plugin.moby.localhost\r\n" \
  "Accept: application/vnd.docker.plugins.v1.2+json\r\n" \
  "Content-Length: 0\r\n" \
  "\r\n"

/* what one read asks for */
#define READ_SIZE (16 * 1024)

/* where the answer's parse is (pd-consumer-http.h's rules, fed from the main loop) */
typedef enum {
  ANSWER_STATUS_LINE,
  ANSWER_HEADERS,
  ANSWER_BODY_LENGTH,      /* @remaining bytes of a Content-Length body */
  ANSWER_CHUNK_SIZE,
  ANSWER_CHUNK_DATA,       /* @remaining bytes of the current chunk */
  ANSWER_CHUNK_END,        /* the empty line after a chunk */
  ANSWER_TRAILERS,
  ANSWER_BODY_TO_EOF,
  ANSWER_DONE,
} AnswerState;

struct _PdActivation {
  PdPluginRecord *record;
  guint request_timeout_s;
  PdActivationCallback callback;
  gpointer user_data;

  gboolean finished;         /* the callback was called, or the handshake cancelled */
  gboolean socket_seen;
  int runtime_dirfd;
  int sock_fd;
  guint poll_source;
  guint poll_interval_ms;
  GCancellable *cancellable;
  GSocketConnection *connection;

  /* the answer */
  GByteArray *in;            /* received and not yet parsed */
  PdHttpMessage *answer;
  PdHttpFraming framing;
  AnswerState state;
  guint64 remaining;
  gsize head_used;           /* against PD_HTTP_HEAD_MAX */
};

static void activation_schedule_poll (PdActivation *self, guint interval_ms);

/* the connection of one attempt and its answer, dropped */
static void
activation_clear_attempt (PdActivation *self)
{
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->connection != NULL)
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  g_clear_object (&self->connection);
  g_clear_pointer (&self->in, g_byte_array_unref);
  g_clear_pointer (&self->answer, pd_http_message_free);
}

/* what the handshake holds, released; nothing calls back after this */
static void
activation_clear (PdActivation *self)
{
  self->finished = TRUE;
  g_clear_handle_id (&self->poll_source, g_source_remove);
  activation_clear_attempt (self);
  if (self->sock_fd >= 0)
    close (self->sock_fd);
  self->sock_fd = -1;
  if (self->runtime_dirfd >= 0)
    close (self->runtime_dirfd);
  self->runtime_dirfd = -1;
}

/* calls back with @implements or @error (both taken); @self may be gone when this returns */
static void
activation_finish (PdActivation *self, GStrv implements, GError *error)
{
  /* the callback may drop the caller's reference */
  pd_activation_ref (self);
  activation_clear (self);
  self->callback (implements, error, self->user_data);
  pd_activation_unref (self);
}

static void
activation_fail_printf (PdActivation *self, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
activation_fail_printf (PdActivation *self, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  activation_finish (self, NULL,
                     g_error_new_literal (PD_ERROR, PD_ERROR_ACTIVATION_FAILED, message));
}

static void
activation_fail_error (PdActivation *self, const GError *error)
{
  g_autofree char *escaped = pd_escape_untrusted (error->message, -1);

  activation_fail_printf (self, "Plugin.Activate: %s", escaped);
}

static void
activation_evaluate (PdActivation *self)
{
  g_autoptr(PdHttpMessage) answer = g_steal_pointer (&self->answer);
  GError *error = NULL;
  GStrv implements;

  if (answer->status == 404)
    g_warning ("plugin %s answered 404 to /Plugin.Activate; taking Implements from its config",
               pd_plugin_record_get_id (self->record));
  implements = pd_activate_check_answer (answer->status, (const char *) answer->body->data,
                                         answer->body->len,
                                         pd_plugin_record_get_config (self->record), &error);
  activation_finish (self, implements, error);
}

/* The next line of the answer from @pos, without its line end, into @line; FALSE with @line
 * NULL when more bytes are needed. A head line counts against PD_HTTP_HEAD_MAX, a chunk size
 * line (@chunk_line) against PD_HTTP_CHUNK_LINE_MAX; the errors are pd_http_read_message ()'s. */
static gboolean
answer_line (PdActivation *self, gsize *pos, gboolean chunk_line, gboolean eof, char **line,
             GError **error)
{
  const guint8 *start = self->in->data + *pos;
  gsize available = self->in->len - *pos;
  gsize limit = chunk_line ? PD_HTTP_CHUNK_LINE_MAX : PD_HTTP_HEAD_MAX - self->head_used;
  const guint8 *nl = available > 0 ? memchr (start, '\n', MIN (available, limit)) : NULL;

  *line = NULL;
  if (nl == NULL && available < limit)
    {
      if (!eof)
        return FALSE;
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                           "the connection closed before the message was complete");
      return TRUE;
    }
  if (nl == NULL)
    {
      if (chunk_line)
        g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                             "malformed HTTP message: chunk size line too long");
      else
        g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                     "the HTTP head is longer than %u bytes", PD_HTTP_HEAD_MAX);
      return TRUE;
    }
  if (!chunk_line)
    self->head_used += (gsize) (nl - start) + 1;
  *pos += (gsize) (nl - start) + 1;
  *line = pd_http_line_new (start, (gsize) (nl - start), error);
  return TRUE;
}

/* moves up to @remaining bytes of body from @pos */
static void
answer_take (PdActivation *self, gsize *pos)
{
  gsize take = (gsize) MIN (self->remaining, (guint64) (self->in->len - *pos));

  g_byte_array_append (self->answer->body, self->in->data + *pos, (guint) take);
  *pos += take;
  self->remaining -= take;
}

/* Parses what was received (@eof: and the connection's end); TRUE when the answer is complete
 * or @error is set, FALSE when more is needed. */
static gboolean
answer_parse (PdActivation *self, gboolean eof, GError **error)
{
  gsize pos = 0;
  gboolean done = TRUE;

  while (self->state != ANSWER_DONE)
    {
      g_autofree char *line = NULL;
      gboolean chunk_line = self->state == ANSWER_CHUNK_SIZE || self->state == ANSWER_CHUNK_END;

      if (self->state == ANSWER_BODY_LENGTH || self->state == ANSWER_CHUNK_DATA)
        {
          answer_take (self, &pos);
          if (self->remaining > 0 && eof)
            {
              g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                   "the connection closed before the body was complete");
              break;
            }
          if (self->remaining > 0)
            {
              done = FALSE;
              break;
            }
          self->state = self->state == ANSWER_CHUNK_DATA ? ANSWER_CHUNK_END : ANSWER_DONE;
          continue;
        }
      if (self->state == ANSWER_BODY_TO_EOF)
        {
          gsize available = self->in->len - pos;

          if (self->answer->body->len + available > PD_ACTIVATE_ANSWER_MAX)
            {
              pd_http_fail_body_too_large (error, PD_ACTIVATE_ANSWER_MAX);
              break;
            }
          self->remaining = available;
          answer_take (self, &pos);
          if (!eof)
            {
              done = FALSE;
              break;
            }
          self->state = ANSWER_DONE;
          continue;
        }

      if (!answer_line (self, &pos, chunk_line, eof, &line, error))
        {
          done = FALSE;
          break;
        }
      if (line == NULL)
        break;
      switch (self->state)
        {
        case ANSWER_STATUS_LINE:
          if (!pd_http_parse_start_line (self->answer, line, FALSE, error))
            goto out;
          self->state = ANSWER_HEADERS;
          break;
        case ANSWER_HEADERS:
          if (*line != '\0')
            {
              if (!pd_http_parse_header (self->answer, line, &self->framing, error))
                goto out;
              break;
            }
          if (!pd_http_check_framing (&self->framing, error))
            goto out;
          if (self->framing.chunked)
            self->state = ANSWER_CHUNK_SIZE;
          else if (self->framing.has_length && self->framing.length > PD_ACTIVATE_ANSWER_MAX)
            {
              pd_http_fail_body_too_large (error, PD_ACTIVATE_ANSWER_MAX);
              goto out;
            }
          else if (self->framing.has_length)
            {
              self->remaining = self->framing.length;
              self->state = ANSWER_BODY_LENGTH;
            }
          else if (self->answer->status == 204 || self->answer->status == 304)
            self->state = ANSWER_DONE;
          else
            self->state = ANSWER_BODY_TO_EOF;
          break;
        case ANSWER_CHUNK_SIZE:
          if (!pd_http_parse_chunk_size (line, PD_ACTIVATE_ANSWER_MAX, self->answer->body->len,
                                         &self->remaining, error))
            goto out;
          self->state = self->remaining == 0 ? ANSWER_TRAILERS : ANSWER_CHUNK_DATA;
          break;
        case ANSWER_CHUNK_END:
          if (*line != '\0')
            {
              g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                                   "malformed HTTP message: no line end after a chunk");
              goto out;
            }
          self->state = ANSWER_CHUNK_SIZE;
          break;
        case ANSWER_TRAILERS:
          /* read and dropped */
          if (*line == '\0')
            self->state = ANSWER_DONE;
          break;
        case ANSWER_BODY_LENGTH:
        case ANSWER_CHUNK_DATA:
        case ANSWER_BODY_TO_EOF:
        case ANSWER_DONE:
        default:
          g_assert_not_reached ();
        }
    }
out:
  g_byte_array_remove_range (self->in, 0, (guint) pos);
  return done;
}

static void activation_read (PdActivation *self);

static void
activation_on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdActivation) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              &error);

  if (bytes == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (self->finished || self->connection == NULL ||
      G_INPUT_STREAM (source) != g_io_stream_get_input_stream (G_IO_STREAM (self->connection)))
    return;
  if (bytes == NULL)
    {
      activation_fail_error (self, error);
      return;
    }
  g_byte_array_append (self->in, g_bytes_get_data (bytes, NULL),
                       (guint) g_bytes_get_size (bytes));
  if (!answer_parse (self, g_bytes_get_size (bytes) == 0, &error))
    activation_read (self);
  else if (error != NULL)
    activation_fail_error (self, error);
  else
    activation_evaluate (self);
}

static void
activation_read (PdActivation *self)
{
  GInputStream *stream = g_io_stream_get_input_stream (G_IO_STREAM (self->connection));

  g_input_stream_read_bytes_async (stream, READ_SIZE, G_PRIORITY_DEFAULT, self->cancellable,
                                   activation_on_read, pd_activation_ref (self));
}

static void
activation_on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdActivation) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (self->finished || self->connection == NULL ||
      G_OUTPUT_STREAM (source) != g_io_stream_get_output_stream (G_IO_STREAM (self->connection)))
    return;
  if (error != NULL)
    {
      activation_fail_error (self, error);
      return;
    }
  /* allocated from the start: an empty GByteArray's data is NULL, and no arithmetic may be
   * done on NULL */
  self->in = g_byte_array_sized_new (READ_SIZE);
  self->answer = g_new0 (PdHttpMessage, 1);
  self->answer->body = g_byte_array_new ();
  self->framing = (PdHttpFraming) { FALSE, 0, FALSE };
  self->state = ANSWER_STATUS_LINE;
  self->remaining = 0;
  self->head_used = 0;
  activation_read (self);
}

static void
activation_on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdActivation) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection =
    g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  GOutputStream *out;

  if (connection == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (self->finished || self->connection != NULL)
    return;
  if (connection == NULL &&
      (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
       g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)))
    {
      /* bound but not listening yet, or replaced: connection errors are retried (as Docker
       * does) until the runner's timeout, from a fresh check of the socket */
      activation_clear_attempt (self);
      close (self->sock_fd);
      self->sock_fd = -1;
      activation_schedule_poll (self, SOCKET_POLL_INTERVAL_MS);
      return;
    }
  if (connection == NULL)
    {
      activation_fail_error (self, error);
      return;
    }
  self->connection = g_steal_pointer (&connection);
  out = g_io_stream_get_output_stream (G_IO_STREAM (self->connection));
  g_output_stream_write_all_async (out, ACTIVATE_REQUEST, strlen (ACTIVATE_REQUEST),
                                   G_PRIORITY_DEFAULT, self->cancellable, activation_on_written,
                                   pd_activation_ref (self));
}

static void
activation_send (PdActivation *self)
{
  g_autofree char *proc_path = g_strdup_printf ("/proc/self/fd/%d", self->sock_fd);
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (proc_path);
  g_autoptr(GSocketClient) client = g_socket_client_new ();

  /* reached through our O_PATH fd: a symlink swapped in after the check is never followed.
   * The timeout bounds each connect, write and read, as an idle timeout */
  g_socket_client_set_timeout (client, self->request_timeout_s);
  /* a unix socket: no proxy resolver (nor a GIO module for one) is ever needed */
  g_socket_client_set_enable_proxy (client, FALSE);
  self->cancellable = g_cancellable_new ();
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (address), self->cancellable,
                                 activation_on_connected, pd_activation_ref (self));
}

static gboolean
activation_on_poll (gpointer user_data)
{
  PdActivation *self = user_data;
  const char *name = pd_plugin_record_get_config (self->record)->interface_socket;
  struct stat st;
  int fd;

  if (fstatat (self->runtime_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        {
          if (self->poll_interval_ms >= SOCKET_POLL_INTERVAL_MS)
            return G_SOURCE_CONTINUE;
          activation_schedule_poll (self, self->poll_interval_ms * 2);
          return G_SOURCE_REMOVE;
        }
      self->poll_source = 0;
      activation_fail_printf (self, "Cannot stat socket %s: %s", name, g_strerror (errno));
      return G_SOURCE_REMOVE;
    }
  self->poll_source = 0;
  if (!S_ISSOCK (st.st_mode))
    {
      activation_fail_printf (self, "%s/%s is not a socket", PD_SANDBOX_PLUGIN_SOCKET_DIR, name);
      return G_SOURCE_REMOVE;
    }
  fd = openat (self->runtime_dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    {
      if (fd >= 0)
        close (fd);
      activation_fail_printf (self, "%s/%s is not a socket", PD_SANDBOX_PLUGIN_SOCKET_DIR, name);
      return G_SOURCE_REMOVE;
    }
  self->sock_fd = fd;
  self->socket_seen = TRUE;
  activation_send (self);
  return G_SOURCE_REMOVE;
}

static void
activation_schedule_poll (PdActivation *self, guint interval_ms)
{
  self->poll_interval_ms = MIN (interval_ms, SOCKET_POLL_INTERVAL_MS);
  self->poll_source = g_timeout_add (self->poll_interval_ms, activation_on_poll, self);
}

PdActivation *
pd_activation_start (PdPluginRecord *record,
                     const char *runtime_dir,
                     guint request_timeout_s,
                     PdActivationCallback callback,
                     gpointer user_data,
                     GError **error)
{
  g_autoptr(PdActivation) self = NULL;

  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), NULL);
  g_return_val_if_fail (runtime_dir != NULL && callback != NULL, NULL);

  self = g_rc_box_new0 (PdActivation);
  self->record = g_object_ref (record);
  self->request_timeout_s = request_timeout_s;
  self->callback = callback;
  self->user_data = user_data;
  self->sock_fd = -1;
  self->runtime_dirfd = open (runtime_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (self->runtime_dirfd < 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED, "Cannot open %s: %s", runtime_dir,
                   g_strerror (errno));
      return NULL;
    }
  activation_schedule_poll (self, SOCKET_POLL_FIRST_MS);
  return g_steal_pointer (&self);
}

gboolean
pd_activation_get_socket_seen (PdActivation *self)
{
  return self->socket_seen;
}

void
pd_activation_cancel (PdActivation *self)
{
  activation_clear (self);
}

PdActivation *
pd_activation_ref (PdActivation *self)
{
  return g_rc_box_acquire (self);
}

static void
activation_free (PdActivation *self)
{
  activation_clear (self);
  g_clear_object (&self->record);
}

void
pd_activation_unref (PdActivation *self)
{
  g_rc_box_release_full (self, (GDestroyNotify) activation_free);
}
