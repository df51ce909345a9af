/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "test-config"

#include <linux/capability.h>
#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-options.h"
#include "pd-path.h"
#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"
#include "pd-privileges.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX64

/* vieux/sshfs's config.json as published, with the lower-case keys of the docs */
static const char sshfs_config[] =
  "{\n"
  "  \"description\": \"sshFS plugin for Docker\",\n"
  "  \"documentation\": \"https://docs.docker.com/engine/extend/plugins/\",\n"
  "  \"entrypoint\": [\n"
  "    \"/docker-volume-sshfs\"\n"
  "  ],\n"
  "  \"env\": [\n"
  "    {\n"
  "      \"name\": \"DEBUG\",\n"
  "      \"settable\": [\n"
  "        \"value\"\n"
  "      ],\n"
  "      \"value\": \"0\"\n"
  "    }\n"
  "  ],\n"
  "  \"interface\": {\n"
  "    \"socket\": \"sshfs.sock\",\n"
  "    \"types\": [\n"
  "      \"docker.volumedriver/1.0\"\n"
  "    ]\n"
  "  },\n"
  "  \"linux\": {\n"
  "    \"capabilities\": [\n"
  "      \"CAP_SYS_ADMIN\"\n"
  "    ],\n"
  "    \"devices\": [\n"
  "      {\n"
  "        \"path\": \"/dev/fuse\"\n"
  "      }\n"
  "    ]\n"
  "  },\n"
  "  \"mounts\": [\n"
  "    {\n"
  "      \"destination\": \"/mnt/state\",\n"
  "      \"options\": [\n"
  "        \"rbind\"\n"
  "      ],\n"
  "      \"name\": \"state\",\n"
  "      \"source\": \"/var/lib/docker/plugins/\",\n"
  "      \"settable\": [\n"
  "        \"source\"\n"
  "      ],\n"
  "      \"type\": \"bind\"\n"
  "    }\n"
  "  ],\n"
  "  \"network\": {\n"
  "    \"type\": \"host\"\n"
  "  },\n"
  "  \"propagatedmount\": \"/mnt/volumes\"\n"
  "}\n";

/* tiborvass/sample-volume-plugin's config as shown in Docker's plugin config docs: Go spelling,
 * nulls for empty slices, "Workdir" spelled differently from the Go field, an empty User */
static const char sample_config[] =
  "{\n"
  "  \"Args\": {\n"
  "    \"Description\": \"\",\n"
  "    \"Name\": \"\",\n"
  "    \"Settable\": null,\n"
  "    \"Value\": null\n"
  "  },\n"
  "  \"Description\": \"A sample volume plugin for Docker\",\n"
  "  \"Documentation\": \"https://docs.docker.com/engine/extend/plugins/\",\n"
  "  \"Entrypoint\": [\n"
  "    \"/usr/bin/sample-volume-plugin\",\n"
  "    \"/data\"\n"
  "  ],\n"
  "  \"Env\": [\n"
  "    {\n"
  "      \"Description\": \"\",\n"
  "      \"Name\": \"DEBUG\",\n"
  "      \"Settable\": [\n"
  "        \"value\"\n"
  "      ],\n"
  "      \"Value\": \"0\"\n"
  "    }\n"
  "  ],\n"
  "  \"Interface\": {\n"
  "    \"Socket\": \"plugin.sock\",\n"
  "    \"Types\": [\n"
  "      \"docker.volumedriver/1.0\"\n"
  "    ]\n"
  "  },\n"
  "  \"Linux\": {\n"
  "    \"Capabilities\": null,\n"
  "    \"AllowAllDevices\": false,\n"
  "    \"Devices\": null\n"
  "  },\n"
  "  \"Mounts\": null,\n"
  "  \"Network\": {\n"
  "    \"Type\": \"\"\n"
  "  },\n"
  "  \"PropagatedMount\": \"/data\",\n"
  "  \"User\": {},\n"
  "  \"Workdir\": \"\"\n"
  "}\n";

/* every field set, every privilege condition met */
static const char full_config[] =
  "{\"Description\":\"full <test> & \\\"quotes\\\"\\n\\u2028\",\"Documentation\":\"https://example.com\","
  "\"Interface\":{\"Types\":[\"docker.volumedriver/1.0\",\"docker.authz/1.0\"],"
  "\"Socket\":\"full.sock\",\"ProtocolScheme\":\"moby.plugins.http/v1\"},"
  "\"Entrypoint\":[\"/bin/full\",\"-v\"],\"WorkDir\":\"/work\","
  "\"User\":{\"UID\":1000,\"GID\":4294967295},"
  "\"Network\":{\"Type\":\"none\"},"
  "\"Linux\":{\"Capabilities\":[\"CAP_SYS_ADMIN\",\"CAP_NET_ADMIN\"],\"AllowAllDevices\":true,"
  "\"Devices\":[{\"Name\":\"fuse\",\"Description\":\"fuse dev\",\"Settable\":[\"path\"],\"Path\":\"/dev/fuse\"},"
  "{\"Name\":\"nopath\",\"Settable\":[\"path\"],\"Path\":null}]},"
  "\"PropagatedMount\":\"/mnt/volumes\",\"IpcHost\":true,\"PidHost\":true,"
  "\"Mounts\":[{\"Name\":\"data\",\"Description\":\"data dir\",\"Settable\":[\"source\"],"
  "\"Source\":\"/data\",\"Destination\":\"/data\",\"Type\":\"bind\",\"Options\":[\"rbind\",\"ro\"]},"
  "{\"Name\":\"nosrc\",\"Settable\":[\"source\"],\"Source\":null,\"Destination\":\"/x\",\"Type\":\"tmpfs\",\"Options\":[]}],"
  "\"Env\":[{\"Name\":\"DEBUG\",\"Description\":\"debug\",\"Settable\":[\"value\"],\"Value\":\"0\"},"
  "{\"Name\":\"EMPTY\",\"Settable\":[\"value\"],\"Value\":\"\"},"
  "{\"Name\":\"UNSET\",\"Settable\":[\"value\"],\"Value\":null}],"
  "\"Args\":{\"Name\":\"args\",\"Description\":\"arguments\",\"Settable\":[\"value\"],\"Value\":[\"-a\",\"b\"]},"
  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DIGEST "\"]}}";

