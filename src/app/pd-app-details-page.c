/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One plugin's page: its state and reason, the privileges granted, a form for each settable
 * setting (env value, mount source with a folder chooser, device path, args) checked with
 * Set's validate-only as it is typed and applied in one Set, the values hidden until the user
 * asks for them (GetSettingValues, which polkit may refuse), its holders, its log followed
 * (OpenLog), and Upgrade and Remove. Everything shown comes from the proxy's properties and the
 * replies. */

#include "config.h"

#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>

#include "pd-app-details-page.h"
#include "pd-app-text.h"
#include "pd-app-widgets.h"

/* lines the log view keeps; older ones go */
#define LOG_MAX_LINES 2000

typedef struct
{
  char *name;
  char *kind;    /* "env", "args", "mount" or "device" */
  char *original; /* what the daemon has; "" for hidden env values and args */
  AdwEntryRow *row;
  gboolean known; /* original is the real value (not hidden) */
} Field;

struct _PdAppDetailsPage
{
  GtkBox parent_instance;

  PdDbusPlugin *plugin;
  GCancellable *cancellable;
  GCancellable *validation;

  AdwActionRow *state_row;
  AdwActionRow *reference_row;
  AdwPreferencesGroup *privileges_group;
  GPtrArray *privilege_rows;
  AdwPreferencesGroup *settings_group;
  GPtrArray *fields; /* Field */
  GtkLabel *settings_error;
  GtkWidget *apply_button;
  GtkWidget *show_values_button;
  AdwPreferencesGroup *holders_group;
  GPtrArray *holder_rows;
  GtkWidget *log_button;
  GtkWidget *log_frame;
  GtkTextView *log_view;
  GCancellable *log_cancellable;
  GDataInputStream *log_stream;
};

G_DEFINE_FINAL_TYPE (PdAppDetailsPage, pd_app_details_page, GTK_TYPE_BOX)

enum
{
  SIGNAL_CLOSE,
  SIGNAL_UPGRADE,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

/* a call may wait for a password dialog, and Remove for the plugin to stop */
#define CALL_TIMEOUT_MS (10 * 60 * 1000)

static void
field_free (gpointer data)
{
  Field *field = data;

  g_free (field->name);
  g_free (field->kind);
  g_free (field->original);
  g_free (field);
}

static void
toast_error (PdAppDetailsPage *self, const GError *error)
{
  g_autofree char *sentence = pd_app_error_sentence (error);

  pd_app_toast (GTK_WIDGET (self), sentence, TRUE);
}

static gboolean
is_cancelled (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* rows of a group made again from scratch: remove the old ones */
static void
clear_rows (AdwPreferencesGroup *group, GPtrArray *rows)
{
  for (guint i = 0; i < rows->len; i++)
    adw_preferences_group_remove (group, rows->pdata[i]);
  g_ptr_array_set_size (rows, 0);
}

static GtkWidget *
text_row (const char *title, const char *subtitle)
{
  GtkWidget *row = adw_action_row_new ();

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  if (subtitle != NULL)
    adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  return row;
}

/* -- status, privileges, holders ---------------------------------------------------------- */

static void
update_state (PdAppDetailsPage *self)
{
  g_autofree char *label = pd_app_state_label (pd_dbus_plugin_get_state (self->plugin));
  const char *reason = pd_dbus_plugin_get_last_error_message (self->plugin);
  const char *state = pd_dbus_plugin_get_state (self->plugin);
  gboolean trouble = g_strcmp0 (state, "failed") == 0 || g_strcmp0 (state, "restarting") == 0;

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->state_row), label);
  adw_action_row_set_subtitle (self->state_row, trouble && reason != NULL ? reason : "");
  adw_action_row_set_subtitle (self->reference_row, pd_dbus_plugin_get_reference (self->plugin));
}

static void
update_privileges (PdAppDetailsPage *self)
{
  GVariant *privileges = pd_dbus_plugin_get_privileges (self->plugin);
  GVariantIter iter;
  const char *name, *description;
  g_autofree const char **values = NULL;

  clear_rows (self->privileges_group, self->privilege_rows);
  if (privileges == NULL || g_variant_n_children (privileges) == 0)
    {
      GtkWidget *row = text_row (_("No access to this computer beyond its own files"), NULL);

      adw_preferences_group_add (self->privileges_group, row);
      g_ptr_array_add (self->privilege_rows, row);
      return;
    }
  g_variant_iter_init (&iter, privileges);
  while (g_variant_iter_next (&iter, "(&s&s^a&s)", &name, &description, &values))
    {
      gboolean risky = FALSE;
      g_autofree char *words = pd_app_privilege_words (name, values, &risky);
      GtkWidget *row = pd_app_privilege_row_new (words, risky);

      adw_preferences_group_add (self->privileges_group, row);
      g_ptr_array_add (self->privilege_rows, row);
      g_clear_pointer (&values, g_free);
    }
}

