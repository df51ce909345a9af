/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * A strict JSON scanner into a small tree, for plugin configs. json-glib keeps the last of
 * duplicate keys silently, truncates strings at an escaped NUL and cannot tell where in the
 * document it is. Configs come from untrusted archives and registries, so they are scanned
 * here instead: RFC 8259 syntax, valid UTF-8, no NUL, no duplicate keys (compared
 * case-insensitively, because Go matches field names that way and would otherwise let one
 * spelling override the other), one value only, nested at most PD_JSON_MAX_DEPTH deep. The
 * config is its one reader, so its errors are PD_ERROR_INVALID_CONFIG, "config: ..." naming
 * the line, the column and the key path.
 */

typedef enum {
  PD_JSON_NULL,
  PD_JSON_BOOL,
  PD_JSON_NUMBER,
  PD_JSON_STRING,
  PD_JSON_ARRAY,
  PD_JSON_OBJECT,
} PdJsonKind;

typedef struct _PdJsonValue PdJsonValue;

struct _PdJsonValue {
  PdJsonKind kind;
  gboolean boolean;
  char *text;          /* string contents or the number literal */
  GPtrArray *items;    /* array: PdJsonValue; object: PdJsonMember, in document order */
};

typedef struct {
  char *key;
  PdJsonValue *value;
} PdJsonMember;

/* the tree of the one JSON value @data holds (@len bytes), or NULL with @error set */
PdJsonValue *pd_json_tree_parse (const char *data, gsize len, GError **error);
/* The same tree of @node, a value json-glib parsed through pd_json_parse() (so already strict
 * JSON, without NUL, at most PD_JSON_MAX_DEPTH deep): what pd_json_tree_parse() of
 * json_to_string (@node) gives, without writing and scanning the text again. Keys that differ
 * only in case are refused as there; of keys that are equal json-glib kept one. */
PdJsonValue *pd_json_tree_from_node (JsonNode *node, GError **error);
void pd_json_value_free (PdJsonValue *value);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdJsonValue, pd_json_value_free)

/* "null", "a boolean", "a number", "a string", "an array", "an object": for messages */
const char *pd_json_kind_name (PdJsonKind kind);
/* Go's field lookup in object @object (NULL gives NULL): an exact match first, then an ASCII
 * case-insensitive one */
PdJsonValue *pd_json_value_member (PdJsonValue *object, const char *name);

G_END_DECLS
