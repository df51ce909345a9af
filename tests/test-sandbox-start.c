/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Real sandboxes, started as the runner starts a plugin (pd-sandbox-start.c: bwrap with the
 * sandbox's init, then the daemon's part of the set-up), running tests/sandbox-probe.c, which
 * reports what it sees from inside: capabilities, namespaces, mounts, environment, the
 * seccomp filter's answers (pd-seccomp.c) and the protected /proc paths.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-sandbox-start"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pd-error.h"
#include "pd-plugin-config.h"
#include "pd-sandbox.h"
#include "pd-sandbox-start.h"
#include "pd-test-sandbox.h"
#include "pd-test-utils.h"

typedef struct {
  char *out;
  GHashTable *values;   /* key → first value */
} ProbeResult;

static void
probe_result_free (ProbeResult *result)
{
  g_free (result->out);
  g_hash_table_unref (result->values);
  g_free (result);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ProbeResult, probe_result_free)

static const char *
get (ProbeResult *result, const char *key)
{
  const char *value = g_hash_table_lookup (result->values, key);

  if (value == NULL)
    g_error ("the probe reported no %s:\n%s", key, result->out);
  return value;
}

static gboolean
has_line (ProbeResult *result, const char *line)
{
  g_auto(GStrv) lines = g_strsplit (result->out, "\n", -1);

  return g_strv_contains ((const char *const *) lines, line);
}

static char *
host_ns (const char *name)
{
  g_autofree char *path = g_strdup_printf ("/proc/self/ns/%s", name);
  g_autoptr(GError) error = NULL;
  char *target = g_file_read_link (path, &error);

  g_assert_no_error (error);
  return target;
}

static void
install_probe (PdTestSandboxFixture *fixture)
{
  g_autofree char *probe = g_test_build_filename (G_TEST_BUILT, "sandbox-probe", NULL);
  g_autofree char *target = g_build_filename (fixture->rootfs, "probe", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *mnt = g_build_filename (fixture->rootfs, "mnt", NULL);
  g_autofree char *tmp = g_build_filename (fixture->rootfs, "tmp", NULL);
  g_autoptr(GError) error = NULL;
  gsize len;

  if (g_file_test (target, G_FILE_TEST_EXISTS))
    return;
  g_file_get_contents (probe, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents_full (target, contents, len, G_FILE_SET_CONTENTS_NONE, 0755, &error);
  g_assert_no_error (error);
  g_assert_no_errno (g_mkdir (mnt, 0755));
  g_assert_no_errno (g_mkdir (tmp, 01777));
  /* as an extracted rootfs has them, whatever the umask: a plugin may run as another uid */
  g_assert_no_errno (g_chmod (fixture->rootfs, 0755));
  g_assert_no_errno (g_chmod (target, 0755));
  g_assert_no_errno (g_chmod (mnt, 0755));
  g_assert_no_errno (g_chmod (tmp, 01777));
}

/* every local user can read a command line: bwrap's holds none of the plugin's environment
 * (it goes through --args), while bwrap waits for the set-up */
static void
assert_no_environment_on_command_line (GSubprocess *bwrap)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/cmdline", g_subprocess_get_identifier (bwrap));
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  g_autofree char *cmdline = NULL;
  gsize len = 0;

  /* until the forked child has exec'd bwrap */
  while (cmdline == NULL || !g_str_equal (cmdline, PD_TEST_BWRAP))
    {
      g_clear_pointer (&cmdline, g_free);
      g_assert_true (g_file_get_contents (path, &cmdline, &len, NULL));
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
    }
  for (gsize i = 0; i < len; i += strlen (cmdline + i) + 1)
    {
      g_assert_cmpstr (cmdline + i, !=, "--setenv");
      g_assert_null (strstr (cmdline + i, "hello world"));
    }
  g_assert_nonnull (memmem (cmdline, len, "--args", sizeof "--args"));
}

/* runs the probe in a sandbox for a config with @extra members, as the runner starts a
 * plugin: spawned with its init, set up, then left to run */
static ProbeResult *
run_probe (PdTestSandboxFixture *fixture, const char *extra, PdSandboxCapabilities capabilities)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = pd_test_probe_config (extra);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(PdSandboxProcess) sandbox = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  ProbeResult *result;
  PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);

  install_probe (fixture);
  spec.rootfs = fixture->rootfs;
  spec.runtime_dir = fixture->runtime;
  spec.capabilities = capabilities;

  g_assert_true (pd_sandbox_prepare_rootfs (&spec, &error));
  g_assert_no_error (error);
  /* bwrap --die-with-parent: if this test dies, the sandbox goes with it */
  sandbox = pd_sandbox_spawn (&spec, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                              &error);
  g_assert_no_error (error);
  assert_no_environment_on_command_line (sandbox->subprocess);
  g_assert_true (pd_sandbox_process_setup_sync (sandbox, &spec, 10000, &error));
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (sandbox->subprocess, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_subprocess_wait (sandbox->subprocess, NULL, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (sandbox->subprocess)
      || g_subprocess_get_exit_status (sandbox->subprocess) != 0)
    g_error ("the sandbox failed:\n%s\n%s", out, err);

  result = g_new0 (ProbeResult, 1);
  result->out = g_steal_pointer (&out);
  result->values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  lines = g_strsplit (result->out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *eq = strchr (lines[i], '=');

      if (eq != NULL && !g_hash_table_contains (result->values, lines[i]))
        {
          char *key = g_strndup (lines[i], eq - lines[i]);

          if (g_hash_table_contains (result->values, key))
            g_free (key);
          else
            g_hash_table_insert (result->values, key, g_strdup (eq + 1));
        }
    }
  g_test_message ("probe:\n%s", result->out);
  return result;
}

