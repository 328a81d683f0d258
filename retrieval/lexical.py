"""Lexical search with SQLite FTS5, inside the article store (articles.sqlite).

Every passage is one row of the FTS5 table `passages_fts` (rowid = passage id, the same id
FAISS uses). Its columns hold text already analysed by `retrieval.text.analyze(text, lang)`
(Russian Snowball stems, Kazakh folding: the one home of those rules), tokens joined by
spaces, so FTS5's tokenizer only splits at the spaces and stores the stems as they are:

    act    the act title            (analysed)
    title  the article heading      (analysed: "Статья 113. Title" -> "стат 113 titl")
    body   the passage text         (analysed, without its header line)
    lang   "rus" | "kaz"            (a filter: weight 0 in the score)

A query is analysed the same way; each token becomes a quoted FTS5 string and they are
OR-ed, so user text never reaches MATCH as syntax. A query with no tokens (only punctuation
or emoji) finds nothing. The score is FTS5's bm25() (k1 = 1.2, b = 0.75) with the column
weights WEIGHTS, negated so that higher is better.

    lex = FtsLexical("versions/3/articles.sqlite")
    lex.search("трудовые договоры", 10, lang="rus")      # -> [(pid, score), ...] best first
    lex.search("...", 10, allowed=[3, 5, 8])               # only these passage ids

Writes happen in the caller's transaction on the store (`add_rows`, `remove_rows`), so the
FTS rows always change together with the article and passage rows.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable, Sequence

from lexkz.errors import LexkzError
from retrieval.text import analyze

TABLE = "passages_fts"
KIND = "fts5"
# Column weights of bm25(act, title, body); lang is a filter and never scores. Measured with
# bench/bench_lexical.py on the dev questions: a heavier heading (1:1.5:1, 1:2:1, 1:4:1) or body
# did not beat equal weights (R@10 equal or lower), so the three count alike, as in the old BM25.
WEIGHTS = (1.0, 1.0, 1.0)
# unicode61 splits at the spaces between the analysed tokens; '-' stays inside a token
# ("88-1"), diacritics are kept (й, ё are distinct letters here).
TOKENIZE = "unicode61 remove_diacritics 0 tokenchars '-'"
SCHEMA = f"CREATE VIRTUAL TABLE {TABLE} USING fts5(act, title, body, lang, tokenize=\"{TOKENIZE}\")"
MAX_QUERY_TOKENS = 256  # longer questions keep their first 256 tokens
# Query tokens found in more than this share of all passages are left out of the MATCH (unless
# that leaves none). FTS5's idf of a token in over half of the rows is ~0 anyway; below that,
# common tokens still widen the rows bm25() must score. See bench/bench_lexical.py.
MAX_DF_SHARE = 0.5


def analysed(text: str | None, lang: str) -> str:
    """`text` as FTS5 column content: analysed tokens joined by spaces."""
    return " ".join(analyze(text or "", lang))


def fts_row(pid: int, act_title: str | None, heading: str, body: str, lang: str) -> tuple:
    """One FTS row (rowid, act, title, body, lang) of a passage."""
    return int(pid), analysed(act_title, lang), analysed(heading, lang), analysed(body, lang), lang


def add_rows(db: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """Insert `fts_row` tuples (inside the caller's transaction)."""
    db.executemany(f"INSERT INTO {TABLE} (rowid, act, title, body, lang) VALUES (?, ?, ?, ?, ?)", rows)


def remove_rows(db: sqlite3.Connection, pids: Iterable[int]) -> None:
    """Delete the rows of passage ids `pids` (inside the caller's transaction)."""
    db.executemany(f"DELETE FROM {TABLE} WHERE rowid = ?", [(int(p),) for p in pids])


def has_table(db: sqlite3.Connection) -> bool:
    return bool(db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchall())


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def match_expression(query: str, lang: str | None = None, keep=None) -> str | None:
    """The FTS5 MATCH expression for `query` (None when it has no tokens).

    Every analysed token is a quoted string (never FTS5 syntax); they are OR-ed within the
    act, title and body columns; `lang` ("rus"/"kaz") adds a filter on the lang column.
    `keep(tokens) -> tokens` may leave some out (common ones).
    """
    tokens = analyze(query or "", lang)[:MAX_QUERY_TOKENS]
    if tokens and keep is not None:
        tokens = keep(tokens)
    if not tokens:
        return None
    expr = "{act title body} : (" + " OR ".join(_quote(t) for t in tokens) + ")"
    if lang is not None:
        expr = f"lang : {_quote(lang)} AND {expr}"
    return expr


class FtsLexical:
    """Read-only lexical search over one articles.sqlite (safe to share between threads)."""

    def __init__(self, path: str | Path, weights: Sequence[float] = WEIGHTS, max_df_share: float = MAX_DF_SHARE):
        self.path = Path(path)
        if not self.path.is_file():
            raise LexkzError(f"article store {self.path} is missing: rebuild the index with `lexkz index build`", 3)
        if len(weights) != 3:
            raise ValueError("weights: one per column (act, title, body)")
        self.weights = tuple(float(w) for w in weights)
        self.max_df_share = float(max_df_share)
        self._df: dict[str, int] | None = None
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self._len: int | None = None
        try:
            ok = has_table(self._db)
        except sqlite3.DatabaseError as exc:
            raise LexkzError(f"article store {self.path} is damaged ({exc}): run `lexkz index verify`, then restore "
                             f"an earlier version with `lexkz index restore N` or rebuild the index", 3) from None
        if not ok:
            raise LexkzError(f"article store {self.path} has no lexical table {TABLE}: update the index with "
                             f"`lexkz index update` (it adds the table) or rebuild it with `lexkz index build`", 3)

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, args: Sequence = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, tuple(args)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise LexkzError(f"lexical search in {self.path} failed ({exc}): run `lexkz index verify`; restore an "
                             f"earlier version with `lexkz index restore N` or rebuild the index", 3) from None

    def doc_freq(self) -> dict[str, int]:
        """{token: passages holding it}, read once from the FTS5 vocabulary (the store never changes)."""
        if self._df is None:
            self._rows(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, {TABLE}, 'row')")
            self._df = dict(self._rows("SELECT term, doc FROM temp.vocab"))
        return self._df

    def knows_a_word_of(self, query: str) -> bool:
        """Whether a word of `query` (its letter-bearing tokens when it has any: numbers alone do
        not make a question) is in the vocabulary, analysed as Russian or as Kazakh."""
        df = self.doc_freq()
        for lang in ("rus", "kaz"):
            tokens = analyze(query, lang)
            words = [t for t in tokens if any(ch.isalpha() for ch in t)] or tokens
            if any(t in df for t in words):
                return True
        return False

    def _rare_enough(self, tokens: list[str]) -> list[str]:
        if self.max_df_share >= 1:
            return tokens
        df, limit = self.doc_freq(), self.max_df_share * len(self)
        kept = [t for t in tokens if df.get(t, 0) <= limit]
        return kept or tokens

    def __len__(self) -> int:
        if self._len is None:
            self._len = self._rows(f"SELECT COUNT(*) FROM {TABLE}")[0][0]
        return self._len

    def __contains__(self, pid) -> bool:
        return bool(self._rows(f"SELECT 1 FROM {TABLE} WHERE rowid = ?", [int(pid)]))

    def ids(self) -> list[int]:
        return [r[0] for r in self._rows(f"SELECT rowid FROM {TABLE}")]

    def search(self, query: str, k: int = 10, lang: str | None = None,
               allowed: Iterable[int] | None = None) -> list[tuple[int, float]]:
        """Top-k (passage id, score) for `query`, best first (score > 0, higher is better).

        `lang` keeps passages of that language and analyses the query for it (None: the
        query's language is guessed from its letters); `allowed` keeps only those ids.
        """
        if k <= 0:
            return []
        expr = match_expression(query, lang, keep=self._rare_enough)
        if expr is None:
            return []
        w = self.weights
        sql = (f"SELECT rowid, bm25({TABLE}, ?, ?, ?, 0.0) AS s FROM {TABLE} WHERE {TABLE} MATCH ? "
               f"ORDER BY s, rowid")
        if allowed is None:
            return [(pid, -s) for pid, s in self._rows(sql + " LIMIT ?", [*w, expr, int(k)])]
        keep = allowed if isinstance(allowed, (set, frozenset)) else {int(p) for p in allowed}
        return [(pid, -s) for pid, s in self._rows(sql, [*w, expr]) if pid in keep][:k]
