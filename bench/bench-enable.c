/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-enable: Enable latency against the plugin's own start-up, and the cost of plugind's
 * sandbox against plain bubblewrap (see bench/README.md). As root, against a running plugind on
 * $DBUS_SYSTEM_BUS_ADDRESS (run-enable-bench.sh sets everything up):
 *
 *   bench-enable --context TAR.GZ --state-dir DIR --runtime-dir DIR --work-dir DIR [--n N]
 *
 * creates plugind/bench-example from the example context (grant-all-privileges), sets its
 * `data` mount source to WORK/data, and then N times (after 2 discarded rounds), in one
 * interleaved round each:
 *
 *   (a) plugind: Plugin.Enable → reply, a second Enable (the PluginEnabled error: D-Bus + polkit
 *       + dispatch floor), then Disable → reply;
 *   (b) the plugin binary of the installed rootfs run directly, with
 *       PLUGIND_EXAMPLE_SOCKET_DIR=WORK/rt-direct: spawn → its socket answers /Plugin.Activate;
 *   (c) the same binary under plain bubblewrap: --bind ROOTFS / --proc /proc --dev /dev
 *       --bind WORK/rt-bwrap /run/docker/plugins --unshare-{pid,ipc,net,uts} --die-with-parent,
 *       no filter, no capability narrowing: spawn → answer;
 *   (d) plugind's sandbox without D-Bus, as the runner runs it: pd_sandbox_prepare_rootfs,
 *       pd_sandbox_spawn (argv, filter, the sandbox init, bwrap spawned), the init's set-up
 *       (pd_sandbox_process_setup_sync): (setup +) spawn → answer.
 *
 * "Answer" is our own client: it waits (inotify) until the socket appears in the runtime dir
 * (the example renames it there once it listens), connects, POSTs /Plugin.Activate with
 * Docker's headers and reads the whole 200 reply. A thread timestamps, for every variant, when
 * the binary is opened by execve (IN_OPEN on the rootfs binary) and when the socket appears
 * (IN_MOVED_TO/IN_CREATE), so each time splits into before-exec, the plugin's own start and
 * after-socket. Results go to stdout as "RESULT key value" lines (µs), progress to stderr.
 */
#define _GNU_SOURCE
#include "config.h"

#define G_LOG_DOMAIN "bench-enable"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>

#include "pd-plugin-config.h"
#include "pd-plugin-record.h"
#include "pd-sandbox.h"
#include "pd-sandbox-start.h"

#define PD_NAME "org.plugind.Plugind1"
#define PD_MANAGER_PATH "/org/plugind/Plugind1/Manager"
#define PD_MANAGER_IFACE "org.plugind.Plugind1.Manager"
#define PD_PLUGIN_IFACE "org.plugind.Plugind1.Plugin"
#define PD_JOB_IFACE "org.plugind.Plugind1.Job"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"

#define PLUGIN_NAME "plugind/bench-example"
#define SOCKET_NAME "example.sock"
#define WARMUP 2
/* bwrap's fds in the (d) variant, as pd_sandbox_spawn() maps them */

static const char activate_request[] =
  "POST /Plugin.Activate HTTP/1.1\r\n"
  "Host: plugin\r\n"
  "User-Agent: Go-http-client/1.1\r\n"
  "Content-Length: 0\r\n"
  "Accept: application/vnd.docker.plugins.v1.2+json\r\n"
  "Connection: close\r\n"
  "\r\n";

static GDBusConnection *bus;

/* ---------------------------------------------------------------------------------------- */
/* helpers */

static void G_GNUC_PRINTF (1, 2)
die (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("bench-enable: %s\n", message);
  exit (EXIT_FAILURE);
}

static gint64
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

/* nearest-rank percentile; sorts a copy */
static double
percentile (const double *samples, guint n, double p)
{
  g_autofree double *sorted = g_memdup2 (samples, n * sizeof (double));
  guint rank;

  g_assert (n > 0);
  qsort (sorted, n, sizeof (double), compare_doubles);
  rank = (guint) (p / 100.0 * n + 0.999999);
  rank = CLAMP (rank, 1, n);
  return sorted[rank - 1];
}