static void
update_holders (PdAppDetailsPage *self)
{
  GVariant *holders = pd_dbus_plugin_get_holders (self->plugin);
  GVariantIter iter;
  const char *who, *why;
  guint32 uid, pid;

  clear_rows (self->holders_group, self->holder_rows);
  if (holders == NULL || g_variant_n_children (holders) == 0)
    {
      GtkWidget *row = text_row (_("Nothing holds it: it may be stopped and removed"), NULL);

      adw_preferences_group_add (self->holders_group, row);
      g_ptr_array_add (self->holder_rows, row);
      return;
    }
  g_variant_iter_init (&iter, holders);
  while (g_variant_iter_next (&iter, "(&s&suu)", &who, &why, &uid, &pid))
    {
      GtkWidget *row = text_row (who, why);

      adw_preferences_group_add (self->holders_group, row);
      g_ptr_array_add (self->holder_rows, row);
    }
}

/* -- the settings form -------------------------------------------------------------------- */

static void on_field_changed (GtkEditable *editable, gpointer user_data);

/* the value, or that it is hidden, as the field's accessible description: GTK 4.8 gives
 * assistive technologies no text of an entry */
static void
describe_field (Field *field)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (field->row));

  gtk_accessible_update_property (GTK_ACCESSIBLE (field->row),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  !field->known && text[0] == '\0' ? _("Value hidden") : text,
                                  -1);
}

/* the pairs for Set: the fields whose text differs from what the daemon has (a hidden value
 * counts as changed once typed in) */
static GVariant *
changed_pairs (PdAppDetailsPage *self, guint *n_pairs)
{
  GVariantBuilder pairs;

  *n_pairs = 0;
  g_variant_builder_init (&pairs, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = 0; i < self->fields->len; i++)
    {
      Field *field = self->fields->pdata[i];
      const char *text = gtk_editable_get_text (GTK_EDITABLE (field->row));
      g_autofree char *key = NULL;

      if (g_strcmp0 (text, field->original) == 0 && (field->known || text[0] == '\0'))
        continue;
      /* Docker's grammar (docs/dbus-api.md): NAME for env vars and args, NAME.source for a
       * mount, NAME.path for a device */
      if (g_strcmp0 (field->kind, "mount") == 0)
        key = g_strconcat (field->name, ".source", NULL);
      else if (g_strcmp0 (field->kind, "device") == 0)
        key = g_strconcat (field->name, ".path", NULL);
      else
        key = g_strdup (field->name);
      g_variant_builder_add (&pairs, "(ss)", key, text);
      (*n_pairs)++;
    }
  return g_variant_builder_end (&pairs);
}

static void
show_settings_error (PdAppDetailsPage *self, const char *sentence)
{
  gtk_label_set_text (self->settings_error, sentence != NULL ? sentence : "");
  gtk_widget_set_visible (GTK_WIDGET (self->settings_error), sentence != NULL);
}

/* the end of a Set call: NULL when it was cancelled (the page may be gone), else the page with
 * the error, if any, in one sentence under the form; ok: whether it succeeded */
static PdAppDetailsPage *
finish_set (GObject *source, GAsyncResult *result, gpointer user_data, gboolean *ok)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sentence = NULL;
  PdAppDetailsPage *self;

  *ok = pd_dbus_plugin_call_set_finish (PD_DBUS_PLUGIN (source), result, &error);
  if (!*ok && is_cancelled (error))
    return NULL;
  self = PD_APP_DETAILS_PAGE (user_data);
  /* dismissed: nothing to say, the form stays as it is */
  sentence = *ok ? NULL : pd_app_error_sentence (error);
  show_settings_error (self, sentence);
  return self;
}

static void
on_validated (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean ok;
  PdAppDetailsPage *self = finish_set (source, result, user_data, &ok);

  if (self != NULL)
    gtk_widget_set_sensitive (self->apply_button, ok);
}

