/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "pd-sandbox-start.h"

G_BEGIN_DECLS

/*
 * One run of a plugin's sandbox, watched from the main loop: bwrap (pd_sandbox_spawn()), its
 * --info-fd, the init's sync socket, the entrypoint's pidfd and its output. Owned by the
 * runner, which starts and stops it and hears of it through PdPluginProcessCallbacks.
 *
 * bwrap runs with --as-pid-1 in a private PID namespace, so the plugin's entrypoint is pid 1
 * there, as with Docker. bwrap first runs the sandbox's init, which waits until the daemon has
 * made its own mounts in the sandbox (pd_plugin_process_finish_setup(), once the init said it
 * is ready and its pid is pinned) and then execs the entrypoint under the same pid. When it
 * exits the kernel kills every other process of the namespace (a daemonized child included)
 * before bwrap sees the exit, so "bwrap exited" means "every process of the plugin is gone".
 * The host pid of the entrypoint comes from bwrap's --info-fd ("child-pid"); it is pinned with
 * a pidfd (checked to be a child of our bwrap) and every signal goes through
 * pidfd_send_signal(), never kill() on a pid that might have been reused. bwrap's own exit
 * status mirrors the entrypoint's (128+N for signal N). Without pidfd_open() (ENOSYS: kernels
 * before 5.3, valgrind) the pid is signalled with kill(), and only until bwrap is seen to exit.
 *
 * Being pid 1, the entrypoint only receives a SIGTERM if it installed a handler
 * (pid_namespaces(7)); one that did not is SIGKILLed after the runner's stop timeout, exactly
 * as under Docker.
 *
 * PidHost: with the host's PID namespace there is no such guarantee from the kernel. On a
 * SIGKILL and after the entrypoint's exit, its process group is killed and then every process
 * in the plugin's own mount namespace (bwrap always makes one, and every process of the plugin
 * shares it), found by a scan of /proc and pinned with a pidfd before the check, so a child
 * that called setsid() or setpgid() goes too. A process that unshared a mount namespace of its
 * own (CAP_SYS_ADMIN) would still escape; a cgroup per plugin would close that.
 */

typedef struct _PdPluginProcess PdPluginProcess;

/* Every callback runs from the main loop, never after pd_plugin_process_detach(). */
typedef struct {
  /* a chunk (at most 16 KiB) of the plugin's stdout and stderr, merged */
  void (*output) (const guint8 *data, gsize len, gpointer user_data);
  /* the entrypoint's host pid is known and pinned */
  void (*pid_known) (pid_t pid, gpointer user_data);
  /* the init is ready and its pid pinned: pd_plugin_process_finish_setup() is due */
  void (*setup_due) (PdPluginProcess *process, gpointer user_data);
  /* bwrap exited and the output was read to its end (or given up on, 1 s after the exit: a
   * PidHost process that escaped may hold the pipe) */
  void (*finished) (PdPluginProcess *process, gpointer user_data);
} PdPluginProcessCallbacks;

/* Spawns the sandbox of @spec (pd_sandbox_prepare_rootfs() done) with stdout and stderr
 * piped. PD_ERROR_SANDBOX_FAILED (or another error of pd_sandbox_spawn()) on error. */
PdPluginProcess *pd_plugin_process_spawn (const PdSandboxSpec *spec,
                                          const PdPluginProcessCallbacks *callbacks,
                                          gpointer user_data,
                                          GError **error);

/* The daemon's part of the set-up (pd_sandbox_finish_setup(), which fills @propagation); on
 * success the init goes on to the entrypoint: what exits from now on is the plugin. On error
 * the caller kills the process. */
gboolean pd_plugin_process_finish_setup (PdPluginProcess *process,
                                         const PdSandboxSpec *spec,
                                         PdSandboxPropagation *propagation,
                                         GError **error);

/* Sends @sig to the entrypoint (see the top of this file). A SIGTERM asked for before bwrap
 * reported the pid is sent once it does; a SIGKILL waits up to 1 s for that report, and kills
 * bwrap itself when none comes. Nothing once bwrap exited. */
void pd_plugin_process_signal (PdPluginProcess *process, int sig);

/* whether the set-up was done (pd_plugin_process_finish_setup()): what exits is the plugin,
 * not the sandbox */
gboolean pd_plugin_process_get_plugin_started (PdPluginProcess *process);

/* bwrap's exit code, or -N when bwrap itself was killed by signal N; valid once finished */
int pd_plugin_process_get_exit_code (PdPluginProcess *process);

/* no more callbacks; the process still runs to its end (and is reaped) unless signalled */
void pd_plugin_process_detach (PdPluginProcess *process);

PdPluginProcess *pd_plugin_process_ref (PdPluginProcess *process);
void pd_plugin_process_unref (PdPluginProcess *process);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPluginProcess, pd_plugin_process_unref)

G_END_DECLS
