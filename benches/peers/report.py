#!/usr/bin/env python3
"""Markdown tables from the JSON rows of benches/peers/run.sh (Docent and peers)."""

import json
import sys


def main(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    # With two Docent runs (before and after the peers), the table shows the first and
    # the ratios use the mean p50 of both.
    docent_all = [r for r in rows if r.get("kind") in ("search", "embed")]
    seen = set()
    docent, again = [], {}
    for r in docent_all:
        key = (r["mode"], r["dense_index"])
        if key in seen:
            again[key] = r
        else:
            seen.add(key)
            docent.append(r)
    peers = [r for r in rows if r.get("kind") == "peer"]
    mem = [r for r in rows if r.get("kind") == "memory"]
    if docent:
        print(f"Docent, {docent[0]['index']} ({docent[0]['chunks']} chunks)")
        print()
        print("| mode | dense index | p50 ms | p95 ms | p99 ms | mean ms | CPU p50 ms | QPS (1 thread) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in docent:
            print(
                f"| {r['mode']} | {r['dense_index']} | {r['p50_ms']:.3f} | {r['p95_ms']:.3f} | "
                f"{r['p99_ms']:.3f} | {r['mean_ms']:.3f} | {r.get('cpu_p50_ms', 0):.3f} | "
                f"{r['qps_single_thread']:.0f} |"
            )
        if again:
            print()
            print("Second Docent run, after the peers (p50 / p99 ms): " + ", ".join(
                f"{m} ({d}) {r['p50_ms']:.3f} / {r['p99_ms']:.3f}" for (m, d), r in again.items()))
        print()
    for r in (r for r in rows if r.get("kind") == "recall"):
        print(
            f"HNSW vs exact on {r['queries']} query vectors: recall@10 {r['recall_at_10']:.4f}, "
            f"recall@50 {r['recall_at_50']:.4f}"
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
            if not r:
                return None
            if key in again:
                return (r["p50_ms"] + again[key]["p50_ms"]) / 2
            return r["p50_ms"]

        def kind_of(p):
            m = p["mode"]
            if m.startswith("bm25") or m.startswith("fts"):
                return "bm25"
            if "hybrid" in m:
                return "hybrid"
            if "flat" in m:
                return "flat"
            return "ann"

        print("| peer | mode | p50 ms | p99 ms | CPU p50 ms | QPS | Docent p50 ms (same kind) | peer / Docent p50 |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for p in peers:
            d = docent_p50(kind_of(p))
            ratio = f"{p['p50_ms'] / d:.2f}x" if d else "-"
            extra = f" (recall@k {p['recall_at_k']:.3f})" if "recall_at_k" in p else ""
            print(
                f"| {p['peer']} | {p['mode']}{extra} | {p['p50_ms']:.3f} | {p['p99_ms']:.3f} | "
                f"{p.get('cpu_p50_ms', 0):.3f} | {p['qps_single_thread']:.0f} | "
                f"{d if d is None else f'{d:.3f}'} | {ratio} |"
            )


if __name__ == "__main__":
    main(sys.argv[1])
