/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The main window: the list of plugins, kept current from the daemon's ObjectManager
 * (InterfacesAdded/Removed, PropertiesChanged); a page saying how to add one when there is
 * none, and one saying the service is not running when nobody owns its name */

#include "config.h"

#include <glib/gi18n.h>

#include "pd-app-details-page.h"
#include "pd-app-install-page.h"
#include "pd-app-plugin-row.h"
#include "pd-app-widgets.h"
#include "pd-app-window.h"
#include "pd-dbus-generated.h"
#include "pd-names.h"

struct _PdAppWindow
{
  AdwApplicationWindow parent_instance;

  GCancellable *cancellable;
  GDBusObjectManager *objects;
  AdwToastOverlay *toasts;
  /* the main page (the list) and the pages reached from it */
  GtkStack *pages;
  PdAppInstallPage *install_page;
  PdAppDetailsPage *details_page;
  GtkStack *stack;
  GtkListBox *list;
  /* object path → its row in list */
  GHashTable *rows;
  /* a plugin just installed, to select once its row is there */
  char *select_path;
};

G_DEFINE_FINAL_TYPE (PdAppWindow, pd_app_window, ADW_TYPE_APPLICATION_WINDOW)

static void
update_page (PdAppWindow *self)
{
  const char *page = "list";
  g_autofree char *owner = NULL;

  if (self->objects == NULL)
    page = "offline";
  else
    {
      GDBusObjectManagerClient *client = G_DBUS_OBJECT_MANAGER_CLIENT (self->objects);

      owner = g_dbus_object_manager_client_get_name_owner (client);
      if (owner == NULL)
        page = "offline";
      else if (g_hash_table_size (self->rows) == 0)
        page = "empty";
    }
  pd_app_stack_show (self->stack, page);
}

static void close_details_page (PdAppWindow *self);

/* selects the plugin's row, now or as soon as it is there */
static void
select_plugin (PdAppWindow *self, const char *path)
{
  GtkListBoxRow *row = g_hash_table_lookup (self->rows, path);

  if (row == NULL)
    {
      g_free (self->select_path);
      self->select_path = g_strdup (path);
      return;
    }
  g_clear_pointer (&self->select_path, g_free);
  gtk_list_box_select_row (self->list, row);
  gtk_widget_grab_focus (GTK_WIDGET (row));
}

static void
add_plugin (PdAppWindow *self, GDBusObject *object)
{
  g_autoptr(PdDbusPlugin) plugin = pd_dbus_object_get_plugin (PD_DBUS_OBJECT (object));
  const char *path = g_dbus_object_get_object_path (object);
  PdAppPluginRow *row;

  if (plugin == NULL || g_hash_table_contains (self->rows, path))
    return;
  row = pd_app_plugin_row_new (plugin);
  g_hash_table_insert (self->rows, g_strdup (path), row);
  gtk_list_box_append (self->list, GTK_WIDGET (row));
  update_page (self);
  if (g_strcmp0 (path, self->select_path) == 0)
    select_plugin (self, path);
}

static void
remove_plugin (PdAppWindow *self, GDBusObject *object)
{
  const char *path = g_dbus_object_get_object_path (object);
  PdAppPluginRow *row = g_hash_table_lookup (self->rows, path);

  if (row == NULL)
    return;
  if (self->details_page != NULL &&
      pd_app_details_page_get_plugin (self->details_page) == pd_app_plugin_row_get_plugin (row))
    close_details_page (self);
  gtk_list_box_remove (self->list, GTK_WIDGET (row));
  g_hash_table_remove (self->rows, path);
  update_page (self);
}

static void
on_object_added (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  add_plugin (PD_APP_WINDOW (user_data), object);
}

static void
on_object_removed (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  remove_plugin (PD_APP_WINDOW (user_data), object);
}

static void
on_interface_added (GDBusObjectManager *manager, GDBusObject *object, GDBusInterface *iface,
                    gpointer user_data)
{
  add_plugin (PD_APP_WINDOW (user_data), object);
}

static void
on_name_owner (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  update_page (PD_APP_WINDOW (user_data));
}

static void
on_manager_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  GDBusObjectManager *objects = pd_dbus_object_manager_client_new_for_bus_finish (result, &error);
  PdAppWindow *self;
  GList *list;

  if (objects == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_warning ("cannot reach the system bus: %s", error->message);
          update_page (PD_APP_WINDOW (user_data));
        }
      return;
    }
  self = PD_APP_WINDOW (user_data);
  self->objects = objects;
  g_signal_connect_object (objects, "object-added", G_CALLBACK (on_object_added), self, 0);
  g_signal_connect_object (objects, "object-removed", G_CALLBACK (on_object_removed), self, 0);
  g_signal_connect_object (objects, "interface-added", G_CALLBACK (on_interface_added), self, 0);
  g_signal_connect_object (objects, "notify::name-owner", G_CALLBACK (on_name_owner), self, 0);
  list = g_dbus_object_manager_get_objects (objects);
  for (GList *l = list; l != NULL; l = l->next)
    add_plugin (self, G_DBUS_OBJECT (l->data));
  g_list_free_full (list, g_object_unref);
  update_page (self);
}

