"""A hub model that is not in the local cache fails at once, with exit 3, naming the model and
saying how to get it into the local cache: offline (HF_HUB_OFFLINE=1, in-process), and with
the hub unreachable (a real `lexkz index build` subprocess whose HF_ENDPOINT is a closed port
on 127.0.0.1). A hub id whose files are in the local cache loads without any network call."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from graph.config import GenerationConfig
from graph.generators.hf import HfGenerator
from lexkz.errors import LexkzError
from retrieval.embedders import get_embedder, minilm_path
from retrieval.rerank import CrossEncoderReranker

ROOT = Path(__file__).resolve().parent.parent
MISSING = "no-such-org/no-such-model"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def online_env(tmp_path: Path) -> dict:
    """Not offline, but the hub is a closed port here and the cache an empty folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=str(ROOT), HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}", HF_HOME=str(tmp_path / "hf"))
    return env


def assert_hint(message: str, why: str) -> None:
    assert f"{MISSING!r}: it is not in the local Hugging Face cache and {why}" in message
    assert f"hf download {MISSING}" in message and "~/.cache/huggingface" in message
    assert "local model directory" in message


@pytest.mark.parametrize("load", [
    lambda: get_embedder(MISSING).dim,
    lambda: CrossEncoderReranker(MISSING).score("вопрос", ["текст"]),
    lambda: HfGenerator(GenerationConfig(backend="hf", model=MISSING)).load(),
], ids=["embedder", "reranker", "hf-generator"])
def test_offline_missing_model_is_a_clear_error(load):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # tests/conftest.py
    with pytest.raises(LexkzError) as err:
        load()
    assert err.value.exit_code == 3
    assert_hint(str(err.value), "the hub is offline here (HF_HUB_OFFLINE=1)")


def test_unreachable_hub_fails_at_once(fixture_corpus, tmp_path):
    out = subprocess.run([sys.executable, "-m", "lexkz.cli", "index", "build", "--corpus", str(fixture_corpus),
                          "--index", str(tmp_path / "ix"), "--embedding", MISSING, "--no-progress"],
                         cwd=ROOT, env=online_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode == 3, out.stderr
    assert out.stderr.startswith("error: cannot load embedding model") and "Traceback" not in out.stderr
    assert_hint(out.stderr, "http://127.0.0.1:")
    assert "did not answer" in out.stderr


def test_hub_id_in_the_local_cache_loads_without_network(tmp_path):
    """A hand-made cache entry (the bundled MiniLM's files under models--lexkz-test--minilm)."""
    repo = tmp_path / "hf" / "hub" / "models--lexkz-test--minilm"
    commit = "0" * 40
    snap = repo / "snapshots" / commit
    for src in minilm_path().rglob("*"):
        if src.is_file():
            dst = snap / src.relative_to(minilm_path())
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    code = ("from retrieval.embedders import get_embedder; "
            "print(get_embedder('lexkz-test/minilm').embed_queries(['отпуск']).shape)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=online_env(tmp_path), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 384)"
