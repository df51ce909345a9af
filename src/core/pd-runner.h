/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-plugin-log.h"
#include "pd-plugin-record.h"
#include "pd-sandbox.h"

G_BEGIN_DECLS

/*
 * PdRunner runs ONE plugin's process and owns its state machine (docs/design.md, section
 * Data flows, Enable and disable; docs/dbus-api.md, Running plugins). Whatever the plugin does
 * (exit, never create its socket, never answer, ignore SIGTERM, fork away, flood its output),
 * it must not hang a caller, leak a process, a mount or an fd, or grow the daemon's memory. No
 * D-Bus types: the D-Bus layer mirrors the properties and the "event" signal. Everything
 * happens on the thread that owns the default main context; no call blocks beyond short
 * syscalls.
 *
 * Its parts: the process (bwrap, pid 1 of its PID namespace, pidfds, PidHost) in
 * pd-plugin-process.h, the handshake with the plugin in pd-activation.h (the answer judged by
 * pd-activate.h), the log in pd-plugin-log.h.
 *
 * States: disabled → starting → running → stopping → disabled, plus restarting and failed.
 *
 * - enable (from disabled or failed): starting; the runtime dir is emptied, the rootfs
 *   prepared, bwrap spawned. Readiness: Interface.Socket inside @plugin_runtime_dir must
 *   appear as a socket (never followed through a symlink), then POST /Plugin.Activate with
 *   Docker's headers; the 200 body (at most 1 MiB) must be {"Implements": [...]} covering
 *   every Interface.Types entry docker.<x>/<v> (case-insensitively); a 404 is accepted as
 *   Docker would (Implements from the config, a warning logged); anything else fails with the
 *   body's Err. A config without Interface.Socket is running as soon as the process is. The
 *   whole wait is bounded by the activation timeout.
 *   Success: running, Socket and Implements set, MainPID set (it is set as soon as known).
 *   Failure: the process is SIGKILLed, the reply waits until every process is gone, the state is
 *   failed with LastErrorName/LastErrorMessage; the message carries the plugin's Err text or exit
 *   status, and points to the plugin's log when it wrote anything (never its output: the
 *   message is readable by every local user, the output may hold secrets).
 * - disable (from running, restarting or failed): stopping; SIGTERM, after @stop_timeout_ms
 *   SIGKILL; disabled once bwrap has exited. From restarting the pending restart (or the restart
 *   attempt in progress) is cancelled. From failed it is just a state change.
 * - crash (the process exits while running): restarting, "event" "crash"; a new start after a
 *   backoff of 1 s doubling up to 30 s; when it reaches running: "event" "restart" and
 *   RestartCount + 1. Every unexpected exit and every failed restart attempt counts as an exit;
 *   the 5th exit within 120 s ends in failed with "event" "fail" (each exit still emits
 *   "crash" first) and no more restarts. Enable from failed starts afresh (RestartCount 0).
 *   The backoff resets after 120 s of running.
 *
 * Logs: stdout and stderr (merged) go to @log_dir/<id>.log, rotated to <id>.log.1 at 1 MiB
 * (pd-plugin-log.h).
 */

typedef enum {
  PD_PLUGIN_STATE_DISABLED,
  PD_PLUGIN_STATE_STARTING,
  PD_PLUGIN_STATE_RUNNING,
  PD_PLUGIN_STATE_STOPPING,
  PD_PLUGIN_STATE_RESTARTING,
  PD_PLUGIN_STATE_FAILED,
} PdPluginState;

/* "disabled", "starting", "running", "stopping", "restarting", "failed" */
const char *pd_plugin_state_to_string (PdPluginState state);

#define PD_RUNNER_DEFAULT_ACTIVATION_TIMEOUT_MS 20000
#define PD_RUNNER_DEFAULT_STOP_TIMEOUT_MS 10000
/* log file cap before rotation */
#define PD_RUNNER_LOG_MAX_SIZE PD_PLUGIN_LOG_MAX_SIZE
/* concurrent OpenLog readers per plugin (more is PD_ERROR_LIMITS_EXCEEDED) */
#define PD_RUNNER_MAX_LOG_READERS PD_PLUGIN_LOG_MAX_READERS

