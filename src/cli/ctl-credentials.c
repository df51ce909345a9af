/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "ctl-common.h"
#include "ctl-credentials.h"
#include "ctl-format.h"
#include "pd-error.h"
#include "pd-json.h"
#include "pd-reference.h"

/* Registry credentials as Docker's CLI finds them (command.ResolveAuthConfig), sent to the
 * daemon as the registry-auth option in Docker's X-Registry-Auth form. The daemon uses them
 * only for the registry they name (docs/design.md, section Registries). */

/* ~/.docker/config.json */
#define CTL_MAX_DOCKER_CONFIG_SIZE (16 * 1024 * 1024)

/* Docker Hub's key in config.json (registry.IndexServer) */
#define CTL_DOCKER_HUB_KEY "https://index.docker.io/v1/"
#define CTL_DOCKER_HUB_DOMAIN "docker.io"

void
ctl_secret_free (CtlSecret *secret)
{
  if (secret != NULL)
    memset (secret, 0, strlen (secret));
  g_free (secret);
}

void
ctl_registry_auth_clear (CtlRegistryAuth *auth)
{
  g_clear_pointer (&auth->registry, g_free);
  g_clear_pointer (&auth->path, g_free);
  g_clear_pointer (&auth->header, ctl_secret_free);
}

/* Docker's CLI config of the calling user: $DOCKER_CONFIG/config.json, else
 * $HOME/.docker/config.json with $HOME as it is (sudo decides whose it is) */
static char *
docker_config_path (void)
{
  const char *dir = g_getenv ("DOCKER_CONFIG");
  const char *home = g_getenv ("HOME");

  if (dir != NULL && *dir != '\0')
    return g_build_filename (dir, "config.json", NULL);
  if (home == NULL || *home == '\0')
    home = g_get_home_dir ();
  return g_build_filename (home, ".docker", "config.json", NULL);
}

/* a member by name, case-insensitively as Go decodes JSON into a struct */
static JsonNode *
json_member_ci (JsonObject *object, const char *name)
{
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    if (g_ascii_strcasecmp (l->data, name) == 0)
      return json_object_get_member (object, l->data);
  return NULL;
}

static const char *
json_string_ci (JsonObject *object, const char *name)
{
  JsonNode *node = json_member_ci (object, name);

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return NULL;
}

