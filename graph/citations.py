"""Find the article citations in an answer and check each one against the retrieved context
and the whole index.

    from graph.citations import parse_citations, verify_citations_in
    cits = verify_citations_in(answer, hits, store, "rus")
    [(c["article_id"], c["status"]) for c in cits]

Forms understood:
  Russian  "ст. 113", "статья 113", "статьи 113-1 и 114", "п. 2 ст. 30 ЗПП",
           "ст. 88 Трудового кодекса РК", "Трудовой кодекс, ст. 88"
  Kazakh   "113-бап", "113-бабы", "Еңбек кодексінің 88-бабы", "30-бабының 2-тармағы"
  markers  "[n]" (the n-th context block), "[1, 2]"
Act names resolve to act codes by the act titles in the store (Russian and Kazakh, any
case form, by word prefixes) plus a small alias table (ТК, УК, ГК, ЗПП, КоБС, ...).
A bare "ст. 113" resolves against the retrieved hits first, then the whole index.

Status of each citation:
  supported                the article is in the retrieved context
  in_corpus_not_retrieved  the article exists in the index but was not retrieved
  invented                 no such article in the named act (maybe only in another act), no
                           such article anywhere, or a marker [n] beyond the context blocks
  unresolved               the act named is not in the index, or a bare number is ambiguous
Quoted law text in «...» longer than 90 characters is not searched for citations (it is a
quotation, e.g. from the extractive generator, whose own cross-references are not the answer's).
"""

from __future__ import annotations

import re
from typing import Any

STATUSES = ("supported", "in_corpus_not_retrieved", "invented", "unresolved")

_NUM = r"\d+(?:-\d+)?"
_NUM_LIST = rf"{_NUM}(?:\s*(?:,\s*(?:и\s+)?|и\s+|или\s+){_NUM})*"
_POINT_ONE = r"(?:подпункт[а-я]*|пункт[а-я]*|част[а-я]*|подп\.|пп\.|п\.|ч\.)\s*\d+\)?"
RUS_CITATION = re.compile(
    rf"(?<!\w)(?P<point>(?:{_POINT_ONE}\s*,?\s*)+)?"
    rf"(?P<word>стст\.|ст\.|стать(?:я|и|е|ю|ей|ёй|ях|ям|ями)|статей)\s*(?P<nums>{_NUM_LIST})(?![\d\w])",
    re.I,
)
KAZ_CITATION = re.compile(
    rf"(?<![\w-])(?P<nums>(?:{_NUM}\s*(?:,|және|мен|пен|немесе)\s*)*{_NUM})-ба[пб]\w*"
    rf"(?:\s+(?P<point>\d+)-тармағ\w*)?",
    re.I,
)
MARKER = re.compile(r"\[(?P<nums>\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]")
_LONG_QUOTE = re.compile(r"«[^«»]{90,}»")
_WORD = re.compile(r"[\w]+", re.U)
_STOP = re.compile(r"[.;:!?()\[\]\n]")

# Abbreviations -> words of the act title they stand for (matched against the store's titles,
# so they work for any corpus whose titles contain these words).
ALIASES = {
    "тк": "трудовой кодекс", "ук": "уголовный кодекс", "гк": "гражданский кодекс",
    "зпп": "защите прав потребителей", "кобс": "кодекс браке семье", "кбс": "кодекс браке семье",
    "жк": "жилищных отношениях", "ек": "еңбек кодексі", "қк": "қылмыстық кодексі", "ак": "азаматтық кодексі",
}
# Kazakh act-name words -> the Russian title word (acts with no Kazakh title in the corpus).
KAZ_TO_RUS = {
    "еңбек": "трудовой", "қылмыстық": "уголовный", "азаматтық": "гражданский", "неке": "браке",
    "отбасы": "семье", "тұтынушылардың": "потребителей", "тұрғын": "жилищных", "конституция": "конституция",
}
GLUE = {
    "о", "об", "и", "в", "рк", "республики", "республика", "казахстан", "казахстана", "закон", "закона",
    "законе", "законом", "закону", "настоящего", "настоящий", "настоящем",
    "қр", "қазақстан", "республикасының", "республикасы", "туралы", "және", "заңы", "заңының", "заңның", "заң",
    "заңына", "заңында", "осы",
}
ACT_KEYWORDS = ("кодекс", "закон", "конституц", "заң")


def _mask_quotes(text: str) -> str:
    return _LONG_QUOTE.sub(lambda m: " " * len(m.group(0)), text)


def _numbers(s: str) -> list[str]:
    return re.findall(_NUM, s)


def _words(s: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(s.replace("«", " ").replace("»", " "))]


def _phrase_after(text: str, end: int) -> list[str]:
    seg = text[end:end + 120]
    stop = re.search(r"[.;:!?()\[\]\n,]", seg)
    seg = seg[: stop.start()] if stop else seg
    return _words(seg)[:7]


