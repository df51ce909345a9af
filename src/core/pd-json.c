/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-json"

#include <string.h>

#include "pd-error.h"
#include "pd-json.h"

/* section: the lexer */

void
pd_json_skip_ws (const char *data, gsize len, gsize *pos)
{
  while (*pos < len)
    {
      char c = data[*pos];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        break;
      (*pos)++;
    }
}

gboolean
pd_json_scan_literal (const char *data, gsize len, gsize *pos, const char *word)
{
  gsize n = strlen (word);

  if (len - *pos < n || memcmp (data + *pos, word, n) != 0)
    return FALSE;
  *pos += n;
  return TRUE;
}

static int
hex4 (const char *p)
{
  int v = 0;

  for (int i = 0; i < 4; i++)
    {
      int d = g_ascii_xdigit_value (p[i]);
      if (d < 0)
        return -1;
      v = (v << 4) | d;
    }
  return v;
}

/* @out may be NULL: the check only scans */
static void
append_c (GString *out, char c)
{
  if (out != NULL)
    g_string_append_c (out, c);
}

const char *
pd_json_scan_string (const char *data, gsize len, gsize *pos, GString *out, gboolean *nul)
{
  gsize p = *pos + 1;
  const char *problem = NULL;

  *nul = FALSE;
  for (;;)
    {
      guchar c;

      if (p >= len)
        {
          problem = "unterminated string";
          break;
        }
      c = (guchar) data[p];
      if (c == '"')
        {
          *pos = p + 1;
          return NULL;
        }
      if (c == '\0')
        {
          *nul = TRUE;
          problem = "NUL byte in a string";
          break;
        }
      if (c < 0x20)
        {
          problem = "control character in string";
          break;
        }
      if (c == '\\')
        {
          if (p + 1 >= len)
            {
              problem = "unterminated string";
              break;
            }
          switch (data[p + 1])
            {
            case '"': append_c (out, '"'); break;
            case '\\': append_c (out, '\\'); break;
            case '/': append_c (out, '/'); break;
            case 'b': append_c (out, '\b'); break;
            case 'f': append_c (out, '\f'); break;
            case 'n': append_c (out, '\n'); break;
            case 'r': append_c (out, '\r'); break;
            case 't': append_c (out, '\t'); break;
            case 'u':
              {
                int u, lo;
                gunichar ch;

                if (len - p < 6 || (u = hex4 (data + p + 2)) < 0)
                  {
                    problem = "invalid \\u escape";
                    break;
                  }
                if (u == 0)
                  {
                    *nul = TRUE;
                    problem = "NUL byte in a string";
                    break;
                  }
                ch = (gunichar) u;
                if (u >= 0xdc00 && u <= 0xdfff)
                  {
                    problem = "unpaired UTF-16 surrogate in \\u escape";
                    break;
                  }
                if (u >= 0xd800 && u <= 0xdbff)
                  {
                    if (len - p < 12 || data[p + 6] != '\\' || data[p + 7] != 'u' ||
                        (lo = hex4 (data + p + 8)) < 0xdc00 || lo > 0xdfff)
                      {
                        problem = "unpaired UTF-16 surrogate in \\u escape";
                        break;
                      }
                    ch = 0x10000 + (((gunichar) u - 0xd800) << 10) + ((gunichar) lo - 0xdc00);
                    p += 6;
                  }
                if (out != NULL)
                  g_string_append_unichar (out, ch);
                p += 4;
                break;
              }
            default:
              problem = "invalid escape in string";
              break;
            }
          if (problem != NULL)
            break;
          p += 2;
          continue;
        }
      if (c < 0x80)
        {
          append_c (out, (char) c);
          p++;
          continue;
        }
      {
        gunichar ch = g_utf8_get_char_validated (data + p, (gssize) (len - p));
        gsize n;

        if (ch == (gunichar) -1 || ch == (gunichar) -2)
          {
            problem = "invalid UTF-8 in string";
            break;
          }
        n = (gsize) g_utf8_skip[c];
        if (out != NULL)
          g_string_append_len (out, data + p, (gssize) n);
        p += n;
      }
    }
  *pos = p;
  return problem;
}

const char *
pd_json_scan_number (const char *data, gsize len, gsize *pos)
{
  gsize p = *pos;
  const char *d = data;

  if (p < len && d[p] == '-')
    p++;
  if (p >= len || !g_ascii_isdigit (d[p]))
    goto bad;
  if (d[p] == '0')
    p++;
  else
    while (p < len && g_ascii_isdigit (d[p]))
      p++;
  if (p < len && d[p] == '.')
    {
      p++;
      if (p >= len || !g_ascii_isdigit (d[p]))
        goto bad;
      while (p < len && g_ascii_isdigit (d[p]))
        p++;
    }
  if (p < len && (d[p] == 'e' || d[p] == 'E'))
    {
      p++;
      if (p < len && (d[p] == '+' || d[p] == '-'))
        p++;
      if (p >= len || !g_ascii_isdigit (d[p]))
        goto bad;
      while (p < len && g_ascii_isdigit (d[p]))
        p++;
    }
  *pos = p;
  return NULL;

bad:
  *pos = p;
  return "invalid number";
}

/* section: the check */

typedef enum {
  WANT_VALUE,
  WANT_KEY,
  AFTER_VALUE,
} CheckState;

