/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-dbus: the client of the D-Bus benchmarks (see bench/README.md). Subcommands:
 *
 *   populate [--count N] [--parallel P]
 *       creates N plugins bench/plugin-NNNN through Manager.Create (tiny contexts, a distinct
 *       config each), at most P jobs at a time
 *   start --name NAME [--runs R] [--warmup W] [--label L] [--log FILE] -- ARGV…
 *       R times (after W discarded runs): exec ARGV and time it until NameOwnerChanged gives
 *       NAME to it; then waits until its VmRSS settles, reads /proc/PID/status and stops it with
 *       SIGTERM. Prints the medians.
 *   calls [--n N] [--list-n M] [--gmo-n K] [--plugins P]
 *       against a running plugind and bare-service: sync round trips of Inspect / Properties.Get
 *       vs the bare Ping / Properties.Get, and ListPlugins / GetManagedObjects vs the bare flat
 *       List and the bare ObjectManager, interleaved in chunks so that both sides see the same
 *       machine. Prints p50/p90.
 *   wait-name NAME PID
 *       waits until PID owns NAME
 *
 * Results go to stdout as "RESULT key value" lines, progress to stderr. All calls are on the
 * system bus ($DBUS_SYSTEM_BUS_ADDRESS), which run-dbus-bench.sh points at a private bus.
 */
#define _GNU_SOURCE
#include "config.h"

#define G_LOG_DOMAIN "bench-dbus"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#define PD_NAME "org.plugind.Plugind1"
#define PD_ROOT_PATH "/org/plugind/Plugind1"
#define PD_MANAGER_PATH PD_ROOT_PATH "/Manager"
#define PD_MANAGER_IFACE "org.plugind.Plugind1.Manager"
#define PD_PLUGIN_IFACE "org.plugind.Plugind1.Plugin"
#define PD_JOB_IFACE "org.plugind.Plugind1.Job"
#define BARE_NAME "org.plugind.Bench1"
#define BARE_ROOT_PATH "/org/plugind/Bench1"
#define BARE_SERVICE_PATH BARE_ROOT_PATH "/Service"
#define BARE_SERVICE_IFACE "org.plugind.Bench1.Service"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define OM_IFACE "org.freedesktop.DBus.ObjectManager"

static GDBusConnection *bus;

static void
result (const char *key, double value)
{
  g_print ("RESULT %s %.3f\n", key, value);
}

static void G_GNUC_PRINTF (1, 2)
die (const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("bench-dbus: %s\n", message);
  exit (EXIT_FAILURE);
}

static double
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

/* nearest-rank percentile of n samples; sorts them */
static double
percentile (double *samples, guint n, double p)
{
  guint rank;

  g_assert (n > 0);
  qsort (samples, n, sizeof (double), compare_doubles);
  rank = (guint) (p / 100.0 * n + 0.999999);
  rank = CLAMP (rank, 1, n);
  return samples[rank - 1];
}

static double
median (double *samples, guint n)
{
  return percentile (samples, n, 50);
}

/* a "Key:  123 kB" line of /proc/PID/FILE, in kB; -1 if missing */
static double
proc_file_kb (GPid pid, const char *file, const char *key)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/%s", (int) pid, file);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  gsize key_len = strlen (key);

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (strncmp (lines[i], key, key_len) == 0 && lines[i][key_len] == ':')
      return g_ascii_strtod (lines[i] + key_len + 1, NULL);
  return -1;
}

static double
proc_status_kb (GPid pid, const char *key)
{
  return proc_file_kb (pid, "status", key);
}

static guint32
name_owner_pid (const char *name)
{
  g_autoptr(GVariant) reply = NULL;
  guint32 pid = 0;

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                       g_variant_new ("(s)", name), G_VARIANT_TYPE ("(u)"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(u)", &pid);
  return pid;
}

static GVariant *
call_or_die (const char *dest, const char *path, const char *iface, const char *method,
             GVariant *params, const char *reply_type)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply;

  reply = g_dbus_connection_call_sync (bus, dest, path, iface, method, params,
                                       reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                       G_DBUS_CALL_FLAGS_NONE, 120000, NULL, &error);
  if (reply == NULL)
    die ("%s.%s on %s: %s", iface, method, path, error->message);
  return reply;
}

