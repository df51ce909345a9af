/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "pd-dbus-generated.h"
#include "pd-error.h"
#include "pd-json.h"
#include "pd-names.h"
#include "pd-plugin-config.h"
#include "pd-reference.h"

/*
 * pluginctl: the command line client of plugind, modelled on `docker plugin` (docker-plugins.md
 * Appendix A). Every command is a thin layer over the D-Bus API; the only local work is reading
 * the create context and computing the privileges it asks for, with the same core code as the
 * daemon, so that the user consents to exactly what the daemon will check.
 */

/* exit statuses scripts can rely on (documented in --help) */
enum {
  CTL_EXIT_OK = 0,
  CTL_EXIT_FAILURE = 1,
  CTL_EXIT_USAGE = 2,
  CTL_EXIT_NOT_AUTHORIZED = 3,
  CTL_EXIT_NO_SUCH_PLUGIN = 4,
};

/* as the daemon's archive limit for config.json */
#define CTL_MAX_CONFIG_SIZE (4 * 1024 * 1024)
/* the largest D-Bus message (and so the largest Inspect answer) */
#define CTL_MAX_DBUS_MESSAGE_SIZE (128 * 1024 * 1024)
/* ~/.docker/config.json */
#define CTL_MAX_DOCKER_CONFIG_SIZE (16 * 1024 * 1024)
/* docker's `plugin ls` truncations (cli/command/formatter) */
#define CTL_SHORT_ID_LEN 12
#define CTL_DESCRIPTION_WIDTH 45

typedef struct archive CtlArchive;
typedef struct archive_entry CtlArchiveEntry;
typedef struct archive_entry_linkresolver CtlLinkResolver;

static void
ctl_archive_free (CtlArchive *a)
{
  archive_free (a);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlArchive, ctl_archive_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlArchiveEntry, archive_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlLinkResolver, archive_entry_linkresolver_free)

typedef struct {
  GDBusConnection *bus;
  PdDbusManager *manager;
} Ctl;

static void
ctl_clear (Ctl *ctl)
{
  g_clear_object (&ctl->manager);
  g_clear_object (&ctl->bus);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Ctl, ctl_clear)

/* global options, also accepted after the command name */
static gboolean opt_no_ask_password;
static gboolean opt_version;

static const GOptionEntry global_entries[] = {
  { "no-ask-password", 0, 0, G_OPTION_ARG_NONE, &opt_no_ask_password,
    N_("Never ask for authentication (fail with exit status 3 instead)"), NULL },
  { NULL }
};

static const char exit_status_help[] =
  N_("Exit status:\n"
     "  0  success\n"
     "  1  failure\n"
     "  2  usage error\n"
     "  3  not authorized (denied, dismissed, or authentication needed with --no-ask-password)\n"
     "  4  no such plugin");

/* errors */

/* maps the D-Bus error name of @error to an exit status */
static int
exit_status_for_error (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);

  if (name == NULL)
    return CTL_EXIT_FAILURE;
  if (g_str_equal (name, "org.freedesktop.DBus.Error.AccessDenied") ||
      g_str_equal (name, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") ||
      g_str_equal (name, PD_DBUS_ERROR_PREFIX "NotAuthorizedDismissed"))
    return CTL_EXIT_NOT_AUTHORIZED;
  if (g_str_equal (name, PD_DBUS_ERROR_PREFIX "NoSuchPlugin") ||
      g_str_equal (name, "org.freedesktop.DBus.Error.UnknownObject"))
    return CTL_EXIT_NO_SUCH_PLUGIN;
  return CTL_EXIT_FAILURE;
}

/* TRUE when @text holds nothing a terminal acts on: no C0 or C1 control, no DEL, valid UTF-8 */
static gboolean
is_printable (const char *text)
{
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar) -1 || c == (gunichar) -2 || c < 0x20 || (c >= 0x7f && c < 0xa0))
        return FALSE;
    }
  return TRUE;
}

/* A message from the daemon (or from GIO, quoting a file name of the context) for the terminal.
 * The daemon escapes the untrusted text it quotes, so a clean message is kept as it is and its
 * escapes (\x1b, Go's %q) are not doubled; one that still carries a control character, from
 * an older daemon or a hostile file name, is escaped as a whole. */
static char *
escape_line (const char *line)
{
  if (is_printable (line))
    return g_strdup (line);
  return pd_escape_untrusted_full (line, -1);
}

/* The same line by line: a message may span lines (a failed Enable quotes the plugin's last
 * output lines, which the daemon escaped), and a line feed does not drive a terminal. */
static char *
escape_message (const char *message)
{
  g_auto(GStrv) lines = NULL;

  if (message == NULL)
    return g_strdup ("");
  if (strchr (message, '\n') == NULL)
    return escape_line (message);
  lines = g_strsplit (message, "\n", -1);
  for (gsize i = 0; lines[i] != NULL; i++)
    {
      char *escaped = escape_line (lines[i]);

      g_free (lines[i]);
      lines[i] = escaped;
    }
  return g_strjoinv ("\n", lines);
}

/* prints "Error: <message>" and returns the exit status for @error */
static int
report_error (GError *error)
{
  int status = exit_status_for_error (error);
  g_autofree char *message = NULL;

  g_dbus_error_strip_remote_error (error);
  message = escape_message (error->message);
  g_printerr (_("Error: %s\n"), message);
  return status;
}

static int
usage_error (const char *command, const char *message)
{
  g_printerr (_("Error: %s\n"), message);
  if (command != NULL)
    g_printerr (_("Run “%s %s --help” for more information.\n"), g_get_prgname (), command);
  else
    g_printerr (_("Run “%s --help” for more information.\n"), g_get_prgname ());
  return CTL_EXIT_USAGE;
}

/* bus */

static gboolean
ctl_connect (Ctl *ctl, GError **error)
{
  /* honours DBUS_SYSTEM_BUS_ADDRESS, which the tests and the README's private bus use */
  ctl->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, error);
  if (ctl->bus == NULL)
    return FALSE;
  ctl->manager = pd_dbus_manager_proxy_new_sync (ctl->bus,
                                                 G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                                 G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                                 PD_DBUS_NAME, PD_DBUS_MANAGER_PATH,
                                                 NULL, error);
  return ctl->manager != NULL;
}

static GDBusCallFlags
ctl_call_flags (void)
{
  return opt_no_ask_password ? G_DBUS_CALL_FLAGS_NONE
                             : G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION;
}

/* a{sv} options of a mutating call: always says whether a dialog may be shown, so that the
 * daemon need not guess from the header flag */
static void
ctl_options_init (GVariantBuilder *builder)
{
  g_variant_builder_init (builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (builder, "{sv}", "interactive",
                         g_variant_new_boolean (!opt_no_ask_password));
}

/* resolves @name like Docker: full ID, name (":latest" implied), unique ID prefix */
static PdDbusPlugin *
ctl_get_plugin (Ctl *ctl, const char *name, GError **error)
{
  g_autofree char *path = NULL;

  if (!pd_dbus_manager_call_get_plugin_sync (ctl->manager, name, &path, NULL, error))
    return NULL;
  return pd_dbus_plugin_proxy_new_sync (ctl->bus,
                                        G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                        G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                        PD_DBUS_NAME, path, NULL, error);
}

/* option parsing */

/* parses the options of @command; returns -1 when parsing succeeded, else the exit status */
static int
ctl_parse (const char *command,
           const char *parameter_string,
           const char *summary,
           const GOptionEntry *entries,
           int *argc,
           char ***argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *params = NULL;

  params = g_strdup_printf ("%s %s", command, _(parameter_string));
  context = g_option_context_new (params);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, _(summary));
  g_option_context_set_description (context, _(exit_status_help));
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, global_entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, argc, argv, &error))
    return usage_error (command, error->message);
  return -1;
}

/* privileges */

static void
print_privilege_values (GString *out, const char *const *values)
{
  /* Go's %v of a []string: "[a b]"; the values come from an untrusted config, and a cursor
   * movement among them could hide an earlier line of the prompt from the user who answers */
  g_string_append_c (out, '[');
  for (gsize i = 0; values != NULL && values[i] != NULL; i++)
    {
      g_autofree char *value = pd_escape_untrusted_full (values[i], -1);

      if (i > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, value);
    }
  g_string_append_c (out, ']');
}

/* Docker's list of privileges, as its install prompt shows it */
static void
append_privileges (GString *out, const char *name, GPtrArray *privileges)
{
  g_autofree char *shown_name = pd_escape_untrusted_full (name, -1);

  g_string_append_printf (out, _("Plugin \"%s\" is requesting the following privileges:\n"),
                          shown_name);
  for (guint i = 0; i < privileges->len; i++)
    {
      PdPrivilege *privilege = g_ptr_array_index (privileges, i);
      g_autofree char *privilege_name = pd_escape_untrusted_full (privilege->name, -1);

      g_string_append_printf (out, " - %s: ", privilege_name);
      print_privilege_values (out, (const char *const *) privilege->values);
      g_string_append_c (out, '\n');
    }
}

/* Docker's prompt.Confirm: shows @out (ending in the question and "[y/N] ") and reads the answer
 * from standard input; TRUE only for "y". With @require_terminal, standard input must be a
 * terminal: the consent comes from a person at it, and a script says --grant-all-permissions
 * (or --skip-remote-check) instead of piping "y". Anything else is a refusal. */
static gboolean
confirm (GString *out, gboolean require_terminal)
{
  char answer[256];

  fputs (out->str, stdout);
  fflush (stdout);

  if (require_terminal && !isatty (STDIN_FILENO))
    {
      fputc ('\n', stdout);
      fflush (stdout);
      g_printerr (_("Not asking: standard input is not a terminal.\n"));
      return FALSE;
    }
  if (fgets (answer, sizeof answer, stdin) == NULL)
    {
      /* end of input: finish the prompt line */
      fputc ('\n', stdout);
      return FALSE;
    }
  g_strstrip (answer);
  return g_str_equal (answer, "y") || g_str_equal (answer, "Y");
}

/* Docker's install prompt: TRUE only for an answer of "y" */
static gboolean
ask_privileges (const char *name, GPtrArray *privileges, gboolean require_terminal)
{
  g_autoptr(GString) out = g_string_new (NULL);

  append_privileges (out, name, privileges);
  g_string_append (out, _("Do you grant the above permissions? [y/N] "));
  return confirm (out, require_terminal);
}

/* create: reading the context */

/* Docker's name test for the context's config: leading "/" stripped, path cleaned */
static gboolean
is_config_entry (const char *pathname)
{
  g_autofree char *clean = NULL;

  if (pathname == NULL || pathname[0] == '\0')
    return FALSE;
  clean = g_canonicalize_filename (pathname, "/");
  return g_str_equal (clean, "/config.json");
}

/* reads config.json from the tar context open on @fd and seeks back to the start, so that the
 * daemon reads the whole file through the same open file description */
static GBytes *
read_tarball_config (int fd, const char *filename, GError **error)
{
  g_autoptr(CtlArchive) a = archive_read_new ();
  struct archive_entry *entry;
  int r;

  archive_read_support_filter_all (a);
  archive_read_support_format_tar (a);
  if (archive_read_open_fd (a, fd, 64 * 1024) != ARCHIVE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: %s"),
                   filename, archive_error_string (a));
      return NULL;
    }

  while ((r = archive_read_next_header (a, &entry)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    {
      g_autoptr(GByteArray) data = NULL;
      char buf[16384];
      la_ssize_t n;

      if (!is_config_entry (archive_entry_pathname (entry)))
        continue;
      if (archive_entry_filetype (entry) != AE_IFREG)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       _("%s: config.json is not a regular file"), filename);
          return NULL;
        }
      data = g_byte_array_new ();
      while ((n = archive_read_data (a, buf, sizeof buf)) > 0)
        {
          if (data->len + (gsize) n > CTL_MAX_CONFIG_SIZE)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("%s: config.json is larger than %d bytes"), filename,
                           CTL_MAX_CONFIG_SIZE);
              return NULL;
            }
          g_byte_array_append (data, (const guint8 *) buf, (guint) n);
        }
      if (n < 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: %s"),
                       filename, archive_error_string (a));
          return NULL;
        }
      if (lseek (fd, 0, SEEK_SET) != 0)
        {
          int saved_errno = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), _("%s: %s"),
                       filename, g_strerror (saved_errno));
          return NULL;
        }
      return g_byte_array_free_to_bytes (g_steal_pointer (&data));
    }
  if (r == ARCHIVE_EOF)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 _("%s: no config.json in the plugin context"), filename);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: %s"),
                 filename, archive_error_string (a));
  return NULL;
}

/* Docker's CLI pre-check of a context directory: config.json and rootfs/ */
static GBytes *
read_dir_config (const char *dir, GError **error)
{
  g_autofree char *config_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *rootfs_path = g_build_filename (dir, "rootfs", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  struct stat st;

  /* lstat: the tar does not follow symlinks, so neither may the check */
  if (lstat (config_path, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("%s: the plugin directory must contain a config.json file"), dir);
      return NULL;
    }
  if (st.st_size > CTL_MAX_CONFIG_SIZE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("%s: config.json is larger than %d bytes"), dir, CTL_MAX_CONFIG_SIZE);
      return NULL;
    }
  if (lstat (rootfs_path, &st) < 0 || !S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("%s: the plugin directory must contain a rootfs directory"), dir);
      return NULL;
    }
  if (!g_file_get_contents (config_path, &contents, &len, error))
    return NULL;
  return g_bytes_new_take (g_steal_pointer (&contents), len);
}

/* create: streaming a context directory */

typedef struct {
  char *dir;
  int fd;                /* write end of the pipe, owned by the worker */
  GError *error;         /* set by the worker on failure */
  gboolean peer_closed;  /* the daemon stopped reading: its error is the one to show */
  GMainContext *main_context;
  GSourceFunc on_failed;
  gpointer on_failed_data;
} TarWorker;

static void
tar_worker_free (TarWorker *worker)
{
  if (worker->fd >= 0)
    close (worker->fd);
  g_clear_error (&worker->error);
  g_free (worker->dir);
  g_main_context_unref (worker->main_context);
  g_free (worker);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TarWorker, tar_worker_free)