gboolean
pd_json_check (const char *data, gsize len, gsize max_size, GError **error)
{
  /* the opening bracket of every open container: the only state the scan keeps */
  char open[PD_JSON_MAX_DEPTH];
  guint depth = 0;
  CheckState state = WANT_VALUE;
  const char *problem = NULL;
  gboolean nul = FALSE;
  gsize pos = 0;

  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  if (len > max_size)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "JSON text larger than %" G_GSIZE_FORMAT " bytes", max_size);
      return FALSE;
    }
  if (data == NULL)
    data = "";

  while (problem == NULL)
    {
      char c, close;

      pd_json_skip_ws (data, len, &pos);
      if (state == AFTER_VALUE && depth == 0)
        {
          if (pos == len)
            return TRUE;
          /* json-glib would take a second value as an error too, Go's decoder as well */
          problem = "unexpected data after the top-level value";
          break;
        }
      if (pos >= len)
        {
          problem = "unexpected end of input";
          break;
        }
      c = data[pos];
      switch (state)
        {
        case WANT_KEY:
          if (c != '"')
            {
              problem = "expected a string key";
              break;
            }
          problem = pd_json_scan_string (data, len, &pos, NULL, &nul);
          if (problem != NULL)
            break;
          pd_json_skip_ws (data, len, &pos);
          if (pos >= len || data[pos] != ':')
            {
              problem = "expected ':' after an object key";
              break;
            }
          pos++;
          state = WANT_VALUE;
          break;

        case AFTER_VALUE:
          close = open[depth - 1] == '{' ? '}' : ']';
          if (c == ',')
            {
              pos++;
              state = open[depth - 1] == '{' ? WANT_KEY : WANT_VALUE;
            }
          else if (c == close)
            {
              pos++;
              depth--;
            }
          else
            problem = close == '}' ? "expected ',' or '}' in an object"
                                   : "expected ',' or ']' in an array";
          break;

        case WANT_VALUE:
        default:
          if (c == '{' || c == '[')
            {
              if (depth >= PD_JSON_MAX_DEPTH)
                {
                  g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                               "JSON nested deeper than %d levels (at byte %" G_GSIZE_FORMAT
                               ")", PD_JSON_MAX_DEPTH, pos);
                  return FALSE;
                }
              open[depth++] = c;
              pos++;
              pd_json_skip_ws (data, len, &pos);
              if (pos < len && data[pos] == (c == '{' ? '}' : ']'))
                {
                  pos++;
                  depth--;
                  state = AFTER_VALUE;
                }
              else
                state = c == '{' ? WANT_KEY : WANT_VALUE;
              break;
            }
          if (c == '"')
            problem = pd_json_scan_string (data, len, &pos, NULL, &nul);
          else if (c == '-' || g_ascii_isdigit (c))
            problem = pd_json_scan_number (data, len, &pos);
          else if (!pd_json_scan_literal (data, len, &pos, "true") &&
                   !pd_json_scan_literal (data, len, &pos, "false") &&
                   !pd_json_scan_literal (data, len, &pos, "null"))
            problem = c == '\0' ? "NUL byte" : "unexpected character";
          state = AFTER_VALUE;
          break;
        }
    }

  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "invalid JSON at byte %" G_GSIZE_FORMAT
               ": %s", pos, problem);
  return FALSE;
}

JsonNode *
pd_json_parse (const char *data, gsize len, gsize max_size, GError **error)
{
  g_autoptr(JsonParser) parser = NULL;

  if (!pd_json_check (data, len, max_size, error))
    return NULL;
  parser = json_parser_new ();
  /* strict JSON that json-glib still refuses; its message is not passed on, since it may
   * quote the text (a password in registry-auth) */
  if (!json_parser_load_from_data (parser, data, (gssize) len, NULL))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS, "invalid JSON");
      return NULL;
    }
  return json_parser_steal_root (parser);
}

/* section: writing as Go does */

/* Go's string escaping (encoding/json; json.Marshal escapes HTML, an Encoder may not) */
void
pd_json_append_go_string (GString *out, const char *s, gboolean escape_html)
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
          if (escape_html)
            g_string_append_printf (out, "\\u00%c%c", hex[c >> 4], hex[c & 0xf]);
          else
            g_string_append_c (out, (char) c);
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
            pd_json_append_go_string (out, name, TRUE);
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
          pd_json_append_go_string (out, json_node_get_string (node), TRUE);
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

GBytes *
pd_json_builder_to_go_bytes (JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  gsize len = 0;
  char *data = pd_json_to_go_data (root, &len);

  return g_bytes_new_take (data, len);
}

/* section: helpers of the readers and writers */

char *
pd_json_path_join (const char *parent, const char *name)
{
  if (parent == NULL || *parent == '\0')
    return g_strdup (name);
  return g_strdup_printf ("%s.%s", parent, name);
}

void
pd_json_builder_add_strv (JsonBuilder *builder, const char *key, const char *const *strv)
{
  json_builder_set_member_name (builder, key);
  if (strv == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  json_builder_begin_array (builder);
  for (guint i = 0; strv[i] != NULL; i++)
    json_builder_add_string_value (builder, strv[i]);
  json_builder_end_array (builder);
}

const char *
pd_json_object_get_string_nocase (JsonObject *object, const char *name)
{
  /* Go decodes keys case-insensitively: "Username" and "username" are the same */
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *node;

      if (g_ascii_strcasecmp (l->data, name) != 0)
        continue;
      node = json_object_get_member (object, l->data);
      if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
        return json_node_get_string (node);
    }
  return NULL;
}
