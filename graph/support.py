"""Does the cited article support the sentence that cites it? Per-claim scoring.

    scorer = SupportScorer(embedder)                   # the index's own embedder, or None
    checks = scorer.score_many([(claim_candidates, scope_text, segments, lang), ...])
    checks[0] -> {"ok": True, "score": 0.71, "threshold": 0.42, "method": "embedding+lexical",
                  "missing_numbers": [], "claim": "Отпуск составляет 24 дня"}

A claim is checked against a scope: the named point of the article, or the whole article.
Two parts decide:
  - key numbers: every number of the claim (digits or number words, "24" = "двадцать четыре"
    = "жиырма төрт") must occur in the scope; durations and amounts are numbers with a unit,
    and a number the scope holds only with another unit ("24 часа" for "24 дня") is missing;
  - the score: lexical coverage (share of the claim's content stems found in the scope) averaged
    with the best cosine between the claim and the scope's most overlapping segments (points,
    subpoints, sentences), embedded with the index's model (`embed_queries` for the claim,
    `embed_passages` for the segments). Without an embedder the score is the coverage alone.
The embedder is skipped where it cannot change the verdict (a key number missing, or a coverage
that decides the average alone), and only the first MAX_EMBED_PAIRS claim-segment pairs of an
answer are embedded; later claims are scored by coverage alone (method "lexical"). The claim passes when its numbers are all present
and the score reaches the threshold of the embedder family (SUPPORT_THRESHOLDS, calibrated by bench/bench_citation_calibration.py).
Claims with fewer than 2 content words ("см. ст. 113") are not scored (method "no_claim").
A claim whose language differs from the only text available is checked by its numbers alone
(method "numbers_only").
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

import numpy as np

from retrieval.text import analyze, normalize

# Thresholds on the combined score, per embedder family (name prefix); "" = no embedder.
# Calibrated with bench/bench_citation_calibration.py on the real corpus (see README).
SUPPORT_THRESHOLDS = {"hashing": 0.35, "e5": 0.65, "": 0.35, "default": 0.50}
TOP_SEGMENTS = 3
# Claim-segment pairs embedded per answer (TOP_SEGMENTS per claim, so 4 claims); claims past
# this budget are scored lexically, so an answer with hundreds of citations stays within ~2 s
# with a CPU embedder (e5-small: ~80 ms a query, ~150 ms a segment on the 2-core dev machine).
MAX_EMBED_PAIRS = 12

_STOP = set("""
и в во на по с со не что это как для от до или а к о об из за при его ее её их также же ли бы то
так этот эта эти тот та те быть является являются может могут должен должны вправе который которая
которые которых согласно соответствии силу основании случае случаях если либо иных иные иной
статья статьи статье статьей стать ст пункт пункта пункте подпункт часть части кодекс кодекса
кодексом закон закона законом рк республики республика казахстан казахстана настоящего настоящим
настоящей указанн см также
және мен пен бен да де та те бойынша сәйкес туралы бап бабы бабына бабында тармақ тармағы осы
қр қазақстан республикасының республикасы кодексі кодексінің заңы заңының немесе үшін болып бар жоқ
""".split())

# number words -> value (stems; a word matches when it starts with the stem and the rest is a
# short case ending). Units are those of durations and amounts.
_RU_NUM = [
    ("одиннадцат", 11), ("двенадцат", 12), ("тринадцат", 13), ("четырнадцат", 14), ("пятнадцат", 15),
    ("шестнадцат", 16), ("семнадцат", 17), ("восемнадцат", 18), ("девятнадцат", 19),
    ("двадцат", 20), ("тридцат", 30), ("сорок", 40), ("пятьдесят", 50), ("пятидесят", 50),
    ("шестьдесят", 60), ("шестидесят", 60), ("семьдесят", 70), ("семидесят", 70),
    ("восемьдесят", 80), ("восьмидесят", 80), ("девяност", 90), ("сто", 100), ("двухсот", 200),
    ("двест", 200), ("трехсот", 300), ("тр[её]хсот", 300), ("триста", 300), ("пятьсот", 500), ("пятисот", 500),
    ("тысяч", 1000), ("один", 1), ("одн", 1), ("два", 2), ("две", 2), ("двух", 2), ("двум", 2),
    ("три", 3), ("трех", 3), ("трём", 3), ("трем", 3), ("четыр", 4), ("пят", 5), ("шест", 6),
    ("сем", 7), ("восем", 8), ("восьм", 8), ("девят", 9), ("десят", 10),
]
_KZ_NUM = [
    ("бір", 1), ("екі", 2), ("үш", 3), ("төрт", 4), ("бес", 5), ("алты", 6), ("жеті", 7), ("сегіз", 8),
    ("тоғыз", 9), ("он", 10), ("жиырма", 20), ("отыз", 30), ("қырық", 40), ("елу", 50), ("алпыс", 60),
    ("жетпіс", 70), ("сексен", 80), ("тоқсан", 90), ("жүз", 100), ("мың", 1000),
]
_NUM_WORD = re.compile(
    "^(?:" + "|".join(f"(?P<r{i}>{s})" for i, (s, _) in enumerate(_RU_NUM)) + ")(?P<end>[а-я]{0,3})$")
_KZ_WORD = re.compile(
    "^(?:" + "|".join(f"(?P<k{i}>{s})" for i, (s, _) in enumerate(_KZ_NUM)) + ")(?P<end>[а-яәіңғүұқөһ]{0,4})$")
_UNITS = [
    ("day", r"(?:дн|ден|сут|күн|тәулік)"), ("month", r"(?:месяц|ай$|айдан|айға|айын|айы$)"),
    ("year", r"(?:год|лет$|жыл)"), ("hour", r"(?:час(?!т)|сағат)"), ("week", r"(?:недел|апта)"),
    ("minute", r"(?:минут)"), ("mrp", r"(?:мрп|аек|расчетн|есептік)"), ("percent", r"(?:%|процент|пайыз)"),
    ("tenge", r"(?:тенге|теңге)"),
]
_UNIT_RE = re.compile("|".join(f"(?P<{n}>{p})" for n, p in _UNITS))
_TOKEN = re.compile(r"\d+(?:[.,]\d+)?|%|[a-zа-яёәіңғүұқөһ]+")
_MARKS = re.compile(r"^\s*>?\s*[0-9]+(?:-[0-9]+)?[.)]\s", re.M)
_SEGMENT = re.compile(r"(?<=[.;:!?])\s+|\n+")


def _number_word(word: str) -> int | None:
    if len(word) < 2:
        return None
    m = _NUM_WORD.match(word)
    if m:
        for key, val in m.groupdict().items():
            if val and key.startswith("r"):
                stem = _RU_NUM[int(key[1:])][0]
                end = m.group("end")
                if stem == "сто" and end not in ("", "а", "у"):
                    return None  # "стороны", "стоимость"
                if stem in ("сем", "пят", "шест", "восем", "девят", "десят") and end not in (
                        "ь", "и", "ью", "ый", "ого", "ому", "ой", "ая", "ом", "ым", "ых"):
                    return None  # "семья", "пятница"
                if stem in ("один", "одн") and end not in ("", "а", "о", "ого", "ой", "ому", "им", "ом", "ну", "ин", "на", "но", "ного", "ной", "ному", "ним", "ном", "у"):
                    return None
                if stem in ("три", "два", "две", "сорок") and end not in ("", "а", "ов", "ам", "ью"):
                    return None
                return _RU_NUM[int(key[1:])][1]
    m = _KZ_WORD.match(word)
    if m:
        for key, val in m.groupdict().items():
            if val and key.startswith("k"):
                stem = _KZ_NUM[int(key[1:])][0]
                if stem in ("он", "бес", "бір", "үш", "жүз") and m.group("end") not in (
                        "", "нші", "ыншы", "інші", "ншы", "дай", "ден", "нан", "тен", "күн") or (stem == "он" and m.group("end") == "нан"):
                    return None  # "оның", "бесік", "бірақ", "үшін", "жүзеге"
                return _KZ_NUM[int(key[1:])][1]
    return None


def quantities(text: str) -> list[tuple[str, str | None]]:
    """(number, unit) pairs of `text`: digits ("24", "0.5", "1000" from "1 000") and runs of
    number words ("двадцать четыре" -> "24"); unit is day|month|year|hour|week|minute|mrp|
    percent|tenge when one follows within two words, else None."""
    low = normalize(text)
    low = re.sub(r"(?<=\d)[ \u00a0\u202f](?=\d{3}\b)", "", low)
    toks = _TOKEN.findall(low)
    out: list[tuple[str, str | None]] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        value: str | None = None
        if t[0].isdigit():
            value = t.replace(",", ".")
            if len(value) > 12:
                value = value[:12]
            i += 1
        else:
            n = _number_word(t)
            if n is None:
                i += 1
                continue
            total, j = n, i + 1
            while j < len(toks):  # "двадцать четыре", "жиырма төрт", "сто двадцать"
                m = _number_word(toks[j])
                if m is None or m >= total or (total % 10 and total < 100) or (total >= 100 and m >= 100):
                    break
                total += m
                j += 1
            value, i = str(total), j
        unit = None
        for k in range(i, min(i + 2, len(toks))):
            um = _UNIT_RE.match(toks[k])
            if um:
                unit = um.lastgroup
                break
        out.append((value, unit))
    return out


_REQUISITES = re.compile(
    r"(?:\bот\s+)?\b[0-9]{1,2}(?:\.[0-9]{1,2}\.|\s+[а-яё]+\s+)[0-9]{4}(?:\s*(?:года|г\.|жылғы|ж\.))?"
    r"|№\s*[0-9a-zа-яәіңғүұқөһ]+(?:-[0-9a-zа-яәіңғүұқөһ]+)*|\b[0-9]{4}\s*(?:года|жылғы)\b", re.I)


def strip_requisites(claim: str) -> str:
    """A claim without the dates and numbers of acts ("от 23 ноября 2015 года № 414-V")."""
    return _REQUISITES.sub(" ", claim)


def content_stems(text: str, lang: str) -> set[str]:
    """Content-word stems cut to 5 characters (function words and law boilerplate left out)."""
    out = set()
    for tok in analyze(text, lang):
        if tok.isdigit() or len(tok) < 3 or tok in _STOP or any(c.isdigit() for c in tok):
            continue
        out.add(tok[:5])
    return out


def segments_of(text: str) -> list[str]:
    """Sentences / point lines of an article (footnotes left out), at most 400 characters each."""
    out = []
    for piece in _SEGMENT.split(text or ""):
        piece = piece.strip(" >*\t")
        if len(piece) < 8 or piece.lower().startswith(("сноска", "ескерту", "ескертпе")):
            continue
        out.append(piece[:400])
    return out or [(text or "")[:400]]


def threshold_for(embedder) -> float:
    if embedder is None:
        return SUPPORT_THRESHOLDS[""]
    name = str(getattr(embedder, "name", "")).lower()
    for family, value in SUPPORT_THRESHOLDS.items():
        if family and family != "default" and (name.startswith(family) or f"/{family}" in name or f"-{family}" in name):
            return value
    return SUPPORT_THRESHOLDS["default"]


class _Lru:
    """A small thread-safe LRU map (the server verifies answers in several threads)."""

    def __init__(self, size: int):
        self.size, self._data, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key, value):
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value


_SCOPE_CACHE = _Lru(4096)
_VEC_CACHE = _Lru(20000)


def _scope_info(text: str, lang: str) -> dict:
    key = (hash(text), len(text), lang)
    hit = _SCOPE_CACHE.get(key)
    if hit is not None:
        return hit
    q = quantities(_MARKS.sub(" ", text))  # point / subpoint marks ("1.", "2)") are not the law's numbers
    segs = segments_of(text)
    info = {"stems": content_stems(text, lang), "numbers": {v for v, _ in q},
            "units": {}, "segments": segs, "seg_stems": [content_stems(s, lang) for s in segs]}
    for v, u in q:
        info["units"].setdefault(v, set()).add(u)
    return _SCOPE_CACHE.put(key, info)


class SupportScorer:
    """Scores claims against article scopes; one embedder call per batch of claims."""

    def __init__(self, embedder=None, threshold: float | None = None, max_pairs: int = MAX_EMBED_PAIRS,
                 gate: bool = True):
        self.embedder = embedder
        self.threshold = threshold_for(embedder) if threshold is None else float(threshold)
        self.lexical_threshold = SUPPORT_THRESHOLDS[""] if threshold is None else float(threshold)
        self.max_pairs = max_pairs
        self.gate = gate  # skip the embedder where it cannot change the verdict

    def _vectors(self, texts: list[str], query: bool) -> np.ndarray:
        name = getattr(self.embedder, "name", "")
        found = {t: _VEC_CACHE.get((name, query, t)) for t in dict.fromkeys(texts)}
        missing = [t for t, v in found.items() if v is None]
        if missing:
            fn = self.embedder.embed_queries if query else self.embedder.embed_passages
            for t, v in zip(missing, np.asarray(fn(missing), dtype=np.float32)):
                found[t] = _VEC_CACHE.put((name, query, t), v)
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def score_many(self, jobs: list[dict]) -> list[dict]:
        """jobs: {"claims": [candidate texts], "scope": text, "lang": claim language,
        "scope_lang": language of the scope text}. One result per job (see module doc)."""
        prepared, pairs = [], []  # pairs: (job index, candidate, segment) needing a cosine
        for ji, job in enumerate(jobs):
            lang = job.get("lang") or "rus"
            scope = _scope_info(job.get("scope") or "", job.get("scope_lang") or lang)
            cands = []
            for claim in job.get("claims") or []:
                claim = " ".join(strip_requisites(str(claim)).split())[:1000]
                stems = content_stems(claim, lang)
                if len(stems) < 2:
                    continue
                q = quantities(claim)
                missing = [v for v, u in q if v not in scope["numbers"]
                           or (u and None not in scope["units"].get(v, {None}) and u not in scope["units"][v])]
                cover = len(stems & scope["stems"]) / len(stems)
                order = sorted(range(len(scope["segments"])),
                               key=lambda k: -len(stems & scope["seg_stems"][k]))[:TOP_SEGMENTS]
                cands.append({"claim": claim, "missing": sorted(set(missing)), "cover": cover,
                              "segs": [scope["segments"][k] for k in order]})
            prepared.append(cands)
            cross = (job.get("scope_lang") or lang) != lang
            for cand in cands:
                cand["cross"] = cross
                settled = self.gate and (cand["missing"] or cand["cover"] >= 2 * self.threshold
                                         or cand["cover"] + 1 < 2 * self.threshold)  # cosine is in [-1, 1]
                if (self.embedder is not None and not cross and not settled
                        and len(pairs) + len(cand["segs"]) <= self.max_pairs):
                    for seg in cand["segs"]:
                        pairs.append((cand, seg))
        if pairs:
            qv = self._vectors([c["claim"] for c, _ in pairs], True)
            pv = self._vectors([s for _, s in pairs], False)
            sims = np.einsum("ij,ij->i", qv, pv)
            for (cand, _), s in zip(pairs, sims):
                cand["cos"] = max(cand.get("cos", -1.0), float(s))
        out = []
        for cands in prepared:
            if not cands:
                out.append({"ok": True, "score": None, "threshold": self.threshold, "method": "no_claim",
                            "missing_numbers": [], "claim": None})
                continue
            best = None
            for cand in cands:
                if cand["cross"]:
                    method, score = "numbers_only", None
                    ok = not cand["missing"]
                else:
                    method = "embedding+lexical" if "cos" in cand else "lexical"
                    score = (cand["cover"] + max(cand["cos"], 0.0)) / 2 if "cos" in cand else cand["cover"]
                    limit = self.threshold if "cos" in cand or self.embedder is None else self.lexical_threshold
                    ok = not cand["missing"] and score >= limit
                    if self.gate and "cos" not in cand and self.embedder is not None and not cand["missing"] \
                            and cand["cover"] >= 2 * self.threshold:
                        limit, ok = self.threshold, True  # (cover + cosine) / 2 >= threshold whatever the cosine
                res = {"ok": ok, "score": None if score is None else round(score, 4),
                       "threshold": limit if score is not None else self.threshold,
                       "method": method, "missing_numbers": cand["missing"], "claim": cand["claim"]}
                rank = (ok, not cand["missing"], score if score is not None else 0.0)
                if best is None or rank > best[0]:
                    best = (rank, res)
            out.append(best[1])
        return out
