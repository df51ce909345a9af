/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-oci"

#include <string.h>

#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-oci.h"
#include "pd-reference.h"

/* a plugin manifest lists at most this many layers */

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
  gsize len = 0;
  const char *data = g_bytes_get_data (manifest, &len);
  g_autoptr(JsonNode) root = pd_json_parse (data, len, PD_MAX_MANIFEST_SIZE, NULL);

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  /* Go, and so the registries and Docker, decode keys case-insensitively */
  return g_strdup (pd_json_object_get_string_nocase (json_node_get_object (root), "mediaType"));
}

static const char * const layer_media_types[] = {
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.diff.tar",
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  NULL,
};

/* section: reading manifests and indexes */

/* the root object of a manifest or an index (@root keeps it alive), or NULL */
static JsonObject *
parse_object (GBytes *bytes, JsonNode **root, const char *what, GError **error)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(GError) local_error = NULL;

  *root = pd_json_parse (data, len, PD_MAX_MANIFEST_SIZE, &local_error);
  if (*root == NULL || !JSON_NODE_HOLDS_OBJECT (*root))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE, "invalid %s: %s", what,
                   local_error != NULL ? local_error->message : "not an object");
      return NULL;
    }
  return json_node_get_object (*root);
}

static const char *
get_string (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* a descriptor {mediaType, digest, size} with a valid digest and a sane size */
static PdDescriptor *
parse_descriptor (JsonNode *node, const char *what, GError **error)
{
  JsonObject *object;
  JsonNode *size_node;
  const char *media_type, *digest;
  gint64 size;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    goto invalid;
  object = json_node_get_object (node);
  media_type = get_string (object, "mediaType");
  digest = get_string (object, "digest");
  size_node = json_object_get_member (object, "size");
  if (media_type == NULL || digest == NULL || !pd_digest_is_valid (digest) || size_node == NULL ||
      !JSON_NODE_HOLDS_VALUE (size_node) || json_node_get_value_type (size_node) != G_TYPE_INT64)
    goto invalid;
  size = json_node_get_int (size_node);
  if (size < 0)
    goto invalid;
  return pd_descriptor_new (media_type, digest, (guint64) size);

invalid:
  g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
               "invalid manifest: bad %s descriptor", what);
  return NULL;
}

gboolean
pd_oci_media_type_is_index (const char *media_type)
{
  return g_strcmp0 (media_type, PD_MEDIA_TYPE_DOCKER_INDEX) == 0 ||
         g_strcmp0 (media_type, PD_MEDIA_TYPE_OCI_INDEX) == 0;
}

/* "os/arch[/variant]" */
static gboolean
platform_matches (JsonObject *platform, const char *wanted)
{
  g_auto(GStrv) parts = g_strsplit (wanted, "/", 3);
  const char *os = get_string (platform, "os");
  const char *arch = get_string (platform, "architecture");
  const char *variant = get_string (platform, "variant");

  if (g_strv_length (parts) < 2 || g_strcmp0 (os, parts[0]) != 0 ||
      g_strcmp0 (arch, parts[1]) != 0)
    return FALSE;
  /* a wanted variant must match; none wanted takes the first entry of the architecture */
  return parts[2] == NULL || g_strcmp0 (variant, parts[2]) == 0;
}

