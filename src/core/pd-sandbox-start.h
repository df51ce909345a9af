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

/* What the set-up made for a config with a PropagatedMount (zero and -1 otherwise). */
typedef struct {
  guint64 mount_id;   /* the id, as in mountinfo, of the mount put at Config.PropagatedMount */
  int mountinfo_fd;   /* the sandbox's /proc/PID/mountinfo (close-on-exec; the caller closes
                       * it), opened while the init waited: the mounts the plugin makes */
} PdSandboxPropagation;

/* The daemon's part of the set-up, once the init said it is ready (a byte "R" on @sync_fd),
 * from a forked process, then tells the init to go on. Blocks for the few syscalls this takes.
 *
 * For a config with a PropagatedMount (docs/design.md, "The sandbox"): in the host mount
 * namespace (pd_sandbox_set_host_mount_namespace()), whatever is mounted at
 * @spec->propagated_mount_dir (left by a daemon that was killed) is unmounted, the dir is
 * bound onto itself as a shared mount in a peer group of its own, nosuid and nodev, and a
 * clone of that mount (open_tree(OPEN_TREE_CLONE), a peer of it) is moved onto
 * Config.PropagatedMount in the mount namespace of the init (@pidfd, or @pid when -1:
 * pidfd_open() is missing). The target is opened component by component from the sandbox's
 * root without following a symlink (the rootfs is the plugin's). What the plugin mounts
 * beneath it then appears on the host, beneath the dir, and nothing it mounts elsewhere does.
 * @propagation (may be NULL) receives that mount's id and the sandbox's mount table.
 *
 * Then, for every plugin, Docker's read-only /proc paths are made read-only in the sandbox.
 *
 * On error (PD_ERROR_SANDBOX_FAILED) the init is not told: the caller kills the sandbox, and
 * releases the propagated mount (pd_sandbox_release_propagated_mount()). */
gboolean pd_sandbox_finish_setup (const PdSandboxSpec *spec, int pidfd, pid_t pid, int sync_fd,
                                  PdSandboxPropagation *propagation, GError **error);

/* Unmounts, in the host mount namespace, everything mounted at @dir (a propagated-mount dir:
 * the mount pd_sandbox_finish_setup() made, whatever a plugin stacked on it, and with each of
 * them everything beneath it), lazily (MNT_DETACH: at once, even while an engine's container
 * still uses a volume; its own copy of the mount stays until it ends). @unmounted (may be
 * NULL) receives how many mounts were at @dir. Nothing beneath @dir is followed. TRUE when
 * @dir is no longer a mount point (or does not exist); PD_ERROR_SANDBOX_FAILED otherwise.
 * Call it once no process of the plugin runs: one still running could mount again. */
gboolean pd_sandbox_release_propagated_mount (const char *dir, guint64 *unmounted,
                                              GError **error);

/* Pins a volume's dir for a container engine (pd-consumer.h): in the host mount namespace,
 * @source (relative, clean: no "." or "..") is opened beneath @propagated_dir without
 * following a symlink, cloned with what is mounted beneath it (open_tree), the clone made
 * private, nosuid and nodev and mounted on the existing dir @pin_path (plugind's own, not
 * followed if a symlink). The plugin cannot change what the pin shows: it can neither swap it
 * nor mount on it. Unmount it with pd_sandbox_release_propagated_mount(@pin_path).
 * PD_ERROR_SANDBOX_FAILED on error. Any thread; blocks for the few syscalls this takes. */
gboolean pd_sandbox_pin_dir (const char *propagated_dir, const char *source,
                             const char *pin_path, GError **error);

/* The mount namespace in which plugins' propagated mounts must appear, where the container
 * engines run (plugind --host-mount-namespace, e.g. /proc/1/ns/mnt under systemd, whose
 * sandboxing options give the service a mount namespace of its own, a slave of the host's
 * that propagates nothing back). @path is opened once and kept; NULL, or a path to the
 * daemon's own namespace, means the daemon's own. PD_ERROR_SANDBOX_FAILED when @path cannot
 * be opened or is no mount namespace. The daemon's state dir must have the same path in both
 * namespaces. */
gboolean pd_sandbox_set_host_mount_namespace (const char *path, GError **error);

/* For tests and benchmarks: waits (blocking, at most @timeout_ms) for bwrap's child pid and
 * the init's "R", then pd_sandbox_finish_setup(). */
gboolean pd_sandbox_process_setup_sync (PdSandboxProcess *process, const PdSandboxSpec *spec,
                                        guint timeout_ms, GError **error);

/* "{"child-pid": N}" as bwrap writes it to --info-fd: N, or 0 when @data holds no such
 * pid (yet) */
pid_t pd_sandbox_parse_info (const char *data, gsize len);

G_END_DECLS
