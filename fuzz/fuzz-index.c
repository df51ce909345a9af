/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An image index from a registry: the entry for a platform is picked as pulls pick it. */
#include "config.h"

#include <string.h>

#include "fuzz-common.h"
#include "pd-oci.h"
#include "pd-reference.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const platforms[] = { "linux/amd64", "linux/arm64", "linux/arm/v7" };
  g_autoptr(GBytes) index = g_bytes_new (data, size);

  for (gsize i = 0; i < G_N_ELEMENTS (platforms); i++)
    {
      g_autofree char *digest = pd_oci_pick_from_index (index, platforms[i], NULL);

      if (digest != NULL && !pd_digest_is_valid (digest))
        abort ();
    }
  return 0;
}
