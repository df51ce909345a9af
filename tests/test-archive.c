/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Create-context ingestion (pd-archive.c) and the confined helper (plugind-extract) against a
 * corpus of malicious tar files generated here with libarchive's writer, plus hand-made ustar
 * headers where the writer would not produce the bytes we want.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-archive"

/* nftw () flags, pipe2 () */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <zlib.h>

#include "pd-archive.h"
#include "pd-digest.h"
#include "pd-error.h"
#include "pd-store.h"
#include "pd-test-utils.h"

typedef struct archive TestArchive;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestArchive, archive_free)

#define CONFIG_JSON "{\"Description\":\"test plugin\",\"Entrypoint\":[\"/bin/tool\"]}"
#define CONFIG_ENTRY { T_FILE, "config.json", NULL, 0644, CONFIG_JSON }

/* section: building contexts */

/* a tar compressed with @filter, without padding, files given by size full of zeros */
static GBytes *
build_tar (const PdTestEntry *entries, PdTestFilter filter)
{
  const PdTestTarOptions options = { .filter = filter, .binary_names = TRUE };

  return pd_test_build_tar (entries, &options);
}

/* a raw ustar header, for names libarchive's writer would not split the way we want */
static void
append_raw_header (GByteArray *out, const char *prefix, const char *name, char typeflag,
                   const char *linkname, const char *data)
{
  guchar header[512] = { 0 };
  gsize size = data != NULL ? strlen (data) : 0;
  guint sum = 0;

  g_strlcpy ((char *) header, name, 100);
  g_snprintf ((char *) header + 100, 8, "%07o", 0644);
  g_snprintf ((char *) header + 108, 8, "%07o", 0);
  g_snprintf ((char *) header + 116, 8, "%07o", 0);
  g_snprintf ((char *) header + 124, 12, "%011o", (guint) size);
  g_snprintf ((char *) header + 136, 12, "%011o", (guint) PD_TEST_MTIME);
  memset (header + 148, ' ', 8);
  header[156] = (guchar) typeflag;
  if (linkname != NULL)
    g_strlcpy ((char *) header + 157, linkname, 100);
  memcpy (header + 257, "ustar", 6);
  memcpy (header + 263, "00", 2);
  if (prefix != NULL)
    g_strlcpy ((char *) header + 345, prefix, 155);
  for (gsize i = 0; i < sizeof header; i++)
    sum += header[i];
  g_snprintf ((char *) header + 148, 8, "%06o", sum);
  header[155] = ' ';
  g_byte_array_append (out, header, sizeof header);
  if (size > 0)
    {
      guchar pad[512] = { 0 };
      g_byte_array_append (out, (const guint8 *) data, (guint) size);
      g_byte_array_append (out, pad, (guint) ((512 - size % 512) % 512));
    }
}

static GBytes *
finish_raw_tar (GByteArray *out)
{
  guchar end[1024] = { 0 };

  g_byte_array_append (out, end, sizeof end);
  return g_byte_array_free_to_bytes (out);
}

/* section: helpers */

static int
du_cb (const char *path, const struct stat *st, int flag, struct FTW *ftw);
static guint64 du_total;

static int
du_cb (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  if (flag == FTW_F && S_ISREG (st->st_mode))
    du_total += (guint64) st->st_blocks * 512;
  return 0;
}

static guint64
disk_usage (const char *path)
{
  du_total = 0;
  nftw (path, du_cb, 16, FTW_PHYS);
  return du_total;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

/* sorted names in @path (empty when it does not exist), optionally only those with @prefix */
static char *
list_dir (const char *path, const char *prefix)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  DIR *dir = opendir (path);
  struct dirent *d;

  if (dir != NULL)
    {
      while ((d = readdir (dir)) != NULL)
        {
          if (g_str_equal (d->d_name, ".") || g_str_equal (d->d_name, ".."))
            continue;
          if (prefix != NULL && !g_str_has_prefix (d->d_name, prefix))
            continue;
          g_ptr_array_add (names, g_strdup (d->d_name));
        }
      closedir (dir);
    }
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (",", (char **) names->pdata);
}

static GBytes *
gunzip (GBytes *compressed)
{
  z_stream z = { 0 };
  GByteArray *out = g_byte_array_new ();
  guchar buffer[65536];
  gsize len;
  int r;

  g_assert_cmpint (inflateInit2 (&z, 15 + 16), ==, Z_OK);
  z.next_in = (Bytef *) g_bytes_get_data (compressed, &len);
  z.avail_in = (uInt) len;
  do
    {
      z.next_out = buffer;
      z.avail_out = sizeof buffer;
      r = inflate (&z, Z_NO_FLUSH);
      g_assert_true (r == Z_OK || r == Z_STREAM_END);
      g_byte_array_append (out, buffer, (guint) (sizeof buffer - z.avail_out));
    }
  while (r != Z_STREAM_END);
  g_assert_cmpuint (z.avail_in, ==, 0);
  inflateEnd (&z);
  return g_byte_array_free_to_bytes (out);
}

