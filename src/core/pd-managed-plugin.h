/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-operation.h"
#include "pd-plugin-config.h"
#include "pd-plugin-record.h"
#include "pd-runner.h"
#include "pd-store.h"

G_BEGIN_DECLS

/*
 * An installed plugin and its life: its record (what is on disk), its runner (its process),
 * the holds on it, and the rules every change follows. One state change at a time: an
 * authorized change marks the plugin busy until it is over, and a running operation on it
 * (an upgrade, a push, an install that enables it) counts as one; everything that changes the
 * plugin checks again once it is authorized, since the state may have changed meanwhile. A
 * forced Disable or Remove ends whatever holds the plugin first. Enabled is saved to the
 * store: what runs is what the record says. No D-Bus types: the daemon's PdPlugin mirrors it.
 *
 * Signals:
 *   "changed" (PdManagedPluginChange what) — what to show again
 *   "event" (const char *action)           — "enable", "disable", "set", and the runner's
 *                                            "crash", "restart", "fail"
 */
#define PD_TYPE_MANAGED_PLUGIN (pd_managed_plugin_get_type ())
G_DECLARE_FINAL_TYPE (PdManagedPlugin, pd_managed_plugin, PD, MANAGED_PLUGIN, GObject)

typedef enum {
  PD_MANAGED_PLUGIN_CHANGED_IMAGE = 1 << 0,      /* another image: everything of the record */
  PD_MANAGED_PLUGIN_CHANGED_SETTINGS = 1 << 1,   /* settings, privileges, update time */
  PD_MANAGED_PLUGIN_CHANGED_ENABLED = 1 << 2,
  PD_MANAGED_PLUGIN_CHANGED_RUNTIME = 1 << 3,    /* the runner's state */
  PD_MANAGED_PLUGIN_CHANGED_HOLDERS = 1 << 4,
  PD_MANAGED_PLUGIN_CHANGED_DISK_USAGE = 1 << 5,
  PD_MANAGED_PLUGIN_CHANGED_OPERATION = 1 << 6,  /* the operation working on it */
} PdManagedPluginChange;

/* Hold takes at most this many holders per plugin (LimitsExceeded beyond) */
#define PD_MANAGED_PLUGIN_MAX_HOLDS 256

/* @store: where its record is saved; @runtime_dir: the service's (its socket dir goes under
 * it); @log_dir: where its log files are; @capabilities: what its sandbox gets at its next
 * start */
PdManagedPlugin *pd_managed_plugin_new (PdPluginRecord *record, PdStore *store,
                                        const char *runtime_dir, const char *log_dir,
                                        PdSandboxCapabilities capabilities);

/* The plugin's one owner (the engine), told what the signals "changed" and "event" tell, just
 * before their handlers run (a signal connection costs ~200-300 bytes per plugin). @owner is
 * static, @data not referenced; NULL clears it. */
typedef struct {
  void (*changed) (PdManagedPlugin *plugin, guint what, gpointer data);
  void (*event) (PdManagedPlugin *plugin, const char *action, gpointer data);
} PdManagedPluginOwner;

void pd_managed_plugin_set_owner (PdManagedPlugin *self, const PdManagedPluginOwner *owner,
                                  gpointer data);

PdPluginRecord *pd_managed_plugin_get_record (PdManagedPlugin *self);
const char *pd_managed_plugin_get_id (PdManagedPlugin *self);
const char *pd_managed_plugin_get_name (PdManagedPlugin *self);
/* its process: state, pid, socket, errors */
/* its runner, made at the first call (a plugin that never runs has none) */
PdRunner *pd_managed_plugin_get_runner (PdManagedPlugin *self);
/* the runner if it was made, else NULL: a runner not made yet is disabled, with the
 * values of a new runner (no pid, socket, implements, restarts or error) */
PdRunner *pd_managed_plugin_peek_runner (PdManagedPlugin *self);
/* the runner's StateTimestamp, or the time the plugin was loaded while it has none */
guint64 pd_managed_plugin_get_state_timestamp (PdManagedPlugin *self);
PdPluginState pd_managed_plugin_get_state (PdManagedPlugin *self);
/* running, or on its way to or from it: what Set, Remove and Upgrade refuse */
gboolean pd_managed_plugin_is_active (PdManagedPlugin *self);
guint64 pd_managed_plugin_get_disk_usage (PdManagedPlugin *self);
void pd_managed_plugin_set_disk_usage (PdManagedPlugin *self, guint64 bytes);

