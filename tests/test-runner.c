/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The runner (pd-runner.c, and through it the modules it drives, which have no file of their
 * own: the plugin's process, pd-plugin-process.c, its log, pd-plugin-log.c, and the
 * activation client, pd-activation.c) against real bubblewrap, as root, with
 * tests/runner-plugin.c (a static binary copied into a scratch rootfs) whose behaviour argv[1]
 * picks. After every case: no process runs the plugin binary any more (checked by the inode of
 * /proc/<pid>/exe, since pids inside the plugin's PID namespace differ from the host's) and
 * the test process has exactly the fds it had before.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-runner"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-plugin-config.h"
#include "pd-plugin-record.h"
#include "pd-runner.h"
#include "pd-test-utils.h"

#define PLUGIN_ID "1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef"

/* the first run creates process-wide singletons (main context and GLib worker wakeup fds, the
 * child watch): they are not leaks */
static gboolean warming_up;

typedef struct {
  char *base;
  char *rootfs;
  char *runtime_dir;
  char *log_dir;
  dev_t plugin_dev;
  ino_t plugin_ino;
  guint fds_before;
  PdRunner *runner;
  GPtrArray *events;
  GPtrArray *states;
} Fixture;

static guint
count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n - 1; /* the GDir's own */
}

/* GLib (2.74) watches children with a pidfd from its worker thread, which closes it just after
 * the exit was reported to us: give that thread a moment before counting */
static guint
count_fds_settled (guint expected)
{
  guint n = count_fds ();

  for (guint i = 0; i < 200 && n != expected; i++)
    {
      g_usleep (5000);
      while (g_main_context_iteration (NULL, FALSE))
        ;
      n = count_fds ();
    }
  return n;
}

/* processes running the plugin binary (any copy of it in our rootfs) */
static guint
count_plugin_processes (Fixture *fixture)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *exe = NULL;
      struct stat st;

      if (!g_ascii_isdigit (name[0]))
        continue;
      exe = g_strdup_printf ("/proc/%s/exe", name);
      if (stat (exe, &st) == 0 && st.st_dev == fixture->plugin_dev && st.st_ino == fixture->plugin_ino)
        n++;
    }
  return n;
}

static gboolean
cb_timeout (gpointer user_data)
{
  gboolean *flag = user_data;
  *flag = TRUE;
  return G_SOURCE_REMOVE;
}