def _phrase_before(text: str, start: int) -> list[str]:
    seg = text[max(0, start - 120):start].rstrip().rstrip(",").rstrip()
    cut = max((m.end() for m in _STOP.finditer(seg)), default=0)
    return _words(seg[cut:])[-7:]


def parse_citations(text: str, lang: str = "rus") -> list[dict]:
    """All citations in `text`, in text order; "статьи 113-1 и 114" gives two.

    Each: {"raw", "kind": "article"|"marker", "number", "marker", "point", "act_words",
    "act_words_before", "start", "end"}. `act_words` are the words right after a Russian
    citation ("ст. 88 Трудового кодекса"); `act_words_before` the words before it (Kazakh
    "Еңбек кодексінің 88-бабы", or Russian "Трудовой кодекс, ст. 88")."""
    masked = _mask_quotes(text)
    found: list[dict] = []
    for m in RUS_CITATION.finditer(masked):
        point = re.sub(r"\s+", " ", m.group("point")).strip(" ,") if m.group("point") else None
        after, before = _phrase_after(masked, m.end()), _phrase_before(masked, m.start())
        for n in _numbers(m.group("nums")):
            found.append({"raw": text[m.start():m.end()], "kind": "article", "number": n, "marker": None,
                          "point": point, "act_words": after, "act_words_before": before,
                          "start": m.start(), "end": m.end()})
    for m in KAZ_CITATION.finditer(masked):
        if any(c["start"] <= m.start() < c["end"] for c in found):
            continue
        before = _phrase_before(masked, m.start())
        point = f"{m.group('point')}-тармақ" if m.group("point") else None
        for n in _numbers(m.group("nums")):
            found.append({"raw": text[m.start():m.end()], "kind": "article", "number": n, "marker": None,
                          "point": point, "act_words": [], "act_words_before": before,
                          "start": m.start(), "end": m.end()})
    for m in MARKER.finditer(masked):
        for n in re.findall(r"\d+", m.group("nums")):
            found.append({"raw": m.group(0), "kind": "marker", "number": None, "marker": int(n), "point": None,
                          "act_words": [], "act_words_before": [], "start": m.start(), "end": m.end()})
    found.sort(key=lambda c: c["start"])
    _share_act_names(masked, found)
    return found


_JOINER = re.compile(r"^[\s,]*(?:и|или|а также|және|мен|пен|немесе)?[\s,]*$", re.I)


def _share_act_names(text: str, found: list[dict]) -> None:
    """"ст. 88 и ст. 89 ТК": the first takes the act words of the next; Kazakh
    "Еңбек кодексінің 88-бабы және 113-бабы": the second takes those of the first."""
    arts = [c for c in found if c["kind"] == "article"]
    for a, b in zip(arts, arts[1:]):
        if a["start"] == b["start"] or not _JOINER.match(text[a["end"]:b["start"]]):
            continue
        a_kaz, b_kaz = "-ба" in a["raw"].lower(), "-ба" in b["raw"].lower()
        if not a_kaz and not b_kaz and b["act_words"]:
            a["act_words"] = b["act_words"]
        if a_kaz and b_kaz:
            b["act_words_before"] = a["act_words_before"]


# ------------------------------------------------------------------ act names


