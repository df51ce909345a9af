/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Consumer sockets (pd-consumer.c, pd-consumer-http.c, pd-volume-answer.c): the HTTP they read
 * and its bounds, the Mountpoints of volume answers mapped to the host and every one refused,
 * and a consumer socket in front of a fake plugin (a thread on a unix socket) attacked as a
 * hostile plugin would (huge, deep, slow and missing answers, symlinks, paths outside its
 * propagated mount) and as an unprivileged local user would.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-consumer"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "pd-consumer-http.h"
#include "pd-consumer.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-json.h"
#include "pd-sandbox-start.h"
#include "pd-test-utils.h"
#include "pd-volume-answer.h"

/* section: HTTP */

/* @data written into one end of a socket pair (then that end shut for writing unless
 * @keep_open), read as a message from the other */
static PdHttpMessage *
read_from (const char *data, gsize len, gboolean is_request, gsize max_body,
           gboolean keep_open, gint64 timeout_us, GError **error)
{
  int sv[2];
  PdHttpMessage *message;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv),
                   ==, 0);
  /* small messages: they fit in the socket's buffer */
  g_assert_cmpint (write (sv[1], data, len), ==, (gssize) len);
  if (!keep_open)
    shutdown (sv[1], SHUT_WR);
  message = pd_http_read_message (sv[0], -1, is_request, max_body,
                                  g_get_monotonic_time () + timeout_us, error);
  close (sv[0]);
  close (sv[1]);
  return message;
}

static PdHttpMessage *
read_request (const char *text, GError **error)
{
  return read_from (text, strlen (text), TRUE, 1024, FALSE, G_USEC_PER_SEC, error);
}

static void
test_http_requests (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdHttpMessage) plain = NULL;
  g_autoptr(PdHttpMessage) chunked = NULL;
  g_autoptr(PdHttpMessage) bare_lf = NULL;

  plain = read_request ("POST /VolumeDriver.Mount HTTP/1.1\r\nHost: x\r\n"
                        "Content-Type: application/json\r\nAccept: a/b\r\n"
                        "Content-Length: 13\r\n\r\n{\"Name\":\"v\"}\n", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plain->method, ==, "POST");
  g_assert_cmpstr (plain->target, ==, "/VolumeDriver.Mount");
  g_assert_cmpstr (plain->content_type, ==, "application/json");
  g_assert_cmpstr (plain->accept, ==, "a/b");
  g_assert_cmpmem (plain->body->data, plain->body->len, "{\"Name\":\"v\"}\n", 13);

  chunked = read_request ("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "4;ext=1\r\nabcd\r\n2\r\nef\r\n0\r\nTrailer: t\r\n\r\n", &error);
  g_assert_no_error (error);
  g_assert_cmpmem (chunked->body->data, chunked->body->len, "abcdef", 6);

  bare_lf = read_request ("POST /y HTTP/1.0\nContent-Length: 2\n\nhi", &error);
  g_assert_no_error (error);
  g_assert_cmpmem (bare_lf->body->data, bare_lf->body->len, "hi", 2);
  g_assert_null (bare_lf->content_type);
}

static void
test_http_refused (void)
{
  static const struct {
    const char *text;
    GQuark (*domain) (void);
    gint code;
  } cases[] = {
    /* what could be read two ways */
    { "POST /x HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
      pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /x HTTP/1.1\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
      pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", pd_error_quark,
      PD_ERROR_INVALID_ARGS },
    /* start lines */
    { "POST http://a/x HTTP/1.1\r\n\r\n", pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /x HTTP/2\r\n\r\n", pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /a\x01 HTTP/1.1\r\n\r\n", pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "PO(ST /x HTTP/1.1\r\n\r\n", pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /x HTTP/1.1\r\nBad Name: 1\r\n\r\n", pd_error_quark, PD_ERROR_INVALID_ARGS },
    { "POST /x HTTP/1.1\r\nX: \x01\r\n\r\n", pd_error_quark, PD_ERROR_INVALID_ARGS },
    /* bounds */
    { "POST /x HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", pd_error_quark,
      PD_ERROR_LIMITS_EXCEEDED },
    { "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n", pd_error_quark,
      PD_ERROR_LIMITS_EXCEEDED },
    { "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffffff\r\n",
      pd_error_quark, PD_ERROR_LIMITS_EXCEEDED },
    { "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", pd_error_quark,
      PD_ERROR_INVALID_ARGS },
    /* the peer went away in the middle */
    { "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", g_io_error_quark,
      G_IO_ERROR_CONNECTION_CLOSED },
    { "POST /x HTTP/1.1\r\n", g_io_error_quark, G_IO_ERROR_CONNECTION_CLOSED },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdHttpMessage) message = read_request (cases[i].text, &error);

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_null (message);
      g_assert_error (error, cases[i].domain (), cases[i].code);
    }
}

static void
test_http_head_bound (void)
{
  g_autoptr(GString) text = g_string_new ("POST /x HTTP/1.1\r\n");
  g_autoptr(GString) target = g_string_new ("POST /");
  g_autoptr(GError) error = NULL;
  g_autoptr(PdHttpMessage) message = NULL;
  g_autoptr(PdHttpMessage) long_target = NULL;
  int sv[2];

  /* a head that never ends: the read stops at the bound, whatever comes */
  while (text->len <= PD_HTTP_HEAD_MAX)
    g_string_append (text, "X-Filler: 0123456789012345678901234567890123456789\r\n");
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv),
                   ==, 0);
  g_assert_cmpint (write (sv[1], text->str, text->len), ==, (gssize) text->len);
  message = pd_http_read_message (sv[0], -1, TRUE, 1024,
                                  g_get_monotonic_time () + G_USEC_PER_SEC, &error);
  close (sv[0]);
  close (sv[1]);
  g_assert_null (message);
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_clear_error (&error);

  for (guint i = 0; i <= PD_HTTP_TARGET_MAX; i++)
    g_string_append_c (target, 'a');
  g_string_append (target, " HTTP/1.1\r\n\r\n");
  long_target = read_request (target->str, &error);
  g_assert_null (long_target);
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
}

