/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-config"

#include <stdlib.h>
#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-plugin-config.h"
#include "pd-reference.h"

/* the plugin's socket lives in /run/docker/plugins/ inside the plugin, and the full path must
 * fit sockaddr_un.sun_path (108 bytes including the terminating NUL) */
#define PD_PLUGIN_SOCKET_DIR      "/run/docker/plugins/"
#define PD_PLUGIN_SOCKET_NAME_MAX (107 - (sizeof (PD_PLUGIN_SOCKET_DIR) - 1))
#define PD_PROTOCOL_HTTP_V1       "moby.plugins.http/v1"

/* section: a strict JSON scanner
 *
 * json-glib keeps the last of duplicate keys silently, truncates strings at an escaped NUL and
 * cannot tell us where in the document it is. Configs come from untrusted archives and
 * registries, so we scan them ourselves into a small tree: RFC 8259 syntax, valid UTF-8,
 * no NUL, no duplicate keys (compared case-insensitively, because Go matches field names that
 * way and would otherwise let one spelling override the other), one value only. */

typedef enum {
  PJ_NULL,
  PJ_BOOL,
  PJ_NUMBER,
  PJ_STRING,
  PJ_ARRAY,
  PJ_OBJECT,
} PjKind;

typedef struct _PjValue PjValue;

struct _PjValue {
  PjKind kind;
  gboolean boolean;
  char *text;          /* string contents or the number literal */
  GPtrArray *items;    /* array: PjValue; object: PjMember, in document order */
};

typedef struct {
  char *key;
  PjValue *value;
} PjMember;

static void
pj_value_free (PjValue *value)
{
  if (value == NULL)
    return;
  g_free (value->text);
  g_clear_pointer (&value->items, g_ptr_array_unref);
  g_free (value);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PjValue, pj_value_free)

static void
pj_member_free (PjMember *member)
{
  g_free (member->key);
  pj_value_free (member->value);
  g_free (member);
}

typedef struct {
  const char *data;
  gsize len;
  gsize pos;
  guint depth;
  GString *path;   /* the raw key path of the value being scanned, for messages */
} PjScanner;

static const char *
pj_scanner_where (PjScanner *s)
{
  return s->path->len > 0 ? s->path->str : "the top level";
}

static void
pj_fail_syntax (PjScanner *s, GError **error, const char *what)
{
  guint line = 1, column = 1;

  for (gsize i = 0; i < s->pos && i < s->len; i++)
    {
      if (s->data[i] == '\n')
        {
          line++;
          column = 1;
        }
      else
        column++;
    }
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
               "config: invalid JSON at line %u column %u (in %s): %s",
               line, column, pj_scanner_where (s), what);
}

static void
pj_skip_ws (PjScanner *s)
{
  pd_json_skip_ws (s->data, s->len, &s->pos);
}

static gboolean
pj_literal (PjScanner *s, const char *word)
{
  return pd_json_scan_literal (s->data, s->len, &s->pos, word);
}

/* scans a string at s->pos (which is at the opening quote); @is_key only changes messages */
static char *
pj_scan_string (PjScanner *s, gboolean is_key, GError **error)
{
  g_autoptr(GString) out = g_string_new (NULL);
  gboolean nul = FALSE;
  const char *problem = pd_json_scan_string (s->data, s->len, &s->pos, out, &nul);

  if (problem == NULL)
    return g_string_free (g_steal_pointer (&out), FALSE);
  if (!nul)
    pj_fail_syntax (s, error, problem);
  else if (is_key)
    g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                 "config: a key in %s contains a NUL byte", pj_scanner_where (s));
  else
    g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                 "config: %s contains a NUL byte", pj_scanner_where (s));
  return NULL;
}

static gboolean
pj_scan_number (PjScanner *s, GError **error)
{
  const char *problem = pd_json_scan_number (s->data, s->len, &s->pos);

  if (problem == NULL)
    return TRUE;
  pj_fail_syntax (s, error, problem);
  return FALSE;
}

static PjValue *pj_scan_value (PjScanner *s, GError **error);

static PjValue *
pj_scan_object (PjScanner *s, GError **error)
{
  g_autoptr(PjValue) value = g_new0 (PjValue, 1);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gsize path_len = s->path->len;

  value->kind = PJ_OBJECT;
  value->items = g_ptr_array_new_with_free_func ((GDestroyNotify) pj_member_free);
  s->pos++;
  pj_skip_ws (s);
  if (s->pos < s->len && s->data[s->pos] == '}')
    {
      s->pos++;
      return g_steal_pointer (&value);
    }

  for (;;)
    {
      g_autofree char *key = NULL;
      g_autofree char *folded = NULL;
      const char *previous;
      PjMember *member;
      PjValue *child;

      pj_skip_ws (s);
      if (s->pos >= s->len || s->data[s->pos] != '"')
        {
          pj_fail_syntax (s, error, "expected a string key");
          return NULL;
        }
      key = pj_scan_string (s, TRUE, error);
      if (key == NULL)
        return NULL;

      folded = g_ascii_strdown (key, -1);
      previous = g_hash_table_lookup (seen, folded);
      if (previous != NULL)
        {
          g_autofree char *k1 = pd_escape_untrusted (previous, -1);
          g_autofree char *k2 = pd_escape_untrusted (key, -1);

          if (g_str_equal (previous, key))
            g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                         "config: duplicate key \"%s\" in %s", k2, pj_scanner_where (s));
          else
            g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                         "config: duplicate key \"%s\" in %s (same as \"%s\": keys are matched "
                         "case-insensitively)", k2, pj_scanner_where (s), k1);
          return NULL;
        }
      g_hash_table_insert (seen, g_steal_pointer (&folded), g_strdup (key));

      pj_skip_ws (s);
      if (s->pos >= s->len || s->data[s->pos] != ':')
        {
          pj_fail_syntax (s, error, "expected ':' after an object key");
          return NULL;
        }
      s->pos++;

      if (s->path->len > 0)
        g_string_append_c (s->path, '.');
      g_string_append (s->path, key);
      child = pj_scan_value (s, error);
      g_string_truncate (s->path, path_len);
      if (child == NULL)
        return NULL;

      member = g_new0 (PjMember, 1);
      member->key = g_steal_pointer (&key);
      member->value = child;
      g_ptr_array_add (value->items, member);

      pj_skip_ws (s);
      if (s->pos < s->len && s->data[s->pos] == ',')
        {
          s->pos++;
          continue;
        }
      if (s->pos < s->len && s->data[s->pos] == '}')
        {
          s->pos++;
          return g_steal_pointer (&value);
        }
      pj_fail_syntax (s, error, "expected ',' or '}' in an object");
      return NULL;
    }
}

static PjValue *
pj_scan_array (PjScanner *s, GError **error)
{
  g_autoptr(PjValue) value = g_new0 (PjValue, 1);
  gsize path_len = s->path->len;

  value->kind = PJ_ARRAY;
  value->items = g_ptr_array_new_with_free_func ((GDestroyNotify) pj_value_free);
  s->pos++;
  pj_skip_ws (s);
  if (s->pos < s->len && s->data[s->pos] == ']')
    {
      s->pos++;
      return g_steal_pointer (&value);
    }

  for (;;)
    {
      PjValue *child;

      g_string_append_printf (s->path, "[%u]", value->items->len);
      child = pj_scan_value (s, error);
      g_string_truncate (s->path, path_len);
      if (child == NULL)
        return NULL;
      g_ptr_array_add (value->items, child);

      pj_skip_ws (s);
      if (s->pos < s->len && s->data[s->pos] == ',')
        {
          s->pos++;
          continue;
        }
      if (s->pos < s->len && s->data[s->pos] == ']')
        {
          s->pos++;
          return g_steal_pointer (&value);
        }
      pj_fail_syntax (s, error, "expected ',' or ']' in an array");
      return NULL;
    }
}

static PjValue *
pj_scan_value (PjScanner *s, GError **error)
{
  g_autoptr(PjValue) value = NULL;
  char c;

  pj_skip_ws (s);
  if (s->pos >= s->len)
    {
      pj_fail_syntax (s, error, "unexpected end of input");
      return NULL;
    }

  c = s->data[s->pos];
  if (c == '{' || c == '[')
    {
      PjValue *nested;

      /* the depth every JSON document from outside is held to: recursion stays shallow */
      if (s->depth >= PD_JSON_MAX_DEPTH)
        {
          pj_fail_syntax (s, error, "nested deeper than " G_STRINGIFY (PD_JSON_MAX_DEPTH) " levels");
          return NULL;
        }
      s->depth++;
      nested = c == '{' ? pj_scan_object (s, error) : pj_scan_array (s, error);
      s->depth--;
      return nested;
    }

  value = g_new0 (PjValue, 1);
  if (c == '"')
    {
      value->kind = PJ_STRING;
      value->text = pj_scan_string (s, FALSE, error);
      if (value->text == NULL)
        return NULL;
    }
  else if (c == '-' || g_ascii_isdigit (c))
    {
      gsize start = s->pos;

      if (!pj_scan_number (s, error))
        return NULL;
      value->kind = PJ_NUMBER;
      value->text = g_strndup (s->data + start, s->pos - start);
    }
  else if (pj_literal (s, "true"))
    {
      value->kind = PJ_BOOL;
      value->boolean = TRUE;
    }
  else if (pj_literal (s, "false"))
    value->kind = PJ_BOOL;
  else if (pj_literal (s, "null"))
    value->kind = PJ_NULL;
  else if (c == '\0')
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: NUL byte outside a string in %s", pj_scanner_where (s));
      return NULL;
    }
  else
    {
      pj_fail_syntax (s, error, "unexpected character");
      return NULL;
    }
  return g_steal_pointer (&value);
}

static PjValue *
pj_parse (const char *data, gsize len, GError **error)
{
  g_autoptr(GString) path = g_string_new (NULL);
  PjScanner s = { data, len, 0, 0, path };
  g_autoptr(PjValue) root = NULL;

  root = pj_scan_value (&s, error);
  if (root == NULL)
    return NULL;
  pj_skip_ws (&s);
  if (s.pos < s.len)
    {
      /* Go's decoder also refuses anything after the first value */
      g_string_truncate (path, 0);
      pj_fail_syntax (&s, error, "unexpected data after the top-level value");
      return NULL;
    }
  return g_steal_pointer (&root);
}

/* section: walking the tree */

static const char *
pj_kind_name (PjKind kind)
{
  switch (kind)
    {
    case PJ_NULL: return "null";
    case PJ_BOOL: return "a boolean";
    case PJ_NUMBER: return "a number";
    case PJ_STRING: return "a string";
    case PJ_ARRAY: return "an array";
    case PJ_OBJECT: return "an object";
    default: return "unknown";
    }
}

/* Go's field lookup: an exact match first, then an ASCII case-insensitive one. Duplicates
 * that differ only in case were already refused by the scanner, so at most one matches. */
static PjValue *
pj_member (PjValue *object, const char *name)
{
  if (object == NULL)
    return NULL;
  for (guint i = 0; i < object->items->len; i++)
    {
      PjMember *m = object->items->pdata[i];
      if (g_str_equal (m->key, name))
        return m->value;
    }
  for (guint i = 0; i < object->items->len; i++)
    {
      PjMember *m = object->items->pdata[i];
      if (g_ascii_strcasecmp (m->key, name) == 0)
        return m->value;
    }
  return NULL;
}

static char *
path_join (const char *parent, const char *name)
{
  if (parent == NULL || *parent == '\0')
    return g_strdup (name);
  return g_strdup_printf ("%s.%s", parent, name);
}

static gboolean
fail_type (const char *path, const char *expected, PjValue *value, GError **error)
{
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "config: %s must be %s, not %s",
               path, expected, pj_kind_name (value->kind));
  return FALSE;
}