static PdPluginConfig *
parse_ok (const char *json)
{
  g_autoptr(GError) error = NULL;
  PdPluginConfig *config = pd_plugin_config_new_from_data (json, strlen (json), &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

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
assert_strv (GStrv strv, const char *const *expected)
{
  g_assert_nonnull (strv);
  g_assert_cmpuint (g_strv_length (strv), ==, g_strv_length ((GStrv) expected));
  for (guint i = 0; expected[i] != NULL; i++)
    g_assert_cmpstr (strv[i], ==, expected[i]);
}

#define STRV(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define EMPTY_STRV ((const char *const[]) { NULL })

static char *
node_to_go (JsonNode *node)
{
  return pd_json_to_go_data (node, NULL);
}

/* section: parsing valid configs */

static void
test_config_sshfs (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (sshfs_config);
  PdConfigMount *mount;
  PdConfigDevice *device;
  PdConfigEnv *env;

  g_assert_cmpstr (config->description, ==, "sshFS plugin for Docker");
  g_assert_cmpstr (config->documentation, ==, "https://docs.docker.com/engine/extend/plugins/");
  assert_strv (config->entrypoint, STRV ("/docker-volume-sshfs"));
  assert_strv (config->interface_types, STRV ("docker.volumedriver/1.0"));
  g_assert_cmpstr (config->interface_socket, ==, "sshfs.sock");
  g_assert_cmpstr (config->protocol_scheme, ==, "");
  g_assert_cmpstr (config->workdir, ==, "");
  g_assert_cmpstr (config->network_type, ==, "host");
  g_assert_cmpstr (config->propagated_mount, ==, "/mnt/volumes");
  g_assert_false (config->ipc_host);
  g_assert_false (config->pid_host);
  assert_strv (config->linux_capabilities, STRV ("CAP_SYS_ADMIN"));
  g_assert_false (config->linux_allow_all_devices);
  g_assert_false (config->has_user);
  g_assert_null (config->rootfs_type);
  g_assert_null (config->rootfs_diff_ids);
  g_assert_cmpstr (config->args_name, ==, "");
  assert_strv (config->args_value, EMPTY_STRV);
  assert_strv (config->args_settable, EMPTY_STRV);

  g_assert_cmpuint (config->mounts->len, ==, 1);
  mount = config->mounts->pdata[0];
  g_assert_cmpstr (mount->name, ==, "state");
  g_assert_cmpstr (mount->description, ==, "");
  g_assert_cmpstr (mount->source, ==, "/var/lib/docker/plugins/");
  g_assert_cmpstr (mount->destination, ==, "/mnt/state");
  g_assert_cmpstr (mount->type, ==, "bind");
  assert_strv (mount->options, STRV ("rbind"));
  assert_strv (mount->settable, STRV ("source"));

  g_assert_cmpuint (config->linux_devices->len, ==, 1);
  device = config->linux_devices->pdata[0];
  g_assert_cmpstr (device->name, ==, "");
  g_assert_cmpstr (device->path, ==, "/dev/fuse");
  assert_strv (device->settable, EMPTY_STRV);

  g_assert_cmpuint (config->env->len, ==, 1);
  env = config->env->pdata[0];
  g_assert_cmpstr (env->name, ==, "DEBUG");
  g_assert_cmpstr (env->value, ==, "0");
  assert_strv (env->settable, STRV ("value"));

  g_assert_true (pd_plugin_config_has_capability (config, "volumedriver"));
  g_assert_true (pd_plugin_config_has_capability (config, "VolumeDriver"));
  g_assert_false (pd_plugin_config_has_capability (config, "authz"));
}

static void
test_config_sample (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (sample_config);
  PdConfigEnv *env;

  g_assert_cmpstr (config->description, ==, "A sample volume plugin for Docker");
  assert_strv (config->entrypoint, STRV ("/usr/bin/sample-volume-plugin", "/data"));
  g_assert_cmpstr (config->interface_socket, ==, "plugin.sock");
  g_assert_cmpstr (config->workdir, ==, "");
  g_assert_cmpstr (config->network_type, ==, "");
  g_assert_cmpstr (config->propagated_mount, ==, "/data");
  /* nulls for slices read as empty, like Go */
  assert_strv (config->linux_capabilities, EMPTY_STRV);
  assert_strv (config->args_settable, EMPTY_STRV);
  assert_strv (config->args_value, EMPTY_STRV);
  g_assert_cmpuint (config->mounts->len, ==, 0);
  g_assert_cmpuint (config->linux_devices->len, ==, 0);
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
  g_autoptr(PdPluginConfig) config = parse_ok (
    "{\"ENTRYPOINT\":[\"/p\"],\"workDIR\":\"/w\",\"iNtErFaCe\":{\"SOCKET\":\"p.sock\","
    "\"types\":[\"docker.authz/1.0\"],\"protocolscheme\":\"moby.plugins.http/v1\"},"
    "\"NETWORK\":{\"TYPE\":\"bridge\"},\"ipchost\":true,\"PIDHOST\":true,"
    "\"mounts\":[{\"NAME\":\"m\",\"DESTINATION\":\"/m\",\"SOURCE\":\"/src\"}],"
    "\"linux\":{\"allowalldevices\":true,\"DEVICES\":[{\"PATH\":\"/dev/null\"}]},"
    "\"user\":{\"uid\":7,\"gid\":8},\"args\":{\"NAME\":\"a\",\"VALUE\":[\"x\"]},"
    "\"ROOTFS\":{\"TYPE\":\"layers\",\"DIFF_IDS\":[\"" DIGEST "\"]}}");

  assert_strv (config->entrypoint, STRV ("/p"));
  g_assert_cmpstr (config->workdir, ==, "/w");
  g_assert_cmpstr (config->interface_socket, ==, "p.sock");
  g_assert_cmpstr (config->protocol_scheme, ==, "moby.plugins.http/v1");
  assert_strv (config->interface_types, STRV ("docker.authz/1.0"));
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
  assert_strv (config->args_value, STRV ("x"));
  g_assert_cmpstr (config->rootfs_type, ==, "layers");
  assert_strv (config->rootfs_diff_ids, STRV (DIGEST));
  g_assert_true (pd_plugin_config_has_capability (config, "AUTHZ"));
}

static void
test_config_unknown_keys (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (
    "{\"DockerVersion\":\"17.05.0-ce\",\"Entrypoint\":[\"/p\"],\"Frobnicate\":{\"a\":[1,2.5e3,-0.5,true,null]},"
    "\"Interface\":{\"Socket\":\"s\",\"Extra\":\"x\"},\"Mounts\":[{\"Destination\":\"/d\",\"Propagation\":\"rshared\"}]}");

  assert_strv (config->entrypoint, STRV ("/p"));
  g_assert_cmpstr (config->interface_socket, ==, "s");
  g_assert_cmpuint (config->mounts->len, ==, 1);
}

static void
test_config_null_vs_absent (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (
    "{\"Entrypoint\":[\"/p\"],"
    "\"Mounts\":[{\"Name\":\"a\",\"Destination\":\"/a\",\"Source\":null},"
    "{\"Name\":\"b\",\"Destination\":\"/b\"},"
    "{\"Name\":\"c\",\"Destination\":\"/c\",\"Source\":\"\"}],"
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
  assert_strv (settings->env, STRV ("C="));
  g_assert_cmpstr (text, ==, "mount: ; device: /dev/e");

  node = pd_plugin_config_to_json (config);
  json = node_to_go (node);
  g_assert_nonnull (strstr (json, "\"Name\":\"a\",\"Options\":[],\"Settable\":[],\"Source\":null,"));
  g_assert_nonnull (strstr (json, "\"Name\":\"c\",\"Options\":[],\"Settable\":[],\"Source\":\"\","));
  g_assert_nonnull (strstr (json, "{\"Description\":\"\",\"Name\":\"A\",\"Settable\":[],\"Value\":null}"));
  g_assert_nonnull (strstr (json, "{\"Description\":\"\",\"Name\":\"C\",\"Settable\":[],\"Value\":\"\"}"));
  g_assert_nonnull (strstr (json, "{\"Description\":\"\",\"Name\":\"d\",\"Path\":null,\"Settable\":[]}"));
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
  g_autoptr(PdPluginConfig) config = parse_ok (json);
  const char *networks[] = { "", "host", "bridge", "none", "null" };

  g_assert_cmpstr (config->interface_socket, ==, socket87);
  assert_strv (config->entrypoint, STRV ("/p", "-x", ""));

  for (gsize i = 0; i < G_N_ELEMENTS (networks); i++)
    {
      g_autofree char *j = g_strdup_printf ("{\"Entrypoint\":[\"p\"],\"Network\":{\"Type\":\"%s\"}}",
                                            networks[i]);
      g_autoptr(PdPluginConfig) c = parse_ok (j);
      g_assert_cmpstr (c->network_type, ==, networks[i]);
    }

  /* escapes and surrogate pairs decode, whitespace around the value is fine */
  {
    g_autoptr(PdPluginConfig) c = parse_ok (" \r\n\t{\"Entrypoint\":[\"/p\"],"
                                            "\"Description\":\"\\u00e9\\ud83d\\ude00\\/\\t\"} \n");
    g_assert_cmpstr (c->description, ==, "\xc3\xa9\xf0\x9f\x98\x80/\t");
  }
  /* null for non-pointer fields is Go's "leave it alone" */
  {
    g_autoptr(PdPluginConfig) c = parse_ok ("{\"Entrypoint\":[\"/p\"],\"Description\":null,"
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
    g_autoptr(PdPluginConfig) c = parse_ok (j);
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
    g_autoptr(PdPluginConfig) c = parse_ok ("{\"Entrypoint\":[\"/p\"],\"User\":{\"UID\":4294967295,\"GID\":0}}");
    g_assert_cmpuint (c->user_uid, ==, G_MAXUINT32);
  }
  /* a socket is needed only with an interface; ".." is a component, not a substring */
  {
    g_autoptr(PdPluginConfig) c = parse_ok ("{\"Entrypoint\":[\"/p\"],\"Interface\":{\"Types\":[],\"Socket\":\"\"},"
                                            "\"WorkDir\":\"/a/..b/c..\"}");
    g_assert_cmpstr (c->interface_socket, ==, "");
    g_assert_cmpstr (c->workdir, ==, "/a/..b/c..");
  }
  /* only bind mounts need an absolute source; a null source is "to be set" for any mount */
  {
    g_autoptr(PdPluginConfig) c = parse_ok (
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

/* section: rejections */

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

/* section: serialising */

static const char sshfs_go_json[] =
  "{\"Args\":{\"Description\":\"\",\"Name\":\"\",\"Settable\":[],\"Value\":[]},"
  "\"Description\":\"sshFS plugin for Docker\","
  "\"Documentation\":\"https://docs.docker.com/engine/extend/plugins/\","
  "\"Entrypoint\":[\"/docker-volume-sshfs\"],"
  "\"Env\":[{\"Description\":\"\",\"Name\":\"DEBUG\",\"Settable\":[\"value\"],\"Value\":\"0\"}],"
  "\"Interface\":{\"Socket\":\"sshfs.sock\",\"Types\":[\"docker.volumedriver/1.0\"]},"
  "\"IpcHost\":false,"
  "\"Linux\":{\"AllowAllDevices\":false,\"Capabilities\":[\"CAP_SYS_ADMIN\"],"
  "\"Devices\":[{\"Description\":\"\",\"Name\":\"\",\"Path\":\"/dev/fuse\",\"Settable\":[]}]},"
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
  g_autoptr(PdPluginConfig) config = parse_ok (sshfs_config);
  g_autofree char *data = NULL;
  g_autofree char *with_rootfs = NULL;
  g_autofree char *expected_rootfs = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *root;
  gsize len = 0;
  const char *diff_ids[] = { DIGEST, NULL };

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
  assert_strv (config->rootfs_diff_ids, STRV (DIGEST));
  with_rootfs = pd_plugin_config_to_data (config, NULL);
  expected_rootfs = g_strdup_printf ("%.*s,\"rootfs\":{\"diff_ids\":[\"" DIGEST "\"],\"type\":\"layers\"}}",
                                     (int) strlen (sshfs_go_json) - 1, sshfs_go_json);
  g_assert_cmpstr (with_rootfs, ==, expected_rootfs);

  /* and replaces it */
  pd_plugin_config_set_diff_ids (config, NULL);
  assert_strv (config->rootfs_diff_ids, EMPTY_STRV);
  g_free (with_rootfs);
  with_rootfs = pd_plugin_config_to_data (config, NULL);
  g_assert_nonnull (strstr (with_rootfs, ",\"rootfs\":{\"diff_ids\":[],\"type\":\"layers\"}}"));
}

static void
test_config_to_json_full (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (full_config);
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
    "\"rootfs\":{\"diff_ids\":[\"" DIGEST "\"],\"type\":\"layers\"}}";

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

static void
test_config_round_trip (void)
{
  const char *inputs[] = { sshfs_config, sample_config, full_config };

  for (gsize i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autoptr(PdPluginConfig) config = parse_ok (inputs[i]);
      g_autofree char *data = NULL;
      g_autoptr(PdPluginConfig) again = NULL;
      g_autoptr(PdPluginConfig) copy = NULL;
      g_autoptr(JsonNode) node = NULL;
      g_autofree char *generated = NULL;
      g_autoptr(PdPluginConfig) from_glib = NULL;

      data = pd_plugin_config_to_data (config, NULL);
      again = parse_ok (data);
      assert_configs_equal (config, again);

      copy = pd_plugin_config_copy (config);
      assert_configs_equal (config, copy);
      g_assert_true (copy->mounts != config->mounts);
      if (config->mounts->len > 0)
        g_assert_true (copy->mounts->pdata[0] != config->mounts->pdata[0]);

      /* json-glib's own generator output of the node reads back the same */
      node = pd_plugin_config_to_json (config);
      generated = json_to_string (node, TRUE);
      from_glib = parse_ok (generated);
      assert_configs_equal (config, from_glib);
    }
}

/* section: privileges */

static void
assert_privilege (GPtrArray *privileges, guint index, const char *name, const char *description,
                  const char *const *values)
{
  PdPrivilege *p;

  g_assert_cmpuint (index, <, privileges->len);
  p = privileges->pdata[index];
  g_assert_cmpstr (p->name, ==, name);
  g_assert_cmpstr (p->description, ==, description);
  assert_strv (p->values, values);
}

static void
test_privileges_compute_order (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (full_config);
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
      g_autoptr(PdPluginConfig) config = parse_ok (cases[i].json);
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
    assert_strv (((PdPrivilege *) a->pdata[0])->values, STRV ("CAP_SYS_ADMIN", "CAP_NET_ADMIN"));
    g_assert_true (pd_privileges_equal (NULL, NULL));
    g_assert_true (pd_privileges_equal (NULL, empty));
    g_assert_false (pd_privileges_equal (NULL, a));
  }

  /* a computed list equals itself and a reordered copy of itself */
  {
    g_autoptr(PdPluginConfig) config = parse_ok (full_config);
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

/* section: settings */

static void
test_settings_init (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (full_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(PdPluginSettings) copy = NULL;
  PdConfigMount *mount;
  PdConfigDevice *device;

  /* InitEmptySettings: env entries with a value, args default, mounts and devices copied */
  assert_strv (settings->env, STRV ("DEBUG=0", "EMPTY="));
  assert_strv (settings->args, STRV ("-a", "b"));
  g_assert_cmpuint (settings->mounts->len, ==, 2);
  g_assert_cmpuint (settings->devices->len, ==, 2);
  mount = settings->mounts->pdata[0];
  g_assert_cmpstr (mount->name, ==, "data");
  g_assert_cmpstr (mount->source, ==, "/data");
  g_assert_cmpstr (mount->destination, ==, "/data");
  assert_strv (mount->options, STRV ("rbind", "ro"));
  g_assert_null (((PdConfigMount *) settings->mounts->pdata[1])->source);
  device = settings->devices->pdata[0];
  g_assert_cmpstr (device->path, ==, "/dev/fuse");

  /* deep copies: moby shared the Source and Path pointers with the config */
  g_assert_true (mount != config->mounts->pdata[0]);
  g_assert_true (mount->source != ((PdConfigMount *) config->mounts->pdata[0])->source);
  g_assert_true (device->path != ((PdConfigDevice *) config->linux_devices->pdata[0])->path);
  g_free (mount->source);
  mount->source = g_strdup ("/elsewhere");
  g_assert_cmpstr (((PdConfigMount *) config->mounts->pdata[0])->source, ==, "/data");

  copy = pd_plugin_settings_copy (settings);
  g_assert_true (copy->mounts->pdata[0] != settings->mounts->pdata[0]);
  g_assert_cmpstr (((PdConfigMount *) copy->mounts->pdata[0])->source, ==, "/elsewhere");
  assert_strv (copy->env, STRV ("DEBUG=0", "EMPTY="));

  /* a config without args or env gives empty, non-NULL vectors */
  {
    g_autoptr(PdPluginConfig) bare = parse_ok ("{\"Entrypoint\":[\"/p\"]}");
    g_autoptr(PdPluginSettings) s = pd_plugin_settings_new_from_config (bare);
    assert_strv (s->env, EMPTY_STRV);
    assert_strv (s->args, EMPTY_STRV);
    g_assert_cmpuint (s->mounts->len, ==, 0);
    g_assert_cmpuint (s->devices->len, ==, 0);
  }
}

static void
test_settings_json (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (sshfs_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(JsonNode) node = pd_plugin_settings_to_json (settings);
  g_autofree char *data = node_to_go (node);
  g_autoptr(PdPluginSettings) back = NULL;
  g_autoptr(JsonNode) node2 = NULL;
  g_autofree char *data2 = NULL;
  g_autoptr(GError) error = NULL;

  /* Go's plugin.Settings order: Args, Devices, Env, Mounts */
  g_assert_cmpstr (data, ==,
                   "{\"Args\":[],"
                   "\"Devices\":[{\"Description\":\"\",\"Name\":\"\",\"Path\":\"/dev/fuse\",\"Settable\":[]}],"
                   "\"Env\":[\"DEBUG=0\"],"
                   "\"Mounts\":[{\"Description\":\"\",\"Destination\":\"/mnt/state\",\"Name\":\"state\","
                   "\"Options\":[\"rbind\"],\"Settable\":[\"source\"],\"Source\":\"/var/lib/docker/plugins/\","
                   "\"Type\":\"bind\"}]}");

  back = pd_plugin_settings_new_from_json (node, &error);
  g_assert_no_error (error);
  node2 = pd_plugin_settings_to_json (back);
  data2 = node_to_go (node2);
  g_assert_cmpstr (data2, ==, data);

  /* null sources survive the trip */
  {
    g_autoptr(PdPluginConfig) full = parse_ok (full_config);
    g_autoptr(PdPluginSettings) s = pd_plugin_settings_new_from_config (full);
    g_autoptr(JsonNode) n = pd_plugin_settings_to_json (s);
    g_autoptr(PdPluginSettings) b = pd_plugin_settings_new_from_json (n, &error);

    g_assert_no_error (error);
    g_assert_null (((PdConfigMount *) b->mounts->pdata[1])->source);
    g_assert_null (((PdConfigDevice *) b->devices->pdata[1])->path);
    assert_strv (b->args, STRV ("-a", "b"));
    assert_strv (b->env, STRV ("DEBUG=0", "EMPTY="));
  }

  /* damaged records are refused with a path */
  {
    struct { const char *json; const char *message; } bad[] = {
      { "[]", "settings: the top-level value must be an object" },
      { "{\"Env\":\"A=b\"}", "settings: Env must be an array of strings" },
      { "{\"Env\":[1]}", "settings: Env must be an array of strings" },
      { "{\"Args\":{}}", "settings: Args must be an array of strings" },
      { "{\"Mounts\":{}}", "settings: Mounts must be an array" },
      { "{\"Mounts\":[1]}", "settings: Mounts[0] must be an object" },
      { "{\"Mounts\":[{\"Source\":1}]}", "settings: Mounts[0].Source must be a string or null" },
      { "{\"Devices\":[{\"Path\":true}]}", "settings: Devices[0].Path must be a string or null" },
      { "{\"Devices\":\"x\"}", "settings: Devices must be an array" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr(JsonNode) n = json_from_string (bad[i].json, NULL);
        g_autoptr(GError) e = NULL;
        g_autoptr(PdPluginSettings) s = pd_plugin_settings_new_from_json (n, &e);

        g_assert_null (s);
        g_assert_error (e, PD_ERROR, PD_ERROR_INVALID_CONFIG);
        g_assert_nonnull (strstr (e->message, bad[i].message));
      }
    {
      g_autoptr(GError) e = NULL;
      g_assert_null (pd_plugin_settings_new_from_json (NULL, &e));
      g_assert_error (e, PD_ERROR, PD_ERROR_INVALID_CONFIG);
    }
  }
  /* absent members are empty */
  {
    g_autoptr(JsonNode) n = json_from_string ("{}", NULL);
    g_autoptr(PdPluginSettings) s = pd_plugin_settings_new_from_json (n, &error);
    g_assert_no_error (error);
    assert_strv (s->env, EMPTY_STRV);
    assert_strv (s->args, EMPTY_STRV);
    g_assert_cmpuint (s->mounts->len, ==, 0);
  }
}

/* a config exercising every branch of Docker's Set */
static const char set_config[] =
  "{\"Entrypoint\":[\"/p\"],"
  "\"Env\":[{\"Name\":\"DEBUG\",\"Settable\":[\"value\"],\"Value\":\"0\"},"
  "{\"Name\":\"NOSET\",\"Value\":\"x\"},"
  "{\"Name\":\"MULTI\",\"Settable\":[\"value\",\"source\"]},"
  "{\"Name\":\"WRONG\",\"Settable\":[\"source\"],\"Value\":\"w\"},"
  "{\"Name\":\"my.var\",\"Settable\":[\"value\"]},"
  "{\"Name\":\"dup\",\"Settable\":[\"value\"]}],"
  "\"Mounts\":[{\"Name\":\"state\",\"Settable\":[\"source\"],\"Source\":\"/var/lib/x\",\"Destination\":\"/state\"},"
  "{\"Name\":\"nosrc\",\"Settable\":[\"source\"],\"Destination\":\"/n\"},"
  "{\"Name\":\"fixed\",\"Source\":\"/fixed\",\"Destination\":\"/f\"},"
  "{\"Name\":\"dup\",\"Settable\":[\"source\"],\"Source\":\"/dup\",\"Destination\":\"/d\"}],"
  "\"Linux\":{\"Devices\":[{\"Name\":\"fuse\",\"Settable\":[\"path\"],\"Path\":\"/dev/fuse\"},"
  "{\"Name\":\"nopath\",\"Settable\":[\"path\"]}]},"
  "\"Args\":{\"Name\":\"args\",\"Settable\":[\"value\"],\"Value\":[\"-v\"]}}";

static PdPluginSettings *
apply (const PdPluginSettings *settings, const PdPluginConfig *config, GError **error, ...)
{
  g_autoptr(GHashTable) changes = g_hash_table_new (g_str_hash, g_str_equal);
  va_list ap;
  const char *key;

  va_start (ap, error);
  while ((key = va_arg (ap, const char *)) != NULL)
    g_hash_table_insert (changes, (gpointer) key, va_arg (ap, char *));
  va_end (ap);
  return pd_plugin_settings_apply (settings, config, changes, error);
}

static void
assert_apply_fails (const PdPluginSettings *settings, const PdPluginConfig *config,
                    const char *key, const char *value, const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginSettings) result = apply (settings, config, &error, key, value, NULL);
  g_autofree char *shown = g_strescape (key, NULL);

  g_test_message ("set %s", shown);
  g_assert_null (result);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_assert_cmpstr (error->message, ==, message);
}

static const char *
mount_source (const PdPluginSettings *settings, guint i)
{
  return ((PdConfigMount *) settings->mounts->pdata[i])->source;
}

static void
test_settings_apply_grammar (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (set_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(GError) error = NULL;

  assert_strv (settings->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w"));

  /* env, with and without the field */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG", "1", NULL);
    g_assert_no_error (error);
    assert_strv (s->env, STRV ("DEBUG=1", "NOSET=x", "WRONG=w"));
  }
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG.value", "a=b c", NULL);
    g_assert_no_error (error);
    assert_strv (s->env, STRV ("DEBUG=a=b c", "NOSET=x", "WRONG=w"));
  }
  /* an empty value sets NAME= */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG", "", NULL);
    g_assert_no_error (error);
    assert_strv (s->env, STRV ("DEBUG=", "NOSET=x", "WRONG=w"));
  }
  /* declared env vars without a default value are appended */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "MULTI.value", "m", NULL);
    g_assert_no_error (error);
    assert_strv (s->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w", "MULTI=m"));
  }
  /* a name with dots is reached through its field */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "my.var.value", "1", NULL);
    g_assert_no_error (error);
    assert_strv (s->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w", "my.var=1"));
  }
  /* resolution order: env before mounts */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "dup", "/new", NULL);
    g_assert_no_error (error);
    assert_strv (s->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w", "dup=/new"));
    g_assert_cmpstr (mount_source (s, 3), ==, "/dup");
  }

  /* mounts */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "state", "/srv/state", NULL);
    g_assert_no_error (error);
    g_assert_cmpstr (mount_source (s, 0), ==, "/srv/state");
    /* the config is never written (moby's shared-pointer bug) */
    g_assert_cmpstr (((PdConfigMount *) config->mounts->pdata[0])->source, ==, "/var/lib/x");
  }
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "state.source", "/x", NULL);
    g_assert_no_error (error);
    g_assert_cmpstr (mount_source (s, 0), ==, "/x");
  }

  /* devices */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "fuse", "/dev/net/tun", NULL);
    g_assert_no_error (error);
    g_assert_cmpstr (((PdConfigDevice *) s->devices->pdata[0])->path, ==, "/dev/net/tun");
    g_assert_cmpstr (((PdConfigDevice *) config->linux_devices->pdata[0])->path, ==, "/dev/fuse");
  }

  /* args: split on single spaces, like Go's strings.Split */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "args", "-a  b", NULL);
    g_assert_no_error (error);
    assert_strv (s->args, STRV ("-a", "", "b"));
  }
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "args.value", "", NULL);
    g_assert_no_error (error);
    assert_strv (s->args, STRV (""));
  }

  /* Docker's error texts */
  assert_apply_fails (settings, config, "", "x", "invalid format, must be <name>[.<field>][=<value>]");
  assert_apply_fails (settings, config, "=x", "", "invalid format, must be <name>[.<field>][=<value>]");
  assert_apply_fails (settings, config, "DEBUG=1", "", "invalid format, must be <name>[.<field>][=<value>]");
  assert_apply_fails (settings, config, "nothere", "x",
                      "setting \"nothere\" not found in the plugin configuration");
  assert_apply_fails (settings, config, "nothere.value", "x",
                      "setting \"nothere\" not found in the plugin configuration");
  /* a leading dot is part of the name, as in Docker */
  assert_apply_fails (settings, config, ".DEBUG", "x",
                      "setting \".DEBUG\" not found in the plugin configuration");
  /* "my.var" splits at the last dot */
  assert_apply_fails (settings, config, "my.var", "1",
                      "setting \"my\" not found in the plugin configuration");
  assert_apply_fails (settings, config, "NOSET", "y", "\"NOSET\" is not settable");
  assert_apply_fails (settings, config, "NOSET.value", "y", "\"NOSET.value\" is not settable");
  assert_apply_fails (settings, config, "DEBUG.source", "y", "\"DEBUG.source\" is not settable");
  assert_apply_fails (settings, config, "DEBUG.VALUE", "y", "\"DEBUG.VALUE\" is not settable");
  /* the implied field still has to be one the kind allows */
  assert_apply_fails (settings, config, "WRONG", "y", "\"WRONG.source\" is not settable");
  assert_apply_fails (settings, config, "MULTI", "y", "multiple fields are settable, one must be specified");
  assert_apply_fails (settings, config, "MULTI.source", "y", "\"MULTI.source\" is not settable");
  assert_apply_fails (settings, config, "fixed", "/y", "\"fixed\" is not settable");
  assert_apply_fails (settings, config, "state.path", "/y", "\"state.path\" is not settable");
  assert_apply_fails (settings, config, "nosrc", "/y", "plugin config has no mount source");
  assert_apply_fails (settings, config, "nopath", "/dev/y", "plugin config has no device path");
  assert_apply_fails (settings, config, "fuse.source", "/dev/y", "\"fuse.source\" is not settable");
  assert_apply_fails (settings, config, "args.path", "x", "\"args.path\" is not settable");
  /* beyond Docker: device paths follow the config rule */
  assert_apply_fails (settings, config, "fuse", "/etc/shadow",
                      "device path \"/etc/shadow\" must be a path under /dev/ without '..'");
  assert_apply_fails (settings, config, "fuse.path", "/dev/../etc/shadow",
                      "device path \"/dev/../etc/shadow\" must be a path under /dev/ without '..'");
  /* names are quoted like Go's %q */
  assert_apply_fails (settings, config, "a\"b\n", "x",
                      "setting \"a\\\"b\\n\" not found in the plugin configuration");

  /* NULL changes and an empty table change nothing */
  {
    g_autoptr(PdPluginSettings) s = pd_plugin_settings_apply (settings, config, NULL, &error);
    g_assert_no_error (error);
    assert_strv (s->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w"));
  }
}

