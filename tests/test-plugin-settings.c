/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Settings (pd-plugin-settings.c): their defaults from a config, their JSON, Docker's Set
 * grammar with its error texts, what describes them without showing secrets, their bounds,
 * and their merge across an upgrade.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-plugin-settings"

#include <string.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-plugin-config.h"
#include "pd-plugin-settings.h"
#include "pd-privileges.h"
#include "pd-test-utils.h"

/* @settings as Go's encoder writes them */
static char *
settings_data (const PdPluginSettings *settings)
{
  g_autoptr(JsonNode) node = pd_plugin_settings_to_json (settings);

  return pd_json_to_go_data (node, NULL);
}

static void
test_settings_init (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_full_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(PdPluginSettings) copy = NULL;
  PdConfigMount *mount;
  PdConfigDevice *device;

  /* InitEmptySettings: env entries with a value, args default, mounts and devices copied */
  g_assert_cmpstrv (settings->env, STRV ("DEBUG=0", "EMPTY="));
  g_assert_cmpstrv (settings->args, STRV ("-a", "b"));
  g_assert_cmpuint (settings->mounts->len, ==, 2);
  g_assert_cmpuint (settings->devices->len, ==, 2);
  mount = settings->mounts->pdata[0];
  g_assert_cmpstr (mount->name, ==, "data");
  g_assert_cmpstr (mount->source, ==, "/data");
  g_assert_cmpstr (mount->destination, ==, "/data");
  g_assert_cmpstrv (mount->options, STRV ("rbind", "ro"));
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
  g_assert_cmpstrv (copy->env, STRV ("DEBUG=0", "EMPTY="));

  /* a config without args or env gives empty, non-NULL vectors */
  {
    g_autoptr(PdPluginConfig) bare = pd_test_parse_config ("{\"Entrypoint\":[\"/p\"]}");
    g_autoptr(PdPluginSettings) s = pd_plugin_settings_new_from_config (bare);
    g_assert_cmpstrv (s->env, EMPTY_STRV);
    g_assert_cmpstrv (s->args, EMPTY_STRV);
    g_assert_cmpuint (s->mounts->len, ==, 0);
    g_assert_cmpuint (s->devices->len, ==, 0);
  }
}

static void
test_settings_json (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_sshfs_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(JsonNode) node = pd_plugin_settings_to_json (settings);
  g_autofree char *data = settings_data (settings);
  g_autoptr(PdPluginSettings) back = NULL;
  g_autofree char *data2 = NULL;
  g_autoptr(GError) error = NULL;

  /* Go's plugin.Settings order: Args, Devices, Env, Mounts */
  g_assert_cmpstr (data, ==,
                   "{\"Args\":[],"
                   "\"Devices\":[{\"Description\":\"\",\"Name\":\"\",\"Path\":\"/dev/fuse\",\"Settable\":null}],"
                   "\"Env\":[\"DEBUG=0\"],"
                   "\"Mounts\":[{\"Description\":\"\",\"Destination\":\"/mnt/state\",\"Name\":\"state\","
                   "\"Options\":[\"rbind\"],\"Settable\":[\"source\"],\"Source\":\"/var/lib/docker/plugins/\","
                   "\"Type\":\"bind\"}]}");

  back = pd_plugin_settings_new_from_json (node, &error);
  g_assert_no_error (error);
  data2 = settings_data (back);
  g_assert_cmpstr (data2, ==, data);

  /* null sources survive the trip */
  {
    g_autoptr(PdPluginConfig) full = pd_test_parse_config (pd_test_full_config);
    g_autoptr(PdPluginSettings) s = pd_plugin_settings_new_from_config (full);
    g_autoptr(JsonNode) n = pd_plugin_settings_to_json (s);
    g_autoptr(PdPluginSettings) b = pd_plugin_settings_new_from_json (n, &error);

    g_assert_no_error (error);
    g_assert_null (((PdConfigMount *) b->mounts->pdata[1])->source);
    g_assert_null (((PdConfigDevice *) b->devices->pdata[1])->path);
    g_assert_cmpstrv (b->args, STRV ("-a", "b"));
    g_assert_cmpstrv (b->env, STRV ("DEBUG=0", "EMPTY="));
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
    g_assert_cmpstrv (s->env, EMPTY_STRV);
    g_assert_cmpstrv (s->args, EMPTY_STRV);
    g_assert_cmpuint (s->mounts->len, ==, 0);
  }
}

