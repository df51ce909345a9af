/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plugin config (pd-plugin-config.c): parsing Docker's config.json with its spellings and
 * nulls, what is refused and how it is said, the JSON Docker's API shows, and the bounds of a
 * config to install.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-plugin-config"

#include <linux/capability.h>
#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"
#include "pd-privileges.h"
#include "pd-test-utils.h"

static void
assert_parse_fails_len (const char *json, gsize len, const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = pd_plugin_config_new_from_data (json, len, &error);

  g_assert_null (config);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG);
  if (strstr (error->message, expected) == NULL)
    g_error ("for %s: expected \"%s\" in \"%s\"", json, expected, error->message);
}

static void
assert_parse_fails (const char *json, const char *expected)
{
  assert_parse_fails_len (json, strlen (json), expected);
}

static void
test_config_sshfs (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_sshfs_config);
  PdConfigMount *mount;
  PdConfigDevice *device;
  PdConfigEnv *env;

  g_assert_cmpstr (config->description, ==, "sshFS plugin for Docker");
  g_assert_cmpstr (config->documentation, ==, "https://docs.docker.com/engine/extend/plugins/");
  g_assert_cmpstrv (config->entrypoint, STRV ("/docker-volume-sshfs"));
  g_assert_cmpstrv (config->interface_types, STRV ("docker.volumedriver/1.0"));
  g_assert_cmpstr (config->interface_socket, ==, "sshfs.sock");
  g_assert_cmpstr (config->protocol_scheme, ==, "");
  g_assert_cmpstr (config->workdir, ==, "");
  g_assert_cmpstr (config->network_type, ==, "host");
  g_assert_cmpstr (config->propagated_mount, ==, "/mnt/volumes");
  g_assert_false (config->ipc_host);
  g_assert_false (config->pid_host);
  g_assert_cmpstrv (config->linux_capabilities, STRV ("CAP_SYS_ADMIN"));
  g_assert_false (config->linux_allow_all_devices);
  g_assert_false (config->has_user);
  g_assert_null (config->rootfs_type);
  g_assert_null (config->rootfs_diff_ids);
  g_assert_cmpstr (config->args_name, ==, "");
  /* absent lists stay absent (Go's nil) */
  g_assert_null (config->args_value);
  g_assert_null (config->args_settable);

  g_assert_cmpuint (config->mounts->len, ==, 1);
  mount = config->mounts->pdata[0];
  g_assert_cmpstr (mount->name, ==, "state");
  g_assert_cmpstr (mount->description, ==, "");
  g_assert_cmpstr (mount->source, ==, "/var/lib/docker/plugins/");
  g_assert_cmpstr (mount->destination, ==, "/mnt/state");
  g_assert_cmpstr (mount->type, ==, "bind");
  g_assert_cmpstrv (mount->options, STRV ("rbind"));
  g_assert_cmpstrv (mount->settable, STRV ("source"));

  g_assert_cmpuint (config->linux_devices->len, ==, 1);
  device = config->linux_devices->pdata[0];
  g_assert_cmpstr (device->name, ==, "");
  g_assert_cmpstr (device->path, ==, "/dev/fuse");
  g_assert_null (device->settable);

  g_assert_cmpuint (config->env->len, ==, 1);
  env = config->env->pdata[0];
  g_assert_cmpstr (env->name, ==, "DEBUG");
  g_assert_cmpstr (env->value, ==, "0");
  g_assert_cmpstrv (env->settable, STRV ("value"));

  g_assert_true (pd_plugin_config_has_capability (config, "volumedriver"));
  g_assert_true (pd_plugin_config_has_capability (config, "VolumeDriver"));
  g_assert_false (pd_plugin_config_has_capability (config, "authz"));
}

static void
test_config_sample (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_sample_config);
  PdConfigEnv *env;

  g_assert_cmpstr (config->description, ==, "A sample volume plugin for Docker");
  g_assert_cmpstrv (config->entrypoint, STRV ("/usr/bin/sample-volume-plugin", "/data"));
  g_assert_cmpstr (config->interface_socket, ==, "plugin.sock");
  g_assert_cmpstr (config->workdir, ==, "");
  g_assert_cmpstr (config->network_type, ==, "");
  g_assert_cmpstr (config->propagated_mount, ==, "/data");
  /* null lists stay nil, like Go, and are written back as null (this is Docker's own output) */
  g_assert_null (config->linux_capabilities);
  g_assert_null (config->args_settable);
  g_assert_null (config->args_value);
  g_assert_null (config->mounts);
  g_assert_null (config->linux_devices);
  g_assert_true (config->has_user);
  g_assert_cmpuint (config->user_uid, ==, 0);
  g_assert_cmpuint (config->user_gid, ==, 0);
  g_assert_cmpuint (config->env->len, ==, 1);
  env = config->env->pdata[0];
  g_assert_cmpstr (env->name, ==, "DEBUG");
  g_assert_cmpstr (env->value, ==, "0");
}

static void
test_config_case_insensitive (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (
    "{\"ENTRYPOINT\":[\"/p\"],\"workDIR\":\"/w\",\"iNtErFaCe\":{\"SOCKET\":\"p.sock\","
    "\"types\":[\"docker.authz/1.0\"],\"protocolscheme\":\"moby.plugins.http/v1\"},"
    "\"NETWORK\":{\"TYPE\":\"bridge\"},\"ipchost\":true,\"PIDHOST\":true,"
    "\"mounts\":[{\"NAME\":\"m\",\"DESTINATION\":\"/m\",\"SOURCE\":\"/src\"}],"
    "\"linux\":{\"allowalldevices\":true,\"DEVICES\":[{\"PATH\":\"/dev/null\"}]},"
    "\"user\":{\"uid\":7,\"gid\":8},\"args\":{\"NAME\":\"a\",\"VALUE\":[\"x\"]},"
    "\"ROOTFS\":{\"TYPE\":\"layers\",\"DIFF_IDS\":[\"" PD_TEST_DIGEST "\"]}}");

  g_assert_cmpstrv (config->entrypoint, STRV ("/p"));
  g_assert_cmpstr (config->workdir, ==, "/w");
  g_assert_cmpstr (config->interface_socket, ==, "p.sock");
  g_assert_cmpstr (config->protocol_scheme, ==, "moby.plugins.http/v1");
  g_assert_cmpstrv (config->interface_types, STRV ("docker.authz/1.0"));
  g_assert_cmpstr (config->network_type, ==, "bridge");
  g_assert_true (config->ipc_host);
  g_assert_true (config->pid_host);
  g_assert_cmpuint (config->mounts->len, ==, 1);
  g_assert_cmpstr (((PdConfigMount *) config->mounts->pdata[0])->source, ==, "/src");
  g_assert_true (config->linux_allow_all_devices);
  g_assert_cmpstr (((PdConfigDevice *) config->linux_devices->pdata[0])->path, ==, "/dev/null");
  g_assert_true (config->has_user);
  g_assert_cmpuint (config->user_uid, ==, 7);
  g_assert_cmpuint (config->user_gid, ==, 8);
  g_assert_cmpstr (config->args_name, ==, "a");
  g_assert_cmpstrv (config->args_value, STRV ("x"));
  g_assert_cmpstr (config->rootfs_type, ==, "layers");
  g_assert_cmpstrv (config->rootfs_diff_ids, STRV (PD_TEST_DIGEST));
  g_assert_true (pd_plugin_config_has_capability (config, "AUTHZ"));
}

