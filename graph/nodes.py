"""The nodes of the ask graph: plain functions `(state, runtime) -> partial state`, and the
two routing functions of its conditional edges.

    retrieve          question -> retrieved hits            (runtime.context.retriever)
    not_found         no relevant hit -> an honest "not found in the indexed law" answer
    generate          prompt (+ context blocks, + verifier findings on a retry) -> answer
    verify_citations  answer -> citations with a status    (runtime.context.store)
    regenerate        failed citations -> findings for one more generate call
    respond           citations -> numbered sources, final warnings

    after_retrieve(state)  -> "generate" | "not_found"
    after_verify(state)    -> "regenerate" (at most max_regenerations times, while citations fail) | "respond"

Every node appends its name to `trace`, so a final state says which path it took.
"""

from __future__ import annotations

import json
import time

from graph.citations import ARTICLE_STATUSES, FAILED_STATUSES, support_embedder, verify_citations_in
from graph.config import GenerationConfig
from graph.prompts import build_messages, prompt_id, retry_note
from graph.state import AskContext, AskState
from lexkz.common import normalize_lang
from lexkz.errors import LexkzError
from retrieval.text import detect_lang

NOTES = {
    "rus": {
        "no_hits": "Поиск не нашёл статей по вопросу: ответ не опирается на контекст.",
        "no_citations": "Ответ не содержит ссылок на статьи: проверьте его по первоисточнику.",
        "tiny": "Ответ дала крошечная случайная модель: это проверка работы конвейера, а не юридический ответ.",
        "no_store": "Индекс недоступен: ссылки ответа не проверены.",
        "not_found": "В проиндексированных актах не найдено статей, относящихся к вопросу, поэтому ответа нет. "
                     "Переформулируйте вопрос или уточните акт.",
        "regenerated": "Первый ответ содержал непроверенные ссылки; ответ составлен заново с учётом замечаний проверки.",
    },
    "kaz": {
        "no_hits": "Іздеу сұрақ бойынша бап таппады: жауап контекстке сүйенбейді.",
        "no_citations": "Жауапта баптарға сілтеме жоқ: оны түпнұсқамен тексеріңіз.",
        "tiny": "Жауапты кішкентай кездейсоқ модель берді: бұл конвейердің жұмысын тексеру, заңдық жауап емес.",
        "no_store": "Индекс қолжетімсіз: жауаптағы сілтемелер тексерілмеді.",
        "not_found": "Индекстелген актілерден сұраққа қатысты бап табылмады, сондықтан жауап жоқ. "
                     "Сұрақты басқаша қойыңыз немесе актіні нақтылаңыз.",
        "regenerated": "Бірінші жауапта тексерілмеген сілтемелер болды; жауап тексеру ескертпелерімен қайта құрылды.",
    },
}


def check_question(question, cfg: GenerationConfig | None = None) -> str:
    """The stripped question, or LexkzError (exit 2) for an empty or oversized one."""
    limit = (cfg or GenerationConfig()).max_question_chars
    if not isinstance(question, str) or not question.strip():
        raise LexkzError('the question is empty: pass the question text, e.g. lexkz ask "Сколько дней отпуска положено работнику?"')
    question = question.strip()
    if len(question) > limit:
        raise LexkzError(f"the question is too long ({len(question)} characters, limit {limit}): shorten it "
                         "to the legal question itself, or raise max_question_chars in the [generation] config")
    return question


def initial_state(question: str, lang: str | None = None, mode: str = "rag", k: int = 5,
                  filters: dict | None = None, cfg: GenerationConfig | None = None) -> AskState:
    """A validated input state: language detected when not given, retrieval filters resolved."""
    cfg = cfg or GenerationConfig()
    question = check_question(question, cfg)
    if mode not in ("rag", "closed_book"):
        raise LexkzError(f"unknown mode {mode!r}: use rag or closed_book")
    if not isinstance(k, int) or k < 1:
        raise LexkzError(f"k must be a positive number of articles, got {k!r}")
    lang = normalize_lang(lang) or detect_lang(question)
    filters = dict(filters or {})
    if "lang" not in filters:
        choice = cfg.retrieval_lang
        if choice not in ("auto", "same", "any"):
            raise LexkzError(f"retrieval_lang must be auto, same or any, not {choice!r}")
        filters["lang"] = lang if choice == "same" or (choice == "auto" and lang == "rus") else None
    filters.setdefault("act_codes", None)
    if filters.get("as_of") is not None:
        from index.timeline import parse_date

        filters["as_of"] = parse_date(filters["as_of"], "as_of")
    return {"question": question, "lang": lang, "mode": mode, "k": k, "filters": filters,
            "retrieved": [], "warnings": [], "timings": {}, "trace": [], "attempts": 0}


