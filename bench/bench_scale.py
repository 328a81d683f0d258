"""Scale benchmark: dense search at 100k and 1M synthetic 384-d vectors, flat vs IVF.

For each size it builds a FaissDenseIndex "flat" (exact) and "ivf" (trained on a sample,
then filled), and measures, one query at a time: build time, p50/p95 latency, and IVF's
recall@10 against the exact flat results, for several nprobe values. Prints a table and
writes bench/results/scale.json.

    python bench/bench_scale.py                         # 100k and 1M, 1 thread
    python bench/bench_scale.py --sizes 100000 --queries 100 --threads 2
    python bench/bench_scale.py --uniform --sizes 100000 --out bench/results/scale_uniform.json

The vectors are synthetic: a mixture of Gaussian clusters (n/100 clusters, noise giving
cosine ~0.3 inside a cluster), L2-normalised; `--uniform` gives uniform random directions,
IVF's worst case (no structure at all). Real sentence embeddings lie between the two. Figures
from synthetic data describe the index structures, not retrieval quality on law texts.
1M vectors take about 1.5 GB per index copy.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from retrieval.dense import FaissDenseIndex  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def clustered(n: int, dim: int, n_clusters: int, rng: np.random.Generator, centers=None, noise: float = 1.5,
              chunk: int = 100_000):
    """n vectors around `n_clusters` random centers plus Gaussian noise (`noise` times the
    center's scale; 1.5 gives cosine ~0.3 within a cluster), L2-normalised. n_clusters=0: uniform."""
    if centers is None:
        centers = rng.standard_normal((max(n_clusters, 1), dim), dtype=np.float32) if n_clusters else None
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        block = rng.standard_normal((m, dim), dtype=np.float32)
        if centers is not None:
            block = centers[rng.integers(0, len(centers), m)] + noise * block
        faiss.normalize_L2(block)
        out[start:start + m] = block
    return out, centers


def timed_queries(dense: FaissDenseIndex, queries: np.ndarray, k: int):
    times, results = [], []
    for q in queries:
        t = time.perf_counter()
        hits = dense.search(q, k)
        times.append((time.perf_counter() - t) * 1000)
        results.append([i for i, _ in hits])
    return np.array(times), results


def recall(approx, exact, k):
    return float(np.mean([len(set(a[:k]) & set(e[:k])) / k for a, e in zip(approx, exact)]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--nlist", type=int, default=0, help="IVF lists (0: sqrt(n), cheap to train on a small CPU)")
    ap.add_argument("--train-sample", type=int, default=100_000, help="vectors the IVF is trained on")
    ap.add_argument("--clusters-per", type=int, default=100, help="vectors per cluster (clusters = n / this)")
    ap.add_argument("--noise", type=float, default=1.5, help="noise scale around cluster centers")
    ap.add_argument("--uniform", action="store_true", help="uniform random directions instead (IVF's worst case)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "scale.json"))
    args = ap.parse_args(argv)
    faiss.omp_set_num_threads(args.threads)

    rows = []
    for n in args.sizes:
        rng = np.random.default_rng(args.seed)
        t = time.perf_counter()
        n_clusters = 0 if args.uniform else max(1, n // args.clusters_per)
        data, centers = clustered(n, args.dim, n_clusters, rng, noise=args.noise)
        queries, _ = clustered(args.queries, args.dim, n_clusters, rng, centers, noise=args.noise)
        print(f"[{n:,}] generated {n:,} x {args.dim} vectors in {time.perf_counter() - t:.1f}s", flush=True)
        ids = np.arange(n, dtype=np.int64)

        t = time.perf_counter()
        flat = FaissDenseIndex(args.dim, kind="flat")
        flat.add(ids, data)
        flat_build = time.perf_counter() - t
        flat_ms, exact = timed_queries(flat, queries, args.k)
        rows.append({"n": n, "kind": "flat", "nlist": None, "nprobe": None, "build_s": round(flat_build, 2),
                     "p50_ms": round(float(np.percentile(flat_ms, 50)), 3), "p95_ms": round(float(np.percentile(flat_ms, 95)), 3),
                     "recall_at_10": 1.0})
        print(f"[{n:,}] flat: build {flat_build:.1f}s, p50 {rows[-1]['p50_ms']} ms, p95 {rows[-1]['p95_ms']} ms", flush=True)
        del flat

        nlist = args.nlist or int(math.sqrt(n))
        t = time.perf_counter()
        ivf = FaissDenseIndex(args.dim, kind="ivf", nlist=nlist)
        sample = data[rng.choice(n, min(n, args.train_sample), replace=False)]
        ivf.train(sample)
        train_s = time.perf_counter() - t
        ivf.add(ids, data)
        ivf_build = time.perf_counter() - t
        print(f"[{n:,}] ivf{nlist}: trained in {train_s:.1f}s, built in {ivf_build:.1f}s", flush=True)
        for nprobe in args.nprobe:
            if nprobe > nlist:
                continue
            ivf.nprobe = nprobe
            ms, approx = timed_queries(ivf, queries, args.k)
            rows.append({"n": n, "kind": "ivf", "nlist": nlist, "nprobe": nprobe, "build_s": round(ivf_build, 2),
                         "train_s": round(train_s, 2),
                         "p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
                         "recall_at_10": round(recall(approx, exact, args.k), 4)})
            print(f"[{n:,}] ivf nprobe {nprobe}: p50 {rows[-1]['p50_ms']} ms, recall@10 {rows[-1]['recall_at_10']}", flush=True)
        del ivf, data

    header = f"{'vectors':>10} {'index':>12} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9}"
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        name = "flat" if r["kind"] == "flat" else f"ivf{r['nlist']}/np{r['nprobe']}"
        print(f"{r['n']:>10,} {name:>12} {r['build_s']:>8.2f} {r['p50_ms']:>8.3f} {r['p95_ms']:>8.3f} {r['recall_at_10']:>9.4f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = "synthetic uniform random unit vectors" if args.uniform else \
        f"synthetic clustered unit vectors ({args.clusters_per} per cluster, noise {args.noise})"
    result = {"benchmark": "scale", "data": data + " (not law texts)",
              "settings": vars(args), "machine": {"platform": platform.platform(), "faiss": faiss.__version__,
                                                  "threads": args.threads}, "rows": rows}
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
