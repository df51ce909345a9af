/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Blob streams of the registry client (pd-registry-blob.c) from the real distribution registry
 * on 127.0.0.1 (tests/pd-test-registry.c): read to a verified end in any pieces, and refused
 * when the registry has more, fewer or other bytes than the descriptor says.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-registry-blob"

#include <string.h>

#include "pd-digest.h"
#include "pd-error.h"
#include "pd-registry.h"
#include "pd-test-registry.h"
#include "pd-test-utils.h"

static gssize
read_all (PdBlobStream *stream, GByteArray *out, gsize chunk, GError **error)
{
  g_autofree guchar *buffer = g_malloc (chunk);
  gssize n;

  while ((n = pd_blob_stream_read (stream, buffer, chunk, NULL, error)) > 0)
    g_byte_array_append (out, buffer, (guint) n);
  return n;
}

/* opens the blob @digest of @size bytes, which works, and reads it all into @out in 64 KiB
 * pieces: what the last read returned */
static gssize
read_blob (PdRegistryClient *client, const char *digest, guint64 size, GByteArray *out,
           GError **error)
{
  g_autoptr(GError) open_error = NULL;
  g_autoptr(PdBlobStream) stream = pd_registry_client_open_blob (client, digest, size,
                                                                 &open_error);

  g_assert_no_error (open_error);
  return read_all (stream, out, 65536, error);
}

/* @size bytes of noise uploaded with @client: their digest */
static char *
upload_noise (PdRegistryClient *client, gsize size, guint32 seed)
{
  g_autoptr(GBytes) blob = pd_test_noise (size, seed);

  return pd_test_registry_upload (client, blob);
}

static void
test_blob_stream (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/stream:latest", TRUE);
  g_autoptr(GBytes) blob = pd_test_noise (300000, 4);
  g_autofree char *digest = pd_test_registry_upload (client, blob);
  g_autofree char *absent = pd_sha256_digest_bytes ("absent", 6);
  g_autoptr(PdBlobStream) stream = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GBytes) got = NULL;
  guchar byte;

  /* to the verified end, in odd pieces */
  stream = pd_registry_client_open_blob (client, digest, 300000, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read_all (stream, out, 7777, &error), ==, 0);
  g_assert_no_error (error);
  got = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  g_assert_true (g_bytes_equal (got, blob));
  /* the end stays the end */
  g_assert_cmpint (pd_blob_stream_read (stream, &byte, 1, NULL, &error), ==, 0);
  g_assert_no_error (error);
  g_clear_pointer (&stream, pd_blob_stream_free);

  /* the registry has more bytes than expected: its Content-Length says so before any byte */
  out = g_byte_array_new ();
  g_assert_cmpint (read_blob (client, digest, 300000 - 1, out, &error), ==, -1);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_cmpuint (out->len, ==, 0);
  g_clear_error (&error);
  g_clear_pointer (&out, g_byte_array_unref);

  /* unknown blob */
  out = g_byte_array_new ();
  g_assert_cmpint (read_blob (client, absent, 10, out, &error), ==, -1);
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_cmpuint (out->len, ==, 0);
  g_clear_error (&error);

  /* not a digest */
  stream = pd_registry_client_open_blob (client, "sha256:xyz", 10, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_assert_null (stream);
}

/* the registry has fewer bytes than the descriptor says: a size mismatch, like a digest
 * mismatch, fails the read that reaches the end of what there is */
static void
test_blob_stream_short (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/stream:latest", TRUE);
  g_autofree char *digest = upload_noise (client, 300000, 5);
  g_autoptr(GByteArray) out = g_byte_array_new ();

  g_assert_cmpint (read_blob (client, digest, 300000 + 1, out, &error), ==, -1);
  g_assert_nonnull (error);
  g_test_message ("%s", pd_test_message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
}

/* a registry that serves other bytes than the digest names */
static void
test_blob_tampered (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/tampered:latest", TRUE);
  g_autofree char *digest = upload_noise (client, 100000, 6);
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GBytes) fetched = NULL;

  pd_test_registry_tamper (&f->registry, digest, 50000);

  fetched = pd_registry_client_get_blob (client, digest, 1024 * 1024, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_null (fetched);
  g_clear_error (&error);

  g_assert_cmpint (read_blob (client, digest, 100000, out, &error), ==, -1);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  /* every byte was handed out before the end told */
  g_assert_cmpuint (out->len, ==, 100000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  pd_test_add_registry_test ("/registry-blob/stream", test_blob_stream);
  pd_test_add_registry_test ("/registry-blob/stream-short", test_blob_stream_short);
  pd_test_add_registry_test ("/registry-blob/tampered", test_blob_tampered);

  return pd_test_run_nonfatal ();
}
