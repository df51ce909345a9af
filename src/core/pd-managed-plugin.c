/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-managed-plugin"

#include <fcntl.h>
#include <unistd.h>

#include <glib-unix.h>

#include "pd-error.h"
#include "pd-managed-plugin.h"
#include "pd-propagated-mounts.h"

struct _PdManagedPlugin {
  GObject parent_instance;

  PdPluginRecord *record;
  PdStore *store;
  PdRunner *runner;          /* made at its first use: a plugin that never runs has none */
  const char *runtime_dir;   /* the engine's, interned, for the runner */
  const char *log_dir;       /* the same */
  guint64 loaded;            /* the StateTimestamp while there is no runner */
  PdSandboxCapabilities capabilities;
  PdOperation *operation;    /* the running operation on it, set by the engine */
  guint64 disk_usage;
  GCancellable *start_cancellable;  /* of the enable in progress, for the service's stop */
  GCancellable *start_link;  /* the operation's cancellable, which that enable follows */
  gulong start_link_id;
  GList *stop_tasks;         /* the service's stops waiting for that enable to end */
  GList *start_waiters;      /* forced Disables and Removes waiting for it to end (GTask) */
  guint forcing;             /* forced Disables and Removes ending what holds the plugin */
  GPtrArray *holds;          /* Hold; made at the first */
  GPtrArray *mount_holds;    /* MountHold: the mounts beneath its PropagatedMount; the same */
  gboolean removed;
  gboolean busy;             /* an authorized state change is in progress (never set while
                              * the caller is being authorized: a caller that is denied must
                              * not block anyone) */
  const PdManagedPluginOwner *owner;
  gpointer owner_data;
  PdPluginRecord *previous_image;  /* while the IMAGE change is emitted: the image before */
};

