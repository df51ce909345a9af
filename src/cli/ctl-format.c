/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "ctl-format.h"
#include "ctl-template.h"
#include "pd-error.h"
#include "pd-json.h"
#include "pd-plugin-config.h"
#include "pd-privileges.h"

/* How pluginctl shows things: text made safe for a terminal, and the table and JSON formats
 * of Docker's `plugin ls`, `plugin inspect` and install prompt, which scripts parse. */

/* docker's `plugin ls` truncations (cli/command/formatter) */
#define CTL_SHORT_ID_LEN 12
#define CTL_DESCRIPTION_WIDTH 45

/* text for the terminal */

/* A message from the daemon (or from GIO, quoting a file name of the context) for the terminal.
 * The daemon escapes the untrusted text it quotes, so a clean message is kept as it is and its
 * escapes (\x1b, Go's %q) are not doubled; one that still carries a control character, from
 * an older daemon or a hostile file name, is escaped as a whole. */
char *
ctl_escape_line (const char *line)
{
  if (!pd_string_has_control_chars (line))
    return g_strdup (line);
  return pd_escape_untrusted_full (line, -1);
}

/* A message may span lines (a failed Enable quotes the plugin's last output lines, which the
 * daemon escaped), and a line feed does not drive a terminal. */
char *
ctl_escape_message (const char *message)
{
  g_auto(GStrv) lines = NULL;

  if (message == NULL)
    return g_strdup ("");
  if (strchr (message, '\n') == NULL)
    return ctl_escape_line (message);
  lines = g_strsplit (message, "\n", -1);
  for (gsize i = 0; lines[i] != NULL; i++)
    {
      char *escaped = ctl_escape_line (lines[i]);

      g_free (lines[i]);
      lines[i] = escaped;
    }
  return g_strjoinv ("\n", lines);
}

/* The C0 controls but for line feed and tab, DEL, the C1 controls and bytes that are not UTF-8
 * become \xHH, so that a plugin cannot drive the user's terminal. */
gsize
ctl_append_terminal_safe (GString *out, const char *data, gsize len, gboolean at_end)
{
  const char *p = data;
  const char *end = data + len;

  while (p < end)
    {
      guchar byte = (guchar) *p;
      gunichar c;

      if (byte < 0x80)
        {
          if (byte == '\n' || byte == '\t' || (byte >= 0x20 && byte != 0x7f))
            g_string_append_c (out, (char) byte);
          else
            g_string_append_printf (out, "\\x%02x", byte);
          p++;
          continue;
        }
      c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -2 && !at_end)
        break;  /* the rest of the character comes with the next read */
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02x", byte);
          p++;
          continue;
        }
      if (c < 0xa0)
        g_string_append_printf (out, "\\x%02x", c);
      else
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
      p = g_utf8_next_char (p);
    }
  return (gsize) (p - data);
}

/* text with values from plugins (a template's output): on a terminal, what would drive it is
 * escaped; a file or a pipe gets it as it is, as docker writes it */
void
ctl_print_untrusted (const char *text, gsize len)
{
  if (isatty (STDOUT_FILENO))
    {
      g_autoptr(GString) out = g_string_sized_new (len);

      ctl_append_terminal_safe (out, text, len, TRUE);
      fwrite (out->str, 1, out->len, stdout);
    }
  else
    fwrite (text, 1, len, stdout);
}

static void
append_privilege_values (GString *out, const char *const *values)
{
  /* Go's %v of a []string: "[a b]"; the values come from an untrusted config, and a cursor
   * movement among them could hide an earlier line of the prompt from the user who answers */
  g_string_append_c (out, '[');
  for (gsize i = 0; values != NULL && values[i] != NULL; i++)
    {
      g_autofree char *value = pd_escape_untrusted_full (values[i], -1);

      if (i > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, value);
    }
  g_string_append_c (out, ']');
}

void
ctl_append_privileges (GString *out, const char *name, GPtrArray *privileges)
{
  g_autofree char *shown_name = pd_escape_untrusted_full (name, -1);

  g_string_append_printf (out, _("Plugin \"%s\" is requesting the following privileges:\n"),
                          shown_name);
  for (guint i = 0; i < privileges->len; i++)
    {
      PdPrivilege *privilege = g_ptr_array_index (privileges, i);
      g_autofree char *privilege_name = pd_escape_untrusted_full (privilege->name, -1);

      g_string_append_printf (out, " - %s: ", privilege_name);
      append_privilege_values (out, (const char *const *) privilege->values);
      g_string_append_c (out, '\n');
    }
}

