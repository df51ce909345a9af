/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-settings"

#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-plugin-settings.h"

static PdPluginSettings *
pd_plugin_settings_new_empty (void)
{
  PdPluginSettings *settings = g_new0 (PdPluginSettings, 1);

  settings->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_config_mount_free);
  settings->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_config_device_free);
  settings->user_set = g_new0 (char *, 1);
  return settings;
}

PdPluginSettings *
pd_plugin_settings_new_from_config (const PdPluginConfig *config)
{
  PdPluginSettings *settings;
  g_autoptr(GStrvBuilder) env = g_strv_builder_new ();

  g_return_val_if_fail (config != NULL, NULL);

  /* deep copies: Docker shared the Source/Path pointers with the config, so a Set changed the
   * config too, until the first reload split them again */
  settings = g_new0 (PdPluginSettings, 1);
  settings->mounts = pd_config_mounts_copy (config->mounts);
  settings->devices = pd_config_devices_copy (config->linux_devices);
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];
      if (e->value != NULL)
        {
          g_autofree char *entry = g_strdup_printf ("%s=%s", e->name, e->value);
          g_strv_builder_add (env, entry);
        }
    }
  settings->env = g_strv_builder_end (env);
  settings->args = config->args_value != NULL ? g_strdupv (config->args_value) : g_new0 (char *, 1);
  settings->user_set = g_new0 (char *, 1);
  return settings;
}

PdPluginSettings *
pd_plugin_settings_copy (const PdPluginSettings *settings)
{
  PdPluginSettings *copy;

  g_return_val_if_fail (settings != NULL, NULL);

  copy = g_new0 (PdPluginSettings, 1);
  copy->mounts = pd_config_mounts_copy (settings->mounts);
  copy->devices = pd_config_devices_copy (settings->devices);
  copy->env = settings->env != NULL ? g_strdupv (settings->env) : g_new0 (char *, 1);
  copy->args = settings->args != NULL ? g_strdupv (settings->args) : g_new0 (char *, 1);
  copy->user_set = settings->user_set != NULL ? g_strdupv (settings->user_set) : g_new0 (char *, 1);
  return copy;
}

GStrv
pd_plugin_settings_dup_env_names (const PdPluginSettings *settings)
{
  GPtrArray *names = g_ptr_array_new ();

  g_return_val_if_fail (settings != NULL, NULL);

  for (guint i = 0; settings->env != NULL && settings->env[i] != NULL; i++)
    g_ptr_array_add (names, g_strndup (settings->env[i], strcspn (settings->env[i], "=")));
  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_free (names, FALSE);
}

PdPluginSettings *
pd_plugin_settings_copy_hidden (const PdPluginSettings *settings)
{
  PdPluginSettings *copy;

  g_return_val_if_fail (settings != NULL, NULL);

  copy = pd_plugin_settings_copy (settings);
  for (guint i = 0; copy->env[i] != NULL; i++)
    {
      gsize name_len = strcspn (copy->env[i], "=");

      char *hidden;

      /* an entry without "=" has no value to hide */
      if (copy->env[i][name_len] == '\0')
        continue;
      hidden = g_strdup_printf ("%.*s=%s", (int) name_len, copy->env[i], PD_HIDDEN_VALUE);
      g_free (copy->env[i]);
      copy->env[i] = hidden;
    }
  for (guint i = 0; copy->args[i] != NULL; i++)
    {
      g_free (copy->args[i]);
      copy->args[i] = g_strdup (PD_HIDDEN_VALUE);
    }
  return copy;
}

void
pd_plugin_settings_free (PdPluginSettings *settings)
{
  if (settings == NULL)
    return;
  g_clear_pointer (&settings->mounts, g_ptr_array_unref);
  g_clear_pointer (&settings->devices, g_ptr_array_unref);
  g_strfreev (settings->env);
  g_strfreev (settings->args);
  g_strfreev (settings->user_set);
  g_free (settings);
}

/* the settings entry that overrides config entry @index: the same index when the name agrees
 * (names may be empty or repeated), else the first entry of that name */
static gint
settings_index_for (GPtrArray *settings_items, gsize name_offset, const char *name, guint index)
{
  if (settings_items == NULL)
    return -1;
  if (index < settings_items->len &&
      g_strcmp0 (G_STRUCT_MEMBER (char *, settings_items->pdata[index], name_offset), name) == 0)
    return (gint) index;
  for (guint i = 0; i < settings_items->len; i++)
    if (g_strcmp0 (G_STRUCT_MEMBER (char *, settings_items->pdata[i], name_offset), name) == 0)
      return (gint) i;
  return -1;
}

