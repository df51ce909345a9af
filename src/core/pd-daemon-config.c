/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-config"

#include <errno.h>

#include "pd-consumer.h"
#include "pd-daemon-config.h"
#include "pd-error.h"

static const char *
config_dir (void)
{
  const char *dir = g_getenv ("CONFIGURATION_DIRECTORY");

  /* systemd may pass several dirs separated by ':'; ours is one */
  if (dir != NULL && *dir != '\0' && strchr (dir, ':') == NULL)
    return dir;
  return PLUGIND_CONFIG_DIR;
}

char *
pd_daemon_config_get_default_path (void)
{
  return g_build_filename (config_dir (), "plugind.conf", NULL);
}

PdDaemonConfig *
pd_daemon_config_new_default (void)
{
  PdDaemonConfig *config = g_new0 (PdDaemonConfig, 1);

  config->insecure = g_new0 (char *, 1);
  config->mirrors = g_new0 (char *, 1);
  config->certs_dir = g_build_filename (config_dir (), "certs.d", NULL);
  config->stall_timeout_s = PD_DEFAULT_STALL_TIMEOUT_S;
  config->stall_min_bytes = PD_DEFAULT_STALL_MIN_BYTES;
  config->max_jobs = 16;
  config->max_archive_bytes = G_GUINT64_CONSTANT (8) * 1024 * 1024 * 1024;
  config->max_archive_entries = 1000000;
  config->dockerd_plugin_dir = g_strdup (PD_DEFAULT_DOCKERD_PLUGIN_DIR);
  config->podman_drop_in = g_strdup (PD_DEFAULT_PODMAN_DROP_IN);
  config->answer_timeout_s = PD_CONSUMER_DEFAULT_ANSWER_TIMEOUT_S;
  return config;
}

void
pd_daemon_config_free (PdDaemonConfig *config)
{
  if (config == NULL)
    return;
  g_strfreev (config->insecure);
  g_strfreev (config->mirrors);
  g_free (config->certs_dir);
  g_free (config->dockerd_plugin_dir);
  g_free (config->podman_drop_in);
  g_free (config);
}

/* "a; b;;c " → {"a", "b", "c"} */
static GStrv
split_list (const char *value)
{
  g_auto(GStrv) parts = g_strsplit (value, ";", -1);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *part = g_strstrip (parts[i]);

      if (*part != '\0')
        g_strv_builder_add (builder, part);
    }
  return g_strv_builder_end (builder);
}

static gboolean
host_is_valid (const char *host)
{
  if (*host == '\0' || strchr (host, '/') != NULL || strchr (host, '@') != NULL)
    return FALSE;
  for (const char *p = host; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-.:[]_", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
read_u64 (GKeyFile *file, const char *group, const char *key, guint64 min, guint64 max,
          guint64 *out, GError **error)
{
  g_autofree char *value = g_key_file_get_value (file, group, key, NULL);
  g_autoptr(GError) local_error = NULL;
  guint64 number;

  if (value == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (g_strstrip (value), 10, min, max, &number, &local_error))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "[%s] %s: %s", group, key,
                   local_error->message);
      return FALSE;
    }
  *out = number;
  return TRUE;
}

static gboolean
read_registries (PdDaemonConfig *config, GKeyFile *file, GError **error)
{
  g_autofree char *insecure = g_key_file_get_value (file, "Registries", "Insecure", NULL);
  g_autofree char *mirrors = g_key_file_get_value (file, "Registries", "Mirrors", NULL);

  if (insecure != NULL)
    {
      g_strfreev (config->insecure);
      config->insecure = split_list (insecure);
      for (guint i = 0; config->insecure[i] != NULL; i++)
        {
          char *lower = g_ascii_strdown (config->insecure[i], -1);

          g_free (config->insecure[i]);
          config->insecure[i] = lower;
          if (!host_is_valid (lower))
            {
              g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                           "[Registries] Insecure: \"%s\" is not a host[:port]", lower);
              return FALSE;
            }
        }
    }
  if (mirrors != NULL)
    {
      g_strfreev (config->mirrors);
      config->mirrors = split_list (mirrors);
      for (guint i = 0; config->mirrors[i] != NULL; i++)
        {
          char *mirror = config->mirrors[i];
          gsize len = strlen (mirror);

          if (!g_str_has_prefix (mirror, "https://") && !g_str_has_prefix (mirror, "http://"))
            {
              g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                           "[Registries] Mirrors: \"%s\" is not an http(s):// URL", mirror);
              return FALSE;
            }
          while (len > 0 && mirror[len - 1] == '/')
            mirror[--len] = '\0';
        }
    }
  return TRUE;
}

