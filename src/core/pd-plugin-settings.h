/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "pd-plugin-config.h"

G_BEGIN_DECLS

/*
 * The user settings of a plugin (env values, args, mount sources, device paths), kept apart
 * from the immutable config; Docker's `Set` grammar that changes them; how they carry across an
 * upgrade; and how they are described to everyone.
 */

/* User settings, kept apart from the immutable config (fixes moby's shared-pointer bug). */
typedef struct {
  GPtrArray *mounts;   /* PdConfigMount: effective mounts (config mounts with set sources) */
  GPtrArray *devices;  /* PdConfigDevice: effective devices */
  GStrv env;           /* "NAME=value" */
  GStrv args;
  /* the settings the user set (by Set, or the settings option of Pull and Upgrade), which an
   * upgrade keeps: "env:NAME", "mount:NAME", "device:NAME", "args:NAME", each once, in the
   * order first set; never NULL. Not part of Docker's JSON: the record keeps it apart. */
  GStrv user_set;
} PdPluginSettings;

/* Docker's InitEmptySettings, as deep copies. */
PdPluginSettings *pd_plugin_settings_new_from_config (const PdPluginConfig *config);
PdPluginSettings *pd_plugin_settings_copy (const PdPluginSettings *settings);
void pd_plugin_settings_free (PdPluginSettings *settings);
JsonNode *pd_plugin_settings_to_json (const PdPluginSettings *settings);  /* {Mounts,Env,Args,Devices} */
PdPluginSettings *pd_plugin_settings_new_from_json (JsonNode *node, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPluginSettings, pd_plugin_settings_free)

/* The source of mount @index of @config (the path of device @index) with @settings applied
 * (NULL: the config's defaults): the settings entry of that index when its name agrees (names
 * may be empty or repeated), else the first of that name, else the config's. NULL for null. */
const char *pd_plugin_settings_get_mount_source (const PdPluginSettings *settings,
                                                 const PdPluginConfig *config,
                                                 guint index);
const char *pd_plugin_settings_get_device_path (const PdPluginSettings *settings,
                                                const PdPluginConfig *config,
                                                guint index);

/* Env values and args are where passwords and keys go; what everyone may see of them is the
 * env var names, and PD_HIDDEN_VALUE in place of each value. */
#define PD_HIDDEN_VALUE "<hidden>"
/* the names of the env vars of @settings, in order (an entry without "=" is all name) */
GStrv pd_plugin_settings_dup_env_names (const PdPluginSettings *settings);
/* a copy of @settings with each env value and each arg replaced by PD_HIDDEN_VALUE (Docker's
 * shape kept: "NAME=<hidden>", one "<hidden>" per arg); mounts and devices as they are */
PdPluginSettings *pd_plugin_settings_copy_hidden (const PdPluginSettings *settings);

/* Bounds of the settings a caller gives (Set, and the settings option of Pull, Upgrade and
 * GetPrivileges), checked before anything is applied or saved; beyond them
 * PD_ERROR_LIMITS_EXCEEDED. Documented in docs/plugind.8.rst (LIMITS). */
#define PD_SETTINGS_MAX_CHANGES 256            /* name=value pairs in one call */
#define PD_SETTING_KEY_MAX      512            /* bytes of one "NAME[.field]" */
#define PD_SETTING_VALUE_MAX    65536          /* bytes of one value */
#define PD_SETTINGS_MAX_SIZE    (256 * 1024)   /* env, args, mount sources, device paths */

/* One change in Docker's Set grammar. A list of changes is a GPtrArray of them, applied in
 * order; a key may come more than once (the last one wins), as in Docker's `plugin set`. */
typedef struct {
  char *key;    /* "NAME" or "NAME.field" */
  char *value;
} PdSettingChange;

void pd_setting_change_free (PdSettingChange *change);
/* an empty list of changes */
GPtrArray *pd_settings_changes_new (void);
void pd_settings_changes_add (GPtrArray *changes, const char *key, const char *value);
/* the changes of an a(ss) @variant, in its order, for pd_plugin_settings_apply(); NULL beyond
 * the bounds */
GPtrArray *pd_settings_changes_new_from_variant (GVariant *variant, GError **error);
/* bytes of the env entries, args, mount sources and device paths of @settings */
gsize pd_plugin_settings_get_size (const PdPluginSettings *settings);

/* Applies Docker's `Set` to a copy of @settings: @changes (PdSettingChange, may be NULL) in
 * their order, each marking its setting as set by the user. New mount sources and device paths
 * must pass the config rules (no control characters; bind sources absolute without "..";
 * devices under /dev/ without ".."). All or nothing: on error returns NULL with Docker's error
 * text, or ours for the rules Docker lacks (PD_ERROR_INVALID_ARGS), and @settings unchanged.
 * The bounds above are checked first (PD_ERROR_LIMITS_EXCEEDED), and the result may not pass
 * PD_SETTINGS_MAX_SIZE unless it is no larger than @settings. */
PdPluginSettings *pd_plugin_settings_apply (const PdPluginSettings *settings,
                                            const PdPluginConfig *config,
                                            GPtrArray *changes,
                                            GError **error);

/* The settings after an upgrade to @new_config (fixes moby#42128): the new config's defaults,
 * except that a value the user set (in @old_settings->user_set, even when it equals the old
 * default) is kept for every env var, mount (by name), device (by name) and the args (by name)
 * the new config still declares; what the new config no longer declares is dropped, from the
 * values and from user_set. */
PdPluginSettings *pd_plugin_settings_merge (const PdPluginSettings *old_settings,
                                            const PdPluginConfig *new_config);

/* The settings a plugin installed from @config will have, whose privileges are what the user
 * consents to: the defaults (or, for an upgrade, @old_settings merged), with @changes (Set's
 * grammar, may be NULL) applied. */
PdPluginSettings *pd_plugin_settings_for_install (const PdPluginConfig *config,
                                                  const PdPluginSettings *old_settings,
                                                  GPtrArray *changes,
                                                  GError **error);

/* Sets @settings->user_set from what a record kept (@user_set), without what @config does not
 * declare. A record written before plugind kept the list has none (@user_set NULL): then the
 * values that differ from @config's defaults count as set by the user, as upgrades used to
 * decide. */
void pd_plugin_settings_restore_user_set (PdPluginSettings *settings,
                                          const PdPluginConfig *config,
                                          const char *const *user_set);

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

G_END_DECLS