const char *
pd_plugin_settings_get_mount_source (const PdPluginSettings *settings,
                                     const PdPluginConfig *config, guint index)
{
  const PdConfigMount *m = config->mounts->pdata[index];
  gint j;

  if (settings == NULL)
    return m->source;
  j = settings_index_for (settings->mounts, G_STRUCT_OFFSET (PdConfigMount, name), m->name,
                          index);
  return j >= 0 ? ((PdConfigMount *) settings->mounts->pdata[j])->source : m->source;
}

const char *
pd_plugin_settings_get_device_path (const PdPluginSettings *settings,
                                    const PdPluginConfig *config, guint index)
{
  const PdConfigDevice *d = config->linux_devices->pdata[index];
  gint j;

  if (settings == NULL)
    return d->path;
  j = settings_index_for (settings->devices, G_STRUCT_OFFSET (PdConfigDevice, name), d->name,
                          index);
  return j >= 0 ? ((PdConfigDevice *) settings->devices->pdata[j])->path : d->path;
}

/* Go's order for plugin.Settings: Args, Devices, Env, Mounts */
JsonNode *
pd_plugin_settings_to_json (const PdPluginSettings *settings)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  g_return_val_if_fail (settings != NULL, NULL);

  json_builder_begin_object (b);
  pd_json_builder_add_strv (b, "Args", (const char *const *) settings->args);
  pd_config_devices_add_to_builder (b, "Devices", settings->devices);
  pd_json_builder_add_strv (b, "Env", (const char *const *) settings->env);
  pd_config_mounts_add_to_builder (b, "Mounts", settings->mounts);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* settings are read back from our own records, which json-glib already parsed; still check
 * every type, since a record on disk may have been damaged or edited */

static JsonNode *
json_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  g_autoptr(GList) members = NULL;

  if (node != NULL)
    return node;
  members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    if (g_ascii_strcasecmp (l->data, name) == 0)
      return json_object_get_member (object, l->data);
  return NULL;
}

static gboolean
settings_fail (GError **error, const char *path, const char *expected)
{
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "settings: %s must be %s", path, expected);
  return FALSE;
}

static gboolean
json_get_string (JsonObject *object, const char *parent, const char *name, gboolean nullable,
                 char **out, GError **error)
{
  JsonNode *node = json_member (object, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!nullable)
        *out = g_strdup ("");
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_autofree char *path = pd_json_path_join (parent, name);
      return settings_fail (error, path, nullable ? "a string or null" : "a string");
    }
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
json_get_strv (JsonObject *object, const char *parent, const char *name, GStrv *out,
               GError **error)
{
  JsonNode *node = json_member (object, name);
  g_autofree char *path = pd_json_path_join (parent, name);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  JsonArray *array;

  /* null stays NULL (written back as null), as in the config */
  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return settings_fail (error, path, "an array of strings");
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *item = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_VALUE (item) || json_node_get_value_type (item) != G_TYPE_STRING)
        return settings_fail (error, path, "an array of strings");
      g_strv_builder_add (builder, json_node_get_string (item));
    }
  *out = g_strv_builder_end (builder);
  return TRUE;
}

static JsonArray *
json_get_array (JsonObject *object, const char *name, gboolean *ok)
{
  JsonNode *node = json_member (object, name);

  *ok = TRUE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      *ok = FALSE;
      return NULL;
    }
  return json_node_get_array (node);
}

