/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>

#include "ctl-template-private.h"
#include "pd-json.h"

/*
 * The evaluator of pluginctl's Go templates (Go's text/template/exec.go and funcs.go, with
 * Docker's functions from docker/cli's templates package).
 *
 * docker runs a template over typed Go values (types.Plugin), and when that fails, over the
 * raw JSON decoded into maps. So .ID and .Id both work, a struct prints as {a b}, a map as
 * map[k:v], an absent list as [], an absent pointer as <nil>. pluginctl does the same over
 * the daemon's JSON: a value is a JSON node with the Go type docker would have decoded it
 * into (the tables below), or with no type for the raw JSON.
 */

/* section: Docker's Go types */

typedef enum {
  GO_STRING,
  GO_BOOL,
  GO_INT,        /* int: len, integer constants */
  GO_UINT32,     /* the user and group ids */
  GO_FLOAT,      /* float64 constants */
  GO_STRUCT,
  GO_SLICE,
  GO_PTR,
  GO_IFACE_TYPE, /* types.PluginInterfaceType: a struct, "prefix.capability/version" in JSON */
  GO_ROW,        /* the pointer to a `plugin ls` row; its JSON is sorted and HTML-escaped */
} GoKind;

typedef struct _GoType GoType;

typedef struct {
  const char *name;  /* Go's field name */
  const char *json;  /* its JSON member */
  const GoType *type;
  gboolean omitempty;
} GoField;

struct _GoType {
  GoKind kind;
  const char *name;  /* as Go names it in messages and %T */
  const GoType *elem;
  const GoField *fields;
};

#define FIELD(n, t) { n, n, t, FALSE }

static const GoType go_string = { GO_STRING, "string", NULL, NULL };
static const GoType go_bool = { GO_BOOL, "bool", NULL, NULL };
static const GoType go_int = { GO_INT, "int", NULL, NULL };
static const GoType go_uint32 = { GO_UINT32, "uint32", NULL, NULL };
static const GoType go_float = { GO_FLOAT, "float64", NULL, NULL };
static const GoType go_strings = { GO_SLICE, "[]string", &go_string, NULL };
static const GoType go_string_ptr = { GO_PTR, "*string", &go_string, NULL };

static const GoField args_fields[] = {
  FIELD ("Description", &go_string), FIELD ("Name", &go_string),
  FIELD ("Settable", &go_strings), FIELD ("Value", &go_strings), { NULL },
};
static const GoType args_type = { GO_STRUCT, "types.PluginConfigArgs", NULL, args_fields };

static const GoField env_fields[] = {
  FIELD ("Description", &go_string), FIELD ("Name", &go_string),
  FIELD ("Settable", &go_strings), FIELD ("Value", &go_string_ptr), { NULL },
};
static const GoType env_type = { GO_STRUCT, "types.PluginEnv", NULL, env_fields };
static const GoType envs_type = { GO_SLICE, "[]types.PluginEnv", &env_type, NULL };

static const GoField iface_type_fields[] = {
  FIELD ("Capability", &go_string), FIELD ("Prefix", &go_string), FIELD ("Version", &go_string),
  { NULL },
};
static const GoType iface_type_type = { GO_IFACE_TYPE, "types.PluginInterfaceType", NULL,
                                        iface_type_fields };
static const GoType iface_types_type = { GO_SLICE, "[]types.PluginInterfaceType",
                                         &iface_type_type, NULL };
static const GoField interface_fields[] = {
  { "ProtocolScheme", "ProtocolScheme", &go_string, TRUE }, FIELD ("Socket", &go_string),
  FIELD ("Types", &iface_types_type), { NULL },
};
static const GoType interface_type = { GO_STRUCT, "types.PluginConfigInterface", NULL,
                                       interface_fields };

static const GoField device_fields[] = {
  FIELD ("Description", &go_string), FIELD ("Name", &go_string),
  FIELD ("Path", &go_string_ptr), FIELD ("Settable", &go_strings), { NULL },
};
static const GoType device_type = { GO_STRUCT, "types.PluginDevice", NULL, device_fields };
static const GoType devices_type = { GO_SLICE, "[]types.PluginDevice", &device_type, NULL };

static const GoField linux_fields[] = {
  FIELD ("AllowAllDevices", &go_bool), FIELD ("Capabilities", &go_strings),
  FIELD ("Devices", &devices_type), { NULL },
};
static const GoType linux_type = { GO_STRUCT, "types.PluginConfigLinux", NULL, linux_fields };

static const GoField mount_fields[] = {
  FIELD ("Description", &go_string), FIELD ("Destination", &go_string),
  FIELD ("Name", &go_string), FIELD ("Options", &go_strings), FIELD ("Settable", &go_strings),
  FIELD ("Source", &go_string_ptr), FIELD ("Type", &go_string), { NULL },
};
static const GoType mount_type = { GO_STRUCT, "types.PluginMount", NULL, mount_fields };
static const GoType mounts_type = { GO_SLICE, "[]types.PluginMount", &mount_type, NULL };

static const GoField network_fields[] = { FIELD ("Type", &go_string), { NULL } };
static const GoType network_type = { GO_STRUCT, "types.PluginConfigNetwork", NULL,
                                     network_fields };

static const GoField user_fields[] = {
  { "GID", "GID", &go_uint32, TRUE }, { "UID", "UID", &go_uint32, TRUE }, { NULL },
};
static const GoType user_type = { GO_STRUCT, "types.PluginConfigUser", NULL, user_fields };

static const GoField rootfs_fields[] = {
  { "DiffIds", "diff_ids", &go_strings, FALSE }, { "Type", "type", &go_string, FALSE },
  { NULL },
};
static const GoType rootfs_type = { GO_STRUCT, "types.PluginConfigRootfs", NULL, rootfs_fields };
static const GoType rootfs_ptr = { GO_PTR, "*types.PluginConfigRootfs", &rootfs_type, NULL };

static const GoField config_fields[] = {
  FIELD ("Args", &args_type),
  FIELD ("Description", &go_string),
  { "DockerVersion", "DockerVersion", &go_string, TRUE },
  FIELD ("Documentation", &go_string),
  FIELD ("Entrypoint", &go_strings),
  FIELD ("Env", &envs_type),
  FIELD ("Interface", &interface_type),
  FIELD ("IpcHost", &go_bool),
  FIELD ("Linux", &linux_type),
  FIELD ("Mounts", &mounts_type),
  FIELD ("Network", &network_type),
  FIELD ("PidHost", &go_bool),
  FIELD ("PropagatedMount", &go_string),
  FIELD ("User", &user_type),
  FIELD ("WorkDir", &go_string),
  { "Rootfs", "rootfs", &rootfs_ptr, TRUE },
  { NULL },
};
static const GoType config_type = { GO_STRUCT, "types.PluginConfig", NULL, config_fields };

static const GoField settings_fields[] = {
  FIELD ("Args", &go_strings), FIELD ("Devices", &devices_type), FIELD ("Env", &go_strings),
  FIELD ("Mounts", &mounts_type), { NULL },
};
static const GoType settings_type = { GO_STRUCT, "types.PluginSettings", NULL, settings_fields };

static const GoField plugin_fields[] = {
  FIELD ("Config", &config_type), FIELD ("Enabled", &go_bool), { "ID", "Id", &go_string, TRUE },
  FIELD ("Name", &go_string), FIELD ("PluginReference", &go_string),
  FIELD ("Settings", &settings_type), { NULL },
};
static const GoType plugin_type = { GO_STRUCT, "*types.Plugin", NULL, plugin_fields };

/* docker's row has methods of these names; LastError, LastErrorName, RestartCount and State
 * are plugind's */
static const GoField row_fields[] = {
  FIELD ("Description", &go_string), FIELD ("Enabled", &go_bool), FIELD ("ID", &go_string),
  FIELD ("LastError", &go_string), FIELD ("LastErrorName", &go_string),
  FIELD ("Name", &go_string), FIELD ("PluginReference", &go_string),
  FIELD ("RestartCount", &go_int), FIELD ("State", &go_string), { NULL },
};
static const GoType row_type = { GO_ROW, "*plugin.pluginContext", NULL, row_fields };

/* section: values */

/* A value: a JSON node and the Go type it has. No type: the raw JSON as docker's fallback
 * decodes it (objects are maps, numbers json.Number). No node and no type: Go's invalid
 * value (a missing key, nil). No node but a type: the zero value of the type. */
typedef struct {
  JsonNode *node;
  const GoType *type;
} Value;

/* Go's reflect kinds, as far as comparisons and truth need them */
typedef enum {
  K_INVALID,
  K_BOOL,
  K_INT,
  K_UINT,
  K_FLOAT,
  K_STRING,
  K_NUMBER, /* json.Number: a string kind in Go */
  K_SLICE,
  K_MAP,
  K_STRUCT,
  K_PTR,
} Kind;

static void
value_clear (Value *v)
{
  g_clear_pointer (&v->node, json_node_unref);
  v->type = NULL;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Value, value_clear)

static Value
value_ref (Value v)
{
  if (v.node != NULL)
    json_node_ref (v.node);
  return v;
}

static Value
value_new_string (const char *s)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_string (node, s);
  return (Value) { node, &go_string };
}

static Value
value_take_string (char *s)
{
  Value v = value_new_string (s);

  g_free (s);
  return v;
}

static Value
value_new_int (gint64 i)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_int (node, i);
  return (Value) { node, &go_int };
}

static Value
value_new_bool (gboolean b)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_boolean (node, b);
  return (Value) { node, &go_bool };
}

static Value
value_new_float (double d)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  json_node_set_double (node, d);
  return (Value) { node, &go_float };
}