enum {
  SIGNAL_CHANGED,
  SIGNAL_EVENT,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

/* a consumer's reference: released when the holder closes its end of the pipe */
typedef struct {
  PdManagedPlugin *plugin;   /* not owned */
  char *who;
  char *why;
  guint32 uid;
  guint32 pid;
  int write_fd;
  guint watch_id;
} Hold;

/* a mount beneath the PropagatedMount, as Holders shows it */
typedef struct {
  char *who;
  char *why;
} MountHold;

static void
mount_hold_free (MountHold *hold)
{
  g_free (hold->who);
  g_free (hold->why);
  g_free (hold);
}

static void
hold_free (Hold *hold)
{
  g_clear_handle_id (&hold->watch_id, g_source_remove);
  if (hold->write_fd >= 0)
    close (hold->write_fd);
  g_free (hold->who);
  g_free (hold->why);
  g_free (hold);
}

G_DEFINE_TYPE (PdManagedPlugin, pd_managed_plugin, G_TYPE_OBJECT)

static void
pd_managed_plugin_finalize (GObject *object)
{
  PdManagedPlugin *self = PD_MANAGED_PLUGIN (object);

  g_clear_pointer (&self->holds, g_ptr_array_unref);
  g_clear_pointer (&self->mount_holds, g_ptr_array_unref);
  g_clear_object (&self->start_cancellable);
  g_clear_object (&self->start_link);
  if (self->runner != NULL)
    pd_runner_set_owner (self->runner, NULL, NULL);
  g_clear_object (&self->runner);
  g_clear_object (&self->operation);
  g_clear_object (&self->record);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (pd_managed_plugin_parent_class)->finalize (object);
}

static void
pd_managed_plugin_class_init (PdManagedPluginClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pd_managed_plugin_finalize;

  signals[SIGNAL_CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT);
  signals[SIGNAL_EVENT] =
    g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
pd_managed_plugin_init (PdManagedPlugin *self)
{
}

/* the length of a list of holds that may not be made yet */
static guint
n_of (GPtrArray *holds)
{
  return holds != NULL ? holds->len : 0;
}

/* adds @hold to *@holds, made at the first (most plugins are never held) */
static void
add_hold_to (GPtrArray **holds, GDestroyNotify free_func, gpointer hold)
{
  if (*holds == NULL)
    *holds = g_ptr_array_new_with_free_func (free_func);
  g_ptr_array_add (*holds, hold);
}

/* the owner first, then the handlers */
static void
emit_changed (PdManagedPlugin *self, PdManagedPluginChange what)
{
  if (self->owner != NULL)
    self->owner->changed (self, (guint) what, self->owner_data);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0, (guint) what);
}

static void
emit_event (PdManagedPlugin *self, const char *action)
{
  if (self->owner != NULL)
    self->owner->event (self, action, self->owner_data);
  g_signal_emit (self, signals[SIGNAL_EVENT], 0, action);
}

void
pd_managed_plugin_set_owner (PdManagedPlugin *self, const PdManagedPluginOwner *owner,
                             gpointer data)
{
  g_return_if_fail (PD_IS_MANAGED_PLUGIN (self));
  self->owner = owner;
  self->owner_data = owner != NULL ? data : NULL;
}

static void
on_runner_notify (PdRunner *runner, GParamSpec *pspec, gpointer user_data)
{
  PdManagedPlugin *self = user_data;
  PdPluginState state = pd_runner_get_state (runner);
  PdManagedPluginChange what = PD_MANAGED_PLUGIN_CHANGED_RUNTIME;

  /* holds pin a running plugin; once it stopped or failed they mean nothing */
  if ((state == PD_PLUGIN_STATE_DISABLED || state == PD_PLUGIN_STATE_FAILED) &&
      n_of (self->holds) > 0)
    {
      g_ptr_array_set_size (self->holds, 0);
      what |= PD_MANAGED_PLUGIN_CHANGED_HOLDERS;
    }
  emit_changed (self, what);
}

static void
on_runner_event (PdRunner *runner, const char *action, gpointer user_data)
{
  emit_event (user_data, action);
}

static char *sanitize_label (const char *text);

/* the runner's mounts, as holders */
static void
on_runner_mounts_changed (PdRunner *runner, gpointer user_data)
{
  PdManagedPlugin *self = user_data;
  guint n_unlisted = 0;
  GPtrArray *mounts = pd_runner_get_mounts (runner, &n_unlisted);

  if (self->mount_holds != NULL)
    g_ptr_array_set_size (self->mount_holds, 0);
  for (guint i = 0; mounts != NULL && i < mounts->len; i++)
    {
      PdPropagatedMount *mount = g_ptr_array_index (mounts, i);
      g_autofree char *fstype = pd_escape_untrusted (mount->fstype, -1);
      MountHold *hold = g_new0 (MountHold, 1);

      hold->who = sanitize_label (mount->host_path);
      hold->why = g_strdup_printf ("mounted beneath its propagated mount (%s)", fstype);
      add_hold_to (&self->mount_holds, (GDestroyNotify) mount_hold_free, hold);
    }
  if (n_unlisted > 0)
    {
      MountHold *hold = g_new0 (MountHold, 1);

      hold->who = g_strdup ("more mounts");
      hold->why = n_unlisted == G_MAXUINT
                    ? g_strdup ("more mounts beneath its propagated mount than plugind lists")
                    : g_strdup_printf ("%u more mounts beneath its propagated mount", n_unlisted);
      add_hold_to (&self->mount_holds, (GDestroyNotify) mount_hold_free, hold);
    }
  emit_changed (self, PD_MANAGED_PLUGIN_CHANGED_HOLDERS);
}

static const PdRunnerOwner runner_owner = {
  on_runner_notify, on_runner_event, on_runner_mounts_changed,
};

PdManagedPlugin *
pd_managed_plugin_new (PdPluginRecord *record, PdStore *store, const char *runtime_dir,
                       const char *log_dir, PdSandboxCapabilities capabilities)
{
  PdManagedPlugin *self = g_object_new (PD_TYPE_MANAGED_PLUGIN, NULL);

  self->record = g_object_ref (record);
  self->store = g_object_ref (store);
  /* a few dirs per process (one engine's), not per plugin */
  self->runtime_dir = g_intern_string (runtime_dir);
  self->log_dir = g_intern_string (log_dir);
  self->capabilities = capabilities;
  self->loaded = (guint64) g_get_real_time ();
  return self;
}

/* the runner, made at its first use (~0.7 KiB: with many plugins most never run) */
static PdRunner *
runner_of (PdManagedPlugin *self)
{
  const char *id;
  g_autofree char *rootfs = NULL;
  g_autofree char *plugin_runtime_dir = NULL;

  if (self->runner != NULL)
    return self->runner;
  id = pd_plugin_record_get_id (self->record);
  rootfs = pd_store_get_rootfs_path (self->store, id);
  plugin_runtime_dir = g_build_filename (self->runtime_dir, "plugins", id, NULL);
  self->runner = pd_runner_new (self->record, rootfs, plugin_runtime_dir, self->log_dir);
  pd_runner_set_capabilities (self->runner, self->capabilities);
  pd_runner_set_initial_state_timestamp (self->runner, self->loaded);
  pd_runner_set_owner (self->runner, &runner_owner, self);
  return self->runner;
}

/* the state of a runner not made yet: disabled */
static PdPluginState
runner_state (PdManagedPlugin *self)
{
  return self->runner != NULL ? pd_runner_get_state (self->runner) : PD_PLUGIN_STATE_DISABLED;
}

/* pd_runner_release_mounts(), without making the runner */
static gboolean
release_mounts (PdManagedPlugin *self, GError **error)
{
  g_autofree char *rootfs = NULL;

  if (self->runner != NULL)
    return pd_runner_release_mounts (self->runner, error);
  rootfs = pd_store_get_rootfs_path (self->store, pd_plugin_record_get_id (self->record));
  return pd_runner_release_mounts_for (self->record, rootfs, error);
}

/* section: what it is */

PdPluginRecord *
pd_managed_plugin_get_record (PdManagedPlugin *self)
{
  return self->record;
}

const char *
pd_managed_plugin_get_id (PdManagedPlugin *self)
{
  return pd_plugin_record_get_id (self->record);
}

const char *
pd_managed_plugin_get_name (PdManagedPlugin *self)
{
  return pd_plugin_record_get_name (self->record);
}

PdRunner *
pd_managed_plugin_get_runner (PdManagedPlugin *self)
{
  return runner_of (self);
}

PdRunner *
pd_managed_plugin_peek_runner (PdManagedPlugin *self)
{
  return self->runner;
}

guint64
pd_managed_plugin_get_state_timestamp (PdManagedPlugin *self)
{
  return self->runner != NULL ? pd_runner_get_state_timestamp (self->runner) : self->loaded;
}

PdPluginState
pd_managed_plugin_get_state (PdManagedPlugin *self)
{
  return runner_state (self);
}

gboolean
pd_managed_plugin_is_active (PdManagedPlugin *self)
{
  PdPluginState state = runner_state (self);

  return state != PD_PLUGIN_STATE_DISABLED && state != PD_PLUGIN_STATE_FAILED;
}

guint64
pd_managed_plugin_get_disk_usage (PdManagedPlugin *self)
{
  return self->disk_usage;
}

void
pd_managed_plugin_set_disk_usage (PdManagedPlugin *self, guint64 bytes)
{
  self->disk_usage = bytes;
  emit_changed (self, PD_MANAGED_PLUGIN_CHANGED_DISK_USAGE);
}

guint
pd_managed_plugin_get_n_holds (PdManagedPlugin *self)
{
  return n_of (self->holds) + n_of (self->mount_holds);
}

void
pd_managed_plugin_get_hold (PdManagedPlugin *self, guint index, const char **who,
                            const char **why, guint32 *uid, guint32 *pid)
{
  if (index >= n_of (self->holds))
    {
      MountHold *mount = g_ptr_array_index (self->mount_holds, index - n_of (self->holds));

      *who = mount->who;
      *why = mount->why;
      /* the plugin made it, as root; the engine that asked for it is not known */
      *uid = 0;
      *pid = 0;
      return;
    }
  {
    Hold *hold = g_ptr_array_index (self->holds, index);

    *who = hold->who;
    *why = hold->why;
    *uid = hold->uid;
    *pid = hold->pid;
  }
}

char *
pd_managed_plugin_dup_propagated_mount_dir (PdManagedPlugin *self)
{
  g_autofree char *rootfs = NULL;

  if (self->runner != NULL)
    return pd_runner_dup_propagated_mount_dir (self->runner);
  rootfs = pd_store_get_rootfs_path (self->store, pd_plugin_record_get_id (self->record));
  return pd_runner_dup_propagated_mount_dir_for (self->record, rootfs);
}

void
pd_managed_plugin_mark_removed (PdManagedPlugin *self)
{
  self->removed = TRUE;
}

gboolean
pd_managed_plugin_is_removed (PdManagedPlugin *self)
{
  return self->removed;
}

void
pd_managed_plugin_set_operation (PdManagedPlugin *self, PdOperation *operation)
{
  if (g_set_object (&self->operation, operation))
    emit_changed (self, PD_MANAGED_PLUGIN_CHANGED_OPERATION);
}

PdOperation *
pd_managed_plugin_get_operation (PdManagedPlugin *self)
{
  return self->operation;
}

char *
pd_managed_plugin_to_inspect_json (PdManagedPlugin *self, gboolean show_values)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) state = NULL;
  PdRunner *runner = self->runner;

  json_builder_begin_object (builder);
  /* a runner not made yet: a new runner's values */
  json_builder_set_member_name (builder, "Status");
  json_builder_add_string_value (builder, pd_plugin_state_to_string (runner_state (self)));
  json_builder_set_member_name (builder, "Pid");
  json_builder_add_int_value (builder, runner != NULL ? pd_runner_get_main_pid (runner) : 0);
  json_builder_set_member_name (builder, "RestartCount");
  json_builder_add_int_value (builder, runner != NULL ? pd_runner_get_restart_count (runner) : 0);
  json_builder_set_member_name (builder, "ErrorName");
  json_builder_add_string_value (builder,
                                 runner != NULL ? pd_runner_get_last_error_name (runner) : "");
  json_builder_set_member_name (builder, "Error");
  json_builder_add_string_value (builder,
                                 runner != NULL ? pd_runner_get_last_error_message (runner) : "");
  json_builder_end_object (builder);
  state = json_builder_get_root (builder);
  return pd_plugin_record_to_docker_json_with_state (self->record, show_values, state);
}

