/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <seccomp.h>

#include "pd-plugin-config.h"

G_BEGIN_DECLS

/*
 * Running a plugin the way Docker does (docker-plugins.md 4.2), but inside a real sandbox
 * (architecture.md decision 1, reliability.md rule 6): a bubblewrap argument vector built only
 * from plugind's own arguments, plus a libseccomp BPF filter handed to bwrap with --seccomp.
 * No D-Bus types, no process management: the supervisor spawns what this module builds.
 *
 * What the sandbox gives a plugin, and where it differs from Docker:
 *
 * - namespaces: always a new mount, UTS and cgroup (if the kernel has it) namespace; a new IPC,
 *   PID and network namespace unless IpcHost, PidHost or Network.Type "host" ask for the
 *   host's. Never a user namespace: a plugin's capabilities must be real host capabilities
 *   (a volume plugin with CAP_SYS_ADMIN mounts on the host), as with Docker. Creating user (or
 *   any) namespaces inside is refused by the seccomp filter unless CAP_SYS_ADMIN is granted.
 *   bwrap has no time namespace (Docker's base spec has one).
 * - capabilities: exactly Linux.Capabilities in every set (bounding, permitted, effective,
 *   inheritable), no_new_privs set. Docker adds its 14 default capabilities; plugind does not.
 * - filesystem: the rootfs read-write at / (as Docker); a fresh procfs at /proc with bwrap's
 *   read-only /proc/sys, sysrq-trigger, irq and bus, and Docker's masked /proc paths; bwrap's
 *   minimal /dev (null, zero, full, random, urandom, tty, pts, ptmx), a 64 MiB 1777 tmpfs at
 *   /dev/shm and, with a private IPC namespace, an mqueue at /dev/mqueue (Docker's /dev/shm and
 *   /dev/mqueue); the host's /sys read-only (Docker mounts sysfs read-only) with Docker's
 *   masked /sys paths; the propagated-mount dir at Config.PropagatedMount; the config mounts in
 *   order; each Settings device bound at its own path; the runtime dir at /run/docker/plugins;
 *   for a non-empty Network.Type the host's /etc/hosts and /etc/resolv.conf read-only.
 *   Every bind mount is nosuid, and nodev except the device binds (bwrap's rule).
 * - AllowAllDevices: as in Docker it binds no device (Docker only relaxes the device cgroup).
 *   plugind has no device cgroup; what stands in for it is the seccomp filter, which refuses
 *   mknod(at) of character and block devices unless AllowAllDevices is set, so a plugin
 *   granted CAP_MKNOD cannot make itself a node for a host disk in its writable /dev.
 * - known limit: bwrap makes every mount a slave, so mounts a plugin makes under its
 *   PropagatedMount are not seen on the host (architecture.md decision 1).
 */

/* where a plugin finds its socket dir, as in Docker */
#define PD_SANDBOX_PLUGIN_SOCKET_DIR "/run/docker/plugins"
/* Docker's process.env default */
#define PD_SANDBOX_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/**
 * PdSandboxSpec:
 * @bwrap_path: the bubblewrap executable (absolute)
 * @rootfs: host path of the plugin's rootfs, bound read-write at /
 * @runtime_dir: host path of the per-plugin runtime dir, bound at /run/docker/plugins
 * @propagated_mount_dir: host path bound at Config.PropagatedMount; required when the config
 *   sets one, ignored otherwise
 * @config: the plugin config (mounts' types and options, entrypoint, workdir, namespaces,
 *   capabilities, network)
 * @settings: the effective settings (mount sources, devices, env, args)
 * @seccomp_fd: the fd number bwrap reads the filter from, in bwrap's fd table (the caller maps
 *   the fd of pd_sandbox_compile_seccomp() there); -1 for none (tests and benchmarks only)
 * @hosts_path: host file bound at /etc/hosts for networked plugins; NULL = "/etc/hosts"
 * @resolv_conf_path: the same for /etc/resolv.conf; NULL = "/etc/resolv.conf"
 *
 * Borrowed pointers: the spec owns nothing.
 */
