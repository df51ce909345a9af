/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-config"

#include <stdlib.h>
#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-json-tree.h"
#include "pd-path.h"
#include "pd-plugin-config.h"
#include "pd-reference.h"

/* the plugin's socket lives in /run/docker/plugins/ inside the plugin, and the full path must
 * fit sockaddr_un.sun_path (108 bytes including the terminating NUL) */
#define PD_PLUGIN_SOCKET_DIR      "/run/docker/plugins/"
#define PD_PLUGIN_SOCKET_NAME_MAX (107 - (sizeof (PD_PLUGIN_SOCKET_DIR) - 1))
#define PD_PROTOCOL_HTTP_V1       "moby.plugins.http/v1"

/* section: reading the tree as Go's decoder reads a plugin.Config */

static gboolean
fail_type (const char *path, const char *expected, PdJsonValue *value, GError **error)
{
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "config: %s must be %s, not %s",
               path, expected, pd_json_kind_name (value->kind));
  return FALSE;
}

/* Go leaves a non-pointer field untouched for JSON null, so absent and null both give "" */
static gboolean
get_string (PdJsonValue *object, const char *parent, const char *name, char **out, GError **error)
{
  PdJsonValue *v = pd_json_value_member (object, name);

  if (v == NULL || v->kind == PD_JSON_NULL)
    {
      *out = g_strdup ("");
      return TRUE;
    }
  if (v->kind != PD_JSON_STRING)
    {
      g_autofree char *path = pd_json_path_join (parent, name);
      return fail_type (path, "a string", v, error);
    }
  *out = g_strdup (v->text);
  return TRUE;
}

/* for Go's *string fields: absent and null are both nil, "" is a real value */
static gboolean
get_nullable_string (PdJsonValue *object, const char *parent, const char *name, char **out,
                     GError **error)
{
  PdJsonValue *v = pd_json_value_member (object, name);

  *out = NULL;
  if (v == NULL || v->kind == PD_JSON_NULL)
    return TRUE;
  if (v->kind != PD_JSON_STRING)
    {
      g_autofree char *path = pd_json_path_join (parent, name);
      return fail_type (path, "a string or null", v, error);
    }
  *out = g_strdup (v->text);
  return TRUE;
}

static gboolean
get_bool (PdJsonValue *object, const char *parent, const char *name, gboolean *out, GError **error)
{
  PdJsonValue *v = pd_json_value_member (object, name);

  *out = FALSE;
  if (v == NULL || v->kind == PD_JSON_NULL)
    return TRUE;
  if (v->kind != PD_JSON_BOOL)
    {
      g_autofree char *path = pd_json_path_join (parent, name);
      return fail_type (path, "a boolean", v, error);
    }
  *out = v->boolean;
  return TRUE;
}

static gboolean
get_uint32 (PdJsonValue *object, const char *parent, const char *name, guint32 *out, GError **error)
{
  PdJsonValue *v = pd_json_value_member (object, name);
  g_autofree char *path = pd_json_path_join (parent, name);
  guint64 n = 0;

  *out = 0;
  if (v == NULL || v->kind == PD_JSON_NULL)
    return TRUE;
  if (v->kind != PD_JSON_NUMBER)
    return fail_type (path, "a number", v, error);
  /* like Go's decoder for uint32: digits only, no sign, fraction or exponent */
  if (!g_ascii_string_to_unsigned (v->text, 10, 0, G_MAXUINT32, &n, NULL))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: %s must be an integer between 0 and %u", path, G_MAXUINT32);
      return FALSE;
    }
  *out = (guint32) n;
  return TRUE;
}

/* returns an empty vector for absent and null, as every GStrv of the config is non-NULL */
static gboolean
get_strv (PdJsonValue *object, const char *parent, const char *name, GStrv *out, GError **error)
{
  PdJsonValue *v = pd_json_value_member (object, name);
  g_autofree char *path = pd_json_path_join (parent, name);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  /* absent or null stays NULL, so that it is written back as null, as Go does for a nil
   * slice; [] stays an empty list */
  *out = NULL;
  if (v == NULL || v->kind == PD_JSON_NULL)
    return TRUE;
  if (v->kind != PD_JSON_ARRAY)
    return fail_type (path, "an array of strings", v, error);
  for (guint i = 0; i < v->items->len; i++)
    {
      PdJsonValue *item = v->items->pdata[i];
      if (item->kind != PD_JSON_STRING)
        {
          g_autofree char *item_path = g_strdup_printf ("%s[%u]", path, i);
          return fail_type (item_path, "a string", item, error);
        }
      g_strv_builder_add (builder, item->text);
    }
  *out = g_strv_builder_end (builder);
  return TRUE;
}

/* an object member or NULL for absent/null */
static gboolean
get_object (PdJsonValue *object, const char *parent, const char *name, PdJsonValue **out, GError **error)
{
  PdJsonValue *v = pd_json_value_member (object, name);

  *out = NULL;
  if (v == NULL || v->kind == PD_JSON_NULL)
    return TRUE;
  if (v->kind != PD_JSON_OBJECT)
    {
      g_autofree char *path = pd_json_path_join (parent, name);
      return fail_type (path, "an object", v, error);
    }
  *out = v;
  return TRUE;
}

static gboolean
get_array (PdJsonValue *object, const char *parent, const char *name, PdJsonValue **out, GError **error)
{
  PdJsonValue *v = pd_json_value_member (object, name);

  *out = NULL;
  if (v == NULL || v->kind == PD_JSON_NULL)
    return TRUE;
  if (v->kind != PD_JSON_ARRAY)
    {
      g_autofree char *path = pd_json_path_join (parent, name);
      return fail_type (path, "an array", v, error);
    }
  *out = v;
  return TRUE;
}

/* section: validation helpers */

static const char *const linux_capabilities[] = {
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
  "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
};

int
pd_linux_capability_from_name (const char *name)
{
  if (name == NULL)
    return -1;
  for (gsize i = 0; i < G_N_ELEMENTS (linux_capabilities); i++)
    if (g_str_equal (linux_capabilities[i], name))
      return (int) i;
  return -1;
}

static gboolean
path_has_dotdot (const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, "/", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    if (g_str_equal (parts[i], ".."))
      return TRUE;
  return FALSE;
}

