/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "ctl-format.h"
#include "ctl-template.h"
#include "pd-json.h"

/* pluginctl's Go templates. The expected outputs and messages are what docker 20.10 printed
 * for the same template over the same plugin (`docker plugin inspect -f`, `docker plugin ls
 * --format`), but where docker prints a pointer's address and for what pluginctl refuses. */

#define PARSE CTL_TEMPLATE_ERROR_PARSE
#define EXEC CTL_TEMPLATE_ERROR_EXEC
#define LIMIT CTL_TEMPLATE_ERROR_LIMIT

typedef struct {
  const char *template;
  const char *output; /* NULL: an error */
  const char *error;
  int code;
} Case;

/* `docker plugin inspect` of a plugin `docker plugin create` made, as {{json .}} wrote it */
static const char plugin_json[] =
  "{\"Config\":{\"Args\":{\"Description\":\"a\",\"Name\":\"args\",\"Settable\":[\"value\"],"
  "\"Value\":[\"--x\",\"y\"]},\"Description\":\"A <test> & \\\"plugin\\\"\\nsecond line\",\""
  "DockerVersion\":\"20.10.24+dfsg1\",\"Documentation\":\"https://example.com/doc?a=1&b=2\""
  ",\"Entrypoint\":[\"/bin/busybox\",\"sleep\",\"1000\"],\"Env\":[{\"Description\":\"debug\""
  ",\"Name\":\"DEBUG\",\"Settable\":[\"value\"],\"Value\":\"0\"},{\"Description\":\"nv\",\""
  "Name\":\"NOVAL\",\"Settable\":[\"value\"],\"Value\":null}],\"Interface\":{\"Socket\":\"t"
  ".sock\",\"Types\":[\"docker.volumedriver/1.0\"]},\"IpcHost\":false,\"Linux\":{\"AllowAll"
  "Devices\":false,\"Capabilities\":[\"CAP_SYS_ADMIN\"],\"Devices\":[{\"Description\":\"\","
  "\"Name\":\"fuse\",\"Path\":\"/dev/fuse\",\"Settable\":null}]},\"Mounts\":[{\"Description"
  "\":\"d\",\"Destination\":\"/data\",\"Name\":\"data\",\"Options\":[\"rbind\"],\"Settable\""
  ":[\"source\"],\"Source\":\"/tmp\",\"Type\":\"bind\"},{\"Description\":\"ns\",\"Destinati"
  "on\":\"/x\",\"Name\":\"nosrc\",\"Options\":null,\"Settable\":[\"source\"],\"Source\":nul"
  "l,\"Type\":\"bind\"}],\"Network\":{\"Type\":\"host\"},\"PidHost\":false,\"PropagatedMoun"
  "t\":\"\",\"User\":{},\"WorkDir\":\"\",\"rootfs\":{\"diff_ids\":[\"sha256:8bb53957d056485"
  "da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46\"],\"type\":\"layers\"}},\"Enabled\":f"
  "alse,\"Id\":\"894f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1\",\"Name\""
  ":\"me/p:1\",\"PluginReference\":\"me/p:1\",\"Settings\":{\"Args\":[\"--x\",\"y\"],\"Devi"
  "ces\":[{\"Description\":\"\",\"Name\":\"fuse\",\"Path\":\"/dev/fuse\",\"Settable\":null}"
  "],\"Env\":[\"DEBUG=0\"],\"Mounts\":[{\"Description\":\"d\",\"Destination\":\"/data\",\"N"
  "ame\":\"data\",\"Options\":[\"rbind\"],\"Settable\":[\"source\"],\"Source\":\"/tmp\",\"T"
  "ype\":\"bind\"},{\"Description\":\"ns\",\"Destination\":\"/x\",\"Name\":\"nosrc\",\"Opti"
  "ons\":null,\"Settable\":[\"source\"],\"Source\":null,\"Type\":\"bind\"}]}}";