/* mount sources and device paths a user sets follow the config's rules */
static const char paths_config[] =
  "{\"Entrypoint\":[\"/p\"],"
  "\"Mounts\":[{\"Name\":\"bind\",\"Settable\":[\"source\"],\"Source\":\"/srv\",\"Destination\":\"/b\",\"Type\":\"bind\"},"
  "{\"Name\":\"rbind\",\"Settable\":[\"source\"],\"Source\":\"/srv\",\"Destination\":\"/r\",\"Options\":[\"rbind\",\"ro\"]},"
  "{\"Name\":\"tmp\",\"Settable\":[\"source\"],\"Source\":\"tmpfs\",\"Destination\":\"/t\",\"Type\":\"tmpfs\"}],"
  "\"Linux\":{\"Devices\":[{\"Name\":\"fuse\",\"Settable\":[\"path\"],\"Path\":\"/dev/fuse\"}]}}";

static void
test_settings_apply_paths (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (paths_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(GError) error = NULL;

  /* accepted: clean absolute bind sources, anything printable for other mounts */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "bind", "/srv/..data",
                                           "rbind.source", "/", "tmp", "none", "fuse", "/dev/kvm",
                                           NULL);
    g_assert_no_error (error);
    g_assert_cmpstr (mount_source (s, 0), ==, "/srv/..data");
    g_assert_cmpstr (mount_source (s, 1), ==, "/");
    g_assert_cmpstr (mount_source (s, 2), ==, "none");
    g_assert_cmpstr (((PdConfigDevice *) s->devices->pdata[0])->path, ==, "/dev/kvm");
  }

  /* bind mounts, by type or by option */
  assert_apply_fails (settings, config, "bind", "srv",
                      "mount source \"srv\" must be an absolute path without '.', '..' or empty components for a bind mount");
  assert_apply_fails (settings, config, "bind", "",
                      "mount source \"\" must be an absolute path without '.', '..' or empty components for a bind mount");
  assert_apply_fails (settings, config, "bind.source", "/srv/../etc",
                      "mount source \"/srv/../etc\" must be an absolute path without '.', '..' or empty components for a bind mount");
  assert_apply_fails (settings, config, "rbind", "../..",
                      "mount source \"../..\" must be an absolute path without '.', '..' or empty components for a bind mount");
  /* control characters, in any mount, quoted like Go's %q */
  assert_apply_fails (settings, config, "bind", "/\x1b[2K\r\x1b[1A",
                      "mount source \"/\\x1b[2K\\r\\x1b[1A\" must not contain control characters");
  assert_apply_fails (settings, config, "tmp", "tmp\nfs",
                      "mount source \"tmp\\nfs\" must not contain control characters");
  assert_apply_fails (settings, config, "tmp", "x\xc2\x9b",
                      "mount source \"x\\u009b\" must not contain control characters");
  assert_apply_fails (settings, config, "tmp", "x\x7f",
                      "mount source \"x\\x7f\" must not contain control characters");
  /* device paths: under /dev/, clean, printable */
  assert_apply_fails (settings, config, "fuse", "/dev/\x1b[2K",
                      "device path \"/dev/\\x1b[2K\" must not contain control characters");
  assert_apply_fails (settings, config, "fuse.path", "/dev/../dev/mem",
                      "device path \"/dev/../dev/mem\" must be a path under /dev/ without '..'");
  assert_apply_fails (settings, config, "fuse", "dev/fuse",
                      "device path \"dev/fuse\" must be a path under /dev/ without '..'");

  /* a bad value anywhere in a batch changes nothing */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "bind", "/ok", "tmp", "a\tb", NULL);
    g_assert_null (s);
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
    g_assert_cmpstr (mount_source (settings, 0), ==, "/srv");
  }
}

