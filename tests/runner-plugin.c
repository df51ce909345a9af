/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fake Docker plugin for test-runner: a static libc-only binary that runs inside the
 * sandbox. argv[1] picks a behaviour, argv[2] is the socket name in /run/docker/plugins.
 *
 *   normal      listen, answer /Plugin.Activate with {"Implements": ["VolumeDriver"]}
 *   exit        print a line and exit 3 at once
 *   nosocket    never create the socket
 *   symlink     create a symlink where the socket should be
 *   garbage     answer Activate with bytes that are not HTTP
 *   err500      answer 500 {"Err": "activation exploded"}
 *   notfound    answer 404
 *   wrongimpl   answer {"Implements": ["NetworkDriver"]}
 *   silent      accept the Activate request and never answer
 *   huge        answer Activate with a 4 MiB body
 *   ignoreterm  normal, but SIGTERM is ignored
 *   daemonize   fork a daemonized child (setsid, double fork) that sleeps forever, then normal
 *   crashloop   normal, but exit 1 shortly after answering Activate
 *   flood       normal, and write to stdout as fast as possible
 *   chatty      print 50 numbered lines, then normal, printing "tick N" every 50 ms
 *   binary      print a line of 2 MiB, bytes that are not UTF-8 (NUL, 0xff, an escape
 *               sequence) and a line without a newline, then normal
 *   status      print its user, capabilities and confinement, then normal
 *   printenv    print its environment and the arguments after argv[2], then exit 3
 *   deepjson    answer Activate with 100,000 nested '[' (a parser without a depth limit
 *               overflows its stack)
 *   deeplater   normal the first time, leaving /deeplater in its rootfs; deepjson at every
 *               later start (a plugin that is enabled first and attacks at the next start)
 *   mount       do the actions given after argv[2] in order, printing how each went, then
 *               normal: tmpfs:P (mount a tmpfs at P, made first), bind:S:D, mkdir:P, rmdir:P,
 *               symlink:TARGET:LINK, umount:P (detached), suid:P (remount the bind at P
 *               without nosuid and nodev), crashonce:F (exit 1 at once when the file F
 *               exists; else make it, and crash as crashloop does); other arguments are
 *               ignored (for test_propagate.py)
 *   scripted    normal for /Plugin.Activate; any other POST /NAME is read whole, printed,
 *               and answered with the bytes of /answers/NAME in its rootfs as they are (a
 *               whole HTTP answer, which the test writes), never at all when that file
 *               starts with "SILENT", and with 200 {"Err": ""} when there is none; when
 *               /answers/NAME.swap holds "PATH\nTARGET", it first renames PATH to
 *               PATH.old and puts a symlink to TARGET at PATH (a hostile volume plugin
 *               swapping a volume's dir after its Mount answer)
 *
 * The Activate request is checked against Docker's headers; anything else gets a 400 whose
 * Err names the problem, so the test sees it in the activation error. */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *mode = "normal";
/* mode "mount", crashonce: exit after the first request, as crashloop */
static int crash_after_serve;

static void
on_term (int sig)
{
  (void) sig;
  _exit (0);
}

static void
write_all (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      data += n;
      len -= (size_t) n;
    }
}