/* runs the main loop until @cond holds; fails the test after @timeout_ms */
#define WAIT_UNTIL(cond, timeout_ms) \
  G_STMT_START { \
    gboolean timed_out_ = FALSE; \
    guint id_ = g_timeout_add ((timeout_ms), cb_timeout, &timed_out_); \
    while (!(cond) && !timed_out_) \
      g_main_context_iteration (NULL, TRUE); \
    if (!timed_out_) \
      g_source_remove (id_); \
    if (!(cond)) \
      g_error ("timed out waiting for %s", #cond); \
  } G_STMT_END

static void
sleep_ms (guint ms)
{
  gboolean done = FALSE;
  g_timeout_add (ms, cb_timeout, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static void
on_event (PdRunner *runner, const char *action, gpointer user_data)
{
  Fixture *fixture = user_data;
  g_ptr_array_add (fixture->events, g_strdup (action));
}

static void
on_state (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  Fixture *fixture = user_data;
  g_ptr_array_add (fixture->states,
                   g_strdup (pd_plugin_state_to_string (pd_runner_get_state (PD_RUNNER (object)))));
}

static char *
join_strings (GPtrArray *array)
{
  g_autoptr(GString) s = g_string_new (NULL);
  for (guint i = 0; i < array->len; i++)
    g_string_append_printf (s, "%s%s", i > 0 ? " " : "", (char *) g_ptr_array_index (array, i));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

static PdRunner *
make_runner (Fixture *fixture, const char *mode, const char *extra)
{
  g_autofree char *json = g_strdup_printf (
    "{\"Description\": \"runner test\", \"Documentation\": \"\","
    " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"runner.sock\"},"
    " \"Entrypoint\": [\"/runner-plugin\", \"%s\", \"runner.sock\"], \"WorkDir\": \"/\","
    " \"Network\": {\"Type\": \"\"}, \"Linux\": {\"Capabilities\": []}%s}",
    mode, extra != NULL ? extra : "");
  PdPluginConfig *config = pd_test_parse_config (json);
  g_autoptr(PdPluginRecord) record = NULL;

  record = pd_plugin_record_new (PLUGIN_ID, "test/runner:latest", "docker.io/test/runner:latest",
                                 config, NULL, NULL, NULL);
  g_clear_object (&fixture->runner);
  fixture->runner = pd_runner_new (record, fixture->rootfs, fixture->runtime_dir, fixture->log_dir);
  g_signal_connect (fixture->runner, "event", G_CALLBACK (on_event), fixture);
  g_signal_connect (fixture->runner, "notify::state", G_CALLBACK (on_state), fixture);
  return fixture->runner;
}

static void
fixture_setup (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *plugin_src = g_test_build_filename (G_TEST_BUILT, "runner-plugin", NULL);
  g_autofree char *plugin_dst = NULL;
  g_autofree char *plugin_dir = NULL;
  g_autofree char *data = NULL;
  gsize len;
  struct stat st;

  if (getuid () != 0 || !g_file_test ("/usr/bin/bwrap", G_FILE_TEST_IS_EXECUTABLE))
    return;

  fixture->fds_before = count_fds ();
  fixture->base = pd_test_make_tmp_dir ("test-runner-XXXXXX");
  plugin_dir = g_build_filename (fixture->base, "plugins", PLUGIN_ID, NULL);
  fixture->rootfs = g_build_filename (plugin_dir, "rootfs", NULL);
  fixture->runtime_dir = g_build_filename (fixture->base, "run", "plugins", PLUGIN_ID, NULL);
  fixture->log_dir = g_build_filename (fixture->base, "log", NULL);
  g_assert_no_errno (g_mkdir_with_parents (fixture->rootfs, 0755));
  g_assert_no_errno (g_mkdir_with_parents (fixture->log_dir, 0700));

  g_assert_true (g_file_get_contents (plugin_src, &data, &len, &error));
  g_assert_no_error (error);
  plugin_dst = g_build_filename (fixture->rootfs, "runner-plugin", NULL);
  g_assert_true (g_file_set_contents_full (plugin_dst, data, (gssize) len,
                                           G_FILE_SET_CONTENTS_NONE, 0755, &error));
  g_assert_no_error (error);
  g_assert_no_errno (stat (plugin_dst, &st));
  fixture->plugin_dev = st.st_dev;
  fixture->plugin_ino = st.st_ino;
  fixture->events = g_ptr_array_new_with_free_func (g_free);
  fixture->states = g_ptr_array_new_with_free_func (g_free);
  fixture->fds_before = count_fds ();
}

static void
fixture_teardown (Fixture *fixture, gconstpointer user_data)
{
  if (fixture->base == NULL)
    return;
  if (fixture->runner != NULL)
    {
      /* no runner is left running: the case disabled it */
      g_assert_cmpint (pd_runner_get_state (fixture->runner), !=, PD_PLUGIN_STATE_RUNNING);
      g_clear_object (&fixture->runner);
    }
  /* let the GSubprocess child watches and idle callbacks run out */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (count_plugin_processes (fixture), ==, 0);
  if (!warming_up && count_fds_settled (fixture->fds_before) != fixture->fds_before)
    {
      g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
      const char *name;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *path = g_build_filename ("/proc/self/fd", name, NULL);
          g_autofree char *target = g_file_read_link (path, NULL);
          g_autofree char *info_path = g_build_filename ("/proc/self/fdinfo", name, NULL);
          g_autofree char *info = NULL;
          g_file_get_contents (info_path, &info, NULL, NULL);
          g_test_message ("fd %s -> %s %s", name, target, info);
        }
    }
  if (!warming_up)
    g_assert_cmpuint (count_fds_settled (fixture->fds_before), ==, fixture->fds_before);

  pd_test_rm_rf (fixture->base);
  g_free (fixture->base);
  g_free (fixture->rootfs);
  g_free (fixture->runtime_dir);
  g_free (fixture->log_dir);
  g_ptr_array_unref (fixture->events);
  g_ptr_array_unref (fixture->states);
}

static gboolean
skip_unless_root (Fixture *fixture)
{
  /* the suite runs as root with bubblewrap installed (README): never a skip */
  if (fixture->base == NULL)
    {
      g_test_fail_printf ("this test needs root and /usr/bin/bwrap");
      return TRUE;
    }
  return FALSE;
}

typedef struct {
  gboolean done;
  GError *error;
} Result;

static void
on_enabled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  pd_runner_enable_finish (PD_RUNNER (source), result, &r->error);
  r->done = TRUE;
}

static void
on_disabled (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  pd_runner_disable_finish (PD_RUNNER (source), result, &r->error);
  r->done = TRUE;
}

static GError *
enable (PdRunner *runner, guint activation_timeout_ms)
{
  Result r = { 0 };

  pd_runner_enable_async (runner, activation_timeout_ms, 30, NULL, on_enabled, &r);
  WAIT_UNTIL (r.done, 30000);
  return r.error;
}

static GError *
disable (PdRunner *runner, guint stop_timeout_ms)
{
  Result r = { 0 };

  pd_runner_disable_async (runner, stop_timeout_ms, NULL, on_disabled, &r);
  WAIT_UNTIL (r.done, 30000);
  return r.error;
}

static void
assert_stopped (Fixture *fixture, PdPluginState state)
{
  g_assert_cmpstr (pd_plugin_state_to_string (pd_runner_get_state (fixture->runner)), ==,
                   pd_plugin_state_to_string (state));
  g_assert_cmpuint (pd_runner_get_main_pid (fixture->runner), ==, 0);
  g_assert_cmpstr (pd_runner_get_socket (fixture->runner), ==, "");
  g_assert_cmpuint (g_strv_length ((char **) pd_runner_get_implements (fixture->runner)), ==, 0);
  g_assert_cmpuint (count_plugin_processes (fixture), ==, 0);
}

/* enables @runner, which must work */
static void
enable_ok (PdRunner *runner)
{
  g_autoptr(GError) error = enable (runner, 10000);

  g_assert_no_error (error);
}

/* disables the fixture's runner, which must work and leave it disabled */
static void
disable_ok (Fixture *fixture)
{
  g_autoptr(GError) error = disable (fixture->runner, 5000);

  g_assert_no_error (error);
  assert_stopped (fixture, PD_PLUGIN_STATE_DISABLED);
}

static void
assert_running (Fixture *fixture)
{
  PdRunner *runner = fixture->runner;
  g_autofree char *socket = g_build_filename (fixture->runtime_dir, "runner.sock", NULL);
  g_autofree char *exe = NULL;
  struct stat st;

  g_assert_cmpstr (pd_plugin_state_to_string (pd_runner_get_state (runner)), ==, "running");
  g_assert_cmpuint (pd_runner_get_main_pid (runner), >, 1);
  /* MainPID is the host pid of the entrypoint itself, not of bwrap */
  exe = g_strdup_printf ("/proc/%u/exe", pd_runner_get_main_pid (runner));
  g_assert_no_errno (stat (exe, &st));
  g_assert_true (st.st_dev == fixture->plugin_dev && st.st_ino == fixture->plugin_ino);
  g_assert_cmpstr (pd_runner_get_socket (runner), ==, socket);
  g_assert_cmpstrv (pd_runner_get_implements (runner), ((const char *const[]) { "VolumeDriver", NULL }));
}

/* the whole log as a reader gets it */
static char *
read_log (Fixture *fixture)
{
  g_autoptr(PdPluginLog) log = pd_plugin_log_new (fixture->log_dir, PLUGIN_ID);
  const PdPluginLogQuery all = { G_MAXUINT, 0, FALSE };
  g_autoptr(GByteArray) data = pd_plugin_log_read (log, &all);

  return data->len > 0 ? g_strndup ((const char *) data->data, data->len) : g_strdup ("");
}

static void
test_normal (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GError) error = NULL;
  g_autofree char *states = NULL;
  guint64 before = (guint64) g_get_real_time ();

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "normal", NULL);
  g_assert_cmpstr (pd_plugin_state_to_string (pd_runner_get_state (runner)), ==, "disabled");

  enable_ok (runner);
  assert_running (fixture);
  g_assert_cmpstr (pd_runner_get_last_error_name (runner), ==, "");
  g_assert_cmpuint (pd_runner_get_state_timestamp (runner), >=, before);
  g_assert_cmpuint (count_plugin_processes (fixture), ==, 1);

  /* a second enable is refused */
  error = enable (runner, 0);
  g_assert_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED);
  g_clear_error (&error);

  disable_ok (fixture);
  states = join_strings (fixture->states);
  g_assert_cmpstr (states, ==, "starting running stopping disabled");

  /* /Plugin.Activate carried Docker's headers and nothing else (the plugin logs them) */
  {
    g_autofree char *log = NULL;
    g_autoptr(GPtrArray) headers = g_ptr_array_new_with_free_func (g_free);
    g_auto(GStrv) lines = NULL;
    g_autofree char *joined = NULL;

    log = read_log (fixture);
    lines = g_strsplit (log, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++)
      if (g_str_has_prefix (lines[i], "runner-plugin: request header "))
        g_ptr_array_add (headers, g_strdup (lines[i] + strlen ("runner-plugin: request header ")));
    g_ptr_array_sort (headers, compare_strings);
    joined = join_strings (headers);
    g_test_message ("request headers: %s", joined);
    /* Go's client sends User-Agent and Accept-Encoding besides, which no plugin can rely
     * on */
    g_assert_cmpuint (headers->len, ==, 3);
    g_assert_cmpstr (headers->pdata[0], ==, "Accept: application/vnd.docker.plugins.v1.2+json");
    g_assert_cmpstr (headers->pdata[1], ==, "Content-Length: 0");
    g_assert_cmpstr (headers->pdata[2], ==, "Host: plugin.moby.localhost");
  }
  g_assert_cmpuint (fixture->events->len, ==, 0);

  error = disable (runner, 0);
  g_assert_error (error, PD_ERROR, PD_ERROR_PLUGIN_DISABLED);
}