static PdPluginSettings *
apply (const PdPluginSettings *settings, const PdPluginConfig *config, GError **error, ...)
{
  g_autoptr(GPtrArray) changes = pd_settings_changes_new ();
  va_list ap;
  const char *key;

  va_start (ap, error);
  while ((key = va_arg (ap, const char *)) != NULL)
    pd_settings_changes_add (changes, key, va_arg (ap, char *));
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

/* a change Set refuses, and how it says so */
typedef struct {
  const char *key;
  const char *value;
  const char *message;
} RefusedChange;

static const char *
mount_source (const PdPluginSettings *settings, guint i)
{
  return ((PdConfigMount *) settings->mounts->pdata[i])->source;
}

static void
test_settings_apply_grammar (void)
{
  /* Docker's error texts */
  static const RefusedChange refused[] = {
    { "", "x", "invalid format, must be <name>[.<field>][=<value>]" },
    { "=x", "", "invalid format, must be <name>[.<field>][=<value>]" },
    { "DEBUG=1", "", "invalid format, must be <name>[.<field>][=<value>]" },
    { "nothere", "x", "setting \"nothere\" not found in the plugin configuration" },
    { "nothere.value", "x", "setting \"nothere\" not found in the plugin configuration" },
    /* a leading dot is part of the name, as in Docker */
    { ".DEBUG", "x", "setting \".DEBUG\" not found in the plugin configuration" },
    /* "my.var" splits at the last dot */
    { "my.var", "1", "setting \"my\" not found in the plugin configuration" },
    { "NOSET", "y", "\"NOSET\" is not settable" },
    { "NOSET.value", "y", "\"NOSET.value\" is not settable" },
    { "DEBUG.source", "y", "\"DEBUG.source\" is not settable" },
    { "DEBUG.VALUE", "y", "\"DEBUG.VALUE\" is not settable" },
    /* the implied field still has to be one the kind allows */
    { "WRONG", "y", "\"WRONG.source\" is not settable" },
    { "MULTI", "y", "multiple fields are settable, one must be specified" },
    { "MULTI.source", "y", "\"MULTI.source\" is not settable" },
    { "fixed", "/y", "\"fixed\" is not settable" },
    { "state.path", "/y", "\"state.path\" is not settable" },
    { "nosrc", "/y", "plugin config has no mount source" },
    { "nopath", "/dev/y", "plugin config has no device path" },
    { "fuse.source", "/dev/y", "\"fuse.source\" is not settable" },
    { "args.path", "x", "\"args.path\" is not settable" },
    /* beyond Docker: device paths follow the config rule */
    { "fuse", "/etc/shadow",
      "device path \"/etc/shadow\" must be a path under /dev/ without '..'" },
    { "fuse.path", "/dev/../etc/shadow",
      "device path \"/dev/../etc/shadow\" must be a path under /dev/ without '..'" },
    /* names are quoted like Go's %q */
    { "a\"b\n", "x", "setting \"a\\\"b\\n\" not found in the plugin configuration" },
  };
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_set_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(GError) error = NULL;

  g_assert_cmpstrv (settings->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w"));

  /* env, with and without the field */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG", "1", NULL);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->env, STRV ("DEBUG=1", "NOSET=x", "WRONG=w"));
  }
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG.value", "a=b c", NULL);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->env, STRV ("DEBUG=a=b c", "NOSET=x", "WRONG=w"));
  }
  /* an empty value sets NAME= */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG", "", NULL);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->env, STRV ("DEBUG=", "NOSET=x", "WRONG=w"));
  }
  /* declared env vars without a default value are appended */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "MULTI.value", "m", NULL);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w", "MULTI=m"));
  }
  /* a name with dots is reached through its field */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "my.var.value", "1", NULL);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w", "my.var=1"));
  }
  /* resolution order: env before mounts */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "dup", "/new", NULL);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w", "dup=/new"));
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
    g_assert_cmpstrv (s->args, STRV ("-a", "", "b"));
  }
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "args.value", "", NULL);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->args, STRV (""));
  }

  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    assert_apply_fails (settings, config, refused[i].key, refused[i].value, refused[i].message);

  /* NULL changes and an empty table change nothing */
  {
    g_autoptr(PdPluginSettings) s = pd_plugin_settings_apply (settings, config, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->env, STRV ("DEBUG=0", "NOSET=x", "WRONG=w"));
  }
}

