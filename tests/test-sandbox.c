/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sandbox's bubblewrap arguments and rootfs (pd-sandbox.c): namespaces, capabilities,
 * mounts, devices, environment and args as an argv, what is refused before bwrap could
 * follow a planted path, and the mount points made in a rootfs without following a symlink.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-sandbox"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-plugin-config.h"
#include "pd-sandbox.h"
#include "pd-test-sandbox.h"
#include "pd-test-utils.h"

/* index of the consecutive arguments (NULL-terminated varargs) in @argv, or -1 */
static int
find_seq (GPtrArray *argv, ...)
{
  const char *seq[16];
  guint n = 0;
  va_list args;

  va_start (args, argv);
  for (const char *s = va_arg (args, const char *); s != NULL; s = va_arg (args, const char *))
    {
      g_assert_cmpuint (n, <, G_N_ELEMENTS (seq));
      seq[n++] = s;
    }
  va_end (args);

  for (guint i = 0; i + n <= argv->len; i++)
    {
      guint j;

      for (j = 0; j < n; j++)
        if (g_strcmp0 (argv->pdata[i + j], seq[j]) != 0)
          break;
      if (j == n)
        return (int) i;
    }
  return -1;
}

static int
find_arg (GPtrArray *argv, const char *arg)
{
  return find_seq (argv, arg, NULL);
}

/* the index of "--", after which only the plugin's argv comes */
static int
end_of_options (GPtrArray *argv)
{
  int i = find_arg (argv, "--");

  g_assert_cmpint (i, >, 0);
  return i;
}

static GPtrArray *
build (const char *extra, GError **error)
{
  g_autoptr(PdPluginConfig) config = pd_test_probe_config (extra);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);

  return pd_sandbox_build_argv (&spec, error);
}

