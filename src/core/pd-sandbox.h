/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"

G_BEGIN_DECLS

/*
 * Running a plugin the way Docker does, but inside a real sandbox (docs/design.md, section
 * The sandbox; docs/plugind.8.rst, SANDBOX): a bubblewrap argument vector built only from
 * plugind's own arguments, so that nothing a plugin or a caller sends is read as an option,
 * plus a libseccomp BPF filter handed to bwrap with --seccomp (pd-seccomp.h). No D-Bus types,
 * no process management: pd-sandbox-start.h spawns what this module builds, and the runner
 * watches it.
 *
 * What the sandbox gives a plugin, and where it differs from Docker:
 *
 * - namespaces: always a new mount, UTS and cgroup (if the kernel has it) namespace; a new IPC,
 *   PID and network namespace unless IpcHost, PidHost or Network.Type "host" ask for the
 *   host's. Never a user namespace: a plugin's capabilities must be real host capabilities
 *   (a volume plugin with CAP_SYS_ADMIN mounts on the host), as with Docker. Creating user (or
 *   any) namespaces inside is refused by the seccomp filter unless CAP_SYS_ADMIN is granted.
 *   bwrap has no time namespace (Docker's base spec has one).
 * - capabilities: the effective set is Docker's default set (PD_SANDBOX_DOCKER_CAPABILITIES)
 *   plus Linux.Capabilities, or with PD_SANDBOX_CAPABILITIES_REQUESTED only
 *   Linux.Capabilities. The bounding set and the seccomp filter follow the effective set;
 *   no_new_privs is set. A plugin running as root (no Config.User, or uid 0) has the effective
 *   set in every set; a plugin with a Config.User uid other than 0 has only Linux.Capabilities,
 *   as ambient capabilities (Docker's default set does not survive its switch to another uid
 *   either).
 * - Config.User: the uid and gid, with no supplementary groups, switched to by the sandbox's
 *   init program (pd-sandbox-start.h); the plugin's socket dir is then owned by that uid and gid.
 * - filesystem: the rootfs read-write at / (as Docker); a fresh procfs at /proc with Docker's
 *   read-only paths (/proc/bus, /proc/fs, /proc/irq, /proc/sys, /proc/sysrq-trigger, made
 *   read-only by the daemon from outside: bwrap's own check misses /proc/sys, and a uid-0
 *   plugin that can write /proc/sys is root on the host) and Docker's masked paths; bwrap's
 *   minimal /dev (null, zero, full, random, urandom, tty, pts, ptmx), a 64 MiB 1777 tmpfs at
 *   /dev/shm and, with a private IPC namespace, an mqueue at /dev/mqueue (Docker's /dev/shm and
 *   /dev/mqueue); the host's /sys read-only (Docker mounts sysfs read-only) with Docker's
 *   masked /sys paths; at Config.PropagatedMount a peer of a shared, nosuid, nodev mount of the
 *   plugin's propagated-mount dir on the host, put there by the set-up step rather than bwrap
 *   (pd_sandbox_finish_setup()), so that what the plugin mounts beneath it reaches the host
 *   and nothing it mounts elsewhere does; the config mounts in order; each Settings device bound at its own path; the runtime dir at /run/docker/plugins;
 *   for a non-empty Network.Type the host's /etc/hosts and /etc/resolv.conf read-only.
 *   Every bind mount is nosuid, and nodev except the device binds (bwrap's rule).
 * - no mount destination is at or under another one, PropagatedMount, the socket dir and the
 *   host files included: bwrap creates a destination through whatever the path holds, so a
 *   symlink a plugin planted in a writable mount source (its PropagatedMount dir, say) would
 *   otherwise make root create files or dirs at a host path of the plugin's choosing.
 * - AllowAllDevices: as in Docker it binds no device (Docker only relaxes the device cgroup).
 *   plugind has no device cgroup; what stands in for it is the seccomp filter, which refuses
 *   mknod(at) of character and block devices unless AllowAllDevices is set, so a plugin
 *   granted CAP_MKNOD cannot make itself a node for a host disk in its writable /dev.
 * - every bwrap mount is a slave of the host's: a mount the plugin makes anywhere but beneath
 *   its PropagatedMount stays in its sandbox.
 *
 * Start-up (the sandbox's init, the daemon's part of the set-up): pd-sandbox-start.h.
 */

/* where a plugin finds its socket dir, as in Docker */
#define PD_SANDBOX_PLUGIN_SOCKET_DIR "/run/docker/plugins"
/* Docker's process.env default */
#define PD_SANDBOX_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Docker's default capabilities (moby's oci defaults), which a plugin gets besides what it
 * asks for unless PD_SANDBOX_CAPABILITIES_REQUESTED */
#define PD_SANDBOX_DOCKER_CAPABILITIES                                                        \
  "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",  \
    "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID",           \
    "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"

/**
 * PdSandboxCapabilities:
 * @PD_SANDBOX_CAPABILITIES_DOCKER: Docker's default set plus Linux.Capabilities (the default,
 *   so that plugins written for Docker work)
 * @PD_SANDBOX_CAPABILITIES_REQUESTED: only Linux.Capabilities
 */
typedef enum {
  PD_SANDBOX_CAPABILITIES_DOCKER = 0,
  PD_SANDBOX_CAPABILITIES_REQUESTED,
} PdSandboxCapabilities;

