/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's configuration file, plugind.conf (pd-daemon-config.c): its defaults, its lists
 * and bounds, and the errors that name the file and the key at fault.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-daemon-config"

#include <string.h>

#include <glib/gstdio.h>

#include "pd-daemon-config.h"
#include "pd-error.h"
#include "pd-test-utils.h"

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = pd_test_make_tmp_dir ("test-daemon-config-XXXXXX");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  pd_test_rm_rf (f->dir);
  g_free (f->dir);
}

static char *
write_conf (Fixture *f, const char *contents)
{
  char *path = g_build_filename (f->dir, "plugind.conf", NULL);

  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  return path;
}

static PdDaemonConfig *
load_conf (Fixture *f, const char *contents, GError **error)
{
  g_autofree char *path = write_conf (f, contents);

  return pd_daemon_config_load (path, error);
}

static void
assert_defaults (const PdDaemonConfig *config)
{
  g_assert_nonnull (config->insecure);
  g_assert_null (config->insecure[0]);
  g_assert_nonnull (config->mirrors);
  g_assert_null (config->mirrors[0]);
  g_assert_nonnull (config->certs_dir);
  g_assert_true (g_str_has_suffix (config->certs_dir, "/certs.d"));
  g_assert_cmpuint (config->max_jobs, ==, 16);
  g_assert_cmpuint (config->max_archive_bytes, ==, G_GUINT64_CONSTANT (8) * 1024 * 1024 * 1024);
  g_assert_cmpuint (config->max_archive_entries, ==, 1000000);
  g_assert_false (config->only_requested_capabilities);
  g_assert_cmpuint (config->stall_timeout_s, ==, 60);
  g_assert_cmpuint (config->stall_min_bytes, ==, 16384);
  g_assert_cmpstr (config->dockerd_plugin_dir, ==, "/run/docker/plugins");
  g_assert_cmpstr (config->podman_drop_in, ==, "/etc/containers/containers.conf.d/plugind.conf");
  g_assert_cmpuint (config->answer_timeout_s, ==, 60);
}

static void
test_conf_missing (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "no-such.conf", NULL);
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_load (path, &error);
  g_autoptr(PdDaemonConfig) empty = NULL;
  g_autoptr(PdDaemonConfig) defaults = pd_daemon_config_new_default ();

  g_assert_no_error (error);
  g_assert_nonnull (config);
  assert_defaults (config);
  assert_defaults (defaults);
  empty = load_conf (f, "", &error);
  g_assert_no_error (error);
  assert_defaults (empty);
  g_assert_cmpstr (empty->certs_dir, ==, defaults->certs_dir);
}

static void
test_conf_lists (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDaemonConfig) config = NULL;

  config = load_conf (f,
                      "# plugind\n"
                      "[Registries]\n"
                      "Insecure= Registry.Example:5000 ;; 10.0.0.1:5000;[::1]:5001 ; \n"
                      "Mirrors=https://mirror.example/ ; ;http://m2.example:5000/base//;"
                      "https://m3.example\n"
                      "StallTimeout=5\n"
                      "StallMinBytes=1\n"
                      "[Limits]\n"
                      "MaxJobs = 4\n"
                      "MaxArchiveBytes=1048576\n"
                      "MaxArchiveEntries=100\n"
                      "[Sandbox]\n"
                      "Capabilities = requested\n",
                      &error);
  g_assert_no_error (error);
  g_assert_nonnull (config);
  g_assert_cmpstrv (config->insecure,
                    STRV ("registry.example:5000", "10.0.0.1:5000", "[::1]:5001"));
  g_assert_cmpstrv (config->mirrors, STRV ("https://mirror.example", "http://m2.example:5000/base",
                                           "https://m3.example"));
  g_assert_cmpuint (config->max_jobs, ==, 4);
  g_assert_cmpuint (config->max_archive_bytes, ==, 1048576);
  g_assert_cmpuint (config->max_archive_entries, ==, 100);
  g_assert_true (config->only_requested_capabilities);
  g_assert_cmpuint (config->stall_timeout_s, ==, 5);
  g_assert_cmpuint (config->stall_min_bytes, ==, 1);

  /* host[:port] compared case-insensitively, and exactly otherwise */
  g_assert_true (pd_daemon_config_is_insecure (config, "registry.example:5000"));
  g_assert_true (pd_daemon_config_is_insecure (config, "REGISTRY.Example:5000"));
  g_assert_true (pd_daemon_config_is_insecure (config, "10.0.0.1:5000"));
  g_assert_true (pd_daemon_config_is_insecure (config, "[::1]:5001"));
  g_assert_false (pd_daemon_config_is_insecure (config, "registry.example"));
  g_assert_false (pd_daemon_config_is_insecure (config, "registry.example:5001"));
  g_assert_false (pd_daemon_config_is_insecure (config, "10.0.0.1"));
  g_assert_false (pd_daemon_config_is_insecure (config, "example:5000"));
}

