#!/usr/bin/env python3
"""Markdown tables from the JSON rows of benches/peers/run.sh (Docent and peers)."""

import json
import sys


def main(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    docent = [r for r in rows if r.get("kind") in ("search", "embed")]
    peers = [r for r in rows if r.get("kind") == "peer"]
    mem = [r for r in rows if r.get("kind") == "memory"]
    if docent:
        print(f"Docent, {docent[0]['index']} ({docent[0]['chunks']} chunks), k={docent[0].get('k', '')}")
        print()
        print("| mode | dense index | p50 ms | p95 ms | p99 ms | mean ms | QPS (1 thread) |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in docent:
            print(
                f"| {r['mode']} | {r['dense_index']} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | "
                f"{r['p99_ms']:.3f} | {r['mean_ms']:.3f} | {r['qps_single_thread']:.0f} |"
            )
        print()
    for m in mem:
        parts = ", ".join(f"{k} {v:.0f}" for k, v in m.get("rss_breakdown_mb", {}).items())
        print(
            f"RSS: model loaded {m['rss_model_mb']:.0f} MB, index opened {m['rss_open_mb']:.0f} MB, "
            f"serving {m['rss_serving_mb']:.0f} MB (index {m['index_rss_mb']:.0f} MB; {parts}); "
            f"open {m['open_secs']:.2f} s; on disk {m['disk_mb']:.0f} MB"
        )
        print()
    if peers:
        by_mode = {(r["mode"], r["dense_index"]): r for r in docent}

        def docent_p50(kind):
            key = {
                "bm25": ("bm25", "-"),
                "ann": ("dense", "hnsw"),
                "flat": ("dense", "exact"),
                "hybrid": ("hybrid", "hnsw"),
            }[kind]
            r = by_mode.get(key)
            return r["p50_ms"] if r else None

        def kind_of(p):
            m = p["mode"]
            if m.startswith("bm25") or m.startswith("fts"):
                return "bm25"
            if "hybrid" in m:
                return "hybrid"
            if "flat" in m:
                return "flat"
            return "ann"

        print("| peer | mode | p50 ms | p99 ms | QPS | Docent p50 ms (same kind) | peer / Docent |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for p in peers:
            d = docent_p50(kind_of(p))
            ratio = f"{p['p50_ms'] / d:.2f}x" if d else "-"
            extra = f" (recall@k {p['recall_at_k']:.3f})" if "recall_at_k" in p else ""
            print(
                f"| {p['peer']} | {p['mode']}{extra} | {p['p50_ms']:.3f} | {p['p99_ms']:.3f} | "
                f"{p['qps_single_thread']:.0f} | {d if d is None else f'{d:.3f}'} | {ratio} |"
            )


if __name__ == "__main__":
    main(sys.argv[1])