static gboolean
tar_set_error (TarWorker *worker, struct archive *a, const char *what, GError **error)
{
  int err = archive_errno (a);

  if (err == EPIPE)
    worker->peer_closed = TRUE;
  if (archive_error_string (a) != NULL && err > 0)
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s: %s", what,
                 archive_error_string (a), g_strerror (err));
  else
    g_set_error (error, G_IO_ERROR, err > 0 ? g_io_error_from_errno (err) : G_IO_ERROR_FAILED,
                 "%s: %s", what, archive_error_string (a) != NULL ? archive_error_string (a)
                                                                  : g_strerror (err));
  return FALSE;
}

/* archives the tree at @root under the name @archive_root ("config.json" or "rootfs") */
static gboolean
tar_write_tree (TarWorker *worker,
                struct archive *disk,
                struct archive *writer,
                struct archive_entry_linkresolver *resolver,
                const char *root,
                const char *archive_root,
                GError **error)
{
  gsize root_len = strlen (root);

  if (archive_read_disk_open (disk, root) != ARCHIVE_OK)
    return tar_set_error (worker, disk, root, error);

  for (;;)
    {
      g_autoptr(CtlArchiveEntry) entry = archive_entry_new ();
      struct archive_entry *sparse = NULL;
      g_autofree char *name = NULL;
      const char *pathname;
      int r;

      r = archive_read_next_header2 (disk, entry);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return tar_set_error (worker, disk, root, error);
      archive_read_disk_descend (disk);

      /* entries come named after @root; the context wants them relative to the directory */
      pathname = archive_entry_pathname (entry);
      if (pathname == NULL || strncmp (pathname, root, root_len) != 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: unexpected path %s",
                       root, pathname != NULL ? pathname : "(null)");
          return FALSE;
        }
      name = g_strconcat (archive_root, pathname + root_len, NULL);
      archive_entry_copy_pathname (entry, name);

      /* tar cannot hold sockets; Docker's archiver skips them too */
      if (archive_entry_filetype (entry) == AE_IFSOCK)
        continue;
      if (archive_entry_filetype (entry) != AE_IFREG)
        archive_entry_set_size (entry, 0);

      /* with the tar strategy @entry stays ours and @sparse stays NULL */
      archive_entry_linkify (resolver, &entry, &sparse);
      if (entry == NULL)
        continue;

      if (archive_write_header (writer, entry) != ARCHIVE_OK)
        return tar_set_error (worker, writer, name, error);

      if (archive_entry_filetype (entry) == AE_IFREG && archive_entry_hardlink (entry) == NULL &&
          archive_entry_size (entry) > 0)
        {
          char buf[65536];
          la_int64_t total = 0;
          la_ssize_t n;

          while ((n = archive_read_data (disk, buf, sizeof buf)) > 0)
            {
              if (archive_write_data (writer, buf, (size_t) n) < 0)
                return tar_set_error (worker, writer, name, error);
              total += n;
            }
          if (n < 0)
            return tar_set_error (worker, disk, name, error);
          if (total < archive_entry_size (entry))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _("%s: file shrank while it was being read"), name);
              return FALSE;
            }
        }
    }
  archive_read_close (disk);
  return TRUE;
}

/* makes sure the daemon fails to read the context after a local error, even when the tar
 * written so far happens to end at an entry boundary: a header promising more data than
 * will ever come makes any tar reader fail with a truncated archive */
static void
tar_poison (struct archive *writer)
{
  g_autoptr(CtlArchiveEntry) entry = archive_entry_new ();

  archive_entry_set_pathname (entry, "rootfs/.pluginctl-aborted");
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0600);
  archive_entry_set_size (entry, G_GINT64_CONSTANT (1) << 30);
  archive_write_header (writer, entry);
}

static gboolean
tar_write_context (TarWorker *worker, GError **error)
{
  g_autoptr(CtlArchive) disk = archive_read_disk_new ();
  g_autoptr(CtlArchive) writer = archive_write_new ();
  g_autoptr(CtlLinkResolver) resolver = archive_entry_linkresolver_new ();
  g_autofree char *config_path = g_build_filename (worker->dir, "config.json", NULL);
  g_autofree char *rootfs_path = g_build_filename (worker->dir, "rootfs", NULL);
  gboolean ok;

  /* never follow symlinks; modes, owners and times are kept. xattrs, ACLs and file flags are
   * left out: a plugin's privileges come from its config, not from file capabilities */
  archive_read_disk_set_symlink_physical (disk);
  archive_read_disk_set_standard_lookup (disk);
  archive_read_disk_set_behavior (disk, ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                        ARCHIVE_READDISK_NO_FFLAGS | ARCHIVE_READDISK_NO_SPARSE);

  archive_write_set_format_pax_restricted (writer);
  /* unblocked: every byte reaches the pipe at once, so tar_poison() lands after them */
  archive_write_set_bytes_per_block (writer, 0);
  if (archive_write_open_fd (writer, worker->fd) != ARCHIVE_OK)
    return tar_set_error (worker, writer, worker->dir, error);
  /* the tar strategy: a repeated inode becomes a hard link entry, nothing is deferred */
  archive_entry_linkresolver_set_strategy (resolver, ARCHIVE_FORMAT_TAR);

  ok = tar_write_tree (worker, disk, writer, resolver, config_path, "config.json", error) &&
       tar_write_tree (worker, disk, writer, resolver, rootfs_path, "rootfs", error);
  if (!ok)
    {
      if (!worker->peer_closed)
        tar_poison (writer);
      /* no end-of-archive marker after a failure: with our end closed first, the one
       * archive_write_close() tries to write goes nowhere (archive_write_fail() would leak
       * libarchive's client state) */
      close (worker->fd);
      worker->fd = -1;
      archive_write_close (writer);
      return FALSE;
    }
  if (archive_write_close (writer) != ARCHIVE_OK)
    return tar_set_error (worker, writer, worker->dir, error);
  return TRUE;
}

static gpointer
tar_worker_thread (gpointer data)
{
  TarWorker *worker = data;

  if (!tar_write_context (worker, &worker->error) && !worker->peer_closed &&
      worker->on_failed != NULL)
    {
      /* let the main thread cancel the job */
      g_main_context_invoke (worker->main_context, worker->on_failed, worker->on_failed_data);
    }
  if (worker->fd >= 0)
    close (worker->fd);
  worker->fd = -1;
  return NULL;
}

/* following a job */

/* How a job is shown. create draws one progress line on standard error. The registry jobs
 * follow `docker plugin install` and `push`: one line per layer on standard output, redrawn in
 * place on a terminal, and one plain line per status change anywhere else. */
typedef enum {
  FOLLOW_CREATE,
  FOLLOW_PULL,  /* pull and upgrade */
  FOLLOW_PUSH,
} FollowMode;

/* jsonmessage.JSONProgress: the bar only on terminals wider than this */
#define CTL_PROGRESS_BAR_MIN_WIDTH 110
#define CTL_PROGRESS_BAR_WIDTH 50

typedef struct {
  char *digest;
  char *status;  /* the daemon's layer status: "waiting", "downloading", ... */
  guint64 current;
  guint64 total;
  char *shown;   /* the status text last printed without a terminal */
} LayerRow;

static void
layer_row_free (LayerRow *row)
{
  g_free (row->digest);
  g_free (row->status);
  g_free (row->shown);
  g_free (row);
}

typedef struct {
  GMainLoop *loop;
  PdDbusJob *job;
  GVariant *results;
  GError *error;
  FollowMode mode;
  gboolean show_progress;  /* create: standard error is a terminal */
  gboolean line_shown;
  gboolean terminal;       /* registry jobs: standard output is a terminal */
  GPtrArray *rows;         /* LayerRow, in the job's order */
  guint drawn;             /* lines of the layer block now on the terminal */
  char *block;             /* and what they show */
  char *phase;             /* the last phase seen */
  const char *digest;      /* pull: the manifest digest the job is bound to, for the header */
  gboolean cancel_requested;
  gboolean finished;
  guint sigint_id;
} JobFollow;

static char *truncate_id (const char *id);

static void
job_follow_clear (JobFollow *follow)
{
  g_clear_object (&follow->job);
  g_clear_pointer (&follow->results, g_variant_unref);
  g_clear_error (&follow->error);
  g_clear_pointer (&follow->rows, g_ptr_array_unref);
  g_clear_pointer (&follow->phase, g_free);
  g_clear_pointer (&follow->block, g_free);
}

static void
job_follow_clear_line (JobFollow *follow)
{
  if (follow->line_shown)
    {
      g_printerr ("\r\033[K");
      follow->line_shown = FALSE;
    }
}

static void
job_follow_render (JobFollow *follow)
{
  PdDbusJob *job = follow->job;
  const char *phase = pd_dbus_job_get_phase (job);
  g_autofree char *shown_phase = escape_message (phase != NULL && phase[0] != '\0' ? phase
                                                                                : "queued");
  g_autoptr(GString) line = g_string_new (shown_phase);
  guint64 done = pd_dbus_job_get_bytes_done (job);
  guint64 total = pd_dbus_job_get_bytes_total (job);

  if (pd_dbus_job_get_progress_valid (job))
    g_string_append_printf (line, " %3.0f%%", CLAMP (pd_dbus_job_get_progress (job), 0.0, 1.0) * 100.0);
  if (done > 0)
    {
      g_autofree char *done_str = g_format_size (done);

      if (total > 0)
        {
          g_autofree char *total_str = g_format_size (total);

          g_string_append_printf (line, _(" (%s of %s)"), done_str, total_str);
        }
      else
        g_string_append_printf (line, " (%s)", done_str);
    }
  g_printerr ("\r\033[K%s", line->str);
  follow->line_shown = TRUE;
}

/* go-units HumanSize, as Docker's progress shows sizes: decimal units, 4 significant digits */
static char *
human_size (guint64 bytes)
{
  static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
  char number[G_ASCII_DTOSTR_BUF_SIZE];
  double size = (double) bytes;
  guint unit = 0;

  while (size >= 1000.0 && unit + 1 < G_N_ELEMENTS (units))
    {
      size /= 1000.0;
      unit++;
    }
  g_ascii_formatd (number, sizeof number, "%.4g", size);
  return g_strconcat (number, units[unit], NULL);
}

/* jsonmessage.JSONProgress.String: "[=====>      ]  12.3MB/45.6MB" */
static void
append_progress (GString *out, guint64 current, guint64 total, gboolean bar)
{
  g_autofree char *current_str = human_size (current);
  g_autofree char *total_str = NULL;
  guint percentage;

  if (total == 0)
    {
      if (current > 0)
        g_string_append_printf (out, " %8s", current_str);
      return;
    }
  percentage = (guint) MIN ((double) current / (double) total * 100.0, 100.0) / 2;
  g_string_append_c (out, ' ');
  if (bar)
    {
      g_string_append_c (out, '[');
      for (guint i = 0; i < percentage; i++)
        g_string_append_c (out, '=');
      g_string_append_c (out, '>');
      for (guint i = percentage; i < CTL_PROGRESS_BAR_WIDTH; i++)
        g_string_append_c (out, ' ');
      g_string_append (out, "] ");
    }
  total_str = human_size (total);
  if (current > total)
    g_string_append_printf (out, "%8s", current_str);
  else
    g_string_append_printf (out, "%8s/%s", current_str, total_str);
}

/* Docker's words for a layer status; a status this version does not know is shown as it came */
static char *
layer_status_text (FollowMode mode, const char *status)
{
  if (g_str_equal (status, "waiting"))
    return g_strdup (_("Waiting"));
  if (g_str_equal (status, "downloading"))
    return g_strdup (_("Downloading"));
  if (g_str_equal (status, "verifying"))
    return g_strdup (_("Verifying Checksum"));
  if (g_str_equal (status, "extracting"))
    return g_strdup (_("Extracting"));
  if (g_str_equal (status, "uploading"))
    return g_strdup (_("Pushing"));
  if (g_str_equal (status, "exists"))
    return g_strdup (mode == FOLLOW_PUSH ? _("Layer already exists") : _("Already exists"));
  if (g_str_equal (status, "complete"))
    return g_strdup (mode == FOLLOW_PUSH ? _("Pushed") : _("Pull complete"));
  return escape_line (status);
}

static gboolean
layer_status_has_progress (const char *status)
{
  return g_str_equal (status, "downloading") || g_str_equal (status, "extracting") ||
         g_str_equal (status, "uploading");
}

/* columns of the terminal on standard output, 0 when unknown */
static guint
terminal_width (void)
{
  struct winsize size;

  if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) < 0)
    return 0;
  return size.ws_col;
}

/* "<short digest>: <Status> [====>   ] 12.3MB/45.6MB", no wider than @width (0: unknown) so
 * that no line wraps and the cursor movements stay right */
static char *
layer_line (JobFollow *follow, LayerRow *row, guint width)
{
  g_autofree char *id = truncate_id (row->digest);
  g_autofree char *shown_id = escape_line (id);
  g_autofree char *text = layer_status_text (follow->mode, row->status);
  GString *line = g_string_new (NULL);

  g_string_append_printf (line, "%s: %s", shown_id, text);
  if (layer_status_has_progress (row->status))
    append_progress (line, row->current, row->total,
                     width == 0 || width > CTL_PROGRESS_BAR_MIN_WIDTH);
  if (width > 1 && (guint) g_utf8_strlen (line->str, -1) > width - 1)
    g_string_truncate (line, (gsize) (g_utf8_offset_to_pointer (line->str, width - 1) - line->str));
  return g_string_free (line, FALSE);
}

/* a terminal: the whole block again, in place; else a line per layer whose status changed */
static void
layers_draw (JobFollow *follow)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (follow->terminal)
    {
      guint width = terminal_width ();
      g_autoptr(GString) block = g_string_new (NULL);

      for (guint i = 0; i < follow->rows->len; i++)
        {
          g_autofree char *line = layer_line (follow, g_ptr_array_index (follow->rows, i), width);

          g_string_append_printf (block, "\r\033[2K%s\n", line);
        }
      /* the rate and other properties change more often than what is shown */
      if (follow->drawn == follow->rows->len && g_strcmp0 (block->str, follow->block) == 0)
        return;
      if (follow->drawn > 0)
        g_string_append_printf (out, "\033[%uA", follow->drawn);
      g_string_append (out, block->str);
      if (follow->rows->len < follow->drawn)
        g_string_append (out, "\033[J");
      follow->drawn = follow->rows->len;
      g_free (follow->block);
      follow->block = g_string_free (g_steal_pointer (&block), FALSE);
    }
  else
    {
      for (guint i = 0; i < follow->rows->len; i++)
        {
          LayerRow *row = g_ptr_array_index (follow->rows, i);
          g_autofree char *text = layer_status_text (follow->mode, row->status);
          g_autofree char *id = NULL;
          g_autofree char *shown_id = NULL;

          if (g_strcmp0 (text, row->shown) == 0)
            continue;
          id = truncate_id (row->digest);
          shown_id = escape_line (id);
          g_string_append_printf (out, "%s: %s\n", shown_id, text);
          g_free (row->shown);
          row->shown = g_steal_pointer (&text);
        }
    }
  fputs (out->str, stdout);
  fflush (stdout);
}

