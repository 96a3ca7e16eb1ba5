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

status=0
TAGPUB_KEYRING_SESSION_DIR="$session_dir" dbus-run-session -- bash -c '
    set -euo pipefail
    export XDG_DATA_HOME="$TAGPUB_KEYRING_SESSION_DIR/data"
    export XDG_RUNTIME_DIR="$TAGPUB_KEYRING_SESSION_DIR/runtime"
    unset TAGPUB_KEYRING_SESSION_DIR
    # A session started inside another (a test of a locked keyring) must get
    # its own daemon: with the outer control socket in the environment,
    # gnome-keyring-daemon would talk to (and disturb) the outer one.
    unset GNOME_KEYRING_CONTROL GNOME_KEYRING_PID
    # --unlock reads the new login keyring'"'"'s password from stdin (never a tty here).
    eval "$(printf "tagpub-test" | gnome-keyring-daemon --unlock --components=secrets |
        sed -n "s/^\(GNOME_KEYRING_[A-Z_]*\)=\(.*\)$/export \1=\"\2\"/p")"
    # Wait until the daemon owns the name (D-Bus activation would start a
    # second, locked daemon instead) and its unlocked login keyring is the
    # default collection: before that, the first write would make
    # gnome-keyring ask (with a prompt that cannot show here) to create one.
    for _ in $(seq 200); do
        if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
            grep -q "boolean true" &&
            dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
                org.freedesktop.Secret.Service.ReadAlias string:default 2>/dev/null |
            grep -q "collection/login"; then
            exec "$@"
        fi
        sleep 0.05
    done
    echo "keyring-session.sh: gnome-keyring-daemon did not serve an unlocked login keyring" >&2
    exit 1
' keyring-session "$@" || status=$?
exit "$status"