static gboolean
node_is_null (JsonNode *node)
{
  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

static Kind
value_kind (Value v)
{
  if (v.type == NULL)
    {
      if (node_is_null (v.node))
        return K_INVALID;
      if (JSON_NODE_HOLDS_OBJECT (v.node))
        return K_MAP;
      if (JSON_NODE_HOLDS_ARRAY (v.node))
        return K_SLICE;
      switch (json_node_get_value_type (v.node))
        {
        case G_TYPE_STRING: return K_STRING;
        case G_TYPE_BOOLEAN: return K_BOOL;
        default: return K_NUMBER;
        }
    }
  switch (v.type->kind)
    {
    case GO_STRING: return K_STRING;
    case GO_BOOL: return K_BOOL;
    case GO_INT: return K_INT;
    case GO_UINT32: return K_UINT;
    case GO_FLOAT: return K_FLOAT;
    case GO_SLICE: return K_SLICE;
    case GO_PTR:
    case GO_ROW: return K_PTR;
    case GO_STRUCT:
    case GO_IFACE_TYPE:
    default: return K_STRUCT;
    }
}

static const char *
value_type_name (Value v)
{
  if (v.type != NULL)
    return v.type->name;
  switch (value_kind (v))
    {
    case K_MAP: return "map[string]interface {}";
    case K_SLICE: return "[]interface {}";
    case K_STRING: return "string";
    case K_BOOL: return "bool";
    case K_NUMBER: return "json.Number";
    default: return "<nil>";
    }
}

/* the string of a value of string kind (typed string, raw string, json.Number) */
static const char *
value_string (Value v, char buf[G_ASCII_DTOSTR_BUF_SIZE]);

static gint64
value_int (Value v)
{
  return v.node != NULL ? json_node_get_int (v.node) : 0;
}

static gboolean
value_bool (Value v)
{
  return v.node != NULL && json_node_get_boolean (v.node);
}

static double
value_float (Value v)
{
  return v.node != NULL ? json_node_get_double (v.node) : 0.0;
}

static gint64
slice_length (Value v)
{
  return node_is_null (v.node) ? 0 : json_array_get_length (json_node_get_array (v.node));
}

/* a nil slice or pointer (typed), or an invalid value */
static gboolean
value_is_nil (Value v)
{
  Kind k = value_kind (v);

  if (k == K_INVALID)
    return TRUE;
  return (k == K_SLICE || k == K_PTR) && node_is_null (v.node);
}

/* the prefix, capability and version of a PluginInterfaceType, as moby's UnmarshalJSON splits
 * "docker.volumedriver/1.0": the last '.' before the first '/' */
static char *
iface_type_part (const char *s, const char *part)
{
  gsize len = strlen (s), version = len, prefix = 0;

  for (gsize i = 0; i < len; i++)
    {
      if (s[i] == '.')
        prefix = i;
      else if (s[i] == '/')
        {
          version = i;
          break;
        }
    }
  if (g_str_equal (part, "Prefix"))
    return g_strndup (s, prefix);
  if (g_str_equal (part, "Capability"))
    return prefix + 1 <= version ? g_strndup (s + prefix + 1, version - prefix - 1)
                                 : g_strdup ("");
  return version < len ? g_strdup (s + version + 1) : g_strdup ("");
}

/* whether @node can be decoded into @type by encoding/json (only its own level) */
static gboolean
node_fits (JsonNode *node, const GoType *type)
{
  if (node == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_NULL (node))
    return TRUE;  /* encoding/json leaves the zero value */
  switch (type->kind)
    {
    case GO_STRING:
    case GO_IFACE_TYPE:
      return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
    case GO_BOOL:
      return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN;
    case GO_INT:
      return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
    case GO_UINT32:
      return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64 &&
             json_node_get_int (node) >= 0 && json_node_get_int (node) <= G_MAXUINT32;
    case GO_FLOAT:
      return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) != G_TYPE_STRING &&
             json_node_get_value_type (node) != G_TYPE_BOOLEAN;
    case GO_SLICE:
      return JSON_NODE_HOLDS_ARRAY (node);
    case GO_PTR:
      return node_fits (node, type->elem);
    case GO_STRUCT:
    case GO_ROW:
    default:
      return JSON_NODE_HOLDS_OBJECT (node);
    }
}

/* the whole of @node fits @type, so that the typed run never meets a surprise */
static gboolean
node_fits_deep (JsonNode *node, const GoType *type)
{
  if (!node_fits (node, type))
    return FALSE;
  if (node_is_null (node))
    return TRUE;
  switch (type->kind)
    {
    case GO_PTR:
      return node_fits_deep (node, type->elem);
    case GO_SLICE:
      {
        JsonArray *array = json_node_get_array (node);

        for (guint i = 0; i < json_array_get_length (array); i++)
          if (!node_fits_deep (json_array_get_element (array, i), type->elem))
            return FALSE;
        return TRUE;
      }
    case GO_STRUCT:
    case GO_ROW:
      for (const GoField *field = type->fields; field->name != NULL; field++)
        {
          JsonObject *object = json_node_get_object (node);

          if (json_object_has_member (object, field->json) &&
              !node_fits_deep (json_object_get_member (object, field->json), field->type))
            return FALSE;
        }
      return TRUE;
    default:
      return TRUE;
    }
}

/* section: the state of one run */

typedef struct {
  const char *name;
  Value value;
} Variable;

typedef struct {
  CtlTemplate *tmpl;
  gboolean raw;     /* the JSON as maps: a missing key is an error (docker's missingkey=error) */
  gboolean header;  /* a table's header: Docker's header functions, missing keys print */
  GArray *vars;     /* Variable */
  GString *out;
  guint64 steps;
  CtlNode *at;      /* what an error is about */
  GError *error;
} State;

/* Go's exec error: "template: :LINE:COL: executing "" at <NODE>: message" */
G_GNUC_PRINTF (2, 3)
static gboolean
fail (State *s, const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autofree char *location = NULL;
  va_list args;

  if (s->error != NULL)
    return FALSE;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  location = s->at != NULL ? ctl_template_node_location (s->tmpl, s->at) : g_strdup ("");
  g_set_error (&s->error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_EXEC, "%s%s", location,
               message);
  return FALSE;
}

static gboolean
fail_limit (State *s, const char *message)
{
  g_autofree char *location = NULL;

  if (s->error != NULL)
    return FALSE;
  location = s->at != NULL ? ctl_template_node_location (s->tmpl, s->at) : g_strdup ("");
  g_set_error (&s->error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_LIMIT, "%s%s", location,
               message);
  return FALSE;
}

static gboolean
step (State *s)
{
  if (++s->steps > CTL_TEMPLATE_MAX_STEPS)
    {
      g_autofree char *message = g_strdup_printf (_("more than %d evaluation steps"),
                                                  CTL_TEMPLATE_MAX_STEPS);

      return fail_limit (s, message);
    }
  return TRUE;
}

/* a string a function builds may not outgrow what could be printed */
static gboolean
check_size (State *s, gsize size)
{
  if (size > CTL_TEMPLATE_MAX_OUTPUT)
    {
      g_autofree char *message = g_strdup_printf (_("output longer than %d bytes"),
                                                  CTL_TEMPLATE_MAX_OUTPUT);

      return fail_limit (s, message);
    }
  return TRUE;
}

static void
push_var (State *s, const char *name, Value v)
{
  Variable var = { name, value_ref (v) };

  g_array_append_val (s->vars, var);
}

static void
pop_vars (State *s, guint mark)
{
  while (s->vars->len > mark)
    {
      value_clear (&g_array_index (s->vars, Variable, s->vars->len - 1).value);
      g_array_set_size (s->vars, s->vars->len - 1);
    }
}

static Variable *
find_var (State *s, const char *name)
{
  for (guint i = s->vars->len; i > 0; i--)
    {
      Variable *var = &g_array_index (s->vars, Variable, i - 1);

      if (g_str_equal (var->name, name))
        return var;
    }
  return NULL;
}

static gboolean
set_var (State *s, const char *name, Value v)
{
  Variable *var = find_var (s, name);

  if (var == NULL)
    return fail (s, "undefined variable: %s", name);
  value_clear (&var->value);
  var->value = value_ref (v);
  return TRUE;
}

/* section: printing as Go's fmt does */

/* the shortest decimal digits that read back as @d: "d1d2…", *point the position of the
 * decimal point relative to the first digit (strconv's digs.dp) */
static void
shortest_digits (double d, GString *digits, int *point)
{
  char buf[64];
  char format[8];
  const char *e;

  d = fabs (d);
  if (d == 0)
    {
      g_string_assign (digits, "0");
      *point = 1;
      return;
    }
  for (int prec = 1; prec <= 17; prec++)
    {
      g_snprintf (format, sizeof format, "%%.%de", prec - 1);
      g_ascii_formatd (buf, sizeof buf, format, d);
      if (g_ascii_strtod (buf, NULL) == d)
        break;
    }
  g_string_truncate (digits, 0);
  for (const char *c = buf; *c != 'e' && *c != '\0'; c++)
    if (g_ascii_isdigit (*c))
      g_string_append_c (digits, *c);
  while (digits->len > 1 && digits->str[digits->len - 1] == '0')
    g_string_truncate (digits, digits->len - 1);
  e = strchr (buf, 'e');
  *point = (e != NULL ? atoi (e + 1) : 0) + 1;
}

static void
append_exponent_form (GString *out, GString *digits, int point, int min_exp_digits)
{
  int exp = point - 1;

  g_string_append_c (out, digits->str[0]);
  if (digits->len > 1)
    {
      g_string_append_c (out, '.');
      g_string_append (out, digits->str + 1);
    }
  g_string_append_c (out, 'e');
  g_string_append_c (out, exp < 0 ? '-' : '+');
  g_string_append_printf (out, "%0*d", min_exp_digits, ABS (exp));
}

static void
append_fixed_form (GString *out, GString *digits, int point)
{
  if (point <= 0)
    {
      g_string_append (out, "0.");
      for (int i = 0; i < -point; i++)
        g_string_append_c (out, '0');
      g_string_append (out, digits->str);
    }
  else if ((gsize) point >= digits->len)
    {
      g_string_append (out, digits->str);
      for (gsize i = digits->len; i < (gsize) point; i++)
        g_string_append_c (out, '0');
    }
  else
    {
      g_string_append_len (out, digits->str, point);
      g_string_append_c (out, '.');
      g_string_append (out, digits->str + point);
    }
}

/* Go's %v of a float64 (strconv 'g', shortest, exponent from 1e+06 and below 1e-04); @json:
 * encoding/json's form (exponent from 1e21 and below 1e-6, "e-7" not "e-07") */
static void
append_float (GString *out, double d, gboolean json)
{
  g_autoptr(GString) digits = g_string_new (NULL);
  int point;
  int exp;

  if (isnan (d) || isinf (d))
    {
      g_string_append (out, isnan (d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
      return;
    }
  shortest_digits (d, digits, &point);
  if (signbit (d))
    g_string_append_c (out, '-');
  exp = point - 1;
  if (json ? (d != 0 && (fabs (d) < 1e-6 || fabs (d) >= 1e21)) : (exp < -4 || exp >= 6))
    append_exponent_form (out, digits, point, json ? 1 : 2);
  else
    append_fixed_form (out, digits, point);
}

static const char *
value_string (Value v, char buf[G_ASCII_DTOSTR_BUF_SIZE])
{
  if (v.node == NULL)
    return "";
  if (json_node_get_value_type (v.node) == G_TYPE_STRING)
    return json_node_get_string (v.node);
  /* json.Number: the number's JSON text */
  if (json_node_get_value_type (v.node) == G_TYPE_INT64)
    {
      g_snprintf (buf, G_ASCII_DTOSTR_BUF_SIZE, "%" G_GINT64_FORMAT, json_node_get_int (v.node));
      return buf;
    }
  {
    g_autoptr(GString) text = g_string_new (NULL);

    append_float (text, json_node_get_double (v.node), TRUE);
    g_strlcpy (buf, text->str, G_ASCII_DTOSTR_BUF_SIZE);
    return buf;
  }
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* the members of an object in Go's map order (sorted) */
static GPtrArray *
sorted_members (JsonObject *object)
{
  GPtrArray *names = g_ptr_array_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &member))
    g_ptr_array_add (names, (gpointer) name);
  g_ptr_array_sort (names, compare_strings);
  return names;
}

static JsonNode *
struct_member (JsonNode *node, const GoField *field)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  return json_object_get_member (json_node_get_object (node), field->json);
}