typedef struct {
  const char *mode;
  guint activation_timeout_ms;
  PdError code;
  const char *needle1;
  const char *needle2;
} FailCase;

/* the plugin's output is in its log, never in the error: that one says where to look */
#define SEE_LOG "; see the plugin's log"

static const FailCase fail_cases[] = {
  { "exit", 10000, PD_ERROR_ACTIVATION_FAILED, "exited with status 3", SEE_LOG },
  { "nosocket", 400, PD_ERROR_ACTIVATION_TIMEOUT, "did not create its socket", SEE_LOG },
  { "symlink", 10000, PD_ERROR_ACTIVATION_FAILED, "/run/docker/plugins/runner.sock is not a socket", SEE_LOG },
  { "garbage", 10000, PD_ERROR_ACTIVATION_FAILED, "Plugin.Activate: ", SEE_LOG },
  { "err500", 10000, PD_ERROR_ACTIVATION_FAILED, "Plugin.Activate: HTTP 500: activation exploded", SEE_LOG },
  { "silent", 400, PD_ERROR_ACTIVATION_TIMEOUT, "did not answer /Plugin.Activate within 400 ms", SEE_LOG },
  { "huge", 10000, PD_ERROR_ACTIVATION_FAILED, "larger than 1048576 bytes", SEE_LOG },
  /* a recursive parser would overflow the daemon's stack on this */
  { "deepjson", 10000, PD_ERROR_ACTIVATION_FAILED, "Plugin.Activate: invalid response", SEE_LOG },
  { "wrongimpl", 10000, PD_ERROR_ACTIVATION_FAILED, "does not cover interface type docker.volumedriver/1.0", "NetworkDriver" },
};

