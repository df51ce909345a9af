/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-manager"

#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "pd-archive.h"
#include "pd-call.h"
#include "pd-create.h"
#include "pd-dbus-error.h"
#include "pd-error.h"
#include "pd-install.h"
#include "pd-job.h"
#include "pd-manager.h"
#include "pd-names.h"
#include "pd-options.h"
#include "pd-plugin.h"

struct _PdManager {
  PdDbusManagerSkeleton parent_instance;

  PdEngine *engine;
  PdAuth *auth;
  GDBusObjectManagerServer *object_manager;  /* not owned: it exports this manager */
};

static void pd_manager_iface_init (PdDbusManagerIface *iface);

G_DEFINE_TYPE_WITH_CODE (PdManager, pd_manager, PD_DBUS_TYPE_MANAGER_SKELETON,
                         G_IMPLEMENT_INTERFACE (PD_DBUS_TYPE_MANAGER, pd_manager_iface_init))

static const char *const create_options[] = {
  "interactive", "b",
  "grant-all-privileges", "b",
  NULL
};

static const char *const get_privileges_options[] = {
  "interactive", "b",
  "authorize", "s",
  "registry-auth", "s",
  "platform", "s",
  "settings", "a(ss)",
  "upgrade", "s",
  NULL
};

static const char *const pull_options[] = {
  "interactive", "b",
  "registry-auth", "s",
  "platform", "s",
  "expected-digest", "s",
  "grant-all-privileges", "b",
  "enable", "b",
  "settings", "a(ss)",
  "timeout", "u",
  "activation-timeout", "u",
  NULL
};

static void
pd_manager_dispose (GObject *object)
{
  PdManager *self = PD_MANAGER (object);

  g_clear_object (&self->auth);
  g_clear_object (&self->engine);

  G_OBJECT_CLASS (pd_manager_parent_class)->dispose (object);
}

static void
pd_manager_class_init (PdManagerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pd_manager_dispose;
}

static void
pd_manager_init (PdManager *self)
{
}

