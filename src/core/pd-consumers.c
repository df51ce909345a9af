/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-consumer"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pd-activate.h"
#include "pd-consumer.h"
#include "pd-consumers.h"
#include "pd-sandbox-start.h"
#include "pd-error.h"
#include "pd-fs-util.h"

typedef struct {
  char *id;
  char *name;            /* the plugin's, for messages */
  char *engine_name;     /* NULL: not published */
  PdConsumer *consumer;
  char *socket_path;     /* <runtime>/consumers/<short id>.sock */
  char *pin_dir;         /* <runtime>/consumers/pins/<id>: its volumes' pins */
  char *dockerd_path;    /* published for dockerd there, or NULL */
  gboolean podman_allowed;  /* no other podman configuration file has its name */
  gboolean podman;       /* in the podman drop-in */
} Entry;

struct _PdConsumers {
  char *dir;             /* <runtime>/consumers */
  char *dockerd_dir;     /* NULL: not published for dockerd */
  char *podman_drop_in;  /* NULL: not published for podman */
  guint answer_timeout_s;
  GHashTable *entries;   /* id → Entry */
};

/* section: names */

char *
pd_consumers_engine_name (const char *plugin_name)
{
  g_autofree char *name = NULL;

  if (g_str_has_suffix (plugin_name, ":latest"))
    name = g_strndup (plugin_name, strlen (plugin_name) - strlen (":latest"));
  else
    name = g_strdup (plugin_name);
  /* the engines' own drivers: dockerd's "local", podman's "local" and "image" */
  if (*name == '\0' || strlen (name) > PD_CONSUMERS_ENGINE_NAME_MAX ||
      !g_ascii_isalnum (name[0]) || g_str_equal (name, "local") || g_str_equal (name, "image"))
    return NULL;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("_.-:", *p) == NULL)
      return NULL;
  return g_steal_pointer (&name);
}

/* section: names other programs have already
 *
 * A plugin published under a name an engine already knows from elsewhere would take over the
 * volumes of that other plugin, and what containers write to them: someone allowed to install
 * a plugin without privileges must not be able to do that. So a name that dockerd or podman
 * finds elsewhere is not published for that engine. */

/* dockerd looks for spec files there (moby's pkg/plugins) */
static const char *const dockerd_spec_dirs[] = {
  "/etc/docker/plugins", "/usr/lib/docker/plugins", NULL,
};

/* podman reads these, and the drop-ins in the dirs (containers/common's pkg/config) */
static const char *const podman_configs[] = {
  "/usr/share/containers/containers.conf", "/etc/containers/containers.conf",
  "/usr/share/containers/containers.conf.d", "/etc/containers/containers.conf.d", NULL,
};

/* the largest configuration file of podman's that is read */
#define PODMAN_CONFIG_MAX (1024 * 1024)

char *
pd_consumers_dockerd_conflict (const char *dockerd_dir, const char *const *spec_dirs,
                               const char *name)
{
  g_autofree char *first = g_strconcat (name, ".sock", NULL);
  g_autofree char *path = g_build_filename (dockerd_dir, first, NULL);
  struct stat st;

  /* dockerd takes <dir>/NAME.sock before <dir>/NAME/NAME.sock */
  if (lstat (path, &st) == 0)
    return g_steal_pointer (&path);
  for (guint i = 0; spec_dirs != NULL && spec_dirs[i] != NULL; i++)
    for (guint k = 0; k < 2; k++)
      {
        g_autofree char *spec_name = g_strconcat (name, k == 0 ? ".spec" : ".json", NULL);
        g_autofree char *spec = g_build_filename (spec_dirs[i], spec_name, NULL);

        if (lstat (spec, &st) == 0)
          return g_steal_pointer (&spec);
      }
  return NULL;
}

/* the keys under [engine.volume_plugins] of the TOML @text: a line scan, which takes the
 * forms containers.conf files use (bare and quoted keys, comments) */
