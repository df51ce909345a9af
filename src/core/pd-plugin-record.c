/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-plugin-record"

#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-plugin-record.h"
#include "pd-reference.h"

/*
 * Record file (plugin.json), version 1: one JSON object
 *
 *   {
 *     "version": 1,
 *     "id": "<64 hex>",
 *     "name": "vieux/sshfs:latest",
 *     "reference": "docker.io/vieux/sshfs:latest",      (absent when there is none)
 *     "config": { plugin.Config as pd_plugin_config_to_json() writes it },
 *     "config-digest": "sha256:<hex>",                   (absent when there is none)
 *     "manifest-digest": "sha256:<hex>",                 (absent when there is none)
 *     "layers": ["sha256:<hex>", ...],
 *     "settings": { "Mounts": [...], "Env": [...], "Args": [...], "Devices": [...] },
 *     "user-set": ["env:DEBUG", "mount:data", "device:fuse", "args:args", ...],
 *     "enabled": false,
 *     "created": <realtime µs>,
 *     "updated": <realtime µs>
 *   }
 *
 * "user-set" names the settings the user set (PdPluginSettings.user_set), which an upgrade
 * keeps; a record written before it existed has none, and then the settings that differ from
 * the config's defaults count as set (pd_plugin_settings_restore_user_set()).
 *
 * Unknown keys are ignored so that a newer minor addition does not make an older daemon drop
 * the plugin; a different "version" is refused.
 */
#define RECORD_VERSION 1

struct _PdPluginRecord {
  GObject parent_instance;

  char *id;
  char *name;
  char *reference;
  PdPluginConfig *config;
  char *config_digest;
  char *manifest_digest;
  GStrv layer_digests;
  PdPluginSettings *settings;
  gboolean enabled;
  guint64 created;
  guint64 updated;
};

