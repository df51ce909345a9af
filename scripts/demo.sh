#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The README's "run" command: installs what is missing, builds, starts plugind on the system
# bus (a private bus plus polkitd when none runs), and shows it publishing the bundled example
# VolumeDriver plugin to a local registry, installing it from there (configured and enabled in
# a bubblewrap sandbox), calling it (a volume mounted on the host through its PropagatedMount)
# and disabling it. plugind keeps running afterwards.
#
# ./scripts/demo.sh --stop stops what a run left running: the daemon, the registry, and the
# private bus and polkitd when the demo started them (README, "After the demo").
set -euo pipefail

. "$(dirname "$0")/plugind-env.sh"

case "${1:-}" in
"") ;;
--stop)
  pd_stop_daemon
  pd_stop_registry
  pd_stop_system_bus
  echo "stopped what the demo started (its state stays in ${STATE_DIRECTORY:-/var/lib/plugind})"
  exit 0
  ;;
*)
  echo "usage: $0 [--stop]" >&2
  exit 2
  ;;
esac

builddir="${PD_BUILDDIR:-$PD_SRCDIR/build}"

pd_install_deps
pd_build "$builddir"
pd_start_system_bus "$builddir"
pd_start_daemon "$builddir"

pluginctl="$builddir/src/cli/pluginctl"
context="$builddir/example/plugind-example-context.tar.gz"

# bold commands on a terminal only, never escape codes in a log
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi

step() {
  printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"
  "$@"
}

# a second run of the demo starts from the same state
"$pluginctl" rm -f plugind/example >/dev/null 2>&1 || true

# the example keeps its volumes in a host directory it declares as a mount (its privilege)
mkdir -p /var/lib/plugind-example

# publish the example to a registry of our own (loopback only), as its author would ...
pd_start_registry
remote="$PD_REGISTRY/plugind/example:1"
step "$pluginctl" create --grant-all-permissions plugind/example "$context"
step "$pluginctl" push --remote "$remote" plugind/example
step "$pluginctl" rm plugind/example

# ... and install it from there, as a user would: look at what it asks for, then install,
# configure and start it in one job
step "$pluginctl" privileges "$remote"
step "$pluginctl" install --grant-all-permissions --alias plugind/example "$remote" DEBUG=1
step "$pluginctl" ls
step "$pluginctl" inspect plugind/example

# talk to the running plugin through its socket, as Docker would
plugin_path="$(gdbus call --system --dest org.plugind.Plugind1 \
  --object-path /org/plugind/Plugind1/Manager \
  --method org.plugind.Plugind1.Manager.GetPlugin plugind/example | sed -e "s/^(objectpath '//" -e "s/',)$//")"
socket="$(gdbus call --system --dest org.plugind.Plugind1 --object-path "$plugin_path" \
  --method org.freedesktop.DBus.Properties.Get org.plugind.Plugind1.Plugin Socket |
  sed -e "s/^(<'//" -e "s/'>,)$//")"
step "$PD_SRCDIR/scripts/plugin-call.py" "$socket" VolumeDriver.Create '{"Name": "demo", "Opts": {}}'
step "$PD_SRCDIR/scripts/plugin-call.py" "$socket" VolumeDriver.List
# mounted for a container, the volume is a mount of its own on the host, beneath the plugin's
# propagated-mount dir, where a container engine finds it
step "$PD_SRCDIR/scripts/plugin-call.py" "$socket" VolumeDriver.Mount \
  '{"Name": "demo", "ID": "c1"}'
step sh -c 'findmnt --list --output TARGET,FSROOT,OPTIONS | grep -e TARGET -e propagated-mount/demo'
step "$PD_SRCDIR/scripts/plugin-call.py" "$socket" VolumeDriver.Unmount \
  '{"Name": "demo", "ID": "c1"}'
step "$pluginctl" logs -n 5 plugind/example
step "$pluginctl" disable plugind/example
step gdbus call --system --dest org.plugind.Plugind1 --object-path /org/plugind/Plugind1/Manager \
  --method org.plugind.Plugind1.Manager.ListPlugins "{}"

cat <<MSG

plugind is running (log: ${PD_DAEMON_LOG:-$PD_RUN_DIR/plugind.log}), and a registry at $PD_REGISTRY.
Try: $pluginctl --help
MSG
if [ -n "${DBUS_SYSTEM_BUS_ADDRESS:-}" ]; then
  echo "The system bus is a private one; reach it with:"
  echo "  export DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS"
fi
