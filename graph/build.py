"""`build_graph(mode)`: all the wiring of the ask workflow (LangGraph StateGraph).

    rag:          START -> retrieve -> generate -> verify_citations -> respond -> END
    closed_book:  START ->             generate -> verify_citations -> respond -> END

    graph = build_graph("rag")
    final = graph.invoke(initial_state("Сколько дней отпуска?"), context=AskContext(retriever=r, generator=g, store=s))
    for update in graph.stream(state, context=ctx, stream_mode="updates"): ...
"""

from __future__ import annotations

from functools import lru_cache

from langgraph.graph import END, START, StateGraph

from graph.nodes import generate, respond, retrieve, verify_citations
from graph.state import AskContext, AskState
from lexkz.errors import LexkzError


@lru_cache(maxsize=None)
def build_graph(mode: str = "rag"):
    """The compiled graph for `mode` ("rag" or "closed_book"); compiled once per mode."""
    if mode not in ("rag", "closed_book"):
        raise LexkzError(f"unknown mode {mode!r}: use rag or closed_book")
    g = StateGraph(AskState, context_schema=AskContext)
    g.add_node("generate", generate)
    g.add_node("verify_citations", verify_citations)
    g.add_node("respond", respond)
    if mode == "rag":
        g.add_node("retrieve", retrieve)
        g.add_edge(START, "retrieve")
        g.add_edge("retrieve", "generate")
    else:
        g.add_edge(START, "generate")
    g.add_edge("generate", "verify_citations")
    g.add_edge("verify_citations", "respond")
    g.add_edge("respond", END)
    return g.compile()
