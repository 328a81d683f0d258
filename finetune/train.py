"""QLoRA supervised fine-tuning of Qwen3 with trl's SFTTrainer + peft LoRA, top to bottom.

    python -m finetune.train --config configs/tiny.toml             # CPU smoke run, a few minutes
    lexkz finetune train --config configs/paper.toml --output-dir runs/qwen3-8b-rag
    accelerate launch --num_processes 4 -m finetune.train --config configs/paper.toml   # multi-GPU (DDP)

Steps: read the SFT data (made by `lexkz finetune data`) -> tokenizer + training chat template
(generation markers around the answer only, finetune/template.py) -> drop examples longer than
max_length (counted) -> base model (CUDA: 4-bit NF4, double quant, bf16 compute, then
prepare_model_for_kbit_training; CPU: plain LoRA on fp32 unless load_in_4bit=true) -> LoRA ->
SFTTrainer (assistant-only loss, eval every N steps, early stopping, best checkpoint, resume)
-> adapter + tokenizer + templates + run record (finetune/record.py) in the output directory.

Checkpoints: a complete one has trainer_state.json (written last by the Trainer, and valid
JSON) and the adapter weights. A run killed while writing checkpoint-N resumes (`--resume`) from
the last complete one and says so; incomplete checkpoints are set aside (renamed
`incomplete-checkpoint-N`, never deleted), so a fresh start also works when none is complete.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from finetune.config import SFTConfig, load_sft_config, target_module_list
from lexkz.cli import run_module
from lexkz.common import library_versions
from lexkz.config import to_dict
from lexkz.errors import LexkzError

ADAPTER_DIR = "adapter"
CHECKPOINT_DIR = "checkpoints"
TRAINING_TEMPLATE_FILE = "training_chat_template.jinja"


# ---------------------------------------------------------------- data
def load_sft_rows(data: str | Path) -> tuple[list[dict], list[dict], dict]:
    """(train rows, eval rows, data card) from a `finetune data` directory or a JSONL file."""
    from lexkz.common import read_jsonl

    path = Path(data)
    card: dict = {}
    if path.is_dir():
        if (path / "data_card.json").is_file():
            card = json.loads((path / "data_card.json").read_text(encoding="utf-8"))
        files = {"train": path / "train.jsonl", "eval": path / "eval.jsonl"}
        if not files["train"].is_file():
            raise LexkzError(f"{path} has no train.jsonl: make the data with `lexkz finetune data ... --out {path}`", 3)
    elif path.is_file():
        files = {"train": path, "eval": None}
    else:
        raise LexkzError(f"SFT data not found: {path} (make it with `lexkz finetune data --qa FILE --out DIR`)", 3)
    splits: dict[str, list[dict]] = {"train": [], "eval": []}
    for split, file in files.items():
        if file is None or not file.is_file():
            continue
        for no, obj, err in read_jsonl(file):
            if err or not isinstance(obj.get("messages"), list):
                raise LexkzError(f"{file}:{no}: {err or 'no messages list'}; regenerate it with `lexkz finetune data`")
            splits[split].append(obj)
    if not splits["train"]:
        raise LexkzError(f"no training examples in {files['train']}")
    return splits["train"], splits["eval"], card


def keep_fitting(rows: list[dict], tokenizer, max_length: int) -> tuple[list[dict], int]:
    """Rows whose rendered conversation fits in max_length tokens, and how many were dropped."""
    kept = [
        r for r in rows
        if len(tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"]) <= max_length
    ]
    return kept, len(rows) - len(kept)


# ---------------------------------------------------------------- checkpoints
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def checkpoint_missing(ckpt: Path) -> str | None:
    """Why `ckpt` cannot be resumed from (None when it is complete)."""
    state = ckpt / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return "trainer_state.json is cut off"
    if not any((ckpt / name).is_file() for name in ADAPTER_WEIGHTS):
        return "no adapter weights"
    return None


def scan_checkpoints(ckpt_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(the last complete checkpoint-N, [(incomplete checkpoint, what it lacks)])."""
    import re

    found = sorted((int(m.group(1)), p) for p in (ckpt_dir.iterdir() if ckpt_dir.is_dir() else [])
                   if p.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", p.name)))
    complete, incomplete = None, []
    for _, path in found:
        why = checkpoint_missing(path)
        if why:
            incomplete.append((path, why))
        else:
            complete = path
    return complete, incomplete


def set_aside(incomplete: list[tuple[Path, str]]) -> list[str]:
    """Rename each incomplete checkpoint to incomplete-checkpoint-N (the Trainer never reads those)."""
    moved = []
    for path, why in incomplete:
        target = path.with_name(f"incomplete-{path.name}")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"incomplete-{path.name}.{n}")
        path.rename(target)
        print(f"[sft] {path.name} is incomplete ({why}; killed while saving?): set aside as {target.name}", flush=True)
        moved.append(target.name)
    return moved


