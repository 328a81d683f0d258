"""Ablation runner: one question set, several conditions, per-sample rows, a run record.

    lexkz eval run --config configs/ablation.toml [--limit N] [--output-dir DIR]
    lexkz eval run --config configs/tiny-ablation.toml --limit 6     # CPU plumbing check

Conditions (one shared question set, batched generation):
    base        closed-book, base model          ft       closed-book, base + adapter
    rag         base model + retrieval           ft_rag   base + adapter + retrieval
    extractive  retrieval + quoted sentences, no language model
Every answer goes through the LangGraph workflow (`graph.ask.answer_batch`), so citations are
checked by the graph's own verification. Each model is loaded once for all the conditions that
use it (base for base/rag, base + adapter for ft/ft_rag). The forgetting check runs base and ft
closed-book on the control set of general questions (eval/data/control_general.jsonl).

Output directory:
    run.json     run record: resolved config, model, adapter hash, index version + manifest hash,
                 prompt ids, decoding, seed, library versions, git commit, question-set hash
    rows.jsonl   one row per (set, condition, question), appended (and fsynced) per batch
    report/      written at the end (same as `lexkz eval report DIR`)
A run that stops part way resumes where it stopped when started again with the same config and
output directory: finished batches are skipped, so the result equals an uninterrupted run.
One run at a time per output directory: DIR/.lock is held from the first read of run.json to
the end, and a second `lexkz eval run` into the same directory is refused (exit 4).
"""

from __future__ import annotations

import gc
import json
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from eval import metrics as M
from eval.config import CONDITION_SPECS, CONDITIONS, EvalConfig
from eval.datasets import EvalItem, filter_to_acts, items_fingerprint, load_items
from lexkz.common import append_jsonl, library_versions, read_jsonl, sha256_file, sha256_text, write_json
from lexkz.config import to_dict
from lexkz.errors import LexkzError
from lexkz.tiny import is_tiny_random

ROWS_FILE, RECORD_FILE, LOCK_FILE = "rows.jsonl", "run.json", ".lock"
LIBRARIES = ["torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "sentence-transformers",
             "faiss-cpu", "langgraph", "langchain-core", "numpy", "scipy", "lexkz"]


# ----------------------------------------------------------------------------- provenance


def git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty) if commit else None}


def adapter_hash(adapter: str) -> str | None:
    """sha256 over the adapter's config and weight files (None when no adapter)."""
    if not adapter:
        return None
    path = Path(adapter)
    files = sorted(p for p in path.glob("adapter_*") if p.is_file())
    if not files:
        raise LexkzError(f"adapter not found or empty: {path} (train one with `lexkz finetune train`, "
                         "or set adapter = \"\" and drop the ft conditions)", 3)
    return sha256_text("".join(f"{p.name}:{sha256_file(p)}\n" for p in files))


def _prompt_ids(conditions: list[str], langs: set[str]) -> dict[str, dict[str, str]]:
    from graph.prompts import prompt_id

    return {c: {lang: prompt_id(lang, CONDITION_SPECS[c][0]) for lang in sorted(langs)} for c in conditions}


# ----------------------------------------------------------------------------- questions


def load_question_sets(cfg: EvalConfig, index) -> tuple[list[EvalItem], list[EvalItem], dict]:
    """(main items, control items, info) after filtering to the index and applying limits."""
    problems: list[str] = []
    items = load_items(cfg.questions, skip_invalid=cfg.skip_invalid, problems=problems)
    dropped = 0
    if cfg.filter_to_index:
        if index is None:
            raise LexkzError("filter_to_index needs an index: set index_dir, or filter_to_index = false")
        items, dropped = filter_to_acts(items, {a["code"] for a in index.articles.acts()})
        if not items:
            raise LexkzError(f"none of the questions in {', '.join(cfg.questions)} is about an act in the index "
                             f"{cfg.index_dir}; index the acts they cite or set filter_to_index = false")
    if cfg.limit:
        items = items[:cfg.limit]
    control: list[EvalItem] = []
    if cfg.control_set and any(c in cfg.conditions for c in ("base", "ft")):
        control = load_items([cfg.control_set], limit=cfg.control_limit or None)
    info = {"files": list(cfg.questions), "n": len(items), "fingerprint": items_fingerprint(items),
            "dropped_not_in_index": dropped, "invalid_lines": problems,
            "langs": sorted({it.lang for it in items}),
            "control": {"file": cfg.control_set, "n": len(control), "fingerprint": items_fingerprint(control)} if control else None}
    return items, control, info