/* Go's %v of @node as @type (NULL: raw JSON); @top: what the template prints itself, where a
 * nil interface is <no value>. Where Go would print a pointer's address (a pointer inside a
 * struct), the value it points to is printed. */
static void
append_v (GString *out, JsonNode *node, const GoType *type, gboolean top)
{
  if (type == NULL)
    {
      if (node_is_null (node))
        {
          g_string_append (out, top ? "<no value>" : "<nil>");
          return;
        }
      if (JSON_NODE_HOLDS_OBJECT (node))
        {
          JsonObject *object = json_node_get_object (node);
          g_autoptr(GPtrArray) names = sorted_members (object);

          g_string_append (out, "map[");
          for (guint i = 0; i < names->len; i++)
            {
              const char *name = g_ptr_array_index (names, i);

              if (i > 0)
                g_string_append_c (out, ' ');
              g_string_append (out, name);
              g_string_append_c (out, ':');
              append_v (out, json_object_get_member (object, name), NULL, FALSE);
            }
          g_string_append_c (out, ']');
          return;
        }
      if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *array = json_node_get_array (node);

          g_string_append_c (out, '[');
          for (guint i = 0; i < json_array_get_length (array); i++)
            {
              if (i > 0)
                g_string_append_c (out, ' ');
              append_v (out, json_array_get_element (array, i), NULL, FALSE);
            }
          g_string_append_c (out, ']');
          return;
        }
      if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
        g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
      else
        {
          char buf[G_ASCII_DTOSTR_BUF_SIZE];

          g_string_append (out, value_string ((Value) { node, NULL }, buf));
        }
      return;
    }

  switch (type->kind)
    {
    case GO_STRING:
      g_string_append (out, node_is_null (node) ? "" : json_node_get_string (node));
      break;
    case GO_IFACE_TYPE:
      /* its String() */
      g_string_append (out, node_is_null (node) ? "./" : json_node_get_string (node));
      break;
    case GO_BOOL:
      g_string_append (out, !node_is_null (node) && json_node_get_boolean (node) ? "true"
                                                                                 : "false");
      break;
    case GO_INT:
    case GO_UINT32:
      g_string_append_printf (out, "%" G_GINT64_FORMAT,
                              node_is_null (node) ? 0 : json_node_get_int (node));
      break;
    case GO_FLOAT:
      append_float (out, node_is_null (node) ? 0.0 : json_node_get_double (node), FALSE);
      break;
    case GO_PTR:
      if (node_is_null (node))
        g_string_append (out, "<nil>");
      else
        append_v (out, node, type->elem, top);
      break;
    case GO_SLICE:
      g_string_append_c (out, '[');
      if (!node_is_null (node))
        {
          JsonArray *array = json_node_get_array (node);

          for (guint i = 0; i < json_array_get_length (array); i++)
            {
              if (i > 0)
                g_string_append_c (out, ' ');
              append_v (out, json_array_get_element (array, i), type->elem, FALSE);
            }
        }
      g_string_append_c (out, ']');
      break;
    case GO_STRUCT:
    case GO_ROW:
    default:
      g_string_append_c (out, '{');
      for (const GoField *field = type->fields; field->name != NULL; field++)
        {
          if (field != type->fields)
            g_string_append_c (out, ' ');
          append_v (out, struct_member (node, field), field->type, FALSE);
        }
      g_string_append_c (out, '}');
      break;
    }
}

/* section: JSON as docker's json function writes it */

static gboolean
json_is_empty (JsonNode *node, const GoType *type)
{
  if (node_is_null (node))
    return TRUE;
  switch (type->kind)
    {
    case GO_STRING:
      return json_node_get_string (node)[0] == '\0';
    case GO_BOOL:
      return !json_node_get_boolean (node);
    case GO_INT:
    case GO_UINT32:
      return json_node_get_int (node) == 0;
    case GO_FLOAT:
      return json_node_get_double (node) == 0;
    case GO_SLICE:
      return json_array_get_length (json_node_get_array (node)) == 0;
    default:
      return FALSE;
    }
}

/* encoding/json's Encoder with SetEscapeHTML(false), as docker's json function; the values
 * with their own MarshalJSON (an interface type, a `plugin ls` row) come out of json.Marshal,
 * HTML-escaped */
static void
append_json (GString *out, JsonNode *node, const GoType *type, gboolean html)
{
  if (type == NULL)
    {
      if (node_is_null (node))
        g_string_append (out, "null");
      else if (JSON_NODE_HOLDS_OBJECT (node))
        {
          JsonObject *object = json_node_get_object (node);
          g_autoptr(GPtrArray) names = sorted_members (object);

          g_string_append_c (out, '{');
          for (guint i = 0; i < names->len; i++)
            {
              const char *name = g_ptr_array_index (names, i);

              if (i > 0)
                g_string_append_c (out, ',');
              pd_json_append_go_string (out, name, html);
              g_string_append_c (out, ':');
              append_json (out, json_object_get_member (object, name), NULL, html);
            }
          g_string_append_c (out, '}');
        }
      else if (JSON_NODE_HOLDS_ARRAY (node))
        {
          JsonArray *array = json_node_get_array (node);

          g_string_append_c (out, '[');
          for (guint i = 0; i < json_array_get_length (array); i++)
            {
              if (i > 0)
                g_string_append_c (out, ',');
              append_json (out, json_array_get_element (array, i), NULL, html);
            }
          g_string_append_c (out, ']');
        }
      else if (json_node_get_value_type (node) == G_TYPE_STRING)
        pd_json_append_go_string (out, json_node_get_string (node), html);
      else
        append_v (out, node, NULL, FALSE);
      return;
    }

  switch (type->kind)
    {
    case GO_STRING:
    case GO_IFACE_TYPE:
      pd_json_append_go_string (out, node_is_null (node) ? "" : json_node_get_string (node),
                                html || type->kind == GO_IFACE_TYPE);
      break;
    case GO_BOOL:
    case GO_INT:
    case GO_UINT32:
      append_v (out, node, type, FALSE);
      break;
    case GO_FLOAT:
      append_float (out, node_is_null (node) ? 0.0 : json_node_get_double (node), TRUE);
      break;
    case GO_PTR:
      if (node_is_null (node))
        g_string_append (out, "null");
      else
        append_json (out, node, type->elem, html);
      break;
    case GO_SLICE:
      if (node_is_null (node))
        g_string_append (out, "null");
      else
        {
          JsonArray *array = json_node_get_array (node);

          g_string_append_c (out, '[');
          for (guint i = 0; i < json_array_get_length (array); i++)
            {
              if (i > 0)
                g_string_append_c (out, ',');
              append_json (out, json_array_get_element (array, i), type->elem, html);
            }
          g_string_append_c (out, ']');
        }
      break;
    case GO_ROW:
      /* formatter.MarshalJSON: a map of every method, through json.Marshal */
      append_json (out, node, NULL, TRUE);
      break;
    case GO_STRUCT:
    default:
      {
        gboolean first = TRUE;

        g_string_append_c (out, '{');
        for (const GoField *field = type->fields; field->name != NULL; field++)
          {
            JsonNode *member = struct_member (node, field);

            if (field->omitempty && json_is_empty (member, field->type))
              continue;
            if (!first)
              g_string_append_c (out, ',');
            first = FALSE;
            pd_json_append_go_string (out, field->json, html);
            g_string_append_c (out, ':');
            append_json (out, member, field->type, html);
          }
        g_string_append_c (out, '}');
        break;
      }
    }
}

/* section: evaluation */

static gboolean eval_pipeline (State *s, Value dot, CtlNode *pipe, Value *out);
static gboolean walk (State *s, Value dot, CtlNode *node);