static void
assert_errno (ProbeResult *result, const char *key, int errsv)
{
  g_autofree char *expected = g_strdup_printf ("%d", errsv);

  if (!g_str_equal (get (result, key), expected))
    g_error ("%s: expected errno %d (%s), got %s", key, errsv, g_strerror (errsv),
             get (result, key));
}

static void
assert_caps (ProbeResult *result, guint64 mask)
{
  g_autofree char *expected = g_strdup_printf ("%016" G_GINT64_MODIFIER "x", mask);

  g_assert_cmpstr (get (result, "CapEff"), ==, expected);
  g_assert_cmpstr (get (result, "CapPrm"), ==, expected);
  g_assert_cmpstr (get (result, "CapBnd"), ==, expected);
  /* bwrap keeps the granted ones ambient, so that they survive its execve of a uid-0
   * process; that is no more than the permitted set */
  g_assert_cmpstr (get (result, "CapAmb"), ==, expected);
  g_assert_cmpstr (get (result, "CapInh"), ==, expected);
  /* and an execve inside gets nothing more */
  g_assert_cmpstr (get (result, "exec.CapEff"), ==, expected);
  g_assert_cmpstr (get (result, "exec.CapPrm"), ==, expected);
  g_assert_cmpstr (get (result, "exec.CapBnd"), ==, expected);
  g_assert_cmpstr (get (result, "exec.NoNewPrivs"), ==, "1");
}

/* whether a process of this host may make a user namespace outside any sandbox; asked of
 * unshare(1), so that neither valgrind nor a fork of this test changes the answer */
static gboolean
host_can_unshare_user (void)
{
  const char *argv[] = { "unshare", "--user", "true", NULL };
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                     G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL))
    return FALSE;
  return g_spawn_check_wait_status (status, NULL);
}

static void
assert_ns (ProbeResult *result, const char *name, gboolean shared)
{
  g_autofree char *key = g_strdup_printf ("ns.%s", name);
  g_autofree char *host = host_ns (name);

  if (shared)
    g_assert_cmpstr (get (result, key), ==, host);
  else
    g_assert_cmpstr (get (result, key), !=, host);
}

/* each of the space-separated @private namespaces is the sandbox's own, each of @shared the
 * host's */