/* ---------------------------------------------------------------------------------------- */
/* wait-name */

static int
cmd_wait_name (int argc, char **argv)
{
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  guint32 pid;

  if (argc != 3)
    die ("usage: bench-dbus wait-name NAME PID");
  pid = (guint32) g_ascii_strtoull (argv[2], NULL, 10);
  while (name_owner_pid (argv[1]) != pid)
    {
      if (kill ((pid_t) pid, 0) != 0)
        die ("process %u exited before owning %s", pid, argv[1]);
      if (g_get_monotonic_time () > deadline)
        die ("process %u did not own %s within 30 s", pid, argv[1]);
      g_usleep (10000);
    }
  return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------------------------- */
/* populate */

/* the integration tests' default config, with a description that makes every config distinct */
static const char config_format[] =
  "{\"Description\": \"bench plugin %u\","
  " \"Documentation\": \"https://example.com/plugind-bench\","
  " \"Entrypoint\": [\"/bin/hello\"], \"WorkDir\": \"/\","
  " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"bench.sock\"},"
  " \"Network\": {\"Type\": \"\"},"
  " \"Env\": [{\"Name\": \"DEBUG\", \"Description\": \"debug level\", \"Settable\": [\"value\"],"
  " \"Value\": \"0\"}],"
  " \"Args\": {\"Name\": \"args\", \"Description\": \"extra arguments\","
  " \"Settable\": [\"value\"], \"Value\": [\"--foo\"]},"
  " \"Mounts\": [], \"Linux\": {\"Capabilities\": [], \"AllowAllDevices\": false,"
  " \"Devices\": []}, \"PropagatedMount\": \"\", \"IpcHost\": false, \"PidHost\": false}";

static void
add_entry (struct archive *a, const char *name, mode_t type, mode_t perm, const char *data)
{
  struct archive_entry *entry = archive_entry_new ();
  size_t len = data != NULL ? strlen (data) : 0;

  archive_entry_set_pathname (entry, name);
  archive_entry_set_filetype (entry, type);
  archive_entry_set_perm (entry, perm);
  archive_entry_set_size (entry, (la_int64_t) len);
  archive_entry_set_mtime (entry, 1700000000, 0);
  if (archive_write_header (a, entry) != ARCHIVE_OK)
    die ("tar: %s", archive_error_string (a));
  if (len > 0 && archive_write_data (a, data, len) != (la_ssize_t) len)
    die ("tar: %s", archive_error_string (a));
  archive_entry_free (entry);
}

/* a tar context (config.json + rootfs/bin/hello) in a memfd, positioned at 0 */
static int
make_context (guint index)
{
  g_autofree char *config = g_strdup_printf (config_format, index);
  struct archive *a = archive_write_new ();
  int fd = memfd_create ("bench-context", MFD_CLOEXEC);

  if (fd < 0)
    die ("memfd_create: %s", g_strerror (errno));
  archive_write_set_format_pax_restricted (a);
  if (archive_write_open_fd (a, fd) != ARCHIVE_OK)
    die ("tar: %s", archive_error_string (a));
  add_entry (a, "config.json", AE_IFREG, 0644, config);
  add_entry (a, "rootfs", AE_IFDIR, 0755, NULL);
  add_entry (a, "rootfs/bin", AE_IFDIR, 0755, NULL);
  add_entry (a, "rootfs/bin/hello", AE_IFREG, 0755, "#!/bin/sh\necho hello\n");
  if (archive_write_close (a) != ARCHIVE_OK)
    die ("tar: %s", archive_error_string (a));
  archive_write_free (a);
  if (lseek (fd, 0, SEEK_SET) != 0)
    die ("lseek: %s", g_strerror (errno));
  return fd;
}

typedef struct {
  GMainLoop *loop;
  guint count;
  guint parallel;
  guint next;
  guint done;
} Populate;

static void populate_next (Populate *p);

static void
job_wait_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Populate *p = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (bus, res, &error);

  if (reply == NULL)
    die ("a create job failed: %s", error->message);
  p->done++;
  if (p->done % 100 == 0)
    g_printerr ("bench-dbus: created %u/%u plugins\n", p->done, p->count);
  if (p->done == p->count)
    g_main_loop_quit (p->loop);
  else
    populate_next (p);
}

