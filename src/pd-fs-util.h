/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* write to a temp file in the same dir, fsync, rename over @name, fsync the dir (rule 7) */
gboolean pd_file_write_atomic_at (int dirfd, const char *name, const void *data, gsize len,
                                  mode_t mode, GError **error);
gboolean pd_fsync_dir_at (int dirfd, const char *name, GError **error);
/* recursive delete that never follows symlinks and does not cross mount points */
gboolean pd_rm_rf_at (int dirfd, const char *name, GError **error);
/* mkdir -p with @mode for every component created; existing dirs are chmod'ed to @mode */
gboolean pd_mkdir_with_mode (const char *path, mode_t mode, GError **error);
/* GError from errno with PD_ERROR_NO_SPACE for ENOSPC/EDQUOT, PD_ERROR_FAILED otherwise */
void pd_set_error_from_errno (GError **error, int errsv, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* Test-only crash points (reliability.md): when $PLUGIND_CRASH_POINT equals @name the process
 * is killed with SIGKILL right here. A no-op otherwise. */
void pd_crash_point (const char *name);

G_END_DECLS