static void
scan_volume_plugins (const char *text, GHashTable *names)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean in_table = FALSE;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      const char *end;

      if (*line == '\0' || *line == '#')
        continue;
      if (*line == '[')
        {
          g_autoptr(GString) header = g_string_new (NULL);

          for (const char *p = line; *p != '\0' && *p != '#'; p++)
            if (*p != ' ' && *p != '\t' && *p != '"' && *p != '\'')
              g_string_append_c (header, *p);
          in_table = g_str_equal (header->str, "[engine.volume_plugins]");
          continue;
        }
      if (!in_table)
        continue;
      if (*line == '"' || *line == '\'')
        {
          end = strchr (line + 1, *line);
          if (end != NULL)
            g_hash_table_add (names, g_strndup (line + 1, (gsize) (end - line - 1)));
          continue;
        }
      end = line + strcspn (line, " \t=");
      if (end > line)
        g_hash_table_add (names, g_strndup (line, (gsize) (end - line)));
    }
}

GHashTable *
pd_consumers_podman_other_names (const char *const *configs, const char *own)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; configs != NULL && configs[i] != NULL; i++)
    {
      g_autoptr(GPtrArray) entries = pd_list_dir_at (AT_FDCWD, configs[i], NULL);
      g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);

      if (entries == NULL)
        g_ptr_array_add (files, g_strdup (configs[i]));
      else
        for (guint k = 0; k < entries->len; k++)
          if (g_str_has_suffix (g_ptr_array_index (entries, k), ".conf"))
            g_ptr_array_add (files, g_build_filename (configs[i],
                                                      g_ptr_array_index (entries, k), NULL));
      for (guint k = 0; k < files->len; k++)
        {
          const char *file = g_ptr_array_index (files, k);
          g_autoptr(GBytes) bytes = NULL;
          g_autofree char *text = NULL;

          if (own != NULL && g_str_equal (file, own))
            continue;
          bytes = pd_read_file_at (AT_FDCWD, file, PODMAN_CONFIG_MAX, NULL);
          if (bytes == NULL)
            continue;
          text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
          scan_volume_plugins (text, names);
        }
    }
  return names;
}

/* section: dockerd */

/* whether someone listens on the socket @name of @dirfd */
static gboolean
socket_is_live (int dirfd, const char *name)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  gboolean live;

  g_snprintf (addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dirfd, name);
  live = fd >= 0 && (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0 ||
                     errno == EAGAIN);
  pd_close_keep_errno (fd);
  return live;
}

/* <DockerdPluginDir>/NAME/NAME.sock: a real socket in that form is what dockerd lists before
 * its first use of a plugin */
