/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry client's transport (pd-registry-transport.c) against loopback "registries" made
 * here that misbehave: nothing listening, connections dropped, answers that trickle in, an
 * error body no parser should recurse into. Nothing here talks to any other address.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-registry-transport"

#include <string.h>

#include "pd-daemon-config.h"
#include "pd-error.h"
#include "pd-reference.h"
#include "pd-registry.h"
#include "pd-test-utils.h"

static void
collect_log (const char *line, gpointer user_data)
{
  g_ptr_array_add (user_data, g_strdup (line));
}

static guint
count_lines (GPtrArray *lines, const char *needle)
{
  guint n = 0;

  for (guint i = 0; i < lines->len; i++)
    if (strstr (lines->pdata[i], needle) != NULL)
      n++;
  return n;
}

/* GET of the manifest "latest" from 127.0.0.1:@port/test/plugin, timed, with @config */
static GBytes *
get_manifest_with_config (const PdDaemonConfig *config, guint16 port, GPtrArray *log,
                          gint64 *elapsed_us, GError **error)
{
  g_autofree char *text = g_strdup_printf ("127.0.0.1:%u/test/plugin:latest", port);
  g_autoptr(PdReference) ref = pd_reference_parse (text, NULL);
  g_autoptr(PdRegistryClient) client = NULL;
  g_autofree char *media_type = NULL;
  g_autofree char *digest = NULL;
  GBytes *body;
  gint64 start;

  g_assert_nonnull (ref);
  client = pd_registry_client_new (config, ref, NULL, FALSE, error);
  g_assert_nonnull (client);
  pd_registry_client_set_log_func (client, collect_log, log);
  start = g_get_monotonic_time ();
  body = pd_registry_client_get_manifest (client, "latest", &media_type, &digest, NULL, error);
  *elapsed_us = g_get_monotonic_time () - start;
  return body;
}

/* the same with the default configuration */
static GBytes *
get_manifest_from_port (guint16 port, GPtrArray *log, gint64 *elapsed_us, GError **error)
{
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();

  return get_manifest_with_config (config, port, log, elapsed_us, error);
}

/* a loopback registry where nothing listens (a port bound, never listening): HTTPS, then the
 * plain HTTP loopback registries may use, both refused; a registry that is down is not
 * retried, so the answer comes at once */
static void
test_endpoint_refused (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  guint16 port = 0;
  /* bound, so that nothing else takes the port, until the end */
  GSocket *reserved = pd_test_bound_loopback_socket (&port);
  g_autoptr(GBytes) body = NULL;
  gint64 elapsed = 0;

  body = get_manifest_from_port (port, log, &elapsed, &error);
  g_assert_null (body);
  g_test_message ("after %" G_GINT64_FORMAT " ms: %s", elapsed / 1000,
                  pd_test_message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR);
  g_assert_nonnull (strstr (pd_test_message_of (error), "127.0.0.1"));
  g_assert_cmpuint (count_lines (log, "retrying"), ==, 0);
  g_assert_cmpint (elapsed, <, 3 * G_USEC_PER_SEC);
  g_object_unref (reserved);
}

/* A loopback "registry" that accepts connections and drops them at once: a transient failure,
 * retried within the documented bounds: HTTPS once (a plain HTTP fallback is there), then plain
 * HTTP, at most 5 attempts with back-off 0.5 s, 1 s, 2 s, 4 s (±25 %), then RegistryError. */
static void
test_endpoint_dropped (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(PdTestServer) server = pd_test_server_new (NULL, NULL);
  gint64 elapsed = 0;

  body = get_manifest_from_port (pd_test_server_get_port (server), log, &elapsed, &error);

  g_assert_null (body);
  g_test_message ("after %" G_GINT64_FORMAT " ms and %u connections: %s", elapsed / 1000,
                  pd_test_server_get_accepted (server), pd_test_message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR);
  /* the HTTPS attempt and five plain ones */
  g_assert_cmpuint (pd_test_server_get_accepted (server), ==, 6);
  g_assert_cmpuint (count_lines (log, "; retrying"), ==, 4);
  g_assert_cmpuint (count_lines (log, "attempt 4 of 5"), ==, 1);
  /* the back-off adds up to 7.5 s ±25 %, plus the attempts themselves */
  g_assert_cmpint (elapsed, >=, 5600 * 1000);
  g_assert_cmpint (elapsed, <, 11 * G_USEC_PER_SEC);
}

