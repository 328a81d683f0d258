"""The law's timeline: which edition of each act, and so which text of each article, is in force on a day.

An act's editions are its current folder plus its older editions under
`_versions/<CODE>/<edition>/` (shared layout). Validity comes from meta.yaml only:

* an edition is valid from its `edition_date` (never before the act's `in_force_from`; when
  the edition has no date, from `in_force_from`; when neither is known, open) until the next
  known edition's start; the last one until the act's `in_force_to` (open when null);
* an edition followed by another known one is marked `gap`: the corpus lacks the editions
  in between, so its text on a day after its own start may have been amended meanwhile
  (not for upstream git history, which has one commit per version: `Act.complete_history`);
* two editions with the same start, or an act that ends before an edition starts, is an
  error naming the act and the folders (never merged silently).

Article rows are deduplicated by content: one row per (act, number, language, text hash).
A text in the current folder keeps the stable id "<act>/<number>/<lang>"; a text found only in
older editions gets "<act>/<number>/<lang>@<start of the first edition holding it>". Each row
has one validity interval per edition holding that text (`Interval`), so an unchanged
article shared by several editions is stored and embedded once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from index.article import Article
from index.ingest import Act, CorpusSnapshot
from lexkz.errors import LexkzError


@dataclass(frozen=True)
class Interval:
    """One edition's validity for one article row: [valid_from, valid_to) (None = open)."""

    article_id: str
    valid_from: str | None
    valid_to: str | None
    edition: str  # the edition's folder, relative to the corpus root
    gap: bool  # a later known edition exists, the ones in between are not in the corpus
    caused_by: str | None = None  # the amending act of the edition, where known


def parse_date(text: str, what: str = "--as-of") -> str:
    """'2024-01-01' -> '2024-01-01'; anything else (2024-13-01, 01.01.2024) -> LexkzError exit 2."""
    try:
        return dt.date.fromisoformat(str(text).strip()).isoformat()
    except (ValueError, TypeError):
        raise LexkzError(f"{what} {text!r} is not a valid date: give an ISO date YYYY-MM-DD that exists, "
                         f"e.g. {what} 2024-01-01", 2) from None


def contains(valid_from: str | None, valid_to: str | None, day: str) -> bool:
    return (valid_from is None or valid_from <= day) and (valid_to is None or day < valid_to)


def _start(act: Act) -> str | None:
    dates = [d for d in (act.edition_date, act.in_force_from) if d]
    return max(dates) if dates else None


def edition_spans(current: Act, older: list[Act]) -> list[tuple[Act, str | None, str | None, bool]]:
    """[(edition, valid_from, valid_to, gap)] oldest first; overlapping or backwards dates -> LexkzError."""
    eds = older + [current]
    if len(eds) > 1:
        undated = [e.folder for e in eds if _start(e) is None]
        if undated:
            raise LexkzError(f"act {current.code}: editions {', '.join(undated)} have neither edition_date nor "
                             f"in_force_from in meta.yaml, so their order is unknown: add edition_date", 2)
    eds.sort(key=lambda e: (_start(e) or "", e is current))
    if eds[-1] is not current:
        raise LexkzError(f"act {current.code}: the older edition {eds[-1].folder} starts on {_start(eds[-1])}, after the "
                         f"current folder {current.folder} ({_start(current)}): the dates run backwards; fix edition_date "
                         f"in meta.yaml", 2)
    spans = []
    for i, ed in enumerate(eds):
        start = _start(ed)
        if i + 1 < len(eds):
            end, gap = _start(eds[i + 1]), not (ed.complete_history and eds[i + 1].complete_history)
            if end == start:
                raise LexkzError(f"act {current.code}: editions {ed.folder} and {eds[i + 1].folder} both start on "
                                 f"{start}: overlapping validity; fix edition_date in one meta.yaml", 2)
        else:
            end, gap = current.in_force_to, False
        if end is not None and start is not None and end <= start:
            raise LexkzError(f"act {current.code}: edition {ed.folder} starts on {start} but the act is in force only "
                             f"until {end}: the dates run backwards; fix in_force_to / edition_date in meta.yaml", 2)
        spans.append((ed, start, end, gap))
    return spans


def versioned(snapshot: CorpusSnapshot) -> tuple[list[Article], list[Interval]]:
    """Every distinct article text of every edition (current ids first) and their validity intervals."""
    current_by_code = {a.code: a for a in snapshot.acts}
    by_code: dict[str, list[Article]] = {}
    for art in snapshot.articles:
        by_code.setdefault(art.act_code, []).append(art)
    rows: list[Article] = []
    intervals: list[Interval] = []
    for code, act in current_by_code.items():
        older = snapshot.history.get(code, [])
        texts = {id(a): arts for a, arts in older}
        texts[id(act)] = by_code.get(code, [])
        row_of: dict[tuple[str, str, str], str] = {}  # (number, lang, sha256) -> row id
        for art in texts[id(act)]:
            row_of[(art.number, art.lang, art.sha256)] = art.id
            rows.append(art)
        for ed, start, end, gap in edition_spans(act, [a for a, _ in older]):
            for art in texts[id(ed)]:
                key = (art.number, art.lang, art.sha256)
                if key not in row_of:
                    aid = f"{art.id}@{start or ed.folder.rsplit('/', 1)[-1]}"
                    row_of[key] = aid
                    rows.append(replace(art, id=aid, status=act.status, url=art.url))
                intervals.append(Interval(row_of[key], start, end, ed.folder, gap, ed.caused_by))
    return rows, intervals
