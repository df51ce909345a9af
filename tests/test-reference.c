/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * References (pd-reference.c): Docker's grammar with its normalisations, what is refused and
 * said escaped, registry endpoints, local plugin names, digests and plugin ids.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-reference"

#include <string.h>

#include "pd-error.h"
#include "pd-reference.h"
#include "pd-test-utils.h"

#define HEX64 PD_TEST_HEX64
#define DIGEST PD_TEST_DIGEST

typedef struct {
  const char *input;
  const char *domain;
  const char *path;
  const char *tag;
  const char *digest;
  const char *full;
  const char *familiar;
} ValidCase;

static const ValidCase valid_cases[] = {
  { "vieux/sshfs", .domain = "docker.io", .path = "vieux/sshfs", .full = "docker.io/vieux/sshfs",
    .familiar = "vieux/sshfs" },
  { "vieux/sshfs:latest", .domain = "docker.io", .path = "vieux/sshfs", .tag = "latest",
    .full = "docker.io/vieux/sshfs:latest", .familiar = "vieux/sshfs:latest" },
  { "ubuntu", .domain = "docker.io", .path = "library/ubuntu", .full = "docker.io/library/ubuntu",
    .familiar = "ubuntu" },
  { "ubuntu:14.04", .domain = "docker.io", .path = "library/ubuntu", .tag = "14.04",
    .full = "docker.io/library/ubuntu:14.04", .familiar = "ubuntu:14.04" },
  { "docker.io/ubuntu", .domain = "docker.io", .path = "library/ubuntu",
    .full = "docker.io/library/ubuntu", .familiar = "ubuntu" },
  { "library/ubuntu", .domain = "docker.io", .path = "library/ubuntu",
    .full = "docker.io/library/ubuntu", .familiar = "ubuntu" },
  { "docker.io/library/ubuntu:x", .domain = "docker.io", .path = "library/ubuntu", .tag = "x",
    .full = "docker.io/library/ubuntu:x", .familiar = "ubuntu:x" },
  /* the legacy index name is folded into docker.io */
  { "index.docker.io/vieux/sshfs:1", .domain = "docker.io", .path = "vieux/sshfs", .tag = "1",
    .full = "docker.io/vieux/sshfs:1", .familiar = "vieux/sshfs:1" },
  /* nested library paths keep their prefix in the familiar form */
  { "docker.io/library/a/b", .domain = "docker.io", .path = "library/a/b",
    .full = "docker.io/library/a/b", .familiar = "library/a/b" },
  { "localhost:5000/a/b:1", .domain = "localhost:5000", .path = "a/b", .tag = "1",
    .full = "localhost:5000/a/b:1", .familiar = "localhost:5000/a/b:1" },
  { "localhost/a", .domain = "localhost", .path = "a", .full = "localhost/a",
    .familiar = "localhost/a" },
  { "[::1]:5000/x", .domain = "[::1]:5000", .path = "x", .full = "[::1]:5000/x",
    .familiar = "[::1]:5000/x" },
  { "[2001:db8::1]/x:y", .domain = "[2001:db8::1]", .path = "x", .tag = "y",
    .full = "[2001:db8::1]/x:y", .familiar = "[2001:db8::1]/x:y" },
  { "registry.example.com:443/team/plugin:v1.2", .domain = "registry.example.com:443",
    .path = "team/plugin", .tag = "v1.2", .full = "registry.example.com:443/team/plugin:v1.2",
    .familiar = "registry.example.com:443/team/plugin:v1.2" },
  /* an upper-case domain is allowed, only the path must be lower case */
  { "Example.COM/a", .domain = "Example.COM", .path = "a", .full = "Example.COM/a",
    .familiar = "Example.COM/a" },
  { "example.com/foo/bar@" DIGEST, .domain = "example.com", .path = "foo/bar", .digest = DIGEST,
    .full = "example.com/foo/bar@" DIGEST, .familiar = "example.com/foo/bar@" DIGEST },
  { "vieux/sshfs:next@" DIGEST, .domain = "docker.io", .path = "vieux/sshfs", .tag = "next",
    .digest = DIGEST, .full = "docker.io/vieux/sshfs:next@" DIGEST,
    .familiar = "vieux/sshfs:next@" DIGEST },
  { "ubuntu@" DIGEST, .domain = "docker.io", .path = "library/ubuntu", .digest = DIGEST,
    .full = "docker.io/library/ubuntu@" DIGEST, .familiar = "ubuntu@" DIGEST },
  { "a__b/c-d--e.f_g", .domain = "docker.io", .path = "a__b/c-d--e.f_g",
    .full = "docker.io/a__b/c-d--e.f_g", .familiar = "a__b/c-d--e.f_g" },
  { "a/b/c/d/e:_T.-", .domain = "docker.io", .path = "a/b/c/d/e", .tag = "_T.-",
    .full = "docker.io/a/b/c/d/e:_T.-", .familiar = "a/b/c/d/e:_T.-" },
  /* as in distribution/reference: a single component is never a domain */
  { "localhost:5000", .domain = "docker.io", .path = "library/localhost", .tag = "5000",
    .full = "docker.io/library/localhost:5000", .familiar = "localhost:5000" },
  { "127.0.0.1:5000/p", .domain = "127.0.0.1:5000", .path = "p", .full = "127.0.0.1:5000/p",
    .familiar = "127.0.0.1:5000/p" },
};

