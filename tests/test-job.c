/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "test-job"

#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#include "pd-error.h"
#include "pd-job.h"
#include "pd-names.h"
#include "pd-test-bus.h"
#include "pd-test-utils.h"

typedef struct {
  GTestDBus *bus;
  GDBusConnection *server;
  GDBusConnection *client;
  PdAuth *auth;
  PdOperation *op;
  PdJob *job;
  char *server_name;

  /* what the client saw */
  guint completed_id;
  guint properties_id;
  GVariant *completed;           /* (sss) */
  GArray *bytes_done_times;      /* gint64 monotonic µs of PropertiesChanged with BytesDone */
  guint phase_changes;
  guint cancel_requested;
  guint finished;
  guint linger_expired;
} Fixture;

/* the client's handler of both subscriptions: the job's Completed and its PropertiesChanged */
static void
on_job_signal (GDBusConnection *connection, const char *sender, const char *object_path,
               const char *interface_name, const char *signal_name, GVariant *parameters,
               gpointer user_data)
{
  Fixture *fixture = user_data;
  g_autoptr(GVariant) changed = NULL;
  const char *iface = NULL;
  gint64 now = g_get_monotonic_time ();

  if (g_str_equal (signal_name, "Completed"))
    {
      g_assert_null (fixture->completed);
      fixture->completed = g_variant_ref (parameters);
      return;
    }
  g_assert_cmpstr (signal_name, ==, "PropertiesChanged");
  g_variant_get (parameters, "(&s@a{sv}@as)", &iface, &changed, NULL);
  g_assert_cmpstr (iface, ==, PD_DBUS_INTERFACE_JOB);
  if (g_variant_lookup (changed, "BytesDone", "t", NULL))
    g_array_append_val (fixture->bytes_done_times, now);
  if (g_variant_lookup (changed, "Phase", "&s", NULL))
    fixture->phase_changes++;
}

static void
on_cancel_requested (PdOperation *op, gpointer user_data)
{
  Fixture *fixture = user_data;

  /* the cancellable is cancelled first, so the worker can rely on it */
  g_assert_true (g_cancellable_is_cancelled (pd_operation_get_cancellable_object (op)));
  fixture->cancel_requested++;
}

static void
on_finished (PdOperation *op, gpointer user_data)
{
  Fixture *fixture = user_data;

  g_assert_true (pd_operation_is_finished (op));
  fixture->finished++;
}

static void
on_linger_expired (PdJob *job, gpointer user_data)
{
  Fixture *fixture = user_data;

  fixture->linger_expired++;
}

static void
fixture_setup (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  const char *address;

  fixture->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fixture->bus);
  address = g_test_dbus_get_bus_address (fixture->bus);
  fixture->server = pd_test_bus_connect (address);
  fixture->client = pd_test_bus_connect (address);
  fixture->server_name = g_strdup (g_dbus_connection_get_unique_name (fixture->server));
  fixture->bytes_done_times = g_array_new (FALSE, FALSE, sizeof (gint64));

  fixture->auth = pd_auth_new ();
  fixture->op = pd_operation_new (7, "create", NULL, "test/plugin:latest", getuid ());
  fixture->job = pd_job_new (fixture->auth, fixture->op);
  g_assert_cmpuint (pd_job_get_id (fixture->job), ==, 7);
  g_assert_cmpstr (pd_job_get_object_path (fixture->job), ==, PD_DBUS_JOB_PATH_PREFIX "7");
  g_signal_connect (fixture->op, "cancel-requested", G_CALLBACK (on_cancel_requested), fixture);
  g_signal_connect (fixture->op, "finished", G_CALLBACK (on_finished), fixture);
  g_signal_connect (fixture->job, "linger-expired", G_CALLBACK (on_linger_expired), fixture);
  g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (fixture->job), fixture->server,
                                    pd_job_get_object_path (fixture->job), &error);
  g_assert_no_error (error);

  fixture->completed_id =
    g_dbus_connection_signal_subscribe (fixture->client, fixture->server_name,
                                        PD_DBUS_INTERFACE_JOB, "Completed",
                                        pd_job_get_object_path (fixture->job), NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, on_job_signal, fixture, NULL);
  fixture->properties_id =
    g_dbus_connection_signal_subscribe (fixture->client, fixture->server_name,
                                        "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                        pd_job_get_object_path (fixture->job),
                                        PD_DBUS_INTERFACE_JOB, G_DBUS_SIGNAL_FLAGS_NONE,
                                        on_job_signal, fixture, NULL);
}

