/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A volume plugin's answer through a consumer socket, rewritten as the consumer rewrites it,
 * against a propagated-mount dir with volumes, a file and symlinks in it. The first byte picks
 * the call, the rest is the body. What is accepted must be JSON whose every Mountpoint is ""
 * or on the host below the propagated-mount dir. */
#include "config.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "fuzz-common.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-json.h"
#include "pd-volume-answer.h"

static char *host_dir;
static int host_dirfd = -1;

/* the dir goes when the fuzzer exits (a run, the seed replay), not left in the tmp dir */
static void
remove_host_dir (void)
{
  if (host_dirfd >= 0)
    close (host_dirfd);
  pd_rm_rf_at (AT_FDCWD, host_dir, NULL);
}

void
fuzz_setup (void)
{
  g_autofree char *volumes = NULL;
  g_autofree char *file = NULL;
  g_autofree char *up = NULL;

  host_dir = g_dir_make_tmp ("fuzz-volume-answer-XXXXXX", NULL);
  g_assert (host_dir != NULL);
  volumes = g_build_filename (host_dir, "volumes", "v1", NULL);
  g_assert (g_mkdir_with_parents (volumes, 0700) == 0);
  file = g_build_filename (host_dir, "volumes", "file", NULL);
  g_assert (g_file_set_contents (file, "x", 1, NULL));
  up = g_build_filename (host_dir, "volumes", "up", NULL);
  g_assert (symlink ("/", up) == 0);
  host_dirfd = open (host_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  g_assert (host_dirfd >= 0);
  atexit (remove_host_dir);
}

static void
check_mountpoint (JsonObject *object)
{
  const char *mountpoint;

  if (object == NULL || !json_object_has_member (object, "Mountpoint"))
    abort ();
  mountpoint = json_object_get_string_member (object, "Mountpoint");
  if (mountpoint == NULL)
    abort ();
  if (*mountpoint != '\0' && !g_str_equal (mountpoint, host_dir) &&
      !(g_str_has_prefix (mountpoint, host_dir) && mountpoint[strlen (host_dir)] == '/'))
    abort ();
  if (strstr (mountpoint, "/../") != NULL || g_str_has_suffix (mountpoint, "/.."))
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const targets[] = {
    "/VolumeDriver.Mount", "/VolumeDriver.Path", "/VolumeDriver.Get", "/VolumeDriver.List",
  };
  const char *target;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *object;

  if (size < 1)
    return 0;
  target = targets[data[0] % G_N_ELEMENTS (targets)];
  out = pd_volume_rewrite_answer (target, (const char *) data + 1, size - 1, "/pm", host_dir,
                                  host_dirfd, NULL, NULL, &error);
  if ((out == NULL) == (error == NULL))
    abort ();
  if (out == NULL)
    {
      if (error->domain != PD_ERROR)
        abort ();
      return 0;
    }
  root = pd_json_parse (g_bytes_get_data (out, NULL), g_bytes_get_size (out),
                        PD_VOLUME_ANSWER_MAX * 2, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    abort ();
  object = json_node_get_object (root);
  if (!json_object_has_member (object, "Err"))
    abort ();
  if (*json_object_get_string_member (object, "Err") != '\0')
    return 0;
  if (g_str_equal (target, "/VolumeDriver.Mount") || g_str_equal (target, "/VolumeDriver.Path"))
    check_mountpoint (object);
  else if (g_str_equal (target, "/VolumeDriver.Get"))
    {
      JsonNode *volume = json_object_get_member (object, "Volume");

      if (volume != NULL && JSON_NODE_HOLDS_OBJECT (volume))
        check_mountpoint (json_node_get_object (volume));
    }
  else
    {
      JsonNode *volumes = json_object_get_member (object, "Volumes");

      for (guint i = 0; volumes != NULL && JSON_NODE_HOLDS_ARRAY (volumes) &&
                        i < json_array_get_length (json_node_get_array (volumes)); i++)
        {
          JsonNode *v = json_array_get_element (json_node_get_array (volumes), i);

          if (JSON_NODE_HOLDS_OBJECT (v))
            check_mountpoint (json_node_get_object (v));
        }
    }
  return 0;
}