/* the daemon's sandbox, seen from inside: Docker's default capabilities and the granted ones
 * (or, configured so, exactly the granted ones) in every set, the bounding set included (bwrap
 * alone leaves it full when run by root), no_new_privs and a seccomp filter */
static void
test_capabilities (Fixture *fixture, gconstpointer user_data)
{
  static const struct {
    PdSandboxCapabilities capabilities;
    const char *hex;
  } cases[] = {
    /* CAP_NET_ADMIN is bit 12 */
    { PD_SANDBOX_CAPABILITIES_REQUESTED, "0000000000001000" },
    /* Docker's a80425fb and bit 12 */
    { PD_SANDBOX_CAPABILITIES_DOCKER, "00000000a80435fb" },
  };
  const char *json =
    "{\"Description\": \"runner test\", \"Documentation\": \"\","
    " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"runner.sock\"},"
    " \"Entrypoint\": [\"/runner-plugin\", \"status\", \"runner.sock\"], \"WorkDir\": \"/\","
    " \"Network\": {\"Type\": \"\"}, \"Linux\": {\"Capabilities\": [\"CAP_NET_ADMIN\"]}}";

  if (skip_unless_root (fixture))
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      static const char *const sets[] = { "CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb" };
      g_autoptr(GError) error = NULL;
      g_autoptr(PdPluginRecord) record = NULL;
      g_autofree char *path = NULL;
      g_autofree char *log = NULL;
      PdPluginConfig *config;
      PdRunner *runner;

      config = pd_test_parse_config (json);
      record = pd_plugin_record_new (PLUGIN_ID, "test/runner:latest",
                                     "docker.io/test/runner:latest", config, NULL, NULL, NULL);
      g_clear_object (&fixture->runner);
      fixture->runner = runner = pd_runner_new (record, fixture->rootfs, fixture->runtime_dir,
                                                fixture->log_dir);
      pd_runner_set_capabilities (runner, cases[i].capabilities);

      error = enable (runner, 10000);
      g_assert_no_error (error);
      path = g_build_filename (fixture->log_dir, PLUGIN_ID ".log", NULL);
      g_assert_true (g_file_get_contents (path, &log, NULL, NULL));
      /* the init keeps them across its execve of the entrypoint as ambient capabilities too;
       * nothing beyond them */
      for (gsize k = 0; k < G_N_ELEMENTS (sets); k++)
        {
          g_autofree char *line = g_strdup_printf ("runner-plugin: status %s:\t%s\n", sets[k],
                                                   cases[i].hex);
          if (strstr (log, line) == NULL)
            g_error ("no \"%s\" in the log:\n%s", line, log);
        }
      g_assert_nonnull (strstr (log, "runner-plugin: status NoNewPrivs:\t1\n"));
      g_assert_nonnull (strstr (log, "runner-plugin: status Seccomp:\t2\n"));
      error = disable (runner, 5000);
      g_assert_no_error (error);
      /* the next case starts with a fresh log */
      g_assert_no_errno (unlink (path));
    }
}

