"""The LangGraph ask workflow with real parts: a real index (fixture corpus, hashing
embedder), the HybridRetriever, the extractive generator, the tiny random Qwen3 through
the hf generator, and scripted answers for the citation checks. Also: answer_batch gives
the same final states as the graph with one batched generate call; the extractive answer
on the real corpus cites the right article."""

from __future__ import annotations

import pytest

from graph.ask import answer_batch, ask, make_context
from graph.build import build_graph
from graph.config import GenerationConfig
from graph.generators import ExtractiveGenerator, HfGenerator
from graph.nodes import initial_state
from graph.state import AskContext
from lexkz.errors import LexkzError
from tests.fixture_corpus import CONSUMER, LABOUR
from tests.graph_fixtures import LABOUR_CODE, CountingGenerator, ScriptedGenerator

QUESTIONS = [
    ("Какова продолжительность ежегодного оплачиваемого трудового отпуска?", None),
    ("Как работник может расторгнуть трудовой договор по своей инициативе?", "rus"),
    ("Потребитель вправе потребовать замены товара ненадлежащего качества?", "ru"),
    ("Жыл сайынғы еңбек демалысының ұзақтығы қандай?", None),
]


@pytest.fixture(scope="module")
def ctx(graph_index):
    return make_context(graph_index, GenerationConfig(), "rag")


def without_timings(state):
    """The state without wall-clock measurements (timings, generation seconds)."""
    out = {k: v for k, v in state.items() if k != "timings"}
    out["generation"] = {k: v for k, v in state["generation"].items() if k != "seconds"}
    return out


def test_rag_graph_answers_with_supported_citations(ctx):
    final = ask("Сколько календарных дней длится ежегодный оплачиваемый трудовой отпуск?", context=ctx, k=3)
    assert final["retrieved"][0]["article_id"] == f"{LABOUR}/88/rus"
    assert "двадцать четыре календарных дня" in final["answer"]
    assert final["citations"][0]["article_id"] == f"{LABOUR}/88/rus"
    assert {c["status"] for c in final["citations"]} == {"supported"}
    source = dict(final["sources"][0])
    assert source.pop("text").startswith("Работникам предоставляется ежегодный оплачиваемый трудовой отпуск")
    assert source.pop("deep_link") == f"https://adilet.zan.kz/rus/docs/{LABOUR}#:~:text=%D0%A1%D1%82%D0%B0%D1%82%D1%8C%D1%8F%2088."
    # the fixture act's meta.yaml has no dates: the version is open-ended, the reference names no edition
    assert (source.pop("valid_from"), source.pop("valid_to")) == (None, None)
    assert source.pop("reference").startswith("ст. 88 Трудового кодекса")
    assert source == {"n": 1, "article_id": f"{LABOUR}/88/rus", "act_code": LABOUR,
                      "act_title": "Трудовой кодекс Тестовой Республики", "number": "88",
                      "title": "Ежегодный оплачиваемый трудовой отпуск",
                      "url": f"https://adilet.zan.kz/rus/docs/{LABOUR}", "status": "supported",
                      "point": None}
    assert final["prompt_id"] == "rag_rus_v1" and final["generator"]["backend"] == "extractive"
    assert set(final["timings"]) == {"retrieve", "generate", "verify_citations", "total"}
    assert final["warnings"] == []


def test_kazakh_question(ctx):
    final = ask("Жыл сайынғы ақы төленетін еңбек демалысы қанша күн?", context=ctx, k=3)
    assert final["lang"] == "kaz" and final["prompt_id"] == "rag_kaz_v1"
    assert final["citations"][0]["article_id"] == f"{LABOUR}/88/kaz"
    assert "Жауап" in final["answer"]


def test_closed_book_skips_retrieval(ctx):
    gen = ScriptedGenerator(["Отпуск 24 дня по ст. 88 Трудового кодекса."])
    closed = AskContext(retriever=None, generator=gen, store=ctx.store)
    events = []
    final = ask("Сколько дней отпуска?", mode="closed_book", context=closed, on_update=lambda n, u: events.append(n))
    assert events == ["generate", "verify_citations", "respond"]
    assert final["retrieved"] == [] and "retrieve" not in final["timings"]
    assert final["prompt_id"] == "closed_book_rus_v1"
    assert "Контекст" not in gen.calls[0][0][1]["content"]  # the prompt has no context blocks
    (c,) = final["citations"]
    assert (c["article_id"], c["status"]) == (f"{LABOUR}/88/rus", "in_corpus_not_retrieved")


def test_stream_gives_node_events_and_the_same_final_state(ctx):
    events = []
    streamed = ask("Срок удовлетворения требований потребителя?", context=ctx, k=2,
                   on_update=lambda node, update: events.append((node, sorted(update))))
    invoked = ask("Срок удовлетворения требований потребителя?", context=ctx, k=2)
    assert [n for n, _ in events] == ["retrieve", "generate", "verify_citations", "respond"]
    assert events[0][1] == ["retrieved", "timings", "trace"]
    assert without_timings(streamed) == without_timings(invoked)
    assert streamed["citations"][0]["act_code"] == CONSUMER


