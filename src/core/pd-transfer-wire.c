/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-transfer"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-oci.h"
#include "pd-transfer-wire.h"

#define MESSAGE_TYPE G_VARIANT_TYPE ("(sa{sv})")

GBytes *
pd_transfer_frame (const char *kind, GVariant *fields)
{
  g_autoptr(GVariant) message = NULL;
  g_autoptr(GByteArray) frame = g_byte_array_new ();
  guint32 len_le;

  if (fields == NULL)
    fields = g_variant_new ("a{sv}", NULL);
  message = g_variant_ref_sink (g_variant_new ("(s@a{sv})", kind, fields));
  len_le = GUINT32_TO_LE ((guint32) g_variant_get_size (message));
  g_byte_array_append (frame, (const guint8 *) &len_le, sizeof len_le);
  /* serialised in aligned memory (GVariant's rule), then copied after the length */
  g_byte_array_append (frame, g_variant_get_data (message), g_variant_get_size (message));
  return g_byte_array_free_to_bytes (g_steal_pointer (&frame));
}

static gboolean
set_errno_error (GError **error, int errsv, const char *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "%s: %s", what,
               g_strerror (errsv));
  return FALSE;
}

gboolean
pd_transfer_write (int fd, const char *kind, GVariant *fields, const int *fds, guint n_fds,
                   GError **error)
{
  g_autoptr(GBytes) frame = pd_transfer_frame (kind, fields);
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);
  gsize done = 0;

  g_return_val_if_fail (n_fds <= PD_TRANSFER_MAX_FDS, FALSE);
  if (len - sizeof (guint32) > PD_TRANSFER_MESSAGE_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "a %s message of %" G_GSIZE_FORMAT " bytes is too large", kind, len);
      return FALSE;
    }
  while (done < len)
    {
      struct iovec iov = { .iov_base = (void *) (data + done), .iov_len = len - done };
      union {
        struct cmsghdr align;
        char buf[CMSG_SPACE (sizeof (int) * PD_TRANSFER_MAX_FDS)];
      } control;
      struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
      ssize_t n;

      if (done == 0 && n_fds > 0)
        {
          struct cmsghdr *cmsg;

          memset (&control, 0, sizeof control);
          msg.msg_control = control.buf;
          msg.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
          cmsg = CMSG_FIRSTHDR (&msg);
          cmsg->cmsg_level = SOL_SOCKET;
          cmsg->cmsg_type = SCM_RIGHTS;
          cmsg->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
          memcpy (CMSG_DATA (cmsg), fds, sizeof (int) * n_fds);
        }
      n = sendmsg (fd, &msg, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_errno_error (error, errno, "sending a message");
      done += (gsize) n;
    }
  return TRUE;
}

/* reads exactly @len bytes; the fds of the first read go to @fds */
static gboolean
read_exactly (int fd, guint8 *buffer, gsize len, GArray *fds, gboolean *at_start_eof,
              GError **error)
{
  gsize done = 0;

  *at_start_eof = FALSE;
  while (done < len)
    {
      struct iovec iov = { .iov_base = buffer + done, .iov_len = len - done };
      union {
        struct cmsghdr align;
        char buf[CMSG_SPACE (sizeof (int) * PD_TRANSFER_MAX_FDS)];
      } control;
      struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = control.buf, .msg_controllen = sizeof control.buf };
      ssize_t n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_errno_error (error, errno, "receiving a message");
      for (struct cmsghdr *cmsg = CMSG_FIRSTHDR (&msg); cmsg != NULL;
           cmsg = CMSG_NXTHDR (&msg, cmsg))
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
          {
            guint count = (cmsg->cmsg_len - CMSG_LEN (0)) / sizeof (int);

            for (guint i = 0; i < count; i++)
              {
                int received;

                memcpy (&received, CMSG_DATA (cmsg) + i * sizeof (int), sizeof (int));
                if (fds != NULL)
                  g_array_append_val (fds, received);
                else
                  close (received);
              }
          }
      if ((msg.msg_flags & MSG_CTRUNC) != 0)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                       "a message carried too many file descriptors");
          return FALSE;
        }
      if (n == 0)
        {
          *at_start_eof = done == 0;
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "the stream ended%s",
                       done == 0 ? "" : " within a message");
          return FALSE;
        }
      done += (gsize) n;
    }
  return TRUE;
}