/* what Set would say, asked with validate-only (no password, nothing saved) at every change */
static void
validate (PdAppDetailsPage *self)
{
  g_autoptr(GVariantBuilder) options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  guint n_pairs;
  GVariant *pairs = changed_pairs (self, &n_pairs);

  if (self->validation != NULL)
    g_cancellable_cancel (self->validation);
  g_clear_object (&self->validation);
  gtk_widget_set_sensitive (self->apply_button, FALSE);
  if (n_pairs == 0)
    {
      g_variant_unref (g_variant_ref_sink (pairs));
      show_settings_error (self, NULL);
      return;
    }
  self->validation = g_cancellable_new ();
  g_variant_builder_add (options, "{sv}", "validate-only", g_variant_new_boolean (TRUE));
  pd_dbus_plugin_call_set (self->plugin, pairs, g_variant_builder_end (options),
                           self->validation, on_validated, self);
}

static void
on_field_changed (GtkEditable *editable, gpointer user_data)
{
  PdAppDetailsPage *self = PD_APP_DETAILS_PAGE (user_data);

  for (guint i = 0; i < self->fields->len; i++)
    if (((Field *) self->fields->pdata[i])->row == ADW_ENTRY_ROW (editable))
      describe_field (self->fields->pdata[i]);
  validate (self);
}

static void
set_field_text (PdAppDetailsPage *self, Field *field, const char *text, gboolean known)
{
  g_signal_handlers_block_by_func (field->row, on_field_changed, self);
  gtk_editable_set_text (GTK_EDITABLE (field->row), text);
  g_signal_handlers_unblock_by_func (field->row, on_field_changed, self);
  g_free (field->original);
  field->original = g_strdup (text);
  field->known = known;
  describe_field (field);
}

static void
on_folder_chosen (GtkNativeDialog *dialog, int response, gpointer user_data)
{
  AdwEntryRow *row = ADW_ENTRY_ROW (user_data);

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = folder != NULL ? g_file_get_path (folder) : NULL;

      if (path != NULL)
        gtk_editable_set_text (GTK_EDITABLE (row), path);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
  g_object_unref (row);
}

static void
on_choose_folder (GtkButton *button, gpointer user_data)
{
  AdwEntryRow *row = ADW_ENTRY_ROW (user_data);
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (button));
  GtkFileChooserNative *dialog;

  dialog = gtk_file_chooser_native_new (_("Choose a Folder"), GTK_WINDOW (root),
                                        GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Choose"),
                                        _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (on_folder_chosen), g_object_ref (row));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
build_settings (PdAppDetailsPage *self)
{
  GVariant *settings = pd_dbus_plugin_get_settings (self->plugin);
  GVariantIter iter;
  const char *name, *kind, *description, *value;
  gboolean settable;

  if (settings == NULL)
    return;
  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "(&s&s&s&sb)", &name, &kind, &description, &value,
                              &settable))
    {
      Field *field;
      g_autofree char *title = NULL;
      gboolean hidden = g_strcmp0 (kind, "env") == 0 || g_strcmp0 (kind, "args") == 0;

      if (!settable)
        continue;
      field = g_new0 (Field, 1);
      field->name = g_strdup (name);
      field->kind = g_strdup (kind);
      field->row = ADW_ENTRY_ROW (adw_entry_row_new ());
      /* the name as the config has it, then what it is for */
      title = description[0] != '\0' ? g_strdup_printf ("%s — %s", name, description)
                                     : g_strdup (name);
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (field->row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (field->row), title);
      set_field_text (self, field, hidden ? "" : value, !hidden);
      if (g_strcmp0 (kind, "mount") == 0)
        {
          GtkWidget *choose = gtk_button_new_from_icon_name ("folder-open-symbolic");
          /* TRANSLATORS: the accessible name of a button; %s is a setting's name */
          g_autofree char *choose_name = g_strdup_printf (_("Choose a folder for %s"), name);

          gtk_widget_set_valign (choose, GTK_ALIGN_CENTER);
          gtk_widget_add_css_class (choose, "flat");
          gtk_widget_set_tooltip_text (choose, _("Choose a Folder"));
          gtk_accessible_update_property (GTK_ACCESSIBLE (choose), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                          choose_name, -1);
          g_signal_connect (choose, "clicked", G_CALLBACK (on_choose_folder), field->row);
          adw_entry_row_add_suffix (field->row, choose);
        }
      g_signal_connect (field->row, "changed", G_CALLBACK (on_field_changed), self);
      adw_preferences_group_add (self->settings_group, GTK_WIDGET (field->row));
      g_ptr_array_add (self->fields, field);
    }
}