def test_invented_citation_is_flagged_in_the_graph(ctx):
    gen = ScriptedGenerator(["Отпуск — 24 дня (ст. 88 Трудового кодекса [1]), а по ст. 30 Трудового кодекса "
                             "его можно заменить деньгами; см. также ст. 500 ТК."])
    final = build_graph("rag").invoke(initial_state("Сколько дней длится ежегодный оплачиваемый трудовой отпуск?", k=3),
                                      context=AskContext(ctx.retriever, gen, ctx.store, GenerationConfig(max_regenerations=0)))
    assert final["retrieved"][0]["article_id"] == f"{LABOUR}/88/rus"  # so [1] is article 88 too
    statuses = [(c["number"], c["status"]) for c in final["citations"]]
    assert statuses == [("88", "supported"), ("30", "wrong_act"), ("500", "invented")]  # 30 is a consumer-law article
    assert len(final["warnings"]) == 2
    assert "О защите прав потребителей" in final["warnings"][0] and "500" in final["warnings"][1]
    assert [s["article_id"] for s in final["sources"]] == [f"{LABOUR}/88/rus"]


def test_context_may_be_a_dict(ctx):
    gen = ScriptedGenerator(["Ответ без ссылок."])
    final = build_graph("rag").invoke(initial_state("Сколько дней отпуска?", k=2),
                                      context={"retriever": ctx.retriever, "generator": gen, "store": ctx.store})
    assert final["answer"] == "Ответ без ссылок." and final["citations"] == []
    assert any("не содержит ссылок" in w for w in final["warnings"])


def test_answer_batch_equals_the_graph_with_one_generate_call(ctx):
    gen = CountingGenerator(ExtractiveGenerator())
    questions = [q for q, _ in QUESTIONS]
    langs = [l for _, l in QUESTIONS]
    batched = answer_batch(questions, langs, mode="rag", retriever=ctx.retriever, generator=gen, store=ctx.store, k=3)
    assert gen.calls == [4]
    graph = build_graph("rag")
    one_by_one = [graph.invoke(initial_state(q, l, "rag", 3), context=AskContext(ctx.retriever, gen, ctx.store))
                  for q, l in QUESTIONS]
    assert [without_timings(s) for s in batched] == [without_timings(s) for s in one_by_one]
    assert [s["lang"] for s in batched] == ["rus", "rus", "rus", "kaz"]
    assert len({s["answer"] for s in batched}) == 4


def test_tiny_model_in_the_real_graph(ctx, varied_tiny_dir):
    """hf generator inside the graph; batched answer_batch == graph one by one (greedy)."""
    gen = HfGenerator(GenerationConfig(model=str(varied_tiny_dir), do_sample=False, max_new_tokens=5, batch_size=4))
    questions = [q for q, _ in QUESTIONS[:3]]
    batched = answer_batch(questions, "rus", mode="rag", retriever=ctx.retriever, generator=gen, store=ctx.store, k=1)
    graph = build_graph("rag")
    one_by_one = [graph.invoke(initial_state(q, "rus", "rag", 1), context=AskContext(ctx.retriever, gen, ctx.store))
                  for q in questions]
    assert [without_timings(s) for s in batched] == [without_timings(s) for s in one_by_one]
    final = one_by_one[0]
    assert final["generator"]["tiny_random"] is True and final["generator"]["backend"] == "hf"
    assert final["generation"]["completion_tokens"] > 0 and final["generation"]["prompt_tokens"] > 50
    assert any("крошечная случайная модель" in w for w in final["warnings"])


def test_bad_input(ctx):
    with pytest.raises(LexkzError, match="empty"):
        ask("   ", context=ctx)
    with pytest.raises(LexkzError, match="too long") as err:
        ask("а" * 2001, context=ctx)
    assert err.value.exit_code == 2
    with pytest.raises(LexkzError, match="needs a retriever"):
        ask("Вопрос?", context=AskContext(retriever=None, generator=ExtractiveGenerator()))
    with pytest.raises(LexkzError, match="unknown mode"):
        build_graph("open_book")
    with pytest.raises(LexkzError, match="questions but"):
        answer_batch(["a", "b"], ["rus"], generator=ExtractiveGenerator())


def test_missing_index(tmp_path):
    with pytest.raises(LexkzError, match="no index") as err:
        make_context(tmp_path / "nothing", GenerationConfig(), "rag")
    assert err.value.exit_code == 3
    closed = make_context(tmp_path / "nothing", GenerationConfig(), "closed_book")
    assert closed.store is None and closed.retriever is None


