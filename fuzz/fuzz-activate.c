/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A plugin's answer to /Plugin.Activate, judged as the runner judges it. The first byte picks
 * the HTTP status, the rest is the body. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "pd-activate.h"
#include "pd-error.h"

static PdPluginConfig *config;

void
fuzz_setup (void)
{
  const char *json = "{\"Description\": \"\", \"Documentation\": \"\","
                     " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\","
                     "   \"docker.authz/1.0\"], \"Socket\": \"f.sock\"},"
                     " \"Entrypoint\": [\"/f\"], \"WorkDir\": \"/\", \"Network\": {\"Type\": \"\"}}";

  config = pd_plugin_config_new_from_data (json, strlen (json), NULL);
  g_assert (config != NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const guint statuses[] = { 200, 404, 500, 400 };
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) implements = NULL;

  if (size < 1)
    return 0;
  implements = pd_activate_check_answer (statuses[data[0] % G_N_ELEMENTS (statuses)],
                                         (const char *) data + 1, size - 1, config, &error);
  if ((implements == NULL) == (error == NULL))
    abort ();
  if (error != NULL && (error->domain != PD_ERROR || error->code != PD_ERROR_ACTIVATION_FAILED))
    abort ();
  return 0;
}
