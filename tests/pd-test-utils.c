/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-test-utils"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "pd-archive.h"
#include "pd-digest.h"
#include "pd-fs-util.h"
#include "pd-test-utils.h"

typedef struct archive PdTestArchive;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdTestArchive, archive_free)
typedef struct archive_entry PdTestArchiveEntry;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdTestArchiveEntry, archive_entry_free)

#define CHUNK 65536

/* section: tar streams */

static la_ssize_t
append_cb (struct archive *a, void *user_data, const void *buffer, size_t length)
{
  g_byte_array_append (user_data, buffer, (guint) length);
  return (la_ssize_t) length;
}

static void
add_filter (struct archive *a, PdTestFilter filter)
{
  int r = ARCHIVE_OK;

  switch (filter)
    {
    case FILTER_NONE:
      break;
    case FILTER_GZIP:
      r = archive_write_add_filter_gzip (a);
      break;
    case FILTER_XZ:
      r = archive_write_add_filter_xz (a);
      break;
    case FILTER_ZSTD:
      r = archive_write_add_filter_zstd (a);
      break;
    case FILTER_BZIP2:
      r = archive_write_add_filter_bzip2 (a);
      break;
    default:
      g_assert_not_reached ();
    }
  g_assert_cmpint (r, ==, ARCHIVE_OK);
}

const char *
pd_test_filter_name (PdTestFilter filter)
{
  static const char *const names[] = { "plain", "gzip", "xz", "zstd", "bzip2" };

  g_assert_cmpuint (filter, <, G_N_ELEMENTS (names));
  return names[filter];
}

static void
set_type (struct archive_entry *entry, const PdTestEntry *e, gsize size)
{
  switch (e->type)
    {
    case T_FILE:
      archive_entry_set_filetype (entry, AE_IFREG);
      archive_entry_set_size (entry, (la_int64_t) size);
      break;
    case T_DIR:
      archive_entry_set_filetype (entry, AE_IFDIR);
      break;
    case T_SYMLINK:
      archive_entry_set_filetype (entry, AE_IFLNK);
      archive_entry_set_symlink (entry, e->target);
      break;
    case T_HARDLINK:
      archive_entry_set_filetype (entry, AE_IFREG);
      archive_entry_set_hardlink (entry, e->target);
      break;
    case T_CHR:
      archive_entry_set_filetype (entry, AE_IFCHR);
      archive_entry_set_rdevmajor (entry, 1);
      archive_entry_set_rdevminor (entry, 3);
      break;
    case T_BLK:
      archive_entry_set_filetype (entry, AE_IFBLK);
      archive_entry_set_rdevmajor (entry, 7);
      archive_entry_set_rdevminor (entry, 0);
      break;
    case T_FIFO:
      archive_entry_set_filetype (entry, AE_IFIFO);
      break;
    case T_END:
    default:
      g_assert_not_reached ();
    }
}

/* 64 KiB of pseudo-random bytes, the same for every stream */
static char *
make_noise (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  char *noise = g_malloc (CHUNK);

  for (gsize i = 0; i < CHUNK; i++)
    noise[i] = (char) g_rand_int_range (rand, 0, 256);
  return noise;
}

/* one ustar header as Go's archive/tar writes it: numeric fields in octal, zero-padded and
 * NUL-terminated, the checksum as six digits, a NUL and a space */
