/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PD_MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define PD_MEDIA_TYPE_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define PD_MEDIA_TYPE_PLUGIN_CONFIG   "application/vnd.docker.plugin.v1+json"
#define PD_MEDIA_TYPE_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* manifests and indexes, as read from a registry or the store */
#define PD_MAX_MANIFEST_SIZE (4 * 1024 * 1024)

typedef struct {
  char *media_type;
  char *digest;
  guint64 size;
} PdDescriptor;

PdDescriptor *pd_descriptor_new (const char *media_type, const char *digest, guint64 size);
void pd_descriptor_free (PdDescriptor *descriptor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdDescriptor, pd_descriptor_free)

/* Docker's buildManifest (docker-plugins.md 5.4): schema 2, the plugin config media type and
 * gzip layers, serialised compactly. */
char *pd_oci_build_manifest (const PdDescriptor *config, GPtrArray *layers, gsize *len);

/* every blob digest a manifest names (config and layers); NULL on a malformed manifest */
GStrv pd_oci_manifest_list_digests (const char *data, gsize len, GError **error);

/* the mediaType a manifest (or index) declares in its body; NULL when it has none or is not a
 * JSON object */
char *pd_oci_manifest_get_media_type (GBytes *manifest);

G_END_DECLS
