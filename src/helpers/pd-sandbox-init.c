/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/*
 * plugind-sandbox-init: the first program of every plugin sandbox, between bubblewrap and the
 * plugin's entrypoint (docs/plugind.8.rst, section SANDBOX, and src/core/pd-sandbox-start.h).
 *
 *   plugind-sandbox-init --sync-fd N --uid U --gid G --caps HEX --bounding HEX -- ENTRYPOINT…
 *
 * bwrap runs it, from a sealed memfd the daemon made, once the sandbox is set up. It
 *  1. tells the daemon it is ready (one byte "R" on the sync socket), and waits for its "G":
 *     meanwhile the daemon makes, from outside, the mounts bwrap cannot make (Docker's
 *     read-only /proc paths) in this sandbox's mount namespace, so that none of them depends
 *     on the plugin not having started yet;
 *  2. narrows the capability bounding set to --bounding (the plugin's effective set: bwrap
 *     gave this program CAP_SETUID, CAP_SETGID and CAP_SETPCAP besides, to do its work);
 *  3. clears the supplementary groups and switches to --gid and --uid (Config.User);
 *  4. keeps --caps as the permitted, effective, inheritable and ambient sets (ambient so that
 *     a non-root uid keeps them across the execve);
 *  5. leaves only stdio open and execs the entrypoint (searching $PATH, as bwrap would).
 * Any failure is written to stderr (the plugin's log) and ends the sandbox with status 127
 * before the entrypoint runs.
 *
 * Static and without GLib: it runs inside the plugin's rootfs, under the plugin's seccomp
 * filter, where nothing of the host is available. Every syscall it makes is in that filter's
 * allow-list.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define INIT_FAILED 127

static void __attribute__ ((noreturn, format (printf, 1, 2)))
die (const char *format, ...)
{
  va_list args;
  int errsv = errno;

  fputs ("plugind-sandbox-init: ", stderr);
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  if (errsv != 0)
    fprintf (stderr, ": %s", strerror (errsv));
  fputc ('\n', stderr);
  _exit (INIT_FAILED);
}

static uint64_t
parse_number (const char *text, int base, const char *what)
{
  char *end = NULL;
  unsigned long long value;

  errno = 0;
  value = strtoull (text, &end, base);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
    {
      errno = 0;
      die ("invalid %s \"%s\"", what, text);
    }
  return value;
}

static void
set_capabilities (uint64_t caps)
{
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];

  memset (data, 0, sizeof data);
  for (int i = 0; i < 2; i++)
    data[i].effective = data[i].permitted = data[i].inheritable = (uint32_t) (caps >> (32 * i));
  if (syscall (SYS_capset, &header, data) != 0)
    die ("cannot set the capabilities");
}

/* waits for the daemon's "G"; anything else (its death, a refusal) ends the sandbox */
static void
handshake (int sync_fd)
{
  char byte = 'R';
  ssize_t n;

  do
    n = write (sync_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    die ("cannot tell the daemon the sandbox is ready");
  do
    n = read (sync_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1 || byte != 'G')
    {
      errno = n < 0 ? errno : 0;
      die ("the daemon did not finish setting up the sandbox");
    }
  close (sync_fd);
}

int
main (int argc, char **argv)
{
  int sync_fd = -1;
  uint64_t uid = 0, gid = 0, caps = 0, bounding = 0;
  int seen = 0;
  int i;

  for (i = 1; i + 1 < argc && strcmp (argv[i], "--") != 0; i += 2)
    {
      const char *value = argv[i + 1];

      if (strcmp (argv[i], "--sync-fd") == 0)
        sync_fd = (int) parse_number (value, 10, "fd");
      else if (strcmp (argv[i], "--uid") == 0)
        uid = parse_number (value, 10, "uid");
      else if (strcmp (argv[i], "--gid") == 0)
        gid = parse_number (value, 10, "gid");
      else if (strcmp (argv[i], "--caps") == 0)
        caps = parse_number (value, 16, "capability set");
      else if (strcmp (argv[i], "--bounding") == 0)
        bounding = parse_number (value, 16, "bounding set");
      else
        die ("unknown option \"%s\"", argv[i]);
      seen++;
    }
  if (seen != 5 || i >= argc || strcmp (argv[i], "--") != 0 || i + 1 >= argc
      || sync_fd < 3 || uid > UINT32_MAX - 1 || gid > UINT32_MAX - 1 || (caps & ~bounding) != 0)
    {
      errno = 0;
      die ("usage: plugind-sandbox-init --sync-fd N --uid U --gid G --caps HEX --bounding HEX "
           "-- ENTRYPOINT…");
    }

  handshake (sync_fd);

  /* what the plugin may ever have; needs CAP_SETPCAP, which goes last if it is not kept */
  for (int cap = 0; cap < 64; cap++)
    if ((bounding & ((uint64_t) 1 << cap)) == 0 && cap != CAP_SETPCAP
        && prctl (PR_CAPBSET_DROP, (unsigned long) cap, 0, 0, 0) != 0 && errno != EINVAL)
      die ("cannot drop capability %d from the bounding set", cap);
  if ((bounding & ((uint64_t) 1 << CAP_SETPCAP)) == 0
      && prctl (PR_CAPBSET_DROP, (unsigned long) CAP_SETPCAP, 0, 0, 0) != 0)
    die ("cannot drop CAP_SETPCAP from the bounding set");

  if (setgroups (0, NULL) != 0)
    die ("cannot clear the supplementary groups");
  if (setresgid ((gid_t) gid, (gid_t) gid, (gid_t) gid) != 0)
    die ("cannot switch to gid %llu", (unsigned long long) gid);
  if (uid != 0)
    {
      /* keep the permitted set across the switch; the effective one is raised again below */
      if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        die ("cannot keep the capabilities");
      if (setresuid ((uid_t) uid, (uid_t) uid, (uid_t) uid) != 0)
        die ("cannot switch to uid %llu", (unsigned long long) uid);
    }

  set_capabilities (caps);
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    die ("cannot clear the ambient capabilities");
  for (int cap = 0; cap < 64; cap++)
    if ((caps & ((uint64_t) 1 << cap)) != 0
        && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long) cap, 0, 0) != 0)
      die ("cannot keep capability %d across the execve", cap);

  /* nothing of ours reaches the plugin: this program's own fd (the memfd it runs from) and
   * anything else bwrap passed on */
  if (syscall (SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    for (int fd = 3; fd < 1024; fd++)
      fcntl (fd, F_SETFD, FD_CLOEXEC);

  execvp (argv[i + 1], argv + i + 1);
  die ("cannot run %s", argv[i + 1]);
}
