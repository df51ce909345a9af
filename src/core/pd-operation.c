/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-operation"

#include "pd-error.h"
#include "pd-operation.h"

/* the rate is averaged over this window so that bursty reads do not make it jump */
#define RATE_WINDOW_US   (5 * G_TIME_SPAN_SECOND)
/* with less history than this the rate is too noisy to show */
#define RATE_MIN_SPAN_US (250 * G_TIME_SPAN_MILLISECOND)
/* samples closer together than this are merged, bounding the window's size */
#define RATE_SAMPLE_US   (100 * G_TIME_SPAN_MILLISECOND)

typedef struct {
  gint64 time_us;   /* monotonic */
  guint64 bytes;
} Sample;

struct _PdOperation {
  GObject parent_instance;

  guint32 id;
  char *kind;
  char *remote;
  char *plugin_name;
  guint32 started_by_uid;
  guint64 start_time;
  char *phase;
  gboolean cancellable;
  GCancellable *cancellable_object;
  gboolean cancel_requested;
  char *plugin_id;

  guint64 bytes_done;
  guint64 bytes_total;
  double progress;
  gboolean progress_valid;
  guint64 rate;
  guint64 expected_end_time;
  GVariant *layers;
  GArray *samples;

  PdPullProgress *followed;
  guint follow_id;

  PdOperationResult result;
  GError *error;
  GVariant *results;
};

enum {
  SIGNAL_CHANGED,
  SIGNAL_LOG,
  SIGNAL_CANCEL_REQUESTED,
  SIGNAL_COMPLETED,
  SIGNAL_FINISHED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PdOperation, pd_operation, G_TYPE_OBJECT)

static void
pd_operation_dispose (GObject *object)
{
  PdOperation *self = PD_OPERATION (object);

  g_clear_handle_id (&self->follow_id, g_source_remove);
  self->followed = NULL;

  G_OBJECT_CLASS (pd_operation_parent_class)->dispose (object);
}

static void
pd_operation_finalize (GObject *object)
{
  PdOperation *self = PD_OPERATION (object);

  g_free (self->kind);
  g_free (self->remote);
  g_free (self->plugin_name);
  g_free (self->phase);
  g_clear_object (&self->cancellable_object);
  g_free (self->plugin_id);
  g_clear_pointer (&self->layers, g_variant_unref);
  g_array_unref (self->samples);
  g_clear_error (&self->error);
  g_clear_pointer (&self->results, g_variant_unref);

  G_OBJECT_CLASS (pd_operation_parent_class)->finalize (object);
}

