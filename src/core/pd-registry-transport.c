/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-registry"

#include <malloc.h>

#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-registry-private.h"

#define MAX_REDIRECTS 10
#define MAX_RETRY_AFTER_S 30

/* section: TLS */

void
pd_registry_load_ca_certificates (PdRegistryClient *client, const char *certs_dir)
{
  g_autofree char *dir_path = g_build_filename (certs_dir, client->host, NULL);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autoptr(GError) error = NULL;
      GList *list;

      /* Docker: *.crt are CA roots (*.cert and *.key are client certificates) */
      if (!g_str_has_suffix (name, ".crt"))
        continue;
      path = g_build_filename (dir_path, name, NULL);
      list = g_tls_certificate_list_new_from_file (path, &error);
      if (error != NULL)
        {
          g_warning ("cannot read %s: %s", path, error->message);
          continue;
        }
      for (GList *l = list; l != NULL; l = l->next)
        g_ptr_array_add (client->ca_certificates, l->data);
      g_list_free (list);
    }
}

static gboolean
uri_is_registry_host (PdRegistryClient *client, GUri *uri)
{
  Endpoint *endpoint = current_endpoint (client);
  g_autoptr(GUri) base = g_uri_parse (endpoint->base, G_URI_FLAGS_NONE, NULL);

  return base != NULL && g_ascii_strcasecmp (g_uri_get_scheme (uri), g_uri_get_scheme (base)) == 0 &&
         g_ascii_strcasecmp (g_uri_get_host (uri), g_uri_get_host (base)) == 0 &&
         g_uri_get_port (uri) == g_uri_get_port (base);
}

/* called when the system CAs do not verify the certificate: certs.d CAs, or no verification
 * for an Insecure= registry; both only for the registry's own host */
static gboolean
accept_certificate_cb (SoupMessage *msg, GTlsCertificate *certificate,
                       GTlsCertificateFlags errors, gpointer user_data)
{
  PdRegistryClient *client = user_data;
  GUri *uri = soup_message_get_uri (msg);
  g_autoptr(GSocketConnectable) identity = NULL;

  if (!uri_is_registry_host (client, uri))
    return FALSE;
  if (!current_endpoint (client)->verify_tls)
    return TRUE;
  identity = g_network_address_new (g_uri_get_host (uri), (guint16) g_uri_get_port (uri));
  for (guint i = 0; i < client->ca_certificates->len; i++)
    if (g_tls_certificate_verify (certificate, identity,
                                  g_ptr_array_index (client->ca_certificates, i)) == 0)
      return TRUE;
  return FALSE;
}

/* The system CAs, held only while a registry client that spoke TLS exists.
 *
 * GIO's TLS backend parses every system CA (about 4 MiB of heap) the first time a TLS
 * connection asks for the default database, and GIO and the backend then keep it for the life
 * of the process: one pull would have left it in the idle daemon for ever. Instead the
 * clients share a database of the system CAs made here, set as the backend's default while
 * one of them holds it and released with the last, so that an idle daemon holds none and the
 * next pull parses the CAs again (about 20 ms, only for TLS). Certificates are verified as
 * before: the same backend, the same system CAs, the same accept-certificate rules. Nothing
 * else in the daemon opens TLS connections; if this backend's database type is unknown, the
 * backend's own default is used as before. */

G_LOCK_DEFINE_STATIC (system_trust);
static guint system_trust_holders;
static GTlsDatabase *system_trust;

/* a new, uncached database of the system CAs from GIO's TLS backend: the type the backend's own
 * default is made of (GnuTLS's or OpenSSL's), the parent of its file database type; NULL if
 * the backend is another one */
static GTlsDatabase *
new_system_trust (void)
{
  GType type = g_type_parent (g_tls_backend_get_file_database_type (g_tls_backend_get_default ()));
  const char *name = g_type_name (type);
  g_autoptr(GError) error = NULL;
  GTlsDatabase *database;

  if (name == NULL || G_TYPE_IS_ABSTRACT (type) || !g_type_is_a (type, G_TYPE_TLS_DATABASE) ||
      (g_strcmp0 (name, "GTlsDatabaseGnutls") != 0 &&
       g_strcmp0 (name, "GTlsDatabaseOpenssl") != 0))
    return NULL;
  database = g_initable_new (type, NULL, &error, NULL);
  if (database == NULL)
    g_warning ("cannot load the system CAs: %s", error->message);
  return database;
}

