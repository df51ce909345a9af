/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/*
 * Runs inside a plugind sandbox for test-sandbox and reports, one "key=value" line each, what
 * it finds there: its status lines (Uid, Gid, Groups, CapEff, CapBnd, CapPrm, CapInh, CapAmb,
 * NoNewPrivs, Seccomp), the inode of each of its namespaces, its argv, cwd and environment,
 * its open fds, which /proc paths are read-only, and the errno of calls the sandbox must
 * refuse ("0" when one succeeded). Static and without GLib: the test rootfs holds nothing
 * but this binary.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void
report (const char *key, long r)
{
  printf ("%s=%d\n", key, r < 0 ? errno : 0);
}

static void
status_lines (const char *prefix)
{
  static const char *const keys[] = {
    "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:",
  };
  char line[256];
  FILE *f = fopen ("/proc/self/status", "re");

  if (f == NULL)
    {
      printf ("status=%d\n", errno);
      return;
    }
  while (fgets (line, sizeof line, f) != NULL)
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      if (strncmp (line, keys[i], strlen (keys[i])) == 0)
        {
          char *value = line + strlen (keys[i]);

          value += strspn (value, " \t");
          value[strcspn (value, "\n")] = '\0';
          printf ("%s%.*s=%s\n", prefix, (int) strlen (keys[i]) - 1, keys[i], value);
        }
  fclose (f);
}

static void
namespaces (void)
{
  static const char *const ns[] = { "mnt", "uts", "ipc", "pid", "net", "cgroup", "user" };

  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
    {
      char path[64], target[128];
      ssize_t len;

      snprintf (path, sizeof path, "/proc/self/ns/%s", ns[i]);
      len = readlink (path, target, sizeof target - 1);
      target[len < 0 ? 0 : len] = '\0';
      printf ("ns.%s=%s\n", ns[i], target);
    }
}

/* every mount point it can see, from its own mountinfo */
static void
mounts (void)
{
  char line[4096];
  FILE *f = fopen ("/proc/self/mountinfo", "re");

  if (f == NULL)
    return;
  while (fgets (line, sizeof line, f) != NULL)
    {
      char point[4096];

      /* id parent major:minor root mount-point ... */
      if (sscanf (line, "%*s %*s %*s %*s %4095s", point) == 1)
        printf ("mount.point=%s\n", point);
    }
  fclose (f);
}

static void
fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;

  printf ("fds=");
  if (dir != NULL)
    {
      while ((entry = readdir (dir)) != NULL)
        if (entry->d_name[0] != '.' && atoi (entry->d_name) != dirfd (dir))
          printf ("%s,", entry->d_name);
      closedir (dir);
    }
  printf ("\n");
}

/* Docker's read-only /proc paths: "ro.PATH=1" when read-only */
static void
readonly_paths (void)
{
  static const char *const paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
  };

  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    {
      struct statvfs st;

      if (statvfs (paths[i], &st) == 0)
        printf ("ro.%s=%d\n", paths[i], (st.f_flag & ST_RDONLY) != 0);
      else
        printf ("ro.%s=missing\n", paths[i]);
    }
}