static void
test_fail (Fixture *fixture, gconstpointer user_data)
{
  const FailCase *c = user_data;
  PdRunner *runner;
  g_autoptr(GError) error = NULL;
  g_autofree char *states = NULL;
  g_autofree char *log_path = NULL;
  g_autofree char *log = NULL;
  g_autofree char *mode_line = NULL;
  gint64 start;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, c->mode, NULL);
  start = g_get_monotonic_time ();
  error = enable (runner, c->activation_timeout_ms);
  g_assert_error (error, PD_ERROR, (gint) c->code);
  g_test_message ("%s: %s", c->mode, error->message);
  g_assert_nonnull (strstr (error->message, c->needle1));
  g_assert_nonnull (strstr (error->message, c->needle2));
  /* what it printed is in the log only */
  g_assert_null (strstr (error->message, "runner-plugin:"));
  log_path = g_build_filename (fixture->log_dir, PLUGIN_ID ".log", NULL);
  g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
  mode_line = g_strdup_printf ("runner-plugin: mode %s\n", c->mode);
  g_assert_nonnull (strstr (log, mode_line));
  /* a plugin that failed answers at once, not at the timeout */
  if (c->code != PD_ERROR_ACTIVATION_TIMEOUT)
    g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  else
    g_assert_cmpint (g_get_monotonic_time () - start, >=, c->activation_timeout_ms * 1000);

  assert_stopped (fixture, PD_PLUGIN_STATE_FAILED);
  g_assert_cmpstr (pd_runner_get_last_error_name (runner), ==, pd_error_to_dbus_name (c->code));
  g_assert_cmpstr (pd_runner_get_last_error_message (runner), ==, error->message);
  states = join_strings (fixture->states);
  g_assert_cmpstr (states, ==, "starting failed");
  /* the runtime dir holds nothing of the failed run */
  {
    g_autoptr(GDir) dir = g_dir_open (fixture->runtime_dir, 0, NULL);
    g_assert_nonnull (dir);
    g_assert_null (g_dir_read_name (dir));
  }

  /* from failed, disable just settles at disabled */
  g_clear_error (&error);
  error = disable (runner, 0);
  g_assert_no_error (error);
  assert_stopped (fixture, PD_PLUGIN_STATE_DISABLED);
}

static void
test_sandbox_failed (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GError) error = NULL;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "normal",
                        ", \"Mounts\": [{\"Name\": \"n\", \"Source\": \"srv:/x\","
                        " \"Destination\": \"/mnt\", \"Type\": \"nfs\", \"Options\": []}]");
  error = enable (runner, 0);
  g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
  assert_stopped (fixture, PD_PLUGIN_STATE_FAILED);
  g_assert_cmpstr (pd_runner_get_last_error_name (runner), ==,
                   pd_error_to_dbus_name (PD_ERROR_SANDBOX_FAILED));
}

static void
test_not_found (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GError) error = NULL;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "notfound", NULL);
  g_test_expect_message ("pd-runner", G_LOG_LEVEL_WARNING, "*answered 404 to /Plugin.Activate*");
  error = enable (runner, 10000);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  /* Implements from the config, in Docker's spelling */
  assert_running (fixture);
  disable_ok (fixture);
}

static void
test_ignore_term (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GError) error = NULL;
  gint64 start;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "ignoreterm", NULL);
  enable_ok (runner);
  assert_running (fixture);

  start = g_get_monotonic_time ();
  error = disable (runner, 300);
  g_assert_no_error (error);
  /* SIGTERM did nothing; SIGKILL came after the stop timeout */
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 300 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  assert_stopped (fixture, PD_PLUGIN_STATE_DISABLED);
}

static void
test_daemonize (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GError) error = NULL;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "daemonize", NULL);
  enable_ok (runner);
  assert_running (fixture);
  /* the entrypoint and its daemonized grandchild (setsid, double fork, SIGTERM ignored) */
  g_assert_cmpuint (count_plugin_processes (fixture), ==, 2);

  error = disable (runner, 5000);
  g_assert_no_error (error);
  /* gone with the PID namespace, at once: no stop timeout was needed for it */
  assert_stopped (fixture, PD_PLUGIN_STATE_DISABLED);
}

static void
test_pid_host (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;

  if (skip_unless_root (fixture))
    return;
  /* the host's PID namespace: no --as-pid-1, the process group is the fallback */
  runner = make_runner (fixture, "normal", ", \"PidHost\": true");
  enable_ok (runner);
  assert_running (fixture);
  disable_ok (fixture);

  /* a child that left the session (setsid, double fork) and ignores SIGTERM goes too: every
   * process in the plugin's mount namespace is killed */
  runner = make_runner (fixture, "daemonize", ", \"PidHost\": true");
  enable_ok (runner);
  g_assert_cmpuint (count_plugin_processes (fixture), ==, 2);
  disable_ok (fixture);
}

