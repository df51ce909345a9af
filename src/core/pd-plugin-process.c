/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/* the runner's: the process is a part of it */
#define G_LOG_DOMAIN "pd-runner"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <glib-unix.h>

#include "pd-plugin-process.h"
#include "pd-sandbox-start.h"

#define OUTPUT_CHUNK (16 * 1024)
/* after bwrap exited, how long the output pipe may stay open (PidHost: a process that escaped
 * may hold it forever) */
#define OUTPUT_GRACE_MS 1000
/* how long a kill waits for bwrap to report the sandbox's pid (proc_wait_for_pid) */
#define PID_REPORT_WAIT_MS 1000

/* one bwrap process and what reads from it; refcounted because the GSubprocess wait callback
 * may outlive the runner's interest in it */
struct _PdPluginProcess {
  const PdPluginProcessCallbacks *callbacks; /* NULL once detached */
  gpointer user_data;
  GSubprocess *subprocess;
  pid_t bwrap_pid;
  gboolean pid_host;
  int info_fd;
  gboolean child_started;   /* the sandbox is set up: what exits now is the plugin */
  guint info_source;
  int sync_fd;               /* the daemon's end of the sandbox init's sync socket */
  guint sync_source;
  gboolean init_ready;       /* the init said "R": bwrap's set-up is done */
  gboolean setup_done;
  gboolean killed;           /* SIGKILLed: no set-up to finish */
  char info_buf[512];
  gsize info_len;
  pid_t pid;                 /* host pid of the entrypoint, 0 until known */
  int pidfd;
  /* PidHost: the plugin's mount namespace (bwrap always makes one), which every process of
   * the plugin shares, a setsid()-escaped one included */
  dev_t mnt_ns_dev;
  ino_t mnt_ns_ino;
  int pending_signal;        /* a SIGTERM asked for before bwrap reported the pid */
  int out_fd;
  guint out_source;
  guint grace_source;
  gboolean exited;
  int exit_code;             /* bwrap's exit code, or -signal when bwrap itself was killed */
  gboolean out_eof;
  gboolean finished;
};

static int
sys_pidfd_open (pid_t pid)
{
  return (int) syscall (SYS_pidfd_open, pid, 0);
}

static int
sys_pidfd_send_signal (int pidfd, int sig)
{
  return (int) syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static void
proc_free (PdPluginProcess *proc)
{
  g_clear_handle_id (&proc->info_source, g_source_remove);
  g_clear_handle_id (&proc->sync_source, g_source_remove);
  g_clear_handle_id (&proc->out_source, g_source_remove);
  g_clear_handle_id (&proc->grace_source, g_source_remove);
  if (proc->info_fd >= 0)
    close (proc->info_fd);
  if (proc->sync_fd >= 0)
    close (proc->sync_fd);
  if (proc->out_fd >= 0)
    close (proc->out_fd);
  if (proc->pidfd >= 0)
    close (proc->pidfd);
  g_clear_object (&proc->subprocess);
}

PdPluginProcess *
pd_plugin_process_ref (PdPluginProcess *proc)
{
  return g_rc_box_acquire (proc);
}

void
pd_plugin_process_unref (PdPluginProcess *proc)
{
  g_rc_box_release_full (proc, (GDestroyNotify) proc_free);
}

/* PidHost: SIGKILLs every process in the plugin's mount namespace, whatever its session or
 * parent. Each is pinned with a pidfd before its namespace is checked, so a reused pid is
 * never hit. Repeated while it finds any, as they may fork meanwhile. */
static void
proc_kill_namespace (PdPluginProcess *proc)
{
  if (proc->mnt_ns_ino == 0)
    return;
  for (guint round = 0; round < 50; round++)
    {
      g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
      const char *name;
      guint found = 0;

      if (dir == NULL)
        return;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *ns_path = NULL;
          struct stat st;
          gint64 pid = g_ascii_strtoll (name, NULL, 10);
          int pidfd;

          if (pid <= 1 || pid == getpid ())
            continue;
          pidfd = sys_pidfd_open ((pid_t) pid);
          if (pidfd < 0 && errno != ENOSYS)
            continue;
          ns_path = g_strdup_printf ("/proc/%s/ns/mnt", name);
          if (stat (ns_path, &st) == 0 && st.st_dev == proc->mnt_ns_dev &&
              st.st_ino == proc->mnt_ns_ino)
            {
              /* without pidfds (kernel < 5.3, valgrind) the pid is only as good as the check */
              if (pidfd >= 0)
                sys_pidfd_send_signal (pidfd, SIGKILL);
              else
                kill ((pid_t) pid, SIGKILL);
              found++;
            }
          if (pidfd >= 0)
            close (pidfd);
        }
      if (found == 0)
        return;
      g_usleep (2000);
    }
}

