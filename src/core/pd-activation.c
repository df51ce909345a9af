/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

/* the runner's: the handshake is a part of it, and its 404 warning is the runner's */
#define G_LOG_DOMAIN "pd-runner"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>

#include "pd-activate.h"
#include "pd-activation.h"
#include "pd-error.h"
#include "pd-sandbox.h"

/* the socket is looked for after 1 ms, then at intervals doubling up to 25 ms: most plugins
 * make it within a few ms of their start (bench/README.md) */
#define SOCKET_POLL_FIRST_MS 1
#define SOCKET_POLL_INTERVAL_MS 25

#define ACTIVATE_URI "http://plugin.moby.localhost/Plugin.Activate"
#define ACTIVATE_ACCEPT "application/vnd.docker.plugins.v1.2+json"

struct _PdActivation {
  PdPluginRecord *record;
  guint request_timeout_s;
  PdActivationCallback callback;
  gpointer user_data;

  gboolean finished;         /* the callback was called, or the handshake cancelled */
  gboolean socket_seen;
  int runtime_dirfd;
  int sock_fd;
  guint poll_source;
  guint poll_interval_ms;
  SoupSession *session;
  SoupMessage *message;
  GInputStream *body_stream;
  GByteArray *body;
  GCancellable *cancellable;
};

static void activation_schedule_poll (PdActivation *self, guint interval_ms);

/* what the handshake holds, released; nothing calls back after this */
static void
activation_clear (PdActivation *self)
{
  self->finished = TRUE;
  g_clear_handle_id (&self->poll_source, g_source_remove);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
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

/* calls back with @implements or @error (both taken); @self may be gone when this returns */
static void
activation_finish (PdActivation *self, GStrv implements, GError *error)
{
  /* the callback may drop the caller's reference */
  pd_activation_ref (self);
  activation_clear (self);
  self->callback (implements, error, self->user_data);
  pd_activation_unref (self);
}

static void
activation_fail_printf (PdActivation *self, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
activation_fail_printf (PdActivation *self, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  activation_finish (self, NULL,
                     g_error_new_literal (PD_ERROR, PD_ERROR_ACTIVATION_FAILED, message));
}

static void
activation_evaluate (PdActivation *self)
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
  activation_finish (self, implements, error);
}

static void activation_read (PdActivation *self);

static void
activation_on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdActivation) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result,
                                                              &error);

  if (bytes == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (self->finished || G_INPUT_STREAM (source) != self->body_stream)
    return;
  if (bytes == NULL)
    {
      activation_fail_printf (self, "Plugin.Activate: %s", error->message);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      activation_evaluate (self);
      return;
    }
  if (self->body->len + g_bytes_get_size (bytes) > PD_ACTIVATE_ANSWER_MAX)
    {
      activation_fail_printf (self, "Plugin.Activate: the response is larger than %u bytes",
                              PD_ACTIVATE_ANSWER_MAX);
      return;
    }
  g_byte_array_append (self->body, g_bytes_get_data (bytes, NULL),
                       (guint) g_bytes_get_size (bytes));
  activation_read (self);
}

static void
activation_read (PdActivation *self)
{
  g_input_stream_read_bytes_async (self->body_stream, 64 * 1024, G_PRIORITY_DEFAULT,
                                   self->cancellable, activation_on_read,
                                   pd_activation_ref (self));
}

static void
activation_on_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdActivation) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) stream = soup_session_send_finish (SOUP_SESSION (source), result,
                                                             &error);

  if (stream == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (self->finished || SOUP_SESSION (source) != self->session)
    return;
  if (stream == NULL &&
      (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
       g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)))
    {
      /* bound but not listening yet, or replaced: connection errors are retried (as Docker
       * does) until the runner's timeout, from a fresh check of the socket */
      g_clear_object (&self->message);
      g_clear_object (&self->session);
      g_clear_object (&self->cancellable);
      close (self->sock_fd);
      self->sock_fd = -1;
      activation_schedule_poll (self, SOCKET_POLL_INTERVAL_MS);
      return;
    }
  if (stream == NULL)
    {
      g_autofree char *escaped = pd_escape_untrusted (error->message, -1);
      activation_fail_printf (self, "Plugin.Activate: %s", escaped);
      return;
    }
  self->body_stream = g_steal_pointer (&stream);
  self->body = g_byte_array_new ();
  activation_read (self);
}

