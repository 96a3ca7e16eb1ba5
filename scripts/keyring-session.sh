#!/usr/bin/env bash
# scripts/keyring-session.sh CMD [ARG...]
# Runs CMD inside a private D-Bus session with a fresh, unlocked gnome-keyring
# (a real Secret Service), so keychain tests never touch the user's keyring.
# Installs gnome-keyring and dbus, and gnupg and openssh-client for the
# signed-tag tests (Debian packages), only when they are missing.
set -euo pipefail
if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi

apt_updated=""
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if [ -z "$apt_updated" ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-run-session >/dev/null ||
    ! command -v dbus-send >/dev/null; then
    echo "== installing gnome-keyring and dbus" >&2
    apt_install gnome-keyring dbus dbus-daemon dbus-bin
fi

# tests/it/signed_tags.rs signs and verifies tags with real gpg and ssh-keygen.
if ! command -v gpg >/dev/null || ! command -v gpgconf >/dev/null ||
    ! command -v ssh-keygen >/dev/null; then
    echo "== installing gnupg and openssh-client" >&2
    apt_install gnupg openssh-client
fi

# Keyrings live in $XDG_DATA_HOME/keyrings and the daemon's control socket in
# $XDG_RUNTIME_DIR/keyring: both go to a fresh temp dir, removed afterwards.
session_dir="$(mktemp -d "${TMPDIR:-/tmp}/tagpub-keyring.XXXXXX")"
trap 'rm -rf "$session_dir"' EXIT
mkdir -m 700 "$session_dir/data" "$session_dir/runtime"

# The session bus of the standard config without its service dirs: nothing
# is started by D-Bus activation. When the unlocked daemon is gone for a
# moment, a client gets "no owner" instead of activating a second, locked
# gnome-keyring that would take the name and prompt for every write.
cat >"$session_dir/bus.conf" <<'CONF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF

status=0
TAGPUB_KEYRING_SESSION_DIR="$session_dir" dbus-run-session --config-file="$session_dir/bus.conf" -- \
    bash "$(dirname "${BASH_SOURCE[0]}")/keyring-session-inside.sh" "$@" || status=$?
exit "$status"
