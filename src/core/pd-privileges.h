/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"

G_BEGIN_DECLS

/*
 * The privileges of a plugin (Docker's PluginPrivilege list): what its config and settings give
 * it on the host (network, namespaces, mounts, devices, capabilities), which a user consents to
 * before an install and which a call must match.
 */

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

/* Docker computePrivileges over the config with the settings' mount sources and device paths
 * (settings may be NULL = config defaults). Returns a GPtrArray of PdPrivilege, Docker's order. */
GPtrArray *pd_privileges_compute (const PdPluginConfig *config, const PdPluginSettings *settings);
/* Docker validatePrivileges, fixed: equal length, every entry compared after normalising
 * (values sorted, entries sorted by name then values); descriptions ignored. */
gboolean pd_privileges_equal (GPtrArray *a, GPtrArray *b);
/* "network: host; capabilities: CAP_SYS_ADMIN; mount: /data" (polkit detail, messages) */
char *pd_privileges_to_string (GPtrArray *privileges);

G_END_DECLS
