"""Incremental updates: update == rebuild on a real amendment, only changed articles re-embedded,
per-act diff report, and crash safety (an exception inside embedding leaves the old index live)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from index.chunking import dense_passage_text

from index.build import build_index, update_index
from index.config import IndexConfig
from index.ingest import read_corpus
from index.store import current_version, list_versions, open_index
from lexkz.cli import main
from retrieval.embedders import get_embedder
from tests.fixture_corpus import ACTS, CONSUMER, LABOUR, OLD_CONST, write_fixture_corpus

CFG = IndexConfig(embedding="hashing:256", dense_max_passages=0)  # every passage embedded: the update must match a rebuild passage by passage

QUERIES = [
    "право на жизнь",
    "Президент Республики Казахстан является главой государства",
    "Парламент Республики Казахстан Сенат Мажилис",
    "государственный язык казахский русский язык",
    "Конституционный Совет",
    "собственность на землю",
    "свобода слова и творчества цензура запрещается",
    "референдум изменения в Конституцию",
    "Правительство ответственно перед Президентом",
    "суды Республики судьи независимы",
]


class CountingEmbedder:
    """A real embedder that counts what it embeds and can fail on a chosen batch (fault injection)."""

    def __init__(self, spec: str, fail_on_batch: int | None = None):
        self.inner = get_embedder(spec)
        self.name, self.dim = self.inner.name, self.inner.dim
        self.texts: list[str] = []
        self.batches = 0
        self.fail_on_batch = fail_on_batch

    def embed_passages(self, texts, batch_size=32, progress=False):
        self.batches += 1
        if self.fail_on_batch is not None and self.batches >= self.fail_on_batch:
            raise RuntimeError("injected failure inside embedding")
        self.texts.extend(texts)
        return self.inner.embed_passages(texts, batch_size=batch_size)

    def embed_queries(self, texts, max_tokens=None):
        return self.inner.embed_queries(texts, max_tokens=max_tokens)


def passage_top10(ix, query: str) -> dict[str, list]:
    """Top-10 of dense and lexical search as (article id, chunk no, rounded score), ties ordered by id."""
    out = {}
    qvec = ix.embedder().embed_queries([query])[0]
    for name, hits in (("dense", ix.dense.search(qvec, 10)), ("lexical", ix.lexical.search(query, 10))):
        rows = []
        for pid, score in hits:
            rowid, chunk_no, _ = ix.articles.passage(pid)
            rows.append((round(float(score), 4), ix.articles.article_by_rowid(rowid).id, chunk_no))
        out[name] = sorted(rows, key=lambda r: (-r[0], r[1], r[2]))
    return out


def stored(ix) -> dict[str, tuple]:
    return {a.id: (a.sha256, a.text, a.status, a.url) for a in ix.articles.iter_articles()}


@pytest.mark.corpus
def test_update_equals_rebuild_on_real_amendment(shared_corpus, tmp_path):
    older = shared_corpus / "_versions" / "K950001000_" / "2007-05-21"
    corpus = tmp_path / "corpus"
    shutil.copytree(older, corpus / "K950001000_")  # the 2007 edition of the 1995 Constitution
    first = CountingEmbedder("hashing:256")
    build_index(corpus, tmp_path / "ix", CFG, embedder=first, progress=False)
    old_snap = read_corpus(corpus)
    assert len(old_snap.articles) == 98

    shutil.rmtree(corpus / "K950001000_")
    shutil.copytree(shared_corpus / "K950001000_", corpus / "K950001000_")  # the 2022 edition
    new_snap = read_corpus(corpus)
    counter = CountingEmbedder("hashing:256")
    report = update_index(corpus, tmp_path / "ix", embedder=counter, progress=False)
    build_index(corpus, tmp_path / "fresh", CFG, progress=False)

    updated, fresh = open_index(tmp_path / "ix"), open_index(tmp_path / "fresh")
    assert updated.version == 2 and list_versions(tmp_path / "ix") == [1, 2]
    # same article ids, hashes and texts as a fresh build
    assert stored(updated) == stored(fresh)
    assert updated.manifest["articles"] == fresh.manifest["articles"]
    assert updated.dense.ntotal == fresh.dense.ntotal == len(updated.lexical) == len(fresh.lexical)
    # same top-10 (dense and BM25) for a set of queries
    for q in QUERIES:
        assert passage_top10(updated, q) == passage_top10(fresh, q), q

    # only the changed and added articles were re-embedded: count them independently
    old = {a.id: a.sha256 for a in old_snap.articles}
    new = {a.id: a.sha256 for a in new_snap.articles}
    added = {i for i in new if i not in old}
    changed = {i for i in new if i in old and old[i] != new[i]}
    removed = {i for i in old if i not in new}
    assert {i.split("/")[1] for i in added} == {"83-1", "84", "94-2", "99"}  # per the corpus README
    assert len(changed) > 50 and 0 < len(new) - len(added) - len(changed)  # some articles are untouched
    assert report["totals"] == {"added": len(added), "changed": len(changed), "removed": len(removed),
                                "unchanged": len(new) - len(added) - len(changed)}
    assert [i.split("/")[1] for i in report["acts"]["K950001000_"]["added"]] == ["83-1", "84", "94-2", "99"]
    assert set(report["acts"]["K950001000_"]["changed"]) == changed
    assert report["reembedded_articles"] == len(added) + len(changed)
    assert set(report["reembedded_article_ids"]) == added | changed
    assert report["reembedded_passages"] == len(counter.texts) < fresh.articles.passage_count()
    # the embedded texts are exactly the passages of the changed and added articles (footnotes left out)
    expected = sorted(dense_passage_text(t) for aid in added | changed for _, t in fresh.articles.passages_of(aid))
    assert sorted(counter.texts) == expected
    # the repealed status of the current edition reached every stored article
    assert {a.status for a in updated.articles.iter_articles()} == {"repealed"}


def amend(root: Path) -> None:
    """Change one article, add one, remove one (consumer law); drop the Kazakh text of the labour code."""
    f = root / CONSUMER / "rus.md"
    text = f.read_text(encoding="utf-8")
    text = text.replace("в течение десяти дней", "в течение семи дней")
    text = text.replace("### Статья 1. Основные понятия\n\nПотребитель – физическое лицо, приобретающее товар для личного использования.\n\n", "")
    text += "\n### Статья 31-1. Возмещение убытков\n\nУбытки, причиненные потребителю, возмещаются в полном объеме.\n"
    f.write_text(text, encoding="utf-8")
    (root / LABOUR / "kaz.md").unlink()


def test_update_reports_per_act_diff_and_reuses_vectors(tmp_path, capsys):
    root = write_fixture_corpus(tmp_path / "c")
    ix_dir = tmp_path / "ix"
    build_index(root, ix_dir, CFG, progress=False)
    before = open_index(ix_dir)
    keep_pid, keep_text = before.articles.passages_of(f"{LABOUR}/113/rus")[0]
    keep_vec = before.dense.get_vectors([keep_pid])[0]
    amend(root)
    # all Kazakh articles of the labour code and 1 of 3 consumer-law articles go: over max_removed_share
    rc = main(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--json", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 4 and f"{LABOUR} (kaz): 5 of 5 articles" in err and f"{CONSUMER} (rus): 1 of 3 articles" in err
    assert "--allow-removals" in err and list_versions(ix_dir) == [1]
    rc = main(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--json", "--no-progress",
               "--allow-removals"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["acts"] == {
        CONSUMER: {"added": [f"{CONSUMER}/31-1/rus"], "changed": [f"{CONSUMER}/31/rus"], "removed": [f"{CONSUMER}/1/rus"]},
        LABOUR: {"added": [], "changed": [], "removed": [f"{LABOUR}/{n}/kaz" for n in ["1", "2", "88", "88-1", "113"]]},
    }
    assert report["reembedded_articles"] == 2 and report["reembedded_passages"] == 2
    assert report["removed_passages"] == 1 + 1 + 5  # changed (old passage) + removed + 5 Kazakh articles
    after = open_index(ix_dir)
    assert after.version == 2 and after.articles.count() == 15 - 1 + 1 - 5
    assert after.dense.ntotal == len(after.lexical) == after.articles.passage_count() == 10
    # an unchanged article keeps its passage id and its stored vector
    assert after.articles.passages_of(f"{LABOUR}/113/rus") == [(keep_pid, keep_text)]
    np.testing.assert_array_equal(after.dense.get_vectors([keep_pid])[0], keep_vec)
    # the new text is searchable, the removed article is gone, the old version still answers the old way
    hits = after.lexical.search("в течение семи дней", 1)
    assert after.articles.articles_for_passages([hits[0][0]])[hits[0][0]].id == f"{CONSUMER}/31/rus"
    assert after.articles.get(f"{CONSUMER}/1/rus") is None
    assert open_index(ix_dir, version=1).articles.get(f"{CONSUMER}/1/rus") is not None
    # the human-readable summary lists the act with its numbers
    assert main(["index", "update", "--corpus", str(root), "--index", str(ix_dir)]) == 0
    assert "up to date" in capsys.readouterr().out
    f = root / OLD_CONST / "rus.md"
    f.write_text(f.read_text(encoding="utf-8").replace("всю территорию", "всю свою территорию"), encoding="utf-8")
    assert main(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{OLD_CONST}: +0 ~1 -0 ~[2/rus]" in out and "re-embedded 1 articles / 1 passages" in out


def test_status_change_updates_rows_without_reembedding(tmp_path):
    root = write_fixture_corpus(tmp_path / "c")
    build_index(root, tmp_path / "ix", CFG, progress=False)
    meta = root / CONSUMER / "meta.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("status: in force", "status: repealed"), encoding="utf-8")
    counter = CountingEmbedder("hashing:256")
    report = update_index(root, tmp_path / "ix", embedder=counter, progress=False)
    assert report["up_to_date"] is False and report["reembedded_passages"] == 0 and counter.texts == []
    ix = open_index(tmp_path / "ix")
    assert ix.articles.get(f"{CONSUMER}/30/rus").status == "repealed"
    assert {a["code"]: a["status"] for a in ix.articles.acts()}[CONSUMER] == "repealed"


def test_crash_inside_embedding_leaves_old_index_live(tmp_path):
    big = {**ACTS[CONSUMER], "rus": ACTS[CONSUMER]["rus"] + "".join(
        f"\n### Статья {100 + i}. Статья номер {i}\n\nТекст статьи номер {i} о правах потребителей.\n" for i in range(80))}
    root = write_fixture_corpus(tmp_path / "c", {**ACTS, CONSUMER: big})
    ix_dir = tmp_path / "ix"
    build_index(root, ix_dir, IndexConfig(embedding="hashing:256", batch_size=8), progress=False)
    before = open_index(ix_dir)
    old_hits = passage_top10(before, "замена товара ненадлежащего качества")
    old_manifest = before.manifest

    f = root / CONSUMER / "rus.md"
    f.write_text(f.read_text(encoding="utf-8").replace("о правах потребителей", "об обязанностях продавцов"), encoding="utf-8")
    faulty = CountingEmbedder("hashing:256", fail_on_batch=3)  # dies midway through the re-embedding
    with pytest.raises(RuntimeError, match="injected failure"):
        update_index(root, ix_dir, embedder=faulty, progress=False)
    assert faulty.batches == 3 and len(faulty.texts) == 16  # two batches of 8 went through before the failure

    # the old version is still live, complete and answering; no half-written folder is left
    assert current_version(ix_dir) == 1 and list_versions(ix_dir) == [1]
    assert not [p.name for p in (ix_dir / "versions").iterdir() if p.name != "1"]
    again = open_index(ix_dir)
    assert again.manifest == old_manifest
    assert passage_top10(again, "замена товара ненадлежащего качества") == old_hits
    assert again.dense.ntotal == again.articles.passage_count() == len(again.lexical)
    assert "о правах потребителей" in again.articles.get(f"{CONSUMER}/150/rus").text
    # the lock was released: a normal update now succeeds
    report = update_index(root, ix_dir, progress=False)
    assert report["totals"]["changed"] == 80 and current_version(ix_dir) == 2


def test_ivf_index_updates_like_a_rebuild(tmp_path):
    many = {**ACTS[CONSUMER], "rus": ACTS[CONSUMER]["rus"] + "".join(
        f"\n### Статья {100 + i}. Норма {i}\n\nПравило номер {i}: продавец {'обязан' if i % 2 else 'вправе'} "
        f"сообщить покупателю сведения о товаре {i}.\n" for i in range(120))}
    root = write_fixture_corpus(tmp_path / "c", {**ACTS, CONSUMER: many})
    cfg = IndexConfig(embedding="hashing:256", dense_kind="ivf", ivf_nlist=2)
    build_index(root, tmp_path / "ix", cfg, progress=False)
    assert open_index(tmp_path / "ix").dense.effective_kind == "ivf"
    (tmp_path / "ix" / "versions" / ".tmp-99-1").mkdir()  # left over by a killed writer
    f = root / CONSUMER / "rus.md"
    f.write_text(f.read_text(encoding="utf-8").replace("сведения о товаре 7.", "сведения о цене товара 7."), encoding="utf-8")
    report = update_index(root, tmp_path / "ix", progress=False)
    assert report["reembedded_articles"] == 1
    assert not (tmp_path / "ix" / "versions" / ".tmp-99-1").exists()
    build_index(root, tmp_path / "fresh", cfg, progress=False)
    updated, fresh = open_index(tmp_path / "ix"), open_index(tmp_path / "fresh")
    assert updated.dense.effective_kind == fresh.dense.effective_kind == "ivf"
    assert stored(updated) == stored(fresh)
    for q in ["сведения о цене товара", "продавец обязан сообщить", "замена товара ненадлежащего качества"]:
        assert passage_top10(updated, q) == passage_top10(fresh, q), q


def test_emptied_act_file_is_refused_unless_allowed(tmp_path, capsys):
    root = write_fixture_corpus(tmp_path / "c")
    ix_dir = tmp_path / "ix"
    build_index(root, ix_dir, CFG, progress=False)
    (root / LABOUR / "rus.md").write_text("# Трудовой кодекс Тестовой Республики\n", encoding="utf-8")  # emptied
    rc = main(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 4 and f"{LABOUR} (rus): 5 of 5 articles" in err and "damaged source" in err and "--allow-removals" in err
    assert list_versions(ix_dir) == [1] and open_index(ix_dir).articles.count(lang="rus") == 10
    # a config that allows any share, or the flag, lets it through
    toml = tmp_path / "c.toml"
    toml.write_text("[index]\nmax_removed_share = 1.0\n")
    assert main(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--config", str(toml), "--no-progress"]) == 0
    assert open_index(ix_dir).articles.count(lang="rus") == 5


def test_missing_act_code_is_an_error(tmp_path, capsys):
    root = write_fixture_corpus(tmp_path / "c")
    ix_dir = tmp_path / "ix"
    build_index(root, ix_dir, CFG, progress=False)
    (root / CONSUMER / "meta.yaml").write_text("", encoding="utf-8")  # empty: used to re-code the act by folder name
    rc = main(["index", "update", "--corpus", str(root), "--index", str(ix_dir), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{CONSUMER}/meta.yaml has no act code" in err and "code: K1500000414" in err
    assert list_versions(ix_dir) == [1]


class Marker:
    """Unpickling this creates a file: proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def make_legacy(version_dir: Path, marker: Path) -> None:
    """Turn a version into one written by an older lexkz: pickled BM25, no FTS table, no file hashes."""
    import pickle
    import sqlite3

    db = sqlite3.connect(version_dir / "articles.sqlite")
    db.execute("DROP TABLE passages_fts")
    db.commit()
    db.close()
    (version_dir / "lexical.pkl").write_bytes(pickle.dumps({"format": "lexkz-bm25/1", "docs": Marker(marker)}))
    m = json.loads((version_dir / "manifest.json").read_text())
    m["format"], m["lexical"] = "lexkz-index/1", {"ids": "passage"}
    del m["files"]
    (version_dir / "manifest.json").write_text(json.dumps(m))


