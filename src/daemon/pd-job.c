/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-job"

#include "pd-call.h"
#include "pd-dbus-error.h"
#include "pd-error.h"
#include "pd-job.h"
#include "pd-names.h"

/* PropertiesChanged for progress at most every 250 ms: at most 4 a second per job, however
 * often the operation reports */
#define PD_JOB_PROGRESS_INTERVAL_US (250 * G_TIME_SPAN_MILLISECOND)
#define PD_JOB_DEFAULT_LINGER_MS    (60 * 1000)

struct _PdJob {
  PdDbusJobSkeleton parent_instance;

  PdAuth *auth;
  PdOperation *operation;
  char *object_path;
  /* GDBusMethodInvocation of Wait() calls that arrived before the end */
  GPtrArray *waiting;

  /* the operation's progress changed and is not yet on the skeleton */
  gboolean progress_dirty;
  gint64 last_push_us;
  guint progress_id;

  guint linger_ms;
  guint linger_id;
};

enum {
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
  PdOperation *op = self->operation;
  GVariant *layers = pd_operation_get_layers (op);

  g_clear_handle_id (&self->progress_id, g_source_remove);
  if (!self->progress_dirty)
    return;
  self->progress_dirty = FALSE;
  self->last_push_us = g_get_monotonic_time ();

  /* the skeleton compares each value and sends one PropertiesChanged for all that changed */
  pd_dbus_job_set_bytes_done (job, pd_operation_get_bytes_done (op));
  pd_dbus_job_set_bytes_total (job, pd_operation_get_bytes_total (op));
  pd_dbus_job_set_progress (job, pd_operation_get_progress (op));
  pd_dbus_job_set_progress_valid (job, pd_operation_get_progress_valid (op));
  pd_dbus_job_set_rate (job, pd_operation_get_rate (op));
  pd_dbus_job_set_expected_end_time (job, pd_operation_get_expected_end_time (op));
  if (layers != NULL)
    pd_dbus_job_set_layers (job, layers);
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
  if (self->progress_id != 0)
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

/* section: state */

static void
on_operation_changed (PdOperation *op, guint what, PdJob *self)
{
  PdDbusJob *job = PD_DBUS_JOB (self);

  if ((what & PD_OPERATION_CHANGED_PROGRESS) != 0)
    pd_job_schedule_progress (self);
  if ((what & PD_OPERATION_CHANGED_PHASE) != 0)
    {
      /* the progress of the phase that ends goes out before the new phase, not after it */
      pd_job_push_progress (self);
      pd_dbus_job_set_phase (job, pd_operation_get_phase (op));
    }
  if ((what & PD_OPERATION_CHANGED_CANCELLABLE) != 0)
    pd_dbus_job_set_cancellable (job, pd_operation_get_cancellable (op));
  /* clients show the phase and whether they may cancel: neither waits for the interval */
  if ((what & (PD_OPERATION_CHANGED_PHASE | PD_OPERATION_CHANGED_CANCELLABLE)) != 0)
    g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));
  /* no flush: the plugin is known just before the end, and goes out with it */
  if ((what & PD_OPERATION_CHANGED_PLUGIN) != 0)
    {
      g_autofree char *path = g_strconcat (PD_DBUS_PLUGIN_PATH_PREFIX,
                                           pd_operation_get_plugin_id (op), NULL);
      pd_dbus_job_set_plugin (job, path);
    }
}

