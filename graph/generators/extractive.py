"""ExtractiveGenerator: no LLM. It answers with quoted excerpts of the top context blocks,
each with its citation, so every claim is verbatim law text.

It reads the numbered context blocks back from the prompt (`graph.prompts.parse_context_blocks`),
picks in each of the top blocks the sentences sharing most word stems with the question,
and writes e.g.

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
_SENT = re.compile(r"(?<=[.;!?])\s+(?=[«\"(A-ZА-ЯЁӘҒҚҢӨҰҮҺІ0-9])")
_FOOTNOTE = re.compile(r"^\s*>?\s*\*?\s*(Сноска|Ескертпе|Ескерту)\b.*$", re.M | re.I)


def _stems(text: str) -> set[str]:
    """Crude language-neutral stems: lowercased words of 3+ letters cut to 5 characters."""
    return {w[:5] for w in (m.group(0).lower() for m in _WORD.finditer(text)) if len(w) >= 3 and not w.isdigit()}


def best_sentences(text: str, question: str, n: int) -> list[str]:
    """The `n` sentences of `text` sharing most stems with `question`, in text order."""
    body = _FOOTNOTE.sub("", text)
    sentences = [s.strip() for para in body.split("\n") for s in _SENT.split(para) if s.strip()]
    sentences = [s.lstrip("> ").strip("* ") for s in sentences]
    sentences = [s for s in sentences if len(s) > 2]
    if not sentences:
        return []
    q = _stems(question)
    scored = sorted(range(len(sentences)), key=lambda i: (-len(q & _stems(sentences[i])), i))
    keep = sorted(scored[:n])
    return [sentences[i] for i in keep]


class ExtractiveGenerator:
    name = "extractive"

    def __init__(self, cfg: GenerationConfig | None = None, **kwargs):
        self.cfg = replace(cfg or GenerationConfig(), **kwargs)

    def answer(self, messages: list[dict]) -> str:
        question, blocks = parse_context_blocks(messages)
        lang = detect_lang(question)
        if not blocks:
            return NO_CONTEXT[lang]
        parts = [INTRO[lang]]
        for block in blocks[: self.cfg.extractive_articles]:
            quotes = best_sentences(block["text"], question, self.cfg.extractive_sentences)
            if not quotes:
                continue
            quoted = " … ".join(q.replace("«", '"').replace("»", '"') for q in quotes)
            parts.append(f"[{block['n']}] {block['header']}: «{quoted}»")
        return "\n\n".join(parts) if len(parts) > 1 else NO_CONTEXT[lang]

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
