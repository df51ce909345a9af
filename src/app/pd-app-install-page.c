/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Installing or upgrading a plugin: the reference → GetPrivileges (the privileges in plain
 * words, the risky ones called out) → consent → Pull or Upgrade bound to that content
 * (expected-digest) with exactly the accepted privileges → the job's progress per layer, with
 * its rate and a cancel button → the result in one sentence. Every value shown comes from the
 * daemon's replies and the Job's properties (PropertiesChanged, at most 4 a second). */

#include "config.h"

#include <glib/gi18n.h>

#include "pd-app-install-page.h"
#include "pd-app-text.h"
#include "pd-app-widgets.h"
#include "pd-names.h"

/* a job may wait for a password dialog: no method call here may time out first */
#define CALL_TIMEOUT_MS (10 * 60 * 1000)

struct _PdAppInstallPage
{
  GtkBox parent_instance;

  PdDbusManager *manager;
  PdDbusPlugin *plugin; /* the one to upgrade, or NULL */
  GCancellable *cancellable;
  GtkStack *stack;

  /* the reference page */
  AdwEntryRow *reference_row;
  AdwEntryRow *name_row;
  GtkWidget *lookup_button;
  GtkLabel *lookup_error;

  /* the consent page */
  GtkLabel *consent_title;
  GtkLabel *consent_intro;
  GtkListBox *privileges_list;
  AdwActionRow *enable_row;
  GtkSwitch *enable_switch;
  GtkWidget *install_button;
  char *remote;
  GVariant *privileges; /* a(ssas), as GetPrivileges returned them */
  char *digest;

  /* the progress page */
  PdDbusJob *job;
  GtkLabel *phase_label;
  GtkProgressBar *progress;
  GtkLabel *bytes_label;
  GtkListBox *layers_list;
  GtkWidget *cancel_button;

  /* the result page */
  AdwStatusPage *result_page;
};

G_DEFINE_FINAL_TYPE (PdAppInstallPage, pd_app_install_page, GTK_TYPE_BOX)

enum
{
  SIGNAL_DONE,
  SIGNAL_CLOSE,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void
show_result (PdAppInstallPage *self, const char *icon, const char *title, const char *sentence)
{
  adw_status_page_set_icon_name (self->result_page, icon);
  adw_status_page_set_title (self->result_page, title);
  adw_status_page_set_description (self->result_page, sentence);
  pd_app_stack_show (self->stack, "result");
}

/* -- the job ------------------------------------------------------------------------------ */

static void
update_layers (PdAppInstallPage *self)
{
  GVariant *layers = pd_dbus_job_get_layers (self->job);
  GtkWidget *child;
  GVariantIter iter;
  const char *digest, *status;
  guint64 current, total;

  /* at most a few dozen layers, at most 4 updates a second: rebuilt each time */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->layers_list))) != NULL)
    gtk_list_box_remove (self->layers_list, child);
  if (layers == NULL)
    return;
  g_variant_iter_init (&iter, layers);
  while (g_variant_iter_next (&iter, "(&s&stt)", &digest, &status, &current, &total))
    {
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *bar = gtk_progress_bar_new ();
      g_autofree char *status_words = pd_app_layer_status (status);
      g_autofree char *bytes = pd_app_bytes_text (current, total, 0);
      g_autofree char *subtitle = g_strdup_printf ("%s — %s", status_words, bytes);
      /* the digest without "sha256:", cut to what people compare */
      const char *hex = strchr (digest, ':') != NULL ? strchr (digest, ':') + 1 : digest;
      g_autofree char *title = g_strdup_printf (_("Layer %.12s"), hex);

      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (bar),
                                     total > 0 ? CLAMP ((double) current / total, 0.0, 1.0)
                                               : 0.0);
      gtk_widget_set_valign (bar, GTK_ALIGN_CENTER);
      gtk_widget_set_size_request (bar, 120, -1);
      gtk_accessible_update_property (GTK_ACCESSIBLE (bar), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      title, -1);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), bar);
      gtk_list_box_append (self->layers_list, row);
    }
}