char *
pd_oci_pick_from_index (GBytes *index, const char *platform, GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GString) available = g_string_new (NULL);
  JsonObject *object = parse_object (index, &root, "image index", error);
  JsonNode *manifests;
  JsonArray *array;

  if (object == NULL)
    return NULL;
  manifests = json_object_get_member (object, "manifests");
  if (manifests == NULL || !JSON_NODE_HOLDS_ARRAY (manifests))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "invalid image index: no manifests");
      return NULL;
    }
  array = json_node_get_array (manifests);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *entry = json_array_get_element (array, i);
      JsonNode *platform_node;
      g_autoptr(PdDescriptor) descriptor = parse_descriptor (entry, "index entry", error);

      if (descriptor == NULL)
        return NULL;
      platform_node = json_object_get_member (json_node_get_object (entry), "platform");
      if (platform_node == NULL || !JSON_NODE_HOLDS_OBJECT (platform_node))
        continue;
      if (platform_matches (json_node_get_object (platform_node), platform))
        return g_strdup (descriptor->digest);
      {
        JsonObject *p = json_node_get_object (platform_node);
        g_autofree char *text = g_strdup_printf ("%s/%s%s%s", get_string (p, "os"),
                                                 get_string (p, "architecture"),
                                                 get_string (p, "variant") != NULL ? "/" : "",
                                                 get_string (p, "variant") != NULL
                                                   ? get_string (p, "variant") : "");
        g_autofree char *escaped = pd_escape_untrusted (text, -1);

        g_string_append_printf (available, "%s%s", available->len > 0 ? ", " : "", escaped);
      }
    }
  g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
               "the image index has no plugin for %s (it has: %s)", platform,
               available->len > 0 ? available->str : "none");
  return NULL;
}

gboolean
pd_oci_parse_manifest (GBytes *manifest, const char *media_type, PdDescriptor **config_out,
                       GPtrArray **layers_out, GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(PdDescriptor) config = NULL;
  g_autoptr(GPtrArray) layers_array = NULL;
  JsonObject *object = parse_object (manifest, &root, "manifest", error);
  JsonNode *layers, *schema;
  JsonArray *array;

  if (object == NULL)
    return FALSE;
  schema = json_object_get_member (object, "schemaVersion");
  if (schema == NULL || !JSON_NODE_HOLDS_VALUE (schema) ||
      json_node_get_value_type (schema) != G_TYPE_INT64 || json_node_get_int (schema) != 2)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "unsupported manifest: schemaVersion must be 2");
      return FALSE;
    }
  if (g_strcmp0 (media_type, PD_MEDIA_TYPE_DOCKER_MANIFEST) != 0 &&
      g_strcmp0 (media_type, PD_MEDIA_TYPE_OCI_MANIFEST) != 0)
    {
      g_autofree char *escaped = pd_escape_untrusted (media_type, -1);
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "unsupported manifest media type \"%s\"", escaped);
      return FALSE;
    }
  config = parse_descriptor (json_object_get_member (object, "config"), "config", error);
  if (config == NULL)
    return FALSE;
  if (!g_str_equal (config->media_type, PD_MEDIA_TYPE_PLUGIN_CONFIG))
    {
      g_autofree char *escaped = pd_escape_untrusted (config->media_type, -1);
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "not a plugin: the config has media type \"%s\", not %s", escaped,
                   PD_MEDIA_TYPE_PLUGIN_CONFIG);
      return FALSE;
    }
  if (config->size > PD_MAX_CONFIG_BLOB_SIZE)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the plugin config is larger than %d bytes", PD_MAX_CONFIG_BLOB_SIZE);
      return FALSE;
    }

  layers = json_object_get_member (object, "layers");
  if (layers == NULL || !JSON_NODE_HOLDS_ARRAY (layers))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "invalid manifest: no layers");
      return FALSE;
    }
  array = json_node_get_array (layers);
  if (json_array_get_length (array) == 0 || json_array_get_length (array) > PD_MAX_LAYERS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "invalid manifest: %u layers (1 to %d allowed)",
                   json_array_get_length (array), PD_MAX_LAYERS);
      return FALSE;
    }
  layers_array = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_descriptor_free);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      PdDescriptor *layer = parse_descriptor (json_array_get_element (array, i), "layer", error);

      if (layer == NULL)
        return FALSE;
      g_ptr_array_add (layers_array, layer);
      if (!g_strv_contains (layer_media_types, layer->media_type))
        {
          g_autofree char *escaped = pd_escape_untrusted (layer->media_type, -1);
          g_set_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE,
                       "unsupported layer media type \"%s\"", escaped);
          return FALSE;
        }
    }
  *config_out = g_steal_pointer (&config);
  *layers_out = g_steal_pointer (&layers_array);
  return TRUE;
}
