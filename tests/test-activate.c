/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A plugin's answer to /Plugin.Activate (pd-activate.c): what it implements, judged against
 * its config, and every way an answer is refused, bounded and escaped. Then the client that
 * asks for it (pd-activation.c) against a plugin socket played by a thread: Docker's request,
 * the answer's framings, and hostile plugins (huge heads, endless bodies, bad chunks, slow
 * drips, closed sockets, answers nobody asked for).
 */
#include "config.h"

#define G_LOG_DOMAIN "test-activate"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>

#include "pd-activate.h"
#include "pd-activation.h"
#include "pd-error.h"
#include "pd-test-utils.h"

/* a volume driver's config */
#define VOLUME_CONFIG \
  "{\"Description\": \"\", \"Documentation\": \"\"," \
  " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"p.sock\"}," \
  " \"Entrypoint\": [\"/p\"], \"WorkDir\": \"/\", \"Network\": {\"Type\": \"\"}}"

static void
test_activate_good (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (VOLUME_CONFIG);
  const char *good[] = {
    "{\"Implements\": [\"VolumeDriver\"]}",
    "{\"implements\": [\"volumedriver\", \"authz\"]}",
    "{\"Implements\": [\"NetworkDriver\"], \"IMPLEMENTS\": [\"VolumeDriver\"]}",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) implements = pd_activate_check_answer (200, good[i], strlen (good[i]),
                                                           config, &error);

      g_assert_no_error (error);
      g_assert_nonnull (implements);
      g_assert_true (g_strv_contains ((const char *const *) implements, "VolumeDriver") ||
                     g_strv_contains ((const char *const *) implements, "volumedriver"));
    }

  /* a plugin that does not know the call: the config's types, in Docker's spelling */
  {
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) implements = pd_activate_check_answer (404, "404 page not found\n", 19,
                                                         config, &error);
    const char *expected[] = { "VolumeDriver", NULL };

    g_assert_no_error (error);
    g_assert_cmpstrv (implements, expected);
  }
}

/* {"Implements": ["VolumeDriver", "x1", … "x<n - 1>"]} */
static char *
many_implements (guint n)
{
  GString *json = g_string_new ("{\"Implements\": [\"VolumeDriver\"");

  for (guint i = 1; i < n; i++)
    g_string_append_printf (json, ", \"x%u\"", i);
  g_string_append (json, "]}");
  return g_string_free (json, FALSE);
}