static void
test_crash_restart (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autofree char *events = NULL;
  g_autofree char *states = NULL;
  guint first_pid;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "normal", NULL);
  pd_runner_set_restart_backoff_for_testing (runner, 50);
  enable_ok (runner);
  first_pid = pd_runner_get_main_pid (runner);

  g_assert_no_errno (kill ((pid_t) first_pid, SIGKILL));
  WAIT_UNTIL (pd_runner_get_state (runner) == PD_PLUGIN_STATE_RESTARTING, 10000);
  WAIT_UNTIL (pd_runner_get_state (runner) == PD_PLUGIN_STATE_RUNNING, 10000);
  assert_running (fixture);
  g_assert_cmpuint (pd_runner_get_main_pid (runner), !=, first_pid);
  g_assert_cmpuint (pd_runner_get_restart_count (runner), ==, 1);
  /* why it restarted stays visible: killed by a signal is a crash */
  g_assert_cmpstr (pd_runner_get_last_error_name (runner), ==,
                   pd_error_to_dbus_name (PD_ERROR_PLUGIN_CRASHED));
  g_assert_nonnull (strstr (pd_runner_get_last_error_message (runner), "signal 9"));
  events = join_strings (fixture->events);
  g_assert_cmpstr (events, ==, "crash restart");
  states = join_strings (fixture->states);
  g_assert_cmpstr (states, ==, "starting running restarting running");

  disable_ok (fixture);
}

static void
test_disable_restarting (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autofree char *events = NULL;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "normal", NULL);
  pd_runner_set_restart_backoff_for_testing (runner, 500);
  enable_ok (runner);

  g_assert_no_errno (kill ((pid_t) pd_runner_get_main_pid (runner), SIGKILL));
  WAIT_UNTIL (pd_runner_get_state (runner) == PD_PLUGIN_STATE_RESTARTING, 10000);
  disable_ok (fixture);
  /* the pending restart is gone */
  sleep_ms (800);
  assert_stopped (fixture, PD_PLUGIN_STATE_DISABLED);
  events = join_strings (fixture->events);
  g_assert_cmpstr (events, ==, "crash");
}

static void
test_cancel (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Result r = { 0 };

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "nosocket", NULL);
  pd_runner_enable_async (runner, 20000, 0, cancellable, on_enabled, &r);
  g_assert_cmpstr (pd_plugin_state_to_string (pd_runner_get_state (runner)), ==, "starting");
  WAIT_UNTIL (pd_runner_get_main_pid (runner) != 0, 10000);

  /* no disable while an enable is in flight */
  error = disable (runner, 0);
  g_assert_error (error, PD_ERROR, PD_ERROR_BUSY);
  g_clear_error (&error);

  g_cancellable_cancel (cancellable);
  WAIT_UNTIL (r.done, 10000);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&r.error);
  assert_stopped (fixture, PD_PLUGIN_STATE_DISABLED);
  g_assert_cmpstr (pd_runner_get_last_error_name (runner), ==, "");
}

static void
test_crash_loop (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GError) error = NULL;
  g_autofree char *events = NULL;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "crashloop", NULL);
  pd_runner_set_restart_backoff_for_testing (runner, 20);
  enable_ok (runner);

  /* each exit with a status, until the last, is PluginExited */
  WAIT_UNTIL (pd_runner_get_state (runner) == PD_PLUGIN_STATE_RESTARTING, 30000);
  g_assert_cmpstr (pd_runner_get_last_error_name (runner), ==,
                   pd_error_to_dbus_name (PD_ERROR_PLUGIN_EXITED));
  WAIT_UNTIL (pd_runner_get_state (runner) == PD_PLUGIN_STATE_FAILED, 30000);
  events = join_strings (fixture->events);
  g_assert_cmpstr (events, ==, "crash restart crash restart crash restart crash restart crash fail");
  g_assert_cmpuint (pd_runner_get_restart_count (runner), ==, 4);
  /* the restart limit has a name of its own; the message keeps the last exit's */
  g_assert_cmpstr (pd_runner_get_last_error_name (runner), ==,
                   pd_error_to_dbus_name (PD_ERROR_CRASH_LOOP));
  g_assert_nonnull (strstr (pd_runner_get_last_error_message (runner), "exited with status 1"));
  g_assert_nonnull (strstr (pd_runner_get_last_error_message (runner), SEE_LOG));
  g_assert_null (strstr (pd_runner_get_last_error_message (runner), "runner-plugin:"));
  assert_stopped (fixture, PD_PLUGIN_STATE_FAILED);
  /* no more restarts */
  sleep_ms (300);
  assert_stopped (fixture, PD_PLUGIN_STATE_FAILED);

  error = disable (runner, 0);
  g_assert_no_error (error);
}

static goffset
file_size (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  struct stat st;

  if (stat (path, &st) < 0)
    return -1;
  g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
  return st.st_size;
}

static goffset
rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *p;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  p = strstr (status, "VmRSS:");
  g_assert_nonnull (p);
  return g_ascii_strtoll (p + 6, NULL, 10);
}