static void proc_read_info (PdPluginProcess *proc);

/* bwrap reports the sandbox's pid right after it made that process; until it let the process
 * go on, the process waits for it without having tied its life to bwrap's yet, so killing bwrap
 * alone then would leave it waiting for good. Waits (blocking, at most @timeout_ms) for the
 * report, to kill the process itself. */
static void
proc_wait_for_pid (PdPluginProcess *proc, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (proc->pid == 0 && proc->info_fd >= 0)
    {
      struct pollfd pfd = { proc->info_fd, POLLIN, 0 };
      gint64 left = deadline - g_get_monotonic_time ();

      if (left <= 0 || (poll (&pfd, 1, (int) (left / 1000) + 1) < 0 && errno != EINTR))
        return;
      proc_read_info (proc);
    }
}

void
pd_plugin_process_signal (PdPluginProcess *proc, int sig)
{
  if (proc->exited)
    return;
  if (sig == SIGKILL)
    {
      proc->killed = TRUE;
      if (proc->pid == 0)
        proc_wait_for_pid (proc, PID_REPORT_WAIT_MS);
    }
  if (proc->pidfd >= 0)
    {
      if (sys_pidfd_send_signal (proc->pidfd, sig) < 0 && errno != ESRCH)
        g_debug ("pidfd_send_signal %d: %s", sig, g_strerror (errno));
    }
  else if (proc->pid > 0)
    {
      /* no pidfd (ENOSYS: kernel < 5.3, or valgrind): bwrap, the parent, has not been seen
       * to exit, so it has not reaped the pid yet, or did so only just now */
      kill (proc->pid, sig);
    }
  else if (sig == SIGKILL)
    {
      /* bwrap has not made the sandbox in time, or cannot be seen to */
      g_subprocess_force_exit (proc->subprocess);
    }
  else
    {
      /* sent as soon as bwrap reports the entrypoint's pid (proc_parse_info) */
      proc->pending_signal = sig;
    }
  /* PidHost: bwrap --new-session made the entrypoint a group leader; bwrap has not reaped it
   * yet (it has not exited), so the group id cannot have been reused */
  if (proc->pid_host && proc->pid > 0)
    kill (-proc->pid, sig);
  if (sig == SIGKILL)
    proc_kill_namespace (proc);
}

static void
proc_maybe_finish (PdPluginProcess *proc)
{
  if (proc->finished || !proc->exited || !proc->out_eof)
    return;
  proc->finished = TRUE;
  g_clear_handle_id (&proc->grace_source, g_source_remove);
  if (proc->callbacks != NULL)
    proc->callbacks->finished (proc, proc->user_data);
}

/* the output is over: at its EOF, or given up on */
static void
proc_end_output (PdPluginProcess *proc)
{
  g_clear_handle_id (&proc->out_source, g_source_remove);
  if (proc->out_fd >= 0)
    close (proc->out_fd);
  proc->out_fd = -1;
  proc->out_eof = TRUE;
  proc_maybe_finish (proc);
}

static gboolean
proc_on_output (int fd, GIOCondition condition, gpointer user_data)
{
  PdPluginProcess *proc = user_data;
  guint8 buf[OUTPUT_CHUNK];
  gssize n;

  /* one bounded read per dispatch: a flooding plugin is throttled by its pipe and cannot
   * starve the main loop */
  do
    n = read (fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN)
    return G_SOURCE_CONTINUE;
  if (n > 0)
    {
      if (proc->callbacks != NULL)
        proc->callbacks->output (buf, (gsize) n, proc->user_data);
      return G_SOURCE_CONTINUE;
    }
  proc->out_source = 0;
  proc_end_output (proc);
  return G_SOURCE_REMOVE;
}

static gboolean
proc_on_grace (gpointer user_data)
{
  PdPluginProcess *proc = user_data;

  /* something outside the plugin's PID namespace still holds the pipe: stop reading */
  proc->grace_source = 0;
  proc_end_output (proc);
  return G_SOURCE_REMOVE;
}

