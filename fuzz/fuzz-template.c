/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pluginctl's Go templates (the user's own text, but the parser and evaluator must hold for
 * any of it) over a plugin as the daemon describes it, a row and a header of `ls`, and the
 * tabwriter over what came out: no crash, no leak, a bounded run, and a failed run leaves
 * the output as it was. */
#include "config.h"

#include "ctl-format.h"
#include "ctl-template.h"
#include "fuzz-common.h"
#include "pd-json.h"

static const char plugin_json[] =
  "{\"Config\":{\"Args\":{\"Description\":\"a\",\"Name\":\"args\",\"Settable\":[\"value\"],"
  "\"Value\":[\"--x\",\"y\"]},\"Description\":\"A <test> & \\\"plugin\\\"\\n\\u001b[2J\","
  "\"DockerVersion\":\"20.10.24\",\"Documentation\":\"https://example.com/doc?a=1&b=2\","
  "\"Entrypoint\":[\"/bin/busybox\",\"sleep\"],\"Env\":[{\"Description\":\"debug\","
  "\"Name\":\"DEBUG\",\"Settable\":[\"value\"],\"Value\":\"0\"},{\"Description\":\"nv\","
  "\"Name\":\"NOVAL\",\"Settable\":[\"value\"],\"Value\":null}],\"Interface\":{\"Socket\":"
  "\"t.sock\",\"Types\":[\"docker.volumedriver/1.0\",\"x\"]},\"IpcHost\":false,\"Linux\":"
  "{\"AllowAllDevices\":false,\"Capabilities\":[\"CAP_SYS_ADMIN\"],\"Devices\":[{"
  "\"Description\":\"\",\"Name\":\"fuse\",\"Path\":\"/dev/fuse\",\"Settable\":null}]},"
  "\"Mounts\":[{\"Description\":\"ns\",\"Destination\":\"/x\",\"Name\":\"nosrc\",\"Options\":"
  "null,\"Settable\":[\"source\"],\"Source\":null,\"Type\":\"bind\"}],\"Network\":{\"Type\":"
  "\"host\"},\"PidHost\":false,\"PropagatedMount\":\"\",\"User\":{\"UID\":7},\"WorkDir\":\"\","
  "\"rootfs\":{\"diff_ids\":[\"sha256:8bb5\"],\"type\":\"layers\"}},\"Enabled\":false,"
  "\"Id\":\"894f82319226\",\"Name\":\"me/p:1\",\"PluginReference\":\"me/p:1\",\"Settings\":"
  "{\"Args\":[\"--x\",\"y\"],\"Devices\":[],\"Env\":[\"DEBUG=0\"],\"Mounts\":[]},"
  "\"Extra\":[1,2.5,-0.0,1e300,{\"a\":[[[\"deep\"]]]}]}";
static const char row_json[] =
  "{\"Description\":\"A <test>\\tsecond\",\"Enabled\":true,\"ID\":\"894f82319226\","
  "\"Name\":\"me/p:1\",\"PluginReference\":\"me/p:1\",\"State\":\"running\"}";

static JsonNode *plugin;
static JsonNode *row;

void
fuzz_setup (void)
{
  plugin = pd_json_parse (plugin_json, strlen (plugin_json), 1 << 20, NULL);
  row = pd_json_parse (row_json, strlen (row_json), 1 << 20, NULL);
  if (plugin == NULL || row == NULL)
    abort ();
}

static void
run (CtlTemplate *tmpl, JsonNode *data, CtlTemplateData kind)
{
  g_autoptr(GString) out = g_string_new ("x");
  g_autoptr(GError) error = NULL;

  if (!ctl_template_execute (tmpl, data, kind, out, &error))
    {
      if (error == NULL || error->domain != CTL_TEMPLATE_ERROR)
        abort ();
      /* only a header keeps what it printed before an error */
      if (kind != CTL_TEMPLATE_DATA_LIST_HEADER && strcmp (out->str, "x") != 0)
        abort ();
    }
  if (out->len > CTL_TEMPLATE_MAX_OUTPUT + 1)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);
  g_autoptr(CtlTemplate) tmpl = NULL;
  g_autoptr(CtlTemplate) list = NULL;
  g_autoptr(GPtrArray) rows = g_ptr_array_new ();
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GString) table = g_string_new (NULL);
  gboolean is_table;

  tmpl = ctl_template_parse (text, NULL);
  if (tmpl != NULL)
    {
      run (tmpl, plugin, CTL_TEMPLATE_DATA_PLUGIN);
      run (tmpl, row, CTL_TEMPLATE_DATA_LIST_ROW);
      run (tmpl, row, CTL_TEMPLATE_DATA_LIST_HEADER);
    }
  list = ctl_parse_list_format (text, FALSE, &is_table, NULL);
  if (list != NULL)
    {
      g_ptr_array_add (rows, row);
      g_ptr_array_add (rows, row);
      if (ctl_format_list (list, is_table, rows, out, NULL))
        ctl_tabwriter_format (table, out->str, out->len);
    }
  return 0;
}