/* %v of @v for a message, cut short */
static char *
value_for_message (Value v)
{
  g_autoptr(GString) text = g_string_new (NULL);

  append_v (text, v.node, v.type, TRUE);
  if (text->len > 256)
    {
      g_string_truncate (text, 256);
      while (text->len > 0 && ((guchar) text->str[text->len - 1] & 0xc0) == 0x80)
        g_string_truncate (text, text->len - 1);
      if (text->len > 0 && (guchar) text->str[text->len - 1] >= 0xc0)
        g_string_truncate (text, text->len - 1);
      g_string_append (text, "…");
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* Go's isTrue */
static gboolean
is_true (Value v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  switch (value_kind (v))
    {
    case K_INVALID: return FALSE;
    case K_BOOL: return value_bool (v);
    case K_INT:
    case K_UINT: return value_int (v) != 0;
    case K_FLOAT: return value_float (v) != 0;
    case K_STRING:
    case K_NUMBER: return value_string (v, buf)[0] != '\0';
    case K_SLICE: return !node_is_null (v.node) &&
                         json_array_get_length (json_node_get_array (v.node)) > 0;
    case K_MAP: return json_object_get_size (json_node_get_object (v.node)) > 0;
    case K_PTR: return !node_is_null (v.node);
    case K_STRUCT:
    default: return TRUE;
    }
}

/* a pointer's element (Go's indirect); FALSE for a nil pointer */
static gboolean
indirect (Value *v)
{
  if (v->type != NULL && (v->type->kind == GO_PTR))
    {
      if (node_is_null (v->node))
        return FALSE;
      v->type = v->type->elem;
    }
  return TRUE;
}

/* the child @node of a typed value, as @type */
static gboolean
typed_child (State *s, JsonNode *node, const GoType *type, Value *out)
{
  if (!node_fits (node, type))
    return fail (s, _("the daemon's data does not fit Docker's %s"), type->name);
  *out = (Value) { node != NULL ? json_node_ref (node) : NULL, type };
  return TRUE;
}

/* a raw child: JSON null is Go's nil interface, which prints as <no value> */
static Value
raw_child (JsonNode *node)
{
  if (node_is_null (node))
    return (Value) { NULL, NULL };
  return (Value) { json_node_ref (node), NULL };
}

/* Go's evalField: the field or map key @name of @receiver */
static gboolean
eval_field (State *s, const char *name, gboolean has_args, Value receiver, Value *out)
{
  Value r = receiver;

  if (!step (s))
    return FALSE;
  if (value_kind (r) == K_INVALID)
    {
      if (s->raw)
        return fail (s, "nil data; no entry for key \"%s\"", name);
      *out = (Value) { NULL, NULL };
      return TRUE;
    }
  if (!indirect (&r))
    return fail (s, "nil pointer evaluating %s.%s", receiver.type->name, name);
  if (r.type != NULL && (r.type->kind == GO_STRUCT || r.type->kind == GO_ROW ||
                         r.type->kind == GO_IFACE_TYPE))
    {
      for (const GoField *field = r.type->fields; field->name != NULL; field++)
        {
          if (!g_str_equal (field->name, name))
            continue;
          if (has_args)
            return fail (s, "%s has arguments but cannot be invoked as function", name);
          if (r.type->kind == GO_IFACE_TYPE)
            {
              *out = value_take_string (iface_type_part (
                node_is_null (r.node) ? "" : json_node_get_string (r.node), name));
              return TRUE;
            }
          return typed_child (s, struct_member (r.node, field), field->type, out);
        }
      return fail (s, "can't evaluate field %s in type %s", name, r.type->name);
    }
  if (value_kind (r) == K_MAP)
    {
      JsonObject *object = json_node_get_object (r.node);

      if (has_args)
        return fail (s, "%s is not a method but has arguments", name);
      if (!json_object_has_member (object, name))
        {
          if (s->raw)
            return fail (s, "map has no entry for key \"%s\"", name);
          *out = (Value) { NULL, NULL };
          return TRUE;
        }
      *out = raw_child (json_object_get_member (object, name));
      return TRUE;
    }
  return fail (s, "can't evaluate field %s in type %s", name,
               r.type != NULL ? r.type->name : "interface {}");
}

/* Go's evalFieldChain over @idents (NULL-terminated), @receiver borrowed */
static gboolean
eval_field_chain (State *s, Value receiver, char **idents, gboolean has_args, Value *out)
{
  Value current = value_ref (receiver);

  for (gsize i = 0; idents[i] != NULL; i++)
    {
      Value next = { NULL, NULL };
      gboolean ok = eval_field (s, idents[i], idents[i + 1] == NULL && has_args, current, &next);

      value_clear (&current);
      if (!ok)
        return FALSE;
      current = next;
    }
  *out = current;
  return TRUE;
}

static gboolean
not_a_function (State *s, CtlNode *cmd, gboolean has_final)
{
  if ((cmd != NULL && cmd->children->len > 1) || has_final)
    {
      CtlNode *first = cmd != NULL ? g_ptr_array_index (cmd->children, 0) : s->at;
      g_autofree char *source = g_strndup (s->tmpl->text + first->start,
                                           first->end - first->start);

      return fail (s, "can't give argument to non-function %s", g_strstrip (source));
    }
  return TRUE;
}

/* Go's idealConstant: an integer constant is an int, one written with a point or an
 * exponent a float64 */
static Value
constant_value (CtlNode *node)
{
  switch (node->type)
    {
    case CTL_NODE_BOOL: return value_new_bool (node->boolean);
    case CTL_NODE_STRING: return value_new_string (node->text);
    case CTL_NODE_NUMBER:
      if (node->is_float || !node->is_int)
        return value_new_float (node->number);
      return value_new_int (node->integer);
    default: return (Value) { NULL, NULL };
    }
}

typedef enum {
  ARG_ANY,
  ARG_STRING,
  ARG_INT,
  ARG_STRINGS,
} ArgType;

static const char *
arg_type_name (ArgType want)
{
  switch (want)
    {
    case ARG_STRING: return "string";
    case ARG_INT: return "int";
    case ARG_STRINGS: return "[]string";
    default: return "interface {}";
    }
}

/* Go's validateType: @v (owned) as a parameter of type @want */
static gboolean
validate (State *s, Value *v, ArgType want)
{
  Kind k = value_kind (*v);

  if (want == ARG_ANY)
    return TRUE;
  if (k == K_INVALID)
    {
      value_clear (v);
      return fail (s, "invalid value; expected %s", arg_type_name (want));
    }
  if (want == ARG_STRING && v->type != NULL && v->type->kind == GO_PTR &&
      v->type->elem->kind == GO_STRING)
    {
      if (node_is_null (v->node))
        {
          value_clear (v);
          return fail (s, "dereference of nil pointer of type %s", "*string");
        }
      v->type = v->type->elem;
      return TRUE;
    }
  if ((want == ARG_STRING && k == K_STRING) || (want == ARG_INT && k == K_INT) ||
      (want == ARG_STRINGS && v->type != NULL && v->type->kind == GO_SLICE &&
       v->type->elem->kind == GO_STRING))
    return TRUE;
  {
    const char *got = value_type_name (*v);

    fail (s, "wrong type for value; expected %s; got %s", arg_type_name (want), got);
    value_clear (v);
    return FALSE;
  }
}

static gboolean eval_command (State *s, Value dot, CtlNode *cmd, Value *final, Value *out);
static gboolean eval_function (State *s, Value dot, CtlNode *ident, CtlNode *cmd,
                               Value *final, Value *out);

/* Go's evalArg: the operand @arg as a parameter of type @want */
static gboolean
eval_arg (State *s, Value dot, CtlNode *arg, ArgType want, Value *out)
{
  g_autofree char *source = NULL;

  s->at = arg;
  switch (arg->type)
    {
    case CTL_NODE_DOT:
      *out = value_ref (dot);
      return validate (s, out, want);
    case CTL_NODE_NIL:
      if (want == ARG_ANY || want == ARG_STRINGS)
        {
          *out = want == ARG_ANY ? (Value) { NULL, NULL } : (Value) { NULL, &go_strings };
          return TRUE;
        }
      return fail (s, "cannot assign nil to %s", arg_type_name (want));
    case CTL_NODE_FIELD:
      if (!eval_field_chain (s, dot, arg->idents, FALSE, out))
        return FALSE;
      return validate (s, out, want);
    case CTL_NODE_VARIABLE:
      {
        Variable *var = find_var (s, arg->idents[0]);

        if (var == NULL)
          return fail (s, "undefined variable: %s", arg->idents[0]);
        if (!eval_field_chain (s, var->value, arg->idents + 1, FALSE, out))
          return FALSE;
        return validate (s, out, want);
      }
    case CTL_NODE_PIPE:
      if (!eval_pipeline (s, dot, arg, out))
        return FALSE;
      return validate (s, out, want);
    case CTL_NODE_IDENTIFIER:
      if (!eval_function (s, dot, arg, NULL, NULL, out))
        return FALSE;
      return validate (s, out, want);
    case CTL_NODE_CHAIN:
      {
        Value operand = { NULL, NULL };
        gboolean ok;

        if (!eval_arg (s, dot, arg->operand, ARG_ANY, &operand))
          return FALSE;
        s->at = arg;
        ok = eval_field_chain (s, operand, arg->idents, FALSE, out);
        value_clear (&operand);
        return ok && validate (s, out, want);
      }
    default:
      break;
    }
  /* constants */
  source = g_strndup (s->tmpl->text + arg->start, arg->end - arg->start);
  switch (want)
    {
    case ARG_STRING:
      if (arg->type != CTL_NODE_STRING)
        return fail (s, "expected string; found %s", source);
      break;
    case ARG_INT:
      if (arg->type != CTL_NODE_NUMBER || !arg->is_int)
        return fail (s, "expected integer; found %s", source);
      *out = value_new_int (arg->integer);
      return TRUE;
    case ARG_STRINGS:
      return fail (s, "can't handle %s for arg of type []string", source);
    default:
      break;
    }
  *out = constant_value (arg);
  return TRUE;
}

/* section: functions */

typedef struct {
  State *s;
  CtlNode *cmd;     /* for "error calling" messages */
  const char *name;
  Value *args;
  guint n_args;
} Call;

typedef gboolean (*Function) (Call *call, Value *out, GError **error);

static gboolean
call_error (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
call_error (GError **error, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  *error = g_error_new_valist (CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_EXEC, format, args);
  va_end (args);
  return FALSE;
}

/* a string parameter: validate() let only strings through */
static const char *
arg_str (Call *call, guint i)
{
  JsonNode *node = call->args[i].node;

  return node_is_null (node) ? "" : json_node_get_string (node);
}

static gboolean
fn_json (Call *call, Value *out, GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);

  (void) error;
  append_json (text, call->args[0].node, call->args[0].type, FALSE);
  if (!check_size (call->s, text->len))
    return FALSE;
  *out = value_take_string (g_string_free (g_steal_pointer (&text), FALSE));
  return TRUE;
}

/* strings.Split; "" splits into UTF-8 sequences */
static gboolean
fn_split (Call *call, Value *out, GError **error)
{
  const char *s = arg_str (call, 0);
  g_autofree char *sep = g_strdup (arg_str (call, 1));
  JsonArray *array = json_array_new ();

  (void) error;
  if (sep[0] == '\0')
    {
      for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
        {
          g_autofree char *c = g_strndup (p, g_utf8_next_char (p) - p);

          json_array_add_string_element (array, c);
        }
    }
  else if (s[0] == '\0')
    json_array_add_string_element (array, "");
  else
    {
      g_auto(GStrv) parts = g_strsplit (s, sep, -1);

      for (gsize i = 0; parts[i] != NULL; i++)
        json_array_add_string_element (array, parts[i]);
    }
  *out = (Value) { json_node_init_array (json_node_alloc (), array), &go_strings };
  json_array_unref (array);
  return TRUE;
}

static gboolean
fn_join (Call *call, Value *out, GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  JsonNode *node = call->args[0].node;
  g_autofree char *sep = g_strdup (arg_str (call, 1));

  (void) error;
  if (!node_is_null (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);

          if (i > 0)
            g_string_append (text, sep);
          if (!node_is_null (element))
            g_string_append (text, json_node_get_string (element));
          if (!check_size (call->s, text->len))
            return FALSE;
        }
    }
  *out = value_take_string (g_string_free (g_steal_pointer (&text), FALSE));
  return TRUE;
}

/* strings.ToUpper and ToLower: rune by rune, without special casing */
static gboolean
change_case (Call *call, Value *out, gboolean upper)
{
  g_autoptr(GString) text = g_string_new (NULL);

  for (const char *p = arg_str (call, 0); *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      g_string_append_unichar (text, upper ? g_unichar_toupper (c) : g_unichar_tolower (c));
    }
  *out = value_take_string (g_string_free (g_steal_pointer (&text), FALSE));
  return TRUE;
}

static gboolean
fn_upper (Call *call, Value *out, GError **error)
{
  (void) error;
  return change_case (call, out, TRUE);
}

static gboolean
fn_lower (Call *call, Value *out, GError **error)
{
  (void) error;
  return change_case (call, out, FALSE);
}

/* strings.Title: the first letter of each word in title case; words are separated by what
 * is not a letter, digit or '_' (ASCII), or by Unicode space */
static gboolean
fn_title (Call *call, Value *out, GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  gboolean after_separator = TRUE;

  (void) error;
  for (const char *p = arg_str (call, 0); *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      gboolean separator;

      if (c < 0x80)
        separator = !(g_ascii_isalnum (c) || c == '_');
      else if (g_unichar_isalpha (c) || g_unichar_isdigit (c))
        separator = FALSE;
      else
        separator = g_unichar_isspace (c);
      g_string_append_unichar (text, after_separator ? g_unichar_totitle (c) : c);
      after_separator = separator;
    }
  *out = value_take_string (g_string_free (g_steal_pointer (&text), FALSE));
  return TRUE;
}

/* docker's pad: spaces around a non-empty string */
static gboolean
fn_pad (Call *call, Value *out, GError **error)
{
  const char *s = arg_str (call, 0);
  gint64 prefix = value_int (call->args[1]), suffix = value_int (call->args[2]);
  g_autoptr(GString) text = NULL;

  if (s[0] == '\0')
    {
      *out = value_new_string ("");
      return TRUE;
    }
  /* strings.Repeat panics on a negative count */
  if (prefix < 0 || suffix < 0)
    return call_error (error, "strings: negative Repeat count");
  if (!check_size (call->s, (gsize) MIN (prefix, G_MAXINT32) + (gsize) MIN (suffix, G_MAXINT32)
                              + strlen (s)))
    return FALSE;
  text = g_string_new (NULL);
  for (gint64 i = 0; i < prefix; i++)
    g_string_append_c (text, ' ');
  g_string_append (text, s);
  for (gint64 i = 0; i < suffix; i++)
    g_string_append_c (text, ' ');
  *out = value_take_string (g_string_free (g_steal_pointer (&text), FALSE));
  return TRUE;
}

/* docker's truncate: the first @length bytes */
static gboolean
fn_truncate (Call *call, Value *out, GError **error)
{
  const char *s = arg_str (call, 0);
  gint64 length = value_int (call->args[1]);

  if ((gint64) strlen (s) < length)
    {
      *out = value_new_string (s);
      return TRUE;
    }
  if (length < 0)
    return call_error (error, "runtime error: slice bounds out of range [:%" G_GINT64_FORMAT "]",
                       length);
  /* Go cuts bytes; a cut inside a character would leave text that is not UTF-8, which a
   * value here cannot hold: the character is dropped whole */
  {
    const char *end = s + length;

    while (end > s && ((guchar) *end & 0xc0) == 0x80)
      end--;
    *out = value_take_string (g_strndup (s, end - s));
  }
  return TRUE;
}

/* the header functions of a table: the column name as it is */
static gboolean
fn_header_identity (Call *call, Value *out, GError **error)
{
  (void) error;
  *out = value_ref (call->args[0]);
  return TRUE;
}

static gboolean
fn_len (Call *call, Value *out, GError **error)
{
  Value v = call->args[0];
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (!indirect (&v))
    return call_error (error, "len of nil pointer");
  switch (value_kind (v))
    {
    case K_STRING:
    case K_NUMBER:
      *out = value_new_int (strlen (value_string (v, buf)));
      return TRUE;
    case K_SLICE:
      *out = value_new_int (slice_length (v));
      return TRUE;
    case K_MAP:
      *out = value_new_int (json_object_get_size (json_node_get_object (v.node)));
      return TRUE;
    case K_INVALID:
      return call_error (error, "len of nil");
    default:
      return call_error (error, "len of type %s", value_type_name (v));
    }
}

/* Go's index: item[i][j]… over slices, maps and strings */
static gboolean
fn_index (Call *call, Value *out, GError **error)
{
  Value item = value_ref (call->args[0]);

  if (value_kind (item) == K_INVALID)
    return call_error (error, "index of untyped nil");
  for (guint i = 1; i < call->n_args; i++)
    {
      Value index = call->args[i];
      Value next = { NULL, NULL };
      Kind k;

      if (!indirect (&item))
        {
          value_clear (&item);
          return call_error (error, "index of nil pointer");
        }
      k = value_kind (item);
      if (k == K_SLICE || k == K_STRING)
        {
          char buf[G_ASCII_DTOSTR_BUF_SIZE];
          Kind ik = value_kind (index);
          gint64 x, len;

          if (ik == K_INVALID)
            {
              value_clear (&item);
              return call_error (error, "cannot index slice/array with nil");
            }
          if (ik != K_INT && ik != K_UINT)
            {
              const char *name = value_type_name (index);

              value_clear (&item);
              return call_error (error, "cannot index slice/array with type %s", name);
            }
          x = value_int (index);
          len = k == K_STRING ? (gint64) strlen (value_string (item, buf)) : slice_length (item);
          if (x < 0 || x >= len)
            {
              value_clear (&item);
              return call_error (error, "index out of range: %" G_GINT64_FORMAT, x);
            }
          if (k == K_STRING)
            next = value_new_int ((guchar) value_string (item, buf)[x]);
          else
            {
              JsonNode *element = json_array_get_element (json_node_get_array (item.node), x);

              if (item.type != NULL)
                next = (Value) { json_node_ref (element), item.type->elem };
              else
                next = raw_child (element);
            }
        }
      else if (k == K_MAP)
        {
          JsonObject *object = json_node_get_object (item.node);
          char buf[G_ASCII_DTOSTR_BUF_SIZE];
          const char *key;

          if (value_kind (index) != K_STRING)
            {
              const char *name = value_type_name (index);

              value_clear (&item);
              return call_error (error, "value has type %s; should be string", name);
            }
          key = value_string (index, buf);
          /* a missing key gives the zero value, even where a field would be an error */
          next = raw_child (json_object_has_member (object, key)
                              ? json_object_get_member (object, key) : NULL);
        }
      else if (k == K_INVALID)
        {
          value_clear (&item);
          return call_error (error, "index of untyped nil");
        }
      else
        {
          const char *name = value_type_name (item);

          value_clear (&item);
          /* Go names what the pointer points to */
          return call_error (error, "can't index item of type %s",
                             name[0] == '*' ? name + 1 : name);
        }
      value_clear (&item);
      item = next;
    }
  *out = item;
  return TRUE;
}

static gboolean
fn_not (Call *call, Value *out, GError **error)
{
  (void) error;
  *out = value_new_bool (!is_true (call->args[0]));
  return TRUE;
}

typedef enum {
  BASIC_INVALID,
  BASIC_BOOL,
  BASIC_INT,
  BASIC_UINT,
  BASIC_FLOAT,
  BASIC_STRING,
} BasicKind;

static BasicKind
basic_kind (Value v)
{
  switch (value_kind (v))
    {
    case K_BOOL: return BASIC_BOOL;
    case K_INT: return BASIC_INT;
    case K_UINT: return BASIC_UINT;
    case K_FLOAT: return BASIC_FLOAT;
    case K_STRING:
    case K_NUMBER: return BASIC_STRING;
    default: return BASIC_INVALID;
    }
}

/* Go's eq: @a equals any of @others */
static gboolean
values_equal (Value a, Value b, gboolean *equal, GError **error)
{
  BasicKind ka = basic_kind (a), kb = basic_kind (b);
  char buf_a[G_ASCII_DTOSTR_BUF_SIZE], buf_b[G_ASCII_DTOSTR_BUF_SIZE];

  *equal = FALSE;
  if (ka != kb)
    {
      if (ka == BASIC_INT && kb == BASIC_UINT)
        *equal = value_int (a) >= 0 && value_int (a) == value_int (b);
      else if (ka == BASIC_UINT && kb == BASIC_INT)
        *equal = value_int (b) >= 0 && value_int (a) == value_int (b);
      else if (value_kind (a) != K_INVALID && value_kind (b) != K_INVALID)
        return call_error (error, "incompatible types for comparison");
      return TRUE;
    }
  switch (ka)
    {
    case BASIC_BOOL:
      *equal = value_bool (a) == value_bool (b);
      return TRUE;
    case BASIC_INT:
    case BASIC_UINT:
      *equal = value_int (a) == value_int (b);
      return TRUE;
    case BASIC_FLOAT:
      *equal = value_float (a) == value_float (b);
      return TRUE;
    case BASIC_STRING:
      *equal = g_str_equal (value_string (a, buf_a), value_string (b, buf_b));
      return TRUE;
    case BASIC_INVALID:
    default:
      /* nil compares equal to nil; other composite values are not comparable here */
      if (value_is_nil (a) || value_is_nil (b))
        {
          *equal = value_is_nil (a) && value_is_nil (b);
          return TRUE;
        }
      {
        g_autofree char *shown = value_for_message (a);

        return call_error (error, "non-comparable type %s: %s", shown, value_type_name (a));
      }
    }
}

static gboolean
fn_eq (Call *call, Value *out, GError **error)
{
  if (call->n_args < 2)
    return call_error (error, "missing argument for comparison");
  for (guint i = 1; i < call->n_args; i++)
    {
      gboolean equal;

      if (!values_equal (call->args[0], call->args[i], &equal, error))
        return FALSE;
      if (equal)
        {
          *out = value_new_bool (TRUE);
          return TRUE;
        }
    }
  *out = value_new_bool (FALSE);
  return TRUE;
}

static gboolean
fn_ne (Call *call, Value *out, GError **error)
{
  gboolean equal;

  if (!values_equal (call->args[0], call->args[1], &equal, error))
    return FALSE;
  *out = value_new_bool (!equal);
  return TRUE;
}

/* Go's lt */
static gboolean
values_less (Value a, Value b, gboolean *less, GError **error)
{
  BasicKind ka = basic_kind (a), kb = basic_kind (b);
  char buf_a[G_ASCII_DTOSTR_BUF_SIZE], buf_b[G_ASCII_DTOSTR_BUF_SIZE];

  if (ka == BASIC_INVALID || kb == BASIC_INVALID || ka == BASIC_BOOL || kb == BASIC_BOOL)
    return call_error (error, "invalid type for comparison");
  if (ka != kb)
    {
      if (ka == BASIC_INT && kb == BASIC_UINT)
        *less = value_int (a) < value_int (b);
      else if (ka == BASIC_UINT && kb == BASIC_INT)
        *less = value_int (a) < value_int (b);
      else
        return call_error (error, "incompatible types for comparison");
      return TRUE;
    }
  switch (ka)
    {
    case BASIC_FLOAT:
      *less = value_float (a) < value_float (b);
      break;
    case BASIC_STRING:
      *less = strcmp (value_string (a, buf_a), value_string (b, buf_b)) < 0;
      break;
    default:
      *less = value_int (a) < value_int (b);
      break;
    }
  return TRUE;
}

static gboolean
compare (Call *call, Value *out, GError **error, gboolean want_less, gboolean or_equal)
{
  gboolean less, equal = FALSE;

  if (!values_less (call->args[0], call->args[1], &less, error))
    return FALSE;
  if (or_equal && !values_equal (call->args[0], call->args[1], &equal, error))
    return FALSE;
  *out = value_new_bool (want_less ? (less || equal) : !(less || equal));
  return TRUE;
}

static gboolean
fn_lt (Call *call, Value *out, GError **error)
{
  return compare (call, out, error, TRUE, FALSE);
}

static gboolean
fn_le (Call *call, Value *out, GError **error)
{
  return compare (call, out, error, TRUE, TRUE);
}

static gboolean
fn_gt (Call *call, Value *out, GError **error)
{
  return compare (call, out, error, FALSE, TRUE);
}

static gboolean
fn_ge (Call *call, Value *out, GError **error)
{
  return compare (call, out, error, FALSE, FALSE);
}

static gboolean fn_print (Call *call, Value *out, GError **error);
static gboolean fn_println (Call *call, Value *out, GError **error);
static gboolean fn_printf (Call *call, Value *out, GError **error);

typedef struct {
  const char *name;
  Function function;
  Function header_function; /* in a table's header, when it differs */
  guint n_params;           /* fixed parameters */
  ArgType params[3];
  gboolean variadic;        /* then any number of ARG_ANY after the fixed ones */
  ArgType header_params[3];
} FunctionDef;

/* Go's builtins and docker's basicFunctions; and and or are evaluated lazily in
 * eval_function */
static const FunctionDef functions[] = {
  { "and", NULL, NULL, 1, { ARG_ANY }, TRUE, { 0 } },
  { "or", NULL, NULL, 1, { ARG_ANY }, TRUE, { 0 } },
  { "not", fn_not, NULL, 1, { ARG_ANY }, FALSE, { 0 } },
  { "len", fn_len, NULL, 1, { ARG_ANY }, FALSE, { 0 } },
  { "index", fn_index, NULL, 1, { ARG_ANY }, TRUE, { 0 } },
  { "eq", fn_eq, NULL, 1, { ARG_ANY }, TRUE, { 0 } },
  { "ne", fn_ne, NULL, 2, { ARG_ANY, ARG_ANY }, FALSE, { 0 } },
  { "lt", fn_lt, NULL, 2, { ARG_ANY, ARG_ANY }, FALSE, { 0 } },
  { "le", fn_le, NULL, 2, { ARG_ANY, ARG_ANY }, FALSE, { 0 } },
  { "gt", fn_gt, NULL, 2, { ARG_ANY, ARG_ANY }, FALSE, { 0 } },
  { "ge", fn_ge, NULL, 2, { ARG_ANY, ARG_ANY }, FALSE, { 0 } },
  { "print", fn_print, NULL, 0, { 0 }, TRUE, { 0 } },
  { "println", fn_println, NULL, 0, { 0 }, TRUE, { 0 } },
  { "printf", fn_printf, NULL, 1, { ARG_STRING }, TRUE, { ARG_STRING } },
  { "json", fn_json, fn_header_identity, 1, { ARG_ANY }, FALSE, { ARG_STRING } },
  { "split", fn_split, fn_header_identity, 2, { ARG_STRING, ARG_STRING }, FALSE,
    { ARG_STRING, ARG_STRING } },
  { "join", fn_join, fn_header_identity, 2, { ARG_STRINGS, ARG_STRING }, FALSE,
    { ARG_STRING, ARG_STRING } },
  { "title", fn_title, fn_header_identity, 1, { ARG_STRING }, FALSE, { ARG_STRING } },
  { "lower", fn_lower, fn_header_identity, 1, { ARG_STRING }, FALSE, { ARG_STRING } },
  { "upper", fn_upper, fn_header_identity, 1, { ARG_STRING }, FALSE, { ARG_STRING } },
  { "pad", fn_pad, NULL, 3, { ARG_STRING, ARG_INT, ARG_INT }, FALSE,
    { ARG_STRING, ARG_INT, ARG_INT } },
  { "truncate", fn_truncate, fn_header_identity, 2, { ARG_STRING, ARG_INT }, FALSE,
    { ARG_STRING, ARG_INT } },
};

static const FunctionDef *
find_function (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (functions); i++)
    if (g_str_equal (functions[i].name, name))
      return &functions[i];
  return NULL;
}

