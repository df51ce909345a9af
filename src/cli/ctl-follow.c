/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pluginctl"

#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "ctl-follow.h"
#include "ctl-format.h"
#include "pd-names.h"
#include "pd-reference.h"

/* Following a job of the daemon until it ends: its progress, its log messages, and Ctrl+C,
 * which cancels it (a job is not tied to the connection that started it). */

/* jsonmessage.JSONProgress: the bar only on terminals wider than this */
#define CTL_PROGRESS_BAR_MIN_WIDTH 110
#define CTL_PROGRESS_BAR_WIDTH 50

typedef struct {
  char *digest;
  char *status;  /* the daemon's layer status: "waiting", "downloading", ... */
  guint64 current;
  guint64 total;
  char *shown;   /* the status text last printed without a terminal */
} LayerRow;

static void
layer_row_free (LayerRow *row)
{
  g_free (row->digest);
  g_free (row->status);
  g_free (row->shown);
  g_free (row);
}

struct _CtlJobFollow {
  GMainLoop *loop;
  PdDbusJob *job;
  GVariant *results;
  GError *error;
  CtlFollowMode mode;
  gboolean show_progress;  /* create: standard error is a terminal */
  gboolean line_shown;
  gboolean terminal;       /* registry jobs: standard output is a terminal */
  GPtrArray *rows;         /* LayerRow, in the job's order */
  guint drawn;             /* lines of the layer block now on the terminal */
  char *block;             /* and what they show */
  char *phase;             /* the last phase seen */
  char *digest;            /* pull: the manifest digest the job is bound to, for the header */
  gboolean cancel_requested;
  gboolean finished;
  guint sigint_id;
};

CtlJobFollow *
ctl_job_follow_new (CtlFollowMode mode, const char *digest)
{
  CtlJobFollow *follow = g_new0 (CtlJobFollow, 1);

  follow->loop = g_main_loop_new (NULL, FALSE);
  follow->mode = mode;
  follow->digest = g_strdup (digest);
  return follow;
}

void
ctl_job_follow_free (CtlJobFollow *follow)
{
  g_main_loop_unref (follow->loop);
  g_clear_object (&follow->job);
  g_clear_pointer (&follow->results, g_variant_unref);
  g_clear_error (&follow->error);
  g_clear_pointer (&follow->rows, g_ptr_array_unref);
  g_clear_pointer (&follow->phase, g_free);
  g_clear_pointer (&follow->block, g_free);
  g_free (follow->digest);
  g_free (follow);
}

static void
job_follow_clear_line (CtlJobFollow *follow)
{
  if (follow->line_shown)
    {
      g_printerr ("\r\033[K");
      follow->line_shown = FALSE;
    }
}

static void
job_follow_render (CtlJobFollow *follow)
{
  PdDbusJob *job = follow->job;
  const char *phase = pd_dbus_job_get_phase (job);
  g_autofree char *shown_phase = ctl_escape_message (phase != NULL && phase[0] != '\0' ? phase
                                                                                    : "queued");
  g_autoptr(GString) line = g_string_new (shown_phase);
  guint64 done = pd_dbus_job_get_bytes_done (job);
  guint64 total = pd_dbus_job_get_bytes_total (job);

  if (pd_dbus_job_get_progress_valid (job))
    g_string_append_printf (line, " %3.0f%%", CLAMP (pd_dbus_job_get_progress (job), 0.0, 1.0) * 100.0);
  if (done > 0)
    {
      g_autofree char *done_str = g_format_size (done);

      if (total > 0)
        {
          g_autofree char *total_str = g_format_size (total);

          g_string_append_printf (line, _(" (%s of %s)"), done_str, total_str);
        }
      else
        g_string_append_printf (line, " (%s)", done_str);
    }
  g_printerr ("\r\033[K%s", line->str);
  follow->line_shown = TRUE;
}

/* go-units HumanSize, as Docker's progress shows sizes: decimal units, 4 significant digits */
static char *
human_size (guint64 bytes)
{
  static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
  char number[G_ASCII_DTOSTR_BUF_SIZE];
  double size = (double) bytes;
  guint unit = 0;

  while (size >= 1000.0 && unit + 1 < G_N_ELEMENTS (units))
    {
      size /= 1000.0;
      unit++;
    }
  g_ascii_formatd (number, sizeof number, "%.4g", size);
  return g_strconcat (number, units[unit], NULL);
}

