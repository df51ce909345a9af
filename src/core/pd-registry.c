/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-registry"

#include <errno.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-json.h"
#include "pd-oci.h"
#include "pd-plugin-config.h"
#include "pd-registry.h"

#define MAX_ATTEMPTS 5
#define MAX_REDIRECTS 10
#define MAX_SMALL_BODY (1024 * 1024)
#define MAX_RETRY_AFTER_S 30
#define UPLOAD_CHUNK_SIZE (16 * 1024 * 1024)
#define SKIP_BUFFER_SIZE (64 * 1024)

#define MANIFEST_ACCEPT \
  "application/vnd.docker.distribution.manifest.v2+json, " \
  "application/vnd.docker.distribution.manifest.list.v2+json, " \
  "application/vnd.oci.image.manifest.v1+json, " \
  "application/vnd.oci.image.index.v1+json"

typedef struct {
  char *base;          /* "https://host[:port]" */
  gboolean is_mirror;  /* no credentials, pulls only */
  gboolean verify_tls; /* FALSE for an Insecure= registry */
} Endpoint;

/* see "the stall watchdog" below */
typedef struct {
  GMutex lock;
  GCond cond;
  GThread *thread;
  gboolean quit;
  gint64 timeout_us;
  guint64 min_bytes;
  /* the request in progress */
  gint64 window_used;           /* µs spent waiting on the network in this window, before
                                 * busy_since */
  guint64 window_bytes;         /* bytes sent or received in this window */
  gint64 busy_since;            /* a network call has been waiting since then, or 0 */
  GCancellable *call_cancellable; /* that call's, cancelled on a stall */
  gboolean stalled;
} Watchdog;

struct _PdRegistryClient {
  SoupSession *session;
  char *host;                 /* the registry's host[:port], lower case */
  char *path;                 /* repository path */
  gboolean push;
  GPtrArray *endpoints;       /* Endpoint */
  guint endpoint_index;
  gboolean endpoint_settled;
  GPtrArray *ca_certificates; /* GTlsCertificate from certs.d/<host> */

  /* credentials (never logged) */
  char *username;
  char *password;
  char *identity_token;
  char *registry_token;

  /* the Authorization value for the current endpoint, and how it was obtained */
  char *authorization;
  gboolean tried_plugin_scope;
  gboolean tried_plain_scope;

  PdRegistryLogFunc log_func;
  gpointer log_data;

  Watchdog watchdog;
};

typedef struct {
  const char *method;
  GUri *uri;
  const char *accept;
  const char *range;
  const char *content_type;
  const char *content_range;
  GBytes *body;
  /* attach the registry's credentials (only ever to its own endpoint) */
  gboolean registry_auth;
  /* an explicit Authorization for the first hop only (the token realm) */
  const char *authorization;
  /* 0 = MAX_ATTEMPTS */
  guint max_attempts;
} Request;

static void
endpoint_free (Endpoint *endpoint)
{
  g_free (endpoint->base);
  g_free (endpoint);
}

static void
client_log (PdRegistryClient *client, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
client_log (PdRegistryClient *client, const char *format, ...)
{
  g_autofree char *line = NULL;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  g_message ("%s", line);
  if (client->log_func != NULL)
    client->log_func (line, client->log_data);
}

static Endpoint *
current_endpoint (PdRegistryClient *client)
{
  return g_ptr_array_index (client->endpoints, client->endpoint_index);
}

gboolean
pd_registry_host_is_loopback (const char *host)
{
  g_autofree char *name = NULL;
  const char *colon;
  g_autoptr(GInetAddress) address = NULL;

  if (host[0] == '[')
    {
      const char *end = strchr (host, ']');

      if (end == NULL)
        return FALSE;
      name = g_strndup (host + 1, (gsize) (end - host - 1));
    }
  else if (strchr (host, ':') != strrchr (host, ':'))
    {
      /* a bare IPv6 address: no port */
      name = g_strdup (host);
    }
  else
    {
      colon = strchr (host, ':');
      name = colon != NULL ? g_strndup (host, (gsize) (colon - host)) : g_strdup (host);
    }
  if (g_ascii_strcasecmp (name, "localhost") == 0)
    return TRUE;
  address = g_inet_address_new_from_string (name);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

/* section: credentials */

static char *
decode_base64url (const char *text, gsize *len)
{
  g_autoptr(GString) standard = g_string_new (text);

  for (gsize i = 0; i < standard->len; i++)
    {
      char c = standard->str[i];

      if (c == '-')
        standard->str[i] = '+';
      else if (c == '_')
        standard->str[i] = '/';
      else if (!g_ascii_isalnum (c) && c != '+' && c != '/' && c != '=')
        return NULL;
    }
  while (standard->len % 4 != 0)
    g_string_append_c (standard, '=');
  return (char *) g_base64_decode (standard->str, len);
}

static const char *
json_member_string (JsonObject *object, const char *name)
{
  /* Go decodes keys case-insensitively: "Username" and "username" are the same */
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *node;

      if (g_ascii_strcasecmp (l->data, name) != 0)
        continue;
      node = json_object_get_member (object, l->data);
      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        return json_node_get_string (node);
    }
  return NULL;
}

/* "https://index.docker.io/v1/" → "docker.io"; "registry.example:5000" → itself */
static char *
normalize_server_address (const char *address)
{
  const char *start = address;
  const char *end;
  g_autofree char *host = NULL;

  if (g_str_has_prefix (start, "https://"))
    start += strlen ("https://");
  else if (g_str_has_prefix (start, "http://"))
    start += strlen ("http://");
  end = strchr (start, '/');
  host = end != NULL ? g_strndup (start, (gsize) (end - start)) : g_strdup (start);
  if (g_ascii_strcasecmp (host, "index.docker.io") == 0 ||
      g_ascii_strcasecmp (host, "registry-1.docker.io") == 0)
    return g_strdup ("docker.io");
  return g_ascii_strdown (host, -1);
}

static gboolean
parse_registry_auth (PdRegistryClient *client, const char *domain, const char *registry_auth,
                     GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *json = NULL;
  gsize len = 0;
  JsonObject *object;
  const char *server, *auth;

  if (registry_auth == NULL || *registry_auth == '\0')
    return TRUE;
  if (strlen (registry_auth) > PD_REGISTRY_AUTH_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "registry-auth is longer than %d bytes", PD_REGISTRY_AUTH_MAX);
      return FALSE;
    }
  json = decode_base64url (registry_auth, &len);
  if (json != NULL)
    root = pd_json_parse (json, len, PD_REGISTRY_AUTH_MAX, &local_error);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "registry-auth must be base64url-encoded JSON (Docker's X-Registry-Auth)%s%s",
                   local_error != NULL ? ": " : "",
                   local_error != NULL ? local_error->message : "");
      return FALSE;
    }
  object = json_node_get_object (root);

  server = json_member_string (object, "serveraddress");
  if (server != NULL && *server != '\0')
    {
      g_autofree char *normalized = normalize_server_address (server);

      /* CVE-2021-41092: credentials of one registry never go to another */
      if (g_ascii_strcasecmp (normalized, domain) != 0)
        {
          g_message ("registry-auth is for %s, not %s: not used", normalized, domain);
          return TRUE;
        }
    }

  client->username = g_strdup (json_member_string (object, "username"));
  client->password = g_strdup (json_member_string (object, "password"));
  auth = json_member_string (object, "auth");
  if ((client->username == NULL || *client->username == '\0') && auth != NULL && *auth != '\0')
    {
      gsize decoded_len = 0;
      g_autofree char *decoded = (char *) g_base64_decode (auth, &decoded_len);
      char *colon = decoded != NULL ? memchr (decoded, ':', decoded_len) : NULL;

      if (colon != NULL && memchr (decoded, '\0', decoded_len) == NULL)
        {
          g_free (client->username);
          g_free (client->password);
          client->username = g_strndup (decoded, (gsize) (colon - decoded));
          client->password = g_strndup (colon + 1, decoded_len - (gsize) (colon - decoded) - 1);
        }
    }
  client->identity_token = g_strdup (json_member_string (object, "identitytoken"));
  client->registry_token = g_strdup (json_member_string (object, "registrytoken"));
  if (client->username != NULL && *client->username == '\0')
    g_clear_pointer (&client->username, g_free);
  if (client->identity_token != NULL && *client->identity_token == '\0')
    g_clear_pointer (&client->identity_token, g_free);
  if (client->registry_token != NULL && *client->registry_token == '\0')
    g_clear_pointer (&client->registry_token, g_free);
  return TRUE;
}

