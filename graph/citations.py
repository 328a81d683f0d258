"""Find the article citations in an answer, bind each to its act, and check it against the
index: the act, the article, the point, and whether the article supports the citing sentence.

    from graph.citations import parse_citations, verify_citations_in
    cits = verify_citations_in(answer, hits, store, "rus", embedder=index.embedder())
    [(c["article_id"], c["status"]) for c in cits]

This module is the one home of the citation patterns and of the act-name tables.

Forms understood (after folding case, ё, dashes and Latin look-alike letters inside Cyrillic
words, so "стaтья" with a Latin "a" is "статья"):
  Russian  "ст. 113", "статья 113", "статьи 113-1 и 114", "стст. 10, 11", "ст. 10–12" (a range),
           "ст. 9999а", "п. 2 ст. 30 ЗПП", "пп. 3) п. 1 ст. 52", "частью 1 статьи 5",
           "ст. 88 Трудового кодекса РК", "ст. 90, Уголовного кодекса", "ст. 90 (УК РК)",
           "Трудовой кодекс, ст. 88", "Закона РК «О защите прав потребителей»"
  Kazakh   "113-бап", "Еңбек кодексінің 88-бабы", "88 және 113-баптары", "10-12-баптар",
           "30-бабының 2-тармағы", "52-баптың 1-тармағының 3) тармақшасы", "ҚР ЕК 88-бабы"
  markers  "[n]" (the n-th context block), "[1, 2]", "[1–3]"
A range expands to each article when it spans at most MAX_RANGE articles; a wider one ("ст.
90–9999") gives its two ends. A hyphen joins a suffix when the second number is not larger
("88-1") and a range otherwise ("10-12"); an en/em dash is always a range.

Act names: ActCatalog reads the act titles of the index (`acts` table: title_ru, title_kz,
act_type, built from each act's meta.yaml) and matches the words next to a citation against
them by stems (any case form, Russian or Kazakh; Kazakh act words also map to the Russian
title words, for acts with no Kazakh title), plus the customary abbreviations in ABBREVIATIONS.
"настоящего Кодекса" / "осы Кодекстің" names the act of the previous citation. A bare number
with no act takes the act last named earlier in the answer, else the only act in the index
with that article; otherwise it is `unresolved` (never bound to whatever was retrieved).

Statuses (STATUSES), checked in this order:
  unresolved               the act named is not in the index, or the act is not named and the
                           number is in several acts
  invented                 no such article in the named act nor anywhere, or [n] beyond the blocks
  wrong_act                the article is not in the act named, but is in another act
  no_such_point            the point / subpoint named is not in the article text
  not_supported            the article exists but the citing sentence is not supported by it
                           (graph.support: key numbers must match, score below threshold)
  in_corpus_not_retrieved  all checks pass, but the article was not among the retrieved hits
  supported                all checks pass and the article was retrieved
Nothing in an answer's text can make these functions raise.
"""

from __future__ import annotations

import re
from typing import Any
from retrieval.citation_format import article_link, format_citation
from retrieval.text import detect_lang, stem_kaz, stem_rus

STATUSES = ("supported", "wrong_act", "no_such_point", "not_supported", "in_corpus_not_retrieved",
            "invented", "unresolved")
ARTICLE_STATUSES = ("supported", "no_such_point", "not_supported", "in_corpus_not_retrieved")  # article found
FAILED_STATUSES = frozenset({"invented", "wrong_act", "not_supported", "no_such_point"})  # worth one regeneration
MAX_RANGE = 30
MAX_REFERENCES = 3000  # per answer; the rest of an absurd answer is not parsed
MAX_NUMBER_DIGITS = 7

# ------------------------------------------------------------------ folding

_DASHES = {"\u2010": "-", "\u2011": "-", "\u2012": "–", "\u2013": "–", "\u2014": "—", "\u2212": "-"}
_SPACES = {"\u00a0", "\u202f", "\u2009", "\u2007", "\u200b", "\u00ad", "\ufeff", "\u200c", "\u200d"}
_LOOKALIKE = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "i": "і", "k": "к",
              "h": "һ", "m": "м", "t": "т", "b": "в", "ə": "ә"}
_CYR = re.compile(r"[а-яёәіңғүұқөһ]")
_WORDISH = re.compile(r"[a-zа-яёәіңғүұқөһ]+")


def fold(text: str) -> str:
    """Lower case, ё -> е, dashes unified, odd spaces -> " ", Latin look-alike letters inside
    Cyrillic words -> Cyrillic. Same length as `text`, so offsets carry over."""
    chars = []
    for ch in text:
        if ch in _DASHES:
            chars.append(_DASHES[ch])
        elif ch in _SPACES:
            chars.append(" ")
        else:
            low = ch.lower()
            chars.append("е" if low == "ё" else (low if len(low) == 1 else ch))
    out = "".join(chars)

    def fix(m: re.Match) -> str:
        w = m.group(0)
        if w.isascii() or not _CYR.search(w):
            return w
        return "".join(_LOOKALIKE.get(c, c) for c in w)

    return _WORDISH.sub(fix, out)


# ------------------------------------------------------------------ patterns

_NUM = r"[0-9]+(?:-[0-9]+)?(?:[а-я](?![а-яёәіңғүұқөһa-z]))?"
_RU_WORD = re.compile(r"(?<![0-9a-zа-яёәіңғүұқөһ])(?:ст\.?\s?ст\.|стст\.|ст\.|ст(?=\s*[0-9])|стать[а-я]*|статей)\s*(?:№\s*)?(?=[0-9])")
_RU_ITEM = re.compile(rf"({_NUM})(?:\s*([–—-])\s*({_NUM}))?")
_JOIN = re.compile(r"\s*(?:[,;]\s*(?:(?:и|или|либо|а также)\s+)?|\s(?:и|или|либо|а также)\s+)\s*(?=[0-9])")
_RU_POINT = re.compile(
    r"(?<![а-яa-z])(?:(?P<subw>подпункт[а-я]*|подп\.|пп\.)\s*(?P<sub>[0-9]+(?:-[0-9]+)?)\)?\s*,?\s*)?"
    r"(?:(?P<ptw>пункт[а-я]*|п\.|част[а-я]*|ч\.)\s*(?P<pt>[0-9]+(?:-[0-9]+)?(?:\s*(?:,|и)\s*[0-9]+(?:-[0-9]+)?)*)\s*,?\s*)?$")