static void
test_http_answers (void)
{
  g_autoptr(GError) error = NULL;
  const char *to_end = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Err\":\"\"}";
  const char *no_body = "HTTP/1.1 204 No Content\r\n\r\n";
  const char *interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
  g_autoptr(PdHttpMessage) a = read_from (to_end, strlen (to_end), FALSE, 1024, FALSE,
                                          G_USEC_PER_SEC, &error);
  g_autoptr(PdHttpMessage) b = NULL;
  g_autoptr(PdHttpMessage) c = NULL;
  g_autoptr(PdHttpMessage) d = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (a->status, ==, 200);
  g_assert_cmpmem (a->body->data, a->body->len, "{\"Err\":\"\"}", 10);
  g_assert_cmpstr (a->content_type, ==, "application/json");

  b = read_from (no_body, strlen (no_body), FALSE, 1024, TRUE, G_USEC_PER_SEC, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (b->status, ==, 204);
  g_assert_cmpuint (b->body->len, ==, 0);

  c = read_from (interim, strlen (interim), FALSE, 1024, FALSE, G_USEC_PER_SEC, &error);
  g_assert_null (c);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_clear_error (&error);

  /* an answer running to the end of the connection, past the bound */
  d = read_from (to_end, strlen (to_end), FALSE, 4, FALSE, G_USEC_PER_SEC, &error);
  g_assert_null (d);
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
}

static void
test_http_deadline_and_cancel (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdHttpMessage) message = NULL;
  const char *partial = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
  int sv[2];
  int cancel[2];

  /* a peer that stops sending: the read ends at the deadline */
  message = read_from (partial, strlen (partial), TRUE, 1024, TRUE, 100 * 1000, &error);
  g_assert_null (message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_clear_error (&error);

  /* and at once when its consumer closes */
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv),
                   ==, 0);
  g_assert_cmpint (pipe2 (cancel, O_CLOEXEC), ==, 0);
  g_assert_cmpint (write (cancel[1], "x", 1), ==, 1);
  message = pd_http_read_message (sv[0], cancel[0], TRUE, 1024,
                                  g_get_monotonic_time () + 60 * G_USEC_PER_SEC, &error);
  g_assert_null (message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  for (guint i = 0; i < 2; i++)
    {
      close (sv[i]);
      close (cancel[i]);
    }
}

/* section: Mountpoints */

typedef struct {
  char *dir;
  char *host;      /* the propagated-mount dir on the host */
  int host_fd;
} MapFixture;

static void
map_setup (MapFixture *f, gconstpointer data)
{
  f->dir = pd_test_make_tmp_dir ("pd-test-consumer-XXXXXX");
  f->host = g_build_filename (f->dir, "propagated-mount", NULL);
  pd_test_make_dir (f->host);
  f->host_fd = open (f->host, O_PATH | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (f->host_fd, >=, 0);
}

static void
map_teardown (MapFixture *f, gconstpointer data)
{
  close (f->host_fd);
  pd_test_rm_rf (f->dir);
  g_free (f->host);
  g_free (f->dir);
}

static char *
host_path (MapFixture *f, const char *rest)
{
  return g_build_filename (f->host, rest, NULL);
}

static void
test_map_mountpoint (MapFixture *f, gconstpointer data)
{
  g_autofree char *vol = host_path (f, "volumes/v1");
  g_autofree char *etc_link = host_path (f, "volumes/evil");
  g_autofree char *mid_link = host_path (f, "link");
  g_autofree char *file = host_path (f, "volumes/file");
  static const struct {
    const char *mountpoint;
    gboolean must_exist;
    const char *host;      /* below the host dir; NULL: refused */
    const char *needle;
  } cases[] = {
    { "/pm/volumes/v1", TRUE, "volumes/v1", NULL },
    { "/pm//volumes/v1/", TRUE, "volumes/v1", NULL },
    { "/pm", TRUE, "", NULL },
    /* not there yet: a Path or List answer for a volume that is not mounted */
    { "/pm/volumes/v2", FALSE, "volumes/v2", NULL },
    { "/pm/volumes/v2/deeper", FALSE, "volumes/v2/deeper", NULL },
    { "/pm/volumes/v2", TRUE, NULL, "does not exist" },
    /* outside, or pretending not to be */
    { "/etc", FALSE, NULL, "outside" },
    { "/pmx/volumes/v1", FALSE, NULL, "outside" },
    { "/", FALSE, NULL, "outside" },
    { "pm/volumes/v1", FALSE, NULL, "not an absolute path" },
    { "", FALSE, NULL, "not an absolute path" },
    { "/pm/../etc", FALSE, NULL, "\".\" or \"..\"" },
    { "/pm/volumes/..", FALSE, NULL, "\".\" or \"..\"" },
    { "/pm/./volumes/v1", FALSE, NULL, "\".\" or \"..\"" },
    /* symlinks the engine would follow on the host */
    { "/pm/volumes/evil", FALSE, NULL, "symlink" },
    { "/pm/link/v1", FALSE, NULL, "symlink" },
    { "/pm/volumes/file", TRUE, NULL, "not a directory" },
    { "/pm/volumes/file/x", FALSE, NULL, "not a directory" },
    { "/pm/volumes/v1\n", FALSE, "volumes/v1\n", NULL },
  };

  pd_test_make_dir (vol);
  g_assert_cmpint (symlink ("/etc", etc_link), ==, 0);
  g_assert_cmpint (symlink ("volumes", mid_link), ==, 0);
  pd_test_write_file (file, "x");

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *mapped = pd_volume_map_mountpoint (cases[i].mountpoint, "/pm", f->host,
                                                          f->host_fd, cases[i].must_exist,
                                                          &error);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].mountpoint);
      if (cases[i].host != NULL)
        {
          g_autofree char *expected = *cases[i].host != '\0' ? host_path (f, cases[i].host)
                                                             : g_strdup (f->host);

          g_assert_no_error (error);
          g_assert_cmpstr (mapped, ==, expected);
        }
      else
        {
          g_assert_null (mapped);
          g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
          g_assert_nonnull (strstr (pd_test_message_of (error), cases[i].needle));
        }
    }
}

static void
test_map_bounds (MapFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) longer = g_string_new ("/pm");
  g_autofree char *none = NULL;
  char *mapped;

  /* a plugin without a PropagatedMount has no Mountpoint a host can use */
  none = pd_volume_map_mountpoint ("/data/v1", NULL, f->host, f->host_fd, FALSE, &error);
  g_assert_null (none);
  g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "no PropagatedMount"));
  g_clear_error (&error);

  while (longer->len <= PD_VOLUME_MOUNTPOINT_MAX)
    g_string_append (longer, "/aaaaaaaa");
  mapped = pd_volume_map_mountpoint (longer->str, "/pm", f->host, f->host_fd, FALSE, &error);
  g_assert_null (mapped);
  g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
  g_clear_error (&error);

  /* the plugin's words are escaped in the message */
  mapped = pd_volume_map_mountpoint ("/etc/\x1b[31m", "/pm", f->host, f->host_fd, FALSE,
                                     &error);
  g_assert_null (mapped);
  g_assert_null (strchr (error->message, '\x1b'));
}

/* the rewritten answer of @json to @target, as a JSON object (NULL with @error) */
static JsonObject *
rewrite (MapFixture *f, const char *target, const char *json, GError **error)
{
  g_autoptr(GBytes) out = pd_volume_rewrite_answer (target, json, strlen (json), "/pm", f->host,
                                                    f->host_fd, NULL, NULL, error);
  g_autoptr(JsonNode) root = NULL;

  if (out == NULL)
    return NULL;
  root = json_from_string (g_bytes_get_data (out, NULL), NULL);
  g_assert_nonnull (root);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_object_ref (json_node_get_object (root));
}