/* Docker passes Type and Options to mount(2) verbatim: either one can make it a bind mount */
static gboolean
mount_is_bind (const PdConfigMount *mount)
{
  if (g_strcmp0 (mount->type, "bind") == 0)
    return TRUE;
  return mount->options != NULL &&
         (g_strv_contains ((const char *const *) mount->options, "bind") ||
          g_strv_contains ((const char *const *) mount->options, "rbind"));
}

/* the source is a host path shown in the consent prompt, and a bind mount's source is where the
 * plugin gets into the host */
const char *
pd_config_mount_check_source (const PdConfigMount *mount, const char *source)
{
  if (pd_string_has_control_chars (source))
    return "must not contain control characters";
  if (mount_is_bind (mount) && !pd_path_is_clean_absolute (source))
    return "must be an absolute path without '.', '..' or empty components for a bind mount";
  return NULL;
}

const char *
pd_config_device_check_path (const char *path)
{
  if (pd_string_has_control_chars (path))
    return "must not contain control characters";
  if (!pd_plugin_device_path_is_valid (path))
    return "must be a path under /dev/ without '..'";
  return NULL;
}

static gboolean
capability_token_is_valid (const char *p, gsize len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (p[i]) && p[i] != '_' && p[i] != '-' && p[i] != '.')
      return FALSE;
  return TRUE;
}

/* Docker's CapabilityID: "<prefix>.<capability>/<version>"; the prefix is everything before the
 * last '.' of the part before the first '/'. We also require every part to be present and
 * plain, so the entry round-trips through Docker's MarshalText unchanged. */
static gboolean
interface_type_parse (const char *text, const char **capability, gsize *capability_len)
{
  const char *slash = strchr (text, '/');
  const char *dot;

  if (slash == NULL)
    return FALSE;
  dot = g_strrstr_len (text, slash - text, ".");
  if (dot == NULL)
    return FALSE;
  if (!capability_token_is_valid (text, dot - text) ||
      !capability_token_is_valid (dot + 1, slash - dot - 1) ||
      memchr (dot + 1, '.', slash - dot - 1) != NULL ||
      !capability_token_is_valid (slash + 1, strlen (slash + 1)))
    return FALSE;
  if (capability != NULL)
    *capability = dot + 1;
  if (capability_len != NULL)
    *capability_len = slash - dot - 1;
  return TRUE;
}

static gboolean
fail_value (GError **error, const char *path, const char *value, const char *rule)
{
  g_autofree char *escaped = pd_escape_untrusted (value, -1);

  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "config: %s %s (got \"%s\")",
               path, rule, escaped);
  return FALSE;
}

/* section: boxed types */

PdConfigMount *
pd_config_mount_copy (const PdConfigMount *mount)
{
  PdConfigMount *copy = g_new0 (PdConfigMount, 1);

  copy->name = g_strdup (mount->name);
  copy->description = g_strdup (mount->description);
  copy->settable = g_strdupv (mount->settable);
  copy->source = g_strdup (mount->source);
  copy->destination = g_strdup (mount->destination);
  copy->type = g_strdup (mount->type);
  copy->options = g_strdupv (mount->options);
  return copy;
}

void
pd_config_mount_free (PdConfigMount *mount)
{
  if (mount == NULL)
    return;
  g_free (mount->name);
  g_free (mount->description);
  g_strfreev (mount->settable);
  g_free (mount->source);
  g_free (mount->destination);
  g_free (mount->type);
  g_strfreev (mount->options);
  g_free (mount);
}

PdConfigDevice *
pd_config_device_copy (const PdConfigDevice *device)
{
  PdConfigDevice *copy = g_new0 (PdConfigDevice, 1);

  copy->name = g_strdup (device->name);
  copy->description = g_strdup (device->description);
  copy->settable = g_strdupv (device->settable);
  copy->path = g_strdup (device->path);
  return copy;
}

void
pd_config_device_free (PdConfigDevice *device)
{
  if (device == NULL)
    return;
  g_free (device->name);
  g_free (device->description);
  g_strfreev (device->settable);
  g_free (device->path);
  g_free (device);
}

PdConfigEnv *
pd_config_env_copy (const PdConfigEnv *env)
{
  PdConfigEnv *copy = g_new0 (PdConfigEnv, 1);

  copy->name = g_strdup (env->name);
  copy->description = g_strdup (env->description);
  copy->settable = g_strdupv (env->settable);
  copy->value = g_strdup (env->value);
  return copy;
}

void
pd_config_env_free (PdConfigEnv *env)
{
  if (env == NULL)
    return;
  g_free (env->name);
  g_free (env->description);
  g_strfreev (env->settable);
  g_free (env->value);
  g_free (env);
}

static GPtrArray *
ptr_array_copy (GPtrArray *array, GCopyFunc copy_func, GDestroyNotify free_func)
{
  GPtrArray *copy = g_ptr_array_new_full (array != NULL ? array->len : 0, free_func);

  for (guint i = 0; array != NULL && i < array->len; i++)
    g_ptr_array_add (copy, copy_func (array->pdata[i], NULL));
  return copy;
}

static gpointer
mount_copy_func (gconstpointer src, gpointer data)
{
  return pd_config_mount_copy (src);
}

static gpointer
device_copy_func (gconstpointer src, gpointer data)
{
  return pd_config_device_copy (src);
}

static gpointer
env_copy_func (gconstpointer src, gpointer data)
{
  return pd_config_env_copy (src);
}

GPtrArray *
pd_config_mounts_copy (GPtrArray *mounts)
{
  return ptr_array_copy (mounts, mount_copy_func, (GDestroyNotify) pd_config_mount_free);
}

GPtrArray *
pd_config_devices_copy (GPtrArray *devices)
{
  return ptr_array_copy (devices, device_copy_func, (GDestroyNotify) pd_config_device_free);
}

/* a list of the config: NULL (Go's nil, written as null) stays NULL */
static GPtrArray *
config_list_copy (GPtrArray *array, GCopyFunc copy_func, GDestroyNotify free_func)
{
  return array != NULL ? ptr_array_copy (array, copy_func, free_func) : NULL;
}

