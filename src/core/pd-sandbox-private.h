/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "pd-sandbox.h"

G_BEGIN_DECLS

/* What the sandbox's modules (pd-sandbox.c, pd-seccomp.c, pd-sandbox-start.c) share; not for
 * other callers. */

/* sets @error to PD_ERROR_SANDBOX_FAILED with the message; returns FALSE */
gboolean pd_sandbox_fail (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* FALSE with PD_ERROR_SANDBOX_FAILED when a name in @capabilities is not a known capability */
gboolean pd_sandbox_check_capabilities (const char *const *capabilities, GError **error);

/* the bit mask (1 << CAP_X) of @capabilities; FALSE for an unknown name */
gboolean pd_sandbox_capability_mask (const char *const *capabilities, guint64 *mask,
                                     GError **error);

/* @effective plus what the sandbox's init needs to switch the user and narrow the sets (it
 * drops those before the entrypoint), sorted, each once */
GStrv pd_sandbox_with_init_capabilities (const char *const *effective);

/* pd_sandbox_build_argv(); with @env_args, the plugin's environment goes there (NUL-separated
 * --setenv NAME VALUE, for bwrap's --args @spec->args_fd) rather than on bwrap's command line */
GPtrArray *pd_sandbox_build_argv_full (const PdSandboxSpec *spec, GString *env_args,
                                       GError **error);

/* a close-on-exec memfd holding @data, positioned at 0 and sealed, so that nobody holding it
 * can change what bwrap reads; -1 on error */
int pd_sandbox_memfd_from_data (const void *data, gsize len, const char *name, GError **error);

G_END_DECLS