/* prints @line on @stream: above the layer block of a terminal, which is drawn again below it,
 * or after the create progress line */
static void
follow_print (JobFollow *follow, FILE *stream, const char *line)
{
  if (follow->mode == FOLLOW_CREATE)
    {
      job_follow_clear_line (follow);
      fprintf (stream, "%s\n", line);
      fflush (stream);
      if (follow->show_progress)
        job_follow_render (follow);
      return;
    }
  if (follow->terminal && follow->drawn > 0)
    {
      printf ("\033[%uA\r\033[J", follow->drawn);
      follow->drawn = 0;
    }
  fflush (stdout);
  fprintf (stream, "%s\n", line);
  fflush (stream);
  if (follow->terminal)
    layers_draw (follow);
}

/* the phases that layer lines do not show already */
static const char *
phase_text (const char *phase)
{
  if (g_str_equal (phase, "stopping"))
    return _("Stopping the plugin");
  if (g_str_equal (phase, "enabling"))
    return _("Enabling the plugin");
  return NULL;
}

/* takes the phase and the layers from the proxy's cache */
static void
layers_update (JobFollow *follow)
{
  const char *phase = pd_dbus_job_get_phase (follow->job);
  GVariant *layers = pd_dbus_job_get_layers (follow->job);
  const char *digest, *status;
  guint64 current, total;
  GVariantIter iter;
  guint n = 0;

  if (phase != NULL && g_strcmp0 (phase, follow->phase) != 0)
    {
      const char *text = phase_text (phase);

      g_free (follow->phase);
      follow->phase = g_strdup (phase);
      if (text != NULL)
        follow_print (follow, stdout, text);
    }
  if (layers == NULL || !g_variant_is_of_type (layers, G_VARIANT_TYPE ("a(sstt)")))
    return;

  g_variant_iter_init (&iter, layers);
  while (g_variant_iter_next (&iter, "(&s&stt)", &digest, &status, &current, &total))
    {
      LayerRow *row;

      if (n < follow->rows->len)
        {
          row = g_ptr_array_index (follow->rows, n);
          if (!g_str_equal (row->digest, digest))
            {
              g_free (row->digest);
              row->digest = g_strdup (digest);
              g_clear_pointer (&row->shown, g_free);
            }
        }
      else
        {
          row = g_new0 (LayerRow, 1);
          row->digest = g_strdup (digest);
          g_ptr_array_add (follow->rows, row);
        }
      g_free (row->status);
      row->status = g_strdup (status);
      row->current = current;
      row->total = total;
      n++;
    }
  g_ptr_array_set_size (follow->rows, n);
  layers_draw (follow);
}

static void
on_job_properties_changed (GDBusProxy *proxy,
                           GVariant *changed,
                           const char *const *invalidated,
                           gpointer user_data)
{
  JobFollow *follow = user_data;

  if (follow->mode != FOLLOW_CREATE)
    layers_update (follow);
  else if (follow->show_progress)
    job_follow_render (follow);
}

static void
on_job_log_message (PdDbusJob *job, guint priority, const char *text, gpointer user_data)
{
  JobFollow *follow = user_data;
  g_autofree char *shown = NULL;

  /* warnings and errors always, info (a registry's retries and fallbacks) only on a
   * terminal, where it does not clutter logs */
  if (priority > 4 && !(follow->mode == FOLLOW_CREATE ? follow->show_progress
                                                      : follow->terminal))
    return;
  shown = escape_message (text);
  follow_print (follow, stderr, shown);
}

static void
on_wait_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  JobFollow *follow = user_data;

  follow->results = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &follow->error);
  g_main_loop_quit (follow->loop);
}

static void
on_cancel_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GError) error = NULL;

  ret = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  /* the outcome that matters comes from Wait(); a failed cancel only gets a note */
  if (ret == NULL)
    {
      g_autofree char *message = NULL;

      g_dbus_error_strip_remote_error (error);
      message = escape_message (error->message);
      g_printerr (_("Could not cancel: %s\n"), message);
    }
}

static void
job_follow_cancel (JobFollow *follow)
{
  GVariantBuilder options;

  if (follow->cancel_requested)
    return;
  follow->cancel_requested = TRUE;
  ctl_options_init (&options);
  g_dbus_proxy_call (G_DBUS_PROXY (follow->job), "Cancel",
                     g_variant_new ("(a{sv})", &options),
                     ctl_call_flags (), G_MAXINT, NULL, on_cancel_done, follow);
}

static gboolean
on_sigint (gpointer user_data)
{
  JobFollow *follow = user_data;

  /* the job is not tied to this connection: without Cancel it would run on */
  follow_print (follow, stderr, _("Cancelling…"));
  job_follow_cancel (follow);
  /* a second interrupt kills pluginctl; the daemon still rolls the job back */
  follow->sigint_id = 0;
  return G_SOURCE_REMOVE;
}

static gboolean
on_tar_worker_failed (gpointer user_data)
{
  JobFollow *follow = user_data;

  if (follow->finished)
    return G_SOURCE_REMOVE;
  if (follow->job != NULL)
    job_follow_cancel (follow);
  else
    follow->cancel_requested = TRUE;  /* cancelled as soon as the job is known */
  return G_SOURCE_REMOVE;
}

/* the job's properties once more after the end: the last Layers may still be in flight */
static void
job_follow_refresh (JobFollow *follow)
{
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) props = NULL;
  GVariantIter iter;
  const char *name;
  GVariant *value;

  ret = g_dbus_connection_call_sync (g_dbus_proxy_get_connection (G_DBUS_PROXY (follow->job)),
                                     PD_DBUS_NAME,
                                     g_dbus_proxy_get_object_path (G_DBUS_PROXY (follow->job)),
                                     "org.freedesktop.DBus.Properties", "GetAll",
                                     g_variant_new ("(s)", PD_DBUS_INTERFACE_JOB),
                                     G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1,
                                     NULL, NULL);
  if (ret == NULL)
    return;  /* gone already: what was shown stays */
  props = g_variant_get_child_value (ret, 0);
  g_variant_iter_init (&iter, props);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_dbus_proxy_set_cached_property (G_DBUS_PROXY (follow->job), name, value);
      g_variant_unref (value);
    }
}

/* a registry job's first line, from the job's normalised remote */
static void
print_job_header (JobFollow *follow)
{
  const char *remote = pd_dbus_job_get_remote (follow->job);
  g_autoptr(PdReference) ref = remote != NULL ? pd_reference_parse (remote, NULL) : NULL;
  g_autofree char *line = NULL;
  g_autofree char *shown = NULL;

  if (ref == NULL)
    return;
  if (follow->mode == FOLLOW_PUSH)
    {
      g_autofree char *repository = g_strdup_printf ("%s/%s", ref->domain, ref->path);

      line = g_strdup_printf (_("The push refers to repository [%s]"), repository);
    }
  else
    {
      g_autoptr(PdReference) name_only = pd_reference_copy (ref);
      g_autofree char *familiar = NULL;

      /* Docker: "<tag>: Pulling from <familiar name>" */
      g_clear_pointer (&name_only->tag, g_free);
      g_clear_pointer (&name_only->digest, g_free);
      familiar = pd_reference_familiar (name_only);
      /* by digest alone, Docker has no tag to name (moby#47299) */
      if (ref->tag != NULL)
        line = g_strdup_printf (_("%s: Pulling from %s"), ref->tag, familiar);
      else
        line = g_strdup_printf (_("Pulling from %s"), familiar);
    }
  shown = escape_line (line);
  g_print ("%s\n", shown);
  if (follow->mode == FOLLOW_PULL && follow->digest != NULL && follow->digest[0] != '\0')
    {
      g_autofree char *shown_digest = escape_line (follow->digest);

      g_print (_("Digest: %s\n"), shown_digest);
    }
}

/* waits for the job at @path; returns its results or NULL with the job's error */
static GVariant *
job_follow_run (Ctl *ctl, JobFollow *follow, const char *path, GError **error)
{
  GDBusProxyFlags flags = G_DBUS_PROXY_FLAGS_NONE;
  gboolean pending_cancel = follow->cancel_requested;

  if (follow->mode == FOLLOW_CREATE)
    {
      follow->show_progress = isatty (STDERR_FILENO);
      if (!follow->show_progress)
        flags |= G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES;
    }
  else
    {
      follow->terminal = isatty (STDOUT_FILENO);
      follow->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) layer_row_free);
    }
  /* the proxy subscribes to PropertiesChanged before it reads the properties: nothing is lost */
  follow->job = pd_dbus_job_proxy_new_sync (ctl->bus, flags, PD_DBUS_NAME, path, NULL, error);
  if (follow->job == NULL)
    return NULL;

  g_signal_connect (follow->job, "g-properties-changed",
                    G_CALLBACK (on_job_properties_changed), follow);
  g_signal_connect (follow->job, "log-message", G_CALLBACK (on_job_log_message), follow);
  follow->sigint_id = g_unix_signal_add (SIGINT, on_sigint, follow);
  if (follow->mode != FOLLOW_CREATE)
    {
      print_job_header (follow);
      layers_update (follow);
    }
  else if (follow->show_progress)
    job_follow_render (follow);
  if (pending_cancel)
    {
      follow->cancel_requested = FALSE;
      job_follow_cancel (follow);
    }

  /* Wait() replies at once for a job that already finished, so nothing can be missed */
  g_dbus_proxy_call (G_DBUS_PROXY (follow->job), "Wait", NULL, G_DBUS_CALL_FLAGS_NONE,
                     G_MAXINT, NULL, on_wait_done, follow);
  g_main_loop_run (follow->loop);
  follow->finished = TRUE;

  job_follow_clear_line (follow);
  if (follow->sigint_id != 0)
    g_source_remove (follow->sigint_id);
  follow->sigint_id = 0;
  g_signal_handlers_disconnect_by_data (follow->job, follow);
  if (follow->mode != FOLLOW_CREATE)
    {
      job_follow_refresh (follow);
      layers_update (follow);
    }
  if (follow->results == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&follow->error));
      return NULL;
    }
  return g_steal_pointer (&follow->results);
}

/* create */

static gboolean opt_grant_all;

static const GOptionEntry create_entries[] = {
  { "grant-all-permissions", 0, 0, G_OPTION_ARG_NONE, &opt_grant_all,
    N_("Grant all permissions necessary to run the plugin"), NULL },
  { NULL }
};

static int
cmd_create (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) config_data = NULL;
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autoptr(TarWorker) worker = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *job_path = NULL;
  GThread *thread = NULL;
  GVariantBuilder options;
  JobFollow follow = { 0 };
  const char *name;
  const char *context;
  struct stat st;
  int fd = -1;
  int fd_index;
  int status;

  status = ctl_parse ("create", N_("NAME DIR|TARBALL"),
                      N_("Create a plugin from a directory holding config.json and rootfs/, or from "
                         "a tar archive of them (plain or compressed)."),
                      create_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc != 3)
    return usage_error ("create", _("“create” requires exactly 2 arguments: NAME and DIR or TARBALL"));
  name = argv[1];
  context = argv[2];

  /* read the config locally and compute the privileges exactly as the daemon will */
  if (stat (context, &st) < 0)
    {
      int saved_errno = errno;

      g_printerr (_("Error: %s: %s\n"), context, g_strerror (saved_errno));
      return CTL_EXIT_FAILURE;
    }
  if (S_ISDIR (st.st_mode))
    {
      config_data = read_dir_config (context, &error);
    }
  else if (S_ISREG (st.st_mode))
    {
      fd = open (context, O_RDONLY | O_CLOEXEC | O_NOCTTY);
      if (fd < 0)
        {
          int saved_errno = errno;

          g_printerr (_("Error: %s: %s\n"), context, g_strerror (saved_errno));
          return CTL_EXIT_FAILURE;
        }
      config_data = read_tarball_config (fd, context, &error);
    }
  else
    {
      g_printerr (_("Error: %s: not a directory or a regular file\n"), context);
      return CTL_EXIT_FAILURE;
    }
  if (config_data == NULL)
    goto fail;

  config = pd_plugin_config_new_from_data (g_bytes_get_data (config_data, NULL),
                                           g_bytes_get_size (config_data), &error);
  if (config == NULL)
    {
      g_prefix_error (&error, "%s: ", _("invalid config.json"));
      goto fail;
    }
  privileges = pd_privileges_compute (config, NULL);

  if (privileges->len > 0 && !opt_grant_all && !ask_privileges (name, privileges, FALSE))
    {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   _("permission denied while creating plugin %s"), name);
      goto fail;
    }

  if (!ctl_connect (&ctl, &error))
    goto fail;

  loop = g_main_loop_new (NULL, FALSE);
  follow.loop = loop;

  fd_list = g_unix_fd_list_new ();
  if (fd >= 0)
    {
      fd_index = g_unix_fd_list_append (fd_list, fd, &error);
      if (fd_index < 0)
        goto fail;
    }
  else
    {
      int pipe_fds[2];

      if (!g_unix_open_pipe (pipe_fds, FD_CLOEXEC, &error))
        goto fail;
      fd_index = g_unix_fd_list_append (fd_list, pipe_fds[0], &error);
      /* only the daemon may hold the read end: if it stops reading, the worker gets EPIPE */
      close (pipe_fds[0]);
      if (fd_index < 0)
        {
          close (pipe_fds[1]);
          goto fail;
        }
      worker = g_new0 (TarWorker, 1);
      worker->dir = g_strdup (context);
      worker->fd = pipe_fds[1];
      worker->main_context = g_main_context_ref (g_main_context_default ());
      worker->on_failed = on_tar_worker_failed;
      worker->on_failed_data = &follow;
      thread = g_thread_new ("pluginctl-tar", tar_worker_thread, worker);
    }

  ctl_options_init (&options);
  ret = g_dbus_proxy_call_with_unix_fd_list_sync (G_DBUS_PROXY (ctl.manager), "Create",
                                                  g_variant_new ("(sh@a(ssas)a{sv})", name,
                                                                 fd_index,
                                                                 pd_privileges_to_variant (privileges),
                                                                 &options),
                                                  ctl_call_flags (), G_MAXINT,
                                                  fd_list, NULL, NULL, &error);
  /* our copies of the context fd are no longer needed: the daemon has its own */
  g_clear_object (&fd_list);
  if (fd >= 0)
    {
      close (fd);
      fd = -1;
    }
  if (ret != NULL)
    {
      g_variant_get (ret, "(o)", &job_path);
      results = job_follow_run (&ctl, &follow, job_path, &error);
    }

  if (thread != NULL)
    {
      g_thread_join (thread);
      /* a local read error explains a failed job better than the daemon's "truncated";
       * without a job, the daemon never read the stream and its reply is what matters */
      if (ret != NULL && worker->error != NULL && !worker->peer_closed)
        {
          g_clear_error (&error);
          error = g_steal_pointer (&worker->error);
          g_clear_pointer (&results, g_variant_unref);
        }
    }
  /* the worker's failure callback may still be queued: run it while @follow is alive */
  follow.finished = TRUE;
  while (g_main_context_iteration (NULL, FALSE))
    ;
  job_follow_clear (&follow);
  if (results == NULL)
    goto fail;

  g_print ("%s\n", name);
  return CTL_EXIT_OK;