/* The holds on it: who and why (shown to people), and the holder's uid and pid. Holders are
 * the consumers' holds (pd_managed_plugin_add_hold()), then the mounts beneath its
 * PropagatedMount (pd_runner_get_mounts(): who is the mount's host path, uid and pid are 0),
 * at most PD_PROPAGATED_MOUNTS_MAX_LISTED and one entry for the rest. Either makes Disable and
 * Remove fail with PluginInUse without force. */
guint pd_managed_plugin_get_n_holds (PdManagedPlugin *self);
void pd_managed_plugin_get_hold (PdManagedPlugin *self, guint index, const char **who,
                                 const char **why, guint32 *uid, guint32 *pid);

/* The host path of its propagated-mount dir (pd_runner_dup_propagated_mount_dir()), which an
 * engine must be given for a Mountpoint beneath Config.PropagatedMount; NULL when its config
 * has no PropagatedMount. */
char *pd_managed_plugin_dup_propagated_mount_dir (PdManagedPlugin *self);

/* set by the engine when the plugin left the store: late calls then fail with NoSuchPlugin */
void pd_managed_plugin_mark_removed (PdManagedPlugin *self);
gboolean pd_managed_plugin_is_removed (PdManagedPlugin *self);
/* set by the engine: the running operation that works on this plugin, or NULL */
void pd_managed_plugin_set_operation (PdManagedPlugin *self, PdOperation *operation);

/* Docker's inspect JSON of the plugin (pd_plugin_record_to_docker_json()) with plugind's
 * "State" object last: Status, Pid, RestartCount, ErrorName, Error (the Plugin object's State,
 * MainPID, RestartCount, LastErrorName and LastErrorMessage) */
char *pd_managed_plugin_to_inspect_json (PdManagedPlugin *self, gboolean show_values);
PdOperation *pd_managed_plugin_get_operation (PdManagedPlugin *self);
/* the record takes @upgraded's image (an upgrade's commit) */
void pd_managed_plugin_take_image (PdManagedPlugin *self, PdPluginRecord *upgraded);
/* while PD_MANAGED_PLUGIN_CHANGED_IMAGE is emitted: a record with the image (reference,
 * digests, config) the plugin had before; NULL otherwise */
PdPluginRecord *pd_managed_plugin_get_previous_image (PdManagedPlugin *self);

/* section: the checks, before and again after authorization */

/* not removed, no other change or operation in progress */
gboolean pd_managed_plugin_check_can_change (PdManagedPlugin *self, GError **error);
gboolean pd_managed_plugin_check_can_enable (PdManagedPlugin *self, GError **error);
/* with @force, a plugin something holds passes: the disable ends that first */
gboolean pd_managed_plugin_check_can_disable (PdManagedPlugin *self, gboolean force,
                                              GError **error);
gboolean pd_managed_plugin_check_can_remove (PdManagedPlugin *self, gboolean force,
                                             GError **error);
/* running, and fewer than PD_MANAGED_PLUGIN_MAX_HOLDS holds */
gboolean pd_managed_plugin_check_can_hold (PdManagedPlugin *self, GError **error);
/* a change, and not active */
gboolean pd_managed_plugin_check_can_set (PdManagedPlugin *self, GError **error);
/* a change, not active unless @restart, and, when @authorized_privileges is not NULL, still the
 * privileges the caller was authorized for (pd_managed_plugin_dup_privileges_text()) */
gboolean pd_managed_plugin_check_can_upgrade (PdManagedPlugin *self, gboolean restart,
                                              const char *authorized_privileges,
                                              GError **error);
/* its privileges now, as the text callers are authorized for */
char *pd_managed_plugin_dup_privileges_text (PdManagedPlugin *self);

/* section: Set */

/* the settings @changes would give, and the privileges they compute to: as text, and whether
 * they differ from the plugin's now */
