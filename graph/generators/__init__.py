"""Generator backends: `hf` (Qwen3 + optional LoRA, 4-bit on CUDA), `extractive` (no LLM)
and `openai` (any /v1/chat/completions endpoint, e.g. vLLM).

    from graph.config import GenerationConfig
    from graph.generators import make_generator
    gen = make_generator(GenerationConfig(model="Qwen/Qwen3-8B", adapter="runs/sft/adapter"))
    results = gen.generate([messages_1, messages_2], max_new_tokens=256)   # one batched call
    results[0].text, results[0].prompt_tokens, results[0].completion_tokens, results[0].seconds

Every backend loads lazily: constructing one is cheap, the first generate() loads the model.
"""

from __future__ import annotations

from graph.config import DEFAULT_HF_MODEL, GenerationConfig, resolved_backend
from graph.generators.base import GenerationResult, Generator, strip_thinking
from graph.generators.extractive import ExtractiveGenerator
from graph.generators.hf import HfGenerator
from graph.generators.openai import OpenAIGenerator
from lexkz.errors import LexkzError

__all__ = [
    "GenerationResult", "Generator", "HfGenerator", "ExtractiveGenerator", "OpenAIGenerator",
    "make_generator", "strip_thinking",
]


def make_generator(cfg: GenerationConfig | None = None) -> Generator:
    """The backend named by `cfg.backend` (auto: hf when cfg.model is set, else extractive)."""
    cfg = cfg or GenerationConfig()
    backend = resolved_backend(cfg)
    if backend == "hf":
        if not cfg.model:
            from dataclasses import replace

            cfg = replace(cfg, model=DEFAULT_HF_MODEL)
        return HfGenerator(cfg)
    if backend == "extractive":
        return ExtractiveGenerator(cfg)
    if backend == "openai":
        return OpenAIGenerator(cfg)
    raise LexkzError(f"unknown generator backend {cfg.backend!r}: use hf, extractive, openai or auto")