void
pd_managed_plugin_take_image (PdManagedPlugin *self, PdPluginRecord *upgraded)
{
  PdPluginRecord *record = self->record;

  /* the image before, for those who compare (the daemon keeps no copy of the record's
   * strings): only while the change is emitted */
  self->previous_image =
    pd_plugin_record_new (pd_plugin_record_get_id (record), pd_plugin_record_get_name (record),
                          pd_plugin_record_get_remote (record),
                          pd_plugin_config_copy (pd_plugin_record_get_config (record)),
                          pd_plugin_record_get_config_digest (record),
                          pd_plugin_record_get_manifest_digest (record),
                          pd_plugin_record_get_layer_digests (record));
  pd_plugin_record_take_image (record, upgraded);
  emit_changed (self, PD_MANAGED_PLUGIN_CHANGED_IMAGE);
  g_clear_object (&self->previous_image);
}

PdPluginRecord *
pd_managed_plugin_get_previous_image (PdManagedPlugin *self)
{
  g_return_val_if_fail (PD_IS_MANAGED_PLUGIN (self), NULL);
  return self->previous_image;
}

/* section: checks */

static gboolean
has_running_operation (PdManagedPlugin *self)
{
  return self->operation != NULL && !pd_operation_is_finished (self->operation);
}

gboolean
pd_managed_plugin_check_can_change (PdManagedPlugin *self, GError **error)
{
  const char *name = pd_managed_plugin_get_name (self);

  if (self->removed)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin \"%s\" not found", name);
      return FALSE;
    }
  if (self->busy || self->forcing > 0 || has_running_operation (self))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY,
                   "another operation on plugin %s is in progress", name);
      return FALSE;
    }
  return TRUE;
}

/* a job, a start, a stop or another state change holds the plugin */
static gboolean
is_held (PdManagedPlugin *self)
{
  return self->busy || self->forcing > 0 || self->start_cancellable != NULL ||
         has_running_operation (self);
}

/* @for_operation: the caller is the operation working on this plugin, which must not count as
 * another change in progress */
