"""Question/answer pairs derived from the articles themselves (Russian and Kazakh), labelled `synthetic`.

Templates (each answer cites the article as the graph's citation parser reads it):
    establishes    "What does article N of act X establish?" -> the article's opening text
    which_article  "Which article of X regulates <title>?"  -> "ст. N ..." (articles with a title only)
    quote          "Which article of X holds «<sentence>»?"  -> the article that holds it

    from finetune.data_corpus import corpus_pairs
    pairs = corpus_pairs(open_index(d).articles.iter_articles(), per_template=200, seed=0)
    pairs = corpus_pairs(read_corpus(dir).articles, ...)     # straight from a corpus dir

These pairs teach the mapping article <-> number <-> act; they are no substitute for real
user questions, and eval should not count them as such.
"""

from __future__ import annotations

import random
import re
from typing import Iterable

from retrieval.citation_format import format_citation

TEMPLATES = ("establishes", "which_article", "quote")

_FOOTNOTE = re.compile(r"^\s*>?\s*\*?\s*(Сноска|Ескертпе|Примечание ИЗПИ|ҚРЗАИ-ның ескертпесі)", re.I)
_EXCLUDED = re.compile(r"(исключен[аы]?|алып тасталды|алынып тасталды)", re.I)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")


def _quoted_act(title: str) -> str:
    return f"«{title.strip()}»"


def clean_article_text(text: str) -> str:
    """Article text without amendment footnotes and markdown quote marks, one space between words."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not _FOOTNOTE.match(ln)]
    return re.sub(r"\s+", " ", " ".join(ln.lstrip("> ").strip("*_ ") for ln in lines)).strip()


def opening(text: str, max_chars: int = 400) -> str:
    """The first sentences of `text`, cut at a sentence end before `max_chars` where possible."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("; "), cut.rfind(": "))
    return (cut[: end + 1] if end > max_chars // 3 else cut.rstrip()) + " …"


def pick_quote(text: str, rng: random.Random, lo: int = 50, hi: int = 250) -> str | None:
    candidates = [s.strip() for s in _SENTENCE.split(text) if lo <= len(s.strip()) <= hi]
    return rng.choice(candidates) if candidates else None


def pairs_for_article(article, template: str, rng: random.Random) -> dict | None:
    """One synthetic QA item for `article` (an Article or a dict with its fields), or None."""
    get = (lambda k: article.get(k)) if isinstance(article, dict) else (lambda k: getattr(article, k))
    lang, number, title, act = get("lang"), str(get("number")), (get("title") or "").strip(), get("act_title") or get("act_code")
    text = clean_article_text(get("text") or "")
    if len(text) < 40 or _EXCLUDED.search(text[:120]):
        return None  # empty or repealed ("исключена") articles teach nothing
    ref, _ = format_citation(article, lang)
    heading = f" ({title})" if title else ""
    if template == "establishes":
        if lang == "kaz":
            q = f"{_quoted_act(act)} {number}-бабы нені белгілейді?"
            a = f"{ref}{heading}: {opening(text)}"
        else:
            q = f"Что устанавливает статья {number} акта {_quoted_act(act)}?"
            a = f"Согласно {ref}{heading}: {opening(text)}"
    elif template == "which_article":
        if not title:
            return None
        if lang == "kaz":
            q = f"{_quoted_act(act)} актісінің қай бабы «{title}» мәселесін реттейді?"
            a = f"Бұл мәселені {ref} реттейді: «{title}»."
        else:
            q = f"Какая статья акта {_quoted_act(act)} регулирует вопрос «{title}»?"
            a = f"Этот вопрос регулирует {ref} «{title}»."
    elif template == "quote":
        quote = pick_quote(text, rng)
        if quote is None:
            return None
        if lang == "kaz":
            q = f"Мына норма {_quoted_act(act)} актісінің қай бабында бар: «{quote}»?"
            a = f"Бұл норма {re.sub(r'бабы$', 'бабында', ref)}{heading} берілген."
        else:
            q = f"В какой статье акта {_quoted_act(act)} содержится норма: «{quote}»?"
            a = f"Эта норма содержится в {ref}{heading}."
    else:
        raise ValueError(f"unknown template {template!r}; use one of {TEMPLATES}")
    return {
        "id": f"synthetic:{template}:{get('id')}",
        "question": q,
        "answer": a,
        "lang": lang,
        "act_code": get("act_code"),
        "article": number,
        "source": "synthetic",
        "label": "synthetic",
        "template": template,
    }


def corpus_pairs(
    articles: Iterable,
    per_template: int = 200,
    templates: Iterable[str] = TEMPLATES,
    langs: Iterable[str] = ("rus", "kaz"),
    seed: int = 0,
    include_repealed: bool = False,
) -> list[dict]:
    """Up to `per_template` pairs per (template, language), from a random sample of articles."""
    rng = random.Random(seed)
    pool = [a for a in articles if (include_repealed or getattr(a, "status", "in_force") != "repealed")]
    out: list[dict] = []
    for lang in langs:
        in_lang = [a for a in pool if a.lang == lang]
        for template in templates:
            order = in_lang[:]
            rng.shuffle(order)
            made = 0
            for art in order:
                if made >= per_template:
                    break
                item = pairs_for_article(art, template, rng)
                if item is not None:
                    out.append(item)
                    made += 1
    return out
