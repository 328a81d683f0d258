"""End-to-end ablation runs with real parts: a real index (hashing embedder) of the fixture
corpus, the tiny random Qwen3, a LoRA adapter trained here for a few real steps with peft,
the real LangGraph workflow, real rows on disk. Scores are plumbing checks, never results."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from retrieval.config import RetrievalConfig
from eval.config import EvalConfig
from eval.run import run_eval
from lexkz.errors import LexkzError
from tests.fixture_corpus import CONSUMER, LABOUR

QUESTIONS = [
    {"id": "f1", "lang": "ru", "question": "Сколько дней длится ежегодный оплачиваемый трудовой отпуск?",
     "reference_answer": "Двадцать четыре календарных дня (ст. 88 Трудового кодекса).", "act_code": LABOUR, "article": "88"},
    {"id": "f2", "lang": "ru", "question": "Что может потребовать потребитель, если ему продан товар ненадлежащего качества?",
     "reference_answer": "Замены товара или возврата уплаченной суммы (ст. 30).", "act_code": CONSUMER, "article": "30"},
    {"id": "f3", "lang": "kk", "question": "Қызметкер еңбек шартын бұзу үшін жұмыс берушіні қашан ескертуі керек?",
     "reference_answer": "Бір айдан кешіктірмей жазбаша ескертеді (113-бап).", "act_code": LABOUR, "article": "113"},
]
VOLATILE = {"seconds", "batch_seconds", "timings"}  # wall-clock values differ between runs


@pytest.fixture(scope="module")
def varied_model_dir(varied_tiny_dir):
    """The tiny Qwen3 with weights redrawn at std 0.3 (lexkz.tiny.varied_copy): the stock init
    answers every prompt with empty text, which would make identity checks vacuous."""
    return varied_tiny_dir


@pytest.fixture(scope="module")
def tiny_adapter(tiny_adapter_dir):
    """A real LoRA adapter of `varied_model_dir`, trained for a few steps (tests/graph_fixtures.py)."""
    return tiny_adapter_dir


@pytest.fixture(scope="module")
def questions_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("questions") / "q.jsonl"
    path.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS) + "\n", encoding="utf-8")
    return path


def _cfg(tiny_model_dir, fixture_index, questions_file, out, **kw) -> EvalConfig:
    base = EvalConfig(questions=[str(questions_file)], index_dir=str(fixture_index), model=str(tiny_model_dir),
                      conditions=["rag", "extractive"], retrieval=RetrievalConfig(k=3), batch_size=2, max_new_tokens=8, control_set="",
                      output_dir=str(out), bootstrap_resamples=200)
    return replace(base, **kw)


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "rows.jsonl").read_text(encoding="utf-8").splitlines()]


def _stable(rows):
    out = sorted(((r["set"], r["condition"], r["id"]), {k: v for k, v in r.items() if k not in VOLATILE}) for r in rows)
    for _, r in out:
        r["metrics"] = {k: v for k, v in r["metrics"].items() if k not in ("generation_seconds", "tokens_per_second")}
    return out


def test_small_ablation_writes_rows_record_and_report(tiny_model_dir, fixture_index, questions_file, tmp_path):
    out = run_eval(_cfg(tiny_model_dir, fixture_index, questions_file, tmp_path / "run"), progress=False)
    rows = _rows(out)
    assert sorted((r["condition"], r["id"]) for r in rows) == sorted((c, q["id"]) for c in ("rag", "extractive") for q in QUESTIONS)
    by = {(r["condition"], r["id"]): r for r in rows}
    # retrieval is real: the hybrid retriever finds the gold article of each question in the top 3
    assert all(by[("rag", q["id"])]["metrics"]["recall_at_k"] == 1.0 for q in QUESTIONS)
    assert by[("rag", "f1")]["retrieved"][0] == [LABOUR, "88"]
    # the extractive answer quotes the gold article's text and gets the key number
    ext = by[("extractive", "f1")]
    assert "двадцать четыре" in ext["answer"] and ext["metrics"]["key_info"] > 0
    assert ext["metrics"]["mrr"] == 1.0
    assert by[("rag", "f3")]["prompt_id"] == "rag_kaz_v1"
    assert all(r["completion_tokens"] <= 8 for r in rows if r["condition"] == "rag")

    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["tiny_random_generator"] is True
    assert record["index"]["version"] == 1 and len(record["index"]["manifest_sha256"]) == 64
    assert record["decoding"] == {"do_sample": False, "temperature": 0.0, "top_p": 1.0, "max_new_tokens": 8, "seed": 0}
    assert record["prompt_ids"]["rag"] == {"kaz": "rag_kaz_v1", "rus": "rag_rus_v1"}
    assert record["libraries"]["torch"] and record["config"]["retrieval"]["k"] == 3
    assert record["questions"]["n"] == 3 and record["git"]["commit"]

    report = out / "report"
    for name in ["results.json", "tables.md", "tables.tex", "key_numbers.md", "samples.md", "benchmark_metrics.png",
                 "token_f1_histogram.png", "key_info_distribution.png", "generation_time.png"]:
        assert (report / name).is_file(), name
    assert "PLUMBING CHECK, NOT A RESULT" in (report / "key_numbers.md").read_text()


def test_two_greedy_runs_and_a_resumed_run_give_identical_rows(varied_model_dir, fixture_index, questions_file,
                                                                tiny_adapter, tmp_path):
    kw = dict(conditions=["rag", "ft_rag"], adapter=str(tiny_adapter), batch_size=2, report=False)
    first = run_eval(_cfg(varied_model_dir, fixture_index, questions_file, tmp_path / "a", **kw), progress=False)
    second = run_eval(_cfg(varied_model_dir, fixture_index, questions_file, tmp_path / "b", **kw), progress=False)
    assert _stable(_rows(first)) == _stable(_rows(second))
    rows = _rows(first)
    answers = [r["answer"] for r in rows if r["condition"] == "rag"]
    assert len(set(answers)) >= 3 and all(answers)  # real, varied text: the identity checks are not vacuous
    assert len(rows) == 3 * 2
    record = json.loads((first / "run.json").read_text())
    assert len(record["adapter_hash"]) == 64

    # interrupt after three batches (rag done, ft_rag half done), tear the last line as a kill
    # mid-write would, then resume
    class Stop(Exception):
        pass

    seen = []

    def stop_after_three(set_name, condition, n):
        seen.append((condition, n))
        if len(seen) == 3:
            raise Stop

    cfg = _cfg(varied_model_dir, fixture_index, questions_file, tmp_path / "c", **kw)
    with pytest.raises(Stop):
        run_eval(cfg, on_batch=stop_after_three, progress=False)
    assert seen == [("rag", 2), ("rag", 1), ("ft_rag", 2)]
    assert len(_rows(cfg_dir := tmp_path / "c")) == 5
    assert json.loads((cfg_dir / "run.json").read_text())["status"] == "running"
    with open(cfg_dir / "rows.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"set": "main", "condition": "ft_ra')
    run_eval(cfg, progress=False)
    assert _stable(_rows(cfg_dir)) == _stable(_rows(first))
    assert json.loads((cfg_dir / "run.json").read_text())["resumed"] == 1

    # the adapter changes what the model says: ft_rag answers are not the base model's rag answers
    ft = {r["id"]: r["answer"] for r in rows if r["condition"] == "ft_rag"}
    plain = {r["id"]: r["answer"] for r in rows if r["condition"] == "rag"}
    assert ft != plain


def test_resume_with_other_settings_is_refused(tiny_model_dir, fixture_index, questions_file, tmp_path):
    cfg = _cfg(tiny_model_dir, fixture_index, questions_file, tmp_path / "run", conditions=["extractive"], report=False)
    run_eval(cfg, progress=False)
    before = (tmp_path / "run" / "rows.jsonl").read_bytes()
    with pytest.raises(LexkzError, match="different settings.*k") as exc:
        run_eval(replace(cfg, retrieval=RetrievalConfig(k=2)), progress=False)
    assert exc.value.exit_code == 4
    assert (tmp_path / "run" / "rows.jsonl").read_bytes() == before  # nothing damaged


def test_bad_settings_are_clear_errors(tiny_model_dir, fixture_index, questions_file, tmp_path):
    with pytest.raises(LexkzError, match="need an adapter"):
        run_eval(_cfg(tiny_model_dir, fixture_index, questions_file, tmp_path / "x", conditions=["ft"]))
    with pytest.raises(LexkzError, match="unknown or no condition"):
        run_eval(_cfg(tiny_model_dir, fixture_index, questions_file, tmp_path / "x", conditions=["oracle"]))
    with pytest.raises(LexkzError, match="no index"):
        run_eval(_cfg(tiny_model_dir, tmp_path / "missing", questions_file, tmp_path / "x"))
    with pytest.raises(LexkzError, match="model not found") as exc:
        run_eval(_cfg(tmp_path / "no-model", fixture_index, questions_file, tmp_path / "x"))
    assert exc.value.exit_code == 3
    with pytest.raises(LexkzError, match="adapter not found"):
        run_eval(_cfg(tiny_model_dir, fixture_index, questions_file, tmp_path / "x", conditions=["ft"],
                      adapter=str(tmp_path / "no-adapter")))
    assert not (tmp_path / "x").exists()  # nothing written by a refused run


def test_semantic_similarity_with_the_bundled_minilm():
    from eval.run import SemanticScorer

    scorer = SemanticScorer("minilm")
    same, other, empty = scorer(["The worker gets 24 days of leave.", "Bananas are yellow.", ""],
                                ["The worker gets 24 days of leave.", "An employee is entitled to annual leave.", "x"])
    assert same == pytest.approx(1.0, abs=1e-4)
    assert other < 0.5 and empty == 0.0
    greedy = SemanticScorer("minilm", mode="greedy")
    g_same, g_para, g_other = greedy(["The worker gets 24 days of leave.", "An employee gets 24 days off.", "Bananas are yellow."],
                                     ["The worker gets 24 days of leave."] * 3)
    assert g_same == pytest.approx(1.0, abs=1e-4)
    assert g_same > g_para > g_other
    with pytest.raises(LexkzError, match="semantic_mode"):
        SemanticScorer("minilm", mode="bleu")


def test_cli_run_and_report(tiny_model_dir, fixture_index, questions_file, tmp_path, capsys):
    from lexkz.cli import main

    cfg = tmp_path / "eval.toml"
    cfg.write_text(f'[eval]\nquestions = ["{questions_file}"]\nindex_dir = "{fixture_index}"\nmodel = "{tiny_model_dir}"\n'
                   f'conditions = ["extractive"]\ncontrol_set = ""\nbootstrap_resamples = 100\nsemantic_model = "minilm"\n'
                   f'semantic_mode = "greedy"\n', encoding="utf-8")
    assert main(["eval", "run", "--config", str(cfg), "--limit", "2", "--output-dir", str(tmp_path / "run"), "--quiet"]) == 0
    rows = _rows(tmp_path / "run")
    assert len(rows) == 2 and all(0.0 < r["metrics"]["semantic_similarity"] <= 1.0 for r in rows)
    assert main(["eval", "report", str(tmp_path / "run"), "--out", str(tmp_path / "rep")]) == 0
    assert "PLUMBING CHECK" in capsys.readouterr().out
    assert main(["eval", "run", "--config", str(cfg), "--conditions", "ft", "--output-dir", str(tmp_path / "x")]) == 2
    assert "error: conditions ft/ft_rag need an adapter" in capsys.readouterr().err
    assert main(["eval", "report", str(tmp_path / "nothing")]) == 3


def test_shared_base_weights_give_the_same_rows_as_two_loads(varied_model_dir, fixture_index, questions_file,
                                                             tiny_adapter, tmp_path):
    kw = dict(conditions=["base", "ft"], adapter=str(tiny_adapter), batch_size=3, report=False)
    two = run_eval(_cfg(varied_model_dir, fixture_index, questions_file, tmp_path / "two", **kw), progress=False)
    one = run_eval(_cfg(varied_model_dir, fixture_index, questions_file, tmp_path / "one", share_base_weights=True, **kw),
                   progress=False)
    assert _stable(_rows(one)) == _stable(_rows(two))
    by = {(r["condition"], r["id"]): r["answer"] for r in _rows(one)}
    assert any(by[("base", q["id"])] != by[("ft", q["id"])] for q in QUESTIONS)  # the adapter was on for ft only


def test_eval_run_uses_and_records_the_toml_retrieval_section(fixture_index, questions_file, tmp_path, capsys):
    """configs/ablation.toml style: [eval] + [retrieval] in one file. The rag conditions retrieve
    with the [retrieval] values (here k=2 and odd fusion settings), run.json records them, and a
    resume with other [retrieval] values is refused naming the field."""
    from lexkz.cli import main

    out = tmp_path / "run"
    toml = tmp_path / "ablation.toml"
    toml.write_text(f"""
