"""Retrieval quality side by side: lexical, dense and hybrid (several fusion weights) on the
public Q/A sets, over an existing index (default: the MiniLM index bench_latency.py builds).

Only questions whose `act_code` is in the index count. Metrics: act@k (a hit from the gold
act in the top k) and article@k (the gold article in the top k, where the set names one).
Repealed acts are included (the gold may cite them). Prints a table and writes
bench/results/retrieval_quality.json.

    python bench/bench_retrieval_quality.py
    python bench/bench_retrieval_quality.py --index .lexkz/index --weights 1:1 2:1 1:2

Caveats: the Q/A sets are third-party (see ../shared/qa/README.md); their article labels are
partly heuristic, and few questions hit the acts of the corpus, so treat differences of a
few points as noise. With the English-only MiniLM the dense side is weak on Russian and
Kazakh; these figures say nothing about a multilingual model such as bge-m3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lexkz.common import default_corpus_dir, read_jsonl  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def load_items(qa_dir: Path, acts: set[str]) -> list[dict]:
    items = []
    for f in sorted(qa_dir.glob("*.jsonl")):
        for _, obj, _ in read_jsonl(f):
            if obj and obj.get("act_code") in acts and str(obj.get("question") or "").strip():
                items.append({"file": f.name, "question": obj["question"], "act_code": obj["act_code"],
                              "article": str(obj["article"]) if obj.get("article") else None,
                              "lang": obj.get("lang")})
    return items


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default=str(RESULTS / "latency_index"))
    ap.add_argument("--qa", default=None, help="folder of normalised Q/A JSONL files (default LEXKZ_QA or ../shared/qa)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--weights", nargs="+", default=["1:1", "2:1", "3:1"], help="lexical:dense weights for hybrid rows")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--query-max-tokens", type=int, default=None, help="dense-side question cap (default: RetrievalConfig's)")
    ap.add_argument("--out", default=str(RESULTS / "retrieval_quality.json"))
    args = ap.parse_args(argv)

    import torch

    from index.store import open_index
    from retrieval.config import RetrievalConfig
    from retrieval.hybrid import HybridRetriever

    torch.set_num_threads(args.threads)
    corpus = default_corpus_dir()
    qa_dir = Path(args.qa or os.environ.get("LEXKZ_QA") or (corpus.parent / "qa" if corpus else "qa"))
    if not qa_dir.is_dir():
        print(f"error: no Q/A folder at {qa_dir}: pass --qa DIR", file=sys.stderr)
        return 3
    index = open_index(args.index)
    acts = {a["code"] for a in index.articles.acts()}
    items = load_items(qa_dir, acts)
    if not items:
        print(f"error: no question in {qa_dir} names an act of the index", file=sys.stderr)
        return 3
    print(f"{len(items)} questions on acts of the index ({index.manifest['embedding']['model']} index, "
          f"{index.manifest['counts']['articles']} articles)", flush=True)

    settings = [("lexical", 1.0, 1.0), ("dense", 1.0, 1.0)]
    for w in args.weights:
        lw, dw = (float(x) for x in w.split(":"))
        settings.append(("hybrid", lw, dw))
    rows = []
    for mode, lw, dw in settings:
        cap = {} if args.query_max_tokens is None else {"query_max_tokens": args.query_max_tokens}
        r = HybridRetriever(index, RetrievalConfig(k=args.k, lexical_weight=lw, dense_weight=dw, include_repealed=True, **cap))
        t = time.perf_counter()
        act_hits = art_hits = art_n = 0
        for it in items:
            hits = r.retrieve(it["question"], mode=mode)
            act_hits += any(h.act_code == it["act_code"] for h in hits)
            if it["article"]:
                art_n += 1
                art_hits += any(h.act_code == it["act_code"] and h.number == it["article"] for h in hits)
        rows.append({"mode": mode, "lexical_weight": lw if mode == "hybrid" else None,
                     "dense_weight": dw if mode == "hybrid" else None, "n": len(items),
                     f"act@{args.k}": round(act_hits / len(items), 4), "article_n": art_n,
                     f"article@{args.k}": round(art_hits / art_n, 4) if art_n else None,
                     "seconds": round(time.perf_counter() - t, 1)})
    header = f"{'retrieval':>16} {'n':>5} {f'act@{args.k}':>8} {'n art':>6} {f'article@{args.k}':>11}"
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        name = row["mode"] if row["mode"] != "hybrid" else f"hybrid {row['lexical_weight']:g}:{row['dense_weight']:g}"
        art = row[f"article@{args.k}"]
        print(f"{name:>16} {row['n']:>5} {row[f'act@{args.k}']:>8.3f} {row['article_n']:>6} "
              f"{art if art is None else f'{art:.3f}':>11}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "retrieval_quality", "index": str(args.index),
                               "embedding": index.manifest["embedding"]["model"], "qa": str(qa_dir),
                               "files": sorted({it["file"] for it in items}), "k": args.k, "rows": rows},
                              indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