static gboolean
check_can_enable (PdManagedPlugin *self, gboolean for_operation, GError **error)
{
  PdPluginState state = runner_state (self);
  const char *name = pd_managed_plugin_get_name (self);

  if (for_operation ? self->removed || self->busy || self->forcing > 0
                    : !pd_managed_plugin_check_can_change (self, error))
    {
      if (for_operation)
        g_set_error (error, PD_ERROR, self->removed ? PD_ERROR_NO_SUCH_PLUGIN : PD_ERROR_BUSY,
                     "plugin %s was removed or is busy", name);
      return FALSE;
    }
  if (state == PD_PLUGIN_STATE_STOPPING)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY, "plugin %s is stopping", name);
      return FALSE;
    }
  if (pd_managed_plugin_is_active (self))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED, "plugin %s is already enabled",
                   name);
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_managed_plugin_check_can_enable (PdManagedPlugin *self, GError **error)
{
  return check_can_enable (self, FALSE, error);
}

/* holders an "in use" message names, at most */
#define IN_USE_HOLDERS_NAMED 4

/* PluginInUse while a consumer holds the plugin or something is mounted beneath its
 * PropagatedMount (on the host too, where an engine may use it: Docker counts only its own
 * references). The mounts are read again now; the message names a few. */
static gboolean
check_not_in_use (PdManagedPlugin *self, GError **error)
{
  const char *name = pd_managed_plugin_get_name (self);
  g_autoptr(GString) mounts = NULL;
  guint n_unlisted = 0;
  GPtrArray *list = NULL;

  /* a runner not made yet has no sandbox, so nothing mounted */
  if (self->runner != NULL)
    {
      pd_runner_refresh_mounts (self->runner);
      list = pd_runner_get_mounts (self->runner, &n_unlisted);
    }
  if (list != NULL && (list->len > 0 || n_unlisted > 0))
    {
      mounts = g_string_new (NULL);
      for (guint i = 0; i < list->len && i < 4; i++)
        {
          PdPropagatedMount *mount = g_ptr_array_index (list, i);
          g_autofree char *escaped = pd_escape_untrusted (mount->host_path, -1);

          g_string_append_printf (mounts, "%s%s", i > 0 ? ", " : "", escaped);
        }
      if (n_unlisted > 0 || list->len > 4)
        g_string_append (mounts, ", and more");
    }
  if (mounts != NULL)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_IN_USE,
                   "plugin %s is in use: mounted beneath its propagated mount: %s", name,
                   mounts->str);
      return FALSE;
    }
  if (n_of (self->holds) > 0)
    {
      g_autoptr(GString) holders = g_string_new (NULL);

      /* the labels were escaped and cut when the hold was taken (sanitize_label, with
       * pd_escape_untrusted()); a few of them keep the message short */
      for (guint i = 0; i < self->holds->len && i < IN_USE_HOLDERS_NAMED; i++)
        {
          Hold *hold = g_ptr_array_index (self->holds, i);

          g_string_append_printf (holders, "%s%s (%s, uid %u)", i > 0 ? ", " : "", hold->who,
                                  hold->why, hold->uid);
        }
      if (self->holds->len > IN_USE_HOLDERS_NAMED)
        g_string_append_printf (holders, ", and %u more",
                                self->holds->len - IN_USE_HOLDERS_NAMED);
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_IN_USE, "plugin %s is in use: held by %s",
                   name, holders->str);
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_managed_plugin_check_can_disable (PdManagedPlugin *self, gboolean force, GError **error)
{
  const char *name = pd_managed_plugin_get_name (self);
  PdPluginState state = runner_state (self);

  /* force ends what holds the plugin (a start, an operation) first */
  if (force && !self->removed && is_held (self))
    return TRUE;
  if (!pd_managed_plugin_check_can_change (self, error))
    return FALSE;
  if (state == PD_PLUGIN_STATE_DISABLED && !pd_plugin_record_get_enabled (self->record))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_DISABLED,
                   "plugin is already disabled: plugin %s found but disabled", name);
      return FALSE;
    }
  if (state == PD_PLUGIN_STATE_STOPPING || state == PD_PLUGIN_STATE_STARTING)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY, "plugin %s is %s", name,
                   pd_plugin_state_to_string (state));
      return FALSE;
    }
  if (!force && !check_not_in_use (self, error))
    return FALSE;
  return TRUE;
}

/* what Remove refuses without force, as Docker does */
gboolean
pd_managed_plugin_check_can_remove (PdManagedPlugin *self, gboolean force, GError **error)
{
  const char *name = pd_managed_plugin_get_name (self);

  /* force ends what holds the plugin first */
  if (force && !self->removed && is_held (self))
    return TRUE;
  if (!pd_managed_plugin_check_can_change (self, error))
    return FALSE;
  if (force)
    return TRUE;
  if (!check_not_in_use (self, error))
    return FALSE;
  if (pd_managed_plugin_is_active (self) || pd_plugin_record_get_enabled (self->record))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED, "plugin %s is enabled", name);
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_managed_plugin_check_can_hold (PdManagedPlugin *self, GError **error)
{
  const char *name = pd_managed_plugin_get_name (self);

  if (self->removed)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN, "plugin \"%s\" not found", name);
      return FALSE;
    }
  if (runner_state (self) != PD_PLUGIN_STATE_RUNNING)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_DISABLED, "plugin %s is not running", name);
      return FALSE;
    }
  /* every hold is shown, and the whole list goes out on every change */
  if (n_of (self->holds) >= PD_MANAGED_PLUGIN_MAX_HOLDS)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED,
                   "plugin %s already has %u holders, the most it takes", name,
                   (guint) PD_MANAGED_PLUGIN_MAX_HOLDS);
      return FALSE;
    }
  return TRUE;
}