static void
on_installed (PdAppInstallPage *page, const char *path, gpointer user_data)
{
  if (path != NULL && g_variant_is_object_path (path))
    select_plugin (PD_APP_WINDOW (user_data), path);
}

/* back to the details page, if one is open, else to the list */
static void
close_install_page (PdAppWindow *self)
{
  GtkListBoxRow *selected = gtk_list_box_get_selected_row (self->list);

  pd_app_stack_show (self->pages, self->details_page != NULL ? "details" : "main");
  if (self->install_page != NULL)
    gtk_stack_remove (self->pages, GTK_WIDGET (self->install_page));
  self->install_page = NULL;
  if (self->details_page == NULL && selected != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (selected));
}

static void
close_details_page (PdAppWindow *self)
{
  GtkListBoxRow *selected = gtk_list_box_get_selected_row (self->list);

  if (self->install_page != NULL)
    close_install_page (self);
  pd_app_stack_show (self->pages, "main");
  if (self->details_page != NULL)
    gtk_stack_remove (self->pages, GTK_WIDGET (self->details_page));
  self->details_page = NULL;
  if (selected != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (selected));
}

static void
on_install_page_close (PdAppInstallPage *page, gpointer user_data)
{
  close_install_page (PD_APP_WINDOW (user_data));
}

static void
on_details_page_close (PdAppDetailsPage *page, gpointer user_data)
{
  close_details_page (PD_APP_WINDOW (user_data));
}

static PdDbusManager *
get_manager (PdAppWindow *self)
{
  if (self->objects == NULL)
    return NULL;
  return PD_DBUS_MANAGER (g_dbus_object_manager_get_interface (self->objects,
                                                               PD_DBUS_MANAGER_PATH,
                                                               PD_DBUS_INTERFACE_MANAGER));
}

/* the install page, or the upgrade page of plugin */
static void
open_install_page (PdAppWindow *self, PdDbusPlugin *plugin)
{
  g_autoptr(PdDbusManager) manager = get_manager (self);

  if (manager == NULL)
    {
      pd_app_toast (GTK_WIDGET (self), _("The plugin service is not running."), TRUE);
      return;
    }
  if (self->install_page != NULL)
    close_install_page (self);
  self->install_page = pd_app_install_page_new (manager, plugin);
  g_signal_connect_object (self->install_page, "done", G_CALLBACK (on_installed), self, 0);
  g_signal_connect_object (self->install_page, "close", G_CALLBACK (on_install_page_close), self,
                           0);
  gtk_stack_add_named (self->pages, GTK_WIDGET (self->install_page), "install");
  pd_app_stack_show (self->pages, "install");
  pd_app_install_page_focus (self->install_page);
}

static void
on_install (GtkWidget *widget, const char *action, GVariant *parameter)
{
  PdAppWindow *self = PD_APP_WINDOW (widget);

  /* a new plugin is installed from the list */
  if (self->details_page != NULL)
    close_details_page (self);
  open_install_page (self, NULL);
}

static void
on_upgrade (PdAppDetailsPage *page, gpointer user_data)
{
  open_install_page (PD_APP_WINDOW (user_data), pd_app_details_page_get_plugin (page));
}

static void
on_row_activated (GtkListBox *list, GtkListBoxRow *row, gpointer user_data)
{
  PdAppWindow *self = PD_APP_WINDOW (user_data);

  if (self->details_page != NULL)
    close_details_page (self);
  self->details_page =
    pd_app_details_page_new (pd_app_plugin_row_get_plugin (PD_APP_PLUGIN_ROW (row)));
  g_signal_connect_object (self->details_page, "close", G_CALLBACK (on_details_page_close), self,
                           0);
  g_signal_connect_object (self->details_page, "upgrade", G_CALLBACK (on_upgrade), self, 0);
  gtk_stack_add_named (self->pages, GTK_WIDGET (self->details_page), "details");
  pd_app_stack_show (self->pages, "details");
}

static int
sort_rows (GtkListBoxRow *a, GtkListBoxRow *b, gpointer user_data)
{
  return g_utf8_collate (pd_app_plugin_row_get_name (PD_APP_PLUGIN_ROW (a)),
                         pd_app_plugin_row_get_name (PD_APP_PLUGIN_ROW (b)));
}

static GtkWidget *
status_page (const char *icon, const char *title, const char *description)
{
  GtkWidget *page = adw_status_page_new ();

  adw_status_page_set_icon_name (ADW_STATUS_PAGE (page), icon);
  adw_status_page_set_title (ADW_STATUS_PAGE (page), title);
  adw_status_page_set_description (ADW_STATUS_PAGE (page), description);
  return page;
}