fail:
  if (fd >= 0)
    close (fd);
  return report_error (error);
}

/* ls */

static gboolean opt_quiet;
static gboolean opt_no_trunc;
static char **opt_filters;
static char *opt_format;

static const GOptionEntry list_entries[] = {
  { "quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet, N_("Only display plugin IDs"), NULL },
  { "no-trunc", 0, 0, G_OPTION_ARG_NONE, &opt_no_trunc, N_("Don't truncate output"), NULL },
  { "filter", 'f', 0, G_OPTION_ARG_STRING_ARRAY, &opt_filters,
    N_("Filter output: enabled=true|false, capability=NAME (repeatable)"), N_("KEY=VALUE") },
  { "format", 0, 0, G_OPTION_ARG_STRING, &opt_format,
    N_("Output format: “table” (the default) or “json” (one object per line)"), N_("FORMAT") },
  { NULL }
};

typedef struct {
  char *id;
  char *name;
  char *reference;
  char *state;
  gboolean enabled;
  char *path;
  char *description;
} ListRow;

static void
list_row_free (ListRow *row)
{
  g_free (row->id);
  g_free (row->name);
  g_free (row->reference);
  g_free (row->state);
  g_free (row->path);
  g_free (row->description);
  g_free (row);
}

static gboolean
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

/* natural order as in Docker's `plugin ls` (fvbommel/sortorder NaturalLess): digit runs
 * compare as numbers, digits sort before other bytes */
static int
natural_compare (const char *a, const char *b)
{
  gsize i = 0, j = 0;
  gsize len_a = strlen (a), len_b = strlen (b);

  while (i < len_a && j < len_b)
    {
      gboolean digit_a = is_digit (a[i]), digit_b = is_digit (b[j]);

      if (digit_a != digit_b)
        return digit_a ? -1 : 1;
      if (!digit_a)
        {
          if (a[i] != b[j])
            return (guchar) a[i] < (guchar) b[j] ? -1 : 1;
          i++;
          j++;
        }
      else
        {
          gsize start_a, start_b, num_a, num_b;
          int cmp;

          while (i < len_a && a[i] == '0')
            i++;
          while (j < len_b && b[j] == '0')
            j++;
          start_a = i;
          start_b = j;
          while (i < len_a && is_digit (a[i]))
            i++;
          while (j < len_b && is_digit (b[j]))
            j++;
          num_a = i - start_a;
          num_b = j - start_b;
          if (num_a != num_b)
            return num_a < num_b ? -1 : 1;
          cmp = strncmp (a + start_a, b + start_b, num_a);
          if (cmp != 0)
            return cmp < 0 ? -1 : 1;
          /* fewer leading zeros first */
          if (start_a != start_b)
            return start_a < start_b ? -1 : 1;
        }
    }
  /* identical so far: the one that continues sorts last */
  if (len_a == len_b)
    return 0;
  return len_a < len_b ? -1 : 1;
}

static int
list_row_compare (gconstpointer a, gconstpointer b)
{
  const ListRow *row_a = *(const ListRow *const *) a;
  const ListRow *row_b = *(const ListRow *const *) b;

  return natural_compare (row_a->name, row_b->name);
}

/* formatter.TruncateID */
static char *
truncate_id (const char *id)
{
  const char *colon = strchr (id, ':');

  if (colon != NULL)
    id = colon + 1;
  return g_strndup (id, CTL_SHORT_ID_LEN);
}

/* formatter.Ellipsis: fits @text into @width display columns (wide characters count 2) */
static char *
ellipsis (const char *text, guint width)
{
  g_autoptr(GString) out = g_string_new (NULL);
  guint total = 0;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    total += g_unichar_iswide (g_utf8_get_char (p)) ? 2 : 1;
  if (total <= width)
    return g_strdup (text);

  total = 0;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      guint w = g_unichar_iswide (c) ? 2 : 1;

      if (total + w > width - 1)
        break;
      g_string_append_unichar (out, c);
      total += w;
    }
  g_string_append (out, "…");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Docker's Description column: CR and LF removed, truncated unless --no-trunc */
static char *
format_description (const char *description, gboolean trunc)
{
  g_autoptr(GString) clean = g_string_new (NULL);

  for (const char *p = description; *p != '\0'; p++)
    if (*p != '\r' && *p != '\n')
      g_string_append_c (clean, *p);
  if (trunc)
    return ellipsis (clean->str, CTL_DESCRIPTION_WIDTH);
  return g_string_free (g_steal_pointer (&clean), FALSE);
}

/* appends the character at @p of valid UTF-8 JSON text and returns its length in bytes. Go's
 * encoder leaves DEL and the C1 controls raw, and a terminal acts on them (U+009B is CSI): they
 * become \u escapes, which any JSON parser reads as the same string. They can only occur inside
 * strings, where such an escape is allowed. */
static gsize
append_json_char (GString *out, const char *p)
{
  guchar c = (guchar) p[0];

  if (c == 0x7f)
    {
      g_string_append (out, "\\u007f");
      return 1;
    }
  if (c == 0xc2 && (guchar) p[1] >= 0x80 && (guchar) p[1] < 0xa0)
    {
      g_string_append_printf (out, "\\u00%02x", (guchar) p[1]);
      return 2;
    }
  g_string_append_c (out, (char) c);
  return 1;
}

/* text/tabwriter as Docker configures it: minimum cell width 10, padding 3, width in runes */
static void
print_table (GPtrArray *rows, guint n_columns)
{
  g_autofree gsize *widths = g_new0 (gsize, n_columns);

  for (guint r = 0; r < rows->len; r++)
    {
      const char *const *cells = g_ptr_array_index (rows, r);

      for (guint c = 0; c + 1 < n_columns; c++)
        widths[c] = MAX (widths[c], (gsize) g_utf8_strlen (cells[c], -1));
    }
  for (guint r = 0; r < rows->len; r++)
    {
      const char *const *cells = g_ptr_array_index (rows, r);
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint c = 0; c < n_columns; c++)
        {
          g_string_append (line, cells[c]);
          if (c + 1 < n_columns)
            {
              gsize width = MAX (widths[c] + 3, 10);

              for (gsize k = (gsize) g_utf8_strlen (cells[c], -1); k < width; k++)
                g_string_append_c (line, ' ');
            }
        }
      g_print ("%s\n", line->str);
    }
}

/* the Description of every plugin, with one GetManagedObjects call rather than one per plugin */
static GHashTable *
get_descriptions (Ctl *ctl, GError **error)
{
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GHashTable) descriptions = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                              g_free, g_free);
  GVariantIter iter;
  const char *path;
  GVariant *interfaces;

  ret = g_dbus_connection_call_sync (ctl->bus, PD_DBUS_NAME, PD_DBUS_ROOT_PATH,
                                     "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                     NULL, G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                                     G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
  if (ret == NULL)
    return NULL;
  objects = g_variant_get_child_value (ret, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &interfaces))
    {
      g_autoptr(GVariant) props = g_variant_lookup_value (interfaces, PD_DBUS_INTERFACE_PLUGIN,
                                                          G_VARIANT_TYPE_VARDICT);
      const char *description = NULL;

      if (props != NULL && g_variant_lookup (props, "Description", "&s", &description))
        g_hash_table_insert (descriptions, g_strdup (path), g_strdup (description));
      g_variant_unref (interfaces);
    }
  return g_steal_pointer (&descriptions);
}

/* fills @filters from the -f options; NULL with a usage message on error */
static gboolean
parse_filters (GVariantBuilder *filters, GPtrArray *capabilities, GError **error)
{
  int enabled = -1;

  g_variant_builder_init (filters, G_VARIANT_TYPE_VARDICT);
  for (gsize i = 0; opt_filters != NULL && opt_filters[i] != NULL; i++)
    {
      const char *filter = opt_filters[i];
      const char *eq = strchr (filter, '=');
      g_autofree char *key = NULL;
      const char *value;

      if (eq == NULL)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("bad format of filter (expected name=value)"));
          return FALSE;
        }
      key = g_ascii_strdown (filter, eq - filter);
      g_strstrip (key);
      value = eq + 1;
      if (g_str_equal (key, "enabled"))
        {
          int b;

          if (g_str_equal (value, "true") || g_str_equal (value, "1"))
            b = 1;
          else if (g_str_equal (value, "false") || g_str_equal (value, "0"))
            b = 0;
          else
            {
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("invalid filter 'enabled=%s'"), value);
              return FALSE;
            }
          if (enabled >= 0 && enabled != b)
            {
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("conflicting values for filter 'enabled'"));
              return FALSE;
            }
          enabled = b;
        }
      else if (g_str_equal (key, "capability"))
        {
          if (!g_ptr_array_find_with_equal_func (capabilities, value, g_str_equal, NULL))
            g_ptr_array_add (capabilities, g_strdup (value));
        }
      else
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("invalid filter '%s'"), key);
          return FALSE;
        }
    }
  if (enabled >= 0)
    g_variant_builder_add (filters, "{sv}", "enabled", g_variant_new_boolean (enabled));
  return TRUE;
}

/* ListPlugins with @filters (a floating or owned a{sv}), rows added to @rows unless @seen */
static gboolean
list_plugins (Ctl *ctl, GVariant *filters, GPtrArray *rows, GHashTable *seen, GError **error)
{
  g_autoptr(GVariant) plugins = NULL;
  GVariantIter iter;
  const char *id, *name, *reference, *state, *path;
  gboolean enabled;

  if (!pd_dbus_manager_call_list_plugins_sync (ctl->manager, filters, &plugins, NULL, error))
    return FALSE;
  g_variant_iter_init (&iter, plugins);
  while (g_variant_iter_next (&iter, "(&s&s&s&sb&o)", &id, &name, &reference, &state,
                              &enabled, &path))
    {
      ListRow *row;

      if (g_hash_table_contains (seen, id))
        continue;
      row = g_new0 (ListRow, 1);
      row->id = g_strdup (id);
      row->name = g_strdup (name);
      row->reference = g_strdup (reference);
      row->state = g_strdup (state);
      row->enabled = enabled;
      row->path = g_strdup (path);
      g_hash_table_add (seen, row->id);
      g_ptr_array_add (rows, row);
    }
  return TRUE;
}

static int
cmd_list (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) capabilities = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) list_row_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) descriptions = NULL;
  g_autoptr(GVariant) base_filters = NULL;
  GVariantBuilder filters;
  gboolean json = FALSE;
  gboolean trunc;
  int status;

  status = ctl_parse (argv[0], "", N_("List plugins."), list_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc != 1)
    return usage_error ("ls", _("“ls” accepts no arguments"));
  if (opt_format != NULL && g_str_equal (opt_format, "json"))
    json = TRUE;
  else if (opt_format != NULL && !g_str_equal (opt_format, "table") && opt_format[0] != '\0')
    return usage_error ("ls", _("unsupported format: use “table” or “json”"));
  if (!parse_filters (&filters, capabilities, &error))
    {
      g_variant_builder_clear (&filters);
      return usage_error ("ls", error->message);
    }
  base_filters = g_variant_ref_sink (g_variant_builder_end (&filters));
  trunc = !opt_no_trunc;

  if (!ctl_connect (&ctl, &error))
    return report_error (error);

  /* Docker keeps a plugin matching any of several capability filters: one call per value */
  if (capabilities->len == 0)
    {
      if (!list_plugins (&ctl, base_filters, rows, seen, &error))
        return report_error (error);
    }
  for (guint i = 0; i < capabilities->len; i++)
    {
      GVariantDict dict;

      g_variant_dict_init (&dict, base_filters);
      g_variant_dict_insert (&dict, "capability", "s", g_ptr_array_index (capabilities, i));
      if (!list_plugins (&ctl, g_variant_dict_end (&dict), rows, seen, &error))
        return report_error (error);
    }
  g_ptr_array_sort (rows, list_row_compare);

  if (opt_quiet)
    {
      for (guint i = 0; i < rows->len; i++)
        {
          ListRow *row = g_ptr_array_index (rows, i);
          g_autofree char *id = trunc ? truncate_id (row->id) : g_strdup (row->id);

          g_print ("%s\n", id);
        }
      return CTL_EXIT_OK;
    }

  if (rows->len > 0)
    {
      descriptions = get_descriptions (&ctl, &error);
      if (descriptions == NULL)
        return report_error (error);
    }
  for (guint i = 0; i < rows->len; i++)
    {
      ListRow *row = g_ptr_array_index (rows, i);
      const char *description = g_hash_table_lookup (descriptions, row->path);

      /* a plugin created after GetManagedObjects: ask it directly */
      if (description == NULL)
        {
          g_autoptr(PdDbusPlugin) plugin = NULL;

          plugin = pd_dbus_plugin_proxy_new_sync (ctl.bus, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                                  PD_DBUS_NAME, row->path, NULL, NULL);
          if (plugin != NULL)
            row->description = pd_dbus_plugin_dup_description (plugin);
        }
      else
        row->description = g_strdup (description);
      if (row->description == NULL)
        row->description = g_strdup ("");
    }

  if (json)
    {
      for (guint i = 0; i < rows->len; i++)
        {
          ListRow *row = g_ptr_array_index (rows, i);
          g_autofree char *id = trunc ? truncate_id (row->id) : g_strdup (row->id);
          g_autofree char *description = format_description (row->description, trunc);
          g_autoptr(JsonBuilder) builder = json_builder_new ();
          g_autoptr(JsonNode) node = NULL;
          g_autofree char *data = NULL;
          g_autoptr(GString) line = NULL;

          /* the keys in Go's sorted map order, as docker's {{json .}} writes them */
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "Description");
          json_builder_add_string_value (builder, description);
          json_builder_set_member_name (builder, "Enabled");
          json_builder_add_boolean_value (builder, row->enabled);
          json_builder_set_member_name (builder, "ID");
          json_builder_add_string_value (builder, id);
          json_builder_set_member_name (builder, "Name");
          json_builder_add_string_value (builder, row->name);
          json_builder_set_member_name (builder, "PluginReference");
          json_builder_add_string_value (builder, row->reference);
          /* not in Docker's output: whether the plugin runs now, not only whether it should */
          json_builder_set_member_name (builder, "State");
          json_builder_add_string_value (builder, row->state);
          json_builder_end_object (builder);
          node = json_builder_get_root (builder);
          data = pd_json_to_go_data (node, NULL);
          line = g_string_sized_new (strlen (data) + 1);
          for (const char *p = data; *p != '\0';)
            p += append_json_char (line, p);
          g_print ("%s\n", line->str);
        }
      return CTL_EXIT_OK;
    }

  {
    g_autoptr(GPtrArray) table = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
    const char *header[] = { "ID", "NAME", "DESCRIPTION", "ENABLED", NULL };

    g_ptr_array_add (table, g_strdupv ((char **) header));
    for (guint i = 0; i < rows->len; i++)
      {
        ListRow *row = g_ptr_array_index (rows, i);
        g_autofree char *description = format_description (row->description, trunc);
        char **cells = g_new0 (char *, 5);

        cells[0] = trunc ? truncate_id (row->id) : g_strdup (row->id);
        /* names and descriptions are untrusted: no terminal escape sequences in a table */
        cells[1] = pd_escape_untrusted_full (row->name, -1);
        cells[2] = pd_escape_untrusted_full (description, -1);
        cells[3] = g_strdup (row->enabled ? "true" : "false");
        g_ptr_array_add (table, cells);
      }
    print_table (table, 4);
  }
  return CTL_EXIT_OK;
}

