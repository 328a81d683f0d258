"""Sentences of an article and the ones that best answer a question: the one home of
"best sentence" picking, used by search snippets and by the extractive generator.

    units = split_units(article_text)                 # points and sentences, footnotes left out
    best = best_units(article_text, question, n=2)    # [(start offset, unit text)] best first

An article of RK law is a list of points ("1. ...", "2) ...") made of sentences. A unit is a
sentence, or a whole point when the point is one short sentence. Units are scored by the
question's word stems they hold (`retrieval.text.analyze`, the stemming rule of BM25), each stem
weighted by its rarity among the article's units (a word every point repeats counts little).
"""

from __future__ import annotations

import math
import re

from index.chunking import strip_footnotes
from retrieval.text import analyze

# A sentence ends at . ; ! ? followed by space and a capital, digit, quote or bracket.
_SENT = re.compile(r"(?<=[.;!?])\s+(?=[«\"(A-ZА-ЯЁӘҒҚҢӨҰҮҺІ0-9])")


def split_units(text: str) -> list[tuple[int, str]]:
    """[(start offset in `text`, unit)] in text order; footnotes and markup quotes left out."""
    body = strip_footnotes(text) if ("Сноска" in text or "Ескерт" in text) else text
    out: list[tuple[int, str]] = []
    pos = 0
    for line in body.split("\n"):
        for piece in _SENT.split(line):
            unit = piece.strip().lstrip(">").strip().strip("*").strip()
            if len(unit) <= 2:
                continue
            start = text.find(unit[:40], pos)
            if start < 0:
                start = text.find(unit[:40])
            if start >= 0:
                pos = start + len(unit)
            out.append((max(start, 0), unit))
    return out


def best_units(text: str, question: str, n: int = 1, lang: str | None = None) -> list[tuple[int, str]]:
    """The `n` units of `text` that hold most of the question's stems (rarity-weighted), best
    first; ties go to the earlier unit. Empty when the text has no unit."""
    units = split_units(text)
    if not units:
        return []
    q = {t for t in analyze(question, lang) if len(t) >= 3 or t.isdigit()}
    stems = [set(analyze(u, lang)) for _, u in units]
    df = {t: sum(t in s for s in stems) for t in q}
    weight = {t: math.log(1 + len(units) / df[t]) for t in q if df[t]}
    scored = sorted(range(len(units)), key=lambda i: (-sum(weight.get(t, 0.0) for t in stems[i] & q), i))
    return [units[i] for i in scored[:n]]
