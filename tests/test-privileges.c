/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Privileges (pd-privileges.c): what a config asks for, in Docker's order and words, compared
 * as sets for re-consent, as a D-Bus value and as the text a person consents to.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-privileges"

#include "pd-plugin-config.h"
#include "pd-privileges.h"
#include "pd-test-utils.h"

static void
assert_privilege (GPtrArray *privileges, guint index, const char *name, const char *description,
                  const char *const *values)
{
  PdPrivilege *p;

  g_assert_cmpuint (index, <, privileges->len);
  p = privileges->pdata[index];
  g_assert_cmpstr (p->name, ==, name);
  g_assert_cmpstr (p->description, ==, description);
  g_assert_cmpstrv (p->values, values);
}

static void
test_privileges_compute_order (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_full_config);
  g_autoptr(GPtrArray) privileges = pd_privileges_compute (config, NULL);
  g_autofree char *text = pd_privileges_to_string (privileges);

  g_assert_cmpuint (privileges->len, ==, 7);
  assert_privilege (privileges, 0, "network", "permissions to access a network", STRV ("none"));
  assert_privilege (privileges, 1, "host ipc namespace", "allow access to host ipc namespace", STRV ("true"));
  assert_privilege (privileges, 2, "host pid namespace", "allow access to host pid namespace", STRV ("true"));
  assert_privilege (privileges, 3, "mount", "host path to mount", STRV ("/data"));
  assert_privilege (privileges, 4, "device", "host device to access", STRV ("/dev/fuse"));
  assert_privilege (privileges, 5, "allow-all-devices", "allow 'rwm' access to all devices", STRV ("true"));
  assert_privilege (privileges, 6, "capabilities", "list of additional capabilities required",
                    STRV ("CAP_SYS_ADMIN", "CAP_NET_ADMIN"));
  g_assert_cmpstr (text, ==, "network: none; host ipc namespace: true; host pid namespace: true; "
                             "mount: /data; device: /dev/fuse; allow-all-devices: true; "
                             "capabilities: CAP_SYS_ADMIN, CAP_NET_ADMIN");
}

