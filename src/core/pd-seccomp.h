/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The seccomp filter of a plugin's sandbox (pd-sandbox.h says what else the sandbox holds):
 * a libseccomp program compiled for the plugin's capabilities and handed to bwrap with
 * --seccomp (pd_sandbox_spawn()).
 */

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
 * The table it follows is Docker's default seccomp profile for containers (moby's): an
 * allow-list, everything else failing with EPERM (Docker's defaultErrnoRet), the
 * capability-gated entries allowed only for the granted @capabilities
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
 * Stricter than Docker, from Flatpak's setup_seccomp():
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
 *   PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES (pd-sandbox.h, AllowAllDevices).
 * And from runc: syscalls newer than libseccomp knows (numbers above the highest it can name
 * for the native architecture) fail with ENOSYS, not EPERM, so that a newer libc probing a
 * syscall the filter cannot know falls back instead of failing. Other architectures than the
 * native one (i386 int 0x80, x32) kill the process (libseccomp's bad-arch action). */
int pd_sandbox_compile_seccomp (const char *const *capabilities, PdSeccompFlags flags,
                                GError **error);

G_END_DECLS