/* jsonmessage.JSONProgress.String: "[=====>      ]  12.3MB/45.6MB" */
static void
append_progress (GString *out, guint64 current, guint64 total, gboolean bar)
{
  g_autofree char *current_str = human_size (current);
  g_autofree char *total_str = NULL;
  guint percentage;

  if (total == 0)
    {
      if (current > 0)
        g_string_append_printf (out, " %8s", current_str);
      return;
    }
  percentage = (guint) MIN ((double) current / (double) total * 100.0, 100.0) / 2;
  g_string_append_c (out, ' ');
  if (bar)
    {
      g_string_append_c (out, '[');
      for (guint i = 0; i < percentage; i++)
        g_string_append_c (out, '=');
      g_string_append_c (out, '>');
      for (guint i = percentage; i < CTL_PROGRESS_BAR_WIDTH; i++)
        g_string_append_c (out, ' ');
      g_string_append (out, "] ");
    }
  total_str = human_size (total);
  if (current > total)
    g_string_append_printf (out, "%8s", current_str);
  else
    g_string_append_printf (out, "%8s/%s", current_str, total_str);
}

/* Docker's words for a layer status; a status this version does not know is shown as it came */
static char *
layer_status_text (CtlFollowMode mode, const char *status)
{
  if (g_str_equal (status, "waiting"))
    return g_strdup (_("Waiting"));
  if (g_str_equal (status, "downloading"))
    return g_strdup (_("Downloading"));
  if (g_str_equal (status, "verifying"))
    return g_strdup (_("Verifying Checksum"));
  if (g_str_equal (status, "extracting"))
    return g_strdup (_("Extracting"));
  if (g_str_equal (status, "uploading"))
    return g_strdup (_("Pushing"));
  if (g_str_equal (status, "exists"))
    return g_strdup (mode == CTL_FOLLOW_PUSH ? _("Layer already exists") : _("Already exists"));
  if (g_str_equal (status, "complete"))
    return g_strdup (mode == CTL_FOLLOW_PUSH ? _("Pushed") : _("Pull complete"));
  return ctl_escape_line (status);
}

static gboolean
layer_status_has_progress (const char *status)
{
  return g_str_equal (status, "downloading") || g_str_equal (status, "extracting") ||
         g_str_equal (status, "uploading");
}

/* columns of the terminal on standard output, 0 when unknown */
static guint
terminal_width (void)
{
  struct winsize size;

  if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) < 0)
    return 0;
  return size.ws_col;
}

/* "<short digest>: <Status> [====>   ] 12.3MB/45.6MB", no wider than @width (0: unknown) so
 * that no line wraps and the cursor movements stay right */
static char *
layer_line (CtlJobFollow *follow, LayerRow *row, guint width)
{
  g_autofree char *id = ctl_truncate_id (row->digest);
  g_autofree char *shown_id = ctl_escape_line (id);
  g_autofree char *text = layer_status_text (follow->mode, row->status);
  GString *line = g_string_new (NULL);

  g_string_append_printf (line, "%s: %s", shown_id, text);
  if (layer_status_has_progress (row->status))
    append_progress (line, row->current, row->total,
                     width == 0 || width > CTL_PROGRESS_BAR_MIN_WIDTH);
  if (width > 1 && (guint) g_utf8_strlen (line->str, -1) > width - 1)
    g_string_truncate (line, (gsize) (g_utf8_offset_to_pointer (line->str, width - 1) - line->str));
  return g_string_free (line, FALSE);
}