_KZ_LETTERS = "а-яәіңғүұқөһ"
_KZ_CIT = re.compile(
    rf"(?<![0-9a-zа-яёәіңғүұқөһ-])(?P<nums>(?:{_NUM}\s*(?:[–—]\s*{_NUM})?\s*(?:,|және|мен|пен|немесе)\s*)*"
    rf"{_NUM}(?:\s*[–—-]\s*{_NUM})?)(?:-\s?ба[пб]|\s(?:бап|бабы|бабын|бапта|бапқа))[{_KZ_LETTERS}]*"
    rf"(?:\s*,?\s+(?P<pt>[0-9]+(?:-[0-9]+)?)-(?:тармақ|тармағ|бөлі|бөлік)[{_KZ_LETTERS}]*"
    rf"(?:\s+(?P<sub>[0-9]+(?:-[0-9]+)?)\)?\s*тармақша[{_KZ_LETTERS}]*)?)?")
_KZ_ITEM = re.compile(rf"({_NUM})(?:\s*([–—-])\s*({_NUM}))?")
_MARKER = re.compile(r"\[\s*([0-9]{1,6}(?:\s*[,;–—-]\s*[0-9]{1,6}){0,20})\s*\]")
_UNIT_AFTER = re.compile(r"\s*(?:дн|ден|сут|месяц|год|лет|час|недел|минут|раз|процент|%|тенге|мрп|календарн|"
                         r"рабоч|человек|лиц|экземпляр|календар|сағат|күн|ай|жыл)")
_SENT_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"“(\[A-ZА-ЯЁӘІҢҒҮҰҚӨҺ])|(?<=;)\s+|\n+")
_WORD = re.compile(r"[0-9a-zа-яёәіңғүұқөһ]+(?:-[0-9a-zа-яёәіңғүұқөһ]+)*")
_HARD_STOP = re.compile(r"[.;:!?\n\[\]]")
_QUOTE = re.compile(r"«([^«»]{20,})»")
_POINT_LINE = re.compile(r"^\s*>?\s*([0-9]+(?:-[0-9]+)?)\.\s", re.M)
_SUB_LINE = re.compile(r"^\s*>?\s*([0-9]+(?:-[0-9]+)?)\)\s", re.M)

# ------------------------------------------------------------------ act-name tables

# Customary abbreviations -> the (Russian) title stems they stand for. An abbreviation whose act
# is not in the index resolves to nothing, so its citations are `unresolved`.
ABBREVIATIONS = {
    "тк": ("трудов", "кодекс"), "ек": ("трудов", "кодекс"),
    "гк": ("гражданск", "кодекс"), "ак": ("гражданск", "кодекс"),
    "ук": ("уголовн", "кодекс"), "қк": ("уголовн", "кодекс"),
    "коап": ("административн", "правонарушен", "кодекс"), "әқбтк": ("административн", "правонарушен", "кодекс"),
    "зпп": ("защ", "прав", "потребител"),
    "кобс": ("брак", "сем", "кодекс"), "кбс": ("брак", "сем", "кодекс"), "нобтк": ("брак", "сем", "кодекс"),
    "аппк": ("административн", "процедурн", "кодекс"), "әрпк": ("административн", "процедурн", "кодекс"),
    "нк": ("налогов", "кодекс"), "ск": ("налогов", "кодекс"),
    "гпк": ("гражданск", "процессуальн", "кодекс"), "азпк": ("гражданск", "процессуальн", "кодекс"),
    "упк": ("уголовн", "процессуальн", "кодекс"), "қпк": ("уголовн", "процессуальн", "кодекс"),
    "конституция": ("конституц",), "конституции": ("конституц",), "конституцией": ("конституц",),
    "конституциясы": ("конституц",), "конституциясының": ("конституц",), "конституцияның": ("конституц",),
}
# Kazakh act-title stems -> the Russian title stems (acts with no Kazakh title in the corpus).
KAZ_TO_RUS = {
    "еңбек": "трудов", "қылмыстық": "уголовн", "азаматтық": "гражданск", "неке": "брак", "отба": "сем",
    "ерлі-зайыптылық": "супружеств", "тұтынуш": "потребител", "құқық": "прав", "қорғау": "защ",
    "тұрғ": "жилищн", "қатынас": "отношен", "конституц": "конституц", "салық": "налогов",
    "әкімшілік": "административн", "процестік": "процессуальн", "заң": "закон", "кодекс": "кодекс",
}
GLUE = {
    "о", "об", "и", "в", "во", "по", "на", "с", "со", "рк", "республики", "республика", "казахстан", "казахстана",
    "согласно", "соответствии", "силу", "основании", "от", "года", "г", "ред", "редакции", "действующей",
    "нормам", "норме", "требованиям", "положениям",
    "қр", "қазақстан", "республикасының", "республикасы", "туралы", "және", "сәйкес", "бойынша",
}
SELF_WORDS = {"настоящего", "настоящий", "настоящем", "настоящему", "настоящим", "данного", "этого", "осы"}
ACT_KEYWORDS = ("кодекс", "закон", "конституц", "заң")
_JOINER = re.compile(r"^[\s,]*(?:и|или|а также|либо|және|мен|пен|немесе)?[\s,]*$")


def _stem(word: str) -> str:
    if re.search(r"[әіңғүұқөһ]", word):
        s = stem_kaz(word)
        for k, v in KAZ_TO_RUS.items():
            if s.startswith(k) or (len(s) >= 4 and k.startswith(s)):
                return v
        return s
    return stem_rus(word) if _CYR.search(word) else word


