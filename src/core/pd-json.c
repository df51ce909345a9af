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