static void
test_conf_empty_lists (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDaemonConfig) config = load_conf (f, "[Registries]\nInsecure= ; ;\nMirrors=\n",
                                                &error);

  g_assert_no_error (error);
  g_assert_nonnull (config->insecure);
  g_assert_null (config->insecure[0]);
  g_assert_nonnull (config->mirrors);
  g_assert_null (config->mirrors[0]);
  g_assert_false (pd_daemon_config_is_insecure (config, ""));
}

typedef struct {
  const char *name;
  const char *contents;
  const char *needle1;
  const char *needle2;
} ConfBadCase;

static const ConfBadCase conf_bad_cases[] = {
  { "mirror-scheme", "[Registries]\nMirrors=https://ok.example;ftp://mirror.example/\n",
    "Mirrors", "ftp://mirror.example" },
  { "mirror-no-scheme", "[Registries]\nMirrors=mirror.example\n", "Mirrors", "mirror.example" },
  { "insecure-slash", "[Registries]\nInsecure=ok.example;host.example/path\n", "Insecure",
    "host.example/path" },
  { "insecure-url", "[Registries]\nInsecure=http://host.example\n", "Insecure", "host.example" },
  { "insecure-userinfo", "[Registries]\nInsecure=user@host.example\n", "Insecure",
    "user@host.example" },
  { "insecure-space", "[Registries]\nInsecure=host example\n", "Insecure", "host example" },
  { "stall-timeout-zero", "[Registries]\nStallTimeout=0\n", "StallTimeout", NULL },
  { "stall-timeout-big", "[Registries]\nStallTimeout=3601\n", "StallTimeout", NULL },
  { "stall-min-bytes-zero", "[Registries]\nStallMinBytes=0\n", "StallMinBytes", NULL },
  { "stall-min-bytes-text", "[Registries]\nStallMinBytes=16k\n", "StallMinBytes", NULL },
  { "max-jobs-zero", "[Limits]\nMaxJobs=0\n", "MaxJobs", NULL },
  { "max-jobs-big", "[Limits]\nMaxJobs=1025\n", "MaxJobs", NULL },
  { "max-jobs-negative", "[Limits]\nMaxJobs=-1\n", "MaxJobs", NULL },
  { "max-jobs-text", "[Limits]\nMaxJobs=many\n", "MaxJobs", NULL },
  { "max-bytes-zero", "[Limits]\nMaxArchiveBytes=0\n", "MaxArchiveBytes", NULL },
  { "max-entries-text", "[Limits]\nMaxArchiveEntries=1e6\n", "MaxArchiveEntries", NULL },
  { "sandbox-capabilities", "[Sandbox]\nCapabilities=all\n", "Capabilities", "all" },
  { "dockerd-relative", "[ContainerEngines]\nDockerdPluginDir=run/docker/plugins\n",
    "DockerdPluginDir", "run/docker/plugins" },
  { "dockerd-dotdot", "[ContainerEngines]\nDockerdPluginDir=/run/../etc\n", "DockerdPluginDir",
    NULL },
  { "dockerd-root", "[ContainerEngines]\nDockerdPluginDir=/\n", "DockerdPluginDir", NULL },
  { "dockerd-yes", "[ContainerEngines]\nDockerd=yes\n", "Dockerd", "yes" },
  { "podman-not-conf", "[ContainerEngines]\nPodmanDropIn=/etc/containers/plugind.toml\n",
    "PodmanDropIn", ".conf" },
  { "podman-bool", "[ContainerEngines]\nPodman=1\n", "Podman", NULL },
  { "answer-timeout-zero", "[ContainerEngines]\nAnswerTimeout=0\n", "AnswerTimeout", NULL },
  { "answer-timeout-big", "[ContainerEngines]\nAnswerTimeout=3601\n", "AnswerTimeout", NULL },
  { "malformed", "[Registries\nInsecure=x\n", NULL, NULL },
  { "not-a-keyfile", "this is not a key file\n", NULL, NULL },
};