/* Go leaves a non-pointer field untouched for JSON null, so absent and null both give "" */
static gboolean
get_string (PjValue *object, const char *parent, const char *name, char **out, GError **error)
{
  PjValue *v = pj_member (object, name);

  if (v == NULL || v->kind == PJ_NULL)
    {
      *out = g_strdup ("");
      return TRUE;
    }
  if (v->kind != PJ_STRING)
    {
      g_autofree char *path = path_join (parent, name);
      return fail_type (path, "a string", v, error);
    }
  *out = g_strdup (v->text);
  return TRUE;
}

/* for Go's *string fields: absent and null are both nil, "" is a real value */
static gboolean
get_nullable_string (PjValue *object, const char *parent, const char *name, char **out,
                     GError **error)
{
  PjValue *v = pj_member (object, name);

  *out = NULL;
  if (v == NULL || v->kind == PJ_NULL)
    return TRUE;
  if (v->kind != PJ_STRING)
    {
      g_autofree char *path = path_join (parent, name);
      return fail_type (path, "a string or null", v, error);
    }
  *out = g_strdup (v->text);
  return TRUE;
}

static gboolean
get_bool (PjValue *object, const char *parent, const char *name, gboolean *out, GError **error)
{
  PjValue *v = pj_member (object, name);

  *out = FALSE;
  if (v == NULL || v->kind == PJ_NULL)
    return TRUE;
  if (v->kind != PJ_BOOL)
    {
      g_autofree char *path = path_join (parent, name);
      return fail_type (path, "a boolean", v, error);
    }
  *out = v->boolean;
  return TRUE;
}

static gboolean
get_uint32 (PjValue *object, const char *parent, const char *name, guint32 *out, GError **error)
{
  PjValue *v = pj_member (object, name);
  g_autofree char *path = path_join (parent, name);
  guint64 n = 0;

  *out = 0;
  if (v == NULL || v->kind == PJ_NULL)
    return TRUE;
  if (v->kind != PJ_NUMBER)
    return fail_type (path, "a number", v, error);
  /* like Go's decoder for uint32: digits only, no sign, fraction or exponent */
  if (!g_ascii_string_to_unsigned (v->text, 10, 0, G_MAXUINT32, &n, NULL))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: %s must be an integer between 0 and %u", path, G_MAXUINT32);
      return FALSE;
    }
  *out = (guint32) n;
  return TRUE;
}

/* returns an empty vector for absent and null, as every GStrv of the config is non-NULL */
static gboolean
get_strv (PjValue *object, const char *parent, const char *name, GStrv *out, GError **error)
{
  PjValue *v = pj_member (object, name);
  g_autofree char *path = path_join (parent, name);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  *out = NULL;
  if (v != NULL && v->kind != PJ_NULL)
    {
      if (v->kind != PJ_ARRAY)
        return fail_type (path, "an array of strings", v, error);
      for (guint i = 0; i < v->items->len; i++)
        {
          PjValue *item = v->items->pdata[i];
          if (item->kind != PJ_STRING)
            {
              g_autofree char *item_path = g_strdup_printf ("%s[%u]", path, i);
              return fail_type (item_path, "a string", item, error);
            }
          g_strv_builder_add (builder, item->text);
        }
    }
  *out = g_strv_builder_end (builder);
  return TRUE;
}

/* an object member or NULL for absent/null */
static gboolean
get_object (PjValue *object, const char *parent, const char *name, PjValue **out, GError **error)
{
  PjValue *v = pj_member (object, name);

  *out = NULL;
  if (v == NULL || v->kind == PJ_NULL)
    return TRUE;
  if (v->kind != PJ_OBJECT)
    {
      g_autofree char *path = path_join (parent, name);
      return fail_type (path, "an object", v, error);
    }
  *out = v;
  return TRUE;
}

static gboolean
get_array (PjValue *object, const char *parent, const char *name, PjValue **out, GError **error)
{
  PjValue *v = pj_member (object, name);

  *out = NULL;
  if (v == NULL || v->kind == PJ_NULL)
    return TRUE;
  if (v->kind != PJ_ARRAY)
    {
      g_autofree char *path = path_join (parent, name);
      return fail_type (path, "an array", v, error);
    }
  *out = v;
  return TRUE;
}

/* section: validation helpers */

static const char *const linux_capabilities[] = {
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
  "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
};

int
pd_linux_capability_from_name (const char *name)
{
  if (name == NULL)
    return -1;
  for (gsize i = 0; i < G_N_ELEMENTS (linux_capabilities); i++)
    if (g_str_equal (linux_capabilities[i], name))
      return (int) i;
  return -1;
}

static gboolean
path_has_dotdot (const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, "/", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    if (g_str_equal (parts[i], ".."))
      return TRUE;
  return FALSE;
}

gboolean
pd_path_is_clean_absolute (const char *path)
{
  g_auto(GStrv) parts = NULL;
  guint n;

  if (path == NULL || path[0] != '/' || pd_string_has_control_chars (path))
    return FALSE;
  parts = g_strsplit (path + 1, "/", -1);
  n = g_strv_length (parts);
  /* one trailing slash is fine ("WorkDir": "/bin/" in Docker's own example) */
  if (n > 0 && parts[n - 1][0] == '\0')
    n--;
  for (guint i = 0; i < n; i++)
    if (parts[i][0] == '\0' || g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}
gboolean
pd_path_is_at_or_under (const char *path, const char *dir)
{
  gsize path_len = strlen (path);
  gsize dir_len = strlen (dir);

  /* "/data/" is "/data" */
  while (path_len > 1 && path[path_len - 1] == '/')
    path_len--;
  while (dir_len > 1 && dir[dir_len - 1] == '/')
    dir_len--;
  if (dir_len == 1 && dir[0] == '/')
    return path[0] == '/';
  return path_len >= dir_len && strncmp (path, dir, dir_len) == 0
         && (path_len == dir_len || path[dir_len] == '/');
}

gboolean
pd_paths_find_nested (GPtrArray *paths, guint *inner, guint *outer)
{
  for (guint i = 0; i < paths->len; i++)
    for (guint j = i + 1; j < paths->len; j++)
      {
        const char *a = paths->pdata[i], *b = paths->pdata[j];

        if (a == NULL || b == NULL)
          continue;
        if (pd_path_is_at_or_under (a, b) || pd_path_is_at_or_under (b, a))
          {
            /* of two equal ones, the later is the one that goes over the other */
            gboolean a_inside = !pd_path_is_at_or_under (b, a);

            *inner = a_inside ? i : j;
            *outer = a_inside ? j : i;
            return TRUE;
          }
      }
  return FALSE;
}

/* C0 and C1 controls and DEL (U+009B is CSI to many terminals) and invalid UTF-8: what a
 * terminal could act on when the string is shown to the user who is asked to consent to it */
gboolean
pd_string_has_control_chars (const char *text)
{
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        return TRUE;
      if (c < 0x20 || (c >= 0x7f && c < 0xa0))
        return TRUE;
    }
  return FALSE;
}

/* Docker passes Type and Options to mount(2) verbatim: either one can make it a bind mount */
static gboolean
mount_is_bind (const PdConfigMount *mount)
{
  if (g_strcmp0 (mount->type, "bind") == 0)
    return TRUE;
  return mount->options != NULL &&
         (g_strv_contains ((const char *const *) mount->options, "bind") ||
          g_strv_contains ((const char *const *) mount->options, "rbind"));
}

/* the rule @source breaks as a source of @mount, or NULL: the source is a host path shown in the
 * consent prompt, and a bind mount's source is where the plugin gets into the host */
static const char *
mount_source_check (const PdConfigMount *mount, const char *source)
{
  if (pd_string_has_control_chars (source))
    return "must not contain control characters";
  if (mount_is_bind (mount) && !pd_path_is_clean_absolute (source))
    return "must be an absolute path without '.', '..' or empty components for a bind mount";
  return NULL;
}

/* the rule @path breaks as a device path, or NULL */
static const char *
device_path_check (const char *path)
{
  if (pd_string_has_control_chars (path))
    return "must not contain control characters";
  if (!pd_plugin_device_path_is_valid (path))
    return "must be a path under /dev/ without '..'";
  return NULL;
}

static gboolean
capability_token_is_valid (const char *p, gsize len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (p[i]) && p[i] != '_' && p[i] != '-' && p[i] != '.')
      return FALSE;
  return TRUE;
}

/* Docker's CapabilityID: "<prefix>.<capability>/<version>"; the prefix is everything before the
 * last '.' of the part before the first '/'. We also require every part to be present and
 * plain, so the entry round-trips through Docker's MarshalText unchanged. */
static gboolean
interface_type_parse (const char *text, const char **capability, gsize *capability_len)
{
  const char *slash = strchr (text, '/');
  const char *dot;

  if (slash == NULL)
    return FALSE;
  dot = g_strrstr_len (text, slash - text, ".");
  if (dot == NULL)
    return FALSE;
  if (!capability_token_is_valid (text, dot - text) ||
      !capability_token_is_valid (dot + 1, slash - dot - 1) ||
      memchr (dot + 1, '.', slash - dot - 1) != NULL ||
      !capability_token_is_valid (slash + 1, strlen (slash + 1)))
    return FALSE;
  if (capability != NULL)
    *capability = dot + 1;
  if (capability_len != NULL)
    *capability_len = slash - dot - 1;
  return TRUE;
}

static gboolean
fail_value (GError **error, const char *path, const char *value, const char *rule)
{
  g_autofree char *escaped = pd_escape_untrusted (value, -1);

  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "config: %s %s (got \"%s\")",
               path, rule, escaped);
  return FALSE;
}

/* section: boxed types */

static PdConfigMount *
pd_config_mount_copy (const PdConfigMount *mount)
{
  PdConfigMount *copy = g_new0 (PdConfigMount, 1);

  copy->name = g_strdup (mount->name);
  copy->description = g_strdup (mount->description);
  copy->settable = g_strdupv (mount->settable);
  copy->source = g_strdup (mount->source);
  copy->destination = g_strdup (mount->destination);
  copy->type = g_strdup (mount->type);
  copy->options = g_strdupv (mount->options);
  return copy;
}

static void
pd_config_mount_free (PdConfigMount *mount)
{
  if (mount == NULL)
    return;
  g_free (mount->name);
  g_free (mount->description);
  g_strfreev (mount->settable);
  g_free (mount->source);
  g_free (mount->destination);
  g_free (mount->type);
  g_strfreev (mount->options);
  g_free (mount);
}

static PdConfigDevice *
pd_config_device_copy (const PdConfigDevice *device)
{
  PdConfigDevice *copy = g_new0 (PdConfigDevice, 1);

  copy->name = g_strdup (device->name);
  copy->description = g_strdup (device->description);
  copy->settable = g_strdupv (device->settable);
  copy->path = g_strdup (device->path);
  return copy;
}

static void
pd_config_device_free (PdConfigDevice *device)
{
  if (device == NULL)
    return;
  g_free (device->name);
  g_free (device->description);
  g_strfreev (device->settable);
  g_free (device->path);
  g_free (device);
}

static PdConfigEnv *
pd_config_env_copy (const PdConfigEnv *env)
{
  PdConfigEnv *copy = g_new0 (PdConfigEnv, 1);

  copy->name = g_strdup (env->name);
  copy->description = g_strdup (env->description);
  copy->settable = g_strdupv (env->settable);
  copy->value = g_strdup (env->value);
  return copy;
}

static void
pd_config_env_free (PdConfigEnv *env)
{
  if (env == NULL)
    return;
  g_free (env->name);
  g_free (env->description);
  g_strfreev (env->settable);
  g_free (env->value);
  g_free (env);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdConfigMount, pd_config_mount_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdConfigDevice, pd_config_device_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdConfigEnv, pd_config_env_free)