/* ---------------------------------------------------------------------------------------- */
/* samples: one series per measured quantity */

typedef struct {
  const char *key;
  GArray *values; /* double, µs */
} Series;

static GPtrArray *all_series;

static Series *
series (const char *key)
{
  Series *s;

  for (guint i = 0; i < all_series->len; i++)
    {
      s = g_ptr_array_index (all_series, i);
      if (g_str_equal (s->key, key))
        return s;
    }
  s = g_new0 (Series, 1);
  s->key = key;
  s->values = g_array_new (FALSE, FALSE, sizeof (double));
  g_ptr_array_add (all_series, s);
  return s;
}

static void
record (gboolean keep, const char *key, gint64 value_us)
{
  double v = (double) value_us;

  if (keep)
    g_array_append_val (series (key)->values, v);
}

static void
print_results (void)
{
  for (guint i = 0; i < all_series->len; i++)
    {
      Series *s = g_ptr_array_index (all_series, i);
      const double *v = (const double *) (gpointer) s->values->data;
      double sum = 0, lo = G_MAXDOUBLE, hi = 0;

      if (s->values->len == 0)
        continue;
      for (guint j = 0; j < s->values->len; j++)
        {
          sum += v[j];
          lo = MIN (lo, v[j]);
          hi = MAX (hi, v[j]);
        }
      g_print ("RESULT %s.p50_us %.1f\n", s->key, percentile (v, s->values->len, 50));
      g_print ("RESULT %s.p90_us %.1f\n", s->key, percentile (v, s->values->len, 90));
      g_print ("RESULT %s.mean_us %.1f\n", s->key, sum / s->values->len);
      g_print ("RESULT %s.min_us %.1f\n", s->key, lo);
      g_print ("RESULT %s.max_us %.1f\n", s->key, hi);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* the timestamping thread: execve of the binary, appearance of the socket */

typedef struct {
  GMutex lock;
  GCond cond;
  int fd;
  int binary_wd;
  int bwrap_wd;
  int socket_wds[4];
  guint n_socket_wds;
  gint64 bwrap_at;  /* first IN_OPEN of /usr/bin/bwrap (its execve) since the reset */
  gint64 exec_at;   /* first IN_OPEN of the binary since the reset; 0 = none */
  gint64 socket_at; /* first appearance of SOCKET_NAME since the reset; 0 = none */
} Watch;

static Watch watch;

static gpointer
watch_thread (gpointer data)
{
  char buf[4096] __attribute__ ((aligned (__alignof__ (struct inotify_event))));

  for (;;)
    {
      ssize_t len = read (watch.fd, buf, sizeof buf);
      gint64 t = now_us ();

      if (len < 0 && errno == EINTR)
        continue;
      if (len <= 0)
        return NULL;
      g_mutex_lock (&watch.lock);
      for (char *p = buf; p < buf + len;)
        {
          const struct inotify_event *ev = (const struct inotify_event *) (gpointer) p;

          if (ev->wd == watch.binary_wd && (ev->mask & IN_OPEN) && watch.exec_at == 0)
            watch.exec_at = t;
          else if (ev->wd == watch.bwrap_wd && (ev->mask & IN_OPEN) && watch.bwrap_at == 0)
            watch.bwrap_at = t;
          else if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && ev->len > 0
                   && g_str_equal (ev->name, SOCKET_NAME) && watch.socket_at == 0)
            watch.socket_at = t;
          p += sizeof (struct inotify_event) + ev->len;
        }
      g_cond_broadcast (&watch.cond);
      g_mutex_unlock (&watch.lock);
    }
}

static void
watch_add_socket_dir (const char *dir)
{
  int wd = inotify_add_watch (watch.fd, dir, IN_CREATE | IN_MOVED_TO);

  if (wd < 0)
    die ("inotify_add_watch %s: %s", dir, g_strerror (errno));
  g_assert (watch.n_socket_wds < G_N_ELEMENTS (watch.socket_wds));
  watch.socket_wds[watch.n_socket_wds++] = wd;
}

static void
watch_reset (void)
{
  g_mutex_lock (&watch.lock);
  watch.bwrap_at = 0;
  watch.exec_at = 0;
  watch.socket_at = 0;
  g_mutex_unlock (&watch.lock);
}

static void
watch_get (gint64 *bwrap_at, gint64 *exec_at, gint64 *socket_at)
{
  /* a short grace for the thread to read events the kernel already queued */
  g_usleep (200);
  g_mutex_lock (&watch.lock);
  *bwrap_at = watch.bwrap_at;
  *exec_at = watch.exec_at;
  *socket_at = watch.socket_at;
  g_mutex_unlock (&watch.lock);
}

/* ---------------------------------------------------------------------------------------- */
/* our Activate client */

static gboolean
activate_once (const char *socket_path, GString *reply)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  gsize off = 0;
  int fd;

  g_string_truncate (reply, 0);
  if (strlen (socket_path) >= sizeof addr.sun_path)
    die ("socket path %s is too long", socket_path);
  strcpy (addr.sun_path, socket_path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    die ("socket: %s", g_strerror (errno));
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int saved = errno;

      close (fd);
      if (saved == ECONNREFUSED || saved == ENOENT)
        return FALSE;
      die ("connect %s: %s", socket_path, g_strerror (saved));
    }
  while (off < sizeof activate_request - 1)
    {
      ssize_t n = write (fd, activate_request + off, sizeof activate_request - 1 - off);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die ("write to %s: %s", socket_path, g_strerror (errno));
      off += (gsize) n;
    }
  for (;;)
    {
      char buf[4096];
      ssize_t n = read (fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die ("read from %s: %s", socket_path, g_strerror (errno));
      if (n == 0)
        break;
      g_string_append_len (reply, buf, n);
    }
  close (fd);
  if (!g_str_has_prefix (reply->str, "HTTP/1.1 200") || strstr (reply->str, "VolumeDriver") == NULL)
    die ("unexpected /Plugin.Activate reply from %s: %.200s", socket_path, reply->str);
  return TRUE;
}

/* waits for the socket (inotify) and for its answer; returns the time of the full answer */
static gint64
wait_answer (const char *socket_path, GSubprocess *proc, gint64 t0)
{
  g_autoptr(GString) reply = g_string_new (NULL);
  gint64 deadline = t0 + 10 * G_USEC_PER_SEC;

  g_mutex_lock (&watch.lock);
  while (watch.socket_at == 0)
    if (!g_cond_wait_until (&watch.cond, &watch.lock, g_get_monotonic_time () + 100000))
      {
        if (g_subprocess_get_identifier (proc) == NULL || now_us () > deadline)
          {
            g_mutex_unlock (&watch.lock);
            die ("%s did not appear within 10 s (or the process exited)", socket_path);
          }
      }
  g_mutex_unlock (&watch.lock);
  while (!activate_once (socket_path, reply))
    {
      if (now_us () > deadline)
        die ("%s did not answer within 10 s", socket_path);
      g_usleep (50);
    }
  return now_us ();
}

/* ---------------------------------------------------------------------------------------- */
/* processes */

/* host pids whose exe is @binary */
static guint
count_processes (const char *binary)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *link = NULL;
      g_autofree char *exe = NULL;

      if (!g_ascii_isdigit (name[0]))
        continue;
      link = g_strdup_printf ("/proc/%s/exe", name);
      exe = g_file_read_link (link, NULL);
      if (exe != NULL && g_str_equal (exe, binary))
        n++;
    }
  return n;
}