PdPluginSettings *
pd_plugin_settings_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_empty ();
  JsonObject *root;
  JsonArray *mounts, *devices;
  gboolean ok;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      settings_fail (error, "the top-level value", "an object");
      return NULL;
    }
  root = json_node_get_object (node);

  if (!json_get_strv (root, NULL, "Args", &settings->args, error) ||
      !json_get_strv (root, NULL, "Env", &settings->env, error))
    return NULL;
  /* Docker's settings always have these lists, if empty */
  if (settings->args == NULL)
    settings->args = g_new0 (char *, 1);
  if (settings->env == NULL)
    settings->env = g_new0 (char *, 1);

  mounts = json_get_array (root, "Mounts", &ok);
  if (!ok)
    {
      settings_fail (error, "Mounts", "an array");
      return NULL;
    }
  for (guint i = 0; mounts != NULL && i < json_array_get_length (mounts); i++)
    {
      g_autofree char *path = g_strdup_printf ("Mounts[%u]", i);
      g_autoptr(PdConfigMount) m = g_new0 (PdConfigMount, 1);
      JsonNode *item = json_array_get_element (mounts, i);
      JsonObject *o;

      if (!JSON_NODE_HOLDS_OBJECT (item))
        {
          settings_fail (error, path, "an object");
          return NULL;
        }
      o = json_node_get_object (item);
      if (!json_get_string (o, path, "Name", FALSE, &m->name, error) ||
          !json_get_string (o, path, "Description", FALSE, &m->description, error) ||
          !json_get_strv (o, path, "Settable", &m->settable, error) ||
          !json_get_string (o, path, "Source", TRUE, &m->source, error) ||
          !json_get_string (o, path, "Destination", FALSE, &m->destination, error) ||
          !json_get_string (o, path, "Type", FALSE, &m->type, error) ||
          !json_get_strv (o, path, "Options", &m->options, error))
        return NULL;
      g_ptr_array_add (settings->mounts, g_steal_pointer (&m));
    }

  devices = json_get_array (root, "Devices", &ok);
  if (!ok)
    {
      settings_fail (error, "Devices", "an array");
      return NULL;
    }
  for (guint i = 0; devices != NULL && i < json_array_get_length (devices); i++)
    {
      g_autofree char *path = g_strdup_printf ("Devices[%u]", i);
      g_autoptr(PdConfigDevice) d = g_new0 (PdConfigDevice, 1);
      JsonNode *item = json_array_get_element (devices, i);
      JsonObject *o;

      if (!JSON_NODE_HOLDS_OBJECT (item))
        {
          settings_fail (error, path, "an object");
          return NULL;
        }
      o = json_node_get_object (item);
      if (!json_get_string (o, path, "Name", FALSE, &d->name, error) ||
          !json_get_string (o, path, "Description", FALSE, &d->description, error) ||
          !json_get_strv (o, path, "Settable", &d->settable, error) ||
          !json_get_string (o, path, "Path", TRUE, &d->path, error))
        return NULL;
      g_ptr_array_add (settings->devices, g_steal_pointer (&d));
    }

  return g_steal_pointer (&settings);
}

/* section: what the user set */

/* the name of a setting in user_set: its kind and its name in the config */
static char *
setting_id (const char *kind, const char *name)
{
  return g_strconcat (kind, ":", name != NULL ? name : "", NULL);
}

static gboolean
user_set_contains (const PdPluginSettings *settings, const char *kind, const char *name)
{
  g_autofree char *id = setting_id (kind, name);

  return settings->user_set != NULL
         && g_strv_contains ((const char *const *) settings->user_set, id);
}

/* appends @id (taken) to user_set, unless it is there already */
static void
user_set_take (PdPluginSettings *settings, char *id)
{
  guint n = settings->user_set != NULL ? g_strv_length (settings->user_set) : 0;

  if (n > 0 && g_strv_contains ((const char *const *) settings->user_set, id))
    {
      g_free (id);
      return;
    }
  settings->user_set = g_renew (char *, settings->user_set, n + 2);
  settings->user_set[n] = id;
  settings->user_set[n + 1] = NULL;
}

static void
user_set_add (PdPluginSettings *settings, const char *kind, const char *name)
{
  /* Set reaches a setting by its name: one without a name is never the user's */
  if (name != NULL && *name != '\0')
    user_set_take (settings, setting_id (kind, name));
}

/* section: Docker's Set grammar */

#define SET_ERR_INVALID_FORMAT "invalid format, must be <name>[.<field>][=<value>]"
#define SET_ERR_MULTIPLE       "multiple fields are settable, one must be specified"

static const char *const allowed_env[] = { "value", NULL };
static const char *const allowed_args[] = { "value", NULL };
static const char *const allowed_devices[] = { "path", NULL };
static const char *const allowed_mounts[] = { "source", NULL };

/* Go's %q for the strings we quote: printable text as is, the rest escaped; cut (and marked)
 * after PD_UNTRUSTED_QUOTE_MAX bytes, since the text is the caller's */
static char *
go_quote (const char *s)
{
  GString *out = g_string_new ("\"");
  const char *p = s;

  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (out->len > PD_UNTRUSTED_QUOTE_MAX)
        {
          g_string_append (out, PD_CUT_MARK);
          break;
        }
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02x", (guchar) *p);
          p++;
          continue;
        }
      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\a': g_string_append (out, "\\a"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\v': g_string_append (out, "\\v"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\x%02x", c);
          else if (!g_unichar_isprint (c))
            g_string_append_printf (out, c > 0xffff ? "\\U%08x" : "\\u%04x", c);
          else
            g_string_append_unichar (out, c);
        }
      p = g_utf8_next_char (p);
    }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