static GPtrArray *
ptr_array_copy (GPtrArray *array, GCopyFunc copy_func, GDestroyNotify free_func)
{
  GPtrArray *copy = g_ptr_array_new_full (array != NULL ? array->len : 0, free_func);

  for (guint i = 0; array != NULL && i < array->len; i++)
    g_ptr_array_add (copy, copy_func (array->pdata[i], NULL));
  return copy;
}

static gpointer
mount_copy_func (gconstpointer src, gpointer data)
{
  return pd_config_mount_copy (src);
}

static gpointer
device_copy_func (gconstpointer src, gpointer data)
{
  return pd_config_device_copy (src);
}

static gpointer
env_copy_func (gconstpointer src, gpointer data)
{
  return pd_config_env_copy (src);
}

static PdPluginConfig *
pd_plugin_config_new_empty (void)
{
  PdPluginConfig *config = g_new0 (PdPluginConfig, 1);

  config->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_config_mount_free);
  config->env = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_config_env_free);
  config->linux_devices = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_config_device_free);
  return config;
}

void
pd_plugin_config_free (PdPluginConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->description);
  g_free (config->documentation);
  g_strfreev (config->interface_types);
  g_free (config->interface_socket);
  g_free (config->protocol_scheme);
  g_strfreev (config->entrypoint);
  g_free (config->workdir);
  g_free (config->network_type);
  g_free (config->propagated_mount);
  g_clear_pointer (&config->mounts, g_ptr_array_unref);
  g_clear_pointer (&config->env, g_ptr_array_unref);
  g_free (config->args_name);
  g_free (config->args_description);
  g_strfreev (config->args_settable);
  g_strfreev (config->args_value);
  g_strfreev (config->linux_capabilities);
  g_clear_pointer (&config->linux_devices, g_ptr_array_unref);
  g_free (config->rootfs_type);
  g_strfreev (config->rootfs_diff_ids);
  g_free (config);
}

PdPluginConfig *
pd_plugin_config_copy (const PdPluginConfig *config)
{
  PdPluginConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_new0 (PdPluginConfig, 1);
  copy->description = g_strdup (config->description);
  copy->documentation = g_strdup (config->documentation);
  copy->interface_types = g_strdupv (config->interface_types);
  copy->interface_socket = g_strdup (config->interface_socket);
  copy->protocol_scheme = g_strdup (config->protocol_scheme);
  copy->entrypoint = g_strdupv (config->entrypoint);
  copy->workdir = g_strdup (config->workdir);
  copy->network_type = g_strdup (config->network_type);
  copy->propagated_mount = g_strdup (config->propagated_mount);
  copy->ipc_host = config->ipc_host;
  copy->pid_host = config->pid_host;
  copy->mounts = ptr_array_copy (config->mounts, mount_copy_func,
                                 (GDestroyNotify) pd_config_mount_free);
  copy->env = ptr_array_copy (config->env, env_copy_func, (GDestroyNotify) pd_config_env_free);
  copy->args_name = g_strdup (config->args_name);
  copy->args_description = g_strdup (config->args_description);
  copy->args_settable = g_strdupv (config->args_settable);
  copy->args_value = g_strdupv (config->args_value);
  copy->linux_capabilities = g_strdupv (config->linux_capabilities);
  copy->linux_allow_all_devices = config->linux_allow_all_devices;
  copy->linux_devices = ptr_array_copy (config->linux_devices, device_copy_func,
                                        (GDestroyNotify) pd_config_device_free);
  copy->has_user = config->has_user;
  copy->user_uid = config->user_uid;
  copy->user_gid = config->user_gid;
  copy->rootfs_type = g_strdup (config->rootfs_type);
  copy->rootfs_diff_ids = g_strdupv (config->rootfs_diff_ids);
  return copy;
}

/* section: parsing */

static gboolean
parse_mount (PjValue *v, const char *path, PdConfigMount **out, GError **error)
{
  g_autoptr(PdConfigMount) mount = g_new0 (PdConfigMount, 1);
  g_autofree char *dest_path = path_join (path, "Destination");

  if (v->kind != PJ_OBJECT)
    return fail_type (path, "an object", v, error);
  if (!get_string (v, path, "Name", &mount->name, error) ||
      !get_string (v, path, "Description", &mount->description, error) ||
      !get_strv (v, path, "Settable", &mount->settable, error) ||
      !get_nullable_string (v, path, "Source", &mount->source, error) ||
      !get_string (v, path, "Destination", &mount->destination, error) ||
      !get_string (v, path, "Type", &mount->type, error) ||
      !get_strv (v, path, "Options", &mount->options, error))
    return FALSE;
  if (!pd_path_is_clean_absolute (mount->destination))
    return fail_value (error, dest_path, mount->destination,
                       "must be an absolute path without '.', '..' or empty components");
  if (mount->source != NULL)
    {
      const char *rule = mount_source_check (mount, mount->source);

      if (rule != NULL)
        {
          g_autofree char *field = path_join (path, "Source");
          return fail_value (error, field, mount->source, rule);
        }
    }
  *out = g_steal_pointer (&mount);
  return TRUE;
}

static gboolean
parse_device (PjValue *v, const char *path, PdConfigDevice **out, GError **error)
{
  g_autoptr(PdConfigDevice) device = g_new0 (PdConfigDevice, 1);

  if (v->kind != PJ_OBJECT)
    return fail_type (path, "an object", v, error);
  if (!get_string (v, path, "Name", &device->name, error) ||
      !get_string (v, path, "Description", &device->description, error) ||
      !get_strv (v, path, "Settable", &device->settable, error) ||
      !get_nullable_string (v, path, "Path", &device->path, error))
    return FALSE;
  if (device->path != NULL)
    {
      const char *rule = device_path_check (device->path);

      if (rule != NULL)
        {
          g_autofree char *field = path_join (path, "Path");
          return fail_value (error, field, device->path, rule);
        }
    }
  *out = g_steal_pointer (&device);
  return TRUE;
}

static gboolean
parse_env (PjValue *v, const char *path, PdConfigEnv **out, GError **error)
{
  g_autoptr(PdConfigEnv) env = g_new0 (PdConfigEnv, 1);

  if (v->kind != PJ_OBJECT)
    return fail_type (path, "an object", v, error);
  if (!get_string (v, path, "Name", &env->name, error) ||
      !get_string (v, path, "Description", &env->description, error) ||
      !get_strv (v, path, "Settable", &env->settable, error) ||
      !get_nullable_string (v, path, "Value", &env->value, error))
    return FALSE;
  if (env->name[0] == '\0' || strchr (env->name, '=') != NULL)
    {
      g_autofree char *field = path_join (path, "Name");
      return fail_value (error, field, env->name, "must not be empty or contain '='");
    }
  *out = g_steal_pointer (&env);
  return TRUE;
}

typedef gboolean (*ParseItemFunc) (PjValue *v, const char *path, gpointer *out, GError **error);

static gboolean
parse_list (PjValue *object, const char *parent, const char *name, GPtrArray *into,
            ParseItemFunc func, GError **error)
{
  g_autofree char *path = path_join (parent, name);
  PjValue *array = NULL;

  if (!get_array (object, parent, name, &array, error))
    return FALSE;
  for (guint i = 0; array != NULL && i < array->items->len; i++)
    {
      g_autofree char *item_path = g_strdup_printf ("%s[%u]", path, i);
      gpointer item = NULL;

      if (!func (array->items->pdata[i], item_path, &item, error))
        return FALSE;
      g_ptr_array_add (into, item);
    }
  return TRUE;
}

static gboolean
parse_interface (PdPluginConfig *config, PjValue *root, GError **error)
{
  PjValue *iface = NULL;
  const char *socket;

  if (!get_object (root, NULL, "Interface", &iface, error) ||
      !get_strv (iface, "Interface", "Types", &config->interface_types, error) ||
      !get_string (iface, "Interface", "Socket", &config->interface_socket, error) ||
      !get_string (iface, "Interface", "ProtocolScheme", &config->protocol_scheme, error))
    return FALSE;

  for (guint i = 0; config->interface_types[i] != NULL; i++)
    if (!interface_type_parse (config->interface_types[i], NULL, NULL))
      {
        g_autofree char *path = g_strdup_printf ("Interface.Types[%u]", i);
        return fail_value (error, path, config->interface_types[i],
                           "must be <prefix>.<capability>/<version>, e.g. docker.volumedriver/1.0");
      }

  /* the socket is a file name inside the plugin's socket directory: never a path out of it */
  socket = config->interface_socket;
  if (strchr (socket, '/') != NULL || g_str_equal (socket, ".") || g_str_equal (socket, ".."))
    return fail_value (error, "Interface.Socket", socket,
                       "must be a file name without '/' and not '.' or '..'");
  if (strlen (socket) > PD_PLUGIN_SOCKET_NAME_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: Interface.Socket must be at most %u bytes long (got %zu)",
                   (guint) PD_PLUGIN_SOCKET_NAME_MAX, strlen (socket));
      return FALSE;
    }
  /* the daemon talks to a plugin that implements an interface through this socket: without a
   * name there is nothing to wait for at enable time */
  if (config->interface_types[0] != NULL && socket[0] == '\0')
    {
      g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                           "config: Interface.Socket must name the plugin's socket when "
                           "Interface.Types is set");
      return FALSE;
    }

  if (config->protocol_scheme[0] != '\0' &&
      !g_str_equal (config->protocol_scheme, PD_PROTOCOL_HTTP_V1))
    return fail_value (error, "Interface.ProtocolScheme", config->protocol_scheme,
                       "must be \"\" or \"" PD_PROTOCOL_HTTP_V1 "\"");
  return TRUE;
}

static gboolean
parse_linux (PdPluginConfig *config, PjValue *root, GError **error)
{
  PjValue *linux_obj = NULL;

  if (!get_object (root, NULL, "Linux", &linux_obj, error) ||
      !get_strv (linux_obj, "Linux", "Capabilities", &config->linux_capabilities, error) ||
      !get_bool (linux_obj, "Linux", "AllowAllDevices", &config->linux_allow_all_devices, error) ||
      !parse_list (linux_obj, "Linux", "Devices", config->linux_devices,
                   (ParseItemFunc) parse_device, error))
    return FALSE;

  for (guint i = 0; config->linux_capabilities[i] != NULL; i++)
    if (pd_linux_capability_from_name (config->linux_capabilities[i]) < 0)
      {
        g_autofree char *path = g_strdup_printf ("Linux.Capabilities[%u]", i);
        return fail_value (error, path, config->linux_capabilities[i],
                           "is not a known Linux capability (CAP_CHOWN ... CAP_CHECKPOINT_RESTORE)");
      }
  return TRUE;
}

static gboolean
parse_rootfs (PdPluginConfig *config, PjValue *root, GError **error)
{
  PjValue *rootfs = NULL;
  PjValue *diff_ids;

  if (!get_object (root, NULL, "rootfs", &rootfs, error))
    return FALSE;
  if (rootfs == NULL)
    return TRUE;

  if (!get_string (rootfs, "rootfs", "type", &config->rootfs_type, error))
    return FALSE;
  if (config->rootfs_type[0] == '\0')
    g_clear_pointer (&config->rootfs_type, g_free);
  else if (!g_str_equal (config->rootfs_type, "layers"))
    return fail_value (error, "rootfs.type", config->rootfs_type, "must be \"layers\"");

  diff_ids = pj_member (rootfs, "diff_ids");
  if (diff_ids != NULL && diff_ids->kind != PJ_NULL)
    {
      if (!get_strv (rootfs, "rootfs", "diff_ids", &config->rootfs_diff_ids, error))
        return FALSE;
      for (guint i = 0; config->rootfs_diff_ids[i] != NULL; i++)
        if (!pd_digest_is_valid (config->rootfs_diff_ids[i]))
          {
            g_autofree char *path = g_strdup_printf ("rootfs.diff_ids[%u]", i);
            return fail_value (error, path, config->rootfs_diff_ids[i],
                               "must be sha256: followed by 64 lower-case hex digits");
          }
    }
  /* a rootfs object marks the config as written by create or a registry: keep it as one even
   * if it is empty, so the serialiser writes it back */
  if (config->rootfs_type == NULL && config->rootfs_diff_ids == NULL)
    config->rootfs_diff_ids = g_new0 (char *, 1);
  return TRUE;
}

