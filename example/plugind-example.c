/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * plugind-example: a tiny Docker volume plugin that speaks Docker's plugin protocol (HTTP/1.1
 * POSTs with JSON bodies, /Plugin.Activate first) on a unix socket. Plain libc so that it links
 * statically and runs alone in a bare rootfs.
 *
 *   plugind-example [SOCKET-NAME]
 *
 * The socket is <dir>/<SOCKET-NAME>, where dir is $PLUGIND_EXAMPLE_SOCKET_DIR or
 * /run/docker/plugins, and the name is the argument, else $PLUGIND_EXAMPLE_SOCKET, else
 * "example.sock". DEBUG=1 logs every request to stderr. SIGTERM and SIGINT end it with status 0.
 *
 * Requests are HTTP/1.1 POSTs answered from the dispatch table below; add a row per endpoint.
 * It answers /Plugin.Activate with VolumeDriver and implements Docker's volume plugin API
 * (Create, Remove, Mount, Path, Unmount, Get, List, Capabilities). A volume is a directory
 * <data>/volumes/<name>, where data is $PLUGIND_EXAMPLE_DATA_DIR or /data (the mount its
 * config.json declares), and that path is the Mountpoint it returns. The directories are the
 * only state; which callers mount what is counted in memory. Operation errors are answered
 * with a 200 and an "Err" (Docker's convention), bodies that are no valid request with a 400.
 */

#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET_DIR  "/run/docker/plugins"
#define DEFAULT_SOCKET_NAME "example.sock"
#define DEFAULT_DATA_DIR    "/data"
#define CONTENT_TYPE        "application/vnd.docker.plugins.v1+json"

/* limits that keep a bad client from holding memory or the (single) thread */
#define MAX_HEADER_BYTES    16384
#define MAX_BODY_BYTES      (1024 * 1024)
#define IDLE_TIMEOUT_MS     30000
#define LINGER_TIMEOUT_MS   2000

static volatile sig_atomic_t quit_requested;
static bool debug;

struct request {
  char method[16];
  char path[1024];
  int minor_version;       /* HTTP/1.<minor> */
  bool keep_alive;
  const char *body;        /* not NUL-terminated */
  size_t body_len;
};

struct response {
  int status;
  char *body;              /* malloc'd JSON text */
};

typedef void (*handler_func) (const struct request *req, struct response *resp);

static void log_debug (const char *format, ...) __attribute__((format (printf, 1, 2)));
static void log_error (const char *format, ...) __attribute__((format (printf, 1, 2)));

static void
log_debug (const char *format, ...)
{
  va_list args;

  if (!debug)
    return;
  va_start (args, format);
  fputs ("plugind-example: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
}

static void
log_error (const char *format, ...)
{
  va_list args;

  va_start (args, format);
  fputs ("plugind-example: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
}

/* text */

/* the length of the valid UTF-8 sequence at @s (at most @len bytes), 0 when it is invalid */
static size_t
utf8_sequence_length (const unsigned char *s, size_t len)
{
  unsigned int cp;
  size_t n;

  if (len == 0)
    return 0;
  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2, cp = s[0] & 0x1f;
  else if ((s[0] & 0xf0) == 0xe0)
    n = 3, cp = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4, cp = s[0] & 0x07;
  else
    return 0;
  if (len < n)
    return 0;
  for (size_t i = 1; i < n; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i] & 0x3f);
    }
  /* overlong forms, surrogates and values past U+10FFFF */
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

static size_t
utf8_encode (unsigned int cp, char *out)
{
  if (cp < 0x80)
    {
      out[0] = (char) cp;
      return 1;
    }
  if (cp < 0x800)
    {
      out[0] = (char) (0xc0 | cp >> 6);
      out[1] = (char) (0x80 | (cp & 0x3f));
      return 2;
    }
  if (cp < 0x10000)
    {
      out[0] = (char) (0xe0 | cp >> 12);
      out[1] = (char) (0x80 | (cp >> 6 & 0x3f));
      out[2] = (char) (0x80 | (cp & 0x3f));
      return 3;
    }
  out[0] = (char) (0xf0 | cp >> 18);
  out[1] = (char) (0x80 | (cp >> 12 & 0x3f));
  out[2] = (char) (0x80 | (cp >> 6 & 0x3f));
  out[3] = (char) (0x80 | (cp & 0x3f));
  return 4;
}

/* @value for a message or a log line, in double quotes: printable ASCII as is, anything else
 * (controls a terminal would act on included) as \xNN, and cut after QUOTE_MAX bytes; the
 * messages travel to the daemon and on to users */
#define QUOTE_MAX  64
#define QUOTE_SIZE (QUOTE_MAX * 4 + 8)

static const char *
quote (const char *value, char out[QUOTE_SIZE])
{
  char *p = out;
  size_t i;

  *p++ = '"';
  for (i = 0; value[i] != '\0' && i < QUOTE_MAX; i++)
    {
      unsigned char c = (unsigned char) value[i];

      if (c == '"' || c == '\\')
        {
          *p++ = '\\';
          *p++ = (char) c;
        }
      else if (c < 0x20 || c >= 0x7f)
        p += sprintf (p, "\\x%02x", c);
      else
        *p++ = (char) c;
    }
  *p++ = '"';
  if (value[i] != '\0')
    p += sprintf (p, "...");
  *p = '\0';
  return out;
}

/* a growing output buffer: appends after a failed allocation do nothing, and finishing it
 * then gives NULL */
struct strbuf {
  char *data;
  size_t len;
  size_t allocated;
  bool failed;
};

static void
strbuf_append_len (struct strbuf *sb, const char *s, size_t n)
{
  if (sb->failed)
    return;
  if (sb->allocated - sb->len <= n)
    {
      size_t wanted = sb->allocated == 0 ? 256 : sb->allocated;
      char *grown;

      while (wanted - sb->len <= n)
        {
          if (wanted > SIZE_MAX / 2)
            {
              sb->failed = true;
              return;
            }
          wanted *= 2;
        }
      grown = realloc (sb->data, wanted);
      if (grown == NULL)
        {
          sb->failed = true;
          return;
        }
      sb->data = grown;
      sb->allocated = wanted;
    }
  memcpy (sb->data + sb->len, s, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

static void
strbuf_append (struct strbuf *sb, const char *s)
{
  strbuf_append_len (sb, s, strlen (s));
}

/* @s as a JSON string; bytes that are not UTF-8 become U+FFFD, so the output is always valid
 * JSON, and C0/C1 controls and DEL are escaped */
static void
strbuf_append_json_string (struct strbuf *sb, const char *s)
{
  const unsigned char *u = (const unsigned char *) s;
  size_t len = strlen (s);
  size_t i = 0;

  strbuf_append_len (sb, "\"", 1);
  while (i < len)
    {
      size_t run = i;
      char escape[8];

      /* copy plain text in runs */
      while (run < len && u[run] >= 0x20 && u[run] < 0x7f && u[run] != '"' && u[run] != '\\')
        run++;
      strbuf_append_len (sb, s + i, run - i);
      i = run;
      if (i >= len)
        break;

      if (u[i] == '"' || u[i] == '\\')
        {
          escape[0] = '\\';
          escape[1] = (char) u[i];
          strbuf_append_len (sb, escape, 2);
          i++;
        }
      else if (u[i] < 0x80)
        {
          snprintf (escape, sizeof escape, "\\u%04x", u[i]);
          strbuf_append_len (sb, escape, 6);
          i++;
        }
      else
        {
          size_t n = utf8_sequence_length (u + i, len - i);

          if (n == 0)
            {
              strbuf_append (sb, "\\ufffd");
              i++;
            }
          else if (n == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0)
            {
              snprintf (escape, sizeof escape, "\\u%04x", u[i + 1]);
              strbuf_append_len (sb, escape, 6);
              i += 2;
            }
          else
            {
              strbuf_append_len (sb, s + i, n);
              i += n;
            }
        }
    }
  strbuf_append_len (sb, "\"", 1);
}

/* the text, or NULL when an allocation failed; the buffer is reset */
static char *
strbuf_finish (struct strbuf *sb)
{
  char *data = sb->data;

  if (sb->failed || data == NULL)
    {
      free (data);
      data = NULL;
    }
  *sb = (struct strbuf) { 0 };
  return data;
}

/* responses */

static void
respond_json (struct response *resp, int status, const char *json)
{
  resp->status = status;
  resp->body = strdup (json);
}

static void
respond_buffer (struct response *resp, struct strbuf *sb)
{
  resp->status = 200;
  resp->body = strbuf_finish (sb);
}

/* {"Err": message} with an HTTP status: the protocol's errors (bad request, unknown endpoint) */
static void
respond_error (struct response *resp, int status, const char *message)
{
  struct strbuf sb = { 0 };

  strbuf_append (&sb, "{\"Err\":");
  strbuf_append_json_string (&sb, message);
  strbuf_append (&sb, "}");
  resp->status = status;
  resp->body = strbuf_finish (&sb);
}

static void respond_failure (struct response *resp, const char *what, const char *format, ...)
  __attribute__((format (printf, 3, 4)));

/* an operation that failed: Docker's convention is a 200 whose "Err" is not empty */
static void
respond_failure (struct response *resp, const char *what, const char *format, ...)
{
  char message[1024];
  va_list args;

  va_start (args, format);
  vsnprintf (message, sizeof message, format, args);
  va_end (args);
  log_debug ("%s: %s", what, message);
  respond_error (resp, 200, message);
}

/* json: a small strict parser (RFC 8259) for request bodies, which are at most MAX_BODY_BYTES */

#define JSON_MAX_DEPTH 32

struct json {
  const char *start;
  const char *p;
  const char *end;
  unsigned int depth;
  const char *error;       /* static text */
};

static bool
json_fail (struct json *js, const char *error)
{
  if (js->error == NULL)
    js->error = error;
  return false;
}

static void
json_skip_space (struct json *js)
{
  while (js->p < js->end && (*js->p == ' ' || *js->p == '\t' || *js->p == '\n' || *js->p == '\r'))
    js->p++;
}

/* skips white space and takes @c when it comes next */
static bool
json_take (struct json *js, char c)
{
  json_skip_space (js);
  if (js->p < js->end && *js->p == c)
    {
      js->p++;
      return true;
    }
  return false;
}

static bool
json_hex4 (struct json *js, unsigned int *value)
{
  *value = 0;
  if (js->end - js->p < 4)
    return json_fail (js, "truncated \\u escape");
  for (int i = 0; i < 4; i++)
    {
      char c = *js->p++;

      *value <<= 4;
      if (c >= '0' && c <= '9')
        *value |= (unsigned int) (c - '0');
      else if (c >= 'a' && c <= 'f')
        *value |= (unsigned int) (c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        *value |= (unsigned int) (c - 'A' + 10);
      else
        return json_fail (js, "invalid \\u escape");
    }
  return true;
}

/* a string, decoded into @out (NUL-terminated) unless @out is NULL. A string that does not fit
 * fails, unless @truncated is given: it is then set and the rest is dropped. A decoded NUL is
 * refused, as the values end up in C strings */
static bool
json_string (struct json *js, char *out, size_t out_size, bool *truncated)
{
  size_t len = 0;

  if (truncated != NULL)
    *truncated = false;
  if (!json_take (js, '"'))
    return json_fail (js, "expected a string");
  for (;;)
    {
      unsigned char c;
      char utf8[4];
      size_t n;

      if (js->p >= js->end)
        return json_fail (js, "unterminated string");
      c = (unsigned char) *js->p;
      if (c == '"')
        {
          js->p++;
          break;
        }
      if (c < 0x20)
        return json_fail (js, "control character in a string");
      if (c == '\\')
        {
          js->p++;
          if (js->p >= js->end)
            return json_fail (js, "unterminated string");
          n = 1;
          switch (*js->p++)
            {
            case '"': utf8[0] = '"'; break;
            case '\\': utf8[0] = '\\'; break;
            case '/': utf8[0] = '/'; break;
            case 'b': utf8[0] = '\b'; break;
            case 'f': utf8[0] = '\f'; break;
            case 'n': utf8[0] = '\n'; break;
            case 'r': utf8[0] = '\r'; break;
            case 't': utf8[0] = '\t'; break;
            case 'u':
              {
                unsigned int cp, low;

                if (!json_hex4 (js, &cp))
                  return false;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                  return json_fail (js, "unpaired surrogate in a string");
                if (cp >= 0xd800 && cp <= 0xdbff)
                  {
                    if (js->end - js->p < 2 || js->p[0] != '\\' || js->p[1] != 'u')
                      return json_fail (js, "unpaired surrogate in a string");
                    js->p += 2;
                    if (!json_hex4 (js, &low))
                      return false;
                    if (low < 0xdc00 || low > 0xdfff)
                      return json_fail (js, "unpaired surrogate in a string");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                  }
                if (cp == 0 && out != NULL)
                  return json_fail (js, "NUL in a string");
                n = utf8_encode (cp, utf8);
              }
              break;
            default:
              return json_fail (js, "invalid escape in a string");
            }
        }
      else
        {
          n = utf8_sequence_length ((const unsigned char *) js->p, (size_t) (js->end - js->p));
          if (n == 0)
            return json_fail (js, "invalid UTF-8 in a string");
          memcpy (utf8, js->p, n);
          js->p += n;
        }

      if (out == NULL)
        continue;
      if (len + n >= out_size)
        {
          if (truncated == NULL)
            return json_fail (js, "string too long");
          *truncated = true;
          continue;
        }
      memcpy (out + len, utf8, n);
      len += n;
    }
  if (out != NULL)
    out[len] = '\0';
  return true;
}

static bool
json_digits (struct json *js)
{
  const char *begin = js->p;

  while (js->p < js->end && *js->p >= '0' && *js->p <= '9')
    js->p++;
  return js->p > begin || json_fail (js, "invalid number");
}

static bool
json_number (struct json *js)
{
  if (js->p < js->end && *js->p == '-')
    js->p++;
  if (js->p < js->end && *js->p == '0')
    js->p++;
  else if (!json_digits (js))
    return false;
  if (js->p < js->end && *js->p == '.')
    {
      js->p++;
      if (!json_digits (js))
        return false;
    }
  if (js->p < js->end && (*js->p == 'e' || *js->p == 'E'))
    {
      js->p++;
      if (js->p < js->end && (*js->p == '+' || *js->p == '-'))
        js->p++;
      if (!json_digits (js))
        return false;
    }
  return true;
}

static bool
json_literal (struct json *js, const char *word)
{
  size_t n = strlen (word);

  if ((size_t) (js->end - js->p) < n || memcmp (js->p, word, n) != 0)
    return json_fail (js, "invalid value");
  js->p += n;
  return true;
}

static bool json_skip_value (struct json *js);

/* the members of an object or the elements of an array, after its opening bracket */
static bool
json_skip_container (struct json *js, char close, bool object)
{
  bool ok = true;

  if (++js->depth > JSON_MAX_DEPTH)
    return json_fail (js, "nested too deeply");
  if (json_take (js, close))
    {
      js->depth--;
      return true;
    }
  do
    {
      if (object && (!json_string (js, NULL, 0, NULL) ||
                     (!json_take (js, ':') && !json_fail (js, "expected ':'"))))
        return false;
      if (!json_skip_value (js))
        return false;
    }
  while (json_take (js, ','));
  if (!json_take (js, close))
    ok = json_fail (js, object ? "expected ',' or '}'" : "expected ',' or ']'");
  js->depth--;
  return ok;
}

static bool
json_skip_value (struct json *js)
{
  json_skip_space (js);
  if (js->p >= js->end)
    return json_fail (js, "expected a value");
  switch (*js->p)
    {
    case '{':
      js->p++;
      return json_skip_container (js, '}', true);
    case '[':
      js->p++;
      return json_skip_container (js, ']', false);
    case '"':
      return json_string (js, NULL, 0, NULL);
    case 't':
      return json_literal (js, "true");
    case 'f':
      return json_literal (js, "false");
    case 'n':
      return json_literal (js, "null");
    default:
      if (*js->p == '-' || (*js->p >= '0' && *js->p <= '9'))
        return json_number (js);
      return json_fail (js, "invalid value");
    }
}

/* whether the next value is null, which is then taken */
static bool
json_take_null (struct json *js)
{
  json_skip_space (js);
  if (js->end - js->p >= 4 && memcmp (js->p, "null", 4) == 0)
    {
      js->p += 4;
      return true;
    }
  return false;
}

/* volumes */

/* Docker's rule for local volume names, which keeps a name one plain path component: no '/',
 * and never "." or ".." (the first character is a letter or digit) */
#define VOLUME_NAME_MAX 255
#define MOUNT_ID_MAX    255
#define MAX_MOUNT_REFS  4096
#define MAX_TREE_DEPTH  128

/* room for "/volumes/<name>" after it within PATH_MAX */
static char data_dir[PATH_MAX - VOLUME_NAME_MAX - 16] = DEFAULT_DATA_DIR;

struct volume_request {
  char name[1024];
  char id[1024];
  char option[256];        /* the first key of Opts */
  bool has_option;
};

/* one caller's mounts of a volume: Mount adds one, Unmount takes one away */
struct mount_ref {
  char *name;
  char *id;
  unsigned int count;
};

static struct mount_ref *mount_refs;
static size_t n_mount_refs;

static bool
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
static void
volume_path (const char *name, char *out, size_t out_size)
{
  int len = snprintf (out, out_size, "%s/volumes/%s", data_dir, name);

  /* cannot happen: data_dir leaves room for the longest valid name */
  if (len < 0 || (size_t) len >= out_size)
    abort ();
}

/* <data>/volumes, created when @create; -1 with errno set on failure */
static int
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
static bool
volume_exists_at (int volumes_fd, const char *name)
{
  struct stat st;

  return fstatat (volumes_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR (st.st_mode);
}

static bool
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

static struct mount_ref *
mount_ref_find (const char *name, const char *id)
{
  for (size_t i = 0; i < n_mount_refs; i++)
    if (strcmp (mount_refs[i].name, name) == 0 && strcmp (mount_refs[i].id, id) == 0)
      return &mount_refs[i];
  return NULL;
}

/* how many mounts of the volume are active, over all callers */
static unsigned long
volume_mount_count (const char *name)
{
  unsigned long count = 0;

  for (size_t i = 0; i < n_mount_refs; i++)
    if (strcmp (mount_refs[i].name, name) == 0)
      count += mount_refs[i].count;
  return count;
}

static bool
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

static void
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
static int
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

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

/* a string value into @out (when not NULL), or null, which leaves @out as it is */
static bool
json_string_or_null (struct json *js, char *out, size_t out_size, const char *type_error)
{
  if (json_take_null (js))
    return true;
  json_skip_space (js);
  if (js->p < js->end && *js->p != '"')
    return json_fail (js, type_error);
  return json_string (js, out, out_size, NULL);
}

/* Opts, a map[string]string or null: only its first key is kept, for the error message */
static bool
parse_opts (struct json *js, struct volume_request *vr)
{
  if (json_take_null (js))
    return true;
  if (!json_take (js, '{'))
    return json_fail (js, "Opts must be an object");
  vr->has_option = false;
  if (json_take (js, '}'))
    return true;
  do
    {
      char option[sizeof vr->option];
      bool truncated;

      if (!json_string (js, option, sizeof option, &truncated))
        return false;
      if (!json_take (js, ':'))
        return json_fail (js, "expected ':'");
      if (!json_string_or_null (js, NULL, 0, "option values must be strings"))
        return false;
      if (!vr->has_option)
        memcpy (vr->option, option, sizeof option);
      vr->has_option = true;
    }
  while (json_take (js, ','));
  return json_take (js, '}') || json_fail (js, "expected ',' or '}'");
}

/* the members of the request object, after its '{' */
static bool
parse_members (struct json *js, struct volume_request *vr)
{
  if (json_take (js, '}'))
    return true;
  do
    {
      char key[32];
      bool truncated;
      bool ok;

      if (!json_string (js, key, sizeof key, &truncated))
        return false;
      if (!json_take (js, ':'))
        return json_fail (js, "expected ':'");
      if (truncated)
        ok = json_skip_value (js);
      else if (strcasecmp (key, "Name") == 0)
        ok = json_string_or_null (js, vr->name, sizeof vr->name, "Name must be a string");
      else if (strcasecmp (key, "ID") == 0)
        ok = json_string_or_null (js, vr->id, sizeof vr->id, "ID must be a string");
      else if (strcasecmp (key, "Opts") == 0)
        ok = parse_opts (js, vr);
      else
        ok = json_skip_value (js);
      if (!ok)
        return false;
    }
  while (json_take (js, ','));
  return json_take (js, '}') || json_fail (js, "expected ',' or '}'");
}

/* the body as a volume request. false when it is no JSON object or a field has the wrong type:
 * @resp then holds a 400. An empty body is an empty object (Docker sends none without
 * arguments). Keys match case-insensitively, and a repeated key takes the last value, as with
 * Go's encoding/json on Docker's side; other members are checked and ignored */
static bool
parse_volume_request (const struct request *req, struct response *resp, struct volume_request *vr)
{
  struct json js = { req->body, req->body, req->body + req->body_len, 0, NULL };

  *vr = (struct volume_request) { 0 };
  json_skip_space (&js);
  if (js.p == js.end)
    return true;
  if (!json_take (&js, '{'))
    json_fail (&js, "expected an object");
  else if (parse_members (&js, vr))
    {
      json_skip_space (&js);
      if (js.p != js.end)
        json_fail (&js, "unexpected data after the object");
    }
  if (js.error != NULL)
    {
      char message[256];

      snprintf (message, sizeof message, "invalid request body: %s at byte %zu",
                js.error, (size_t) (js.p - js.start));
      log_debug ("%s: %s", req->path, message);
      respond_error (resp, 400, message);
      return false;
    }
  return true;
}

/* parses the request and checks the volume name; false when @resp holds the answer */
static bool
volume_request_begin (const struct request *req, struct response *resp, struct volume_request *vr)
{
  char quoted[QUOTE_SIZE];

  if (!parse_volume_request (req, resp, vr))
    return false;
  if (!volume_name_valid (vr->name))
    {
      respond_failure (resp, req->path,
                       "invalid volume name %s: a name is 2 to %d characters from "
                       "[a-zA-Z0-9_.-] and starts with a letter or digit",
                       quote (vr->name, quoted), VOLUME_NAME_MAX);
      return false;
    }
  return true;
}

static void
respond_no_such_volume (struct response *resp, const struct request *req, const char *name)
{
  char quoted[QUOTE_SIZE];

  respond_failure (resp, req->path, "no such volume %s", quote (name, quoted));
}

/* handlers: one per endpoint */

static void
handle_plugin_activate (const struct request *req, struct response *resp)
{
  (void) req;
  respond_json (resp, 200, "{\"Implements\":[\"VolumeDriver\"]}");
}

static void
handle_volume_create (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  char quoted[QUOTE_SIZE];
  int fd;

  if (!volume_request_begin (req, resp, &vr))
    return;
  if (vr.has_option)
    {
      respond_failure (resp, req->path, "invalid option %s: this driver takes no options",
                       quote (vr.option, quoted));
      return;
    }
  fd = open_volumes_dir (true);
  if (fd < 0)
    {
      respond_failure (resp, req->path, "%s/volumes: %s", data_dir, strerror (errno));
      return;
    }
  if (mkdirat (fd, vr.name, 0755) == 0)
    {
      /* 0755 whatever the umask */
      int volume_fd = openat (fd, vr.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      if (volume_fd < 0 || fchmod (volume_fd, 0755) < 0)
        {
          int saved = errno;

          respond_failure (resp, req->path, "creating volume %s: %s", quote (vr.name, quoted),
                           strerror (saved));
        }
      else
        {
          log_debug ("%s: created %s", req->path, quote (vr.name, quoted));
          respond_json (resp, 200, "{\"Err\":\"\"}");
        }
      if (volume_fd >= 0)
        close (volume_fd);
    }
  else if (errno == EEXIST && volume_exists_at (fd, vr.name))
    {
      /* creating a volume that exists is fine: Docker may ask again after a restart */
      log_debug ("%s: %s exists", req->path, quote (vr.name, quoted));
      respond_json (resp, 200, "{\"Err\":\"\"}");
    }
  else
    {
      int saved = errno;

      respond_failure (resp, req->path, "creating volume %s: %s", quote (vr.name, quoted),
                       saved == EEXIST ? "a file of that name is in the way" : strerror (saved));
    }
  close (fd);
}

static void
handle_volume_remove (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  char quoted[QUOTE_SIZE];
  unsigned long mounts;
  int fd;

  if (!volume_request_begin (req, resp, &vr))
    return;
  mounts = volume_mount_count (vr.name);
  if (mounts > 0)
    {
      respond_failure (resp, req->path, "volume %s is in use: it is mounted %lu time%s",
                       quote (vr.name, quoted), mounts, mounts == 1 ? "" : "s");
      return;
    }
  fd = open_volumes_dir (false);
  if (fd < 0 || !volume_exists_at (fd, vr.name))
    {
      if (fd >= 0)
        close (fd);
      respond_no_such_volume (resp, req, vr.name);
      return;
    }
  if (remove_tree_at (fd, vr.name, 0) < 0)
    {
      int saved = errno;

      respond_failure (resp, req->path, "removing volume %s: %s", quote (vr.name, quoted),
                       strerror (saved));
    }
  else
    {
      log_debug ("%s: removed %s", req->path, quote (vr.name, quoted));
      respond_json (resp, 200, "{\"Err\":\"\"}");
    }
  close (fd);
}

/* {"Mountpoint": path, "Err": ""}: Mount and Path */
static void
respond_mountpoint (struct response *resp, const char *name)
{
  struct strbuf sb = { 0 };
  char path[PATH_MAX];

  volume_path (name, path, sizeof path);
  strbuf_append (&sb, "{\"Mountpoint\":");
  strbuf_append_json_string (&sb, path);
  strbuf_append (&sb, ",\"Err\":\"\"}");
  respond_buffer (resp, &sb);
}

static void
handle_volume_mount (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  char quoted[QUOTE_SIZE];
  char quoted_id[QUOTE_SIZE];

  if (!volume_request_begin (req, resp, &vr))
    return;
  if (strlen (vr.id) > MOUNT_ID_MAX)
    {
      respond_failure (resp, req->path, "invalid mount ID %s: longer than %d bytes",
                       quote (vr.id, quoted_id), MOUNT_ID_MAX);
      return;
    }
  if (!volume_exists (vr.name))
    {
      respond_no_such_volume (resp, req, vr.name);
      return;
    }
  if (!mount_ref_add (vr.name, vr.id))
    {
      respond_failure (resp, req->path, "mounting volume %s: too many mounts",
                       quote (vr.name, quoted));
      return;
    }
  log_debug ("%s: %s mounted by %s (%lu mounts)", req->path, quote (vr.name, quoted),
             quote (vr.id, quoted_id), volume_mount_count (vr.name));
  respond_mountpoint (resp, vr.name);
}

static void
handle_volume_unmount (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  struct mount_ref *ref;
  char quoted[QUOTE_SIZE];
  char quoted_id[QUOTE_SIZE];

  if (!volume_request_begin (req, resp, &vr))
    return;
  ref = mount_ref_find (vr.name, vr.id);
  if (ref == NULL)
    {
      respond_failure (resp, req->path, "volume %s is not mounted by %s",
                       quote (vr.name, quoted), quote (vr.id, quoted_id));
      return;
    }
  mount_ref_release (ref);
  log_debug ("%s: %s unmounted by %s (%lu mounts left)", req->path, quote (vr.name, quoted),
             quote (vr.id, quoted_id), volume_mount_count (vr.name));
  respond_json (resp, 200, "{\"Err\":\"\"}");
}

static void
handle_volume_path (const struct request *req, struct response *resp)
{
  struct volume_request vr;

  if (!volume_request_begin (req, resp, &vr))
    return;
  if (!volume_exists (vr.name))
    respond_no_such_volume (resp, req, vr.name);
  else
    respond_mountpoint (resp, vr.name);
}

static void
handle_volume_get (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  struct strbuf sb = { 0 };
  char path[PATH_MAX];
  char count[32];

  if (!volume_request_begin (req, resp, &vr))
    return;
  if (!volume_exists (vr.name))
    {
      respond_no_such_volume (resp, req, vr.name);
      return;
    }
  volume_path (vr.name, path, sizeof path);
  snprintf (count, sizeof count, "%lu", volume_mount_count (vr.name));
  strbuf_append (&sb, "{\"Volume\":{\"Name\":");
  strbuf_append_json_string (&sb, vr.name);
  strbuf_append (&sb, ",\"Mountpoint\":");
  strbuf_append_json_string (&sb, path);
  strbuf_append (&sb, ",\"Status\":{\"Mounts\":");
  strbuf_append (&sb, count);
  strbuf_append (&sb, "}},\"Err\":\"\"}");
  respond_buffer (resp, &sb);
}

/* the directory is the only state: every valid name of a real directory under it is a volume */
static void
handle_volume_list (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  struct strbuf sb = { 0 };
  char **names = NULL;
  size_t n_names = 0;
  size_t allocated = 0;
  struct dirent *entry;
  DIR *dir = NULL;
  int fd;

  if (!parse_volume_request (req, resp, &vr))
    return;
  fd = open_volumes_dir (false);
  if (fd < 0 && errno != ENOENT)
    {
      respond_failure (resp, req->path, "%s/volumes: %s", data_dir, strerror (errno));
      return;
    }
  if (fd >= 0)
    {
      dir = fdopendir (fd);
      if (dir == NULL)
        {
          respond_failure (resp, req->path, "%s/volumes: %s", data_dir, strerror (errno));
          close (fd);
          return;
        }
    }
  while (dir != NULL && (entry = readdir (dir)) != NULL)
    {
      if (!volume_name_valid (entry->d_name) || !volume_exists_at (fd, entry->d_name))
        continue;
      if (n_names == allocated)
        {
          size_t wanted = allocated == 0 ? 16 : allocated * 2;
          char **grown = realloc (names, wanted * sizeof *names);

          if (grown == NULL)
            {
              sb.failed = true;
              break;
            }
          names = grown;
          allocated = wanted;
        }
      names[n_names] = strdup (entry->d_name);
      if (names[n_names] == NULL)
        {
          sb.failed = true;
          break;
        }
      n_names++;
    }
  if (dir != NULL)
    closedir (dir);

  if (n_names > 0)
    qsort (names, n_names, sizeof *names, compare_names);
  strbuf_append (&sb, "{\"Volumes\":[");
  for (size_t i = 0; i < n_names; i++)
    {
      char path[PATH_MAX];

      volume_path (names[i], path, sizeof path);
      strbuf_append (&sb, i == 0 ? "{\"Name\":" : ",{\"Name\":");
      strbuf_append_json_string (&sb, names[i]);
      strbuf_append (&sb, ",\"Mountpoint\":");
      strbuf_append_json_string (&sb, path);
      strbuf_append (&sb, "}");
      free (names[i]);
    }
  free (names);
  strbuf_append (&sb, "],\"Err\":\"\"}");
  log_debug ("%s: %zu volumes", req->path, n_names);
  respond_buffer (resp, &sb);
}

static void
handle_volume_capabilities (const struct request *req, struct response *resp)
{
  struct volume_request vr;

  if (!parse_volume_request (req, resp, &vr))
    return;
  respond_json (resp, 200, "{\"Capabilities\":{\"Scope\":\"local\"}}");
}

static const struct {
  const char *path;
  handler_func handler;
} dispatch_table[] = {
  { "/Plugin.Activate", handle_plugin_activate },
  { "/VolumeDriver.Create", handle_volume_create },
  { "/VolumeDriver.Remove", handle_volume_remove },
  { "/VolumeDriver.Mount", handle_volume_mount },
  { "/VolumeDriver.Path", handle_volume_path },
  { "/VolumeDriver.Unmount", handle_volume_unmount },
  { "/VolumeDriver.Get", handle_volume_get },
  { "/VolumeDriver.List", handle_volume_list },
  { "/VolumeDriver.Capabilities", handle_volume_capabilities },
};

static void
dispatch (const struct request *req, struct response *resp)
{
  for (size_t i = 0; i < sizeof (dispatch_table) / sizeof (dispatch_table[0]); i++)
    {
      if (strcmp (req->path, dispatch_table[i].path) == 0)
        {
          dispatch_table[i].handler (req, resp);
          return;
        }
    }
  {
    char message[sizeof req->path + 32];

    snprintf (message, sizeof message, "unknown endpoint %s", req->path);
    respond_error (resp, 404, message);
  }
}

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

static void
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

static void
on_signal (int signum)
{
  (void) signum;
  quit_requested = 1;
}

int
main (int argc, char **argv)
{
  const char *dir = getenv ("PLUGIND_EXAMPLE_SOCKET_DIR");
  const char *name = getenv ("PLUGIND_EXAMPLE_SOCKET");
  const char *debug_env = getenv ("DEBUG");
  const char *data_env = getenv ("PLUGIND_EXAMPLE_DATA_DIR");
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct sockaddr_un tmp_addr = { .sun_family = AF_UNIX };
  struct sigaction sa = { 0 };
  sigset_t blocked, unblocked;
  int listen_fd;
  int len;

  if (argc > 2)
    {
      fprintf (stderr, "usage: %s [SOCKET-NAME]\n", argv[0]);
      return 2;
    }
  if (argc == 2 && argv[1][0] != '\0')
    name = argv[1];
  if (name == NULL || name[0] == '\0')
    name = DEFAULT_SOCKET_NAME;
  if (dir == NULL || dir[0] == '\0')
    dir = DEFAULT_SOCKET_DIR;
  debug = debug_env != NULL && debug_env[0] != '\0' && strcmp (debug_env, "0") != 0 &&
          strcasecmp (debug_env, "false") != 0;

  if (strchr (name, '/') != NULL || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    {
      log_error ("invalid socket name \"%s\"", name);
      return 2;
    }
  if (data_env != NULL && data_env[0] != '\0')
    {
      size_t data_len = strlen (data_env);

      /* without trailing slashes: Mountpoints are clean paths */
      while (data_len > 1 && data_env[data_len - 1] == '/')
        data_len--;
      if (data_env[0] != '/' || data_len >= sizeof data_dir)
        {
          log_error ("invalid data directory \"%s\": it must be an absolute path, and short",
                     data_env);
          return 2;
        }
      memcpy (data_dir, data_env, data_len);
      data_dir[data_len] = '\0';
    }
  len = snprintf (addr.sun_path, sizeof addr.sun_path, "%s/%s", dir, name);
  if (len < 0 || (size_t) len >= sizeof addr.sun_path)
    {
      log_error ("socket path %s/%s is too long", dir, name);
      return 1;
    }

  /* termination is only delivered inside ppoll, where it cannot be missed */
  sigemptyset (&blocked);
  sigaddset (&blocked, SIGTERM);
  sigaddset (&blocked, SIGINT);
  sigprocmask (SIG_BLOCK, &blocked, &unblocked);
  sigdelset (&unblocked, SIGTERM);
  sigdelset (&unblocked, SIGINT);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (mkdir (dir, 0755) < 0 && errno != EEXIST)
    {
      log_error ("creating %s: %s", dir, strerror (errno));
      return 1;
    }
  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0)
    {
      log_error ("socket: %s", strerror (errno));
      return 1;
    }
  /* bind under a temporary name and rename once listening: the socket appears only when it
   * accepts connections, so a client that waits for the file never gets ECONNREFUSED */
  len = snprintf (tmp_addr.sun_path, sizeof tmp_addr.sun_path, "%s/.%s.tmp", dir, name);
  if (len < 0 || (size_t) len >= sizeof tmp_addr.sun_path)
    {
      log_error ("socket path %s/%s is too long", dir, name);
      return 1;
    }
  if (unlink (tmp_addr.sun_path) < 0 && errno != ENOENT)
    {
      log_error ("removing %s: %s", tmp_addr.sun_path, strerror (errno));
      return 1;
    }
  if (bind (listen_fd, (struct sockaddr *) &tmp_addr, sizeof tmp_addr) < 0 ||
      listen (listen_fd, 16) < 0 ||
      rename (tmp_addr.sun_path, addr.sun_path) < 0)
    {
      log_error ("listening on %s: %s", addr.sun_path, strerror (errno));
      unlink (tmp_addr.sun_path);
      return 1;
    }
  log_debug ("listening on %s, volumes in %s/volumes", addr.sun_path, data_dir);

  serve (listen_fd, &unblocked);

  unlink (addr.sun_path);
  close (listen_fd);
  log_debug ("terminated");
  return 0;
}
