/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-registry"

#include <string.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-oci.h"
#include "pd-registry-private.h"

#define MANIFEST_ACCEPT \
  PD_MEDIA_TYPE_DOCKER_MANIFEST ", " PD_MEDIA_TYPE_DOCKER_INDEX ", " \
  PD_MEDIA_TYPE_OCI_MANIFEST ", " PD_MEDIA_TYPE_OCI_INDEX

static void
endpoint_free (Endpoint *endpoint)
{
  g_free (endpoint->base);
  g_free (endpoint);
}

void
pd_registry_client_log (PdRegistryClient *client, const char *format, ...)
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

/* section: endpoints */

GUri *
pd_registry_endpoint_uri (PdRegistryClient *client, const char *format, ...)
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

/* Settles on the first endpoint that answers GET /v2/ at all (any status: 401 is normal) */
gboolean
pd_registry_ensure_endpoint (PdRegistryClient *client, GCancellable *cancellable, GError **error)
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
      pd_registry_memory_is_plain_http (client->host))
    {
      client->endpoint_index = client->endpoints->len - 1;
      from_memory = TRUE;
    }
  for (; client->endpoint_index < client->endpoints->len; client->endpoint_index++)
    {
      g_autoptr(GUri) uri = pd_registry_endpoint_uri (client, "/v2/");
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GInputStream) stream = NULL;
      g_autoptr(GError) local_error = NULL;
      /* with a plain-HTTP fallback to try, one failed HTTPS attempt is enough */
      Request request = { .method = "GET", .uri = uri,
                          .max_attempts = client->endpoint_index + 1 < client->endpoints->len
                                            ? 1 : 0 };

      stream = pd_registry_send_with_retries (client, &request, &msg, cancellable, &local_error);
      /* a registry answers 200, or 401 before credentials (Docker's v2 ping); a TLS port
       * answering plain HTTP with 400 is not one */
      if (stream != NULL && soup_message_get_status (msg) != 200 &&
          soup_message_get_status (msg) != 401)
        {
          g_autofree char *what = g_strdup_printf ("%s/v2/", current_endpoint (client)->base);

          pd_registry_fail_with_status (&local_error, msg, stream, cancellable, what);
          g_clear_object (&stream);
        }
      if (stream != NULL)
        {
          g_input_stream_close (stream, NULL, NULL);
          client->endpoint_settled = TRUE;
          if (!current_endpoint (client)->is_mirror)
            pd_registry_memory_set_plain_http (client->host,
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
            pd_registry_client_log (client, "mirror %s: %s; trying %s", current_endpoint (client)->base,
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
      pd_registry_memory_set_plain_http (client->host, FALSE);
      client->endpoint_index = 0;
      return pd_registry_ensure_endpoint (client, cancellable, error);
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
  pd_registry_client_log (client, "mirror %s: %s; trying the next endpoint",
              current_endpoint (client)->base, error->message);
  client->endpoint_index++;
  client->endpoint_settled = FALSE;
  pd_registry_reset_auth (client);
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

  pd_registry_watchdog_init (&client->watchdog, config);
  client->host = g_ascii_strdown (endpoint_host, -1);
  client->path = g_strdup (ref->path);
  client->push = push;
  client->endpoints = g_ptr_array_new_with_free_func ((GDestroyNotify) endpoint_free);
  client->ca_certificates = g_ptr_array_new_with_free_func (g_object_unref);
  if (!pd_registry_parse_auth (client, ref->domain, registry_auth, error))
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
  pd_registry_load_ca_certificates (client, config->certs_dir);

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
  pd_registry_release_system_trust (client);
  pd_registry_watchdog_clear (&client->watchdog);
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

  if (!pd_registry_ensure_endpoint (client, cancellable, error))
    return NULL;
  uri = pd_registry_endpoint_uri (client, "%s", path);
  request.uri = uri;
  stream = pd_registry_send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    return NULL;
  if (soup_message_get_status (msg) != 200)
    {
      pd_registry_fail_with_status (error, msg, stream, cancellable, what);
      return NULL;
    }
  body = pd_registry_read_body (stream, max_size, &too_large, cancellable, error);
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
