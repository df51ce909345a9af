/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registry client (pd-registry.c) and pulls (pd-pull.c) against the real distribution
 * registry (/usr/bin/docker-registry), one per test, on 127.0.0.1 and a free port, with its
 * storage in the test's temp dir. Images are pushed with the client itself. Nothing here talks
 * to any other address.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-registry"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pd-archive.h"
#include "pd-daemon-config.h"
#include "pd-digest.h"
#include "pd-error.h"
#include "pd-fs-util.h"
#include "pd-oci.h"
#include "pd-pull.h"
#include "pd-reference.h"
#include "pd-registry.h"
#include "pd-store.h"

typedef struct archive TestArchive;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestArchive, archive_free)
typedef struct archive_entry TestArchiveEntry;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestArchiveEntry, archive_entry_free)

#define REGISTRY_BINARY "/usr/bin/docker-registry"
#define TEST_MTIME 1700000000
#define UPLOAD_CHUNK (16 * 1024 * 1024)
#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_IMAGE_CONFIG "application/vnd.docker.container.image.v1+json"
#define ZERO_DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"

/* the message of @error, "" without one: assertions do not abort here (see main ()), so a test
 * goes on after a failed g_assert_error () */
static const char *
message_of (const GError *error)
{
  return error != NULL ? error->message : "";
}

#ifdef __SANITIZE_ADDRESS__
/* The registry client loads GIO's TLS module (glib-networking, GnuTLS), whose dynamic TLS
 * blocks the sanitizer runtime of GCC <= 13 misreads as glibc 2.19's (google/sanitizers#1322):
 * LeakSanitizer's tracer then crashes at exit, before any report. Its documented workaround;
 * ASAN_OPTIONS from the environment still applies on top of it. */
const char *__asan_default_options (void);

__attribute__ ((visibility ("default"), used)) const char *
__asan_default_options (void)
{
  return "intercept_tls_get_addr=0";
}
#endif

/* section: a registry of our own */

typedef struct {
  char *dir;
  char *storage;
  char *access_log;  /* its stdout: one line per request */
  char *error_log;
  GSubprocess *proc;
  guint16 port;
  char *host;        /* "127.0.0.1:PORT" */
} TestRegistry;

static GSocket *
bound_loopback_socket (guint16 *port)
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

static guint16
free_port (void)
{
  guint16 port = 0;
  g_autoptr(GSocket) socket = bound_loopback_socket (&port);

  g_socket_close (socket, NULL);
  return port;
}

static gboolean
port_accepts (guint16 port)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);

  return socket != NULL && g_socket_connect (socket, address, NULL, NULL);
}

/* the registry dies with us, even when an assertion aborts the test */
static void
registry_child_setup (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static char *
read_text (const char *path)
{
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return g_strdup ("");
  return contents;
}

static void
registry_start (TestRegistry *reg, const char *parent)
{
  g_autoptr(GError) error = NULL;

  reg->dir = g_build_filename (parent, "registry", NULL);
  reg->storage = g_build_filename (reg->dir, "storage", NULL);
  reg->access_log = g_build_filename (reg->dir, "access.log", NULL);
  reg->error_log = g_build_filename (reg->dir, "registry.log", NULL);
  g_assert_cmpint (g_mkdir_with_parents (reg->storage, 0700), ==, 0);

  for (guint attempt = 0; attempt < 3; attempt++)
    {
      g_autoptr(GSubprocessLauncher) launcher = NULL;
      g_autofree char *config_path = g_build_filename (reg->dir, "config.yml", NULL);
      g_autofree char *config = NULL;
      gint64 deadline;

      reg->port = free_port ();
      g_free (reg->host);
      reg->host = g_strdup_printf ("127.0.0.1:%u", reg->port);
      /* JSON is YAML */
      config = g_strdup_printf ("{\"version\": \"0.1\","
                                " \"log\": {\"level\": \"warn\", \"formatter\": \"text\"},"
                                " \"storage\": {\"filesystem\": {\"rootdirectory\": \"%s\"},"
                                "   \"delete\": {\"enabled\": true}},"
                                " \"http\": {\"addr\": \"%s\", \"secret\": \"plugind-test\"}}\n",
                                reg->storage, reg->host);
      g_assert_true (g_file_set_contents (config_path, config, -1, NULL));

      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_INHERIT);
      g_subprocess_launcher_set_stdout_file_path (launcher, reg->access_log);
      g_subprocess_launcher_set_stderr_file_path (launcher, reg->error_log);
      g_subprocess_launcher_set_child_setup (launcher, registry_child_setup, NULL, NULL);
      reg->proc = g_subprocess_launcher_spawn (launcher, &error, REGISTRY_BINARY, "serve",
                                               config_path, NULL);
      g_assert_no_error (error);

      deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
      while (g_get_monotonic_time () < deadline &&
             g_subprocess_get_identifier (reg->proc) != NULL)
        {
          if (port_accepts (reg->port))
            return;
          g_usleep (10 * 1000);
        }
      {
        g_autofree char *log = read_text (reg->error_log);

        g_test_message ("the registry did not start on %s: %s", reg->host, log);
      }
      g_subprocess_force_exit (reg->proc);
      g_subprocess_wait (reg->proc, NULL, NULL);
      g_clear_object (&reg->proc);
    }
  g_error ("docker-registry did not start");
}

static void
registry_stop (TestRegistry *reg)
{
  if (reg->proc == NULL)
    return;
  g_subprocess_force_exit (reg->proc);
  g_subprocess_wait (reg->proc, NULL, NULL);
  g_clear_object (&reg->proc);
}

static void
registry_clear (TestRegistry *reg)
{
  registry_stop (reg);
  g_clear_pointer (&reg->dir, g_free);
  g_clear_pointer (&reg->storage, g_free);
  g_clear_pointer (&reg->access_log, g_free);
  g_clear_pointer (&reg->error_log, g_free);
  g_clear_pointer (&reg->host, g_free);
}

/* the file the registry keeps a blob (or a manifest) in */
static char *
registry_blob_path (TestRegistry *reg, const char *digest)
{
  const char *hex = digest + strlen ("sha256:");
  g_autofree char *prefix = g_strndup (hex, 2);

  return g_build_filename (reg->storage, "docker", "registry", "v2", "blobs", "sha256", prefix,
                           hex, "data", NULL);
}

/* replaces byte @offset of a stored blob: same size, other content */
static void
registry_tamper (TestRegistry *reg, const char *digest, gsize offset)
{
  g_autofree char *path = registry_blob_path (reg, digest);
  g_autofree char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (offset, <, len);
  contents[offset] ^= 0x01;
  g_assert_true (g_file_set_contents (path, contents, (gssize) len, NULL));
}