def test_old_index_with_pickle_is_never_unpickled_and_update_adds_fts(tmp_path, fixture_corpus, capsys):
    from retrieval.hybrid import HybridRetriever

    ix_dir, marker = tmp_path / "ix", tmp_path / "UNPICKLED"
    build_index(fixture_corpus, ix_dir, CFG, progress=False)
    make_legacy(ix_dir / "versions" / "1", marker)
    ix = open_index(ix_dir)
    with pytest.raises(Exception) as e:
        ix.lexical  # noqa: B018
    assert e.value.exit_code == 3 and "never loads" in str(e.value)
    assert f"lexkz index update --corpus {fixture_corpus.resolve()} --index {ix_dir}" in str(e.value)
    rc = main(["search", "замена товара", "--index", str(ix_dir), "--mode", "lexical"])
    assert rc == 3 and "pickled BM25" in capsys.readouterr().err
    assert HybridRetriever(ix_dir).retrieve("замена товара ненадлежащего качества", mode="dense")  # dense still works
    assert main(["index", "verify", "--index", str(ix_dir)]) == 3
    assert "pickled BM25" in capsys.readouterr().out
    # the update (no corpus change) writes a version with the FTS table from the stored passages
    counter = CountingEmbedder("hashing:256")
    report = update_index(fixture_corpus, ix_dir, embedder=counter, progress=False)
    assert report["version"] == 2 and report["reembedded_passages"] == 0 and counter.texts == []
    assert not (ix_dir / "versions" / "2" / "lexical.pkl").exists()
    build_index(fixture_corpus, tmp_path / "fresh", CFG, progress=False)
    upgraded, fresh = open_index(ix_dir), open_index(tmp_path / "fresh")
    for q in ["замена товара ненадлежащего качества", "еңбек демалысы", "трудовой договор", "суверенитет"]:
        assert passage_top10(upgraded, q) == passage_top10(fresh, q), q
    assert main(["index", "verify", "--index", str(ix_dir)]) == 0
    assert not marker.exists()  # nothing was ever unpickled
