/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-engine.h"
#include "pd-operation.h"

G_BEGIN_DECLS

/*
 * Create: a plugin from a build context, a tar (plain or compressed) with config.json and
 * rootfs/ that the caller streams through a file descriptor. A worker thread reads it confined
 * (plugind-extract), checks the config and binds consent to it (the privileges of this very
 * config must be the accepted ones), and stores the layer, the config and a manifest as blobs;
 * the main thread then commits the staged plugin with one rename. A failure deletes what was
 * staged (in a thread) before the operation ends.
 */

/* What the context fd must be before anything reads it: open for reading, not O_PATH, a
 * regular file, a pipe or a socket. @size: a regular file's size, else 0 (unknown). */
gboolean pd_create_check_context_fd (int fd, guint64 *size, GError **error);

/* Runs @operation (new, not yet started) to its end, reading @fd (taken; closed as soon as it
 * is read) of @fd_size bytes (0 = unknown). @accepted: the privileges the caller consented to
 * (PdPrivilege), or @grant_all. Results: "plugin-id", "manifest-digest", "reference", "size";
 * the "create" event once it finished. */
void pd_create_start (PdEngine *engine, PdOperation *operation, const char *name, int fd,
                      guint64 fd_size, GPtrArray *accepted, gboolean grant_all);

G_END_DECLS
