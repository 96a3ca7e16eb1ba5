# Sourced by the scripts: where the reusable dev/test caches live.
# A fresh clone on the same machine reuses them, so a second run is fast.
TAGPUB_DEV_CACHE="${TAGPUB_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tagpub-dev}"
TAGPUB_DEV_VENV="$TAGPUB_DEV_CACHE/venv"
export TAGPUB_DEV_CACHE TAGPUB_DEV_VENV