gboolean
ctl_template_function_exists (const char *name)
{
  return find_function (name) != NULL;
}

static void
clear_args (Value *args, guint n)
{
  for (guint i = 0; i < n; i++)
    value_clear (&args[i]);
}

/* Go's evalFunction and evalCall: @ident names the function; its arguments are the other
 * operands of @cmd (none when @cmd is NULL), then @final, the value piped in */
static gboolean
eval_function (State *s, Value dot, CtlNode *ident, CtlNode *cmd, Value *final, Value *out)
{
  const FunctionDef *def = find_function (ident->text);
  guint n_operands = cmd != NULL ? cmd->children->len - 1 : 0;
  guint n_args = n_operands + (final != NULL ? 1 : 0);
  gboolean header = s->header && def->header_function != NULL;
  const ArgType *params = header ? def->header_params : def->params;
  g_autofree Value *args = NULL;
  g_autoptr(GError) call_err = NULL;
  Call call;
  gboolean ok;

  s->at = ident;
  if (def->variadic ? n_args < def->n_params : n_args != def->n_params)
    return fail (s, def->variadic ? "wrong number of args for %s: want at least %u got %u"
                                  : "wrong number of args for %s: want %u got %u",
                 def->name, def->n_params, n_args);

  /* and, or: Go evaluates the operands one by one and stops at the answer */
  if (def->function == NULL)
    {
      gboolean is_and = g_str_equal (def->name, "and");
      Value v = { NULL, NULL };

      for (guint i = 0; i < n_args; i++)
        {
          value_clear (&v);
          if (i < n_operands)
            {
              if (!eval_arg (s, dot, g_ptr_array_index (cmd->children, i + 1), ARG_ANY, &v))
                return FALSE;
            }
          else
            v = value_ref (*final);
          if (is_true (v) != is_and)
            break;
        }
      *out = v;
      return TRUE;
    }

  args = g_new0 (Value, MAX (n_args, 1));
  for (guint i = 0; i < n_args; i++)
    {
      ArgType want = i < def->n_params ? params[i] : ARG_ANY;

      if (i < n_operands)
        {
          if (!eval_arg (s, dot, g_ptr_array_index (cmd->children, i + 1), want, &args[i]))
            {
              clear_args (args, n_args);
              return FALSE;
            }
        }
      else
        {
          args[i] = value_ref (*final);
          if (!validate (s, &args[i], want))
            {
              clear_args (args, n_args);
              return FALSE;
            }
        }
    }
  s->at = cmd != NULL ? cmd : ident;
  call = (Call) { s, cmd, def->name, args, n_args };
  ok = (header ? def->header_function : def->function) (&call, out, &call_err);
  clear_args (args, n_args);
  if (!ok && call_err != NULL)
    return fail (s, "error calling %s: %s", def->name, call_err->message);
  return ok;
}

