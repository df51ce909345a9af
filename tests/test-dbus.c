/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The D-Bus adapter on its own: the daemon's objects exported on a private bus (GTestDBus),
 * without polkit (the suite runs as root, which the daemon allows without asking), driven from
 * the core. Their properties mirror the engine's plugins and operations, and the signals come
 * in the order clients rely on.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-dbus"

#include <string.h>

#include <gio/gio.h>

#include "pd-daemon.h"
#include "pd-error.h"
#include "pd-names.h"
#include "pd-oci.h"
#include "pd-reference.h"
#include "pd-test-bus.h"
#include "pd-test-utils.h"

#define DEFAULT_CONFIG \
  "{\"Description\": \"A test plugin\", \"Documentation\": \"https://example.com/doc\"," \
  " \"Entrypoint\": [\"/bin/hello\"], \"WorkDir\": \"/\"," \
  " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"test.sock\"}," \
  " \"Network\": {\"Type\": \"\"}," \
  " \"Env\": [{\"Name\": \"DEBUG\", \"Description\": \"debug level\"," \
  "           \"Settable\": [\"value\"], \"Value\": \"0\"}]," \
  " \"Args\": {\"Name\": \"args\", \"Description\": \"extra arguments\"," \
  "            \"Settable\": [\"value\"], \"Value\": [\"--foo\"]}," \
  " \"Mounts\": [], \"Linux\": {\"Capabilities\": [], \"AllowAllDevices\": false," \
  "                             \"Devices\": []}," \
  " \"PropagatedMount\": \"\", \"IpcHost\": false, \"PidHost\": false}"

/* DEFAULT_CONFIG with a settable bind mount: its source shows in Settings and Privileges */
#define MOUNT_CONFIG \
  "{\"Description\": \"A test plugin\", \"Entrypoint\": [\"/bin/hello\"]," \
  " \"Interface\": {\"Types\": [\"docker.volumedriver/1.0\"], \"Socket\": \"test.sock\"}," \
  " \"Mounts\": [{\"Name\": \"data\", \"Description\": \"data dir\"," \
  "              \"Settable\": [\"source\"], \"Source\": \"/srv/a\"," \
  "              \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}]}"

/* a signal the client saw, or the reply of a call it made (member NULL) */
typedef struct {
  char *path;
  char *interface;
  char *member;
  GVariant *parameters;
} Seen;

static void
seen_free (Seen *seen)
{
  g_free (seen->path);
  g_free (seen->interface);
  g_free (seen->member);
  g_clear_pointer (&seen->parameters, g_variant_unref);
  g_free (seen);
}

typedef struct {
  char *dir;
  GTestDBus *bus;
  GDBusConnection *server;
  GDBusConnection *client;
  char *server_name;
  PdDaemon *daemon;
  PdEngine *engine;
  GPtrArray *seen;
  guint subscription;
} Fixture;

static void
on_signal (GDBusConnection *connection, const char *sender, const char *object_path,
           const char *interface_name, const char *signal_name, GVariant *parameters,
           gpointer user_data)
{
  Fixture *fixture = user_data;
  Seen *seen = g_new0 (Seen, 1);

  seen->path = g_strdup (object_path);
  seen->interface = g_strdup (interface_name);
  seen->member = g_strdup (signal_name);
  seen->parameters = g_variant_ref (parameters);
  g_ptr_array_add (fixture->seen, seen);
}

static void
fixture_setup (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *config_dir = NULL;
  g_autofree char *conf = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *runtime_dir = NULL;
  const char *address;

  fixture->dir = pd_test_make_tmp_dir ("pd-test-dbus-XXXXXX");
  /* the defaults, but for the machine's container engines, which a test leaves alone */
  config_dir = g_build_filename (fixture->dir, "etc", NULL);
  pd_test_make_dir (config_dir);
  conf = g_build_filename (config_dir, "plugind.conf", NULL);
  pd_test_write_file (conf, "[ContainerEngines]\nDockerd=false\nPodman=false\n");
  g_setenv (PD_ENV_CONFIGURATION_DIRECTORY, config_dir, TRUE);
  state_dir = g_build_filename (fixture->dir, "state", NULL);
  runtime_dir = g_build_filename (fixture->dir, "run", NULL);

  fixture->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fixture->bus);
  address = g_test_dbus_get_bus_address (fixture->bus);
  fixture->server = pd_test_bus_connect (address);
  fixture->client = pd_test_bus_connect (address);
  fixture->server_name = g_strdup (g_dbus_connection_get_unique_name (fixture->server));
  fixture->seen = g_ptr_array_new_with_free_func ((GDestroyNotify) seen_free);
  fixture->subscription =
    g_dbus_connection_signal_subscribe (fixture->client, fixture->server_name, NULL, NULL, NULL,
                                        NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, fixture,
                                        NULL);

  fixture->daemon = pd_daemon_new (state_dir, runtime_dir, &error);
  g_assert_no_error (error);
  fixture->engine = pd_daemon_get_engine (fixture->daemon);
  g_assert_true (pd_daemon_start (fixture->daemon, fixture->server, &error));
  g_assert_no_error (error);
}

