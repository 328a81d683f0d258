"""The shared metric suite: every metric is a small documented pure function.

Answer metrics (prediction text vs reference text):
    exact_match, token_f1, key_info_score (with key_items), length_ratio, empty_answer
Citation metrics (cited articles vs the gold article):
    citation_scores -> precision (supported citations only), recall, invented-citation rate,
                       per-status rates (citation_status_rates)
Retrieval metrics (ranked retrieved articles vs the gold article):
    recall_at_k, reciprocal_rank
Generation speed:
    tokens_per_second
Semantic similarity (optional, needs an embedding model; see eval.run.SemanticScorer):
    greedy_match_f1 (BERTScore-style greedy matching of token vectors), cosine

Text normalisation (`normalize` = `retrieval.text.fold_for_comparison`): lowercase, "ё" -> "е",
Latin look-alikes in Cyrillic words fixed, every character that is not a letter, digit or
whitespace becomes a space, whitespace collapsed. Tokens are the whitespace-split
normalised text; with `stem=True` Russian tokens go through the Snowball Russian stemmer and
Kazakh tokens (no Snowball stemmer exists for Kazakh) are cut to their first 6 characters,
a common light stemmer for agglutinative languages.

Conventions for empty text: two empty texts match (EM 1, F1 1); one empty side gives 0.
A metric that does not apply to a sample (no gold article, no key items in the reference,
empty reference for a ratio) returns None and is left out of means (reports show n).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Iterable, Sequence

from graph.citations import STATUSES
from retrieval.text import fold_for_comparison, stem_kaz, stem_rus

# ----------------------------------------------------------------------------- text


normalize = fold_for_comparison  # the one text key (retrieval.text), re-exported for the metrics


def stem_token(token: str, lang: str | None) -> str:
    """The stemming rule of retrieval (retrieval.text): Snowball Russian for "rus" (and unknown
    languages), the light Kazakh suffix stripping for "kaz"."""
    return stem_kaz(token) if lang == "kaz" else stem_rus(token)


def tokens(text: str | None, stem: bool = False, lang: str | None = None) -> list[str]:
    """Normalised whitespace tokens, optionally stemmed (see module docstring)."""
    toks = normalize(text).split()
    return [stem_token(t, lang) for t in toks] if stem else toks


# ----------------------------------------------------------------------------- answer metrics


def exact_match(prediction: str | None, reference: str | None, alternatives: Iterable[str] = ()) -> float:
    """1.0 when the normalised prediction equals the normalised reference (or an alternative)."""
    pred = normalize(prediction)
    return float(any(pred == normalize(ref) for ref in [reference, *alternatives]))


def token_f1(
    prediction: str | None,
    reference: str | None,
    stem: bool = False,
    lang: str | None = None,
    alternatives: Iterable[str] = (),
) -> float:
    """SQuAD-style bag-of-tokens F1 between prediction and reference (best over alternatives).

    precision = common / len(pred tokens), recall = common / len(ref tokens), common counts
    tokens with multiplicity; F1 = 2PR/(P+R). Both empty -> 1.0; one empty -> 0.0.
    """
    pred = tokens(prediction, stem, lang)
    best = 0.0
    for ref_text in [reference, *alternatives]:
        ref = tokens(ref_text, stem, lang)
        if not pred or not ref:
            score = float(not pred and not ref)
        else:
            common = sum((Counter(pred) & Counter(ref)).values())
            if common == 0:
                score = 0.0
            else:
                p, r = common / len(pred), common / len(ref)
                score = 2 * p * r / (p + r)
        best = max(best, score)
    return best


def length_ratio(prediction: str | None, reference: str | None) -> float | None:
    """len(prediction tokens) / len(reference tokens); None when the reference is empty."""
    ref = tokens(reference)
    if not ref:
        return None
    return len(tokens(prediction)) / len(ref)


def empty_answer(prediction: str | None) -> float:
    """1.0 when the answer is empty after normalisation (nothing but spaces/punctuation), else 0.0."""
    return float(not normalize(prediction))


# ----------------------------------------------------------------------------- key items

# Number words (Russian inflected forms and Kazakh forms) -> value. Consecutive number words
# are summed ("двадцать четыре" -> 24, "жиырма төрт" -> 24, "сто десять" -> 110).
_RU_NUMBER_WORDS = {
    1: "один одна одно одного одной одному одним одном одну",
    2: "два две двух двум двумя",
    3: "три трех трем тремя",
    4: "четыре четырех четырем четырьмя",
    5: "пять пяти пятью",
    6: "шесть шести шестью",
    7: "семь семи семью",
    8: "восемь восьми восемью",
    9: "девять девяти девятью",
    10: "десять десяти десятью",
    11: "одиннадцать одиннадцати",
    12: "двенадцать двенадцати",
    13: "тринадцать тринадцати",
    14: "четырнадцать четырнадцати",
    15: "пятнадцать пятнадцати",
    16: "шестнадцать шестнадцати",
    17: "семнадцать семнадцати",
    18: "восемнадцать восемнадцати",
    19: "девятнадцать девятнадцати",
    20: "двадцать двадцати",
    30: "тридцать тридцати",
    40: "сорок сорока",
    50: "пятьдесят пятидесяти",
    60: "шестьдесят шестидесяти",
    70: "семьдесят семидесяти",
    80: "восемьдесят восьмидесяти",
    90: "девяносто девяноста",
    100: "сто ста",
    200: "двести двухсот",
    300: "триста трехсот",
    500: "пятьсот пятисот",
}
_KK_NUMBER_WORDS = {
    1: "бір", 2: "екі", 3: "үш", 4: "төрт", 5: "бес", 6: "алты", 7: "жеті", 8: "сегіз",
    9: "тоғыз", 10: "он", 20: "жиырма", 30: "отыз", 40: "қырық", 50: "елу", 60: "алпыс",
    70: "жетпіс", 80: "сексен", 90: "тоқсан", 100: "жүз",
}


def _number_words(lang: str | None) -> dict[str, int]:
    table = _KK_NUMBER_WORDS if lang == "kaz" else _RU_NUMBER_WORDS
    return {w: v for v, forms in table.items() for w in forms.split()}


_MONTHS_RU = ["январ", "феврал", "март", "апрел", "ма", "июн", "июл", "август", "сентябр", "октябр", "ноябр", "декабр"]
_MONTHS_KK = ["қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз", "қыркүйек", "қазан", "қараша", "желтоқсан"]
_MONTH_WORD = "|".join(sorted({*(m + r"\w*" for m in _MONTHS_RU), *(m + r"\w*" for m in _MONTHS_KK)}, key=len, reverse=True))

_DATE_NUMERIC = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_DATE_RU_WORDS = re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_WORD})\s+(\d{{4}})\b")
_DATE_KK_WORDS = re.compile(rf"\b(\d{{4}})\s+жыл\w*\s+(\d{{1,2}})\s+({_MONTH_WORD})")
_ARTICLE_REF = re.compile(
    r"(?:(?<![а-яёa-zәғқңөұүһі])ст\.?\s*|\bстать[яиеюйёь]\w*\s+)(\d+(?:-\d+)?)"  # ст. 113, п.1ст. 43, статья 88-1
    r"|\b(\d+(?:-\d+)?)\s*-\s*ба[бп]\w*",  # 113-бап, 22-бабы, 88-1-бабында
)
_UNITS = {
    "тенге": "тенге", "теңге": "тенге", "мрп": "мрп", "аеп": "мрп", "процент": "%", "пайыз": "%", "%": "%",
    "дн": "день", "ден": "день", "күн": "день", "месяц": "месяц", "ай": "месяц", "айдан": "месяц",
    "год": "год", "лет": "год", "жыл": "год", "час": "час", "сағат": "час", "недел": "неделя", "апта": "неделя",
    "рабоч": "день", "календарн": "день", "суток": "день", "тәулік": "день",
}
_UNIT_RE = re.compile(r"^(%|тенге|теңге|мрп|аеп|процент\w*|пайыз\w*|дн\w*|ден\w*|күн\w*|месяц\w*|ай\w*|"
                      r"год\w*|лет|жыл\w*|час\w*|сағат\w*|недел\w*|апта\w*|рабоч\w*|календарн\w*|суток|тәулік\w*)$")
_ACT_PATTERNS = [
    (re.compile(r"\b(\w+)\s+кодекс"), "кодекс"),  # Трудовой кодекс, Еңбек кодексі
    (re.compile(r"\bкодекс\w*\s+(?:республики казахстан\s+)?о\s+(\w+)"), "кодекс о"),
    (re.compile(r"\bзакон\w*\s+(?:республики казахстан\s+)?[«\"]?о\s+(\w+\s+\w+)"), "закон о"),
    (re.compile(r"\b(\w+\s+\w+)\s+туралы\s+заң"), "туралы заң"),
    (re.compile(r"\b(конституци)"), "конституция"),
]
_SKIP_ACT_WORDS = {
    "настоящего", "настоящий", "настоящем", "настоящему", "данного", "данный", "этого", "этот", "осы", "бұл",
    "согласно", "по", "в", "во", "с", "со", "из", "на", "и", "к", "о", "об", "нормам", "нормами", "сәйкес",
}
_QUOTED = re.compile(r"[«\"“]([^»\"”]{2,80})[»\"”]")
_DEFINITION = re.compile(r"(?:^|[.;:\n]\s*)([A-ZА-ЯЁӘҒҚҢӨҰҮҺІ][\w-]*(?:\s+[\w-]+){0,3})\s+[–—-]\s+\w", re.U)


def _words_to_digits(text: str, lang: str | None) -> str:
    words = _number_words(lang)
    out, run = [], []
    for tok in text.split(" "):
        if tok in words:
            run.append(words[tok])
            continue
        if run:
            out.append(str(sum(run)))
            run = []
        out.append(tok)
    if run:
        out.append(str(sum(run)))
    return " ".join(out)


def _stem_phrase(phrase: str, lang: str | None) -> str:
    return " ".join(stem_token(t, lang) for t in normalize(phrase).split())


def key_items(text: str | None, lang: str | None = None) -> set[str]:
    """The key items of a text, as normalised strings with a kind prefix.

    Extraction rules, applied in this order (each consumes its text so no item counts twice):
    - `date:YYYY-MM-DD`: "01.07.2021", "1 июля 2021 года", "2020 жылғы 7 қазан(дағы)".
    - `art:N`: article references "ст. 113", "статья 88-1", "статьей 30", "113-бап", "22-бабы".
    - `amount:N unit`: a number followed by a unit word: тенге/теңге, МРП/АЕП, %/процент/пайыз,
      days (дней, календарных/рабочих дней, күн, тәулік), месяц/ай, год/лет/жыл, час/сағат,
      неделя/апта. Number words are turned into digits first ("двадцать четыре" -> 24 in
      Russian, "жиырма төрт" -> 24 in Kazakh; consecutive number words are summed), and
      "1,5" -> "1.5", "100 000" -> "100000".
    - `num:N`: any other number.
    - `act:...`: act names: "<word> кодекс" (stemmed word), "кодекс о <word>", "закон о <w> <w>",
      "<w> <w> туралы заң", "конституция"; words like "настоящий"/"осы" are not act names.
    - `term:...`: defined terms: a short phrase (1-4 words) in «quotes», and the 1-4 words that
      open a sentence before a dash, as in "Потребитель – физическое лицо ...".
    Phrases in act and term items are stemmed (see `stem_token`) so inflection does not matter.
    """
    if not text:
        return set()
    items: set[str] = set()
    raw = unicodedata.normalize("NFC", text)
    for m in _QUOTED.finditer(raw):
        if 1 <= len(m.group(1).split()) <= 4:
            items.add("term:" + _stem_phrase(m.group(1), lang))
    for m in _DEFINITION.finditer(raw):
        items.add("term:" + _stem_phrase(m.group(1), lang))
    low = raw.lower().replace("ё", "е")

    def consume(pattern: re.Pattern, make) -> None:
        nonlocal low
        for m in pattern.finditer(low):
            item = make(m)
            if item:
                items.add(item)
        low = pattern.sub(" ", low)

    def month_no(word: str) -> int:
        for months in (_MONTHS_KK, _MONTHS_RU):  # Kazakh first: "ма" (май) is a short prefix
            for i, stem in enumerate(months):
                if word.startswith(stem) and (stem != "ма" or word in {"мая", "май"}):
                    return i + 1
        return 0

    consume(_DATE_NUMERIC, lambda m: f"date:{int(m[3]):04d}-{int(m[2]):02d}-{int(m[1]):02d}")
    consume(_DATE_RU_WORDS, lambda m: f"date:{int(m[3]):04d}-{month_no(m[2]):02d}-{int(m[1]):02d}" if month_no(m[2]) else None)
    consume(_DATE_KK_WORDS, lambda m: f"date:{int(m[1]):04d}-{month_no(m[3]):02d}-{int(m[2]):02d}" if month_no(m[3]) else None)
    consume(_ARTICLE_REF, lambda m: f"art:{m[1] or m[2]}")

    for pattern, kind in _ACT_PATTERNS:
        for m in pattern.finditer(low):
            words = normalize(m.group(1)).split()
            if not words or words[0] in _SKIP_ACT_WORDS:
                continue
            name = "конституция" if kind == "конституция" else f"{kind} {_stem_phrase(m.group(1), lang)}"
            if kind == "кодекс":
                name = f"{_stem_phrase(m.group(1), lang)} кодекс"
            items.add("act:" + name)

    # numbers and amounts on normalised text (decimal comma kept as a point)
    low = re.sub(r"(\d),(\d)", r"\1.\2", low)
    low = re.sub(r"(?<=\d)[\s\u00a0\u202f](?=\d{3}\b)", "", low)  # "100 000" -> "100000"
    low = low.replace("%", " % ")
    norm = " ".join("".join(ch if (ch.isalnum() or ch.isspace() or ch in ".%") else " " for ch in low).split())
    norm = " ".join(t.strip(".") if not re.fullmatch(r"\d+\.\d+", t) else t for t in norm.split())
    norm = _words_to_digits(norm, lang)
    toks = norm.split()
    for i, tok in enumerate(toks):
        if not re.fullmatch(r"\d+(?:\.\d+)?", tok):
            continue
        unit = None
        for nxt in toks[i + 1:i + 3]:  # "24 календарных дня": the unit may come one word later
            if _UNIT_RE.match(nxt):
                unit = _canonical_unit(nxt)
                if unit != "day-qualifier":
                    break
        if unit and unit != "day-qualifier":
            items.add(f"amount:{tok} {unit}")
        else:
            items.add(f"num:{tok}")
    return items


def _canonical_unit(word: str) -> str:
    if word.startswith(("рабоч", "календарн")):
        return "day-qualifier"
    for prefix in sorted(_UNITS, key=len, reverse=True):
        if word.startswith(prefix):
            return _UNITS[prefix]
    return word


def key_info_score(prediction: str | None, reference: str | None, lang: str | None = None) -> float | None:
    """Share of the reference's key items (see `key_items`) also found in the prediction.

    None when the reference has no key items (the metric does not apply to that sample).
    """
    ref = key_items(reference, lang)
    if not ref:
        return None
    return len(ref & key_items(prediction, lang)) / len(ref)


# ----------------------------------------------------------------------------- citations, retrieval


def _gold_set(gold: Iterable[tuple[str | None, str | None]]) -> set[tuple[str, str]]:
    return {(str(a), str(n)) for a, n in gold if a and n}


CITATION_STATUSES = STATUSES  # the verifier's statuses (graph.citations), one rate each


def citation_status_rates(statuses: Sequence[str | None]) -> dict[str, float | None]:
    """Share of an answer's citations with each verification status: "citation_rate_<status>"
    for every status of graph.citations (None each when nothing was cited)."""
    known = [s for s in statuses if s]
    return {f"citation_rate_{s}": (sum(x == s for x in known) / len(known) if known else None)
            for s in CITATION_STATUSES}


def citation_scores(
    cited: Sequence[tuple[str | None, str | None]],
    gold: Iterable[tuple[str | None, str | None]],
    invented: Sequence[bool] = (),
    statuses: Sequence[str | None] | None = None,
) -> dict[str, float | None]:
    """Citation precision/recall against the gold article(s), and the invented-citation rate.

    `cited`: (act_code, article number) of each citation in the answer (duplicates count once).
    `gold`: accepted (act_code, number) pairs (the item's article and its alternatives).
    `invented`: one flag per citation from the graph's citation verification (True = the cited
    article does not exist / was not in the evidence).
    `statuses`: one graph.citations status per citation. When given, a citation counts for
    precision only when it is `supported` (the article exists, its point exists, it supports the
    citing sentence and was retrieved), the invented rate is the share of `invented`, and the
    per-status rates (citation_status_rates) are added.
    precision = |cited ∩ gold| / |cited| (None when nothing was cited or no gold article);
    recall = 1.0 if any gold article was cited else 0.0 (None without a gold article);
    invented_rate = share of citations flagged invented (None when nothing was cited).
    """
    gold_set = _gold_set(gold)
    cited_set = {(str(a), str(n)) for a, n in cited if n}
    good_set = cited_set
    if statuses is not None:
        good_set = {(str(a), str(n)) for (a, n), s in zip(cited, statuses) if n and s == "supported"}
        invented = [s == "invented" for s in statuses]
    precision = recall = None
    if gold_set:
        recall = float(bool(cited_set & gold_set))
        if cited_set:
            precision = len(good_set & gold_set) / len(cited_set)
    invented_rate = (sum(bool(x) for x in invented) / len(invented)) if invented else None
    out = {"citation_precision": precision, "citation_recall": recall, "invented_citation_rate": invented_rate}
    if statuses is not None:
        out.update(citation_status_rates(statuses))
    return out


def reciprocal_rank(retrieved: Sequence[tuple[str, str]], gold: Iterable[tuple[str | None, str | None]]) -> float | None:
    """1/rank of the first retrieved article in the gold set (0.0 if absent); None without gold."""
    gold_set = _gold_set(gold)
    if not gold_set:
        return None
    for rank, (act, number) in enumerate(retrieved, 1):
        if (str(act), str(number)) in gold_set:
            return 1.0 / rank
    return 0.0


def recall_at_k(retrieved: Sequence[tuple[str, str]], gold: Iterable[tuple[str | None, str | None]], k: int) -> float | None:
    """1.0 when a gold article is among the first k retrieved, else 0.0; None without gold."""
    gold_set = _gold_set(gold)
    if not gold_set:
        return None
    return float(any((str(a), str(n)) in gold_set for a, n in list(retrieved)[:k]))


# ----------------------------------------------------------------------------- speed


def tokens_per_second(completion_tokens: int | None, seconds: float | None) -> float | None:
    """Generated tokens per wall-clock second; None when either is missing or seconds <= 0."""
    if completion_tokens is None or not seconds or seconds <= 0:
        return None
    return completion_tokens / seconds


# ----------------------------------------------------------------------------- semantic (pure parts)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def greedy_match_f1(pred_vectors, ref_vectors) -> float:
    """BERTScore-style F1 from token vectors (rows): each token is matched to its most similar
    token on the other side by cosine; P = mean best match of prediction tokens, R = mean best
    match of reference tokens, F1 = 2PR/(P+R). Empty on either side -> 0.0 (1.0 if both empty)."""
    import numpy as np

    p = np.asarray(pred_vectors, dtype=np.float64)
    r = np.asarray(ref_vectors, dtype=np.float64)
    if p.size == 0 or r.size == 0:
        return float(p.size == 0 and r.size == 0)
    p = p / np.clip(np.linalg.norm(p, axis=1, keepdims=True), 1e-12, None)
    r = r / np.clip(np.linalg.norm(r, axis=1, keepdims=True), 1e-12, None)
    sim = p @ r.T
    precision, recall = sim.max(axis=1).mean(), sim.max(axis=0).mean()
    if precision + recall <= 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))
