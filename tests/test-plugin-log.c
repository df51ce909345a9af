/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A plugin's log (pd-plugin-log.c) without a plugin: records with their arrival time, lines
 * that come in pieces or never end, rotation through the generations, a torn record after a
 * crash, and what readers get (tail, since, time stamps, ReadLog's text).
 */
#include "config.h"

#define G_LOG_DOMAIN "test-plugin-log"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "pd-fs-util.h"
#include "pd-plugin-log.h"
#include "pd-test-utils.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
/* 2026-12-07T09:50:17Z */
#define T0 G_GINT64_CONSTANT (1796637017000000)

typedef struct {
  char *dir;
  PdPluginLog *log;
} Fixture;

static void
fixture_setup (Fixture *fixture, gconstpointer user_data)
{
  fixture->dir = pd_test_make_tmp_dir ("plugin-log-XXXXXX");
  fixture->log = pd_plugin_log_new (fixture->dir, ID);
}

static void
fixture_teardown (Fixture *fixture, gconstpointer user_data)
{
  pd_plugin_log_free (fixture->log);
  pd_test_rm_rf (fixture->dir);
  g_free (fixture->dir);
}

static void
append (Fixture *fixture, const char *text, gint64 at)
{
  pd_plugin_log_append_at (fixture->log, (const guint8 *) text, strlen (text), at);
}

static char *
read_log (Fixture *fixture, guint lines, gint64 since, gboolean timestamps)
{
  const PdPluginLogQuery query = { lines, since, timestamps };
  g_autoptr(GByteArray) data = pd_plugin_log_read (fixture->log, &query);

  return data->len > 0 ? g_strndup ((const char *) data->data, data->len) : g_strdup ("");
}

static char *
read_file (Fixture *fixture, const char *suffix)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.log%s", fixture->dir, ID, suffix);
  char *contents = NULL;
  struct stat st;

  g_assert_no_errno (stat (path, &st));
  g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  return contents;
}

static void
test_records (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *file = NULL;
  g_autofree char *plain = NULL;
  g_autofree char *stamped = NULL;

  pd_plugin_log_start (fixture->log);
  append (fixture, "one\ntw", T0 + 1);
  /* the rest of the line comes later: the line keeps the time of its first byte */
  append (fixture, "o\n", T0 + 2 * G_USEC_PER_SEC);
  file = read_file (fixture, "");
  g_assert_cmpstr (file, ==,
                   "2026-12-07T09:50:17.000001Z F one\n"
                   "2026-12-07T09:50:17.000001Z P tw\n"
                   "2026-12-07T09:50:19.000000Z F o\n");
  plain = read_log (fixture, G_MAXUINT, 0, FALSE);
  g_assert_cmpstr (plain, ==, "one\ntwo\n");
  stamped = read_log (fixture, G_MAXUINT, 0, TRUE);
  g_assert_cmpstr (stamped, ==,
                   "2026-12-07T09:50:17.000001Z one\n"
                   "2026-12-07T09:50:17.000001Z two\n");
  g_assert_true (pd_plugin_log_had_output (fixture->log));
  pd_plugin_log_stop (fixture->log);
}

static void
test_tail_and_since (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *s = NULL;

  pd_plugin_log_start (fixture->log);
  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *line = g_strdup_printf ("line %u\n", i);
      append (fixture, line, T0 + i * G_USEC_PER_SEC);
    }
  s = read_log (fixture, 3, 0, FALSE);
  g_assert_cmpstr (s, ==, "line 7\nline 8\nline 9\n");
  g_free (s);
  s = read_log (fixture, 0, 0, FALSE);
  g_assert_cmpstr (s, ==, "");
  g_free (s);
  s = read_log (fixture, 100, 0, FALSE);
  g_assert_true (g_str_has_prefix (s, "line 0\nline 1\n"));
  g_free (s);
  /* since: at or after it; with lines, the last of those */
  s = read_log (fixture, G_MAXUINT, T0 + 8 * G_USEC_PER_SEC, FALSE);
  g_assert_cmpstr (s, ==, "line 8\nline 9\n");
  g_free (s);
  s = read_log (fixture, 1, T0 + 5 * G_USEC_PER_SEC - 1, TRUE);
  g_assert_cmpstr (s, ==, "2026-12-07T09:50:26.000000Z line 9\n");
  g_free (s);
  s = read_log (fixture, 100, T0 + 10 * G_USEC_PER_SEC, FALSE);
  g_assert_cmpstr (s, ==, "");
  g_free (s);
  /* a time far beyond any time stamp selects nothing, and breaks nothing */
  s = read_log (fixture, 100, G_MAXINT64, TRUE);
  g_assert_cmpstr (s, ==, "");
  pd_plugin_log_stop (fixture->log);
}

