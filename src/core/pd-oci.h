/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PD_MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define PD_MEDIA_TYPE_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define PD_MEDIA_TYPE_PLUGIN_CONFIG   "application/vnd.docker.plugin.v1+json"
#define PD_MEDIA_TYPE_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define PD_MEDIA_TYPE_DOCKER_INDEX    "application/vnd.docker.distribution.manifest.list.v2+json"
#define PD_MEDIA_TYPE_OCI_INDEX       "application/vnd.oci.image.index.v1+json"

/* manifests and indexes, as read from a registry or the store */
#define PD_MAX_MANIFEST_SIZE (4 * 1024 * 1024)
/* the plugin config blob a manifest names: a larger one is refused before it is fetched */
#define PD_MAX_CONFIG_BLOB_SIZE (4 * 1024 * 1024)
/* layers a plugin manifest names at most */
#define PD_MAX_LAYERS 127

typedef struct {
  char *media_type;
  char *digest;
  guint64 size;
} PdDescriptor;

PdDescriptor *pd_descriptor_new (const char *media_type, const char *digest, guint64 size);
void pd_descriptor_free (PdDescriptor *descriptor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdDescriptor, pd_descriptor_free)

/* Docker's buildManifest, the manifest Create stores for a later push: schema 2, the plugin
 * config media type and gzip layers, serialised compactly. */
char *pd_oci_build_manifest (const PdDescriptor *config, GPtrArray *layers, gsize *len);

/* every blob digest a manifest names (config and layers); NULL on a malformed manifest */
GStrv pd_oci_manifest_list_digests (const char *data, gsize len, GError **error);

/* the mediaType a manifest (or index) declares in its body; NULL when it has none or is not a
 * JSON object */
char *pd_oci_manifest_get_media_type (GBytes *manifest);

/* TRUE for the media types of an image index (Docker's manifest list, OCI's index) */
gboolean pd_oci_media_type_is_index (const char *media_type);
/* The digest of the entry of image index @index for @platform ("os/arch[/variant]"; the first
 * entry of that architecture when no variant is given), or PD_ERROR_UNSUPPORTED_MEDIA_TYPE
 * naming the platforms it has. */
char *pd_oci_pick_from_index (GBytes *index, const char *platform, GError **error);
/* Checks plugin manifest @manifest, served as @media_type: schema 2, a Docker or OCI manifest
 * media type, a plugin config of at most PD_MAX_CONFIG_BLOB_SIZE (PD_ERROR_LIMITS_EXCEEDED),
 * 1 to 127 layers of tar media types; PD_ERROR_UNSUPPORTED_MEDIA_TYPE otherwise. Returns the
 * config's descriptor in @config and the layers' (PdDescriptor, manifest order) in @layers. */
gboolean pd_oci_parse_manifest (GBytes *manifest, const char *media_type, PdDescriptor **config,
                                GPtrArray **layers, GError **error);

G_END_DECLS
