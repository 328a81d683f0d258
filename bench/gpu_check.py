"""GPU proof (issue 15): the project's own QLoRA training path (finetune/train.py) and its own
`hf` generator (graph/generators/hf.py) on the real Qwen3-8B architecture, in one timed run.

    python bench/gpu_check.py --out DIR                              # GPU: Qwen3-8B sizes, random weights
    python bench/gpu_check.py --out DIR --model tiny --device cpu    # the dry run (tiny model, CPU)
    bash bench/gpu_check.sh DIR                                      # on a bare GPU machine: wheels + CUDA test + this

Model: a Qwen3ForCausalLM built from the Qwen3-8B config (bench_qlora.QWEN3_8B: hidden 4096,
36 layers, 32 heads, 8 KV heads, intermediate 12288, vocab 151936, head_dim 128, rope_theta
1e6, untied embeddings) on the meta device, every decoder projection then quantized to NF4 on
the device from random bf16 weights one matrix at a time (bench_qlora.build_random_4bit_qwen3).
No download: the tokenizer is the locally trained byte-level BPE of lexkz.tiny (773 ids, all
inside the 8B vocab range; generated ids above them decode to nothing). `--model tiny` builds
lexkz.tiny.build_tiny_qwen3 and runs the same builder with its sizes.

Measurements, in this order, each skipped (and listed as skipped) when the time budget left is
shorter than its estimate:
  1. QLoRA through finetune.train.train(cfg, model=...): seq 2048 and 1024 (tiny: 256, 128),
     padded vs padding-free, gradient checkpointing, paged 8-bit AdamW, LoRA r16 on all
     projections, micro-batch x accumulation = 2 x 4; one warm-up step, then timed steps.
     tokens/s counts non-padding tokens (trl's num_input_tokens_seen); peak memory is
     torch.cuda.max_memory_allocated over the training run ("GiB held before" = memory still
     allocated before the model is built: a leak from an earlier run would show there).
  2. 4-bit generation through HfGenerator: batch 1, 8, 32 RAG prompts, max_new_tokens 256
     (tiny: 32), greedy; time to first token = one generate call with max_new_tokens=1.
  3. The same QLoRA settings with Liger kernels (use_liger_kernel; CUDA and liger-kernel only).
  4. Batched vs one-by-one greedy token ids on 4 prompts (a fact recorded, not asserted here:
     tests/test_cuda.py asserts it on a small model).
Writes DIR/gpu_check.json (every figure, the environment, what was skipped and why) and
DIR/gpu_check.md (the table), rewritten after every measurement so a killed run keeps its figures.
Figures of the tiny model are plumbing checks, never results.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ANCHOR = "seed: ~2 examples/s, 4.0 s/step (effective batch 8) on a 16 GB laptop GPU; goal: peak <= 16 GB at seq 2048"
LIBS = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", "liger-kernel",
        "pyarrow", "huggingface-hub", "tokenizers")


class Budget:
    """Wall-clock budget: `fits(estimate)` says whether a measurement may still start."""

    def __init__(self, seconds: float):
        self.t0, self.seconds = time.monotonic(), seconds

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.t0)

    def fits(self, estimate: float) -> bool:
        return self.left() >= estimate


# ---------------------------------------------------------------- environment
def environment(device: str) -> dict:
    import torch

    from lexkz.common import library_versions

    env = {"python": platform.python_version(), "machine": platform.machine(), "device": device,
           "torch": torch.__version__, "cuda_runtime": torch.version.cuda, "versions": library_versions(LIBS),
           "threads": torch.get_num_threads()}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   multiprocessors=props.multi_processor_count, capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                   bf16_supported=torch.cuda.is_bf16_supported())
        try:
            env["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            env["nvidia_smi"] = f"unavailable: {exc}"
    return env


# ---------------------------------------------------------------- model + tokenizer
def model_sizes(kind: str, tiny_dir: Path | None) -> dict:
    from bench_qlora import QWEN3_8B

    if kind == "8b":
        return dict(QWEN3_8B)
    cfg = json.loads((tiny_dir / "config.json").read_text())
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
            "vocab_size", "head_dim", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings")
    return {k: cfg[k] for k in keys}


def build_model(sizes: dict, device: str):
    """Random-weight Qwen3 with NF4 decoder projections (bench_qlora's builder), eval-ready."""
    from bench_qlora import build_random_4bit_qwen3

    model = build_random_4bit_qwen3(sizes, device, "sdpa")
    model.config.use_cache = True
    return model


def free(device: str) -> None:
    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def count_linear4bit(model) -> int:
    import bitsandbytes as bnb

    return sum(1 for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))


