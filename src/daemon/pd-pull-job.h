/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pd-daemon.h"
#include "pd-job.h"
#include "pd-plugin.h"
#include "pd-reference.h"

G_BEGIN_DECLS

/*
 * The job behind Manager.Pull and Plugin.Upgrade (dbus-api.md D2, D3): a worker thread
 * resolves the remote, checks the privileges of the config (with the settings applied) against
 * the accepted ones before any layer is downloaded, and streams the layers into a staging dir
 * (pd-pull.h); the main thread then commits (a new plugin, or the upgraded one swapped in with
 * one rename), and enables it when asked. Everything the caller checked before authorizing is
 * checked again at the commit.
 */
typedef struct {
  PdReference *remote;          /* parsed and normalised */
  char *name;                   /* Pull: the local name */
  PdPlugin *plugin;             /* Upgrade: the plugin (NULL for Pull) */
  GPtrArray *accepted;          /* PdPrivilege */
  gboolean grant_all;
  char *registry_auth;          /* never logged */
  char *platform;
  char *expected_digest;
  GHashTable *settings;         /* "NAME[.field]" → value, or NULL */
  gboolean enable;              /* Pull: enable; Upgrade: enable again (restart) */
  guint activation_timeout;
  guint request_timeout;
} PdPullJobRequest;

PdPullJobRequest *pd_pull_job_request_new (void);
void pd_pull_job_request_free (PdPullJobRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPullJobRequest, pd_pull_job_request_free)

/* parses @remote into request->remote, ":latest" implied unless it has a tag or digest */
gboolean pd_pull_job_request_set_remote (PdPullJobRequest *request, const char *remote,
                                         GError **error);

/* Parses the options Pull, Upgrade and GetPrivileges share ("registry-auth", "platform",
 * "expected-digest", "grant-all-privileges", "settings", "enable", "timeout",
 * "activation-timeout") into @request; the caller has checked names and types. */
gboolean pd_pull_job_request_parse_options (PdPullJobRequest *request, GVariant *options,
                                            GError **error);

/* runs the job (already exported) to its end; takes @request */
void pd_pull_job_start (PdDaemon *daemon, PdOperation *job, PdPullJobRequest *request);

G_END_DECLS