void
pd_registry_hold_system_trust (PdRegistryClient *client)
{
  if (client->holds_system_trust)
    return;
  client->holds_system_trust = TRUE;
  G_LOCK (system_trust);
  if (system_trust_holders++ == 0)
    {
      system_trust = new_system_trust ();
      if (system_trust != NULL)
        g_tls_backend_set_default_database (g_tls_backend_get_default (), system_trust);
    }
  G_UNLOCK (system_trust);
}

void
pd_registry_release_system_trust (PdRegistryClient *client)
{
  if (!client->holds_system_trust)
    return;
  client->holds_system_trust = FALSE;
  G_LOCK (system_trust);
  if (--system_trust_holders == 0 && system_trust != NULL)
    {
      /* the connections that used it are gone with their sessions */
      g_tls_backend_set_default_database (g_tls_backend_get_default (), NULL);
      g_clear_object (&system_trust);
      /* its pages back to the system now, also after a GetPrivileges, which is no job (the
       * engine trims when the last job ends) */
      malloc_trim (0);
    }
  G_UNLOCK (system_trust);
}

/* section: the stall watchdog */

/* A registry that trickles (a byte every 20 s) keeps every socket read within libsoup's idle
 * timeout and would hold a job, and its MaxJobs slot, for ever. Every request must move at
 * least min_bytes (sent or received) per timeout of time spent waiting on the network: time
 * the caller spends elsewhere (a download waiting for the extraction to catch up) does not
 * count. The client's own thread watches the call in progress, so that a call blocked on
 * headers trickling in is cut too: it cancels the call, which then fails with RegistryError
 * and is not retried. */

static GQuark
watched_client_quark (void)
{
  return g_quark_from_static_string ("pd-registry-watched-client");
}

static gpointer
watchdog_thread (gpointer user_data)
{
  Watchdog *watchdog = user_data;

  g_mutex_lock (&watchdog->lock);
  while (!watchdog->quit)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 deadline;
      g_autoptr(GCancellable) cancellable = NULL;

      if (watchdog->busy_since == 0 || watchdog->stalled)
        {
          g_cond_wait (&watchdog->cond, &watchdog->lock);
          continue;
        }
      deadline = watchdog->busy_since + watchdog->timeout_us - watchdog->window_used;
      if (now < deadline)
        {
          g_cond_wait_until (&watchdog->cond, &watchdog->lock, deadline);
          continue;
        }
      if (watchdog->window_bytes >= watchdog->min_bytes)
        {
          /* the window went well: the next one starts now */
          watchdog->window_used = 0;
          watchdog->window_bytes = 0;
          watchdog->busy_since = now;
          continue;
        }
      watchdog->stalled = TRUE;
      cancellable = g_object_ref (watchdog->call_cancellable);
      /* cancelling runs the call's handlers: not under our lock */
      g_mutex_unlock (&watchdog->lock);
      g_cancellable_cancel (cancellable);
      g_mutex_lock (&watchdog->lock);
    }
  g_mutex_unlock (&watchdog->lock);
  return NULL;
}

void
pd_registry_watchdog_init (Watchdog *watchdog, const PdDaemonConfig *config)
{
  g_mutex_init (&watchdog->lock);
  g_cond_init (&watchdog->cond);
  watchdog->timeout_us = (gint64) config->stall_timeout_s * G_USEC_PER_SEC;
  watchdog->min_bytes = config->stall_min_bytes;
}

void
pd_registry_watchdog_clear (Watchdog *watchdog)
{
  if (watchdog->thread != NULL)
    {
      g_mutex_lock (&watchdog->lock);
      watchdog->quit = TRUE;
      g_cond_signal (&watchdog->cond);
      g_mutex_unlock (&watchdog->lock);
      g_thread_join (watchdog->thread);
    }
  g_cond_clear (&watchdog->cond);
  g_mutex_clear (&watchdog->lock);
}

