/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-job"

#include "pd-dbus-util.h"
#include "pd-error.h"
#include "pd-job.h"
#include "pd-names.h"
#include "pd-options.h"

/* PropertiesChanged for progress at most every 250 ms (dbus-api.md D4: ≤ 4 Hz per job) */
#define PD_JOB_PROGRESS_INTERVAL_US (250 * G_TIME_SPAN_MILLISECOND)
#define PD_JOB_DEFAULT_LINGER_MS    (60 * 1000)
/* the rate is averaged over this window so that bursty reads do not make it jump */
#define PD_JOB_RATE_WINDOW_US       (5 * G_TIME_SPAN_SECOND)
/* with less history than this the rate is too noisy to show */
#define PD_JOB_RATE_MIN_SPAN_US     (250 * G_TIME_SPAN_MILLISECOND)
/* samples closer together than this are merged, bounding the window's size */
#define PD_JOB_RATE_SAMPLE_US       (100 * G_TIME_SPAN_MILLISECOND)

typedef struct {
  gint64 time_us;   /* monotonic */
  guint64 bytes;
} PdJobSample;

struct _PdJob {
  PdDbusJobSkeleton parent_instance;

  PdAuth *auth;
  guint32 id;
  char *object_path;
  GCancellable *cancellable;
  gboolean finished;
  gboolean cancel_requested;
  /* GDBusMethodInvocation of Wait() calls that arrived before the end */
  GPtrArray *waiting;

  /* progress values not yet on the skeleton; pushed by pd_job_push_progress() */
  gboolean progress_dirty;
  guint64 bytes_done;
  guint64 bytes_total;
  double progress;
  gboolean progress_valid;
  guint64 rate;
  guint64 expected_end_time;
  GVariant *layers;
  gint64 last_push_us;
  guint progress_id;
  GArray *samples;

  guint linger_ms;
  guint linger_id;
};