typedef struct {
  char *name;
  char *field;   /* "" when none was given */
  const char *value;
} Settable;

static void
settable_clear (Settable *set)
{
  g_free (set->name);
  g_free (set->field);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Settable, settable_clear)

static char *
settable_pretty_name (const Settable *set)
{
  if (set->field[0] != '\0')
    return g_strdup_printf ("%s.%s", set->name, set->field);
  return g_strdup (set->name);
}

/* Docker isSettable: with no field, a single settable field is implied; the field must be both
 * allowed for the kind and listed in the config's Settable */
static gboolean
settable_check (Settable *set, const char *const *allowed, const char *const *settable,
                GError **error)
{
  guint n_settable = settable != NULL ? g_strv_length ((GStrv) settable) : 0;

  if (set->field[0] == '\0')
    {
      if (n_settable == 1)
        {
          g_free (set->field);
          set->field = g_strdup (settable[0]);
        }
      else if (n_settable > 1)
        {
          g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS, SET_ERR_MULTIPLE);
          return FALSE;
        }
    }
  if (!g_strv_contains (allowed, set->field) ||
      settable == NULL || !g_strv_contains (settable, set->field))
    {
      g_autofree char *pretty = settable_pretty_name (set);
      g_autofree char *quoted = go_quote (pretty);

      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "%s is not settable", quoted);
      return FALSE;
    }
  return TRUE;
}

static void
settings_env_update (PdPluginSettings *settings, const char *name, const char *value)
{
  gsize name_len = strlen (name);
  guint n = settings->env != NULL ? g_strv_length (settings->env) : 0;

  for (guint i = 0; i < n; i++)
    {
      const char *e = settings->env[i];
      const char *eq = strchr (e, '=');
      gsize len = eq != NULL ? (gsize) (eq - e) : strlen (e);

      if (len == name_len && strncmp (e, name, len) == 0)
        {
          g_free (settings->env[i]);
          settings->env[i] = g_strdup_printf ("%s=%s", name, value);
          return;
        }
    }
  settings->env = g_renew (char *, settings->env, n + 2);
  settings->env[n] = g_strdup_printf ("%s=%s", name, value);
  settings->env[n + 1] = NULL;
}

