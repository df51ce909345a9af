/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A Docker image reference, normalised like distribution/reference ParseNormalizedNamed:
 * "vieux/sshfs" → domain "docker.io", path "vieux/sshfs", tag NULL;
 * "ubuntu" → path "library/ubuntu"; "localhost:5000/a/b:1@sha256:…" keeps all parts. */
typedef struct {
  char *domain;  /* "docker.io", "localhost:5000", "[::1]:5000" */
  char *path;    /* "vieux/sshfs", "library/ubuntu" */
  char *tag;     /* NULL when absent */
  char *digest;  /* "sha256:<64 hex>" or NULL */
} PdReference;

/* PD_ERROR_INVALID_REFERENCE with a precise message on bad syntax (upper case in the path,
 * bad tag, bad digest, too long, ...). */
PdReference *pd_reference_parse (const char *text, GError **error);
void pd_reference_free (PdReference *ref);
PdReference *pd_reference_copy (const PdReference *ref);
/* full form: "docker.io/vieux/sshfs:latest" (tag and digest as present) */
char *pd_reference_to_string (const PdReference *ref);
/* Docker FamiliarString: "vieux/sshfs:latest", "ubuntu", "localhost:5000/a/b:1" */
char *pd_reference_familiar (const PdReference *ref);
/* the registry host to contact: "registry-1.docker.io" for docker.io */
const char *pd_reference_endpoint_host (const PdReference *ref);

/* The local plugin name for Create or a Pull alias: must not carry a digest ("cannot use digest
 * in plugin tag"), gets ":latest" when untagged, returned in familiar form. */
char *pd_reference_local_name (const char *name, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdReference, pd_reference_free)

/* "sha256:" + 64 lower-case hex */
gboolean pd_digest_is_valid (const char *digest);
/* 64 lower-case hex */
gboolean pd_plugin_id_is_valid (const char *id);
/* a new random plugin id: 64 lower-case hex */
char *pd_generate_plugin_id (void);

G_END_DECLS