static gboolean
set_true (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
fixture_teardown (Fixture *fixture, gconstpointer user_data)
{
  gboolean stopped = FALSE;
  gint64 deadline;

  pd_daemon_shutdown (fixture->daemon, set_true, &stopped);
  while (!stopped)
    g_main_context_iteration (NULL, TRUE);
  /* the engine goes once its start-up work (a thread, idle callbacks) is over */
  g_object_add_weak_pointer (G_OBJECT (fixture->engine), (gpointer *) &fixture->engine);
  g_clear_object (&fixture->daemon);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (fixture->engine != NULL && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  if (fixture->engine != NULL)
    g_error ("the engine is still referenced once the daemon is gone");
  g_dbus_connection_signal_unsubscribe (fixture->client, fixture->subscription);
  /* let replies and signals already queued be dispatched and freed */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_pointer (&fixture->seen, g_ptr_array_unref);
  g_dbus_connection_close_sync (fixture->client, NULL, NULL);
  g_dbus_connection_close_sync (fixture->server, NULL, NULL);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->server);
  g_free (fixture->server_name);
  g_test_dbus_down (fixture->bus);
  g_clear_object (&fixture->bus);
  pd_test_rm_rf (fixture->dir);
  g_free (fixture->dir);
  g_unsetenv (PD_ENV_CONFIGURATION_DIRECTORY);
}

/* section: helpers */

/* a plugin of @config_text committed to the store and added to the engine, as an install
 * ends */
static PdManagedPlugin *
add_plugin_with_config (Fixture *fixture, const char *name, const char *config_text)
{
  PdStore *store = pd_engine_get_store (fixture->engine);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = NULL;
  g_autoptr(PdDescriptor) config_descriptor = NULL;
  g_autoptr(GPtrArray) layers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) pd_descriptor_free);
  g_autoptr(PdPluginRecord) record = NULL;
  g_autofree char *layer_digest = NULL;
  g_autofree char *config_json = NULL;
  g_autofree char *config_digest = NULL;
  g_autofree char *manifest = NULL;
  g_autofree char *manifest_digest = NULL;
  g_autofree char *staging = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *id = pd_generate_plugin_id ();
  const char *layer = "not a real layer: nothing extracts it here";
  const char *diff_ids[] = { PD_TEST_DIGEST, NULL };
  const char *layer_digests[2] = { NULL, NULL };
  gsize len = 0;

  config = pd_test_parse_config (config_text);
  pd_plugin_config_set_diff_ids (config, diff_ids);
  layer_digest = pd_store_put_blob (store, layer, strlen (layer), &error);
  g_assert_no_error (error);
  config_json = pd_plugin_config_to_data (config, &len);
  config_digest = pd_store_put_blob (store, config_json, len, &error);
  g_assert_no_error (error);
  config_descriptor = pd_descriptor_new (PD_MEDIA_TYPE_PLUGIN_CONFIG, config_digest, len);
  g_ptr_array_add (layers, pd_descriptor_new (PD_MEDIA_TYPE_DOCKER_LAYER_GZIP, layer_digest,
                                              strlen (layer)));
  manifest = pd_oci_build_manifest (config_descriptor, layers, &len);
  manifest_digest = pd_store_put_blob (store, manifest, len, &error);
  g_assert_no_error (error);

  staging = pd_store_create_staging_dir (store, &error);
  g_assert_no_error (error);
  rootfs = g_build_filename (staging, "rootfs", NULL);
  pd_test_make_dir (rootfs);
  layer_digests[0] = layer_digest;
  record = pd_plugin_record_new (id, name, NULL, g_steal_pointer (&config), config_digest,
                                 manifest_digest, layer_digests);
  g_assert_true (pd_store_commit_new_plugin (store, record, staging, &error));
  g_assert_no_error (error);
  return pd_engine_add_plugin (fixture->engine, record);
}