/* A mount destination under another one would be created, at each start, in the host dir
 * behind the outer one, through whatever symlink the plugin planted there; the sandbox
 * refuses such a config, so it is refused here already. */
static gboolean
check_mounts_apart (const PdPluginConfig *config, GError **error)
{
  g_autoptr(GPtrArray) dests = g_ptr_array_new ();
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  guint inner, outer;

  if (config->propagated_mount[0] != '\0')
    {
      g_ptr_array_add (dests, config->propagated_mount);
      g_ptr_array_add (names, g_strdup ("PropagatedMount"));
    }
  for (guint i = 0; i < config->mounts->len; i++)
    {
      g_ptr_array_add (dests, ((PdConfigMount *) config->mounts->pdata[i])->destination);
      g_ptr_array_add (names, g_strdup_printf ("Mounts[%u].Destination", i));
    }
  for (guint i = 0; i < config->linux_devices->len; i++)
    {
      g_ptr_array_add (dests, ((PdConfigDevice *) config->linux_devices->pdata[i])->path);
      g_ptr_array_add (names, g_strdup_printf ("Linux.Devices[%u].Path", i));
    }
  /* what the sandbox mounts besides */
  g_ptr_array_add (dests, (gpointer) "/run/docker/plugins");
  g_ptr_array_add (names, g_strdup ("the plugin socket dir"));
  if (config->network_type[0] != '\0')
    {
      g_ptr_array_add (dests, (gpointer) "/etc/hosts");
      g_ptr_array_add (names, g_strdup ("the host's /etc/hosts"));
      g_ptr_array_add (dests, (gpointer) "/etc/resolv.conf");
      g_ptr_array_add (names, g_strdup ("the host's /etc/resolv.conf"));
    }
  if (pd_paths_find_nested (dests, &inner, &outer))
    {
      g_autofree char *rule = NULL;
      g_autofree char *escaped = pd_escape_untrusted (dests->pdata[outer], -1);

      rule = g_strdup_printf ("is at or under %s \"%s\": mounts cannot be nested",
                              (const char *) names->pdata[outer], escaped);
      return fail_value (error, names->pdata[inner], dests->pdata[inner], rule);
    }
  return TRUE;
}

PdPluginConfig *
pd_plugin_config_new_from_data (const char *data, gsize len, GError **error)
{
  g_autoptr(PdPluginConfig) config = pd_plugin_config_new_empty ();
  g_autoptr(PjValue) root = NULL;
  PjValue *network = NULL;
  PjValue *args = NULL;
  PjValue *user = NULL;
  const char *net;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  root = pj_parse (data != NULL ? data : "", len, error);
  if (root == NULL)
    return NULL;
  if (root->kind != PJ_OBJECT)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: the top-level value must be an object, not %s",
                   pj_kind_name (root->kind));
      return NULL;
    }

  if (!get_string (root, NULL, "Description", &config->description, error) ||
      !get_string (root, NULL, "Documentation", &config->documentation, error) ||
      !parse_interface (config, root, error) ||
      !get_strv (root, NULL, "Entrypoint", &config->entrypoint, error) ||
      !get_string (root, NULL, "WorkDir", &config->workdir, error) ||
      !get_object (root, NULL, "Network", &network, error) ||
      !get_string (network, "Network", "Type", &config->network_type, error) ||
      !get_string (root, NULL, "PropagatedMount", &config->propagated_mount, error) ||
      !get_bool (root, NULL, "IpcHost", &config->ipc_host, error) ||
      !get_bool (root, NULL, "PidHost", &config->pid_host, error) ||
      !parse_list (root, NULL, "Mounts", config->mounts, (ParseItemFunc) parse_mount, error) ||
      !parse_list (root, NULL, "Env", config->env, (ParseItemFunc) parse_env, error) ||
      !get_object (root, NULL, "Args", &args, error) ||
      !get_string (args, "Args", "Name", &config->args_name, error) ||
      !get_string (args, "Args", "Description", &config->args_description, error) ||
      !get_strv (args, "Args", "Settable", &config->args_settable, error) ||
      !get_strv (args, "Args", "Value", &config->args_value, error) ||
      !parse_linux (config, root, error) ||
      !get_object (root, NULL, "User", &user, error) ||
      !get_uint32 (user, "User", "UID", &config->user_uid, error) ||
      !get_uint32 (user, "User", "GID", &config->user_gid, error) ||
      !parse_rootfs (config, root, error))
    return NULL;
  config->has_user = user != NULL;

  if (config->entrypoint[0] == NULL)
    {
      g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                           "config: Entrypoint must not be empty");
      return NULL;
    }
  /* an option-like argv[0] would be taken as an option by the sandbox launcher */
  if (config->entrypoint[0][0] == '\0' || config->entrypoint[0][0] == '-')
    {
      fail_value (error, "Entrypoint[0]", config->entrypoint[0],
                  "must not be empty or start with '-'");
      return NULL;
    }
  /* no '..', as for every other path in the config: no user of WorkDir has to wonder where
   * it resolves */
  if (config->workdir[0] != '\0' && !pd_path_is_clean_absolute (config->workdir))
    {
      fail_value (error, "WorkDir", config->workdir, "must be an absolute path without '.', '..' or empty components");
      return NULL;
    }
  if (config->propagated_mount[0] != '\0' && !pd_path_is_clean_absolute (config->propagated_mount))
    {
      fail_value (error, "PropagatedMount", config->propagated_mount,
                  "must be an absolute path without '.', '..' or empty components");
      return NULL;
    }
  net = config->network_type;
  if (!g_str_equal (net, "") && !g_str_equal (net, "host") && !g_str_equal (net, "bridge") &&
      !g_str_equal (net, "none") && !g_str_equal (net, "null"))
    {
      fail_value (error, "Network.Type", net,
                  "must be one of \"\", \"host\", \"bridge\", \"none\", \"null\"");
      return NULL;
    }
  if (!check_mounts_apart (config, error))
    return NULL;

  return g_steal_pointer (&config);
}

/* section: size bounds of a new plugin's config */

static gboolean
limit_fail_size (GError **error, const char *path, gsize len, gsize max)
{
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
               "config: %s is %" G_GSIZE_FORMAT " bytes long, more than %" G_GSIZE_FORMAT,
               path, len, max);
  return FALSE;
}

static gboolean
limit_string (const char *path, const char *value, gsize max, GError **error)
{
  gsize len = value != NULL ? strlen (value) : 0;

  return len <= max || limit_fail_size (error, path, len, max);
}

/* @strv's entries and each of them, named "@path[i]" */
static gboolean
limit_strv (const char *path, const char *const *strv, gsize max, GError **error)
{
  guint n = strv != NULL ? g_strv_length ((GStrv) strv) : 0;

  if (n > PD_CONFIG_MAX_ENTRIES)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: %s has %u entries, more than %u", path, n,
                   (guint) PD_CONFIG_MAX_ENTRIES);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    if (strlen (strv[i]) > max)
      {
        g_autofree char *item = g_strdup_printf ("%s[%u]", path, i);
        return limit_fail_size (error, item, strlen (strv[i]), max);
      }
  return TRUE;
}

static gboolean
limit_entries (const char *path, GPtrArray *array, GError **error)
{
  if (array == NULL || array->len <= PD_CONFIG_MAX_ENTRIES)
    return TRUE;
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "config: %s has %u entries, more than %u",
               path, array->len, (guint) PD_CONFIG_MAX_ENTRIES);
  return FALSE;
}

/* Name, Description and Settable of an env var, mount or device, named "@parent.Name" ... */
static gboolean
limit_settable_item (const char *parent, const char *name, const char *description,
                     const char *const *settable, GError **error)
{
  g_autofree char *name_path = g_strconcat (parent, ".Name", NULL);
  g_autofree char *description_path = g_strconcat (parent, ".Description", NULL);
  g_autofree char *settable_path = g_strconcat (parent, ".Settable", NULL);

  return limit_string (name_path, name, PD_CONFIG_NAME_MAX, error) &&
         limit_string (description_path, description, PD_CONFIG_TEXT_MAX, error) &&
         limit_strv (settable_path, settable, PD_CONFIG_NAME_MAX, error);
}

gboolean
pd_plugin_config_check_limits (const PdPluginConfig *config, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;

  g_return_val_if_fail (config != NULL, FALSE);

  if (!limit_string ("Description", config->description, PD_CONFIG_TEXT_MAX, error) ||
      !limit_string ("Documentation", config->documentation, PD_CONFIG_TEXT_MAX, error) ||
      !limit_strv ("Interface.Types", (const char *const *) config->interface_types,
                   PD_CONFIG_NAME_MAX, error) ||
      !limit_strv ("Entrypoint", (const char *const *) config->entrypoint,
                   PD_CONFIG_VALUE_MAX, error) ||
      !limit_string ("WorkDir", config->workdir, PD_CONFIG_PATH_MAX, error) ||
      !limit_string ("Network.Type", config->network_type, PD_CONFIG_NAME_MAX, error) ||
      !limit_string ("PropagatedMount", config->propagated_mount, PD_CONFIG_PATH_MAX, error) ||
      !limit_entries ("Mounts", config->mounts, error) ||
      !limit_entries ("Env", config->env, error) ||
      !limit_entries ("Linux.Devices", config->linux_devices, error) ||
      !limit_settable_item ("Args", config->args_name, config->args_description,
                            (const char *const *) config->args_settable, error) ||
      !limit_strv ("Args.Value", (const char *const *) config->args_value, PD_CONFIG_VALUE_MAX,
                   error) ||
      !limit_strv ("Linux.Capabilities", (const char *const *) config->linux_capabilities,
                   PD_CONFIG_NAME_MAX, error) ||
      !limit_string ("rootfs.type", config->rootfs_type, PD_CONFIG_NAME_MAX, error) ||
      !limit_strv ("rootfs.diff_ids", (const char *const *) config->rootfs_diff_ids,
                   PD_CONFIG_NAME_MAX, error))
    return FALSE;

  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      const PdConfigMount *m = config->mounts->pdata[i];
      g_autofree char *path = g_strdup_printf ("Mounts[%u]", i);
      g_autofree char *source = g_strconcat (path, ".Source", NULL);
      g_autofree char *destination = g_strconcat (path, ".Destination", NULL);
      g_autofree char *type = g_strconcat (path, ".Type", NULL);
      g_autofree char *options = g_strconcat (path, ".Options", NULL);

      if (!limit_settable_item (path, m->name, m->description,
                                (const char *const *) m->settable, error) ||
          !limit_string (source, m->source, PD_CONFIG_PATH_MAX, error) ||
          !limit_string (destination, m->destination, PD_CONFIG_PATH_MAX, error) ||
          !limit_string (type, m->type, PD_CONFIG_NAME_MAX, error) ||
          !limit_strv (options, (const char *const *) m->options, PD_CONFIG_NAME_MAX, error))
        return FALSE;
    }
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];
      g_autofree char *path = g_strdup_printf ("Env[%u]", i);
      g_autofree char *value = g_strconcat (path, ".Value", NULL);

      if (!limit_settable_item (path, e->name, e->description,
                                (const char *const *) e->settable, error) ||
          !limit_string (value, e->value, PD_CONFIG_VALUE_MAX, error))
        return FALSE;
    }
  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      const PdConfigDevice *d = config->linux_devices->pdata[i];
      g_autofree char *path = g_strdup_printf ("Linux.Devices[%u]", i);
      g_autofree char *device_path = g_strconcat (path, ".Path", NULL);

      if (!limit_settable_item (path, d->name, d->description,
                                (const char *const *) d->settable, error) ||
          !limit_string (device_path, d->path, PD_CONFIG_PATH_MAX, error))
        return FALSE;
    }

  /* and the whole, as Inspect and the record show it */
  data = pd_plugin_config_to_data (config, &len);
  if (len > PD_CONFIG_MAX_SIZE)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: the config is %" G_GSIZE_FORMAT " bytes long as JSON, more than %u",
                   len, (guint) PD_CONFIG_MAX_SIZE);
      return FALSE;
    }
  return TRUE;
}

