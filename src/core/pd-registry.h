/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-daemon-config.h"
#include "pd-oci.h"
#include "pd-reference.h"

G_BEGIN_DECLS

/*
 * A client of the Docker registry HTTP API v2 (OCI distribution) for one repository, on
 * libsoup 3. Blocking: a client belongs to the thread that created it (a job's worker thread)
 * and owns its own SoupSession.
 *
 * Endpoints (docs/design.md, section Registries): docker.io is reached at
 * registry-1.docker.io, after the configured mirrors for pulls. Other registries use HTTPS,
 * verified against the system CAs and the CA certificates (*.crt) in certs.d/<host[:port]>/;
 * plain HTTP is used only after HTTPS failed to connect, and only for loopback registries
 * (127.0.0.0/8, localhost, [::1], as Docker allows) and those listed as Insecure=, for which
 * HTTPS is not verified either (Docker's meaning of insecure).
 *
 * Authentication: anonymous, Basic, or bearer tokens from the realm the registry names, asked
 * for Docker's plugin scope "repository(plugin):NAME:pull" and, when the token does not grant
 * it, "repository:NAME:pull". Credentials (Docker's X-Registry-Auth JSON) are sent to that
 * registry and its token realm only: never to mirrors, and never after a redirect to another
 * host. They are never logged.
 *
 * Requests are retried (at most 5 attempts, backoff from 0.5 s with jitter, honouring
 * Retry-After up to 30 s) on resets, timeouts and connections closed early, 408, 429 and 5xx,
 * never on a refused or unreachable host; at most 10 redirects are followed. A request that
 * moves (sends or receives) fewer than the configuration's stall_min_bytes within
 * stall_timeout_s of waiting on the network (its headers included) fails with
 * PD_ERROR_REGISTRY_ERROR, and is neither retried nor resumed. Manifests and configs are capped
 * at 4 MiB, token and error bodies at 1 MiB. Every body is verified against its digest,
 * computed here: Docker-Content-Digest is never trusted.
 *
 * pd-registry-private.h says which file of the client holds which part.
 *
 * Errors: PD_ERROR_REGISTRY_UNAUTHORIZED (401/403), PD_ERROR_REGISTRY_NOT_FOUND (404),
 * PD_ERROR_DIGEST_MISMATCH, PD_ERROR_LIMITS_EXCEEDED, PD_ERROR_REGISTRY_ERROR for anything else
 * (the registry's own message, escaped), G_IO_ERROR_CANCELLED.
 */
typedef struct _PdRegistryClient PdRegistryClient;

/* the registry-auth option: base64url text, and so the JSON in it */
#define PD_REGISTRY_AUTH_MAX (64 * 1024)

/* called on the client's thread with a line for the job log (a retry, a fallback) */
typedef void (*PdRegistryLogFunc) (const char *line, gpointer user_data);

/* @registry_auth: NULL, or Docker's X-Registry-Auth value (base64url JSON AuthConfig); when its
 * "serveraddress" names another registry the credentials are not used. @push asks for
 * pull,push scopes and skips mirrors. PD_ERROR_INVALID_ARGS for an unreadable registry_auth. */
PdRegistryClient *pd_registry_client_new (const PdDaemonConfig *config,
                                          const PdReference *ref,
                                          const char *registry_auth,
                                          gboolean push,
                                          GError **error);
void pd_registry_client_free (PdRegistryClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdRegistryClient, pd_registry_client_free)

void pd_registry_client_set_log_func (PdRegistryClient *client, PdRegistryLogFunc func,
                                      gpointer user_data);
/* the base URL the client settled on ("https://host"), NULL before the first request */
const char *pd_registry_client_get_endpoint (PdRegistryClient *client);

/* GET /v2/<path>/manifests/<tag or digest>, accepting Docker and OCI manifests and indexes.
 * A manifest fetched by digest must hash to it. Returns the body; @media_type is its
 * Content-Type (or the body's mediaType field), @digest the sha256 of the body. */
