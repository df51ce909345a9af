/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-reference"

#include <string.h>

#include "pd-error.h"
#include "pd-reference.h"

/*
 * Docker image references, parsed the way distribution/reference's ParseNormalizedNamed does:
 *
 *   reference   := name [ ":" tag ] [ "@" digest ]
 *   name        := [domain "/"] path
 *   domain      := host [":" port]
 *   host        := domain-name | "[" ipv6 "]"
 *   domain-name := component ("." component)*,  component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
 *   path        := path-component ("/" path-component)*
 *   path-component := [a-z0-9]+ (([._] | "__" | "-"+) [a-z0-9]+)*
 *   tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *
 * The digest is narrower than distribution's (any algorithm, 32+ hex): we only ever verify
 * sha256, so anything else could never be checked and is refused up front.
 */

#define PD_DEFAULT_DOMAIN        "docker.io"
#define PD_LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define PD_DEFAULT_ENDPOINT      "registry-1.docker.io"
#define PD_OFFICIAL_PREFIX       "library/"
#define PD_NAME_TOTAL_LENGTH_MAX 255
#define PD_TAG_LENGTH_MAX        128

static gboolean
is_lower_hex (const char *text, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isdigit (text[i]) && !(text[i] >= 'a' && text[i] <= 'f'))
      return FALSE;
  return TRUE;
}

gboolean
pd_plugin_id_is_valid (const char *id)
{
  return id != NULL && strlen (id) == 64 && is_lower_hex (id, 64);
}

gboolean
pd_digest_is_valid (const char *digest)
{
  return digest != NULL && g_str_has_prefix (digest, "sha256:") && pd_plugin_id_is_valid (digest + 7);
}

static gboolean
is_lower_alnum (char c)
{
  return g_ascii_isdigit (c) || (c >= 'a' && c <= 'z');
}

/* one path component: alphanumeric runs joined by ".", "_", "__" or any number of "-" */
static gboolean
path_component_is_valid (const char *p, gsize len)
{
  gsize i = 0;

  if (len == 0 || !is_lower_alnum (p[0]))
    return FALSE;
  while (i < len)
    {
      gsize sep_start;

      while (i < len && is_lower_alnum (p[i]))
        i++;
      if (i == len)
        return TRUE;
      sep_start = i;
      if (p[i] == '.')
        i++;
      else if (p[i] == '_')
        i += (i + 1 < len && p[i + 1] == '_') ? 2 : 1;
      else if (p[i] == '-')
        while (i < len && p[i] == '-')
          i++;
      else
        return FALSE;
      /* a separator must be followed by another alphanumeric run */
      if (i == sep_start || i == len || !is_lower_alnum (p[i]))
        return FALSE;
    }
  return TRUE;
}

static gboolean
path_is_valid (const char *path)
{
  const char *p = path;

  for (;;)
    {
      const char *slash = strchr (p, '/');
      gsize len = slash != NULL ? (gsize) (slash - p) : strlen (p);

      if (!path_component_is_valid (p, len))
        return FALSE;
      if (slash == NULL)
        return TRUE;
      p = slash + 1;
    }
}

static gboolean
domain_component_is_valid (const char *p, gsize len)
{
  if (len == 0 || !g_ascii_isalnum (p[0]) || !g_ascii_isalnum (p[len - 1]))
    return FALSE;
  for (gsize i = 1; i + 1 < len; i++)
    if (!g_ascii_isalnum (p[i]) && p[i] != '-')
      return FALSE;
  return TRUE;
}

static gboolean
domain_is_valid (const char *domain)
{
  const char *host_end;
  const char *port = NULL;

  if (domain[0] == '[')
    {
      /* an IPv6 address in brackets: hex digits and colons only, no zone */
      const char *close = strchr (domain, ']');
      if (close == NULL || close == domain + 1)
        return FALSE;
      for (const char *p = domain + 1; p < close; p++)
        if (!g_ascii_isxdigit (*p) && *p != ':')
          return FALSE;
      host_end = close + 1;
      if (*host_end == ':')
        port = host_end + 1;
      else if (*host_end != '\0')
        return FALSE;
    }
  else
    {
      const char *colon = strchr (domain, ':');
      const char *p = domain;

      host_end = colon != NULL ? colon : domain + strlen (domain);
      if (colon != NULL)
        port = colon + 1;
      while (p < host_end)
        {
          const char *dot = memchr (p, '.', host_end - p);
          const char *end = dot != NULL ? dot : host_end;

          if (!domain_component_is_valid (p, end - p))
            return FALSE;
          if (dot == NULL)
            break;
          p = dot + 1;
          if (p == host_end)
            return FALSE;
        }
      if (host_end == domain)
        return FALSE;
    }

  if (port != NULL)
    {
      if (*port == '\0')
        return FALSE;
      for (const char *p = port; *p != '\0'; p++)
        if (!g_ascii_isdigit (*p))
          return FALSE;
    }
  return TRUE;
}

