"""The index on disk: the SQLite article store (with its FTS5 lexical table) and `open_index`.

    INDEX/
      CURRENT               the live version number (replaced atomically; see index/versions.py)
      versions/<N>/         articles.sqlite  dense.faiss  dense.faiss.json  manifest.json
      .lock                 held by a writer (build/update/restore)

`articles.sqlite` has the tables `acts`, `articles` (rowid = article row id), `passages`
(pid = the id FAISS and the FTS table use; `article_rowid` maps it back) and the FTS5 table
`passages_fts` (retrieval/lexical.py). A version's store is written in ONE transaction:
article rows, passages and FTS rows change together or not at all. The manifest records
the size and sha256 of every store file (index/integrity.py): sizes are checked on open,
the dense file's hash when it is loaded.

Versions written by older lexkz hold a pickled BM25 (`lexical.pkl`) instead of the FTS
table. It is never opened: their lexical search raises a LexkzError (exit 3) that says to
run `lexkz index update`, which writes a new version with the FTS table filled from the
stored passages (the vectors are kept).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

from index.article import Article
from index.chunking import article_heading
from index.config import LEGACY_SHAPING, SHAPING_FIELDS, IndexConfig
from index.integrity import (  # noqa: F401 (re-exported names)
    DENSE_FILE, DENSE_META_FILE, LEGACY_LEXICAL_FILE, STORE_FILE, check_hashes, check_sizes,
)
from index.versions import (  # noqa: F401 (re-exported names)
    CURRENT_FILE, LOCK_FILE, MANIFEST_FILE, current_version, is_version_folder, list_versions, prune_versions,
    read_manifest, restore_hint, switch_current, versions_dir,
)
from lexkz.errors import LexkzError
from retrieval import lexical

DEFAULT_INDEX_DIR = ".lexkz/index"  # where every command looks when --index is not given

_SCHEMA = [
    """CREATE TABLE acts (
  code TEXT PRIMARY KEY, title_ru TEXT, title_kz TEXT, act_type TEXT, status TEXT NOT NULL,
  status_text TEXT, url TEXT, url_kaz TEXT, folder TEXT, langs TEXT
)""",
    """CREATE TABLE articles (
  rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, act_code TEXT NOT NULL, act_title TEXT,
  number TEXT NOT NULL, title TEXT, text TEXT NOT NULL, lang TEXT NOT NULL, url TEXT, status TEXT NOT NULL,
  sha256 TEXT NOT NULL, position INTEGER, source TEXT
)""",
    "CREATE INDEX articles_act ON articles (act_code, number, lang)",
    """CREATE TABLE passages (
  pid INTEGER PRIMARY KEY, article_rowid INTEGER NOT NULL REFERENCES articles (rowid),
  chunk_no INTEGER NOT NULL, text TEXT NOT NULL
)""",
    "CREATE INDEX passages_article ON passages (article_rowid)",
    lexical.SCHEMA,
]
# the timeline (index/timeline.py); created on the fly in stores written before it existed
_TIMELINE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS validity (
  article_rowid INTEGER NOT NULL, valid_from TEXT, valid_to TEXT, edition TEXT, gap INTEGER NOT NULL DEFAULT 0,
  caused_by TEXT
)""",
    "CREATE INDEX IF NOT EXISTS validity_article ON validity (article_rowid)",
    "CREATE TABLE IF NOT EXISTS act_dates (code TEXT PRIMARY KEY, in_force_from TEXT, in_force_to TEXT)",
]

_ARTICLE_COLS = "id, act_code, act_title, number, title, text, lang, url, status, sha256, position, source"


def _article(row: tuple) -> Article:
    return Article(*row)


# ---------------------------------------------------------------- article store


