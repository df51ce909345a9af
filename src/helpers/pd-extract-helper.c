/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * plugind-extract: the confined extraction helper: archives are untrusted, so the process that
 * writes them to disk can reach nothing else (docs/design.md, section The sandbox). It chroots
 * into the staging dir it is given, keeps only the capabilities extraction needs (in every set,
 * the bounding set included), installs a seccomp allow-list, reads an uncompressed tar from
 * stdin and writes it with libarchive's secure-extract flags. The daemon has already filtered
 * the stream; everything is checked again here because this process is the one that touches
 * the disk.
 *
 *   plugind-extract [--max-bytes N] [--max-entries N] [--whiteouts | --usage] DIR
 *
 * With --whiteouts the stream is one layer of a multi-layer image, applied over the layers
 * already in DIR: OCI/Docker whiteout entries (".wh.NAME", ".wh..wh..opq") delete what lower
 * layers wrote instead of being extracted, and an entry replaces whatever a lower layer had at
 * its path (only two directories merge). Removals walk the tree one component at a time with
 * O_NOFOLLOW and fd-relative calls, so they never follow a symlink.
 *
 * With --usage, given an empty DIR, it prints "USAGE N" on stdout when it is done: N bytes
 * allocated to what it wrote, counted as the daemon's walk of a rootfs counts them, so that the
 * daemon need not walk the tree again; nothing when its record of what it wrote went past its
 * bound (KNOWN_MAX_BYTES) or libarchive warned about an entry, and the daemon walks the tree.
 *
 * On failure it prints one line "ERROR <kind> <message>" to stderr (kind: invalid-archive,
 * limits, no-space, failed) and exits non-zero.
 */
#include "config.h"

#define G_LOG_DOMAIN "pd-extract"

/* unshare () and CLONE_* */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

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

/* the daemon's max_depth (pd_archive_limits_init ()): no layer it sent can have made a deeper
 * tree, so removals never need to hold more directory fds than this at once */
#define MAX_DEPTH 128

/* libarchive's options for every entry; ARCHIVE_EXTRACT_OWNER is left out where the entry's
 * owner is the one a new file gets anyway (new_file_has_owner ()). Symlinks on the way are
 * refused by check_parents (), not by ARCHIVE_EXTRACT_SECURE_SYMLINKS. */
#define EXTRACT_FLAGS \
  (ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS \
   | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_OWNER)

#define USAGE \
  "usage: plugind-extract [--max-bytes N] [--max-entries N] [--whiteouts | --usage] DIR"

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

/* the kind of a failure from its errno: a full disk, a failure of the machine, or else the
 * archive's fault */