static GVariant *
message_from_bytes (GBytes *bytes, GError **error)
{
  g_autoptr(GVariant) message = g_variant_new_from_bytes (MESSAGE_TYPE, bytes, FALSE);

  /* a frame in any other form could hide what it says, or be slow to read */
  if (!g_variant_is_normal_form (message))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "a message is not in normal form");
      return NULL;
    }
  return g_variant_ref_sink (g_steal_pointer (&message));
}

static gboolean
check_length (guint32 len, GError **error)
{
  if (len > PD_TRANSFER_MESSAGE_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "a message of %" G_GUINT32_FORMAT " bytes is larger than %d bytes", len,
                   PD_TRANSFER_MESSAGE_MAX);
      return FALSE;
    }
  return TRUE;
}

GVariant *
pd_transfer_read (int fd, GArray *fds, GError **error)
{
  guint32 len_le;
  guint32 len;
  gboolean eof;
  g_autofree guint8 *body = NULL;
  g_autoptr(GBytes) bytes = NULL;

  if (!read_exactly (fd, (guint8 *) &len_le, sizeof len_le, fds, &eof, error))
    return NULL;
  len = GUINT32_FROM_LE (len_le);
  if (!check_length (len, error))
    return NULL;
  body = g_malloc (MAX (len, 1));
  if (!read_exactly (fd, body, len, fds, &eof, error))
    return NULL;
  bytes = g_bytes_new_take (g_steal_pointer (&body), len);
  return message_from_bytes (bytes, error);
}

GVariant *
pd_transfer_parse (GByteArray *buffer, GError **error)
{
  guint32 len_le;
  guint32 len;
  g_autoptr(GBytes) bytes = NULL;

  if (buffer->len < sizeof len_le)
    return NULL;
  memcpy (&len_le, buffer->data, sizeof len_le);
  len = GUINT32_FROM_LE (len_le);
  if (!check_length (len, error))
    return NULL;
  if (buffer->len - sizeof len_le < len)
    return NULL;
  bytes = g_bytes_new (buffer->data + sizeof len_le, len);
  g_byte_array_remove_range (buffer, 0, sizeof len_le + len);
  return message_from_bytes (bytes, error);
}

GVariant *
pd_transfer_lookup (GVariant *fields, const char *name, const GVariantType *type, GError **error)
{
  GVariant *value = g_variant_lookup_value (fields, name, type);

  if (value == NULL)
    g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                 "the transfer helper's message lacks its field %s (%s)", name,
                 g_variant_type_peek_string (type));
  return value;
}

const char *
pd_transfer_lookup_string (GVariant *fields, const char *name, gsize max, GError **error)
{
  g_autoptr(GVariant) value = pd_transfer_lookup (fields, name, G_VARIANT_TYPE_STRING, error);
  const char *text;
  gsize len;

  if (value == NULL)
    return NULL;
  /* GVariant strings are valid UTF-8 in normal form: the length is what is left to check */
  text = g_variant_get_string (value, &len);
  if (len > max)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the transfer helper's field %s is longer than %" G_GSIZE_FORMAT " bytes",
                   name, max);
      return NULL;
    }
  /* the string lives as long as @fields does */
  return text;
}

char *
pd_transfer_get_log_line (GVariant *fields, GError **error)
{
  const char *line = pd_transfer_lookup_string (fields, "line", PD_MESSAGE_MAX, error);

  if (line == NULL)
    return NULL;
  return pd_string_has_control_chars (line) ? pd_escape_untrusted_full (line, -1)
                                            : g_strdup (line);
}

GVariant *
pd_transfer_error_to_fields (const GError *error)
{
  g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) copy = g_error_copy (error);
  gboolean cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  pd_error_convert (&copy);
  g_variant_builder_add (&builder, "{sv}", "domain",
                         g_variant_new_string (cancelled ? "cancelled" : "pd"));
  g_variant_builder_add (&builder, "{sv}", "code", g_variant_new_int32 (copy->code));
  g_variant_builder_add (&builder, "{sv}", "message",
                         g_variant_new_take_string (pd_text_truncate (copy->message,
                                                                      PD_MESSAGE_MAX)));
  return g_variant_builder_end (&builder);
}