PdPluginConfig *
pd_plugin_config_new_for_install (const char *data, gsize len, GError **error)
{
  g_autoptr(PdPluginConfig) config = pd_plugin_config_new_from_data (data, len, error);

  if (config == NULL || !pd_plugin_config_check_limits (config, error))
    return NULL;
  return g_steal_pointer (&config);
}

gboolean
pd_plugin_device_path_is_valid (const char *path)
{
  return path != NULL && g_str_has_prefix (path, "/dev/") && path[5] != '\0' &&
         !path_has_dotdot (path) && !pd_string_has_control_chars (path);
}

void
pd_plugin_config_set_diff_ids (PdPluginConfig *config, const char *const *diff_ids)
{
  g_return_if_fail (config != NULL);

  g_free (config->rootfs_type);
  config->rootfs_type = g_strdup ("layers");
  g_strfreev (config->rootfs_diff_ids);
  config->rootfs_diff_ids = diff_ids != NULL ? g_strdupv ((GStrv) diff_ids) : g_new0 (char *, 1);
}

gboolean
pd_plugin_config_has_capability (const PdPluginConfig *config, const char *capability)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (capability != NULL, FALSE);

  for (guint i = 0; config->interface_types != NULL && config->interface_types[i] != NULL; i++)
    {
      const char *cap;
      gsize cap_len;

      if (interface_type_parse (config->interface_types[i], &cap, &cap_len) &&
          cap_len == strlen (capability) && g_ascii_strncasecmp (cap, capability, cap_len) == 0)
        return TRUE;
    }
  return FALSE;
}

/* section: serialising
 *
 * Keys and their order are those of Go's encoder for moby's plugin.Config
 * (api/types/plugin/plugin.go, go-swagger generated, so alphabetical within each struct).
 * One deliberate difference: Go writes nil slices as null, and configs Docker loads from a
 * config.json without a key carry nil slices; we always write [] instead, which every Docker
 * client reads the same way and which keeps "required" keys typed as arrays. */

static void
add_strv (JsonBuilder *b, const char *key, const char *const *strv)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (b, strv[i]);
  json_builder_end_array (b);
}

static void
add_string (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value != NULL ? value : "");
}

static void
add_nullable_string (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_bool (JsonBuilder *b, const char *key, gboolean value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_boolean_value (b, value);
}

static void
add_mount (JsonBuilder *b, const PdConfigMount *m)
{
  json_builder_begin_object (b);
  add_string (b, "Description", m->description);
  add_string (b, "Destination", m->destination);
  add_string (b, "Name", m->name);
  add_strv (b, "Options", (const char *const *) m->options);
  add_strv (b, "Settable", (const char *const *) m->settable);
  add_nullable_string (b, "Source", m->source);
  add_string (b, "Type", m->type);
  json_builder_end_object (b);
}

static void
add_device (JsonBuilder *b, const PdConfigDevice *d)
{
  json_builder_begin_object (b);
  add_string (b, "Description", d->description);
  add_string (b, "Name", d->name);
  add_nullable_string (b, "Path", d->path);
  add_strv (b, "Settable", (const char *const *) d->settable);
  json_builder_end_object (b);
}

static void
add_env (JsonBuilder *b, const PdConfigEnv *e)
{
  json_builder_begin_object (b);
  add_string (b, "Description", e->description);
  add_string (b, "Name", e->name);
  add_strv (b, "Settable", (const char *const *) e->settable);
  add_nullable_string (b, "Value", e->value);
  json_builder_end_object (b);
}

JsonNode *
pd_plugin_config_to_json (const PdPluginConfig *config)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  g_return_val_if_fail (config != NULL, NULL);

  json_builder_begin_object (b);

  json_builder_set_member_name (b, "Args");
  json_builder_begin_object (b);
  add_string (b, "Description", config->args_description);
  add_string (b, "Name", config->args_name);
  add_strv (b, "Settable", (const char *const *) config->args_settable);
  add_strv (b, "Value", (const char *const *) config->args_value);
  json_builder_end_object (b);

  add_string (b, "Description", config->description);
  /* DockerVersion (omitempty, deprecated and since removed from the type) is never written */
  add_string (b, "Documentation", config->documentation);
  add_strv (b, "Entrypoint", (const char *const *) config->entrypoint);

  json_builder_set_member_name (b, "Env");
  json_builder_begin_array (b);
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    add_env (b, config->env->pdata[i]);
  json_builder_end_array (b);

  json_builder_set_member_name (b, "Interface");
  json_builder_begin_object (b);
  /* omitempty in Go */
  if (config->protocol_scheme != NULL && config->protocol_scheme[0] != '\0')
    add_string (b, "ProtocolScheme", config->protocol_scheme);
  add_string (b, "Socket", config->interface_socket);
  add_strv (b, "Types", (const char *const *) config->interface_types);
  json_builder_end_object (b);

  add_bool (b, "IpcHost", config->ipc_host);

  json_builder_set_member_name (b, "Linux");
  json_builder_begin_object (b);
  add_bool (b, "AllowAllDevices", config->linux_allow_all_devices);
  add_strv (b, "Capabilities", (const char *const *) config->linux_capabilities);
  json_builder_set_member_name (b, "Devices");
  json_builder_begin_array (b);
  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    add_device (b, config->linux_devices->pdata[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "Mounts");
  json_builder_begin_array (b);
  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    add_mount (b, config->mounts->pdata[i]);
  json_builder_end_array (b);

  json_builder_set_member_name (b, "Network");
  json_builder_begin_object (b);
  add_string (b, "Type", config->network_type);
  json_builder_end_object (b);

  add_bool (b, "PidHost", config->pid_host);
  add_string (b, "PropagatedMount", config->propagated_mount);

  /* "omitempty" never omits a struct in Go, so User is always there; its fields are omitempty */
  json_builder_set_member_name (b, "User");
  json_builder_begin_object (b);
  if (config->user_gid != 0)
    {
      json_builder_set_member_name (b, "GID");
      json_builder_add_int_value (b, config->user_gid);
    }
  if (config->user_uid != 0)
    {
      json_builder_set_member_name (b, "UID");
      json_builder_add_int_value (b, config->user_uid);
    }
  json_builder_end_object (b);

  add_string (b, "WorkDir", config->workdir);

  if (config->rootfs_type != NULL || config->rootfs_diff_ids != NULL)
    {
      json_builder_set_member_name (b, "rootfs");
      json_builder_begin_object (b);
      add_strv (b, "diff_ids", (const char *const *) config->rootfs_diff_ids);
      if (config->rootfs_type != NULL && config->rootfs_type[0] != '\0')
        add_string (b, "type", config->rootfs_type);
      json_builder_end_object (b);
    }

  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Go's string escaping (encoding/json with HTML escaping on, as json.Marshal does) */
static void
go_json_append_string (GString *out, const char *s)
{
  static const char hex[] = "0123456789abcdef";

  g_string_append_c (out, '"');
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '<':
        case '>':
        case '&':
          g_string_append_printf (out, "\\u00%c%c", hex[c >> 4], hex[c & 0xf]);
          break;
        case 0x2028:
          g_string_append (out, "\\u2028");
          break;
        case 0x2029:
          g_string_append (out, "\\u2029");
          break;
        default:
          if (c < 0x20)
            g_string_append_printf (out, "\\u00%c%c", hex[c >> 4], hex[c & 0xf]);
          else
            g_string_append_len (out, p, g_utf8_next_char (p) - p);
        }
    }
  g_string_append_c (out, '"');
}

static void
go_json_append_node (GString *out, JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;
        gboolean first = TRUE;

        g_string_append_c (out, '{');
        /* json-glib iterates in insertion order, which is the order we built */
        json_object_iter_init_ordered (&iter, json_node_get_object (node));
        while (json_object_iter_next_ordered (&iter, &name, &member))
          {
            if (!first)
              g_string_append_c (out, ',');
            first = FALSE;
            go_json_append_string (out, name);
            g_string_append_c (out, ':');
            go_json_append_node (out, member);
          }
        g_string_append_c (out, '}');
        break;
      }
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);

        g_string_append_c (out, '[');
        for (guint i = 0; i < json_array_get_length (array); i++)
          {
            if (i > 0)
              g_string_append_c (out, ',');
            go_json_append_node (out, json_array_get_element (array, i));
          }
        g_string_append_c (out, ']');
        break;
      }
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_STRING:
          go_json_append_string (out, json_node_get_string (node));
          break;
        case G_TYPE_BOOLEAN:
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_INT64:
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
          break;
        default:
          {
            char buf[G_ASCII_DTOSTR_BUF_SIZE];
            g_string_append (out, g_ascii_dtostr (buf, sizeof buf, json_node_get_double (node)));
          }
        }
      break;
    case JSON_NODE_NULL:
    default:
      g_string_append (out, "null");
      break;
    }
}

char *
pd_plugin_config_to_data (const PdPluginConfig *config, gsize *len)
{
  g_autoptr(JsonNode) node = NULL;
  GString *out;

  g_return_val_if_fail (config != NULL, NULL);

  node = pd_plugin_config_to_json (config);
  out = g_string_new (NULL);
  go_json_append_node (out, node);
  if (len != NULL)
    *len = out->len;
  return g_string_free (out, FALSE);
}

char *
pd_json_to_go_data (JsonNode *node, gsize *len)
{
  GString *out;

  g_return_val_if_fail (node != NULL, NULL);

  out = g_string_new (NULL);
  go_json_append_node (out, node);
  if (len != NULL)
    *len = out->len;
  return g_string_free (out, FALSE);
}

/* section: privileges */

PdPrivilege *
pd_privilege_new (const char *name, const char *description, const char *const *values)
{
  PdPrivilege *privilege = g_new0 (PdPrivilege, 1);

  privilege->name = g_strdup (name != NULL ? name : "");
  privilege->description = g_strdup (description != NULL ? description : "");
  privilege->values = values != NULL ? g_strdupv ((GStrv) values) : g_new0 (char *, 1);
  return privilege;
}

void
pd_privilege_free (PdPrivilege *privilege)
{
  if (privilege == NULL)
    return;
  g_free (privilege->name);
  g_free (privilege->description);
  g_strfreev (privilege->values);
  g_free (privilege);
}

/* the settings entry that overrides config entry @index: the same index when the name agrees
 * (names may be empty or repeated), else the first entry of that name */
static gint
settings_index_for (GPtrArray *settings_items, gsize name_offset, const char *name, guint index)
{
  if (settings_items == NULL)
    return -1;
  if (index < settings_items->len &&
      g_strcmp0 (G_STRUCT_MEMBER (char *, settings_items->pdata[index], name_offset), name) == 0)
    return (gint) index;
  for (guint i = 0; i < settings_items->len; i++)
    if (g_strcmp0 (G_STRUCT_MEMBER (char *, settings_items->pdata[i], name_offset), name) == 0)
      return (gint) i;
  return -1;
}