static void
finish_job (PdAppInstallPage *self)
{
  const char *result = pd_dbus_job_get_result (self->job);
  GVariant *results = pd_dbus_job_get_results (self->job);
  const char *path = NULL;

  if (g_strcmp0 (result, "done") == 0)
    {
      if (results != NULL)
        g_variant_lookup (results, "plugin", "&o", &path);
      if (path == NULL)
        path = pd_dbus_job_get_plugin (self->job);
      show_result (self, "emblem-ok-symbolic",
                   self->plugin != NULL ? _("Upgraded") : _("Installed"),
                   pd_dbus_job_get_plugin_name (self->job));
      g_signal_emit (self, signals[SIGNAL_DONE], 0, path);
    }
  else if (g_strcmp0 (result, "cancelled") == 0)
    show_result (self, "process-stop-symbolic", _("Cancelled"),
                 self->plugin != NULL ? _("The plugin was not upgraded; nothing changed.")
                                      : _("The plugin was not installed; nothing changed."));
  else
    /* the daemon's message is the sentence (docs/dbus-api.md, Errors) */
    show_result (self, "dialog-error-symbolic",
                 self->plugin != NULL ? _("Upgrade Failed") : _("Installation Failed"),
                 pd_dbus_job_get_error_message (self->job));
}

static void
update_job (PdAppInstallPage *self)
{
  g_autofree char *phase = pd_app_phase_words (pd_dbus_job_get_phase (self->job));
  guint64 done = pd_dbus_job_get_bytes_done (self->job);
  guint64 total = pd_dbus_job_get_bytes_total (self->job);
  g_autofree char *bytes = pd_app_bytes_text (done, total, pd_dbus_job_get_rate (self->job));

  if (g_strcmp0 (pd_dbus_job_get_state (self->job), "finished") == 0)
    {
      finish_job (self);
      return;
    }
  gtk_label_set_text (self->phase_label, phase);
  gtk_label_set_text (self->bytes_label, bytes);
  if (pd_dbus_job_get_progress_valid (self->job))
    gtk_progress_bar_set_fraction (self->progress,
                                   CLAMP (pd_dbus_job_get_progress (self->job), 0.0, 1.0));
  else
    gtk_progress_bar_pulse (self->progress);
  gtk_widget_set_sensitive (self->cancel_button, pd_dbus_job_get_cancellable (self->job));
  update_layers (self);
}

static void
on_job_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  update_job (PD_APP_INSTALL_PAGE (user_data));
}

static void
on_job_proxy (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  PdDbusJob *job = pd_dbus_job_proxy_new_finish (result, &error);
  PdAppInstallPage *self;

  if (job == NULL)
    {
      g_autofree char *sentence = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      self = PD_APP_INSTALL_PAGE (user_data);
      sentence = pd_app_error_sentence (error);
      show_result (self, "dialog-error-symbolic", _("Installation Failed"), sentence);
      return;
    }
  self = PD_APP_INSTALL_PAGE (user_data);
  self->job = job;
  g_signal_connect_object (job, "notify", G_CALLBACK (on_job_notify), self, 0);
  update_job (self);
}

static void
on_job_started (PdAppInstallPage *self, const char *job_path)
{
  GDBusConnection *bus = g_dbus_proxy_get_connection (G_DBUS_PROXY (self->manager));

  pd_app_stack_show (self->stack, "progress");
  gtk_label_set_text (self->phase_label, _("Starting…"));
  pd_dbus_job_proxy_new (bus, G_DBUS_PROXY_FLAGS_NONE, PD_DBUS_NAME, job_path,
                         self->cancellable, on_job_proxy, self);
}

static void
on_cancel_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!pd_dbus_job_call_cancel_finish (PD_DBUS_JOB (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_autofree char *sentence = pd_app_error_sentence (error);

      pd_app_toast (GTK_WIDGET (user_data), sentence, TRUE);
    }
}

static void
on_cancel_clicked (GtkButton *button, gpointer user_data)
{
  PdAppInstallPage *self = user_data;
  g_autoptr(GVariantBuilder) options = pd_app_options_new ();

  if (self->job == NULL)
    return;
  gtk_widget_set_sensitive (self->cancel_button, FALSE);
  pd_dbus_job_call_cancel (self->job, g_variant_builder_end (options), self->cancellable,
                           on_cancel_done, self);
}

/* -- consent → the call ------------------------------------------------------------------- */