#define PD_TYPE_RUNNER (pd_runner_get_type ())
G_DECLARE_FINAL_TYPE (PdRunner, pd_runner, PD, RUNNER, GObject)

/*
 * Properties (all notify): "state" (PdPluginState as guint), "state-timestamp" (guint64,
 * realtime µs), "main-pid" (guint, 0 when no process), "socket" (host path, "" when not
 * running), "implements" (GStrv, empty when not running), "restart-count" (guint),
 * "last-error-name" (D-Bus error name, "" = none), "last-error-message" ("" = none).
 *
 * Signal "event" (const char *action): "crash", "restart", "fail", for PluginEvent. Enable and
 * disable are not signalled: the D-Bus layer knows about them. Signal "mounts-changed": what
 * pd_runner_get_mounts() returns changed.
 *
 * @record: the plugin (config, settings, id); @rootfs: host path of its rootfs (its parent dir
 * also holds "propagated-mount" for a config with PropagatedMount, as in Docker's layout);
 * @plugin_runtime_dir: `<runtime>/plugins/<id>`, created 0700 if missing and emptied before
 * every start and after every stop; @log_dir: an existing dir for <id>.log.
 */
PdRunner *pd_runner_new (PdPluginRecord *record,
                         const char *rootfs,
                         const char *plugin_runtime_dir,
                         const char *log_dir);

/* The runner's one owner (the daemon's PdManagedPlugin), told what the signals "notify",
 * "event" and "mounts-changed" tell, just before their handlers run: a signal connection costs
 * ~200-300 bytes per object, and a daemon keeps a runner per installed plugin. */
typedef struct {
  void (*notify) (PdRunner *runner, GParamSpec *pspec, gpointer data);
  void (*event) (PdRunner *runner, const char *event, gpointer data);
  void (*mounts_changed) (PdRunner *runner, gpointer data);
} PdRunnerOwner;

/* sets (or with NULL clears) the owner; @owner is static, @data not referenced */
void pd_runner_set_owner (PdRunner *self, const PdRunnerOwner *owner, gpointer data);

/* which capabilities the plugin gets at its next start (PD_SANDBOX_CAPABILITIES_DOCKER by
 * default: [Sandbox] Capabilities= of plugind.conf) */
void pd_runner_set_capabilities (PdRunner *self, PdSandboxCapabilities capabilities);
/* before its first use: the StateTimestamp of the state a runner starts in (disabled), by
 * default its creation time; a runner made when its plugin is first used gets the time the
 * plugin was loaded, which clients saw until then */
void pd_runner_set_initial_state_timestamp (PdRunner *self, guint64 timestamp);

PdPluginRecord *pd_runner_get_record (PdRunner *self);
PdPluginState pd_runner_get_state (PdRunner *self);
guint64 pd_runner_get_state_timestamp (PdRunner *self);
guint pd_runner_get_main_pid (PdRunner *self);
const char *pd_runner_get_socket (PdRunner *self);
const char *const *pd_runner_get_implements (PdRunner *self);
guint pd_runner_get_restart_count (PdRunner *self);
const char *pd_runner_get_last_error_name (PdRunner *self);
const char *pd_runner_get_last_error_message (PdRunner *self);
/* the enable `timeout` option (s, 0 = none): the per-request HTTP timeout for calls to the
 * plugin (Docker's http.Client.Timeout) */
guint pd_runner_get_request_timeout (PdRunner *self);

/* Starts the plugin from disabled or failed (else PD_ERROR_PLUGIN_ENABLED when starting,
 * running or restarting, PD_ERROR_BUSY when stopping). @activation_timeout_ms 0 means
 * PD_RUNNER_DEFAULT_ACTIVATION_TIMEOUT_MS. Errors: PD_ERROR_ACTIVATION_TIMEOUT,
 * PD_ERROR_ACTIVATION_FAILED, PD_ERROR_SANDBOX_FAILED (bwrap or the sandbox setup failed
 * before the plugin ran), G_IO_ERROR_CANCELLED when @cancellable fires (then the plugin is
 * stopped and the state is disabled). */
void pd_runner_enable_async (PdRunner *self,
                             guint activation_timeout_ms,
                             guint request_timeout_s,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer user_data);
