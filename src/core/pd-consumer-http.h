/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * The HTTP/1.1 a consumer socket speaks (pd-consumer.h): one message read from a socket, with
 * bounds and a deadline, for a worker thread. Container engines (Go's net/http) and plugins
 * send plain HTTP/1.1: a start line, headers, and a body of Content-Length bytes, chunked, or
 * (answers only) up to the end of the connection. Whatever the peer sends, a read ends by
 * @deadline, holds at most PD_HTTP_HEAD_MAX bytes of head and @max_body bytes of body, and
 * refuses what could be read two ways (Content-Length with Transfer-Encoding, two different
 * Content-Lengths, folded header lines, another transfer coding than chunked).
 *
 * Errors: G_IO_ERROR_TIMED_OUT at the deadline, G_IO_ERROR_CANCELLED when @cancel_fd becomes
 * readable, PD_ERROR_LIMITS_EXCEEDED beyond a bound, PD_ERROR_INVALID_ARGS for a malformed
 * message, G_IO_ERROR_* of the socket otherwise. Messages quote nothing the peer sent.
 */

/* start line and headers, trailers of a chunked body included */
#define PD_HTTP_HEAD_MAX (16 * 1024)
/* the longest request target that is forwarded */
#define PD_HTTP_TARGET_MAX 1024
/* the longest Content-Type that is kept */
#define PD_HTTP_CONTENT_TYPE_MAX 256

typedef struct {
  char *method;         /* request: the method token */
  char *target;         /* request: the origin-form target ("/VolumeDriver.Mount") */
  guint status;         /* answer: 200 to 599 */
  char *content_type;   /* NULL when absent or longer than PD_HTTP_CONTENT_TYPE_MAX */
  char *accept;         /* request: Accept, NULL when absent or as long */
  GByteArray *body;     /* never NULL */
} PdHttpMessage;

void pd_http_message_free (PdHttpMessage *message);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdHttpMessage, pd_http_message_free)

/* Reads a request (@is_request) or the answer to a POST from the non-blocking socket @fd
 * before @deadline (g_get_monotonic_time () µs); also polls @cancel_fd (-1: none). */
PdHttpMessage *pd_http_read_message (int fd, int cancel_fd, gboolean is_request,
                                     gsize max_body, gint64 deadline, GError **error);

/* writes all of @data to the non-blocking socket @fd before @deadline (same errors) */
gboolean pd_http_write_all (int fd, int cancel_fd, const void *data, gsize len,
                            gint64 deadline, GError **error);

/* The parser's steps, for a reader that gets its bytes elsewhere (pd-activation.c reads
 * from the main loop): the same rules and errors as pd_http_read_message (). */

/* the longest line of a chunk size (the body's bound counts it) */
#define PD_HTTP_CHUNK_LINE_MAX 1024

typedef struct {
  gboolean has_length;
  guint64 length;
  gboolean chunked;
} PdHttpFraming;

/* a line of @len bytes (its LF excluded) as a string, without a final CR; NULL when it holds a
 * NUL byte */
char *pd_http_line_new (const guint8 *start, gsize len, GError **error);
gboolean pd_http_parse_start_line (PdHttpMessage *message, const char *line,
                                   gboolean is_request, GError **error);
/* one header line: Content-Type and Accept go into @message, the body's length into @framing */
gboolean pd_http_parse_header (PdHttpMessage *message, const char *line,
                               PdHttpFraming *framing, GError **error);
/* after the head: refuses a body that could be read two ways */
gboolean pd_http_check_framing (const PdHttpFraming *framing, GError **error);
/* the size of the next chunk, which must fit in @max_body after @body_len bytes */
gboolean pd_http_parse_chunk_size (const char *line, gsize max_body, gsize body_len,
                                   guint64 *size, GError **error);
/* PD_ERROR_LIMITS_EXCEEDED "the HTTP body is larger than @max_body bytes"; FALSE */
gboolean pd_http_fail_body_too_large (GError **error, gsize max_body);

/* the reason phrase of @status ("OK", "Bad Gateway", …; "Status" for others) */
const char *pd_http_reason (guint status);

G_END_DECLS