static void
stop_and_reap (GSubprocess *proc, int signal_number, const char *binary)
{
  gint64 deadline = now_us () + 10 * G_USEC_PER_SEC;
  g_autoptr(GError) error = NULL;

  g_subprocess_send_signal (proc, signal_number);
  if (!g_subprocess_wait (proc, NULL, &error))
    die ("waiting for the process: %s", error->message);
  /* with --die-with-parent the sandboxed processes die right after bwrap, not with it */
  while (count_processes (binary) > 0)
    {
      if (now_us () > deadline)
        die ("a process of %s is left 10 s after stopping", binary);
      g_usleep (1000);
    }
}

static void
clear_socket (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, SOCKET_NAME, NULL);

  if (unlink (path) < 0 && errno != ENOENT)
    die ("unlink %s: %s", path, g_strerror (errno));
}

/* ---------------------------------------------------------------------------------------- */
/* the variants */

typedef struct {
  char *rootfs;
  char *binary;          /* host path of the entrypoint inside the rootfs */
  char *rt_direct;
  char *rt_bwrap;
  char *rt_sandbox;
  char *propagated;      /* the propagated-mount dir of (d), as the runner makes it */
  char *data_dir;
  PdPluginRecord *record;
  const PdPluginConfig *config;
  const PdPluginSettings *settings;
  /* plugind */
  char *plugin_path;
  char *pd_runtime;
} Bench;