def test_extractive_on_the_real_corpus_cites_the_right_article(labour_index):
    """Annual leave duration is art. 88 of the Labour Code K1500000414 (rus and kaz)."""
    ctx = make_context(labour_index, GenerationConfig(), "rag")
    ru = ask("Какова продолжительность основного оплачиваемого ежегодного трудового отпуска?", context=ctx)
    kz = ask("Жыл сайынғы ақы төленетін негізгі еңбек демалысының ұзақтығы қандай?", context=ctx)
    assert f"{LABOUR_CODE}/88/rus" in [c["article_id"] for c in ru["citations"]]
    assert f"{LABOUR_CODE}/88/kaz" in [c["article_id"] for c in kz["citations"]]
    assert "двадцать четыре календарных дня" in ru["answer"]
    for final in (ru, kz):
        assert all(c["status"] == "supported" for c in final["citations"])
        assert all(s["url"].endswith(LABOUR_CODE) for s in final["sources"])


def test_failed_citations_are_regenerated_once_with_the_findings(ctx):
    """Branch 1: an answer with an invented citation goes back to generate once, with the
    verifier's findings in the prompt; the second answer is verified and returned, and the
    final state records the regeneration."""
    bad = "Отпуск — 24 дня (ст. 88 Трудового кодекса), а по ст. 500 ТК его можно заменить деньгами."
    good = "Ежегодный отпуск длится 24 календарных дня (ст. 88 Трудового кодекса)."
    gen = ScriptedGenerator([bad, good])
    final = ask("Сколько дней длится ежегодный оплачиваемый трудовой отпуск?", k=3,
                context=AskContext(ctx.retriever, gen, ctx.store, GenerationConfig()))
    assert final["trace"] == ["retrieve", "generate", "verify_citations", "regenerate", "generate",
                              "verify_citations", "respond"]
    assert final["answer"] == good and final["attempts"] == 2 and len(gen.calls) == 2
    assert [(c["number"], c["status"]) for c in final["citations"]] == [("88", "supported")]
    assert final["regeneration"]["first_answer"] == bad
    assert [(f["number"], f["status"]) for f in final["regeneration"]["findings"]] == [("500", "invented")]
    second_system = gen.calls[1][0][0]["content"]
    assert "«ст. 500" in second_system and "invented" in second_system
    assert "ст. 500" not in gen.calls[0][0][0]["content"]
    assert any("составлен заново" in w for w in final["warnings"])


def test_a_second_failure_is_returned_flagged_not_retried_again(ctx):
    bad = "По ст. 500 ТК отпуск можно заменить деньгами."
    gen = ScriptedGenerator([bad])
    final = ask("Можно ли заменить отпуск деньгами?", k=2, context=AskContext(ctx.retriever, gen, ctx.store, GenerationConfig()))
    assert final["attempts"] == 2 and len(gen.calls) == 2 and final["trace"].count("regenerate") == 1
    assert [c["status"] for c in final["citations"]] == ["invented"]
    assert any("500" in w for w in final["warnings"])


def test_no_relevant_hits_gives_an_honest_answer_without_generating(ctx):
    """Branch 2: retrieval finds nothing relevant -> "not found in the indexed law", and the
    generator is never called (no answer made up from noise)."""
    gen = ScriptedGenerator(["Выдуманный ответ по ст. 1 ТК."])
    final = ask("?!… 🙂", k=3, context=AskContext(ctx.retriever, gen, ctx.store, GenerationConfig()))
    assert final["trace"] == ["retrieve", "not_found", "respond"] and gen.calls == []
    assert final["not_found"] is True and final["retrieved"] == [] and final["citations"] == []
    assert "не найдено статей" in final["answer"]
    kaz = ask("🙂 ?!", lang="kk", k=3, context=AskContext(ctx.retriever, gen, ctx.store, GenerationConfig()))
    assert kaz["lang"] == "kaz" and "табылмады" in kaz["answer"] and gen.calls == []


def test_answer_batch_runs_the_graph_branches_too(ctx):
    """Batched questions take their own branches in the same compiled graph: the not-found one
    never reaches the generator, the others share one generate call."""
    gen = CountingGenerator(ExtractiveGenerator())
    finals = answer_batch(["Сколько дней длится ежегодный отпуск?", "🙂🙂", "Срок удовлетворения требований потребителя?"],
                          "rus", mode="rag", retriever=ctx.retriever, generator=gen, store=ctx.store, k=2)
    assert gen.calls == [2]
    assert [f["trace"][1] for f in finals] == ["generate", "not_found", "generate"]


def test_one_build_graph_call_site_in_the_product():
    """ask, lexkz ask, the eval runner and the server reach the graph only through graph.ask."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sites = []
    for pkg in ("graph", "eval", "finetune", "retrieval", "index", "lexkz"):
        for f in (root / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "build_graph":
                    sites.append(f.relative_to(root).as_posix())
    assert sites == ["graph/ask.py"]
    from graph.ask import compiled_graph

    assert compiled_graph("rag") is build_graph("rag")  # compiled once per mode