static void
test_privileges_compute_conditions (void)
{
  struct { const char *json; const char *expected; } cases[] = {
    { "{\"Entrypoint\":[\"/p\"]}", "" },
    { "{\"Entrypoint\":[\"/p\"],\"Network\":{\"Type\":\"\"}}", "" },
    { "{\"Entrypoint\":[\"/p\"],\"Network\":{\"Type\":\"null\"}}", "" },
    { "{\"Entrypoint\":[\"/p\"],\"Network\":{\"Type\":\"bridge\"}}", "" },
    { "{\"Entrypoint\":[\"/p\"],\"Network\":{\"Type\":\"host\"}}", "network: host" },
    { "{\"Entrypoint\":[\"/p\"],\"Network\":{\"Type\":\"none\"}}", "network: none" },
    { "{\"Entrypoint\":[\"/p\"],\"IpcHost\":true}", "host ipc namespace: true" },
    { "{\"Entrypoint\":[\"/p\"],\"PidHost\":true}", "host pid namespace: true" },
    { "{\"Entrypoint\":[\"/p\"],\"IpcHost\":false,\"PidHost\":false}", "" },
    { "{\"Entrypoint\":[\"/p\"],\"Mounts\":[{\"Destination\":\"/a\",\"Source\":\"/x\"},"
      "{\"Destination\":\"/b\"},{\"Destination\":\"/c\",\"Source\":\"/y\"}]}", "mount: /x; mount: /y" },
    { "{\"Entrypoint\":[\"/p\"],\"Linux\":{\"Devices\":[{\"Path\":\"/dev/a\"},{\"Path\":null},{\"Path\":\"/dev/b\"}]}}",
      "device: /dev/a; device: /dev/b" },
    { "{\"Entrypoint\":[\"/p\"],\"Linux\":{\"AllowAllDevices\":true}}", "allow-all-devices: true" },
    { "{\"Entrypoint\":[\"/p\"],\"Linux\":{\"Capabilities\":[]}}", "" },
    { "{\"Entrypoint\":[\"/p\"],\"Linux\":{\"Capabilities\":[\"CAP_NET_ADMIN\"]}}", "capabilities: CAP_NET_ADMIN" },
    /* not disclosed, as in Docker: destinations, options, propagated mount, env, user */
    { "{\"Entrypoint\":[\"/p\"],\"PropagatedMount\":\"/mnt\",\"User\":{\"UID\":0},"
      "\"Env\":[{\"Name\":\"A\",\"Value\":\"b\"}],\"Mounts\":[{\"Destination\":\"/m\",\"Options\":[\"rw\"]}]}", "" },
    /* order: network before mounts before devices before allow-all before capabilities */
    { "{\"Entrypoint\":[\"/p\"],\"Linux\":{\"Capabilities\":[\"CAP_SYS_ADMIN\"],\"AllowAllDevices\":true,"
      "\"Devices\":[{\"Path\":\"/dev/fuse\"}]},\"Mounts\":[{\"Destination\":\"/d\",\"Source\":\"/data\"}],"
      "\"PidHost\":true,\"Network\":{\"Type\":\"host\"}}",
      "network: host; host pid namespace: true; mount: /data; device: /dev/fuse; allow-all-devices: true; "
      "capabilities: CAP_SYS_ADMIN" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(PdPluginConfig) config = pd_test_parse_config (cases[i].json);
      g_autoptr(GPtrArray) privileges = pd_privileges_compute (config, NULL);
      g_autofree char *text = pd_privileges_to_string (privileges);

      g_assert_cmpstr (text, ==, cases[i].expected);
    }
}

static GPtrArray *
make_privileges (const char *spec)
{
  /* "name=v1,v2;name2=v3" */
  GPtrArray *privileges = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
  g_auto(GStrv) entries = g_strsplit (spec, ";", -1);

  for (guint i = 0; entries[i] != NULL; i++)
    {
      g_auto(GStrv) parts = NULL;
      g_auto(GStrv) values = NULL;

      if (entries[i][0] == '\0')
        continue;
      parts = g_strsplit (entries[i], "=", 2);
      values = parts[1] != NULL && parts[1][0] != '\0' ? g_strsplit (parts[1], ",", -1) : g_new0 (char *, 1);
      g_ptr_array_add (privileges, pd_privilege_new (parts[0], "some description",
                                                     (const char *const *) values));
    }
  return privileges;
}

static void
test_privileges_equal (void)
{
  struct { const char *a; const char *b; gboolean equal; } cases[] = {
    { "", "", TRUE },
    { "network=host", "network=host", TRUE },
    /* single-entry lists are compared (Docker never looked at index 0: CVE-2026-33997) */
    { "network=host", "network=none", FALSE },
    { "mount=/data", "mount=/", FALSE },
    { "network=host", "device=host", FALSE },
    /* the first entry of longer lists is compared too */
    { "capabilities=CAP_SYS_ADMIN;mount=/a", "capabilities=CAP_NET_ADMIN;mount=/a", FALSE },
    { "allow-all-devices=true;mount=/a", "device=/dev/fuse;mount=/a", FALSE },
    /* and the last */
    { "network=host;mount=/a;device=/dev/fuse", "network=host;mount=/a;device=/dev/mem", FALSE },
    /* order does not matter, neither of entries nor of values */
    { "network=host;mount=/a;device=/dev/fuse", "device=/dev/fuse;network=host;mount=/a", TRUE },
    { "capabilities=CAP_SYS_ADMIN,CAP_NET_ADMIN", "capabilities=CAP_NET_ADMIN,CAP_SYS_ADMIN", TRUE },
    { "mount=/a;mount=/b", "mount=/b;mount=/a", TRUE },
    /* duplicates count */
    { "mount=/a;mount=/a", "mount=/a;mount=/b", FALSE },
    { "mount=/a;mount=/b", "mount=/a;mount=/a", FALSE },
    /* lengths */
    { "network=host", "network=host;mount=/a", FALSE },
    { "network=host;mount=/a", "network=host", FALSE },
    { "", "network=host", FALSE },
    /* values: every one, not just the count */
    { "capabilities=CAP_SYS_ADMIN,CAP_NET_ADMIN", "capabilities=CAP_SYS_ADMIN", FALSE },
    { "capabilities=CAP_SYS_ADMIN", "capabilities=CAP_SYS_ADMIN,CAP_NET_ADMIN", FALSE },
    { "capabilities=CAP_SYS_ADMIN,CAP_NET_ADMIN", "capabilities=CAP_SYS_ADMIN,CAP_NET_RAW", FALSE },
    { "capabilities=", "capabilities=CAP_SYS_ADMIN", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GPtrArray) a = make_privileges (cases[i].a);
      g_autoptr(GPtrArray) b = make_privileges (cases[i].b);

      g_test_message ("equal: [%s] vs [%s]", cases[i].a, cases[i].b);
      g_assert_cmpint (pd_privileges_equal (a, b), ==, cases[i].equal);
      g_assert_cmpint (pd_privileges_equal (b, a), ==, cases[i].equal);
    }

  /* descriptions are ignored; NULL is the empty list; inputs are left as they were */
  {
    g_autoptr(GPtrArray) a = make_privileges ("capabilities=CAP_SYS_ADMIN,CAP_NET_ADMIN;network=host");
    g_autoptr(GPtrArray) b = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
    g_autoptr(GPtrArray) empty = g_ptr_array_new ();

    g_ptr_array_add (b, pd_privilege_new ("network", "permissions to access a network", STRV ("host")));
    g_ptr_array_add (b, pd_privilege_new ("capabilities", NULL, STRV ("CAP_NET_ADMIN", "CAP_SYS_ADMIN")));
    g_assert_true (pd_privileges_equal (a, b));
    g_assert_cmpstr (((PdPrivilege *) a->pdata[0])->name, ==, "capabilities");
    g_assert_cmpstrv (((PdPrivilege *) a->pdata[0])->values, STRV ("CAP_SYS_ADMIN", "CAP_NET_ADMIN"));
    g_assert_true (pd_privileges_equal (NULL, NULL));
    g_assert_true (pd_privileges_equal (NULL, empty));
    g_assert_false (pd_privileges_equal (NULL, a));
  }

  /* a computed list equals itself and a reordered copy of itself */
  {
    g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_full_config);
    g_autoptr(GPtrArray) a = pd_privileges_compute (config, NULL);
    g_autoptr(GPtrArray) b = pd_privileges_compute (config, NULL);
    g_autoptr(GPtrArray) c = pd_privileges_compute (config, NULL);

    g_assert_true (pd_privileges_equal (a, b));
    g_ptr_array_remove_index (b, 0);
    g_assert_false (pd_privileges_equal (a, b));
    /* reverse c */
    for (guint i = 0; i < c->len / 2; i++)
      {
        gpointer tmp = c->pdata[i];
        c->pdata[i] = c->pdata[c->len - 1 - i];
        c->pdata[c->len - 1 - i] = tmp;
      }
    g_assert_true (pd_privileges_equal (a, c));
  }
}

