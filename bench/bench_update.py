"""Update cost: an amendment touching a few % of the articles, `update_index` against a full
rebuild of the amended corpus, measured side by side in one run (goal: update <= 5% of rebuild).

    python bench/bench_update.py                                      # MiniLM on a subset + hashing on all
    python bench/bench_update.py --runs minilm:all hashing:256:all     # MiniLM on all: slow on 2 cores
    python bench/bench_update.py --fraction 0.01 --threads 2

Each run: copy the acts to a temp corpus, build (version 1), amend `--fraction` of the
articles (a sentence appended to each; plus one article added and one removed), then time
`update_index` (version 2) and a fresh full `build_index` of the amended corpus. Both use one
warmed-up embedder, so model loading is in neither. The update is also checked against the
rebuild (same article ids and hashes). Prints a table and writes bench/results/bench_update.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.bench_build import subset_corpus  # noqa: E402

DEFAULT_RUNS = ["minilm:K950001000_,Z100000274_", "hashing:256:all"]
NEW_SENTENCE = "Настоящая норма дополнена условным изменением для замера стоимости обновления индекса."


def amend_corpus(root: Path, fraction: float, seed: int = 0) -> dict:
    """Append a sentence to `fraction` of the articles (chosen at random), add one article to and
    remove the last article from the first act; returns what was done."""
    from index.ingest import read_corpus

    snap = read_corpus(root)
    rng = random.Random(seed)
    n = max(1, round(fraction * len(snap.articles)))
    chosen = rng.sample(snap.articles, n)
    by_file: dict[str, list[int]] = {}
    for a in chosen:
        path, line = a.source.rsplit(":", 1)
        by_file.setdefault(path, []).append(int(line))
    for path, heading_lines in by_file.items():
        f = root / path
        lines = f.read_text(encoding="utf-8").split("\n")
        for no in sorted(heading_lines, reverse=True):  # after the heading + its blank line
            lines[no + 1:no + 1] = [NEW_SENTENCE, ""]
        f.write_text("\n".join(lines), encoding="utf-8")
    act = snap.acts[0]
    lang = act.langs[0]
    f = root / act.folder / f"{lang}.md"
    text = f.read_text(encoding="utf-8")
    last = [a for a in snap.articles if a.act_code == act.code and a.lang == lang][-1]
    cut = text.split("\n")[: int(last.source.rsplit(":", 1)[1]) - 1]
    head = "### 9999-бап. Жаңа бап" if lang == "kaz" else "### Статья 9999. Новая статья"
    f.write_text("\n".join(cut) + f"\n{head}\n\n{NEW_SENTENCE}\n", encoding="utf-8")
    return {"articles": len(snap.articles), "amended": n, "added": 1, "removed": 1}


def one_run(spec: str, corpus: Path, fraction: float, batch_size: int) -> dict:
    from index.build import build_index, update_index
    from index.config import IndexConfig
    from index.store import open_index
    from retrieval.embedders import get_embedder

    embedding, _, acts = spec.rpartition(":")
    acts_list = acts.split(",")
    cfg = IndexConfig(embedding=embedding, batch_size=batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sub = subset_corpus(corpus, acts_list, tmp / "corpus")
        embedder = get_embedder(embedding)
        embedder.embed_passages(["прогрев"], batch_size=1)
        t = time.perf_counter()
        build_index(sub, tmp / "index", cfg, embedder=embedder, progress=False)
        first_build_s = time.perf_counter() - t
        amendment = amend_corpus(sub, fraction)

        t = time.perf_counter()
        report = update_index(sub, tmp / "index", embedder=embedder, progress=False)
        update_s = time.perf_counter() - t
        t = time.perf_counter()
        build_index(sub, tmp / "rebuild", cfg, embedder=embedder, progress=False)
        rebuild_s = time.perf_counter() - t

        updated, rebuilt = open_index(tmp / "index"), open_index(tmp / "rebuild")
        same = updated.manifest["articles"] == rebuilt.manifest["articles"]
    return {
        "embedding": embedding, "acts": acts_list, "subset": acts_list != ["all"], "amendment": amendment,
        "touched_fraction": (amendment["amended"] + amendment["added"] + amendment["removed"]) / amendment["articles"],
        "first_build_s": first_build_s, "update_s": update_s, "rebuild_s": rebuild_s, "ratio": update_s / rebuild_s,
        "update_seconds": report["seconds"], "reembedded_articles": report["reembedded_articles"],
        "reembedded_passages": report["reembedded_passages"], "passages": report["counts"]["passages"],
        "update_equals_rebuild_hashes": same,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", help="corpus dir (default: LEXKZ_CORPUS or ../shared/corpus)")
    ap.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="EMBEDDING:ACT,ACT,... or EMBEDDING:all")
    ap.add_argument("--fraction", type=float, default=0.03, help="share of articles the amendment touches")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_update.json"))
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from lexkz.common import default_corpus_dir

    corpus = Path(args.corpus) if args.corpus else default_corpus_dir()
    if corpus is None:
        raise SystemExit("no corpus: pass --corpus or set LEXKZ_CORPUS")
    results = []
    for spec in args.runs:
        print(f"run {spec} ...", file=sys.stderr)
        results.append(one_run(spec, corpus, args.fraction, args.batch_size))

    print(f"\nUpdate cost vs full rebuild (amendment: {args.fraction:.0%} of articles + 1 added + 1 removed; goal <= 5%)")
    print(f"{'embedding':12s} {'acts':34s} {'articles':>8s} {'touched':>8s} {'re-emb.':>8s} "
          f"{'update s':>9s} {'rebuild s':>10s} {'ratio':>7s} {'same':>5s}")
    for r in results:
        acts = "all (whole corpus)" if r["acts"] == ["all"] else ",".join(r["acts"]) + " (subset)"
        print(f"{r['embedding']:12s} {acts:34s} {r['amendment']['articles']:8d} {r['touched_fraction']:8.1%} "
              f"{r['reembedded_articles']:8d} {r['update_s']:9.2f} {r['rebuild_s']:10.2f} {r['ratio']:7.1%} "
              f"{str(r['update_equals_rebuild_hashes']):>5s}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"bench": "update_cost", "fraction": args.fraction, "torch_threads": torch.get_num_threads(),
                               "cpu_count": os.cpu_count(), "load_average_1m_5m_15m": os.getloadavg(), "platform": platform.platform(), "runs": results}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
