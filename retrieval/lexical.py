"""BM25 over a sparse inverted index, with add/remove by id (for incremental index updates).

Documents are analysed per language (retrieval.text: Russian Snowball stemming; Kazakh case
folding, look-alike normalisation and light suffix stripping). A query is analysed for the
`lang` asked, or for the language its letters suggest.

    lex = Bm25Lexical()
    lex.add([1, 2], ["Трудовой договор ...", "Еңбек шарты ..."], ["rus", "kaz"])
    lex.search("трудовые договоры", k=10, lang="rus")   # -> [(1, 3.2)]
    lex.remove([1]); lex.save("lexical.pkl"); lex = Bm25Lexical.load("lexical.pkl")

Ids are any hashable values (the index uses integer row ids). Scores are Okapi BM25 with a
non-negative idf: log(1 + (N - df + 0.5) / (df + 0.5)).
"""

from __future__ import annotations

import os
import pickle
from collections import Counter
from pathlib import Path
from typing import Hashable, Iterable, Sequence

import numpy as np

from lexkz.errors import LexkzError
from retrieval.text import analyze

FORMAT = "lexkz-bm25/1"


class Bm25Lexical:
    """BM25 (k1, b) over documents in Russian and Kazakh; supports add, remove, save, load."""

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1 = float(k1)
        self.b = float(b)
        self._slot_of: dict[Hashable, int] = {}  # id -> slot
        self._ids: list[Hashable | None] = []  # slot -> id (None = free)
        self._lang: list[str | None] = []
        self._len: list[int] = []
        self._terms: list[dict[str, int] | None] = []  # slot -> term frequencies
        self._postings: dict[str, dict[int, int]] = {}  # term -> {slot: tf}
        self._free: list[int] = []
        self._total_len = 0
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # ---- content -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, doc_id: Hashable) -> bool:
        return doc_id in self._slot_of

    def ids(self) -> list[Hashable]:
        return list(self._slot_of)

    def add(self, ids: Sequence[Hashable], texts: Sequence[str], langs: Sequence[str] | str | None = None) -> None:
        """Add documents; an id already present is replaced. `langs`: one per text, one for all, or None (guess)."""
        if isinstance(langs, str) or langs is None:
            langs = [langs] * len(ids)
        if not (len(ids) == len(texts) == len(langs)):
            raise ValueError(f"add(): {len(ids)} ids, {len(texts)} texts and {len(langs)} langs must match")
        present = [i for i in ids if i in self._slot_of]
        if present:
            self.remove(present)
        for doc_id, text, lang in zip(ids, texts, langs):
            tf = Counter(analyze(text, lang))
            slot = self._free.pop() if self._free else len(self._ids)
            if slot == len(self._ids):
                self._ids.append(None); self._lang.append(None); self._len.append(0); self._terms.append(None)
            self._ids[slot] = doc_id
            self._lang[slot] = lang
            self._terms[slot] = dict(tf)
            n = sum(tf.values())
            self._len[slot] = n
            self._total_len += n
            self._slot_of[doc_id] = slot
            for term, count in tf.items():
                self._postings.setdefault(term, {})[slot] = count
        self._changed()

    def remove(self, ids: Iterable[Hashable]) -> int:
        """Remove documents by id (unknown ids are ignored); returns how many were removed."""
        removed = 0
        for doc_id in ids:
            slot = self._slot_of.pop(doc_id, None)
            if slot is None:
                continue
            for term in self._terms[slot] or {}:
                plist = self._postings.get(term)
                if plist is not None:
                    plist.pop(slot, None)
                    if not plist:
                        del self._postings[term]
            self._total_len -= self._len[slot]
            self._ids[slot] = None; self._lang[slot] = None; self._terms[slot] = None; self._len[slot] = 0
            self._free.append(slot)
            removed += 1
        if removed:
            self._changed()
        return removed

    def _changed(self) -> None:
        self._cache.clear()
        self._arrays = None

    # ---- search --------------------------------------------------------------------
    def _posting_arrays(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        hit = self._cache.get(term)
        if hit is None:
            plist = self._postings.get(term)
            if not plist:
                return None
            hit = (np.fromiter(plist.keys(), dtype=np.int64, count=len(plist)),
                   np.fromiter(plist.values(), dtype=np.float32, count=len(plist)))
            self._cache[term] = hit
        return hit

    def _doc_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            n = len(self._ids)
            avgdl = self._total_len / max(1, len(self._slot_of))
            lengths = np.asarray(self._len, dtype=np.float32)
            norm = self.k1 * (1 - self.b + self.b * lengths / max(avgdl, 1e-9))
            rus = np.array([lang == "rus" for lang in self._lang], dtype=bool) if n else np.zeros(0, bool)
            kaz = np.array([lang == "kaz" for lang in self._lang], dtype=bool) if n else np.zeros(0, bool)
            self._arrays = (norm, rus, kaz)
        return self._arrays

    def search(self, query: str, k: int = 10, lang: str | None = None, allowed: Iterable[Hashable] | None = None) -> list[tuple[Hashable, float]]:
        """Top-k (id, score) for `query`, best first; only documents with a positive score.

        `lang` keeps documents of that language (and analyses the query for it);
        `allowed` keeps only the given ids.
        """
        if not self._slot_of or k <= 0:
            return []
        terms = Counter(analyze(query, lang))
        if not terms:
            return []
        norm, rus, kaz = self._doc_arrays()
        n_docs = len(self._slot_of)
        scores = np.zeros(len(self._ids), dtype=np.float32)
        for term, qtf in terms.items():
            arrays = self._posting_arrays(term)
            if arrays is None:
                continue
            slots, tf = arrays
            idf = np.log1p((n_docs - len(slots) + 0.5) / (len(slots) + 0.5))
            scores[slots] += qtf * idf * tf * (self.k1 + 1) / (tf + norm[slots])
        if lang == "rus":
            scores[~rus] = 0
        elif lang == "kaz":
            scores[~kaz] = 0
        if allowed is not None:
            mask = np.zeros(len(scores), dtype=bool)
            keep = [self._slot_of[i] for i in allowed if i in self._slot_of]
            mask[keep] = True
            scores[~mask] = 0
        nz = np.flatnonzero(scores > 0)
        if nz.size == 0:
            return []
        if nz.size > k:
            nz = nz[np.argpartition(-scores[nz], k - 1)[:k]]
        order = nz[np.lexsort((nz, -scores[nz]))]  # score desc, then slot (stable ties)
        return [(self._ids[s], float(scores[s])) for s in order]

    # ---- persistence ---------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename): a failed save leaves the old file intact."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        docs = [(self._ids[s], self._lang[s], self._terms[s]) for s in range(len(self._ids)) if self._ids[s] is not None]
        data = {"format": FORMAT, "k1": self.k1, "b": self.b, "docs": docs}
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> "Bm25Lexical":
        path = Path(path)
        if not path.is_file():
            raise LexkzError(f"lexical index {path} is missing: rebuild the index with `lexkz index build`", exit_code=3)
        try:
            with open(path, "rb") as fh:
                data = pickle.load(fh)
        except Exception as exc:
            raise LexkzError(f"lexical index {path} is unreadable ({exc}): rebuild the index with `lexkz index build`", exit_code=3) from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LexkzError(f"{path} is not a lexkz BM25 index ({FORMAT}): rebuild the index with `lexkz index build`", exit_code=3)
        lex = cls(data["k1"], data["b"])
        for doc_id, lang, terms in data["docs"]:
            slot = len(lex._ids)
            lex._ids.append(doc_id); lex._lang.append(lang); lex._terms.append(terms)
            n = sum(terms.values())
            lex._len.append(n)
            lex._total_len += n
            lex._slot_of[doc_id] = slot
            for term, count in terms.items():
                lex._postings.setdefault(term, {})[slot] = count
        return lex