static PdManagedPlugin *
add_plugin (Fixture *fixture, const char *name)
{
  return add_plugin_with_config (fixture, name, DEFAULT_CONFIG);
}

static char *
plugin_path (PdManagedPlugin *plugin)
{
  return g_strconcat (PD_DBUS_PLUGIN_PATH_PREFIX, pd_managed_plugin_get_id (plugin), NULL);
}

static GVariant *
call (Fixture *fixture, const char *path, const char *interface, const char *method,
      GVariant *parameters, GError **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  GVariant *reply;

  g_dbus_connection_call (fixture->client, fixture->server_name, path, interface, method,
                          parameters, NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL,
                          pd_test_bus_store_result_cb, &result);
  done = pd_test_bus_wait_result (&result);
  reply = g_dbus_connection_call_finish (fixture->client, done, error);
  /* where the reply came, among the signals */
  g_ptr_array_add (fixture->seen, g_new0 (Seen, 1));
  return reply;
}

static GVariant *
get_property (Fixture *fixture, const char *path, const char *interface, const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  GVariant *value = NULL;

  reply = call (fixture, path, "org.freedesktop.DBus.Properties", "Get",
                g_variant_new ("(ss)", interface, name), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

/* property @name of @interface on @path is @expected (floating reference sunk) */
static void
assert_property (Fixture *fixture, const char *path, const char *interface, const char *name,
                 GVariant *expected)
{
  g_autoptr(GVariant) sunk = g_variant_ref_sink (expected);
  g_autoptr(GVariant) value = get_property (fixture, path, interface, name);

  g_assert_cmpvariant (value, sunk);
}

/* the index of the first signal @member on @path (any when NULL) after @from, or -1 */
static gint
find_seen (Fixture *fixture, guint from, const char *member, const char *path)
{
  for (guint i = from; i < fixture->seen->len; i++)
    {
      Seen *seen = g_ptr_array_index (fixture->seen, i);

      if (g_strcmp0 (seen->member, member) == 0 &&
          (path == NULL || g_strcmp0 (seen->path, path) == 0))
        return (gint) i;
    }
  return -1;
}

/* the first PropertiesChanged of @path after @from that changes @property */
static GVariant *
find_change (Fixture *fixture, guint from, const char *path, const char *property, gint *index)
{
  for (guint i = from; i < fixture->seen->len; i++)
    {
      Seen *seen = g_ptr_array_index (fixture->seen, i);
      g_autoptr(GVariant) changed = NULL;
      GVariant *value;

      if (g_strcmp0 (seen->member, "PropertiesChanged") != 0 ||
          g_strcmp0 (seen->path, path) != 0)
        continue;
      g_variant_get (seen->parameters, "(&s@a{sv}@as)", NULL, &changed, NULL);
      value = g_variant_lookup_value (changed, property, NULL);
      if (value != NULL)
        {
          if (index != NULL)
            *index = (gint) i;
          return value;
        }
    }
  return NULL;
}

/* Waits until a PropertiesChanged of @path after @from says @property is @expected (floating
 * reference sunk); its index */
static gint
wait_for_change (Fixture *fixture, guint from, const char *path, const char *property,
                 GVariant *expected)
{
  g_autoptr(GVariant) sunk = g_variant_ref_sink (expected);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      for (guint i = from; i < fixture->seen->len; i++)
        {
          gint index = -1;
          g_autoptr(GVariant) value = find_change (fixture, i, path, property, &index);

          if (value == NULL)
            break;
          if (g_variant_equal (value, sunk))
            return index;
          i = (guint) index;
        }
      g_main_context_iteration (NULL, TRUE);
    }
  g_error ("no PropertiesChanged of %s.%s on %s", property, g_variant_print (sunk, TRUE), path);
}

/* a round trip: what the server sent before is with the client, and dispatched */
static void
sync_with_server (Fixture *fixture)
{
  g_variant_unref (get_property (fixture, PD_DBUS_MANAGER_PATH, PD_DBUS_INTERFACE_MANAGER,
                                 "Version"));
}

/* section: tests */

static void
test_manager_properties (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GVariant) version = get_property (fixture, PD_DBUS_MANAGER_PATH,
                                              PD_DBUS_INTERFACE_MANAGER, "Version");
  g_autoptr(GVariant) max_jobs = get_property (fixture, PD_DBUS_MANAGER_PATH,
                                               PD_DBUS_INTERFACE_MANAGER, "MaxJobs");
  g_autoptr(GVariant) features = get_property (fixture, PD_DBUS_MANAGER_PATH,
                                               PD_DBUS_INTERFACE_MANAGER, "Features");
  g_autofree const char **strv = g_variant_get_strv (features, NULL);

  g_assert_cmpstr (g_variant_get_string (version, NULL), ==, PACKAGE_VERSION);
  g_assert_cmpuint (g_variant_get_uint32 (max_jobs), ==, pd_engine_get_max_jobs (fixture->engine));
  g_assert_true (g_strv_contains (strv, "pull"));
  g_assert_true (g_strv_contains (strv, "option:grant-all-privileges"));
}

