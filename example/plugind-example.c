/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * plugind-example: a tiny Docker volume plugin that speaks Docker's plugin protocol (HTTP/1.1
 * POSTs with JSON bodies, /Plugin.Activate first) on a unix socket. Plain libc so that it links
 * statically and runs alone in a bare rootfs.
 *
 *   plugind-example [SOCKET-NAME]
 *
 * The socket is <dir>/<SOCKET-NAME>, where dir is $PLUGIND_EXAMPLE_SOCKET_DIR or
 * /run/docker/plugins, and the name is the argument, else $PLUGIND_EXAMPLE_SOCKET, else
 * "example.sock". DEBUG=1 logs every request to stderr. SIGTERM and SIGINT end it with status 0.
 *
 * Requests are HTTP/1.1 POSTs (example-http.c) answered from the dispatch table of
 * example-handlers.c; add a row per endpoint. It answers /Plugin.Activate with VolumeDriver and
 * implements Docker's volume plugin API (Create, Remove, Mount, Path, Unmount, Get, List,
 * Capabilities). A volume is a directory <data>/volumes/<name> (example-volumes.c), where data
 * is $PLUGIND_EXAMPLE_DATA_DIR or /data (the mount its config.json declares). While mounted it
 * is bind-mounted at <mount>/<name>, its Mountpoint, where mount is $PLUGIND_EXAMPLE_MOUNT_DIR
 * or /mnt/volumes (the config's PropagatedMount, so that plugind makes the mount appear on the
 * host). The directories are the only state; which callers mount what is counted in memory,
 * and every mount is taken away at the end. Operation errors are answered with a 200 and an
 * "Err" (Docker's convention), bodies that are no valid request with a 400.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "example.h"

#define DEFAULT_SOCKET_DIR  "/run/docker/plugins"
#define DEFAULT_SOCKET_NAME "example.sock"

volatile sig_atomic_t quit_requested;
bool debug;

void
log_debug (const char *format, ...)
{
  va_list args;

  if (!debug)
    return;
  va_start (args, format);
  fputs ("plugind-example: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
}

void
log_error (const char *format, ...)
{
  va_list args;

  va_start (args, format);
  fputs ("plugind-example: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
}

static void
on_signal (int signum)
{
  (void) signum;
  quit_requested = 1;
}

/* @dir (sizeof data_dir bytes) from @value when it is set: absolute, without trailing slashes
 * (Mountpoints are clean paths) */
static bool
set_dir (char *dir, const char *value, const char *what)
{
  size_t len;

  if (value == NULL || value[0] == '\0')
    return true;
  len = strlen (value);
  while (len > 1 && value[len - 1] == '/')
    len--;
  if (value[0] != '/' || len >= sizeof data_dir)
    {
      log_error ("invalid %s directory \"%s\": it must be an absolute path, and short", what,
                 value);
      return false;
    }
  memcpy (dir, value, len);
  dir[len] = '\0';
  return true;
}

int
main (int argc, char **argv)
{
  const char *dir = getenv ("PLUGIND_EXAMPLE_SOCKET_DIR");
  const char *name = getenv ("PLUGIND_EXAMPLE_SOCKET");
  const char *debug_env = getenv ("DEBUG");
  const char *data_env = getenv ("PLUGIND_EXAMPLE_DATA_DIR");
  const char *mount_env = getenv ("PLUGIND_EXAMPLE_MOUNT_DIR");
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct sockaddr_un tmp_addr = { .sun_family = AF_UNIX };
  struct sigaction sa = { 0 };
  sigset_t blocked, unblocked;
  int listen_fd;
  int len;

  if (argc > 2)
    {
      fprintf (stderr, "usage: %s [SOCKET-NAME]\n", argv[0]);
      return 2;
    }
  if (argc == 2 && argv[1][0] != '\0')
    name = argv[1];
  if (name == NULL || name[0] == '\0')
    name = DEFAULT_SOCKET_NAME;
  if (dir == NULL || dir[0] == '\0')
    dir = DEFAULT_SOCKET_DIR;
  debug = debug_env != NULL && debug_env[0] != '\0' && strcmp (debug_env, "0") != 0 &&
          strcasecmp (debug_env, "false") != 0;

  if (strchr (name, '/') != NULL || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    {
      log_error ("invalid socket name \"%s\"", name);
      return 2;
    }
  if (!set_dir (data_dir, data_env, "data") || !set_dir (mount_dir, mount_env, "mount"))
    return 2;
  len = snprintf (addr.sun_path, sizeof addr.sun_path, "%s/%s", dir, name);
  if (len < 0 || (size_t) len >= sizeof addr.sun_path)
    {
      log_error ("socket path %s/%s is too long", dir, name);
      return 1;
    }

  /* termination is only delivered inside ppoll, where it cannot be missed */
  sigemptyset (&blocked);
  sigaddset (&blocked, SIGTERM);
  sigaddset (&blocked, SIGINT);
  sigprocmask (SIG_BLOCK, &blocked, &unblocked);
  sigdelset (&unblocked, SIGTERM);
  sigdelset (&unblocked, SIGINT);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (mkdir (dir, 0755) < 0 && errno != EEXIST)
    {
      log_error ("creating %s: %s", dir, strerror (errno));
      return 1;
    }
  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0)
    {
      log_error ("socket: %s", strerror (errno));
      return 1;
    }
  /* bind under a temporary name and rename once listening: the socket appears only when it
   * accepts connections, so a client that waits for the file never gets ECONNREFUSED */
  len = snprintf (tmp_addr.sun_path, sizeof tmp_addr.sun_path, "%s/.%s.tmp", dir, name);
  if (len < 0 || (size_t) len >= sizeof tmp_addr.sun_path)
    {
      log_error ("socket path %s/%s is too long", dir, name);
      return 1;
    }
  if (unlink (tmp_addr.sun_path) < 0 && errno != ENOENT)
    {
      log_error ("removing %s: %s", tmp_addr.sun_path, strerror (errno));
      return 1;
    }
  if (bind (listen_fd, (struct sockaddr *) &tmp_addr, sizeof tmp_addr) < 0 ||
      listen (listen_fd, 16) < 0 ||
      rename (tmp_addr.sun_path, addr.sun_path) < 0)
    {
      log_error ("listening on %s: %s", addr.sun_path, strerror (errno));
      unlink (tmp_addr.sun_path);
      return 1;
    }
  log_debug ("listening on %s, volumes in %s/volumes, mounted in %s", addr.sun_path, data_dir,
             mount_dir);

  serve (listen_fd, &unblocked);

  volume_unmount_all ();
  unlink (addr.sun_path);
  close (listen_fd);
  log_debug ("terminated");
  return 0;
}

