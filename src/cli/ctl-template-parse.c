/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>

#include "ctl-template-private.h"

/* The parser of pluginctl's Go templates: Go's text/template/parse, for the subset listed in
 * docs/pluginctl.1.rst. It refuses what the evaluator does not implement (define, template,
 * block, break, continue, complex numbers, functions other than Go's and Docker's basic ones)
 * with a message naming the construct and its place, rather than printing something else
 * than docker would. Recursion is bounded by CTL_TEMPLATE_MAX_DEPTH. */

G_DEFINE_QUARK (ctl-template-error-quark, ctl_template_error)

typedef enum {
  TOK_EOF,
  TOK_RIGHT_DELIM,
  TOK_FIELD,      /* ".Name" */
  TOK_DOT,        /* "." */
  TOK_VARIABLE,   /* "$" or "$name" */
  TOK_IDENTIFIER, /* a function name or a keyword */
  TOK_BOOL,
  TOK_NIL,
  TOK_STRING,
  TOK_RAW_STRING,
  TOK_CHAR,
  TOK_NUMBER,
  TOK_LEFT_PAREN,
  TOK_RIGHT_PAREN,
  TOK_PIPE,
  TOK_DECLARE,
  TOK_ASSIGN,
  TOK_COMMA,
} TokenType;

typedef struct {
  TokenType type;
  gsize pos;
  gsize end;
  gboolean space_before;
  gboolean trim; /* TOK_RIGHT_DELIM: " -}}" */
} Token;

typedef struct {
  const char *text;
  gsize len;
  gsize pos;         /* where the scanner is */
  GPtrArray *vars;   /* variables in scope, borrowed names */
  guint depth;       /* control structures and parentheses open */
  gboolean trim_next;
  gboolean else_if;  /* the list ended with "{{else if", the "if" not read yet */
  GError *error;
} Parser;

/* how a list ended */
typedef enum {
  END_EOF,
  END_END,
  END_ELSE,
} ListEnd;

/* functions that exist in Go's templates or Docker's but that pluginctl does not implement */
static const char *const unsupported_functions[] = {
  "call", "html", "js", "slice", "urlquery",
};

void
ctl_node_free (CtlNode *node)
{
  if (node == NULL)
    return;
  g_free (node->text);
  g_clear_pointer (&node->children, g_ptr_array_unref);
  g_strfreev (node->idents);
  g_clear_pointer (&node->decl, g_ptr_array_unref);
  ctl_node_free (node->operand);
  ctl_node_free (node->pipe);
  ctl_node_free (node->list);
  ctl_node_free (node->else_list);
  g_free (node);
}

static CtlNode *
node_new (CtlNodeType type, gsize pos)
{
  CtlNode *node = g_new0 (CtlNode, 1);

  node->type = type;
  node->pos = pos;
  node->start = pos;
  node->end = pos;
  if (type == CTL_NODE_LIST || type == CTL_NODE_PIPE || type == CTL_NODE_COMMAND)
    node->children = g_ptr_array_new_with_free_func ((GDestroyNotify) ctl_node_free);
  if (type == CTL_NODE_PIPE)
    node->decl = g_ptr_array_new_with_free_func (g_free);
  return node;
}

static guint
line_of (const char *text, gsize pos)
{
  guint line = 1;

  for (gsize i = 0; i < pos; i++)
    if (text[i] == '\n')
      line++;
  return line;
}

/* Go's parse errors: "template: :LINE: message"; the first error wins */
G_GNUC_PRINTF (3, 4)
static void
parse_error (Parser *p, gsize pos, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (p->error != NULL)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (&p->error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_PARSE, "template: :%u: %s",
               line_of (p->text, MIN (pos, p->len)), message);
}

/* a construct outside the subset: named, with its column, so that the user sees what to
 * change */
static void
unsupported (Parser *p, gsize pos, const char *what)
{
  gsize line_start = pos;

  if (p->error != NULL)
    return;
  while (line_start > 0 && p->text[line_start - 1] != '\n')
    line_start--;
  g_set_error (&p->error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_PARSE,
               _("template: :%u:%zu: %s is not supported by pluginctl"),
               line_of (p->text, pos), pos - line_start, what);
}

/* section: the scanner of actions */

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gboolean
at (Parser *p, gsize pos, const char *s)
{
  gsize n = strlen (s);

  return pos <= p->len && p->len - pos >= n && memcmp (p->text + pos, s, n) == 0;
}

/* letters, digits and '_', as Go's isAlphaNumeric (Unicode letters and digits too) */
static gsize
alnum_length (Parser *p, gsize pos)
{
  gunichar c;

  if (pos >= p->len)
    return 0;
  if (p->text[pos] == '_' || g_ascii_isalnum (p->text[pos]))
    return 1;
  if ((guchar) p->text[pos] < 0x80)
    return 0;
  c = g_utf8_get_char (p->text + pos);
  if (g_unichar_isalpha (c) || g_unichar_isdigit (c))
    return g_utf8_next_char (p->text + pos) - (p->text + pos);
  return 0;
}

