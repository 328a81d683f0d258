"""Index integrity on real files: recorded hashes, `lexkz index verify`, damaged FAISS and SQLite
files, NaN vectors refused at write time, kill -9 of a real writer between the version rename and
the CURRENT switch, version folders refused as index roots, a deleted CURRENT and
`lexkz index restore N`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index, update_index
from index.config import IndexConfig
from index.integrity import sha256_file, verify_index
from index.store import current_version, list_versions, open_index
from lexkz.cli import main
from lexkz.errors import LexkzError
from retrieval.embedders import get_embedder
from retrieval.hybrid import HybridRetriever
from tests.fixture_corpus import CONSUMER, LABOUR, write_fixture_corpus

CFG = IndexConfig(embedding="hashing:64")
ROOT = Path(__file__).resolve().parent.parent


def change_consumer(root: Path, old: str, new: str) -> None:
    f = root / CONSUMER / "rus.md"
    f.write_text(f.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


@pytest.fixture()
def built(tmp_path):
    root = write_fixture_corpus(tmp_path / "c")
    ix_dir = tmp_path / "ix"
    build_index(root, ix_dir, CFG, progress=False)
    return root, ix_dir


def damage_vector(ix_dir: Path, article_id: str) -> Path:
    """Overwrite the bytes of one stored vector in dense.faiss with NaNs (same file size)."""
    ix = open_index(ix_dir)
    pid = ix.articles.passages_of(article_id)[0][0]
    vec = ix.dense.get_vectors([pid])[0].astype(np.float32).tobytes()
    path = ix.version_dir / "dense.faiss"
    data = path.read_bytes()
    assert data.count(vec) == 1
    path.write_bytes(data.replace(vec, np.full(len(vec) // 4, np.nan, dtype=np.float32).tobytes()))
    return path


def test_manifest_records_every_store_file_and_verify_passes(built, capsys):
    _, ix_dir = built
    vdir = ix_dir / "versions" / "1"
    m = json.loads((vdir / "manifest.json").read_text())
    assert set(m["files"]) == {"articles.sqlite", "dense.faiss", "dense.faiss.json"}
    for name, rec in m["files"].items():
        assert rec == {"size": (vdir / name).stat().st_size, "sha256": sha256_file(vdir / name)}
    assert m["lexical"]["kind"] == "fts5" and not (vdir / "lexical.pkl").exists()
    assert main(["index", "verify", "--index", str(ix_dir)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")
    assert main(["index", "verify", "--index", str(ix_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["live"] == 1 and report["problems"] == []


def test_overwritten_vectors_fail_verify_open_and_update(built, capsys):
    root, ix_dir = built
    damage_vector(ix_dir, f"{CONSUMER}/30/rus")
    # verify: hash mismatch and the NaN vector, naming its article; exit 3
    assert main(["index", "verify", "--index", str(ix_dir)]) == 3
    out = capsys.readouterr().out
    assert "dense.faiss does not match its recorded sha256" in out and "NaN or inf" in out
    assert f"{CONSUMER}/30/rus" in out and "DAMAGED" in out
    # open: the size is right (cheap check passes), loading the dense side refuses
    ix = open_index(ix_dir)
    with pytest.raises(LexkzError, match="damaged.*dense.faiss does not match") as e:
        ix.dense  # noqa: B018
    assert e.value.exit_code == 3 and "lexkz index verify" in str(e.value)
    with pytest.raises(LexkzError) as e:
        HybridRetriever(ix_dir).retrieve("замена товара", mode="hybrid")
    assert e.value.exit_code == 3
    # the lexical side still answers (its own file is intact)
    assert HybridRetriever(ix_dir).retrieve("замена товара ненадлежащего качества", mode="lexical")[0].number == "30"
    # an update never copies the damage into a new version
    change_consumer(root, "в течение десяти дней", "в течение семи дней")
    rc = main(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--no-progress"])
    assert rc == 3 and "dense.faiss does not match its recorded sha256" in capsys.readouterr().err
    assert list_versions(ix_dir) == [1] and current_version(ix_dir) == 1


def test_nan_in_a_version_without_hashes_is_not_carried_forward(built, capsys):
    """An index written before file hashes existed: the NaN rows themselves stop the update."""
    root, ix_dir = built
    damage_vector(ix_dir, f"{LABOUR}/113/rus")
    mpath = ix_dir / "versions" / "1" / "manifest.json"
    m = json.loads(mpath.read_text())
    del m["files"]
    mpath.write_text(json.dumps(m))
    change_consumer(root, "в течение десяти дней", "в течение семи дней")
    rc = main(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 3 and "live version 1 is damaged" in err and f"{LABOUR}/113/rus" in err and "NaN or inf" in err
    assert list_versions(ix_dir) == [1]


class NanEmbedder:
    """The hashing embedder, except that passages holding `word` come out as NaN."""

    def __init__(self, word: str):
        self.inner = get_embedder("hashing:64")
        self.name, self.dim, self.word = "hashing:64", 64, word

    def embed_passages(self, texts, batch_size=32, progress=False):
        vecs = self.inner.embed_passages(texts)
        vecs[[i for i, t in enumerate(texts) if self.word in t]] = np.nan
        return vecs

    def embed_queries(self, texts, max_tokens=None):
        return self.inner.embed_queries(texts)


def test_nan_vectors_are_refused_at_write_time(tmp_path, built):
    root = write_fixture_corpus(tmp_path / "c2")
    with pytest.raises(LexkzError, match=f"NaN or inf values in 1 vectors, of articles {CONSUMER}/31/rus") as e:
        build_index(root, tmp_path / "new", CFG, embedder=NanEmbedder("десяти дней"), progress=False)
    assert e.value.exit_code == 3 and list_versions(tmp_path / "new") == [] and current_version(tmp_path / "new") is None
    # an update re-embedding a changed article: refused too, the live version stays
    src, ix_dir = built
    change_consumer(src, "в течение десяти дней", "в течение семи дней")
    with pytest.raises(LexkzError, match=f"of articles {CONSUMER}/31/rus"):
        update_index(src, ix_dir, embedder=NanEmbedder("семи дней"), progress=False)
    assert list_versions(ix_dir) == [1] and not list((ix_dir / "versions").glob(".tmp-*"))


def test_malformed_sqlite_gives_a_clear_error(built, capsys):
    _, ix_dir = built
    store = ix_dir / "versions" / "1" / "articles.sqlite"
    size = store.stat().st_size
    store.write_bytes(os.urandom(size))  # same size: passes the cheap check on open
    for argv in (["index", "info", "--index", str(ix_dir)],
                 ["search", "замена товара", "--index", str(ix_dir), "--mode", "lexical"]):
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 3 and "is damaged" in err and "Traceback" not in err, argv
    assert main(["index", "verify", "--index", str(ix_dir)]) == 3
    assert "articles.sqlite does not match its recorded sha256" in capsys.readouterr().out
    store.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)  # truncated: refused on open
    rc = main(["index", "info", "--index", str(ix_dir)])
    err = capsys.readouterr().err
    assert rc == 3 and f"articles.sqlite has 116 bytes, the manifest recorded {size}" in err


def _writer(argv: list[str], crash_at: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEXKZ_TEST_CRASH_AT": crash_at, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "lexkz.cli", *argv], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("crash_at,leftover", [
    ("after_rename", "versions/2"),  # the new folder is complete, CURRENT still names 1
    ("before_current_rename", "CURRENT.tmp-"),
    ("before_rename", "versions/.tmp-2-"),
])
def test_kill_9_between_rename_and_switch_loses_nothing(built, crash_at, leftover):
    root, ix_dir = built
    change_consumer(root, "в течение десяти дней", "в течение семи дней")
    proc = _writer(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--no-progress"], crash_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # the old version is live and answers; the leftover is there
    assert current_version(ix_dir) == 1
    assert "десяти дней" in open_index(ix_dir).articles.get(f"{CONSUMER}/31/rus").text
    on_disk = [str(p.relative_to(ix_dir)) for p in ix_dir.rglob("*")]
    assert any(p.startswith(leftover) for p in on_disk), on_disk
    report = verify_index(ix_dir)
    assert report["ok"] and report["warnings"]  # nothing damaged; the leftover is reported
    # the next writer removes the leftover, keeps version 1 as the previous one
    rep = update_index(root, ix_dir, progress=False)
    assert rep["cleaned"] and rep["version"] == 2 and rep["previous_version"] == 1
    assert list_versions(ix_dir) == [1, 2] and not [p for p in ix_dir.glob("CURRENT.tmp-*")]
    assert "семи дней" in open_index(ix_dir).articles.get(f"{CONSUMER}/31/rus").text
    # another update: pruning keeps the live version and the one it replaced
    change_consumer(root, "в течение семи дней", "в течение пяти дней")
    rep = update_index(root, ix_dir, progress=False)
    assert rep["version"] == 3 and list_versions(ix_dir) == [2, 3]
    assert open_index(ix_dir).manifest["previous_version"] == 2
    # rollback works
    assert main(["index", "restore", "2", "--index", str(ix_dir)]) == 0
    assert current_version(ix_dir) == 2 and "семи дней" in open_index(ix_dir).articles.get(f"{CONSUMER}/31/rus").text
    assert verify_index(ix_dir)["ok"]


def test_orphan_is_not_kept_in_place_of_the_live_version(built):
    """The landed bug: after a kill between rename and switch, the next update deleted the live
    version, kept the orphan and recorded a previous_version that no longer existed."""
    root, ix_dir = built
    change_consumer(root, "в течение десяти дней", "в течение семи дней")
    assert _writer(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--no-progress"],
                   "after_rename").returncode == -signal.SIGKILL
    for word in ("пяти", "шести"):
        change_consumer(root, "в течение семи дней" if word == "пяти" else "в течение пяти дней", f"в течение {word} дней")
        rep = update_index(root, ix_dir, progress=False)
        live = open_index(ix_dir)
        assert (ix_dir / "versions" / str(live.manifest["previous_version"])).is_dir()
        assert rep["previous_version"] == live.manifest["previous_version"]
    assert list_versions(ix_dir) == [2, 3]


def test_version_folder_is_refused_as_index_root(built, capsys):
    root, ix_dir = built
    vdir = ix_dir / "versions" / "1"
    for cmd in (["update"], ["build", "--embedding", "hashing:64"]):
        rc = main(["index", *cmd, "--corpus", str(root), "--index", str(vdir), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 2 and "is an index version folder, not an index root" in err and f"--index {ix_dir}" in err
    assert not (vdir / "versions").exists() and list_versions(ix_dir) == [1]
    # readers may still open a version folder directly
    assert open_index(vdir).version == 1


def test_deleted_current_names_versions_and_restore(built, capsys):
    root, ix_dir = built
    build_index(root, ix_dir, CFG, progress=False)  # versions 1 and 2
    (ix_dir / "CURRENT").unlink()
    rc = main(["index", "info", "--index", str(ix_dir)])
    err = capsys.readouterr().err
    assert rc == 3 and "complete versions on disk: 1, 2" in err and f"lexkz index restore 2 --index {ix_dir}" in err
    rc = main(["index", "build", "--corpus", str(root), "--index", str(ix_dir), "--embedding", "hashing:64", "--no-progress"])
    assert rc == 4 and "lexkz index restore" in capsys.readouterr().err and list_versions(ix_dir) == [1, 2]
    assert main(["index", "verify", "--index", str(ix_dir)]) == 3
    assert "no CURRENT file" in capsys.readouterr().out
    assert main(["index", "restore", "2", "--index", str(ix_dir)]) == 0
    assert current_version(ix_dir) == 2 and main(["index", "info", "--index", str(ix_dir)]) == 0
    capsys.readouterr()
    # a damaged CURRENT: the same advice; restore repairs it
    (ix_dir / "CURRENT").write_text("garbage")
    assert main(["index", "info", "--index", str(ix_dir)]) == 3
    assert "complete versions on disk: 1, 2" in capsys.readouterr().err
    assert main(["index", "restore", "1", "--index", str(ix_dir)]) == 0 and current_version(ix_dir) == 1
    # restore refuses missing and damaged versions
    assert main(["index", "restore", "7", "--index", str(ix_dir)]) == 3
    damage_vector(ix_dir / "versions" / "2", f"{CONSUMER}/30/rus")
    rc = main(["index", "restore", "2", "--index", str(ix_dir)])
    assert rc == 3 and "version 2 is damaged, not restored" in capsys.readouterr().err
    assert current_version(ix_dir) == 1