/* how many requests "METHOD PATH…" (a path starting with @path) the access log has seen */
static guint
registry_count_requests (TestRegistry *reg, const char *method, const char *path)
{
  g_autofree char *log = read_text (reg->access_log);
  g_autofree char *needle = g_strdup_printf ("\"%s %s", method, path);
  guint n = 0;

  for (const char *p = strstr (log, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

/* the registry logs a request once it is done with it, maybe after the client has read its
 * answer: waits until @path was seen at least @at_least times */
static guint
registry_wait_requests (TestRegistry *reg, const char *method, const char *path, guint at_least)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  guint n;

  while ((n = registry_count_requests (reg, method, path)) < at_least &&
         g_get_monotonic_time () < deadline)
    g_usleep (10 * 1000);
  /* and a little longer, for requests that should not be there */
  g_usleep (50 * 1000);
  return registry_count_requests (reg, method, path);
}

/* section: building layers */

typedef enum {
  T_END = 0,
  T_FILE,
  T_DIR,
  T_SYMLINK,
} TestType;

typedef struct {
  TestType type;
  const char *name;
  const char *target;
  guint mode;
  const char *data;
} TestEntry;

static la_ssize_t
append_cb (struct archive *a, void *user_data, const void *buffer, size_t length)
{
  g_byte_array_append (user_data, buffer, (guint) length);
  return (la_ssize_t) length;
}

static GBytes *
build_tar (const TestEntry *entries)
{
  g_autoptr(TestArchive) a = archive_write_new ();
  GByteArray *out = g_byte_array_new ();

  g_assert_cmpint (archive_write_set_format_pax_restricted (a), ==, ARCHIVE_OK);
  /* padded to 10240 bytes, as tar(1) and Docker write it */
  g_assert_cmpint (archive_write_open (a, out, NULL, append_cb, NULL), ==, ARCHIVE_OK);
  for (const TestEntry *e = entries; e->type != T_END; e++)
    {
      g_autoptr(TestArchiveEntry) entry = archive_entry_new ();
      gsize size = e->data != NULL ? strlen (e->data) : 0;

      archive_entry_set_pathname (entry, e->name);
      archive_entry_set_mtime (entry, TEST_MTIME, 0);
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
        case T_END:
        default:
          g_assert_not_reached ();
        }
      archive_entry_set_perm (entry, e->mode != 0 ? e->mode : (e->type == T_DIR ? 0755 : 0644));
      g_assert_cmpint (archive_write_header (a, entry), ==, ARCHIVE_OK);
      if (size > 0)
        g_assert_cmpint (archive_write_data (a, e->data, size), ==, (la_ssize_t) size);
    }
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  return g_byte_array_free_to_bytes (out);
}

static GBytes *
gzip_bytes (GBytes *plain)
{
  g_autoptr(TestArchive) a = archive_write_new ();
  g_autoptr(TestArchiveEntry) entry = archive_entry_new ();
  GByteArray *out = g_byte_array_new ();
  gsize len;
  const void *data = g_bytes_get_data (plain, &len);

  g_assert_cmpint (archive_write_set_format_raw (a), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_add_filter_gzip (a), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_set_bytes_in_last_block (a, 1), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open (a, out, NULL, append_cb, NULL), ==, ARCHIVE_OK);
  archive_entry_set_pathname (entry, "layer");
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_size (entry, (la_int64_t) len);
  g_assert_cmpint (archive_write_header (a, entry), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_data (a, data, len), ==, (la_ssize_t) len);
  g_assert_cmpint (archive_write_close (a), ==, ARCHIVE_OK);
  return g_byte_array_free_to_bytes (out);
}

static char *
digest_of (GBytes *bytes)
{
  return pd_sha256_digest_bytes (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* bytes that do not repeat within 64 KiB */
static GBytes *
noise (gsize size, guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint8 *data = g_malloc (size);
  guint32 block[16384];

  for (gsize i = 0; i < G_N_ELEMENTS (block); i++)
    block[i] = g_rand_int (rand);
  for (gsize off = 0; off < size; off += sizeof block)
    {
      gsize n = MIN (sizeof block, size - off);

      memcpy (data + off, block, n);
      /* blocks differ from each other too */
      data[off] = (guint8) (off / sizeof block);
    }
  return g_bytes_new_take (data, size);
}

/* section: looking at trees */

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
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
          g_autofree char *contents = NULL;

          g_assert_true (g_file_get_contents (child_path, &contents, NULL, NULL));
          g_string_append_printf (out, "%s f%o %s\n", child_rel, (guint) (st.st_mode & 07777),
                                  contents);
        }
      else if (S_ISLNK (st.st_mode))
        {
          g_autofree char *target = g_file_read_link (child_path, NULL);

          g_string_append_printf (out, "%s l ->%s\n", child_rel, target);
        }
      else
        g_string_append_printf (out, "%s ?\n", child_rel);
    }
}

static char *
list_tree (const char *root)
{
  g_autoptr(GString) out = g_string_new (NULL);

  list_tree_rec (out, root, "");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static guint
count_children (void)
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

/* section: fixture */

typedef struct {
  char *base;
  TestRegistry registry;
  PdDaemonConfig *config;
  char *state_dir;
  PdStore *store;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->base = g_dir_make_tmp ("test-registry-XXXXXX", &error);
  g_assert_no_error (error);
  registry_start (&f->registry, f->base);
  f->config = pd_daemon_config_new_default ();
  f->state_dir = g_build_filename (f->base, "state", NULL);
  f->store = pd_store_new (f->state_dir, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  registry_clear (&f->registry);
  /* no helper, and no registry, outlives a test */
  g_assert_cmpuint (count_children (), ==, 0);
  g_clear_object (&f->store);
  g_clear_pointer (&f->config, pd_daemon_config_free);
  pd_rm_rf_at (AT_FDCWD, f->base, &error);
  g_assert_no_error (error);
  g_free (f->base);
  g_free (f->state_dir);
}

static PdReference *
make_ref (Fixture *f, const char *path_and_tag)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = g_strdup_printf ("%s/%s", f->registry.host, path_and_tag);
  PdReference *ref = pd_reference_parse (text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (ref);
  return ref;
}

static PdRegistryClient *
make_client (Fixture *f, const char *path_and_tag, gboolean push)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdReference) ref = make_ref (f, path_and_tag);
  PdRegistryClient *client = pd_registry_client_new (f->config, ref, NULL, push, &error);

  g_assert_no_error (error);
  g_assert_nonnull (client);
  return client;
}

static char *
upload (PdRegistryClient *client, GBytes *data)
{
  g_autoptr(GError) error = NULL;
  char *digest = digest_of (data);

  g_assert_true (pd_registry_client_upload_blob (client, digest, data, NULL, NULL, NULL,
                                                 &error));
  g_assert_no_error (error);
  return digest;
}

static void
put_manifest (PdRegistryClient *client, const char *tag, const char *media_type, GBytes *data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (pd_registry_client_put_manifest (client, tag, media_type, data, NULL, &error));
  g_assert_no_error (error);
}

/* section: a plugin image */

typedef struct {
  GPtrArray *layers;      /* GBytes, gzipped */
  GPtrArray *digests;     /* char *, of the layers */
  GPtrArray *diff_ids;    /* char * */
  GBytes *config;
  char *config_digest;
  GBytes *manifest;
  char *manifest_digest;
} TestImage;

static void
test_image_free (TestImage *image)
{
  g_ptr_array_unref (image->layers);
  g_ptr_array_unref (image->digests);
  g_ptr_array_unref (image->diff_ids);
  g_bytes_unref (image->config);
  g_free (image->config_digest);
  g_bytes_unref (image->manifest);
  g_free (image->manifest_digest);
  g_free (image);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestImage, test_image_free)

static const TestEntry lower_layer[] = {
  { T_DIR, "bin" },
  { T_FILE, "bin/tool", NULL, 0755, "#!/bin/tool" },
  { T_DIR, "etc" },
  { T_FILE, "etc/a", NULL, 0, "A" },
  { T_FILE, "etc/b", NULL, 0, "B" },
  { T_DIR, "opt" },
  { T_FILE, "opt/x", NULL, 0, "X" },
  { T_SYMLINK, "tool", "bin/tool" },
  { T_END },
};

static const TestEntry upper_layer[] = {
  { T_FILE, "etc/.wh.a" },
  { T_DIR, "opt" },
  { T_FILE, "opt/.wh..wh..opq" },
  { T_FILE, "opt/y", NULL, 0, "Y" },
  { T_FILE, "new", NULL, 0, "N" },
  { T_END },
};

#define IMAGE_TREE \
  "bin d755\n" \
  "bin/tool f755 #!/bin/tool\n" \
  "etc d755\n" \
  "etc/b f644 B\n" \
  "new f644 N\n" \
  "opt d755\n" \
  "opt/y f644 Y\n" \
  "tool l ->bin/tool\n"

typedef struct {
  const char *description;
  const char *config_media_type;  /* NULL: the plugin one */
  gboolean swap_diff_ids;
} ImageOptions;