static gboolean drain (int fd, GString *out);

/* RSS means nothing under valgrind (it preloads its core) or ASan (freed memory waits in its
 * quarantine, up to 256 MiB, instead of being reused) */
static gboolean
rss_is_meaningful (void)
{
  const char *preload = g_getenv ("LD_PRELOAD");

#if defined(__SANITIZE_ADDRESS__)
  return FALSE;
#endif
  return preload == NULL || strstr (preload, "vgpreload") == NULL;
}

static void
test_flood (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GError) error = NULL;
  goffset rss_before;
  gint64 start;
  int slow_fd;
  g_autoptr(GString) slow = g_string_new (NULL);

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "flood", NULL);
  enable_ok (runner);
  assert_running (fixture);
  rss_before = rss_kib ();
  /* a follower that never reads */
  slow_fd = pd_runner_open_log (runner, &(PdPluginLogQuery){ 0, 0, FALSE }, TRUE, &error);
  g_assert_no_error (error);

  /* several MiB go through: the log rotates through every generation and stays capped (a
   * rotation comes before a write of up to 80 KiB of records that would pass the cap) */
  start = g_get_monotonic_time ();
  WAIT_UNTIL (file_size (fixture->log_dir, PLUGIN_ID ".log.4") >= PD_RUNNER_LOG_MAX_SIZE - 96 * 1024 &&
              g_get_monotonic_time () - start > G_USEC_PER_SEC, 20000);
  for (guint i = 0; i < PD_PLUGIN_LOG_FILES; i++)
    {
      g_autofree char *name = i == 0 ? g_strdup (PLUGIN_ID ".log")
                                     : g_strdup_printf (PLUGIN_ID ".log.%u", i);
      g_assert_cmpint (file_size (fixture->log_dir, name), <=, PD_RUNNER_LOG_MAX_SIZE);
    }
  g_assert_cmpint (file_size (fixture->log_dir, PLUGIN_ID ".log.5"), ==, -1);
  /* the daemon side holds bounded buffers only */
  if (rss_is_meaningful ())
    g_assert_cmpint (rss_kib () - rss_before, <, 8 * 1024);
  /* it was dropped once more than 1 MiB waited for it: what its pipe holds, then EOF */
  g_assert_true (g_unix_set_fd_nonblocking (slow_fd, TRUE, NULL));
  g_assert_false (drain (slow_fd, slow));
  g_assert_cmpuint (slow->len, >, 0);
  g_assert_cmpuint (slow->len, <=, 1024 * 1024);
  close (slow_fd);

  disable_ok (fixture);
}

static void
test_cycles (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  guint fds;
  goffset rss = 0;
  guint cycles = GPOINTER_TO_UINT (user_data);

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "normal", NULL);
  /* one cycle first: lazily created GLib and libsoup singletons are not growth */
  {
    g_autoptr(GError) error = enable (runner, 10000);
    g_assert_no_error (error);
    error = disable (runner, 5000);
    g_assert_no_error (error);
  }
  fds = count_fds_settled (fixture->fds_before);
  for (guint i = 0; i < cycles; i++)
    {
      /* RSS after a tenth of the cycles (allocator pools are warm by then) against the end */
      if (i == cycles / 10)
        rss = rss_kib ();
      g_autoptr(GError) error = enable (runner, 10000);
      g_assert_no_error (error);
      g_assert_cmpuint (count_plugin_processes (fixture), ==, 1);
      error = disable (runner, 5000);
      g_assert_no_error (error);
      g_assert_cmpuint (count_plugin_processes (fixture), ==, 0);
    }
  g_assert_cmpuint (count_fds_settled (fds), ==, fds);
  if (rss_is_meaningful ())
    g_assert_cmpint (rss_kib () - rss, <, 2 * 1024);
  assert_stopped (fixture, PD_PLUGIN_STATE_DISABLED);
}

/* read what is in @fd now (non-blocking) into @out; FALSE at EOF */
static gboolean
drain (int fd, GString *out)
{
  char buf[4096];

  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return TRUE;
      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        return FALSE;
      g_string_append_len (out, buf, n);
    }
}

static gboolean
log_contains (Fixture *fixture, const char *needle)
{
  g_autofree char *path = g_build_filename (fixture->log_dir, PLUGIN_ID ".log", NULL);
  g_autofree char *contents = NULL;

  return g_file_get_contents (path, &contents, NULL, NULL) && strstr (contents, needle) != NULL;
}