# ----------------------------------------------------------------------------- scoring


def _pairs(objs, act_key="act_code", num_key="number") -> list[tuple[str, str]]:
    out = []
    for o in objs or []:
        get = o.get if isinstance(o, dict) else (lambda k, _o=o: getattr(_o, k, None))
        out.append((str(get(act_key)), str(get(num_key))))
    return out


def score_row(item: EvalItem, answer: str, citations: list[dict], retrieved: list[tuple[str, str]],
              gen: dict, cfg: EvalConfig, rag: bool, llm: bool = True) -> dict[str, float | None]:
    """Every metric of one answer (None where a metric does not apply; no tokens/s without an LLM)."""
    gold = item.gold_articles()
    m: dict[str, float | None] = {
        "exact_match": M.exact_match(answer, item.reference_answer, item.answer_alternatives),
        "token_f1": M.token_f1(answer, item.reference_answer, cfg.stem, item.lang, item.answer_alternatives),
        "key_info": M.key_info_score(answer, item.reference_answer, item.lang),
        "length_ratio": M.length_ratio(answer, item.reference_answer),
        "empty_answer": M.empty_answer(answer),
        "generation_seconds": gen.get("seconds"),
        "tokens_per_second": M.tokens_per_second(gen.get("completion_tokens"), gen.get("seconds")) if llm else None,
    }
    m.update(M.citation_scores([(c.get("act_code"), c.get("number")) for c in citations], gold,
                               [bool(c.get("invented")) for c in citations],
                               statuses=[c.get("status") for c in citations]))
    m["recall_at_k"] = M.recall_at_k(retrieved, gold, cfg.retrieval.k) if rag else None
    m["mrr"] = M.reciprocal_rank(retrieved, gold) if rag else None
    return m


class SemanticScorer:
    """Semantic similarity of answer and reference with a configured embedding model.

    mode "cosine": cosine of sentence embeddings (`retrieval.embedders.get_embedder`, e.g. "minilm").
    mode "greedy": BERTScore-style F1 (`eval.metrics.greedy_match_f1`) over the model's contextual
    token embeddings, without the [CLS]/[SEP] positions (a sentence-transformers model; "minilm" =
    the bundled one). The model loads on first use. An empty answer scores 0.0."""

    def __init__(self, spec: str, mode: str = "cosine"):
        if mode not in ("cosine", "greedy"):
            raise LexkzError(f"semantic_mode must be cosine or greedy, not {mode!r}")
        self.spec, self.mode, self._model = spec, mode, None

    def _load(self):
        if self.mode == "cosine":
            from retrieval.embedders import get_embedder

            return get_embedder(self.spec)
        from sentence_transformers import SentenceTransformer

        from retrieval.embedders import minilm_path

        path = str(minilm_path()) if self.spec == "minilm" else self.spec
        try:
            return SentenceTransformer(path, device="cpu")
        except OSError as exc:
            raise LexkzError(f"cannot load semantic model {self.spec!r} ({exc}); use minilm or a local "
                             "sentence-transformers directory", 3) from exc

    def __call__(self, answers: list[str], references: list[str]) -> list[float]:
        if self._model is None:
            self._model = self._load()
        if self.mode == "cosine":
            a = self._model.embed_passages([x or " " for x in answers])
            r = self._model.embed_passages(references)
            scores = [float(M.cosine(a[i], r[i])) for i in range(len(answers))]
        else:
            a = self._model.encode([x or " " for x in answers], output_value="token_embeddings")
            r = self._model.encode(references, output_value="token_embeddings")
            scores = [M.greedy_match_f1(a[i][1:-1].float().numpy(), r[i][1:-1].float().numpy()) for i in range(len(answers))]
        return [0.0 if not M.normalize(ans) else score for ans, score in zip(answers, scores)]


# ----------------------------------------------------------------------------- generation


def _generation_config(cfg: EvalConfig, backend: str, adapter: str):
    from graph.config import GenerationConfig

    return GenerationConfig(
        backend=backend, model=cfg.model if backend == "hf" else "", adapter=adapter,
        max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
        do_sample=cfg.do_sample, seed=cfg.seed, batch_size=cfg.batch_size, dtype=cfg.dtype,
        load_in_4bit=cfg.load_in_4bit, device=cfg.device, context_chars=cfg.context_chars,
    )


