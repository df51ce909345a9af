/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A volume plugin answers with the Mountpoint of a volume as a path in its sandbox; a
 * container engine takes it as a host path. Docker rewrites it for its own managed plugins
 * (the propagated-mount dir on the host, in place of Config.PropagatedMount); plugind does the
 * same in the answers a consumer socket forwards (pd-consumer.h), and refuses a Mountpoint the
 * engine could be led astray by:
 *
 * - it must be Config.PropagatedMount or beneath it (a plugin without one has no Mountpoint a
 *   host could use), an absolute path without "." or ".." components, at most
 *   PD_VOLUME_MOUNTPOINT_MAX bytes;
 * - on the host, beneath the propagated-mount dir, no component that exists may be a symlink
 *   (the engine would follow it anywhere on the host), and every one but the last must be a
 *   directory; the Mountpoint of a Mount answer must exist and be a directory.
 *
 * The answer is JSON parsed with pd_json_parse() (at most PD_VOLUME_ANSWER_MAX bytes, nested
 * at most PD_JSON_MAX_DEPTH levels) and written anew with only the fields engines read (as Go
 * reads them: keys in any case): {"Mountpoint", "Err"} for Mount and Path, {"Volume": {"Name",
 * "Mountpoint", "CreatedAt", "Status"}, "Err"} for Get, {"Volumes": [...], "Err"} for List. Two
 * keys that differ only in case are refused, since Go would take the last and a reader that
 * takes the first would see another path. An answer with a non-empty Err becomes {"Err"} alone.
 */

/* the largest answer of a plugin a consumer socket reads */
#define PD_VOLUME_ANSWER_MAX (4 * 1024 * 1024)
/* the longest Mountpoint taken */
#define PD_VOLUME_MOUNTPOINT_MAX 4096

/* TRUE when the 200 answer to @target ("/VolumeDriver.Mount") carries Mountpoints: Mount,
 * Path, Get, List */
gboolean pd_volume_answer_has_mountpoints (const char *target);

/* The host path of the plugin's @mountpoint. @propagated_mount: the config's PropagatedMount
 * (NULL or "" for none); @host_dirfd: the propagated-mount dir on the host (O_PATH is
 * enough), whose path is @host_dir. @must_exist: the Mountpoint of a Mount. Errors
 * (PD_ERROR_FAILED) quote the plugin's path escaped. Any thread. */
char *pd_volume_map_mountpoint (const char *mountpoint,
                                const char *propagated_mount,
                                const char *host_dir,
                                int host_dirfd,
                                gboolean must_exist,
                                GError **error);

/* The 200 answer @data (@len bytes) of a plugin to @target, rewritten as described above,
 * except that a volume named in @pinned (volume name -> path, may be NULL) gets that path as
 * its Mountpoint, unchecked (the volume of Mount and Path, and of Get when the answer has no
 * Name, is @request_name, the engine's request's Name; may be NULL):
 * the new body, or NULL with @error (PD_ERROR_FAILED, or PD_ERROR_LIMITS_EXCEEDED /
 * PD_ERROR_INVALID_ARGS from pd_json_parse()). Any thread. */
GBytes *pd_volume_rewrite_answer (const char *target,
                                  const char *data,
                                  gsize len,
                                  const char *propagated_mount,
                                  const char *host_dir,
                                  int host_dirfd,
                                  const char *request_name,
                                  GHashTable *pinned,
                                  GError **error);

G_END_DECLS
