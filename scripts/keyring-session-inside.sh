#!/usr/bin/env bash
# Run by scripts/keyring-session.sh inside its private D-Bus session: starts
# an unlocked gnome-keyring, keeps it up while CMD runs, and exits with
# CMD's status. Not meant to be run by hand.
set -euo pipefail
export XDG_DATA_HOME="$TAGPUB_KEYRING_SESSION_DIR/data"
export XDG_RUNTIME_DIR="$TAGPUB_KEYRING_SESSION_DIR/runtime"
unset TAGPUB_KEYRING_SESSION_DIR
# A session started inside another (a test of a locked keyring) must get
# its own daemon: with the outer control socket in the environment,
# gnome-keyring-daemon would talk to (and disturb) the outer one.
unset GNOME_KEYRING_CONTROL GNOME_KEYRING_PID

bus_call() {
    dbus-send --session --print-reply "$@" 2>/dev/null
}

# The pid of the process that owns org.freedesktop.secrets, if any.
keyring_pid() {
    bus_call --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets |
        sed -n 's/^ *uint32 \([0-9]*\)$/\1/p'
}

# Starts gnome-keyring-daemon and waits until it owns the name and its
# unlocked login keyring is the default collection: before that, the first
# write would make gnome-keyring ask (with a prompt that cannot show here)
# to create one. The login keyring's file persists in $XDG_DATA_HOME, so a
# restarted daemon unlocks the same keyring with the same password.
start_keyring() {
    # --unlock reads the login keyring's password from stdin (never a tty here).
    printf "tagpub-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    for _ in $(seq 200); do
        if [ -n "$(keyring_pid)" ] &&
            bus_call --dest=org.freedesktop.secrets /org/freedesktop/secrets \
                org.freedesktop.Secret.Service.ReadAlias string:default |
            grep -q "collection/login"; then
            return 0
        fi
        sleep 0.05
    done
    echo "keyring-session.sh: gnome-keyring-daemon did not serve an unlocked login keyring" >&2
    return 1
}

start_keyring
# gnome-keyring-daemon has died of a glib trap (dmesg: "trap int3 …
# libglib") in long test runs; every keychain test after it then failed.
# A watchdog starts it again, unlocked, within a fraction of a second.
# It asks the bus, not `kill -0`: a dead daemon whose parent (pid 1 of a
# container) does not reap it stays a zombie, and a zombie has a pid.
(
    while sleep 0.2; do
        if [ -z "$(keyring_pid)" ]; then
            echo "keyring-session.sh: gnome-keyring-daemon is gone; starting it again, unlocked" >&2
            start_keyring || exit 1
        fi
    done
) &
watchdog=$!
status=0
"$@" || status=$?
kill "$watchdog" 2>/dev/null || true
exit "$status"