enum {
  PROP_0,
  PROP_ID,
  PROP_NAME,
  PROP_ENABLED,
  PROP_SETTINGS,
  PROP_UPDATED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (PdPluginRecord, pd_plugin_record, G_TYPE_OBJECT)

static void
pd_plugin_record_finalize (GObject *object)
{
  PdPluginRecord *self = PD_PLUGIN_RECORD (object);

  g_free (self->id);
  g_free (self->name);
  g_free (self->reference);
  g_clear_pointer (&self->config, pd_plugin_config_free);
  g_free (self->config_digest);
  g_free (self->manifest_digest);
  g_strfreev (self->layer_digests);
  g_clear_pointer (&self->settings, pd_plugin_settings_free);

  G_OBJECT_CLASS (pd_plugin_record_parent_class)->finalize (object);
}

static void
pd_plugin_record_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  PdPluginRecord *self = PD_PLUGIN_RECORD (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_ENABLED:
      g_value_set_boolean (value, self->enabled);
      break;
    case PROP_SETTINGS:
      g_value_set_pointer (value, self->settings);
      break;
    case PROP_UPDATED:
      g_value_set_uint64 (value, self->updated);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pd_plugin_record_set_property (GObject *object, guint prop_id, const GValue *value,
                               GParamSpec *pspec)
{
  PdPluginRecord *self = PD_PLUGIN_RECORD (object);

  switch (prop_id)
    {
    case PROP_ENABLED:
      pd_plugin_record_set_enabled (self, g_value_get_boolean (value));
      break;
    case PROP_UPDATED:
      pd_plugin_record_set_updated (self, g_value_get_uint64 (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pd_plugin_record_class_init (PdPluginRecordClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pd_plugin_record_finalize;
  object_class->get_property = pd_plugin_record_get_property;
  object_class->set_property = pd_plugin_record_set_property;

  properties[PROP_ID] =
    g_param_spec_string ("id", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* notify only on a real change, so the D-Bus layer emits PropertiesChanged only then */
  properties[PROP_ENABLED] =
    g_param_spec_boolean ("enabled", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* a const PdPluginSettings *; replaced through pd_plugin_record_set_settings() */
  properties[PROP_SETTINGS] =
    g_param_spec_pointer ("settings", NULL, NULL,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_UPDATED] =
    g_param_spec_uint64 ("updated", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
pd_plugin_record_init (PdPluginRecord *self)
{
}

static GStrv
copy_strv_or_empty (const char *const *strv)
{
  return strv != NULL ? g_strdupv ((GStrv) strv) : g_new0 (char *, 1);
}

PdPluginRecord *
pd_plugin_record_new (const char *id,
                      const char *name,
                      const char *reference,
                      PdPluginConfig *config,
                      const char *config_digest,
                      const char *manifest_digest,
                      const char *const *layer_digests)
{
  PdPluginRecord *self;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (PD_TYPE_PLUGIN_RECORD, NULL);
  self->id = g_strdup (id);
  self->name = g_strdup (name);
  self->reference = (reference != NULL && *reference != '\0') ? g_strdup (reference) : NULL;
  self->config = config;
  self->config_digest = g_strdup (config_digest);
  self->manifest_digest = g_strdup (manifest_digest);
  self->layer_digests = copy_strv_or_empty (layer_digests);
  /* Docker's InitEmptySettings, but as deep copies: a Set must not change the config */
  self->settings = pd_plugin_settings_new_from_config (config);
  self->created = (guint64) g_get_real_time ();
  self->updated = self->created;
  return self;
}

PdPluginRecord *
pd_plugin_record_new_upgraded (PdPluginRecord *self,
                               const char *reference,
                               PdPluginConfig *config,
                               const char *config_digest,
                               const char *manifest_digest,
                               const char *const *layer_digests,
                               PdPluginSettings *settings)
{
  PdPluginRecord *upgraded;

  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  g_return_val_if_fail (settings != NULL, NULL);

  upgraded = pd_plugin_record_new (self->id, self->name, reference, config, config_digest,
                                   manifest_digest, layer_digests);
  pd_plugin_settings_free (upgraded->settings);
  upgraded->settings = settings;
  upgraded->enabled = self->enabled;
  upgraded->created = self->created;
  return upgraded;
}

void
pd_plugin_record_take_image (PdPluginRecord *self, PdPluginRecord *upgraded)
{
  g_return_if_fail (PD_IS_PLUGIN_RECORD (self));
  g_return_if_fail (PD_IS_PLUGIN_RECORD (upgraded));
  g_return_if_fail (g_str_equal (self->id, upgraded->id));

  g_free (self->reference);
  self->reference = g_strdup (upgraded->reference);
  pd_plugin_config_free (self->config);
  self->config = pd_plugin_config_pack (pd_plugin_config_copy (upgraded->config));
  g_free (self->config_digest);
  self->config_digest = g_strdup (upgraded->config_digest);
  g_free (self->manifest_digest);
  self->manifest_digest = g_strdup (upgraded->manifest_digest);
  g_strfreev (self->layer_digests);
  self->layer_digests = g_strdupv (upgraded->layer_digests);
  pd_plugin_record_set_settings (self, pd_plugin_settings_copy (upgraded->settings));
  pd_plugin_record_set_updated (self, upgraded->updated);
}

const char *
pd_plugin_record_get_id (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return self->id;
}

const char *
pd_plugin_record_get_name (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return self->name;
}

const char *
pd_plugin_record_get_reference (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  /* Docker shows a created plugin's name as its PluginReference */
  return self->reference != NULL ? self->reference : self->name;
}

const char *
pd_plugin_record_get_remote (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return self->reference;
}

const char *
pd_plugin_record_get_config_digest (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return self->config_digest;
}

const char *
pd_plugin_record_get_manifest_digest (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return self->manifest_digest;
}

const char *const *
pd_plugin_record_get_layer_digests (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return (const char *const *) self->layer_digests;
}

const PdPluginConfig *
pd_plugin_record_get_config (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return self->config;
}

const PdPluginSettings *
pd_plugin_record_get_settings (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return self->settings;
}

void
pd_plugin_record_set_settings (PdPluginRecord *self, PdPluginSettings *settings)
{
  g_return_if_fail (PD_IS_PLUGIN_RECORD (self));
  g_return_if_fail (settings != NULL);

  if (settings == self->settings)
    return;
  g_clear_pointer (&self->settings, pd_plugin_settings_free);
  self->settings = settings;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SETTINGS]);
}

gboolean
pd_plugin_record_get_enabled (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), FALSE);
  return self->enabled;
}

void
pd_plugin_record_set_enabled (PdPluginRecord *self, gboolean enabled)
{
  g_return_if_fail (PD_IS_PLUGIN_RECORD (self));

  enabled = !!enabled;
  if (self->enabled == enabled)
    return;
  self->enabled = enabled;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ENABLED]);
}

guint64
pd_plugin_record_get_created (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), 0);
  return self->created;
}

guint64
pd_plugin_record_get_updated (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), 0);
  return self->updated;
}

