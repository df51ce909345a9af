/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-runner"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "pd-activate.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-runner.h"
#include "pd-sandbox-start.h"

/* the socket is looked for after 1 ms, then at intervals doubling up to 25 ms: most plugins
 * make it within a few ms of their start (bench/README.md) */
#define SOCKET_POLL_FIRST_MS 1
#define SOCKET_POLL_INTERVAL_MS 25
#define OUTPUT_CHUNK (16 * 1024)
#define TAIL_LINE_MAX 512
#define ACTIVATE_BODY_MAX PD_ACTIVATE_ANSWER_MAX
/* after bwrap exited, how long the output pipe may stay open (PidHost: a process that escaped
 * may hold it forever) */
#define OUTPUT_GRACE_MS 1000
#define CRASH_WINDOW_US (120 * G_USEC_PER_SEC)
#define CRASH_LIMIT 5
#define BACKOFF_MAX_MS 30000
#define LOG_READER_MAX_PENDING (1024 * 1024)
#define LOG_TAIL_MAX_BYTES (1024 * 1024)
/* how long a kill waits for bwrap to report the sandbox's pid (proc_wait_for_pid) */
#define PID_REPORT_WAIT_MS 1000

#define ACTIVATE_URI "http://plugin.moby.localhost/Plugin.Activate"
#define ACTIVATE_ACCEPT "application/vnd.docker.plugins.v1.2+json"

const char *
pd_plugin_state_to_string (PdPluginState state)
{
  switch (state)
    {
    case PD_PLUGIN_STATE_DISABLED:
      return "disabled";
    case PD_PLUGIN_STATE_STARTING:
      return "starting";
    case PD_PLUGIN_STATE_RUNNING:
      return "running";
    case PD_PLUGIN_STATE_STOPPING:
      return "stopping";
    case PD_PLUGIN_STATE_RESTARTING:
      return "restarting";
    case PD_PLUGIN_STATE_FAILED:
      return "failed";
    default:
      g_return_val_if_reached ("failed");
    }
}

/* one bwrap process and what reads from it; refcounted because the GSubprocess wait callback
 * may outlive the runner's interest in it */
typedef struct {
  PdRunner *runner;          /* NULL once detached */
  GSubprocess *subprocess;
  GCancellable *cancellable; /* cancels the wait */
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
} Proc;

typedef struct {
  PdRunner *runner;
  int fd;                    /* write end, non-blocking */
  GByteArray *pending;
  gboolean follow;
  guint out_source;
  guint err_source;
} LogReader;

struct _PdRunner {
  GObject parent_instance;

  PdPluginRecord *record;
  char *rootfs;
  char *runtime_dir;
  char *log_dir;
  char *log_path;
  char *log_path_old;
  PdSandboxCapabilities capabilities;

  PdPluginState state;
  guint64 state_timestamp;
  guint main_pid;
  char *socket;
  GStrv implements;
  guint restart_count;
  char *last_error_name;
  char *last_error_message;
  guint request_timeout_s;
  guint activation_timeout_ms;

  Proc *proc;
  gboolean restart_attempt;  /* the current start is a restart, not an enable */
  gint64 running_since;      /* monotonic */

  /* activation of the current start */
  gboolean activating;
  gboolean socket_seen;
  int runtime_dirfd;
  int sock_fd;
  guint poll_source;
  guint poll_interval_ms;
  guint activation_timeout_source;
  SoupSession *session;
  SoupMessage *message;
  GInputStream *body_stream;
  GByteArray *body;
  GCancellable *activate_cancellable;
  GError *pending_error;     /* why the current process is being killed */

  GTask *enable_task;
  gulong enable_cancel_id;
  GCancellable *enable_cancellable;
  guint enable_cancel_idle;

  GList *disable_tasks;
  guint stop_timeout_source;
  gboolean stopping;

  /* crash handling */
  GArray *exit_times;        /* gint64 monotonic µs */
  guint restart_source;
  guint backoff_initial_ms;
  guint backoff_ms;

  /* logs */
  int log_fd;
  goffset log_size;
  GQueue tail;               /* char *, at most PD_RUNNER_TAIL_LINES */
  GString *partial;
  gboolean partial_truncated;
  GPtrArray *readers;        /* LogReader */
};

G_DEFINE_FINAL_TYPE (PdRunner, pd_runner, G_TYPE_OBJECT)

static void runner_schedule_poll (PdRunner *self, guint interval_ms);

enum {
  PROP_0,
  PROP_STATE,
  PROP_STATE_TIMESTAMP,
  PROP_MAIN_PID,
  PROP_SOCKET,
  PROP_IMPLEMENTS,
  PROP_RESTART_COUNT,
  PROP_LAST_ERROR_NAME,
  PROP_LAST_ERROR_MESSAGE,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

enum {
  SIGNAL_EVENT,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void runner_start (PdRunner *self);
static void runner_proc_finished (PdRunner *self, Proc *proc);
static void runner_activation_failed (PdRunner *self, GError *error);
static void log_reader_free (LogReader *reader);
static void runner_close_readers (PdRunner *self);

/* ---- small helpers ---- */

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
runner_set_state (PdRunner *self, PdPluginState state)
{
  if (self->state == state)
    return;
  g_debug ("plugin %s: %s → %s", pd_plugin_record_get_id (self->record),
           pd_plugin_state_to_string (self->state), pd_plugin_state_to_string (state));
  self->state = state;
  self->state_timestamp = g_get_real_time ();
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE_TIMESTAMP]);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

static void
runner_set_main_pid (PdRunner *self, guint pid)
{
  if (self->main_pid == pid)
    return;
  self->main_pid = pid;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MAIN_PID]);
}

static void
runner_set_socket (PdRunner *self, const char *socket)
{
  if (g_strcmp0 (self->socket, socket) == 0)
    return;
  g_free (self->socket);
  self->socket = g_strdup (socket);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SOCKET]);
}

static void
runner_set_implements (PdRunner *self, GStrv implements /* taken */)
{
  if (implements == NULL)
    implements = g_new0 (char *, 1);
  if (g_strv_equal ((const char *const *) self->implements, (const char *const *) implements))
    {
      g_strfreev (implements);
      return;
    }
  g_strfreev (self->implements);
  self->implements = implements;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_IMPLEMENTS]);
}

static void
runner_set_restart_count (PdRunner *self, guint count)
{
  if (self->restart_count == count)
    return;
  self->restart_count = count;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_RESTART_COUNT]);
}

static void
runner_set_last_error (PdRunner *self, const GError *error)
{
  const char *name = "";
  const char *message = "";

  if (error != NULL)
    {
      g_autoptr(GError) copy = g_error_copy (error);
      pd_error_convert (&copy);
      name = pd_error_to_dbus_name ((PdError) copy->code);
      message = error->message;
    }
  if (g_strcmp0 (self->last_error_name, name) != 0)
    {
      g_free (self->last_error_name);
      self->last_error_name = g_strdup (name);
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST_ERROR_NAME]);
    }
  if (g_strcmp0 (self->last_error_message, message) != 0)
    {
      g_free (self->last_error_message);
      self->last_error_message = g_strdup (message);
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LAST_ERROR_MESSAGE]);
    }
}