/* mount sources and device paths a user sets follow the config's rules */
static const char paths_config[] =
  "{\"Entrypoint\":[\"/p\"],"
  "\"Mounts\":[{\"Name\":\"bind\",\"Settable\":[\"source\"],\"Source\":\"/srv\",\"Destination\":\"/b\",\"Type\":\"bind\"},"
  "{\"Name\":\"rbind\",\"Settable\":[\"source\"],\"Source\":\"/srv\",\"Destination\":\"/r\",\"Options\":[\"rbind\",\"ro\"]},"
  "{\"Name\":\"tmp\",\"Settable\":[\"source\"],\"Source\":\"tmpfs\",\"Destination\":\"/t\",\"Type\":\"tmpfs\"}],"
  "\"Linux\":{\"Devices\":[{\"Name\":\"fuse\",\"Settable\":[\"path\"],\"Path\":\"/dev/fuse\"}]}}";

#define NOT_CLEAN "must be an absolute path without '.', '..' or empty components for a bind mount"
#define CONTROL "must not contain control characters"
#define NOT_UNDER_DEV "must be a path under /dev/ without '..'"

static void
test_settings_apply_paths (void)
{
  static const RefusedChange refused[] = {
    /* bind mounts, by type or by option */
    { "bind", "srv", "mount source \"srv\" " NOT_CLEAN },
    { "bind", "", "mount source \"\" " NOT_CLEAN },
    { "bind.source", "/srv/../etc", "mount source \"/srv/../etc\" " NOT_CLEAN },
    { "rbind", "../..", "mount source \"../..\" " NOT_CLEAN },
    /* control characters, in any mount, quoted like Go's %q */
    { "bind", "/\x1b[2K\r\x1b[1A", "mount source \"/\\x1b[2K\\r\\x1b[1A\" " CONTROL },
    { "tmp", "tmp\nfs", "mount source \"tmp\\nfs\" " CONTROL },
    { "tmp", "x\xc2\x9b", "mount source \"x\\u009b\" " CONTROL },
    { "tmp", "x\x7f", "mount source \"x\\x7f\" " CONTROL },
    /* device paths: under /dev/, clean, printable */
    { "fuse", "/dev/\x1b[2K", "device path \"/dev/\\x1b[2K\" " CONTROL },
    { "fuse.path", "/dev/../dev/mem", "device path \"/dev/../dev/mem\" " NOT_UNDER_DEV },
    { "fuse", "dev/fuse", "device path \"dev/fuse\" " NOT_UNDER_DEV },
  };
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (paths_config);
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

  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    assert_apply_fails (settings, config, refused[i].key, refused[i].value, refused[i].message);

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
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_set_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autofree char *before_data = settings_data (settings);
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginSettings) failed = NULL;
  g_autoptr(PdPluginSettings) ok = NULL;

  /* the failing key comes last, after four that would succeed */
  failed = apply (settings, config, &error,
                  "DEBUG", "5", "state", "/new", "args", "a b", "fuse", "/dev/kvm", "zzz", "x", NULL);
  g_assert_null (failed);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
  g_assert_cmpstr (error->message, ==, "setting \"zzz\" not found in the plugin configuration");
  g_clear_error (&error);
  {
    g_autofree char *after_data = settings_data (settings);
    g_assert_cmpstr (after_data, ==, before_data);
  }

  /* and the same batch without the bad key applies as a whole, leaving the input untouched */
  ok = apply (settings, config, &error, "DEBUG", "5", "state", "/new", "args", "a b", "fuse", "/dev/kvm", NULL);
  g_assert_no_error (error);
  g_assert_cmpstrv (ok->env, STRV ("DEBUG=5", "NOSET=x", "WRONG=w"));
  g_assert_cmpstr (mount_source (ok, 0), ==, "/new");
  g_assert_cmpstrv (ok->args, STRV ("a", "b"));
  g_assert_cmpstr (((PdConfigDevice *) ok->devices->pdata[0])->path, ==, "/dev/kvm");
  {
    g_autofree char *after_data = settings_data (settings);
    g_assert_cmpstr (after_data, ==, before_data);
  }

  /* changes apply in the order given, as Docker's do: the last of one setting wins, however
   * it is spelt */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG.value", "1", "DEBUG", "2", NULL);
    g_autoptr(PdPluginSettings) r = apply (settings, config, &error, "DEBUG", "2", "DEBUG.value", "1", NULL);
    g_autoptr(PdPluginSettings) d = apply (settings, config, &error, "state", "/a", "args", "x",
                                           "state", "/b", "args", "y z", "state", "/c", NULL);
    g_assert_no_error (error);
    g_assert_cmpstrv (s->env, STRV ("DEBUG=2", "NOSET=x", "WRONG=w"));
    g_assert_cmpstrv (r->env, STRV ("DEBUG=1", "NOSET=x", "WRONG=w"));
    g_assert_cmpstr (mount_source (d, 0), ==, "/c");
    g_assert_cmpstrv (d->args, STRV ("y", "z"));
    /* a setting given three times is one setting the user set */
    g_assert_cmpstrv (d->user_set, STRV ("mount:state", "args:args"));
  }

  /* a failure after a repeated key still changes nothing */
  {
    g_autoptr(PdPluginSettings) s = apply (settings, config, &error, "DEBUG", "7", "DEBUG", "8",
                                           "nope", "x", NULL);
    g_assert_null (s);
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_ARGS);
    g_clear_error (&error);
    g_assert_cmpstrv (settings->user_set, EMPTY_STRV);
  }
}