enum {
  SIGNAL_CANCEL_REQUESTED,
  SIGNAL_FINISHED,
  SIGNAL_LINGER_EXPIRED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void pd_job_iface_init (PdDbusJobIface *iface);

G_DEFINE_TYPE_WITH_CODE (PdJob, pd_job, PD_DBUS_TYPE_JOB_SKELETON,
                         G_IMPLEMENT_INTERFACE (PD_DBUS_TYPE_JOB, pd_job_iface_init))

/* section: progress */

static void
pd_job_push_progress (PdJob *self)
{
  PdDbusJob *job = PD_DBUS_JOB (self);

  g_clear_handle_id (&self->progress_id, g_source_remove);
  if (!self->progress_dirty)
    return;
  self->progress_dirty = FALSE;
  self->last_push_us = g_get_monotonic_time ();

  /* the skeleton compares each value and sends one PropertiesChanged for all that changed */
  pd_dbus_job_set_bytes_done (job, self->bytes_done);
  pd_dbus_job_set_bytes_total (job, self->bytes_total);
  pd_dbus_job_set_progress (job, self->progress);
  pd_dbus_job_set_progress_valid (job, self->progress_valid);
  pd_dbus_job_set_rate (job, self->rate);
  pd_dbus_job_set_expected_end_time (job, self->expected_end_time);
  if (self->layers != NULL)
    pd_dbus_job_set_layers (job, self->layers);
}

static gboolean
pd_job_progress_timeout_cb (gpointer user_data)
{
  PdJob *self = PD_JOB (user_data);

  self->progress_id = 0;
  pd_job_push_progress (self);
  return G_SOURCE_REMOVE;
}

static void
pd_job_schedule_progress (PdJob *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 due = self->last_push_us + PD_JOB_PROGRESS_INTERVAL_US;

  self->progress_dirty = TRUE;
  if (self->finished || self->progress_id != 0)
    return;
  /* the first change after a quiet period goes out at once, later ones wait for the interval */
  if (self->last_push_us == 0 || now >= due)
    {
      pd_job_push_progress (self);
      return;
    }
  self->progress_id = g_timeout_add ((guint) ((due - now + 999) / 1000),
                                     pd_job_progress_timeout_cb, self);
  g_source_set_name_by_id (self->progress_id, "[pd-job] progress");
}

static void
pd_job_update_rate (PdJob *self, guint64 bytes_done)
{
  gint64 now = g_get_monotonic_time ();
  PdJobSample sample = { now, bytes_done };
  const PdJobSample *oldest;
  guint n = self->samples->len;

  /* a restart (bytes going down) makes the history meaningless */
  if (n > 0 && g_array_index (self->samples, PdJobSample, n - 1).bytes > bytes_done)
    g_array_set_size (self->samples, 0);

  n = self->samples->len;
  if (n >= 2 && now - g_array_index (self->samples, PdJobSample, n - 2).time_us <
                  PD_JOB_RATE_SAMPLE_US)
    g_array_index (self->samples, PdJobSample, n - 1) = sample;
  else
    g_array_append_val (self->samples, sample);

  /* keep one sample older than the window so the span covers all of it */
  while (self->samples->len > 2 &&
         now - g_array_index (self->samples, PdJobSample, 1).time_us >= PD_JOB_RATE_WINDOW_US)
    g_array_remove_index (self->samples, 0);

  oldest = &g_array_index (self->samples, PdJobSample, 0);
  if (now - oldest->time_us >= PD_JOB_RATE_MIN_SPAN_US)
    self->rate = (bytes_done - oldest->bytes) * G_USEC_PER_SEC / (guint64) (now - oldest->time_us);
}

void
pd_job_set_bytes (PdJob *self, guint64 bytes_done, guint64 bytes_total)
{
  g_return_if_fail (PD_IS_JOB (self));

  if (self->finished)
    return;

  pd_job_update_rate (self, bytes_done);
  self->bytes_done = bytes_done;
  self->bytes_total = bytes_total;
  self->progress_valid = bytes_total > 0;
  self->progress = bytes_total > 0 ? MIN ((double) bytes_done / (double) bytes_total, 1.0) : 0.0;
  if (bytes_total > 0 && self->rate > 0)
    {
      guint64 remaining = bytes_total > bytes_done ? bytes_total - bytes_done : 0;

      self->expected_end_time = (guint64) g_get_real_time () +
                                remaining * G_USEC_PER_SEC / self->rate;
    }
  else
    {
      self->expected_end_time = 0;
    }
  pd_job_schedule_progress (self);
}

void
pd_job_set_layers (PdJob *self, GVariant *layers)
{
  g_autoptr(GVariant) sunk = NULL;

  g_return_if_fail (PD_IS_JOB (self));
  g_return_if_fail (layers != NULL);
  g_return_if_fail (g_variant_is_of_type (layers, G_VARIANT_TYPE ("a(sstt)")));

  sunk = g_variant_ref_sink (layers);
  if (self->finished)
    return;
  g_clear_pointer (&self->layers, g_variant_unref);
  self->layers = g_steal_pointer (&sunk);
  pd_job_schedule_progress (self);
}

/* section: state */

void
pd_job_set_phase (PdJob *self, const char *phase)
{
  g_return_if_fail (PD_IS_JOB (self));
  g_return_if_fail (phase != NULL);

  if (self->finished)
    return;
  /* the progress of the phase that ends goes out before the new phase, not after it */
  pd_job_push_progress (self);
  pd_dbus_job_set_phase (PD_DBUS_JOB (self), phase);
  /* clients show the phase; it must not wait for the progress interval */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
}

void
pd_job_set_cancellable (PdJob *self, gboolean cancellable)
{
  g_return_if_fail (PD_IS_JOB (self));

  if (self->finished)
    return;
  pd_dbus_job_set_cancellable (PD_DBUS_JOB (self), cancellable);
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
}

void
pd_job_set_plugin_path (PdJob *self, const char *object_path)
{
  g_return_if_fail (PD_IS_JOB (self));
  g_return_if_fail (object_path != NULL && g_variant_is_object_path (object_path));

  /* no flush: set just before complete(), it goes out in the same PropertiesChanged */
  pd_dbus_job_set_plugin (PD_DBUS_JOB (self), object_path);
}

void
pd_job_log (PdJob *self, guint priority, const char *format, ...)
{
  va_list args;
  g_autofree char *line = NULL;
  g_autofree char *valid = NULL;

  g_return_if_fail (PD_IS_JOB (self));
  g_return_if_fail (format != NULL);

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);