/* docker's output for these, but the marked ones */
static const Case inspect_cases[] = {
  { "{{.Name}}",
    "me/p:1" },
  { "{{.ID}}",
    "894f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1" },
  { "{{.Id}}",
    "894f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1" },
  { "{{.Enabled}}",
    "false" },
  { "{{.Config.Description}}",
    "A <test> & \"plugin\"\nsecond line" },
  { "{{json .Config.Description}}",
    "\"A <test> & \\\"plugin\\\"\\nsecond line\"" },
  { "{{json .Settings}}",
    "{\"Args\":[\"--x\",\"y\"],\"Devices\":[{\"Description\":\"\",\"Name\":\"fuse\",\"Path\":\"/d"
    "ev/fuse\",\"Settable\":null}],\"Env\":[\"DEBUG=0\"],\"Mounts\":[{\"Description\":\"d\",\"Des"
    "tination\":\"/data\",\"Name\":\"data\",\"Options\":[\"rbind\"],\"Settable\":[\"source\"],\"S"
    "ource\":\"/tmp\",\"Type\":\"bind\"},{\"Description\":\"ns\",\"Destination\":\"/x\",\"Name\":"
    "\"nosrc\",\"Options\":null,\"Settable\":[\"source\"],\"Source\":null,\"Type\":\"bind\"}]}" },
  /* docker prints an address for the pointer */
  { "{{.Settings}}",
    "{[--x y] [{ fuse /dev/fuse []}] [DEBUG=0] [{d /data data [rbind] [source] /tmp bind} {ns /x "
    "nosrc [] [source] <nil> bind}]}" },
  { "{{.Config.User}}",
    "{0 0}" },
  /* docker prints an address for the pointer */
  { "{{.Config.Env}}",
    "[{debug DEBUG [value] 0} {nv NOVAL [value] <nil>}]" },
  { "{{range .Config.Env}}{{.Value}},{{end}}",
    "0,<nil>," },
  /* docker prints an address for the pointer */
  { "{{.Config.Mounts}}",
    "[{d /data data [rbind] [source] /tmp bind} {ns /x nosrc [] [source] <nil> bind}]" },
  { "{{range .Settings.Mounts}}{{.Source}} {{.Options}}|{{end}}",
    "/tmp [rbind]|<nil> []|" },
  { "{{.Config.Interface}}",
    "{ t.sock [docker.volumedriver/1.0]}" },
  /* docker prints an address for the pointer */
  { "{{.Config.Linux.Devices}}",
    "[{ fuse /dev/fuse []}]" },
  { "{{.Config.Rootfs}}",
    "{[sha256:8bb53957d056485da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46] layers}" },
  { "{{.Config.rootfs}}",
    "map[diff_ids:[sha256:8bb53957d056485da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46] type:"
    "layers]" },
  { "{{.Foo}}", NULL,
    "template: :1:2: executing \"\" at <.Foo>: map has no entry for key \"Foo\"", EXEC },
  { "{{index .Config \"Description\"}}",
    "A <test> & \"plugin\"\nsecond line" },
  { "{{index .Config \"Nope\"}}",
    "<no value>" },
  { "{{len .Settings.Env}}",
    "1" },
  { "{{len .Config.Linux.Devices}}",
    "1" },
  { "{{index .Settings.Env 0}}",
    "DEBUG=0" },
  { "{{index .Settings.Env 5}}", NULL,
    "template: :1:2: executing \"\" at <index .Settings.Env 5>: error calling index: index out of"
    " range: 5", EXEC },
  { "{{.Config.User.UID}}",
    "0" },
  { "{{json .Config.User}}",
    "{}" },
  /* docker prints an address for the pointer */
  { "{{.}}",
    "{{{a args [value] [--x y]} A <test> & \"plugin\"\nsecond line 20.10.24+dfsg1 https://example"
    ".com/doc?a=1&b=2 [/bin/busybox sleep 1000] [{debug DEBUG [value] 0} {nv NOVAL [value] <nil>}"
    "] { t.sock [docker.volumedriver/1.0]} false {false [CAP_SYS_ADMIN] [{ fuse /dev/fuse []}]} ["
    "{d /data data [rbind] [source] /tmp bind} {ns /x nosrc [] [source] <nil> bind}] {host} false"
    "  {0 0}  {[sha256:8bb53957d056485da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46] layers}}"
    " false 894f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1 me/p:1 me/p:1 {[--x "
    "y] [{ fuse /dev/fuse []}] [DEBUG=0] [{d /data data [rbind] [source] /tmp bind} {ns /x nosrc "
    "[] [source] <nil> bind}]}}" },
  { "{{printf \"%q\" .Name}}",
    "\"me/p:1\"" },
  { "{{foo .}}", NULL,
    "template: :1: function \"foo\" not defined", PARSE },
  { "{{.Name", NULL,
    "template: :1: unclosed action", PARSE },
  { "a{{/* c */}}b",
    "ab" },
  { "{{json .Config.Linux}}",
    "{\"AllowAllDevices\":false,\"Capabilities\":[\"CAP_SYS_ADMIN\"],\"Devices\":[{\"Description"
    "\":\"\",\"Name\":\"fuse\",\"Path\":\"/dev/fuse\",\"Settable\":null}]}" },
  { "{{.Config.Env | len}}",
    "2" },
  { "{{with .Config.Args}}{{.Name}}{{end}}",
    "args" },
  { "{{range $i, $e := .Config.Entrypoint}}{{$i}}={{$e}} {{end}}",
    "0=/bin/busybox 1=sleep 2=1000 " },
  { "{{join .Config.Entrypoint \",\"}}",
    "/bin/busybox,sleep,1000" },
  { "{{upper .Name}}",
    "ME/P:1" },
  { "{{title \"hello world\"}}",
    "Hello World" },
  { "{{split .Name \"/\"}}",
    "[me p:1]" },
  { "{{.Config.Interface.Types}}",
    "[docker.volumedriver/1.0]" },
  { "{{range .Config.Interface.Types}}{{.Capability}}{{.Prefix}}{{.Version}}{{end}}",
    "volumedriverdocker1.0" },
  { "{{json .Config.Interface.Types}}",
    "[\"docker.volumedriver/1.0\"]" },
  { "{{.Config.Network}}",
    "{host}" },
  { "{{printf \"%v\" .Config.User}}",
    "{0 0}" },
  { "{{printf \"%d|%5s|%-5s|%q|%t|%x|%05d\" 3 \"a\" \"b\" \"c\" true 255 42}}",
    "3|    a|b    |\"c\"|true|ff|00042" },
  { "{{printf \"%s\" .Enabled}}",
    "%!s(bool=false)" },
  { "{{printf \"%d\" .Name}}",
    "%!d(string=me/p:1)" },
  { "{{printf \"%z\" 1}}",
    "%!z(int=1)" },
  { "{{eq .Name \"me/p:1\"}}",
    "true" },
  { "{{if eq .Enabled false}}y{{end}}",
    "y" },
  { "{{and 1 0}}",
    "0" },
  { "{{or \"\" \"x\"}}",
    "x" },
  { "{{not .Enabled}}",
    "true" },
  { "{{len .Name}}",
    "6" },
  { "{{index .Config.Env 1}}",
    "{nv NOVAL [value] <nil>}" },
  { "{{range $k, $v := .Settings}}{{$k}}={{$v}};{{end}}",
    "Args=[--x y];Devices=[map[Description: Name:fuse Path:/dev/fuse Settable:<nil>]];Env=[DEBUG="
    "0];Mounts=[map[Description:d Destination:/data Name:data Options:[rbind] Settable:[source] S"
    "ource:/tmp Type:bind] map[Description:ns Destination:/x Name:nosrc Options:<nil> Settable:[s"
    "ource] Source:<nil> Type:bind]];" },
  { "{{.Config.Rootfs.DiffIds}}",
    "[sha256:8bb53957d056485da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46]" },
  { "{{title \"hello wORLD-foo_bar x.y\"}}",
    "Hello WORLD-Foo_bar X.Y" },
  { "{{lower \"\303\200""B\"}}",
    "\303\240""b" },
  { "{{upper \"stra\303\237""e\"}}",
    "STRA\303\237""E" },
  { "{{truncate .Name 3}}",
    "me/" },
  { "{{pad .Name 1 2}}|",
    " me/p:1  |" },
  { "{{json .Config}}",
    "{\"Args\":{\"Description\":\"a\",\"Name\":\"args\",\"Settable\":[\"value\"],\"Value\":[\"--x"
    "\",\"y\"]},\"Description\":\"A <test> & \\\"plugin\\\"\\nsecond line\",\"DockerVersion\":\"2"
    "0.10.24+dfsg1\",\"Documentation\":\"https://example.com/doc?a=1&b=2\",\"Entrypoint\":[\"/bin"
    "/busybox\",\"sleep\",\"1000\"],\"Env\":[{\"Description\":\"debug\",\"Name\":\"DEBUG\",\"Sett"
    "able\":[\"value\"],\"Value\":\"0\"},{\"Description\":\"nv\",\"Name\":\"NOVAL\",\"Settable\":"
    "[\"value\"],\"Value\":null}],\"Interface\":{\"Socket\":\"t.sock\",\"Types\":[\"docker.volume"
    "driver/1.0\"]},\"IpcHost\":false,\"Linux\":{\"AllowAllDevices\":false,\"Capabilities\":[\"CA"
    "P_SYS_ADMIN\"],\"Devices\":[{\"Description\":\"\",\"Name\":\"fuse\",\"Path\":\"/dev/fuse\","
    "\"Settable\":null}]},\"Mounts\":[{\"Description\":\"d\",\"Destination\":\"/data\",\"Name\":"
    "\"data\",\"Options\":[\"rbind\"],\"Settable\":[\"source\"],\"Source\":\"/tmp\",\"Type\":\"bi"
    "nd\"},{\"Description\":\"ns\",\"Destination\":\"/x\",\"Name\":\"nosrc\",\"Options\":null,\"S"
    "ettable\":[\"source\"],\"Source\":null,\"Type\":\"bind\"}],\"Network\":{\"Type\":\"host\"},"
    "\"PidHost\":false,\"PropagatedMount\":\"\",\"User\":{},\"WorkDir\":\"\",\"rootfs\":{\"diff_i"
    "ds\":[\"sha256:8bb53957d056485da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46\"],\"type\":"
    "\"layers\"}}" },
  { "{{json .}}",
    "{\"Config\":{\"Args\":{\"Description\":\"a\",\"Name\":\"args\",\"Settable\":[\"value\"],\"Va"
    "lue\":[\"--x\",\"y\"]},\"Description\":\"A <test> & \\\"plugin\\\"\\nsecond line\",\"DockerV"
    "ersion\":\"20.10.24+dfsg1\",\"Documentation\":\"https://example.com/doc?a=1&b=2\",\"Entrypoi"
    "nt\":[\"/bin/busybox\",\"sleep\",\"1000\"],\"Env\":[{\"Description\":\"debug\",\"Name\":\"DE"
    "BUG\",\"Settable\":[\"value\"],\"Value\":\"0\"},{\"Description\":\"nv\",\"Name\":\"NOVAL\","
    "\"Settable\":[\"value\"],\"Value\":null}],\"Interface\":{\"Socket\":\"t.sock\",\"Types\":[\""
    "docker.volumedriver/1.0\"]},\"IpcHost\":false,\"Linux\":{\"AllowAllDevices\":false,\"Capabil"
    "ities\":[\"CAP_SYS_ADMIN\"],\"Devices\":[{\"Description\":\"\",\"Name\":\"fuse\",\"Path\":\""
    "/dev/fuse\",\"Settable\":null}]},\"Mounts\":[{\"Description\":\"d\",\"Destination\":\"/data"
    "\",\"Name\":\"data\",\"Options\":[\"rbind\"],\"Settable\":[\"source\"],\"Source\":\"/tmp\","
    "\"Type\":\"bind\"},{\"Description\":\"ns\",\"Destination\":\"/x\",\"Name\":\"nosrc\",\"Optio"
    "ns\":null,\"Settable\":[\"source\"],\"Source\":null,\"Type\":\"bind\"}],\"Network\":{\"Type"
    "\":\"host\"},\"PidHost\":false,\"PropagatedMount\":\"\",\"User\":{},\"WorkDir\":\"\",\"rootf"
    "s\":{\"diff_ids\":[\"sha256:8bb53957d056485da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46"
    "\"],\"type\":\"layers\"}},\"Enabled\":false,\"Id\":\"894f82319226efa32b7bbd2427854ad716128ca"
    "6e144a7343ba95b43711459b1\",\"Name\":\"me/p:1\",\"PluginReference\":\"me/p:1\",\"Settings\":"
    "{\"Args\":[\"--x\",\"y\"],\"Devices\":[{\"Description\":\"\",\"Name\":\"fuse\",\"Path\":\"/d"
    "ev/fuse\",\"Settable\":null}],\"Env\":[\"DEBUG=0\"],\"Mounts\":[{\"Description\":\"d\",\"Des"
    "tination\":\"/data\",\"Name\":\"data\",\"Options\":[\"rbind\"],\"Settable\":[\"source\"],\"S"
    "ource\":\"/tmp\",\"Type\":\"bind\"},{\"Description\":\"ns\",\"Destination\":\"/x\",\"Name\":"
    "\"nosrc\",\"Options\":null,\"Settable\":[\"source\"],\"Source\":null,\"Type\":\"bind\"}]}}" },
  { "{{range .Config.Env}}{{.Name}} {{end}}",
    "DEBUG NOVAL " },
  { "{{range $i, $e := .Settings.Env}}{{$i}}{{end}}",
    "0" },
  { "{{$x := .Name}}{{$x}}",
    "me/p:1" },
  { "{{with .Config.DockerVersion}}{{.}}{{else}}none{{end}}",
    "20.10.24+dfsg1" },
  { "{{.Config.Env.Name}}", NULL,
    "template: :1:9: executing \"\" at <.Config.Env.Name>: can't evaluate field Name in type inte"
    "rface {}", EXEC },
  { "{{range .Enabled}}x{{end}}", NULL,
    "template: :1:8: executing \"\" at <.Enabled>: range can't iterate over false", EXEC },
  { "{{index . \"Name\"}}",
    "me/p:1" },
  { "{{index .Settings.Env -1}}", NULL,
    "template: :1:2: executing \"\" at <index .Settings.Env -1>: error calling index: index out o"
    "f range: -1", EXEC },
  { "{{len .Config.User}}",
    "0" },
  { "{{1}}|{{1.5}}|{{1e3}}|{{0x10}}|{{\"a\\tb\"}}|{{`raw`}}|{{true}}",
    "1|1.5|1000|16|a\tb|raw|true" },
  { "{{1}}|{{nil}}", NULL,
    "template: :1:8: executing \"\" at <nil>: nil is not a command", EXEC },
  { "{{print 1 2 \"a\" \"b\" 3}}",
    "1 2ab3" },
  { "{{println 1 \"a\"}}",
    "1 a\n" },
  { "{{.Name | printf \"%s!\"}}",
    "me/p:1!" },
  { "{{(index .Settings.Env 0) | len}}",
    "7" },
  { "{{- .Name -}} x",
    "me/p:1x" },
  { "{{ .Name }} {{- \" y\" }}",
    "me/p:1 y" },
  { "{{if and .Name (not .Enabled)}}ok{{end}}",
    "ok" },
  { "{{lt 1 2}} {{ge \"b\" \"a\"}} {{ne 1 2}} {{eq 1 2 3 1}}",
    "true true true true" },
  { "{{eq .Config.User.UID 0}}",
    "true" },
  { "{{len .Config.Args.Value | printf \"%03d\"}}",
    "002" },
  { "{{1234567.0}} {{1e20}} {{0.00001}} {{1.5}} {{100000.0}} {{1e3}} {{-0.0}} {{0x1F}} {{1_000}} "
    "{{0o17}} {{017}}",
    "1.234567e+06 1e+20 1e-05 1.5 100000 1000 -0 31 1000 15 15" },
  { "{{print \"a\" 1 2 \"b\" true false}}|{{print 1.5 2}}|{{print .Config.User 1}}",
    "a1 2btrue false|1.5 2|{0 0} 1" },
  { "{{printf \"%s\" .Config.Args.Value}}",
    "[--x y]" },
  { "{{printf \"%d\"}}",
    "%!d(MISSING)" },
  { "{{printf \"%d\" 1 2}}",
    "1%!(EXTRA int=2)" },
  { "{{printf \"%5.2f|%e|%g\" 3.14159 1000.0 0.5}}",
    " 3.14|1.000000e+03|0.5" },
  { "{{printf \"%q\" \"a\\u00e9\\x01\\n\\u2028\"}}",
    "\"a\303\251""\\x01\\n\\u2028\"" },
  { "{{\"\\u00e9\\x41\\101\\t\"}}",
    "\303\251""AA\t" },
  { "{{index \"abc\" 1}}",
    "98" },
  { "{{eq \"a\" \"a\" }}{{eq 1 1.0}}", NULL,
    "template: :1:17: executing \"\" at <eq 1 1.0>: error calling eq: incompatible types for comp"
    "arison", EXEC },
  { "{{eq .Config.Interface.Types \"x\"}}", NULL,
    "template: :1:2: executing \"\" at <eq .Config.Interface.Types \"x\">: error calling eq: inco"
    "mpatible types for comparison", EXEC },
  { "{{if .Config.Rootfs}}y{{end}}",
    "y" },
  { "{{with $x := .Name}}{{$x}}{{end}}",
    "me/p:1" },
  { "{{range $v := .Settings.Env}}{{$v}}{{else}}empty{{end}}",
    "DEBUG=0" },
  { "{{range .Config.Mounts}}{{.Source}}{{end}}",
    "/tmp<nil>" },
  { "{{json .Config.Mounts}}",
    "[{\"Description\":\"d\",\"Destination\":\"/data\",\"Name\":\"data\",\"Options\":[\"rbind\"],"
    "\"Settable\":[\"source\"],\"Source\":\"/tmp\",\"Type\":\"bind\"},{\"Description\":\"ns\",\"D"
    "estination\":\"/x\",\"Name\":\"nosrc\",\"Options\":null,\"Settable\":[\"source\"],\"Source\""
    ":null,\"Type\":\"bind\"}]" },
  { "{{.Config.Env | len | printf \"%T\"}}",
    "int" },
  { "{{index .Config.Mounts 1 | json}}",
    "{\"Description\":\"ns\",\"Destination\":\"/x\",\"Name\":\"nosrc\",\"Options\":null,\"Settabl"
    "e\":[\"source\"],\"Source\":null,\"Type\":\"bind\"}" },
  { "{{with .Config.Rootfs}}{{.Type}}{{end}}",
    "layers" },
  { "{{range .Config.Env}}{{$.Name}}{{end}}",
    "me/p:1me/p:1" },
  { "{{'a'}}",
    "97" },
  { "{{.Config.Linux.Devices | len}} {{(index .Config.Linux.Devices 0).Path}}",
    "1 /dev/fuse" },
  { "{{not 0}} {{not \"\"}} {{not .Config.Env}} {{and .Enabled 1}} {{or 0 .Enabled}}",
    "true true false false false" },
  { "{{range $i, $v := .Config.Args}}{{$i}}{{end}}",
    "DescriptionNameSettableValue" },
  { "{{len .Config}}",
    "16" },
  { "{{upper .Enabled}}", NULL,
    "template: :1:8: executing \"\" at <.Enabled>: wrong type for value; expected string; got boo"
    "l", EXEC },
  { "{{join .Config.Env \",\"}}", NULL,
    "template: :1:14: executing \"\" at <.Config.Env>: wrong type for value; expected []string; g"
    "ot []interface {}", EXEC },
  { "{{pad .Name .Config.User.UID 1}}", NULL,
    "template: :1:19: executing \"\" at <.Config.User.UID>: map has no entry for key \"UID\"",
    EXEC },
  { "{{truncate .Name 1e3}}",
    "me/p:1" },
  { "{{truncate .Name \"2\"}}", NULL,
    "template: :1:17: executing \"\" at <\"2\">: expected integer; found \"2\"", EXEC },
  { "{{index .Config.Env \"x\"}}", NULL,
    "template: :1:2: executing \"\" at <index .Config.Env \"x\">: error calling index: cannot ind"
    "ex slice/array with type string", EXEC },
  { "{{lower .Config.Interface.Types}}", NULL,
    "template: :1:15: executing \"\" at <.Config.Interface.Types>: wrong type for value; expected"
    " string; got []interface {}", EXEC },
  { "{{.Config.DockerVersion.Foo}}", NULL,
    "template: :1:9: executing \"\" at <.Config.DockerVersion.Foo>: can't evaluate field Foo in t"
    "ype interface {}", EXEC },
  { "{{.Enabled.Foo}}", NULL,
    "template: :1:10: executing \"\" at <.Enabled.Foo>: can't evaluate field Foo in type interfac"
    "e {}", EXEC },
  { "{{.Name 1}}", NULL,
    "template: :1:2: executing \"\" at <.Name>: Name is not a method but has arguments", EXEC },
  { "{{if .Enabled}}on{{else if .Name}}name{{else}}off{{end}}",
    "name" },
  { "{{range .Settings.Env}}[{{.}}]{{end}}",
    "[DEBUG=0]" },
  { "{{range .Config.Linux.Devices}}{{.Path}}{{end}}",
    "/dev/fuse" },
  /* docker prints an address for the pointer */
  { "{{printf \"%v|%s|%d\" .Config.Linux.Devices .Config.Interface.Types .Config.User}}",
    "[{ fuse /dev/fuse []}]|[docker.volumedriver/1.0]|{0 0}" },
  { "{{printf \"%T %T %T %T\" .Config .Settings.Env .Config.Rootfs nil}}",
    "types.PluginConfig []string *types.PluginConfigRootfs <nil>" },
  { "{{printf \"%+v\" .Config.User}}",
    "{GID:0 UID:0}" },
  { "{{printf \"%x %X %o %b %c\" 255 255 8 5 65}}",
    "ff FF 10 101 A" },
  { "{{printf \"%8.3s|%-8d|%+d|% d\" \"abcdef\" 42 42 42}}",
    "     abc|42      |+42| 42" },
  { "{{printf \"%q\" 65}}",
    "'A'" },
  { "{{printf \"%v %v\" 1.0 0.000001}}",
    "1 1e-06" },
  { "{{printf \"%6.2f|%-8.3e|%G\" 3.14159 1234.5 1e-10}}",
    "  3.14|1.234e+03|1E-10" },
  { "{{printf \"100%%\"}}",
    "100%" },
  { "{{printf \"%\"}}",
    "%!(NOVERB)" },
  { "{{json 1.5}} {{json 1e21}} {{json 1e-7}} {{json \"<&>\"}} {{json nil}} {{json true}}",
    "1.5 1e+21 1e-7 \"<&>\" null true" },
  { "{{if not .Config.Env}}empty{{else}}some{{end}}",
    "some" },
  { "{{range .Config.Linux.Capabilities}}{{.}} {{end}}",
    "CAP_SYS_ADMIN " },
  { "{{.Config.Entrypoint}}",
    "[/bin/busybox sleep 1000]" },
  { "{{len .Config.Mounts}} {{(index .Config.Mounts 0).Name}}",
    "2 data" },
  { "{{$e := .Settings.Env}}{{range $e}}{{.}}{{end}}",
    "DEBUG=0" },
  { "{{$x := 1}}{{$x = 2}}{{$x}}",
    "2" },
  { "{{range .Settings.Env}}{{else}}x{{end}}",
    "" },
  /* docker prints an address for the pointer */
  { "{{index .Settings.Devices 0 | printf \"%v\"}}",
    "{ fuse /dev/fuse []}" },
  /* docker prints an address for the pointer */
  { "{{.Settings.Devices}}",
    "[{ fuse /dev/fuse []}]" },
  { "{{json .Settings.Devices}}",
    "[{\"Description\":\"\",\"Name\":\"fuse\",\"Path\":\"/dev/fuse\",\"Settable\":null}]" },
  { "{{if .Settings.Args}}{{join .Settings.Args \" \"}}{{end}}",
    "--x y" },
  { "{{.Config.Env | json}}",
    "[{\"Description\":\"debug\",\"Name\":\"DEBUG\",\"Settable\":[\"value\"],\"Value\":\"0\"},{\""
    "Description\":\"nv\",\"Name\":\"NOVAL\",\"Settable\":[\"value\"],\"Value\":null}]" },
  { "{{index .Config.Interface.Types 0}}",
    "docker.volumedriver/1.0" },
  { "{{(index .Config.Interface.Types 0).Capability}}",
    "volumedriver" },
  { "{{.Config.Documentation}}",
    "https://example.com/doc?a=1&b=2" },
  { "{{json .Config.Documentation}}",
    "\"https://example.com/doc?a=1&b=2\"" },
  { "{{split .Config.Description \"\\n\"}}",
    "[A <test> & \"plugin\" second line]" },
  { "{{len (split .Config.Description \"\")}}",
    "31" },
  { "{{upper .Config.Description}}",
    "A <TEST> & \"PLUGIN\"\nSECOND LINE" },
  { "{{.Config.User.GID | printf \"%T\"}}",
    "uint32" },
  { "{{lt .Config.User.UID 1}}",
    "true" },
  { "{{eq .Config.Rootfs nil}}",
    "false" },
  { "{{print nil}}|{{printf \"%v\" nil}}",
    "<nil>|<nil>" },
  { "{{with .Config.Rootfs}}{{json .}}{{end}}",
    "{\"diff_ids\":[\"sha256:8bb53957d056485da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46\"],"
    "\"type\":\"layers\"}" },
  { "{{printf \"%s\"", NULL,
    "template: :1: unclosed action", PARSE },
  { "{{end}}", NULL,
    "template: :1: unexpected {{end}}", PARSE },
  { "{{else}}", NULL,
    "template: :1: unexpected {{else}}", PARSE },
  { "{{if .Name}}", NULL,
    "template: :1: unexpected EOF", PARSE },
  { "{{range $i, $v, $w := .Settings.Env}}{{end}}", NULL,
    "template: :1: too many declarations in range", PARSE },
  { "{{$x := 1}}{{$y}}", NULL,
    "template: :1: undefined variable \"$y\"", PARSE },
  { "{{.Name | \"x\"}}", NULL,
    "template: :1: non executable command in pipeline stage 2", PARSE },
  { "{{1 2}}", NULL,
    "template: :1:2: executing \"\" at <1>: can't give argument to non-function 1", EXEC },
  { "{{.Name |}}",
    "me/p:1" },
  { "{{(.Name}}", NULL,
    "template: :1: unclosed left paren", PARSE },
  { "{{.Name)}}", NULL,
    "template: :1: unexpected \")\" in command", PARSE },
  { "{{\"unterminated}}", NULL,
    "template: :1: unterminated quoted string", PARSE },
  { "{{99999999999999999999}}", NULL,
    "template: :1: integer overflow: \"99999999999999999999\"", PARSE },
  { "{{.Name \n }}",
    "me/p:1" },
  { "{{/* unclosed}}", NULL,
    "template: :1: unclosed comment", PARSE },
  { "{{ /* not a comment */ }}", NULL,
    "template: :1: unexpected \"/\" in command", PARSE },
  { "{{.Name}} {{.Enabled}", NULL,
    "template: :1: bad character U+007D '}'", PARSE },
  { "{{.Config..Description}}", NULL,
    "template: :1: unexpected <.> in operand", PARSE },
  { "{{with .Config}}{{$.Name}}{{end}}",
    "me/p:1" },
  { "{{range .Config.Env}}{{.Name}}{{end}}{{.Config.Env.X}}", NULL,
    "template: :1:46: executing \"\" at <.Config.Env.X>: can't evaluate field X in type interface"
    " {}", EXEC },
  { "line one\n{{.Foo}}", NULL,
    "template: :2:2: executing \"\" at <.Foo>: map has no entry for key \"Foo\"", EXEC },
  { "a\n  {{- .Name}}\n{{.Name -}}\n  b",
    "ame/p:1\nme/p:1b" },
};