static void
on_install_call_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *job_path = NULL;
  PdAppInstallPage *self;
  gboolean ok;

  if (PD_DBUS_IS_PLUGIN (source))
    ok = pd_dbus_plugin_call_upgrade_finish (PD_DBUS_PLUGIN (source), &job_path, result, &error);
  else
    ok = pd_dbus_manager_call_pull_finish (PD_DBUS_MANAGER (source), &job_path, result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = PD_APP_INSTALL_PAGE (user_data);
  gtk_widget_set_sensitive (self->install_button, TRUE);
  if (!ok)
    {
      g_autofree char *sentence = pd_app_error_sentence (error);

      /* dismissed: back to the question, silently */
      if (sentence != NULL)
        show_result (self, "dialog-error-symbolic",
                     self->plugin != NULL ? _("Upgrade Failed") : _("Installation Failed"),
                     sentence);
      return;
    }
  on_job_started (self, job_path);
}

static void
on_install_clicked (GtkButton *button, gpointer user_data)
{
  PdAppInstallPage *self = user_data;
  g_autoptr(GVariantBuilder) options = pd_app_options_new ();

  /* the content the user saw the privileges of, and nothing else */
  g_variant_builder_add (options, "{sv}", "expected-digest", g_variant_new_string (self->digest));
  gtk_widget_set_sensitive (self->install_button, FALSE);
  if (self->plugin != NULL)
    {
      /* a running plugin is stopped for the swap and started again */
      if (pd_dbus_plugin_get_enabled (self->plugin))
        g_variant_builder_add (options, "{sv}", "restart", g_variant_new_boolean (TRUE));
      pd_dbus_plugin_call_upgrade (self->plugin, self->remote, self->privileges,
                                   g_variant_builder_end (options), self->cancellable,
                                   on_install_call_done, self);
    }
  else
    {
      if (gtk_switch_get_active (self->enable_switch))
        g_variant_builder_add (options, "{sv}", "enable", g_variant_new_boolean (TRUE));
      pd_dbus_manager_call_pull (self->manager, self->remote,
                                 gtk_editable_get_text (GTK_EDITABLE (self->name_row)),
                                 self->privileges, g_variant_builder_end (options),
                                 self->cancellable, on_install_call_done, self);
    }
}

/* -- reference → privileges --------------------------------------------------------------- */

static void
show_privileges (PdAppInstallPage *self, GVariant *info)
{
  GtkWidget *child;
  GVariantIter iter;
  const char *name, *description;
  g_autofree const char **values = NULL;
  const char *reference = NULL;
  g_autofree char *title = NULL;
  gboolean any_risky = FALSE;
  gsize n = g_variant_n_children (self->privileges);

  g_variant_lookup (info, "reference", "&s", &reference);
  title = g_strdup_printf (self->plugin != NULL ? _("Upgrade to %s?") : _("Install %s?"),
                           reference != NULL ? reference : self->remote);
  gtk_label_set_text (self->consent_title, title);

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->privileges_list))) != NULL)
    gtk_list_box_remove (self->privileges_list, child);
  g_variant_iter_init (&iter, self->privileges);
  while (g_variant_iter_next (&iter, "(&s&s^a&s)", &name, &description, &values))
    {
      gboolean risky = FALSE;
      g_autofree char *words = pd_app_privilege_words (name, values, &risky);
      GtkWidget *row = pd_app_privilege_row_new (words, risky);

      if (risky)
        {
          adw_action_row_set_subtitle (ADW_ACTION_ROW (row),
                                       _("Risky: this reaches beyond the plugin’s own files"));
          any_risky = TRUE;
        }
      gtk_list_box_append (self->privileges_list, row);
      g_clear_pointer (&values, g_free);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->privileges_list), n > 0);
  if (n == 0)
    gtk_label_set_text (self->consent_intro,
                        _("This plugin asks for no access to this computer beyond its own files."));
  else if (any_risky)
    gtk_label_set_text (self->consent_intro,
                        _("This plugin asks for access to this computer. Install it only if "
                          "you trust its publisher with what is marked risky."));
  else
    gtk_label_set_text (self->consent_intro, _("This plugin asks for:"));
  gtk_widget_remove_css_class (self->install_button,
                               any_risky ? "suggested-action" : "destructive-action");
  gtk_widget_add_css_class (self->install_button,
                            any_risky ? "destructive-action" : "suggested-action");
  gtk_button_set_label (GTK_BUTTON (self->install_button),
                        self->plugin != NULL ? _("_Upgrade") : _("_Install"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->install_button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  self->plugin != NULL ? _("Upgrade") : _("Install"), -1);
  pd_app_stack_show (self->stack, "consent");
}

