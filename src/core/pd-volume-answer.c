/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-consumer"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-volume-answer.h"

gboolean
pd_volume_answer_has_mountpoints (const char *target)
{
  return g_strcmp0 (target, "/VolumeDriver.Mount") == 0 ||
         g_strcmp0 (target, "/VolumeDriver.Path") == 0 ||
         g_strcmp0 (target, "/VolumeDriver.Get") == 0 ||
         g_strcmp0 (target, "/VolumeDriver.List") == 0;
}

static gboolean
refuse (GError **error, const char *mountpoint, const char *why)
{
  g_autofree char *escaped = pd_escape_untrusted (mountpoint, -1);

  g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "Mountpoint \"%s\" %s", escaped, why);
  return FALSE;
}

/* the components of a path without "." or ".." (empty ones, of "//" or a trailing "/", left
 * out); NULL when it has any */
static GStrv
path_components (const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, "/", -1);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (parts[i][0] == '\0')
        continue;
      if (g_str_equal (parts[i], ".") || g_str_equal (parts[i], ".."))
        return NULL;
      g_strv_builder_add (builder, parts[i]);
    }
  return g_strv_builder_end (builder);
}

/* no symlink among the components of @rest that exist beneath @dirfd, and every one but the
 * last a directory; with @must_exist, all of them exist and the last is a directory */
static gboolean
check_on_host (int dirfd, const char *const *rest, const char *mountpoint, gboolean must_exist,
               GError **error)
{
  int cur = fcntl (dirfd, F_DUPFD_CLOEXEC, 3);
  gboolean ok = TRUE;

  if (cur < 0)
    return refuse (error, mountpoint, "cannot be checked");
  for (guint i = 0; rest[i] != NULL && ok; i++)
    {
      gboolean last = rest[i + 1] == NULL;
      int next = openat (cur, rest[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;

      if (next < 0)
        {
          if (errno == ENOENT && !must_exist)
            break;
          ok = refuse (error, mountpoint,
                       errno == ENOENT ? "does not exist on the host"
                                       : "cannot be looked up on the host");
          break;
        }
      if (fstat (next, &st) < 0)
        ok = refuse (error, mountpoint, "cannot be looked up on the host");
      else if (S_ISLNK (st.st_mode))
        ok = refuse (error, mountpoint, "goes through a symlink on the host");
      else if (!S_ISDIR (st.st_mode) && (!last || must_exist))
        ok = refuse (error, mountpoint, "is not a directory on the host");
      close (cur);
      cur = next;
    }
  close (cur);
  return ok;
}

char *
pd_volume_map_mountpoint (const char *mountpoint, const char *propagated_mount,
                          const char *host_dir, int host_dirfd, gboolean must_exist,
                          GError **error)
{
  g_auto(GStrv) parts = NULL;
  g_auto(GStrv) prefix = NULL;
  g_autofree char *rest_path = NULL;
  guint n_prefix;

  if (propagated_mount == NULL || *propagated_mount == '\0')
    {
      refuse (error, mountpoint, "is no host path: the plugin has no PropagatedMount");
      return NULL;
    }
  if (strlen (mountpoint) > PD_VOLUME_MOUNTPOINT_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "Mountpoint is longer than %u bytes",
                   PD_VOLUME_MOUNTPOINT_MAX);
      return NULL;
    }
  if (mountpoint[0] != '/')
    {
      refuse (error, mountpoint, "is not an absolute path");
      return NULL;
    }
  parts = path_components (mountpoint);
  if (parts == NULL)
    {
      refuse (error, mountpoint, "has a \".\" or \"..\" component");
      return NULL;
    }
  prefix = path_components (propagated_mount);
  n_prefix = prefix != NULL ? g_strv_length (prefix) : 0;
  if (prefix == NULL || g_strv_length (parts) < n_prefix)
    {
      refuse (error, mountpoint, "is outside the plugin's PropagatedMount");
      return NULL;
    }
  for (guint i = 0; i < n_prefix; i++)
    if (!g_str_equal (parts[i], prefix[i]))
      {
        refuse (error, mountpoint, "is outside the plugin's PropagatedMount");
        return NULL;
      }
  if (!check_on_host (host_dirfd, (const char *const *) parts + n_prefix, mountpoint,
                      must_exist, error))
    return NULL;
  if (parts[n_prefix] == NULL)
    return g_strdup (host_dir);
  rest_path = g_strjoinv ("/", parts + n_prefix);
  return g_build_filename (host_dir, rest_path, NULL);
}

/* section: answers */

typedef struct {
  const char *propagated_mount;
  const char *host_dir;
  int host_dirfd;
  GHashTable *pinned;
} Scope;

/* the members of @object whose keys match @names case-insensitively, in @values (NULL when
 * absent); others are left out. Two keys for one name are refused. */
static gboolean
pick_members (JsonObject *object, const char *const *names, JsonNode **values, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (object);

  for (guint k = 0; names[k] != NULL; k++)
    values[k] = NULL;
  for (GList *l = members; l != NULL; l = l->next)
    for (guint k = 0; names[k] != NULL; k++)
      if (g_ascii_strcasecmp (l->data, names[k]) == 0)
        {
          if (values[k] != NULL)
            {
              g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                           "the answer has two keys for \"%s\"", names[k]);
              return FALSE;
            }
          values[k] = json_object_get_member (object, l->data);
        }
  return TRUE;
}