/* a plugin of the engine is on the bus, with its record's values, and follows the core */
static void
test_plugin_mirror (Fixture *fixture, gconstpointer user_data)
{
  PdManagedPlugin *plugin = add_plugin (fixture, "test/mirror:latest");
  g_autofree char *path = plugin_path (plugin);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) listed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *got_path = NULL;
  g_autoptr(GPtrArray) changes = NULL;
  gint changed, event;
  guint from;

  sync_with_server (fixture);
  g_assert_cmpint (find_seen (fixture, 0, "InterfacesAdded", PD_DBUS_ROOT_PATH), >=, 0);

  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Id",
                   g_variant_new_string (pd_managed_plugin_get_id (plugin)));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Name",
                   g_variant_new_string ("test/mirror:latest"));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "State",
                   g_variant_new_string ("disabled"));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Description",
                   g_variant_new_string ("A test plugin"));
  /* names only: the values are for GetSettingValues */
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Env",
                   g_variant_new_parsed ("['DEBUG']"));

  /* a change in the core: on the property (DiskUsage sends no PropertiesChanged) */
  pd_managed_plugin_set_disk_usage (plugin, 12345);
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "DiskUsage",
                   g_variant_new_uint64 (12345));
  /* and in a PropertiesChanged, before the event of the change */
  from = fixture->seen->len;
  changes = pd_settings_changes_new ();
  pd_settings_changes_add (changes, "args", "--bar");
  g_assert_true (pd_managed_plugin_set_settings (plugin, changes, NULL, &error));
  g_assert_no_error (error);
  changed = wait_for_change (fixture, from, path, "UpdateTimestamp",
                             g_variant_new_uint64 (pd_plugin_record_get_updated (
                               pd_managed_plugin_get_record (plugin))));
  sync_with_server (fixture);
  event = find_seen (fixture, from, "PluginEvent", PD_DBUS_MANAGER_PATH);
  g_assert_cmpint (changed, <, event);

  /* the Manager finds it */
  reply = call (fixture, PD_DBUS_MANAGER_PATH, PD_DBUS_INTERFACE_MANAGER, "GetPlugin",
                g_variant_new ("(s)", "test/mirror"), &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(o)", &got_path);
  g_assert_cmpstr (got_path, ==, path);
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (fixture, PD_DBUS_MANAGER_PATH, PD_DBUS_INTERFACE_MANAGER, "ListPlugins",
                g_variant_new_parsed ("(@a{sv} {},)"), &error);
  g_assert_no_error (error);
  listed = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (listed), ==, 1);
}

/* Set as root (no polkit): the core applies the pairs in their order; the properties, then
 * the event, then the reply */