/* a terminal: the whole block again, in place; else a line per layer whose status changed */
static void
layers_draw (CtlJobFollow *follow)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (follow->terminal)
    {
      guint width = terminal_width ();
      g_autoptr(GString) block = g_string_new (NULL);

      for (guint i = 0; i < follow->rows->len; i++)
        {
          g_autofree char *line = layer_line (follow, g_ptr_array_index (follow->rows, i), width);

          g_string_append_printf (block, "\r\033[2K%s\n", line);
        }
      /* the rate and other properties change more often than what is shown */
      if (follow->drawn == follow->rows->len && g_strcmp0 (block->str, follow->block) == 0)
        return;
      if (follow->drawn > 0)
        g_string_append_printf (out, "\033[%uA", follow->drawn);
      g_string_append (out, block->str);
      if (follow->rows->len < follow->drawn)
        g_string_append (out, "\033[J");
      follow->drawn = follow->rows->len;
      g_free (follow->block);
      follow->block = g_string_free (g_steal_pointer (&block), FALSE);
    }
  else
    {
      for (guint i = 0; i < follow->rows->len; i++)
        {
          LayerRow *row = g_ptr_array_index (follow->rows, i);
          g_autofree char *text = layer_status_text (follow->mode, row->status);
          g_autofree char *id = NULL;
          g_autofree char *shown_id = NULL;

          if (g_strcmp0 (text, row->shown) == 0)
            continue;
          id = ctl_truncate_id (row->digest);
          shown_id = ctl_escape_line (id);
          g_string_append_printf (out, "%s: %s\n", shown_id, text);
          g_free (row->shown);
          row->shown = g_steal_pointer (&text);
        }
    }
  fputs (out->str, stdout);
  fflush (stdout);
}

/* prints @line on @stream: above the layer block of a terminal, which is drawn again below it,
 * or after the create progress line */
static void
follow_print (CtlJobFollow *follow, FILE *stream, const char *line)
{
  if (follow->mode == CTL_FOLLOW_CREATE)
    {
      job_follow_clear_line (follow);
      fprintf (stream, "%s\n", line);
      fflush (stream);
      if (follow->show_progress)
        job_follow_render (follow);
      return;
    }
  if (follow->terminal && follow->drawn > 0)
    {
      printf ("\033[%uA\r\033[J", follow->drawn);
      follow->drawn = 0;
    }
  fflush (stdout);
  fprintf (stream, "%s\n", line);
  fflush (stream);
  if (follow->terminal)
    layers_draw (follow);
}

/* the phases that layer lines do not show already */
static const char *
phase_text (const char *phase)
{
  if (g_str_equal (phase, "stopping"))
    return _("Stopping the plugin");
  if (g_str_equal (phase, "enabling"))
    return _("Enabling the plugin");
  return NULL;
}

/* takes the phase and the layers from the proxy's cache */
static void
layers_update (CtlJobFollow *follow)
{
  const char *phase = pd_dbus_job_get_phase (follow->job);
  GVariant *layers = pd_dbus_job_get_layers (follow->job);
  const char *digest, *status;
  guint64 current, total;
  GVariantIter iter;
  guint n = 0;

  if (phase != NULL && g_strcmp0 (phase, follow->phase) != 0)
    {
      const char *text = phase_text (phase);

      g_free (follow->phase);
      follow->phase = g_strdup (phase);
      if (text != NULL)
        follow_print (follow, stdout, text);
    }
  if (layers == NULL || !g_variant_is_of_type (layers, G_VARIANT_TYPE ("a(sstt)")))
    return;

  g_variant_iter_init (&iter, layers);
  while (g_variant_iter_next (&iter, "(&s&stt)", &digest, &status, &current, &total))
    {
      LayerRow *row;

      if (n < follow->rows->len)
        {
          row = g_ptr_array_index (follow->rows, n);
          if (!g_str_equal (row->digest, digest))
            {
              g_free (row->digest);
              row->digest = g_strdup (digest);
              g_clear_pointer (&row->shown, g_free);
            }
        }
      else
        {
          row = g_new0 (LayerRow, 1);
          row->digest = g_strdup (digest);
          g_ptr_array_add (follow->rows, row);
        }
      g_free (row->status);
      row->status = g_strdup (status);
      row->current = current;
      row->total = total;
      n++;
    }
  g_ptr_array_set_size (follow->rows, n);
  layers_draw (follow);
}

