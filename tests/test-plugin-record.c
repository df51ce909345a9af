/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The installed plugin's record (pd-plugin-record.c): its properties and their notifications,
 * plugin.json written and read back, what a damaged record is, Docker's Plugin JSON with and
 * without the values of its settings, and the record of an upgrade.
 */
#include "config.h"

#define G_LOG_DOMAIN "test-plugin-record"

#include <string.h>

#include <json-glib/json-glib.h>

#include "pd-error.h"
#include "pd-json.h"
#include "pd-plugin-config.h"
#include "pd-plugin-record.h"
#include "pd-test-store.h"
#include "pd-test-utils.h"

static void
count_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
test_record_round_trip (void)
{
  g_autoptr(GError) error = NULL;
  const char *layers[] = {
    "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "sha256:2222222222222222222222222222222222222222222222222222222222222222",
    NULL
  };
  g_autoptr(PdPluginRecord) record = NULL;
  g_autoptr(PdPluginRecord) copy = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(GPtrArray) privileges = NULL;
  g_autofree char *data = NULL;
  g_autofree char *data2 = NULL;
  gsize len = 0, len2 = 0;
  guint enabled_notifies = 0, settings_notifies = 0, updated_notifies = 0;

  record = pd_plugin_record_new (ID_A, "test/plugin:latest", "docker.io/test/plugin:latest",
                                 pd_test_make_config (),
                                 "sha256:3333333333333333333333333333333333333333333333333333333333333333",
                                 "sha256:4444444444444444444444444444444444444444444444444444444444444444",
                                 layers);
  g_signal_connect (record, "notify::enabled", G_CALLBACK (count_notify), &enabled_notifies);
  g_signal_connect (record, "notify::settings", G_CALLBACK (count_notify), &settings_notifies);
  g_signal_connect (record, "notify::updated", G_CALLBACK (count_notify), &updated_notifies);

  g_assert_cmpuint (pd_plugin_record_get_created (record), >, 0);
  g_assert_cmpuint (pd_plugin_record_get_updated (record), ==,
                    pd_plugin_record_get_created (record));
  pd_plugin_record_set_enabled (record, TRUE);
  pd_plugin_record_set_enabled (record, TRUE);
  g_assert_cmpuint (enabled_notifies, ==, 1);
  pd_plugin_record_set_updated (record, 42);
  g_assert_cmpuint (updated_notifies, ==, 1);
  settings = pd_plugin_settings_copy (pd_plugin_record_get_settings (record));
  pd_plugin_record_set_settings (record, g_steal_pointer (&settings));
  g_assert_cmpuint (settings_notifies, ==, 1);
  g_object_set (record, "enabled", FALSE, NULL);
  g_assert_cmpuint (enabled_notifies, ==, 2);

  privileges = pd_plugin_record_dup_privileges (record);
  g_assert_nonnull (privileges);
  g_assert_cmpuint (privileges->len, >, 0);

  data = pd_plugin_record_to_data (record, &len);
  g_assert_nonnull (strstr (data, "\"version\" : 1"));
  copy = pd_plugin_record_new_from_data (data, len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (pd_plugin_record_get_id (copy), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (copy), ==, "test/plugin:latest");
  g_assert_cmpstr (pd_plugin_record_get_reference (copy), ==, "docker.io/test/plugin:latest");
  g_assert_cmpstr (pd_plugin_record_get_config_digest (copy), ==,
                   pd_plugin_record_get_config_digest (record));
  g_assert_cmpstr (pd_plugin_record_get_manifest_digest (copy), ==,
                   pd_plugin_record_get_manifest_digest (record));
  g_assert_cmpstrv (pd_plugin_record_get_layer_digests (copy), layers);
  g_assert_false (pd_plugin_record_get_enabled (copy));
  g_assert_cmpuint (pd_plugin_record_get_updated (copy), ==, 42);
  g_assert_cmpuint (pd_plugin_record_get_created (copy), ==,
                    pd_plugin_record_get_created (record));
  g_assert_cmpstr (pd_plugin_record_get_config (copy)->description, ==, "a test plugin");
  data2 = pd_plugin_record_to_data (copy, &len2);
  g_assert_cmpstr (data, ==, data2);
}

static void
test_record_invalid (void)
{
  g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autofree char *good = pd_plugin_record_to_data (record, NULL);
  struct {
    const char *from;
    const char *to;
  } mutations[] = {
    { "\"version\" : 1", "\"version\" : 2" },
    { "\"version\" : 1", "\"version\" : \"1\"" },
    { "\"id\" : \"" ID_A "\"", "\"id\" : \"" ID_A "0\"" },
    { "\"id\" : \"" ID_A "\"", "\"id\" : \"../../../../etc/passwd\"" },
    { "\"id\" : \"" ID_A "\"", "\"id\" : 12" },
    { "\"name\" : \"test/plugin:latest\"", "\"name\" : \"\"" },
    { "\"name\" : \"test/plugin:latest\"", "\"name\" : \"a\\nb\"" },
    { "\"name\" : \"test/plugin:latest\"", "\"name\" : null" },
    { "\"enabled\" : false", "\"enabled\" : \"no\"" },
    { "\"layers\" : [", "\"layers\" : [\"md5:abc\"," },
    { "\"layers\" : [", "\"layers\" : {}, \"x\" : [" },
    { "\"settings\" : {", "\"settings\" : 1, \"x\" : {" },
    { "\"config\" : {", "\"config\" : [], \"x\" : {" },
    { "\"created\" : ", "\"created\" : -1, \"x\" : " },
    { "\"user-set\" : [", "\"user-set\" : {}, \"x\" : [" },
    { "\"user-set\" : [", "\"user-set\" : [1" },
    { "\"user-set\" : [", "\"user-set\" : [null" },
    /* the config declares three settings (DEBUG, data, args): four names are not ours */
    { "\"user-set\" : [", "\"user-set\" : [\"env:DEBUG\", \"env:DEBUG\", \"args:args\", "
                          "\"args:args\"" },
  };

  g_assert_nonnull (good);
  for (gsize i = 0; i < G_N_ELEMENTS (mutations); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GString) bad = g_string_new (good);
      g_autoptr(PdPluginRecord) parsed = NULL;
      guint n;

      n = g_string_replace (bad, mutations[i].from, mutations[i].to, 1);
      g_assert_cmpuint (n, ==, 1);
      parsed = pd_plugin_record_new_from_data (bad->str, bad->len, &error);
      g_assert_null (parsed);
      g_assert_nonnull (error);
      g_assert_true (error->domain == PD_ERROR);
    }

  /* truncations, garbage and embedded NULs */
  for (gsize len = 0; len < strlen (good); len += 7)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(PdPluginRecord) parsed = pd_plugin_record_new_from_data (good, len, &error);

      g_assert_null (parsed);
      g_assert_nonnull (error);
    }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(PdPluginRecord) parsed = pd_plugin_record_new_from_data ("{}\0{}", 5, &error);
    g_assert_null (parsed);
    g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG);
  }
}

