"""CUDA-only checks of the QLoRA and 4-bit generation paths (skipped without a GPU).

On a small random Qwen3 (hidden 256, 2 layers, weights at std 0.3 so greedy continuations
depend on the prompt) saved to disk, through the project's own code:
- finetune.train.train with load_in_4bit="auto": the model being trained holds
  bitsandbytes Linear4bit layers on cuda:LOCAL_RANK, the optimizer is bitsandbytes' paged 8-bit AdamW, the
  loss is finite and falls over a few steps, and every LoRA B matrix changes;
- HfGenerator: loading puts Linear4bit layers (uint8 NF4 storage) on the GPU, and batched
  greedy decoding with left padding gives the same token ids as one prompt at a time.
Everything asserted is read off the objects (module types, tensors, token ids), never a label
the code sets. Self-contained (no conftest fixtures), so a bare GPU machine runs it with
`python3 -m pytest --noconftest tests/test_cuda.py` (bench/gpu_check.sh does).
"""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (NF4 4-bit through bitsandbytes)")

LAYERS, PROJECTIONS = 2, 7
QUESTIONS = ["Сколько дней отпуска?", "Что такое трудовой договор и как его заключают в письменной форме?",
             "Кража", "Жыл сайынғы еңбек демалысы қанша күн?"]


@pytest.fixture(scope="module")
def small_qwen3(tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lexkz.tiny import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("small_qwen3"), hidden_size=256, layers=LAYERS, init_std=0.3)


def write_sft_data(path, n: int = 8):
    path.mkdir(parents=True, exist_ok=True)
    rows = [{"messages": [{"role": "user", "content": f"Что в статье {i}?"},
                          {"role": "assistant", "content": f"Статья {i}: срок {i} дней."}]} for i in range(n)]
    (path / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def probe_callback():
    """What the Trainer really trains: module types, device, optimizer, losses and LoRA B before/after."""
    from transformers import TrainerCallback

    class Probe(TrainerCallback):
        losses: list

        def on_train_begin(self, args, state, control, model=None, optimizer=None, **kw):
            import bitsandbytes as bnb

            self.losses = []
            self.linear4bit = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
            self.devices = {p.device for p in model.parameters()}
            self.optimizer = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps it
            self.b0 = {n: p.detach().float().clone() for n, p in model.named_parameters() if "lora_B" in n}

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

        def on_train_end(self, args, state, control, model=None, **kw):
            self.b1 = {n: p.detach().float().clone() for n, p in model.named_parameters() if "lora_B" in n}

    return Probe()


def run_qlora(model_dir, tmp_path, load_in_4bit="auto"):
    from finetune.config import SFTConfig, check
    from finetune.train import train

    cfg = SFTConfig(model=str(model_dir), data=str(write_sft_data(tmp_path / "data")), output_dir=str(tmp_path / "run"),
                    max_steps=8, per_device_batch_size=4, effective_batch_size=4, learning_rate=1e-2, warmup_ratio=0.0,
                    eval_steps=0, early_stopping_patience=0, logging_steps=1, max_length=256, lora_r=8, lora_alpha=16,
                    lora_dropout=0.0, gradient_checkpointing=True, load_in_4bit=load_in_4bit, seed=0)
    check(cfg)
    probe = probe_callback()
    train(cfg, extra_callbacks=(probe,))
    return probe, tmp_path / "run"


def test_qlora_trains_4bit_layers_and_the_loss_falls(small_qwen3, tmp_path):
    import bitsandbytes as bnb
    from safetensors.torch import load_file

    probe, run = run_qlora(small_qwen3, tmp_path)
    assert len(probe.linear4bit) == LAYERS * PROJECTIONS
    assert all(m.weight.dtype == torch.uint8 and m.weight.quant_state.quant_type == "nf4" for m in probe.linear4bit)
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    assert probe.devices == {torch.device("cuda", rank)}
    # optim "paged_adamw_8bit" -> bitsandbytes AdamW with optim_bits=8, is_paged=True
    opt = probe.optimizer
    assert isinstance(opt, bnb.optim.optimizer.Optimizer8bit), type(opt)
    assert opt.is_paged and opt.args.optim_bits == 8
    losses = probe.losses
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses), losses
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.3, losses
    assert len(probe.b0) == LAYERS * PROJECTIONS and probe.b0.keys() == probe.b1.keys()
    unchanged = [n for n in probe.b0 if torch.equal(probe.b0[n], probe.b1[n])]
    assert not unchanged, unchanged
    saved = {k: v for k, v in load_file(str(run / "adapter" / "adapter_model.safetensors")).items() if "lora_B" in k}
    assert len(saved) == LAYERS * PROJECTIONS and all(v.abs().max() > 0 for v in saved.values())  # B starts at zero


def test_hf_generator_loads_nf4_and_batched_greedy_equals_one_by_one(small_qwen3):
    import bitsandbytes as bnb

    from graph.config import GenerationConfig
    from graph.generators import HfGenerator

    gen = HfGenerator(GenerationConfig(model=str(small_qwen3), do_sample=False, max_new_tokens=8, batch_size=4))
    gen.load()
    layers = [m for m in gen.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(layers) == LAYERS * PROJECTIONS
    assert all(m.weight.is_cuda and m.weight.dtype == torch.uint8 and m.weight.quant_state.quant_type == "nf4"
               for m in layers)
    batch = [[{"role": "user", "content": q}] for q in QUESTIONS]
    together = gen.generate(batch)
    alone = [gen.generate([m], batch_size=1)[0] for m in batch]
    assert [r.extra["token_ids"] for r in together] == [r.extra["token_ids"] for r in alone]
    # not vacuous: prompts of different lengths (left padding at work), different continuations
    assert len({r.prompt_tokens for r in together}) == len(QUESTIONS)
    assert len({tuple(r.extra["token_ids"]) for r in together}) == len(QUESTIONS)
    assert all(r.completion_tokens > 0 for r in together)
