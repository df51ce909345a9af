/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Docker's Set grammar (Plugin.Set, and the settings option of Pull, Create, Upgrade and
 * GetPrivileges), applied to a config with every kind of setting. The input is lines of
 * "NAME[.FIELD]=VALUE", applied in order (a name may repeat). What is accepted keeps every
 * rule and survives the record's round trip, and names in user_set only settings the config
 * declares. */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "pd-error.h"
#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"
#include "pd-privileges.h"

static const char config_json[] =
  "{\"Description\": \"fuzz\", \"Documentation\": \"\","
  " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"f.sock\"},"
  " \"Entrypoint\": [\"/f\"], \"WorkDir\": \"/\", \"Network\": {\"Type\": \"\"},"
  " \"Mounts\": ["
  "   {\"Name\": \"data\", \"Settable\": [\"source\"], \"Source\": \"/srv\","
  "    \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\"]},"
  "   {\"Name\": \"fixed\", \"Source\": \"/etc\", \"Destination\": \"/fixed\","
  "    \"Type\": \"bind\", \"Options\": [\"ro\"]},"
  "   {\"Name\": \"unset\", \"Settable\": [\"source\", \"destination\"],"
  "    \"Destination\": \"/unset\", \"Type\": \"bind\"}],"
  " \"Env\": ["
  "   {\"Name\": \"DEBUG\", \"Settable\": [\"value\"], \"Value\": \"0\"},"
  "   {\"Name\": \"FIXED\", \"Value\": \"x\"},"
  "   {\"Name\": \"NULL\", \"Settable\": [\"value\"]}],"
  " \"Args\": {\"Name\": \"args\", \"Settable\": [\"value\"], \"Value\": [\"-v\"]},"
  " \"Linux\": {\"Devices\": ["
  "   {\"Name\": \"fuse\", \"Settable\": [\"path\"], \"Path\": \"/dev/fuse\"},"
  "   {\"Name\": \"none\", \"Settable\": [\"path\"]}]}}";

static PdPluginConfig *config;
static PdPluginSettings *defaults;

void
fuzz_setup (void)
{
  config = pd_plugin_config_new_from_data (config_json, strlen (config_json), NULL);
  g_assert (config != NULL);
  defaults = pd_plugin_settings_new_from_config (config);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_auto(GStrv) lines = g_strsplit (text, "\n", 64);
  g_autoptr(GPtrArray) changes = pd_settings_changes_new ();
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(PdPluginSettings) again = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GPtrArray) described = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *eq = strchr (lines[i], '=');

      if (eq == NULL)
        continue;
      *eq = '\0';
      pd_settings_changes_add (changes, lines[i], eq + 1);
    }
  settings = pd_plugin_settings_apply (defaults, config, changes, NULL);
  if (settings == NULL)
    return 0;
  privileges = pd_privileges_compute (config, settings);
  described = pd_plugin_settings_describe (settings, config);
  for (guint i = 0; i < settings->mounts->len; i++)
    {
      const PdConfigMount *m = settings->mounts->pdata[i];

      if (m->source != NULL && pd_string_has_control_chars (m->source))
        abort ();
    }
  for (guint i = 0; i < settings->devices->len; i++)
    {
      const PdConfigDevice *d = settings->devices->pdata[i];

      if (d->path != NULL && !pd_plugin_device_path_is_valid (d->path))
        abort ();
    }
  for (guint i = 0; settings->env != NULL && settings->env[i] != NULL; i++)
    if (strchr (settings->env[i], '=') == NULL)
      abort ();
  /* applying the same changes again changes nothing more */
  {
    g_autoptr(PdPluginSettings) twice = pd_plugin_settings_apply (settings, config, changes,
                                                                  NULL);
    g_autoptr(JsonNode) a = pd_plugin_settings_to_json (settings);
    g_autoptr(JsonNode) b = twice != NULL ? pd_plugin_settings_to_json (twice) : NULL;

    if (b == NULL || !json_node_equal (a, b))
      abort ();
  }
  /* as the record keeps them */
  node = pd_plugin_settings_to_json (settings);
  again = pd_plugin_settings_new_from_json (node, NULL);
  if (again == NULL)
    abort ();
  pd_plugin_settings_restore_user_set (again, config, (const char *const *) settings->user_set);
  if (!g_strv_equal ((const char *const *) again->user_set,
                     (const char *const *) settings->user_set))
    abort ();
  return 0;
}