static const char *
effective_mount_source (const PdPluginConfig *config, const PdPluginSettings *settings, guint i)
{
  const PdConfigMount *m = config->mounts->pdata[i];
  gint j;

  if (settings == NULL)
    return m->source;
  j = settings_index_for (settings->mounts, G_STRUCT_OFFSET (PdConfigMount, name), m->name, i);
  return j >= 0 ? ((PdConfigMount *) settings->mounts->pdata[j])->source : m->source;
}

static const char *
effective_device_path (const PdPluginConfig *config, const PdPluginSettings *settings, guint i)
{
  const PdConfigDevice *d = config->linux_devices->pdata[i];
  gint j;

  if (settings == NULL)
    return d->path;
  j = settings_index_for (settings->devices, G_STRUCT_OFFSET (PdConfigDevice, name), d->name, i);
  return j >= 0 ? ((PdConfigDevice *) settings->devices->pdata[j])->path : d->path;
}

GPtrArray *
pd_privileges_compute (const PdPluginConfig *config, const PdPluginSettings *settings)
{
  GPtrArray *privileges = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
  const char *net;

  g_return_val_if_fail (config != NULL, privileges);

  /* Docker's computePrivileges, in its order; "none" does count, as in Docker */
  net = config->network_type != NULL ? config->network_type : "";
  if (!g_str_equal (net, "") && !g_str_equal (net, "null") && !g_str_equal (net, "bridge"))
    {
      const char *values[] = { net, NULL };
      g_ptr_array_add (privileges, pd_privilege_new ("network", "permissions to access a network",
                                                     values));
    }
  if (config->ipc_host)
    {
      const char *values[] = { "true", NULL };
      g_ptr_array_add (privileges, pd_privilege_new ("host ipc namespace",
                                                     "allow access to host ipc namespace", values));
    }
  if (config->pid_host)
    {
      const char *values[] = { "true", NULL };
      g_ptr_array_add (privileges, pd_privilege_new ("host pid namespace",
                                                     "allow access to host pid namespace", values));
    }
  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      const char *source = effective_mount_source (config, settings, i);
      if (source != NULL)
        {
          const char *values[] = { source, NULL };
          g_ptr_array_add (privileges, pd_privilege_new ("mount", "host path to mount", values));
        }
    }
  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      const char *path = effective_device_path (config, settings, i);
      if (path != NULL)
        {
          const char *values[] = { path, NULL };
          g_ptr_array_add (privileges, pd_privilege_new ("device", "host device to access",
                                                         values));
        }
    }
  if (config->linux_allow_all_devices)
    {
      const char *values[] = { "true", NULL };
      g_ptr_array_add (privileges, pd_privilege_new ("allow-all-devices",
                                                     "allow 'rwm' access to all devices", values));
    }
  if (config->linux_capabilities != NULL && config->linux_capabilities[0] != NULL)
    g_ptr_array_add (privileges,
                     pd_privilege_new ("capabilities", "list of additional capabilities required",
                                       (const char *const *) config->linux_capabilities));
  return privileges;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static int
compare_strv (const char *const *a, const char *const *b)
{
  guint i;

  for (i = 0; a[i] != NULL && b[i] != NULL; i++)
    {
      int c = strcmp (a[i], b[i]);
      if (c != 0)
        return c;
    }
  if (a[i] == NULL && b[i] == NULL)
    return 0;
  return a[i] == NULL ? -1 : 1;
}

static int
compare_privileges (gconstpointer a, gconstpointer b)
{
  const PdPrivilege *pa = *(PdPrivilege *const *) a;
  const PdPrivilege *pb = *(PdPrivilege *const *) b;
  int c = strcmp (pa->name, pb->name);

  if (c != 0)
    return c;
  return compare_strv ((const char *const *) pa->values, (const char *const *) pb->values);
}

/* a sorted deep copy: values sorted, entries sorted by name then values, so that equal sets
 * compare equal whatever order the client sent them in */
static GPtrArray *
privileges_normalise (GPtrArray *privileges)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);

  for (guint i = 0; privileges != NULL && i < privileges->len; i++)
    {
      const PdPrivilege *p = privileges->pdata[i];
      PdPrivilege *copy = pd_privilege_new (p->name, NULL, (const char *const *) p->values);

      qsort (copy->values, g_strv_length (copy->values), sizeof (char *), compare_strings);
      g_ptr_array_add (out, copy);
    }
  g_ptr_array_sort (out, compare_privileges);
  return out;
}

gboolean
pd_privileges_equal (GPtrArray *a, GPtrArray *b)
{
  g_autoptr(GPtrArray) na = NULL;
  g_autoptr(GPtrArray) nb = NULL;

  if ((a != NULL ? a->len : 0) != (b != NULL ? b->len : 0))
    return FALSE;
  na = privileges_normalise (a);
  nb = privileges_normalise (b);
  /* every entry, from index 0: Docker's loop started at 1 (CVE-2026-33997) */
  for (guint i = 0; i < na->len; i++)
    if (compare_privileges (&na->pdata[i], &nb->pdata[i]) != 0)
      return FALSE;
  return TRUE;
}

char *
pd_privileges_to_string (GPtrArray *privileges)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; privileges != NULL && i < privileges->len; i++)
    {
      const PdPrivilege *p = privileges->pdata[i];
      /* whole, not cut: this is what a user consents to, and what a call compares to what was
       * authorized */
      g_autofree char *name = pd_escape_untrusted_full (p->name, -1);

      if (i > 0)
        g_string_append (out, "; ");
      g_string_append_printf (out, "%s: ", name);
      /* values come from an untrusted config and end up in polkit dialogs and logs */
      for (guint j = 0; p->values != NULL && p->values[j] != NULL; j++)
        {
          g_autofree char *value = pd_escape_untrusted_full (p->values[j], -1);
          if (j > 0)
            g_string_append (out, ", ");
          g_string_append (out, value);
        }
    }
  return g_string_free (out, FALSE);
}

GVariant *
pd_privileges_to_variant (GPtrArray *privileges)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssas)"));
  for (guint i = 0; privileges != NULL && i < privileges->len; i++)
    {
      const PdPrivilege *privilege = privileges->pdata[i];
      const char *const empty[] = { NULL };

      g_variant_builder_add (&builder, "(ss^as)",
                             privilege->name != NULL ? privilege->name : "",
                             privilege->description != NULL ? privilege->description : "",
                             privilege->values != NULL ? (const char *const *) privilege->values
                                                       : empty);
    }
  return g_variant_builder_end (&builder);
}

GPtrArray *
pd_privileges_new_from_variant (GVariant *variant)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
  GVariantIter iter;
  const char *name, *description;
  const char **values = NULL;

  g_return_val_if_fail (variant != NULL, out);
  g_return_val_if_fail (g_variant_is_of_type (variant, G_VARIANT_TYPE ("a(ssas)")), out);

  g_variant_iter_init (&iter, variant);
  while (g_variant_iter_next (&iter, "(&s&s^a&s)", &name, &description, &values))
    {
      g_ptr_array_add (out, pd_privilege_new (name, description, values));
      g_clear_pointer (&values, g_free);
    }
  return out;
}

/* section: settings */

static PdPluginSettings *
pd_plugin_settings_new_empty (void)
{
  PdPluginSettings *settings = g_new0 (PdPluginSettings, 1);

  settings->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_config_mount_free);
  settings->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_config_device_free);
  return settings;
}

PdPluginSettings *
pd_plugin_settings_new_from_config (const PdPluginConfig *config)
{
  PdPluginSettings *settings;
  g_autoptr(GStrvBuilder) env = g_strv_builder_new ();

  g_return_val_if_fail (config != NULL, NULL);

  /* deep copies: Docker shared the Source/Path pointers with the config, so a Set changed the
   * config too, until the first reload split them again */
  settings = g_new0 (PdPluginSettings, 1);
  settings->mounts = ptr_array_copy (config->mounts, mount_copy_func,
                                     (GDestroyNotify) pd_config_mount_free);
  settings->devices = ptr_array_copy (config->linux_devices, device_copy_func,
                                      (GDestroyNotify) pd_config_device_free);
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];
      if (e->value != NULL)
        {
          g_autofree char *entry = g_strdup_printf ("%s=%s", e->name, e->value);
          g_strv_builder_add (env, entry);
        }
    }
  settings->env = g_strv_builder_end (env);
  settings->args = config->args_value != NULL ? g_strdupv (config->args_value) : g_new0 (char *, 1);
  return settings;
}

PdPluginSettings *
pd_plugin_settings_copy (const PdPluginSettings *settings)
{
  PdPluginSettings *copy;

  g_return_val_if_fail (settings != NULL, NULL);

  copy = g_new0 (PdPluginSettings, 1);
  copy->mounts = ptr_array_copy (settings->mounts, mount_copy_func,
                                 (GDestroyNotify) pd_config_mount_free);
  copy->devices = ptr_array_copy (settings->devices, device_copy_func,
                                  (GDestroyNotify) pd_config_device_free);
  copy->env = settings->env != NULL ? g_strdupv (settings->env) : g_new0 (char *, 1);
  copy->args = settings->args != NULL ? g_strdupv (settings->args) : g_new0 (char *, 1);
  return copy;
}

GStrv
pd_plugin_settings_dup_env_names (const PdPluginSettings *settings)
{
  GPtrArray *names = g_ptr_array_new ();

  g_return_val_if_fail (settings != NULL, NULL);

  for (guint i = 0; settings->env != NULL && settings->env[i] != NULL; i++)
    g_ptr_array_add (names, g_strndup (settings->env[i], strcspn (settings->env[i], "=")));
  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_free (names, FALSE);
}

PdPluginSettings *
pd_plugin_settings_copy_hidden (const PdPluginSettings *settings)
{
  PdPluginSettings *copy;

  g_return_val_if_fail (settings != NULL, NULL);

  copy = pd_plugin_settings_copy (settings);
  for (guint i = 0; copy->env[i] != NULL; i++)
    {
      gsize name_len = strcspn (copy->env[i], "=");

      char *hidden;

      /* an entry without "=" has no value to hide */
      if (copy->env[i][name_len] == '\0')
        continue;
      hidden = g_strdup_printf ("%.*s=%s", (int) name_len, copy->env[i], PD_HIDDEN_VALUE);
      g_free (copy->env[i]);
      copy->env[i] = hidden;
    }
  for (guint i = 0; copy->args[i] != NULL; i++)
    {
      g_free (copy->args[i]);
      copy->args[i] = g_strdup (PD_HIDDEN_VALUE);
    }
  return copy;
}

void
pd_plugin_settings_free (PdPluginSettings *settings)
{
  if (settings == NULL)
    return;
  g_clear_pointer (&settings->mounts, g_ptr_array_unref);
  g_clear_pointer (&settings->devices, g_ptr_array_unref);
  g_strfreev (settings->env);
  g_strfreev (settings->args);
  g_free (settings);
}

/* Go's order for plugin.Settings: Args, Devices, Env, Mounts */
JsonNode *
pd_plugin_settings_to_json (const PdPluginSettings *settings)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  g_return_val_if_fail (settings != NULL, NULL);

  json_builder_begin_object (b);
  add_strv (b, "Args", (const char *const *) settings->args);
  json_builder_set_member_name (b, "Devices");
  json_builder_begin_array (b);
  for (guint i = 0; settings->devices != NULL && i < settings->devices->len; i++)
    add_device (b, settings->devices->pdata[i]);
  json_builder_end_array (b);
  add_strv (b, "Env", (const char *const *) settings->env);
  json_builder_set_member_name (b, "Mounts");
  json_builder_begin_array (b);
  for (guint i = 0; settings->mounts != NULL && i < settings->mounts->len; i++)
    add_mount (b, settings->mounts->pdata[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* settings are read back from our own records, which json-glib already parsed; still check
 * every type, since a record on disk may have been damaged or edited */

static JsonNode *
json_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  g_autoptr(GList) members = NULL;

  if (node != NULL)
    return node;
  members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    if (g_ascii_strcasecmp (l->data, name) == 0)
      return json_object_get_member (object, l->data);
  return NULL;
}

static gboolean
settings_fail (GError **error, const char *path, const char *expected)
{
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "settings: %s must be %s", path, expected);
  return FALSE;
}

