/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bare-service: the baseline of the D-Bus benchmarks. A trivial GDBus service on the system bus
 * that owns org.plugind.Bench1 and exports
 *
 *   /org/plugind/Bench1/Service  org.plugind.Bench1.Service, registered with a plain vtable:
 *                                Ping() → (s) "pong", List(u count) → a(ssssbo) (a flat list
 *                                shaped like Manager.ListPlugins, built per call), and six
 *                                read-only properties;
 *   /org/plugind/Bench1          an org.freedesktop.DBus.ObjectManager (GDBusObjectManagerServer)
 *                                with --objects children of six properties each (gdbus-codegen
 *                                skeletons, like plugind's objects).
 *
 * Everything is exported when the bus connection is up and before the name is requested, as
 * plugind does, so that "name owned" means "ready" for both. SIGTERM/SIGINT stop it.
 */
#include "config.h"

#define G_LOG_DOMAIN "bench-bare-service"

#include <stdlib.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "bench-item-generated.h"

#define BARE_NAME "org.plugind.Bench1"
#define BARE_ROOT_PATH "/org/plugind/Bench1"
#define BARE_SERVICE_PATH BARE_ROOT_PATH "/Service"
#define BARE_SERVICE_IFACE "org.plugind.Bench1.Service"

static const char introspection_xml[] =
  "<node>"
  "  <interface name='" BARE_SERVICE_IFACE "'>"
  "    <method name='Ping'>"
  "      <arg name='reply' type='s' direction='out'/>"
  "    </method>"
  "    <method name='List'>"
  "      <arg name='count' type='u' direction='in'/>"
  "      <arg name='items' type='a(ssssbo)' direction='out'/>"
  "    </method>"
  "    <property name='Id' type='s' access='read'/>"
  "    <property name='Name' type='s' access='read'/>"
  "    <property name='Reference' type='s' access='read'/>"
  "    <property name='State' type='s' access='read'/>"
  "    <property name='Enabled' type='b' access='read'/>"
  "    <property name='CreationTimestamp' type='t' access='read'/>"
  "  </interface>"
  "</node>";

typedef struct {
  char *id;
  char *name;
  char *reference;
  char *state;
  gboolean enabled;
  guint64 created;
  char *path;
} Item;

typedef struct {
  GMainLoop *loop;
  GDBusNodeInfo *node_info;
  GDBusObjectManagerServer *object_manager;
  Item *items;
  guint n_items;
  guint n_objects;
  guint registration_id;
  gboolean name_acquired;
  int exit_status;
} Service;

/* strings of the same lengths as plugind's: a 64-hex ID, a familiar name, a full reference */
static void
items_init (Service *self, guint n_items)
{
  self->n_items = n_items;
  self->items = g_new0 (Item, MAX (n_items, 1));
  for (guint i = 0; i < n_items; i++)
    {
      Item *item = &self->items[i];
      g_autofree char *seed = g_strdup_printf ("bench-item-%u", i);

      item->id = g_compute_checksum_for_string (G_CHECKSUM_SHA256, seed, -1);
      item->name = g_strdup_printf ("bench/plugin-%04u:latest", i);
      item->reference = g_strdup_printf ("docker.io/bench/plugin-%04u:latest", i);
      item->state = g_strdup ("disabled");
      item->enabled = FALSE;
      item->created = (guint64) g_get_real_time ();
      item->path = g_strconcat (BARE_ROOT_PATH "/item/", item->id, NULL);
    }
}

static void
items_clear (Service *self)
{
  for (guint i = 0; i < self->n_items; i++)
    {
      Item *item = &self->items[i];
      g_free (item->id);
      g_free (item->name);
      g_free (item->reference);
      g_free (item->state);
      g_free (item->path);
    }
  g_clear_pointer (&self->items, g_free);
}

static void
handle_method_call (GDBusConnection *connection, const char *sender, const char *object_path,
                    const char *interface_name, const char *method_name, GVariant *parameters,
                    GDBusMethodInvocation *invocation, gpointer user_data)
{
  Service *self = user_data;

  if (g_strcmp0 (method_name, "Ping") == 0)
    {
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", "pong"));
    }
  else if (g_strcmp0 (method_name, "List") == 0)
    {
      GVariantBuilder builder;
      guint32 count;

      g_variant_get (parameters, "(u)", &count);
      g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssssbo)"));
      for (guint i = 0; i < MIN (count, self->n_items); i++)
        {
          const Item *item = &self->items[i];
          g_variant_builder_add (&builder, "(ssssbo)", item->id, item->name, item->reference,
                                 item->state, item->enabled, item->path);
        }
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(@a(ssssbo))",
                                                            g_variant_builder_end (&builder)));
    }
  else
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                             G_DBUS_ERROR_UNKNOWN_METHOD,
                                             "no method %s", method_name);
    }
}

