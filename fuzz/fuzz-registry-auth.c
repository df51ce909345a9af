/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The registry-auth option (Docker's X-Registry-Auth: base64url JSON), which any active local
 * user may send to GetPrivileges. The input is used as the option's text, and also
 * base64url-encoded so that the JSON decoder behind the base64 is reached. */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "pd-daemon-config.h"
#include "pd-reference.h"
#include "pd-registry.h"

static PdDaemonConfig *config;
static PdReference *ref;

void
fuzz_setup (void)
{
  config = pd_daemon_config_new_default ();
  ref = pd_reference_parse ("127.0.0.1:5000/fuzz/plugin:latest", NULL);
  g_assert (ref != NULL);
}

static void
try (const char *text)
{
  PdRegistryClient *client = pd_registry_client_new (config, ref, text, FALSE, NULL);

  g_clear_pointer (&client, pd_registry_client_free);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autofree char *encoded = g_base64_encode (data, size);

  try (text);
  g_strdelimit (encoded, "+", '-');
  g_strdelimit (encoded, "/", '_');
  try (encoded);
  return 0;
}