void
pd_plugin_record_set_updated (PdPluginRecord *self, guint64 updated)
{
  g_return_if_fail (PD_IS_PLUGIN_RECORD (self));

  if (self->updated == updated)
    return;
  self->updated = updated;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UPDATED]);
}

GPtrArray *
pd_plugin_record_dup_privileges (PdPluginRecord *self)
{
  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);
  return pd_privileges_compute (self->config, self->settings);
}

/* record file */

static void
add_string_member (JsonBuilder *builder, const char *name, const char *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

char *
pd_plugin_record_to_data (PdPluginRecord *self, gsize *len)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;

  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, RECORD_VERSION);
  add_string_member (builder, "id", self->id);
  add_string_member (builder, "name", self->name);
  if (self->reference != NULL)
    add_string_member (builder, "reference", self->reference);
  json_builder_set_member_name (builder, "config");
  json_builder_add_value (builder, pd_plugin_config_to_json (self->config));
  if (self->config_digest != NULL)
    add_string_member (builder, "config-digest", self->config_digest);
  if (self->manifest_digest != NULL)
    add_string_member (builder, "manifest-digest", self->manifest_digest);
  json_builder_set_member_name (builder, "layers");
  json_builder_begin_array (builder);
  for (gsize i = 0; self->layer_digests[i] != NULL; i++)
    json_builder_add_string_value (builder, self->layer_digests[i]);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "settings");
  json_builder_add_value (builder, pd_plugin_settings_to_json (self->settings));
  json_builder_set_member_name (builder, "user-set");
  json_builder_begin_array (builder);
  for (gsize i = 0; self->settings->user_set[i] != NULL; i++)
    json_builder_add_string_value (builder, self->settings->user_set[i]);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "enabled");
  json_builder_add_boolean_value (builder, self->enabled);
  json_builder_set_member_name (builder, "created");
  json_builder_add_int_value (builder, (gint64) self->created);
  json_builder_set_member_name (builder, "updated");
  json_builder_add_int_value (builder, (gint64) self->updated);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  /* pretty: an administrator reading the state dir should be able to */
  json_generator_set_pretty (generator, TRUE);
  return json_generator_to_data (generator, len);
}

static gboolean
invalid (GError **error, const char *key, const char *what)
{
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "invalid plugin record: %s %s", key, what);
  return FALSE;
}

/* @key of @object as a string; absent is allowed unless @required; NUL and control characters
 * are not */
static gboolean
get_string (JsonObject *object, const char *key, gboolean required, const char **out,
            GError **error)
{
  JsonNode *node = json_object_get_member (object, key);
  const char *value;

  *out = NULL;
  if (node == NULL || (!required && JSON_NODE_HOLDS_NULL (node)))
    {
      if (required)
        return invalid (error, key, "is missing");
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return invalid (error, key, "is not a string");
  value = json_node_get_string (node);
  for (const char *p = value; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return invalid (error, key, "contains control characters");
  if (!g_utf8_validate (value, -1, NULL))
    return invalid (error, key, "is not UTF-8");
  *out = value;
  return TRUE;
}

static gboolean
get_int (JsonObject *object, const char *key, gint64 *out, GError **error)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL)
    return invalid (error, key, "is missing");
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return invalid (error, key, "is not an integer");
  *out = json_node_get_int (node);
  return TRUE;
}