static gboolean
has_credentials (PdRegistryClient *client)
{
  return client->username != NULL || client->identity_token != NULL ||
         client->registry_token != NULL;
}

/* section: TLS */

static void
load_ca_certificates (PdRegistryClient *client, const char *certs_dir)
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

static void
watchdog_init (Watchdog *watchdog, const PdDaemonConfig *config)
{
  g_mutex_init (&watchdog->lock);
  g_cond_init (&watchdog->cond);
  watchdog->timeout_us = (gint64) config->stall_timeout_s * G_USEC_PER_SEC;
  watchdog->min_bytes = config->stall_min_bytes;
}

static void
watchdog_clear (Watchdog *watchdog)
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

static gboolean
watchdog_stalled (Watchdog *watchdog)
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
 * the client for watched_read () */
static GInputStream *
watched_send (PdRegistryClient *client, SoupMessage *msg, GCancellable *cancellable,
              GError **error)
{
  WatchedCall call = { 0 };
  GInputStream *stream;

  watchdog_reset (&client->watchdog);
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
static gssize
watched_read (GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
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

static gboolean
sleep_cancellable (guint ms, GCancellable *cancellable, GError **error)
{
  GPollFD pollfd;
  gboolean have_fd = cancellable != NULL && g_cancellable_make_pollfd (cancellable, &pollfd);

  g_poll (&pollfd, have_fd ? 1 : 0, (gint) ms);
  if (have_fd)
    g_cancellable_release_fd (cancellable);
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* after attempt 1, 2, 3, 4: 0.5 s, 1 s, 2 s, 4 s, each ±25 %, or Retry-After (capped) */
static guint
backoff_ms (guint attempt, SoupMessage *msg)
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

static GBytes *
read_body (GInputStream *stream, gsize max_size, gboolean *too_large, GCancellable *cancellable,
           GError **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  guchar buffer[16384];

  *too_large = FALSE;
  for (;;)
    {
      gssize n = watched_read (stream, buffer, sizeof buffer, cancellable, error);

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
  root = pd_json_parse (data, len, MAX_SMALL_BODY, NULL);
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
      code = json_member_string (json_node_get_object (node), "code");
      message = json_member_string (json_node_get_object (node), "message");
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

static void
set_status_error (GError **error, SoupMessage *msg, GBytes *body, const char *what)
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
static void
fail_with_status (GError **error, SoupMessage *msg, GInputStream *stream,
                  GCancellable *cancellable, const char *what)
{
  g_autoptr(GBytes) body = NULL;
  gboolean too_large;

  if (stream != NULL)
    body = read_body (stream, MAX_SMALL_BODY, &too_large, cancellable, NULL);
  set_status_error (error, msg, body, what);
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

/* the Bearer/Basic challenge of a 401 */
typedef struct {
  char *scheme;
  GHashTable *params;
} Challenge;

static void
challenge_clear (Challenge *challenge)
{
  g_clear_pointer (&challenge->scheme, g_free);
  g_clear_pointer (&challenge->params, soup_header_free_param_list);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Challenge, challenge_clear)

static gboolean
parse_challenge (SoupMessage *msg, Challenge *challenge)
{
  const char *header = soup_message_headers_get_list (soup_message_get_response_headers (msg),
                                                      "WWW-Authenticate");
  const char *space;

  if (header == NULL)
    return FALSE;
  while (*header == ' ')
    header++;
  space = strchr (header, ' ');
  challenge->scheme = space != NULL ? g_strndup (header, (gsize) (space - header))
                                    : g_strdup (header);
  challenge->params = soup_header_parse_param_list (space != NULL ? space + 1 : "");
  return TRUE;
}

static char *
basic_authorization (const char *username, const char *password)
{
  g_autofree char *pair = g_strdup_printf ("%s:%s", username, password != NULL ? password : "");
  g_autofree char *encoded = g_base64_encode ((const guchar *) pair, strlen (pair));

  return g_strdup_printf ("Basic %s", encoded);
}

static GInputStream *send_with_retries (PdRegistryClient *client, const Request *request,
                                        SoupMessage **out_msg, GCancellable *cancellable,
                                        GError **error);

/* asks the realm for a token with @scope; NULL with an error when it refuses */
static char *
fetch_token (PdRegistryClient *client, Challenge *challenge, const char *scope,
             GCancellable *cancellable, GError **error)
{
  const char *realm = g_hash_table_lookup (challenge->params, "realm");
  const char *service = g_hash_table_lookup (challenge->params, "service");
  g_autoptr(GUri) realm_uri = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GString) query = g_string_new (NULL);
  g_autoptr(GBytes) form = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *basic = NULL;
  g_autofree char *realm_host = NULL;
  Request request = { 0 };
  const char *data, *token;
  gboolean too_large;
  gsize len;

  realm_uri = realm != NULL ? g_uri_parse (realm, SOUP_HTTP_URI_FLAGS, NULL) : NULL;
  if (realm_uri == NULL || g_uri_get_host (realm_uri) == NULL ||
      (g_strcmp0 (g_uri_get_scheme (realm_uri), "https") != 0 &&
       g_strcmp0 (g_uri_get_scheme (realm_uri), "http") != 0))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                   "the registry named no usable token realm");
      return NULL;
    }
  /* GUri gives IPv6 addresses without their brackets */
  realm_host = g_strdup_printf (strchr (g_uri_get_host (realm_uri), ':') != NULL ? "[%s]" : "%s",
                                g_uri_get_host (realm_uri));
  /* credentials cross the network in clear only to a registry that is itself plain HTTP */
  if (g_str_equal (g_uri_get_scheme (realm_uri), "http") &&
      !pd_registry_host_is_loopback (realm_host) &&
      !g_str_has_prefix (current_endpoint (client)->base, "http://"))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                   "refusing the plain HTTP token realm of an HTTPS registry");
      return NULL;
    }

  if (client->identity_token != NULL)
    {
      /* Docker's OAuth2 refresh-token flow */
      g_autofree char *escaped_token = g_uri_escape_string (client->identity_token, NULL, FALSE);
      g_autofree char *escaped_scope = g_uri_escape_string (scope, NULL, FALSE);
      g_autofree char *escaped_service = g_uri_escape_string (service != NULL ? service : "",
                                                              NULL, FALSE);
      g_autofree char *text = g_strdup_printf ("grant_type=refresh_token&refresh_token=%s"
                                               "&service=%s&scope=%s&client_id=plugind",
                                               escaped_token, escaped_service, escaped_scope);

      form = g_bytes_new (text, strlen (text));
      uri = g_uri_ref (realm_uri);
      request.method = "POST";
      request.content_type = "application/x-www-form-urlencoded";
      request.body = form;
    }
  else
    {
      if (g_uri_get_query (realm_uri) != NULL)
        g_string_append (query, g_uri_get_query (realm_uri));
      if (service != NULL)
        {
          g_autofree char *escaped = g_uri_escape_string (service, NULL, FALSE);
          g_string_append_printf (query, "%sservice=%s", query->len > 0 ? "&" : "", escaped);
        }
      {
        g_autofree char *escaped = g_uri_escape_string (scope, NULL, FALSE);
        g_string_append_printf (query, "%sscope=%s", query->len > 0 ? "&" : "", escaped);
      }
      if (client->username != NULL)
        {
          g_autofree char *escaped = g_uri_escape_string (client->username, NULL, FALSE);
          g_string_append_printf (query, "&account=%s", escaped);
          basic = basic_authorization (client->username, client->password);
        }
      uri = g_uri_build (G_URI_FLAGS_ENCODED_QUERY, g_uri_get_scheme (realm_uri), NULL,
                         g_uri_get_host (realm_uri), g_uri_get_port (realm_uri),
                         g_uri_get_path (realm_uri), query->str, NULL);
      request.method = "GET";
    }
  request.uri = uri;
  request.accept = "application/json";
  request.authorization = basic;

  stream = send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    {
      g_prefix_error (error, "token server: ");
      return NULL;
    }
  if (soup_message_get_status (msg) != 200)
    {
      fail_with_status (error, msg, stream, cancellable, "token server");
      /* only the token server's refusal means the credentials were wrong */
      if (soup_message_get_status (msg) != 401 && soup_message_get_status (msg) != 403)
        (*error)->code = PD_ERROR_REGISTRY_ERROR;
      return NULL;
    }
  body = read_body (stream, MAX_SMALL_BODY, &too_large, cancellable, error);
  if (body == NULL)
    return NULL;
  data = g_bytes_get_data (body, &len);
  root = pd_json_parse (data, len, MAX_SMALL_BODY, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR, "token server: not a JSON object");
      return NULL;
    }
  token = json_member_string (json_node_get_object (root), "token");
  if (token == NULL || *token == '\0')
    token = json_member_string (json_node_get_object (root), "access_token");
  if (token == NULL || *token == '\0' || pd_string_has_control_chars (token) ||
      strchr (token, ' ') != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR, "token server: no usable token");
      return NULL;
    }
  return g_strdup_printf ("Bearer %s", token);
}