static gboolean
read_sandbox (PdDaemonConfig *config, GKeyFile *file, GError **error)
{
  g_autofree char *capabilities = g_key_file_get_value (file, "Sandbox", "Capabilities", NULL);

  if (capabilities == NULL)
    return TRUE;
  g_strstrip (capabilities);
  if (g_str_equal (capabilities, "docker"))
    config->only_requested_capabilities = FALSE;
  else if (g_str_equal (capabilities, "requested"))
    config->only_requested_capabilities = TRUE;
  else
    {
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                   "[Sandbox] Capabilities: \"%s\" is neither \"docker\" nor \"requested\"",
                   capabilities);
      return FALSE;
    }
  return TRUE;
}

/* Engine= (a boolean) and its path key: @path is set to NULL when the engine is off */
static gboolean
read_engine (GKeyFile *file, const char *engine, const char *path_key, const char *suffix,
             char **path, GError **error)
{
  const char *group = "ContainerEngines";
  g_autofree char *on = g_key_file_get_value (file, group, engine, NULL);
  g_autofree char *value = g_key_file_get_value (file, group, path_key, NULL);

  if (value != NULL)
    {
      g_strstrip (value);
      if (!g_path_is_absolute (value) || strstr (value, "/../") != NULL ||
          g_str_has_suffix (value, "/..") || !g_str_has_suffix (value, suffix) ||
          g_str_equal (value, "/"))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                       "[%s] %s: \"%s\" is not an absolute path%s%s", group, path_key, value,
                       *suffix != '\0' ? " ending in " : "", suffix);
          return FALSE;
        }
      g_free (*path);
      *path = g_steal_pointer (&value);
    }
  if (on != NULL)
    {
      g_strstrip (on);
      if (g_str_equal (on, "false"))
        g_clear_pointer (path, g_free);
      else if (!g_str_equal (on, "true"))
        {
          g_set_error (error, PD_ERROR, PD_ERROR_FAILED,
                       "[%s] %s: \"%s\" is neither \"true\" nor \"false\"", group, engine, on);
          return FALSE;
        }
    }
  return TRUE;
}

PdDaemonConfig *
pd_daemon_config_load (const char *path, GError **error)
{
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autofree char *default_path = NULL;
  g_autoptr(GError) local_error = NULL;
  guint64 max_jobs = config->max_jobs;
  guint64 stall_timeout = config->stall_timeout_s;
  guint64 answer_timeout = config->answer_timeout_s;

  if (path == NULL)
    path = default_path = pd_daemon_config_get_default_path ();
  if (!g_key_file_load_from_file (file, path, G_KEY_FILE_NONE, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&config);
      g_set_error (error, PD_ERROR, PD_ERROR_FAILED, "%s: %s", path, local_error->message);
      return NULL;
    }

  if (!read_registries (config, file, error) ||
      !read_sandbox (config, file, error) ||
      !read_u64 (file, "Registries", "StallTimeout", 1, 3600, &stall_timeout, error) ||
      !read_u64 (file, "Registries", "StallMinBytes", 1, G_MAXUINT32, &config->stall_min_bytes,
                 error) ||
      !read_u64 (file, "Limits", "MaxJobs", 1, 1024, &max_jobs, error) ||
      !read_u64 (file, "Limits", "MaxArchiveBytes", 1, G_MAXUINT64, &config->max_archive_bytes,
                 error) ||
      !read_u64 (file, "Limits", "MaxArchiveEntries", 1, G_MAXUINT64,
                 &config->max_archive_entries, error) ||
      !read_engine (file, "Dockerd", "DockerdPluginDir", "", &config->dockerd_plugin_dir,
                    error) ||
      !read_engine (file, "Podman", "PodmanDropIn", ".conf", &config->podman_drop_in, error) ||
      !read_u64 (file, "ContainerEngines", "AnswerTimeout", 1, 3600, &answer_timeout, error))
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  config->max_jobs = (guint) max_jobs;
  config->stall_timeout_s = (guint) stall_timeout;
  config->answer_timeout_s = (guint) answer_timeout;
  return g_steal_pointer (&config);
}

gboolean
pd_daemon_config_is_insecure (const PdDaemonConfig *config, const char *host)
{
  for (guint i = 0; config->insecure[i] != NULL; i++)
    if (g_ascii_strcasecmp (config->insecure[i], host) == 0)
      return TRUE;
  return FALSE;
}
