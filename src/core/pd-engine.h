/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-archive.h"
#include "pd-daemon-config.h"
#include "pd-pull.h"
#include "pd-store.h"

G_BEGIN_DECLS

/*
 * The engine: what every operation of the service works with, and no D-Bus type. It owns the
 * store, the configuration file (read once), the fetch table shared by every download (one
 * layer is downloaded once, however many jobs want it), the limits and the paths of the
 * helper programs. The daemon owns one and mirrors it on the bus; unit tests make their own.
 * Everything here runs on the main thread, except where a function says otherwise.
 */
#define PD_TYPE_ENGINE (pd_engine_get_type ())
G_DECLARE_FINAL_TYPE (PdEngine, pd_engine, PD, ENGINE, GObject)

/* reads the configuration, makes @state_dir and @runtime_dir (with plugins/ and logs/ in it)
 * and opens (and reconciles) the store */
PdEngine *pd_engine_new (const char *state_dir, const char *runtime_dir, GError **error);

PdStore *pd_engine_get_store (PdEngine *self);
/* the configuration file, read once at start; it outlives every operation */
const PdDaemonConfig *pd_engine_get_config (PdEngine *self);
/* thread-safe: shared by the worker threads of every operation */
PdFetchTable *pd_engine_get_fetch_table (PdEngine *self);
/* the archive limits of the configuration */
void pd_engine_get_archive_limits (PdEngine *self, PdArchiveLimits *limits);
/* plugind-extract, which reads every archive confined */
const char *pd_engine_get_helper_path (PdEngine *self);
const char *pd_engine_get_runtime_dir (PdEngine *self);
/* MaxJobs=: how many operations may run at once */
guint pd_engine_get_max_jobs (PdEngine *self);

G_END_DECLS