static int
fail_with_errno (int errsv, const char *what, const char *message)
{
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

static int
fail_from_archive (struct archive *a, const char *what)
{
  const char *message = archive_error_string (a);

  return fail_with_errno (archive_errno (a), what, message != NULL ? message : "unknown error");
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

/* What extraction needs, and nothing else (root keeps every capability otherwise):
 * CAP_CHOWN for the entries' owners; CAP_DAC_OVERRIDE to write into directories of other
 * owners or without write permission (a lower layer's, or one made by this layer before its
 * final mode is set); CAP_FOWNER to set modes and times on files it chowned away, and to
 * hard-link them (fs.protected_hardlinks), and to set the sticky bit on a directory it chowned
 * away. No CAP_FSETID: the daemon strips setuid and setgid bits; no CAP_MKNOD: it drops device
 * nodes (a FIFO needs no capability). CAP_SYS_CHROOT was only needed
 * for the chroot, before this. */
static const int kept_capabilities[] = { CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER };

static gboolean
capability_is_kept (int cap)
{
  for (gsize i = 0; i < G_N_ELEMENTS (kept_capabilities); i++)
    if (kept_capabilities[i] == cap)
      return TRUE;
  return FALSE;
}

/* every other capability out of every set, the bounding set included, before the archive is
 * read; the seccomp filter then forbids capset () and exec, so nothing comes back */
static int
drop_capabilities (void)
{
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = { { 0 } };

  /* the bounding set first: dropping from it takes CAP_SETPCAP, which capset () removes */
  for (int cap = 0;; cap++)
    {
      int r = prctl (PR_CAPBSET_READ, cap, 0, 0, 0);

      if (r < 0 && errno == EINVAL)
        break; /* past the last capability this kernel knows */
      if (r <= 0 || capability_is_kept (cap))
        continue;
      if (prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
        {
          report ("failed", "cannot drop capability %d: %s", cap, g_strerror (errno));
          return -1;
        }
    }
  /* EINVAL: a kernel without ambient capabilities has none to clear */
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    {
      report ("failed", "cannot clear the ambient capabilities: %s", g_strerror (errno));
      return -1;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (kept_capabilities); i++)
    {
      int cap = kept_capabilities[i];

      caps[cap / 32].effective |= 1u << (cap % 32);
      caps[cap / 32].permitted |= 1u << (cap % 32);
    }
  if (syscall (SYS_capset, &header, caps) != 0)
    {
      report ("failed", "cannot drop capabilities: %s", g_strerror (errno));
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
  /* readdir (), for the removals of --whiteouts */
  "getdents64", "getdents",
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
  "process_vm_readv", "process_vm_writev", "kill", "tkill",
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
  /* FIFOs only (libarchive's mkfifo()); a device node is refused even with CAP_MKNOD */
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (mknodat), 1,
                          SCMP_A2 (SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO));
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (mknod), 1,
                          SCMP_A1 (SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO));
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

/* nothing but "." and ".." in @path */
static gboolean
dir_is_empty (const char *path)
{
  DIR *dir = opendir (path);
  struct dirent *d;
  gboolean empty = TRUE;

  if (dir == NULL)
    return FALSE;
  while (empty && (d = readdir (dir)) != NULL)
    empty = g_str_equal (d->d_name, ".") || g_str_equal (d->d_name, "..");
  closedir (dir);
  return empty;
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

/* section: symlinks on the way, and what was written
 *
 * No entry is written through a symlink: every directory on the way to an entry (or to a hard
 * link's target) must be a real directory or missing (libarchive then creates it), and a
 * symlink where a directory entry goes is removed, never followed. libarchive's
 * ARCHIVE_EXTRACT_SECURE_SYMLINKS checks the same with an open, a stat and a close per
 * component of every entry (some 15 system calls for a file five directories deep); here the
 * directories already checked or created are remembered, so an entry in a known directory
 * costs one hash lookup. Nothing else writes into the rootfs while the helper runs, so what is
 * known stays true until the helper changes it: an entry that is not a directory drops its
 * path, and every removal of a whiteout or of a lower directory in the way forgets all of it. */

/* what one remembered path costs: its bytes, and about as much again for the table's slot
 * and the allocator's header */
#define KEY_COST(len) ((len) + 1 + 64)

/* each remembered path is a string of its own, so a layer of names deep, long and all
 * different costs a name's length per component (some 260 KB for one entry 128 components and
 * 4 KB long, in each table): past this many bytes the directories are forgotten and checked
 * again as they come (never wrong, only slower), and what was written is left for the daemon
 * to count. A layer of 20,000 paths of 100 bytes stays within it. */
#define KNOWN_MAX_BYTES (4 * 1024 * 1024)

typedef struct {
  GHashTable *dirs;     /* normalised paths of real directories; with each one its parents */
  GHashTable *written;  /* with --usage: every path written, parents included; NULL without */
  gsize dirs_bytes;     /* KEY_COST () of the keys of each */
  gsize written_bytes;
} Known;

static void
known_init (Known *known, gboolean track_written)
{
  known->dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (track_written)
    known->written = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

static void
known_clear (Known *known)
{
  g_clear_pointer (&known->dirs, g_hash_table_unref);
  g_clear_pointer (&known->written, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Known, known_clear)

/* @name as libarchive cleans it up before it writes: no empty and no "." components */
static char *
normalise_name (const char *name)
{
  GString *out = g_string_sized_new (strlen (name));
  const char *p = name;

  for (;;)
    {
      const char *slash = strchr (p, '/');
      gsize len = slash != NULL ? (gsize) (slash - p) : strlen (p);

      if (len > 0 && !(len == 1 && p[0] == '.'))
        {
          if (out->len > 0)
            g_string_append_c (out, '/');
          g_string_append_len (out, p, (gssize) len);
        }
      if (slash == NULL)
        break;
      p = slash + 1;
    }
  return g_string_free (out, FALSE);
}

/* every directory on the way to @path (normalised) is a real directory, or the first missing
 * one and what follows are left for libarchive to create; a symlink or a file there refuses
 * the entry, with libarchive's words for it */
static int
check_parents (Known *known, const char *path)
{
  const char *last = strrchr (path, '/');
  g_autofree char *prefix = NULL;
  char *p;

  if (last == NULL || g_hash_table_contains (known->dirs, prefix = g_strndup (path, (gsize) (last - path))))
    return 0;
  for (p = prefix;;)
    {
      char *slash = strchr (p, '/');
      struct stat st;

      if (slash != NULL)
        *slash = '\0';
      if (!g_hash_table_contains (known->dirs, prefix))
        {
          if (fstatat (AT_FDCWD, prefix, &st, AT_SYMLINK_NOFOLLOW) != 0)
            {
              int errsv = errno;
              g_autofree char *message = NULL;

              if (errsv == ENOENT)
                return 0;
              message = g_strdup_printf ("Could not stat %s", path);
              return fail_with_errno (errsv, "extracting the layer", message);
            }
          if (S_ISLNK (st.st_mode))
            {
              report ("invalid-archive", "extracting the layer: Cannot extract through symlink %s",
                      path);
              return EXIT_INVALID;
            }
          if (!S_ISDIR (st.st_mode))
            {
              report ("invalid-archive", "extracting the layer: Could not stat %s", path);
              return EXIT_INVALID;
            }
          g_hash_table_add (known->dirs, g_strdup (prefix));
          known->dirs_bytes += KEY_COST (strlen (prefix));
        }
      if (slash == NULL)
        return 0;
      *slash = '/';
      p = slash + 1;
    }
}

/* a symlink where a directory entry goes is removed, so that libarchive does not take it for
 * the directory and write through it */
static int
clear_dir_place (Known *known, const char *path)
{
  struct stat st;

  if (*path == '\0' || g_hash_table_contains (known->dirs, path) ||
      fstatat (AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK (st.st_mode))
    return 0;
  if (unlinkat (AT_FDCWD, path, 0) == 0 || errno == ENOENT)
    return 0;
  report ("failed", "extracting the layer: Could not remove symlink %s: %s", path,
          g_strerror (errno));
  return EXIT_FAILED;
}

/* @path and its parents into @set; adds what they cost to @bytes */
static void
add_with_parents (GHashTable *set, gsize *bytes, const char *path)
{
  g_autofree char *copy = g_strdup (path);

  for (;;)
    {
      char *slash;

      if (g_hash_table_contains (set, copy))
        return;
      g_hash_table_add (set, g_strdup (copy));
      slash = strrchr (copy, '/');
      *bytes += KEY_COST (slash != NULL ? (gsize) (slash - copy) : strlen (copy));
      if (slash == NULL)
        return;
      *slash = '\0';
    }
}

/* after an entry was written at @path: its parents exist now, as directories (checked, or made
 * by libarchive); a directory joins them, anything else drops @path. Nothing known lies below
 * it: what is known is a real directory on disk, and libarchive replaces only an empty
 * directory (so no entry costs more than its own path, whatever a layer repeats) */
static void
note_written (Known *known, const char *path, gboolean is_dir)
{
  const char *last = strrchr (path, '/');

  if (known->written != NULL)
    add_with_parents (known->written, &known->written_bytes, path);
  if (is_dir)
    {
      add_with_parents (known->dirs, &known->dirs_bytes, path);
      return;
    }
  if (last != NULL)
    {
      g_autofree char *parent = g_strndup (path, (gsize) (last - path));

      add_with_parents (known->dirs, &known->dirs_bytes, parent);
    }
  if (g_hash_table_remove (known->dirs, path))
    known->dirs_bytes -= KEY_COST (strlen (path));
}

/* after a removal: nothing known is sure any more */
static void
forget_dirs (Known *known)
{
  g_hash_table_remove_all (known->dirs);
  known->dirs_bytes = 0;
}

/* after libarchive's warning for an entry: it may have written nothing at all (it skips a hard
 * link to itself), so the parents of the path were neither made nor checked; remembering them
 * would let a later symlink in their place go unseen. Nothing known stays, and what was
 * written is left for the daemon to count. */
static void
note_unsure (Known *known)
{
  forget_dirs (known);
  g_clear_pointer (&known->written, g_hash_table_unref);
}

/* within KNOWN_MAX_BYTES, whatever the names */
static void
known_bound (Known *known)
{
  if (known->dirs_bytes > KNOWN_MAX_BYTES)
    forget_dirs (known);
  if (known->written_bytes > KNOWN_MAX_BYTES)
    g_clear_pointer (&known->written, g_hash_table_unref);
}

/* section: layers (--whiteouts) */

typedef enum {
  ENTRY_PLAIN,
  ENTRY_WHITEOUT,   /* .wh.NAME: remove NAME */
  ENTRY_OPAQUE,     /* .wh..wh..opq: empty the directory */
  ENTRY_BAD,        /* an AUFS marker or a whiteout name we cannot apply */
} EntryKind;

typedef enum {
  WALK_OK,
  WALK_MISSING,
  WALK_NOT_DIR,     /* a symlink or a non-directory on the way */
  WALK_FAILED,
} WalkResult;

/* what this run wrote, as a tree of path components so that memory stays linear in the
 * entry names: "<parent node>/<component>" → node, the root being ROOT_NODE and 0 meaning
 * "not written". Inserting a path inserts its parents too: they hold something of this layer */
#define ROOT_NODE 1u

/* a directory entry that merged with a lower directory: libarchive sets its times at once,
 * and the children written or removed after it would change them again */
typedef struct {
  GPtrArray *components;
  struct timespec times[2];
} MergedDir;

typedef struct {
  GHashTable *nodes;
  guint n_nodes;
  GArray *merged_dirs;
} Layer;

static void
merged_dir_clear (gpointer data)
{
  MergedDir *merged = data;

  g_ptr_array_unref (merged->components);
}

static void
layer_init (Layer *layer)
{
  layer->nodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  layer->n_nodes = ROOT_NODE;
  layer->merged_dirs = g_array_new (FALSE, FALSE, sizeof (MergedDir));
  g_array_set_clear_func (layer->merged_dirs, merged_dir_clear);
}

static void
layer_clear (Layer *layer)
{
  g_clear_pointer (&layer->nodes, g_hash_table_unref);
  g_clear_pointer (&layer->merged_dirs, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Layer, layer_clear)

static guint
layer_lookup (Layer *layer, guint parent, const char *component)
{
  g_autofree char *key = NULL;

  if (parent == 0)
    return 0;
  key = g_strdup_printf ("%u/%s", parent, component);
  return GPOINTER_TO_UINT (g_hash_table_lookup (layer->nodes, key));
}

/* the node of the first @n @components, 0 when this run wrote nothing there */
static guint
layer_lookup_path (Layer *layer, GPtrArray *components, guint n)
{
  guint node = ROOT_NODE;

  for (guint i = 0; i < n && node != 0; i++)
    node = layer_lookup (layer, node, g_ptr_array_index (components, i));
  return node;
}

static void
layer_insert_path (Layer *layer, GPtrArray *components)
{
  guint node = ROOT_NODE;

  for (guint i = 0; i < components->len; i++)
    {
      char *key = g_strdup_printf ("%u/%s", node, (const char *) g_ptr_array_index (components, i));
      guint child = GPOINTER_TO_UINT (g_hash_table_lookup (layer->nodes, key));

      if (child == 0)
        {
          child = ++layer->n_nodes;
          g_hash_table_insert (layer->nodes, key, GUINT_TO_POINTER (child));
        }
      else
        {
          g_free (key);
        }
      node = child;
    }
}

/* the components of a checked name, without the empty and "." ones, as libarchive reads it */
static GPtrArray *
split_name (const char *name)
{
  g_auto(GStrv) parts = g_strsplit (name, "/", -1);
  GPtrArray *components = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] != '\0' && !g_str_equal (parts[i], "."))
      g_ptr_array_add (components, g_steal_pointer (&parts[i]));
  return components;
}

static EntryKind
classify (GPtrArray *components)
{
  const char *base, *target;

  if (components->len == 0)
    return ENTRY_PLAIN;
  /* a directory named like a marker: nothing of a real layer, and ambiguous to apply */
  for (guint i = 0; i + 1 < components->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (components, i), ".wh."))
      return ENTRY_BAD;
  base = g_ptr_array_index (components, components->len - 1);
  if (!g_str_has_prefix (base, ".wh."))
    return ENTRY_PLAIN;
  if (g_str_equal (base, ".wh..wh..opq"))
    return ENTRY_OPAQUE;
  /* the other .wh..wh. names are AUFS bookkeeping (plnk, aufs, orph), never layer content */
  target = base + strlen (".wh.");
  if (g_str_has_prefix (target, ".wh.") || *target == '\0' || g_str_equal (target, ".") ||
      g_str_equal (target, ".."))
    return ENTRY_BAD;
  return ENTRY_WHITEOUT;
}

/* the directory made of the first @n @components, opened one component at a time from the
 * root with O_NOFOLLOW: a symlink on the way is refused, never followed */
static WalkResult
open_dir_path (GPtrArray *components, guint n, int *out_fd)
{
  int fd = open ("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return WALK_FAILED;
  for (guint i = 0; i < n; i++)
    {
      int next = openat (fd, g_ptr_array_index (components, i),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int errsv = errno;

      close (fd);
      if (next < 0)
        {
          errno = errsv;
          if (errsv == ENOENT)
            return WALK_MISSING;
          if (errsv == ELOOP || errsv == ENOTDIR)
            return WALK_NOT_DIR;
          return WALK_FAILED;
        }
      fd = next;
    }
  *out_fd = fd;
  return WALK_OK;
}

/* the names in @dfd; read up front so that removing them does not disturb the listing */
static int
read_names (int dfd, GPtrArray **out_names)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int fd = dup (dfd);
  DIR *dir;
  struct dirent *d;
  int errsv;

  if (fd < 0)
    {
      report ("failed", "cannot list a directory: %s", g_strerror (errno));
      return EXIT_FAILED;
    }
  dir = fdopendir (fd);
  if (dir == NULL)
    {
      report ("failed", "cannot list a directory: %s", g_strerror (errno));
      close (fd);
      return EXIT_FAILED;
    }
  /* the dup shares its offset with @dfd */
  rewinddir (dir);
  for (;;)
    {
      errno = 0;
      d = readdir (dir);
      if (d == NULL)
        break;
      if (!g_str_equal (d->d_name, ".") && !g_str_equal (d->d_name, ".."))
        g_ptr_array_add (names, g_strdup (d->d_name));
    }
  errsv = errno;
  closedir (dir);
  if (errsv != 0)
    {
      report ("failed", "cannot list a directory: %s", g_strerror (errsv));
      return EXIT_FAILED;
    }
  *out_names = g_steal_pointer (&names);
  return 0;
}

static int prune_dir (Layer *layer, int dfd, guint node, guint depth);

/* removes @name in @dfd, never following it, except what this run wrote there (@node, 0 for
 * nothing): a written directory is kept and only emptied of what lower layers left in it.
 * @depth is that of @name below the root */
static int
remove_name (Layer *layer, int dfd, const char *name, guint node, guint depth)
{
  struct stat st;
  int fd;
  int status;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      if (errno == ENOENT)
        return 0;
      report ("failed", "cannot look at \"%s\": %s", name, g_strerror (errno));
      return EXIT_FAILED;
    }
  if (!S_ISDIR (st.st_mode))
    {
      if (node != 0 || unlinkat (dfd, name, 0) == 0 || errno == ENOENT)
        return 0;
      report ("failed", "cannot remove \"%s\": %s", name, g_strerror (errno));
      return EXIT_FAILED;
    }

  if (depth > MAX_DEPTH)
    {
      report ("limits", "directory tree deeper than %u components", MAX_DEPTH);
      return EXIT_LIMITS;
    }
  fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      report ("failed", "cannot open \"%s\": %s", name, g_strerror (errno));
      return EXIT_FAILED;
    }
  status = prune_dir (layer, fd, node, depth);
  close (fd);
  if (status != 0 || node != 0)
    return status;
  if (unlinkat (dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
    return 0;
  report ("failed", "cannot remove \"%s\": %s", name, g_strerror (errno));
  return EXIT_FAILED;
}

/* empties @dfd (at @depth) of all but what this run wrote under @node */
static int
prune_dir (Layer *layer, int dfd, guint node, guint depth)
{
  g_autoptr(GPtrArray) names = NULL;
  int status = read_names (dfd, &names);

  for (guint i = 0; status == 0 && i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);

      status = remove_name (layer, dfd, name, layer_lookup (layer, node, name), depth + 1);
    }
  return status;
}

/* .wh.NAME and .wh..wh..opq; they only ever hide lower layers (OCI layer.md: "files that are
 * present in the same layer as a whiteout file can only be hidden by whiteout files in
 * subsequent layers") */
static int
apply_whiteout (Layer *layer, GPtrArray *components, EntryKind kind)
{
  guint n_parents = components->len - 1;
  const char *base = g_ptr_array_index (components, n_parents);
  guint parent_node;
  int dfd = -1;
  int status;

  switch (open_dir_path (components, n_parents, &dfd))
    {
    case WALK_OK:
      break;
    case WALK_MISSING:
      /* nothing below to hide */
      return 0;
    case WALK_NOT_DIR:
      return fail_with (EXIT_INVALID, "invalid-archive",
                        "whiteout through a symlink or a non-directory");
    case WALK_FAILED:
    default:
      report ("failed", "cannot open the directory of a whiteout: %s", g_strerror (errno));
      return EXIT_FAILED;
    }
  parent_node = layer_lookup_path (layer, components, n_parents);
  if (kind == ENTRY_OPAQUE)
    {
      status = prune_dir (layer, dfd, parent_node, n_parents);
    }
  else
    {
      const char *target = base + strlen (".wh.");

      status = remove_name (layer, dfd, target, layer_lookup (layer, parent_node, target),
                            components->len);
    }
  close (dfd);
  return status;
}

/* what a lower layer has at the entry's path goes, unless both are directories (they merge);
 * libarchive would unlink a non-directory in the way but cannot rmdir a non-empty one */
static int
replace_lower (Layer *layer, Known *known, GPtrArray *components, gboolean is_dir,
               gboolean *out_merged)
{
  guint n_parents = components->len - 1;
  const char *base;
  struct stat st;
  int dfd = -1;
  int status = 0;

  *out_merged = FALSE;
  if (components->len == 0)
    return 0;
  /* a missing parent is created by libarchive; check_parents () refuses a symlink on the way */
  if (open_dir_path (components, n_parents, &dfd) != WALK_OK)
    return 0;
  base = g_ptr_array_index (components, n_parents);
  if (fstatat (dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      if (errno != ENOENT)
        {
          report ("failed", "cannot look at \"%s\": %s", base, g_strerror (errno));
          status = EXIT_FAILED;
        }
    }
  else if (is_dir && !S_ISDIR (st.st_mode))
    {
      if (unlinkat (dfd, base, 0) != 0 && errno != ENOENT)
        {
          report ("failed", "cannot remove \"%s\": %s", base, g_strerror (errno));
          status = EXIT_FAILED;
        }
    }
  else if (!is_dir && S_ISDIR (st.st_mode))
    {
      /* all of it, even what this run wrote there: the last entry for a path wins */
      status = remove_name (layer, dfd, base, 0, components->len);
      forget_dirs (known);
    }
  else if (is_dir)
    {
      *out_merged = TRUE;
    }
  close (dfd);
  return status;
}

static void
remember_merged_dir (Layer *layer, GPtrArray *components, struct archive_entry *entry)
{
  MergedDir merged = { g_ptr_array_ref (components) };

  merged.times[0].tv_nsec = merged.times[1].tv_nsec = UTIME_OMIT;
  if (archive_entry_atime_is_set (entry))
    {
      merged.times[0].tv_sec = archive_entry_atime (entry);
      merged.times[0].tv_nsec = archive_entry_atime_nsec (entry);
    }
  if (archive_entry_mtime_is_set (entry))
    {
      merged.times[1].tv_sec = archive_entry_mtime (entry);
      merged.times[1].tv_nsec = archive_entry_mtime_nsec (entry);
    }
  g_array_append_val (layer->merged_dirs, merged);
}

/* after everything else, as libarchive does for the directories it creates; one that a later
 * entry replaced is left alone */
static int
restore_merged_times (Layer *layer)
{
  for (guint i = 0; i < layer->merged_dirs->len; i++)
    {
      MergedDir *merged = &g_array_index (layer->merged_dirs, MergedDir, i);
      guint n_parents = merged->components->len - 1;
      int dfd = -1;
      int fd;

      if (open_dir_path (merged->components, n_parents, &dfd) != WALK_OK)
        continue;
      fd = openat (dfd, g_ptr_array_index (merged->components, n_parents),
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close (dfd);
      if (fd < 0)
        continue;
      if (futimens (fd, merged->times) != 0)
        {
          report ("failed", "cannot set the times of a directory: %s", g_strerror (errno));
          close (fd);
          return EXIT_FAILED;
        }
      close (fd);
    }
  return 0;
}

static int
compare_paths (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* what the daemon's walk of a rootfs counts (du -s: the allocated blocks of everything in it,
 * a file with several links once, nothing on another file system), printed as "USAGE N" on
 * stdout; the rootfs was empty before this run, so what it wrote is all there is. Sorted, the
 * names of a directory come together: each is looked up in its opened directory, not walked
 * to from the root again. */
static int
report_usage (Known *known)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  guint n_paths = 0;
  g_autofree const char **paths
      = (const char **) g_hash_table_get_keys_as_array (known->written, &n_paths);
  const char *dir = NULL; /* the parent of the paths looked up in dfd, dir_len bytes of it */
  gsize dir_len = 0;
  int dfd = -1;
  struct stat root;
  guint64 total;

  if (stat ("/", &root) != 0)
    {
      report ("failed", "cannot stat the rootfs: %s", g_strerror (errno));
      return EXIT_FAILED;
    }
  total = (guint64) root.st_blocks * 512;
  qsort (paths, n_paths, sizeof *paths, compare_paths);
  for (guint i = 0; i < n_paths; i++)
    {
      const char *path = paths[i];
      const char *slash = strrchr (path, '/');
      gsize len = slash != NULL ? (gsize) (slash - path) : 0;
      struct stat st;

      if (*path == '\0')
        continue;
      if (dir == NULL || len != dir_len || strncmp (path, dir, len) != 0)
        {
          g_autofree char *parent = len > 0 ? g_strndup (path, len) : g_strdup (".");

          if (dfd >= 0)
            close (dfd);
          dfd = openat (AT_FDCWD, parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          dir = path;
          dir_len = len;
        }
      /* as the walk: what is gone or cannot be read is left out */
      if (dfd < 0 || fstatat (dfd, slash != NULL ? slash + 1 : path, &st, AT_SYMLINK_NOFOLLOW) != 0
          || st.st_dev != root.st_dev)
        continue;
      if (!S_ISDIR (st.st_mode) && st.st_nlink > 1)
        {
          gint64 ino = (gint64) st.st_ino;

          if (g_hash_table_contains (seen, &ino))
            continue;
          g_hash_table_add (seen, g_memdup2 (&ino, sizeof ino));
        }
      total += (guint64) st.st_blocks * 512;
    }
  if (dfd >= 0)
    close (dfd);
  if (printf ("USAGE %" G_GUINT64_FORMAT "\n", total) < 0 || fflush (stdout) != 0)
    {
      report ("failed", "cannot report the disk usage: %s", g_strerror (errno));
      return EXIT_FAILED;
    }
  return 0;
}

/* whether a file made in a directory of another group gets our group. Not in a setgid
 * directory (a staging dir made in a setgid directory inherits the bit, and so does every
 * directory libarchive makes in it), nor on a file system mounted with grpid or bsdgroups,
 * where new files take their directory's group (a layer may chown a directory). Mount options
 * cannot be read in the chroot (no /proc), so a file is made in a directory of another group
 * and looked at; it and its directory are removed at once. */
static gboolean
new_files_take_our_group (gid_t egid)
{
  char dir[] = "/.plugind-probe-XXXXXX";
  g_autofree char *file = NULL;
  gboolean ours = FALSE;
  struct stat st;
  int fd;

  if (g_mkdtemp_full (dir, 0700) == NULL)
    return FALSE;
  file = g_build_filename (dir, "f", NULL);
  if (chown (dir, (uid_t) -1, egid + 1) == 0 &&
      (fd = open (file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) >= 0)
    {
      ours = fstat (fd, &st) == 0 && st.st_gid == egid;
      close (fd);
      unlinkat (AT_FDCWD, file, 0);
    }
  unlinkat (AT_FDCWD, dir, AT_REMOVEDIR);
  return ours;
}

/* a file, symlink or FIFO is always made anew (what was in its place is removed first), owned
 * by our effective uid and, where new_files_take_our_group (), our gid. Then chown () would
 * change nothing. A directory may merge with one that exists, and a hard link is a file that
 * exists: they keep the chown. */
static gboolean
new_file_has_owner (struct archive_entry *entry, const char *link, mode_t type, uid_t euid,
                    gid_t egid)
{
  return link == NULL && (type == AE_IFREG || type == AE_IFLNK || type == AE_IFIFO)
         && archive_entry_uid (entry) == (la_int64_t) euid
         && archive_entry_gid (entry) == (la_int64_t) egid;
}

static int
extract (struct archive *in, struct archive *out, guint64 max_bytes, guint64 max_entries,
         gboolean whiteouts, gboolean usage)
{
  g_auto(Layer) layer = { NULL };
  g_auto(Known) known = { NULL };
  uid_t euid = geteuid ();
  gid_t egid = getegid ();
  guint64 total_bytes = 0;
  guint64 n_entries = 0;
  char buffer[65536];
  gboolean may_skip_owner = new_files_take_our_group (egid);

  if (whiteouts)
    layer_init (&layer);
  known_init (&known, usage);

  for (;;)
    {
      struct archive_entry *entry = NULL;
      g_autoptr(GPtrArray) components = NULL;
      g_autofree char *path = NULL;
      gboolean merged = FALSE;
      gboolean is_dir;
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
      if (whiteouts)
        {
          EntryKind kind;

          components = split_name (name);
          kind = classify (components);
          if (kind == ENTRY_BAD)
            return fail_with (EXIT_INVALID, "invalid-archive", "invalid whiteout name");
          if (kind != ENTRY_PLAIN)
            {
              /* a marker is never written, whatever its type; its data (normally none) is
               * skipped, so it counts as an entry but not as bytes */
              r = apply_whiteout (&layer, components, kind);
              forget_dirs (&known);
              if (r != 0)
                return r;
              if (archive_read_data_skip (in) < ARCHIVE_WARN)
                return fail_from_archive (in, "reading the layer");
              continue;
            }
        }
      type = archive_entry_filetype (entry);
      link = archive_entry_hardlink (entry);
      if (link != NULL)
        {
          g_autofree char *target = NULL;

          if (!name_is_safe (link) || strcmp (link, ".") == 0)
            return fail_with (EXIT_INVALID, "invalid-archive", "unsafe hard link target");
          archive_entry_set_size (entry, 0);
          /* the target is reached by name, so not through a symlink either */
          target = normalise_name (link);
          r = check_parents (&known, target);
          if (r != 0)
            return r;
        }
      else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK && type != AE_IFIFO)
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
      archive_entry_set_perm (entry, archive_entry_perm (entry) & 01777);
      archive_entry_xattr_clear (entry);
      archive_entry_acl_clear (entry);
      archive_entry_set_fflags (entry, 0, 0);

      is_dir = link == NULL && type == AE_IFDIR;
      if (whiteouts)
        {
          r = replace_lower (&layer, &known, components, is_dir, &merged);
          if (r != 0)
            return r;
        }
      path = normalise_name (name);
      r = check_parents (&known, path);
      if (r == 0 && is_dir)
        r = clear_dir_place (&known, path);
      if (r != 0)
        return r;
      archive_write_disk_set_options (out, may_skip_owner
                                               && new_file_has_owner (entry, link, type, euid,
                                                                      egid)
                                               ? EXTRACT_FLAGS & ~ARCHIVE_EXTRACT_OWNER
                                               : EXTRACT_FLAGS);
      r = archive_write_header (out, entry);
      if (r < ARCHIVE_WARN)
        return fail_from_archive (out, "extracting the layer");
      if (r == ARCHIVE_OK)
        note_written (&known, path, is_dir);
      else
        note_unsure (&known);
      known_bound (&known);
      /* from here on an opaque whiteout or a whiteout in this stream leaves it alone */
      if (whiteouts)
        layer_insert_path (&layer, components);
      if (merged)
        remember_merged_dir (&layer, components, entry);

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
  if (whiteouts)
    return restore_merged_times (&layer);
  /* nothing to say after note_unsure () or past KNOWN_MAX_BYTES: the daemon counts */
  if (usage && known.written != NULL)
    return report_usage (&known);
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
  gboolean whiteouts = FALSE;
  gboolean usage = FALSE;
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
      else if (g_str_equal (argv[i], "--whiteouts"))
        {
          whiteouts = TRUE;
        }
      else if (g_str_equal (argv[i], "--usage"))
        {
          usage = TRUE;
        }
      else if (argv[i][0] != '-' && dir == NULL)
        {
          dir = argv[i];
        }
      else
        {
          return fail_with (EXIT_FAILED, "failed", USAGE);
        }
    }
  /* a layer over others is only part of the rootfs: its own usage says nothing */
  if (dir == NULL || (usage && whiteouts))
    return fail_with (EXIT_FAILED, "failed", USAGE);

  umask (022);
  if (enter_root (dir) != 0 || drop_capabilities () != 0)
    return EXIT_FAILED;
  /* what is written is all there is only in an empty rootfs; otherwise nothing is reported,
   * and the daemon measures the rootfs itself */
  if (usage && !dir_is_empty ("/"))
    usage = FALSE;

  /* set up libarchive before the filter, so that its start-up calls (umask, allocations) are
   * done; no name lookups: owners are restored by number, never through NSS in the rootfs */
  in = archive_read_new ();
  out = archive_write_disk_new ();
  if (in == NULL || out == NULL)
    return fail_with (EXIT_FAILED, "failed", "out of memory");
  archive_read_support_format_tar (in);
  archive_write_disk_set_options (out, EXTRACT_FLAGS);

  if (install_seccomp () != 0)
    return EXIT_FAILED;

  if (archive_read_open_fd (in, STDIN_FILENO, 65536) != ARCHIVE_OK)
    return fail_from_archive (in, "reading the layer");

  status = extract (in, out, max_bytes, max_entries, whiteouts, usage);
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