static gboolean
settings_apply_one (PdPluginSettings *settings, const PdPluginConfig *config, const char *key,
                    const char *value, GError **error)
{
  g_auto(Settable) set = { NULL, NULL, value };
  const char *dot;
  const char *rule;

  /* keys arrive already split from their values; one that still holds a '=' (or is empty) could
   * only have come from a malformed "<name>[.<field>][=<value>]" */
  if (key[0] == '\0' || strchr (key, '=') != NULL)
    {
      g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS, SET_ERR_INVALID_FORMAT);
      return FALSE;
    }
  dot = strrchr (key, '.');
  if (dot != NULL && dot > key)
    {
      set.name = g_strndup (key, dot - key);
      set.field = g_strdup (dot + 1);
    }
  else
    {
      set.name = g_strdup (key);
      set.field = g_strdup ("");
    }

  /* resolution order as in Docker: env, mounts, devices, args */
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];
      if (!g_str_equal (e->name, set.name))
        continue;
      if (!settable_check (&set, allowed_env, (const char *const *) e->settable, error))
        return FALSE;
      settings_env_update (settings, set.name, value);
      user_set_add (settings, "env", e->name);
      return TRUE;
    }

  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      const PdConfigMount *m = config->mounts->pdata[i];
      PdConfigMount *target;
      gint j;

      if (!g_str_equal (m->name, set.name))
        continue;
      if (!settable_check (&set, allowed_mounts, (const char *const *) m->settable, error))
        return FALSE;
      if (m->source == NULL)
        {
          g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                               "plugin config has no mount source");
          return FALSE;
        }
      /* Docker accepts anything here; the config rule for mount sources must hold for user
       * settings as well, since the new source is what the privileges then grant */
      rule = pd_config_mount_check_source (m, value);
      if (rule != NULL)
        {
          g_autofree char *quoted = go_quote (value);
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "mount source %s %s", quoted, rule);
          return FALSE;
        }
      j = settings_index_for (settings->mounts, G_STRUCT_OFFSET (PdConfigMount, name), m->name, i);
      if (j < 0)
        {
          g_ptr_array_add (settings->mounts, pd_config_mount_copy (m));
          j = settings->mounts->len - 1;
        }
      target = settings->mounts->pdata[j];
      g_free (target->source);
      target->source = g_strdup (value);
      user_set_add (settings, "mount", m->name);
      return TRUE;
    }

  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      const PdConfigDevice *d = config->linux_devices->pdata[i];
      PdConfigDevice *target;
      gint j;

      if (!g_str_equal (d->name, set.name))
        continue;
      if (!settable_check (&set, allowed_devices, (const char *const *) d->settable, error))
        return FALSE;
      if (d->path == NULL)
        {
          g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                               "plugin config has no device path");
          return FALSE;
        }
      /* Docker accepts anything here and fails at enable time; the config rule (devices live
       * under /dev) must hold for user settings as well */
      rule = pd_config_device_check_path (value);
      if (rule != NULL)
        {
          g_autofree char *quoted = go_quote (value);
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "device path %s %s", quoted, rule);
          return FALSE;
        }
      j = settings_index_for (settings->devices, G_STRUCT_OFFSET (PdConfigDevice, name),
                              d->name, i);
      if (j < 0)
        {
          g_ptr_array_add (settings->devices, pd_config_device_copy (d));
          j = settings->devices->len - 1;
        }
      target = settings->devices->pdata[j];
      g_free (target->path);
      target->path = g_strdup (value);
      user_set_add (settings, "device", d->name);
      return TRUE;
    }

  if (config->args_name != NULL && g_str_equal (config->args_name, set.name))
    {
      if (!settable_check (&set, allowed_args, (const char *const *) config->args_settable, error))
        return FALSE;
      g_strfreev (settings->args);
      /* Go's strings.Split: single spaces, and "" gives one empty element */
      if (value[0] == '\0')
        {
          settings->args = g_new0 (char *, 2);
          settings->args[0] = g_strdup ("");
        }
      else
        settings->args = g_strsplit (value, " ", -1);
      user_set_add (settings, "args", config->args_name);
      return TRUE;
    }

  {
    g_autofree char *quoted = go_quote (set.name);
    g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                 "setting %s not found in the plugin configuration", quoted);
  }
  return FALSE;
}

/* section: lists of changes and their bounds */

void
pd_setting_change_free (PdSettingChange *change)
{
  if (change == NULL)
    return;
  g_free (change->key);
  g_free (change->value);
  g_free (change);
}

GPtrArray *
pd_settings_changes_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) pd_setting_change_free);
}

void
pd_settings_changes_add (GPtrArray *changes, const char *key, const char *value)
{
  PdSettingChange *change = g_new0 (PdSettingChange, 1);

  change->key = g_strdup (key);
  change->value = g_strdup (value);
  g_ptr_array_add (changes, change);
}

static gboolean
check_change (const char *key, const char *value, GError **error)
{
  gsize key_len = strlen (key);
  gsize value_len = value != NULL ? strlen (value) : 0;

  if (key_len > PD_SETTING_KEY_MAX)
    {
      g_autofree char *quoted = go_quote (key);
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "setting name %s is %" G_GSIZE_FORMAT " bytes long, more than %u", quoted,
                   key_len, (guint) PD_SETTING_KEY_MAX);
      return FALSE;
    }
  if (value_len > PD_SETTING_VALUE_MAX)
    {
      g_autofree char *quoted = go_quote (key);
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the value of %s is %" G_GSIZE_FORMAT " bytes long, more than %u", quoted,
                   value_len, (guint) PD_SETTING_VALUE_MAX);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_n_changes (gsize n, GError **error)
{
  if (n <= PD_SETTINGS_MAX_CHANGES)
    return TRUE;
  g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
               "%" G_GSIZE_FORMAT " settings in one call, more than %u", n,
               (guint) PD_SETTINGS_MAX_CHANGES);
  return FALSE;
}

GPtrArray *
pd_settings_changes_new_from_variant (GVariant *variant, GError **error)
{
  g_autoptr(GPtrArray) changes = NULL;
  GVariantIter iter;
  const char *key, *value;

  g_return_val_if_fail (g_variant_is_of_type (variant, G_VARIANT_TYPE ("a(ss)")), NULL);

  /* the count first: a huge array is refused without a look at its entries; repeated keys
   * count as often as they come, so the bound holds however they repeat */
  if (!check_n_changes (g_variant_n_children (variant), error))
    return NULL;
  changes = pd_settings_changes_new ();
  g_variant_iter_init (&iter, variant);
  while (g_variant_iter_next (&iter, "(&s&s)", &key, &value))
    {
      if (!check_change (key, value, error))
        return NULL;
      pd_settings_changes_add (changes, key, value);
    }
  return g_steal_pointer (&changes);
}

