"""Two `lexkz eval run` processes into one output directory: the second is refused with exit 4
and a clear message, the first finishes with every row exactly once. Real processes: the first
is paused (SIGSTOP) right after it wrote run.json, the second runs to its end, then the first
goes on (SIGCONT)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lexkz.cli import main
from tests.test_eval_run import QUESTIONS

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP/SIGCONT (POSIX)")


def test_second_run_into_the_same_dir_is_refused(fixture_index, tmp_path):
    questions = tmp_path / "q.jsonl"
    items = [{**q, "id": f"{q['id']}-{i}"} for i in range(4) for q in QUESTIONS]
    questions.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in items), encoding="utf-8")
    out = tmp_path / "run"
    config = tmp_path / "eval.toml"
    config.write_text(f"""[eval]
questions = ["{questions}"]
index_dir = "{fixture_index}"
conditions = ["extractive"]
control_set = ""
batch_size = 2
bootstrap_resamples = 200
output_dir = "{out}"

[retrieval]
k = 3
""", encoding="utf-8")
    cmd = [sys.executable, "-m", "lexkz.cli", "eval", "run", "--config", str(config), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")

    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "run.json").is_file():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never wrote run.json"
            time.sleep(0.005)
        first.send_signal(signal.SIGSTOP)  # it holds the run (and, with the fix, the lock)
        second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    out1, err1 = first.communicate(timeout=300)

    assert second.returncode == 4, second.stderr
    assert f"another `lexkz eval run` is writing {out}" in second.stderr and "--output-dir" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, err1
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(q["id"] for q in items)  # each row once
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["n_questions"] == len(items)

    # the lock went with the first process: a third run resumes, finds everything done, adds nothing
    assert main(["eval", "run", "--config", str(config), "--quiet", "--no-report"]) == 0
    assert len((out / "rows.jsonl").read_text(encoding="utf-8").splitlines()) == len(items)
