/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-oci"

#include <string.h>

#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-oci.h"
#include "pd-reference.h"

PdDescriptor *
pd_descriptor_new (const char *media_type, const char *digest, guint64 size)
{
  PdDescriptor *descriptor = g_new0 (PdDescriptor, 1);

  descriptor->media_type = g_strdup (media_type);
  descriptor->digest = g_strdup (digest);
  descriptor->size = size;
  return descriptor;
}

void
pd_descriptor_free (PdDescriptor *descriptor)
{
  if (descriptor == NULL)
    return;
  g_free (descriptor->media_type);
  g_free (descriptor->digest);
  g_free (descriptor);
}

static void
add_descriptor (JsonBuilder *builder, const PdDescriptor *descriptor)
{
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "mediaType");
  json_builder_add_string_value (builder, descriptor->media_type);
  json_builder_set_member_name (builder, "size");
  json_builder_add_int_value (builder, (gint64) descriptor->size);
  json_builder_set_member_name (builder, "digest");
  json_builder_add_string_value (builder, descriptor->digest);
  json_builder_end_object (builder);
}

char *
pd_oci_build_manifest (const PdDescriptor *config, GPtrArray *layers, gsize *len)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "schemaVersion");
  json_builder_add_int_value (builder, 2);
  /* the registry does not accept plugins unless the manifest says schema2 (moby) */
  json_builder_set_member_name (builder, "mediaType");
  json_builder_add_string_value (builder, PD_MEDIA_TYPE_DOCKER_MANIFEST);
  json_builder_set_member_name (builder, "config");
  add_descriptor (builder, config);
  json_builder_set_member_name (builder, "layers");
  json_builder_begin_array (builder);
  for (guint i = 0; layers != NULL && i < layers->len; i++)
    add_descriptor (builder, g_ptr_array_index (layers, i));
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, len);
}

static gboolean
collect_descriptor_digest (JsonNode *node, GPtrArray *out, GError **error)
{
  JsonObject *object;
  const char *digest;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "manifest descriptor is not an object");
      return FALSE;
    }
  object = json_node_get_object (node);
  digest = json_object_get_string_member_with_default (object, "digest", NULL);
  if (digest == NULL || !pd_digest_is_valid (digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "manifest descriptor has no valid sha256 digest");
      return FALSE;
    }
  g_ptr_array_add (out, g_strdup (digest));
  return TRUE;
}

GStrv
pd_oci_manifest_list_digests (const char *data, gsize len, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonNode) root_node = NULL;
  JsonObject *root;
  JsonArray *layers;
  JsonNode *node;

  root_node = pd_json_parse (data, len, PD_MAX_MANIFEST_SIZE, error);
  if (root_node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root_node))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE, "manifest is not an object");
      return NULL;
    }
  root = json_node_get_object (root_node);
  if (!collect_descriptor_digest (json_object_get_member (root, "config"), out, error))
    return NULL;
  node = json_object_get_member (root, "layers");
  if (node != NULL && !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE, "manifest layers is not an array");
      return NULL;
    }
  layers = node != NULL ? json_node_get_array (node) : NULL;
  for (guint i = 0; layers != NULL && i < json_array_get_length (layers); i++)
    if (!collect_descriptor_digest (json_array_get_element (layers, i), out, error))
      return NULL;
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_steal (out, NULL);
}

char *
pd_oci_manifest_get_media_type (GBytes *manifest)
{
  g_autoptr(GList) members = NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data (manifest, &len);
  g_autoptr(JsonNode) root = pd_json_parse (data, len, PD_MAX_MANIFEST_SIZE, NULL);
  JsonObject *object;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  object = json_node_get_object (root);
  /* Go, and so the registries and Docker, decode keys case-insensitively */
  members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (object, l->data);

      if (g_ascii_strcasecmp (l->data, "mediaType") == 0 && JSON_NODE_HOLDS_VALUE (node) &&
          json_node_get_value_type (node) == G_TYPE_STRING)
        return g_strdup (json_node_get_string (node));
    }
  return NULL;
}