static gsize
strv_size (const char *const *strv)
{
  gsize size = 0;

  for (gsize i = 0; strv != NULL && strv[i] != NULL; i++)
    size += strlen (strv[i]);
  return size;
}

gsize
pd_plugin_settings_get_size (const PdPluginSettings *settings)
{
  gsize size = strv_size ((const char *const *) settings->env) +
               strv_size ((const char *const *) settings->args);

  for (guint i = 0; settings->mounts != NULL && i < settings->mounts->len; i++)
    {
      const PdConfigMount *m = settings->mounts->pdata[i];
      size += m->source != NULL ? strlen (m->source) : 0;
    }
  for (guint i = 0; settings->devices != NULL && i < settings->devices->len; i++)
    {
      const PdConfigDevice *d = settings->devices->pdata[i];
      size += d->path != NULL ? strlen (d->path) : 0;
    }
  return size;
}

PdPluginSettings *
pd_plugin_settings_apply (const PdPluginSettings *settings, const PdPluginConfig *config,
                          GPtrArray *changes, GError **error)
{
  g_autoptr(PdPluginSettings) result = NULL;
  gsize size;

  g_return_val_if_fail (settings != NULL, NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* all or nothing: work on a copy and hand it back only when every change applied */
  result = pd_plugin_settings_copy (settings);
  if (changes == NULL)
    return g_steal_pointer (&result);

  /* the bounds hold whatever way the changes came in */
  if (!check_n_changes (changes->len, error))
    return NULL;
  for (guint i = 0; i < changes->len; i++)
    {
      const PdSettingChange *change = changes->pdata[i];

      if (!check_change (change->key, change->value, error))
        return NULL;
    }
  /* in the order given, as Docker does: "DEBUG.value=1 DEBUG=2" leaves 2 */
  for (guint i = 0; i < changes->len; i++)
    {
      const PdSettingChange *change = changes->pdata[i];

      if (!settings_apply_one (result, config, change->key,
                               change->value != NULL ? change->value : "", error))
        return NULL;
    }
  /* settings saved before the bound existed may be larger: they may shrink, never grow */
  size = pd_plugin_settings_get_size (result);
  if (size > PD_SETTINGS_MAX_SIZE && size > pd_plugin_settings_get_size (settings))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the settings would be %" G_GSIZE_FORMAT " bytes long (env, args, mount "
                   "sources and device paths together), more than %u", size,
                   (guint) PD_SETTINGS_MAX_SIZE);
      return NULL;
    }
  return g_steal_pointer (&result);
}

/* section: settings across an upgrade */

/* the value of NAME in a "NAME=value" list, or NULL */
static const char *
env_lookup (const char *const *env, const char *name)
{
  gsize len = strlen (name);

  for (guint i = 0; env != NULL && env[i] != NULL; i++)
    if (strncmp (env[i], name, len) == 0 && env[i][len] == '=')
      return env[i] + len + 1;
  return NULL;
}

static PdConfigMount *
find_mount (GPtrArray *mounts, const PdConfigMount *like)
{
  for (guint i = 0; mounts != NULL && i < mounts->len; i++)
    {
      PdConfigMount *mount = mounts->pdata[i];

      /* by name, as Set addresses them; unnamed ones by destination */
      if ((like->name != NULL && *like->name != '\0')
            ? g_strcmp0 (mount->name, like->name) == 0
            : g_strcmp0 (mount->destination, like->destination) == 0)
        return mount;
    }
  return NULL;
}

static PdConfigDevice *
find_device (GPtrArray *devices, const PdConfigDevice *like)
{
  for (guint i = 0; devices != NULL && i < devices->len; i++)
    {
      PdConfigDevice *device = devices->pdata[i];

      if (g_strcmp0 (device->name, like->name) == 0)
        return device;
    }
  return NULL;
}

static gboolean
strv_equal_or_null (const char *const *a, const char *const *b)
{
  if (a == NULL || b == NULL)
    return (a == NULL || *a == NULL) && (b == NULL || *b == NULL);
  return g_strv_equal (a, b);
}