static void
assert_namespaces (ProbeResult *result, const char *private, const char *shared)
{
  g_auto(GStrv) own = g_strsplit (private, " ", -1);
  g_auto(GStrv) hosts = g_strsplit (shared, " ", -1);

  for (guint i = 0; own[i] != NULL; i++)
    assert_ns (result, own[i], FALSE);
  for (guint i = 0; hosts[i] != NULL; i++)
    assert_ns (result, hosts[i], TRUE);
}

/* Docker's read-only and masked /proc paths, whatever the capabilities; a process of
 * another uid than root is refused by the files' modes before the read-only mount */
static void
assert_proc_protected (ProbeResult *result, gboolean as_root)
{
  const int refused = as_root ? EROFS : EACCES;

  static const char *const readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
  };

  assert_errno (result, "open_core_pattern", refused);
  /* a kernel without CONFIG_MAGIC_SYSRQ has none */
  assert_errno (result, "open_sysrq_trigger",
                g_file_test ("/proc/sysrq-trigger", G_FILE_TEST_EXISTS) ? refused : ENOENT);
  for (gsize i = 0; i < G_N_ELEMENTS (readonly); i++)
    {
      g_autofree char *key = g_strdup_printf ("ro.%s", readonly[i]);
      g_autofree char *host_path = g_strdup (readonly[i]);

      /* the host kernel may lack one (/proc/bus without PCI) */
      if (g_file_test (host_path, G_FILE_TEST_EXISTS))
        g_assert_cmpstr (get (result, key), ==, "1");
    }
  if (g_file_test ("/proc/interrupts", G_FILE_TEST_EXISTS))
    g_assert_true (g_str_has_prefix (get (result, "interrupts_bytes"), "0"));
}

static void
test_run_confined (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  /* what the filter and the missing capabilities leave of these calls */
  static const struct {
    const char *key;
    int errsv;
  } calls[] = {
    { "keyctl", EPERM },
    { "kexec_load", EPERM },
    { "open_by_handle_at", EPERM },
    { "mount", EPERM },
    { "unshare_user", EPERM },
    { "ptrace", EPERM },
    { "clone3", ENOSYS },
    { "tiocsti", EPERM },
    { "tcgets", ENOTTY },
    { "socket_vsock", EAFNOSUPPORT },
    { "socket_unix", 0 },
    { "newer_syscall", ENOSYS },
    { "mknod_char", EPERM },
    { "mknod_fifo", 0 },
    { "socket_dir", 0 },
  };
  g_autoptr(ProbeResult) result = run_probe (
    fixture,
    "\"Linux\": {\"Capabilities\": [\"CAP_NET_ADMIN\"]}, \"WorkDir\": \"/tmp\","
    " \"Env\": [{\"Name\": \"GREETING\", \"Value\": \"hello world\"}],"
    " \"Args\": {\"Name\": \"args\", \"Settable\": [\"value\"], \"Value\": [\"--one\", \"two\"]}",
    PD_SANDBOX_CAPABILITIES_REQUESTED);

  assert_caps (result, G_GUINT64_CONSTANT (1) << 12);
  g_assert_cmpstr (get (result, "NoNewPrivs"), ==, "1");
  g_assert_cmpstr (get (result, "Seccomp"), ==, "2");
  g_assert_cmpstr (get (result, "uid"), ==, "0");

  /* no user namespace: the capabilities are real ones */
  assert_namespaces (result, "mnt uts ipc pid net cgroup", "user");

  /* nothing but stdio (the filter's fd is not left open) */
  g_assert_cmpstr (get (result, "fds"), ==, "0,1,2,");

  /* the mounts are what the sandbox declares and nothing of the host besides: its rootfs as /,
   * /proc, a minimal /dev, read-only /sys, the socket dir, and the masks over /proc and /sys
   * entries (under those three) */
  {
    g_auto(GStrv) lines = g_strsplit (result->out, "\n", -1);
    gboolean saw_root = FALSE, saw_socket_dir = FALSE;

    for (guint i = 0; lines[i] != NULL; i++)
      {
        const char *point;

        if (!g_str_has_prefix (lines[i], "mount.point="))
          continue;
        point = lines[i] + strlen ("mount.point=");
        saw_root |= g_str_equal (point, "/");
        saw_socket_dir |= g_str_equal (point, "/run/docker/plugins");
        if (!g_str_equal (point, "/") && !g_str_equal (point, "/run/docker/plugins") &&
            !g_str_equal (point, "/proc") && !g_str_has_prefix (point, "/proc/") &&
            !g_str_equal (point, "/dev") && !g_str_has_prefix (point, "/dev/") &&
            !g_str_equal (point, "/sys") && !g_str_has_prefix (point, "/sys/"))
          g_error ("the sandbox shows an undeclared mount: %s", point);
      }
    g_assert_true (saw_root);
    g_assert_true (saw_socket_dir);
  }
  g_assert_true (has_line (result, "arg=--one"));
  g_assert_true (has_line (result, "arg=two"));
  g_assert_true (has_line (result, "env=PATH=" PD_SANDBOX_DEFAULT_PATH));
  g_assert_true (has_line (result, "env=GREETING=hello world"));
  g_assert_false (g_hash_table_contains (result->values, "env=G_DEBUG"));
  g_assert_null (strstr (result->out, "G_TEST_"));
  g_assert_cmpstr (get (result, "cwd"), ==, "/tmp");

  for (gsize i = 0; i < G_N_ELEMENTS (calls); i++)
    assert_errno (result, calls[i].key, calls[i].errsv);
  assert_proc_protected (result, TRUE);
  /* CAP_SYS_CHROOT was not asked for: the filter refuses chroot */
  assert_errno (result, "chroot", EPERM);
}

