#!/usr/bin/env bash
# Rewrites data/classifiers.txt and data/deprecated-classifiers.txt (embedded by src/pipeline/check/classifiers.rs)
# from the newest `trove-classifiers` package on PyPI, the list Warehouse
# itself validates uploads against. Uses a throwaway venv; commit the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python="${PYTHON:-python3}"
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade trove-classifiers
"$venv/bin/python" - > data/classifiers.txt.new <<'PY'
import importlib.metadata
import trove_classifiers
version = importlib.metadata.version("trove-classifiers")
print(f"# trove-classifiers {version} (scripts/refresh-classifiers.sh rewrites this file)")
print("\n".join(sorted(trove_classifiers.classifiers)))
PY
"$venv/bin/python" - > data/deprecated-classifiers.txt.new <<'PY'
import importlib.metadata
import trove_classifiers
version = importlib.metadata.version("trove-classifiers")
print(f"# trove-classifiers {version} (scripts/refresh-classifiers.sh rewrites this file)")
print("# deprecated classifier, then a tab before each replacement")
for name in sorted(trove_classifiers.deprecated_classifiers):
    print("\t".join([name, *trove_classifiers.deprecated_classifiers[name]]))
PY
mv data/classifiers.txt.new data/classifiers.txt
mv data/deprecated-classifiers.txt.new data/deprecated-classifiers.txt
echo "data/classifiers.txt: $(grep -vc '^#' data/classifiers.txt) classifiers ($(head -1 data/classifiers.txt))" >&2