def _same(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)))


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class ActCatalog:
    """The acts citations can name: code, titles, status, urls and title stems."""

    def __init__(self, store=None, hits: list | None = None):
        self.acts: dict[str, dict] = {}
        if store is not None:
            try:
                rows = store.acts()
            except Exception:  # an old or foreign store: fall back to the hits
                rows = []
            for a in rows:
                self._add(a.get("code"), [a.get("title_ru"), a.get("title_kz")], a.get("act_type"),
                          a.get("status"), a.get("url"), a.get("url_kaz"))
        for h in hits or []:
            self._add(_get(h, "act_code"), [_get(h, "act_title")], None, None, _get(h, "url"), None)
        self.title_stems = set().union(*(a["stems"] for a in self.acts.values())) if self.acts else set()

    def _add(self, code, titles, act_type, status, url, url_kaz) -> None:
        if not code:
            return
        act = self.acts.setdefault(code, {"code": code, "titles": [], "status": status, "url": url,
                                          "url_kaz": url_kaz, "stems": set()})
        act["status"] = act["status"] or status
        act["url"] = act["url"] or url
        words = [t for t in titles if t] + ([act_type.split()[0]] if act_type else [])
        for t in titles:
            if t and t not in act["titles"]:
                act["titles"].append(t)
        for t in words:
            for w in _WORD.findall(fold(t)):
                if w not in GLUE and not w.isdigit():
                    act["stems"].add(_stem(w))
                    for part in w.split("-") if "-" in w else []:
                        act["stems"].add(_stem(part))

    def title(self, code: str | None, lang: str = "rus") -> str:
        act = self.acts.get(code or "")
        if not act:
            return code or ""
        titles = act["titles"] or [code]
        if lang == "kaz" and len(titles) > 1 and detect_lang(titles[1]) == "kaz":
            return titles[1]
        return titles[0]

    def is_title_stem(self, stem: str) -> bool:
        return any(_same(stem, t) for t in self.title_stems)

    def codes_for(self, stems: list[str]) -> list[str]:
        """Acts whose title holds every stem."""
        return [code for code, act in self.acts.items()
                if all(any(_same(s, t) for t in act["stems"]) for s in stems)]


# ------------------------------------------------------------------ mentions of acts


def _tokens(folded: str, original: str, start: int, end: int) -> list[dict]:
    out = []
    for m in _WORD.finditer(folded, start, end):
        w = m.group(0)
        orig = original[m.start():m.end()]
        kind = "other"
        if w.isdigit() or w[0].isdigit():
            kind = "number"
        elif w in ABBREVIATIONS and (orig[:1].isupper() or w.startswith("конституц")):
            kind = "abbr"
        elif w in SELF_WORDS:
            kind = "self"
        elif w in GLUE:
            kind = "glue"
        elif _stem(w).startswith(ACT_KEYWORDS) or w.startswith(ACT_KEYWORDS):
            kind = "keyword"
        out.append({"w": w, "start": m.start(), "end": m.end(), "kind": kind, "cap": orig[:1].isupper()})
    return out


def _mention(tokens: list[dict], catalog: ActCatalog, backward: bool) -> dict | None:
    """The act named by `tokens` (nearest to the citation first). None when no act is named;
    else {"codes": [...], "self": bool, "start", "end"} ("codes" empty: named, not in the index).

    The name is a keyword (кодекс, закон, конституция, заң) or an abbreviation near the
    citation, plus the words around it: adjectives before the keyword are required ("Налогового
    кодекса" names an act the index may lack), title words after it narrow the match ("Закона
    о жилищных отношениях"); "Закона о <a word no title has>" names an unknown law."""
    kw = None
    for i, t in enumerate(tokens[:10]):
        if t["kind"] in ("abbr", "keyword"):
            kw = i
            break
        if t["kind"] in ("glue", "self"):
            continue
        if t["kind"] == "other" and (catalog.is_title_stem(_stem(t["w"])) or (not backward and i < 3)):
            continue
        break
    if kw is None:
        run = []
        for t in tokens:  # "ст. 30 О защите прав потребителей": a run of title words
            if t["kind"] == "glue":
                continue
            if t["kind"] == "other" and catalog.is_title_stem(_stem(t["w"])):
                run.append(t)
            else:
                break
        if len(run) < 2:
            return None
        codes = catalog.codes_for([_stem(t["w"]) for t in run])
        return ({"codes": codes, "self": False, "start": min(t["start"] for t in run),
                 "end": max(t["end"] for t in run)} if codes else None)
    key = tokens[kw]
    near, far = tokens[:kw], tokens[kw + 1:]
    required = list(ABBREVIATIONS[key["w"]]) if key["kind"] == "abbr" else [_stem(key["w"])]
    narrowing: list[dict] = []
    used = [key]
    is_self = any(t["kind"] == "self" for t in near)
    if backward:
        narrowing = [t for t in near if t["kind"] == "other"]
        used += near
        for j, t in enumerate(far):  # text before the keyword: "Еңбек кодексі", "Налогового кодекса"
            if t["kind"] == "glue":
                continue
            if t["kind"] == "self":
                is_self = True
                used.append(t)
                break
            if t["kind"] != "other":
                break
            title = catalog.is_title_stem(_stem(t["w"]))
            if not title and j > 0 and far[j - 1]["w"] in ("туралы", "о", "об"):
                required.append(_stem(t["w"]))  # "X туралы кодексі" with an X no title has
                used.append(t)
                break
            if not title and (j > 0 or not t["cap"]):
                break
            required.append(_stem(t["w"]))
            used.append(t)
            if not title:
                break
    else:
        required += [_stem(t["w"]) for t in near if t["kind"] == "other"]
        used += near
    if is_self:
        return {"codes": [], "self": True, "start": min(t["start"] for t in used), "end": max(t["end"] for t in used)}
    codes = catalog.codes_for(required)
    for t in narrowing:
        narrower = catalog.codes_for(required + [_stem(t["w"])])
        if narrower:
            required.append(_stem(t["w"]))
            codes = narrower
    if not backward and codes:
        for j, t in enumerate(far):  # title words after the keyword narrow the match
            if t["kind"] == "glue":
                continue
            after_o = j > 0 and far[j - 1]["w"] in ("о", "об")
            if t["kind"] in ("other", "keyword") and catalog.is_title_stem(_stem(t["w"])):
                narrower = catalog.codes_for(required + [_stem(t["w"])])
                if narrower:
                    required.append(_stem(t["w"]))
                    codes = narrower
                    used.append(t)
                    continue
                if after_o:
                    codes = []
                    used.append(t)
            elif t["kind"] == "other" and after_o:
                codes = []  # "Закона о налогах": a law the index does not hold
                used.append(t)
            break
    if not backward:  # "ТК РК", "Трудового кодекса Республики Казахстан": the country is part of the name
        last = max(used, key=lambda t: t["end"])
        for t in tokens[tokens.index(last) + 1:]:
            if t["w"] not in _COUNTRY:
                break
            used.append(t)
    return {"codes": codes, "self": False, "start": min(t["start"] for t in used), "end": max(t["end"] for t in used)}


