/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-consumer"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "pd-consumer-http.h"
#include "pd-consumer.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-json.h"
#include "pd-sandbox-start.h"
#include "pd-volume-answer.h"

/* the Host and Accept Docker's plugin client sends */
#define PLUGIN_HOST "plugin.moby.localhost"
#define PLUGIN_ACCEPT "application/vnd.docker.plugins.v1.2+json"
#define PLUGIN_CONTENT_TYPE "application/vnd.docker.plugins.v1+json"

/* what requests are forwarded to: immutable, replaced whole */
typedef struct {
  char *state;
  char *socket_path;
  GStrv implements;
  char *propagated_mount;
  char *host_propagated_dir;
  guint answer_timeout_s;
} Target;

/* a volume's dir pinned for the engines */
typedef struct {
  char *path;          /* the mount's path, under the pin dir */
  GHashTable *ids;     /* Mount ID -> how many Mounts with it are not unmounted */
} Pin;

/* what the workers share with the main thread */
typedef struct {
  char *name;
  int cancel_fd;       /* an eventfd, readable once the consumer closes */
  GMutex lock;
  Target *target;      /* under @lock */
  gint in_progress;    /* atomic: connections waiting or being served */
  char *pin_dir;       /* set before listening; NULL: no pins */
  GMutex pin_lock;     /* one worker pins or unpins at a time */
  GHashTable *pins;    /* volume name -> Pin, under @lock */
  guint pin_epoch;     /* under @lock: one more at every release of all pins */
} Shared;

typedef struct {
  PdConsumer *consumer;
  char *path;
  int fd;
  guint source;
  dev_t dev;
  ino_t ino;
} Listener;

struct _PdConsumer {
  Shared *shared;
  GThreadPool *pool;
  GPtrArray *listeners;   /* Listener */
};

typedef struct {
  Shared *shared;
  int fd;
} Connection;

static void
target_free (Target *target)
{
  g_free (target->state);
  g_free (target->socket_path);
  g_strfreev (target->implements);
  g_free (target->propagated_mount);
  g_free (target->host_propagated_dir);
}

static Target *
target_new (const PdConsumerTarget *spec)
{
  Target *target = g_atomic_rc_box_new0 (Target);

  target->state = g_strdup (spec->state != NULL ? spec->state : "disabled");
  target->socket_path = g_strdup (spec->socket_path);
  target->implements = g_strdupv ((GStrv) spec->implements);
  if (target->implements == NULL)
    target->implements = g_new0 (char *, 1);
  target->propagated_mount = g_strdup (spec->propagated_mount);
  target->host_propagated_dir = g_strdup (spec->host_propagated_dir);
  target->answer_timeout_s = spec->answer_timeout_s != 0 ? spec->answer_timeout_s
                                                         : PD_CONSUMER_DEFAULT_ANSWER_TIMEOUT_S;
  return target;
}

static void
target_unref (Target *target)
{
  g_atomic_rc_box_release_full (target, (GDestroyNotify) target_free);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Target, target_unref)

static void
pin_free (Pin *pin)
{
  g_free (pin->path);
  g_hash_table_unref (pin->ids);
  g_free (pin);
}

/* unmounts the pin at @path (detached: a container still using it keeps its copy) and
 * removes its dir */
static void
unpin (const char *name, const char *path)
{
  g_autoptr(GError) error = NULL;

  if (!pd_sandbox_release_propagated_mount (path, NULL, &error))
    g_warning ("plugin %s: cannot unmount the pin %s: %s", name, path, error->message);
  else if (rmdir (path) < 0 && errno != ENOENT)
    g_warning ("plugin %s: cannot remove %s: %s", name, path, g_strerror (errno));
}

static void
release_pins (Shared *shared)
{
  g_autoptr(GHashTable) pins = NULL;
  GHashTableIter iter;
  gpointer value;

  g_mutex_lock (&shared->lock);
  pins = g_steal_pointer (&shared->pins);
  shared->pins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) pin_free);
  shared->pin_epoch++;
  g_mutex_unlock (&shared->lock);
  g_hash_table_iter_init (&iter, pins);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    unpin (shared->name, ((Pin *) value)->path);
}