static gboolean
tag_is_valid (const char *tag)
{
  gsize len = strlen (tag);

  if (len == 0 || len > PD_TAG_LENGTH_MAX)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = tag[i];
      if (g_ascii_isalnum (c) || c == '_')
        continue;
      if (i > 0 && (c == '.' || c == '-'))
        continue;
      return FALSE;
    }
  return TRUE;
}

PdReference *
pd_reference_parse (const char *text, GError **error)
{
  g_autoptr(PdReference) ref = g_new0 (PdReference, 1);
  g_autofree char *escaped = NULL;
  g_autofree char *name = NULL;
  g_autofree char *remainder = NULL;
  g_autofree char *remote = NULL;
  const char *slash;
  char *at;
  char *last_slash;
  char *colon;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (text == NULL || *text == '\0')
    {
      g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                           "invalid reference format: repository name must have at least one component");
      return NULL;
    }
  escaped = pd_escape_untrusted (text, -1);
  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "invalid reference format: \"%s\" is not valid UTF-8", escaped);
      return NULL;
    }
  /* a bare 64-hex string is an image or plugin ID, never a repository name */
  if (pd_plugin_id_is_valid (text))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "invalid repository name (%s), cannot specify 64-byte hexadecimal strings",
                   escaped);
      return NULL;
    }

  /* split off the domain: only the first component can be one, and only when it looks like a
   * host ("." or ":") or is "localhost"; everything else lives on Docker Hub */
  slash = strchr (text, '/');
  if (slash == NULL)
    {
      ref->domain = g_strdup (PD_DEFAULT_DOMAIN);
      remainder = g_strconcat (PD_OFFICIAL_PREFIX, text, NULL);
    }
  else
    {
      g_autofree char *first = g_strndup (text, slash - text);

      if (g_strcmp0 (first, "localhost") == 0 || strpbrk (first, ".:") != NULL)
        {
          if (g_strcmp0 (first, PD_LEGACY_DEFAULT_DOMAIN) == 0)
            ref->domain = g_strdup (PD_DEFAULT_DOMAIN);
          else
            ref->domain = g_steal_pointer (&first);
          remainder = g_strdup (slash + 1);
        }
      else
        {
          /* unlike newer distribution/reference we do not treat an upper-case first component
           * as a domain: "Foo/bar" is a mistyped name, and saying so is more helpful */
          ref->domain = g_strdup (PD_DEFAULT_DOMAIN);
          remainder = g_strdup (text);
        }
      if (g_str_equal (ref->domain, PD_DEFAULT_DOMAIN) && strchr (remainder, '/') == NULL)
        {
          char *tmp = g_strconcat (PD_OFFICIAL_PREFIX, remainder, NULL);
          g_free (remainder);
          remainder = tmp;
        }
    }

  /* the repository part (up to the first ':') must be lower case */
  remote = g_strndup (remainder, strcspn (remainder, ":"));
  {
    g_autofree char *lower = g_ascii_strdown (remote, -1);
    if (!g_str_equal (lower, remote))
      {
        g_autofree char *escaped_remote = pd_escape_untrusted (remote, -1);
        g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                     "invalid reference format: repository name (%s) must be lowercase",
                     escaped_remote);
        return NULL;
      }
  }

  /* digest */
  at = strchr (remainder, '@');
  if (at != NULL)
    {
      *at = '\0';
      if (!pd_digest_is_valid (at + 1))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                       "invalid reference format: \"%s\": the digest must be sha256: followed by "
                       "64 lower-case hex digits", escaped);
          return NULL;
        }
      ref->digest = g_strdup (at + 1);
    }

  /* tag: a ':' after the last '/' (the domain's port colon is already split off) */
  last_slash = strrchr (remainder, '/');
  colon = strchr (last_slash != NULL ? last_slash : remainder, ':');
  if (colon != NULL)
    {
      *colon = '\0';
      if (!tag_is_valid (colon + 1))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                       "invalid reference format: \"%s\": the tag must match "
                       "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", escaped);
          return NULL;
        }
      ref->tag = g_strdup (colon + 1);
    }

  if (!domain_is_valid (ref->domain))
    {
      g_autofree char *escaped_domain = pd_escape_untrusted (ref->domain, -1);
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "invalid reference format: \"%s\" is not a valid registry host", escaped_domain);
      return NULL;
    }
  if (!path_is_valid (remainder))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "invalid reference format: \"%s\": repository path components must be lower-case "
                   "letters and digits separated by '.', '_', '__' or '-'", escaped);
      return NULL;
    }
  ref->path = g_steal_pointer (&remainder);

  name = g_strconcat (ref->domain, "/", ref->path, NULL);
  if (strlen (name) > PD_NAME_TOTAL_LENGTH_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                   "invalid reference format: repository name must not be more than %d characters",
                   PD_NAME_TOTAL_LENGTH_MAX);
      return NULL;
    }

  return g_steal_pointer (&ref);
}