def _answer_batch(items: list[EvalItem], condition: str, generator, retriever, store, cfg: EvalConfig,
                  gen_cfg) -> list[dict]:
    """Run one batch through the LangGraph workflow; one plain dict per item."""
    from graph.ask import answer_batch

    mode = CONDITION_SPECS[condition][0]
    states = answer_batch([it.question for it in items], [it.lang for it in items], mode=mode,
                          retriever=retriever if mode == "rag" else None, generator=generator,
                          store=store, config=gen_cfg,
                          filters=[{"as_of": it.as_of} if it.as_of else None for it in items])
    out = []
    for state in states:
        gen = state.get("generation") or {}
        if not isinstance(gen, dict):
            gen = gen.to_dict()
        # graph.citations statuses: supported | in_corpus_not_retrieved | invented | unresolved
        citations = [
            {"raw": c.get("raw"), "act_code": c.get("act_code"), "number": c.get("number"),
             "status": c.get("status"), "invented": c.get("status") == "invented"}
            for c in state.get("citations") or []
        ]
        retrieved = _pairs(state.get("retrieved") or [])
        out.append({"answer": state.get("answer") or "", "citations": citations, "retrieved": retrieved,
                    "prompt_id": state.get("prompt_id"),
                    "gen": {"seconds": gen.get("seconds"), "prompt_tokens": gen.get("prompt_tokens"),
                            "completion_tokens": gen.get("completion_tokens")},
                    "timings": state.get("timings") or {}})
    return out


def _model_plan(cfg: EvalConfig) -> list[tuple[list[str], bool]]:
    """Which conditions share one loaded generator, and whether it carries the adapter.

    Default: the base model for base/rag, base + adapter for ft/ft_rag, the extractive backend.
    With share_base_weights the adapter model serves all four (adapter switched off for base/rag)."""
    wanted = lambda names: [c for c in names if c in cfg.conditions]  # noqa: E731
    if cfg.share_base_weights and wanted(["ft", "ft_rag"]):
        plan = [(wanted(["base", "rag", "ft", "ft_rag"]), True)]
    else:
        plan = [(wanted(["base", "rag"]), False), (wanted(["ft", "ft_rag"]), True)]
    return [(conds, adapter) for conds, adapter in plan + [(wanted(["extractive"]), False)] if conds]


class AdapterDisabled:
    """The base model inside an adapter generator: generates with the LoRA layers switched off
    (peft `disable_adapter()`), so base and adapter conditions share one copy of the weights."""

    name = "hf"

    def __init__(self, generator):
        self.generator = generator

    def generate(self, batch, **overrides):
        self.generator.load()
        with self.generator.model.disable_adapter():
            return self.generator.generate(batch, **overrides)

    def info(self) -> dict:
        return {**self.generator.info(), "adapter": None, "adapter_disabled": True}


def _run_batch(batch: list[EvalItem], set_name: str, condition: str, generator, gen_cfg, retriever, store,
               semantic, cfg: EvalConfig, done: set) -> list[dict]:
    """Answer one fixed batch and score it; rows for the items not already done."""
    t0 = time.perf_counter()
    answers = _answer_batch(batch, condition, generator, retriever, store, cfg, gen_cfg)
    batch_seconds = time.perf_counter() - t0
    sims = semantic([a["answer"] for a in answers], [it.reference_answer for it in batch]) if semantic else None
    rows = []
    for i, (it, ans) in enumerate(zip(batch, answers)):
        if (set_name, condition, it.id) in done:
            continue
        metrics = score_row(it, ans["answer"], ans["citations"], ans["retrieved"], ans["gen"], cfg,
                            rag=CONDITION_SPECS[condition][0] == "rag", llm=CONDITION_SPECS[condition][2] == "hf")
        if sims is not None:
            metrics["semantic_similarity"] = sims[i]
        rows.append({
            "set": set_name, "condition": condition, "id": it.id, "lang": it.lang,
            "question": it.question, "reference_answer": it.reference_answer,
            "gold": [list(g) for g in it.gold_articles()], "answer": ans["answer"],
            "citations": ans["citations"], "retrieved": [list(r) for r in ans["retrieved"]],
            "prompt_id": ans["prompt_id"], **ans["gen"], "timings": ans["timings"],
            "batch_seconds": batch_seconds, "batch_items": len(batch), "metrics": metrics,
            **({"as_of": it.as_of} if it.as_of else {}),
        })
    return rows


