/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-runner"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "pd-activation.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-plugin-log.h"
#include "pd-plugin-process.h"
#include "pd-propagated-mounts.h"
#include "pd-runner.h"

#define CRASH_WINDOW_US (120 * G_USEC_PER_SEC)
#define CRASH_LIMIT 5
#define BACKOFF_MAX_MS 30000

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

struct _PdRunner {
  GObject parent_instance;

  PdPluginRecord *record;
  char *rootfs;
  char *runtime_dir;
  PdSandboxCapabilities capabilities;

  PdPluginState state;
  guint64 state_timestamp;
  guint main_pid;
  char *socket;              /* NULL: "" (runner_set_string()) */
  GStrv implements;          /* NULL: none */
  guint restart_count;
  char *last_error_name;     /* NULL: "" */
  char *last_error_message;  /* NULL: "" */
  guint request_timeout_s;
  guint activation_timeout_ms;

  PdPluginProcess *proc;
  gboolean restart_attempt;  /* the current start is a restart, not an enable */
  gint64 running_since;      /* monotonic */

  /* activation of the current start */
  gboolean activating;
  PdActivation *activation;  /* the handshake, for a config with a socket */
  guint activation_timeout_source;
  GError *pending_error;     /* why the current process is being killed */

  GTask *enable_task;
  gulong enable_cancel_id;
  GCancellable *enable_cancellable;
  guint enable_cancel_idle;

  GList *disable_tasks;
  guint stop_timeout_source;
  gboolean stopping;

  /* crash handling */
  GArray *exit_times;        /* gint64 monotonic µs; NULL until the first exit */
  guint restart_source;
  guint backoff_initial_ms;
  guint backoff_ms;

  PdPluginLog *log;
  PdPropagatedMounts *mounts;  /* beneath PropagatedMount, while a sandbox runs */

  const PdRunnerOwner *owner;
  gpointer owner_data;
};

G_DEFINE_FINAL_TYPE (PdRunner, pd_runner, G_TYPE_OBJECT)

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
  SIGNAL_MOUNTS_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const char *const no_strings[] = { NULL };

/* "event": the owner first, then the handlers */
static void
emit_event (PdRunner *self, const char *event)
{
  if (self->owner != NULL)
    self->owner->event (self, event, self->owner_data);
  g_signal_emit (self, signals[SIGNAL_EVENT], 0, event);
}

static void
emit_mounts_changed (PdRunner *self)
{
  if (self->owner != NULL)
    self->owner->mounts_changed (self, self->owner_data);
  g_signal_emit (self, signals[SIGNAL_MOUNTS_CHANGED], 0);
}

static void runner_start (PdRunner *self);
static void runner_proc_finished (PdRunner *self, PdPluginProcess *proc);
static void runner_activation_failed (PdRunner *self, GError *error);

/* ---- small helpers ---- */

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

/* sets the property @prop, held in @field, to @value; notifies when it changed */
static void
runner_set_uint (PdRunner *self, guint *field, guint value, guint prop)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

