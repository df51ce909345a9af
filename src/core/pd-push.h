/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-pull.h"
#include "pd-registry.h"
#include "pd-store.h"

G_BEGIN_DECLS

/*
 * Pushing a plugin (docs/design.md, section Data flows): every blob its stored manifest names
 * that the registry lacks is uploaded (mounted from @mount_from, a repository of the same
 * registry, when that works), then the manifest itself under @tag. Blocking: call from a GTask
 * thread. @progress lists the blobs (layers, then the config) with "waiting", "exists",
 * "uploading", "complete". @manifest_size: the pushed manifest's size (Docker's push aux
 * "Size").
 */
gboolean pd_push_run (PdRegistryClient *client, PdStore *store, const char *manifest_digest,
                      const char *tag, const char *mount_from, PdPullProgress *progress,
                      guint64 *manifest_size, GCancellable *cancellable, GError **error);

G_END_DECLS