/* where the plugin's last output is, when it wrote any: "; see the plugin's log", or "".
 * Never the output itself: these errors become LastErrorMessage, job results and method
 * errors, which every local user may read, and a plugin's output may hold its secrets; the
 * log is for those read-logs allows */
static char *
runner_dup_tail_text (PdRunner *self)
{
  if (self->tail.length == 0 && (self->partial == NULL || self->partial->len == 0))
    return g_strdup ("");
  return g_strdup ("; see the plugin's log");
}

static char *
describe_exit (int exit_code)
{
  if (exit_code < 0)
    return g_strdup_printf ("was killed by signal %d (%s)", -exit_code, g_strsignal (-exit_code));
  if (exit_code > 128 && exit_code < 128 + 65)
    return g_strdup_printf ("exited with status %d (signal %d, %s)", exit_code,
                            exit_code - 128, g_strsignal (exit_code - 128));
  return g_strdup_printf ("exited with status %d", exit_code);
}

/* ---- logs ---- */

static void
runner_log_close (PdRunner *self)
{
  if (self->log_fd >= 0)
    close (self->log_fd);
  self->log_fd = -1;
}

static gboolean
runner_log_open (PdRunner *self, gboolean truncate, GError **error)
{
  struct stat st;
  int fd;

  runner_log_close (self);
  fd = open (self->log_path,
             O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (truncate ? O_TRUNC : 0),
             0600);
  if (fd < 0)
    {
      pd_set_error_from_errno (error, errno, "Cannot open log file %s", self->log_path);
      return FALSE;
    }
  /* 0600 whatever the umask, and whatever an older file had */
  if (fstat (fd, &st) < 0 || (fchmod (fd, 0600) < 0 && errno != EPERM))
    {
      pd_set_error_from_errno (error, errno, "Cannot set up log file %s", self->log_path);
      close (fd);
      return FALSE;
    }
  self->log_fd = fd;
  self->log_size = st.st_size;
  return TRUE;
}

static void
runner_log_write (PdRunner *self, const guint8 *data, gsize len)
{
  if (self->log_fd < 0)
    return;

  /* rotate before the file would pass the cap: chunks are at most OUTPUT_CHUNK */
  if (self->log_size > 0 && self->log_size + (goffset) len > PD_RUNNER_LOG_MAX_SIZE)
    {
      g_autoptr(GError) error = NULL;

      if (rename (self->log_path, self->log_path_old) < 0)
        g_debug ("cannot rotate %s: %s", self->log_path, g_strerror (errno));
      if (!runner_log_open (self, TRUE, &error))
        {
          g_debug ("%s", error->message);
          return;
        }
    }

  if (!pd_write_all (self->log_fd, data, len, NULL))
    {
      /* a full disk loses log output, never the plugin */
      g_debug ("cannot write %s: %s", self->log_path, g_strerror (errno));
      return;
    }
  self->log_size += len;
}

static void
runner_tail_push_line (PdRunner *self)
{
  g_queue_push_tail (&self->tail, g_strndup (self->partial->str, self->partial->len));
  while (self->tail.length > PD_RUNNER_TAIL_LINES)
    g_free (g_queue_pop_head (&self->tail));
  g_string_truncate (self->partial, 0);
  self->partial_truncated = FALSE;
}

static void
runner_tail_feed (PdRunner *self, const guint8 *data, gsize len)
{
  for (gsize i = 0; i < len; i++)
    {
      if (data[i] == '\n')
        runner_tail_push_line (self);
      else if (self->partial->len < TAIL_LINE_MAX)
        g_string_append_c (self->partial, (char) data[i]);
      else if (!self->partial_truncated)
        {
          g_string_append (self->partial, "…");
          self->partial_truncated = TRUE;
        }
    }
}

static void
runner_tail_clear (PdRunner *self)
{
  g_queue_clear_full (&self->tail, g_free);
  g_string_truncate (self->partial, 0);
  self->partial_truncated = FALSE;
}

/* write(2) to a pipe whose reader may be gone: EPIPE, never a SIGPIPE for the daemon */
static gssize
write_no_sigpipe (int fd, const void *data, gsize len)
{
  sigset_t pipe_set;
  sigset_t old_set;
  sigset_t pending;
  gboolean was_pending;
  gssize n;
  int errsv;

  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  sigpending (&pending);
  was_pending = sigismember (&pending, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
  do
    n = write (fd, data, len);
  while (n < 0 && errno == EINTR);
  errsv = errno;
  if (n < 0 && errsv == EPIPE && !was_pending)
    {
      struct timespec zero = { 0, 0 };
      sigtimedwait (&pipe_set, NULL, &zero);
    }
  pthread_sigmask (SIG_SETMASK, &old_set, NULL);
  errno = errsv;
  return n;
}

static void
log_reader_drop (LogReader *reader)
{
  PdRunner *self = reader->runner;

  g_ptr_array_remove (self->readers, reader);
}

static gboolean
log_reader_flush (LogReader *reader)
{
  while (reader->pending->len > 0)
    {
      gssize n = write_no_sigpipe (reader->fd, reader->pending->data, reader->pending->len);
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0)
        return FALSE;
      g_byte_array_remove_range (reader->pending, 0, (guint) n);
    }
  return TRUE;
}