static void
test_partial_lines (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *big = g_malloc (3 * PD_PLUGIN_LOG_MAX_RECORD + 2);
  g_autofree char *file = NULL;
  g_autofree char *s = NULL;
  g_auto(GStrv) records = NULL;

  pd_plugin_log_start (fixture->log);
  /* a line that never ends is cut into records of at most PD_PLUGIN_LOG_MAX_RECORD */
  memset (big, 'x', 3 * PD_PLUGIN_LOG_MAX_RECORD + 1);
  big[3 * PD_PLUGIN_LOG_MAX_RECORD + 1] = '\0';
  append (fixture, big, T0);
  file = read_file (fixture, "");
  records = g_strsplit (file, "\n", -1);
  g_assert_cmpuint (g_strv_length (records), ==, 5);
  for (guint i = 0; i < 4; i++)
    {
      g_assert_true (g_str_has_prefix (records[i], "2026-12-07T09:50:17.000000Z P x"));
      g_assert_cmpuint (strlen (records[i]), <=, PD_PLUGIN_LOG_MAX_RECORD + 30);
    }
  /* readers get it whole; the process's stop ends it */
  s = read_log (fixture, 1, 0, FALSE);
  g_assert_cmpstr (s, ==, big);
  g_free (s);
  pd_plugin_log_stop (fixture->log);
  pd_plugin_log_start (fixture->log);
  g_assert_false (pd_plugin_log_had_output (fixture->log));
  append (fixture, "next process\n", T0 + 1);
  s = read_log (fixture, 1, 0, FALSE);
  g_assert_cmpstr (s, ==, "next process\n");
  g_free (s);
  s = read_log (fixture, 2, 0, FALSE);
  g_assert_cmpstr (s + strlen (big), ==, "\nnext process\n");
  pd_plugin_log_stop (fixture->log);
}

static void
test_torn_record (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.log", fixture->dir, ID);
  g_autofree char *s = NULL;

  /* a daemon that crashed in the middle of a write, in a line the plugin had not ended */
  g_assert_true (g_file_set_contents (path,
                                      "2026-12-07T09:50:17.000000Z F whole\n"
                                      "2026-12-07T09:50:17.000000Z P torn",
                                      -1, NULL));
  pd_plugin_log_start (fixture->log);
  append (fixture, "after\n", T0 + 1);
  s = read_log (fixture, G_MAXUINT, 0, FALSE);
  g_assert_cmpstr (s, ==, "whole\ntorn\nafter\n");
  g_free (s);
  /* and what is not a record at all is left out */
  pd_plugin_log_stop (fixture->log);
  g_assert_true (g_file_set_contents (path, "garbage\n2026-12-07T09:50:17.000000Z F ok\nx", -1,
                                      NULL));
  s = read_log (fixture, G_MAXUINT, 0, FALSE);
  g_assert_cmpstr (s, ==, "ok\n");
}

static void
test_rotation (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *line = g_malloc (1001);
  g_autofree char *all = NULL;
  g_autofree char *last = NULL;
  g_autofree char *path = NULL;
  guint n = 0;
  guint first;

  pd_plugin_log_start (fixture->log);
  /* twice what is kept, as lines numbered in order */
  for (gsize written = 0; written < 2 * PD_PLUGIN_LOG_FILES * PD_PLUGIN_LOG_MAX_SIZE; n++)
    {
      g_snprintf (line, 1001, "%08u %0990u\n", n, 0);
      append (fixture, line, T0 + n);
      written += strlen (line) + 30;
    }
  for (guint i = 0; i < PD_PLUGIN_LOG_FILES; i++)
    {
      g_autofree char *suffix = i == 0 ? g_strdup ("") : g_strdup_printf (".%u", i);
      g_autofree char *file = read_file (fixture, suffix);
      g_assert_cmpuint (strlen (file), <=, PD_PLUGIN_LOG_MAX_SIZE);
      /* the older generations are full */
      if (i > 0)
        g_assert_cmpuint (strlen (file), >, PD_PLUGIN_LOG_MAX_SIZE - 100 * 1024);
    }
  path = g_strdup_printf ("%s/%s.log.%u", fixture->dir, ID, PD_PLUGIN_LOG_FILES);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  /* everything kept reads as one run of lines, the newest last */
  all = read_log (fixture, G_MAXUINT, 0, FALSE);
  g_assert_cmpuint (strlen (all), >, (PD_PLUGIN_LOG_FILES - 1) * PD_PLUGIN_LOG_MAX_SIZE * 9 / 10);
  first = (guint) g_ascii_strtoull (all, NULL, 10);
  for (const char *p = all; *p != '\0'; p = strchr (p, '\n') + 1)
    g_assert_cmpuint ((guint) g_ascii_strtoull (p, NULL, 10), ==, first++);
  g_assert_cmpuint (first, ==, n);
  /* a tail reaches across a generation */
  last = read_log (fixture, 1500, 0, FALSE);
  g_assert_cmpuint (strlen (last), ==, 1500 * 1000);
  g_assert_true (g_str_has_suffix (all, last));
  pd_plugin_log_stop (fixture->log);
}