static gboolean
json_get_string (JsonObject *object, const char *parent, const char *name, gboolean nullable,
                 char **out, GError **error)
{
  JsonNode *node = json_member (object, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!nullable)
        *out = g_strdup ("");
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_autofree char *path = path_join (parent, name);
      return settings_fail (error, path, nullable ? "a string or null" : "a string");
    }
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
json_get_strv (JsonObject *object, const char *parent, const char *name, GStrv *out,
               GError **error)
{
  JsonNode *node = json_member (object, name);
  g_autofree char *path = path_join (parent, name);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  *out = NULL;
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      JsonArray *array;

      if (!JSON_NODE_HOLDS_ARRAY (node))
        return settings_fail (error, path, "an array of strings");
      array = json_node_get_array (node);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *item = json_array_get_element (array, i);
          if (!JSON_NODE_HOLDS_VALUE (item) || json_node_get_value_type (item) != G_TYPE_STRING)
            return settings_fail (error, path, "an array of strings");
          g_strv_builder_add (builder, json_node_get_string (item));
        }
    }
  *out = g_strv_builder_end (builder);
  return TRUE;
}

static JsonArray *
json_get_array (JsonObject *object, const char *name, gboolean *ok)
{
  JsonNode *node = json_member (object, name);

  *ok = TRUE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      *ok = FALSE;
      return NULL;
    }
  return json_node_get_array (node);
}

PdPluginSettings *
pd_plugin_settings_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_empty ();
  JsonObject *root;
  JsonArray *mounts, *devices;
  gboolean ok;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      settings_fail (error, "the top-level value", "an object");
      return NULL;
    }
  root = json_node_get_object (node);

  if (!json_get_strv (root, NULL, "Args", &settings->args, error) ||
      !json_get_strv (root, NULL, "Env", &settings->env, error))
    return NULL;

  mounts = json_get_array (root, "Mounts", &ok);
  if (!ok)
    {
      settings_fail (error, "Mounts", "an array");
      return NULL;
    }
  for (guint i = 0; mounts != NULL && i < json_array_get_length (mounts); i++)
    {
      g_autofree char *path = g_strdup_printf ("Mounts[%u]", i);
      g_autoptr(PdConfigMount) m = g_new0 (PdConfigMount, 1);
      JsonNode *item = json_array_get_element (mounts, i);
      JsonObject *o;

      if (!JSON_NODE_HOLDS_OBJECT (item))
        {
          settings_fail (error, path, "an object");
          return NULL;
        }
      o = json_node_get_object (item);
      if (!json_get_string (o, path, "Name", FALSE, &m->name, error) ||
          !json_get_string (o, path, "Description", FALSE, &m->description, error) ||
          !json_get_strv (o, path, "Settable", &m->settable, error) ||
          !json_get_string (o, path, "Source", TRUE, &m->source, error) ||
          !json_get_string (o, path, "Destination", FALSE, &m->destination, error) ||
          !json_get_string (o, path, "Type", FALSE, &m->type, error) ||
          !json_get_strv (o, path, "Options", &m->options, error))
        return NULL;
      g_ptr_array_add (settings->mounts, g_steal_pointer (&m));
    }

  devices = json_get_array (root, "Devices", &ok);
  if (!ok)
    {
      settings_fail (error, "Devices", "an array");
      return NULL;
    }
  for (guint i = 0; devices != NULL && i < json_array_get_length (devices); i++)
    {
      g_autofree char *path = g_strdup_printf ("Devices[%u]", i);
      g_autoptr(PdConfigDevice) d = g_new0 (PdConfigDevice, 1);
      JsonNode *item = json_array_get_element (devices, i);
      JsonObject *o;

      if (!JSON_NODE_HOLDS_OBJECT (item))
        {
          settings_fail (error, path, "an object");
          return NULL;
        }
      o = json_node_get_object (item);
      if (!json_get_string (o, path, "Name", FALSE, &d->name, error) ||
          !json_get_string (o, path, "Description", FALSE, &d->description, error) ||
          !json_get_strv (o, path, "Settable", &d->settable, error) ||
          !json_get_string (o, path, "Path", TRUE, &d->path, error))
        return NULL;
      g_ptr_array_add (settings->devices, g_steal_pointer (&d));
    }

  return g_steal_pointer (&settings);
}

/* section: Docker's Set grammar (daemon/pkg/plugin/v2/settable.go) */

#define SET_ERR_INVALID_FORMAT "invalid format, must be <name>[.<field>][=<value>]"
#define SET_ERR_MULTIPLE       "multiple fields are settable, one must be specified"

static const char *const allowed_env[] = { "value", NULL };
static const char *const allowed_args[] = { "value", NULL };
static const char *const allowed_devices[] = { "path", NULL };
static const char *const allowed_mounts[] = { "source", NULL };

/* Go's %q for the strings we quote: printable text as is, the rest escaped; cut (and marked)
 * after PD_UNTRUSTED_QUOTE_MAX bytes, since the text is the caller's */
static char *
go_quote (const char *s)
{
  GString *out = g_string_new ("\"");
  const char *p = s;

  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (out->len > PD_UNTRUSTED_QUOTE_MAX)
        {
          g_string_append (out, PD_CUT_MARK);
          break;
        }
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02x", (guchar) *p);
          p++;
          continue;
        }
      switch (c)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\a': g_string_append (out, "\\a"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\v': g_string_append (out, "\\v"); break;
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (out, "\\x%02x", c);
          else if (!g_unichar_isprint (c))
            g_string_append_printf (out, c > 0xffff ? "\\U%08x" : "\\u%04x", c);
          else
            g_string_append_unichar (out, c);
        }
      p = g_utf8_next_char (p);
    }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

typedef struct {
  char *name;
  char *field;   /* "" when none was given */
  const char *value;
} Settable;

static void
settable_clear (Settable *set)
{
  g_free (set->name);
  g_free (set->field);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Settable, settable_clear)

static char *
settable_pretty_name (const Settable *set)
{
  if (set->field[0] != '\0')
    return g_strdup_printf ("%s.%s", set->name, set->field);
  return g_strdup (set->name);
}

/* Docker isSettable: with no field, a single settable field is implied; the field must be both
 * allowed for the kind and listed in the config's Settable */
static gboolean
settable_check (Settable *set, const char *const *allowed, const char *const *settable,
                GError **error)
{
  guint n_settable = settable != NULL ? g_strv_length ((GStrv) settable) : 0;

  if (set->field[0] == '\0')
    {
      if (n_settable == 1)
        {
          g_free (set->field);
          set->field = g_strdup (settable[0]);
        }
      else if (n_settable > 1)
        {
          g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS, SET_ERR_MULTIPLE);
          return FALSE;
        }
    }
  if (!g_strv_contains (allowed, set->field) ||
      settable == NULL || !g_strv_contains (settable, set->field))
    {
      g_autofree char *pretty = settable_pretty_name (set);
      g_autofree char *quoted = go_quote (pretty);

      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "%s is not settable", quoted);
      return FALSE;
    }
  return TRUE;
}

static void
settings_env_update (PdPluginSettings *settings, const char *name, const char *value)
{
  gsize name_len = strlen (name);
  guint n = settings->env != NULL ? g_strv_length (settings->env) : 0;

  for (guint i = 0; i < n; i++)
    {
      const char *e = settings->env[i];
      const char *eq = strchr (e, '=');
      gsize len = eq != NULL ? (gsize) (eq - e) : strlen (e);

      if (len == name_len && strncmp (e, name, len) == 0)
        {
          g_free (settings->env[i]);
          settings->env[i] = g_strdup_printf ("%s=%s", name, value);
          return;
        }
    }
  settings->env = g_renew (char *, settings->env, n + 2);
  settings->env[n] = g_strdup_printf ("%s=%s", name, value);
  settings->env[n + 1] = NULL;
}

static gboolean
settings_apply_one (PdPluginSettings *settings, const PdPluginConfig *config, const char *key,
                    const char *value, GError **error)
{
  g_auto(Settable) set = { NULL, NULL, value };
  const char *dot;
  const char *rule;

  /* keys arrive already split from their values; one that still holds a '=' (or is empty) could
   * only have come from a malformed "<name>[.<field>][=<value>]" */
  if (key[0] == '\0' || strchr (key, '=') != NULL)
    {
      g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS, SET_ERR_INVALID_FORMAT);
      return FALSE;
    }
  dot = strrchr (key, '.');
  if (dot != NULL && dot > key)
    {
      set.name = g_strndup (key, dot - key);
      set.field = g_strdup (dot + 1);
    }
  else
    {
      set.name = g_strdup (key);
      set.field = g_strdup ("");
    }

  /* resolution order as in Docker: env, mounts, devices, args */
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];
      if (!g_str_equal (e->name, set.name))
        continue;
      if (!settable_check (&set, allowed_env, (const char *const *) e->settable, error))
        return FALSE;
      settings_env_update (settings, set.name, value);
      return TRUE;
    }

  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      const PdConfigMount *m = config->mounts->pdata[i];
      PdConfigMount *target;
      gint j;

      if (!g_str_equal (m->name, set.name))
        continue;
      if (!settable_check (&set, allowed_mounts, (const char *const *) m->settable, error))
        return FALSE;
      if (m->source == NULL)
        {
          g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                               "plugin config has no mount source");
          return FALSE;
        }
      /* Docker accepts anything here; the config rule for mount sources must hold for user
       * settings as well, since the new source is what the privileges then grant */
      rule = mount_source_check (m, value);
      if (rule != NULL)
        {
          g_autofree char *quoted = go_quote (value);
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "mount source %s %s", quoted, rule);
          return FALSE;
        }
      j = settings_index_for (settings->mounts, G_STRUCT_OFFSET (PdConfigMount, name), m->name, i);
      if (j < 0)
        {
          g_ptr_array_add (settings->mounts, pd_config_mount_copy (m));
          j = settings->mounts->len - 1;
        }
      target = settings->mounts->pdata[j];
      g_free (target->source);
      target->source = g_strdup (value);
      return TRUE;
    }

  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      const PdConfigDevice *d = config->linux_devices->pdata[i];
      PdConfigDevice *target;
      gint j;

      if (!g_str_equal (d->name, set.name))
        continue;
      if (!settable_check (&set, allowed_devices, (const char *const *) d->settable, error))
        return FALSE;
      if (d->path == NULL)
        {
          g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                               "plugin config has no device path");
          return FALSE;
        }
      /* Docker accepts anything here and fails at enable time; the config rule (devices live
       * under /dev) must hold for user settings as well */
      rule = device_path_check (value);
      if (rule != NULL)
        {
          g_autofree char *quoted = go_quote (value);
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "device path %s %s", quoted, rule);
          return FALSE;
        }
      j = settings_index_for (settings->devices, G_STRUCT_OFFSET (PdConfigDevice, name),
                              d->name, i);
      if (j < 0)
        {
          g_ptr_array_add (settings->devices, pd_config_device_copy (d));
          j = settings->devices->len - 1;
        }
      target = settings->devices->pdata[j];
      g_free (target->path);
      target->path = g_strdup (value);
      return TRUE;
    }

  if (config->args_name != NULL && g_str_equal (config->args_name, set.name))
    {
      if (!settable_check (&set, allowed_args, (const char *const *) config->args_settable, error))
        return FALSE;
      g_strfreev (settings->args);
      /* Go's strings.Split: single spaces, and "" gives one empty element */
      if (value[0] == '\0')
        {
          settings->args = g_new0 (char *, 2);
          settings->args[0] = g_strdup ("");
        }
      else
        settings->args = g_strsplit (value, " ", -1);
      return TRUE;
    }

  {
    g_autofree char *quoted = go_quote (set.name);
    g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                 "setting %s not found in the plugin configuration", quoted);
  }
  return FALSE;
}