/* A loopback "registry" that answers GET /v2/ at once and every other request with a status
 * line and headers that trickle in, a byte every 100 ms, for 10 s: each read is far within
 * libsoup's idle timeout, and only the stall timeout (1 s, at least 1024 bytes, here) ends
 * the request. TLS is refused at once. */

/* one request's head, or NULL at the end of the connection (or for TLS) */
static char *
trickle_read_request (GSocket *connection, GCancellable *cancellable)
{
  g_autoptr(GString) head = g_string_new (NULL);

  while (strstr (head->str, "\r\n\r\n") == NULL)
    {
      char c;

      if (g_socket_receive (connection, &c, 1, cancellable, NULL) != 1 ||
          (head->len == 0 && !g_ascii_isalpha (c)))
        return NULL;
      g_string_append_c (head, c);
    }
  return g_string_free (g_steal_pointer (&head), FALSE);
}

static void
trickle_answer (GSocket *connection, GCancellable *cancellable, gpointer user_data)
{
  static const char ping[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  char *request;

  while ((request = trickle_read_request (connection, cancellable)) != NULL)
    {
      gboolean is_ping = g_str_has_prefix (request, "GET /v2/ ");
      gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

      g_free (request);
      if (is_ping)
        {
          g_socket_send (connection, ping, sizeof ping - 1, cancellable, NULL);
          continue;
        }
      for (gsize i = 0; g_get_monotonic_time () < end; i = (i + 1) % (sizeof answer - 1))
        {
          if (g_socket_send (connection, answer + i, 1, cancellable, NULL) != 1)
            break;
          g_usleep (100 * 1000);
        }
      break;
    }
}

static void
test_endpoint_trickled (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();
  g_autoptr(GBytes) body = NULL;
  g_autoptr(PdTestServer) server = pd_test_server_new (trickle_answer, NULL);
  gint64 elapsed = 0;

  config->stall_timeout_s = 1;
  config->stall_min_bytes = 1024;

  body = get_manifest_with_config (config, pd_test_server_get_port (server), log, &elapsed,
                                   &error);

  g_assert_null (body);
  g_test_message ("after %" G_GINT64_FORMAT " ms: %s", elapsed / 1000,
                  pd_test_message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR);
  g_assert_nonnull (strstr (pd_test_message_of (error), "fewer than 1024 bytes in 1 s"));
  /* not retried */
  g_assert_cmpuint (count_lines (log, "retrying"), ==, 0);
  g_assert_cmpint (elapsed, <, 8 * G_USEC_PER_SEC);
}

/* A loopback "registry" that answers the /v2/ ping with 200 and every other request with
 * one canned response, @user_data (the first connection, the HTTPS attempt, gets it too, and
 * fails its handshake). */
static void
canned_answer (GSocket *connection, GCancellable *cancellable, gpointer user_data)
{
  static const char ping[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
  char request[4096] = "";
  gsize len = 0;
  const char *data = g_bytes_get_data (user_data, &len);

  /* the request's first bytes: enough for the client to be waiting for the answer */
  g_socket_receive (connection, request, sizeof request - 1, cancellable, NULL);
  if (g_str_has_prefix (request, "GET /v2/ "))
    {
      data = ping;
      len = strlen (ping);
    }
  pd_test_socket_send_all (connection, cancellable, data, len);
  g_socket_shutdown (connection, FALSE, TRUE, NULL);
  /* the client's own close: the answer is not cut off by a reset */
  while (g_socket_receive (connection, request, sizeof request, cancellable, NULL) > 0)
    ;
}

/* A 404 whose body is 400 KiB of '[': the registry's error text is read from JSON, with a
 * bounded depth, so the answer is RegistryNotFound rather than a stack overflow. */
static void
test_endpoint_deep_error_body (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *deep = pd_test_nested (400 * 1024, "[", "", "");
  g_autoptr(GString) response = g_string_new (NULL);
  g_autoptr(GBytes) canned = NULL;
  g_autoptr(PdTestServer) server = NULL;
  gint64 elapsed = 0;

  g_string_printf (response, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen (deep), deep);
  canned = g_string_free_to_bytes (g_steal_pointer (&response));
  server = pd_test_server_new (canned_answer, canned);

  body = get_manifest_from_port (pd_test_server_get_port (server), log, &elapsed, &error);

  g_assert_null (body);
  g_test_message ("%s", pd_test_message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_nonnull (strstr (pd_test_message_of (error), "404"));
}

/* The system CAs a client parsed for its TLS attempt go with the last client that spoke TLS:
 * an idle daemon must not keep them (several MiB) after its first pull. Twice, because the
 * next client parses them again. The loopback "registry" refuses TLS (it answers the
 * handshake with plain HTTP) and answers the manifest with 404. */
static void
test_system_trust_released (void)
{
  static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
  g_autoptr(GBytes) canned = g_bytes_new_static (not_found, sizeof not_found - 1);
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();

  /* a registry of its own each time: one seen speaking plain HTTP is not tried with TLS again
   * for a while */
  for (guint round = 0; round < 2; round++)
    {
      g_autoptr(PdTestServer) server = pd_test_server_new (canned_answer, canned);
      g_autofree char *text = g_strdup_printf ("127.0.0.1:%u/test/plugin:latest",
                                               pd_test_server_get_port (server));
      g_autoptr(PdReference) ref = pd_reference_parse (text, NULL);
      g_autoptr(GError) error = NULL;
      g_autofree char *media_type = NULL;
      g_autofree char *digest = NULL;
      PdRegistryClient *client = pd_registry_client_new (config, ref, NULL, FALSE, &error);
      g_autoptr(GBytes) body = NULL;
      GTlsDatabase *database;
      GWeakRef weak;
      GObject *still;

      g_assert_nonnull (ref);
      g_assert_no_error (error);
      body = pd_registry_client_get_manifest (client, "latest", &media_type, &digest, NULL,
                                              &error);
      g_assert_null (body);
      g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
      /* the HTTPS attempt, then plain HTTP: the ping and the manifest */
      g_assert_cmpuint (pd_test_server_get_accepted (server), ==, 3);
      /* the system CAs of the TLS attempt are the ones the client holds ... */
      database = g_tls_backend_get_default_database (g_tls_backend_get_default ());
      g_assert_nonnull (database);
      g_weak_ref_init (&weak, database);
      g_object_unref (database);
      still = g_weak_ref_get (&weak);
      g_assert_nonnull (still);
      g_clear_object (&still);
      /* ... and are freed with it: a TLS connection of libsoup's may drop the last reference
       * from its own thread a moment later, so the test waits for it (at most 10 s) */
      pd_registry_client_free (client);
      for (guint i = 0; i < 1000 && (still = g_weak_ref_get (&weak)) != NULL; i++)
        {
          g_clear_object (&still);
          while (g_main_context_iteration (NULL, FALSE))
            ;
          g_usleep (10 * 1000);
        }
      g_assert_null (still);
      g_weak_ref_clear (&weak);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/registry-transport/refused", test_endpoint_refused);
  g_test_add_func ("/registry-transport/dropped", test_endpoint_dropped);
  g_test_add_func ("/registry-transport/deep-error-body", test_endpoint_deep_error_body);
  g_test_add_func ("/registry-transport/trickled", test_endpoint_trickled);
  g_test_add_func ("/registry-transport/system-trust-released", test_system_trust_released);

  return pd_test_run_nonfatal ();
}