static void
fixture_teardown (Fixture *fixture, gconstpointer user_data)
{
  g_dbus_connection_signal_unsubscribe (fixture->client, fixture->completed_id);
  g_dbus_connection_signal_unsubscribe (fixture->client, fixture->properties_id);
  if (fixture->job != NULL)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (fixture->job));
  g_clear_object (&fixture->job);
  g_clear_object (&fixture->op);
  g_clear_object (&fixture->auth);
  g_clear_pointer (&fixture->completed, g_variant_unref);
  g_array_unref (fixture->bytes_done_times);
  g_dbus_connection_close_sync (fixture->client, NULL, NULL);
  g_dbus_connection_close_sync (fixture->server, NULL, NULL);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->server);
  g_free (fixture->server_name);
  g_test_dbus_down (fixture->bus);
  g_clear_object (&fixture->bus);
}

/* section: helpers */

static void
call_job (Fixture *fixture, const char *method, GVariant *parameters, GAsyncResult **result)
{
  g_dbus_connection_call (fixture->client, fixture->server_name,
                          pd_job_get_object_path (fixture->job), PD_DBUS_INTERFACE_JOB, method,
                          parameters, NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL,
                          pd_test_bus_store_result_cb, result);
}

static GVariant *
finish_call (Fixture *fixture, GAsyncResult **result, GError **error)
{
  g_autoptr(GAsyncResult) res = pd_test_bus_wait_result (result);

  return g_dbus_connection_call_finish (fixture->client, res, error);
}

static GVariant *
call_job_sync (Fixture *fixture, const char *method, GVariant *parameters, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  call_job (fixture, method, parameters, &result);
  return finish_call (fixture, &result, error);
}

static GVariant *
cancel_sync (Fixture *fixture, GError **error)
{
  return call_job_sync (fixture, "Cancel", g_variant_new_parsed ("(@a{sv} {},)"), error);
}

static GVariant *
get_property (Fixture *fixture, const char *name)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  GVariant *value = NULL;

  g_dbus_connection_call (fixture->client, fixture->server_name,
                          pd_job_get_object_path (fixture->job),
                          "org.freedesktop.DBus.Properties", "Get",
                          g_variant_new ("(ss)", PD_DBUS_INTERFACE_JOB, name),
                          G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 10000, NULL,
                          pd_test_bus_store_result_cb, &result);
  reply = finish_call (fixture, &result, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

static void
assert_string_property (Fixture *fixture, const char *name, const char *expected)
{
  g_autoptr(GVariant) value = get_property (fixture, name);

  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, expected);
}

static gboolean
timeout_cb (gpointer user_data)
{
  gboolean *done = user_data;

  *done = TRUE;
  return G_SOURCE_REMOVE;
}

static void
run_for_ms (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, timeout_cb, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* a round trip to the server: everything it sent before is now with the client */
static void
sync_with_server (Fixture *fixture)
{
  g_variant_unref (get_property (fixture, "State"));
}

static void
wait_for_completed (Fixture *fixture)
{
  while (fixture->completed == NULL)
    g_main_context_iteration (NULL, TRUE);
}

static void
assert_remote_error (const GError *error, const char *name)
{
  g_autofree char *remote = NULL;

  g_assert_nonnull (error);
  g_assert_true (g_dbus_error_is_remote_error (error));
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, name);
}

/* section: tests */

static void
test_initial_properties (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GVariant) id = get_property (fixture, "Id");
  g_autoptr(GVariant) uid = get_property (fixture, "StartedByUID");
  g_autoptr(GVariant) start = get_property (fixture, "StartTime");
  g_autoptr(GVariant) cancellable = get_property (fixture, "Cancellable");
  g_autoptr(GVariant) layers = get_property (fixture, "Layers");
  g_autoptr(GVariant) results = get_property (fixture, "Results");

  g_assert_cmpuint (g_variant_get_uint32 (id), ==, 7);
  g_assert_cmpuint (g_variant_get_uint32 (uid), ==, getuid ());
  g_assert_cmpuint (g_variant_get_uint64 (start), >, 0);
  g_assert_true (g_variant_get_boolean (cancellable));
  g_assert_cmpuint (g_variant_n_children (layers), ==, 0);
  g_assert_cmpuint (g_variant_n_children (results), ==, 0);
  assert_string_property (fixture, "Operation", "create");
  assert_string_property (fixture, "Remote", "");
  assert_string_property (fixture, "PluginName", "test/plugin:latest");
  assert_string_property (fixture, "Plugin", "/");
  assert_string_property (fixture, "State", "running");
  assert_string_property (fixture, "Phase", "queued");
  assert_string_property (fixture, "Result", "");
  assert_string_property (fixture, "ErrorName", "");
}