gboolean
pd_registry_watchdog_stalled (Watchdog *watchdog)
{
  gboolean stalled;

  g_mutex_lock (&watchdog->lock);
  stalled = watchdog->stalled;
  g_mutex_unlock (&watchdog->lock);
  return stalled;
}

/* a new request: a new window */
static void
watchdog_reset (Watchdog *watchdog)
{
  g_mutex_lock (&watchdog->lock);
  watchdog->window_used = 0;
  watchdog->window_bytes = 0;
  watchdog->stalled = FALSE;
  g_mutex_unlock (&watchdog->lock);
}

static void
watchdog_add_bytes (Watchdog *watchdog, guint64 n)
{
  g_mutex_lock (&watchdog->lock);
  watchdog->window_bytes += n;
  g_mutex_unlock (&watchdog->lock);
}

typedef struct {
  GCancellable *cancellable;  /* the call's */
  GCancellable *caller;
  gulong caller_handler;
} WatchedCall;

static void
forward_cancel_cb (GCancellable *caller, gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

/* a network call starts; returns the cancellable to give it (the caller's, linked) */
static GCancellable *
watched_call_begin (PdRegistryClient *client, WatchedCall *call, GCancellable *caller)
{
  Watchdog *watchdog = &client->watchdog;

  call->cancellable = g_cancellable_new ();
  call->caller = caller;
  if (caller != NULL)
    call->caller_handler = g_cancellable_connect (caller, G_CALLBACK (forward_cancel_cb),
                                                  call->cancellable, NULL);
  g_mutex_lock (&watchdog->lock);
  if (watchdog->thread == NULL)
    watchdog->thread = g_thread_new ("pd-registry-watch", watchdog_thread, watchdog);
  watchdog->busy_since = g_get_monotonic_time ();
  watchdog->call_cancellable = call->cancellable;
  g_cond_signal (&watchdog->cond);
  g_mutex_unlock (&watchdog->lock);
  return call->cancellable;
}

/* the call returned, with @n bytes; FALSE (and @error replaced) when the request stalled */
static gboolean
watched_call_end (PdRegistryClient *client, WatchedCall *call, guint64 n, GError **error)
{
  Watchdog *watchdog = &client->watchdog;
  gboolean stalled;

  g_mutex_lock (&watchdog->lock);
  watchdog->window_used += g_get_monotonic_time () - watchdog->busy_since;
  watchdog->window_bytes += n;
  watchdog->busy_since = 0;
  watchdog->call_cancellable = NULL;
  if (!watchdog->stalled && watchdog->window_used >= watchdog->timeout_us)
    {
      if (watchdog->window_bytes < watchdog->min_bytes)
        watchdog->stalled = TRUE;
      watchdog->window_used = 0;
      watchdog->window_bytes = 0;
    }
  stalled = watchdog->stalled;
  g_mutex_unlock (&watchdog->lock);

  if (call->caller != NULL)
    g_cancellable_disconnect (call->caller, call->caller_handler);
  g_clear_object (&call->cancellable);
  /* the caller's own cancellation wins */
  if (!stalled || g_cancellable_is_cancelled (call->caller))
    return TRUE;
  if (error != NULL)
    {
      g_clear_error (error);
      g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                   "%s: the registry sent fewer than %" G_GUINT64_FORMAT " bytes in %"
                   G_GINT64_FORMAT " s", client->host, watchdog->min_bytes,
                   watchdog->timeout_us / G_USEC_PER_SEC);
    }
  return FALSE;
}

/* soup_session_send () under the watchdog, starting a request's window; the stream remembers
 * the client for pd_registry_watched_read () */
static GInputStream *
watched_send (PdRegistryClient *client, SoupMessage *msg, GCancellable *cancellable,
              GError **error)
{
  WatchedCall call = { 0 };
  GInputStream *stream;

  watchdog_reset (&client->watchdog);
  if (g_ascii_strcasecmp (g_uri_get_scheme (soup_message_get_uri (msg)), "https") == 0)
    pd_registry_hold_system_trust (client);
  stream = soup_session_send (client->session, msg,
                              watched_call_begin (client, &call, cancellable), error);
  if (!watched_call_end (client, &call, 0, error))
    {
      if (stream != NULL)
        g_input_stream_close (stream, NULL, NULL);
      g_clear_object (&stream);
    }
  if (stream != NULL)
    g_object_set_qdata (G_OBJECT (stream), watched_client_quark (), client);
  return stream;
}