static void
test_rewrite_answers (MapFixture *f, gconstpointer data)
{
  g_autofree char *vol = host_path (f, "v1");
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) mount = NULL;
  g_autoptr(JsonObject) path = NULL;
  g_autoptr(JsonObject) get = NULL;
  g_autoptr(JsonObject) list = NULL;
  g_autoptr(JsonObject) failed = NULL;
  JsonObject *volume;
  JsonArray *volumes;

  pd_test_make_dir (vol);
  g_assert_true (pd_volume_answer_has_mountpoints ("/VolumeDriver.Mount"));
  g_assert_true (pd_volume_answer_has_mountpoints ("/VolumeDriver.List"));
  g_assert_false (pd_volume_answer_has_mountpoints ("/VolumeDriver.Create"));
  g_assert_false (pd_volume_answer_has_mountpoints ("/VolumeDriver.Mount/"));

  /* keys in any case, as Go reads them; what engines do not read is left out */
  mount = rewrite (f, "/VolumeDriver.Mount", "{\"mountpoint\": \"/pm/v1\", \"err\": \"\", "
                   "\"Extra\": [1, 2]}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (mount, "Mountpoint"), ==, vol);
  g_assert_cmpstr (json_object_get_string_member (mount, "Err"), ==, "");
  g_assert_cmpuint (json_object_get_size (mount), ==, 2);

  path = rewrite (f, "/VolumeDriver.Path", "{\"Mountpoint\": \"\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (path, "Mountpoint"), ==, "");

  get = rewrite (f, "/VolumeDriver.Get", "{\"Volume\": {\"Name\": \"v1\", \"Mountpoint\": "
                 "\"/pm/v1\", \"CreatedAt\": \"now\", \"Status\": {\"a\": {\"b\": [1]}}}}",
                 &error);
  g_assert_no_error (error);
  volume = json_object_get_object_member (get, "Volume");
  g_assert_cmpstr (json_object_get_string_member (volume, "Name"), ==, "v1");
  g_assert_cmpstr (json_object_get_string_member (volume, "Mountpoint"), ==, vol);
  g_assert_cmpstr (json_object_get_string_member (volume, "CreatedAt"), ==, "now");
  g_assert_true (json_object_has_member (json_object_get_object_member (volume, "Status"), "a"));

  /* U+017F folds to 's' in Go's decoder: a key only Go would match is left out */
  list = rewrite (f, "/VolumeDriver.List", "{\"Volumes\": [{\"Name\": \"v1\", \"Mountpoint\": "
                  "\"/pm/v1\"}, {\"Name\": \"v2\"}], \"Volume\xc5\xbf\": [{\"Name\": \"x\", "
                  "\"Mountpoint\": \"/etc\"}]}", &error);
  g_assert_no_error (error);
  volumes = json_object_get_array_member (list, "Volumes");
  g_assert_cmpuint (json_array_get_length (volumes), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (volumes, 0),
                                                  "Mountpoint"), ==, vol);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (volumes, 1),
                                                  "Mountpoint"), ==, "");
  g_assert_cmpuint (json_object_get_size (list), ==, 2);

  /* a failed operation: its Err alone, whatever path came with it */
  failed = rewrite (f, "/VolumeDriver.Mount", "{\"Err\": \"no such volume\", \"Mountpoint\": "
                    "\"/etc\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (failed, "Err"), ==, "no such volume");
  g_assert_cmpuint (json_object_get_size (failed), ==, 1);
}

static void
test_rewrite_refused (MapFixture *f, gconstpointer data)
{
  g_autofree char *deep = pd_test_nested (PD_JSON_MAX_DEPTH + 1, "{\"a\":", "1", "}");
  g_autofree char *deep_status = g_strdup_printf (
    "{\"Volume\": {\"Name\": \"v\", \"Status\": %s}}", deep);
  g_autoptr(GString) huge = g_string_new ("{\"Mountpoint\": \"/pm/v1\", \"Pad\": \"");
  static const struct {
    const char *target;
    const char *json;
    const char *needle;
  } cases[] = {
    { "/VolumeDriver.Mount", "{\"Mountpoint\": \"/etc\"}", "outside" },
    { "/VolumeDriver.Mount", "{}", "no Mountpoint" },
    { "/VolumeDriver.Mount", "{\"Mountpoint\": \"/pm/missing\"}", "does not exist" },
    { "/VolumeDriver.Path", "{\"Mountpoint\": \"/pm/../../etc\"}", ".." },
    { "/VolumeDriver.Path", "{\"Mountpoint\": 7}", "not a string" },
    /* two keys Go would read one way and another reader the other */
    { "/VolumeDriver.Path", "{\"Mountpoint\": \"/pm/v1\", \"MOUNTPOINT\": \"/etc\"}",
      "two keys" },
    { "/VolumeDriver.Get", "{\"Volume\": {\"Mountpoint\": \"/pm\", \"mountPoint\": \"/\"}}",
      "two keys" },
    { "/VolumeDriver.Get", "{\"Volume\": [\"/pm\"]}", "not an object" },
    { "/VolumeDriver.Get", "{\"Volume\": {\"Status\": 3}}", "not an object" },
    { "/VolumeDriver.List", "{\"Volumes\": {\"Name\": \"v\"}}", "not a list" },
    { "/VolumeDriver.List", "{\"Volumes\": [{\"Mountpoint\": \"/var\"}]}", "outside" },
    { "/VolumeDriver.List", "[]", "not a JSON object" },
    { "/VolumeDriver.List", "{\"Err\": 1}", "not a string" },
    { "/VolumeDriver.List", "{\"Volumes\": []", "JSON" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonObject) out = rewrite (f, cases[i].target, cases[i].json, &error);

      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, cases[i].json);
      g_assert_null (out);
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, cases[i].needle));
    }

  /* the bounds of every JSON document from outside */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) out = rewrite (f, "/VolumeDriver.Get", deep_status, &error);

    g_assert_null (out);
    g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  }
  while (huge->len <= PD_VOLUME_ANSWER_MAX)
    g_string_append (huge, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  g_string_append (huge, "\"}");
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) out = rewrite (f, "/VolumeDriver.Mount", huge->str, &error);

    g_assert_null (out);
    g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  }
}

/* section: a consumer socket in front of a fake plugin */

typedef enum {
  PLUGIN_ANSWER,     /* writes Fixture.answer */
  PLUGIN_SILENT,     /* reads the request and never answers */
  PLUGIN_TRICKLE,    /* a head promising 1000 bytes, then a byte every 100 ms */
} PluginMode;

typedef struct {
  char *dir;
  char *plugin_socket;
  char *consumer_dir;
  char *consumer_socket;
  char *host;             /* the propagated-mount dir on the host */
  char *pin_dir;          /* NULL: no pins */
  PdTestServer *plugin;
  PdConsumer *consumer;

  GMutex lock;
  PluginMode mode;
  char *answer;
  GString *requests;      /* what the plugin received */
} Fixture;