static void
shared_free (Shared *shared)
{
  g_free (shared->name);
  g_free (shared->pin_dir);
  g_clear_pointer (&shared->pins, g_hash_table_unref);
  g_mutex_clear (&shared->pin_lock);
  if (shared->cancel_fd >= 0)
    close (shared->cancel_fd);
  g_clear_pointer (&shared->target, target_unref);
  g_mutex_clear (&shared->lock);
}

static Shared *
shared_ref (Shared *shared)
{
  return g_atomic_rc_box_acquire (shared);
}

static void
shared_unref (Shared *shared)
{
  g_atomic_rc_box_release_full (shared, (GDestroyNotify) shared_free);
}

static Target *
shared_dup_target (Shared *shared)
{
  Target *target;

  g_mutex_lock (&shared->lock);
  target = g_atomic_rc_box_acquire (shared->target);
  g_mutex_unlock (&shared->lock);
  return target;
}

/* section: answers */

static GBytes *
err_body (const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "Err");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  return pd_json_builder_to_go_bytes (builder);
}

static GByteArray *
format_answer (guint status, const char *content_type, GBytes *body)
{
  g_autofree char *head = g_strdup_printf ("HTTP/1.1 %u %s\r\nContent-Type: %s\r\n"
                                           "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                                           "Connection: close\r\n\r\n",
                                           status, pd_http_reason (status),
                                           content_type != NULL ? content_type
                                                                : PLUGIN_CONTENT_TYPE,
                                           g_bytes_get_size (body));
  GByteArray *out = g_byte_array_new ();

  g_byte_array_append (out, (const guint8 *) head, (guint) strlen (head));
  g_byte_array_append (out, g_bytes_get_data (body, NULL), (guint) g_bytes_get_size (body));
  return out;
}

/* one attempt, never waiting: for answers that must not hold anyone (a refused peer, a
 * consumer that closes) */