static void
on_job_properties_changed (GDBusProxy *proxy,
                           GVariant *changed,
                           const char *const *invalidated,
                           gpointer user_data)
{
  CtlJobFollow *follow = user_data;

  if (follow->mode != CTL_FOLLOW_CREATE)
    layers_update (follow);
  else if (follow->show_progress)
    job_follow_render (follow);
}

static void
on_job_log_message (PdDbusJob *job, guint priority, const char *text, gpointer user_data)
{
  CtlJobFollow *follow = user_data;
  g_autofree char *shown = NULL;

  /* warnings and errors always, info (a registry's retries and fallbacks) only on a
   * terminal, where it does not clutter logs */
  if (priority > 4 && !(follow->mode == CTL_FOLLOW_CREATE ? follow->show_progress
                                                      : follow->terminal))
    return;
  shown = ctl_escape_message (text);
  follow_print (follow, stderr, shown);
}

static void
on_wait_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CtlJobFollow *follow = user_data;

  follow->results = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &follow->error);
  g_main_loop_quit (follow->loop);
}

static void
on_cancel_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GError) error = NULL;

  ret = g_dbus_proxy_call_finish (G_DBUS_PROXY (source), result, &error);
  /* the outcome that matters comes from Wait(); a failed cancel only gets a note */
  if (ret == NULL)
    {
      g_autofree char *message = NULL;

      g_dbus_error_strip_remote_error (error);
      message = ctl_escape_message (error->message);
      g_printerr (_("Could not cancel: %s\n"), message);
    }
}

static void
job_follow_cancel (CtlJobFollow *follow)
{
  GVariantBuilder options;

  if (follow->cancel_requested)
    return;
  follow->cancel_requested = TRUE;
  ctl_options_init (&options);
  g_dbus_proxy_call (G_DBUS_PROXY (follow->job), "Cancel",
                     g_variant_new ("(a{sv})", &options),
                     ctl_call_flags (), G_MAXINT, NULL, on_cancel_done, follow);
}

static gboolean
on_sigint (gpointer user_data)
{
  CtlJobFollow *follow = user_data;

  /* the job is not tied to this connection: without Cancel it would run on */
  follow_print (follow, stderr, _("Cancelling…"));
  job_follow_cancel (follow);
  /* a second interrupt kills pluginctl; the daemon still rolls the job back */
  follow->sigint_id = 0;
  return G_SOURCE_REMOVE;
}

gboolean
ctl_job_follow_cancel_soon (gpointer user_data)
{
  CtlJobFollow *follow = user_data;

  if (follow->finished)
    return G_SOURCE_REMOVE;
  if (follow->job != NULL)
    job_follow_cancel (follow);
  else
    follow->cancel_requested = TRUE;  /* cancelled as soon as the job is known */
  return G_SOURCE_REMOVE;
}

/* the job's properties once more after the end: the last Layers may still be in flight */
static void
job_follow_refresh (CtlJobFollow *follow)
{
  g_autoptr(GVariant) ret = NULL;
  g_autoptr(GVariant) props = NULL;
  GVariantIter iter;
  const char *name;
  GVariant *value;

  ret = g_dbus_connection_call_sync (g_dbus_proxy_get_connection (G_DBUS_PROXY (follow->job)),
                                     PD_DBUS_NAME,
                                     g_dbus_proxy_get_object_path (G_DBUS_PROXY (follow->job)),
                                     "org.freedesktop.DBus.Properties", "GetAll",
                                     g_variant_new ("(s)", PD_DBUS_INTERFACE_JOB),
                                     G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1,
                                     NULL, NULL);
  if (ret == NULL)
    return;  /* gone already: what was shown stays */
  props = g_variant_get_child_value (ret, 0);
  g_variant_iter_init (&iter, props);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_dbus_proxy_set_cached_property (G_DBUS_PROXY (follow->job), name, value);
      g_variant_unref (value);
    }
}