static void
activation_send (PdActivation *self)
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
  self->cancellable = g_cancellable_new ();
  soup_session_send_async (self->session, self->message, G_PRIORITY_DEFAULT,
                           self->cancellable, activation_on_sent, pd_activation_ref (self));
}

static gboolean
activation_on_poll (gpointer user_data)
{
  PdActivation *self = user_data;
  const char *name = pd_plugin_record_get_config (self->record)->interface_socket;
  struct stat st;
  int fd;

  if (fstatat (self->runtime_dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        {
          if (self->poll_interval_ms >= SOCKET_POLL_INTERVAL_MS)
            return G_SOURCE_CONTINUE;
          activation_schedule_poll (self, self->poll_interval_ms * 2);
          return G_SOURCE_REMOVE;
        }
      self->poll_source = 0;
      activation_fail_printf (self, "Cannot stat socket %s: %s", name, g_strerror (errno));
      return G_SOURCE_REMOVE;
    }
  self->poll_source = 0;
  if (!S_ISSOCK (st.st_mode))
    {
      activation_fail_printf (self, "%s/%s is not a socket", PD_SANDBOX_PLUGIN_SOCKET_DIR, name);
      return G_SOURCE_REMOVE;
    }
  fd = openat (self->runtime_dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    {
      if (fd >= 0)
        close (fd);
      activation_fail_printf (self, "%s/%s is not a socket", PD_SANDBOX_PLUGIN_SOCKET_DIR, name);
      return G_SOURCE_REMOVE;
    }
  self->sock_fd = fd;
  self->socket_seen = TRUE;
  activation_send (self);
  return G_SOURCE_REMOVE;
}

static void
activation_schedule_poll (PdActivation *self, guint interval_ms)
{
  self->poll_interval_ms = MIN (interval_ms, SOCKET_POLL_INTERVAL_MS);
  self->poll_source = g_timeout_add (self->poll_interval_ms, activation_on_poll, self);
}

PdActivation *
pd_activation_start (PdPluginRecord *record,
                     const char *runtime_dir,
                     guint request_timeout_s,
                     PdActivationCallback callback,
                     gpointer user_data,
                     GError **error)
{
  g_autoptr(PdActivation) self = NULL;

  g_return_val_if_fail (PD_IS_PLUGIN_RECORD (record), NULL);
  g_return_val_if_fail (runtime_dir != NULL && callback != NULL, NULL);

  self = g_rc_box_new0 (PdActivation);
  self->record = g_object_ref (record);
  self->request_timeout_s = request_timeout_s;
  self->callback = callback;
  self->user_data = user_data;
  self->sock_fd = -1;
  self->runtime_dirfd = open (runtime_dir, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (self->runtime_dirfd < 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_SANDBOX_FAILED, "Cannot open %s: %s", runtime_dir,
                   g_strerror (errno));
      return NULL;
    }
  activation_schedule_poll (self, SOCKET_POLL_FIRST_MS);
  return g_steal_pointer (&self);
}

gboolean
pd_activation_get_socket_seen (PdActivation *self)
{
  return self->socket_seen;
}

void
pd_activation_cancel (PdActivation *self)
{
  activation_clear (self);
}

PdActivation *
pd_activation_ref (PdActivation *self)
{
  return g_rc_box_acquire (self);
}

static void
activation_free (PdActivation *self)
{
  activation_clear (self);
  g_clear_object (&self->record);
}

void
pd_activation_unref (PdActivation *self)
{
  g_rc_box_release_full (self, (GDestroyNotify) activation_free);
}
