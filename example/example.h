/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The private header of plugind-example, shared by its files:
 *
 *   plugind-example.c    main: options, the socket, signals; logging
 *   example-json.c       text: UTF-8, quoting for messages, the output buffer and JSON writer,
 *                        the strict JSON parser for request bodies
 *   example-http.c       the HTTP/1.1 server: connections, request heads, responses on the wire
 *   example-handlers.c   the plugin protocol: request bodies, one handler per endpoint, dispatch
 *   example-volumes.c    the volume store: names, directories, mount counts, the mounts
 */

#pragma once

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* set by SIGTERM and SIGINT: the server closes every connection and returns */
extern volatile sig_atomic_t quit_requested;
/* DEBUG=1: log_debug() writes to stderr */
extern bool debug;

void log_debug (const char *format, ...) __attribute__((format (printf, 1, 2)));
void log_error (const char *format, ...) __attribute__((format (printf, 1, 2)));

/* text and JSON (example-json.c) */

/* @value for a message or a log line, in double quotes: printable ASCII as is, anything else
 * (controls a terminal would act on included) as \xNN, and cut after QUOTE_MAX bytes; the
 * messages travel to the daemon and on to users */
#define QUOTE_MAX  64
#define QUOTE_SIZE (QUOTE_MAX * 4 + 8)

const char *quote (const char *value, char out[QUOTE_SIZE]);

/* a growing output buffer: appends after a failed allocation do nothing, and finishing it
 * then gives NULL */
struct strbuf {
  char *data;
  size_t len;
  size_t allocated;
  bool failed;
};

void strbuf_append (struct strbuf *sb, const char *s);
void strbuf_append_json_string (struct strbuf *sb, const char *s);
char *strbuf_finish (struct strbuf *sb);

/* the strict parser's state over [start, end) */
struct json {
  const char *start;
  const char *p;
  const char *end;
  unsigned int depth;
  const char *error;       /* static text */
};

bool json_fail (struct json *js, const char *error);
void json_skip_space (struct json *js);
bool json_take (struct json *js, char c);
bool json_string (struct json *js, char *out, size_t out_size, bool *truncated);
bool json_skip_value (struct json *js);
bool json_take_null (struct json *js);

/* requests and responses (example-http.c reads them, example-handlers.c answers them) */

struct request {
  char method[16];
  char path[1024];
  int minor_version;       /* HTTP/1.<minor> */
  bool keep_alive;
  const char *body;        /* not NUL-terminated */
  size_t body_len;
};

struct response {
  int status;
  char *body;              /* malloc'd JSON text */
};

void respond_error (struct response *resp, int status, const char *message);
void dispatch (const struct request *req, struct response *resp);

/* serves connections on @listen_fd until quit_requested; the signals are delivered only while
 * it waits, with @unblocked as the signal mask */
void serve (int listen_fd, const sigset_t *unblocked);

/* the volume store (example-volumes.c) */

/* Docker's rule for local volume names, which keeps a name one plain path component: no '/',
 * and never "." or ".." (the first character is a letter or digit) */
#define VOLUME_NAME_MAX 255
#define MOUNT_ID_MAX    255

/* room for "/volumes/<name>" after it within PATH_MAX */
extern char data_dir[PATH_MAX - VOLUME_NAME_MAX - 16];
/* where a volume is mounted while it is in use, <mount_dir>/<name>: the config's
 * PropagatedMount, whose mounts plugind makes appear on the host */
extern char mount_dir[PATH_MAX - VOLUME_NAME_MAX - 16];

struct mount_ref;

bool volume_name_valid (const char *name);
/* the volume's Mountpoint, <mount_dir>/<name> */
void volume_mountpoint (const char *name, char *out, size_t out_size);
/* bind-mounts the volume's directory at its Mountpoint (made first); 0, or -1 with errno */
int volume_mount (const char *name);
/* unmounts it (detached) and removes the Mountpoint; 0, or -1 with errno */
int volume_unmount (const char *name);
/* at the end: every volume still mounted */
void volume_unmount_all (void);
int open_volumes_dir (bool create);
bool volume_exists_at (int volumes_fd, const char *name);
bool volume_exists (const char *name);
struct mount_ref *mount_ref_find (const char *name, const char *id);
unsigned long volume_mount_count (const char *name);
bool mount_ref_add (const char *name, const char *id);
void mount_ref_release (struct mount_ref *ref);
int remove_tree_at (int parent_fd, const char *name, unsigned int depth);