static void
test_settings_privileges (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_sshfs_config);
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
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_set_config);
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
    g_autoptr(PdPluginConfig) sshfs = pd_test_parse_config (pd_test_full_config);
    g_autoptr(GPtrArray) list = pd_plugin_settings_describe (NULL, sshfs);
    g_autoptr(PdPluginConfig) plain = pd_test_parse_config (pd_test_sshfs_config);
    g_autoptr(GPtrArray) plain_list = pd_plugin_settings_describe (NULL, plain);

    g_assert_cmpstr (((PdSettingInfo *) list->pdata[0])->description, ==, "debug");
    g_assert_cmpuint (plain_list->len, ==, 3);
    g_assert_cmpstr (((PdSettingInfo *) plain_list->pdata[2])->kind, ==, "device");
  }
}

static GVariant *
changes_variant (guint n, gsize key_len, gsize value_len)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *key = g_strdup_printf ("%0*u", (int) key_len, i);
      g_autofree char *value = g_strnfill (value_len, 'v');
      g_variant_builder_add (&builder, "(ss)", key, value);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
assert_changes_refused (GVariant *variant, const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) changes = pd_settings_changes_new_from_variant (variant, &error);

  g_assert_null (changes);
  g_assert_error (error, PD_ERROR, PD_ERROR_LIMITS_EXCEEDED);
  if (strstr (error->message, expected) == NULL)
    g_error ("expected \"%s\" in \"%s\"", expected, error->message);
  g_assert_cmpuint (strlen (error->message), <, 1024);
}

