/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plugin config parser (config.json from a create context or a registry): every config it
 * accepts serialises, parses back to the same bytes, and its default settings ask for exactly
 * the privileges the config does; json-glib's tree of it (a record's config) validates as its
 * text does. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "pd-json.h"
#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"
#include "pd-privileges.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(PdPluginConfig) again = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GPtrArray) described = NULL;
  g_autofree char *serialised = NULL;
  g_autofree char *reserialised = NULL;
  g_autofree char *shown = NULL;
  gsize len = 0, len2 = 0;

  config = pd_plugin_config_new_from_data ((const char *) data, size, NULL);
  {
    /* a record's config is validated from json-glib's tree: it must accept exactly what the
     * scanner accepts of the same value as json-glib writes it out */
    g_autoptr(JsonNode) node = pd_json_parse ((const char *) data, size, size, NULL);

    if (node != NULL)
      {
        g_autofree char *text = json_to_string (node, FALSE);
        g_autoptr(PdPluginConfig) scanned =
          pd_plugin_config_new_from_data (text, strlen (text), NULL);
        g_autoptr(PdPluginConfig) converted = pd_plugin_config_new_from_json (node, NULL);

        if ((scanned == NULL) != (converted == NULL))
          abort ();
        if (scanned != NULL)
          {
            g_autofree char *a = pd_plugin_config_to_data (scanned, NULL);
            g_autofree char *b = pd_plugin_config_to_data (converted, NULL);

            if (strcmp (a, b) != 0)
              abort ();
          }
      }
  }
  if (config == NULL)
    return 0;
  serialised = pd_plugin_config_to_data (config, &len);
  again = pd_plugin_config_new_from_data (serialised, len, NULL);
  if (again == NULL)
    abort ();  /* what we write, we must read */
  reserialised = pd_plugin_config_to_data (again, &len2);
  if (len != len2 || memcmp (serialised, reserialised, len) != 0)
    abort ();
  {
    /* a loaded record keeps its config packed: the same config */
    g_autoptr(PdPluginConfig) packed = pd_plugin_config_pack (pd_plugin_config_copy (config));
    g_autofree char *packed_data = pd_plugin_config_to_data (packed, &len2);

    if (len != len2 || memcmp (serialised, packed_data, len) != 0)
      abort ();
  }
  settings = pd_plugin_settings_new_from_config (config);
  privileges = pd_privileges_compute (config, settings);
  {
    g_autoptr(GPtrArray) defaults = pd_privileges_compute (config, NULL);

    /* the default settings ask for exactly what the config does */
    if (!pd_privileges_equal (privileges, defaults))
      abort ();
  }
  shown = pd_privileges_to_string (privileges);
  described = pd_plugin_settings_describe (settings, config);
  return 0;
}