# ----------------------------------------------------------------------------- the run


def _check_generators(cfg: EvalConfig) -> None:
    """Cheap checks of every generator the run needs (model/adapter present, adapter fits)."""
    from graph.generators import make_generator

    for conditions, with_adapter in _model_plan(cfg):
        gen = make_generator(_generation_config(cfg, CONDITION_SPECS[conditions[0]][2], cfg.adapter if with_adapter else ""))
        if hasattr(gen, "check"):
            gen.check()


def _resume_key(cfg: EvalConfig, info: dict, record: dict) -> dict:
    """What must not change between an interrupted run and its resumption."""
    return {
        "questions": info["fingerprint"], "control": (info["control"] or {}).get("fingerprint"),
        "model": cfg.model, "adapter_hash": record["adapter_hash"],
        "index_manifest_sha256": (record["index"] or {}).get("manifest_sha256"),
        "retrieval": to_dict(cfg.retrieval), "batch_size": cfg.batch_size, "decoding": record["decoding"], "stem": cfg.stem,
        "semantic_model": cfg.semantic_model, "semantic_mode": cfg.semantic_mode, "context_chars": cfg.context_chars,
    }


def _done_keys(rows_path: Path) -> set[tuple[str, str, str]]:
    """(set, condition, id) of finished rows; a torn last line (killed mid-write) is cut off."""
    if not rows_path.is_file():
        return set()
    good, done = [], set()
    for _, obj, err in read_jsonl(rows_path):
        if err is None and {"set", "condition", "id"} <= set(obj):
            good.append(obj)
            done.add((obj["set"], obj["condition"], obj["id"]))
    raw = rows_path.read_bytes()
    if raw and not raw.endswith(b"\n"):  # a torn final line: drop it so appends stay valid JSONL
        rows_path.write_bytes(raw[: raw.rfind(b"\n") + 1])
    return done


class _RunDirLock:
    """OUT/.lock held for the whole run; a second run into the same directory is refused (exit 4)."""

    def __init__(self, out: Path):
        from filelock import FileLock

        self.path = out / LOCK_FILE
        self.lock = FileLock(str(self.path))

    def __enter__(self):
        from filelock import Timeout

        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            raise LexkzError(f"another `lexkz eval run` is writing {self.path.parent} (lock {self.path} is held): "
                             "wait for it to finish (then run this one again to resume or check it), "
                             "or pass another --output-dir", 4) from None
        return self

    def __exit__(self, *exc):
        self.lock.release()