static void
test_activate_bad (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (VOLUME_CONFIG);
  g_autofree char *deep = pd_test_nested (100000, "[", "", "");
  g_autofree char *deep_inside = g_strconcat ("{\"Implements\": ", deep, NULL);
  g_autofree char *deep_err = g_strconcat ("{\"Err\": \"boom\", \"x\": ", deep, NULL);
  g_autofree char *too_large = g_malloc (PD_ACTIVATE_ANSWER_MAX + 2);
  g_autofree char *many = many_implements (300);
  g_autofree char *long_entry = g_strdup_printf ("{\"Implements\": [\"VolumeDriver\", \"%0257d\"]}", 0);
  struct {
    guint status;
    const char *body;
    gsize len;
    const char *message;
  } cases[] = {
    { 200, "", 0, "invalid response" },
    { 200, "[\"VolumeDriver\"]", 16, "invalid response" },
    { 200, "{\"Implements\": \"VolumeDriver\"}", 0, "is not a list" },
    { 200, "{\"Implements\": [1]}", 0, "holds a non-string" },
    { 200, "{\"Implements\": null}", 0, "does not cover interface type docker.volumedriver/1.0" },
    { 200, "{}", 0, "does not cover" },
    { 200, "{\"Implements\": [\"NetworkDriver\"]}", 0, "implements [NetworkDriver]" },
    { 200, "{\"Implements\": [\"Volume\\u0000Driver\"]}", 0, "invalid response" },
    { 200, deep, 0, "nested deeper than 128 levels" },
    { 200, deep_inside, 0, "nested deeper than 128 levels" },
    { 200, too_large, PD_ACTIVATE_ANSWER_MAX + 1, "larger than" },
    /* it becomes the Implements property */
    { 200, many, 0, "has more than 256 entries" },
    { 200, long_entry, 0, "an \"Implements\" entry is longer than 256 bytes" },
    { 500, "{\"Err\": \"activation exploded\"}", 0, "HTTP 500: activation exploded" },
    { 500, "{\"err\": \"lower\\ncase\"}", 0, "HTTP 500: lower\\x0acase" },
    { 400, "not json at all", 0, "HTTP 400: not json at all" },
    /* too deep for its Err to be read: the start of the raw body instead */
    { 500, deep_err, 0, "HTTP 500: {\"Err\": \"boom\", \"x\": [[[" },
  };

  memset (too_large, ' ', PD_ACTIVATE_ANSWER_MAX + 1);
  memcpy (too_large, "{}", 2);
  too_large[PD_ACTIVATE_ANSWER_MAX + 1] = '\0';
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len = cases[i].len != 0 ? cases[i].len : strlen (cases[i].body);
      g_auto(GStrv) implements = pd_activate_check_answer (cases[i].status, cases[i].body, len,
                                                           config, &error);

      g_assert_null (implements);
      g_assert_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED);
      g_test_message ("%u %.40s: %.200s", cases[i].status, cases[i].body, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message));
      /* a plugin's words never reach a message unescaped, nor without bound */
      g_assert_cmpuint (strlen (error->message), <, 4096);
    }
}

/* ---- the client ---- */

#define GOOD_JSON "{\"Implements\": [\"VolumeDriver\"]}"
#define GOOD_ANSWER "HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n" GOOD_JSON
#define DOCKER_REQUEST \
  "POST /Plugin.Activate HTTP/1.1\r\nHost: plugin.moby.localhost\r\n" \
  "Accept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: 0\r\n\r\n"

typedef enum {
  END_CLOSE,       /* close after the answer */
  END_HOLD,        /* keep the connection open until the client closes it */
  END_ENDLESS,     /* then write spaces until the client closes */
  END_ENDLESS_CHUNKS, /* then write chunks of 1000 spaces until the client closes */
} PlayEnd;

/* how the plugin thread plays one connection */
typedef struct {
  const char *answer;
  gsize len;                /* 0: strlen (answer) */
  gboolean before_request;  /* answer at once, then read the request */
  guint drip_us;            /* write a byte at a time, this long apart */
  PlayEnd end;
  GString *request;         /* what it read, for the test */
} Play;

static void
play_read_request (GSocket *connection, GCancellable *cancellable, GString *request)
{
  while (strstr (request->str, "\r\n\r\n") == NULL)
    {
      char buf[1024];
      gssize n = g_socket_receive (connection, buf, sizeof buf, cancellable, NULL);

      if (n <= 0)
        return;
      g_string_append_len (request, buf, n);
    }
}

static void
play_serve (GSocket *connection, GCancellable *cancellable, gpointer user_data)
{
  Play *play = user_data;
  gsize len = play->len != 0 ? play->len : strlen (play->answer);

  if (!play->before_request)
    play_read_request (connection, cancellable, play->request);
  if (play->drip_us == 0)
    pd_test_socket_send_all (connection, cancellable, play->answer, len);
  else
    for (gsize i = 0; i < len && !g_cancellable_is_cancelled (cancellable); i++)
      {
        pd_test_socket_send_all (connection, cancellable, play->answer + i, 1);
        g_usleep (play->drip_us);
      }
  if (play->before_request)
    play_read_request (connection, cancellable, play->request);
  if (play->end == END_ENDLESS || play->end == END_ENDLESS_CHUNKS)
    {
      char block[1024 + 16];
      gsize block_len = sizeof block - 16;

      memset (block, ' ', sizeof block);
      if (play->end == END_ENDLESS_CHUNKS)
        {
          memcpy (block, "3e8\r\n", 5);
          memcpy (block + 5 + 1000, "\r\n", 2);
          block_len = 5 + 1000 + 2;
        }
      /* until the client gives up and the write fails */
      while (g_socket_send (connection, block, block_len, cancellable, NULL) > 0)
        ;
    }
  else if (play->end == END_HOLD)
    {
      char buf[256];

      while (g_socket_receive (connection, buf, sizeof buf, cancellable, NULL) > 0)
        ;
    }
}

