/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "plugind"

/* memfd_create, O_PATH, F_ADD_SEALS */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "pd-sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-json.h"
#include "pd-names.h"

/* Docker's /dev/shm */
#define SHM_SIZE (64 * 1024 * 1024)

/* fd numbers in bwrap's fd table (pd_sandbox_spawn) */
#define INFO_FD_TARGET 3
#define SECCOMP_FD_TARGET 4
#define INIT_FD_TARGET 5
#define SYNC_FD_TARGET 6
#define ARGS_FD_TARGET 7
/* plugind-sandbox-init is a small static binary; anything far larger is not it */
#define INIT_MAX_SIZE (16 * 1024 * 1024)
/* bwrap's --info-fd JSON is a few lines */
#define INFO_MAX_SIZE 4096

/* Docker's masked paths (daemon/pkg/oci/defaults.go): files get /dev/null bound over them,
 * dirs an empty read-only tmpfs. Only those the host kernel has are masked, since bwrap
 * cannot create a mount point inside procfs or the read-only /sys. */
static const char *const masked_files[] = {
  "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug",
  "/proc/timer_list", "/proc/timer_stats",
};
static const char *const masked_dirs[] = {
  "/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
};

/* Docker's read-only paths (daemon/pkg/oci/defaults.go), made read-only by
 * pd_sandbox_finish_setup(): bwrap only does it for the entries access(W_OK) calls writable,
 * which the kernel never says of the /proc/sys dir itself */
static const char *const readonly_paths[] = {
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* what the init needs besides the plugin's capabilities, and drops before the entrypoint */
static const char *const init_capabilities[] = { "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID" };
static const char *const docker_capabilities[] = { PD_SANDBOX_DOCKER_CAPABILITIES };

static gboolean G_GNUC_PRINTF (2, 3)
fail (GError **error, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (PD_ERROR, PD_ERROR_SANDBOX_FAILED, format, args));
  va_end (args);
  return FALSE;
}

static void
add (GPtrArray *argv, const char *arg)
{
  g_ptr_array_add (argv, g_strdup (arg));
}

static void
add2 (GPtrArray *argv, const char *opt, const char *arg)
{
  add (argv, opt);
  add (argv, arg);
}

static void
add3 (GPtrArray *argv, const char *opt, const char *a, const char *b)
{
  add (argv, opt);
  add (argv, a);
  add (argv, b);
}

static gboolean
check_host_path (const char *what, const char *path, GError **error)
{
  if (!pd_path_is_clean_absolute (path))
    return fail (error, "%s \"%s\" is not a clean absolute path", what,
                 path != NULL ? path : "(null)");
  return TRUE;
}

/* a destination inside the sandbox that a config may name */
static gboolean
check_destination (const char *what, const char *dest, GError **error)
{
  g_autofree char *escaped = NULL;

  if (dest == NULL || !pd_path_is_clean_absolute (dest))
    {
      escaped = dest != NULL ? pd_escape_untrusted (dest, -1) : g_strdup ("(null)");
      return fail (error, "%s \"%s\" is not a clean absolute path", what, escaped);
    }
  /* the plugin's own mounts must not hide or replace what the sandbox is made of: its root,
   * the fresh procfs (and with it the masked and read-only parts) and the socket dir that
   * plugind reads */
  if (g_str_equal (dest, "/") || pd_path_is_at_or_under (dest, "/proc")
      || pd_path_is_at_or_under (dest, PD_SANDBOX_PLUGIN_SOCKET_DIR))
    return fail (error, "%s \"%s\" is reserved by the sandbox", what, dest);
  return TRUE;
}

/* "size=64m" → bytes, as tmpfs reads it (k, m, g suffixes, powers of 1024) */
static gboolean
parse_tmpfs_size (const char *value, guint64 *out)
{
  char *end = NULL;
  guint64 n;
  guint shift = 0;

  if (!g_ascii_isdigit (value[0]))
    return FALSE;
  errno = 0;
  n = g_ascii_strtoull (value, &end, 10);
  if (errno != 0)
    return FALSE;
  if (*end == 'k' || *end == 'K')
    shift = 10, end++;
  else if (*end == 'm' || *end == 'M')
    shift = 20, end++;
  else if (*end == 'g' || *end == 'G')
    shift = 30, end++;
  if (*end != '\0' || n == 0 || n > (G_MAXUINT64 >> shift))
    return FALSE;
  *out = n << shift;
  return TRUE;
}