_COUNTRY = {"рк", "республики", "казахстан", "казахстана", "қр"}


def _scan_after(folded: str, original: str, end: int, catalog: ActCatalog) -> dict | None:
    seg_end = min(len(folded), end + 160)
    m = re.match(r"[\s,(«\"“—–-]*", folded[end:seg_end])
    start = end + (m.end() if m else 0)
    stop = _HARD_STOP.search(folded, start, seg_end)
    limit = stop.start() if stop else seg_end
    comma = folded.find(",", start, limit)
    limit = comma if comma >= 0 else limit
    return _mention(_tokens(folded, original, start, limit)[:14], catalog, backward=False)


def _scan_before(folded: str, original: str, start: int, catalog: ActCatalog) -> dict | None:
    seg_start = max(0, start - 160)
    seg = folded[seg_start:start]
    m = re.search(r"[\s,(«»\"“”:—–-]*$", seg)
    end = seg_start + (m.start() if m else len(seg))
    cut = max((x.end() for x in _HARD_STOP.finditer(folded, seg_start, end)), default=seg_start)
    comma = folded.rfind(",", cut, end)
    cut = comma + 1 if comma >= 0 else cut
    toks = _tokens(folded, original, cut, end)
    return _mention(list(reversed(toks))[:14], catalog, backward=True)


# ------------------------------------------------------------------ parsing


def _int(n: str) -> int | None:
    head = n.split("-")[0]
    return int(head) if head.isdigit() and len(head) <= MAX_NUMBER_DIGITS else None


def _expand(a: str, dash: str | None, b: str | None) -> list[str]:
    """"88-1" (suffix), "10-12" / "10–12" (range), absurd ranges -> the two ends."""
    if not b and re.fullmatch(r"[0-9]+-[0-9]+", a):
        a, dash, b = a.split("-")[0], "-", a.split("-")[1]
    if not b:
        return [a]
    ia, ib = _int(a), _int(b)
    plain = a.isdigit() and b.isdigit()
    if dash == "-" and (not plain or ia is None or ib is None or ib <= ia):
        return [f"{a}-{b}"]  # a suffix: 88-1, 113-1
    if ia is None or ib is None or not plain or ib <= ia:
        return [a, b]
    if ib - ia > MAX_RANGE:
        return [a, b]
    return [str(x) for x in range(ia, ib + 1)]


def _points(text: str | None) -> list[str]:
    return re.findall(r"[0-9]+(?:-[0-9]+)?", text or "")


def parse_citations(text: str, lang: str = "rus", catalog: ActCatalog | None = None) -> list[dict]:
    """All citations in `text`, in text order; lists and ranges give one entry per article.

    Each: {"raw", "kind": "article"|"marker", "number", "marker", "point" (as written),
    "points" (numbers), "subpoint", "start", "end" (the reference, act name included),
    "act": {"codes", "self"} | None, "style": "rus"|"kaz"|"marker"}. Without a catalog, act
    names are not bound (an empty catalog names no act)."""
    text = text if isinstance(text, str) else str(text or "")
    folded = fold(text)
    catalog = catalog or ActCatalog()
    found: list[dict] = []

    def add(**kw):
        if len(found) < MAX_REFERENCES:
            found.append(kw)

    for m in _RU_WORD.finditer(folded):
        if len(found) >= MAX_REFERENCES:
            break
        pos, nums, last_end = m.end(), [], m.end()
        while True:
            im = _RU_ITEM.match(folded, pos)
            if not im or (nums and _UNIT_AFTER.match(folded, im.end())):
                break  # "ст. 88, 24 дня": 24 is not an article
            nums.append((im.group(1), im.group(2), im.group(3)))
            last_end = im.end()
            jm = _JOIN.match(folded, last_end)
            if not jm:
                break
            pos = jm.end()
        if not nums:
            continue
        end = last_end
        pm = _RU_POINT.search(folded, max(0, m.start() - 80), m.start())
        point = sub = None
        pstart = m.start()
        if pm and (pm.group("pt") or pm.group("sub")) and pm.end() == m.start():
            point = text[pm.start():pm.end()].strip(" ,")
            pstart = pm.start()
            sub = pm.group("sub")
            pts = _points(pm.group("pt"))
        else:
            pts = []
        refs = [n for a, d, b in nums for n in _expand(a, d, b)]
        base = {"raw": text[pstart:end], "kind": "article", "marker": None, "point": point, "points": pts,
                "subpoint": sub, "start": pstart, "end": end, "cite_start": pstart, "cite_end": end, "style": "rus"}
        for n in refs:
            add(**base, number=n)

    taken = [(c["cite_start"], c["cite_end"]) for c in found]
    for m in _KZ_CIT.finditer(folded):
        if len(found) >= MAX_REFERENCES:
            break
        if any(a <= m.start() < b for a, b in taken):
            continue
        refs = []
        for im in _KZ_ITEM.finditer(m.group("nums")):
            refs.extend(_expand(im.group(1), im.group(2), im.group(3)))
        pts = _points(m.group("pt"))
        point = f"{m.group('pt')}-тармақ" if m.group("pt") else None
        if m.group("sub"):
            point = f"{m.group('sub')}) тармақша, " + (point or "")
        base = {"raw": text[m.start():m.end()], "kind": "article", "marker": None, "point": point, "points": pts,
                "subpoint": m.group("sub"), "start": m.start(), "end": m.end(), "cite_start": m.start(),
                "cite_end": m.end(), "style": "kaz"}
        for n in refs:
            add(**base, number=n)

    for m in _MARKER.finditer(folded):
        if len(found) >= MAX_REFERENCES:
            break
        nums = []
        for im in re.finditer(r"([0-9]+)(?:\s*([–—-])\s*([0-9]+))?", m.group(1)):
            nums.extend(_expand(im.group(1), "–" if im.group(2) else None, im.group(3)))
        for n in nums:
            add(raw=text[m.start():m.end()], kind="marker", number=None, marker=int(n) if len(n) <= 9 else 10 ** 9,
                point=None, points=[], subpoint=None, start=m.start(), end=m.end(), cite_start=m.start(),
                cite_end=m.end(), style="marker")

    found.sort(key=lambda c: (c["start"], c["kind"] == "marker"))
    _bind_acts(text, folded, found, catalog, lang)
    return found