static void
append_go_header (GByteArray *out, const PdTestEntry *e, gsize size)
{
  static const struct
  {
    PdTestType type;
    guint bits;
    char flag;
  } kinds[] = {
    { T_FILE, S_IFREG, '0' },
    { T_HARDLINK, S_IFREG, '1' },
    { T_SYMLINK, S_IFLNK, '2' },
    { T_DIR, S_IFDIR, '5' },
  };
  guint8 header[512] = { 0 };
  guint mode = e->mode != 0 ? e->mode : (e->type == T_DIR ? 0755 : 0644);
  guint sum = 0;
  gsize k = 0;

  while (k < G_N_ELEMENTS (kinds) && kinds[k].type != e->type)
    k++;
  g_assert_cmpuint (k, <, G_N_ELEMENTS (kinds));
  if (e->type == T_SYMLINK)
    mode = 0777;
  g_assert_cmpuint (strlen (e->name), <=, 100);
  memcpy (header, e->name, strlen (e->name));
  g_snprintf ((char *) header + 100, 8, "%07o", mode | kinds[k].bits);
  g_snprintf ((char *) header + 108, 8, "%07o", e->uid);
  g_snprintf ((char *) header + 116, 8, "%07o", 0);
  g_snprintf ((char *) header + 124, 12, "%011" G_GINT64_MODIFIER "o", (guint64) size);
  g_snprintf ((char *) header + 136, 12, "%011o", (guint) PD_TEST_MTIME);
  memset (header + 148, ' ', 8);
  header[156] = (guint8) kinds[k].flag;
  if (e->target != NULL)
    {
      g_assert_cmpuint (strlen (e->target), <=, 100);
      memcpy (header + 157, e->target, strlen (e->target));
    }
  /* magic "ustar" and version "00" */
  memcpy (header + 257, "ustar\0" "00", 8);
  /* Go looks the names up; the tests' entries belong to root */
  memcpy (header + 265, e->uid == 0 ? "root" : "", e->uid == 0 ? 4 : 0);
  memcpy (header + 297, "root", 4);
  g_snprintf ((char *) header + 329, 8, "%07o", 0);
  g_snprintf ((char *) header + 337, 8, "%07o", 0);
  for (gsize i = 0; i < sizeof header; i++)
    sum += header[i];
  g_snprintf ((char *) header + 148, 7, "%06o", sum);
  header[155] = ' ';
  g_byte_array_append (out, header, sizeof header);
}

static GBytes *
build_docker_tar (const PdTestEntry *entries, char fill)
{
  static const guint8 zeros[1024] = { 0 };
  GByteArray *out = g_byte_array_new ();

  for (const PdTestEntry *e = entries; e->type != T_END; e++)
    {
      gsize size = e->type != T_FILE ? 0 : e->data != NULL ? strlen (e->data) : e->size;

      append_go_header (out, e, size);
      if (e->data != NULL)
        g_byte_array_append (out, (const guint8 *) e->data, (guint) size);
      else
        for (gsize i = 0; i < size; i++)
          g_byte_array_append (out, (const guint8 *) &fill, 1);
      g_byte_array_append (out, zeros, (guint) ((512 - size % 512) % 512));
    }
  g_byte_array_append (out, zeros, sizeof zeros);
  return g_byte_array_free_to_bytes (out);
}

/* Go's gzip header: no mtime, XFL 0, OS 255; no checksum covers it */
static GBytes *
go_gzip_header (GBytes *gzipped)
{
  gsize len = 0;
  guint8 *data = g_bytes_unref_to_data (gzipped, &len);

  g_assert_cmpuint (len, >=, 10);
  g_assert_cmpuint (data[3], ==, 0);  /* no optional fields */
  memset (data + 4, 0, 5);
  data[9] = 0xff;
  return g_bytes_new_take (data, len);
}

static GBytes *
build_docker_layer (const PdTestEntry *entries, const PdTestTarOptions *options, char **diff_id)
{
  g_autoptr(GBytes) plain = build_docker_tar (entries, options->fill);
  GBytes *compressed = pd_test_compress (plain, options->filter);

  if (diff_id != NULL)
    *diff_id = pd_test_digest (plain);
  return options->filter == FILTER_GZIP ? go_gzip_header (compressed) : compressed;
}