void
pd_plugin_config_free (PdPluginConfig *config)
{
  if (config == NULL)
    return;
  if (config->packed)
    {
      /* the lists' entries are in the block: the lists have no free function */
      g_clear_pointer (&config->mounts, g_ptr_array_unref);
      g_clear_pointer (&config->env, g_ptr_array_unref);
      g_clear_pointer (&config->linux_devices, g_ptr_array_unref);
      g_free (config);
      return;
    }
  g_free (config->description);
  g_free (config->documentation);
  g_free (config->docker_version);
  g_strfreev (config->interface_types);
  g_free (config->interface_socket);
  g_free (config->protocol_scheme);
  g_strfreev (config->entrypoint);
  g_free (config->workdir);
  g_free (config->network_type);
  g_free (config->propagated_mount);
  g_clear_pointer (&config->mounts, g_ptr_array_unref);
  g_clear_pointer (&config->env, g_ptr_array_unref);
  g_free (config->args_name);
  g_free (config->args_description);
  g_strfreev (config->args_settable);
  g_strfreev (config->args_value);
  g_strfreev (config->linux_capabilities);
  g_clear_pointer (&config->linux_devices, g_ptr_array_unref);
  g_free (config->rootfs_type);
  g_strfreev (config->rootfs_diff_ids);
  g_free (config);
}

PdPluginConfig *
pd_plugin_config_copy (const PdPluginConfig *config)
{
  PdPluginConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_new0 (PdPluginConfig, 1);
  copy->description = g_strdup (config->description);
  copy->documentation = g_strdup (config->documentation);
  copy->docker_version = g_strdup (config->docker_version);
  copy->interface_types = g_strdupv (config->interface_types);
  copy->interface_socket = g_strdup (config->interface_socket);
  copy->protocol_scheme = g_strdup (config->protocol_scheme);
  copy->entrypoint = g_strdupv (config->entrypoint);
  copy->workdir = g_strdup (config->workdir);
  copy->network_type = g_strdup (config->network_type);
  copy->propagated_mount = g_strdup (config->propagated_mount);
  copy->ipc_host = config->ipc_host;
  copy->pid_host = config->pid_host;
  copy->mounts = config_list_copy (config->mounts, mount_copy_func,
                                   (GDestroyNotify) pd_config_mount_free);
  copy->env = config_list_copy (config->env, env_copy_func, (GDestroyNotify) pd_config_env_free);
  copy->args_name = g_strdup (config->args_name);
  copy->args_description = g_strdup (config->args_description);
  copy->args_settable = g_strdupv (config->args_settable);
  copy->args_value = g_strdupv (config->args_value);
  copy->linux_capabilities = g_strdupv (config->linux_capabilities);
  copy->linux_allow_all_devices = config->linux_allow_all_devices;
  copy->linux_devices = config_list_copy (config->linux_devices, device_copy_func,
                                          (GDestroyNotify) pd_config_device_free);
  copy->has_user = config->has_user;
  copy->user_uid = config->user_uid;
  copy->user_gid = config->user_gid;
  copy->rootfs_type = g_strdup (config->rootfs_type);
  copy->rootfs_diff_ids = g_strdupv (config->rootfs_diff_ids);
  return copy;
}

/* section: packing
 *
 * Two passes of the same code: the first (block NULL) only counts the bytes, the second copies
 * into a block of that size. Pointer arrays and structs are aligned for pointers. */

typedef struct {
  char *block;  /* NULL while counting */
  gsize used;
} Packer;

static gpointer
pack_alloc (Packer *p, gsize size)
{
  gpointer out;

  p->used = (p->used + sizeof (gpointer) - 1) & ~(sizeof (gpointer) - 1);
  out = p->block != NULL ? p->block + p->used : NULL;
  p->used += size;
  return out;
}

static char *
pack_str (Packer *p, const char *text)
{
  gsize size;
  char *out;

  if (text == NULL)
    return NULL;
  size = strlen (text) + 1;
  out = p->block != NULL ? memcpy (p->block + p->used, text, size) : NULL;
  p->used += size;
  return out;
}

static GStrv
pack_strv (Packer *p, char **strv)
{
  guint n;
  char **out;

  if (strv == NULL)
    return NULL;
  n = g_strv_length (strv);
  out = pack_alloc (p, (n + 1) * sizeof (char *));
  for (guint i = 0; i < n; i++)
    {
      char *copy = pack_str (p, strv[i]);

      if (out != NULL)
        out[i] = copy;
    }
  if (out != NULL)
    out[n] = NULL;
  return out;
}

static gpointer
pack_mount (Packer *p, gconstpointer item)
{
  const PdConfigMount *src = item;
  PdConfigMount copy, *out = pack_alloc (p, sizeof (PdConfigMount));

  copy.name = pack_str (p, src->name);
  copy.description = pack_str (p, src->description);
  copy.settable = pack_strv (p, src->settable);
  copy.source = pack_str (p, src->source);
  copy.destination = pack_str (p, src->destination);
  copy.type = pack_str (p, src->type);
  copy.options = pack_strv (p, src->options);
  if (out != NULL)
    *out = copy;
  return out;
}

static gpointer
pack_device (Packer *p, gconstpointer item)
{
  const PdConfigDevice *src = item;
  PdConfigDevice copy, *out = pack_alloc (p, sizeof (PdConfigDevice));

  copy.name = pack_str (p, src->name);
  copy.description = pack_str (p, src->description);
  copy.settable = pack_strv (p, src->settable);
  copy.path = pack_str (p, src->path);
  if (out != NULL)
    *out = copy;
  return out;
}

static gpointer
pack_env (Packer *p, gconstpointer item)
{
  const PdConfigEnv *src = item;
  PdConfigEnv copy, *out = pack_alloc (p, sizeof (PdConfigEnv));

  copy.name = pack_str (p, src->name);
  copy.description = pack_str (p, src->description);
  copy.settable = pack_strv (p, src->settable);
  copy.value = pack_str (p, src->value);
  if (out != NULL)
    *out = copy;
  return out;
}

/* a list whose entries are in the block (NULL stays NULL; none while counting) */
static GPtrArray *
pack_list (Packer *p, GPtrArray *list, gpointer (*pack_item) (Packer *, gconstpointer))
{
  GPtrArray *out;

  if (list == NULL)
    return NULL;
  out = p->block != NULL ? g_ptr_array_sized_new (list->len) : NULL;
  for (guint i = 0; i < list->len; i++)
    {
      gpointer copy = pack_item (p, list->pdata[i]);

      if (out != NULL)
        g_ptr_array_add (out, copy);
    }
  return out;
}

