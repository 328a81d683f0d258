"""The index on disk: versioned folders, the SQLite article store, and `open_index`.

    INDEX/
      CURRENT               the live version number (replaced atomically)
      versions/<N>/         articles.sqlite  lexical.pkl  dense.faiss  manifest.json
      .lock                 held by a writer (build/update)

A version folder is written under a temporary name and renamed into place before CURRENT
switches to it, so a reader only ever sees complete versions; the previous version is kept.

`articles.sqlite` has three tables: `acts`, `articles` (rowid = article row id) and
`passages` (pid = the id used by FAISS and BM25; `article_rowid` maps it back).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator

from index.article import Article
from index.config import LEGACY_SHAPING, SHAPING_FIELDS, IndexConfig
from lexkz.errors import LexkzError

DEFAULT_INDEX_DIR = ".lexkz/index"  # where every command looks when --index is not given
STORE_FILE = "articles.sqlite"
LEXICAL_FILE = "lexical.pkl"
DENSE_FILE = "dense.faiss"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"

_SCHEMA = """
CREATE TABLE acts (
  code TEXT PRIMARY KEY, title_ru TEXT, title_kz TEXT, act_type TEXT, status TEXT NOT NULL,
  status_text TEXT, url TEXT, url_kaz TEXT, folder TEXT, langs TEXT
);
CREATE TABLE articles (
  rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, act_code TEXT NOT NULL, act_title TEXT,
  number TEXT NOT NULL, title TEXT, text TEXT NOT NULL, lang TEXT NOT NULL, url TEXT, status TEXT NOT NULL,
  sha256 TEXT NOT NULL, position INTEGER, source TEXT
);
CREATE INDEX articles_act ON articles (act_code, number, lang);
CREATE TABLE passages (
  pid INTEGER PRIMARY KEY, article_rowid INTEGER NOT NULL REFERENCES articles (rowid),
  chunk_no INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX passages_article ON passages (article_rowid);
"""

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

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        return self._db.execute(sql, tuple(args)).fetchall()

    def get(self, article_id: str) -> Article | None:
        rows = self._rows(f"SELECT {_ARTICLE_COLS} FROM articles WHERE id = ?", [article_id])
        return _article(rows[0]) if rows else None

    def find(self, act_code: str | None = None, number: str | None = None, lang: str | None = None) -> list[Article]:
        where, args = [], []
        for col, val in (("act_code", act_code), ("number", number), ("lang", lang)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = f"SELECT {_ARTICLE_COLS} FROM articles" + (f" WHERE {' AND '.join(where)}" if where else "")
        return [_article(r) for r in self._rows(sql + " ORDER BY act_code, lang, position", args)]

    def iter_articles(self, lang: str | None = None, act_code: str | None = None) -> Iterator[Article]:
        yield from self.find(act_code=act_code, lang=lang)

    def acts(self) -> list[dict]:
        cols = ["code", "title_ru", "title_kz", "act_type", "status", "status_text", "url", "url_kaz", "folder", "langs"]
        out = []
        for row in self._rows(f"SELECT {', '.join(cols)} FROM acts ORDER BY code"):
            d = dict(zip(cols, row))
            d["langs"] = json.loads(d["langs"] or "[]")
            out.append(d)
        return out

    def count(self, lang: str | None = None) -> int:
        if lang is None:
            return self._rows("SELECT COUNT(*) FROM articles")[0][0]
        return self._rows("SELECT COUNT(*) FROM articles WHERE lang = ?", [lang])[0][0]

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

    def passage_table(self) -> dict[int, list[tuple[int, str]]]:
        """{article_rowid: [(pid, text)] in chunk order} of every passage."""
        out: dict[int, list[tuple[int, str]]] = {}
        for rowid, pid, text in self._rows("SELECT article_rowid, pid, text FROM passages ORDER BY article_rowid, chunk_no"):
            out.setdefault(rowid, []).append((pid, text))
        return out


def write_store(path: str | Path, acts: list[dict], articles: list[tuple[int, Article]],
                passages: list[tuple[int, int, int, str]]) -> None:
    """Write a new articles.sqlite: acts, (rowid, Article) rows, (pid, article_rowid, chunk_no, text) rows."""
    path = Path(path)
    if path.exists():
        path.unlink()
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO acts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(a["code"], a.get("title_ru"), a.get("title_kz"), a.get("act_type"), a["status"], a.get("status_text"),
              a.get("url"), a.get("url_kaz"), a.get("folder"), json.dumps(a.get("langs", []))) for a in acts],
        )
        db.executemany(
            f"INSERT INTO articles (rowid, {_ARTICLE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(rowid, a.id, a.act_code, a.act_title, a.number, a.title, a.text, a.lang, a.url, a.status, a.sha256,
              a.position, a.source) for rowid, a in articles],
        )
        db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?)", passages)
        db.commit()
    finally:
        db.close()


# ---------------------------------------------------------------- versions


def versions_dir(index_dir: str | Path) -> Path:
    return Path(index_dir) / "versions"


def current_version(index_dir: str | Path) -> int | None:
    """The live version number, or None when INDEX has no CURRENT yet."""
    f = Path(index_dir) / CURRENT_FILE
    if not f.is_file():
        return None
    text = f.read_text().strip()
    if not text.isdigit():
        raise LexkzError(f"{f} is damaged (holds {text[:40]!r}, expected a version number): "
                         f"write the number of a folder under {versions_dir(index_dir)} into it, or rebuild", 3)
    return int(text)


def list_versions(index_dir: str | Path) -> list[int]:
    d = versions_dir(index_dir)
    if not d.is_dir():
        return []
    return sorted(int(p.name) for p in d.iterdir() if p.is_dir() and p.name.isdigit())


def switch_current(index_dir: str | Path, version: int) -> None:
    """Point CURRENT at `version` atomically (temp file + rename)."""
    index_dir = Path(index_dir)
    tmp = index_dir / f"{CURRENT_FILE}.tmp-{os.getpid()}"
    tmp.write_text(f"{version}\n")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT_FILE)


def prune_versions(index_dir: str | Path, keep: int) -> list[int]:
    """Delete all but the newest `keep` versions (never the live one); returns the deleted ones."""
    live = current_version(index_dir)
    versions = list_versions(index_dir)
    doomed = [v for v in versions[:-keep] if v != live] if keep > 0 else []
    for v in doomed:
        shutil.rmtree(versions_dir(index_dir) / str(v), ignore_errors=True)
    return doomed


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
    def lexical(self):
        from retrieval.lexical import Bm25Lexical

        return Bm25Lexical.load(self.version_dir / LEXICAL_FILE)

    @cached_property
    def dense(self):
        from retrieval.dense import FaissDenseIndex

        return FaissDenseIndex.load(self.version_dir / DENSE_FILE)

    def embedder(self):
        """The embedder this index was built with (same model and prefixes)."""
        from retrieval.embedders import get_embedder

        emb = self.manifest["embedding"]
        return get_embedder(emb["model"], query_prefix=emb.get("query_prefix", ""), passage_prefix=emb.get("passage_prefix", ""))

    def check_embedding(self, requested: str | None) -> None:
        check_embedding(self.manifest, requested, self.index_dir)


def read_manifest(version_dir: Path) -> dict:
    f = version_dir / MANIFEST_FILE
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LexkzError(f"{f} is missing: the index version is incomplete; rebuild with `lexkz index build`", 3) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LexkzError(f"{f} is unreadable ({exc}): rebuild with `lexkz index build`", 3) from exc


def open_index(index_dir: str | Path, version: int | None = None) -> Index:
    """Open the live version of INDEX (or `version`); a version folder may be given directly."""
    index_dir = Path(index_dir)
    if (index_dir / MANIFEST_FILE).is_file():  # a version folder itself
        return Index(index_dir.parent.parent, index_dir, read_manifest(index_dir))
    hint = f"build one with `lexkz index build --corpus DIR --index {index_dir}`"
    if not index_dir.is_dir():
        raise LexkzError(f"no index at {index_dir} (the folder does not exist): {hint}", 3)
    if version is None:
        version = current_version(index_dir)
        if version is None:
            raise LexkzError(f"no index at {index_dir} (no {CURRENT_FILE} file): {hint}", 3)
    vdir = versions_dir(index_dir) / str(version)
    if not vdir.is_dir():
        raise LexkzError(f"index version {version} is missing under {versions_dir(index_dir)}: {hint}", 3)
    return Index(index_dir, vdir, read_manifest(vdir))


def shaping_differences(stored: IndexConfig, requested: IndexConfig) -> list[str]:
    """Names of vector/passage-shaping settings that differ between two configs."""
    return [f for f in SHAPING_FIELDS if getattr(stored, f) != getattr(requested, f)]
