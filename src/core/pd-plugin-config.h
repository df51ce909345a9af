/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * The plugin config (Docker's `plugin.Config`, docker-plugins.md 2.1), the privileges computed
 * from it (2.5), the user settings kept apart from it (2.3, 2.4, bug 5), and Docker's `Set`
 * grammar. Plain boxed structs: no D-Bus types, no I/O.
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
} PdPluginConfig;

/* Parses and validates a config.json (reliability.md rule 4): case-insensitive keys with exact
 * match first, unknown keys ignored, duplicate keys, wrong types, NUL in strings, bad socket
 * names (or none when Interface.Types is set), relative or ".." mount destinations and
 * workdirs, control characters in mount sources and device paths, bind mount sources that are
 * relative or hold "..", unknown capabilities, device paths outside /dev and empty or
 * option-like entrypoints rejected with PD_ERROR_INVALID_CONFIG and a message naming the key.
 * A trailing second JSON value is an error, as in Docker. */
PdPluginConfig *pd_plugin_config_new_from_data (const char *data, gsize len, GError **error);

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
void pd_plugin_config_free (PdPluginConfig *config);
/* Serialises with Go's encoder spelling (docker-protocol.md C2), every required key present. */
JsonNode *pd_plugin_config_to_json (const PdPluginConfig *config);
char *pd_plugin_config_to_data (const PdPluginConfig *config, gsize *len);
/* replaces rootfs with {type: layers, diff_ids} */
void pd_plugin_config_set_diff_ids (PdPluginConfig *config, const char *const *diff_ids);
/* TRUE when any Interface.Types entry has capability @capability (case-insensitive, exact) */
gboolean pd_plugin_config_has_capability (const PdPluginConfig *config, const char *capability);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPluginConfig, pd_plugin_config_free)

/* Writes @node as Go's json.Marshal would (compact, HTML-escaped, member order kept). */
char *pd_json_to_go_data (JsonNode *node, gsize *len);
/* index of a Linux capability name ("CAP_SYS_ADMIN" → 21) or -1; exact, upper-case names of
 * CAP_CHOWN .. CAP_CHECKPOINT_RESTORE */
int pd_linux_capability_from_name (const char *name);
/* TRUE for a path under /dev/ with no ".." component and no control characters (config rule
 * for Linux.Devices[].Path) */
gboolean pd_plugin_device_path_is_valid (const char *path);

/* Docker's PluginPrivilege */
typedef struct {
  char *name;
  char *description;
  GStrv values;
} PdPrivilege;

PdPrivilege *pd_privilege_new (const char *name, const char *description, const char *const *values);
void pd_privilege_free (PdPrivilege *privilege);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPrivilege, pd_privilege_free)

/* The a(ssas) form of a PdPrivilege array (name, description, values), as the Privileges
 * property and the privileges argument of Pull and Create carry it. The variant is floating;
 * NULL fields become "" and []. */
GVariant *pd_privileges_to_variant (GPtrArray *privileges);
/* A new GPtrArray of PdPrivilege (owning its elements) from an a(ssas) variant. */
GPtrArray *pd_privileges_new_from_variant (GVariant *variant);

/* User settings, kept apart from the immutable config (fixes moby's shared-pointer bug). */
typedef struct {
  GPtrArray *mounts;   /* PdConfigMount: effective mounts (config mounts with set sources) */
  GPtrArray *devices;  /* PdConfigDevice: effective devices */
  GStrv env;           /* "NAME=value" */
  GStrv args;
} PdPluginSettings;

/* Docker's InitEmptySettings, as deep copies. */
PdPluginSettings *pd_plugin_settings_new_from_config (const PdPluginConfig *config);
PdPluginSettings *pd_plugin_settings_copy (const PdPluginSettings *settings);
void pd_plugin_settings_free (PdPluginSettings *settings);
JsonNode *pd_plugin_settings_to_json (const PdPluginSettings *settings);  /* {Mounts,Env,Args,Devices} */
PdPluginSettings *pd_plugin_settings_new_from_json (JsonNode *node, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPluginSettings, pd_plugin_settings_free)

/* Env values and args are where passwords and keys go; what everyone may see of them is the
 * env var names, and PD_HIDDEN_VALUE in place of each value. */
#define PD_HIDDEN_VALUE "<hidden>"
/* the names of the env vars of @settings, in order (an entry without "=" is all name) */
GStrv pd_plugin_settings_dup_env_names (const PdPluginSettings *settings);
/* a copy of @settings with each env value and each arg replaced by PD_HIDDEN_VALUE (Docker's
 * shape kept: "NAME=<hidden>", one "<hidden>" per arg); mounts and devices as they are */
PdPluginSettings *pd_plugin_settings_copy_hidden (const PdPluginSettings *settings);

/* Docker computePrivileges over the config with the settings' mount sources and device paths
 * (settings may be NULL = config defaults). Returns a GPtrArray of PdPrivilege, Docker's order. */