static PdPluginConfig *
pack_config (Packer *p, const PdPluginConfig *src)
{
  PdPluginConfig copy = *src, *out = pack_alloc (p, sizeof (PdPluginConfig));

  copy.description = pack_str (p, src->description);
  copy.documentation = pack_str (p, src->documentation);
  copy.docker_version = pack_str (p, src->docker_version);
  copy.interface_types = pack_strv (p, src->interface_types);
  copy.interface_socket = pack_str (p, src->interface_socket);
  copy.protocol_scheme = pack_str (p, src->protocol_scheme);
  copy.entrypoint = pack_strv (p, src->entrypoint);
  copy.workdir = pack_str (p, src->workdir);
  copy.network_type = pack_str (p, src->network_type);
  copy.propagated_mount = pack_str (p, src->propagated_mount);
  copy.mounts = pack_list (p, src->mounts, pack_mount);
  copy.env = pack_list (p, src->env, pack_env);
  copy.args_name = pack_str (p, src->args_name);
  copy.args_description = pack_str (p, src->args_description);
  copy.args_settable = pack_strv (p, src->args_settable);
  copy.args_value = pack_strv (p, src->args_value);
  copy.linux_capabilities = pack_strv (p, src->linux_capabilities);
  copy.linux_devices = pack_list (p, src->linux_devices, pack_device);
  copy.rootfs_type = pack_str (p, src->rootfs_type);
  copy.rootfs_diff_ids = pack_strv (p, src->rootfs_diff_ids);
  copy.packed = TRUE;
  if (out != NULL)
    *out = copy;
  return out;
}

PdPluginConfig *
pd_plugin_config_pack (PdPluginConfig *config)
{
  Packer packer = { NULL, 0 };
  PdPluginConfig *packed;

  g_return_val_if_fail (config != NULL, NULL);

  if (config->packed)
    return config;
  pack_config (&packer, config);
  packer.block = g_malloc (packer.used);
  packer.used = 0;
  packed = pack_config (&packer, config);
  g_assert ((gpointer) packed == (gpointer) packer.block);
  pd_plugin_config_free (config);
  return packed;
}

/* section: parsing */

static gboolean
parse_mount (PdJsonValue *v, const char *path, PdConfigMount **out, GError **error)
{
  g_autoptr(PdConfigMount) mount = g_new0 (PdConfigMount, 1);
  g_autofree char *dest_path = pd_json_path_join (path, "Destination");

  if (v->kind != PD_JSON_OBJECT)
    return fail_type (path, "an object", v, error);
  if (!get_string (v, path, "Name", &mount->name, error) ||
      !get_string (v, path, "Description", &mount->description, error) ||
      !get_strv (v, path, "Settable", &mount->settable, error) ||
      !get_nullable_string (v, path, "Source", &mount->source, error) ||
      !get_string (v, path, "Destination", &mount->destination, error) ||
      !get_string (v, path, "Type", &mount->type, error) ||
      !get_strv (v, path, "Options", &mount->options, error))
    return FALSE;
  if (!pd_path_is_clean_absolute (mount->destination))
    return fail_value (error, dest_path, mount->destination,
                       "must be an absolute path without '.', '..' or empty components");
  if (mount->source != NULL)
    {
      const char *rule = pd_config_mount_check_source (mount, mount->source);

      if (rule != NULL)
        {
          g_autofree char *field = pd_json_path_join (path, "Source");
          return fail_value (error, field, mount->source, rule);
        }
    }
  *out = g_steal_pointer (&mount);
  return TRUE;
}

static gboolean
parse_device (PdJsonValue *v, const char *path, PdConfigDevice **out, GError **error)
{
  g_autoptr(PdConfigDevice) device = g_new0 (PdConfigDevice, 1);

  if (v->kind != PD_JSON_OBJECT)
    return fail_type (path, "an object", v, error);
  if (!get_string (v, path, "Name", &device->name, error) ||
      !get_string (v, path, "Description", &device->description, error) ||
      !get_strv (v, path, "Settable", &device->settable, error) ||
      !get_nullable_string (v, path, "Path", &device->path, error))
    return FALSE;
  if (device->path != NULL)
    {
      const char *rule = pd_config_device_check_path (device->path);

      if (rule != NULL)
        {
          g_autofree char *field = pd_json_path_join (path, "Path");
          return fail_value (error, field, device->path, rule);
        }
    }
  *out = g_steal_pointer (&device);
  return TRUE;
}

static gboolean
parse_env (PdJsonValue *v, const char *path, PdConfigEnv **out, GError **error)
{
  g_autoptr(PdConfigEnv) env = g_new0 (PdConfigEnv, 1);

  if (v->kind != PD_JSON_OBJECT)
    return fail_type (path, "an object", v, error);
  if (!get_string (v, path, "Name", &env->name, error) ||
      !get_string (v, path, "Description", &env->description, error) ||
      !get_strv (v, path, "Settable", &env->settable, error) ||
      !get_nullable_string (v, path, "Value", &env->value, error))
    return FALSE;
  if (env->name[0] == '\0' || strchr (env->name, '=') != NULL)
    {
      g_autofree char *field = pd_json_path_join (path, "Name");
      return fail_value (error, field, env->name, "must not be empty or contain '='");
    }
  *out = g_steal_pointer (&env);
  return TRUE;
}

typedef gboolean (*ParseItemFunc) (PdJsonValue *v, const char *path, gpointer *out, GError **error);

static gboolean
parse_list (PdJsonValue *object, const char *parent, const char *name, GPtrArray **into,
            ParseItemFunc func, GDestroyNotify free_func, GError **error)
{
  g_autofree char *path = pd_json_path_join (parent, name);
  PdJsonValue *array = NULL;

  /* absent or null stays NULL, as for get_strv() */
  if (!get_array (object, parent, name, &array, error))
    return FALSE;
  if (array == NULL)
    return TRUE;
  *into = g_ptr_array_new_full (array->items->len, free_func);
  for (guint i = 0; i < array->items->len; i++)
    {
      g_autofree char *item_path = g_strdup_printf ("%s[%u]", path, i);
      gpointer item = NULL;

      if (!func (array->items->pdata[i], item_path, &item, error))
        return FALSE;
      g_ptr_array_add (*into, item);
    }
  return TRUE;
}

