/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

G_BEGIN_DECLS

/* the create context of `pluginctl create`: a directory holding config.json and rootfs/, or a
 * tar archive of them */
typedef struct _CtlContext CtlContext;

/* opens the context at @path and reads its config.json, with Docker CLI's checks */
CtlContext *ctl_context_open (const char *path, GError **error);
void ctl_context_free (CtlContext *context);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlContext, ctl_context_free)

/* the context's config.json */
GBytes *ctl_context_get_config (CtlContext *context);

/* Adds the descriptor the daemon reads the context from to @fd_list and returns its index, -1
 * with @error set on failure. A tar archive is passed as it is; a directory is archived by a
 * thread into a pipe, and a failure of that thread runs @on_failed (with @on_failed_data) on
 * the main context, unless the daemon stopped reading first. */
int ctl_context_start (CtlContext *context,
                       GUnixFDList *fd_list,
                       GSourceFunc on_failed,
                       gpointer on_failed_data,
                       GError **error);

/* Waits for the thread archiving a directory and runs what it left queued on the main context
 * (@on_failed). FALSE, with the thread's error, when it failed on our side: that explains a
 * failed job better than the daemon's "truncated archive". */
gboolean ctl_context_finish (CtlContext *context, GError **error);

G_END_DECLS