def run_eval(cfg: EvalConfig, on_batch: Callable[[str, str, int], None] | None = None, progress: bool = True) -> Path:
    """Run (or resume) the ablation described by `cfg`; returns the output directory.

    `on_batch(set_name, condition, rows_written)` is called after each batch is stored.
    """
    unknown = [c for c in cfg.conditions if c not in CONDITIONS]
    if unknown or not cfg.conditions:
        raise LexkzError(f"unknown or no condition(s) {unknown or cfg.conditions}: choose from {', '.join(CONDITIONS)}")
    if cfg.batch_size < 1:
        raise LexkzError("batch_size and k must be at least 1")
    needs_adapter = any(CONDITION_SPECS[c][1] for c in cfg.conditions)
    if needs_adapter and not cfg.adapter:
        raise LexkzError("conditions ft/ft_rag need an adapter: set adapter = \"DIR\" in [eval] "
                         "(from `lexkz finetune train`) or drop ft and ft_rag from conditions")
    needs_index = cfg.filter_to_index or any(CONDITION_SPECS[c][0] == "rag" for c in cfg.conditions)
    index = None
    if needs_index:
        from index.store import open_index

        index = open_index(cfg.index_dir)
    items, control, info = load_question_sets(cfg, index)

    out = Path(cfg.output_dir)
    decoding = {"do_sample": cfg.do_sample, "temperature": cfg.temperature if cfg.do_sample else 0.0,
                "top_p": cfg.top_p if cfg.do_sample else 1.0, "max_new_tokens": cfg.max_new_tokens, "seed": cfg.seed}
    record: dict[str, Any] = {
        "status": "running",
        "config": to_dict(cfg),
        "model": cfg.model,
        "tiny_random_generator": is_tiny_random(cfg.model),
        "adapter": cfg.adapter or None,
        "adapter_hash": adapter_hash(cfg.adapter) if needs_adapter else None,
        "index": None if index is None else {
            "dir": str(cfg.index_dir), "version": index.version,
            "manifest_sha256": sha256_file(index.version_dir / "manifest.json"),
            "corpus_revision": index.manifest.get("corpus", {}).get("revision"),
            "embedding": index.manifest.get("embedding", {}).get("model"),
        },
        "prompt_ids": _prompt_ids(cfg.conditions, set(info["langs"]) | {it.lang for it in control}),
        "decoding": decoding,
        "seed": cfg.seed,
        "questions": info,
        "n_questions": len(items),
        "libraries": library_versions(LIBRARIES),
        "python": platform.python_version(),
        "git": git_commit(),
    }
    record["resume_key"] = _resume_key(cfg, info, record)
    _check_generators(cfg)  # a missing model/adapter fails here, before anything is written
    out.mkdir(parents=True, exist_ok=True)
    with _RunDirLock(out):
        record_path, rows_path = out / RECORD_FILE, out / ROWS_FILE
        if rows_path.is_file() and not record_path.is_file():
            raise LexkzError(f"{rows_path} exists without its run.json: this is not a resumable eval run; "
                             "pass a new --output-dir", 4)
        if record_path.is_file() and _done_keys(rows_path):
            old = json.loads(record_path.read_text(encoding="utf-8"))
            if old.get("resume_key") != record["resume_key"]:
                before = old.get("resume_key") or {}
                changed = sorted(f"{k}.{sub}" if isinstance(v, dict) and isinstance(before.get(k), dict) else k
                                 for k, v in record["resume_key"].items() if before.get(k) != v
                                 for sub in ([s for s in v if before[k].get(s) != v[s]] if isinstance(v, dict)
                                             and isinstance(before.get(k), dict) else [None]))
                raise LexkzError(f"{out} holds an eval run with different settings ({', '.join(changed)}); "
                                 "resume it with its own config, or pass a new --output-dir", 4)
            record["started_at"] = old.get("started_at")
            record["resumed"] = int(old.get("resumed", 0)) + 1
        else:
            record["started_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(record_path, record)
        done = _done_keys(rows_path)

        # work plan: fixed batches so a resumed run sees exactly the batches of an uninterrupted one
        sets = [("main", items, cfg.conditions), ("control", control, [c for c in cfg.conditions if c in ("base", "ft")])]
        total = sum(len(its) for _, its, conds in sets for _ in conds)

        from tqdm.auto import tqdm

        import graph.ask  # noqa: F401 - import LangGraph before the first batch is timed

        retriever = None
        if any(CONDITION_SPECS[c][0] == "rag" for c in cfg.conditions):
            from retrieval.hybrid import HybridRetriever

            retriever = HybridRetriever(index, cfg.retrieval)
        semantic = SemanticScorer(cfg.semantic_model, cfg.semantic_mode) if cfg.semantic_model else None
        store = index.articles if index is not None else None
        bar = tqdm(total=total, initial=len(done), desc="eval", unit="answer", disable=not progress)
        try:
            for group_conditions, with_adapter in _model_plan(cfg):
                pending = [(s, its, c) for s, its, conds in sets for c in group_conditions if c in conds
                           and any((s, c, it.id) not in done for it in its)]
                if not pending:
                    continue
                from graph.generators import make_generator

                backend = CONDITION_SPECS[group_conditions[0]][2]
                gen_cfg = _generation_config(cfg, backend, cfg.adapter if with_adapter else "")
                generator = make_generator(gen_cfg)
                if hasattr(generator, "load"):  # load before timing the first batch (and fail early)
                    generator.load()
                for set_name, its, condition in pending:
                    gen = AdapterDisabled(generator) if with_adapter and not CONDITION_SPECS[condition][1] else generator
                    for start in range(0, len(its), cfg.batch_size):
                        batch = its[start:start + cfg.batch_size]
                        if all((set_name, condition, it.id) in done for it in batch):
                            continue
                        rows = _run_batch(batch, set_name, condition, gen, gen_cfg, retriever, store, semantic, cfg, done)
                        append_jsonl(rows_path, rows)
                        done.update((set_name, condition, r["id"]) for r in rows)
                        bar.update(len(rows))
                        if on_batch:
                            on_batch(set_name, condition, len(rows))
                del generator, gen
                gc.collect()
        finally:
            bar.close()
        record["status"] = "complete"
        record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(record_path, record)
        if cfg.report:
            from eval.report import write_report

            write_report([out])
    return out