static void
test_run_sys_admin_host (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  g_autoptr(ProbeResult) result = run_probe (
    fixture,
    "\"Linux\": {\"Capabilities\": [\"CAP_SYS_ADMIN\"]}, \"IpcHost\": true, \"PidHost\": true,"
    " \"Network\": {\"Type\": \"host\"}",
    PD_SANDBOX_CAPABILITIES_REQUESTED);

  assert_caps (result, G_GUINT64_CONSTANT (1) << 21);
  g_assert_cmpstr (get (result, "NoNewPrivs"), ==, "1");
  g_assert_cmpstr (get (result, "Seccomp"), ==, "2");
  assert_namespaces (result, "mnt uts cgroup", "ipc pid net user");

  /* CAP_SYS_ADMIN re-allows what Docker's profile gates on it */
  assert_errno (result, "mount", 0);
  /* granted CAP_SYS_ADMIN lifts the filter's block; whether the kernel then allows a user
   * namespace is its own business (a chrooted process never gets one) */
  assert_errno (result, "unshare_user", host_can_unshare_user () ? 0 : EPERM);
  assert_errno (result, "clone3", EINVAL);
  /* still refused: not in Docker's profile at all */
  assert_errno (result, "keyctl", EPERM);
  assert_errno (result, "kexec_load", EPERM);
  assert_errno (result, "open_by_handle_at", EPERM);
  assert_errno (result, "tiocsti", EPERM);
}

static void
test_run_device_nodes (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  g_autoptr(ProbeResult) denied = run_probe (
    fixture, "\"Linux\": {\"Capabilities\": [\"CAP_MKNOD\"]}", PD_SANDBOX_CAPABILITIES_REQUESTED);
  g_autoptr(ProbeResult) allowed = NULL;

  assert_caps (denied, G_GUINT64_CONSTANT (1) << 27);
  /* CAP_MKNOD alone does not give a device node: no device cgroup, so the filter says no */
  assert_errno (denied, "mknod_char", EPERM);
  assert_errno (denied, "mknod_fifo", 0);

  allowed = run_probe (fixture,
                       "\"Linux\": {\"Capabilities\": [\"CAP_MKNOD\"], \"AllowAllDevices\": true}",
                       PD_SANDBOX_CAPABILITIES_REQUESTED);
  assert_errno (allowed, "mknod_char", 0);
}