/* how many settings @config declares: env vars, mounts, devices and the args */
static guint
count_settings (const PdPluginConfig *config)
{
  return (config->env != NULL ? config->env->len : 0)
         + (config->mounts != NULL ? config->mounts->len : 0)
         + (config->linux_devices != NULL ? config->linux_devices->len : 0) + 1;
}

PdPluginRecord *
pd_plugin_record_new_from_data (const char *data, gsize len, GError **error)
{
  g_autoptr(JsonNode) root_node = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) layers = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) user_set = NULL;
  g_autoptr(PdPluginRecord) self = NULL;
  const char *id, *name, *reference, *config_digest, *manifest_digest;
  JsonObject *root;
  JsonNode *node;
  gint64 version, created, updated;

  root_node = pd_json_parse (data, len, PD_PLUGIN_RECORD_MAX_SIZE, &local_error);
  if (root_node == NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "invalid plugin record: %s",
                   local_error->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root_node))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "invalid plugin record: not a JSON object");
      return NULL;
    }
  root = json_node_get_object (root_node);

  if (!get_int (root, "version", &version, error))
    return NULL;
  if (version != RECORD_VERSION)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "invalid plugin record: unsupported version %" G_GINT64_FORMAT, version);
      return NULL;
    }

  if (!get_string (root, "id", TRUE, &id, error)
      || !get_string (root, "name", TRUE, &name, error)
      || !get_string (root, "reference", FALSE, &reference, error)
      || !get_string (root, "config-digest", FALSE, &config_digest, error)
      || !get_string (root, "manifest-digest", FALSE, &manifest_digest, error)
      || !get_int (root, "created", &created, error)
      || !get_int (root, "updated", &updated, error))
    return NULL;
  if (!pd_plugin_id_is_valid (id))
    {
      invalid (error, "id", "is not 64 hex digits");
      return NULL;
    }
  if (*name == '\0')
    {
      invalid (error, "name", "is empty");
      return NULL;
    }
  if ((config_digest != NULL && !pd_digest_is_valid (config_digest))
      || (manifest_digest != NULL && !pd_digest_is_valid (manifest_digest)))
    {
      invalid (error, "digest", "is not a sha256 digest");
      return NULL;
    }
  if (created < 0 || updated < 0)
    {
      invalid (error, "time", "is negative");
      return NULL;
    }

  node = json_object_get_member (root, "layers");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      invalid (error, "layers", "is not an array");
      return NULL;
    }
  for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
    {
      JsonNode *element = json_array_get_element (json_node_get_array (node), i);

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING
          || !pd_digest_is_valid (json_node_get_string (element)))
        {
          invalid (error, "layers", "holds something that is not a sha256 digest");
          return NULL;
        }
      g_ptr_array_add (layers, g_strdup (json_node_get_string (element)));
    }
  g_ptr_array_add (layers, NULL);

  node = json_object_get_member (root, "enabled");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      invalid (error, "enabled", "is not a boolean");
      return NULL;
    }

  /* the config goes through the same validation as any config from outside */
  node = json_object_get_member (root, "config");
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      invalid (error, "config", "is not an object");
      return NULL;
    }
  config = pd_plugin_config_new_from_json (node, error);
  if (config == NULL)
    {
      pd_error_convert (error);
      g_prefix_error (error, "invalid plugin record: ");
      return NULL;
    }

  node = json_object_get_member (root, "settings");
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      invalid (error, "settings", "is not an object");
      return NULL;
    }
  settings = pd_plugin_settings_new_from_json (node, error);
  if (settings == NULL)
    {
      pd_error_convert (error);
      g_prefix_error (error, "invalid plugin record: ");
      return NULL;
    }

  /* absent from records written before it was kept: pd_plugin_settings_restore_user_set()
   * then infers it */
  node = json_object_get_member (root, "user-set");
  if (node != NULL)
    {
      JsonArray *array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

      if (array == NULL)
        {
          invalid (error, "user-set", "is not an array");
          return NULL;
        }
      /* each setting the config declares once at most: a longer list is not one we wrote, and
       * is not looked through */
      if (json_array_get_length (array) > count_settings (config))
        {
          invalid (error, "user-set", "names more settings than the config declares");
          return NULL;
        }
      user_set = g_ptr_array_new ();
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);

          if (!JSON_NODE_HOLDS_VALUE (element)
              || json_node_get_value_type (element) != G_TYPE_STRING)
            {
              invalid (error, "user-set", "holds something that is not a string");
              return NULL;
            }
          g_ptr_array_add (user_set, (gpointer) json_node_get_string (element));
        }
      g_ptr_array_add (user_set, NULL);
    }

  /* a loaded record's config is only read: one block (a daemon keeps one per plugin) */
  self = pd_plugin_record_new (id, name, reference,
                               pd_plugin_config_pack (g_steal_pointer (&config)), config_digest,
                               manifest_digest, (const char *const *) layers->pdata);
  /* only what the config declares, so a damaged list cannot keep anything else */
  pd_plugin_settings_restore_user_set (settings, self->config,
                                       user_set != NULL ? (const char *const *) user_set->pdata
                                                        : NULL);
  g_clear_pointer (&self->settings, pd_plugin_settings_free);
  self->settings = g_steal_pointer (&settings);
  self->enabled = json_object_get_boolean_member (root, "enabled");
  self->created = (guint64) created;
  self->updated = (guint64) updated;
  return g_steal_pointer (&self);
}

