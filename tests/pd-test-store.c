/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-test-store"

#include <string.h>

#include "pd-digest.h"
#include "pd-test-store.h"
#include "pd-test-utils.h"

#define TEST_CONFIG \
  "{\"Description\": \"a test plugin\", \"Documentation\": \"https://example.com/\"," \
  " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"test.sock\"}," \
  " \"Entrypoint\": [\"/bin/test-plugin\"], \"WorkDir\": \"/\"," \
  " \"Network\": {\"Type\": \"host\"}," \
  " \"Linux\": {\"Capabilities\": [\"CAP_SYS_ADMIN\"], \"AllowAllDevices\": false, \"Devices\": []}," \
  " \"Mounts\": [{\"Name\": \"data\", \"Description\": \"data <dir>\", \"Settable\": [\"source\"]," \
  "   \"Source\": \"/var/lib/data\", \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}]," \
  " \"Env\": [{\"Name\": \"DEBUG\", \"Description\": \"debug\", \"Settable\": [\"value\"], \"Value\": \"0\"}]," \
  " \"Args\": {\"Name\": \"args\", \"Description\": \"\", \"Settable\": [\"value\"], \"Value\": [\"-v\"]}," \
  " \"PropagatedMount\": \"\", \"IpcHost\": false, \"PidHost\": false}"

#define LEVEL_CONFIG_FMT \
  "{\"Description\": \"%s\", \"Entrypoint\": [\"/bin/plugin\"]," \
  " \"Env\": [{\"Name\": \"LEVEL\", \"Settable\": [\"value\"], \"Value\": \"%s\"}]}"

void
pd_test_store_fixture_setup (PdTestStoreFixture *fixture, gconstpointer data)
{
  fixture->base = pd_test_make_tmp_dir ("test-store-XXXXXX");
  fixture->state_dir = g_build_filename (fixture->base, "state", NULL);
}

void
pd_test_store_fixture_teardown (PdTestStoreFixture *fixture, gconstpointer data)
{
  pd_test_rm_rf (fixture->base);
  g_free (fixture->base);
  g_free (fixture->state_dir);
}

void
pd_test_add_store_test (const char *path, PdTestStoreFunc func)
{
  g_test_add (path, PdTestStoreFixture, NULL, pd_test_store_fixture_setup, func,
              pd_test_store_fixture_teardown);
}

PdStore *
pd_test_open_store (const char *state_dir)
{
  g_autoptr(GError) error = NULL;
  PdStore *store = pd_store_new (state_dir, &error);

  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

PdPluginConfig *
pd_test_make_config (void)
{
  return pd_test_parse_config (TEST_CONFIG);
}

PdPluginConfig *
pd_test_level_config (const char *description, const char *level)
{
  g_autofree char *json = g_strdup_printf (LEVEL_CONFIG_FMT, description, level);

  return pd_test_parse_config (json);
}

PdPluginRecord *
pd_test_make_record (const char *id, const char *name, const char *manifest,
                     const char *config_digest, const char *const *layers)
{
  return pd_plugin_record_new (id, name, "docker.io/test/plugin:latest", pd_test_make_config (),
                               config_digest, manifest, layers);
}

void
pd_test_install_plugin (PdStore *store, PdPluginRecord *record)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *file = NULL;

  staging = pd_store_create_staging_dir (store, &error);
  g_assert_no_error (error);
  rootfs = g_build_filename (staging, "rootfs", NULL);
  pd_test_make_dir (rootfs);
  file = g_build_filename (rootfs, "hello", NULL);
  pd_test_write_file (file, "hello world\n");
  pd_store_commit_new_plugin (store, record, staging, &error);
  g_assert_no_error (error);
}

static void
assert_plugin_dir (const char *plugins, const char *name)
{
  g_autofree char *path = g_build_filename (plugins, name, NULL);
  g_autofree char *record_path = g_build_filename (path, "plugin.json", NULL);
  g_autofree char *rootfs = g_build_filename (path, "rootfs", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(PdPluginRecord) record = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;

  g_assert_false (g_str_has_suffix (name, "-removing"));
  g_assert_cmpuint (strlen (name), ==, 64);
  g_assert_true (g_file_test (rootfs, G_FILE_TEST_IS_DIR));
  g_assert_cmpint (pd_test_path_mode (path), ==, 0700);
  g_assert_cmpint (pd_test_path_mode (record_path), ==, 0600);
  g_assert_true (g_file_get_contents (record_path, &contents, &len, NULL));
  record = pd_plugin_record_new_from_data (contents, len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (pd_plugin_record_get_id (record), ==, name);
  /* no temp file of an interrupted write next to the record */
  g_assert_cmpuint (pd_test_count_entries (path), ==, 2);
}

static void
assert_blob (const char *blobs, const char *name)
{
  g_autofree char *path = g_build_filename (blobs, name, NULL);
  g_autofree char *contents = NULL;
  g_autofree char *digest = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  digest = pd_sha256_digest_bytes (contents, len);
  g_assert_cmpstr (digest + 7, ==, name);
  g_assert_cmpint (pd_test_path_mode (path), ==, 0600);
}

void
pd_test_assert_invariants (const char *state_dir)
{
  g_autofree char *tmp = g_build_filename (state_dir, "tmp", NULL);
  g_autofree char *plugins = g_build_filename (state_dir, "plugins", NULL);
  g_autofree char *blobs = g_build_filename (state_dir, "blobs", "sha256", NULL);
  g_autoptr(GDir) dir = NULL;
  const char *name;

  g_assert_cmpuint (pd_test_count_entries (tmp), ==, 0);
  g_assert_cmpint (pd_test_path_mode (state_dir), ==, 0700);
  g_assert_cmpint (pd_test_path_mode (tmp), ==, 0700);
  g_assert_cmpint (pd_test_path_mode (plugins), ==, 0700);
  g_assert_cmpint (pd_test_path_mode (blobs), ==, 0700);

  dir = g_dir_open (plugins, 0, NULL);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    assert_plugin_dir (plugins, name);
  g_clear_pointer (&dir, g_dir_close);

  dir = g_dir_open (blobs, 0, NULL);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    assert_blob (blobs, name);
}

/* g_test_init () makes warnings fatal, and in TAP mode the default handler reports them as
 * "Bail out!" */
static gboolean
store_warning_not_fatal (const char *log_domain, GLogLevelFlags log_level, const char *message,
                         gpointer user_data)
{
  return g_strcmp0 (log_domain, "pd-store") != 0 || (log_level & G_LOG_LEVEL_WARNING) == 0;
}

static void
collect_store_warning (const char *log_domain, GLogLevelFlags log_level, const char *message,
                       gpointer user_data)
{
  GPtrArray *messages = user_data;

  g_ptr_array_add (messages, g_strdup (message));
  g_test_message ("expected: %s", message);
}

guint
pd_test_collect_store_warnings (GPtrArray *messages)
{
  g_test_log_set_fatal_handler (store_warning_not_fatal, NULL);
  return g_log_set_handler ("pd-store", G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL,
                            collect_store_warning, messages);
}

void
pd_test_stop_collecting_store_warnings (guint handler_id)
{
  g_log_remove_handler ("pd-store", handler_id);
  g_test_log_set_fatal_handler (NULL, NULL);
}

guint
pd_test_count_messages (GPtrArray *messages, const char *needle)
{
  guint n = 0;

  for (guint i = 0; i < messages->len; i++)
    if (strstr (g_ptr_array_index (messages, i), needle) != NULL)
      n++;
  return n;
}