static void
on_privileges (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) privileges = NULL;
  g_autoptr(GVariant) info = NULL;
  PdAppInstallPage *self;
  const char *digest = NULL;

  if (!pd_dbus_manager_call_get_privileges_finish (PD_DBUS_MANAGER (source), &privileges, &info,
                                                   result, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = PD_APP_INSTALL_PAGE (user_data);
  gtk_widget_set_sensitive (self->lookup_button, TRUE);
  if (error != NULL)
    {
      g_autofree char *sentence = pd_app_error_sentence (error);

      gtk_label_set_text (self->lookup_error, sentence != NULL ? sentence : "");
      gtk_widget_set_visible (GTK_WIDGET (self->lookup_error), sentence != NULL);
      return;
    }
  g_variant_lookup (info, "manifest-digest", "&s", &digest);
  g_clear_pointer (&self->privileges, g_variant_unref);
  g_clear_pointer (&self->digest, g_free);
  self->privileges = g_variant_ref (privileges);
  self->digest = g_strdup (digest != NULL ? digest : "");
  show_privileges (self, info);
}

static void
on_lookup (PdAppInstallPage *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->reference_row));
  g_autoptr(GVariantBuilder) options = pd_app_options_new ();

  g_free (self->remote);
  self->remote = g_strstrip (g_strdup (text));
  if (self->remote[0] == '\0')
    {
      gtk_label_set_text (self->lookup_error, _("Enter the plugin’s name in its registry."));
      gtk_widget_set_visible (GTK_WIDGET (self->lookup_error), TRUE);
      return;
    }
  gtk_widget_set_visible (GTK_WIDGET (self->lookup_error), FALSE);
  gtk_widget_set_sensitive (self->lookup_button, FALSE);
  /* one password for the lookup and the call after it, where one is asked for
   * (docs/dbus-api.md, Authorization) */
  g_variant_builder_add (options, "{sv}", "authorize",
                         g_variant_new_string (self->plugin != NULL ? "upgrade" : "install"));
  if (self->plugin != NULL)
    g_variant_builder_add (options, "{sv}", "upgrade",
                           g_variant_new_string (pd_dbus_plugin_get_id (self->plugin)));
  pd_dbus_manager_call_get_privileges (self->manager, self->remote,
                                       g_variant_builder_end (options), self->cancellable,
                                       on_privileges, self);
}

static void
on_lookup_clicked (GtkButton *button, gpointer user_data)
{
  on_lookup (PD_APP_INSTALL_PAGE (user_data));
}

static void
on_entry_activated (AdwEntryRow *row, gpointer user_data)
{
  on_lookup (PD_APP_INSTALL_PAGE (user_data));
}

static void
on_close_clicked (PdAppInstallPage *self)
{
  g_signal_emit (self, signals[SIGNAL_CLOSE], 0);
}

static void
on_back_clicked (GtkButton *button, gpointer user_data)
{
  PdAppInstallPage *self = user_data;

  pd_app_stack_show (self->stack, "reference");
}

/* -- building ----------------------------------------------------------------------------- */

static GtkWidget *
page_box (void)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 18);

  gtk_widget_set_margin_top (box, 18);
  gtk_widget_set_margin_bottom (box, 18);
  gtk_widget_set_margin_start (box, 18);
  gtk_widget_set_margin_end (box, 18);
  return box;
}

static GtkWidget *
button_bar (GtkWidget *first, GtkWidget *second)
{
  GtkWidget *bar = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);

  gtk_widget_set_halign (bar, GTK_ALIGN_END);
  gtk_widget_set_valign (bar, GTK_ALIGN_END);
  gtk_widget_set_vexpand (bar, TRUE);
  if (first != NULL)
    gtk_box_append (GTK_BOX (bar), first);
  if (second != NULL)
    gtk_box_append (GTK_BOX (bar), second);
  return bar;
}

static GtkWidget *
boxed_list (const char *accessible_name)
{
  GtkWidget *list = gtk_list_box_new ();

  gtk_list_box_set_selection_mode (GTK_LIST_BOX (list), GTK_SELECTION_NONE);
  gtk_widget_add_css_class (list, "boxed-list");
  gtk_accessible_update_property (GTK_ACCESSIBLE (list), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  accessible_name, -1);
  return list;
}

