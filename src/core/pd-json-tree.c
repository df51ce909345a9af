/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-config"

#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-json-tree.h"

/* section: the scanner */

void
pd_json_value_free (PdJsonValue *value)
{
  if (value == NULL)
    return;
  g_free (value->text);
  g_clear_pointer (&value->items, g_ptr_array_unref);
  g_free (value);
}

static void
pj_member_free (PdJsonMember *member)
{
  g_free (member->key);
  pd_json_value_free (member->value);
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

static PdJsonValue *pj_scan_value (PjScanner *s, GError **error);

static PdJsonValue *
pj_scan_object (PjScanner *s, GError **error)
{
  g_autoptr(PdJsonValue) value = g_new0 (PdJsonValue, 1);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gsize path_len = s->path->len;

  value->kind = PD_JSON_OBJECT;
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
      PdJsonMember *member;
      PdJsonValue *child;

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

      member = g_new0 (PdJsonMember, 1);
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

static PdJsonValue *
pj_scan_array (PjScanner *s, GError **error)
{
  g_autoptr(PdJsonValue) value = g_new0 (PdJsonValue, 1);
  gsize path_len = s->path->len;

  value->kind = PD_JSON_ARRAY;
  value->items = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_json_value_free);
  s->pos++;
  pj_skip_ws (s);
  if (s->pos < s->len && s->data[s->pos] == ']')
    {
      s->pos++;
      return g_steal_pointer (&value);
    }

  for (;;)
    {
      PdJsonValue *child;

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

static PdJsonValue *
pj_scan_value (PjScanner *s, GError **error)
{
  g_autoptr(PdJsonValue) value = NULL;
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
      PdJsonValue *nested;

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

  value = g_new0 (PdJsonValue, 1);
  if (c == '"')
    {
      value->kind = PD_JSON_STRING;
      value->text = pj_scan_string (s, FALSE, error);
      if (value->text == NULL)
        return NULL;
    }
  else if (c == '-' || g_ascii_isdigit (c))
    {
      gsize start = s->pos;

      if (!pj_scan_number (s, error))
        return NULL;
      value->kind = PD_JSON_NUMBER;
      value->text = g_strndup (s->data + start, s->pos - start);
    }
  else if (pj_literal (s, "true"))
    {
      value->kind = PD_JSON_BOOL;
      value->boolean = TRUE;
    }
  else if (pj_literal (s, "false"))
    value->kind = PD_JSON_BOOL;
  else if (pj_literal (s, "null"))
    value->kind = PD_JSON_NULL;
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

PdJsonValue *
pd_json_tree_parse (const char *data, gsize len, GError **error)
{
  g_autoptr(GString) path = g_string_new (NULL);
  PjScanner s = { data, len, 0, 0, path };
  g_autoptr(PdJsonValue) root = NULL;

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

/* section: the tree of a json-glib node */

typedef struct {
  guint depth;
  GString *path;   /* as PjScanner's */
} PjConverter;

static const char *
pj_converter_where (PjConverter *c)
{
  return c->path->len > 0 ? c->path->str : "the top level";
}

static PdJsonValue *pj_convert_value (PjConverter *c, JsonNode *node, GError **error);

static PdJsonValue *
pj_convert_object (PjConverter *c, JsonObject *object, GError **error)
{
  g_autoptr(PdJsonValue) value = g_new0 (PdJsonValue, 1);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gsize path_len = c->path->len;
  JsonObjectIter iter;
  const char *key;
  JsonNode *member_node;

  value->kind = PD_JSON_OBJECT;
  value->items = g_ptr_array_new_with_free_func ((GDestroyNotify) pj_member_free);
  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &key, &member_node))
    {
      g_autofree char *folded = g_ascii_strdown (key, -1);
      const char *previous = g_hash_table_lookup (seen, folded);
      PdJsonMember *member;
      PdJsonValue *child;

      /* json-glib keeps one of keys that are equal; keys equal but for case are refused as
       * pd_json_tree_parse() refuses them */
      if (previous != NULL)
        {
          g_autofree char *k1 = pd_escape_untrusted (previous, -1);
          g_autofree char *k2 = pd_escape_untrusted (key, -1);

          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                       "config: duplicate key \"%s\" in %s (same as \"%s\": keys are matched "
                       "case-insensitively)", k2, pj_converter_where (c), k1);
          return NULL;
        }
      g_hash_table_insert (seen, g_steal_pointer (&folded), (gpointer) key);

      if (c->path->len > 0)
        g_string_append_c (c->path, '.');
      g_string_append (c->path, key);
      child = pj_convert_value (c, member_node, error);
      g_string_truncate (c->path, path_len);
      if (child == NULL)
        return NULL;

      member = g_new0 (PdJsonMember, 1);
      member->key = g_strdup (key);
      member->value = child;
      g_ptr_array_add (value->items, member);
    }
  return g_steal_pointer (&value);
}

static PdJsonValue *
pj_convert_array (PjConverter *c, JsonArray *array, GError **error)
{
  g_autoptr(PdJsonValue) value = g_new0 (PdJsonValue, 1);
  gsize path_len = c->path->len;
  guint n = json_array_get_length (array);

  value->kind = PD_JSON_ARRAY;
  value->items = g_ptr_array_new_full (n, (GDestroyNotify) pd_json_value_free);
  for (guint i = 0; i < n; i++)
    {
      PdJsonValue *child;

      g_string_append_printf (c->path, "[%u]", i);
      child = pj_convert_value (c, json_array_get_element (array, i), error);
      g_string_truncate (c->path, path_len);
      if (child == NULL)
        return NULL;
      g_ptr_array_add (value->items, child);
    }
  return g_steal_pointer (&value);
}

static PdJsonValue *
pj_convert_value (PjConverter *c, JsonNode *node, GError **error)
{
  g_autoptr(PdJsonValue) value = NULL;

  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
    case JSON_NODE_ARRAY:
      {
        PdJsonValue *nested;

        if (c->depth >= PD_JSON_MAX_DEPTH)
          {
            g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                         "config: %s is nested deeper than " G_STRINGIFY (PD_JSON_MAX_DEPTH)
                         " levels", pj_converter_where (c));
            return NULL;
          }
        c->depth++;
        if (JSON_NODE_HOLDS_OBJECT (node))
          nested = pj_convert_object (c, json_node_get_object (node), error);
        else
          nested = pj_convert_array (c, json_node_get_array (node), error);
        c->depth--;
        return nested;
      }
    case JSON_NODE_NULL:
      value = g_new0 (PdJsonValue, 1);
      value->kind = PD_JSON_NULL;
      return g_steal_pointer (&value);
    case JSON_NODE_VALUE:
    default:
      break;
    }

  value = g_new0 (PdJsonValue, 1);
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING:
      value->kind = PD_JSON_STRING;
      value->text = g_strdup (json_node_get_string (node));
      if (value->text == NULL || !g_utf8_validate (value->text, -1, NULL))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                       "config: %s is not a valid string", pj_converter_where (c));
          return NULL;
        }
      break;
    case G_TYPE_BOOLEAN:
      value->kind = PD_JSON_BOOL;
      value->boolean = json_node_get_boolean (node);
      break;
    case G_TYPE_INT64:
    case G_TYPE_DOUBLE:
      {
        gsize pos = 0, len;

        /* the literal json-glib writes for it, held to JSON's number syntax as the scanner
         * holds a literal in the text */
        value->kind = PD_JSON_NUMBER;
        value->text = json_to_string (node, FALSE);
        len = strlen (value->text);
        if (pd_json_scan_number (value->text, len, &pos) != NULL || pos != len)
          {
            g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                         "config: %s is not a JSON number", pj_converter_where (c));
            return NULL;
          }
        break;
      }
    default:
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: %s holds an unknown kind of value", pj_converter_where (c));
      return NULL;
    }
  return g_steal_pointer (&value);
}