static gboolean
parse_interface (PdPluginConfig *config, PdJsonValue *root, GError **error)
{
  PdJsonValue *iface = NULL;
  const char *socket;

  if (!get_object (root, NULL, "Interface", &iface, error) ||
      !get_strv (iface, "Interface", "Types", &config->interface_types, error) ||
      !get_string (iface, "Interface", "Socket", &config->interface_socket, error) ||
      !get_string (iface, "Interface", "ProtocolScheme", &config->protocol_scheme, error))
    return FALSE;

  for (guint i = 0; config->interface_types != NULL && config->interface_types[i] != NULL; i++)
    if (!interface_type_parse (config->interface_types[i], NULL, NULL))
      {
        g_autofree char *path = g_strdup_printf ("Interface.Types[%u]", i);
        return fail_value (error, path, config->interface_types[i],
                           "must be <prefix>.<capability>/<version>, e.g. docker.volumedriver/1.0");
      }

  /* the socket is a file name inside the plugin's socket directory: never a path out of it */
  socket = config->interface_socket;
  if (strchr (socket, '/') != NULL || g_str_equal (socket, ".") || g_str_equal (socket, ".."))
    return fail_value (error, "Interface.Socket", socket,
                       "must be a file name without '/' and not '.' or '..'");
  if (strlen (socket) > PD_PLUGIN_SOCKET_NAME_MAX)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: Interface.Socket must be at most %u bytes long (got %zu)",
                   (guint) PD_PLUGIN_SOCKET_NAME_MAX, strlen (socket));
      return FALSE;
    }
  /* the daemon talks to a plugin that implements an interface through this socket: without a
   * name there is nothing to wait for at enable time */
  if (config->interface_types != NULL && config->interface_types[0] != NULL && socket[0] == '\0')
    {
      g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                           "config: Interface.Socket must name the plugin's socket when "
                           "Interface.Types is set");
      return FALSE;
    }

  if (config->protocol_scheme[0] != '\0' &&
      !g_str_equal (config->protocol_scheme, PD_PROTOCOL_HTTP_V1))
    return fail_value (error, "Interface.ProtocolScheme", config->protocol_scheme,
                       "must be \"\" or \"" PD_PROTOCOL_HTTP_V1 "\"");
  return TRUE;
}

static gboolean
parse_linux (PdPluginConfig *config, PdJsonValue *root, GError **error)
{
  PdJsonValue *linux_obj = NULL;

  if (!get_object (root, NULL, "Linux", &linux_obj, error) ||
      !get_strv (linux_obj, "Linux", "Capabilities", &config->linux_capabilities, error) ||
      !get_bool (linux_obj, "Linux", "AllowAllDevices", &config->linux_allow_all_devices, error) ||
      !parse_list (linux_obj, "Linux", "Devices", &config->linux_devices,
                   (ParseItemFunc) parse_device, (GDestroyNotify) pd_config_device_free, error))
    return FALSE;

  for (guint i = 0; config->linux_capabilities != NULL && config->linux_capabilities[i] != NULL;
       i++)
    if (pd_linux_capability_from_name (config->linux_capabilities[i]) < 0)
      {
        g_autofree char *path = g_strdup_printf ("Linux.Capabilities[%u]", i);
        return fail_value (error, path, config->linux_capabilities[i],
                           "is not a known Linux capability (CAP_CHOWN ... CAP_CHECKPOINT_RESTORE)");
      }
  return TRUE;
}

static gboolean
parse_rootfs (PdPluginConfig *config, PdJsonValue *root, GError **error)
{
  PdJsonValue *rootfs = NULL;
  PdJsonValue *diff_ids;

  if (!get_object (root, NULL, "rootfs", &rootfs, error))
    return FALSE;
  if (rootfs == NULL)
    return TRUE;

  if (!get_string (rootfs, "rootfs", "type", &config->rootfs_type, error))
    return FALSE;
  if (config->rootfs_type[0] == '\0')
    g_clear_pointer (&config->rootfs_type, g_free);
  else if (!g_str_equal (config->rootfs_type, "layers"))
    return fail_value (error, "rootfs.type", config->rootfs_type, "must be \"layers\"");

  diff_ids = pd_json_value_member (rootfs, "diff_ids");
  if (diff_ids != NULL && diff_ids->kind != PD_JSON_NULL)
    {
      if (!get_strv (rootfs, "rootfs", "diff_ids", &config->rootfs_diff_ids, error))
        return FALSE;
      for (guint i = 0; config->rootfs_diff_ids != NULL && config->rootfs_diff_ids[i] != NULL; i++)
        if (!pd_digest_is_valid (config->rootfs_diff_ids[i]))
          {
            g_autofree char *path = g_strdup_printf ("rootfs.diff_ids[%u]", i);
            return fail_value (error, path, config->rootfs_diff_ids[i],
                               "must be sha256: followed by 64 lower-case hex digits");
          }
    }
  /* a rootfs object marks the config as written by create or a registry: keep it as one even
   * if it is empty, so the serialiser writes it back */
  if (config->rootfs_type == NULL && config->rootfs_diff_ids == NULL)
    config->rootfs_diff_ids = g_new0 (char *, 1);
  return TRUE;
}

/* A mount destination under another one would be created, at each start, in the host dir
 * behind the outer one, through whatever symlink the plugin planted there; the sandbox
 * refuses such a config, so it is refused here already. */
static gboolean
check_mounts_apart (const PdPluginConfig *config, GError **error)
{
  g_autoptr(GPtrArray) dests = g_ptr_array_new ();
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  guint inner, outer;

  if (config->propagated_mount[0] != '\0')
    {
      g_ptr_array_add (dests, config->propagated_mount);
      g_ptr_array_add (names, g_strdup ("PropagatedMount"));
    }
  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      g_ptr_array_add (dests, ((PdConfigMount *) config->mounts->pdata[i])->destination);
      g_ptr_array_add (names, g_strdup_printf ("Mounts[%u].Destination", i));
    }
  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      g_ptr_array_add (dests, ((PdConfigDevice *) config->linux_devices->pdata[i])->path);
      g_ptr_array_add (names, g_strdup_printf ("Linux.Devices[%u].Path", i));
    }
  /* what the sandbox mounts besides */
  g_ptr_array_add (dests, (gpointer) "/run/docker/plugins");
  g_ptr_array_add (names, g_strdup ("the plugin socket dir"));
  if (config->network_type[0] != '\0')
    {
      g_ptr_array_add (dests, (gpointer) "/etc/hosts");
      g_ptr_array_add (names, g_strdup ("the host's /etc/hosts"));
      g_ptr_array_add (dests, (gpointer) "/etc/resolv.conf");
      g_ptr_array_add (names, g_strdup ("the host's /etc/resolv.conf"));
    }
  if (pd_paths_find_nested (dests, &inner, &outer))
    {
      g_autofree char *rule = NULL;
      g_autofree char *escaped = pd_escape_untrusted (dests->pdata[outer], -1);

      rule = g_strdup_printf ("is at or under %s \"%s\": mounts cannot be nested",
                              (const char *) names->pdata[outer], escaped);
      return fail_value (error, names->pdata[inner], dests->pdata[inner], rule);
    }
  return TRUE;
}

