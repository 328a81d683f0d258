"""`lexkz search` on a real small index: JSON fields, filters, human table, errors and exit codes."""

from __future__ import annotations

import json

import pytest

from lexkz.cli import main
from tests.fixture_corpus import CONSUMER, LABOUR, OLD_CONST

JSON_FIELDS = {"article_id", "act_code", "act_title", "number", "title", "lang", "url", "score",
               "status", "score_parts", "snippet", "rank", "valid_from", "valid_to", "gap"}


@pytest.fixture(scope="module")
def index_dir(fixture_index):
    return fixture_index


def run_json(capsys, *args) -> list[dict]:
    assert main(["search", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_hits_have_the_fields(index_dir, capsys):
    hits = run_json(capsys, "увольнение работника по его инициативе", "--index", str(index_dir), "-k", "3")
    assert len(hits) == 3 and set(hits[0]) == JSON_FIELDS
    top = hits[0]
    assert top["article_id"] == f"{LABOUR}/113/rus" and top["number"] == "113" and top["lang"] == "rus"
    assert top["act_code"] == LABOUR and top["url"] == f"https://adilet.zan.kz/rus/docs/{LABOUR}"
    assert top["score"] > hits[1]["score"] and top["score_parts"]["bm25_rank"] == 1
    assert "расторгнуть трудовой договор" in top["snippet"]
    with_text = run_json(capsys, "увольнение", "--index", str(index_dir), "-k", "1", "--with-text")
    assert "text" in with_text[0] and "один месяц" in with_text[0]["text"]


def test_flags_filter_and_switch_mode(index_dir, capsys):
    kaz = run_json(capsys, "еңбек демалысы", "--index", str(index_dir), "--lang", "kk", "-k", "10")
    assert kaz and {h["lang"] for h in kaz} == {"kaz"}
    act = run_json(capsys, "договор", "--index", str(index_dir), "--act", CONSUMER, "-k", "2")
    assert len(act) == 2 and {h["act_code"] for h in act} == {CONSUMER}
    q = "демократическим государством"
    assert all(h["act_code"] != OLD_CONST for h in run_json(capsys, q, "--index", str(index_dir)))
    repealed = run_json(capsys, q, "--index", str(index_dir), "--include-repealed", "-k", "1")
    assert repealed[0]["act_code"] == OLD_CONST and repealed[0]["status"] == "repealed"
    lexical = run_json(capsys, "товар", "--index", str(index_dir), "--mode", "lexical")
    assert lexical and all("dense" not in h["score_parts"] for h in lexical)


def test_config_file_sets_defaults(index_dir, capsys, tmp_path):
    cfg = tmp_path / "r.toml"
    cfg.write_text("[retrieval]\nk = 2\nmode = \"dense\"\n", encoding="utf-8")
    hits = run_json(capsys, "товар", "--index", str(index_dir), "--config", str(cfg))
    assert len(hits) == 2 and all("bm25" not in h["score_parts"] for h in hits)
    cfg.write_text("[retrieval]\nbogus = 1\n", encoding="utf-8")
    assert main(["search", "товар", "--index", str(index_dir), "--config", str(cfg)]) == 2
    assert "bogus" in capsys.readouterr().err


def test_human_output_is_a_ranked_table(index_dir, capsys):
    assert main(["search", "ежегодный отпуск", "--index", str(index_dir), "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith("1.") and f"{LABOUR}/88/rus" in out.splitlines()[0]
    assert f"https://adilet.zan.kz/rus/docs/{LABOUR}" in out and "\n 2. " in out


def test_errors_exit_non_zero(index_dir, capsys, tmp_path):
    assert main(["search", "договор", "--index", str(tmp_path / "missing")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "lexkz index build" in err
    assert main(["search", "  ", "--index", str(index_dir)]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["search", "договор", "--index", str(index_dir), "--lang", "en"]) == 2


def test_queries_file_answers_many_questions_in_one_process(index_dir, tmp_path, capsys):
    """`--queries FILE.jsonl`: one JSON line per question, in order; a broken line is reported in
    place and the others are still answered; exit 2 at the end."""
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("\n".join([
        json.dumps({"id": "a", "question": "увольнение работника по его инициативе", "k": 2}, ensure_ascii=False),
        "{broken",
        json.dumps({"id": "b", "question": "сроки удовлетворения требований потребителя", "lang": "rus"}, ensure_ascii=False),
        json.dumps({"question": "?!… 🙂🙂"}, ensure_ascii=False),
        json.dumps({"question": ""}),
    ]) + "\n", encoding="utf-8")
    assert main(["search", "--queries", str(qfile), "--index", str(index_dir), "-k", "3"]) == 2
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r.get("id", r.get("line")) for r in rows] == ["a", 2, "b", 4, 5]
    assert len(rows[0]["hits"]) == 2 and rows[0]["hits"][0]["article_id"] == f"{LABOUR}/113/rus"
    assert "q.jsonl:2" in rows[1]["error"] and "invalid JSON" in rows[1]["error"]
    assert rows[2]["hits"][0]["article_id"] == f"{CONSUMER}/31/rus" and len(rows[2]["hits"]) == 3
    assert rows[3]["hits"] == [] and "no word or number" in rows[3]["note"]
    assert "q.jsonl:5" in rows[4]["error"]
    assert "2 line(s)" in captured.err
    assert main(["search", "--queries", str(tmp_path / "none.jsonl"), "--index", str(index_dir)]) == 3


@pytest.mark.parametrize("junk", ["?!…", "🙂🙂🙂", "-- ;; ** //", "«»()[]", "'; DROP TABLE articles; --",
                                  "SELECT * FROM users WHERE 1=1"])
def test_a_query_of_punctuation_or_emoji_gets_no_hits_and_a_note(index_dir, capsys, junk):
    """Not even the dense side's nearest neighbours: no word of these occurs in the law."""
    assert run_json(capsys, junk, "--index", str(index_dir)) == []
    assert main(["search", junk, "--index", str(index_dir)]) == 0
    assert "no hits" in capsys.readouterr().out
