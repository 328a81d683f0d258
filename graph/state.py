"""The state that flows through the ask graph, and the context that carries its dependencies.

    AskState    question, lang, mode, k, filters -> retrieved, answer, citations, sources,
                warnings, timings, prompt_id, generator, generation, trace (nodes run, in
                order), attempts, not_found, regeneration
    AskContext  retriever (HybridRetriever | None), generator (Generator), store
                (ArticleStore | None), config (GenerationConfig); passed as
                `graph.invoke(state, context=AskContext(...))` (a dict with these keys works too)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from graph.config import GenerationConfig


def merge_dicts(old: dict | None, new: dict | None) -> dict:
    return {**(old or {}), **(new or {})}


def add_lists(old: list | None, new: list | None) -> list:
    return [*(old or []), *(new or [])]


class AskState(TypedDict, total=False):
    question: str
    lang: str  # "rus" | "kaz"
    mode: str  # "rag" | "closed_book"
    k: int
    filters: dict  # {"lang": "rus"|"kaz"|None, "act_codes": [..]|None}
    retrieved: list[dict]  # Hit.to_dict(with_text=True), in rank order; [n] markers point here
    prompt_id: str
    answer: str
    generator: dict  # the generator's info(): backend, model, adapter, tiny_random, ...
    generation: dict  # prompt_tokens, completion_tokens, seconds, finish_reason
    citations: list[dict]  # graph.citations.verify_citations_in(...)
    sources: list[dict]  # the distinct verified articles the answer cites, numbered
    warnings: Annotated[list[str], add_lists]
    timings: Annotated[dict, merge_dicts]  # seconds per node
    trace: Annotated[list[str], add_lists]  # the nodes that ran, in order (branches included)
    attempts: int  # generate calls made for this question (2 after a regeneration)
    retry: bool  # the verifier found failed citations and a regeneration is still allowed
    not_found: bool  # retrieval found nothing relevant: the answer says so, nothing was generated
    regeneration: dict  # {"findings": [...], "first_answer": ...} when the first answer was regenerated


@dataclass
class AskContext:
    retriever: Any = None
    generator: Any = None
    store: Any = None
    config: GenerationConfig = field(default_factory=GenerationConfig)