static void
create_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Populate *p = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  const char *job;

  reply = g_dbus_connection_call_with_unix_fd_list_finish (bus, NULL, res, &error);
  if (reply == NULL)
    die ("Manager.Create: %s", error->message);
  g_variant_get (reply, "(&o)", &job);
  g_dbus_connection_call (bus, PD_NAME, job, PD_JOB_IFACE, "Wait", NULL,
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, G_MAXINT, NULL,
                          job_wait_done, p);
}

static void
populate_next (Populate *p)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autofree char *name = NULL;
  GVariant *params;
  int fd;

  if (p->next >= p->count)
    return;
  name = g_strdup_printf ("bench/plugin-%04u", p->next);
  fd = make_context (p->next);
  p->next++;
  fds = g_unix_fd_list_new_from_array (&fd, 1); /* takes the fd */
  params = g_variant_new ("(sh@a(ssas)@a{sv})", name, 0,
                          g_variant_new_array (G_VARIANT_TYPE ("(ssas)"), NULL, 0),
                          g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  g_dbus_connection_call_with_unix_fd_list (bus, PD_NAME, PD_MANAGER_PATH, PD_MANAGER_IFACE,
                                            "Create", params, G_VARIANT_TYPE ("(o)"),
                                            G_DBUS_CALL_FLAGS_NONE, 120000, fds, NULL,
                                            create_done, p);
}