/* "" is kept as NULL (a runner per installed plugin, most of them never started) */
static void
runner_set_string (PdRunner *self, char **field, const char *value, guint prop)
{
  if (value != NULL && *value == '\0')
    value = NULL;
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
runner_set_main_pid (PdRunner *self, guint pid)
{
  runner_set_uint (self, &self->main_pid, pid, PROP_MAIN_PID);
}

static void
runner_set_socket (PdRunner *self, const char *socket)
{
  runner_set_string (self, &self->socket, socket, PROP_SOCKET);
}

static void
runner_set_implements (PdRunner *self, GStrv implements /* taken */)
{
  /* none is kept as NULL */
  if (implements != NULL && implements[0] == NULL)
    g_clear_pointer (&implements, g_strfreev);
  if (self->implements == implements ||
      (self->implements != NULL && implements != NULL &&
       g_strv_equal ((const char *const *) self->implements, (const char *const *) implements)))
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
  runner_set_uint (self, &self->restart_count, count, PROP_RESTART_COUNT);
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
  runner_set_string (self, &self->last_error_name, name, PROP_LAST_ERROR_NAME);
  runner_set_string (self, &self->last_error_message, message, PROP_LAST_ERROR_MESSAGE);
}

/* the restart limit is reached: CrashLoop, whose message keeps the last exit's */
static void
runner_set_crash_loop (PdRunner *self, const GError *last)
{
  g_autoptr(GError) error = g_error_new (PD_ERROR, PD_ERROR_CRASH_LOOP,
                                         "The plugin stopped %u times within %u s and is not "
                                         "restarted any more; the last time: %s",
                                         (guint) CRASH_LIMIT,
                                         (guint) (CRASH_WINDOW_US / G_USEC_PER_SEC),
                                         last->message);

  runner_set_last_error (self, error);
}

/* where the plugin's last output is, when it wrote any: "; see the plugin's log", or "".
 * Never the output itself: these errors become LastErrorMessage, job results and method
 * errors, which every local user may read, and a plugin's output may hold its secrets; the
 * log is for those read-logs allows */
static const char *
runner_log_hint (PdRunner *self)
{
  return pd_plugin_log_had_output (self->log) ? "; see the plugin's log" : "";
}

/* killed by a signal: bwrap itself (-signal), or the plugin, which bwrap reports as 128 + the
 * signal as a shell does */
static gboolean
exit_is_signal (int exit_code)
{
  return exit_code < 0 || (exit_code > 128 && exit_code < 128 + 65);
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

/* ---- activation ---- */

static void
runner_activation_clear (PdRunner *self)
{
  self->activating = FALSE;
  g_clear_handle_id (&self->activation_timeout_source, g_source_remove);
  if (self->activation != NULL)
    pd_activation_cancel (self->activation);
  g_clear_pointer (&self->activation, pd_activation_unref);
}

/* the enable call in flight, no longer cancellable */
static GTask *
runner_steal_enable_task (PdRunner *self)
{
  g_cancellable_disconnect (self->enable_cancellable, self->enable_cancel_id);
  self->enable_cancel_id = 0;
  g_clear_object (&self->enable_cancellable);
  return g_steal_pointer (&self->enable_task);
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
      g_autoptr(GTask) task = runner_steal_enable_task (self);
      g_task_return_boolean (task, TRUE);
    }
  else if (self->restart_attempt)
    {
      self->restart_attempt = FALSE;
      runner_set_restart_count (self, self->restart_count + 1);
      emit_event (self, "restart");
    }
}

static gboolean
runner_on_activation_timeout (gpointer user_data)
{
  PdRunner *self = user_data;
  const char *name = pd_plugin_record_get_config (self->record)->interface_socket;
  guint ms = self->activation_timeout_ms;
  GError *error;

  self->activation_timeout_source = 0;
  if (self->proc == NULL || !pd_plugin_process_get_plugin_started (self->proc))
    error = g_error_new (PD_ERROR, PD_ERROR_ACTIVATION_TIMEOUT,
                         "The sandbox was not set up within %u ms", ms);
  else if (self->activation == NULL || !pd_activation_get_socket_seen (self->activation))
    error = g_error_new (PD_ERROR, PD_ERROR_ACTIVATION_TIMEOUT,
                         "The plugin did not create its socket %s/%s within %u ms",
                         PD_SANDBOX_PLUGIN_SOCKET_DIR, name, ms);
  else
    error = g_error_new (PD_ERROR, PD_ERROR_ACTIVATION_TIMEOUT,
                         "The plugin did not answer /Plugin.Activate within %u ms", ms);
  runner_activation_failed (self, error);
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
    pd_plugin_process_signal (self->proc, SIGKILL);
}

/* the handshake's end (PdActivationCallback) */
static void
runner_on_activation_done (GStrv implements, GError *error, gpointer user_data)
{
  PdRunner *self = user_data;

  if (implements != NULL)
    runner_activation_succeeded (self, implements);
  else
    runner_activation_failed (self, error);
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

char *
pd_runner_dup_propagated_mount_dir_for (PdPluginRecord *record, const char *rootfs)
{
  const PdPluginConfig *config = pd_plugin_record_get_config (record);
  g_autofree char *rootfs_parent = NULL;

  if (config->propagated_mount == NULL || config->propagated_mount[0] == '\0')
    return NULL;
  /* Docker's layout: plugins/<id>/propagated-mount beside plugins/<id>/rootfs */
  rootfs_parent = g_path_get_dirname (rootfs);
  return g_build_filename (rootfs_parent, "propagated-mount", NULL);
}

char *
pd_runner_dup_propagated_mount_dir (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), NULL);
  return pd_runner_dup_propagated_mount_dir_for (self->record, self->rootfs);
}

