"""The QLoRA benchmark's model builder (meta device -> NF4 layer by layer) on the tiny sizes."""

from __future__ import annotations

import importlib.util
import math
import random
from pathlib import Path

import pytest
import torch

pytest.importorskip("bitsandbytes")
_spec = importlib.util.spec_from_file_location("bench_qlora", Path(__file__).resolve().parent.parent / "bench" / "bench_qlora.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.slow
def test_random_4bit_model_builds_without_meta_tensors_and_trains():
    model = bench.build_random_4bit_qwen3(bench.TINY, "cpu", "sdpa")
    n4 = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    assert n4 == 7 * bench.TINY["num_hidden_layers"]
    assert not any(p.is_meta for p in model.parameters()) and not any(b.is_meta for b in model.buffers())
    model, opt = bench.make_trainable(model, 1e-2, cuda=False)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(float(p.abs().max()) == 0 for p in lora_b)
    rng = random.Random(0)
    for padding_free in (False, True):
        batches = bench.micro_batches(rng, 32, bench.TINY["vocab_size"], 2, 1, padding_free, "cpu")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batches[0][0]).loss
        assert math.isfinite(loss.item()) and abs(loss.item() - math.log(bench.TINY["vocab_size"])) < 1.0
        bench.train_step(model, opt, batches, "cpu")
    assert all(float(p.abs().max()) > 0 for p in lora_b)