static void
test_reference_valid (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (valid_cases); i++)
    {
      const ValidCase *c = &valid_cases[i];
      g_autoptr(GError) error = NULL;
      g_autoptr(PdReference) ref = NULL;
      g_autoptr(PdReference) copy = NULL;
      g_autofree char *full = NULL;
      g_autofree char *familiar = NULL;
      g_autofree char *reparsed_full = NULL;
      g_autoptr(PdReference) reparsed = NULL;

      g_test_message ("valid: %s", c->input);
      ref = pd_reference_parse (c->input, &error);
      g_assert_no_error (error);
      g_assert_nonnull (ref);
      g_assert_cmpstr (ref->domain, ==, c->domain);
      g_assert_cmpstr (ref->path, ==, c->path);
      g_assert_cmpstr (ref->tag, ==, c->tag);
      g_assert_cmpstr (ref->digest, ==, c->digest);

      full = pd_reference_to_string (ref);
      g_assert_cmpstr (full, ==, c->full);
      familiar = pd_reference_familiar (ref);
      g_assert_cmpstr (familiar, ==, c->familiar);

      copy = pd_reference_copy (ref);
      g_assert_cmpstr (copy->domain, ==, ref->domain);
      g_assert_cmpstr (copy->path, ==, ref->path);
      g_assert_cmpstr (copy->tag, ==, ref->tag);
      g_assert_cmpstr (copy->digest, ==, ref->digest);
      g_assert_true (copy->path != ref->path);

      /* the full form is a fixed point */
      reparsed = pd_reference_parse (full, &error);
      g_assert_no_error (error);
      reparsed_full = pd_reference_to_string (reparsed);
      g_assert_cmpstr (reparsed_full, ==, full);
    }
}

typedef struct {
  const char *input;
  const char *message_part;
} InvalidCase;

