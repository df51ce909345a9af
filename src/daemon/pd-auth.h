/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The one authorization helper of the D-Bus layer (dbus-api.md D7, "Authorization procedure").
 * Asynchronous, on the main thread; a system-bus-name subject; uid 0 allowed without polkit;
 * polkitd missing or failing means deny for everyone else; interactivity from the message flag
 * unless options["interactive"] overrides it. The check is cancelled if the caller vanishes.
 */
#define PD_TYPE_AUTH (pd_auth_get_type ())
G_DECLARE_FINAL_TYPE (PdAuth, pd_auth, PD, AUTH, GObject)

PdAuth *pd_auth_new (void);

/* @details: string → string (plugin, plugin_id, remote, registry, privileges, operation,
 * settings), may be NULL. @options: the method's a{sv} options, may be NULL. */
void pd_auth_check_async (PdAuth *self,
                          GDBusMethodInvocation *invocation,
                          const char *action_id,
                          GHashTable *details,
                          GVariant *options,
                          GAsyncReadyCallback callback,
                          gpointer user_data);
/* TRUE when allowed. Otherwise FALSE with an error ready for
 * g_dbus_method_invocation_return_gerror(): org.freedesktop.DBus.Error.AccessDenied,
 * PD_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED (sent as the standard name by pd_return_gerror)
 * or PD_ERROR_NOT_AUTHORIZED_DISMISSED. */
gboolean pd_auth_check_finish (PdAuth *self, GAsyncResult *result, GError **error);
/* the same; when the caller is not allowed, replies to @invocation with the error (with a
 * reference of its own) */
gboolean pd_auth_check_finish_or_reply (PdAuth *self, GAsyncResult *result,
                                        GDBusMethodInvocation *invocation);

/* The caller's uid, from GetConnectionCredentials, async. */
void pd_auth_get_caller_uid_async (PdAuth *self,
                                   GDBusMethodInvocation *invocation,
                                   GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean pd_auth_get_caller_uid_finish (PdAuth *self, GAsyncResult *result, guint32 *uid,
                                        GError **error);
/* the same, with the caller's pid too (0 when the bus does not know it): for display only */
gboolean pd_auth_get_caller_credentials_finish (PdAuth *self, GAsyncResult *result, guint32 *uid,
                                                guint32 *pid, GError **error);

/*
 * The method → action table, default deny. Every method of every interface in the XML files
 * of data/ must appear: with @action NULL anyone may call it; @privileged_action is the
 * stronger action some calls need (install-privileged, set-privileged), else NULL;
 * @other_action is one more action the method checks: instead of @action for some calls
 * (upgrade-with-settings), or, for a method anyone may call, without interaction to decide
 * what it shows (read-settings for Inspect); else NULL.
 */
typedef struct {
  const char *interface_name;
  const char *method_name;
  const char *action;
  const char *privileged_action;
  const char *other_action;
} PdAuthRule;

const PdAuthRule *pd_auth_lookup_rule (const char *interface_name, const char *method_name);
/* NULL-terminated by an all-NULL entry */
const PdAuthRule *pd_auth_get_rules (void);

G_END_DECLS