/* Docker's Plugin object */

static void
add_member_copy (JsonBuilder *builder, JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  json_builder_set_member_name (builder, name);
  if (node != NULL)
    json_builder_add_value (builder, json_node_copy (node));
  else
    json_builder_add_null_value (builder);
}

char *
pd_plugin_record_to_docker_json (PdPluginRecord *self, gboolean show_values)
{
  return pd_plugin_record_to_docker_json_with_state (self, show_values, NULL);
}

char *
pd_plugin_record_to_docker_json_with_state (PdPluginRecord *self,
                                            gboolean show_values,
                                            JsonNode *state)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) settings = NULL;
  g_autoptr(PdPluginSettings) hidden = NULL;
  JsonObject *settings_object;

  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (self), NULL);

  if (!show_values)
    hidden = pd_plugin_settings_copy_hidden (self->settings);
  settings = pd_plugin_settings_to_json (show_values ? self->settings : hidden);
  settings_object = json_node_get_object (settings);

  /* api/types/plugin.Plugin: the members in the order Go's encoder writes them (struct field
   * order), Id and PluginReference omitted when empty */
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "Config");
  json_builder_add_value (builder, pd_plugin_config_to_json (self->config));
  json_builder_set_member_name (builder, "Enabled");
  json_builder_add_boolean_value (builder, self->enabled);
  add_string_member (builder, "Id", self->id);
  add_string_member (builder, "Name", self->name);
  add_string_member (builder, "PluginReference", pd_plugin_record_get_reference (self));
  /* plugin.Settings declares Args, Devices, Env, Mounts in that order */
  json_builder_set_member_name (builder, "Settings");
  json_builder_begin_object (builder);
  add_member_copy (builder, settings_object, "Args");
  add_member_copy (builder, settings_object, "Devices");
  add_member_copy (builder, settings_object, "Env");
  add_member_copy (builder, settings_object, "Mounts");
  json_builder_end_object (builder);
  /* plugind's own, after Docker's members, which stay as they are */
  if (state != NULL)
    {
      json_builder_set_member_name (builder, "State");
      json_builder_add_value (builder, json_node_copy (state));
    }
  json_builder_end_object (builder);

  /* json.Marshal's output: compact, HTML-escaped, members in the order built above */
  root = json_builder_get_root (builder);
  return pd_json_to_go_data (root, NULL);
}