def _bind_acts(text: str, folded: str, found: list[dict], catalog: ActCatalog, lang: str) -> None:
    """Act names next to each citation (after it first for Russian forms, before it for Kazakh),
    then shared across joined citations ("ст. 88 и ст. 89 ТК", "ЕК 88-бабы және 113-бабы")."""
    cache: dict[tuple, dict | None] = {}
    for c in found:
        c["act"] = None
        if c["kind"] != "article":
            continue
        key = (c["cite_start"], c["cite_end"])
        if key not in cache:
            after = _scan_after(folded, text, c["cite_end"], catalog)
            before = _scan_before(folded, text, c["cite_start"], catalog)
            cache[key] = (after or before) if c["style"] == "rus" else (before or after)
        mention = cache[key]
        if mention:
            c["act"] = {"codes": mention["codes"], "self": mention["self"]}
            c["start"], c["end"] = min(c["start"], mention["start"]), max(c["end"], mention["end"])
    arts = [c for c in found if c["kind"] == "article"]
    for a, b in zip(arts, arts[1:]):
        if a["cite_start"] == b["cite_start"]:
            continue
        gap = folded[a["cite_end"]:b["cite_start"]]
        if len(gap) > 40 or not _JOINER.match(gap):
            continue
        if a["act"] is None and b["act"] is not None and b["style"] == "rus":
            for c in arts:
                if c["cite_start"] == a["cite_start"]:
                    c["act"] = dict(b["act"])
        if b["act"] is None and a["act"] is not None and b["style"] == "kaz":
            for c in arts:
                if c["cite_start"] == b["cite_start"]:
                    c["act"] = dict(a["act"])


# ------------------------------------------------------------------ article structure


def point_text(text: str, point: str | None = None, subpoint: str | None = None) -> str | None:
    """The text of point `point` ("1." lines) and, within it, subpoint `subpoint` ("1)" lines);
    None when the article has no such point / subpoint."""
    text = text or ""
    scope = text
    if point is not None:
        marks = list(_POINT_LINE.finditer(text))
        found = [i for i, m in enumerate(marks) if m.group(1) == point]
        if not found:
            return None
        i = found[0]
        scope = text[marks[i].start():marks[i + 1].start() if i + 1 < len(marks) else len(text)]
    if subpoint is not None:  # the point's lead-in ("... в случаях:") and the subpoint itself
        marks = list(_SUB_LINE.finditer(scope))
        found = [i for i, m in enumerate(marks) if m.group(1) == subpoint]
        if not found:
            return None
        i = found[0]
        scope = scope[:marks[0].start()] + scope[marks[i].start():marks[i + 1].start() if i + 1 < len(marks) else len(scope)]
    return scope


# ------------------------------------------------------------------ claims


def _sentences(text: str, citations: list[dict] = ()) -> list[tuple[int, int]]:
    """Sentence spans; no break inside a «…» quote, nor right after a reference ("ст. 88. Title")."""
    quotes = [(m.start(), m.end()) for m in re.finditer(r"«[^«»]*»", text)]
    ends = {c["cite_end"] for c in citations}
    spans, pos = [], 0
    for m in _SENT_END.finditer(text):
        if "\n" not in m.group(0) and (any(a < m.start() < b for a, b in quotes) or (m.start() - 1) in ends):
            continue
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    return [(a, b) for a, b in spans if b > a]


def _claim_candidates(text: str, sent: tuple[int, int], cit: dict, spans: list[tuple[int, int]]) -> list[str]:
    """The citing sentence without its references, and the parts left / right of this citation
    up to the neighbouring references."""
    a, b = sent
    inside = sorted({(max(a, s), min(b, e)) for s, e in spans if s < b and e > a})

    def strip(lo: int, hi: int) -> str:
        parts, pos = [], lo
        for s, e in inside:
            if e <= lo or s >= hi:
                continue
            parts.append(text[pos:max(pos, s)])
            pos = max(pos, e)
        parts.append(text[pos:hi])
        joined = re.sub(r"[()\[\]«»\"“”]", " ", " ".join(parts))
        return re.sub(r"\s+([.,;:!?])", r"\1", joined).strip(" ,;:")

    left_end = cit["start"]
    left_start = max([e for s, e in inside if e <= left_end] + [a])
    right_start = cit["end"]
    right_end = min([s for s, e in inside if s >= right_start] + [b])
    cands = [strip(a, b), strip(left_start, left_end), strip(right_start, right_end)]
    return list(dict.fromkeys(" ".join(c.split()) for c in cands if c.strip()))


# ------------------------------------------------------------------ verification

