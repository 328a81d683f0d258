"""Hybrid retrieval over an index: BM25 + dense (FAISS), fused by reciprocal rank, per article.

    r = HybridRetriever("runs/index")                    # cheap; index and model load on first use
    hits = r.retrieve("Как уволиться по собственному желанию?", k=5, lang="rus")
    hits = r.retrieve("...", act_codes=["K1500000414"], include_repealed=True, mode="lexical")

Both stores index passages (long articles are chunked); passage hits collapse to their
article (its best passage, max score). The fused score of an article is
    lexical_weight / (rrf_k + bm25_rank) + dense_weight / (rrf_k + dense_rank)
(a list the article is missing from adds nothing); the weights are chosen by the question's
language (`RetrievalConfig.weights`: Kazakh questions lean on the cross-lingual dense side, as
BM25 cannot match Kazakh words in acts that have only Russian text). A question with no word
or number (punctuation, emoji) gets no hits, and neither does one none of whose words occurs
anywhere in the index (SQL, code, gibberish: `require_word_match`), since the dense side
always has nearest neighbours. Filters (language, act codes, repealed
acts left out unless `include_repealed`) apply to the candidates; when they leave too few,
the search is repeated restricted to the allowed passages, so a narrow filter still gets k
hits. An optional cross-encoder (`cfg.reranker`) rescores the top `rerank_top` articles and
then decides the order (`score` = its score). Each Hit has its score parts, a snippet
around the best passage's best sentence, the article text, the status and the URL.

The query embedder is the one the index was built with (model and prefixes from the
index manifest).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

from index.asof import act_status_on, span_on
from lexkz.common import normalize_lang
from lexkz.errors import LexkzError
from retrieval.config import MODES, RetrievalConfig
from retrieval.hit import Hit
from retrieval.sentences import best_units
from retrieval.text import detect_lang, tokenize


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """One small shared pool: the dense side of a hybrid query runs beside the lexical side."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lexkz-dense")
    return _POOL


def searchable(query: str) -> bool:
    """Whether `query` holds a word or number to search for (not only punctuation, emoji, symbols)."""
    return any(any(ch.isalnum() for ch in tok) for tok in tokenize(query))


NO_WORD_INDEXED_NOTE = ("no word of the question occurs in the indexed law (code, SQL or text in another "
                        "language?): no article is returned rather than unrelated ones")
NOT_SEARCHABLE_NOTE = ("the question holds no word or number to search for (only punctuation, emoji or "
                       "symbols): no article is returned")

