/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* a string holding a secret: overwritten before it is freed */
typedef char CtlSecret;

void ctl_secret_free (CtlSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlSecret, ctl_secret_free)

/* the credentials of the caller for one registry, from Docker's CLI config */
typedef struct {
  char *registry;  /* the remote's registry, e.g. "docker.io", "localhost:5000" */
  char *path;      /* the config file read */
  CtlSecret *header;  /* X-Registry-Auth for that registry only; NULL: anonymous */
  gboolean helper;    /* a credential helper holds them, which pluginctl does not run */
} CtlRegistryAuth;

void ctl_registry_auth_clear (CtlRegistryAuth *auth);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CtlRegistryAuth, ctl_registry_auth_clear)

/* Looks up the credentials for the registry of @remote in the caller's Docker config
 * ($DOCKER_CONFIG/config.json, else ~/.docker/config.json). Only that registry's entry is ever
 * sent; credential helpers are not run. Problems with the file are warnings, never errors. */
void ctl_registry_auth_load (CtlRegistryAuth *auth, const char *remote);
/* the registry-auth option, when there are credentials */
void ctl_registry_auth_add_option (const CtlRegistryAuth *auth, GVariantBuilder *options);
/* ctl_report_error(), and a note on the credentials when the registry refused them */
int ctl_report_registry_error (GError *error, const CtlRegistryAuth *auth);

G_END_DECLS