/* the spec of this plugin's sandbox, pointing into the record; @propagated receives the
 * propagated-mount dir when the config has one */
static void
runner_fill_spec (PdRunner *self, PdSandboxSpec *spec, char **propagated)
{
  *propagated = pd_runner_dup_propagated_mount_dir (self);
  memset (spec, 0, sizeof *spec);
  spec->rootfs = self->rootfs;
  spec->runtime_dir = self->runtime_dir;
  spec->propagated_mount_dir = *propagated;
  spec->config = pd_plugin_record_get_config (self->record);
  spec->settings = pd_plugin_record_get_settings (self->record);
  spec->capabilities = self->capabilities;
}

/* ---- the mounts beneath PropagatedMount ---- */

static void
runner_on_mounts_changed (gpointer user_data)
{
  emit_mounts_changed (user_data);
}

/* the sandbox is gone: no mount of it is anyone's any more. Whatever the plugin left mounted
 * on the host is unmounted, and so is the propagated-mount dir's own mount, so that nothing of
 * a plugin that is not running stays mounted on the host. */
static void
runner_end_mounts (PdRunner *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = pd_runner_dup_propagated_mount_dir (self);
  gboolean had = self->mounts != NULL &&
                 (pd_propagated_mounts_get (self->mounts)->len > 0 ||
                  pd_propagated_mounts_get_n_unlisted (self->mounts) > 0);

  /* closing the table first lets the sandbox's mount namespace go */
  g_clear_pointer (&self->mounts, pd_propagated_mounts_free);
  if (had)
    emit_mounts_changed (self);
  if (dir != NULL && !pd_runner_release_mounts (self, &error))
    g_warning ("plugin %s: %s", pd_plugin_record_get_id (self->record), error->message);
}

gboolean
pd_runner_release_mounts_for (PdPluginRecord *record, const char *rootfs, GError **error)
{
  g_autofree char *dir = pd_runner_dup_propagated_mount_dir_for (record, rootfs);
  guint64 unmounted = 0;

  if (dir == NULL)
    return TRUE;
  if (!pd_sandbox_release_propagated_mount (dir, &unmounted, error))
    return FALSE;
  if (unmounted > 0)
    g_debug ("plugin %s: unmounted %" G_GUINT64_FORMAT " mounts at %s",
             pd_plugin_record_get_id (record), unmounted, dir);
  return TRUE;
}

gboolean
pd_runner_release_mounts (PdRunner *self, GError **error)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), FALSE);
  g_return_val_if_fail (self->proc == NULL, FALSE);

  return pd_runner_release_mounts_for (self->record, self->rootfs, error);
}

GPtrArray *
pd_runner_get_mounts (PdRunner *self, guint *n_unlisted)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), NULL);
  if (self->mounts == NULL)
    {
      if (n_unlisted != NULL)
        *n_unlisted = 0;
      return NULL;
    }
  if (n_unlisted != NULL)
    *n_unlisted = pd_propagated_mounts_get_n_unlisted (self->mounts);
  return pd_propagated_mounts_get (self->mounts);
}

void
pd_runner_refresh_mounts (PdRunner *self)
{
  g_return_if_fail (PD_IS_RUNNER (self));
  if (self->mounts != NULL)
    pd_propagated_mounts_refresh (self->mounts);
}

/* ---- the process (PdPluginProcessCallbacks) ---- */

static void
runner_on_output (const guint8 *data, gsize len, gpointer user_data)
{
  PdRunner *self = user_data;

  pd_plugin_log_append (self->log, data, len);
}

static void
runner_on_pid_known (pid_t pid, gpointer user_data)
{
  runner_set_main_pid (user_data, (guint) pid);
}