/* Answers a 401 from the registry: TRUE when new credentials are ready for a retry, FALSE
 * with RegistryUnauthorized (or the token server's error) when there is nothing left to try. */
static gboolean
authenticate (PdRegistryClient *client, SoupMessage *msg, GCancellable *cancellable,
              GError **error)
{
  g_auto(Challenge) challenge = { 0 };
  const char *what = client->push ? "pull,push" : "pull";

  if (current_endpoint (client)->is_mirror)
    goto unauthorized;
  if (!parse_challenge (msg, &challenge))
    goto unauthorized;

  if (g_ascii_strcasecmp (challenge.scheme, "Basic") == 0)
    {
      if (client->username == NULL || client->authorization != NULL)
        goto unauthorized;
      client->authorization = basic_authorization (client->username, client->password);
      return TRUE;
    }
  if (g_ascii_strcasecmp (challenge.scheme, "Bearer") != 0)
    goto unauthorized;

  if (client->registry_token != NULL)
    {
      if (client->authorization != NULL)
        goto unauthorized;
      client->authorization = g_strdup_printf ("Bearer %s", client->registry_token);
      return TRUE;
    }
  if (!client->tried_plugin_scope)
    {
      /* Docker's scope for plugins (moby/moby#33792) */
      g_autofree char *scope = g_strdup_printf ("repository(plugin):%s:%s", client->path, what);
      g_autoptr(GError) token_error = NULL;
      char *authorization;

      client->tried_plugin_scope = TRUE;
      authorization = fetch_token (client, &challenge, scope, cancellable, &token_error);
      if (authorization != NULL)
        {
          g_free (client->authorization);
          client->authorization = authorization;
          return TRUE;
        }
      if (g_error_matches (token_error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
          !g_error_matches (token_error, PD_ERROR, PD_ERROR_REGISTRY_UNAUTHORIZED))
        {
          g_propagate_error (error, g_steal_pointer (&token_error));
          return FALSE;
        }
      client_log (client, "the token server refused the plugin scope (%s); trying "
                  "repository:%s:%s", token_error->message, client->path, what);
    }
  if (!client->tried_plain_scope)
    {
      /* registries whose token servers do not know the (plugin) class */
      g_autofree char *scope = g_strdup_printf ("repository:%s:%s", client->path, what);
      char *authorization;

      client->tried_plain_scope = TRUE;
      authorization = fetch_token (client, &challenge, scope, cancellable, error);
      if (authorization == NULL)
        return FALSE;
      g_free (client->authorization);
      client->authorization = authorization;
      return TRUE;
    }

unauthorized:
  g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_UNAUTHORIZED,
               "%s: the registry refused %s access to %s%s", client->host,
               client->push ? "push" : "pull", client->path,
               has_credentials (client) ? " with the given credentials"
                                        : " without credentials");
  return FALSE;
}