static const char *
intern2 (const char *a, const char *b)
{
  g_autofree char *s = g_strconcat (a, b, NULL);

  return g_intern_string (s);
}

/* records exec/socket splits for @prefix relative to @t0 and the end @t_end */
static void
record_splits (gboolean keep, const char *prefix, gint64 t0, gint64 t_end)
{
  gint64 bwrap_at, exec_at, socket_at;

  if (watch.fd <= 0)
    return; /* the warm-up before the watch exists */
  watch_get (&bwrap_at, &exec_at, &socket_at);
  if (exec_at == 0 || socket_at == 0 || exec_at < t0 || socket_at < exec_at)
    {
      g_printerr ("bench-enable: %s: no exec/socket timestamps (exec %" G_GINT64_FORMAT
                  ", socket %" G_GINT64_FORMAT ")\n", prefix, exec_at, socket_at);
      return;
    }
  record (keep, intern2 (prefix, ".to_exec"), exec_at - t0);
  record (keep, intern2 (prefix, ".exec_to_socket"), socket_at - exec_at);
  record (keep, intern2 (prefix, ".socket_to_end"), t_end - socket_at);
  /* bwrap is shared with the rest of the machine: only an execve between t0 and the plugin's
   * counts as ours */
  if (bwrap_at >= t0 && bwrap_at <= exec_at)
    {
      record (keep, intern2 (prefix, ".to_bwrap_exec"), bwrap_at - t0);
      record (keep, intern2 (prefix, ".bwrap_exec_to_exec"), exec_at - bwrap_at);
      /* the runner polls first 25 ms after it spawned bwrap (~ bwrap's execve): what comes
       * after that tick is the Activate call, saving the record and the reply; how long the
       * socket waited for the tick. Estimates: the thread's timestamps lag under load */
      if (g_str_equal (prefix, "plugind.enable"))
        {
          record (keep, intern2 (prefix, ".after_first_tick"), t_end - (bwrap_at + 25000));
          record (keep, intern2 (prefix, ".socket_wait_for_tick"),
                  MAX ((bwrap_at + 25000) - socket_at, 0));
        }
    }
}

static GSubprocess *
spawn (GSubprocessLauncher *launcher, const char *const *argv)
{
  g_autoptr(GError) error = NULL;
  GSubprocess *proc = g_subprocess_launcher_spawnv (launcher, argv, &error);

  if (proc == NULL)
    die ("spawning %s: %s", argv[0], error->message);
  return proc;
}