static void
test_run_ptrace (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  g_autoptr(ProbeResult) result = run_probe (
    fixture, "\"Linux\": {\"Capabilities\": [\"CAP_SYS_PTRACE\", \"CAP_DAC_READ_SEARCH\"]}",
    PD_SANDBOX_CAPABILITIES_REQUESTED);
  int ptrace_errno = atoi (get (result, "ptrace"));
  int handle_errno = atoi (get (result, "open_by_handle_at"));

  /* the calls reach the kernel, which refuses the bad arguments itself */
  g_assert_cmpint (ptrace_errno, ==, ESRCH);
  g_assert_cmpint (handle_errno, !=, EPERM);
  g_assert_cmpint (handle_errno, !=, 0);
  assert_errno (result, "mount", EPERM);
}

static guint64
mask_of (const char *const *names)
{
  guint64 mask = 0;

  for (guint i = 0; names[i] != NULL; i++)
    {
      int cap = pd_linux_capability_from_name (names[i]);

      g_assert_cmpint (cap, >=, 0);
      mask |= G_GUINT64_CONSTANT (1) << cap;
    }
  return mask;
}

static const char *const docker_capabilities[] = { PD_SANDBOX_DOCKER_CAPABILITIES, NULL };

static void
test_run_docker_capabilities (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  g_autoptr(ProbeResult) result = run_probe (
    fixture, "\"Linux\": {\"Capabilities\": [\"CAP_NET_ADMIN\"]}",
    PD_SANDBOX_CAPABILITIES_DOCKER);

  /* Docker's default set and what was asked for, in every set, the bounding one included */
  assert_caps (result, mask_of (docker_capabilities) | (G_GUINT64_CONSTANT (1) << 12));
  g_assert_cmpstr (get (result, "uid"), ==, "0");
  /* the filter follows: CAP_SYS_CHROOT is in Docker's set */
  assert_errno (result, "chroot", 0);
  /* still no mount or namespace without CAP_SYS_ADMIN */
  assert_errno (result, "mount", EPERM);
  assert_errno (result, "unshare_user", EPERM);
  /* and /proc/sys stays read-only for this root process with Docker's capabilities */
  assert_proc_protected (result, TRUE);
}

/* Config.User: the plugin runs as that uid and gid, with no supplementary groups, keeping only
 * what it asked for (ambient, so that it survives the execve); a root-owned 0600 file bound
 * into the sandbox is out of its reach, its socket dir is its own */
static void
test_run_user (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  g_autofree char *secret = g_build_filename (fixture->base, "secret", NULL);
  g_autofree char *extra = NULL;
  g_autoptr(ProbeResult) result = NULL;
  g_autofree char *asked = g_strdup_printf ("%016" G_GINT64_MODIFIER "x",
                                            G_GUINT64_CONSTANT (1) << 12);
  g_autofree char *bounding = g_strdup_printf ("%016" G_GINT64_MODIFIER "x",
                                               mask_of (docker_capabilities)
                                                 | (G_GUINT64_CONSTANT (1) << 12));
  struct stat st;

  g_assert_true (g_file_set_contents_full (secret, "password", -1, G_FILE_SET_CONTENTS_NONE,
                                           0600, NULL));
  g_assert_no_errno (chown (secret, 0, 0));
  extra = g_strdup_printf ("\"User\": {\"UID\": 1000, \"GID\": 1000},"
                           " \"Linux\": {\"Capabilities\": [\"CAP_NET_ADMIN\"]},"
                           " \"Mounts\": [{\"Source\": \"%s\", \"Destination\": \"/secret\","
                           " \"Type\": \"bind\", \"Options\": [\"rbind\", \"ro\"]}]",
                           secret);
  result = run_probe (fixture, extra, PD_SANDBOX_CAPABILITIES_DOCKER);

  g_assert_cmpstr (get (result, "Uid"), ==, "1000\t1000\t1000\t1000");
  g_assert_cmpstr (get (result, "Gid"), ==, "1000\t1000\t1000\t1000");
  g_assert_cmpstr (get (result, "Groups"), ==, "");
  g_assert_cmpstr (get (result, "CapEff"), ==, asked);
  g_assert_cmpstr (get (result, "CapPrm"), ==, asked);
  g_assert_cmpstr (get (result, "CapAmb"), ==, asked);
  g_assert_cmpstr (get (result, "CapBnd"), ==, bounding);
  g_assert_cmpstr (get (result, "exec.CapEff"), ==, asked);
  g_assert_cmpstr (get (result, "exec.NoNewPrivs"), ==, "1");
  assert_errno (result, "open_secret", EACCES);
  assert_errno (result, "socket_dir", 0);
  g_assert_no_errno (stat (fixture->runtime, &st));
  g_assert_cmpuint (st.st_uid, ==, 1000);
  g_assert_cmpuint (st.st_gid, ==, 1000);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
  assert_proc_protected (result, FALSE);
}