gboolean
pd_managed_plugin_check_can_set (PdManagedPlugin *self, GError **error)
{
  if (!pd_managed_plugin_check_can_change (self, error))
    return FALSE;
  if (pd_managed_plugin_is_active (self))
    {
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED,
                   "cannot set on an active plugin, disable plugin before setting");
      return FALSE;
    }
  return TRUE;
}

char *
pd_managed_plugin_dup_privileges_text (PdManagedPlugin *self)
{
  g_autoptr(GPtrArray) privileges = pd_plugin_record_dup_privileges (self->record);

  return pd_privileges_to_string (privileges);
}

gboolean
pd_managed_plugin_check_can_upgrade (PdManagedPlugin *self, gboolean restart,
                                     const char *authorized_privileges, GError **error)
{
  g_autofree char *current = NULL;

  if (!pd_managed_plugin_check_can_change (self, error))
    return FALSE;
  if (!restart && pd_managed_plugin_is_active (self))
    {
      /* Docker's words (cli/command/plugin/upgrade.go) */
      g_set_error (error, PD_ERROR, PD_ERROR_PLUGIN_ENABLED,
                   "the plugin must be disabled before upgrading");
      return FALSE;
    }
  if (authorized_privileges == NULL)
    return TRUE;
  current = pd_managed_plugin_dup_privileges_text (self);
  if (g_strcmp0 (current, authorized_privileges) != 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY,
                   "the settings of plugin %s changed during authorization",
                   pd_managed_plugin_get_name (self));
      return FALSE;
    }
  return TRUE;
}

/* section: Set */

PdPluginSettings *
pd_managed_plugin_compute_settings (PdManagedPlugin *self, GPtrArray *changes,
                                    char **privileges_text, gboolean *privileges_changed,
                                    GError **error)
{
  const PdPluginConfig *config = pd_plugin_record_get_config (self->record);
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) old_privileges = NULL;
  g_autoptr(GPtrArray) new_privileges = NULL;

  settings = pd_plugin_settings_apply (pd_plugin_record_get_settings (self->record), config,
                                       changes, error);
  if (settings == NULL)
    return NULL;
  old_privileges = pd_plugin_record_dup_privileges (self->record);
  new_privileges = pd_privileges_compute (config, settings);
  *privileges_changed = !pd_privileges_equal (old_privileges, new_privileges);
  *privileges_text = pd_privileges_to_string (new_privileges);
  return g_steal_pointer (&settings);
}

gboolean
pd_managed_plugin_set_settings (PdManagedPlugin *self, GPtrArray *changes,
                                const char *authorized_privileges, GError **error)
{
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(PdPluginSettings) old_settings = NULL;
  g_autofree char *privileges_text = NULL;
  gboolean privileges_changed = FALSE;
  guint64 old_updated;

  /* the plugin may have been enabled while the caller was authorized */
  if (!pd_managed_plugin_check_can_set (self, error))
    return FALSE;
  /* and its settings may have changed: what is applied must be what was authorized */
  settings = pd_managed_plugin_compute_settings (self, changes, &privileges_text,
                                                 &privileges_changed, error);
  if (settings == NULL)
    return FALSE;
  if (privileges_changed && g_strcmp0 (privileges_text, authorized_privileges) != 0)
    {
      g_set_error (error, PD_ERROR, PD_ERROR_BUSY,
                   "the settings of plugin %s changed during authorization",
                   pd_managed_plugin_get_name (self));
      return FALSE;
    }

  old_settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (self->record));
  old_updated = pd_plugin_record_get_updated (self->record);
  pd_plugin_record_set_settings (self->record, g_steal_pointer (&settings));
  pd_plugin_record_set_updated (self->record, (guint64) g_get_real_time ());
  if (!pd_store_save_record (self->store, self->record, error))
    {
      /* nothing changed on disk: put the record back as it was */
      pd_plugin_record_set_settings (self->record, g_steal_pointer (&old_settings));
      pd_plugin_record_set_updated (self->record, old_updated);
      g_prefix_error (error, "saving the settings of %s: ", pd_managed_plugin_get_name (self));
      return FALSE;
    }
  emit_changed (self, PD_MANAGED_PLUGIN_CHANGED_SETTINGS);
  emit_event (self, "set");
  return TRUE;
}

/* section: force: Disable and Remove with "force" wait for nothing */

static void force_step (GTask *task);

static gboolean
force_step_cb (gpointer user_data)
{
  force_step (user_data);
  return G_SOURCE_REMOVE;
}

/* takes @task; a state change ending in this main loop iteration is over by then */
static void
force_step_later (GTask *task)
{
  g_timeout_add_full (G_PRIORITY_DEFAULT, 10, force_step_cb, task, g_object_unref);
}

static void
force_operation_finished_cb (PdOperation *operation, gpointer user_data)
{
  g_signal_handlers_disconnect_by_func (operation, force_operation_finished_cb, user_data);
  force_step_later (user_data);
}

static void
force_stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  pd_runner_disable_finish (PD_RUNNER (source), result, NULL);
  force_step_later (user_data);
}