/* the init said it is ready and its pid is pinned: the daemon's part of the set-up */
static void
runner_on_setup_due (PdPluginProcess *proc, gpointer user_data)
{
  PdRunner *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *propagated = NULL;
  PdSandboxSpec spec;

  PdSandboxPropagation propagation;

  runner_fill_spec (self, &spec, &propagated);
  if (!pd_plugin_process_finish_setup (proc, &spec, &propagation, &error))
    {
      runner_activation_failed (self, g_steal_pointer (&error));
      return;
    }
  if (propagation.mountinfo_fd >= 0)
    {
      self->mounts = pd_propagated_mounts_new (propagation.mountinfo_fd, propagation.mount_id,
                                               propagated, runner_on_mounts_changed, self);
      /* the entrypoint runs already: it may have mounted something before the first read */
      if (pd_propagated_mounts_get (self->mounts)->len > 0 ||
          pd_propagated_mounts_get_n_unlisted (self->mounts) > 0)
        runner_on_mounts_changed (self);
    }
  /* a plugin without a socket is running once its entrypoint is */
  if (self->activating && !runner_has_socket (self))
    runner_activation_succeeded (self, g_new0 (char *, 1));
}

static void
runner_on_finished (PdPluginProcess *proc, gpointer user_data)
{
  runner_proc_finished (user_data, proc);
}

static const PdPluginProcessCallbacks process_callbacks = {
  .output = runner_on_output,
  .pid_known = runner_on_pid_known,
  .setup_due = runner_on_setup_due,
  .finished = runner_on_finished,
};

static gboolean
runner_spawn (PdRunner *self, GError **error)
{
  g_autofree char *propagated = NULL;
  PdSandboxSpec spec;

  if (!pd_mkdir_with_mode (self->runtime_dir, 0700, error))
    return FALSE;
  runner_clear_runtime_dir (self);

  runner_fill_spec (self, &spec, &propagated);
  if (propagated != NULL && !pd_mkdir_with_mode (propagated, 0755, error))
    return FALSE;
  if (!pd_sandbox_prepare_rootfs (&spec, error))
    return FALSE;
  self->proc = pd_plugin_process_spawn (&spec, &process_callbacks, self, error);
  return self->proc != NULL;
}

/* spawns and starts the activation; errors go through runner_activation_failed */
static void
runner_start (PdRunner *self)
{
  g_autoptr(GError) error = NULL;

  g_assert (self->proc == NULL);
  g_clear_error (&self->pending_error);
  pd_plugin_log_start (self->log);

  self->activating = TRUE;
  if (!runner_spawn (self, &error))
    {
      pd_error_convert (&error);
      if (error->code == PD_ERROR_FAILED)
        error->code = PD_ERROR_SANDBOX_FAILED;
      pd_plugin_log_stop (self->log);
      runner_activation_clear (self);
      self->pending_error = g_steal_pointer (&error);
      runner_proc_finished (self, NULL);
      return;
    }

  self->activation_timeout_source = g_timeout_add (self->activation_timeout_ms,
                                                   runner_on_activation_timeout, self);
  /* without a socket, nothing to wait for but the sandbox's set-up (runner_on_setup_due) */
  if (!runner_has_socket (self))
    return;
  self->activation = pd_activation_start (self->record, self->runtime_dir,
                                          self->request_timeout_s, runner_on_activation_done,
                                          self, &error);
  if (self->activation == NULL)
    runner_activation_failed (self, g_steal_pointer (&error));
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

  if (self->exit_times == NULL)
    self->exit_times = g_array_new (FALSE, FALSE, sizeof (gint64));
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
  g_clear_pointer (&self->exit_times, g_array_unref);
  self->backoff_ms = self->backoff_initial_ms;
  runner_set_state (self, PD_PLUGIN_STATE_DISABLED);
  pd_plugin_log_end_follow (self->log);
  for (GList *l = tasks; l != NULL; l = l->next)
    {
      g_task_return_boolean (l->data, TRUE);
      g_object_unref (l->data);
    }
  g_list_free (tasks);
}

