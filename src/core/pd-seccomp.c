/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "plugind"

/* memfd_create */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "pd-seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd-error.h"
#include "pd-sandbox-private.h"

/* g_auto(scmp_filter_ctx): scmp_filter_ctx is itself a pointer type, so g_auto, not
 * g_autoptr */
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (scmp_filter_ctx, seccomp_release, NULL)

/* Docker's default profile, the unconditional allow-list (arch-specific names of other
 * architectures included: they do not resolve on this one and are skipped). Left out on
 * purpose: ioctl, socket, personality, clone (rules below), modify_ldt, io_uring_* (see the
 * header) and the ptrace group (CAP_SYS_PTRACE). Added from Docker's later profiles: the
 * syscalls up to futex_requeue that libseccomp names. */
static const char *const allowed_syscalls[] = {
  "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
  "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
  "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
  "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
  "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
  "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
  "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
  "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
  "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
  "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
  "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
  "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
  "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
  "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
  "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
  "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
  "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
  "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
  "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
  "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
  "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
  "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
  "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
  "mkdir", "mkdirat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
  "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
  "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
  "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
  "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
  "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
  "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
  "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read",
  "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
  "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
  "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
  "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
  "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
  "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
  "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
  "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
  "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
  "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
  "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
  "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
  "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
  "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
  "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
  "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
  "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
  "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
  "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
  "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
  "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
  "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
  "writev",
  /* Docker's per-architecture entries */
  "sync_file_range2", "swapcontext", "arm_fadvise64_64", "arm_sync_file_range", "breakpoint",
  "cacheflush", "set_tls", "arch_prctl", "s390_pci_mmio_read", "s390_pci_mmio_write",
  "s390_runtime_instr", "riscv_flush_icache",
  NULL
};

typedef struct {
  const char *capability;
  const char *const syscalls[24];
} CapabilitySyscalls;

/* Docker's "includes": {"caps": [...]} entries; the ptrace group is Flatpak's stricter rule */
static const CapabilitySyscalls capability_syscalls[] = {
  { "CAP_DAC_READ_SEARCH", { "open_by_handle_at", NULL } },
  { "CAP_SYS_ADMIN", { "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
                       "fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount",
                       "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
                       "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2",
                       "unshare", NULL } },
  { "CAP_SYS_BOOT", { "reboot", NULL } },
  { "CAP_SYS_CHROOT", { "chroot", NULL } },
  { "CAP_SYS_MODULE", { "delete_module", "init_module", "finit_module", NULL } },
  { "CAP_SYS_PACCT", { "acct", NULL } },
  { "CAP_SYS_PTRACE", { "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                        "process_vm_writev", "ptrace", NULL } },
  { "CAP_SYS_RAWIO", { "iopl", "ioperm", NULL } },
  { "CAP_SYS_TIME", { "settimeofday", "stime", "clock_settime", "clock_settime64", NULL } },
  { "CAP_SYS_TTY_CONFIG", { "vhangup", NULL } },
  { "CAP_SYS_NICE", { "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node",
                      NULL } },
  { "CAP_SYSLOG", { "syslog", NULL } },
  { "CAP_BPF", { "bpf", NULL } },
  { "CAP_PERFMON", { "perf_event_open", NULL } },
};

/* without CAP_SYS_ADMIN these fail with ENOSYS, not EPERM (see the header) */
static const char *const enosys_without_sys_admin[] = {
  "clone3", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
  "mount_setattr", NULL
};

/* CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
 * CLONE_NEWNET: Docker's 2114060288 */
#define CLONE_NAMESPACE_FLAGS 0x7E020000u

static const char *
seccomp_strerror (int negative_errno)
{
  if (negative_errno == -EFAULT)
    return "internal libseccomp failure";
  return g_strerror (-negative_errno);
}

static gboolean
strv_contains (const char *const *strv, const char *s)
{
  return strv != NULL && g_strv_contains (strv, s);
}

/* adds @action for @name unless it does not exist on the native architecture */
static gboolean
add_named_rule (scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned int n_args,
                const struct scmp_arg_cmp *args, GError **error)
{
  int nr = seccomp_syscall_resolve_name (name);
  int r;

  /* __NR_SCMP_ERROR: unknown to libseccomp; negative pseudo numbers: another
   * architecture's syscall */
  if (nr < 0)
    return TRUE;
  r = seccomp_rule_add_array (ctx, action, nr, n_args, args);
  if (r < 0)
    return pd_sandbox_fail (error, "cannot add a seccomp rule for %s: %s", name,
                            seccomp_strerror (r));
  return TRUE;
}

/* socket(2) with a family @op @family gets @action */
static gboolean
add_socket_rule (scmp_filter_ctx ctx, uint32_t action, enum scmp_compare op, int family,
                 GError **error)
{
  struct scmp_arg_cmp arg = SCMP_A0 (op, (scmp_datum_t) family);
  int r = seccomp_rule_add_exact_array (ctx, action, SCMP_SYS (socket), 1, &arg);

  if (r < 0)
    return pd_sandbox_fail (error, "cannot add a seccomp rule for socket: %s",
                            seccomp_strerror (r));
  return TRUE;
}

/* the highest syscall number libseccomp can name for the native architecture */
static int
highest_known_syscall (void)
{
  static gsize once = 0;
  static int highest = -1;

  if (g_once_init_enter (&once))
    {
      for (int nr = 0; nr < 4096; nr++)
        {
          char *name = seccomp_syscall_resolve_num_arch (SCMP_ARCH_NATIVE, nr);

          if (name != NULL)
            highest = nr;
          free (name);
        }
      g_once_init_leave (&once, 1);
    }
  return highest;
}

/* The prefix put before libseccomp's program, for what libseccomp 2.5 cannot say:
 * - a syscall number above every one libseccomp knows → ENOSYS (runc does the same by
 *   patching libseccomp's output);
 * - ioctl with TIOCSTI or TIOCLINUX in the low 32 bits of the request → EPERM, while every
 *   other ioctl stays allowed (libseccomp drops a conditional rule next to an unconditional
 *   one for the same syscall).
 * It only ever returns ENOSYS or EPERM or falls through to libseccomp's program, which checks
 * the architecture again; jumps are relative, so the program needs no change. */
static GArray *
build_prefix (int highest)
{
  const guint32 arch = seccomp_arch_native ();
  const guint32 arg1_low = offsetof (struct seccomp_data, args[1])
                           + (G_BYTE_ORDER == G_LITTLE_ENDIAN ? 0 : 4);
  const struct sock_filter prefix[] = {
    /* 0 */ BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch)),
    /* 1 */ BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 9),
    /* 2 */ BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    /* x32 numbers (and any other with the high bits set) are libseccomp's to judge */
    /* 3 */ BPF_JUMP (BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 7, 0),
    /* 4 */ BPF_JUMP (BPF_JMP | BPF_JGT | BPF_K, (guint32) highest, 0, 1),
    /* 5 */ BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
    /* 6 */ BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (guint32) SCMP_SYS (ioctl), 0, 4),
    /* 7 */ BPF_STMT (BPF_LD | BPF_W | BPF_ABS, arg1_low),
    /* 8 */ BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (guint32) TIOCSTI, 1, 0),
    /* 9 */ BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (guint32) TIOCLINUX, 0, 1),
    /* 10 */ BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    /* 11: libseccomp's program */
  };
  GArray *array = g_array_sized_new (FALSE, FALSE, sizeof (struct sock_filter),
                                     G_N_ELEMENTS (prefix));

  g_array_append_vals (array, prefix, G_N_ELEMENTS (prefix));
  return array;
}

