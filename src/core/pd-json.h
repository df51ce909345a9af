/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * JSON from outside (plugin answers, registry bodies, registry-auth, records on disk).
 * json-glib parses recursively with no depth limit and accepts more than JSON (comments,
 * single-quoted strings, hex numbers), so untrusted text reaches it only through
 * pd_json_parse(): a size bound, then an iterative scan of strict RFC 8259 syntax that counts
 * the nesting exactly as json-glib will recurse.
 */

/* deep enough for every document plugind reads (a manifest nests 4 levels, a plugin record
 * 6, Docker's plugin configs fewer than 10), shallow enough that no recursive parser can
 * exhaust a thread's stack */
#define PD_JSON_MAX_DEPTH 128

/* TRUE when @data (@len bytes) is at most @max_size bytes of one strict JSON value (RFC 8259:
 * no comments, no BOM, valid UTF-8, no NUL byte, not even as "\u0000") nested at most
 * PD_JSON_MAX_DEPTH arrays and objects deep. Never recursive. PD_ERROR_LIMITS_EXCEEDED for the
 * size and the depth, PD_ERROR_INVALID_ARGS for the syntax; messages quote nothing of @data. */
gboolean pd_json_check (const char *data, gsize len, gsize max_size, GError **error);

/* pd_json_check(), then json-glib: the root node (owned), or NULL with @error set (whose
 * message quotes nothing of @data either). */
JsonNode *pd_json_parse (const char *data, gsize len, gsize max_size, GError **error);

/* The strict lexer pd_json_check() and the plugin config's scanner share. Each scans at
 * data[*pos] and moves *pos past what it accepted; on failure it returns a short description
 * of the problem ("unterminated string"), with *pos at the offending byte. */
void pd_json_skip_ws (const char *data, gsize len, gsize *pos);
/* *pos is at the opening quote; @out (may be NULL) gets the decoded contents. A NUL byte, raw
 * or escaped, fails with *nul set to TRUE. */
const char *pd_json_scan_string (const char *data, gsize len, gsize *pos, GString *out,
                                 gboolean *nul);
const char *pd_json_scan_number (const char *data, gsize len, gsize *pos);
/* TRUE and *pos moved past @word when the data at *pos starts with it */
gboolean pd_json_scan_literal (const char *data, gsize len, gsize *pos, const char *word);

/* Writes @node as Go's json.Marshal would (compact, HTML-escaped, member order kept). */
char *pd_json_to_go_data (JsonNode *node, gsize *len);
/* the same, of what @builder built, as bytes (an answer's body) */
GBytes *pd_json_builder_to_go_bytes (JsonBuilder *builder);
/* the valid UTF-8 @s as a JSON string, escaped as Go's encoder does; HTML's <, > and & as
 * \u003c… when @escape_html (json.Marshal), raw otherwise (an Encoder with SetEscapeHTML off) */
void pd_json_append_go_string (GString *out, const char *s, gboolean escape_html);

/* "@parent.@name" (just @name when @parent is NULL or empty): a key path for messages */
char *pd_json_path_join (const char *parent, const char *name);
/* adds member @key, an array of the strings of @strv (NULL gives null, as Go's nil slice) */
void pd_json_builder_add_strv (JsonBuilder *builder, const char *key, const char *const *strv);
/* The first member of @object named @name in any ASCII case that holds a string, as Go decodes
 * keys, or NULL */
const char *pd_json_object_get_string_nocase (JsonObject *object, const char *name);

G_END_DECLS