def _ctx(runtime) -> AskContext:
    ctx = runtime.context if hasattr(runtime, "context") else runtime
    if isinstance(ctx, dict):
        ctx = AskContext(**ctx)
    if ctx is None:
        raise LexkzError("the ask graph needs a context: graph.invoke(state, context=AskContext(generator=...))")
    return ctx


def _plain(obj):
    """JSON-safe copy (numpy scalars in score parts become floats)."""
    return json.loads(json.dumps(obj, default=float))


def _lang(state: AskState) -> str:
    return state.get("lang") or detect_lang(state["question"])




# ------------------------------------------------------------------ nodes


def retrieve(state: AskState, runtime) -> dict:
    ctx = _ctx(runtime)
    t0 = time.perf_counter()
    question = check_question(state.get("question"), ctx.config)
    if ctx.retriever is None:
        raise LexkzError("rag mode needs a retriever over an index: build one with `lexkz index build` "
                         "and pass --index DIR, or use --mode closed_book", exit_code=3)
    filters = state.get("filters") or {}
    hits = ctx.retriever.retrieve(question, k=state.get("k"), lang=filters.get("lang"),
                                  act_codes=filters.get("act_codes"), as_of=filters.get("as_of"))
    return {"retrieved": [_plain(h.to_dict(with_text=True)) for h in hits],
            "timings": {"retrieve": time.perf_counter() - t0}, "trace": ["retrieve"]}


def after_retrieve(state: AskState) -> str:
    return "generate" if state.get("retrieved") else "not_found"


def not_found(state: AskState, runtime) -> dict:
    """No relevant article: say so instead of generating from noise."""
    ctx = _ctx(runtime)
    generator = ctx.generator.info() if ctx.generator is not None else {}
    return {"answer": NOTES[_lang(state)]["not_found"], "not_found": True, "generator": _plain(generator),
            "prompt_id": "", "generation": {"prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0,
                                            "finish_reason": "not_found"},
            "citations": [], "trace": ["not_found"]}


def messages_for(state: AskState, ctx: AskContext) -> list[dict]:
    question = check_question(state.get("question"), ctx.config)
    mode = state.get("mode", "rag")
    findings = (state.get("regeneration") or {}).get("findings")
    feedback = retry_note(_lang(state), findings) if findings else ""
    return build_messages(question, state.get("retrieved") or [], _lang(state), mode, ctx.config.context_chars, feedback)


def generate(state: AskState, runtime) -> dict:
    ctx = _ctx(runtime)
    if ctx.generator is None:
        raise LexkzError("the ask graph needs a generator in its context (graph.generators.make_generator)")
    result = ctx.generator.generate([messages_for(state, ctx)])[0]
    return {
        "answer": result.text,
        "prompt_id": prompt_id(_lang(state), state.get("mode", "rag")),
        "generator": _plain(ctx.generator.info()),
        "generation": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                       "seconds": result.seconds, "finish_reason": result.finish_reason},
        "timings": {"generate": result.seconds + (state.get("timings") or {}).get("generate", 0.0)},
        "attempts": int(state.get("attempts") or 0) + 1,
        "trace": ["generate"],
    }


def verify_citations(state: AskState, runtime) -> dict:
    ctx = _ctx(runtime)
    t0 = time.perf_counter()
    embedder = support_embedder(ctx.retriever, ctx.store)  # the index's own model scores claim support
    store = as_of_view(ctx.store, (state.get("filters") or {}).get("as_of"))  # only the law of that day
    citations = verify_citations_in(state.get("answer", ""), state.get("retrieved") or [], store, _lang(state),
                                    embedder=embedder)
    failed = any(c.get("status") in FAILED_STATUSES for c in citations)
    retry = failed and int(state.get("attempts") or 0) <= ctx.config.max_regenerations
    return {"citations": citations, "retry": retry, "timings": {"verify_citations": time.perf_counter() - t0},
            "trace": ["verify_citations"]}