typedef struct {
  gboolean called;
  GStrv implements;
  GError *error;
} Outcome;

static void
on_activation_done (GStrv implements, GError *error, gpointer user_data)
{
  Outcome *outcome = user_data;

  g_assert_false (outcome->called);
  outcome->called = TRUE;
  outcome->implements = implements;
  outcome->error = error;
}

/* the plugin's side once it listens: one connection, Docker's request, the answer */
static gpointer
late_plugin_thread (gpointer user_data)
{
  GSocket *socket = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) connection = g_socket_accept (socket, NULL, &error);
  g_autoptr(GString) request = g_string_new (NULL);

  g_assert_no_error (error);
  play_read_request (connection, NULL, request);
  pd_test_socket_send_all (connection, NULL, GOOD_ANSWER, strlen (GOOD_ANSWER));
  return g_string_free (g_steal_pointer (&request), FALSE);
}

/* a record whose config asks for the socket p.sock */
static PdPluginRecord *
make_volume_record (void)
{
  const char *const layers[] = { PD_TEST_DIGEST, NULL };

  return pd_plugin_record_new (PD_TEST_HEX64, "test/plugin:latest",
                               "docker.io/test/plugin:latest",
                               pd_test_parse_config (VOLUME_CONFIG), PD_TEST_DIGEST,
                               PD_TEST_DIGEST, layers);
}

/* runs one activation against @play, with an idle timeout of @timeout_s; the outcome is
 * asserted by the caller */
static void
activate_against (Play *play, guint timeout_s, Outcome *outcome)
{
  g_autofree char *dir = pd_test_make_tmp_dir ("test-activation-XXXXXX");
  g_autofree char *path = g_build_filename (dir, "p.sock", NULL);
  g_autoptr(PdPluginRecord) record = make_volume_record ();
  g_autoptr(PdTestServer) server = NULL;
  g_autoptr(PdActivation) activation = NULL;
  g_autoptr(GError) error = NULL;

  play->request = g_string_new (NULL);
  server = pd_test_server_new_unix (path, play_serve, play);
  activation = pd_activation_start (record, dir, timeout_s, on_activation_done, outcome, &error);
  g_assert_no_error (error);
  while (!outcome->called)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (pd_activation_get_socket_seen (activation));
  g_clear_pointer (&activation, pd_activation_unref);
  g_clear_pointer (&server, pd_test_server_free);
  pd_test_rm_rf (dir);
}

static void
outcome_clear (Outcome *outcome)
{
  g_strfreev (outcome->implements);
  g_clear_error (&outcome->error);
}