/* Go's evalCommand; @final is the value piped in, or NULL */
static gboolean
eval_command (State *s, Value dot, CtlNode *cmd, Value *final, Value *out)
{
  CtlNode *first = g_ptr_array_index (cmd->children, 0);
  gboolean has_args = cmd->children->len > 1 || final != NULL;

  if (!step (s))
    return FALSE;
  s->at = first;
  switch (first->type)
    {
    case CTL_NODE_FIELD:
      if (!eval_field_chain (s, dot, first->idents, has_args, out))
        return FALSE;
      return TRUE;
    case CTL_NODE_CHAIN:
      {
        Value operand = { NULL, NULL };
        gboolean ok;

        if (!eval_arg (s, dot, first->operand, ARG_ANY, &operand))
          return FALSE;
        s->at = first;
        ok = eval_field_chain (s, operand, first->idents, has_args, out);
        value_clear (&operand);
        return ok;
      }
    case CTL_NODE_IDENTIFIER:
      return eval_function (s, dot, first, cmd, final, out);
    case CTL_NODE_PIPE:
      if (!not_a_function (s, cmd, final != NULL))
        return FALSE;
      return eval_pipeline (s, dot, first, out);
    case CTL_NODE_VARIABLE:
      {
        Variable *var = find_var (s, first->idents[0]);

        if (var == NULL)
          return fail (s, "undefined variable: %s", first->idents[0]);
        if (first->idents[1] == NULL)
          {
            if (!not_a_function (s, cmd, final != NULL))
              return FALSE;
            *out = value_ref (var->value);
            return TRUE;
          }
        return eval_field_chain (s, var->value, first->idents + 1, has_args, out);
      }
    default:
      break;
    }
  if (!not_a_function (s, cmd, final != NULL))
    return FALSE;
  switch (first->type)
    {
    case CTL_NODE_DOT:
      *out = value_ref (dot);
      return TRUE;
    case CTL_NODE_NIL:
      return fail (s, "nil is not a command");
    default:
      *out = constant_value (first);
      return TRUE;
    }
}

static gboolean
eval_pipeline (State *s, Value dot, CtlNode *pipe, Value *out)
{
  Value value = { NULL, NULL };
  gboolean have_value = FALSE;

  s->at = pipe;
  for (guint i = 0; i < pipe->children->len; i++)
    {
      Value next = { NULL, NULL };

      if (!eval_command (s, dot, g_ptr_array_index (pipe->children, i),
                         have_value ? &value : NULL, &next))
        {
          value_clear (&value);
          return FALSE;
        }
      value_clear (&value);
      value = next;
      have_value = TRUE;
    }
  for (guint i = 0; i < pipe->decl->len; i++)
    {
      const char *name = g_ptr_array_index (pipe->decl, i);

      if (!pipe->is_assign)
        push_var (s, name, value);
      else if (!set_var (s, name, value))
        {
          value_clear (&value);
          return FALSE;
        }
    }
  *out = value;
  return TRUE;
}

static gboolean
append_output (State *s, const char *text, gsize len)
{
  if (s->out->len + len > CTL_TEMPLATE_MAX_OUTPUT)
    return check_size (s, s->out->len + len);
  g_string_append_len (s->out, text, len);
  return TRUE;
}

static gboolean
print_value (State *s, Value v)
{
  g_autoptr(GString) text = g_string_new (NULL);

  append_v (text, v.node, v.type, TRUE);
  return append_output (s, text->str, text->len);
}

/* one iteration of a range: the variables, then the body with @elem as the dot */
static gboolean
range_iteration (State *s, CtlNode *node, Value index, Value elem)
{
  guint mark = s->vars->len;
  CtlNode *pipe = node->pipe;
  gboolean ok;

  if (!step (s))
    return FALSE;
  if (pipe->decl->len > 0)
    {
      if (pipe->is_assign)
        {
          if (!set_var (s, g_ptr_array_index (pipe->decl, pipe->decl->len > 1 ? 1 : 0), elem) ||
              (pipe->decl->len > 1 && !set_var (s, g_ptr_array_index (pipe->decl, 0), index)))
            return FALSE;
        }
      else
        {
          Variable *top = &g_array_index (s->vars, Variable, s->vars->len - 1);

          value_clear (&top->value);
          top->value = value_ref (elem);
          if (pipe->decl->len > 1)
            {
              Variable *second = &g_array_index (s->vars, Variable, s->vars->len - 2);

              value_clear (&second->value);
              second->value = value_ref (index);
            }
        }
    }
  ok = walk (s, elem, node->list);
  pop_vars (s, mark);
  return ok;
}