/* what pluginctl refuses, where docker would do something */
static const Case unsupported_cases[] = {
  { "{{define \"x\"}}a{{end}}", NULL,
    "template: :1:2: {{define}} is not supported by pluginctl", PARSE },
  { "a\n {{template \"x\"}}", NULL,
    "template: :2:3: {{template}} is not supported by pluginctl", PARSE },
  { "{{block \"x\" .}}a{{end}}", NULL,
    "template: :1:2: {{block}} is not supported by pluginctl", PARSE },
  { "{{range .Settings.Env}}{{break}}{{end}}", NULL,
    "template: :1:25: {{break}} is not supported by pluginctl", PARSE },
  { "{{range .Settings.Env}}{{continue}}{{end}}", NULL,
    "template: :1:25: {{continue}} is not supported by pluginctl", PARSE },
  { "{{with .Name}}{{else with .Id}}{{end}}", NULL,
    "template: :1:21: {{else with}} is not supported by pluginctl", PARSE },
  { "{{html \"<a>\"}}", NULL,
    "template: :1:2: the function \"html\" is not supported by pluginctl", PARSE },
  { "{{.Name | js}}", NULL,
    "template: :1:10: the function \"js\" is not supported by pluginctl", PARSE },
  { "{{slice .Name 1 3}}", NULL,
    "template: :1:2: the function \"slice\" is not supported by pluginctl", PARSE },
  { "{{call .Name}}", NULL,
    "template: :1:2: the function \"call\" is not supported by pluginctl", PARSE },
  { "{{urlquery .Name}}", NULL,
    "template: :1:2: the function \"urlquery\" is not supported by pluginctl", PARSE },
  { "{{1i}}", NULL, "template: :1:2: a complex number is not supported by pluginctl", PARSE },
  { "{{\"\\x00\"}}", NULL,
    "template: :1:2: a NUL byte or a byte that is not UTF-8 in a constant is not supported by "
    "pluginctl", PARSE },
  { "{{\"\\xff\"}}", NULL,
    "template: :1:2: a NUL byte or a byte that is not UTF-8 in a constant is not supported by "
    "pluginctl", PARSE },
  { "{{printf \"%#v\" .Name}}", NULL,
    "template: :1:2: executing \"\" at <printf \"%#v\" .Name>: error calling printf: printf: "
    "'#' is not supported by pluginctl", EXEC },
  { "{{printf \"%*d\" 3 .Name}}", NULL,
    "template: :1:2: executing \"\" at <printf \"%*d\" 3 .Name>: error calling printf: printf: "
    "'*' is not supported by pluginctl", EXEC },
  { "{{printf \"%[1]d\" 3}}", NULL,
    "template: :1:2: executing \"\" at <printf \"%[1]d\" 3>: error calling printf: printf: "
    "'[' is not supported by pluginctl", EXEC },
};