static gboolean
is_propagation_option (const char *opt)
{
  static const char *const flags[] = {
    "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (flags); i++)
    if (g_str_equal (opt, flags[i]))
      return TRUE;
  return FALSE;
}

static gboolean
add_mount (GPtrArray *argv, const PdConfigMount *mount, GError **error)
{
  const char *type = mount->type != NULL && mount->type[0] != '\0' ? mount->type : "bind";
  gboolean is_tmpfs;
  gboolean readonly = FALSE;
  g_autofree char *size = NULL;
  g_autofree char *mode = NULL;

  if (!check_destination ("mount destination", mount->destination, error))
    return FALSE;

  if (g_str_equal (type, "tmpfs"))
    is_tmpfs = TRUE;
  else if (g_str_equal (type, "bind") || g_str_equal (type, "rbind"))
    is_tmpfs = FALSE;
  else
    {
      g_autofree char *escaped = pd_escape_untrusted (type, -1);
      return fail (error, "mount type %s is not supported", escaped);
    }

  /* Docker's text, for the same null */
  if (mount->source == NULL)
    return fail (error, "mount source is not specified");
  if (!is_tmpfs && !check_host_path ("mount source", mount->source, error))
    return FALSE;

  for (guint i = 0; mount->options[i] != NULL; i++)
    {
      const char *opt = mount->options[i];

      if (g_str_equal (opt, "ro"))
        readonly = TRUE;
      else if (g_str_equal (opt, "rw"))
        readonly = FALSE;
      /* bwrap makes every bind mount nosuid, and nodev unless it is a --dev-bind; tmpfs
       * mounts are made nodev,nosuid below */
      else if (g_str_equal (opt, "nosuid") || g_str_equal (opt, "nodev"))
        ;
      /* known limit (architecture.md decision 1): bwrap makes every mount a slave */
      else if (is_propagation_option (opt))
        ;
      else if (!is_tmpfs && (g_str_equal (opt, "bind") || g_str_equal (opt, "rbind")))
        ;
      else if (is_tmpfs && g_str_has_prefix (opt, "size="))
        {
          guint64 bytes;

          if (!parse_tmpfs_size (opt + 5, &bytes))
            {
              g_autofree char *escaped = pd_escape_untrusted (opt, -1);
              return fail (error, "mount option %s of %s is not a valid size", escaped,
                           mount->destination);
            }
          g_free (size);
          size = g_strdup_printf ("%" G_GUINT64_FORMAT, bytes);
        }
      else if (is_tmpfs && g_str_has_prefix (opt, "mode="))
        {
          const char *m = opt + 5;
          gsize len = strlen (m);

          if (len == 0 || len > 4 || strspn (m, "01234567") != len)
            {
              g_autofree char *escaped = pd_escape_untrusted (opt, -1);
              return fail (error, "mount option %s of %s is not a valid mode", escaped,
                           mount->destination);
            }
          g_free (mode);
          mode = g_strdup_printf ("%04o", (unsigned) strtoul (m, NULL, 8));
        }
      else
        {
          /* an option bwrap cannot apply (noexec, exec, dev, suid, ...) fails rather than
           * leave the plugin with a mount other than the one its config describes */
          g_autofree char *escaped = pd_escape_untrusted (opt, -1);
          return fail (error, "mount option %s of %s is not supported", escaped,
                       mount->destination);
        }
    }

  if (is_tmpfs)
    {
      if (mode != NULL)
        add2 (argv, "--perms", mode);
      if (size != NULL)
        add2 (argv, "--size", size);
      add2 (argv, "--tmpfs", mount->destination);
      if (readonly)
        add2 (argv, "--remount-ro", mount->destination);
    }
  else
    add3 (argv, readonly ? "--ro-bind" : "--bind", mount->source, mount->destination);
  return TRUE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static gint
compare_string_pointers (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* the mount points under /sys in @mountinfo (its format: proc(5)), but /sys/fs/cgroup and
 * what is under it, and nothing under a point already listed; octal escapes decoded */
GStrv
pd_sandbox_sys_submounts_to_mask (const char *mountinfo)
{
  g_auto(GStrv) lines = g_strsplit (mountinfo, "\n", -1);
  g_autoptr(GPtrArray) points = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (lines[i], " ", 6);
      g_autofree char *point = NULL;

      if (g_strv_length (fields) < 5)
        continue;
      point = g_strcompress (fields[4]);
      if (g_str_has_prefix (point, "/sys/") && !pd_path_is_at_or_under (point, "/sys/fs/cgroup"))
        g_ptr_array_add (points, g_steal_pointer (&point));
    }
  g_ptr_array_sort (points, (GCompareFunc) compare_string_pointers);
  for (guint i = 0; i < points->len; i++)
    {
      const char *point = g_ptr_array_index (points, i);
      gboolean covered = FALSE;

      for (guint k = 0; k < out->len && !covered; k++)
        covered = pd_path_is_at_or_under (point, g_ptr_array_index (out, k));
      if (!covered)
        g_ptr_array_add (out, g_strdup (point));
    }
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (out, FALSE);
}

static gboolean
capability_mask (const char *const *capabilities, guint64 *mask, GError **error)
{
  guint64 result = 0;

  for (guint i = 0; capabilities != NULL && capabilities[i] != NULL; i++)
    {
      int cap = pd_linux_capability_from_name (capabilities[i]);

      if (cap < 0 || cap > 63)
        {
          g_autofree char *escaped = pd_escape_untrusted (capabilities[i], -1);
          return fail (error, "capability %s is not known", escaped);
        }
      result |= G_GUINT64_CONSTANT (1) << cap;
    }
  *mask = result;
  return TRUE;
}

static gboolean
check_capabilities (const char *const *capabilities, GError **error)
{
  for (guint i = 0; capabilities != NULL && capabilities[i] != NULL; i++)
    if (pd_linux_capability_from_name (capabilities[i]) < 0)
      {
        g_autofree char *escaped = pd_escape_untrusted (capabilities[i], -1);
        return fail (error, "capability %s is not known", escaped);
      }
  return TRUE;
}

/* @first and @second, sorted and each once, as a new strv */
static GStrv
merge_capabilities (const char *const *first, gsize n_first, const char *const *second)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new ();
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (gsize i = 0; i < n_first; i++)
    g_ptr_array_add (all, (gpointer) first[i]);
  for (guint i = 0; second != NULL && second[i] != NULL; i++)
    g_ptr_array_add (all, (gpointer) second[i]);
  g_ptr_array_sort (all, compare_strings);
  for (guint i = 0; i < all->len; i++)
    if (i == 0 || !g_str_equal (all->pdata[i], all->pdata[i - 1]))
      g_strv_builder_add (builder, all->pdata[i]);
  return g_strv_builder_end (builder);
}

GStrv
pd_sandbox_effective_capabilities (const PdSandboxSpec *spec, GError **error)
{
  const char *const *requested = (const char *const *) spec->config->linux_capabilities;

  if (!check_capabilities (requested, error))
    return NULL;
  if (spec->capabilities == PD_SANDBOX_CAPABILITIES_REQUESTED)
    return merge_capabilities (NULL, 0, requested);
  return merge_capabilities (docker_capabilities, G_N_ELEMENTS (docker_capabilities), requested);
}

/* A destination bwrap creates through whatever the path holds: one under a bind mount is made
 * in the host dir behind it, following any symlink the plugin planted there. So no
 * destination may be at or under another (a tmpfs included, for one rule); the checks of
 * each destination on its own come first. */
static gboolean
check_destinations_apart (const PdSandboxSpec *spec, gboolean has_network, GError **error)
{
  const PdPluginConfig *config = spec->config;
  const PdPluginSettings *settings = spec->settings;
  g_autoptr(GPtrArray) dests = g_ptr_array_new ();
  guint inner, outer;

  if (config->propagated_mount != NULL && config->propagated_mount[0] != '\0')
    g_ptr_array_add (dests, config->propagated_mount);
  for (guint i = 0; settings->mounts != NULL && i < settings->mounts->len; i++)
    g_ptr_array_add (dests, ((PdConfigMount *) g_ptr_array_index (settings->mounts, i))->destination);
  for (guint i = 0; settings->devices != NULL && i < settings->devices->len; i++)
    g_ptr_array_add (dests, ((PdConfigDevice *) g_ptr_array_index (settings->devices, i))->path);
  g_ptr_array_add (dests, (gpointer) PD_SANDBOX_PLUGIN_SOCKET_DIR);
  if (has_network)
    {
      g_ptr_array_add (dests, (gpointer) "/etc/hosts");
      g_ptr_array_add (dests, (gpointer) "/etc/resolv.conf");
    }

  if (pd_paths_find_nested (dests, &inner, &outer))
    {
      g_autofree char *escaped_inner = pd_escape_untrusted (dests->pdata[inner], -1);
      g_autofree char *escaped_outer = pd_escape_untrusted (dests->pdata[outer], -1);

      return fail (error, "mount destination %s is at or under mount destination %s: mounts "
                   "cannot be nested", escaped_inner, escaped_outer);
    }
  return TRUE;
}

/* appends --setenv NAME VALUE to @argv, or, with @env_args, NUL-separated to @env_args */
static void
add_setenv (GPtrArray *argv, GString *env_args, const char *name, const char *value)
{
  if (env_args == NULL)
    {
      add3 (argv, "--setenv", name, value);
      return;
    }
  g_string_append_len (env_args, "--setenv", sizeof "--setenv");
  g_string_append_len (env_args, name, strlen (name) + 1);
  g_string_append_len (env_args, value, strlen (value) + 1);
}

/* pd_sandbox_build_argv(); with @env_args, the plugin's environment goes there, for bwrap's
 * --args @spec->args_fd, rather than on bwrap's command line */
static GPtrArray *
build_argv (const PdSandboxSpec *spec, GString *env_args, GError **error)
{
  const PdPluginConfig *config;
  const PdPluginSettings *settings;
  g_autoptr(GPtrArray) argv = NULL;
  g_auto(GStrv) effective = NULL;
  g_auto(GStrv) bwrap_caps = NULL;
  gboolean host_net, has_network;
  const char *workdir;

  g_return_val_if_fail (spec != NULL, NULL);
  g_return_val_if_fail (spec->config != NULL, NULL);
  g_return_val_if_fail (spec->settings != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  config = spec->config;
  settings = spec->settings;
  host_net = g_strcmp0 (config->network_type, "host") == 0;
  has_network = config->network_type != NULL && config->network_type[0] != '\0';

  if (!check_host_path ("bwrap path", spec->bwrap_path, error)
      || !check_host_path ("rootfs", spec->rootfs, error)
      || !check_host_path ("runtime dir", spec->runtime_dir, error))
    return NULL;
  if (g_str_equal (spec->rootfs, "/"))
    return fail (error, "the rootfs must not be the host's /"), NULL;
  if (has_network
      && (!check_host_path ("hosts file", spec->hosts_path ? spec->hosts_path : "/etc/hosts", error)
          || !check_host_path ("resolv.conf", spec->resolv_conf_path ? spec->resolv_conf_path
                                                                     : "/etc/resolv.conf",
                               error)))
    return NULL;
  if (config->entrypoint == NULL || config->entrypoint[0] == NULL
      || config->entrypoint[0][0] == '\0')
    return fail (error, "the plugin has no entrypoint"), NULL;
  effective = pd_sandbox_effective_capabilities (spec, error);
  if (effective == NULL)
    return NULL;
  /* the init switches the user and narrows the sets itself: it starts with what it needs */
  bwrap_caps = spec->init_fd >= 0
                 ? merge_capabilities (init_capabilities, G_N_ELEMENTS (init_capabilities),
                                       (const char *const *) effective)
                 : g_strdupv (effective);

  argv = g_ptr_array_new_null_terminated (64, g_free, TRUE);
  add (argv, spec->bwrap_path);
  if (spec->info_fd >= 0)
    {
      g_autofree char *fd = g_strdup_printf ("%d", spec->info_fd);
      add2 (argv, "--info-fd", fd);
    }
  if (!config->pid_host)
    add (argv, "--as-pid-1");
  add (argv, "--die-with-parent");
  add (argv, "--new-session");

  /* the namespaces one by one rather than --unshare-all, which adds a user namespace
   * (--unshare-user-try) that would turn the granted capabilities into capabilities over
   * nothing, and has no way to keep the host's IPC or PID namespace */
  add (argv, "--unshare-uts");
  add (argv, "--unshare-cgroup-try");
  if (!config->ipc_host)
    add (argv, "--unshare-ipc");
  if (!config->pid_host)
    add (argv, "--unshare-pid");
  /* an empty Network.Type is a private namespace too (Docker's base spec has one) */
  if (!host_net)
    add (argv, "--unshare-net");

  add2 (argv, "--cap-drop", "ALL");
  for (guint i = 0; bwrap_caps[i] != NULL; i++)
    add2 (argv, "--cap-add", bwrap_caps[i]);

  /* Docker runs the rootfs read-write (moby's TODO: "all plugins should be readonly?") */
  add3 (argv, "--bind", spec->rootfs, "/");
  /* a fresh procfs; Docker's read-only paths in it come from pd_sandbox_finish_setup() */
  add2 (argv, "--proc", "/proc");
  add2 (argv, "--dev", "/dev");
  add2 (argv, "--perms", "1777");
  {
    g_autofree char *shm = g_strdup_printf ("%d", SHM_SIZE);
    add2 (argv, "--size", shm);
  }
  add2 (argv, "--tmpfs", "/dev/shm");
  /* an mqueue mount shows the queues of its IPC namespace: only a private one */
  if (!config->ipc_host)
    add2 (argv, "--mqueue", "/dev/mqueue");
  /* Docker mounts a read-only sysfs; bwrap has no sysfs of its own, so the host's, read-only.
   * With a private network namespace its class/net shows the host's interfaces (names only,
   * no access), which is what some device-driving volume plugins need anyway */
  add3 (argv, "--ro-bind", "/sys", "/sys");
  /* the bind is recursive: the host's debugfs, tracefs, securityfs, bpffs, efivarfs… under
   * /sys would come along, which Docker's fresh sysfs does not have; each is covered with an
   * empty read-only tmpfs (the cgroup tree stays, read-only, as in Docker) */
  {
    g_autofree char *mountinfo = NULL;
    g_auto(GStrv) submounts = NULL;

    if (g_file_get_contents ("/proc/self/mountinfo", &mountinfo, NULL, NULL))
      submounts = pd_sandbox_sys_submounts_to_mask (mountinfo);
    for (guint i = 0; submounts != NULL && submounts[i] != NULL; i++)
      {
        add2 (argv, "--perms", "0555");
        add2 (argv, "--tmpfs", submounts[i]);
        add2 (argv, "--remount-ro", submounts[i]);
      }
  }
  for (gsize i = 0; i < G_N_ELEMENTS (masked_files); i++)
    if (g_file_test (masked_files[i], G_FILE_TEST_EXISTS))
      add3 (argv, "--ro-bind", "/dev/null", masked_files[i]);
  for (gsize i = 0; i < G_N_ELEMENTS (masked_dirs); i++)
    if (g_file_test (masked_dirs[i], G_FILE_TEST_IS_DIR))
      {
        add2 (argv, "--perms", "0555");
        add2 (argv, "--tmpfs", masked_dirs[i]);
        add2 (argv, "--remount-ro", masked_dirs[i]);
      }

  if (config->propagated_mount != NULL && config->propagated_mount[0] != '\0')
    {
      if (!check_destination ("PropagatedMount", config->propagated_mount, error))
        return NULL;
      if (spec->propagated_mount_dir == NULL)
        return fail (error, "the plugin has a PropagatedMount but no propagated-mount dir "
                     "was given"), NULL;
      if (!check_host_path ("propagated-mount dir", spec->propagated_mount_dir, error))
        return NULL;
      add3 (argv, "--bind", spec->propagated_mount_dir, config->propagated_mount);
    }

  for (guint i = 0; settings->mounts != NULL && i < settings->mounts->len; i++)
    if (!add_mount (argv, g_ptr_array_index (settings->mounts, i), error))
      return NULL;

  for (guint i = 0; settings->devices != NULL && i < settings->devices->len; i++)
    {
      const PdConfigDevice *device = g_ptr_array_index (settings->devices, i);
      g_autofree char *escaped = NULL;
      struct stat st;

      if (device->path == NULL)
        return fail (error, "device path is not specified"), NULL;
      escaped = pd_escape_untrusted (device->path, -1);
      if (!pd_plugin_device_path_is_valid (device->path)
          || !pd_path_is_clean_absolute (device->path))
        return fail (error, "device path %s is not a clean path under /dev/", escaped), NULL;
      /* checked here for a message that names the device, rather than bwrap's */
      if (stat (device->path, &st) != 0)
        return fail (error, "device %s: %s", escaped, g_strerror (errno)), NULL;
      /* a dir (/dev/dri) is bound with everything in it, as Docker walks it */
      add3 (argv, "--dev-bind", device->path, device->path);
    }

  /* after the config mounts, so that none of them can cover the socket dir */
  add3 (argv, "--bind", spec->runtime_dir, PD_SANDBOX_PLUGIN_SOCKET_DIR);

  /* -try: a minimal host (a bare chroot, some containers) may have neither file; the
   * plugin then keeps the empty ones pd_sandbox_prepare_rootfs() made */
  if (has_network)
    {
      add3 (argv, "--ro-bind-try", spec->hosts_path ? spec->hosts_path : "/etc/hosts",
            "/etc/hosts");
      add3 (argv, "--ro-bind-try",
            spec->resolv_conf_path ? spec->resolv_conf_path : "/etc/resolv.conf",
            "/etc/resolv.conf");
    }

  if (!check_destinations_apart (spec, has_network, error))
    return NULL;

  workdir = config->workdir != NULL && config->workdir[0] != '\0' ? config->workdir : "/";
  if (!g_str_equal (workdir, "/") && !check_destination ("WorkDir", workdir, error))
    return NULL;
  add2 (argv, "--chdir", workdir);

  add (argv, "--clearenv");
  add_setenv (argv, env_args, "PATH", PD_SANDBOX_DEFAULT_PATH);
  for (guint i = 0; settings->env != NULL && settings->env[i] != NULL; i++)
    {
      const char *entry = settings->env[i];
      const char *eq = strchr (entry, '=');
      g_autofree char *name = g_strndup (entry, eq != NULL ? (gsize) (eq - entry) : strlen (entry));
      /* the value may be a secret: messages name the variable only */
      g_autofree char *escaped = pd_escape_untrusted (name, -1);

      if (eq == NULL || eq == entry)
        return fail (error, "env entry \"%s\" is not NAME=value", escaped), NULL;
      if (pd_string_has_control_chars (entry))
        return fail (error, "env var \"%s\" holds control characters", escaped), NULL;
      add_setenv (argv, env_args, name, eq + 1);
    }
  if (env_args != NULL)
    {
      g_autofree char *fd = g_strdup_printf ("%d", spec->args_fd);
      add2 (argv, "--args", fd);
    }

  if (spec->seccomp_fd >= 0)
    {
      g_autofree char *fd = g_strdup_printf ("%d", spec->seccomp_fd);
      add2 (argv, "--seccomp", fd);
    }

  add (argv, "--");
  if (spec->init_fd >= 0)
    {
      g_autofree char *init = g_strdup_printf ("/proc/self/fd/%d", spec->init_fd);
      g_autofree char *sync = g_strdup_printf ("%d", spec->sync_fd);
      guint32 uid = config->has_user ? config->user_uid : 0;
      guint32 gid = config->has_user ? config->user_gid : 0;
      g_autofree char *uid_text = g_strdup_printf ("%" G_GUINT32_FORMAT, uid);
      g_autofree char *gid_text = g_strdup_printf ("%" G_GUINT32_FORMAT, gid);
      g_autofree char *caps_text = NULL;
      g_autofree char *bounding_text = NULL;
      guint64 bounding = 0, caps = 0;

      /* root keeps the effective set; another uid keeps only what the plugin asked for, as
       * with Docker, whose default set does not survive the switch either */
      if (!capability_mask ((const char *const *) effective, &bounding, error)
          || !capability_mask (uid == 0 ? (const char *const *) effective
                                        : (const char *const *) config->linux_capabilities,
                               &caps, error))
        return NULL;
      caps_text = g_strdup_printf ("%" G_GINT64_MODIFIER "x", caps);
      bounding_text = g_strdup_printf ("%" G_GINT64_MODIFIER "x", bounding);
      add (argv, init);
      add2 (argv, "--sync-fd", sync);
      add2 (argv, "--uid", uid_text);
      add2 (argv, "--gid", gid_text);
      add2 (argv, "--caps", caps_text);
      add2 (argv, "--bounding", bounding_text);
      add (argv, "--");
    }
  for (guint i = 0; config->entrypoint[i] != NULL; i++)
    add (argv, config->entrypoint[i]);
  for (guint i = 0; settings->args != NULL && settings->args[i] != NULL; i++)
    add (argv, settings->args[i]);

  return g_steal_pointer (&argv);
}

GPtrArray *
pd_sandbox_build_argv (const PdSandboxSpec *spec, GError **error)
{
  return build_argv (spec, NULL, error);
}

/* ---- capabilities ---- */

static void
child_setup_die (const char *message)
{
  static const char prefix[] = "plugind: cannot narrow the capability bounding set: ";
  ssize_t r;

  /* write(2) and _exit(2) only: this runs between fork and exec */
  r = write (STDERR_FILENO, prefix, sizeof prefix - 1);
  r = write (STDERR_FILENO, message, strlen (message));
  r = write (STDERR_FILENO, "\n", 1);
  (void) r;
  _exit (127);
}

/* Runs between fork and the exec of bwrap (async-signal-safe), @user_data pointing at the
 * guint64 mask of what the sandbox may have. bwrap run by real root without a user namespace
 * leaves the bounding set full (it only narrows it with --unshare-user). This narrows it
 * before bwrap runs, after copying the permitted set into the inheritable one so that bwrap
 * still starts with every capability it needs for its set-up (for root, execve gives
 * inheritable | bounding); bwrap then narrows the other sets to its --cap-add ones, and the
 * init the bounding set to the plugin's. A failed step exits with 127 instead of running
 * bwrap. */
static void
child_setup (gpointer user_data)
{
  const guint64 mask = *(const guint64 *) user_data;
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];

  memset (data, 0, sizeof data);
  if (syscall (SYS_capget, &header, data) != 0)
    child_setup_die ("capget failed");
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (syscall (SYS_capset, &header, data) != 0)
    child_setup_die ("capset failed");
  for (int cap = 0; cap < 64; cap++)
    if ((mask & (G_GUINT64_CONSTANT (1) << cap)) == 0
        && prctl (PR_CAPBSET_DROP, (unsigned long) cap, 0, 0, 0) != 0 && errno != EINVAL)
      child_setup_die ("PR_CAPBSET_DROP failed");
}

/* ---- the initlayer ---- */

/* opens (creating it with @mode when missing) the dir @name of @dirfd without following a
 * symlink; @shown names it in messages */
static int
open_or_make_dir_at (int dirfd, const char *name, const char *shown, GError **error)
{
  gboolean made = FALSE;
  int fd;

  for (int attempt = 0; attempt < 2; attempt++)
    {
      struct stat st;

      fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      /* 0755 whatever the daemon's umask (0077): a plugin running as another user than root
       * must get through to its socket dir */
      if (fd >= 0 && made && fchmod (fd, 0755) != 0)
        {
          int errsv = errno;

          close (fd);
          return fail (error, "cannot chmod %s in the plugin rootfs: %s", shown,
                       g_strerror (errsv)), -1;
        }
      if (fd >= 0)
        return fd;
      if (errno != ENOENT)
        {
          int errsv = errno;

          if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
            return fail (error, "%s in the plugin rootfs is a symlink", shown), -1;
          if (errsv == ENOTDIR || errsv == ELOOP)
            return fail (error, "%s in the plugin rootfs is not a directory", shown), -1;
          return fail (error, "cannot open %s in the plugin rootfs: %s", shown,
                       g_strerror (errsv)), -1;
        }
      if (mkdirat (dirfd, name, 0755) == 0)
        made = TRUE;
      else if (errno != EEXIST)
        return fail (error, "cannot create %s in the plugin rootfs: %s", shown,
                     g_strerror (errno)), -1;
    }
  return fail (error, "cannot open %s in the plugin rootfs", shown), -1;
}

/* makes @path (clean, absolute, inside the rootfs at @rootfd) a dir, or an empty file when
 * @is_file, creating missing parents; nothing is ever followed through a symlink */
static gboolean
ensure_path (int rootfd, const char *path, gboolean is_file, GError **error)
{
  g_auto(GStrv) parts = NULL;
  g_autoptr(GString) shown = g_string_new ("");
  int dirfd;
  guint n;
  gboolean ok = TRUE;

  g_return_val_if_fail (pd_path_is_clean_absolute (path) && !g_str_equal (path, "/"), FALSE);

  parts = g_strsplit (path + 1, "/", -1);
  n = g_strv_length (parts);
  dirfd = dup (rootfd);
  if (dirfd < 0)
    return fail (error, "dup: %s", g_strerror (errno));

  for (guint i = 0; ok && i < n; i++)
    {
      g_string_append_c (shown, '/');
      g_string_append (shown, parts[i]);

      if (i + 1 == n && is_file)
        {
          struct stat st;
          int fd = openat (dirfd, parts[i],
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

          if (fd >= 0)
            {
              if (fchmod (fd, 0644) != 0)
                ok = fail (error, "cannot chmod %s in the plugin rootfs: %s", shown->str,
                           g_strerror (errno));
              close (fd);
            }
          else if (errno != EEXIST)
            ok = fail (error, "cannot create %s in the plugin rootfs: %s", shown->str,
                       g_strerror (errno));
          else if (fstatat (dirfd, parts[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
            ok = fail (error, "cannot stat %s in the plugin rootfs: %s", shown->str,
                       g_strerror (errno));
          else if (S_ISLNK (st.st_mode))
            ok = fail (error, "%s in the plugin rootfs is a symlink", shown->str);
          else if (S_ISDIR (st.st_mode))
            ok = fail (error, "%s in the plugin rootfs is a directory, not a file", shown->str);
        }
      else
        {
          int next = open_or_make_dir_at (dirfd, parts[i], shown->str, error);

          if (next < 0)
            ok = FALSE;
          else
            {
              close (dirfd);
              dirfd = next;
            }
        }
    }
  close (dirfd);
  return ok;
}

/* /dev and /sys are not the rootfs's (bwrap's tmpfs, the host's sysfs), /proc is refused */
static gboolean
is_in_rootfs (const char *path)
{
  return !pd_path_is_at_or_under (path, "/dev") && !pd_path_is_at_or_under (path, "/sys")
         && !pd_path_is_at_or_under (path, "/proc");
}

gboolean
pd_sandbox_prepare_rootfs (const PdSandboxSpec *spec, GError **error)
{
  static const char *const dirs[] = { "/dev", "/proc", "/sys", PD_SANDBOX_PLUGIN_SOCKET_DIR };
  const PdPluginConfig *config;
  const PdPluginSettings *settings;
  int rootfd;
  gboolean ok = TRUE;

  g_return_val_if_fail (spec != NULL && spec->config != NULL && spec->settings != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  config = spec->config;
  settings = spec->settings;
  if (!check_host_path ("rootfs", spec->rootfs, error))
    return FALSE;
  if (g_str_equal (spec->rootfs, "/"))
    return fail (error, "the rootfs must not be the host's /");

  /* the rootfs path itself is plugind's own and trusted; only what is inside is not */
  rootfd = open (spec->rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0)
    return fail (error, "cannot open the plugin rootfs %s: %s", spec->rootfs, g_strerror (errno));

  for (gsize i = 0; ok && i < G_N_ELEMENTS (dirs); i++)
    ok = ensure_path (rootfd, dirs[i], FALSE, error);

  if (ok && config->workdir != NULL && config->workdir[0] != '\0'
      && !g_str_equal (config->workdir, "/"))
    {
      ok = check_destination ("WorkDir", config->workdir, error);
      if (ok && is_in_rootfs (config->workdir))
        ok = ensure_path (rootfd, config->workdir, FALSE, error);
    }

  if (ok && config->propagated_mount != NULL && config->propagated_mount[0] != '\0')
    {
      ok = check_destination ("PropagatedMount", config->propagated_mount, error);
      if (ok && is_in_rootfs (config->propagated_mount))
        ok = ensure_path (rootfd, config->propagated_mount, FALSE, error);
    }

  for (guint i = 0; ok && settings->mounts != NULL && i < settings->mounts->len; i++)
    {
      const PdConfigMount *mount = g_ptr_array_index (settings->mounts, i);
      gboolean is_file = FALSE;

      ok = check_destination ("mount destination", mount->destination, error);
      if (!ok || !is_in_rootfs (mount->destination))
        continue;
      /* a bind of a file needs a file to mount on; the source is the admin's host path */
      if (g_strcmp0 (mount->type, "tmpfs") != 0 && mount->source != NULL)
        {
          struct stat st;

          if (stat (mount->source, &st) != 0)
            {
              ok = fail (error, "mount source %s: %s", mount->source, g_strerror (errno));
              continue;
            }
          is_file = !S_ISDIR (st.st_mode);
        }
      ok = ensure_path (rootfd, mount->destination, is_file, error);
    }

  if (ok && config->network_type != NULL && config->network_type[0] != '\0')
    ok = ensure_path (rootfd, "/etc/hosts", TRUE, error)
         && ensure_path (rootfd, "/etc/resolv.conf", TRUE, error);
  close (rootfd);

  /* the plugin makes its socket there as its Config.User */
  if (ok)
    {
      int fd = open (spec->runtime_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      uid_t uid = config->has_user ? config->user_uid : 0;
      gid_t gid = config->has_user ? config->user_gid : 0;

      if (fd < 0 || fchown (fd, uid, gid) != 0)
        ok = fail (error, "cannot hand the socket dir %s to uid %u: %s", spec->runtime_dir,
                   (guint) uid, g_strerror (errno));
      if (fd >= 0)
        close (fd);
    }
  return ok;
}

/* ---- the seccomp filter ---- */

/* Docker's default profile, the unconditional allow-list (arch-specific names of other
 * architectures included: they do not resolve on this one and are skipped). Left out on
 * purpose: ioctl, socket, personality, clone (rules below), modify_ldt, io_uring_* (see the
 * header) and the ptrace group (CAP_SYS_PTRACE). Added from Docker's later profiles: the
 * syscalls up to futex_requeue that libseccomp names. */
static const char *const allowed_syscalls[] = {
  "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
  "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
  "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
  "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
  "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
  "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
  "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
  "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
  "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
  "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
  "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
  "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
  "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
  "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
  "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
  "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
  "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
  "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
  "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
  "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
  "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
  "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
  "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
  "mkdir", "mkdirat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
  "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
  "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
  "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
  "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
  "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
  "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
  "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read",
  "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
  "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
  "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
  "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
  "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
  "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
  "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
  "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
  "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
  "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
  "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
  "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
  "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
  "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
  "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
  "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
  "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
  "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
  "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
  "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
  "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
  "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
  "writev",
  /* Docker's per-architecture entries */
  "sync_file_range2", "swapcontext", "arm_fadvise64_64", "arm_sync_file_range", "breakpoint",
  "cacheflush", "set_tls", "arch_prctl", "s390_pci_mmio_read", "s390_pci_mmio_write",
  "s390_runtime_instr", "riscv_flush_icache",
  NULL
};

typedef struct {
  const char *capability;
  const char *const syscalls[24];
} CapabilitySyscalls;

/* Docker's "includes": {"caps": [...]} entries; the ptrace group is Flatpak's stricter rule */
static const CapabilitySyscalls capability_syscalls[] = {
  { "CAP_DAC_READ_SEARCH", { "open_by_handle_at", NULL } },
  { "CAP_SYS_ADMIN", { "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
                       "fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount",
                       "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
                       "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2",
                       "unshare", NULL } },
  { "CAP_SYS_BOOT", { "reboot", NULL } },
  { "CAP_SYS_CHROOT", { "chroot", NULL } },
  { "CAP_SYS_MODULE", { "delete_module", "init_module", "finit_module", NULL } },
  { "CAP_SYS_PACCT", { "acct", NULL } },
  { "CAP_SYS_PTRACE", { "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                        "process_vm_writev", "ptrace", NULL } },
  { "CAP_SYS_RAWIO", { "iopl", "ioperm", NULL } },
  { "CAP_SYS_TIME", { "settimeofday", "stime", "clock_settime", "clock_settime64", NULL } },
  { "CAP_SYS_TTY_CONFIG", { "vhangup", NULL } },
  { "CAP_SYS_NICE", { "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node",
                      NULL } },
  { "CAP_SYSLOG", { "syslog", NULL } },
  { "CAP_BPF", { "bpf", NULL } },
  { "CAP_PERFMON", { "perf_event_open", NULL } },
};

/* without CAP_SYS_ADMIN these fail with ENOSYS, not EPERM (see the header) */
static const char *const enosys_without_sys_admin[] = {
  "clone3", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
  "mount_setattr", NULL
};

/* CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
 * CLONE_NEWNET: Docker's 2114060288 */
#define CLONE_NAMESPACE_FLAGS 0x7E020000u

static const char *
seccomp_strerror (int negative_errno)
{
  if (negative_errno == -EFAULT)
    return "internal libseccomp failure";
  return g_strerror (-negative_errno);
}

static gboolean
strv_contains (const char *const *strv, const char *s)
{
  return strv != NULL && g_strv_contains (strv, s);
}

/* adds @action for @name unless it does not exist on the native architecture */
static gboolean
add_named_rule (scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned int n_args,
                const struct scmp_arg_cmp *args, GError **error)
{
  int nr = seccomp_syscall_resolve_name (name);
  int r;

  /* __NR_SCMP_ERROR: unknown to libseccomp; negative pseudo numbers: another
   * architecture's syscall */
  if (nr < 0)
    return TRUE;
  r = seccomp_rule_add_array (ctx, action, nr, n_args, args);
  if (r < 0)
    return fail (error, "cannot add a seccomp rule for %s: %s", name, seccomp_strerror (r));
  return TRUE;
}

/* the highest syscall number libseccomp can name for the native architecture */
static int
highest_known_syscall (void)
{
  static gsize once = 0;
  static int highest = -1;

  if (g_once_init_enter (&once))
    {
      for (int nr = 0; nr < 4096; nr++)
        {
          char *name = seccomp_syscall_resolve_num_arch (SCMP_ARCH_NATIVE, nr);

          if (name != NULL)
            highest = nr;
          free (name);
        }
      g_once_init_leave (&once, 1);
    }
  return highest;
}

/* The prefix put before libseccomp's program, for what libseccomp 2.5 cannot say:
 * - a syscall number above every one libseccomp knows → ENOSYS (runc does the same by
 *   patching libseccomp's output);
 * - ioctl with TIOCSTI or TIOCLINUX in the low 32 bits of the request → EPERM, while every
 *   other ioctl stays allowed (libseccomp drops a conditional rule next to an unconditional
 *   one for the same syscall).
 * It only ever returns ENOSYS or EPERM or falls through to libseccomp's program, which checks
 * the architecture again; jumps are relative, so the program needs no change. */
static GArray *
build_prefix (int highest)
{
  const guint32 arch = seccomp_arch_native ();
  const guint32 arg1_low = offsetof (struct seccomp_data, args[1])
                           + (G_BYTE_ORDER == G_LITTLE_ENDIAN ? 0 : 4);
  const struct sock_filter prefix[] = {
    /* 0 */ BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch)),
    /* 1 */ BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, arch, 0, 9),
    /* 2 */ BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    /* x32 numbers (and any other with the high bits set) are libseccomp's to judge */
    /* 3 */ BPF_JUMP (BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 7, 0),
    /* 4 */ BPF_JUMP (BPF_JMP | BPF_JGT | BPF_K, (guint32) highest, 0, 1),
    /* 5 */ BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
    /* 6 */ BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (guint32) SCMP_SYS (ioctl), 0, 4),
    /* 7 */ BPF_STMT (BPF_LD | BPF_W | BPF_ABS, arg1_low),
    /* 8 */ BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (guint32) TIOCSTI, 1, 0),
    /* 9 */ BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (guint32) TIOCLINUX, 0, 1),
    /* 10 */ BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    /* 11: libseccomp's program */
  };
  GArray *array = g_array_sized_new (FALSE, FALSE, sizeof (struct sock_filter),
                                     G_N_ELEMENTS (prefix));

  g_array_append_vals (array, prefix, G_N_ELEMENTS (prefix));
  return array;
}

static gboolean
build_filter (scmp_filter_ctx ctx, const char *const *capabilities, PdSeccompFlags flags,
              GError **error)
{
  static const int allowed_families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET };
  /* Docker's five */
  static const scmp_datum_t personalities[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };
  gboolean sys_admin = strv_contains (capabilities, "CAP_SYS_ADMIN");
  gboolean net_raw = strv_contains (capabilities, "CAP_NET_RAW");
  g_autoptr(GHashTable) allowed = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer name;
  int last_family;
  int r;

  for (guint i = 0; capabilities != NULL && capabilities[i] != NULL; i++)
    if (pd_linux_capability_from_name (capabilities[i]) < 0)
      {
        g_autofree char *escaped = pd_escape_untrusted (capabilities[i], -1);
        return fail (error, "capability %s is not known", escaped);
      }

  /* the set of unconditionally allowed names, deduplicated, since libseccomp refuses a rule
   * that repeats one */
  for (guint i = 0; allowed_syscalls[i] != NULL; i++)
    g_hash_table_add (allowed, (gpointer) allowed_syscalls[i]);
  for (gsize i = 0; i < G_N_ELEMENTS (capability_syscalls); i++)
    if (strv_contains (capabilities, capability_syscalls[i].capability))
      for (guint j = 0; capability_syscalls[i].syscalls[j] != NULL; j++)
        g_hash_table_add (allowed, (gpointer) capability_syscalls[i].syscalls[j]);
  /* ioctl is allowed here; the prefix refuses TIOCSTI and TIOCLINUX before this runs */
  g_hash_table_add (allowed, (gpointer) "ioctl");

  g_hash_table_iter_init (&iter, allowed);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    if (!add_named_rule (ctx, SCMP_ACT_ALLOW, name, 0, NULL, error))
      return FALSE;

  if (!sys_admin)
    {
      /* clone without any namespace flag (CLONE_NEWUSER included) */
      struct scmp_arg_cmp clone_arg =
#if defined(__s390__) || defined(__s390x__)
        SCMP_A1 (SCMP_CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0);
#else
        SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0);
#endif
      if (!add_named_rule (ctx, SCMP_ACT_ALLOW, "clone", 1, &clone_arg, error))
        return FALSE;
      for (guint i = 0; enosys_without_sys_admin[i] != NULL; i++)
        if (!add_named_rule (ctx, SCMP_ACT_ERRNO (ENOSYS), enosys_without_sys_admin[i], 0, NULL,
                             error))
          return FALSE;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (personalities); i++)
    {
      struct scmp_arg_cmp arg = SCMP_A0 (SCMP_CMP_EQ, personalities[i]);

      if (!add_named_rule (ctx, SCMP_ACT_ALLOW, "personality", 1, &arg, error))
        return FALSE;
    }

  /* mknod(at) of anything but a device node: (mode & S_IFMT) is 0 (a regular file), S_IFREG,
   * S_IFIFO or S_IFSOCK */
  if (flags & PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES)
    {
      if (!add_named_rule (ctx, SCMP_ACT_ALLOW, "mknod", 0, NULL, error)
          || !add_named_rule (ctx, SCMP_ACT_ALLOW, "mknodat", 0, NULL, error))
        return FALSE;
    }
  else
    {
      static const scmp_datum_t types[] = { 0, S_IFREG, S_IFIFO, S_IFSOCK };

      for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
        {
          struct scmp_arg_cmp a1 = SCMP_A1 (SCMP_CMP_MASKED_EQ, S_IFMT, types[i]);
          struct scmp_arg_cmp a2 = SCMP_A2 (SCMP_CMP_MASKED_EQ, S_IFMT, types[i]);

          if (!add_named_rule (ctx, SCMP_ACT_ALLOW, "mknod", 1, &a1, error)
              || !add_named_rule (ctx, SCMP_ACT_ALLOW, "mknodat", 1, &a2, error))
            return FALSE;
        }
    }

  /* socket: the allowed families, every other one EAFNOSUPPORT; the rules never overlap, as
   * in Flatpak, so their order in the program does not matter */
  last_family = -1;
  for (gsize i = 0; i < G_N_ELEMENTS (allowed_families); i++)
    {
      int family = allowed_families[i];
      struct scmp_arg_cmp arg = SCMP_A0 (SCMP_CMP_EQ, (scmp_datum_t) family);

      if (family == AF_PACKET && !net_raw)
        continue;
      for (int other = last_family + 1; other < family; other++)
        {
          struct scmp_arg_cmp no = SCMP_A0 (SCMP_CMP_EQ, (scmp_datum_t) other);

          r = seccomp_rule_add_exact_array (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socket),
                                            1, &no);
          if (r < 0)
            return fail (error, "cannot add a seccomp rule for socket: %s", seccomp_strerror (r));
        }
      r = seccomp_rule_add_exact_array (ctx, SCMP_ACT_ALLOW, SCMP_SYS (socket), 1, &arg);
      if (r < 0)
        return fail (error, "cannot add a seccomp rule for socket: %s", seccomp_strerror (r));
      last_family = family;
    }
  {
    struct scmp_arg_cmp rest = SCMP_A0 (SCMP_CMP_GE, (scmp_datum_t) last_family + 1);

    r = seccomp_rule_add_exact_array (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socket), 1,
                                      &rest);
    if (r < 0)
      return fail (error, "cannot add a seccomp rule for socket: %s", seccomp_strerror (r));
  }

  return TRUE;
}