/* ends what holds the plugin, one thing at a time, and looks again once it is over */
static void
force_step (GTask *task)
{
  PdManagedPlugin *self = g_task_get_source_object (task);

  if (self->removed)
    {
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_NO_SUCH_PLUGIN,
                               "plugin \"%s\" not found", pd_managed_plugin_get_name (self));
      return;
    }
  /* an operation working on it (an install that enables it, an upgrade, a push): cancelled,
   * in whatever phase, and waited for */
  if (has_running_operation (self))
    {
      PdOperation *operation = self->operation;

      g_signal_connect (operation, "finished", G_CALLBACK (force_operation_finished_cb),
                        g_object_ref (task));
      pd_operation_cancel (operation, "a forced operation on its plugin");
      return;
    }
  /* a start (Enable, or at the service's start): cancelled, which kills the plugin */
  if (self->start_cancellable != NULL)
    {
      self->start_waiters = g_list_prepend (self->start_waiters, g_object_ref (task));
      g_cancellable_cancel (self->start_cancellable);
      return;
    }
  /* a stop: joined */
  if (runner_state (self) == PD_PLUGIN_STATE_STOPPING)
    {
      pd_runner_disable_async (runner_of (self), 0, NULL, force_stopped_cb, g_object_ref (task));
      return;
    }
  if (self->busy)
    {
      force_step_later (g_object_ref (task));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

/* the rest of a forced Disable or Remove; takes @task */
typedef void (*ChangeStep) (GTask *task);

static void
force_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ChangeStep then = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  PD_MANAGED_PLUGIN (source)->forcing--;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, error);
      return;
    }
  then (g_steal_pointer (&task));
}

/* Ends whatever holds the plugin, then goes on with @then: the plugin is then running, failed
 * or disabled, and nothing else works on it. New state changes are Busy meanwhile. Takes
 * @task. */
static void
force_then (GTask *task, ChangeStep then)
{
  PdManagedPlugin *self = g_task_get_source_object (task);
  g_autoptr(GTask) force = g_task_new (self, NULL, force_done_cb, task);

  g_task_set_task_data (force, then, NULL);
  self->forcing++;
  force_step (force);
}

/* what Disable and the stop before Remove were given */
typedef struct {
  gboolean force;
  guint stop_timeout_ms;
} ChangeData;

static GTask *
change_task_new (PdManagedPlugin *self, gboolean force, guint stop_timeout_ms,
                 GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  ChangeData *data = g_new0 (ChangeData, 1);

  data->force = force;
  data->stop_timeout_ms = stop_timeout_ms;
  g_task_set_task_data (task, data, g_free);
  return task;
}

/* section: Enable */

/* persists Enabled; "changed" (ENABLED) once it is on disk, changed or not: what it says goes
 * out before the event that follows */
static gboolean
save_enabled (PdManagedPlugin *self, gboolean enabled, GError **error)
{
  gboolean old = pd_plugin_record_get_enabled (self->record);

  if (old != enabled)
    {
      pd_plugin_record_set_enabled (self->record, enabled);
      if (!pd_store_save_record (self->store, self->record, error))
        {
          pd_plugin_record_set_enabled (self->record, old);
          return FALSE;
        }
    }
  emit_changed (self, PD_MANAGED_PLUGIN_CHANGED_ENABLED);
  return TRUE;
}

static void complete_pending_stops (PdManagedPlugin *self);

/* the enable in progress is over, whatever came of it */
static void
start_ended (PdManagedPlugin *self)
{
  GList *waiters = g_steal_pointer (&self->start_waiters);

  self->busy = FALSE;
  g_clear_object (&self->start_cancellable);
  if (self->start_link != NULL)
    {
      g_cancellable_disconnect (self->start_link, self->start_link_id);
      self->start_link_id = 0;
      g_clear_object (&self->start_link);
    }
  for (GList *l = waiters; l != NULL; l = l->next)
    force_step_later (l->data);
  g_list_free (waiters);
}

/* the operation an enable is for was cancelled (its Cancel, a forced Disable, the service's
 * stop: always on the main thread) */
static void
start_link_cancelled_cb (GCancellable *operation_cancellable, gpointer user_data)
{
  PdManagedPlugin *self = user_data;

  if (self->start_cancellable != NULL)
    g_cancellable_cancel (self->start_cancellable);
}

static void
enable_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PdManagedPlugin *self = g_task_get_source_object (task);
  GError *error = NULL;

  start_ended (self);
  if (!pd_runner_enable_finish (PD_RUNNER (source), result, &error))
    {
      /* an operation's own cancellation stays what it is: the operation reports it */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
          (self->stop_tasks != NULL || self->forcing > 0))
        {
          g_clear_error (&error);
          if (self->stop_tasks != NULL)
            g_set_error (&error, PD_ERROR, PD_ERROR_BUSY, "plugind is stopping");
          else
            g_set_error (&error, PD_ERROR, PD_ERROR_BUSY,
                         "plugin %s was disabled or removed (force) while it was starting",
                         pd_managed_plugin_get_name (self));
        }
      g_task_return_error (task, error);
      complete_pending_stops (self);
      return;
    }
  if (self->stop_tasks != NULL)
    {
      /* the service is stopping: Enabled stays as it was */
      g_task_return_new_error (task, PD_ERROR, PD_ERROR_BUSY, "plugind is stopping");
      complete_pending_stops (self);
      return;
    }
  if (!save_enabled (self, TRUE, &error))
    {
      /* what runs must be what is on disk: a plugin whose Enabled cannot be saved is stopped */
      g_prefix_error (&error, "saving the state of %s: ", pd_managed_plugin_get_name (self));
      pd_runner_disable_async (runner_of (self), 0, NULL, NULL, NULL);
      g_task_return_error (task, error);
      return;
    }
  emit_event (self, "enable");
  g_task_return_boolean (task, TRUE);
}

