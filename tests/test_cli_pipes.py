"""A reader that closes the pipe early (`lexkz index info | head -1`) ends the command quietly
with exit code 141 (128 + SIGPIPE) instead of a BrokenPipeError traceback. Real subprocesses
of `python -m lexkz.cli`, whose stdout pipe is closed by the reader before they write."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BROKEN_PIPE_EXIT = 141  # lexkz.cli.BROKEN_PIPE_EXIT


def run_into_closed_pipe(*argv: str) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "lexkz.cli", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written, like `| head -0`
    err = proc.stderr.read().decode("utf-8", "replace")
    return proc.wait(timeout=120), err


@pytest.mark.parametrize("argv", [
    ["index", "info"],
    ["index", "info", "--json"],
    ["ask", "Сколько дней длится ежегодный оплачиваемый трудовой отпуск?", "--k", "2"],
])
def test_closed_pipe_exits_quietly(fixture_index, argv):
    if argv[0] in ("index", "ask"):
        argv = [*argv, "--index", str(fixture_index)]
    code, err = run_into_closed_pipe(*argv)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == BROKEN_PIPE_EXIT, err


def test_open_pipe_still_gets_everything(fixture_index):
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "lexkz.cli", "index", "info", "--index", str(fixture_index)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("index ") and "counts" in out.stdout
