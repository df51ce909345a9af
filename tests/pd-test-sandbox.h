/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"
#include "pd-sandbox.h"

G_BEGIN_DECLS

/* What the tests of the sandbox's argv, rootfs and start share. */

#define PD_TEST_BWRAP "/usr/bin/bwrap"
#define PD_TEST_ROOTFS "/var/lib/plugind/plugins/x/rootfs"
#define PD_TEST_RUNTIME "/run/plugind/plugins/x"

/* a config with Entrypoint ["/probe"] and @extra members */
PdPluginConfig *pd_test_probe_config (const char *extra);
/* the spec of a plugin at PD_TEST_ROOTFS and PD_TEST_RUNTIME, with exactly the capabilities it
 * asks for (so that an argv shows them alone) and the filter on fd 7 */
PdSandboxSpec pd_test_sandbox_spec (const PdPluginConfig *config,
                                    const PdPluginSettings *settings);

/* a temp dir with an empty rootfs, a runtime dir and a dir outside both; the umask is the
 * daemon's (0077) from then on */
typedef struct {
  char *base;
  char *rootfs;
  char *runtime;
  char *outside;  /* a dir a planted symlink points at: must stay empty */
} PdTestSandboxFixture;

void pd_test_sandbox_fixture_setup (PdTestSandboxFixture *fixture, gconstpointer data);
void pd_test_sandbox_fixture_teardown (PdTestSandboxFixture *fixture, gconstpointer data);

typedef void (*PdTestSandboxFunc) (PdTestSandboxFixture *fixture, gconstpointer data);
/* adds the test @path: @func with this fixture */
void pd_test_add_sandbox_test (const char *path, PdTestSandboxFunc func);

G_END_DECLS
