/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-engine.h"
#include "pd-managed-plugin.h"
#include "pd-operation.h"
#include "pd-reference.h"

G_BEGIN_DECLS

/*
 * Push: a plugin's stored image to a registry. pd_push_run() (pd-push.h) does the registry
 * side in a worker thread; the repository the plugin came from lends its blobs when it is on
 * the same registry.
 */

/* Where a push goes: @remote, or "" for the plugin's reference (its name for a created
 * plugin, as Docker does); ":latest" implied, never a digest (InvalidReference). */
PdReference *pd_publish_parse_target (PdManagedPlugin *plugin, const char *remote,
                                      GError **error);

/* Runs @operation (new, not yet started) to its end. Takes @target and @registry_auth.
 * Results: "reference", "manifest-digest", "size"; the "push" event once it finished. */
void pd_publish_start (PdEngine *engine, PdOperation *operation, PdManagedPlugin *plugin,
                       PdReference *target, char *registry_auth);

G_END_DECLS