static void
test_config_unknown_keys (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (
    "{\"DockerVersion\":\"17.05.0-ce\",\"Entrypoint\":[\"/p\"],\"Frobnicate\":{\"a\":[1,2.5e3,-0.5,true,null]},"
    "\"Interface\":{\"Socket\":\"s\",\"Extra\":\"x\"},\"Mounts\":[{\"Destination\":\"/d\",\"Propagation\":\"rshared\"}]}");

  g_assert_cmpstrv (config->entrypoint, STRV ("/p"));
  g_assert_cmpstr (config->interface_socket, ==, "s");
  g_assert_cmpuint (config->mounts->len, ==, 1);
}

static void
test_config_null_vs_absent (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (
    "{\"Entrypoint\":[\"/p\"],"
    "\"Mounts\":[{\"Name\":\"a\",\"Destination\":\"/a\",\"Source\":null},"
    "{\"Name\":\"b\",\"Destination\":\"/b\"},"
    "{\"Name\":\"c\",\"Destination\":\"/c\",\"Source\":\"\",\"Options\":[],\"Settable\":null}],"
    "\"Env\":[{\"Name\":\"A\",\"Value\":null},{\"Name\":\"B\"},{\"Name\":\"C\",\"Value\":\"\"}],"
    "\"Linux\":{\"Devices\":[{\"Name\":\"d\",\"Path\":null},{\"Name\":\"e\",\"Path\":\"/dev/e\"}]}}");
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(GPtrArray) privileges = pd_privileges_compute (config, NULL);
  g_autofree char *text = pd_privileges_to_string (privileges);
  g_autofree char *json = NULL;
  g_autoptr(JsonNode) node = NULL;

  g_assert_null (((PdConfigMount *) config->mounts->pdata[0])->source);
  g_assert_null (((PdConfigMount *) config->mounts->pdata[1])->source);
  g_assert_cmpstr (((PdConfigMount *) config->mounts->pdata[2])->source, ==, "");
  g_assert_null (((PdConfigEnv *) config->env->pdata[0])->value);
  g_assert_null (((PdConfigEnv *) config->env->pdata[1])->value);
  g_assert_cmpstr (((PdConfigEnv *) config->env->pdata[2])->value, ==, "");
  g_assert_null (((PdConfigDevice *) config->linux_devices->pdata[0])->path);

  /* only non-null values become settings and privileges; "" is a value */
  g_assert_cmpstrv (settings->env, STRV ("C="));
  g_assert_cmpstr (text, ==, "mount: ; device: /dev/e");

  node = pd_plugin_config_to_json (config);
  json = pd_json_to_go_data (node, NULL);
  /* absent and null lists are written as null, as Go writes a nil slice; [] stays [] */
  g_assert_nonnull (strstr (json, "\"Name\":\"a\",\"Options\":null,\"Settable\":null,\"Source\":null,"));
  g_assert_nonnull (strstr (json, "\"Name\":\"c\",\"Options\":[],\"Settable\":null,\"Source\":\"\","));
  g_assert_nonnull (strstr (json, "{\"Description\":\"\",\"Name\":\"A\",\"Settable\":null,\"Value\":null}"));
  g_assert_nonnull (strstr (json, "{\"Description\":\"\",\"Name\":\"C\",\"Settable\":null,\"Value\":\"\"}"));
  g_assert_nonnull (strstr (json, "{\"Description\":\"\",\"Name\":\"d\",\"Path\":null,\"Settable\":null}"));
  g_assert_nonnull (strstr (json, "\"Args\":{\"Description\":\"\",\"Name\":\"\",\"Settable\":null,\"Value\":null}"));
  g_assert_nonnull (strstr (json, "\"Capabilities\":null"));
}

/* the capabilities of <linux/capability.h>, with their values: a config may name each */
#define KERNEL_CAPABILITY(name) { #name, name }
static const struct {
  const char *name;
  int value;
} kernel_capabilities[] = {
  KERNEL_CAPABILITY (CAP_CHOWN), KERNEL_CAPABILITY (CAP_DAC_OVERRIDE),
  KERNEL_CAPABILITY (CAP_DAC_READ_SEARCH), KERNEL_CAPABILITY (CAP_FOWNER),
  KERNEL_CAPABILITY (CAP_FSETID), KERNEL_CAPABILITY (CAP_KILL), KERNEL_CAPABILITY (CAP_SETGID),
  KERNEL_CAPABILITY (CAP_SETUID), KERNEL_CAPABILITY (CAP_SETPCAP),
  KERNEL_CAPABILITY (CAP_LINUX_IMMUTABLE), KERNEL_CAPABILITY (CAP_NET_BIND_SERVICE),
  KERNEL_CAPABILITY (CAP_NET_BROADCAST), KERNEL_CAPABILITY (CAP_NET_ADMIN),
  KERNEL_CAPABILITY (CAP_NET_RAW), KERNEL_CAPABILITY (CAP_IPC_LOCK),
  KERNEL_CAPABILITY (CAP_IPC_OWNER), KERNEL_CAPABILITY (CAP_SYS_MODULE),
  KERNEL_CAPABILITY (CAP_SYS_RAWIO), KERNEL_CAPABILITY (CAP_SYS_CHROOT),
  KERNEL_CAPABILITY (CAP_SYS_PTRACE), KERNEL_CAPABILITY (CAP_SYS_PACCT),
  KERNEL_CAPABILITY (CAP_SYS_ADMIN), KERNEL_CAPABILITY (CAP_SYS_BOOT),
  KERNEL_CAPABILITY (CAP_SYS_NICE), KERNEL_CAPABILITY (CAP_SYS_RESOURCE),
  KERNEL_CAPABILITY (CAP_SYS_TIME), KERNEL_CAPABILITY (CAP_SYS_TTY_CONFIG),
  KERNEL_CAPABILITY (CAP_MKNOD), KERNEL_CAPABILITY (CAP_LEASE),
  KERNEL_CAPABILITY (CAP_AUDIT_WRITE), KERNEL_CAPABILITY (CAP_AUDIT_CONTROL),
  KERNEL_CAPABILITY (CAP_SETFCAP), KERNEL_CAPABILITY (CAP_MAC_OVERRIDE),
  KERNEL_CAPABILITY (CAP_MAC_ADMIN), KERNEL_CAPABILITY (CAP_SYSLOG),
  KERNEL_CAPABILITY (CAP_WAKE_ALARM), KERNEL_CAPABILITY (CAP_BLOCK_SUSPEND),
  KERNEL_CAPABILITY (CAP_AUDIT_READ), KERNEL_CAPABILITY (CAP_PERFMON),
  KERNEL_CAPABILITY (CAP_BPF), KERNEL_CAPABILITY (CAP_CHECKPOINT_RESTORE),
};

/* their names, joined by "\",\"" for a JSON array */
static char *
capability_names (void)
{
  g_autoptr(GString) list = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (kernel_capabilities); i++)
    g_string_append_printf (list, "%s%s", i > 0 ? "\",\"" : "", kernel_capabilities[i].name);
  return g_string_free (g_steal_pointer (&list), FALSE);
}

