/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry client (pd-registry.c, pd-registry-auth.c): which hosts are loopback, the
 * registry-auth option, and manifests from the real distribution registry on 127.0.0.1
 * (tests/pd-test-registry.c), by tag and by digest, checked against their digest.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-registry"

#include <string.h>

#include "pd-daemon-config.h"
#include "pd-error.h"
#include "pd-oci.h"
#include "pd-reference.h"
#include "pd-registry.h"
#include "pd-test-registry.h"
#include "pd-test-utils.h"

#define ZERO_DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"

static void
test_loopback (void)
{
  static const struct {
    const char *host;
    gboolean loopback;
  } cases[] = {
    { "127.0.0.1:5000", TRUE },
    { "127.0.0.1", TRUE },
    { "127.1.2.3", TRUE },
    { "127.255.255.254:443", TRUE },
    { "localhost:5000", TRUE },
    { "localhost", TRUE },
    { "LocalHost:5000", TRUE },
    { "[::1]:5000", TRUE },
    { "[::1]", TRUE },
    { "[0:0:0:0:0:0:0:1]:5000", TRUE },
    { "example.com", FALSE },
    { "example.com:5000", FALSE },
    { "10.0.0.1", FALSE },
    { "10.0.0.1:5000", FALSE },
    { "128.0.0.1", FALSE },
    { "0.0.0.0:5000", FALSE },
    { "localhost.example.com", FALSE },
    { "127.0.0.1.example.com", FALSE },
    { "[::2]:5000", FALSE },
    { "[::ffff:10.0.0.1]:5000", FALSE },
    { "[::1", FALSE },
    { "", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s", cases[i].host);
      g_assert_cmpint (pd_registry_host_is_loopback (cases[i].host), ==, cases[i].loopback);
    }
}

/* an IPv6 loopback address as GUri hands out hosts, without brackets (fetch_token () checks
 * a token realm's host that way) */
static void
test_loopback_bare_ipv6 (void)
{
  g_assert_true (pd_registry_host_is_loopback ("::1"));
  g_assert_true (pd_registry_host_is_loopback ("0:0:0:0:0:0:0:1"));
  g_assert_false (pd_registry_host_is_loopback ("::2"));
}

static char *
base64url (const char *text)
{
  g_autofree char *standard = g_base64_encode ((const guchar *) text, strlen (text));
  GString *out = g_string_new (NULL);

  for (const char *p = standard; *p != '\0'; p++)
    {
      if (*p == '+')
        g_string_append_c (out, '-');
      else if (*p == '/')
        g_string_append_c (out, '_');
      else if (*p != '=')
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

static void
test_registry_auth (void)
{
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();
  g_autoptr(PdReference) ref = pd_reference_parse ("127.0.0.1:5000/test/plugin:latest", NULL);
  g_autofree char *not_json = base64url ("hello, world");
  g_autofree char *array = base64url ("[{\"username\": \"u\"}]");
  g_autofree char *string = base64url ("\"username\"");
  g_autofree char *truncated = base64url ("{\"username\": \"u\"");
  g_autofree char *with_nul = g_strdup ("eyJ1IjoiAA");  /* {"u":"\0 */
  g_autofree char *deep_text = pd_test_nested (100000, "[", "", "");
  g_autofree char *deep = base64url (deep_text);
  g_autofree char *deep_inside_text = g_strdup_printf ("{\"username\": \"u\", \"x\": %s", deep_text);
  g_autofree char *deep_inside = base64url (deep_inside_text);
  g_autofree char *good = base64url ("{\"username\": \"u~?\", \"password\": \"p>>?\"}");
  g_autofree char *other = base64url ("{\"username\": \"u\", \"password\": \"p\","
                                      " \"serveraddress\": \"https://index.docker.io/v1/\"}");
  const char *bad[] = { "not base64!", "eyJ1c2Vy*", not_json, array, string, truncated,
                        with_nul, deep, deep_inside };

  g_assert_nonnull (ref);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdRegistryClient) client = pd_registry_client_new (config, ref, bad[i], FALSE,
                                                                   &error);

      g_test_message ("registry-auth %.80s", bad[i]);
      g_assert_null (client);
      g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
    }

  /* base64url with '-' and '_', unpadded; credentials for another registry are not an error */
  g_assert_nonnull (strpbrk (good, "-_"));
  {
    const char *fine[] = { good, other, "", NULL };

    for (gsize i = 0; i < G_N_ELEMENTS (fine); i++)
      {
        g_autoptr(GError) error = NULL;
        g_autoptr(PdRegistryClient) client = pd_registry_client_new (config, ref, fine[i], TRUE,
                                                                     &error);

        g_assert_no_error (error);
        g_assert_nonnull (client);
        g_assert_null (pd_registry_client_get_endpoint (client));
      }
  }
}

static void
test_manifest (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, "test/plugin:v1", FALSE);
  g_autoptr(PdTestImage) image = pd_test_push_image (f, "test/plugin:v1", NULL);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *media_type = NULL;
  g_autofree char *digest = NULL;

  /* by tag: the body pushed, its media type, its digest computed here */
  body = pd_registry_client_get_manifest (client, "v1", &media_type, &digest, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (body, image->manifest));
  g_assert_cmpstr (media_type, ==, PD_MEDIA_TYPE_DOCKER_MANIFEST);
  g_assert_cmpstr (digest, ==, image->manifest_digest);
  g_clear_pointer (&body, g_bytes_unref);
  g_clear_pointer (&media_type, g_free);
  g_clear_pointer (&digest, g_free);

  /* by digest */
  body = pd_registry_client_get_manifest (client, image->manifest_digest, &media_type, &digest,
                                          NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (body, image->manifest));
  g_assert_cmpstr (media_type, ==, PD_MEDIA_TYPE_DOCKER_MANIFEST);
  g_assert_cmpstr (digest, ==, image->manifest_digest);
  g_clear_pointer (&body, g_bytes_unref);
  g_clear_pointer (&media_type, g_free);
  g_clear_pointer (&digest, g_free);

  /* a tag and a digest that are not there */
  body = pd_registry_client_get_manifest (client, "v2", &media_type, &digest, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_null (body);
  g_clear_error (&error);
  body = pd_registry_client_get_manifest (client, ZERO_DIGEST, &media_type, &digest, NULL,
                                          &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_null (body);
  g_clear_error (&error);

  /* the config, a small blob */
  body = pd_registry_client_get_blob (client, image->config_digest, 4096, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (body, image->config));
  g_clear_pointer (&body, g_bytes_unref);

  /* a registry that serves another manifest than the digest names (still valid JSON: one
   * character of the config digest in it changed) */
  {
    gsize len = 0;
    const char *bytes = g_bytes_get_data (image->manifest, &len);
    g_autofree char *text = g_strndup (bytes, len);
    const char *hex = strstr (text, image->config_digest + strlen ("sha256:"));

    g_assert_nonnull (hex);
    pd_test_registry_tamper (&f->registry, image->manifest_digest, (gsize) (hex - text) + 10);
  }
  body = pd_registry_client_get_manifest (client, image->manifest_digest, &media_type, &digest,
                                          NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_null (body);
  g_clear_error (&error);
  /* by tag there is nothing to check it against: what was served, and its real digest */
  body = pd_registry_client_get_manifest (client, "v1", &media_type, &digest, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_bytes_equal (body, image->manifest));
  g_assert_cmpuint (g_bytes_get_size (body), ==, g_bytes_get_size (image->manifest));
  g_assert_cmpstr (digest, !=, image->manifest_digest);
  {
    g_autofree char *served = pd_test_digest (body);
    g_assert_cmpstr (digest, ==, served);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/registry/loopback", test_loopback);
  g_test_add_func ("/registry/loopback-bare-ipv6", test_loopback_bare_ipv6);
  g_test_add_func ("/registry/registry-auth", test_registry_auth);
  pd_test_add_registry_test ("/registry/manifest", test_manifest);

  return pd_test_run_nonfatal ();
}
