/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One plugin in the list: its name, description, live state and a switch for Enabled. Every
 * value comes from the proxy's properties, which the daemon's PropertiesChanged keeps current:
 * nothing is polled. */

#include "config.h"

#include <glib/gi18n.h>

#include "pd-app-plugin-row.h"
#include "pd-app-text.h"
#include "pd-app-widgets.h"

struct _PdAppPluginRow
{
  AdwActionRow parent_instance;

  PdDbusPlugin *plugin;
  GtkLabel *state_label;
  GtkSwitch *enabled_switch;
  GtkWidget *open_button;
  /* the Enable or Disable call on its way, cancelled when the row goes */
  GCancellable *call;
  gboolean enabling;
};

G_DEFINE_FINAL_TYPE (PdAppPluginRow, pd_app_plugin_row, ADW_TYPE_ACTION_ROW)

/* a call may wait for a password dialog and for the plugin to start or stop (at most 300 s,
 * docs/dbus-api.md): the proxies' default of 25 s is too short */
#define CALL_TIMEOUT_MS (10 * 60 * 1000)

static void
update_state (PdAppPluginRow *self)
{
  const char *state = pd_dbus_plugin_get_state (self->plugin);
  const char *reason = pd_dbus_plugin_get_last_error_message (self->plugin);
  const char *description = pd_dbus_plugin_get_description (self->plugin);
  g_autofree char *label = pd_app_state_label (state);
  g_autofree char *subtitle = NULL;
  gboolean trouble = g_strcmp0 (state, "failed") == 0 || g_strcmp0 (state, "restarting") == 0;

  gtk_label_set_text (self->state_label, label);
  if (trouble)
    gtk_widget_add_css_class (GTK_WIDGET (self->state_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->state_label), "error");

  /* the reason of a failure under the description, where it can wrap */
  if (trouble && reason != NULL && reason[0] != '\0')
    subtitle = g_strdup_printf ("%s%s%s", description != NULL ? description : "",
                                description != NULL && description[0] != '\0' ? "\n" : "", reason);
  else
    subtitle = g_strdup (description != NULL ? description : "");
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self), subtitle);
}

static gboolean on_switch_state_set (GtkSwitch *sw, gboolean state, gpointer user_data);

static void
update_switch (PdAppPluginRow *self)
{
  gboolean enabled = pd_dbus_plugin_get_enabled (self->plugin);

  if (self->call != NULL)
    return;
  g_signal_handlers_block_by_func (self->enabled_switch, on_switch_state_set, self);
  gtk_switch_set_active (self->enabled_switch, enabled);
  gtk_switch_set_state (self->enabled_switch, enabled);
  g_signal_handlers_unblock_by_func (self->enabled_switch, on_switch_state_set, self);
  gtk_widget_set_sensitive (GTK_WIDGET (self->enabled_switch), TRUE);
}

static void
on_switch_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PdDbusPlugin *plugin = PD_DBUS_PLUGIN (source);
  g_autoptr(PdAppPluginRow) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (self->enabling)
    ok = pd_dbus_plugin_call_enable_finish (plugin, result, &error);
  else
    ok = pd_dbus_plugin_call_disable_finish (plugin, result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->call);
  if (!ok)
    {
      g_autofree char *sentence = pd_app_error_sentence (error);

      pd_app_toast (GTK_WIDGET (self), sentence, TRUE);
    }
  update_switch (self);
}

static gboolean
on_switch_state_set (GtkSwitch *sw, gboolean state, gpointer user_data)
{
  PdAppPluginRow *self = user_data;
  g_autoptr(GVariantBuilder) options = pd_app_options_new ();

  if (self->call != NULL)
    return TRUE;
  self->call = g_cancellable_new ();
  gtk_widget_set_sensitive (GTK_WIDGET (sw), FALSE);
  self->enabling = state;
  if (state)
    pd_dbus_plugin_call_enable (self->plugin, g_variant_builder_end (options), self->call,
                                on_switch_call_done, g_object_ref (self));
  else
    pd_dbus_plugin_call_disable (self->plugin, g_variant_builder_end (options), self->call,
                                 on_switch_call_done, g_object_ref (self));
  /* the switch follows Enabled once the call is done */
  return TRUE;
}

