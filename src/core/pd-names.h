/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* bus and object names (docs/dbus-api.md, "Object tree") */
#define PD_DBUS_NAME              "org.plugind.Plugind1"
#define PD_DBUS_ROOT_PATH         "/org/plugind/Plugind1"
#define PD_DBUS_MANAGER_PATH      PD_DBUS_ROOT_PATH "/Manager"
#define PD_DBUS_PLUGIN_PATH_PREFIX PD_DBUS_ROOT_PATH "/plugin/"
#define PD_DBUS_JOB_PATH_PREFIX   PD_DBUS_ROOT_PATH "/job/"
#define PD_DBUS_INTERFACE_MANAGER "org.plugind.Plugind1.Manager"
#define PD_DBUS_INTERFACE_PLUGIN  "org.plugind.Plugind1.Plugin"
#define PD_DBUS_INTERFACE_JOB     "org.plugind.Plugind1.Job"
#define PD_DBUS_ERROR_PREFIX      "org.plugind.Plugind1.Error."

/* polkit actions (docs/dbus-api.md, "Authorization (polkit)") */
#define PD_ACTION_PREFIX              "org.plugind.plugind1."
#define PD_ACTION_INSTALL             PD_ACTION_PREFIX "install"
#define PD_ACTION_INSTALL_PRIVILEGED  PD_ACTION_PREFIX "install-privileged"
#define PD_ACTION_UPGRADE             PD_ACTION_PREFIX "upgrade"
#define PD_ACTION_UPGRADE_WITH_SETTINGS PD_ACTION_PREFIX "upgrade-with-settings"
#define PD_ACTION_ENABLE              PD_ACTION_PREFIX "enable"
#define PD_ACTION_DISABLE             PD_ACTION_PREFIX "disable"
#define PD_ACTION_SET                 PD_ACTION_PREFIX "set"
#define PD_ACTION_SET_PRIVILEGED      PD_ACTION_PREFIX "set-privileged"
#define PD_ACTION_REMOVE              PD_ACTION_PREFIX "remove"
#define PD_ACTION_READ_LOGS           PD_ACTION_PREFIX "read-logs"
#define PD_ACTION_READ_SETTINGS       PD_ACTION_PREFIX "read-settings"
#define PD_ACTION_PUSH                PD_ACTION_PREFIX "push"
#define PD_ACTION_QUERY_REMOTE        PD_ACTION_PREFIX "query-remote"
#define PD_ACTION_CANCEL_OTHER_USER   PD_ACTION_PREFIX "cancel-job-other-user"
#define PD_ACTION_MANAGE              PD_ACTION_PREFIX "manage"

/* environment */
#define PD_ENV_STATE_DIRECTORY   "STATE_DIRECTORY"
#define PD_ENV_RUNTIME_DIRECTORY "RUNTIME_DIRECTORY"
#define PD_ENV_CONFIGURATION_DIRECTORY "CONFIGURATION_DIRECTORY"
/* overrides where the daemon finds plugind-extract (tests run it from the build dir) */
#define PD_ENV_EXTRACT_HELPER    "PLUGIND_EXTRACT_HELPER"
/* the same for plugind-transfer */
#define PD_ENV_TRANSFER_HELPER   "PLUGIND_TRANSFER_HELPER"
/* the same for plugind-sandbox-init */
#define PD_ENV_SANDBOX_INIT      "PLUGIND_SANDBOX_INIT"
/* overrides where pluginctl and plugind find their translations (tests use the build tree's) */
#define PD_ENV_LOCALEDIR         "PLUGIND_LOCALEDIR"

#define PD_DEFAULT_STATE_DIR   "/var/lib/plugind"
#define PD_DEFAULT_RUNTIME_DIR "/run/plugind"