PdJsonValue *
pd_json_tree_from_node (JsonNode *node, GError **error)
{
  g_autoptr(GString) path = g_string_new (NULL);
  PjConverter c = { 0, path };

  g_return_val_if_fail (node != NULL, NULL);
  return pj_convert_value (&c, node, error);
}

/* section: walking the tree */

const char *
pd_json_kind_name (PdJsonKind kind)
{
  switch (kind)
    {
    case PD_JSON_NULL: return "null";
    case PD_JSON_BOOL: return "a boolean";
    case PD_JSON_NUMBER: return "a number";
    case PD_JSON_STRING: return "a string";
    case PD_JSON_ARRAY: return "an array";
    case PD_JSON_OBJECT: return "an object";
    default: return "unknown";
    }
}

/* duplicates that differ only in case were refused by the scanner: at most one matches */
PdJsonValue *
pd_json_value_member (PdJsonValue *object, const char *name)
{
  if (object == NULL)
    return NULL;
  for (guint i = 0; i < object->items->len; i++)
    {
      PdJsonMember *m = object->items->pdata[i];
      if (g_str_equal (m->key, name))
        return m->value;
    }
  for (guint i = 0; i < object->items->len; i++)
    {
      PdJsonMember *m = object->items->pdata[i];
      if (g_ascii_strcasecmp (m->key, name) == 0)
        return m->value;
    }
  return NULL;
}