  /* registry messages are passed through, but a D-Bus string must be UTF-8, and a line that
   * goes to every listener short */
  valid = g_utf8_make_valid (line, -1);
  g_debug ("job %u: %s", self->id, valid);
  g_free (line);
  line = pd_text_truncate (valid, PD_JOB_LOG_LINE_MAX);
  pd_dbus_job_emit_log_message (PD_DBUS_JOB (self), priority, line);
}

/* section: completion */

static void
pd_job_reply_wait (PdJob *self, GDBusMethodInvocation *invocation)
{
  PdDbusJob *job = PD_DBUS_JOB (self);

  /* consumes @invocation */
  if (g_strcmp0 (pd_dbus_job_get_result (job), "done") == 0)
    pd_dbus_job_complete_wait (job, invocation, pd_dbus_job_get_results (job));
  else
    g_dbus_method_invocation_return_dbus_error (invocation, pd_dbus_job_get_error_name (job),
                                                pd_dbus_job_get_error_message (job));
}

static gboolean
pd_job_linger_cb (gpointer user_data)
{
  PdJob *self = PD_JOB (user_data);

  self->linger_id = 0;
  g_debug ("job %u: linger period over", self->id);
  g_signal_emit (self, signals[SIGNAL_LINGER_EXPIRED], 0);
  return G_SOURCE_REMOVE;
}

static void
pd_job_start_linger (PdJob *self)
{
  g_clear_handle_id (&self->linger_id, g_source_remove);
  self->linger_id = g_timeout_add (self->linger_ms, pd_job_linger_cb, self);
  g_source_set_name_by_id (self->linger_id, "[pd-job] linger");
}

static char *
pd_job_error_to_dbus_name (const GError *error)
{
  if (error->domain == PD_ERROR)
    return g_strdup (pd_error_to_dbus_name (error->code));
  /* g_dbus_error_encode_gerror() knows nothing of remote errors (a registry helper's reply) */
  if (g_dbus_error_is_remote_error (error))
    return g_dbus_error_get_remote_error (error);
  return g_dbus_error_encode_gerror (error);
}

