/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The plugin config (Docker's `plugin.Config`, the config.json of a plugin image): parsed and
 * validated from untrusted JSON, bounded for new installs, and serialised as Docker writes it.
 * Plain boxed structs: no D-Bus types, no I/O. The user's settings, kept apart from the config,
 * are in pd-plugin-settings.h; the privileges computed from both in pd-privileges.h.
 */

typedef struct {
  char *name;
  char *description;
  GStrv settable;        /* never NULL */
  char *source;          /* NULL = Go's null */
  char *destination;
  char *type;
  GStrv options;         /* never NULL */
} PdConfigMount;

typedef struct {
  char *name;
  char *description;
  GStrv settable;
  char *path;            /* NULL = null */
} PdConfigDevice;

typedef struct {
  char *name;
  char *description;
  GStrv settable;
  char *value;           /* NULL = null */
} PdConfigEnv;

typedef struct {
  char *description;
  char *documentation;
  char *docker_version;     /* deprecated in Docker, kept as written ("" when absent) */
  GStrv interface_types;   /* "docker.volumedriver/1.0" */
  char *interface_socket;
  char *protocol_scheme;   /* "" or "moby.plugins.http/v1" */
  GStrv entrypoint;
  char *workdir;
  char *network_type;      /* "" when absent */
  char *propagated_mount;
  gboolean ipc_host;
  gboolean pid_host;
  GPtrArray *mounts;       /* PdConfigMount */
  GPtrArray *env;          /* PdConfigEnv */
  char *args_name;
  char *args_description;
  GStrv args_settable;
  GStrv args_value;
  GStrv linux_capabilities;
  gboolean linux_allow_all_devices;
  GPtrArray *linux_devices; /* PdConfigDevice */
  gboolean has_user;
  guint32 user_uid;
  guint32 user_gid;
  char *rootfs_type;        /* "layers" or NULL when absent */
  GStrv rootfs_diff_ids;    /* NULL when absent */
  gboolean packed;          /* pd_plugin_config_pack(): read-only, one block */
} PdPluginConfig;

/* Parses and validates an untrusted config.json (scanned as pd-json-tree.h says): keys
 * matched case-insensitively with an exact match first, unknown keys ignored; duplicate keys,
 * wrong types, NUL in strings, bad socket names (or none when Interface.Types is set),
 * relative or ".." mount destinations and workdirs, control characters in mount sources and
 * device paths, bind mount sources that are relative or hold "..", unknown capabilities,
 * device paths outside /dev and empty or option-like entrypoints rejected with
 * PD_ERROR_INVALID_CONFIG and a message naming the key. A trailing second JSON value is an
 * error, as in Docker. */
PdPluginConfig *pd_plugin_config_new_from_data (const char *data, gsize len, GError **error);
/* The same validation of a config json-glib already parsed through pd_json_parse() (the
 * config member of a plugin record), without writing it out and scanning it again; keys that
 * differ only in case are refused, of equal keys json-glib kept one (pd_json_tree_from_node()). */
PdPluginConfig *pd_plugin_config_new_from_json (JsonNode *node, GError **error);

/* Size bounds of the config of a plugin being installed (Create, Pull, Upgrade, GetPrivileges):
 * what a config can make large is shown in properties, signals, Inspect and the record, so an
 * untrusted one must not be able to make those too large for the bus. Real configs are a few
 * KiB. Records of installed plugins are loaded without these bounds, so that a plugin
 * installed before they existed does not vanish. Documented in docs/plugind.8.rst (LIMITS). */
#define PD_CONFIG_TEXT_MAX    4096          /* Description, Documentation, every .Description */
#define PD_CONFIG_NAME_MAX    256           /* names, types, options, Settable, capabilities */
#define PD_CONFIG_PATH_MAX    4096          /* WorkDir, PropagatedMount, sources, destinations,
                                             * device paths */
#define PD_CONFIG_VALUE_MAX   65536         /* Entrypoint, Env[].Value, Args.Value entries */
#define PD_CONFIG_MAX_ENTRIES 256           /* entries of every array */
#define PD_CONFIG_MAX_SIZE    (256 * 1024)  /* the whole config as JSON */

/* PD_ERROR_INVALID_CONFIG naming the key when @config passes one of the bounds above */
gboolean pd_plugin_config_check_limits (const PdPluginConfig *config, GError **error);
/* pd_plugin_config_new_from_data() and pd_plugin_config_check_limits(): for new installs */
PdPluginConfig *pd_plugin_config_new_for_install (const char *data, gsize len, GError **error);
PdPluginConfig *pd_plugin_config_copy (const PdPluginConfig *config);
/* The same config (taken) in one block: every string, string array and list entry, so that an
 * installed plugin's config is one allocation (and its three lists) rather than ~30. Read-only
 * afterwards: pd_plugin_config_copy() gives one that can be changed. */
PdPluginConfig *pd_plugin_config_pack (PdPluginConfig *config);
void pd_plugin_config_free (PdPluginConfig *config);
/* Serialises with Go's encoder spelling, as Docker's API shows a config, every required key
 * present. */
JsonNode *pd_plugin_config_to_json (const PdPluginConfig *config);
char *pd_plugin_config_to_data (const PdPluginConfig *config, gsize *len);
/* replaces rootfs with {type: layers, diff_ids} (not of a packed config) */
void pd_plugin_config_set_diff_ids (PdPluginConfig *config, const char *const *diff_ids);
/* TRUE when any Interface.Types entry has capability @capability (case-insensitive, exact) */
gboolean pd_plugin_config_has_capability (const PdPluginConfig *config, const char *capability);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPluginConfig, pd_plugin_config_free)

/* the entries of a config (and of the settings, which hold mounts and devices too) */
PdConfigMount *pd_config_mount_copy (const PdConfigMount *mount);
void pd_config_mount_free (PdConfigMount *mount);
PdConfigDevice *pd_config_device_copy (const PdConfigDevice *device);
void pd_config_device_free (PdConfigDevice *device);
PdConfigEnv *pd_config_env_copy (const PdConfigEnv *env);
void pd_config_env_free (PdConfigEnv *env);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdConfigMount, pd_config_mount_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdConfigDevice, pd_config_device_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdConfigEnv, pd_config_env_free)
/* deep copies of a PdConfigMount (PdConfigDevice) array, owning their elements; NULL gives an
 * empty array */
GPtrArray *pd_config_mounts_copy (GPtrArray *mounts);
GPtrArray *pd_config_devices_copy (GPtrArray *devices);
/* member @key of @builder: the array of @mounts (@devices) as the config writes it */
void pd_config_mounts_add_to_builder (JsonBuilder *builder, const char *key, GPtrArray *mounts);
void pd_config_devices_add_to_builder (JsonBuilder *builder, const char *key, GPtrArray *devices);

/* The rule @source breaks as a source of @mount, or NULL: no control characters, and for a
 * bind mount (by Type or Options) an absolute path without '.', '..' or empty components. */
const char *pd_config_mount_check_source (const PdConfigMount *mount, const char *source);
/* The rule @path breaks as a device path, or NULL: no control characters, under /dev/ without
 * '..'. */
const char *pd_config_device_check_path (const char *path);

/* index of a Linux capability name ("CAP_SYS_ADMIN" → 21) or -1; exact, upper-case names of
 * CAP_CHOWN .. CAP_CHECKPOINT_RESTORE */
int pd_linux_capability_from_name (const char *name);
/* TRUE for a path under /dev/ with no ".." component and no control characters (config rule
 * for Linux.Devices[].Path) */
gboolean pd_plugin_device_path_is_valid (const char *path);

G_END_DECLS