/* a string member, or NULL for absent and null; anything else is refused */
static gboolean
get_string (JsonNode *node, const char *name, const char **out, GError **error)
{
  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "\"%s\" is not a string", name);
      return FALSE;
    }
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
add_mountpoint (JsonBuilder *builder, JsonNode *node, const char *name, const Scope *scope,
                gboolean must_exist, GError **error)
{
  g_autofree char *host = NULL;
  const char *mountpoint, *pin;

  if (!get_string (node, "Mountpoint", &mountpoint, error))
    return FALSE;
  json_builder_set_member_name (builder, "Mountpoint");
  /* a pinned volume is where it was pinned, whatever the plugin says now */
  pin = scope->pinned != NULL && name != NULL ? g_hash_table_lookup (scope->pinned, name) : NULL;
  if (pin != NULL)
    {
      json_builder_add_string_value (builder, pin);
      return TRUE;
    }
  /* no Mountpoint: a volume that is not mounted, except in a Mount answer */
  if (mountpoint == NULL || *mountpoint == '\0')
    {
      if (must_exist)
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the answer has no Mountpoint");
          return FALSE;
        }
      json_builder_add_string_value (builder, "");
      return TRUE;
    }
  host = pd_volume_map_mountpoint (mountpoint, scope->propagated_mount, scope->host_dir,
                                   scope->host_dirfd, must_exist, error);
  if (host == NULL)
    return FALSE;
  json_builder_add_string_value (builder, host);
  return TRUE;
}

/* a volume of Get or List: {"Name", "Mountpoint", "CreatedAt", "Status"} */
static gboolean
add_volume (JsonBuilder *builder, JsonNode *node, const char *request_name, const Scope *scope,
            GError **error)
{
  static const char *const names[] = { "Name", "Mountpoint", "CreatedAt", "Status", NULL };
  JsonNode *values[G_N_ELEMENTS (names)];
  const char *name, *created_at;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      json_builder_add_null_value (builder);
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "a volume is not an object");
      return FALSE;
    }
  if (!pick_members (json_node_get_object (node), names, values, error) ||
      !get_string (values[0], "Name", &name, error) ||
      !get_string (values[2], "CreatedAt", &created_at, error))
    return FALSE;
  if (values[3] != NULL && !JSON_NODE_HOLDS_OBJECT (values[3]) &&
      !JSON_NODE_HOLDS_NULL (values[3]))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "\"Status\" is not an object");
      return FALSE;
    }
  /* Get's answer may leave its Name out: it is the requested one */
  if (name == NULL)
    name = request_name;
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "Name");
  json_builder_add_string_value (builder, name != NULL ? name : "");
  if (!add_mountpoint (builder, values[1], name, scope, FALSE, error))
    return FALSE;
  if (created_at != NULL)
    {
      json_builder_set_member_name (builder, "CreatedAt");
      json_builder_add_string_value (builder, created_at);
    }
  if (values[3] != NULL && JSON_NODE_HOLDS_OBJECT (values[3]))
    {
      json_builder_set_member_name (builder, "Status");
      json_builder_add_value (builder, json_node_copy (values[3]));
    }
  json_builder_end_object (builder);
  return TRUE;
}

GBytes *
pd_volume_rewrite_answer (const char *target, const char *data, gsize len,
                          const char *propagated_mount, const char *host_dir, int host_dirfd,
                          const char *request_name, GHashTable *pinned, GError **error)
{
  static const char *const names[] = { "Err", "Mountpoint", "Volume", "Volumes", NULL };
  JsonNode *values[G_N_ELEMENTS (names)];
  g_autoptr(JsonNode) root = pd_json_parse (data, len, PD_VOLUME_ANSWER_MAX, error);
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  Scope scope = { propagated_mount, host_dir, host_dirfd, pinned };
  const char *err;

  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "the answer is not a JSON object");
      return NULL;
    }
  if (!pick_members (json_node_get_object (root), names, values, error) ||
      !get_string (values[0], "Err", &err, error))
    return NULL;

  json_builder_begin_object (builder);
  if (err != NULL && *err != '\0')
    {
      /* the operation failed: whatever else the answer says is of no use to the engine */
      json_builder_set_member_name (builder, "Err");
      json_builder_add_string_value (builder, err);
      json_builder_end_object (builder);
      return pd_json_builder_to_go_bytes (builder);
    }

  if (g_str_equal (target, "/VolumeDriver.Mount") || g_str_equal (target, "/VolumeDriver.Path"))
    {
      if (!add_mountpoint (builder, values[1], request_name, &scope,
                           g_str_equal (target, "/VolumeDriver.Mount"), error))
        return NULL;
    }
  else if (g_str_equal (target, "/VolumeDriver.Get"))
    {
      json_builder_set_member_name (builder, "Volume");
      if (!add_volume (builder, values[2], request_name, &scope, error))
        return NULL;
    }
  else if (g_str_equal (target, "/VolumeDriver.List"))
    {
      JsonNode *volumes = values[3];

      json_builder_set_member_name (builder, "Volumes");
      if (volumes == NULL || JSON_NODE_HOLDS_NULL (volumes))
        json_builder_add_null_value (builder);
      else if (!JSON_NODE_HOLDS_ARRAY (volumes))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "\"Volumes\" is not a list");
          return NULL;
        }
      else
        {
          JsonArray *array = json_node_get_array (volumes);

          json_builder_begin_array (builder);
          for (guint i = 0; i < json_array_get_length (array); i++)
            if (!add_volume (builder, json_array_get_element (array, i), NULL, &scope, error))
              return NULL;
          json_builder_end_array (builder);
        }
    }
  else
    g_return_val_if_reached (NULL);

  json_builder_set_member_name (builder, "Err");
  json_builder_add_string_value (builder, "");
  json_builder_end_object (builder);
  return pd_json_builder_to_go_bytes (builder);
}
