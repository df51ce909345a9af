/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "pd-sandbox.h"

G_BEGIN_DECLS

/*
 * Start-up. bwrap runs plugind-sandbox-init (src/helpers/pd-sandbox-init.c) first, from a sealed
 * memfd copy so that nothing in the sandbox can reach the host's binary. Once bwrap's set-up
 * is done it tells the daemon through a socket and waits; the daemon makes its own mounts in
 * the sandbox's mount namespace (pd_sandbox_finish_setup()) and answers; then the init
 * switches to Config.User, narrows its capabilities to the plugin's and execs the entrypoint,
 * which keeps its pid (pid 1 of the PID namespace with --as-pid-1).
 *
 * What the sandbox holds, and the checks of its spec, are in pd-sandbox.h; its seccomp filter
 * in pd-seccomp.h.
 */

/* A sealed, close-on-exec memfd holding plugind-sandbox-init ($PLUGIND_SANDBOX_INIT, else
 * LIBEXECDIR's), read once per process; each call
 * returns a new fd of it. -1 with PD_ERROR_SANDBOX_FAILED when it cannot be read. */
int pd_sandbox_open_init (GError **error);

/* A spawned sandbox: bwrap, and the daemon's ends of its pipes. */
typedef struct {
  GSubprocess *subprocess;
  int info_fd;   /* read end of bwrap's --info-fd ({"child-pid": N}), close-on-exec */
  int sync_fd;   /* the daemon's end of the init's sync socket, close-on-exec */
} PdSandboxProcess;

void pd_sandbox_process_free (PdSandboxProcess *process);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdSandboxProcess, pd_sandbox_process_free)

/* Builds the argv and the seccomp filter for @spec (its fd fields are ignored: this sets
 * them), and spawns bwrap with a clean environment, its capability bounding set narrowed to
 * what the sandbox needs before it runs (bwrap run by root leaves it full), the init program
 * first and @flags for its stdio. The init then waits for pd_sandbox_finish_setup(). Call
 * pd_sandbox_prepare_rootfs() first. PD_ERROR_SANDBOX_FAILED on error. */
PdSandboxProcess *pd_sandbox_spawn (const PdSandboxSpec *spec, GSubprocessFlags flags,
                                    GError **error);

/* The daemon's part of the set-up, once the init said it is ready (a byte "R" on @sync_fd):
 * makes Docker's read-only /proc paths read-only in the mount namespace of the init (@pidfd,
 * or @pid when -1: pidfd_open() is missing), from a forked process, then tells the init to go
 * on. Blocks for the few syscalls this takes. On error (PD_ERROR_SANDBOX_FAILED) the init is
 * not told: the caller kills the sandbox. */
gboolean pd_sandbox_finish_setup (const PdSandboxSpec *spec, int pidfd, pid_t pid, int sync_fd,
                                  GError **error);

/* For tests and benchmarks: waits (blocking, at most @timeout_ms) for bwrap's child pid and
 * the init's "R", then pd_sandbox_finish_setup(). */
gboolean pd_sandbox_process_setup_sync (PdSandboxProcess *process, const PdSandboxSpec *spec,
                                        guint timeout_ms, GError **error);

/* "{"child-pid": N}" as bwrap writes it to --info-fd: N, or 0 when @data holds no such
 * pid (yet) */
pid_t pd_sandbox_parse_info (const char *data, gsize len);

G_END_DECLS