static void
test_wait_done (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GAsyncResult) early = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *completed = NULL;
  const char *plugin_id = NULL;

  /* Wait() before the end stays pending */
  call_job (fixture, "Wait", NULL, &early);
  run_for_ms (100);
  g_assert_null (early);

  pd_operation_set_plugin_id (fixture->op, "abc");
  pd_operation_complete (fixture->op, g_variant_new_parsed ("{'plugin-id': <'abc'>}"), NULL);
  g_assert_true (pd_operation_is_finished (fixture->op));
  g_assert_cmpuint (fixture->finished, ==, 1);

  reply = finish_call (fixture, &early, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(@a{sv})", &results);
  g_assert_true (g_variant_lookup (results, "plugin-id", "&s", &plugin_id));
  g_assert_cmpstr (plugin_id, ==, "abc");

  wait_for_completed (fixture);
  completed = g_variant_print (fixture->completed, FALSE);
  g_assert_cmpstr (completed, ==, "('done', '', '')");
  assert_string_property (fixture, "State", "finished");
  assert_string_property (fixture, "Result", "done");
  assert_string_property (fixture, "ErrorName", "");
  assert_string_property (fixture, "Plugin", PD_DBUS_PLUGIN_PATH_PREFIX "abc");

  /* and after the end it answers at once */
  g_clear_pointer (&reply, g_variant_unref);
  g_clear_pointer (&results, g_variant_unref);
  reply = call_job_sync (fixture, "Wait", NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(@a{sv})", &results);
  g_assert_true (g_variant_lookup (results, "plugin-id", "&s", &plugin_id));
}

static void
test_wait_failed (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GAsyncResult) early = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) job_error = NULL;
  const char *name = pd_error_to_dbus_name (PD_ERROR_NO_SPACE);
  g_autofree char *completed = NULL;
  g_autofree char *printed = NULL;

  call_job (fixture, "Wait", NULL, &early);
  run_for_ms (50);

  /* a foreign error is converted before it reaches the bus */
  job_error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NO_SPACE, "disk full");
  pd_operation_complete (fixture->op, NULL, job_error);

  reply = finish_call (fixture, &early, &error);
  g_assert_null (reply);
  assert_remote_error (error, name);
  g_dbus_error_strip_remote_error (error);
  g_assert_cmpstr (error->message, ==, "disk full");

  wait_for_completed (fixture);
  completed = g_strdup_printf ("('failed', '%s', 'disk full')", name);
  printed = g_variant_print (fixture->completed, FALSE);
  g_assert_cmpstr (printed, ==, completed);
  assert_string_property (fixture, "Result", "failed");
  assert_string_property (fixture, "ErrorName", name);
  assert_string_property (fixture, "ErrorMessage", "disk full");

  g_clear_error (&error);
  reply = call_job_sync (fixture, "Wait", NULL, &error);
  assert_remote_error (error, name);
}