GBytes *
pd_test_build_tar (const PdTestEntry *entries, const PdTestTarOptions *options)
{
  g_autoptr(PdTestArchive) a = NULL;
  GByteArray *out = NULL;
  g_autofree char *filler = NULL;
  g_autofree char *noise = NULL;

  if (options->docker)
    return build_docker_layer (entries, options, NULL);
  a = archive_write_new ();
  out = g_byte_array_new ();
  filler = g_malloc (CHUNK);
  memset (filler, options->fill, CHUNK);
  g_assert_nonnull (a);
  g_assert_cmpint (archive_write_set_format_pax_restricted (a), ==, ARCHIVE_OK);
  if (options->binary_names)
    g_assert_cmpint (archive_write_set_format_option (a, "pax", "hdrcharset", "BINARY"), ==,
                     ARCHIVE_OK);
  add_filter (a, options->filter);
  /* unpadded, a compressed stream ends with its last frame too: zstd readers take zeros after
   * it for another frame */
  if (!options->padded)
    g_assert_cmpint (archive_write_set_bytes_in_last_block (a, 1), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open (a, out, NULL, append_cb, NULL), ==, ARCHIVE_OK);

  for (const PdTestEntry *e = entries; e->type != T_END; e++)
    {
      g_autoptr(PdTestArchiveEntry) entry = archive_entry_new ();
      gsize size = e->data != NULL ? strlen (e->data) : e->size;

      archive_entry_set_pathname (entry, e->name);
      archive_entry_set_mtime (entry, PD_TEST_MTIME, 0);
      archive_entry_set_uid (entry, e->uid);
      archive_entry_set_gid (entry, 0);
      set_type (entry, e, size);
      archive_entry_set_perm (entry, e->mode != 0 ? e->mode : (e->type == T_DIR ? 0755 : 0644));
      g_assert_cmpint (archive_write_header (a, entry), ==, ARCHIVE_OK);
      if (e->type == T_FILE && e->data != NULL && size > 0)
        g_assert_cmpint (archive_write_data (a, e->data, size), ==, (la_ssize_t) size);
      else if (e->type == T_FILE && e->data == NULL)
        for (gsize done = 0; done < size;)
          {
            gsize chunk = MIN (size - done, CHUNK);

            if (e->random && noise == NULL)
              noise = make_noise ();
            g_assert_cmpint (archive_write_data (a, e->random ? noise : filler, chunk), ==,
                             (la_ssize_t) chunk);
            done += chunk;
          }
    }
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  return g_byte_array_free_to_bytes (out);
}

GBytes *
pd_test_compress (GBytes *plain, PdTestFilter filter)
{
  g_autoptr(PdTestArchive) a = NULL;
  g_autoptr(PdTestArchiveEntry) entry = NULL;
  GByteArray *out;
  gsize len;
  const void *data = g_bytes_get_data (plain, &len);

  if (filter == FILTER_NONE)
    return g_bytes_ref (plain);
  a = archive_write_new ();
  out = g_byte_array_new ();
  g_assert_cmpint (archive_write_set_format_raw (a), ==, ARCHIVE_OK);
  add_filter (a, filter);
  g_assert_cmpint (archive_write_set_bytes_in_last_block (a, 1), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open (a, out, NULL, append_cb, NULL), ==, ARCHIVE_OK);
  entry = archive_entry_new ();
  archive_entry_set_pathname (entry, "layer");
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_size (entry, (la_int64_t) len);
  g_assert_cmpint (archive_write_header (a, entry), ==, ARCHIVE_OK);
  if (len > 0)
    g_assert_cmpint (archive_write_data (a, data, len), ==, (la_ssize_t) len);
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  return g_byte_array_free_to_bytes (out);
}

GBytes *
pd_test_build_layer (const PdTestEntry *entries, const PdTestTarOptions *options, char **diff_id)
{
  PdTestTarOptions plain_options = *options;
  g_autoptr(GBytes) plain = NULL;

  if (options->docker)
    return build_docker_layer (entries, options, diff_id);
  plain_options.filter = FILTER_NONE;
  plain = pd_test_build_tar (entries, &plain_options);
  if (diff_id != NULL)
    *diff_id = pd_test_digest (plain);
  return pd_test_compress (plain, options->filter);
}

char *
pd_test_digest (GBytes *bytes)
{
  return pd_sha256_digest_bytes (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

char *
pd_test_nested (guint n, const char *open, const char *middle, const char *close)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append (out, open);
  g_string_append (out, middle);
  for (guint i = 0; i < n; i++)
    g_string_append (out, close);
  return g_string_free (out, FALSE);
}

/* section: files and trees */

char *
pd_test_make_tmp_dir (const char *tmpl)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp (tmpl, &error);

  g_assert_no_error (error);
  g_assert_nonnull (dir);
  return dir;
}

void
pd_test_rm_rf (const char *path)
{
  g_autoptr(GError) error = NULL;

  pd_rm_rf_at (AT_FDCWD, path, &error);
  g_assert_no_error (error);
}

void
pd_test_write_file (const char *path, const char *contents)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