/* more of Go's grammar and semantics */
static const Case more_cases[] = {
  { "{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy" },
  { "{{if .Enabled}}a{{else if eq .Name \"x\"}}b{{else if .Id}}c{{else}}d{{end}}", "c" },
  { "{{range $i, $m := .Settings.Mounts}}{{$i}}:{{$m.Name}} {{end}}", "0:data 1:nosrc " },
  { "{{range $m := .Settings.Mounts}}{{$m.Destination}}{{end}}", "/data/x" },
  { "{{$n := 0}}{{range .Settings.Mounts}}{{$n = .Name}}{{end}}{{$n}}", "nosrc" },
  { "{{with $c := .Config}}{{$c.Network.Type}}{{end}}", "host" },
  { "{{with .Config.PropagatedMount}}x{{else}}none{{end}}", "none" },
  { "{{(index .Settings.Mounts 0).Options}}", "[rbind]" },
  /* a struct cannot be indexed: the map can, as docker falls back to it */
  { "{{index .Settings.Mounts 1 \"Name\"}}", "nosrc" },
  { "{{.Config.User.GID}}|{{json .Config.User.UID}}", "0|0" },
  { "{{.Config.Interface.ProtocolScheme}}|{{json .Config.Interface}}",
    "|{\"Socket\":\"t.sock\",\"Types\":[\"docker.volumedriver/1.0\"]}" },
  { "{{printf \"%T|%T|%T\" .Config.Interface.Types .Config.rootfs 1.5}}",
    "[]interface {}|map[string]interface {}|float64" },
  { "{{printf \"%T\" .Config.rootfs}}", "map[string]interface {}" },
  { "{{printf \"%T %T\" .Config.Interface.Types 1.5}}", "[]types.PluginInterfaceType float64" },
  { "{{.Config.Rootfs.Type | upper | printf \"<%s>\"}}", "<LAYERS>" },
  { "{{len (index .Settings.Mounts 0).Settable}}", "1" },
  { "{{if and .Config.Env (gt (len .Config.Env) 1)}}many{{end}}", "many" },
  { "{{or .Config.WorkDir \"/\"}}", "/" },
  { "{{le 2 2}} {{gt 3 2}} {{lt \"a\" \"b\"}} {{ge 1 2}}", "true true true false" },
  { "{{lt true false}}", NULL,
    "template: :1:2: executing \"\" at <lt true false>: error calling lt: invalid type for "
    "comparison", EXEC },
  { "{{eq .Config.Env .Config.Env}}", NULL,
    "template: :1:2: executing \"\" at <eq .Config.Env .Config.Env>: error calling eq: "
    "non-comparable type [map[Description:debug Name:DEBUG Settable:[value] Value:0] "
    "map[Description:nv Name:NOVAL Settable:[value] Value:<nil>]]: []interface {}", EXEC },
  { "{{eq .Name}}", NULL,
    "template: :1:2: executing \"\" at <eq .Name>: error calling eq: missing argument for "
    "comparison", EXEC },
  { "{{json}}", NULL,
    "template: :1:2: executing \"\" at <json>: wrong number of args for json: want 1 got 0",
    EXEC },
  { "{{and}}", NULL,
    "template: :1:2: executing \"\" at <and>: wrong number of args for and: want at least 1 got "
    "0", EXEC },
  { "{{pad .Name -1 0}}", NULL,
    "template: :1:2: executing \"\" at <pad .Name -1 0>: error calling pad: strings: negative "
    "Repeat count", EXEC },
  { "{{truncate \"h\\u00e9llo\" 2}}|{{truncate \"abc\" -1}}", NULL,
    "template: :1:30: executing \"\" at <truncate \"abc\" -1>: error calling truncate: runtime "
    "error: slice bounds out of range [:-1]", EXEC },
  /* Go cuts the é in two */
  { "{{truncate \"h\\u00e9llo\" 2}}", "h" },
  { "{{split \"a,b,,c\" \",\"}} {{len (split \"\" \",\")}} {{split \"\\u00e9t\\u00e9\" \"\"}}",
    "[a b  c] 1 [\303\251 t \303\251]" },
  { "{{title \"\\u00e9l\\u00e8ve  d'\\u00e9t\\u00e9\"}}",
    "\303\211l\303\250ve  D'\303\211t\303\251" },
  { "{{printf \"%q\" \"\\u00a0\\u200b\\U0001F600\\x7f\"}}",
    "\"\\u00a0\\u200b\360\237\230\200\\x7f\"" },
  { "{{printf \"%c|%q|%U\" 233 233 233}}", "\303\251|'\303\251'|U+00E9" },
  { "{{printf \"%v %d\" nil nil}}", "<nil> %!d(<nil>)" },
  { "{{printf \"%s %v\" .Config.Rootfs .Config.Interface.Types}}",
    "&{[sha256:8bb53957d056485da721f02cc4605363e89bf6566fd4a99e73a9bf41ccae9b46] layers} "
    "[docker.volumedriver/1.0]" },
  { "{{printf \"%5t|%-6v|%06.2f|%x\" true \"ab\" -3.14159 \"hi\"}}", " true|ab    |-03.14|6869" },
  { "{{json 0.1}} {{json 100.0}} {{json -0.0}} {{0.1}} {{123456.0}}",
    "0.1 100 -0 0.1 123456" },
  { "{{print}}|{{println}}|{{print \"a\" \"b\"}}", "|\n|ab" },
  { "{{$x := \"a\"}}{{if true}}{{$x := \"b\"}}{{$x}}{{end}}{{$x}}", "ba" },
  { "{{$x := \"a\"}}{{if true}}{{$x = \"b\"}}{{end}}{{$x}}", "b" },
  { "{{.Name}}{{$x := 1}}", "me/p:1" },
  { "{{\"\\u2028\" | json}}", "\"\\u2028\"" },
  { "{{`a\rb`}}", "ab" },
  { "{{.Name | printf \"%s/%s\" .Id | truncate 5}}", NULL,
    "template: :1:40: executing \"\" at <5>: expected string; found 5", EXEC },
  { "{{.Name | printf \"%s/%s\" \"x\" | upper}}", "X/ME/P:1" },
  { "{{$}}{{", NULL, "template: :1: unclosed action", PARSE },
  { "{{.Name}", NULL, "template: :1: bad character U+007D '}'", PARSE },
  { "{{$x}}", NULL, "template: :1: undefined variable \"$x\"", PARSE },
  { "{{$x = 1}}", NULL, "template: :1:7: executing \"\" at <1>: undefined variable: $x", EXEC },
  { "{{range $a, $b := .Settings.Env}}{{end}}{{$a}}", NULL,
    "template: :1: undefined variable \"$a\"", PARSE },
  { "{{with $a, $b := .Name}}{{end}}", NULL, "template: :1: too many declarations in with",
    PARSE },
  { "{{range $a, 1 := .Name}}{{end}}", NULL,
    "template: :1: range can only initialize variables", PARSE },
  { "{{if}}{{end}}", NULL, "template: :1: missing value for if", PARSE },
  { "{{range .Settings.Env}}{{else}}{{else}}{{end}}", NULL,
    "template: :1: expected end; found {{else}}", PARSE },
  { "{{if .Name}}{{end x}}", NULL, "template: :1: unexpected \"x\" in end", PARSE },
  { "{{else .Name}}", NULL, "template: :1: unexpected \".Name\" in else", PARSE },
  { "{{else}}", NULL, "template: :1: unexpected {{else}}", PARSE },
  { "{{range .Name}}{{else if 1}}{{end}}", NULL, "template: :1: unexpected \"if\" in else",
    PARSE },
  { "{{\"a\".Name}}", NULL, "template: :1: unexpected . after term \"\\\"a\\\"\"", PARSE },
  { "{{.Name:}}", NULL, "template: :1: expected :=", PARSE },
  { "{{.Na#me}}", NULL, "template: :1: bad character U+0023 '#'", PARSE },
  /* found by fuzz-template: a field ended by a bad character */
  { "{{.Config.User\".\" | len}}", NULL, "template: :1: bad character U+0022 '\"'", PARSE },
  { "{{1x}}", NULL, "template: :1: bad number syntax: \"1x\"", PARSE },
  { "{{'ab'}}", NULL, "template: :1: malformed character constant: 'ab'", PARSE },
  { "{{\"\\q\"}}", NULL, "template: :1: invalid syntax", PARSE },
  { "{{ \"a\n\" }}", NULL, "template: :1: unterminated quoted string", PARSE },
  { "{{`abc}}", NULL, "template: :1: unterminated raw quoted string", PARSE },
  { "{{/* a */ }}", NULL, "template: :1: comment ends before closing delimiter", PARSE },
  { "{{ ; }}", NULL, "template: :1: unexpected \";\" in command", PARSE },
  { "{{.Name |", NULL, "template: :1: unclosed action", PARSE },
  { "\n\n{{end}}", NULL, "template: :3: unexpected {{end}}", PARSE },
  { "\n{{nope}}", NULL, "template: :2: function \"nope\" not defined", PARSE },
  { "a\n  b {{.Config.Nope}}", NULL,
    "template: :2:13: executing \"\" at <.Config.Nope>: map has no entry for key \"Nope\"",
    EXEC },
};