static void
test_failed_names (void)
{
  struct {
    GQuark domain;
    gint code;
    const char *name;
  } cases[] = {
    { PD_ERROR, PD_ERROR_INVALID_CONFIG, PD_DBUS_ERROR_PREFIX "InvalidConfig" },
    { PD_ERROR, PD_ERROR_INVALID_ARGS, "org.freedesktop.DBus.Error.InvalidArgs" },
    { PD_ERROR, PD_ERROR_LIMITS_EXCEEDED, "org.freedesktop.DBus.Error.LimitsExceeded" },
    { G_IO_ERROR, G_IO_ERROR_NOT_FOUND, PD_DBUS_ERROR_PREFIX "Failed" },
    { G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, "org.freedesktop.DBus.Error.AccessDenied" },
    { G_FILE_ERROR, G_FILE_ERROR_NOSPC, PD_DBUS_ERROR_PREFIX "NoSpace" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PdOperation) op = pd_operation_new (i, "create", "", "x", 0);
      g_autoptr(PdJob) job = pd_job_new (NULL, op);
      g_autoptr(GError) error = g_error_new_literal (cases[i].domain, cases[i].code, "boom");

      pd_operation_complete (op, NULL, error);
      g_assert_cmpstr (pd_dbus_job_get_result (PD_DBUS_JOB (job)), ==, "failed");
      g_assert_cmpstr (pd_dbus_job_get_error_name (PD_DBUS_JOB (job)), ==, cases[i].name);
      g_assert_cmpstr (pd_dbus_job_get_error_message (PD_DBUS_JOB (job)), ==, "boom");
      g_assert_false (pd_dbus_job_get_cancellable (PD_DBUS_JOB (job)));
    }

  /* a remote error keeps its name, without the GDBus prefix in the message */
  {
    g_autoptr(PdOperation) op = pd_operation_new (99, "create", "", "x", 0);
    g_autoptr(PdJob) job = pd_job_new (NULL, op);
    g_autoptr(GError) error = g_dbus_error_new_for_dbus_error ("org.example.Error.Odd", "odd");

    pd_operation_complete (op, NULL, error);
    g_assert_cmpstr (pd_dbus_job_get_error_name (PD_DBUS_JOB (job)), ==, "org.example.Error.Odd");
    g_assert_cmpstr (pd_dbus_job_get_error_message (PD_DBUS_JOB (job)), ==, "odd");
  }
}

static void
test_cancel_by_owner (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GAsyncResult) early = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) cancelled = NULL;
  const char *name = pd_error_to_dbus_name (PD_ERROR_JOB_CANCELLED);

  call_job (fixture, "Wait", NULL, &early);
  run_for_ms (50);

  reply = cancel_sync (fixture, &error);
  g_assert_no_error (error);
  g_assert_true (g_cancellable_is_cancelled (pd_operation_get_cancellable_object (fixture->op)));
  g_assert_cmpuint (fixture->cancel_requested, ==, 1);
  /* the owner finishes the job; a second Cancel meanwhile changes nothing */
  g_clear_pointer (&reply, g_variant_unref);
  reply = cancel_sync (fixture, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->cancel_requested, ==, 1);
  g_assert_false (pd_operation_is_finished (fixture->op));

  cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Operation was cancelled");
  pd_operation_complete (fixture->op, NULL, cancelled);

  g_clear_pointer (&reply, g_variant_unref);
  reply = finish_call (fixture, &early, &error);
  assert_remote_error (error, name);
  wait_for_completed (fixture);
  g_assert_cmpstr (g_variant_get_type_string (fixture->completed), ==, "(sss)");
  {
    const char *result, *error_name;

    g_variant_get (fixture->completed, "(&s&s&s)", &result, &error_name, NULL);
    g_assert_cmpstr (result, ==, "cancelled");
    g_assert_cmpstr (error_name, ==, name);
  }
  assert_string_property (fixture, "Result", "cancelled");
  assert_string_property (fixture, "ErrorName", name);
}

static void
test_cancel_not_cancellable (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) cancellable = NULL;

  pd_operation_set_cancellable (fixture->op, FALSE);
  cancellable = get_property (fixture, "Cancellable");
  g_assert_false (g_variant_get_boolean (cancellable));

  reply = cancel_sync (fixture, &error);
  assert_remote_error (error, pd_error_to_dbus_name (PD_ERROR_NOT_CANCELLABLE));
  g_assert_false (g_cancellable_is_cancelled (pd_operation_get_cancellable_object (fixture->op)));
  g_assert_cmpuint (fixture->cancel_requested, ==, 0);
}

/* a forced Disable or Remove ends the job whatever its Cancellable says, once */
static void
test_cancel_forced (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                     "cancelled");

  pd_operation_set_cancellable (fixture->op, FALSE);
  pd_operation_cancel (fixture->op, "a forced operation on its plugin");
  g_assert_true (g_cancellable_is_cancelled (pd_operation_get_cancellable_object (fixture->op)));
  g_assert_cmpuint (fixture->cancel_requested, ==, 1);
  pd_operation_cancel (fixture->op, "a forced operation on its plugin");
  g_assert_cmpuint (fixture->cancel_requested, ==, 1);
  pd_operation_complete (fixture->op, NULL, cancelled);
  assert_string_property (fixture, "Result", "cancelled");
  /* nothing once finished */
  pd_operation_cancel (fixture->op, "a forced operation on its plugin");
  g_assert_cmpuint (fixture->cancel_requested, ==, 1);
}