static gboolean
build_filter (scmp_filter_ctx ctx, const char *const *capabilities, PdSeccompFlags flags,
              GError **error)
{
  static const int allowed_families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET };
  /* Docker's five */
  static const scmp_datum_t personalities[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };
  gboolean sys_admin = strv_contains (capabilities, "CAP_SYS_ADMIN");
  gboolean net_raw = strv_contains (capabilities, "CAP_NET_RAW");
  g_autoptr(GHashTable) allowed = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer name;
  int last_family;

  if (!pd_sandbox_check_capabilities (capabilities, error))
    return FALSE;

  /* the set of unconditionally allowed names, deduplicated, since libseccomp refuses a rule
   * that repeats one */
  for (guint i = 0; allowed_syscalls[i] != NULL; i++)
    g_hash_table_add (allowed, (gpointer) allowed_syscalls[i]);
  for (gsize i = 0; i < G_N_ELEMENTS (capability_syscalls); i++)
    if (strv_contains (capabilities, capability_syscalls[i].capability))
      for (guint j = 0; capability_syscalls[i].syscalls[j] != NULL; j++)
        g_hash_table_add (allowed, (gpointer) capability_syscalls[i].syscalls[j]);
  /* ioctl is allowed here; the prefix refuses TIOCSTI and TIOCLINUX before this runs */
  g_hash_table_add (allowed, (gpointer) "ioctl");

  g_hash_table_iter_init (&iter, allowed);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    if (!add_named_rule (ctx, SCMP_ACT_ALLOW, name, 0, NULL, error))
      return FALSE;

  if (!sys_admin)
    {
      /* clone without any namespace flag (CLONE_NEWUSER included) */
      struct scmp_arg_cmp clone_arg =
#if defined(__s390__) || defined(__s390x__)
        SCMP_A1 (SCMP_CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0);
#else
        SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0);
