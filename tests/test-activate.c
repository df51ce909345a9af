/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A plugin's answer to /Plugin.Activate (pd-activate.c): what it implements, judged against
 * its config, and every way an answer is refused, bounded and escaped.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-activate"

#include <string.h>

#include "pd-activate.h"
#include "pd-error.h"
#include "pd-test-utils.h"

/* a volume driver's config */
#define VOLUME_CONFIG \
  "{\"Description\": \"\", \"Documentation\": \"\"," \
  " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"p.sock\"}," \
  " \"Entrypoint\": [\"/p\"], \"WorkDir\": \"/\", \"Network\": {\"Type\": \"\"}}"

static void
test_activate_good (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (VOLUME_CONFIG);
  const char *good[] = {
    "{\"Implements\": [\"VolumeDriver\"]}",
    "{\"implements\": [\"volumedriver\", \"authz\"]}",
    "{\"Implements\": [\"NetworkDriver\"], \"IMPLEMENTS\": [\"VolumeDriver\"]}",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) implements = pd_activate_check_answer (200, good[i], strlen (good[i]),
                                                           config, &error);

      g_assert_no_error (error);
      g_assert_nonnull (implements);
      g_assert_true (g_strv_contains ((const char *const *) implements, "VolumeDriver") ||
                     g_strv_contains ((const char *const *) implements, "volumedriver"));
    }

  /* a plugin that does not know the call: the config's types, in Docker's spelling */
  {
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) implements = pd_activate_check_answer (404, "404 page not found\n", 19,
                                                         config, &error);
    const char *expected[] = { "VolumeDriver", NULL };

    g_assert_no_error (error);
    g_assert_cmpstrv (implements, expected);
  }
}

/* {"Implements": ["VolumeDriver", "x1", … "x<n - 1>"]} */
static char *
many_implements (guint n)
{
  GString *json = g_string_new ("{\"Implements\": [\"VolumeDriver\"");

  for (guint i = 1; i < n; i++)
    g_string_append_printf (json, ", \"x%u\"", i);
  g_string_append (json, "]}");
  return g_string_free (json, FALSE);
}

static void
test_activate_bad (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (VOLUME_CONFIG);
  g_autofree char *deep = pd_test_nested (100000, "[", "", "");
  g_autofree char *deep_inside = g_strconcat ("{\"Implements\": ", deep, NULL);
  g_autofree char *deep_err = g_strconcat ("{\"Err\": \"boom\", \"x\": ", deep, NULL);
  g_autofree char *too_large = g_malloc (PD_ACTIVATE_ANSWER_MAX + 2);
  g_autofree char *many = many_implements (300);
  g_autofree char *long_entry = g_strdup_printf ("{\"Implements\": [\"VolumeDriver\", \"%0257d\"]}", 0);
  struct {
    guint status;
    const char *body;
    gsize len;
    const char *message;
  } cases[] = {
    { 200, "", 0, "invalid response" },
    { 200, "[\"VolumeDriver\"]", 16, "invalid response" },
    { 200, "{\"Implements\": \"VolumeDriver\"}", 0, "is not a list" },
    { 200, "{\"Implements\": [1]}", 0, "holds a non-string" },
    { 200, "{\"Implements\": null}", 0, "does not cover interface type docker.volumedriver/1.0" },
    { 200, "{}", 0, "does not cover" },
    { 200, "{\"Implements\": [\"NetworkDriver\"]}", 0, "implements [NetworkDriver]" },
    { 200, "{\"Implements\": [\"Volume\\u0000Driver\"]}", 0, "invalid response" },
    { 200, deep, 0, "nested deeper than 128 levels" },
    { 200, deep_inside, 0, "nested deeper than 128 levels" },
    { 200, too_large, PD_ACTIVATE_ANSWER_MAX + 1, "larger than" },
    /* it becomes the Implements property */
    { 200, many, 0, "has more than 256 entries" },
    { 200, long_entry, 0, "an \"Implements\" entry is longer than 256 bytes" },
    { 500, "{\"Err\": \"activation exploded\"}", 0, "HTTP 500: activation exploded" },
    { 500, "{\"err\": \"lower\\ncase\"}", 0, "HTTP 500: lower\\x0acase" },
    { 400, "not json at all", 0, "HTTP 400: not json at all" },
    /* too deep for its Err to be read: the start of the raw body instead */
    { 500, deep_err, 0, "HTTP 500: {\"Err\": \"boom\", \"x\": [[[" },
  };

  memset (too_large, ' ', PD_ACTIVATE_ANSWER_MAX + 1);
  memcpy (too_large, "{}", 2);
  too_large[PD_ACTIVATE_ANSWER_MAX + 1] = '\0';
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len = cases[i].len != 0 ? cases[i].len : strlen (cases[i].body);
      g_auto(GStrv) implements = pd_activate_check_answer (cases[i].status, cases[i].body, len,
                                                           config, &error);

      g_assert_null (implements);
      g_assert_error (error, PD_ERROR, PD_ERROR_ACTIVATION_FAILED);
      g_test_message ("%u %.40s: %.200s", cases[i].status, cases[i].body, error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message));
      /* a plugin's words never reach a message unescaped, nor without bound */
      g_assert_cmpuint (strlen (error->message), <, 4096);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/activate/good", test_activate_good);
  g_test_add_func ("/activate/bad", test_activate_bad);

  return g_test_run ();
}