/* the init said it is ready and its pid is pinned: the daemon's part of the set-up is due */
static void
proc_maybe_finish_setup (PdPluginProcess *proc)
{
  if (!proc->init_ready || proc->pid == 0 || proc->setup_done || proc->exited || proc->killed
      || proc->callbacks == NULL)
    return;
  proc->setup_done = TRUE;
  proc->callbacks->setup_due (proc, proc->user_data);
}

/* parses {"child-pid": N} from bwrap's --info-fd and pins N with a pidfd */
static void
proc_parse_info (PdPluginProcess *proc)
{
  pid_t pid;
  int pidfd;
  g_autofree char *stat_path = NULL;
  g_autofree char *stat_data = NULL;
  const char *p;
  long ppid;

  if (proc->pid != 0 || proc->info_len == 0)
    return;
  pid = pd_sandbox_parse_info (proc->info_buf, proc->info_len);
  if (pid == 0)
    return;

  pidfd = sys_pidfd_open (pid);
  if (pidfd < 0 && errno != ENOSYS)
    {
      g_debug ("pidfd_open %d: %s", (int) pid, g_strerror (errno));
      return;
    }
  /* the pidfd is pinned now; it is ours only if its parent is our bwrap (the pid may have been
   * reaped and reused if the sandbox died at once) */
  stat_path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  if (!g_file_get_contents (stat_path, &stat_data, NULL, NULL) ||
      (p = strrchr (stat_data, ')')) == NULL ||
      sscanf (p + 1, " %*c %ld", &ppid) != 1 || ppid != proc->bwrap_pid)
    {
      if (pidfd >= 0)
        close (pidfd);
      return;
    }
  proc->pid = pid;
  proc->pidfd = pidfd;
  if (proc->pid_host)
    {
      g_autofree char *ns_path = g_strdup_printf ("/proc/%d/ns/mnt", (int) pid);
      struct stat st;

      if (stat (ns_path, &st) == 0)
        {
          proc->mnt_ns_dev = st.st_dev;
          proc->mnt_ns_ino = st.st_ino;
        }
    }
  if (proc->callbacks != NULL)
    proc->callbacks->pid_known (pid, proc->user_data);
  if (proc->pending_signal != 0)
    {
      int sig = proc->pending_signal;

      proc->pending_signal = 0;
      pd_plugin_process_signal (proc, sig);
    }
  proc_maybe_finish_setup (proc);
}

static void
proc_read_info (PdPluginProcess *proc)
{
  for (;;)
    {
      gssize n;

      if (proc->info_fd < 0)
        return;
      n = read (proc->info_fd, proc->info_buf + proc->info_len,
                sizeof proc->info_buf - 1 - proc->info_len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          /* bwrap may keep the fd open: parse what came, it is idempotent */
          proc_parse_info (proc);
          return;
        }
      if (n > 0)
        {
          proc->info_len += (gsize) n;
          proc->info_buf[proc->info_len] = '\0';
          if (proc->info_len < sizeof proc->info_buf - 1)
            continue;
        }
      /* EOF, error or a full buffer: bwrap wrote all it will */
      g_clear_handle_id (&proc->info_source, g_source_remove);
      close (proc->info_fd);
      proc->info_fd = -1;
      proc_parse_info (proc);
      return;
    }
}

static gboolean
proc_on_info (int fd, GIOCondition condition, gpointer user_data)
{
  PdPluginProcess *proc = user_data;

  proc_read_info (proc);
  return proc->info_fd >= 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean
proc_on_sync (int fd, GIOCondition condition, gpointer user_data)
{
  PdPluginProcess *proc = user_data;
  char byte = 0;
  gssize n;

  do
    n = read (fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN)
    return G_SOURCE_CONTINUE;
  proc->sync_source = 0;
  /* anything but "R" (the sandbox died first): its exit says what happened */
  if (n == 1 && byte == 'R')
    {
      proc->init_ready = TRUE;
      proc_maybe_finish_setup (proc);
    }
  return G_SOURCE_REMOVE;
}

static void
proc_on_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PdPluginProcess *proc = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error))
    {
      /* only on cancellation, which nothing asks for */
      pd_plugin_process_unref (proc);
      return;
    }
  /* the info is in the pipe before bwrap can exit: read it now, so that MainPID and the
   * sandbox-or-plugin decision do not depend on the order of dispatch */
  if (proc->info_fd >= 0)
    proc_read_info (proc);
  if (proc->info_fd >= 0)
    {
      g_clear_handle_id (&proc->info_source, g_source_remove);
      close (proc->info_fd);
      proc->info_fd = -1;
      proc_parse_info (proc);
    }

  proc->exited = TRUE;
  if (g_subprocess_get_if_exited (proc->subprocess))
    proc->exit_code = g_subprocess_get_exit_status (proc->subprocess);
  else
    proc->exit_code = -g_subprocess_get_term_sig (proc->subprocess);
  if (proc->pidfd >= 0)
    {
      close (proc->pidfd);
      proc->pidfd = -1;
    }
  if (proc->pid_host && proc->pid > 0)
    {
      /* what stayed in the group, and anything else of the plugin's (a child that called
       * setsid()): with the host's PID namespace its exit takes nothing along */
      kill (-proc->pid, SIGKILL);
      proc_kill_namespace (proc);
    }
  if (!proc->out_eof)
    proc->grace_source = g_timeout_add (OUTPUT_GRACE_MS, proc_on_grace, proc);
  proc_maybe_finish (proc);
  pd_plugin_process_unref (proc);
}

