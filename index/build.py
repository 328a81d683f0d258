"""Full index builds and incremental updates, written as new versions beside the old ones.

    lexkz index build  --corpus ../shared/corpus --index .lexkz/index [--embedding minilm]
    lexkz index update --corpus ../shared/corpus --index .lexkz/index [--json]

A build embeds every passage. An update reads the corpus again, compares every article
with the live version (article ids and the passage texts they make), re-embeds only the
passages of added or changed articles, removes those of deleted or changed ones from a copy
of the previous FAISS and BM25 indexes, and keeps the vectors of everything else.

The article store of a version (articles, passages and the FTS5 lexical rows) is written in
one SQLite transaction: a build writes a new file; an update copies the previous version's
file and, in one transaction, rewrites the act and article rows, deletes the passages (and
FTS rows) of removed or changed articles and adds those of added or changed ones.

Both write the new version under a temporary folder, record each file's size and sha256 in
the manifest, fsync everything, rename it into `versions/<N>` and switch `CURRENT` durably
(index/versions.py). Any failure (a broken act file, an exception inside embedding, a NaN
vector, Ctrl-C, kill -9) leaves the live version untouched; what a killed writer left is
removed by the next one. A file lock (INDEX/.lock) refuses a second concurrent writer.

Safety checks: no vector with NaN or inf is ever written (the error names the articles); an
update first checks the live version's files against their recorded hashes, so damage is
never copied forward; an update that would remove more than `max_removed_share` of an
act's articles in one language is refused unless `allow_removals` (--allow-removals).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from index.article import Article, base_id
from index.chunking import article_passages, dense_passage_text
from index.config import IndexConfig
from index.ingest import CorpusSnapshot, read_corpus
from index.integrity import check_hashes, file_records, nonfinite_rows
from index.store import (
    DENSE_FILE, MANIFEST_FILE, STORE_FILE, Index, check_embedding, open_index, shaping_differences, write_store,
)
from index.timeline import versioned
from index.versions import (
    clean_stale, complete_versions, current_version, list_versions, publish, prune_versions, refuse_version_folder,
    restore_hint, versions_dir, writer_lock,
)
from lexkz.common import write_json
from lexkz.config import to_dict
from lexkz.errors import LexkzError
from retrieval import lexical

FORMAT = "lexkz-index/2"  # /2: FTS5 lexical table in articles.sqlite, file hashes in the manifest


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


def _reuse_rows(articles: list[Article], prev_rows: dict[str, tuple[int, str]]) -> dict[str, int]:
    """{new article id: previous rowid} for articles that continue a previous row: first the
    same text of the same article (its id may have moved, e.g. the current text became an older
    version "...@date"), then the same id with a changed text. Each previous row is taken once."""
    by_content = {(base_id(aid), sha): rowid for aid, (rowid, sha) in prev_rows.items()}
    assigned: dict[str, int] = {}
    taken: set[int] = set()
    for art in articles:
        rowid = by_content.get((base_id(art.id), art.sha256))
        if rowid is not None and rowid not in taken:
            assigned[art.id] = rowid
            taken.add(rowid)
    for art in articles:
        if art.id not in assigned and art.id in prev_rows and prev_rows[art.id][0] not in taken:
            assigned[art.id] = prev_rows[art.id][0]
            taken.add(prev_rows[art.id][0])
    return assigned


def _counts(snapshot: CorpusSnapshot, n_passages: int) -> dict:
    by_lang: dict[str, int] = {}
    for a in snapshot.articles:
        by_lang[a.lang] = by_lang.get(a.lang, 0) + 1
    return {"acts": len(snapshot.acts), "articles": len(snapshot.articles), "passages": n_passages, "by_lang": by_lang}


def _tmp_version_dir(index_dir: Path, version: int) -> Path:
    """A fresh temporary folder for the next version (under the writer lock)."""
    d = versions_dir(index_dir) / f".tmp-{version}-{os.getpid()}"
    d.mkdir(parents=True)
    return d


def removal_problems(old_ids, new_ids, share: float) -> list[str]:
    """Per act and language, removals above `share` of its articles: ["CODE (kaz): 320 of 320 articles", ...]."""
    totals: Counter = Counter()
    gone: Counter = Counter()
    for aid in old_ids:
        code, _, lang = aid.rsplit("/", 2)
        totals[code, lang] += 1
        if aid not in new_ids:
            gone[code, lang] += 1
    return [f"{code} ({lang}): {gone[code, lang]} of {totals[code, lang]} articles"
            for code, lang in sorted(gone) if gone[code, lang] > share * totals[code, lang]]


def _refuse_mass_removal(old_ids, new_ids, share: float, corpus_dir) -> None:
    problems = removal_problems(old_ids, new_ids, share)
    if problems:
        raise LexkzError(
            f"refused: this update would remove {'; '.join(problems)}, more than max_removed_share={share:g} of an "
            f"act's articles in one language. That usually means a damaged source (an emptied or truncated rus.md/kaz.md, "
            f"article headings that no longer parse, a deleted act folder, a changed `code` in meta.yaml). Check the "
            f"corpus at {corpus_dir}; if the removals are intended, run the update again with --allow-removals", 4)


def _refuse_nonfinite(pids, vectors, article_of: dict[int, str], what: str) -> None:
    bad = nonfinite_rows(vectors)
    if len(bad):
        arts = sorted({article_of.get(int(pids[i]), f"passage {int(pids[i])}") for i in bad})
        raise LexkzError(f"{what} NaN or inf values in {len(bad)} vectors, of articles {', '.join(arts[:10])}"
                         f"{' …' if len(arts) > 10 else ''}: nothing was written", 3)


def _prepare_writer(index_dir: Path) -> tuple[int | None, list[str]]:
    """Under the writer lock: the live version (None: none yet) and what a killed writer left, removed."""
    live = current_version(index_dir)  # a damaged CURRENT: exit 3 with the versions on disk
    done = complete_versions(index_dir)
    if done and live not in done:
        why = "no CURRENT file" if live is None else f"CURRENT names version {live}, which is not on disk"
        raise LexkzError(f"{index_dir} has {why}, but complete versions exist; refusing to write a new version beside "
                         f"them: {restore_hint(index_dir)}, then build or update again", 4)
    return live, clean_stale(index_dir)


# ---------------------------------------------------------------- the core


def _write_version(index_dir: Path, snapshot: CorpusSnapshot, cfg: IndexConfig, embedder, previous: Index | None,
                   live: int | None, progress: bool) -> dict:
    """Write the next version for `snapshot` (reusing `previous`'s vectors and store rows), switch to it."""
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

    all_rows, intervals = versioned(snapshot)  # every distinct text of every edition (index/timeline.py)
    articles = sorted(all_rows, key=lambda a: (a.act_code, a.lang, a.position, a.id))
    rows: list[tuple[int, Article]] = []
    passages: list[tuple[int, int, int, str]] = []  # every passage: pid, article_rowid, chunk_no, text
    fresh: list[tuple[int, int, int, str]] = []  # the new ones among them
    to_embed: list[tuple[int, str, int]] = []  # pid, text, chunk_no
    article_of: dict[int, str] = {}  # pid -> article id, for error messages
    dropped: list[int] = []
    reembedded_articles: list[str] = []
    assigned = _reuse_rows(articles, prev_rows)  # article id -> the previous row it continues
    for art in articles:
        texts = article_passages(art, cfg.chunk_chars, cfg.chunk_overlap)
        if art.id in assigned:
            rowid = assigned[art.id]
            old = prev_passages.get(rowid, [])
            if [t for _, t in old] == texts:  # same passages: keep their ids, vectors and FTS rows
                rows.append((rowid, art))
                passages.extend((pid, rowid, no, t) for no, (pid, t) in enumerate(old))
                article_of.update((pid, art.id) for pid, _ in old)
                continue
            dropped.extend(pid for pid, _ in old)
        else:
            rowid, next_rowid = next_rowid, next_rowid + 1
        rows.append((rowid, art))
        reembedded_articles.append(art.id)
        for no, t in enumerate(texts):
            pid, next_pid = next_pid, next_pid + 1
            passages.append((pid, rowid, no, t))
            fresh.append((pid, rowid, no, t))
            to_embed.append((pid, t, no))
            article_of[pid] = art.id
    kept_rowids = set(assigned.values())
    for rowid, _ in prev_rows.values():
        if rowid not in kept_rowids:
            dropped.extend(pid for pid, _ in prev_passages.get(rowid, []))
    rowid_of = {art.id: rowid for rowid, art in rows}
    validity = [(rowid_of[iv.article_id], iv.valid_from, iv.valid_to, iv.edition, int(iv.gap), iv.caused_by)
                for iv in intervals]

    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_version_dir(index_dir, version)
    try:
        t_embed = time.perf_counter()
        dense_rows = [(pid, dense_passage_text(t, cfg.dense_strip_footnotes)) for pid, t, no in to_embed
                      if not cfg.dense_max_passages or no < cfg.dense_max_passages]
        # passages whose embedded text is identical (e.g. two editions that differ only in footnotes,
        # which dense_passage_text strips) are embedded once and share the vector
        unique = list(dict.fromkeys(t for _, t in dense_rows))
        slot = {t: i for i, t in enumerate(unique)}
        vecs = _embed(embedder, unique, cfg.batch_size, progress, "embedding" if previous is None else "re-embedding")
        vecs = vecs[[slot[t] for _, t in dense_rows]] if len(dense_rows) else vecs
        embed_s = time.perf_counter() - t_embed
        dense_pids = np.array([p for p, _ in dense_rows], dtype=np.int64)
        _refuse_nonfinite(dense_pids, vecs, article_of, f"the embedder {getattr(embedder, 'name', cfg.embedding)} returned")

        if previous is not None:
            dense = previous.dense  # loaded from the old file (hash checked); that file stays as it is
            if dropped:
                dense.remove(np.array(dropped, dtype=np.int64))
            kept = dense.ids()
            _refuse_nonfinite(kept, dense.get_vectors(kept), article_of,
                              f"the live version {previous.version} is damaged: its dense index holds")
            dense_kind = previous.manifest["dense"]["kind"]
        else:
            dense_kind = _dense_kind(cfg, len(passages))
            dense = _new_dense(embedder.dim, dense_kind, cfg)
        if len(dense_pids):
            dense.add(dense_pids, vecs)

        write_store(tmp / STORE_FILE, [a.to_dict() for a in snapshot.acts], rows, fresh,
                    base=previous.version_dir / STORE_FILE if previous is not None else None, removed_pids=dropped,
                    validity=validity)
        dense.save(tmp / DENSE_FILE)

        diff = _diff(previous.manifest.get("articles", {}) if previous else {}, {a.id: a for a in articles})
        manifest = {
            "format": FORMAT,
            "version": version,
            "previous_version": previous.version if previous else live,
            "kind": "update" if previous else "build",
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "corpus": {"path": str(Path(snapshot.root).resolve()), "revision": snapshot.revision},
            "embedding": {"model": cfg.embedding, "name": getattr(embedder, "name", cfg.embedding),
                          "query_prefix": getattr(embedder, "query_prefix", cfg.query_prefix),
                          "passage_prefix": getattr(embedder, "passage_prefix", cfg.passage_prefix), "dim": int(embedder.dim)},
            "dense": {"kind": dense_kind, "ntotal": int(dense.ntotal)},
            "lexical": {"ids": "passage", "kind": lexical.KIND, "table": lexical.TABLE, "tokenize": lexical.TOKENIZE},
            "counts": {**_counts(snapshot, len(passages)), "versions": len(articles), "intervals": len(intervals)},
            "next_rowid": next_rowid,
            "next_pid": next_pid,
            "config": to_dict(cfg),
            "diff": {"totals": diff["totals"], "reembedded_articles": len(reembedded_articles),
                     "reembedded_passages": len(dense_rows), "embedded_texts": len(unique), "removed_passages": len(dropped)},
            "warnings": snapshot.warnings,
            "files": file_records(tmp),
            "articles": {a.id: a.sha256 for a in articles},
        }
        write_json(tmp / MANIFEST_FILE, manifest)
        publish(tmp, index_dir, version)  # fsync, rename to versions/<N>, switch CURRENT
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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
        "embedded_texts": len(unique),
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
    refuse_version_folder(index_dir)
    snapshot = read_corpus(corpus_dir)  # bad corpus: error before anything is written
    embedder = embedder or _make_embedder(cfg)
    index_dir.mkdir(parents=True, exist_ok=True)
    with writer_lock(index_dir):
        live, cleaned = _prepare_writer(index_dir)
        report = _write_version(index_dir, snapshot, cfg, embedder, None, live, progress)
        report["cleaned"] = cleaned
        return report


def update_index(corpus_dir: str | Path, index_dir: str | Path, settings: dict | None = None,
                 embedding: str | None = None, embedder=None, progress: bool = True,
                 allow_removals: bool = False) -> dict:
    """Bring the live index up to `corpus_dir`: re-embed only added/changed articles, drop removed ones.

    The index keeps the embedding model, prefixes and chunking it was built with (its stored
    IndexConfig); `settings` may change the others (batch_size, keep_versions,
    max_removed_share). Asking for another model (`embedding`, or `settings["embedding"]`) or
    other chunking is refused with how to rebuild. When nothing changed (same articles, acts
    and corpus revision) no new version is written. Removing more than max_removed_share of an
    act's articles in one language is refused unless `allow_removals`. A live version whose
    files do not match their recorded hashes is refused (exit 3). `embedder` overrides the
    stored model's embedder (tests inject faults).
    """
    from lexkz.config import from_dict

    index_dir = Path(index_dir)
    refuse_version_folder(index_dir)
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
    with writer_lock(index_dir):
        live_version, cleaned = _prepare_writer(index_dir)
        live = open_index(index_dir)  # re-open under the lock: another writer may have switched versions
        check_hashes(live.version_dir, live.manifest)  # its store is copied forward: never copy damage
        legacy = live.manifest.get("lexical", {}).get("kind") != lexical.KIND  # pickled BM25: add the FTS table
        new_hashes = {a.id: a.sha256 for a in versioned(snapshot)[0]}
        old_acts = live.articles.acts()
        new_acts = [a.to_dict() for a in snapshot.acts]
        same_acts = [{k: a[k] for k in ("code", "title_ru", "title_kz", "status", "url")} for a in old_acts] == sorted(
            ({k: a[k] for k in ("code", "title_ru", "title_kz", "status", "url")} for a in new_acts), key=lambda a: a["code"])
        same_rev = live.manifest["corpus"]["revision"].get("id") == snapshot.revision.get("id")
        timeline = live.articles.has_timeline()  # a store written before index/timeline.py: write one
        if new_hashes == live.manifest.get("articles") and same_acts and same_rev and not legacy and timeline:
            return {"index": str(index_dir), "version": live.version, "previous_version": live.manifest.get("previous_version"),
                    "kind": "update", "up_to_date": True, "corpus_revision": snapshot.revision,
                    "embedding": live.manifest["embedding"]["model"], "counts": live.manifest["counts"], "acts": {},
                    "totals": {"added": 0, "changed": 0, "removed": 0, "unchanged": len(new_hashes)},
                    "reembedded_articles": 0, "reembedded_article_ids": [], "reembedded_passages": 0,
                    "reused_passages": live.manifest["counts"]["passages"], "removed_passages": 0,
                    "pruned_versions": [], "cleaned": cleaned, "warnings": snapshot.warnings,
                    "seconds": {"total": 0.0, "embedding": 0.0}}
        if not allow_removals:
            _refuse_mass_removal(live.manifest.get("articles", {}), new_hashes, stored.max_removed_share, corpus_dir)
        embedder = embedder or live.embedder()
        report = _write_version(index_dir, snapshot, stored, embedder, live, live_version, progress)
        report["up_to_date"] = False
        report["cleaned"] = cleaned
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