void
pd_test_make_dir (const char *path)
{
  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

gboolean
pd_test_path_exists (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0;
}

mode_t
pd_test_path_mode (const char *path)
{
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  return st.st_mode & 07777;
}

guint
pd_test_count_entries (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
list_file (GString *out, const char *rel, const char *path, const struct stat *st)
{
  g_autofree char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  if (len <= 64)
    g_string_append_printf (out, "%s f%o %s\n", rel, (guint) (st->st_mode & 07777), contents);
  else
    g_string_append_printf (out, "%s f%o <%" G_GSIZE_FORMAT " bytes>\n", rel,
                            (guint) (st->st_mode & 07777), len);
}

static void
list_tree_rec (GString *out, const char *root, const char *rel)
{
  g_autofree char *path = *rel != '\0' ? g_build_filename (root, rel, NULL) : g_strdup (root);
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      const char *child = names->pdata[i];
      g_autofree char *child_rel = *rel != '\0' ? g_build_filename (rel, child, NULL)
                                                : g_strdup (child);
      g_autofree char *child_path = g_build_filename (root, child_rel, NULL);
      struct stat st;

      g_assert_cmpint (lstat (child_path, &st), ==, 0);
      if (S_ISDIR (st.st_mode))
        {
          g_string_append_printf (out, "%s d%o\n", child_rel, (guint) (st.st_mode & 07777));
          list_tree_rec (out, root, child_rel);
        }
      else if (S_ISREG (st.st_mode))
        {
          list_file (out, child_rel, child_path, &st);
        }
      else if (S_ISLNK (st.st_mode))
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *target = g_file_read_link (child_path, &error);

          g_assert_no_error (error);
          g_string_append_printf (out, "%s l ->%s\n", child_rel, target);
        }
      else if (S_ISFIFO (st.st_mode))
        {
          g_string_append_printf (out, "%s p%o\n", child_rel, (guint) (st.st_mode & 07777));
        }
      else
        {
          g_string_append_printf (out, "%s ?%o\n", child_rel, (guint) st.st_mode);
        }
    }
}

char *
pd_test_list_tree (const char *root)
{
  g_autoptr(GString) out = g_string_new (NULL);

  list_tree_rec (out, root, "");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
run_command (const char *const *argv)
{
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                     &status, &error))
    {
      g_test_message ("%s: %s", argv[0], error->message);
      return FALSE;
    }
  return g_spawn_check_wait_status (status, NULL);
}

gboolean
pd_test_mount_tmpfs (const char *dir, const char *size)
{
  g_autofree char *options = g_strdup_printf ("size=%s", size);
  const char *const argv[] = { "mount", "-t", "tmpfs", "-o", options, "none", dir, NULL };

  if (getuid () != 0 || !run_command (argv))
    {
      g_test_fail_printf ("cannot mount a tmpfs on %s: this test needs root", dir);
      return FALSE;
    }
  return TRUE;
}

void
pd_test_umount (const char *dir)
{
  const char *const argv[] = { "umount", dir, NULL };

  g_assert_true (run_command (argv));
}

guint
pd_test_count_mounts (const char *path)
{
  g_autofree char *text = NULL;
  g_autofree char *beneath = g_strconcat (path, "/", NULL);
  g_auto(GStrv) lines = NULL;
  guint n = 0;

  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (lines[i], " ", 6);

      if (g_strv_length (fields) > 4 &&
          (g_str_equal (fields[4], path) || g_str_has_prefix (fields[4], beneath)))
        n++;
    }
  return n;
}

/* section: processes */

guint
pd_test_count_children (void)
{
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  guint n = 0;
  pid_t self = getpid ();

  g_assert_nonnull (proc);
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *contents = NULL;
      const char *close_paren;
      int ppid = 0;

      if (!g_ascii_isdigit (*name))
        continue;
      path = g_strdup_printf ("/proc/%s/stat", name);
      if (!g_file_get_contents (path, &contents, NULL, NULL))
        continue;
      close_paren = strrchr (contents, ')');
      if (close_paren != NULL && sscanf (close_paren + 2, "%*c %d", &ppid) == 1 && ppid == self)
        n++;
    }
  return n;
}