static gsize
scan_alnum (Parser *p, gsize pos)
{
  gsize n;

  while ((n = alnum_length (p, pos)) > 0)
    pos += n;
  return pos;
}

/* Go's atTerminator: what may follow a word */
static gboolean
at_terminator (Parser *p, gsize pos)
{
  char c;

  if (pos >= p->len)
    return TRUE;
  c = p->text[pos];
  if (is_space (c) || c == '.' || c == ',' || c == '|' || c == ':' || c == ')' || c == '(')
    return TRUE;
  return at (p, pos, "}}");
}

static gboolean
accept (Parser *p, gsize *pos, const char *chars)
{
  if (*pos < p->len && p->text[*pos] != '\0' && strchr (chars, p->text[*pos]) != NULL)
    {
      (*pos)++;
      return TRUE;
    }
  return FALSE;
}

static void
accept_run (Parser *p, gsize *pos, const char *chars)
{
  while (accept (p, pos, chars))
    ;
}

/* Go's scanNumber: FALSE when an alphanumeric character follows */
static gboolean
scan_number (Parser *p, gsize *pos)
{
  const char *digits = "0123456789_";

  accept (p, pos, "+-");
  if (accept (p, pos, "0"))
    {
      if (accept (p, pos, "xX"))
        digits = "0123456789abcdefABCDEF_";
      else if (accept (p, pos, "oO"))
        digits = "01234567_";
      else if (accept (p, pos, "bB"))
        digits = "01_";
    }
  accept_run (p, pos, digits);
  if (accept (p, pos, "."))
    accept_run (p, pos, digits);
  if (strlen (digits) == 11 && accept (p, pos, "eE"))
    {
      accept (p, pos, "+-");
      accept_run (p, pos, "0123456789_");
    }
  if (strlen (digits) == 23 && accept (p, pos, "pP"))
    {
      accept (p, pos, "+-");
      accept_run (p, pos, "0123456789_");
    }
  accept (p, pos, "i");
  return alnum_length (p, *pos) == 0;
}

/* a quoted string, raw string or character constant starting at @pos; moves past it */
static gboolean
scan_quoted (Parser *p, gsize *pos, char quote)
{
  gsize i = *pos + 1;

  while (i < p->len && p->text[i] != quote)
    {
      if (quote != '`' && p->text[i] == '\n')
        return FALSE;
      if (quote != '`' && p->text[i] == '\\')
        {
          i++;
          if (i >= p->len || p->text[i] == '\n')
            return FALSE;
        }
      i++;
    }
  if (i >= p->len)
    return FALSE;
  *pos = i + 1;
  return TRUE;
}

/* Go's "bad character U+0023 '#'" */
static void
bad_character (Parser *p, gsize pos)
{
  const char *c = p->text + pos;

  parse_error (p, pos, "bad character U+%04X '%.*s'", g_utf8_get_char (c),
               (int) (g_utf8_next_char (c) - c), c);
}