static void
answer_at_once (int fd, guint status, const char *message)
{
  g_autoptr(GBytes) body = err_body (message);
  g_autoptr(GByteArray) answer = format_answer (status, NULL, body);

  if (send (fd, answer->data, answer->len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    g_debug ("consumer socket: cannot answer %u: %s", status, g_strerror (errno));
}

static void
answer (Shared *shared, int fd, guint status, const char *content_type, GBytes *body)
{
  g_autoptr(GByteArray) data = format_answer (status, content_type, body);
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + PD_CONSUMER_IO_TIMEOUT_S * G_USEC_PER_SEC;

  if (!pd_http_write_all (fd, shared->cancel_fd, data->data, data->len, deadline, &error))
    g_debug ("consumer socket of %s: the answer was not taken: %s", shared->name,
             error->message);
}

static void answer_error (Shared *shared, int fd, guint status, const char *format, ...)
  G_GNUC_PRINTF (4, 5);

static void
answer_error (Shared *shared, int fd, guint status, const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autoptr(GBytes) body = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_debug ("consumer socket of %s: %u %s", shared->name, status, message);
  body = err_body (message);
  answer (shared, fd, status, NULL, body);
}

/* section: forwarding */

/* a connection to the plugin's socket, never through a symlink (as pd-activation.c) */
static int
connect_plugin (const char *socket_path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (socket_path);
  g_autofree char *base = g_path_get_basename (socket_path);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int dirfd, fd, sock;
  struct stat st;

  dirfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "its socket dir is gone");
      return -1;
    }
  fd = openat (dirfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  close (dirfd);
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    {
      if (fd >= 0)
        close (fd);
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "its socket is gone or no socket");
      return -1;
    }
  g_snprintf (addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d", fd);
  sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (sock < 0 || connect (sock, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int errsv = errno;

      if (sock >= 0)
        close (sock);
      close (fd);
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "connecting to its socket: %s",
                   g_strerror (errsv));
      return -1;
    }
  close (fd);
  return sock;
}

static PdHttpMessage *
exchange (Shared *shared, const Target *target, const PdHttpMessage *request, GError **error)
{
  g_autoptr(GString) head = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + target->answer_timeout_s * G_USEC_PER_SEC;
  PdHttpMessage *reply;
  int sock = connect_plugin (target->socket_path, error);

  if (sock < 0)
    return NULL;
  g_string_append_printf (head, "POST %s HTTP/1.1\r\nHost: " PLUGIN_HOST "\r\nAccept: %s\r\n",
                          request->target,
                          request->accept != NULL ? request->accept : PLUGIN_ACCEPT);
  if (request->content_type != NULL)
    g_string_append_printf (head, "Content-Type: %s\r\n", request->content_type);
  g_string_append_printf (head, "Content-Length: %u\r\nConnection: close\r\n\r\n",
                          request->body->len);
  if (!pd_http_write_all (sock, shared->cancel_fd, head->str, head->len, deadline, error) ||
      !pd_http_write_all (sock, shared->cancel_fd, request->body->data, request->body->len,
                          deadline, error))
    {
      close (sock);
      return NULL;
    }
  reply = pd_http_read_message (sock, shared->cancel_fd, FALSE, PD_VOLUME_ANSWER_MAX,
                                deadline, error);
  close (sock);
  return reply;
}

/* section: pins */

/* the string member @key of the engine's request, NULL when absent or not a string */
static char *
request_member (const PdHttpMessage *request, const char *key)
{
  g_autoptr(JsonNode) root = pd_json_parse ((const char *) request->body->data,
                                            request->body->len, PD_CONSUMER_REQUEST_MAX, NULL);
  JsonNode *member;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  member = json_object_get_member (json_node_get_object (root), key);
  if (member == NULL || !JSON_NODE_HOLDS_VALUE (member) ||
      json_node_get_value_type (member) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (member));
}

/* an answer without Err, or an empty one */
static gboolean
no_err (JsonObject *object)
{
  JsonNode *err = json_object_get_member (object, "Err");

  return err == NULL || JSON_NODE_HOLDS_NULL (err) ||
         (JSON_NODE_HOLDS_VALUE (err) && json_node_get_value_type (err) == G_TYPE_STRING &&
          *json_node_get_string (err) == '\0');
}

/* volume name -> pin path of the pinned volumes, a copy */
static GHashTable *
dup_pinned (Shared *shared)
{
  GHashTable *pinned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer key, value;

  g_mutex_lock (&shared->lock);
  g_hash_table_iter_init (&iter, shared->pins);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_hash_table_insert (pinned, g_strdup (key), g_strdup (((Pin *) value)->path));
  g_mutex_unlock (&shared->lock);
  return pinned;
}

static GBytes *
mount_answer (const char *mountpoint)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "Mountpoint");
  json_builder_add_string_value (builder, mountpoint);
  json_builder_set_member_name (builder, "Err");
  json_builder_add_string_value (builder, "");
  json_builder_end_object (builder);
  return pd_json_builder_to_go_bytes (builder);
}

/* counts the Mount @id of the pinned volume @name: TRUE when it is pinned */
static gboolean
count_mount (Shared *shared, const char *name, const char *id, char **path)
{
  Pin *pin;

  g_mutex_lock (&shared->lock);
  pin = g_hash_table_lookup (shared->pins, name);
  if (pin != NULL)
    {
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (pin->ids, id));

      g_hash_table_insert (pin->ids, g_strdup (id), GUINT_TO_POINTER (n + 1));
      *path = g_strdup (pin->path);
    }
  g_mutex_unlock (&shared->lock);
  return pin != NULL;
}

/* The answer to a successful Mount (@mapped, rewritten by pd_volume_rewrite_answer()) with the
 * volume's dir pinned: the engine gets a path the plugin cannot change. The first Mount of a
 * volume pins it, the others count their ID. */
