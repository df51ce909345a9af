/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-activate"

#include <string.h>

#include <json-glib/json-glib.h>

#include "pd-activate.h"
#include "pd-error.h"
#include "pd-json.h"

/* the spelling Docker's own plugins answer with */
static const char *const known_implements[] = {
  "authz", "VolumeDriver", "NetworkDriver", "IpamDriver", "LogDriver", "MetricsCollector",
};

/* "docker.volumedriver/1.0" → "volumedriver", NULL when not of that form */
static char *
interface_type_capability (const char *type)
{
  const char *slash;

  if (!g_str_has_prefix (type, "docker."))
    return NULL;
  slash = strchr (type, '/');
  if (slash == NULL || slash == type + strlen ("docker."))
    return NULL;
  return g_strndup (type + strlen ("docker."), (gsize) (slash - type - strlen ("docker.")));
}

GStrv
pd_activate_implements_from_config (const PdPluginConfig *config)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; config->interface_types != NULL && config->interface_types[i] != NULL; i++)
    {
      g_autofree char *cap = interface_type_capability (config->interface_types[i]);
      const char *name = cap;

      if (cap == NULL)
        continue;
      for (guint k = 0; k < G_N_ELEMENTS (known_implements); k++)
        if (g_ascii_strcasecmp (known_implements[k], cap) == 0)
          name = known_implements[k];
      g_strv_builder_add (builder, name);
    }
  return g_strv_builder_end (builder);
}

/* the answer to a 200: {"Implements": [...]}, covering every interface type of @config */
static GStrv
check_implements (const char *data, gsize len, const PdPluginConfig *config, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(JsonNode) root = pd_json_parse (data, len, PD_ACTIVATE_ANSWER_MAX, &local_error);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) implements = NULL;
  g_autoptr(GList) members = NULL;
  JsonArray *array = NULL;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_autofree char *escaped = pd_escape_untrusted (data, (gssize) MIN (len, 256));

      g_set_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED,
                   "Plugin.Activate: invalid response \"%s\" (%s)", escaped,
                   local_error != NULL ? local_error->message : "not an object");
      return NULL;
    }
  /* Go's decoder matches keys case-insensitively */
  members = json_object_get_members (json_node_get_object (root));
  for (GList *l = members; l != NULL; l = l->next)
    if (g_ascii_strcasecmp (l->data, "Implements") == 0)
      {
        JsonNode *node = json_object_get_member (json_node_get_object (root), l->data);

        if (JSON_NODE_HOLDS_ARRAY (node))
          array = json_node_get_array (node);
        else if (JSON_NODE_HOLDS_NULL (node))
          array = NULL;
        else
          {
            g_set_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED,
                         "Plugin.Activate: \"Implements\" is not a list");
            return NULL;
          }
      }
  /* it becomes the Implements property: as bounded as a config's Interface.Types */
  if (array != NULL && json_array_get_length (array) > PD_CONFIG_MAX_ENTRIES)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED,
                   "Plugin.Activate: \"Implements\" has more than %u entries",
                   PD_CONFIG_MAX_ENTRIES);
      return NULL;
    }
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED,
                       "Plugin.Activate: \"Implements\" holds a non-string");
          return NULL;
        }
      if (strlen (json_node_get_string (node)) > PD_CONFIG_NAME_MAX)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED,
                       "Plugin.Activate: an \"Implements\" entry is longer than %u bytes",
                       PD_CONFIG_NAME_MAX);
          return NULL;
        }
      g_strv_builder_add (builder, json_node_get_string (node));
    }
  implements = g_strv_builder_end (builder);

  for (guint i = 0; config->interface_types != NULL && config->interface_types[i] != NULL; i++)
    {
      g_autofree char *cap = interface_type_capability (config->interface_types[i]);
      gboolean covered = FALSE;

      for (guint k = 0; cap != NULL && implements[k] != NULL; k++)
        if (g_ascii_strcasecmp (implements[k], cap) == 0)
          covered = TRUE;
      if (!covered)
        {
          g_autofree char *joined = g_strjoinv (", ", implements);
          g_autofree char *escaped = pd_escape_untrusted (joined, -1);

          g_set_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED,
                       "Plugin.Activate: the plugin implements [%s], which does not cover "
                       "interface type %s", escaped, config->interface_types[i]);
          return NULL;
        }
    }
  return g_steal_pointer (&implements);
}

GStrv
pd_activate_check_answer (guint status, const char *data, gsize len,
                          const PdPluginConfig *config, GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *escaped = NULL;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (data == NULL)
    data = "";
  if (status == 200)
    return check_implements (data, len, config, error);
  if (status == 404)
    return pd_activate_implements_from_config (config);

  /* Docker's callWithRetry: {"Err": ...} if present, else the raw body */
  root = pd_json_parse (data, len, PD_ACTIVATE_ANSWER_MAX, NULL);
  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
    {
      JsonObject *object = json_node_get_object (root);
      g_autoptr(GList) members = json_object_get_members (object);

      for (GList *l = members; l != NULL; l = l->next)
        {
          JsonNode *node = json_object_get_member (object, l->data);

          if (g_ascii_strcasecmp (l->data, "Err") == 0 && JSON_NODE_HOLDS_VALUE (node) &&
              json_node_get_value_type (node) == G_TYPE_STRING)
            {
              g_free (text);
              text = g_strdup (json_node_get_string (node));
            }
        }
    }
  if (text == NULL)
    text = g_strndup (data, MIN (len, 1024));
  escaped = pd_escape_untrusted (text, -1);
  g_set_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED, "Plugin.Activate: HTTP %u: %s",
               status, escaped);
  return NULL;
}
