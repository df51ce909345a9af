/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-transfer"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "pd-error.h"
#include "pd-names.h"
#include "pd-registry.h"
#include "pd-transfer.h"

#define READ_CHUNK (64 * 1024)

struct _PdTransfer {
  GSubprocess *helper;
  int socket;
  GSource *source;
  GByteArray *buffer;
  PdTransferMessageFunc func;
  gpointer func_data;
  GCancellable *cancellable;
  gulong cancel_handler;
  gboolean cancelled;
  char *verb;

  GVariant *result;   /* the "result" fields */
  GError *error;      /* the "error", or what went wrong with the helper */
};

static void start_spare (void);

const char *
pd_transfer_get_helper_path (void)
{
  const char *path = g_getenv (PD_ENV_TRANSFER_HELPER);

  if (path != NULL && *path != '\0')
    return path;
  return LIBEXECDIR "/plugind-transfer";
}

static void
transfer_free (PdTransfer *transfer)
{
  if (transfer->cancel_handler != 0)
    g_cancellable_disconnect (transfer->cancellable, transfer->cancel_handler);
  g_clear_object (&transfer->cancellable);
  if (transfer->source != NULL)
    {
      g_source_destroy (transfer->source);
      g_clear_pointer (&transfer->source, g_source_unref);
    }
  if (transfer->helper != NULL)
    g_subprocess_force_exit (transfer->helper);
  g_clear_object (&transfer->helper);
  if (transfer->socket >= 0)
    close (transfer->socket);
  g_clear_pointer (&transfer->buffer, g_byte_array_unref);
  g_clear_pointer (&transfer->result, g_variant_unref);
  g_clear_error (&transfer->error);
  g_free (transfer->verb);
  g_free (transfer);
}

/* the daemon's pid, for child_setup () */
static pid_t spawning_pid;

static void
child_setup (gpointer user_data)
{
  /* async-signal-safe: the helper dies with the daemon (the main thread, which spawns it);
   * a daemon that died before the prctl () took effect is not our parent any more */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != spawning_pid)
    _exit (127);
}

static void
cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  PdTransfer *transfer = user_data;

  transfer->cancelled = TRUE;
  if (transfer->helper != NULL)
    g_subprocess_force_exit (transfer->helper);
}

static void
helper_exited_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PdTransfer *transfer = g_task_get_task_data (task);
  GSubprocess *helper = G_SUBPROCESS (source);

  g_subprocess_wait_finish (helper, result, NULL);
  /* the next job, often right behind (a Pull after its GetPrivileges), finds one ready */
  start_spare ();
  if (transfer->cancelled)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      return;
    }
  if (transfer->error != NULL)
    {
      g_task_return_error (task, g_steal_pointer (&transfer->error));
      return;
    }
  if (transfer->result == NULL || !g_subprocess_get_successful (helper))
    {
      g_autofree char *how = g_subprocess_get_if_signaled (helper)
                               ? g_strdup_printf ("was killed by signal %d",
                                                  g_subprocess_get_term_sig (helper))
                               : g_strdup_printf ("exited with status %d",
                                                  g_subprocess_get_exit_status (helper));

      g_task_return_new_error (task, PD_ERROR, PD_ERROR_FAILED,
                               "the transfer helper (%s) %s%s", transfer->verb, how,
                               transfer->result == NULL ? " without a result" : "");
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&transfer->result),
                         (GDestroyNotify) g_variant_unref);
}

/* the end of the stream (or a broken helper, already killed): the result once it is reaped */
static void
finish_reading (GTask *task)
{
  PdTransfer *transfer = g_task_get_task_data (task);

  g_subprocess_wait_async (transfer->helper, NULL, helper_exited_cb, g_object_ref (task));
  /* drops the source's reference on @task */
  g_source_destroy (transfer->source);
  g_clear_pointer (&transfer->source, g_source_unref);
}

/* the job fails with @error (taken) and the helper is killed */
static void
fail (PdTransfer *transfer, GError *error)
{
  pd_error_convert (&error);
  g_clear_error (&transfer->error);
  g_clear_pointer (&transfer->result, g_variant_unref);
  transfer->error = error;
  g_subprocess_force_exit (transfer->helper);
}

/* a frame the daemon cannot read, or a message out of place: Failed, whatever the reason */
static void
protocol_error (PdTransfer *transfer, GError *error)
{
  GError *failed = g_error_new (PD_ERROR, PD_ERROR_FAILED, "the transfer helper (%s) broke off: %s",
                                transfer->verb, error->message);

  g_error_free (error);
  fail (transfer, failed);
}