static void
test_cancel_after_finish (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  pd_operation_complete (fixture->op, NULL, NULL);
  reply = cancel_sync (fixture, &error);
  g_assert_no_error (error);
  g_assert_false (g_cancellable_is_cancelled (pd_operation_get_cancellable_object (fixture->op)));
  g_assert_cmpuint (fixture->cancel_requested, ==, 0);
  assert_string_property (fixture, "Result", "done");
}

static void
test_cancel_bad_options (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = call_job_sync (fixture, "Cancel", g_variant_new_parsed ("({'force': <true>},)"),
                         &error);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_assert_nonnull (strstr (error->message, "force"));
  g_clear_error (&error);
  reply = call_job_sync (fixture, "Cancel", g_variant_new_parsed ("({'interactive': <1>},)"),
                         &error);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_cmpuint (fixture->cancel_requested, ==, 0);

  /* a well-formed one goes through */
  reply = call_job_sync (fixture, "Cancel", g_variant_new_parsed ("({'interactive': <false>},)"),
                         &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->cancel_requested, ==, 1);
}

static void
test_progress_throttled (Fixture *fixture, gconstpointer user_data)
{
  gint64 start = g_get_monotonic_time ();
  guint64 done = 0;
  g_autoptr(GVariant) value = NULL;
  guint n;

  /* a busy worker reporting every few milliseconds for a second */
  while (g_get_monotonic_time () - start < G_USEC_PER_SEC)
    {
      done += 1000;
      pd_operation_set_bytes (fixture->op, done, 10 * 1000 * 1000);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (2000);
    }
  run_for_ms (400);
  sync_with_server (fixture);

  n = fixture->bytes_done_times->len;
  g_test_message ("%u PropertiesChanged with BytesDone in 1 s (%" G_GUINT64_FORMAT " updates)",
                  n, done / 1000);
  g_assert_cmpuint (n, >=, 3);
  g_assert_cmpuint (n, <=, 6);
  /* ≤ 4 Hz, with some slack for delivery jitter */
  for (guint i = 1; i < n; i++)
    {
      gint64 gap = g_array_index (fixture->bytes_done_times, gint64, i) -
                   g_array_index (fixture->bytes_done_times, gint64, i - 1);
      g_assert_cmpint (gap, >=, 150 * G_TIME_SPAN_MILLISECOND);
    }

  /* the last value made it out */
  value = get_property (fixture, "BytesDone");
  g_assert_cmpuint (g_variant_get_uint64 (value), ==, done);
  g_clear_pointer (&value, g_variant_unref);
  value = get_property (fixture, "ProgressValid");
  g_assert_true (g_variant_get_boolean (value));
  g_clear_pointer (&value, g_variant_unref);
  value = get_property (fixture, "Rate");
  g_assert_cmpuint (g_variant_get_uint64 (value), >, 0);
  g_clear_pointer (&value, g_variant_unref);
  value = get_property (fixture, "ExpectedEndTime");
  g_assert_cmpuint (g_variant_get_uint64 (value), >, (guint64) g_get_real_time ());

  /* Phase is not throttled: it is out before the next progress slot */
  pd_operation_set_bytes (fixture->op, done + 1, 10 * 1000 * 1000);
  pd_operation_set_bytes (fixture->op, done + 2, 10 * 1000 * 1000);
  pd_operation_set_phase (fixture->op, "committing");
  sync_with_server (fixture);
  g_assert_cmpuint (fixture->phase_changes, ==, 1);
  assert_string_property (fixture, "Phase", "committing");
}

