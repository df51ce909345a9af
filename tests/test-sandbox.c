/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "test-sandbox"

/* F_GET_SEALS */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-plugin-config.h"
#include "pd-sandbox.h"
#include "pd-sandbox-start.h"
#include "pd-seccomp.h"

#define BWRAP "/usr/bin/bwrap"
#define ROOTFS "/var/lib/plugind/plugins/x/rootfs"
#define RUNTIME "/run/plugind/plugins/x"

/* the fd number bwrap reads the filter from in the real runs */
#define SECCOMP_TARGET_FD 3

static PdPluginConfig *
load_config (const char *json)
{
  g_autoptr(GError) error = NULL;
  PdPluginConfig *config = pd_plugin_config_new_from_data (json, strlen (json), &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

/* a config with Entrypoint ["/probe"] and @extra members */
static PdPluginConfig *
load_probe_config (const char *extra)
{
  g_autofree char *json = g_strdup_printf ("{\"Entrypoint\": [\"/probe\"]%s%s}",
                                           extra[0] != '\0' ? ", " : "", extra);
  return load_config (json);
}

static PdSandboxSpec
make_spec (const PdPluginConfig *config, const PdPluginSettings *settings)
{
  PdSandboxSpec spec = {
    .bwrap_path = BWRAP,
    .rootfs = ROOTFS,
    .runtime_dir = RUNTIME,
    .propagated_mount_dir = NULL,
    .config = config,
    .settings = settings,
    /* the exact set asked for, so that the argv shows it alone */
    .capabilities = PD_SANDBOX_CAPABILITIES_REQUESTED,
    .seccomp_fd = 7,
    .info_fd = -1,
    .init_fd = -1,
    .sync_fd = -1,
    .hosts_path = NULL,
    .resolv_conf_path = NULL,
  };
  return spec;
}

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
  g_autoptr(PdPluginConfig) config = load_probe_config (extra);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  PdSandboxSpec spec = make_spec (config, settings);

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
  g_assert_cmpstr (argv->pdata[0], ==, BWRAP);
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

  g_assert_cmpint (find_seq (argv, "--bind", ROOTFS, "/", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--proc", "/proc", NULL), >, find_seq (argv, "--bind", ROOTFS, "/", NULL));
  g_assert_cmpint (find_seq (argv, "--dev", "/dev", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--perms", "1777", "--size", "67108864", "--tmpfs", "/dev/shm", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--mqueue", "/dev/mqueue", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--ro-bind", "/sys", "/sys", NULL), >, 0);
  g_assert_cmpint (find_seq (argv, "--bind", RUNTIME, "/run/docker/plugins", NULL), >, 0);
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
  config = load_probe_config ("\"Network\": {\"Type\": \"host\"}");
  settings = pd_plugin_settings_new_from_config (config);
  spec = make_spec (config, settings);
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
  g_autoptr(PdPluginConfig) config = load_probe_config (
    "\"Linux\": {\"Capabilities\": [\"CAP_SYS_ADMIN\"]}");
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(GPtrArray) argv = NULL;
  PdSandboxSpec spec = make_spec (config, settings);
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
  g_assert_cmpint (find_seq (argv, BWRAP, "--info-fd", "3", "--as-pid-1", NULL), ==, 0);
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
    g_autoptr(PdPluginConfig) config = load_probe_config (
      "\"Mounts\": ["
      " {\"Source\": \"/srv/rw\", \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\", \"rshared\"]},"
      " {\"Source\": \"/srv/ro\", \"Destination\": \"/config\", \"Type\": \"bind\", \"Options\": [\"bind\", \"ro\", \"nosuid\"]},"
      " {\"Source\": \"tmpfs\", \"Destination\": \"/scratch\", \"Type\": \"tmpfs\", \"Options\": [\"size=16m\", \"mode=700\"]},"
      " {\"Source\": \"tmpfs\", \"Destination\": \"/frozen\", \"Type\": \"tmpfs\", \"Options\": [\"ro\"]}],"
      " \"PropagatedMount\": \"/mnt/volumes\"");
    g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
    PdSandboxSpec spec = make_spec (config, settings);
    int runtime;

    spec.propagated_mount_dir = "/var/lib/plugind/plugins/x/propagated-mount";
    argv = pd_sandbox_build_argv (&spec, &error);
    g_assert_no_error (error);
    g_assert_cmpint (find_seq (argv, "--bind", "/var/lib/plugind/plugins/x/propagated-mount",
                               "/mnt/volumes", NULL), >, 0);
    g_assert_cmpint (find_seq (argv, "--bind", "/srv/rw", "/data", NULL), >, 0);
    g_assert_cmpint (find_seq (argv, "--ro-bind", "/srv/ro", "/config", NULL), >, 0);
    g_assert_cmpint (find_seq (argv, "--perms", "0700", "--size", "16777216", "--tmpfs", "/scratch", NULL), >, 0);
    g_assert_cmpint (find_seq (argv, "--tmpfs", "/frozen", "--remount-ro", "/frozen", NULL), >, 0);
    /* the socket dir comes after every config mount */
    runtime = find_seq (argv, "--bind", RUNTIME, "/run/docker/plugins", NULL);
    g_assert_cmpint (runtime, >, find_seq (argv, "--tmpfs", "/frozen", NULL));
    g_assert_cmpint (runtime, >, find_seq (argv, "--ro-bind", "/srv/ro", "/config", NULL));
  }
}

static void
test_argv_devices_env_args (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = load_config (
    "{\"Entrypoint\": [\"/bin/plugin\", \"--serve\"], \"WorkDir\": \"/srv\","
    " \"Env\": [{\"Name\": \"DEBUG\", \"Value\": \"1\"}, {\"Name\": \"UNSET\", \"Value\": null},"
    "          {\"Name\": \"PATH\", \"Value\": \"/opt/bin\"}],"
    " \"Args\": {\"Name\": \"args\", \"Settable\": [\"value\"], \"Value\": [\"--bind\", \"/\", \"/\"]},"
    " \"Linux\": {\"Devices\": [{\"Path\": \"/dev/null\"}, {\"Path\": \"/dev/zero\"}]}}");
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  PdSandboxSpec spec = make_spec (config, settings);
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
    { break_nested_mounts, "mount destination /data/cache is at or under mount destination /data:" },
    { break_nested_socket_dir, "mount destination /run/docker/plugins is at or under mount destination /run:" },
    { break_nested_hosts, "mount destination /etc/hosts is at or under mount destination /etc:" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdPluginConfig) config = load_probe_config (
        "\"Mounts\": [{\"Source\": \"/srv/data\", \"Destination\": \"/data\", \"Type\": \"bind\","
        " \"Options\": [\"rbind\"]}]");
      g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
      PdSandboxSpec spec = make_spec (config, settings);
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

/* ---- the rootfs ---- */

typedef struct {
  char *base;
  char *rootfs;
  char *runtime;
  char *outside;   /* a dir a planted symlink points at: must stay empty */
} Fixture;

static void
fixture_set_up (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->base = g_dir_make_tmp ("test-sandbox-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->rootfs = g_build_filename (fixture->base, "rootfs", NULL);
  fixture->runtime = g_build_filename (fixture->base, "runtime", NULL);
  fixture->outside = g_build_filename (fixture->base, "outside", NULL);
  g_assert_no_errno (g_mkdir (fixture->rootfs, 0755));
  g_assert_no_errno (g_mkdir (fixture->runtime, 0700));
  g_assert_no_errno (g_mkdir (fixture->outside, 0755));
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;

  pd_rm_rf_at (AT_FDCWD, fixture->base, &error);
  g_assert_no_error (error);
  g_free (fixture->base);
  g_free (fixture->rootfs);
  g_free (fixture->runtime);
  g_free (fixture->outside);
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
test_prepare_rootfs (Fixture *fixture, gconstpointer user_data)
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
  config = load_config (json);
  settings = pd_plugin_settings_new_from_config (config);
  spec = make_spec (config, settings);
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
test_prepare_rootfs_symlinks (Fixture *fixture, gconstpointer user_data)
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
      g_autoptr(PdPluginConfig) config = load_probe_config (cases[i].extra);
      g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
      g_autofree char *link = g_build_filename (fixture->rootfs, cases[i].link, NULL);
      g_autofree char *parent = g_path_get_dirname (link);
      PdSandboxSpec spec = make_spec (config, settings);

      g_test_message ("symlink at %s", cases[i].link);
      spec.rootfs = fixture->rootfs;
      spec.runtime_dir = fixture->runtime;
      g_assert_no_errno (g_mkdir_with_parents (parent, 0755));
      /* what an earlier case created there */
      pd_rm_rf_at (AT_FDCWD, link, &error);
      g_assert_no_error (error);
      g_assert_no_errno (symlink (fixture->outside, link));

      g_assert_false (pd_sandbox_prepare_rootfs (&spec, &error));
      g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
      g_assert_nonnull (strstr (error->message, "is a symlink"));
      /* nothing was written through the link */
      g_assert_true (dir_is_empty (fixture->outside));

      g_assert_no_errno (unlink (link));
    }
}

/* ---- the filter ---- */

static void
test_seccomp_fd (void)
{
  g_autoptr(GError) error = NULL;
  const char *caps[] = { "CAP_SYS_ADMIN", NULL };
  const char *bad[] = { "CAP_NOPE", NULL };
  struct stat st;
  int seals;
  int fd;

  fd = pd_sandbox_compile_seccomp (caps, PD_SECCOMP_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (fcntl (fd, F_GETFD), ==, FD_CLOEXEC);
  g_assert_cmpint (lseek (fd, 0, SEEK_CUR), ==, 0);
  g_assert_no_errno (fstat (fd, &st));
  g_assert_cmpint (st.st_size, >, 0);
  g_assert_cmpint (st.st_size % sizeof (struct sock_filter), ==, 0);
  g_assert_cmpint (st.st_size / sizeof (struct sock_filter), <=, BPF_MAXINSNS);
  seals = fcntl (fd, F_GET_SEALS);
  g_assert_cmpint (seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), ==,
                   F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  /* nobody can change it any more */
  g_assert_cmpint (write (fd, "x", 1), ==, -1);
  close (fd);

  fd = pd_sandbox_compile_seccomp (NULL, PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  close (fd);

  fd = pd_sandbox_compile_seccomp (bad, PD_SECCOMP_FLAGS_NONE, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED);
  g_assert_cmpint (fd, ==, -1);
}

/* ---- real sandboxes ---- */

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
install_probe (Fixture *fixture)
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
  while (cmdline == NULL || !g_str_equal (cmdline, BWRAP))
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
run_probe (Fixture *fixture, const char *extra, PdSandboxCapabilities capabilities)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = load_probe_config (extra);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(PdSandboxProcess) sandbox = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  ProbeResult *result;
  PdSandboxSpec spec = make_spec (config, settings);

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
test_run_confined (Fixture *fixture, gconstpointer user_data)
{
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

  assert_ns (result, "mnt", FALSE);
  assert_ns (result, "uts", FALSE);
  assert_ns (result, "ipc", FALSE);
  assert_ns (result, "pid", FALSE);
  assert_ns (result, "net", FALSE);
  assert_ns (result, "cgroup", FALSE);
  /* no user namespace: the capabilities are real ones */
  assert_ns (result, "user", TRUE);

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

  assert_errno (result, "keyctl", EPERM);
  assert_errno (result, "kexec_load", EPERM);
  assert_errno (result, "open_by_handle_at", EPERM);
  assert_errno (result, "mount", EPERM);
  assert_errno (result, "unshare_user", EPERM);
  assert_errno (result, "ptrace", EPERM);
  assert_errno (result, "clone3", ENOSYS);
  assert_errno (result, "tiocsti", EPERM);
  assert_errno (result, "tcgets", ENOTTY);
  assert_errno (result, "socket_vsock", EAFNOSUPPORT);
  assert_errno (result, "socket_unix", 0);
  assert_errno (result, "newer_syscall", ENOSYS);
  assert_errno (result, "mknod_char", EPERM);
  assert_errno (result, "mknod_fifo", 0);
  assert_errno (result, "socket_dir", 0);
  assert_proc_protected (result, TRUE);
  /* CAP_SYS_CHROOT was not asked for: the filter refuses chroot */
  assert_errno (result, "chroot", EPERM);
}

static void
test_run_sys_admin_host (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(ProbeResult) result = run_probe (
    fixture,
    "\"Linux\": {\"Capabilities\": [\"CAP_SYS_ADMIN\"]}, \"IpcHost\": true, \"PidHost\": true,"
    " \"Network\": {\"Type\": \"host\"}",
    PD_SANDBOX_CAPABILITIES_REQUESTED);

  assert_caps (result, G_GUINT64_CONSTANT (1) << 21);
  g_assert_cmpstr (get (result, "NoNewPrivs"), ==, "1");
  g_assert_cmpstr (get (result, "Seccomp"), ==, "2");
  assert_ns (result, "mnt", FALSE);
  assert_ns (result, "uts", FALSE);
  assert_ns (result, "cgroup", FALSE);
  assert_ns (result, "ipc", TRUE);
  assert_ns (result, "pid", TRUE);
  assert_ns (result, "net", TRUE);
  assert_ns (result, "user", TRUE);

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
test_run_device_nodes (Fixture *fixture, gconstpointer user_data)
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
test_run_ptrace (Fixture *fixture, gconstpointer user_data)
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
test_run_docker_capabilities (Fixture *fixture, gconstpointer user_data)
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
test_run_user (Fixture *fixture, gconstpointer user_data)
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the daemon's: what it creates must not depend on the umask */
  umask (0077);

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
  g_test_add ("/sandbox/rootfs/prepare", Fixture, NULL, fixture_set_up, test_prepare_rootfs,
              fixture_tear_down);
  g_test_add ("/sandbox/rootfs/symlinks", Fixture, NULL, fixture_set_up,
              test_prepare_rootfs_symlinks, fixture_tear_down);
  g_test_add_func ("/sandbox/seccomp/fd", test_seccomp_fd);
  g_test_add ("/sandbox/run/confined", Fixture, NULL, fixture_set_up, test_run_confined,
              fixture_tear_down);
  g_test_add ("/sandbox/run/sys-admin-host", Fixture, NULL, fixture_set_up,
              test_run_sys_admin_host, fixture_tear_down);
  g_test_add ("/sandbox/run/device-nodes", Fixture, NULL, fixture_set_up, test_run_device_nodes,
              fixture_tear_down);
  g_test_add ("/sandbox/run/ptrace", Fixture, NULL, fixture_set_up, test_run_ptrace,
              fixture_tear_down);
  g_test_add ("/sandbox/run/docker-capabilities", Fixture, NULL, fixture_set_up,
              test_run_docker_capabilities, fixture_tear_down);
  g_test_add ("/sandbox/run/user", Fixture, NULL, fixture_set_up, test_run_user,
              fixture_tear_down);

  return g_test_run ();
}