def make_snippet(text: str, query: str, chars: int = 300, lang: str | None = None) -> str:
    """About `chars` characters of `text` starting at the unit (point or sentence) that best
    answers `query` (`retrieval.sentences.best_units`)."""
    text = text.strip()
    if len(text) <= chars:
        return " ".join(text.split())
    best = best_units(text, query, 1, lang)
    best_pos = best[0][0] if best else 0
    window = text[best_pos:best_pos + chars]
    cut = window.rfind(" ", chars // 2)
    window = window[:cut] if cut > 0 and best_pos + chars < len(text) else window
    snippet = " ".join(window.split())
    return ("… " if best_pos > 0 else "") + snippet + (" …" if best_pos + len(window) < len(text) else "")


NARROW_SHARE = 0.25  # an as-of filter keeping at most this share of passages restricts the search up front


class _PassageMeta:
    """Per-passage (article id, act code, lang, repealed, article rowid) of one index version,
    and the validity of every article row (index/timeline.py), for filtering."""

    def __init__(self, store):
        rowid_of = {aid: rowid for aid, (rowid, _) in store.rows_by_id().items()}
        by_rowid = {}
        for art in store.iter_articles(versions=True):
            rowid = rowid_of[art.id]
            by_rowid[rowid] = (art.id, art.act_code, art.lang, art.status == "repealed", rowid)
        self.of: dict[int, tuple[str, str, str, bool, int]] = {}
        for rowid, plist in store.passage_table().items():
            meta = by_rowid.get(rowid)
            if meta is not None:
                for pid, _ in plist:
                    self.of[int(pid)] = meta
        self.spans = store.validity()  # {rowid: [(valid_from, valid_to, edition, gap)]}; {} for older stores
        self.act_dates = store.act_dates()
        self.timeline = store.has_timeline()
        self.has_versions = any("@" in m[0] for m in by_rowid.values())
        self._allowed: dict[tuple, list[int]] = {}

    def span(self, meta: tuple, day: str | None) -> tuple | None:
        """The validity span of a passage's article on `day` (None: the current edition), or None."""
        return span_on(self.spans.get(meta[4]) if self.spans else None, day, meta[0])

    def passes(self, meta: tuple, key: tuple) -> bool:
        _, act, art_lang, repealed, _ = meta
        lang, acts, include_repealed, day = key
        if (lang is not None and art_lang != lang) or (acts is not None and act not in acts):
            return False
        if self.span(meta, day) is None:
            return False
        if day is not None and (self.act_dates.get(act) or (None, None))[1] is not None:
            return True  # the repeal date is known: the span already ends there
        return include_repealed or not repealed

    def allowed(self, key: tuple) -> list[int]:
        if key not in self._allowed:
            self._allowed[key] = [pid for pid, m in self.of.items() if self.passes(m, key)]
        return self._allowed[key]


class HybridRetriever:
    """BM25 + dense retrieval with RRF fusion over one index (an `Index` or an index folder)."""

    def __init__(self, index_or_dir, cfg: RetrievalConfig | None = None, embedder=None):
        self.cfg = cfg or RetrievalConfig()
        if isinstance(index_or_dir, (str, Path)):
            self._index, self._index_dir = None, Path(index_or_dir)
        else:
            self._index, self._index_dir = index_or_dir, None
        self._embedder = embedder
        self._meta: _PassageMeta | None = None
        self._reranker = None

    # ---- lazily loaded parts --------------------------------------------------------------
    @property
    def index(self):
        if self._index is None:
            from index.store import open_index

            self._index = open_index(self._index_dir)
        return self._index

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = self.index.embedder()
        else:
            built = self.index.manifest.get("embedding", {})
            if self._embedder.name not in (built.get("model"), built.get("name")):
                raise LexkzError(
                    f"the index was built with embedding model {built.get('model')!r}, but the retriever was given "
                    f"{self._embedder.name!r}: pass no embedder (the index's own is used) or rebuild the index", exit_code=4)
        return self._embedder

    @property
    def meta(self) -> _PassageMeta:
        if self._meta is None:
            self._meta = _PassageMeta(self.index.articles)
        return self._meta

    @property
    def reranker(self):
        if self._reranker is None and self.cfg.reranker:
            from retrieval.rerank import CrossEncoderReranker

            self._reranker = CrossEncoderReranker(self.cfg.reranker, device=self.cfg.device or None)
        return self._reranker

    def warm_up(self) -> "HybridRetriever":
        """Load everything now (index stores, embedder, filters) instead of on the first query."""
        index = self.index
        index.lexical, index.dense, self.meta  # noqa: B018 (cached properties)
        if self.cfg.mode != "lexical":
            self.embedder.embed_queries(["warm up"])
        if self.cfg.nprobe:
            index.dense.nprobe = self.cfg.nprobe
        return self

    # ---- search ---------------------------------------------------------------------------
    def retrieve(self, query: str, k: int | None = None, lang: str | None = None,
                 act_codes: Iterable[str] | str | None = None, include_repealed: bool | None = None,
                 mode: str | None = None, as_of: str | None = None) -> list[Hit]:
        """The top-k articles for `query`, best first. Arguments left None take the config's values.

        `as_of` (ISO date): only the article versions in force that day (index/timeline.py);
        None: the current edition of each act (repealed acts left out unless include_repealed)."""
        if not query or not query.strip():
            raise LexkzError("empty question: pass a non-empty query text", exit_code=2)
        cfg = self.cfg
        k = int(k or cfg.k)
        lang = normalize_lang(lang)
        mode = mode or cfg.mode
        if mode not in MODES:
            raise LexkzError(f"retrieval mode must be one of {', '.join(MODES)}, not {mode!r}")
        if isinstance(act_codes, str):
            act_codes = [act_codes]
        acts = frozenset(act_codes) if act_codes else None
        include_repealed = cfg.include_repealed if include_repealed is None else bool(include_repealed)
        if as_of is not None:
            from index.timeline import parse_date

            as_of = parse_date(as_of)
            if not self.meta.timeline:
                raise LexkzError(
                    f"the index at {self.index.index_dir} was written before lexkz kept the law's timeline (no validity "
                    f"dates in version {self.index.version}), so it cannot answer as of {as_of}: run `lexkz index update "
                    f"--corpus DIR --index {self.index.index_dir}` once (vectors are kept), or drop --as-of", 3)
        key = (lang, acts, include_repealed, as_of)
        need = max(k, cfg.rerank_top if cfg.reranker else 0)

        if not searchable(query):  # punctuation, emoji, symbols: nothing to search for
            return []
        if mode == "hybrid" and cfg.require_word_match and not self._any_word_indexed(query):
            return []  # no word of the question is in the law: dense neighbours would be noise
        if mode == "hybrid" and self.cfg.parallel:  # FTS5 (SQLite) and the query embedding both release the GIL
            dense_job = _pool().submit(self._dense, query, key, need)
            lex, den = self._lexical(query, key, need), dense_job.result()
        else:
            lex = self._lexical(query, key, need) if mode in ("hybrid", "lexical") else []
            den = self._dense(query, key, need) if mode in ("hybrid", "dense") else []
        fused = self._fuse(lex, den, mode, cfg.weights(detect_lang(query)))[:need]
        hits = self._hits(query, fused, lang, as_of)
        if cfg.reranker and hits:
            hits = self._rerank(query, hits)
        for rank, hit in enumerate(hits[:k], 1):
            hit.rank = rank
        return hits[:k]

    def _collapse(self, pairs, key) -> list[tuple[str, float, int]]:
        """Passage hits (best first) -> [(article id, best score, best pid)] passing the filter."""
        seen, out = set(), []
        of = self.meta.of
        for pid, score in pairs:
            meta = of.get(int(pid))
            if meta is None or not self.meta.passes(meta, key) or meta[0] in seen:
                continue
            seen.add(meta[0])
            out.append((meta[0], float(score), int(pid)))
        return out

    def _search_until_enough(self, search, key, need) -> list[tuple[str, float, int]]:
        """Fetch `candidates` passages; if the filter or collapsing leaves fewer than `need`
        articles and more passages exist, search again (restricted to allowed passages, more of them)."""
        n = self.cfg.candidates
        allowed = None
        filtering = key[1] is not None or not key[2] or key[3] is not None or self.meta.has_versions
        if filtering and key[3] is not None and len(self.meta.allowed(key)) <= NARROW_SHARE * len(self.meta.of):
            allowed = self.meta.allowed(key)  # a date on which few articles are in force: restrict up front
            if not allowed:
                return []
        while True:
            pairs = search(n, allowed)
            arts = self._collapse(pairs, key)
            if len(arts) >= need or len(pairs) < n:
                return arts
            if filtering and allowed is None:
                allowed = self.meta.allowed(key)
                if not allowed:
                    return []
            n *= 4

    def empty_note(self, query: str) -> str | None:
        """Why `query` gets no hits whatever the filters, or None: no word or number at all, or
        none of its words in the indexed law."""
        if not searchable(query):
            return NOT_SEARCHABLE_NOTE
        if self.cfg.require_word_match and not self._any_word_indexed(query):
            return NO_WORD_INDEXED_NOTE
        return None

    def _any_word_indexed(self, query: str) -> bool:
        """Whether any word of `query` occurs in the indexed text, in any language and act
        (filters aside: a Kazakh question over Russian text still counts as a question). Words
        with letters decide when there are any: numbers alone ("WHERE 1=1") do not make a question."""
        return self.index.lexical.knows_a_word_of(query)

    def _lexical(self, query, key, need):
        lexical = self.index.lexical
        return self._search_until_enough(lambda n, allowed: lexical.search(query, n, lang=key[0], allowed=allowed), key, need)

    def _dense(self, query, key, need):
        dense = self.index.dense
        if self.cfg.nprobe and dense.nprobe != self.cfg.nprobe:
            dense.nprobe = self.cfg.nprobe
        qvec = self.embedder.embed_queries([query], max_tokens=self.cfg.query_max_tokens or None)[0]
        allowed_lang = None
        if key[0] is not None and dense.ntotal:  # language is selective: restrict up front
            allowed_lang = self.meta.allowed(key)
        return self._search_until_enough(
            lambda n, allowed: dense.search(qvec, n, allowed=allowed if allowed is not None else allowed_lang), key, need)

    def _fuse(self, lex, den, mode, weights) -> list[tuple[str, float, dict, int]]:
        """[(article id, score, score parts, best pid)] sorted best first; `weights` = (lexical, dense)."""
        cfg = self.cfg
        lexical_weight, dense_weight = weights
        parts: dict[str, dict] = {}
        best_pid: dict[str, int] = {}
        for rank, (aid, score, pid) in enumerate(lex, 1):
            parts.setdefault(aid, {}).update(bm25=round(score, 6), bm25_rank=rank)
            best_pid[aid] = pid
        for rank, (aid, score, pid) in enumerate(den, 1):
            parts.setdefault(aid, {}).update(dense=round(score, 6), dense_rank=rank)
            best_pid.setdefault(aid, pid)
        rows = []
        for aid, p in parts.items():
            if mode == "lexical":
                score = p["bm25"]
            elif mode == "dense":
                score = p["dense"]
            else:
                score = 0.0
                if "bm25_rank" in p:
                    score += lexical_weight / (cfg.rrf_k + p["bm25_rank"])
                if "dense_rank" in p:
                    score += dense_weight / (cfg.rrf_k + p["dense_rank"])
                p["rrf"] = round(score, 8)
            rows.append((aid, score, p, best_pid[aid]))
        inf = float("inf")
        rows.sort(key=lambda r: (-r[1], r[2].get("bm25_rank", inf), r[2].get("dense_rank", inf), r[0]))
        return rows

    def _hits(self, query, fused, lang, as_of=None) -> list[Hit]:
        if not fused:
            return []
        store = self.index.articles
        articles = store.articles_for_passages([pid for *_, pid in fused])
        hits = []
        for aid, score, parts, pid in fused:
            art = articles.get(pid)
            if art is None:
                continue
            _, _, passage = store.passage(pid)
            span = self.meta.span(self.meta.of[int(pid)], as_of) or (None, None, "", False)
            status = act_status_on(self.meta.act_dates.get(art.act_code), art.status, as_of) if as_of else art.status
            body = passage.split("\n", 1)[1] if "\n" in passage else passage  # drop the passage header line
            hits.append(Hit(
                article_id=art.id, act_code=art.act_code, act_title=art.act_title, number=art.number,
                title=art.title, lang=art.lang, url=art.url, score=float(score), status=status,
                score_parts=parts, snippet=make_snippet(body, query, self.cfg.snippet_chars, art.lang), text=art.text,
                valid_from=span[0], valid_to=span[1], gap=span[3],
            ))
        return hits

    def _rerank(self, query, hits: list[Hit]) -> list[Hit]:
        texts = [f"{h.act_title}. {h.number}. {h.title}\n{h.text}" for h in hits]
        scores = self.reranker.score(query, texts)
        for hit, s in zip(hits, scores):
            hit.score_parts["rerank"] = s
            hit.score_parts["fused"] = hit.score
            hit.score = s
        return sorted(hits, key=lambda h: -h.score)

