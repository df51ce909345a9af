/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Lexical rules for the paths an untrusted config or a caller names; nothing here touches the
 * file system. */

/* absolute, without empty, "." or ".." components (one trailing "/" allowed, as in Docker's
 * own "WorkDir": "/bin/") and without control characters: a path that means one place.
 * The config validator and the sandbox use the same rule. */
gboolean pd_path_is_clean_absolute (const char *path);
/* TRUE when @path is @dir or below it (both clean absolute paths; a trailing '/' is
 * ignored) */
gboolean pd_path_is_at_or_under (const char *path, const char *dir);
/* TRUE when one of @paths (char *, NULL entries skipped) is at or under another: @inner and
 * @outer are then the indexes of the first such pair */
gboolean pd_paths_find_nested (GPtrArray *paths, guint *inner, guint *outer);

G_END_DECLS
