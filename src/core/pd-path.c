/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-path"

#include <string.h>

#include "pd-error.h"
#include "pd-path.h"

gboolean
pd_path_is_clean_absolute (const char *path)
{
  g_auto(GStrv) parts = NULL;
  guint n;

  if (path == NULL || path[0] != '/' || pd_string_has_control_chars (path))
    return FALSE;
  parts = g_strsplit (path + 1, "/", -1);
  n = g_strv_length (parts);
  /* one trailing slash is fine ("WorkDir": "/bin/" in Docker's own example) */
  if (n > 0 && parts[n - 1][0] == '\0')
    n--;
  for (guint i = 0; i < n; i++)
    if (parts[i][0] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

gboolean
pd_path_is_at_or_under (const char *path, const char *dir)
{
  gsize path_len = strlen (path);
  gsize dir_len = strlen (dir);

  /* "/data/" is "/data" */
  while (path_len > 1 && path[path_len - 1] == '/')
    path_len--;
  while (dir_len > 1 && dir[dir_len - 1] == '/')
    dir_len--;
  if (dir_len == 1 && dir[0] == '/')
    return path[0] == '/';
  return path_len >= dir_len && strncmp (path, dir, dir_len) == 0
         && (path_len == dir_len || path[dir_len] == '/');
}

gboolean
pd_paths_find_nested (GPtrArray *paths, guint *inner, guint *outer)
{
  for (guint i = 0; i < paths->len; i++)
    for (guint j = i + 1; j < paths->len; j++)
      {
        const char *a = paths->pdata[i], *b = paths->pdata[j];

        if (a == NULL || b == NULL)
          continue;
        if (pd_path_is_at_or_under (a, b) || pd_path_is_at_or_under (b, a))
          {
            /* of two equal ones, the later is the one that goes over the other */
            gboolean a_inside = !pd_path_is_at_or_under (b, a);

            *inner = a_inside ? i : j;
            *outer = a_inside ? j : i;
            return TRUE;
          }
      }
  return FALSE;
}