static void
pd_operation_class_init (PdOperationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pd_operation_dispose;
  object_class->finalize = pd_operation_finalize;

  signals[SIGNAL_CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT);
  signals[SIGNAL_LOG] =
    g_signal_new ("log", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_STRING);
  signals[SIGNAL_CANCEL_REQUESTED] =
    g_signal_new ("cancel-requested", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_COMPLETED] =
    g_signal_new ("completed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
pd_operation_init (PdOperation *self)
{
  self->cancellable_object = g_cancellable_new ();
  self->samples = g_array_new (FALSE, FALSE, sizeof (Sample));
  self->phase = g_strdup ("queued");
  self->cancellable = TRUE;
}

PdOperation *
pd_operation_new (guint32 id, const char *kind, const char *remote, const char *plugin_name,
                  guint32 started_by_uid)
{
  PdOperation *self;

  g_return_val_if_fail (kind != NULL, NULL);

  self = g_object_new (PD_TYPE_OPERATION, NULL);
  self->id = id;
  self->kind = g_strdup (kind);
  self->remote = g_strdup (remote != NULL ? remote : "");
  self->plugin_name = g_strdup (plugin_name != NULL ? plugin_name : "");
  self->started_by_uid = started_by_uid;
  self->start_time = (guint64) g_get_real_time ();
  return self;
}

/* section: what it is */

guint32
pd_operation_get_id (PdOperation *self)
{
  return self->id;
}

const char *
pd_operation_get_kind (PdOperation *self)
{
  return self->kind;
}

const char *
pd_operation_get_remote (PdOperation *self)
{
  return self->remote;
}

const char *
pd_operation_get_plugin_name (PdOperation *self)
{
  return self->plugin_name;
}

guint32
pd_operation_get_started_by_uid (PdOperation *self)
{
  return self->started_by_uid;
}

guint64
pd_operation_get_start_time (PdOperation *self)
{
  return self->start_time;
}

const char *
pd_operation_get_phase (PdOperation *self)
{
  return self->phase;
}

gboolean
pd_operation_get_cancellable (PdOperation *self)
{
  return self->cancellable;
}

GCancellable *
pd_operation_get_cancellable_object (PdOperation *self)
{
  return self->cancellable_object;
}

const char *
pd_operation_get_plugin_id (PdOperation *self)
{
  return self->plugin_id;
}

guint64
pd_operation_get_bytes_done (PdOperation *self)
{
  return self->bytes_done;
}

guint64
pd_operation_get_bytes_total (PdOperation *self)
{
  return self->bytes_total;
}

double
pd_operation_get_progress (PdOperation *self)
{
  return self->progress;
}

gboolean
pd_operation_get_progress_valid (PdOperation *self)
{
  return self->progress_valid;
}

guint64
pd_operation_get_rate (PdOperation *self)
{
  return self->rate;
}

guint64
pd_operation_get_expected_end_time (PdOperation *self)
{
  return self->expected_end_time;
}

GVariant *
pd_operation_get_layers (PdOperation *self)
{
  return self->layers;
}

gboolean
pd_operation_is_finished (PdOperation *self)
{
  return self->result != PD_OPERATION_RUNNING;
}

PdOperationResult
pd_operation_get_result (PdOperation *self)
{
  return self->result;
}

const GError *
pd_operation_get_error (PdOperation *self)
{
  return self->error;
}

GVariant *
pd_operation_get_results (PdOperation *self)
{
  if (self->results == NULL)
    self->results = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  return self->results;
}

/* section: state */

static void
emit_changed (PdOperation *self, PdOperationChange what)
{
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0, (guint) what);
}

void
pd_operation_set_phase (PdOperation *self, const char *phase)
{
  g_return_if_fail (PD_IS_OPERATION (self));
  g_return_if_fail (phase != NULL);

  if (pd_operation_is_finished (self))
    return;
  g_free (self->phase);
  self->phase = g_strdup (phase);
  emit_changed (self, PD_OPERATION_CHANGED_PHASE);
}

void
pd_operation_set_cancellable (PdOperation *self, gboolean cancellable)
{
  g_return_if_fail (PD_IS_OPERATION (self));

  if (pd_operation_is_finished (self))
    return;
  self->cancellable = cancellable;
  emit_changed (self, PD_OPERATION_CHANGED_CANCELLABLE);
}

void
pd_operation_set_plugin_id (PdOperation *self, const char *plugin_id)
{
  g_return_if_fail (PD_IS_OPERATION (self));
  g_return_if_fail (plugin_id != NULL);

  g_free (self->plugin_id);
  self->plugin_id = g_strdup (plugin_id);
  emit_changed (self, PD_OPERATION_CHANGED_PLUGIN);
}

void
pd_operation_log (PdOperation *self, guint priority, const char *format, ...)
{
  va_list args;
  g_autofree char *line = NULL;
  g_autofree char *valid = NULL;
  g_autofree char *cut = NULL;

  g_return_if_fail (PD_IS_OPERATION (self));
  g_return_if_fail (format != NULL);

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);

  /* registry messages are passed through, but a line must be UTF-8, and a line that goes to
   * every listener short */
  valid = g_utf8_make_valid (line, -1);
  g_debug ("job %u: %s", self->id, valid);
  cut = pd_text_truncate (valid, PD_OPERATION_LOG_LINE_MAX);
  g_signal_emit (self, signals[SIGNAL_LOG], 0, priority, cut);
}

/* section: progress */

static void
update_rate (PdOperation *self, guint64 bytes_done)
{
  gint64 now = g_get_monotonic_time ();
  Sample sample = { now, bytes_done };
  const Sample *oldest;
  guint n = self->samples->len;

  /* a restart (bytes going down) makes the history meaningless */
  if (n > 0 && g_array_index (self->samples, Sample, n - 1).bytes > bytes_done)
    g_array_set_size (self->samples, 0);

  n = self->samples->len;
  if (n >= 2 && now - g_array_index (self->samples, Sample, n - 2).time_us < RATE_SAMPLE_US)
    g_array_index (self->samples, Sample, n - 1) = sample;
  else
    g_array_append_val (self->samples, sample);

  /* keep one sample older than the window so the span covers all of it */
  while (self->samples->len > 2 &&
         now - g_array_index (self->samples, Sample, 1).time_us >= RATE_WINDOW_US)
    g_array_remove_index (self->samples, 0);

  oldest = &g_array_index (self->samples, Sample, 0);
  if (now - oldest->time_us >= RATE_MIN_SPAN_US)
    self->rate = (bytes_done - oldest->bytes) * G_USEC_PER_SEC / (guint64) (now - oldest->time_us);
}

void
pd_operation_set_bytes (PdOperation *self, guint64 bytes_done, guint64 bytes_total)
{
  g_return_if_fail (PD_IS_OPERATION (self));

  if (pd_operation_is_finished (self))
    return;

  update_rate (self, bytes_done);
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
  emit_changed (self, PD_OPERATION_CHANGED_PROGRESS);
}

void
pd_operation_set_layers (PdOperation *self, GVariant *layers)
{
  g_autoptr(GVariant) sunk = NULL;

  g_return_if_fail (PD_IS_OPERATION (self));
  g_return_if_fail (layers != NULL);
  g_return_if_fail (g_variant_is_of_type (layers, G_VARIANT_TYPE ("a(sstt)")));

  sunk = g_variant_ref_sink (layers);
  if (pd_operation_is_finished (self))
    return;
  g_clear_pointer (&self->layers, g_variant_unref);
  self->layers = g_steal_pointer (&sunk);
  emit_changed (self, PD_OPERATION_CHANGED_PROGRESS);
}

