/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * The one authorization helper of the D-Bus layer (docs/design.md, section Authorization).
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
 * The authorization table: the enforcement point of every method of every interface in the
 * XML files of data/. Default deny: a method without a rule is refused (AccessDenied) before
 * its handler does anything.
 */

/* who may call a method */
typedef enum {
  PD_AUTH_ANYONE,               /* a read that shows no secret: anyone, nothing is asked */
  PD_AUTH_ACTION,               /* the action (or an escalation's) must allow the caller */
  PD_AUTH_ACTION_UNLESS_OWNER,  /* root and the owner (the uid that started a job) need
                                 * nothing; anyone else needs the action */
  PD_AUTH_ANYONE_SHOWS_MORE,    /* anyone; the action, asked without interaction, decides what
                                 * the answer shows: never a refusal, never a prompt */
} PdAuthAccess;

/* what a call does that may need more than the method's action */
typedef enum {
  PD_AUTH_PRIVILEGES = 1 << 0,  /* consents to privileges: an accepted list or
                                 * grant-all-privileges, or a change of the plugin's */
  PD_AUTH_SETTINGS = 1 << 1,    /* brings new settings (env values, args, mounts, devices) */
  PD_AUTH_FOR_INSTALL = 1 << 2, /* a lookup authorized as the install it precedes */
  PD_AUTH_FOR_UPGRADE = 1 << 3, /* a lookup authorized as the upgrade it precedes */
} PdAuthCondition;

typedef struct {
  PdAuthCondition when;         /* a call that meets any of these */
  const char *action;           /* needs this action instead of the rule's */
} PdAuthEscalation;

#define PD_AUTH_MAX_ESCALATIONS 2

typedef struct {
  const char *interface_name;
  const char *method_name;
  PdAuthAccess access;
  const char *action;           /* NULL only for PD_AUTH_ANYONE */
  /* in order, the first a call meets wins: one action is checked, so one prompt at most */
  PdAuthEscalation escalations[PD_AUTH_MAX_ESCALATIONS];
} PdAuthRule;

/* Called first by every handler: the rule of the method @invocation calls, or NULL after
 * replying AccessDenied (no rule). */
const PdAuthRule *pd_auth_check_method (GDBusMethodInvocation *invocation);
/* pd_auth_check_method(), then the call's @options against @allowed (pd_options_check(); NULL:
 * a method without options): the rule, or NULL once the call is answered */
const PdAuthRule *pd_auth_check_call (GDBusMethodInvocation *invocation, GVariant *options,
                                      const char *const *allowed);
const PdAuthRule *pd_auth_lookup_rule (const char *interface_name, const char *method_name);
/* NULL-terminated by an all-NULL entry */
const PdAuthRule *pd_auth_get_rules (void);
/* the action a call that meets @conditions needs */
const char *pd_auth_rule_get_action (const PdAuthRule *rule, PdAuthCondition conditions);
/* PD_AUTH_ACTION_UNLESS_OWNER: the caller needs nothing */
gboolean pd_auth_rule_exempts (const PdAuthRule *rule, guint32 caller_uid, guint32 owner_uid);
/* the table as JSON (plugind --dump-auth-table): a list of {interface, method, access, action,
 * escalations: [{when: [...], action}]} */
char *pd_auth_dump_rules (void);

/* Authorizes a call by its rule: PD_AUTH_ANYONE succeeds at once; the other kinds check the
 * action for @conditions with pd_auth_check_async(), without interaction for
 * PD_AUTH_ANYONE_SHOWS_MORE. Finish with pd_auth_check_finish() or
 * pd_auth_check_finish_or_reply(). */
void pd_auth_authorize_async (PdAuth *self,
                              GDBusMethodInvocation *invocation,
                              const PdAuthRule *rule,
                              PdAuthCondition conditions,
                              GHashTable *details,
                              GVariant *options,
                              GAsyncReadyCallback callback,
                              gpointer user_data);

G_END_DECLS