typedef struct {
  const char *bwrap_path;
  const char *rootfs;
  const char *runtime_dir;
  const char *propagated_mount_dir;
  const PdPluginConfig *config;
  const PdPluginSettings *settings;
  int seccomp_fd;
  const char *hosts_path;
  const char *resolv_conf_path;
} PdSandboxSpec;

/* Builds the bwrap argument vector for @spec (see the top of this file for what it holds).
 * Returns a GPtrArray of strings (owned, freed with the array) that is NULL-terminated
 * (g_ptr_array_new_null_terminated()), so its pdata is an argv for GSubprocess or g_spawn;
 * element 0 is @spec->bwrap_path and the plugin's own argv (Entrypoint + Settings.Args) follows
 * a "--", so nothing of it is read as a bwrap option.
 *
 * Everything is checked again here, whatever the config validator did (rule 6): host paths
 * absolute; mount destinations, WorkDir and PropagatedMount absolute without ".", ".." or
 * empty components and without control characters; no destination at "/", at or under /proc
 * or at or under /run/docker/plugins; device paths under /dev/ and existing; capabilities
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
 * Created dirs are 0755, files 0644, owned by root.
 *
 * A plugin rootfs is untrusted: every path is walked from a dir fd of the rootfs with
 * O_NOFOLLOW, created with mkdirat/openat(O_EXCL), and a symlink anywhere on the way (a
 * planted rootfs/etc -> /etc) is an error (PD_ERROR_SANDBOX_FAILED), never followed; so is an
 * existing entry of the wrong type. Call it while the plugin is not running. */
gboolean pd_sandbox_prepare_rootfs (const PdSandboxSpec *spec, GError **error);

/* The capability bitmask of @capabilities ("CAP_NET_ADMIN" → 1 << 12), for
 * pd_sandbox_child_setup(); FALSE with PD_ERROR_SANDBOX_FAILED for an unknown name. */
gboolean pd_sandbox_capability_mask (const char *const *capabilities, guint64 *mask,
                                     GError **error);

/* A GSpawnChildSetupFunc for the bwrap process (g_subprocess_launcher_set_child_setup() or
 * g_spawn_*), @user_data pointing at the guint64 of pd_sandbox_capability_mask(), which must
 * stay alive until the spawn returns. Async-signal-safe.
 *
 * Why: bwrap run by real root without a user namespace leaves the bounding set full (it only
 * narrows it with --unshare-user), so the plugin would show CapBnd = every capability. That
 * gains it nothing under no_new_privs (an execve cannot raise the permitted set), but it is
 * not "exactly the granted set". This narrows the bounding set to @user_data before bwrap is
 * executed, after copying the permitted set into the inheritable one so that bwrap itself
 * still starts with every capability it needs for its setup (for root, execve gives
 * inheritable | bounding); bwrap then narrows the inheritable and ambient sets to the
 * granted ones. If a step fails, the child writes a message to stderr and exits with 127
 * instead of running bwrap. */
void pd_sandbox_child_setup (gpointer user_data);

/**
 * PdSeccompFlags:
 * @PD_SECCOMP_FLAGS_NONE: no flags
 * @PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES: Linux.AllowAllDevices: mknod(at) may create character
 *   and block devices
 */
typedef enum {
  PD_SECCOMP_FLAGS_NONE = 0,
  PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES = 1 << 0,
} PdSeccompFlags;