static void
test_conf_container_engines (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDaemonConfig) moved = NULL;
  g_autoptr(PdDaemonConfig) off = NULL;

  moved = load_conf (f, "[ContainerEngines]\nDockerdPluginDir = /srv/docker/plugins\n"
                     "PodmanDropIn=/srv/containers.conf.d/90-plugind.conf\nAnswerTimeout=5\n"
                     "Dockerd=true\n", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (moved->dockerd_plugin_dir, ==, "/srv/docker/plugins");
  g_assert_cmpstr (moved->podman_drop_in, ==, "/srv/containers.conf.d/90-plugind.conf");
  g_assert_cmpuint (moved->answer_timeout_s, ==, 5);

  /* off, whatever path is given */
  off = load_conf (f, "[ContainerEngines]\nDockerd=false\nPodman=false\n"
                   "PodmanDropIn=/srv/x.conf\n", &error);
  g_assert_no_error (error);
  g_assert_null (off->dockerd_plugin_dir);
  g_assert_null (off->podman_drop_in);
}

static void
test_conf_bad (Fixture *f, gconstpointer data)
{
  const ConfBadCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = write_conf (f, c->contents);
  g_autoptr(PdDaemonConfig) config = pd_daemon_config_load (path, &error);

  g_assert_null (config);
  g_assert_nonnull (error);
  g_test_message ("%s: %s", c->name, pd_test_message_of (error));
  g_assert_true (error->domain == PD_ERROR);
  /* the file, and the key when one is at fault */
  g_assert_nonnull (strstr (pd_test_message_of (error), path));
  if (c->needle1 != NULL)
    g_assert_nonnull (strstr (pd_test_message_of (error), c->needle1));
  if (c->needle2 != NULL)
    g_assert_nonnull (strstr (pd_test_message_of (error), c->needle2));
}

static void
test_conf_max_jobs_range (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdDaemonConfig) one = load_conf (f, "[Limits]\nMaxJobs=1\n", &error);
  g_autoptr(PdDaemonConfig) most = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (one->max_jobs, ==, 1);
  most = load_conf (f, "[Limits]\nMaxJobs=1024\n", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (most->max_jobs, ==, 1024);
}

/* a file that exists but cannot be read is an error, not the defaults */
static void
test_conf_unreadable (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "plugind.conf", NULL);
  g_autoptr(PdDaemonConfig) config = NULL;

  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  config = pd_daemon_config_load (path, &error);
  g_assert_null (config);
  g_assert_nonnull (error);
  g_assert_true (error->domain == PD_ERROR);
  g_assert_nonnull (strstr (pd_test_message_of (error), path));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  PD_TEST_ADD ("/daemon-config/missing", test_conf_missing);
  PD_TEST_ADD ("/daemon-config/lists", test_conf_lists);
  PD_TEST_ADD ("/daemon-config/empty-lists", test_conf_empty_lists);
  PD_TEST_ADD ("/daemon-config/max-jobs-range", test_conf_max_jobs_range);
  PD_TEST_ADD ("/daemon-config/unreadable", test_conf_unreadable);
  PD_TEST_ADD ("/daemon-config/container-engines", test_conf_container_engines);
  PD_TEST_ADD_CASES ("/daemon-config/bad", conf_bad_cases, name, test_conf_bad);

  return pd_test_run_nonfatal ();
}
