/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "plugind"

/* memfd_create, F_ADD_SEALS */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "pd-sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-path.h"
#include "pd-sandbox-private.h"

/* Docker's /dev/shm */
#define SHM_SIZE (64 * 1024 * 1024)

/* Docker's masked paths (moby's default OCI spec): files get /dev/null bound over them,
 * dirs an empty read-only tmpfs. Only those the host kernel has are masked, since bwrap
 * cannot create a mount point inside procfs or the read-only /sys. */
static const char *const masked_files[] = {
  "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug",
  "/proc/timer_list", "/proc/timer_stats",
};
static const char *const masked_dirs[] = {
  "/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
};

/* what the init needs besides the plugin's capabilities, and drops before the entrypoint */
static const char *const init_capabilities[] = { "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID" };
static const char *const docker_capabilities[] = { PD_SANDBOX_DOCKER_CAPABILITIES };

gboolean
pd_sandbox_fail (GError **error, const char *format, ...)
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
    return pd_sandbox_fail (error, "%s \"%s\" is not a clean absolute path", what,
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
      return pd_sandbox_fail (error, "%s \"%s\" is not a clean absolute path", what, escaped);
    }
  /* the plugin's own mounts must not hide or replace what the sandbox is made of: its root,
   * the fresh procfs (and with it the masked and read-only parts) and the socket dir that
   * plugind reads */
  if (g_str_equal (dest, "/") || pd_path_is_at_or_under (dest, "/proc")
      || pd_path_is_at_or_under (dest, PD_SANDBOX_PLUGIN_SOCKET_DIR))
    return pd_sandbox_fail (error, "%s \"%s\" is reserved by the sandbox", what, dest);
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
      return pd_sandbox_fail (error, "mount type %s is not supported", escaped);
    }

  /* Docker's text, for the same null */
  if (mount->source == NULL)
    return pd_sandbox_fail (error, "mount source is not specified");
  if (!is_tmpfs && !check_host_path ("mount source", mount->source, error))
    return FALSE;

  for (guint i = 0; mount->options != NULL && mount->options[i] != NULL; i++)
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
      /* known limit (docs/plugind.8.rst, SANDBOX): bwrap makes every mount a slave */
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
              return pd_sandbox_fail (error, "mount option %s of %s is not a valid size", escaped,
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
              return pd_sandbox_fail (error, "mount option %s of %s is not a valid mode", escaped,
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
          return pd_sandbox_fail (error, "mount option %s of %s is not supported", escaped,
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

gboolean
pd_sandbox_capability_mask (const char *const *capabilities, guint64 *mask, GError **error)
{
  guint64 result = 0;

  for (guint i = 0; capabilities != NULL && capabilities[i] != NULL; i++)
    {
      int cap = pd_linux_capability_from_name (capabilities[i]);

      if (cap < 0 || cap > 63)
        {
          g_autofree char *escaped = pd_escape_untrusted (capabilities[i], -1);
          return pd_sandbox_fail (error, "capability %s is not known", escaped);
        }
      result |= G_GUINT64_CONSTANT (1) << cap;
    }
  *mask = result;
  return TRUE;
}

gboolean
pd_sandbox_check_capabilities (const char *const *capabilities, GError **error)
{
  for (guint i = 0; capabilities != NULL && capabilities[i] != NULL; i++)
    if (pd_linux_capability_from_name (capabilities[i]) < 0)
      {
        g_autofree char *escaped = pd_escape_untrusted (capabilities[i], -1);
        return pd_sandbox_fail (error, "capability %s is not known", escaped);
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

  if (!pd_sandbox_check_capabilities (requested, error))
    return NULL;
  if (spec->capabilities == PD_SANDBOX_CAPABILITIES_REQUESTED)
    return merge_capabilities (NULL, 0, requested);
  return merge_capabilities (docker_capabilities, G_N_ELEMENTS (docker_capabilities), requested);
}

GStrv
pd_sandbox_with_init_capabilities (const char *const *effective)
{
  return merge_capabilities (init_capabilities, G_N_ELEMENTS (init_capabilities), effective);
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

      return pd_sandbox_fail (error,
                              "mount destination %s is at or under mount destination %s: "
                              "mounts cannot be nested",
                              escaped_inner, escaped_outer);
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

GPtrArray *
pd_sandbox_build_argv_full (const PdSandboxSpec *spec, GString *env_args, GError **error)
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
    return pd_sandbox_fail (error, "the rootfs must not be the host's /"), NULL;
  if (has_network
      && (!check_host_path ("hosts file", spec->hosts_path ? spec->hosts_path : "/etc/hosts", error)
          || !check_host_path ("resolv.conf", spec->resolv_conf_path ? spec->resolv_conf_path
                                                                     : "/etc/resolv.conf",
                               error)))
    return NULL;
  if (config->entrypoint == NULL || config->entrypoint[0] == NULL
      || config->entrypoint[0][0] == '\0')
    return pd_sandbox_fail (error, "the plugin has no entrypoint"), NULL;
  effective = pd_sandbox_effective_capabilities (spec, error);
  if (effective == NULL)
    return NULL;
  /* the init switches the user and narrows the sets itself: it starts with what it needs */
  bwrap_caps = spec->init_fd >= 0
                 ? pd_sandbox_with_init_capabilities ((const char *const *) effective)
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
        return pd_sandbox_fail (error, "the plugin has a PropagatedMount but no "
                                "propagated-mount dir was given"), NULL;
      if (!check_host_path ("propagated-mount dir", spec->propagated_mount_dir, error))
        return NULL;
      /* not bound here: a bwrap bind is a slave, from which nothing reaches the host. The set-up
       * step puts a shared clone of the dir there (pd_sandbox_finish_setup()), on the dir
       * pd_sandbox_prepare_rootfs() made in the rootfs: bwrap's /dev and the host's /sys have
       * no such dir */
      if (pd_path_is_at_or_under (config->propagated_mount, "/dev")
          || pd_path_is_at_or_under (config->propagated_mount, "/sys"))
        return pd_sandbox_fail (error, "PropagatedMount must not be at or under /dev or /sys"),
               NULL;
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
        return pd_sandbox_fail (error, "device path is not specified"), NULL;
      escaped = pd_escape_untrusted (device->path, -1);
      if (!pd_plugin_device_path_is_valid (device->path)
          || !pd_path_is_clean_absolute (device->path))
        return pd_sandbox_fail (error, "device path %s is not a clean path under /dev/",
                                escaped), NULL;
      /* checked here for a message that names the device, rather than bwrap's */
      if (stat (device->path, &st) != 0)
        return pd_sandbox_fail (error, "device %s: %s", escaped, g_strerror (errno)), NULL;
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
        return pd_sandbox_fail (error, "env entry \"%s\" is not NAME=value", escaped), NULL;
      if (pd_string_has_control_chars (entry))
        return pd_sandbox_fail (error, "env var \"%s\" holds control characters", escaped), NULL;
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
      if (!pd_sandbox_capability_mask ((const char *const *) effective, &bounding, error)
          || !pd_sandbox_capability_mask (uid == 0 ? (const char *const *) effective
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
  return pd_sandbox_build_argv_full (spec, NULL, error);
}

/* ---- sealed data for bwrap ---- */

int
pd_sandbox_memfd_from_data (const void *data, gsize len, const char *name, GError **error)
{
  int fd = memfd_create (name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

  if (fd < 0)
    return pd_sandbox_fail (error, "memfd_create: %s", g_strerror (errno)), -1;
  if (!pd_write_all (fd, data, len, NULL)
      || lseek (fd, 0, SEEK_SET) != 0
      || fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    {
      int errsv = errno;

      close (fd);
      return pd_sandbox_fail (error, "cannot write %s: %s", name, g_strerror (errsv)), -1;
    }
  return fd;
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
          return pd_sandbox_fail (error, "cannot chmod %s in the plugin rootfs: %s", shown,
                                  g_strerror (errsv)), -1;
        }
      if (fd >= 0)
        return fd;
      if (errno != ENOENT)
        {
          int errsv = errno;

          if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
            return pd_sandbox_fail (error, "%s in the plugin rootfs is a symlink", shown), -1;
          if (errsv == ENOTDIR || errsv == ELOOP)
            return pd_sandbox_fail (error, "%s in the plugin rootfs is not a directory", shown), -1;
          return pd_sandbox_fail (error, "cannot open %s in the plugin rootfs: %s", shown,
                                  g_strerror (errsv)), -1;
        }
      if (mkdirat (dirfd, name, 0755) == 0)
        made = TRUE;
      else if (errno != EEXIST)
        return pd_sandbox_fail (error, "cannot create %s in the plugin rootfs: %s", shown,
                                g_strerror (errno)), -1;
    }
  return pd_sandbox_fail (error, "cannot open %s in the plugin rootfs", shown), -1;
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
    return pd_sandbox_fail (error, "dup: %s", g_strerror (errno));

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
                ok = pd_sandbox_fail (error, "cannot chmod %s in the plugin rootfs: %s", shown->str,
                                      g_strerror (errno));
              close (fd);
            }
          else if (errno != EEXIST)
            ok = pd_sandbox_fail (error, "cannot create %s in the plugin rootfs: %s", shown->str,
                                  g_strerror (errno));
          else if (fstatat (dirfd, parts[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
            ok = pd_sandbox_fail (error, "cannot stat %s in the plugin rootfs: %s", shown->str,
                                  g_strerror (errno));
          else if (S_ISLNK (st.st_mode))
            ok = pd_sandbox_fail (error, "%s in the plugin rootfs is a symlink", shown->str);
          else if (!S_ISREG (st.st_mode))
            ok = pd_sandbox_fail (error, "%s in the plugin rootfs is not a regular file",
                                  shown->str);
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
    return pd_sandbox_fail (error, "the rootfs must not be the host's /");

  /* the rootfs path itself is plugind's own and trusted; only what is inside is not */
  rootfd = open (spec->rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0)
    return pd_sandbox_fail (error, "cannot open the plugin rootfs %s: %s", spec->rootfs,
                            g_strerror (errno));

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
              ok = pd_sandbox_fail (error, "mount source %s: %s", mount->source,
                                    g_strerror (errno));
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
        ok = pd_sandbox_fail (error, "cannot hand the socket dir %s to uid %u: %s",
                              spec->runtime_dir, (guint) uid, g_strerror (errno));
      if (fd >= 0)
        close (fd);
    }
  return ok;
}