void
pd_job_complete (PdJob *self, GVariant *results, const GError *error)
{
  g_autoptr(PdJob) keep = NULL;
  g_autoptr(GVariant) results_sunk = NULL;
  g_autoptr(GPtrArray) waiting = NULL;
  g_autofree char *error_name = NULL;
  g_autofree char *error_message = NULL;
  PdDbusJob *job = PD_DBUS_JOB (self);
  const char *result;

  g_return_if_fail (PD_IS_JOB (self));
  g_return_if_fail (results == NULL ||
                    g_variant_is_of_type (results, G_VARIANT_TYPE_VARDICT));

  if (results != NULL)
    results_sunk = g_variant_ref_sink (results);
  g_return_if_fail (!self->finished);

  /* a handler of "finished" or "linger-expired" may drop the owner's reference */
  keep = g_object_ref (self);

  if (error == NULL)
    {
      result = "done";
      error_name = g_strdup ("");
      error_message = g_strdup ("");
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
           g_error_matches (error, PD_ERROR, PD_ERROR_JOB_CANCELLED))
    {
      result = "cancelled";
      error_name = g_strdup (pd_error_to_dbus_name (PD_ERROR_JOB_CANCELLED));
      error_message = pd_text_truncate (error->message != NULL && error->message[0] != '\0'
                                          ? error->message : "The job was cancelled",
                                        PD_MESSAGE_MAX);
    }
  else
    {
      g_autoptr(GError) converted = g_error_copy (error);

      /* nothing unmapped reaches a client (house-style 8.5) */
      pd_error_convert (&converted);
      error_name = pd_job_error_to_dbus_name (converted);
      g_dbus_error_strip_remote_error (converted);
      /* ErrorMessage goes out in a property, a signal and every Wait() reply */
      error_message = pd_text_truncate (converted->message, PD_MESSAGE_MAX);
      result = "failed";
    }
  g_debug ("job %u: %s %s", self->id, result, error_name);

  /* the last progress goes out with the final state, in one PropertiesChanged */
  pd_job_push_progress (self);
  self->finished = TRUE;
  g_array_set_size (self->samples, 0);

  pd_dbus_job_set_cancellable (job, FALSE);
  pd_dbus_job_set_state (job, "finished");
  pd_dbus_job_set_result (job, result);
  pd_dbus_job_set_error_name (job, error_name);
  pd_dbus_job_set_error_message (job, error_message);
  pd_dbus_job_set_results (job, results_sunk != NULL ? results_sunk
                                                     : g_variant_new ("a{sv}", NULL));
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));

  /* dbus-api.md D4: Completed, then JobFinished and the PluginEvent (both from "finished"
   * handlers), then the Wait() replies, so that a waiter has seen every signal */
  pd_dbus_job_emit_completed (job, result, error_name, error_message);
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);

  waiting = g_steal_pointer (&self->waiting);
  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < waiting->len; i++)
    pd_job_reply_wait (self, g_ptr_array_steal_index (waiting, i--));

  pd_job_start_linger (self);
}

void
pd_job_set_linger_ms (PdJob *self, guint linger_ms)
{
  g_return_if_fail (PD_IS_JOB (self));

  self->linger_ms = linger_ms;
  if (self->linger_id != 0)
    pd_job_start_linger (self);
}

/* section: D-Bus methods */