static void
check_case (JsonNode *data, CtlTemplateData kind, const Case *c)
{
  g_autoptr(CtlTemplate) tmpl = NULL;
  g_autoptr(GString) out = g_string_new ("before");
  g_autoptr(GError) error = NULL;
  gboolean ok;

  tmpl = ctl_template_parse (c->template, &error);
  ok = tmpl != NULL && ctl_template_execute (tmpl, data, kind, out, &error);
  if (c->output != NULL)
    {
      if (!ok)
        g_error ("%s: %s", c->template, error->message);
      g_assert_cmpstr (out->str + strlen ("before"), ==, c->output);
      return;
    }
  if (ok)
    g_error ("%s: printed \"%s\"", c->template, out->str);
  g_assert_cmpstr (error->message, ==, c->error);
  g_assert_error (error, CTL_TEMPLATE_ERROR, c->code);
  /* nothing of a failed run stays */
  g_assert_cmpstr (out->str, ==, "before");
}

static JsonNode *
parse_json (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = pd_json_parse (text, strlen (text), 1 << 20, &error);

  g_assert_no_error (error);
  return node;
}

static void
check_cases (const char *json, CtlTemplateData kind, const Case *cases, gsize n)
{
  g_autoptr(JsonNode) data = parse_json (json);

  for (gsize i = 0; i < n; i++)
    {
      g_test_message ("%s", cases[i].template);
      check_case (data, kind, &cases[i]);
    }
}

static void
test_inspect_like_docker (void)
{
  check_cases (plugin_json, CTL_TEMPLATE_DATA_PLUGIN, inspect_cases,
               G_N_ELEMENTS (inspect_cases));
}

