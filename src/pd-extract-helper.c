/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugind-extract: the confined extraction helper (architecture.md decision 2, reliability.md
 * rule 1). It chroots into the staging dir it is given, installs a seccomp allow-list, reads an
 * uncompressed tar from stdin and writes it with libarchive's secure-extract flags. The daemon
 * has already filtered the stream; everything is checked again here because this process is
 * the one that touches the disk.
 *
 *   plugind-extract [--max-bytes N] [--max-entries N] DIR
 *
 * On failure it prints one line "ERROR <kind> <message>" to stderr (kind: invalid-archive,
 * limits, no-space, failed) and exits non-zero.
 */
#include "config.h"

#define G_LOG_DOMAIN "pd-extract"

/* unshare () and CLONE_* */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <glib.h>
#include <seccomp.h>

typedef struct archive PdHelperArchive;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdHelperArchive, archive_free)

#define EXIT_INVALID 2
#define EXIT_LIMITS 3
#define EXIT_NO_SPACE 4
#define EXIT_FAILED 1

/* the only output of the helper; kept short so the parent's stderr pipe can never fill up */
static void G_GNUC_PRINTF (2, 3)
report (const char *kind, const char *format, ...)
{
  va_list args;
  char message[1024];

  va_start (args, format);
  g_vsnprintf (message, sizeof message, format, args);
  va_end (args);
  /* one line: the parent escapes the rest, but a newline would split the record */
  for (char *p = message; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = '?';
  fprintf (stderr, "ERROR %s %s\n", kind, message);
  fflush (stderr);
}

static int
fail_with (int status, const char *kind, const char *message)
{
  report (kind, "%s", message);
  return status;
}

static int
fail_from_archive (struct archive *a, const char *what)
{
  int errsv = archive_errno (a);
  const char *message = archive_error_string (a);

  if (message == NULL)
    message = "unknown error";
  if (errsv == ENOSPC || errsv == EDQUOT)
    {
      report ("no-space", "%s: %s", what, message);
      return EXIT_NO_SPACE;
    }
  if (errsv == ENOMEM || errsv == EIO || errsv == EROFS)
    {
      report ("failed", "%s: %s", what, message);
      return EXIT_FAILED;
    }
  report ("invalid-archive", "%s: %s", what, message);
  return EXIT_INVALID;
}

/* relative, no empty name, no ".." component: the same rule as the daemon */
static gboolean
name_is_safe (const char *name)
{
  const char *p = name;

  if (name == NULL || *name == '\0' || *name == '/')
    return FALSE;
  while (*p != '\0')
    {
      const char *slash = strchr (p, '/');
      gsize len = slash != NULL ? (gsize) (slash - p) : strlen (p);

      if (len == 2 && p[0] == '.' && p[1] == '.')
        return FALSE;
      if (slash == NULL)
        break;
      p = slash + 1;
    }
  return TRUE;
}

static gboolean
write_proc_file (const char *path, const char *contents)
{
  gsize len = strlen (contents);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  ok = write (fd, contents, len) == (ssize_t) len;
  close (fd);
  return ok;
}

/* when the kernel refuses chroot to an unprivileged caller, a user namespace lets the tests
 * run the helper without root; as root this is never used */
static gboolean
enter_user_namespace (void)
{
  uid_t uid = getuid ();
  gid_t gid = getgid ();
  char map[64];

  if (unshare (CLONE_NEWUSER | CLONE_NEWNS) != 0)
    return FALSE;
  /* missing on old kernels; then the gid map write below fails on its own */
  write_proc_file ("/proc/self/setgroups", "deny");
  g_snprintf (map, sizeof map, "0 %u 1", (unsigned) uid);
  if (!write_proc_file ("/proc/self/uid_map", map))
    return FALSE;
  g_snprintf (map, sizeof map, "0 %u 1", (unsigned) gid);
  return write_proc_file ("/proc/self/gid_map", map);
}

static int
enter_root (const char *dir)
{
  int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (dirfd < 0)
    {
      report ("failed", "cannot open %s: %s", dir, g_strerror (errno));
      return -1;
    }
  if (fchdir (dirfd) != 0)
    {
      report ("failed", "cannot enter %s: %s", dir, g_strerror (errno));
      close (dirfd);
      return -1;
    }
  close (dirfd);
  if (chroot (".") != 0)
    {
      int errsv = errno;

      if (errsv != EPERM || !enter_user_namespace () || chroot (".") != 0)
        {
          report ("failed", "cannot chroot into %s: %s", dir, g_strerror (errsv));
          return -1;
        }
    }
  if (chdir ("/") != 0)
    {
      report ("failed", "cannot chdir to the new root: %s", g_strerror (errno));
      return -1;
    }
  return 0;
}

/* what libarchive's read side (stdin) and write_disk side need, and what glibc's allocator and
 * stdio use; everything else fails with EPERM, and the clearly dangerous calls kill the helper */
static const char * const allowed_syscalls[] = {
  "read", "readv", "pread64", "write", "writev", "pwrite64", "lseek", "close",
  "open", "openat", "openat2", "creat",
  "fstat", "stat", "lstat", "newfstatat", "statx", "fstatfs", "statfs",
  "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd", "chdir", "fchdir",
  "mkdir", "mkdirat", "symlink", "symlinkat", "link", "linkat", "unlink", "unlinkat", "rmdir",
  "rename", "renameat", "renameat2",
  "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat",
  "utime", "utimes", "futimesat", "utimensat",
  "ftruncate", "fallocate", "fsync", "fdatasync", "fcntl", "dup", "dup2", "dup3",
  "brk", "munmap", "mremap", "madvise",
  "exit", "exit_group", "rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "sigaltstack",
  "getrandom", "futex", "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid",
  "getgroups", "umask", "clock_gettime", "clock_getres", "gettimeofday", "time",
  "restart_syscall", "sched_yield", "nanosleep", "clock_nanosleep", "getrlimit", "prlimit64",
};

static const char * const killed_syscalls[] = {
  "execve", "execveat", "fork", "vfork", "socket", "socketpair", "connect", "bind", "listen",
  "accept", "accept4", "sendto", "sendmsg", "recvfrom", "recvmsg", "ptrace", "mount",
  "umount", "umount2", "pivot_root", "chroot", "unshare", "setns", "kexec_load",
  "kexec_file_load", "bpf", "keyctl", "add_key", "request_key", "init_module",
  "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at",
  "process_vm_readv", "process_vm_writev", "mknod", "mknodat", "kill", "tkill",
  "perf_event_open", "userfaultfd", "fsopen", "fsmount", "fsconfig", "move_mount",
  "open_tree", "mount_setattr", "io_uring_setup", "io_uring_enter", "io_uring_register",
  "reboot", "swapon", "swapoff", "acct", "iopl", "ioperm", "personality", "quotactl",
  "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
  "capset", "seccomp", "memfd_create", "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
  "clone", "clone3",
};

static int
add_rule (scmp_filter_ctx ctx, uint32_t action, const char *name)
{
  int nr = seccomp_syscall_resolve_name (name);

  /* a name this architecture does not have */
  if (nr == __NR_SCMP_ERROR)
    return 0;
  return seccomp_rule_add (ctx, action, nr, 0);
}

static int
install_seccomp (void)
{
  scmp_filter_ctx ctx;
  pid_t pid = getpid ();
  int r = 0;

  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    {
      report ("failed", "cannot set no_new_privs: %s", g_strerror (errno));
      return -1;
    }
  ctx = seccomp_init (SCMP_ACT_ERRNO (EPERM));
  if (ctx == NULL)
    {
      report ("failed", "cannot create the seccomp filter");
      return -1;
    }
  for (gsize i = 0; r == 0 && i < G_N_ELEMENTS (allowed_syscalls); i++)
    r = add_rule (ctx, SCMP_ACT_ALLOW, allowed_syscalls[i]);
  for (gsize i = 0; r == 0 && i < G_N_ELEMENTS (killed_syscalls); i++)
    r = add_rule (ctx, SCMP_ACT_KILL_PROCESS, killed_syscalls[i]);
  /* memory, but never executable: nothing from the rootfs (a gconv module, say) can be loaded */
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (mmap), 1,
                          SCMP_A2 (SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (mprotect), 1,
                          SCMP_A2 (SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  /* abort () signals itself; no other process */
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (tgkill), 1,
                          SCMP_A0 (SCMP_CMP_EQ, (scmp_datum_t) pid));
  if (r == 0)
    r = seccomp_load (ctx);
  seccomp_release (ctx);
  if (r != 0)
    {
      report ("failed", "cannot install the seccomp filter: %s", g_strerror (-r));
      return -1;
    }
  return 0;
}

static gboolean
parse_u64 (const char *text, guint64 *out)
{
  char *end = NULL;

  if (text == NULL || !g_ascii_isdigit (*text))
    return FALSE;
  errno = 0;
  *out = g_ascii_strtoull (text, &end, 10);
  return errno == 0 && end != NULL && *end == '\0';
}

static int
extract (struct archive *in, struct archive *out, guint64 max_bytes, guint64 max_entries)
{
  guint64 total_bytes = 0;
  guint64 n_entries = 0;
  char buffer[65536];

  for (;;)
    {
      struct archive_entry *entry = NULL;
      const char *name, *link;
      mode_t type;
      int r;

      r = archive_read_next_header (in, &entry);
      if (r == ARCHIVE_EOF)
        break;
      if (r < ARCHIVE_WARN)
        return fail_from_archive (in, "reading the layer");

      if (++n_entries > max_entries)
        {
          report ("limits", "more than %" G_GUINT64_FORMAT " entries", max_entries);
          return EXIT_LIMITS;
        }
      name = archive_entry_pathname (entry);
      if (!name_is_safe (name))
        return fail_with (EXIT_INVALID, "invalid-archive", "unsafe entry name");
      type = archive_entry_filetype (entry);
      link = archive_entry_hardlink (entry);
      if (link != NULL)
        {
          if (!name_is_safe (link) || strcmp (link, ".") == 0)
            return fail_with (EXIT_INVALID, "invalid-archive", "unsafe hard link target");
          archive_entry_set_size (entry, 0);
        }
      else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        {
          return fail_with (EXIT_INVALID, "invalid-archive", "unsupported entry type");
        }
      if (archive_entry_size (entry) < 0 ||
          (guint64) archive_entry_size (entry) > max_bytes - total_bytes)
        {
          report ("limits", "more than %" G_GUINT64_FORMAT " bytes", max_bytes);
          return EXIT_LIMITS;
        }
      /* the daemon strips these already; never restore them from whatever reached us */
      archive_entry_set_perm (entry, archive_entry_perm (entry) & 0777);
      archive_entry_xattr_clear (entry);
      archive_entry_acl_clear (entry);
      archive_entry_set_fflags (entry, 0, 0);

      r = archive_write_header (out, entry);
      if (r < ARCHIVE_WARN)
        return fail_from_archive (out, "extracting the layer");

      if (archive_entry_size (entry) > 0 && link == NULL && type == AE_IFREG)
        {
          la_ssize_t n;

          while ((n = archive_read_data (in, buffer, sizeof buffer)) > 0)
            {
              total_bytes += (guint64) n;
              if (total_bytes > max_bytes)
                {
                  report ("limits", "more than %" G_GUINT64_FORMAT " bytes", max_bytes);
                  return EXIT_LIMITS;
                }
              if (archive_write_data (out, buffer, (size_t) n) != n)
                return fail_from_archive (out, "extracting the layer");
            }
          if (n < 0)
            return fail_from_archive (in, "reading the layer");
        }
      r = archive_write_finish_entry (out);
      if (r < ARCHIVE_WARN)
        return fail_from_archive (out, "extracting the layer");
    }

  if (archive_write_close (out) < ARCHIVE_WARN)
    return fail_from_archive (out, "finishing the extraction");
  return 0;
}

int
main (int argc, char **argv)
{
  g_autoptr(PdHelperArchive) in = NULL;
  g_autoptr(PdHelperArchive) out = NULL;
  guint64 max_bytes = G_MAXUINT64;
  guint64 max_entries = G_MAXUINT64;
  const char *dir = NULL;
  int status;
  int i;

  for (i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--max-bytes") && i + 1 < argc)
        {
          if (!parse_u64 (argv[++i], &max_bytes))
            return fail_with (EXIT_FAILED, "failed", "invalid --max-bytes");
        }
      else if (g_str_equal (argv[i], "--max-entries") && i + 1 < argc)
        {
          if (!parse_u64 (argv[++i], &max_entries))
            return fail_with (EXIT_FAILED, "failed", "invalid --max-entries");
        }
      else if (argv[i][0] != '-' && dir == NULL)
        {
          dir = argv[i];
        }
      else
        {
          return fail_with (EXIT_FAILED, "failed",
                            "usage: plugind-extract [--max-bytes N] [--max-entries N] DIR");
        }
    }
  if (dir == NULL)
    return fail_with (EXIT_FAILED, "failed",
                      "usage: plugind-extract [--max-bytes N] [--max-entries N] DIR");

  umask (022);
  if (enter_root (dir) != 0)
    return EXIT_FAILED;

  /* set up libarchive before the filter, so that its start-up calls (umask, allocations) are
   * done; no name lookups: owners are restored by number, never through NSS in the rootfs */
  in = archive_read_new ();
  out = archive_write_disk_new ();
  if (in == NULL || out == NULL)
    return fail_with (EXIT_FAILED, "failed", "out of memory");
  archive_read_support_format_tar (in);
  archive_write_disk_set_options (out,
                                  ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                  ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                  ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
                                  ARCHIVE_EXTRACT_PERM |
                                  ARCHIVE_EXTRACT_TIME |
                                  ARCHIVE_EXTRACT_OWNER);

  if (install_seccomp () != 0)
    return EXIT_FAILED;

  if (archive_read_open_fd (in, STDIN_FILENO, 65536) != ARCHIVE_OK)
    return fail_from_archive (in, "reading the layer");

  status = extract (in, out, max_bytes, max_entries);
  if (status == 0)
    {
      char buffer[4096];

      /* read the block padding after the end-of-archive marker too, so the daemon never sees
       * a broken pipe from a helper that succeeded */
      while (read (STDIN_FILENO, buffer, sizeof buffer) > 0)
        ;
    }
  return status;
}