static GVariant *
handle_get_property (GDBusConnection *connection, const char *sender, const char *object_path,
                     const char *interface_name, const char *property_name, GError **error,
                     gpointer user_data)
{
  Service *self = user_data;
  const Item *item = &self->items[0];

  if (g_strcmp0 (property_name, "Id") == 0)
    return g_variant_new_string (item->id);
  if (g_strcmp0 (property_name, "Name") == 0)
    return g_variant_new_string (item->name);
  if (g_strcmp0 (property_name, "Reference") == 0)
    return g_variant_new_string (item->reference);
  if (g_strcmp0 (property_name, "State") == 0)
    return g_variant_new_string (item->state);
  if (g_strcmp0 (property_name, "Enabled") == 0)
    return g_variant_new_boolean (item->enabled);
  if (g_strcmp0 (property_name, "CreationTimestamp") == 0)
    return g_variant_new_uint64 (item->created);
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s",
               property_name);
  return NULL;
}

static const GDBusInterfaceVTable service_vtable = {
  .method_call = handle_method_call,
  .get_property = handle_get_property,
};

static void
export_objects (Service *self, GDBusConnection *connection)
{
  self->object_manager = g_dbus_object_manager_server_new (BARE_ROOT_PATH);
  for (guint i = 0; i < self->n_objects; i++)
    {
      const Item *item = &self->items[i];
      g_autoptr(GDBusObjectSkeleton) object = g_dbus_object_skeleton_new (item->path);
      g_autoptr(BenchItem) iface = bench_item_skeleton_new ();

      bench_item_set_id (iface, item->id);
      bench_item_set_name (iface, item->name);
      bench_item_set_reference (iface, item->reference);
      bench_item_set_state (iface, item->state);
      bench_item_set_enabled (iface, item->enabled);
      bench_item_set_creation_timestamp (iface, item->created);
      g_dbus_object_skeleton_add_interface (object, G_DBUS_INTERFACE_SKELETON (iface));
      g_dbus_object_manager_server_export (self->object_manager, object);
    }
  g_dbus_object_manager_server_set_connection (self->object_manager, connection);
}

static void
on_bus_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Service *self = user_data;
  g_autoptr(GError) error = NULL;

  self->registration_id = g_dbus_connection_register_object (
    connection, BARE_SERVICE_PATH, self->node_info->interfaces[0], &service_vtable, self, NULL,
    &error);
  if (self->registration_id == 0)
    {
      g_printerr ("bare-service: %s\n", error->message);
      self->exit_status = EXIT_FAILURE;
      g_main_loop_quit (self->loop);
      return;
    }
  export_objects (self, connection);
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Service *self = user_data;

  self->name_acquired = TRUE;
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Service *self = user_data;

  if (!self->name_acquired)
    {
      g_printerr ("bare-service: cannot own %s (is the bench bus policy installed?)\n", name);
      self->exit_status = EXIT_FAILURE;
    }
  g_main_loop_quit (self->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  Service *self = user_data;

  g_main_loop_quit (self->loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  int objects = 0, items = 1000;
  const GOptionEntry entries[] = {
    { "objects", 'o', 0, G_OPTION_ARG_INT, &objects,
      "Export N objects of six properties under the ObjectManager (default 0)", "N" },
    { "items", 'i', 0, G_OPTION_ARG_INT, &items,
      "Entries List() can return at most (default 1000)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  Service self = { 0 };
  guint owner_id;

  option_context = g_option_context_new (NULL);
  g_option_context_set_summary (option_context, "Baseline GDBus service of the plugind benchmarks");
  g_option_context_add_main_entries (option_context, entries, NULL);
  if (!g_option_context_parse (option_context, &argc, &argv, &error))
    {
      g_printerr ("bare-service: %s\n", error->message);
      return 2;
    }
  if (objects < 0 || items < 1)
    {
      g_printerr ("bare-service: --objects must be >= 0 and --items >= 1\n");
      return 2;
    }

  self.node_info = g_dbus_node_info_new_for_xml (introspection_xml, &error);
  g_assert_no_error (error);
  items_init (&self, (guint) MAX (items, objects));
  self.n_objects = (guint) objects;

  self.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, on_signal, &self);
  g_unix_signal_add (SIGINT, on_signal, &self);
  owner_id = g_bus_own_name (G_BUS_TYPE_SYSTEM, BARE_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                             on_bus_acquired, on_name_acquired, on_name_lost, &self, NULL);
  g_main_loop_run (self.loop);

  g_bus_unown_name (owner_id);
  g_clear_object (&self.object_manager);
  g_main_loop_unref (self.loop);
  g_dbus_node_info_unref (self.node_info);
  items_clear (&self);
  return self.exit_status;
}
