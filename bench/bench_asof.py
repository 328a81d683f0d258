"""As-of benchmark: index size and as-of query latency against the single-edition index.

Builds two indexes of the shared corpus with the model-free hashing embedder (hashing:256;
the dense side's cost per query is then tiny, so the numbers isolate what the timeline adds:
the validity filter and the larger passage set, not the embedding model):

* single:    every act's current folder only (`_versions/` left out), as before issue 14;
* versioned: the current folders plus `_versions/<CODE>/<edition>/` (index/timeline.py).

Then times `HybridRetriever.retrieve` (hybrid, k=10) over the same questions from ../shared/qa:
the single-edition index with no date ("today's query" before versions existed), and the
versioned index with no date, with --as-of today, 2008-01-01 and 2023-01-01. Reports p50/p95
wall time, the ratio of each p95 to the single-edition p95 (goal: as-of p95 within 1.2x), and the
size of each index version folder. Prints a table and writes bench/results/asof.json.

    python bench/bench_asof.py                   # 150 questions
    python bench/bench_asof.py --queries 300 --corpus ../shared/corpus
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_latency import load_queries  # noqa: E402
from lexkz.common import default_corpus_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
EMBEDDING = "hashing:256"


def link_corpus(src: Path, dst: Path, with_versions: bool) -> Path:
    dst.mkdir(parents=True)
    for p in sorted(src.iterdir()):
        if p.is_dir() and not p.name.startswith((".", "_")):
            shutil.copytree(p, dst / p.name)  # copies: corpus symlinks are never followed
    if with_versions and (src / "_versions").is_dir():
        shutil.copytree(src / "_versions", dst / "_versions")
    return dst


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def time_queries(retriever, queries: list[str], as_of: str | None) -> list[float]:
    for q in queries[:5]:  # warm up (filters, FTS pages, FAISS)
        retriever.retrieve(q, k=10, as_of=as_of)
    out = []
    for q in queries:
        t0 = time.perf_counter()
        retriever.retrieve(q, k=10, as_of=as_of)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="corpus folder (default ../shared/corpus)")
    ap.add_argument("--queries", type=int, default=150)
    args = ap.parse_args(argv)
    from index.build import build_index
    from index.config import IndexConfig
    from index.store import open_index
    from retrieval.hybrid import HybridRetriever

    corpus = Path(args.corpus) if args.corpus else default_corpus_dir()
    if corpus is None or not corpus.is_dir():
        print("no corpus: pass --corpus DIR", file=sys.stderr)
        return 3
    today = dt.date.today().isoformat()
    rows, sizes = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ix = {}
        for name, versions in (("single", False), ("versioned", True)):
            c = link_corpus(corpus, tmp / f"corpus_{name}", versions)
            t0 = time.perf_counter()
            report = build_index(c, tmp / f"index_{name}", IndexConfig(embedding=EMBEDDING), progress=False)
            idx = open_index(tmp / f"index_{name}")
            sizes[name] = {"bytes": folder_bytes(idx.version_dir), "articles_current": report["counts"]["articles"],
                           "article_rows": idx.manifest["counts"].get("versions", report["counts"]["articles"]),
                           "passages": report["counts"]["passages"], "embedded_texts": report.get("embedded_texts"),
                           "build_s": round(time.perf_counter() - t0, 2)}
            ix[name] = HybridRetriever(idx)
        queries, source = load_queries(corpus, args.queries, ix["single"].index.articles)
        cases = [("single", None), ("versioned", None), ("versioned", today), ("versioned", "2008-01-01"),
                 ("versioned", "2023-01-01")]
        base_p95 = None
        for name, day in cases:
            ms = np.array(time_queries(ix[name], queries, day))
            p50, p95 = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
            base_p95 = base_p95 or p95
            rows.append({"index": name, "as_of": day or "(none: current editions)", "p50_ms": round(p50, 2),
                         "p95_ms": round(p95, 2), "p95_ratio": round(p95 / base_p95, 3), "queries": len(ms)})
    print(f"as-of benchmark: {len(queries)} {source}; embedder {EMBEDDING} (model-free); {platform.processor() or platform.machine()}")
    print(f"{'index':10s} {'articles':>8s} {'rows':>6s} {'passages':>8s} {'embedded':>8s} {'MiB':>7s}")
    for name, s in sizes.items():
        print(f"{name:10s} {s['articles_current']:8d} {s['article_rows']:6d} {s['passages']:8d} "
              f"{s['embedded_texts'] or 0:8d} {s['bytes'] / 2**20:7.2f}")
    print(f"\n{'index':10s} {'as_of':26s} {'p50 ms':>8s} {'p95 ms':>8s} {'p95/single':>10s}")
    for r in rows:
        print(f"{r['index']:10s} {r['as_of']:26s} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p95_ratio']:10.3f}")
    RESULTS.mkdir(exist_ok=True)
    out = {"embedding": EMBEDDING, "queries": len(queries), "query_source": source, "sizes": sizes, "latency": rows,
           "goal": "as-of p95 within 1.2x of the single-edition index's p95",
           "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    (RESULTS / "asof.json").write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nwrote {RESULTS / 'asof.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