static void
update_form_sensitivity (PdAppDetailsPage *self)
{
  gboolean enabled = pd_dbus_plugin_get_enabled (self->plugin);

  for (guint i = 0; i < self->fields->len; i++)
    gtk_widget_set_sensitive (GTK_WIDGET (((Field *) self->fields->pdata[i])->row), !enabled);
  adw_preferences_group_set_description (
    self->settings_group,
    enabled ? _("Turn the plugin off to change its settings.")
            : _("Values of environment variables and arguments are hidden: “Show Values” asks "
                "for permission to read them. A field left alone keeps its value."));
}

static void
on_values (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = NULL;
  g_auto(GStrv) args = NULL;
  PdAppDetailsPage *self;

  if (!pd_dbus_plugin_call_get_setting_values_finish (PD_DBUS_PLUGIN (source), &env, &args,
                                                      result, &error) &&
      is_cancelled (error))
    return;
  self = PD_APP_DETAILS_PAGE (user_data);
  gtk_widget_set_sensitive (self->show_values_button, TRUE);
  if (error != NULL)
    {
      toast_error (self, error);
      return;
    }
  for (guint i = 0; i < self->fields->len; i++)
    {
      Field *field = self->fields->pdata[i];

      if (g_strcmp0 (field->kind, "args") == 0)
        {
          g_autofree char *joined = g_strjoinv (" ", args);

          set_field_text (self, field, joined, TRUE);
        }
      else if (g_strcmp0 (field->kind, "env") == 0)
        for (guint j = 0; env[j] != NULL; j++)
          {
            gsize len = strlen (field->name);

            if (strncmp (env[j], field->name, len) == 0 && env[j][len] == '=')
              set_field_text (self, field, env[j] + len + 1, TRUE);
          }
    }
  gtk_widget_set_visible (self->show_values_button, FALSE);
  validate (self);
}

static void
on_show_values (GtkButton *button, gpointer user_data)
{
  PdAppDetailsPage *self = user_data;
  g_autoptr(GVariantBuilder) options = pd_app_options_new ();

  gtk_widget_set_sensitive (self->show_values_button, FALSE);
  pd_dbus_plugin_call_get_setting_values (self->plugin, g_variant_builder_end (options),
                                          self->cancellable, on_values, self);
}

static void
on_applied (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean ok;
  PdAppDetailsPage *self = finish_set (source, result, user_data, &ok);

  if (self == NULL)
    return;
  if (!ok)
    {
      gtk_widget_set_sensitive (self->apply_button, TRUE);
      return;
    }
  for (guint i = 0; i < self->fields->len; i++)
    {
      Field *field = self->fields->pdata[i];
      const char *text = gtk_editable_get_text (GTK_EDITABLE (field->row));

      if (g_strcmp0 (text, field->original) != 0)
        {
          g_autofree char *copy = g_strdup (text);

          set_field_text (self, field, copy, TRUE);
        }
    }
  pd_app_toast (GTK_WIDGET (self), _("Settings saved"), FALSE);
}

static void
on_apply (GtkButton *button, gpointer user_data)
{
  PdAppDetailsPage *self = user_data;
  g_autoptr(GVariantBuilder) options = pd_app_options_new ();
  guint n_pairs;
  GVariant *pairs = changed_pairs (self, &n_pairs);

  gtk_widget_set_sensitive (self->apply_button, FALSE);
  /* all of them in one call: all apply or none does */
  pd_dbus_plugin_call_set (self->plugin, pairs, g_variant_builder_end (options),
                           self->cancellable, on_applied, self);
}

/* -- the log ------------------------------------------------------------------------------ */

static void read_log_line (PdAppDetailsPage *self);

static void
append_log (PdAppDetailsPage *self, const char *line)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->log_view);
  GtkTextIter end;

  gtk_text_buffer_get_end_iter (buffer, &end);
  gtk_text_buffer_insert (buffer, &end, line, -1);
  gtk_text_buffer_insert (buffer, &end, "\n", 1);
  if (gtk_text_buffer_get_line_count (buffer) > LOG_MAX_LINES)
    {
      GtkTextIter start, cut;

      gtk_text_buffer_get_start_iter (buffer, &start);
      gtk_text_buffer_get_iter_at_line (buffer, &cut,
                                        gtk_text_buffer_get_line_count (buffer) - LOG_MAX_LINES);
      gtk_text_buffer_delete (buffer, &start, &cut);
    }
  gtk_text_buffer_get_end_iter (buffer, &end);
  gtk_text_view_scroll_to_iter (self->log_view, &end, 0.0, FALSE, 0.0, 1.0);
}