/* send_following_redirects with retries on connection failures, 408, 429 and 5xx, and with
 * authentication on a 401 from the registry. Other statuses are the caller's. */
static GInputStream *
send_with_retries (PdRegistryClient *client, const Request *request, SoupMessage **out_msg,
                   GCancellable *cancellable, GError **error)
{
  guint max_attempts = request->max_attempts != 0 ? request->max_attempts : MAX_ATTEMPTS;

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
          client_log (client, "%s (attempt %u of %u); retrying", local_error->message, attempt,
                      max_attempts);
          if (!sleep_cancellable (backoff_ms (attempt, NULL), cancellable, error))
            return NULL;
          continue;
        }

      status = soup_message_get_status (msg);
      if (status == 401 && request->registry_auth)
        {
          /* authentication rounds are not attempts: at most three (Basic, two scopes) */
          g_input_stream_close (stream, NULL, NULL);
          if (!authenticate (client, msg, cancellable, error))
            return NULL;
          attempt--;
          continue;
        }
      if (status_is_retryable (status) && attempt < max_attempts)
        {
          guint delay = backoff_ms (attempt, msg);

          g_input_stream_close (stream, NULL, NULL);
          client_log (client, "%s %s: the registry answered %u (attempt %u of %u); retrying "
                      "in %u ms", request->method, display, status, attempt, max_attempts,
                      delay);
          if (!sleep_cancellable (delay, cancellable, error))
            return NULL;
          continue;
        }
      *out_msg = g_steal_pointer (&msg);
      return g_steal_pointer (&stream);
    }
}

/* section: endpoints */

static GUri *
endpoint_uri (PdRegistryClient *client, const char *format, ...) G_GNUC_PRINTF (2, 3);

static GUri *
endpoint_uri (PdRegistryClient *client, const char *format, ...)
{
  g_autofree char *suffix = NULL;
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  suffix = g_strdup_vprintf (format, args);
  va_end (args);
  text = g_strconcat (current_endpoint (client)->base, suffix, NULL);
  return g_uri_parse (text, SOUP_HTTP_URI_FLAGS | G_URI_FLAGS_ENCODED, NULL);
}

static void
reset_auth (PdRegistryClient *client)
{
  g_clear_pointer (&client->authorization, g_free);
  client->tried_plugin_scope = FALSE;
  client->tried_plain_scope = FALSE;
}

/* Registries (of those allowed plain HTTP) found to answer only plain HTTP, with when that was
 * last seen: later clients skip the HTTPS attempt, whose handshake and CA loading cost a small
 * pull a fifth of its time. Process-wide, for every job's thread. */
#define PLAIN_HTTP_MEMORY_US (10 * 60 * G_USEC_PER_SEC)

G_LOCK_DEFINE_STATIC (plain_http_hosts);
static GHashTable *plain_http_hosts;   /* host → GINT64 monotonic time */

static gboolean
remembered_plain_http (const char *host)
{
  gboolean found = FALSE;

  G_LOCK (plain_http_hosts);
  if (plain_http_hosts != NULL)
    {
      gint64 *seen = g_hash_table_lookup (plain_http_hosts, host);

      found = seen != NULL && g_get_monotonic_time () - *seen < PLAIN_HTTP_MEMORY_US;
    }
  G_UNLOCK (plain_http_hosts);
  return found;
}

static void
remember_plain_http (const char *host, gboolean plain)
{
  G_LOCK (plain_http_hosts);
  if (plain_http_hosts == NULL)
    plain_http_hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (plain)
    g_hash_table_replace (plain_http_hosts, g_strdup (host),
                          g_memdup2 (&(gint64) { g_get_monotonic_time () }, sizeof (gint64)));
  else
    g_hash_table_remove (plain_http_hosts, host);
  G_UNLOCK (plain_http_hosts);
}