/* the config of a record is validated from the tree json-glib built of the record: it is
 * accepted or refused exactly as when it was written out and scanned again on its own (keys
 * equal but for case refused at any depth, numbers of every form, equal keys of which
 * json-glib keeps one) */
static void
test_record_config_parsed_once (void)
{
  g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autofree char *good = pd_plugin_record_to_data (record, NULL);
  const char *extras[] = {
    "\"description\" : \"x\"",
    "\"x-a\" : 1, \"X-A\" : 2",
    "\"x-a\" : {\"b\" : [{\"c\" : 1, \"C\" : 2}]}",
    "\"x-a\" : [1.5, 1e3, -0, 1E-7, 12345678901234567890, 1e400, true, null, \"\\u00e9\\n\"]",
    "\"x-a\" : 1, \"x-a\" : 2",
    "\"x-a\" : {}, \"x-b\" : []",
  };
  gboolean refused_before[G_N_ELEMENTS (extras)];
  guint n_refused = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (extras); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GString) text = g_string_new (good);
      g_autofree char *replacement = g_strdup_printf ("\"config\" : {%s, ", extras[i]);
      g_autoptr(JsonNode) root = NULL;
      g_autofree char *config_text = NULL;
      g_autoptr(PdPluginConfig) config = NULL;
      g_autoptr(PdPluginRecord) parsed = NULL;

      g_assert_cmpuint (g_string_replace (text, "\"config\" : {", replacement, 1), ==, 1);
      /* the way records were read before: the config written out and scanned again */
      root = pd_json_parse (text->str, text->len, PD_PLUGIN_RECORD_MAX_SIZE, &error);
      g_assert_no_error (error);
      config_text = json_to_string (json_object_get_member (json_node_get_object (root), "config"),
                                    FALSE);
      config = pd_plugin_config_new_from_data (config_text, strlen (config_text), NULL);
      refused_before[i] = config == NULL;

      parsed = pd_plugin_record_new_from_data (text->str, text->len, &error);
      g_test_message ("%s: %s", extras[i], error != NULL ? error->message : "accepted");
      if (refused_before[i])
        {
          g_assert_null (parsed);
          g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG);
          n_refused++;
        }
      else
        {
          g_assert_no_error (error);
          g_assert_nonnull (parsed);
        }
    }
  /* both kinds were met */
  g_assert_cmpuint (n_refused, >=, 3);
  g_assert_cmpuint (n_refused, <, G_N_ELEMENTS (extras));
}