def _prefix_match(a: str, b: str) -> bool:
    if a == b:
        return True
    cp = 0
    for x, y in zip(a, b):
        if x != y:
            break
        cp += 1
    return cp >= 4 and cp >= min(len(a), len(b)) - 3


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class ActCatalog:
    """The acts citations can name: code, titles (ru/kz), status, url, title words."""

    def __init__(self, store=None, hits: list | None = None):
        self.acts: dict[str, dict] = {}
        if store is not None:
            for a in store.acts():
                self._add(a["code"], [a.get("title_ru"), a.get("title_kz")], a.get("status"), a.get("url"))
        for h in hits or []:
            self._add(_get(h, "act_code"), [_get(h, "act_title")], _get(h, "status"), _get(h, "url"))

    def _add(self, code, titles, status, url) -> None:
        act = self.acts.setdefault(code, {"code": code, "titles": [], "status": status, "url": url, "words": set()})
        for t in titles:
            if t and t not in act["titles"]:
                act["titles"].append(t)
                act["words"].update(w for w in _words(t) if w not in GLUE and len(w) > 1)

    def title(self, code: str, lang: str = "rus") -> str:
        titles = self.acts.get(code, {}).get("titles") or [code]
        if lang == "kaz" and len(titles) > 1:
            return titles[1]
        return titles[0]

    def _known(self, word: str) -> bool:
        return any(_prefix_match(word, t) for act in self.acts.values() for t in act["words"])

    def match(self, words: list[str], reverse: bool = False) -> tuple[bool, list[str]]:
        """(an act is named, codes of the acts it names) for the words next to a citation.

        `words` run away from the number (`reverse=True` when they are given in text order
        before it). An act is named by an alias (ТК, ЗПП, ...) or a keyword (кодекс, закон,
        конституц, заң) among the 3 nearest words; its mention is the words up to the keyword
        plus the following run of title words. The codes are the acts whose titles hold every
        content word of the mention: empty when the named act is not in the index. Without a
        keyword, a run of 2+ title words from the start counts too ("ст. 30 О защите прав
        потребителей")."""
        near = [w for w in (reversed(words) if reverse else words)]
        expanded: list[str] = []
        for i, w in enumerate(near):
            if w in ALIASES:
                expanded.extend(KAZ_TO_RUS.get(a, a) for a in ALIASES[w].split())
                expanded.append(f"#{i}")  # the alias ends a keyword-like position
            else:
                expanded.append(KAZ_TO_RUS.get(w, w))
        alias_near = any(w in ALIASES for w in near[:3])
        kw = next((i for i, w in enumerate(near[:3]) if w.startswith(ACT_KEYWORDS)), None)
        if alias_near:
            kw = max(i for i, w in enumerate(expanded) if w.startswith("#") and int(w[1:]) < 3)
        named = kw is not None
        mention = expanded[: kw + 1] if named else []
        rest = expanded[len(mention):]
        if named and reverse and rest and rest[0] not in GLUE:
            mention.append(rest.pop(0))  # the word before the keyword names it ("Налоговый кодекс")
        for w in rest:
            if w.startswith("#") or w in GLUE or self._known(w):
                mention.append(w)
            else:
                break
        content = [w for w in mention if not w.startswith("#") and w not in GLUE and len(w) > 1 and not w.isdigit()]
        if not named and len(content) < 2:
            return False, []
        if not content:
            return named, []
        full = [code for code, act in self.acts.items()
                if all(any(_prefix_match(w, t) for t in act["words"]) for w in content)]
        return True, full


# ---------------------------------------------------------------- resolution

WARN = {
    "rus": {
        "marker": "Ссылка {raw} не подтверждена: в контексте только {k} блок(ов).",
        "other_act": "Ссылка «{raw}» не подтверждена: в акте «{act}» нет статьи {number}; статья {number} есть в: {others}.",
        "nowhere": "Ссылка «{raw}» не подтверждена: статьи {number} нет ни в одном акте индекса{act_part}.",
        "no_act": "Ссылка «{raw}»: акт не найден в индексе, ссылка не проверена.",
        "ambiguous": "Ссылка «{raw}»: статья {number} есть в нескольких актах ({others}); акт не указан, ссылка не проверена.",
        "no_store": "Ссылка «{raw}» не проверена: индекс недоступен.",
        "ambiguous_act": "Ссылка «{raw}»: акт назван неоднозначно, статья {number} есть в {others}; ссылка не проверена.",
    },
    "kaz": {
        "marker": "{raw} сілтемесі расталмады: контексте тек {k} блок бар.",
        "other_act": "«{raw}» сілтемесі расталмады: «{act}» актісінде {number}-бап жоқ; {number}-бап мынада бар: {others}.",
        "nowhere": "«{raw}» сілтемесі расталмады: индекстегі ешбір актіде {number}-бап жоқ{act_part}.",
        "no_act": "«{raw}» сілтемесі: акт индексте табылмады, сілтеме тексерілмеді.",
        "ambiguous": "«{raw}» сілтемесі: {number}-бап бірнеше актіде бар ({others}); акт көрсетілмеген, тексерілмеді.",
        "no_store": "«{raw}» сілтемесі тексерілмеді: индекс қолжетімсіз.",
        "ambiguous_act": "«{raw}» сілтемесі: акт анық аталмаған, {number}-бап мына актілерде бар: {others}; тексерілмеді.",
    },
}


def _find(store, act_code: str | None, number: str, lang: str) -> list:
    """Articles with this number (in this act when given), the asked language first."""
    if store is None:
        return []
    found = store.find(act_code=act_code, number=number)
    return sorted(found, key=lambda a: (a.lang != lang, a.status != "in_force"))


def _from_hit(cit: dict, hit: Any, rank: int) -> dict:
    return {**cit, "status": "supported", "article_id": _get(hit, "article_id"), "act_code": _get(hit, "act_code"),
            "act_title": _get(hit, "act_title"), "title": _get(hit, "title"), "number": _get(hit, "number"),
            "url": _get(hit, "url"), "context_rank": rank}


def _from_article(cit: dict, art: Any) -> dict:
    return {**cit, "status": "in_corpus_not_retrieved", "article_id": art.id, "act_code": art.act_code,
            "act_title": art.act_title, "title": art.title, "number": art.number, "url": art.url,
            "context_rank": None}