class ArticleStore:
    """Read-only view of one version's articles.sqlite (safe to share between threads)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise LexkzError(f"article store {self.path} is missing: rebuild the index with `lexkz index build`", 3)
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        tables = {r[0] for r in self._rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"acts", "articles", "passages"} <= tables:
            raise LexkzError(f"article store {self.path} lacks the tables acts/articles/passages: it is not a lexkz "
                             f"store; rebuild the index with `lexkz index build`", 3)

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, tuple(args)).fetchall()
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed", ...
            raise LexkzError(f"article store {self.path} is damaged ({exc}): check the index with `lexkz index verify`, "
                             f"make an earlier version live with `lexkz index restore N`, or rebuild it with "
                             f"`lexkz index build`", 3) from None

    def get(self, article_id: str) -> Article | None:
        rows = self._rows(f"SELECT {_ARTICLE_COLS} FROM articles WHERE id = ?", [article_id])
        return _article(rows[0]) if rows else None

    def find(self, act_code: str | None = None, number: str | None = None, lang: str | None = None,
             versions: bool = False) -> list[Article]:
        """Articles of the current editions; with `versions` also the older texts ("…@date" ids)."""
        where, args = ([], []) if versions else (["instr(id, '@') = 0"], [])
        for col, val in (("act_code", act_code), ("number", number), ("lang", lang)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = f"SELECT {_ARTICLE_COLS} FROM articles" + (f" WHERE {' AND '.join(where)}" if where else "")
        return [_article(r) for r in self._rows(sql + " ORDER BY act_code, lang, position", args)]

    def iter_articles(self, lang: str | None = None, act_code: str | None = None,
                      versions: bool = False) -> Iterator[Article]:
        yield from self.find(act_code=act_code, lang=lang, versions=versions)

    def acts(self) -> list[dict]:
        cols = ["code", "title_ru", "title_kz", "act_type", "status", "status_text", "url", "url_kaz", "folder", "langs"]
        out = []
        for row in self._rows(f"SELECT {', '.join(cols)} FROM acts ORDER BY code"):
            d = dict(zip(cols, row))
            d["langs"] = json.loads(d["langs"] or "[]")
            out.append(d)
        return out

    def count(self, lang: str | None = None) -> int:
        """Articles of the current editions (older texts, "…@date" ids, are not counted)."""
        if lang is None:
            return self._rows("SELECT COUNT(*) FROM articles WHERE instr(id, '@') = 0")[0][0]
        return self._rows("SELECT COUNT(*) FROM articles WHERE lang = ? AND instr(id, '@') = 0", [lang])[0][0]

    def passage_count(self) -> int:
        return self._rows("SELECT COUNT(*) FROM passages")[0][0]

    def passage(self, pid: int) -> tuple[int, int, str]:
        """(article_rowid, chunk_no, text) of passage `pid` (a FAISS / BM25 id)."""
        rows = self._rows("SELECT article_rowid, chunk_no, text FROM passages WHERE pid = ?", [int(pid)])
        if not rows:
            raise KeyError(pid)
        return rows[0]

    def article_by_rowid(self, rowid: int) -> Article:
        rows = self._rows(f"SELECT {_ARTICLE_COLS} FROM articles WHERE rowid = ?", [int(rowid)])
        if not rows:
            raise KeyError(rowid)
        return _article(rows[0])

    def articles_for_passages(self, pids: Iterable[int]) -> dict[int, Article]:
        """{pid: Article} for many passage ids in one query (unknown ids are left out)."""
        pids = [int(p) for p in pids]
        if not pids:
            return {}
        marks = ",".join("?" * len(pids))
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLS.split(","))
        rows = self._rows(f"SELECT p.pid, {cols} FROM passages p JOIN articles a ON a.rowid = p.article_rowid "
                          f"WHERE p.pid IN ({marks})", pids)
        return {r[0]: _article(r[1:]) for r in rows}

    def passages_of(self, article_id: str) -> list[tuple[int, str]]:
        """[(pid, text)] of one article, in chunk order."""
        return self._rows("SELECT p.pid, p.text FROM passages p JOIN articles a ON a.rowid = p.article_rowid "
                          "WHERE a.id = ? ORDER BY p.chunk_no", [article_id])

    def rows_by_id(self) -> dict[str, tuple[int, str]]:
        """{article id: (rowid, sha256)} of every article."""
        return {r[0]: (r[1], r[2]) for r in self._rows("SELECT id, rowid, sha256 FROM articles")}

    def has_timeline(self) -> bool:
        return bool(self._rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'validity'"))

    def validity(self) -> dict[int, list[tuple[str | None, str | None, str, bool]]]:
        """{article_rowid: [(valid_from, valid_to, edition, gap)] oldest first} ({} for older stores)."""
        if not self.has_timeline():
            return {}
        out: dict[int, list] = {}
        for rowid, vf, vt, ed, gap in self._rows("SELECT article_rowid, valid_from, valid_to, edition, gap FROM validity "
                                                 "ORDER BY article_rowid, COALESCE(valid_from, '')"):
            out.setdefault(rowid, []).append((vf, vt, ed, bool(gap)))
        return out

    def act_dates(self) -> dict[str, tuple[str | None, str | None]]:
        """{act code: (in_force_from, in_force_to)} ({} for older stores)."""
        if not self.has_timeline():
            return {}
        return {r[0]: (r[1], r[2]) for r in self._rows("SELECT code, in_force_from, in_force_to FROM act_dates")}

    def versions(self, act_code: str, number: str, lang: str) -> list[tuple[Article, tuple]]:
        """Every version of one article: [(Article, (valid_from, valid_to, edition, gap, caused_by))] oldest first."""
        rows = self._rows(f"SELECT rowid, {_ARTICLE_COLS} FROM articles WHERE act_code = ? AND number = ? AND lang = ?",
                          [act_code, number, lang])
        out = []
        for r in rows:
            art = _article(r[1:])
            spans = self._rows("SELECT valid_from, valid_to, edition, gap, caused_by FROM validity WHERE article_rowid = ?",
                               [r[0]]) if self.has_timeline() else []
            for vf, vt, ed, gap, caused in spans or [(None, None, "", 0, None)]:
                out.append((art, (vf, vt, ed, bool(gap), caused)))
        return sorted(out, key=lambda x: x[1][0] or "")

    def passage_table(self) -> dict[int, list[tuple[int, str]]]:
        """{article_rowid: [(pid, text)] in chunk order} of every passage."""
        out: dict[int, list[tuple[int, str]]] = {}
        for rowid, pid, text in self._rows("SELECT article_rowid, pid, text FROM passages ORDER BY article_rowid, chunk_no"):
            out.setdefault(rowid, []).append((pid, text))
        return out


def write_store(path: str | Path, acts: list[dict], articles: list[tuple[int, Article]],
                passages: list[tuple[int, int, int, str]], base: str | Path | None = None,
                removed_pids: Iterable[int] = (), validity: Iterable[tuple] = ()) -> None:
    """Write a version's articles.sqlite in ONE transaction.

    `acts`: act dicts; `articles`: every (rowid, Article) of the version; `passages`: the new
    (pid, article_rowid, chunk_no, text) rows. Without `base` the file is new and `passages`
    are all of them. With `base` (the previous version's store) the file starts as a copy of
    it: `removed_pids` are deleted and `passages` added, in the passages table and in the
    FTS table alike (an older store without the FTS table gets one for all its passages).
    `validity`: every (article_rowid, valid_from, valid_to, edition, gap, caused_by) row (index/timeline.py).
    """
    path = Path(path)
    if path.exists():
        path.unlink()
    if base is not None:
        shutil.copyfile(base, path)
    by_rowid = {rowid: a for rowid, a in articles}
    removed = [int(p) for p in removed_pids]
    db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit below
    try:
        db.execute("BEGIN IMMEDIATE")
        fill_all = False
        if base is None:
            for stmt in _SCHEMA:
                db.execute(stmt)
        elif not lexical.has_table(db):
            db.execute(lexical.SCHEMA)
            fill_all = True
        for stmt in _TIMELINE_SCHEMA:
            db.execute(stmt)
        db.execute("DELETE FROM validity")
        db.executemany("INSERT INTO validity VALUES (?, ?, ?, ?, ?, ?)", [tuple(v) for v in validity])
        db.execute("DELETE FROM act_dates")
        db.executemany("INSERT INTO act_dates VALUES (?, ?, ?)",
                       [(a["code"], a.get("in_force_from"), a.get("in_force_to")) for a in acts])
        db.execute("DELETE FROM acts")
        db.executemany(
            "INSERT INTO acts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(a["code"], a.get("title_ru"), a.get("title_kz"), a.get("act_type"), a["status"], a.get("status_text"),
              a.get("url"), a.get("url_kaz"), a.get("folder"), json.dumps(a.get("langs", []))) for a in acts],
        )
        db.execute("DELETE FROM articles")
        db.executemany(
            f"INSERT INTO articles (rowid, {_ARTICLE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(rowid, a.id, a.act_code, a.act_title, a.number, a.title, a.text, a.lang, a.url, a.status, a.sha256,
              a.position, a.source) for rowid, a in articles],
        )
        db.executemany("DELETE FROM passages WHERE pid = ?", [(p,) for p in removed])
        db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?)", passages)
        if fill_all:
            passages = db.execute("SELECT pid, article_rowid, chunk_no, text FROM passages").fetchall()
        else:
            lexical.remove_rows(db, removed)
        lexical.add_rows(db, (_fts_row(pid, by_rowid[rowid], text) for pid, rowid, _, text in passages))
        orphans = db.execute("SELECT COUNT(*) FROM passages WHERE article_rowid NOT IN (SELECT rowid FROM articles)").fetchone()[0]
        n_pass = db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        n_fts = db.execute(f"SELECT COUNT(*) FROM {lexical.TABLE}").fetchone()[0]
        if orphans or n_pass != n_fts:
            raise RuntimeError(f"store write out of step: {orphans} passages without article, {n_pass} passages, {n_fts} FTS rows")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()


def _fts_row(pid: int, art: Article, passage: str) -> tuple:
    """The FTS row of one passage: its article's act title and heading, and the passage body
    (the passage text without its header line)."""
    return lexical.fts_row(pid, art.act_title, article_heading(art), passage.partition("\n")[2], art.lang)


# ---------------------------------------------------------------- opened index


def config_from_manifest(manifest: dict) -> IndexConfig:
    from lexkz.config import from_dict

    stored = {**LEGACY_SHAPING, **manifest.get("config", {})}  # an older index was built without the newer fields
    return from_dict(IndexConfig, stored, where="the index manifest")


def check_embedding(manifest: dict, requested: str | None, index_dir: str | Path = "INDEX") -> None:
    """Refuse (exit 4) when `requested` names another embedding model than the index was built with."""
    if requested is None:
        return
    built = manifest["embedding"]["model"]
    if requested.strip() != built:
        raise LexkzError(
            f"the index at {index_dir} was built with embedding model {built!r}, not {requested!r}: "
            f"drop --embedding (the index's own model is used), or rebuild it with "
            f"`lexkz index build --corpus DIR --index {index_dir} --embedding {requested}`", 4)


@dataclass
class Index:
    """One opened index version. Stores load lazily on first use."""

    index_dir: Path
    version_dir: Path
    manifest: dict
    config: IndexConfig = field(init=False)

    def __post_init__(self):
        self.config = config_from_manifest(self.manifest)

    @property
    def version(self) -> int:
        return int(self.manifest["version"])

    @cached_property
    def articles(self) -> ArticleStore:
        return ArticleStore(self.version_dir / STORE_FILE)

    @cached_property
    def lexical(self) -> "lexical.FtsLexical":
        if self.manifest.get("lexical", {}).get("kind") != lexical.KIND:
            corpus = self.manifest.get("corpus", {}).get("path") or "DIR"
            model = self.manifest.get("embedding", {}).get("model", "MODEL")
            raise LexkzError(
                f"the index version {self.version_dir} was written by an older lexkz: its lexical side is a pickled "
                f"BM25 ({LEGACY_LEXICAL_FILE}), which lexkz never loads (a pickle can run code). Add the SQLite FTS5 "
                f"table (stored passages and vectors are kept) with `lexkz index update --corpus {corpus} --index "
                f"{self.index_dir}`, or rebuild with `lexkz index build --corpus {corpus} --index {self.index_dir} "
                f"--embedding {model}`", 3)
        return lexical.FtsLexical(self.version_dir / STORE_FILE)

    @cached_property
    def dense(self):
        """The FAISS index, loaded after its file is checked against the recorded sha256."""
        from retrieval.dense import FaissDenseIndex

        check_hashes(self.version_dir, self.manifest, names=(DENSE_FILE, DENSE_META_FILE))
        return FaissDenseIndex.load(self.version_dir / DENSE_FILE)

    def embedder(self):
        """The embedder this index was built with (same model and prefixes)."""
        from retrieval.embedders import get_embedder

        emb = self.manifest["embedding"]
        return get_embedder(emb["model"], query_prefix=emb.get("query_prefix", ""), passage_prefix=emb.get("passage_prefix", ""))


def open_index(index_dir: str | Path, version: int | None = None) -> Index:
    """Open the live version of INDEX (or `version`); a version folder may be given directly.

    Missing or damaged versions are a LexkzError (exit 3) naming the complete versions on disk
    and `lexkz index restore N`; store files whose size differs from the manifest's record are
    refused (exit 3) before anything loads.
    """
    index_dir = Path(index_dir)
    if (index_dir / MANIFEST_FILE).is_file():  # a version folder itself
        vdir, root = index_dir, index_dir.parent.parent
    else:
        if not index_dir.is_dir():
            raise LexkzError(f"no index at {index_dir} (the folder does not exist): build one with "
                             f"`lexkz index build --corpus DIR --index {index_dir}`", 3)
        if version is None:
            version = current_version(index_dir)
            if version is None:
                raise LexkzError(f"no index at {index_dir} (no {CURRENT_FILE} file): {restore_hint(index_dir)}", 3)
        vdir, root = versions_dir(index_dir) / str(version), index_dir
        if not vdir.is_dir():
            raise LexkzError(f"index version {version} is missing under {versions_dir(index_dir)}: {restore_hint(index_dir)}", 3)
    manifest = read_manifest(vdir)
    check_sizes(vdir, manifest)
    return Index(root, vdir, manifest)


def shaping_differences(stored: IndexConfig, requested: IndexConfig) -> list[str]:
    """Names of vector/passage-shaping settings that differ between two configs."""
    return [f for f in SHAPING_FIELDS if getattr(stored, f) != getattr(requested, f)]
