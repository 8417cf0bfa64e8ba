#!/usr/bin/env python3
"""Peers of `docent bench search` on the very same corpus, vectors and queries.

Reads what `docent bench search --export DIR` wrote (corpus.jsonl, vectors.npy,
queries.jsonl, query_vectors.npy, params.json), builds each peer's index, and times
the same queries the same way (the first `warmup` queries warm up, the next `queries`
are timed one by one on one thread; query vectors are precomputed, so no peer pays
for embedding):

* tantivy-py: BM25 over title/headings/body with Docent's boosts (query text reduced
  to words, so no query-syntax errors), top-k and the stored text of the k hits; also
  top-`candidates` with text for k (what Docent's bm25 mode does).
* hnswlib: HNSW with Docent's parameters (inner product, M, ef_construction, ef).
* tantivy + hnswlib glued in Python: top-`candidates` of each, RRF (k=60), text of
  the k best from a Python list (cheaper than any store read, so it favours the peer).
* lancedb: FTS (native index over one text column: title + headings + body), vector
  search (flat scan and an HNSW-SQ index), and its hybrid query (RRF reranker).

Each peer is optional: a missing package or a failing API is reported and skipped.
Prints JSON rows (one per line) with p50/p95/p99/mean ms, the process CPU time per
query (p50/p99, all threads: lancedb works on its own thread pool) and single-thread
QPS.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback


def percentile(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    import math

    rank = min(max(int(math.ceil(p * len(sorted_ms))), 1), len(sorted_ms))
    return sorted_ms[rank - 1]


def timed(fn, warm, timed_idx):
    for i in warm:
        fn(i)
    lat = []
    cpu = []
    wall = time.perf_counter()
    for i in timed_idx:
        t, c = time.perf_counter(), time.process_time()
        fn(i)
        lat.append((time.perf_counter() - t) * 1000.0)
        cpu.append((time.process_time() - c) * 1000.0)
    wall = time.perf_counter() - wall
    lat.sort()
    cpu.sort()
    return {
        "p50_ms": percentile(lat, 0.50),
        "p95_ms": percentile(lat, 0.95),
        "p99_ms": percentile(lat, 0.99),
        "mean_ms": sum(lat) / max(len(lat), 1),
        # CPU time of the whole process (all threads) per query.
        "cpu_p50_ms": percentile(cpu, 0.50),
        "cpu_p99_ms": percentile(cpu, 0.99),
        "qps_single_thread": len(lat) / max(wall, 1e-9),
        "queries": len(lat),
    }


def emit(peer, mode, stats, **extra):
    row = {"kind": "peer", "peer": peer, "mode": mode}
    row.update(stats)
    row.update(extra)
    print(json.dumps(row), flush=True)


def note(msg):
    print(msg, file=sys.stderr, flush=True)


WORD = re.compile(r"[A-Za-z0-9]+")


def words(text):
    return " ".join(WORD.findall(text))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="export directory of docent bench search")
    ap.add_argument("--work", default=None, help="where peers build their indexes (default: DIR/peers)")
    ap.add_argument("--only", default="tantivy,hnswlib,glue,lancedb", help="comma-separated peers")
    args = ap.parse_args()

    import numpy as np

    params = json.load(open(os.path.join(args.dir, "params.json")))
    k, cand = params["k"], params["candidates"]
    warm_n, q_n = params["warmup"], params["queries"]
    boosts = params["bm25_boosts"]
    hnsw = params["hnsw"]
    corpus = [json.loads(l) for l in open(os.path.join(args.dir, "corpus.jsonl"))]
    vectors = np.load(os.path.join(args.dir, "vectors.npy"), mmap_mode="r")
    queries = [json.loads(l) for l in open(os.path.join(args.dir, "queries.jsonl"))]
    qvec = np.ascontiguousarray(np.load(os.path.join(args.dir, "query_vectors.npy")), dtype=np.float32)
    texts = [q["text"] for q in queries]
    clean = [words(t) for t in texts]
    warm = range(0, warm_n)
    timed_idx = range(warm_n, warm_n + q_n)
    only = set(args.only.split(","))
    work = args.work or os.path.join(args.dir, "peers")
    os.makedirs(work, exist_ok=True)
    note(f"{len(corpus)} chunks, {vectors.shape} vectors, {len(queries)} queries (k={k}, candidates={cand})")

    searcher = index = None
    if only & {"tantivy", "glue"}:
        try:
            import tantivy

            path = os.path.join(work, "tantivy")
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path)
            sb = tantivy.SchemaBuilder()
            for f in ("title", "headings", "body"):
                sb.add_text_field(f, stored=True, tokenizer_name="en_stem")
            sb.add_integer_field("id", stored=True, indexed=True, fast=True)
            schema = sb.build()
            index = tantivy.Index(schema, path=path)
            t = time.perf_counter()
            writer = index.writer(heap_size=256 * 1024 * 1024, num_threads=2)
            for c in corpus:
                writer.add_document(
                    tantivy.Document(id=c["id"], title=c["title"], headings=c["headings"], body=c["body"])
                )
            writer.commit()
            writer.wait_merging_threads()
            index.reload()
            searcher = index.searcher()
            note(f"tantivy-py index built in {time.perf_counter() - t:.0f}s ({searcher.num_segments} segments)")
            fields = ["title", "headings", "body"]
            parsed = [
                index.parse_query(q or "nothing", fields, field_boosts=dict(boosts)) if q else None for q in clean
            ]

            def bm25(i, limit, fetch):
                q = parsed[i]
                if q is None:
                    return []
                hits = searcher.search(q, limit).hits
                return [searcher.doc(addr)["body"][0] for _, addr in hits[:fetch]]

            if "tantivy" in only:
                emit("tantivy-py", f"bm25 top{k} + text", timed(lambda i: bm25(i, k, k), warm, timed_idx))
                emit("tantivy-py", f"bm25 top{cand}, text of {k}", timed(lambda i: bm25(i, cand, k), warm, timed_idx))
        except Exception as e:  # noqa: BLE001
            note(f"tantivy-py failed: {e!r}")
            traceback.print_exc()
            searcher = None

    hnsw_index = None
    if only & {"hnswlib", "glue"}:
        try:
            import hnswlib

            t = time.perf_counter()
            hnsw_index = hnswlib.Index(space="ip", dim=vectors.shape[1])
            hnsw_index.init_index(max_elements=vectors.shape[0], ef_construction=hnsw["ef_construction"], M=hnsw["m"])
            hnsw_index.set_num_threads(2)
            hnsw_index.add_items(np.ascontiguousarray(vectors, dtype=np.float32), np.arange(vectors.shape[0]))
            hnsw_index.set_ef(hnsw["ef_search"])
            hnsw_index.set_num_threads(1)
            note(f"hnswlib index built in {time.perf_counter() - t:.0f}s")
            # Recall@k against the exact top-k of the timed queries (a sample).
            sample = list(timed_idx)[:200]
            got, _ = hnsw_index.knn_query(qvec[sample], k=k)
            hits = 0
            for row, i in zip(got, sample):
                s = np.asarray(vectors) @ qvec[i]
                hits += len(set(row.tolist()) & set(np.argpartition(-s, k)[:k].tolist()))
            recall = hits / (k * len(sample))
            if "hnswlib" in only:
                stats = timed(lambda i: hnsw_index.knn_query(qvec[i : i + 1], k=k), warm, timed_idx)
                emit("hnswlib", f"ann top{k}", stats, recall_at_k=recall)
                stats = timed(lambda i: hnsw_index.knn_query(qvec[i : i + 1], k=cand), warm, timed_idx)
                emit("hnswlib", f"ann top{cand}", stats)
        except Exception as e:  # noqa: BLE001
            note(f"hnswlib failed: {e!r}")
            traceback.print_exc()
            hnsw_index = None

    if "glue" in only and searcher is not None and hnsw_index is not None:
        bodies = [c["body"] for c in corpus]
        # Address -> chunk id, read once up front, so the glue reads no stored
        # documents for candidates (tantivy-py exposes no fast fields).
        address_id = {}
        for _, addr in searcher.search(tantivy.Query.all_query(), len(corpus)).hits:
            address_id[(addr.segment_ord, addr.doc)] = searcher.doc(addr)["id"][0]

        def hybrid(i):
            q = parsed[i]
            lex = []
            if q is not None:
                for _, addr in searcher.search(q, cand).hits:
                    lex.append(address_id[(addr.segment_ord, addr.doc)])
            labels, _ = hnsw_index.knn_query(qvec[i : i + 1], k=cand)
            fused = {}
            for r, d in enumerate(lex):
                fused[d] = fused.get(d, 0.0) + 1.0 / (60 + r + 1)
            for r, d in enumerate(labels[0]):
                d = int(d)
                fused[d] = fused.get(d, 0.0) + 1.0 / (60 + r + 1)
            top = sorted(fused.items(), key=lambda x: -x[1])[:k]
            return [bodies[d] for d, _ in top]

        emit("tantivy-py + hnswlib (Python glue)", f"hybrid rrf, {cand}+{cand} -> {k}", timed(hybrid, warm, timed_idx))

    if "lancedb" in only:
        try:
            import lancedb
            import pyarrow as pa

            path = os.path.join(work, "lancedb")
            shutil.rmtree(path, ignore_errors=True)
            db = lancedb.connect(path)
            dim = vectors.shape[1]
            t = time.perf_counter()
            flat = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1)
            table = pa.table(
                {
                    "id": pa.array([c["id"] for c in corpus], pa.int64()),
                    "text": pa.array([f'{c["title"]}\n{c["headings"]}\n{c["body"]}' for c in corpus]),
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim),
                }
            )
            tbl = db.create_table("chunks", table)
            tbl.create_fts_index("text")
            note(f"lancedb table + FTS index built in {time.perf_counter() - t:.0f}s")

            def fts(i):
                if not clean[i]:
                    return []
                return tbl.search(clean[i], query_type="fts").limit(k).to_list()

            emit("lancedb", f"fts top{k}", timed(fts, warm, timed_idx))

            def vec(i):
                return tbl.search(qvec[i], query_type="vector").distance_type("dot").limit(k).to_list()

            emit("lancedb", f"vector flat top{k}", timed(vec, range(0, 5), list(timed_idx)[:100]))
            t = time.perf_counter()
            try:
                from lancedb.index import HnswSq

                tbl.create_index("vector", config=HnswSq(distance_type="dot", m=hnsw["m"], ef_construction=hnsw["ef_construction"]))
                kind = "hnsw-sq"
            except Exception as e:  # noqa: BLE001
                note(f"lancedb HNSW-SQ index failed ({e!r}); trying IVF_PQ")
                tbl.create_index(metric="dot", vector_column_name="vector", index_type="IVF_PQ")
                kind = "ivf-pq"
            note(f"lancedb {kind} vector index built in {time.perf_counter() - t:.0f}s")

            def ann(i):
                return tbl.search(qvec[i], query_type="vector").distance_type("dot").limit(k).to_list()

            emit("lancedb", f"vector {kind} top{k}", timed(ann, warm, timed_idx))

            def hybrid_l(i):
                q = tbl.search(query_type="hybrid").vector(qvec[i]).text(clean[i] or "nothing")
                return q.limit(k).to_list()

            emit("lancedb", f"hybrid ({kind} + fts, rrf) top{k}", timed(hybrid_l, warm, timed_idx))
        except Exception as e:  # noqa: BLE001
            note(f"lancedb failed: {e!r}")
            traceback.print_exc()


if __name__ == "__main__":
    main()
