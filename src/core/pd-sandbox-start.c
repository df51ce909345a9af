/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "plugind"

/* O_PATH, F_DUPFD_CLOEXEC, setns */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "pd-sandbox-start.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif

#include "pd-error.h"
#include "pd-json.h"
#include "pd-names.h"
#include "pd-sandbox-private.h"
#include "pd-seccomp.h"

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

/* Docker's read-only paths (moby's default OCI spec), made read-only by
 * pd_sandbox_finish_setup(): bwrap only does it for the entries access(W_OK) calls writable,
 * which the kernel never says of the /proc/sys dir itself */
static const char *const readonly_paths[] = {
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* ---- the capability bounding set ---- */

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
    return pd_sandbox_fail (error, "the sandbox init %s cannot be read or is not a program",
                            path), -1;
  fd = pd_sandbox_memfd_from_data (g_mapped_file_get_contents (file), len,
                                   "plugind-sandbox-init", error);
  if (fd >= 0 && fchmod (fd, 0555) != 0)
    {
      int errsv = errno;

      close (fd);
      return pd_sandbox_fail (error, "cannot make the sandbox init executable: %s",
                              g_strerror (errsv)), -1;
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
    pd_sandbox_fail (error, "cannot duplicate the sandbox init's fd: %s", g_strerror (errno));
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
    pd_sandbox_fail (error, "bwrap is not installed");
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
  argv = pd_sandbox_build_argv_full (&spec, env_args, error);
  if (argv == NULL)
    return NULL;
  args_fd = pd_sandbox_memfd_from_data (env_args->str, env_args->len, "plugind-bwrap-args", error);
  if (args_fd < 0)
    return NULL;
  effective = pd_sandbox_effective_capabilities (&spec, error);
  needed = pd_sandbox_with_init_capabilities ((const char *const *) effective);
  if (!pd_sandbox_capability_mask ((const char *const *) needed, &mask, error))
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
    return pd_sandbox_fail (error, "pipe: %s", g_strerror (errno)), NULL;
  g_subprocess_launcher_take_fd (launcher, info_pipe[1], INFO_FD_TARGET);
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_pair) != 0)
    {
      int errsv = errno;

      close (info_pipe[0]);
      return pd_sandbox_fail (error, "socketpair: %s", g_strerror (errsv)), NULL;
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

/* ---- the host mount namespace ---- */

G_LOCK_DEFINE_STATIC (host_mnt_ns);
/* where propagated mounts must appear; -1: the daemon's own mount namespace */
static int host_mnt_ns_fd = -1;

gboolean
pd_sandbox_set_host_mount_namespace (const char *path, GError **error)
{
  struct stat st, own;
  int fd = -1;
  int old;

  if (path != NULL)
    {
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return pd_sandbox_fail (error, "cannot open the host mount namespace %s: %s", path,
                                g_strerror (errno));
      if (ioctl (fd, NS_GET_NSTYPE) != CLONE_NEWNS)
        {
          close (fd);
          return pd_sandbox_fail (error, "%s is not a mount namespace", path);
        }
      /* the daemon's own: nothing to enter */
      if (fstat (fd, &st) == 0 && stat ("/proc/self/ns/mnt", &own) == 0 &&
          st.st_dev == own.st_dev && st.st_ino == own.st_ino)
        {
          close (fd);
          fd = -1;
        }
    }
  G_LOCK (host_mnt_ns);
  old = host_mnt_ns_fd;
  host_mnt_ns_fd = fd;
  G_UNLOCK (host_mnt_ns);
  if (old >= 0)
    close (old);
  return TRUE;
}

/* a new fd of the host mount namespace, or -1 (with @error unset) for the daemon's own */
static int
dup_host_mount_namespace (GError **error)
{
  int fd = -1;

  G_LOCK (host_mnt_ns);
  if (host_mnt_ns_fd >= 0)
    {
      fd = fcntl (host_mnt_ns_fd, F_DUPFD_CLOEXEC, 3);
      if (fd < 0)
        pd_sandbox_fail (error, "cannot duplicate the host mount namespace's fd: %s",
                         g_strerror (errno));
    }
  G_UNLOCK (host_mnt_ns);
  return fd;
}

/* ---- the daemon's part of the set-up, from a forked process ---- */

/* what a forked set-up process reports: SETUP_DONE, or the step that failed (a STEP_*, or an
 * index of readonly_paths) and its errno; @value is the propagated mount's id, or how many
 * mounts were released. Its exit status is not what counts: under valgrind it is valgrind's. */
typedef struct {
  int step;
  int errsv;
  guint64 value;
} SetupReport;

#define SETUP_DONE G_MAXINT

enum {
  STEP_ENTER_SANDBOX = -1,
  STEP_ENTER_HOST = -2,
  STEP_CLEAR = -3,
  STEP_BIND = -4,
  STEP_SHARE = -5,
  STEP_FLAGS = -6,
  STEP_CLONE = -7,
  STEP_MOUNT_ID = -8,
  STEP_TARGET = -9,
  STEP_MOVE = -10,
  STEP_PIN_SOURCE = -11,
  STEP_PIN_ATTR = -12,
  STEP_PIN_TARGET = -13,
};

/* the kernel's default fs.mount-max is 100,000 mounts per namespace */
#define UNMOUNT_MAX 1000000

static const char *
step_message (int step)
{
  switch (step)
    {
    case STEP_ENTER_SANDBOX:
      return "cannot enter the sandbox's mount namespace";
    case STEP_ENTER_HOST:
      return "cannot enter the host mount namespace";
    case STEP_CLEAR:
      return "cannot unmount what is mounted at the propagated-mount dir";
    case STEP_BIND:
      return "cannot bind the propagated-mount dir onto itself";
    case STEP_SHARE:
      return "cannot make the propagated-mount dir a shared mount";
    case STEP_FLAGS:
      return "cannot make the propagated-mount dir nosuid,nodev";
    case STEP_CLONE:
      return "cannot clone the propagated-mount dir (open_tree)";
    case STEP_MOUNT_ID:
      return "cannot read the id of the propagated mount";
    case STEP_TARGET:
      return "cannot open PropagatedMount in the sandbox without following a symlink";
    case STEP_MOVE:
      return "cannot mount the propagated-mount dir at PropagatedMount (move_mount)";
    case STEP_PIN_SOURCE:
      return "cannot open the volume's dir beneath the propagated-mount dir without following "
             "a symlink";
    case STEP_PIN_ATTR:
      return "cannot make the clone of the volume's dir private, nosuid and nodev";
    case STEP_PIN_TARGET:
      return "cannot open the pin dir";
    default:
      return "the sandbox set-up failed";
    }
}

/* what the forked process does, prepared before the fork: it may not allocate */
typedef struct {
  int sandbox_pidfd;              /* -1: enter through @sandbox_ns_path */
  const char *sandbox_ns_path;    /* /proc/PID/ns/mnt of the sandbox's init */
  int host_ns_fd;                 /* -1: the daemon's own mount namespace */
  const char *propagated_dir;     /* host path; NULL: no PropagatedMount */
  const char *propagated_mount;   /* Config.PropagatedMount, in the sandbox */
  const char *pin_source;         /* a pin's dir beneath @propagated_dir (relative) */
  const char *pin_path;           /* where the pin goes */
} SetupPlan;

static void G_GNUC_NORETURN
child_report (int report_fd, int step, int errsv, guint64 value)
{
  SetupReport report = { step, errsv, value };
  ssize_t r = write (report_fd, &report, sizeof report);

  (void) r;
  _exit (step == SETUP_DONE ? 0 : 1);
}

/* Unmounts whatever is mounted at @dir, the topmost first, each with everything beneath it
 * (MNT_DETACH: at once, even while something uses it), until @dir is no mount point. @dir is
 * plugind's own path; nothing a plugin made in it is followed. Async-signal-safe. -1 with
 * errno on failure. */
static int
unmount_stack (const char *dir, guint64 *count)
{
  for (guint i = 0; i < UNMOUNT_MAX; i++)
    {
      if (umount2 (dir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        {
          (*count)++;
          continue;
        }
      if (errno == EINTR)
        continue;
      /* not (or no longer) a mount point, or no such dir */
      return errno == EINVAL || errno == ENOENT ? 0 : -1;
    }
  errno = ELOOP;
  return -1;
}

/* the dir @path beneath @dirfd (taken: closed), each component opened with O_NOFOLLOW: a
 * symlink anywhere on the way fails (ENOTDIR or ELOOP). Async-signal-safe. */
static int
open_dir_nofollow_at (int dirfd, const char *path)
{
  char name[NAME_MAX + 1];

  while (dirfd >= 0 && *path != '\0')
    {
      const char *end;
      size_t len;
      int next, errsv;

      while (*path == '/')
        path++;
      end = strchrnul (path, '/');
      len = (size_t) (end - path);
      if (len == 0)
        break;
      if (len > NAME_MAX)
        {
          close (dirfd);
          errno = ENAMETOOLONG;
          return -1;
        }
      memcpy (name, path, len);
      name[len] = '\0';
      next = openat (dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      errsv = errno;
      close (dirfd);
      errno = errsv;
      dirfd = next;
      path = end;
    }
  return dirfd;
}

/* the dir @path (clean, absolute) from the root, never through a symlink */
static int
open_dir_nofollow (const char *path)
{
  return open_dir_nofollow_at (open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC), path);
}

/* the host side of the propagated mount, in the namespace the process is in: @plan's dir made
 * a shared mount of its own, nosuid and nodev; returns a detached clone of it (open_tree), a
 * peer of it, and its mount id in @mount_id. Reports and exits on failure. */
static int
child_prepare_propagated (const SetupPlan *plan, int report_fd, guint64 *mount_id)
{
  const char *dir = plan->propagated_dir;
  unsigned long keep = 0;
  struct statfs sfs;
  struct statx stx;
  guint64 count = 0;
  int tree;

  /* what an earlier run left there (a daemon that was killed) goes first */
  if (unmount_stack (dir, &count) != 0)
    child_report (report_fd, STEP_CLEAR, errno, 0);
  /* a bind under a shared parent joins that parent's peer group: made private, then shared,
   * it is a peer group of its own, which only the sandbox's clone joins */
  if (mount (dir, dir, "none", MS_BIND, NULL) != 0)
    child_report (report_fd, STEP_BIND, errno, 0);
  if (mount ("none", dir, "none", MS_PRIVATE, NULL) != 0 ||
      mount ("none", dir, "none", MS_SHARED, NULL) != 0)
    child_report (report_fd, STEP_SHARE, errno, 0);
  /* a remount sets every per-mount flag: keep read-only and noexec from the state dir's mount */
  if (statfs (dir, &sfs) == 0)
    keep = ((sfs.f_flags & ST_RDONLY) != 0 ? MS_RDONLY : 0) |
           ((sfs.f_flags & ST_NOEXEC) != 0 ? MS_NOEXEC : 0);
  if (mount ("none", dir, "none", MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | keep, NULL) != 0)
    child_report (report_fd, STEP_FLAGS, errno, 0);
  tree = (int) syscall (SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0)
    child_report (report_fd, STEP_CLONE, errno, 0);
  if (statx (tree, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) != 0)
    child_report (report_fd, STEP_MOUNT_ID, errno, 0);
  if ((stx.stx_mask & STATX_MNT_ID) == 0)
    child_report (report_fd, STEP_MOUNT_ID, ENOSYS, 0);
  *mount_id = stx.stx_mnt_id;
  return tree;
}

/* joins the sandbox's mount namespace: through the pidfd, or @ns_fd (a kernel before 5.8
 * cannot setns() through a pidfd) */
static void
child_enter_sandbox (const SetupPlan *plan, int ns_fd, int report_fd)
{
  if (plan->sandbox_pidfd >= 0 && setns (plan->sandbox_pidfd, CLONE_NEWNS) == 0)
    return;
  if (ns_fd < 0 || setns (ns_fd, CLONE_NEWNS) != 0)
    child_report (report_fd, STEP_ENTER_SANDBOX, ns_fd < 0 ? ENOENT : errno, 0);
}

/* Docker's read-only /proc paths: each bound onto itself, then that mount made read-only,
 * as runc does */
static void
child_make_readonly (int report_fd)
{
  for (int i = 0; i < (int) G_N_ELEMENTS (readonly_paths); i++)
    {
      const char *path = readonly_paths[i];

      if (mount (path, path, "none", MS_BIND | MS_REC, NULL) != 0)
        {
          if (errno == ENOENT)
            continue;
          child_report (report_fd, i, errno, 0);
        }
      if (mount (path, path, "none",
                 MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        child_report (report_fd, i, errno, 0);
    }
}

/* The forked set-up process: async-signal-safe calls only. It is single-threaded, which
 * setns(CLONE_NEWNS) requires. It joins the sandbox's mount namespace, whose root is the
 * plugin's / (and the init, its only process, is waiting). For a PropagatedMount it opens the
 * target there, prepares the host side in the host mount namespace (or the daemon's own),
 * and comes back to put the clone on the target. Then it makes Docker's read-only /proc paths
 * read-only. */
static void G_GNUC_NORETURN
setup_child (const SetupPlan *plan, int report_fd)
{
  /* /proc is the sandbox's once in there: every namespace fd is opened first */
  int ns_fd = open (plan->sandbox_ns_path, O_RDONLY | O_CLOEXEC);
  guint64 mount_id = 0;
  int home = -1;

  if (plan->propagated_dir != NULL)
    {
      home = plan->host_ns_fd >= 0 ? plan->host_ns_fd
                                   : open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
      if (home < 0)
        child_report (report_fd, STEP_ENTER_HOST, errno, 0);
    }
  child_enter_sandbox (plan, ns_fd, report_fd);

  if (plan->propagated_dir != NULL)
    {
      int target, tree;

      /* the rootfs is the plugin's: a symlink it planted on the way is never followed, and
       * nothing is done on the host for a target that is not a plain dir */
      target = open_dir_nofollow (plan->propagated_mount);
      if (target < 0)
        child_report (report_fd, STEP_TARGET, errno, 0);
      if (setns (home, CLONE_NEWNS) != 0)
        child_report (report_fd, STEP_ENTER_HOST, errno, 0);
      tree = child_prepare_propagated (plan, report_fd, &mount_id);
      child_enter_sandbox (plan, ns_fd, report_fd);
      if (syscall (SYS_move_mount, tree, "", target, "",
                   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        child_report (report_fd, STEP_MOVE, errno, 0);
    }
  child_make_readonly (report_fd);
  child_report (report_fd, SETUP_DONE, 0, mount_id);
}

/* the release's forked process: unmounts everything at @plan's dir in the host namespace */
static void G_GNUC_NORETURN
release_child (const SetupPlan *plan, int report_fd)
{
  guint64 count = 0;

  if (setns (plan->host_ns_fd, CLONE_NEWNS) != 0)
    child_report (report_fd, STEP_ENTER_HOST, errno, 0);
  if (unmount_stack (plan->propagated_dir, &count) != 0)
    child_report (report_fd, STEP_CLEAR, errno, count);
  child_report (report_fd, SETUP_DONE, 0, count);
}

/* The pin of @plan: @pin_source opened beneath @propagated_dir without following a symlink,
 * cloned with whatever is mounted beneath it (open_tree), the clone made private (nothing the
 * plugin mounts later reaches it), nosuid and nodev, and moved onto @pin_path. In the mount
 * namespace the process is in; async-signal-safe. SETUP_DONE, or the step that failed with
 * @errsv. */
static int
pin_steps (const SetupPlan *plan, int *errsv)
{
  struct mount_attr attr = {
    .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    .propagation = MS_PRIVATE,
  };
  int source, tree, target, r;
  int step = SETUP_DONE;

  source = open_dir_nofollow_at (open (plan->propagated_dir, O_PATH | O_DIRECTORY | O_CLOEXEC),
                                 plan->pin_source);
  if (source < 0)
    {
      *errsv = errno;
      return STEP_PIN_SOURCE;
    }
  tree = (int) syscall (SYS_open_tree, source, "",
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  *errsv = errno;
  close (source);
  if (tree < 0)
    return STEP_CLONE;
  if (syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
               sizeof attr) != 0)
    {
      *errsv = errno;
      close (tree);
      return STEP_PIN_ATTR;
    }
  target = open (plan->pin_path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (target < 0)
    step = STEP_PIN_TARGET;
  else
    {
      r = (int) syscall (SYS_move_mount, tree, "", target, "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
      if (r != 0)
        step = STEP_MOVE;
    }
  *errsv = errno;
  if (target >= 0)
    close (target);
  close (tree);
  return step;
}

/* the pin's forked process: pin_steps() in the host namespace */
static void G_GNUC_NORETURN
pin_child (const SetupPlan *plan, int report_fd)
{
  int errsv = 0;
  int step;

  if (setns (plan->host_ns_fd, CLONE_NEWNS) != 0)
    child_report (report_fd, STEP_ENTER_HOST, errno, 0);
  step = pin_steps (plan, &errsv);
  child_report (report_fd, step, errsv, 0);
}

/* forks, runs @child_func (which reports and exits) and waits for its report */
static gboolean
run_forked (void (*child_func) (const SetupPlan *, int), const SetupPlan *plan,
            SetupReport *report, GError **error)
{
  int report_pipe[2];
  pid_t child;
  ssize_t n;
  int status = 0;

  if (pipe2 (report_pipe, O_CLOEXEC) != 0)
    return pd_sandbox_fail (error, "pipe: %s", g_strerror (errno));
  child = fork ();
  if (child < 0)
    {
      int errsv = errno;

      close (report_pipe[0]);
      close (report_pipe[1]);
      return pd_sandbox_fail (error, "cannot fork the sandbox set-up: %s", g_strerror (errsv));
    }
  if (child == 0)
    {
      child_func (plan, report_pipe[1]);
      _exit (1);
    }

  close (report_pipe[1]);
  do
    n = read (report_pipe[0], report, sizeof *report);
  while (n < 0 && errno == EINTR);
  close (report_pipe[0]);
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  if (n != (ssize_t) sizeof *report)
    return pd_sandbox_fail (error, "the sandbox set-up process failed (wait status %d)", status);
  return TRUE;
}

static gboolean
has_propagated_mount (const PdSandboxSpec *spec)
{
  return spec->config->propagated_mount != NULL && spec->config->propagated_mount[0] != '\0';
}

gboolean
pd_sandbox_finish_setup (const PdSandboxSpec *spec, int pidfd, pid_t pid, int sync_fd,
                         PdSandboxPropagation *propagation, GError **error)
{
  char ns_path[64];
  SetupPlan plan = { pidfd, ns_path, -1, NULL, NULL, NULL, NULL };
  SetupReport report;
  int mountinfo_fd = -1;
  gboolean ok;
  ssize_t n;
  const char go = 'G';

  g_return_val_if_fail (pidfd >= 0 || pid > 0, FALSE);

  if (propagation != NULL)
    {
      propagation->mount_id = 0;
      propagation->mountinfo_fd = -1;
    }
  g_snprintf (ns_path, sizeof ns_path, "/proc/%d/ns/mnt", (int) pid);
  if (has_propagated_mount (spec))
    {
      g_autoptr(GError) local_error = NULL;

      if (spec->propagated_mount_dir == NULL)
        return pd_sandbox_fail (error, "the plugin has a PropagatedMount but no "
                                "propagated-mount dir was given");
      plan.propagated_dir = spec->propagated_mount_dir;
      plan.propagated_mount = spec->config->propagated_mount;
      plan.host_ns_fd = dup_host_mount_namespace (&local_error);
      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  ok = run_forked (setup_child, &plan, &report, error);
  if (plan.host_ns_fd >= 0)
    close (plan.host_ns_fd);
  if (!ok)
    return FALSE;
  if (report.step == STEP_TARGET || report.step == STEP_MOVE)
    {
      g_autofree char *escaped = pd_escape_untrusted (plan.propagated_mount, -1);

      return pd_sandbox_fail (error, "%s (%s): %s", step_message (report.step), escaped,
                              g_strerror (report.errsv));
    }
  if (report.step < 0)
    return pd_sandbox_fail (error, "%s: %s", step_message (report.step),
                            g_strerror (report.errsv));
  if (report.step != SETUP_DONE)
    return pd_sandbox_fail (error, "cannot make %s read-only in the sandbox: %s",
                            readonly_paths[report.step], g_strerror (report.errsv));

  /* the sandbox's own mount table, to see what the plugin mounts beneath PropagatedMount:
   * opened while the init waits, so that the pid is still the init's */
  if (propagation != NULL && plan.propagated_dir != NULL)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/mountinfo", (int) pid);

      mountinfo_fd = open (path, O_RDONLY | O_CLOEXEC);
      if (mountinfo_fd < 0)
        return pd_sandbox_fail (error, "cannot open the sandbox's mount table: %s",
                                g_strerror (errno));
    }

  do
    n = write (sync_fd, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    {
      int errsv = errno;

      if (mountinfo_fd >= 0)
        close (mountinfo_fd);
      return pd_sandbox_fail (error, "cannot start the sandbox's init: %s",
                              n < 0 ? g_strerror (errsv) : "short write");
    }
  if (propagation != NULL && plan.propagated_dir != NULL)
    {
      propagation->mount_id = report.value;
      propagation->mountinfo_fd = mountinfo_fd;
    }
  return TRUE;
}

gboolean
pd_sandbox_release_propagated_mount (const char *dir, guint64 *unmounted, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  SetupPlan plan = { -1, NULL, -1, dir, NULL, NULL, NULL };
  SetupReport report = { SETUP_DONE, 0, 0 };
  gboolean ok = TRUE;

  g_return_val_if_fail (dir != NULL && g_path_is_absolute (dir), FALSE);

  plan.host_ns_fd = dup_host_mount_namespace (&local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  /* entering another namespace takes a single-threaded process; the daemon's own does not */
  if (plan.host_ns_fd >= 0)
    ok = run_forked (release_child, &plan, &report, error);
  else if (unmount_stack (dir, &report.value) != 0)
    {
      report.step = STEP_CLEAR;
      report.errsv = errno;
    }
  if (plan.host_ns_fd >= 0)
    close (plan.host_ns_fd);
  if (unmounted != NULL)
    *unmounted = report.value;
  if (!ok)
    return FALSE;
  if (report.step != SETUP_DONE)
    return pd_sandbox_fail (error, "%s %s: %s", step_message (report.step), dir,
                            g_strerror (report.errsv));
  return TRUE;
}

gboolean
pd_sandbox_pin_dir (const char *propagated_dir, const char *source, const char *pin_path,
                    GError **error)
{
  g_autoptr(GError) local_error = NULL;
  SetupPlan plan = { -1, NULL, -1, propagated_dir, NULL, source, pin_path };
  SetupReport report = { SETUP_DONE, 0, 0 };
  gboolean ok = TRUE;

  g_return_val_if_fail (g_path_is_absolute (propagated_dir) && g_path_is_absolute (pin_path),
                        FALSE);

  plan.host_ns_fd = dup_host_mount_namespace (&local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  /* as the release: a fork only to enter another namespace */
  if (plan.host_ns_fd >= 0)
    ok = run_forked (pin_child, &plan, &report, error);
  else
    report.step = pin_steps (&plan, &report.errsv);
  if (plan.host_ns_fd >= 0)
    close (plan.host_ns_fd);
  if (!ok)
    return FALSE;
  if (report.step != SETUP_DONE)
    return pd_sandbox_fail (error, "%s: %s", step_message (report.step),
                            g_strerror (report.errsv));
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
        return pd_sandbox_fail (error, "the sandbox did not get ready within %u ms", timeout_ms);
      r = poll (fds, 2, (int) MIN (left / 1000 + 1, G_MAXINT));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return pd_sandbox_fail (error, "poll: %s", g_strerror (errno));
      if (fds[0].revents != 0)
        {
          ssize_t n = read (process->info_fd, info + info_len, INFO_MAX_SIZE - info_len);

          if (n <= 0)
            return pd_sandbox_fail (error, "bwrap ended before it reported the sandbox's pid");
          info_len += (gsize) n;
          info[info_len] = '\0';
          pid = pd_sandbox_parse_info (info, info_len);
        }
      if (fds[1].revents != 0)
        {
          char byte = 0;
          ssize_t n = read (process->sync_fd, &byte, 1);

          if (n != 1 || byte != 'R')
            return pd_sandbox_fail (error, "the sandbox ended before it was set up");
          ready = TRUE;
        }
    }
  pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  ok = pd_sandbox_finish_setup (spec, pidfd, pid, process->sync_fd, NULL, error);
  if (pidfd >= 0)
    close (pidfd);
  return ok;
}