static void
publish_dockerd (PdConsumers *self, Entry *entry)
{
  g_autofree char *sub = g_build_filename (self->dockerd_dir, entry->engine_name, NULL);
  g_autofree char *sock_name = g_strconcat (entry->engine_name, ".sock", NULL);
  g_autofree char *path = g_build_filename (sub, sock_name, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *conflict = pd_consumers_dockerd_conflict (
    self->dockerd_dir, dockerd_spec_dirs, entry->engine_name);
  struct stat st;
  int dirfd;

  if (conflict != NULL)
    {
      g_warning ("plugin %s is not published for dockerd: dockerd knows a plugin %s from %s",
                 entry->name, entry->engine_name, conflict);
      return;
    }
  if (g_mkdir_with_parents (self->dockerd_dir, 0700) < 0 ||
      (mkdir (sub, 0700) < 0 && errno != EEXIST))
    {
      g_warning ("plugin %s is not published for dockerd: cannot make %s: %s", entry->name,
                 sub, g_strerror (errno));
      return;
    }
  dirfd = open (sub, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0 || fstat (dirfd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 0077) != 0)
    {
      g_warning ("plugin %s is not published for dockerd: %s is not a dir of root's alone",
                 entry->name, sub);
      pd_close_keep_errno (dirfd);
      return;
    }
  if (fstatat (dirfd, sock_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      if (!S_ISSOCK (st.st_mode) || socket_is_live (dirfd, sock_name))
        {
          g_warning ("plugin %s is not published for dockerd: another program has %s",
                     entry->name, path);
          close (dirfd);
          return;
        }
      /* left by a plugind that was killed, or a plugin that is gone */
      unlinkat (dirfd, sock_name, 0);
    }
  close (dirfd);
  if (!pd_consumer_listen (entry->consumer, path, &error))
    {
      g_warning ("plugin %s is not published for dockerd: %s", entry->name, error->message);
      rmdir (sub);
      return;
    }
  entry->dockerd_path = g_steal_pointer (&path);
}

static void
unpublish_dockerd (Entry *entry)
{
  g_autofree char *sub = NULL;

  if (entry->dockerd_path == NULL)
    return;
  pd_consumer_unlisten (entry->consumer, entry->dockerd_path);
  sub = g_path_get_dirname (entry->dockerd_path);
  /* a dir that holds more than the socket is not only ours */
  if (rmdir (sub) < 0 && errno != ENOENT)
    g_debug ("%s stays: %s", sub, g_strerror (errno));
  g_clear_pointer (&entry->dockerd_path, g_free);
}

/* section: podman */

/* a TOML basic string */
static void
append_toml_string (GString *out, const char *text)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_printf (out, "\\%c", *p);
      else if ((guchar) *p < 0x20 || *p == 0x7f)
        g_string_append_printf (out, "\\u%04x", (guchar) *p);
      else
        g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static gint
compare_entries_by_engine_name (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 ((*(Entry **) a)->engine_name, (*(Entry **) b)->engine_name);
}

static void
write_podman_drop_in (PdConsumers *self)
{
  g_autoptr(GPtrArray) published = g_ptr_array_new ();
  g_autoptr(GString) text = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *base = NULL;
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  gpointer value;
  int dirfd;

  if (self->podman_drop_in == NULL)
    return;
  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Entry *) value)->podman)
      g_ptr_array_add (published, value);
  if (published->len == 0)
    {
      if (unlink (self->podman_drop_in) < 0 && errno != ENOENT)
        g_warning ("cannot remove %s: %s", self->podman_drop_in, g_strerror (errno));
      return;
    }
  g_ptr_array_sort (published, compare_entries_by_engine_name);
  text = g_string_new ("# Written by plugind: the volume plugins it serves to podman, each "
                       "with its\n# consumer socket (plugind(8), [ContainerEngines] of "
                       "plugind.conf). plugind rewrites\n# this file whenever one is enabled "
                       "or disabled: do not edit it.\n[engine.volume_plugins]\n");
  for (guint i = 0; i < published->len; i++)
    {
      Entry *entry = g_ptr_array_index (published, i);

      append_toml_string (text, entry->engine_name);
      g_string_append (text, " = ");
      append_toml_string (text, entry->socket_path);
      g_string_append_c (text, '\n');
    }
  dir = g_path_get_dirname (self->podman_drop_in);
  base = g_path_get_basename (self->podman_drop_in);
  if (g_mkdir_with_parents (dir, 0755) < 0)
    {
      g_warning ("cannot make %s: %s", dir, g_strerror (errno));
      return;
    }
  /* not O_PATH: the dir is synced after the rename */
  dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    {
      g_warning ("cannot open %s: %s", dir, g_strerror (errno));
      return;
    }
  if (!pd_file_write_atomic_at (dirfd, base, text->str, text->len, 0644, &error))
    g_warning ("cannot write %s: %s", self->podman_drop_in, error->message);
  close (dirfd);
}

/* section: entries */

static void
entry_free (Entry *entry)
{
  unpublish_dockerd (entry);
  g_clear_pointer (&entry->consumer, pd_consumer_free);
  if (entry->pin_dir != NULL && rmdir (entry->pin_dir) < 0 && errno != ENOENT)
    g_warning ("cannot remove %s: %s", entry->pin_dir, g_strerror (errno));
  g_free (entry->pin_dir);
  g_free (entry->id);
  g_free (entry->name);
  g_free (entry->engine_name);
  g_free (entry->socket_path);
  g_free (entry);
}

/* the pins a plugind that was killed left in <dir>/pins/<id>/<volume>: unmounted and
 * removed (plugind's own dirs, written by nobody else) */
static void
release_leftover_pins (const char *dir)
{
  g_autofree char *pins = g_build_filename (dir, "pins", NULL);
  g_autoptr(GDir) plugins = g_dir_open (pins, 0, NULL);
  const char *id;

  if (plugins == NULL)
    return;
  while ((id = g_dir_read_name (plugins)) != NULL)
    {
      g_autofree char *plugin_dir = g_build_filename (pins, id, NULL);
      g_autoptr(GDir) volumes = g_dir_open (plugin_dir, 0, NULL);
      const char *volume;

      while (volumes != NULL && (volume = g_dir_read_name (volumes)) != NULL)
        {
          g_autofree char *path = g_build_filename (plugin_dir, volume, NULL);
          g_autoptr(GError) error = NULL;

          if (!pd_sandbox_release_propagated_mount (path, NULL, &error))
            g_warning ("cannot unmount the pin %s: %s", path, error->message);
          else if (rmdir (path) < 0)
            g_warning ("cannot remove %s: %s", path, g_strerror (errno));
        }
      if (rmdir (plugin_dir) < 0 && errno != ENOENT)
        g_warning ("cannot remove %s: %s", plugin_dir, g_strerror (errno));
    }
}