static GtkWidget *
build_reference_page (PdAppInstallPage *self)
{
  GtkWidget *box = page_box ();
  GtkWidget *list = boxed_list (_("Plugin"));
  GtkWidget *cancel = pd_app_button_new (_("_Cancel"));

  gtk_box_append (GTK_BOX (box),
                  pd_app_sentence_label (
                    self->plugin != NULL
                      ? _("Upgrade to the version its registry has now, or name another one.")
                      : _("Name the plugin as in its registry, e.g. vieux/sshfs or "
                          "registry.example.com:5000/team/plugin:1.2.")));
  self->reference_row = ADW_ENTRY_ROW (adw_entry_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->reference_row), _("Plugin reference"));
  g_signal_connect (self->reference_row, "entry-activated", G_CALLBACK (on_entry_activated),
                    self);
  adw_entry_row_set_activates_default (self->reference_row, FALSE);
  gtk_list_box_append (GTK_LIST_BOX (list), GTK_WIDGET (self->reference_row));
  self->name_row = ADW_ENTRY_ROW (adw_entry_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->name_row),
                                 _("Local name (optional)"));
  gtk_widget_set_visible (GTK_WIDGET (self->name_row), self->plugin == NULL);
  gtk_list_box_append (GTK_LIST_BOX (list), GTK_WIDGET (self->name_row));
  gtk_box_append (GTK_BOX (box), list);

  self->lookup_error = GTK_LABEL (pd_app_sentence_label (NULL));
  gtk_widget_add_css_class (GTK_WIDGET (self->lookup_error), "error");
  gtk_widget_set_visible (GTK_WIDGET (self->lookup_error), FALSE);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->lookup_error));

  self->lookup_button = pd_app_button_new (_("_Look Up"));
  gtk_widget_add_css_class (self->lookup_button, "suggested-action");
  g_signal_connect (self->lookup_button, "clicked", G_CALLBACK (on_lookup_clicked), self);
  g_signal_connect_swapped (cancel, "clicked", G_CALLBACK (on_close_clicked), self);
  gtk_box_append (GTK_BOX (box), button_bar (cancel, self->lookup_button));
  return box;
}

static GtkWidget *
build_consent_page (PdAppInstallPage *self)
{
  GtkWidget *box = page_box ();
  GtkWidget *back = pd_app_button_new (_("_Back"));
  GtkWidget *options = boxed_list (_("Options"));

  self->consent_title = GTK_LABEL (pd_app_sentence_label (NULL));
  /* not selectable: a selectable label takes the focus first, all of it selected */
  gtk_label_set_selectable (self->consent_title, FALSE);
  gtk_widget_add_css_class (GTK_WIDGET (self->consent_title), "title-2");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->consent_title));
  self->consent_intro = GTK_LABEL (pd_app_sentence_label (NULL));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->consent_intro));
  self->privileges_list = GTK_LIST_BOX (boxed_list (_("Privileges")));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->privileges_list));

  self->enable_row = ADW_ACTION_ROW (adw_action_row_new ());
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->enable_row),
                                 _("Start it after installing"));
  self->enable_switch = GTK_SWITCH (gtk_switch_new ());
  gtk_switch_set_active (self->enable_switch, TRUE);
  gtk_widget_set_valign (GTK_WIDGET (self->enable_switch), GTK_ALIGN_CENTER);
  adw_action_row_add_suffix (self->enable_row, GTK_WIDGET (self->enable_switch));
  /* which also names the switch by the row's title */
  adw_action_row_set_activatable_widget (self->enable_row, GTK_WIDGET (self->enable_switch));
  gtk_list_box_append (GTK_LIST_BOX (options), GTK_WIDGET (self->enable_row));
  gtk_widget_set_visible (options, self->plugin == NULL);
  gtk_box_append (GTK_BOX (box), options);

  self->install_button = pd_app_button_new (_("_Install"));
  gtk_button_set_use_underline (GTK_BUTTON (self->install_button), TRUE);
  g_signal_connect (self->install_button, "clicked", G_CALLBACK (on_install_clicked), self);
  g_signal_connect (back, "clicked", G_CALLBACK (on_back_clicked), self);
  gtk_box_append (GTK_BOX (box), button_bar (back, self->install_button));
  return box;
}