/* the layers and bytes a worker thread reported so far */
static void
read_followed (PdOperation *self)
{
  g_autoptr(GPtrArray) layers = NULL;
  GVariantBuilder builder;
  guint64 done = 0, total = 0;

  layers = pd_pull_progress_dup_layers (self->followed, &done, &total);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sstt)"));
  for (guint i = 0; i < layers->len; i++)
    {
      PdLayerProgress *layer = g_ptr_array_index (layers, i);
      g_variant_builder_add (&builder, "(sstt)", layer->digest, layer->status, layer->current,
                             layer->total);
    }
  pd_operation_set_layers (self, g_variant_builder_end (&builder));
  pd_operation_set_bytes (self, done, total);
}

static gboolean
follow_tick (gpointer user_data)
{
  read_followed (user_data);
  return G_SOURCE_CONTINUE;
}

void
pd_operation_follow_progress (PdOperation *self, PdPullProgress *progress)
{
  g_return_if_fail (PD_IS_OPERATION (self));
  g_return_if_fail (progress != NULL);

  g_clear_handle_id (&self->follow_id, g_source_remove);
  self->followed = progress;
  self->follow_id = g_timeout_add (PD_OPERATION_PROGRESS_POLL_MS, follow_tick, self);
  g_source_set_name_by_id (self->follow_id, "[pd-operation] progress");
}

void
pd_operation_unfollow_progress (PdOperation *self)
{
  g_return_if_fail (PD_IS_OPERATION (self));

  if (self->followed == NULL)
    return;
  g_clear_handle_id (&self->follow_id, g_source_remove);
  read_followed (self);
  self->followed = NULL;
}

/* section: messages from a worker thread */

typedef struct {
  PdOperation *operation;
  char *phase;   /* or */
  char *line;
} Update;

static gboolean
apply_update (gpointer user_data)
{
  Update *update = user_data;

  if (update->phase != NULL)
    pd_operation_set_phase (update->operation, update->phase);
  if (update->line != NULL)
    pd_operation_log (update->operation, 6, "%s", update->line);
  return G_SOURCE_REMOVE;
}

static void
update_free (gpointer user_data)
{
  Update *update = user_data;

  g_object_unref (update->operation);
  g_free (update->phase);
  g_free (update->line);
  g_free (update);
}

static void
post_update (PdOperation *self, const char *phase, const char *line)
{
  Update *update = g_new0 (Update, 1);

  update->operation = g_object_ref (self);
  update->phase = g_strdup (phase);
  update->line = g_strdup (line);
  g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, apply_update, update, update_free);
}

void
pd_operation_log_from_thread (const char *line, gpointer operation)
{
  post_update (operation, NULL, line);
}

void
pd_operation_set_phase_from_thread (PdOperation *self, const char *phase)
{
  post_update (self, phase, NULL);
}

/* section: the end */

void
pd_operation_complete (PdOperation *self, GVariant *results, const GError *error)
{
  g_autoptr(PdOperation) keep = NULL;
  g_autoptr(GVariant) results_sunk = NULL;

  g_return_if_fail (PD_IS_OPERATION (self));
  g_return_if_fail (results == NULL || g_variant_is_of_type (results, G_VARIANT_TYPE_VARDICT));

  if (results != NULL)
    results_sunk = g_variant_ref_sink (results);
  g_return_if_fail (!pd_operation_is_finished (self));

  /* a handler of "finished" may drop the owner's reference */
  keep = g_object_ref (self);

  /* what a worker thread reported last */
  pd_operation_unfollow_progress (self);

  if (error == NULL)
    {
      self->result = PD_OPERATION_DONE;
      self->results = results_sunk != NULL ? g_steal_pointer (&results_sunk)
                                           : g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
    }
  else
    {
      self->result = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
                         g_error_matches (error, PD_ERROR, PD_ERROR_JOB_CANCELLED)
                       ? PD_OPERATION_CANCELLED
                       : PD_OPERATION_FAILED;
      self->error = g_error_copy (error);
    }
  self->cancellable = FALSE;
  g_array_set_size (self->samples, 0);
  g_debug ("job %u: %s", self->id,
           self->result == PD_OPERATION_DONE ? "done"
           : self->result == PD_OPERATION_CANCELLED ? "cancelled" : "failed");

  g_signal_emit (self, signals[SIGNAL_COMPLETED], 0);
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
}

void
pd_operation_cancel (PdOperation *self, const char *who)
{
  g_return_if_fail (PD_IS_OPERATION (self));

  if (pd_operation_is_finished (self) || self->cancel_requested)
    return;
  self->cancel_requested = TRUE;
  g_debug ("job %u: cancel requested by %s", self->id, who);
  g_cancellable_cancel (self->cancellable_object);
  g_signal_emit (self, signals[SIGNAL_CANCEL_REQUESTED], 0);
}