/* inspect */

static void
append_indent (GString *out, guint depth)
{
  g_string_append_c (out, '\n');
  for (guint i = 0; i < depth; i++)
    g_string_append (out, "    ");
}

/* Go's json.Indent with a 4-space indent, as `docker plugin inspect` prints the daemon's raw
 * JSON: only whitespace changes, every token is copied as it came (but for the controls
 * append_json_char escapes) */
static void
append_json_indented (GString *out, const char *json, guint base_depth)
{
  guint depth = base_depth;
  gboolean in_string = FALSE;
  gboolean escaped = FALSE;
  gboolean need_indent = FALSE;  /* after an opening bracket, unless it closes at once */

  for (const char *p = json; *p != '\0'; p++)
    {
      char c = *p;

      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
          else
            {
              p += append_json_char (out, p) - 1;
              continue;
            }
          g_string_append_c (out, c);
          continue;
        }
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        continue;
      if (need_indent && c != ']' && c != '}')
        {
          append_indent (out, depth);
          need_indent = FALSE;
        }
      switch (c)
        {
        case '"':
          in_string = TRUE;
          g_string_append_c (out, c);
          break;
        case '{':
        case '[':
          g_string_append_c (out, c);
          depth++;
          need_indent = TRUE;
          break;
        case '}':
        case ']':
          depth--;
          if (need_indent)
            need_indent = FALSE;  /* empty: "[]" and "{}" stay compact */
          else
            append_indent (out, depth);
          g_string_append_c (out, c);
          break;
        case ',':
          g_string_append_c (out, c);
          append_indent (out, depth);
          break;
        case ':':
          g_string_append (out, ": ");
          break;
        default:
          g_string_append_c (out, c);
        }
    }
}

static gboolean opt_show_values;

static const GOptionEntry inspect_entries[] = {
  { "show-values", 0, 0, G_OPTION_ARG_NONE, &opt_show_values,
    N_("Show the values of environment variables and arguments, which may contain passwords "
       "(may ask for authentication)"), NULL },
  { NULL }
};

static JsonNode *
strv_to_json_array (const char *const *strv)
{
  JsonArray *array = json_array_new ();

  for (gsize i = 0; strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);
  return json_node_init_array (json_node_alloc (), array);
}

/* the daemon's JSON, parsed into @parser, with the values of the env vars and args of
 * @plugin in Settings (GetSettingValues, authorized by read-settings: the one call of inspect
 * that may ask for a password), written as the daemon writes it */
static char *
inspect_with_values (PdDbusPlugin *plugin, JsonNode *root, GError **error)
{
  g_autoptr(GVariant) ret = NULL;
  g_auto(GStrv) env = NULL;
  g_auto(GStrv) args = NULL;
  GVariantBuilder options;
  JsonObject *settings = NULL;

  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root) &&
      json_object_has_member (json_node_get_object (root), "Settings"))
    settings = json_object_get_object_member (json_node_get_object (root), "Settings");
  if (settings == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("the daemon's answer has no Settings object"));
      return NULL;
    }
  ctl_options_init (&options);
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (plugin), "GetSettingValues",
                                g_variant_new ("(a{sv})", &options), ctl_call_flags (), G_MAXINT,
                                NULL, error);
  if (ret == NULL)
    return NULL;
  g_variant_get (ret, "(^as^as)", &env, &args);
  /* replacing a member keeps its place: the order stays Go's */
  json_object_set_member (settings, "Env", strv_to_json_array ((const char *const *) env));
  json_object_set_member (settings, "Args", strv_to_json_array ((const char *const *) args));
  return pd_json_to_go_data (root, NULL);
}

static int
cmd_inspect (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new ("[");
  g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  guint n_found = 0;
  int status;

  status = ctl_parse ("inspect", N_("NAME…"),
                      N_("Show plugins as JSON, in Docker's plugin inspect format. The values "
                         "of environment variables and arguments are shown as \"<hidden>\" "
                         "unless you are root or allowed to read them without "
                         "authenticating; --show-values asks for them."),
                      inspect_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc < 2)
    return usage_error ("inspect", _("“inspect” requires at least 1 argument"));

  if (!ctl_connect (&ctl, &error))
    return report_error (error);

  for (int i = 1; i < argc; i++)
    {
      g_autoptr(PdDbusPlugin) plugin = NULL;
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *json = NULL;
      GError *local_error = NULL;

      plugin = ctl_get_plugin (&ctl, argv[i], &local_error);
      if (plugin == NULL ||
          !pd_dbus_plugin_call_inspect_sync (plugin, &json, NULL, &local_error))
        {
          g_ptr_array_add (errors, local_error);
          continue;
        }
      /* only valid JSON gets re-indented; the values go into the parsed tree */
      if (opt_show_values)
        root = pd_json_parse (json, strlen (json), CTL_MAX_DBUS_MESSAGE_SIZE, &local_error);
      if (opt_show_values ? root == NULL
                          : !pd_json_check (json, strlen (json), CTL_MAX_DBUS_MESSAGE_SIZE,
                                            &local_error))
        {
          g_prefix_error (&local_error, "%s: ", argv[i]);
          g_ptr_array_add (errors, local_error);
          continue;
        }
      if (opt_show_values)
        {
          g_autofree char *shown = inspect_with_values (plugin, root, &local_error);

          if (shown == NULL)
            {
              g_ptr_array_add (errors, local_error);
              continue;
            }
          g_free (json);
          json = g_steal_pointer (&shown);
        }
      if (n_found++ > 0)
        g_string_append_c (out, ',');
      append_indent (out, 1);
      append_json_indented (out, json, 1);
    }
  if (n_found > 0)
    g_string_append_c (out, '\n');
  g_string_append (out, "]\n");
  g_print ("%s", out->str);

  status = CTL_EXIT_OK;
  for (guint i = 0; i < errors->len; i++)
    {
      int s = report_error (g_ptr_array_index (errors, i));

      if (status == CTL_EXIT_OK)
        status = s;
    }
  return status;
}

/* set */

/* KEY=VALUE arguments as Set's a{ss} (a new floating variant), with Docker's grammar: split at
 * the first "="; a bare KEY sets ""; the last value wins. NULL for an argument starting with
 * "=". */
static GVariant *
parse_settings (int argc, char **argv, int first)
{
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GHashTable) values = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  GVariantBuilder settings;

  for (int i = first; i < argc; i++)
    {
      const char *arg = argv[i];
      const char *eq = strchr (arg, '=');
      g_autofree char *key = NULL;
      char *stored = NULL;

      if (eq == arg)
        return NULL;
      key = eq != NULL ? g_strndup (arg, eq - arg) : g_strdup (arg);
      for (guint k = 0; k < keys->len && stored == NULL; k++)
        if (g_str_equal (g_ptr_array_index (keys, k), key))
          stored = g_ptr_array_index (keys, k);
      if (stored == NULL)
        {
          stored = g_steal_pointer (&key);
          g_ptr_array_add (keys, stored);
        }
      g_hash_table_insert (values, stored, g_strdup (eq != NULL ? eq + 1 : ""));
    }

  g_variant_builder_init (&settings, G_VARIANT_TYPE ("a{ss}"));
  for (guint k = 0; k < keys->len; k++)
    {
      const char *key = g_ptr_array_index (keys, k);

      g_variant_builder_add (&settings, "{ss}", key, g_hash_table_lookup (values, key));
    }
  return g_variant_builder_end (&settings);
}

#define CTL_SETTING_FORMAT_ERROR "invalid format, must be <name>[.<field>][=<value>]"

static int
cmd_set (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDbusPlugin) plugin = NULL;
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GVariant) ret = NULL;
  GVariantBuilder options;
  int status;

  status = ctl_parse ("set", N_("NAME KEY=VALUE…"),
                      N_("Change settings of a plugin: KEY is a setting name or NAME.FIELD "
                         "(env value, args value, mount source, device path)."),
                      NULL, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc < 3)
    return usage_error ("set", _("“set” requires at least 2 arguments: NAME and KEY=VALUE"));

  settings = parse_settings (argc, argv, 2);
  if (settings == NULL)
    return usage_error ("set", CTL_SETTING_FORMAT_ERROR);
  g_variant_ref_sink (settings);

  if (!ctl_connect (&ctl, &error))
    return report_error (error);
  plugin = ctl_get_plugin (&ctl, argv[1], &error);
  if (plugin == NULL)
    return report_error (error);

  ctl_options_init (&options);
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (plugin), "Set",
                                g_variant_new ("(@a{ss}a{sv})", settings, &options),
                                ctl_call_flags (), G_MAXINT, NULL, &error);
  if (ret == NULL)
    return report_error (error);
  return CTL_EXIT_OK;
}

/* enable, disable */

/* parses the value of @option as an unsigned number in [@min, @max] */
static gboolean
parse_unsigned_option (const char *option,
                       const char *value,
                       guint64 min,
                       guint64 max,
                       guint64 *out,
                       GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (!g_ascii_string_to_unsigned (value, 10, min, max, out, &local_error))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("invalid value “%s” for %s: %s"), value, option, local_error->message);
      return FALSE;
    }
  return TRUE;
}

static char *opt_timeout;
static char *opt_activation_timeout;

static const GOptionEntry enable_entries[] = {
  { "timeout", 0, 0, G_OPTION_ARG_STRING, &opt_timeout,
    N_("HTTP client timeout of the calls to the plugin, in seconds (0: none; default: the "
       "daemon's, none)"), N_("SECONDS") },
  { "activation-timeout", 0, 0, G_OPTION_ARG_STRING, &opt_activation_timeout,
    N_("How long to wait for the plugin to start and answer its handshake, in milliseconds "
       "(default: the daemon's, 20000)"), N_("MS") },
  { NULL }
};

/* calls Enable or Disable of the plugin @name with @options; prints @name like Docker */
static int
ctl_switch_plugin (const char *name, const char *method, GVariantBuilder *options)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDbusPlugin) plugin = NULL;
  g_autoptr(GVariant) ret = NULL;

  if (!ctl_connect (&ctl, &error) ||
      (plugin = ctl_get_plugin (&ctl, name, &error)) == NULL)
    {
      g_variant_builder_clear (options);
      return report_error (error);
    }
  /* no D-Bus timeout: the daemon bounds the start (activation-timeout) and the stop
   * (stop-timeout) itself, and a password dialog may take the user a while */
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (plugin), method,
                                g_variant_new ("(a{sv})", options),
                                ctl_call_flags (), G_MAXINT, NULL, &error);
  if (ret == NULL)
    return report_error (error);
  g_print ("%s\n", name);
  return CTL_EXIT_OK;
}

static int
cmd_enable (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  GVariantBuilder options;
  guint64 timeout = 0;
  guint64 activation_timeout = 0;
  int status;

  status = ctl_parse ("enable", N_("NAME"),
                      N_("Enable a plugin: start it in its sandbox and wait until it answers on "
                         "its socket. The plugin then starts again with the daemon."),
                      enable_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc != 2)
    return usage_error ("enable", _("“enable” requires exactly 1 argument"));
  if ((opt_timeout != NULL &&
       !parse_unsigned_option ("--timeout", opt_timeout, 0, G_MAXUINT32, &timeout, &error)) ||
      (opt_activation_timeout != NULL &&
       !parse_unsigned_option ("--activation-timeout", opt_activation_timeout, 1, G_MAXUINT32,
                               &activation_timeout, &error)))
    return usage_error ("enable", error->message);

  ctl_options_init (&options);
  if (opt_timeout != NULL)
    g_variant_builder_add (&options, "{sv}", "timeout", g_variant_new_uint32 ((guint32) timeout));
  if (opt_activation_timeout != NULL)
    g_variant_builder_add (&options, "{sv}", "activation-timeout",
                           g_variant_new_uint32 ((guint32) activation_timeout));
  return ctl_switch_plugin (argv[1], "Enable", &options);
}