# ---------------------------------------------------------------- SFT data of chosen lengths
def sft_rows(tokenizer, seq_len: int, n: int, seed: int) -> list[dict]:
    """`n` chat examples whose rendered length is a random target in [seq_len/4, seq_len] tokens
    (about 1/8 of it the answer, which carries the loss)."""
    from bench_generation import SENTENCES

    rng = random.Random(seed)
    pool = " ".join(rng.sample(SENTENCES, len(SENTENCES)) * (4 * seq_len // 40 + 8))

    def render(user_chars: int, answer_chars: int) -> tuple[list[dict], int]:
        msgs = [{"role": "user", "content": "Вопрос по статье: " + pool[:user_chars]},
                {"role": "assistant", "content": pool[user_chars:user_chars + answer_chars]}]
        return msgs, len(tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"])

    shortest = render(16, 8)[1]
    if shortest > seq_len:
        raise ValueError(f"seq_len {seq_len} is shorter than the shortest example ({shortest} tokens)")
    rows = []
    for _ in range(n):
        target = rng.randint(max(seq_len // 4, shortest), seq_len)
        chars = target  # about 1 char per token to start; scaled by what the tokenizer says
        for _ in range(6):
            msgs, got = render(chars * 7 // 8, max(8, chars // 8))
            if target * 0.97 <= got <= target:
                break
            chars = max(24, int(chars * target / got * (0.99 if got > target else 1.0)))
        while got > target and chars > 24:
            chars = max(24, int(chars * 0.95))
            msgs, got = render(chars * 7 // 8, max(8, chars // 8))
        rows.append({"messages": msgs})
    return rows


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------- QLoRA through finetune/train.py
def step_timer(device: str):
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Seconds and non-padding tokens of each optimizer step; losses; peak GPU memory of the run."""

        def __init__(self):
            self.steps, self.losses, self.peak_bytes, self.lora_b_moved = [], [], 0, None

        def _sync(self):
            if device == "cuda":
                torch.cuda.synchronize()

        def on_train_begin(self, args, state, control, model=None, **kw):
            self.linear4bit = count_linear4bit(model)  # in the model being trained, LoRA-wrapped
            self.b0 = {n: p.detach().float().clone() for n, p in model.named_parameters() if "lora_B" in n}

        def on_step_begin(self, args, state, control, **kw):
            self._sync()
            self.t, self.tok = time.perf_counter(), state.num_input_tokens_seen

        def on_step_end(self, args, state, control, **kw):
            self._sync()
            self.steps.append((time.perf_counter() - self.t, state.num_input_tokens_seen - self.tok))

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

        def on_train_end(self, args, state, control, model=None, **kw):
            if device == "cuda":
                self.peak_bytes = torch.cuda.max_memory_allocated()
            now = {n: p.detach().float() for n, p in model.named_parameters() if "lora_B" in n}
            self.lora_b_moved = sum(1 for n, p in now.items() if n in self.b0 and not torch.equal(p, self.b0[n]))
            self.lora_b_total = len(now)

    return StepTimer()


def qlora_run(sizes: dict, tok_dir: Path, tokenizer, seq_len: int, padding_free: bool, liger: bool,
              args, device: str, work: Path) -> dict:
    import torch

    from finetune.config import SFTConfig, check
    from finetune.train import train

    name = f"seq{seq_len}_{'pf' if padding_free else 'pad'}{'_liger' if liger else ''}"
    steps = args.steps + 1  # the first step is a warm-up, not timed
    data = write_jsonl(sft_rows(tokenizer, seq_len, args.micro_batch * args.accum * steps, seed=seq_len), work / f"{name}.jsonl")
    cfg = SFTConfig(
        model=str(tok_dir), data=str(data), output_dir=str(work / name), max_steps=steps,
        per_device_batch_size=args.micro_batch, effective_batch_size=args.micro_batch * args.accum,
        learning_rate=args.lr, warmup_ratio=0.0, max_length=seq_len, eval_steps=0, early_stopping_patience=0,
        logging_steps=1, load_in_4bit=True, gradient_checkpointing=True, padding_free=padding_free,
        use_liger_kernel=liger, attn_implementation="sdpa", seed=0,
    )
    check(cfg)
    free(device)
    resident = torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None  # leftovers of earlier runs
    t_build = time.perf_counter()
    model = build_model(sizes, device)
    build_s = time.perf_counter() - t_build
    weights_gib = torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None
    timer = step_timer(device)
    metrics = train(cfg, model=model, extra_callbacks=(timer,))
    del model
    free(device)
    timed = timer.steps[1:]
    secs, toks = sum(s for s, _ in timed), sum(t for _, t in timed)
    examples = len(timed) * args.micro_batch * args.accum
    return {
        "name": name, "seq_len": seq_len, "padding_free": padding_free, "liger": liger,
        "micro_batch": args.micro_batch, "accum": args.accum, "timed_steps": len(timed),
        "step_time_s": secs / len(timed) if timed else None,
        "examples_per_s": examples / secs if secs else None, "tokens_per_s": toks / secs if secs else None,
        "tokens_per_step": toks / len(timed) if timed else None,
        "warmup_step_s": timer.steps[0][0] if timer.steps else None,
        "peak_memory_gib": timer.peak_bytes / 2**30 if device == "cuda" else None,
        "weights_memory_gib": weights_gib, "resident_before_gib": resident, "build_s": build_s, "linear4bit_layers": timer.linear4bit,
        "losses": timer.losses, "loss_finite": all(math.isfinite(x) for x in timer.losses) and bool(timer.losses),
        "lora_b_changed": f"{timer.lora_b_moved}/{timer.lora_b_total}",
        "record_tokens_per_s": metrics.get("train_tokens_per_s"), "train_time_s": metrics.get("train_time_s"),
    }


# ---------------------------------------------------------------- 4-bit generation through HfGenerator
def generator(tok_dir: Path, model, tokenizer, max_new_tokens: int):
    from graph.config import GenerationConfig
    from graph.generators import HfGenerator

    gen = HfGenerator(GenerationConfig(model=str(tok_dir), do_sample=False, max_new_tokens=max_new_tokens))
    gen.use_model(model, tokenizer)
    return gen


def generation_run(gen, batch: int, max_new_tokens: int, device: str) -> dict:
    import torch

    from bench_generation import make_prompts

    prompts = make_prompts(batch)
    free(device)

    def timed(**kw):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = gen.generate(prompts, batch_size=batch, **kw)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, out

    ttft, _ = timed(max_new_tokens=1)
    secs, out = timed(max_new_tokens=max_new_tokens)
    new = sum(r.completion_tokens for r in out)
    return {
        "batch": batch, "max_new_tokens": max_new_tokens, "seconds": secs, "generated_tokens": new,
        "tokens_per_s": new / secs, "tokens_per_s_per_sequence": new / secs / batch,
        "time_to_first_token_s": ttft, "prompt_tokens": [min(r.prompt_tokens for r in out), max(r.prompt_tokens for r in out)],
        "stopped_early": sum(1 for r in out if r.finish_reason == "stop"),
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
    }


def identity_run(gen, n: int = 4, max_new_tokens: int = 16) -> dict:
    from bench_generation import make_prompts

    prompts = make_prompts(n)
    together = [r.extra["token_ids"] for r in gen.generate(prompts, batch_size=n, max_new_tokens=max_new_tokens)]
    alone = [gen.generate([p], batch_size=1, max_new_tokens=max_new_tokens)[0].extra["token_ids"] for p in prompts]
    return {"prompts": n, "max_new_tokens": max_new_tokens, "identical": together == alone,
            "distinct_continuations": len({tuple(x) for x in together}),
            "differing_prompts": [i for i, (a, b) in enumerate(zip(together, alone)) if a != b]}


# ---------------------------------------------------------------- report
def fmt(x, spec=".2f") -> str:
    return "—" if x is None else format(x, spec)


def markdown(res: dict) -> str:
    env = res["env"]
    lines = [f"# GPU check: {res['label']}", "",
             f"device: {env.get('gpu') or 'CPU'} ({env.get('nvidia_smi') or env['machine']}); torch {env['torch']}, "
             f"CUDA {env['cuda_runtime']}; " + ", ".join(f"{k} {v}" for k, v in env["versions"].items() if k != "torch"),
             f"command: `{res['command']}`", f"elapsed {res['elapsed_s']:.0f} s of a {res['budget_s']:.0f} s budget", "",
             "## QLoRA (finetune/train.py, NF4 base, LoRA r16 all projections, gradient checkpointing)", "",
             "| seq | mode | kernels | s/step | examples/s | tokens/s | peak GiB | GiB held before | first → last loss | LoRA B changed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["qlora"]:
        if "error" in r:
            lines.append(f"| {r['seq_len']} | {'padding-free' if r['padding_free'] else 'padded'} | "
                         f"{'Liger' if r['liger'] else 'HF+trl'} | error: {r['error'][:120]} ||||||")
            continue
        loss = f"{r['losses'][0]:.3f} → {r['losses'][-1]:.3f}" if r["losses"] else "—"
        lines.append(f"| {r['seq_len']} | {'padding-free' if r['padding_free'] else 'padded'} | "
                     f"{'Liger' if r['liger'] else 'HF+trl'} | {fmt(r['step_time_s'])} | {fmt(r['examples_per_s'])} | "
                     f"{fmt(r['tokens_per_s'], '.0f')} | {fmt(r['peak_memory_gib'])} | {fmt(r['resident_before_gib'])} | {loss} | {r['lora_b_changed']} |")
    lines += ["", f"anchor: {ANCHOR}", "",
              "## 4-bit generation (HfGenerator, greedy)", "",
              "| batch | max_new_tokens | tokens/s | tokens/s per sequence | time to first token s | peak GiB | stopped early |",
              "|---|---|---|---|---|---|---|"]
    for r in res["generation"]:
        if "error" in r:
            lines.append(f"| {r['batch']} | error: {r['error'][:120]} ||||||")
            continue
        lines.append(f"| {r['batch']} | {r['max_new_tokens']} | {fmt(r['tokens_per_s'], '.1f')} | "
                     f"{fmt(r['tokens_per_s_per_sequence'], '.1f')} | {fmt(r['time_to_first_token_s'], '.3f')} | "
                     f"{fmt(r['peak_memory_gib'])} | {r['stopped_early']}/{r['batch']} |")
    if res.get("identity"):
        lines += ["", f"batched vs one-by-one greedy token ids: {json.dumps(res['identity'])}"]
    if res["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {s}" for s in res["skipped"]]
    if res["tiny"]:
        lines += ["", "**Tiny random model: plumbing checks, never results.**"]
    return "\n".join(lines) + "\n"


def save(res: dict, out: Path, budget: Budget) -> None:
    res["elapsed_s"] = budget.seconds - budget.left()
    (out / "gpu_check.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "gpu_check.md").write_text(markdown(res), encoding="utf-8")


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for gpu_check.json and gpu_check.md")
    ap.add_argument("--model", choices=("auto", "8b", "tiny"), default="auto", help="auto: 8b on CUDA, tiny on CPU")
    ap.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    ap.add_argument("--budget-s", type=float, default=300.0, help="start no measurement that would end after this")
    ap.add_argument("--seq-lens", type=int, nargs="+", help="default 2048 1024 (tiny: 256 128): 2048 first, its memory is the goal")
    ap.add_argument("--steps", type=int, default=2, help="timed optimizer steps per setting, after one warm-up step")
    ap.add_argument("--micro-batch", type=int, default=2)
    ap.add_argument("--accum", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--gen-batches", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--max-new-tokens", type=int, help="default 256 (tiny: 32)")
    ap.add_argument("--no-liger", action="store_true", help="skip the Liger-kernel runs")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args(argv)

    budget = Budget(args.budget_s)
    import torch

    torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    kind = ("8b" if device == "cuda" else "tiny") if args.model == "auto" else args.model
    if kind == "8b" and device == "cpu":
        print("error: the Qwen3-8B check needs CUDA; on CPU run --model tiny (the dry run)", file=sys.stderr)
        return 2
    tiny = kind == "tiny"
    seq_lens = args.seq_lens or ([256, 128] if tiny else [2048, 1024])
    max_new = args.max_new_tokens or (32 if tiny else 256)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lexkz_gpu_check_"))

    from transformers import AutoTokenizer

    from lexkz.tiny import build_tiny_qwen3, build_tokenizer

    tok_dir = work / "tokenizer"  # tokenizer files only: the model object comes from build_model, never from disk
    tok_dir.mkdir()
    build_tokenizer(tok_dir)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    sizes = model_sizes(kind, build_tiny_qwen3(work / "tiny") if tiny else None)  # tiny: its config's sizes
    label = ("TINY random Qwen3 on CPU: plumbing check, never a result" if tiny and device == "cpu"
             else "TINY random Qwen3: plumbing check" if tiny
             else "Qwen3-8B architecture, random weights, NF4 (bitsandbytes), bf16 compute")
    liger_ok = device == "cuda" and importlib.util.find_spec("liger_kernel") is not None and not args.no_liger
    res = {"label": label, "tiny": tiny, "model": kind, "sizes": sizes, "env": environment(device),
           "command": " ".join([sys.executable.rsplit("/", 1)[-1], "bench/gpu_check.py", *(argv if argv is not None else sys.argv[1:])]),
           "args": vars(args), "budget_s": args.budget_s, "anchor": ANCHOR,
           "qlora": [], "generation": [], "identity": None, "skipped": [], "errors": []}
    print(f"[gpu_check] {label}; device {device}; budget {args.budget_s:.0f} s", flush=True)
    save(res, out, budget)

    estimates = {"train": 12.0 if tiny else 45.0, "gen": 10.0 if tiny else 45.0}

    def attempt(kind_: str, what: str, fn, sink: list | None, stub: dict):
        if not budget.fits(estimates[kind_]):
            res["skipped"].append(f"{what}: time budget ({budget.left():.0f} s left, needs ~{estimates[kind_]:.0f} s)")
            print(f"[gpu_check] skipped {what}: time budget", flush=True)
            return None
        t0 = time.monotonic()
        try:
            row = fn()
        except Exception as exc:  # one failed setting must not lose the others' figures
            row = {**stub, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]}
            res["errors"].append({"what": what, "traceback": traceback.format_exc()[-3000:]})
            free(device)
        took = time.monotonic() - t0
        estimates[kind_] = max(estimates[kind_] if "error" in row else 0.0, took * 1.15)
        row["wall_s"] = took
        if sink is not None:
            sink.append(row)
        print(f"[gpu_check] {what}: {json.dumps({k: v for k, v in row.items() if k != 'losses'}, default=str)[:400]}", flush=True)
        save(res, out, budget)
        return row

    def train_settings(liger: bool):
        for seq_len in seq_lens:
            for pf in (False, True):
                stub = {"seq_len": seq_len, "padding_free": pf, "liger": liger}
                attempt("train", f"qlora seq {seq_len} {'padding-free' if pf else 'padded'}{' liger' if liger else ''}",
                        lambda: qlora_run(sizes, tok_dir, tokenizer, seq_len, pf, liger, args, device, work),
                        res["qlora"], stub)

    train_settings(liger=False)

    gen = None
    if budget.fits(estimates["gen"]):
        try:
            free(device)
            t0 = time.perf_counter()
            model = build_model(sizes, device)
            res["generation_model"] = {"build_s": time.perf_counter() - t0, "linear4bit_layers": count_linear4bit(model),
                                       "weights_memory_gib": torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None}
            gen = generator(tok_dir, model, tokenizer, max_new)
            gen.generate(__import__("bench_generation").make_prompts(1), max_new_tokens=4)  # warm-up
        except Exception as exc:
            res["errors"].append({"what": "generation model", "traceback": traceback.format_exc()[-3000:]})
            res["skipped"].append(f"generation: model build failed ({type(exc).__name__})")
    else:
        res["skipped"].append("generation: time budget")
    if gen is not None:
        for b in args.gen_batches:
            attempt("gen", f"generation batch {b}", lambda: generation_run(gen, b, max_new, device), res["generation"], {"batch": b})
        if budget.fits(estimates["gen"] / 3):
            try:
                res["identity"] = identity_run(gen)
            except Exception:
                res["errors"].append({"what": "identity", "traceback": traceback.format_exc()[-3000:]})
        else:
            res["skipped"].append("batched vs one-by-one identity: time budget")
        gen.model = None
        del gen, model
        free(device)
        save(res, out, budget)

    if liger_ok:
        train_settings(liger=True)
    else:
        res["skipped"].append("Liger runs: " + ("disabled (--no-liger)" if args.no_liger else
                                                "need CUDA" if device != "cuda" else "liger-kernel not installed"))
    save(res, out, budget)
    print(markdown(res), flush=True)
    return 0 if not res["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