static void
test_plugin_set (Fixture *fixture, gconstpointer user_data)
{
  PdManagedPlugin *plugin = add_plugin (fixture, "test/set:latest");
  g_autofree char *path = plugin_path (plugin);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) updated = NULL;
  g_autoptr(GVariant) values = NULL;
  g_autoptr(GError) error = NULL;
  const PdPluginSettings *core;
  gint changed = -1, event, replied;
  guint from;

  sync_with_server (fixture);
  from = fixture->seen->len;
  reply = call (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Set",
                g_variant_new_parsed ("([('DEBUG.value', '1'), ('DEBUG', '2')], @a{sv} {})"),
                &error);
  g_assert_no_error (error);
  replied = (gint) fixture->seen->len - 1;

  /* Docker's order: the last pair wins (sorted keys would have left 1) */
  core = pd_plugin_record_get_settings (pd_managed_plugin_get_record (plugin));
  g_assert_true (g_strv_contains ((const char *const *) core->env, "DEBUG=2"));
  g_assert_false (g_strv_contains ((const char *const *) core->env, "DEBUG=1"));
  updated = find_change (fixture, from, path, "UpdateTimestamp", &changed);
  g_assert_nonnull (updated);
  event = find_seen (fixture, from, "PluginEvent", PD_DBUS_MANAGER_PATH);
  g_assert_cmpint (changed, >=, 0);
  g_assert_cmpint (changed, <, event);
  g_assert_cmpint (event, <, replied);

  /* root reads the values */
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "GetSettingValues",
                g_variant_new_parsed ("(@a{sv} {},)"), &error);
  g_assert_no_error (error);
  values = g_variant_get_child_value (reply, 0);
  {
    g_autofree const char **env = g_variant_get_strv (values, NULL);

    g_assert_cmpstr (env[0], ==, "DEBUG=2");
  }

  /* a refused Set changes nothing and names its error */
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Set",
                g_variant_new_parsed ("(@a(ss) [], @a{sv} {})"), &error);
  g_assert_null (reply);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_clear_error (&error);

  /* the map of earlier versions is refused by its signature, which the error names */
  reply = call (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Set",
                g_variant_new_parsed ("({'DEBUG': '3'}, @a{sv} {})"), &error);
  g_assert_null (reply);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_assert_nonnull (strstr (error->message, "(a(ss)a{sv})"));
  g_clear_error (&error);
  core = pd_plugin_record_get_settings (pd_managed_plugin_get_record (plugin));
  g_assert_true (g_strv_contains ((const char *const *) core->env, "DEBUG=2"));
  g_assert_cmpstrv (core->user_set, STRV ("env:DEBUG"));
}

/* applies @changes, with the privileges they compute to authorized */
static void
set_settings_as_authorized (PdManagedPlugin *plugin, GPtrArray *changes)
{
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autofree char *privileges = NULL;
  g_autoptr(GError) error = NULL;
  gboolean changed = FALSE;

  settings = pd_managed_plugin_compute_settings (plugin, changes, &privileges, &changed, &error);
  g_assert_no_error (error);
  g_assert_true (changed);
  g_assert_true (pd_managed_plugin_set_settings (plugin, changes, privileges, &error));
  g_assert_no_error (error);
}

/* plugins with equal Settings, Privileges and Holders share one value (pd-plugin.c): a change
 * of one plugin shows on that plugin only, and the others keep theirs when it goes */
static void
test_plugin_shared_values (Fixture *fixture, gconstpointer user_data)
{
  PdManagedPlugin *a = add_plugin_with_config (fixture, "test/shared-a:latest", MOUNT_CONFIG);
  PdManagedPlugin *b = add_plugin_with_config (fixture, "test/shared-b:latest", MOUNT_CONFIG);
  g_autofree char *path_a = plugin_path (a);
  g_autofree char *path_b = plugin_path (b);
  const char *const names[] = { "Settings", "Privileges", "Holders" };
  GVariant *before[G_N_ELEMENTS (names)];
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GVariant) privileges = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GPtrArray) changes = NULL;
  g_autoptr(GError) error = NULL;
  guint from;

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      before[i] = get_property (fixture, path_b, PD_DBUS_INTERFACE_PLUGIN, names[i]);
      assert_property (fixture, path_a, PD_DBUS_INTERFACE_PLUGIN, names[i],
                       before[i]);
    }

  /* new settings on a: b's values stay (Holders: a plugin that is not running has none) */
  sync_with_server (fixture);
  from = fixture->seen->len;
  changes = pd_settings_changes_new ();
  pd_settings_changes_add (changes, "data", "/srv/b");
  set_settings_as_authorized (a, changes);
  wait_for_change (fixture, from, path_a, "UpdateTimestamp",
                   g_variant_new_uint64 (pd_plugin_record_get_updated (
                     pd_managed_plugin_get_record (a))));
  settings = get_property (fixture, path_a, PD_DBUS_INTERFACE_PLUGIN, "Settings");
  g_assert_false (g_variant_equal (settings, before[0]));
  text = g_variant_print (settings, FALSE);
  g_assert_nonnull (strstr (text, "'/srv/b'"));
  privileges = get_property (fixture, path_a, PD_DBUS_INTERFACE_PLUGIN, "Privileges");
  g_assert_false (g_variant_equal (privileges, before[1]));
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    assert_property (fixture, path_b, PD_DBUS_INTERFACE_PLUGIN, names[i],
                     before[i]);

  /* back to b's values: equal again */
  g_clear_pointer (&changes, g_ptr_array_unref);
  changes = pd_settings_changes_new ();
  pd_settings_changes_add (changes, "data", "/srv/a");
  set_settings_as_authorized (a, changes);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    assert_property (fixture, path_a, PD_DBUS_INTERFACE_PLUGIN, names[i],
                     before[i]);

  /* a goes: b keeps its values, on Get and in GetManagedObjects */
  reply = call (fixture, path_a, PD_DBUS_INTERFACE_PLUGIN, "Remove",
                g_variant_new_parsed ("(@a{sv} {},)"), &error);
  g_assert_no_error (error);
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (fixture, PD_DBUS_ROOT_PATH, "org.freedesktop.DBus.ObjectManager",
                "GetManagedObjects", NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(GVariant) objects = g_variant_get_child_value (reply, 0);
      g_autoptr(GVariant) interfaces = g_variant_lookup_value (objects, path_b, NULL);
      g_autoptr(GVariant) properties = NULL;
      g_autoptr(GVariant) value = NULL;

      g_assert_nonnull (interfaces);
      g_assert_null (g_variant_lookup_value (objects, path_a, NULL));
      properties = g_variant_lookup_value (interfaces, PD_DBUS_INTERFACE_PLUGIN, NULL);
      value = g_variant_lookup_value (properties, names[i], NULL);
      g_assert_cmpvariant (value, before[i]);
      assert_property (fixture, path_b, PD_DBUS_INTERFACE_PLUGIN, names[i],
                       before[i]);
      g_variant_unref (before[i]);
    }
}

