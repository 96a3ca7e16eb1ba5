#!/usr/bin/env bash
# Release benchmark: `tagpub release` against the seed workflow's steps
# (python -m build, twine check, twine upload) on the same machine, in the
# same run, against a local pypiserver. Prints a table and rewrites the
# release-bench section of docs/benchmarks.md.
#
#   scripts/bench.sh                  # 7 timed iterations per contender
#   scripts/bench.sh --iterations 11  # more (at least 5)
#   scripts/bench.sh --no-docs        # print only, leave docs/benchmarks.md alone
#   scripts/bench.sh --hooks          # the hooks benchmark instead (git tag overhead, pre-push gate)
#   scripts/bench.sh --daemon         # the daemon benchmark instead (tag → job latency, idle cost, rescan)
#   scripts/bench.sh --check          # tagpub check vs twine check --strict on the PyPI corpus
#   scripts/bench.sh --upload         # the upload benchmark instead (vs twine upload and uv publish)
#   scripts/bench.sh --config         # loading a config of 1 000 / 10 000 / 150 000 packages
#   scripts/bench.sh --checkout       # preparing a build's checkout vs the old export and git archive, vs the build
#   scripts/bench.sh --group          # one group tag releasing five packages vs five package tags
#
# Needs network access to pypi.org (the builds install hatchling into their
# isolated environments; uv and pip cache it after the warm-up).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=env.sh
. scripts/env.sh

scripts/setup-venv.sh
# The seed workflow's tools as its CI installs them (`pip install build twine`,
# latest versions), once; delete the directory to refresh them.
seed_venv="$TAGPUB_DEV_CACHE/bench-seed-venv"
if [[ ! -x "$seed_venv/bin/twine" ]]; then
  echo "== creating $seed_venv (pip install build twine)" >&2
  rm -rf "$seed_venv"
  "$TAGPUB_DEV_VENV/bin/python" -m venv "$seed_venv"
  "$seed_venv/bin/python" -m pip install --quiet --disable-pip-version-check build twine
fi
export TAGPUB_BENCH_SEED_VENV="$seed_venv"
# Same cached target dir as scripts/test.sh unless the caller chose one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TAGPUB_DEV_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo build --release" >&2
cargo build --locked --release --bin tagpub
export TAGPUB_BIN="$CARGO_TARGET_DIR/release/tagpub"

if [[ "${1:-}" == "--check" ]]; then
  # The corpus (pinned PyPI files) is downloaded once, then only hashed.
  scripts/fetch-corpus.sh
fi
if [[ "${1:-}" == "--hooks" || "${1:-}" == "--daemon" || "${1:-}" == "--check" || "${1:-}" == "--upload" || "${1:-}" == "--config" || "${1:-}" == "--checkout" || "${1:-}" == "--group" ]]; then
  bench="${1#--}"
  shift
  echo "== cargo bench --bench $bench" >&2
  exec cargo bench --locked --bench "$bench" -- --bench "$@"
fi
echo "== cargo bench --bench release" >&2
exec cargo bench --locked --bench release -- --bench "$@"
