"""Store file records and the checks built on them: on open, before an update, on restore and
in `lexkz index verify`.

Every version's manifest records the size and sha256 of each store file
(`manifest["files"] = {name: {"size", "sha256"}}`). Opening an index compares the sizes
(cheap); the dense file's hash is checked when it is loaded (it is read whole anyway); the
SQLite file's hash is checked by `index update` (which copies that file forward), by
`index restore` and by `index verify`. A mismatch is a LexkzError, exit 3, that says how to
restore an earlier version or rebuild.

    lexkz index verify [--index DIR] [--json]
        the CURRENT pointer, then for every complete version: file sizes and hashes, SQLite
        quick_check, counts (articles, passages, FTS rows, FAISS vectors vs the manifest),
        FTS rows = passages, FAISS ids = passages, and no NaN/inf vector. Exit 3 on damage.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from index.versions import (
    CURRENT_FILE, complete_versions, current_version, list_versions, live_chain, read_manifest, restore_hint,
    versions_dir,
)
from lexkz.errors import LexkzError

STORE_FILE = "articles.sqlite"
DENSE_FILE = "dense.faiss"
DENSE_META_FILE = "dense.faiss.json"
LEGACY_LEXICAL_FILE = "lexical.pkl"  # the pickled BM25 of older versions: never opened
STORE_FILES = (STORE_FILE, DENSE_FILE, DENSE_META_FILE)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_records(version_dir: Path) -> dict:
    """{name: {"size", "sha256"}} of the store files present in `version_dir`."""
    out = {}
    for name in STORE_FILES:
        p = Path(version_dir) / name
        if p.is_file():
            out[name] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    return out


def _damaged(version_dir: Path, what: str) -> LexkzError:
    index_dir = Path(version_dir).parent.parent
    return LexkzError(f"index version {version_dir} is damaged: {what}. Check it with `lexkz index verify --index "
                      f"{index_dir}`; {restore_hint(index_dir)}, or rebuild with `lexkz index build`", 3)


def size_problems(version_dir: Path, manifest: dict) -> list[str]:
    out = []
    for name, rec in (manifest.get("files") or {}).items():
        p = Path(version_dir) / name
        if not p.is_file():
            out.append(f"{name} is missing")
        elif p.stat().st_size != rec["size"]:
            out.append(f"{name} has {p.stat().st_size} bytes, the manifest recorded {rec['size']}")
    return out


def hash_problems(version_dir: Path, manifest: dict, names=None) -> list[str]:
    out = size_problems(version_dir, manifest)
    if out:
        return out
    for name, rec in (manifest.get("files") or {}).items():
        if names is None or name in names:
            if sha256_file(Path(version_dir) / name) != rec["sha256"]:
                out.append(f"{name} does not match its recorded sha256 (its bytes changed after it was written)")
    return out


def check_sizes(version_dir: Path, manifest: dict) -> None:
    """On open: every recorded file present with its recorded size (LexkzError exit 3)."""
    problems = size_problems(version_dir, manifest)
    if problems:
        raise _damaged(version_dir, "; ".join(problems))


def check_hashes(version_dir: Path, manifest: dict, names=None) -> None:
    """Recorded files (all, or `names`) match their sha256 (LexkzError exit 3)."""
    problems = hash_problems(version_dir, manifest, names)
    if problems:
        raise _damaged(version_dir, "; ".join(problems))


def nonfinite_rows(vectors: np.ndarray) -> np.ndarray:
    """Row numbers of `vectors` holding a NaN or an infinity."""
    vectors = np.asarray(vectors)
    if vectors.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(~np.isfinite(vectors).all(axis=1))


def _article_ids(db: sqlite3.Connection, pids) -> list[str]:
    pids = [int(p) for p in pids]
    marks = ",".join("?" * len(pids))
    rows = db.execute(f"SELECT DISTINCT a.id FROM passages p JOIN articles a ON a.rowid = p.article_rowid "
                      f"WHERE p.pid IN ({marks}) ORDER BY a.id", pids).fetchall() if pids else []
    return [r[0] for r in rows]


def legacy_notes(vdir: Path, manifest: dict) -> list[str]:
    """What an older lexkz wrote differently (not damage; a problem only for the live version)."""
    from retrieval import lexical

    notes = []
    if not manifest.get("files"):
        notes.append("no file hashes recorded (written by an older lexkz): run `lexkz index update` to write a "
                     "version that records them")
    if (vdir / LEGACY_LEXICAL_FILE).exists() or manifest.get("lexical", {}).get("kind") != lexical.KIND:
        notes.append(f"its lexical side is the pickled BM25 of an older lexkz ({LEGACY_LEXICAL_FILE}), which is "
                     f"never loaded: run `lexkz index update` to rebuild it in SQLite FTS5")
    return notes


def version_problems(index_dir: Path, vdir: Path, manifest: dict) -> list[str]:
    """Everything wrong with one version folder (empty list: sound)."""
    from retrieval import lexical

    problems = hash_problems(vdir, manifest)
    missing = [f"{name} is missing" for name in (STORE_FILE, DENSE_FILE) if not (vdir / name).is_file()]
    if size_problems(vdir, manifest) or missing:  # truncated or absent files are not opened
        return problems + [m for m in missing if m not in problems]
    counts = manifest.get("counts", {})
    try:
        db = sqlite3.connect(f"file:{vdir / STORE_FILE}?mode=ro", uri=True)
        try:
            check = db.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                problems.append(f"{STORE_FILE} fails SQLite's quick_check: {'; '.join(r[0] for r in check[:3])}")
                return problems
            n_art = db.execute("SELECT COUNT(*) FROM articles WHERE instr(id, '@') = 0").fetchone()[0]
            n_rows = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            n_pass = db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
            if n_art != counts.get("articles"):  # the current editions' articles (older texts have "@" ids)
                problems.append(f"{STORE_FILE} holds {n_art} articles, the manifest says {counts.get('articles')}")
            if "versions" in counts and n_rows != counts["versions"]:  # every distinct text of every edition
                problems.append(f"{STORE_FILE} holds {n_rows} article versions, the manifest says {counts['versions']}")
            if n_pass != counts.get("passages"):
                problems.append(f"{STORE_FILE} holds {n_pass} passages, the manifest says {counts.get('passages')}")
            pids = {r[0] for r in db.execute("SELECT pid FROM passages")}
            if lexical.has_table(db):
                fts = {r[0] for r in db.execute(f"SELECT rowid FROM {lexical.TABLE}")}
                if fts != pids:
                    problems.append(f"the FTS table holds {len(fts)} rows for {len(pids)} passages "
                                    f"({len(fts - pids)} without a passage, {len(pids - fts)} passages without a row)")
            problems += _dense_problems(vdir, manifest, pids, db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        problems.append(f"{STORE_FILE} is not a readable SQLite database ({exc})")
    return problems


def _dense_problems(vdir: Path, manifest: dict, pids: set, db: sqlite3.Connection) -> list[str]:
    from retrieval.dense import FaissDenseIndex

    try:
        dense = FaissDenseIndex.load(vdir / DENSE_FILE)
    except LexkzError as exc:
        return [str(exc)]
    out = []
    recorded = manifest.get("dense", {}).get("ntotal")
    if dense.ntotal != recorded:
        out.append(f"{DENSE_FILE} holds {dense.ntotal} vectors, the manifest says {recorded}")
    ids = dense.ids()
    stray = set(ids.tolist()) - pids
    if stray:
        out.append(f"{DENSE_FILE} holds {len(stray)} vectors of passages that do not exist")
    ids = np.array(sorted(set(ids.tolist()) & pids), dtype=np.int64)
    bad = ids[nonfinite_rows(dense.get_vectors(ids))] if len(ids) else ids
    if len(bad):
        arts = _article_ids(db, bad)
        out.append(f"{DENSE_FILE} holds {len(bad)} vectors with NaN or inf values (articles "
                   f"{', '.join(arts[:5])}{', …' if len(arts) > 5 else ''})")
    return out


def verify_index(index_dir: str | Path) -> dict:
    """Check the CURRENT pointer and every complete version; never raises for damage."""
    index_dir = Path(index_dir)
    report = {"index": str(index_dir), "live": None, "ok": True, "problems": [], "index_problems": [],
              "warnings": [], "versions": {}}
    general = report["index_problems"]
    if not index_dir.is_dir():
        general.append(f"no index at {index_dir} (the folder does not exist)")
    try:
        live = current_version(index_dir)
    except LexkzError as exc:
        live = None
        general.append(str(exc))
    else:
        if live is None and index_dir.is_dir():
            general.append(f"no {CURRENT_FILE} file: {restore_hint(index_dir)}")
    done = complete_versions(index_dir)
    if live is not None and live not in done:
        general.append(f"{CURRENT_FILE} names version {live}, which is missing or incomplete: {restore_hint(index_dir)}")
    report["live"] = live
    for v in list_versions(index_dir):
        if v not in done:
            general.append(f"version folder {v} is incomplete (no readable manifest for version {v})")
    report["problems"] += general
    for v in done:
        vdir = versions_dir(index_dir) / str(v)
        manifest = read_manifest(vdir)
        probs = version_problems(index_dir, vdir, manifest)
        notes = legacy_notes(vdir, manifest)
        if v == live:  # the live version must be searchable and checkable
            probs, notes = probs + notes, []
        report["versions"][v] = {"ok": not probs, "problems": probs, "notes": notes}
        report["problems"] += [f"version {v}: {p}" for p in probs]
        report["warnings"] += [f"version {v}: {n}" for n in notes]
    if live in done:
        chain = live_chain(index_dir, live)
        prev = read_manifest(versions_dir(index_dir) / str(live)).get("previous_version")
        if prev is not None and prev not in done:
            report["warnings"].append(f"the live version's previous_version {prev} is not on disk: no rollback")
        off = [v for v in done if v not in chain]
        if off:
            report["warnings"].append(f"version{'s' if len(off) > 1 else ''} {', '.join(map(str, off))} "
                                      f"not in the live history (the next build/update removes "
                                      f"{'them' if len(off) > 1 else 'it'})")
    stale = [p.name for p in versions_dir(index_dir).glob(".tmp-*")] + [p.name for p in index_dir.glob(f"{CURRENT_FILE}.tmp-*")]
    if stale:
        report["warnings"].append(f"left over by a killed writer (the next build/update removes them): {', '.join(sorted(stale))}")
    report["ok"] = not report["problems"]
    return report


def format_verify(report: dict) -> str:
    lines = [f"index {report['index']}: live version {report['live']}"]
    for v, r in report["versions"].items():
        lines.append(f"  version {v}: {'ok' if r['ok'] else 'DAMAGED'}")
        lines += [f"    - {p}" for p in r["problems"]]
    lines += [f"  problem: {p}" for p in report["index_problems"]]
    lines += [f"  warning: {w}" for w in report["warnings"]]
    lines.append("ok" if report["ok"] else f"DAMAGED: {len(report['problems'])} problem(s)")
    return "\n".join(lines)