/* reads one request as the fake plugin: the head, then Content-Length bytes */
static void
plugin_read_request (Fixture *f, GSocket *connection, GCancellable *cancellable)
{
  g_autoptr(GString) request = g_string_new (NULL);
  char buf[4096];

  for (;;)
    {
      const char *end = strstr (request->str, "\r\n\r\n");
      gssize n;

      if (end != NULL)
        {
          const char *cl = strstr (request->str, "Content-Length: ");
          gsize length = cl != NULL ? strtoul (cl + 16, NULL, 10) : 0;

          if (request->len >= (gsize) (end + 4 - request->str) + length)
            break;
        }
      n = g_socket_receive (connection, buf, sizeof buf, cancellable, NULL);
      if (n <= 0)
        break;
      g_string_append_len (request, buf, n);
    }
  g_mutex_lock (&f->lock);
  g_string_append (f->requests, request->str);
  g_mutex_unlock (&f->lock);
}

static gboolean
send_all (GSocket *connection, const char *data, gsize len, GCancellable *cancellable)
{
  while (len > 0)
    {
      gssize n = g_socket_send (connection, data, len, cancellable, NULL);

      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static void
plugin_serve (GSocket *connection, GCancellable *cancellable, gpointer user_data)
{
  Fixture *f = user_data;
  g_autofree char *answer = NULL;
  PluginMode mode;
  char buf[256];

  plugin_read_request (f, connection, cancellable);
  g_mutex_lock (&f->lock);
  mode = f->mode;
  answer = g_strdup (f->answer);
  g_mutex_unlock (&f->lock);

  switch (mode)
    {
    case PLUGIN_ANSWER:
      send_all (connection, answer, strlen (answer), cancellable);
      break;
    case PLUGIN_SILENT:
      /* until the consumer gives up (end of file) or the test ends */
      while (g_socket_receive (connection, buf, sizeof buf, cancellable, NULL) > 0)
        ;
      break;
    case PLUGIN_TRICKLE:
      {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";

        if (!send_all (connection, head, strlen (head), cancellable))
          break;
        for (guint i = 0; i < 1000; i++)
          {
            g_usleep (100 * 1000);
            if (g_cancellable_is_cancelled (cancellable) ||
                g_socket_send (connection, " ", 1, cancellable, NULL) != 1)
              break;
          }
      }
      break;
    }
}

static void
set_plugin (Fixture *f, PluginMode mode, const char *answer)
{
  g_mutex_lock (&f->lock);
  f->mode = mode;
  g_free (f->answer);
  f->answer = g_strdup (answer);
  g_mutex_unlock (&f->lock);
}

/* the answer @body (JSON) with a Content-Length */
static char *
json_answer (const char *body)
{
  return g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n%s", strlen (body), body);
}

static void
set_running (Fixture *f, guint answer_timeout_s)
{
  PdConsumerTarget target = {
    .state = "running",
    .socket_path = f->plugin_socket,
    .implements = STRV ("VolumeDriver"),
    .propagated_mount = "/pm",
    .host_propagated_dir = f->host,
    .answer_timeout_s = answer_timeout_s,
  };

  pd_consumer_set_target (f->consumer, &target);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *plugin_dir = NULL;
  g_autofree char *v1 = NULL;

  f->dir = pd_test_make_tmp_dir ("pd-test-consumer-XXXXXX");
  plugin_dir = g_build_filename (f->dir, "plugin", NULL);
  pd_test_make_dir (plugin_dir);
  f->plugin_socket = g_build_filename (plugin_dir, "p.sock", NULL);
  f->consumer_dir = g_build_filename (f->dir, "consumers", NULL);
  pd_test_make_dir (f->consumer_dir);
  g_assert_cmpint (chmod (f->consumer_dir, 0700), ==, 0);
  f->consumer_socket = g_build_filename (f->consumer_dir, "c.sock", NULL);
  f->host = g_build_filename (f->dir, "propagated-mount", NULL);
  v1 = g_build_filename (f->host, "v1", NULL);
  pd_test_make_dir (v1);

  g_mutex_init (&f->lock);
  f->requests = g_string_new (NULL);
  set_plugin (f, PLUGIN_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
  f->plugin = pd_test_server_new_unix (f->plugin_socket, plugin_serve, f);
  f->consumer = pd_consumer_new ("test:latest", &error);
  g_assert_no_error (error);
  /* the tests with pins say so by their data */
  if (data != NULL)
    {
      f->pin_dir = g_build_filename (f->dir, "pins", NULL);
      g_assert_true (pd_mkdir_with_mode (f->pin_dir, 0700, &error));
      g_assert_no_error (error);
      pd_consumer_set_pin_dir (f->consumer, f->pin_dir);
    }
  g_assert_true (pd_consumer_listen (f->consumer, f->consumer_socket, &error));
  g_assert_no_error (error);
  set_running (f, 5);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->consumer, pd_consumer_free);
  g_clear_pointer (&f->plugin, pd_test_server_free);
  /* the consumer socket is gone with it */
  g_assert_false (pd_test_path_exists (f->consumer_socket));
  pd_test_rm_rf (f->dir);
  g_string_free (f->requests, TRUE);
  g_mutex_clear (&f->lock);
  g_free (f->answer);
  g_free (f->host);
  g_free (f->pin_dir);
  g_free (f->consumer_socket);
  g_free (f->consumer_dir);
  g_free (f->plugin_socket);
  g_free (f->dir);
}

typedef struct {
  char *path;
  char *request;
  GByteArray *response;
  gint done;
} Call;

static int
connect_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int errsv = errno;
      close (fd);
      errno = errsv;
      return -1;
    }
  return fd;
}

static void
read_to_end (int fd, GByteArray *out)
{
  char buf[4096];
  ssize_t n;

  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_byte_array_append (out, (guint8 *) buf, (guint) n);
}

/* a client, as an engine is: the request, then the answer up to the end */
static gpointer
call_thread (gpointer data)
{
  Call *call = data;
  int fd = connect_unix (call->path);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, call->request, strlen (call->request)), ==,
                   (gssize) strlen (call->request));
  read_to_end (fd, call->response);
  close (fd);
  g_atomic_int_set (&call->done, 1);
  return NULL;
}

typedef struct {
  guint status;
  char *body;
} Response;

static void
response_clear (Response *response)
{
  g_free (response->body);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Response, response_clear)

static void
parse_response (GByteArray *raw, Response *out)
{
  g_autofree char *text = g_strndup ((const char *) raw->data, raw->len);
  const char *body = strstr (text, "\r\n\r\n");

  g_assert_true (g_str_has_prefix (text, "HTTP/1.1 "));
  g_assert_nonnull (body);
  g_assert_nonnull (strstr (text, "Connection: close\r\n"));
  out->status = (guint) strtoul (text + 9, NULL, 10);
  out->body = g_strdup (body + 4);
}

/* the consumer accepts on the main loop */
static void
iterate_or_sleep (void)
{
  if (!g_main_context_iteration (NULL, FALSE))
    g_usleep (1000);
}

/* @request sent to the consumer socket from a thread, while this one runs the main loop
 * (where the consumer accepts) */
