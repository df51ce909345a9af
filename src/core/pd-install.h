/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-engine.h"
#include "pd-managed-plugin.h"
#include "pd-operation.h"
#include "pd-pull.h"
#include "pd-reference.h"

G_BEGIN_DECLS

/*
 * Pull and Upgrade: a worker thread resolves the remote, checks the privileges of its config
 * (with the settings applied) against the accepted ones before any layer is downloaded, and
 * streams the layers into a staging dir (pd-pull.h); the main thread then commits — a new
 * plugin, or the upgraded one swapped in with one rename — and enables it when asked. What the
 * caller checked before authorizing is checked again at the commit. A failure rolls back:
 * the staging dir goes, the blobs only this operation used go to the garbage collection, and
 * a plugin an upgrade stopped starts again in its old version.
 */
typedef struct {
  PdReference *remote;          /* parsed and normalised */
  char *name;                   /* Pull: the local name */
  PdManagedPlugin *plugin;      /* Upgrade: the plugin; GetPrivileges: the one of "upgrade" */
  GPtrArray *accepted;          /* PdPrivilege */
  gboolean grant_all;
  char *registry_auth;          /* never logged */
  char *platform;
  char *expected_digest;
  GPtrArray *settings;          /* PdSettingChange, in the order given, or NULL */
  gboolean enable;              /* Pull: enable; Upgrade: enable again (restart) */
  guint activation_timeout;
  guint request_timeout;
} PdInstallRequest;

PdInstallRequest *pd_install_request_new (void);
void pd_install_request_free (PdInstallRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdInstallRequest, pd_install_request_free)

/* parses @remote into request->remote, ":latest" implied unless it has a tag or digest */
gboolean pd_install_request_set_remote (PdInstallRequest *request, const char *remote,
                                        GError **error);

/* InvalidArgs for a registry-auth longer than PD_REGISTRY_AUTH_MAX (Pull, Upgrade,
 * GetPrivileges, Push), before any helper is started for it */
gboolean pd_install_check_registry_auth (const char *registry_auth, GError **error);

/* Parses the options Pull, Upgrade and GetPrivileges share ("registry-auth", "platform",
 * "expected-digest", "grant-all-privileges", "settings", "enable", "restart", "timeout",
 * "activation-timeout") into @request; the caller has checked names and types. */
gboolean pd_install_request_parse_options (PdInstallRequest *request, GVariant *options,
                                           GError **error);

/* Docker's getName: @name, or "" for the remote's, tag kept (":latest" implied), digest
 * dropped */
char *pd_install_local_name (const PdReference *remote, const char *name, GError **error);

/* the bytes of @remote's layers, as the registry gave them */
guint64 pd_install_layers_size (const PdRemotePlugin *remote);

/* Runs @operation (new, not yet started) to its end: Pull when request->plugin is NULL, else
 * Upgrade. Takes @request. Its results: "plugin-id", "manifest-digest", "reference", "size";
 * the plugin's event ("pull", "upgrade") once it finished. */
void pd_install_start (PdEngine *engine, PdOperation *operation, PdInstallRequest *request);

/* the request of plugind-transfer for @request (pd-transfer.h): the reference, credentials,
 * platform and the registry configuration; with @staging_dir (a pull) the expected digest,
 * the limits, the store and the extraction helper too */
GVariant *pd_install_transfer_request (PdEngine *engine, PdInstallRequest *request,
                                       const char *staging_dir);

/* GetPrivileges answers within default client timeouts: the lookup runs in plugind-transfer,
 * which is killed at the deadline */
#define PD_INSTALL_QUERY_DEADLINE_S 15
/* GetPrivileges lookups running at once (each a helper process, which an active local user may
 * start without a password); one more fails with Busy */
#define PD_INSTALL_MAX_QUERIES 16

/* GetPrivileges: resolves request->remote in a worker thread, within
 * PD_INSTALL_QUERY_DEADLINE_S (then RegistryError, with the registry client's last problem).
 * @request must live until @callback. */
void pd_install_query_async (PdEngine *engine, PdInstallRequest *request,
                             GAsyncReadyCallback callback, gpointer user_data);
/* what the remote resolved to, and the privileges Pull (or, with request->plugin, Upgrade)
 * with request->settings will ask for */
PdRemotePlugin *pd_install_query_finish (PdEngine *engine, GAsyncResult *result,
                                         GPtrArray **privileges, GError **error);

G_END_DECLS
