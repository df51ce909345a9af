/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* plugind-example's HTTP/1.1 server: one event loop over every connection, request heads,
 * responses on the wire; the bodies go to dispatch() */

#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "example.h"

#define CONTENT_TYPE        "application/vnd.docker.plugins.v1+json"

/* limits that keep a bad client from holding memory or the (single) thread */
#define MAX_HEADER_BYTES    16384
#define MAX_BODY_BYTES      (1024 * 1024)
#define IDLE_TIMEOUT_MS     30000
#define LINGER_TIMEOUT_MS   2000

/* io */

static bool
write_all (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return false;
        }
      data += n;
      len -= (size_t) n;
    }
  return true;
}

static const char *
status_text (int status)
{
  switch (status)
    {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

static bool
send_response (int fd, const struct response *resp, bool keep_alive)
{
  const char *body = resp->body != NULL ? resp->body : "{\"Err\":\"out of memory\"}";
  int status = resp->body != NULL ? resp->status : 500;
  char head[256];
  int head_len;

  head_len = snprintf (head, sizeof head,
                       "HTTP/1.1 %d %s\r\n"
                       "Content-Type: " CONTENT_TYPE "\r\n"
                       "Content-Length: %zu\r\n"
                       "%s"
                       "\r\n",
                       status, status_text (status), strlen (body),
                       keep_alive ? "" : "Connection: close\r\n");
  return write_all (fd, head, (size_t) head_len) && write_all (fd, body, strlen (body));
}

/* parsing */

static char *
find_header_end (char *buf, size_t len)
{
  for (size_t i = 0; i + 3 < len; i++)
    if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
      return buf + i;
  return NULL;
}

static bool
token_equal (const char *a, size_t a_len, const char *b)
{
  return strlen (b) == a_len && strncasecmp (a, b, a_len) == 0;
}

/* parses the request line and headers in [@head, @head_end); returns an HTTP status (200 =
 * fine) and sets @content_length */
static int
parse_head (char *head, char *head_end, struct request *req, size_t *content_length,
            const char **problem)
{
  char *line_end;
  char *line;
  char *sp1, *sp2;
  bool have_length = false;

  *content_length = 0;
  *head_end = '\0';

  /* request line: METHOD SP TARGET SP HTTP/1.x */
  line = head;
  line_end = strstr (line, "\r\n");
  if (line_end == NULL)
    line_end = head_end;
  *line_end = '\0';
  sp1 = strchr (line, ' ');
  sp2 = sp1 != NULL ? strchr (sp1 + 1, ' ') : NULL;
  if (sp1 == NULL || sp2 == NULL || strchr (sp2 + 1, ' ') != NULL || sp1 == line || sp2 == sp1 + 1)
    {
      *problem = "malformed request line";
      return 400;
    }
  if ((size_t) (sp1 - line) >= sizeof req->method || (size_t) (sp2 - sp1 - 1) >= sizeof req->path)
    {
      *problem = "request line too long";
      return 400;
    }
  memcpy (req->method, line, (size_t) (sp1 - line));
  req->method[sp1 - line] = '\0';
  memcpy (req->path, sp1 + 1, (size_t) (sp2 - sp1 - 1));
  req->path[sp2 - sp1 - 1] = '\0';
  if (strncmp (sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' || sp2[8] > '9' || sp2[9] != '\0')
    {
      *problem = "unsupported protocol version";
      return strncmp (sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
    }
  req->minor_version = sp2[8] - '0';
  req->keep_alive = req->minor_version >= 1;

  /* headers */
  for (line = line_end + 2; line < head_end; line = line_end + 2)
    {
      char *colon;
      char *value;
      size_t name_len;

      line_end = strstr (line, "\r\n");
      if (line_end == NULL)
        line_end = head_end;
      *line_end = '\0';
      colon = strchr (line, ':');
      if (colon == NULL || colon == line || line[0] == ' ' || line[0] == '\t')
        {
          *problem = "malformed header";
          return 400;
        }
      name_len = (size_t) (colon - line);
      for (size_t i = 0; i < name_len; i++)
        if (line[i] == ' ' || line[i] == '\t')
          {
            *problem = "malformed header";
            return 400;
          }
      value = colon + 1;
      while (*value == ' ' || *value == '\t')
        value++;

      if (token_equal (line, name_len, "Content-Length"))
        {
          char *end;
          unsigned long long n;

          if (*value < '0' || *value > '9')
            {
              *problem = "invalid Content-Length";
              return 400;
            }
          errno = 0;
          n = strtoull (value, &end, 10);
          while (*end == ' ' || *end == '\t')
            end++;
          if (errno != 0 || *end != '\0' || (have_length && n != *content_length))
            {
              *problem = "invalid Content-Length";
              return 400;
            }
          if (n > MAX_BODY_BYTES)
            {
              *problem = "request body too large";
              return 413;
            }
          *content_length = (size_t) n;
          have_length = true;
        }
      else if (token_equal (line, name_len, "Transfer-Encoding"))
        {
          if (strcasecmp (value, "identity") != 0)
            {
              *problem = "chunked request bodies are not supported";
              return 501;
            }
        }
      else if (token_equal (line, name_len, "Connection"))
        {
          if (strcasecmp (value, "close") == 0)
            req->keep_alive = false;
          else if (strcasecmp (value, "keep-alive") == 0)
            req->keep_alive = true;
        }
    }
  return 200;
}

/* connections: an event loop over all of them, so that an idle keep-alive connection (the
 * daemon's HTTP client pools them) never blocks another client */

#define MAX_CONNECTIONS 64

struct connection {
  int fd;
  char *buf;
  size_t len;
  size_t allocated;
  long long last_active_ms;
  bool closing;            /* answered with an error: draining what the client still sends */
};

static struct connection connections[MAX_CONNECTIONS];
static size_t n_connections;

static long long
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
connection_close (size_t index)
{
  close (connections[index].fd);
  free (connections[index].buf);
  connections[index] = connections[--n_connections];
}

/* sends an error and stops reading requests, but drains what the client still sends for a
 * while: closing a socket with unread data would reset it and lose the error reply */
static bool
connection_fail (struct connection *conn, struct response *resp)
{
  bool sent = send_response (conn->fd, resp, false);

  free (resp->body);
  resp->body = NULL;
  if (!sent || shutdown (conn->fd, SHUT_WR) < 0)
    return false;
  conn->closing = true;
  conn->len = 0;
  conn->last_active_ms = now_ms ();
  return true;
}

/* answers every complete request in the buffer; false when the connection must be closed */
static bool
connection_process (struct connection *conn)
{
  for (;;)
    {
      struct request req = { 0 };
      struct response resp = { 0 };
      const char *problem = NULL;
      char *head_end;
      size_t head_len;
      size_t content_length = 0;
      int status;
      bool keep_alive;

      /* requests arrive in pieces of any size: wait until the head is complete */
      head_end = find_header_end (conn->buf, conn->len);
      if (head_end == NULL)
        {
          if (conn->len >= MAX_HEADER_BYTES)
            {
              respond_error (&resp, 431, "request head too large");
              return connection_fail (conn, &resp);
            }
          return true;
        }
      head_len = (size_t) (head_end - conn->buf) + 4;
      if (head_len > MAX_HEADER_BYTES)
        {
          respond_error (&resp, 431, "request head too large");
          return connection_fail (conn, &resp);
        }

      /* parse a copy: the head may need to be parsed again once the body has arrived */
      {
        char head[MAX_HEADER_BYTES + 1];

        memcpy (head, conn->buf, head_len);
        status = parse_head (head, head + head_len - 4, &req, &content_length, &problem);
      }
      if (status != 200)
        {
          log_debug ("bad request: %s", problem);
          respond_error (&resp, status, problem);
          return connection_fail (conn, &resp);
        }
      if (conn->len < head_len + content_length)
        return true;
      req.body = conn->buf + head_len;
      req.body_len = content_length;

      log_debug ("%s %s (%zu bytes)", req.method, req.path, req.body_len);
      if (strcmp (req.method, "POST") != 0)
        respond_error (&resp, 405, "method not allowed");
      else
        dispatch (&req, &resp);

      keep_alive = req.keep_alive && !quit_requested;
      if (!send_response (conn->fd, &resp, keep_alive))
        keep_alive = false;
      free (resp.body);
      if (!keep_alive)
        return false;

      /* keep any pipelined bytes of the next request */
      memmove (conn->buf, conn->buf + head_len + content_length,
               conn->len - head_len - content_length);
      conn->len -= head_len + content_length;
    }
}

/* false when the connection is finished (EOF, error, bad request) */
static bool
connection_read (struct connection *conn)
{
  ssize_t n;

  if (conn->closing)
    {
      char scratch[16384];

      do
        n = recv (conn->fd, scratch, sizeof scratch, MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }

  if (conn->allocated - conn->len < 4096)
    {
      size_t limit = MAX_HEADER_BYTES + MAX_BODY_BYTES;
      size_t wanted = conn->allocated == 0 ? 8192 : conn->allocated * 2;
      char *grown;

      if (conn->allocated >= limit)
        return false;
      if (wanted > limit)
        wanted = limit;
      grown = realloc (conn->buf, wanted);
      if (grown == NULL)
        return false;
      conn->buf = grown;
      conn->allocated = wanted;
    }
  do
    n = recv (conn->fd, conn->buf + conn->len, conn->allocated - conn->len, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return true;
  if (n <= 0)
    return false;
  conn->len += (size_t) n;
  conn->last_active_ms = now_ms ();
  return connection_process (conn);
}

void
serve (int listen_fd, const sigset_t *unblocked)
{
  const int tick_ms = 1000;

  while (!quit_requested)
    {
      struct pollfd pfds[MAX_CONNECTIONS + 1];
      struct timespec ts = { tick_ms / 1000, 0 };
      int r;

      pfds[0].fd = listen_fd;
      pfds[0].events = n_connections < MAX_CONNECTIONS ? POLLIN : 0;
      pfds[0].revents = 0;
      for (size_t i = 0; i < n_connections; i++)
        {
          pfds[i + 1].fd = connections[i].fd;
          pfds[i + 1].events = POLLIN;
          pfds[i + 1].revents = 0;
        }

      /* ppoll unblocks the signals atomically, so a SIGTERM is never lost between checks */
      r = ppoll (pfds, n_connections + 1, &ts, unblocked);
      if (r < 0)
        {
          if (errno == EINTR)
            continue;
          log_error ("poll: %s", strerror (errno));
          return;
        }

      /* walk backwards: closing swaps the last connection into the freed slot */
      for (size_t i = n_connections; i > 0; i--)
        {
          struct connection *conn = &connections[i - 1];
          short revents = pfds[i].revents;

          if (revents == 0)
            {
              /* a client that sends nothing must not hold a slot forever */
              if (now_ms () - conn->last_active_ms >=
                  (conn->closing ? LINGER_TIMEOUT_MS : IDLE_TIMEOUT_MS))
                connection_close (i - 1);
              continue;
            }
          if (!connection_read (conn))
            connection_close (i - 1);
        }

      if (pfds[0].revents & POLLIN)
        {
          int fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);

          if (fd >= 0)
            connections[n_connections++] = (struct connection) { .fd = fd, .last_active_ms = now_ms () };
        }
    }

  while (n_connections > 0)
    connection_close (n_connections - 1);
}