static void
call_raw (Fixture *f, const char *request, Response *out)
{
  Call call = { f->consumer_socket, (char *) request, g_byte_array_new (), 0 };
  GThread *thread = g_thread_new ("client", call_thread, &call);

  while (!g_atomic_int_get (&call.done))
    iterate_or_sleep ();
  g_thread_join (thread);
  parse_response (call.response, out);
  g_byte_array_unref (call.response);
}

static void
call_endpoint (Fixture *f, const char *endpoint, const char *body, Response *out)
{
  g_autofree char *request = g_strdup_printf (
    "POST /%s HTTP/1.1\r\nHost: plugin\r\nUser-Agent: Go-http-client/1.1\r\n"
    "Content-Length: %" G_GSIZE_FORMAT "\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n"
    "Content-Type: application/vnd.docker.plugins.v1.2+json\r\nAccept-Encoding: gzip\r\n\r\n%s",
    endpoint, strlen (body), body);

  call_raw (f, request, out);
}

/* the Err of an answer's body */
static char *
err_of (const Response *response)
{
  g_autoptr(JsonNode) root = json_from_string (response->body, NULL);

  g_assert_nonnull (root);
  return g_strdup (json_object_get_string_member (json_node_get_object (root), "Err"));
}

static void
assert_err (const Response *response, guint status, const char *needle)
{
  g_autofree char *err = err_of (response);

  g_assert_cmpuint (response->status, ==, status);
  g_assert_nonnull (err);
  if (strstr (err, needle) == NULL)
    g_error ("\"%s\" not in \"%s\"", needle, err);
}