static void
on_log_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  gsize length;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                     result, &length, &error);
  PdAppDetailsPage *self;

  if (is_cancelled (error))
    return;
  self = PD_APP_DETAILS_PAGE (user_data);
  if (line == NULL)
    {
      /* end of file (the plugin was removed, or this reader fell too far behind), or a line
       * that is not UTF-8: the daemon's pipe holds what the plugin wrote */
      if (error != NULL)
        append_log (self, error->message);
      return;
    }
  append_log (self, line);
  read_log_line (self);
}

static void
read_log_line (PdAppDetailsPage *self)
{
  g_data_input_stream_read_line_async (self->log_stream, G_PRIORITY_DEFAULT,
                                       self->log_cancellable, on_log_line, self);
}

static void
on_log_opened (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GInputStream) pipe = NULL;
  PdAppDetailsPage *self;
  gint32 index = -1;
  int fd;

  /* the generated proxy passes no file descriptors: the plain GDBusProxy call */
  reply = g_dbus_proxy_call_with_unix_fd_list_finish (G_DBUS_PROXY (source), &fds, result,
                                                      &error);
  if (reply == NULL && is_cancelled (error))
    return;
  self = PD_APP_DETAILS_PAGE (user_data);
  gtk_widget_set_sensitive (self->log_button, TRUE);
  if (reply != NULL)
    g_variant_get (reply, "(h)", &index);
  if (error == NULL && (fds == NULL || index < 0 || index >= g_unix_fd_list_get_length (fds)))
    error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "OpenLog returned no pipe");
  if (error != NULL)
    {
      toast_error (self, error);
      return;
    }
  fd = g_unix_fd_list_get (fds, index, &error);
  if (fd < 0)
    {
      toast_error (self, error);
      return;
    }
  pipe = g_unix_input_stream_new (fd, TRUE);
  g_clear_object (&self->log_stream);
  self->log_stream = g_data_input_stream_new (pipe);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->log_view), "", 0);
  gtk_widget_set_visible (self->log_frame, TRUE);
  gtk_widget_set_visible (self->log_button, FALSE);
  read_log_line (self);
}

static void
on_show_log (GtkButton *button, gpointer user_data)
{
  PdAppDetailsPage *self = user_data;
  g_autoptr(GVariantBuilder) options = pd_app_options_new ();

  g_variant_builder_add (options, "{sv}", "follow", g_variant_new_boolean (TRUE));
  g_variant_builder_add (options, "{sv}", "lines", g_variant_new_uint32 (200));
  gtk_widget_set_sensitive (self->log_button, FALSE);
  g_dbus_proxy_call_with_unix_fd_list (G_DBUS_PROXY (self->plugin), "OpenLog",
                                       g_variant_new ("(a{sv})", options),
                                       G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                       CALL_TIMEOUT_MS, NULL, self->log_cancellable, on_log_opened,
                                       self);
}

/* -- upgrade, remove ---------------------------------------------------------------------- */

static void
on_removed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!pd_dbus_plugin_call_remove_finish (PD_DBUS_PLUGIN (source), result, &error))
    {
      if (!is_cancelled (error))
        toast_error (PD_APP_DETAILS_PAGE (user_data), error);
      return;
    }
  /* the window closes the page when the plugin's object goes */
}

static void
on_remove_response (AdwMessageDialog *dialog, const char *response, gpointer user_data)
{
  PdAppDetailsPage *self = user_data;
  g_autoptr(GVariantBuilder) options = pd_app_options_new ();

  if (g_strcmp0 (response, "remove") != 0)
    return;
  /* a running plugin is stopped first, as the dialog said */
  if (pd_dbus_plugin_get_enabled (self->plugin))
    g_variant_builder_add (options, "{sv}", "force", g_variant_new_boolean (TRUE));
  pd_dbus_plugin_call_remove (self->plugin, g_variant_builder_end (options), self->cancellable,
                              on_removed, self);
}