static void
test_reference_invalid (void)
{
  g_autofree char *long_path = NULL;
  g_autofree char *long_total = NULL;
  g_autofree char *tag128 = g_strnfill (128, 't');
  g_autofree char *tag129 = g_strnfill (129, 't');
  g_autofree char *ok_tag = g_strconcat ("a:", tag128, NULL);
  g_autofree char *bad_tag = g_strconcat ("a:", tag129, NULL);
  const InvalidCase cases[] = {
    { "", "at least one component" },
    { "Vieux/sshfs", "must be lowercase" },
    { "vieux/SSHFS", "repository name (vieux/SSHFS) must be lowercase" },
    { "UBUNTU", "must be lowercase" },
    { "localhost:5000/A/b", "must be lowercase" },
    { "ubuntu:", "tag" },
    { "ubuntu:-x", "tag" },
    { "ubuntu:.x", "tag" },
    { "ubuntu:a b", "tag" },
    { "ubuntu@sha256:abc", "digest" },
    { "ubuntu@sha512:" HEX64 HEX64, "digest" },
    { "ubuntu@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "digest" },
    { "ubuntu@", "digest" },
    { "a..b", "path components" },
    { "a-/b", "path components" },
    { "-a", "path components" },
    { "a//b", "path components" },
    { "a/", "path components" },
    { "a___b", "path components" },
    { "a b", "path components" },
    { "localhost:/a", "registry host" },
    { "localhost:50x0/a", "registry host" },
    { "exa_mple.com/a", "registry host" },
    { "-example.com/a", "registry host" },
    { "example..com/a", "registry host" },
    { "[::1/x", "registry host" },
    { "[]:5000/x", "registry host" },
    { "[::g]/x", "registry host" },
    { HEX64, "cannot specify 64-byte hexadecimal strings" },
    { bad_tag, "tag" },
    { NULL, NULL },
  };

  /* 256 bytes of path alone, and 246 bytes of path behind "docker.io/" (256 in total) */
  long_path = g_strnfill (256, 'a');
  {
    g_autofree char *tail = g_strnfill (244, 'b');
    long_total = g_strconcat ("x/", tail, NULL);
  }

  for (gsize i = 0; cases[i].input != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdReference) ref = NULL;

      g_test_message ("invalid: %s", cases[i].input);
      ref = pd_reference_parse (cases[i].input, &error);
      g_assert_null (ref);
      g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
    }

  /* NULL is treated like an empty string */
  {
    g_autoptr(GError) error = NULL;
    g_assert_null (pd_reference_parse (NULL, &error));
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE);
  }

  /* tags up to 128 characters */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(PdReference) ref = pd_reference_parse (ok_tag, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (ref->tag, ==, tag128);
  }

  /* the whole name (domain + "/" + path) is at most 255 characters */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(PdReference) ref = pd_reference_parse (long_path, &error);
    g_assert_null (ref);
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE);
    g_assert_nonnull (strstr (error->message, "not be more than 255 characters"));
  }
  {
    /* "docker.io/x/" + 244 = 256 */
    g_autoptr(GError) error = NULL;
    g_autoptr(PdReference) ref = pd_reference_parse (long_total, &error);
    g_assert_null (ref);
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE);
    g_assert_nonnull (strstr (error->message, "255"));
  }
  {
    /* exactly 255 is fine */
    g_autofree char *tail = g_strnfill (243, 'b');
    g_autofree char *text = g_strconcat ("x/", tail, ":t", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(PdReference) ref = pd_reference_parse (text, &error);
    g_autofree char *full = NULL;

    g_assert_no_error (error);
    full = pd_reference_to_string (ref);
    g_assert_cmpuint (strlen (full), ==, 255 + 2);
  }
}

static void
test_reference_control_chars (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdReference) ref = pd_reference_parse ("a\nb", &error);

  g_assert_null (ref);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE);
  /* the untrusted input is escaped in the message */
  g_assert_null (strchr (error->message, '\n'));
  g_assert_nonnull (strstr (error->message, "a\\x0ab"));
}

/* an input and what a function makes of it */
typedef struct {
  const char *input;
  const char *expected;
} Mapping;

/* each input of @cases, which @func takes without an error, gives what is expected */
static void
assert_mappings (const Mapping *cases, gsize n, char *(*func) (const char *, GError **))
{
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *result = func (cases[i].input, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (result, ==, cases[i].expected);
    }
}