static void
set_features (PdManager *self)
{
  g_autoptr(GPtrArray) features = g_ptr_array_new_with_free_func (g_free);
  const char *const *compressions = pd_archive_get_compressions ();

  static const char *const fixed[] = {
    "pull", "push", "create", "upgrade", "enable", "hold", "logs", "inspect-json",
    "setting-values",
    "option:interactive", "option:grant-all-privileges", "option:force", "option:enabled",
    "option:capability", "option:activation-timeout", "option:timeout", "option:stop-timeout",
    "option:lines", "option:follow", "option:registry-auth", "option:platform",
    "option:expected-digest", "option:enable", "option:settings", "option:restart",
    "option:remote", "option:upgrade", "option:authorize", "option:validate-only",
  };

  for (guint i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_ptr_array_add (features, g_strdup (fixed[i]));
  for (guint i = 0; compressions[i] != NULL; i++)
    g_ptr_array_add (features, g_strconcat ("compression:", compressions[i], NULL));
  g_ptr_array_add (features, NULL);
  pd_dbus_manager_set_features (PD_DBUS_MANAGER (self), (const char *const *) features->pdata);
}

PdManager *
pd_manager_new (PdEngine *engine, PdAuth *auth, GDBusObjectManagerServer *object_manager)
{
  PdManager *self = g_object_new (PD_TYPE_MANAGER, NULL);

  self->engine = g_object_ref (engine);
  self->auth = g_object_ref (auth);
  self->object_manager = object_manager;
  pd_dbus_manager_set_version (PD_DBUS_MANAGER (self), PACKAGE_VERSION);
  pd_dbus_manager_set_max_jobs (PD_DBUS_MANAGER (self), pd_engine_get_max_jobs (engine));
  set_features (self);
  return self;
}

/* GetPlugin, ListPlugins, ListJobs */

static gboolean
handle_get_plugin (PdDbusManager *iface, GDBusMethodInvocation *invocation,
                   const char *arg_name_or_id)
{
  PdManager *self = PD_MANAGER (iface);
  GError *error = NULL;
  PdManagedPlugin *plugin;
  g_autofree char *path = NULL;

  if (pd_auth_check_method (invocation) == NULL)
    return TRUE;
  plugin = pd_engine_resolve_plugin (self->engine, arg_name_or_id, &error);
  if (plugin == NULL)
    {
      pd_return_gerror (invocation, error);
      return TRUE;
    }
  path = pd_plugin_dup_object_path_for (pd_managed_plugin_get_id (plugin));
  pd_dbus_manager_complete_get_plugin (iface, invocation, path);
  return TRUE;
}

static gboolean
handle_list_plugins (PdDbusManager *iface, GDBusMethodInvocation *invocation,
                     GVariant *arg_filters)
{
  PdManager *self = PD_MANAGER (iface);
  static const char *const allowed[] = { "enabled", "b", "capability", "s", NULL };
  g_autoptr(GPtrArray) plugins = NULL;
  GVariantBuilder builder;
  gboolean filter_enabled = FALSE, enabled_value = FALSE;
  const char *capability = NULL;

  if (pd_auth_check_call (invocation, arg_filters, allowed) == NULL)
    return TRUE;
  filter_enabled = g_variant_lookup (arg_filters, "enabled", "b", &enabled_value);
  g_variant_lookup (arg_filters, "capability", "&s", &capability);

  plugins = pd_engine_list_plugins (self->engine);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssssbo)"));
  for (guint i = 0; i < plugins->len; i++)
    {
      PdManagedPlugin *plugin = g_ptr_array_index (plugins, i);
      PdPluginRecord *record = pd_managed_plugin_get_record (plugin);
      gboolean enabled = pd_plugin_record_get_enabled (record);
      g_autofree char *path = NULL;

      if (filter_enabled && enabled != enabled_value)
        continue;
      /* any matching type keeps the plugin (Docker drops plugins with several types) */
      if (capability != NULL &&
          !pd_plugin_config_has_capability (pd_plugin_record_get_config (record), capability))
        continue;
      path = pd_plugin_dup_object_path_for (pd_plugin_record_get_id (record));
      g_variant_builder_add (&builder, "(ssssbo)", pd_plugin_record_get_id (record),
                             pd_plugin_record_get_name (record),
                             pd_plugin_record_get_reference (record),
                             pd_plugin_state_to_string (pd_managed_plugin_get_state (plugin)),
                             enabled, path);
    }
  pd_dbus_manager_complete_list_plugins (iface, invocation, g_variant_builder_end (&builder));
  return TRUE;
}

static gboolean
handle_list_jobs (PdDbusManager *iface, GDBusMethodInvocation *invocation)
{
  PdManager *self = PD_MANAGER (iface);
  g_autoptr(GPtrArray) operations = NULL;
  GVariantBuilder builder;

  if (pd_auth_check_method (invocation) == NULL)
    return TRUE;
  operations = pd_engine_list_operations (self->engine);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(usssdo)"));
  for (guint i = 0; i < operations->len; i++)
    {
      PdOperation *operation = g_ptr_array_index (operations, i);
      g_autofree char *path = pd_job_dup_object_path_for (pd_operation_get_id (operation));
      g_autoptr(GDBusInterface) job = g_dbus_object_manager_get_interface (
        G_DBUS_OBJECT_MANAGER (self->object_manager), path, PD_DBUS_INTERFACE_JOB);

      /* the Progress the job shows, which is throttled */
      g_variant_builder_add (&builder, "(usssdo)", pd_operation_get_id (operation),
                             pd_operation_get_kind (operation),
                             pd_operation_get_remote (operation),
                             pd_operation_get_plugin_name (operation),
                             job != NULL ? pd_dbus_job_get_progress (PD_DBUS_JOB (job))
                                         : pd_operation_get_progress (operation),
                             path);
    }
  pd_dbus_manager_complete_list_jobs (iface, invocation, g_variant_builder_end (&builder));
  return TRUE;
}