def after_verify(state: AskState) -> str:
    return "regenerate" if state.get("retry") else "respond"


def regenerate(state: AskState, runtime) -> dict:
    """Keep the verifier's findings on the failed citations for the next generate call."""
    findings = [{k: c.get(k) for k in ("raw", "status", "act_code", "number", "point", "warning")}
                for c in state.get("citations") or [] if c.get("status") in FAILED_STATUSES]
    return {"regeneration": {"findings": _plain(findings), "first_answer": state.get("answer", "")},
            "trace": ["regenerate"]}


def respond(state: AskState, runtime) -> dict:
    ctx = _ctx(runtime)
    notes = NOTES[_lang(state)]
    sources, seen = [], set()
    for c in state.get("citations") or []:
        if c.get("article_id") and c["status"] in ARTICLE_STATUSES and c["article_id"] not in seen:
            seen.add(c["article_id"])
            sources.append({"n": len(sources) + 1, **{k: c.get(k) for k in (
                "article_id", "act_code", "act_title", "number", "title", "url", "status", "point",
                "valid_from", "valid_to", "reference")},
                "deep_link": c.get("deep_link") or c.get("url"), "text": _article_text(c, state, ctx)})
    warnings = []
    if state.get("not_found"):
        warnings.append(notes["no_hits"])
    elif not state.get("citations"):
        warnings.append(notes["no_citations"])
    warnings += [c["warning"] for c in state.get("citations") or [] if c.get("warning")]
    warnings += timeline_warnings(state, _lang(state))
    if state.get("regeneration"):
        warnings.append(notes["regenerated"])
    if ctx.store is None:
        warnings.append(notes["no_store"])
    if (state.get("generator") or {}).get("tiny_random"):
        warnings.append(notes["tiny"])
    return {"sources": sources, "warnings": warnings, "trace": ["respond"]}


def as_of_view(store, day: str | None):
    """The store restricted to the versions in force on `day` (None: the current editions)."""
    if store is None:
        return None
    from index.asof import AsOfStore

    return AsOfStore(store, day)


GAP_NOTE = {
    "rus": ("«{act}»: на {day} применена редакция от {start}; редакций между {start} и {end} в корпусе нет, "
            "текст мог измениться в этот период."),
    "kaz": ("«{act}»: {day} күніне {start} редакциясы қолданылды; {start} мен {end} аралығындағы редакциялар "
            "корпуста жоқ, мәтін бұл кезеңде өзгеруі мүмкін."),
}
NOT_IN_FORCE_NOTE = {
    "rus": "На {day} ни одна статья подходящих актов не действовала (акт ещё не вступил в силу или уже утратил силу): "
           "not in force on that date.",
    "kaz": "{day} күні тиісті актілердің ешбір бабы күшінде болмады (акт әлі күшіне енбеген немесе күшін жойған): "
           "not in force on that date.",
}


def timeline_warnings(state: AskState, lang: str) -> list[str]:
    """With filters.as_of: a note per act whose edition used that day is followed by editions the
    corpus lacks (a day strictly after the edition's start), and the not-in-force note."""
    day = (state.get("filters") or {}).get("as_of")
    if not day:
        return []
    out, seen = [], set()
    if state.get("not_found"):
        out.append(NOT_IN_FORCE_NOTE[lang].format(day=day))
    items = list(state.get("citations") or []) + list(state.get("retrieved") or [])
    for c in items:
        if c.get("gap") and c.get("valid_from") and day > c["valid_from"] and c.get("act_code") not in seen:
            seen.add(c.get("act_code"))
            out.append(GAP_NOTE[lang].format(act=c.get("act_title") or c.get("act_code"), day=day,
                                             start=c["valid_from"], end=c.get("valid_to")))
    return out


def _article_text(citation: dict, state: AskState, ctx: AskContext) -> str:
    """The cited article's own text: from the retrieved hit, else from the index."""
    for h in state.get("retrieved") or []:
        if h.get("article_id") == citation["article_id"] and h.get("text"):
            return h["text"]
    art = ctx.store.get(citation["article_id"]) if ctx.store is not None else None
    return art.text if art is not None else ""