static void
on_operation_log (PdOperation *op, guint priority, const char *line, PdJob *self)
{
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
  g_debug ("job %u: linger period over", pd_job_get_id (self));
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

/* the operation's results, with the plugin's object path first when they name a plugin */
static GVariant *
dup_results (PdOperation *op)
{
  GVariant *results = pd_operation_get_results (op);
  const char *plugin_id = NULL;
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (!g_variant_lookup (results, "plugin-id", "&s", &plugin_id))
    return g_variant_ref (results);
  {
    g_autofree char *path = g_strconcat (PD_DBUS_PLUGIN_PATH_PREFIX, plugin_id, NULL);
    g_variant_builder_add (&builder, "{sv}", "plugin", g_variant_new_object_path (path));
  }
  g_variant_iter_init (&iter, results);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_variant_builder_add (&builder, "{sv}", key, value);
      g_variant_unref (value);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/* the operation's outcome on the properties, then Completed */
static void
on_operation_completed (PdOperation *op, PdJob *self)
{
  g_autoptr(GVariant) results = NULL;
  g_autofree char *error_name = NULL;
  g_autofree char *error_message = NULL;
  PdDbusJob *job = PD_DBUS_JOB (self);
  const GError *error = pd_operation_get_error (op);
  const char *result;

  switch (pd_operation_get_result (op))
    {
    case PD_OPERATION_CANCELLED:
      result = "cancelled";
      error_name = g_strdup (pd_error_to_dbus_name (PD_ERROR_JOB_CANCELLED));
      error_message = pd_text_truncate (error->message != NULL && error->message[0] != '\0'
                                          ? error->message : "The job was cancelled",
                                        PD_MESSAGE_MAX);
      break;
    case PD_OPERATION_FAILED:
      {
        g_autoptr(GError) converted = g_error_copy (error);

        /* nothing unmapped reaches a client */
        pd_dbus_error_convert (&converted);
        error_name = pd_dbus_error_name (converted);
        g_dbus_error_strip_remote_error (converted);
        /* ErrorMessage goes out in a property, a signal and every Wait() reply */
        error_message = pd_text_truncate (converted->message, PD_MESSAGE_MAX);
        result = "failed";
      }
      break;
    case PD_OPERATION_DONE:
    case PD_OPERATION_RUNNING:
    default:
      result = "done";
      error_name = g_strdup ("");
      error_message = g_strdup ("");
      results = dup_results (op);
      break;
    }
  g_debug ("job %u: %s %s", pd_operation_get_id (op), result, error_name);

  /* the last progress goes out with the final state, in one PropertiesChanged */
  pd_job_push_progress (self);
  pd_dbus_job_set_cancellable (job, FALSE);
  pd_dbus_job_set_state (job, "finished");
  pd_dbus_job_set_result (job, result);
  pd_dbus_job_set_error_name (job, error_name);
  pd_dbus_job_set_error_message (job, error_message);
  pd_dbus_job_set_results (job, results != NULL ? results : g_variant_new ("a{sv}", NULL));
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));

  pd_dbus_job_emit_completed (job, result, error_name, error_message);
}

/* after every other handler of "finished" (JobFinished, the PluginEvent): a waiter has seen
 * every signal of the end when its Wait() returns */
static void
on_operation_finished (PdOperation *op, PdJob *self)
{
  g_autoptr(GPtrArray) waiting = g_steal_pointer (&self->waiting);

  /* a reply may drop the last other reference */
  g_object_ref (self);
  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < waiting->len; i++)
    pd_job_reply_wait (self, g_ptr_array_steal_index (waiting, i--));
  pd_job_start_linger (self);
  g_object_unref (self);
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

  if (pd_auth_check_method (invocation) == NULL)
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  /* the handler owns @invocation: it is answered now or kept until the end */
  if (pd_operation_is_finished (self->operation))
    pd_job_reply_wait (self, invocation);
  else
    g_ptr_array_add (self->waiting, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* TRUE if the Cancel() call still has to be carried out; otherwise it has been answered */
static gboolean
pd_job_cancel_precheck (PdJob *self, GDBusMethodInvocation *invocation)
{
  /* a finished job: success, nothing happens (PackageKit) */
  if (pd_operation_is_finished (self->operation))
    {
      pd_dbus_job_complete_cancel (PD_DBUS_JOB (self), g_object_ref (invocation));
      return FALSE;
    }
  if (!pd_dbus_job_get_cancellable (PD_DBUS_JOB (self)))
    {
      pd_return_gerror (g_object_ref (invocation),
                        g_error_new (PD_ERROR, PD_ERROR_NOT_CANCELLABLE,
                                     "Job %u cannot be cancelled in its current phase (%s)",
                                     pd_job_get_id (self),
                                     pd_dbus_job_get_phase (PD_DBUS_JOB (self))));
      return FALSE;
    }
  return TRUE;
}

static void
pd_job_do_cancel (PdJob *self, GDBusMethodInvocation *invocation)
{
  pd_operation_cancel (self->operation, g_dbus_method_invocation_get_sender (invocation));
  pd_dbus_job_complete_cancel (PD_DBUS_JOB (self), g_object_ref (invocation));
}

static void
pd_job_cancel_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdCall) call = user_data;
  PdJob *self = PD_JOB (call->self);

  /* the job may have moved on while polkit was asking */
  if (pd_call_authorized (call, result) && pd_job_cancel_precheck (self, call->invocation))
    pd_job_do_cancel (self, call->invocation);
}

