/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bound every untrusted JSON document passes (pd_json_check): what it accepts, json-glib
 * must read, and a scan that accepted it must never recurse deeper than the bound. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "fuzz-common.h"
#include "pd-json.h"

/* the nesting of what json-glib built, without recursion */
static guint
depth_of (JsonNode *root)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();
  g_autoptr(GArray) depths = g_array_new (FALSE, FALSE, sizeof (guint));
  guint deepest = 0;

  g_ptr_array_add (stack, root);
  g_array_append_val (depths, deepest);
  while (stack->len > 0)
    {
      JsonNode *node = g_ptr_array_steal_index (stack, stack->len - 1);
      guint depth = g_array_index (depths, guint, depths->len - 1);
      g_autoptr(GList) children = NULL;

      g_array_set_size (depths, depths->len - 1);
      if (JSON_NODE_HOLDS_ARRAY (node))
        children = json_array_get_elements (json_node_get_array (node));
      else if (JSON_NODE_HOLDS_OBJECT (node))
        children = json_object_get_values (json_node_get_object (node));
      else
        continue;
      depth++;
      deepest = MAX (deepest, depth);
      for (GList *l = children; l != NULL; l = l->next)
        {
          g_ptr_array_add (stack, l->data);
          g_array_append_val (depths, depth);
        }
    }
  return deepest;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(JsonParser) parser = NULL;

  if (!pd_json_check ((const char *) data, size, size, NULL))
    return 0;
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, (const char *) data, (gssize) size, NULL))
    abort ();  /* strict JSON json-glib cannot read: the check and json-glib disagree */
  if (json_parser_get_root (parser) == NULL ||
      depth_of (json_parser_get_root (parser)) > PD_JSON_MAX_DEPTH)
    abort ();
  return 0;
}
