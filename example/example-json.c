/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* plugind-example's text: UTF-8, quoting for messages, the output buffer with its JSON string
 * writer, and a small strict JSON parser (RFC 8259) for request bodies */

#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "example.h"

/* the length of the valid UTF-8 sequence at @s (at most @len bytes), 0 when it is invalid */
static size_t
utf8_sequence_length (const unsigned char *s, size_t len)
{
  unsigned int cp;
  size_t n;

  if (len == 0)
    return 0;
  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2, cp = s[0] & 0x1f;
  else if ((s[0] & 0xf0) == 0xe0)
    n = 3, cp = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4, cp = s[0] & 0x07;
  else
    return 0;
  if (len < n)
    return 0;
  for (size_t i = 1; i < n; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i] & 0x3f);
    }
  /* overlong forms, surrogates and values past U+10FFFF */
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

static size_t
utf8_encode (unsigned int cp, char *out)
{
  if (cp < 0x80)
    {
      out[0] = (char) cp;
      return 1;
    }
  if (cp < 0x800)
    {
      out[0] = (char) (0xc0 | cp >> 6);
      out[1] = (char) (0x80 | (cp & 0x3f));
      return 2;
    }
  if (cp < 0x10000)
    {
      out[0] = (char) (0xe0 | cp >> 12);
      out[1] = (char) (0x80 | (cp >> 6 & 0x3f));
      out[2] = (char) (0x80 | (cp & 0x3f));
      return 3;
    }
  out[0] = (char) (0xf0 | cp >> 18);
  out[1] = (char) (0x80 | (cp >> 12 & 0x3f));
  out[2] = (char) (0x80 | (cp >> 6 & 0x3f));
  out[3] = (char) (0x80 | (cp & 0x3f));
  return 4;
}

const char *
quote (const char *value, char out[QUOTE_SIZE])
{
  char *p = out;
  size_t i;

  *p++ = '"';
  for (i = 0; value[i] != '\0' && i < QUOTE_MAX; i++)
    {
      unsigned char c = (unsigned char) value[i];

      if (c == '"' || c == '\\')
        {
          *p++ = '\\';
          *p++ = (char) c;
        }
      else if (c < 0x20 || c >= 0x7f)
        p += sprintf (p, "\\x%02x", c);
      else
        *p++ = (char) c;
    }
  *p++ = '"';
  if (value[i] != '\0')
    p += sprintf (p, "...");
  *p = '\0';
  return out;
}

static void
strbuf_append_len (struct strbuf *sb, const char *s, size_t n)
{
  if (sb->failed)
    return;
  if (sb->allocated - sb->len <= n)
    {
      size_t wanted = sb->allocated == 0 ? 256 : sb->allocated;
      char *grown;

      while (wanted - sb->len <= n)
        {
          if (wanted > SIZE_MAX / 2)
            {
              sb->failed = true;
              return;
            }
          wanted *= 2;
        }
      grown = realloc (sb->data, wanted);
      if (grown == NULL)
        {
          sb->failed = true;
          return;
        }
      sb->data = grown;
      sb->allocated = wanted;
    }
  memcpy (sb->data + sb->len, s, n);
  sb->len += n;
  sb->data[sb->len] = '\0';
}

void
strbuf_append (struct strbuf *sb, const char *s)
{
  strbuf_append_len (sb, s, strlen (s));
}

/* @s as a JSON string; bytes that are not UTF-8 become U+FFFD, so the output is always valid
 * JSON, and C0/C1 controls and DEL are escaped */