static gboolean
walk_range (State *s, Value dot, CtlNode *node)
{
  g_auto(Value) value = { NULL, NULL };
  Value v;
  Kind k;

  if (!eval_pipeline (s, dot, node->pipe, &value))
    return FALSE;
  v = value;
  /* errors are about the last node evaluated, as Go's */
  if (!indirect (&v))
    return fail (s, "range can't iterate over <nil>");
  k = value_kind (v);
  if (k == K_SLICE && !node_is_null (v.node) &&
      json_array_get_length (json_node_get_array (v.node)) > 0)
    {
      JsonArray *array = json_node_get_array (v.node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          g_auto(Value) index = value_new_int (i);
          g_auto(Value) elem = { NULL, NULL };

          if (v.type != NULL)
            {
              if (!typed_child (s, element, v.type->elem, &elem))
                return FALSE;
            }
          else
            elem = raw_child (element);
          if (!range_iteration (s, node, index, elem))
            return FALSE;
        }
      return TRUE;
    }
  if (k == K_MAP && json_object_get_size (json_node_get_object (v.node)) > 0)
    {
      JsonObject *object = json_node_get_object (v.node);
      g_autoptr(GPtrArray) names = sorted_members (object);

      for (guint i = 0; i < names->len; i++)
        {
          const char *name = g_ptr_array_index (names, i);
          g_auto(Value) key = value_new_string (name);
          g_auto(Value) elem = raw_child (json_object_get_member (object, name));

          if (!range_iteration (s, node, key, elem))
            return FALSE;
        }
      return TRUE;
    }
  if (k != K_SLICE && k != K_MAP && k != K_INVALID)
    {
      g_autofree char *shown = value_for_message (v);

      return fail (s, "range can't iterate over %s", shown);
    }
  if (node->else_list != NULL)
    return walk (s, dot, node->else_list);
  return TRUE;
}

static gboolean
walk (State *s, Value dot, CtlNode *node)
{
  if (!step (s))
    return FALSE;
  switch (node->type)
    {
    case CTL_NODE_LIST:
      for (guint i = 0; i < node->children->len; i++)
        if (!walk (s, dot, g_ptr_array_index (node->children, i)))
          return FALSE;
      return TRUE;
    case CTL_NODE_TEXT:
      return append_output (s, node->text, strlen (node->text));
    case CTL_NODE_ACTION:
      {
        g_auto(Value) value = { NULL, NULL };

        if (!eval_pipeline (s, dot, node->pipe, &value))
          return FALSE;
        if (node->pipe->decl->len == 0)
          return print_value (s, value);
        return TRUE;
      }
    case CTL_NODE_IF:
    case CTL_NODE_WITH:
      {
        guint mark = s->vars->len;
        g_auto(Value) value = { NULL, NULL };
        gboolean ok;

        if (!eval_pipeline (s, dot, node->pipe, &value))
          return FALSE;
        if (is_true (value))
          ok = walk (s, node->type == CTL_NODE_WITH ? value : dot, node->list);
        else
          ok = node->else_list == NULL || walk (s, dot, node->else_list);
        pop_vars (s, mark);
        return ok;
      }
    case CTL_NODE_RANGE:
      {
        guint mark = s->vars->len;
        gboolean ok = walk_range (s, dot, node);

        pop_vars (s, mark);
        return ok;
      }
    default:
      return fail (s, "unknown node");
    }
}

/* section: printf */

typedef struct {
  gboolean minus;
  gboolean plus;
  gboolean zero;
  gboolean space;
  int width;     /* -1: none */
  int precision; /* -1: none */
  gboolean field_names;
} Spec;

static void
pad_text (GString *out, const char *text, gsize len, const Spec *spec, gboolean numeric)
{
  glong chars = g_utf8_strlen (text, len);
  glong padding = spec->width > chars ? spec->width - chars : 0;

  if (spec->minus)
    {
      g_string_append_len (out, text, len);
      for (glong i = 0; i < padding; i++)
        g_string_append_c (out, ' ');
      return;
    }
  if (spec->zero && numeric && len > 0 && (text[0] == '-' || text[0] == '+'))
    {
      /* the sign before the zeros */
      g_string_append_c (out, text[0]);
      text++;
      len--;
    }
  for (glong i = 0; i < padding; i++)
    g_string_append_c (out, spec->zero ? '0' : ' ');
  g_string_append_len (out, text, len);
}

/* strconv.Quote */
static void
append_quoted (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const char *p = s; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      GUnicodeType t = g_unichar_type (c);

      switch (c)
        {
        case '"': g_string_append (out, "\\\""); continue;
        case '\\': g_string_append (out, "\\\\"); continue;
        case '\a': g_string_append (out, "\\a"); continue;
        case '\b': g_string_append (out, "\\b"); continue;
        case '\f': g_string_append (out, "\\f"); continue;
        case '\n': g_string_append (out, "\\n"); continue;
        case '\r': g_string_append (out, "\\r"); continue;
        case '\t': g_string_append (out, "\\t"); continue;
        case '\v': g_string_append (out, "\\v"); continue;
        default: break;
        }
      if (c == ' ' || (g_unichar_isgraph (c) && t != G_UNICODE_LINE_SEPARATOR &&
                       t != G_UNICODE_PARAGRAPH_SEPARATOR && t != G_UNICODE_PRIVATE_USE))
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
      else if (c < 0x80)
        g_string_append_printf (out, "\\x%02x", c);
      else if (c < 0x10000)
        g_string_append_printf (out, "\\u%04x", c);
      else
        g_string_append_printf (out, "\\U%08x", c);
    }
  g_string_append_c (out, '"');
}

static void
append_bad_verb (GString *out, char verb, Value v)
{
  g_string_append_printf (out, "%%!%c(", verb);
  if (value_kind (v) == K_INVALID)
    g_string_append (out, "<nil>");
  else
    {
      g_string_append (out, value_type_name (v));
      g_string_append_c (out, '=');
      append_v (out, v.node, v.type, FALSE);
    }
  g_string_append_c (out, ')');
}

static void format_value (GString *out, Value v, char verb, const Spec *spec, guint depth);

static void
format_integer (GString *out, gint64 i, char verb, const Spec *spec)
{
  g_autoptr(GString) text = g_string_new (NULL);
  guint64 magnitude = i < 0 ? (guint64) 0 - (guint64) i : (guint64) i;
  g_autoptr(GString) digits = g_string_new (NULL);
  const char *set = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  guint base = verb == 'x' || verb == 'X' ? 16 : verb == 'o' ? 8 : verb == 'b' ? 2 : 10;

  if (verb == 'U')
    {
      g_autofree char *code = g_strdup_printf ("U+%04" G_GINT64_MODIFIER "X", i);

      pad_text (out, code, strlen (code), spec, FALSE);
      return;
    }
  if (verb == 'c' || verb == 'q')
    {
      char utf8[8] = { 0 };
      gunichar c = i >= 0 && i <= 0x10ffff && g_unichar_validate ((gunichar) i) ? (gunichar) i
                                                                                  : 0xfffd;

      g_unichar_to_utf8 (c, utf8);
      if (verb == 'q')
        {
          g_autoptr(GString) quoted = g_string_new (NULL);

          append_quoted (quoted, utf8);
          quoted->str[0] = '\'';
          quoted->str[quoted->len - 1] = '\'';
          if (c == '"')
            g_string_assign (quoted, "'\"'");
          pad_text (out, quoted->str, quoted->len, spec, FALSE);
        }
      else
        pad_text (out, utf8, strlen (utf8), spec, FALSE);
      return;
    }
  do
    {
      g_string_prepend_c (digits, set[magnitude % base]);
      magnitude /= base;
    }
  while (magnitude > 0);
  /* at once: a precision of up to a million zeros, prepended one by one, was quadratic */
  if (spec->precision >= 0 && digits->len < (gsize) spec->precision)
    {
      g_autofree char *zeros = g_strnfill ((gsize) spec->precision - digits->len, '0');

      g_string_prepend (digits, zeros);
    }
  if (i < 0)
    g_string_append_c (text, '-');
  else if (spec->plus)
    g_string_append_c (text, '+');
  else if (spec->space)
    g_string_append_c (text, ' ');
  g_string_append (text, digits->str);
  pad_text (out, text->str, text->len, spec, TRUE);
}

static void
format_float (GString *out, double d, char verb, const Spec *spec)
{
  g_autoptr(GString) text = g_string_new (NULL);

  if (verb == 'v' || ((verb == 'g' || verb == 'G') && spec->precision < 0))
    {
      append_float (text, d, FALSE);
      if (verb == 'G')
        for (char *c = text->str; *c != '\0'; c++)
          *c = g_ascii_toupper (*c);
    }
  else
    {
      char format[16];
      char buf[G_ASCII_DTOSTR_BUF_SIZE + 400];

      g_snprintf (format, sizeof format, "%%.%d%c", spec->precision >= 0 ? spec->precision : 6,
                  verb == 'F' ? 'f' : verb);
      g_ascii_formatd (buf, sizeof buf, format, d);
      g_string_append (text, buf);
    }
  if (spec->plus && d >= 0)
    g_string_prepend_c (text, '+');
  else if (spec->space && d >= 0)
    g_string_prepend_c (text, ' ');
  pad_text (out, text->str, text->len, spec, TRUE);
}

static void
format_string (GString *out, const char *s, char verb, const Spec *spec)
{
  g_autoptr(GString) text = g_string_new (NULL);

  if (verb == 'q')
    append_quoted (text, s);
  else if (verb == 'x' || verb == 'X')
    {
      for (const char *p = s; *p != '\0'; p++)
        g_string_append_printf (text, verb == 'x' ? "%02x" : "%02X", (guchar) *p);
    }
  else
    {
      gsize len = strlen (s);

      if (spec->precision >= 0)
        len = g_utf8_offset_to_pointer (s, MIN ((glong) spec->precision,
                                                g_utf8_strlen (s, -1))) - s;
      g_string_append_len (text, s, len);
    }
  pad_text (out, text->str, text->len, spec, FALSE);
}

/* Go's fmt: @verb applied to @v, and to each element of a slice, map or struct; @depth 0 for
 * an operand itself */