static char *
endpoint_host (const char *input, GError **error)
{
  g_autoptr(PdReference) ref = pd_reference_parse (input, error);

  return ref != NULL ? g_strdup (pd_reference_endpoint_host (ref)) : NULL;
}

static void
test_reference_endpoint (void)
{
  static const Mapping cases[] = {
    { "vieux/sshfs", "registry-1.docker.io" },
    { "docker.io/library/ubuntu", "registry-1.docker.io" },
    { "index.docker.io/a/b", "registry-1.docker.io" },
    { "localhost:5000/a/b:1", "localhost:5000" },
    { "[::1]:5000/x", "[::1]:5000" },
    { "ghcr.io/o/p", "ghcr.io" },
  };

  assert_mappings (cases, G_N_ELEMENTS (cases), endpoint_host);
}

static void
test_reference_local_name (void)
{
  static const Mapping cases[] = {
    { "vieux/sshfs", "vieux/sshfs:latest" },
    { "vieux/sshfs:1.0", "vieux/sshfs:1.0" },
    { "docker.io/vieux/sshfs", "vieux/sshfs:latest" },
    { "docker.io/library/ubuntu", "ubuntu:latest" },
    { "ubuntu", "ubuntu:latest" },
    { "localhost:5000/a/b", "localhost:5000/a/b:latest" },
    { "localhost:5000/a/b:1", "localhost:5000/a/b:1" },
    { "[::1]:5000/x", "[::1]:5000/x:latest" },
  };

  assert_mappings (cases, G_N_ELEMENTS (cases), pd_reference_local_name);

  {
    g_autoptr(GError) error = NULL;
    g_autofree char *name = pd_reference_local_name ("vieux/sshfs@" DIGEST, &error);
    g_assert_null (name);
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE);
    g_assert_cmpstr (error->message, ==, "cannot use digest in plugin tag");
  }
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *name = pd_reference_local_name ("vieux/sshfs:1@" DIGEST, &error);
    g_assert_null (name);
    g_assert_cmpstr (error->message, ==, "cannot use digest in plugin tag");
  }
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *name = pd_reference_local_name ("Vieux/sshfs", &error);
    g_assert_null (name);
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE);
  }
}

static void
test_digest_and_id (void)
{
  g_assert_true (pd_digest_is_valid (DIGEST));
  g_assert_false (pd_digest_is_valid (NULL));
  g_assert_false (pd_digest_is_valid (""));
  g_assert_false (pd_digest_is_valid (HEX64));
  g_assert_false (pd_digest_is_valid ("sha256:"));
  g_assert_false (pd_digest_is_valid ("sha256:" HEX64 "0"));
  g_assert_false (pd_digest_is_valid ("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"));
  g_assert_false (pd_digest_is_valid ("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
  g_assert_false (pd_digest_is_valid ("sha512:" HEX64));
  g_assert_false (pd_digest_is_valid ("SHA256:" HEX64));
  g_assert_false (pd_digest_is_valid ("sha256:g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));

  g_assert_true (pd_plugin_id_is_valid (HEX64));
  g_assert_false (pd_plugin_id_is_valid (NULL));
  g_assert_false (pd_plugin_id_is_valid (""));
  g_assert_false (pd_plugin_id_is_valid (DIGEST));
  g_assert_false (pd_plugin_id_is_valid ("0123456789abcdef"));
  g_assert_false (pd_plugin_id_is_valid (HEX64 "a"));
  g_assert_false (pd_plugin_id_is_valid ("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
  g_assert_false (pd_plugin_id_is_valid ("../3456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/reference/valid", test_reference_valid);
  g_test_add_func ("/reference/invalid", test_reference_invalid);
  g_test_add_func ("/reference/control-chars", test_reference_control_chars);
  g_test_add_func ("/reference/endpoint", test_reference_endpoint);
  g_test_add_func ("/reference/local-name", test_reference_local_name);
  g_test_add_func ("/reference/digest-and-id", test_digest_and_id);

  return g_test_run ();
}
