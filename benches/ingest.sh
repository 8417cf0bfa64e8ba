#!/usr/bin/env bash
# Ingest benchmark: pages/s and chunks/s of the whole pipeline vs the embedding model
# alone on the same chunks, for the sample corpus and a large real docs set
# (Debian's postgresql-doc-15 HTML: as a folder and crawled over local HTTP).
# Results: target/bench-results/ingest.jsonl (one JSON report per line) and a table.
#
#   bash benches/ingest.sh            # all data sets
#   PG_PAGES=300 bash benches/ingest.sh   # a prefix of the PostgreSQL pages (faster)
set -euo pipefail
cd "$(dirname "$0")/.."

DOCENT=${DOCENT:-target/release/docent}
OUT=target/bench-results
DATA=target/bench-data
PG_PAGES=${PG_PAGES:-0}              # 0 = every page
CRAWL_PAGES=${CRAWL_PAGES:-5000}     # pages of the crawled run
mkdir -p "$OUT" "$DATA"
: > "$OUT/ingest.jsonl"

[ -x "$DOCENT" ] || { echo "bench: $DOCENT missing; run make build" >&2; exit 1; }

fetch_deb() { # package dest
  local pkg="$1" dest="$2"
  [ -d "$dest" ] && return 0
  local tmp; tmp="$(mktemp -d)"
  ( cd "$tmp" && { apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download "$pkg"; }; } ) \
    || { echo "bench: cannot download Debian package $pkg" >&2; rm -rf "$tmp"; return 1; }
  mkdir -p "$dest.part" && dpkg-deb -x "$tmp"/*.deb "$dest.part" && mv "$dest.part" "$dest"
  rm -rf "$tmp"
}

run() { # label, then docent bench ingest args
  local label="$1"; shift
  echo "bench: $label" >&2
  "$DOCENT" bench ingest --json --label "$label" "$@" | tee -a "$OUT/ingest.jsonl"
}

run "corpus/ (sample, folder)" corpus --base-url https://help.lumenledger.example/

fetch_deb postgresql-doc-15 "$DATA/postgresql-doc-15"
PG_HTML="$DATA/postgresql-doc-15/usr/share/doc/postgresql-doc-15/html"
if [ "$PG_PAGES" -gt 0 ]; then
  SUBSET="$DATA/postgresql-doc-15-first-$PG_PAGES"
  if [ ! -d "$SUBSET" ]; then
    mkdir -p "$SUBSET"
    find "$PG_HTML" -maxdepth 1 -name '*.html' | sort | head -n "$PG_PAGES" | xargs -I{} cp {} "$SUBSET/"
  fi
  PG_HTML="$SUBSET"
fi
PAGES=$(find "$PG_HTML" -name '*.html' | wc -l)
run "postgresql-doc-15 ($PAGES pages, folder)" "$PG_HTML" --base-url https://www.postgresql.org/docs/15/

# The same pages through the crawler, served on loopback.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$PG_HTML" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/')" 2>/dev/null && break; sleep 0.1; done
START_PAGE=index.html; [ -f "$PG_HTML/index.html" ] || START_PAGE=""
CRAWLED=$(( PAGES < CRAWL_PAGES ? PAGES : CRAWL_PAGES ))
run "postgresql-doc-15 (first $CRAWLED pages reached, crawled over HTTP)" "http://127.0.0.1:$PORT/$START_PAGE" --max-pages "$CRAWL_PAGES"

python3 - "$OUT/ingest.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| data set | pages | chunks | pipeline s | pages/s | chunks/s | model-alone chunks/s | wall ratio | CPU ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['label']} | {r['pages']} | {r['chunks']} | {r['pipeline_secs']:.1f} | {r['pipeline_pages_per_sec']:.1f} | "
          f"{r['pipeline_chunks_per_sec']:.1f} | {r['model_chunks_per_sec']:.1f} | {r['ratio']:.3f} | {r.get('cpu_ratio', float('nan')):.3f} |")
PY
