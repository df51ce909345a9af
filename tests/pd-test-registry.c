/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-test-registry"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>

#include "pd-oci.h"
#include "pd-test-registry.h"
#include "pd-test-utils.h"

#define REGISTRY_BINARY "/usr/bin/docker-registry"

#ifdef __SANITIZE_ADDRESS__
/* The registry client loads GIO's TLS module (glib-networking, GnuTLS), whose dynamic TLS
 * blocks the sanitizer runtime of GCC <= 13 misreads as glibc 2.19's (google/sanitizers#1322):
 * LeakSanitizer's tracer then crashes at exit, before any report. Its documented workaround;
 * ASAN_OPTIONS from the environment still applies on top of it. Every test that runs a
 * registry links this file. */
const char *__asan_default_options (void);

__attribute__ ((visibility ("default"), used)) const char *
__asan_default_options (void)
{
  return "intercept_tls_get_addr=0";
}
#endif

/* section: the registry */

static gboolean
port_accepts (guint16 port)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);

  return socket != NULL && g_socket_connect (socket, address, NULL, NULL);
}

static guint16
free_port (void)
{
  guint16 port = 0;
  g_autoptr(GSocket) socket = pd_test_bound_loopback_socket (&port);

  g_socket_close (socket, NULL);
  return port;
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

/* one attempt on a free port: TRUE once it accepts connections */
static gboolean
registry_try_start (PdTestRegistry *reg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *config_path = g_build_filename (reg->dir, "config.yml", NULL);
  g_autofree char *config = NULL;
  g_autofree char *log = NULL;
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
  while (g_get_monotonic_time () < deadline && g_subprocess_get_identifier (reg->proc) != NULL)
    {
      if (port_accepts (reg->port))
        return TRUE;
      g_usleep (10 * 1000);
    }
  log = read_text (reg->error_log);
  g_test_message ("the registry did not start on %s: %s", reg->host, log);
  pd_test_registry_stop (reg);
  return FALSE;
}

void
pd_test_registry_start (PdTestRegistry *reg, const char *parent)
{
  reg->dir = g_build_filename (parent, "registry", NULL);
  reg->storage = g_build_filename (reg->dir, "storage", NULL);
  reg->access_log = g_build_filename (reg->dir, "access.log", NULL);
  reg->error_log = g_build_filename (reg->dir, "registry.log", NULL);
  g_assert_cmpint (g_mkdir_with_parents (reg->storage, 0700), ==, 0);

  /* the port was free a moment ago: another process may have taken it since */
  for (guint attempt = 0; attempt < 3; attempt++)
    if (registry_try_start (reg))
      return;
  g_error ("docker-registry did not start");
}

void
pd_test_registry_stop (PdTestRegistry *reg)
{
  if (reg->proc == NULL)
    return;
  g_subprocess_force_exit (reg->proc);
  g_subprocess_wait (reg->proc, NULL, NULL);
  g_clear_object (&reg->proc);
}

static void
registry_clear (PdTestRegistry *reg)
{
  pd_test_registry_stop (reg);
  g_clear_pointer (&reg->dir, g_free);
  g_clear_pointer (&reg->storage, g_free);
  g_clear_pointer (&reg->access_log, g_free);
  g_clear_pointer (&reg->error_log, g_free);
  g_clear_pointer (&reg->host, g_free);
}

char *
pd_test_registry_blob_path (PdTestRegistry *reg, const char *digest)
{
  const char *hex = digest + strlen ("sha256:");
  g_autofree char *prefix = g_strndup (hex, 2);

  return g_build_filename (reg->storage, "docker", "registry", "v2", "blobs", "sha256", prefix,
                           hex, "data", NULL);
}

void
pd_test_registry_tamper (PdTestRegistry *reg, const char *digest, gsize offset)
{
  g_autofree char *path = pd_test_registry_blob_path (reg, digest);
  g_autofree char *contents = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (offset, <, len);
  contents[offset] ^= 0x01;
  g_assert_true (g_file_set_contents (path, contents, (gssize) len, NULL));
}

guint
pd_test_registry_count_requests (PdTestRegistry *reg, const char *method, const char *path)
{
  g_autofree char *log = read_text (reg->access_log);
  g_autofree char *needle = g_strdup_printf ("\"%s %s", method, path);
  guint n = 0;

  for (const char *p = strstr (log, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

guint
pd_test_registry_wait_requests (PdTestRegistry *reg, const char *method, const char *path,
                                guint at_least)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (pd_test_registry_count_requests (reg, method, path) < at_least &&
         g_get_monotonic_time () < deadline)
    g_usleep (10 * 1000);
  g_usleep (50 * 1000);
  return pd_test_registry_count_requests (reg, method, path);
}

/* section: the fixture */

void
pd_test_registry_fixture_setup (PdTestRegistryFixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->base = pd_test_make_tmp_dir ("test-registry-XXXXXX");
  pd_test_registry_start (&f->registry, f->base);
  f->config = pd_daemon_config_new_default ();
  f->state_dir = g_build_filename (f->base, "state", NULL);
  f->store = pd_store_new (f->state_dir, &error);
  g_assert_no_error (error);
}

void
pd_test_registry_fixture_teardown (PdTestRegistryFixture *f, gconstpointer data)
{
  registry_clear (&f->registry);
  g_assert_cmpuint (pd_test_count_children (), ==, 0);
  g_clear_object (&f->store);
  g_clear_pointer (&f->config, pd_daemon_config_free);
  pd_test_rm_rf (f->base);
  g_free (f->base);
  g_free (f->state_dir);
}

void
pd_test_add_registry_test (const char *path, PdTestRegistryFunc func)
{
  g_test_add (path, PdTestRegistryFixture, NULL, pd_test_registry_fixture_setup, func,
              pd_test_registry_fixture_teardown);
}

PdReference *
pd_test_registry_ref (PdTestRegistryFixture *f, const char *path_and_tag)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = g_strdup_printf ("%s/%s", f->registry.host, path_and_tag);
  PdReference *ref = pd_reference_parse (text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (ref);
  return ref;
}

PdRegistryClient *
pd_test_registry_client (PdTestRegistryFixture *f, const char *path_and_tag, gboolean push)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdReference) ref = pd_test_registry_ref (f, path_and_tag);
  PdRegistryClient *client = pd_registry_client_new (f->config, ref, NULL, push, &error);

  g_assert_no_error (error);
  g_assert_nonnull (client);
  return client;
}

char *
pd_test_registry_upload (PdRegistryClient *client, GBytes *data)
{
  g_autoptr(GError) error = NULL;
  char *digest = pd_test_digest (data);

  g_assert_true (pd_registry_client_upload_blob (client, digest, data, NULL, NULL, NULL,
                                                 &error));
  g_assert_no_error (error);
  return digest;
}

void
pd_test_registry_put_manifest (PdRegistryClient *client, const char *tag, const char *media_type,
                               GBytes *data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (pd_registry_client_put_manifest (client, tag, media_type, data, NULL, &error));
  g_assert_no_error (error);
}

GBytes *
pd_test_noise (gsize size, guint32 seed)
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

/* section: a plugin image */

void
pd_test_image_free (PdTestImage *image)
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

static const PdTestEntry lower_layer[] = {
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

static const PdTestEntry upper_layer[] = {
  { T_FILE, "etc/.wh.a" },
  { T_DIR, "opt" },
  { T_FILE, "opt/.wh..wh..opq" },
  { T_FILE, "opt/y", NULL, 0, "Y" },
  { T_FILE, "new", NULL, 0, "N" },
  { T_END },
};

/* the same bytes at every push, so that tests can build images sharing blobs: gzip's MTIME
 * field zeroed, which no checksum covers */
static GBytes *
without_gzip_mtime (GBytes *gzipped)
{
  gsize len = 0;
  guint8 *data = g_bytes_unref_to_data (gzipped, &len);

  g_assert_cmpuint (len, >=, 10);
  memset (data + 4, 0, 4);
  return g_bytes_new_take (data, len);
}

/* the tree of lower_layer and upper_layer in one layer, as Docker tars a context's rootfs/ */
static const PdTestEntry docker_layer[] = {
  { T_DIR, "." },
  { T_DIR, "bin" },
  { T_FILE, "bin/tool", NULL, 0755, "#!/bin/tool" },
  { T_DIR, "etc" },
  { T_FILE, "etc/b", NULL, 0, "B" },
  { T_FILE, "new", NULL, 0, "N" },
  { T_DIR, "opt" },
  { T_FILE, "opt/y", NULL, 0, "Y" },
  { T_SYMLINK, "tool", "bin/tool" },
  { T_END },
};

char *
pd_test_docker_manifest (GBytes *config, GPtrArray *layers)
{
  g_autofree char *config_digest = pd_test_digest (config);
  GString *out = g_string_new (NULL);

  g_string_append_printf (out,
                          "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\","
                          "\"digest\":\"%s\",\"size\":%" G_GSIZE_FORMAT "},\"layers\":[",
                          PD_MEDIA_TYPE_PLUGIN_CONFIG, config_digest, g_bytes_get_size (config));
  for (guint i = 0; i < layers->len; i++)
    {
      GBytes *layer = g_ptr_array_index (layers, i);
      g_autofree char *digest = pd_test_digest (layer);

      g_string_append_printf (out,
                              "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%"
                              G_GSIZE_FORMAT "}",
                              i > 0 ? "," : "", PD_MEDIA_TYPE_DOCKER_LAYER_GZIP, digest,
                              g_bytes_get_size (layer));
    }
  g_string_append_printf (out, "],\"mediaType\":\"%s\"}", PD_MEDIA_TYPE_DOCKER_MANIFEST);
  return g_string_free (out, FALSE);
}

/* the config moby's CreateFromContext writes for a context config.json that has Description,
 * Entrypoint and Interface: Go's json.Encoder of types.PluginConfig, every field in its order,
 * zero values and nulls for the rest, and a newline */
static char *
docker_config (const char *description, const char *diff_id)
{
  return g_strdup_printf ("{\"Args\":{\"Description\":\"\",\"Name\":\"\",\"Settable\":null,"
                          "\"Value\":null},\"Description\":\"%s\",\"DockerVersion\":\"%s\","
                          "\"Documentation\":\"\",\"Entrypoint\":[\"/bin/tool\"],\"Env\":null,"
                          "\"Interface\":{\"Socket\":\"plugin.sock\","
                          "\"Types\":[\"docker.volumedriver/1.0\"]},\"IpcHost\":false,"
                          "\"Linux\":{\"AllowAllDevices\":false,\"Capabilities\":null,"
                          "\"Devices\":null},\"Mounts\":null,\"Network\":{\"Type\":\"\"},"
                          "\"PidHost\":false,\"PropagatedMount\":\"\",\"User\":{},\"WorkDir\":\"\","
                          "\"rootfs\":{\"diff_ids\":[\"%s\"],\"type\":\"layers\"}}\n",
                          description, PD_TEST_DOCKER_VERSION, diff_id);
}

static PdTestImage *
push_docker_made_image (PdTestRegistryFixture *f, const char *path_and_tag,
                        const PdTestImageOptions *options)
{
  static const PdTestTarOptions layer_options = { .filter = FILTER_GZIP, .docker = TRUE };
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, path_and_tag, TRUE);
  const char *tag = strrchr (path_and_tag, ':') + 1;
  PdTestImage *image = g_new0 (PdTestImage, 1);
  g_autofree char *manifest = NULL;
  g_autofree char *config = NULL;
  GBytes *layer;

  image->layers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  image->digests = g_ptr_array_new_with_free_func (g_free);
  image->diff_ids = g_ptr_array_new_with_free_func (g_free);
  layer = pd_test_build_layer (docker_layer, &layer_options, NULL);
  g_ptr_array_add (image->layers, layer);
  g_ptr_array_add (image->digests, pd_test_registry_upload (client, layer));
  g_ptr_array_add (image->diff_ids, g_strdup (image->digests->pdata[0]));
  config = docker_config (options->description != NULL ? options->description : "a test plugin",
                          image->diff_ids->pdata[0]);
  image->config = g_bytes_new (config, strlen (config));
  image->config_digest = pd_test_registry_upload (client, image->config);
  manifest = pd_test_docker_manifest (image->config, image->layers);
  image->manifest = g_bytes_new (manifest, strlen (manifest));
  image->manifest_digest = pd_test_digest (image->manifest);
  pd_test_registry_put_manifest (client, tag, PD_MEDIA_TYPE_DOCKER_MANIFEST, image->manifest);
  return image;
}

PdTestImage *
pd_test_push_image (PdTestRegistryFixture *f, const char *path_and_tag,
                    const PdTestImageOptions *options)
{
  /* gzipped, padded to 10240 bytes as tar(1) writes it (Docker's Go tar is not) */
  static const PdTestTarOptions layer_options = { .filter = FILTER_GZIP, .padded = TRUE };
  const PdTestImageOptions defaults = { NULL };
  g_autoptr(PdRegistryClient) client = pd_test_registry_client (f, path_and_tag, TRUE);
  const char *tag = strrchr (path_and_tag, ':') + 1;
  g_autoptr(PdDescriptor) config_descriptor = NULL;
  g_autoptr(GPtrArray) descriptors = g_ptr_array_new_with_free_func (
    (GDestroyNotify) pd_descriptor_free);
  const PdTestEntry *layers[] = { lower_layer, upper_layer };
  PdTestImage *image;
  const char *config_type;
  char *manifest;
  char *config;
  gsize len = 0;

  if (options == NULL)
    options = &defaults;
  if (options->docker_made)
    return push_docker_made_image (f, path_and_tag, options);
  image = g_new0 (PdTestImage, 1);
  config_type = options->config_media_type != NULL ? options->config_media_type
                                                   : PD_MEDIA_TYPE_PLUGIN_CONFIG;
  image->layers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  image->digests = g_ptr_array_new_with_free_func (g_free);
  image->diff_ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < G_N_ELEMENTS (layers); i++)
    {
      char *diff_id = NULL;
      GBytes *layer =
        without_gzip_mtime (pd_test_build_layer (layers[i], &layer_options, &diff_id));

      g_ptr_array_add (image->layers, layer);
      g_ptr_array_add (image->digests, pd_test_registry_upload (client, layer));
      if (options->compressed_diff_ids)
        g_free (g_steal_pointer (&diff_id));
      g_ptr_array_add (image->diff_ids,
                       diff_id != NULL ? diff_id : g_strdup (image->digests->pdata[i]));
      g_ptr_array_add (descriptors, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP,
                                                       image->digests->pdata[i],
                                                       g_bytes_get_size (layer)));
    }
  config = g_strdup_printf ("{\"Description\": \"%s\", \"Entrypoint\": [\"/bin/tool\"],"
                            " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"],"
                            "   \"Socket\": \"plugin.sock\"},"
                            " \"rootfs\": {\"type\": \"layers\", \"diff_ids\": [\"%s\", \"%s\"]}}",
                            options->description != NULL ? options->description
                                                         : "a test plugin",
                            options->diff_ids != NULL
                              ? options->diff_ids[0]
                              : (char *) image->diff_ids->pdata[options->swap_diff_ids ? 1 : 0],
                            options->diff_ids != NULL
                              ? options->diff_ids[1]
                              : (char *) image->diff_ids->pdata[options->swap_diff_ids ? 0 : 1]);
  image->config = g_bytes_new_take (config, strlen (config));
  image->config_digest = pd_test_registry_upload (client, image->config);
  config_descriptor = pd_descriptor_new (config_type, image->config_digest,
                                         g_bytes_get_size (image->config));
  manifest = pd_oci_build_manifest (config_descriptor, descriptors, &len);
  image->manifest = g_bytes_new_take (manifest, len);
  image->manifest_digest = pd_test_digest (image->manifest);
  pd_test_registry_put_manifest (client, tag, PD_MEDIA_TYPE_DOCKER_MANIFEST, image->manifest);
  return image;
}