/* for each of @items (mounts or devices of @merged: their name and value at these offsets)
 * the user set in @old_settings, the value of the first of @old_items of that name */
static void
keep_user_values (PdPluginSettings *merged, GPtrArray *items,
                  const PdPluginSettings *old_settings, GPtrArray *old_items, const char *kind,
                  gsize name_offset, gsize value_offset)
{
  for (guint i = 0; i < items->len; i++)
    {
      const char *name = G_STRUCT_MEMBER (char *, items->pdata[i], name_offset);
      char **value = &G_STRUCT_MEMBER (char *, items->pdata[i], value_offset);
      gint j;

      if (!user_set_contains (old_settings, kind, name))
        continue;
      j = settings_index_for (old_items, name_offset, name, G_MAXUINT);
      if (j < 0)
        continue;
      g_free (*value);
      *value = g_strdup (G_STRUCT_MEMBER (char *, old_items->pdata[j], value_offset));
      user_set_add (merged, kind, name);
    }
}

PdPluginSettings *
pd_plugin_settings_merge (const PdPluginSettings *old_settings,
                          const PdPluginConfig *new_config)
{
  g_autoptr(PdPluginSettings) merged = NULL;
  g_autoptr(GStrvBuilder) env = g_strv_builder_new ();

  g_return_val_if_fail (old_settings != NULL, NULL);
  g_return_val_if_fail (new_config != NULL, NULL);

  merged = pd_plugin_settings_new_from_config (new_config);

  /* what the user set is kept, even a value equal to the old default; everything else takes
   * the new default. By name, so what the new config no longer declares is gone. */
  for (guint i = 0; new_config->env != NULL && i < new_config->env->len; i++)
    {
      const PdConfigEnv *e = new_config->env->pdata[i];
      const char *old_value = env_lookup ((const char *const *) old_settings->env, e->name);
      const char *value = e->value;

      if (old_value != NULL && user_set_contains (old_settings, "env", e->name))
        {
          value = old_value;
          user_set_add (merged, "env", e->name);
        }
      if (value != NULL)
        {
          g_autofree char *entry = g_strdup_printf ("%s=%s", e->name, value);
          g_strv_builder_add (env, entry);
        }
    }
  g_strfreev (merged->env);
  merged->env = g_strv_builder_end (env);

  keep_user_values (merged, merged->mounts, old_settings, old_settings->mounts, "mount",
                    G_STRUCT_OFFSET (PdConfigMount, name), G_STRUCT_OFFSET (PdConfigMount, source));
  keep_user_values (merged, merged->devices, old_settings, old_settings->devices, "device",
                    G_STRUCT_OFFSET (PdConfigDevice, name), G_STRUCT_OFFSET (PdConfigDevice, path));
  /* args by name too: args the new config names differently are new args */
  if (user_set_contains (old_settings, "args", new_config->args_name))
    {
      g_strfreev (merged->args);
      merged->args = g_strdupv (old_settings->args);
      user_set_add (merged, "args", new_config->args_name);
    }
  return g_steal_pointer (&merged);
}

PdPluginSettings *
pd_plugin_settings_for_install (const PdPluginConfig *config,
                                const PdPluginSettings *old_settings,
                                GPtrArray *changes,
                                GError **error)
{
  g_autoptr(PdPluginSettings) settings = NULL;

  g_return_val_if_fail (config != NULL, NULL);

  settings = old_settings != NULL ? pd_plugin_settings_merge (old_settings, config)
                                  : pd_plugin_settings_new_from_config (config);
  if (changes == NULL)
    return g_steal_pointer (&settings);
  return pd_plugin_settings_apply (settings, config, changes, error);
}

/* whether @config declares the setting @id of user_set names */
static gboolean
config_declares (const PdPluginConfig *config, const char *id)
{
  const char *name = strchr (id, ':');
  gsize kind_len;

  if (name == NULL)
    return FALSE;
  kind_len = name - id;
  name++;
  if (kind_len == 3 && strncmp (id, "env", kind_len) == 0)
    {
      for (guint i = 0; config->env != NULL && i < config->env->len; i++)
        if (g_str_equal (((PdConfigEnv *) config->env->pdata[i])->name, name))
          return TRUE;
    }
  else if (kind_len == 5 && strncmp (id, "mount", kind_len) == 0)
    {
      for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
        if (g_strcmp0 (((PdConfigMount *) config->mounts->pdata[i])->name, name) == 0)
          return *name != '\0';
    }
  else if (kind_len == 6 && strncmp (id, "device", kind_len) == 0)
    {
      for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
        if (g_strcmp0 (((PdConfigDevice *) config->linux_devices->pdata[i])->name, name) == 0)
          return *name != '\0';
    }
  else if (kind_len == 4 && strncmp (id, "args", kind_len) == 0)
    return config->args_name != NULL && *name != '\0' && g_str_equal (config->args_name, name);
  return FALSE;
}

