#!/usr/bin/env bash
# Downloads the check corpus (tests/corpus/files.txt and recent.txt: sha256
# + URL a line; recent.txt adds the upload time) into $TAGPUB_DEV_CACHE/corpus. Idempotent: a file already there with the
# pinned sha256 is not downloaded again, so a second run only hashes.
# A download with another hash is deleted and the script fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=env.sh
. scripts/env.sh

dest="$TAGPUB_DEV_CACHE/corpus"
mkdir -p "$dest"
sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
fetched=0 present=0
for list in tests/corpus/files.txt tests/corpus/recent.txt; do
while read -r hash url _; do
  [[ -z "$hash" || "$hash" == \#* ]] && continue
  name="${url##*/}"
  file="$dest/$name"
  if [[ -f "$file" && "$(sha256 "$file")" == "$hash" ]]; then
    present=$((present + 1))
    continue
  fi
  echo "== fetching $name" >&2
  curl --fail --silent --show-error --location --retry 3 -o "$file.part" "$url"
  got="$(sha256 "$file.part")"
  if [[ "$got" != "$hash" ]]; then
    rm -f "$file.part"
    echo "error: $name has sha256 $got, $list pins $hash" >&2
    exit 1
  fi
  mv "$file.part" "$file"
  fetched=$((fetched + 1))
done < "$list"
done
echo "corpus: $dest ($present present, $fetched fetched)" >&2
