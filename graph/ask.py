"""Ask questions through the ask graph: one (`ask`, with node events for streaming) or many at
once (`answer_batch`, used by the eval runner). Both run the same compiled LangGraph graph
(`graph.build.build_graph`, called only here); many questions run as concurrent graph runs
over one `GenerateQueue` (graph.batching, the server's too), so their answers come from one
batched generate call.

    from graph.ask import ask, answer_batch, make_context
    final = ask("Сколько дней длится ежегодный отпуск?", index_dir=".lexkz/index")
    final["answer"], final["citations"], final["sources"], final["warnings"], final["trace"]

    ctx = make_context(".lexkz/index", GenerationConfig(model="Qwen/Qwen3-8B"), mode="rag")
    rows = answer_batch(questions, "rus", mode="rag", retriever=ctx.retriever,
                        generator=ctx.generator, store=ctx.store, k=5)
"""

from __future__ import annotations

import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

from graph.batching import GenerateQueue
from graph.build import build_graph
from graph.config import GenerationConfig
from graph.generators import make_generator
from graph.nodes import initial_state
from graph.state import AskContext
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


def compiled_graph(mode: str = "rag"):
    """The compiled ask graph for `mode`: the one place that builds it (compiled once per mode)."""
    return build_graph(mode)


def ask(question: str, *, lang: str | None = None, mode: str = "rag", k: int | None = None, filters: dict | None = None,
        index_dir: str | Path | None = DEFAULT_INDEX_DIR, cfg: GenerationConfig | None = None,
        context: AskContext | None = None, on_update: Callable[[str, dict], None] | None = None) -> dict:
    """Run the graph for one question and return its final state (plus timings["total"]).

    `on_update(node, partial_state)` is called for each node event (graph.stream, "updates")."""
    t0 = time.perf_counter()
    ctx = context or make_context(index_dir, cfg, mode)
    state = initial_state(question, lang, mode, _k(k, ctx), filters, ctx.config)
    graph = compiled_graph(mode)
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


def _k(k: int | None, ctx: AskContext) -> int:
    """`k` given, else the retriever's configured k (RetrievalConfig.k: the one default)."""
    if k is not None:
        return k
    from retrieval.config import RetrievalConfig

    return ctx.retriever.cfg.k if ctx.retriever is not None else RetrievalConfig().k


def answer_batch(questions: list[str], langs: str | list[str | None] | None = None, *, mode: str = "rag",
                 retriever=None, generator=None, store=None, k: int | None = None,
                 filters: dict | list[dict | None] | None = None,
                 config: GenerationConfig | None = None, progress: bool = False, max_batch: int | None = None) -> list[dict]:
    """Final states for many questions: each question is one run of the compiled graph (run
    concurrently), and every run's generate call goes through one `GenerateQueue`, which waits
    until every run still on its way has asked (no time window) and then makes ONE generate call
    per `max_batch` questions (default: all of them). Questions without hits end in `not_found`
    and never reach the generator. The generate timing of each question is its share of its
    batch's time. `progress` shows the generator's tqdm bar.
    `filters` is one dict for all questions or a list with one per question (e.g. each its as_of)."""
    if not isinstance(langs, list):
        langs = [langs] * len(questions)
    if len(langs) != len(questions):
        raise LexkzError(f"{len(questions)} questions but {len(langs)} languages: pass one language per question")
    if generator is None:
        raise LexkzError("answer_batch needs a generator (graph.generators.make_generator)")
    if not questions:
        return []
    ctx = AskContext(retriever=retriever, generator=generator, store=store, config=config or GenerationConfig())
    per = filters if isinstance(filters, list) else [filters] * len(questions)
    if len(per) != len(questions):
        raise LexkzError(f"{len(questions)} questions but {len(per)} filters: pass one filters dict per question")
    states = [initial_state(q, l, mode, _k(k, ctx), f, ctx.config) for q, l, f in zip(questions, langs, per)]
    workers = min(len(states), 256)  # one thread per graph run; a batch never waits for more runs than can wait
    queue = GenerateQueue(_Progress(generator) if progress else generator,
                          max_batch=min(max_batch or len(states), workers), window_s=float("inf"))
    run_gens = [queue.for_request() for _ in states]  # all counted as on their way before any run starts
    graph = compiled_graph(mode)

    def run_one(state, gen):
        try:
            return dict(graph.invoke(state, context=replace(ctx, generator=gen)))
        finally:
            gen.close()

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ask") as pool:
            return list(pool.map(run_one, states, run_gens))
    finally:
        queue.close()


class _Progress:
    """A generator whose generate calls show their tqdm bar (hf: one step per forward batch)."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, batch, **overrides):
        return self.inner.generate(batch, progress=True, **overrides)