WARN = {
    "rus": {
        "marker": "Ссылка {raw} не подтверждена: в контексте только {k} блок(ов).",
        "wrong_act": "Ссылка «{raw}» не подтверждена: в акте «{act}» нет статьи {number}; статья {number} есть в: {others}.",
        "nowhere": "Ссылка «{raw}» не подтверждена: статьи {number} нет {where}.",
        "no_act": "Ссылка «{raw}»: названный акт не найден в индексе, ссылка не проверена.",
        "no_self": "Ссылка «{raw}»: «настоящий» акт не определён (нет предыдущей ссылки на акт), ссылка не проверена.",
        "ambiguous": "Ссылка «{raw}»: статья {number} есть в нескольких актах ({others}); акт не указан, ссылка не проверена.",
        "no_store": "Ссылка «{raw}» не проверена: индекс недоступен.",
        "no_point": "Ссылка «{raw}»: в статье {number} «{act}» нет {what}.",
        "not_supported": "Ссылка «{raw}»: статья {number} «{act}» не подтверждает утверждение «{claim}»{why}.",
        "repealed": "Ссылка «{raw}»: акт «{act}» утратил силу.",
    },
    "kaz": {
        "marker": "{raw} сілтемесі расталмады: контексте тек {k} блок бар.",
        "wrong_act": "«{raw}» сілтемесі расталмады: «{act}» актісінде {number}-бап жоқ; {number}-бап мынада бар: {others}.",
        "nowhere": "«{raw}» сілтемесі расталмады: {where} {number}-бап жоқ.",
        "no_act": "«{raw}» сілтемесі: аталған акт индексте табылмады, сілтеме тексерілмеді.",
        "no_self": "«{raw}» сілтемесі: «осы» акт анықталмады, сілтеме тексерілмеді.",
        "ambiguous": "«{raw}» сілтемесі: {number}-бап бірнеше актіде бар ({others}); акт көрсетілмеген, тексерілмеді.",
        "no_store": "«{raw}» сілтемесі тексерілмеді: индекс қолжетімсіз.",
        "no_point": "«{raw}» сілтемесі: «{act}» {number}-бабында {what} жоқ.",
        "not_supported": "«{raw}» сілтемесі: «{act}» {number}-бабы «{claim}» тұжырымын растамайды{why}.",
        "repealed": "«{raw}» сілтемесі: «{act}» актісінің күші жойылған.",
    },
}


class _Lookup:
    """Cached store lookups for one verification."""

    def __init__(self, store, lang: str):
        self.store, self.lang, self._cache = store, lang, {}

    def find(self, act_code: str | None, number: str) -> list:
        key = (act_code, number)
        if key not in self._cache:
            found = []
            if self.store is not None and len(number) <= 16:
                try:
                    found = list(self.store.find(act_code=act_code, number=number))
                except Exception:
                    found = []
            self._cache[key] = sorted(found, key=lambda a: (a.status != "in_force", a.lang != self.lang))
        return self._cache[key]

    def get(self, article_id: str):
        key = ("id", article_id)
        if key not in self._cache:
            try:
                self._cache[key] = self.store.get(article_id) if self.store is not None else None
            except Exception:
                self._cache[key] = None
        return self._cache[key]


def _others(catalog: ActCatalog, codes, lang: str) -> str:
    codes = sorted(codes)
    return ", ".join(f"«{catalog.title(c, lang)}»" for c in codes[:3]) + (" …" if len(codes) > 3 else "")


def _article_fields(art: Any) -> dict:
    return {"article_id": _get(art, "article_id") or _get(art, "id"), "act_code": _get(art, "act_code"),
            "act_title": _get(art, "act_title"), "title": _get(art, "title"), "number": str(_get(art, "number")),
            "url": _get(art, "url"), "lang": _get(art, "lang"), "valid_from": _get(art, "valid_from"),
            "valid_to": _get(art, "valid_to"), "gap": bool(_get(art, "gap"))}


def _resolve(cit: dict, hits: list, look: _Lookup, catalog: ActCatalog, lang: str, context_act: str | None) -> dict:
    """Existence: the article (and its act) a citation points to, or a final status."""
    warn = WARN.get(lang, WARN["rus"])
    raw = " ".join(cit["raw"].split())[:200]
    if cit["kind"] == "marker":
        n = cit["marker"]
        if 1 <= n <= len(hits):
            return {"found": _article_fields(hits[n - 1]), "rank": n, "hit": hits[n - 1]}
        return {"status": "invented", "warning": warn["marker"].format(raw=raw, k=len(hits))}
    number = cit["number"]
    act = cit.get("act")
    if act and act["self"]:
        if not context_act:
            if look.store is not None and not look.find(None, number):
                where = "ни в одном акте индекса" if lang != "kaz" else "индекстің ешбір актісінде"
                return {"status": "invented", "warning": warn["nowhere"].format(raw=raw, number=number, where=where)}
            return {"status": "unresolved", "warning": warn["no_self"].format(raw=raw)}
        act = {"codes": [context_act], "self": True}
    if act is not None:
        codes = act["codes"]
        if not codes:
            return {"status": "unresolved", "warning": warn["no_act"].format(raw=raw)}
        if look.store is None and not any(_get(h, "act_code") in codes for h in hits):
            return {"status": "unresolved", "warning": warn["no_store"].format(raw=raw)}
        in_hits = [(i, h) for i, h in enumerate(hits, 1)
                   if _get(h, "act_code") in codes and str(_get(h, "number")) == number]
        if in_hits:
            i, h = in_hits[0]
            return {"found": _article_fields(h), "rank": i, "hit": h}
        found = [a for c in codes for a in look.find(c, number)]
        acts = sorted({a.act_code for a in found})
        if len(acts) > 1:  # "ст. 1 Конституции": the act in force wins when it is the only one
            in_force = sorted({a.act_code for a in found if a.status == "in_force"})
            if len(in_force) != 1:
                return {"status": "unresolved", "warning": warn["ambiguous"].format(
                    raw=raw, number=number, others=_others(catalog, acts, lang))}
            found = [a for a in found if a.act_code == in_force[0]]
        if found:
            found.sort(key=lambda a: (a.lang != lang, a.status != "in_force"))
            return {"found": _article_fields(found[0]), "rank": None, "hit": None}
        title = catalog.title(codes[0], lang) if len(codes) == 1 else " / ".join(catalog.title(c, lang) for c in codes[:3])
        base = {"act_code": codes[0] if len(codes) == 1 else None, "act_title": title}
        elsewhere = {a.act_code for a in look.find(None, number)} - set(codes)
        if elsewhere:
            return {"status": "wrong_act", **base, "warning": warn["wrong_act"].format(
                raw=raw, act=title, number=number, others=_others(catalog, elsewhere, lang))}
        where = (f"в «{title}» и ни в одном акте индекса" if lang != "kaz" else f"«{title}» актісінде де, индекстің басқа актілерінде де")
        return {"status": "invented", **base, "warning": warn["nowhere"].format(raw=raw, number=number, where=where)}
    # no act named: the act last named in the answer, else the only act with this number
    if look.store is None:
        in_hits = [(i, h) for i, h in enumerate(hits, 1) if str(_get(h, "number")) == number]
        if len({_get(h, "act_code") for _, h in in_hits}) == 1:
            i, h = in_hits[0]
            return {"found": _article_fields(h), "rank": i, "hit": h}
        return {"status": "unresolved", "warning": warn["no_store"].format(raw=raw)}
    if context_act:
        found = look.find(context_act, number)
        if found:
            in_hits = [(i, h) for i, h in enumerate(hits, 1)
                       if _get(h, "act_code") == context_act and str(_get(h, "number")) == number]
            if in_hits:
                i, h = in_hits[0]
                return {"found": _article_fields(h), "rank": i, "hit": h}
            return {"found": _article_fields(found[0]), "rank": None, "hit": None}
    found = look.find(None, number)
    codes = sorted({a.act_code for a in found})
    if len(codes) == 1:
        in_hits = [(i, h) for i, h in enumerate(hits, 1)
                   if _get(h, "act_code") == codes[0] and str(_get(h, "number")) == number]
        if in_hits:
            i, h = in_hits[0]
            return {"found": _article_fields(h), "rank": i, "hit": h}
        found.sort(key=lambda a: (a.lang != lang, a.status != "in_force"))
        return {"found": _article_fields(found[0]), "rank": None, "hit": None}
    if not codes:
        where = "ни в одном акте индекса" if lang != "kaz" else "индекстің ешбір актісінде"
        return {"status": "invented", "warning": warn["nowhere"].format(raw=raw, number=number, where=where)}
    return {"status": "unresolved", "warning": warn["ambiguous"].format(
        raw=raw, number=number, others=_others(catalog, codes, lang))}