/* the next token of an action, or sets p->error */
static Token
scan_token (Parser *p)
{
  Token tok = { TOK_EOF, p->pos, p->pos, FALSE, FALSE };
  gsize pos = p->pos;
  char c;

  for (;;)
    {
      if (pos + 1 < p->len && is_space (p->text[pos]) && at (p, pos + 1, "-}}"))
        {
          tok.type = TOK_RIGHT_DELIM;
          tok.trim = TRUE;
          tok.pos = pos;
          p->pos = tok.end = pos + 4;
          return tok;
        }
      if (pos < p->len && is_space (p->text[pos]))
        {
          tok.space_before = TRUE;
          pos++;
          continue;
        }
      break;
    }
  tok.pos = pos;
  if (pos >= p->len)
    {
      parse_error (p, pos, "unclosed action");
      return tok;
    }
  c = p->text[pos];
  if (at (p, pos, "}}"))
    {
      tok.type = TOK_RIGHT_DELIM;
      pos += 2;
    }
  else if (c == '=')
    {
      tok.type = TOK_ASSIGN;
      pos++;
    }
  else if (c == ':')
    {
      if (!at (p, pos, ":="))
        {
          parse_error (p, pos, "expected :=");
          return tok;
        }
      tok.type = TOK_DECLARE;
      pos += 2;
    }
  else if (c == '|')
    {
      tok.type = TOK_PIPE;
      pos++;
    }
  else if (c == ',')
    {
      tok.type = TOK_COMMA;
      pos++;
    }
  else if (c == '(')
    {
      tok.type = TOK_LEFT_PAREN;
      pos++;
    }
  else if (c == ')')
    {
      tok.type = TOK_RIGHT_PAREN;
      pos++;
    }
  else if (c == '"' || c == '`' || c == '\'')
    {
      tok.type = c == '"' ? TOK_STRING : c == '`' ? TOK_RAW_STRING : TOK_CHAR;
      if (!scan_quoted (p, &pos, c))
        {
          parse_error (p, tok.pos, c == '"' ? "unterminated quoted string"
                                   : c == '`' ? "unterminated raw quoted string"
                                              : "unterminated character constant");
          return tok;
        }
    }
  else if (c == '$' || (c == '.' && !(pos + 1 < p->len && g_ascii_isdigit (p->text[pos + 1]))))
    {
      gsize start = pos + 1;

      pos = scan_alnum (p, start);
      if (c == '$')
        tok.type = TOK_VARIABLE;
      else
        tok.type = pos == start ? TOK_DOT : TOK_FIELD;
      if (!at_terminator (p, pos))
        {
          bad_character (p, pos);
          return tok;
        }
    }
  else if (c == '+' || c == '-' || c == '.' || g_ascii_isdigit (c))
    {
      tok.type = TOK_NUMBER;
      if (!scan_number (p, &pos))
        {
          pos += alnum_length (p, pos);
          parse_error (p, tok.pos, "bad number syntax: \"%.*s\"", (int) (pos - tok.pos),
                       p->text + tok.pos);
          return tok;
        }
    }
  else if (alnum_length (p, pos) > 0)
    {
      pos = scan_alnum (p, pos);
      if (!at_terminator (p, pos))
        {
          bad_character (p, pos);
          return tok;
        }
      tok.type = TOK_IDENTIFIER;
      if ((pos - tok.pos == 4 && memcmp (p->text + tok.pos, "true", 4) == 0) ||
          (pos - tok.pos == 5 && memcmp (p->text + tok.pos, "false", 5) == 0))
        tok.type = TOK_BOOL;
      else if (pos - tok.pos == 3 && memcmp (p->text + tok.pos, "nil", 3) == 0)
        tok.type = TOK_NIL;
    }
  else
    {
      g_autofree char *shown = g_strndup (p->text + pos,
                                          g_utf8_next_char (p->text + pos) - (p->text + pos));

      parse_error (p, pos, "unexpected \"%s\" in command", shown);
      return tok;
    }
  p->pos = tok.end = pos;
  return tok;
}

/* Go's %q of ASCII text, enough for the messages here */
/* the next token of an action; a bad one sets p->error and is returned as TOK_EOF */
static Token
next_token (Parser *p)
{
  Token tok = scan_token (p);

  if (p->error != NULL)
    {
      tok.type = TOK_EOF;
      tok.end = tok.pos;
    }
  return tok;
}