/* Settles on the first endpoint that answers GET /v2/ at all (any status: 401 is normal) */
static gboolean
ensure_endpoint (PdRegistryClient *client, GCancellable *cancellable, GError **error)
{
  g_autoptr(GError) first_error = NULL;
  gboolean from_memory = FALSE;

  if (client->endpoint_settled)
    return TRUE;
  /* a registry seen speaking plain HTTP a moment ago: the last endpoint, its HTTP one */
  if (client->endpoint_index == 0 && client->endpoints->len > 1 &&
      g_str_has_prefix (((Endpoint *) g_ptr_array_index (client->endpoints,
                                                         client->endpoints->len - 1))->base,
                        "http://") &&
      remembered_plain_http (client->host))
    {
      client->endpoint_index = client->endpoints->len - 1;
      from_memory = TRUE;
    }
  for (; client->endpoint_index < client->endpoints->len; client->endpoint_index++)
    {
      g_autoptr(GUri) uri = endpoint_uri (client, "/v2/");
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GInputStream) stream = NULL;
      g_autoptr(GError) local_error = NULL;
      /* with a plain-HTTP fallback to try, one failed HTTPS attempt is enough */
      Request request = { .method = "GET", .uri = uri,
                          .max_attempts = client->endpoint_index + 1 < client->endpoints->len
                                            ? 1 : 0 };

      stream = send_with_retries (client, &request, &msg, cancellable, &local_error);
      /* a registry answers 200, or 401 before credentials (Docker's v2 ping); a TLS port
       * answering plain HTTP with 400 is not one */
      if (stream != NULL && soup_message_get_status (msg) != 200 &&
          soup_message_get_status (msg) != 401)
        {
          g_autofree char *what = g_strdup_printf ("%s/v2/", current_endpoint (client)->base);

          fail_with_status (&local_error, msg, stream, cancellable, what);
          g_clear_object (&stream);
        }
      if (stream != NULL)
        {
          g_input_stream_close (stream, NULL, NULL);
          client->endpoint_settled = TRUE;
          if (!current_endpoint (client)->is_mirror)
            remember_plain_http (client->host,
                                 g_str_has_prefix (current_endpoint (client)->base, "http://"));
          return TRUE;
        }
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      if (client->endpoint_index + 1 < client->endpoints->len)
        {
          Endpoint *next = g_ptr_array_index (client->endpoints, client->endpoint_index + 1);

          if (current_endpoint (client)->is_mirror)
            client_log (client, "mirror %s: %s; trying %s", current_endpoint (client)->base,
                        local_error->message, next->base);
          else
            /* the usual case of a local registry: not worth a warning */
            g_debug ("%s: %s; using %s, which this registry may use",
                     current_endpoint (client)->base, local_error->message, next->base);
        }
      if (first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }
  /* what was remembered no longer holds: every endpoint again, from HTTPS */
  if (from_memory)
    {
      remember_plain_http (client->host, FALSE);
      client->endpoint_index = 0;
      return ensure_endpoint (client, cancellable, error);
    }
  client->endpoint_index = client->endpoints->len - 1;
  /* the first failure (HTTPS) says more than the plain-HTTP fallback's */
  g_propagate_error (error, g_steal_pointer (&first_error));
  return FALSE;
}