static gboolean
pd_job_handle_wait (PdDbusJob *object, GDBusMethodInvocation *invocation)
{
  PdJob *self = PD_JOB (object);

  /* the handler owns @invocation: it is answered now or kept until the end */
  if (self->finished)
    pd_job_reply_wait (self, invocation);
  else
    g_ptr_array_add (self->waiting, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

typedef struct {
  PdJob *job;
  GDBusMethodInvocation *invocation;
  GVariant *options;
} PdJobCancelData;

static void
pd_job_cancel_data_free (PdJobCancelData *data)
{
  g_object_unref (data->job);
  g_object_unref (data->invocation);
  g_variant_unref (data->options);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdJobCancelData, pd_job_cancel_data_free)

/* TRUE if the Cancel() call still has to be carried out; otherwise it has been answered */
static gboolean
pd_job_cancel_precheck (PdJob *self, GDBusMethodInvocation *invocation)
{
  /* a finished job: success, nothing happens (PackageKit) */
  if (self->finished)
    {
      pd_dbus_job_complete_cancel (PD_DBUS_JOB (self), g_object_ref (invocation));
      return FALSE;
    }
  if (!pd_dbus_job_get_cancellable (PD_DBUS_JOB (self)))
    {
      g_dbus_method_invocation_return_error (g_object_ref (invocation), PD_ERROR,
                                             PD_ERROR_NOT_CANCELLABLE,
                                             "Job %u cannot be cancelled in its current phase "
                                             "(%s)", self->id,
                                             pd_dbus_job_get_phase (PD_DBUS_JOB (self)));
      return FALSE;
    }
  return TRUE;
}

static void
pd_job_cancel_by (PdJob *self, const char *who)
{
  if (self->finished || self->cancel_requested)
    return;
  self->cancel_requested = TRUE;
  g_debug ("job %u: cancel requested by %s", self->id, who);
  g_cancellable_cancel (self->cancellable);
  g_signal_emit (self, signals[SIGNAL_CANCEL_REQUESTED], 0);
}

void
pd_job_cancel (PdJob *self)
{
  g_return_if_fail (PD_IS_JOB (self));

  pd_job_cancel_by (self, "a forced operation on its plugin");
}

static void
pd_job_do_cancel (PdJob *self, GDBusMethodInvocation *invocation)
{
  pd_job_cancel_by (self, g_dbus_method_invocation_get_sender (invocation));
  pd_dbus_job_complete_cancel (PD_DBUS_JOB (self), g_object_ref (invocation));
}

static void
pd_job_cancel_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdJobCancelData) data = user_data;
  g_autoptr(GError) error = NULL;

  if (!pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  /* the job may have moved on while polkit was asking */
  if (!pd_job_cancel_precheck (data->job, data->invocation))
    return;
  pd_job_do_cancel (data->job, data->invocation);
}

static void
pd_job_cancel_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdJobCancelData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) details = NULL;
  PdJob *self = data->job;
  GDBusMethodInvocation *invocation;
  GVariant *options;
  guint32 uid = G_MAXUINT32;

  if (!pd_auth_get_caller_uid_finish (PD_AUTH (source), result, &uid, &error))
    {
      pd_return_gerror (g_object_ref (data->invocation), g_steal_pointer (&error));
      return;
    }
  if (!pd_job_cancel_precheck (self, data->invocation))
    return;
  /* the user that started the job and root need no authorization (udisks) */
  if (uid == 0 || uid == pd_dbus_job_get_started_by_uid (PD_DBUS_JOB (self)))
    {
      pd_job_do_cancel (self, data->invocation);
      return;
    }

  details = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (details, "operation",
                       (gpointer) pd_dbus_job_get_operation (PD_DBUS_JOB (self)));
  g_hash_table_insert (details, "plugin",
                       (gpointer) pd_dbus_job_get_plugin_name (PD_DBUS_JOB (self)));
  invocation = data->invocation;
  options = data->options;
  pd_auth_check_async (self->auth, invocation, PD_ACTION_CANCEL_OTHER_USER, details, options,
                       pd_job_cancel_authorized_cb, g_steal_pointer (&data));
}