/* pushes a two-layer plugin image as `docker plugin push` lays it out, tagged @tag */
static TestImage *
push_image (PdRegistryClient *client, const char *tag, const ImageOptions *options)
{
  g_autoptr(PdDescriptor) config_descriptor = NULL;
  g_autoptr(GPtrArray) descriptors = g_ptr_array_new_with_free_func (
    (GDestroyNotify) pd_descriptor_free);
  const TestEntry *layers[] = { lower_layer, upper_layer };
  TestImage *image = g_new0 (TestImage, 1);
  const char *config_type = options != NULL && options->config_media_type != NULL
                              ? options->config_media_type : PD_MEDIA_TYPE_PLUGIN_CONFIG;
  char *manifest;
  char *config;
  gsize len = 0;

  image->layers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  image->digests = g_ptr_array_new_with_free_func (g_free);
  image->diff_ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < G_N_ELEMENTS (layers); i++)
    {
      g_autoptr(GBytes) plain = build_tar (layers[i]);
      GBytes *layer = gzip_bytes (plain);

      g_ptr_array_add (image->layers, layer);
      g_ptr_array_add (image->diff_ids, digest_of (plain));
      g_ptr_array_add (image->digests, upload (client, layer));
      g_ptr_array_add (descriptors, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP,
                                                       image->digests->pdata[i],
                                                       g_bytes_get_size (layer)));
    }
  config = g_strdup_printf ("{\"Description\": \"%s\", \"Entrypoint\": [\"/bin/tool\"],"
                            " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"],"
                            "   \"Socket\": \"plugin.sock\"},"
                            " \"rootfs\": {\"type\": \"layers\", \"diff_ids\": [\"%s\", \"%s\"]}}",
                            options != NULL && options->description != NULL
                              ? options->description : "a test plugin",
                            (char *) image->diff_ids->pdata[options != NULL &&
                                                            options->swap_diff_ids ? 1 : 0],
                            (char *) image->diff_ids->pdata[options != NULL &&
                                                            options->swap_diff_ids ? 0 : 1]);
  image->config = g_bytes_new_take (config, strlen (config));
  image->config_digest = upload (client, image->config);
  config_descriptor = pd_descriptor_new (config_type, image->config_digest,
                                         g_bytes_get_size (image->config));
  manifest = pd_oci_build_manifest (config_descriptor, descriptors, &len);
  image->manifest = g_bytes_new_take (manifest, len);
  image->manifest_digest = digest_of (image->manifest);
  put_manifest (client, tag, PD_MEDIA_TYPE_DOCKER_MANIFEST, image->manifest);
  return image;
}

/* section: the client, blobs */

static void
record_progress (guint64 bytes_done, gpointer user_data)
{
  GArray *calls = user_data;

  g_array_append_val (calls, bytes_done);
}

