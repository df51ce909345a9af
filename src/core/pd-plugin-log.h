/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A plugin's log, owned by its runner. stdout and stderr (merged) are kept in the state dir,
 * so that they outlast a reboot, as records of the form
 *
 *   2026-12-07T09:50:17.123456Z F text of one line\n
 *
 * that is the time the bytes arrived (RFC 3339, UTC, microseconds, always 27 bytes, so that
 * comparing two as strings compares the times), a space, 'F' when the plugin ended the line
 * with a newline or 'P' when it did not (yet), a space, and the bytes of the line without
 * their newline. Every chunk read from the plugin is written at once (nothing waits in memory
 * for the rest of a line); a line that comes in several chunks, or is longer than
 * PD_PLUGIN_LOG_MAX_RECORD, takes several 'P' records and a last 'F'. A process whose output
 * does not end with a newline gets one when it stops. Any byte but newline is kept as it came.
 *
 * The files are <log_dir>/<id>.log and its older generations <id>.log.1 … <id>.log.<N-1>
 * (N = PD_PLUGIN_LOG_FILES; 0600 in a 0700 dir): before a write would make <id>.log larger
 * than PD_PLUGIN_LOG_MAX_SIZE, each generation is renamed to the next (the oldest is
 * replaced), so that at most PD_PLUGIN_LOG_FILES * PD_PLUGIN_LOG_MAX_SIZE bytes are kept per
 * plugin. Appends are not fsynced; a rotation only renames, so no crash loses a whole file.
 *
 * A plugin flooding its output costs bounded memory: the runner reads it in bounded chunks,
 * so the plugin is throttled by its pipe and never buffered. OpenLog readers get a pipe each
 * (pd_plugin_log_open_reader()); ReadLog a string (pd_plugin_log_read_text()).
 *
 * The output itself never goes into an error message (those become LastErrorMessage and job
 * results, which every local user may read, and a plugin's output may hold its secrets):
 * pd_plugin_log_had_output() only says whether there is anything to look at.
 */

/* the cap of one log file before rotation */
#define PD_PLUGIN_LOG_MAX_SIZE (1024 * 1024)
/* files kept per plugin: <id>.log and <id>.log.1 … .4 */
#define PD_PLUGIN_LOG_FILES 5
/* the longest text of one record: a longer line is cut into several */
#define PD_PLUGIN_LOG_MAX_RECORD (16 * 1024)
/* concurrent OpenLog readers per plugin (more is PD_ERROR_LIMITS_EXCEEDED) */
#define PD_PLUGIN_LOG_MAX_READERS 16
/* ReadLog: "lines" by default and at most; the text's cap in bytes */
#define PD_PLUGIN_LOG_READ_DEFAULT_LINES 100
#define PD_PLUGIN_LOG_READ_MAX_LINES 10000
#define PD_PLUGIN_LOG_READ_MAX_BYTES (1024 * 1024)
/* the length of a record's time stamp */
#define PD_PLUGIN_LOG_TIMESTAMP_LEN 27

typedef struct _PdPluginLog PdPluginLog;

/* what a reader asks for */
typedef struct {
  guint lines;          /* the last @lines lines; G_MAXUINT = all that is kept */
  gint64 since;         /* only records that arrived at or after this, µs since the epoch; 0 = all */
  gboolean timestamps;  /* each line starts with the time its first byte arrived and a space */
} PdPluginLogQuery;

/* the log of the plugin @id in @log_dir (an existing dir); opens nothing yet */
PdPluginLog *pd_plugin_log_new (const char *log_dir, const char *id);
void pd_plugin_log_free (PdPluginLog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdPluginLog, pd_plugin_log_free)

/* A process starts: opens the file for appending (a failure is logged: the plugin runs without
 * a log file) and forgets whether the last process wrote anything. */
void pd_plugin_log_start (PdPluginLog *log);
/* the process is gone: ends its last line and closes the file */
void pd_plugin_log_stop (PdPluginLog *log);

/* output of the process: to the file (a full disk loses output, never the plugin) and to every
 * following reader */
void pd_plugin_log_append (PdPluginLog *log, const guint8 *data, gsize len);
/* the same with the arrival time given (µs since the epoch), for tests */
void pd_plugin_log_append_at (PdPluginLog *log, const guint8 *data, gsize len, gint64 now);

/* whether the process since pd_plugin_log_start() wrote anything */
gboolean pd_plugin_log_had_output (PdPluginLog *log);

/* What @query selects of the files, as the plugin wrote it (or with time stamps): every line
 * kept when @query->lines is G_MAXUINT, so at most about PD_PLUGIN_LOG_FILES *
 * PD_PLUGIN_LOG_MAX_SIZE bytes. */
GByteArray *pd_plugin_log_read (PdPluginLog *log, const PdPluginLogQuery *query);

/* The same as valid UTF-8 text for ReadLog: invalid bytes and NUL become U+FFFD, and the text
 * is cut to its last PD_PLUGIN_LOG_READ_MAX_BYTES bytes, at a line start when one is in
 * reach. */
char *pd_plugin_log_read_text (PdPluginLog *log, const PdPluginLogQuery *query);

/* Returns the read end (O_CLOEXEC) of a pipe carrying pd_plugin_log_read() of @query and,
 * with @follow, what pd_plugin_log_append() gets afterwards (formatted the same way) until
 * pd_plugin_log_end_follow(). The write end is non-blocking and written from the main loop: a
 * follower that falls more than 1 MiB behind is dropped (its pipe is closed, so it sees EOF)
 * rather than block the daemon or grow its memory; a reader that closes its end is noticed
 * and dropped at once. -1 with PD_ERROR_LIMITS_EXCEEDED past PD_PLUGIN_LOG_MAX_READERS
 * readers, or PD_ERROR_FAILED. */
int pd_plugin_log_open_reader (PdPluginLog *log, const PdPluginLogQuery *query, gboolean follow,
                               GError **error);

/* followers see EOF once what is queued for them is written */
void pd_plugin_log_end_follow (PdPluginLog *log);

/* drops every reader at once (their pipes close) and closes the file */
void pd_plugin_log_close (PdPluginLog *log);

/* deletes every log file of the plugin @id in @log_dir */
void pd_plugin_log_remove_files (const char *log_dir, const char *id);

/* the id whose log file @name is (<id>.log or <id>.log.<n>), or NULL */
char *pd_plugin_log_file_id (const char *name);

G_END_DECLS
