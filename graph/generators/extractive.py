"""ExtractiveGenerator: no LLM. It answers with quoted excerpts of the top context blocks,
each with its citation, so every claim is verbatim law text.

It reads the numbered context blocks back from the prompt (`graph.prompts.parse_context_blocks`),
leads with the point or sentence of the top article that best answers the question
(`retrieval.sentences.best_units`), then quotes the best sentences of each top block, e.g.

    [1] Трудовой кодекс ..., ст. 88. ...: «Работникам предоставляется ...»

    Ответ составлен из дословных выдержек найденных статей (без языковой модели):

    [1] Трудовой кодекс Республики Казахстан, ст. 88. Продолжительность ...:
    «Работникам предоставляется оплачиваемый ежегодный трудовой отпуск продолжительностью ...»

It is the default generator when no model is configured, and an ablation condition of its own.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

from graph.config import GenerationConfig
from graph.generators.base import GenerationResult, check_batch
from graph.prompts import parse_context_blocks
from retrieval.sentences import best_units
from retrieval.text import detect_lang

INTRO = {
    "rus": "Ответ составлен из дословных выдержек найденных статей (без языковой модели):",
    "kaz": "Жауап табылған баптардан алынған дәйексөздерден құралды (тілдік модельсіз):",
}
NO_CONTEXT = {
    "rus": "Найденных статей нет: экстрактивный режим отвечает только цитатами из найденных статей.",
    "kaz": "Табылған баптар жоқ: экстрактивті режим тек табылған баптардан дәйексөз келтіреді.",
}

_WORD = re.compile(r"\w+", re.U)


def best_sentences(text: str, question: str, n: int) -> list[str]:
    """The `n` units (points or sentences) of `text` that best answer `question`, in text order."""
    return [u for _, u in sorted(best_units(text, question, n))]


def _quote(text: str) -> str:
    return "«" + text.replace("«", '"').replace("»", '"') + "»"


class ExtractiveGenerator:
    name = "extractive"

    def __init__(self, cfg: GenerationConfig | None = None, **kwargs):
        self.cfg = replace(cfg or GenerationConfig(), **kwargs)

    def answer(self, messages: list[dict]) -> str:
        question, blocks = parse_context_blocks(messages)
        lang = detect_lang(question)
        if not blocks:
            return NO_CONTEXT[lang]
        lead = best_units(blocks[0]["text"], question, 1)
        if not lead:
            return NO_CONTEXT[lang]
        parts = [f"[{blocks[0]['n']}] {blocks[0]['header']}: {_quote(lead[0][1])}", INTRO[lang]]  # the best point of the top article first (marker first: the quote is its text)
        for block in blocks[: self.cfg.extractive_articles]:
            quotes = best_sentences(block["text"], question, self.cfg.extractive_sentences)
            if block is blocks[0]:
                quotes = [q for q in quotes if q != lead[0][1]] or quotes
            if quotes:
                parts.append(f"[{block['n']}] {block['header']}: {_quote(' … '.join(quotes))}")
        return "\n\n".join(parts)

    def generate(self, batch: list[list[dict]], progress: bool = False, **overrides) -> list[GenerationResult]:
        """Overrides (max_new_tokens, temperature, ...) are accepted and have no effect here."""
        check_batch(batch)
        results = []
        for messages in batch:
            t0 = time.perf_counter()
            text = self.answer(messages)
            prompt_chars = sum(len(m.get("content", "")) for m in messages)
            results.append(GenerationResult(
                text=text, prompt_tokens=len(_WORD.findall(" ".join(m.get("content", "") for m in messages))),
                completion_tokens=len(_WORD.findall(text)), seconds=time.perf_counter() - t0,
                finish_reason="stop", extra={"prompt_chars": prompt_chars, "token_counts": "words"}))
        return results

    def info(self) -> dict:
        return {"backend": self.name, "model": None, "adapter": None, "tiny_random": False,
                "extractive_articles": self.cfg.extractive_articles,
                "extractive_sentences": self.cfg.extractive_sentences}