static void
test_settings_apply_atomic (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (set_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(JsonNode) before = pd_plugin_settings_to_json (settings);
  g_autofree char *before_data = node_to_go (before);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginSettings) failed = NULL;
  g_autoptr(PdPluginSettings) ok = NULL;

  /* sorted order makes the failing key come last, after three that would succeed */
  failed = apply (settings, config, &error,
                  "zzz", "x", "DEBUG", "5", "state", "/new", "args", "a b", "fuse", "/dev/kvm", NULL);
  g_assert_null (failed);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_assert_cmpstr (error->message, ==, "setting \"zzz\" not found in the plugin configuration");
  g_clear_error (&error);
  {
    g_autoptr(JsonNode) after = pd_plugin_settings_to_json (settings);
    g_autofree char *after_data = node_to_go (after);
    g_assert_cmpstr (after_data, ==, before_data);
  }

  /* and the same batch without the bad key applies as a whole, leaving the input untouched */
  ok = apply (settings, config, &error, "DEBUG", "5", "state", "/new", "args", "a b", "fuse", "/dev/kvm", NULL);
  g_assert_no_error (error);
  assert_strv (ok->env, STRV ("DEBUG=5", "NOSET=x", "WRONG=w"));
  g_assert_cmpstr (mount_source (ok, 0), ==, "/new");
  assert_strv (ok->args, STRV ("a", "b"));
  g_assert_cmpstr (((PdConfigDevice *) ok->devices->pdata[0])->path, ==, "/dev/kvm");
  {
    g_autoptr(JsonNode) after = pd_plugin_settings_to_json (settings);
    g_autofree char *after_data = node_to_go (after);
    g_assert_cmpstr (after_data, ==, before_data);
  }

  /* keys apply in sorted order, so the result does not depend on hash order */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG.value", "2", "DEBUG", "1", NULL);
    g_assert_no_error (error);
    assert_strv (s->env, STRV ("DEBUG=2", "NOSET=x", "WRONG=w"));
  }
}