/* a record is read at every daemon start: deep nesting (an unknown key holding 100,000 '[')
 * is refused with an error, never parsed recursively */
static void
test_record_deep_nesting (void)
{
  g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autofree char *good = pd_plugin_record_to_data (record, NULL);
  g_autoptr(GString) bad = g_string_new (good);
  g_autoptr(GString) deep = g_string_new ("\"x\" : ");
  g_autoptr(PdPluginRecord) parsed = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (deep, ']');
  g_string_append (deep, ", \"version\" : 1");
  g_assert_cmpuint (g_string_replace (bad, "\"version\" : 1", deep->str, 1), ==, 1);
  parsed = pd_plugin_record_new_from_data (bad->str, bad->len, &error);
  g_assert_null (parsed);
  g_assert_error (error, PD_ERROR, PD_ERROR_INVALID_CONFIG);
  g_test_message ("%s", error->message);

  /* the record as written still loads */
  g_clear_error (&error);
  g_clear_object (&parsed);
  parsed = pd_plugin_record_new_from_data (good, strlen (good), &error);
  g_assert_no_error (error);
  g_assert_nonnull (parsed);
}

static void
test_record_docker_json (void)
{
  g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autoptr(PdPluginRecord) local = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GList) members = NULL;
  g_autofree char *json = NULL;
  g_autofree char *local_json = NULL;
  const char *expected_order[] = { "Config", "Enabled", "Id", "Name", "PluginReference", "Settings" };
  const char *settings_order[] = { "Args", "Devices", "Env", "Mounts" };
  JsonObject *root, *settings;
  GList *l;
  gsize i;

  json = pd_plugin_record_to_docker_json (record, TRUE);
  g_assert_true (g_str_has_prefix (json, "{\"Config\":{"));
  /* Go's encoder escapes < > & */
  g_assert_null (strchr (json, '<'));
  g_assert_nonnull (strstr (json, "data \\u003cdir\\u003e"));

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  members = json_object_get_members (root);
  for (l = members, i = 0; l != NULL; l = l->next, i++)
    {
      g_assert_cmpuint (i, <, G_N_ELEMENTS (expected_order));
      g_assert_cmpstr (l->data, ==, expected_order[i]);
    }
  g_assert_cmpuint (i, ==, G_N_ELEMENTS (expected_order));
  g_assert_cmpstr (json_object_get_string_member (root, "Id"), ==, ID_A);
  g_assert_cmpstr (json_object_get_string_member (root, "Name"), ==, "test/plugin:latest");
  g_assert_cmpstr (json_object_get_string_member (root, "PluginReference"), ==,
                   "docker.io/test/plugin:latest");
  g_assert_false (json_object_get_boolean_member (root, "Enabled"));
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (root, "Config"),
                                                  "Description"), ==, "a test plugin");

  settings = json_object_get_object_member (root, "Settings");
  g_clear_pointer (&members, g_list_free);
  members = json_object_get_members (settings);
  for (l = members, i = 0; l != NULL; l = l->next, i++)
    g_assert_cmpstr (l->data, ==, settings_order[i]);
  g_assert_cmpuint (i, ==, G_N_ELEMENTS (settings_order));
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (settings, "Env"), 0),
                   ==, "DEBUG=0");

  /* exactly json.Marshal's output for the same members: compact, HTML-escaped, in order */
  {
    g_autofree char *again = pd_json_to_go_data (json_parser_get_root (parser), NULL);
    g_assert_cmpstr (again, ==, json);
  }

  /* a created plugin (no remote) shows its name as PluginReference, as Docker does */
  local = pd_plugin_record_new (ID_B, "test/local:latest", NULL, pd_test_make_config (), NULL, NULL, NULL);
  local_json = pd_plugin_record_to_docker_json (local, TRUE);
  g_assert_nonnull (strstr (local_json, "\"PluginReference\":\"test/local:latest\""));
  g_assert_null (pd_plugin_record_get_remote (local));

  /* what Go escapes beyond JSON: < > & and the JavaScript line separators */
  {
    g_autoptr(PdPluginRecord) odd = pd_plugin_record_new (ID_C, "a<b>&c\u2028d\u2029\"e\\",
                                                          NULL, pd_test_make_config (), NULL, NULL,
                                                          NULL);
    g_autofree char *odd_json = pd_plugin_record_to_docker_json (odd, TRUE);

    g_assert_nonnull (strstr (odd_json,
                              "\"Name\":\"a\\u003cb\\u003e\\u0026c\\u2028d\\u2029\\\"e\\\\\""));
  }
}