void
pd_reference_free (PdReference *ref)
{
  if (ref == NULL)
    return;
  g_free (ref->domain);
  g_free (ref->path);
  g_free (ref->tag);
  g_free (ref->digest);
  g_free (ref);
}

PdReference *
pd_reference_copy (const PdReference *ref)
{
  PdReference *copy;

  g_return_val_if_fail (ref != NULL, NULL);

  copy = g_new0 (PdReference, 1);
  copy->domain = g_strdup (ref->domain);
  copy->path = g_strdup (ref->path);
  copy->tag = g_strdup (ref->tag);
  copy->digest = g_strdup (ref->digest);
  return copy;
}

static char *
reference_format (const char *domain, const char *path, const PdReference *ref)
{
  GString *out = g_string_new (NULL);

  if (domain != NULL)
    g_string_append_printf (out, "%s/", domain);
  g_string_append (out, path);
  if (ref->tag != NULL)
    g_string_append_printf (out, ":%s", ref->tag);
  if (ref->digest != NULL)
    g_string_append_printf (out, "@%s", ref->digest);
  return g_string_free (out, FALSE);
}

char *
pd_reference_to_string (const PdReference *ref)
{
  g_return_val_if_fail (ref != NULL, NULL);

  return reference_format (ref->domain, ref->path, ref);
}

char *
pd_reference_familiar (const PdReference *ref)
{
  const char *path;

  g_return_val_if_fail (ref != NULL, NULL);

  if (g_strcmp0 (ref->domain, PD_DEFAULT_DOMAIN) != 0)
    return reference_format (ref->domain, ref->path, ref);

  /* "library/x" becomes "x", but "library/a/b" keeps its prefix, as in distribution */
  path = ref->path;
  if (g_str_has_prefix (path, PD_OFFICIAL_PREFIX) &&
      strchr (path + strlen (PD_OFFICIAL_PREFIX), '/') == NULL)
    path += strlen (PD_OFFICIAL_PREFIX);
  return reference_format (NULL, path, ref);
}

const char *
pd_reference_endpoint_host (const PdReference *ref)
{
  g_return_val_if_fail (ref != NULL, NULL);

  if (g_strcmp0 (ref->domain, PD_DEFAULT_DOMAIN) == 0)
    return PD_DEFAULT_ENDPOINT;
  return ref->domain;
}

char *
pd_reference_local_name (const char *name, GError **error)
{
  g_autoptr(PdReference) ref = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ref = pd_reference_parse (name, error);
  if (ref == NULL)
    return NULL;
  if (ref->digest != NULL)
    {
      g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_REFERENCE,
                           "cannot use digest in plugin tag");
      return NULL;
    }
  if (ref->tag == NULL)
    ref->tag = g_strdup ("latest");
  return pd_reference_familiar (ref);
}

char *
pd_generate_plugin_id (void)
{
  guint8 bytes[32];
  GString *id = g_string_sized_new (64);

  for (guint i = 0; i < G_N_ELEMENTS (bytes); i++)
    bytes[i] = (guint8) g_random_int_range (0, 256);
  for (guint i = 0; i < G_N_ELEMENTS (bytes); i++)
    g_string_append_printf (id, "%02x", bytes[i]);
  return g_string_free (id, FALSE);
}