/* after a failure on a mirror: the next endpoint, if any */
static gboolean
next_endpoint_after_mirror (PdRegistryClient *client, const GError *error)
{
  if (!current_endpoint (client)->is_mirror ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return FALSE;
  client_log (client, "mirror %s: %s; trying the next endpoint",
              current_endpoint (client)->base, error->message);
  client->endpoint_index++;
  client->endpoint_settled = FALSE;
  reset_auth (client);
  return TRUE;
}

/* Docker's http.ProxyFromEnvironment: https_proxy, http_proxy and no_proxy (either case). The
 * desktop's proxy settings (GIO's default resolver reads them through libproxy and dconf) mean
 * nothing to a system service. NULL: connect directly. */
static GProxyResolver *
proxy_resolver_from_environment (void)
{
  static const char *const names[][2] = {
    { "https", "https_proxy" }, { "https", "HTTPS_PROXY" },
    { "http", "http_proxy" }, { "http", "HTTP_PROXY" },
  };
  const char *no_proxy = g_getenv ("no_proxy") != NULL ? g_getenv ("no_proxy")
                                                        : g_getenv ("NO_PROXY");
  g_auto(GStrv) ignore = NULL;
  GSimpleProxyResolver *resolver = NULL;

  if (no_proxy != NULL)
    {
      ignore = g_strsplit (no_proxy, ",", -1);
      for (guint i = 0; ignore[i] != NULL; i++)
        g_strstrip (ignore[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const char *proxy = g_getenv (names[i][1]);

      if (proxy == NULL || *proxy == '\0')
        continue;
      if (resolver == NULL)
        resolver = G_SIMPLE_PROXY_RESOLVER (g_simple_proxy_resolver_new (NULL, ignore));
      /* the lower-case name wins, as in Go; it comes first */
      g_simple_proxy_resolver_set_uri_proxy (resolver, names[i][0], proxy);
      if (i % 2 == 0)
        i++;
    }
  return resolver != NULL ? G_PROXY_RESOLVER (resolver) : NULL;
}

/* section: public */

PdRegistryClient *
pd_registry_client_new (const PdDaemonConfig *config, const PdReference *ref,
                        const char *registry_auth, gboolean push, GError **error)
{
  g_autoptr(PdRegistryClient) client = g_new0 (PdRegistryClient, 1);
  const char *endpoint_host = pd_reference_endpoint_host (ref);
  gboolean insecure;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (ref != NULL, NULL);

  watchdog_init (&client->watchdog, config);
  client->host = g_ascii_strdown (endpoint_host, -1);
  client->path = g_strdup (ref->path);
  client->push = push;
  client->endpoints = g_ptr_array_new_with_free_func ((GDestroyNotify) endpoint_free);
  client->ca_certificates = g_ptr_array_new_with_free_func (g_object_unref);
  if (!parse_registry_auth (client, ref->domain, registry_auth, error))
    return NULL;

  insecure = pd_daemon_config_is_insecure (config, client->host) ||
             pd_daemon_config_is_insecure (config, ref->domain);
  if (g_str_equal (ref->domain, "docker.io") && !push)
    for (guint i = 0; config->mirrors[i] != NULL; i++)
      {
        Endpoint *mirror = g_new0 (Endpoint, 1);

        mirror->base = g_strdup (config->mirrors[i]);
        mirror->is_mirror = TRUE;
        mirror->verify_tls = TRUE;
        g_ptr_array_add (client->endpoints, mirror);
      }
  {
    Endpoint *https = g_new0 (Endpoint, 1);

    https->base = g_strdup_printf ("https://%s", client->host);
    https->verify_tls = !insecure;
    g_ptr_array_add (client->endpoints, https);
  }
  if (insecure || pd_registry_host_is_loopback (client->host))
    {
      Endpoint *http = g_new0 (Endpoint, 1);

      http->base = g_strdup_printf ("http://%s", client->host);
      g_ptr_array_add (client->endpoints, http);
    }
  load_ca_certificates (client, config->certs_dir);

  {
    g_autoptr(GProxyResolver) proxy_resolver = proxy_resolver_from_environment ();

    client->session = soup_session_new_with_options ("user-agent",
                                                     PACKAGE_NAME "/" PACKAGE_VERSION,
                                                     "timeout", 60,
                                                     "idle-timeout", 30,
                                                     "max-conns-per-host", 4,
                                                     "proxy-resolver", proxy_resolver,
                                                     NULL);
  }
  /* blobs are read byte for byte (no Accept-Encoding), and credentials are ours to send */
  soup_session_remove_feature_by_type (client->session, SOUP_TYPE_CONTENT_DECODER);
  soup_session_remove_feature_by_type (client->session, SOUP_TYPE_AUTH_MANAGER);
  soup_session_remove_feature_by_type (client->session, SOUP_TYPE_COOKIE_JAR);
  return g_steal_pointer (&client);
}

void
pd_registry_client_free (PdRegistryClient *client)
{
  if (client == NULL)
    return;
  g_clear_object (&client->session);
  watchdog_clear (&client->watchdog);
  g_free (client->host);
  g_free (client->path);
  g_clear_pointer (&client->endpoints, g_ptr_array_unref);
  g_clear_pointer (&client->ca_certificates, g_ptr_array_unref);
  g_free (client->username);
  if (client->password != NULL)
    memset (client->password, 0, strlen (client->password));
  g_free (client->password);
  g_free (client->identity_token);
  g_free (client->registry_token);
  g_free (client->authorization);
  g_free (client);
}

void
pd_registry_client_set_log_func (PdRegistryClient *client, PdRegistryLogFunc func,
                                 gpointer user_data)
{
  client->log_func = func;
  client->log_data = user_data;
}

const char *
pd_registry_client_get_endpoint (PdRegistryClient *client)
{
  return client->endpoint_settled ? current_endpoint (client)->base : NULL;
}

/* GET of a whole small body at @path under the endpoint: a 200 of at most @max_size bytes that
 * hashes to @expected_digest (when not NULL). @what names it in errors; @computed gets its
 * digest, @msg_out the message. */
static GBytes *
get_small_body (PdRegistryClient *client, const char *path, const char *accept, gsize max_size,
                const char *what, const char *expected_digest, char **computed,
                SoupMessage **msg_out, GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *digest = NULL;
  Request request = { .method = "GET", .accept = accept, .registry_auth = TRUE };
  gboolean too_large;

  if (!ensure_endpoint (client, cancellable, error))
    return NULL;
  uri = endpoint_uri (client, "%s", path);
  request.uri = uri;
  stream = send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    return NULL;
  if (soup_message_get_status (msg) != 200)
    {
      fail_with_status (error, msg, stream, cancellable, what);
      return NULL;
    }
  body = read_body (stream, max_size, &too_large, cancellable, error);
  if (body == NULL)
    {
      if (!too_large)
        {
          g_prefix_error (error, "%s: ", what);
          pd_error_convert (error);
          if ((*error)->code == PD_ERROR_FAILED)
            (*error)->code = PD_ERROR_REGISTRY_ERROR;
        }
      return NULL;
    }
  digest = pd_sha256_digest_bytes (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  if (expected_digest != NULL && !g_str_equal (digest, expected_digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "%s: the registry sent content with digest %s", what, digest);
      return NULL;
    }
  *computed = g_steal_pointer (&digest);
  *msg_out = g_steal_pointer (&msg);
  return g_steal_pointer (&body);
}

static GBytes *
get_manifest_once (PdRegistryClient *client, const char *tag_or_digest, char **media_type,
                   char **digest, GCancellable *cancellable, GError **error)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *computed = NULL;
  g_autofree char *path = g_strdup_printf ("/v2/%s/manifests/%s", client->path, tag_or_digest);
  g_autofree char *what = g_strdup_printf ("manifest %s of %s", tag_or_digest, client->path);
  g_autofree char *type = NULL;

  /* a manifest asked for by digest must have it; by tag, its digest is what the tag names */
  body = get_small_body (client, path, MANIFEST_ACCEPT, PD_MAX_MANIFEST_SIZE, what,
                         g_str_has_prefix (tag_or_digest, "sha256:") ? tag_or_digest : NULL,
                         &computed, &msg, cancellable, error);
  if (body == NULL)
    return NULL;
  type = pd_oci_manifest_get_media_type (body);
  if (type == NULL)
    {
      const char *content_type = soup_message_headers_get_content_type (
        soup_message_get_response_headers (msg), NULL);
      type = g_strdup (content_type != NULL ? content_type : "");
    }
  *media_type = g_steal_pointer (&type);
  *digest = g_steal_pointer (&computed);
  return g_steal_pointer (&body);
}

GBytes *
pd_registry_client_get_manifest (PdRegistryClient *client, const char *tag_or_digest,
                                 char **media_type, char **digest, GCancellable *cancellable,
                                 GError **error)
{
  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      GBytes *body = get_manifest_once (client, tag_or_digest, media_type, digest, cancellable,
                                        &local_error);

      if (body != NULL)
        return body;
      if (!next_endpoint_after_mirror (client, local_error))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
}

GBytes *
pd_registry_client_get_blob (PdRegistryClient *client, const char *digest, gsize max_size,
                             GCancellable *cancellable, GError **error)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *computed = NULL;
  g_autofree char *path = g_strdup_printf ("/v2/%s/blobs/%s", client->path, digest);
  g_autofree char *what = g_strdup_printf ("blob %s of %s", digest, client->path);

  return get_small_body (client, path, NULL, max_size, what, digest, &computed, &msg,
                         cancellable, error);
}

/* section: blob streams */

struct _PdBlobStream {
  PdRegistryClient *client;
  char *digest;
  guint64 size;
  guint64 offset;        /* bytes returned to the caller */
  guint64 skip;          /* bytes of a 200 answer to a Range request still to drop */
  PdSha256 *sha;
  SoupMessage *msg;
  GInputStream *body;
  guint interruptions;
  gboolean verified;
};

PdBlobStream *
pd_registry_client_open_blob (PdRegistryClient *client, const char *digest, guint64 size,
                              GError **error)
{
  PdBlobStream *stream;

  if (!pd_digest_is_valid (digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "invalid digest");
      return NULL;
    }
  stream = g_new0 (PdBlobStream, 1);
  stream->client = client;
  stream->digest = g_strdup (digest);
  stream->size = size;
  stream->sha = pd_sha256_new ();
  return stream;
}

static void
blob_stream_close_body (PdBlobStream *stream)
{
  if (stream->body != NULL)
    g_input_stream_close (stream->body, NULL, NULL);
  g_clear_object (&stream->body);
  g_clear_object (&stream->msg);
}

gboolean
pd_blob_stream_is_verified (PdBlobStream *stream)
{
  return stream->verified;
}

void
pd_blob_stream_free (PdBlobStream *stream)
{
  if (stream == NULL)
    return;
  blob_stream_close_body (stream);
  g_free (stream->digest);
  g_clear_pointer (&stream->sha, pd_sha256_free);
  g_free (stream);
}

/* "bytes 100-199/200" exactly as asked */
static gboolean
content_range_matches (SoupMessage *msg, guint64 offset, guint64 size)
{
  goffset start = -1, end = -1, total = -1;

  if (!soup_message_headers_get_content_range (soup_message_get_response_headers (msg), &start,
                                               &end, &total))
    return FALSE;
  return start == (goffset) offset && end == (goffset) size - 1 &&
         (total == -1 || total == (goffset) size);
}

static gboolean
blob_stream_open (PdBlobStream *stream, GCancellable *cancellable, GError **error)
{
  PdRegistryClient *client = stream->client;
  g_autoptr(GUri) uri = NULL;
  g_autofree char *range = NULL;
  g_autofree char *what = g_strdup_printf ("blob %s of %s", stream->digest, client->path);
  Request request = { .method = "GET", .registry_auth = TRUE };
  guint status;

  if (!ensure_endpoint (client, cancellable, error))
    return FALSE;
  uri = endpoint_uri (client, "/v2/%s/blobs/%s", client->path, stream->digest);
  request.uri = uri;
  if (stream->offset > 0)
    {
      range = g_strdup_printf ("bytes=%" G_GUINT64_FORMAT "-", stream->offset);
      request.range = range;
    }
  stream->body = send_with_retries (client, &request, &stream->msg, cancellable, error);
  if (stream->body == NULL)
    return FALSE;
  status = soup_message_get_status (stream->msg);
  if (status == 206 && stream->offset > 0 &&
      content_range_matches (stream->msg, stream->offset, stream->size))
    return TRUE;
  if (status == 200)
    {
      goffset length = soup_message_headers_get_content_length (
        soup_message_get_response_headers (stream->msg));

      /* a whole blob of another size is the wrong blob, not one to resume */
      if (length > 0 && (guint64) length != stream->size)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                       "%s has %" G_GINT64_FORMAT " bytes, not the %" G_GUINT64_FORMAT
                       " the manifest says", what, (gint64) length, stream->size);
          blob_stream_close_body (stream);
          return FALSE;
        }
      /* the registry ignored the Range: read it again from the start, dropping what was seen */
      stream->skip = stream->offset;
      return TRUE;
    }
  if (status == 206)
    g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                 "%s: the registry answered a different range than asked for", what);
  else
    fail_with_status (error, stream->msg, stream->body, cancellable, what);
  blob_stream_close_body (stream);
  return FALSE;
}