static void
on_remove_clicked (GtkButton *button, gpointer user_data)
{
  PdAppDetailsPage *self = user_data;
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  /* TRANSLATORS: %s is the plugin's name */
  g_autofree char *heading = g_strdup_printf (_("Remove %s?"), pd_dbus_plugin_get_name (self->plugin));
  GtkWidget *dialog;

  dialog = adw_message_dialog_new (GTK_WINDOW (root), heading,
                                   pd_dbus_plugin_get_enabled (self->plugin)
                                     ? _("It runs now: it is stopped first. Its settings and "
                                         "its log go with it.")
                                     : _("Its settings and its log go with it."));
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Cancel"),
                                    "remove", _("_Remove"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "remove",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_remove_response), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_upgrade_clicked (GtkButton *button, gpointer user_data)
{
  g_signal_emit (user_data, signals[SIGNAL_UPGRADE], 0);
}

static void
on_back_clicked (PdAppDetailsPage *self)
{
  g_signal_emit (self, signals[SIGNAL_CLOSE], 0);
}

/* -- building ----------------------------------------------------------------------------- */

static void
on_plugin_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  PdAppDetailsPage *self = user_data;

  update_state (self);
  update_form_sensitivity (self);
  if (g_strcmp0 (pspec->name, "privileges") == 0)
    update_privileges (self);
  if (g_strcmp0 (pspec->name, "holders") == 0)
    update_holders (self);
}

static AdwPreferencesGroup *
group (AdwPreferencesPage *page, const char *title)
{
  AdwPreferencesGroup *g = ADW_PREFERENCES_GROUP (adw_preferences_group_new ());

  adw_preferences_group_set_title (g, title);
  adw_preferences_page_add (page, g);
  return g;
}

static void
build (PdAppDetailsPage *self)
{
  AdwPreferencesPage *page = ADW_PREFERENCES_PAGE (adw_preferences_page_new ());
  AdwPreferencesGroup *status = group (page, _("Status"));
  AdwPreferencesGroup *log;
  AdwPreferencesGroup *actions;
  GtkWidget *buttons = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  GtkWidget *upgrade = pd_app_button_new (_("_Upgrade…"));
  GtkWidget *remove = pd_app_button_new (_("_Remove…"));
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkWidget *apply_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  const char *description = pd_dbus_plugin_get_description (self->plugin);

  gtk_box_append (GTK_BOX (self),
                  pd_app_page_header_new (pd_dbus_plugin_get_name (self->plugin),
                                          G_CALLBACK (on_back_clicked), self));

  /* status */
  adw_preferences_group_set_description (status, description);
  self->state_row = ADW_ACTION_ROW (text_row ("", NULL));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->state_row),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, _("State"), -1);
  adw_preferences_group_add (status, GTK_WIDGET (self->state_row));
  self->reference_row = ADW_ACTION_ROW (text_row (_("Installed from"), NULL));
  adw_preferences_group_add (status, GTK_WIDGET (self->reference_row));

  /* privileges */
  self->privileges_group = group (page, _("Privileges Granted"));
  update_privileges (self);

  /* settings */
  self->settings_group = group (page, _("Settings"));
  self->show_values_button = pd_app_button_new (_("_Show Values"));
  gtk_widget_add_css_class (self->show_values_button, "flat");
  g_signal_connect (self->show_values_button, "clicked", G_CALLBACK (on_show_values), self);
  adw_preferences_group_set_header_suffix (self->settings_group, self->show_values_button);
  build_settings (self);
  if (self->fields->len == 0)
    {
      adw_preferences_group_add (self->settings_group,
                                 text_row (_("This plugin has no settings to change"), NULL));
      gtk_widget_set_visible (self->show_values_button, FALSE);
    }
  self->settings_error = GTK_LABEL (pd_app_sentence_label (NULL));
  gtk_widget_add_css_class (GTK_WIDGET (self->settings_error), "error");
  gtk_widget_set_visible (GTK_WIDGET (self->settings_error), FALSE);
  gtk_widget_set_margin_top (GTK_WIDGET (self->settings_error), 12);
  gtk_box_append (GTK_BOX (apply_box), GTK_WIDGET (self->settings_error));
  self->apply_button = pd_app_button_new (_("_Apply"));
  gtk_widget_add_css_class (self->apply_button, "suggested-action");
  gtk_widget_set_halign (self->apply_button, GTK_ALIGN_END);
  gtk_widget_set_sensitive (self->apply_button, FALSE);
  gtk_widget_set_visible (self->apply_button, self->fields->len > 0);
  g_signal_connect (self->apply_button, "clicked", G_CALLBACK (on_apply), self);
  gtk_box_append (GTK_BOX (apply_box), self->apply_button);
  adw_preferences_group_add (self->settings_group, apply_box);
  update_form_sensitivity (self);

  /* holders */
  self->holders_group = group (page, _("Held By"));
  update_holders (self);

  /* log */
  log = group (page, _("Log"));
  self->log_button = pd_app_button_new (_("Show the _Log"));
  gtk_widget_set_halign (self->log_button, GTK_ALIGN_START);
  g_signal_connect (self->log_button, "clicked", G_CALLBACK (on_show_log), self);
  adw_preferences_group_add (log, self->log_button);
  self->log_view = GTK_TEXT_VIEW (gtk_text_view_new ());
  gtk_text_view_set_editable (self->log_view, FALSE);
  gtk_text_view_set_monospace (self->log_view, TRUE);
  gtk_text_view_set_wrap_mode (self->log_view, GTK_WRAP_WORD_CHAR);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->log_view), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("The plugin’s output"), -1);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), GTK_WIDGET (self->log_view));
  gtk_scrolled_window_set_min_content_height (GTK_SCROLLED_WINDOW (scrolled), 200);
  self->log_frame = gtk_frame_new (NULL);
  gtk_frame_set_child (GTK_FRAME (self->log_frame), scrolled);
  gtk_widget_set_visible (self->log_frame, FALSE);
  adw_preferences_group_add (log, self->log_frame);

  /* upgrade, remove */
  actions = group (page, _("Manage"));
  gtk_widget_set_halign (buttons, GTK_ALIGN_START);
  g_signal_connect (upgrade, "clicked", G_CALLBACK (on_upgrade_clicked), self);
  gtk_widget_add_css_class (remove, "destructive-action");
  g_signal_connect (remove, "clicked", G_CALLBACK (on_remove_clicked), self);
  gtk_box_append (GTK_BOX (buttons), upgrade);
  gtk_box_append (GTK_BOX (buttons), remove);
  adw_preferences_group_add (actions, buttons);

  gtk_widget_set_vexpand (GTK_WIDGET (page), TRUE);
  gtk_box_append (GTK_BOX (self), GTK_WIDGET (page));
  update_state (self);
}