static char *
go_quote (const char *text, gsize len)
{
  GString *out = g_string_new ("\"");

  for (gsize i = 0; i < len; i++)
    {
      if (text[i] == '"' || text[i] == '\\')
        g_string_append_c (out, '\\');
      g_string_append_c (out, text[i]);
    }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

static char *
token_text (Parser *p, Token tok)
{
  return g_strndup (p->text + tok.pos, tok.end - tok.pos);
}

static gboolean
token_is (Parser *p, Token tok, const char *word)
{
  gsize n = strlen (word);

  return tok.type == TOK_IDENTIFIER && tok.end - tok.pos == n &&
         memcmp (p->text + tok.pos, word, n) == 0;
}

static void
unexpected (Parser *p, Token tok, const char *context)
{
  g_autofree char *text = NULL;

  if (tok.type == TOK_DOT)
    {
      parse_error (p, tok.pos, "unexpected <.> in %s", context);
      return;
    }
  if (tok.type == TOK_EOF)
    text = g_strdup ("EOF");
  else if (tok.type == TOK_RIGHT_DELIM)
    text = g_strdup ("}}");
  else
    text = token_text (p, tok);
  parse_error (p, tok.pos, "unexpected \"%s\" in %s", text, context);
}

/* section: literals */

/* Go's strconv.Unquote of a "…" string or '…' character, restricted to text that stays valid
 * UTF-8 without NUL bytes, which a value in pluginctl must be */
static char *
unquote (Parser *p, Token tok)
{
  g_autoptr(GString) out = g_string_new (NULL);
  const char *s = p->text + tok.pos + 1;
  const char *end = p->text + tok.end - 1;
  char quote = p->text[tok.pos];

  while (s < end)
    {
      gunichar c;
      char e;

      if (*s != '\\')
        {
          const char *next = g_utf8_next_char (s);

          g_string_append_len (out, s, next - s);
          s = next;
          continue;
        }
      e = s[1];
      s += 2;
      switch (e)
        {
        case 'a': g_string_append_c (out, '\a'); continue;
        case 'b': g_string_append_c (out, '\b'); continue;
        case 'f': g_string_append_c (out, '\f'); continue;
        case 'n': g_string_append_c (out, '\n'); continue;
        case 'r': g_string_append_c (out, '\r'); continue;
        case 't': g_string_append_c (out, '\t'); continue;
        case 'v': g_string_append_c (out, '\v'); continue;
        case '\\': g_string_append_c (out, '\\'); continue;
        case '"':
        case '\'':
          if (e != quote)
            goto bad;
          g_string_append_c (out, e);
          continue;
        case 'x':
        case 'u':
        case 'U':
          {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;

            c = 0;
            for (int i = 0; i < digits; i++, s++)
              {
                if (s >= end || !g_ascii_isxdigit (*s))
                  goto bad;
                c = c * 16 + g_ascii_xdigit_value (*s);
              }
            break;
          }
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
          c = e - '0';
          for (int i = 0; i < 2; i++, s++)
            {
              if (s >= end || *s < '0' || *s > '7')
                goto bad;
              c = c * 8 + (*s - '0');
            }
          if (c > 255)
            goto bad;
          break;
        default:
          goto bad;
        }
      /* \x and octal escapes are bytes in Go: only ASCII keeps the text valid UTF-8 */
      if (c == 0 || ((e == 'x' || g_ascii_isdigit (e)) && c >= 0x80))
        {
          unsupported (p, tok.pos, _("a NUL byte or a byte that is not UTF-8 in a constant"));
          return NULL;
        }
      if (!g_unichar_validate (c))
        goto bad;
      g_string_append_unichar (out, c);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);

bad:
  /* strconv's message */
  parse_error (p, tok.pos, "invalid syntax");
  return NULL;
}

/* Go's parse.newNumber and the exec's constant rules */
static CtlNode *
number_node (Parser *p, Token tok)
{
  g_autofree char *text = token_text (p, tok);
  g_autoptr(GString) digits = g_string_new (NULL);
  CtlNode *node;
  gboolean hex = FALSE;
  char *end = NULL;

  if (text[strlen (text) - 1] == 'i')
    {
      unsupported (p, tok.pos, _("a complex number"));
      return NULL;
    }
  for (const char *c = text; *c != '\0'; c++)
    if (*c != '_')
      g_string_append_c (digits, *c);
  node = node_new (CTL_NODE_NUMBER, tok.pos);
  node->end = tok.end;
  {
    const char *unsigned_part = digits->str + (digits->str[0] == '+' || digits->str[0] == '-');

    hex = unsigned_part[0] == '0' && (unsigned_part[1] == 'x' || unsigned_part[1] == 'X');
  }
  if (strpbrk (digits->str, ".eEpP") == NULL || (hex && strpbrk (digits->str, ".pP") == NULL))
    {
      const char *s = digits->str;
      gboolean negative = s[0] == '-';
      int base = 10;
      guint64 u;

      if (s[0] == '+' || s[0] == '-')
        s++;
      if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2;
      else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
        base = 8, s += 2;
      else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        base = 2, s += 2;
      else if (s[0] == '0' && s[1] != '\0')
        base = 8, s += 1;
      errno = 0;
      u = g_ascii_strtoull (s, &end, base);
      if (*s == '\0' || *end != '\0' || errno != 0 ||
          u > (negative ? (guint64) G_MAXINT64 + 1 : (guint64) G_MAXINT64))
        {
          parse_error (p, tok.pos, errno == ERANGE || (*end == '\0' && *s != '\0')
                                     ? "integer overflow: \"%s\""
                                     : "illegal number syntax: \"%s\"",
                       text);
          ctl_node_free (node);
          return NULL;
        }
      node->is_int = TRUE;
      node->integer = negative ? (gint64) (0 - u) : (gint64) u;
      node->number = (double) node->integer;
      return node;
    }
  errno = 0;
  node->number = g_ascii_strtod (digits->str, &end);
  if (*end != '\0' || errno == ERANGE)
    {
      parse_error (p, tok.pos, "illegal number syntax: \"%s\"", text);
      ctl_node_free (node);
      return NULL;
    }
  node->is_float = TRUE;
  if (node->number >= -9.2233720368547758e18 && node->number < 9.2233720368547758e18 &&
      node->number == (double) (gint64) node->number)
    {
      node->is_int = TRUE;
      node->integer = (gint64) node->number;
    }
  return node;
}

/* section: the grammar */

static CtlNode *parse_pipeline (Parser *p, const char *context, TokenType end);

static gboolean
variable_defined (Parser *p, const char *name)
{
  for (guint i = p->vars->len; i > 0; i--)
    if (g_str_equal (g_ptr_array_index (p->vars, i - 1), name))
      return TRUE;
  return FALSE;
}

/* the fields directly after a term, as Go's operand(): ".A.B" on a term; *@first_pos is
 * where the first of them is */
static gboolean
scan_fields (Parser *p, GPtrArray *fields, gsize *first_pos)
{
  for (;;)
    {
      gsize saved = p->pos;
      Token tok = next_token (p);

      if (tok.type != TOK_FIELD || tok.space_before)
        {
          p->pos = saved;
          return p->error == NULL;
        }
      if (first_pos != NULL && *first_pos == 0)
        *first_pos = tok.pos;
      g_ptr_array_add (fields, g_strndup (p->text + tok.pos + 1, tok.end - tok.pos - 1));
    }
}

static char **
fields_steal (GPtrArray *fields)
{
  g_ptr_array_add (fields, NULL);
  return (char **) g_ptr_array_free (fields, FALSE);
}

static gboolean
enter (Parser *p, gsize pos)
{
  if (++p->depth > CTL_TEMPLATE_MAX_DEPTH)
    {
      if (p->error == NULL)
        g_set_error (&p->error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_LIMIT,
                     _("template: :%u: nested more than %d levels deep"),
                     line_of (p->text, pos), CTL_TEMPLATE_MAX_DEPTH);
      return FALSE;
    }
  return TRUE;
}

/* one operand, or NULL (without error) when the next token is not one */
static CtlNode *
parse_operand (Parser *p)
{
  gsize saved = p->pos;
  Token tok = next_token (p);
  CtlNode *node = NULL;
  g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func (g_free);
  gsize chain_pos = 0;

  if (p->error != NULL)
    return NULL;
  switch (tok.type)
    {
    case TOK_IDENTIFIER:
      {
        g_autofree char *name = token_text (p, tok);

        for (gsize i = 0; i < G_N_ELEMENTS (unsupported_functions); i++)
          if (g_str_equal (name, unsupported_functions[i]))
            {
              g_autofree char *what = g_strdup_printf (_("the function \"%s\""), name);

              unsupported (p, tok.pos, what);
              return NULL;
            }
        if (!ctl_template_function_exists (name))
          {
            parse_error (p, tok.pos, "function \"%s\" not defined", name);
            return NULL;
          }
        node = node_new (CTL_NODE_IDENTIFIER, tok.pos);
        node->text = g_steal_pointer (&name);
        break;
      }
    case TOK_DOT:
      node = node_new (CTL_NODE_DOT, tok.pos);
      break;
    case TOK_NIL:
      node = node_new (CTL_NODE_NIL, tok.pos);
      break;
    case TOK_BOOL:
      node = node_new (CTL_NODE_BOOL, tok.pos);
      node->boolean = p->text[tok.pos] == 't';
      break;
    case TOK_NUMBER:
      node = number_node (p, tok);
      if (node == NULL)
        return NULL;
      break;
    case TOK_CHAR:
      {
        g_autofree char *value = unquote (p, tok);

        if (value == NULL)
          return NULL;
        if (value[0] == '\0' || *g_utf8_next_char (value) != '\0')
          {
            g_autofree char *text = token_text (p, tok);

            parse_error (p, tok.pos, "malformed character constant: %s", text);
            return NULL;
          }
        node = node_new (CTL_NODE_NUMBER, tok.pos);
        node->is_int = TRUE;
        node->integer = g_utf8_get_char (value);
        node->number = (double) node->integer;
        break;
      }
    case TOK_STRING:
    case TOK_RAW_STRING:
      node = node_new (CTL_NODE_STRING, tok.pos);
      if (tok.type == TOK_STRING)
        node->text = unquote (p, tok);
      else
        {
          /* Go drops carriage returns from raw strings */
          g_autoptr(GString) raw = g_string_new (NULL);

          for (gsize i = tok.pos + 1; i + 1 < tok.end; i++)
            if (p->text[i] != '\r')
              g_string_append_c (raw, p->text[i]);
          node->text = g_string_free (g_steal_pointer (&raw), FALSE);
        }
      if (node->text == NULL)
        {
          ctl_node_free (node);
          return NULL;
        }
      break;
    case TOK_VARIABLE:
      {
        g_autofree char *name = token_text (p, tok);

        if (!variable_defined (p, name))
          {
            parse_error (p, tok.pos, "undefined variable \"%s\"", name);
            return NULL;
          }
        node = node_new (CTL_NODE_VARIABLE, tok.pos);
        g_ptr_array_add (fields, g_steal_pointer (&name));
        break;
      }
    case TOK_FIELD:
      node = node_new (CTL_NODE_FIELD, tok.pos);
      g_ptr_array_add (fields, g_strndup (p->text + tok.pos + 1, tok.end - tok.pos - 1));
      break;
    case TOK_LEFT_PAREN:
      {
        CtlNode *pipe;

        if (!enter (p, tok.pos))
          return NULL;
        pipe = parse_pipeline (p, "parenthesized pipeline", TOK_RIGHT_PAREN);
        p->depth--;
        if (pipe == NULL)
          return NULL;
        node = pipe;
        break;
      }
    default:
      p->pos = saved;
      return NULL;
    }
  node->end = MAX (node->end, tok.end);
  if (!scan_fields (p, fields, &chain_pos))
    {
      ctl_node_free (node);
      return NULL;
    }
  if (node->type == CTL_NODE_FIELD || node->type == CTL_NODE_VARIABLE)
    {
      /* Go places a chain of fields where its second part starts */
      if (chain_pos != 0)
        node->pos = chain_pos;
      node->idents = fields_steal (g_steal_pointer (&fields));
    }
  else if (fields->len > 0)
    {
      CtlNode *chain;

      if (node->type != CTL_NODE_PIPE)
        {
          g_autofree char *term = go_quote (p->text + tok.pos, tok.end - tok.pos);

          parse_error (p, tok.pos, "unexpected . after term %s", term);
          ctl_node_free (node);
          return NULL;
        }
      chain = node_new (CTL_NODE_CHAIN, chain_pos);
      chain->start = tok.pos;
      chain->operand = node;
      chain->idents = fields_steal (g_steal_pointer (&fields));
      node = chain;
    }
  node->end = MAX (node->end, p->pos);
  return node;
}

static CtlNode *
parse_command (Parser *p, TokenType end)
{
  CtlNode *cmd = node_new (CTL_NODE_COMMAND, p->pos);

  for (;;)
    {
      CtlNode *operand = parse_operand (p);
      gsize saved;
      Token tok;

      if (p->error != NULL)
        break;
      if (operand != NULL)
        {
          if (cmd->children->len == 0)
            {
              cmd->pos = operand->pos;
              cmd->start = operand->start;
            }
          g_ptr_array_add (cmd->children, operand);
        }
      saved = p->pos;
      tok = next_token (p);
      if (p->error != NULL)
        break;
      /* the pipeline decides about a closing delimiter or parenthesis */
      if (tok.type == TOK_RIGHT_DELIM || tok.type == TOK_RIGHT_PAREN)
        {
          p->pos = saved;
          break;
        }
      if (tok.type == TOK_PIPE)
        break;
      if (operand != NULL && tok.space_before)
        {
          p->pos = saved;
          continue;
        }
      unexpected (p, tok, "operand");
      break;
    }
  if (p->error == NULL && cmd->children->len == 0)
    parse_error (p, cmd->pos, "empty command");
  if (p->error != NULL)
    {
      ctl_node_free (cmd);
      return NULL;
    }
  cmd->end = ((CtlNode *) g_ptr_array_index (cmd->children, cmd->children->len - 1))->end;
  return cmd;
}

/* Go's pipeline(): declarations ("$x :=", "$i, $v :=" in a range, "$x ="), then commands
 * separated by "|" up to @end */
static CtlNode *
parse_pipeline (Parser *p, const char *context, TokenType end)
{
  CtlNode *pipe = node_new (CTL_NODE_PIPE, p->pos);
  gboolean trim = FALSE;

  for (;;)
    {
      gsize saved = p->pos;
      Token var = next_token (p), next;

      if (p->error != NULL || var.type != TOK_VARIABLE)
        {
          p->pos = saved;
          break;
        }
      next = next_token (p);
      if (p->error != NULL)
        break;
      if (next.type == TOK_DECLARE || next.type == TOK_ASSIGN)
        {
          g_autofree char *name = token_text (p, var);

          pipe->is_assign = next.type == TOK_ASSIGN;
          g_ptr_array_add (pipe->decl, g_steal_pointer (&name));
          break;
        }
      if (next.type == TOK_COMMA)
        {
          gsize after_comma = p->pos;
          Token peek;

          g_ptr_array_add (pipe->decl, token_text (p, var));
          if (g_str_equal (context, "range") && pipe->decl->len < 2)
            {
              peek = next_token (p);
              p->pos = after_comma;
              if (peek.type == TOK_VARIABLE || peek.type == TOK_RIGHT_DELIM ||
                  peek.type == TOK_RIGHT_PAREN)
                continue;
              parse_error (p, peek.pos, "range can only initialize variables");
              break;
            }
          parse_error (p, var.pos, "too many declarations in %s", context);
          break;
        }
      p->pos = saved;
      g_ptr_array_set_size (pipe->decl, 0);
      break;
    }
  /* Go lets an assignment declare too; the evaluator says when nothing was declared */
  for (guint i = 0; p->error == NULL && i < pipe->decl->len; i++)
    g_ptr_array_add (p->vars, g_ptr_array_index (pipe->decl, i));

  while (p->error == NULL)
    {
      gsize saved = p->pos;
      Token tok = next_token (p);
      CtlNode *cmd;

      if (p->error != NULL)
        break;
      if (tok.type == end)
        {
          trim = tok.trim;
          pipe->end = tok.end;
          if (pipe->children->len == 0)
            parse_error (p, tok.pos, "missing value for %s", context);
          break;
        }
      if (end == TOK_RIGHT_PAREN && tok.type == TOK_RIGHT_DELIM)
        {
          parse_error (p, tok.pos, "unclosed left paren");
          break;
        }
      if (tok.type == TOK_RIGHT_DELIM || tok.type == TOK_RIGHT_PAREN || tok.type == TOK_EOF)
        {
          unexpected (p, tok, context);
          break;
        }
      p->pos = saved;
      cmd = parse_command (p, end);
      if (cmd == NULL)
        break;
      g_ptr_array_add (pipe->children, cmd);
    }
  /* Go: only the first command may be a constant or the dot */
  for (guint i = 1; p->error == NULL && i < pipe->children->len; i++)
    {
      CtlNode *cmd = g_ptr_array_index (pipe->children, i);
      CtlNode *first = g_ptr_array_index (cmd->children, 0);

      if (first->type == CTL_NODE_BOOL || first->type == CTL_NODE_DOT ||
          first->type == CTL_NODE_NIL || first->type == CTL_NODE_NUMBER ||
          first->type == CTL_NODE_STRING)
        parse_error (p, first->pos, "non executable command in pipeline stage %u", i + 1);
    }
  if (p->error != NULL)
    {
      ctl_node_free (pipe);
      return NULL;
    }
  if (end == TOK_RIGHT_DELIM)
    p->trim_next = trim;
  /* the pipeline's own place, as Go's, is its first command */
  if (pipe->children->len > 0)
    {
      pipe->pos = ((CtlNode *) g_ptr_array_index (pipe->children, 0))->pos;
      pipe->start = ((CtlNode *) g_ptr_array_index (pipe->children, 0))->start;
    }
  return pipe;
}

static CtlNode *parse_list (Parser *p, ListEnd *how, gsize *end_pos);

/* if, range and with: the pipeline, the list, an optional else (or else if) and the end */
static CtlNode *
parse_control (Parser *p, CtlNodeType type, const char *context, gsize pos)
{
  guint n_vars = p->vars->len;
  CtlNode *node = node_new (type, pos);
  ListEnd how = END_EOF;
  gsize end_pos = 0;

  if (!enter (p, pos))
    {
      ctl_node_free (node);
      return NULL;
    }
  node->pipe = parse_pipeline (p, context, TOK_RIGHT_DELIM);
  if (node->pipe != NULL)
    node->list = parse_list (p, &how, &end_pos);
  if (p->error == NULL && how == END_EOF)
    parse_error (p, p->len, "unexpected EOF");
  if (p->error == NULL && how == END_ELSE && p->else_if)
    {
      Token tok = next_token (p);

      p->else_if = FALSE;
      if (type != CTL_NODE_IF)
        unexpected (p, tok, "else");
      else
        {
          /* {{else if b}} is {{else}}{{if b}}…{{end}}, sharing the one {{end}} */
          CtlNode *nested = parse_control (p, CTL_NODE_IF, "if", tok.pos);

          node->else_list = node_new (CTL_NODE_LIST, tok.pos);
          if (nested != NULL)
            g_ptr_array_add (node->else_list->children, nested);
        }
    }
  else if (p->error == NULL && how == END_ELSE)
    {
      node->else_list = parse_list (p, &how, &end_pos);
      if (p->error == NULL && how != END_END)
        parse_error (p, end_pos, how == END_EOF ? "unexpected EOF"
                                                : "expected end; found {{else}}");
    }
  p->depth--;
  g_ptr_array_set_size (p->vars, n_vars);
  if (p->error != NULL)
    {
      ctl_node_free (node);
      return NULL;
    }
  return node;
}

/* after "{{" (and its trim marker): one action, added to @list; *how says whether it ended
 * the list */
static void
parse_action (Parser *p, CtlNode *list, ListEnd *how, gsize *end_pos)
{
  gsize saved = p->pos;
  Token tok = next_token (p);
  static const struct {
    const char *keyword;
    const char *what;
  } refused[] = {
    { "define", "{{define}}" },
    { "template", "{{template}}" },
    { "block", "{{block}}" },
    { "break", "{{break}}" },
    { "continue", "{{continue}}" },
  };

  if (p->error != NULL)
    return;
  *end_pos = tok.pos;
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    if (token_is (p, tok, refused[i].keyword))
      {
        unsupported (p, tok.pos, refused[i].what);
        return;
      }
  if (token_is (p, tok, "end") || token_is (p, tok, "else"))
    {
      gboolean is_end = token_is (p, tok, "end");
      gsize after = p->pos;
      Token close = next_token (p);

      if (p->error != NULL)
        return;
      if (!is_end && token_is (p, close, "if"))
        {
          p->pos = after;
          p->else_if = TRUE;
        }
      else if (!is_end && token_is (p, close, "with"))
        {
          unsupported (p, close.pos, "{{else with}}");
          return;
        }
      else if (close.type != TOK_RIGHT_DELIM)
        {
          unexpected (p, close, is_end ? "end" : "else");
          return;
        }
      else
        p->trim_next = close.trim;
      *how = is_end ? END_END : END_ELSE;
      return;
    }
  if (token_is (p, tok, "if") || token_is (p, tok, "range") || token_is (p, tok, "with"))
    {
      CtlNodeType type = token_is (p, tok, "if")      ? CTL_NODE_IF
                         : token_is (p, tok, "range") ? CTL_NODE_RANGE
                                                      : CTL_NODE_WITH;
      g_autofree char *context = token_text (p, tok);
      CtlNode *node = parse_control (p, type, context, tok.pos);

      if (node != NULL)
        g_ptr_array_add (list->children, node);
      return;
    }
  p->pos = saved;
  {
    CtlNode *action = node_new (CTL_NODE_ACTION, tok.pos);

    action->pipe = parse_pipeline (p, "command", TOK_RIGHT_DELIM);
    if (action->pipe == NULL)
      {
        ctl_node_free (action);
        return;
      }
    action->pos = action->pipe->pos;
    action->start = action->pipe->start;
    action->end = action->pipe->end;
    g_ptr_array_add (list->children, action);
  }
}

/* text and actions up to {{end}}, {{else}} or the end of the template */
static CtlNode *
parse_list (Parser *p, ListEnd *how, gsize *end_pos)
{
  CtlNode *list = node_new (CTL_NODE_LIST, p->pos);

  *how = END_EOF;
  while (p->error == NULL)
    {
      const char *open = p->pos < p->len ? strstr (p->text + p->pos, "{{") : NULL;
      gsize text_end = open != NULL ? (gsize) (open - p->text) : p->len;
      gsize text_start = p->pos;
      gsize action = text_end + 2;
      gboolean trim_left = FALSE;

      if (open != NULL && action + 1 < p->len && p->text[action] == '-' &&
          is_space (p->text[action + 1]))
        {
          trim_left = TRUE;
          action += 2;
        }
      /* the text before, trimmed by " -}}" before it and "{{- " after it */
      {
        gsize a = text_start, b = text_end;

        if (p->trim_next)
          while (a < b && is_space (p->text[a]))
            a++;
        if (trim_left)
          while (b > a && is_space (p->text[b - 1]))
            b--;
        p->trim_next = FALSE;
        if (b > a)
          {
            CtlNode *text = node_new (CTL_NODE_TEXT, a);

            text->text = g_strndup (p->text + a, b - a);
            text->end = b;
            g_ptr_array_add (list->children, text);
          }
      }
      if (open == NULL)
        {
          p->pos = p->len;
          *end_pos = p->len;
          break;
        }
      p->pos = action;
      if (at (p, action, "/*"))
        {
          const char *close = strstr (p->text + action + 2, "*/");
          gsize after;

          if (close == NULL)
            {
              parse_error (p, action, "unclosed comment");
              break;
            }
          after = close - p->text + 2;
          if (at (p, after, " -}}") || at (p, after, "\t-}}") || at (p, after, "\n-}}") ||
              at (p, after, "\r-}}"))
            {
              p->trim_next = TRUE;
              after += 4;
            }
          else if (at (p, after, "}}"))
            after += 2;
          else
            {
              parse_error (p, after, "comment ends before closing delimiter");
              break;
            }
          p->pos = after;
          continue;
        }
      parse_action (p, list, how, end_pos);
      if (*how != END_EOF)
        break;
    }
  if (p->error != NULL)
    {
      ctl_node_free (list);
      return NULL;
    }
  return list;
}

CtlTemplate *
ctl_template_parse (const char *text, GError **error)
{
  g_autoptr(CtlTemplate) tmpl = g_new0 (CtlTemplate, 1);
  Parser p = { 0 };
  ListEnd how = END_EOF;
  gsize end_pos = 0;

  if (strlen (text) > CTL_TEMPLATE_MAX_SIZE)
    {
      g_set_error (error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_LIMIT,
                   _("template: longer than %d bytes"), CTL_TEMPLATE_MAX_SIZE);
      return NULL;
    }
  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_PARSE,
                   _("template: not valid UTF-8"));
      return NULL;
    }
  tmpl->text = g_strdup (text);
  p.text = tmpl->text;
  p.len = strlen (text);
  p.vars = g_ptr_array_new ();
  g_ptr_array_add (p.vars, (gpointer) "$");
  tmpl->root = parse_list (&p, &how, &end_pos);
  if (p.error == NULL && how != END_EOF)
    parse_error (&p, end_pos, "unexpected {{%s}}", how == END_END ? "end" : "else");
  g_ptr_array_unref (p.vars);
  if (p.error != NULL)
    {
      g_propagate_error (error, p.error);
      return NULL;
    }
  return g_steal_pointer (&tmpl);
}

void
ctl_template_free (CtlTemplate *tmpl)
{
  if (tmpl == NULL)
    return;
  ctl_node_free (tmpl->root);
  g_free (tmpl->text);
  g_free (tmpl);
}

char *
ctl_template_node_location (CtlTemplate *tmpl, CtlNode *node)
{
  gsize line_start = node->pos;
  g_autofree char *source = NULL;

  while (line_start > 0 && tmpl->text[line_start - 1] != '\n')
    line_start--;
  source = g_strndup (tmpl->text + node->start, node->end - node->start);
  g_strstrip (source);
  return g_strdup_printf ("template: :%u:%zu: executing \"\" at <%s>: ",
                          line_of (tmpl->text, node->pos), node->pos - line_start, source);
}
