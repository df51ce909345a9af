/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PD_ERROR (pd_error_quark ())

/**
 * PdError:
 *
 * Errors of the plugind core. Each has a D-Bus error name (pd_error_to_dbus_name()):
 * `org.plugind.Plugind1.Error.<Name>`, except the last few, which are standard
 * `org.freedesktop.DBus.Error.*` names.
 */
typedef enum {
  PD_ERROR_FAILED,                   /* Failed */
  PD_ERROR_NO_SUCH_PLUGIN,           /* NoSuchPlugin */
  PD_ERROR_AMBIGUOUS_NAME,           /* AmbiguousName */
  PD_ERROR_PLUGIN_EXISTS,            /* PluginExists */
  PD_ERROR_PLUGIN_ENABLED,           /* PluginEnabled */
  PD_ERROR_PLUGIN_DISABLED,          /* PluginDisabled */
  PD_ERROR_PLUGIN_IN_USE,            /* PluginInUse */
  PD_ERROR_BUSY,                     /* Busy */
  PD_ERROR_INVALID_REFERENCE,        /* InvalidReference */
  PD_ERROR_PRIVILEGES_MISMATCH,      /* PrivilegesMismatch */
  PD_ERROR_INVALID_CONFIG,           /* InvalidConfig */
  PD_ERROR_INVALID_ARCHIVE,          /* InvalidArchive */
  PD_ERROR_REGISTRY_UNAUTHORIZED,    /* RegistryUnauthorized */
  PD_ERROR_REGISTRY_NOT_FOUND,       /* RegistryNotFound */
  PD_ERROR_REGISTRY_ERROR,           /* RegistryError */
  PD_ERROR_DIGEST_MISMATCH,          /* DigestMismatch */
  PD_ERROR_UNSUPPORTED_MEDIA_TYPE,   /* UnsupportedMediaType */
  PD_ERROR_NO_SPACE,                 /* NoSpace */
  PD_ERROR_SANDBOX_FAILED,           /* SandboxFailed */
  PD_ERROR_ACTIVATION_FAILED,        /* ActivationFailed */
  PD_ERROR_ACTIVATION_TIMEOUT,       /* ActivationTimeout */
  PD_ERROR_JOB_CANCELLED,            /* JobCancelled */
  PD_ERROR_NOT_CANCELLABLE,          /* NotCancellable */
  PD_ERROR_NOT_AUTHORIZED_DISMISSED, /* NotAuthorizedDismissed */
  PD_ERROR_PLUGIN_EXITED,            /* PluginExited */
  PD_ERROR_PLUGIN_CRASHED,           /* PluginCrashed */
  PD_ERROR_CRASH_LOOP,               /* CrashLoop */
  /* standard D-Bus names */
  PD_ERROR_INVALID_ARGS,             /* org.freedesktop.DBus.Error.InvalidArgs */
  PD_ERROR_LIMITS_EXCEEDED,          /* org.freedesktop.DBus.Error.LimitsExceeded */
  PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED, /* org.freedesktop.DBus.Error.InteractiveAuthorizationRequired */
  PD_ERROR_N_ERRORS,
} PdError;

GQuark pd_error_quark (void);

/* the D-Bus error name of @code ("org.plugind.Plugind1.Error.Busy"): the one table of them */
const char *pd_error_to_dbus_name (PdError code);

/* Turns any foreign GError (GIO, GFile, JSON, errno-style) into PD_ERROR in place, keeping the
 * message, so that nothing unmapped reaches a client. PD_ERROR errors are left as they are. */
void pd_error_convert (GError **error);

/* Untrusted text quoted in a message or a log is cut after this many bytes (escaped), and
 * PD_CUT_MARK says so: a caller cannot make a reply large by what it sends. */
#define PD_UNTRUSTED_QUOTE_MAX 256
/* No message (a method's error, a job's ErrorMessage) that goes on the bus is longer than this:
 * the last guard, whatever a message quotes. */
#define PD_MESSAGE_MAX 16384
#define PD_CUT_MARK "…"

/* Escapes control characters and invalid UTF-8 of an untrusted string for logs and messages,
 * and cuts it at PD_UNTRUSTED_QUOTE_MAX bytes. */
char *pd_escape_untrusted (const char *text, gssize len);
/* The same without the cut, for a client showing a whole value to a person (pluginctl) and for
 * texts that must stay exact (the privileges a user consents to). */
char *pd_escape_untrusted_full (const char *text, gssize len);
/* @text (valid UTF-8) cut at @max bytes on a character boundary, with PD_CUT_MARK when cut */
char *pd_text_truncate (const char *text, gsize max);
/* C0 or C1 controls, DEL, or invalid UTF-8: what a terminal could act on */
gboolean pd_string_has_control_chars (const char *text);
/* cuts @error's message at PD_MESSAGE_MAX bytes (it must be valid UTF-8) */
void pd_error_bound_message (GError *error);

G_END_DECLS