/**
 * PdSandboxSpec:
 * @bwrap_path: the bubblewrap executable (absolute)
 * @rootfs: host path of the plugin's rootfs, bound read-write at /
 * @runtime_dir: host path of the per-plugin runtime dir, bound at /run/docker/plugins
 * @propagated_mount_dir: host path mounted at Config.PropagatedMount (by the set-up step, not
 *   bwrap); required when the config sets one, ignored otherwise
 * @config: the plugin config (mounts' types and options, entrypoint, workdir, namespaces,
 *   capabilities, network, user)
 * @settings: the effective settings (mount sources, devices, env, args)
 * @capabilities: which capabilities the plugin gets besides Linux.Capabilities
 * @seccomp_fd: the fd number bwrap reads the filter from, in bwrap's fd table (the caller maps
 *   the fd of pd_sandbox_compile_seccomp() there); -1 for none (argv tests only)
 * @info_fd: the fd number of bwrap's --info-fd in its fd table; -1 for none
 * @init_fd: the fd number of the sandbox-init memfd (pd_sandbox_open_init()) in bwrap's fd
 *   table; -1 runs the entrypoint directly (argv tests only)
 * @sync_fd: the fd number of the init's end of its sync socket in bwrap's fd table
 * @args_fd: the fd number of bwrap's --args with the plugin's environment (pd_sandbox_spawn()
 *   puts the values there, off bwrap's command line, which every local user can read);
 *   unused by pd_sandbox_build_argv(), which puts them in the argv
 * @hosts_path: host file bound at /etc/hosts for networked plugins; NULL = "/etc/hosts"
 * @resolv_conf_path: the same for /etc/resolv.conf; NULL = "/etc/resolv.conf"
 *
 * Borrowed pointers: the spec owns nothing. pd_sandbox_spawn() fills in the fd numbers.
 */
typedef struct {
  const char *bwrap_path;
  const char *rootfs;
  const char *runtime_dir;
  const char *propagated_mount_dir;
  const PdPluginConfig *config;
  const PdPluginSettings *settings;
  PdSandboxCapabilities capabilities;
  int seccomp_fd;
  int info_fd;
  int init_fd;
  int sync_fd;
  int args_fd;
  const char *hosts_path;
  const char *resolv_conf_path;
} PdSandboxSpec;

/* The plugin's effective capabilities (see the top of this file), sorted, each once; NULL
 * with PD_ERROR_SANDBOX_FAILED for an unknown name in Linux.Capabilities. */
GStrv pd_sandbox_effective_capabilities (const PdSandboxSpec *spec, GError **error);

/* Builds the bwrap argument vector for @spec (see the top of this file for what it holds).
 * Returns a GPtrArray of strings (owned, freed with the array) that is NULL-terminated
 * (g_ptr_array_new_null_terminated()), so its pdata is an argv for GSubprocess or g_spawn;
 * element 0 is @spec->bwrap_path and the plugin's own argv (Entrypoint + Settings.Args) follows
 * a "--" (and, with @spec->init_fd, the init program and its options), so nothing of it is
 * read as a bwrap option. Without PidHost the first program is pid 1 of its PID namespace
 * (--as-pid-1), so that its exit takes every other process of the plugin along.
 *
 * Everything is checked again here, whatever the config validator did: host paths
 * absolute; mount destinations, WorkDir and PropagatedMount absolute without ".", ".." or
 * empty components and without control characters; no destination at "/", at or under /proc
 * or at or under /run/docker/plugins; PropagatedMount not at or under /dev or /sys (it must be a
 * dir of the rootfs); no mount destination (PropagatedMount, config mounts,
 * devices, the socket dir, /etc/hosts and /etc/resolv.conf) at or under another; device paths under /dev/ and existing; capabilities
 * known; env entries "NAME=value"; a non-empty entrypoint. Mount types: "bind" and "rbind"
 * (always recursive, as bwrap binds), "tmpfs" (options size=, mode=); anything else fails
 * with "mount type X is not supported". Mount options: ro, rw, bind, rbind, nosuid, nodev
 * (bwrap applies both anyway), and the propagation flags (ignored: bwrap makes every mount a
 * slave); any other option (noexec, exec, dev, suid, ...) cannot be honoured and fails rather
 * than be dropped silently. A null mount source fails with Docker's "mount source is not
 * specified"; a null device path with "device path is not specified". Every failure is
 * PD_ERROR_SANDBOX_FAILED. Settings.Env entries come after PATH, so a plugin's own PATH wins. */
GPtrArray *pd_sandbox_build_argv (const PdSandboxSpec *spec, GError **error);

/* Docker's initlayer for plugind: creates, inside @spec->rootfs, the mount points bwrap needs
 * and would otherwise create itself through whatever the rootfs holds: the dirs /dev, /proc,
 * /sys, /run/docker/plugins, the WorkDir, the PropagatedMount and each config mount
 * destination outside /dev, /proc and /sys (a dir, or an empty file when the bind source is
 * not a dir), and for networked plugins the empty files /etc/hosts and /etc/resolv.conf.
 * Created dirs are 0755, files 0644, owned by root. Then hands @spec->runtime_dir (which must
 * exist) to the Config.User uid and gid (root without one), for the plugin's socket.
 *
 * A plugin rootfs is untrusted: every path is walked from a dir fd of the rootfs with
 * O_NOFOLLOW, created with mkdirat/openat(O_EXCL), and a symlink anywhere on the way (a
 * planted rootfs/etc -> /etc) is an error (PD_ERROR_SANDBOX_FAILED), never followed; so is an
 * existing entry of the wrong type. Call it while the plugin is not running. */
gboolean pd_sandbox_prepare_rootfs (const PdSandboxSpec *spec, GError **error);

/* the mount points under /sys of a mountinfo text that the sandbox covers (debugfs, tracefs,
 * securityfs, bpffs…; not the cgroup tree); exported for tests */
GStrv pd_sandbox_sys_submounts_to_mask (const char *mountinfo);

G_END_DECLS
