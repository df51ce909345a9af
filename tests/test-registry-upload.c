/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Uploads with the registry client (pd-registry-upload.c) to the real distribution registry on
 * 127.0.0.1 (tests/pd-test-registry.c): whole and in chunks, with progress, blobs mounted from
 * another repository, and what the registry then has.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-registry-upload"

#include <string.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-registry.h"
#include "pd-test-registry.h"
#include "pd-test-utils.h"

#define UPLOAD_CHUNK (16 * 1024 * 1024)

static void
record_progress (guint64 bytes_done, gpointer user_data)
{
  GArray *calls = user_data;

  g_array_append_val (calls, bytes_done);
}

static void
test_blob_small (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/blobs:latest", TRUE);
  g_autoptr(GBytes) blob = pd_test_noise (1000, 1);
  g_autofree char *digest = pd_test_digest (blob);
  g_autofree char *absent = pd_sha256_digest_bytes ("absent", 6);
  g_autofree char *endpoint = g_strdup_printf ("http://%s", f->registry.host);
  g_autoptr(GArray) calls = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr(GBytes) fetched = NULL;
  const char *blob_path = "/v2/test/blobs/blobs/uploads/";
  gboolean exists = TRUE;

  /* no request made yet */
  g_assert_null (pd_registry_client_get_endpoint (client));
  g_assert_true (pd_registry_client_has_blob (client, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (exists);
  /* a loopback registry speaking plain HTTP: the HTTPS attempt fell back to it */
  g_assert_cmpstr (pd_registry_client_get_endpoint (client), ==, endpoint);

  g_assert_true (pd_registry_client_upload_blob (client, digest, blob, record_progress, calls,
                                                 NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (calls->len, ==, 1);
  g_assert_cmpuint (g_array_index (calls, guint64, 0), ==, 1000);
  /* monolithic: one POST, one PUT, no PATCH */
  g_assert_cmpuint (pd_test_registry_wait_requests (&f->registry, "POST", blob_path, 1), ==, 1);
  g_assert_cmpuint (pd_test_registry_count_requests (&f->registry, "PATCH", blob_path), ==, 0);

  g_assert_true (pd_registry_client_has_blob (client, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (exists);
  g_assert_true (pd_registry_client_has_blob (client, absent, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (exists);

  /* whole, up to the cap */
  fetched = pd_registry_client_get_blob (client, digest, 1000, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (fetched, blob));
  g_clear_pointer (&fetched, g_bytes_unref);
  fetched = pd_registry_client_get_blob (client, digest, 999, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_assert_null (fetched);
  g_clear_error (&error);
  fetched = pd_registry_client_get_blob (client, absent, 1000, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_null (fetched);
}

static void
test_blob_chunked (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/big:latest", TRUE);
  gsize size = UPLOAD_CHUNK + 4097;
  g_autoptr(GBytes) blob = pd_test_noise (size, 2);
  g_autofree char *digest = pd_test_digest (blob);
  g_autoptr(GArray) calls = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr(PdBlobStream) stream = NULL;
  g_autoptr(PdSha256) sha = pd_sha256_new ();
  g_autofree char *read_digest = NULL;
  g_autofree guchar *buffer = g_malloc (65536);
  guint64 total = 0;
  gboolean exists = FALSE;
  gssize n;

  g_assert_true (pd_registry_client_upload_blob (client, digest, blob, record_progress, calls,
                                                 NULL, &error));
  g_assert_no_error (error);
  /* in chunks of 16 MiB: progress after each, then at the end */
  g_assert_cmpuint (calls->len, >=, 2);
  g_assert_cmpuint (g_array_index (calls, guint64, 0), ==, UPLOAD_CHUNK);
  g_assert_cmpuint (g_array_index (calls, guint64, calls->len - 1), ==, size);
  g_assert_cmpuint (pd_test_registry_wait_requests (&f->registry, "PATCH",
                                                    "/v2/test/big/blobs/uploads/", 2), ==, 2);

  g_assert_true (pd_registry_client_has_blob (client, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (exists);

  /* and the registry has every byte in order */
  stream = pd_registry_client_open_blob (client, digest, size, &error);
  g_assert_no_error (error);
  while ((n = pd_blob_stream_read (stream, buffer, 65536, NULL, &error)) > 0)
    {
      pd_sha256_update (sha, buffer, (gsize) n);
      total += (guint64) n;
    }
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 0);
  g_assert_cmpuint (total, ==, size);
  read_digest = pd_sha256_finish (sha);
  g_assert_cmpstr (read_digest, ==, digest);
}

static void
test_blob_mount (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) source = pd_test_registry_client (f, "test/source:latest", TRUE);
  g_autoptr(PdRegistryClient) target = pd_test_registry_client (f, "test/target:latest", TRUE);
  g_autoptr(GBytes) blob = pd_test_noise (5000, 3);
  g_autofree char *digest = pd_test_registry_upload (source, blob);
  g_autofree char *absent = pd_sha256_digest_bytes ("not uploaded", 12);
  gboolean exists = TRUE;
  gboolean mounted = FALSE;

  g_assert_true (pd_registry_client_has_blob (target, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (exists);

  g_assert_true (pd_registry_client_mount_blob (target, digest, "test/source", &mounted, NULL,
                                                &error));
  g_assert_no_error (error);
  g_assert_true (mounted);
  g_assert_true (pd_registry_client_has_blob (target, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (exists);

  /* nothing to mount: the registry opens an upload instead, which is abandoned */
  mounted = TRUE;
  g_assert_true (pd_registry_client_mount_blob (target, absent, "test/source", &mounted, NULL,
                                                &error));
  g_assert_no_error (error);
  g_assert_false (mounted);
  g_assert_true (pd_registry_client_has_blob (target, absent, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (exists);
  g_assert_cmpuint (pd_test_registry_wait_requests (&f->registry, "DELETE",
                                                    "/v2/test/target/blobs/uploads/", 1), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  pd_test_add_registry_test ("/registry-upload/blob-small", test_blob_small);
  pd_test_add_registry_test ("/registry-upload/blob-chunked", test_blob_chunked);
  pd_test_add_registry_test ("/registry-upload/blob-mount", test_blob_mount);

  return pd_test_run_nonfatal ();
}
