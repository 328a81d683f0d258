"""Full builds: real SQLite store, real FAISS and BM25 indexes, versions, manifest, lock, CLI errors.

The hashing embedder keeps these tests model-free; the MiniLM build is one slow test.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from filelock import FileLock

from index.build import build_index
from index.chunking import article_passages, chunk_text
from index.config import IndexConfig
from index.ingest import read_corpus
from index.store import current_version, list_versions, open_index
from lexkz.cli import main
from tests.fixture_corpus import ACTS, CONSUMER, LABOUR, OLD_CONST, write_fixture_corpus

HASHING = IndexConfig(embedding="hashing:128")


def top_article(ix, query: str, k: int = 3, via: str = "dense") -> list[str]:
    if via == "dense":
        hits = ix.dense.search(ix.embedder().embed_queries([query])[0], k)
    else:
        hits = ix.lexical.search(query, k)
    by_pid = ix.articles.articles_for_passages([pid for pid, _ in hits])
    return [by_pid[pid].id for pid, _ in hits]


def test_build_stores_articles_passages_and_vectors(fixture_corpus, tmp_path):
    report = build_index(fixture_corpus, tmp_path / "ix", HASHING, progress=False)
    assert report["version"] == 1 and report["counts"]["articles"] == 15
    ix = open_index(tmp_path / "ix")
    assert ix.version == 1 and ix.version_dir == tmp_path / "ix" / "versions" / "1"
    snap = read_corpus(fixture_corpus)
    # every article is stored with its hash; every passage maps back to its article
    assert ix.articles.count() == len(snap.articles) == 15
    for art in snap.articles:
        stored = ix.articles.get(art.id)
        assert stored == art
        assert [t for _, t in ix.articles.passages_of(art.id)] == article_passages(art, 1200, 150)
    n_pass = ix.articles.passage_count()
    assert ix.dense.ntotal == len(ix.lexical) == n_pass == report["counts"]["passages"]
    assert sorted(ix.dense.ids().tolist()) == sorted(ix.lexical.ids())
    # the stored vector of a passage is its embedding
    pid, text = ix.articles.passages_of(f"{CONSUMER}/30/rus")[0]
    np.testing.assert_allclose(ix.dense.get_vectors([pid])[0], ix.embedder().embed_passages([text])[0], atol=1e-6)
    # the right article comes first, dense and lexical (different word forms: stemming)
    assert top_article(ix, "замена товара ненадлежащего качества")[0] == f"{CONSUMER}/30/rus"
    assert top_article(ix, "потребовать заменить товары ненадлежащие", via="lexical")[0] == f"{CONSUMER}/30/rus"
    assert ix.articles.find(act_code=LABOUR, number="88-1", lang="kaz")[0].title == "Қосымша демалыстар"
    acts = {a["code"]: a for a in ix.articles.acts()}
    assert acts[OLD_CONST]["status"] == "repealed" and acts[LABOUR]["langs"] == ["rus", "kaz"]
    assert ix.articles.get(f"{OLD_CONST}/1/rus").status == "repealed"


def test_manifest_records_model_counts_hashes_config(fixture_corpus, tmp_path):
    build_index(fixture_corpus, tmp_path / "ix", IndexConfig(embedding="hashing:64", query_prefix="q: ",
                                                             passage_prefix="p: "), progress=False)
    m = json.loads((tmp_path / "ix" / "versions" / "1" / "manifest.json").read_text())
    assert m["version"] == 1 and m["kind"] == "build" and m["created_at"]
    assert m["embedding"] == {"model": "hashing:64", "name": "hashing:64", "query_prefix": "q: ",
                              "passage_prefix": "p: ", "dim": 64}
    assert m["counts"]["articles"] == 15 and m["counts"]["by_lang"] == {"rus": 10, "kaz": 5}
    snap = read_corpus(fixture_corpus)
    assert m["articles"] == {a.id: a.sha256 for a in snap.articles}
    assert m["corpus"]["revision"] == snap.revision
    assert m["config"]["embedding"] == "hashing:64" and m["config"]["chunk_chars"] == 1200
    assert m["dense"]["kind"] == "flat"
    ix = open_index(tmp_path / "ix")
    assert ix.config.passage_prefix == "p: " and ix.embedder().query_prefix == "q: "


def test_chunking_long_article_maps_back(tmp_path):
    paragraphs = [f"{i}. " + " ".join(f"слово{i}_{j}" for j in range(40)) for i in range(30)]
    acts = {CONSUMER: {**ACTS[CONSUMER], "rus": ACTS[CONSUMER]["rus"] + "\n### Статья 40. Длинная статья\n\n"
                        + "\n\n".join(paragraphs) + "\n"}}
    root = write_fixture_corpus(tmp_path / "c", acts)
    build_index(root, tmp_path / "ix", IndexConfig(embedding="hashing:64", chunk_chars=600, chunk_overlap=100),
                progress=False)
    ix = open_index(tmp_path / "ix")
    parts = ix.articles.passages_of(f"{CONSUMER}/40/rus")
    assert len(parts) > 5
    for no, (pid, text) in enumerate(parts):
        rowid, chunk_no, _ = ix.articles.passage(pid)
        assert chunk_no == no and ix.articles.article_by_rowid(rowid).id == f"{CONSUMER}/40/rus"
        assert text.startswith("О защите прав потребителей (тестовый). Статья 40. Длинная статья\n")
        assert len(text.split("\n", 1)[1]) <= 600
    # every paragraph is in some passage; neighbours overlap
    joined = "\n".join(t for _, t in parts)
    assert all(p in joined for p in paragraphs)
    body = [t.split("\n", 1)[1] for _, t in parts]
    assert body[0][-40:].split()[-1] in body[1]
    # a passage from the middle of the long article is found by its own words
    assert top_article(ix, "слово17_5 слово17_6 слово17_7", via="lexical")[0] == f"{CONSUMER}/40/rus"


def test_chunk_text_short_and_long():
    assert chunk_text("короткий текст") == ["короткий текст"]
    long = " ".join(["абв"] * 1000)  # one paragraph, 3999 chars
    chunks = chunk_text(long, 500, 50)
    assert all(len(c) <= 500 for c in chunks) and len(chunks) >= 8


def test_versions_switch_and_keep_previous(fixture_corpus, tmp_path):
    ix_dir = tmp_path / "ix"
    for _ in range(3):
        build_index(fixture_corpus, ix_dir, HASHING, progress=False)
    assert current_version(ix_dir) == 3 and (ix_dir / "CURRENT").read_text().strip() == "3"
    assert list_versions(ix_dir) == [2, 3]  # keep_versions=2: the previous one stays
    assert open_index(ix_dir).manifest["previous_version"] == 2
    assert open_index(ix_dir, version=2).articles.count() == 15
    assert not [p for p in (ix_dir / "versions").iterdir() if p.name.startswith(".tmp")]


def test_second_writer_is_refused(fixture_corpus, tmp_path, capsys):
    ix_dir = tmp_path / "ix"
    build_index(fixture_corpus, ix_dir, HASHING, progress=False)
    holder = FileLock(str(ix_dir / ".lock"))
    with holder:
        rc = main(["index", "update", "--corpus", str(fixture_corpus), "--index", str(ix_dir), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 4 and "lock" in err and "another lexkz process is writing" in err
        rc = main(["index", "build", "--corpus", str(fixture_corpus), "--index", str(ix_dir), "--embedding",
                   "hashing:128", "--no-progress"])
        assert rc == 4
    assert list_versions(ix_dir) == [1] and current_version(ix_dir) == 1
    assert main(["index", "build", "--corpus", str(fixture_corpus), "--index", str(ix_dir), "--embedding",
                 "hashing:128", "--no-progress"]) == 0


def test_missing_index_errors(tmp_path, capsys, fixture_corpus):
    rc = main(["index", "info", "--index", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert rc == 3 and "no index at" in err and "lexkz index build" in err
    rc = main(["index", "update", "--corpus", str(fixture_corpus), "--index", str(tmp_path / "none"), "--no-progress"])
    assert rc == 3 and "no index at" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_model_mismatch_is_refused(fixture_corpus, tmp_path, capsys):
    ix_dir = tmp_path / "ix"
    build_index(fixture_corpus, ix_dir, HASHING, progress=False)
    rc = main(["index", "update", "--corpus", str(fixture_corpus), "--index", str(ix_dir), "--embedding", "minilm"])
    err = capsys.readouterr().err
    assert rc == 4
    assert "built with embedding model 'hashing:128', not 'minilm'" in err
    assert "drop --embedding" in err and f"lexkz index build --corpus DIR --index {ix_dir} --embedding minilm" in err
    # same model named: fine (nothing changed, nothing written)
    assert main(["index", "update", "--corpus", str(fixture_corpus), "--index", str(ix_dir), "--embedding",
                 "hashing:128"]) == 0
    # other chunking from a config file: refused too
    toml = tmp_path / "c.toml"
    toml.write_text("[index]\nchunk_chars = 800\n")
    rc = main(["index", "update", "--corpus", str(fixture_corpus), "--index", str(ix_dir), "--config", str(toml)])
    assert rc == 4 and "chunk_chars=1200" in capsys.readouterr().err
    assert list_versions(ix_dir) == [1]


def test_failed_build_leaves_index_alone(fixture_corpus, tmp_path, capsys):
    ix_dir = tmp_path / "ix"
    build_index(fixture_corpus, ix_dir, HASHING, progress=False)
    broken = write_fixture_corpus(tmp_path / "broken")
    (broken / CONSUMER / "meta.yaml").unlink()
    rc = main(["index", "build", "--corpus", str(broken), "--index", str(ix_dir), "--embedding", "hashing:128"])
    assert rc == 2 and "no meta.yaml" in capsys.readouterr().err
    ix = open_index(ix_dir)
    assert ix.version == 1 and ix.articles.count() == 15
    assert top_article(ix, "замена товара ненадлежащего качества")[0] == f"{CONSUMER}/30/rus"
    # the store is a plain SQLite file others can read
    with sqlite3.connect(ix.version_dir / "articles.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM passages").fetchone()[0] == ix.dense.ntotal


def test_info_cli(fixture_corpus, tmp_path, capsys):
    ix_dir = tmp_path / "ix"
    assert main(["index", "build", "--corpus", str(fixture_corpus), "--index", str(ix_dir), "--embedding",
                 "hashing:64", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "version 1" in out and "15 articles" in out
    assert main(["index", "info", "--index", str(ix_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == 1 and info["embedding"]["model"] == "hashing:64"
    assert info["counts"]["articles"] == 15 and {a["code"] for a in info["acts"]} == {LABOUR, CONSUMER, OLD_CONST}
    assert main(["index", "info", "--index", str(ix_dir)]) == 0
    text = capsys.readouterr().out
    assert "hashing:64" in text and OLD_CONST in text and "repealed" in text


@pytest.mark.slow
def test_minilm_build_finds_article(fixture_corpus, tmp_path):
    """One integration build with the bundled MiniLM (real model, 384-d)."""
    build_index(fixture_corpus, tmp_path / "ix", IndexConfig(embedding="minilm"), progress=False)
    ix = open_index(tmp_path / "ix")
    assert ix.manifest["embedding"]["dim"] == 384 and ix.dense.ntotal == ix.articles.passage_count()
    pid, text = ix.articles.passages_of(f"{CONSUMER}/30/rus")[0]
    hits = ix.dense.search(ix.embedder().embed_passages([text])[0], 1)
    assert hits[0][0] == pid and hits[0][1] > 0.99


@pytest.mark.slow
@pytest.mark.corpus
def test_full_shared_corpus_build_hashing(shared_corpus, tmp_path):
    report = build_index(shared_corpus, tmp_path / "ix", IndexConfig(embedding="hashing:256"), progress=False)
    ix = open_index(tmp_path / "ix")
    snap = read_corpus(shared_corpus)
    assert ix.articles.count() == len(snap.articles) == report["counts"]["articles"]
    # BM25 indexes every passage; the dense side the first passage of each stored article text
    # (dense_max_passages = 1 by default)
    first_passages = {plist[0][0] for plist in ix.articles.passage_table().values() if plist}
    assert set(ix.dense.ids()) == first_passages and ix.articles.passage_count() == len(ix.lexical) > len(first_passages)
    assert top_article(ix, "Статья 188. Кража тайное хищение чужого имущества", via="lexical")[0] == "K1400000226/188/rus"


def test_dense_side_embeds_no_footnotes_and_at_most_n_passages(tmp_path):
    """Footnotes stay in the stored text and BM25, never in what is embedded; dense_max_passages
    caps the embedded passages per article while BM25 keeps them all."""
    from index.chunking import dense_passage_text, strip_footnotes

    text = "1. Работник имеет право.\n\n> *Сноска. Статья 5 с изменениями, внесенными Законом РК от 01.01.2020.*\n\n2. Ескерту здесь не сноска."
    assert strip_footnotes(text) == "1. Работник имеет право.\n\n2. Ескерту здесь не сноска."
    assert strip_footnotes("Ескерту. 8-бапқа өзгерістер енгізілді - ҚР 19.12.2020.\nМәтін.") == "Мәтін."
    assert dense_passage_text("Header\n> *Сноска. Исключена.*", strip=True) == "Header"

    texts = []

    class Recording:
        name, dim, query_prefix, passage_prefix = "hashing:64", 64, "", ""

        def __init__(self):
            from retrieval.embedders import get_embedder
            self.inner = get_embedder("hashing:64")

        def embed_passages(self, batch, batch_size=32, progress=False):
            texts.extend(batch)
            return self.inner.embed_passages(batch)

        def embed_queries(self, batch, max_tokens=None):
            return self.inner.embed_queries(batch)

    from tests.fixture_corpus import CONSUMER, write_fixture_corpus

    corpus = write_fixture_corpus(tmp_path / "c")
    with open(corpus / CONSUMER / "rus.md", "a", encoding="utf-8") as fh:  # make the last article long
        fh.write("".join(f"\n{i}. Продавец обязан вернуть деньги покупателю в течение десяти дней, пункт {i}.\n" for i in range(3, 40)))
    cfg = IndexConfig(embedding="hashing:64", chunk_chars=300, chunk_overlap=0, dense_max_passages=1)
    build_index(corpus, tmp_path / "ix", cfg, embedder=Recording(), progress=False)
    ix = open_index(tmp_path / "ix")
    n_articles = ix.articles.count()
    assert ix.dense.ntotal == n_articles == len(texts) < ix.articles.passage_count() == len(ix.lexical)
    assert not any("Сноска" in t for t in texts)