/* g_input_stream_read () of a body from watched_send () under the watchdog */
gssize
pd_registry_watched_read (GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
              GError **error)
{
  PdRegistryClient *client = g_object_get_qdata (G_OBJECT (stream), watched_client_quark ());
  WatchedCall call = { 0 };
  gssize n;

  if (client == NULL)
    return g_input_stream_read (stream, buffer, count, cancellable, error);
  n = g_input_stream_read (stream, buffer, count, watched_call_begin (client, &call, cancellable),
                           error);
  if (!watched_call_end (client, &call, n > 0 ? (guint64) n : 0, error))
    return -1;
  return n;
}

/* a request body being sent counts as moving */
static void
wrote_body_data_cb (SoupMessage *msg, guint chunk_size, gpointer user_data)
{
  PdRegistryClient *client = user_data;

  watchdog_add_bytes (&client->watchdog, chunk_size);
}

/* section: sending */

gboolean
pd_registry_sleep_cancellable (guint ms, GCancellable *cancellable, GError **error)
{
  GPollFD pollfd;
  gboolean have_fd = cancellable != NULL && g_cancellable_make_pollfd (cancellable, &pollfd);

  g_poll (&pollfd, have_fd ? 1 : 0, (gint) ms);
  if (have_fd)
    g_cancellable_release_fd (cancellable);
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* after attempt 1, 2, 3, 4: 0.5 s, 1 s, 2 s, 4 s, each ±25 %, or Retry-After (capped) */
guint
pd_registry_backoff_ms (guint attempt, SoupMessage *msg)
{
  guint base = 500u << MIN (attempt - 1, 5u);

  if (msg != NULL)
    {
      const char *retry_after = soup_message_headers_get_one (
        soup_message_get_response_headers (msg), "Retry-After");
      guint64 seconds;

      if (retry_after != NULL &&
          g_ascii_string_to_unsigned (retry_after, 10, 0, G_MAXUINT32, &seconds, NULL))
        return (guint) MIN (seconds, MAX_RETRY_AFTER_S) * 1000u;
    }
  return base * 3 / 4 + (guint) g_random_int_range (0, (gint32) base / 2 + 1);
}

static gboolean
status_is_retryable (guint status)
{
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

static gboolean
error_is_retryable (const GError *error)
{
  /* resets, timeouts, closed connections; not a registry that is down or unreachable */
  if (error->domain == G_IO_ERROR)
    return !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
           !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED) &&
           !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT) &&
           !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) &&
           !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) &&
           !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE);
  /* a TLS failure that is an EOF or a reset mid-handshake is transient; a bad certificate
   * is not */
  if (error->domain == G_TLS_ERROR)
    return g_error_matches (error, G_TLS_ERROR, G_TLS_ERROR_EOF) ||
           g_error_matches (error, G_TLS_ERROR, G_TLS_ERROR_MISC);
  return error->domain == SOUP_SESSION_ERROR;
}

