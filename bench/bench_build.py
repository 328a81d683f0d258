"""Build throughput: articles/s of a full `build_index` against the embedder's own throughput
on the same passage texts, measured side by side in one run.

    python bench/bench_build.py                                  # MiniLM on two acts (a subset)
    python bench/bench_build.py --acts all --embedding hashing:256
    python bench/bench_build.py --threads 2 --acts K950001000_ Z100000274_ K1500000414

The corpus is ../shared/corpus (or LEXKZ_CORPUS / --corpus). MiniLM on the whole corpus
(~4,600 passages) takes many minutes on a 2-core machine, so the default is a subset of acts;
the table says which. The same warmed-up embedder serves both measurements (model loading is
reported separately), so the difference is what the build adds: reading and splitting the
acts, chunking, BM25, FAISS, SQLite, manifest. Prints a table and writes
bench/results/bench_build.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_ACTS = ["K950001000_", "Z100000274_"]


def subset_corpus(corpus: Path, acts: list[str], out: Path) -> Path:
    """Copy the chosen act folders (or all, without _versions) into `out`."""
    if acts == ["all"]:
        acts = sorted(p.name for p in corpus.iterdir() if (p / "meta.yaml").is_file())
    for code in acts:
        if not (corpus / code / "meta.yaml").is_file():
            raise SystemExit(f"no act folder {corpus / code}")
        shutil.copytree(corpus / code, out / code)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", help="corpus dir (default: LEXKZ_CORPUS or ../shared/corpus)")
    ap.add_argument("--acts", nargs="+", default=DEFAULT_ACTS, help="act codes to build from, or 'all'")
    ap.add_argument("--embedding", default="minilm")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--repeats", type=int, default=2, help="alternate embedder-alone and build this many times; the best of each counts")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_build.json"))
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from index.build import build_index
    from index.chunking import article_passages
    from index.config import IndexConfig
    from index.ingest import read_corpus
    from lexkz.common import default_corpus_dir
    from retrieval.embedders import get_embedder

    corpus = Path(args.corpus) if args.corpus else default_corpus_dir()
    if corpus is None:
        raise SystemExit("no corpus: pass --corpus or set LEXKZ_CORPUS")
    cfg = IndexConfig(embedding=args.embedding, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sub = subset_corpus(corpus, args.acts, tmp / "corpus")
        snap = read_corpus(sub)
        texts = [t for a in snap.articles for t in article_passages(a, cfg.chunk_chars, cfg.chunk_overlap)]
        n_art, n_pass = len(snap.articles), len(texts)
        print(f"{len(snap.acts)} acts, {n_art} articles, {n_pass} passages; embedding {args.embedding}; "
              f"torch threads {torch.get_num_threads()}", file=sys.stderr)

        embedder = get_embedder(cfg.embedding)
        t = time.perf_counter()
        embedder.embed_passages(texts[:4], batch_size=4)  # load + warm up
        load_s = time.perf_counter() - t

        # Side by side, alternating (embedder alone, then a build) so that warm-up and load
        # drift hit both; the best time of each counts.
        embed_times, build_times = [], []
        for r in range(max(1, args.repeats)):
            t = time.perf_counter()
            embedder.embed_passages(texts, batch_size=cfg.batch_size)
            embed_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            report = build_index(sub, tmp / f"index{r}", cfg, embedder=embedder, progress=False)
            build_times.append(time.perf_counter() - t)
        embed_s, build_s = min(embed_times), min(build_times)

    rows = [
        ("embedder alone (same passages)", embed_s, n_art / embed_s, n_pass / embed_s),
        ("full build_index", build_s, n_art / build_s, n_pass / build_s),
    ]
    print(f"\nBuild throughput — {args.embedding}, acts: {' '.join(args.acts)}"
          f"{' (subset of the corpus)' if args.acts != ['all'] else ' (whole corpus)'}")
    print(f"{'measurement':34s} {'seconds':>9s} {'articles/s':>11s} {'passages/s':>11s}")
    for name, s, a, p in rows:
        print(f"{name:34s} {s:9.2f} {a:11.1f} {p:11.1f}")
    print(f"build / embedder time: {build_s / embed_s:.3f}  (best of {len(build_times)} alternating runs each; "
          f"model load + warm-up {load_s:.1f} s, not in either)")
    print(f"build time in embedding (its own timer): {report['seconds']['embedding']:.2f} s of {report['seconds']['total']:.2f} s")

    result = {
        "bench": "build_throughput", "embedding": args.embedding, "acts": args.acts,
        "subset": args.acts != ["all"], "articles": n_art, "passages": n_pass, "batch_size": cfg.batch_size,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "load_average_1m_5m_15m": os.getloadavg(), "platform": platform.platform(),
        "load_s": load_s, "embedder_s": embed_s, "build_s": build_s,
        "embedder_articles_per_s": n_art / embed_s, "build_articles_per_s": n_art / build_s,
        "embedder_passages_per_s": n_pass / embed_s, "build_passages_per_s": n_pass / build_s,
        "build_over_embedder": build_s / embed_s, "embedder_times_s": embed_times, "build_times_s": build_times, "build_report_seconds": report["seconds"],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
