/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-consumer"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "pd-consumer-http.h"
#include "pd-error.h"

typedef struct {
  int fd;
  int cancel_fd;
  gint64 deadline;
  GByteArray *buf;    /* what was received and not yet taken, from @pos */
  gsize pos;
  gboolean eof;
  gsize head_used;    /* bytes of head lines taken, against PD_HTTP_HEAD_MAX */
} Reader;

void
pd_http_message_free (PdHttpMessage *message)
{
  if (message == NULL)
    return;
  g_free (message->method);
  g_free (message->target);
  g_free (message->content_type);
  g_free (message->accept);
  if (message->body != NULL)
    g_byte_array_unref (message->body);
  g_free (message);
}

static gboolean
fail_invalid (GError **error, const char *what)
{
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "malformed HTTP message: %s", what);
  return FALSE;
}

char *
pd_http_line_new (const guint8 *start, gsize len, GError **error)
{
  char *line;

  if (len > 0 && start[len - 1] == '\r')
    len--;
  line = g_strndup ((const char *) start, len);
  /* a NUL byte would cut the line short of what the peer meant */
  if (strlen (line) != len)
    {
      g_free (line);
      fail_invalid (error, "NUL byte in the head");
      return NULL;
    }
  return line;
}

/* waits until @fd is ready for @events, the deadline passes or @cancel_fd is readable */
static gboolean
wait_fd (int fd, short events, int cancel_fd, gint64 deadline, GError **error)
{
  for (;;)
    {
      struct pollfd fds[2] = { { fd, events, 0 }, { cancel_fd, POLLIN, 0 } };
      gint64 now = g_get_monotonic_time ();
      gint64 timeout_ms;
      int n;

      if (now >= deadline)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timed out");
          return FALSE;
        }
      timeout_ms = MIN ((deadline - now + 999) / 1000, G_MAXINT);
      n = poll (fds, cancel_fd >= 0 ? 2 : 1, (int) timeout_ms);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "poll: %s",
                       g_strerror (errsv));
          return FALSE;
        }
      if (cancel_fd >= 0 && fds[1].revents != 0)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
          return FALSE;
        }
      /* errors and hang-ups too: the read or write that follows reports them */
      if (fds[0].revents != 0)
        return TRUE;
    }
}

/* receives at least one more byte (or the end of the stream), at most @max */
static gboolean
reader_fill (Reader *r, gsize max, GError **error)
{
  guint8 chunk[16384];

  for (;;)
    {
      ssize_t n = read (r->fd, chunk, MIN (sizeof chunk, MAX (max, 1)));

      if (n > 0)
        {
          g_byte_array_append (r->buf, chunk, (guint) n);
          return TRUE;
        }
      if (n == 0)
        {
          r->eof = TRUE;
          return TRUE;
        }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
          if (!wait_fd (r->fd, POLLIN, r->cancel_fd, r->deadline, error))
            return FALSE;
          continue;
        }
      {
        int errsv = errno;
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "read: %s",
                     g_strerror (errsv));
        return FALSE;
      }
    }
}

static gsize
reader_available (Reader *r)
{
  return r->buf->len - r->pos;
}

/* the next line, without its CRLF (a bare LF ends a line too): a line of the head (counted
 * against PD_HTTP_HEAD_MAX) when @line_max is 0, else a chunk size line of at most @line_max
 * bytes (the body's bound counts those) */
static char *
reader_line (Reader *r, gsize line_max, GError **error)
{
  gsize scanned = 0;

  for (;;)
    {
      const guint8 *start = r->buf->data + r->pos;
      const guint8 *nl = reader_available (r) > scanned
                           ? memchr (start + scanned, '\n', reader_available (r) - scanned)
                           : NULL;
      gsize limit = line_max != 0 ? line_max : PD_HTTP_HEAD_MAX - r->head_used;

      if (nl != NULL)
        {
          gsize len = (gsize) (nl - start);

          if (len + 1 > limit)
            break;
          if (line_max == 0)
            r->head_used += len + 1;
          r->pos += len + 1;
          return pd_http_line_new (start, len, error);
        }
      scanned = reader_available (r);
      if (scanned >= limit)
        break;
      if (r->eof)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               "the connection closed before the message was complete");
          return NULL;
        }
      if (!reader_fill (r, limit - scanned, error))
        return NULL;
    }
  if (line_max != 0)
    fail_invalid (error, "chunk size line too long");
  else
    g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                 "the HTTP head is longer than %u bytes", PD_HTTP_HEAD_MAX);
  return NULL;
}

