/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Options of a D-Bus call (pd-options.c): an unknown key is refused with a bounded message.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-options"

#include <string.h>

#include "pd-error.h"
#include "pd-options.h"

static void
test_options_unknown_key_cut (void)
{
  static const char *const allowed[] = { "force", "b", NULL };
  g_autofree char *key = g_strnfill (1024 * 1024, '\x02');
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", key, g_variant_new_boolean (TRUE));
  options = g_variant_ref_sink (g_variant_builder_end (&builder));
  g_assert_false (pd_options_check (options, allowed, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_assert_true (g_str_has_prefix (error->message, "Unknown option '\\x02\\x02"));
  g_assert_cmpuint (strlen (error->message), <, 1024);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/options/unknown-key-cut", test_options_unknown_key_cut);

  return g_test_run ();
}