int
pd_test_run_extract_helper (GBytes *tar, const char *const *args, const char *rootfs,
                            char **err_out)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) helper = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *err_path = NULL;
  g_autofree char *err_text = NULL;
  GOutputStream *stdin_pipe;
  int fd;

  g_ptr_array_add (argv, (char *) pd_archive_get_helper_path ());
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, (char *) rootfs);
  g_ptr_array_add (argv, NULL);

  /* stderr to a file: the helper may stop reading its input early, and what it said must not
   * depend on how far our write got before the pipe broke */
  fd = g_file_open_tmp ("pd-extract-stderr-XXXXXX", &err_path, &error);
  g_assert_no_error (error);
  close (fd);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE);
  g_subprocess_launcher_set_stderr_file_path (launcher, err_path);
  helper = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  stdin_pipe = g_subprocess_get_stdin_pipe (helper);
  if (!g_output_stream_write_all (stdin_pipe, g_bytes_get_data (tar, NULL),
                                  g_bytes_get_size (tar), NULL, NULL, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))
    g_assert_no_error (error);
  g_clear_error (&error);
  g_output_stream_close (stdin_pipe, NULL, NULL);
  g_subprocess_wait (helper, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (err_path, &err_text, NULL, NULL));
  g_unlink (err_path);
  if (*err_text != '\0')
    g_test_message ("helper: %.*s", (int) strcspn (err_text, "\n"), err_text);
  g_assert_true (g_subprocess_get_if_exited (helper));
  if (err_out != NULL)
    *err_out = g_steal_pointer (&err_text);
  return g_subprocess_get_exit_status (helper);
}

void
pd_test_trap_root_subprocess (const char *path)
{
  if (getuid () != 0)
    {
      g_test_fail_printf ("%s must run as root (the suite does)", path);
      return;
    }
  g_test_trap_subprocess (path, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* section: errors and configs */

int
pd_test_run_nonfatal (void)
{
  g_test_set_nonfatal_assertions ();
  return g_test_run ();
}

const char *
pd_test_message_of (const GError *error)
{
  return error != NULL ? error->message : "";
}

PdPluginConfig *
pd_test_parse_config (const char *json)
{
  g_autoptr(GError) error = NULL;
  PdPluginConfig *config = pd_plugin_config_new_from_data (json, strlen (json), &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

/* section: loopback sockets */

GSocket *
pd_test_bound_loopback_socket (guint16 *port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) local = NULL;
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, address, FALSE, &error));
  g_assert_no_error (error);
  local = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  g_assert_cmpuint (*port, >, 0);
  return socket;
}

struct _PdTestServer {
  GSocket *listener;
  GCancellable *cancellable;
  GThread *thread;
  PdTestServerFunc func;
  gpointer user_data;
  guint16 port;
  gint accepted;
};

static gpointer
server_thread (gpointer user_data)
{
  PdTestServer *server = user_data;

  for (;;)
    {
      g_autoptr(GSocket) connection = g_socket_accept (server->listener, server->cancellable,
                                                       NULL);

      if (connection == NULL)
        return NULL;
      g_atomic_int_inc (&server->accepted);
      if (server->func != NULL)
        server->func (connection, server->cancellable, server->user_data);
      g_socket_close (connection, NULL);
    }
}

static PdTestServer *
server_start (GSocket *listener, PdTestServerFunc func, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  PdTestServer *server = g_new0 (PdTestServer, 1);

  server->listener = listener;
  g_assert_true (g_socket_listen (server->listener, &error));
  g_assert_no_error (error);
  server->cancellable = g_cancellable_new ();
  server->func = func;
  server->user_data = user_data;
  server->thread = g_thread_new ("test-server", server_thread, server);
  return server;
}

PdTestServer *
pd_test_server_new (PdTestServerFunc func, gpointer user_data)
{
  guint16 port = 0;
  GSocket *listener = pd_test_bound_loopback_socket (&port);
  PdTestServer *server = server_start (listener, func, user_data);

  server->port = port;
  return server;
}

PdTestServer *
pd_test_server_new_unix (const char *path, PdTestServerFunc func, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  GSocket *listener = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                    G_SOCKET_PROTOCOL_DEFAULT, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (listener, address, FALSE, &error));
  g_assert_no_error (error);
  return server_start (listener, func, user_data);
}

void
pd_test_socket_send_all (GSocket *connection, GCancellable *cancellable, const char *data,
                         gsize len)
{
  while (len > 0)
    {
      gssize n = g_socket_send (connection, data, len, cancellable, NULL);

      if (n <= 0)
        return;
      data += n;
      len -= (gsize) n;
    }
}

guint16
pd_test_server_get_port (PdTestServer *server)
{
  return server->port;
}

guint
pd_test_server_get_accepted (PdTestServer *server)
{
  return (guint) g_atomic_int_get (&server->accepted);
}

void
pd_test_server_free (PdTestServer *server)
{
  g_cancellable_cancel (server->cancellable);
  g_thread_join (server->thread);
  g_object_unref (server->listener);
  g_object_unref (server->cancellable);
  g_free (server);
}
