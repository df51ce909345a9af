/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/stat.h>

#include <gio/gio.h>

G_BEGIN_DECLS

/* temp files of pd_file_write_atomic_at() are named PD_ATOMIC_TEMP_PREFIX "<name>.<random>" */
#define PD_ATOMIC_TEMP_PREFIX ".#"

/* write to a temp file in the same dir, fsync, rename over @name, fsync the dir: every state
 * file is either old or new after a crash (docs/design.md, section Persistence). Once the rename
 * succeeded the call succeeds: a failing fsync of the dir is only logged */
gboolean pd_file_write_atomic_at (int dirfd, const char *name, const void *data, gsize len,
                                  mode_t mode, GError **error);
/* the same, calling pd_crash_point (@crash_point_before_rename) (may be NULL) between the
 * fsync of the temp file and the rename */
gboolean pd_file_write_atomic_full_at (int dirfd, const char *name, const void *data, gsize len,
                                       mode_t mode, const char *crash_point_before_rename,
                                       GError **error);
/* fsyncs the dir @name of @dirfd, or @dirfd itself when @name is NULL */
gboolean pd_fsync_dir_at (int dirfd, const char *name, GError **error);
/* called by pd_walk_tree_at () for each entry below the root: @parent_fd is the directory
 * holding @name, @st its lstat; @is_dir_done: a directory after all its entries (anything
 * else, a directory of another file system included, comes once, never entered). FALSE with
 * @error records an error and the walk goes on. */
typedef gboolean (*PdWalkFunc) (int parent_fd, const char *name, const struct stat *st,
                                gboolean is_dir_done, gpointer user_data, GError **error);

/* Walks the tree of the directory open at @root_fd (named @root_name in messages), depth
 * first, never following a symlink nor entering another file system, with at most four fds
 * open whatever its depth (entries are read when a directory is entered; a parent is reopened
 * through "..", checked to be the same directory). An entry that vanishes is skipped; other
 * errors are recorded and the walk goes on, except a directory moved out from under the
 * walk, which ends it. Returns FALSE with the first error. Any thread. */
gboolean pd_walk_tree_at (int root_fd, const char *root_name, PdWalkFunc func,
                          gpointer user_data, GError **error);
/* recursive delete that never follows symlinks and does not cross mount points, with a few
 * fds whatever the depth (pd_walk_tree_at ()); a missing @name is not an error. Every entry is
 * attempted; the first error is returned. */
gboolean pd_rm_rf_at (int dirfd, const char *name, GError **error);
/* the entry names of the dir @name of @dirfd (@dirfd itself when @name is NULL; never through
 * a symlink at @name), "." and ".." left out, sorted */
GPtrArray *pd_list_dir_at (int dirfd, const char *name, GError **error);
/* the contents of the regular file @name of @dirfd (never through a symlink), at most
 * @max_size bytes: PD_ERROR_LIMITS_EXCEEDED beyond, also when it grows while read */
GBytes *pd_read_file_at (int dirfd, const char *name, gsize max_size, GError **error);
/* mkdir -p with @mode for every component created; the existing final dir is chmod'ed to
 * @mode (existing parents are left alone) */
gboolean pd_mkdir_with_mode (const char *path, mode_t mode, GError **error);
/* mkdir of one component relative to @dirfd (never following a symlink at @name), chmod'ed
 * to @mode whatever the umask, existing or not */
gboolean pd_mkdir_at_with_mode (int dirfd, const char *name, mode_t mode, GError **error);
/* write(2) until done, retrying on EINTR */
gboolean pd_write_all (int fd, const void *data, gsize len, GError **error);
/* close(2) that preserves errno, for error paths; ignores fd < 0 */
int pd_close_keep_errno (int fd);
/* @prefix followed by 16 random hex digits */
char *pd_random_name (const char *prefix);
/* GError from errno with PD_ERROR_NO_SPACE for ENOSPC/EDQUOT, PD_ERROR_FAILED otherwise */
void pd_set_error_from_errno (GError **error, int errsv, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* Test-only crash points (pd-store-private.h lists the store's), for the tests that kill the
 * daemon mid-change: when $PLUGIND_CRASH_POINT equals @name the process is killed with SIGKILL
 * right here. A no-op otherwise. */
void pd_crash_point (const char *name);

G_END_DECLS