static gboolean
log_reader_on_writable (int fd, GIOCondition condition, gpointer user_data)
{
  LogReader *reader = user_data;

  if (!log_reader_flush (reader) || (reader->pending->len == 0 && !reader->follow))
    {
      reader->out_source = 0;
      log_reader_drop (reader);
      return G_SOURCE_REMOVE;
    }
  if (reader->pending->len == 0)
    {
      reader->out_source = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
log_reader_on_error (int fd, GIOCondition condition, gpointer user_data)
{
  LogReader *reader = user_data;

  /* the reader closed its end (POLLERR on a pipe's write end) */
  reader->err_source = 0;
  log_reader_drop (reader);
  return G_SOURCE_REMOVE;
}

/* queues @data for @reader and writes what the pipe takes; FALSE when the reader is dropped */
static void
log_reader_send (LogReader *reader, const guint8 *data, gsize len)
{
  if (reader->pending->len + len > LOG_READER_MAX_PENDING)
    {
      /* too far behind: drop it rather than buffer without end */
      log_reader_drop (reader);
      return;
    }
  g_byte_array_append (reader->pending, data, (guint) len);
  if (reader->out_source != 0)
    return;
  if (!log_reader_flush (reader))
    {
      log_reader_drop (reader);
      return;
    }
  if (reader->pending->len > 0)
    reader->out_source = g_unix_fd_add (reader->fd, G_IO_OUT, log_reader_on_writable, reader);
  else if (!reader->follow)
    log_reader_drop (reader);
}

static void
log_reader_free (LogReader *reader)
{
  g_clear_handle_id (&reader->out_source, g_source_remove);
  g_clear_handle_id (&reader->err_source, g_source_remove);
  if (reader->fd >= 0)
    close (reader->fd);
  g_byte_array_unref (reader->pending);
  g_free (reader);
}

/* followers see EOF once their pending data is written */
static void
runner_close_readers (PdRunner *self)
{
  for (guint i = self->readers->len; i > 0; i--)
    {
      LogReader *reader = g_ptr_array_index (self->readers, i - 1);
      reader->follow = FALSE;
      if (reader->pending->len == 0)
        log_reader_drop (reader);
    }
}

static void
runner_handle_output (PdRunner *self, const guint8 *data, gsize len)
{
  runner_log_write (self, data, len);
  runner_tail_feed (self, data, len);
  for (guint i = self->readers->len; i > 0; i--)
    {
      LogReader *reader = g_ptr_array_index (self->readers, i - 1);
      if (reader->follow)
        log_reader_send (reader, data, len);
    }
}

/* the tail of the file at @path, at most @max bytes, appended to @buf */
static void
read_file_tail (const char *path, gsize max, GByteArray *buf)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  off_t start;
  gsize want;
  guint old_len = buf->len;

  if (fd < 0)
    return;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size <= 0)
    {
      close (fd);
      return;
    }
  want = MIN ((gsize) st.st_size, max);
  start = st.st_size - (off_t) want;
  g_byte_array_set_size (buf, old_len + (guint) want);
  {
    gsize got = 0;
    while (got < want)
      {
        ssize_t n = pread (fd, buf->data + old_len + got, want - got, start + (off_t) got);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          break;
        got += (gsize) n;
      }
    g_byte_array_set_size (buf, old_len + (guint) got);
  }
  close (fd);
}

/* ---- processes ---- */

static void
proc_free (Proc *proc)
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
  g_clear_object (&proc->cancellable);
}

static Proc *
proc_ref (Proc *proc)
{
  return g_rc_box_acquire (proc);
}

static void
proc_unref (Proc *proc)
{
  g_rc_box_release_full (proc, (GDestroyNotify) proc_free);
}

/* PidHost: SIGKILLs every process in the plugin's mount namespace, whatever its session or
 * parent. Each is pinned with a pidfd before its namespace is checked, so a reused pid is
 * never hit. Repeated while it finds any, as they may fork meanwhile. */
static void
proc_kill_namespace (Proc *proc)
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

static void proc_read_info (Proc *proc);

/* bwrap reports the sandbox's pid right after it made that process; until it let the process
 * go on, the process waits for it without having tied its life to bwrap's yet, so killing bwrap
 * alone then would leave it waiting for good. Waits (blocking, at most @timeout_ms) for the
 * report, to kill the process itself. */
static void
proc_wait_for_pid (Proc *proc, guint timeout_ms)
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

static void
proc_signal (Proc *proc, int sig)
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
proc_maybe_finish (Proc *proc)
{
  PdRunner *self = proc->runner;

  if (proc->finished || !proc->exited || !proc->out_eof)
    return;
  proc->finished = TRUE;
  g_clear_handle_id (&proc->grace_source, g_source_remove);
  if (self != NULL)
    runner_proc_finished (self, proc);
}

static gboolean
proc_on_output (int fd, GIOCondition condition, gpointer user_data)
{
  Proc *proc = user_data;
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
      if (proc->runner != NULL)
        runner_handle_output (proc->runner, buf, (gsize) n);
      return G_SOURCE_CONTINUE;
    }
  proc->out_source = 0;
  close (proc->out_fd);
  proc->out_fd = -1;
  proc->out_eof = TRUE;
  proc_maybe_finish (proc);
  return G_SOURCE_REMOVE;
}

static gboolean
proc_on_grace (gpointer user_data)
{
  Proc *proc = user_data;

  /* something outside the plugin's PID namespace still holds the pipe: stop reading */
  proc->grace_source = 0;
  g_clear_handle_id (&proc->out_source, g_source_remove);
  if (proc->out_fd >= 0)
    close (proc->out_fd);
  proc->out_fd = -1;
  proc->out_eof = TRUE;
  proc_maybe_finish (proc);
  return G_SOURCE_REMOVE;
}

static void proc_maybe_finish_setup (Proc *proc);

/* parses {"child-pid": N} from bwrap's --info-fd and pins N with a pidfd */
static void
proc_parse_info (Proc *proc)
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
  if (proc->runner != NULL && proc->runner->proc == proc)
    runner_set_main_pid (proc->runner, (guint) pid);
  if (proc->pending_signal != 0)
    {
      int sig = proc->pending_signal;

      proc->pending_signal = 0;
      proc_signal (proc, sig);
    }
  proc_maybe_finish_setup (proc);
}

static void
proc_read_info (Proc *proc)
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
  Proc *proc = user_data;

  proc_read_info (proc);
  return proc->info_fd >= 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean
proc_on_sync (int fd, GIOCondition condition, gpointer user_data)
{
  Proc *proc = user_data;
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
  Proc *proc = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error))
    {
      /* only cancelled at dispose, where the process was SIGKILLed */
      proc_unref (proc);
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
  proc_unref (proc);
}

/* ---- activation ---- */

static void
runner_activation_clear (PdRunner *self)
{
  self->activating = FALSE;
  g_clear_handle_id (&self->poll_source, g_source_remove);
  g_clear_handle_id (&self->activation_timeout_source, g_source_remove);
  if (self->activate_cancellable != NULL)
    g_cancellable_cancel (self->activate_cancellable);
  g_clear_object (&self->activate_cancellable);
  g_clear_object (&self->body_stream);
  g_clear_object (&self->message);
  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);
  g_clear_pointer (&self->body, g_byte_array_unref);
  if (self->sock_fd >= 0)
    close (self->sock_fd);
  self->sock_fd = -1;
  if (self->runtime_dirfd >= 0)
    close (self->runtime_dirfd);
  self->runtime_dirfd = -1;
}

static void
runner_activation_succeeded (PdRunner *self, GStrv implements /* taken */)
{
  const PdPluginConfig *config = pd_plugin_record_get_config (self->record);
  g_autofree char *socket = NULL;

  runner_activation_clear (self);
  if (config->interface_socket != NULL && config->interface_socket[0] != '\0')
    socket = g_build_filename (self->runtime_dir, config->interface_socket, NULL);
  runner_set_implements (self, implements);
  runner_set_socket (self, socket != NULL ? socket : "");
  self->running_since = g_get_monotonic_time ();
  runner_set_state (self, PD_PLUGIN_STATE_RUNNING);

  if (self->enable_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->enable_task);
      g_cancellable_disconnect (self->enable_cancellable, self->enable_cancel_id);
      self->enable_cancel_id = 0;
      g_clear_object (&self->enable_cancellable);
      g_task_return_boolean (task, TRUE);
    }
  else if (self->restart_attempt)
    {
      self->restart_attempt = FALSE;
      runner_set_restart_count (self, self->restart_count + 1);
      g_signal_emit (self, signals[SIGNAL_EVENT], 0, "restart");
    }
}