/* a call between its handler and the start of its operation */
typedef struct {
  PdCall call;                  /* call.self: the PdManager */
  PdInstallRequest *request;    /* Pull, GetPrivileges */
  char *name;                   /* Create */
  int fd;                       /* Create */
  guint64 fd_size;              /* Create: 0 = unknown (pipe, socket) */
  GPtrArray *accepted;          /* Create: PdPrivilege */
  gboolean grant_all;           /* Create */
  PdAuthCondition authorize;    /* GetPrivileges: PD_AUTH_FOR_INSTALL or _UPGRADE, or 0 */
  GHashTable *details;          /* GetPrivileges with authorize: for its second check */
} CallData;

/* the PdCall's clear: the fields of a CallData */
static void
call_data_clear (gpointer call)
{
  CallData *data = call;

  if (data->fd >= 0)
    close (data->fd);
  g_clear_pointer (&data->request, pd_install_request_free);
  g_free (data->name);
  g_clear_pointer (&data->accepted, g_ptr_array_unref);
  g_clear_pointer (&data->details, g_hash_table_unref);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CallData, pd_call_free)

/* pd_call_begin() on the manager: the call's data, or NULL once the call is answered */
static CallData *
begin_call (PdManager *self, GDBusMethodInvocation *invocation, GVariant *options,
            const char *const *allowed)
{
  CallData *data = pd_call_begin (sizeof (CallData), call_data_clear, self, self->auth,
                                  invocation, options, allowed);

  if (data != NULL)
    data->fd = -1;
  return data;
}

static PdEngine *
call_engine (CallData *data)
{
  return PD_MANAGER (data->call.self)->engine;
}

/* the details every remote operation shows polkit */
static GHashTable *
remote_details (const PdReference *ref, const char *operation)
{
  GHashTable *details = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autofree char *familiar = pd_reference_familiar (ref);

  g_hash_table_insert (details, "remote", g_steal_pointer (&familiar));
  g_hash_table_insert (details, "registry", g_strdup (ref->domain));
  g_hash_table_insert (details, "operation", g_strdup (operation));
  return details;
}

/* Create and Pull: authorized as an install, escalated when the call grants privileges (the
 * "privileges" detail says which); then @got_uid gets the caller's uid for the job. Takes
 * @data and @details. */
static void
authorize_install (CallData *data, GHashTable *details, GAsyncReadyCallback got_uid)
{
  gboolean grant_all = data->request != NULL ? data->request->grant_all : data->grant_all;
  GPtrArray *accepted = data->request != NULL ? data->request->accepted : data->accepted;
  gboolean privileged = grant_all || accepted->len > 0;

  if (privileged)
    pd_call_add_privileges_detail (details, grant_all, accepted);
  pd_call_authorize_caller (data, privileged ? PD_AUTH_PRIVILEGES : 0, details, got_uid);
}

/* the caller's uid once the call is authorized, and the operation it starts: NULL when the call
 * is answered (the name was taken meanwhile, too many jobs) */
static PdOperation *
new_operation (CallData *data, GObject *source, GAsyncResult *result, const char *kind,
               const char *remote, const char *name)
{
  PdManager *self = data->call.self;
  GError *error = NULL;
  PdOperation *operation;
  guint32 uid = 0;

  if (!pd_auth_get_caller_uid_finish (PD_AUTH (source), result, &uid, &error) ||
      !pd_engine_check_name_free (self->engine, name, &error))
    {
      pd_call_reply_error (data, error);
      return NULL;
    }
  operation = pd_engine_new_operation (self->engine, kind, remote, name, uid, &error);
  if (operation == NULL)
    pd_call_reply_error (data, error);
  return operation;
}

/* section: Create */