#endif
      if (!add_named_rule (ctx, SCMP_ACT_ALLOW, "clone", 1, &clone_arg, error))
        return FALSE;
      for (guint i = 0; enosys_without_sys_admin[i] != NULL; i++)
        if (!add_named_rule (ctx, SCMP_ACT_ERRNO (ENOSYS), enosys_without_sys_admin[i], 0, NULL,
                             error))
          return FALSE;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (personalities); i++)
    {
      struct scmp_arg_cmp arg = SCMP_A0 (SCMP_CMP_EQ, personalities[i]);

      if (!add_named_rule (ctx, SCMP_ACT_ALLOW, "personality", 1, &arg, error))
        return FALSE;
    }

  /* mknod(at) of anything but a device node: (mode & S_IFMT) is 0 (a regular file), S_IFREG,
   * S_IFIFO or S_IFSOCK */
  if (flags & PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES)
    {
      if (!add_named_rule (ctx, SCMP_ACT_ALLOW, "mknod", 0, NULL, error)
          || !add_named_rule (ctx, SCMP_ACT_ALLOW, "mknodat", 0, NULL, error))
        return FALSE;
    }
  else
    {
      static const scmp_datum_t types[] = { 0, S_IFREG, S_IFIFO, S_IFSOCK };

      for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
        {
          struct scmp_arg_cmp a1 = SCMP_A1 (SCMP_CMP_MASKED_EQ, S_IFMT, types[i]);
          struct scmp_arg_cmp a2 = SCMP_A2 (SCMP_CMP_MASKED_EQ, S_IFMT, types[i]);

          if (!add_named_rule (ctx, SCMP_ACT_ALLOW, "mknod", 1, &a1, error)
              || !add_named_rule (ctx, SCMP_ACT_ALLOW, "mknodat", 1, &a2, error))
            return FALSE;
        }
    }

  /* socket: the allowed families, every other one EAFNOSUPPORT; the rules never overlap, as
   * in Flatpak, so their order in the program does not matter */
  last_family = -1;
  for (gsize i = 0; i < G_N_ELEMENTS (allowed_families); i++)
    {
      int family = allowed_families[i];

      if (family == AF_PACKET && !net_raw)
        continue;
      for (int other = last_family + 1; other < family; other++)
        if (!add_socket_rule (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_CMP_EQ, other, error))
          return FALSE;
      if (!add_socket_rule (ctx, SCMP_ACT_ALLOW, SCMP_CMP_EQ, family, error))
        return FALSE;
      last_family = family;
    }
  if (!add_socket_rule (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_CMP_GE, last_family + 1, error))
    return FALSE;

  return TRUE;
}

int
pd_sandbox_compile_seccomp (const char *const *capabilities, PdSeccompFlags flags,
                            GError **error)
{
  g_auto(scmp_filter_ctx) ctx = NULL;
  g_autoptr(GArray) program = NULL;
  g_autofree guint8 *bpf = NULL;
  int highest = highest_known_syscall ();
  struct stat st;
  gsize bpf_len;
  int fd;
  int r;

  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (highest < 0)
    return pd_sandbox_fail (error, "libseccomp knows no syscall of this architecture"), -1;

  /* Docker's defaultErrnoRet */
  ctx = seccomp_init (SCMP_ACT_ERRNO (EPERM));
  if (ctx == NULL)
    return pd_sandbox_fail (error, "cannot create a seccomp filter"), -1;
  /* a binary search over the syscall numbers instead of a linear walk of 350 rules */
  r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (r < 0)
    return pd_sandbox_fail (error, "cannot configure the seccomp filter: %s",
                            seccomp_strerror (r)), -1;
  if (!build_filter (ctx, capabilities, flags, error))
    return -1;

  /* libseccomp 2.5 exports only to an fd: export, read back, prepend */
  fd = memfd_create ("plugind-seccomp-export", MFD_CLOEXEC);
  if (fd < 0)
    return pd_sandbox_fail (error, "memfd_create: %s", g_strerror (errno)), -1;
  r = seccomp_export_bpf (ctx, fd);
  if (r < 0)
    {
      close (fd);
      return pd_sandbox_fail (error, "cannot export the seccomp filter: %s",
                              seccomp_strerror (r)), -1;
    }
  if (fstat (fd, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof (struct sock_filter) != 0)
    {
      close (fd);
      return pd_sandbox_fail (error, "libseccomp exported a malformed filter"), -1;
    }
  bpf_len = st.st_size;
  bpf = g_malloc (bpf_len);
  if (pread (fd, bpf, bpf_len, 0) != (ssize_t) bpf_len)
    {
      close (fd);
      return pd_sandbox_fail (error, "cannot read back the seccomp filter"), -1;
    }
  close (fd);

  program = build_prefix (highest);
  g_array_append_vals (program, bpf, bpf_len / sizeof (struct sock_filter));
  /* the kernel's BPF_MAXINSNS */
  if (program->len > 4096)
    return pd_sandbox_fail (error, "the seccomp filter has too many instructions (%u)",
                            program->len), -1;
  return pd_sandbox_memfd_from_data (program->data, program->len * sizeof (struct sock_filter),
                                     "plugind-seccomp", error);
}