PdPluginSettings *pd_managed_plugin_compute_settings (PdManagedPlugin *self, GPtrArray *changes,
                                                      char **privileges_text,
                                                      gboolean *privileges_changed,
                                                      GError **error);
/* Applies @changes (PdSettingChange, in order) and saves them, after checking again; when they
 * change the privileges, these must be @authorized_privileges (what the caller was authorized
 * for; Busy otherwise). "changed", then the "set" event. */
gboolean pd_managed_plugin_set_settings (PdManagedPlugin *self, GPtrArray *changes,
                                         const char *authorized_privileges, GError **error);

/* section: Enable, Disable, the stop before Remove */

/* Starts the plugin and saves Enabled; the "enable" event. @activation_timeout (s, 0 = the
 * default), @request_timeout (s, 0 = none) as the Enable options say. */
void pd_managed_plugin_enable_async (PdManagedPlugin *self, guint activation_timeout,
                                     guint request_timeout, GAsyncReadyCallback callback,
                                     gpointer user_data);
/* The same for the operation working on this plugin (Pull with "enable", Upgrade with
 * "restart"), which does not count as a change in progress: when @operation_cancellable fires
 * the start ends (the plugin is stopped) with G_IO_ERROR_CANCELLED. */
void pd_managed_plugin_enable_for_operation_async (PdManagedPlugin *self,
                                                   guint activation_timeout,
                                                   guint request_timeout,
                                                   GCancellable *operation_cancellable,
                                                   GAsyncReadyCallback callback,
                                                   gpointer user_data);
gboolean pd_managed_plugin_enable_finish (PdManagedPlugin *self, GAsyncResult *result,
                                          GError **error);

/* Stops the plugin (with @force, after ending what holds it) and saves Enabled off; the
 * "disable" event. @stop_timeout_ms 0 = the default. */
void pd_managed_plugin_disable_async (PdManagedPlugin *self, gboolean force,
                                      guint stop_timeout_ms, GAsyncReadyCallback callback,
                                      gpointer user_data);
gboolean pd_managed_plugin_disable_finish (PdManagedPlugin *self, GAsyncResult *result,
                                           GError **error);

/* Remove's first half: checks, ends what holds the plugin (@force) and stops it (an error of
 * the stop is only logged, as Docker does), then unmounts whatever is mounted at its
 * propagated-mount dir (an error of that fails the removal: its files go next). On success the
 * plugin stays busy until pd_managed_plugin_end_removal(), called once the engine removed it (or
 * failed to). */
void pd_managed_plugin_stop_for_removal_async (PdManagedPlugin *self, gboolean force,
                                               guint stop_timeout_ms,
                                               GAsyncReadyCallback callback,
                                               gpointer user_data);
gboolean pd_managed_plugin_stop_for_removal_finish (PdManagedPlugin *self, GAsyncResult *result,
                                                    GError **error);
void pd_managed_plugin_end_removal (PdManagedPlugin *self);

/* section: Hold, logs */

/* A consumer's reference on the running plugin: returns the read end of a pipe (O_CLOEXEC);
 * the hold ends when the holder closes it (or when the plugin stops). @who and @why are
 * escaped and cut for people to read. -1 with the error of pd_managed_plugin_check_can_hold(). */
int pd_managed_plugin_add_hold (PdManagedPlugin *self, const char *who, const char *why,
                                guint32 uid, guint32 pid, GError **error);
/* pd_runner_open_log(), pd_runner_read_log() */
int pd_managed_plugin_open_log (PdManagedPlugin *self, const PdPluginLogQuery *query,
                                gboolean follow, GError **error);
char *pd_managed_plugin_read_log (PdManagedPlugin *self, const PdPluginLogQuery *query);

/* section: with the service */

/* starts the plugin again if its record says Enabled (the service's start; does not block);
 * else unmounts what a killed daemon left at its propagated-mount dir */
void pd_managed_plugin_restore (PdManagedPlugin *self);
/* stops a running plugin for the service's stop, keeping Enabled; never fails */
void pd_managed_plugin_stop_async (PdManagedPlugin *self, GAsyncReadyCallback callback,
                                   gpointer user_data);

G_END_DECLS
