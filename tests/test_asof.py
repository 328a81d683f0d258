"""Law as of a date (index/timeline.py, index/asof.py, index/history.py) on the real editions of
the shared corpus: the 1995 Constitution's 2007 and 2022 editions and the 2026 Constitution,
linked into a temp corpus and indexed with the hashing embedder (real SQLite, FTS5, FAISS)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from graph.ask import ask, make_context
from graph.config import GenerationConfig
from graph.state import AskContext
from index.build import build_index, update_index
from index.config import IndexConfig
from index.store import open_index
from lexkz.cli import main
from lexkz.errors import LexkzError
from tests.graph_fixtures import ScriptedGenerator

OLD = "K950001000_"  # the 1995 Constitution: in force until 2026-07-01
NEW = "ZAN-223244"  # the 2026 Constitution: in force from 2026-07-01
CFG = IndexConfig(embedding="hashing:256")
QUESTION = "На какой срок избирается Президент Республики Казахстан?"


class CountingEmbedder:
    """The hashing embedder, recording every passage text it embeds."""

    def __init__(self, inner):
        self.inner, self.texts = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def embed_passages(self, texts, **kw):
        self.texts.extend(texts)
        return self.inner.embed_passages(texts, **kw)


def _counting():
    from retrieval.embedders import get_embedder

    return CountingEmbedder(get_embedder(CFG.embedding))


def link_constitutions(shared: Path, root: Path) -> Path:
    for code in (OLD, NEW):
        if not (shared / code).is_dir() or not (shared / "_versions" / OLD).is_dir():
            pytest.skip(f"{code} or _versions/{OLD} missing from the real corpus at {shared}")
        shutil.copytree(shared / code, root / code)  # copies: corpus symlinks are never followed
    shutil.copytree(shared / "_versions" / OLD, root / "_versions" / OLD)
    return root


@pytest.fixture(scope="module")
def const(shared_corpus, tmp_path_factory):
    corpus = link_constitutions(shared_corpus, tmp_path_factory.mktemp("const_corpus"))
    index_dir = tmp_path_factory.mktemp("const_index") / "index"
    emb = _counting()
    report = build_index(corpus, index_dir, CFG, embedder=emb, progress=False)
    return {"corpus": corpus, "index": index_dir, "embedded": list(emb.texts), "report": report}


def test_every_edition_is_stored_with_its_validity(const):
    store = open_index(const["index"]).articles
    v41 = store.versions(OLD, "41", "rus")
    assert [(a.id, s[0], s[1], s[3]) for a, s in v41] == [
        (f"{OLD}/41/rus@2007-05-21", "2007-05-21", "2022-09-17", True),  # the 2007 edition, followed by a gap
        (f"{OLD}/41/rus", "2022-09-17", "2026-07-01", False),  # the current folder, until the repeal
    ]
    old_text, new_text = v41[0][0].text, v41[1][0].text
    assert "сроком на пять лет" in old_text and "сроком на семь лет" not in old_text  # the text differs between editions
    assert "сроком на семь лет" in new_text and "сроком на пять лет" not in new_text
    assert "2007" in v41[0][1][4] and "2022" in v41[1][1][4]  # the edition's amending act (meta.yaml `edition`)
    (new41,) = store.versions(NEW, "41", "rus")
    assert new41[1][:2] == ("2026-07-01", None)
    assert store.act_dates()[NEW] == ("2026-07-01", None) and store.act_dates()[OLD] == ("1995-09-05", "2026-07-01")


def test_unchanged_text_is_stored_and_embedded_once(const):
    """Dedupe: 22 articles of the 2007 edition are identical in 2022: one row, two validity spans,
    and every distinct passage text is embedded exactly once."""
    ix = open_index(const["index"])
    store = ix.articles
    rows = store.find(act_code=OLD, lang="rus", versions=True)
    assert store.find(act_code=OLD, lang="rus") == [a for a in rows if "@" not in a.id]  # the default: current only
    current = [a for a in rows if "@" not in a.id]
    older = [a for a in rows if "@" in a.id]
    assert len(current) == 102 and len(older) == 76  # 98 articles in 2007: 76 differ, 22 shared
    spans = store.validity()
    rowids = store.rows_by_id()
    shared = [a for a in current if len(spans[rowids[a.id][0]]) == 2]
    assert len(shared) == 22
    embedded = const["embedded"]
    assert len(embedded) == len(set(embedded)) == const["report"]["embedded_texts"]  # each distinct text once
    # passages are distinct per text; two editions differing only in footnotes share one embedded text
    assert store.passage_count() == ix.manifest["counts"]["passages"] >= len(embedded)
    assert ix.manifest["counts"]["versions"] == len(store.find(versions=True)) and ix.manifest["counts"]["intervals"] == len(
        [s for ss in spans.values() for s in ss])
    # without dedupe the 22 shared articles' passages would be embedded twice
    assert ix.manifest["counts"]["intervals"] > ix.manifest["counts"]["versions"]


def _search(capsys, const, *args):
    capsys.readouterr()
    rc = main(["search", QUESTION, "--index", str(const["index"]), "-k", "5", "--json", *args])
    assert rc == 0
    return json.loads(capsys.readouterr().out)


def test_search_as_of_uses_the_edition_in_force(const, capsys):
    h2008 = _search(capsys, const, "--as-of", "2008-01-01")
    assert h2008 and {h["act_code"] for h in h2008} == {OLD}
    assert all(h["valid_from"] == "2007-05-21" and h["valid_to"] == "2022-09-17" and h["gap"] for h in h2008)
    assert all(h["article_id"].endswith("@2007-05-21") or h["article_id"].count("@") == 0 for h in h2008)
    assert all(h["status"] == "in_force" for h in h2008)  # in force on that day, though repealed since
    h2023 = _search(capsys, const, "--as-of", "2023-01-01")
    assert h2023 and {h["act_code"] for h in h2023} == {OLD} and {h["valid_from"] for h in h2023} == {"2022-09-17"}
    assert not any("@" in h["article_id"] for h in h2023)
    h2026 = _search(capsys, const, "--as-of", "2026-08-01")
    assert h2026 and {h["act_code"] for h in h2026} == {NEW}  # never the 1995 Constitution
    both = _search(capsys, const, "--as-of", "2026-06-30", "--act", OLD, NEW)
    assert {h["act_code"] for h in both} == {OLD}  # the day before the new one takes effect


def test_article_41_text_per_date(const):
    from retrieval.hybrid import HybridRetriever

    r = HybridRetriever(const["index"])
    q = "Президент избирается сроком на лет при тайном голосовании"
    for day, must, must_not in (("2008-01-01", "сроком на пять лет", "сроком на семь лет"),
                                ("2023-01-01", "сроком на семь лет", "сроком на пять лет")):
        hits = {h.number: h for h in r.retrieve(q, k=10, as_of=day, act_codes=[OLD])}
        assert "41" in hits, (day, list(hits))
        assert must in hits["41"].text and must_not not in hits["41"].text


def test_before_the_act_existed_is_not_in_force(const, capsys):
    capsys.readouterr()
    assert main(["search", QUESTION, "--index", str(const["index"]), "--as-of", "1990-01-01"]) == 0
    assert "not in force on that date" in capsys.readouterr().out
    assert _search(capsys, const, "--as-of", "2026-03-20", "--act", NEW) == []  # adopted, not yet in force


@pytest.mark.parametrize("bad", ["2024-13-01", "01.01.2024", "2024-02-30", "yesterday"])
def test_bad_dates_exit_2(const, capsys, bad):
    for argv in (["search", QUESTION, "--index", str(const["index"]), "--as-of", bad],
                 ["ask", QUESTION, "--index", str(const["index"]), "--as-of", bad, "--generator", "extractive"],
                 ["history", OLD, "41", "--index", str(const["index"]), "--as-of", bad],
                 ["diff", OLD, "41", "--index", str(const["index"]), "--from", bad, "--to", "2023-01-01"]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        assert "not a valid date" in capsys.readouterr().err


def _ask(const, day, answer):
    ctx = make_context(const["index"], GenerationConfig(), "rag")
    gen = ScriptedGenerator([answer])
    context = AskContext(ctx.retriever, gen, ctx.store, GenerationConfig(max_regenerations=0))
    return ask(QUESTION, k=5, filters={"as_of": day}, context=context)


def test_ask_cites_the_version_in_force(const):
    f2008 = _ask(const, "2008-01-01", "Президент избирается сроком на пять лет (ст. 41 Конституции).")
    (c,) = f2008["citations"]
    assert c["article_id"] == f"{OLD}/41/rus@2007-05-21" and c["valid_from"] == "2007-05-21"
    assert c["status"] in ("supported", "in_corpus_not_retrieved")
    assert c["reference"] == "ст. 41 Конституции РК (в ред. от 2007-05-21)"
    assert f2008["sources"][0]["reference"] == c["reference"] and "сроком на пять лет" in f2008["sources"][0]["text"]
    assert any("2007-05-21" in w and "2022-09-17" in w and "нет" in w for w in f2008["warnings"])  # the gap
    f2023 = _ask(const, "2023-01-01", "Президент избирается сроком на семь лет (ст. 41 Конституции).")
    (c,) = f2023["citations"]
    assert c["article_id"] == f"{OLD}/41/rus" and c["reference"].endswith("(в ред. от 2022-09-17)")
    assert c["status"] in ("supported", "in_corpus_not_retrieved")
    assert not any("редакций между" in w for w in f2023["warnings"])  # the last edition: no gap note
    f2026 = _ask(const, "2026-08-01", "Права и свободы могут быть ограничены только законами (ст. 41 Конституции).")
    (c,) = f2026["citations"]
    assert c["article_id"] == f"{NEW}/41/rus" and c["act_code"] == NEW
    assert all(h["act_code"] == NEW for h in f2026["retrieved"])
    assert not any(OLD in (s["article_id"] or "") for s in f2026["sources"])
    # the 2022 text's "семь лет" claim is not supported by the 2007 text in force in 2008
    wrong = _ask(const, "2008-01-01", "Президент избирается сроком на семь лет (ст. 41 Конституции).")
    assert wrong["citations"][0]["article_id"] == f"{OLD}/41/rus@2007-05-21"


def test_ask_before_the_act_existed(const):
    final = _ask(const, "1990-01-01", "Ответ (ст. 41 Конституции).")
    assert final["not_found"] and any("not in force on that date" in w for w in final["warnings"])


def test_ask_cli_json_names_the_version(const, capsys):
    capsys.readouterr()
    rc = main(["ask", QUESTION, "--index", str(const["index"]), "--as-of", "2008-01-01", "--generator", "extractive",
               "--json", "-k", "3"])
    assert rc == 0
    final = json.loads(capsys.readouterr().out)
    assert final["filters"]["as_of"] == "2008-01-01"
    assert all(h["valid_from"] == "2007-05-21" for h in final["retrieved"])
    for s in final["sources"]:
        assert s["valid_from"] == "2007-05-21" and "(в ред. от 2007-05-21)" in s["reference"]
    import jsonschema

    schema = json.loads((Path(__file__).parents[1] / "graph" / "ask_schema.json").read_text())
    jsonschema.validate(final, schema)


def test_history_and_diff(const, capsys):
    capsys.readouterr()
    assert main(["history", OLD, "41", "--index", str(const["index"]), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["valid_from"], r["valid_to"]) for r in rows] == [("2007-05-21", "2022-09-17"), ("2022-09-17", "2026-07-01")]
    assert all(r["caused_by"] for r in rows)
    assert main(["history", OLD, "41", "--index", str(const["index"]), "--as-of", "2010-01-01", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["history", OLD, "41", "--index", str(const["index"]), "--as-of", "2999-01-01"]) == 2
    assert "after today" in capsys.readouterr().err
    assert main(["history", OLD, "9999", "--index", str(const["index"])]) == 2
    assert main(["diff", OLD, "41", "--index", str(const["index"]), "--from", "2008-01-01", "--to", "2023-01-01",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert "[-пять-]" in d["text"] and "{+семь+}" in d["text"] and not d["same"]
    assert main(["diff", OLD, "41", "--index", str(const["index"]), "--from", "1990-01-01", "--to", "2023-01-01"]) == 2
    assert "not in force on that date" in capsys.readouterr().err


def _edition(corpus: Path, folder: str, edition_date: str, art41: str | None = None) -> Path:
    """A copy of the 2007 edition as another older edition dated `edition_date`."""
    src = corpus / "_versions" / OLD / "2007-05-21"
    dst = corpus / "_versions" / OLD / folder
    dst.mkdir()
    meta = (src / "meta.yaml").read_text(encoding="utf-8").replace("edition_date: '2007-05-21'",
                                                                    f"edition_date: '{edition_date}'")
    (dst / "meta.yaml").write_text(meta, encoding="utf-8")
    text = (src / "rus.md").read_text(encoding="utf-8")
    if art41:
        text = text.replace("сроком на пять лет.", art41, 1)
    (dst / "rus.md").write_text(text, encoding="utf-8")
    return dst


def _own_copy(const, tmp_path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for code in (OLD, NEW):
        shutil.copytree(const["corpus"] / code, corpus / code)
    shutil.copytree((const["corpus"] / "_versions" / OLD).resolve(), corpus / "_versions" / OLD)
    return corpus


def test_update_adds_a_new_edition_incrementally(const, tmp_path):
    corpus = _own_copy(const, tmp_path)
    index_dir = tmp_path / "index"
    shutil.copytree(const["index"], index_dir)
    emb = _counting()
    assert update_index(corpus, index_dir, embedder=emb, progress=False)["up_to_date"]
    _edition(corpus, "2011-02-02", "2011-02-02", "сроком на СЕМЬ лет (редакция 2011 года).")
    report = update_index(corpus, index_dir, embedder=emb, progress=False)
    # only the one changed article text is new: the other 97 articles of the copied edition are known texts
    assert report["reembedded_article_ids"] == [f"{OLD}/41/rus@2011-02-02"]
    assert len(emb.texts) == report["embedded_texts"] >= 1
    store = open_index(index_dir).articles
    spans = [(a.id, s[0], s[1]) for a, s in store.versions(OLD, "41", "rus")]
    assert spans == [(f"{OLD}/41/rus@2007-05-21", "2007-05-21", "2011-02-02"),
                     (f"{OLD}/41/rus@2011-02-02", "2011-02-02", "2022-09-17"),
                     (f"{OLD}/41/rus", "2022-09-17", "2026-07-01")]
    from retrieval.hybrid import HybridRetriever

    hits = {h.number: h for h in HybridRetriever(index_dir).retrieve("Президент избирается сроком редакция 2011 года",
                                                                    k=10, as_of="2015-06-01", act_codes=[OLD])}
    assert "редакция 2011 года" in hits["41"].text and hits["41"].valid_from == "2011-02-02"
    # an article unchanged from 2007 to 2022 now has three spans on its one current row (stored once)
    spans, rowids = store.validity(), store.rows_by_id()
    three = [a.id for a in store.find(act_code=OLD, lang="rus") if len(spans[rowids[a.id][0]]) == 3]
    assert len(three) == 22 and all("@" not in aid for aid in three)
    assert [s[0] for s in spans[rowids[three[0]][0]]] == ["2007-05-21", "2011-02-02", "2022-09-17"]


def test_overlapping_or_backwards_editions_are_refused(const, tmp_path):
    corpus = _own_copy(const, tmp_path)
    _edition(corpus, "dup", "2007-05-21")
    with pytest.raises(LexkzError) as exc:
        build_index(corpus, tmp_path / "ix1", CFG, progress=False)
    assert exc.value.exit_code == 2 and OLD in str(exc.value) and "dup" in str(exc.value) and "overlapping" in str(exc.value)
    shutil.rmtree(corpus / "_versions" / OLD / "dup")
    _edition(corpus, "late", "2024-01-01")  # an "older" edition after the current one's 2022-09-17
    with pytest.raises(LexkzError) as exc:
        build_index(corpus, tmp_path / "ix2", CFG, progress=False)
    assert exc.value.exit_code == 2 and "late" in str(exc.value) and "backwards" in str(exc.value)
    assert not (tmp_path / "ix2" / "CURRENT").exists()


def test_server_as_of_history_and_diff(const):
    from fastapi.testclient import TestClient

    from lexkz.server.app import create_app
    from lexkz.server.config import ServeConfig
    from lexkz.server.engine import Engine
    from tests.serve_helpers import CountingExtractive

    engine = Engine(ServeConfig(index=str(const["index"])), generator=CountingExtractive()).warm_up()
    try:
        with TestClient(create_app(engine=engine, token="")) as c:
            r = c.get("/api/search", params={"q": QUESTION, "as_of": "2008-01-01", "k": 3})
            assert r.status_code == 200 and {h["valid_from"] for h in r.json()["hits"]} == {"2007-05-21"}
            r = c.get("/api/search", params={"q": QUESTION, "as_of": "2026-08-01", "k": 3})
            assert {h["act_code"] for h in r.json()["hits"]} == {NEW}
            r = c.get("/api/search", params={"q": QUESTION, "as_of": "1990-01-01"})
            assert r.json()["hits"] == [] and "not in force on that date" in r.json()["note"]
            r = c.get("/api/search", params={"q": QUESTION, "as_of": "2024-13-01"})
            assert r.status_code == 422 and "not a valid date" in r.json()["error"]
            r = c.post("/api/ask", json={"question": QUESTION, "as_of": "2023-01-01", "k": 3})
            assert r.status_code == 200 and r.json()["filters"]["as_of"] == "2023-01-01"
            assert {h["valid_from"] for h in r.json()["retrieved"]} == {"2022-09-17"}
            r = c.post("/api/ask", json={"question": QUESTION, "as_of": "01.01.2023"})
            assert r.status_code == 422 and "not a valid date" in r.json()["error"]
            r = c.get(f"/api/history/{OLD}/41")
            assert r.status_code == 200 and [v["valid_from"] for v in r.json()["versions"]] == ["2007-05-21", "2022-09-17"]
            assert c.get(f"/api/history/{OLD}/41", params={"as_of": "2999-01-01"}).status_code == 422
            r = c.get(f"/api/diff/{OLD}/41", params={"from": "2008-01-01", "to": "2023-01-01"})
            assert r.status_code == 200 and "{+семь+}" in r.json()["text"]
            assert c.get(f"/api/diff/{OLD}/41", params={"from": "1990-01-01", "to": "2023-01-01"}).status_code == 422
    finally:
        engine.close()


def test_eval_items_carry_their_date_to_the_graph(const):
    from eval.datasets import item_from_dict
    from graph.ask import answer_batch
    from graph.generators.extractive import ExtractiveGenerator

    base = {"id": "q", "lang": "ru", "question": QUESTION, "reference_answer": "семь лет"}
    assert item_from_dict({**base, "date": "2008-01-01"}).as_of == "2008-01-01"
    assert item_from_dict({**base, "as_of": "2023-01-01"}).as_of == "2023-01-01"
    assert item_from_dict(base).as_of is None
    with pytest.raises(ValueError, match="not a valid date"):
        item_from_dict({**base, "as_of": "2024-13-01"})
    ctx = make_context(const["index"], GenerationConfig(), "rag")
    states = answer_batch([QUESTION] * 3, "rus", retriever=ctx.retriever, generator=ExtractiveGenerator(),
                          store=ctx.store, k=3,
                          filters=[{"as_of": "2008-01-01"}, {"as_of": "2023-01-01"}, {"as_of": "2026-08-01"}])
    assert [{h["valid_from"] for h in s["retrieved"]} for s in states] == [{"2007-05-21"}, {"2022-09-17"}, {"2026-07-01"}]


def test_show_as_of(const, capsys):
    capsys.readouterr()
    assert main(["show", "ст. 41 Конституции", "--index", str(const["index"]), "--as-of", "2008-01-01", "--json"]) == 0
    art = json.loads(capsys.readouterr().out)
    assert art["id"] == f"{OLD}/41/rus@2007-05-21" and "сроком на пять лет" in art["text"] and art["valid_from"] == "2007-05-21"
    assert main(["show", f"{OLD}/41/rus", "--index", str(const["index"]), "--as-of", "2023-01-01", "--json"]) == 0
    assert "сроком на семь лет" in json.loads(capsys.readouterr().out)["text"]
    assert main(["show", f"{OLD}/41/rus@2007-05-21", "--index", str(const["index"])]) == 0
    assert "сроком на пять лет" in capsys.readouterr().out
    assert main(["show", "ст. 41 Конституции", "--index", str(const["index"]), "--as-of", "2024-13-01"]) == 2


def test_kazakh_reference_names_the_edition(const):
    from retrieval.citation_format import version_label

    assert version_label("2026-07-01", "kaz") == "(2026-07-01 редакциясы)"
    assert version_label("2024-01-01", "rus") == "(в ред. от 2024-01-01)" and version_label(None, "rus") == ""
    ctx = make_context(const["index"], GenerationConfig(), "rag")
    gen = ScriptedGenerator(["Қазақстан Республикасы Конституциясының 44-бабы бойынша Президент ант береді."])
    final = ask("Қазақстан Республикасының Президенті қалай ант береді?", lang="kaz", k=5,
                filters={"as_of": "2026-08-01"},
                context=AskContext(ctx.retriever, gen, ctx.store, GenerationConfig(max_regenerations=0)))
    cits = [c for c in final["citations"] if c.get("article_id")]
    assert cits and all(c["act_code"] == NEW for c in cits)
    assert cits[0]["article_id"] == f"{NEW}/44/kaz"
    assert cits[0]["reference"] == "ҚР Конституциясының 44-бабы (2026-07-01 редакциясы)"


def test_verify_counts_current_articles_and_versions(const, tmp_path):
    import sqlite3

    from index.integrity import verify_index

    report = verify_index(const["index"])
    assert report["ok"], report
    copy = tmp_path / "index"
    shutil.copytree(const["index"], copy)
    db = sqlite3.connect(next(copy.glob("versions/*/articles.sqlite")))
    db.execute("DELETE FROM articles WHERE id = ?", [f"{OLD}/41/rus@2007-05-21"])  # an older version lost
    db.commit()
    db.close()
    report = verify_index(copy)
    problems = [p for v in report["versions"].values() for p in v["problems"]]
    assert not report["ok"] and any("holds 369 article versions, the manifest says 370" in p for p in problems), problems


def test_index_without_timeline_refuses_as_of_until_updated(const, tmp_path):
    """An index written before the timeline (no validity tables): --as-of is refused with the fix
    (exit 3), never answered from the current text; `index update` adds the tables, keeping every vector."""
    import sqlite3

    from index.integrity import file_records
    from lexkz.common import write_json
    from retrieval.hybrid import HybridRetriever

    copy = tmp_path / "index"
    shutil.copytree(const["index"], copy)
    vdir = next(copy.glob("versions/*"))
    db = sqlite3.connect(vdir / "articles.sqlite")
    db.execute("DROP TABLE validity")
    db.execute("DROP TABLE act_dates")
    db.commit()
    db.close()
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["files"] = file_records(vdir)
    write_json(vdir / "manifest.json", manifest)
    with pytest.raises(LexkzError) as exc:
        HybridRetriever(copy).retrieve(QUESTION, as_of="2008-01-01")
    assert exc.value.exit_code == 3 and "lexkz index update" in str(exc.value)
    emb = _counting()
    report = update_index(const["corpus"], copy, embedder=emb, progress=False)
    assert not report["up_to_date"] and emb.texts == []  # only the tables were missing: nothing re-embedded
    hits = HybridRetriever(copy).retrieve(QUESTION, k=3, as_of="2008-01-01")
    assert hits and {h.valid_from for h in hits} == {"2007-05-21"}