static void
test_activation_good (void)
{
  /* Content-Length, kept open as Go's server does; chunked as Go sends a long answer, kept
   * open; up to the end of the connection; dripped a byte at a time; the status line and
   * header lines ending in a bare LF */
  Play plays[] = {
    { GOOD_ANSWER, 0, FALSE, 0, END_HOLD, NULL },
    { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
      "5\r\n{\"Imp\r\n1b;ext=1\r\nlements\": [\"VolumeDriver\"]}\r\n0\r\nX-Trailer: 1\r\n\r\n",
      0, FALSE, 0, END_HOLD, NULL },
    { "HTTP/1.0 200 OK\r\n\r\n" GOOD_JSON, 0, FALSE, 0, END_CLOSE, NULL },
    { GOOD_ANSWER, 0, FALSE, 200, END_HOLD, NULL },
    { "HTTP/1.1 200 OK\nContent-Length: 32\n\n" GOOD_JSON, 0, FALSE, 0, END_HOLD, NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (plays); i++)
    {
      Outcome outcome = { 0 };
      const char *expected[] = { "VolumeDriver", NULL };

      activate_against (&plays[i], 5, &outcome);
      g_assert_no_error (outcome.error);
      g_assert_cmpstrv (outcome.implements, expected);
      /* Docker's request exactly, once */
      g_assert_cmpstr (plays[i].request->str, ==, DOCKER_REQUEST);
      g_string_free (plays[i].request, TRUE);
      outcome_clear (&outcome);
    }
}

/* {"Implements": …} with a byte that is not UTF-8, and one with a NUL in a string */
static const char bad_bytes_answer[] =
  "HTTP/1.1 200 OK\r\nContent-Length: 33\r\n\r\n{\"Implements\": [\"Volume\xff" "Driver\"]}";
static const char nul_answer[] =
  "HTTP/1.1 200 OK\r\nContent-Length: 33\r\n\r\n{\"Implements\": [\"Volume\0" "Driver\"]}";
static const char nul_head_answer[] =
  "HTTP/1.1 200 OK\r\nX-A: b\0c\r\nContent-Length: 32\r\n\r\n" GOOD_JSON;

static void
test_activation_hostile (void)
{
  g_autoptr(GString) huge_line = g_string_new ("HTTP/1.1 200 OK\r\nX-Huge: ");
  g_autoptr(GString) many_lines = g_string_new ("HTTP/1.1 200 OK\r\n");
  g_autoptr(GString) long_chunk_line = g_string_new (
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  struct {
    Play play;
    const char *message;
  } cases[] = {
    /* not HTTP */
    { { "\x01\x02 this is not http\r\n\r\n", 0, FALSE, 0, END_HOLD, NULL },
      "Plugin.Activate: malformed HTTP message: bad status line" },
    /* an interim answer is no answer */
    { { "HTTP/1.1 100 Continue\r\n\r\n" GOOD_ANSWER, 0, FALSE, 0, END_HOLD, NULL },
      "the status is not a final one" },
    /* heads beyond 16 KiB: one line, or many */
    { { NULL, 0, FALSE, 0, END_HOLD, NULL }, "the HTTP head is longer than 16384 bytes" },
    { { NULL, 0, FALSE, 0, END_HOLD, NULL }, "the HTTP head is longer than 16384 bytes" },
    /* bodies beyond 1 MiB: announced, endless without a length, endless chunks */
    { { "HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n{", 0, FALSE, 0, END_ENDLESS, NULL },
      "the HTTP body is larger than 1048576 bytes" },
    { { "HTTP/1.1 200 OK\r\n\r\n{", 0, FALSE, 0, END_ENDLESS, NULL },
      "the HTTP body is larger than 1048576 bytes" },
    { { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, FALSE, 0,
        END_ENDLESS_CHUNKS, NULL },
      "the HTTP body is larger than 1048576 bytes" },
    /* bad chunk sizes: not hex, negative, overflowing, a line without end, no CRLF after
     * the data */
    { { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, FALSE, 0, END_HOLD,
        NULL },
      "malformed HTTP message: bad chunk size" },
    { { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 0, FALSE, 0, END_HOLD,
        NULL },
      "malformed HTTP message: bad chunk size" },
    { { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n", 0,
        FALSE, 0, END_HOLD, NULL },
      "the HTTP body is larger than 1048576 bytes" },
    { { NULL, 0, FALSE, 0, END_HOLD, NULL }, "chunk size line too long" },
    { { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX\r\n0\r\n\r\n", 0, FALSE,
        0, END_HOLD, NULL },
      "no line end after a chunk" },
    /* framings that could be read two ways */
    { { "HTTP/1.1 200 OK\r\nContent-Length: 32\r\nTransfer-Encoding: chunked\r\n\r\n" GOOD_JSON,
        0, FALSE, 0, END_HOLD, NULL },
      "both Content-Length and Transfer-Encoding" },
    { { "HTTP/1.1 200 OK\r\nContent-Length: 32\r\nContent-Length: 33\r\n\r\n" GOOD_JSON, 0,
        FALSE, 0, END_HOLD, NULL },
      "two different Content-Lengths" },
    { { "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" GOOD_JSON, 0, FALSE, 0, END_HOLD,
        NULL },
      "a transfer coding other than chunked" },
    /* closed in the middle: of the head, of a body, of a chunked body, before anything */
    { { "HTTP/1.1 200 OK\r\nContent-Le", 0, FALSE, 0, END_CLOSE, NULL },
      "Plugin.Activate: the connection closed before the message was complete" },
    { { "HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n{\"Impl", 0, FALSE, 0, END_CLOSE, NULL },
      "Plugin.Activate: the connection closed before the body was complete" },
    { { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{\"Impl", 0, FALSE, 0,
        END_CLOSE, NULL },
      "Plugin.Activate: the connection closed before the body was complete" },
    { { "", 0, FALSE, 0, END_CLOSE, NULL },
      "Plugin.Activate: the connection closed before the message was complete" },
    /* a slow drip of a head that never ends is cut at the bound like a fast one */
    { { "HTTP/1.1 200 OK\r\nX-Drip: aaaaaaaaaaaaaaaaaaaa", 0, FALSE, 100, END_CLOSE, NULL },
      "the connection closed before the message was complete" },
    /* bytes that are not UTF-8, NULs: in the JSON, in the head */
    { { bad_bytes_answer, sizeof bad_bytes_answer - 1, FALSE, 0, END_HOLD, NULL },
      "Plugin.Activate: invalid response" },
    { { nul_answer, sizeof nul_answer - 1, FALSE, 0, END_HOLD, NULL },
      "Plugin.Activate: invalid response" },
    { { nul_head_answer, sizeof nul_head_answer - 1, FALSE, 0, END_HOLD, NULL },
      "malformed HTTP message: NUL byte in the head" },
    /* an answer sent before the request, then another: the first is the answer, the second
     * is never read as one */
    { { "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 16\r\n\r\n{\"Err\": \"first\"}"
        GOOD_ANSWER, 0, TRUE, 0, END_HOLD, NULL },
      "Plugin.Activate: HTTP 500: first" },
  };

  while (huge_line->len <= 20000)
    g_string_append_c (huge_line, 'a');
  g_string_append (huge_line, "\r\n\r\n");
  cases[2].play.answer = huge_line->str;
  while (many_lines->len <= 20000)
    g_string_append (many_lines, "X-Many: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
  g_string_append (many_lines, "\r\n");
  cases[3].play.answer = many_lines->str;
  while (long_chunk_line->len <= 3000)
    g_string_append_c (long_chunk_line, '0');
  g_string_append (long_chunk_line, "1\r\n");
  cases[10].play.answer = long_chunk_line->str;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Outcome outcome = { 0 };

      activate_against (&cases[i].play, 5, &outcome);
      g_assert_null (outcome.implements);
      g_assert_error (outcome.error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED);
      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, outcome.error->message);
      g_assert_nonnull (strstr (outcome.error->message, cases[i].message));
      g_assert_true (g_utf8_validate (outcome.error->message, -1, NULL));
      g_assert_cmpuint (strlen (outcome.error->message), <, 4096);
      /* one request, whatever came back */
      if (!cases[i].play.before_request)
        g_assert_cmpstr (cases[i].play.request->str, ==, DOCKER_REQUEST);
      g_string_free (cases[i].play.request, TRUE);
      outcome_clear (&outcome);
    }
}

/* a plugin that accepts and never answers: the idle timeout ends the handshake */
static void
test_activation_silent (void)
{
  Play play = { "", 0, FALSE, 0, END_HOLD, NULL };
  Outcome outcome = { 0 };
  gint64 start = g_get_monotonic_time ();

  activate_against (&play, 1, &outcome);
  g_assert_null (outcome.implements);
  g_assert_error (outcome.error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED);
  g_test_message ("%s", outcome.error->message);
  g_assert_nonnull (strstr (outcome.error->message, "Plugin.Activate: "));
  g_assert_nonnull (strstr (outcome.error->message, "timed out"));
  /* not before the timeout */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC);
  g_string_free (play.request, TRUE);
  outcome_clear (&outcome);
}

/* bound but not listening yet: refused connections are retried until it listens */
static void
test_activation_retry (void)
{
  g_autofree char *dir = pd_test_make_tmp_dir ("test-activation-XXXXXX");
  g_autofree char *path = g_build_filename (dir, "p.sock", NULL);
  g_autoptr(PdPluginRecord) record = make_volume_record ();
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(PdActivation) activation = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  GThread *thread = NULL;
  Outcome outcome = { 0 };
  gint64 listen_at = g_get_monotonic_time () + 200 * 1000;

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                         &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, address, FALSE, &error));
  g_assert_no_error (error);
  activation = pd_activation_start (record, dir, 5, on_activation_done, &outcome, &error);
  g_assert_no_error (error);
  while (!outcome.called)
    {
      if (thread == NULL && g_get_monotonic_time () >= listen_at)
        {
          g_assert_true (g_socket_listen (socket, &error));
          g_assert_no_error (error);
          thread = g_thread_new ("late-plugin", late_plugin_thread, socket);
        }
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  g_assert_no_error (outcome.error);
  g_assert_true (g_strv_contains ((const char *const *) outcome.implements, "VolumeDriver"));
  g_assert_nonnull (thread);
  request = g_thread_join (thread);
  g_assert_cmpstr (request, ==, DOCKER_REQUEST);
  outcome_clear (&outcome);
  g_clear_pointer (&activation, pd_activation_unref);
  pd_test_rm_rf (dir);
}