static void
test_unsupported (void)
{
  check_cases (plugin_json, CTL_TEMPLATE_DATA_PLUGIN, unsupported_cases,
               G_N_ELEMENTS (unsupported_cases));
}

static void
test_more (void)
{
  check_cases (plugin_json, CTL_TEMPLATE_DATA_PLUGIN, more_cases, G_N_ELEMENTS (more_cases));
}

/* data that does not fit Docker's types (an older or newer daemon): only the maps work, as
 * in docker when its typed run fails */
static void
test_untyped_data (void)
{
  static const Case cases[] = {
    { "{{.Name}} {{.Config.Description}} {{.Config.User.UID}}", "n 42 7" },
    { "{{.ID}}", NULL,
      "template: :1:2: executing \"\" at <.ID>: map has no entry for key \"ID\"", EXEC },
    { "{{json .Config}}", "{\"Description\":42,\"User\":{\"UID\":7},\"Zz\":[1,2.5,null]}" },
    { "{{.Config}}", "map[Description:42 User:map[UID:7] Zz:[1 2.5 <nil>]]" },
    { "{{index .Config.Zz 2}}|{{index .Config.Zz 1}}|{{printf \"%T\" (index .Config.Zz 0)}}",
      "<no value>|2.5|json.Number" },
    { "{{if .Config.User.UID}}{{eq .Config.User.UID \"7\"}}{{end}}", "true" },
    { "{{upper .Config.User.UID}}", NULL,
      "template: :1:15: executing \"\" at <.Config.User.UID>: wrong type for value; expected "
      "string; got json.Number", EXEC },
  };

  check_cases ("{\"Name\":\"n\",\"Config\":{\"Description\":42,\"User\":{\"UID\":7},"
               "\"Zz\":[1,2.5,null]}}",
               CTL_TEMPLATE_DATA_PLUGIN, cases, G_N_ELEMENTS (cases));
}

static const char row_json[] =
  "{\"Description\":\"A <test> & \\\"plugin\\\"second line\",\"Enabled\":false,"
  "\"ID\":\"894f82319226\",\"Name\":\"me/p:1\",\"PluginReference\":\"me/p:1\","
  "\"State\":\"disabled\"}";

static void
test_list_row (void)
{
  static const Case cases[] = {
    { "{{.Name}} {{.ID}} {{.Enabled}} {{.State}} {{.PluginReference}}",
      "me/p:1 894f82319226 false disabled me/p:1" },
    /* MarshalJSON: sorted and HTML-escaped, as docker writes it (plus State) */
    { "{{json .}}",
      "{\"Description\":\"A \\u003ctest\\u003e \\u0026 \\\"plugin\\\"second line\",\"Enabled\":"
      "false,\"ID\":\"894f82319226\",\"Name\":\"me/p:1\",\"PluginReference\":\"me/p:1\","
      "\"State\":\"disabled\"}" },
    /* a string on its own is not */
    { "{{json .Description}}", "\"A <test> & \\\"plugin\\\"second line\"" },
    { "{{if .Enabled}}on{{else}}off{{end}}", "off" },
    { "{{.Foo}}", NULL,
      "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type "
      "*plugin.pluginContext", EXEC },
    { "{{.Name.Foo}}", NULL,
      "template: :1:7: executing \"\" at <.Name.Foo>: can't evaluate field Foo in type string",
      EXEC },
    { "{{index . \"Name\"}}", NULL,
      "template: :1:2: executing \"\" at <index . \"Name\">: error calling index: can't index "
      "item of type plugin.pluginContext", EXEC },
  };

  check_cases (row_json, CTL_TEMPLATE_DATA_LIST_ROW, cases, G_N_ELEMENTS (cases));
}

/* the header of a table: Docker's header functions give back the column names */
static void
test_list_header (void)
{
  static const char header_json[] =
    "{\"Description\":\"DESCRIPTION\",\"Enabled\":\"ENABLED\",\"ID\":\"ID\",\"Name\":\"NAME\","
    "\"PluginReference\":\"IMAGE\",\"State\":\"STATE\"}";
  static const Case cases[] = {
    { "{{.ID}}\t{{upper .Name}}\t{{lower .Description}}\t{{json .Enabled}}",
      "ID\tNAME\tDESCRIPTION\tENABLED" },
    { "{{title .State}} {{truncate .ID 1}} {{split .Name \"/\"}} {{join .Name \",\"}}",
      "STATE ID NAME NAME" },
    { "{{pad .Name 1 1}}|{{printf \"%s!\" .PluginReference}}|{{len .Name}}", " NAME |IMAGE!|4" },
    { "{{.Foo}}", "<no value>" },
    /* docker keeps what came before an error in the header */
    { "{{json .}}", NULL,
      "template: :1:7: executing \"\" at <.>: wrong type for value; expected string; got "
      "map[string]interface {}", EXEC },
  };
  g_autoptr(JsonNode) data = parse_json (header_json);
  g_autoptr(CtlTemplate) tmpl = ctl_template_parse ("A{{.ID}}{{json .}}B", NULL);
  g_autoptr(GString) out = g_string_new (NULL);

  check_cases (header_json, CTL_TEMPLATE_DATA_LIST_HEADER, cases, G_N_ELEMENTS (cases) - 1);
  g_assert_false (ctl_template_execute (tmpl, data, CTL_TEMPLATE_DATA_LIST_HEADER, out, NULL));
  g_assert_cmpstr (out->str, ==, "AID");
}

typedef struct {
  const char *format;
  gboolean trunc;
  const char *output;
  const char *error;
} ListCase;