/* (b) */
static void
run_direct (Bench *b, gboolean keep)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autofree char *sock = g_build_filename (b->rt_direct, SOCKET_NAME, NULL);
  const char *argv[] = { b->binary, NULL };
  const char *env[] = { "PATH=" PD_SANDBOX_DEFAULT_PATH, "DEBUG=0", NULL, NULL, NULL };
  g_autofree char *env_dir = g_strconcat ("PLUGIND_EXAMPLE_SOCKET_DIR=", b->rt_direct, NULL);
  g_autofree char *env_data = g_strconcat ("PLUGIND_EXAMPLE_DATA_DIR=", b->data_dir, NULL);
  gint64 t0, t1;

  env[2] = env_dir;
  env[3] = env_data;
  g_subprocess_launcher_set_environ (launcher, (char **) env);
  clear_socket (b->rt_direct);
  watch_reset ();
  t0 = now_us ();
  proc = spawn (launcher, argv);
  t1 = wait_answer (sock, proc, t0);
  record (keep, "direct", t1 - t0);
  record_splits (keep, "direct", t0, t1);
  stop_and_reap (proc, SIGTERM, b->binary);
}

/* (c) */
static void
run_plain_bwrap (Bench *b, gboolean keep)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autofree char *sock = g_build_filename (b->rt_bwrap, SOCKET_NAME, NULL);
  const char *argv[] = {
    "/usr/bin/bwrap", "--bind", b->rootfs, "/", "--proc", "/proc", "--dev", "/dev",
    "--bind", b->rt_bwrap, PD_SANDBOX_PLUGIN_SOCKET_DIR,
    "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--die-with-parent",
    "--", b->config->entrypoint[0], NULL
  };
  const char *env[] = { "PATH=" PD_SANDBOX_DEFAULT_PATH, "DEBUG=0", NULL };
  gint64 t0, t1;

  g_subprocess_launcher_set_environ (launcher, (char **) env);
  clear_socket (b->rt_bwrap);
  watch_reset ();
  t0 = now_us ();
  proc = spawn (launcher, argv);
  t1 = wait_answer (sock, proc, t0);
  record (keep, "bwrap", t1 - t0);
  record_splits (keep, "bwrap", t0, t1);
  stop_and_reap (proc, SIGKILL, b->binary);
}

/* (d): what runner_spawn does, minus the runtime dir handling and the output pipe, with the
 * set-up waited for here rather than from a main loop */
static void
run_sandbox (Bench *b, gboolean keep)
{
  g_autoptr(PdSandboxProcess) sandbox = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *sock = g_build_filename (b->rt_sandbox, SOCKET_NAME, NULL);
  PdSandboxSpec spec = { 0 };
  GSubprocess *proc;
  gint64 t0, t_prepared, t_spawned, t_set_up, t1;

  clear_socket (b->rt_sandbox);
  spec.rootfs = b->rootfs;
  spec.runtime_dir = b->rt_sandbox;
  spec.propagated_mount_dir = b->propagated;
  spec.config = b->config;
  spec.settings = b->settings;

  watch_reset ();
  t0 = now_us ();
  if (!pd_sandbox_prepare_rootfs (&spec, &error))
    die ("pd_sandbox_prepare_rootfs: %s", error->message);
  t_prepared = now_us ();
  sandbox = pd_sandbox_spawn (&spec, G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error);
  if (sandbox == NULL)
    die ("pd_sandbox_spawn: %s", error->message);
  t_spawned = now_us ();
  if (!pd_sandbox_process_setup_sync (sandbox, &spec, 10000, &error))
    die ("pd_sandbox_process_setup_sync: %s", error->message);
  t_set_up = now_us ();
  proc = sandbox->subprocess;
  t1 = wait_answer (sock, proc, t0);
  record (keep, "sandbox", t1 - t0);
  record (keep, "sandbox.spawn_to_answer", t1 - t_prepared);
  record (keep, "sandbox.prepare_rootfs", t_prepared - t0);
  record (keep, "sandbox.spawn", t_spawned - t_prepared);
  record (keep, "sandbox.init_setup", t_set_up - t_spawned);
  record_splits (keep, "sandbox", t_prepared, t1);
  stop_and_reap (proc, SIGKILL, b->binary);
  /* as the runner after a stop: the set-up step's mount of the dir goes */
  if (!pd_sandbox_release_propagated_mount (b->propagated, NULL, &error))
    die ("pd_sandbox_release_propagated_mount: %s", error->message);
}

