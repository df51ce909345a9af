/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A plugin's log, owned by its runner: stdout and stderr (merged) are appended as they come to
 * <log_dir>/<id>.log (0600), which is renamed to <id>.log.1 when it would pass
 * PD_PLUGIN_LOG_MAX_SIZE, so at most twice that is on disk. A plugin flooding its output costs
 * a bounded buffer: the runner reads it in bounded chunks, so the plugin is throttled by its
 * pipe and never buffered in memory. OpenLog readers get a pipe each (pd_plugin_log_open_reader()).
 *
 * The output itself never goes into an error message (those become LastErrorMessage and job
 * results, which every local user may read, and a plugin's output may hold its secrets):
 * pd_plugin_log_had_output() only says whether there is anything to look at.
 */

/* the log file's cap before rotation */
#define PD_PLUGIN_LOG_MAX_SIZE (1024 * 1024)
/* concurrent OpenLog readers per plugin (more is PD_ERROR_LIMITS_EXCEEDED) */
#define PD_PLUGIN_LOG_MAX_READERS 16

typedef struct _PdPluginLog PdPluginLog;

/* the log of the plugin @id in @log_dir (an existing dir); opens nothing yet */
PdPluginLog *pd_plugin_log_new (const char *log_dir, const char *id);
void pd_plugin_log_free (PdPluginLog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPluginLog, pd_plugin_log_free)

/* A process starts: opens the file for appending (a failure is logged: the plugin runs without
 * a log file) and forgets whether the last process wrote anything. */
void pd_plugin_log_start (PdPluginLog *log);
/* the process is gone: closes the file */
void pd_plugin_log_stop (PdPluginLog *log);

/* output of the process: to the file (a full disk loses output, never the plugin) and to every
 * following reader */
void pd_plugin_log_append (PdPluginLog *log, const guint8 *data, gsize len);

/* whether the process since pd_plugin_log_start() wrote anything */
gboolean pd_plugin_log_had_output (PdPluginLog *log);

/* Returns the read end (O_CLOEXEC) of a pipe carrying the last @lines lines of the log files
 * (at most the last 1 MiB of them; 0 = none, G_MAXUINT = all of that) and, with @follow, what
 * pd_plugin_log_append() gets afterwards until pd_plugin_log_end_follow(). The write end is
 * non-blocking and written from the main loop: a reader that falls more than 1 MiB behind is
 * dropped (its pipe is closed, so it sees EOF) rather than block the daemon or grow its
 * memory; a reader that closes its end is noticed and dropped at once. -1 with
 * PD_ERROR_LIMITS_EXCEEDED past PD_PLUGIN_LOG_MAX_READERS readers, or PD_ERROR_FAILED. */
int pd_plugin_log_open_reader (PdPluginLog *log, guint lines, gboolean follow, GError **error);

/* followers see EOF once what is queued for them is written */
void pd_plugin_log_end_follow (PdPluginLog *log);

/* drops every reader at once (their pipes close) and closes the file */
void pd_plugin_log_close (PdPluginLog *log);

G_END_DECLS
