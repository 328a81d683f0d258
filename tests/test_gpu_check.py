"""The GPU proof script (bench/gpu_check.sh -> bench/gpu_check.py) runs end to end on CPU with
the tiny random Qwen3 (the dry run), so it cannot rot before a GPU is available: the wrapper,
the project's QLoRA path (finetune.train with a model object), the HfGenerator path, the JSON
and the table. Figures of the tiny model are plumbing checks, never results."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_wrapper(out: Path, *args: str, budget: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "GPU_CHECK_NO_INSTALL": "1", "PYTHON": sys.executable, "GPU_CHECK_BUDGET_S": str(budget),
           "PYTHONPATH": str(ROOT)}
    return subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(out), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_dry_run_on_cpu_writes_sane_results(tmp_path):
    out = tmp_path / "out"
    proc = run_wrapper(out, "--model", "tiny", "--device", "cpu", "--seq-lens", "128",
                       "--gen-batches", "1", "4", "--max-new-tokens", "16")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["cuda_test.log", "gpu_check.json", "gpu_check.log", "gpu_check.md"]
    assert "skipped" in (out / "cuda_test.log").read_text()  # the CUDA tests ran and skipped on CPU

    res = json.loads((out / "gpu_check.json").read_text())
    assert res["tiny"] is True and "plumbing check" in res["label"] and res["errors"] == []
    assert res["env"]["device"] == "cpu" and res["env"]["versions"]["trl"] and res["env"]["torch"]
    assert [(r["seq_len"], r["padding_free"]) for r in res["qlora"]] == [(128, False), (128, True)]
    for r in res["qlora"]:
        assert "error" not in r, r
        assert r["timed_steps"] == 2 and r["step_time_s"] > 0 and r["tokens_per_s"] > 0 and r["examples_per_s"] > 0
        assert r["losses"] and all(math.isfinite(x) for x in r["losses"]) and r["loss_finite"] is True
        assert r["linear4bit_layers"] == 14  # 2 layers x 7 projections, counted by isinstance
        assert r["lora_b_changed"] == "14/14"
    # padded and padding-free train on the same examples: same non-padding token count per step
    assert res["qlora"][0]["tokens_per_step"] == res["qlora"][1]["tokens_per_step"]

    assert [r["batch"] for r in res["generation"]] == [1, 4]
    for r in res["generation"]:
        assert "error" not in r, r
        assert r["tokens_per_s"] > 0 and r["time_to_first_token_s"] > 0
        assert 0 < r["generated_tokens"] <= 16 * r["batch"]
    assert res["identity"]["prompts"] == 4 and isinstance(res["identity"]["identical"], bool)
    assert any("Liger" in s and "CUDA" in s for s in res["skipped"])

    table = (out / "gpu_check.md").read_text()
    assert "| 128 | padded | HF+trl |" in table and "| 128 | padding-free | HF+trl |" in table
    assert "plumbing checks, never results" in table


@pytest.mark.slow
def test_a_short_budget_skips_measurements_and_says_so(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--out", str(out), "--model", "tiny",
                           "--device", "cpu", "--budget-s", "3"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "gpu_check.json").read_text())
    assert res["qlora"] == [] and res["generation"] == []
    assert sum("time budget" in s for s in res["skipped"]) >= 5  # 4 QLoRA settings + generation
    assert "## Skipped" in (out / "gpu_check.md").read_text()


def test_the_gpu_model_refuses_cpu(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--out", str(tmp_path), "--model", "8b",
                           "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "needs CUDA" in proc.stderr