GBytes *pd_registry_client_get_manifest (PdRegistryClient *client,
                                         const char *tag_or_digest,
                                         char **media_type,
                                         char **digest,
                                         GCancellable *cancellable,
                                         GError **error);

/* a whole small blob (a config), at most @max_size bytes, verified */
GBytes *pd_registry_client_get_blob (PdRegistryClient *client,
                                     const char *digest,
                                     gsize max_size,
                                     GCancellable *cancellable,
                                     GError **error);

/* A blob read as a stream: failures mid-body are retried with a Range request (accepted only
 * as a 206 with the exact Content-Range; a 200 is read from the start and the bytes already
 * seen are skipped). The size and digest are checked at the end: the read that reaches the
 * end fails with PD_ERROR_DIGEST_MISMATCH when they differ. */
typedef struct _PdBlobStream PdBlobStream;

PdBlobStream *pd_registry_client_open_blob (PdRegistryClient *client,
                                            const char *digest,
                                            guint64 size,
                                            GError **error);
/* 0 at the verified end */
gssize pd_blob_stream_read (PdBlobStream *stream, void *buffer, gsize count,
                            GCancellable *cancellable, GError **error);
/* TRUE once a read returned 0: every byte was seen and matched the size and digest */
gboolean pd_blob_stream_is_verified (PdBlobStream *stream);
void pd_blob_stream_free (PdBlobStream *stream);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdBlobStream, pd_blob_stream_free)

/* push: HEAD of a blob */
gboolean pd_registry_client_has_blob (PdRegistryClient *client, const char *digest,
                                      gboolean *exists, GCancellable *cancellable,
                                      GError **error);
/* push: a cross-repository mount from @from_path of the same registry; *mounted FALSE when the
 * registry started an upload instead (that upload is abandoned) */
gboolean pd_registry_client_mount_blob (PdRegistryClient *client, const char *digest,
                                        const char *from_path, gboolean *mounted,
                                        GCancellable *cancellable, GError **error);

/* called with the bytes of the blob uploaded so far */
typedef void (*PdUploadProgressFunc) (guint64 bytes_done, gpointer user_data);

/* push: uploads @data (a blob of the store, mapped) as @digest: monolithic up to 16 MiB, in
 * 16 MiB chunks above */
gboolean pd_registry_client_upload_blob (PdRegistryClient *client, const char *digest,
                                         GBytes *data, PdUploadProgressFunc progress,
                                         gpointer progress_data, GCancellable *cancellable,
                                         GError **error);
/* push: PUT /v2/<path>/manifests/<tag> */
gboolean pd_registry_client_put_manifest (PdRegistryClient *client, const char *tag,
                                          const char *media_type, GBytes *data,
                                          GCancellable *cancellable, GError **error);

/* Registries (of those allowed plain HTTP) found to answer only plain HTTP, with when that was
 * last seen (pd-registry-memory.c): later clients skip the HTTPS attempt, whose handshake and CA
 * loading cost a small pull a fifth of its time. Process-wide, any thread. The daemon keeps it
 * for the plugind-transfer processes: each gets it with its request, and tells what it learnt. */
#define PD_REGISTRY_PLAIN_HTTP_MEMORY_US (10 * 60 * G_USEC_PER_SEC)
/* hosts remembered at most */
#define PD_REGISTRY_PLAIN_HTTP_MAX_HOSTS 256
gboolean pd_registry_memory_is_plain_http (const char *host);
void pd_registry_memory_set_plain_http (const char *host, gboolean plain);
/* called (on any thread) with every change, for plugind-transfer to tell the daemon */
typedef void (*PdRegistryMemoryNotify) (const char *host, gboolean plain, gpointer data);
void pd_registry_memory_set_notify (PdRegistryMemoryNotify notify, gpointer data);
/* a(sx): host, microseconds since it was seen */
GVariant *pd_registry_memory_to_variant (void);
void pd_registry_memory_load (GVariant *hosts);

/* TRUE for 127.0.0.0/8, localhost and [::1] with any port */
gboolean pd_registry_host_is_loopback (const char *host);

G_END_DECLS