/* `docker plugin ls --format` with two plugins, and with --no-trunc */
static const ListCase list_cases[] = {
  { "table {{.ID}}\t{{.Name}}", TRUE,
    "ID             NAME\n63fc3dc3b06f   a-rather-long-name/plugin:2.0\n894f82319226   me/p:1\n" },
  { "table {{.ID}}\t{{.Name}}", FALSE,
    "ID                                                                 NAME\n63fc3dc3b06f27a1274"
    "14fbae3e30f71b186c6513b2d9341596a70072e5c1de5   a-rather-long-name/plugin:2.0\n894f82319226e"
    "fa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1   me/p:1\n" },
  { "table {{.Name}}\t{{.Description}}\t{{.Enabled}}", TRUE,
    "NAME                            DESCRIPTION                                     ENABLED\na-r"
    "ather-long-name/plugin:2.0   a much longer description that goes on, with\342\200\246""   fa"
    "lse\nme/p:1                          A <test> & \"plugin\"second line                  false"
    "\n" },
  { "table {{.Name}}\t{{.Description}}\t{{.Enabled}}", FALSE,
    "NAME                            DESCRIPTION                                          ENABLED"
    "\na-rather-long-name/plugin:2.0   a much longer description that goes on, with a tab   here "
    "and \303\274""n\303\257""c\303\266""d\303\251""   false\nme/p:1                          A <"
    "test> & \"plugin\"second line                       false\n" },
  { "table {{.Name}}", TRUE,
    "NAME\na-rather-long-name/plugin:2.0\nme/p:1\n" },
  { "table {{.Name}}", FALSE,
    "NAME\na-rather-long-name/plugin:2.0\nme/p:1\n" },
  { "table {{.Name}}:\t{{.ID}}\n\t{{.PluginReference}}", TRUE,
    "NAME:                            ID\n                                 IMAGE\na-rather-long-n"
    "ame/plugin:2.0:   63fc3dc3b06f\n                                 a-rather-long-name/plugin:2"
    ".0\nme/p:1:                          894f82319226\n                                 me/p:1\n" },
  { "table {{.Name}}:\t{{.ID}}\n\t{{.PluginReference}}", FALSE,
    "NAME:                            ID\n                                 IMAGE\na-rather-long-n"
    "ame/plugin:2.0:   63fc3dc3b06f27a127414fbae3e30f71b186c6513b2d9341596a70072e5c1de5\n        "
    "                         a-rather-long-name/plugin:2.0\nme/p:1:                          894"
    "f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1\n                             "
    "    me/p:1\n" },
  { "table {{pad .Name 2 2}}|{{json .Name}}|{{.Enabled}}", TRUE,
    "  NAME  |NAME|ENABLED\n  a-rather-long-name/plugin:2.0  |\"a-rather-long-name/plugin:2.0\"|f"
    "alse\n  me/p:1  |\"me/p:1\"|false\n" },
  { "table {{pad .Name 2 2}}|{{json .Name}}|{{.Enabled}}", FALSE,
    "  NAME  |NAME|ENABLED\n  a-rather-long-name/plugin:2.0  |\"a-rather-long-name/plugin:2.0\"|f"
    "alse\n  me/p:1  |\"me/p:1\"|false\n" },
  { "table {{upper .Name}}\t{{lower .Description}}\t{{title .ID}}", TRUE,
    "NAME                            DESCRIPTION                                     ID\nA-RATHER"
    "-LONG-NAME/PLUGIN:2.0   a much longer description that goes on, with\342\200\246""   63fc3dc"
    "3b06f\nME/P:1                          a <test> & \"plugin\"second line                  894"
    "f82319226\n" },
  { "table {{upper .Name}}\t{{lower .Description}}\t{{title .ID}}", FALSE,
    "NAME                            DESCRIPTION                                          ID\nA-R"
    "ATHER-LONG-NAME/PLUGIN:2.0   a much longer description that goes on, with a tab   here and "
    "\303\274""n\303\257""c\303\266""d\303\251""   63fc3dc3b06f27a127414fbae3e30f71b186c6513b2d93"
    "41596a70072e5c1de5\nME/P:1                          a <test> & \"plugin\"second line        "
    "               894f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1\n" },
  { "table {{.Foo}}", TRUE, NULL,
    "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type *plugin.pluginCon"
    "text" },
  { "table {{.Foo}}", FALSE, NULL,
    "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type *plugin.pluginCon"
    "text" },
  { "{{.Name}}\t{{.ID}}", TRUE,
    "a-rather-long-name/plugin:2.0\t63fc3dc3b06f\nme/p:1\t894f82319226\n" },
  { "{{.Name}}\t{{.ID}}", FALSE,
    "a-rather-long-name/plugin:2.0\t63fc3dc3b06f27a127414fbae3e30f71b186c6513b2d9341596a70072e5c1"
    "de5\nme/p:1\t894f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1\n" },
  { "table {{.ID}}\\t{{.Name}}\\n", TRUE,
    "ID        NAME\n\n63fc3dc3b06f   a-rather-long-name/plugin:2.0\n\n894f82319226   me/p:1\n\n" },
  { "table {{.ID}}\\t{{.Name}}\\n", FALSE,
    "ID        NAME\n\n63fc3dc3b06f27a127414fbae3e30f71b186c6513b2d9341596a70072e5c1de5   a-rathe"
    "r-long-name/plugin:2.0\n\n894f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1  "
    " me/p:1\n\n" },
  { "raw", TRUE,
    "plugin_id: 63fc3dc3b06f\nname: a-rather-long-name/plugin:2.0\ndescription: a much longer des"
    "cription that goes on, with\342\200\246""\nenabled: false\n\nplugin_id: 894f82319226\nname: "
    "me/p:1\ndescription: A <test> & \"plugin\"second line\nenabled: false\n\n" },
  { "raw", FALSE,
    "plugin_id: 63fc3dc3b06f27a127414fbae3e30f71b186c6513b2d9341596a70072e5c1de5\nname: a-rather-"
    "long-name/plugin:2.0\ndescription: a much longer description that goes on, with a tab\there "
    "and \303\274""n\303\257""c\303\266""d\303\251""\nenabled: false\n\nplugin_id: 894f82319226ef"
    "a32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1\nname: me/p:1\ndescription: A <test> & \""
    "plugin\"second line\nenabled: false\n\n" },
  { "table {{json .}}", TRUE,
    "\n{\"Description\":\"a much longer description that goes on, with\342\200\246""\",\"Enabled"
    "\":false,\"ID\":\"63fc3dc3b06f\",\"Name\":\"a-rather-long-name/plugin:2.0\",\"PluginReferenc"
    "e\":\"a-rather-long-name/plugin:2.0\",\"State\":\"disabled\"}\n{\"Description\":\"A \\u003ct"
    "est\\u003e \\u0026 \\\"plugin\\\"second line\",\"Enabled\":false,\"ID\":\"894f82319226\",\"N"
    "ame\":\"me/p:1\",\"PluginReference\":\"me/p:1\",\"State\":\"disabled\"}\n" },
  { "table {{json .}}", FALSE,
    "\n{\"Description\":\"a much longer description that goes on, with a tab\\there and "
    "\303\274""n\303\257""c\303\266""d\303\251""\",\"Enabled\":false,\"ID\":\"63fc3dc3b06f27a1274"
    "14fbae3e30f71b186c6513b2d9341596a70072e5c1de5\",\"Name\":\"a-rather-long-name/plugin:2.0\","
    "\"PluginReference\":\"a-rather-long-name/plugin:2.0\",\"State\":\"disabled\"}\n{\"Descriptio"
    "n\":\"A \\u003ctest\\u003e \\u0026 \\\"plugin\\\"second line\",\"Enabled\":false,\"ID\":\"89"
    "4f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1\",\"Name\":\"me/p:1\",\"Plugi"
    "nReference\":\"me/p:1\",\"State\":\"disabled\"}\n" },
  { "tablex{{.ID}}", TRUE,
    "xID\nx63fc3dc3b06f\nx894f82319226\n" },
  { "tablex{{.ID}}", FALSE,
    "xID\nx63fc3dc3b06f27a127414fbae3e30f71b186c6513b2d9341596a70072e5c1de5\nx894f82319226efa32b7"
    "bbd2427854ad716128ca6e144a7343ba95b43711459b1\n" },
  { "table {{if .Enabled}}on{{end}}\t{{.Name}}", TRUE,
    "on        NAME\n          a-rather-long-name/plugin:2.0\n          me/p:1\n" },
  { "table {{if .Enabled}}on{{end}}\t{{.Name}}", FALSE,
    "on        NAME\n          a-rather-long-name/plugin:2.0\n          me/p:1\n" },
  { "table {{truncate .Name 3}}\t{{split .Name \"/\"}}\t{{join (split .Name \"/\") \"+\"}}", TRUE,
    "NAME      NAME                              NAME\na-r       [a-rather-long-name plugin:2.0] "
    "  a-rather-long-name+plugin:2.0\nme/       [me p:1]                          me+p:1\n" },
  { "table {{truncate .Name 3}}\t{{split .Name \"/\"}}\t{{join (split .Name \"/\") \"+\"}}", FALSE,
    "NAME      NAME                              NAME\na-r       [a-rather-long-name plugin:2.0] "
    "  a-rather-long-name+plugin:2.0\nme/       [me p:1]                          me+p:1\n" },
  { "table {{printf \"%s-%d\" .Name 3}}\t{{len .Name}}", TRUE,
    "NAME-3                            4\na-rather-long-name/plugin:2.0-3   29\nme/p:1-3         "
    "                 6\n" },
  { "table {{printf \"%s-%d\" .Name 3}}\t{{len .Name}}", FALSE,
    "NAME-3                            4\na-rather-long-name/plugin:2.0-3   29\nme/p:1-3         "
    "                 6\n" },
  { "table {{.Name}}\f{{.ID}}\t{{.Enabled}}", TRUE,
    "NAME\nID        ENABLED\na-rather-long-name/plugin:2.0\n63fc3dc3b06f   false\nme/p:1\n894f82"
    "319226   false\n" },
  { "table {{.Name}}\f{{.ID}}\t{{.Enabled}}", FALSE,
    "NAME\nID        ENABLED\na-rather-long-name/plugin:2.0\n63fc3dc3b06f27a127414fbae3e30f71b186"
    "c6513b2d9341596a70072e5c1de5   false\nme/p:1\n894f82319226efa32b7bbd2427854ad716128ca6e144a7"
    "343ba95b43711459b1   false\n" },
  { "table\t{{.Name}}\t\t{{.ID}}", TRUE,
    "          NAME                                      ID\n          a-rather-long-name/plugin:"
    "2.0             63fc3dc3b06f\n          me/p:1                                    894f823192"
    "26\n" },
  { "table\t{{.Name}}\t\t{{.ID}}", FALSE,
    "          NAME                                      ID\n          a-rather-long-name/plugin:"
    "2.0             63fc3dc3b06f27a127414fbae3e30f71b186c6513b2d9341596a70072e5c1de5\n          "
    "me/p:1                                    894f82319226efa32b7bbd2427854ad716128ca6e144a7343b"
    "a95b43711459b1\n" },
};