# ---------------------------------------------------------------- callbacks
def make_callbacks(cfg: SFTConfig, use_4bit_on_cpu: bool) -> list:
    from transformers import EarlyStoppingCallback, TrainerCallback

    class ProgressLines(TrainerCallback):
        """One line per log event with rate and ETA (readable in log files, unlike a bar)."""

        def on_train_begin(self, args, state, control, **kw):
            self.t0, self.step0, self.tokens0 = time.time(), state.global_step, state.num_input_tokens_seen

        def on_log(self, args, state, control, logs=None, **kw):
            done = state.global_step - self.step0
            rate = done / max(time.time() - self.t0, 1e-9)
            eta = (state.max_steps - state.global_step) / rate if rate > 0 else float("nan")
            parts = [f"{k}={v:.4g}" for k, v in (logs or {}).items() if isinstance(v, (int, float)) and k in ("loss", "eval_loss", "learning_rate", "grad_norm")]
            if not parts:
                return
            print(f"[sft] step {state.global_step}/{state.max_steps} {' '.join(parts)} {rate:.2f} steps/s ETA {eta:.0f}s", flush=True)

    class StopAfterSteps(TrainerCallback):
        """Save a checkpoint and stop at `cfg.stop_after_steps` (continue later with resume=true)."""

        def on_step_end(self, args, state, control, **kw):
            if state.global_step >= cfg.stop_after_steps:
                control.should_save = True
                control.should_training_stop = True

    class Unpack4bitAfterEval(TrainerCallback):
        """bitsandbytes repacks 4-bit weights for CPU inference on a no-grad eval forward;
        training on repacked weights gives wrong gradients, so unpack them after each eval."""

        def on_evaluate(self, args, state, control, model=None, **kw):
            unpack_cpu_4bit(model)

    callbacks = [ProgressLines()]
    if cfg.stop_after_steps > 0:
        callbacks.append(StopAfterSteps())
    if use_4bit_on_cpu:
        callbacks.append(Unpack4bitAfterEval())
    if cfg.eval_steps > 0 and cfg.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    return callbacks


def unpack_cpu_4bit(model) -> int:
    """Undo bitsandbytes' CPU inference packing of 4-bit weights; returns the number of layers unpacked."""
    if model is None:
        return 0
    from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse

    n = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        state = getattr(weight, "quant_state", None)
        if state is not None and getattr(state, "packing_format_for_cpu", False):
            weight.data, weight.quant_state = _convert_weight_packed_for_cpu_inverse(weight.data, state)
            n += 1
    return n


def checkpointing_args(args_class, on: bool) -> dict:
    """Gradient checkpointing settings under the name this transformers knows: `activation_checkpointing`
    (transformers >= 5.2x) or `gradient_checkpointing` (older 5.x, e.g. 5.17 on the GPU image)."""
    name = "activation_checkpointing" if "activation_checkpointing" in args_class.__dataclass_fields__ else "gradient_checkpointing"
    return {name: on, f"{name}_kwargs": {"use_reentrant": False}}


