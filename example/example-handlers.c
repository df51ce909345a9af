/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* plugind-example's plugin protocol: /Plugin.Activate and Docker's volume plugin API
 * (VolumeDriver.*), answered from the dispatch table at the end; add a row per endpoint.
 * Operation errors are answered with a 200 and an "Err" (Docker's convention), bodies that are
 * no valid request with a 400 */

#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "example.h"

typedef void (*handler_func) (const struct request *req, struct response *resp);

struct volume_request {
  char name[1024];
  char id[1024];
  char option[256];        /* the first key of Opts */
  bool has_option;
};

/* responses */

static void
respond_json (struct response *resp, int status, const char *json)
{
  resp->status = status;
  resp->body = strdup (json);
}

static void
respond_buffer (struct response *resp, struct strbuf *sb)
{
  resp->status = 200;
  resp->body = strbuf_finish (sb);
}

/* {"Err": message} with an HTTP status: the protocol's errors (bad request, unknown endpoint) */
void
respond_error (struct response *resp, int status, const char *message)
{
  struct strbuf sb = { 0 };

  strbuf_append (&sb, "{\"Err\":");
  strbuf_append_json_string (&sb, message);
  strbuf_append (&sb, "}");
  resp->status = status;
  resp->body = strbuf_finish (&sb);
}

static void respond_failure (struct response *resp, const char *what, const char *format, ...)
  __attribute__((format (printf, 3, 4)));

/* an operation that failed: Docker's convention is a 200 whose "Err" is not empty */
static void
respond_failure (struct response *resp, const char *what, const char *format, ...)
{
  char message[1024];
  va_list args;

  va_start (args, format);
  vsnprintf (message, sizeof message, format, args);
  va_end (args);
  log_debug ("%s: %s", what, message);
  respond_error (resp, 200, message);
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

/* a string value into @out (when not NULL), or null, which leaves @out as it is */
static bool
json_string_or_null (struct json *js, char *out, size_t out_size, const char *type_error)
{
  if (json_take_null (js))
    return true;
  json_skip_space (js);
  if (js->p < js->end && *js->p != '"')
    return json_fail (js, type_error);
  return json_string (js, out, out_size, NULL);
}

/* Opts, a map[string]string or null: only its first key is kept, for the error message */
static bool
parse_opts (struct json *js, struct volume_request *vr)
{
  if (json_take_null (js))
    return true;
  if (!json_take (js, '{'))
    return json_fail (js, "Opts must be an object");
  vr->has_option = false;
  if (json_take (js, '}'))
    return true;
  do
    {
      char option[sizeof vr->option];
      bool truncated;

      if (!json_string (js, option, sizeof option, &truncated))
        return false;
      if (!json_take (js, ':'))
        return json_fail (js, "expected ':'");
      if (!json_string_or_null (js, NULL, 0, "option values must be strings"))
        return false;
      if (!vr->has_option)
        memcpy (vr->option, option, sizeof option);
      vr->has_option = true;
    }
  while (json_take (js, ','));
  return json_take (js, '}') || json_fail (js, "expected ',' or '}'");
}

/* the members of the request object, after its '{' */
static bool
parse_members (struct json *js, struct volume_request *vr)
{
  if (json_take (js, '}'))
    return true;
  do
    {
      char key[32];
      bool truncated;
      bool ok;

      if (!json_string (js, key, sizeof key, &truncated))
        return false;
      if (!json_take (js, ':'))
        return json_fail (js, "expected ':'");
      if (truncated)
        ok = json_skip_value (js);
      else if (strcasecmp (key, "Name") == 0)
        ok = json_string_or_null (js, vr->name, sizeof vr->name, "Name must be a string");
      else if (strcasecmp (key, "ID") == 0)
        ok = json_string_or_null (js, vr->id, sizeof vr->id, "ID must be a string");
      else if (strcasecmp (key, "Opts") == 0)
        ok = parse_opts (js, vr);
      else
        ok = json_skip_value (js);
      if (!ok)
        return false;
    }
  while (json_take (js, ','));
  return json_take (js, '}') || json_fail (js, "expected ',' or '}'");
}

/* the body as a volume request. false when it is no JSON object or a field has the wrong type:
 * @resp then holds a 400. An empty body is an empty object (Docker sends none without
 * arguments). Keys match case-insensitively, and a repeated key takes the last value, as with
 * Go's encoding/json on Docker's side; other members are checked and ignored */
static bool
parse_volume_request (const struct request *req, struct response *resp, struct volume_request *vr)
{
  struct json js = { req->body, req->body, req->body + req->body_len, 0, NULL };

  *vr = (struct volume_request) { 0 };
  json_skip_space (&js);
  if (js.p == js.end)
    return true;
  if (!json_take (&js, '{'))
    json_fail (&js, "expected an object");
  else if (parse_members (&js, vr))
    {
      json_skip_space (&js);
      if (js.p != js.end)
        json_fail (&js, "unexpected data after the object");
    }
  if (js.error != NULL)
    {
      char message[256];

      snprintf (message, sizeof message, "invalid request body: %s at byte %zu",
                js.error, (size_t) (js.p - js.start));
      log_debug ("%s: %s", req->path, message);
      respond_error (resp, 400, message);
      return false;
    }
  return true;
}

/* parses the request and checks the volume name; false when @resp holds the answer */
static bool
volume_request_begin (const struct request *req, struct response *resp, struct volume_request *vr)
{
  char quoted[QUOTE_SIZE];

  if (!parse_volume_request (req, resp, vr))
    return false;
  if (!volume_name_valid (vr->name))
    {
      respond_failure (resp, req->path,
                       "invalid volume name %s: a name is 2 to %d characters from "
                       "[a-zA-Z0-9_.-] and starts with a letter or digit",
                       quote (vr->name, quoted), VOLUME_NAME_MAX);
      return false;
    }
  return true;
}

static void
respond_no_such_volume (struct response *resp, const struct request *req, const char *name)
{
  char quoted[QUOTE_SIZE];

  respond_failure (resp, req->path, "no such volume %s", quote (name, quoted));
}

/* handlers: one per endpoint */

static void
handle_plugin_activate (const struct request *req, struct response *resp)
{
  (void) req;
  respond_json (resp, 200, "{\"Implements\":[\"VolumeDriver\"]}");
}

static void
handle_volume_create (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  char quoted[QUOTE_SIZE];
  int fd;

  if (!volume_request_begin (req, resp, &vr))
    return;
  if (vr.has_option)
    {
      respond_failure (resp, req->path, "invalid option %s: this driver takes no options",
                       quote (vr.option, quoted));
      return;
    }
  fd = open_volumes_dir (true);
  if (fd < 0)
    {
      respond_failure (resp, req->path, "%s/volumes: %s", data_dir, strerror (errno));
      return;
    }
  if (mkdirat (fd, vr.name, 0755) == 0)
    {
      /* 0755 whatever the umask */
      int volume_fd = openat (fd, vr.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      if (volume_fd < 0 || fchmod (volume_fd, 0755) < 0)
        {
          int saved = errno;

          respond_failure (resp, req->path, "creating volume %s: %s", quote (vr.name, quoted),
                           strerror (saved));
        }
      else
        {
          log_debug ("%s: created %s", req->path, quote (vr.name, quoted));
          respond_json (resp, 200, "{\"Err\":\"\"}");
        }
      if (volume_fd >= 0)
        close (volume_fd);
    }
  else if (errno == EEXIST && volume_exists_at (fd, vr.name))
    {
      /* creating a volume that exists is fine: Docker may ask again after a restart */
      log_debug ("%s: %s exists", req->path, quote (vr.name, quoted));
      respond_json (resp, 200, "{\"Err\":\"\"}");
    }
  else
    {
      int saved = errno;

      respond_failure (resp, req->path, "creating volume %s: %s", quote (vr.name, quoted),
                       saved == EEXIST ? "a file of that name is in the way" : strerror (saved));
    }
  close (fd);
}

static void
handle_volume_remove (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  char quoted[QUOTE_SIZE];
  unsigned long mounts;
  int fd;

  if (!volume_request_begin (req, resp, &vr))
    return;
  mounts = volume_mount_count (vr.name);
  if (mounts > 0)
    {
      respond_failure (resp, req->path, "volume %s is in use: it is mounted %lu time%s",
                       quote (vr.name, quoted), mounts, mounts == 1 ? "" : "s");
      return;
    }
  fd = open_volumes_dir (false);
  if (fd < 0 || !volume_exists_at (fd, vr.name))
    {
      if (fd >= 0)
        close (fd);
      respond_no_such_volume (resp, req, vr.name);
      return;
    }
  if (remove_tree_at (fd, vr.name, 0) < 0)
    {
      int saved = errno;

      respond_failure (resp, req->path, "removing volume %s: %s", quote (vr.name, quoted),
                       strerror (saved));
    }
  else
    {
      log_debug ("%s: removed %s", req->path, quote (vr.name, quoted));
      respond_json (resp, 200, "{\"Err\":\"\"}");
    }
  close (fd);
}

/* {"Mountpoint": path, "Err": ""}: Mount and Path */
static void
respond_mountpoint (struct response *resp, const char *name)
{
  struct strbuf sb = { 0 };
  char path[PATH_MAX];

  volume_mountpoint (name, path, sizeof path);
  strbuf_append (&sb, "{\"Mountpoint\":");
  strbuf_append_json_string (&sb, path);
  strbuf_append (&sb, ",\"Err\":\"\"}");
  respond_buffer (resp, &sb);
}

static void
handle_volume_mount (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  char quoted[QUOTE_SIZE];
  char quoted_id[QUOTE_SIZE];
  bool first;

  if (!volume_request_begin (req, resp, &vr))
    return;
  if (strlen (vr.id) > MOUNT_ID_MAX)
    {
      respond_failure (resp, req->path, "invalid mount ID %s: longer than %d bytes",
                       quote (vr.id, quoted_id), MOUNT_ID_MAX);
      return;
    }
  if (!volume_exists (vr.name))
    {
      respond_no_such_volume (resp, req, vr.name);
      return;
    }
  first = volume_mount_count (vr.name) == 0;
  if (!mount_ref_add (vr.name, vr.id))
    {
      respond_failure (resp, req->path, "mounting volume %s: too many mounts",
                       quote (vr.name, quoted));
      return;
    }
  /* the first caller mounts it; the others share that mount */
  if (first && volume_mount (vr.name) < 0)
    {
      int saved = errno;

      mount_ref_release (mount_ref_find (vr.name, vr.id));
      respond_failure (resp, req->path, "mounting volume %s at %s: %s", quote (vr.name, quoted),
                       mount_dir, strerror (saved));
      return;
    }
  log_debug ("%s: %s mounted by %s (%lu mounts)", req->path, quote (vr.name, quoted),
             quote (vr.id, quoted_id), volume_mount_count (vr.name));
  respond_mountpoint (resp, vr.name);
}

static void
handle_volume_unmount (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  struct mount_ref *ref;
  char quoted[QUOTE_SIZE];
  char quoted_id[QUOTE_SIZE];

  if (!volume_request_begin (req, resp, &vr))
    return;
  ref = mount_ref_find (vr.name, vr.id);
  if (ref == NULL)
    {
      respond_failure (resp, req->path, "volume %s is not mounted by %s",
                       quote (vr.name, quoted), quote (vr.id, quoted_id));
      return;
    }
  /* the last caller's unmount takes the mount away */
  if (volume_mount_count (vr.name) == 1 && volume_unmount (vr.name) < 0)
    {
      int saved = errno;

      respond_failure (resp, req->path, "unmounting volume %s: %s", quote (vr.name, quoted),
                       strerror (saved));
      return;
    }
  mount_ref_release (ref);
  log_debug ("%s: %s unmounted by %s (%lu mounts left)", req->path, quote (vr.name, quoted),
             quote (vr.id, quoted_id), volume_mount_count (vr.name));
  respond_json (resp, 200, "{\"Err\":\"\"}");
}

static void
handle_volume_path (const struct request *req, struct response *resp)
{
  struct volume_request vr;

  if (!volume_request_begin (req, resp, &vr))
    return;
  if (!volume_exists (vr.name))
    respond_no_such_volume (resp, req, vr.name);
  else
    respond_mountpoint (resp, vr.name);
}

static void
handle_volume_get (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  struct strbuf sb = { 0 };
  char path[PATH_MAX];
  char count[32];

  if (!volume_request_begin (req, resp, &vr))
    return;
  if (!volume_exists (vr.name))
    {
      respond_no_such_volume (resp, req, vr.name);
      return;
    }
  volume_mountpoint (vr.name, path, sizeof path);
  snprintf (count, sizeof count, "%lu", volume_mount_count (vr.name));
  strbuf_append (&sb, "{\"Volume\":{\"Name\":");
  strbuf_append_json_string (&sb, vr.name);
  strbuf_append (&sb, ",\"Mountpoint\":");
  strbuf_append_json_string (&sb, path);
  strbuf_append (&sb, ",\"Status\":{\"Mounts\":");
  strbuf_append (&sb, count);
  strbuf_append (&sb, "}},\"Err\":\"\"}");
  respond_buffer (resp, &sb);
}

/* the directory is the only state: every valid name of a real directory under it is a volume */
static void
handle_volume_list (const struct request *req, struct response *resp)
{
  struct volume_request vr;
  struct strbuf sb = { 0 };
  char **names = NULL;
  size_t n_names = 0;
  size_t allocated = 0;
  struct dirent *entry;
  DIR *dir = NULL;
  int fd;

  if (!parse_volume_request (req, resp, &vr))
    return;
  fd = open_volumes_dir (false);
  if (fd < 0 && errno != ENOENT)
    {
      respond_failure (resp, req->path, "%s/volumes: %s", data_dir, strerror (errno));
      return;
    }
  if (fd >= 0)
    {
      dir = fdopendir (fd);
      if (dir == NULL)
        {
          respond_failure (resp, req->path, "%s/volumes: %s", data_dir, strerror (errno));
          close (fd);
          return;
        }
    }
  while (dir != NULL && (entry = readdir (dir)) != NULL)
    {
      if (!volume_name_valid (entry->d_name) || !volume_exists_at (fd, entry->d_name))
        continue;
      if (n_names == allocated)
        {
          size_t wanted = allocated == 0 ? 16 : allocated * 2;
          char **grown = realloc (names, wanted * sizeof *names);

          if (grown == NULL)
            {
              sb.failed = true;
              break;
            }
          names = grown;
          allocated = wanted;
        }
      names[n_names] = strdup (entry->d_name);
      if (names[n_names] == NULL)
        {
          sb.failed = true;
          break;
        }
      n_names++;
    }
  if (dir != NULL)
    closedir (dir);

  if (n_names > 0)
    qsort (names, n_names, sizeof *names, compare_names);
  strbuf_append (&sb, "{\"Volumes\":[");
  for (size_t i = 0; i < n_names; i++)
    {
      char path[PATH_MAX];

      volume_mountpoint (names[i], path, sizeof path);
      strbuf_append (&sb, i == 0 ? "{\"Name\":" : ",{\"Name\":");
      strbuf_append_json_string (&sb, names[i]);
      strbuf_append (&sb, ",\"Mountpoint\":");
      strbuf_append_json_string (&sb, path);
      strbuf_append (&sb, "}");
      free (names[i]);
    }
  free (names);
  strbuf_append (&sb, "],\"Err\":\"\"}");
  log_debug ("%s: %zu volumes", req->path, n_names);
  respond_buffer (resp, &sb);
}

static void
handle_volume_capabilities (const struct request *req, struct response *resp)
{
  struct volume_request vr;

  if (!parse_volume_request (req, resp, &vr))
    return;
  respond_json (resp, 200, "{\"Capabilities\":{\"Scope\":\"local\"}}");
}

static const struct {
  const char *path;
  handler_func handler;
} dispatch_table[] = {
  { "/Plugin.Activate", handle_plugin_activate },
  { "/VolumeDriver.Create", handle_volume_create },
  { "/VolumeDriver.Remove", handle_volume_remove },
  { "/VolumeDriver.Mount", handle_volume_mount },
  { "/VolumeDriver.Path", handle_volume_path },
  { "/VolumeDriver.Unmount", handle_volume_unmount },
  { "/VolumeDriver.Get", handle_volume_get },
  { "/VolumeDriver.List", handle_volume_list },
  { "/VolumeDriver.Capabilities", handle_volume_capabilities },
};

void
dispatch (const struct request *req, struct response *resp)
{
  for (size_t i = 0; i < sizeof (dispatch_table) / sizeof (dispatch_table[0]); i++)
    {
      if (strcmp (req->path, dispatch_table[i].path) == 0)
        {
          dispatch_table[i].handler (req, resp);
          return;
        }
    }
  {
    char message[sizeof req->path + 32];

    snprintf (message, sizeof message, "unknown endpoint %s", req->path);
    respond_error (resp, 404, message);
  }
}
