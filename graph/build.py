"""`build_graph(mode)`: all the wiring of the ask workflow (LangGraph StateGraph).

    rag:          START -> retrieve -> generate -> verify_citations -> respond -> END
                             |  no hits                 |  citations failed (once)
                             v                          v
                         not_found -> respond       regenerate -> generate
    closed_book:  START -> generate -> verify_citations -> (regenerate ->) respond -> END

Only `graph.ask` calls it (`ask`, `answer_batch`, the eval runner and the server all run these
compiled graphs). Dependencies come through LangGraph's context:

    final = build_graph("rag").invoke(initial_state("Сколько дней отпуска?"),
                                      context=AskContext(retriever=r, generator=g, store=s))
"""

from __future__ import annotations

from functools import lru_cache

from langgraph.graph import END, START, StateGraph

from graph.nodes import (
    after_retrieve, after_verify, generate, not_found, regenerate, respond, retrieve, verify_citations,
)
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
    g.add_node("regenerate", regenerate)
    g.add_node("respond", respond)
    if mode == "rag":
        g.add_node("retrieve", retrieve)
        g.add_node("not_found", not_found)
        g.add_edge(START, "retrieve")
        g.add_conditional_edges("retrieve", after_retrieve, ["generate", "not_found"])
        g.add_edge("not_found", "respond")
    else:
        g.add_edge(START, "generate")
    g.add_edge("generate", "verify_citations")
    g.add_conditional_edges("verify_citations", after_verify, ["regenerate", "respond"])
    g.add_edge("regenerate", "generate")
    g.add_edge("respond", END)
    return g.compile()