int
main (int argc, char **argv)
{
  char cwd[4096];
  struct clone_args args = { 0 };
  char *child_argv[] = { argv[0], (char *) "--exec-child", NULL };
  pid_t pid;
  int status;
  int fd;

  /* what an execve inside the sandbox gets: no more than its parent had */
  if (argc == 2 && strcmp (argv[1], "--exec-child") == 0)
    {
      status_lines ("exec.");
      return 0;
    }

  status_lines ("");
  namespaces ();
  mounts ();
  fds ();
  for (int i = 1; i < argc; i++)
    printf ("arg=%s\n", argv[i]);
  for (char **e = environ; *e != NULL; e++)
    printf ("env=%s\n", *e);
  printf ("cwd=%s\n", getcwd (cwd, sizeof cwd) != NULL ? cwd : "");
  printf ("uid=%d\n", (int) getuid ());

  /* refused unless a capability grants them */
  report ("keyctl", syscall (SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
  report ("kexec_load", syscall (SYS_kexec_load, 0, 0, NULL, 0));
  report ("open_by_handle_at", syscall (SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
  if (mount ("none", "/mnt", "tmpfs", 0, NULL) == 0)
    {
      printf ("mount=0\n");
      umount ("/mnt");
    }
  else
    report ("mount", -1);
  /* in a child, since it changes the caller when it works */
  pid = fork ();
  if (pid == 0)
    _exit (unshare (CLONE_NEWUSER) == 0 ? 0 : errno);
  if (pid > 0 && waitpid (pid, &status, 0) == pid && WIFEXITED (status))
    printf ("unshare_user=%d\n", WEXITSTATUS (status));
  else
    printf ("unshare_user=fork failed\n");
  /* a pid that cannot exist: ESRCH once the call reaches the kernel */
  report ("ptrace", syscall (SYS_ptrace, 0x4206 /* PTRACE_SEIZE */, 0x3fffffff, 0, 0));
  /* a size the kernel refuses (EINVAL), so that it never makes a process when it gets there */
  args.flags = CLONE_NEWUSER;
  report ("clone3", syscall (SYS_clone3, &args, (size_t) 1));
  report ("tiocsti", ioctl (1, TIOCSTI, "x"));
  /* an ordinary ioctl still gets to the kernel: ENOTTY on a pipe, not EPERM */
  report ("tcgets", ioctl (1, TCGETS, NULL));
  fd = socket (AF_VSOCK, SOCK_STREAM, 0);
  report ("socket_vsock", fd);
  fd = socket (AF_UNIX, SOCK_STREAM, 0);
  report ("socket_unix", fd);
  if (fd >= 0)
    close (fd);
  /* a syscall newer than libseccomp knows (mseal, Linux 6.10) */
  report ("newer_syscall", syscall (462, 0, 0, 0));
  report ("mknod_char", mknod ("/tmp/probe-null", S_IFCHR | 0600, makedev (1, 3)));
  report ("mknod_fifo", mknod ("/tmp/probe-fifo", S_IFIFO | 0600, 0));
  unlink ("/tmp/probe-null");
  unlink ("/tmp/probe-fifo");
  report ("socket_dir", access ("/run/docker/plugins/.", W_OK));
  /* what a root process could turn into host root (kernel.core_pattern, sysrq): opened for
   * writing, never written */
  fd = open ("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC);
  report ("open_core_pattern", fd);
  if (fd >= 0)
    close (fd);
  fd = open ("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
  report ("open_sysrq_trigger", fd);
  if (fd >= 0)
    close (fd);
  readonly_paths ();
  /* a masked file shows nothing: empty, or (a /dev/null on a nodev bind) not readable */
  fd = open ("/proc/interrupts", O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      char buf[64];

      printf ("interrupts_bytes=%zd\n", read (fd, buf, sizeof buf));
      close (fd);
    }
  else
    printf ("interrupts_bytes=0 (open: errno %d)\n", errno);
  /* a root-owned 0600 file the test binds at /secret */
  fd = open ("/secret", O_RDONLY | O_CLOEXEC);
  report ("open_secret", fd);
  if (fd >= 0)
    close (fd);
  /* gated on CAP_SYS_CHROOT in the seccomp filter; in a child, since it changes the caller */
  pid = fork ();
  if (pid == 0)
    _exit (chroot ("/tmp") == 0 ? 0 : errno);
  if (pid > 0 && waitpid (pid, &status, 0) == pid && WIFEXITED (status))
    printf ("chroot=%d\n", WEXITSTATUS (status));
  fflush (stdout);
  /* last, since the child's lines follow */
  execv (argv[0], child_argv);
  report ("exec", -1);
  return 0;
}