static GBytes *
pin_mount (Shared *shared, const Target *target, const PdHttpMessage *request, GBytes *mapped,
           GError **error)
{
  g_autoptr(JsonNode) root = pd_json_parse (g_bytes_get_data (mapped, NULL),
                                            g_bytes_get_size (mapped), PD_VOLUME_ANSWER_MAX,
                                            error);
  g_autofree char *name = request_member (request, "Name");
  g_autofree char *id = request_member (request, "ID");
  g_autofree char *path = NULL;
  g_autofree char *checksum = NULL;
  JsonObject *object;
  const char *mountpoint, *source;
  gsize dir_len;
  guint epoch;
  Pin *pin;

  if (root == NULL)
    return NULL;
  object = json_node_get_object (root);
  if (!no_err (object))
    return g_bytes_ref (mapped);
  if (name == NULL || *name == '\0')
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the request has no volume Name");
      return NULL;
    }
  mountpoint = json_object_get_string_member_with_default (object, "Mountpoint", "");
  dir_len = target->host_propagated_dir != NULL ? strlen (target->host_propagated_dir) : 0;
  /* pd_volume_rewrite_answer() made it the dir or a path beneath it */
  if (dir_len == 0 || strncmp (mountpoint, target->host_propagated_dir, dir_len) != 0 ||
      (mountpoint[dir_len] != '/' && mountpoint[dir_len] != '\0'))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the Mountpoint is not beneath the "
                   "propagated-mount dir");
      return NULL;
    }
  source = mountpoint[dir_len] == '/' ? mountpoint + dir_len + 1 : ".";
  if (id == NULL)
    id = g_strdup ("");

  g_mutex_lock (&shared->pin_lock);
  if (count_mount (shared, name, id, &path))
    {
      g_mutex_unlock (&shared->pin_lock);
      return mount_answer (path);
    }
  g_mutex_lock (&shared->lock);
  epoch = shared->pin_epoch;
  g_mutex_unlock (&shared->lock);
  /* one dir per volume, named by a hash: a volume name may be anything */
  checksum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, name, -1);
  path = g_build_filename (shared->pin_dir, checksum, NULL);
  /* the pin dir is 0700 and plugind's own: what is there was left by a plugind that was
   * killed, its mount already released at the start */
  if ((mkdir (path, 0700) < 0 && errno != EEXIST) ||
      !pd_sandbox_pin_dir (target->host_propagated_dir, source, path, error))
    {
      if (error != NULL && *error == NULL)
        pd_set_error_from_errno (error, errno, "cannot make the pin dir");
      rmdir (path);
      g_mutex_unlock (&shared->pin_lock);
      return NULL;
    }
  g_mutex_lock (&shared->lock);
  if (shared->pin_epoch != epoch)
    {
      /* every pin was released meanwhile (the plugin stopped): this one too */
      g_mutex_unlock (&shared->lock);
      unpin (shared->name, path);
      g_mutex_unlock (&shared->pin_lock);
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the plugin stopped meanwhile");
      return NULL;
    }
  pin = g_new0 (Pin, 1);
  pin->path = g_strdup (path);
  pin->ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_insert (pin->ids, g_strdup (id), GUINT_TO_POINTER (1));
  g_hash_table_insert (shared->pins, g_strdup (name), pin);
  g_mutex_unlock (&shared->lock);
  g_mutex_unlock (&shared->pin_lock);
  return mount_answer (path);
}

/* an Unmount of the engine (it no longer uses the volume, whatever the plugin answers): the
 * last one of a pinned volume unpins it */
static void
note_unmount (Shared *shared, const PdHttpMessage *request)
{
  g_autofree char *name = request_member (request, "Name");
  g_autofree char *id = request_member (request, "ID");
  g_autofree char *path = NULL;
  Pin *pin;

  if (name == NULL)
    return;
  if (id == NULL)
    id = g_strdup ("");
  g_mutex_lock (&shared->pin_lock);
  g_mutex_lock (&shared->lock);
  pin = g_hash_table_lookup (shared->pins, name);
  if (pin != NULL && g_hash_table_contains (pin->ids, id))
    {
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (pin->ids, id));

      if (n > 1)
        g_hash_table_insert (pin->ids, g_strdup (id), GUINT_TO_POINTER (n - 1));
      else
        g_hash_table_remove (pin->ids, id);
      if (g_hash_table_size (pin->ids) == 0)
        {
          path = g_strdup (pin->path);
          g_hash_table_remove (shared->pins, name);
        }
    }
  g_mutex_unlock (&shared->lock);
  if (path != NULL)
    unpin (shared->name, path);
  g_mutex_unlock (&shared->pin_lock);
}