void
strbuf_append_json_string (struct strbuf *sb, const char *s)
{
  const unsigned char *u = (const unsigned char *) s;
  size_t len = strlen (s);
  size_t i = 0;

  strbuf_append_len (sb, "\"", 1);
  while (i < len)
    {
      size_t run = i;
      char escape[8];

      /* copy plain text in runs */
      while (run < len && u[run] >= 0x20 && u[run] < 0x7f && u[run] != '"' && u[run] != '\\')
        run++;
      strbuf_append_len (sb, s + i, run - i);
      i = run;
      if (i >= len)
        break;

      if (u[i] == '"' || u[i] == '\\')
        {
          escape[0] = '\\';
          escape[1] = (char) u[i];
          strbuf_append_len (sb, escape, 2);
          i++;
        }
      else if (u[i] < 0x80)
        {
          snprintf (escape, sizeof escape, "\\u%04x", u[i]);
          strbuf_append_len (sb, escape, 6);
          i++;
        }
      else
        {
          size_t n = utf8_sequence_length (u + i, len - i);

          if (n == 0)
            {
              strbuf_append (sb, "\\ufffd");
              i++;
            }
          else if (n == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0)
            {
              snprintf (escape, sizeof escape, "\\u%04x", u[i + 1]);
              strbuf_append_len (sb, escape, 6);
              i += 2;
            }
          else
            {
              strbuf_append_len (sb, s + i, n);
              i += n;
            }
        }
    }
  strbuf_append_len (sb, "\"", 1);
}

/* the text, or NULL when an allocation failed; the buffer is reset */
char *
strbuf_finish (struct strbuf *sb)
{
  char *data = sb->data;

  if (sb->failed || data == NULL)
    {
      free (data);
      data = NULL;
    }
  *sb = (struct strbuf) { 0 };
  return data;
}

/* json: a small strict parser (RFC 8259) for request bodies, which example-http.c limits to
 * MAX_BODY_BYTES */

#define JSON_MAX_DEPTH 32

bool
json_fail (struct json *js, const char *error)
{
  if (js->error == NULL)
    js->error = error;
  return false;
}

void
json_skip_space (struct json *js)
{
  while (js->p < js->end && (*js->p == ' ' || *js->p == '\t' || *js->p == '\n' || *js->p == '\r'))
    js->p++;
}

/* skips white space and takes @c when it comes next */
bool
json_take (struct json *js, char c)
{
  json_skip_space (js);
  if (js->p < js->end && *js->p == c)
    {
      js->p++;
      return true;
    }
  return false;
}