/* Docker's `plugin ls` */

char *
ctl_truncate_id (const char *id)
{
  const char *colon = strchr (id, ':');

  if (colon != NULL)
    id = colon + 1;
  return g_strndup (id, CTL_SHORT_ID_LEN);
}

/* formatter.Ellipsis: fits @text into @width display columns (wide characters count 2) */
static char *
ellipsis (const char *text, guint width)
{
  g_autoptr(GString) out = g_string_new (NULL);
  guint total = 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    total += g_unichar_iswide (g_utf8_get_char (p)) ? 2 : 1;
  if (total <= width)
    return g_strdup (text);

  total = 0;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      guint w = g_unichar_iswide (c) ? 2 : 1;

      if (total + w > width - 1)
        break;
      g_string_append_unichar (out, c);
      total += w;
    }
  g_string_append (out, "…");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
ctl_format_description (const char *description, gboolean trunc)
{
  g_autoptr(GString) clean = g_string_new (NULL);

  for (const char *p = description; *p != '\0'; p++)
    if (*p != '\r' && *p != '\n')
      g_string_append_c (clean, *p);
  if (trunc)
    return ellipsis (clean->str, CTL_DESCRIPTION_WIDTH);
  return g_string_free (g_steal_pointer (&clean), FALSE);
}

static gboolean
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

/* digit runs compare as numbers, digits sort before other bytes */
int
ctl_natural_compare (const char *a, const char *b)
{
  gsize i = 0, j = 0;
  gsize len_a = strlen (a), len_b = strlen (b);

  while (i < len_a && j < len_b)
    {
      gboolean digit_a = is_digit (a[i]), digit_b = is_digit (b[j]);

      if (digit_a != digit_b)
        return digit_a ? -1 : 1;
      if (!digit_a)
        {
          if (a[i] != b[j])
            return (guchar) a[i] < (guchar) b[j] ? -1 : 1;
          i++;
          j++;
        }
      else
        {
          gsize start_a, start_b, num_a, num_b;
          int cmp;

          while (i < len_a && a[i] == '0')
            i++;
          while (j < len_b && b[j] == '0')
            j++;
          start_a = i;
          start_b = j;
          while (i < len_a && is_digit (a[i]))
            i++;
          while (j < len_b && is_digit (b[j]))
            j++;
          num_a = i - start_a;
          num_b = j - start_b;
          if (num_a != num_b)
            return num_a < num_b ? -1 : 1;
          cmp = strncmp (a + start_a, b + start_b, num_a);
          if (cmp != 0)
            return cmp < 0 ? -1 : 1;
          /* fewer leading zeros first */
          if (start_a != start_b)
            return start_a < start_b ? -1 : 1;
        }
    }
  /* identical so far: the one that continues sorts last */
  if (len_a == len_b)
    return 0;
  return len_a < len_b ? -1 : 1;
}

/* Go's text/tabwriter with docker's settings (minimum width 10, padding 3, spaces, no
 * flags). A cell ends with a tab (or \v); a column block is a run of adjacent lines that
 * have a cell in that column, and every cell of a block is padded to the widest of them plus
 * the padding; the last cell of a line is not a column. A form feed (written as a line feed)
 * ends every block. Widths count characters. Go computes the blocks recursively, column by
 * column; here each column is one pass over the lines, so that no text nests deeply. */
#define CTL_TAB_MIN_WIDTH 10
#define CTL_TAB_PADDING 3

typedef struct {
  gsize start;  /* offset of the cell's text */
  gsize size;
  gsize width;  /* characters */
  gsize padded; /* the column width it is padded to, 0 for none */
} TabCell;

typedef struct {
  GArray *cells;      /* TabCell, the last one not a column */
  gboolean section;   /* a form feed follows: no block goes on to the next line */
  gboolean last;      /* the text ended without a line feed */
} TabLine;

static void
tab_line_clear (TabLine *line)
{
  g_clear_pointer (&line->cells, g_array_unref);
}