GError *
pd_transfer_error_from_fields (GVariant *fields)
{
  const char *domain = NULL;
  const char *message = NULL;
  gint32 code = PD_ERROR_FAILED;
  g_autofree char *escaped = NULL;

  if (!g_variant_lookup (fields, "domain", "&s", &domain) ||
      !g_variant_lookup (fields, "code", "i", &code) ||
      !g_variant_lookup (fields, "message", "&s", &message))
    return g_error_new (PD_ERROR, PD_ERROR_FAILED,
                        "the transfer helper sent an error without its fields");
  /* what the helper quoted is escaped already; this is the last guard, for a helper gone
   * wrong: nothing it sends can put controls into a message or make it long */
  escaped = pd_string_has_control_chars (message) ? pd_escape_untrusted_full (message, -1)
                                                  : g_strdup (message);
  if (strlen (escaped) > PD_MESSAGE_MAX)
    {
      char *cut = pd_text_truncate (escaped, PD_MESSAGE_MAX);

      g_free (escaped);
      escaped = cut;
    }
  if (g_str_equal (domain, "cancelled"))
    return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, escaped);
  if (!g_str_equal (domain, "pd") || code < 0 || code >= PD_ERROR_N_ERRORS)
    code = PD_ERROR_FAILED;
  return g_error_new_literal (PD_ERROR, code, escaped);
}

/* section: what the messages carry */

void
pd_transfer_add_registry_config (GVariantBuilder *fields, const PdDaemonConfig *config)
{
  g_variant_builder_add (fields, "{sv}", "insecure",
                         g_variant_new_strv ((const char *const *) config->insecure, -1));
  g_variant_builder_add (fields, "{sv}", "mirrors",
                         g_variant_new_strv ((const char *const *) config->mirrors, -1));
  g_variant_builder_add (fields, "{sv}", "certs-dir", g_variant_new_string (config->certs_dir));
  g_variant_builder_add (fields, "{sv}", "stall-timeout",
                         g_variant_new_uint32 (config->stall_timeout_s));
  g_variant_builder_add (fields, "{sv}", "stall-min-bytes",
                         g_variant_new_uint64 (config->stall_min_bytes));
  g_variant_builder_add (fields, "{sv}", "plain-http-hosts", pd_registry_memory_to_variant ());
}

PdDaemonConfig *
pd_transfer_get_registry_config (GVariant *fields, GError **error)
{
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();
  g_autoptr(GVariant) insecure = pd_transfer_lookup (fields, "insecure", G_VARIANT_TYPE ("as"),
                                                     error);
  g_autoptr(GVariant) mirrors = NULL;
  g_autoptr(GVariant) stall_timeout = NULL;
  g_autoptr(GVariant) stall_min_bytes = NULL;
  g_autoptr(GVariant) plain = NULL;
  const char *certs_dir;

  if (insecure == NULL)
    return NULL;
  mirrors = pd_transfer_lookup (fields, "mirrors", G_VARIANT_TYPE ("as"), error);
  if (mirrors == NULL)
    return NULL;
  certs_dir = pd_transfer_lookup_string (fields, "certs-dir", PATH_MAX, error);
  if (certs_dir == NULL)
    return NULL;
  stall_timeout = pd_transfer_lookup (fields, "stall-timeout", G_VARIANT_TYPE_UINT32, error);
  if (stall_timeout == NULL)
    return NULL;
  stall_min_bytes = pd_transfer_lookup (fields, "stall-min-bytes", G_VARIANT_TYPE_UINT64, error);
  if (stall_min_bytes == NULL)
    return NULL;
  plain = pd_transfer_lookup (fields, "plain-http-hosts", G_VARIANT_TYPE ("a(sx)"), error);
  if (plain == NULL)
    return NULL;
  pd_registry_memory_load (plain);
  g_strfreev (config->insecure);
  config->insecure = g_variant_dup_strv (insecure, NULL);
  g_strfreev (config->mirrors);
  config->mirrors = g_variant_dup_strv (mirrors, NULL);
  g_free (config->certs_dir);
  config->certs_dir = g_strdup (certs_dir);
  config->stall_timeout_s = g_variant_get_uint32 (stall_timeout);
  config->stall_min_bytes = g_variant_get_uint64 (stall_min_bytes);
  return g_steal_pointer (&config);
}