static void
test_config_accepts_edges (void)
{
  g_autofree char *socket87 = g_strnfill (87, 's');
  g_autofree char *json = g_strdup_printf ("{\"Entrypoint\":[\"/p\",\"-x\",\"\"],"
                                           "\"Interface\":{\"Socket\":\"%s\"}}", socket87);
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (json);
  const char *networks[] = { "", "host", "bridge", "none", "null" };

  g_assert_cmpstr (config->interface_socket, ==, socket87);
  g_assert_cmpstrv (config->entrypoint, STRV ("/p", "-x", ""));

  for (gsize i = 0; i < G_N_ELEMENTS (networks); i++)
    {
      g_autofree char *j = g_strdup_printf ("{\"Entrypoint\":[\"p\"],\"Network\":{\"Type\":\"%s\"}}",
                                            networks[i]);
      g_autoptr(PdPluginConfig) c = pd_test_parse_config (j);
      g_assert_cmpstr (c->network_type, ==, networks[i]);
    }

  /* escapes and surrogate pairs decode, whitespace around the value is fine */
  {
    g_autoptr(PdPluginConfig) c = pd_test_parse_config (" \r\n\t{\"Entrypoint\":[\"/p\"],"
                                                        "\"Description\":\"\\u00e9\\ud83d\\ude00\\/\\t\"} \n");
    g_assert_cmpstr (c->description, ==, "\xc3\xa9\xf0\x9f\x98\x80/\t");
  }
  /* null for non-pointer fields is Go's "leave it alone" */
  {
    g_autoptr(PdPluginConfig) c = pd_test_parse_config ("{\"Entrypoint\":[\"/p\"],\"Description\":null,"
                                                        "\"IpcHost\":null,\"Interface\":null,\"User\":null,"
                                                        "\"Mounts\":null,\"rootfs\":null}");
    g_assert_cmpstr (c->description, ==, "");
    g_assert_false (c->ipc_host);
    g_assert_false (c->has_user);
    g_assert_null (c->rootfs_diff_ids);
  }
  /* every Linux capability is known, by its kernel value */
  {
    g_autofree char *list = capability_names ();
    g_autofree char *j = g_strdup_printf ("{\"Entrypoint\":[\"/p\"],\"Linux\":{\"Capabilities\":[\"%s\"]}}", list);
    g_autoptr(PdPluginConfig) c = pd_test_parse_config (j);
    guint64 seen = 0;

    g_assert_cmpuint (g_strv_length (c->linux_capabilities), ==, 41);
    g_assert_cmpuint (G_N_ELEMENTS (kernel_capabilities), ==, CAP_LAST_CAP + 1);
    for (gsize i = 0; i < G_N_ELEMENTS (kernel_capabilities); i++)
      {
        g_assert_cmpint (pd_linux_capability_from_name (kernel_capabilities[i].name), ==,
                         kernel_capabilities[i].value);
        seen |= G_GUINT64_CONSTANT (1) << kernel_capabilities[i].value;
      }
    /* each of 0 … CAP_LAST_CAP once */
    g_assert_cmphex (seen, ==, (G_GUINT64_CONSTANT (1) << (CAP_LAST_CAP + 1)) - 1);
    g_assert_cmpint (pd_linux_capability_from_name ("CAP_SYS_ADMIN"), ==, 21);
    g_assert_cmpint (pd_linux_capability_from_name ("CAP_CHECKPOINT_RESTORE"), ==, 40);
    g_assert_cmpint (pd_linux_capability_from_name ("cap_sys_admin"), ==, -1);
    g_assert_cmpint (pd_linux_capability_from_name (NULL), ==, -1);
  }
  /* uint32 bounds */
  {
    g_autoptr(PdPluginConfig) c = pd_test_parse_config ("{\"Entrypoint\":[\"/p\"],\"User\":{\"UID\":4294967295,\"GID\":0}}");
    g_assert_cmpuint (c->user_uid, ==, G_MAXUINT32);
  }
  /* a socket is needed only with an interface; ".." is a component, not a substring */
  {
    g_autoptr(PdPluginConfig) c = pd_test_parse_config ("{\"Entrypoint\":[\"/p\"],\"Interface\":{\"Types\":[],\"Socket\":\"\"},"
                                                        "\"WorkDir\":\"/a/..b/c..\"}");
    g_assert_cmpstr (c->interface_socket, ==, "");
    g_assert_cmpstr (c->workdir, ==, "/a/..b/c..");
  }
  /* only bind mounts need an absolute source; a null source is "to be set" for any mount */
  {
    g_autoptr(PdPluginConfig) c = pd_test_parse_config (
      "{\"Entrypoint\":[\"/p\"],\"Mounts\":["
      "{\"Destination\":\"/t\",\"Source\":\"tmpfs\",\"Type\":\"tmpfs\",\"Options\":[\"nosuid\"]},"
      "{\"Destination\":\"/n\",\"Source\":\"../none\",\"Options\":[\"ro\",\"rbinding\"]},"
      "{\"Destination\":\"/b\",\"Source\":null,\"Type\":\"bind\",\"Options\":[\"rbind\"]},"
      "{\"Destination\":\"/c\",\"Source\":\"/srv/..data/\\u00e9\",\"Type\":\"bind\"}]}");
    g_assert_cmpuint (c->mounts->len, ==, 4);
    g_assert_cmpstr (((PdConfigMount *) c->mounts->pdata[1])->source, ==, "../none");
    g_assert_null (((PdConfigMount *) c->mounts->pdata[2])->source);
    g_assert_cmpstr (((PdConfigMount *) c->mounts->pdata[3])->source, ==, "/srv/..data/\xc3\xa9");
  }
  /* the device path rule, as the daemon's Set uses it */
  g_assert_true (pd_plugin_device_path_is_valid ("/dev/fuse"));
  g_assert_true (pd_plugin_device_path_is_valid ("/dev/net/tun"));
  g_assert_false (pd_plugin_device_path_is_valid ("/dev/"));
  g_assert_false (pd_plugin_device_path_is_valid ("/dev/../etc/shadow"));
  g_assert_false (pd_plugin_device_path_is_valid ("/dev/\x1b[2K"));
  g_assert_false (pd_plugin_device_path_is_valid ("/dev/\xc2\x9b"));
  g_assert_false (pd_plugin_device_path_is_valid ("/dev/\xff"));
  g_assert_false (pd_plugin_device_path_is_valid (NULL));
}

typedef struct {
  const char *json;
  const char *message;
} RejectCase;