/* exactly one fd, in range, then what the core checks (readable, a file, pipe or socket) */
static int
take_context_fd (GDBusMethodInvocation *invocation, GVariant *handle, guint64 *size,
                 GError **error)
{
  GUnixFDList *fd_list = g_dbus_message_get_unix_fd_list (
    g_dbus_method_invocation_get_message (invocation));
  gint32 index = g_variant_get_handle (handle);
  int fd;

  if (fd_list == NULL || g_unix_fd_list_get_length (fd_list) != 1)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "the message must carry exactly one file descriptor");
      return -1;
    }
  if (index < 0 || index >= g_unix_fd_list_get_length (fd_list))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                   "file descriptor index %d is out of range", index);
      return -1;
    }
  fd = g_unix_fd_list_get (fd_list, index, error);
  if (fd < 0)
    return -1;
  if (!pd_create_check_context_fd (fd, size, error))
    {
      close (fd);
      return -1;
    }
  return fd;
}

static void
create_got_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  g_autofree char *path = NULL;
  PdOperation *operation;

  operation = new_operation (data, source, result, "create", "", data->name);
  if (operation == NULL)
    return;
  path = pd_job_dup_object_path_for (pd_operation_get_id (operation));
  pd_dbus_manager_complete_create (PD_DBUS_MANAGER (data->call.self),
                                   g_object_ref (data->call.invocation), path);
  pd_create_start (call_engine (data), operation, data->name, data->fd, data->fd_size,
                   data->accepted, data->grant_all);
  data->fd = -1;
}

static gboolean
handle_create (PdDbusManager *iface, GDBusMethodInvocation *invocation, const char *arg_name,
               GVariant *arg_context, GVariant *arg_privileges, GVariant *arg_options)
{
  PdManager *self = PD_MANAGER (iface);
  g_autoptr(CallData) data = begin_call (self, invocation, arg_options, create_options);
  GHashTable *details;
  GError *error = NULL;

  if (data == NULL)
    return TRUE;
  data->name = pd_reference_local_name (arg_name, &error);
  if (data->name == NULL || !pd_engine_check_name_free (self->engine, data->name, &error))
    return pd_call_reply_error (data, error);
  data->accepted = pd_privileges_new_from_variant (arg_privileges);
  data->grant_all = pd_options_get_boolean (arg_options, "grant-all-privileges", FALSE);
  /* flags and type only: the fd is not read before authorization */
  data->fd = take_context_fd (invocation, arg_context, &data->fd_size, &error);
  if (data->fd < 0)
    return pd_call_reply_error (data, error);

  details = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_hash_table_insert (details, "plugin", g_strdup (data->name));
  g_hash_table_insert (details, "operation", g_strdup ("create"));
  authorize_install (g_steal_pointer (&data), details, create_got_uid_cb);
  return TRUE;
}

/* section: GetPrivileges */

static void
get_privileges_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  g_autoptr(PdRemotePlugin) remote = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autofree char *reference = NULL;
  g_auto(GVariantBuilder) info = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  const PdPluginConfig *config;
  const char *const empty[] = { NULL };
  GError *error = NULL;

  remote = pd_install_query_finish (PD_ENGINE (source), result, &privileges, &error);
  if (remote == NULL)
    {
      pd_call_reply_error (data, error);
      return;
    }
  config = remote->config;
  reference = pd_reference_to_string (data->request->remote);
  g_variant_builder_add (&info, "{sv}", "manifest-digest", g_variant_new_string (remote->digest));
  g_variant_builder_add (&info, "{sv}", "reference", g_variant_new_string (reference));
  g_variant_builder_add (&info, "{sv}", "description",
                         g_variant_new_string (config->description != NULL ? config->description
                                                                           : ""));
  g_variant_builder_add (&info, "{sv}", "interface-types",
                         g_variant_new_strv (config->interface_types != NULL
                                               ? (const char *const *) config->interface_types
                                               : empty, -1));
  g_variant_builder_add (&info, "{sv}", "size",
                         g_variant_new_uint64 (pd_install_layers_size (remote)));
  pd_dbus_manager_complete_get_privileges (PD_DBUS_MANAGER (data->call.self),
                                           g_object_ref (data->call.invocation),
                                           pd_privileges_to_variant (privileges),
                                           g_variant_builder_end (&info));
}