static void
runner_activation_fail_printf (PdRunner *self, PdError code, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
runner_activation_fail_printf (PdRunner *self, PdError code, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  runner_activation_failed (self, g_error_new_literal (PD_ERROR, code, message));
}

static void
runner_activate_evaluate (PdRunner *self)
{
  guint status = soup_message_get_status (self->message);
  g_autoptr(GByteArray) body = g_steal_pointer (&self->body);
  GError *error = NULL;
  GStrv implements;

  if (status == SOUP_STATUS_NOT_FOUND)
    g_warning ("plugin %s answered 404 to /Plugin.Activate; taking Implements from its config",
               pd_plugin_record_get_id (self->record));
  implements = pd_activate_check_answer (status, (const char *) body->data, body->len,
                                         pd_plugin_record_get_config (self->record), &error);
  if (implements == NULL)
    runner_activation_failed (self, error);
  else
    runner_activation_succeeded (self, implements);
}

static void runner_activate_read (PdRunner *self);
static gboolean runner_on_socket_poll (gpointer user_data);

static void
runner_on_activate_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdRunner) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              &error);

  if (bytes == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (!self->activating || G_INPUT_STREAM (source) != self->body_stream)
    return;
  if (bytes == NULL)
    {
      runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_FAILED,
                                     "Plugin.Activate: %s", error->message);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      runner_activate_evaluate (self);
      return;
    }
  if (self->body->len + g_bytes_get_size (bytes) > ACTIVATE_BODY_MAX)
    {
      runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_FAILED,
                                     "Plugin.Activate: the response is larger than %u bytes",
                                     ACTIVATE_BODY_MAX);
      return;
    }
  g_byte_array_append (self->body, g_bytes_get_data (bytes, NULL), (guint) g_bytes_get_size (bytes));
  runner_activate_read (self);
}

static void
runner_activate_read (PdRunner *self)
{
  g_input_stream_read_bytes_async (self->body_stream, 64 * 1024, G_PRIORITY_DEFAULT,
                                   self->activate_cancellable, runner_on_activate_read,
                                   g_object_ref (self));
}

static void
runner_on_activate_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdRunner) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) stream = soup_session_send_finish (SOUP_SESSION (source), result,
                                                             &error);

  if (stream == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (!self->activating || SOUP_SESSION (source) != self->session)
    return;
  if (stream == NULL &&
      (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
       g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)))
    {
      /* bound but not listening yet, or replaced: connection errors are retried (as Docker
       * does) until the activation timeout, from a fresh check of the socket */
      g_clear_object (&self->message);
      g_clear_object (&self->session);
      g_clear_object (&self->activate_cancellable);
      close (self->sock_fd);
      self->sock_fd = -1;
      runner_schedule_poll (self, SOCKET_POLL_INTERVAL_MS);
      return;
    }
  if (stream == NULL)
    {
      g_autofree char *escaped = pd_escape_untrusted (error->message, -1);
      runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_FAILED,
                                     "Plugin.Activate: %s", escaped);
      return;
    }
  self->body_stream = g_steal_pointer (&stream);
  self->body = g_byte_array_new ();
  runner_activate_read (self);
}

static void
runner_activate (PdRunner *self)
{
  g_autofree char *proc_path = g_strdup_printf ("/proc/self/fd/%d", self->sock_fd);
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (proc_path);
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  SoupMessageHeaders *headers;

  /* reached through our O_PATH fd: a symlink swapped in after the check is never followed */
  self->session = soup_session_new_with_options ("remote-connectable", address,
                                                 "proxy-resolver", NULL,
                                                 "timeout", self->request_timeout_s,
                                                 "max-conns-per-host", 1,
                                                 NULL);
  /* no Accept-Encoding: Docker's headers exactly */
  soup_session_remove_feature_by_type (self->session, SOUP_TYPE_CONTENT_DECODER);
  self->message = soup_message_new (SOUP_METHOD_POST, ACTIVATE_URI);
  headers = soup_message_get_request_headers (self->message);
  soup_message_headers_replace (headers, "Accept", ACTIVATE_ACCEPT);
  /* an empty body with Content-Length: 0 and no Content-Type, as Go sends it */
  soup_message_set_request_body_from_bytes (self->message, NULL, empty);
  self->activate_cancellable = g_cancellable_new ();
  soup_session_send_async (self->session, self->message, G_PRIORITY_DEFAULT,
                           self->activate_cancellable, runner_on_activate_sent,
                           g_object_ref (self));
}

static gboolean runner_on_socket_poll (gpointer user_data);

static void
runner_schedule_poll (PdRunner *self, guint interval_ms)
{
  self->poll_interval_ms = MIN (interval_ms, SOCKET_POLL_INTERVAL_MS);
  self->poll_source = g_timeout_add (self->poll_interval_ms, runner_on_socket_poll, self);
}

static gboolean
runner_on_socket_poll (gpointer user_data)
{
  PdRunner *self = user_data;
  const char *name = pd_plugin_record_get_config (self->record)->interface_socket;
  struct stat st;
  int fd;

  if (fstatat (self->runtime_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        {
          if (self->poll_interval_ms >= SOCKET_POLL_INTERVAL_MS)
            return G_SOURCE_CONTINUE;
          runner_schedule_poll (self, self->poll_interval_ms * 2);
          return G_SOURCE_REMOVE;
        }
      self->poll_source = 0;
      runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_FAILED, "Cannot stat socket %s: %s",
                                     name, g_strerror (errno));
      return G_SOURCE_REMOVE;
    }
  self->poll_source = 0;
  if (!S_ISSOCK (st.st_mode))
    {
      runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_FAILED,
                                     "%s/%s is not a socket", PD_SANDBOX_PLUGIN_SOCKET_DIR, name);
      return G_SOURCE_REMOVE;
    }
  fd = openat (self->runtime_dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    {
      if (fd >= 0)
        close (fd);
      runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_FAILED,
                                     "%s/%s is not a socket", PD_SANDBOX_PLUGIN_SOCKET_DIR, name);
      return G_SOURCE_REMOVE;
    }
  self->sock_fd = fd;
  self->socket_seen = TRUE;
  runner_activate (self);
  return G_SOURCE_REMOVE;
}