static void
test_config_rejects (void)
{
  static const RejectCase cases[] = {
    /* duplicates, exact and by case, at any depth */
    { "{\"Entrypoint\":[\"/a\"],\"Entrypoint\":[\"/b\"]}",
      "config: duplicate key \"Entrypoint\" in the top level" },
    { "{\"Entrypoint\":[\"/a\"],\"entrypoint\":[\"/b\"]}",
      "config: duplicate key \"entrypoint\" in the top level (same as \"Entrypoint\": keys are matched case-insensitively)" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/a\"},{\"destination\":\"/a\",\"DESTINATION\":\"/b\"}]}",
      "duplicate key \"DESTINATION\" in Mounts[1]" },
    { "{\"Entrypoint\":[\"/a\"],\"Unknown\":{\"x\":1,\"X\":2}}", "duplicate key \"X\" in Unknown" },
    /* wrong types */
    { "{\"Entrypoint\":\"/a\"}", "config: Entrypoint must be an array of strings, not a string" },
    { "{\"Entrypoint\":[1]}", "config: Entrypoint[0] must be a string, not a number" },
    { "{\"Entrypoint\":[\"/a\",null]}", "config: Entrypoint[1] must be a string, not null" },
    { "{\"Entrypoint\":[\"/a\"],\"IpcHost\":\"yes\"}", "config: IpcHost must be a boolean, not a string" },
    { "{\"Entrypoint\":[\"/a\"],\"PidHost\":1}", "config: PidHost must be a boolean, not a number" },
    { "{\"Entrypoint\":[\"/a\"],\"Description\":true}", "config: Description must be a string, not a boolean" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":[]}", "config: Interface must be an object, not an array" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Socket\":5}}", "config: Interface.Socket must be a string, not a number" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":\"docker.authz/1.0\"}}", "config: Interface.Types must be an array of strings, not a string" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":{}}", "config: Mounts must be an array, not an object" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[\"x\"]}", "config: Mounts[0] must be an object, not a string" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/a\",\"Source\":1}]}", "config: Mounts[0].Source must be a string or null, not a number" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/a\",\"Options\":[true]}]}", "config: Mounts[0].Options[0] must be a string, not a boolean" },
    { "{\"Entrypoint\":[\"/a\"],\"Env\":[{\"Name\":\"A\",\"Value\":1}]}", "config: Env[0].Value must be a string or null, not a number" },
    { "{\"Entrypoint\":[\"/a\"],\"Env\":[null]}", "config: Env[0] must be an object, not null" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":[]}]}}", "config: Linux.Devices[0].Path must be a string or null, not an array" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"AllowAllDevices\":\"true\"}}", "config: Linux.AllowAllDevices must be a boolean, not a string" },
    { "{\"Entrypoint\":[\"/a\"],\"Args\":{\"Value\":\"x\"}}", "config: Args.Value must be an array of strings, not a string" },
    { "{\"Entrypoint\":[\"/a\"],\"Network\":\"host\"}", "config: Network must be an object, not a string" },
    { "{\"Entrypoint\":[\"/a\"],\"User\":{\"UID\":\"0\"}}", "config: User.UID must be a number, not a string" },
    { "{\"Entrypoint\":[\"/a\"],\"User\":{\"UID\":-1}}", "config: User.UID must be an integer between 0 and 4294967295" },
    { "{\"Entrypoint\":[\"/a\"],\"User\":{\"GID\":1.5}}", "config: User.GID must be an integer between 0 and 4294967295" },
    { "{\"Entrypoint\":[\"/a\"],\"User\":{\"GID\":1e3}}", "config: User.GID must be an integer" },
    { "{\"Entrypoint\":[\"/a\"],\"User\":{\"UID\":4294967296}}", "config: User.UID must be an integer between 0 and 4294967295" },
    { "{\"Entrypoint\":[\"/a\"],\"rootfs\":[]}", "config: rootfs must be an object, not an array" },
    { "[]", "config: the top-level value must be an object, not an array" },
    { "\"x\"", "config: the top-level value must be an object, not a string" },
    /* NUL escaped in strings and keys */
    { "{\"Entrypoint\":[\"/a\"],\"Description\":\"a\\u0000b\"}", "config: Description contains a NUL byte" },
    { "{\"Entrypoint\":[\"/a\"],\"mounts\":[{\"destination\":\"/a\",\"source\":\"/x\\u0000\"}]}",
      "config: mounts[0].source contains a NUL byte" },
    { "{\"Entrypoint\":[\"/a\"],\"Env\":[{\"Na\\u0000me\":\"x\"}]}", "config: a key in Env[0] contains a NUL byte" },
    /* a second value, or garbage, after the first */
    { "{\"Entrypoint\":[\"/a\"]} {}", "unexpected data after the top-level value" },
    { "{\"Entrypoint\":[\"/a\"]}x", "unexpected data after the top-level value" },
    { "{\"Entrypoint\":[\"/a\"]}\n{\"Entrypoint\":[\"/b\"]}", "line 2 column 1" },
    /* syntax */
    { "", "unexpected end of input" },
    { "{", "expected a string key" },
    { "{\"a\":}", "unexpected character" },
    { "{\"a\":1,}", "expected a string key" },
    { "{\"a\":[1,]}", "unexpected character" },
    { "{\"a\":[1 2]}", "expected ',' or ']'" },
    { "{\"a\" 1}", "expected ':'" },
    { "{'a':1}", "expected a string key" },
    { "{\"a\":01}", "expected ',' or '}'" },
    { "{\"a\":-}", "invalid number" },
    { "{\"a\":1.}", "invalid number" },
    { "{\"a\":1e}", "invalid number" },
    { "{\"a\":tru}", "unexpected character" },
    { "{\"a\":\"\\x\"}", "invalid escape" },
    { "{\"a\":\"\\u12\"}", "invalid \\u escape" },
    { "{\"a\":\"\\ud800\"}", "unpaired UTF-16 surrogate" },
    { "{\"a\":\"\\udc00\"}", "unpaired UTF-16 surrogate" },
    { "{\"a\":\"\\ud800\\u0041\"}", "unpaired UTF-16 surrogate" },
    { "{\"a\":\"x\ty\"}", "control character in string" },
    { "{\"a\":\"\xff\"}", "invalid UTF-8 in string" },
    { "{\"a\":\"\xc3\"}", "invalid UTF-8 in string" },
    { "{\"a\":\"unterminated}", "unterminated string" },
    { "\xef\xbb\xbf{\"Entrypoint\":[\"/a\"]}", "unexpected character" },
    { "{\"Entrypoint\":[\"/a\"],\n  \"x\": ?}", "line 2 column 8 (in x)" },
    /* socket */
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Socket\":\"a/b\"}}",
      "config: Interface.Socket must be a file name without '/' and not '.' or '..' (got \"a/b\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Socket\":\"../../x\"}}", "config: Interface.Socket must be a file name" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Socket\":\".\"}}", "config: Interface.Socket must be a file name" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Socket\":\"..\"}}", "config: Interface.Socket must be a file name" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Socket\":\"/run/x.sock\"}}", "config: Interface.Socket must be a file name" },
    /* a plugin with an interface is reached through its socket: it must have one */
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"docker.volumedriver/1.0\"],\"Socket\":\"\"}}",
      "config: Interface.Socket must name the plugin's socket when Interface.Types is set" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"docker.volumedriver/1.0\"]}}",
      "config: Interface.Socket must name the plugin's socket when Interface.Types is set" },
    { "{\"Entrypoint\":[\"/a\"],\"interface\":{\"types\":[\"docker.authz/1.0\"],\"socket\":null}}",
      "config: Interface.Socket must name the plugin's socket when Interface.Types is set" },
    /* mounts */
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/ok\"},{\"Destination\":\"rel\"}]}",
      "config: Mounts[1].Destination must be an absolute path without '.', '..' or empty components (got \"rel\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/a/../../etc\"}]}",
      "config: Mounts[0].Destination must be an absolute path without '.', '..' or empty components" },
    /* the sandbox takes the same paths: what it would refuse at Enable is refused here */
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/data/./x\"}]}",
      "config: Mounts[0].Destination must be an absolute path without '.', '..' or empty components" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/a//b\"}]}",
      "config: Mounts[0].Destination must be an absolute path without '.', '..' or empty components" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/..\"}]}",
      "config: Mounts[0].Destination must be an absolute path without '.', '..' or empty components" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Name\":\"m\"}]}",
      "config: Mounts[0].Destination must be an absolute path without '.', '..' or empty components (got \"\")" },
    /* mount sources are shown in the consent prompt: no control characters, of any mount */
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/d\",\"Source\":\"/\\u001b[2K\\r\\u001b[1A\",\"Type\":\"bind\"}]}",
      "config: Mounts[0].Source must not contain control characters (got \"/\\x1b[2K\\x0d\\x1b[1A\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/d\"},{\"Destination\":\"/e\",\"Source\":\"tmp\\nfs\",\"Type\":\"tmpfs\"}]}",
      "config: Mounts[1].Source must not contain control characters (got \"tmp\\x0afs\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/d\",\"Source\":\"/x\\u009b2K\"}]}",
      "config: Mounts[0].Source must not contain control characters (got \"/x\\x9b2K\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/d\",\"Source\":\"/x\\u007f\"}]}",
      "config: Mounts[0].Source must not contain control characters" },
    /* bind mounts, by type or by option, take an absolute host path without '..' */
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/d\",\"Source\":\"srv\",\"Type\":\"bind\"}]}",
      "config: Mounts[0].Source must be an absolute path without '.', '..' or empty components for a bind mount (got \"srv\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/d\",\"Source\":\"/srv/../etc\",\"Options\":[\"ro\",\"rbind\"]}]}",
      "config: Mounts[0].Source must be an absolute path without '.', '..' or empty components for a bind mount (got \"/srv/../etc\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/d\",\"Source\":\"\",\"Type\":\"none\",\"Options\":[\"bind\"]}]}",
      "config: Mounts[0].Source must be an absolute path without '.', '..' or empty components for a bind mount (got \"\")" },
    { "{\"Entrypoint\":[\"/a\"],\"mounts\":[{\"destination\":\"/d\",\"source\":\"/..\",\"type\":\"bind\"}]}",
      "config: Mounts[0].Source must be an absolute path without '.', '..' or empty components for a bind mount (got \"/..\")" },
    /* nested mount destinations: the inner one would be created through the outer one's
     * host dir, following what a plugin planted there */
    { "{\"Entrypoint\":[\"/a\"],\"PropagatedMount\":\"/data/\",\"Mounts\":[{\"Destination\":\"/data/sub\"}]}",
      "config: Mounts[0].Destination is at or under PropagatedMount \"/data/\": mounts cannot be nested (got \"/data/sub\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/x/y\"},{\"Destination\":\"/x\"}]}",
      "config: Mounts[0].Destination is at or under Mounts[1].Destination \"/x\": mounts cannot be nested (got \"/x/y\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/run\"}]}",
      "config: the plugin socket dir is at or under Mounts[0].Destination \"/run\": mounts cannot be nested (got \"/run/docker/plugins\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Network\":{\"Type\":\"bridge\"},\"Mounts\":[{\"Destination\":\"/etc\"}]}",
      "config: the host's /etc/hosts is at or under Mounts[0].Destination \"/etc\"" },
    { "{\"Entrypoint\":[\"/a\"],\"Mounts\":[{\"Destination\":\"/dev\"}],\"Linux\":{\"Devices\":[{\"Path\":\"/dev/fuse\"}]}}",
      "config: Linux.Devices[0].Path is at or under Mounts[0].Destination \"/dev\"" },
    { "{\"Entrypoint\":[\"/a\"],\"PropagatedMount\":\"/m\",\"Mounts\":[{\"Destination\":\"/m\"}]}",
      "config: Mounts[0].Destination is at or under PropagatedMount \"/m\"" },
    /* workdir, propagated mount */
    { "{\"Entrypoint\":[\"/a\"],\"WorkDir\":\"bin\"}", "config: WorkDir must be an absolute path without '.', '..' or empty components (got \"bin\")" },
    { "{\"Entrypoint\":[\"/a\"],\"workdir\":\"./x\"}", "config: WorkDir must be an absolute path" },
    { "{\"Entrypoint\":[\"/a\"],\"WorkDir\":\"/srv/../..\"}",
      "config: WorkDir must be an absolute path without '.', '..' or empty components (got \"/srv/../..\")" },
    { "{\"Entrypoint\":[\"/a\"],\"WorkDir\":\"/..\"}", "config: WorkDir must be an absolute path without '.', '..' or empty components" },
    { "{\"Entrypoint\":[\"/a\"],\"WorkDir\":\"/a/..\"}", "config: WorkDir must be an absolute path without '.', '..' or empty components" },
    { "{\"Entrypoint\":[\"/a\"],\"PropagatedMount\":\"mnt\"}", "config: PropagatedMount must be an absolute path without '.', '..' or empty components" },
    { "{\"Entrypoint\":[\"/a\"],\"PropagatedMount\":\"/mnt/../../etc\"}", "config: PropagatedMount must be an absolute path without '.', '..' or empty components" },
    /* capabilities */
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Capabilities\":[\"CAP_SYS_ADMIN\",\"CAP_FOO\"]}}",
      "config: Linux.Capabilities[1] is not a known Linux capability" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Capabilities\":[\"cap_sys_admin\"]}}", "config: Linux.Capabilities[0] is not a known Linux capability" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Capabilities\":[\"SYS_ADMIN\"]}}", "config: Linux.Capabilities[0] is not a known Linux capability" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Capabilities\":[\"ALL\"]}}", "config: Linux.Capabilities[0] is not a known Linux capability" },
    /* devices */
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":\"/etc/shadow\"}]}}",
      "config: Linux.Devices[0].Path must be a path under /dev/ without '..' (got \"/etc/shadow\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":\"/dev/fuse\"},{\"Path\":\"/dev/../etc/shadow\"}]}}",
      "config: Linux.Devices[1].Path must be a path under /dev/ without '..'" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":\"/dev/\"}]}}", "config: Linux.Devices[0].Path must be a path under /dev/" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":\"dev/fuse\"}]}}", "config: Linux.Devices[0].Path must be a path under /dev/" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":\"/device\"}]}}", "config: Linux.Devices[0].Path must be a path under /dev/" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":\"\"}]}}", "config: Linux.Devices[0].Path must be a path under /dev/" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":\"/dev/\\u001b[2K\"}]}}",
      "config: Linux.Devices[0].Path must not contain control characters (got \"/dev/\\x1b[2K\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Linux\":{\"Devices\":[{\"Path\":\"/dev/fuse\\u0085\"}]}}",
      "config: Linux.Devices[0].Path must not contain control characters" },
    /* entrypoint */
    { "{}", "config: Entrypoint must not be empty" },
    { "{\"Entrypoint\":[]}", "config: Entrypoint must not be empty" },
    { "{\"Entrypoint\":null}", "config: Entrypoint must not be empty" },
    { "{\"Entrypoint\":[\"\"]}", "config: Entrypoint[0] must not be empty or start with '-' (got \"\")" },
    { "{\"Entrypoint\":[\"--privileged\",\"/a\"]}", "config: Entrypoint[0] must not be empty or start with '-' (got \"--privileged\")" },
    /* interface types */
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"docker.volumedriver/1.0\",\"docker.volumedriver\"]}}",
      "config: Interface.Types[1] must be <prefix>.<capability>/<version>" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"volumedriver/1.0\"]}}", "config: Interface.Types[0] must be" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\".volumedriver/1.0\"]}}", "config: Interface.Types[0] must be" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"docker./1.0\"]}}", "config: Interface.Types[0] must be" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"docker.volumedriver/\"]}}", "config: Interface.Types[0] must be" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"docker.volume driver/1.0\"]}}", "config: Interface.Types[0] must be" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"docker.volumedriver/1.0/x\"]}}", "config: Interface.Types[0] must be" },
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Types\":[\"\"]}}", "config: Interface.Types[0] must be" },
    /* env names */
    { "{\"Entrypoint\":[\"/a\"],\"Env\":[{\"Name\":\"\",\"Value\":\"x\"}]}", "config: Env[0].Name must not be empty or contain '='" },
    { "{\"Entrypoint\":[\"/a\"],\"Env\":[{\"Name\":\"A\"},{\"Name\":\"B=C\"}]}", "config: Env[1].Name must not be empty or contain '=' (got \"B=C\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Env\":[{\"Value\":\"x\"}]}", "config: Env[0].Name must not be empty" },
    /* protocol scheme and network type */
    { "{\"Entrypoint\":[\"/a\"],\"Interface\":{\"ProtocolScheme\":\"moby.plugins.grpc/v1\"}}",
      "config: Interface.ProtocolScheme must be \"\" or \"moby.plugins.http/v1\" (got \"moby.plugins.grpc/v1\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Network\":{\"Type\":\"overlay\"}}",
      "config: Network.Type must be one of \"\", \"host\", \"bridge\", \"none\", \"null\" (got \"overlay\")" },
    { "{\"Entrypoint\":[\"/a\"],\"Network\":{\"Type\":\"HOST\"}}", "config: Network.Type must be one of" },
    /* rootfs */
    { "{\"Entrypoint\":[\"/a\"],\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:abc\"]}}",
      "config: rootfs.diff_ids[0] must be sha256: followed by 64 lower-case hex digits" },
    { "{\"Entrypoint\":[\"/a\"],\"rootfs\":{\"type\":\"tarball\"}}", "config: rootfs.type must be \"layers\"" },
    /* control characters in the offending value are escaped in the message */
    { "{\"Entrypoint\":[\"/a\"],\"WorkDir\":\"x\\ny\"}", "config: WorkDir must be an absolute path without '.', '..' or empty components (got \"x\\x0ay\")" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *shown = g_strescape (cases[i].json, NULL);

      g_test_message ("reject: %s", shown);
      assert_parse_fails (cases[i].json, cases[i].message);
    }
}