/* the process (or the attempt to start one, @proc NULL) is over */
static void
runner_proc_finished (PdRunner *self, PdPluginProcess *proc)
{
  g_autoptr(GError) error = g_steal_pointer (&self->pending_error);
  gboolean was_activating = self->activating;
  /* what exits after the set-up is the plugin; before, the sandbox */
  gboolean had_pid = proc != NULL && pd_plugin_process_get_plugin_started (proc);
  int exit_code = proc != NULL ? pd_plugin_process_get_exit_code (proc) : 0;
  const char *log_hint;

  if (proc != NULL)
    {
      g_assert (self->proc == proc);
      pd_plugin_process_detach (proc);
      g_clear_pointer (&self->proc, pd_plugin_process_unref);
    }
  runner_activation_clear (self);
  /* before any state change: a disabled or restarting plugin has nothing mounted */
  runner_end_mounts (self);
  pd_plugin_log_stop (self->log);
  runner_set_main_pid (self, 0);
  runner_set_socket (self, "");
  runner_set_implements (self, NULL);
  runner_clear_runtime_dir (self);

  if (self->stopping)
    {
      if (self->enable_task != NULL)
        {
          g_autoptr(GTask) task = runner_steal_enable_task (self);
          g_task_return_new_error (task, PD_ERROR, PD_ERROR_BUSY, "The plugin was disabled");
        }
      self->restart_attempt = FALSE;
      runner_complete_disable (self);
      return;
    }

  log_hint = runner_log_hint (self);

  if (was_activating || error != NULL)
    {
      if (error == NULL)
        {
          g_autofree char *how = describe_exit (exit_code);
          if (had_pid)
            error = g_error_new (PD_ERROR, PD_ERROR_ACTIVATION_FAILED,
                                 "The plugin %s before it was ready%s", how, log_hint);
          else
            error = g_error_new (PD_ERROR, PD_ERROR_SANDBOX_FAILED,
                                 "bwrap %s before the plugin started%s", how, log_hint);
        }
      else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *message = g_strconcat (error->message, log_hint, NULL);
          g_free (error->message);
          error->message = g_steal_pointer (&message);
        }

      if (self->enable_task != NULL)
        {
          g_autoptr(GTask) task = runner_steal_enable_task (self);
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            runner_set_state (self, PD_PLUGIN_STATE_DISABLED);
          else
            {
              runner_set_last_error (self, error);
              runner_set_state (self, PD_PLUGIN_STATE_FAILED);
            }
          pd_plugin_log_end_follow (self->log);
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }

      /* a failed restart attempt counts as an exit */
      runner_set_last_error (self, error);
      if (runner_count_exit (self))
        {
          self->restart_attempt = FALSE;
          runner_set_crash_loop (self, error);
          runner_set_state (self, PD_PLUGIN_STATE_FAILED);
          pd_plugin_log_end_follow (self->log);
          emit_event (self, "fail");
          return;
        }
      runner_schedule_restart (self);
      return;
    }

  /* an unexpected exit while running */
  {
    g_autofree char *how = describe_exit (exit_code);
    g_autoptr(GError) crash = g_error_new (PD_ERROR,
                                           exit_is_signal (exit_code) ? PD_ERROR_PLUGIN_CRASHED
                                                                      : PD_ERROR_PLUGIN_EXITED,
                                           "The plugin %s%s", how, log_hint);
    gboolean give_up;

    if (g_get_monotonic_time () - self->running_since > CRASH_WINDOW_US)
      self->backoff_ms = self->backoff_initial_ms;
    runner_set_last_error (self, crash);
    give_up = runner_count_exit (self);
    if (give_up)
      {
        runner_set_crash_loop (self, crash);
        runner_set_state (self, PD_PLUGIN_STATE_FAILED);
      }
    else
      runner_schedule_restart (self);
    emit_event (self, "crash");
    if (give_up)
      {
        pd_plugin_log_end_follow (self->log);
        emit_event (self, "fail");
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
  g_clear_pointer (&self->exit_times, g_array_unref);
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
      pd_plugin_process_signal (self->proc, SIGKILL);
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
      g_clear_pointer (&self->exit_times, g_array_unref);
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
  pd_plugin_process_signal (self->proc, SIGTERM);
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
pd_runner_open_log (PdRunner *self, const PdPluginLogQuery *query, gboolean follow,
                    GError **error)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), -1);

  /* when no process runs, nothing follows the tail */
  return pd_plugin_log_open_reader (self->log, query, follow && self->proc != NULL, error);
}

char *
pd_runner_read_log (PdRunner *self, const PdPluginLogQuery *query)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), NULL);
  return pd_plugin_log_read_text (self->log, query);
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

  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), NULL);
  g_return_val_if_fail (rootfs != NULL && plugin_runtime_dir != NULL && log_dir != NULL, NULL);

  self = g_object_new (PD_TYPE_RUNNER, NULL);
  self->record = g_object_ref (record);
  self->rootfs = g_strdup (rootfs);
  self->runtime_dir = g_strdup (plugin_runtime_dir);
  self->log = pd_plugin_log_new (log_dir, pd_plugin_record_get_id (record));
  return self;
}