static gboolean
runner_on_activation_timeout (gpointer user_data)
{
  PdRunner *self = user_data;
  const char *name = pd_plugin_record_get_config (self->record)->interface_socket;

  self->activation_timeout_source = 0;
  if (self->proc == NULL || !self->proc->child_started)
    runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_TIMEOUT,
                                   "The sandbox was not set up within %u ms",
                                   self->activation_timeout_ms);
  else if (!self->socket_seen)
    runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_TIMEOUT,
                                   "The plugin did not create its socket %s/%s within %u ms",
                                   PD_SANDBOX_PLUGIN_SOCKET_DIR, name, self->activation_timeout_ms);
  else
    runner_activation_fail_printf (self, PD_ERROR_ACTIVATION_TIMEOUT,
                                   "The plugin did not answer /Plugin.Activate within %u ms",
                                   self->activation_timeout_ms);
  return G_SOURCE_REMOVE;
}

/* takes @error; kills the process and finishes the start once it is gone */
static void
runner_activation_failed (PdRunner *self, GError *error)
{
  runner_activation_clear (self);
  if (self->pending_error == NULL)
    self->pending_error = error;
  else
    g_error_free (error);
  if (self->proc != NULL)
    proc_signal (self->proc, SIGKILL);
}

/* ---- start, stop, crash ---- */

/* Synchronous, on the main thread: the next start must find the dir empty, and no state of
 * the runner waits for a thread. The plugin may have made a tree of any depth here:
 * pd_rm_rf_at () walks it with a few fds, and its cost is one unlink per entry the plugin
 * made in its socket dir. */
static void
runner_clear_runtime_dir (PdRunner *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (self->runtime_dir, 0, NULL);
  int dirfd;
  const char *name;

  if (dir == NULL)
    return;
  dirfd = open (self->runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dirfd < 0)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (!pd_rm_rf_at (dirfd, name, &error))
      {
        g_debug ("%s", error->message);
        g_clear_error (&error);
      }
  close (dirfd);
}

static gboolean
runner_has_socket (PdRunner *self)
{
  const char *socket = pd_plugin_record_get_config (self->record)->interface_socket;

  return socket != NULL && socket[0] != '\0';
}

/* the spec of this plugin's sandbox, pointing into the record; @propagated receives the
 * propagated-mount dir when the config has one */
static void
runner_fill_spec (PdRunner *self, PdSandboxSpec *spec, char **propagated)
{
  const PdPluginConfig *config = pd_plugin_record_get_config (self->record);

  *propagated = NULL;
  if (config->propagated_mount != NULL && config->propagated_mount[0] != '\0')
    {
      g_autofree char *rootfs_parent = g_path_get_dirname (self->rootfs);

      *propagated = g_build_filename (rootfs_parent, "propagated-mount", NULL);
    }
  memset (spec, 0, sizeof *spec);
  spec->rootfs = self->rootfs;
  spec->runtime_dir = self->runtime_dir;
  spec->propagated_mount_dir = *propagated;
  spec->config = config;
  spec->settings = pd_plugin_record_get_settings (self->record);
  spec->capabilities = self->capabilities;
}

/* the init said it is ready and its pid is pinned: the daemon's part of the set-up */
static void
proc_maybe_finish_setup (Proc *proc)
{
  PdRunner *self = proc->runner;
  g_autoptr(GError) error = NULL;
  g_autofree char *propagated = NULL;
  PdSandboxSpec spec;

  if (!proc->init_ready || proc->pid == 0 || proc->setup_done || proc->exited || proc->killed
      || self == NULL || self->proc != proc)
    return;
  proc->setup_done = TRUE;
  runner_fill_spec (self, &spec, &propagated);
  if (!pd_sandbox_finish_setup (&spec, proc->pidfd, proc->pid, proc->sync_fd, &error))
    {
      runner_activation_failed (self, g_steal_pointer (&error));
      return;
    }
  proc->child_started = TRUE;
  g_clear_handle_id (&proc->sync_source, g_source_remove);
  close (proc->sync_fd);
  proc->sync_fd = -1;
  /* a plugin without a socket is running once its entrypoint is */
  if (self->activating && !runner_has_socket (self))
    runner_activation_succeeded (self, g_new0 (char *, 1));
}

static gboolean
runner_spawn (PdRunner *self, GError **error)
{
  const PdPluginConfig *config = pd_plugin_record_get_config (self->record);
  g_autoptr(PdSandboxProcess) sandbox = NULL;
  g_autofree char *propagated = NULL;
  PdSandboxSpec spec;
  int out_fd;
  Proc *proc;

  if (!pd_mkdir_with_mode (self->runtime_dir, 0700, error))
    return FALSE;
  runner_clear_runtime_dir (self);

  runner_fill_spec (self, &spec, &propagated);
  if (propagated != NULL && !pd_mkdir_with_mode (propagated, 0755, error))
    return FALSE;
  if (!pd_sandbox_prepare_rootfs (&spec, error))
    return FALSE;
  sandbox = pd_sandbox_spawn (&spec, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                       G_SUBPROCESS_FLAGS_STDERR_MERGE,
                              error);
  if (sandbox == NULL)
    return FALSE;

  proc = g_rc_box_new0 (Proc);
  proc->runner = self;
  proc->subprocess = g_steal_pointer (&sandbox->subprocess);
  proc->cancellable = g_cancellable_new ();
  proc->bwrap_pid = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (proc->subprocess),
                                             NULL, 10);
  proc->pid_host = config->pid_host;
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
  out_fd = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (proc->subprocess)));
  /* our own fd: the stream is closed with the GSubprocess, and reads go through the main loop */
  proc->out_fd = fcntl (out_fd, F_DUPFD_CLOEXEC, 3);
  g_input_stream_close (g_subprocess_get_stdout_pipe (proc->subprocess), NULL, NULL);
  if (proc->out_fd < 0)
    proc->out_eof = TRUE;
  else
    {
      g_unix_set_fd_nonblocking (proc->out_fd, TRUE, NULL);
      proc->out_source = g_unix_fd_add (proc->out_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                        proc_on_output, proc);
    }
  g_subprocess_wait_async (proc->subprocess, proc->cancellable, proc_on_exited, proc_ref (proc));
  self->proc = proc;
  return TRUE;
}