static int
cmd_populate (int argc, char **argv)
{
  int count = 1000, parallel = 8;
  const GOptionEntry entries[] = {
    { "count", 'c', 0, G_OPTION_ARG_INT, &count, "Plugins to create (default 1000)", "N" },
    { "parallel", 'p', 0, G_OPTION_ARG_INT, &parallel, "Jobs at a time (default 8)", "P" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- create plugins");
  g_autoptr(GError) error = NULL;
  Populate p = { 0 };
  double t0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    die ("%s", error->message);
  if (count < 1 || parallel < 1)
    die ("--count and --parallel must be positive");
  p.loop = g_main_loop_new (NULL, FALSE);
  p.count = (guint) count;
  p.parallel = (guint) parallel;
  t0 = now_us ();
  for (guint i = 0; i < p.parallel; i++)
    populate_next (&p);
  g_main_loop_run (p.loop);
  g_main_loop_unref (p.loop);
  result ("populate.seconds", (now_us () - t0) / 1e6);
  return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------------------------- */
/* start */

typedef struct {
  const char *name;
  char *owner;          /* the latest NameOwnerChanged new owner */
  double owned_at_us;
  gboolean exited;
} StartState;

static void
on_name_owner_changed (GDBusConnection *connection, const char *sender, const char *path,
                       const char *iface, const char *member, GVariant *params,
                       gpointer user_data)
{
  StartState *state = user_data;
  const char *name, *old_owner, *new_owner;
  double t = now_us ();

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (g_strcmp0 (name, state->name) != 0)
    return;
  g_free (state->owner);
  state->owner = g_strdup (new_owner);
  if (*new_owner != '\0')
    state->owned_at_us = t;
}

static void
on_child_exited (GObject *source, GAsyncResult *res, gpointer user_data)
{
  StartState *state = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  state->exited = TRUE;
}

static gboolean
set_flag (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* iterates the default context until *cond or timeout; returns *cond */
static gboolean
iterate_until (gboolean (*cond) (StartState *), StartState *state, guint timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, set_flag, &timed_out);

  while (!cond (state) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return cond (state);
}

static gboolean
is_owned_or_exited (StartState *state)
{
  return state->exited || (state->owner != NULL && *state->owner != '\0');
}

static gboolean
is_exited (StartState *state)
{
  return state->exited;
}

static gboolean
is_unowned (StartState *state)
{
  return state->owner != NULL && *state->owner == '\0';
}

/* samples VmRSS every 100 ms until it has not changed for 1 s (at least min_ms, at most 15 s) */
static void
settle_rss (GPid pid, guint min_ms)
{
  double last = -1;
  guint stable = 0;
  double start = now_us ();

  while (now_us () - start < 15e6)
    {
      double rss = proc_status_kb (pid, "VmRSS");
      while (g_main_context_iteration (NULL, FALSE))
        ;
      stable = rss == last ? stable + 1 : 0;
      last = rss;
      if (stable >= 10 && now_us () - start >= min_ms * 1e3)
        return;
      g_usleep (100000);
    }
  g_printerr ("bench-dbus: warning: VmRSS of %d did not settle within 15 s\n", (int) pid);
}

/* a service must not outlive the benchmark when it dies half-way */
static void
child_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static int
cmd_start (int argc, char **argv)
{
  const char *name = NULL, *label = "start", *log_path = "/dev/null";
  int runs = 7, warmup = 1, settle_ms = 1000;
  const GOptionEntry entries[] = {
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name, "Bus name the program takes", "NAME" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &runs, "Measured runs (default 7)", "R" },
    { "warmup", 'w', 0, G_OPTION_ARG_INT, &warmup, "Discarded runs first (default 1)", "W" },
    { "settle-ms", 's', 0, G_OPTION_ARG_INT, &settle_ms,
      "Wait at least this long before reading the RSS (default 1000)", "MS" },
    { "label", 'l', 0, G_OPTION_ARG_STRING, &label, "Prefix of the result keys", "L" },
    { "log", 0, 0, G_OPTION_ARG_FILENAME, &log_path, "Append the program's output here", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("-- ARGV… - time a service start");
  g_autoptr(GError) error = NULL;
  g_autofree double *times = NULL;
  g_autofree double *rss = NULL;
  g_autofree double *anon = NULL;
  g_autofree double *file = NULL;
  g_autofree double *pss = NULL;
  StartState state = { 0 };
  char **child_argv;
  guint subscription;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    die ("%s", error->message);
  if (name == NULL || argc < 2 || runs < 1 || warmup < 0)
    die ("usage: bench-dbus start --name NAME [--runs R] [--label L] -- ARGV…");
  child_argv = argv + 1;
  if (g_strcmp0 (child_argv[0], "--") == 0)
    child_argv++;

  state.name = name;
  subscription = g_dbus_connection_signal_subscribe (bus, "org.freedesktop.DBus",
                                                     "org.freedesktop.DBus", "NameOwnerChanged",
                                                     "/org/freedesktop/DBus", name,
                                                     G_DBUS_SIGNAL_FLAGS_NONE,
                                                     on_name_owner_changed, &state, NULL);
  times = g_new0 (double, runs);
  rss = g_new0 (double, runs);
  anon = g_new0 (double, runs);
  file = g_new0 (double, runs);
  pss = g_new0 (double, runs);

  for (int run = -warmup; run < runs; run++)
    {
      g_autoptr(GSubprocessLauncher) launcher = NULL;
      g_autoptr(GSubprocess) child = NULL;
      g_autoptr(GError) spawn_error = NULL;
      double t0, elapsed_ms, vm_rss, rss_anon, rss_file, pss_v;
      GPid pid;
      int log_fd;

      if (name_owner_pid (name) != 0)
        die ("%s is already owned; stop its owner first", name);
      log_fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (log_fd < 0)
        die ("%s: %s", log_path, g_strerror (errno));
      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_INHERIT |
                                            G_SUBPROCESS_FLAGS_STDERR_MERGE);
      g_subprocess_launcher_take_stdout_fd (launcher, log_fd);
      g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);

      g_clear_pointer (&state.owner, g_free);
      state.exited = FALSE;
      state.owned_at_us = 0;
      t0 = now_us ();
      child = g_subprocess_launcher_spawnv (launcher, (const char *const *) child_argv,
                                            &spawn_error);
      if (child == NULL)
        die ("%s: %s", child_argv[0], spawn_error->message);
      g_subprocess_wait_async (child, NULL, on_child_exited, &state);
      if (!iterate_until (is_owned_or_exited, &state, 30000))
        die ("%s did not own %s within 30 s", child_argv[0], name);
      if (state.exited)
        die ("%s exited during start-up (log: %s)", child_argv[0], log_path);
      elapsed_ms = (state.owned_at_us - t0) / 1e3;
      pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (child), NULL, 10);
      if (name_owner_pid (name) != (guint32) pid)
        die ("%s is owned by another process than %d", name, (int) pid);

      settle_rss (pid, (guint) settle_ms);
      vm_rss = proc_status_kb (pid, "VmRSS");
      rss_anon = proc_status_kb (pid, "RssAnon");
      rss_file = proc_status_kb (pid, "RssFile");
      pss_v = proc_file_kb (pid, "smaps_rollup", "Pss");
      g_printerr ("bench-dbus: %s run %d: name owned after %.1f ms; settled VmRSS %.0f kB "
                  "(anon %.0f, file %.0f), Pss %.0f kB%s\n", label, run + 1, elapsed_ms, vm_rss,
                  rss_anon, rss_file, pss_v, run < 0 ? " (warm-up, discarded)" : "");
      if (run >= 0)
        {
          times[run] = elapsed_ms;
          rss[run] = vm_rss;
          anon[run] = rss_anon;
          file[run] = rss_file;
          pss[run] = pss_v;
        }

      g_subprocess_send_signal (child, SIGTERM);
      if (!iterate_until (is_exited, &state, 30000))
        die ("%s did not exit within 30 s of SIGTERM", child_argv[0]);
      if (!g_subprocess_get_if_exited (child) || g_subprocess_get_exit_status (child) != 0)
        g_printerr ("bench-dbus: warning: %s did not exit 0 after SIGTERM\n", child_argv[0]);
      if (!iterate_until (is_unowned, &state, 10000))
        die ("%s is still owned after its owner exited", name);
    }
  g_dbus_connection_signal_unsubscribe (bus, subscription);
  g_free (state.owner);

  {
    g_autofree char *k_start = g_strdup_printf ("%s.start_ms", label);
    g_autofree char *k_rss = g_strdup_printf ("%s.rss_kb", label);
    g_autofree char *k_anon = g_strdup_printf ("%s.rss_anon_kb", label);
    g_autofree char *k_file = g_strdup_printf ("%s.rss_file_kb", label);
    g_autofree char *k_pss = g_strdup_printf ("%s.pss_kb", label);
    g_autofree char *k_min = g_strdup_printf ("%s.start_min_ms", label);
    g_autofree char *k_max = g_strdup_printf ("%s.start_max_ms", label);

    result (k_start, median (times, (guint) runs));
    result (k_min, times[0]);
    result (k_max, times[runs - 1]);
    result (k_rss, median (rss, (guint) runs));
    result (k_anon, median (anon, (guint) runs));
    result (k_file, median (file, (guint) runs));
    result (k_pss, median (pss, (guint) runs));
  }
  return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------------------------------- */
/* calls */

typedef struct {
  const char *key;
  const char *dest;
  const char *path;
  const char *iface;
  const char *method;
  GVariant *params;          /* owned, not floating */
  const char *reply_type;
  double *samples;
  gsize reply_size;
} Target;

static void
target_init (Target *t, const char *key, const char *dest, const char *path, const char *iface,
             const char *method, GVariant *params, const char *reply_type, guint n)
{
  t->key = key;
  t->dest = dest;
  t->path = path;
  t->iface = iface;
  t->method = method;
  t->params = params != NULL ? g_variant_ref_sink (params) : NULL;
  t->reply_type = reply_type;
  t->samples = g_new0 (double, n);
}

static void
target_clear (Target *t)
{
  g_clear_pointer (&t->params, g_variant_unref);
  g_clear_pointer (&t->samples, g_free);
}

static double
target_call (Target *t)
{
  g_autoptr(GVariant) reply = NULL;
  double t0 = now_us ();

  reply = call_or_die (t->dest, t->path, t->iface, t->method, t->params, t->reply_type);
  t0 = now_us () - t0;
  t->reply_size = g_variant_get_size (reply);
  return t0;
}

/* n timed calls per target after `warmup` untimed ones, in alternating chunks */
static void
run_interleaved (Target *targets, guint n_targets, guint n, guint warmup, guint chunk)
{
  for (guint i = 0; i < n_targets; i++)
    for (guint k = 0; k < warmup; k++)
      target_call (&targets[i]);
  for (guint done = 0; done < n; done += chunk)
    for (guint i = 0; i < n_targets; i++)
      for (guint k = done; k < MIN (done + chunk, n); k++)
        targets[i].samples[k] = target_call (&targets[i]);
}

static void
report_target (Target *t, guint n)
{
  g_autofree char *k50 = g_strdup_printf ("%s.p50_us", t->key);
  g_autofree char *k90 = g_strdup_printf ("%s.p90_us", t->key);
  g_autofree char *ksize = g_strdup_printf ("%s.reply_bytes", t->key);
  double p50 = percentile (t->samples, n, 50);
  double p90 = percentile (t->samples, n, 90);

  g_printerr ("bench-dbus: %-24s p50 %9.1f µs  p90 %9.1f µs  (%u calls, reply %zu bytes)\n",
              t->key, p50, p90, n, t->reply_size);
  result (k50, p50);
  result (k90, p90);
  result (ksize, (double) t->reply_size);
}

static int
cmd_calls (int argc, char **argv)
{
  int n = 2000, list_n = 200, gmo_n = 100, plugins = 1000;
  const GOptionEntry entries[] = {
    { "n", 'n', 0, G_OPTION_ARG_INT, &n, "Round trips per small call (default 2000)", "N" },
    { "list-n", 0, 0, G_OPTION_ARG_INT, &list_n, "ListPlugins/List calls (default 200)", "N" },
    { "gmo-n", 0, 0, G_OPTION_ARG_INT, &gmo_n, "GetManagedObjects calls (default 100)", "N" },
    { "plugins", 'p', 0, G_OPTION_ARG_INT, &plugins,
      "Plugins installed, and the bare list length (default 1000)", "P" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- time calls");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) list = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GVariant) plugins_array = NULL;
  g_autoptr(GVariant) objects_array = NULL;
  g_autofree char *plugin_path = NULL;
  Target small[4], lists[2], gmos[3];
  guint32 pd_pid, bare_pid;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    die ("%s", error->message);
  if (n < 1 || list_n < 1 || gmo_n < 1 || plugins < 1)
    die ("counts must be positive");

  pd_pid = name_owner_pid (PD_NAME);
  bare_pid = name_owner_pid (BARE_NAME);
  if (pd_pid == 0 || bare_pid == 0)
    die ("start plugind and bare-service first");

  /* sanity: the daemon has the plugins, the baseline lists as many */
  list = call_or_die (PD_NAME, PD_MANAGER_PATH, PD_MANAGER_IFACE, "ListPlugins",
                      g_variant_new_parsed ("(@a{sv} {},)"), "(a(ssssbo))");
  plugins_array = g_variant_get_child_value (list, 0);
  if (g_variant_n_children (plugins_array) != (gsize) plugins)
    die ("plugind lists %zu plugins, expected %d", g_variant_n_children (plugins_array), plugins);
  g_variant_get_child (plugins_array, 0, "(&s&s&s&sbo)", NULL, NULL, NULL, NULL, NULL,
                       &plugin_path);
  objects = call_or_die (BARE_NAME, BARE_ROOT_PATH, OM_IFACE, "GetManagedObjects", NULL,
                         "(a{oa{sa{sv}}})");
  objects_array = g_variant_get_child_value (objects, 0);
  if (g_variant_n_children (objects_array) != (gsize) plugins)
    die ("bare-service exports a different number of objects than %d (start it with "
         "--objects %d)", plugins, plugins);

  /* small calls */
  target_init (&small[0], "bare.ping", BARE_NAME, BARE_SERVICE_PATH, BARE_SERVICE_IFACE, "Ping",
               NULL, "(s)", (guint) n);
  target_init (&small[1], "plugind.inspect", PD_NAME, plugin_path, PD_PLUGIN_IFACE, "Inspect",
               NULL, "(s)", (guint) n);
  target_init (&small[2], "bare.get", BARE_NAME, BARE_SERVICE_PATH, PROPS_IFACE, "Get",
               g_variant_new ("(ss)", BARE_SERVICE_IFACE, "Name"), "(v)", (guint) n);
  target_init (&small[3], "plugind.get", PD_NAME, plugin_path, PROPS_IFACE, "Get",
               g_variant_new ("(ss)", PD_PLUGIN_IFACE, "Name"), "(v)", (guint) n);
  g_printerr ("bench-dbus: %d round trips each of Ping, Inspect, Get, Get (plugin %s)\n", n,
              plugin_path);
  run_interleaved (small, G_N_ELEMENTS (small), (guint) n, 200, 50);
  for (guint i = 0; i < G_N_ELEMENTS (small); i++)
    report_target (&small[i], (guint) n);

  /* lists */
  target_init (&lists[0], "bare.list", BARE_NAME, BARE_SERVICE_PATH, BARE_SERVICE_IFACE, "List",
               g_variant_new ("(u)", (guint32) plugins), "(a(ssssbo))", (guint) list_n);
  target_init (&lists[1], "plugind.listplugins", PD_NAME, PD_MANAGER_PATH, PD_MANAGER_IFACE,
               "ListPlugins", g_variant_new_parsed ("(@a{sv} {},)"), "(a(ssssbo))",
               (guint) list_n);
  g_printerr ("bench-dbus: %d calls each of List(%d), ListPlugins\n", list_n, plugins);
  run_interleaved (lists, G_N_ELEMENTS (lists), (guint) list_n, 20, 10);
  for (guint i = 0; i < G_N_ELEMENTS (lists); i++)
    report_target (&lists[i], (guint) list_n);

  /* GetManagedObjects vs the flat list and vs GDBus' own ObjectManager with 6 properties */
  target_init (&gmos[0], "bare.list_gmo", BARE_NAME, BARE_SERVICE_PATH, BARE_SERVICE_IFACE,
               "List", g_variant_new ("(u)", (guint32) plugins), "(a(ssssbo))", (guint) gmo_n);
  target_init (&gmos[1], "bare.gmo", BARE_NAME, BARE_ROOT_PATH, OM_IFACE, "GetManagedObjects",
               NULL, "(a{oa{sa{sv}}})", (guint) gmo_n);
  target_init (&gmos[2], "plugind.gmo", PD_NAME, PD_ROOT_PATH, OM_IFACE, "GetManagedObjects",
               NULL, "(a{oa{sa{sv}}})", (guint) gmo_n);
  g_printerr ("bench-dbus: %d calls each of List(%d), bare GetManagedObjects, plugind "
              "GetManagedObjects\n", gmo_n, plugins);
  run_interleaved (gmos, G_N_ELEMENTS (gmos), (guint) gmo_n, 5, 5);
  for (guint i = 0; i < G_N_ELEMENTS (gmos); i++)
    report_target (&gmos[i], (guint) gmo_n);

  result ("plugind.rss_after_calls_kb", proc_status_kb ((GPid) pd_pid, "VmRSS"));
  result ("bare.rss_after_calls_kb", proc_status_kb ((GPid) bare_pid, "VmRSS"));

  for (guint i = 0; i < G_N_ELEMENTS (small); i++)
    target_clear (&small[i]);
  for (guint i = 0; i < G_N_ELEMENTS (lists); i++)
    target_clear (&lists[i]);
  for (guint i = 0; i < G_N_ELEMENTS (gmos); i++)
    target_clear (&gmos[i]);
  return EXIT_SUCCESS;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int status;

  if (argc < 2)
    die ("usage: bench-dbus populate|start|calls|wait-name …");
  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (bus == NULL)
    die ("cannot connect to the system bus: %s", error->message);

  if (g_strcmp0 (argv[1], "populate") == 0)
    status = cmd_populate (argc - 1, argv + 1);
  else if (g_strcmp0 (argv[1], "start") == 0)
    status = cmd_start (argc - 1, argv + 1);
  else if (g_strcmp0 (argv[1], "calls") == 0)
    status = cmd_calls (argc - 1, argv + 1);
  else if (g_strcmp0 (argv[1], "wait-name") == 0)
    status = cmd_wait_name (argc - 1, argv + 1);
  else
    die ("unknown subcommand %s", argv[1]);
  g_object_unref (bus);
  return status;
}