static void
get_privileges_authorized_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  PdEngine *engine = call_engine (data);
  PdInstallRequest *request = data->request;

  if (!pd_call_authorized (data, result))
    return;
  pd_install_query_async (engine, request, get_privileges_done, g_steal_pointer (&data));
}

/* options["authorize"]: the lookup as it is when it needs no password (query-remote allows the
 * active local session); else the install or upgrade it precedes is asked, so that one
 * password covers both calls (the action keeps its authorization for this process) */
static void
get_privileges_quiet_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CallData *call = user_data;
  g_autoptr(GError) error = NULL;

  if (pd_auth_check_finish (PD_AUTH (source), result, &error))
    {
      pd_install_query_async (call_engine (call), call->request, get_privileges_done, call);
      return;
    }
  g_debug ("lookup not authorized without a prompt (%s): asking as the operation",
           error->message);
  pd_call_authorize (call, call->authorize, g_steal_pointer (&call->details),
                     get_privileges_authorized_cb);
}

/* options["authorize"]: "install" for a lookup before Pull, "upgrade" (with the "upgrade"
 * option) before Upgrade; 0 without it, or -1 and @error for any other value */
static int
get_privileges_authorize (GVariant *options, PdManagedPlugin *plugin, GError **error)
{
  const char *authorize = NULL;

  if (!g_variant_lookup (options, "authorize", "&s", &authorize))
    return 0;
  if (plugin == NULL && g_str_equal (authorize, "install"))
    return PD_AUTH_FOR_INSTALL;
  if (plugin != NULL && g_str_equal (authorize, "upgrade"))
    return PD_AUTH_FOR_UPGRADE;
  g_set_error_literal (error, PD_ERROR, PD_ERROR_INVALID_ARGS,
                       "options[\"authorize\"] must be \"install\", or \"upgrade\" with "
                       "options[\"upgrade\"]");
  return -1;
}

static gboolean
handle_get_privileges (PdDbusManager *iface, GDBusMethodInvocation *invocation,
                       const char *arg_remote, GVariant *arg_options)
{
  PdManager *self = PD_MANAGER (iface);
  g_autoptr(CallData) data = begin_call (self, invocation, arg_options, get_privileges_options);
  GHashTable *details;
  g_autoptr(GVariant) quiet = NULL;
  const char *upgrade = NULL;
  int authorize;
  GError *error = NULL;

  if (data == NULL)
    return TRUE;
  data->request = pd_install_request_new ();
  if (!pd_install_request_parse_options (data->request, arg_options, &error) ||
      !pd_install_request_set_remote (data->request, arg_remote, &error))
    return pd_call_reply_error (data, error);
  if (g_variant_lookup (arg_options, "upgrade", "&s", &upgrade))
    {
      PdManagedPlugin *plugin = pd_engine_resolve_plugin (self->engine, upgrade, &error);

      if (plugin == NULL)
        return pd_call_reply_error (data, error);
      data->request->plugin = g_object_ref (plugin);
    }
  authorize = get_privileges_authorize (arg_options, data->request->plugin, &error);
  if (authorize < 0)
    return pd_call_reply_error (data, error);
  details = remote_details (data->request->remote, "query-remote");
  if (authorize == 0)
    {
      pd_call_authorize (g_steal_pointer (&data), 0, details, get_privileges_authorized_cb);
      return TRUE;
    }
  /* the plugin the dialog of the install or upgrade names */
  if (data->request->plugin != NULL)
    {
      PdManagedPlugin *plugin = data->request->plugin;

      g_hash_table_insert (details, "plugin", g_strdup (pd_managed_plugin_get_name (plugin)));
      g_hash_table_insert (details, "plugin_id", g_strdup (pd_managed_plugin_get_id (plugin)));
    }
  else
    g_hash_table_insert (details, "plugin",
                         pd_install_local_name (data->request->remote, "", NULL));
  data->authorize = authorize;
  data->details = details;
  quiet = g_variant_ref_sink (g_variant_new_parsed ("{'interactive': <false>}"));
  pd_auth_check_async (self->auth, invocation, PD_ACTION_QUERY_REMOTE, details, quiet,
                       get_privileges_quiet_cb, g_steal_pointer (&data));
  return TRUE;
}