PdConsumers *
pd_consumers_new (const PdDaemonConfig *config, const char *runtime_dir)
{
  PdConsumers *self = g_new0 (PdConsumers, 1);

  self->dir = g_build_filename (runtime_dir, "consumers", NULL);
  self->dockerd_dir = g_strdup (config->dockerd_plugin_dir);
  self->podman_drop_in = g_strdup (config->podman_drop_in);
  self->answer_timeout_s = config->answer_timeout_s;
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) entry_free);
  release_leftover_pins (self->dir);
  return self;
}

void
pd_consumers_free (PdConsumers *self)
{
  if (self == NULL)
    return;
  pd_consumers_close_all (self);
  g_hash_table_unref (self->entries);
  g_free (self->dir);
  g_free (self->dockerd_dir);
  g_free (self->podman_drop_in);
  g_free (self);
}


static gboolean
engine_name_taken (PdConsumers *self, const char *engine_name)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (g_strcmp0 (((Entry *) value)->engine_name, engine_name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
socket_path_taken (PdConsumers *self, const char *path)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (g_str_equal (((Entry *) value)->socket_path, path))
      return TRUE;
  return FALSE;
}

static Entry *
entry_new (PdConsumers *self, PdManagedPlugin *plugin)
{
  g_autoptr(GError) error = NULL;
  const char *id = pd_managed_plugin_get_id (plugin);
  /* the short ID, as Docker shows it, keeps the path well within sun_path (108 bytes); the
   * whole ID in the unlikely case that another enabled plugin's starts the same */
  g_autofree char *short_name = g_strdup_printf ("%.*s.sock", PD_CONSUMERS_SHORT_ID, id);
  g_autofree char *short_path = g_build_filename (self->dir, short_name, NULL);
  g_autofree char *sock_name = socket_path_taken (self, short_path)
                                 ? g_strconcat (id, ".sock", NULL)
                                 : g_steal_pointer (&short_name);
  g_autofree char *engine_name = pd_consumers_engine_name (pd_managed_plugin_get_name (plugin));
  Entry *entry;

  entry = g_new0 (Entry, 1);
  entry->id = g_strdup (id);
  entry->name = g_strdup (pd_managed_plugin_get_name (plugin));
  entry->socket_path = g_build_filename (self->dir, sock_name, NULL);
  entry->pin_dir = g_build_filename (self->dir, "pins", id, NULL);
  entry->consumer = pd_consumer_new (entry->name, &error);
  /* the dir is ours: whatever is at the path was left by a plugind that was killed */
  if (entry->consumer != NULL && unlink (entry->socket_path) < 0 && errno != ENOENT)
    pd_set_error_from_errno (&error, errno, "cannot remove %s", entry->socket_path);
  if (error == NULL && pd_mkdir_with_mode (entry->pin_dir, 0700, &error))
    pd_consumer_set_pin_dir (entry->consumer, entry->pin_dir);
  if (error != NULL || !pd_consumer_listen (entry->consumer, entry->socket_path, &error))
    {
      g_warning ("plugin %s gets no consumer socket: %s", entry->name, error->message);
      entry_free (entry);
      return NULL;
    }
  if (engine_name == NULL)
    g_warning ("plugin %s is not published for container engines: engines take a name of at "
               "most %u ASCII letters, digits, '_', '.', '-' and ':' (install it under such a "
               "local name)", entry->name, PD_CONSUMERS_ENGINE_NAME_MAX);
  else if (engine_name_taken (self, engine_name))
    g_warning ("plugin %s is not published for container engines: another plugin is "
               "published as %s", entry->name, engine_name);
  else
    entry->engine_name = g_steal_pointer (&engine_name);
  g_hash_table_insert (self->entries, entry->id, entry);
  if (entry->engine_name == NULL)
    return entry;

  /* published once, when it gets its socket: a failure is not tried again at every change of
   * its state, nor warned about */
  if (self->dockerd_dir != NULL)
    publish_dockerd (self, entry);
  if (self->podman_drop_in != NULL)
    {
      g_autoptr(GHashTable) others = pd_consumers_podman_other_names (podman_configs,
                                                                      self->podman_drop_in);

      entry->podman_allowed = !g_hash_table_contains (others, entry->engine_name);
      if (!entry->podman_allowed)
        g_warning ("plugin %s is not published for podman: another configuration file of "
                   "podman's has a volume plugin %s", entry->name, entry->engine_name);
    }
  return entry;
}

static gboolean
is_volume_driver (const PdPluginConfig *config)
{
  for (guint i = 0; config->interface_types != NULL && config->interface_types[i] != NULL; i++)
    if (g_ascii_strncasecmp (config->interface_types[i], "docker.volumedriver/",
                             strlen ("docker.volumedriver/")) == 0)
      return TRUE;
  return FALSE;
}

static void
set_target (PdConsumers *self, Entry *entry, PdManagedPlugin *plugin)
{
  PdRunner *runner = pd_managed_plugin_get_runner (plugin);
  PdPluginRecord *record = pd_managed_plugin_get_record (plugin);
  const PdPluginConfig *config = pd_plugin_record_get_config (record);
  PdPluginState state = pd_runner_get_state (runner);
  gboolean running = state == PD_PLUGIN_STATE_RUNNING && *pd_runner_get_socket (runner) != '\0';
  g_auto(GStrv) from_config = pd_activate_implements_from_config (config);
  g_autofree char *propagated_dir = pd_managed_plugin_dup_propagated_mount_dir (plugin);
  PdConsumerTarget target = {
    .state = pd_plugin_state_to_string (state),
    .socket_path = running ? pd_runner_get_socket (runner) : NULL,
    .implements = running ? pd_runner_get_implements (runner)
                          : (const char *const *) from_config,
    .propagated_mount = config->propagated_mount,
    .host_propagated_dir = propagated_dir,
    .answer_timeout_s = pd_runner_get_request_timeout (runner) != 0
                          ? pd_runner_get_request_timeout (runner)
                          : self->answer_timeout_s,
  };

  pd_consumer_set_target (entry->consumer, &target);
}

void
pd_consumers_update (PdConsumers *self, PdManagedPlugin *plugin)
{
  PdPluginRecord *record = pd_managed_plugin_get_record (plugin);
  const PdPluginConfig *config = pd_plugin_record_get_config (record);
  Entry *entry = g_hash_table_lookup (self->entries, pd_managed_plugin_get_id (plugin));
  gboolean wanted = !pd_managed_plugin_is_removed (plugin) &&
                    pd_plugin_record_get_enabled (record) &&
                    config->interface_socket != NULL && *config->interface_socket != '\0';
  gboolean podman;

  if (!wanted)
    {
      if (entry != NULL)
        pd_consumers_remove (self, plugin);
      return;
    }
  if (entry == NULL)
    {
      entry = entry_new (self, plugin);
      if (entry == NULL)
        return;
    }
  set_target (self, entry, plugin);
  /* a volume driver, still after an upgrade */
  podman = entry->podman_allowed && is_volume_driver (config);
  if (podman != entry->podman)
    {
      entry->podman = podman;
      write_podman_drop_in (self);
    }
}

void
pd_consumers_remove (PdConsumers *self, PdManagedPlugin *plugin)
{
  Entry *entry = g_hash_table_lookup (self->entries, pd_managed_plugin_get_id (plugin));
  gboolean podman;

  if (entry == NULL)
    return;
  podman = entry->podman;
  g_hash_table_remove (self->entries, pd_managed_plugin_get_id (plugin));
  if (podman)
    write_podman_drop_in (self);
}

void
pd_consumers_sync (PdConsumers *self)
{
  write_podman_drop_in (self);
}

void
pd_consumers_close_all (PdConsumers *self)
{
  gboolean podman = FALSE;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    podman |= ((Entry *) value)->podman;
  g_hash_table_remove_all (self->entries);
  if (podman)
    write_podman_drop_in (self);
}

const char *
pd_consumers_get_socket (PdConsumers *self, const char *id)
{
  Entry *entry = g_hash_table_lookup (self->entries, id);

  return entry != NULL ? entry->socket_path : NULL;
}
