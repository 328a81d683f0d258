"""eval.datasets: item loading, line-numbered errors, language normalisation, filtering."""

import json

import pytest

from eval.config import BUILTIN_CONTROL_SET
from eval.datasets import filter_to_acts, items_fingerprint, load_items
from lexkz.errors import LexkzError


def _write(path, lines):
    path.write_text("\n".join(l if isinstance(l, str) else json.dumps(l, ensure_ascii=False) for l in lines) + "\n", encoding="utf-8")
    return path


GOOD = {"id": "q1", "lang": "ru", "question": "Сколько дней отпуска?", "reference_answer": "24 календарных дня",
        "act_code": "TEST000001", "article": 88, "alternatives": ["88-1", "TEST000002/30"],
        "answer_alternatives": ["двадцать четыре дня"], "source": "made up"}
KK = {"id": "q2", "lang": "kk", "question": "Демалыс неше күн?", "reference_answer": "24 күн"}


def test_loads_items_normalises_language_and_gold(tmp_path):
    items = load_items([_write(tmp_path / "a.jsonl", [GOOD, "", KK])])
    assert [it.lang for it in items] == ["rus", "kaz"]
    first = items[0]
    assert first.article == "88"
    assert first.gold_articles() == [("TEST000001", "88"), ("TEST000001", "88-1"), ("TEST000002", "30")]
    assert first.answer_alternatives == ("двадцать четыре дня",)
    assert first.meta == {"source": "made up"}
    assert items[1].gold_articles() == []


def test_malformed_lines_are_reported_with_line_numbers(tmp_path):
    path = _write(tmp_path / "bad.jsonl", [
        GOOD,
        "{not json",
        {**KK, "question": "  "},
        {**KK, "id": "q3", "lang": "de"},
        {**GOOD},  # duplicate id
        "[1, 2]",
    ])
    with pytest.raises(LexkzError) as exc:
        load_items([path])
    msg = str(exc.value)
    for line, reason in [(2, "invalid JSON"), (3, "'question'"), (4, "unknown language"), (5, "duplicate id"), (6, "JSON object")]:
        assert f"bad.jsonl:{line}: " in msg and reason in msg
    assert "skip_invalid" in msg
    problems = []
    items = load_items([path], skip_invalid=True, problems=problems)
    assert [it.id for it in items] == ["q1"]
    assert len(problems) == 5


def test_missing_file_and_empty_set_are_clear_errors(tmp_path):
    with pytest.raises(LexkzError, match="not found"):
        load_items([tmp_path / "nope.jsonl"])
    with pytest.raises(LexkzError, match="no eval items"):
        load_items([_write(tmp_path / "empty.jsonl", [""])])


def test_datasets_directory_and_limit(tmp_path):
    from datasets import Dataset

    Dataset.from_list([{k: GOOD[k] for k in ("id", "lang", "question", "reference_answer")},
                       {k: KK[k] for k in ("id", "lang", "question", "reference_answer")}]).save_to_disk(str(tmp_path / "ds"))
    items = load_items([tmp_path / "ds"])
    assert [it.id for it in items] == ["q1", "q2"]
    assert [it.id for it in load_items([tmp_path / "ds"], limit=1)] == ["q1"]


def test_filter_to_acts_and_fingerprint(tmp_path):
    items = load_items([_write(tmp_path / "a.jsonl", [GOOD, KK, {**KK, "id": "q4", "act_code": "OTHER"}])])
    kept, dropped = filter_to_acts(items, {"TEST000001"})
    assert [it.id for it in kept] == ["q1"] and dropped == 2
    assert items_fingerprint(items) == items_fingerprint(list(items))
    assert items_fingerprint(items) != items_fingerprint(kept)


def test_control_set_is_valid_and_bilingual():
    items = load_items([BUILTIN_CONTROL_SET])
    assert len(items) >= 30
    assert {it.lang for it in items} == {"rus", "kaz"}
    assert all(it.act_code is None for it in items)
