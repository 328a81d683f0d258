"""eval.report on hand-made run directories: every artifact, the numbers, the plumbing label,
several runs combined, and clear errors."""

import json

import numpy as np
import pytest

from eval.report import PLUMBING, write_report
from lexkz.common import append_jsonl, write_json
from lexkz.errors import LexkzError

F1 = {"base": [0.1, 0.2, 0.3, 0.4], "rag": [0.5, 0.6, 0.7, 0.9]}


def _rows(condition, f1s, set_name="main"):
    rows = []
    for i, f in enumerate(f1s):
        rows.append({
            "set": set_name, "condition": condition, "id": f"q{i}", "lang": "rus" if i % 2 == 0 else "kaz",
            "question": f"вопрос {i}", "reference_answer": f"ответ {i}", "answer": f"ответ {condition} {i}",
            "metrics": {"token_f1": f, "exact_match": float(f > 0.85), "key_info": None if i == 0 else f / 2,
                        "generation_seconds": 0.5 + i, "tokens_per_second": 10.0 + i,
                        "recall_at_k": 1.0 if condition == "rag" else None},
        })
    return rows


def _make_run(path, tiny=True, label=""):
    path.mkdir(parents=True)
    write_json(path / "run.json", {"status": "complete", "model": "m", "tiny_random_generator": tiny,
                                   "config": {"seed": 0, "bootstrap_resamples": 500, "label": label},
                                   "index": {"version": 1}, "n_questions": 4})
    for cond, f1s in F1.items():
        append_jsonl(path / "rows.jsonl", _rows(cond, f1s))
    append_jsonl(path / "rows.jsonl", _rows("base", [1.0, 0.5], "control") + _rows("ft", [0.5, 0.5], "control"))
    return path


def test_single_run_report_writes_every_artifact(tmp_path):
    out = write_report([_make_run(tmp_path / "run")])
    assert out == tmp_path / "run" / "report"
    for name in ["results.json", "tables.md", "tables.tex", "key_numbers.md", "samples.md", "benchmark_metrics.png",
                 "token_f1_histogram.png", "key_info_distribution.png", "generation_time.png"]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "benchmark_metrics.png").read_bytes()[:4] == b"\x89PNG"
    res = json.loads((out / "results.json").read_text())
    base = res["summary"]["base"]
    assert base["token_f1"]["mean"] == pytest.approx(np.mean(F1["base"]))
    assert base["token_f1"]["lo"] <= base["token_f1"]["mean"] <= base["token_f1"]["hi"]
    assert base["key_info"]["n"] == 3  # the None is left out
    assert "recall_at_k" not in base and res["summary"]["rag"]["recall_at_k"]["mean"] == 1.0
    assert res["by_lang"]["kaz"]["rag"]["token_f1"]["mean"] == pytest.approx((0.6 + 0.9) / 2)
    pair = next(t for t in res["paired"] if t["metric"] == "token_f1")
    assert (pair["a"], pair["b"]) == ("rag", "base")  # the later condition minus the earlier one
    assert pair["mean_diff"] == pytest.approx(np.mean(np.array(F1["rag"]) - np.array(F1["base"])))
    assert pair["p_permutation"] == pytest.approx(0.125)  # exact: 2 of 16 sign flips are as extreme
    kaz_pair = next(t for t in res["paired_by_lang"]["kaz"] if t["metric"] == "token_f1")
    assert kaz_pair["n"] == 2 and kaz_pair["mean_diff"] == pytest.approx(((0.6 - 0.2) + (0.9 - 0.4)) / 2)
    assert "## Paired tests, language: kaz" in (out / "tables.md").read_text()
    forgetting = next(t for t in res["control"]["paired"] if t["metric"] == "token_f1")
    assert (forgetting["a"], forgetting["b"]) == ("ft", "base")
    assert forgetting["mean_diff"] == pytest.approx(-0.25)  # ft lost 0.25 token F1 on control questions
    for name in ["tables.md", "key_numbers.md", "samples.md"]:
        assert PLUMBING in (out / name).read_text()
    assert "Plumbing check, not a result" in (out / "tables.tex").read_text()
    assert "\\begin{tabular}" in (out / "tables.tex").read_text()
    samples = (out / "samples.md").read_text()
    assert samples.index("## rag: top") < samples.index("token F1 0.900") < samples.index("## rag: bottom")


def test_real_model_report_has_no_plumbing_label(tmp_path):
    out = write_report([_make_run(tmp_path / "run", tiny=False)])
    assert PLUMBING not in (out / "tables.md").read_text()
    assert json.loads((out / "results.json").read_text())["plumbing_check"] is False


def test_several_runs_combine_into_one_table(tmp_path):
    a = _make_run(tmp_path / "r8", label="lora-r8")
    b = _make_run(tmp_path / "r16", label="lora-r16")
    with pytest.raises(LexkzError, match="--out"):
        write_report([a, b])
    out = write_report([a, b], tmp_path / "compare")
    res = json.loads((out / "results.json").read_text())
    assert set(res["summary"]) == {"lora-r8/base", "lora-r8/rag", "lora-r16/base", "lora-r16/rag"}
    assert "| lora-r16/rag |" in (out / "tables.md").read_text()
    pairs = {(t["a"], t["b"]) for t in res["paired"]}
    assert ("lora-r16/rag", "lora-r8/rag") in pairs and ("lora-r8/rag", "lora-r8/base") in pairs
    assert ("lora-r16/rag", "lora-r8/base") not in pairs  # different run and condition: not compared


def test_missing_or_empty_run_is_a_clear_error(tmp_path):
    with pytest.raises(LexkzError, match="not an eval run directory"):
        write_report([tmp_path])
    run = _make_run(tmp_path / "run")
    (run / "rows.jsonl").write_text("")
    with pytest.raises(LexkzError, match="no finished rows"):
        write_report([run])


def test_report_shows_each_citation_status_rate(tmp_path):
    """Rows with verified citations: precision counts only `supported`, each status has its rate."""
    run = _make_run(tmp_path / "run", tiny=False)
    rows = [{"set": "main", "condition": "rag", "id": f"c{i}", "lang": "rus", "question": "q", "reference_answer": "a",
             "answer": "a", "gold": [["K1", "88"]],
             "citations": [{"act_code": "K1", "number": "88", "status": s},
                           {"act_code": "K1", "number": "90", "status": "not_supported"}],
             "metrics": {"token_f1": 0.5, "citation_precision": 0.5}}
            for i, s in enumerate(["supported", "wrong_act"])]
    append_jsonl(run / "rows.jsonl", rows)
    out = write_report([run])
    res = json.loads((out / "results.json").read_text())["summary"]["rag"]
    assert res["citation_precision"]["n"] == 2 and res["citation_precision"]["mean"] == pytest.approx(0.25)
    assert res["citation_rate_not_supported"]["mean"] == pytest.approx(0.5)
    assert res["citation_rate_supported"]["mean"] == pytest.approx(0.25)
    assert res["citation_rate_wrong_act"]["mean"] == pytest.approx(0.25)
    assert "Cit. not supported" in (out / "tables.md").read_text()
