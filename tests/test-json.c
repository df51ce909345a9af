/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bound every untrusted JSON document passes before json-glib (pd-json.c): strict JSON,
 * a bounded nesting and size, and messages that quote nothing of the text.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-json"

#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-test-utils.h"

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
  g_autofree char *deepest_arrays = pd_test_nested (PD_JSON_MAX_DEPTH, "[", "", "]");
  g_autofree char *deepest_objects = pd_test_nested (PD_JSON_MAX_DEPTH - 1, "{\"a\":", "{}", "}");
  g_autofree char *deepest_mixed = pd_test_nested (PD_JSON_MAX_DEPTH / 2, "[{\"k\": ", "1", "}]");

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    assert_accepted (good[i], strlen (good[i]));
  assert_accepted (deepest_arrays, strlen (deepest_arrays));
  assert_accepted (deepest_objects, strlen (deepest_objects));
  assert_accepted (deepest_mixed, strlen (deepest_mixed));
}

static void
test_check_depth (void)
{
  g_autofree char *arrays = pd_test_nested (PD_JSON_MAX_DEPTH + 1, "[", "", "]");
  g_autofree char *objects = pd_test_nested (PD_JSON_MAX_DEPTH, "{\"a\":", "{}", "}");
  g_autofree char *open_only = pd_test_nested (100000, "[", "", "");
  g_autofree char *huge = pd_test_nested (400 * 1024, "[", "", "]");
  /* what a scan that ignores json-glib's extensions would count wrong: the quote in a
   * comment or a single-quoted string would hide the brackets after it */
  g_autofree char *in_comment = pd_test_nested (100000, "[", "", "");
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/json/check/accepts", test_check_accepts);
  g_test_add_func ("/json/check/depth", test_check_depth);
  g_test_add_func ("/json/check/syntax", test_check_syntax);
  g_test_add_func ("/json/check/size", test_check_size);
  g_test_add_func ("/json/check/messages", test_check_messages);

  return g_test_run ();
}
