/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bound every untrusted JSON document passes before json-glib (pd-json.c), and the check
 * of a plugin's answer to /Plugin.Activate (pd-activate.c).
 */
#include "config.h"

#define G_LOG_DOMAIN "test-json"

#include <string.h>

#include "pd-activate.h"
#include "pd-error.h"
#include "pd-json.h"

/* @n times @open, @middle, @n times @close */
static char *
nested (guint n, const char *open, const char *middle, const char *close)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append (out, open);
  g_string_append (out, middle);
  for (guint i = 0; i < n; i++)
    g_string_append (out, close);
  return g_string_free (out, FALSE);
}

static void
assert_accepted (const char *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;

  g_test_message ("accepted? %.60s", data);
  g_assert_true (pd_json_check (data, len, len, &error));
  g_assert_no_error (error);
  /* what the check lets through, json-glib reads */
  root = pd_json_parse (data, len, len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (root);
}

static void
assert_refused (const char *data, gsize len, PdError code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;

  g_autofree char *shown = pd_escape_untrusted (data, MIN (len, 60));

  /* escaped: invalid UTF-8 in a TAP line is not TAP */
  g_test_message ("refused? %s", shown);
  g_assert_false (pd_json_check (data, len, G_MAXSIZE, &error));
  g_assert_error (error, PD_ERROR, (gint) code);
  g_test_message ("  %s", error->message);
  g_clear_error (&error);
  root = pd_json_parse (data, len, G_MAXSIZE, &error);
  g_assert_null (root);
  g_assert_error (error, PD_ERROR, (gint) code);
}

static void
test_check_accepts (void)
{
  const char *good[] = {
    "{}", "[]", " [ ] ", "0", "-0.5e+10", "1E-2", "true", "false", "null", "\"\"",
    "{\"a\": [1, 2.5, \"x\", true, false, null, {}, []], \"b\": {\"c\": {}}}",
    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"",
    "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"",
    "\r\n\t{\"Implements\" : [\"VolumeDriver\"]}\n",
  };
  g_autofree char *deepest_arrays = nested (PD_JSON_MAX_DEPTH, "[", "", "]");
  g_autofree char *deepest_objects = nested (PD_JSON_MAX_DEPTH - 1, "{\"a\":", "{}", "}");
  g_autofree char *deepest_mixed = nested (PD_JSON_MAX_DEPTH / 2, "[{\"k\": ", "1", "}]");

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    assert_accepted (good[i], strlen (good[i]));
  assert_accepted (deepest_arrays, strlen (deepest_arrays));
  assert_accepted (deepest_objects, strlen (deepest_objects));
  assert_accepted (deepest_mixed, strlen (deepest_mixed));
}

static void
test_check_depth (void)
{
  g_autofree char *arrays = nested (PD_JSON_MAX_DEPTH + 1, "[", "", "]");
  g_autofree char *objects = nested (PD_JSON_MAX_DEPTH, "{\"a\":", "{}", "}");
  g_autofree char *open_only = nested (100000, "[", "", "");
  g_autofree char *huge = nested (400 * 1024, "[", "", "]");
  /* what a scan that ignores json-glib's extensions would count wrong: the quote in a
   * comment or a single-quoted string would hide the brackets after it */
  g_autofree char *in_comment = nested (100000, "[", "", "");
  g_autofree char *in_sq = NULL;
  g_autofree char *in_comment_text = NULL;

  in_sq = g_strconcat ("['\"', ", open_only, NULL);
  in_comment_text = g_strconcat ("[/* \" */ ", in_comment, NULL);

  assert_refused (arrays, strlen (arrays), PD_ERROR_LIMITS_EXCEEDED);
  assert_refused (objects, strlen (objects), PD_ERROR_LIMITS_EXCEEDED);
  assert_refused (open_only, strlen (open_only), PD_ERROR_LIMITS_EXCEEDED);
  assert_refused (huge, strlen (huge), PD_ERROR_LIMITS_EXCEEDED);
  assert_refused (in_sq, strlen (in_sq), PD_ERROR_INVALID_ARGS);
  assert_refused (in_comment_text, strlen (in_comment_text), PD_ERROR_INVALID_ARGS);
}

static void
test_check_syntax (void)
{
  const char *bad[] = {
    "", " ", "[", "]", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a: 1}", "{1: 2}",
    "[1 2]", "'x'", "[/* c */]", "[] // c", "0x10", "01", "1.", ".5", "-", "+1", "1e", "NaN",
    "Infinity", "tru", "nulls", "[] []", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
    "\"\\ud800\\u0041\"", "\"a\tb\"", "\"unterminated", "\xef\xbb\xbf{}", "\"\xff\"",
    "\"\xc3\"", "\"\\u0000\"",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    assert_refused (bad[i], strlen (bad[i]), PD_ERROR_INVALID_ARGS);
  /* raw NUL bytes, inside a string and out */
  assert_refused ("\"a\0b\"", 5, PD_ERROR_INVALID_ARGS);
  assert_refused ("[1]\0", 4, PD_ERROR_INVALID_ARGS);
  assert_refused ("[\0]", 3, PD_ERROR_INVALID_ARGS);
}

static void
test_check_size (void)
{
  g_autoptr(GError) error = NULL;
  const char *doc = "[1, 2, 3]";

  g_assert_true (pd_json_check (doc, strlen (doc), strlen (doc), &error));
  g_assert_no_error (error);
  g_assert_false (pd_json_check (doc, strlen (doc), strlen (doc) - 1, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_clear_error (&error);
  /* the length given is what counts: a NUL-terminated prefix is not enough */
  g_assert_false (pd_json_check (doc, 4, 100, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
}

/* the messages quote nothing of the text: it may hold a password */
static void
test_check_messages (void)
{
  const char *secret[] = { "{\"password\": \"hunter2\" x}", "{\"password\": hunter2}",
                           "{\"password\": \"hunter2\\q\"}" };

  for (gsize i = 0; i < G_N_ELEMENTS (secret); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (pd_json_check (secret[i], strlen (secret[i]), 1024, &error));
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      g_assert_null (strstr (error->message, "hunter2"));
      g_assert_null (strstr (error->message, "password"));
    }
}

/* section: the Activate answer */

static PdPluginConfig *
volume_config (void)
{
  const char *json = "{\"Description\": \"\", \"Documentation\": \"\","
                     " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"],"
                     "   \"Socket\": \"p.sock\"},"
                     " \"Entrypoint\": [\"/p\"], \"WorkDir\": \"/\", \"Network\": {\"Type\": \"\"}}";
  g_autoptr(GError) error = NULL;
  PdPluginConfig *config = pd_plugin_config_new_from_data (json, strlen (json), &error);

  g_assert_no_error (error);
  return config;
}

static void
test_activate_good (void)
{
  g_autoptr(PdPluginConfig) config = volume_config ();
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
  g_autoptr(PdPluginConfig) config = volume_config ();
  g_autofree char *deep = nested (100000, "[", "", "");
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

  g_test_add_func ("/json/check/accepts", test_check_accepts);
  g_test_add_func ("/json/check/depth", test_check_depth);
  g_test_add_func ("/json/check/syntax", test_check_syntax);
  g_test_add_func ("/json/check/size", test_check_size);
  g_test_add_func ("/json/check/messages", test_check_messages);
  g_test_add_func ("/json/activate/good", test_activate_good);
  g_test_add_func ("/json/activate/bad", test_activate_bad);
  return g_test_run ();
}