# ---------------------------------------------------------------- the run
def train(cfg: SFTConfig, model=None, extra_callbacks: tuple = ()) -> dict:
    """Run one fine-tune as `cfg` says; returns the metrics written to metrics.json.

    `model`: a base model object to train instead of loading cfg.model's weights (the tokenizer
    still comes from cfg.model); bench/gpu_check.py passes a random-weight NF4 Qwen3-8B built on
    the GPU. `extra_callbacks`: more TrainerCallbacks (gpu_check's step timer)."""
    import torch
    import trl
    from datasets import Dataset
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from finetune.qlora import lora_config, nf4_config

    from finetune import record
    from finetune.template import make_training_template
    from lexkz.tiny import is_tiny_random

    out = Path(cfg.output_dir)
    ckpt_dir = out / CHECKPOINT_DIR
    if (out / ADAPTER_DIR).exists() and not cfg.resume:
        raise LexkzError(f"{out} already holds a finished run; pick another --output-dir (runs are never overwritten)", 4)
    complete, incomplete = scan_checkpoints(ckpt_dir)
    last_ckpt = str(complete) if complete else None
    if cfg.resume and last_ckpt is None:
        if not incomplete:
            raise LexkzError(f"resume=true but {ckpt_dir} has no checkpoint; start without --resume", 3)
        torn = ", ".join(f"{p.name}: {why}" for p, why in incomplete)
        raise LexkzError(f"resume=true but {ckpt_dir} has no complete checkpoint ({torn}); start without --resume "
                         "(incomplete checkpoints are then set aside)", 3)
    if not cfg.resume and last_ckpt is not None:
        raise LexkzError(f"{ckpt_dir} already has checkpoints; continue with --resume or pick another --output-dir", 4)
    set_aside_names = set_aside(incomplete)
    if last_ckpt:
        print(f"[sft] resuming from {complete.name}, the last complete checkpoint", flush=True)
    set_seed(cfg.seed)

    # ---- where and how: device, precision, batch arithmetic
    cuda = torch.cuda.is_available()
    use_4bit = cuda if cfg.load_in_4bit == "auto" else bool(cfg.load_in_4bit)
    bf16 = (cuda and torch.cuda.is_bf16_supported()) if cfg.bf16 == "auto" else bool(cfg.bf16)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    accum = max(1, cfg.effective_batch_size // (cfg.per_device_batch_size * world))
    optim = cfg.optim if cfg.optim != "auto" else ("paged_adamw_8bit" if cuda else "adamw_torch")

    # ---- tokenizer and the training template (answer-only generation markers)
    from lexkz.hub import hub_model_source

    local_only = hub_model_source(cfg.model, "the model", "for the tiny smoke model run "
                                  "`lexkz tiny-model --out .lexkz/tiny-qwen3 --init-std 0.3`")
    try:
        tokenizer = AutoTokenizer.from_pretrained(cfg.model, local_files_only=local_only)
    except OSError as exc:
        raise LexkzError(
            f"cannot load the model {cfg.model!r} ({type(exc).__name__}); pass an existing local path or hub id "
            "(for the tiny smoke model run `lexkz tiny-model --out .lexkz/tiny-qwen3 --init-std 0.3`)", 3) from exc
    inference_template = tokenizer.chat_template
    training_template = make_training_template(inference_template, tokenizer)
    tokenizer.chat_template = training_template

    # ---- data
    train_rows, eval_rows, card = load_sft_rows(cfg.data)
    if cfg.max_train_samples:
        train_rows = train_rows[: cfg.max_train_samples]
    if cfg.max_eval_samples:
        eval_rows = eval_rows[: cfg.max_eval_samples]
    train_rows, dropped_train = keep_fitting(train_rows, tokenizer, cfg.max_length)
    eval_rows, dropped_eval = keep_fitting(eval_rows, tokenizer, cfg.max_length)
    if not train_rows:
        raise LexkzError(f"every training example is longer than max_length={cfg.max_length} tokens; raise sft.max_length")
    print(f"[sft] train {len(train_rows)} eval {len(eval_rows)} (dropped as longer than {cfg.max_length} tokens: "
          f"train {dropped_train}, eval {dropped_eval})", flush=True)
    do_eval = cfg.eval_steps > 0 and bool(eval_rows)
    train_ds = Dataset.from_list([{"messages": r["messages"]} for r in train_rows])
    eval_ds = Dataset.from_list([{"messages": r["messages"]} for r in eval_rows]) if eval_rows else None

    # ---- the step plan (flat_cosine needs the number of steps in the first epoch)
    steps_per_epoch = math.ceil(math.ceil(len(train_rows) / (cfg.per_device_batch_size * world)) / accum)
    total_steps = cfg.max_steps if cfg.max_steps > 0 else math.ceil(steps_per_epoch * cfg.num_epochs)
    warmup_steps = math.ceil(total_steps * cfg.warmup_ratio)
    if cfg.lr_schedule == "flat_cosine":
        flat_until = min(max(steps_per_epoch, warmup_steps), total_steps)
        schedule = {"lr_scheduler_type": "warmup_stable_decay",
                    "lr_scheduler_kwargs": {"num_decay_steps": total_steps - flat_until, "decay_type": "cosine"}}
    else:
        schedule = {"lr_scheduler_type": "cosine"}

    # ---- base model: 4-bit NF4 (QLoRA) or plain
    load_kwargs: dict = {"attn_implementation": cfg.attn_implementation}
    if use_4bit:
        load_kwargs["quantization_config"] = nf4_config()
        load_kwargs["dtype"] = torch.bfloat16
        if cuda:
            load_kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    else:
        load_kwargs["dtype"] = torch.bfloat16 if bf16 else torch.float32
    if model is None:
        try:
            model = AutoModelForCausalLM.from_pretrained(cfg.model, local_files_only=local_only, **load_kwargs)
        except OSError as exc:
            raise LexkzError(f"cannot load the model {cfg.model}: {exc}", 3) from exc
    model.config.use_cache = False
    quantized_layers = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    if use_4bit:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    peft_config = lora_config(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, target_module_list(cfg), cfg.use_rslora)

    # ---- trainer
    args = trl.SFTConfig(
        output_dir=str(ckpt_dir),
        num_train_epochs=cfg.num_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_batch_size,
        per_device_eval_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=accum,
        learning_rate=cfg.learning_rate,
        warmup_steps=warmup_steps,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        optim=optim,
        bf16=bf16,
        **checkpointing_args(trl.SFTConfig, cfg.gradient_checkpointing),
        use_liger_kernel=cfg.use_liger_kernel,
        max_length=None if cfg.padding_free else cfg.max_length,  # too-long examples are already dropped
        assistant_only_loss=cfg.assistant_only_loss,
        padding_free=cfg.padding_free,
        eval_strategy="steps" if do_eval else "no",
        eval_steps=cfg.eval_steps if do_eval else None,
        save_strategy="steps" if (do_eval or cfg.save_steps > 0) else "no",
        save_steps=cfg.eval_steps if do_eval else (cfg.save_steps or 500),
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=do_eval and cfg.keep_best,
        metric_for_best_model="eval_loss" if do_eval else None,
        greater_is_better=False if do_eval else None,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=not cuda,
        dataloader_pin_memory=cuda,
        disable_tqdm=False,
        **schedule,
    )
    callbacks = make_callbacks(cfg, use_4bit and not cuda) + list(extra_callbacks)
    trainer = trl.SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds if do_eval else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    # ---- train (resume from the last checkpoint when asked)
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=last_ckpt if cfg.resume else None)
    train_time = time.time() - t0
    stopped_early = trainer.state.global_step < trainer.state.max_steps and cfg.stop_after_steps == 0
    final_eval = trainer.evaluate() if do_eval else {}
    if use_4bit and not cuda:
        unpack_cpu_4bit(trainer.model)  # keep the saved weights in the training layout

    # ---- adapter + tokenizer (inference template) + training template
    out.mkdir(parents=True, exist_ok=True)
    stopped_for_later = cfg.stop_after_steps > 0 and trainer.state.global_step >= cfg.stop_after_steps and trainer.state.global_step < trainer.state.max_steps
    adapter_dir = out / ("adapter-partial" if stopped_for_later else ADAPTER_DIR)
    trainer.save_model(str(adapter_dir))
    tokenizer.chat_template = inference_template
    tokenizer.save_pretrained(str(adapter_dir))
    (adapter_dir / TRAINING_TEMPLATE_FILE).write_text(training_template, encoding="utf-8")

    # ---- run record
    resolved = {
        "sft": to_dict(cfg),
        "derived": {
            "device": "cuda" if cuda else "cpu", "world_size": world, "load_in_4bit": use_4bit, "bf16": bf16,
            "optim": optim, "gradient_accumulation_steps": accum, "steps_per_epoch": steps_per_epoch,
            "planned_steps": total_steps, "warmup_steps": warmup_steps, **schedule,
            "train_examples": len(train_rows), "eval_examples": len(eval_rows) if do_eval else 0,
            "dropped_too_long": {"train": dropped_train, "eval": dropped_eval},
            "lora_target_modules": target_module_list(cfg), "quantized_linear_layers": quantized_layers, "tiny_random_model": is_tiny_random(cfg.model),
            "resumed_from": last_ckpt if cfg.resume else None, "set_aside_checkpoints": set_aside_names,
        },
        "data_card": card,
        "versions": library_versions(("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes")),
    }
    metrics = record.write_run_record(
        out, trainer, resolved, result, train_time, final_eval,
        tiny=is_tiny_random(cfg.model), adapter_dir=adapter_dir, stopped_early=stopped_early,
        session={"step0": callbacks[0].step0, "tokens0": callbacks[0].tokens0},
    )
    print(f"[sft] done in {train_time:.1f}s: adapter in {adapter_dir}, record in {out}", flush=True)
    return metrics


# ---------------------------------------------------------------- command line
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="TOML file with an [sft] section (e.g. configs/tiny.toml)")
    p.add_argument("--output-dir", dest="output_dir", help=SFTConfig.__dataclass_fields__["output_dir"].metadata["help"])
    p.add_argument("--model", help=SFTConfig.__dataclass_fields__["model"].metadata["help"])
    p.add_argument("--data", help=SFTConfig.__dataclass_fields__["data"].metadata["help"])
    p.add_argument("--max-steps", dest="max_steps", type=int, help="stop after N optimizer steps")
    p.add_argument("--resume", action="store_true", default=None, help="resume from the last checkpoint in the output dir")
    p.add_argument("--seed", type=int, help="random seed")


def run_from_args(args: argparse.Namespace) -> int:
    overrides = {k: getattr(args, k, None) for k in ("output_dir", "model", "data", "max_steps", "resume", "seed")}
    cfg = load_sft_config(args.config, overrides)
    metrics = train(cfg)
    print(json.dumps({k: metrics[k] for k in ("train_time_s", "first_loss", "last_loss", "eval_loss")}, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_module("python -m finetune.train", __doc__, add_arguments, run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())
