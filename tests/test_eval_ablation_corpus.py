"""The whole ablation on the real corpus: a real index of ../shared/corpus (hashing embedder,
so the build takes seconds, not minutes), the tiny random Qwen3, a peft adapter trained here,
public questions from ../shared/qa, every condition and the forgetting check. Scores are
plumbing checks, never results. Skips when the corpus or the Q/A sets are absent."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from retrieval.config import RetrievalConfig
from eval.config import CONDITIONS, EvalConfig
from eval.run import run_eval
from lexkz.tiny import train_tiny_adapter, varied_copy
from tests.test_eval_run import _rows, _stable

pytestmark = pytest.mark.slow

QA_FILE = "nurkal_qwen3_bench500_portal_like.jsonl"  # 57 of its questions cite the Labour Code, which is indexed
ARTIFACTS = ["results.json", "tables.md", "tables.tex", "key_numbers.md", "samples.md", "benchmark_metrics.png",
             "token_f1_histogram.png", "key_info_distribution.png", "generation_time.png"]


@pytest.fixture(scope="module")
def corpus_setup(shared_corpus, tiny_model_dir, tmp_path_factory):
    from index.build import build_index
    from index.config import IndexConfig

    qa = shared_corpus.parent / "qa" / QA_FILE
    if not qa.is_file():
        pytest.skip(f"public Q/A set absent: {qa}")
    root = tmp_path_factory.mktemp("corpus_ablation")
    build_index(shared_corpus, root / "index", IndexConfig(embedding="hashing"), progress=False)
    model = varied_copy(tiny_model_dir, root / "model")  # answers vary, so equality checks mean something
    adapter, _ = train_tiny_adapter(model, root / "adapter")
    cfg = EvalConfig(questions=[str(qa)], index_dir=str(root / "index"), model=str(model),
                     adapter=str(adapter), conditions=list(CONDITIONS), limit=4, batch_size=2, retrieval=RetrievalConfig(k=3),
                     max_new_tokens=8, context_chars=400, control_limit=4, bootstrap_resamples=200)
    return root, cfg


def test_every_condition_and_artifact_on_the_real_corpus(corpus_setup):
    root, cfg = corpus_setup
    out = run_eval(replace(cfg, output_dir=str(root / "full")), progress=False)
    rows = _rows(out)
    main = [r for r in rows if r["set"] == "main"]
    assert sorted({r["condition"] for r in main}) == sorted(CONDITIONS)
    assert all(sum(r["condition"] == c for r in main) == 4 for c in CONDITIONS)
    assert all(r["gold"] and r["gold"][0][0] == "K1500000414" for r in main)  # filtered to the indexed act
    control = [r for r in rows if r["set"] == "control"]
    assert sorted((r["condition"], r["id"]) for r in control) == sorted(
        (c, f"control-rus-{i:02d}") for c in ("base", "ft") for i in range(1, 5))
    rag = [r for r in main if r["condition"] in ("rag", "ft_rag", "extractive")]
    assert all(len(r["retrieved"]) == 3 and r["metrics"]["recall_at_k"] in (0.0, 1.0) for r in rag)
    assert all(r["metrics"]["recall_at_k"] is None for r in main if r["condition"] in ("base", "ft"))

    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "complete" and record["tiny_random_generator"]
    assert record["questions"]["dropped_not_in_index"] > 100  # most public questions cite other acts
    assert record["index"]["corpus_revision"] is not None and record["adapter_hash"]
    assert set(record["prompt_ids"]) == set(CONDITIONS)

    report = out / "report"
    for name in ARTIFACTS:
        assert (report / name).is_file(), name
    results = json.loads((report / "results.json").read_text())
    assert results["plumbing_check"] and list(results["summary"]) == list(CONDITIONS)
    assert {(t["a"], t["b"]) for t in results["control"]["paired"]} == {("ft", "base")}
    assert "Forgetting check" in (report / "tables.md").read_text()


def test_interrupted_then_resumed_equals_uninterrupted(corpus_setup):
    root, cfg = corpus_setup
    whole = run_eval(replace(cfg, output_dir=str(root / "whole"), conditions=["rag", "ft", "extractive"]), progress=False)

    class Stop(Exception):
        pass

    calls = []

    def stop(*_):
        calls.append(1)
        if len(calls) == 3:
            raise Stop

    part_cfg = replace(cfg, output_dir=str(root / "part"), conditions=["rag", "ft", "extractive"])
    with pytest.raises(Stop):
        run_eval(part_cfg, on_batch=stop, progress=False)
    assert not (root / "part" / "report").exists()
    run_eval(part_cfg, progress=False)
    assert _stable(_rows(root / "part")) == _stable(_rows(whole))
    assert len({r["answer"] for r in _rows(whole) if r["condition"] == "rag"}) > 1
    a = json.loads((whole / "report" / "results.json").read_text())
    b = json.loads((root / "part" / "report" / "results.json").read_text())
    for cond, metrics in a["summary"].items():
        for key in ("token_f1", "key_info", "recall_at_k", "mrr", "citation_recall"):
            assert metrics.get(key) == b["summary"][cond].get(key), (cond, key)