static void
on_plugin_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  PdAppPluginRow *self = user_data;

  update_state (self);
  update_switch (self);
}

static void
pd_app_plugin_row_dispose (GObject *object)
{
  PdAppPluginRow *self = PD_APP_PLUGIN_ROW (object);

  if (self->call != NULL)
    g_cancellable_cancel (self->call);
  g_clear_object (&self->call);
  if (self->plugin != NULL)
    g_signal_handlers_disconnect_by_data (self->plugin, self);
  g_clear_object (&self->plugin);
  G_OBJECT_CLASS (pd_app_plugin_row_parent_class)->dispose (object);
}

static void
pd_app_plugin_row_class_init (PdAppPluginRowClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pd_app_plugin_row_dispose;
}

static void
pd_app_plugin_row_init (PdAppPluginRow *self)
{
  /* names and descriptions come from plugin configs: plain text, never markup */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (self), FALSE);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (self), 4);

  self->state_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_widget_add_css_class (GTK_WIDGET (self->state_label), "dim-label");
  gtk_widget_set_valign (GTK_WIDGET (self->state_label), GTK_ALIGN_CENTER);
  adw_action_row_add_suffix (ADW_ACTION_ROW (self), GTK_WIDGET (self->state_label));

  self->enabled_switch = GTK_SWITCH (gtk_switch_new ());
  gtk_widget_set_valign (GTK_WIDGET (self->enabled_switch), GTK_ALIGN_CENTER);
  adw_action_row_add_suffix (ADW_ACTION_ROW (self), GTK_WIDGET (self->enabled_switch));
  g_signal_connect (self->enabled_switch, "state-set", G_CALLBACK (on_switch_state_set), self);

  /* the row opens the plugin's page; so does a button, for assistive technologies (GTK 4.8
   * gives list rows no action) */
  self->open_button = gtk_button_new_from_icon_name ("go-next-symbolic");
  gtk_widget_add_css_class (self->open_button, "flat");
  gtk_widget_set_valign (self->open_button, GTK_ALIGN_CENTER);
  g_signal_connect_swapped (self->open_button, "clicked", G_CALLBACK (gtk_widget_activate), self);
  adw_action_row_add_suffix (ADW_ACTION_ROW (self), self->open_button);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (self), TRUE);
}

PdAppPluginRow *
pd_app_plugin_row_new (PdDbusPlugin *plugin)
{
  PdAppPluginRow *self = g_object_new (PD_APP_TYPE_PLUGIN_ROW, NULL);
  const char *name = pd_dbus_plugin_get_name (plugin);
  g_autofree char *switch_name = NULL;
  g_autofree char *open_name = NULL;

  self->plugin = g_object_ref (plugin);
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (plugin), CALL_TIMEOUT_MS);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self), name);
  /* TRANSLATORS: the accessible name of a plugin's switch; %s is the plugin's name */
  switch_name = g_strdup_printf (_("Enable %s"), name);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->enabled_switch),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, switch_name, -1);
  /* TRANSLATORS: the accessible name of the button opening a plugin's page; %s is its name */
  open_name = g_strdup_printf (_("Open %s"), name);
  gtk_widget_set_tooltip_text (self->open_button, _("Details"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->open_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, open_name, -1);
  g_signal_connect (plugin, "notify", G_CALLBACK (on_plugin_notify), self);
  update_state (self);
  update_switch (self);
  return self;
}

PdDbusPlugin *
pd_app_plugin_row_get_plugin (PdAppPluginRow *self)
{
  return self->plugin;
}

const char *
pd_app_plugin_row_get_name (PdAppPluginRow *self)
{
  return pd_dbus_plugin_get_name (self->plugin);
}