/* cancelled while the plugin is silent: no callback, nothing left behind */
static void
test_activation_cancel (void)
{
  g_autofree char *dir = pd_test_make_tmp_dir ("test-activation-XXXXXX");
  g_autofree char *path = g_build_filename (dir, "p.sock", NULL);
  g_autoptr(PdPluginRecord) record = make_volume_record ();
  Play play = { "", 0, FALSE, 0, END_HOLD, g_string_new (NULL) };
  g_autoptr(PdTestServer) server = pd_test_server_new_unix (path, play_serve, &play);
  g_autoptr(PdActivation) activation = NULL;
  g_autoptr(GError) error = NULL;
  Outcome outcome = { 0 };

  activation = pd_activation_start (record, dir, 30, on_activation_done, &outcome, &error);
  g_assert_no_error (error);
  while (pd_test_server_get_accepted (server) == 0 || !pd_activation_get_socket_seen (activation))
    g_main_context_iteration (NULL, FALSE);
  pd_activation_cancel (activation);
  g_clear_pointer (&activation, pd_activation_unref);
  /* what was pending completes as cancelled, without a callback */
  for (guint i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_false (outcome.called);
  /* the thread sees the connection closed */
  g_clear_pointer (&server, pd_test_server_free);
  g_string_free (play.request, TRUE);
  pd_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/activate/good", test_activate_good);
  g_test_add_func ("/activate/bad", test_activate_bad);
  g_test_add_func ("/activate/client/good", test_activation_good);
  g_test_add_func ("/activate/client/hostile", test_activation_hostile);
  g_test_add_func ("/activate/client/silent", test_activation_silent);
  g_test_add_func ("/activate/client/retry", test_activation_retry);
  g_test_add_func ("/activate/client/cancel", test_activation_cancel);

  return g_test_run ();
}
