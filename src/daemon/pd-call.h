/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "pd-auth.h"

G_BEGIN_DECLS

/*
 * A method call between its handler and its answer: what every handler of the daemon's objects
 * keeps while the caller is authorized. A handler that needs more puts a PdCall first in its
 * own struct, as a GSource subclass puts its GSource, with a function that frees its own
 * fields, and passes that struct where a call is taken (a gpointer @call):
 *
 *   typedef struct { PdCall call; char *name; } CallData;
 *   G_DEFINE_AUTOPTR_CLEANUP_FUNC (CallData, pd_call_free)
 *   CallData *data = pd_call_begin (sizeof (CallData), call_data_clear, self, self->auth,
 *                                   invocation, options, allowed);
 */
typedef struct {
  gpointer self;                       /* the exported object the call is on (a GObject) */
  PdAuth *auth;
  GDBusMethodInvocation *invocation;   /* the handler's reference; every reply takes its own */
  const PdAuthRule *rule;              /* the method's rule in the table */
  GVariant *options;                   /* the call's a{sv} options, or NULL */
  GDestroyNotify clear;                /* frees the larger struct's own fields, or NULL */
  GAsyncReadyCallback then;            /* pd_call_authorize_caller()'s callback */
} PdCall;

/* What every handler that authorizes does first: pd_auth_check_call() (the table's rule, a
 * method without one is denied; then @options against @allowed, NULL for a method without
 * options). A new call on @self of @size bytes (at least a PdCall; the rest zeroed, @clear
 * frees it, may be NULL) that takes the handler's reference on @invocation, or NULL once the
 * call is answered. */
gpointer pd_call_begin (gsize size,
                        GDestroyNotify clear,
                        gpointer self,
                        PdAuth *auth,
                        GDBusMethodInvocation *invocation,
                        GVariant *options,
                        const char *const *allowed);
/* @clear, then what the PdCall holds, then the whole block */
void pd_call_free (gpointer call);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PdCall, pd_call_free)

/* Answers the call with @error (taken), through pd_return_gerror(); TRUE (handled), for a
 * handler to return. */
gboolean pd_call_reply_error (gpointer call, GError *error);

/* Authorizes the call by its rule, for what it does (@conditions), with the polkit @details
 * (taken; may be NULL); @callback gets @call (taken). */
void pd_call_authorize (gpointer call,
                        PdAuthCondition conditions,
                        GHashTable *details,
                        GAsyncReadyCallback callback);
/* in that callback: TRUE when the authorization ended well, else the call is answered */
gboolean pd_call_authorized (gpointer call, GAsyncResult *result);

/* The caller's uid and pid, for a job's owner or a hold (pd_auth_get_caller_uid_async());
 * @callback gets @call (taken). */
void pd_call_get_caller (gpointer call, GAsyncReadyCallback callback);
/* pd_call_authorize(), then, once the caller is authorized, pd_call_get_caller() with
 * @callback: for the calls that record who made them */
void pd_call_authorize_caller (gpointer call,
                               PdAuthCondition conditions,
                               GHashTable *details,
                               GAsyncReadyCallback callback);

/* the "privileges" detail polkit shows for a call that consents to privileges: all of them
 * (@grant_all) or @accepted (PdPrivilege) */
void pd_call_add_privileges_detail (GHashTable *details, gboolean grant_all, GPtrArray *accepted);

G_END_DECLS