static gboolean opt_force_disable;

static const GOptionEntry disable_entries[] = {
  { "force", 'f', 0, G_OPTION_ARG_NONE, &opt_force_disable,
    N_("Force the disable of an active plugin (one that holders use)"), NULL },
  { NULL }
};

static int
cmd_disable (int argc, char **argv)
{
  GVariantBuilder options;
  int status;

  status = ctl_parse ("disable", N_("NAME"),
                      N_("Disable a plugin: stop it (SIGTERM, then SIGKILL after 10 seconds). "
                         "It no longer starts with the daemon."),
                      disable_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc != 2)
    return usage_error ("disable", _("“disable” requires exactly 1 argument"));

  ctl_options_init (&options);
  g_variant_builder_add (&options, "{sv}", "force", g_variant_new_boolean (opt_force_disable));
  return ctl_switch_plugin (argv[1], "Disable", &options);
}

/* logs */

#define CTL_DEFAULT_LOG_LINES 100

static gboolean opt_follow;
static char *opt_tail;

static const GOptionEntry logs_entries[] = {
  { "follow", 'f', 0, G_OPTION_ARG_NONE, &opt_follow,
    N_("Follow the output until the plugin stops"), NULL },
  { "tail", 'n', 0, G_OPTION_ARG_STRING, &opt_tail,
    N_("Number of lines to show from the end of the log, or “all” (default: 100)"), N_("N") },
  { NULL }
};

/* writes all of @data to @fd; FALSE with errno set on failure */
static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Appends @len bytes of plugin output at @data to @out for a terminal: the C0 controls but for
 * line feed and tab, DEL, the C1 controls and bytes that are not UTF-8 become \xHH, so that a
 * plugin cannot drive the user's terminal. Returns how many bytes were consumed: an incomplete
 * UTF-8 sequence at the end is left for the next call unless @at_end. */
static gsize
append_terminal_safe (GString *out, const char *data, gsize len, gboolean at_end)
{
  const char *p = data;
  const char *end = data + len;

  while (p < end)
    {
      guchar byte = (guchar) *p;
      gunichar c;

      if (byte < 0x80)
        {
          if (byte == '\n' || byte == '\t' || (byte >= 0x20 && byte != 0x7f))
            g_string_append_c (out, (char) byte);
          else
            g_string_append_printf (out, "\\x%02x", byte);
          p++;
          continue;
        }
      c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -2 && !at_end)
        break;  /* the rest of the character comes with the next read */
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02x", byte);
          p++;
          continue;
        }
      if (c < 0xa0)
        g_string_append_printf (out, "\\x%02x", c);
      else
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
      p = g_utf8_next_char (p);
    }
  return (gsize) (p - data);
}

/* copies @fd to standard output until end of file */
static int
copy_log (int fd)
{
  gboolean terminal = isatty (STDOUT_FILENO);
  g_autoptr(GString) out = g_string_new (NULL);
  char buf[65536];
  gsize pending = 0;  /* the start of an incomplete character, kept at the start of @buf */

  for (;;)
    {
      ssize_t n = read (fd, buf + pending, sizeof buf - pending);
      gboolean at_end;
      gsize len;
      gsize used;

      if (n < 0)
        {
          int saved_errno = errno;

          if (saved_errno == EINTR)
            continue;
          g_printerr (_("Error: reading the log: %s\n"), g_strerror (saved_errno));
          return CTL_EXIT_FAILURE;
        }
      at_end = n == 0;
      len = pending + (gsize) n;
      if (!terminal)
        {
          /* a file or a pipe gets the plugin's bytes as they are */
          if (at_end)
            return CTL_EXIT_OK;
          if (!write_all (STDOUT_FILENO, buf, len))
            goto write_failed;
          continue;
        }
      g_string_truncate (out, 0);
      used = append_terminal_safe (out, buf, len, at_end);
      if (!write_all (STDOUT_FILENO, out->str, out->len))
        goto write_failed;
      if (at_end)
        return CTL_EXIT_OK;
      pending = len - used;
      memmove (buf, buf + used, pending);
    }

write_failed:
  {
    int saved_errno = errno;

    /* a reader that went away (`pluginctl logs -f NAME | head`) ends the copy quietly */
    if (saved_errno == EPIPE)
      return CTL_EXIT_OK;
    g_printerr (_("Error: writing the log: %s\n"), g_strerror (saved_errno));
    return CTL_EXIT_FAILURE;
  }
}

static int
cmd_logs (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDbusPlugin) plugin = NULL;
  g_autoptr(GUnixFDList) fd_list = NULL;
  g_autoptr(GVariant) ret = NULL;
  GVariantBuilder options;
  guint64 lines = CTL_DEFAULT_LOG_LINES;
  gint32 fd_index;
  int fd;
  int status;

  status = ctl_parse ("logs", N_("NAME"),
                      N_("Show the output (stdout and stderr) of a plugin. On a terminal, "
                         "control characters other than line feed and tab are shown escaped."),
                      logs_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc != 2)
    return usage_error ("logs", _("“logs” requires exactly 1 argument"));
  if (opt_tail != NULL && g_str_equal (opt_tail, "all"))
    lines = G_MAXUINT32;
  else if (opt_tail != NULL &&
           !parse_unsigned_option ("--tail", opt_tail, 0, G_MAXUINT32, &lines, &error))
    return usage_error ("logs", error->message);

  if (!ctl_connect (&ctl, &error))
    return report_error (error);
  plugin = ctl_get_plugin (&ctl, argv[1], &error);
  if (plugin == NULL)
    return report_error (error);

  ctl_options_init (&options);
  g_variant_builder_add (&options, "{sv}", "lines", g_variant_new_uint32 ((guint32) lines));
  g_variant_builder_add (&options, "{sv}", "follow", g_variant_new_boolean (opt_follow));
  ret = g_dbus_proxy_call_with_unix_fd_list_sync (G_DBUS_PROXY (plugin), "OpenLog",
                                                  g_variant_new ("(a{sv})", &options),
                                                  ctl_call_flags (), G_MAXINT, NULL,
                                                  &fd_list, NULL, &error);
  if (ret == NULL)
    return report_error (error);
  g_variant_get (ret, "(h)", &fd_index);
  if (fd_list == NULL)
    {
      g_printerr (_("Error: %s\n"), _("the daemon sent no file descriptor"));
      return CTL_EXIT_FAILURE;
    }
  fd = g_unix_fd_list_get (fd_list, fd_index, &error);
  if (fd < 0)
    return report_error (error);
  /* only our duplicate stays open: the daemon sees the reader go away when it is closed */
  g_clear_object (&fd_list);

  /* Ctrl+C ends a follow with the default action: nothing is left to clean up */
  status = copy_log (fd);
  close (fd);
  return status;
}

/* rm */

static gboolean opt_force;

static const GOptionEntry remove_entries[] = {
  { "force", 'f', 0, G_OPTION_ARG_NONE, &opt_force,
    N_("Force the removal of an active plugin"), NULL },
  { NULL }
};

static int
cmd_remove (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_autoptr(GError) error = NULL;
  int status;

  status = ctl_parse (argv[0], N_("NAME…"), N_("Remove plugins."), remove_entries,
                      &argc, &argv);
  if (status >= 0)
    return status;
  if (argc < 2)
    return usage_error ("rm", _("“rm” requires at least 1 argument"));

  if (!ctl_connect (&ctl, &error))
    return report_error (error);

  status = CTL_EXIT_OK;
  for (int i = 1; i < argc; i++)
    {
      g_autoptr(PdDbusPlugin) plugin = NULL;
      g_autoptr(GVariant) ret = NULL;
      g_autoptr(GError) local_error = NULL;
      GVariantBuilder options;

      plugin = ctl_get_plugin (&ctl, argv[i], &local_error);
      if (plugin != NULL)
        {
          ctl_options_init (&options);
          g_variant_builder_add (&options, "{sv}", "force", g_variant_new_boolean (opt_force));
          ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (plugin), "Remove",
                                        g_variant_new ("(a{sv})", &options),
                                        ctl_call_flags (), G_MAXINT, NULL, &local_error);
        }
      if (ret == NULL)
        {
          int s = report_error (local_error);

          if (status == CTL_EXIT_OK)
            status = s;
          continue;
        }
      /* Docker prints each removed name */
      g_print ("%s\n", argv[i]);
    }
  return status;
}

/* registry credentials */

/* Docker Hub's key in config.json (registry.IndexServer) */
#define CTL_DOCKER_HUB_KEY "https://index.docker.io/v1/"
#define CTL_DOCKER_HUB_DOMAIN "docker.io"

/* a string holding a secret: overwritten before it is freed */
typedef char CtlSecret;

static void
ctl_secret_free (CtlSecret *secret)
{
  if (secret != NULL)
    memset (secret, 0, strlen (secret));
  g_free (secret);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CtlSecret, ctl_secret_free)

typedef struct {
  char *registry;  /* the remote's registry, e.g. "docker.io", "localhost:5000" */
  char *path;      /* the config file read */
  CtlSecret *header;  /* X-Registry-Auth for that registry only; NULL: anonymous */
  gboolean helper;    /* a credential helper holds them, which pluginctl does not run */
} CtlRegistryAuth;

static void
ctl_registry_auth_clear (CtlRegistryAuth *auth)
{
  g_clear_pointer (&auth->registry, g_free);
  g_clear_pointer (&auth->path, g_free);
  g_clear_pointer (&auth->header, ctl_secret_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CtlRegistryAuth, ctl_registry_auth_clear)

/* Docker's CLI config of the calling user: $DOCKER_CONFIG/config.json, else
 * $HOME/.docker/config.json with $HOME as it is (sudo decides whose it is) */
static char *
docker_config_path (void)
{
  const char *dir = g_getenv ("DOCKER_CONFIG");
  const char *home = g_getenv ("HOME");

  if (dir != NULL && *dir != '\0')
    return g_build_filename (dir, "config.json", NULL);
  if (home == NULL || *home == '\0')
    home = g_get_home_dir ();
  return g_build_filename (home, ".docker", "config.json", NULL);
}

/* a member by name, case-insensitively as Go decodes JSON into a struct */
static JsonNode *
json_member_ci (JsonObject *object, const char *name)
{
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next)
    if (g_ascii_strcasecmp (l->data, name) == 0)
      return json_object_get_member (object, l->data);
  return NULL;
}

static const char *
json_string_ci (JsonObject *object, const char *name)
{
  JsonNode *node = json_member_ci (object, name);

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
      json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  return NULL;
}

static JsonObject *
json_object_ci (JsonObject *object, const char *name)
{
  JsonNode *node = json_member_ci (object, name);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/* the registry a config.json key names, as the daemon compares serveraddress: scheme and path
 * dropped, lower case, Docker Hub's hosts as "docker.io" */
static char *
registry_key_domain (const char *key)
{
  const char *start = key;
  const char *end;
  g_autofree char *host = NULL;

  if (g_ascii_strncasecmp (start, "https://", strlen ("https://")) == 0)
    start += strlen ("https://");
  else if (g_ascii_strncasecmp (start, "http://", strlen ("http://")) == 0)
    start += strlen ("http://");
  end = strchr (start, '/');
  host = end != NULL ? g_strndup (start, (gsize) (end - start)) : g_strdup (start);
  if (g_ascii_strcasecmp (host, "index.docker.io") == 0 ||
      g_ascii_strcasecmp (host, "registry-1.docker.io") == 0)
    return g_strdup (CTL_DOCKER_HUB_DOMAIN);
  return g_ascii_strdown (host, -1);
}

/* Docker's X-Registry-Auth: base64url (padded) of the JSON AuthConfig */
static CtlSecret *
encode_auth_config (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  g_autoptr(CtlSecret) json = NULL;
  gsize len = 0;
  char *encoded;

  json_generator_set_root (generator, root);
  json = json_generator_to_data (generator, &len);
  encoded = g_base64_encode ((const guchar *) json, len);
  for (char *p = encoded; *p != '\0'; p++)
    {
      if (*p == '+')
        *p = '-';
      else if (*p == '/')
        *p = '_';
    }
  return encoded;
}

/* X-Registry-Auth from the entry auths[@key] of the config file @path; NULL when the entry
 * holds no credentials. Never prints a credential. */
static CtlSecret *
encode_auth_entry (const char *key, JsonObject *entry, const char *path)
{
  const char *identity_token = json_string_ci (entry, "identitytoken");
  const char *auth = json_string_ci (entry, "auth");
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(CtlSecret) username = NULL;
  g_autoptr(CtlSecret) password = NULL;

  json_builder_begin_object (builder);
  if (identity_token != NULL && *identity_token != '\0')
    {
      json_builder_set_member_name (builder, "identitytoken");
      json_builder_add_string_value (builder, identity_token);
    }
  else
    {
      if (auth != NULL && *auth != '\0')
        {
          gsize len = 0;
          guchar *decoded = g_base64_decode (auth, &len);
          const char *text = (const char *) decoded;
          const char *colon = text != NULL ? memchr (text, ':', len) : NULL;

          if (colon != NULL && memchr (text, '\0', len) == NULL)
            {
              gsize user_len = (gsize) (colon - text);

              username = g_strndup (text, user_len);
              password = g_strndup (colon + 1, len - user_len - 1);
            }
          if (decoded != NULL)
            memset (decoded, 0, len);
          g_free (decoded);
          if (username == NULL)
            {
              g_autofree char *shown_key = escape_line (key);
              g_autofree char *shown_path = escape_line (path);

              g_printerr (_("WARNING: %s: the “auth” of “%s” is not the base64 of "
                            "“username:password”; it is not used\n"), shown_path, shown_key);
              return NULL;
            }
        }
      else
        {
          username = g_strdup (json_string_ci (entry, "username"));
          password = g_strdup (json_string_ci (entry, "password"));
        }
      if (username == NULL || *username == '\0')
        return NULL;
      json_builder_set_member_name (builder, "username");
      json_builder_add_string_value (builder, username);
      json_builder_set_member_name (builder, "password");
      json_builder_add_string_value (builder, password != NULL ? password : "");
    }
  /* the daemon sends the credentials only to this registry */
  json_builder_set_member_name (builder, "serveraddress");
  json_builder_add_string_value (builder, key);
  json_builder_end_object (builder);
  return encode_auth_config (builder);
}

/* Looks up the credentials for the registry of @remote in the caller's Docker config, as
 * Docker's CLI does (command.ResolveAuthConfig): the entry of auths keyed by the registry
 * ("https://index.docker.io/v1/" for Docker Hub), else one whose key names the same host with
 * a scheme or a path. Only that registry's entry is ever sent. Credential helpers are not run. */
static void
ctl_registry_auth_load (CtlRegistryAuth *auth, const char *remote)
{
  static gboolean helper_note_shown;
  g_autoptr(PdReference) ref = pd_reference_parse (remote, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root_node = NULL;
  g_autoptr(CtlSecret) contents = NULL;
  g_autoptr(GList) members = NULL;
  g_autofree char *shown_path = NULL;
  JsonObject *root;
  JsonObject *auths;
  JsonObject *entry = NULL;
  JsonObject *helpers;
  const char *key = NULL;
  const char *config_key;
  const char *store;
  gboolean helper;
  gsize len = 0;

  if (ref == NULL)
    return;  /* the daemon names the error */
  auth->registry = g_ascii_strdown (ref->domain, -1);
  auth->path = docker_config_path ();
  shown_path = escape_line (auth->path);
  if (!g_file_get_contents (auth->path, &contents, &len, &error))
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) &&
          !g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR))
        {
          g_autofree char *message = escape_line (error->message);

          g_printerr (_("WARNING: Error loading config file: %s\n"), message);
        }
      return;
    }
  /* only the file's name is shown: it holds passwords */
  root_node = pd_json_parse (contents, len, CTL_MAX_DOCKER_CONFIG_SIZE, NULL);
  if (root_node == NULL || !JSON_NODE_HOLDS_OBJECT (root_node))
    {
      g_printerr (_("WARNING: Error loading config file: %s: not a JSON object\n"), shown_path);
      return;
    }
  root = json_node_get_object (root_node);

  config_key = g_str_equal (auth->registry, CTL_DOCKER_HUB_DOMAIN) ? CTL_DOCKER_HUB_KEY
                                                                   : auth->registry;
  auths = json_object_ci (root, "auths");
  if (auths != NULL)
    members = json_object_get_members (auths);
  for (GList *l = members; l != NULL && entry == NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (auths, l->data);

      if (g_str_equal (l->data, config_key) && JSON_NODE_HOLDS_OBJECT (node))
        {
          key = l->data;
          entry = json_node_get_object (node);
        }
    }
  for (GList *l = members; l != NULL && entry == NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (auths, l->data);
      g_autofree char *domain = registry_key_domain (l->data);

      if (g_str_equal (domain, auth->registry) && JSON_NODE_HOLDS_OBJECT (node))
        {
          key = l->data;
          entry = json_node_get_object (node);
        }
    }
  if (entry != NULL)
    auth->header = encode_auth_entry (key, entry, auth->path);
  if (auth->header != NULL)
    return;

  /* with a helper, auths holds no inline credentials: say why none are sent */
  store = json_string_ci (root, "credsStore");
  helper = store != NULL && *store != '\0';
  helpers = json_object_ci (root, "credHelpers");
  if (!helper && helpers != NULL)
    {
      g_autoptr(GList) names = json_object_get_members (helpers);

      for (GList *l = names; l != NULL && !helper; l = l->next)
        {
          g_autofree char *domain = registry_key_domain (l->data);

          helper = g_str_equal (domain, auth->registry);
        }
    }
  auth->helper = helper;
  if (helper && !helper_note_shown)
    {
      helper_note_shown = TRUE;
      g_printerr (_("Note: %s names a credential helper (credsStore or credHelpers) for %s; "
                    "pluginctl does not run credential helpers, so no credentials are sent.\n"),
                  shown_path, auth->registry);
    }
}