/* Compiles the plugin's seccomp filter and returns it as a sealed, close-on-exec memfd holding
 * the BPF program (struct sock_filter[]), positioned at 0, for bwrap's --seccomp; -1 with
 * PD_ERROR_SANDBOX_FAILED on error (an unknown capability name included).
 *
 * The table it follows is Docker's default container profile (moby profiles/seccomp/
 * default.json): an allow-list, everything else failing with EPERM (Docker's
 * defaultErrnoRet), the capability-gated entries allowed only for the granted @capabilities
 * (CAP_SYS_ADMIN: mount, umount2, setns, unshare, clone with namespace flags, clone3, bpf,
 * fanotify_init, the new mount API, ...; CAP_SYS_PTRACE: ptrace, process_vm_*, kcmp,
 * pidfd_getfd, process_madvise; CAP_SYS_BOOT: reboot; CAP_SYS_MODULE: init/finit/delete_module;
 * CAP_SYS_TIME: settimeofday, clock_settime; CAP_SYS_NICE: mbind, *_mempolicy; CAP_SYS_RAWIO:
 * iopl, ioperm; CAP_DAC_READ_SEARCH: open_by_handle_at; CAP_SYS_PACCT: acct; CAP_SYS_CHROOT:
 * chroot; CAP_SYSLOG: syslog; CAP_BPF: bpf; CAP_PERFMON: perf_event_open; CAP_SYS_TTY_CONFIG:
 * vhangup), personality only for Docker's five values, socket without AF_VSOCK, clone without
 * namespace flags (CLONE_NEWUSER included) and clone3 failing with ENOSYS so libc falls back
 * to clone, both unless CAP_SYS_ADMIN. Never allowed (absent from Docker's list): the keyring
 * (add_key, keyctl, request_key), kexec_*, pivot_root, swapon/off, uselib, userfaultfd,
 * lookup_dcookie without CAP_SYS_ADMIN, _sysctl, ustat, sysfs, nfsservctl, vm86, ...
 *
 * Stricter than Docker, from Flatpak's common/flatpak-run.c setup_seccomp():
 * - ioctl TIOCSTI and TIOCLINUX fail with EPERM (CVE-2017-5226, CVE-2023-28100), on the low 32
 *   bits of the request as the kernel reads it;
 * - socket families other than AF_UNIX, AF_INET, AF_INET6, AF_NETLINK (and AF_PACKET with
 *   CAP_NET_RAW, which the kernel asks for anyway) fail with EAFNOSUPPORT;
 * - ptrace, process_vm_readv/writev need CAP_SYS_PTRACE (Docker allows them on kernels >= 4.8,
 *   Flatpak only in devel mode);
 * - modify_ldt is refused (Flatpak outside multiarch: 16-bit code has no place in a plugin);
 * - the new mount API (open_tree, move_mount, fsopen, fsconfig, fsmount, fspick,
 *   mount_setattr) fails with ENOSYS rather than EPERM without CAP_SYS_ADMIN, so that mount
 *   tools fall back to mount(2) and get its EPERM;
 * - io_uring_setup/enter/register are refused, as in Docker since 25.0 (the profile that
 *   lists them predates that);
 * - mknod(at) of character and block devices unless @flags has
 *   PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES (see the top of this file).
 * And from runc: syscalls newer than libseccomp knows (numbers above the highest it can name
 * for the native architecture) fail with ENOSYS, not EPERM, so that a newer libc probing a
 * syscall the filter cannot know falls back instead of failing. Other architectures than the
 * native one (i386 int 0x80, x32) kill the process (libseccomp's bad-arch action). */
int pd_sandbox_compile_seccomp (const char *const *capabilities, PdSeccompFlags flags,
                                GError **error);

/* g_auto(scmp_filter_ctx): scmp_filter_ctx is itself a pointer type, so g_auto, not
 * g_autoptr */
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (scmp_filter_ctx, seccomp_release, NULL)

/* the mount points under /sys of a mountinfo text that the sandbox covers (debugfs, tracefs,
 * securityfs, bpffs…; not the cgroup tree); exported for tests */
GStrv pd_sandbox_sys_submounts_to_mask (const char *mountinfo);

G_END_DECLS