static void
test_privileges_variant (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (full_config);
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
test_settings_privileges (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (sshfs_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(PdPluginSettings) changed = NULL;
  g_autoptr(GPtrArray) defaults = pd_privileges_compute (config, NULL);
  g_autoptr(GPtrArray) initial = pd_privileges_compute (config, settings);
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  g_assert_true (pd_privileges_equal (defaults, initial));

  changed = apply (settings, config, &error, "state.source", "/home", NULL);
  g_assert_no_error (error);
  after = pd_privileges_compute (config, changed);
  text = pd_privileges_to_string (after);
  g_assert_cmpstr (text, ==, "network: host; mount: /home; device: /dev/fuse; capabilities: CAP_SYS_ADMIN");
  /* a changed mount source is a different set of privileges: re-consent is needed */
  g_assert_false (pd_privileges_equal (defaults, after));
}

static void
test_settings_describe (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (set_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(PdPluginSettings) changed = NULL;
  g_autoptr(GPtrArray) infos = NULL;
  g_autoptr(GPtrArray) defaults = NULL;
  g_autoptr(GError) error = NULL;
  /* env values and args may be secrets: no description shows them; mount sources and device
   * paths are privileges and are shown */
  struct { const char *name; const char *kind; const char *value; gboolean settable; } expected[] = {
    { "DEBUG", "env", "", TRUE },
    { "NOSET", "env", "", FALSE },
    { "MULTI", "env", "", TRUE },
    { "WRONG", "env", "", FALSE },
    { "my.var", "env", "", TRUE },
    { "dup", "env", "", TRUE },
    { "state", "mount", "/srv", TRUE },
    { "nosrc", "mount", "", TRUE },
    { "fixed", "mount", "/fixed", FALSE },
    { "dup", "mount", "/dup", TRUE },
    { "fuse", "device", "/dev/fuse", TRUE },
    { "nopath", "device", "", TRUE },
    { "args", "args", "", TRUE },
  };

  changed = apply (settings, config, &error, "DEBUG", "7", "state", "/srv", "args", "x y", NULL);
  g_assert_no_error (error);
  infos = pd_plugin_settings_describe (changed, config);
  g_assert_cmpuint (infos->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < infos->len; i++)
    {
      PdSettingInfo *info = infos->pdata[i];
      g_assert_cmpstr (info->name, ==, expected[i].name);
      g_assert_cmpstr (info->kind, ==, expected[i].kind);
      g_assert_cmpstr (info->value, ==, expected[i].value);
      g_assert_cmpint (info->settable, ==, expected[i].settable);
      g_assert_nonnull (info->description);
    }

  /* without settings, the config's defaults */
  defaults = pd_plugin_settings_describe (NULL, config);
  g_assert_cmpstr (((PdSettingInfo *) defaults->pdata[0])->value, ==, "");
  g_assert_cmpstr (((PdSettingInfo *) defaults->pdata[6])->value, ==, "/var/lib/x");
  g_assert_cmpstr (((PdSettingInfo *) defaults->pdata[12])->value, ==, "");

  /* the names, in order, are what everyone may see of the env */
  {
    g_auto(GStrv) names = pd_plugin_settings_dup_env_names (changed);
    g_autoptr(PdPluginSettings) odd = pd_plugin_settings_copy (changed);
    g_auto(GStrv) odd_names = NULL;
    g_autoptr(PdPluginSettings) hidden = NULL;
    const char *const odd_env[] = { "A=1=2", "NOVALUE", "=x", "B=", NULL };
    const char *const odd_expected[] = { "A", "NOVALUE", "", "B", NULL };
    const char *const hidden_expected[] = { "A=<hidden>", "NOVALUE", "=<hidden>", "B=<hidden>",
                                            NULL };

    g_assert_cmpuint (g_strv_length (names), ==, g_strv_length (changed->env));
    g_assert_cmpstr (names[0], ==, "DEBUG");
    for (guint i = 0; names[i] != NULL; i++)
      g_assert_null (strchr (names[i], '='));

    g_strfreev (odd->env);
    odd->env = g_strdupv ((char **) odd_env);
    odd_names = pd_plugin_settings_dup_env_names (odd);
    g_assert_true (g_strv_equal ((const char *const *) odd_names, odd_expected));
    hidden = pd_plugin_settings_copy_hidden (odd);
    g_assert_true (g_strv_equal ((const char *const *) hidden->env, hidden_expected));
    g_assert_cmpuint (g_strv_length (hidden->args), ==, 2);
    g_assert_cmpstr (hidden->args[0], ==, PD_HIDDEN_VALUE);
    g_assert_cmpstr (hidden->args[1], ==, PD_HIDDEN_VALUE);
    g_assert_cmpuint (hidden->mounts->len, ==, odd->mounts->len);
    /* the original keeps its values */
    g_assert_cmpstr (odd->env[0], ==, "A=1=2");
    g_assert_cmpstr (odd->args[0], ==, "x");
  }

  /* sshfs declares no args: none are listed; the description comes from the config */
  {
    g_autoptr(PdPluginConfig) sshfs = parse_ok (full_config);
    g_autoptr(GPtrArray) list = pd_plugin_settings_describe (NULL, sshfs);
    g_autoptr(PdPluginConfig) plain = parse_ok (sshfs_config);
    g_autoptr(GPtrArray) plain_list = pd_plugin_settings_describe (NULL, plain);

    g_assert_cmpstr (((PdSettingInfo *) list->pdata[0])->description, ==, "debug");
    g_assert_cmpuint (plain_list->len, ==, 3);
    g_assert_cmpstr (((PdSettingInfo *) plain_list->pdata[2])->kind, ==, "device");
  }
}

static void
test_paths_nested (void)
{
  g_autoptr(GPtrArray) apart = g_ptr_array_new ();
  g_autoptr(GPtrArray) nested = g_ptr_array_new ();
  guint inner = 0, outer = 0;

  g_assert_true (pd_path_is_at_or_under ("/data", "/data"));
  g_assert_true (pd_path_is_at_or_under ("/data/sub", "/data"));
  g_assert_true (pd_path_is_at_or_under ("/data/sub", "/data/"));
  g_assert_true (pd_path_is_at_or_under ("/data/", "/data"));
  g_assert_true (pd_path_is_at_or_under ("/anything", "/"));
  /* a prefix that is no parent */
  g_assert_false (pd_path_is_at_or_under ("/database", "/data"));
  g_assert_false (pd_path_is_at_or_under ("/data", "/data/sub"));

  g_ptr_array_add (apart, "/data");
  g_ptr_array_add (apart, NULL);
  g_ptr_array_add (apart, "/database");
  g_ptr_array_add (apart, "/run/docker/plugins");
  g_assert_false (pd_paths_find_nested (apart, &inner, &outer));

  g_ptr_array_add (nested, "/a/b/c");
  g_ptr_array_add (nested, "/x");
  g_ptr_array_add (nested, "/a");
  g_assert_true (pd_paths_find_nested (nested, &inner, &outer));
  g_assert_cmpuint (inner, ==, 0);
  g_assert_cmpuint (outer, ==, 2);
  /* of two equal ones, the later one is inside */
  g_ptr_array_add (nested, "/x/");
  g_ptr_array_remove_index (nested, 0);
  g_assert_true (pd_paths_find_nested (nested, &inner, &outer));
  g_assert_cmpuint (inner, ==, 2);
  g_assert_cmpuint (outer, ==, 0);
}

/* bounds: echoes, settings, configs */

static void
test_escape_cut (void)
{
  g_autofree char *text = g_strnfill (100000, '\x01');
  g_autofree char *cut = pd_escape_untrusted (text, -1);
  g_autofree char *whole = pd_escape_untrusted_full (text, -1);
  g_autofree char *plain = pd_escape_untrusted ("a\\b\x1b" "c\xff", -1);
  g_autofree char *utf8_cut = NULL;
  g_autofree char *truncated = NULL;
  g_autoptr(GString) long_utf8 = g_string_new (NULL);
  g_autoptr(GError) error = NULL;

  /* a short escaped piece, marked as cut, never half an escape */
  g_assert_cmpuint (strlen (cut), <=, PD_UNTRUSTED_QUOTE_MAX + strlen (PD_CUT_MARK));
  g_assert_true (g_str_has_suffix (cut, "\\x01" PD_CUT_MARK));
  g_assert_true (g_str_has_prefix (cut, "\\x01\\x01"));
  g_assert_cmpuint (strlen (whole), ==, 4 * 100000);
  /* short text is escaped as before, with no mark */
  g_assert_cmpstr (plain, ==, "a\\\\b\\x1bc\\xff");

  /* multi-byte characters are kept whole */
  truncated = pd_text_truncate ("äää", 3);
  g_assert_cmpstr (truncated, ==, "ä" PD_CUT_MARK);
  g_free (truncated);
  truncated = pd_text_truncate ("äää", 6);
  g_assert_cmpstr (truncated, ==, "äää");
  for (guint i = 0; i < 200; i++)
    g_string_append (long_utf8, "ä");
  utf8_cut = pd_escape_untrusted (long_utf8->str, -1);
  g_assert_true (g_utf8_validate (utf8_cut, -1, NULL));
  g_assert_true (g_str_has_suffix (utf8_cut, "ä" PD_CUT_MARK));
  g_assert_cmpuint (strlen (utf8_cut), <=, PD_UNTRUSTED_QUOTE_MAX + strlen (PD_CUT_MARK));

  /* the last guard on a message */
  g_set_error (&error, PD_ERROR, PD_ERROR_FAILED, "%s", whole);
  pd_error_bound_message (error);
  g_assert_cmpuint (strlen (error->message), ==, PD_MESSAGE_MAX + strlen (PD_CUT_MARK));
  g_assert_true (g_str_has_suffix (error->message, PD_CUT_MARK));
}

static void
test_options_unknown_key_cut (void)
{
  static const char *const allowed[] = { "force", "b", NULL };
  g_autofree char *key = g_strnfill (1024 * 1024, '\x02');
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&builder, "{sv}", key, g_variant_new_boolean (TRUE));
  options = g_variant_ref_sink (g_variant_builder_end (&builder));
  g_assert_false (pd_options_check (options, allowed, &error));
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_assert_true (g_str_has_prefix (error->message, "Unknown option '\\x02\\x02"));
  g_assert_cmpuint (strlen (error->message), <, 1024);
}

static GVariant *
changes_variant (guint n, gsize key_len, gsize value_len)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("%0*u", (int) key_len, i);
      g_autofree char *value = g_strnfill (value_len, 'v');
      g_variant_builder_add (&builder, "{ss}", key, value);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
assert_changes_refused (GVariant *variant, const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) changes = pd_settings_changes_new_from_variant (variant, &error);

  g_assert_null (changes);
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  if (strstr (error->message, expected) == NULL)
    g_error ("expected \"%s\" in \"%s\"", expected, error->message);
  g_assert_cmpuint (strlen (error->message), <, 1024);
}

static void
test_settings_limits (void)
{
  g_autoptr(PdPluginConfig) config = parse_ok (set_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(GError) error = NULL;

  /* the bounds themselves: at the bound fine, past it refused before anything is applied */
  {
    g_autoptr(GVariant) v = changes_variant (PD_SETTINGS_MAX_CHANGES, 4, 1);
    g_autoptr(GHashTable) changes = pd_settings_changes_new_from_variant (v, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_hash_table_size (changes), ==, PD_SETTINGS_MAX_CHANGES);
  }
  {
    g_autoptr(GVariant) v = changes_variant (PD_SETTINGS_MAX_CHANGES + 1, 4, 1);
    assert_changes_refused (v, "257 settings in one call, more than 256");
  }
  {
    g_autoptr(GVariant) v = changes_variant (1, PD_SETTING_KEY_MAX + 1, 1);
    assert_changes_refused (v, "is 513 bytes long, more than 512");
  }
  {
    g_autoptr(GVariant) v = changes_variant (1, 4, PD_SETTING_VALUE_MAX + 1);
    assert_changes_refused (v, "the value of \"0000\" is 65537 bytes long, more than 65536");
  }

  /* a value at the bound is applied, and the same bounds hold for changes given directly */
  {
    g_autofree char *value = g_strnfill (PD_SETTING_VALUE_MAX, 'd');
    g_autofree char *too_long = g_strnfill (PD_SETTING_VALUE_MAX + 1, 'd');
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG", value, NULL);
    g_assert_no_error (error);
    g_assert_cmpuint (strlen (s->env[0]), ==, strlen ("DEBUG=") + PD_SETTING_VALUE_MAX);
    g_assert_null (apply (settings, config, &error, "DEBUG", too_long, NULL));
    g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
    g_clear_error (&error);
  }

  /* the settings as a whole: five values at the bound are more than PD_SETTINGS_MAX_SIZE */
  {
    g_autofree char *value = g_strnfill (PD_SETTING_VALUE_MAX, 'd');
    g_autoptr(PdPluginSettings) big = NULL;
    g_autoptr(PdPluginSettings) smaller = NULL;

    g_assert_null (apply (settings, config, &error, "DEBUG", value, "MULTI.value", value,
                          "my.var.value", value, "dup", value, "args", value, NULL));
    g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
    g_assert_nonnull (strstr (error->message, "more than 262144"));
    g_clear_error (&error);
    big = apply (settings, config, &error, "DEBUG", value, "MULTI.value", value,
                 "my.var.value", value, NULL);
    g_assert_no_error (error);
    g_assert_cmpuint (pd_plugin_settings_get_size (big), <=, PD_SETTINGS_MAX_SIZE);

    /* settings saved before the bound was there may shrink, but not grow */
    g_free (big->env[1]);
    big->env[1] = g_strdup_printf ("NOSET=%s%s", value, value);
    g_assert_cmpuint (pd_plugin_settings_get_size (big), >, PD_SETTINGS_MAX_SIZE);
    smaller = apply (big, config, &error, "DEBUG", "0", NULL);
    g_assert_no_error (error);
    g_assert_null (apply (big, config, &error, "dup", "x", NULL));
    g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
    g_clear_error (&error);
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
  config = parse_ok (json);
}

static void
test_config_limits (void)
{
  const char *const real[] = { sshfs_config, sample_config, full_config, set_config };
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

  g_test_add_func ("/config/parse/sshfs", test_config_sshfs);
  g_test_add_func ("/config/parse/sample-volume-plugin", test_config_sample);
  g_test_add_func ("/config/parse/case-insensitive", test_config_case_insensitive);
  g_test_add_func ("/config/parse/unknown-keys", test_config_unknown_keys);
  g_test_add_func ("/config/parse/null-vs-absent", test_config_null_vs_absent);
  g_test_add_func ("/config/parse/edges", test_config_accepts_edges);
  g_test_add_func ("/config/reject/table", test_config_rejects);
  g_test_add_func ("/config/reject/raw-bytes", test_config_rejects_raw_bytes);
  g_test_add_func ("/config/json/sshfs", test_config_to_json_sshfs);
  g_test_add_func ("/config/json/full", test_config_to_json_full);
  g_test_add_func ("/config/json/round-trip", test_config_round_trip);
  g_test_add_func ("/privileges/compute/order", test_privileges_compute_order);
  g_test_add_func ("/privileges/compute/conditions", test_privileges_compute_conditions);
  g_test_add_func ("/privileges/equal", test_privileges_equal);
  g_test_add_func ("/privileges/variant", test_privileges_variant);
  g_test_add_func ("/privileges/to-string", test_privileges_to_string);
  g_test_add_func ("/paths/nested", test_paths_nested);
  g_test_add_func ("/settings/init", test_settings_init);
  g_test_add_func ("/settings/json", test_settings_json);
  g_test_add_func ("/settings/apply/grammar", test_settings_apply_grammar);
  g_test_add_func ("/settings/apply/atomic", test_settings_apply_atomic);
  g_test_add_func ("/settings/apply/paths", test_settings_apply_paths);
  g_test_add_func ("/settings/privileges", test_settings_privileges);
  g_test_add_func ("/settings/describe", test_settings_describe);
  g_test_add_func ("/settings/limits", test_settings_limits);
  g_test_add_func ("/config/limits", test_config_limits);
  g_test_add_func ("/error/escape-cut", test_escape_cut);
  g_test_add_func ("/options/unknown-key-cut", test_options_unknown_key_cut);

  return g_test_run ();
}