/* FALSE once nothing more is to be read */
static gboolean
dispatch (GTask *task, GVariant *message)
{
  PdTransfer *transfer = g_task_get_task_data (task);
  g_autoptr(GVariant) fields = NULL;
  const char *kind;
  GError *error = NULL;

  g_variant_get (message, "(&s@a{sv})", &kind, &fields);
  if (transfer->result != NULL || transfer->error != NULL)
    {
      protocol_error (transfer, g_error_new (PD_ERROR, PD_ERROR_FAILED,
                                             "a message after its last"));
      return FALSE;
    }
  if (g_str_equal (kind, "result"))
    {
      transfer->result = g_steal_pointer (&fields);
      return TRUE;
    }
  if (g_str_equal (kind, "error"))
    {
      transfer->error = pd_transfer_error_from_fields (fields);
      return TRUE;
    }
  /* what a registry client learnt, for the next helper (pd-registry.h) */
  if (g_str_equal (kind, "plain-http"))
    {
      const char *host = NULL;
      gboolean plain = FALSE;

      if (g_variant_lookup (fields, "host", "&s", &host) &&
          g_variant_lookup (fields, "plain", "b", &plain) && strlen (host) <= 256)
        {
          pd_registry_memory_set_plain_http (host, plain);
          return TRUE;
        }
      protocol_error (transfer, g_error_new (PD_ERROR, PD_ERROR_FAILED, "a bad plain-http"));
      return FALSE;
    }
  if (transfer->func == NULL ||
      !transfer->func (transfer, kind, fields, transfer->func_data, &error))
    {
      /* the job's own error (a consent check, a commit that failed), or the function's word
       * on a message it refused */
      if (error == NULL)
        protocol_error (transfer, g_error_new (PD_ERROR, PD_ERROR_FAILED, "an unknown message"));
      else
        fail (transfer, error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
readable_cb (int fd, GIOCondition condition, gpointer user_data)
{
  GTask *task = user_data;
  PdTransfer *transfer = g_task_get_task_data (task);
  gsize old_len = transfer->buffer->len;
  ssize_t n;

  g_byte_array_set_size (transfer->buffer, old_len + READ_CHUNK);
  /* read (), not recvmsg (): file descriptors the helper might attach are dropped */
  n = read (fd, transfer->buffer->data + old_len, READ_CHUNK);
  g_byte_array_set_size (transfer->buffer, old_len + MAX (n, 0));
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      finish_reading (task);
      return G_SOURCE_REMOVE;
    }
  for (;;)
    {
      GError *error = NULL;
      g_autoptr(GVariant) message = pd_transfer_parse (transfer->buffer, &error);

      if (error != NULL)
        {
          protocol_error (transfer, error);
          finish_reading (task);
          return G_SOURCE_REMOVE;
        }
      if (message == NULL)
        return G_SOURCE_CONTINUE;
      if (!dispatch (task, message))
        {
          finish_reading (task);
          return G_SOURCE_REMOVE;
        }
    }
}

/* Starts a helper with @argument (a verb, or "spare"), its socket in *@socket_out. */
static GSubprocess *
spawn_helper (const char *argument, int *socket_out, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  GSubprocess *helper;
  int sockets[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0)
    {
      int errsv = errno;
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "socketpair: %s", g_strerror (errsv));
      return NULL;
    }
  spawning_pid = getpid ();
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_subprocess_launcher_take_fd (launcher, sockets[1], PD_TRANSFER_SOCKET_FD);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  /* the verb only: anything secret goes over the socket */
  helper = g_subprocess_launcher_spawn (launcher, error, pd_transfer_get_helper_path (),
                                        argument, NULL);
  /* the helper's end must not stay open here, or its death would not end our reads */
  g_clear_object (&launcher);
  if (helper == NULL)
    {
      close (sockets[0]);
      g_prefix_error (error, "starting the transfer helper: ");
      pd_error_convert (error);
      return NULL;
    }
  *socket_out = sockets[0];
  return helper;
}

/* section: the spare helper */

/* A helper started when a run ends, which waits for the next job's request with its libraries
 * loaded and relocated (about 8 ms of CPU that would otherwise come first in every job: a
 * GetPrivileges takes twice as long without it). Killed after SPARE_SECONDS without a job, so
 * that an idle daemon has no helper. Main thread only. */
#define SPARE_SECONDS 10

static GSubprocess *spare_helper;
static int spare_socket = -1;
static guint spare_timeout;

static void
drop_spare (void)
{
  g_clear_handle_id (&spare_timeout, g_source_remove);
  /* GSubprocess reaps it once it has exited */
  if (spare_helper != NULL)
    g_subprocess_force_exit (spare_helper);
  g_clear_object (&spare_helper);
  if (spare_socket >= 0)
    close (spare_socket);
  spare_socket = -1;
}

void
pd_transfer_stop_spare (void)
{
  g_autoptr(GSubprocess) helper = g_steal_pointer (&spare_helper);

  drop_spare ();
  if (helper != NULL)
    {
      g_subprocess_force_exit (helper);
      g_subprocess_wait (helper, NULL, NULL);
    }
}

static gboolean
spare_timeout_cb (gpointer user_data)
{
  spare_timeout = 0;
  drop_spare ();
  return G_SOURCE_REMOVE;
}

static void
start_spare (void)
{
  g_autoptr(GError) error = NULL;

  /* the daemon's main thread, which PR_SET_PDEATHSIG ties the helper to */
  if (spare_helper != NULL || !g_main_context_is_owner (g_main_context_default ()))
    return;
  spare_helper = spawn_helper ("spare", &spare_socket, &error);
  if (spare_helper == NULL)
    {
      g_debug ("no spare transfer helper: %s", error->message);
      return;
    }
  spare_timeout = g_timeout_add_seconds (SPARE_SECONDS, spare_timeout_cb, NULL);
}

/* the spare, if one is waiting: its process and socket, or FALSE */
static gboolean
take_spare (GSubprocess **helper, int *socket_out)
{
  if (spare_helper == NULL || !g_main_context_is_owner (g_main_context_default ()))
    return FALSE;
  g_clear_handle_id (&spare_timeout, g_source_remove);
  *helper = g_steal_pointer (&spare_helper);
  *socket_out = spare_socket;
  spare_socket = -1;
  return TRUE;
}

/* @request with "verb" added, which a spare learns its job from */
static GVariant *
request_with_verb (GVariant *request, const char *verb)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, request);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_variant_builder_add (&builder, "{sv}", key, value);
      g_variant_unref (value);
    }
  g_variant_builder_add (&builder, "{sv}", "verb", g_variant_new_string (verb));
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

