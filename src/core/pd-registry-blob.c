/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-registry"

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-reference.h"
#include "pd-registry-private.h"

#define SKIP_BUFFER_SIZE (64 * 1024)

/* section: blob streams */

struct _PdBlobStream {
  PdRegistryClient *client;
  char *digest;
  guint64 size;
  guint64 offset;        /* bytes returned to the caller */
  guint64 skip;          /* bytes of a 200 answer to a Range request still to drop */
  PdSha256 *sha;
  SoupMessage *msg;
  GInputStream *body;
  guint interruptions;
  gboolean verified;
};

PdBlobStream *
pd_registry_client_open_blob (PdRegistryClient *client, const char *digest, guint64 size,
                              GError **error)
{
  PdBlobStream *stream;

  if (!pd_digest_is_valid (digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "invalid digest");
      return NULL;
    }
  stream = g_new0 (PdBlobStream, 1);
  stream->client = client;
  stream->digest = g_strdup (digest);
  stream->size = size;
  stream->sha = pd_sha256_new ();
  return stream;
}

static void
blob_stream_close_body (PdBlobStream *stream)
{
  if (stream->body != NULL)
    g_input_stream_close (stream->body, NULL, NULL);
  g_clear_object (&stream->body);
  g_clear_object (&stream->msg);
}

gboolean
pd_blob_stream_is_verified (PdBlobStream *stream)
{
  return stream->verified;
}

void
pd_blob_stream_free (PdBlobStream *stream)
{
  if (stream == NULL)
    return;
  blob_stream_close_body (stream);
  g_free (stream->digest);
  g_clear_pointer (&stream->sha, pd_sha256_free);
  g_free (stream);
}

/* "bytes 100-199/200" exactly as asked */
static gboolean
content_range_matches (SoupMessage *msg, guint64 offset, guint64 size)
{
  goffset start = -1, end = -1, total = -1;

  if (!soup_message_headers_get_content_range (soup_message_get_response_headers (msg), &start,
                                               &end, &total))
    return FALSE;
  return start == (goffset) offset && end == (goffset) size - 1 &&
         (total == -1 || total == (goffset) size);
}

static gboolean
blob_stream_open (PdBlobStream *stream, GCancellable *cancellable, GError **error)
{
  PdRegistryClient *client = stream->client;
  g_autoptr(GUri) uri = NULL;
  g_autofree char *range = NULL;
  g_autofree char *what = g_strdup_printf ("blob %s of %s", stream->digest, client->path);
  Request request = { .method = "GET", .registry_auth = TRUE };
  guint status;

  if (!pd_registry_ensure_endpoint (client, cancellable, error))
    return FALSE;
  uri = pd_registry_endpoint_uri (client, "/v2/%s/blobs/%s", client->path, stream->digest);
  request.uri = uri;
  if (stream->offset > 0)
    {
      range = g_strdup_printf ("bytes=%" G_GUINT64_FORMAT "-", stream->offset);
      request.range = range;
    }
  stream->body = pd_registry_send_with_retries (client, &request, &stream->msg, cancellable, error);
  if (stream->body == NULL)
    return FALSE;
  status = soup_message_get_status (stream->msg);
  if (status == 206 && stream->offset > 0 &&
      content_range_matches (stream->msg, stream->offset, stream->size))
    return TRUE;
  if (status == 200)
    {
      goffset length = soup_message_headers_get_content_length (
        soup_message_get_response_headers (stream->msg));

      /* a whole blob of another size is the wrong blob, not one to resume */
      if (length > 0 && (guint64) length != stream->size)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                       "%s has %" G_GINT64_FORMAT " bytes, not the %" G_GUINT64_FORMAT
                       " the manifest says", what, (gint64) length, stream->size);
          blob_stream_close_body (stream);
          return FALSE;
        }
      /* the registry ignored the Range: read it again from the start, dropping what was seen */
      stream->skip = stream->offset;
      return TRUE;
    }
  if (status == 206)
    g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                 "%s: the registry answered a different range than asked for", what);
  else
    pd_registry_fail_with_status (error, stream->msg, stream->body, cancellable, what);
  blob_stream_close_body (stream);
  return FALSE;
}

static gboolean
blob_stream_skip (PdBlobStream *stream, GCancellable *cancellable, GError **error)
{
  g_autofree guchar *buffer = NULL;

  if (stream->skip == 0)
    return TRUE;
  buffer = g_malloc (SKIP_BUFFER_SIZE);
  while (stream->skip > 0)
    {
      gssize n = pd_registry_watched_read (stream->body, buffer, MIN (stream->skip, SKIP_BUFFER_SIZE),
                               cancellable, error);
      if (n <= 0)
        {
          if (n == 0)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT, "connection closed early");
          return FALSE;
        }
      stream->skip -= (guint64) n;
    }
  return TRUE;
}

static gssize
blob_stream_finish (PdBlobStream *stream, GCancellable *cancellable, GError **error)
{
  g_autofree char *computed = NULL;
  guchar extra;
  gssize n;

  /* more bytes than the manifest says? one byte of look-ahead tells */
  n = stream->body != NULL ? pd_registry_watched_read (stream->body, &extra, 1, cancellable, NULL) : 0;
  if (n > 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "blob %s is larger than the %" G_GUINT64_FORMAT " bytes the manifest says",
                   stream->digest, stream->size);
      return -1;
    }
  blob_stream_close_body (stream);
  computed = pd_sha256_finish (stream->sha);
  if (!g_str_equal (computed, stream->digest))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH,
                   "blob %s: the registry sent content with digest %s", stream->digest, computed);
      return -1;
    }
  stream->verified = TRUE;
  return 0;
}

gssize
pd_blob_stream_read (PdBlobStream *stream, void *buffer, gsize count, GCancellable *cancellable,
                     GError **error)
{
  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      gssize n;

      if (stream->verified)
        return 0;
      if (stream->offset == stream->size)
        return blob_stream_finish (stream, cancellable, error);
      if (stream->body == NULL && !blob_stream_open (stream, cancellable, error))
        return -1;

      if (!blob_stream_skip (stream, cancellable, &local_error))
        n = -1;
      else
        n = pd_registry_watched_read (stream->body, buffer,
                          (gsize) MIN ((guint64) count, stream->size - stream->offset),
                          cancellable, &local_error);
      if (n > 0)
        {
          pd_sha256_update (stream->sha, buffer, (gsize) n);
          stream->offset += (guint64) n;
          return n;
        }
      if (n == 0)
        g_set_error (&local_error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                     "connection closed after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                     " bytes", stream->offset, stream->size);
      /* a stall is not resumed: a registry that slow would hold the job for minutes more */
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
          pd_registry_watchdog_stalled (&stream->client->watchdog))
        {
          blob_stream_close_body (stream);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return -1;
        }

      /* interrupted mid-body: resume from where we are */
      blob_stream_close_body (stream);
      if (++stream->interruptions >= PD_REGISTRY_MAX_ATTEMPTS)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                       "downloading blob %s failed %u times: %s", stream->digest,
                       stream->interruptions, local_error->message);
          return -1;
        }
      pd_registry_client_log (stream->client, "download of %s interrupted at %" G_GUINT64_FORMAT
                  " bytes (%s); resuming", stream->digest, stream->offset, local_error->message);
      if (!pd_registry_sleep_cancellable (pd_registry_backoff_ms (stream->interruptions, NULL), cancellable, error))
        return -1;
    }
}