static bool
json_hex4 (struct json *js, unsigned int *value)
{
  *value = 0;
  if (js->end - js->p < 4)
    return json_fail (js, "truncated \\u escape");
  for (int i = 0; i < 4; i++)
    {
      char c = *js->p++;

      *value <<= 4;
      if (c >= '0' && c <= '9')
        *value |= (unsigned int) (c - '0');
      else if (c >= 'a' && c <= 'f')
        *value |= (unsigned int) (c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        *value |= (unsigned int) (c - 'A' + 10);
      else
        return json_fail (js, "invalid \\u escape");
    }
  return true;
}

/* a string, decoded into @out (NUL-terminated) unless @out is NULL. A string that does not fit
 * fails, unless @truncated is given: it is then set and the rest is dropped. A decoded NUL is
 * refused, as the values end up in C strings */
bool
json_string (struct json *js, char *out, size_t out_size, bool *truncated)
{
  size_t len = 0;

  if (truncated != NULL)
    *truncated = false;
  if (!json_take (js, '"'))
    return json_fail (js, "expected a string");
  for (;;)
    {
      unsigned char c;
      char utf8[4];
      size_t n;

      if (js->p >= js->end)
        return json_fail (js, "unterminated string");
      c = (unsigned char) *js->p;
      if (c == '"')
        {
          js->p++;
          break;
        }
      if (c < 0x20)
        return json_fail (js, "control character in a string");
      if (c == '\\')
        {
          js->p++;
          if (js->p >= js->end)
            return json_fail (js, "unterminated string");
          n = 1;
          switch (*js->p++)
            {
            case '"': utf8[0] = '"'; break;
            case '\\': utf8[0] = '\\'; break;
            case '/': utf8[0] = '/'; break;
            case 'b': utf8[0] = '\b'; break;
            case 'f': utf8[0] = '\f'; break;
            case 'n': utf8[0] = '\n'; break;
            case 'r': utf8[0] = '\r'; break;
            case 't': utf8[0] = '\t'; break;
            case 'u':
              {
                unsigned int cp, low;

                if (!json_hex4 (js, &cp))
                  return false;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                  return json_fail (js, "unpaired surrogate in a string");
                if (cp >= 0xd800 && cp <= 0xdbff)
                  {
                    if (js->end - js->p < 2 || js->p[0] != '\\' || js->p[1] != 'u')
                      return json_fail (js, "unpaired surrogate in a string");
                    js->p += 2;
                    if (!json_hex4 (js, &low))
                      return false;
                    if (low < 0xdc00 || low > 0xdfff)
                      return json_fail (js, "unpaired surrogate in a string");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                  }
                if (cp == 0 && out != NULL)
                  return json_fail (js, "NUL in a string");
                n = utf8_encode (cp, utf8);
              }
              break;
            default:
              return json_fail (js, "invalid escape in a string");
            }
        }
      else
        {
          n = utf8_sequence_length ((const unsigned char *) js->p, (size_t) (js->end - js->p));
          if (n == 0)
            return json_fail (js, "invalid UTF-8 in a string");
          memcpy (utf8, js->p, n);
          js->p += n;
        }

      if (out == NULL)
        continue;
      if (len + n >= out_size)
        {
          if (truncated == NULL)
            return json_fail (js, "string too long");
          *truncated = true;
          continue;
        }
      memcpy (out + len, utf8, n);
      len += n;
    }
  if (out != NULL)
    out[len] = '\0';
  return true;
}

static bool
json_digits (struct json *js)
{
  const char *begin = js->p;

  while (js->p < js->end && *js->p >= '0' && *js->p <= '9')
    js->p++;
  return js->p > begin || json_fail (js, "invalid number");
}

static bool
json_number (struct json *js)
{
  if (js->p < js->end && *js->p == '-')
    js->p++;
  if (js->p < js->end && *js->p == '0')
    js->p++;
  else if (!json_digits (js))
    return false;
  if (js->p < js->end && *js->p == '.')
    {
      js->p++;
      if (!json_digits (js))
        return false;
    }
  if (js->p < js->end && (*js->p == 'e' || *js->p == 'E'))
    {
      js->p++;
      if (js->p < js->end && (*js->p == '+' || *js->p == '-'))
        js->p++;
      if (!json_digits (js))
        return false;
    }
  return true;
}

static bool
json_literal (struct json *js, const char *word)
{
  size_t n = strlen (word);

  if ((size_t) (js->end - js->p) < n || memcmp (js->p, word, n) != 0)
    return json_fail (js, "invalid value");
  js->p += n;
  return true;
}

/* the members of an object or the elements of an array, after its opening bracket */
static bool
json_skip_container (struct json *js, char close, bool object)
{
  bool ok = true;

  if (++js->depth > JSON_MAX_DEPTH)
    return json_fail (js, "nested too deeply");
  if (json_take (js, close))
    {
      js->depth--;
      return true;
    }
  do
    {
      if (object && (!json_string (js, NULL, 0, NULL) ||
                     (!json_take (js, ':') && !json_fail (js, "expected ':'"))))
        return false;
      if (!json_skip_value (js))
        return false;
    }
  while (json_take (js, ','));
  if (!json_take (js, close))
    ok = json_fail (js, object ? "expected ',' or '}'" : "expected ',' or ']'");
  js->depth--;
  return ok;
}

bool
json_skip_value (struct json *js)
{
  json_skip_space (js);
  if (js->p >= js->end)
    return json_fail (js, "expected a value");
  switch (*js->p)
    {
    case '{':
      js->p++;
      return json_skip_container (js, '}', true);
    case '[':
      js->p++;
      return json_skip_container (js, ']', false);
    case '"':
      return json_string (js, NULL, 0, NULL);
    case 't':
      return json_literal (js, "true");
    case 'f':
      return json_literal (js, "false");
    case 'n':
      return json_literal (js, "null");
    default:
      if (*js->p == '-' || (*js->p >= '0' && *js->p <= '9'))
        return json_number (js);
      return json_fail (js, "invalid value");
    }
}

/* whether the next value is null, which is then taken */
bool
json_take_null (struct json *js)
{
  json_skip_space (js);
  if (js->end - js->p >= 4 && memcmp (js->p, "null", 4) == 0)
    {
      js->p += 4;
      return true;
    }
  return false;
}
