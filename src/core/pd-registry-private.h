/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

#include "pd-registry.h"

G_BEGIN_DECLS

/*
 * What the parts of the registry client share; for src/core/pd-registry*.c only.
 *
 *   pd-registry.c            the client: its endpoints (mirrors, HTTPS, plain HTTP), manifests
 *                            and small blobs
 *   pd-registry-transport.c  one request: TLS, redirects, retries with backoff, the stall
 *                            watchdog, error statuses
 *   pd-registry-auth.c       credentials (registry-auth) and the answer to a 401: Basic, Bearer
 *                            tokens from the realm
 *   pd-registry-blob.c       blob streams, resumed with Range requests
 *   pd-registry-upload.c     what a push sends: blob uploads and mounts, manifests
 */

/* attempts of a request, and interruptions of a blob stream */
#define PD_REGISTRY_MAX_ATTEMPTS 5
/* token and error bodies */
#define PD_REGISTRY_MAX_SMALL_BODY (1024 * 1024)

typedef struct {
  char *base;          /* "https://host[:port]" */
  gboolean is_mirror;  /* no credentials, pulls only */
  gboolean verify_tls; /* FALSE for an Insecure= registry */
} Endpoint;

/* the stall watchdog of a client's requests (pd-registry-transport.c) */
typedef struct {
  GMutex lock;
  GCond cond;
  GThread *thread;
  gboolean quit;
  gint64 timeout_us;
  guint64 min_bytes;
  /* the request in progress */
  gint64 window_used;           /* µs spent waiting on the network in this window, before
                                 * busy_since */
  guint64 window_bytes;         /* bytes sent or received in this window */
  gint64 busy_since;            /* a network call has been waiting since then, or 0 */
  GCancellable *call_cancellable; /* that call's, cancelled on a stall */
  gboolean stalled;
} Watchdog;

struct _PdRegistryClient {
  SoupSession *session;
  char *host;                 /* the registry's host[:port], lower case */
  char *path;                 /* repository path */
  gboolean push;
  GPtrArray *endpoints;       /* Endpoint */
  guint endpoint_index;
  gboolean endpoint_settled;
  GPtrArray *ca_certificates; /* GTlsCertificate from certs.d/<host> */
  gboolean holds_system_trust; /* it spoke TLS: pd_registry_hold_system_trust () */

  /* credentials (never logged) */
  char *username;
  char *password;
  char *identity_token;
  char *registry_token;

  /* the Authorization value for the current endpoint, and how it was obtained */
  char *authorization;
  gboolean tried_plugin_scope;
  gboolean tried_plain_scope;

  PdRegistryLogFunc log_func;
  gpointer log_data;

  Watchdog watchdog;
};

typedef struct {
  const char *method;
  GUri *uri;
  const char *accept;
  const char *range;
  const char *content_type;
  const char *content_range;
  GBytes *body;
  /* attach the registry's credentials (only ever to its own endpoint) */
  gboolean registry_auth;
  /* an explicit Authorization for the first hop only (the token realm) */
  const char *authorization;
  /* 0 = PD_REGISTRY_MAX_ATTEMPTS */
  guint max_attempts;
} Request;

static inline Endpoint *
current_endpoint (PdRegistryClient *client)
{
  return g_ptr_array_index (client->endpoints, client->endpoint_index);
}

/* pd-registry.c */

/* a line for the job log (and the daemon's), through the client's log function */
void pd_registry_client_log (PdRegistryClient *client, const char *format, ...)
  G_GNUC_PRINTF (2, 3);
/* settles on the first endpoint that answers GET /v2/ at all (any status: 401 is normal) */
gboolean pd_registry_ensure_endpoint (PdRegistryClient *client, GCancellable *cancellable,
                                      GError **error);
/* the current endpoint's base followed by the formatted path */
GUri *pd_registry_endpoint_uri (PdRegistryClient *client, const char *format, ...)
  G_GNUC_PRINTF (2, 3);

/* pd-registry-transport.c */

void pd_registry_watchdog_init (Watchdog *watchdog, const PdDaemonConfig *config);
void pd_registry_watchdog_clear (Watchdog *watchdog);
/* TRUE once the request in progress moved too few bytes: it is neither retried nor resumed */
gboolean pd_registry_watchdog_stalled (Watchdog *watchdog);
/* g_input_stream_read () of a body from pd_registry_send_with_retries () under the watchdog */
gssize pd_registry_watched_read (GInputStream *stream, void *buffer, gsize count,
                                 GCancellable *cancellable, GError **error);
/* the CA certificates (*.crt) of certs.d/<host> */
void pd_registry_load_ca_certificates (PdRegistryClient *client, const char *certs_dir);
/* the system CAs shared by the clients that speak TLS, released with the last of them */
void pd_registry_hold_system_trust (PdRegistryClient *client);
void pd_registry_release_system_trust (PdRegistryClient *client);
gboolean pd_registry_sleep_cancellable (guint ms, GCancellable *cancellable, GError **error);
/* the delay before attempt @attempt + 1: exponential with jitter, or @msg's Retry-After */
guint pd_registry_backoff_ms (guint attempt, SoupMessage *msg);
/* a whole body of at most @max_size bytes (*too_large and PD_ERROR_LIMITS_EXCEEDED beyond) */
GBytes *pd_registry_read_body (GInputStream *stream, gsize max_size, gboolean *too_large,
                               GCancellable *cancellable, GError **error);
/* the error for a status the caller did not expect, with the registry's words from @body */
void pd_registry_set_status_error (GError **error, SoupMessage *msg, GBytes *body,
                                   const char *what);
/* the same, reading the small error body from @stream first */
void pd_registry_fail_with_status (GError **error, SoupMessage *msg, GInputStream *stream,
                                   GCancellable *cancellable, const char *what);
/* @request, following redirects, retried on connection failures, 408, 429 and 5xx, and
 * authenticated on a 401 from the registry. Other statuses are the caller's. */
GInputStream *pd_registry_send_with_retries (PdRegistryClient *client, const Request *request,
                                             SoupMessage **out_msg, GCancellable *cancellable,
                                             GError **error);

/* pd-registry-auth.c */

/* reads Docker's X-Registry-Auth value into the client's credentials, unless it names another
 * registry than @domain */
gboolean pd_registry_parse_auth (PdRegistryClient *client, const char *domain,
                                 const char *registry_auth, GError **error);
/* answers a 401 from the registry: TRUE when new credentials are ready for a retry */
gboolean pd_registry_authenticate (PdRegistryClient *client, SoupMessage *msg,
                                   GCancellable *cancellable, GError **error);
/* forgets the Authorization of the endpoint left behind */
void pd_registry_reset_auth (PdRegistryClient *client);

G_END_DECLS