/* the Plugin's properties of every object, as GetManagedObjects gives them */
static GVariant *
managed_properties (Fixture *fixture, const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (fixture, PD_DBUS_ROOT_PATH,
                                    "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                    NULL, &error);
  g_autoptr(GVariant) objects = NULL;
  g_autoptr(GVariant) interfaces = NULL;

  g_assert_no_error (error);
  objects = g_variant_get_child_value (reply, 0);
  interfaces = g_variant_lookup_value (objects, path, NULL);
  g_assert_nonnull (interfaces);
  return g_variant_lookup_value (interfaces, PD_DBUS_INTERFACE_PLUGIN, NULL);
}

/* A plugin that never ran has no runner (it is made at the first use): reading it, on the bus
 * and in Inspect, makes none, and shows a new runner's values; the runner a log read makes
 * changes no property and sends no PropertiesChanged (its StateTimestamp is the load's). */
static void
test_plugin_never_run (Fixture *fixture, gconstpointer user_data)
{
  PdManagedPlugin *plugin = add_plugin (fixture, "test/never-run:latest");
  g_autofree char *path = plugin_path (plugin);
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) managed = NULL;
  g_autoptr(GVariant) all_after = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *inspect = NULL;
  g_autofree char *inspect_after = NULL;
  guint from;

  sync_with_server (fixture);
  reply = call (fixture, path, "org.freedesktop.DBus.Properties", "GetAll",
                g_variant_new ("(s)", PD_DBUS_INTERFACE_PLUGIN), &error);
  g_assert_no_error (error);
  all = g_variant_get_child_value (reply, 0);
  g_clear_pointer (&reply, g_variant_unref);
  managed = managed_properties (fixture, path);
  g_assert_cmpvariant (managed, all);
  inspect = pd_managed_plugin_to_inspect_json (plugin, TRUE);
  g_assert_null (pd_managed_plugin_peek_runner (plugin));

  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "State",
                   g_variant_new_string ("disabled"));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "StateTimestamp",
                   g_variant_new_uint64 (pd_managed_plugin_get_state_timestamp (plugin)));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "MainPID", g_variant_new_uint32 (0));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "RestartCount",
                   g_variant_new_uint32 (0));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Socket", g_variant_new_string (""));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Implements",
                   g_variant_new_strv (NULL, 0));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "LastErrorName",
                   g_variant_new_string (""));
  assert_property (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "LastErrorMessage",
                   g_variant_new_string (""));
  g_assert_nonnull (strstr (inspect, "\"State\":{\"Status\":\"disabled\",\"Pid\":0,"
                                     "\"RestartCount\":0,\"ErrorName\":\"\",\"Error\":\"\"}"));
  g_assert_null (pd_managed_plugin_peek_runner (plugin));

  /* a log read makes it: the same values, nothing sent */
  from = fixture->seen->len;
  reply = call (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "ReadLog",
                g_variant_new_parsed ("(@a{sv} {},)"), &error);
  g_assert_no_error (error);
  g_assert_nonnull (pd_managed_plugin_peek_runner (plugin));
  g_assert_cmpuint (pd_runner_get_state_timestamp (pd_managed_plugin_peek_runner (plugin)), ==,
                    pd_managed_plugin_get_state_timestamp (plugin));
  g_clear_pointer (&reply, g_variant_unref);
  reply = call (fixture, path, "org.freedesktop.DBus.Properties", "GetAll",
                g_variant_new ("(s)", PD_DBUS_INTERFACE_PLUGIN), &error);
  g_assert_no_error (error);
  all_after = g_variant_get_child_value (reply, 0);
  g_assert_cmpvariant (all_after, all);
  inspect_after = pd_managed_plugin_to_inspect_json (plugin, TRUE);
  g_assert_cmpstr (inspect_after, ==, inspect);
  /* the daemon compares with the runner's values now: still nothing to send */
  g_signal_emit_by_name (fixture->engine, "plugin-changed", plugin,
                         (guint) PD_MANAGED_PLUGIN_CHANGED_RUNTIME);
  sync_with_server (fixture);
  g_assert_cmpint (find_seen (fixture, from, "PropertiesChanged", path), <, 0);
}

