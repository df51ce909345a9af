/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

/* Shows the page name of stack and hides the others: GTK 4.8 tells assistive technologies
 * nothing of which page a GtkStack shows (every page is "visible", none "showing"), so a
 * screen reader would read the hidden ones too */
void pd_app_stack_show (GtkStack *stack, const char *name);

/* a toast with text (NULL: none) on the overlay above widget; lasting: an error, shown for
 * longer (it is read, not glanced at) */
void pd_app_toast (GtkWidget *widget, const char *text, gboolean lasting);

/* a label for sentences: wrapping, selectable, left-aligned */
GtkWidget *pd_app_sentence_label (const char *text);

/* a button with a mnemonic label ("_Install"); its accessible name is the label without the
 * underline (GTK 4.8 would give "_Install Install") */
GtkWidget *pd_app_button_new (const char *mnemonic);

/* the header bar of a page of the main window: title, and a Back button calling on_back */
GtkWidget *pd_app_page_header_new (const char *title, GCallback on_back, gpointer data);

/* a row of a privilege in plain words, with a warning sign when it is risky */
GtkWidget *pd_app_privilege_row_new (const char *words, gboolean risky);

/* an options a{sv} with "interactive": the session's polkit agent may ask for a password
 * (docs/dbus-api.md, Authorization) */
GVariantBuilder *pd_app_options_new (void);

G_END_DECLS
