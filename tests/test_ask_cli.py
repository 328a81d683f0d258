"""`lexkz ask` end to end through the real CLI entry point: human output, --json checked
against graph/ask_schema.json, --stream events, the tiny model + LoRA adapter via --adapter,
and clear errors with exit codes for bad input and missing artifacts."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from lexkz.cli import main
from tests.fixture_corpus import LABOUR


SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "graph" / "ask_schema.json").read_text())
Q = "Сколько дней длится ежегодный оплачиваемый трудовой отпуск?"


def run(capsys, *argv):
    code = main(["ask", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_output_matches_the_schema(capsys, graph_index):
    code, out, _ = run(capsys, Q, "--index", graph_index, "--json", "--k", 3)
    assert code == 0
    state = json.loads(out)
    jsonschema.validate(state, SCHEMA)
    assert state["citations"][0]["article_id"] == f"{LABOUR}/88/rus" and state["k"] == 3
    # the schema is not vacuous: a wrong status or a missing field is rejected
    bad = copy.deepcopy(state)
    bad["citations"][0]["status"] = "probably_fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    bad = copy.deepcopy(state)
    del bad["retrieved"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    bad = copy.deepcopy(state)
    bad["citations"][0].update(status="invented", warning=None)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_human_output_lists_sources(capsys, graph_index):
    code, out, err = run(capsys, Q, "--index", graph_index, "--k", 2)
    assert code == 0 and err == ""
    answer, sources = out.split("\nИсточники:\n")
    assert "двадцать четыре календарных дня" in answer
    assert sources.startswith(" 1. Трудовой кодекс Тестовой Республики, ст. 88. Ежегодный оплачиваемый трудовой отпуск")
    assert f"https://adilet.zan.kz/rus/docs/{LABOUR}" in sources


def test_kazakh_human_output(capsys, graph_index):
    code, out, _ = run(capsys, "Жыл сайынғы ақы төленетін еңбек демалысы қанша күн?", "--index", graph_index, "--k", 2)
    assert code == 0 and "\nДереккөздер:\n 1. " in out and "88-бап" in out


def test_stream_prints_node_events(capsys, graph_index):
    code, out, err = run(capsys, Q, "--index", graph_index, "--stream", "--k", 2)
    assert code == 0
    nodes = [line.split("]")[0].lstrip("[") for line in err.splitlines()]
    assert nodes == ["retrieve", "generate", "verify_citations", "respond"]
    assert f"{LABOUR}/88/rus" in err.splitlines()[0] and "Источники" in out


def test_tiny_model_with_adapter_through_the_cli(capsys, graph_index, varied_tiny_dir, tiny_adapter_dir):
    code, out, _ = run(capsys, Q, "--index", graph_index, "--generator", "hf", "--model", varied_tiny_dir,
                       "--adapter", tiny_adapter_dir, "--max-new-tokens", 6, "--temperature", 0, "--json", "--k", 2)
    assert code == 0
    state = json.loads(out)
    jsonschema.validate(state, SCHEMA)
    assert state["generator"]["adapter"] == str(tiny_adapter_dir) and state["generator"]["tiny_random"] is True
    assert any("проверка работы конвейера" in w for w in state["warnings"])
    code, out, _ = run(capsys, Q, "--index", graph_index, "--model", varied_tiny_dir, "--max-new-tokens", 4, "--k", 1)
    assert code == 0 and out.startswith("[tiny random model: plumbing check, not a legal answer]")


@pytest.mark.parametrize("question,code,message", [
    ("", 2, "the question is empty"),
    ("   ", 2, "the question is empty"),
    ("а" * 2001, 2, "too long"),
])
def test_bad_questions(capsys, graph_index, question, code, message):
    got, out, err = run(capsys, question, "--index", graph_index)
    assert got == code and out == "" and err.startswith("error: ") and message in err


def test_missing_artifacts(capsys, graph_index, varied_tiny_dir, tiny_adapter_dir, tmp_path):
    code, _, err = run(capsys, Q, "--index", tmp_path / "no-index")
    assert code == 3 and "no index" in err and "lexkz index build" in err
    code, _, err = run(capsys, Q, "--index", graph_index, "--generator", "hf", "--model", tmp_path / "no-model")
    assert code == 3 and "model not found" in err
    code, _, err = run(capsys, Q, "--index", graph_index, "--generator", "hf", "--model", "Qwen/Qwen3-8B")
    assert code == 3 and "cannot load model 'Qwen/Qwen3-8B'" in err  # offline, not in the local cache
    code, _, err = run(capsys, Q, "--index", graph_index, "--model", varied_tiny_dir, "--adapter", tmp_path / "none")
    assert code == 3 and "adapter not found" in err
    other = tmp_path / "other_adapter"
    shutil.copytree(tiny_adapter_dir, other)
    cfg = json.loads((other / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "Qwen/Qwen3-8B"
    (other / "adapter_config.json").write_text(json.dumps(cfg))
    code, _, err = run(capsys, Q, "--index", graph_index, "--model", varied_tiny_dir, "--adapter", other)
    assert code == 4 and "trained for base model 'Qwen/Qwen3-8B'" in err


def test_closed_book_without_index_still_answers(capsys, tmp_path):
    code, out, _ = run(capsys, Q, "--mode", "closed_book", "--index", tmp_path / "no-index", "--json")
    assert code == 0
    state = json.loads(out)
    jsonschema.validate(state, SCHEMA)
    assert state["retrieved"] == [] and "Найденных статей нет" in state["answer"]
    assert any("Индекс недоступен" in w for w in state["warnings"])


def test_config_file_and_flag_overrides(capsys, graph_index, tmp_path):
    config = Path(__file__).resolve().parent.parent / "configs" / "ask-qwen3-8b.toml"
    code, out, _ = run(capsys, Q, "--index", graph_index, "--config", config, "--generator", "extractive", "--json")
    assert code == 0
    state = json.loads(out)
    assert state["k"] == 5 and state["generator"]["backend"] == "extractive"  # the flag beat backend = "hf"
    bad = tmp_path / "bad.toml"
    bad.write_text("[generation]\nmodell = 'x'\n")
    code, _, err = run(capsys, Q, "--index", graph_index, "--config", bad)
    assert code == 2 and "unknown key(s) modell" in err