GVariant *
pd_transfer_progress_to_fields (PdPullProgress *progress)
{
  g_auto(GVariantBuilder) layers = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a(sstt)"));
  g_auto(GVariantBuilder) fields = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  guint64 done;
  guint64 total;
  g_autoptr(GPtrArray) copy = pd_pull_progress_dup_layers (progress, &done, &total);

  for (guint i = 0; i < copy->len; i++)
    {
      PdLayerProgress *layer = g_ptr_array_index (copy, i);

      g_variant_builder_add (&layers, "(sstt)", layer->digest, layer->status, layer->current,
                             layer->total);
    }
  g_variant_builder_add (&fields, "{sv}", "layers", g_variant_builder_end (&layers));
  return g_variant_builder_end (&fields);
}

static const char *const layer_statuses[] = {
  "waiting", "downloading", "extracting", "exists", "complete", "uploading", NULL
};

gboolean
pd_transfer_apply_progress (PdPullProgress *progress, GVariant *fields, GError **error)
{
  g_autoptr(GVariant) layers = pd_transfer_lookup (fields, "layers", G_VARIANT_TYPE ("a(sstt)"),
                                                   error);
  g_autoptr(GPtrArray) parsed = NULL;
  GVariantIter iter;
  const char *digest;
  const char *status;
  guint64 current;
  guint64 total;
  guint64 sum_done = 0;
  guint64 sum_total = 0;

  if (layers == NULL)
    return FALSE;
  if (g_variant_n_children (layers) > PD_TRANSFER_MAX_PROGRESS_LAYERS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "the transfer helper sent progress of too many layers");
      return FALSE;
    }
  parsed = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_layer_progress_free);
  g_variant_iter_init (&iter, layers);
  while (g_variant_iter_next (&iter, "(&s&stt)", &digest, &status, &current, &total))
    {
      PdLayerProgress *layer;
      guint i = 0;

      while (layer_statuses[i] != NULL && !g_str_equal (layer_statuses[i], status))
        i++;
      if (layer_statuses[i] == NULL || !pd_digest_is_valid (digest))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                       "the transfer helper sent progress of an unknown kind");
          return FALSE;
        }
      layer = g_new0 (PdLayerProgress, 1);
      layer->digest = g_strdup (digest);
      layer->status = layer_statuses[i];
      /* sums that cannot wrap */
      layer->total = MIN (total, G_MAXUINT32 * (guint64) G_MAXUINT16);
      layer->current = MIN (current, layer->total);
      sum_done += layer->current;
      sum_total += layer->total;
      g_ptr_array_add (parsed, layer);
    }
  g_mutex_lock (&progress->lock);
  g_ptr_array_unref (progress->layers);
  progress->layers = g_steal_pointer (&parsed);
  progress->bytes_done = sum_done;
  progress->bytes_total = sum_total;
  g_mutex_unlock (&progress->lock);
  return TRUE;
}

void
pd_transfer_add_job_fields (GVariantBuilder *fields, const PdArchiveLimits *limits,
                            const char *state_dir, const char *staging_dir,
                            const char *extract_helper)
{
  g_variant_builder_add (fields, "{sv}", "max-bytes", g_variant_new_uint64 (limits->max_bytes));
  g_variant_builder_add (fields, "{sv}", "max-entries",
                         g_variant_new_uint64 (limits->max_entries));
  g_variant_builder_add (fields, "{sv}", "max-path-length",
                         g_variant_new_uint32 (limits->max_path_length));
  g_variant_builder_add (fields, "{sv}", "max-depth", g_variant_new_uint32 (limits->max_depth));
  g_variant_builder_add (fields, "{sv}", "max-config-size",
                         g_variant_new_uint64 (limits->max_config_size));
  g_variant_builder_add (fields, "{sv}", "state-dir", g_variant_new_string (state_dir));
  g_variant_builder_add (fields, "{sv}", "staging-dir", g_variant_new_string (staging_dir));
  g_variant_builder_add (fields, "{sv}", "extract-helper", g_variant_new_string (extract_helper));
}