static void
test_privileges_variant (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_full_config);
  g_autoptr(GPtrArray) privileges = pd_privileges_compute (config, NULL);
  g_autoptr(GVariant) variant = pd_privileges_to_variant (privileges);
  g_autoptr(GPtrArray) back = NULL;

  /* floating, so that it can be passed straight to g_variant_new ("(@a(ssas))") */
  g_assert_true (g_variant_is_floating (variant));
  g_variant_ref_sink (variant);
  g_assert_cmpstr (g_variant_get_type_string (variant), ==, "a(ssas)");
  g_assert_cmpuint (g_variant_n_children (variant), ==, 7);
  {
    g_autofree char *text = g_variant_print (variant, FALSE);
    g_assert_true (g_str_has_prefix (text, "[('network', 'permissions to access a network', ['none']), "));
    g_assert_true (g_str_has_suffix (text, "('capabilities', 'list of additional capabilities required', "
                                           "['CAP_SYS_ADMIN', 'CAP_NET_ADMIN'])]"));
  }

  /* and back: every field, in order */
  back = pd_privileges_new_from_variant (variant);
  g_assert_cmpuint (back->len, ==, privileges->len);
  for (guint i = 0; i < privileges->len; i++)
    {
      const PdPrivilege *p = privileges->pdata[i];
      assert_privilege (back, i, p->name, p->description, (const char *const *) p->values);
    }
  g_assert_true (pd_privileges_equal (privileges, back));

  /* empty lists, and NULL fields written as "" and [] */
  {
    g_autoptr(GPtrArray) empty = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
    g_autoptr(GVariant) v = g_variant_ref_sink (pd_privileges_to_variant (empty));
    g_autoptr(GVariant) v_null = g_variant_ref_sink (pd_privileges_to_variant (NULL));
    g_autoptr(GPtrArray) none = pd_privileges_new_from_variant (v);
    g_autoptr(PdPrivilege) sparse = g_new0 (PdPrivilege, 1);
    g_autoptr(GVariant) v_sparse = NULL;
    g_autoptr(GPtrArray) sparse_back = NULL;

    g_assert_cmpuint (g_variant_n_children (v), ==, 0);
    g_assert_cmpuint (g_variant_n_children (v_null), ==, 0);
    g_assert_cmpuint (none->len, ==, 0);

    g_ptr_array_add (empty, g_steal_pointer (&sparse));
    v_sparse = g_variant_ref_sink (pd_privileges_to_variant (empty));
    sparse_back = pd_privileges_new_from_variant (v_sparse);
    assert_privilege (sparse_back, 0, "", "", EMPTY_STRV);
  }
}