static void
forward (Shared *shared, int fd, const Target *target, const PdHttpMessage *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdHttpMessage) reply = NULL;
  g_autoptr(GBytes) body = NULL;
  int host_dirfd;

  /* before the plugin's own unmount, which may need its device free (a pin holds it) */
  if (g_str_equal (request->target, "/VolumeDriver.Unmount"))
    note_unmount (shared, request);
  reply = exchange (shared, target, request, &error);

  if (reply == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        answer_at_once (fd, 503, "plugind: the plugin was disabled while the request was "
                                 "forwarded");
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        answer_error (shared, fd, 504, "plugind: plugin %s did not answer %s within %u s",
                      shared->name, request->target, target->answer_timeout_s);
      else
        answer_error (shared, fd, 502, "plugind: plugin %s gave no valid answer to %s: %s",
                      shared->name, request->target, error->message);
      return;
    }
  if (reply->status != 200 || !pd_volume_answer_has_mountpoints (request->target))
    {
      body = g_bytes_new (reply->body->data, reply->body->len);
      answer (shared, fd, reply->status, reply->content_type, body);
      return;
    }

  host_dirfd = target->host_propagated_dir != NULL
                 ? open (target->host_propagated_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)
                 : -1;
  if (host_dirfd < 0 && target->host_propagated_dir != NULL)
    g_set_error (&error, PD_ERROR, PD_ERROR_FAILED, "its propagated-mount dir is gone");
  else
    {
      gboolean mount = g_str_equal (request->target, "/VolumeDriver.Mount");
      /* a Mount answer is checked whether the volume is pinned or not */
      g_autoptr(GHashTable) pinned = mount ? NULL : dup_pinned (shared);
      g_autofree char *name = request_member (request, "Name");

      body = pd_volume_rewrite_answer (request->target, (const char *) reply->body->data,
                                       reply->body->len, target->propagated_mount,
                                       target->host_propagated_dir, host_dirfd, name, pinned,
                                       &error);
      if (body != NULL && shared->pin_dir != NULL && mount)
        {
          g_autoptr(GBytes) mapped = g_steal_pointer (&body);

          body = pin_mount (shared, target, request, mapped, &error);
        }
    }
  if (host_dirfd >= 0)
    close (host_dirfd);
  if (body == NULL)
    {
      g_warning ("plugin %s: refused its answer to %s: %s", shared->name, request->target,
                 error->message);
      answer_error (shared, fd, 502, "plugind refused the answer of plugin %s to %s: %s",
                    shared->name, request->target, error->message);
      return;
    }
  answer (shared, fd, 200, PLUGIN_CONTENT_TYPE, body);
}

static gboolean
is_closing (Shared *shared)
{
  struct pollfd pfd = { shared->cancel_fd, POLLIN, 0 };

  return poll (&pfd, 1, 0) > 0;
}