/* the config @root holds, validated */
static PdPluginConfig *
config_new_from_tree (PdJsonValue *root, GError **error)
{
  g_autoptr(PdPluginConfig) config = g_new0 (PdPluginConfig, 1);
  PdJsonValue *network = NULL;
  PdJsonValue *args = NULL;
  PdJsonValue *user = NULL;
  const char *net;

  if (root->kind != PD_JSON_OBJECT)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: the top-level value must be an object, not %s",
                   pd_json_kind_name (root->kind));
      return NULL;
    }

  if (!get_string (root, NULL, "Description", &config->description, error) ||
      !get_string (root, NULL, "Documentation", &config->documentation, error) ||
      !get_string (root, NULL, "DockerVersion", &config->docker_version, error) ||
      !parse_interface (config, root, error) ||
      !get_strv (root, NULL, "Entrypoint", &config->entrypoint, error) ||
      !get_string (root, NULL, "WorkDir", &config->workdir, error) ||
      !get_object (root, NULL, "Network", &network, error) ||
      !get_string (network, "Network", "Type", &config->network_type, error) ||
      !get_string (root, NULL, "PropagatedMount", &config->propagated_mount, error) ||
      !get_bool (root, NULL, "IpcHost", &config->ipc_host, error) ||
      !get_bool (root, NULL, "PidHost", &config->pid_host, error) ||
      !parse_list (root, NULL, "Mounts", &config->mounts, (ParseItemFunc) parse_mount,
                   (GDestroyNotify) pd_config_mount_free, error) ||
      !parse_list (root, NULL, "Env", &config->env, (ParseItemFunc) parse_env,
                   (GDestroyNotify) pd_config_env_free, error) ||
      !get_object (root, NULL, "Args", &args, error) ||
      !get_string (args, "Args", "Name", &config->args_name, error) ||
      !get_string (args, "Args", "Description", &config->args_description, error) ||
      !get_strv (args, "Args", "Settable", &config->args_settable, error) ||
      !get_strv (args, "Args", "Value", &config->args_value, error) ||
      !parse_linux (config, root, error) ||
      !get_object (root, NULL, "User", &user, error) ||
      !get_uint32 (user, "User", "UID", &config->user_uid, error) ||
      !get_uint32 (user, "User", "GID", &config->user_gid, error) ||
      !parse_rootfs (config, root, error))
    return NULL;
  config->has_user = user != NULL;

  if (config->entrypoint == NULL || config->entrypoint[0] == NULL)
    {
      g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                           "config: Entrypoint must not be empty");
      return NULL;
    }
  /* an option-like argv[0] would be taken as an option by the sandbox launcher */
  if (config->entrypoint[0][0] == '\0' || config->entrypoint[0][0] == '-')
    {
      fail_value (error, "Entrypoint[0]", config->entrypoint[0],
                  "must not be empty or start with '-'");
      return NULL;
    }
  /* no '..', as for every other path in the config: no user of WorkDir has to wonder where
   * it resolves */
  if (config->workdir[0] != '\0' && !pd_path_is_clean_absolute (config->workdir))
    {
      fail_value (error, "WorkDir", config->workdir, "must be an absolute path without '.', '..' or empty components");
      return NULL;
    }
  if (config->propagated_mount[0] != '\0' && !pd_path_is_clean_absolute (config->propagated_mount))
    {
      fail_value (error, "PropagatedMount", config->propagated_mount,
                  "must be an absolute path without '.', '..' or empty components");
      return NULL;
    }
  net = config->network_type;
  if (!g_str_equal (net, "") && !g_str_equal (net, "host") && !g_str_equal (net, "bridge") &&
      !g_str_equal (net, "none") && !g_str_equal (net, "null"))
    {
      fail_value (error, "Network.Type", net,
                  "must be one of \"\", \"host\", \"bridge\", \"none\", \"null\"");
      return NULL;
    }
  if (!check_mounts_apart (config, error))
    return NULL;

  return g_steal_pointer (&config);
}

PdPluginConfig *
pd_plugin_config_new_from_data (const char *data, gsize len, GError **error)
{
  g_autoptr(PdJsonValue) root = NULL;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  root = pd_json_tree_parse (data != NULL ? data : "", len, error);
  if (root == NULL)
    return NULL;
  return config_new_from_tree (root, error);
}

PdPluginConfig *
pd_plugin_config_new_from_json (JsonNode *node, GError **error)
{
  g_autoptr(PdJsonValue) root = NULL;

  g_return_val_if_fail (node != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  root = pd_json_tree_from_node (node, error);
  if (root == NULL)
    return NULL;
  return config_new_from_tree (root, error);
}

/* section: size bounds of a new plugin's config */

static gboolean
limit_fail_size (GError **error, const char *path, gsize len, gsize max)
{
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
               "config: %s is %" G_GSIZE_FORMAT " bytes long, more than %" G_GSIZE_FORMAT,
               path, len, max);
  return FALSE;
}

static gboolean
limit_string (const char *path, const char *value, gsize max, GError **error)
{
  gsize len = value != NULL ? strlen (value) : 0;

  return len <= max || limit_fail_size (error, path, len, max);
}

/* @strv's entries and each of them, named "@path[i]" */
static gboolean
limit_strv (const char *path, const char *const *strv, gsize max, GError **error)
{
  guint n = strv != NULL ? g_strv_length ((GStrv) strv) : 0;

  if (n > PD_CONFIG_MAX_ENTRIES)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: %s has %u entries, more than %u", path, n,
                   (guint) PD_CONFIG_MAX_ENTRIES);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    if (strlen (strv[i]) > max)
      {
        g_autofree char *item = g_strdup_printf ("%s[%u]", path, i);
        return limit_fail_size (error, item, strlen (strv[i]), max);
      }
  return TRUE;
}

static gboolean
limit_entries (const char *path, GPtrArray *array, GError **error)
{
  if (array == NULL || array->len <= PD_CONFIG_MAX_ENTRIES)
    return TRUE;
  g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG, "config: %s has %u entries, more than %u",
               path, array->len, (guint) PD_CONFIG_MAX_ENTRIES);
  return FALSE;
}