/* spawns and starts the activation; errors go through runner_activation_failed */
static void
runner_start (PdRunner *self)
{
  g_autoptr(GError) error = NULL;

  g_assert (self->proc == NULL);
  g_clear_error (&self->pending_error);
  runner_tail_clear (self);
  if (!runner_log_open (self, FALSE, &error))
    {
      g_debug ("%s", error->message);
      g_clear_error (&error);
    }

  self->activating = TRUE;
  self->socket_seen = FALSE;
  if (!runner_spawn (self, &error))
    {
      pd_error_convert (&error);
      if (error->code == PD_ERROR_FAILED)
        error->code = PD_ERROR_SANDBOX_FAILED;
      runner_log_close (self);
      runner_activation_clear (self);
      self->pending_error = g_steal_pointer (&error);
      runner_proc_finished (self, NULL);
      return;
    }

  self->activation_timeout_source = g_timeout_add (self->activation_timeout_ms,
                                                   runner_on_activation_timeout, self);
  /* without a socket, nothing to wait for but the sandbox's set-up (proc_maybe_finish_setup) */
  if (!runner_has_socket (self))
    return;
  self->runtime_dirfd = open (self->runtime_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (self->runtime_dirfd < 0)
    {
      runner_activation_fail_printf (self, PD_ERROR_SANDBOX_FAILED, "Cannot open %s: %s",
                                     self->runtime_dir, g_strerror (errno));
      return;
    }
  runner_schedule_poll (self, SOCKET_POLL_FIRST_MS);
}

static gboolean
runner_on_restart (gpointer user_data)
{
  PdRunner *self = user_data;

  self->restart_source = 0;
  self->restart_attempt = TRUE;
  runner_start (self);
  return G_SOURCE_REMOVE;
}

/* counts an exit; TRUE when the plugin crashed too often and is failed now */
static gboolean
runner_count_exit (PdRunner *self)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = self->exit_times->len; i > 0; i--)
    if (now - g_array_index (self->exit_times, gint64, i - 1) > CRASH_WINDOW_US)
      g_array_remove_index (self->exit_times, i - 1);
  g_array_append_val (self->exit_times, now);
  return self->exit_times->len >= CRASH_LIMIT;
}

static void
runner_schedule_restart (PdRunner *self)
{
  guint delay = self->backoff_ms;

  runner_set_state (self, PD_PLUGIN_STATE_RESTARTING);
  self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
  self->restart_source = g_timeout_add (delay, runner_on_restart, self);
}

static void
runner_complete_disable (PdRunner *self)
{
  GList *tasks = g_steal_pointer (&self->disable_tasks);

  self->stopping = FALSE;
  g_clear_handle_id (&self->stop_timeout_source, g_source_remove);
  g_array_set_size (self->exit_times, 0);
  self->backoff_ms = self->backoff_initial_ms;
  runner_set_state (self, PD_PLUGIN_STATE_DISABLED);
  runner_close_readers (self);
  for (GList *l = tasks; l != NULL; l = l->next)
    {
      g_task_return_boolean (l->data, TRUE);
      g_object_unref (l->data);
    }
  g_list_free (tasks);
}

/* the process (or the attempt to start one, @proc NULL) is over */
static void
runner_proc_finished (PdRunner *self, Proc *proc)
{
  g_autoptr(GError) error = g_steal_pointer (&self->pending_error);
  gboolean was_activating = self->activating;
  /* what exits after the set-up is the plugin; before, the sandbox */
  gboolean had_pid = proc != NULL && proc->child_started;
  int exit_code = proc != NULL ? proc->exit_code : 0;
  g_autofree char *tail = NULL;

  if (proc != NULL)
    {
      g_assert (self->proc == proc);
      g_cancellable_cancel (proc->cancellable);
      proc->runner = NULL;
      g_clear_handle_id (&proc->info_source, g_source_remove);
      g_clear_handle_id (&proc->out_source, g_source_remove);
      g_clear_handle_id (&proc->grace_source, g_source_remove);
      self->proc = NULL;
      proc_unref (proc);
    }
  runner_activation_clear (self);
  runner_log_close (self);
  runner_set_main_pid (self, 0);
  runner_set_socket (self, "");
  runner_set_implements (self, NULL);
  runner_clear_runtime_dir (self);

  if (self->stopping)
    {
      if (self->enable_task != NULL)
        {
          g_autoptr(GTask) task = g_steal_pointer (&self->enable_task);
          g_cancellable_disconnect (self->enable_cancellable, self->enable_cancel_id);
          self->enable_cancel_id = 0;
          g_clear_object (&self->enable_cancellable);
          g_task_return_new_error (task, PD_ERROR, PD_ERROR_BUSY, "The plugin was disabled");
        }
      self->restart_attempt = FALSE;
      runner_complete_disable (self);
      return;
    }

  tail = runner_dup_tail_text (self);

  if (was_activating || error != NULL)
    {
      if (error == NULL)
        {
          g_autofree char *how = describe_exit (exit_code);
          if (had_pid)
            error = g_error_new (PD_ERROR, PD_ERROR_ACTIVATION_FAILED,
                                 "The plugin %s before it was ready%s", how, tail);
          else
            error = g_error_new (PD_ERROR, PD_ERROR_SANDBOX_FAILED,
                                 "bwrap %s before the plugin started%s", how, tail);
        }
      else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *message = g_strconcat (error->message, tail, NULL);
          g_free (error->message);
          error->message = g_steal_pointer (&message);
        }

      if (self->enable_task != NULL)
        {
          g_autoptr(GTask) task = g_steal_pointer (&self->enable_task);
          g_cancellable_disconnect (self->enable_cancellable, self->enable_cancel_id);
          self->enable_cancel_id = 0;
          g_clear_object (&self->enable_cancellable);
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            runner_set_state (self, PD_PLUGIN_STATE_DISABLED);
          else
            {
              runner_set_last_error (self, error);
              runner_set_state (self, PD_PLUGIN_STATE_FAILED);
            }
          runner_close_readers (self);
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }

      /* a failed restart attempt counts as an exit */
      runner_set_last_error (self, error);
      if (runner_count_exit (self))
        {
          self->restart_attempt = FALSE;
          runner_set_state (self, PD_PLUGIN_STATE_FAILED);
          runner_close_readers (self);
          g_signal_emit (self, signals[SIGNAL_EVENT], 0, "fail");
          return;
        }
      runner_schedule_restart (self);
      return;
    }

  /* an unexpected exit while running */
  {
    g_autofree char *how = describe_exit (exit_code);
    g_autoptr(GError) crash = g_error_new (PD_ERROR, PD_ERROR_FAILED, "The plugin %s%s", how, tail);
    gboolean give_up;

    if (g_get_monotonic_time () - self->running_since > CRASH_WINDOW_US)
      self->backoff_ms = self->backoff_initial_ms;
    runner_set_last_error (self, crash);
    give_up = runner_count_exit (self);
    if (give_up)
      runner_set_state (self, PD_PLUGIN_STATE_FAILED);
    else
      runner_schedule_restart (self);
    g_signal_emit (self, signals[SIGNAL_EVENT], 0, "crash");
    if (give_up)
      {
        runner_close_readers (self);
        g_signal_emit (self, signals[SIGNAL_EVENT], 0, "fail");
      }
  }
}

/* ---- public API ---- */

static gboolean
runner_on_enable_cancelled_idle (gpointer user_data)
{
  PdRunner *self = user_data;

  self->enable_cancel_idle = 0;
  if (self->enable_task != NULL && self->activating)
    runner_activation_failed (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                         "Operation was cancelled"));
  return G_SOURCE_REMOVE;
}

