/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-registry"

#include "pd-error.h"
#include "pd-registry-private.h"

#define UPLOAD_CHUNK_SIZE (16 * 1024 * 1024)

/* section: push */

gboolean
pd_registry_client_has_blob (PdRegistryClient *client, const char *digest, gboolean *exists,
                             GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  Request request = { .method = "HEAD", .registry_auth = TRUE };
  guint status;

  if (!pd_registry_ensure_endpoint (client, cancellable, error))
    return FALSE;
  uri = pd_registry_endpoint_uri (client, "/v2/%s/blobs/%s", client->path, digest);
  request.uri = uri;
  stream = pd_registry_send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    return FALSE;
  status = soup_message_get_status (msg);
  g_input_stream_close (stream, NULL, NULL);
  if (status == 200 || status == 404)
    {
      *exists = status == 200;
      return TRUE;
    }
  g_autofree char *what = g_strdup_printf ("blob %s of %s", digest, client->path);
  pd_registry_set_status_error (error, msg, NULL, what);
  return FALSE;
}

/* the Location of an upload session, resolved against the request */
static GUri *
upload_location (SoupMessage *msg, GError **error)
{
  const char *location = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                       "Location");
  GUri *uri = location != NULL ? g_uri_parse_relative (soup_message_get_uri (msg), location,
                                                       SOUP_HTTP_URI_FLAGS | G_URI_FLAGS_ENCODED,
                                                       NULL)
                               : NULL;

  if (uri == NULL)
    g_set_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR,
                 "the registry started an upload without a usable Location");
  return uri;
}

/* POST /v2/<path>/blobs/uploads/[?mount=&from=]: 201 = mounted, 202 = an upload at *location */
static gboolean
start_upload (PdRegistryClient *client, const char *mount_digest, const char *from_path,
              gboolean *mounted, GUri **location, GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  Request request = { .method = "POST", .registry_auth = TRUE };
  guint status;

  if (!pd_registry_ensure_endpoint (client, cancellable, error))
    return FALSE;
  if (mount_digest != NULL)
    {
      g_autofree char *escaped_from = g_uri_escape_string (from_path, "/", FALSE);
      uri = pd_registry_endpoint_uri (client, "/v2/%s/blobs/uploads/?mount=%s&from=%s", client->path,
                          mount_digest, escaped_from);
    }
  else
    {
      uri = pd_registry_endpoint_uri (client, "/v2/%s/blobs/uploads/", client->path);
    }
  request.uri = uri;
  stream = pd_registry_send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    return FALSE;
  status = soup_message_get_status (msg);
  if (status == 201 && mount_digest != NULL)
    {
      g_input_stream_close (stream, NULL, NULL);
      *mounted = TRUE;
      return TRUE;
    }
  if (status != 202)
    {
      pd_registry_fail_with_status (error, msg, stream, cancellable, "starting an upload");
      return FALSE;
    }
  g_input_stream_close (stream, NULL, NULL);
  *mounted = FALSE;
  *location = upload_location (msg, error);
  return *location != NULL;
}

gboolean
pd_registry_client_mount_blob (PdRegistryClient *client, const char *digest,
                               const char *from_path, gboolean *mounted,
                               GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) location = NULL;

  if (!start_upload (client, digest, from_path, mounted, &location, cancellable, error))
    return FALSE;
  if (location != NULL)
    {
      /* the registry opened an upload instead: cancel it (best effort) */
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GInputStream) stream = NULL;
      Request request = { .method = "DELETE", .uri = location, .registry_auth = TRUE };

      stream = pd_registry_send_with_retries (client, &request, &msg, cancellable, NULL);
      if (stream != NULL)
        g_input_stream_close (stream, NULL, NULL);
    }
  return TRUE;
}