static void
test_read_text (Fixture *fixture, gconstpointer user_data)
{
  static const guint8 binary[] = { 0xff, 'a', 0x00, 'b', 0xc3, '\n', 0xe2, 0x82, 0xac, '\n' };
  const PdPluginLogQuery last2 = { 2, 0, FALSE };
  const PdPluginLogQuery all = { G_MAXUINT, 0, FALSE };
  g_autofree char *line = g_strnfill (999, 'y');
  g_autofree char *text = NULL;

  pd_plugin_log_start (fixture->log);
  pd_plugin_log_append_at (fixture->log, binary, sizeof binary, T0);
  /* invalid bytes and NUL become U+FFFD; valid characters stay */
  text = pd_plugin_log_read_text (fixture->log, &last2);
  g_assert_cmpstr (text, ==, "\xef\xbf\xbd" "a" "\xef\xbf\xbd" "b" "\xef\xbf\xbd" "\n\xe2\x82\xac\n");
  g_free (text);

  /* 3 MiB of lines: the last MiB at most, from a line start */
  for (guint i = 0; i < 3 * 1024; i++)
    {
      g_autofree char *l = g_strconcat (line, "\n", NULL);
      append (fixture, l, T0 + i);
    }
  text = pd_plugin_log_read_text (fixture->log, &all);
  g_assert_cmpuint (strlen (text), <=, PD_PLUGIN_LOG_READ_MAX_BYTES);
  g_assert_cmpuint (strlen (text), >, PD_PLUGIN_LOG_READ_MAX_BYTES - 1000);
  g_assert_true (g_str_has_prefix (text, line));
  g_assert_true (g_utf8_validate (text, -1, NULL));
  g_free (text);

  /* a MiB of invalid bytes in one line: replaced, then cut at a character */
  for (guint i = 0; i < 64; i++)
    {
      guint8 junk[16384];
      memset (junk, 0xff, sizeof junk);
      pd_plugin_log_append_at (fixture->log, junk, sizeof junk, T0);
    }
  text = pd_plugin_log_read_text (fixture->log, &last2);
  g_assert_cmpuint (strlen (text), <=, PD_PLUGIN_LOG_READ_MAX_BYTES);
  g_assert_true (g_utf8_validate (text, -1, NULL));
  g_assert_true (g_str_has_prefix (text, "\xef\xbf\xbd"));
  pd_plugin_log_stop (fixture->log);
}

static char *
read_pipe (int fd)
{
  GString *out = g_string_new (NULL);
  char buf[4096];
  ssize_t n;

  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (out, buf, n);
  return g_string_free (out, FALSE);
}

static void
test_follow (Fixture *fixture, gconstpointer user_data)
{
  const PdPluginLogQuery query = { 1, 0, TRUE };
  g_autoptr(GError) error = NULL;
  g_autofree char *got = NULL;
  int fd;

  pd_plugin_log_start (fixture->log);
  append (fixture, "old\nstar", T0);
  fd = pd_plugin_log_open_reader (fixture->log, &query, TRUE, &error);
  g_assert_no_error (error);
  /* the open line goes on without a new time stamp; the next one has its own */
  append (fixture, "ted\nnew\n", T0 + 1);
  pd_plugin_log_end_follow (fixture->log);
  got = read_pipe (fd);
  close (fd);
  g_assert_cmpstr (got, ==,
                   "2026-12-07T09:50:17.000000Z started\n"
                   "2026-12-07T09:50:17.000001Z new\n");
  pd_plugin_log_stop (fixture->log);
}

static void
test_files (Fixture *fixture, gconstpointer user_data)
{
  static const struct {
    const char *name;
    const char *id;
  } names[] = {
    { ID ".log", ID }, { ID ".log.1", ID }, { ID ".log.42", ID }, { ID ".log.", NULL },
    { ID ".log.x", NULL }, { ID ".logs", NULL }, { ".log", NULL }, { "other", NULL },
  };
  g_autoptr(GPtrArray) left = NULL;
  g_autofree char *old = g_strdup_printf ("%s/%s.log.3", fixture->dir, ID);

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *id = pd_plugin_log_file_id (names[i].name);
      g_assert_cmpstr (id, ==, names[i].id);
    }
  pd_plugin_log_start (fixture->log);
  append (fixture, "x\n", T0);
  pd_plugin_log_stop (fixture->log);
  pd_test_write_file (old, "");
  pd_plugin_log_remove_files (fixture->dir, ID);
  left = pd_list_dir_at (AT_FDCWD, fixture->dir, NULL);
  g_assert_cmpuint (left->len, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  PD_TEST_ADD ("/plugin-log/records", test_records);
  PD_TEST_ADD ("/plugin-log/tail-and-since", test_tail_and_since);
  PD_TEST_ADD ("/plugin-log/partial-lines", test_partial_lines);
  PD_TEST_ADD ("/plugin-log/torn-record", test_torn_record);
  PD_TEST_ADD ("/plugin-log/rotation", test_rotation);
  PD_TEST_ADD ("/plugin-log/read-text", test_read_text);
  PD_TEST_ADD ("/plugin-log/follow", test_follow);
  PD_TEST_ADD ("/plugin-log/files", test_files);
  return g_test_run ();
}
