/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "pd-plugin-config.h"

G_BEGIN_DECLS

/* the largest answer to /Plugin.Activate that is read */
#define PD_ACTIVATE_ANSWER_MAX (1024 * 1024)

/*
 * Docker's plugin handshake, judged on the plugin's answer to POST /Plugin.Activate: HTTP
 * @status and its body (@data, @len bytes, untrusted). Returns the Implements list
 * (NULL-terminated, never NULL on success):
 *
 *  - 200: {"Implements": [...]} (keys matched case-insensitively, as Go's decoder does; null
 *    or absent means none; at most PD_CONFIG_MAX_ENTRIES entries of at most PD_CONFIG_NAME_MAX
 *    bytes, as a config's Interface.Types), which must cover the capability of every
 *    Interface.Types entry of @config;
 *  - 404: a plugin that does not know the call (Docker never makes it to managed plugins): the
 *    Implements @config's Interface.Types name;
 *  - anything else: the plugin's {"Err": ...}, or its body.
 *
 * Fails with PD_ERROR_ACTIVATION_FAILED and a message in which the plugin's words are escaped.
 * The body is JSON parsed with pd_json_parse(): at most PD_ACTIVATE_ANSWER_MAX bytes, nested
 * at most PD_JSON_MAX_DEPTH levels.
 */
GStrv pd_activate_check_answer (guint status,
                                const char *data,
                                gsize len,
                                const PdPluginConfig *config,
                                GError **error);

/* The Implements of a plugin with @config: Docker's capability names ("VolumeDriver") for its
 * "docker.<capability>/<version>" Interface.Types entries. */
GStrv pd_activate_implements_from_config (const PdPluginConfig *config);

G_END_DECLS