/* @operation_cancellable: the operation's, for an enable it asked for (it ends the start) */
static void
start_enable (PdManagedPlugin *self, gboolean for_operation, guint activation_timeout,
              guint request_timeout, GCancellable *operation_cancellable,
              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  GError *error = NULL;

  if (!check_can_enable (self, for_operation, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  self->busy = TRUE;
  g_set_object (&self->start_cancellable, g_cancellable_new ());
  if (operation_cancellable != NULL)
    {
      /* before the start: an operation already cancelled cancels it at once */
      self->start_link = g_object_ref (operation_cancellable);
      self->start_link_id = g_cancellable_connect (operation_cancellable,
                                                   G_CALLBACK (start_link_cancelled_cb), self,
                                                   NULL);
    }
  pd_runner_enable_async (runner_of (self), activation_timeout, request_timeout,
                          self->start_cancellable, enable_done_cb, g_steal_pointer (&task));
}

void
pd_managed_plugin_enable_async (PdManagedPlugin *self, guint activation_timeout,
                                guint request_timeout, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  start_enable (self, FALSE, activation_timeout, request_timeout, NULL, callback, user_data);
}

void
pd_managed_plugin_enable_for_operation_async (PdManagedPlugin *self, guint activation_timeout,
                                              guint request_timeout,
                                              GCancellable *operation_cancellable,
                                              GAsyncReadyCallback callback, gpointer user_data)
{
  start_enable (self, TRUE, activation_timeout, request_timeout, operation_cancellable,
                callback, user_data);
}

gboolean
pd_managed_plugin_enable_finish (PdManagedPlugin *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* section: Disable */

static void
disable_complete (GTask *task_in)
{
  g_autoptr(GTask) task = task_in;
  PdManagedPlugin *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!save_enabled (self, FALSE, &error))
    {
      g_prefix_error (&error, "saving the state of %s: ", pd_managed_plugin_get_name (self));
      g_task_return_error (task, error);
      return;
    }
  emit_event (self, "disable");
  g_task_return_boolean (task, TRUE);
}

static void
disable_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  PD_MANAGED_PLUGIN (g_task_get_source_object (task))->busy = FALSE;
  if (!pd_runner_disable_finish (PD_RUNNER (source), result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  disable_complete (g_steal_pointer (&task));
}

/* takes @task */
static void
disable_now (GTask *task)
{
  PdManagedPlugin *self = g_task_get_source_object (task);
  ChangeData *data = g_task_get_task_data (task);

  /* Enabled but not running (its start at the service's start failed, or a forced Disable
   * ended it): only the flag changes */
  if (runner_state (self) == PD_PLUGIN_STATE_DISABLED)
    {
      disable_complete (task);
      return;
    }
  self->busy = TRUE;
  pd_runner_disable_async (runner_of (self), data->stop_timeout_ms, NULL, disable_done_cb, task);
}

void
pd_managed_plugin_disable_async (PdManagedPlugin *self, gboolean force, guint stop_timeout_ms,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = change_task_new (self, force, stop_timeout_ms, callback, user_data);
  GError *error = NULL;

  if (!pd_managed_plugin_check_can_disable (self, force, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (force && is_held (self))
    {
      force_then (g_steal_pointer (&task), disable_now);
      return;
    }
  disable_now (g_steal_pointer (&task));
}

gboolean
pd_managed_plugin_disable_finish (PdManagedPlugin *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* section: the stop before Remove */

/* the plugin is stopped: nothing may stay mounted in its dir, whose files go next (a daemon
 * that was killed leaves its plugins' mounts); takes @task */
static void
removal_release_mounts (GTask *task)
{
  PdManagedPlugin *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!release_mounts (self, &error))
    {
      self->busy = FALSE;
      g_prefix_error (&error, "cannot remove plugin %s: ", pd_managed_plugin_get_name (self));
      g_task_return_error (task, error);
    }
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
removal_stopped_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;

  /* Docker: errors of the disable are only logged, the removal goes on */
  if (!pd_runner_disable_finish (PD_RUNNER (source), result, &error))
    g_warning ("stopping plugin %s before removing it: %s",
               pd_managed_plugin_get_name (g_task_get_source_object (task)), error->message);
  removal_release_mounts (task);
}

/* takes @task */
static void
stop_for_removal_now (GTask *task)
{
  PdManagedPlugin *self = g_task_get_source_object (task);
  ChangeData *data = g_task_get_task_data (task);

  self->busy = TRUE;
  if (runner_state (self) != PD_PLUGIN_STATE_DISABLED)
    {
      pd_runner_disable_async (runner_of (self), data->stop_timeout_ms, NULL, removal_stopped_cb,
                               task);
      return;
    }
  removal_release_mounts (task);
}

void
pd_managed_plugin_stop_for_removal_async (PdManagedPlugin *self, gboolean force,
                                          guint stop_timeout_ms, GAsyncReadyCallback callback,
                                          gpointer user_data)
{
  g_autoptr(GTask) task = change_task_new (self, force, stop_timeout_ms, callback, user_data);
  GError *error = NULL;

  if (!pd_managed_plugin_check_can_remove (self, force, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (force && is_held (self))
    {
      force_then (g_steal_pointer (&task), stop_for_removal_now);
      return;
    }
  stop_for_removal_now (g_steal_pointer (&task));
}

gboolean
pd_managed_plugin_stop_for_removal_finish (PdManagedPlugin *self, GAsyncResult *result,
                                           GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
pd_managed_plugin_end_removal (PdManagedPlugin *self)
{
  self->busy = FALSE;
}

/* section: Hold, logs */

static gboolean
hold_released_cb (int fd, GIOCondition condition, gpointer user_data)
{
  Hold *hold = user_data;
  PdManagedPlugin *self = hold->plugin;

  g_debug ("hold of %s by %s released", pd_managed_plugin_get_name (self), hold->who);
  hold->watch_id = 0;
  g_ptr_array_remove (self->holds, hold);
  emit_changed (self, PD_MANAGED_PLUGIN_CHANGED_HOLDERS);
  return G_SOURCE_REMOVE;
}

/* holders are shown to people: short, valid UTF-8, no control characters */
static char *
sanitize_label (const char *text)
{
  g_autofree char *escaped = pd_escape_untrusted (text, -1);

  if (g_utf8_strlen (escaped, -1) > 256)
    {
      g_autofree char *cut = g_utf8_substring (escaped, 0, 256);
      return g_strconcat (cut, "…", NULL);
    }
  return g_steal_pointer (&escaped);
}

int
pd_managed_plugin_add_hold (PdManagedPlugin *self, const char *who, const char *why,
                            guint32 uid, guint32 pid, GError **error)
{
  Hold *hold;
  int fds[2];

  if (!pd_managed_plugin_check_can_hold (self, error))
    return -1;
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    return -1;
  hold = g_new0 (Hold, 1);
  hold->plugin = self;
  hold->who = sanitize_label (who);
  hold->why = sanitize_label (why);
  hold->uid = uid;
  hold->pid = pid;
  hold->write_fd = fds[1];
  /* the write end of a pipe reports an error once every read end is closed */
  hold->watch_id = g_unix_fd_add (hold->write_fd, G_IO_ERR | G_IO_HUP, hold_released_cb, hold);
  add_hold_to (&self->holds, (GDestroyNotify) hold_free, hold);
  emit_changed (self, PD_MANAGED_PLUGIN_CHANGED_HOLDERS);
  return fds[0];
}

int
pd_managed_plugin_open_log (PdManagedPlugin *self, const PdPluginLogQuery *query,
                            gboolean follow, GError **error)
{
  return pd_runner_open_log (runner_of (self), query, follow, error);
}

char *
pd_managed_plugin_read_log (PdManagedPlugin *self, const PdPluginLogQuery *query)
{
  return pd_runner_read_log (runner_of (self), query);
}

/* section: with the service */

static void
restore_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdManagedPlugin) self = user_data;
  g_autoptr(GError) error = NULL;

  start_ended (self);
  if (!pd_runner_enable_finish (PD_RUNNER (source), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("cannot start plugin %s: %s", pd_managed_plugin_get_name (self),
                   error->message);
    }
  else if (self->stop_tasks == NULL)
    emit_event (self, "enable");
  complete_pending_stops (self);
}

void
pd_managed_plugin_restore (PdManagedPlugin *self)
{
  g_autoptr(GError) error = NULL;

  /* a daemon that was killed left what its plugins mounted: a plugin that starts releases it
   * at its set-up, one that does not here */
  if (!pd_plugin_record_get_enabled (self->record) && !self->busy &&
      !release_mounts (self, &error))
    g_warning ("plugin %s: %s", pd_managed_plugin_get_name (self), error->message);
  if (!pd_plugin_record_get_enabled (self->record) || self->busy)
    return;
  self->busy = TRUE;
  g_set_object (&self->start_cancellable, g_cancellable_new ());
  pd_runner_enable_async (runner_of (self), 0, 0, self->start_cancellable, restore_done_cb,
                          g_object_ref (self));
}

static void
stop_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!pd_runner_disable_finish (PD_RUNNER (source), result, &error) &&
      !g_error_matches (error, PD_ERROR, PD_ERROR_PLUGIN_DISABLED))
    g_warning ("stopping plugin %s: %s",
               pd_managed_plugin_get_name (g_task_get_source_object (task)), error->message);
  g_task_return_boolean (task, TRUE);
}

static void
pending_stop_disabled_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PdManagedPlugin) self = user_data;

  pd_runner_disable_finish (PD_RUNNER (source), result, NULL);
  complete_pending_stops (self);
}

/* the enable the service's stop cancelled has ended: stop what may still run, then let the
 * stop go on */
static void
complete_pending_stops (PdManagedPlugin *self)
{
  PdPluginState state = runner_state (self);
  GList *tasks;

  if (self->stop_tasks == NULL)
    return;
  if (state != PD_PLUGIN_STATE_DISABLED && state != PD_PLUGIN_STATE_FAILED &&
      state != PD_PLUGIN_STATE_STOPPING)
    {
      pd_runner_disable_async (runner_of (self), 0, NULL, pending_stop_disabled_cb,
                               g_object_ref (self));
      return;
    }
  tasks = g_steal_pointer (&self->stop_tasks);
  for (GList *l = tasks; l != NULL; l = l->next)
    {
      g_task_return_boolean (l->data, TRUE);
      g_object_unref (l->data);
    }
  g_list_free (tasks);
}

void
pd_managed_plugin_stop_async (PdManagedPlugin *self, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  PdPluginState state = runner_state (self);

  /* a plugin still starting: end the start, then stop whatever came of it */
  if (self->start_cancellable != NULL)
    {
      self->stop_tasks = g_list_prepend (self->stop_tasks, g_steal_pointer (&task));
      g_cancellable_cancel (self->start_cancellable);
      return;
    }

  if (state == PD_PLUGIN_STATE_DISABLED || state == PD_PLUGIN_STATE_FAILED)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  /* Enabled stays as it is: the plugin starts again with the service */
  pd_runner_disable_async (runner_of (self), 0, NULL, stop_done_cb, g_steal_pointer (&task));
}
