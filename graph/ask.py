"""Ask questions: one through the LangGraph graph (`ask`), or many at once with one batched
generate call (`answer_batch`, used by the eval runner). Both give the same final state.

    from graph.ask import ask, answer_batch, make_context
    final = ask("Сколько дней длится ежегодный отпуск?", index_dir=".lexkz/index")
    final["answer"], final["citations"], final["sources"], final["warnings"]

    ctx = make_context(".lexkz/index", GenerationConfig(model="Qwen/Qwen3-8B"), mode="rag")
    rows = answer_batch(questions, "rus", mode="rag", retriever=ctx.retriever,
                        generator=ctx.generator, store=ctx.store, k=5)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from graph.build import build_graph
from graph.config import GenerationConfig
from graph.generators import make_generator
from graph.nodes import (
    generation_update, initial_state, messages_for, respond_update, retrieve_update, verify_update,
)
from graph.state import AskContext, apply_update
from index.store import DEFAULT_INDEX_DIR
from lexkz.errors import LexkzError


def make_context(index_dir: str | Path | None = DEFAULT_INDEX_DIR, cfg: GenerationConfig | None = None,
                 mode: str = "rag", retrieval_cfg=None, generator=None) -> AskContext:
    """Open the index (required in rag mode, optional in closed_book) and make the generator.

    A missing model or adapter, or an adapter for another base model, fails here, before any
    retrieval (the model itself loads lazily on the first question)."""
    cfg = cfg or GenerationConfig()
    generator = generator or make_generator(cfg)
    if hasattr(generator, "check"):
        generator.check()
    from index.store import open_index

    retriever = store = None
    if mode == "rag":
        from retrieval.hybrid import HybridRetriever

        idx = open_index(index_dir or DEFAULT_INDEX_DIR)
        retriever = HybridRetriever(idx, retrieval_cfg)
        store = idx.articles
    elif index_dir is not None:
        try:
            store = open_index(index_dir).articles  # to check closed-book citations against the corpus
        except LexkzError:
            store = None
    return AskContext(retriever=retriever, generator=generator, store=store, config=cfg)


def ask(question: str, *, lang: str | None = None, mode: str = "rag", k: int = 5, filters: dict | None = None,
        index_dir: str | Path | None = DEFAULT_INDEX_DIR, cfg: GenerationConfig | None = None,
        context: AskContext | None = None, on_update: Callable[[str, dict], None] | None = None) -> dict:
    """Run the graph for one question and return its final state (plus timings["total"]).

    `on_update(node, partial_state)` is called for each node event (graph.stream, "updates")."""
    t0 = time.perf_counter()
    ctx = context or make_context(index_dir, cfg, mode)
    state = initial_state(question, lang, mode, k, filters, ctx.config)
    graph = build_graph(mode)
    if on_update is None:
        final = graph.invoke(state, context=ctx)
    else:
        final = state
        for stream_mode, chunk in graph.stream(state, context=ctx, stream_mode=["updates", "values"]):
            if stream_mode == "updates":
                for node, update in chunk.items():
                    on_update(node, update)
            else:
                final = chunk
    final = dict(final)
    final["timings"] = {**final.get("timings", {}), "total": time.perf_counter() - t0}
    return final


def answer_batch(questions: list[str], langs: str | list[str | None] | None = None, *, mode: str = "rag",
                 retriever=None, generator=None, store=None, k: int = 5, filters: dict | None = None,
                 config: GenerationConfig | None = None, progress: bool = False) -> list[dict]:
    """Final states for many questions, exactly as `build_graph(mode).invoke` gives them one by
    one (retrieve each, ONE batched generate call, verify each). The generate timing of each
    question is its share of the batch time. `progress` shows the generator's tqdm bar."""
    if not isinstance(langs, list):
        langs = [langs] * len(questions)
    if len(langs) != len(questions):
        raise LexkzError(f"{len(questions)} questions but {len(langs)} languages: pass one language per question")
    if generator is None:
        raise LexkzError("answer_batch needs a generator (graph.generators.make_generator)")
    ctx = AskContext(retriever=retriever, generator=generator, store=store, config=config or GenerationConfig())
    states = [initial_state(q, l, mode, k, filters, ctx.config) for q, l in zip(questions, langs)]
    if mode == "rag":
        states = [apply_update(s, retrieve_update(s, ctx)) for s in states]
    results = generator.generate([messages_for(s, ctx) for s in states], **({"progress": True} if progress else {}))
    states = [apply_update(s, generation_update(s, r, ctx)) for s, r in zip(states, results)]
    states = [apply_update(s, verify_update(s, ctx)) for s in states]
    return [apply_update(s, respond_update(s, ctx)) for s in states]