static void
pd_app_window_dispose (GObject *object)
{
  PdAppWindow *self = PD_APP_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->objects);
  g_clear_pointer (&self->rows, g_hash_table_unref);
  g_clear_pointer (&self->select_path, g_free);
  G_OBJECT_CLASS (pd_app_window_parent_class)->dispose (object);
}

static void
pd_app_window_class_init (PdAppWindowClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pd_app_window_dispose;
  gtk_widget_class_install_action (GTK_WIDGET_CLASS (klass), "win.install", NULL, on_install);
  gtk_widget_class_add_binding_action (GTK_WIDGET_CLASS (klass), GDK_KEY_i, GDK_CONTROL_MASK,
                                       "win.install", NULL);
}

static void
pd_app_window_init (PdAppWindow *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  GtkWidget *menu_button = gtk_menu_button_new ();
  GtkWidget *install_button = gtk_button_new_from_icon_name ("list-add-symbolic");
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkWidget *clamp = adw_clamp_new ();
  g_autoptr(GMenu) menu = g_menu_new ();

  self->cancellable = g_cancellable_new ();
  self->rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gtk_window_set_title (GTK_WINDOW (self), _("Plugins"));
  gtk_window_set_default_size (GTK_WINDOW (self), 680, 720);

  g_menu_append (menu, _("_About Plugins"), "app.about");
  gtk_menu_button_set_icon_name (GTK_MENU_BUTTON (menu_button), "open-menu-symbolic");
  gtk_menu_button_set_menu_model (GTK_MENU_BUTTON (menu_button), G_MENU_MODEL (menu));
  gtk_widget_set_tooltip_text (menu_button, _("Main Menu"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (menu_button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Main Menu"), -1);
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), menu_button);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (install_button), "win.install");
  gtk_widget_set_tooltip_text (install_button, _("Install a Plugin"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (install_button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Install a Plugin"), -1);
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), install_button);
  gtk_box_append (GTK_BOX (box), header);

  self->list = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_list_box_set_selection_mode (self->list, GTK_SELECTION_SINGLE);
  gtk_list_box_set_sort_func (self->list, sort_rows, NULL, NULL);
  g_signal_connect (self->list, "row-activated", G_CALLBACK (on_row_activated), self);
  gtk_widget_add_css_class (GTK_WIDGET (self->list), "boxed-list");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->list), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Installed plugins"), -1);
  gtk_widget_set_valign (GTK_WIDGET (self->list), GTK_ALIGN_START);
  gtk_widget_set_margin_top (GTK_WIDGET (self->list), 24);
  gtk_widget_set_margin_bottom (GTK_WIDGET (self->list), 24);
  gtk_widget_set_margin_start (GTK_WIDGET (self->list), 12);
  gtk_widget_set_margin_end (GTK_WIDGET (self->list), 12);
  adw_clamp_set_child (ADW_CLAMP (clamp), GTK_WIDGET (self->list));
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), clamp);
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);

  self->stack = GTK_STACK (gtk_stack_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->stack), TRUE);
  gtk_stack_add_named (self->stack, gtk_spinner_new (), "loading");
  gtk_stack_add_named (self->stack, scrolled, "list");
  gtk_stack_add_named (self->stack,
                       status_page (PD_APP_ID, _("No Plugins"),
                                    _("Install one with the + button above (Ctrl+I), or with "
                                      "“pluginctl install NAME” in a terminal.")),
                       "empty");
  gtk_stack_add_named (self->stack,
                       status_page ("dialog-warning-symbolic",
                                    _("The Plugin Service Is Not Running"),
                                    _("Start it with “systemctl start plugind”; this window "
                                      "shows the plugins as soon as it runs.")),
                       "offline");
  pd_app_stack_show (self->stack, "loading");

  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->stack));

  /* pages, not dialogs: one window, as a settings panel */
  self->pages = GTK_STACK (gtk_stack_new ());
  gtk_stack_set_transition_type (self->pages, GTK_STACK_TRANSITION_TYPE_SLIDE_LEFT_RIGHT);
  gtk_stack_add_named (self->pages, box, "main");
  self->toasts = ADW_TOAST_OVERLAY (adw_toast_overlay_new ());
  adw_toast_overlay_set_child (self->toasts, GTK_WIDGET (self->pages));
  adw_application_window_set_content (ADW_APPLICATION_WINDOW (self), GTK_WIDGET (self->toasts));

  /* DO_NOT_AUTO_START: the service manager starts plugind, not a window opening */
  pd_dbus_object_manager_client_new_for_bus (G_BUS_TYPE_SYSTEM,
                                             G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                             PD_DBUS_NAME, PD_DBUS_ROOT_PATH, self->cancellable,
                                             on_manager_ready, self);
}

PdAppWindow *
pd_app_window_new (PdAppApplication *app)
{
  return g_object_new (PD_APP_TYPE_WINDOW, "application", app, NULL);
}
