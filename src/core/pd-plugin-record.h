/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"
#include "pd-privileges.h"

G_BEGIN_DECLS

/* The domain model of one installed plugin: what the store persists in its record file. No
 * D-Bus types; PdPlugin mirrors it onto the bus. Mutations go through the setters, which emit
 * GObject::notify so the D-Bus layer can follow. */
#define PD_TYPE_PLUGIN_RECORD (pd_plugin_record_get_type ())
G_DECLARE_FINAL_TYPE (PdPluginRecord, pd_plugin_record, PD, PLUGIN_RECORD, GObject)

PdPluginRecord *pd_plugin_record_new (const char *id,
                                      const char *name,
                                      const char *reference,
                                      PdPluginConfig *config,       /* taken */
                                      const char *config_digest,
                                      const char *manifest_digest,
                                      const char *const *layer_digests);
/* Upgrade: a new record of the same plugin (id, name, created, enabled) with another image
 * and @settings (taken, like @config) */
PdPluginRecord *pd_plugin_record_new_upgraded (PdPluginRecord *self,
                                               const char *reference,
                                               PdPluginConfig *config,
                                               const char *config_digest,
                                               const char *manifest_digest,
                                               const char *const *layer_digests,
                                               PdPluginSettings *settings);
/* after @upgraded was committed: @self takes its image, config and settings (notifies) */
void pd_plugin_record_take_image (PdPluginRecord *self, PdPluginRecord *upgraded);
const char *pd_plugin_record_get_id (PdPluginRecord *self);
const char *pd_plugin_record_get_name (PdPluginRecord *self);
/* Docker's PluginReference: the remote a plugin was pulled from, or the name of a created one */
const char *pd_plugin_record_get_reference (PdPluginRecord *self);
/* the remote it was pulled (or last upgraded) from; NULL for a created plugin */
const char *pd_plugin_record_get_remote (PdPluginRecord *self);
const char *pd_plugin_record_get_config_digest (PdPluginRecord *self);
const char *pd_plugin_record_get_manifest_digest (PdPluginRecord *self);
/* digests of the layer blobs, in manifest order */
const char *const *pd_plugin_record_get_layer_digests (PdPluginRecord *self);
const PdPluginConfig *pd_plugin_record_get_config (PdPluginRecord *self);
const PdPluginSettings *pd_plugin_record_get_settings (PdPluginRecord *self);
void pd_plugin_record_set_settings (PdPluginRecord *self, PdPluginSettings *settings /* taken */);
gboolean pd_plugin_record_get_enabled (PdPluginRecord *self);
void pd_plugin_record_set_enabled (PdPluginRecord *self, gboolean enabled);
/* realtime µs */
guint64 pd_plugin_record_get_created (PdPluginRecord *self);
guint64 pd_plugin_record_get_updated (PdPluginRecord *self);
void pd_plugin_record_set_updated (PdPluginRecord *self, guint64 updated);
/* privileges computed from config + settings (PdPrivilege array) */
GPtrArray *pd_plugin_record_dup_privileges (PdPluginRecord *self);

/* record file (plugin.json); a record is a few KiB, and a larger one than this is not ours:
 * it is not read */
#define PD_PLUGIN_RECORD_MAX_SIZE (16 * 1024 * 1024)
char *pd_plugin_record_to_data (PdPluginRecord *self, gsize *len);
PdPluginRecord *pd_plugin_record_new_from_data (const char *data, gsize len, GError **error);

/* Docker's `Plugin` object, as Docker's API shows it, as JSON text; without @show_values, the
 * env values and args in Settings are PD_HIDDEN_VALUE (pd_plugin_settings_copy_hidden()) */
char *pd_plugin_record_to_docker_json (PdPluginRecord *self, gboolean show_values);
/* the same with @state (an object, not Docker's) as a last member "State", when not NULL */
char *pd_plugin_record_to_docker_json_with_state (PdPluginRecord *self,
                                                  gboolean show_values,
                                                  JsonNode *state);

G_END_DECLS