static void
format_value (GString *out, Value v, char verb, const Spec *spec, guint depth)
{
  Kind k = value_kind (v);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (verb == 'T')
    {
      const char *name = value_type_name (v);

      pad_text (out, name, strlen (name), spec, FALSE);
      return;
    }
  if (k == K_INVALID)
    {
      if (verb == 'v')
        pad_text (out, "<nil>", 5, spec, FALSE);
      else
        append_bad_verb (out, verb, v);
      return;
    }
  if (v.type != NULL && v.type->kind == GO_IFACE_TYPE &&
      (verb == 'v' || verb == 's' || verb == 'q' || verb == 'x' || verb == 'X'))
    {
      /* its String() */
      format_string (out, node_is_null (v.node) ? "./" : json_node_get_string (v.node), verb,
                     spec);
      return;
    }
  switch (k)
    {
    case K_BOOL:
      if (verb == 'v' || verb == 't')
        {
          const char *text = value_bool (v) ? "true" : "false";

          pad_text (out, text, strlen (text), spec, FALSE);
        }
      else
        append_bad_verb (out, verb, v);
      return;
    case K_INT:
    case K_UINT:
      if (strchr ("vdxXobcqU", verb) != NULL)
        format_integer (out, value_int (v), verb == 'v' ? 'd' : verb, spec);
      else
        append_bad_verb (out, verb, v);
      return;
    case K_FLOAT:
      if (strchr ("veEfFgG", verb) != NULL)
        format_float (out, value_float (v), verb, spec);
      else
        append_bad_verb (out, verb, v);
      return;
    case K_STRING:
    case K_NUMBER:
      if (strchr ("vsqxX", verb) != NULL)
        format_string (out, value_string (v, buf), verb, spec);
      else
        append_bad_verb (out, verb, v);
      return;
    case K_PTR:
      if (node_is_null (v.node))
        {
          if (verb == 'v')
            pad_text (out, "<nil>", 5, spec, FALSE);
          else
            append_bad_verb (out, verb, v);
          return;
        }
      /* an operand that points to a struct prints as &{…}; where Go would print an address,
       * the value says more */
      if (depth == 0 && (v.type->kind == GO_ROW || v.type->elem->kind == GO_STRUCT))
        g_string_append_c (out, '&');
      if (v.type->kind == GO_ROW)
        break;  /* the struct it points to */
      v.type = v.type->elem;
      format_value (out, v, verb, spec, depth + 1);
      return;
    case K_SLICE:
      g_string_append_c (out, '[');
      if (!node_is_null (v.node))
        {
          JsonArray *array = json_node_get_array (v.node);

          for (guint i = 0; i < json_array_get_length (array); i++)
            {
              JsonNode *element = json_array_get_element (array, i);
              Value e = v.type != NULL ? (Value) { element, v.type->elem }
                                       : (Value) { node_is_null (element) ? NULL : element,
                                                   NULL };

              if (i > 0)
                g_string_append_c (out, ' ');
              format_value (out, e, verb, spec, depth + 1);
            }
        }
      g_string_append_c (out, ']');
      return;
    case K_MAP:
      {
        JsonObject *object = json_node_get_object (v.node);
        g_autoptr(GPtrArray) names = sorted_members (object);

        g_string_append (out, "map[");
        for (guint i = 0; i < names->len; i++)
          {
            const char *name = g_ptr_array_index (names, i);
            JsonNode *member = json_object_get_member (object, name);

            if (i > 0)
              g_string_append_c (out, ' ');
            format_string (out, name, verb, spec);
            g_string_append_c (out, ':');
            format_value (out, (Value) { node_is_null (member) ? NULL : member, NULL }, verb,
                          spec, depth + 1);
          }
        g_string_append_c (out, ']');
        return;
      }
    case K_STRUCT:
    default:
      break;
    }
  g_string_append_c (out, '{');
  for (const GoField *field = v.type->fields; field->name != NULL; field++)
    {
      if (field != v.type->fields)
        g_string_append_c (out, ' ');
      if (spec->field_names)
        g_string_append_printf (out, "%s:", field->name);
      format_value (out, (Value) { struct_member (v.node, field), field->type }, verb, spec,
                    depth + 1);
    }
  g_string_append_c (out, '}');
}

/* fmt.Sprint: a space between operands when neither is a string */
static gboolean
fn_print (Call *call, Value *out, GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  Spec spec = { FALSE, FALSE, FALSE, FALSE, -1, -1, FALSE };
  gboolean previous_string = FALSE;

  (void) error;
  for (guint i = 0; i < call->n_args; i++)
    {
      Kind k = value_kind (call->args[i]);
      gboolean is_string = k == K_STRING || k == K_NUMBER;

      if (i > 0 && !is_string && !previous_string)
        g_string_append_c (text, ' ');
      format_value (text, call->args[i], 'v', &spec, 0);
      previous_string = is_string;
      if (!check_size (call->s, text->len))
        return FALSE;
    }
  *out = value_take_string (g_string_free (g_steal_pointer (&text), FALSE));
  return TRUE;
}

static gboolean
fn_println (Call *call, Value *out, GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  Spec spec = { FALSE, FALSE, FALSE, FALSE, -1, -1, FALSE };

  (void) error;
  for (guint i = 0; i < call->n_args; i++)
    {
      if (i > 0)
        g_string_append_c (text, ' ');
      format_value (text, call->args[i], 'v', &spec, 0);
      if (!check_size (call->s, text->len))
        return FALSE;
    }
  g_string_append_c (text, '\n');
  *out = value_take_string (g_string_free (g_steal_pointer (&text), FALSE));
  return TRUE;
}

/* fmt.Sprintf with the verbs v s d q t x X o b c e E f F g G T and the flags - + 0 space,
 * a width and a precision; Go's %!v(…) forms for a wrong, missing or extra operand */
static gboolean
fn_printf (Call *call, Value *out, GError **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *format = g_strdup (arg_str (call, 0));
  guint next_arg = 1;

  for (const char *p = format; *p != '\0';)
    {
      Spec spec = { FALSE, FALSE, FALSE, FALSE, -1, -1, FALSE };
      char verb;

      if (*p != '%')
        {
          const char *percent = strchr (p, '%');
          gsize n = percent != NULL ? (gsize) (percent - p) : strlen (p);

          g_string_append_len (text, p, n);
          p += n;
          continue;
        }
      p++;
      for (;; p++)
        {
          if (*p == '-')
            spec.minus = TRUE, spec.zero = FALSE;
          else if (*p == '+')
            spec.plus = TRUE;
          else if (*p == '0')
            spec.zero = !spec.minus;
          else if (*p == ' ')
            spec.space = TRUE;
          else
            break;
        }
      if (*p == '#' || *p == '*' || *p == '[')
        return call_error (error, _("printf: '%c' is not supported by pluginctl"), *p);
      if (g_ascii_isdigit (*p))
        {
          spec.width = 0;
          for (; g_ascii_isdigit (*p); p++)
            spec.width = MIN (spec.width * 10 + (*p - '0'), 1000000);
        }
      if (*p == '.')
        {
          p++;
          spec.precision = 0;
          if (*p == '*' || *p == '[')
            return call_error (error, _("printf: '%c' is not supported by pluginctl"), *p);
          for (; g_ascii_isdigit (*p); p++)
            spec.precision = MIN (spec.precision * 10 + (*p - '0'), 1000000);
        }
      if (*p == '\0')
        {
          g_string_append (text, "%!(NOVERB)");
          break;
        }
      verb = *p;
      if ((guchar) verb >= 0x80)
        {
          const char *next = g_utf8_next_char (p);

          g_string_append (text, "%!");
          g_string_append_len (text, p, next - p);
          g_string_append (text, "(BADVERB)");
          p = next;
          continue;
        }
      p++;
      if (verb == '%')
        {
          g_string_append_c (text, '%');
          continue;
        }
      if (next_arg >= call->n_args)
        {
          g_string_append_printf (text, "%%!%c(MISSING)", verb);
          continue;
        }
      /* %+v names the fields of a struct, and adds no sign */
      spec.field_names = verb == 'v' && spec.plus;
      if (spec.field_names)
        spec.plus = FALSE;
      if (strchr ("vsdqtxXobcUeEfFgGT", verb) == NULL)
        append_bad_verb (text, verb, call->args[next_arg]);
      else
        format_value (text, call->args[next_arg], verb, &spec, 0);
      next_arg++;
      if (!check_size (call->s, text->len))
        return FALSE;
    }
  if (next_arg < call->n_args)
    {
      g_string_append (text, "%!(EXTRA ");
      for (guint i = next_arg; i < call->n_args; i++)
        {
          if (i > next_arg)
            g_string_append (text, ", ");
          g_string_append (text, value_type_name (call->args[i]));
          g_string_append_c (text, '=');
          append_v (text, call->args[i].node, call->args[i].type, FALSE);
        }
      g_string_append_c (text, ')');
    }
  if (!check_size (call->s, text->len))
    return FALSE;
  *out = value_take_string (g_string_free (g_steal_pointer (&text), FALSE));
  return TRUE;
}

/* section: running */

static gboolean
run (CtlTemplate *tmpl, JsonNode *data, const GoType *type, gboolean raw, gboolean header,
     gboolean keep_partial, GString *out, GError **error)
{
  State s = { 0 };
  Value root = { data, type };
  gsize start = out->len;
  gboolean ok;

  s.tmpl = tmpl;
  s.raw = raw;
  s.header = header;
  s.out = out;
  s.vars = g_array_new (FALSE, FALSE, sizeof (Variable));
  if (type != NULL && !node_fits_deep (data, type))
    ok = fail (&s, _("the daemon's data does not fit Docker's %s"), type->name);
  else
    {
      push_var (&s, "$", root);
      ok = walk (&s, root, tmpl->root);
    }
  pop_vars (&s, 0);
  g_array_unref (s.vars);
  if (!ok)
    {
      if (!keep_partial)
        g_string_truncate (out, start);
      g_propagate_error (error, s.error);
      return FALSE;
    }
  return TRUE;
}

gboolean
ctl_template_execute (CtlTemplate *tmpl,
                      JsonNode *data,
                      CtlTemplateData kind,
                      GString *out,
                      GError **error)
{
  g_autoptr(GError) typed_error = NULL;

  switch (kind)
    {
    case CTL_TEMPLATE_DATA_PLUGIN:
      /* docker's inspect: the typed struct, then the raw JSON with missingkey=error */
      if (run (tmpl, data, &plugin_type, FALSE, FALSE, FALSE, out, &typed_error))
        return TRUE;
      if (g_error_matches (typed_error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_LIMIT))
        {
          g_propagate_error (error, g_steal_pointer (&typed_error));
          return FALSE;
        }
      return run (tmpl, data, NULL, TRUE, FALSE, FALSE, out, error);
    case CTL_TEMPLATE_DATA_LIST_ROW:
      return run (tmpl, data, &row_type, FALSE, FALSE, FALSE, out, error);
    case CTL_TEMPLATE_DATA_LIST_HEADER:
    default:
      /* docker ignores an error in the header and keeps what was written */
      return run (tmpl, data, NULL, FALSE, TRUE, TRUE, out, error);
    }
}