/* a registry job's first line, from the job's normalised remote */
static void
print_job_header (CtlJobFollow *follow)
{
  const char *remote = pd_dbus_job_get_remote (follow->job);
  g_autoptr(PdReference) ref = remote != NULL ? pd_reference_parse (remote, NULL) : NULL;
  g_autofree char *line = NULL;
  g_autofree char *shown = NULL;

  if (ref == NULL)
    return;
  if (follow->mode == CTL_FOLLOW_PUSH)
    {
      g_autofree char *repository = g_strdup_printf ("%s/%s", ref->domain, ref->path);

      line = g_strdup_printf (_("The push refers to repository [%s]"), repository);
    }
  else
    {
      g_autoptr(PdReference) name_only = pd_reference_copy (ref);
      g_autofree char *familiar = NULL;

      /* Docker: "<tag>: Pulling from <familiar name>" */
      g_clear_pointer (&name_only->tag, g_free);
      g_clear_pointer (&name_only->digest, g_free);
      familiar = pd_reference_familiar (name_only);
      /* by digest alone, Docker has no tag to name (moby#47299) */
      if (ref->tag != NULL)
        line = g_strdup_printf (_("%s: Pulling from %s"), ref->tag, familiar);
      else
        line = g_strdup_printf (_("Pulling from %s"), familiar);
    }
  shown = ctl_escape_line (line);
  g_print ("%s\n", shown);
  if (follow->mode == CTL_FOLLOW_PULL && follow->digest != NULL && follow->digest[0] != '\0')
    {
      g_autofree char *shown_digest = ctl_escape_line (follow->digest);

      /* docker's line, which scripts read the digest from: untranslated */
      g_print ("Digest: %s\n", shown_digest);
    }
}

GVariant *
ctl_job_follow_run (CtlJobFollow *follow, Ctl *ctl, const char *path, GError **error)
{
  GDBusProxyFlags flags = G_DBUS_PROXY_FLAGS_NONE;
  gboolean pending_cancel = follow->cancel_requested;

  if (follow->mode == CTL_FOLLOW_CREATE)
    {
      follow->show_progress = isatty (STDERR_FILENO);
      if (!follow->show_progress)
        flags |= G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES;
    }
  else
    {
      follow->terminal = isatty (STDOUT_FILENO);
      follow->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) layer_row_free);
    }
  /* the proxy subscribes to PropertiesChanged before it reads the properties: nothing is lost */
  follow->job = pd_dbus_job_proxy_new_sync (ctl->bus, flags, PD_DBUS_NAME, path, NULL, error);
  if (follow->job == NULL)
    return NULL;

  g_signal_connect (follow->job, "g-properties-changed",
                    G_CALLBACK (on_job_properties_changed), follow);
  g_signal_connect (follow->job, "log-message", G_CALLBACK (on_job_log_message), follow);
  follow->sigint_id = g_unix_signal_add (SIGINT, on_sigint, follow);
  if (follow->mode != CTL_FOLLOW_CREATE)
    {
      print_job_header (follow);
      layers_update (follow);
    }
  else if (follow->show_progress)
    job_follow_render (follow);
  if (pending_cancel)
    {
      follow->cancel_requested = FALSE;
      job_follow_cancel (follow);
    }

  /* Wait() replies at once for a job that already finished, so nothing can be missed */
  g_dbus_proxy_call (G_DBUS_PROXY (follow->job), "Wait", NULL, G_DBUS_CALL_FLAGS_NONE,
                     G_MAXINT, NULL, on_wait_done, follow);
  g_main_loop_run (follow->loop);
  follow->finished = TRUE;

  job_follow_clear_line (follow);
  if (follow->sigint_id != 0)
    g_source_remove (follow->sigint_id);
  follow->sigint_id = 0;
  g_signal_handlers_disconnect_by_data (follow->job, follow);
  if (follow->mode != CTL_FOLLOW_CREATE)
    {
      job_follow_refresh (follow);
      layers_update (follow);
    }
  if (follow->results == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&follow->error));
      return NULL;
    }
  return g_steal_pointer (&follow->results);
}

GVariant *
ctl_follow_registry_job (Ctl *ctl,
                         const char *path,
                         CtlFollowMode mode,
                         const char *digest,
                         GError **error)
{
  g_autoptr(CtlJobFollow) follow = ctl_job_follow_new (mode, digest);
  g_autoptr(GVariant) ret = ctl_job_follow_run (follow, ctl, path, error);

  if (ret == NULL)
    return NULL;
  return g_variant_get_child_value (ret, 0);
}
