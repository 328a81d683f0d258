"""Shared fixtures: offline hub, small torch thread pool, the real corpus (or a skip),
a made-up fixture corpus, and a tiny random Qwen3 built locally once per session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

from pathlib import Path

import pytest

from lexkz.common import default_corpus_dir
from tests.fixture_corpus import write_fixture_corpus


def pytest_configure(config):
    try:
        import torch

        torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    except ImportError:
        pass


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The real RK corpus (LEXKZ_CORPUS or ../shared/corpus); skips when absent."""
    path = default_corpus_dir()
    if path is None:
        pytest.skip("real corpus absent: set LEXKZ_CORPUS or place it at ../shared/corpus")
    return path


@pytest.fixture(scope="session")
def fixture_corpus(tmp_path_factory) -> Path:
    """A made-up 3-act corpus (see tests/fixture_corpus.py), written once per session."""
    return write_fixture_corpus(tmp_path_factory.mktemp("fixture_corpus"))


@pytest.fixture(scope="session")
def fixture_index(fixture_corpus, tmp_path_factory) -> Path:
    """A real index (SQLite + BM25 + FAISS flat) of the fixture corpus with the model-free
    hashing embedder, built once per session. Read-only: tests that write build their own."""
    from index.build import build_index
    from index.config import IndexConfig

    index_dir = tmp_path_factory.mktemp("fixture_index") / "index"
    build_index(fixture_corpus, index_dir, IndexConfig(embedding="hashing:256"), progress=False)
    return index_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen3 + locally trained tokenizer with a Qwen3-style template."""
    from lexkz.tiny import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("tiny_qwen3"))


# Graph fixtures (real indexes of the fixture corpus / two real acts, a tiny Qwen3 with varied
# weights and a trained LoRA adapter), registered here so each is built once per session.
from tests.graph_fixtures import graph_index, labour_index, tiny_adapter_dir, varied_tiny_dir  # noqa: E402,F401