static void
ctl_registry_auth_add_option (const CtlRegistryAuth *auth, GVariantBuilder *options)
{
  if (auth->header != NULL)
    g_variant_builder_add (options, "{sv}", "registry-auth",
                           g_variant_new_string (auth->header));
}

/* report_error, and a note on the credentials when the registry refused them */
static int
report_registry_error (GError *error, const CtlRegistryAuth *auth)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  int status = report_error (error);

  if (auth->registry != NULL && auth->path != NULL &&
      g_strcmp0 (name, PD_DBUS_ERROR_PREFIX "RegistryUnauthorized") == 0)
    {
      g_autofree char *shown_path = escape_line (auth->path);

      if (auth->header != NULL)
        g_printerr (_("Note: the registry %s refused the credentials for it in %s.\n"),
                    auth->registry, shown_path);
      else if (!auth->helper)
        g_printerr (_("Note: %s holds no credentials for %s "
                      "(add them with “docker login %s”).\n"),
                    shown_path, auth->registry, auth->registry);
    }
  return status;
}

/* registry commands: common parts */

static char *opt_platform;
static gboolean opt_content_trust_ignored;

#define CTL_PLATFORM_ENTRY \
  { "platform", 0, 0, G_OPTION_ARG_STRING, &opt_platform, \
    N_("The platform to pick from a multi-platform image (default: the daemon's)"), \
    N_("OS/ARCH[/VARIANT]") }
/* Docker's deprecated no-op, accepted so that its command lines work */
#define CTL_CONTENT_TRUST_ENTRY \
  { "disable-content-trust", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, \
    &opt_content_trust_ignored, N_("Ignored (Docker's content trust is gone)"), NULL }

/* the plugin @name with its properties loaded */
static PdDbusPlugin *
ctl_get_plugin_with_properties (Ctl *ctl, const char *name, GError **error)
{
  g_autofree char *path = NULL;

  if (!pd_dbus_manager_call_get_plugin_sync (ctl->manager, name, &path, NULL, error))
    return NULL;
  return pd_dbus_plugin_proxy_new_sync (ctl->bus, G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                        PD_DBUS_NAME, path, NULL, error);
}

/* the options every registry call starts with: credentials, the platform, and the digest the
 * user consented to (@expected_digest NULL or "" for none) */
static void
ctl_registry_options_init (GVariantBuilder *options, const CtlRegistryAuth *auth,
                           const char *expected_digest)
{
  ctl_options_init (options);
  ctl_registry_auth_add_option (auth, options);
  if (opt_platform != NULL)
    g_variant_builder_add (options, "{sv}", "platform", g_variant_new_string (opt_platform));
  if (expected_digest != NULL && *expected_digest != '\0')
    g_variant_builder_add (options, "{sv}", "expected-digest",
                           g_variant_new_string (expected_digest));
}

/* Manager.GetPrivileges: the privileges as a new PdPrivilege array, the raw a(ssas) in
 * @privileges_variant and the info */
static GPtrArray *
ctl_get_privileges (Ctl *ctl,
                    const char *remote,
                    const CtlRegistryAuth *auth,
                    GVariant *settings,
                    const char *upgrade,
                    GVariant **privileges_variant,
                    GVariant **info,
                    GError **error)
{
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) privileges = NULL;
  GVariantBuilder options;

  ctl_registry_options_init (&options, auth, NULL);
  /* the privileges with the settings the install or upgrade will have: what it compares */
  if (settings != NULL && g_variant_n_children (settings) > 0)
    g_variant_builder_add (&options, "{sv}", "settings", settings);
  if (upgrade != NULL)
    g_variant_builder_add (&options, "{sv}", "upgrade", g_variant_new_string (upgrade));
  /* no D-Bus timeout: the daemon bounds the lookup itself, and a dialog may take a while */
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (ctl->manager), "GetPrivileges",
                                g_variant_new ("(sa{sv})", remote, &options),
                                ctl_call_flags (), G_MAXINT, NULL, error);
  if (ret == NULL)
    return NULL;
  if (!g_variant_is_of_type (ret, G_VARIANT_TYPE ("(a(ssas)a{sv})")))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("the daemon sent an unexpected reply to %s"), "GetPrivileges");
      return NULL;
    }
  g_variant_get (ret, "(@a(ssas)@a{sv})", &privileges, info);
  *privileges_variant = g_variant_ref (privileges);
  return pd_privileges_new_from_variant (privileges);
}

/* the string @key of @dict, "" when absent */
static const char *
lookup_string (GVariant *dict, const char *key)
{
  const char *value = NULL;

  if (dict == NULL || !g_variant_lookup (dict, key, "&s", &value))
    return "";
  return value;
}

/* follows the registry job at @path (its results, or NULL with its error) */
static GVariant *
ctl_follow_registry_job (Ctl *ctl, const char *path, FollowMode mode, const char *digest,
                         GError **error)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GVariant) ret = NULL;
  JobFollow follow = { 0 };
  GVariant *results = NULL;

  follow.loop = loop;
  follow.mode = mode;
  follow.digest = digest;
  ret = job_follow_run (ctl, &follow, path, error);
  if (ret != NULL)
    results = g_variant_get_child_value (ret, 0);
  job_follow_clear (&follow);
  return results;
}

/* privileges */

static const GOptionEntry privileges_entries[] = {
  { "format", 0, 0, G_OPTION_ARG_STRING, &opt_format,
    N_("Output format: “text” (the default) or “json”"), N_("FORMAT") },
  CTL_PLATFORM_ENTRY,
  { NULL }
};

static void
print_privileges_json (GVariant *info, GPtrArray *privileges)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GVariant) types = NULL;
  g_autofree char *data = NULL;
  g_autoptr(GString) line = NULL;
  guint64 size = 0;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "Reference");
  json_builder_add_string_value (builder, lookup_string (info, "reference"));
  json_builder_set_member_name (builder, "Digest");
  json_builder_add_string_value (builder, lookup_string (info, "manifest-digest"));
  json_builder_set_member_name (builder, "Description");
  json_builder_add_string_value (builder, lookup_string (info, "description"));
  json_builder_set_member_name (builder, "InterfaceTypes");
  json_builder_begin_array (builder);
  types = g_variant_lookup_value (info, "interface-types", G_VARIANT_TYPE_STRING_ARRAY);
  for (gsize i = 0; types != NULL && i < g_variant_n_children (types); i++)
    {
      const char *type = NULL;

      g_variant_get_child (types, i, "&s", &type);
      json_builder_add_string_value (builder, type);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "Size");
  g_variant_lookup (info, "size", "t", &size);
  json_builder_add_int_value (builder, (gint64) MIN (size, (guint64) G_MAXINT64));
  /* Docker's PluginPrivilege objects, as GET /plugins/privileges returns them */
  json_builder_set_member_name (builder, "Privileges");
  json_builder_begin_array (builder);
  for (guint i = 0; i < privileges->len; i++)
    {
      PdPrivilege *privilege = g_ptr_array_index (privileges, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "Name");
      json_builder_add_string_value (builder, privilege->name);
      json_builder_set_member_name (builder, "Description");
      json_builder_add_string_value (builder, privilege->description != NULL
                                                ? privilege->description : "");
      json_builder_set_member_name (builder, "Value");
      json_builder_begin_array (builder);
      for (gsize v = 0; privilege->values != NULL && privilege->values[v] != NULL; v++)
        json_builder_add_string_value (builder, privilege->values[v]);
      json_builder_end_array (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  node = json_builder_get_root (builder);
  data = pd_json_to_go_data (node, NULL);
  line = g_string_sized_new (strlen (data) + 1);
  for (const char *p = data; *p != '\0';)
    p += append_json_char (line, p);
  g_print ("%s\n", line->str);
}

static int
cmd_privileges (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_auto(CtlRegistryAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdReference) ref = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GVariant) privileges_variant = NULL;
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *digest = NULL;
  gboolean json = FALSE;
  const char *remote;
  int status;

  status = ctl_parse ("privileges", N_("REMOTE"),
                      N_("Show the privileges a plugin in a registry requests, and the digest "
                         "of its manifest, without installing it."),
                      privileges_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc != 2)
    return usage_error ("privileges", _("“privileges” requires exactly 1 argument"));
  if (opt_format != NULL && g_str_equal (opt_format, "json"))
    json = TRUE;
  else if (opt_format != NULL && !g_str_equal (opt_format, "text") && opt_format[0] != '\0')
    return usage_error ("privileges", _("unsupported format: use “text” or “json”"));
  remote = argv[1];
  ref = pd_reference_parse (remote, &error);
  if (ref == NULL)
    return usage_error ("privileges", error->message);

  if (!ctl_connect (&ctl, &error))
    return report_error (error);
  ctl_registry_auth_load (&auth, remote);
  privileges = ctl_get_privileges (&ctl, remote, &auth, NULL, NULL, &privileges_variant, &info,
                                   &error);
  if (privileges == NULL)
    return report_registry_error (error, &auth);

  if (json)
    {
      print_privileges_json (info, privileges);
      return CTL_EXIT_OK;
    }
  if (privileges->len > 0)
    append_privileges (out, remote, privileges);
  else
    {
      g_autofree char *shown_remote = pd_escape_untrusted_full (remote, -1);

      g_string_append_printf (out, _("Plugin \"%s\" is requesting no privileges\n"),
                              shown_remote);
    }
  digest = escape_line (lookup_string (info, "manifest-digest"));
  g_string_append_printf (out, _("Digest: %s\n"), digest);
  fputs (out->str, stdout);
  return CTL_EXIT_OK;
}

/* install */

static char *opt_alias;
static gboolean opt_disable;

static const GOptionEntry install_entries[] = {
  { "alias", 0, 0, G_OPTION_ARG_STRING, &opt_alias, N_("Local name for plugin"), N_("NAME") },
  { "disable", 0, 0, G_OPTION_ARG_NONE, &opt_disable,
    N_("Do not enable the plugin on install"), NULL },
  { "grant-all-permissions", 0, 0, G_OPTION_ARG_NONE, &opt_grant_all,
    N_("Grant all permissions necessary to run the plugin"), NULL },
  CTL_PLATFORM_ENTRY,
  CTL_CONTENT_TRUST_ENTRY,
  { NULL }
};

