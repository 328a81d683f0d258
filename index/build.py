"""Full index builds and incremental updates, written as new versions beside the old ones.

    lexkz index build  --corpus ../shared/corpus --index .lexkz/index [--embedding minilm]
    lexkz index update --corpus ../shared/corpus --index .lexkz/index [--json]

A build embeds every passage. An update reads the corpus again, compares every article
with the live version (article ids and the passage texts they make), re-embeds only the
passages of added or changed articles, removes those of deleted or changed ones from a copy
of the previous FAISS and BM25 indexes, and keeps the vectors of everything else.

Both write the new version under a temporary folder, rename it into `versions/<N>`, switch
`CURRENT` atomically and keep the previous version. Any failure (a broken act file, an
exception inside embedding, Ctrl-C) removes the half-written folder and leaves the live
version untouched. A file lock (INDEX/.lock) refuses a second concurrent writer.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from index.article import Article
from index.chunking import article_passages, dense_passage_text
from index.config import IndexConfig
from index.ingest import CorpusSnapshot, read_corpus
from index.store import (
    DENSE_FILE, LEXICAL_FILE, LOCK_FILE, MANIFEST_FILE, STORE_FILE, Index, check_embedding, current_version,
    list_versions, open_index, prune_versions, shaping_differences, switch_current, versions_dir, write_store,
)
from lexkz.common import write_json
from lexkz.config import to_dict
from lexkz.errors import LexkzError

FORMAT = "lexkz-index/1"


# ---------------------------------------------------------------- locking


class _WriterLock:
    """INDEX/.lock held for the whole build/update; a second writer is refused (exit 4)."""

    def __init__(self, index_dir: Path):
        from filelock import FileLock

        self.path = index_dir / LOCK_FILE
        self.lock = FileLock(str(self.path))

    def __enter__(self):
        from filelock import Timeout

        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            raise LexkzError(
                f"another lexkz process is writing the index (lock {self.path} is held): wait for that build/update "
                f"to finish and run this one again", 4) from None
        return self

    def __exit__(self, *exc):
        self.lock.release()


# ---------------------------------------------------------------- pieces


def _dense_kind(cfg: IndexConfig, n_passages: int) -> str:
    if cfg.dense_kind == "auto":
        return "ivf" if n_passages >= cfg.ivf_min_passages else "flat"
    return cfg.dense_kind


def _new_dense(dim: int, kind: str, cfg: IndexConfig):
    from retrieval.dense import FaissDenseIndex

    return FaissDenseIndex(dim, kind=kind, nlist=cfg.ivf_nlist or None)


def _embed(embedder, texts: list[str], batch_size: int, progress: bool, what: str) -> np.ndarray:
    """Embed passages batch by batch under one progress bar (passages/s and ETA)."""
    from tqdm import tqdm

    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    out = []
    with tqdm(total=len(texts), desc=what, unit="passage", disable=not progress, file=sys.stderr,
              mininterval=1.0, dynamic_ncols=True) as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            vecs = np.asarray(embedder.embed_passages(batch, batch_size=batch_size), dtype=np.float32)
            if vecs.shape != (len(batch), embedder.dim):
                raise LexkzError(f"embedder {embedder.name} returned shape {vecs.shape} for {len(batch)} passages "
                                 f"(expected ({len(batch)}, {embedder.dim}))")
            out.append(vecs)
            bar.update(len(batch))
    return np.concatenate(out)


def _make_embedder(cfg: IndexConfig):
    from retrieval.embedders import get_embedder

    return get_embedder(cfg.embedding, query_prefix=cfg.query_prefix, passage_prefix=cfg.passage_prefix)


def _id_order(aid: str) -> tuple:
    """Sort key of an article id: act, language, then the article number numerically (88 < 88-1 < 113)."""
    code, number, lang = aid.rsplit("/", 2)
    return code, lang, tuple(int(p) if p.isdigit() else 0 for p in number.split("-")), number


def _diff(old: dict[str, str], new: dict[str, Article]) -> dict:
    """Per-act added / changed / removed article ids (by content hash)."""
    acts: dict[str, dict[str, list[str]]] = {}

    def slot(code: str) -> dict[str, list[str]]:
        return acts.setdefault(code, {"added": [], "changed": [], "removed": []})

    for aid, art in new.items():
        if aid not in old:
            slot(art.act_code)["added"].append(aid)
        elif old[aid] != art.sha256:
            slot(art.act_code)["changed"].append(aid)
    for aid in old:
        if aid not in new:
            slot(aid.split("/", 1)[0])["removed"].append(aid)
    acts = {code: {k: sorted(v, key=_id_order) for k, v in d.items()} for code, d in sorted(acts.items())}
    totals = {k: sum(len(d[k]) for d in acts.values()) for k in ("added", "changed", "removed")}
    totals["unchanged"] = sum(1 for aid, art in new.items() if old.get(aid) == art.sha256)
    return {"acts": acts, "totals": totals}


def _counts(snapshot: CorpusSnapshot, n_passages: int) -> dict:
    by_lang: dict[str, int] = {}
    for a in snapshot.articles:
        by_lang[a.lang] = by_lang.get(a.lang, 0) + 1
    return {"acts": len(snapshot.acts), "articles": len(snapshot.articles), "passages": n_passages, "by_lang": by_lang}


def _tmp_version_dir(index_dir: Path, version: int) -> Path:
    """A fresh temporary folder for the next version. Called under the writer lock, so any other
    `.tmp-*` folder is left over from a killed writer and is removed."""
    for stale in versions_dir(index_dir).glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    d = versions_dir(index_dir) / f".tmp-{version}-{os.getpid()}"
    d.mkdir(parents=True)
    return d


# ---------------------------------------------------------------- the core


def _write_version(index_dir: Path, snapshot: CorpusSnapshot, cfg: IndexConfig, embedder, previous: Index | None,
                   progress: bool) -> dict:
    """Write the next version for `snapshot` (reusing `previous`'s vectors where possible), switch to it."""
    t0 = time.perf_counter()
    version = max(list_versions(index_dir) + [0]) + 1
    prev_rows: dict[str, tuple[int, str]] = {}
    prev_passages: dict[int, list[tuple[int, str]]] = {}
    next_rowid = next_pid = 1
    if previous is not None:
        prev_rows = previous.articles.rows_by_id()
        prev_passages = previous.articles.passage_table()
        next_rowid = int(previous.manifest.get("next_rowid", 1))
        next_pid = int(previous.manifest.get("next_pid", 1))

    articles = sorted(snapshot.articles, key=lambda a: (a.act_code, a.lang, a.position))
    new_ids = {a.id for a in articles}
    rows: list[tuple[int, Article]] = []
    passages: list[tuple[int, int, int, str]] = []  # pid, article_rowid, chunk_no, text
    to_embed: list[tuple[int, str, str, int]] = []  # pid, text, lang, chunk_no
    dropped: list[int] = []
    reembedded_articles: list[str] = []
    for art in articles:
        texts = article_passages(art, cfg.chunk_chars, cfg.chunk_overlap)
        if art.id in prev_rows:
            rowid = prev_rows[art.id][0]
            old = prev_passages.get(rowid, [])
            if [t for _, t in old] == texts:  # same passages: keep their ids and vectors
                rows.append((rowid, art))
                passages.extend((pid, rowid, no, t) for no, (pid, t) in enumerate(old))
                continue
            dropped.extend(pid for pid, _ in old)
        else:
            rowid, next_rowid = next_rowid, next_rowid + 1
        rows.append((rowid, art))
        reembedded_articles.append(art.id)
        for no, t in enumerate(texts):
            pid, next_pid = next_pid, next_pid + 1
            passages.append((pid, rowid, no, t))
            to_embed.append((pid, t, art.lang, no))
    for aid, (rowid, _) in prev_rows.items():
        if aid not in new_ids:
            dropped.extend(pid for pid, _ in prev_passages.get(rowid, []))

    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_version_dir(index_dir, version)
    try:
        t_embed = time.perf_counter()
        dense_rows = [(pid, dense_passage_text(t, cfg.dense_strip_footnotes)) for pid, t, _, no in to_embed
                      if not cfg.dense_max_passages or no < cfg.dense_max_passages]
        vecs = _embed(embedder, [t for _, t in dense_rows], cfg.batch_size, progress,
                      "embedding" if previous is None else "re-embedding")
        embed_s = time.perf_counter() - t_embed
        new_pids = np.array([p for p, *_ in to_embed], dtype=np.int64)
        dense_pids = np.array([p for p, _ in dense_rows], dtype=np.int64)

        if previous is not None:
            lexical, dense = previous.lexical, previous.dense  # loaded from the old files; the old files stay as they are
            if dropped:
                lexical.remove(dropped)
                dense.remove(np.array(dropped, dtype=np.int64))
            dense_kind = previous.manifest["dense"]["kind"]
        else:
            from retrieval.lexical import Bm25Lexical

            lexical = Bm25Lexical()
            dense_kind = _dense_kind(cfg, len(passages))
            dense = _new_dense(embedder.dim, dense_kind, cfg)
        if len(new_pids):
            lexical.add(new_pids.tolist(), [t for _, t, _, _ in to_embed], [lang for _, _, lang, _ in to_embed])
        if len(dense_pids):
            dense.add(dense_pids, vecs)

        write_store(tmp / STORE_FILE, [a.to_dict() for a in snapshot.acts], rows, passages)
        lexical.save(tmp / LEXICAL_FILE)
        dense.save(tmp / DENSE_FILE)

        diff = _diff(previous.manifest.get("articles", {}) if previous else {}, {a.id: a for a in articles})
        manifest = {
            "format": FORMAT,
            "version": version,
            "previous_version": previous.version if previous else current_version(index_dir),
            "kind": "update" if previous else "build",
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "corpus": {"path": str(Path(snapshot.root).resolve()), "revision": snapshot.revision},
            "embedding": {"model": cfg.embedding, "name": getattr(embedder, "name", cfg.embedding),
                          "query_prefix": getattr(embedder, "query_prefix", cfg.query_prefix),
                          "passage_prefix": getattr(embedder, "passage_prefix", cfg.passage_prefix), "dim": int(embedder.dim)},
            "dense": {"kind": dense_kind, "ntotal": int(dense.ntotal)},
            "lexical": {"ids": "passage"},
            "counts": _counts(snapshot, len(passages)),
            "next_rowid": next_rowid,
            "next_pid": next_pid,
            "config": to_dict(cfg),
            "diff": {"totals": diff["totals"], "reembedded_articles": len(reembedded_articles),
                     "reembedded_passages": len(dense_rows), "removed_passages": len(dropped)},
            "warnings": snapshot.warnings,
            "articles": {a.id: a.sha256 for a in articles},
        }
        write_json(tmp / MANIFEST_FILE, manifest)
        final = versions_dir(index_dir) / str(version)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    switch_current(index_dir, version)
    pruned = prune_versions(index_dir, cfg.keep_versions)
    return {
        "index": str(index_dir),
        "version": version,
        "previous_version": manifest["previous_version"],
        "kind": manifest["kind"],
        "corpus_revision": snapshot.revision,
        "embedding": manifest["embedding"]["model"],
        "counts": manifest["counts"],
        "acts": diff["acts"],
        "totals": diff["totals"],
        "reembedded_articles": len(reembedded_articles),
        "reembedded_article_ids": reembedded_articles,
        "reembedded_passages": len(dense_rows),
        "reused_passages": len(passages) - len(to_embed),
        "removed_passages": len(dropped),
        "pruned_versions": pruned,
        "warnings": snapshot.warnings,
        "seconds": {"total": round(time.perf_counter() - t0, 3), "embedding": round(embed_s, 3)},
    }


# ---------------------------------------------------------------- public


def build_index(corpus_dir: str | Path, index_dir: str | Path, cfg: IndexConfig | None = None, embedder=None,
                progress: bool = True) -> dict:
    """Build a fresh index version from `corpus_dir` (every passage embedded) and make it live.

    `embedder` overrides the one named by `cfg.embedding` (tests use it to inject faults).
    Returns a report dict (version, counts, timings, per-act additions vs. the old live version).
    """
    cfg = cfg or IndexConfig()
    index_dir = Path(index_dir)
    snapshot = read_corpus(corpus_dir)  # bad corpus: error before anything is written
    embedder = embedder or _make_embedder(cfg)
    index_dir.mkdir(parents=True, exist_ok=True)
    with _WriterLock(index_dir):
        return _write_version(index_dir, snapshot, cfg, embedder, None, progress)


def update_index(corpus_dir: str | Path, index_dir: str | Path, settings: dict | None = None,
                 embedding: str | None = None, embedder=None, progress: bool = True) -> dict:
    """Bring the live index up to `corpus_dir`: re-embed only added/changed articles, drop removed ones.

    The index keeps the embedding model, prefixes and chunking it was built with (its stored
    IndexConfig); `settings` may change the others (batch_size, keep_versions). Asking for
    another model (`embedding`, or `settings["embedding"]`) or other chunking is refused with
    how to rebuild. When nothing changed (same articles, acts and corpus revision) no new
    version is written. `embedder` overrides the stored model's embedder (tests inject faults).
    """
    from lexkz.config import from_dict

    index_dir = Path(index_dir)
    live = open_index(index_dir)  # missing index: exit 3, nothing created
    check_embedding(live.manifest, embedding or (settings or {}).get("embedding"), index_dir)
    stored = live.config
    settings = dict(settings or {})
    requested = from_dict(IndexConfig, {**to_dict(stored), **settings}, where="the update settings")
    diffs = shaping_differences(stored, requested)
    if diffs:
        raise LexkzError(
            f"the index at {index_dir} was built with {', '.join(f'{d}={getattr(stored, d)!r}' for d in diffs)}, "
            f"not {', '.join(f'{d}={getattr(requested, d)!r}' for d in diffs)}: update with the index's own settings "
            f"(drop them from the config), or rebuild with `lexkz index build --corpus DIR --index {index_dir} --config TOML`", 4)
    stored = requested
    snapshot = read_corpus(corpus_dir)
    with _WriterLock(index_dir):
        live = open_index(index_dir)  # re-open under the lock: another writer may have switched versions
        new_hashes = {a.id: a.sha256 for a in snapshot.articles}
        old_acts = live.articles.acts()
        new_acts = [a.to_dict() for a in snapshot.acts]
        same_acts = [{k: a[k] for k in ("code", "title_ru", "title_kz", "status", "url")} for a in old_acts] == sorted(
            ({k: a[k] for k in ("code", "title_ru", "title_kz", "status", "url")} for a in new_acts), key=lambda a: a["code"])
        same_rev = live.manifest["corpus"]["revision"].get("id") == snapshot.revision.get("id")
        if new_hashes == live.manifest.get("articles") and same_acts and same_rev:
            return {"index": str(index_dir), "version": live.version, "previous_version": live.manifest.get("previous_version"),
                    "kind": "update", "up_to_date": True, "corpus_revision": snapshot.revision,
                    "embedding": live.manifest["embedding"]["model"], "counts": live.manifest["counts"], "acts": {},
                    "totals": {"added": 0, "changed": 0, "removed": 0, "unchanged": len(new_hashes)},
                    "reembedded_articles": 0, "reembedded_article_ids": [], "reembedded_passages": 0,
                    "reused_passages": live.manifest["counts"]["passages"], "removed_passages": 0,
                    "pruned_versions": [], "warnings": snapshot.warnings, "seconds": {"total": 0.0, "embedding": 0.0}}
        embedder = embedder or live.embedder()
        report = _write_version(index_dir, snapshot, stored, embedder, live, progress)
        report["up_to_date"] = False
        return report


def format_report(report: dict) -> str:
    """Human-readable diff summary: one line per act with +added ~changed -removed and the numbers."""
    lines = []
    if report.get("up_to_date"):
        lines.append(f"index {report['index']} is up to date (version {report['version']}, "
                     f"{report['counts']['articles']} articles); nothing written")
        return "\n".join(lines)
    rev = report["corpus_revision"]
    rev_txt = rev.get("commit") or ", ".join(f"{k}@{v[:12]}" for k, v in rev.get("commits", {}).items()) or rev["id"][:16]
    lines.append(f"{report['kind']}: {report['index']} version {report['version']} (previous {report['previous_version']}), "
                 f"corpus revision {rev_txt} ({rev['kind']}), embedding {report['embedding']}")
    c = report["counts"]
    lines.append(f"  {c['acts']} acts, {c['articles']} articles, {c['passages']} passages")
    t = report["totals"]
    lines.append(f"  added {t['added']}, changed {t['changed']}, removed {t['removed']}, unchanged {t['unchanged']}; "
                 f"re-embedded {report['reembedded_articles']} articles / {report['reembedded_passages']} passages, "
                 f"reused {report['reused_passages']} passages, in {report['seconds']['total']:.1f} s")
    if report["kind"] == "update":
        for code, d in report["acts"].items():
            def nums(ids):
                shown = ", ".join(i.split("/", 1)[1] for i in ids[:12])
                return shown + (f", … (+{len(ids) - 12})" if len(ids) > 12 else "")
            parts = [f"+{len(d['added'])} ~{len(d['changed'])} -{len(d['removed'])}"]
            for key, sign in (("added", "+"), ("changed", "~"), ("removed", "-")):
                if d[key]:
                    parts.append(f"{sign}[{nums(d[key])}]")
            lines.append(f"  {code}: " + " ".join(parts))
    for w in report.get("warnings", []):
        lines.append(f"  warning: {w}")
    return "\n".join(lines)