static GUri *
uri_add_digest (GUri *uri, const char *digest)
{
  const char *query = g_uri_get_query (uri);
  g_autofree char *escaped = g_uri_escape_string (digest, NULL, FALSE);
  g_autofree char *new_query = query != NULL && *query != '\0'
                                 ? g_strdup_printf ("%s&digest=%s", query, escaped)
                                 : g_strdup_printf ("digest=%s", escaped);

  return g_uri_build (g_uri_get_flags (uri) | G_URI_FLAGS_ENCODED_QUERY, g_uri_get_scheme (uri),
                      NULL, g_uri_get_host (uri), g_uri_get_port (uri), g_uri_get_path (uri),
                      new_query, NULL);
}

gboolean
pd_registry_client_upload_blob (PdRegistryClient *client, const char *digest, GBytes *data,
                                PdUploadProgressFunc progress, gpointer progress_data,
                                GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) location = NULL;
  g_autoptr(GUri) put_uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  g_autofree char *what = g_strdup_printf ("uploading blob %s", digest);
  gsize size = g_bytes_get_size (data);
  gboolean mounted = FALSE;
  Request put = { .method = "PUT", .registry_auth = TRUE,
                  .content_type = "application/octet-stream" };

  if (!start_upload (client, NULL, NULL, &mounted, &location, cancellable, error))
    return FALSE;

  if (size > UPLOAD_CHUNK_SIZE)
    {
      for (gsize offset = 0; offset < size; offset += UPLOAD_CHUNK_SIZE)
        {
          gsize len = MIN ((gsize) UPLOAD_CHUNK_SIZE, size - offset);
          g_autoptr(GBytes) chunk = g_bytes_new_from_bytes (data, offset, len);
          g_autofree char *content_range = g_strdup_printf ("%" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT,
                                                           offset, offset + len - 1);
          g_autoptr(SoupMessage) patch_msg = NULL;
          g_autoptr(GInputStream) patch_stream = NULL;
          Request patch = { .method = "PATCH", .uri = location, .registry_auth = TRUE,
                            .content_type = "application/octet-stream",
                            .content_range = content_range, .body = chunk };

          patch_stream = pd_registry_send_with_retries (client, &patch, &patch_msg, cancellable, error);
          if (patch_stream == NULL)
            return FALSE;
          if (soup_message_get_status (patch_msg) != 202)
            {
              pd_registry_fail_with_status (error, patch_msg, patch_stream, cancellable, what);
              return FALSE;
            }
          g_input_stream_close (patch_stream, NULL, NULL);
          g_uri_unref (location);
          location = upload_location (patch_msg, error);
          if (location == NULL)
            return FALSE;
          if (progress != NULL)
            progress (offset + len, progress_data);
        }
    }
  else
    {
      put.body = data;
    }

  put_uri = uri_add_digest (location, digest);
  put.uri = put_uri;
  stream = pd_registry_send_with_retries (client, &put, &msg, cancellable, error);
  if (stream == NULL)
    return FALSE;
  if (soup_message_get_status (msg) != 201)
    {
      pd_registry_fail_with_status (error, msg, stream, cancellable, what);
      return FALSE;
    }
  g_input_stream_close (stream, NULL, NULL);
  if (progress != NULL)
    progress (size, progress_data);
  return TRUE;
}

gboolean
pd_registry_client_put_manifest (PdRegistryClient *client, const char *tag,
                                 const char *media_type, GBytes *data,
                                 GCancellable *cancellable, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) stream = NULL;
  Request request = { .method = "PUT", .registry_auth = TRUE, .content_type = media_type,
                      .body = data };

  if (!pd_registry_ensure_endpoint (client, cancellable, error))
    return FALSE;
  uri = pd_registry_endpoint_uri (client, "/v2/%s/manifests/%s", client->path, tag);
  request.uri = uri;
  stream = pd_registry_send_with_retries (client, &request, &msg, cancellable, error);
  if (stream == NULL)
    return FALSE;
  if (soup_message_get_status (msg) != 201)
    {
      pd_registry_fail_with_status (error, msg, stream, cancellable, "uploading the manifest");
      return FALSE;
    }
  g_input_stream_close (stream, NULL, NULL);
  return TRUE;
}