void
pd_plugin_settings_restore_user_set (PdPluginSettings *settings, const PdPluginConfig *config,
                                     const char *const *user_set)
{
  g_autoptr(PdPluginSettings) defaults = NULL;

  g_return_if_fail (settings != NULL);
  g_return_if_fail (config != NULL);

  g_strfreev (settings->user_set);
  settings->user_set = g_new0 (char *, 1);
  if (user_set != NULL)
    {
      for (guint i = 0; user_set[i] != NULL; i++)
        if (config_declares (config, user_set[i]))
          user_set_take (settings, g_strdup (user_set[i]));
      return;
    }

  /* a record from before the list was kept: what differs from the defaults was set */
  defaults = pd_plugin_settings_new_from_config (config);
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];
      const char *value = env_lookup ((const char *const *) settings->env, e->name);

      if (value != NULL && g_strcmp0 (value, e->value) != 0)
        user_set_add (settings, "env", e->name);
    }
  for (guint i = 0; i < defaults->mounts->len; i++)
    {
      const PdConfigMount *mount = defaults->mounts->pdata[i];
      const PdConfigMount *current = find_mount (settings->mounts, mount);

      if (current != NULL && g_strcmp0 (current->source, mount->source) != 0)
        user_set_add (settings, "mount", mount->name);
    }
  for (guint i = 0; i < defaults->devices->len; i++)
    {
      const PdConfigDevice *device = defaults->devices->pdata[i];
      const PdConfigDevice *current = find_device (settings->devices, device);

      if (current != NULL && g_strcmp0 (current->path, device->path) != 0)
        user_set_add (settings, "device", device->name);
    }
  if (!strv_equal_or_null ((const char *const *) settings->args,
                           (const char *const *) defaults->args))
    user_set_add (settings, "args", config->args_name);
}

/* section: describing settings */

void
pd_setting_info_free (PdSettingInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->description);
  g_free (info->value);
  g_free (info);
}

static PdSettingInfo *
setting_info_new (const char *name, const char *kind, const char *description, const char *value,
                  const char *const *allowed, const char *const *settable)
{
  PdSettingInfo *info = g_new0 (PdSettingInfo, 1);

  info->name = g_strdup (name != NULL ? name : "");
  info->kind = kind;
  info->description = g_strdup (description != NULL ? description : "");
  info->value = g_strdup (value != NULL ? value : "");
  /* settable when the one field this kind allows is listed (what Set would accept) */
  info->settable = settable != NULL && g_strv_contains (settable, allowed[0]);
  return info;
}

GPtrArray *
pd_plugin_settings_describe (const PdPluginSettings *settings, const PdPluginConfig *config)
{
  GPtrArray *infos = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_setting_info_free);

  g_return_val_if_fail (config != NULL, infos);

  /* the values of env vars and args are where passwords and keys go: a description is shown
   * to everyone, so it has none; mount sources and device paths are privileges, shown as
   * consent shows them */
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];

      g_ptr_array_add (infos, setting_info_new (e->name, "env", e->description, NULL,
                                                allowed_env,
                                                (const char *const *) e->settable));
    }
  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      const PdConfigMount *m = config->mounts->pdata[i];
      g_ptr_array_add (infos, setting_info_new (m->name, "mount", m->description,
                                                pd_plugin_settings_get_mount_source (settings, config, i),
                                                allowed_mounts,
                                                (const char *const *) m->settable));
    }
  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      const PdConfigDevice *d = config->linux_devices->pdata[i];
      g_ptr_array_add (infos, setting_info_new (d->name, "device", d->description,
                                                pd_plugin_settings_get_device_path (settings, config, i),
                                                allowed_devices,
                                                (const char *const *) d->settable));
    }
  /* args exist only when the config names them (Set finds them by name) or gives defaults */
  if ((config->args_name != NULL && config->args_name[0] != '\0') ||
      (config->args_value != NULL && config->args_value[0] != NULL))
    g_ptr_array_add (infos, setting_info_new (config->args_name, "args", config->args_description,
                                              NULL, allowed_args,
                                              (const char *const *) config->args_settable));
  return infos;
}
