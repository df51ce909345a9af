# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# plugind-env.sh: a bash library for the README commands and CI. Source it, then call:
#
#   pd_install_deps                  install the missing Debian packages (apt-get, as root)
#   pd_build BUILDDIR [MESON_OPT…]   meson setup (or reconfigure) + ninja
#   pd_start_system_bus [BUILDDIR]   use the running system bus, or start a private one plus
#                                    polkitd; installs the bus policy and the polkit actions
#   pd_start_daemon BUILDDIR         run BUILDDIR/src/daemon/plugind --replace and wait for its name
#   pd_stop_daemon                   stop the daemon pd_start_daemon started
#   pd_stop_system_bus               stop the private bus and polkitd (if this library started them)
#   pd_start_registry                a docker-registry on 127.0.0.1 (PD_REGISTRY=host:port)
#   pd_stop_registry                 stop it
#
# Every function is idempotent, never prompts, and uses no network except apt-get.
# Knobs (environment): PD_RUN_DIR (private bus dir, default /run/plugind-env),
# STATE_DIRECTORY / RUNTIME_DIRECTORY (daemon dirs, default /var/lib/plugind, /run/plugind),
# PD_DAEMON_LOG (default $PD_RUN_DIR/plugind.log), PD_QUIET=1 (less output).

PD_SRCDIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PD_RUN_DIR="${PD_RUN_DIR:-/run/plugind-env}"
PD_BUS_NAME="org.plugind.Plugind1"
PD_POLKIT_ACTION_DIR="/usr/share/polkit-1/actions"
PD_POLKITD="${PD_POLKITD:-/usr/lib/polkit-1/polkitd}"

PD_DEB_PACKAGES=(
  meson ninja-build pkg-config gcc libc6-dev libglib2.0-dev libglib2.0-bin libjson-glib-dev
  libsoup-3.0-dev libarchive-dev libpolkit-gobject-1-dev polkitd libseccomp-dev bubblewrap
  dbus-daemon dbus-system-bus-common libdbus-1-dev python3-gi python3-dbusmock libssl-dev zlib1g-dev libisal-dev gettext
  libxml2-utils python3-docutils util-linux valgrind systemd bash-completion locales
  docker-registry skopeo umoci isal zstd python3-cryptography python3-bcrypt
  docker.io podman runc busybox-static
  clang libclang-rt-14-dev llvm
  libpolkit-agent-1-dev passwd
  libgtk-4-dev libadwaita-1-dev appstream desktop-file-utils
  xvfb at-spi2-core python3-pyatspi imagemagick fonts-dejavu-core adwaita-icon-theme
)

_pd_log() {
  [ "${PD_QUIET:-0}" = 1 ] || echo "plugind-env: $*" >&2
}

_pd_die() {
  echo "plugind-env: error: $*" >&2
  return 1
}

_pd_need_root() {
  [ "$(id -u)" = 0 ] || _pd_die "$1 needs root"
}

# ---------------------------------------------------------------------------------------------
# packages

pd_install_deps() {
  local missing=() p
  for p in "${PD_DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    _pd_log "all build and test packages are installed"
    return 0
  fi
  _pd_need_root "installing ${missing[*]}" || return 1
  _pd_log "installing: ${missing[*]}"
  _pd_log "(with their dependencies; on a fresh machine this is a few hundred packages and takes a few minutes)"
  export DEBIAN_FRONTEND=noninteractive
  local out
  # apt's and debconf's chatter (on stderr too) only when something fails
  if ! out="$(apt-get update -qq 2>&1 &&
    apt-get install -y -qq --no-install-recommends "${missing[@]}" 2>&1)"; then
    echo "$out" >&2
    return 1
  fi
  _pd_log "installed ${#missing[@]} packages"
}

# ---------------------------------------------------------------------------------------------
# build