static void
test_list_like_docker (void)
{
  static const char *const rows[2][2] = {
    { "{\"Description\":\"a much longer description that goes on, with\342\200\246\","
      "\"Enabled\":false,\"ID\":\"63fc3dc3b06f\",\"Name\":\"a-rather-long-name/plugin:2.0\","
      "\"PluginReference\":\"a-rather-long-name/plugin:2.0\",\"State\":\"disabled\"}",
      "{\"Description\":\"a much longer description that goes on, with a tab\\there and "
      "\303\274n\303\257c\303\266d\303\251\",\"Enabled\":false,\"ID\":"
      "\"63fc3dc3b06f27a127414fbae3e30f71b186c6513b2d9341596a70072e5c1de5\",\"Name\":"
      "\"a-rather-long-name/plugin:2.0\",\"PluginReference\":\"a-rather-long-name/plugin:2.0\","
      "\"State\":\"disabled\"}" },
    { row_json,
      "{\"Description\":\"A <test> & \\\"plugin\\\"second line\",\"Enabled\":false,"
      "\"ID\":\"894f82319226efa32b7bbd2427854ad716128ca6e144a7343ba95b43711459b1\","
      "\"Name\":\"me/p:1\",\"PluginReference\":\"me/p:1\",\"State\":\"disabled\"}" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (list_cases); i++)
    {
      const ListCase *c = &list_cases[i];
      g_autoptr(GPtrArray) nodes = NULL;
      g_autoptr(CtlTemplate) tmpl = NULL;
      g_autoptr(GString) out = g_string_new (NULL);
      g_autoptr(GError) error = NULL;
      gboolean table;

      g_test_message ("%s", c->format);
      nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
      for (gsize r = 0; r < G_N_ELEMENTS (rows); r++)
        g_ptr_array_add (nodes, parse_json (rows[r][c->trunc ? 0 : 1]));
      tmpl = ctl_parse_list_format (c->format, FALSE, &table, &error);
      g_assert_no_error (error);
      if (c->output != NULL)
        {
          g_assert_true (ctl_format_list (tmpl, table, nodes, out, &error));
          g_assert_no_error (error);
          g_assert_cmpstr (out->str, ==, c->output);
        }
      else
        {
          g_assert_false (ctl_format_list (tmpl, table, nodes, out, &error));
          g_assert_cmpstr (error->message, ==, c->error);
          g_assert_cmpstr (out->str, ==, "");
        }
    }
}

static void
test_list_raw (void)
{
  g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  g_autoptr(CtlTemplate) tmpl = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  gboolean table = TRUE;

  g_ptr_array_add (nodes, parse_json (row_json));
  tmpl = ctl_parse_list_format ("raw", TRUE, &table, NULL);
  g_assert_false (table);
  g_assert_true (ctl_format_list (tmpl, table, nodes, out, NULL));
  g_assert_cmpstr (out->str, ==, "plugin_id: 894f82319226\n");
  /* nothing to list: a table still has its header, other formats print nothing */
  g_ptr_array_set_size (nodes, 0);
  g_clear_pointer (&tmpl, ctl_template_free);
  tmpl = ctl_parse_list_format ("table {{.ID}}\\t{{.State}}", FALSE, &table, NULL);
  g_string_truncate (out, 0);
  g_assert_true (ctl_format_list (tmpl, table, nodes, out, NULL));
  g_assert_cmpstr (out->str, ==, "ID        STATE\n");
  g_clear_pointer (&tmpl, ctl_template_free);
  tmpl = ctl_parse_list_format ("{{.ID}}", FALSE, &table, NULL);
  g_string_truncate (out, 0);
  g_assert_true (ctl_format_list (tmpl, table, nodes, out, NULL));
  g_assert_cmpstr (out->str, ==, "");
}

/* Go's text/tabwriter with docker's settings */
static void
test_tabwriter (void)
{
  static const struct {
    const char *in;
    const char *out;
  } cases[] = {
    { "", "" },
    { "a", "a" },
    { "a\tb\n", "a         b\n" },
    { "a\tb", "a         b" },
    { "a\t", "a" },
    { "a\t\n", "a         \n" },
    { "abcdefghij\tb\nc\td\n", "abcdefghij   b\nc            d\n" },
    /* a line without a cell ends the block */
    { "abcdefghij\tb\n\nc\td\n", "abcdefghij   b\n\nc         d\n" },
    /* a block of the second column is a run of lines that have it */
    { "a\tbbbbbbbbbbbb\tc\nd\te\nf\tg\th\n",
      "a         bbbbbbbbbbbb   c\nd         e\nf         g         h\n" },
    { "a\tbbbbbbbbbbbb\tc\nf\tg\th\n", "a         bbbbbbbbbbbb   c\nf         g              h\n" },
    /* a form feed is a line feed that ends every block; a vertical tab ends a cell */
    { "aaaaaaaaaaaa\tb\fc\td\n", "aaaaaaaaaaaa   b\nc         d\n" },
    { "a\vb\n", "a         b\n" },
    /* widths count characters, not bytes */
    { "\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251"
      "\tx\nabc\ty\n",
      "\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251\303\251"
      "   x\nabc           y\n" },
    { "\t\tc\n", "                    c\n" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GString) out = g_string_new (NULL);

      ctl_tabwriter_format (out, cases[i].in, strlen (cases[i].in));
      g_assert_cmpstr (out->str, ==, cases[i].out);
    }
}

/* many columns must not nest anything: a hostile description full of tabs */
static void
test_tabwriter_many_cells (void)
{
  g_autoptr(GString) in = g_string_new (NULL);
  g_autoptr(GString) out = g_string_new (NULL);

  for (int i = 0; i < 200000; i++)
    g_string_append (in, "x\t");
  g_string_append (in, "\nend\n");
  ctl_tabwriter_format (out, in->str, in->len);
  g_assert_cmpuint (out->len, ==, 200000 * 10 + 1 + 4);
  g_assert_true (g_str_has_suffix (out->str, "x         \nend\n"));
}

static void
expect_limit (const char *template, JsonNode *data, const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CtlTemplate) tmpl = ctl_template_parse (template, &error);
  g_autoptr(GString) out = g_string_new (NULL);

  if (tmpl != NULL)
    g_assert_false (ctl_template_execute (tmpl, data, CTL_TEMPLATE_DATA_PLUGIN, out, &error));
  g_assert_error (error, CTL_TEMPLATE_ERROR, CTL_TEMPLATE_ERROR_LIMIT);
  g_assert_nonnull (strstr (error->message, message));
  g_assert_cmpuint (out->len, ==, 0);
}

/* the bounds: a template is the user's own, but a few bytes of it can ask for a lot */
static void
test_limits (void)
{
  g_autoptr(JsonNode) data = parse_json (plugin_json);
  g_autoptr(GString) long_template = g_string_new (NULL);
  g_autoptr(GString) deep = g_string_new (NULL);
  g_autoptr(GString) deep_if = g_string_new (NULL);
  g_autoptr(GString) runaway = g_string_new ("{{$l := split \"");
  g_autoptr(CtlTemplate) tmpl = NULL;

  while (long_template->len <= CTL_TEMPLATE_MAX_SIZE)
    g_string_append (long_template, "{{.Name}}");
  expect_limit (long_template->str, data, "longer than 65536 bytes");

  g_string_append (deep, "{{");
  for (int i = 0; i <= CTL_TEMPLATE_MAX_DEPTH; i++)
    g_string_append (deep, "(");
  expect_limit (deep->str, data, "nested more than 64 levels deep");
  for (int i = 0; i <= CTL_TEMPLATE_MAX_DEPTH; i++)
    g_string_append (deep_if, "{{if 1}}");
  expect_limit (deep_if->str, data, "nested more than 64 levels deep");
  /* 64 levels are fine */
  g_string_truncate (deep_if, 0);
  for (int i = 0; i < CTL_TEMPLATE_MAX_DEPTH; i++)
    g_string_append (deep_if, "{{if 1}}");
  g_string_append (deep_if, "x");
  for (int i = 0; i < CTL_TEMPLATE_MAX_DEPTH; i++)
    g_string_append (deep_if, "{{end}}");
  tmpl = ctl_template_parse (deep_if->str, NULL);
  g_assert_nonnull (tmpl);

  /* ranges within ranges: 40^4 iterations end at the step bound */
  for (int i = 0; i < 40; i++)
    g_string_append (runaway, "x");
  g_string_append (runaway, "\" \"\"}}{{range $l}}{{range $l}}{{range $l}}{{range $l}}"
                            "{{end}}{{end}}{{end}}{{end}}");
  expect_limit (runaway->str, data, "more than 1000000 evaluation steps");

  /* output, and strings that would outgrow it */
  expect_limit ("{{range split (pad \"x\" 0 30000) \"\"}}{{json $}}{{end}}", data,
                "output longer than 33554432 bytes");
  expect_limit ("{{pad \"x\" 1 100000000}}", data, "output longer than 33554432 bytes");
  expect_limit ("{{$a := pad \"x\" 0 20000000}}{{$b := printf \"%s%s\" $a $a}}", data,
                "output longer than");
}

/* a hostile plugin controls the strings of its config: they are data, printed as they are
 * (pluginctl escapes what reaches a terminal), and never read as a template */
static void
test_hostile_values (void)
{
  g_autoptr(JsonNode) data = parse_json (
    "{\"Id\":\"x\",\"Name\":\"{{.Id}}\",\"Config\":{\"Description\":\"\\u001b[2J{{json .}}\\t"
    "%s%d\"},\"Settings\":{\"Env\":[\"A=\\u009b1m\"]}}");
  static const Case cases[] = {
    { "{{.Name}}", "{{.Id}}" },
    { "{{.Config.Description}}", "\033[2J{{json .}}\t%s%d" },
    { "{{printf .Config.Description 1 2}}", "\033[2J{{json .}}\t%!s(int=1)2" },
    { "{{json .Config.Description}}", "\"\\u001b[2J{{json .}}\\t%s%d\"" },
    { "{{range .Settings.Env}}{{.}}{{end}}", "A=\302\2331m" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    check_case (data, CTL_TEMPLATE_DATA_PLUGIN, &cases[i]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/template/inspect-like-docker", test_inspect_like_docker);
  g_test_add_func ("/template/unsupported", test_unsupported);
  g_test_add_func ("/template/more", test_more);
  g_test_add_func ("/template/untyped-data", test_untyped_data);
  g_test_add_func ("/template/list-row", test_list_row);
  g_test_add_func ("/template/list-header", test_list_header);
  g_test_add_func ("/template/list-like-docker", test_list_like_docker);
  g_test_add_func ("/template/list-raw", test_list_raw);
  g_test_add_func ("/template/tabwriter", test_tabwriter);
  g_test_add_func ("/template/tabwriter-many-cells", test_tabwriter_many_cells);
  g_test_add_func ("/template/limits", test_limits);
  g_test_add_func ("/template/hostile-values", test_hostile_values);
  return g_test_run ();
}