/* moves @n bytes into @out */
static gboolean
reader_take (Reader *r, gsize n, GByteArray *out, GError **error)
{
  while (n > 0)
    {
      gsize take = MIN (n, reader_available (r));

      g_byte_array_append (out, r->buf->data + r->pos, (guint) take);
      r->pos += take;
      n -= take;
      /* what was taken is dropped, so that a long body is not held twice */
      g_byte_array_remove_range (r->buf, 0, (guint) r->pos);
      r->pos = 0;
      if (n == 0)
        break;
      if (r->eof)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               "the connection closed before the body was complete");
          return FALSE;
        }
      if (!reader_fill (r, n, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_tchar (char c)
{
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$%&'*+-.^_`|~", c) != NULL);
}

static gboolean
is_token (const char *s, gsize len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!is_tchar (s[i]))
      return FALSE;
  return TRUE;
}

gboolean
pd_http_fail_body_too_large (GError **error, gsize max_body)
{
  g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
               "the HTTP body is larger than %" G_GSIZE_FORMAT " bytes", max_body);
  return FALSE;
}

gboolean
pd_http_parse_chunk_size (const char *line, gsize max_body, gsize body_len, guint64 *size,
                          GError **error)
{
  const char *p;

  *size = 0;
  for (p = line; g_ascii_isxdigit (*p); p++)
    {
      if (*size > max_body)
        return pd_http_fail_body_too_large (error, max_body);
      *size = *size * 16 + (guint64) g_ascii_xdigit_value (*p);
    }
  if (p == line || (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t'))
    return fail_invalid (error, "bad chunk size");
  if (*size > max_body - body_len)
    return pd_http_fail_body_too_large (error, max_body);
  return TRUE;
}

static gboolean
read_chunked (Reader *r, gsize max_body, GByteArray *body, GError **error)
{
  for (;;)
    {
      g_autofree char *line = reader_line (r, PD_HTTP_CHUNK_LINE_MAX, error);
      guint64 size = 0;

      if (line == NULL || !pd_http_parse_chunk_size (line, max_body, body->len, &size, error))
        return FALSE;
      if (size == 0)
        break;
      if (!reader_take (r, (gsize) size, body, error))
        return FALSE;
      g_free (line);
      line = reader_line (r, PD_HTTP_CHUNK_LINE_MAX, error);
      if (line == NULL)
        return FALSE;
      if (*line != '\0')
        return fail_invalid (error, "no line end after a chunk");
    }
  /* trailers, up to the empty line: read and dropped */
  for (;;)
    {
      g_autofree char *line = reader_line (r, 0, error);

      if (line == NULL)
        return FALSE;
      if (*line == '\0')
        return TRUE;
    }
}

gboolean
pd_http_parse_start_line (PdHttpMessage *message, const char *line, gboolean is_request,
                          GError **error)
{
  if (is_request)
    {
      const char *sp1 = strchr (line, ' ');
      const char *sp2 = sp1 != NULL ? strchr (sp1 + 1, ' ') : NULL;
      gsize target_len;

      if (sp1 == NULL || sp2 == NULL || !is_token (line, (gsize) (sp1 - line)))
        return fail_invalid (error, "bad request line");
      target_len = (gsize) (sp2 - sp1 - 1);
      if (target_len == 0 || sp1[1] != '/')
        return fail_invalid (error, "the target is not a path");
      if (target_len > PD_HTTP_TARGET_MAX)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                       "the request target is longer than %u bytes", PD_HTTP_TARGET_MAX);
          return FALSE;
        }
      for (gsize i = 1; i <= target_len; i++)
        if ((guchar) sp1[i] <= 0x20 || (guchar) sp1[i] >= 0x7f)
          return fail_invalid (error, "bad character in the target");
      if (!g_str_equal (sp2 + 1, "HTTP/1.1") && !g_str_equal (sp2 + 1, "HTTP/1.0"))
        return fail_invalid (error, "not HTTP/1.x");
      message->method = g_strndup (line, (gsize) (sp1 - line));
      message->target = g_strndup (sp1 + 1, target_len);
      return TRUE;
    }

  if ((!g_str_has_prefix (line, "HTTP/1.1 ") && !g_str_has_prefix (line, "HTTP/1.0 ")) ||
      !g_ascii_isdigit (line[9]) || !g_ascii_isdigit (line[10]) ||
      !g_ascii_isdigit (line[11]) || (line[12] != '\0' && line[12] != ' '))
    return fail_invalid (error, "bad status line");
  message->status = (guint) ((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
  if (message->status < 200 || message->status > 599)
    return fail_invalid (error, "the status is not a final one");
  return TRUE;
}

gboolean
pd_http_parse_header (PdHttpMessage *message, const char *line, PdHttpFraming *framing,
                      GError **error)
{
  const char *colon = strchr (line, ':');
  g_autofree char *value = NULL;
  gsize name_len;

  if (*line == ' ' || *line == '\t')
    return fail_invalid (error, "folded header line");
  if (colon == NULL || !is_token (line, (gsize) (colon - line)))
    return fail_invalid (error, "bad header line");
  name_len = (gsize) (colon - line);
  value = g_strstrip (g_strdup (colon + 1));
  for (const char *p = value; *p != '\0'; p++)
    if (((guchar) *p < 0x20 && *p != '\t') || *p == 0x7f)
      return fail_invalid (error, "control character in a header");

#define HEADER_IS(name) \
  (name_len == strlen (name) && g_ascii_strncasecmp (line, name, name_len) == 0)
  if (HEADER_IS ("Content-Length"))
    {
      guint64 length = 0;

      if (*value == '\0')
        return fail_invalid (error, "empty Content-Length");
      for (const char *p = value; *p != '\0'; p++)
        {
          if (!g_ascii_isdigit (*p) || length > G_MAXUINT32)
            return fail_invalid (error, "bad Content-Length");
          length = length * 10 + (guint64) (*p - '0');
        }
      if (framing->has_length && framing->length != length)
        return fail_invalid (error, "two different Content-Lengths");
      framing->has_length = TRUE;
      framing->length = length;
    }
  else if (HEADER_IS ("Transfer-Encoding"))
    {
      if (framing->chunked || g_ascii_strcasecmp (value, "chunked") != 0)
        return fail_invalid (error, "a transfer coding other than chunked");
      framing->chunked = TRUE;
    }
  else if (HEADER_IS ("Content-Type"))
    {
      g_clear_pointer (&message->content_type, g_free);
      if (strlen (value) <= PD_HTTP_CONTENT_TYPE_MAX)
        message->content_type = g_steal_pointer (&value);
    }
  else if (HEADER_IS ("Accept"))
    {
      g_clear_pointer (&message->accept, g_free);
      if (strlen (value) <= PD_HTTP_CONTENT_TYPE_MAX)
        message->accept = g_steal_pointer (&value);
    }
#undef HEADER_IS
  return TRUE;
}

gboolean
pd_http_check_framing (const PdHttpFraming *framing, GError **error)
{
  if (framing->chunked && framing->has_length)
    return fail_invalid (error, "both Content-Length and Transfer-Encoding");
  return TRUE;
}

PdHttpMessage *
pd_http_read_message (int fd, int cancel_fd, gboolean is_request, gsize max_body,
                      gint64 deadline, GError **error)
{
  g_autoptr(PdHttpMessage) message = g_new0 (PdHttpMessage, 1);
  /* allocated from the start: an empty GByteArray's data is NULL, and no arithmetic may be
   * done on NULL */
  g_autoptr(GByteArray) buf = g_byte_array_sized_new (16384);
  Reader r = { fd, cancel_fd, deadline, buf, 0, FALSE, 0 };
  PdHttpFraming framing = { FALSE, 0, FALSE };
  g_autofree char *start_line = NULL;

  message->body = g_byte_array_new ();
  start_line = reader_line (&r, 0, error);
  if (start_line == NULL || !pd_http_parse_start_line (message, start_line, is_request, error))
    return NULL;
  for (;;)
    {
      g_autofree char *line = reader_line (&r, 0, error);

      if (line == NULL)
        return NULL;
      if (*line == '\0')
        break;
      if (!pd_http_parse_header (message, line, &framing, error))
        return NULL;
    }
  if (!pd_http_check_framing (&framing, error))
    return NULL;

  if (framing.chunked)
    {
      if (!read_chunked (&r, max_body, message->body, error))
        return NULL;
    }
  else if (framing.has_length)
    {
      if (framing.length > max_body)
        {
          pd_http_fail_body_too_large (error, max_body);
          return NULL;
        }
      if (!reader_take (&r, (gsize) framing.length, message->body, error))
        return NULL;
    }
  else if (!is_request && message->status != 204 && message->status != 304)
    {
      /* an answer without a length runs to the end of the connection */
      for (;;)
        {
          gsize available = reader_available (&r);

          if (message->body->len + available > max_body)
            {
              pd_http_fail_body_too_large (error, max_body);
              return NULL;
            }
          if (!reader_take (&r, available, message->body, error))
            return NULL;
          if (r.eof)
            break;
          if (!reader_fill (&r, max_body - message->body->len + 1, error))
            return NULL;
        }
    }
  return g_steal_pointer (&message);
}

gboolean
pd_http_write_all (int fd, int cancel_fd, const void *data, gsize len, gint64 deadline,
                   GError **error)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);

      if (n > 0)
        {
          p += n;
          len -= (gsize) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          if (!wait_fd (fd, POLLOUT, cancel_fd, deadline, error))
            return FALSE;
          continue;
        }
      {
        int errsv = n < 0 ? errno : EPIPE;
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "write: %s",
                     g_strerror (errsv));
        return FALSE;
      }
    }
  return TRUE;
}

const char *
pd_http_reason (guint status)
{
  switch (status)
    {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}