static void
runner_on_enable_cancelled (GCancellable *cancellable, gpointer user_data)
{
  PdRunner *self = user_data;

  /* may run inside g_cancellable_connect(): act from the main loop */
  if (self->enable_cancel_idle == 0)
    self->enable_cancel_idle = g_idle_add (runner_on_enable_cancelled_idle, self);
}

void
pd_runner_enable_async (PdRunner *self,
                        guint activation_timeout_ms,
                        guint request_timeout_s,
                        GCancellable *cancellable,
                        GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (PD_IS_RUNNER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, pd_runner_enable_async);
  /* the task's result decides, not a late cancellation */
  g_task_set_check_cancellable (task, FALSE);

  switch (self->state)
    {
    case PD_PLUGIN_STATE_STARTING:
    case PD_PLUGIN_STATE_RUNNING:
    case PD_PLUGIN_STATE_RESTARTING:
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_PLUGIN_ENABLED,
                               "The plugin is already enabled");
      return;
    case PD_PLUGIN_STATE_STOPPING:
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_BUSY, "The plugin is being disabled");
      return;
    case PD_PLUGIN_STATE_DISABLED:
    case PD_PLUGIN_STATE_FAILED:
    default:
      break;
    }

  self->activation_timeout_ms = activation_timeout_ms != 0 ? activation_timeout_ms
                                                           : PD_RUNNER_DEFAULT_ACTIVATION_TIMEOUT_MS;
  self->request_timeout_s = request_timeout_s;
  self->restart_attempt = FALSE;
  g_array_set_size (self->exit_times, 0);
  self->backoff_ms = self->backoff_initial_ms;
  runner_set_restart_count (self, 0);
  runner_set_last_error (self, NULL);
  self->enable_task = g_steal_pointer (&task);
  if (cancellable != NULL)
    {
      self->enable_cancellable = g_object_ref (cancellable);
      self->enable_cancel_id = g_cancellable_connect (cancellable,
                                                      G_CALLBACK (runner_on_enable_cancelled),
                                                      self, NULL);
    }
  runner_set_state (self, PD_PLUGIN_STATE_STARTING);
  runner_start (self);
}

gboolean
pd_runner_enable_finish (PdRunner *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
runner_on_stop_timeout (gpointer user_data)
{
  PdRunner *self = user_data;

  self->stop_timeout_source = 0;
  if (self->proc != NULL)
    {
      g_debug ("plugin %s did not stop after SIGTERM, killing it",
               pd_plugin_record_get_id (self->record));
      proc_signal (self->proc, SIGKILL);
    }
  return G_SOURCE_REMOVE;
}

void
pd_runner_disable_async (PdRunner *self,
                         guint stop_timeout_ms,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (PD_IS_RUNNER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, pd_runner_disable_async);

  switch (self->state)
    {
    case PD_PLUGIN_STATE_DISABLED:
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_PLUGIN_DISABLED,
                               "The plugin is not enabled");
      return;
    case PD_PLUGIN_STATE_STARTING:
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_BUSY, "The plugin is being enabled");
      return;
    case PD_PLUGIN_STATE_STOPPING:
      /* join the stop in progress */
      self->disable_tasks = g_list_append (self->disable_tasks, g_steal_pointer (&task));
      return;
    case PD_PLUGIN_STATE_FAILED:
      g_assert (self->proc == NULL);
      runner_set_state (self, PD_PLUGIN_STATE_DISABLED);
      g_array_set_size (self->exit_times, 0);
      g_task_return_boolean (task, TRUE);
      return;
    case PD_PLUGIN_STATE_RESTARTING:
    case PD_PLUGIN_STATE_RUNNING:
    default:
      break;
    }

  g_clear_handle_id (&self->restart_source, g_source_remove);
  self->disable_tasks = g_list_append (self->disable_tasks, g_steal_pointer (&task));
  self->stopping = TRUE;
  runner_set_state (self, PD_PLUGIN_STATE_STOPPING);
  if (self->proc == NULL)
    {
      /* restarting, between two attempts */
      self->restart_attempt = FALSE;
      runner_complete_disable (self);
      return;
    }
  /* a restart attempt still activating is abandoned */
  if (self->activating)
    runner_activation_clear (self);
  proc_signal (self->proc, SIGTERM);
  self->stop_timeout_source = g_timeout_add (stop_timeout_ms != 0 ? stop_timeout_ms
                                                                  : PD_RUNNER_DEFAULT_STOP_TIMEOUT_MS,
                                             runner_on_stop_timeout, self);
}

gboolean
pd_runner_disable_finish (PdRunner *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

int
pd_runner_open_log (PdRunner *self, guint lines, gboolean follow, GError **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GByteArray) current = g_byte_array_new ();
  LogReader *reader;
  int fds[2];
  gsize start;
  guint found = 0;

  g_return_val_if_fail (PD_IS_RUNNER (self), -1);

  if (self->readers->len >= PD_RUNNER_MAX_LOG_READERS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "Too many log readers for this plugin (at most %u)", PD_RUNNER_MAX_LOG_READERS);
      return -1;
    }

  if (lines > 0)
    {
      read_file_tail (self->log_path, LOG_TAIL_MAX_BYTES, current);
      if (current->len < LOG_TAIL_MAX_BYTES)
        read_file_tail (self->log_path_old, LOG_TAIL_MAX_BYTES - current->len, data);
      g_byte_array_append (data, current->data, current->len);
    }
  /* the last @lines lines; a final line without '\n' counts as one */
  start = data->len;
  if (start > 0 && data->data[start - 1] == '\n')
    start--;
  while (start > 0 && found < lines)
    {
      if (data->data[start - 1] == '\n')
        {
          found++;
          if (found == lines)
            break;
        }
      start--;
    }
  if (start > 0 && lines == 0)
    start = data->len;

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    {
      pd_error_convert (error);
      return -1;
    }
  if (!g_unix_set_fd_nonblocking (fds[1], TRUE, error))
    {
      close (fds[0]);
      close (fds[1]);
      pd_error_convert (error);
      return -1;
    }

  reader = g_new0 (LogReader, 1);
  reader->runner = self;
  reader->fd = fds[1];
  reader->pending = g_byte_array_new ();
  reader->follow = follow && self->proc != NULL;
  reader->err_source = g_unix_fd_add (reader->fd, G_IO_ERR, log_reader_on_error, reader);
  g_ptr_array_add (self->readers, reader);
  if (data->len > start)
    log_reader_send (reader, data->data + start, data->len - start);
  else if (!reader->follow)
    log_reader_drop (reader);
  return fds[0];
}

void
pd_runner_set_restart_backoff_for_testing (PdRunner *self, guint initial_ms)
{
  g_return_if_fail (PD_IS_RUNNER (self));
  self->backoff_initial_ms = MAX (initial_ms, 1);
  self->backoff_ms = self->backoff_initial_ms;
}

