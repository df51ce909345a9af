/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-archive.h"
#include "pd-daemon-config.h"
#include "pd-managed-plugin.h"
#include "pd-operation.h"
#include "pd-plugin-record.h"
#include "pd-pull.h"
#include "pd-store.h"

G_BEGIN_DECLS

/*
 * The engine: what every operation of the service works with, and no D-Bus type. It owns the
 * store, the configuration file (read once), the fetch table shared by every download (one
 * layer is downloaded once, however many jobs want it), the limits and the paths of the
 * helper programs; the installed plugins (one PdManagedPlugin each) and the operations (one
 * PdOperation per job). The daemon owns one engine and mirrors it on the bus; unit tests make
 * their own. Everything here runs on the main thread, except where a function says otherwise.
 *
 * Signals:
 *   "plugin-added" (PdManagedPlugin *)   — loaded at start, or just committed
 *   "plugin-removed" (PdManagedPlugin *) — it left the store (before its "remove" event)
 *   "plugin-changed" (PdManagedPlugin *, guint what) — its "changed" (PdManagedPluginChange),
 *                                          for every plugin in one connection
 *   "plugin-event" (const char *action, PdManagedPlugin *, GVariant *attributes)
 *                     — what happened to a plugin, for listeners: "create", "pull", "upgrade",
 *                       "push", "enable", "disable", "set", "remove", and the runner's "crash",
 *                       "restart", "fail"; @attributes (a{sv}) hold "name" and, for an
 *                       operation with a remote, "remote"
 *   "operation-added" (PdOperation *)    — a new operation, before it starts
 *   "operation-finished" (PdOperation *) — an operation ended: after its "completed", before
 *                                          its plugin's event
 */
#define PD_TYPE_ENGINE (pd_engine_get_type ())
G_DECLARE_FINAL_TYPE (PdEngine, pd_engine, PD, ENGINE, GObject)

/* reads the configuration, makes @state_dir (with logs/ in it) and @runtime_dir (with plugins/)
 * and opens (and reconciles) the store */
PdEngine *pd_engine_new (const char *state_dir, const char *runtime_dir, GError **error);

PdStore *pd_engine_get_store (PdEngine *self);
/* the configuration file, read once at start; it outlives every operation */
const PdDaemonConfig *pd_engine_get_config (PdEngine *self);
/* thread-safe: shared by the worker threads of every operation */
PdFetchTable *pd_engine_get_fetch_table (PdEngine *self);
/* the archive limits of the configuration */
void pd_engine_get_archive_limits (PdEngine *self, PdArchiveLimits *limits);
/* plugind-extract, which reads every archive confined */
const char *pd_engine_get_helper_path (PdEngine *self);
/* MaxJobs=: how many operations may run at once */
guint pd_engine_get_max_jobs (PdEngine *self);

/* section: start and stop */

/* one PdManagedPlugin per record of the store ("plugin-added" for each) */
gboolean pd_engine_load (PdEngine *self, GError **error);
/* Once the service is reachable: measures the plugins' disk usage in a thread, then, at low
 * priority, collects the blobs a crash left and starts the enabled plugins, each on its own
 * (a slow plugin must not delay the others). */
void pd_engine_start (PdEngine *self);
/* stops every plugin (Enabled stays as it is, so they start again with the service), cancels
 * every operation, and calls @done once all are over, or after a grace period */
void pd_engine_shutdown (PdEngine *self, GSourceFunc done, gpointer user_data);

/* section: plugins */

/* Docker's resolvePluginID: full ID, name with :latest implied, unique ID prefix */
PdManagedPlugin *pd_engine_resolve_plugin (PdEngine *self, const char *name_or_id,
                                           GError **error);
PdManagedPlugin *pd_engine_lookup_plugin (PdEngine *self, const char *id);
PdManagedPlugin *pd_engine_lookup_plugin_by_name (PdEngine *self, const char *name);
/* sorted by name (container only) */
GPtrArray *pd_engine_list_plugins (PdEngine *self);
/* the plugin of a record that was just committed ("plugin-added") */
PdManagedPlugin *pd_engine_add_plugin (PdEngine *self, PdPluginRecord *record);
/* Remove: stops the plugin (with @force, after ending what holds it; @stop_timeout_ms 0 = the
 * default) and removes it from the store ("plugin-removed", then the "remove" event); its files
 * go in a worker thread */
void pd_engine_remove_plugin_async (PdEngine *self, PdManagedPlugin *plugin, gboolean force,
                                    guint stop_timeout_ms, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean pd_engine_remove_plugin_finish (PdEngine *self, GAsyncResult *result, GError **error);
/* what a new plugin named @name must pass, before and after authorization: no plugin of that
 * name (PluginExists), no operation installing it (Busy) */
gboolean pd_engine_check_name_free (PdEngine *self, const char *name, GError **error);
/* "plugin-event" with "name" and the pairs of @extra (a{sv}, floating reference sunk; NULL =
 * none) */
void pd_engine_emit_plugin_event (PdEngine *self, const char *action, PdManagedPlugin *plugin,
                                  GVariant *extra);
/* deletes unreferenced blobs; those running operations wrote are pinned in the store until
 * their records exist */
void pd_engine_collect_blobs (PdEngine *self);

/* section: operations */

/* a new operation ("operation-added"), or NULL with LimitsExceeded when MaxJobs= run */
PdOperation *pd_engine_new_operation (PdEngine *self, const char *kind, const char *remote,
                                      const char *plugin_name, guint32 uid, GError **error);
/* every operation not yet released, by id (container only) */
GPtrArray *pd_engine_list_operations (PdEngine *self);
PdOperation *pd_engine_lookup_operation (PdEngine *self, guint32 id);
/* the running operation that works on the plugin named @plugin_name, or NULL */
PdOperation *pd_engine_get_running_operation_for (PdEngine *self, const char *plugin_name);
/* the engine forgets a finished operation (the daemon's job stopped showing it) */
void pd_engine_release_operation (PdEngine *self, PdOperation *operation);
/* the event of @operation's kind for @plugin once it finished (after "operation-finished"),
 * with "remote" when it has one; none when the plugin was removed meanwhile */
void pd_engine_emit_event_when_finished (PdEngine *self, PdOperation *operation,
                                         PdManagedPlugin *plugin);

G_END_DECLS