def _text_for(found: dict, hit: Any, look: _Lookup, claim_lang: str) -> tuple[str, str]:
    """(article text, its language), in the claim's language when the index has it."""
    aid = found.get("article_id") or ""
    parts = aid.rsplit("/", 1)
    if len(parts) == 2 and parts[1] != claim_lang:
        same = look.get(f"{parts[0]}/{claim_lang}")
        if same is not None:
            return (same.title or "") + "\n" + same.text, claim_lang
    if hit is not None and _get(hit, "text"):
        return (_get(hit, "title") or "") + "\n" + _get(hit, "text"), _get(hit, "lang") or found.get("lang")
    art = look.get(aid) if aid else None
    if art is not None:
        return (art.title or "") + "\n" + art.text, art.lang
    return "", found.get("lang") or claim_lang


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[«»\"“”„]", " ", fold(text)).split())


def _verbatim_quote(answer: str, cit: dict, quotes: list[tuple[int, int]], owners: list, look: _Lookup) -> bool:
    """True when `cit` sits inside a «…» quote that is verbatim text of the article cited just
    before the quote on the same line (the quote's own cross-references are the law's, not the
    answer's claims: they are checked for existence, not for support)."""
    q = next(((a, b) for a, b in quotes if a <= cit["start"] < b), None)
    if q is None:
        return False
    line_start = answer.rfind("\n", 0, q[0]) + 1
    before = [o for o in owners if line_start <= o[0] <= q[0]]
    if not before:
        return False
    _, aid, hit = before[-1]
    text = (_get(hit, "text") if hit is not None else None) or getattr(look.get(aid), "text", "") or ""
    body = _norm(text)
    pieces = [p.strip(" .…") for p in _norm(answer[q[0] + 1:q[1] - 1]).split("…")]
    pieces = [p for p in pieces if len(p) >= 20]
    return bool(pieces) and all(p in body for p in pieces)