/* "name type mode [target]" lines of a tar, to look at the normalised layer */
static char *
describe_tar (GBytes *tar)
{
  g_autoptr(TestArchive) a = archive_read_new ();
  g_autoptr(GString) out = g_string_new (NULL);
  struct archive_entry *entry;
  gsize len;
  const void *data = g_bytes_get_data (tar, &len);

  archive_read_support_format_tar (a);
  g_assert_cmpint (archive_read_open_memory (a, data, len), ==, ARCHIVE_OK);
  while (archive_read_next_header (a, &entry) == ARCHIVE_OK)
    {
      g_string_append_printf (out, "%s %o", archive_entry_pathname (entry),
                              (guint) archive_entry_mode (entry));
      if (archive_entry_hardlink (entry) != NULL)
        g_string_append_printf (out, " =%s", archive_entry_hardlink (entry));
      if (archive_entry_symlink (entry) != NULL)
        g_string_append_printf (out, " ->%s", archive_entry_symlink (entry));
      g_string_append_c (out, '\n');
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static int
fd_for_bytes (GBytes *bytes)
{
  g_autofree char *path = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  int fd = g_file_open_tmp ("pd-archive-input-XXXXXX", &path, NULL);

  g_assert_cmpint (fd, >=, 0);
  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
  close (fd);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  unlink (path);
  return fd;
}

typedef struct {
  int fd;
  GBytes *bytes;
} PipeWriter;

static gpointer
pipe_writer_thread (gpointer user_data)
{
  PipeWriter *writer = user_data;
  gsize len;
  const guchar *data = g_bytes_get_data (writer->bytes, &len);

  while (len > 0)
    {
      ssize_t n = write (writer->fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      /* the reader may stop early (a refused archive): that is fine */
      if (n <= 0)
        break;
      data += n;
      len -= (gsize) n;
    }
  close (writer->fd);
  g_bytes_unref (writer->bytes);
  g_free (writer);
  return NULL;
}

/* section: fixture */

typedef struct {
  char *state_dir;
  PdStore *store;
  char *staging_dir;
  char *staging_parent;
  char *canary_dir;
  char *rootfs;
  char *blobs_dir;
  /* snapshots taken before the ingest */
  char *state_listing;
  char *parent_listing;
  char *blobs_listing;
  char *tmp_escape_listing;
  nlink_t passwd_links;
  /* what the last ingest reported */
  guint n_progress;
  guint64 last_progress;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *canary_file = NULL;
  struct stat st;

  f->state_dir = g_dir_make_tmp ("pd-test-archive-XXXXXX", &error);
  g_assert_no_error (error);
  f->store = pd_store_new (f->state_dir, &error);
  g_assert_no_error (error);
  f->staging_dir = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  f->staging_parent = g_path_get_dirname (f->staging_dir);
  f->rootfs = g_build_filename (f->staging_dir, "rootfs", NULL);
  f->blobs_dir = g_build_filename (f->state_dir, "blobs", "sha256", NULL);

  /* a canary next to the staging dir: no escape may touch it */
  f->canary_dir = g_build_filename (f->staging_parent, "canary", NULL);
  g_assert_cmpint (g_mkdir (f->canary_dir, 0755), ==, 0);
  canary_file = g_build_filename (f->canary_dir, "keep", NULL);
  g_assert_true (g_file_set_contents (canary_file, "canary", -1, NULL));

  f->state_listing = list_dir (f->state_dir, NULL);
  f->parent_listing = list_dir (f->staging_parent, NULL);
  f->blobs_listing = list_dir (f->blobs_dir, NULL);
  f->tmp_escape_listing = list_dir (g_get_tmp_dir (), "pd-escape-");
  g_assert_cmpint (stat ("/etc/passwd", &st), ==, 0);
  f->passwd_links = st.st_nlink;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->store);
  pd_test_rm_rf (f->state_dir);
  g_free (f->state_dir);
  g_free (f->staging_dir);
  g_free (f->staging_parent);
  g_free (f->canary_dir);
  g_free (f->rootfs);
  g_free (f->blobs_dir);
  g_free (f->state_listing);
  g_free (f->parent_listing);
  g_free (f->blobs_listing);
  g_free (f->tmp_escape_listing);
}

static void
progress_cb (guint64 bytes_read, gpointer user_data)
{
  Fixture *f = user_data;

  g_assert_cmpuint (bytes_read, >=, f->last_progress);
  f->last_progress = bytes_read;
  f->n_progress++;
}

static PdContextResult *
ingest_fd (Fixture *f, int fd, const PdArchiveLimits *limits, GCancellable *cancellable,
           GError **error)
{
  PdArchiveLimits default_limits;

  if (limits == NULL)
    {
      pd_archive_limits_init (&default_limits);
      limits = &default_limits;
    }
  f->n_progress = 0;
  f->last_progress = 0;
  return pd_archive_ingest_context (fd, f->store, f->staging_dir, pd_archive_get_helper_path (),
                                    limits, progress_cb, f, cancellable, error);
}

static PdContextResult *
ingest_bytes (Fixture *f, GBytes *tar, const PdArchiveLimits *limits, GError **error)
{
  int fd = fd_for_bytes (tar);
  PdContextResult *result = ingest_fd (f, fd, limits, NULL, error);

  close (fd);
  return result;
}

static PdContextResult *
ingest_bytes_from_pipe (Fixture *f, GBytes *tar, const PdArchiveLimits *limits, GError **error)
{
  PipeWriter *writer = g_new0 (PipeWriter, 1);
  GThread *thread;
  PdContextResult *result;
  int fds[2];

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  writer->fd = fds[1];
  writer->bytes = g_bytes_ref (tar);
  thread = g_thread_new ("pipe-writer", pipe_writer_thread, writer);
  result = ingest_fd (f, fds[0], limits, NULL, error);
  close (fds[0]);
  g_thread_join (thread);
  return result;
}

/* nothing outside the staging dir changed, no helper is left, no blob was published */
static void
assert_contained (Fixture *f)
{
  g_autofree char *state_listing = list_dir (f->state_dir, NULL);
  g_autofree char *parent_listing = list_dir (f->staging_parent, NULL);
  g_autofree char *blobs_listing = list_dir (f->blobs_dir, NULL);
  g_autofree char *tmp_escape_listing = list_dir (g_get_tmp_dir (), "pd-escape-");
  g_autofree char *canary_listing = list_dir (f->canary_dir, NULL);
  g_autofree char *canary_file = g_build_filename (f->canary_dir, "keep", NULL);
  g_autofree char *canary = NULL;
  g_autofree char *staging_listing = list_dir (f->staging_dir, NULL);
  struct stat st;

  g_assert_cmpstr (state_listing, ==, f->state_listing);
  g_assert_cmpstr (parent_listing, ==, f->parent_listing);
  g_assert_cmpstr (blobs_listing, ==, f->blobs_listing);
  g_assert_cmpstr (tmp_escape_listing, ==, f->tmp_escape_listing);
  g_assert_cmpstr (canary_listing, ==, "keep");
  g_assert_true (g_file_get_contents (canary_file, &canary, NULL, NULL));
  g_assert_cmpstr (canary, ==, "canary");
  /* the staging dir holds rootfs/ at most: "../x" would have landed next to it */
  g_assert_true (g_str_equal (staging_listing, "") || g_str_equal (staging_listing, "rootfs"));
  g_assert_cmpint (stat ("/etc/passwd", &st), ==, 0);
  g_assert_cmpuint (st.st_nlink, ==, f->passwd_links);
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
}

static char *
read_rootfs_file (Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename (f->rootfs, name, NULL);
  char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  return contents;
}

static mode_t
rootfs_mode (Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename (f->rootfs, name, NULL);
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  return st.st_mode;
}

static gboolean
rootfs_exists (Fixture *f, const char *name)
{
  g_autofree char *path = g_build_filename (f->rootfs, name, NULL);
  struct stat st;

  return lstat (path, &st) == 0;
}

/* section: happy paths */

static const PdTestEntry good_context[] = {
  { T_FILE, "config.json", NULL, 0644, CONFIG_JSON },
  { T_DIR, "rootfs", NULL, 0755 },
  { T_DIR, "rootfs/bin", NULL, 0750 },
  { T_FILE, "rootfs/bin/tool", NULL, 0755, "#!/bin/false\n" },
  { T_SYMLINK, "rootfs/bin/link", "tool" },
  { T_SYMLINK, "rootfs/bin/sh", "/bin/tool" },
  { T_HARDLINK, "rootfs/bin/hard", "rootfs/bin/tool" },
  /* moby compares hard-link targets case-insensitively */
  { T_HARDLINK, "rootfs/bin/HARD2", "ROOTFS/bin/tool" },
  { T_DIR, "rootfs/etc", NULL, 0755 },
  { T_FILE, "rootfs/etc/secret", NULL, 0640, "s3cret" },
  { T_FILE, "rootfs/etc/empty", NULL, 0600, "" },
  /* non-ASCII names travel in pax headers */
  { T_FILE, "rootfs/etc/gr\xc3\xbc\xc3\x9f" "e", NULL, 0644, "utf-8" },
  { T_FILE, "rootfs/bin/su", NULL, 04755, "setuid" },
  { T_FILE, "rootfs/bin/wall", NULL, 02755, "setgid" },
  { T_DIR, "rootfs/tmp", NULL, 01777 },
  { T_DIR, "rootfs/dev", NULL, 0755 },
  { T_CHR, "rootfs/dev/null", NULL, 0666 },
  { T_BLK, "rootfs/dev/loop0", NULL, 0660 },
  { T_FIFO, "rootfs/run-fifo", NULL, 0644 },
  { T_FILE, "README.md", NULL, 0644, "not part of the plugin" },
  { T_DIR, "other", NULL, 0755 },
  { T_FILE, "other/ignored", NULL, 0644, "ignored" },
  { T_END },
};

/* libarchive writes directories with a trailing slash and hard links without a file type */
static const char expected_layer[] =
  "./ 40755\n"
  "bin/ 40750\n"
  "bin/tool 100755\n"
  "bin/link 120644 ->tool\n"
  "bin/sh 120644 ->/bin/tool\n"
  "bin/hard 644 =bin/tool\n"
  "bin/HARD2 644 =bin/tool\n"
  "etc/ 40755\n"
  "etc/secret 100640\n"
  "etc/empty 100600\n"
  "etc/gr\xc3\xbc\xc3\x9f" "e 100644\n"
  "bin/su 100755\n"
  "bin/wall 100755\n"
  "tmp/ 41777\n"
  "dev/ 40755\n"
  "run-fifo 10644\n";

static void
assert_good_result (Fixture *f, PdContextResult *result)
{
  g_autofree char *blob_path = NULL;
  g_autofree char *blob_data = NULL;
  g_autofree char *blob_digest = NULL;
  g_autofree char *layer_digest = NULL;
  g_autofree char *tool = NULL;
  g_autofree char *secret = NULL;
  g_autofree char *described = NULL;
  g_autofree char *link = NULL;
  g_autofree char *tool_path = g_build_filename (f->rootfs, "bin/tool", NULL);
  g_autofree char *hard_path = g_build_filename (f->rootfs, "bin/hard", NULL);
  g_autofree char *sh_path = g_build_filename (f->rootfs, "bin/sh", NULL);
  g_autofree char *staging_listing = list_dir (f->staging_dir, NULL);
  g_autoptr(GBytes) blob = NULL;
  g_autoptr(GBytes) layer = NULL;
  struct stat st_tool, st_hard;
  gsize blob_len;

  g_assert_nonnull (result);
  g_assert_cmpmem (g_bytes_get_data (result->config_data, NULL),
                   g_bytes_get_size (result->config_data), CONFIG_JSON, strlen (CONFIG_JSON));

  /* the blob is the gzip of the layer; diff_id is the digest of the uncompressed layer */
  g_assert_true (g_str_has_prefix (result->layer_digest, "sha256:"));
  g_assert_true (g_str_has_prefix (result->diff_id, "sha256:"));
  g_assert_true (pd_store_has_blob (f->store, result->layer_digest));
  blob_path = pd_store_get_blob_path (f->store, result->layer_digest);
  g_assert_true (g_file_get_contents (blob_path, &blob_data, &blob_len, NULL));
  g_assert_cmpuint (blob_len, ==, result->layer_size);
  blob_digest = pd_sha256_digest_bytes (blob_data, blob_len);
  g_assert_cmpstr (blob_digest, ==, result->layer_digest);
  blob = g_bytes_new_take (g_steal_pointer (&blob_data), blob_len);
  layer = gunzip (blob);
  layer_digest = pd_sha256_digest_bytes (g_bytes_get_data (layer, NULL), g_bytes_get_size (layer));
  g_assert_cmpstr (layer_digest, ==, result->diff_id);
  described = describe_tar (layer);
  g_assert_cmpstr (described, ==, expected_layer);

  /* the extracted rootfs */
  g_assert_cmpstr (staging_listing, ==, "rootfs");
  tool = read_rootfs_file (f, "bin/tool");
  g_assert_cmpstr (tool, ==, "#!/bin/false\n");
  secret = read_rootfs_file (f, "etc/secret");
  g_assert_true (rootfs_exists (f, "etc/gr\xc3\xbc\xc3\x9f" "e"));
  g_assert_cmpstr (secret, ==, "s3cret");
  g_assert_cmpuint (rootfs_mode (f, "bin/tool"), ==, S_IFREG | 0755);
  g_assert_cmpuint (rootfs_mode (f, "bin"), ==, S_IFDIR | 0750);
  g_assert_cmpuint (rootfs_mode (f, "etc/secret"), ==, S_IFREG | 0640);
  g_assert_cmpuint (rootfs_mode (f, "etc/empty"), ==, S_IFREG | 0600);
  g_assert_cmpuint (rootfs_mode (f, "bin/su"), ==, S_IFREG | 0755);
  g_assert_cmpuint (rootfs_mode (f, "bin/wall"), ==, S_IFREG | 0755);
  g_assert_cmpuint (rootfs_mode (f, "tmp"), ==, S_IFDIR | 01777);
  g_assert_cmpuint (rootfs_mode (f, "."), ==, S_IFDIR | 0755);
  g_assert_true (S_ISLNK (rootfs_mode (f, "bin/link")));
  link = g_file_read_link (sh_path, NULL);
  g_assert_cmpstr (link, ==, "/bin/tool");
  g_assert_cmpint (stat (tool_path, &st_tool), ==, 0);
  g_assert_cmpint (stat (hard_path, &st_hard), ==, 0);
  g_assert_cmpuint (st_tool.st_ino, ==, st_hard.st_ino);
  g_assert_cmpint (st_tool.st_mtime, ==, PD_TEST_MTIME);
  g_assert_true (rootfs_exists (f, "bin/HARD2"));
  /* device nodes dropped, FIFOs kept, entries outside rootfs/ ignored */
  g_assert_false (rootfs_exists (f, "dev/null"));
  g_assert_false (rootfs_exists (f, "dev/loop0"));
  g_assert_cmpuint (rootfs_mode (f, "run-fifo"), ==, S_IFIFO | 0644);
  g_assert_false (rootfs_exists (f, "README.md"));
  g_assert_false (rootfs_exists (f, "other"));
  g_assert_false (rootfs_exists (f, "config.json"));

  g_assert_cmpuint (f->n_progress, >, 0);
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
}

static char *first_diff_id;

static void
test_happy (Fixture *f, gconstpointer data)
{
  PdTestFilter filter = GPOINTER_TO_INT (data);
  g_autoptr(GBytes) tar = build_tar (good_context, filter);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;

  result = ingest_bytes (f, tar, NULL, &error);
  g_assert_no_error (error);
  assert_good_result (f, result);
  /* all input was read and reported */
  g_assert_cmpuint (f->last_progress, ==, g_bytes_get_size (tar));

  /* the layer is normalised: the same whatever the context's compression */
  if (first_diff_id == NULL)
    first_diff_id = g_strdup (result->diff_id);
  g_assert_cmpstr (result->diff_id, ==, first_diff_id);
}

static void
test_happy_pipe (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) tar = build_tar (good_context, FILTER_GZIP);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;

  result = ingest_bytes_from_pipe (f, tar, NULL, &error);
  g_assert_no_error (error);
  assert_good_result (f, result);
  g_assert_cmpuint (f->last_progress, ==, g_bytes_get_size (tar));
}

/* the daemon's locale must not change the layer, hence its digest */
static void
test_happy_locale (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) tar = build_tar (good_context, FILTER_NONE);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  g_autofree char *old_locale = g_strdup (setlocale (LC_ALL, NULL));

  if (setlocale (LC_ALL, "C.UTF-8") == NULL)
    g_assert_nonnull (setlocale (LC_ALL, "en_US.UTF-8"));
  result = ingest_bytes (f, tar, NULL, &error);
  setlocale (LC_ALL, old_locale);
  g_assert_no_error (error);
  assert_good_result (f, result);
  g_assert_nonnull (first_diff_id);
  g_assert_cmpstr (result->diff_id, ==, first_diff_id);
}

