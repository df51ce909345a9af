/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Untrusted text in messages (pd-error.c): escaped, cut at a bound without breaking an escape
 * or a character, and the last bound on any message.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-error"

#include <string.h>

#include "pd-error.h"

static void
test_escape_cut (void)
{
  g_autofree char *text = g_strnfill (100000, '\x01');
  g_autofree char *cut = pd_escape_untrusted (text, -1);
  g_autofree char *whole = pd_escape_untrusted_full (text, -1);
  g_autofree char *plain = pd_escape_untrusted ("a\\b\x1b" "c\xff", -1);
  g_autofree char *utf8_cut = NULL;
  g_autofree char *truncated = NULL;
  g_autoptr(GString) long_utf8 = g_string_new (NULL);
  g_autoptr(GError) error = NULL;

  /* a short escaped piece, marked as cut, never half an escape */
  g_assert_cmpuint (strlen (cut), <=, PD_UNTRUSTED_QUOTE_MAX + strlen (PD_CUT_MARK));
  g_assert_true (g_str_has_suffix (cut, "\\x01" PD_CUT_MARK));
  g_assert_true (g_str_has_prefix (cut, "\\x01\\x01"));
  g_assert_cmpuint (strlen (whole), ==, 4 * 100000);
  /* short text is escaped as before, with no mark */
  g_assert_cmpstr (plain, ==, "a\\\\b\\x1bc\\xff");

  /* multi-byte characters are kept whole */
  truncated = pd_text_truncate ("äää", 3);
  g_assert_cmpstr (truncated, ==, "ä" PD_CUT_MARK);
  g_free (truncated);
  truncated = pd_text_truncate ("äää", 6);
  g_assert_cmpstr (truncated, ==, "äää");
  for (guint i = 0; i < 200; i++)
    g_string_append (long_utf8, "ä");
  utf8_cut = pd_escape_untrusted (long_utf8->str, -1);
  g_assert_true (g_utf8_validate (utf8_cut, -1, NULL));
  g_assert_true (g_str_has_suffix (utf8_cut, "ä" PD_CUT_MARK));
  g_assert_cmpuint (strlen (utf8_cut), <=, PD_UNTRUSTED_QUOTE_MAX + strlen (PD_CUT_MARK));

  /* the last guard on a message */
  g_set_error (&error, PD_ERROR, PD_ERROR_FAILED, "%s", whole);
  pd_error_bound_message (error);
  g_assert_cmpuint (strlen (error->message), ==, PD_MESSAGE_MAX + strlen (PD_CUT_MARK));
  g_assert_true (g_str_has_suffix (error->message, PD_CUT_MARK));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/error/escape-cut", test_escape_cut);

  return g_test_run ();
}
