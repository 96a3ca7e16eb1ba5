#!/usr/bin/env bash
# The long trial loops: the tests of tests/it/concurrency.rs (two releases at
# once, CLI against the daemon, kill -9 at random instants) with large
# counts. scripts/test.sh runs the same tests with small ones.
#   TAGPUB_TRIALS (default 10)        races per test
#   TAGPUB_KILL_TRIALS (default 30)   random kills
#   TAGPUB_CRASH_SEED                 replay a run's kill instants
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=env.sh
. scripts/env.sh

scripts/setup-venv.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TAGPUB_DEV_CACHE/target}"
export PATH="$TAGPUB_DEV_VENV/bin:$PATH"
export TAGPUB_TRIALS="${TAGPUB_TRIALS:-10}"
export TAGPUB_KILL_TRIALS="${TAGPUB_KILL_TRIALS:-30}"
scripts/keyring-session.sh cargo test --locked --test it concurrency:: -- --nocapture "$@"