void
pd_runner_set_owner (PdRunner *self, const PdRunnerOwner *owner, gpointer data)
{
  g_return_if_fail (PD_IS_RUNNER (self));
  self->owner = owner;
  self->owner_data = owner != NULL ? data : NULL;
}

void
pd_runner_set_capabilities (PdRunner *self, PdSandboxCapabilities capabilities)
{
  g_return_if_fail (PD_IS_RUNNER (self));
  self->capabilities = capabilities;
}

void
pd_runner_set_initial_state_timestamp (PdRunner *self, guint64 timestamp)
{
  g_return_if_fail (PD_IS_RUNNER (self));
  g_return_if_fail (self->state == PD_PLUGIN_STATE_DISABLED && self->proc == NULL);
  self->state_timestamp = timestamp;
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
  return self->socket != NULL ? self->socket : "";
}

const char *const *
pd_runner_get_implements (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), NULL);
  return self->implements != NULL ? (const char *const *) self->implements : no_strings;
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
  return self->last_error_name != NULL ? self->last_error_name : "";
}

const char *
pd_runner_get_last_error_message (PdRunner *self)
{
  g_return_val_if_fail (PD_IS_RUNNER (self), "");
  return self->last_error_message != NULL ? self->last_error_message : "";
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
      g_value_set_string (value, pd_runner_get_socket (self));
      break;
    case PROP_IMPLEMENTS:
      g_value_set_boxed (value, pd_runner_get_implements (self));
      break;
    case PROP_RESTART_COUNT:
      g_value_set_uint (value, self->restart_count);
      break;
    case PROP_LAST_ERROR_NAME:
      g_value_set_string (value, pd_runner_get_last_error_name (self));
      break;
    case PROP_LAST_ERROR_MESSAGE:
      g_value_set_string (value, pd_runner_get_last_error_message (self));
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
      g_autoptr(PdPluginProcess) proc = g_steal_pointer (&self->proc);

      /* detached first: what the kill reports is no news for a runner going away */
      pd_plugin_process_detach (proc);
      pd_plugin_process_signal (proc, SIGKILL);
    }
  runner_activation_clear (self);
  g_clear_pointer (&self->mounts, pd_propagated_mounts_free);
  g_clear_handle_id (&self->restart_source, g_source_remove);
  g_clear_handle_id (&self->stop_timeout_source, g_source_remove);
  g_clear_handle_id (&self->enable_cancel_idle, g_source_remove);
  if (self->enable_cancellable != NULL)
    g_cancellable_disconnect (self->enable_cancellable, self->enable_cancel_id);
  self->enable_cancel_id = 0;
  g_clear_object (&self->enable_cancellable);
  g_assert (self->enable_task == NULL && self->disable_tasks == NULL);
  if (self->log != NULL)
    pd_plugin_log_close (self->log);
  g_clear_object (&self->record);

  G_OBJECT_CLASS (pd_runner_parent_class)->dispose (object);
}

static void
pd_runner_finalize (GObject *object)
{
  PdRunner *self = PD_RUNNER (object);

  g_clear_error (&self->pending_error);
  g_clear_pointer (&self->exit_times, g_array_unref);
  pd_plugin_log_free (self->log);
  g_free (self->rootfs);
  g_free (self->runtime_dir);
  g_free (self->socket);
  g_strfreev (self->implements);
  g_free (self->last_error_name);
  g_free (self->last_error_message);

  G_OBJECT_CLASS (pd_runner_parent_class)->finalize (object);
}

/* "notify"'s class handler: the owner, before the handlers */
static void
pd_runner_notify (GObject *object, GParamSpec *pspec)
{
  PdRunner *self = PD_RUNNER (object);

  if (self->owner != NULL)
    self->owner->notify (self, pspec, self->owner_data);
}

static void
pd_runner_class_init (PdRunnerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = pd_runner_get_property;
  object_class->notify = pd_runner_notify;
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
  signals[SIGNAL_MOUNTS_CHANGED] =
    g_signal_new ("mounts-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
}

static void
pd_runner_init (PdRunner *self)
{
  self->state = PD_PLUGIN_STATE_DISABLED;
  self->state_timestamp = g_get_real_time ();
  self->activation_timeout_ms = PD_RUNNER_DEFAULT_ACTIVATION_TIMEOUT_MS;
  self->backoff_initial_ms = 1000;
  self->backoff_ms = 1000;
}
