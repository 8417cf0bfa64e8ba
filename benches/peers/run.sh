#!/usr/bin/env bash
# Search latency of Docent and its peers on the same synthetic corpus, vectors and
# queries, in one run, so the ratios are measured on this machine at this moment.
#
#   benches/peers/run.sh                 # 100k chunks, 1000 timed queries
#   CHUNKS=1000000 benches/peers/run.sh
#   PEERS=tantivy,hnswlib benches/peers/run.sh
#
# 1. `docent bench search --export` builds (or reuses) the synthetic index in
#    target/bench-data/search and writes corpus/vectors/queries for the peers;
# 2. a venv (target/peers-venv) gets numpy, hnswlib, tantivy, lancedb from PyPI; a
#    package that fails to install is reported and its peer skipped;
# 3. peers.py builds each peer's index and times the same queries;
# 4. Docent's bm25/dense/hybrid rows run once more after the peers (the load moves);
# 5. report.py prints the tables (each peer's p50 next to Docent's mean p50, and the ratio).
# Rows (JSON) land in target/bench-results/search-<chunks>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHUNKS=${CHUNKS:-100000}
QUERIES=${QUERIES:-1000}
PEERS=${PEERS:-tantivy,hnswlib,glue,lancedb}
VENV=${VENV:-target/peers-venv}
DOCENT=${DOCENT:-target/release/docent}
EXPORT=${EXPORT:-target/bench-data/search/export-$CHUNKS}
OUT=${OUT:-target/bench-results/search-$CHUNKS.jsonl}
export DOCENT_MODELS=${DOCENT_MODELS:-$PWD/models}

if [ ! -x "$DOCENT" ]; then
  cargo build --release -p docent
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
for pkg in numpy hnswlib tantivy lancedb; do
  if ! "$VENV/bin/python" -c "import $pkg" >/dev/null 2>&1; then
    if ! "$VENV/bin/pip" install -q "$pkg"; then
      echo "WARNING: pip install $pkg failed; its peer is skipped" >&2
    fi
  fi
done

mkdir -p "$(dirname "$OUT")"
echo "== load before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$DOCENT" bench search --chunks "$CHUNKS" --queries "$QUERIES" --export "$EXPORT" --json >"$OUT.docent"
"$VENV/bin/python" benches/peers/peers.py --dir "$EXPORT" --only "$PEERS" >"$OUT.peers"
# Docent again after the peers: on a shared machine the load moves; the ratios use the
# mean of both Docent runs.
"$DOCENT" bench search --chunks "$CHUNKS" --queries "$QUERIES" --modes bm25,dense,hybrid --json \
  | grep -v '"kind":"memory"' >"$OUT.docent2"
echo "== load after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cat "$OUT.docent" "$OUT.peers" "$OUT.docent2" >"$OUT"
rm -f "$OUT.docent" "$OUT.peers" "$OUT.docent2"
"$VENV/bin/python" benches/peers/report.py "$OUT"