def verify(citations: list[dict], hits: list, store=None, lang: str = "rus", answer: str = "",
           embedder=None, catalog: ActCatalog | None = None, threshold: float | None = None) -> list[dict]:
    """Check parsed citations (see the module doc for the statuses); one entry per article
    and citing sentence (first mention kept)."""
    from graph.support import SupportScorer

    hits = list(hits or [])
    warn = WARN.get(lang, WARN["rus"])
    catalog = catalog or ActCatalog(store, hits)
    look = _Lookup(store, lang)
    sents = _sentences(answer, citations)
    spans = [(c["start"], c["end"]) for c in citations]
    results, jobs, seen = [], [], set()
    context_act = None
    quotes = [(m.start(), m.end()) for m in _QUOTE.finditer(answer)]
    owners: list[tuple[int, str, Any]] = []  # (end, article id, hit) of every resolved citation
    for cit in citations:
        r = {k: cit.get(k) for k in ("raw", "kind", "number", "marker", "point")}
        r.update({"raw": " ".join(str(r["raw"]).split())[:300] or "?", "article_id": None, "act_code": None,
                  "act_title": None, "title": None, "url": None, "deep_link": None, "lang": None,
                  "context_rank": None, "warning": None, "claim": None, "support": None,
                  "valid_from": None, "valid_to": None, "gap": False, "reference": None})
        res = _resolve(cit, hits, look, catalog, lang, context_act)
        si = next((i for i, (a, b) in enumerate(sents) if a <= cit["start"] < b), len(sents))
        if "found" not in res:
            r.update(status=res["status"], warning=res["warning"], act_code=res.get("act_code"),
                     act_title=res.get("act_title"))
            act = catalog.acts.get(res.get("act_code") or "")
            r["url"] = act and _act_url(act, lang)
            key = ("x", r["kind"], r["number"], r["marker"], r["act_code"], r["raw"], si)
        else:
            f = res["found"]
            r.update({k: f[k] for k in ("article_id", "act_code", "act_title", "title", "number", "url", "lang",
                                         "valid_from", "valid_to")})
            r["reference"] = format_citation(f, lang, with_version=True)[0]
            r["gap"] = bool(f.get("gap"))
            r["context_rank"] = res["rank"]
            if cit["kind"] == "article" and (cit.get("act") or {}).get("codes") or cit["kind"] == "article" and cit.get("act") is None:
                context_act = f["act_code"]
            key = (f["article_id"], tuple(cit.get("points") or ()), cit.get("subpoint"), si)
            r["status"] = "pending"
            owners.append((cit["cite_end"], f["article_id"], res["hit"]))
            r["_found"], r["_hit"], r["_cit"], r["_si"] = f, res["hit"], cit, si
        if key in seen:
            continue
        seen.add(key)
        results.append(r)

    for r in results:
        if r["status"] != "pending":
            continue
        f, hit, cit, si = r["_found"], r["_hit"], r["_cit"], r["_si"]
        sent = sents[si] if si < len(sents) else (0, len(answer))
        claim_text = answer[sent[0]:sent[1]]
        claim_lang = detect_lang(claim_text) if claim_text.strip() else lang
        text, text_lang = _text_for(f, hit, look, claim_lang)
        act_title = r["act_title"] or catalog.title(r["act_code"], lang)
        r["deep_link"] = article_link(r["url"], r["number"], r["lang"] or lang, bool(r["title"]))
        scope = text
        pts = cit.get("points") or []
        if pts or cit.get("subpoint"):
            scopes = [point_text(text, p, cit.get("subpoint")) for p in (pts or [None])]
            if any(s is None for s in scopes):
                what = ((f"пункта {', '.join(pts)}" if pts else "") +
                        (f" подпункта {cit['subpoint']})" if cit.get("subpoint") else "")) if lang != "kaz" else (
                        (f"{', '.join(pts)}-тармақ" if pts else "") + (f" {cit['subpoint']}) тармақша" if cit.get("subpoint") else ""))
                r["status"] = "no_such_point"
                r["warning"] = warn["no_point"].format(raw=r["raw"], number=r["number"], act=act_title, what=what.strip())
                continue
            scope = "\n".join(scopes)
        quoted = _verbatim_quote(answer, cit, quotes, owners, look)
        jobs.append((r, {"claims": _claim_candidates(answer, sent, cit, spans), "scope": scope,
                         "lang": claim_lang, "scope_lang": text_lang, "quoted": quoted}))
    try:
        checks = SupportScorer(embedder, threshold).score_many([j for _, j in jobs]) if jobs else []
    except Exception:  # the embedding model failed: the answer is still checked, lexically
        checks = SupportScorer(None, threshold).score_many([j for _, j in jobs])
    for (r, job), check in zip(jobs, checks):
        r["support"] = {k: check[k] for k in ("score", "threshold", "method", "missing_numbers")}
        r["claim"] = check["claim"]
        if job["quoted"]:  # a cross-reference inside the law's own words, quoted verbatim
            r["support"].update(method="quotation", score=None)
        if not check["ok"] and not job["quoted"]:
            why = ""
            if check["missing_numbers"]:
                why = (f" (в статье нет: {', '.join(check['missing_numbers'])})" if lang != "kaz"
                       else f" (бапта жоқ: {', '.join(check['missing_numbers'])})")
            r["status"] = "not_supported"
            r["warning"] = warn["not_supported"].format(raw=r["raw"], number=r["number"],
                                                        act=r["act_title"] or "", claim=(check["claim"] or "")[:160], why=why)
        else:
            r["status"] = "supported" if r["context_rank"] else "in_corpus_not_retrieved"
            act = catalog.acts.get(r["act_code"] or "")
            if act and act.get("status") == "repealed":
                r["warning"] = warn["repealed"].format(raw=r["raw"], act=r["act_title"] or "")
    out = []
    for r in results:
        for k in ("_found", "_hit", "_cit", "_si"):
            r.pop(k, None)
        if r.get("lang") is None:
            r.pop("lang", None)
        out.append(r)
    return out


def _act_url(act: dict, lang: str) -> str | None:
    url = act.get("url")
    if lang == "kaz":
        return act.get("url_kaz") or (url.replace("/rus/docs/", "/kaz/docs/") if url else url)
    return url


def verify_citations_in(answer: str, hits: list, store=None, lang: str = "rus", embedder=None,
                        threshold: float | None = None) -> list[dict]:
    """Parse and verify every citation of `answer`. Each result has raw, kind, article_id,
    act_code, act_title, title, number, marker, point, url (the act), deep_link (the article),
    status, context_rank, warning, claim and support {score, threshold, method, missing_numbers}.
    Never raises on the answer's text."""
    hits = list(hits or [])
    answer = answer if isinstance(answer, str) else str(answer or "")
    catalog = ActCatalog(store, hits)
    return verify(parse_citations(answer, lang, catalog), hits, store, lang, answer, embedder, catalog, threshold)


def support_embedder(retriever=None, store=None):
    """The index's own embedder for claim support: the retriever's, else that of the index the
    store belongs to; None when neither is there (the check is then lexical only)."""
    try:
        if retriever is not None:
            return retriever.embedder
        if store is not None and getattr(store, "path", None) is not None:
            from index.store import open_index

            return open_index(store.path.parent).embedder()
    except Exception:
        return None
    return None


def find_article(ref: str, store, lang: str | None = None):
    """An Article for an id ("K1500000414/88/rus") or a reference ("ст. 88 ТК", "ЕК 88-бабы");
    returns (article | None, message)."""
    ref = (ref or "").strip()
    if re.fullmatch(r"[^/\s]+/[^/\s]+/(rus|kaz)(@\S+)?", ref):
        art = store.get(ref)
        return art, "" if art else f"no article {ref} in the index"
    lang = lang or detect_lang(ref)
    cits = [c for c in verify_citations_in(ref, [], store, lang) if c["kind"] == "article"]
    if not cits:
        return None, f"no article reference in {ref!r}: give an id like K1500000414/88/rus or a reference like \"ст. 88 ТК\""
    c = cits[0]
    if not c.get("article_id"):
        return None, c.get("warning") or f"{ref!r} does not resolve to an article"
    art = store.get(c["article_id"])
    other = store.get(c["article_id"].rsplit("/", 1)[0] + f"/{lang}")
    return (other or art), ""


__all__ = ["STATUSES", "ActCatalog", "fold", "parse_citations", "verify", "verify_citations_in", "point_text",
           "support_embedder", "find_article"]