/* an event of the core is the Manager's PluginEvent */
static void
test_plugin_event (Fixture *fixture, gconstpointer user_data)
{
  PdManagedPlugin *plugin = add_plugin (fixture, "test/event:latest");
  g_autofree char *path = plugin_path (plugin);
  g_autoptr(GVariant) attributes = NULL;
  const char *action, *id, *name, *object;
  Seen *seen;
  guint64 timestamp;
  guint from;
  gint i;

  sync_with_server (fixture);
  from = fixture->seen->len;
  pd_engine_emit_plugin_event (fixture->engine, "crash", plugin, NULL);
  sync_with_server (fixture);
  i = find_seen (fixture, from, "PluginEvent", PD_DBUS_MANAGER_PATH);
  g_assert_cmpint (i, >=, 0);
  seen = g_ptr_array_index (fixture->seen, i);
  g_variant_get (seen->parameters, "(&s&s&s&ot@a{sv})", &action, &id, &name, &object, &timestamp,
                 &attributes);
  g_assert_cmpstr (action, ==, "crash");
  g_assert_cmpstr (id, ==, pd_managed_plugin_get_id (plugin));
  g_assert_cmpstr (name, ==, "test/event:latest");
  g_assert_cmpstr (object, ==, path);
  g_assert_cmpuint (timestamp, >, 0);
  g_assert_true (g_variant_lookup (attributes, "name", "&s", &name));
  g_assert_cmpstr (name, ==, "test/event:latest");
}

