"""Batched vs sequential generation through HfGenerator: throughput of both and their ratio,
measured side by side in one run, with identical greedy outputs asserted.

    python bench/bench_generation.py                          # tiny random Qwen3, 16 RAG prompts
    python bench/bench_generation.py --prompts 32 --batch-size 16 --max-new-tokens 48
    python bench/bench_generation.py --model /models/Qwen3-8B --threads 2   # a real model

Without --model it builds the tiny random Qwen3 of `lexkz.tiny` in a temp folder and redraws
its weights at a larger scale (std 0.3) so that greedy continuations differ from prompt to
prompt (the stock init answers every prompt with the same token, which would make the
identity check vacuous). Numbers of the tiny random model are PLUMBING CHECKS of the batching
code, not a measure of any real model. Prompts are RAG prompts (graph.prompts.build_messages)
with made-up context blocks of varied length, so left padding is exercised.

Greedy decoding (do_sample=False). Sequential = one prompt per generate call; batched = the
same prompts in batches of --batch-size with left padding. Each mode runs --repeats times
after one warm-up; the table reports the best run. Prints a table and writes
bench/results/bench_generation.json.
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

SENTENCES = [
    "Работникам предоставляется ежегодный оплачиваемый трудовой отпуск продолжительностью двадцать четыре календарных дня.",
    "Трудовой договор заключается в письменной форме в двух экземплярах.",
    "Работник вправе расторгнуть трудовой договор, предупредив работодателя письменно не менее чем за один месяц.",
    "Потребитель вправе потребовать замены товара ненадлежащего качества или возврата уплаченной суммы.",
    "Қызметкерлерге ұзақтығы күнтізбелік жиырма төрт күн жыл сайынғы ақы төленетін еңбек демалысы беріледі.",
]
QUESTIONS = [
    "Сколько дней длится ежегодный отпуск?", "Как расторгнуть трудовой договор?",
    "Можно ли вернуть некачественный товар?", "Жыл сайынғы демалыс қанша күн?",
    "В какой форме заключается трудовой договор?", "За сколько дней предупредить работодателя об увольнении?",
]


def varied_tiny_model(out: Path) -> Path:
    from lexkz.tiny import build_tiny_qwen3

    return build_tiny_qwen3(out, init_std=0.3)


def make_prompts(n: int) -> list[list[dict]]:
    from graph.prompts import build_messages

    prompts = []
    for i in range(n):
        hits = [{"act_title": "Трудовой кодекс Республики Казахстан", "number": str(80 + j), "title": f"Статья {j}",
                 "text": " ".join(SENTENCES[(i + j + s) % len(SENTENCES)] for s in range(1 + (i * 7 + j) % 4))}
                for j in range(1 + i % 3)]
        q = QUESTIONS[i % len(QUESTIONS)]
        prompts.append(build_messages(q, hits, "kaz" if "қ" in q or "ғ" in q else "rus", "rag"))
    return prompts


def timed(fn, repeats: int):
    fn()  # warm-up
    best, out = None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="", help="model dir or hub id (default: a tiny random Qwen3 built here)")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 while others share the machine)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "bench_generation.json"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from graph.config import GenerationConfig
    from graph.generators import HfGenerator
    from lexkz.tiny import is_tiny_random

    tmp = None
    model = args.model
    if not model:
        tmp = Path(tempfile.mkdtemp(prefix="lexkz_bench_gen_"))
        model = str(varied_tiny_model(tmp / "tiny"))
    tiny = is_tiny_random(model)
    try:
        gen = HfGenerator(GenerationConfig(model=model, do_sample=False, max_new_tokens=args.max_new_tokens,
                                           batch_size=args.batch_size))
        t0 = time.perf_counter()
        gen.load()
        load_s = time.perf_counter() - t0
        prompts = make_prompts(args.prompts)
        seq_s, seq = timed(lambda: [gen.generate([p], batch_size=1)[0] for p in prompts], args.repeats)
        bat_s, bat = timed(lambda: gen.generate(prompts), args.repeats)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    seq_ids = [r.extra["token_ids"] for r in seq]
    bat_ids = [r.extra["token_ids"] for r in bat]
    identical = seq_ids == bat_ids
    distinct = len({tuple(x) for x in bat_ids})
    tokens = sum(r.completion_tokens for r in bat)
    rows = [
        {"mode": "sequential", "seconds": seq_s, "prompts_per_s": len(prompts) / seq_s, "tokens_per_s": tokens / seq_s},
        {"mode": f"batched (batch {args.batch_size})", "seconds": bat_s, "prompts_per_s": len(prompts) / bat_s,
         "tokens_per_s": tokens / bat_s},
    ]
    label = "tiny random Qwen3: PLUMBING CHECK, not a result" if tiny else f"model {model}"
    print(f"generation throughput, {label}")
    print(f"{len(prompts)} RAG prompts ({min(r.prompt_tokens for r in bat)}-{max(r.prompt_tokens for r in bat)} "
          f"prompt tokens), greedy, max_new_tokens={args.max_new_tokens}, {tokens} generated tokens, "
          f"torch threads={args.threads}, best of {args.repeats}, model load {load_s:.2f} s")
    print(f"{'mode':<22} {'seconds':>9} {'prompts/s':>10} {'tokens/s':>10}")
    for r in rows:
        print(f"{r['mode']:<22} {r['seconds']:>9.3f} {r['prompts_per_s']:>10.2f} {r['tokens_per_s']:>10.1f}")
    ratio = seq_s / bat_s
    print(f"speed-up batched / sequential: {ratio:.2f}x")
    print(f"identical greedy outputs: {identical} ({distinct} distinct continuations of {len(prompts)})")
    result = {
        "bench": "generation", "label": label, "tiny_random": tiny, "model": args.model or "tiny-random (built here)",
        "prompts": len(prompts), "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
        "generated_tokens": tokens, "threads": args.threads, "repeats": args.repeats, "load_seconds": load_s,
        "rows": rows, "speedup": ratio, "identical_outputs": identical, "distinct_outputs": distinct,
        "device": str(gen.device), "python": platform.python_version(), "torch": torch.__version__,
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if not identical:
        print("ERROR: batched and sequential greedy outputs differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
