/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "pd-test-sandbox"

#include <sys/stat.h>

#include <glib/gstdio.h>

#include "pd-test-sandbox.h"
#include "pd-test-utils.h"

PdPluginConfig *
pd_test_probe_config (const char *extra)
{
  g_autofree char *json = g_strdup_printf ("{\"Entrypoint\": [\"/probe\"]%s%s}",
                                           extra[0] != '\0' ? ", " : "", extra);

  return pd_test_parse_config (json);
}

PdSandboxSpec
pd_test_sandbox_spec (const PdPluginConfig *config, const PdPluginSettings *settings)
{
  PdSandboxSpec spec = {
    .bwrap_path = PD_TEST_BWRAP,
    .rootfs = PD_TEST_ROOTFS,
    .runtime_dir = PD_TEST_RUNTIME,
    .propagated_mount_dir = NULL,
    .config = config,
    .settings = settings,
    .capabilities = PD_SANDBOX_CAPABILITIES_REQUESTED,
    .seccomp_fd = 7,
    .info_fd = -1,
    .init_fd = -1,
    .sync_fd = -1,
    .hosts_path = NULL,
    .resolv_conf_path = NULL,
  };

  return spec;
}

void
pd_test_sandbox_fixture_setup (PdTestSandboxFixture *fixture, gconstpointer data)
{
  /* the daemon's: what the sandbox creates must not depend on the umask */
  umask (0077);
  fixture->base = pd_test_make_tmp_dir ("test-sandbox-XXXXXX");
  fixture->rootfs = g_build_filename (fixture->base, "rootfs", NULL);
  fixture->runtime = g_build_filename (fixture->base, "runtime", NULL);
  fixture->outside = g_build_filename (fixture->base, "outside", NULL);
  g_assert_no_errno (g_mkdir (fixture->rootfs, 0755));
  g_assert_no_errno (g_mkdir (fixture->runtime, 0700));
  g_assert_no_errno (g_mkdir (fixture->outside, 0755));
}

void
pd_test_sandbox_fixture_teardown (PdTestSandboxFixture *fixture, gconstpointer data)
{
  pd_test_rm_rf (fixture->base);
  g_free (fixture->base);
  g_free (fixture->rootfs);
  g_free (fixture->runtime);
  g_free (fixture->outside);
}

void
pd_test_add_sandbox_test (const char *path, PdTestSandboxFunc func)
{
  g_test_add (path, PdTestSandboxFixture, NULL, pd_test_sandbox_fixture_setup, func,
              pd_test_sandbox_fixture_teardown);
}