static void
test_privileges_to_string (void)
{
  g_autoptr(GPtrArray) privileges = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
  g_autoptr(GPtrArray) hostile = g_ptr_array_new_with_free_func ((GDestroyNotify) pd_privilege_free);
  g_autofree char *text = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *empty = NULL;

  g_ptr_array_add (privileges, pd_privilege_new ("network", "permissions to access a network", STRV ("host")));
  g_ptr_array_add (privileges, pd_privilege_new ("capabilities", "list of additional capabilities required",
                                                 STRV ("CAP_SYS_ADMIN", "CAP_NET_ADMIN")));
  g_ptr_array_add (privileges, pd_privilege_new ("mount", "host path to mount", STRV ("/data")));
  text = pd_privileges_to_string (privileges);
  g_assert_cmpstr (text, ==, "network: host; capabilities: CAP_SYS_ADMIN, CAP_NET_ADMIN; mount: /data");

  empty = pd_privileges_to_string (NULL);
  g_assert_cmpstr (empty, ==, "");

  /* untrusted values cannot forge lines in a polkit dialog or a log */
  g_ptr_array_add (hostile, pd_privilege_new ("mount", "host path to mount", STRV ("/a\nmount: /b")));
  escaped = pd_privileges_to_string (hostile);
  g_assert_cmpstr (escaped, ==, "mount: /a\\x0amount: /b");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/privileges/compute/order", test_privileges_compute_order);
  g_test_add_func ("/privileges/compute/conditions", test_privileges_compute_conditions);
  g_test_add_func ("/privileges/equal", test_privileges_equal);
  g_test_add_func ("/privileges/variant", test_privileges_variant);
  g_test_add_func ("/privileges/to-string", test_privileges_to_string);

  return g_test_run ();
}
