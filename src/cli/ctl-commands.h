/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* the commands of pluginctl: each parses its own options from @argv (argv[0] is the command's
 * name) and returns the exit status */

/* the daemon's plugins (ctl-plugin-commands.c) */
int ctl_cmd_create (int argc, char **argv);
int ctl_cmd_list (int argc, char **argv);
int ctl_cmd_inspect (int argc, char **argv);
int ctl_cmd_set (int argc, char **argv);
int ctl_cmd_enable (int argc, char **argv);
int ctl_cmd_disable (int argc, char **argv);
int ctl_cmd_logs (int argc, char **argv);
int ctl_cmd_remove (int argc, char **argv);

/* one plugin's runtime state for a person (ctl-status.c) */
int ctl_cmd_status (int argc, char **argv);

/* through a registry (ctl-registry-commands.c) */
int ctl_cmd_privileges (int argc, char **argv);
int ctl_cmd_install (int argc, char **argv);
int ctl_cmd_upgrade (int argc, char **argv);
int ctl_cmd_push (int argc, char **argv);

G_END_DECLS