/* section: bounds of the settings */

static gboolean
check_change (const char *key, const char *value, GError **error)
{
  gsize key_len = strlen (key);
  gsize value_len = value != NULL ? strlen (value) : 0;

  if (key_len > PD_SETTING_KEY_MAX)
    {
      g_autofree char *quoted = go_quote (key);
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "setting name %s is %" G_GSIZE_FORMAT " bytes long, more than %u", quoted,
                   key_len, (guint) PD_SETTING_KEY_MAX);
      return FALSE;
    }
  if (value_len > PD_SETTING_VALUE_MAX)
    {
      g_autofree char *quoted = go_quote (key);
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the value of %s is %" G_GSIZE_FORMAT " bytes long, more than %u", quoted,
                   value_len, (guint) PD_SETTING_VALUE_MAX);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_n_changes (gsize n, GError **error)
{
  if (n <= PD_SETTINGS_MAX_CHANGES)
    return TRUE;
  g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
               "%" G_GSIZE_FORMAT " settings in one call, more than %u", n,
               (guint) PD_SETTINGS_MAX_CHANGES);
  return FALSE;
}

GHashTable *
pd_settings_changes_new_from_variant (GVariant *variant, GError **error)
{
  g_autoptr(GHashTable) changes = NULL;
  GVariantIter iter;
  const char *key, *value;

  g_return_val_if_fail (g_variant_is_of_type (variant, G_VARIANT_TYPE ("a{ss}")), NULL);

  /* the count first: a huge array is refused without a look at its entries */
  if (!check_n_changes (g_variant_n_children (variant), error))
    return NULL;
  changes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_variant_iter_init (&iter, variant);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
    {
      if (!check_change (key, value, error))
        return NULL;
      g_hash_table_replace (changes, g_strdup (key), g_strdup (value));
    }
  return g_steal_pointer (&changes);
}

static gsize
strv_size (const char *const *strv)
{
  gsize size = 0;

  for (gsize i = 0; strv != NULL && strv[i] != NULL; i++)
    size += strlen (strv[i]);
  return size;
}

gsize
pd_plugin_settings_get_size (const PdPluginSettings *settings)
{
  gsize size = strv_size ((const char *const *) settings->env) +
               strv_size ((const char *const *) settings->args);

  for (guint i = 0; settings->mounts != NULL && i < settings->mounts->len; i++)
    {
      const PdConfigMount *m = settings->mounts->pdata[i];
      size += m->source != NULL ? strlen (m->source) : 0;
    }
  for (guint i = 0; settings->devices != NULL && i < settings->devices->len; i++)
    {
      const PdConfigDevice *d = settings->devices->pdata[i];
      size += d->path != NULL ? strlen (d->path) : 0;
    }
  return size;
}

PdPluginSettings *
pd_plugin_settings_apply (const PdPluginSettings *settings, const PdPluginConfig *config,
                          GHashTable *changes, GError **error)
{
  g_autoptr(PdPluginSettings) result = NULL;
  g_autofree gpointer *keys = NULL;
  guint n_keys = 0;
  gsize size;

  g_return_val_if_fail (settings != NULL, NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* all or nothing: work on a copy and hand it back only when every change applied */
  result = pd_plugin_settings_copy (settings);
  if (changes == NULL)
    return g_steal_pointer (&result);

  /* the bounds hold whatever way the changes came in */
  if (!check_n_changes (g_hash_table_size (changes), error))
    return NULL;
  keys = g_hash_table_get_keys_as_array (changes, &n_keys);
  qsort (keys, n_keys, sizeof (gpointer), compare_strings);
  for (guint i = 0; i < n_keys; i++)
    if (!check_change (keys[i], g_hash_table_lookup (changes, keys[i]), error))
      return NULL;
  for (guint i = 0; i < n_keys; i++)
    {
      const char *key = keys[i];
      const char *value = g_hash_table_lookup (changes, key);

      if (!settings_apply_one (result, config, key, value != NULL ? value : "", error))
        return NULL;
    }
  /* settings saved before the bound existed may be larger: they may shrink, never grow */
  size = pd_plugin_settings_get_size (result);
  if (size > PD_SETTINGS_MAX_SIZE && size > pd_plugin_settings_get_size (settings))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "the settings would be %" G_GSIZE_FORMAT " bytes long (env, args, mount "
                   "sources and device paths together), more than %u", size,
                   (guint) PD_SETTINGS_MAX_SIZE);
      return NULL;
    }
  return g_steal_pointer (&result);
}

/* section: settings across an upgrade */

/* the value of NAME in a "NAME=value" list, or NULL */
static const char *
env_lookup (const char *const *env, const char *name)
{
  gsize len = strlen (name);

  for (guint i = 0; env != NULL && env[i] != NULL; i++)
    if (strncmp (env[i], name, len) == 0 && env[i][len] == '=')
      return env[i] + len + 1;
  return NULL;
}

static PdConfigMount *
find_mount (GPtrArray *mounts, const PdConfigMount *like)
{
  for (guint i = 0; mounts != NULL && i < mounts->len; i++)
    {
      PdConfigMount *mount = mounts->pdata[i];

      /* by name, as Set addresses them; unnamed ones by destination */
      if ((like->name != NULL && *like->name != '\0')
            ? g_strcmp0 (mount->name, like->name) == 0
            : g_strcmp0 (mount->destination, like->destination) == 0)
        return mount;
    }
  return NULL;
}

static PdConfigDevice *
find_device (GPtrArray *devices, const PdConfigDevice *like)
{
  for (guint i = 0; devices != NULL && i < devices->len; i++)
    {
      PdConfigDevice *device = devices->pdata[i];

      if (g_strcmp0 (device->name, like->name) == 0)
        return device;
    }
  return NULL;
}

static gboolean
strv_equal_or_null (const char *const *a, const char *const *b)
{
  if (a == NULL || b == NULL)
    return (a == NULL || *a == NULL) && (b == NULL || *b == NULL);
  return g_strv_equal (a, b);
}

PdPluginSettings *
pd_plugin_settings_merge (const PdPluginSettings *old_settings,
                          const PdPluginConfig *old_config,
                          const PdPluginConfig *new_config)
{
  g_autoptr(PdPluginSettings) old_defaults = NULL;
  g_autoptr(PdPluginSettings) merged = NULL;
  g_autoptr(GStrvBuilder) env = g_strv_builder_new ();

  g_return_val_if_fail (old_settings != NULL, NULL);
  g_return_val_if_fail (old_config != NULL, NULL);
  g_return_val_if_fail (new_config != NULL, NULL);

  old_defaults = pd_plugin_settings_new_from_config (old_config);
  merged = pd_plugin_settings_new_from_config (new_config);

  /* env: in the new config's order; a value the user changed is kept, anything else takes the
   * new default, and variables the new config lacks are gone */
  for (guint i = 0; new_config->env != NULL && i < new_config->env->len; i++)
    {
      const PdConfigEnv *e = new_config->env->pdata[i];
      const char *old_value = env_lookup ((const char *const *) old_settings->env, e->name);
      const char *old_default = env_lookup ((const char *const *) old_defaults->env, e->name);
      const char *value = e->value;

      if (old_value != NULL && g_strcmp0 (old_value, old_default) != 0)
        value = old_value;
      if (value != NULL)
        {
          g_autofree char *entry = g_strdup_printf ("%s=%s", e->name, value);
          g_strv_builder_add (env, entry);
        }
    }
  g_strfreev (merged->env);
  merged->env = g_strv_builder_end (env);

  for (guint i = 0; i < merged->mounts->len; i++)
    {
      PdConfigMount *mount = merged->mounts->pdata[i];
      PdConfigMount *old = find_mount (old_settings->mounts, mount);
      PdConfigMount *old_default = find_mount (old_defaults->mounts, mount);

      if (old != NULL && old_default != NULL && g_strcmp0 (old->source, old_default->source) != 0)
        {
          g_free (mount->source);
          mount->source = g_strdup (old->source);
        }
    }
  for (guint i = 0; i < merged->devices->len; i++)
    {
      PdConfigDevice *device = merged->devices->pdata[i];
      PdConfigDevice *old = find_device (old_settings->devices, device);
      PdConfigDevice *old_default = find_device (old_defaults->devices, device);

      if (old != NULL && old_default != NULL && g_strcmp0 (old->path, old_default->path) != 0)
        {
          g_free (device->path);
          device->path = g_strdup (old->path);
        }
    }
  if (!strv_equal_or_null ((const char *const *) old_settings->args,
                           (const char *const *) old_defaults->args) &&
      g_strcmp0 (old_config->args_name, new_config->args_name) == 0)
    {
      g_strfreev (merged->args);
      merged->args = g_strdupv (old_settings->args);
    }
  return g_steal_pointer (&merged);
}

PdPluginSettings *
pd_plugin_settings_for_install (const PdPluginConfig *config,
                                const PdPluginSettings *old_settings,
                                const PdPluginConfig *old_config,
                                GHashTable *changes,
                                GError **error)
{
  g_autoptr(PdPluginSettings) settings = NULL;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail ((old_settings == NULL) == (old_config == NULL), NULL);

  settings = old_config != NULL ? pd_plugin_settings_merge (old_settings, old_config, config)
                                : pd_plugin_settings_new_from_config (config);
  if (changes == NULL)
    return g_steal_pointer (&settings);
  return pd_plugin_settings_apply (settings, config, changes, error);
}

/* section: describing settings */

void
pd_setting_info_free (PdSettingInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->description);
  g_free (info->value);
  g_free (info);
}

static PdSettingInfo *
setting_info_new (const char *name, const char *kind, const char *description, const char *value,
                  const char *const *allowed, const char *const *settable)
{
  PdSettingInfo *info = g_new0 (PdSettingInfo, 1);

  info->name = g_strdup (name != NULL ? name : "");
  info->kind = kind;
  info->description = g_strdup (description != NULL ? description : "");
  info->value = g_strdup (value != NULL ? value : "");
  /* settable when the one field this kind allows is listed (what Set would accept) */
  info->settable = settable != NULL && g_strv_contains (settable, allowed[0]);
  return info;
}

GPtrArray *
pd_plugin_settings_describe (const PdPluginSettings *settings, const PdPluginConfig *config)
{
  GPtrArray *infos = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_setting_info_free);

  g_return_val_if_fail (config != NULL, infos);

  /* the values of env vars and args are where passwords and keys go: a description is shown
   * to everyone, so it has none; mount sources and device paths are privileges, shown as
   * consent shows them */
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];

      g_ptr_array_add (infos, setting_info_new (e->name, "env", e->description, NULL,
                                                allowed_env,
                                                (const char *const *) e->settable));
    }
  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      const PdConfigMount *m = config->mounts->pdata[i];
      g_ptr_array_add (infos, setting_info_new (m->name, "mount", m->description,
                                                effective_mount_source (config, settings, i),
                                                allowed_mounts,
                                                (const char *const *) m->settable));
    }
  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      const PdConfigDevice *d = config->linux_devices->pdata[i];
      g_ptr_array_add (infos, setting_info_new (d->name, "device", d->description,
                                                effective_device_path (config, settings, i),
                                                allowed_devices,
                                                (const char *const *) d->settable));
    }
  /* args exist only when the config names them (Set finds them by name) or gives defaults */
  if ((config->args_name != NULL && config->args_name[0] != '\0') ||
      (config->args_value != NULL && config->args_value[0] != NULL))
    g_ptr_array_add (infos, setting_info_new (config->args_name, "args", config->args_description,
                                              NULL, allowed_args,
                                              (const char *const *) config->args_settable));
  return infos;
}
