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
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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
    setup_child (pidfd, ns_path, report_pipe[1]);

  close (report_pipe[1]);
  do
    n = read (report_pipe[0], &report, sizeof report);
  while (n < 0 && errno == EINTR);
  close (report_pipe[0]);
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  if (n != (ssize_t) sizeof report)
    return pd_sandbox_fail (error, "the sandbox set-up process failed (wait status %d)", status);
  if (report.step < 0)
    return pd_sandbox_fail (error, "cannot enter the sandbox's mount namespace: %s",
                            g_strerror (report.errsv));
  if (report.step != SETUP_DONE)
    return pd_sandbox_fail (error, "cannot make %s read-only in the sandbox: %s",
                            readonly_paths[report.step], g_strerror (report.errsv));

  do
    n = write (sync_fd, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    return pd_sandbox_fail (error, "cannot start the sandbox's init: %s",
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
  ok = pd_sandbox_finish_setup (spec, pidfd, pid, process->sync_fd, error);
  if (pidfd >= 0)
    close (pidfd);
  return ok;
}
