/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ctl-template.h"

G_BEGIN_DECLS

/* text for the terminal */

/* a line from the daemon for the terminal: kept when clean, else escaped as a whole */
char *ctl_escape_line (const char *line);
/* the same line by line (NULL gives "") */
char *ctl_escape_message (const char *message);
/* plugin output for a terminal, controls but line feed and tab as \xHH; returns the bytes
 * consumed (an incomplete UTF-8 sequence at the end is left unless @at_end) */
gsize ctl_append_terminal_safe (GString *out, const char *data, gsize len, gboolean at_end);
/* @len bytes of text to standard output, escaped as above when it is a terminal */
void ctl_print_untrusted (const char *text, gsize len);
/* Docker's list of @privileges (PdPrivilege) of the plugin @name, as its install prompt shows it */
void ctl_append_privileges (GString *out, const char *name, GPtrArray *privileges);

/* Docker's `plugin ls` */

/* formatter.TruncateID: 12 characters, without the algorithm */
char *ctl_truncate_id (const char *id);
/* the Description column: CR and LF removed, truncated with @trunc */
char *ctl_format_description (const char *description, gboolean trunc);
/* natural order of names (fvbommel/sortorder NaturalLess) */
int ctl_natural_compare (const char *a, const char *b);
/* text/tabwriter as Docker configures it; @rows holds string arrays of @n_columns cells */
void ctl_print_table (GPtrArray *rows, guint n_columns);
/* the same for @text, whose cells end with tabs: appended to @out */
void ctl_tabwriter_format (GString *out, const char *text, gsize len);

/* a --format of `plugin ls` that is a template, or "raw" (@quiet: its -q form); *@table when
 * it starts with "table" */
CtlTemplate *ctl_parse_list_format (const char *format,
                                    gboolean quiet,
                                    gboolean *table,
                                    GError **error);
/* the rows (JsonNode, as `ls --format json` writes them) through @tmpl, with a header and
 * aligned columns for a table */
gboolean ctl_format_list (CtlTemplate *tmpl,
                          gboolean table,
                          GPtrArray *rows,
                          GString *out,
                          GError **error);

/* JSON */

/* @node on one line of standard output, as Go writes it, without raw controls */
void ctl_print_json_line (JsonNode *node);
/* a line feed and @depth levels of indent */
void ctl_append_indent (GString *out, guint depth);
/* Go's json.Indent with 4 spaces of the valid JSON text @json, from @base_depth */
void ctl_append_json_indented (GString *out, const char *json, guint base_depth);

G_END_DECLS