static void
test_config_rejects_raw_bytes (void)
{
  static const char raw_nul_value[] = "{\"Entrypoint\":[\"/a\"],\"Description\":\"a\0b\"}";
  static const char raw_nul_key[] = "{\"Entrypoint\":[\"/a\"],\"Desc\0\":\"ab\"}";
  static const char raw_nul_outside[] = "{\"Entrypoint\":[\"/a\"],\"Description\":\0}";
  static const char trailing_nul[] = "{\"Entrypoint\":[\"/a\"]}\0";
  g_autofree char *socket88 = g_strnfill (88, 's');
  g_autofree char *json = g_strdup_printf ("{\"Entrypoint\":[\"/a\"],\"Interface\":{\"Socket\":\"%s\"}}", socket88);
  GString *deep = g_string_new ("{\"Entrypoint\":[\"/a\"],\"x\":");

  assert_parse_fails_len (raw_nul_value, sizeof raw_nul_value - 1, "config: Description contains a NUL byte");
  assert_parse_fails_len (raw_nul_key, sizeof raw_nul_key - 1, "config: a key in the top level contains a NUL byte");
  assert_parse_fails_len (raw_nul_outside, sizeof raw_nul_outside - 1, "config: NUL byte outside a string in Description");
  assert_parse_fails_len (trailing_nul, sizeof trailing_nul - 1, "unexpected data after the top-level value");

  /* 107 - strlen ("/run/docker/plugins/") = 87 bytes at most */
  assert_parse_fails (json, "config: Interface.Socket must be at most 87 bytes long (got 88)");

  /* nesting is bounded so that hostile input cannot exhaust the stack */
  for (guint i = 0; i < 10000; i++)
    g_string_append_c (deep, '[');
  assert_parse_fails (deep->str, "nested deeper than 128 levels");
  g_string_free (deep, TRUE);

  /* NULL with zero length is an empty document */
  assert_parse_fails_len (NULL, 0, "unexpected end of input");
}

