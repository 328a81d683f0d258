"""The run record of a fine-tune: resolved config, metrics, log history, figures, README.

Written by finetune/train.py into the output directory:
    config.json         resolved SFTConfig + derived settings + data card + library versions
    metrics.json        train time, samples/s, tokens/s, first/last/min loss, eval loss, peak memory
    log_history.jsonl   every log entry of the trainer (loss, lr, grad norm, eval loss)
    training_loss.png   raw and smoothed training loss (eval loss as points)
    learning_rate.png   the learning-rate schedule as run
    README.md           what was trained, on what, with which result
"""

from __future__ import annotations

import json
import math
import resource
from pathlib import Path

from lexkz.common import write_json

METRIC_FIELDS = [
    "train_time_s", "train_samples_per_s", "train_tokens_per_s", "first_loss", "last_loss", "min_loss",
    "eval_loss", "best_eval_loss", "peak_memory_mb", "peak_memory_kind", "global_step", "epoch",
    "trainable_params", "total_params", "stopped_early", "tiny_random_model",
]
TINY_NOTE = "tiny random model: plumbing check — these numbers are not results"


def smooth(values: list[float], alpha: float = 0.2) -> list[float]:
    """Exponential moving average (debiased) of a loss curve."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = alpha * v + (1 - alpha) * avg
        out.append(avg / (1 - (1 - alpha) ** i))
    return out


def plot_curves(history: list[dict], out: Path, title: str) -> list[Path]:
    """training_loss.png (raw + smoothed, eval points) and learning_rate.png; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h and "step" in h]
    lrs = [(h["step"], h["learning_rate"]) for h in history if "learning_rate" in h and "step" in h]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if train:
        steps, losses = zip(*train)
        ax.plot(steps, losses, color="tab:blue", alpha=0.35, lw=1, label="training loss (raw)")
        ax.plot(steps, smooth(list(losses)), color="tab:blue", lw=2, label="training loss (smoothed, EMA 0.2)")
    if evals:
        ax.plot(*zip(*evals), "o-", color="tab:orange", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy on answer tokens")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "training_loss.png")
    fig.savefig(paths[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=120)
    if lrs:
        ax.plot(*zip(*lrs), color="tab:green", lw=2)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(out / "learning_rate.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    return paths


def peak_memory() -> tuple[float, str]:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20, "cuda max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu process peak RSS"


def write_run_record(out: Path, trainer, resolved: dict, result, train_time: float, final_eval: dict, *,
                     tiny: bool, adapter_dir: Path, stopped_early: bool, session: dict) -> dict:
    """Write config.json, metrics.json, log_history.jsonl, the PNGs and README.md; return the metrics."""
    out.mkdir(parents=True, exist_ok=True)
    history = trainer.state.log_history
    write_json(out / "config.json", resolved)
    with open(out / "log_history.jsonl", "w", encoding="utf-8") as fh:
        for row in history:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    losses = [h["loss"] for h in history if "loss" in h]
    evals = [h["eval_loss"] for h in history if "eval_loss" in h]
    steps_done = trainer.state.global_step - session["step0"]
    derived = resolved["derived"]
    batch = resolved["sft"]["per_device_batch_size"] * derived["gradient_accumulation_steps"] * derived["world_size"]
    tokens = trainer.state.num_input_tokens_seen - session["tokens0"]
    mem, mem_kind = peak_memory()
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    metrics = {
        "train_time_s": round(train_time, 3),
        "train_samples_per_s": round(steps_done * batch / train_time, 4) if train_time > 0 else None,
        "train_tokens_per_s": round(tokens / train_time, 2) if train_time > 0 else None,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "min_loss": min(losses) if losses else None,
        "eval_loss": final_eval.get("eval_loss"),
        "best_eval_loss": min(evals) if evals else None,
        "peak_memory_mb": round(mem, 1),
        "peak_memory_kind": mem_kind,
        "global_step": trainer.state.global_step,
        "epoch": trainer.state.epoch,
        "trainable_params": trainable,
        "total_params": sum(p.numel() for p in trainer.model.parameters()),
        "stopped_early": stopped_early,
        "tiny_random_model": tiny,
        "tokens_this_session": tokens,
        "steps_this_session": steps_done,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "adapter_dir": str(adapter_dir),
        "note": TINY_NOTE if tiny else "",
    }
    write_json(out / "metrics.json", metrics)
    title = f"{Path(resolved['sft']['model']).name}" + (" — " + TINY_NOTE if tiny else "")
    plot_curves(history, out, title)
    write_readme(out, resolved, metrics, tiny)
    return metrics


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def write_readme(out: Path, resolved: dict, metrics: dict, tiny: bool) -> None:
    sft, d, card = resolved["sft"], resolved["derived"], resolved.get("data_card") or {}
    lines = [f"# Fine-tune run: {Path(sft['model']).name}", ""]
    if tiny:
        lines += [f"**{TINY_NOTE}.** The base model is a tiny random Qwen3 built locally for CPU smoke runs.", ""]
    lines += [
        f"- base model: `{sft['model']}` ({'4-bit NF4 QLoRA' if d['load_in_4bit'] else 'plain LoRA'}, {d['device']}, "
        f"bf16={d['bf16']}, optimizer {d['optim']})",
        f"- LoRA: r={sft['lora_r']}, alpha={sft['lora_alpha']}, dropout={sft['lora_dropout']}, rsLoRA={sft['use_rslora']}, "
        f"targets {', '.join(d['lora_target_modules'])}",
        f"- schedule: {sft['lr_schedule']} lr {sft['learning_rate']}, warmup {d['warmup_steps']} steps, "
        f"{d['planned_steps']} planned steps ({d['steps_per_epoch']} per epoch), effective batch "
        f"{sft['per_device_batch_size']}x{d['gradient_accumulation_steps']}x{d['world_size']}",
        f"- data: `{sft['data']}` mode {card.get('mode', '?')}, {d['train_examples']} train / {d['eval_examples']} eval "
        f"examples (dropped as too long: {d['dropped_too_long']})",
        "- loss: assistant answer tokens + <|im_end|> only (no prompt, no think block)",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for k in METRIC_FIELDS:
        lines.append(f"| {k} | {_fmt(metrics.get(k))} |")
    lines += [
        "",
        "Files: `config.json`, `metrics.json`, `log_history.jsonl`, `training_loss.png`, `learning_rate.png`, "
        f"`{Path(metrics['adapter_dir']).name}/` (LoRA adapter, tokenizer with the inference chat template, "
        "`training_chat_template.jinja`), `checkpoints/`.",
        "",
        f"Use: `lexkz finetune merge --adapter {metrics['adapter_dir']} --out MERGED` or load the adapter with peft.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