static void
test_progress_values (void)
{
  g_autoptr(PdOperation) op = pd_operation_new (1, "create", "", "x", 0);
  g_autoptr(PdJob) job = pd_job_new (NULL, op);
  PdDbusJob *iface = PD_DBUS_JOB (job);

  /* the first update goes to the skeleton at once */
  pd_operation_set_bytes (op, 0, 0);
  g_assert_false (pd_dbus_job_get_progress_valid (iface));
  g_assert_cmpuint (pd_dbus_job_get_bytes_total (iface), ==, 0);
  g_assert_cmpuint (pd_dbus_job_get_expected_end_time (iface), ==, 0);

  run_for_ms (300);
  pd_operation_set_bytes (op, 500, 1000);
  g_assert_true (pd_dbus_job_get_progress_valid (iface));
  g_assert_cmpfloat_with_epsilon (pd_dbus_job_get_progress (iface), 0.5, 1e-9);
  g_assert_cmpuint (pd_dbus_job_get_bytes_done (iface), ==, 500);
  /* ~500 bytes in ~0.3 s */
  g_assert_cmpuint (pd_dbus_job_get_rate (iface), >, 100);
  g_assert_cmpuint (pd_dbus_job_get_rate (iface), <, 2000);
  g_assert_cmpuint (pd_dbus_job_get_expected_end_time (iface), >, (guint64) g_get_real_time ());

  /* layers follow the same path */
  run_for_ms (300);
  pd_operation_set_layers (op,
                           g_variant_new_parsed ("[('sha256:aa', 'downloading', @t 5, @t 10)]"));
  g_assert_cmpuint (g_variant_n_children (pd_dbus_job_get_layers (iface)), ==, 1);

  /* completing pushes whatever is pending */
  pd_operation_set_bytes (op, 1000, 1000);
  pd_operation_complete (op, NULL, NULL);
  g_assert_cmpuint (pd_dbus_job_get_bytes_done (iface), ==, 1000);
  g_assert_cmpfloat_with_epsilon (pd_dbus_job_get_progress (iface), 1.0, 1e-9);
  g_assert_cmpstr (pd_dbus_job_get_state (iface), ==, "finished");
}

static void
test_log (Fixture *fixture, gconstpointer user_data)
{
  /* invalid UTF-8 from a registry must not break the signal */
  pd_operation_log (fixture->op, 6, "reading %s", "ok \xff\xfe");
  sync_with_server (fixture);
}

static void
test_linger (Fixture *fixture, gconstpointer user_data)
{
  gint64 deadline;

  pd_job_set_linger_ms (fixture->job, 50);
  pd_operation_complete (fixture->op, NULL, NULL);
  g_assert_cmpuint (fixture->linger_expired, ==, 0);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (fixture->linger_expired == 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (fixture->linger_expired, ==, 1);

  /* still answers during and after, until the owner unexports it */
  assert_string_property (fixture, "Result", "done");
}

static void
on_linger_unexpected (PdJob *job, gpointer user_data)
{
  g_assert_not_reached ();
}

static void
test_dispose_removes_timers (void)
{
  PdOperation *op = pd_operation_new (3, "create", "", "x", 0);
  PdJob *job = pd_job_new (NULL, op);

  g_signal_connect (job, "linger-expired", G_CALLBACK (on_linger_unexpected), NULL);
  pd_job_set_linger_ms (job, 20);
  pd_operation_set_bytes (op, 1, 100);
  pd_operation_set_bytes (op, 2, 100);   /* a pending progress timer */
  pd_operation_complete (op, NULL, NULL);
  g_object_unref (job);
  g_object_unref (op);
  run_for_ms (100);

  op = pd_operation_new (4, "create", "", "x", 0);
  job = pd_job_new (NULL, op);
  pd_operation_set_bytes (op, 1, 100);
  pd_operation_set_bytes (op, 2, 100);
  g_object_unref (job);
  g_object_unref (op);
  run_for_ms (300);
}

static void
test_dispose_answers_waiters (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GAsyncResult) early = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  call_job (fixture, "Wait", NULL, &early);
  run_for_ms (50);
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (fixture->job));
  g_clear_object (&fixture->job);
  reply = finish_call (fixture, &early, &error);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  PD_TEST_ADD ("/job/properties/initial", test_initial_properties);
  PD_TEST_ADD ("/job/wait/done", test_wait_done);
  PD_TEST_ADD ("/job/wait/failed", test_wait_failed);
  g_test_add_func ("/job/complete/error-names", test_failed_names);
  PD_TEST_ADD ("/job/cancel/owner", test_cancel_by_owner);
  PD_TEST_ADD ("/job/cancel/not-cancellable", test_cancel_not_cancellable);
  PD_TEST_ADD ("/job/cancel/forced", test_cancel_forced);
  PD_TEST_ADD ("/job/cancel/after-finish", test_cancel_after_finish);
  PD_TEST_ADD ("/job/cancel/bad-options", test_cancel_bad_options);
  PD_TEST_ADD ("/job/progress/throttled", test_progress_throttled);
  g_test_add_func ("/job/progress/values", test_progress_values);
  PD_TEST_ADD ("/job/log", test_log);
  PD_TEST_ADD ("/job/linger", test_linger);
  g_test_add_func ("/job/dispose/timers", test_dispose_removes_timers);
  PD_TEST_ADD ("/job/dispose/waiters", test_dispose_answers_waiters);

  return g_test_run ();
}
