/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-store.h"

G_BEGIN_DECLS

typedef struct {
  guint64 max_bytes;       /* uncompressed bytes: of all entries, and of the whole decompressed
                            * stream (headers and what follows the tar's end too) */
  guint64 max_entries;
  guint max_path_length;   /* bytes */
  guint max_depth;         /* path components */
  gsize max_config_size;   /* config.json */
} PdArchiveLimits;

/* 8 GiB, 1,000,000 entries, 4096 bytes, 128 components, 4 MiB */
void pd_archive_limits_init (PdArchiveLimits *limits);

/* called from the worker thread with the bytes read from the input so far */
typedef void (*PdArchiveProgressFunc) (guint64 bytes_read, gpointer user_data);

typedef struct {
  GBytes *config_data;   /* the context's config.json */
  char *layer_digest;    /* the gzip layer blob, written to the store */
  guint64 layer_size;
  char *diff_id;         /* sha256 of the uncompressed layer tar */
} PdContextResult;

void pd_context_result_free (PdContextResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdContextResult, pd_context_result_free)

/*
 * Blocking: call it from a GTask thread. Reads a Docker plugin create context (a tar, plain or
 * compressed with anything libarchive reads) from @fd exactly once, never seeking. The top-level
 * config.json is returned; entries under rootfs/ are re-rooted (hard-link targets too), device
 * nodes dropped, setuid/setgid bits stripped, everything else ignored. The re-rooted stream is
 * written once as an uncompressed tar that is hashed (diff_id), gzipped into a blob of @store,
 * and extracted into @staging_dir/rootfs by the confined helper (plugind-extract, at
 * @helper_path). Unsafe entries (.., absolute names, links escaping the root, paths through
 * symlinks) and broken archives fail with PD_ERROR_INVALID_ARCHIVE, exceeding @limits with
 * PD_ERROR_LIMITS_EXCEEDED, a missing config.json ("config not found") or rootfs ("no rootfs
 * found") with PD_ERROR_INVALID_ARCHIVE, ENOSPC with PD_ERROR_NO_SPACE, cancellation with
 * G_IO_ERROR_CANCELLED. On failure nothing is left in the store but what GC can collect, and
 * @staging_dir may hold partial content the caller discards.
 */
PdContextResult *pd_archive_ingest_context (int fd, PdStore *store, const char *staging_dir,
                                            const char *helper_path,
                                            const PdArchiveLimits *limits,
                                            PdArchiveProgressFunc progress,
                                            gpointer progress_data, GCancellable *cancellable,
                                            GError **error);

/* reads up to @count bytes of a compressed layer: 0 at its end, -1 with @error set. Called
 * from a thread of pd_archive_apply_layer's own (one call at a time, in stream order); a read
 * that waits (for the network) must return, with any error, once @cancellable is cancelled:
 * it is cancelled with the caller's, and when the layer fails for another reason. */
typedef gssize (*PdLayerReadFunc) (void *buffer, gsize count, gpointer user_data,
                                   GCancellable *cancellable, GError **error);

/*
 * Blocking: call it from a GTask thread. Applies one image layer onto @staging_dir/rootfs (made
 * if missing), in one pass over @read_func: the layer is decompressed in-process, in a thread of
 * its own ahead of the tar reader (gzip, zstd, xz, … sniffed; or plain tar), its uncompressed
 * bytes hashed and compared with @diff_id (NULL
 * = not checked) after its last byte, and its entries normalised as for contexts (names checked,
 * device nodes dropped, setuid/setgid stripped, links checked) and extracted by the confined
 * helper in --whiteouts mode, which applies OCI whiteouts (.wh.NAME, .wh..wh..opq) to the
 * layers below. Invalid whiteouts and unsafe entries fail with PD_ERROR_INVALID_ARCHIVE, a
 * wrong diff_id with PD_ERROR_DIGEST_MISMATCH, @limits (counted per layer, over every
 * decompressed byte) with PD_ERROR_LIMITS_EXCEEDED; the read function's errors are returned as they are. On failure
 * the rootfs holds partial content the caller discards. @uncompressed_size: the layer's size
 * after decompression. With @staging_dir NULL the layer is only checked: read, decompressed,
 * hashed and normalised in this process as above, but neither extracted nor given to a helper
 * (for tests and fuzzing).
 */
gboolean pd_archive_apply_layer (PdLayerReadFunc read_func, gpointer read_data,
                                 const char *diff_id, const char *staging_dir,
                                 const char *helper_path, const PdArchiveLimits *limits,
                                 guint64 *uncompressed_size, GCancellable *cancellable,
                                 GError **error);

/* the compressions of create contexts (and layers) decompressed in-process: "gzip", "xz", …,
 * as libarchive answers at run time (plugind-transfer) */
GStrv pd_archive_dup_supported_compressions (void);
/* the same as a list fixed at build time, for the daemon (which links no libarchive): the
 * Manager's features */
const char *const *pd_archive_get_compressions (void);

/* $PLUGIND_EXTRACT_HELPER, else LIBEXECDIR/plugind-extract */
const char *pd_archive_get_helper_path (void);

G_END_DECLS