/* the "user-set" member of the record @data, as compact JSON */
static char *
record_user_set (const char *data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = json_from_string (data, &error);
  JsonNode *node;

  g_assert_no_error (error);
  node = json_object_get_member (json_node_get_object (root), "user-set");
  return node != NULL ? json_to_string (node, FALSE) : NULL;
}

/* which settings the user set: kept in the record, through a reload, even a value equal to the
 * default; inferred from the values for a record written before the list was kept */
static void
test_record_user_set (void)
{
  g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autoptr(GPtrArray) changes = pd_settings_changes_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(PdPluginRecord) copy = NULL;
  g_autoptr(GString) old = NULL;
  g_autofree char *data = NULL;

  /* a record nobody set anything on */
  data = pd_plugin_record_to_data (record, NULL);
  {
    g_autofree char *user_set = record_user_set (data);
    g_assert_cmpstr (user_set, ==, "[]");
  }
  g_clear_pointer (&data, g_free);

  /* DEBUG set to its default: nothing differs, and it is the user's all the same */
  pd_settings_changes_add (changes, "DEBUG", "0");
  pd_settings_changes_add (changes, "data", "/srv");
  settings = pd_plugin_settings_apply (pd_plugin_record_get_settings (record),
                                       pd_plugin_record_get_config (record), changes, &error);
  g_assert_no_error (error);
  pd_plugin_record_set_settings (record, g_steal_pointer (&settings));
  data = pd_plugin_record_to_data (record, NULL);
  copy = pd_plugin_record_new_from_data (data, strlen (data), &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (pd_plugin_record_get_settings (copy)->user_set,
                    STRV ("env:DEBUG", "mount:data"));
  g_clear_object (&copy);

  /* a name the config does not declare (a damaged or edited record) is dropped */
  old = g_string_new (data);
  g_assert_cmpuint (g_string_replace (old, "\"env:DEBUG\"", "\"env:NOPE\", \"args:args\"", 1),
                    ==, 1);
  copy = pd_plugin_record_new_from_data (old->str, old->len, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (pd_plugin_record_get_settings (copy)->user_set,
                    STRV ("args:args", "mount:data"));
  g_clear_object (&copy);
  g_string_free (g_steal_pointer (&old), TRUE);

  /* written before the list was kept: what differs from the defaults was set (DEBUG=0 is the
   * default, so the comparison cannot tell; only the mount counts) */
  old = g_string_new (data);
  g_assert_cmpuint (g_string_replace (old, "\"user-set\" :", "\"x-user-set\" :", 1), ==, 1);
  copy = pd_plugin_record_new_from_data (old->str, old->len, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (pd_plugin_record_get_settings (copy)->user_set, STRV ("mount:data"));
  /* and from its next save on, the record has the list */
  g_clear_pointer (&data, g_free);
  data = pd_plugin_record_to_data (copy, NULL);
  {
    g_autofree char *user_set = record_user_set (data);
    g_assert_cmpstr (user_set, ==, "[\"mount:data\"]");
  }
}

/* without show_values: Docker's shape, every env value and arg hidden, mounts as they are */
static void
test_record_docker_json_hidden (void)
{
  g_autoptr(PdPluginRecord) record = pd_test_make_record (ID_A, "test/plugin:latest", NULL, NULL, NULL);
  g_autoptr(GPtrArray) changes = pd_settings_changes_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginSettings) settings = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *json = NULL;
  g_autofree char *shown = NULL;
  JsonObject *doc;
  JsonArray *env, *args;

  pd_settings_changes_add (changes, "DEBUG", "pass=word");
  pd_settings_changes_add (changes, "args", "--key s3cret");
  settings = pd_plugin_settings_apply (pd_plugin_record_get_settings (record),
                                       pd_plugin_record_get_config (record), changes, &error);
  g_assert_no_error (error);
  pd_plugin_record_set_settings (record, g_steal_pointer (&settings));

  json = pd_plugin_record_to_docker_json (record, FALSE);
  g_assert_null (strstr (json, "pass=word"));
  g_assert_null (strstr (json, "s3cret"));
  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  doc = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)),
                                       "Settings");
  env = json_object_get_array_member (doc, "Env");
  g_assert_cmpuint (json_array_get_length (env), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (env, 0), ==, "DEBUG=" PD_HIDDEN_VALUE);
  args = json_object_get_array_member (doc, "Args");
  g_assert_cmpuint (json_array_get_length (args), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (args, 0), ==, PD_HIDDEN_VALUE);
  g_assert_cmpstr (json_array_get_string_element (args, 1), ==, PD_HIDDEN_VALUE);
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (json_object_get_array_member (doc, "Mounts"),
                                                    0), "Source"), ==, "/var/lib/data");
  /* Go's encoder escapes the brackets */
  g_assert_nonnull (strstr (json, "\"DEBUG=\\u003chidden\\u003e\""));

  /* the record itself is unchanged, and shows the values on request */
  shown = pd_plugin_record_to_docker_json (record, TRUE);
  g_assert_nonnull (strstr (shown, "\"DEBUG=pass=word\""));
  g_assert_nonnull (strstr (shown, "\"--key\",\"s3cret\""));
}

