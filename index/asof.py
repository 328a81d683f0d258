"""The article store as of one day: only the versions in force that day (index/timeline.py).

    view = AsOfStore(index.articles, "2008-01-01")
    view.find("K950001000_", "1", "rus")   # [the 2007 edition's text, valid_from="2007-05-21", gap=True]
    view.get("K950001000_/1/rus")          # the same: a current id names the version in force that day
    view.acts()                            # each act's status that day: in_force / repealed / not_in_force

`AsOfStore` has the read methods of `ArticleStore` that the citation verifier and the graph
use, so verification resolves "ст. 1 Конституции" against the law of that day. A store
written before the timeline existed has no validity rows: all its articles count as current
and open-ended.
"""

from __future__ import annotations

from dataclasses import replace

from index.article import Article, base_id
from index.timeline import contains


def span_on(spans: list[tuple] | None, day: str | None, aid: str) -> tuple | None:
    """The (valid_from, valid_to, edition, gap) of `spans` in force on `day`; with day None the
    current edition's span of a current row. None when the row is not in force then."""
    if spans is None:  # no timeline in the store: current rows are open-ended
        return (None, None, "", False) if "@" not in aid else None
    if day is None:
        return spans[-1] if "@" not in aid and spans else None
    for span in spans:
        if contains(span[0], span[1], day):
            return span
    return None


def act_status_on(dates: tuple | None, stored_status: str, day: str) -> str:
    """in_force / repealed / not_in_force on `day` from (in_force_from, in_force_to); the stored
    status when neither date is known."""
    if not dates or (dates[0] is None and dates[1] is None):
        return stored_status
    start, end = dates
    if end is not None and day >= end:
        return "repealed"
    if start is not None and day < start:
        return "not_in_force"
    return "in_force"


class AsOfStore:
    """Read-only view of an `ArticleStore` restricted to the versions in force on `day`."""

    def __init__(self, store, day: str):
        self.store, self.day = store, day
        self._spans = store.validity()
        self._timeline = bool(self._spans)
        self._rowid = {aid: rowid for aid, (rowid, _) in store.rows_by_id().items()}
        self._dates = store.act_dates()

    def __getattr__(self, name):  # path, count, passage, ... as the store has them
        return getattr(self.store, name)

    def version(self, art: Article) -> Article | None:
        """`art` with valid_from/valid_to/gap of its span on the day, or None when not in force then."""
        spans = self._spans.get(self._rowid.get(art.id)) if self._timeline else None
        span = span_on(spans, self.day, art.id) if self._timeline else (None, None, "", False)
        if span is None:
            return None
        return replace(art, valid_from=span[0], valid_to=span[1], gap=span[3])

    def find(self, act_code: str | None = None, number: str | None = None, lang: str | None = None) -> list[Article]:
        return [v for a in self.store.find(act_code=act_code, number=number, lang=lang, versions=True)
                if (v := self.version(a))]

    def iter_articles(self, lang: str | None = None, act_code: str | None = None):
        yield from self.find(act_code=act_code, lang=lang)

    def get(self, article_id: str) -> Article | None:
        """A versioned id ("…@date"): that version if in force on the day; a current id
        ("act/number/lang"): whichever version of that article is in force on the day."""
        if "@" in article_id:
            art = self.store.get(article_id)
            return self.version(art) if art is not None else None
        try:
            code, number, lang = article_id.rsplit("/", 2)
        except ValueError:
            return None
        found = [a for a in self.find(code, number, lang) if base_id(a.id) == article_id]
        return found[0] if found else None

    def acts(self) -> list[dict]:
        if self.day is None:
            return self.store.acts()
        return [{**a, "status": act_status_on(self._dates.get(a["code"]), a["status"], self.day)}
                for a in self.store.acts()]

    def act_dates(self) -> dict:
        return self._dates