static JsonObject *
json_object_ci (JsonObject *object, const char *name)
{
  JsonNode *node = json_member_ci (object, name);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/* the registry a config.json key names, as the daemon compares serveraddress: scheme and path
 * dropped, lower case, Docker Hub's hosts as "docker.io" */
static char *
registry_key_domain (const char *key)
{
  const char *start = key;
  const char *end;
  g_autofree char *host = NULL;

  if (g_ascii_strncasecmp (start, "https://", strlen ("https://")) == 0)
    start += strlen ("https://");
  else if (g_ascii_strncasecmp (start, "http://", strlen ("http://")) == 0)
    start += strlen ("http://");
  end = strchr (start, '/');
  host = end != NULL ? g_strndup (start, (gsize) (end - start)) : g_strdup (start);
  if (g_ascii_strcasecmp (host, "index.docker.io") == 0 ||
      g_ascii_strcasecmp (host, "registry-1.docker.io") == 0)
    return g_strdup (CTL_DOCKER_HUB_DOMAIN);
  return g_ascii_strdown (host, -1);
}

/* Docker's X-Registry-Auth: base64url (padded) of the JSON AuthConfig */
static CtlSecret *
encode_auth_config (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  g_autoptr(CtlSecret) json = NULL;
  gsize len = 0;
  char *encoded;

  json_generator_set_root (generator, root);
  json = json_generator_to_data (generator, &len);
  encoded = g_base64_encode ((const guchar *) json, len);
  for (char *p = encoded; *p != '\0'; p++)
    {
      if (*p == '+')
        *p = '-';
      else if (*p == '/')
        *p = '_';
    }
  return encoded;
}

/* X-Registry-Auth from the entry auths[@key] of the config file @path; NULL when the entry
 * holds no credentials. Never prints a credential. */
static CtlSecret *
encode_auth_entry (const char *key, JsonObject *entry, const char *path)
{
  const char *identity_token = json_string_ci (entry, "identitytoken");
  const char *auth = json_string_ci (entry, "auth");
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(CtlSecret) username = NULL;
  g_autoptr(CtlSecret) password = NULL;

  json_builder_begin_object (builder);
  if (identity_token != NULL && *identity_token != '\0')
    {
      json_builder_set_member_name (builder, "identitytoken");
      json_builder_add_string_value (builder, identity_token);
    }
  else
    {
      if (auth != NULL && *auth != '\0')
        {
          gsize len = 0;
          guchar *decoded = g_base64_decode (auth, &len);
          const char *text = (const char *) decoded;
          const char *colon = text != NULL ? memchr (text, ':', len) : NULL;

          if (colon != NULL && memchr (text, '\0', len) == NULL)
            {
              gsize user_len = (gsize) (colon - text);

              username = g_strndup (text, user_len);
              password = g_strndup (colon + 1, len - user_len - 1);
            }
          if (decoded != NULL)
            memset (decoded, 0, len);
          g_free (decoded);
          if (username == NULL)
            {
              g_autofree char *shown_key = ctl_escape_line (key);
              g_autofree char *shown_path = ctl_escape_line (path);

              g_printerr (_("WARNING: %s: the “auth” of “%s” is not the base64 of "
                            "“username:password”; it is not used\n"), shown_path, shown_key);
              return NULL;
            }
        }
      else
        {
          username = g_strdup (json_string_ci (entry, "username"));
          password = g_strdup (json_string_ci (entry, "password"));
        }
      if (username == NULL || *username == '\0')
        return NULL;
      json_builder_set_member_name (builder, "username");
      json_builder_add_string_value (builder, username);
      json_builder_set_member_name (builder, "password");
      json_builder_add_string_value (builder, password != NULL ? password : "");
    }
  /* the daemon sends the credentials only to this registry */
  json_builder_set_member_name (builder, "serveraddress");
  json_builder_add_string_value (builder, key);
  json_builder_end_object (builder);
  return encode_auth_config (builder);
}

/* the entry of auths keyed by the registry ("https://index.docker.io/v1/" for Docker Hub), else
 * one whose key names the same host with a scheme or a path */
void
ctl_registry_auth_load (CtlRegistryAuth *auth, const char *remote)
{
  static gboolean helper_note_shown;
  g_autoptr(PdReference) ref = pd_reference_parse (remote, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root_node = NULL;
  g_autoptr(CtlSecret) contents = NULL;
  g_autoptr(GList) members = NULL;
  g_autofree char *shown_path = NULL;
  JsonObject *root;
  JsonObject *auths;
  JsonObject *entry = NULL;
  JsonObject *helpers;
  const char *key = NULL;
  const char *config_key;
  const char *store;
  gboolean helper;
  gsize len = 0;

  if (ref == NULL)
    return;  /* the daemon names the error */
  auth->registry = g_ascii_strdown (ref->domain, -1);
  auth->path = docker_config_path ();
  shown_path = ctl_escape_line (auth->path);
  if (!g_file_get_contents (auth->path, &contents, &len, &error))
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) &&
          !g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR))
        {
          g_autofree char *message = ctl_escape_line (error->message);

          g_printerr (_("WARNING: Error loading config file: %s\n"), message);
        }
      return;
    }
  /* only the file's name is shown: it holds passwords */
  root_node = pd_json_parse (contents, len, CTL_MAX_DOCKER_CONFIG_SIZE, NULL);
  if (root_node == NULL || !JSON_NODE_HOLDS_OBJECT (root_node))
    {
      g_printerr (_("WARNING: Error loading config file: %s: not a JSON object\n"), shown_path);
      return;
    }
  root = json_node_get_object (root_node);

  config_key = g_str_equal (auth->registry, CTL_DOCKER_HUB_DOMAIN) ? CTL_DOCKER_HUB_KEY
                                                                   : auth->registry;
  auths = json_object_ci (root, "auths");
  if (auths != NULL)
    members = json_object_get_members (auths);
  for (GList *l = members; l != NULL && entry == NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (auths, l->data);

      if (g_str_equal (l->data, config_key) && JSON_NODE_HOLDS_OBJECT (node))
        {
          key = l->data;
          entry = json_node_get_object (node);
        }
    }
  for (GList *l = members; l != NULL && entry == NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (auths, l->data);
      g_autofree char *domain = registry_key_domain (l->data);

      if (g_str_equal (domain, auth->registry) && JSON_NODE_HOLDS_OBJECT (node))
        {
          key = l->data;
          entry = json_node_get_object (node);
        }
    }
  if (entry != NULL)
    auth->header = encode_auth_entry (key, entry, auth->path);
  if (auth->header != NULL)
    return;

  /* with a helper, auths holds no inline credentials: say why none are sent */
  store = json_string_ci (root, "credsStore");
  helper = store != NULL && *store != '\0';
  helpers = json_object_ci (root, "credHelpers");
  if (!helper && helpers != NULL)
    {
      g_autoptr(GList) names = json_object_get_members (helpers);

      for (GList *l = names; l != NULL && !helper; l = l->next)
        {
          g_autofree char *domain = registry_key_domain (l->data);

          helper = g_str_equal (domain, auth->registry);
        }
    }
  auth->helper = helper;
  if (helper && !helper_note_shown)
    {
      helper_note_shown = TRUE;
      g_printerr (_("Note: %s names a credential helper (credsStore or credHelpers) for %s; "
                    "pluginctl does not run credential helpers, so no credentials are sent.\n"),
                  shown_path, auth->registry);
    }
}

void
ctl_registry_auth_add_option (const CtlRegistryAuth *auth, GVariantBuilder *options)
{
  if (auth->header != NULL)
    g_variant_builder_add (options, "{sv}", "registry-auth",
                           g_variant_new_string (auth->header));
}

int
ctl_report_registry_error (GError *error, const CtlRegistryAuth *auth)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  int status = ctl_report_error (error);

  if (auth->registry != NULL && auth->path != NULL &&
      g_strcmp0 (name, pd_error_to_dbus_name (PD_ERROR_REGISTRY_UNAUTHORIZED)) == 0)
    {
      g_autofree char *shown_path = ctl_escape_line (auth->path);

      if (auth->header != NULL)
        g_printerr (_("Note: the registry %s refused the credentials for it in %s.\n"),
                    auth->registry, shown_path);
      else if (!auth->helper)
        g_printerr (_("Note: %s holds no credentials for %s "
                      "(add them with “docker login %s”).\n"),
                    shown_path, auth->registry, auth->registry);
    }
  return status;
}