static void
test_argv_defaults (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = build ("", &error);
  int dashdash;

  g_assert_no_error (error);
  g_assert_nonnull (argv);
  /* NULL-terminated, an argv as it is */
  g_assert_null (argv->pdata[argv->len]);
  g_assert_cmpstr (argv->pdata[0], ==, PD_TEST_BWRAP);
  dashdash = end_of_options (argv);
  g_assert_cmpuint (dashdash, ==, argv->len - 2);
  g_assert_cmpstr (argv->pdata[argv->len - 1], ==, "/probe");

  g_assert_cmpint (find_arg (argv, "--die-with-parent"), >, 0);
  g_assert_cmpint (find_arg (argv, "--new-session"), >, 0);
  g_assert_cmpint (find_arg (argv, "--unshare-uts"), >, 0);
  g_assert_cmpint (find_arg (argv, "--unshare-ipc"), >, 0);
  g_assert_cmpint (find_arg (argv, "--unshare-pid"), >, 0);
  g_assert_cmpint (find_arg (argv, "--unshare-net"), >, 0);
  g_assert_cmpint (find_arg (argv, "--unshare-cgroup-try"), >, 0);
  /* never a user namespace: the capabilities must be the host's */
  g_assert_cmpint (find_arg (argv, "--unshare-all"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--unshare-user"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--unshare-user-try"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--share-net"), ==, -1);

  g_assert_cmpint (find_seq (argv, "--cap-drop", "ALL", NULL), >, 0);
  g_assert_cmpint (find_arg (argv, "--cap-add"), ==, -1);

  g_assert_cmpint (find_seq (argv, "--bind", PD_TEST_ROOTFS, "/", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--proc", "/proc", NULL), >, find_seq (argv, "--bind", PD_TEST_ROOTFS, "/", NULL));
  g_assert_cmpint (find_seq (argv, "--dev", "/dev", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--perms", "1777", "--size", "67108864", "--tmpfs", "/dev/shm", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--mqueue", "/dev/mqueue", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--ro-bind", "/sys", "/sys", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--bind", PD_TEST_RUNTIME, "/run/docker/plugins", NULL), >, 0);
  /* no network: no host files */
  g_assert_cmpint (find_seq (argv, "--ro-bind-try", "/etc/hosts", "/etc/hosts", NULL), ==, -1);
  g_assert_cmpint (find_seq (argv, "--chdir", "/", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--clearenv", "--setenv", "PATH", PD_SANDBOX_DEFAULT_PATH, NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--seccomp", "7", NULL), >, 0);
  g_assert_cmpint (find_arg (argv, "--setenv"), <, dashdash);
}

static void
test_argv_network (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = NULL;
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  PdSandboxSpec spec;

  /* host: the host's network namespace, and the host files */
  config = pd_test_probe_config ("\"Network\": {\"Type\": \"host\"}");
  settings = pd_plugin_settings_new_from_config (config);
  spec = pd_test_sandbox_spec (config, settings);
  spec.hosts_path = "/tmp/hosts";
  spec.resolv_conf_path = "/tmp/resolv.conf";
  argv = pd_sandbox_build_argv (&spec, &error);
  g_assert_no_error (error);
  g_assert_cmpint (find_arg (argv, "--unshare-net"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--unshare-ipc"), >, 0);
  g_assert_cmpint (find_seq (argv, "--ro-bind-try", "/tmp/hosts", "/etc/hosts", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--ro-bind-try", "/tmp/resolv.conf", "/etc/resolv.conf", NULL), >, 0);
  g_clear_pointer (&argv, g_ptr_array_unref);

  /* any other type: a private namespace, with the host files */
  argv = build ("\"Network\": {\"Type\": \"bridge\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (find_arg (argv, "--unshare-net"), >, 0);
  g_assert_cmpint (find_seq (argv, "--ro-bind-try", "/etc/hosts", "/etc/hosts", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf", NULL), >, 0);
}

static void
test_argv_host_namespaces (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = build ("\"IpcHost\": true", &error);

  g_assert_no_error (error);
  g_assert_cmpint (find_arg (argv, "--unshare-ipc"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--mqueue"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--unshare-pid"), >, 0);
  g_clear_pointer (&argv, g_ptr_array_unref);

  argv = build ("\"PidHost\": true", &error);
  g_assert_no_error (error);
  g_assert_cmpint (find_arg (argv, "--unshare-pid"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--unshare-ipc"), >, 0);
  g_clear_pointer (&argv, g_ptr_array_unref);

  argv = build ("\"PidHost\": true, \"IpcHost\": true, \"Network\": {\"Type\": \"host\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (find_arg (argv, "--unshare-pid"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--unshare-ipc"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--unshare-net"), ==, -1);
  g_assert_cmpint (find_arg (argv, "--unshare-uts"), >, 0);
}

static void
test_argv_capabilities (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = build (
    "\"Linux\": {\"Capabilities\": [\"CAP_SYS_ADMIN\", \"CAP_NET_ADMIN\", \"CAP_SYS_ADMIN\"]}",
    &error);
  int drop;

  g_assert_no_error (error);
  drop = find_seq (argv, "--cap-drop", "ALL", NULL);
  /* sorted, once each, after the drop */
  g_assert_cmpint (find_seq (argv, "--cap-drop", "ALL", "--cap-add", "CAP_NET_ADMIN",
                             "--cap-add", "CAP_SYS_ADMIN", NULL), ==, drop);
  g_assert_cmpint (find_seq (argv, "--cap-add", "CAP_SYS_ADMIN", "--cap-add", NULL), ==, -1);
}

/* the value after @option (between the init and the entrypoint), or NULL */
static const char *
init_option (GPtrArray *argv, const char *option)
{
  int i = find_arg (argv, option);

  return i > 0 && (guint) i + 1 < argv->len ? argv->pdata[i + 1] : NULL;
}

static void
test_argv_docker_capabilities_and_init (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = pd_test_probe_config (
    "\"Linux\": {\"Capabilities\": [\"CAP_SYS_ADMIN\"]}");
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(GPtrArray) argv = NULL;
  PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);
  const char *const expected[] = {
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_MKNOD", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID",
    "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_ADMIN", "CAP_SYS_CHROOT", NULL
  };
  g_auto(GStrv) effective = NULL;
  int dashdash;

  /* Docker's default set and the asked-for one, sorted, once each */
  spec.capabilities = PD_SANDBOX_CAPABILITIES_DOCKER;
  effective = pd_sandbox_effective_capabilities (&spec, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (effective, expected);
  argv = pd_sandbox_build_argv (&spec, &error);
  g_assert_no_error (error);
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_cmpint (find_seq (argv, "--cap-add", expected[i], NULL), >, 0);
  g_clear_pointer (&argv, g_ptr_array_unref);

  /* with the init: it runs first, as root keeping the effective set, bounded by it */
  spec.init_fd = 5;
  spec.sync_fd = 6;
  spec.info_fd = 3;
  argv = pd_sandbox_build_argv (&spec, &error);
  g_assert_no_error (error);
  g_assert_cmpint (find_seq (argv, PD_TEST_BWRAP, "--info-fd", "3", "--as-pid-1", NULL), ==, 0);
  dashdash = end_of_options (argv);
  g_assert_cmpstr (argv->pdata[dashdash + 1], ==, "/proc/self/fd/5");
  g_assert_cmpstr (init_option (argv, "--sync-fd"), ==, "6");
  g_assert_cmpstr (init_option (argv, "--uid"), ==, "0");
  g_assert_cmpstr (init_option (argv, "--gid"), ==, "0");
  /* Docker's a80425fb (as "docker run" shows it) and CAP_SYS_ADMIN (21) */
  g_assert_cmpstr (init_option (argv, "--caps"), ==, "a82425fb");
  g_assert_cmpstr (init_option (argv, "--bounding"), ==, "a82425fb");
  g_assert_cmpstr (argv->pdata[argv->len - 2], ==, "--");
  g_assert_cmpstr (argv->pdata[argv->len - 1], ==, "/probe");
  g_clear_pointer (&argv, g_ptr_array_unref);

  /* only what was asked: bwrap still gives the init what it needs to switch users, and the
   * init keeps only CAP_SYS_ADMIN; another uid keeps what it asked for, bounded by the rest */
  spec.capabilities = PD_SANDBOX_CAPABILITIES_REQUESTED;
  config->has_user = TRUE;
  config->user_uid = 1000;
  config->user_gid = 100;
  argv = pd_sandbox_build_argv (&spec, &error);
  g_assert_no_error (error);
  g_assert_cmpint (find_seq (argv, "--cap-drop", "ALL", "--cap-add", "CAP_SETGID", "--cap-add",
                             "CAP_SETPCAP", "--cap-add", "CAP_SETUID", "--cap-add",
                             "CAP_SYS_ADMIN", NULL), >, 0);
  g_assert_cmpstr (init_option (argv, "--uid"), ==, "1000");
  g_assert_cmpstr (init_option (argv, "--gid"), ==, "100");
  g_assert_cmpstr (init_option (argv, "--caps"), ==, "200000");
  g_assert_cmpstr (init_option (argv, "--bounding"), ==, "200000");
  g_clear_pointer (&argv, g_ptr_array_unref);

  spec.capabilities = PD_SANDBOX_CAPABILITIES_DOCKER;
  argv = pd_sandbox_build_argv (&spec, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (init_option (argv, "--caps"), ==, "200000");
  g_assert_cmpstr (init_option (argv, "--bounding"), ==, "a82425fb");
}

static void
test_sys_submounts (void)
{
  const char *mountinfo =
    "22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
    "23 22 0:6 / /sys/kernel/security rw shared:8 - securityfs securityfs rw\n"
    "24 22 0:22 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro\n"
    "25 24 0:23 / /sys/fs/cgroup/memory rw shared:10 - cgroup cgroup rw,memory\n"
    "26 22 0:24 / /sys/fs/bpf rw shared:11 - bpf bpf rw\n"
    "27 22 0:7 / /sys/kernel/debug rw shared:12 - debugfs debugfs rw\n"
    "28 27 0:12 / /sys/kernel/debug/tracing rw shared:13 - tracefs tracefs rw\n"
    "29 22 0:25 / /sys/a\\040b rw shared:14 - configfs configfs rw\n"
    "30 1 0:26 / /system rw shared:15 - ext4 /dev/sda rw\n";
  g_auto(GStrv) mask = pd_sandbox_sys_submounts_to_mask (mountinfo);
  const char *const expected[] = {
    "/sys/a b", "/sys/fs/bpf", "/sys/kernel/debug", "/sys/kernel/security", NULL
  };

  /* the cgroup tree stays; a point under a masked one is covered with it; escapes decoded */
  g_assert_cmpstrv (mask, expected);
}

static void
test_argv_mounts (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = build (
    "\"Mounts\": ["
    " {\"Source\": \"/srv/rw\", \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\", \"rshared\"]},"
    " {\"Source\": \"/srv/ro\", \"Destination\": \"/config\", \"Type\": \"bind\", \"Options\": [\"bind\", \"ro\", \"nosuid\"]},"
    " {\"Source\": \"tmpfs\", \"Destination\": \"/scratch\", \"Type\": \"tmpfs\", \"Options\": [\"size=16m\", \"mode=700\"]},"
    " {\"Source\": \"tmpfs\", \"Destination\": \"/frozen\", \"Type\": \"tmpfs\", \"Options\": [\"ro\"]}],"
    " \"PropagatedMount\": \"/mnt/volumes\"",
    &error);

  /* PropagatedMount needs its host dir */
  g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
  g_assert_null (argv);
  g_clear_error (&error);

  {
    g_autoptr(PdPluginConfig) config = pd_test_probe_config (
      "\"Mounts\": ["
      " {\"Source\": \"/srv/rw\", \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\", \"rshared\"]},"
      " {\"Source\": \"/srv/ro\", \"Destination\": \"/config\", \"Type\": \"bind\", \"Options\": [\"bind\", \"ro\", \"nosuid\"]},"
      " {\"Source\": \"tmpfs\", \"Destination\": \"/scratch\", \"Type\": \"tmpfs\", \"Options\": [\"size=16m\", \"mode=700\"]},"
      " {\"Source\": \"tmpfs\", \"Destination\": \"/frozen\", \"Type\": \"tmpfs\", \"Options\": [\"ro\"]}],"
      " \"PropagatedMount\": \"/mnt/volumes\"");
    g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
    PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);
    int runtime;

    spec.propagated_mount_dir = "/var/lib/plugind/plugins/x/propagated-mount";
    argv = pd_sandbox_build_argv (&spec, &error);
    g_assert_no_error (error);
    /* the set-up step mounts it, not bwrap, whose binds are slaves (test_propagate.py) */
    g_assert_cmpint (find_seq (argv, "/var/lib/plugind/plugins/x/propagated-mount", NULL), <, 0);
    g_assert_cmpint (find_seq (argv, "/mnt/volumes", NULL), <, 0);
    g_assert_cmpint (find_seq (argv, "--bind", "/srv/rw", "/data", NULL), >, 0);
    g_assert_cmpint (find_seq (argv, "--ro-bind", "/srv/ro", "/config", NULL), >, 0);
    g_assert_cmpint (find_seq (argv, "--perms", "0700", "--size", "16777216", "--tmpfs", "/scratch", NULL), >, 0);
    g_assert_cmpint (find_seq (argv, "--tmpfs", "/frozen", "--remount-ro", "/frozen", NULL), >, 0);
    /* the socket dir comes after every config mount */
    runtime = find_seq (argv, "--bind", PD_TEST_RUNTIME, "/run/docker/plugins", NULL);
    g_assert_cmpint (runtime, >, find_seq (argv, "--tmpfs", "/frozen", NULL));
    g_assert_cmpint (runtime, >, find_seq (argv, "--ro-bind", "/srv/ro", "/config", NULL));
  }
}

static void
test_argv_devices_env_args (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (
    "{\"Entrypoint\": [\"/bin/plugin\", \"--serve\"], \"WorkDir\": \"/srv\","
    " \"Env\": [{\"Name\": \"DEBUG\", \"Value\": \"1\"}, {\"Name\": \"UNSET\", \"Value\": null},"
    "          {\"Name\": \"PATH\", \"Value\": \"/opt/bin\"}],"
    " \"Args\": {\"Name\": \"args\", \"Settable\": [\"value\"], \"Value\": [\"--bind\", \"/\", \"/\"]},"
    " \"Linux\": {\"Devices\": [{\"Path\": \"/dev/null\"}, {\"Path\": \"/dev/zero\"}]}}");
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);
  g_autoptr(GPtrArray) argv = pd_sandbox_build_argv (&spec, &error);
  int dashdash;

  g_assert_no_error (error);
  g_assert_cmpint (find_seq (argv, "--dev-bind", "/dev/null", "/dev/null", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--dev-bind", "/dev/zero", "/dev/zero", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--dev", "/dev", NULL), <, find_arg (argv, "--dev-bind"));
  g_assert_cmpint (find_seq (argv, "--chdir", "/srv", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--setenv", "DEBUG", "1", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--setenv", "UNSET", NULL), ==, -1);
  /* the plugin's PATH after the default one: it wins */
  g_assert_cmpint (find_seq (argv, "--setenv", "PATH", "/opt/bin", NULL), >,
                   find_seq (argv, "--setenv", "PATH", PD_SANDBOX_DEFAULT_PATH, NULL));
  /* option-like args only ever follow "--" */
  dashdash = end_of_options (argv);
  g_assert_cmpint (find_seq (argv, "--", "/bin/plugin", "--serve", "--bind", "/", "/", NULL), ==, dashdash);
  g_assert_cmpuint (dashdash + 6, ==, argv->len);
}

typedef void (*Breaker) (PdPluginConfig *config, PdPluginSettings *settings);

static void
break_null_source (PdPluginConfig *c, PdPluginSettings *s)
{
  PdConfigMount *m = g_ptr_array_index (s->mounts, 0);
  g_clear_pointer (&m->source, g_free);
}

static void
break_mount_type (PdPluginConfig *c, PdPluginSettings *s)
{
  PdConfigMount *m = g_ptr_array_index (s->mounts, 0);
  g_free (m->type);
  m->type = g_strdup ("nfs");
}

static void
set_destination (PdPluginSettings *s, const char *dest)
{
  PdConfigMount *m = g_ptr_array_index (s->mounts, 0);
  g_free (m->destination);
  m->destination = g_strdup (dest);
}

static void break_dest_socket_dir (PdPluginConfig *c, PdPluginSettings *s) { set_destination (s, "/run/docker/plugins"); }
static void break_dest_under_socket_dir (PdPluginConfig *c, PdPluginSettings *s) { set_destination (s, "/run/docker/plugins/x.sock"); }
static void break_dest_proc (PdPluginConfig *c, PdPluginSettings *s) { set_destination (s, "/proc/sys"); }
static void break_dest_root (PdPluginConfig *c, PdPluginSettings *s) { set_destination (s, "/"); }
static void break_dest_dotdot (PdPluginConfig *c, PdPluginSettings *s) { set_destination (s, "/data/../run/docker/plugins"); }
static void break_dest_relative (PdPluginConfig *c, PdPluginSettings *s) { set_destination (s, "data"); }
static void break_dest_slashes (PdPluginConfig *c, PdPluginSettings *s) { set_destination (s, "/run//docker/plugins"); }

static void
break_relative_source (PdPluginConfig *c, PdPluginSettings *s)
{
  PdConfigMount *m = g_ptr_array_index (s->mounts, 0);
  g_free (m->source);
  m->source = g_strdup ("srv/data");
}

static void
break_option (PdPluginConfig *c, PdPluginSettings *s)
{
  PdConfigMount *m = g_ptr_array_index (s->mounts, 0);
  g_strfreev (m->options);
  m->options = g_strsplit ("rbind,noexec", ",", -1);
}

static void
break_device_null (PdPluginConfig *c, PdPluginSettings *s)
{
  PdConfigDevice *d = g_new0 (PdConfigDevice, 1);
  d->settable = g_new0 (char *, 1);
  g_ptr_array_add (s->devices, d);
}

static void
break_device_outside (PdPluginConfig *c, PdPluginSettings *s)
{
  PdConfigDevice *d = g_new0 (PdConfigDevice, 1);
  d->settable = g_new0 (char *, 1);
  d->path = g_strdup ("/etc/shadow");
  g_ptr_array_add (s->devices, d);
}

static void
break_entrypoint (PdPluginConfig *c, PdPluginSettings *s)
{
  g_strfreev (c->entrypoint);
  c->entrypoint = g_new0 (char *, 1);
}

static void
break_capability (PdPluginConfig *c, PdPluginSettings *s)
{
  g_strfreev (c->linux_capabilities);
  c->linux_capabilities = g_strsplit ("CAP_SYS_ADMIN,cap_bogus", ",", -1);
}

static void
break_env (PdPluginConfig *c, PdPluginSettings *s)
{
  g_strfreev (s->env);
  s->env = g_strsplit ("=value", ",", -1);
}

static void
break_workdir (PdPluginConfig *c, PdPluginSettings *s)
{
  g_free (c->workdir);
  c->workdir = g_strdup ("/run/docker/plugins");
}

/* Nested destinations: bwrap would create the inner one through the host dir behind the outer
 * one, following whatever symlink the plugin planted there. The config validator refuses
 * them too; these are made past it, as the record of an older plugind could hold them. */
static void
break_nested_propagated (PdPluginConfig *c, PdPluginSettings *s)
{
  g_free (c->propagated_mount);
  c->propagated_mount = g_strdup ("/data/sub");
}

static void
break_same_as_propagated (PdPluginConfig *c, PdPluginSettings *s)
{
  g_free (c->propagated_mount);
  c->propagated_mount = g_strdup ("/data/");
}

/* the set-up step mounts PropagatedMount on a dir of the rootfs: bwrap's /dev and the host's
 * /sys have none */
static void
break_propagated_in_dev (PdPluginConfig *c, PdPluginSettings *s)
{
  g_free (c->propagated_mount);
  c->propagated_mount = g_strdup ("/dev/volumes");
}

static void
break_propagated_in_sys (PdPluginConfig *c, PdPluginSettings *s)
{
  g_free (c->propagated_mount);
  c->propagated_mount = g_strdup ("/sys");
}

static void
break_nested_mounts (PdPluginConfig *c, PdPluginSettings *s)
{
  PdConfigMount *inner = g_new0 (PdConfigMount, 1);

  /* the outer one later in the list */
  inner->source = g_strdup ("tmpfs");
  inner->destination = g_strdup ("/data/cache");
  inner->type = g_strdup ("tmpfs");
  inner->options = g_new0 (char *, 1);
  inner->settable = g_new0 (char *, 1);
  g_ptr_array_insert (s->mounts, 0, inner);
}

static void
break_nested_socket_dir (PdPluginConfig *c, PdPluginSettings *s)
{
  set_destination (s, "/run");
}

static void
break_nested_hosts (PdPluginConfig *c, PdPluginSettings *s)
{
  g_free (c->network_type);
  c->network_type = g_strdup ("host");
  set_destination (s, "/etc");
}

static void
test_argv_rejects (void)
{
  static const struct {
    Breaker breaker;
    const char *message;
  } cases[] = {
    { break_null_source, "mount source is not specified" },
    { break_mount_type, "mount type nfs is not supported" },
    { break_dest_socket_dir, "reserved by the sandbox" },
    { break_dest_under_socket_dir, "reserved by the sandbox" },
    { break_dest_proc, "reserved by the sandbox" },
    { break_dest_root, "reserved by the sandbox" },
    { break_dest_dotdot, "not a clean absolute path" },
    { break_dest_relative, "not a clean absolute path" },
    { break_dest_slashes, "not a clean absolute path" },
    { break_relative_source, "not a clean absolute path" },
    { break_option, "mount option noexec of /data is not supported" },
    { break_device_null, "device path is not specified" },
    { break_device_outside, "not a clean path under /dev/" },
    { break_entrypoint, "no entrypoint" },
    { break_capability, "capability cap_bogus is not known" },
    { break_env, "is not NAME=value" },
    { break_workdir, "reserved by the sandbox" },
    { break_nested_propagated, "mount destination /data/sub is at or under mount destination /data:" },
    { break_same_as_propagated, "mount destination /data is at or under mount destination /data/:" },
    { break_propagated_in_dev, "PropagatedMount must not be at or under /dev or /sys" },
    { break_propagated_in_sys, "PropagatedMount must not be at or under /dev or /sys" },
    { break_nested_mounts, "mount destination /data/cache is at or under mount destination /data:" },
    { break_nested_socket_dir, "mount destination /run/docker/plugins is at or under mount destination /run:" },
    { break_nested_hosts, "mount destination /etc/hosts is at or under mount destination /etc:" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdPluginConfig) config = pd_test_probe_config (
        "\"Mounts\": [{\"Source\": \"/srv/data\", \"Destination\": \"/data\", \"Type\": \"bind\","
        " \"Options\": [\"rbind\"]}]");
      g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
      PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);
      g_autoptr(GPtrArray) argv = NULL;

      spec.propagated_mount_dir = "/var/lib/plugind/plugins/x/propagated-mount";
      cases[i].breaker (config, settings);
      argv = pd_sandbox_build_argv (&spec, &error);
      g_test_message ("case %" G_GSIZE_FORMAT ": %s", i, error ? error->message : "(no error)");
      g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
      g_assert_nonnull (strstr (error->message, cases[i].message));
      g_assert_null (argv);
    }
}

static gboolean
dir_is_empty (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);

  g_assert_nonnull (dir);
  return g_dir_read_name (dir) == NULL;
}

static void
assert_type (const char *rootfs, const char *path, mode_t type)
{
  g_autofree char *full = g_build_filename (rootfs, path, NULL);
  struct stat st;

  g_assert_no_errno (lstat (full, &st));
  g_assert_cmpint (st.st_mode & S_IFMT, ==, type);
}

static void
test_prepare_rootfs (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *file_source = g_build_filename (fixture->base, "file-source", NULL);
  g_autofree char *json = NULL;
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  PdSandboxSpec spec;

  g_assert_true (g_file_set_contents (file_source, "x", -1, NULL));
  json = g_strdup_printf (
    "{\"Entrypoint\": [\"/probe\"], \"WorkDir\": \"/srv/work\", \"Network\": {\"Type\": \"bridge\"},"
    " \"PropagatedMount\": \"/mnt/volumes\","
    " \"Mounts\": [{\"Source\": \"%s\", \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\"]},"
    "  {\"Source\": \"%s\", \"Destination\": \"/etc/app/app.conf\", \"Type\": \"bind\", \"Options\": [\"rbind\", \"ro\"]},"
    "  {\"Source\": \"tmpfs\", \"Destination\": \"/cache\", \"Type\": \"tmpfs\", \"Options\": []},"
    "  {\"Source\": \"tmpfs\", \"Destination\": \"/dev/special\", \"Type\": \"tmpfs\", \"Options\": []}]}",
    fixture->outside, file_source);
  config = pd_test_parse_config (json);
  settings = pd_plugin_settings_new_from_config (config);
  spec = pd_test_sandbox_spec (config, settings);
  spec.rootfs = fixture->rootfs;
  spec.runtime_dir = fixture->runtime;

  g_assert_true (pd_sandbox_prepare_rootfs (&spec, &error));
  g_assert_no_error (error);
  assert_type (fixture->rootfs, "dev", S_IFDIR);
  assert_type (fixture->rootfs, "proc", S_IFDIR);
  assert_type (fixture->rootfs, "sys", S_IFDIR);
  assert_type (fixture->rootfs, "run/docker/plugins", S_IFDIR);
  assert_type (fixture->rootfs, "srv/work", S_IFDIR);
  assert_type (fixture->rootfs, "mnt/volumes", S_IFDIR);
  assert_type (fixture->rootfs, "data", S_IFDIR);
  assert_type (fixture->rootfs, "etc/app/app.conf", S_IFREG);
  assert_type (fixture->rootfs, "cache", S_IFDIR);
  assert_type (fixture->rootfs, "etc/hosts", S_IFREG);
  assert_type (fixture->rootfs, "etc/resolv.conf", S_IFREG);
  /* /dev is bwrap's tmpfs: nothing for it in the rootfs */
  {
    g_autofree char *special = g_build_filename (fixture->rootfs, "dev", "special", NULL);
    g_assert_false (g_file_test (special, G_FILE_TEST_EXISTS));
  }

  /* again: everything exists already, nothing fails */
  g_assert_true (pd_sandbox_prepare_rootfs (&spec, &error));
  g_assert_no_error (error);
}

static void
test_prepare_rootfs_symlinks (PdTestSandboxFixture *fixture, gconstpointer user_data)
{
  static const struct {
    const char *link;     /* inside the rootfs */
    const char *extra;    /* config members */
  } cases[] = {
    /* rootfs/etc -> outside: /etc/hosts must not be created through it */
    { "etc", "\"Network\": {\"Type\": \"host\"}" },
    /* the final component of a file mount point */
    { "etc/hosts", "\"Network\": {\"Type\": \"host\"}" },
    { "run", "" },
    { "proc", "" },
    { "srv", "\"WorkDir\": \"/srv/work\"" },
    { "data", "\"Mounts\": [{\"Source\": \"tmpfs\", \"Destination\": \"/data/x\", \"Type\": \"tmpfs\", \"Options\": []}]" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdPluginConfig) config = pd_test_probe_config (cases[i].extra);
      g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
      g_autofree char *link = g_build_filename (fixture->rootfs, cases[i].link, NULL);
      g_autofree char *parent = g_path_get_dirname (link);
      PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);

      g_test_message ("symlink at %s", cases[i].link);
      spec.rootfs = fixture->rootfs;
      spec.runtime_dir = fixture->runtime;
      g_assert_no_errno (g_mkdir_with_parents (parent, 0755));
      /* what an earlier case created there */
      pd_test_rm_rf (link);
      g_assert_no_errno (symlink (fixture->outside, link));

      g_assert_false (pd_sandbox_prepare_rootfs (&spec, &error));
      g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
      g_assert_nonnull (strstr (error->message, "is a symlink"));
      /* nothing was written through the link */
      g_assert_true (dir_is_empty (fixture->outside));

      g_assert_no_errno (unlink (link));
    }

  /* a rootfs may hold FIFOs now: one where a file is bind-mounted is refused, not used */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(PdPluginConfig) config = pd_test_probe_config ("\"Network\": {\"Type\": \"host\"}");
    g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
    g_autofree char *hosts = g_build_filename (fixture->rootfs, "etc", "hosts", NULL);
    PdSandboxSpec spec = pd_test_sandbox_spec (config, settings);

    spec.rootfs = fixture->rootfs;
    spec.runtime_dir = fixture->runtime;
    pd_test_rm_rf (hosts);
    g_assert_no_errno (mkfifo (hosts, 0644));
    g_assert_false (pd_sandbox_prepare_rootfs (&spec, &error));
    g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
    g_assert_nonnull (strstr (error->message, "is not a regular file"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/sandbox/argv/defaults", test_argv_defaults);
  g_test_add_func ("/sandbox/argv/network", test_argv_network);
  g_test_add_func ("/sandbox/argv/host-namespaces", test_argv_host_namespaces);
  g_test_add_func ("/sandbox/argv/capabilities", test_argv_capabilities);
  g_test_add_func ("/sandbox/argv/docker-capabilities-and-init",
                   test_argv_docker_capabilities_and_init);
  g_test_add_func ("/sandbox/argv/mounts", test_argv_mounts);
  g_test_add_func ("/sandbox/sys-submounts", test_sys_submounts);
  g_test_add_func ("/sandbox/argv/devices-env-args", test_argv_devices_env_args);
  g_test_add_func ("/sandbox/argv/rejects", test_argv_rejects);
  pd_test_add_sandbox_test ("/sandbox/rootfs/prepare", test_prepare_rootfs);
  pd_test_add_sandbox_test ("/sandbox/rootfs/symlinks", test_prepare_rootfs_symlinks);

  return g_test_run ();
}
