/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "pd-daemon-config.h"
#include "pd-managed-plugin.h"

G_BEGIN_DECLS

/*
 * The consumer sockets of the enabled plugins (pd-consumer.h), and where container engines
 * find them ([ContainerEngines] of plugind.conf, docs/plugind.8.rst):
 *
 * - every plugin whose record says Enabled and whose config has an Interface.Socket has a
 *   consumer socket at <runtime>/consumers/<short id>.sock (the first PD_CONSUMERS_SHORT_ID
 *   characters of its ID; the whole ID if another's begins the same), from the moment it is
 *   enabled (or the service starts) until it is disabled or removed or the service stops;
 *   while it is not running the socket answers at once that it is not;
 * - it is published under the plugin's engine name (pd_consumers_engine_name()): for dockerd
 *   as a second listening socket at <DockerdPluginDir>/NAME/NAME.sock, and, for a volume
 *   driver, for podman as `"NAME" = "<socket>"` under [engine.volume_plugins] of the drop-in
 *   file PodmanDropIn, which plugind owns: it is written anew on every change, and removed
 *   when no plugin is in it. A path another program holds (a live socket, anything but a dir
 *   at NAME) is left alone, with a warning; a socket nobody listens on is taken over. A name
 *   the engine knows from elsewhere (a socket NAME.sock, a spec file, another podman
 *   configuration file) is not published for it, with a warning.
 *
 * Publishing is best effort: a failure is a warning in the log, and the plugin runs anyway.
 * Main thread only.
 */

typedef struct _PdConsumers PdConsumers;

#define PD_CONSUMERS_SHORT_ID 12

/* the longest engine name: <DockerdPluginDir>/NAME/NAME.sock must fit in sun_path */
#define PD_CONSUMERS_ENGINE_NAME_MAX 40

/* @runtime_dir/consumers must exist (0700) */
PdConsumers *pd_consumers_new (const PdDaemonConfig *config, const char *runtime_dir);
void pd_consumers_free (PdConsumers *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdConsumers, pd_consumers_free)

/* after any change of @plugin (its record, its state): its socket and what it forwards to */
void pd_consumers_update (PdConsumers *self, PdManagedPlugin *plugin);
/* @plugin leaves the store */
void pd_consumers_remove (PdConsumers *self, PdManagedPlugin *plugin);
/* the service started and every plugin was updated: the drop-in is written anew, or removed
 * when it names no plugin (it may be left from a crash) */
void pd_consumers_sync (PdConsumers *self);
/* the service stops: every socket is closed and unpublished */
void pd_consumers_close_all (PdConsumers *self);

/* the consumer socket of the plugin @id, or NULL */
const char *pd_consumers_get_socket (PdConsumers *self, const char *id);

/* The name container engines know the plugin named @plugin_name by: its name without a
 * ":latest" tag ("example:latest" → "example", "example:2" stays). NULL when that is not a
 * name engines can take in a file name: longer than PD_CONSUMERS_ENGINE_NAME_MAX bytes, or
 * other characters than ASCII letters, digits, '_', '.', '-' and ':' (a '/' of a remote
 * name: such a plugin is installed under a local name to be published), and for the names of
 * the engines' own drivers, "local" and "image". */
char *pd_consumers_engine_name (const char *plugin_name);

/* What makes an engine know @name from elsewhere, so that it is not published for that engine
 * (it would take over another plugin's volumes): for dockerd, the path of <@dockerd_dir>/NAME.sock
 * or of a spec file NAME.spec or NAME.json in @spec_dirs, or NULL; for podman, the names under
 * [engine.volume_plugins] of the files in @configs (files, or dirs whose *.conf are read), but
 * for @own. */
char *pd_consumers_dockerd_conflict (const char *dockerd_dir, const char *const *spec_dirs,
                                     const char *name);
GHashTable *pd_consumers_podman_other_names (const char *const *configs, const char *own);

G_END_DECLS