static void
serve (Shared *shared, int fd)
{
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + PD_CONSUMER_IO_TIMEOUT_S * G_USEC_PER_SEC;
  g_autoptr(PdHttpMessage) request = pd_http_read_message (fd, shared->cancel_fd, TRUE,
                                                           PD_CONSUMER_REQUEST_MAX, deadline,
                                                           &error);
  g_autoptr(Target) target = NULL;

  if (request == NULL)
    {
      if (g_error_matches (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED))
        answer_error (shared, fd, 413, "plugind: %s", error->message);
      else if (g_error_matches (error, PD_ERROR, PD_ERROR_INVALID_ARGS))
        answer_error (shared, fd, 400, "plugind: %s", error->message);
      else
        g_debug ("consumer socket of %s: no request: %s", shared->name, error->message);
      return;
    }
  if (!g_str_equal (request->method, "POST"))
    {
      answer_error (shared, fd, 400, "plugind: the plugin protocol takes POST requests only");
      return;
    }
  if (is_closing (shared))
    {
      answer_at_once (fd, 503, "plugind: the plugin's consumer socket was closed");
      return;
    }
  target = shared_dup_target (shared);
  if (g_str_equal (request->target, "/Plugin.Activate"))
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(GBytes) body = NULL;

      json_builder_begin_object (builder);
      pd_json_builder_add_strv (builder, "Implements", (const char *const *) target->implements);
      json_builder_end_object (builder);
      body = pd_json_builder_to_go_bytes (builder);
      answer (shared, fd, 200, PLUGIN_CONTENT_TYPE, body);
      return;
    }
  if (target->socket_path == NULL)
    {
      answer_error (shared, fd, 503, "plugind: plugin %s is not running (it is %s)",
                    shared->name, target->state);
      return;
    }
  forward (shared, fd, target, request);
}

static void
worker (gpointer data, gpointer user_data)
{
  Connection *connection = data;
  Shared *shared = connection->shared;

  serve (shared, connection->fd);
  close (connection->fd);
  g_atomic_int_add (&shared->in_progress, -1);
  shared_unref (shared);
  g_free (connection);
}

/* section: listening */

static gboolean
on_incoming (int fd, GIOCondition condition, gpointer user_data)
{
  Listener *listener = user_data;
  PdConsumer *self = listener->consumer;

  /* a bounded batch per wake-up: the main loop has other work */
  for (guint i = 0; i < PD_CONSUMER_MAX_WAITING; i++)
    {
      struct ucred cred = { 0 };
      socklen_t len = sizeof cred;
      Connection *connection;
      int conn = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

      if (conn < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK)
            g_debug ("consumer socket of %s: accept: %s", self->shared->name,
                     g_strerror (errno));
          break;
        }
      if (getsockopt (conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0)
        {
          g_autofree char *message =
            g_strdup_printf ("plugind: only root may use the consumer socket of plugin %s",
                             self->shared->name);

          g_debug ("consumer socket of %s: refused uid %u", self->shared->name,
                   (guint) cred.uid);
          answer_at_once (conn, 403, message);
          close (conn);
          continue;
        }
      if (g_atomic_int_get (&self->shared->in_progress) >= PD_CONSUMER_MAX_WAITING)
        {
          answer_at_once (conn, 503, "plugind: too many requests to this plugin at once");
          close (conn);
          continue;
        }
      g_atomic_int_inc (&self->shared->in_progress);
      connection = g_new0 (Connection, 1);
      connection->shared = shared_ref (self->shared);
      connection->fd = conn;
      g_thread_pool_push (self->pool, connection, NULL);
    }
  return G_SOURCE_CONTINUE;
}

static void
listener_free (Listener *listener)
{
  struct stat st;

  g_clear_handle_id (&listener->source, g_source_remove);
  if (listener->fd >= 0)
    close (listener->fd);
  /* only the socket it bound: the path may have been taken over */
  if (lstat (listener->path, &st) == 0 && S_ISSOCK (st.st_mode) &&
      st.st_dev == listener->dev && st.st_ino == listener->ino)
    unlink (listener->path);
  g_free (listener->path);
  g_free (listener);
}

PdConsumer *
pd_consumer_new (const char *plugin_name, GError **error)
{
  PdConsumer *self;
  PdConsumerTarget disabled = { "disabled", NULL, NULL, NULL, NULL, 0 };
  int cancel_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);

  if (cancel_fd < 0)
    {
      pd_set_error_from_errno (error, errno, "eventfd");
      return NULL;
    }
  self = g_new0 (PdConsumer, 1);
  self->shared = g_atomic_rc_box_new0 (Shared);
  self->shared->name = g_strdup (plugin_name);
  self->shared->cancel_fd = cancel_fd;
  g_mutex_init (&self->shared->lock);
  g_mutex_init (&self->shared->pin_lock);
  self->shared->pins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                              (GDestroyNotify) pin_free);
  self->shared->target = target_new (&disabled);
  self->pool = g_thread_pool_new (worker, NULL, PD_CONSUMER_MAX_WORKERS, FALSE, NULL);
  self->listeners = g_ptr_array_new_with_free_func ((GDestroyNotify) listener_free);
  return self;
}

