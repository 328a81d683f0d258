"""QLoRA training-step benchmark: step time, tokens/s and peak memory of the Qwen3-8B
architecture (random weights), at sequence lengths 1024 and 2048, padded vs padding-free.

    python bench/bench_qlora.py                       # GPU: the real Qwen3-8B sizes
    python bench/bench_qlora.py --seq-lens 1024 2048 --steps 3 --micro-batch 2 --accum 4

The model is built from a Qwen3Config with the 8B sizes (hidden 4096, 36 layers, 32 heads,
8 KV heads, intermediate 12288, vocab 151936) on the meta device; every decoder projection is
then quantized to NF4 (double quant, bf16 compute) from random bf16 weights one layer at a
time, so the 16 GB of bf16 weights never exist at once. The training step is the one
finetune/train.py runs: prepare_model_for_kbit_training, LoRA r16/a32 on all projections,
gradient checkpointing, bf16 autocast, paged 8-bit AdamW, micro-batch x accumulation = 8.
Sequences have random lengths in [L/4, L]; "padded" pads each micro-batch to its longest
sequence (trl's collator), "padding-free" concatenates it into one row with position ids that
restart per sequence (transformers masks packed sequences block-diagonally from them).

Without CUDA it runs the TINY random Qwen3 instead (hidden 64, 2 layers), on CPU, and says so:
those numbers only show that the benchmark runs. Results: bench/results/qlora_<device>.json.
Anchors (not measured here): the seed ran ~2 examples/s on a 16 GB laptop GPU; Unsloth reports
~2x the speed of plain HF + peft.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import sys
import time
from pathlib import Path

import torch

QWEN3_8B = dict(hidden_size=4096, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8,
                intermediate_size=12288, vocab_size=151936, head_dim=128, max_position_embeddings=40960,
                rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=False)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, vocab_size=1024, head_dim=16, max_position_embeddings=4096, tie_word_embeddings=True)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
RESULTS = Path(__file__).resolve().parent / "results"


def build_random_4bit_qwen3(sizes: dict, device: str, attn: str):
    """A Qwen3ForCausalLM with random weights whose decoder projections are NF4 Linear4bit."""
    import bitsandbytes as bnb
    from torch import nn
    from transformers import Qwen3Config, Qwen3ForCausalLM
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RotaryEmbedding

    config = Qwen3Config(**sizes, attn_implementation=attn)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("meta"):
            model = Qwen3ForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    gen = torch.Generator(device=device).manual_seed(0)
    for layer in model.model.layers:  # quantize layer by layer: one bf16 matrix at a time
        for parent in list(layer.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Linear):
                    q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=False, compute_dtype=torch.bfloat16,
                                          compress_statistics=True, quant_type="nf4", device="meta")
                    w = torch.randn(child.out_features, child.in_features, dtype=torch.bfloat16, device=device, generator=gen) * 0.02
                    q.weight = bnb.nn.Params4bit(w, requires_grad=False, compress_statistics=True, quant_type="nf4", module=q).to(device)
                    setattr(parent, name, q)
    for module in model.modules():  # embeddings, norms, lm_head: materialise and initialise
        if isinstance(module, bnb.nn.Linear4bit):
            continue
        if any(p.is_meta for p in module.parameters(recurse=False)):
            module.to_empty(device=device, recurse=False)
            with torch.no_grad():
                for p in module.parameters(recurse=False):
                    p.normal_(0, 0.02, generator=gen) if p.dim() > 1 else p.fill_(1.0)
    if config.tie_word_embeddings:
        model.tie_weights()
    model.model.rotary_emb = Qwen3RotaryEmbedding(config).to(device)
    model.is_loaded_in_4bit = True
    return model


def make_trainable(model, lr: float, cuda: bool):
    from peft import get_peft_model, prepare_model_for_kbit_training

    from finetune.qlora import lora_config

    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True,
                                            gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, lora_config(r=16, alpha=32, dropout=0.05, targets=TARGETS))
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.to(torch.bfloat16)  # as trl does for QLoRA
    params = [p for p in model.parameters() if p.requires_grad]
    if cuda:
        import bitsandbytes as bnb

        opt = bnb.optim.PagedAdamW8bit(params, lr=lr)
    else:
        opt = torch.optim.AdamW(params, lr=lr)
    model.train()
    return model, opt


def micro_batches(rng: random.Random, max_len: int, vocab: int, micro: int, accum: int, padding_free: bool, device: str):
    """`accum` micro-batches of `micro` sequences with lengths in [max_len/4, max_len]."""
    out = []
    for _ in range(accum):
        lens = [rng.randint(max_len // 4, max_len) for _ in range(micro)]
        seqs = [torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(rng.randrange(1 << 30))) for n in lens]
        if padding_free:
            ids = torch.cat(seqs)[None]
            pos = torch.cat([torch.arange(n) for n in lens])[None]
            labels = ids.clone()
            starts = torch.cumsum(torch.tensor([0] + lens[:-1]), 0)
            labels[0, starts] = -100  # no target across a sequence boundary
            batch = {"input_ids": ids, "position_ids": pos, "labels": labels}
        else:
            width = max(lens)
            ids = torch.zeros(micro, width, dtype=torch.long)
            mask = torch.zeros(micro, width, dtype=torch.long)
            for i, s in enumerate(seqs):
                ids[i, : len(s)] = s
                mask[i, : len(s)] = 1
            labels = ids.masked_fill(mask == 0, -100)
            batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        out.append(({k: v.to(device) for k, v in batch.items()}, sum(lens), micro * max(lens) if not padding_free else sum(lens)))
    return out


def train_step(model, opt, batches, device: str) -> None:
    for batch, _, _ in batches:
        with torch.autocast(device_type="cuda" if device == "cuda" else "cpu", dtype=torch.bfloat16):
            loss = model(**batch).loss / len(batches)
        loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def peak_memory_gb(cuda: bool) -> float:
    if cuda:
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def bench_one(model, opt, seq_len: int, padding_free: bool, args, device: str, vocab: int) -> dict:
    cuda = device == "cuda"
    rng = random.Random(seq_len)  # the same sequences for padded and padding-free
    train_step(model, opt, micro_batches(rng, seq_len, vocab, args.micro_batch, args.accum, padding_free, device), device)  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, real, computed = [], 0, 0
    for _ in range(args.steps):
        batches = micro_batches(rng, seq_len, vocab, args.micro_batch, args.accum, padding_free, device)
        t0 = time.perf_counter()
        train_step(model, opt, batches, device)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        real += sum(b[1] for b in batches)
        computed += sum(b[2] for b in batches)
    total = sum(times)
    examples = args.steps * args.micro_batch * args.accum
    return {
        "seq_len": seq_len, "padding_free": padding_free, "steps": args.steps,
        "step_time_s": total / args.steps, "examples_per_s": examples / total, "tokens_per_s": real / total,
        "padded_share": 1 - real / computed if computed else 0.0, "peak_memory_gb": peak_memory_gb(cuda),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq-lens", type=int, nargs="+", help="max sequence lengths (default 1024 2048; tiny CPU run: 128 256)")
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps per setting (after one warm-up step)")
    ap.add_argument("--micro-batch", type=int, default=2)
    ap.add_argument("--accum", type=int, default=4, help="gradient accumulation (micro-batch x accum = effective batch)")
    ap.add_argument("--attn", default="sdpa", help="attention implementation (flash_attention_2 when installed)")
    ap.add_argument("--tiny", action="store_true", help="run the tiny model even when CUDA is available")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (CPU runs share the machine)")
    args = ap.parse_args(argv)

    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda" if cuda else "cpu"
    sizes = QWEN3_8B if cuda else TINY
    if not cuda:
        torch.set_num_threads(args.threads)
        print("=" * 78)
        print("NO CUDA: running the TINY random Qwen3 (hidden 64, 2 layers) on CPU, NOT Qwen3-8B.")
        print("These numbers only show that the benchmark runs; they say nothing about Qwen3-8B.")
        print("=" * 78, flush=True)
    seq_lens = args.seq_lens or ([1024, 2048] if cuda else [128, 256])

    t0 = time.perf_counter()
    model = build_random_4bit_qwen3(sizes, device, args.attn)
    model, opt = make_trainable(model, 2e-4, cuda)
    build_s = time.perf_counter() - t0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n4 = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    print(f"model built in {build_s:.1f}s: {n4} NF4 projections, {trainable / 1e6:.2f}M trainable LoRA params", flush=True)

    rows = []
    for seq_len in seq_lens:
        for padding_free in (False, True):
            rows.append(bench_one(model, opt, seq_len, padding_free, args, device, sizes["vocab_size"]))
            r = rows[-1]
            print(f"  done seq {seq_len} {'padding-free' if padding_free else 'padded'}: {r['step_time_s']:.2f} s/step", flush=True)

    label = "Qwen3-8B architecture, random weights, NF4" if cuda else "TINY random Qwen3 on CPU (plumbing check only)"
    print(f"\nQLoRA step benchmark: {label}")
    print(f"effective batch {args.micro_batch}x{args.accum}, LoRA r16 all projections, grad checkpointing, "
          f"{'paged 8-bit AdamW' if cuda else 'AdamW'}, attn {args.attn}")
    head = f"{'seq_len':>7} {'mode':>12} {'s/step':>8} {'examples/s':>10} {'tokens/s':>10} {'padded %':>8} {'peak GB':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['seq_len']:>7} {'padding-free' if r['padding_free'] else 'padded':>12} {r['step_time_s']:>8.3f} "
              f"{r['examples_per_s']:>10.2f} {r['tokens_per_s']:>10.0f} {100 * r['padded_share']:>8.1f} {r['peak_memory_gb']:>8.2f}")
    for L in seq_lens:
        pad, free = (next(r for r in rows if r["seq_len"] == L and r["padding_free"] is f) for f in (False, True))
        print(f"seq {L}: padding-free / padded tokens/s = {free['tokens_per_s'] / pad['tokens_per_s']:.2f}x (same run, side by side)")
    print("anchors (not measured here): seed ~2 examples/s on a 16 GB laptop GPU; Unsloth reports ~2x plain HF.")
    if not cuda:
        print("REMINDER: tiny model on CPU — not a Qwen3-8B measurement.")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"qlora_{'cuda' if cuda else 'cpu_tiny'}.json"
    env = {"python": platform.python_version(), "torch": torch.__version__, "device": device,
           "gpu": torch.cuda.get_device_name(0) if cuda else None, "threads": torch.get_num_threads()}
    out.write_text(json.dumps({"label": label, "model_sizes": sizes, "args": vars(args), "build_s": build_s,
                               "trainable_params": trainable, "env": env, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