void
pd_transfer_run_async (const char *verb, GVariant *request, const int *fds, guint n_fds,
                       PdTransferMessageFunc func, gpointer func_data, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr(GVariant) owned_request = g_variant_ref_sink (request);
  g_autoptr(GVariant) full_request = request_with_verb (owned_request, verb);
  PdTransfer *transfer = g_new0 (PdTransfer, 1);
  GError *error = NULL;
  gboolean sent = FALSE;

  transfer->socket = -1;
  transfer->func = func;
  transfer->func_data = func_data;
  transfer->verb = g_strdup (verb);
  transfer->buffer = g_byte_array_new ();
  g_task_set_task_data (task, transfer, (GDestroyNotify) transfer_free);

  /* a spare that died meanwhile (its socket refuses the request) is replaced by a new helper */
  if (take_spare (&transfer->helper, &transfer->socket))
    {
      sent = pd_transfer_write (transfer->socket, "request", full_request, fds, n_fds, NULL);
      if (!sent)
        {
          g_subprocess_force_exit (transfer->helper);
          g_clear_object (&transfer->helper);
          close (transfer->socket);
          transfer->socket = -1;
        }
    }
  if (!sent)
    {
      transfer->helper = spawn_helper (verb, &transfer->socket, &error);
      if (transfer->helper == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      if (!pd_transfer_write (transfer->socket, "request", full_request, fds, n_fds, &error))
        {
          /* the helper is gone already: what it said (its error) is the better message, if
           * any; reading goes on until its end */
          g_debug ("sending the %s request: %s", verb, error->message);
          g_clear_error (&error);
        }
    }
  g_unix_set_fd_nonblocking (transfer->socket, TRUE, NULL);
  if (cancellable != NULL)
    transfer->cancellable = g_object_ref (cancellable);
  transfer->source = g_unix_fd_source_new (transfer->socket, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (transfer->source, (GSourceFunc) (void (*) (void)) readable_cb,
                         g_object_ref (task), g_object_unref);
  g_source_attach (transfer->source, g_main_context_get_thread_default ());
  if (cancellable != NULL)
    transfer->cancel_handler = g_cancellable_connect (cancellable, G_CALLBACK (cancelled_cb),
                                                      transfer, NULL);
}

GVariant *
pd_transfer_run_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
pd_transfer_reply (PdTransfer *transfer, const char *kind, GVariant *fields, GError **error)
{
  g_autoptr(GBytes) frame = pd_transfer_frame (kind, fields);
  gsize len;
  const char *data = g_bytes_get_data (frame, &len);
  ssize_t n;

  /* the helper waits for the answer, so the socket's buffer is empty on our side: a partial
   * write means a helper that does not read, which is broken */
  do
    n = send (transfer->socket, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 || (gsize) n != len)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "cannot answer the transfer helper: %s",
                   n < 0 ? g_strerror (errno) : "short write");
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_transfer_log_to_operation (PdOperation *operation, GVariant *fields, GError **error)
{
  g_autofree char *line = pd_transfer_get_log_line (fields, error);

  if (line == NULL)
    return FALSE;
  pd_operation_log (operation, 6, "%s", line);
  return TRUE;
}
