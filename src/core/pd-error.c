/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-error"

#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-names.h"

/* The one table of D-Bus names, in the order of PdError: the daemon sends these (and registers
 * the org.plugind ones with GDBus, src/daemon/pd-dbus-error.c); pluginctl matches them. */
static const char *const pd_error_names[] = {
  [PD_ERROR_FAILED] = PD_DBUS_ERROR_PREFIX "Failed",
  [PD_ERROR_NO_SUCH_PLUGIN] = PD_DBUS_ERROR_PREFIX "NoSuchPlugin",
  [PD_ERROR_AMBIGUOUS_NAME] = PD_DBUS_ERROR_PREFIX "AmbiguousName",
  [PD_ERROR_PLUGIN_EXISTS] = PD_DBUS_ERROR_PREFIX "PluginExists",
  [PD_ERROR_PLUGIN_ENABLED] = PD_DBUS_ERROR_PREFIX "PluginEnabled",
  [PD_ERROR_PLUGIN_DISABLED] = PD_DBUS_ERROR_PREFIX "PluginDisabled",
  [PD_ERROR_PLUGIN_IN_USE] = PD_DBUS_ERROR_PREFIX "PluginInUse",
  [PD_ERROR_BUSY] = PD_DBUS_ERROR_PREFIX "Busy",
  [PD_ERROR_INVALID_REFERENCE] = PD_DBUS_ERROR_PREFIX "InvalidReference",
  [PD_ERROR_PRIVILEGES_MISMATCH] = PD_DBUS_ERROR_PREFIX "PrivilegesMismatch",
  [PD_ERROR_INVALID_CONFIG] = PD_DBUS_ERROR_PREFIX "InvalidConfig",
  [PD_ERROR_INVALID_ARCHIVE] = PD_DBUS_ERROR_PREFIX "InvalidArchive",
  [PD_ERROR_REGISTRY_UNAUTHORIZED] = PD_DBUS_ERROR_PREFIX "RegistryUnauthorized",
  [PD_ERROR_REGISTRY_NOT_FOUND] = PD_DBUS_ERROR_PREFIX "RegistryNotFound",
  [PD_ERROR_REGISTRY_ERROR] = PD_DBUS_ERROR_PREFIX "RegistryError",
  [PD_ERROR_DIGEST_MISMATCH] = PD_DBUS_ERROR_PREFIX "DigestMismatch",
  [PD_ERROR_UNSUPPORTED_MEDIA_TYPE] = PD_DBUS_ERROR_PREFIX "UnsupportedMediaType",
  [PD_ERROR_NO_SPACE] = PD_DBUS_ERROR_PREFIX "NoSpace",
  [PD_ERROR_SANDBOX_FAILED] = PD_DBUS_ERROR_PREFIX "SandboxFailed",
  [PD_ERROR_ACTIVATION_FAILED] = PD_DBUS_ERROR_PREFIX "ActivationFailed",
  [PD_ERROR_ACTIVATION_TIMEOUT] = PD_DBUS_ERROR_PREFIX "ActivationTimeout",
  [PD_ERROR_JOB_CANCELLED] = PD_DBUS_ERROR_PREFIX "JobCancelled",
  [PD_ERROR_NOT_CANCELLABLE] = PD_DBUS_ERROR_PREFIX "NotCancellable",
  [PD_ERROR_NOT_AUTHORIZED_DISMISSED] = PD_DBUS_ERROR_PREFIX "NotAuthorizedDismissed",
  [PD_ERROR_PLUGIN_EXITED] = PD_DBUS_ERROR_PREFIX "PluginExited",
  [PD_ERROR_PLUGIN_CRASHED] = PD_DBUS_ERROR_PREFIX "PluginCrashed",
  [PD_ERROR_CRASH_LOOP] = PD_DBUS_ERROR_PREFIX "CrashLoop",
  /* the standard names of errors every D-Bus client knows */
  [PD_ERROR_INVALID_ARGS] = "org.freedesktop.DBus.Error.InvalidArgs",
  [PD_ERROR_LIMITS_EXCEEDED] = "org.freedesktop.DBus.Error.LimitsExceeded",
  [PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED] =
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
};

G_STATIC_ASSERT (G_N_ELEMENTS (pd_error_names) == PD_ERROR_N_ERRORS);

G_DEFINE_QUARK (pd-error-quark, pd_error)

const char *
pd_error_to_dbus_name (PdError code)
{
  if ((guint) code >= G_N_ELEMENTS (pd_error_names))
    return pd_error_names[PD_ERROR_FAILED];
  return pd_error_names[code];
}