/* Name, Description and Settable of an env var, mount or device, named "@parent.Name" ... */
static gboolean
limit_settable_item (const char *parent, const char *name, const char *description,
                     const char *const *settable, GError **error)
{
  g_autofree char *name_path = g_strconcat (parent, ".Name", NULL);
  g_autofree char *description_path = g_strconcat (parent, ".Description", NULL);
  g_autofree char *settable_path = g_strconcat (parent, ".Settable", NULL);

  return limit_string (name_path, name, PD_CONFIG_NAME_MAX, error) &&
         limit_string (description_path, description, PD_CONFIG_TEXT_MAX, error) &&
         limit_strv (settable_path, settable, PD_CONFIG_NAME_MAX, error);
}

gboolean
pd_plugin_config_check_limits (const PdPluginConfig *config, GError **error)
{
  g_autofree char *data = NULL;
  gsize len = 0;

  g_return_val_if_fail (config != NULL, FALSE);

  if (!limit_string ("Description", config->description, PD_CONFIG_TEXT_MAX, error) ||
      !limit_string ("Documentation", config->documentation, PD_CONFIG_TEXT_MAX, error) ||
      !limit_string ("DockerVersion", config->docker_version, PD_CONFIG_NAME_MAX, error) ||
      !limit_strv ("Interface.Types", (const char *const *) config->interface_types,
                   PD_CONFIG_NAME_MAX, error) ||
      !limit_strv ("Entrypoint", (const char *const *) config->entrypoint,
                   PD_CONFIG_VALUE_MAX, error) ||
      !limit_string ("WorkDir", config->workdir, PD_CONFIG_PATH_MAX, error) ||
      !limit_string ("Network.Type", config->network_type, PD_CONFIG_NAME_MAX, error) ||
      !limit_string ("PropagatedMount", config->propagated_mount, PD_CONFIG_PATH_MAX, error) ||
      !limit_entries ("Mounts", config->mounts, error) ||
      !limit_entries ("Env", config->env, error) ||
      !limit_entries ("Linux.Devices", config->linux_devices, error) ||
      !limit_settable_item ("Args", config->args_name, config->args_description,
                            (const char *const *) config->args_settable, error) ||
      !limit_strv ("Args.Value", (const char *const *) config->args_value, PD_CONFIG_VALUE_MAX,
                   error) ||
      !limit_strv ("Linux.Capabilities", (const char *const *) config->linux_capabilities,
                   PD_CONFIG_NAME_MAX, error) ||
      !limit_string ("rootfs.type", config->rootfs_type, PD_CONFIG_NAME_MAX, error) ||
      !limit_strv ("rootfs.diff_ids", (const char *const *) config->rootfs_diff_ids,
                   PD_CONFIG_NAME_MAX, error))
    return FALSE;

  for (guint i = 0; config->mounts != NULL && i < config->mounts->len; i++)
    {
      const PdConfigMount *m = config->mounts->pdata[i];
      g_autofree char *path = g_strdup_printf ("Mounts[%u]", i);
      g_autofree char *source = g_strconcat (path, ".Source", NULL);
      g_autofree char *destination = g_strconcat (path, ".Destination", NULL);
      g_autofree char *type = g_strconcat (path, ".Type", NULL);
      g_autofree char *options = g_strconcat (path, ".Options", NULL);

      if (!limit_settable_item (path, m->name, m->description,
                                (const char *const *) m->settable, error) ||
          !limit_string (source, m->source, PD_CONFIG_PATH_MAX, error) ||
          !limit_string (destination, m->destination, PD_CONFIG_PATH_MAX, error) ||
          !limit_string (type, m->type, PD_CONFIG_NAME_MAX, error) ||
          !limit_strv (options, (const char *const *) m->options, PD_CONFIG_NAME_MAX, error))
        return FALSE;
    }
  for (guint i = 0; config->env != NULL && i < config->env->len; i++)
    {
      const PdConfigEnv *e = config->env->pdata[i];
      g_autofree char *path = g_strdup_printf ("Env[%u]", i);
      g_autofree char *value = g_strconcat (path, ".Value", NULL);

      if (!limit_settable_item (path, e->name, e->description,
                                (const char *const *) e->settable, error) ||
          !limit_string (value, e->value, PD_CONFIG_VALUE_MAX, error))
        return FALSE;
    }
  for (guint i = 0; config->linux_devices != NULL && i < config->linux_devices->len; i++)
    {
      const PdConfigDevice *d = config->linux_devices->pdata[i];
      g_autofree char *path = g_strdup_printf ("Linux.Devices[%u]", i);
      g_autofree char *device_path = g_strconcat (path, ".Path", NULL);

      if (!limit_settable_item (path, d->name, d->description,
                                (const char *const *) d->settable, error) ||
          !limit_string (device_path, d->path, PD_CONFIG_PATH_MAX, error))
        return FALSE;
    }

  /* and the whole, as Inspect and the record show it */
  data = pd_plugin_config_to_data (config, &len);
  if (len > PD_CONFIG_MAX_SIZE)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG,
                   "config: the config is %" G_GSIZE_FORMAT " bytes long as JSON, more than %u",
                   len, (guint) PD_CONFIG_MAX_SIZE);
      return FALSE;
    }
  return TRUE;
}

PdPluginConfig *
pd_plugin_config_new_for_install (const char *data, gsize len, GError **error)
{
  g_autoptr(PdPluginConfig) config = pd_plugin_config_new_from_data (data, len, error);

  if (config == NULL || !pd_plugin_config_check_limits (config, error))
    return NULL;
  return g_steal_pointer (&config);
}

gboolean
pd_plugin_device_path_is_valid (const char *path)
{
  return path != NULL && g_str_has_prefix (path, "/dev/") && path[5] != '\0' &&
         !path_has_dotdot (path) && !pd_string_has_control_chars (path);
}

void
pd_plugin_config_set_diff_ids (PdPluginConfig *config, const char *const *diff_ids)
{
  g_return_if_fail (config != NULL && !config->packed);

  g_free (config->rootfs_type);
  config->rootfs_type = g_strdup ("layers");
  g_strfreev (config->rootfs_diff_ids);
  config->rootfs_diff_ids = diff_ids != NULL ? g_strdupv ((GStrv) diff_ids) : g_new0 (char *, 1);
}

gboolean
pd_plugin_config_has_capability (const PdPluginConfig *config, const char *capability)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (capability != NULL, FALSE);

  for (guint i = 0; config->interface_types != NULL && config->interface_types[i] != NULL; i++)
    {
      const char *cap;
      gsize cap_len;

      if (interface_type_parse (config->interface_types[i], &cap, &cap_len) &&
          cap_len == strlen (capability) && g_ascii_strncasecmp (cap, capability, cap_len) == 0)
        return TRUE;
    }
  return FALSE;
}