/* (a) */
static void
run_plugind (Bench *b, gboolean keep)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GError) error = NULL;
  const char *state_str;
  gint64 t0, t1, t2, t3, t4;

  watch_reset ();
  t0 = now_us ();
  reply = g_dbus_connection_call_sync (bus, PD_NAME, b->plugin_path, PD_PLUGIN_IFACE, "Enable",
                                       g_variant_new_parsed ("(@a{sv} {},)"), G_VARIANT_TYPE ("()"),
                                       G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);
  t1 = now_us ();
  if (reply == NULL)
    die ("Enable: %s", error->message);
  g_clear_pointer (&reply, g_variant_unref);
  record (keep, "plugind.enable", t1 - t0);
  record_splits (keep, "plugind.enable", t0, t1);

  state = g_dbus_connection_call_sync (bus, PD_NAME, b->plugin_path, PROPS_IFACE, "Get",
                                       g_variant_new ("(ss)", PD_PLUGIN_IFACE, "State"),
                                       G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 60000,
                                       NULL, &error);
  if (state == NULL)
    die ("Get State: %s", error->message);
  {
    g_autoptr(GVariant) v = NULL;

    g_variant_get (state, "(v)", &v);
    state_str = g_variant_get_string (v, NULL);
    if (!g_str_equal (state_str, "running"))
      die ("State is %s after Enable", state_str);
  }

  /* the floor of a polkit-gated method of a plugin: the PluginEnabled error */
  t2 = now_us ();
  reply = g_dbus_connection_call_sync (bus, PD_NAME, b->plugin_path, PD_PLUGIN_IFACE, "Enable",
                                       g_variant_new_parsed ("(@a{sv} {},)"), G_VARIANT_TYPE ("()"),
                                       G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);
  t3 = now_us ();
  if (reply != NULL || !g_str_has_suffix (g_dbus_error_get_remote_error (error), ".PluginEnabled"))
    die ("a second Enable did not fail with PluginEnabled: %s",
         error != NULL ? error->message : "it succeeded");
  g_clear_error (&error);
  record (keep, "plugind.enable_refused", t3 - t2);

  reply = g_dbus_connection_call_sync (bus, PD_NAME, b->plugin_path, PD_PLUGIN_IFACE, "Disable",
                                       g_variant_new_parsed ("(@a{sv} {},)"), G_VARIANT_TYPE ("()"),
                                       G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);
  t4 = now_us ();
  if (reply == NULL)
    die ("Disable: %s", error->message);
  record (keep, "plugind.disable", t4 - t3);
  if (count_processes (b->binary) > 0)
    die ("a plugin process is left after Disable");
}

/* a diagnostic, not a measurement: three Enable/Disable rounds with strace -f -ttt attached to
 * the daemon (and so to its bwrap children), the realtime of each call printed to stderr so
 * that the trace can be cut into its phases */