/* a record without a remote (a created plugin): its name as Reference, no remote, and no
 * "reference" on disk */
static void
test_record_no_reference (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PdPluginRecord) record = NULL;
  g_autoptr(PdPluginRecord) copy = NULL;
  g_autoptr(PdPluginRecord) empty = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;

  record = pd_plugin_record_new (ID_A, "test/local:latest", NULL, pd_test_make_config (), NULL, NULL, NULL);
  g_assert_cmpstr (pd_plugin_record_get_reference (record), ==, "test/local:latest");
  g_assert_null (pd_plugin_record_get_remote (record));
  data = pd_plugin_record_to_data (record, &len);
  g_assert_null (strstr (data, "\"reference\""));
  copy = pd_plugin_record_new_from_data (data, len, &error);
  g_assert_no_error (error);
  g_assert_null (pd_plugin_record_get_remote (copy));

  /* "" is stored as no reference at all */
  empty = pd_plugin_record_new (ID_B, "test/local:latest", "", pd_test_make_config (), NULL, NULL, NULL);
  g_assert_null (pd_plugin_record_get_remote (empty));
  g_clear_pointer (&data, g_free);
  data = pd_plugin_record_to_data (empty, NULL);
  g_assert_null (strstr (data, "\"reference\""));
}

/* section: upgrades */

static void
collect_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  GPtrArray *names = user_data;

  g_ptr_array_add (names, g_strdup (pspec->name));
}