pd_build() {
  local builddir="${1:?usage: pd_build BUILDDIR [MESON_OPTIONS…]}"
  shift
  case "$builddir" in /*) ;; *) builddir="$PD_SRCDIR/$builddir" ;; esac
  local mode=() out
  if [ -f "$builddir/build.ninja" ]; then
    # takes the same options as a first setup (meson configure would not take --werror)
    mode=(--reconfigure)
  elif [ -d "$builddir/meson-private" ]; then
    # a setup that did not finish
    mode=(--wipe)
  fi
  if ! out="$(meson setup "${mode[@]}" "$builddir" "$PD_SRCDIR" "$@" 2>&1)"; then
    echo "$out" >&2
    return 1
  fi
  ninja -C "$builddir" >/dev/null || {
    # show the failing commands
    ninja -C "$builddir" >&2
    return 1
  }
  PD_BUILDDIR="$builddir"
  export PD_BUILDDIR
  _pd_log "built in $builddir"
}

# ---------------------------------------------------------------------------------------------
# system bus + polkitd

# succeeds when the system bus at $DBUS_SYSTEM_BUS_ADDRESS (or the default address) answers
_pd_bus_answers() {
  timeout 5 dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
    org.freedesktop.DBus.GetId >/dev/null 2>&1
}

_pd_name_has_owner() {
  timeout 5 dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
    org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q 'boolean true'
}

# writes a system-bus style configuration for a private bus into $1
_pd_write_bus_config() {
  local conf="$1" sock="$2" sysd="$3"
  cat >"$conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- private system bus written by plugind-env.sh -->
<busconfig>
  <type>system</type>
  <listen>unix:path=$sock</listen>
  <auth>EXTERNAL</auth>
  <pidfile>$PD_RUN_DIR/dbus.pid</pidfile>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <includedir>$sysd</includedir>
</busconfig>
EOF
}

# the merged polkit policy of a build dir
_pd_merged_policy() {
  local builddir="$1"
  local f="$builddir/data/org.plugind.plugind1.policy"
  [ -f "$f" ] && echo "$f"
}

_pd_install_polkit_policy() {
  local builddir="$1" policy
  policy="$(_pd_merged_policy "$builddir")" ||
    _pd_die "no merged polkit policy in $builddir/data (build first: pd_build $builddir)" || return 1
  if ! cmp -s "$policy" "$PD_POLKIT_ACTION_DIR/org.plugind.plugind1.policy"; then
    install -D -m 0644 "$policy" "$PD_POLKIT_ACTION_DIR/org.plugind.plugind1.policy" || return 1
    _pd_log "installed $PD_POLKIT_ACTION_DIR/org.plugind.plugind1.policy"
  fi
}

_pd_start_polkitd() {
  if _pd_name_has_owner org.freedesktop.PolicyKit1; then
    return 0
  fi
  # a real system bus activates polkitd itself (systemd's polkit.service)
  if timeout 5 dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
    org.freedesktop.DBus.ListActivatableNames 2>/dev/null |
    grep -q '"org.freedesktop.PolicyKit1"'; then
    timeout 30 dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
      org.freedesktop.DBus.StartServiceByName string:org.freedesktop.PolicyKit1 uint32:0 \
      >/dev/null 2>&1 && return 0
  fi
  [ -x "$PD_POLKITD" ] || _pd_die "$PD_POLKITD not found (install polkitd)" || return 1
  # polkitd started as root drops to its own user "polkitd", which the stock bus policy lets own
  # org.freedesktop.PolicyKit1
  setsid "$PD_POLKITD" --no-debug </dev/null >>"$PD_RUN_DIR/polkitd.log" 2>&1 &
  echo $! >"$PD_RUN_DIR/polkitd.pid"
  for _ in $(seq 100); do
    _pd_name_has_owner org.freedesktop.PolicyKit1 && return 0
    kill -0 "$(cat "$PD_RUN_DIR/polkitd.pid")" 2>/dev/null || break
    sleep 0.1
  done
  cat "$PD_RUN_DIR/polkitd.log" >&2
  _pd_die "polkitd did not come up"
}

# with no DBUS_SYSTEM_BUS_ADDRESS, use a private bus this library started earlier, if it runs
_pd_adopt_private_bus() {
  local sock="$PD_RUN_DIR/system_bus_socket"
  if [ -z "${DBUS_SYSTEM_BUS_ADDRESS:-}" ] && [ -S "$sock" ] &&
    DBUS_SYSTEM_BUS_ADDRESS="unix:path=$sock" _pd_bus_answers; then
    export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$sock"
  fi
}

pd_start_system_bus() {
  local builddir="${1:-${PD_BUILDDIR:-$PD_SRCDIR/build}}"
  case "$builddir" in /*) ;; *) builddir="$PD_SRCDIR/$builddir" ;; esac
  local conf_src="$PD_SRCDIR/data/org.plugind.Plugind1.conf"
  [ -f "$conf_src" ] || _pd_die "$conf_src is missing" || return 1
  _pd_need_root "starting the system bus environment" || return 1
  _pd_install_polkit_policy "$builddir" || return 1

  local private_sock="$PD_RUN_DIR/system_bus_socket"
  _pd_adopt_private_bus

  if _pd_bus_answers; then
    if [ "${DBUS_SYSTEM_BUS_ADDRESS:-}" = "unix:path=$private_sock" ]; then
      # ours: refresh the policy copy and reload
      if ! cmp -s "$conf_src" "$PD_RUN_DIR/system.d/org.plugind.Plugind1.conf"; then
        install -m 0644 "$conf_src" "$PD_RUN_DIR/system.d/org.plugind.Plugind1.conf"
        dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
          org.freedesktop.DBus.ReloadConfig >/dev/null
      fi
      _pd_log "using the private system bus at $DBUS_SYSTEM_BUS_ADDRESS"
    else
      # the machine's own bus: it needs our policy to let plugind own its name
      if ! cmp -s "$conf_src" /etc/dbus-1/system.d/org.plugind.Plugind1.conf &&
        ! cmp -s "$conf_src" /usr/share/dbus-1/system.d/org.plugind.Plugind1.conf &&
        ! cmp -s "$conf_src" /usr/local/share/dbus-1/system.d/org.plugind.Plugind1.conf; then
        install -D -m 0644 "$conf_src" /etc/dbus-1/system.d/org.plugind.Plugind1.conf
        dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
          org.freedesktop.DBus.ReloadConfig >/dev/null
        _pd_log "installed /etc/dbus-1/system.d/org.plugind.Plugind1.conf"
      fi
      _pd_log "using the running system bus${DBUS_SYSTEM_BUS_ADDRESS:+ at $DBUS_SYSTEM_BUS_ADDRESS}"
    fi
    _pd_start_polkitd || return 1
    return 0
  fi

  # no system bus: start a private one
  mkdir -p "$PD_RUN_DIR/system.d" || return 1
  chmod 0755 "$PD_RUN_DIR" "$PD_RUN_DIR/system.d"
  install -m 0644 "$conf_src" "$PD_RUN_DIR/system.d/org.plugind.Plugind1.conf"
  install -m 0644 /usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf \
    "$PD_RUN_DIR/system.d/org.freedesktop.PolicyKit1.conf" ||
    _pd_die "polkit's bus policy is missing (install polkitd)" || return 1
  _pd_write_bus_config "$PD_RUN_DIR/bus.conf" "$private_sock" "$PD_RUN_DIR/system.d"
  rm -f "$private_sock" "$PD_RUN_DIR/dbus.pid"
  dbus-daemon --config-file="$PD_RUN_DIR/bus.conf" --fork --nosyslog ||
    _pd_die "dbus-daemon failed to start" || return 1
  export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$private_sock"
  for _ in $(seq 50); do
    _pd_bus_answers && break
    sleep 0.1
  done
  _pd_bus_answers || _pd_die "the private bus does not answer" || return 1
  _pd_start_polkitd || return 1
  _pd_log "started a private system bus and polkitd; to reach it:"
  _pd_log "  export DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS"
}

pd_stop_system_bus() {
  local f
  for f in "$PD_RUN_DIR/polkitd.pid" "$PD_RUN_DIR/dbus.pid"; do
    if [ -f "$f" ]; then
      kill "$(cat "$f")" 2>/dev/null
      rm -f "$f"
    fi
  done
  if [ "${DBUS_SYSTEM_BUS_ADDRESS:-}" = "unix:path=$PD_RUN_DIR/system_bus_socket" ]; then
    unset DBUS_SYSTEM_BUS_ADDRESS
  fi
  rm -f "$PD_RUN_DIR/system_bus_socket"
}

# ---------------------------------------------------------------------------------------------
# daemon

pd_start_daemon() {
  local builddir="${1:-${PD_BUILDDIR:-$PD_SRCDIR/build}}"
  case "$builddir" in /*) ;; *) builddir="$PD_SRCDIR/$builddir" ;; esac
  local daemon="$builddir/src/daemon/plugind"
  [ -x "$daemon" ] || _pd_die "$daemon is missing (build first: pd_build $builddir)" || return 1
  _pd_adopt_private_bus
  _pd_bus_answers || _pd_die "no system bus (call pd_start_system_bus first)" || return 1
  mkdir -p "$PD_RUN_DIR" && chmod 0755 "$PD_RUN_DIR"
  local log="${PD_DAEMON_LOG:-$PD_RUN_DIR/plugind.log}"
  local state="${STATE_DIRECTORY:-/var/lib/plugind}"
  local runtime="${RUNTIME_DIRECTORY:-/run/plugind}"
  mkdir -p "$state" "$runtime" && chmod 0700 "$state" "$runtime"

  # --replace takes the name over from a running instance
  STATE_DIRECTORY="$state" RUNTIME_DIRECTORY="$runtime" \
    PLUGIND_EXTRACT_HELPER="$builddir/src/helpers/plugind-extract" \
    PLUGIND_TRANSFER_HELPER="$builddir/src/helpers/plugind-transfer" \
    PLUGIND_SANDBOX_INIT="$builddir/src/helpers/plugind-sandbox-init" \
    setsid "$daemon" --replace --verbose </dev/null >>"$log" 2>&1 &
  local pid=$!
  echo "$pid" >"$PD_RUN_DIR/plugind.pid"
  local owner_pid
  for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$log" >&2
      _pd_die "plugind exited during start-up (log: $log)"
      return 1
    fi
    # the name has no owner yet: no error under set -e -o pipefail in the scripts
    owner_pid="$(timeout 5 dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
      org.freedesktop.DBus.GetConnectionUnixProcessID "string:$PD_BUS_NAME" 2>/dev/null |
      awk '/uint32/ {print $2}')" || owner_pid=""
    # owning the name is not enough: under --replace the objects come once the state dir is
    # free (another plugind on another bus may still hold it)
    if [ "$owner_pid" = "$pid" ] &&
      timeout 5 dbus-send --system --print-reply --dest="$PD_BUS_NAME" \
        /org/plugind/Plugind1/Manager org.freedesktop.DBus.Properties.Get \
        string:org.plugind.Plugind1.Manager string:Version >/dev/null 2>&1; then
      _pd_log "plugind (pid $pid) owns $PD_BUS_NAME; state $state, log $log"
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$log" >&2
  _pd_die "plugind did not take the name $PD_BUS_NAME and export its objects within 10 s" \
    "(is another plugind using $state? log: $log)"
}

pd_stop_daemon() {
  local f="$PD_RUN_DIR/plugind.pid" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$f"
}

# ---------------------------------------------------------------------------------------------
# a local registry

# pd_start_registry: the distribution registry (docker-registry) on 127.0.0.1 with its storage
# in $PD_RUN_DIR/registry; a second call reuses a running one. Sets PD_REGISTRY to host:port.
pd_start_registry() {
  local dir="$PD_RUN_DIR/registry" port pid
  mkdir -p "$dir"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null && [ -f "$dir/host" ]; then
    PD_REGISTRY="$(cat "$dir/host")"
    export PD_REGISTRY
    return 0
  fi
  # a free port: 5000 if nothing listens there, else one the kernel picks
  port=5000
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  fi
  # JSON is YAML: no YAML tooling needed
  cat >"$dir/config.yml" <<CONF
{"version": "0.1", "log": {"level": "warn"},
 "storage": {"filesystem": {"rootdirectory": "$dir/storage"}, "delete": {"enabled": true}},
 "http": {"addr": "127.0.0.1:$port"}}
CONF
  # a session of its own, as plugind and polkitd: it must outlive a terminal that hangs up
  setsid docker-registry serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/pid"
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
      echo "127.0.0.1:$port" >"$dir/host"
      PD_REGISTRY="127.0.0.1:$port"
      export PD_REGISTRY
      _pd_log "docker-registry listens on $PD_REGISTRY (log: $dir/registry.log)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  _pd_die "docker-registry did not start; see $dir/registry.log"
}

pd_stop_registry() {
  local f="$PD_RUN_DIR/registry/pid"
  [ -f "$f" ] || return 0
  kill -TERM "$(cat "$f")" 2>/dev/null || true
  rm -f "$f" "$PD_RUN_DIR/registry/host"
}