static const char sshfs_go_json[] =
  "{\"Args\":{\"Description\":\"\",\"Name\":\"\",\"Settable\":null,\"Value\":null},"
  "\"Description\":\"sshFS plugin for Docker\","
  "\"Documentation\":\"https://docs.docker.com/engine/extend/plugins/\","
  "\"Entrypoint\":[\"/docker-volume-sshfs\"],"
  "\"Env\":[{\"Description\":\"\",\"Name\":\"DEBUG\",\"Settable\":[\"value\"],\"Value\":\"0\"}],"
  "\"Interface\":{\"Socket\":\"sshfs.sock\",\"Types\":[\"docker.volumedriver/1.0\"]},"
  "\"IpcHost\":false,"
  "\"Linux\":{\"AllowAllDevices\":false,\"Capabilities\":[\"CAP_SYS_ADMIN\"],"
  "\"Devices\":[{\"Description\":\"\",\"Name\":\"\",\"Path\":\"/dev/fuse\",\"Settable\":null}]},"
  "\"Mounts\":[{\"Description\":\"\",\"Destination\":\"/mnt/state\",\"Name\":\"state\","
  "\"Options\":[\"rbind\"],\"Settable\":[\"source\"],\"Source\":\"/var/lib/docker/plugins/\","
  "\"Type\":\"bind\"}],"
  "\"Network\":{\"Type\":\"host\"},"
  "\"PidHost\":false,"
  "\"PropagatedMount\":\"/mnt/volumes\","
  "\"User\":{},"
  "\"WorkDir\":\"\"}";

static void
test_config_to_json_sshfs (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_sshfs_config);
  g_autofree char *data = NULL;
  g_autofree char *with_rootfs = NULL;
  g_autofree char *expected_rootfs = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *root;
  gsize len = 0;
  const char *diff_ids[] = { PD_TEST_DIGEST, NULL };

  data = pd_plugin_config_to_data (config, &len);
  g_assert_cmpstr (data, ==, sshfs_go_json);
  g_assert_cmpuint (len, ==, strlen (sshfs_go_json));

  /* every key swagger marks required is there */
  node = pd_plugin_config_to_json (config);
  root = json_node_get_object (node);
  {
    const char *required[] = { "Description", "Documentation", "Interface", "Entrypoint", "WorkDir",
                               "Network", "Linux", "PidHost", "PropagatedMount", "IpcHost", "Mounts",
                               "Env", "Args" };
    for (gsize i = 0; i < G_N_ELEMENTS (required); i++)
      g_assert_true (json_object_has_member (root, required[i]));
    g_assert_false (json_object_has_member (root, "rootfs"));
  }

  /* create sets rootfs, written last with Go's lower-case keys */
  pd_plugin_config_set_diff_ids (config, diff_ids);
  g_assert_cmpstr (config->rootfs_type, ==, "layers");
  g_assert_cmpstrv (config->rootfs_diff_ids, STRV (PD_TEST_DIGEST));
  with_rootfs = pd_plugin_config_to_data (config, NULL);
  expected_rootfs = g_strdup_printf ("%.*s,\"rootfs\":{\"diff_ids\":[\"" PD_TEST_DIGEST "\"],\"type\":\"layers\"}}",
                                     (int) strlen (sshfs_go_json) - 1, sshfs_go_json);
  g_assert_cmpstr (with_rootfs, ==, expected_rootfs);

  /* and replaces it */
  pd_plugin_config_set_diff_ids (config, NULL);
  g_assert_cmpstrv (config->rootfs_diff_ids, EMPTY_STRV);
  g_free (with_rootfs);
  with_rootfs = pd_plugin_config_to_data (config, NULL);
  g_assert_nonnull (strstr (with_rootfs, ",\"rootfs\":{\"diff_ids\":[],\"type\":\"layers\"}}"));
}

