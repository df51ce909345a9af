/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reference parser (remotes and names from any caller): a reference it accepts prints as
 * a string that parses back to the same reference. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "pd-reference.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr(PdReference) ref = NULL;
  g_autoptr(PdReference) again = NULL;
  g_autofree char *printed = NULL;
  g_autofree char *reprinted = NULL;
  g_autofree char *familiar = NULL;
  g_autofree char *local = NULL;

  local = pd_reference_local_name (text, NULL);
  pd_digest_is_valid (text);
  pd_plugin_id_is_valid (text);
  ref = pd_reference_parse (text, NULL);
  if (ref == NULL)
    return 0;
  printed = pd_reference_to_string (ref);
  familiar = pd_reference_familiar (ref);
  pd_reference_endpoint_host (ref);
  again = pd_reference_parse (printed, NULL);
  if (again == NULL)
    abort ();
  reprinted = pd_reference_to_string (again);
  if (strcmp (printed, reprinted) != 0)
    abort ();
  return 0;
}