gboolean pd_runner_enable_finish (PdRunner *self, GAsyncResult *result, GError **error);

/* Stops the plugin (see above); completes at disabled with every process gone.
 * PD_ERROR_PLUGIN_DISABLED when already disabled; PD_ERROR_BUSY while an enable is in flight
 * (starting: cancel the enable instead); while stopping, the call joins the stop in progress
 * (its @stop_timeout_ms is ignored). @stop_timeout_ms 0 means
 * PD_RUNNER_DEFAULT_STOP_TIMEOUT_MS. The stop goes on whatever @cancellable does; a cancelled
 * call returns G_IO_ERROR_CANCELLED when the stop is done. */
void pd_runner_disable_async (PdRunner *self,
                              guint stop_timeout_ms,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data);
gboolean pd_runner_disable_finish (PdRunner *self, GAsyncResult *result, GError **error);

/* Returns the read end (O_CLOEXEC) of a pipe carrying what @query selects of the log files
 * (pd_plugin_log_read()) and, with @follow, the output that comes afterwards until the
 * plugin is disabled or fails (a crash-restart keeps the readers). Without @follow, or when no
 * process runs, the write end is closed once the tail is written. The write end is
 * non-blocking and written from the main loop: a reader that falls more than 1 MiB behind is
 * dropped (its pipe is closed, so it sees EOF) rather than block the daemon or grow its memory;
 * a reader that closes its end is noticed and dropped at once. -1 with PD_ERROR_LIMITS_EXCEEDED
 * past PD_RUNNER_MAX_LOG_READERS readers, or PD_ERROR_FAILED. */
int pd_runner_open_log (PdRunner *self, const PdPluginLogQuery *query, gboolean follow,
                        GError **error);
/* pd_plugin_log_read_text() of its log */
char *pd_runner_read_log (PdRunner *self, const PdPluginLogQuery *query);

/* section: PropagatedMount (docs/design.md, "The sandbox") */

/* The host path of the plugin's propagated-mount dir, `plugins/<id>/propagated-mount` in the
 * state dir (Docker's layout); NULL when its config has no PropagatedMount. While the plugin
 * runs, that dir is a shared mount whose peer is at Config.PropagatedMount in the sandbox:
 * what the plugin mounts at Config.PropagatedMount + P is mounted on the host at this dir + P
 * (pd_sandbox_finish_setup()). That host path is what an engine must be given in place of a
 * Mountpoint the plugin answers. */
char *pd_runner_dup_propagated_mount_dir (PdRunner *self);
/* the same for a plugin with @record whose rootfs is @rootfs, without a runner */
char *pd_runner_dup_propagated_mount_dir_for (PdPluginRecord *record, const char *rootfs);

/* What the running plugin has mounted beneath its PropagatedMount (PdPropagatedMount, with
 * host paths; pd-propagated-mounts.h), and in @n_unlisted (may be NULL) how many more there
 * are (G_MAXUINT: more than plugind reads). NULL when no sandbox with a PropagatedMount runs.
 * The runner emits "mounts-changed" when the list changes; everything mounted there is
 * unmounted on the host whenever the sandbox ends (disable, crash, the service's stop, a
 * failed start), before the state changes. */
GPtrArray *pd_runner_get_mounts (PdRunner *self, guint *n_unlisted);
/* reads the sandbox's mount table again now (for a decision that needs the current list) */
void pd_runner_refresh_mounts (PdRunner *self);
/* Unmounts whatever is mounted at the propagated-mount dir on the host
 * (pd_sandbox_release_propagated_mount()): only while no process runs, e.g. before the
 * plugin's files are removed (a daemon that was killed leaves its plugins' mounts). */
gboolean pd_runner_release_mounts (PdRunner *self, GError **error);
/* the same for a plugin that has no runner (none of its processes can run) */
gboolean pd_runner_release_mounts_for (PdPluginRecord *record, const char *rootfs,
                                       GError **error);

/* Test-only: the first restart backoff (default 1000 ms; doubled up to 30 s). */
void pd_runner_set_restart_backoff_for_testing (PdRunner *self, guint initial_ms);

G_END_DECLS