static GVariant *
bytes_variant (GBytes *bytes)
{
  return g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, bytes, TRUE);
}

void
pd_transfer_add_remote (GVariantBuilder *fields, const PdRemotePlugin *remote)
{
  g_variant_builder_add (fields, "{sv}", "digest", g_variant_new_string (remote->digest));
  g_variant_builder_add (fields, "{sv}", "manifest-digest",
                         g_variant_new_string (remote->manifest_digest));
  g_variant_builder_add (fields, "{sv}", "manifest", bytes_variant (remote->manifest));
  g_variant_builder_add (fields, "{sv}", "manifest-media-type",
                         g_variant_new_string (remote->manifest_media_type));
  g_variant_builder_add (fields, "{sv}", "config-digest",
                         g_variant_new_string (remote->config_digest));
  g_variant_builder_add (fields, "{sv}", "config", bytes_variant (remote->config_data));
}

static const char *
lookup_digest (GVariant *fields, const char *name, GError **error)
{
  const char *digest = pd_transfer_lookup_string (fields, name, 128, error);

  if (digest != NULL && !pd_digest_is_valid (digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the transfer helper's %s is not a digest",
                   name);
      return NULL;
    }
  return digest;
}

GBytes *
pd_transfer_lookup_blob (GVariant *fields, const char *name, gsize max, const char *digest,
                         GError **error)
{
  g_autoptr(GVariant) value = pd_transfer_lookup (fields, name, G_VARIANT_TYPE_BYTESTRING, error);
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *computed = NULL;

  if (value == NULL)
    return NULL;
  bytes = g_variant_get_data_as_bytes (value);
  if (g_bytes_get_size (bytes) > max)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the transfer helper's %s is larger than %" G_GSIZE_FORMAT " bytes", name, max);
      return NULL;
    }
  computed = pd_sha256_digest_small (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  if (!g_str_equal (computed, digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH, "the transfer helper's %s is not %s",
                   name, digest);
      return NULL;
    }
  /* a copy: the message's buffer may be large */
  return g_bytes_new (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

PdRemotePlugin *
pd_transfer_get_remote (GVariant *fields, GError **error)
{
  g_autoptr(PdRemotePlugin) remote = g_new0 (PdRemotePlugin, 1);
  g_autoptr(PdDescriptor) config_descriptor = NULL;
  const char *text;

  if ((text = lookup_digest (fields, "digest", error)) == NULL)
    return NULL;
  remote->digest = g_strdup (text);
  if ((text = lookup_digest (fields, "manifest-digest", error)) == NULL)
    return NULL;
  remote->manifest_digest = g_strdup (text);
  if ((text = lookup_digest (fields, "config-digest", error)) == NULL)
    return NULL;
  remote->config_digest = g_strdup (text);
  if ((text = pd_transfer_lookup_string (fields, "manifest-media-type", 256, error)) == NULL)
    return NULL;
  remote->manifest_media_type = g_strdup (text);
  remote->manifest = pd_transfer_lookup_blob (fields, "manifest", PD_MAX_MANIFEST_SIZE,
                                   remote->manifest_digest, error);
  if (remote->manifest == NULL)
    return NULL;
  remote->config_data = pd_transfer_lookup_blob (fields, "config", PD_MAX_CONFIG_BLOB_SIZE,
                                      remote->config_digest, error);
  if (remote->config_data == NULL)
    return NULL;
  if (!pd_oci_parse_manifest (remote->manifest, remote->manifest_media_type, &config_descriptor,
                              &remote->layers, error))
    return NULL;
  if (!g_str_equal (config_descriptor->digest, remote->config_digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "the manifest names config %s, not %s", config_descriptor->digest,
                   remote->config_digest);
      return NULL;
    }
  if (!pd_remote_plugin_parse_config (remote, error))
    return NULL;
  return g_steal_pointer (&remote);
}
