"""What every generator backend returns, and the protocol it follows."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Protocol


@dataclass
class GenerationResult:
    """One generated answer: text, token counts (approximate for extractive) and wall seconds.

    `seconds` of a batched call is the batch's time shared evenly among its prompts."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class Generator(Protocol):
    """Batched chat messages in, one GenerationResult per message list out.

    `generate(batch, progress=False, **overrides)`: overrides are per-call values of the
    GenerationConfig fields (max_new_tokens, temperature, top_p, do_sample, seed, batch_size);
    `progress` shows a tqdm bar for long batches."""

    name: str

    def generate(self, batch: list[list[dict]], progress: bool = False, **overrides) -> list[GenerationResult]: ...

    def info(self) -> dict: ...


_THINK = re.compile(r"<think>.*?</think>\s*", re.S)


def strip_thinking(text: str) -> str:
    """Drop a (possibly empty) <think>...</think> block that a Qwen3 may emit."""
    text = _THINK.sub("", text)
    if "</think>" in text:  # an unopened block: keep what follows
        text = text.split("</think>", 1)[1]
    return text.strip()


def check_batch(batch) -> None:
    if not isinstance(batch, list) or any(not isinstance(m, list) for m in batch):
        raise TypeError("generate() takes a list of message lists: [[{'role': ..., 'content': ...}, ...], ...]")