/* an operation of the engine is a job on the bus, and its end comes in order */
static void
test_job_mirror (Fixture *fixture, gconstpointer user_data)
{
  PdManagedPlugin *plugin = add_plugin (fixture, "test/job:latest");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) results = NULL;
  g_autofree char *job_path = NULL;
  g_autoptr(GAsyncResult) waited = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  PdOperation *operation;
  gint job_new, state_changed = -1, completed, finished, event;
  guint from;
  const char *reference = NULL;

  sync_with_server (fixture);
  from = fixture->seen->len;
  operation = pd_engine_new_operation (fixture->engine, "push", "example.com/test/job:v1",
                                       "test/job:latest", 0, &error);
  g_assert_no_error (error);
  job_path = g_strdup_printf (PD_DBUS_JOB_PATH_PREFIX "%u", pd_operation_get_id (operation));
  sync_with_server (fixture);
  job_new = find_seen (fixture, from, "JobNew", PD_DBUS_MANAGER_PATH);
  g_assert_cmpint (job_new, >=, 0);

  assert_property (fixture, job_path, PD_DBUS_INTERFACE_JOB, "Operation",
                   g_variant_new_string ("push"));
  assert_property (fixture, job_path, PD_DBUS_INTERFACE_JOB, "PluginName",
                   g_variant_new_string ("test/job:latest"));

  /* the phase at once, the progress throttled but there */
  pd_operation_set_phase (operation, "uploading");
  pd_operation_set_bytes (operation, 10, 100);
  sync_with_server (fixture);
  assert_property (fixture, job_path, PD_DBUS_INTERFACE_JOB, "Phase",
                   g_variant_new_string ("uploading"));
  assert_property (fixture, job_path, PD_DBUS_INTERFACE_JOB, "BytesDone",
                   g_variant_new_uint64 (10));

  /* a waiter, then the end: properties, Completed, JobFinished, the event, the Wait reply */
  g_dbus_connection_call (fixture->client, fixture->server_name, job_path,
                          PD_DBUS_INTERFACE_JOB, "Wait", NULL, NULL, G_DBUS_CALL_FLAGS_NONE,
                          10000, NULL, pd_test_bus_store_result_cb, &waited);
  sync_with_server (fixture);
  from = fixture->seen->len;
  pd_engine_emit_event_when_finished (fixture->engine, operation, plugin);
  pd_operation_complete (operation,
                         g_variant_new_parsed ("{'reference': <'example.com/test/job:v1'>}"),
                         NULL);
  done = pd_test_bus_wait_result (&waited);
  reply = g_dbus_connection_call_finish (fixture->client, done, &error);
  g_assert_no_error (error);
  g_ptr_array_add (fixture->seen, g_new0 (Seen, 1));

  value = find_change (fixture, from, job_path, "State", &state_changed);
  g_assert_nonnull (value);
  g_assert_cmpstr (g_variant_get_string (value, NULL), ==, "finished");
  completed = find_seen (fixture, from, "Completed", job_path);
  finished = find_seen (fixture, from, "JobFinished", PD_DBUS_MANAGER_PATH);
  event = find_seen (fixture, from, "PluginEvent", PD_DBUS_MANAGER_PATH);
  g_assert_cmpint (state_changed, >=, 0);
  g_assert_cmpint (state_changed, <, completed);
  g_assert_cmpint (completed, <, finished);
  g_assert_cmpint (finished, <, event);
  g_assert_cmpint (event, <, (gint) fixture->seen->len - 1);

  results = g_variant_get_child_value (reply, 0);
  g_assert_true (g_variant_lookup (results, "reference", "&s", &reference));
  g_assert_cmpstr (reference, ==, "example.com/test/job:v1");
}

/* Remove as root: the object goes, then the event, then the reply; a late call to its path
 * finds no object */
static void
test_plugin_remove (Fixture *fixture, gconstpointer user_data)
{
  PdManagedPlugin *plugin = add_plugin (fixture, "test/remove:latest");
  g_autofree char *path = plugin_path (plugin);
  g_autofree char *id = g_strdup (pd_managed_plugin_get_id (plugin));
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  gint removed, event, replied;
  guint from;

  sync_with_server (fixture);
  from = fixture->seen->len;
  reply = call (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Remove",
                g_variant_new_parsed ("(@a{sv} {},)"), &error);
  g_assert_no_error (error);
  replied = (gint) fixture->seen->len - 1;
  removed = find_seen (fixture, from, "InterfacesRemoved", PD_DBUS_ROOT_PATH);
  event = find_seen (fixture, from, "PluginEvent", PD_DBUS_MANAGER_PATH);
  g_assert_cmpint (removed, >=, 0);
  g_assert_cmpint (removed, <, event);
  g_assert_cmpint (event, <, replied);
  g_assert_null (pd_engine_lookup_plugin (fixture->engine, id));

  g_clear_pointer (&reply, g_variant_unref);
  reply = call (fixture, path, PD_DBUS_INTERFACE_PLUGIN, "Inspect", NULL, &error);
  g_assert_null (reply);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  PD_TEST_ADD ("/dbus/manager/properties", test_manager_properties);
  PD_TEST_ADD ("/dbus/plugin/mirror", test_plugin_mirror);
  PD_TEST_ADD ("/dbus/plugin/set", test_plugin_set);
  PD_TEST_ADD ("/dbus/plugin/shared-values", test_plugin_shared_values);
  PD_TEST_ADD ("/dbus/plugin/never-run", test_plugin_never_run);
  PD_TEST_ADD ("/dbus/plugin/event", test_plugin_event);
  PD_TEST_ADD ("/dbus/plugin/remove", test_plugin_remove);
  PD_TEST_ADD ("/dbus/job/mirror", test_job_mirror);

  return g_test_run ();
}
