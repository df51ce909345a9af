/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "pd-error.h"
#include "pd-options.h"

gboolean
pd_options_check (GVariant *options, const char *const *allowed, GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (options == NULL)
    return TRUE;
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      const char *type = NULL;

      for (guint i = 0; allowed != NULL && allowed[i] != NULL; i += 2)
        if (g_str_equal (allowed[i], key))
          type = allowed[i + 1];
      if (type == NULL)
        {
          g_autofree char *escaped = pd_escape_untrusted (key, -1);
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "Unknown option '%s'", escaped);
          return FALSE;
        }
      if (!g_variant_is_of_type (owned, G_VARIANT_TYPE (type)))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "Option '%s' must be of type '%s'",
                       key, type);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
pd_options_get_boolean (GVariant *options, const char *key, gboolean default_value)
{
  gboolean value;

  if (options != NULL && g_variant_lookup (options, key, "b", &value))
    return value;
  return default_value;
}

gboolean
pd_options_check_timeout (GVariant *options, const char *key, GError **error)
{
  guint value;

  if (options != NULL && g_variant_lookup (options, key, "u", &value) &&
      value > PD_OPTIONS_MAX_TIMEOUT_MS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "Option '%s' must be at most %u (ms)",
                   key, PD_OPTIONS_MAX_TIMEOUT_MS);
      return FALSE;
    }
  return TRUE;
}