GBytes *
pd_registry_read_body (GInputStream *stream, gsize max_size, gboolean *too_large, GCancellable *cancellable,
           GError **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  guchar buffer[16384];

  *too_large = FALSE;
  for (;;)
    {
      gssize n = pd_registry_watched_read (stream, buffer, sizeof buffer, cancellable, error);

      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      if (data->len + (gsize) n > max_size)
        {
          *too_large = TRUE;
          g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                       "the registry's answer is larger than %" G_GSIZE_FORMAT " bytes", max_size);
          return NULL;
        }
      g_byte_array_append (data, buffer, (guint) n);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

/* the registry's own words from an error body ({"errors":[{"code","message"}]}), escaped */
static char *
describe_error_body (GBytes *body)
{
  gsize len = 0;
  const char *data = body != NULL ? g_bytes_get_data (body, &len) : NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object;
  JsonArray *errors;
  g_autoptr(GString) text = g_string_new (NULL);

  if (data == NULL || len == 0)
    return NULL;
  root = pd_json_parse (data, len, PD_REGISTRY_MAX_SMALL_BODY, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  object = json_node_get_object (root);
  if (!json_object_has_member (object, "errors") ||
      !JSON_NODE_HOLDS_ARRAY (json_object_get_member (object, "errors")))
    return NULL;
  errors = json_object_get_array_member (object, "errors");
  for (guint i = 0; i < json_array_get_length (errors) && i < 4; i++)
    {
      JsonNode *node = json_array_get_element (errors, i);
      const char *code, *message;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      code = pd_json_object_get_string_nocase (json_node_get_object (node), "code");
      message = pd_json_object_get_string_nocase (json_node_get_object (node), "message");
      if (text->len > 0)
        g_string_append (text, "; ");
      if (code != NULL)
        g_string_append_printf (text, "%s: ", code);
      g_string_append (text, message != NULL ? message : "");
    }
  if (text->len == 0)
    return NULL;
  return pd_escape_untrusted (text->str, (gssize) text->len);
}

void
pd_registry_set_status_error (GError **error, SoupMessage *msg, GBytes *body, const char *what)
{
  guint status = soup_message_get_status (msg);
  g_autofree char *detail = describe_error_body (body);
  g_autofree char *reason = pd_escape_untrusted (soup_message_get_reason_phrase (msg), -1);
  PdError code = PD_ERROR_REGISTRY_ERROR;

  if (status == 401 || status == 403)
    code = PD_ERROR_REGISTRY_UNAUTHORIZED;
  else if (status == 404)
    code = PD_ERROR_REGISTRY_NOT_FOUND;
  g_set_error (error, PD_ERROR, code, "%s: the registry answered %u %s%s%s", what, status,
               reason, detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

/* reads a small error body and turns the status into a GError */
void
pd_registry_fail_with_status (GError **error, SoupMessage *msg, GInputStream *stream,
                  GCancellable *cancellable, const char *what)
{
  g_autoptr(GBytes) body = NULL;
  gboolean too_large;

  if (stream != NULL)
    body = pd_registry_read_body (stream, PD_REGISTRY_MAX_SMALL_BODY, &too_large, cancellable, NULL);
  pd_registry_set_status_error (error, msg, body, what);
}

static gboolean
status_is_redirect (guint status)
{
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static char *
uri_to_display (GUri *uri)
{
  /* no query: upload URLs carry state, presigned blob URLs carry signatures */
  return g_uri_to_string_partial (uri, G_URI_HIDE_USERINFO | G_URI_HIDE_QUERY |
                                         G_URI_HIDE_FRAGMENT);
}

/* One request, following redirects (at most 10, Authorization only while on the registry's
 * own endpoint). Returns the body stream of the final answer and the message. */
static GInputStream *
send_following_redirects (PdRegistryClient *client, const Request *request, SoupMessage **out_msg,
                          GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) uri = g_uri_ref (request->uri);
  const char *method = request->method;
  gboolean first_hop = TRUE;

  for (guint hop = 0;; hop++)
    {
      g_autoptr(SoupMessage) msg = soup_message_new_from_uri (method, uri);
      SoupMessageHeaders *headers = soup_message_get_request_headers (msg);
      g_autoptr(GInputStream) stream = NULL;
      const char *location;
      GUri *next;
      guint status;

      soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
      g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_certificate_cb), client);
      if (request->accept != NULL)
        soup_message_headers_replace (headers, "Accept", request->accept);
      if (request->range != NULL)
        soup_message_headers_replace (headers, "Range", request->range);
      if (request->content_range != NULL)
        soup_message_headers_replace (headers, "Content-Range", request->content_range);
      if (request->authorization != NULL && first_hop)
        soup_message_headers_replace (headers, "Authorization", request->authorization);
      else if (request->registry_auth && client->authorization != NULL &&
               !current_endpoint (client)->is_mirror && uri_is_registry_host (client, uri))
        soup_message_headers_replace (headers, "Authorization", client->authorization);
      if (request->body != NULL && g_str_equal (method, request->method))
        soup_message_set_request_body_from_bytes (msg, request->content_type, request->body);
      else if (!g_str_equal (method, "GET") && !g_str_equal (method, "HEAD"))
        soup_message_headers_set_content_length (headers, 0);

      g_signal_connect (msg, "wrote-body-data", G_CALLBACK (wrote_body_data_cb), client);
      stream = watched_send (client, msg, cancellable, error);
      if (stream == NULL)
        {
          g_autofree char *display = uri_to_display (uri);

          g_prefix_error (error, "%s %s: ", method, display);
          return NULL;
        }
      status = soup_message_get_status (msg);
      location = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                               "Location");
      if (!status_is_redirect (status) || location == NULL)
        {
          *out_msg = g_steal_pointer (&msg);
          return g_steal_pointer (&stream);
        }

      g_input_stream_close (stream, NULL, NULL);
      if (hop + 1 >= MAX_REDIRECTS)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                       "more than %u redirects", MAX_REDIRECTS);
          return NULL;
        }
      next = g_uri_parse_relative (uri, location, SOUP_HTTP_URI_FLAGS, NULL);
      if (next == NULL || (g_strcmp0 (g_uri_get_scheme (next), "https") != 0 &&
                           g_strcmp0 (g_uri_get_scheme (next), "http") != 0))
        {
          g_autofree char *escaped = pd_escape_untrusted (location, -1);

          g_clear_pointer (&next, g_uri_unref);
          g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR, "bad redirect to \"%s\"",
                       escaped);
          return NULL;
        }
      /* never from HTTPS down to plain HTTP */
      if (g_str_equal (g_uri_get_scheme (uri), "https") &&
          g_str_equal (g_uri_get_scheme (next), "http"))
        {
          g_uri_unref (next);
          g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                       "refusing a redirect from HTTPS to plain HTTP");
          return NULL;
        }
      if (status == 303)
        method = "GET";
      g_uri_unref (uri);
      uri = next;
      first_hop = FALSE;
    }
}