/* a close-on-exec memfd holding @data, positioned at 0 and sealed, so that nobody holding it
 * can change what bwrap reads */
static int
memfd_from_data (const void *data, gsize len, const char *name, GError **error)
{
  int fd = memfd_create (name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

  if (fd < 0)
    return fail (error, "memfd_create: %s", g_strerror (errno)), -1;
  if (!pd_write_all (fd, data, len, NULL)
      || lseek (fd, 0, SEEK_SET) != 0
      || fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    {
      int errsv = errno;

      close (fd);
      return fail (error, "cannot write %s: %s", name, g_strerror (errsv)), -1;
    }
  return fd;
}

int
pd_sandbox_compile_seccomp (const char *const *capabilities, PdSeccompFlags flags,
                            GError **error)
{
  g_auto(scmp_filter_ctx) ctx = NULL;
  g_autoptr(GArray) program = NULL;
  g_autofree guint8 *bpf = NULL;
  int highest = highest_known_syscall ();
  struct stat st;
  gsize bpf_len;
  int fd;
  int r;

  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (highest < 0)
    return fail (error, "libseccomp knows no syscall of this architecture"), -1;

  /* Docker's defaultErrnoRet */
  ctx = seccomp_init (SCMP_ACT_ERRNO (EPERM));
  if (ctx == NULL)
    return fail (error, "cannot create a seccomp filter"), -1;
  /* a binary search over the syscall numbers instead of a linear walk of 350 rules */
  r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (r < 0)
    return fail (error, "cannot configure the seccomp filter: %s", seccomp_strerror (r)), -1;
  if (!build_filter (ctx, capabilities, flags, error))
    return -1;

  /* libseccomp 2.5 exports only to an fd: export, read back, prepend */
  fd = memfd_create ("plugind-seccomp-export", MFD_CLOEXEC);
  if (fd < 0)
    return fail (error, "memfd_create: %s", g_strerror (errno)), -1;
  r = seccomp_export_bpf (ctx, fd);
  if (r < 0)
    {
      close (fd);
      return fail (error, "cannot export the seccomp filter: %s", seccomp_strerror (r)), -1;
    }
  if (fstat (fd, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof (struct sock_filter) != 0)
    {
      close (fd);
      return fail (error, "libseccomp exported a malformed filter"), -1;
    }
  bpf_len = st.st_size;
  bpf = g_malloc (bpf_len);
  if (pread (fd, bpf, bpf_len, 0) != (ssize_t) bpf_len)
    {
      close (fd);
      return fail (error, "cannot read back the seccomp filter"), -1;
    }
  close (fd);

  program = build_prefix (highest);
  g_array_append_vals (program, bpf, bpf_len / sizeof (struct sock_filter));
  /* the kernel's BPF_MAXINSNS */
  if (program->len > 4096)
    return fail (error, "the seccomp filter has too many instructions (%u)", program->len), -1;
  return memfd_from_data (program->data, program->len * sizeof (struct sock_filter),
                          "plugind-seccomp", error);
}

/* ---- start-up ---- */

G_LOCK_DEFINE_STATIC (init_memfd);
static int init_memfd = -1;

static char *
find_init (void)
{
  const char *env = g_getenv (PD_ENV_SANDBOX_INIT);

  if (env != NULL && env[0] != '\0')
    return g_strdup (env);
  return g_strdup (LIBEXECDIR "/plugind-sandbox-init");
}

/* a sealed memfd copy of @path: what runs in the sandbox can neither change the host's file
 * through /proc/PID/exe nor the copy */
static int
load_init (const char *path, GError **error)
{
  g_autoptr(GMappedFile) file = g_mapped_file_new (path, FALSE, NULL);
  gsize len = file != NULL ? g_mapped_file_get_length (file) : 0;
  int fd;

  if (len == 0 || len > INIT_MAX_SIZE)
    return fail (error, "the sandbox init %s cannot be read or is not a program", path), -1;
  fd = memfd_from_data (g_mapped_file_get_contents (file), len, "plugind-sandbox-init", error);
  if (fd >= 0 && fchmod (fd, 0555) != 0)
    {
      int errsv = errno;

      close (fd);
      return fail (error, "cannot make the sandbox init executable: %s", g_strerror (errsv)), -1;
    }
  return fd;
}

int
pd_sandbox_open_init (GError **error)
{
  int fd;

  G_LOCK (init_memfd);
  if (init_memfd < 0)
    {
      g_autofree char *path = find_init ();

      init_memfd = load_init (path, error);
    }
  fd = init_memfd >= 0 ? fcntl (init_memfd, F_DUPFD_CLOEXEC, 3) : -1;
  G_UNLOCK (init_memfd);
  if (fd < 0 && error != NULL && *error == NULL)
    fail (error, "cannot duplicate the sandbox init's fd: %s", g_strerror (errno));
  return fd;
}

void
pd_sandbox_process_free (PdSandboxProcess *process)
{
  if (process == NULL)
    return;
  g_clear_object (&process->subprocess);
  if (process->info_fd >= 0)
    close (process->info_fd);
  if (process->sync_fd >= 0)
    close (process->sync_fd);
  g_free (process);
}

static char *
find_bwrap (GError **error)
{
  char *found;

  if (g_file_test ("/usr/bin/bwrap", G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup ("/usr/bin/bwrap");
  found = g_find_program_in_path ("bwrap");
  if (found == NULL)
    fail (error, "bwrap is not installed");
  return found;
}

PdSandboxProcess *
pd_sandbox_spawn (const PdSandboxSpec *spec_in, GSubprocessFlags flags, GError **error)
{
  PdSandboxSpec spec = *spec_in;
  g_autofree char *bwrap = NULL;
  g_auto(GStrv) effective = NULL;
  g_auto(GStrv) needed = NULL;
  g_autoptr(GPtrArray) argv = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) subprocess = NULL;
  const char *empty_env[] = { NULL };
  PdSeccompFlags seccomp_flags = PD_SECCOMP_FLAGS_NONE;
  g_autoptr(GString) env_args = NULL;
  PdSandboxProcess *process;
  guint64 mask = 0;
  int seccomp_fd, init_fd, args_fd;
  int info_pipe[2];
  int sync_pair[2];

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (spec.bwrap_path == NULL)
    {
      bwrap = find_bwrap (error);
      if (bwrap == NULL)
        return NULL;
      spec.bwrap_path = bwrap;
    }
  spec.info_fd = INFO_FD_TARGET;
  spec.seccomp_fd = SECCOMP_FD_TARGET;
  spec.init_fd = INIT_FD_TARGET;
  spec.sync_fd = SYNC_FD_TARGET;
  spec.args_fd = ARGS_FD_TARGET;

  /* the environment (values may be secrets) through an fd: every local user can read a
   * command line in /proc */
  env_args = g_string_new (NULL);
  argv = build_argv (&spec, env_args, error);
  if (argv == NULL)
    return NULL;
  args_fd = memfd_from_data (env_args->str, env_args->len, "plugind-bwrap-args", error);
  if (args_fd < 0)
    return NULL;
  effective = pd_sandbox_effective_capabilities (&spec, error);
  needed = merge_capabilities (init_capabilities, G_N_ELEMENTS (init_capabilities),
                               (const char *const *) effective);
  if (!capability_mask ((const char *const *) needed, &mask, error))
    return NULL;
  if (spec.config->linux_allow_all_devices)
    seccomp_flags |= PD_SECCOMP_FLAGS_ALLOW_DEVICE_NODES;
  launcher = g_subprocess_launcher_new (flags);
  /* the launcher owns each fd from here, whatever fails next */
  g_subprocess_launcher_take_fd (launcher, args_fd, ARGS_FD_TARGET);
  seccomp_fd = pd_sandbox_compile_seccomp ((const char *const *) effective, seccomp_flags, error);
  if (seccomp_fd < 0)
    return NULL;
  g_subprocess_launcher_take_fd (launcher, seccomp_fd, SECCOMP_FD_TARGET);
  init_fd = pd_sandbox_open_init (error);
  if (init_fd < 0)
    return NULL;
  g_subprocess_launcher_take_fd (launcher, init_fd, INIT_FD_TARGET);
  if (pipe2 (info_pipe, O_CLOEXEC) != 0)
    return fail (error, "pipe: %s", g_strerror (errno)), NULL;
  g_subprocess_launcher_take_fd (launcher, info_pipe[1], INFO_FD_TARGET);
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_pair) != 0)
    {
      int errsv = errno;

      close (info_pipe[0]);
      return fail (error, "socketpair: %s", g_strerror (errsv)), NULL;
    }
  g_subprocess_launcher_take_fd (launcher, sync_pair[1], SYNC_FD_TARGET);

  g_subprocess_launcher_set_child_setup (launcher, child_setup, &mask, NULL);
  /* a clean environment: the plugin's comes from the argv (--setenv) */
  g_subprocess_launcher_set_environ (launcher, (char **) empty_env);
  subprocess = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  /* closes our copies of what the child got */
  g_subprocess_launcher_close (launcher);
  if (subprocess == NULL)
    {
      close (info_pipe[0]);
      close (sync_pair[0]);
      g_prefix_error (error, "Cannot run bwrap: ");
      pd_error_convert (error);
      (*error)->code = PD_ERROR_SANDBOX_FAILED;
      return NULL;
    }

  process = g_new0 (PdSandboxProcess, 1);
  process->subprocess = g_steal_pointer (&subprocess);
  process->info_fd = info_pipe[0];
  process->sync_fd = sync_pair[0];
  return process;
}

/* what the set-up process reports: SETUP_DONE, or the index of the step that failed (-1:
 * setns) and its errno. Its exit status is not what counts: under valgrind it is valgrind's. */
typedef struct {
  int step;
  int errsv;
} SetupReport;

#define SETUP_DONE G_MAXINT

static void G_GNUC_NORETURN
setup_child_report (int report_fd, int step, int errsv)
{
  SetupReport report = { step, errsv };
  ssize_t r = write (report_fd, &report, sizeof report);

  (void) r;
  _exit (step == SETUP_DONE ? 0 : 1);
}

/* the forked set-up process: async-signal-safe calls only. It is single-threaded, which
 * setns(CLONE_NEWNS) requires; it joins the sandbox's mount namespace, whose root is the
 * plugin's / (and the init, its only process, is waiting) */
static void G_GNUC_NORETURN
setup_child (int pidfd, const char *ns_path, int report_fd)
{
  if (pidfd < 0 || setns (pidfd, CLONE_NEWNS) != 0)
    {
      /* no pidfd, or a kernel before 5.8 that cannot setns() through one */
      int fd = open (ns_path, O_RDONLY | O_CLOEXEC);

      if (fd < 0 || setns (fd, CLONE_NEWNS) != 0)
        setup_child_report (report_fd, -1, errno);
    }
  /* bind each onto itself, then make that mount read-only, as runc does */
  for (int i = 0; i < (int) G_N_ELEMENTS (readonly_paths); i++)
    {
      const char *path = readonly_paths[i];

      if (mount (path, path, "none", MS_BIND | MS_REC, NULL) != 0)
        {
          if (errno == ENOENT)
            continue;
          setup_child_report (report_fd, i, errno);
        }
      if (mount (path, path, "none",
                 MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        setup_child_report (report_fd, i, errno);
    }
  setup_child_report (report_fd, SETUP_DONE, 0);
}

gboolean
pd_sandbox_finish_setup (const PdSandboxSpec *spec, int pidfd, pid_t pid, int sync_fd,
                         GError **error)
{
  char ns_path[64];
  SetupReport report;
  int report_pipe[2];
  pid_t child;
  ssize_t n;
  int status = 0;
  const char go = 'G';

  g_return_val_if_fail (pidfd >= 0 || pid > 0, FALSE);

  g_snprintf (ns_path, sizeof ns_path, "/proc/%d/ns/mnt", (int) pid);
  if (pipe2 (report_pipe, O_CLOEXEC) != 0)
    return fail (error, "pipe: %s", g_strerror (errno));
  child = fork ();
  if (child < 0)
    {
      int errsv = errno;

      close (report_pipe[0]);
      close (report_pipe[1]);
      return fail (error, "cannot fork the sandbox set-up: %s", g_strerror (errsv));
    }
  if (child == 0)
    setup_child (pidfd, ns_path, report_pipe[1]);

  close (report_pipe[1]);
  do
    n = read (report_pipe[0], &report, sizeof report);
  while (n < 0 && errno == EINTR);
  close (report_pipe[0]);
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  if (n != (ssize_t) sizeof report)
    return fail (error, "the sandbox set-up process failed (wait status %d)", status);
  if (report.step < 0)
    return fail (error, "cannot enter the sandbox's mount namespace: %s",
                 g_strerror (report.errsv));
  if (report.step != SETUP_DONE)
    return fail (error, "cannot make %s read-only in the sandbox: %s",
                 readonly_paths[report.step], g_strerror (report.errsv));

  do
    n = write (sync_fd, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    return fail (error, "cannot start the sandbox's init: %s",
                 n < 0 ? g_strerror (errno) : "short write");
  return TRUE;
}

pid_t
pd_sandbox_parse_info (const char *data, gsize len)
{
  /* bwrap's own few lines, bounded as any JSON from outside */
  g_autoptr(JsonNode) root = pd_json_parse (data, len, INFO_MAX_SIZE, NULL);
  JsonObject *object;
  gint64 pid;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  object = json_node_get_object (root);
  if (!json_object_has_member (object, "child-pid"))
    return 0;
  pid = json_object_get_int_member (object, "child-pid");
  return pid > 1 && pid <= G_MAXINT ? (pid_t) pid : 0;
}

gboolean
pd_sandbox_process_setup_sync (PdSandboxProcess *process, const PdSandboxSpec *spec,
                               guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  char info[INFO_MAX_SIZE + 1];
  gsize info_len = 0;
  gboolean ready = FALSE;
  pid_t pid = 0;
  int pidfd;
  gboolean ok;

  while (pid == 0 || !ready)
    {
      struct pollfd fds[2] = {
        { pid == 0 ? process->info_fd : -1, POLLIN, 0 },
        { ready ? -1 : process->sync_fd, POLLIN, 0 },
      };
      gint64 left = deadline - g_get_monotonic_time ();
      int r;

      if (left <= 0)
        return fail (error, "the sandbox did not get ready within %u ms", timeout_ms);
      r = poll (fds, 2, (int) MIN (left / 1000 + 1, G_MAXINT));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return fail (error, "poll: %s", g_strerror (errno));
      if (fds[0].revents != 0)
        {
          ssize_t n = read (process->info_fd, info + info_len, INFO_MAX_SIZE - info_len);

          if (n <= 0)
            return fail (error, "bwrap ended before it reported the sandbox's pid");
          info_len += (gsize) n;
          info[info_len] = '\0';
          pid = pd_sandbox_parse_info (info, info_len);
        }
      if (fds[1].revents != 0)
        {
          char byte = 0;
          ssize_t n = read (process->sync_fd, &byte, 1);

          if (n != 1 || byte != 'R')
            return fail (error, "the sandbox ended before it was set up");
          ready = TRUE;
        }
    }
  pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  ok = pd_sandbox_finish_setup (spec, pidfd, pid, process->sync_fd, error);
  if (pidfd >= 0)
    close (pidfd);
  return ok;
}