/* A symlink at PropagatedMount, planted after the rootfs was prepared (as a process of the
 * plugin that outlived its sandbox could): the set-up opens the target without following it
 * and fails before it mounts anything, on the host or in the sandbox. A FIFO there (layers
 * keep FIFOs) fails the same way, at once: neither the preparation nor the set-up opens it
 * for reading, which would block. */
static void
test_run_propagated_symlink (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = pd_test_probe_config ("\"PropagatedMount\": \"/data\"");
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(PdSandboxProcess) sandbox = NULL;
  g_autofree char *dir = g_build_filename (fixture->base, "propagated-mount", NULL);
  g_autofree char *data = g_build_filename (fixture->rootfs, "data", NULL);
  PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);

  install_probe (fixture);
  g_assert_no_errno (g_mkdir (dir, 0755));
  spec.rootfs = fixture->rootfs;
  spec.runtime_dir = fixture->runtime;
  spec.propagated_mount_dir = dir;
  g_assert_true (pd_sandbox_prepare_rootfs (&spec, &error));
  g_assert_no_error (error);
  g_assert_no_errno (g_rmdir (data));
  if (user_data != NULL)
    {
      g_assert_no_errno (mkfifo (data, 0644));
      /* the preparation of a rootfs that has it from its layer */
      g_assert_false (pd_sandbox_prepare_rootfs (&spec, &error));
      g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
      g_clear_error (&error);
    }
  else
    g_assert_no_errno (symlink ("/mnt", data));

  sandbox = pd_sandbox_spawn (&spec, G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                       G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  g_assert_no_error (error);
  g_assert_false (pd_sandbox_process_setup_sync (sandbox, &spec, 10000, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
  if (user_data != NULL)
    g_assert_nonnull (strstr (error->message, "(/data)"));
  else
    g_assert_nonnull (strstr (error->message, "cannot open PropagatedMount in the sandbox "
                                              "without following a symlink (/data)"));
  g_assert_cmpuint (pd_test_count_mounts (dir), ==, 0);
  g_subprocess_force_exit (sandbox->subprocess);
  g_subprocess_wait (sandbox->subprocess, NULL, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  pd_test_add_sandbox_test ("/sandbox-start/confined", test_run_confined);
  pd_test_add_sandbox_test ("/sandbox-start/sys-admin-host", test_run_sys_admin_host);
  pd_test_add_sandbox_test ("/sandbox-start/device-nodes", test_run_device_nodes);
  pd_test_add_sandbox_test ("/sandbox-start/ptrace", test_run_ptrace);
  pd_test_add_sandbox_test ("/sandbox-start/docker-capabilities", test_run_docker_capabilities);
  pd_test_add_sandbox_test ("/sandbox-start/user", test_run_user);
  pd_test_add_sandbox_test ("/sandbox-start/propagated-symlink", test_run_propagated_symlink);
  g_test_add ("/sandbox-start/propagated-fifo", PdTestSandboxFixture, "fifo",
              pd_test_sandbox_fixture_setup, test_run_propagated_symlink,
              pd_test_sandbox_fixture_teardown);

  return g_test_run ();
}