static PdError
pd_error_code_from_io_error (gint code)
{
  switch (code)
    {
    case G_IO_ERROR_NO_SPACE:
      return PD_ERROR_NO_SPACE;
    case G_IO_ERROR_CANCELLED:
      return PD_ERROR_JOB_CANCELLED;
    case G_IO_ERROR_INVALID_ARGUMENT:
    case G_IO_ERROR_INVALID_DATA:
      return PD_ERROR_INVALID_ARGS;
    case G_IO_ERROR_EXISTS:
      return PD_ERROR_PLUGIN_EXISTS;
    case G_IO_ERROR_BUSY:
    case G_IO_ERROR_PENDING:
      return PD_ERROR_BUSY;
    case G_IO_ERROR_MESSAGE_TOO_LARGE:
    case G_IO_ERROR_TOO_MANY_OPEN_FILES:
      return PD_ERROR_LIMITS_EXCEEDED;
    default:
      return PD_ERROR_FAILED;
    }
}

void
pd_error_convert (GError **error)
{
  GError *e;
  PdError code = PD_ERROR_FAILED;

  if (error == NULL || *error == NULL)
    return;
  e = *error;
  if (e->domain == PD_ERROR)
    return;

  if (e->domain == G_IO_ERROR)
    code = pd_error_code_from_io_error (e->code);
  else if (e->domain == G_FILE_ERROR)
    code = e->code == G_FILE_ERROR_NOSPC ? PD_ERROR_NO_SPACE : PD_ERROR_FAILED;
  else if (e->domain == JSON_PARSER_ERROR)
    code = PD_ERROR_INVALID_CONFIG;
  else if (e->domain == G_KEY_FILE_ERROR || e->domain == G_MARKUP_ERROR)
    code = PD_ERROR_INVALID_ARGS;

  e->domain = PD_ERROR;
  e->code = code;
}

static char *
escape_untrusted (const char *text, gssize len, gsize max)
{
  GString *out;
  const char *p, *end;

  if (text == NULL)
    return g_strdup ("");
  if (len < 0)
    len = strlen (text);
  out = g_string_sized_new (MIN ((gsize) len, max) + 8);
  p = text;
  end = text + len;
  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);
      char piece[8];
      gsize step = 1;

      if (c == (gunichar) -1 || c == (gunichar) -2)
        g_snprintf (piece, sizeof piece, "\\x%02x", (guchar) *p);
      else
        {
          step = g_utf8_next_char (p) - p;
          if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
            g_snprintf (piece, sizeof piece, "\\x%02x", c);
          else if (c == '\\')
            g_strlcpy (piece, "\\\\", sizeof piece);
          else
            piece[g_unichar_to_utf8 (c, piece)] = '\0';
        }
      /* what is cut is marked, so that no one takes the piece for the whole */
      if (out->len + strlen (piece) > max)
        {
          g_string_append (out, PD_CUT_MARK);
          break;
        }
      g_string_append (out, piece);
      p += step;
    }
  return g_string_free (out, FALSE);
}

char *
pd_escape_untrusted (const char *text, gssize len)
{
  return escape_untrusted (text, len, PD_UNTRUSTED_QUOTE_MAX);
}

char *
pd_escape_untrusted_full (const char *text, gssize len)
{
  return escape_untrusted (text, len, G_MAXSIZE);
}

char *
pd_text_truncate (const char *text, gsize max)
{
  const char *end;

  if (text == NULL)
    return g_strdup ("");
  if (strlen (text) <= max)
    return g_strdup (text);
  /* back to the first byte of the character the cut falls in: the text stays UTF-8 */
  end = text + max;
  while (end > text && ((guchar) *end & 0xc0) == 0x80)
    end--;
  return g_strdup_printf ("%.*s%s", (int) (end - text), text, PD_CUT_MARK);
}

/* C0 and C1 controls and DEL (U+009B is CSI to many terminals) and invalid UTF-8: what a
 * terminal could act on when the string is shown to the user who is asked to consent to it */
gboolean
pd_string_has_control_chars (const char *text)
{
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        return TRUE;
      if (c < 0x20 || (c >= 0x7f && c < 0xa0))
        return TRUE;
    }
  return FALSE;
}

void
pd_error_bound_message (GError *error)
{
  char *cut;

  if (error == NULL || error->message == NULL || strlen (error->message) <= PD_MESSAGE_MAX)
    return;
  cut = pd_text_truncate (error->message, PD_MESSAGE_MAX);
  g_free (error->message);
  error->message = cut;
}