static void
test_config_to_json_full (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_full_config);
  g_autofree char *data = pd_plugin_config_to_data (config, NULL);
  static const char expected[] =
    "{\"Args\":{\"Description\":\"arguments\",\"Name\":\"args\",\"Settable\":[\"value\"],\"Value\":[\"-a\",\"b\"]},"
    "\"Description\":\"full \\u003ctest\\u003e \\u0026 \\\"quotes\\\"\\n\\u2028\","
    "\"Documentation\":\"https://example.com\","
    "\"Entrypoint\":[\"/bin/full\",\"-v\"],"
    "\"Env\":[{\"Description\":\"debug\",\"Name\":\"DEBUG\",\"Settable\":[\"value\"],\"Value\":\"0\"},"
    "{\"Description\":\"\",\"Name\":\"EMPTY\",\"Settable\":[\"value\"],\"Value\":\"\"},"
    "{\"Description\":\"\",\"Name\":\"UNSET\",\"Settable\":[\"value\"],\"Value\":null}],"
    "\"Interface\":{\"ProtocolScheme\":\"moby.plugins.http/v1\",\"Socket\":\"full.sock\","
    "\"Types\":[\"docker.volumedriver/1.0\",\"docker.authz/1.0\"]},"
    "\"IpcHost\":true,"
    "\"Linux\":{\"AllowAllDevices\":true,\"Capabilities\":[\"CAP_SYS_ADMIN\",\"CAP_NET_ADMIN\"],"
    "\"Devices\":[{\"Description\":\"fuse dev\",\"Name\":\"fuse\",\"Path\":\"/dev/fuse\",\"Settable\":[\"path\"]},"
    "{\"Description\":\"\",\"Name\":\"nopath\",\"Path\":null,\"Settable\":[\"path\"]}]},"
    "\"Mounts\":[{\"Description\":\"data dir\",\"Destination\":\"/data\",\"Name\":\"data\","
    "\"Options\":[\"rbind\",\"ro\"],\"Settable\":[\"source\"],\"Source\":\"/data\",\"Type\":\"bind\"},"
    "{\"Description\":\"\",\"Destination\":\"/x\",\"Name\":\"nosrc\",\"Options\":[],"
    "\"Settable\":[\"source\"],\"Source\":null,\"Type\":\"tmpfs\"}],"
    "\"Network\":{\"Type\":\"none\"},"
    "\"PidHost\":true,"
    "\"PropagatedMount\":\"/mnt/volumes\","
    "\"User\":{\"GID\":4294967295,\"UID\":1000},"
    "\"WorkDir\":\"/work\","
    "\"rootfs\":{\"diff_ids\":[\"" PD_TEST_DIGEST "\"],\"type\":\"layers\"}}";

  g_assert_cmpstr (data, ==, expected);
}

static void
assert_configs_equal (const PdPluginConfig *a, const PdPluginConfig *b)
{
  g_autofree char *da = pd_plugin_config_to_data (a, NULL);
  g_autofree char *db = pd_plugin_config_to_data (b, NULL);

  /* has_user is not compared: Go always writes "User":{}, so it reads back as present */
  g_assert_cmpstr (da, ==, db);
}

/* Docker still writes DockerVersion (omitempty) into the configs it creates; it is kept */
static void
test_config_docker_version (void)
{
  g_autoptr(PdPluginConfig) with = pd_test_parse_config (
    "{\"Entrypoint\":[\"/p\"],\"DockerVersion\":\"20.10.24+dfsg1\"}");
  g_autoptr(PdPluginConfig) without = pd_test_parse_config ("{\"Entrypoint\":[\"/p\"]}");
  g_autofree char *with_data = pd_plugin_config_to_data (with, NULL);
  g_autofree char *without_data = pd_plugin_config_to_data (without, NULL);

  g_assert_cmpstr (with->docker_version, ==, "20.10.24+dfsg1");
  g_assert_nonnull (strstr (with_data, ",\"Description\":\"\",\"DockerVersion\":\"20.10.24+dfsg1\","
                                       "\"Documentation\":"));
  g_assert_null (strstr (without_data, "DockerVersion"));
}

static void
test_config_round_trip (void)
{
  const char *inputs[] = { pd_test_sshfs_config, pd_test_sample_config, pd_test_full_config };

  for (gsize i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autoptr(PdPluginConfig) config = pd_test_parse_config (inputs[i]);
      g_autofree char *data = NULL;
      g_autoptr(PdPluginConfig) again = NULL;
      g_autoptr(PdPluginConfig) copy = NULL;
      g_autoptr(JsonNode) node = NULL;
      g_autofree char *generated = NULL;
      g_autoptr(PdPluginConfig) from_glib = NULL;

      data = pd_plugin_config_to_data (config, NULL);
      again = pd_test_parse_config (data);
      assert_configs_equal (config, again);

      copy = pd_plugin_config_copy (config);
      assert_configs_equal (config, copy);
      /* a deep copy; an absent list stays absent */
      g_assert_true (config->mounts == NULL ? copy->mounts == NULL
                                            : copy->mounts != config->mounts);
      if (config->mounts != NULL && config->mounts->len > 0)
        g_assert_true (copy->mounts->pdata[0] != config->mounts->pdata[0]);

      /* json-glib's own generator output of the node reads back the same */
      node = pd_plugin_config_to_json (config);
      generated = json_to_string (node, TRUE);
      from_glib = pd_test_parse_config (generated);
      assert_configs_equal (config, from_glib);
    }
}

/* a packed config (one block, as a loaded record keeps it) is the same config: written out the
 * same, null and absent kept apart, the same privileges and settings; a copy of it is an
 * ordinary config again */
static void
test_config_pack (void)
{
  const char *inputs[] = {
    pd_test_sshfs_config, pd_test_sample_config, pd_test_full_config, pd_test_set_config,
    "{\"Entrypoint\":[\"/p\"],"
    "\"Mounts\":[{\"Name\":\"a\",\"Destination\":\"/a\",\"Source\":null},"
    "{\"Name\":\"c\",\"Destination\":\"/c\",\"Source\":\"\",\"Options\":[],\"Settable\":null}],"
    "\"Env\":[{\"Name\":\"A\",\"Value\":null},{\"Name\":\"C\",\"Value\":\"\"}],"
    "\"Linux\":{\"Devices\":[{\"Name\":\"d\",\"Path\":null}]}}",
    "{\"Entrypoint\":[\"/p\"]}",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autoptr(PdPluginConfig) config = pd_test_parse_config (inputs[i]);
      g_autoptr(PdPluginConfig) packed = pd_plugin_config_pack (pd_plugin_config_copy (config));
      g_autoptr(PdPluginConfig) copy = pd_plugin_config_copy (packed);
      g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
      g_autoptr(PdPluginSettings) packed_settings = pd_plugin_settings_new_from_config (packed);
      g_autoptr(GPtrArray) privileges = pd_privileges_compute (config, settings);
      g_autoptr(GPtrArray) packed_privileges = pd_privileges_compute (packed, packed_settings);
      g_autofree char *go = NULL;
      g_autofree char *packed_go = NULL;
      g_autoptr(JsonNode) node = NULL;
      g_autoptr(JsonNode) packed_node = NULL;

      g_assert_true (packed->packed);
      g_assert_false (copy->packed);
      /* packing a packed config changes nothing */
      g_assert_true (pd_plugin_config_pack (packed) == packed);
      assert_configs_equal (config, packed);
      assert_configs_equal (config, copy);
      /* Go's writer shows null and [] apart */
      node = pd_plugin_config_to_json (config);
      packed_node = pd_plugin_config_to_json (packed);
      go = pd_json_to_go_data (node, NULL);
      packed_go = pd_json_to_go_data (packed_node, NULL);
      g_assert_cmpstr (go, ==, packed_go);
      g_assert_true (pd_privileges_equal (privileges, packed_privileges));
      g_assert_cmpstrv (settings->env, packed_settings->env);
      g_assert_cmpstrv (settings->args, packed_settings->args);
      g_assert_true ((config->mounts == NULL) == (packed->mounts == NULL));
      g_assert_true ((config->env == NULL) == (packed->env == NULL));
      g_assert_true ((config->linux_devices == NULL) == (packed->linux_devices == NULL));
      g_assert_true ((config->rootfs_diff_ids == NULL) == (packed->rootfs_diff_ids == NULL));
    }
}

