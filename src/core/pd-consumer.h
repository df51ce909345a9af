/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A consumer socket: where container engines (dockerd, podman) reach an enabled plugin. To an
 * engine a plugind plugin is an unmanaged ("legacy") plugin; it takes the Mountpoint a volume
 * plugin answers as a host path, while the plugin answers a path in its sandbox. The consumer
 * socket speaks the plugin protocol (HTTP/1.1, JSON, POST only) and:
 *
 * - answers /Plugin.Activate itself, with the plugin's Implements (Docker's managed plugins
 *   need not answer it, an engine asks it of every unmanaged plugin);
 * - forwards every other request to the plugin's own socket (opened without following a
 *   symlink, as the handshake does) and its answer back, rewriting the Mountpoints of
 *   VolumeDriver answers to host paths (pd-volume-answer.h); an answer it refuses becomes an
 *   error answer, and a warning in the log;
 * - answers at once, with a 503 and an Err that says why, while the plugin is not running
 *   (starting, restarting after a crash, failed, stopping): an engine that finds no socket,
 *   or one nobody listens on, retries each call for up to 30 s;
 * - pins the dir of a volume it answers a VolumeDriver.Mount with: the dir (checked as above,
 *   and opened again without following a symlink) is cloned onto a dir of plugind's own
 *   (pd_sandbox_pin_dir(), in the host mount namespace), which is the Mountpoint the engine
 *   gets from Mount, Path, Get and List; a plugin that swaps its dir for a symlink afterwards
 *   changes nothing the engine uses. Mounts are counted by volume and Mount ID as Docker does;
 *   the last Unmount unmounts the pin (detached) before it is forwarded, and so do the
 *   plugin's stop (disabled, crashed, removed) and the consumer's close;
 * - takes one request per connection (every answer says Connection: close);
 * - is root's only: the socket is 0600 in a 0700 dir, and a peer whose SO_PEERCRED uid is not
 *   0 gets a 403 without being read.
 *
 * Bounds: the request at most PD_CONSUMER_REQUEST_MAX bytes of body, within
 * PD_CONSUMER_IO_TIMEOUT_S of the connection, the answer taken within as long; the plugin's
 * answer at most PD_VOLUME_ANSWER_MAX bytes of body within the answer timeout; at most
 * PD_CONSUMER_MAX_WORKERS requests of one plugin in progress at once, and at most
 * PD_CONSUMER_MAX_WAITING connections in progress or waiting (a 503 beyond). Requests are
 * read, forwarded and answered, and answers parsed, in worker threads, never on the main
 * thread; connections are accepted on the main thread.
 */

#define PD_CONSUMER_REQUEST_MAX (1024 * 1024)
#define PD_CONSUMER_IO_TIMEOUT_S 10
#define PD_CONSUMER_MAX_WORKERS 8
#define PD_CONSUMER_MAX_WAITING 64
/* the answer timeout when none is given */
#define PD_CONSUMER_DEFAULT_ANSWER_TIMEOUT_S 60

typedef struct _PdConsumer PdConsumer;

/* What the consumer forwards to; the strings are copied. */
typedef struct {
  const char *state;                  /* the plugin's state, for the error while not running */
  const char *socket_path;            /* the plugin's socket on the host, NULL when not running */
  const char *const *implements;      /* the answer to /Plugin.Activate */
  const char *propagated_mount;       /* Config.PropagatedMount, NULL or "" for none */
  const char *host_propagated_dir;    /* its dir on the host */
  guint answer_timeout_s;             /* 0: PD_CONSUMER_DEFAULT_ANSWER_TIMEOUT_S */
} PdConsumerTarget;

/* a consumer for the plugin @plugin_name (for messages), listening nowhere yet, whose plugin
 * is "disabled" until a target is set; NULL when the process is out of fds */
PdConsumer *pd_consumer_new (const char *plugin_name, GError **error);

/* Listens on a new socket at @path (which must not exist; its dir should be 0700, the socket
 * is made 0600). PD_ERROR_FAILED when it cannot. */
gboolean pd_consumer_listen (PdConsumer *self, const char *path, GError **error);
/* stops listening at @path and unlinks it, if it is still the socket it bound */
void pd_consumer_unlisten (PdConsumer *self, const char *path);
gboolean pd_consumer_is_listening (PdConsumer *self, const char *path);

/* Pins the volumes it mounts in @dir (plugind's own, 0700; NULL: none pinned, the engine gets
 * the checked path beneath the propagated-mount dir). Before it listens. */
void pd_consumer_set_pin_dir (PdConsumer *self, const char *dir);

/* what requests from now on are forwarded to; a target that is not running (no socket path)
 * releases every pin */
void pd_consumer_set_target (PdConsumer *self, const PdConsumerTarget *target);

/* Stops listening everywhere (the sockets are unlinked), ends the requests in progress (what
 * is being forwarded gets a 503, if the engine still reads) and waits for the workers, which
 * the end makes quick. */
void pd_consumer_close (PdConsumer *self);
/* closes it, and frees it */
void pd_consumer_free (PdConsumer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdConsumer, pd_consumer_free)

G_END_DECLS