gboolean
pd_consumer_listen (PdConsumer *self, const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  Listener *listener;
  struct stat st;
  int dirfd, fd;

  g_return_val_if_fail (self->pool != NULL, FALSE);

  dirfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    {
      pd_set_error_from_errno (error, errno, "cannot open %s", dir);
      return FALSE;
    }
  /* through the dir's fd: a path longer than sun_path's 108 bytes works too */
  if (g_snprintf (addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dirfd, base) >=
      (int) sizeof addr.sun_path)
    {
      close (dirfd);
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the socket name %s is too long", base);
      return FALSE;
    }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  /* the dir is 0700: nobody else reaches the socket before it is 0600 */
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
      fchmodat (dirfd, base, 0600, 0) < 0 ||
      fstatat (dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK (st.st_mode) ||
      listen (fd, SOMAXCONN) < 0)
    {
      int errsv = errno;

      pd_close_keep_errno (fd);
      close (dirfd);
      pd_set_error_from_errno (error, errsv, "cannot listen on %s", path);
      return FALSE;
    }
  close (dirfd);
  listener = g_new0 (Listener, 1);
  listener->consumer = self;
  listener->path = g_strdup (path);
  listener->fd = fd;
  listener->dev = st.st_dev;
  listener->ino = st.st_ino;
  listener->source = g_unix_fd_add (fd, G_IO_IN, on_incoming, listener);
  g_ptr_array_add (self->listeners, listener);
  g_debug ("consumer socket of %s at %s", self->shared->name, path);
  return TRUE;
}

static guint
find_listener (PdConsumer *self, const char *path)
{
  for (guint i = 0; i < self->listeners->len; i++)
    if (g_str_equal (((Listener *) g_ptr_array_index (self->listeners, i))->path, path))
      return i;
  return G_MAXUINT;
}

void
pd_consumer_unlisten (PdConsumer *self, const char *path)
{
  guint index = find_listener (self, path);

  if (index != G_MAXUINT)
    g_ptr_array_remove_index (self->listeners, index);
}

gboolean
pd_consumer_is_listening (PdConsumer *self, const char *path)
{
  return find_listener (self, path) != G_MAXUINT;
}

void
pd_consumer_set_pin_dir (PdConsumer *self, const char *dir)
{
  g_return_if_fail (self->listeners->len == 0);

  g_free (self->shared->pin_dir);
  self->shared->pin_dir = g_strdup (dir);
}

void
pd_consumer_set_target (PdConsumer *self, const PdConsumerTarget *spec)
{
  Target *target = target_new (spec);
  Target *old;

  g_mutex_lock (&self->shared->lock);
  old = self->shared->target;
  self->shared->target = target;
  g_mutex_unlock (&self->shared->lock);
  target_unref (old);
  /* a plugin that is not running has no volume mounted any more */
  if (spec->socket_path == NULL)
    release_pins (self->shared);
}

void
pd_consumer_close (PdConsumer *self)
{
  guint64 one = 1;

  g_ptr_array_set_size (self->listeners, 0);
  if (self->pool == NULL)
    return;
  if (write (self->shared->cancel_fd, &one, sizeof one) < 0)
    g_warning ("consumer socket of %s: cannot end its requests: %s", self->shared->name,
               g_strerror (errno));
  /* the requests still waiting run too, and end at once */
  g_thread_pool_free (g_steal_pointer (&self->pool), FALSE, TRUE);
  release_pins (self->shared);
}

void
pd_consumer_free (PdConsumer *self)
{
  if (self == NULL)
    return;
  pd_consumer_close (self);
  g_ptr_array_unref (self->listeners);
  shared_unref (self->shared);
  g_free (self);
}
