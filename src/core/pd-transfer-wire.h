/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "pd-archive.h"
#include "pd-daemon-config.h"
#include "pd-oci.h"
#include "pd-pull.h"

G_BEGIN_DECLS

/*
 * The messages between the daemon and plugind-transfer (docs/design.md, section "The transfer
 * helper"), over a stream socketpair: a little-endian 32-bit length, then that many bytes of a
 * GVariant "(sa{sv})" in normal form: the message's kind and its fields. File descriptors go
 * only from the daemon to the helper, by SCM_RIGHTS with a message's first byte. A message that
 * is longer than PD_TRANSFER_MESSAGE_MAX, not in normal form or of another type is a protocol
 * error: the reader stops there.
 */

/* a manifest and a config (4 MiB each at most) and what goes with them */
#define PD_TRANSFER_MESSAGE_MAX (9 * 1024 * 1024)
/* file descriptors one message carries at most */
#define PD_TRANSFER_MAX_FDS 4

/* the socket's fd in the helper */
#define PD_TRANSFER_SOCKET_FD 3

/* the frame of @kind with @fields (a{sv}, floating or not; NULL = empty) */
GBytes *pd_transfer_frame (const char *kind, GVariant *fields);

/* Blocking: writes the frame, with @fds (at most PD_TRANSFER_MAX_FDS) attached. */
gboolean pd_transfer_write (int fd, const char *kind, GVariant *fields, const int *fds,
                            guint n_fds, GError **error);

/* Blocking: the next message (an "(sa{sv})" GVariant), NULL with @error at the end of the
 * stream (G_IO_ERROR_CLOSED) or on a protocol error. Attached fds (close-on-exec) are
 * appended to @fds when it is non-NULL, else closed. */
GVariant *pd_transfer_read (int fd, GArray *fds, GError **error);

/* For a non-blocking reader: @buffer holds what was received so far. Returns the first whole
 * message and removes its bytes, or NULL with no @error when more bytes are needed, or NULL
 * with @error on a protocol error. */
GVariant *pd_transfer_parse (GByteArray *buffer, GError **error);

/* a field of a message, of @type, or a protocol error naming it */
GVariant *pd_transfer_lookup (GVariant *fields, const char *name, const GVariantType *type,
                              GError **error);
/* the same for a string of at most @max bytes, valid UTF-8 */
const char *pd_transfer_lookup_string (GVariant *fields, const char *name, gsize max,
                                       GError **error);

/* the bytes of field @name, at most @max of them, hashing to @digest */
GBytes *pd_transfer_lookup_blob (GVariant *fields, const char *name, gsize max,
                                 const char *digest, GError **error);

/* the line of a "log" message: escaped (the registry client's lines are escaped already; a
 * helper gone wrong cannot add controls), at most PD_MESSAGE_MAX bytes */
char *pd_transfer_get_log_line (GVariant *fields, GError **error);

/* an error as a message's fields ("domain": "pd" or "cancelled", "code", "message") */
GVariant *pd_transfer_error_to_fields (const GError *error);
/* the error those fields describe: a PdError (an unknown code or a bad field is PD_ERROR_FAILED),
 * or G_IO_ERROR_CANCELLED; the message bounded */
GError *pd_transfer_error_from_fields (GVariant *fields);

/* the registry part of the daemon's configuration (mirrors, insecure registries, certs.d,
 * stall timeout), added to a request's fields */
void pd_transfer_add_registry_config (GVariantBuilder *fields, const PdDaemonConfig *config);
/* the helper's side: a configuration with those parts (the rest default); the daemon's memory
 * of plain-HTTP registries is loaded too */
PdDaemonConfig *pd_transfer_get_registry_config (GVariant *fields, GError **error);

/* the limits, the store, the job's staging dir and plugind-extract's path, for a job that
 * writes into the store (pull, ingest-context) */
void pd_transfer_add_job_fields (GVariantBuilder *fields, const PdArchiveLimits *limits,
                                 const char *state_dir, const char *staging_dir,
                                 const char *extract_helper);

/* layers a progress message lists at most: a manifest's layers and, for Push, its config.
 * More would cost the main thread a Job.Layers property that large at every progress tick. */
#define PD_TRANSFER_MAX_PROGRESS_LAYERS (PD_MAX_LAYERS + 1)
/* the helper's progress: "layers" a(sstt), digest, status, current, total */
GVariant *pd_transfer_progress_to_fields (PdPullProgress *progress);
/* The daemon's side: @progress becomes what the message says. Statuses are the ones
 * PdLayerProgress knows (the static strings), digests valid; anything else is an error. */
gboolean pd_transfer_apply_progress (PdPullProgress *progress, GVariant *fields, GError **error);

/* what a reference resolved to, as a message's fields (the helper) */
void pd_transfer_add_remote (GVariantBuilder *fields, const PdRemotePlugin *remote);
/* The daemon's side: the remote again, checked as if it had come from the registry: sizes,
 * digests (the manifest's and the config's bytes are hashed again), the manifest and the config
 * parsed by the daemon's own code. */
PdRemotePlugin *pd_transfer_get_remote (GVariant *fields, GError **error);

G_END_DECLS