static void
test_settings_limits (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (pd_test_set_config);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  g_autoptr(GError) error = NULL;

  /* the bounds themselves: at the bound fine, past it refused before anything is applied */
  {
    g_autoptr(GVariant) v = changes_variant (PD_SETTINGS_MAX_CHANGES, 4, 1);
    g_autoptr(GPtrArray) changes = pd_settings_changes_new_from_variant (v, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (changes->len, ==, PD_SETTINGS_MAX_CHANGES);
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

/* section: settings across an upgrade */

#define OLD_CONFIG \
  "{\"Entrypoint\": [\"/bin/plugin\"]," \
  " \"Env\": [" \
  "   {\"Name\": \"CHANGED\", \"Settable\": [\"value\"], \"Value\": \"1\"}," \
  "   {\"Name\": \"UNCHANGED\", \"Settable\": [\"value\"], \"Value\": \"2\"}," \
  "   {\"Name\": \"NULLSET\", \"Settable\": [\"value\"], \"Value\": null}," \
  "   {\"Name\": \"REMOVED\", \"Settable\": [\"value\"], \"Value\": \"4\"}," \
  "   {\"Name\": \"NULLUNSET\", \"Settable\": [\"value\"], \"Value\": null}," \
  "   {\"Name\": \"TONULL\", \"Settable\": [\"value\"], \"Value\": \"7\"}]," \
  " \"Mounts\": [" \
  "   {\"Name\": \"data\", \"Settable\": [\"source\"], \"Source\": \"/old/data\"," \
  "    \"Destination\": \"/data\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}," \
  "   {\"Name\": \"cache\", \"Settable\": [\"source\"], \"Source\": \"/old/cache\"," \
  "    \"Destination\": \"/cache\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}," \
  "   {\"Name\": \"gone\", \"Settable\": [\"source\"], \"Source\": \"/old/gone\"," \
  "    \"Destination\": \"/gone\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}]," \
  " \"Linux\": {\"Devices\": [" \
  "   {\"Name\": \"gpu\", \"Settable\": [\"path\"], \"Path\": \"/dev/dri/card0\"}," \
  "   {\"Name\": \"fuse\", \"Settable\": [\"path\"], \"Path\": \"/dev/fuse\"}]}," \
  " \"Args\": {\"Name\": \"args\", \"Settable\": [\"value\"], \"Value\": [\"-v\"]}}"

#define NEW_CONFIG_FMT \
  "{\"Entrypoint\": [\"/bin/plugin\"]," \
  " \"Env\": [" \
  "   {\"Name\": \"NEWVAR\", \"Settable\": [\"value\"], \"Value\": \"6\"}," \
  "   {\"Name\": \"UNCHANGED\", \"Settable\": [\"value\"], \"Value\": \"20\"}," \
  "   {\"Name\": \"CHANGED\", \"Settable\": [\"value\"], \"Value\": \"10\"}," \
  "   {\"Name\": \"NULLSET\", \"Settable\": [\"value\"], \"Value\": null}," \
  "   {\"Name\": \"NULLUNSET\", \"Settable\": [\"value\"], \"Value\": \"5\"}," \
  "   {\"Name\": \"TONULL\", \"Settable\": [\"value\"], \"Value\": null}]," \
  " \"Mounts\": [" \
  "   {\"Name\": \"cache\", \"Settable\": [\"source\"], \"Source\": \"/new/cache\"," \
  "    \"Destination\": \"/cache\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}," \
  "   {\"Name\": \"data\", \"Settable\": [\"source\"], \"Source\": \"/new/data\"," \
  "    \"Destination\": \"/srv/data\", \"Type\": \"bind\", \"Options\": [\"rbind\", \"ro\"]}," \
  "   {\"Name\": \"extra\", \"Settable\": [\"source\"], \"Source\": \"/new/extra\"," \
  "    \"Destination\": \"/extra\", \"Type\": \"bind\", \"Options\": [\"rbind\"]}]," \
  " \"Linux\": {\"Devices\": [" \
  "   {\"Name\": \"fuse\", \"Settable\": [\"path\"], \"Path\": \"/dev/fuse-new\"}," \
  "   {\"Name\": \"gpu\", \"Settable\": [\"path\"], \"Path\": \"/dev/dri/card9\"}," \
  "   {\"Name\": \"tty\", \"Settable\": [\"path\"], \"Path\": \"/dev/tty0\"}]}," \
  " \"Args\": {\"Name\": \"%s\", \"Settable\": [\"value\"], \"Value\": [\"-q\"]}}"

static PdConfigMount *
settings_mount (const PdPluginSettings *settings, const char *name)
{
  for (guint i = 0; i < settings->mounts->len; i++)
    {
      PdConfigMount *mount = settings->mounts->pdata[i];

      if (g_strcmp0 (mount->name, name) == 0)
        return mount;
    }
  return NULL;
}

static PdConfigDevice *
settings_device (const PdPluginSettings *settings, const char *name)
{
  for (guint i = 0; i < settings->devices->len; i++)
    {
      PdConfigDevice *device = settings->devices->pdata[i];

      if (g_strcmp0 (device->name, name) == 0)
        return device;
    }
  return NULL;
}

static PdConfigMount *
must_mount (const PdPluginSettings *settings, const char *name)
{
  PdConfigMount *mount = settings_mount (settings, name);

  /* g_assert (): the compiler knows it does not return */
  g_assert (mount != NULL);
  return mount;
}

static PdConfigDevice *
must_device (const PdPluginSettings *settings, const char *name)
{
  PdConfigDevice *device = settings_device (settings, name);

  g_assert (device != NULL);
  return device;
}

static void
set_env (PdPluginSettings *settings, const char *name, const char *value)
{
  g_autofree char *prefix = g_strdup_printf ("%s=", name);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  gboolean found = FALSE;

  for (guint i = 0; settings->env[i] != NULL; i++)
    {
      if (g_str_has_prefix (settings->env[i], prefix))
        {
          g_autofree char *entry = g_strconcat (prefix, value, NULL);
          g_strv_builder_add (builder, entry);
          found = TRUE;
        }
      else
        g_strv_builder_add (builder, settings->env[i]);
    }
  if (!found)
    {
      g_autofree char *entry = g_strconcat (prefix, value, NULL);
      g_strv_builder_add (builder, entry);
    }
  g_strfreev (settings->env);
  settings->env = g_strv_builder_end (builder);
}

/* the settings a user made on the old config, as a record from before user_set was kept has
 * them: what differs from the defaults counts as set by the user */
static PdPluginSettings *
user_settings (const PdPluginConfig *old_config)
{
  PdPluginSettings *settings = pd_plugin_settings_new_from_config (old_config);
  PdConfigMount *data, *gone;
  PdConfigDevice *gpu;

  set_env (settings, "CHANGED", "user");
  set_env (settings, "NULLSET", "mine");
  set_env (settings, "REMOVED", "still mine");
  set_env (settings, "TONULL", "kept");
  data = must_mount (settings, "data");
  g_free (data->source);
  data->source = g_strdup ("/home/me/data");
  gone = must_mount (settings, "gone");
  g_free (gone->source);
  gone->source = g_strdup ("/home/me/gone");
  gpu = must_device (settings, "gpu");
  g_free (gpu->path);
  gpu->path = g_strdup ("/dev/dri/card1");
  g_strfreev (settings->args);
  settings->args = g_strdupv ((char *[]) { "-x", "-y", NULL });
  pd_plugin_settings_restore_user_set (settings, old_config, NULL);
  g_assert_cmpstrv (settings->user_set, STRV ("env:CHANGED", "env:NULLSET", "env:REMOVED",
                                              "env:TONULL", "mount:data", "mount:gone",
                                              "device:gpu", "args:args"));
  return settings;
}

static void
test_merge (void)
{
  g_autoptr(PdPluginConfig) old_config = pd_test_parse_config (OLD_CONFIG);
  g_autofree char *new_json = g_strdup_printf (NEW_CONFIG_FMT, "args");
  g_autoptr(PdPluginConfig) new_config = pd_test_parse_config (new_json);
  g_autoptr(PdPluginSettings) old_settings = user_settings (old_config);
  g_autoptr(PdPluginSettings) before = pd_plugin_settings_copy (old_settings);
  g_autoptr(PdPluginSettings) merged = NULL;
  g_autoptr(JsonNode) before_json = NULL;
  g_autoptr(JsonNode) after_json = NULL;
  PdConfigMount *mount;
  PdConfigDevice *device;

  merged = pd_plugin_settings_merge (old_settings, new_config);
  g_assert_nonnull (merged);

  /* env, in the new config's order: the user's values kept (also over a new null default),
   * values left at the old default take the new one, new variables come with their default,
   * removed ones are gone even when the user had set them, null defaults stay unset */
  g_assert_cmpstrv (merged->env, STRV ("NEWVAR=6", "UNCHANGED=20", "CHANGED=user", "NULLSET=mine",
                                       "NULLUNSET=5", "TONULL=kept"));

  /* mounts by name, in the new config's order, with the new destination and options */
  g_assert_cmpuint (merged->mounts->len, ==, 3);
  mount = merged->mounts->pdata[0];
  g_assert_cmpstr (mount->name, ==, "cache");
  g_assert_cmpstr (mount->source, ==, "/new/cache");
  mount = merged->mounts->pdata[1];
  g_assert_cmpstr (mount->name, ==, "data");
  g_assert_cmpstr (mount->source, ==, "/home/me/data");
  g_assert_cmpstr (mount->destination, ==, "/srv/data");
  g_assert_cmpstrv (mount->options, STRV ("rbind", "ro"));
  mount = merged->mounts->pdata[2];
  g_assert_cmpstr (mount->name, ==, "extra");
  g_assert_cmpstr (mount->source, ==, "/new/extra");
  g_assert_null (settings_mount (merged, "gone"));

  /* devices by name */
  g_assert_cmpuint (merged->devices->len, ==, 3);
  device = merged->devices->pdata[0];
  g_assert_cmpstr (device->name, ==, "fuse");
  g_assert_cmpstr (device->path, ==, "/dev/fuse-new");
  device = merged->devices->pdata[1];
  g_assert_cmpstr (device->name, ==, "gpu");
  g_assert_cmpstr (device->path, ==, "/dev/dri/card1");
  device = merged->devices->pdata[2];
  g_assert_cmpstr (device->name, ==, "tty");
  g_assert_cmpstr (device->path, ==, "/dev/tty0");

  /* args the user changed, and the new config still calls them "args" */
  g_assert_cmpstrv (merged->args, STRV ("-x", "-y"));

  /* what was kept is still the user's; what the new config dropped is not */
  g_assert_cmpstrv (merged->user_set, STRV ("env:CHANGED", "env:NULLSET", "env:TONULL",
                                            "mount:data", "device:gpu", "args:args"));

  /* the inputs are left alone */
  before_json = pd_plugin_settings_to_json (before);
  after_json = pd_plugin_settings_to_json (old_settings);
  g_assert_true (json_node_equal (before_json, after_json));
}

/* args: a new name means new args; unchanged args take the new default */
static void
test_merge_args (void)
{
  g_autoptr(PdPluginConfig) old_config = pd_test_parse_config (OLD_CONFIG);
  g_autofree char *renamed_json = g_strdup_printf (NEW_CONFIG_FMT, "flags");
  g_autofree char *same_json = g_strdup_printf (NEW_CONFIG_FMT, "args");
  g_autoptr(PdPluginConfig) renamed = pd_test_parse_config (renamed_json);
  g_autoptr(PdPluginConfig) same = pd_test_parse_config (same_json);
  g_autoptr(PdPluginSettings) changed = user_settings (old_config);
  g_autoptr(PdPluginSettings) defaults = pd_plugin_settings_new_from_config (old_config);
  g_autoptr(PdPluginSettings) merged_renamed = pd_plugin_settings_merge (changed, renamed);
  g_autoptr(PdPluginSettings) merged_defaults = pd_plugin_settings_merge (defaults, same);
  g_autoptr(PdPluginSettings) new_defaults = pd_plugin_settings_new_from_config (same);
  g_autoptr(JsonNode) merged_json = NULL;
  g_autoptr(JsonNode) defaults_json = NULL;

  g_assert_cmpstrv (merged_renamed->args, STRV ("-q"));
  g_assert_false (g_strv_contains ((const char *const *) merged_renamed->user_set, "args:args"));
  g_assert_false (g_strv_contains ((const char *const *) merged_renamed->user_set, "args:flags"));
  /* the rest of the merge does not depend on the args' name */
  g_assert_cmpstr (must_mount (merged_renamed, "data")->source, ==, "/home/me/data");

  /* nothing changed by the user: exactly the new config's defaults */
  g_assert_cmpstrv (merged_defaults->args, STRV ("-q"));
  merged_json = pd_plugin_settings_to_json (merged_defaults);
  defaults_json = pd_plugin_settings_to_json (new_defaults);
  g_assert_true (json_node_equal (merged_json, defaults_json));
}

/* a value the user set equal to the old default is still the user's: the merge goes by what
 * was set, not by what differs (the comparison would hand it the new default) */
static void
test_merge_user_set (void)
{
  g_autoptr(PdPluginConfig) old_config = pd_test_parse_config (OLD_CONFIG);
  g_autofree char *new_json = g_strdup_printf (NEW_CONFIG_FMT, "args");
  g_autoptr(PdPluginConfig) new_config = pd_test_parse_config (new_json);
  g_autoptr(PdPluginSettings) defaults = pd_plugin_settings_new_from_config (old_config);
  g_autoptr(PdPluginSettings) set = NULL;
  g_autoptr(PdPluginSettings) merged = NULL;
  g_autoptr(PdPluginSettings) again = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpstrv (defaults->user_set, EMPTY_STRV);
  set = apply (defaults, old_config, &error, "CHANGED", "1", "data", "/old/data",
               "gpu.path", "/dev/dri/card0", "args", "-v", "REMOVED", "4", NULL);
  g_assert_no_error (error);
  g_assert_cmpstrv (set->user_set, STRV ("env:CHANGED", "mount:data", "device:gpu",
                                         "args:args", "env:REMOVED"));
  /* nothing differs from the defaults... */
  {
    g_autofree char *a = settings_data (set);
    g_autofree char *b = settings_data (defaults);
    g_assert_cmpstr (a, ==, b);
  }

  /* ...and yet the user's values stay, while what the user left takes the new defaults */
  merged = pd_plugin_settings_merge (set, new_config);
  g_assert_cmpstrv (merged->env, STRV ("NEWVAR=6", "UNCHANGED=20", "CHANGED=1", "NULLUNSET=5"));
  g_assert_cmpstr (must_mount (merged, "data")->source, ==, "/old/data");
  g_assert_cmpstr (must_mount (merged, "cache")->source, ==, "/new/cache");
  g_assert_cmpstr (must_device (merged, "gpu")->path, ==, "/dev/dri/card0");
  g_assert_cmpstr (must_device (merged, "fuse")->path, ==, "/dev/fuse-new");
  g_assert_cmpstrv (merged->args, STRV ("-v"));
  g_assert_cmpstrv (merged->user_set, STRV ("env:CHANGED", "mount:data", "device:gpu",
                                            "args:args"));

  /* and they stay the user's through the next upgrade */
  again = pd_plugin_settings_merge (merged, old_config);
  g_assert_cmpstrv (again->env, STRV ("CHANGED=1", "UNCHANGED=2", "REMOVED=4", "TONULL=7"));
  g_assert_cmpstr (must_mount (again, "data")->source, ==, "/old/data");
  g_assert_cmpstrv (again->user_set, STRV ("env:CHANGED", "mount:data", "device:gpu",
                                           "args:args"));

  /* without a Set, an upgrade gives exactly the new defaults */
  {
    g_autoptr(PdPluginSettings) plain = pd_plugin_settings_merge (defaults, new_config);
    g_autoptr(PdPluginSettings) new_defaults = pd_plugin_settings_new_from_config (new_config);
    g_autofree char *a = settings_data (plain);
    g_autofree char *b = settings_data (new_defaults);
    g_assert_cmpstr (a, ==, b);
    g_assert_cmpstrv (plain->user_set, EMPTY_STRV);
  }
}

/* what a record kept: only the settings the config declares, each once */
static void
test_restore_user_set (void)
{
  g_autoptr(PdPluginConfig) config = pd_test_parse_config (OLD_CONFIG);
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (config);
  const char *const kept[] = {
    "env:CHANGED", "env:NOPE", "mount:data", "bogus", "", "mount:", "device:fuse",
    "args:args", "env:CHANGED", "args:", "device:gpu:x", "ENV:UNCHANGED", NULL
  };

  pd_plugin_settings_restore_user_set (settings, config, kept);
  g_assert_cmpstrv (settings->user_set, STRV ("env:CHANGED", "mount:data", "device:fuse",
                                              "args:args"));
  /* an empty list is a list: nothing was set */
  pd_plugin_settings_restore_user_set (settings, config, EMPTY_STRV);
  g_assert_cmpstrv (settings->user_set, EMPTY_STRV);
  /* no list, and the defaults: nothing differs, so nothing was set */
  pd_plugin_settings_restore_user_set (settings, config, NULL);
  g_assert_cmpstrv (settings->user_set, EMPTY_STRV);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plugin-settings/init", test_settings_init);
  g_test_add_func ("/plugin-settings/json", test_settings_json);
  g_test_add_func ("/plugin-settings/apply/grammar", test_settings_apply_grammar);
  g_test_add_func ("/plugin-settings/apply/atomic", test_settings_apply_atomic);
  g_test_add_func ("/plugin-settings/apply/paths", test_settings_apply_paths);
  g_test_add_func ("/plugin-settings/privileges", test_settings_privileges);
  g_test_add_func ("/plugin-settings/describe", test_settings_describe);
  g_test_add_func ("/plugin-settings/limits", test_settings_limits);
  g_test_add_func ("/plugin-settings/merge/all", test_merge);
  g_test_add_func ("/plugin-settings/merge/args", test_merge_args);
  g_test_add_func ("/plugin-settings/merge/user-set", test_merge_user_set);
  g_test_add_func ("/plugin-settings/restore-user-set", test_restore_user_set);

  return g_test_run ();
}