gboolean
pd_plugin_process_finish_setup (PdPluginProcess *proc, const PdSandboxSpec *spec,
                                PdSandboxPropagation *propagation, GError **error)
{
  if (!pd_sandbox_finish_setup (spec, proc->pidfd, proc->pid, proc->sync_fd, propagation, error))
    return FALSE;
  proc->child_started = TRUE;
  g_clear_handle_id (&proc->sync_source, g_source_remove);
  close (proc->sync_fd);
  proc->sync_fd = -1;
  return TRUE;
}

PdPluginProcess *
pd_plugin_process_spawn (const PdSandboxSpec *spec,
                         const PdPluginProcessCallbacks *callbacks,
                         gpointer user_data,
                         GError **error)
{
  g_autoptr(PdSandboxProcess) sandbox = NULL;
  GInputStream *stdout_pipe;
  PdPluginProcess *proc;

  sandbox = pd_sandbox_spawn (spec, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                      G_SUBPROCESS_FLAGS_STDERR_MERGE,
                              error);
  if (sandbox == NULL)
    return NULL;

  proc = g_rc_box_new0 (PdPluginProcess);
  proc->callbacks = callbacks;
  proc->user_data = user_data;
  proc->subprocess = g_steal_pointer (&sandbox->subprocess);
  proc->bwrap_pid = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (proc->subprocess),
                                             NULL, 10);
  proc->pid_host = spec->config->pid_host;
  proc->pidfd = -1;
  proc->info_fd = sandbox->info_fd;
  sandbox->info_fd = -1;
  g_unix_set_fd_nonblocking (proc->info_fd, TRUE, NULL);
  proc->info_source = g_unix_fd_add (proc->info_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                     proc_on_info, proc);
  proc->sync_fd = sandbox->sync_fd;
  sandbox->sync_fd = -1;
  g_unix_set_fd_nonblocking (proc->sync_fd, TRUE, NULL);
  proc->sync_source = g_unix_fd_add (proc->sync_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                     proc_on_sync, proc);
  stdout_pipe = g_subprocess_get_stdout_pipe (proc->subprocess);
  /* our own fd: the stream is closed with the GSubprocess, and reads go through the main loop */
  proc->out_fd = fcntl (g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (stdout_pipe)),
                        F_DUPFD_CLOEXEC, 3);
  g_input_stream_close (stdout_pipe, NULL, NULL);
  if (proc->out_fd < 0)
    proc->out_eof = TRUE;
  else
    {
      g_unix_set_fd_nonblocking (proc->out_fd, TRUE, NULL);
      proc->out_source = g_unix_fd_add (proc->out_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                        proc_on_output, proc);
    }
  g_subprocess_wait_async (proc->subprocess, NULL, proc_on_exited, pd_plugin_process_ref (proc));
  return proc;
}

gboolean
pd_plugin_process_get_plugin_started (PdPluginProcess *proc)
{
  return proc->child_started;
}

int
pd_plugin_process_get_exit_code (PdPluginProcess *proc)
{
  return proc->exit_code;
}

void
pd_plugin_process_detach (PdPluginProcess *proc)
{
  proc->callbacks = NULL;
  proc->user_data = NULL;
  g_clear_handle_id (&proc->info_source, g_source_remove);
  g_clear_handle_id (&proc->out_source, g_source_remove);
  g_clear_handle_id (&proc->grace_source, g_source_remove);
}