GPtrArray *pd_privileges_compute (const PdPluginConfig *config, const PdPluginSettings *settings);
/* Docker validatePrivileges, fixed: equal length, every entry compared after normalising
 * (values sorted, entries sorted by name then values); descriptions ignored. */
gboolean pd_privileges_equal (GPtrArray *a, GPtrArray *b);
/* "network: host; capabilities: CAP_SYS_ADMIN; mount: /data" (polkit detail, messages) */
char *pd_privileges_to_string (GPtrArray *privileges);

/* Bounds of the settings a caller gives (Set, and the settings option of Pull, Upgrade and
 * GetPrivileges), checked before anything is applied or saved; beyond them
 * PD_ERROR_LIMITS_EXCEEDED. Documented in docs/plugind.8.rst (LIMITS). */
#define PD_SETTINGS_MAX_CHANGES 256            /* name=value pairs in one call */
#define PD_SETTING_KEY_MAX      512            /* bytes of one "NAME[.field]" */
#define PD_SETTING_VALUE_MAX    65536          /* bytes of one value */
#define PD_SETTINGS_MAX_SIZE    (256 * 1024)   /* env, args, mount sources, device paths */

/* the changes of an a{ss} @variant, for pd_plugin_settings_apply(); NULL beyond the bounds */
GHashTable *pd_settings_changes_new_from_variant (GVariant *variant, GError **error);
/* bytes of the env entries, args, mount sources and device paths of @settings */
gsize pd_plugin_settings_get_size (const PdPluginSettings *settings);

/* Applies Docker `Set` (docker-plugins.md 2.4) to a copy of @settings: @changes maps
 * "NAME" or "NAME.field" to the value. New mount sources and device paths must pass the config
 * rules (no control characters; bind sources absolute without ".."; devices under /dev/
 * without ".."). All or nothing: on error returns NULL with Docker's error text, or ours for the
 * rules Docker lacks (PD_ERROR_INVALID_ARGS), and @settings unchanged. The bounds above are
 * checked first (PD_ERROR_LIMITS_EXCEEDED), and the result may not pass PD_SETTINGS_MAX_SIZE
 * unless it is no larger than @settings. */
PdPluginSettings *pd_plugin_settings_apply (const PdPluginSettings *settings,
                                            const PdPluginConfig *config,
                                            GHashTable *changes,
                                            GError **error);

/* The settings after an upgrade from @old_config to @new_config (fixes moby#42128): the new
 * config's defaults, except that a value the user changed (one that differs from the old
 * config's default) is kept for every env var, mount (by name), device (by name) and the args
 * the new config still declares; what the new config no longer declares is dropped. */
PdPluginSettings *pd_plugin_settings_merge (const PdPluginSettings *old_settings,
                                            const PdPluginConfig *old_config,
                                            const PdPluginConfig *new_config);

/* The settings a plugin installed from @config will have, whose privileges are what the user
 * consents to: the defaults (or, for an upgrade, @old_settings merged from @old_config), with
 * @changes (Set's grammar, may be NULL) applied. */
PdPluginSettings *pd_plugin_settings_for_install (const PdPluginConfig *config,
                                                  const PdPluginSettings *old_settings,
                                                  const PdPluginConfig *old_config,
                                                  GHashTable *changes,
                                                  GError **error);

/* One entry of the Plugin.Settings property: (name, kind, description, value, settable) for
 * every env var, mount, device and the args the config declares, with the effective mount
 * source or device path; never the value of an env var or the args, which may be secrets. */
typedef struct {
  char *name;
  const char *kind;  /* "env", "args", "mount", "device" (static) */
  char *description;
  char *value;       /* mounts: source; devices: path; "" for null, env and args */
  gboolean settable;
} PdSettingInfo;

void pd_setting_info_free (PdSettingInfo *info);
/* PdSettingInfo array in the config's order: env, mounts, devices, args */
GPtrArray *pd_plugin_settings_describe (const PdPluginSettings *settings,
                                        const PdPluginConfig *config);

/* absolute, without empty, "." or ".." components (one trailing "/" allowed, as in Docker's
 * own "WorkDir": "/bin/") and without control characters: a path that means one place.
 * The config validator and the sandbox use the same rule. */
gboolean pd_path_is_clean_absolute (const char *path);
/* TRUE when @path is @dir or below it (both clean absolute paths; a trailing '/' is
 * ignored) */
gboolean pd_path_is_at_or_under (const char *path, const char *dir);
/* TRUE when one of @paths (char *, NULL entries skipped) is at or under another: @inner and
 * @outer are then the indexes of the first such pair */
gboolean pd_paths_find_nested (GPtrArray *paths, guint *inner, guint *outer);
/* C0 or C1 controls, DEL, or invalid UTF-8: what a terminal could act on */
gboolean pd_string_has_control_chars (const char *text);

G_END_DECLS
