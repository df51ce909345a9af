/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where consumer sockets are published (pd-consumers.c): the names engines know plugins by,
 * and the names an engine knows from elsewhere, which a plugin must not take over.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-consumers"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pd-consumers.h"
#include "pd-test-utils.h"

typedef struct {
  char *dir;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->dir = pd_test_make_tmp_dir ("pd-test-consumers-XXXXXX");
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  pd_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
test_engine_names (void)
{
  static const struct {
    const char *plugin;
    const char *engine;  /* NULL: not published */
  } cases[] = {
    { "example:latest", "example" },
    { "example:2.0", "example:2.0" },
    { "my_plugin-1.x:latest", "my_plugin-1.x" },
    { "0abc:latest", "0abc" },
    { "vieux/sshfs:latest", NULL },
    { "localhost:5000/sshfs:latest", NULL },
    { "-dash:latest", NULL },
    { ".hidden:latest", NULL },
    { ":latest", NULL },
    { "sp ace:latest", NULL },
    { "caf\xc3\xa9:latest", NULL },
    /* the engines' own drivers */
    { "local:latest", NULL },
    { "image:latest", NULL },
    { "local:1", "local:1" },
    /* 40 bytes, and 41 */
    { "a234567890123456789012345678901234567890:latest",
      "a234567890123456789012345678901234567890" },
    { "a2345678901234567890123456789012345678901:latest", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *engine = pd_consumers_engine_name (cases[i].plugin);

      g_test_message ("%s", cases[i].plugin);
      g_assert_cmpstr (engine, ==, cases[i].engine);
    }
}

static void
test_dockerd_conflicts (Fixture *f, gconstpointer data)
{
  g_autofree char *plugins = g_build_filename (f->dir, "plugins", NULL);
  g_autofree char *etc = g_build_filename (f->dir, "etc-docker-plugins", NULL);
  g_autofree char *lib = g_build_filename (f->dir, "lib-docker-plugins", NULL);
  const char *const spec_dirs[] = { etc, lib, NULL };
  g_autofree char *first_form = g_build_filename (plugins, "first.sock", NULL);
  g_autofree char *spec = g_build_filename (etc, "spec.spec", NULL);
  g_autofree char *json = g_build_filename (lib, "json.json", NULL);
  g_autofree char *none = NULL;
  g_autofree char *a = NULL, *b = NULL, *c = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  pd_test_make_dir (plugins);
  pd_test_make_dir (etc);
  pd_test_make_dir (lib);
  /* <dir>/NAME.sock, which dockerd takes before <dir>/NAME/NAME.sock */
  g_strlcpy (addr.sun_path, first_form, sizeof addr.sun_path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  close (fd);
  pd_test_write_file (spec, "unix:///run/other/spec.sock\n");
  pd_test_write_file (json, "{\"Name\": \"json\", \"Addr\": \"unix:///run/other/json.sock\"}");

  none = pd_consumers_dockerd_conflict (plugins, spec_dirs, "mine");
  g_assert_null (none);
  a = pd_consumers_dockerd_conflict (plugins, spec_dirs, "first");
  g_assert_cmpstr (a, ==, first_form);
  b = pd_consumers_dockerd_conflict (plugins, spec_dirs, "spec");
  g_assert_cmpstr (b, ==, spec);
  c = pd_consumers_dockerd_conflict (plugins, spec_dirs, "json");
  g_assert_cmpstr (c, ==, json);
}

static void
test_podman_other_names (Fixture *f, gconstpointer data)
{
  g_autofree char *main_conf = g_build_filename (f->dir, "containers.conf", NULL);
  g_autofree char *drop_ins = g_build_filename (f->dir, "containers.conf.d", NULL);
  g_autofree char *admin = g_build_filename (drop_ins, "10-admin.conf", NULL);
  g_autofree char *ignored = g_build_filename (drop_ins, "20-not-a-drop-in.toml", NULL);
  g_autofree char *own = g_build_filename (drop_ins, "plugind.conf", NULL);
  g_autofree char *missing = g_build_filename (f->dir, "no-such.conf", NULL);
  const char *const configs[] = { main_conf, missing, drop_ins, NULL };
  g_autoptr(GHashTable) names = NULL;

  pd_test_make_dir (drop_ins);
  pd_test_write_file (main_conf,
                      "[engine]\n"
                      "volume_path = \"/x\"\n"
                      "[engine.runtimes]\n"
                      "runc = [\"/usr/bin/runc\"]\n"
                      "[ engine . \"volume_plugins\" ]   # spaced and quoted\n"
                      "bare = \"/run/bare.sock\"\n"
                      "\"quoted\" = \"/run/quoted.sock\"\n"
                      "'literal'=\"/run/literal.sock\"\n"
                      "# commented = \"/run/no.sock\"\n"
                      "[machine]\n"
                      "notme = \"x\"\n");
  pd_test_write_file (admin, "[engine.volume_plugins]\nnfs = \"/run/nfs.sock\"\n");
  pd_test_write_file (ignored, "[engine.volume_plugins]\ntoml = \"/run/toml.sock\"\n");
  pd_test_write_file (own, "[engine.volume_plugins]\n\"mine\" = \"/run/plugind/c/x.sock\"\n");

  names = pd_consumers_podman_other_names (configs, own);
  g_assert_cmpuint (g_hash_table_size (names), ==, 4);
  g_assert_true (g_hash_table_contains (names, "bare"));
  g_assert_true (g_hash_table_contains (names, "quoted"));
  g_assert_true (g_hash_table_contains (names, "literal"));
  g_assert_true (g_hash_table_contains (names, "nfs"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/consumers/engine-names", test_engine_names);
  PD_TEST_ADD ("/consumers/dockerd-conflicts", test_dockerd_conflicts);
  PD_TEST_ADD ("/consumers/podman-other-names", test_podman_other_names);

  return g_test_run ();
}