static void
test_open_log (Fixture *fixture, gconstpointer user_data)
{
  PdRunner *runner;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) tail = g_string_new (NULL);
  g_autoptr(GString) followed = g_string_new (NULL);
  int fd;
  int follow_fd;
  int closed_fd;
  gboolean open = TRUE;

  if (skip_unless_root (fixture))
    return;
  runner = make_runner (fixture, "chatty", NULL);
  enable_ok (runner);
  WAIT_UNTIL (file_size (fixture->log_dir, PLUGIN_ID ".log") > 0, 5000);

  /* the tail without follow: the last 3 lines, then EOF */
  WAIT_UNTIL (log_contains (fixture, "tick 2\n"), 5000);
  fd = pd_runner_open_log (runner, &(PdPluginLogQuery){ 3, 0, FALSE }, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  g_assert_true (g_unix_set_fd_nonblocking (fd, TRUE, NULL));
  WAIT_UNTIL (!drain (fd, tail), 5000);
  close (fd);
  {
    g_auto(GStrv) lines = g_strsplit (tail->str, "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 4);
    g_assert_cmpstr (lines[3], ==, "");
    g_assert_true (g_str_has_prefix (lines[2], "tick "));
  }

  /* a whole-log tail holds the first lines */
  g_string_truncate (tail, 0);
  fd = pd_runner_open_log (runner, &(PdPluginLogQuery){ G_MAXUINT, 0, FALSE }, FALSE, &error);
  g_assert_no_error (error);
  g_assert_true (g_unix_set_fd_nonblocking (fd, TRUE, NULL));
  WAIT_UNTIL (!drain (fd, tail), 5000);
  close (fd);
  g_assert_true (g_str_has_prefix (tail->str, "runner-plugin: mode chatty\nline 1\nline 2\n"));

  /* follow: new ticks come through; a reader that closes its end is dropped */
  follow_fd = pd_runner_open_log (runner, &(PdPluginLogQuery){ 1, 0, FALSE }, TRUE, &error);
  g_assert_no_error (error);
  closed_fd = pd_runner_open_log (runner, &(PdPluginLogQuery){ 1, 0, FALSE }, TRUE, &error);
  g_assert_no_error (error);
  close (closed_fd);
  g_assert_true (g_unix_set_fd_nonblocking (follow_fd, TRUE, NULL));
  WAIT_UNTIL ((drain (follow_fd, followed), strstr (followed->str, "\ntick") != NULL &&
               g_str_has_suffix (followed->str, "\n") &&
               strchr (followed->str, '\n') != strrchr (followed->str, '\n')), 5000);

  /* disable ends the follow with EOF */
  error = disable (runner, 5000);
  g_assert_no_error (error);
  WAIT_UNTIL (!(open = drain (follow_fd, followed)), 5000);
  g_assert_false (open);
  close (follow_fd);
  assert_stopped (fixture, PD_PLUGIN_STATE_DISABLED);

  /* stopped: the tail is still there, then EOF even with follow */
  g_string_truncate (tail, 0);
  fd = pd_runner_open_log (runner, &(PdPluginLogQuery){ 2, 0, FALSE }, TRUE, &error);
  g_assert_no_error (error);
  g_assert_true (g_unix_set_fd_nonblocking (fd, TRUE, NULL));
  WAIT_UNTIL (!drain (fd, tail), 5000);
  close (fd);
  g_assert_true (g_str_has_prefix (tail->str, "tick "));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  PD_TEST_ADD ("/runner/normal", test_normal);
  PD_TEST_ADD ("/runner/capabilities", test_capabilities);
  PD_TEST_ADD ("/runner/sandbox-failed", test_sandbox_failed);
  PD_TEST_ADD ("/runner/not-found", test_not_found);
  PD_TEST_ADD ("/runner/ignore-term", test_ignore_term);
  PD_TEST_ADD ("/runner/daemonize", test_daemonize);
  PD_TEST_ADD ("/runner/pid-host", test_pid_host);
  PD_TEST_ADD ("/runner/crash-restart", test_crash_restart);
  PD_TEST_ADD ("/runner/disable-restarting", test_disable_restarting);
  PD_TEST_ADD ("/runner/cancel", test_cancel);
  PD_TEST_ADD ("/runner/crash-loop", test_crash_loop);
  PD_TEST_ADD ("/runner/flood", test_flood);
  PD_TEST_ADD ("/runner/open-log", test_open_log);
  PD_TEST_ADD_CASES ("/runner/fail", fail_cases, mode, test_fail);
  g_test_add ("/runner/cycles", Fixture, GUINT_TO_POINTER (200), fixture_setup, test_cycles,
              fixture_teardown);

  /* one plugin run before the fd counts start */
  {
    Fixture fixture = { 0 };
    warming_up = TRUE;
    fixture_setup (&fixture, NULL);
    if (fixture.base != NULL)
      {
        g_autoptr(GError) error = NULL;
        PdRunner *runner = make_runner (&fixture, "normal", NULL);
        error = enable (runner, 10000);
        g_assert_no_error (error);
        error = disable (runner, 5000);
        g_assert_no_error (error);
      }
    fixture_teardown (&fixture, NULL);
    warming_up = FALSE;
  }

  return g_test_run ();
}