static void
reply (int fd, int status, const char *reason, const char *body)
{
  char head[256];
  int n = snprintf (head, sizeof head,
                    "HTTP/1.1 %d %s\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                    status, reason, strlen (body));
  write_all (fd, head, (size_t) n);
  write_all (fd, body, strlen (body));
}

/* the value of header @name in @req (NUL-terminated headers), copied into @out */
static int
header (const char *req, const char *name, char *out, size_t out_len)
{
  const char *p = strstr (req, "\r\n");
  size_t name_len = strlen (name);

  while (p != NULL && p[2] != '\r' && p[2] != '\0')
    {
      const char *line = p + 2;
      const char *end = strstr (line, "\r\n");
      if (end == NULL)
        break;
      if (strncasecmp (line, name, name_len) == 0 && line[name_len] == ':')
        {
          const char *v = line + name_len + 1;
          size_t len;
          while (*v == ' ')
            v++;
          len = (size_t) (end - v);
          if (len >= out_len)
            len = out_len - 1;
          memcpy (out, v, len);
          out[len] = '\0';
          return 1;
        }
      p = end;
    }
  return 0;
}

/* scripted: the swap of /answers/NAME.swap, if there is one */
static void
swap_dir (const char *name)
{
  char path[300];
  char text[1024];
  char old[1100];
  char *target;
  ssize_t n;
  int file;

  snprintf (path, sizeof path, "/answers/%s.swap", name);
  file = open (path, O_RDONLY | O_CLOEXEC);
  if (file < 0)
    return;
  n = read (file, text, sizeof text - 1);
  close (file);
  text[n > 0 ? n : 0] = '\0';
  target = strchr (text, '\n');
  if (target == NULL)
    return;
  *target++ = '\0';
  target[strcspn (target, "\n")] = '\0';
  snprintf (old, sizeof old, "%s.old", text);
  if (rename (text, old) != 0 || symlink (target, text) != 0)
    printf ("runner-plugin: swap of %s failed: %s\n", text, strerror (errno));
  else
    printf ("runner-plugin: swapped %s for a symlink to %s\n", text, target);
  fflush (stdout);
}

/* scripted: the rest of the request's body, then the answer the test wrote */
static void
serve_scripted (int fd, char *req, size_t len, size_t size)
{
  char *end = strstr (req, "\r\n\r\n");
  char value[64];
  char name[256];
  char path[300];
  size_t body_len = 0;
  size_t have;
  int file;

  if (end == NULL || sscanf (req, "POST /%255s HTTP/1.1", name) != 1 || strchr (name, '/') != NULL)
    {
      reply (fd, 400, "Bad Request", "{\"Err\": \"not a plugin call\"}");
      return;
    }
  if (header (req, "Content-Length", value, sizeof value))
    body_len = strtoul (value, NULL, 10);
  have = len - (size_t) (end + 4 - req);
  while (have < body_len && len < size - 1)
    {
      ssize_t n = read (fd, req + len, size - 1 - len);
      if (n <= 0)
        break;
      len += (size_t) n;
      have += (size_t) n;
    }
  req[len] = '\0';
  printf ("runner-plugin: call %s %s\n", name, strstr (req, "\r\n\r\n") + 4);
  fflush (stdout);

  swap_dir (name);
  snprintf (path, sizeof path, "/answers/%s", name);
  file = open (path, O_RDONLY | O_CLOEXEC);
  if (file < 0)
    {
      reply (fd, 200, "OK", "{\"Err\": \"\"}");
      return;
    }
  for (;;)
    {
      char buf[65536];
      ssize_t n = read (file, buf, sizeof buf);

      if (n <= 0)
        break;
      if (n >= 6 && strncmp (buf, "SILENT", 6) == 0)
        {
          /* until the caller gives up */
          while (read (fd, buf, sizeof buf) > 0)
            ;
          break;
        }
      write_all (fd, buf, (size_t) n);
    }
  close (file);
}

static void
serve_one (int fd)
{
  char req[8192];
  size_t len = 0;
  char value[256];

  for (;;)
    {
      ssize_t n = read (fd, req + len, sizeof req - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      len += (size_t) n;
      req[len] = '\0';
      if (strstr (req, "\r\n\r\n") != NULL || len == sizeof req - 1)
        break;
    }

  /* the request's header lines go to the log, for the test to compare with Docker's */
  {
    const char *line = strstr (req, "\r\n");
    while (line != NULL && line[2] != '\r' && line[2] != '\0')
      {
        const char *end = strstr (line + 2, "\r\n");
        if (end == NULL)
          break;
        printf ("runner-plugin: request header %.*s\n", (int) (end - line - 2), line + 2);
        line = end;
      }
    fflush (stdout);
  }

  if (strcmp (mode, "garbage") == 0)
    {
      write_all (fd, "\x01\x02 this is not http\r\n\r\n", 24);
      return;
    }
  if (strcmp (mode, "scripted") == 0 &&
      strncmp (req, "POST /Plugin.Activate HTTP/1.1\r\n", 32) != 0)
    {
      serve_scripted (fd, req, len, sizeof req);
      return;
    }
  if (strncmp (req, "POST /Plugin.Activate HTTP/1.1\r\n", 32) != 0)
    {
      reply (fd, 400, "Bad Request", "{\"Err\": \"expected POST /Plugin.Activate\"}");
      return;
    }
  if (!header (req, "Host", value, sizeof value) || strcmp (value, "plugin.moby.localhost") != 0)
    {
      reply (fd, 400, "Bad Request", "{\"Err\": \"bad Host\"}");
      return;
    }
  if (!header (req, "Accept", value, sizeof value) ||
      strcmp (value, "application/vnd.docker.plugins.v1.2+json") != 0)
    {
      reply (fd, 400, "Bad Request", "{\"Err\": \"bad Accept\"}");
      return;
    }
  if (header (req, "Content-Type", value, sizeof value))
    {
      reply (fd, 400, "Bad Request", "{\"Err\": \"unexpected Content-Type\"}");
      return;
    }
  if (header (req, "Content-Length", value, sizeof value) && strcmp (value, "0") != 0)
    {
      reply (fd, 400, "Bad Request", "{\"Err\": \"non-empty body\"}");
      return;
    }

  if (strcmp (mode, "silent") == 0)
    for (;;)
      pause ();
  if (strcmp (mode, "deepjson") == 0 ||
      (strcmp (mode, "deeplater") == 0 && access ("/deeplater", F_OK) == 0))
    {
      static char deep[100001];
      memset (deep, '[', sizeof deep - 1);
      reply (fd, 200, "OK", deep);
      return;
    }
  if (strcmp (mode, "deeplater") == 0)
    close (open ("/deeplater", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (strcmp (mode, "huge") == 0)
    {
      static char block[65536];
      const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n";
      memset (block, ' ', sizeof block);
      write_all (fd, head, strlen (head));
      for (int i = 0; i < 64; i++)
        write_all (fd, block, sizeof block);
      return;
    }
  if (strcmp (mode, "err500") == 0)
    reply (fd, 500, "Internal Server Error", "{\"Err\": \"activation exploded\"}");
  else if (strcmp (mode, "notfound") == 0)
    reply (fd, 404, "Not Found", "404 page not found\n");
  else if (strcmp (mode, "wrongimpl") == 0)
    reply (fd, 200, "OK", "{\"Implements\": [\"NetworkDriver\"]}");
  else
    reply (fd, 200, "OK", "{\"Implements\": [\"VolumeDriver\"]}");
}

static void
daemonize_child (void)
{
  pid_t pid = fork ();

  if (pid == 0)
    {
      setsid ();
      if (fork () == 0)
        {
          signal (SIGTERM, SIG_IGN);
          for (;;)
            pause ();
        }
      _exit (0);
    }
  if (pid > 0)
    waitpid (pid, NULL, 0);
}

/* what the sandbox left the plugin: user, capabilities, no_new_privs, seccomp, and whether
 * kernel.core_pattern can be opened for writing (never written) */
static void
print_sandbox_status (void)
{
  FILE *f = fopen ("/proc/self/status", "r");
  char line[256];
  int fd;

  if (f == NULL)
    return;
  while (fgets (line, sizeof line, f) != NULL)
    if (strncmp (line, "Cap", 3) == 0 || strncmp (line, "NoNewPrivs:", 11) == 0 ||
        strncmp (line, "Seccomp:", 8) == 0 || strncmp (line, "Uid:", 4) == 0 ||
        strncmp (line, "Gid:", 4) == 0 || strncmp (line, "Groups:", 7) == 0)
      printf ("runner-plugin: status %s", line);
  fclose (f);
  fd = open ("/proc/sys/kernel/core_pattern", O_WRONLY | O_CLOEXEC);
  printf ("runner-plugin: core_pattern open for writing: %s\n", fd >= 0 ? "yes" : strerror (errno));
  if (fd >= 0)
    close (fd);
}

/* mode "mount": one action, "OP:ARG[:ARG2]" */
static void
mount_action (const char *action)
{
  char op[16], a[1024], b[1024];
  const char *colon = strchr (action, ':');
  const char *second;
  int r = -1;

  if (colon == NULL || (size_t) (colon - action) >= sizeof op)
    return;
  memcpy (op, action, (size_t) (colon - action));
  op[colon - action] = '\0';
  second = strchr (colon + 1, ':');
  snprintf (a, sizeof a, "%.*s", second != NULL ? (int) (second - colon - 1) : 1023, colon + 1);
  snprintf (b, sizeof b, "%s", second != NULL ? second + 1 : "");
  errno = EINVAL;
  if (strcmp (op, "tmpfs") == 0)
    {
      mkdir (a, 0755);
      r = mount ("tmpfs", a, "tmpfs", 0, "size=1m");
    }
  else if (strcmp (op, "bind") == 0)
    r = mount (a, b, NULL, MS_BIND, NULL);
  else if (strcmp (op, "mkdir") == 0)
    r = mkdir (a, 0755);
  else if (strcmp (op, "rmdir") == 0)
    r = rmdir (a);
  else if (strcmp (op, "symlink") == 0)
    r = symlink (a, b);
  else if (strcmp (op, "umount") == 0)
    r = umount2 (a, MNT_DETACH);
  else if (strcmp (op, "suid") == 0)
    r = mount (NULL, a, NULL, MS_REMOUNT | MS_BIND, NULL);
  else if (strcmp (op, "crashonce") == 0)
    {
      if (access (a, F_OK) == 0)
        {
          printf ("runner-plugin: %s exists, exiting\n", a);
          exit (1);
        }
      r = close (open (a, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
      crash_after_serve = 1;
    }
  printf ("runner-plugin: %s: %s\n", action, r == 0 ? "ok" : strerror (errno));
}

int
main (int argc, char **argv)
{
  char path[sizeof ((struct sockaddr_un *) 0)->sun_path];
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int listen_fd;
  int tick = 0;

  if (argc > 1)
    mode = argv[1];
  snprintf (path, sizeof path, "/run/docker/plugins/%s", argc > 2 ? argv[2] : "runner.sock");

  if (strcmp (mode, "ignoreterm") == 0)
    signal (SIGTERM, SIG_IGN);
  else
    signal (SIGTERM, on_term);

  printf ("runner-plugin: mode %s\n", mode);
  if (strcmp (mode, "status") == 0)
    print_sandbox_status ();
  fflush (stdout);

  if (strcmp (mode, "printenv") == 0)
    {
      for (char **e = environ; *e != NULL; e++)
        printf ("env %s\n", *e);
      for (int i = 3; i < argc; i++)
        printf ("arg %s\n", argv[i]);
      return 3;
    }
  if (strcmp (mode, "exit") == 0)
    {
      fprintf (stderr, "runner-plugin: exiting at once\n");
      return 3;
    }
  if (strcmp (mode, "nosocket") == 0)
    for (;;)
      pause ();
  if (strcmp (mode, "symlink") == 0)
    {
      if (symlink ("/etc/passwd", path) < 0)
        perror ("symlink");
      for (;;)
        pause ();
    }
  if (strcmp (mode, "daemonize") == 0)
    daemonize_child ();
  if (strcmp (mode, "mount") == 0)
    {
      for (int i = 3; i < argc; i++)
        mount_action (argv[i]);
      fflush (stdout);
    }
  if (strcmp (mode, "binary") == 0)
    {
      static char line[2 * 1024 * 1024 + 1];

      memset (line, 'z', sizeof line - 1);
      line[sizeof line - 1] = '\n';
      write_all (STDOUT_FILENO, line, sizeof line);
      write_all (STDOUT_FILENO, "bin\0\xff\x1b[31mred\n", 14);
      write_all (STDOUT_FILENO, "no newline", 10);
    }
  if (strcmp (mode, "chatty") == 0)
    {
      for (int i = 1; i <= 50; i++)
        printf ("line %d\n", i);
      fflush (stdout);
    }

  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memcpy (addr.sun_path, path, strlen (path) + 1);
  if (listen_fd < 0 || bind (listen_fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
      listen (listen_fd, 16) < 0)
    {
      perror ("runner-plugin: listen");
      return 1;
    }

  for (;;)
    {
      struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
      int timeout = -1;
      int r;

      if (strcmp (mode, "chatty") == 0)
        timeout = 50;
      else if (strcmp (mode, "flood") == 0)
        timeout = 0;
      r = poll (&pfd, 1, timeout);
      if (r < 0 && errno != EINTR)
        return 1;
      if (r > 0)
        {
          int fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
          if (fd >= 0)
            {
              serve_one (fd);
              close (fd);
              if (strcmp (mode, "crashloop") == 0 || crash_after_serve)
                {
                  /* long enough for the activation reply to be read under load */
                  struct timespec ts = { 0, 300 * 1000 * 1000 };
                  nanosleep (&ts, NULL);
                  fprintf (stderr, "runner-plugin: crashing\n");
                  return 1;
                }
            }
        }
      if (strcmp (mode, "chatty") == 0)
        {
          printf ("tick %d\n", ++tick);
          fflush (stdout);
        }
      else if (strcmp (mode, "flood") == 0)
        {
          static char block[16384];
          if (block[0] == '\0')
            {
              memset (block, 'x', sizeof block);
              block[sizeof block - 1] = '\n';
            }
          write_all (STDOUT_FILENO, block, sizeof block);
        }
    }
}