void
ctl_tabwriter_format (GString *out, const char *text, gsize len)
{
  g_autoptr(GArray) lines = g_array_new (FALSE, TRUE, sizeof (TabLine));
  TabLine *line;
  gsize cell_start = 0;
  gsize max_columns = 0;

  g_array_set_clear_func (lines, (GDestroyNotify) tab_line_clear);
  g_array_set_size (lines, 1);
  line = &g_array_index (lines, TabLine, 0);
  line->cells = g_array_new (FALSE, TRUE, sizeof (TabCell));
  for (gsize i = 0; i <= len; i++)
    {
      char c = i < len ? text[i] : '\0';
      TabCell cell;

      if (i < len && c != '\t' && c != '\v' && c != '\n' && c != '\f')
        continue;
      cell.start = cell_start;
      cell.size = i - cell_start;
      cell.width = g_utf8_strlen (text + cell_start, cell.size);
      cell.padded = 0;
      /* at the end, an empty last cell is no cell */
      if (i < len || cell.size > 0)
        g_array_append_val (line->cells, cell);
      cell_start = i + 1;
      if (i == len)
        line->last = TRUE;
      if (i < len && (c == '\n' || c == '\f'))
        {
          line->section = c == '\f';
          g_array_set_size (lines, lines->len + 1);
          line = &g_array_index (lines, TabLine, lines->len - 1);
          line->cells = g_array_new (FALSE, TRUE, sizeof (TabCell));
        }
    }
  for (guint i = 0; i < lines->len; i++)
    max_columns = MAX (max_columns, g_array_index (lines, TabLine, i).cells->len);

  /* column by column: the blocks are the runs of lines with a cell there */
  for (gsize column = 0; column + 1 < max_columns; column++)
    {
      guint first = 0;

      while (first < lines->len)
        {
          guint end = first;
          gsize width = CTL_TAB_MIN_WIDTH;

          if (g_array_index (lines, TabLine, first).cells->len <= column + 1)
            {
              first++;
              continue;
            }
          for (; end < lines->len; end++)
            {
              TabLine *l = &g_array_index (lines, TabLine, end);

              if (l->cells->len <= column + 1)
                break;
              width = MAX (width, g_array_index (l->cells, TabCell, column).width +
                                    CTL_TAB_PADDING);
              if (l->section)
                {
                  end++;
                  break;
                }
            }
          for (guint k = first; k < end; k++)
            g_array_index (g_array_index (lines, TabLine, k).cells, TabCell, column).padded =
              width;
          first = end;
        }
    }

  for (guint i = 0; i < lines->len; i++)
    {
      TabLine *l = &g_array_index (lines, TabLine, i);

      for (guint j = 0; j < l->cells->len; j++)
        {
          TabCell *cell = &g_array_index (l->cells, TabCell, j);

          g_string_append_len (out, text + cell->start, cell->size);
          for (gsize k = cell->width; k < cell->padded; k++)
            g_string_append_c (out, ' ');
        }
      if (!l->last)
        g_string_append_c (out, '\n');
    }
}

/* rows of cells through the tabwriter, as docker prints its tables */
void
ctl_print_table (GPtrArray *rows, guint n_columns)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint r = 0; r < rows->len; r++)
    {
      const char *const *cells = g_ptr_array_index (rows, r);

      for (guint c = 0; c < n_columns; c++)
        {
          g_string_append (text, cells[c]);
          g_string_append_c (text, c + 1 < n_columns ? '\t' : '\n');
        }
    }
  ctl_tabwriter_format (out, text->str, text->len);
  g_print ("%s", out->str);
}

/* docker's raw format (cli/command/plugin/formatter.go) */
#define CTL_RAW_FORMAT \
  "plugin_id: {{.ID}}\\nname: {{.Name}}\\ndescription: {{.Description}}\\nenabled: {{.Enabled}}\\n"
#define CTL_RAW_QUIET_FORMAT "plugin_id: {{.ID}}"

/* docker's formatter for `plugin ls`: "table" before a template asks for a header and
 * aligned columns; the two characters \t and \n stand for a tab and a line feed */
CtlTemplate *
ctl_parse_list_format (const char *format, gboolean quiet, gboolean *table, GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  const char *start, *end;

  if (g_str_equal (format, "raw"))
    format = quiet ? CTL_RAW_QUIET_FORMAT : CTL_RAW_FORMAT;
  start = format;

  *table = g_str_has_prefix (format, "table");
  if (*table)
    start += strlen ("table");
  end = start + strlen (start);
  while (*start == ' ')
    start++;
  while (end > start && end[-1] == ' ')
    end--;
  for (const char *p = start; p < end; p++)
    {
      if (p[0] == '\\' && p + 1 < end && (p[1] == 't' || p[1] == 'n'))
        {
          g_string_append_c (text, p[1] == 't' ? '\t' : '\n');
          p++;
        }
      else
        g_string_append_c (text, *p);
    }
  return ctl_template_parse (text->str, error);
}

