"""Eval runner throughput: answers per second for every condition, batched vs sequential,
measured side by side in one run through `eval.run.run_eval` (retrieval, generation,
citation verification and scoring included).

    python bench/bench_eval.py                                   # tiny random Qwen3, fixture corpus
    python bench/bench_eval.py --questions 24 --batch-size 8 --max-new-tokens 32
    python bench/bench_eval.py --corpus ../shared/corpus          # real corpus (hashing index)
    python bench/bench_eval.py --model DIR --adapter DIR --index DIR --qa FILE   # real parts

Without --model it builds the tiny random Qwen3 of `lexkz.tiny` in a temp folder, redraws its
weights (std 0.3) so answers vary, and trains a LoRA adapter for a few steps for ft/ft_rag.
Numbers of the tiny random model are PLUMBING CHECKS of the runner, never results.
Without --index it builds a hashing-embedder index of --corpus (default: the made-up fixture
corpus of the tests). Questions: --qa FILE (JSONL eval items), else made up from the indexed
article titles. Greedy decoding. "sequential" = batch size 1; "batched" = --batch-size.
Rates use the summed batch times of the rows (model loading excluded); the wall time of each
run (model loading included) is reported too. Prints a table and writes
bench/results/bench_eval.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")


def made_up_questions(index_dir: Path, n: int, out: Path) -> Path:
    """n questions built from article titles of the index ("Что предусматривает статья N ...?"),
    with the article text as reference and the article as gold: only for throughput."""
    from index.store import open_index

    store = open_index(index_dir).articles
    arts = [a for a in store.iter_articles() if a.title][: max(n, 1)]
    rows = []
    for i in range(n):
        a = arts[i % len(arts)]
        q = (f"Что предусматривает статья {a.number} «{a.title}»?" if a.lang == "rus"
             else f"{a.number}-бап «{a.title}» нені қарастырады?")
        rows.append({"id": f"bench-{i}", "lang": a.lang, "question": q, "reference_answer": a.text[:300],
                     "act_code": a.act_code, "article": a.number})
    out.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return out


def measure(cfg, out_dir: Path) -> dict:
    from eval.run import run_eval

    t0 = time.perf_counter()
    run_eval(replace(cfg, output_dir=str(out_dir)), progress=False)
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in (out_dir / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    busy = sum(r["batch_seconds"] / r["batch_items"] for r in rows)
    return {"answers": len(rows), "busy_seconds": busy, "wall_seconds": wall,
            "answers_per_s": len(rows) / busy if busy else None, "wall_answers_per_s": len(rows) / wall,
            "outputs": {r["id"]: r["answer"] for r in rows}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model dir or hub id (default: a tiny random Qwen3 built here)")
    ap.add_argument("--adapter", help="LoRA adapter dir (default with the tiny model: one trained here)")
    ap.add_argument("--index", help="existing index dir (default: build a hashing index of --corpus)")
    ap.add_argument("--corpus", help="corpus dir for the index (default: the made-up fixture corpus)")
    ap.add_argument("--qa", help="eval items JSONL (default: made up from article titles)")
    ap.add_argument("--conditions", default="base,ft,rag,ft_rag,extractive")
    ap.add_argument("--questions", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--context-chars", type=int, default=600)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 while others share the machine)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_eval.json"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from retrieval.config import RetrievalConfig
    from eval.config import EvalConfig
    from lexkz.tiny import is_tiny_random

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="bench_eval_") as tmp:
        tmp = Path(tmp)
        model, adapter = args.model, args.adapter
        if not model:
            from lexkz.tiny import build_tiny_qwen3, train_tiny_adapter

            model = str(build_tiny_qwen3(tmp / "model", init_std=0.3))
            if not adapter and any(c in ("ft", "ft_rag") for c in conditions):
                adapter = str(train_tiny_adapter(model, tmp / "adapter")[0])
        if any(c in ("ft", "ft_rag") for c in conditions) and not adapter:
            conditions = [c for c in conditions if c not in ("ft", "ft_rag")]
            print("no --adapter: ft and ft_rag skipped")
        index = args.index
        if not index:
            from index.build import build_index
            from index.config import IndexConfig

            corpus = args.corpus
            if not corpus:
                from tests.fixture_corpus import write_fixture_corpus

                corpus = write_fixture_corpus(tmp / "corpus")
            index = str(tmp / "index")
            t0 = time.perf_counter()
            build_index(corpus, index, IndexConfig(embedding="hashing"), progress=False)
            print(f"index of {corpus} built in {time.perf_counter() - t0:.1f}s (hashing embedder)")
        qa = args.qa or str(made_up_questions(Path(index), args.questions, tmp / "questions.jsonl"))
        base_cfg = EvalConfig(questions=[qa], index_dir=index, model=model, adapter=adapter or "", retrieval=RetrievalConfig(k=args.k),
                              limit=args.questions, max_new_tokens=args.max_new_tokens, context_chars=args.context_chars,
                              control_set="", report=False, device="cpu" if not torch.cuda.is_available() else "auto",
                              filter_to_index=bool(args.qa))
        tiny = is_tiny_random(model)
        results = []
        for cond in conditions:
            row = {"condition": cond}
            for mode, bs in (("sequential", 1), ("batched", args.batch_size)):
                cfg = replace(base_cfg, conditions=[cond], batch_size=bs)
                row[mode] = measure(cfg, tmp / f"run-{cond}-{mode}")
            same = row["sequential"].pop("outputs") == row["batched"].pop("outputs")
            seq, bat = row["sequential"]["answers_per_s"], row["batched"]["answers_per_s"]
            row["batched_over_sequential"] = (bat / seq) if seq and bat else None
            row["identical_outputs"] = same
            results.append(row)

    label = "PLUMBING CHECK (tiny random model), not a result" if tiny else f"model {model}"
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"\neval throughput, {args.questions} questions, batch {args.batch_size}, "
          f"max_new_tokens {args.max_new_tokens}, torch threads {args.threads}, load average "
          f"{'-' if load is None else f'{load[0]:.1f}'} -- {label}")
    head = f"{'condition':<11} {'seq ans/s':>10} {'batch ans/s':>12} {'ratio':>7} {'seq wall s':>11} {'batch wall s':>13} {'same out':>9}"
    print(head)
    print("-" * len(head))
    for r in results:
        s, b = r["sequential"], r["batched"]
        ratio = f"{r['batched_over_sequential']:.2f}x" if r["batched_over_sequential"] else "-"
        print(f"{r['condition']:<11} {s['answers_per_s']:>10.2f} {b['answers_per_s']:>12.2f} {ratio:>7} "
              f"{s['wall_seconds']:>11.1f} {b['wall_seconds']:>13.1f} {str(r['identical_outputs']):>9}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "bench": "eval", "label": label, "plumbing_check": tiny, "model": model, "adapter": adapter,
        "questions": args.questions, "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
        "k": args.k, "context_chars": args.context_chars, "threads": args.threads,
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average_1_5_15": list(load) if load else None},
        "results": results,
    }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