static gboolean
blob_stream_skip (PdBlobStream *stream, GCancellable *cancellable, GError **error)
{
  g_autofree guchar *buffer = NULL;

  if (stream->skip == 0)
    return TRUE;
  buffer = g_malloc (SKIP_BUFFER_SIZE);
  while (stream->skip > 0)
    {
      gssize n = watched_read (stream->body, buffer, MIN (stream->skip, SKIP_BUFFER_SIZE),
                               cancellable, error);
      if (n <= 0)
        {
          if (n == 0)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT, "connection closed early");
          return FALSE;
        }
      stream->skip -= (guint64) n;
    }
  return TRUE;
}

static gssize
blob_stream_finish (PdBlobStream *stream, GCancellable *cancellable, GError **error)
{
  g_autofree char *computed = NULL;
  guchar extra;
  gssize n;

  /* more bytes than the manifest says? one byte of look-ahead tells */
  n = stream->body != NULL ? watched_read (stream->body, &extra, 1, cancellable, NULL) : 0;
  if (n > 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "blob %s is larger than the %" G_GUINT64_FORMAT " bytes the manifest says",
                   stream->digest, stream->size);
      return -1;
    }
  blob_stream_close_body (stream);
  computed = pd_sha256_finish (stream->sha);
  if (!g_str_equal (computed, stream->digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "blob %s: the registry sent content with digest %s", stream->digest, computed);
      return -1;
    }
  stream->verified = TRUE;
  return 0;
}

gssize
pd_blob_stream_read (PdBlobStream *stream, void *buffer, gsize count, GCancellable *cancellable,
                     GError **error)
{
  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      gssize n;

      if (stream->verified)
        return 0;
      if (stream->offset == stream->size)
        return blob_stream_finish (stream, cancellable, error);
      if (stream->body == NULL && !blob_stream_open (stream, cancellable, error))
        return -1;

      if (!blob_stream_skip (stream, cancellable, &local_error))
        n = -1;
      else
        n = watched_read (stream->body, buffer,
                          (gsize) MIN ((guint64) count, stream->size - stream->offset),
                          cancellable, &local_error);
      if (n > 0)
        {
          pd_sha256_update (stream->sha, buffer, (gsize) n);
          stream->offset += (guint64) n;
          return n;
        }
      if (n == 0)
        g_set_error (&local_error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                     "connection closed after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                     " bytes", stream->offset, stream->size);
      /* a stall is not resumed: a registry that slow would hold the job for minutes more */
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
          watchdog_stalled (&stream->client->watchdog))
        {
          blob_stream_close_body (stream);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return -1;
        }

      /* interrupted mid-body: resume from where we are */
      blob_stream_close_body (stream);
      if (++stream->interruptions >= MAX_ATTEMPTS)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                       "downloading blob %s failed %u times: %s", stream->digest,
                       stream->interruptions, local_error->message);
          return -1;
        }
      client_log (stream->client, "download of %s interrupted at %" G_GUINT64_FORMAT
                  " bytes (%s); resuming", stream->digest, stream->offset, local_error->message);
      if (!sleep_cancellable (backoff_ms (stream->interruptions, NULL), cancellable, error))
        return -1;
    }
}

/* section: push */

gboolean
pd_registry_client_has_blob (PdRegistryClient *client, const char *digest, gboolean *exists,
                             GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  Request request = { .method = "HEAD", .registry_auth = TRUE };
  guint status;

  if (!ensure_endpoint (client, cancellable, error))
    return FALSE;
  uri = endpoint_uri (client, "/v2/%s/blobs/%s", client->path, digest);
  request.uri = uri;
  stream = send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    return FALSE;
  status = soup_message_get_status (msg);
  g_input_stream_close (stream, NULL, NULL);
  if (status == 200 || status == 404)
    {
      *exists = status == 200;
      return TRUE;
    }
  g_autofree char *what = g_strdup_printf ("blob %s of %s", digest, client->path);
  set_status_error (error, msg, NULL, what);
  return FALSE;
}