static int
cmd_install (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_auto(CtlRegistryAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdReference) ref = NULL;
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GVariant) privileges_variant = NULL;
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autofree char *job_path = NULL;
  g_autofree char *shown_remote = NULL;
  GVariantBuilder options;
  const char *remote;
  const char *digest;
  gboolean has_settings;
  int status;

  status = ctl_parse ("install", N_("REMOTE [KEY=VALUE…]"),
                      N_("Install a plugin from a registry: show the privileges it requests and "
                         "ask for them, download it, apply the settings and enable it."),
                      install_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc < 2)
    return usage_error ("install", _("“install” requires at least 1 argument"));
  remote = argv[1];
  ref = pd_reference_parse (remote, &error);
  if (ref == NULL)
    return usage_error ("install", error->message);
  if (opt_alias != NULL)
    {
      g_autofree char *name = pd_reference_local_name (opt_alias, &error);

      if (name == NULL)
        return usage_error ("install", error->message);
    }
  settings = parse_settings (argc, argv, 2);
  if (settings == NULL)
    return usage_error ("install", CTL_SETTING_FORMAT_ERROR);
  g_variant_ref_sink (settings);
  has_settings = g_variant_n_children (settings) > 0;

  if (!ctl_connect (&ctl, &error))
    return report_error (error);
  ctl_registry_auth_load (&auth, remote);
  privileges = ctl_get_privileges (&ctl, remote, &auth, settings, NULL, &privileges_variant,
                                   &info, &error);
  if (privileges == NULL)
    return report_registry_error (error, &auth);

  shown_remote = pd_escape_untrusted_full (remote, -1);
  if (privileges->len > 0 && !opt_grant_all && !ask_privileges (remote, privileges, TRUE))
    {
      g_printerr (_("Error: permission denied while installing plugin %s\n"), shown_remote);
      return CTL_EXIT_FAILURE;
    }

  /* one job: download, settings, enable; the consent is bound to the content looked at */
  digest = lookup_string (info, "manifest-digest");
  ctl_registry_options_init (&options, &auth, digest);
  g_variant_builder_add (&options, "{sv}", "enable", g_variant_new_boolean (!opt_disable));
  if (has_settings)
    g_variant_builder_add (&options, "{sv}", "settings", settings);
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (ctl.manager), "Pull",
                                g_variant_new ("(ss@a(ssas)a{sv})", remote,
                                               opt_alias != NULL ? opt_alias : "",
                                               privileges_variant, &options),
                                ctl_call_flags (), G_MAXINT, NULL, &error);
  if (ret == NULL)
    return report_registry_error (error, &auth);
  g_variant_get (ret, "(o)", &job_path);
  results = ctl_follow_registry_job (&ctl, job_path, FOLLOW_PULL, digest, &error);
  if (results == NULL)
    return report_registry_error (error, &auth);
  /* Docker prints the remote as it was given */
  g_print (_("Installed plugin %s\n"), shown_remote);
  return CTL_EXIT_OK;
}

/* upgrade */

static gboolean opt_skip_remote_check;
static gboolean opt_restart;

static const GOptionEntry upgrade_entries[] = {
  { "grant-all-permissions", 0, 0, G_OPTION_ARG_NONE, &opt_grant_all,
    N_("Grant all permissions necessary to run the plugin"), NULL },
  { "skip-remote-check", 0, 0, G_OPTION_ARG_NONE, &opt_skip_remote_check,
    N_("Do not check if specified remote plugin matches existing plugin image"), NULL },
  { "restart", 0, 0, G_OPTION_ARG_NONE, &opt_restart,
    N_("Upgrade an enabled plugin: stop it, upgrade it and start it again"), NULL },
  CTL_PLATFORM_ENTRY,
  CTL_CONTENT_TRUST_ENTRY,
  { NULL }
};

/* @ref as reference.TagNameOnly leaves it: ":latest" for a name alone */
static void
tag_name_only (PdReference *ref)
{
  if (ref->tag == NULL && ref->digest == NULL)
    ref->tag = g_strdup ("latest");
}

static int
cmd_upgrade (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_auto(CtlRegistryAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDbusPlugin) plugin = NULL;
  g_autoptr(PdReference) new_ref = NULL;
  g_autoptr(PdReference) old_ref = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autoptr(GVariant) privileges_variant = NULL;
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autofree char *name = NULL;
  g_autofree char *remote = NULL;
  g_autofree char *new_text = NULL;
  g_autofree char *old_text = NULL;
  g_autofree char *new_familiar = NULL;
  g_autofree char *old_familiar = NULL;
  g_autofree char *shown_name = NULL;
  g_autofree char *shown_remote = NULL;
  g_autofree char *job_path = NULL;
  GVariantBuilder options;
  const char *digest;
  int status;

  status = ctl_parse ("upgrade", N_("NAME [REMOTE]"),
                      N_("Upgrade a plugin to the image REMOTE (default: the one it was "
                         "installed from), keeping its ID, name and settings."),
                      upgrade_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc != 2 && argc != 3)
    return usage_error ("upgrade", _("“upgrade” requires 1 or 2 arguments: NAME and REMOTE"));
  if (argc == 3)
    {
      new_ref = pd_reference_parse (argv[2], &error);
      if (new_ref == NULL)
        return usage_error ("upgrade", error->message);
    }

  if (!ctl_connect (&ctl, &error))
    return report_error (error);
  plugin = ctl_get_plugin_with_properties (&ctl, argv[1], &error);
  if (plugin == NULL)
    return report_error (error);
  name = pd_dbus_plugin_dup_name (plugin);
  if (name == NULL)
    {
      g_printerr (_("Error: %s\n"), _("the daemon sent no plugin properties"));
      return CTL_EXIT_FAILURE;
    }
  shown_name = escape_line (name);
  if (pd_dbus_plugin_get_enabled (plugin) && !opt_restart)
    {
      g_printerr (_("Error: %s\n"), _("the plugin must be disabled before upgrading"));
      return CTL_EXIT_FAILURE;
    }

  /* Docker's checks: the remote defaults to the plugin's reference; another image is asked
   * about */
  old_ref = pd_reference_parse (pd_dbus_plugin_get_reference (plugin), &error);
  if (old_ref == NULL)
    {
      g_prefix_error (&error, "%s: ", _("error parsing current image reference"));
      return report_error (error);
    }
  remote = g_strdup (argc == 3 ? argv[2] : pd_dbus_plugin_get_reference (plugin));
  if (new_ref == NULL)
    new_ref = pd_reference_copy (old_ref);
  tag_name_only (new_ref);
  tag_name_only (old_ref);
  new_text = pd_reference_to_string (new_ref);
  old_text = pd_reference_to_string (old_ref);
  {
    g_autofree char *familiar = pd_reference_familiar (new_ref);

    new_familiar = escape_line (familiar);
    g_free (familiar);
    familiar = pd_reference_familiar (old_ref);
    old_familiar = escape_line (familiar);
  }
  shown_remote = pd_escape_untrusted_full (remote, -1);

  g_print (_("Upgrading plugin %s from %s to %s\n"), shown_name, old_familiar, new_familiar);
  if (!opt_skip_remote_check && !g_str_equal (new_text, old_text))
    {
      g_autoptr(GString) out = g_string_new (_("Plugin images do not match, are you sure? [y/N] "));

      if (!confirm (out, TRUE))
        {
          g_printerr (_("Error: %s\n"), _("plugin upgrade has been cancelled"));
          return CTL_EXIT_FAILURE;
        }
    }

  ctl_registry_auth_load (&auth, remote);
  /* with the settings the plugin has now, as Upgrade carries them over */
  privileges = ctl_get_privileges (&ctl, remote, &auth, NULL,
                                   pd_dbus_plugin_get_id (plugin), &privileges_variant, &info,
                                   &error);
  if (privileges == NULL)
    return report_registry_error (error, &auth);
  if (privileges->len > 0 && !opt_grant_all && !ask_privileges (remote, privileges, TRUE))
    {
      /* Docker's client says "installing" for an upgrade too */
      g_printerr (_("Error: permission denied while installing plugin %s\n"), shown_remote);
      return CTL_EXIT_FAILURE;
    }

  digest = lookup_string (info, "manifest-digest");
  ctl_registry_options_init (&options, &auth, digest);
  if (opt_restart)
    g_variant_builder_add (&options, "{sv}", "restart", g_variant_new_boolean (TRUE));
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (plugin), "Upgrade",
                                g_variant_new ("(s@a(ssas)a{sv})", remote, privileges_variant,
                                               &options),
                                ctl_call_flags (), G_MAXINT, NULL, &error);
  if (ret == NULL)
    return report_registry_error (error, &auth);
  g_variant_get (ret, "(o)", &job_path);
  results = ctl_follow_registry_job (&ctl, job_path, FOLLOW_PULL, digest, &error);
  if (results == NULL)
    return report_registry_error (error, &auth);
  g_print (_("Upgraded plugin %s to %s\n"), shown_name, shown_remote);
  return CTL_EXIT_OK;
}

/* push */

static char *opt_remote;

static const GOptionEntry push_entries[] = {
  { "remote", 0, 0, G_OPTION_ARG_STRING, &opt_remote,
    N_("Where to push, REGISTRY/REPOSITORY[:TAG] (default: the reference the plugin was "
       "installed from, else its name)"), N_("REMOTE") },
  CTL_CONTENT_TRUST_ENTRY,
  { NULL }
};

static int
cmd_push (int argc, char **argv)
{
  g_auto(Ctl) ctl = { 0 };
  g_auto(CtlRegistryAuth) auth = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDbusPlugin) plugin = NULL;
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autoptr(PdReference) pushed = NULL;
  g_autofree char *job_path = NULL;
  g_autofree char *line = NULL;
  g_autofree char *shown = NULL;
  GVariantBuilder options;
  const char *target;
  guint64 size = 0;
  int status;

  status = ctl_parse ("push", N_("NAME"),
                      N_("Push a plugin to a registry: to --remote, else to the reference it "
                         "was installed from, else to its name."),
                      push_entries, &argc, &argv);
  if (status >= 0)
    return status;
  if (argc != 2)
    return usage_error ("push", _("“push” requires exactly 1 argument"));
  if (opt_remote != NULL)
    {
      g_autoptr(PdReference) ref = pd_reference_parse (opt_remote, &error);

      if (ref == NULL)
        return usage_error ("push", error->message);
    }

  if (!ctl_connect (&ctl, &error))
    return report_error (error);
  plugin = ctl_get_plugin_with_properties (&ctl, argv[1], &error);
  if (plugin == NULL)
    return report_error (error);
  /* where the daemon will push, for the credentials of that registry */
  target = opt_remote;
  if (target == NULL || *target == '\0')
    target = pd_dbus_plugin_get_reference (plugin);
  if (target == NULL || *target == '\0')
    target = pd_dbus_plugin_get_name (plugin);
  if (target != NULL)
    ctl_registry_auth_load (&auth, target);

  ctl_options_init (&options);
  ctl_registry_auth_add_option (&auth, &options);
  if (opt_remote != NULL)
    g_variant_builder_add (&options, "{sv}", "remote", g_variant_new_string (opt_remote));
  ret = g_dbus_proxy_call_sync (G_DBUS_PROXY (plugin), "Push",
                                g_variant_new ("(a{sv})", &options),
                                ctl_call_flags (), G_MAXINT, NULL, &error);
  if (ret == NULL)
    return report_registry_error (error, &auth);
  g_variant_get (ret, "(o)", &job_path);
  results = ctl_follow_registry_job (&ctl, job_path, FOLLOW_PUSH, NULL, &error);
  if (results == NULL)
    return report_registry_error (error, &auth);

  /* Docker's last line: "<tag>: digest: <digest> size: <size>" */
  pushed = pd_reference_parse (lookup_string (results, "reference"), NULL);
  g_variant_lookup (results, "size", "t", &size);
  line = g_strdup_printf (_("%s: digest: %s size: %" G_GUINT64_FORMAT),
                          pushed != NULL && pushed->tag != NULL ? pushed->tag : "latest",
                          lookup_string (results, "manifest-digest"), size);
  shown = escape_line (line);
  g_print ("%s\n", shown);
  return CTL_EXIT_OK;
}

/* main */

typedef struct {
  const char *name;
  const char *alias;
  int (*func) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "create", NULL, cmd_create, N_("Create a plugin from a directory or a tar archive") },
  { "disable", NULL, cmd_disable, N_("Disable a plugin") },
  { "enable", NULL, cmd_enable, N_("Enable a plugin") },
  { "inspect", NULL, cmd_inspect, N_("Display detailed information on plugins") },
  { "install", NULL, cmd_install, N_("Install a plugin") },
  { "logs", NULL, cmd_logs, N_("Show the output of a plugin") },
  { "ls", "list", cmd_list, N_("List plugins") },
  { "privileges", NULL, cmd_privileges, N_("Show the privileges a plugin in a registry requests") },
  { "push", NULL, cmd_push, N_("Push a plugin to a registry") },
  { "rm", "remove", cmd_remove, N_("Remove plugins") },
  { "set", NULL, cmd_set, N_("Change settings for a plugin") },
  { "upgrade", NULL, cmd_upgrade, N_("Upgrade an existing plugin") },
};

static char *
commands_summary (void)
{
  g_autoptr(GString) out = g_string_new (_("Commands:"));

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *names = commands[i].alias != NULL
                               ? g_strdup_printf ("%s, %s", commands[i].name, commands[i].alias)
                               : g_strdup (commands[i].name);

      g_string_append_printf (out, "\n  %-14s %s", names, _(commands[i].summary));
    }
  g_string_append_printf (out, "\n\n%s", _("Run “pluginctl COMMAND --help” for the options of a command."));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

int
main (int argc, char **argv)
{
  static const GOptionEntry main_entries[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, N_("Show the version"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *summary = NULL;
  const char *command;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("pluginctl");

  /* the tar worker writes to a pipe the daemon may close: that is an error, not a signal */
  signal (SIGPIPE, SIG_IGN);

  context = g_option_context_new (_("COMMAND [ARGUMENTS…]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  summary = commands_summary ();
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, _(exit_status_help));
  g_option_context_add_main_entries (context, main_entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, global_entries, GETTEXT_PACKAGE);
  /* stop at the command: its options belong to it */
  g_option_context_set_strict_posix (context, TRUE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error (NULL, error->message);

  if (opt_version)
    {
      g_print ("pluginctl %s\n", PACKAGE_VERSION);
      return CTL_EXIT_OK;
    }
  if (argc < 2)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

      g_printerr ("%s", help);
      return CTL_EXIT_USAGE;
    }

  command = argv[1];
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      if (g_str_equal (command, commands[i].name) ||
          (commands[i].alias != NULL && g_str_equal (command, commands[i].alias)))
        return commands[i].func (argc - 1, argv + 1);
    }

  {
    g_autofree char *message = g_strdup_printf (_("unknown command “%s”"), command);

    return usage_error (NULL, message);
  }
}