static void
pd_job_cancel_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdCall) call = user_data;
  g_autoptr(GError) error = NULL;
  PdJob *self = PD_JOB (call->self);
  GHashTable *details;
  guint32 uid = G_MAXUINT32;

  if (!pd_auth_get_caller_uid_finish (PD_AUTH (source), result, &uid, &error))
    {
      pd_call_reply_error (call, g_steal_pointer (&error));
      return;
    }
  if (!pd_job_cancel_precheck (self, call->invocation))
    return;
  /* the user that started the job and root need no authorization (the rule says so) */
  if (pd_auth_rule_exempts (call->rule, uid,
                            pd_dbus_job_get_started_by_uid (PD_DBUS_JOB (self))))
    {
      pd_job_do_cancel (self, call->invocation);
      return;
    }

  details = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (details, "operation",
                       (gpointer) pd_dbus_job_get_operation (PD_DBUS_JOB (self)));
  g_hash_table_insert (details, "plugin",
                       (gpointer) pd_dbus_job_get_plugin_name (PD_DBUS_JOB (self)));
  pd_call_authorize (g_steal_pointer (&call), 0, details, pd_job_cancel_authorized_cb);
}

static gboolean
pd_job_handle_cancel (PdDbusJob *object, GDBusMethodInvocation *invocation, GVariant *options)
{
  PdJob *self = PD_JOB (object);
  static const char *const allowed[] = { "interactive", "b", NULL };
  g_autoptr(PdCall) call = pd_call_begin (sizeof (PdCall), NULL, self, self->auth, invocation,
                                          options, allowed);

  if (call == NULL || !pd_job_cancel_precheck (self, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  pd_call_get_caller (g_steal_pointer (&call), pd_job_cancel_uid_cb);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
pd_job_iface_init (PdDbusJobIface *iface)
{
  iface->handle_wait = pd_job_handle_wait;
  iface->handle_cancel = pd_job_handle_cancel;
}

/* section: object */

PdOperation *
pd_job_get_operation (PdJob *self)
{
  g_return_val_if_fail (PD_IS_JOB (self), NULL);
  return self->operation;
}

guint32
pd_job_get_id (PdJob *self)
{
  g_return_val_if_fail (PD_IS_JOB (self), 0);
  return pd_operation_get_id (self->operation);
}

const char *
pd_job_get_object_path (PdJob *self)
{
  g_return_val_if_fail (PD_IS_JOB (self), NULL);
  return self->object_path;
}

char *
pd_job_dup_object_path_for (guint32 id)
{
  return g_strdup_printf (PD_DBUS_JOB_PATH_PREFIX "%u", id);
}

static void
pd_job_dispose (GObject *object)
{
  PdJob *self = PD_JOB (object);

  g_clear_handle_id (&self->progress_id, g_source_remove);
  g_clear_handle_id (&self->linger_id, g_source_remove);
  if (self->operation != NULL)
    g_signal_handlers_disconnect_by_data (self->operation, self);
  /* a job dropped before it ended must still answer its waiters */
  if (self->waiting != NULL)
    {
      g_autoptr(GPtrArray) waiting = g_steal_pointer (&self->waiting);

      for (guint i = 0; i < waiting->len; i++)
        g_dbus_method_invocation_return_error (g_ptr_array_steal_index (waiting, i--),
                                               G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
                                               "Job %u was removed before it finished",
                                               pd_operation_get_id (self->operation));
    }
  g_clear_object (&self->auth);
  g_clear_object (&self->operation);

  G_OBJECT_CLASS (pd_job_parent_class)->dispose (object);
}

static void
pd_job_finalize (GObject *object)
{
  PdJob *self = PD_JOB (object);

  g_free (self->object_path);

  G_OBJECT_CLASS (pd_job_parent_class)->finalize (object);
}

static void
pd_job_class_init (PdJobClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pd_job_dispose;
  object_class->finalize = pd_job_finalize;

  signals[SIGNAL_LINGER_EXPIRED] =
    g_signal_new ("linger-expired", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);
}

static void
pd_job_init (PdJob *self)
{
  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
  self->linger_ms = PD_JOB_DEFAULT_LINGER_MS;
}

PdJob *
pd_job_new (PdAuth *auth, PdOperation *operation)
{
  PdJob *self;
  PdDbusJob *job;

  g_return_val_if_fail (auth == NULL || PD_IS_AUTH (auth), NULL);
  g_return_val_if_fail (PD_IS_OPERATION (operation), NULL);

  self = g_object_new (PD_TYPE_JOB, NULL);
  job = PD_DBUS_JOB (self);
  self->auth = auth != NULL ? g_object_ref (auth) : pd_auth_new ();
  self->operation = g_object_ref (operation);
  self->object_path = pd_job_dup_object_path_for (pd_operation_get_id (operation));

  /* every property gets a value before export: no NULL strings or variants on the bus */
  pd_dbus_job_set_id (job, pd_operation_get_id (operation));
  pd_dbus_job_set_operation (job, pd_operation_get_kind (operation));
  pd_dbus_job_set_remote (job, pd_operation_get_remote (operation));
  pd_dbus_job_set_plugin_name (job, pd_operation_get_plugin_name (operation));
  pd_dbus_job_set_started_by_uid (job, pd_operation_get_started_by_uid (operation));
  pd_dbus_job_set_start_time (job, pd_operation_get_start_time (operation));
  pd_dbus_job_set_plugin (job, "/");
  pd_dbus_job_set_state (job, "running");
  pd_dbus_job_set_phase (job, pd_operation_get_phase (operation));
  pd_dbus_job_set_progress (job, 0.0);
  pd_dbus_job_set_progress_valid (job, FALSE);
  pd_dbus_job_set_cancellable (job, pd_operation_get_cancellable (operation));
  pd_dbus_job_set_layers (job, g_variant_new_array (G_VARIANT_TYPE ("(sstt)"), NULL, 0));
  pd_dbus_job_set_result (job, "");
  pd_dbus_job_set_error_name (job, "");
  pd_dbus_job_set_error_message (job, "");
  pd_dbus_job_set_results (job, g_variant_new ("a{sv}", NULL));
  /* drop the queued change notifications: these are the initial values, not changes */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self));

  g_signal_connect (operation, "changed", G_CALLBACK (on_operation_changed), self);
  g_signal_connect (operation, "log", G_CALLBACK (on_operation_log), self);
  g_signal_connect (operation, "completed", G_CALLBACK (on_operation_completed), self);
  g_signal_connect_after (operation, "finished", G_CALLBACK (on_operation_finished), self);
  return self;
}