static void
trace_plugind (Bench *b, int pid, const char *out)
{
  g_autoptr(GSubprocess) strace = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *pid_str = g_strdup_printf ("%d", pid);
  const char *argv[] = {
    "strace", "-f", "-ttt", "-o", out, "-p", pid_str,
    "-e", "trace=recvmsg,sendmsg,clone,clone3,execve,newfstatat,openat,socket,connect,"
    "write,writev,read,wait4,waitid,timerfd_settime,mount,pivot_root,seccomp,prctl,exit_group",
    NULL
  };

  strace = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  if (strace == NULL)
    {
      g_printerr ("bench-enable: strace: %s\n", error->message);
      return;
    }
  g_usleep (G_USEC_PER_SEC); /* attached to every thread */
  for (int i = 0; i < 3; i++)
    {
      g_printerr ("bench-enable: trace round %d: Enable sent at %.6f\n", i,
                  (double) g_get_real_time () / 1e6);
      run_plugind (b, FALSE);
      g_printerr ("bench-enable: trace round %d: Disable replied at %.6f\n", i,
                  (double) g_get_real_time () / 1e6);
    }
  g_subprocess_send_signal (strace, SIGINT);
  g_subprocess_wait (strace, NULL, NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* set-up through the real API */

static char *
create_plugin (const char *context_path, char **plugin_id)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder options;
  const char *job, *path, *id;
  int fd = open (context_path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    die ("open %s: %s", context_path, g_strerror (errno));
  fds = g_unix_fd_list_new_from_array (&fd, 1); /* takes the fd */
  g_variant_builder_init (&options, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&options, "{sv}", "grant-all-privileges", g_variant_new_boolean (TRUE));
  reply = g_dbus_connection_call_with_unix_fd_list_sync (
    bus, PD_NAME, PD_MANAGER_PATH, PD_MANAGER_IFACE, "Create",
    g_variant_new ("(sh@a(ssas)a{sv})", PLUGIN_NAME, 0,
                   g_variant_new_array (G_VARIANT_TYPE ("(ssas)"), NULL, 0), &options),
    G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE, 120000, fds, NULL, NULL, &error);
  if (reply == NULL)
    die ("Manager.Create: %s", error->message);
  g_variant_get (reply, "(&o)", &job);
  results = g_dbus_connection_call_sync (bus, PD_NAME, job, PD_JOB_IFACE, "Wait", NULL,
                                         G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
                                         G_MAXINT, NULL, &error);
  if (results == NULL)
    die ("Job.Wait: %s", error->message);
  {
    g_autoptr(GVariant) dict = g_variant_get_child_value (results, 0);

    if (!g_variant_lookup (dict, "plugin", "&o", &path)
        || !g_variant_lookup (dict, "plugin-id", "&s", &id))
      die ("the Create job has no plugin or plugin-id result");
    *plugin_id = g_strdup (id);
    return g_strdup (path);
  }
}

static void
set_data_source (const char *plugin_path, const char *data_dir)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder settings;

  g_variant_builder_init (&settings, G_VARIANT_TYPE ("a(ss)"));
  g_variant_builder_add (&settings, "(ss)", "data", data_dir);
  reply = g_dbus_connection_call_sync (bus, PD_NAME, plugin_path, PD_PLUGIN_IFACE, "Set",
                                       g_variant_new ("(a(ss)@a{sv})", &settings,
                                                      g_variant_new_array (G_VARIANT_TYPE ("{sv}"),
                                                                           NULL, 0)),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);
  if (reply == NULL)
    die ("Plugin.Set: %s", error->message);
}

/* the config and effective settings (with the `data` source just set) of the installed
 * plugin, from its record, for (d) */
static void
load_record (Bench *b, const char *state_dir, const char *id)
{
  g_autofree char *record_path = g_build_filename (state_dir, "plugins", id, "plugin.json",
                                                   NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;

  if (!g_file_get_contents (record_path, &contents, &len, &error))
    die ("%s", error->message);
  b->record = pd_plugin_record_new_from_data (contents, len, &error);
  if (b->record == NULL)
    die ("%s: %s", record_path, error->message);
  b->config = pd_plugin_record_get_config (b->record);
  b->settings = pd_plugin_record_get_settings (b->record);
}

int
main (int argc, char **argv)
{
  g_autofree char *context_path = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *runtime_dir = NULL;
  g_autofree char *work_dir = NULL;
  g_autofree char *plugin_id = NULL;
  int n = 30;
  int strace_pid = 0;
  g_autofree char *strace_out = NULL;
  const GOptionEntry entries[] = {
    { "strace-pid", 0, 0, G_OPTION_ARG_INT, &strace_pid,
      "After the rounds, 3 more Enable/Disable with strace attached to PID", "PID" },
    { "strace-out", 0, 0, G_OPTION_ARG_FILENAME, &strace_out, "strace's output file", "FILE" },
    { "context", 0, 0, G_OPTION_ARG_FILENAME, &context_path, "The example's create context", "TAR.GZ" },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "plugind's STATE_DIRECTORY", "DIR" },
    { "runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &runtime_dir, "plugind's RUNTIME_DIRECTORY", "DIR" },
    { "work-dir", 0, 0, G_OPTION_ARG_FILENAME, &work_dir, "A scratch dir (tmpfs)", "DIR" },
    { "n", 'n', 0, G_OPTION_ARG_INT, &n, "Measured rounds (default 30)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- Enable latency benchmark");
  g_autoptr(GError) error = NULL;
  g_autoptr(GThread) thread = NULL;
  Bench b = { 0 };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    die ("%s", error->message);
  if (context_path == NULL || state_dir == NULL || runtime_dir == NULL || work_dir == NULL
      || n < 1)
    die ("--context, --state-dir, --runtime-dir and --work-dir are required");
  if (geteuid () != 0)
    die ("needs root (bubblewrap without a user namespace, as plugind runs it)");
  all_series = g_ptr_array_new ();

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (bus == NULL)
    die ("system bus: %s", error->message);

  b.data_dir = g_build_filename (work_dir, "data", NULL);
  b.rt_direct = g_build_filename (work_dir, "rt-direct", NULL);
  b.rt_bwrap = g_build_filename (work_dir, "rt-bwrap", NULL);
  b.rt_sandbox = g_build_filename (work_dir, "rt-sandbox", NULL);
  b.propagated = g_build_filename (work_dir, "propagated-mount", NULL);
  for (const char *const *d = (const char *const[]) { b.data_dir, b.rt_direct, b.rt_bwrap,
                                                      b.rt_sandbox, b.propagated, NULL };
       *d; d++)
    if (g_mkdir_with_parents (*d, 0700) < 0)
      die ("mkdir %s: %s", *d, g_strerror (errno));

  g_printerr ("bench-enable: creating %s\n", PLUGIN_NAME);
  b.plugin_path = create_plugin (context_path, &plugin_id);
  set_data_source (b.plugin_path, b.data_dir);
  b.rootfs = g_build_filename (state_dir, "plugins", plugin_id, "rootfs", NULL);
  b.pd_runtime = g_build_filename (runtime_dir, "plugins", plugin_id, NULL);
  load_record (&b, state_dir, plugin_id);
  b.binary = g_build_filename (b.rootfs, b.config->entrypoint[0], NULL);

  /* plugind creates its runtime dir (0700) on the first start: one enable before the watch */
  run_plugind (&b, FALSE);

  g_mutex_init (&watch.lock);
  g_cond_init (&watch.cond);
  watch.fd = inotify_init1 (IN_CLOEXEC);
  if (watch.fd < 0)
    die ("inotify_init1: %s", g_strerror (errno));
  watch.binary_wd = inotify_add_watch (watch.fd, b.binary, IN_OPEN);
  if (watch.binary_wd < 0)
    die ("inotify_add_watch %s: %s", b.binary, g_strerror (errno));
  watch.bwrap_wd = inotify_add_watch (watch.fd, "/usr/bin/bwrap", IN_OPEN);
  if (watch.bwrap_wd < 0)
    die ("inotify_add_watch /usr/bin/bwrap: %s", g_strerror (errno));
  watch_add_socket_dir (b.pd_runtime);
  watch_add_socket_dir (b.rt_direct);
  watch_add_socket_dir (b.rt_bwrap);
  watch_add_socket_dir (b.rt_sandbox);
  thread = g_thread_new ("inotify", watch_thread, NULL);

  for (int round = 0; round < WARMUP + n; round++)
    {
      gboolean keep = round >= WARMUP;

      if (keep && (round - WARMUP) % 10 == 0)
        g_printerr ("bench-enable: round %d/%d\n", round - WARMUP + 1, n);
      run_plugind (&b, keep);
      run_direct (&b, keep);
      run_plain_bwrap (&b, keep);
      run_sandbox (&b, keep);
    }

  g_print ("RESULT rounds %d\n", n);
  print_results ();
  if (strace_pid > 0 && strace_out != NULL)
    trace_plugind (&b, strace_pid, strace_out);
  /* the plugin stays installed (disabled) in the benchmark's throw-away state dir */
  return EXIT_SUCCESS;
}
