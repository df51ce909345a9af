/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A plugin manifest from a registry (or the store): checked as pulls check it, and listed as
 * push and blob GC list it. The first byte picks the media type the registry announced. */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "pd-oci.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const media_types[] = {
    PD_MEDIA_TYPE_DOCKER_MANIFEST, PD_MEDIA_TYPE_OCI_MANIFEST, "application/json",
  };
  g_autoptr(GBytes) manifest = NULL;
  g_autoptr(PdDescriptor) config = NULL;
  g_autoptr(GPtrArray) layers = NULL;
  g_auto(GStrv) digests = NULL;
  g_autofree char *media_type = NULL;

  if (size < 1)
    return 0;
  manifest = g_bytes_new (data + 1, size - 1);
  pd_oci_parse_manifest (manifest, media_types[data[0] % G_N_ELEMENTS (media_types)], &config,
                         &layers, NULL);
  digests = pd_oci_manifest_list_digests ((const char *) data + 1, size - 1, NULL);
  media_type = pd_oci_manifest_get_media_type (manifest);
  return 0;
}
