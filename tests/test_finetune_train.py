"""Real LoRA / QLoRA training of the tiny random Qwen3 on CPU, the run record, resume, errors.

The tiny model is random: losses here are plumbing checks, never results.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from finetune.config import SFTConfig, check
from finetune.record import METRIC_FIELDS
from finetune.train import train
from lexkz.errors import LexkzError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_overfit_set(path, n_train: int = 8, n_eval: int = 2):
    """A tiny made-up overfit set in the layout `finetune data` writes (train.jsonl / eval.jsonl)."""
    path.mkdir(parents=True, exist_ok=True)

    def row(i):
        return {"messages": [
            {"role": "system", "content": "Отвечай по закону."},
            {"role": "user", "content": f"Что в статье {i}?"},
            {"role": "assistant", "content": f"Статья {i}: срок {i} дней."},
        ]}

    for name, rows in (("train", [row(i) for i in range(n_train)]), ("eval", [row(i) for i in range(n_eval)])):
        (path / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_cfg(model_dir, data_dir, out_dir, **kw) -> SFTConfig:
    values = dict(
        model=str(model_dir), data=str(data_dir), output_dir=str(out_dir), max_steps=8, num_epochs=2,
        per_device_batch_size=4, effective_batch_size=4, learning_rate=1e-2, warmup_ratio=0.0,
        eval_steps=4, early_stopping_patience=0, logging_steps=1, max_length=256, lora_r=8, lora_alpha=16,
        lora_dropout=0.0, gradient_checkpointing=False, load_in_4bit=False, seed=0,
    )
    values.update(kw)
    cfg = SFTConfig(**values)
    check(cfg)
    return cfg


def lora_tensors(adapter_dir) -> dict[str, np.ndarray]:
    from safetensors.torch import load_file

    path = Path(adapter_dir) / "adapter_model.safetensors"
    return {k: v.float().numpy() for k, v in load_file(str(path)).items()}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_overfit_set(tmp_path_factory.mktemp("sft_data"))


@pytest.fixture(scope="module")
def lora_run(tiny_model_dir, data_dir, tmp_path_factory):
    """One real LoRA run (flat-then-cosine schedule over 2 epochs of 2 steps each)."""
    out = tmp_path_factory.mktemp("run") / "lora"
    metrics = train(tiny_cfg(tiny_model_dir, data_dir, out, lr_schedule="flat_cosine"))
    return out, metrics


def test_loss_is_finite_and_falls_and_lora_weights_change(lora_run):
    out, metrics = lora_run
    losses = [json.loads(l)["loss"] for l in (out / "log_history.jsonl").read_text().splitlines() if '"loss"' in l]
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] - 0.3, losses  # overfits 8 examples
    assert metrics["last_loss"] == losses[-1] and metrics["min_loss"] == min(losses)
    tensors = lora_tensors(out / "adapter")
    b = {k: v for k, v in tensors.items() if "lora_B" in k}
    # 2 layers x 7 projections; LoRA B starts at zero, so non-zero B means the adapter trained
    assert len(b) == 14
    assert all(np.abs(v).max() > 0 for v in b.values()), [k for k, v in b.items() if not np.abs(v).any()]


def test_flat_then_cosine_schedule(lora_run):
    out, _ = lora_run
    lrs = {h["step"]: h["learning_rate"] for h in map(json.loads, (out / "log_history.jsonl").read_text().splitlines())
           if "learning_rate" in h}
    # 8 examples / batch 4 = 2 steps per epoch: flat through the first epoch (a plain cosine
    # would already have decayed at step 2), then a cosine decay that starts at the peak
    assert lrs[1] == pytest.approx(1e-2) and lrs[2] == pytest.approx(1e-2)
    assert all(lrs[s + 1] < lrs[s] for s in range(3, 8)) and lrs[8] < 0.2e-2


def test_run_record(lora_run, tiny_model_dir):
    from matplotlib.image import imread

    out, metrics = lora_run
    stored = json.loads((out / "metrics.json").read_text())
    for name in METRIC_FIELDS:
        assert name in stored, name
    for name in ("train_time_s", "train_samples_per_s", "train_tokens_per_s", "first_loss", "last_loss",
                 "min_loss", "eval_loss", "peak_memory_mb"):
        assert isinstance(stored[name], (int, float)) and stored[name] > 0, name
    assert stored["tiny_random_model"] is True and "plumbing check" in stored["note"]
    for png in ("training_loss.png", "learning_rate.png"):
        raw = (out / png).read_bytes()
        assert raw[:8] == PNG_MAGIC and len(raw) > 10_000
        pixels = imread(str(out / png))
        assert pixels.shape[0] > 200 and pixels.shape[1] > 400 and pixels[..., :3].std() > 0.05
    config = json.loads((out / "config.json").read_text())
    assert config["sft"]["lr_schedule"] == "flat_cosine" and config["derived"]["device"] == "cpu"
    assert config["derived"]["load_in_4bit"] is False and config["versions"]["trl"]
    assert "tiny random model: plumbing check" in (out / "README.md").read_text()
    history = [json.loads(l) for l in (out / "log_history.jsonl").read_text().splitlines()]
    assert any("eval_loss" in h for h in history)
    # the adapter travels with its tokenizer: inference template + the training template
    adapter = out / "adapter"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(adapter)
    assert "{%- generation %}" not in tok.chat_template
    assert tok.chat_template == AutoTokenizer.from_pretrained(tiny_model_dir).chat_template
    assert "{%- generation %}" in (adapter / "training_chat_template.jinja").read_text()


def test_merge_writes_a_plain_model_with_the_adapter_applied(lora_run, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from finetune.merge import merge

    out, _ = lora_run
    merged = merge(out / "adapter", tmp_path / "merged")
    model = AutoModelForCausalLM.from_pretrained(merged)
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert next(model.parameters()).dtype == torch.bfloat16
    base = AutoModelForCausalLM.from_pretrained(json.loads((out / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"])
    w = "model.layers.0.self_attn.q_proj.weight"
    diff = (model.state_dict()[w].float() - base.state_dict()[w].float()).abs().max().item()
    assert diff > 1e-3  # the LoRA delta is in the merged weights
    with pytest.raises(LexkzError, match="already exists"):
        merge(out / "adapter", tmp_path / "merged")


def test_qlora_4bit_trains_a_fresh_4bit_model_on_cpu(tiny_model_dir, data_dir, tmp_path):
    pytest.importorskip("bitsandbytes")
    out = tmp_path / "qlora"
    metrics = train(tiny_cfg(tiny_model_dir, data_dir, out, load_in_4bit=True, eval_steps=0, max_steps=6))
    config = json.loads((out / "config.json").read_text())
    assert config["derived"]["load_in_4bit"] is True
    assert config["derived"]["quantized_linear_layers"] == 14  # every projection of both layers is NF4
    losses = [h["loss"] for h in map(json.loads, (out / "log_history.jsonl").read_text().splitlines()) if "loss" in h]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0] - 0.2, losses
    assert all(np.abs(v).max() > 0 for k, v in lora_tensors(out / "adapter").items() if "lora_B" in k)
    assert metrics["global_step"] == 6


# Resume tolerance: the resumed run restores optimizer, scheduler, RNG and data order from the
# checkpoint, so it repeats the uninterrupted run: on this CPU the LoRA tensors came out
# bit-identical (max |diff| 0). We allow 1e-4 absolute per tensor for other hardware and kernels
# (GPU kernels are not bit-deterministic by default).
RESUME_ATOL = 1e-4


@pytest.mark.slow
def test_resume_matches_an_uninterrupted_run(tiny_model_dir, data_dir, tmp_path):
    kw = dict(max_steps=6, eval_steps=0, save_steps=3, lora_dropout=0.05, learning_rate=5e-3)
    train(tiny_cfg(tiny_model_dir, data_dir, tmp_path / "full", **kw))
    part = tmp_path / "part"
    train(tiny_cfg(tiny_model_dir, data_dir, part, stop_after_steps=3, **kw))
    assert (part / "adapter-partial").is_dir() and not (part / "adapter").exists()
    metrics = train(tiny_cfg(tiny_model_dir, data_dir, part, resume=True, **kw))
    assert metrics["global_step"] == 6 and metrics["steps_this_session"] == 3
    full, resumed = lora_tensors(tmp_path / "full" / "adapter"), lora_tensors(part / "adapter")
    assert full.keys() == resumed.keys()
    worst = max(float(np.abs(full[k] - resumed[k]).max()) for k in full)
    print(f"resume: max |LoRA diff| vs uninterrupted run = {worst:.3g}")
    assert worst < RESUME_ATOL, worst
    # and the partial adapter (3 steps) really differs from the final one: the check can fail
    partial = lora_tensors(part / "adapter-partial")
    assert max(float(np.abs(partial[k] - resumed[k]).max()) for k in full) > 1e-3


def test_errors_are_clear_and_leave_runs_alone(tiny_model_dir, data_dir, tmp_path, lora_run):
    out, _ = lora_run
    before = (out / "adapter" / "adapter_model.safetensors").read_bytes()
    with pytest.raises(LexkzError, match="already holds a finished run") as exc:
        train(tiny_cfg(tiny_model_dir, data_dir, out))
    assert exc.value.exit_code == 4
    assert (out / "adapter" / "adapter_model.safetensors").read_bytes() == before
    with pytest.raises(LexkzError, match="no checkpoint") as exc:
        train(tiny_cfg(tiny_model_dir, data_dir, tmp_path / "fresh", resume=True))
    assert exc.value.exit_code == 3
    with pytest.raises(LexkzError, match="cannot load the model") as exc:
        train(tiny_cfg(tmp_path / "no-such-model", data_dir, tmp_path / "x"))
    assert exc.value.exit_code == 3
    with pytest.raises(LexkzError, match="SFT data not found"):
        train(tiny_cfg(tiny_model_dir, tmp_path / "no-data", tmp_path / "y"))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages": [{"role": "user", "content": "q"}]}\n{oops\n', encoding="utf-8")
    with pytest.raises(LexkzError, match=r"broken.jsonl:2"):
        train(tiny_cfg(tiny_model_dir, broken, tmp_path / "z"))


def test_cli_train_reports_errors(tmp_path):
    from lexkz.cli import main

    cfg = tmp_path / "bad.toml"
    cfg.write_text('[sft]\nlr_schedule = "linear"\n', encoding="utf-8")
    assert main(["finetune", "train", "--config", str(cfg)]) == 2
    cfg.write_text('[sft]\nno_such_key = 1\n', encoding="utf-8")
    assert main(["finetune", "train", "--config", str(cfg)]) == 2


def test_unpack_cpu_4bit_restores_training_gradients():
    """The DESIGN trap: bitsandbytes' CPU inference packing breaks gradients; unpack_cpu_4bit (run by
    train.py after every eval on CPU + 4-bit) restores the training layout. The packing is forced
    here because this CPU may lack AVX512-BF16, where bitsandbytes would do it by itself."""
    bnb = pytest.importorskip("bitsandbytes")
    import torch
    from bitsandbytes.functional import _convert_weight_packed_for_cpu

    from finetune.train import unpack_cpu_4bit

    torch.manual_seed(0)
    lin = bnb.nn.Linear4bit(64, 128, bias=False, compute_dtype=torch.bfloat16, quant_type="nf4")
    lin.weight = bnb.nn.Params4bit(torch.randn(128, 64, dtype=torch.bfloat16) * 0.02, requires_grad=False,
                                   quant_type="nf4", module=lin).to("cpu")
    x = torch.randn(4, 64, requires_grad=True)

    def input_grad():
        """The input gradient, or zeros where the packed kernel has no autograd (bitsandbytes >= 0.50)."""
        x.grad = None
        lin(x).float().sum().backward()
        return torch.zeros(x.numel()) if x.grad is None else x.grad.flatten().clone()

    def cos(a, b):
        return torch.nn.functional.cosine_similarity(a, b, dim=0).item()  # 0 for a missing gradient

    true_grad, stored = input_grad(), lin.weight.data.clone()
    lin.weight.data, lin.weight.quant_state = _convert_weight_packed_for_cpu(lin.weight.data, lin.weight.quant_state)
    assert cos(input_grad(), true_grad) < 0.5  # the trap is real: a wrong gradient, or none at all
    assert unpack_cpu_4bit(lin) == 1
    assert torch.equal(lin.weight.data, stored) and cos(input_grad(), true_grad) > 0.9999
    assert unpack_cpu_4bit(lin) == 0


def test_early_stopping_keeps_the_best_checkpoint(tiny_model_dir, tmp_path):
    """Eval answers unlike the training answers: overfitting raises eval loss, training stops, and
    the saved adapter is the best checkpoint's, not the last step's."""
    data = write_overfit_set(tmp_path / "data")
    rows = [{"messages": [{"role": "system", "content": "Отвечай по закону."}, {"role": "user", "content": f"Что в статье {i}?"},
                          {"role": "assistant", "content": "Жоқ. Бұл бап қазақ тілінде ғана бар екен, үшін!"}]} for i in range(2)]
    (data / "eval.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "es"
    metrics = train(tiny_cfg(tiny_model_dir, data, out, max_steps=12, eval_steps=1, early_stopping_patience=2))
    evals = [(h["step"], h["eval_loss"]) for h in map(json.loads, (out / "log_history.jsonl").read_text().splitlines())
             if "eval_loss" in h][:-1]  # the last entry is the final evaluation of the loaded best model
    best_step, best_loss = min(evals, key=lambda e: e[1])
    assert metrics["stopped_early"] and metrics["global_step"] == best_step + 2 < 12
    assert metrics["best_checkpoint"].endswith(f"checkpoint-{best_step}")
    assert metrics["eval_loss"] == pytest.approx(best_loss)
    saved, best = lora_tensors(out / "adapter"), lora_tensors(metrics["best_checkpoint"])
    assert all(np.array_equal(saved[k], best[k]) for k in saved)


def test_padding_free_trains_like_padded(tiny_model_dir, data_dir, tmp_path):
    """Padding-free batches (one packed row, position ids restarting per example) give the same
    losses as padded ones: packed examples do not attend to each other."""
    losses = {}
    for pf in (False, True):
        out = tmp_path / f"pf{pf}"
        train(tiny_cfg(tiny_model_dir, data_dir, out, max_steps=3, eval_steps=0, padding_free=pf))
        losses[pf] = [h["loss"] for h in map(json.loads, (out / "log_history.jsonl").read_text().splitlines()) if "loss" in h]
    assert len(losses[True]) == 3 and losses[True][-1] < losses[True][0]
    assert np.allclose(losses[True], losses[False], atol=1e-3), losses