/* section: Pull */

static void
pull_got_uid_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(CallData) data = user_data;
  g_autofree char *remote = pd_reference_to_string (data->request->remote);
  g_autofree char *path = NULL;
  PdOperation *operation;

  operation = new_operation (data, source, result, "pull", remote, data->request->name);
  if (operation == NULL)
    return;
  path = pd_job_dup_object_path_for (pd_operation_get_id (operation));
  pd_dbus_manager_complete_pull (PD_DBUS_MANAGER (data->call.self),
                                 g_object_ref (data->call.invocation), path);
  pd_install_start (call_engine (data), operation, g_steal_pointer (&data->request));
}

static gboolean
handle_pull (PdDbusManager *iface, GDBusMethodInvocation *invocation, const char *arg_remote,
             const char *arg_name, GVariant *arg_privileges, GVariant *arg_options)
{
  PdManager *self = PD_MANAGER (iface);
  g_autoptr(CallData) data = begin_call (self, invocation, arg_options, pull_options);
  GHashTable *details;
  PdInstallRequest *request;
  GError *error = NULL;

  if (data == NULL)
    return TRUE;
  data->request = request = pd_install_request_new ();
  if (!pd_install_request_parse_options (request, arg_options, &error) ||
      !pd_install_request_set_remote (request, arg_remote, &error) ||
      (request->name = pd_install_local_name (request->remote, arg_name, &error)) == NULL ||
      !pd_engine_check_name_free (self->engine, request->name, &error))
    return pd_call_reply_error (data, error);
  request->accepted = pd_privileges_new_from_variant (arg_privileges);

  details = remote_details (request->remote, "pull");
  g_hash_table_insert (details, "plugin", g_strdup (request->name));
  authorize_install (g_steal_pointer (&data), details, pull_got_uid_cb);
  return TRUE;
}

/* section: Push */

static gboolean
handle_push (PdDbusManager *iface, GDBusMethodInvocation *invocation, const char *arg_plugin,
             const char *arg_remote, GVariant *arg_options)
{
  PdManager *self = PD_MANAGER (iface);
  static const char *const allowed[] = { "interactive", "b", "registry-auth", "s", NULL };
  g_autoptr(GDBusInterface) plugin = NULL;
  g_autofree char *path = NULL;
  PdManagedPlugin *managed;
  GError *error = NULL;

  if (pd_auth_check_method (invocation) == NULL)
    return TRUE;
  /* as GetPlugin resolves, which tells anyone as much */
  managed = pd_engine_resolve_plugin (self->engine, arg_plugin, &error);
  if (managed != NULL)
    {
      path = pd_plugin_dup_object_path_for (pd_managed_plugin_get_id (managed));
      plugin = g_dbus_object_manager_get_interface (G_DBUS_OBJECT_MANAGER (self->object_manager),
                                                    path, PD_DBUS_INTERFACE_PLUGIN);
    }
  if (plugin == NULL)
    {
      /* resolved but not on the bus (yet, or no longer): as unknown */
      if (error == NULL)
        error = g_error_new (PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin %s is not on the bus",
                             pd_managed_plugin_get_id (managed));
      pd_return_gerror (invocation, error);
      return TRUE;
    }
  /* the plugin's own Push from here: the same checks, authorization, job and answer */
  return pd_plugin_handle_push (PD_PLUGIN (plugin), invocation, arg_remote, arg_options, allowed);
}

static void
pd_manager_iface_init (PdDbusManagerIface *iface)
{
  iface->handle_get_plugin = handle_get_plugin;
  iface->handle_list_plugins = handle_list_plugins;
  iface->handle_list_jobs = handle_list_jobs;
  iface->handle_create = handle_create;
  iface->handle_get_privileges = handle_get_privileges;
  iface->handle_pull = handle_pull;
  iface->handle_push = handle_push;
}