static void
assert_limits_fail (const char *json, const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginConfig) config = pd_plugin_config_new_for_install (json, strlen (json),
                                                                       &error);

  g_assert_null (config);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG);
  if (strstr (error->message, expected) == NULL)
    g_error ("expected \"%s\" in \"%s\"", expected, error->message);
  g_assert_cmpuint (strlen (error->message), <, 1024);
  /* an installed plugin with that config still loads */
  config = pd_test_parse_config (json);
}

static void
test_config_limits (void)
{
  const char *const real[] = { pd_test_sshfs_config, pd_test_sample_config, pd_test_full_config, pd_test_set_config };
  g_autofree char *text = g_strnfill (PD_CONFIG_TEXT_MAX, 't');
  g_autofree char *text_over = g_strnfill (PD_CONFIG_TEXT_MAX + 1, 't');
  g_autofree char *name_over = g_strnfill (PD_CONFIG_NAME_MAX + 1, 'n');
  g_autofree char *path_over = g_strnfill (PD_CONFIG_PATH_MAX, 'p');
  g_autofree char *value = g_strnfill (PD_CONFIG_VALUE_MAX, 'v');
  g_autofree char *value_over = g_strnfill (PD_CONFIG_VALUE_MAX + 1, 'v');
  g_autoptr(GString) many = g_string_new ("{\"Entrypoint\":[\"/p\"],\"Env\":[");
  g_autoptr(GString) large = g_string_new ("{\"Entrypoint\":[\"/p\"],\"Env\":[");
  g_autoptr(GError) error = NULL;

  /* real configs are far from every bound */
  for (gsize i = 0; i < G_N_ELEMENTS (real); i++)
    {
      g_autoptr(PdPluginConfig) config = pd_plugin_config_new_for_install (real[i],
                                                                           strlen (real[i]),
                                                                           &error);
      g_assert_no_error (error);
      g_assert_nonnull (config);
    }

  /* at the bound */
  {
    g_autofree char *json = g_strdup_printf ("{\"Description\":\"%s\",\"Entrypoint\":[\"/p\","
                                             "\"%s\"]}", text, value);
    g_autoptr(PdPluginConfig) config = pd_plugin_config_new_for_install (json, strlen (json),
                                                                         &error);
    g_assert_no_error (error);
    g_assert_nonnull (config);
  }

  /* past it, naming the key */
  {
    g_autofree char *json = g_strdup_printf ("{\"Entrypoint\":[\"/p\"],\"Description\":\"%s\"}", text_over);
    assert_limits_fail (json, "config: Description is 4097 bytes long, more than 4096");
  }
  {
    g_autofree char *json = g_strdup_printf ("{\"Entrypoint\":[\"/p\"],\"Documentation\":\"%s\"}", text_over);
    assert_limits_fail (json, "config: Documentation is 4097 bytes long");
  }
  {
    g_autofree char *json = g_strdup_printf ("{\"Entrypoint\":[\"/p\",\"%s\"]}", value_over);
    assert_limits_fail (json, "config: Entrypoint[1] is 65537 bytes long, more than 65536");
  }
  {
    g_autofree char *json = g_strdup_printf (
      "{\"Entrypoint\":[\"/p\"],\"Env\":[{\"Name\":\"A\",\"Value\":\"\"},{\"Name\":\"%s\",\"Value\":\"\"}]}", name_over);
    assert_limits_fail (json, "config: Env[1].Name is 257 bytes long, more than 256");
  }
  {
    g_autofree char *json = g_strdup_printf (
      "{\"Entrypoint\":[\"/p\"],\"Env\":[{\"Name\":\"A\",\"Description\":\"%s\"}]}", text_over);
    assert_limits_fail (json, "config: Env[0].Description is 4097 bytes long");
  }
  {
    g_autofree char *json = g_strdup_printf (
      "{\"Entrypoint\":[\"/p\"],\"Mounts\":[{\"Name\":\"m\",\"Source\":\"/%s\",\"Destination\":\"/m\",\"Type\":\"bind\"}]}",
      path_over);
    assert_limits_fail (json, "config: Mounts[0].Source is 4097 bytes long, more than 4096");
  }
  {
    g_autofree char *json = g_strdup_printf (
      "{\"Entrypoint\":[\"/p\"],\"Linux\":{\"Devices\":[{\"Name\":\"d\",\"Settable\":[\"path\",\"%s\"],\"Path\":\"/dev/x\"}]}}",
      name_over);
    assert_limits_fail (json, "config: Linux.Devices[0].Settable[1] is 257 bytes long");
  }
  {
    g_autofree char *json = g_strdup_printf ("{\"Entrypoint\":[\"/p\"],\"Args\":{\"Name\":\"a\",\"Value\":[\"%s\"]}}",
                                             value_over);
    assert_limits_fail (json, "config: Args.Value[0] is 65537 bytes long");
  }
  for (guint i = 0; i <= PD_CONFIG_MAX_ENTRIES; i++)
    g_string_append_printf (many, "%s{\"Name\":\"E%u\"}", i > 0 ? "," : "", i);
  g_string_append (many, "]}");
  assert_limits_fail (many->str, "config: Env has 257 entries, more than 256");
  /* each entry within its bound, the whole not */
  for (guint i = 0; i < 5; i++)
    g_string_append_printf (large, "%s{\"Name\":\"E%u\",\"Value\":\"%s\"}", i > 0 ? "," : "", i,
                            value);
  g_string_append (large, "]}");
  assert_limits_fail (large->str, "config: the config is ");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plugin-config/parse/sshfs", test_config_sshfs);
  g_test_add_func ("/plugin-config/parse/sample-volume-plugin", test_config_sample);
  g_test_add_func ("/plugin-config/parse/case-insensitive", test_config_case_insensitive);
  g_test_add_func ("/plugin-config/parse/unknown-keys", test_config_unknown_keys);
  g_test_add_func ("/plugin-config/parse/null-vs-absent", test_config_null_vs_absent);
  g_test_add_func ("/plugin-config/parse/docker-version", test_config_docker_version);
  g_test_add_func ("/plugin-config/parse/edges", test_config_accepts_edges);
  g_test_add_func ("/plugin-config/reject/table", test_config_rejects);
  g_test_add_func ("/plugin-config/reject/raw-bytes", test_config_rejects_raw_bytes);
  g_test_add_func ("/plugin-config/json/sshfs", test_config_to_json_sshfs);
  g_test_add_func ("/plugin-config/json/full", test_config_to_json_full);
  g_test_add_func ("/plugin-config/json/round-trip", test_config_round_trip);
  g_test_add_func ("/plugin-config/pack", test_config_pack);
  g_test_add_func ("/plugin-config/limits", test_config_limits);

  return g_test_run ();
}
