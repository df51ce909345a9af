/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small pieces the app's windows share */

#include "config.h"

#include <glib/gi18n.h>

#include "pd-app-widgets.h"

void
pd_app_stack_show (GtkStack *stack, const char *name)
{
  GtkWidget *wanted = gtk_stack_get_child_by_name (stack, name);

  g_return_if_fail (wanted != NULL);
  gtk_widget_set_visible (wanted, TRUE);
  gtk_stack_set_visible_child (stack, wanted);
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (stack)); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (child != wanted)
      gtk_widget_set_visible (child, FALSE);
}

void
pd_app_toast (GtkWidget *widget, const char *text, gboolean lasting)
{
  GtkWidget *overlay = gtk_widget_get_ancestor (widget, ADW_TYPE_TOAST_OVERLAY);
  AdwToast *toast;

  if (text == NULL || overlay == NULL)
    return;
  toast = adw_toast_new (text);
  if (lasting)
    adw_toast_set_timeout (toast, 10);
  adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), toast);
}

GtkWidget *
pd_app_sentence_label (const char *text)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_xalign (GTK_LABEL (label), 0.0);
  gtk_label_set_selectable (GTK_LABEL (label), TRUE);
  return label;
}

GtkWidget *
pd_app_button_new (const char *mnemonic)
{
  GtkWidget *button = gtk_button_new_with_mnemonic (mnemonic);
  g_autoptr(GString) name = g_string_new (NULL);

  for (const char *p = mnemonic; *p != '\0'; p++)
    {
      /* "__" is a literal underline */
      if (*p == '_' && p[1] != '\0')
        p++;
      g_string_append_c (name, *p);
    }
  /* GTK 4.8 names a button by its label property and then its label child, with the
   * underline: the name alone is enough */
  gtk_accessible_reset_relation (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_RELATION_LABELLED_BY);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  name->str, -1);
  return button;
}

GtkWidget *
pd_app_page_header_new (const char *title, GCallback on_back, gpointer data)
{
  GtkWidget *header = adw_header_bar_new ();
  GtkWidget *back = gtk_button_new_from_icon_name ("go-previous-symbolic");

  adw_header_bar_set_title_widget (ADW_HEADER_BAR (header), adw_window_title_new (title, NULL));
  gtk_widget_set_tooltip_text (back, _("Back"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (back), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Back"), -1);
  g_signal_connect_swapped (back, "clicked", on_back, data);
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), back);
  return header;
}

GtkWidget *
pd_app_privilege_row_new (const char *words, gboolean risky)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), words);
  if (risky)
    {
      GtkWidget *icon = gtk_image_new_from_icon_name ("dialog-warning-symbolic");

      gtk_widget_add_css_class (icon, "warning");
      gtk_accessible_update_property (GTK_ACCESSIBLE (icon), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      _("Risky"), -1);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
    }
  return row;
}

GVariantBuilder *
pd_app_options_new (void)
{
  GVariantBuilder *options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);

  g_variant_builder_add (options, "{sv}", "interactive", g_variant_new_boolean (TRUE));
  return options;
}
