/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The words the app shows for the daemon's states and errors */

#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "pd-app-text.h"
#include "pd-names.h"

/* a word for each of an open set of the daemon's values */
typedef struct
{
  const char *value;
  const char *words;
} Words;

/* the translated words of value in table, else value itself (a newer daemon's) */
static char *
lookup_words (const Words *table, gsize n, const char *value)
{
  for (gsize i = 0; i < n; i++)
    if (g_strcmp0 (value, table[i].value) == 0)
      return g_strdup (_(table[i].words));
  return g_strdup (value != NULL ? value : "");
}

char *
pd_app_state_label (const char *state)
{
  static const Words labels[] = {
    { "disabled", N_("Disabled") },   { "starting", N_("Starting…") },
    { "running", N_("Running") },     { "stopping", N_("Stopping…") },
    { "restarting", N_("Restarting") }, { "failed", N_("Failed") },
  };

  return lookup_words (labels, G_N_ELEMENTS (labels), state);
}

char *
pd_app_error_sentence (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  g_autoptr(GError) copy = g_error_copy (error);

  if (g_strcmp0 (name, PD_DBUS_ERROR_PREFIX "NotAuthorizedDismissed") == 0 ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return NULL;
  if (g_strcmp0 (name, "org.freedesktop.DBus.Error.AccessDenied") == 0 ||
      g_strcmp0 (name, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") == 0)
    return g_strdup (_("You are not allowed to do this."));
  if (g_strcmp0 (name, "org.freedesktop.DBus.Error.ServiceUnknown") == 0 ||
      g_strcmp0 (name, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0 ||
      g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY))
    return g_strdup (_("The plugin service is not running."));
  /* the daemon's messages are made for people already (docs/dbus-api.md, Errors) */
  g_dbus_error_strip_remote_error (copy);
  return g_strdup (copy->message);
}

char *
pd_app_privilege_words (const char *name, const char *const *values, gboolean *risky)
{
  g_autofree char *list = g_strjoinv (", ", (char **) values);
  const char *first = values != NULL && values[0] != NULL ? values[0] : "";

  *risky = TRUE;
  if (g_strcmp0 (name, "network") == 0 && g_strcmp0 (first, "host") == 0)
    return g_strdup (_("Use this computer’s network directly, with all its connections"));
  if (g_strcmp0 (name, "network") == 0)
    {
      *risky = FALSE;
      /* TRANSLATORS: %s is a Docker network type such as "none" */
      return g_strdup_printf (_("Network: %s"), list);
    }
  if (g_strcmp0 (name, "mount") == 0)
    /* TRANSLATORS: %s is a path on this computer */
    return g_strdup_printf (_("Read and change the files in %s"), list);
  if (g_strcmp0 (name, "device") == 0)
    /* TRANSLATORS: %s is a device path such as /dev/fuse */
    return g_strdup_printf (_("Use the device %s"), list);
  if (g_strcmp0 (name, "allow-all-devices") == 0)
    return g_strdup (_("Use every device of this computer"));
  if (g_strcmp0 (name, "capabilities") == 0)
    /* TRANSLATORS: %s is a list of Linux capabilities such as CAP_SYS_ADMIN */
    return g_strdup_printf (_("Act with the administrator’s powers %s"), list);
  if (g_strcmp0 (name, "host pid namespace") == 0)
    return g_strdup (_("See every process of this computer"));
  if (g_strcmp0 (name, "host ipc namespace") == 0)
    return g_strdup (_("Share memory with every process of this computer"));
  /* a privilege a newer daemon added: Docker's words */
  return g_strdup_printf ("%s: %s", name, list);
}

char *
pd_app_phase_words (const char *phase)
{
  static const Words words[] = {
    { "queued", N_("Waiting for other jobs…") },
    { "resolving", N_("Looking up the plugin…") },
    { "checking-privileges", N_("Checking the privileges…") },
    { "downloading", N_("Downloading…") },
    { "reading-archive", N_("Reading the archive…") },
    { "committing", N_("Finishing…") },
    { "stopping", N_("Stopping the plugin…") },
    { "enabling", N_("Starting the plugin…") },
    { "uploading", N_("Uploading…") },
  };

  return lookup_words (words, G_N_ELEMENTS (words), phase);
}

char *
pd_app_layer_status (const char *status)
{
  static const Words words[] = {
    { "waiting", N_("Waiting") },       { "downloading", N_("Downloading") },
    { "extracting", N_("Unpacking") },  { "exists", N_("Already here") },
    { "complete", N_("Done") },         { "uploading", N_("Uploading") },
  };

  return lookup_words (words, G_N_ELEMENTS (words), status);
}

char *
pd_app_bytes_text (guint64 done, guint64 total, guint64 rate)
{
  g_autofree char *done_text = g_format_size (done);
  g_autofree char *total_text = total > 0 ? g_format_size (total) : NULL;
  g_autofree char *rate_text = rate > 0 ? g_format_size (rate) : NULL;

  if (total_text != NULL && rate_text != NULL)
    /* TRANSLATORS: bytes done, of the total, and the rate, e.g. "1.2 MB of 4.0 MB, 300 kB/s" */
    return g_strdup_printf (_("%s of %s, %s/s"), done_text, total_text, rate_text);
  if (total_text != NULL)
    /* TRANSLATORS: bytes done of the total, e.g. "1.2 MB of 4.0 MB" */
    return g_strdup_printf (_("%s of %s"), done_text, total_text);
  return g_steal_pointer (&done_text);
}
