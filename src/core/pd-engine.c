/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-engine"

#include "pd-engine.h"
#include "pd-fs-util.h"

struct _PdEngine {
  GObject parent_instance;

  PdStore *store;
  PdDaemonConfig *config;
  PdFetchTable *fetches;   /* blobs being downloaded, shared by every operation's thread */
  char *helper_path;
  char *runtime_dir;
};

G_DEFINE_TYPE (PdEngine, pd_engine, G_TYPE_OBJECT)

static void
pd_engine_finalize (GObject *object)
{
  PdEngine *self = PD_ENGINE (object);

  g_clear_object (&self->store);
  g_clear_pointer (&self->config, pd_daemon_config_free);
  g_clear_pointer (&self->fetches, pd_fetch_table_free);
  g_free (self->helper_path);
  g_free (self->runtime_dir);

  G_OBJECT_CLASS (pd_engine_parent_class)->finalize (object);
}

static void
pd_engine_class_init (PdEngineClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pd_engine_finalize;
}

static void
pd_engine_init (PdEngine *self)
{
}

PdEngine *
pd_engine_new (const char *state_dir, const char *runtime_dir, GError **error)
{
  g_autoptr(PdEngine) self = g_object_new (PD_TYPE_ENGINE, NULL);
  g_autofree char *plugins_dir = g_build_filename (runtime_dir, "plugins", NULL);
  g_autofree char *logs_dir = g_build_filename (runtime_dir, "logs", NULL);

  self->config = pd_daemon_config_load (NULL, error);
  if (self->config == NULL)
    return NULL;
  self->fetches = pd_fetch_table_new ();
  if (!pd_mkdir_with_mode (state_dir, 0700, error) ||
      !pd_mkdir_with_mode (runtime_dir, 0700, error) ||
      !pd_mkdir_with_mode (plugins_dir, 0700, error) ||
      !pd_mkdir_with_mode (logs_dir, 0700, error))
    return NULL;
  self->store = pd_store_new (state_dir, error);
  if (self->store == NULL)
    return NULL;
  self->runtime_dir = g_strdup (runtime_dir);
  self->helper_path = g_strdup (pd_archive_get_helper_path ());
  return g_steal_pointer (&self);
}

PdStore *
pd_engine_get_store (PdEngine *self)
{
  return self->store;
}

const PdDaemonConfig *
pd_engine_get_config (PdEngine *self)
{
  return self->config;
}

PdFetchTable *
pd_engine_get_fetch_table (PdEngine *self)
{
  return self->fetches;
}

void
pd_engine_get_archive_limits (PdEngine *self, PdArchiveLimits *limits)
{
  pd_archive_limits_init (limits);
  limits->max_bytes = self->config->max_archive_bytes;
  limits->max_entries = self->config->max_archive_entries;
}

const char *
pd_engine_get_helper_path (PdEngine *self)
{
  return self->helper_path;
}

const char *
pd_engine_get_runtime_dir (PdEngine *self)
{
  return self->runtime_dir;
}

guint
pd_engine_get_max_jobs (PdEngine *self)
{
  return self->config->max_jobs;
}