PdRunner *
pd_runner_new (PdPluginRecord *record,
               const char *rootfs,
               const char *plugin_runtime_dir,
               const char *log_dir)
{
  PdRunner *self;
  g_autofree char *log_name = NULL;
  g_autofree char *log_name_old = NULL;

  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), NULL);
  g_return_val_if_fail (rootfs != NULL && plugin_runtime_dir != NULL && log_dir != NULL, NULL);

  self = g_object_new (PD_TYPE_RUNNER, NULL);
  self->record = g_object_ref (record);
  self->rootfs = g_strdup (rootfs);
  self->runtime_dir = g_strdup (plugin_runtime_dir);
  self->log_dir = g_strdup (log_dir);
  log_name = g_strconcat (pd_plugin_record_get_id (record), ".log", NULL);
  log_name_old = g_strconcat (pd_plugin_record_get_id (record), ".log.1", NULL);
  self->log_path = g_build_filename (log_dir, log_name, NULL);
  self->log_path_old = g_build_filename (log_dir, log_name_old, NULL);
  return self;
}

void
pd_runner_set_capabilities (PdRunner *self, PdSandboxCapabilities capabilities)
{
  g_return_if_fail (PD_IS_RUNNER (self));
  self->capabilities = capabilities;
}

PdPluginRecord *
pd_runner_get_record (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), NULL);
  return self->record;
}

PdPluginState
pd_runner_get_state (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), PD_PLUGIN_STATE_DISABLED);
  return self->state;
}

guint64
pd_runner_get_state_timestamp (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), 0);
  return self->state_timestamp;
}

guint
pd_runner_get_main_pid (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), 0);
  return self->main_pid;
}

const char *
pd_runner_get_socket (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), "");
  return self->socket;
}

const char *const *
pd_runner_get_implements (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), NULL);
  return (const char *const *) self->implements;
}

guint
pd_runner_get_restart_count (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), 0);
  return self->restart_count;
}

const char *
pd_runner_get_last_error_name (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), "");
  return self->last_error_name;
}

const char *
pd_runner_get_last_error_message (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), "");
  return self->last_error_message;
}

guint
pd_runner_get_request_timeout (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), 0);
  return self->request_timeout_s;
}

static void
pd_runner_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  PdRunner *self = PD_RUNNER (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_uint (value, self->state);
      break;
    case PROP_STATE_TIMESTAMP:
      g_value_set_uint64 (value, self->state_timestamp);
      break;
    case PROP_MAIN_PID:
      g_value_set_uint (value, self->main_pid);
      break;
    case PROP_SOCKET:
      g_value_set_string (value, self->socket);
      break;
    case PROP_IMPLEMENTS:
      g_value_set_boxed (value, self->implements);
      break;
    case PROP_RESTART_COUNT:
      g_value_set_uint (value, self->restart_count);
      break;
    case PROP_LAST_ERROR_NAME:
      g_value_set_string (value, self->last_error_name);
      break;
    case PROP_LAST_ERROR_MESSAGE:
      g_value_set_string (value, self->last_error_message);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
pd_runner_dispose (GObject *object)
{
  PdRunner *self = PD_RUNNER (object);

  /* nothing outlives the runner: kill whatever runs (the GSubprocess reaps it) */
  if (self->proc != NULL)
    {
      Proc *proc = g_steal_pointer (&self->proc);
      proc->runner = NULL;
      proc_signal (proc, SIGKILL);
      g_clear_handle_id (&proc->info_source, g_source_remove);
      g_clear_handle_id (&proc->out_source, g_source_remove);
      g_clear_handle_id (&proc->grace_source, g_source_remove);
      proc_unref (proc);
    }
  runner_activation_clear (self);
  g_clear_handle_id (&self->restart_source, g_source_remove);
  g_clear_handle_id (&self->stop_timeout_source, g_source_remove);
  g_clear_handle_id (&self->enable_cancel_idle, g_source_remove);
  if (self->enable_cancellable != NULL)
    g_cancellable_disconnect (self->enable_cancellable, self->enable_cancel_id);
  self->enable_cancel_id = 0;
  g_clear_object (&self->enable_cancellable);
  g_assert (self->enable_task == NULL && self->disable_tasks == NULL);
  g_ptr_array_set_size (self->readers, 0);
  runner_log_close (self);
  g_clear_object (&self->record);

  G_OBJECT_CLASS (pd_runner_parent_class)->dispose (object);
}

static void
pd_runner_finalize (GObject *object)
{
  PdRunner *self = PD_RUNNER (object);

  g_clear_error (&self->pending_error);
  g_ptr_array_unref (self->readers);
  g_array_unref (self->exit_times);
  runner_tail_clear (self);
  g_string_free (self->partial, TRUE);
  g_free (self->rootfs);
  g_free (self->runtime_dir);
  g_free (self->log_dir);
  g_free (self->log_path);
  g_free (self->log_path_old);
  g_free (self->socket);
  g_strfreev (self->implements);
  g_free (self->last_error_name);
  g_free (self->last_error_message);

  G_OBJECT_CLASS (pd_runner_parent_class)->finalize (object);
}

static void
pd_runner_class_init (PdRunnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = pd_runner_get_property;
  object_class->dispose = pd_runner_dispose;
  object_class->finalize = pd_runner_finalize;

  props[PROP_STATE] =
    g_param_spec_uint ("state", NULL, NULL, 0, PD_PLUGIN_STATE_FAILED, PD_PLUGIN_STATE_DISABLED,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_STATE_TIMESTAMP] =
    g_param_spec_uint64 ("state-timestamp", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_MAIN_PID] =
    g_param_spec_uint ("main-pid", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_SOCKET] =
    g_param_spec_string ("socket", NULL, NULL, "",
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_IMPLEMENTS] =
    g_param_spec_boxed ("implements", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_RESTART_COUNT] =
    g_param_spec_uint ("restart-count", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_LAST_ERROR_NAME] =
    g_param_spec_string ("last-error-name", NULL, NULL, "",
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_LAST_ERROR_MESSAGE] =
    g_param_spec_string ("last-error-message", NULL, NULL, "",
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  signals[SIGNAL_EVENT] =
    g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
pd_runner_init (PdRunner *self)
{
  self->state = PD_PLUGIN_STATE_DISABLED;
  self->state_timestamp = g_get_real_time ();
  self->socket = g_strdup ("");
  self->implements = g_new0 (char *, 1);
  self->last_error_name = g_strdup ("");
  self->last_error_message = g_strdup ("");
  self->activation_timeout_ms = PD_RUNNER_DEFAULT_ACTIVATION_TIMEOUT_MS;
  self->runtime_dirfd = -1;
  self->sock_fd = -1;
  self->log_fd = -1;
  self->exit_times = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->backoff_initial_ms = 1000;
  self->backoff_ms = 1000;
  g_queue_init (&self->tail);
  self->partial = g_string_new (NULL);
  self->readers = g_ptr_array_new_with_free_func ((GDestroyNotify) log_reader_free);
}