/* the Location of an upload session, resolved against the request */
static GUri *
upload_location (SoupMessage *msg, GError **error)
{
  const char *location = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                       "Location");
  GUri *uri = location != NULL ? g_uri_parse_relative (soup_message_get_uri (msg), location,
                                                       SOUP_HTTP_URI_FLAGS | G_URI_FLAGS_ENCODED,
                                                       NULL)
                               : NULL;

  if (uri == NULL)
    g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                 "the registry started an upload without a usable Location");
  return uri;
}

/* POST /v2/<path>/blobs/uploads/[?mount=&from=]: 201 = mounted, 202 = an upload at *location */
static gboolean
start_upload (PdRegistryClient *client, const char *mount_digest, const char *from_path,
              gboolean *mounted, GUri **location, GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  Request request = { .method = "POST", .registry_auth = TRUE };
  guint status;

  if (!ensure_endpoint (client, cancellable, error))
    return FALSE;
  if (mount_digest != NULL)
    {
      g_autofree char *escaped_from = g_uri_escape_string (from_path, "/", FALSE);
      uri = endpoint_uri (client, "/v2/%s/blobs/uploads/?mount=%s&from=%s", client->path,
                          mount_digest, escaped_from);
    }
  else
    {
      uri = endpoint_uri (client, "/v2/%s/blobs/uploads/", client->path);
    }
  request.uri = uri;
  stream = send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    return FALSE;
  status = soup_message_get_status (msg);
  if (status == 201 && mount_digest != NULL)
    {
      g_input_stream_close (stream, NULL, NULL);
      *mounted = TRUE;
      return TRUE;
    }
  if (status != 202)
    {
      fail_with_status (error, msg, stream, cancellable, "starting an upload");
      return FALSE;
    }
  g_input_stream_close (stream, NULL, NULL);
  *mounted = FALSE;
  *location = upload_location (msg, error);
  return *location != NULL;
}

gboolean
pd_registry_client_mount_blob (PdRegistryClient *client, const char *digest,
                               const char *from_path, gboolean *mounted,
                               GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) location = NULL;

  if (!start_upload (client, digest, from_path, mounted, &location, cancellable, error))
    return FALSE;
  if (location != NULL)
    {
      /* the registry opened an upload instead: cancel it (best effort) */
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GInputStream) stream = NULL;
      Request request = { .method = "DELETE", .uri = location, .registry_auth = TRUE };

      stream = send_with_retries (client, &request, &msg, cancellable, NULL);
      if (stream != NULL)
        g_input_stream_close (stream, NULL, NULL);
    }
  return TRUE;
}

static GUri *
uri_add_digest (GUri *uri, const char *digest)
{
  const char *query = g_uri_get_query (uri);
  g_autofree char *escaped = g_uri_escape_string (digest, NULL, FALSE);
  g_autofree char *new_query = query != NULL && *query != '\0'
                                 ? g_strdup_printf ("%s&digest=%s", query, escaped)
                                 : g_strdup_printf ("digest=%s", escaped);

  return g_uri_build (g_uri_get_flags (uri) | G_URI_FLAGS_ENCODED_QUERY, g_uri_get_scheme (uri),
                      NULL, g_uri_get_host (uri), g_uri_get_port (uri), g_uri_get_path (uri),
                      new_query, NULL);
}

gboolean
pd_registry_client_upload_blob (PdRegistryClient *client, const char *digest, GBytes *data,
                                PdUploadProgressFunc progress, gpointer progress_data,
                                GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) location = NULL;
  g_autoptr(GUri) put_uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  g_autofree char *what = g_strdup_printf ("uploading blob %s", digest);
  gsize size = g_bytes_get_size (data);
  gboolean mounted = FALSE;
  Request put = { .method = "PUT", .registry_auth = TRUE,
                  .content_type = "application/octet-stream" };

  if (!start_upload (client, NULL, NULL, &mounted, &location, cancellable, error))
    return FALSE;

  if (size > UPLOAD_CHUNK_SIZE)
    {
      for (gsize offset = 0; offset < size; offset += UPLOAD_CHUNK_SIZE)
        {
          gsize len = MIN ((gsize) UPLOAD_CHUNK_SIZE, size - offset);
          g_autoptr(GBytes) chunk = g_bytes_new_from_bytes (data, offset, len);
          g_autofree char *content_range = g_strdup_printf ("%" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT,
                                                           offset, offset + len - 1);
          g_autoptr(SoupMessage) patch_msg = NULL;
          g_autoptr(GInputStream) patch_stream = NULL;
          Request patch = { .method = "PATCH", .uri = location, .registry_auth = TRUE,
                            .content_type = "application/octet-stream",
                            .content_range = content_range, .body = chunk };

          patch_stream = send_with_retries (client, &patch, &patch_msg, cancellable, error);
          if (patch_stream == NULL)
            return FALSE;
          if (soup_message_get_status (patch_msg) != 202)
            {
              fail_with_status (error, patch_msg, patch_stream, cancellable, what);
              return FALSE;
            }
          g_input_stream_close (patch_stream, NULL, NULL);
          g_uri_unref (location);
          location = upload_location (patch_msg, error);
          if (location == NULL)
            return FALSE;
          if (progress != NULL)
            progress (offset + len, progress_data);
        }
    }
  else
    {
      put.body = data;
    }

  put_uri = uri_add_digest (location, digest);
  put.uri = put_uri;
  stream = send_with_retries (client, &put, &msg, cancellable, error);
  if (stream == NULL)
    return FALSE;
  if (soup_message_get_status (msg) != 201)
    {
      fail_with_status (error, msg, stream, cancellable, what);
      return FALSE;
    }
  g_input_stream_close (stream, NULL, NULL);
  if (progress != NULL)
    progress (size, progress_data);
  return TRUE;
}

gboolean
pd_registry_client_put_manifest (PdRegistryClient *client, const char *tag,
                                 const char *media_type, GBytes *data,
                                 GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  Request request = { .method = "PUT", .registry_auth = TRUE, .content_type = media_type,
                      .body = data };

  if (!ensure_endpoint (client, cancellable, error))
    return FALSE;
  uri = endpoint_uri (client, "/v2/%s/manifests/%s", client->path, tag);
  request.uri = uri;
  stream = send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    return FALSE;
  if (soup_message_get_status (msg) != 201)
    {
      fail_with_status (error, msg, stream, cancellable, "uploading the manifest");
      return FALSE;
    }
  g_input_stream_close (stream, NULL, NULL);
  return TRUE;
}
