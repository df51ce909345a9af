/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lexical path rules (pd-path.c): at or under, and nested paths in a list.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-path"

#include "pd-path.h"

static void
test_paths_nested (void)
{
  g_autoptr(GPtrArray) apart = g_ptr_array_new ();
  g_autoptr(GPtrArray) nested = g_ptr_array_new ();
  guint inner = 0, outer = 0;

  g_assert_true (pd_path_is_at_or_under ("/data", "/data"));
  g_assert_true (pd_path_is_at_or_under ("/data/sub", "/data"));
  g_assert_true (pd_path_is_at_or_under ("/data/sub", "/data/"));
  g_assert_true (pd_path_is_at_or_under ("/data/", "/data"));
  g_assert_true (pd_path_is_at_or_under ("/anything", "/"));
  /* a prefix that is no parent */
  g_assert_false (pd_path_is_at_or_under ("/database", "/data"));
  g_assert_false (pd_path_is_at_or_under ("/data", "/data/sub"));

  g_ptr_array_add (apart, "/data");
  g_ptr_array_add (apart, NULL);
  g_ptr_array_add (apart, "/database");
  g_ptr_array_add (apart, "/run/docker/plugins");
  g_assert_false (pd_paths_find_nested (apart, &inner, &outer));

  g_ptr_array_add (nested, "/a/b/c");
  g_ptr_array_add (nested, "/x");
  g_ptr_array_add (nested, "/a");
  g_assert_true (pd_paths_find_nested (nested, &inner, &outer));
  g_assert_cmpuint (inner, ==, 0);
  g_assert_cmpuint (outer, ==, 2);
  /* of two equal ones, the later one is inside */
  g_ptr_array_add (nested, "/x/");
  g_ptr_array_remove_index (nested, 0);
  g_assert_true (pd_paths_find_nested (nested, &inner, &outer));
  g_assert_cmpuint (inner, ==, 2);
  g_assert_cmpuint (outer, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/path/nested", test_paths_nested);

  return g_test_run ();
}
