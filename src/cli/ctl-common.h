/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-dbus-generated.h"

G_BEGIN_DECLS

/* exit statuses scripts can rely on (documented in --help) */
enum {
  CTL_EXIT_OK = 0,
  CTL_EXIT_FAILURE = 1,
  CTL_EXIT_USAGE = 2,
  CTL_EXIT_NOT_AUTHORIZED = 3,
  CTL_EXIT_NO_SUCH_PLUGIN = 4,
  CTL_EXIT_TEMPLATE = 64,  /* docker's status for an inspect template that does not parse */
};

/* the connection to the daemon */
typedef struct {
  GDBusConnection *bus;
  PdDbusManager *manager;
} Ctl;

void ctl_clear (Ctl *ctl);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Ctl, ctl_clear)

/* the options of every command (--no-ask-password), and the exit statuses for --help */
extern const GOptionEntry ctl_global_entries[];
extern const char ctl_exit_status_help[];

/* errors */

/* prints "Error: <message>" (escaped for the terminal) and returns the exit status for @error */
int ctl_report_error (GError *error);
/* prints @message and where to find help; returns CTL_EXIT_USAGE */
int ctl_usage_error (const char *command, const char *message);

/* bus */

gboolean ctl_connect (Ctl *ctl, GError **error);
GDBusCallFlags ctl_call_flags (void);
/* a{sv} options of a mutating call, with "interactive" */
void ctl_options_init (GVariantBuilder *builder);
/* resolves @name like Docker: full ID, name (":latest" implied), unique ID prefix */
PdDbusPlugin *ctl_get_plugin (Ctl *ctl, const char *name, GError **error);
/* the same with the plugin's properties loaded */
PdDbusPlugin *ctl_get_plugin_with_properties (Ctl *ctl, const char *name, GError **error);

/* option parsing */

/* what a command accepts */
typedef struct {
  const char *name;             /* as messages name it (an alias is shown as given in --help) */
  const char *parameters;       /* N_(): the arguments in --help, or "" */
  const char *summary;          /* N_(): what it does, for --help */
  const GOptionEntry *entries;  /* its options, or NULL */
  int min_args;                 /* arguments after the options */
  int max_args;                 /* -1: no limit */
  const char *args_error;       /* N_(): the usage error for another number of arguments */
} CtlUsage;

/* parses the options of a command, (*@argv)[0] its name as given, and checks the number of
 * arguments left; returns -1 when all is well, else the exit status */
int ctl_parse (const CtlUsage *usage, int *argc, char ***argv);
/* parses the value of @option as an unsigned number in [@min, @max] */
gboolean ctl_parse_unsigned_option (const char *option,
                                    const char *value,
                                    guint64 min,
                                    guint64 max,
                                    guint64 *out,
                                    GError **error);

/* --grant-all-permissions of create, install and upgrade, setting *@var */
#define CTL_GRANT_ALL_ENTRY(var) \
  { "grant-all-permissions", 0, 0, G_OPTION_ARG_NONE, (var), \
    N_("Grant all permissions necessary to run the plugin"), NULL }

/* Docker's message for a KEY=VALUE argument ctl_parse_settings() refuses */
#define CTL_SETTING_FORMAT_ERROR N_("invalid format, must be <name>[.<field>][=<value>]")

/* KEY=VALUE arguments @first… of @argv as Set's a(ss) (a new floating variant), with Docker's
 * grammar: split at the first "="; a bare KEY sets ""; every pair in the order given, which is
 * the order the daemon applies them in. NULL for an argument starting with "=". */
GVariant *ctl_parse_settings (int argc, char **argv, int first);

/* questions */

/* shows @out (ending in the question and "[y/N] "); TRUE only for the answer "y" */
gboolean ctl_confirm (GString *out, gboolean require_terminal);
/* Docker's install prompt for @privileges (PdPrivilege) of the plugin @name */
gboolean ctl_ask_privileges (const char *name, GPtrArray *privileges, gboolean require_terminal);

G_END_DECLS