def _unverified(cit: dict, status: str, warning: str, act_code: str | None = None,
                act_title: str | None = None, url: str | None = None) -> dict:
    return {**cit, "status": status, "article_id": None, "act_code": act_code, "act_title": act_title,
            "title": None, "url": url, "context_rank": None, "warning": warning}


def resolve(cit: dict, hits: list, store, catalog: ActCatalog, lang: str) -> dict:
    """One parsed citation -> the same dict plus status, article_id, act_code, act_title, title,
    url, context_rank and (for anything not supported) a warning."""
    warn = WARN.get(lang, WARN["rus"])
    cit = {**cit, "warning": None}
    if cit["kind"] == "marker":
        n = cit["marker"]
        if 1 <= n <= len(hits):
            return _from_hit(cit, hits[n - 1], n)
        return _unverified(cit, "invented", warn["marker"].format(raw=cit["raw"], k=len(hits)))

    number = cit["number"]
    named, codes = catalog.match(cit["act_words"])
    if not named and cit["act_words_before"]:
        named, codes = catalog.match(cit["act_words_before"], reverse=True)

    in_hits = [(i, h) for i, h in enumerate(hits, 1) if str(_get(h, "number")) == number]
    if named and not codes:
        return _unverified(cit, "unresolved", warn["no_act"].format(raw=cit["raw"]))
    if named:
        for i, h in in_hits:
            if _get(h, "act_code") in codes:
                return _from_hit(cit, h, i)
        found = [a for c in codes for a in _find(store, c, number, lang)]
        acts = sorted({a.act_code for a in found})
        if len(acts) > 1:  # e.g. "ст. 5 Кодекса": an act in force wins only when it is the only one
            in_force = sorted({a.act_code for a in found if a.status == "in_force"})
            if len(in_force) != 1:
                others = ", ".join(f"«{catalog.title(c, lang)}»" for c in acts[:3]) + (" …" if len(acts) > 3 else "")
                return _unverified(cit, "unresolved", warn["ambiguous_act"].format(
                    raw=cit["raw"], number=number, others=others))
            found = [a for a in found if a.act_code == in_force[0]]
        if found:
            found.sort(key=lambda a: (a.lang != lang, a.status != "in_force"))
            return _from_article(cit, found[0])
        act = catalog.title(codes[0], lang)
        code = codes[0] if len(codes) == 1 else None
        url = catalog.acts[codes[0]]["url"] if code else None
        if store is None:
            return _unverified(cit, "unresolved", warn["no_store"].format(raw=cit["raw"]), code, act, url)
        elsewhere = {a.act_code for a in _find(store, None, number, lang)} - set(codes)
        if elsewhere:
            others = ", ".join(f"«{catalog.title(c, lang)}»" for c in sorted(elsewhere)[:3])
            msg = warn["other_act"].format(raw=cit["raw"], act=act, number=number, others=others)
        else:
            msg = warn["nowhere"].format(raw=cit["raw"], number=number, act_part="")
        return _unverified(cit, "invented", msg, code, act, url)

    # no act named: the retrieved hits first, then the whole index
    if in_hits:
        i, h = in_hits[0]
        return _from_hit(cit, h, i)
    if store is None:
        return _unverified(cit, "unresolved", warn["no_store"].format(raw=cit["raw"]))
    found = _find(store, None, number, lang)
    codes = sorted({a.act_code for a in found})
    if len(codes) == 1:
        return _from_article(cit, found[0])
    if not codes:
        return _unverified(cit, "invented", warn["nowhere"].format(raw=cit["raw"], number=number, act_part=""))
    others = ", ".join(f"«{catalog.title(c, lang)}»" for c in codes[:3]) + (" …" if len(codes) > 3 else "")
    return _unverified(cit, "unresolved", warn["ambiguous"].format(raw=cit["raw"], number=number, others=others))


def verify(citations: list[dict], hits: list, store=None, lang: str = "rus") -> list[dict]:
    """Resolve parsed citations; one entry per distinct article (first mention kept)."""
    catalog = ActCatalog(store, hits)
    out, seen = [], set()
    for cit in citations:
        r = resolve(cit, hits or [], store, catalog, lang)
        key = r["article_id"] or (r["kind"], r["number"], r["marker"], r["act_code"], r["raw"])
        if key in seen:
            continue
        seen.add(key)
        for k in ("act_words", "act_words_before", "start", "end"):
            r.pop(k, None)
        out.append(r)
    return out


def verify_citations_in(answer: str, hits: list, store=None, lang: str = "rus") -> list[dict]:
    """Parse and verify every citation of `answer`. Each result has raw, kind, article_id,
    act_code, act_title, title, number, point, url, status, context_rank, warning."""
    return verify(parse_citations(answer, lang), hits or [], store, lang)
