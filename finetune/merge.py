"""Merge a LoRA adapter into its base model and save the result in bf16.

    lexkz finetune merge --adapter runs/sft/adapter --out runs/sft/merged
    python -m finetune.merge --adapter DIR --out DIR [--base MODEL]

The base model is the one recorded in the adapter (adapter_config.json) unless --base is
given. It is loaded in bf16 (never 4-bit: merging into quantized weights loses precision),
the LoRA deltas are added, and the plain model + the tokenizer saved beside the adapter
(with its inference chat template) are written to --out. The output can be served by vLLM
or loaded by the graph's hf generator without peft.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from graph.generators.hf import adapter_base_model
from lexkz.cli import run_module
from lexkz.common import atomic_dir
from lexkz.errors import LexkzError


def merge(adapter: str | Path, out: str | Path, base: str | None = None) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter, out = Path(adapter), Path(out)
    recorded = adapter_base_model(adapter)  # LexkzError (exit 3) when it is not an adapter
    if out.exists():
        raise LexkzError(f"{out} already exists; pick another --out (merged models are never overwritten)", 4)
    base = base or recorded
    if not base:
        raise LexkzError(f"{adapter}/adapter_config.json names no base model: pass --base MODEL", 3)
    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    except OSError as exc:
        raise LexkzError(f"cannot load the base model {base!r}: pass --base PATH to a local copy", 3) from exc
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter))
    with atomic_dir(out) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        for extra in ("training_chat_template.jinja", "LEXKZ_TINY.json"):
            src = adapter / extra if (adapter / extra).exists() else Path(base) / extra
            if src.is_file():
                shutil.copy(src, tmp / extra)
        (tmp / "MERGED_FROM.json").write_text(json.dumps({"base": str(base), "adapter": str(adapter)}, indent=2) + "\n")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--adapter", required=True, help="LoRA adapter directory (a run's adapter/)")
    p.add_argument("--out", required=True, help="output directory for the merged bf16 model (must not exist)")
    p.add_argument("--base", help="base model path or hub id (default: the one recorded in the adapter)")


def run_from_args(args: argparse.Namespace) -> int:
    print(merge(args.adapter, args.out, args.base))
    return 0


if __name__ == "__main__":
    sys.exit(run_module("python -m finetune.merge", __doc__, add_arguments, run_from_args))