/* send_following_redirects with retries on connection failures, 408, 429 and 5xx, and with
 * authentication on a 401 from the registry. Other statuses are the caller's. */
GInputStream *
pd_registry_send_with_retries (PdRegistryClient *client, const Request *request, SoupMessage **out_msg,
                   GCancellable *cancellable, GError **error)
{
  guint max_attempts = request->max_attempts != 0 ? request->max_attempts : PD_REGISTRY_MAX_ATTEMPTS;

  for (guint attempt = 1;; attempt++)
    {
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GInputStream) stream = NULL;
      g_autofree char *display = uri_to_display (request->uri);
      guint status;

      stream = send_following_redirects (client, request, &msg, cancellable, &local_error);
      if (stream == NULL)
        {
          if (local_error->domain == PD_ERROR || !error_is_retryable (local_error) ||
              attempt >= max_attempts)
            {
              if (local_error->domain != PD_ERROR &&
                  !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                {
                  g_autofree char *message = g_strdup (local_error->message);
                  g_clear_error (&local_error);
                  g_set_error (&local_error, PD_ERROR, PD_ERROR_REGISTRY_ERROR, "%s", message);
                }
              g_propagate_error (error, g_steal_pointer (&local_error));
              return NULL;
            }
          pd_registry_client_log (client, "%s (attempt %u of %u); retrying", local_error->message, attempt,
                      max_attempts);
          if (!pd_registry_sleep_cancellable (pd_registry_backoff_ms (attempt, NULL), cancellable, error))
            return NULL;
          continue;
        }

      status = soup_message_get_status (msg);
      if (status == 401 && request->registry_auth)
        {
          /* authentication rounds are not attempts: at most three (Basic, two scopes) */
          g_input_stream_close (stream, NULL, NULL);
          if (!pd_registry_authenticate (client, msg, cancellable, error))
            return NULL;
          attempt--;
          continue;
        }
      if (status_is_retryable (status) && attempt < max_attempts)
        {
          guint delay = pd_registry_backoff_ms (attempt, msg);

          g_input_stream_close (stream, NULL, NULL);
          pd_registry_client_log (client, "%s %s: the registry answered %u (attempt %u of %u); retrying "
                      "in %u ms", request->method, display, status, attempt, max_attempts,
                      delay);
          if (!pd_registry_sleep_cancellable (delay, cancellable, error))
            return NULL;
          continue;
        }
      *out_msg = g_steal_pointer (&msg);
      return g_steal_pointer (&stream);
    }
}