static void
test_blob_small (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = make_client (f, "test/blobs:latest", TRUE);
  g_autoptr(GBytes) blob = noise (1000, 1);
  g_autofree char *digest = digest_of (blob);
  g_autofree char *absent = pd_sha256_digest_bytes ("absent", 6);
  g_autofree char *endpoint = g_strdup_printf ("http://%s", f->registry.host);
  g_autoptr(GArray) calls = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr(GBytes) fetched = NULL;
  const char *blob_path = "/v2/test/blobs/blobs/uploads/";
  gboolean exists = TRUE;

  /* no request made yet */
  g_assert_null (pd_registry_client_get_endpoint (client));
  g_assert_true (pd_registry_client_has_blob (client, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (exists);
  /* a loopback registry speaking plain HTTP: the HTTPS attempt fell back to it */
  g_assert_cmpstr (pd_registry_client_get_endpoint (client), ==, endpoint);

  g_assert_true (pd_registry_client_upload_blob (client, digest, blob, record_progress, calls,
                                                 NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (calls->len, ==, 1);
  g_assert_cmpuint (g_array_index (calls, guint64, 0), ==, 1000);
  /* monolithic: one POST, one PUT, no PATCH */
  g_assert_cmpuint (registry_wait_requests (&f->registry, "POST", blob_path, 1), ==, 1);
  g_assert_cmpuint (registry_count_requests (&f->registry, "PATCH", blob_path), ==, 0);

  g_assert_true (pd_registry_client_has_blob (client, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (exists);
  g_assert_true (pd_registry_client_has_blob (client, absent, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (exists);

  /* whole, up to the cap */
  fetched = pd_registry_client_get_blob (client, digest, 1000, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (fetched, blob));
  g_clear_pointer (&fetched, g_bytes_unref);
  fetched = pd_registry_client_get_blob (client, digest, 999, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  g_assert_null (fetched);
  g_clear_error (&error);
  fetched = pd_registry_client_get_blob (client, absent, 1000, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_null (fetched);
}

static void
test_blob_chunked (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = make_client (f, "test/big:latest", TRUE);
  gsize size = UPLOAD_CHUNK + 4097;
  g_autoptr(GBytes) blob = noise (size, 2);
  g_autofree char *digest = digest_of (blob);
  g_autoptr(GArray) calls = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr(PdBlobStream) stream = NULL;
  g_autoptr(PdSha256) sha = pd_sha256_new ();
  g_autofree char *read_digest = NULL;
  g_autofree guchar *buffer = g_malloc (65536);
  guint64 total = 0;
  gboolean exists = FALSE;
  gssize n;

  g_assert_true (pd_registry_client_upload_blob (client, digest, blob, record_progress, calls,
                                                 NULL, &error));
  g_assert_no_error (error);
  /* in chunks of 16 MiB: progress after each, then at the end */
  g_assert_cmpuint (calls->len, >=, 2);
  g_assert_cmpuint (g_array_index (calls, guint64, 0), ==, UPLOAD_CHUNK);
  g_assert_cmpuint (g_array_index (calls, guint64, calls->len - 1), ==, size);
  g_assert_cmpuint (registry_wait_requests (&f->registry, "PATCH",
                                            "/v2/test/big/blobs/uploads/", 2), ==, 2);

  g_assert_true (pd_registry_client_has_blob (client, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (exists);

  /* and the registry has every byte in order */
  stream = pd_registry_client_open_blob (client, digest, size, &error);
  g_assert_no_error (error);
  while ((n = pd_blob_stream_read (stream, buffer, 65536, NULL, &error)) > 0)
    {
      pd_sha256_update (sha, buffer, (gsize) n);
      total += (guint64) n;
    }
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 0);
  g_assert_cmpuint (total, ==, size);
  read_digest = pd_sha256_finish (sha);
  g_assert_cmpstr (read_digest, ==, digest);
}

static void
test_blob_mount (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) source = make_client (f, "test/source:latest", TRUE);
  g_autoptr(PdRegistryClient) target = make_client (f, "test/target:latest", TRUE);
  g_autoptr(GBytes) blob = noise (5000, 3);
  g_autofree char *digest = upload (source, blob);
  g_autofree char *absent = pd_sha256_digest_bytes ("not uploaded", 12);
  gboolean exists = TRUE;
  gboolean mounted = FALSE;

  g_assert_true (pd_registry_client_has_blob (target, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (exists);

  g_assert_true (pd_registry_client_mount_blob (target, digest, "test/source", &mounted, NULL,
                                                &error));
  g_assert_no_error (error);
  g_assert_true (mounted);
  g_assert_true (pd_registry_client_has_blob (target, digest, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (exists);

  /* nothing to mount: the registry opens an upload instead, which is abandoned */
  mounted = TRUE;
  g_assert_true (pd_registry_client_mount_blob (target, absent, "test/source", &mounted, NULL,
                                                &error));
  g_assert_no_error (error);
  g_assert_false (mounted);
  g_assert_true (pd_registry_client_has_blob (target, absent, &exists, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (exists);
  g_assert_cmpuint (registry_wait_requests (&f->registry, "DELETE",
                                            "/v2/test/target/blobs/uploads/", 1), ==, 1);
}

static gssize
read_all (PdBlobStream *stream, GByteArray *out, gsize chunk, GError **error)
{
  g_autofree guchar *buffer = g_malloc (chunk);
  gssize n;

  while ((n = pd_blob_stream_read (stream, buffer, chunk, NULL, error)) > 0)
    g_byte_array_append (out, buffer, (guint) n);
  return n;
}

static void
test_blob_stream (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = make_client (f, "test/stream:latest", TRUE);
  g_autoptr(GBytes) blob = noise (300000, 4);
  g_autofree char *digest = upload (client, blob);
  g_autofree char *absent = pd_sha256_digest_bytes ("absent", 6);
  g_autoptr(PdBlobStream) stream = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GBytes) got = NULL;
  guchar byte;

  /* to the verified end, in odd pieces */
  stream = pd_registry_client_open_blob (client, digest, 300000, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read_all (stream, out, 7777, &error), ==, 0);
  g_assert_no_error (error);
  got = g_byte_array_free_to_bytes (g_steal_pointer (&out));
  g_assert_true (g_bytes_equal (got, blob));
  /* the end stays the end */
  g_assert_cmpint (pd_blob_stream_read (stream, &byte, 1, NULL, &error), ==, 0);
  g_assert_no_error (error);
  g_clear_pointer (&stream, pd_blob_stream_free);

  /* the registry has more bytes than expected: its Content-Length says so before any byte */
  out = g_byte_array_new ();
  stream = pd_registry_client_open_blob (client, digest, 300000 - 1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read_all (stream, out, 65536, &error), ==, -1);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_cmpuint (out->len, ==, 0);
  g_clear_error (&error);
  g_clear_pointer (&stream, pd_blob_stream_free);
  g_clear_pointer (&out, g_byte_array_unref);

  /* unknown blob */
  out = g_byte_array_new ();
  stream = pd_registry_client_open_blob (client, absent, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read_all (stream, out, 65536, &error), ==, -1);
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_cmpuint (out->len, ==, 0);
  g_clear_error (&error);
  g_clear_pointer (&stream, pd_blob_stream_free);

  /* not a digest */
  stream = pd_registry_client_open_blob (client, "sha256:xyz", 10, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_assert_null (stream);
}

/* the registry has fewer bytes than the descriptor says: a size mismatch, like a digest
 * mismatch, fails the read that reaches the end of what there is */
static void
test_blob_stream_short (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = make_client (f, "test/stream:latest", TRUE);
  g_autoptr(GBytes) blob = noise (300000, 5);
  g_autofree char *digest = upload (client, blob);
  g_autoptr(PdBlobStream) stream = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();

  stream = pd_registry_client_open_blob (client, digest, 300000 + 1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read_all (stream, out, 65536, &error), ==, -1);
  g_assert_nonnull (error);
  g_test_message ("%s", message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
}

/* a registry that serves other bytes than the digest names */
static void
test_blob_tampered (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) client = make_client (f, "test/tampered:latest", TRUE);
  g_autoptr(GBytes) blob = noise (100000, 6);
  g_autofree char *digest = upload (client, blob);
  g_autoptr(PdBlobStream) stream = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GBytes) fetched = NULL;

  registry_tamper (&f->registry, digest, 50000);

  fetched = pd_registry_client_get_blob (client, digest, 1024 * 1024, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_null (fetched);
  g_clear_error (&error);

  stream = pd_registry_client_open_blob (client, digest, 100000, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read_all (stream, out, 65536, &error), ==, -1);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  /* every byte was handed out before the end told */
  g_assert_cmpuint (out->len, ==, 100000);
}

/* section: the client, manifests */

static void
test_manifest (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = make_client (f, "test/plugin:v1", TRUE);
  g_autoptr(PdRegistryClient) client = make_client (f, "test/plugin:v1", FALSE);
  g_autoptr(TestImage) image = push_image (pusher, "v1", NULL);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *media_type = NULL;
  g_autofree char *digest = NULL;

  /* by tag: the body pushed, its media type, its digest computed here */
  body = pd_registry_client_get_manifest (client, "v1", &media_type, &digest, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (body, image->manifest));
  g_assert_cmpstr (media_type, ==, PD_MEDIA_TYPE_DOCKER_MANIFEST);
  g_assert_cmpstr (digest, ==, image->manifest_digest);
  g_clear_pointer (&body, g_bytes_unref);
  g_clear_pointer (&media_type, g_free);
  g_clear_pointer (&digest, g_free);

  /* by digest */
  body = pd_registry_client_get_manifest (client, image->manifest_digest, &media_type, &digest,
                                          NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (body, image->manifest));
  g_assert_cmpstr (media_type, ==, PD_MEDIA_TYPE_DOCKER_MANIFEST);
  g_assert_cmpstr (digest, ==, image->manifest_digest);
  g_clear_pointer (&body, g_bytes_unref);
  g_clear_pointer (&media_type, g_free);
  g_clear_pointer (&digest, g_free);

  /* a tag and a digest that are not there */
  body = pd_registry_client_get_manifest (client, "v2", &media_type, &digest, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_null (body);
  g_clear_error (&error);
  body = pd_registry_client_get_manifest (client, ZERO_DIGEST, &media_type, &digest, NULL,
                                          &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_null (body);
  g_clear_error (&error);

  /* the config, a small blob */
  body = pd_registry_client_get_blob (client, image->config_digest, 4096, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (body, image->config));
  g_clear_pointer (&body, g_bytes_unref);

  /* a registry that serves another manifest than the digest names (still valid JSON: one
   * character of the config digest in it changed) */
  {
    gsize len = 0;
    const char *bytes = g_bytes_get_data (image->manifest, &len);
    g_autofree char *text = g_strndup (bytes, len);
    const char *hex = strstr (text, image->config_digest + strlen ("sha256:"));

    g_assert_nonnull (hex);
    registry_tamper (&f->registry, image->manifest_digest, (gsize) (hex - text) + 10);
  }
  body = pd_registry_client_get_manifest (client, image->manifest_digest, &media_type, &digest,
                                          NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_null (body);
  g_clear_error (&error);
  /* by tag there is nothing to check it against: what was served, and its real digest */
  body = pd_registry_client_get_manifest (client, "v1", &media_type, &digest, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (g_bytes_equal (body, image->manifest));
  g_assert_cmpuint (g_bytes_get_size (body), ==, g_bytes_get_size (image->manifest));
  g_assert_cmpstr (digest, !=, image->manifest_digest);
  {
    g_autofree char *served = digest_of (body);
    g_assert_cmpstr (digest, ==, served);
  }
}

/* section: pulls */

static gboolean
strv_array_contains (GPtrArray *array, const char *value)
{
  return g_ptr_array_find_with_equal_func (array, value, g_str_equal, NULL);
}

static PdRemotePlugin *
resolve (Fixture *f, PdRegistryClient *client, const char *path_and_tag, const char *platform,
         const char *expected, GError **error)
{
  g_autoptr(PdReference) ref = make_ref (f, path_and_tag);

  return pd_pull_resolve (client, ref, platform, expected, NULL, error);
}

static char *
staging_rootfs (const char *staging)
{
  return g_build_filename (staging, "rootfs", NULL);
}

static void
test_pull (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = make_client (f, "test/plugin:v1", TRUE);
  g_autoptr(PdRegistryClient) client = make_client (f, "test/plugin:v1", FALSE);
  g_autoptr(PdRegistryClient) offline = NULL;
  g_autoptr(TestImage) image = push_image (pusher, "v1", NULL);
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autoptr(PdRemotePlugin) by_digest = NULL;
  g_autofree char *digest_ref = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) pinned_again = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) progress_layers = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();
  PdPullProgress progress;
  g_autofree char *staging = NULL;
  g_autofree char *staging_again = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *rootfs_again = NULL;
  g_autofree char *tree = NULL;
  g_autofree char *tree_again = NULL;
  guint64 bytes_done = 0, bytes_total = 0;
  guint removed;

  remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (remote);
  g_assert_cmpstr (remote->digest, ==, image->manifest_digest);
  g_assert_cmpstr (remote->manifest_digest, ==, image->manifest_digest);
  g_assert_true (g_bytes_equal (remote->manifest, image->manifest));
  g_assert_cmpstr (remote->manifest_media_type, ==, PD_MEDIA_TYPE_DOCKER_MANIFEST);
  g_assert_cmpstr (remote->config_digest, ==, image->config_digest);
  g_assert_true (g_bytes_equal (remote->config_data, image->config));
  g_assert_cmpstr (remote->config->description, ==, "a test plugin");
  g_assert_cmpuint (remote->layers->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      PdDescriptor *layer = remote->layers->pdata[i];

      g_assert_cmpstr (layer->digest, ==, image->digests->pdata[i]);
      g_assert_cmpuint (layer->size, ==, g_bytes_get_size (image->layers->pdata[i]));
      g_assert_cmpstr (remote->config->rootfs_diff_ids[i], ==, image->diff_ids->pdata[i]);
    }

  /* the same by digest */
  digest_ref = g_strdup_printf ("test/plugin@%s", image->manifest_digest);
  by_digest = resolve (f, client, digest_ref, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (by_digest->manifest_digest, ==, image->manifest_digest);
  g_assert_cmpstr (by_digest->config_digest, ==, image->config_digest);

  /* fetched into a staging dir */
  staging = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  pd_pull_progress_init (&progress);
  g_assert_true (pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                                       pd_archive_get_helper_path (), NULL, &progress, pinned,
                                       NULL, &error));
  g_assert_no_error (error);
  rootfs = staging_rootfs (staging);
  tree = list_tree (rootfs);
  g_assert_cmpstr (tree, ==, IMAGE_TREE);

  /* every layer downloaded once, progress complete */
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *path = g_strdup_printf ("/v2/test/plugin/blobs/%s",
                                               (char *) image->digests->pdata[i]);
      g_assert_cmpuint (registry_wait_requests (&f->registry, "GET", path, 1), ==, 1);
    }
  progress_layers = pd_pull_progress_dup_layers (&progress, &bytes_done, &bytes_total);
  g_assert_cmpuint (progress_layers->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      PdLayerProgress *layer = progress_layers->pdata[i];

      g_assert_cmpstr (layer->digest, ==, image->digests->pdata[i]);
      g_assert_cmpstr (layer->status, ==, "complete");
      g_assert_cmpuint (layer->current, ==, layer->total);
      g_assert_cmpuint (layer->total, ==, g_bytes_get_size (image->layers->pdata[i]));
    }
  g_assert_cmpuint (bytes_total, ==, g_bytes_get_size (image->layers->pdata[0]) +
                                     g_bytes_get_size (image->layers->pdata[1]));
  g_assert_cmpuint (bytes_done, ==, bytes_total);

  /* the layers, the config and the manifest are stored and pinned, once each */
  g_assert_cmpuint (pinned->len, ==, 4);
  g_assert_true (strv_array_contains (pinned, image->digests->pdata[0]));
  g_assert_true (strv_array_contains (pinned, image->digests->pdata[1]));
  g_assert_true (strv_array_contains (pinned, image->config_digest));
  g_assert_true (strv_array_contains (pinned, image->manifest_digest));
  for (guint i = 0; i < pinned->len; i++)
    {
      g_autoptr(GBytes) stored = pd_store_read_blob (f->store, pinned->pdata[i], 1024 * 1024,
                                                     &error);
      g_assert_no_error (error);
      g_assert_nonnull (stored);
    }
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);

  /* again, with the registry gone: the layers come from the store, and resolve's data is
   * all a fetch needs; a new client that never made a request proves no download */
  registry_stop (&f->registry);
  offline = make_client (f, "test/plugin:v1", FALSE);
  staging_again = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  g_assert_true (pd_pull_fetch_layers (offline, remote, f->store, fetches, staging_again,
                                       pd_archive_get_helper_path (), NULL, &progress,
                                       pinned_again, NULL, &error));
  g_assert_no_error (error);
  g_assert_null (pd_registry_client_get_endpoint (offline));
  rootfs_again = staging_rootfs (staging_again);
  tree_again = list_tree (rootfs_again);
  g_assert_cmpstr (tree_again, ==, IMAGE_TREE);
  g_assert_cmpuint (pinned_again->len, ==, 4);
  g_assert_true (strv_array_contains (pinned_again, image->digests->pdata[0]));
  g_assert_true (strv_array_contains (pinned_again, image->digests->pdata[1]));
  g_clear_pointer (&progress_layers, g_ptr_array_unref);
  progress_layers = pd_pull_progress_dup_layers (&progress, &bytes_done, &bytes_total);
  g_assert_cmpuint (progress_layers->len, ==, 2);
  /* Docker's "Already exists" */
  for (guint i = 0; i < 2; i++)
    g_assert_cmpstr (((PdLayerProgress *) progress_layers->pdata[i])->status, ==, "exists");
  g_assert_cmpuint (bytes_done, ==, bytes_total);

  /* pins are balanced: unpinning what was reported frees everything */
  for (guint i = 0; i < pinned->len; i++)
    pd_store_unpin_blob (f->store, pinned->pdata[i]);
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
  for (guint i = 0; i < pinned_again->len; i++)
    pd_store_unpin_blob (f->store, pinned_again->pdata[i]);
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 4);

  pd_pull_progress_clear (&progress);
  pd_fetch_table_free (fetches);
}

typedef struct {
  Fixture *f;
  PdRemotePlugin *remote;
  PdFetchTable *fetches;
  char *staging;
  GPtrArray *pinned;
  GError *error;
  gboolean ok;
} FetchThread;

static gpointer
fetch_thread (gpointer user_data)
{
  FetchThread *t = user_data;
  /* a client belongs to its thread */
  g_autoptr(PdRegistryClient) client = make_client (t->f, "test/plugin:v1", FALSE);
  PdPullProgress progress;

  pd_pull_progress_init (&progress);
  t->ok = pd_pull_fetch_layers (client, t->remote, t->f->store, t->fetches, t->staging,
                                pd_archive_get_helper_path (), NULL, &progress, t->pinned, NULL,
                                &t->error);
  pd_pull_progress_clear (&progress);
  return NULL;
}

/* two jobs pulling the same image at once download each layer once (PdFetchTable) */
static void
test_pull_concurrent (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = make_client (f, "test/plugin:v1", TRUE);
  g_autoptr(PdRegistryClient) client = make_client (f, "test/plugin:v1", FALSE);
  g_autoptr(TestImage) image = push_image (pusher, "v1", NULL);
  g_autoptr(PdRemotePlugin) remote = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();
  FetchThread threads[3] = { { 0 } };
  GThread *handles[G_N_ELEMENTS (threads)];
  guint removed;

  remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      threads[i].f = f;
      threads[i].remote = remote;
      threads[i].fetches = fetches;
      threads[i].staging = pd_store_create_staging_dir (f->store, &error);
      g_assert_no_error (error);
      threads[i].pinned = g_ptr_array_new_with_free_func (g_free);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    handles[i] = g_thread_new ("fetch", fetch_thread, &threads[i]);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (handles[i]);

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      g_autofree char *rootfs = staging_rootfs (threads[i].staging);
      g_autofree char *tree = NULL;

      g_assert_no_error (threads[i].error);
      g_assert_true (threads[i].ok);
      tree = list_tree (rootfs);
      g_assert_cmpstr (tree, ==, IMAGE_TREE);
      g_assert_cmpuint (threads[i].pinned->len, ==, 4);
    }
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *path = g_strdup_printf ("/v2/test/plugin/blobs/%s",
                                               (char *) image->digests->pdata[i]);
      g_assert_cmpuint (registry_wait_requests (&f->registry, "GET", path, 1), ==, 1);
    }

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      for (guint j = 0; j < threads[i].pinned->len; j++)
        pd_store_unpin_blob (f->store, threads[i].pinned->pdata[j]);
      g_ptr_array_unref (threads[i].pinned);
      g_free (threads[i].staging);
    }
  removed = pd_store_gc_blobs (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 4);
  pd_fetch_table_free (fetches);
}

static void
test_pull_not_plugin (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = make_client (f, "test/image:v1", TRUE);
  g_autoptr(PdRegistryClient) client = make_client (f, "test/image:v1", FALSE);
  const ImageOptions options = { .config_media_type = MEDIA_TYPE_IMAGE_CONFIG };
  g_autoptr(TestImage) image = push_image (pusher, "v1", &options);
  g_autoptr(PdRemotePlugin) remote = NULL;

  remote = resolve (f, client, "test/image:v1", NULL, NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE);
  g_assert_nonnull (strstr (message_of (error), MEDIA_TYPE_IMAGE_CONFIG));
  g_assert_null (remote);
  /* refused before its config was fetched */
  {
    g_autofree char *path = g_strdup_printf ("/v2/test/image/blobs/%s", image->config_digest);
    g_assert_cmpuint (registry_wait_requests (&f->registry, "GET", path, 0), ==, 0);
  }
}

static void
test_pull_expected_digest (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = make_client (f, "test/plugin:v1", TRUE);
  g_autoptr(PdRegistryClient) client = make_client (f, "test/plugin:v1", FALSE);
  g_autoptr(TestImage) image = push_image (pusher, "v1", NULL);
  g_autoptr(PdRemotePlugin) remote = NULL;

  remote = resolve (f, client, "test/plugin:v1", NULL, ZERO_DIGEST, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (message_of (error), image->manifest_digest));
  g_assert_nonnull (strstr (message_of (error), ZERO_DIGEST));
  g_assert_null (remote);
  g_clear_error (&error);

  remote = resolve (f, client, "test/plugin:v1", NULL, image->manifest_digest, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (remote->digest, ==, image->manifest_digest);
}

/* "os/arch[/variant]" as an index platform object */
static char *
platform_json (const char *platform)
{
  g_auto(GStrv) parts = g_strsplit (platform, "/", 3);

  g_assert_nonnull (parts[1]);
  if (parts[2] != NULL)
    return g_strdup_printf ("{\"architecture\": \"%s\", \"os\": \"%s\", \"variant\": \"%s\"}",
                            parts[1], parts[0], parts[2]);
  return g_strdup_printf ("{\"architecture\": \"%s\", \"os\": \"%s\"}", parts[1], parts[0]);
}

static void
test_pull_index (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = make_client (f, "test/multi:latest", TRUE);
  g_autoptr(PdRegistryClient) client = make_client (f, "test/multi:latest", FALSE);
  const char *host_platform = pd_pull_get_host_platform ();
  const char *other_platform = g_str_equal (host_platform, "linux/s390x") ? "linux/riscv64"
                                                                          : "linux/s390x";
  const ImageOptions host_options = { .description = "for this host" };
  const ImageOptions other_options = { .description = "for another machine" };
  g_autoptr(TestImage) host_image = push_image (pusher, "host", &host_options);
  g_autoptr(TestImage) other_image = push_image (pusher, "other", &other_options);
  g_autofree char *host_json = platform_json (host_platform);
  g_autofree char *other_json = platform_json (other_platform);
  g_autofree char *index = NULL;
  g_autoptr(GBytes) index_bytes = NULL;
  g_autofree char *index_digest = NULL;
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *tree = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  PdFetchTable *fetches = pd_fetch_table_new ();

  g_assert_cmpstr (host_platform, !=, "linux/unknown");
  index = g_strdup_printf ("{\"schemaVersion\": 2, \"mediaType\": \"%s\", \"manifests\": ["
                           "{\"mediaType\": \"%s\", \"digest\": \"%s\", \"size\": %" G_GSIZE_FORMAT
                           ", \"platform\": %s},"
                           "{\"mediaType\": \"%s\", \"digest\": \"%s\", \"size\": %" G_GSIZE_FORMAT
                           ", \"platform\": %s}]}",
                           MEDIA_TYPE_DOCKER_LIST,
                           PD_MEDIA_TYPE_DOCKER_MANIFEST, other_image->manifest_digest,
                           g_bytes_get_size (other_image->manifest), other_json,
                           PD_MEDIA_TYPE_DOCKER_MANIFEST, host_image->manifest_digest,
                           g_bytes_get_size (host_image->manifest), host_json);
  index_bytes = g_bytes_new (index, strlen (index));
  index_digest = digest_of (index_bytes);
  put_manifest (pusher, "latest", MEDIA_TYPE_DOCKER_LIST, index_bytes);

  /* the host's platform by default */
  remote = resolve (f, client, "test/multi:latest", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (remote->digest, ==, index_digest);
  g_assert_cmpstr (remote->manifest_digest, ==, host_image->manifest_digest);
  g_assert_cmpstr (remote->config_digest, ==, host_image->config_digest);
  g_assert_cmpstr (remote->config->description, ==, "for this host");
  g_clear_pointer (&remote, pd_remote_plugin_free);

  /* the expected digest is the index's: what the reference names */
  remote = resolve (f, client, "test/multi:latest", other_platform, index_digest, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (remote->digest, ==, index_digest);
  g_assert_cmpstr (remote->manifest_digest, ==, other_image->manifest_digest);
  g_assert_cmpstr (remote->config->description, ==, "for another machine");

  /* and what was picked is what a fetch stores */
  staging = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  g_assert_true (pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                                       pd_archive_get_helper_path (), NULL, NULL, pinned, NULL,
                                       &error));
  g_assert_no_error (error);
  rootfs = staging_rootfs (staging);
  tree = list_tree (rootfs);
  g_assert_cmpstr (tree, ==, IMAGE_TREE);
  g_assert_true (strv_array_contains (pinned, other_image->manifest_digest));
  g_assert_true (strv_array_contains (pinned, other_image->config_digest));
  for (guint i = 0; i < pinned->len; i++)
    pd_store_unpin_blob (f->store, pinned->pdata[i]);
  g_clear_pointer (&remote, pd_remote_plugin_free);

  /* a platform the index lacks */
  remote = resolve (f, client, "test/multi:latest", "windows/amd64", NULL, &error);
  g_assert_error (error, PD_ERROR, PD_ERROR_UNSUPPORTED_MEDIA_TYPE);
  g_assert_nonnull (strstr (message_of (error), "windows/amd64"));
  g_assert_nonnull (strstr (message_of (error), other_platform));
  g_assert_null (remote);
  pd_fetch_table_free (fetches);
}

/* the config's diff_ids in the wrong order: the first layer fails, nothing is stored */
static void
test_pull_wrong_diff_id (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = make_client (f, "test/plugin:v1", TRUE);
  g_autoptr(PdRegistryClient) client = make_client (f, "test/plugin:v1", FALSE);
  const ImageOptions options = { .swap_diff_ids = TRUE };
  g_autoptr(TestImage) image = push_image (pusher, "v1", &options);
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *staging = NULL;
  PdFetchTable *fetches = pd_fetch_table_new ();

  remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);
  g_assert_no_error (error);
  staging = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  g_assert_false (pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                                        pd_archive_get_helper_path (), NULL, NULL, pinned, NULL,
                                        &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (message_of (error), image->digests->pdata[0]));
  g_assert_false (pd_store_has_blob (f->store, image->digests->pdata[0]));
  g_assert_false (pd_store_has_blob (f->store, image->digests->pdata[1]));
  g_assert_cmpuint (pinned->len, ==, 0);
  pd_fetch_table_free (fetches);
}

/* A layer blob whose bytes differ from its digest but decompress to the same tar (its gzip
 * header's mtime changed): only the blob digest can tell, and it must; the unverified bytes
 * are not committed to the store either. */
static void
test_pull_tampered_layer (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdRegistryClient) pusher = make_client (f, "test/plugin:v1", TRUE);
  g_autoptr(PdRegistryClient) client = make_client (f, "test/plugin:v1", FALSE);
  g_autoptr(TestImage) image = push_image (pusher, "v1", NULL);
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autoptr(GPtrArray) pinned = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *staging = NULL;
  g_autofree char *tampered = NULL;
  g_autofree char *tampered_digest = NULL;
  g_autofree char *path = registry_blob_path (&f->registry, image->digests->pdata[0]);
  gsize len = 0;
  PdFetchTable *fetches = pd_fetch_table_new ();

  /* gzip's MTIME field: readers ignore it */
  registry_tamper (&f->registry, image->digests->pdata[0], 4);
  g_assert_true (g_file_get_contents (path, &tampered, &len, NULL));
  tampered_digest = pd_sha256_digest_bytes (tampered, len);
  g_assert_cmpstr (tampered_digest, !=, image->digests->pdata[0]);

  remote = resolve (f, client, "test/plugin:v1", NULL, NULL, &error);
  g_assert_no_error (error);
  staging = pd_store_create_staging_dir (f->store, &error);
  g_assert_no_error (error);
  g_assert_false (pd_pull_fetch_layers (client, remote, f->store, fetches, staging,
                                        pd_archive_get_helper_path (), NULL, NULL, pinned, NULL,
                                        &error));
  g_assert_nonnull (error);
  g_test_message ("%s", message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_DIGEST_MISMATCH);
  g_assert_nonnull (strstr (message_of (error), image->digests->pdata[0]));
  g_assert_false (pd_store_has_blob (f->store, image->digests->pdata[0]));
  g_assert_false (pd_store_has_blob (f->store, tampered_digest));
  pd_fetch_table_free (fetches);
}

/* section: endpoints, without a registry */

static void
collect_log (const char *line, gpointer user_data)
{
  g_ptr_array_add (user_data, g_strdup (line));
}

static guint
count_lines (GPtrArray *lines, const char *needle)
{
  guint n = 0;

  for (guint i = 0; i < lines->len; i++)
    if (strstr (lines->pdata[i], needle) != NULL)
      n++;
  return n;
}

/* GET of the manifest "latest" from 127.0.0.1:@port/test/plugin, timed, with @config */
static GBytes *
get_manifest_with_config (const PdDaemonConfig *config, guint16 port, GPtrArray *log,
                          gint64 *elapsed_us, GError **error)
{
  g_autofree char *text = g_strdup_printf ("127.0.0.1:%u/test/plugin:latest", port);
  g_autoptr(PdReference) ref = pd_reference_parse (text, NULL);
  g_autoptr(PdRegistryClient) client = NULL;
  g_autofree char *media_type = NULL;
  g_autofree char *digest = NULL;
  GBytes *body;
  gint64 start;

  g_assert_nonnull (ref);
  client = pd_registry_client_new (config, ref, NULL, FALSE, error);
  g_assert_nonnull (client);
  pd_registry_client_set_log_func (client, collect_log, log);
  start = g_get_monotonic_time ();
  body = pd_registry_client_get_manifest (client, "latest", &media_type, &digest, NULL, error);
  *elapsed_us = g_get_monotonic_time () - start;
  return body;
}

/* the same with the default configuration */
static GBytes *
get_manifest_from_port (guint16 port, GPtrArray *log, gint64 *elapsed_us, GError **error)
{
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();

  return get_manifest_with_config (config, port, log, elapsed_us, error);
}

/* a loopback registry where nothing listens (a port bound, never listening): HTTPS, then the
 * plain HTTP loopback registries may use, both refused; a registry that is down is not
 * retried, so the answer comes at once */
static void
test_endpoint_refused (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  guint16 port = 0;
  g_autoptr(GSocket) reserved = bound_loopback_socket (&port);
  g_autoptr(GBytes) body = NULL;
  gint64 elapsed = 0;

  body = get_manifest_from_port (port, log, &elapsed, &error);
  g_assert_null (body);
  g_test_message ("after %" G_GINT64_FORMAT " ms: %s", elapsed / 1000, message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR);
  g_assert_nonnull (strstr (message_of (error), "127.0.0.1"));
  g_assert_cmpuint (count_lines (log, "retrying"), ==, 0);
  g_assert_cmpint (elapsed, <, 3 * G_USEC_PER_SEC);
}

/* A loopback "registry" that accepts connections and drops them at once: a transient failure,
 * retried within the documented bounds: HTTPS once (a plain HTTP fallback is there), then plain
 * HTTP, at most 5 attempts with back-off 0.5 s, 1 s, 2 s, 4 s (±25 %), then RegistryError. */
typedef struct {
  GSocket *listener;
  GCancellable *cancellable;
  gint accepted;
} DropServer;

static gpointer
drop_server_thread (gpointer user_data)
{
  DropServer *server = user_data;

  for (;;)
    {
      g_autoptr(GSocket) connection = g_socket_accept (server->listener, server->cancellable,
                                                       NULL);

      if (connection == NULL)
        return NULL;
      g_atomic_int_inc (&server->accepted);
      g_socket_close (connection, NULL);
    }
}

static void
test_endpoint_dropped (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) body = NULL;
  DropServer server = { 0 };
  GThread *thread;
  guint16 port = 0;
  gint64 elapsed = 0;

  server.listener = bound_loopback_socket (&port);
  g_assert_true (g_socket_listen (server.listener, &error));
  g_assert_no_error (error);
  server.cancellable = g_cancellable_new ();
  thread = g_thread_new ("drop-server", drop_server_thread, &server);

  body = get_manifest_from_port (port, log, &elapsed, &error);

  g_cancellable_cancel (server.cancellable);
  g_thread_join (thread);
  g_assert_null (body);
  g_test_message ("after %" G_GINT64_FORMAT " ms and %d connections: %s", elapsed / 1000,
                  g_atomic_int_get (&server.accepted), message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR);
  /* the HTTPS attempt and five plain ones */
  g_assert_cmpint (g_atomic_int_get (&server.accepted), ==, 6);
  g_assert_cmpuint (count_lines (log, "; retrying"), ==, 4);
  g_assert_cmpuint (count_lines (log, "attempt 4 of 5"), ==, 1);
  /* the back-off adds up to 7.5 s ±25 %, plus the attempts themselves */
  g_assert_cmpint (elapsed, >=, 5600 * 1000);
  g_assert_cmpint (elapsed, <, 11 * G_USEC_PER_SEC);
  g_object_unref (server.listener);
  g_object_unref (server.cancellable);
}

/* A loopback "registry" that answers GET /v2/ at once and every other request with a status
 * line and headers that trickle in, a byte every 100 ms, for 10 s: each read is far within
 * libsoup's idle timeout, and only the stall timeout (1 s, at least 1024 bytes, here) ends
 * the request. TLS is refused at once. */
typedef struct {
  GSocket *listener;
  GCancellable *cancellable;
} TrickleServer;

/* one request's head, or NULL at the end of the connection (or for TLS) */
static char *
trickle_read_request (GSocket *connection, GCancellable *cancellable)
{
  g_autoptr(GString) head = g_string_new (NULL);

  while (strstr (head->str, "\r\n\r\n") == NULL)
    {
      char c;

      if (g_socket_receive (connection, &c, 1, cancellable, NULL) != 1 ||
          (head->len == 0 && !g_ascii_isalpha (c)))
        return NULL;
      g_string_append_c (head, c);
    }
  return g_string_free (g_steal_pointer (&head), FALSE);
}

static gpointer
trickle_server_thread (gpointer user_data)
{
  static const char ping[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  TrickleServer *server = user_data;

  for (;;)
    {
      g_autoptr(GSocket) connection = g_socket_accept (server->listener, server->cancellable,
                                                       NULL);
      char *request;

      if (connection == NULL)
        return NULL;
      while ((request = trickle_read_request (connection, server->cancellable)) != NULL)
        {
          gboolean is_ping = g_str_has_prefix (request, "GET /v2/ ");
          gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

          g_free (request);
          if (is_ping)
            {
              g_socket_send (connection, ping, sizeof ping - 1, server->cancellable, NULL);
              continue;
            }
          for (gsize i = 0; g_get_monotonic_time () < end; i = (i + 1) % (sizeof answer - 1))
            {
              if (g_socket_send (connection, answer + i, 1, server->cancellable, NULL) != 1)
                break;
              g_usleep (100 * 1000);
            }
          break;
        }
      g_socket_close (connection, NULL);
    }
}

static void
test_endpoint_trickled (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();
  g_autoptr(GBytes) body = NULL;
  TrickleServer server = { 0 };
  GThread *thread;
  guint16 port = 0;
  gint64 elapsed = 0;

  config->stall_timeout_s = 1;
  config->stall_min_bytes = 1024;
  server.listener = bound_loopback_socket (&port);
  g_assert_true (g_socket_listen (server.listener, &error));
  g_assert_no_error (error);
  server.cancellable = g_cancellable_new ();
  thread = g_thread_new ("trickle-server", trickle_server_thread, &server);

  body = get_manifest_with_config (config, port, log, &elapsed, &error);

  g_cancellable_cancel (server.cancellable);
  g_thread_join (thread);
  g_assert_null (body);
  g_test_message ("after %" G_GINT64_FORMAT " ms: %s", elapsed / 1000, message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_ERROR);
  g_assert_nonnull (strstr (message_of (error), "fewer than 1024 bytes in 1 s"));
  /* not retried */
  g_assert_cmpuint (count_lines (log, "retrying"), ==, 0);
  g_assert_cmpint (elapsed, <, 8 * G_USEC_PER_SEC);
  g_object_unref (server.listener);
  g_object_unref (server.cancellable);
}

static void
test_loopback (void)
{
  static const struct {
    const char *host;
    gboolean loopback;
  } cases[] = {
    { "127.0.0.1:5000", TRUE },
    { "127.0.0.1", TRUE },
    { "127.1.2.3", TRUE },
    { "127.255.255.254:443", TRUE },
    { "localhost:5000", TRUE },
    { "localhost", TRUE },
    { "LocalHost:5000", TRUE },
    { "[::1]:5000", TRUE },
    { "[::1]", TRUE },
    { "[0:0:0:0:0:0:0:1]:5000", TRUE },
    { "example.com", FALSE },
    { "example.com:5000", FALSE },
    { "10.0.0.1", FALSE },
    { "10.0.0.1:5000", FALSE },
    { "128.0.0.1", FALSE },
    { "0.0.0.0:5000", FALSE },
    { "localhost.example.com", FALSE },
    { "127.0.0.1.example.com", FALSE },
    { "[::2]:5000", FALSE },
    { "[::ffff:10.0.0.1]:5000", FALSE },
    { "[::1", FALSE },
    { "", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s", cases[i].host);
      g_assert_cmpint (pd_registry_host_is_loopback (cases[i].host), ==, cases[i].loopback);
    }
}

/* an IPv6 loopback address as GUri hands out hosts, without brackets (fetch_token () checks
 * a token realm's host that way) */
static void
test_loopback_bare_ipv6 (void)
{
  g_assert_true (pd_registry_host_is_loopback ("::1"));
  g_assert_true (pd_registry_host_is_loopback ("0:0:0:0:0:0:0:1"));
  g_assert_false (pd_registry_host_is_loopback ("::2"));
}

static char *
base64url (const char *text)
{
  g_autofree char *standard = g_base64_encode ((const guchar *) text, strlen (text));
  GString *out = g_string_new (NULL);

  for (const char *p = standard; *p != '\0'; p++)
    {
      if (*p == '+')
        g_string_append_c (out, '-');
      else if (*p == '/')
        g_string_append_c (out, '_');
      else if (*p != '=')
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

/* @n '[' (and no ']'): what a recursive JSON parser cannot take */
static char *
deep_json (gsize n)
{
  char *text = g_malloc (n + 1);

  memset (text, '[', n);
  text[n] = '\0';
  return text;
}

static void
test_registry_auth (void)
{
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_new_default ();
  g_autoptr(PdReference) ref = pd_reference_parse ("127.0.0.1:5000/test/plugin:latest", NULL);
  g_autofree char *not_json = base64url ("hello, world");
  g_autofree char *array = base64url ("[{\"username\": \"u\"}]");
  g_autofree char *string = base64url ("\"username\"");
  g_autofree char *truncated = base64url ("{\"username\": \"u\"");
  g_autofree char *with_nul = g_strdup ("eyJ1IjoiAA");  /* {"u":"\0 */
  g_autofree char *deep_text = deep_json (100000);
  g_autofree char *deep = base64url (deep_text);
  g_autofree char *deep_inside_text = g_strdup_printf ("{\"username\": \"u\", \"x\": %s", deep_text);
  g_autofree char *deep_inside = base64url (deep_inside_text);
  g_autofree char *good = base64url ("{\"username\": \"u~?\", \"password\": \"p>>?\"}");
  g_autofree char *other = base64url ("{\"username\": \"u\", \"password\": \"p\","
                                      " \"serveraddress\": \"https://index.docker.io/v1/\"}");
  const char *bad[] = { "not base64!", "eyJ1c2Vy*", not_json, array, string, truncated,
                        with_nul, deep, deep_inside };

  g_assert_nonnull (ref);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdRegistryClient) client = pd_registry_client_new (config, ref, bad[i], FALSE,
                                                                   &error);

      g_test_message ("registry-auth %.80s", bad[i]);
      g_assert_null (client);
      g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
    }

  /* base64url with '-' and '_', unpadded; credentials for another registry are not an error */
  g_assert_nonnull (strpbrk (good, "-_"));
  {
    const char *fine[] = { good, other, "", NULL };

    for (gsize i = 0; i < G_N_ELEMENTS (fine); i++)
      {
        g_autoptr(GError) error = NULL;
        g_autoptr(PdRegistryClient) client = pd_registry_client_new (config, ref, fine[i], TRUE,
                                                                     &error);

        g_assert_no_error (error);
        g_assert_nonnull (client);
        g_assert_null (pd_registry_client_get_endpoint (client));
      }
  }
}

/* A loopback "registry" that answers the /v2/ ping with 200 and every other request with
 * one canned response (the first connection, the HTTPS attempt, gets it too, and fails its
 * handshake). */
typedef struct {
  GSocket *listener;
  GCancellable *cancellable;
  GBytes *response;
} CannedServer;

static gpointer
canned_server_thread (gpointer user_data)
{
  CannedServer *server = user_data;

  for (;;)
    {
      g_autoptr(GSocket) connection = g_socket_accept (server->listener, server->cancellable,
                                                       NULL);
      static const char ping[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
      char request[4096] = "";
      gsize len = 0;
      const char *data = g_bytes_get_data (server->response, &len);

      if (connection == NULL)
        return NULL;
      /* the request's first bytes: enough for the client to be waiting for the answer */
      g_socket_receive (connection, request, sizeof request - 1, server->cancellable, NULL);
      if (g_str_has_prefix (request, "GET /v2/ "))
        {
          data = ping;
          len = strlen (ping);
        }
      while (len > 0)
        {
          gssize n = g_socket_send (connection, data, len, server->cancellable, NULL);

          if (n <= 0)
            break;
          data += n;
          len -= (gsize) n;
        }
      g_socket_shutdown (connection, FALSE, TRUE, NULL);
      /* the client's own close: the answer is not cut off by a reset */
      while (g_socket_receive (connection, request, sizeof request, server->cancellable,
                               NULL) > 0)
        ;
      g_socket_close (connection, NULL);
    }
}

/* A 404 whose body is 400 KiB of '[': the registry's error text is read from JSON, with a
 * bounded depth, so the answer is RegistryNotFound rather than a stack overflow. */
static void
test_endpoint_deep_error_body (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *deep = deep_json (400 * 1024);
  GString *response = g_string_new (NULL);
  CannedServer server = { 0 };
  GThread *thread;
  guint16 port = 0;
  gint64 elapsed = 0;

  g_string_printf (response, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen (deep), deep);
  server.response = g_string_free_to_bytes (response);
  server.listener = bound_loopback_socket (&port);
  g_assert_true (g_socket_listen (server.listener, &error));
  g_assert_no_error (error);
  server.cancellable = g_cancellable_new ();
  thread = g_thread_new ("canned-server", canned_server_thread, &server);

  body = get_manifest_from_port (port, log, &elapsed, &error);

  g_cancellable_cancel (server.cancellable);
  g_thread_join (thread);
  g_assert_null (body);
  g_test_message ("%s", message_of (error));
  g_assert_error (error, PD_ERROR, PD_ERROR_REGISTRY_NOT_FOUND);
  g_assert_nonnull (strstr (message_of (error), "404"));
  g_clear_object (&server.listener);
  g_clear_object (&server.cancellable);
  g_bytes_unref (server.response);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* a failed assertion fails its test, and the others still run: a bug found by one test
   * does not hide what the rest would find */
  g_test_set_nonfatal_assertions ();

  g_test_add_func ("/registry/loopback", test_loopback);
  g_test_add_func ("/registry/loopback-bare-ipv6", test_loopback_bare_ipv6);
  g_test_add_func ("/registry/registry-auth", test_registry_auth);

  g_test_add ("/registry/client/blob-small", Fixture, NULL, fixture_setup, test_blob_small,
              fixture_teardown);
  g_test_add ("/registry/client/blob-chunked", Fixture, NULL, fixture_setup, test_blob_chunked,
              fixture_teardown);
  g_test_add ("/registry/client/blob-mount", Fixture, NULL, fixture_setup, test_blob_mount,
              fixture_teardown);
  g_test_add ("/registry/client/blob-stream", Fixture, NULL, fixture_setup, test_blob_stream,
              fixture_teardown);
  g_test_add ("/registry/client/blob-stream-short", Fixture, NULL, fixture_setup,
              test_blob_stream_short, fixture_teardown);
  g_test_add ("/registry/client/blob-tampered", Fixture, NULL, fixture_setup,
              test_blob_tampered, fixture_teardown);
  g_test_add ("/registry/client/manifest", Fixture, NULL, fixture_setup, test_manifest,
              fixture_teardown);

  g_test_add ("/registry/pull/two-layers", Fixture, NULL, fixture_setup, test_pull,
              fixture_teardown);
  g_test_add ("/registry/pull/concurrent", Fixture, NULL, fixture_setup, test_pull_concurrent,
              fixture_teardown);
  g_test_add ("/registry/pull/not-plugin", Fixture, NULL, fixture_setup, test_pull_not_plugin,
              fixture_teardown);
  g_test_add ("/registry/pull/expected-digest", Fixture, NULL, fixture_setup,
              test_pull_expected_digest, fixture_teardown);
  g_test_add ("/registry/pull/index", Fixture, NULL, fixture_setup, test_pull_index,
              fixture_teardown);
  g_test_add ("/registry/pull/wrong-diff-id", Fixture, NULL, fixture_setup,
              test_pull_wrong_diff_id, fixture_teardown);
  g_test_add ("/registry/pull/tampered-layer", Fixture, NULL, fixture_setup,
              test_pull_tampered_layer, fixture_teardown);

  g_test_add_func ("/registry/endpoint/refused", test_endpoint_refused);
  g_test_add_func ("/registry/endpoint/dropped", test_endpoint_dropped);
  g_test_add_func ("/registry/endpoint/deep-error-body", test_endpoint_deep_error_body);
  g_test_add_func ("/registry/endpoint/trickled", test_endpoint_trickled);

  return g_test_run ();
}
