"""Fixtures and helpers shared by the graph tests (the fixtures are registered in conftest.py).

- `graph_index`: a real index (SQLite + BM25 + FAISS, "hashing" embedder) of the made-up
  fixture corpus, built once per session.
- `labour_index`: a real index of two acts of the real corpus (Labour Code K1500000414 and
  the Consumer Protection Law Z100000274_, linked into a temp folder); skips when absent.
- `varied_tiny_dir`: the session's tiny random Qwen3 with its weights redrawn at a larger
  scale, so greedy outputs differ from prompt to prompt (the stock init gives the same
  token for every prompt, which would make batched-vs-sequential comparisons vacuous).
- `tiny_adapter_dir`: a LoRA adapter for `varied_tiny_dir`, trained for a few real steps.
- `ScriptedGenerator`: a generator that returns scripted answers (drives citation checks
  through the real graph without a model).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from graph.generators.base import GenerationResult

LABOUR_CODE = "K1500000414"
CONSUMER_LAW = "Z100000274_"


@pytest.fixture(scope="session")
def graph_index(fixture_index) -> Path:
    return fixture_index


@pytest.fixture(scope="session")
def labour_index(shared_corpus, tmp_path_factory) -> Path:
    from index.build import build_index
    from index.config import IndexConfig

    root = tmp_path_factory.mktemp("labour_corpus")
    for code in (LABOUR_CODE, CONSUMER_LAW):
        if not (shared_corpus / code).is_dir():
            pytest.skip(f"{code} missing from the real corpus at {shared_corpus}")
        shutil.copytree(shared_corpus / code, root / code)  # a copy: symlinked folders are not followed
    index_dir = tmp_path_factory.mktemp("labour_index") / "index"
    build_index(root, index_dir, IndexConfig(embedding="hashing"), progress=False)
    return index_dir


@pytest.fixture(scope="session")
def varied_tiny_dir(tiny_model_dir, tmp_path_factory) -> Path:
    from lexkz.tiny import varied_copy

    return varied_copy(tiny_model_dir, tmp_path_factory.mktemp("tiny_varied"))


@pytest.fixture(scope="session")
def tiny_adapter_dir(varied_tiny_dir, tmp_path_factory) -> Path:
    """A LoRA adapter trained for 8 real AdamW steps on one chat example (lexkz.tiny.train_tiny_adapter).

    The adapter's lora_B weights start at zero, so only training makes it change the model."""
    from lexkz.tiny import train_tiny_adapter

    out, losses = train_tiny_adapter(varied_tiny_dir, tmp_path_factory.mktemp("tiny_adapter") / "adapter")
    assert losses[-1] < losses[0], losses
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert Path(cfg["base_model_name_or_path"]).resolve() == Path(varied_tiny_dir).resolve()
    return out


class ScriptedGenerator:
    """Returns the scripted answers in turn (cycling); records every batch it was given."""

    name = "scripted"

    def __init__(self, answers: list[str]):
        self.answers = list(answers)
        self.calls: list[list[list[dict]]] = []
        self._next = 0

    def generate(self, batch, **overrides):
        self.calls.append(batch)
        out = []
        for _ in batch:
            text = self.answers[self._next % len(self.answers)]
            self._next += 1
            out.append(GenerationResult(text=text, prompt_tokens=1, completion_tokens=len(text.split()),
                                        seconds=0.0, finish_reason="stop"))
        return out

    def info(self):
        return {"backend": "scripted", "model": None, "adapter": None, "tiny_random": False}


class CountingGenerator:
    """Wraps a real generator and counts generate() calls and prompts."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.calls: list[int] = []

    def generate(self, batch, **overrides):
        self.calls.append(len(batch))
        return self.inner.generate(batch, **overrides)

    def info(self):
        return self.inner.info()
