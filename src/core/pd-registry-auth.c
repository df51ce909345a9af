/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-registry"

#include <string.h>

#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-registry-private.h"

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

gboolean
pd_registry_parse_auth (PdRegistryClient *client, const char *domain, const char *registry_auth,
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

  server = pd_json_object_get_string_nocase (object, "serveraddress");
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

  client->username = g_strdup (pd_json_object_get_string_nocase (object, "username"));
  client->password = g_strdup (pd_json_object_get_string_nocase (object, "password"));
  auth = pd_json_object_get_string_nocase (object, "auth");
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
  client->identity_token = g_strdup (pd_json_object_get_string_nocase (object, "identitytoken"));
  client->registry_token = g_strdup (pd_json_object_get_string_nocase (object, "registrytoken"));
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

/* section: answering a 401 */

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

  stream = pd_registry_send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    {
      g_prefix_error (error, "token server: ");
      return NULL;
    }
  if (soup_message_get_status (msg) != 200)
    {
      pd_registry_fail_with_status (error, msg, stream, cancellable, "token server");
      /* only the token server's refusal means the credentials were wrong */
      if (soup_message_get_status (msg) != 401 && soup_message_get_status (msg) != 403)
        (*error)->code = PD_ERROR_REGISTRY_ERROR;
      return NULL;
    }
  body = pd_registry_read_body (stream, PD_REGISTRY_MAX_SMALL_BODY, &too_large, cancellable, error);
  if (body == NULL)
    return NULL;
  data = g_bytes_get_data (body, &len);
  root = pd_json_parse (data, len, PD_REGISTRY_MAX_SMALL_BODY, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR, "token server: not a JSON object");
      return NULL;
    }
  token = pd_json_object_get_string_nocase (json_node_get_object (root), "token");
  if (token == NULL || *token == '\0')
    token = pd_json_object_get_string_nocase (json_node_get_object (root), "access_token");
  if (token == NULL || *token == '\0' || pd_string_has_control_chars (token) ||
      strchr (token, ' ') != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR, "token server: no usable token");
      return NULL;
    }
  return g_strdup_printf ("Bearer %s", token);
}

void
pd_registry_reset_auth (PdRegistryClient *client)
{
  g_clear_pointer (&client->authorization, g_free);
  client->tried_plugin_scope = FALSE;
  client->tried_plain_scope = FALSE;
}

/* Answers a 401 from the registry: TRUE when new credentials are ready for a retry, FALSE
 * with RegistryUnauthorized (or the token server's error) when there is nothing left to try. */
gboolean
pd_registry_authenticate (PdRegistryClient *client, SoupMessage *msg, GCancellable *cancellable,
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
      pd_registry_client_log (client, "the token server refused the plugin scope (%s); trying "
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