/* section: serialising
 *
 * Keys and their order are those of Go's encoder for moby's plugin.Config (go-swagger
 * generated, so alphabetical within each struct).
 * One deliberate difference: Go writes nil slices as null, and configs Docker loads from a
 * config.json without a key carry nil slices; we always write [] instead, which every Docker
 * client reads the same way and which keeps "required" keys typed as arrays. */

static void
add_string (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value != NULL ? value : "");
}

static void
add_nullable_string (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_bool (JsonBuilder *b, const char *key, gboolean value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_boolean_value (b, value);
}

static void
add_mount (JsonBuilder *b, gconstpointer item)
{
  const PdConfigMount *m = item;

  json_builder_begin_object (b);
  add_string (b, "Description", m->description);
  add_string (b, "Destination", m->destination);
  add_string (b, "Name", m->name);
  pd_json_builder_add_strv (b, "Options", (const char *const *) m->options);
  pd_json_builder_add_strv (b, "Settable", (const char *const *) m->settable);
  add_nullable_string (b, "Source", m->source);
  add_string (b, "Type", m->type);
  json_builder_end_object (b);
}

static void
add_device (JsonBuilder *b, gconstpointer item)
{
  const PdConfigDevice *d = item;

  json_builder_begin_object (b);
  add_string (b, "Description", d->description);
  add_string (b, "Name", d->name);
  add_nullable_string (b, "Path", d->path);
  pd_json_builder_add_strv (b, "Settable", (const char *const *) d->settable);
  json_builder_end_object (b);
}

static void
add_env (JsonBuilder *b, gconstpointer item)
{
  const PdConfigEnv *e = item;

  json_builder_begin_object (b);
  add_string (b, "Description", e->description);
  add_string (b, "Name", e->name);
  pd_json_builder_add_strv (b, "Settable", (const char *const *) e->settable);
  add_nullable_string (b, "Value", e->value);
  json_builder_end_object (b);
}

/* member @key, an array of @items written by @add (NULL gives null, as Go's nil slice) */
static void
add_array (JsonBuilder *b, const char *key, GPtrArray *items,
           void (*add) (JsonBuilder *b, gconstpointer item))
{
  json_builder_set_member_name (b, key);
  if (items == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_array (b);
  for (guint i = 0; i < items->len; i++)
    add (b, items->pdata[i]);
  json_builder_end_array (b);
}

void
pd_config_mounts_add_to_builder (JsonBuilder *builder, const char *key, GPtrArray *mounts)
{
  add_array (builder, key, mounts, add_mount);
}

void
pd_config_devices_add_to_builder (JsonBuilder *builder, const char *key, GPtrArray *devices)
{
  add_array (builder, key, devices, add_device);
}

JsonNode *
pd_plugin_config_to_json (const PdPluginConfig *config)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();

  g_return_val_if_fail (config != NULL, NULL);

  json_builder_begin_object (b);

  json_builder_set_member_name (b, "Args");
  json_builder_begin_object (b);
  add_string (b, "Description", config->args_description);
  add_string (b, "Name", config->args_name);
  pd_json_builder_add_strv (b, "Settable", (const char *const *) config->args_settable);
  pd_json_builder_add_strv (b, "Value", (const char *const *) config->args_value);
  json_builder_end_object (b);

  add_string (b, "Description", config->description);
  /* omitempty in Go */
  if (config->docker_version[0] != '\0')
    add_string (b, "DockerVersion", config->docker_version);
  add_string (b, "Documentation", config->documentation);
  pd_json_builder_add_strv (b, "Entrypoint", (const char *const *) config->entrypoint);

  add_array (b, "Env", config->env, add_env);

  json_builder_set_member_name (b, "Interface");
  json_builder_begin_object (b);
  /* omitempty in Go */
  if (config->protocol_scheme != NULL && config->protocol_scheme[0] != '\0')
    add_string (b, "ProtocolScheme", config->protocol_scheme);
  add_string (b, "Socket", config->interface_socket);
  pd_json_builder_add_strv (b, "Types", (const char *const *) config->interface_types);
  json_builder_end_object (b);

  add_bool (b, "IpcHost", config->ipc_host);

  json_builder_set_member_name (b, "Linux");
  json_builder_begin_object (b);
  add_bool (b, "AllowAllDevices", config->linux_allow_all_devices);
  pd_json_builder_add_strv (b, "Capabilities", (const char *const *) config->linux_capabilities);
  pd_config_devices_add_to_builder (b, "Devices", config->linux_devices);
  json_builder_end_object (b);

  pd_config_mounts_add_to_builder (b, "Mounts", config->mounts);

  json_builder_set_member_name (b, "Network");
  json_builder_begin_object (b);
  add_string (b, "Type", config->network_type);
  json_builder_end_object (b);

  add_bool (b, "PidHost", config->pid_host);
  add_string (b, "PropagatedMount", config->propagated_mount);

  /* "omitempty" never omits a struct in Go, so User is always there; its fields are omitempty */
  json_builder_set_member_name (b, "User");
  json_builder_begin_object (b);
  if (config->user_gid != 0)
    {
      json_builder_set_member_name (b, "GID");
      json_builder_add_int_value (b, config->user_gid);
    }
  if (config->user_uid != 0)
    {
      json_builder_set_member_name (b, "UID");
      json_builder_add_int_value (b, config->user_uid);
    }
  json_builder_end_object (b);

  add_string (b, "WorkDir", config->workdir);

  if (config->rootfs_type != NULL || config->rootfs_diff_ids != NULL)
    {
      json_builder_set_member_name (b, "rootfs");
      json_builder_begin_object (b);
      pd_json_builder_add_strv (b, "diff_ids", (const char *const *) config->rootfs_diff_ids);
      if (config->rootfs_type != NULL && config->rootfs_type[0] != '\0')
        add_string (b, "type", config->rootfs_type);
      json_builder_end_object (b);
    }

  json_builder_end_object (b);
  return json_builder_get_root (b);
}

char *
pd_plugin_config_to_data (const PdPluginConfig *config, gsize *len)
{
  g_autoptr(JsonNode) node = NULL;

  g_return_val_if_fail (config != NULL, NULL);

  node = pd_plugin_config_to_json (config);
  return pd_json_to_go_data (node, len);
}