static void
pd_app_details_page_dispose (GObject *object)
{
  PdAppDetailsPage *self = PD_APP_DETAILS_PAGE (object);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  if (self->validation != NULL)
    g_cancellable_cancel (self->validation);
  if (self->log_cancellable != NULL)
    g_cancellable_cancel (self->log_cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->validation);
  g_clear_object (&self->log_cancellable);
  g_clear_object (&self->log_stream);
  if (self->plugin != NULL)
    g_signal_handlers_disconnect_by_data (self->plugin, self);
  g_clear_object (&self->plugin);
  g_clear_pointer (&self->fields, g_ptr_array_unref);
  g_clear_pointer (&self->privilege_rows, g_ptr_array_unref);
  g_clear_pointer (&self->holder_rows, g_ptr_array_unref);
  G_OBJECT_CLASS (pd_app_details_page_parent_class)->dispose (object);
}

static void
pd_app_details_page_class_init (PdAppDetailsPageClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pd_app_details_page_dispose;
  signals[SIGNAL_CLOSE] = g_signal_new ("close", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_UPGRADE] = g_signal_new ("upgrade", G_TYPE_FROM_CLASS (klass),
                                          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
pd_app_details_page_init (PdAppDetailsPage *self)
{
  self->cancellable = g_cancellable_new ();
  self->log_cancellable = g_cancellable_new ();
  self->fields = g_ptr_array_new_with_free_func (field_free);
  self->privilege_rows = g_ptr_array_new ();
  self->holder_rows = g_ptr_array_new ();
}

PdAppDetailsPage *
pd_app_details_page_new (PdDbusPlugin *plugin)
{
  PdAppDetailsPage *self = g_object_new (PD_APP_TYPE_DETAILS_PAGE, "orientation",
                                         GTK_ORIENTATION_VERTICAL, NULL);

  self->plugin = g_object_ref (plugin);
  build (self);
  g_signal_connect (plugin, "notify", G_CALLBACK (on_plugin_notify), self);
  return self;
}

PdDbusPlugin *
pd_app_details_page_get_plugin (PdAppDetailsPage *self)
{
  return self->plugin;
}