static gboolean
pd_job_handle_cancel (PdDbusJob *object, GDBusMethodInvocation *invocation, GVariant *options)
{
  PdJob *self = PD_JOB (object);
  /* the handler owns the invocation; every reply below takes its own reference */
  g_autoptr(GDBusMethodInvocation) owned = invocation;
  static const char *const allowed[] = { "interactive", "b", NULL };
  g_autoptr(GError) error = NULL;
  PdJobCancelData *data;

  if (!pd_options_check (options, allowed, &error))
    {
      pd_return_gerror (g_object_ref (invocation), g_steal_pointer (&error));
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  if (!pd_job_cancel_precheck (self, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;

  data = g_new0 (PdJobCancelData, 1);
  data->job = g_object_ref (self);
  data->invocation = g_steal_pointer (&owned);
  data->options = g_variant_ref (options);
  pd_auth_get_caller_uid_async (self->auth, invocation, pd_job_cancel_uid_cb, data);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
pd_job_iface_init (PdDbusJobIface *iface)
{
  iface->handle_wait = pd_job_handle_wait;
  iface->handle_cancel = pd_job_handle_cancel;
}

/* section: object */

guint32
pd_job_get_id (PdJob *self)
{
  g_return_val_if_fail (PD_IS_JOB (self), 0);
  return self->id;
}

const char *
pd_job_get_object_path (PdJob *self)
{
  g_return_val_if_fail (PD_IS_JOB (self), NULL);
  return self->object_path;
}

GCancellable *
pd_job_get_cancellable (PdJob *self)
{
  g_return_val_if_fail (PD_IS_JOB (self), NULL);
  return self->cancellable;
}

gboolean
pd_job_is_finished (PdJob *self)
{
  g_return_val_if_fail (PD_IS_JOB (self), FALSE);
  return self->finished;
}

static void
pd_job_dispose (GObject *object)
{
  PdJob *self = PD_JOB (object);

  g_clear_handle_id (&self->progress_id, g_source_remove);
  g_clear_handle_id (&self->linger_id, g_source_remove);
  /* a job dropped before it ended must still answer its waiters */
  if (self->waiting != NULL)
    {
      g_autoptr(GPtrArray) waiting = g_steal_pointer (&self->waiting);

      for (guint i = 0; i < waiting->len; i++)
        g_dbus_method_invocation_return_error (g_ptr_array_steal_index (waiting, i--),
                                               G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
                                               "Job %u was removed before it finished",
                                               self->id);
    }
  g_clear_object (&self->auth);

  G_OBJECT_CLASS (pd_job_parent_class)->dispose (object);
}

static void
pd_job_finalize (GObject *object)
{
  PdJob *self = PD_JOB (object);

  g_free (self->object_path);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->layers, g_variant_unref);
  g_array_unref (self->samples);

  G_OBJECT_CLASS (pd_job_parent_class)->finalize (object);
}

static void
pd_job_class_init (PdJobClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pd_job_dispose;
  object_class->finalize = pd_job_finalize;

  signals[SIGNAL_CANCEL_REQUESTED] =
    g_signal_new ("cancel-requested", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[SIGNAL_LINGER_EXPIRED] =
    g_signal_new ("linger-expired", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
}

static void
pd_job_init (PdJob *self)
{
  self->cancellable = g_cancellable_new ();
  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
  self->samples = g_array_new (FALSE, FALSE, sizeof (PdJobSample));
  self->linger_ms = PD_JOB_DEFAULT_LINGER_MS;
}

PdJob *
pd_job_new (PdAuth *auth,
            guint32 id,
            const char *operation,
            const char *remote,
            const char *plugin_name,
            guint32 started_by_uid)
{
  PdJob *self;
  PdDbusJob *job;

  g_return_val_if_fail (auth == NULL || PD_IS_AUTH (auth), NULL);
  g_return_val_if_fail (operation != NULL, NULL);

  self = g_object_new (PD_TYPE_JOB, NULL);
  job = PD_DBUS_JOB (self);
  self->auth = auth != NULL ? g_object_ref (auth) : pd_auth_new ();
  self->id = id;
  self->object_path = g_strdup_printf (PD_DBUS_JOB_PATH_PREFIX "%u", id);

  /* every property gets a value before export: no NULL strings or variants on the bus */
  pd_dbus_job_set_id (job, id);
  pd_dbus_job_set_operation (job, operation);
  pd_dbus_job_set_remote (job, remote != NULL ? remote : "");
  pd_dbus_job_set_plugin_name (job, plugin_name != NULL ? plugin_name : "");
  pd_dbus_job_set_started_by_uid (job, started_by_uid);
  pd_dbus_job_set_start_time (job, (guint64) g_get_real_time ());
  pd_dbus_job_set_plugin (job, "/");
  pd_dbus_job_set_state (job, "running");
  pd_dbus_job_set_phase (job, "queued");
  pd_dbus_job_set_progress (job, 0.0);
  pd_dbus_job_set_progress_valid (job, FALSE);
  pd_dbus_job_set_cancellable (job, TRUE);
  pd_dbus_job_set_layers (job, g_variant_new_array (G_VARIANT_TYPE ("(sstt)"), NULL, 0));
  pd_dbus_job_set_result (job, "");
  pd_dbus_job_set_error_name (job, "");
  pd_dbus_job_set_error_message (job, "");
  pd_dbus_job_set_results (job, g_variant_new ("a{sv}", NULL));
  /* drop the queued change notifications: these are the initial values, not changes */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));

  return self;
}