[eval]
questions = ["{questions_file}"]
conditions = ["extractive"]
index_dir = "{fixture_index}"
control_set = ""
output_dir = "{out}"
report = false

[retrieval]
k = 2
lexical_weight = 0.5
dense_weight = 2.0
rrf_k = 7
""", encoding="utf-8")
    assert main(["eval", "run", "--config", str(toml), "--quiet"]) == 0
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    stored = record["config"]["retrieval"]
    assert (stored["k"], stored["lexical_weight"], stored["dense_weight"], stored["rrf_k"]) == (2, 0.5, 2.0, 7)
    assert record["resume_key"]["retrieval"] == stored
    rows = _rows(out)
    assert rows and all(len(r["retrieved"]) == 2 for r in rows if r["condition"] == "extractive")
    toml.write_text(toml.read_text(encoding="utf-8").replace("rrf_k = 7", "rrf_k = 60"), encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", "run", "--config", str(toml), "--quiet"]) == 4
    assert "retrieval.rrf_k" in capsys.readouterr().err
    with pytest.raises(LexkzError, match=r"\[retrieval\] section"):
        from lexkz.config import load_stage
        toml.write_text(toml.read_text(encoding="utf-8").replace("[eval]", "[eval]\nretrieval = 3"), encoding="utf-8")
        load_stage(EvalConfig, toml, "eval")


def test_a_retrieval_setting_in_the_eval_section_says_where_it_belongs(tmp_path):
    from lexkz.config import load_stage

    toml = tmp_path / "old.toml"
    toml.write_text('[eval]\nk = 3\n', encoding="utf-8")
    with pytest.raises(LexkzError, match=r"'k' .* belongs in the \[retrieval\] section"):
        load_stage(EvalConfig, toml, "eval")