static void
test_record_upgraded (void)
{
  g_autoptr(PdPluginRecord) old = pd_plugin_record_new (ID_A, "test/plugin:latest",
                                                        "docker.io/test/plugin:1",
                                                        pd_test_level_config ("version 1", "low"),
                                                        DIGEST_1, DIGEST_2,
                                                        STRV (DIGEST_3));
  g_autoptr(PdPluginRecord) upgraded = NULL;
  g_autoptr(PdPluginConfig) new_config = pd_test_level_config ("version 2", "high");
  g_autoptr(PdPluginSettings) settings = pd_plugin_settings_new_from_config (new_config);
  g_autoptr(GPtrArray) notified = g_ptr_array_new_with_free_func (g_free);
  const PdPluginSettings *taken_settings;
  guint64 created = pd_plugin_record_get_created (old);

  pd_plugin_record_set_enabled (old, TRUE);
  /* the clock moves on between install and upgrade */
  g_usleep (2000);
  g_free (settings->env[0]);
  settings->env[0] = g_strdup ("LEVEL=user");
  upgraded = pd_plugin_record_new_upgraded (old, "docker.io/test/plugin:2",
                                            pd_plugin_config_copy (new_config), DIGEST_4,
                                            DIGEST_5, STRV (DIGEST_6, DIGEST_1),
                                            pd_plugin_settings_copy (settings));

  /* the same plugin */
  g_assert_cmpstr (pd_plugin_record_get_id (upgraded), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (upgraded), ==, "test/plugin:latest");
  g_assert_cmpuint (pd_plugin_record_get_created (upgraded), ==, created);
  g_assert_true (pd_plugin_record_get_enabled (upgraded));
  /* another image, with the settings given */
  g_assert_cmpstr (pd_plugin_record_get_reference (upgraded), ==, "docker.io/test/plugin:2");
  g_assert_cmpstr (pd_plugin_record_get_config (upgraded)->description, ==, "version 2");
  g_assert_cmpstr (pd_plugin_record_get_config_digest (upgraded), ==, DIGEST_4);
  g_assert_cmpstr (pd_plugin_record_get_manifest_digest (upgraded), ==, DIGEST_5);
  g_assert_cmpstrv ((char **) pd_plugin_record_get_layer_digests (upgraded),
                    STRV (DIGEST_6, DIGEST_1));
  g_assert_cmpstr (pd_plugin_record_get_settings (upgraded)->env[0], ==, "LEVEL=user");
  g_assert_cmpuint (pd_plugin_record_get_updated (upgraded), >, created);
  /* the old record is untouched so far */
  g_assert_cmpstr (pd_plugin_record_get_reference (old), ==, "docker.io/test/plugin:1");
  g_assert_cmpstr (pd_plugin_record_get_settings (old)->env[0], ==, "LEVEL=low");

  /* a disabled plugin stays disabled */
  {
    g_autoptr(PdPluginRecord) disabled = pd_plugin_record_new (ID_B, "b:latest", NULL,
                                                               pd_test_level_config ("b", "b"),
                                                               NULL, NULL, NULL);
    g_autoptr(PdPluginRecord) disabled_upgraded =
      pd_plugin_record_new_upgraded (disabled, NULL, pd_test_level_config ("b2", "b2"), NULL, NULL,
                                     NULL, pd_plugin_settings_copy (settings));

    g_assert_false (pd_plugin_record_get_enabled (disabled_upgraded));
    g_assert_cmpstr (pd_plugin_record_get_id (disabled_upgraded), ==, ID_B);
  }

  /* take_image: the live record gets the image, config and settings, as copies */
  g_signal_connect (old, "notify", G_CALLBACK (collect_notify), notified);
  pd_plugin_record_take_image (old, upgraded);
  g_clear_object (&upgraded);
  g_assert_cmpstr (pd_plugin_record_get_id (old), ==, ID_A);
  g_assert_cmpstr (pd_plugin_record_get_name (old), ==, "test/plugin:latest");
  g_assert_true (pd_plugin_record_get_enabled (old));
  g_assert_cmpuint (pd_plugin_record_get_created (old), ==, created);
  g_assert_cmpstr (pd_plugin_record_get_reference (old), ==, "docker.io/test/plugin:2");
  g_assert_cmpstr (pd_plugin_record_get_config (old)->description, ==, "version 2");
  g_assert_cmpstr (pd_plugin_record_get_config (old)->env->len > 0
                     ? ((PdConfigEnv *) pd_plugin_record_get_config (old)->env->pdata[0])->value
                     : NULL, ==, "high");
  g_assert_cmpstr (pd_plugin_record_get_config_digest (old), ==, DIGEST_4);
  g_assert_cmpstr (pd_plugin_record_get_manifest_digest (old), ==, DIGEST_5);
  g_assert_cmpstrv ((char **) pd_plugin_record_get_layer_digests (old),
                    STRV (DIGEST_6, DIGEST_1));
  taken_settings = pd_plugin_record_get_settings (old);
  g_assert_cmpstr (taken_settings->env[0], ==, "LEVEL=user");
  g_assert_cmpuint (pd_plugin_record_get_updated (old), >, created);
  /* the D-Bus layer follows settings and updated */
  g_assert_true (g_ptr_array_find_with_equal_func (notified, "settings", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (notified, "updated", g_str_equal, NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plugin-record/round-trip", test_record_round_trip);
  g_test_add_func ("/plugin-record/invalid", test_record_invalid);
  g_test_add_func ("/plugin-record/deep-nesting", test_record_deep_nesting);
  g_test_add_func ("/plugin-record/config-parsed-once", test_record_config_parsed_once);
  g_test_add_func ("/plugin-record/docker-json", test_record_docker_json);
  g_test_add_func ("/plugin-record/docker-json-hidden", test_record_docker_json_hidden);
  g_test_add_func ("/plugin-record/no-reference", test_record_no_reference);
  g_test_add_func ("/plugin-record/user-set", test_record_user_set);
  g_test_add_func ("/plugin-record/upgraded", test_record_upgraded);

  return g_test_run ();
}
