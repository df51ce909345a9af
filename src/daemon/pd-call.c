/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-call"

#include "pd-call.h"
#include "pd-dbus-error.h"
#include "pd-privileges.h"

gpointer
pd_call_begin (gsize size, GDestroyNotify clear, gpointer self, PdAuth *auth,
               GDBusMethodInvocation *invocation, GVariant *options, const char *const *allowed)
{
  const PdAuthRule *rule;
  PdCall *call;

  g_return_val_if_fail (size >= sizeof (PdCall), NULL);

  rule = pd_auth_check_call (invocation, options, allowed);
  if (rule == NULL)
    return NULL;
  call = g_malloc0 (size);
  call->self = g_object_ref (self);
  call->auth = g_object_ref (auth);
  call->invocation = invocation;
  call->rule = rule;
  call->options = options != NULL ? g_variant_ref (options) : NULL;
  call->clear = clear;
  return call;
}

void
pd_call_free (gpointer data)
{
  PdCall *call = data;

  if (call->clear != NULL)
    call->clear (call);
  g_object_unref (call->self);
  g_object_unref (call->auth);
  g_object_unref (call->invocation);
  g_clear_pointer (&call->options, g_variant_unref);
  g_free (call);
}

gboolean
pd_call_reply_error (gpointer call, GError *error)
{
  PdCall *base = call;

  pd_return_gerror (g_object_ref (base->invocation), error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
pd_call_authorize (gpointer call, PdAuthCondition conditions, GHashTable *details,
                   GAsyncReadyCallback callback)
{
  PdCall *base = call;

  pd_auth_authorize_async (base->auth, base->invocation, base->rule, conditions, details,
                           base->options, callback, call);
  /* ours was taken; the check keeps its own reference */
  if (details != NULL)
    g_hash_table_unref (details);
}

gboolean
pd_call_authorized (gpointer call, GAsyncResult *result)
{
  PdCall *base = call;

  return pd_auth_check_finish_or_reply (base->auth, result, base->invocation);
}

void
pd_call_get_caller (gpointer call, GAsyncReadyCallback callback)
{
  PdCall *base = call;

  pd_auth_get_caller_uid_async (base->auth, base->invocation, callback, call);
}

static void
authorized_then_caller_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdCall) call = user_data;
  GAsyncReadyCallback then = call->then;

  if (pd_call_authorized (call, result))
    pd_call_get_caller (g_steal_pointer (&call), then);
}

void
pd_call_authorize_caller (gpointer call, PdAuthCondition conditions, GHashTable *details,
                          GAsyncReadyCallback callback)
{
  PdCall *base = call;

  base->then = callback;
  pd_call_authorize (call, conditions, details, authorized_then_caller_cb);
}

void
pd_call_add_privileges_detail (GHashTable *details, gboolean grant_all, GPtrArray *accepted)
{
  g_hash_table_insert (details, "privileges", grant_all ? g_strdup ("all the plugin requests")
                                                        : pd_privileges_to_string (accepted));
}