static void
test_consumer_mode (Fixture *f, gconstpointer data)
{
  struct stat st;

  g_assert_cmpint (lstat (f->consumer_socket, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
  g_assert_true (pd_consumer_is_listening (f->consumer, f->consumer_socket));
}

static void
test_consumer_activate (Fixture *f, gconstpointer data)
{
  g_auto(Response) running = { 0 };
  g_auto(Response) down = { 0 };
  PdConsumerTarget restarting = { "restarting", NULL, STRV ("VolumeDriver", "authz"), "/pm",
                                  f->host, 0 };

  /* answered by the consumer itself: a plugin need not know the call */
  set_plugin (f, PLUGIN_ANSWER, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  call_endpoint (f, "Plugin.Activate", "", &running);
  g_assert_cmpuint (running.status, ==, 200);
  g_assert_cmpstr (running.body, ==, "{\"Implements\":[\"VolumeDriver\"]}");

  pd_consumer_set_target (f->consumer, &restarting);
  call_endpoint (f, "Plugin.Activate", "", &down);
  g_assert_cmpuint (down.status, ==, 200);
  g_assert_cmpstr (down.body, ==, "{\"Implements\":[\"VolumeDriver\",\"authz\"]}");
  g_assert_cmpuint (pd_test_server_get_accepted (f->plugin), ==, 0);
}

static void
test_consumer_down (Fixture *f, gconstpointer data)
{
  g_auto(Response) response = { 0 };
  PdConsumerTarget failed = { "failed", NULL, STRV ("VolumeDriver"), "/pm", f->host, 0 };

  pd_consumer_set_target (f->consumer, &failed);
  call_endpoint (f, "VolumeDriver.List", "{}", &response);
  assert_err (&response, 503, "plugin test:latest is not running (it is failed)");
  g_assert_cmpuint (pd_test_server_get_accepted (f->plugin), ==, 0);
}

static void
test_consumer_forwards (Fixture *f, gconstpointer data)
{
  g_autofree char *answer = json_answer ("{\"Mountpoint\": \"/pm/v1\", \"Err\": \"\"}");
  g_autofree char *expected = g_build_filename (f->host, "v1", NULL);
  g_autofree char *expected_body = g_strdup_printf ("{\"Mountpoint\":\"%s\",\"Err\":\"\"}",
                                                    expected);
  g_auto(Response) mount = { 0 };
  g_auto(Response) create = { 0 };
  g_auto(Response) failed = { 0 };

  set_plugin (f, PLUGIN_ANSWER, answer);
  call_endpoint (f, "VolumeDriver.Mount", "{\"Name\":\"v1\",\"ID\":\"abc\"}", &mount);
  g_assert_cmpuint (mount.status, ==, 200);
  g_assert_cmpstr (mount.body, ==, expected_body);
  /* what the plugin got: the engine's request, in Docker's headers, one per connection */
  g_assert_nonnull (strstr (f->requests->str,
                            "POST /VolumeDriver.Mount HTTP/1.1\r\n"
                            "Host: plugin.moby.localhost\r\n"
                            "Accept: application/vnd.docker.plugins.v1.2+json\r\n"
                            "Content-Type: application/vnd.docker.plugins.v1.2+json\r\n"
                            "Content-Length: 24\r\nConnection: close\r\n\r\n"
                            "{\"Name\":\"v1\",\"ID\":\"abc\"}"));

  /* other answers go back as they are, their status included */
  set_plugin (f, PLUGIN_ANSWER, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3\r\n{\"E\r\n8\r\nrr\":\"\"} \r\n0\r\n\r\n");
  call_endpoint (f, "VolumeDriver.Create", "{\"Name\":\"v2\"}", &create);
  g_assert_cmpuint (create.status, ==, 200);
  g_assert_cmpstr (create.body, ==, "{\"Err\":\"\"} ");
  set_plugin (f, PLUGIN_ANSWER, "HTTP/1.1 500 Internal Server Error\r\n\r\nnot json");
  call_endpoint (f, "VolumeDriver.Mount", "{\"Name\":\"v3\"}", &failed);
  g_assert_cmpuint (failed.status, ==, 500);
  g_assert_cmpstr (failed.body, ==, "not json");
}

/* the Mountpoint of an answer */
static char *
mountpoint_of (const Response *response)
{
  g_autoptr(JsonNode) root = json_from_string (response->body, NULL);
  JsonObject *object;

  g_assert_cmpuint (response->status, ==, 200);
  g_assert_nonnull (root);
  object = json_node_get_object (root);
  if (json_object_has_member (object, "Volume"))
    object = json_object_get_object_member (object, "Volume");
  return g_strdup (json_object_get_string_member (object, "Mountpoint"));
}

static void
call_ok (Fixture *f, const char *endpoint, const char *request)
{
  g_auto(Response) response = { 0 };
  g_autofree char *ok = json_answer ("{\"Err\": \"\"}");

  set_plugin (f, PLUGIN_ANSWER, ok);
  call_endpoint (f, endpoint, request, &response);
  g_assert_cmpuint (response.status, ==, 200);
}

/* TRUE in a test that must run in a subprocess of its own: valgrind (3.19) implements no
 * open_tree (it says ENOSYS), so under it the pin tests run in this program without it */
static gboolean
pin_test_elsewhere (void)
{
  if (g_test_subprocess () || syscall (SYS_open_tree, -1, "", 0) >= 0 || errno != ENOSYS)
    return FALSE;
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  return TRUE;
}

/* the attack: after its Mount answer passed the checks, the plugin swaps the volume's dir for
 * a symlink to a host dir; the engine only ever sees the pin, which shows the original dir */
static void
test_consumer_pin_swap (Fixture *f, gconstpointer data)
{
  g_autofree char *v1 = g_build_filename (f->host, "v1", NULL);
  g_autofree char *v1_old = g_build_filename (f->host, "v1-old", NULL);
  g_autofree char *original = g_build_filename (v1, "original", NULL);
  g_autofree char *secret_dir = g_build_filename (f->dir, "host-secret", NULL);
  g_autofree char *secret = g_build_filename (secret_dir, "secret", NULL);
  g_autofree char *checksum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "v1", -1);
  g_autofree char *pin = g_build_filename (f->pin_dir, checksum, NULL);
  g_autofree char *pinned_original = g_build_filename (pin, "original", NULL);
  g_autofree char *pinned_secret = g_build_filename (pin, "secret", NULL);
  g_autofree char *mount_answer = json_answer ("{\"Mountpoint\": \"/pm/v1\", \"Err\": \"\"}");
  g_autofree char *path_answer = json_answer ("{\"Mountpoint\": \"/pm/v1\"}");
  g_autofree char *get_answer = json_answer ("{\"Volume\": {\"Name\": \"v1\", "
                                             "\"Mountpoint\": \"/pm/v1\"}}");
  g_auto(Response) first = { 0 };
  g_auto(Response) path = { 0 };
  g_auto(Response) get = { 0 };
  g_auto(Response) second = { 0 };
  g_auto(Response) again = { 0 };
  g_autofree char *first_mountpoint = NULL;
  g_autofree char *path_mountpoint = NULL;
  g_autofree char *get_mountpoint = NULL;
  struct statvfs svfs;

  if (pin_test_elsewhere ())
    return;
  g_assert_true (g_file_set_contents (original, "", 0, NULL));
  pd_test_make_dir (secret_dir);
  g_assert_true (g_file_set_contents (secret, "", 0, NULL));

  set_plugin (f, PLUGIN_ANSWER, mount_answer);
  call_endpoint (f, "VolumeDriver.Mount", "{\"Name\":\"v1\",\"ID\":\"a\"}", &first);
  first_mountpoint = mountpoint_of (&first);
  g_assert_cmpstr (first_mountpoint, ==, pin);
  g_assert_true (pd_test_path_exists (pinned_original));
  g_assert_cmpint (statvfs (pin, &svfs), ==, 0);
  g_assert_cmpuint (svfs.f_flag & (ST_NOSUID | ST_NODEV), ==, ST_NOSUID | ST_NODEV);

  /* the swap, after the answer */
  g_assert_cmpint (rename (v1, v1_old), ==, 0);
  g_assert_cmpint (symlink (secret_dir, v1), ==, 0);
  g_assert_true (pd_test_path_exists (pinned_original));
  g_assert_false (pd_test_path_exists (pinned_secret));

  /* a swap between the check and the pin: the pin's own walk refuses the symlink, last or
   * on the way, and mounts nothing */
  {
    g_autofree char *other = g_build_filename (f->pin_dir, "other", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) error_middle = NULL;

    pd_test_make_dir (other);
    g_assert_false (pd_sandbox_pin_dir (f->host, "v1", other, &error));
    g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
    g_assert_nonnull (strstr (error->message, "without following a symlink"));
    g_assert_false (pd_sandbox_pin_dir (f->host, "v1/secret", other, &error_middle));
    g_assert_error (error_middle, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
    g_assert_false (pd_test_path_exists (pinned_secret));
    g_assert_cmpint (rmdir (other), ==, 0);
  }

  /* Path and Get give the pin; a checked Mountpoint would now be refused */
  set_plugin (f, PLUGIN_ANSWER, path_answer);
  call_endpoint (f, "VolumeDriver.Path", "{\"Name\":\"v1\"}", &path);
  path_mountpoint = mountpoint_of (&path);
  g_assert_cmpstr (path_mountpoint, ==, pin);
  set_plugin (f, PLUGIN_ANSWER, get_answer);
  call_endpoint (f, "VolumeDriver.Get", "{\"Name\":\"v1\"}", &get);
  get_mountpoint = mountpoint_of (&get);
  g_assert_cmpstr (get_mountpoint, ==, pin);

  /* another Mount is checked anew: through the symlink now, refused */
  set_plugin (f, PLUGIN_ANSWER, mount_answer);
  g_test_expect_message ("pd-consumer", G_LOG_LEVEL_WARNING, "*refused its answer*");
  call_endpoint (f, "VolumeDriver.Mount", "{\"Name\":\"v1\",\"ID\":\"b\"}", &second);
  g_test_assert_expected_messages ();
  assert_err (&second, 502, "symlink");

  /* the last Unmount of an ID unpins */
  call_ok (f, "VolumeDriver.Unmount", "{\"Name\":\"v1\",\"ID\":\"b\"}");
  g_assert_true (pd_test_path_exists (pinned_original));
  call_ok (f, "VolumeDriver.Unmount", "{\"Name\":\"v1\",\"ID\":\"a\"}");
  g_assert_false (pd_test_path_exists (pin));
  g_assert_true (pd_test_path_exists (secret));

  /* pinned again from the original dir; a plugin that stops releases it */
  g_assert_cmpint (unlink (v1), ==, 0);
  g_assert_cmpint (rename (v1_old, v1), ==, 0);
  set_plugin (f, PLUGIN_ANSWER, mount_answer);
  call_endpoint (f, "VolumeDriver.Mount", "{\"Name\":\"v1\",\"ID\":\"c\"}", &again);
  g_assert_cmpuint (again.status, ==, 200);
  g_assert_true (pd_test_path_exists (pinned_original));
  {
    PdConsumerTarget failed = { "failed", NULL, STRV ("VolumeDriver"), "/pm", f->host, 0 };

    pd_consumer_set_target (f->consumer, &failed);
  }
  g_assert_false (pd_test_path_exists (pin));
}

/* two Mounts with one ID need two Unmounts; the consumer's close releases what is pinned */
static void
test_consumer_pin_count (Fixture *f, gconstpointer data)
{
  g_autofree char *checksum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "v1", -1);
  g_autofree char *pin = g_build_filename (f->pin_dir, checksum, NULL);
  g_autofree char *answer = json_answer ("{\"Mountpoint\": \"/pm/v1\"}");

  if (pin_test_elsewhere ())
    return;
  for (guint i = 0; i < 2; i++)
    {
      g_auto(Response) response = { 0 };
      g_autofree char *mountpoint = NULL;

      set_plugin (f, PLUGIN_ANSWER, answer);
      call_endpoint (f, "VolumeDriver.Mount", "{\"Name\":\"v1\",\"ID\":\"x\"}", &response);
      mountpoint = mountpoint_of (&response);
      g_assert_cmpstr (mountpoint, ==, pin);
    }
  /* an Unmount counts even when the plugin fails it: the engine no longer uses the volume */
  {
    g_auto(Response) response = { 0 };
    g_autofree char *busy = json_answer ("{\"Err\": \"busy\"}");

    set_plugin (f, PLUGIN_ANSWER, busy);
    call_endpoint (f, "VolumeDriver.Unmount", "{\"Name\":\"v1\",\"ID\":\"x\"}", &response);
  }
  g_assert_true (pd_test_path_exists (pin));
  /* other IDs and names change nothing */
  call_ok (f, "VolumeDriver.Unmount", "{\"Name\":\"v1\",\"ID\":\"y\"}");
  call_ok (f, "VolumeDriver.Unmount", "{\"Name\":\"v2\",\"ID\":\"x\"}");
  g_assert_true (pd_test_path_exists (pin));
  set_plugin (f, PLUGIN_ANSWER, answer);
  g_clear_pointer (&f->consumer, pd_consumer_free);
  g_assert_false (pd_test_path_exists (pin));
}

static void
test_consumer_refuses_paths (Fixture *f, gconstpointer data)
{
  g_autofree char *link = g_build_filename (f->host, "evil", NULL);
  static const struct {
    const char *body;
    const char *needle;
  } cases[] = {
    { "{\"Mountpoint\": \"/etc\"}", "outside the plugin's PropagatedMount" },
    { "{\"Mountpoint\": \"/pm/../etc\"}", "\"..\"" },
    { "{\"Mountpoint\": \"/pm/evil\"}", "symlink" },
    { "{\"Mountpoint\": \"/pm/v1\", \"mountpoint\": \"/\"}", "two keys" },
  };

  g_assert_cmpint (symlink ("/", link), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *answer = json_answer (cases[i].body);
      g_auto(Response) response = { 0 };

      set_plugin (f, PLUGIN_ANSWER, answer);
      g_test_expect_message ("pd-consumer", G_LOG_LEVEL_WARNING, "*refused its answer*");
      call_endpoint (f, "VolumeDriver.Mount", "{\"Name\":\"v1\"}", &response);
      g_test_assert_expected_messages ();
      assert_err (&response, 502, "plugind refused the answer of plugin test:latest to "
                                  "/VolumeDriver.Mount");
      assert_err (&response, 502, cases[i].needle);
    }
}

static void
test_consumer_hostile_answers (Fixture *f, gconstpointer data)
{
  g_autofree char *deep = pd_test_nested (PD_JSON_MAX_DEPTH + 10, "[", "", "]");
  g_autofree char *deep_answer = json_answer (deep);
  g_auto(Response) huge = { 0 };
  g_auto(Response) deep_response = { 0 };
  g_auto(Response) garbage = { 0 };
  g_auto(Response) endless_head = { 0 };
  g_autoptr(GString) head = g_string_new ("HTTP/1.1 200 OK\r\n");

  set_plugin (f, PLUGIN_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n{");
  call_endpoint (f, "VolumeDriver.Mount", "{}", &huge);
  assert_err (&huge, 502, "larger than");

  set_plugin (f, PLUGIN_ANSWER, deep_answer);
  g_test_expect_message ("pd-consumer", G_LOG_LEVEL_WARNING, "*refused its answer*");
  call_endpoint (f, "VolumeDriver.Get", "{}", &deep_response);
  g_test_assert_expected_messages ();
  assert_err (&deep_response, 502, "nested");

  set_plugin (f, PLUGIN_ANSWER, "\x01\x02 not http\r\n\r\n");
  call_endpoint (f, "VolumeDriver.Mount", "{}", &garbage);
  assert_err (&garbage, 502, "gave no valid answer");

  while (head->len <= PD_HTTP_HEAD_MAX)
    g_string_append (head, "X-Filler: 0123456789012345678901234567890123456789\r\n");
  set_plugin (f, PLUGIN_ANSWER, head->str);
  call_endpoint (f, "VolumeDriver.Mount", "{}", &endless_head);
  assert_err (&endless_head, 502, "longer than");
}

static void
test_consumer_slow_plugins (Fixture *f, gconstpointer data)
{
  g_auto(Response) silent = { 0 };
  g_auto(Response) trickle = { 0 };

  set_running (f, 1);
  set_plugin (f, PLUGIN_SILENT, NULL);
  call_endpoint (f, "VolumeDriver.Mount", "{}", &silent);
  assert_err (&silent, 504, "did not answer /VolumeDriver.Mount within 1 s");

  /* the timeout bounds the whole answer, not each read */
  set_plugin (f, PLUGIN_TRICKLE, NULL);
  call_endpoint (f, "VolumeDriver.Mount", "{}", &trickle);
  assert_err (&trickle, 504, "within 1 s");
}

static void
test_consumer_plugin_socket_symlink (Fixture *f, gconstpointer data)
{
  g_autofree char *link = g_build_filename (f->dir, "plugin", "link.sock", NULL);
  g_auto(Response) response = { 0 };
  PdConsumerTarget target = { "running", link, STRV ("VolumeDriver"), "/pm", f->host, 0 };

  /* a plugin that swapped its socket for a symlink to another program's */
  g_assert_cmpint (symlink (f->plugin_socket, link), ==, 0);
  pd_consumer_set_target (f->consumer, &target);
  call_endpoint (f, "VolumeDriver.List", "{}", &response);
  assert_err (&response, 502, "no socket");
  g_assert_cmpuint (pd_test_server_get_accepted (f->plugin), ==, 0);
}

static void
test_consumer_bad_requests (Fixture *f, gconstpointer data)
{
  g_auto(Response) get = { 0 };
  g_auto(Response) big = { 0 };
  g_auto(Response) malformed = { 0 };
  g_autofree char *too_big = g_strdup_printf ("POST /VolumeDriver.Create HTTP/1.1\r\n"
                                              "Content-Length: %u\r\n\r\n",
                                              PD_CONSUMER_REQUEST_MAX + 1);

  call_raw (f, "GET /VolumeDriver.List HTTP/1.1\r\n\r\n", &get);
  assert_err (&get, 400, "POST");
  call_raw (f, too_big, &big);
  assert_err (&big, 413, "larger than");
  call_raw (f, "POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            &malformed);
  assert_err (&malformed, 400, "malformed");
  g_assert_cmpuint (pd_test_server_get_accepted (f->plugin), ==, 0);
}

/* this program (/proc/self/exe is valgrind's under valgrind) */
static char *test_program;

/* what test_consumer_unprivileged runs as nobody (a program of its own: the test's threads
 * are not in a forked child): connect to @path, which must fail; say so on stdout and wait
 * for a byte on stdin; connect again and copy what comes to stdout */
static int
connect_as_nobody (const char *path)
{
  char buf[4096];
  ssize_t n;
  int fd;

  if (setresgid (65534, 65534, 65534) < 0 || setresuid (65534, 65534, 65534) < 0)
    return 10;
  fd = connect_unix (path);
  if (fd >= 0 || errno != EACCES)
    return 11;
  if (write (STDOUT_FILENO, "m", 1) != 1 || read (STDIN_FILENO, buf, 1) != 1)
    return 12;
  fd = connect_unix (path);
  if (fd < 0)
    return 13;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    if (write (STDOUT_FILENO, buf, (size_t) n) != n)
      return 14;
  return 0;
}

static void
test_consumer_unprivileged (Fixture *f, gconstpointer data)
{
  g_autoptr(GByteArray) raw = g_byte_array_new ();
  g_auto(Response) response = { 0 };
  int to_parent[2], to_child[2];
  int status = 0;
  char byte;
  pid_t pid;

  g_assert_cmpint (pipe2 (to_parent, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (to_child, O_CLOEXEC), ==, 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      char *argv[] = { (char *) "test-consumer", (char *) "--connect-as-nobody",
                       f->consumer_socket, NULL };

      if (dup2 (to_child[0], STDIN_FILENO) < 0 || dup2 (to_parent[1], STDOUT_FILENO) < 0)
        _exit (20);
      execv (test_program, argv);
      _exit (21);
    }
  close (to_child[0]);
  close (to_parent[1]);
  /* the socket's mode kept nobody out; now its peer check must */
  g_assert_cmpint (read (to_parent[0], &byte, 1), ==, 1);
  g_assert_cmpint (chmod (f->dir, 0755), ==, 0);
  g_assert_cmpint (chmod (f->consumer_dir, 0755), ==, 0);
  g_assert_cmpint (chmod (f->consumer_socket, 0666), ==, 0);
  g_assert_cmpint (write (to_child[1], "g", 1), ==, 1);
  close (to_child[1]);
  while (waitpid (pid, &status, WNOHANG) == 0)
    iterate_or_sleep ();
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  read_to_end (to_parent[0], raw);
  close (to_parent[0]);
  parse_response (raw, &response);
  assert_err (&response, 403, "only root may use the consumer socket of plugin test:latest");
  g_assert_cmpuint (pd_test_server_get_accepted (f->plugin), ==, 0);
}

static void
test_consumer_too_many (Fixture *f, gconstpointer data)
{
  int fds[PD_CONSUMER_MAX_WAITING];
  g_auto(Response) response = { 0 };
  const char *request = "POST /VolumeDriver.Mount HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";

  /* a plugin that never answers holds every request in progress… */
  set_plugin (f, PLUGIN_SILENT, NULL);
  set_running (f, 60);
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      fds[i] = connect_unix (f->consumer_socket);
      g_assert_cmpint (fds[i], >=, 0);
      g_assert_cmpint (write (fds[i], request, strlen (request)), ==, (gssize) strlen (request));
    }
  /* …and one more is told at once instead of waiting behind them */
  call_endpoint (f, "VolumeDriver.Mount", "{}", &response);
  assert_err (&response, 503, "too many requests");

  /* closing the consumer ends them all, each with an answer */
  pd_consumer_close (f->consumer);
  g_assert_false (pd_test_path_exists (f->consumer_socket));
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      g_autoptr(GByteArray) raw = g_byte_array_new ();

      read_to_end (fds[i], raw);
      close (fds[i]);
      if (raw->len > 0)
        {
          g_auto(Response) ended = { 0 };

          parse_response (raw, &ended);
          g_assert_cmpuint (ended.status, ==, 503);
        }
    }
}

static void
test_consumer_unlisten (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *second = g_build_filename (f->consumer_dir, "second.sock", NULL);
  g_auto(Response) response = { 0 };
  Response *out = &response;

  g_assert_true (pd_consumer_listen (f->consumer, second, &error));
  g_assert_no_error (error);
  /* a second socket serves the same plugin */
  {
    g_autofree char *saved = g_steal_pointer (&f->consumer_socket);

    f->consumer_socket = g_strdup (second);
    call_endpoint (f, "Plugin.Activate", "", out);
    g_free (f->consumer_socket);
    f->consumer_socket = g_steal_pointer (&saved);
  }
  g_assert_cmpuint (response.status, ==, 200);
  /* a path taken over by someone else is not removed */
  g_assert_cmpint (unlink (second), ==, 0);
  pd_test_write_file (second, "theirs");
  pd_consumer_unlisten (f->consumer, second);
  g_assert_true (pd_test_path_exists (second));
  g_assert_false (pd_consumer_is_listening (f->consumer, second));
  pd_consumer_unlisten (f->consumer, f->consumer_socket);
  g_assert_false (pd_test_path_exists (f->consumer_socket));
}

int
main (int argc, char **argv)
{
  int status;

  if (argc == 3 && g_str_equal (argv[1], "--connect-as-nobody"))
    return connect_as_nobody (argv[2]);
  test_program = g_canonicalize_filename (argv[0], NULL);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/consumer/http/requests", test_http_requests);
  g_test_add_func ("/consumer/http/refused", test_http_refused);
  g_test_add_func ("/consumer/http/head-bound", test_http_head_bound);
  g_test_add_func ("/consumer/http/answers", test_http_answers);
  g_test_add_func ("/consumer/http/deadline-and-cancel", test_http_deadline_and_cancel);
  g_test_add ("/consumer/map/mountpoint", MapFixture, NULL, map_setup, test_map_mountpoint,
              map_teardown);
  g_test_add ("/consumer/map/bounds", MapFixture, NULL, map_setup, test_map_bounds,
              map_teardown);
  g_test_add ("/consumer/rewrite/answers", MapFixture, NULL, map_setup, test_rewrite_answers,
              map_teardown);
  g_test_add ("/consumer/rewrite/refused", MapFixture, NULL, map_setup, test_rewrite_refused,
              map_teardown);
  PD_TEST_ADD ("/consumer/socket/mode", test_consumer_mode);
  PD_TEST_ADD ("/consumer/socket/activate", test_consumer_activate);
  PD_TEST_ADD ("/consumer/socket/down", test_consumer_down);
  PD_TEST_ADD ("/consumer/socket/forwards", test_consumer_forwards);
  PD_TEST_ADD ("/consumer/socket/refuses-paths", test_consumer_refuses_paths);
  PD_TEST_ADD ("/consumer/socket/hostile-answers", test_consumer_hostile_answers);
  PD_TEST_ADD ("/consumer/socket/slow-plugins", test_consumer_slow_plugins);
  PD_TEST_ADD ("/consumer/socket/plugin-socket-symlink", test_consumer_plugin_socket_symlink);
  PD_TEST_ADD ("/consumer/socket/bad-requests", test_consumer_bad_requests);
  PD_TEST_ADD ("/consumer/socket/unprivileged", test_consumer_unprivileged);
  PD_TEST_ADD ("/consumer/socket/too-many", test_consumer_too_many);
  PD_TEST_ADD ("/consumer/socket/unlisten", test_consumer_unlisten);
  g_test_add ("/consumer/pin/swap", Fixture, "pin", fixture_setup, test_consumer_pin_swap,
              fixture_teardown);
  g_test_add ("/consumer/pin/count", Fixture, "pin", fixture_setup, test_consumer_pin_count,
              fixture_teardown);

  status = g_test_run ();
  g_free (test_program);
  return status;
}