gboolean
ctl_format_list (CtlTemplate *tmpl, gboolean table, GPtrArray *rows, GString *out,
                 GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(GString) body = g_string_new (NULL);
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) header = NULL;
  static const char *const columns[][2] = {
    { "Description", "DESCRIPTION" }, { "Enabled", "ENABLED" }, { "ID", "ID" },
    { "Name", "NAME" }, { "PluginReference", "IMAGE" }, { "State", "STATE" },
  };

  for (guint i = 0; i < rows->len; i++)
    {
      if (!ctl_template_execute (tmpl, g_ptr_array_index (rows, i),
                                 CTL_TEMPLATE_DATA_LIST_ROW, body, error))
        return FALSE;
      g_string_append_c (body, '\n');
    }
  if (!table)
    {
      g_string_append_len (out, body->str, body->len);
      return TRUE;
    }
  builder = json_builder_new ();
  json_builder_begin_object (builder);
  for (gsize i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      json_builder_set_member_name (builder, columns[i][0]);
      json_builder_add_string_value (builder, columns[i][1]);
    }
  json_builder_end_object (builder);
  header = json_builder_get_root (builder);
  /* like docker, a header the template fails on is printed as far as it got */
  ctl_template_execute (tmpl, header, CTL_TEMPLATE_DATA_LIST_HEADER, text, NULL);
  g_string_append_c (text, '\n');
  g_string_append_len (text, body->str, body->len);
  ctl_tabwriter_format (out, text->str, text->len);
  return TRUE;
}

/* JSON */

/* appends the character at @p of valid UTF-8 JSON text and returns its length in bytes. Go's
 * encoder leaves DEL and the C1 controls raw, and a terminal acts on them (U+009B is CSI): they
 * become \u escapes, which any JSON parser reads as the same string. They can only occur inside
 * strings, where such an escape is allowed. */
static gsize
append_json_char (GString *out, const char *p)
{
  guchar c = (guchar) p[0];

  if (c == 0x7f)
    {
      g_string_append (out, "\\u007f");
      return 1;
    }
  if (c == 0xc2 && (guchar) p[1] >= 0x80 && (guchar) p[1] < 0xa0)
    {
      g_string_append_printf (out, "\\u00%02x", (guchar) p[1]);
      return 2;
    }
  g_string_append_c (out, (char) c);
  return 1;
}

void
ctl_print_json_line (JsonNode *node)
{
  g_autofree char *data = pd_json_to_go_data (node, NULL);
  g_autoptr(GString) line = g_string_sized_new (strlen (data) + 1);

  for (const char *p = data; *p != '\0';)
    p += append_json_char (line, p);
  g_print ("%s\n", line->str);
}

void
ctl_append_indent (GString *out, guint depth)
{
  g_string_append_c (out, '\n');
  for (guint i = 0; i < depth; i++)
    g_string_append (out, "    ");
}

/* as `docker plugin inspect` prints the daemon's raw JSON: only whitespace changes, every
 * token is copied as it came (but for the controls append_json_char escapes) */
void
ctl_append_json_indented (GString *out, const char *json, guint base_depth)
{
  guint depth = base_depth;
  gboolean in_string = FALSE;
  gboolean escaped = FALSE;
  gboolean need_indent = FALSE;  /* after an opening bracket, unless it closes at once */

  for (const char *p = json; *p != '\0'; p++)
    {
      char c = *p;

      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
          else
            {
              p += append_json_char (out, p) - 1;
              continue;
            }
          g_string_append_c (out, c);
          continue;
        }
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        continue;
      if (need_indent && c != ']' && c != '}')
        {
          ctl_append_indent (out, depth);
          need_indent = FALSE;
        }
      switch (c)
        {
        case '"':
          in_string = TRUE;
          g_string_append_c (out, c);
          break;
        case '{':
        case '[':
          g_string_append_c (out, c);
          depth++;
          need_indent = TRUE;
          break;
        case '}':
        case ']':
          depth--;
          if (need_indent)
            need_indent = FALSE;  /* empty: "[]" and "{}" stay compact */
          else
            ctl_append_indent (out, depth);
          g_string_append_c (out, c);
          break;
        case ',':
          g_string_append_c (out, c);
          ctl_append_indent (out, depth);
          break;
        case ':':
          g_string_append (out, ": ");
          break;
        default:
          g_string_append_c (out, c);
        }
    }
}