static GtkWidget *
build_progress_page (PdAppInstallPage *self)
{
  GtkWidget *box = page_box ();
  GtkWidget *scrolled = gtk_scrolled_window_new ();

  self->phase_label = GTK_LABEL (pd_app_sentence_label (NULL));
  gtk_label_set_selectable (self->phase_label, FALSE);
  gtk_widget_add_css_class (GTK_WIDGET (self->phase_label), "heading");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->phase_label));
  self->progress = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->progress), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Progress"), -1);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->progress));
  self->bytes_label = GTK_LABEL (pd_app_sentence_label (NULL));
  gtk_label_set_selectable (self->bytes_label, FALSE);
  gtk_widget_add_css_class (GTK_WIDGET (self->bytes_label), "dim-label");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->bytes_label));

  self->layers_list = GTK_LIST_BOX (boxed_list (_("Layers")));
  gtk_widget_set_valign (GTK_WIDGET (self->layers_list), GTK_ALIGN_START);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), GTK_WIDGET (self->layers_list));
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scrolled), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_box_append (GTK_BOX (box), scrolled);

  self->cancel_button = pd_app_button_new (_("_Cancel"));
  gtk_widget_set_sensitive (self->cancel_button, FALSE);
  g_signal_connect (self->cancel_button, "clicked", G_CALLBACK (on_cancel_clicked), self);
  gtk_box_append (GTK_BOX (box), button_bar (NULL, self->cancel_button));
  return box;
}

static GtkWidget *
build_result_page (PdAppInstallPage *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *close = pd_app_button_new (_("_Done"));

  self->result_page = ADW_STATUS_PAGE (adw_status_page_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->result_page), TRUE);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->result_page));
  gtk_widget_add_css_class (close, "pill");
  gtk_widget_set_halign (close, GTK_ALIGN_CENTER);
  gtk_widget_set_margin_bottom (close, 18);
  g_signal_connect_swapped (close, "clicked", G_CALLBACK (on_close_clicked), self);
  gtk_box_append (GTK_BOX (box), close);
  return box;
}

static void
pd_app_install_page_dispose (GObject *object)
{
  PdAppInstallPage *self = PD_APP_INSTALL_PAGE (object);

  /* a job goes on without the page; only the page's calls end */
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->manager);
  g_clear_object (&self->plugin);
  g_clear_object (&self->job);
  g_clear_pointer (&self->privileges, g_variant_unref);
  g_clear_pointer (&self->remote, g_free);
  g_clear_pointer (&self->digest, g_free);
  G_OBJECT_CLASS (pd_app_install_page_parent_class)->dispose (object);
}

static void
pd_app_install_page_class_init (PdAppInstallPageClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pd_app_install_page_dispose;
  signals[SIGNAL_DONE] = g_signal_new ("done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_CLOSE] = g_signal_new ("close", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
pd_app_install_page_init (PdAppInstallPage *self)
{
  self->cancellable = g_cancellable_new ();
}

PdAppInstallPage *
pd_app_install_page_new (PdDbusManager *manager, PdDbusPlugin *plugin)
{
  PdAppInstallPage *self = g_object_new (PD_APP_TYPE_INSTALL_PAGE, "orientation",
                                         GTK_ORIENTATION_VERTICAL, NULL);
  GtkWidget *clamp = adw_clamp_new ();
  g_autofree char *title = NULL;

  self->manager = g_object_ref (manager);
  self->plugin = plugin != NULL ? g_object_ref (plugin) : NULL;
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (manager), CALL_TIMEOUT_MS);
  if (plugin != NULL)
    /* TRANSLATORS: the title of the upgrade page; %s is the plugin's name */
    title = g_strdup_printf (_("Upgrade %s"), pd_dbus_plugin_get_name (plugin));
  else
    title = g_strdup (_("Install a Plugin"));
  gtk_box_append (GTK_BOX (self),
                  pd_app_page_header_new (title, G_CALLBACK (on_close_clicked), self));

  self->stack = GTK_STACK (gtk_stack_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->stack), TRUE);
  gtk_stack_add_named (self->stack, build_reference_page (self), "reference");
  gtk_stack_add_named (self->stack, build_consent_page (self), "consent");
  gtk_stack_add_named (self->stack, build_progress_page (self), "progress");
  gtk_stack_add_named (self->stack, build_result_page (self), "result");
  pd_app_stack_show (self->stack, "reference");
  adw_clamp_set_child (ADW_CLAMP (clamp), GTK_WIDGET (self->stack));
  gtk_box_append (GTK_BOX (self), clamp);

  if (plugin != NULL)
    gtk_editable_set_text (GTK_EDITABLE (self->reference_row),
                           pd_dbus_plugin_get_reference (plugin));
  return self;
}

/* the field to type in, once the page is shown */
void
pd_app_install_page_focus (PdAppInstallPage *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->reference_row));
}