/* more than the socket to the helper buffers: back-pressure and the final padding */
static void
test_happy_large (Fixture *f, gconstpointer data)
{
  static const PdTestEntry entries[] = {
    CONFIG_ENTRY,
    { T_DIR, "rootfs", NULL, 0755 },
    { T_FILE, "rootfs/a", NULL, 0644, NULL, 3 * 1024 * 1024 + 17 },
    { T_FILE, "rootfs/b", NULL, 0644, NULL, 2 * 1024 * 1024 },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FILTER_GZIP);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  g_autofree char *a = g_build_filename (f->rootfs, "a", NULL);
  struct stat st;

  result = ingest_bytes_from_pipe (f, tar, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  g_assert_cmpint (stat (a, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 3 * 1024 * 1024 + 17);
  g_assert_cmpuint (disk_usage (f->rootfs), <=, 6 * 1024 * 1024);
}

/* what `tar -C dir -c .` produces: every name starts with "./" */
static void
test_happy_dot_prefix (Fixture *f, gconstpointer data)
{
  static const PdTestEntry entries[] = {
    { T_DIR, "./", NULL, 0755 },
    { T_FILE, "./config.json", NULL, 0644, CONFIG_JSON },
    { T_DIR, "./rootfs/", NULL, 0711 },
    { T_DIR, "./rootfs/bin/", NULL, 0755 },
    { T_FILE, "./rootfs/bin/tool", NULL, 0755, "tool" },
    { T_HARDLINK, "./rootfs/bin/again", "./rootfs/bin/tool" },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FILTER_NONE);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  g_autofree char *tool = NULL;
  g_autofree char *again = NULL;

  result = ingest_bytes (f, tar, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  tool = read_rootfs_file (f, "bin/tool");
  again = read_rootfs_file (f, "bin/again");
  g_assert_cmpstr (tool, ==, "tool");
  g_assert_cmpstr (again, ==, "tool");
  g_assert_cmpuint (rootfs_mode (f, "."), ==, S_IFDIR | 0711);
}

/* section: malicious contexts */

typedef struct {
  const char *name;
  const PdTestEntry *entries;
  PdTestFilter filter;
  GBytes *(*build) (void);     /* instead of @entries */
  gint code;
  const char *message;         /* a substring of the message, or NULL */
  PdArchiveLimits limits;      /* zero fields: the defaults */
  guint64 max_rootfs_bytes;    /* when set, what may have been written at most */
} BadCase;

#define CONFIG { T_FILE, "config.json", NULL, 0644, CONFIG_JSON }
#define ROOT { T_DIR, "rootfs", NULL, 0755 }

static const PdTestEntry bad_dotdot[] = {
  CONFIG, ROOT,
  { T_FILE, "rootfs/../../escape", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry bad_dotdot_inner[] = {
  CONFIG, ROOT,
  { T_DIR, "rootfs/a", NULL, 0755 },
  { T_FILE, "rootfs/a/../../../../../../../../tmp/pd-escape-dotdot", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry bad_absolute[] = {
  CONFIG, ROOT,
  { T_FILE, "/tmp/pd-escape-absolute", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry bad_absolute_rootfs[] = {
  CONFIG, ROOT,
  { T_FILE, "/rootfs/escape", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry bad_symlink_root[] = {
  CONFIG, ROOT,
  { T_SYMLINK, "rootfs/escape", "/" },
  { T_FILE, "rootfs/escape/tmp/pd-escape-symlink", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry bad_symlink_dotdot[] = {
  CONFIG, ROOT,
  { T_SYMLINK, "rootfs/up", "../../" },
  { T_FILE, "rootfs/up/escape", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry bad_symlink_tmp[] = {
  CONFIG, ROOT,
  { T_SYMLINK, "rootfs/t", "../../../../../../../../../tmp" },
  { T_DIR, "rootfs/t/pd-escape-dir", NULL, 0755 },
  { T_END },
};
static const PdTestEntry bad_hardlink_passwd[] = {
  CONFIG, ROOT,
  { T_HARDLINK, "rootfs/passwd", "/etc/passwd" },
  { T_END },
};
static const PdTestEntry bad_hardlink_dotdot[] = {
  CONFIG, ROOT,
  { T_HARDLINK, "rootfs/passwd", "rootfs/../../../../../../etc/passwd" },
  { T_END },
};
static const PdTestEntry bad_hardlink_outside[] = {
  CONFIG, ROOT,
  { T_HARDLINK, "rootfs/config", "config.json" },
  { T_END },
};
static const PdTestEntry bad_hardlink_symlink[] = {
  CONFIG, ROOT,
  { T_SYMLINK, "rootfs/shadow", "/etc/shadow" },
  { T_HARDLINK, "rootfs/h", "rootfs/shadow" },
  /* the chmod through the hard link that CVE-2021-32760 is about */
  { T_FILE, "rootfs/h", NULL, 0777, "" },
  { T_END },
};
static const PdTestEntry bad_hardlink_through_symlink[] = {
  CONFIG, ROOT,
  { T_SYMLINK, "rootfs/etc", "/etc" },
  { T_HARDLINK, "rootfs/passwd", "rootfs/etc/passwd" },
  { T_END },
};
static const PdTestEntry bad_rootfs_symlink[] = {
  CONFIG,
  { T_SYMLINK, "rootfs", "/tmp" },
  { T_FILE, "rootfs/pd-escape-rootfs", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry bad_whiteout[] = {
  CONFIG, ROOT,
  { T_FILE, "rootfs/.wh.etc", NULL, 0644, "" },
  { T_END },
};
static const PdTestEntry bad_no_config[] = {
  ROOT,
  { T_FILE, "rootfs/file", NULL, 0644, "data" },
  { T_END },
};
static const PdTestEntry bad_no_rootfs[] = {
  CONFIG,
  { T_FILE, "other/file", NULL, 0644, "data" },
  { T_END },
};
static const PdTestEntry bad_config_dir[] = {
  { T_DIR, "config.json", NULL, 0755 },
  ROOT,
  { T_END },
};
static const PdTestEntry bad_config_twice[] = {
  CONFIG, ROOT, CONFIG,
  { T_END },
};
static const PdTestEntry bad_bomb[] = {
  CONFIG, ROOT,
  { T_FILE, "rootfs/zeros", NULL, 0644, NULL, 16 * 1024 * 1024 },
  { T_END },
};
static const PdTestEntry bad_bomb_ignored[] = {
  CONFIG, ROOT,
  /* bytes outside rootfs/ are decompressed too, so they count */
  { T_FILE, "junk", NULL, 0644, NULL, 16 * 1024 * 1024 },
  { T_END },
};
static const PdTestEntry bad_big_config[] = {
  { T_FILE, "config.json", NULL, 0644, NULL, 8192 },
  ROOT,
  { T_END },
};

static const PdTestEntry *
make_many (guint n, gsize size)
{
  PdTestEntry *entries = g_new0 (PdTestEntry, n + 3);

  entries[0] = (PdTestEntry) CONFIG;
  entries[1] = (PdTestEntry) ROOT;
  for (guint i = 0; i < n; i++)
    entries[i + 2] = (PdTestEntry) { T_FILE, g_strdup_printf ("rootfs/f%u", i), NULL, 0644, NULL, size };
  return entries;
}

static GBytes *
build_many_bomb (void)
{
  /* each entry under the cap, together far over it */
  const PdTestEntry *entries = make_many (64, 256 * 1024);
  GBytes *tar = build_tar (entries, FILTER_GZIP);

  for (guint i = 0; i < 64; i++)
    g_free ((char *) entries[i + 2].name);
  g_free ((PdTestEntry *) entries);
  return tar;
}

static GBytes *
build_many_entries (void)
{
  const PdTestEntry *entries = make_many (50, 0);
  GBytes *tar = build_tar (entries, FILTER_NONE);

  for (guint i = 0; i < 50; i++)
    g_free ((char *) entries[i + 2].name);
  g_free ((PdTestEntry *) entries);
  return tar;
}

/* a context whose one file is "rootfs" then @n times @part, holding @data */
static GBytes *
build_one_file (const char *part, guint n, const char *data)
{
  g_autofree char *tail = pd_test_nested (n, part, "", "");
  g_autofree char *name = g_strconcat ("rootfs", tail, NULL);
  const PdTestEntry entries[] = { CONFIG, ROOT, { T_FILE, name, NULL, 0644, data }, { T_END } };

  return build_tar (entries, FILTER_NONE);
}

static GBytes *
build_deep (void)
{
  return build_one_file ("/d", 40, "deep");
}

static GBytes *
build_long (void)
{
  g_autofree char *xs = g_strnfill (300, 'x');
  g_autofree char *part = g_strconcat ("/", xs, NULL);

  return build_one_file (part, 1, "long");
}

static GBytes *
build_garbage (void)
{
  GByteArray *out = g_byte_array_new ();

  for (guint i = 0; i < 4096; i++)
    {
      guchar c = (guchar) g_test_rand_int_range (0, 256);
      g_byte_array_append (out, &c, 1);
    }
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
build_empty (void)
{
  return g_bytes_new (NULL, 0);
}

static GBytes *
truncate_bytes (GBytes *bytes, gsize len)
{
  g_autoptr(GBytes) owned = bytes;

  g_assert_cmpuint (len, <, g_bytes_get_size (owned));
  return g_bytes_new_from_bytes (owned, 0, len);
}

static GBytes *
build_truncated (void)
{
  static const PdTestEntry entries[] = {
    CONFIG, ROOT,
    { T_FILE, "rootfs/big", NULL, 0644, NULL, 100000 },
    { T_END },
  };
  /* cut in the middle of the file's data */
  return truncate_bytes (build_tar (entries, FILTER_NONE), 4 * 512 + 50000);
}

static GBytes *
build_truncated_gzip (void)
{
  g_autoptr(GBytes) tar = build_tar (good_context, FILTER_GZIP);

  return truncate_bytes (g_bytes_ref (tar), g_bytes_get_size (tar) / 2);
}

/* ustar's prefix field joins "rootfs/.." and "escape" into "rootfs/../escape" */
static GBytes *
build_raw_prefix_dotdot (void)
{
  GByteArray *out = g_byte_array_new ();

  append_raw_header (out, NULL, "config.json", '0', NULL, CONFIG_JSON);
  append_raw_header (out, NULL, "rootfs/", '5', NULL, NULL);
  append_raw_header (out, "rootfs/../..", "pd-escape-raw", '0', NULL, "pwned");
  return finish_raw_tar (out);
}

/* an old-style hard link ('1') whose target is absolute */
static GBytes *
build_raw_hardlink (void)
{
  GByteArray *out = g_byte_array_new ();

  append_raw_header (out, NULL, "config.json", '0', NULL, CONFIG_JSON);
  append_raw_header (out, NULL, "rootfs/", '5', NULL, NULL);
  append_raw_header (out, NULL, "rootfs/shadow", '1', "/etc/shadow", NULL);
  return finish_raw_tar (out);
}

/* a pax extended header is decompressed and parsed like any entry, though no entry declares
 * its bytes: three of 900 KiB (libarchive refuses one of more than 1 MiB) count against the
 * cap too */
static GBytes *
build_pax_bomb (void)
{
  GByteArray *out = g_byte_array_new ();
  gsize value_len = 900 * 1024;
  /* "921616 comment=<value>\n": the length counts its own six digits */
  gsize total = strlen ("921616 comment=\n") + value_len;
  g_autofree char *value = g_strnfill (value_len, 'z');
  g_autofree char *record = g_strdup_printf ("%" G_GSIZE_FORMAT " comment=%s\n", total, value);

  g_assert_cmpuint (strlen (record), ==, total);
  append_raw_header (out, NULL, "config.json", '0', NULL, CONFIG_JSON);
  append_raw_header (out, NULL, "rootfs/", '5', NULL, NULL);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("rootfs/file%u", i);

      append_raw_header (out, NULL, "PaxHeaders/file", 'x', NULL, record);
      append_raw_header (out, NULL, name, '0', NULL, "data");
    }
  return finish_raw_tar (out);
}

static const BadCase bad_cases[] = {
  { "dotdot", bad_dotdot, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "\"..\"" },
  { "dotdot-inner", bad_dotdot_inner, FILTER_GZIP, NULL, PD_ERROR_INVALID_ARCHIVE, "\"..\"" },
  { "absolute", bad_absolute, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "absolute" },
  { "absolute-rootfs", bad_absolute_rootfs, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "absolute" },
  { "symlink-root", bad_symlink_root, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "symlink-dotdot", bad_symlink_dotdot, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "symlink-tmp", bad_symlink_tmp, FILTER_XZ, NULL, PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "hardlink-passwd", bad_hardlink_passwd, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "outside" },
  { "hardlink-dotdot", bad_hardlink_dotdot, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "outside" },
  { "hardlink-outside", bad_hardlink_outside, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "outside" },
  { "hardlink-symlink", bad_hardlink_symlink, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "hardlink-through-symlink", bad_hardlink_through_symlink, FILTER_NONE, NULL,
    PD_ERROR_INVALID_ARCHIVE, "symlink" },
  { "rootfs-symlink", bad_rootfs_symlink, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE,
    "not a directory" },
  { "whiteout", bad_whiteout, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "whiteout" },
  { "raw-prefix-dotdot", NULL, FILTER_NONE, build_raw_prefix_dotdot, PD_ERROR_INVALID_ARCHIVE,
    "\"..\"" },
  { "raw-hardlink", NULL, FILTER_NONE, build_raw_hardlink, PD_ERROR_INVALID_ARCHIVE, "outside" },
  { "no-config", bad_no_config, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "config not found" },
  { "no-rootfs", bad_no_rootfs, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "no rootfs found" },
  { "config-dir", bad_config_dir, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "config.json" },
  { "config-twice", bad_config_twice, FILTER_NONE, NULL, PD_ERROR_INVALID_ARCHIVE, "config.json" },
  { "garbage", NULL, FILTER_NONE, build_garbage, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "empty", NULL, FILTER_NONE, build_empty, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "truncated", NULL, FILTER_NONE, build_truncated, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "truncated-gzip", NULL, FILTER_NONE, build_truncated_gzip, PD_ERROR_INVALID_ARCHIVE, NULL },
  { "bomb", bad_bomb, FILTER_GZIP, NULL, PD_ERROR_LIMITS_EXCEEDED, "larger than",
    { .max_bytes = 1024 * 1024 }, 1 },
  { "bomb-zstd", bad_bomb, FILTER_ZSTD, NULL, PD_ERROR_LIMITS_EXCEEDED, "larger than",
    { .max_bytes = 1024 * 1024 }, 1 },
  { "bomb-ignored", bad_bomb_ignored, FILTER_BZIP2, NULL, PD_ERROR_LIMITS_EXCEEDED,
    "larger than", { .max_bytes = 1024 * 1024 }, 1 },
  { "bomb-pax", NULL, FILTER_NONE, build_pax_bomb, PD_ERROR_LIMITS_EXCEEDED, "larger than",
    { .max_bytes = 1024 * 1024 }, 1 },
  { "bomb-many", NULL, FILTER_NONE, build_many_bomb, PD_ERROR_LIMITS_EXCEEDED, "larger than",
    { .max_bytes = 1024 * 1024 }, 1024 * 1024 + 64 * 1024 },
  { "too-many-entries", NULL, FILTER_NONE, build_many_entries, PD_ERROR_LIMITS_EXCEEDED,
    "entries", { .max_entries = 20 } },
  { "too-deep", NULL, FILTER_NONE, build_deep, PD_ERROR_LIMITS_EXCEEDED, "deeper",
    { .max_depth = 16 } },
  { "too-long", NULL, FILTER_NONE, build_long, PD_ERROR_LIMITS_EXCEEDED, "longer",
    { .max_path_length = 255 } },
  { "config-too-big", bad_big_config, FILTER_NONE, NULL, PD_ERROR_LIMITS_EXCEEDED, "config.json",
    { .max_config_size = 4096 } },
};

static void
test_bad (Fixture *f, gconstpointer data)
{
  const BadCase *bad = data;
  g_autoptr(GBytes) tar = bad->build != NULL ? bad->build () : build_tar (bad->entries, bad->filter);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) pipe_error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  PdArchiveLimits limits;

  pd_archive_limits_init (&limits);
  if (bad->limits.max_bytes != 0)
    limits.max_bytes = bad->limits.max_bytes;
  if (bad->limits.max_entries != 0)
    limits.max_entries = bad->limits.max_entries;
  if (bad->limits.max_path_length != 0)
    limits.max_path_length = bad->limits.max_path_length;
  if (bad->limits.max_depth != 0)
    limits.max_depth = bad->limits.max_depth;
  if (bad->limits.max_config_size != 0)
    limits.max_config_size = bad->limits.max_config_size;

  result = ingest_bytes (f, tar, &limits, &error);
  g_assert_null (result);
  g_assert_error (error, PD_ERROR, bad->code);
  g_test_message ("%s: %s", bad->name, error->message);
  if (bad->message != NULL)
    g_assert_nonnull (strstr (error->message, bad->message));
  assert_contained (f);
  if (bad->max_rootfs_bytes != 0)
    g_assert_cmpuint (disk_usage (f->rootfs), <=, bad->max_rootfs_bytes);

  /* the same from a pipe */
  pd_test_rm_rf (f->rootfs);
  result = ingest_bytes_from_pipe (f, tar, &limits, &pipe_error);
  g_assert_null (result);
  g_assert_error (pipe_error, PD_ERROR, bad->code);
  assert_contained (f);
}

/* section: cancellation */

static void
cancel_from_progress (guint64 bytes_read, gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

static void
test_cancel_progress (Fixture *f, gconstpointer data)
{
  static const PdTestEntry entries[] = {
    CONFIG, ROOT,
    { T_FILE, "rootfs/a", NULL, 0644, NULL, 1024 * 1024 },
    { T_FILE, "rootfs/b", NULL, 0644, NULL, 1024 * 1024 },
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FILTER_NONE);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  PdArchiveLimits limits;
  int fd = fd_for_bytes (tar);

  pd_archive_limits_init (&limits);
  result = pd_archive_ingest_context (fd, f->store, f->staging_dir, NULL, &limits,
                                      cancel_from_progress, cancellable, cancellable, &error);
  close (fd);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_contained (f);
}

static gpointer
cancel_later_thread (gpointer user_data)
{
  g_usleep (200 * 1000);
  g_cancellable_cancel (user_data);
  return NULL;
}

/* a client that sends half a context and stalls: Cancel must still get through */
static void
test_cancel_stalled_pipe (Fixture *f, gconstpointer data)
{
  static const PdTestEntry entries[] = {
    { T_DIR, "rootfs", NULL, 0755 },
    { T_FILE, "rootfs/a", NULL, 0644, "some data" },
    { T_FILE, "rootfs/b", NULL, 0644, NULL, 1024 * 1024 },
    CONFIG,
    { T_END },
  };
  g_autoptr(GBytes) tar = build_tar (entries, FILTER_NONE);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  GThread *thread;
  int fds[2];

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC), ==, 0);
  /* headers of the first entries, then nothing while the write end stays open */
  g_assert_cmpint (write (fds[1], g_bytes_get_data (tar, NULL), 8192), ==, 8192);
  thread = g_thread_new ("cancel", cancel_later_thread, cancellable);
  result = ingest_fd (f, fds[0], NULL, cancellable, &error);
  g_thread_join (thread);
  close (fds[0]);
  close (fds[1]);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (f->last_progress, ==, 8192);
  assert_contained (f);
}

static void
test_cancel_before (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) tar = build_tar (good_context, FILTER_NONE);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  int fd = fd_for_bytes (tar);

  g_cancellable_cancel (cancellable);
  result = ingest_fd (f, fd, NULL, cancellable, &error);
  close (fd);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (f->n_progress, ==, 0);
  assert_contained (f);
}

/* section: misc */

static void
test_missing_helper (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) tar = build_tar (good_context, FILTER_NONE);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  PdArchiveLimits limits;
  int fd = fd_for_bytes (tar);

  pd_archive_limits_init (&limits);
  result = pd_archive_ingest_context (fd, f->store, f->staging_dir, "/nonexistent/plugind-extract",
                                      &limits, NULL, NULL, NULL, &error);
  close (fd);
  g_assert_null (result);
  g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
  assert_contained (f);
}

static void
test_limits_init (void)
{
  PdArchiveLimits limits;

  pd_archive_limits_init (&limits);
  g_assert_cmpuint (limits.max_bytes, ==, G_GUINT64_CONSTANT (8) * 1024 * 1024 * 1024);
  g_assert_cmpuint (limits.max_entries, ==, 1000000);
  g_assert_cmpuint (limits.max_path_length, ==, 4096);
  g_assert_cmpuint (limits.max_depth, ==, 128);
  g_assert_cmpuint (limits.max_config_size, ==, 4 * 1024 * 1024);
}

static void
test_helper_path (void)
{
  const char *path = pd_archive_get_helper_path ();

  g_assert_nonnull (path);
  g_assert_cmpstr (path, ==, g_getenv ("PLUGIND_EXTRACT_HELPER"));
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE));
}

/* section: the helper on its own (defence in depth: the daemon's checks bypassed) */

typedef struct {
  const char *name;
  const PdTestEntry *entries;
  const char *args;
  const char *kind;
} HelperCase;

static const PdTestEntry helper_dotdot[] = {
  { T_FILE, "../pd-escape-helper", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry helper_absolute[] = {
  { T_FILE, "/tmp/pd-escape-helper-abs", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry helper_symlink[] = {
  { T_SYMLINK, "up", "../../../../../../../tmp" },
  { T_FILE, "up/pd-escape-helper-symlink", NULL, 0644, "pwned" },
  { T_END },
};
static const PdTestEntry helper_hardlink[] = {
  { T_HARDLINK, "passwd", "../../../../../../etc/passwd" },
  { T_END },
};
static const PdTestEntry helper_device[] = {
  { T_CHR, "null", NULL, 0666 },
  { T_END },
};
static const PdTestEntry helper_big[] = {
  { T_FILE, "a", NULL, 0644, NULL, 4096 },
  { T_FILE, "b", NULL, 0644, NULL, 4096 },
  { T_END },
};
static const PdTestEntry helper_good[] = {
  { T_DIR, ".", NULL, 0755 },
  { T_DIR, "bin", NULL, 0755 },
  { T_FILE, "bin/su", NULL, 06755, "suid" },
  { T_SYMLINK, "bin/sh", "/bin/su" },
  { T_HARDLINK, "bin/again", "bin/su" },
  /* a FIFO is made (seccomp lets mknod make FIFOs only); a sticky directory keeps its bit */
  { T_FIFO, "bin/fifo", NULL, 0600 },
  { T_DIR, "tmp", NULL, 01777 },
  { T_END },
};

static const HelperCase helper_cases[] = {
  { "dotdot", helper_dotdot, NULL, "invalid-archive" },
  { "absolute", helper_absolute, NULL, "invalid-archive" },
  { "symlink", helper_symlink, NULL, "invalid-archive" },
  { "hardlink", helper_hardlink, NULL, "invalid-archive" },
  { "device", helper_device, NULL, "invalid-archive" },
  { "max-bytes", helper_big, "--max-bytes=6000", "limits" },
  { "max-entries", helper_big, "--max-entries=1", "limits" },
  { "good", helper_good, NULL, NULL },
};

static void
test_helper (Fixture *f, gconstpointer data)
{
  const HelperCase *hc = data;
  g_autoptr(GBytes) tar = build_tar (hc->entries, FILTER_NONE);
  g_auto(GStrv) args = hc->args != NULL ? g_strsplit (hc->args, "=", 2) : NULL;
  g_autofree char *err_text = NULL;
  int status;

  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  status = pd_test_run_extract_helper (tar, (const char *const *) args, f->rootfs, &err_text);
  g_test_message ("helper %s: %.*s", hc->name, (int) strcspn (err_text, "\n"), err_text);

  if (hc->kind == NULL)
    {
      g_autofree char *su = g_build_filename (f->rootfs, "bin/su", NULL);
      g_autofree char *again = g_build_filename (f->rootfs, "bin/again", NULL);
      g_autofree char *fifo = g_build_filename (f->rootfs, "bin/fifo", NULL);
      g_autofree char *tmp = g_build_filename (f->rootfs, "tmp", NULL);
      struct stat st;

      g_assert_cmpint (status, ==, 0);
      g_assert_cmpstr (err_text, ==, "");
      g_assert_cmpint (lstat (su, &st), ==, 0);
      g_assert_cmpuint (st.st_mode, ==, S_IFREG | 0755);
      g_assert_cmpint (lstat (again, &st), ==, 0);
      g_assert_cmpuint (st.st_nlink, ==, 2);
      g_assert_cmpint (lstat (fifo, &st), ==, 0);
      g_assert_cmpuint (st.st_mode, ==, S_IFIFO | 0600);
      g_assert_cmpint (lstat (tmp, &st), ==, 0);
      g_assert_cmpuint (st.st_mode, ==, S_IFDIR | 01777);
    }
  else
    {
      g_autofree char *prefix = g_strdup_printf ("ERROR %s ", hc->kind);

      g_assert_cmpint (status, !=, 0);
      g_assert_true (g_str_has_prefix (err_text, prefix));
      g_assert_true (g_str_has_suffix (err_text, "\n"));
      /* exactly one line */
      g_assert_true (strchr (err_text, '\n') == err_text + strlen (err_text) - 1);
    }
  assert_contained (f);
}

static char *
proc_status_field (GPid pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], field) && lines[i][strlen (field)] == ':')
      return g_strstrip (g_strdup (lines[i] + strlen (field) + 1));
  return NULL;
}

/* while it waits for input, the helper is chrooted, no_new_privs and under a seccomp filter */
static void
test_helper_confined (Fixture *f, gconstpointer data)
{
  g_autoptr(GSubprocess) helper = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *root_link = NULL;
  g_autofree char *proc_root = NULL;
  g_autofree char *seccomp = NULL;
  g_autofree char *nnp = NULL;
  const char *id;
  GPid pid;

  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  helper = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                             &error, pd_archive_get_helper_path (), f->rootfs, NULL);
  g_assert_no_error (error);
  id = g_subprocess_get_identifier (helper);
  g_assert_nonnull (id);
  pid = (GPid) atoi (id);
  /* the filter goes in before the first read of stdin, where the helper then blocks */
  for (guint i = 0; i < 500; i++)
    {
      g_clear_pointer (&seccomp, g_free);
      seccomp = proc_status_field (pid, "Seccomp");
      if (g_strcmp0 (seccomp, "2") == 0)
        break;
      g_usleep (10 * 1000);
    }
  g_assert_cmpstr (seccomp, ==, "2");
  nnp = proc_status_field (pid, "NoNewPrivs");
  g_assert_cmpstr (nnp, ==, "1");
  proc_root = g_strdup_printf ("/proc/%d/root", (int) pid);
  root_link = g_file_read_link (proc_root, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (root_link, ==, f->rootfs);

  g_subprocess_force_exit (helper);
  g_subprocess_wait (helper, NULL, &error);
  g_assert_no_error (error);
  assert_contained (f);
}

/* a client fd that is O_NONBLOCK */
static void
test_happy_nonblocking (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) tar = build_tar (good_context, FILTER_GZIP);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  PipeWriter *writer = g_new0 (PipeWriter, 1);
  GThread *thread;
  int fds[2];

  g_assert_cmpint (pipe2 (fds, O_CLOEXEC | O_NONBLOCK), ==, 0);
  g_assert_cmpint (fcntl (fds[1], F_SETFL, 0), ==, 0);
  writer->fd = fds[1];
  writer->bytes = g_bytes_ref (tar);
  thread = g_thread_new ("pipe-writer", pipe_writer_thread, writer);
  result = ingest_fd (f, fds[0], NULL, NULL, &error);
  close (fds[0]);
  g_thread_join (thread);
  g_assert_no_error (error);
  assert_good_result (f, result);
}

/* a staging dir the helper cannot enter */
static void
test_helper_bad_dir (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) tar = build_tar (good_context, FILTER_NONE);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdContextResult) result = NULL;
  g_autofree char *target = g_build_filename (f->staging_dir, "elsewhere", NULL);
  g_autofree char *blobs_listing = NULL;
  g_autofree char *target_listing = NULL;

  /* rootfs is a symlink: the helper opens it with O_NOFOLLOW */
  g_assert_cmpint (g_mkdir (target, 0755), ==, 0);
  g_assert_cmpint (symlink ("elsewhere", f->rootfs), ==, 0);
  result = ingest_bytes (f, tar, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, PD_ERROR, PD_ERROR_FAILED);
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
  blobs_listing = list_dir (f->blobs_dir, NULL);
  g_assert_cmpstr (blobs_listing, ==, f->blobs_listing);
  target_listing = list_dir (target, NULL);
  g_assert_cmpstr (target_listing, ==, "");
}

/* the daemon's fixed list (it links no libarchive) is what the helper's libarchive has */
static void
test_compressions_fixed (void)
{
  g_auto(GStrv) found = pd_archive_dup_supported_compressions ();

  g_assert_cmpstrv (found, pd_archive_get_compressions ());
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  /* a refused archive closes the pipe under the writer thread */
  signal (SIGPIPE, SIG_IGN);

  g_test_add_func ("/archive/limits-init", test_limits_init);
  g_test_add_func ("/archive/helper-path", test_helper_path);
  g_test_add_func ("/archive/compressions-fixed", test_compressions_fixed);
  /* every compression a context may have; plain first, whose layer the others must match */
  for (PdTestFilter filter = FILTER_NONE; filter <= FILTER_BZIP2; filter++)
    {
      g_autofree char *path = g_strdup_printf ("/archive/good/%s", pd_test_filter_name (filter));

      g_test_add (path, Fixture, GINT_TO_POINTER (filter), fixture_setup, test_happy,
                  fixture_teardown);
    }
  PD_TEST_ADD ("/archive/good/pipe", test_happy_pipe);
  PD_TEST_ADD ("/archive/good/locale", test_happy_locale);
  PD_TEST_ADD ("/archive/good/nonblocking-pipe", test_happy_nonblocking);
  PD_TEST_ADD ("/archive/helper/confined", test_helper_confined);
  PD_TEST_ADD ("/archive/good/large", test_happy_large);
  PD_TEST_ADD ("/archive/good/dot-prefix", test_happy_dot_prefix);
  PD_TEST_ADD ("/archive/cancel/progress", test_cancel_progress);
  PD_TEST_ADD ("/archive/cancel/stalled-pipe", test_cancel_stalled_pipe);
  PD_TEST_ADD ("/archive/cancel/before", test_cancel_before);
  PD_TEST_ADD ("/archive/missing-helper", test_missing_helper);
  PD_TEST_ADD ("/archive/helper-bad-dir", test_helper_bad_dir);
  PD_TEST_ADD_CASES ("/archive/bad", bad_cases, name, test_bad);
  PD_TEST_ADD_CASES ("/archive/helper", helper_cases, name, test_helper);

  ret = g_test_run ();
  g_free (first_diff_id);
  return ret;
}
