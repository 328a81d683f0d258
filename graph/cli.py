"""`lexkz ask`: answer a question about RK law with cited, checked articles.

    lexkz ask "Сколько дней длится ежегодный оплачиваемый отпуск?"            # extractive, no LLM
    lexkz ask "Жыл сайынғы еңбек демалысы қанша күн?" --lang kaz
    lexkz ask "..." --generator hf --model Qwen/Qwen3-8B --adapter runs/sft/adapter
    lexkz ask "..." --generator openai --base-url http://127.0.0.1:8000/v1 --model lexkz
    lexkz ask "..." --mode closed_book --generator hf --model /models/Qwen3-8B
    lexkz ask "..." --json          # the whole final state (schema: graph/ask_schema.json)
    lexkz ask "..." --stream        # node events (retrieve, generate, ...) on stderr as they finish

Settings come from the [generation] and [retrieval] sections of --config; flags override.
Human output: the answer, then "Источники" (Kazakh "Дереккөздер") with numbered articles,
titles, statuses and links, then warnings. Errors (empty or oversized question, missing
index, model or adapter, an adapter for another base model) print `error: ...` and exit
non-zero.
"""

from __future__ import annotations

import argparse
import json
import sys

from graph.ask import ask, make_context
from index.store import DEFAULT_INDEX_DIR
from graph.config import GenerationConfig
from lexkz.config import add_field_flags, field_overrides, load_stage
from retrieval.citation_format import version_label
from retrieval.config import RetrievalConfig

STATUS_LABELS = {
    "rus": {"supported": "в найденном контексте", "in_corpus_not_retrieved": "есть в корпусе, не найдена поиском",
            "not_supported": "НЕ ПОДТВЕРЖДАЕТ УТВЕРЖДЕНИЕ", "no_such_point": "НЕТ ТАКОГО ПУНКТА",
            "wrong_act": "ДРУГОЙ АКТ", "invented": "НЕ ПОДТВЕРЖДЕНА", "unresolved": "не проверена"},
    "kaz": {"supported": "табылған контексте", "in_corpus_not_retrieved": "корпуста бар, іздеу таппады",
            "not_supported": "ТҰЖЫРЫМДЫ РАСТАМАЙДЫ", "no_such_point": "ОНДАЙ ТАРМАҚ ЖОҚ",
            "wrong_act": "БАСҚА АКТІ", "invented": "РАСТАЛМАДЫ", "unresolved": "тексерілмеді"},
}
HEADINGS = {
    "rus": {"sources": "Источники", "warnings": "Предупреждения", "none": "(ссылок на статьи нет)",
            "article": "ст. {number}"},
    "kaz": {"sources": "Дереккөздер", "warnings": "Ескертулер", "none": "(баптарға сілтеме жоқ)",
            "article": "{number}-бап"},
}


def register(subparsers) -> None:
    p = subparsers.add_parser("ask", help="answer a question with cited, verified articles",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question", help="the question, in Russian or Kazakh")
    p.add_argument("--index", default=DEFAULT_INDEX_DIR, help=f"index folder (default {DEFAULT_INDEX_DIR})")
    add_field_flags(p, GenerationConfig, {"backend": ("--generator",), "model": None, "adapter": None,
                                          "max_new_tokens": None, "temperature": None, "seed": None,
                                          "base_url": None, "device": None})
    add_field_flags(p, RetrievalConfig, {"k": ("--k", "-k")})
    p.add_argument("--mode", choices=["rag", "closed_book"], default="rag", help="rag (retrieve first) or closed_book")
    p.add_argument("--lang", default=None, help="question language rus (ru) or kaz (kk); detected when omitted")
    p.add_argument("--act", nargs="+", default=None, metavar="CODE", help="retrieve only from these acts (adilet codes)")
    p.add_argument("--as-of", default=None, metavar="YYYY-MM-DD",
                   help="answer for the law in force that day (default: the current editions)")
    p.add_argument("--config", default=None, help="TOML file with [generation] and [retrieval] sections")
    p.add_argument("--json", action="store_true", help="print the whole final state as JSON")
    p.add_argument("--stream", action="store_true", help="print node events to stderr as the graph runs")
    p.set_defaults(func=cmd_ask)

    s = subparsers.add_parser("show", help="print one article: act, status, link and text",
                              description=SHOW_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("article", help='an article id (K1500000414/88/rus) or a reference ("ст. 88 ТК", "ЕК 88-бабы")')
    s.add_argument("--index", default=DEFAULT_INDEX_DIR, help=f"index folder (default {DEFAULT_INDEX_DIR})")
    s.add_argument("--lang", default=None, help="text language rus (ru) or kaz (kk); default: the reference's")
    s.add_argument("--as-of", default=None, metavar="YYYY-MM-DD", help="the version in force that day")
    s.add_argument("--json", action="store_true", help="print the article as JSON (with deep_link)")
    s.set_defaults(func=cmd_show)


def cmd_ask(args) -> int:
    cfg = load_stage(GenerationConfig, args.config, "generation", field_overrides(args, GenerationConfig))
    rcfg = load_stage(RetrievalConfig, args.config, "retrieval", field_overrides(args, RetrievalConfig))
    from graph.nodes import initial_state

    filters = {k: v for k, v in (("act_codes", args.act), ("as_of", args.as_of)) if v}
    initial_state(args.question, args.lang, args.mode, rcfg.k, filters, cfg)  # bad input fails before loading anything
    ctx = make_context(args.index, cfg, args.mode, retrieval_cfg=rcfg)
    on_update = print_event if args.stream else None
    final = ask(args.question, lang=args.lang, mode=args.mode, k=rcfg.k,
                filters=filters or None, context=ctx, on_update=on_update)
    if args.json:
        print(json.dumps(final, ensure_ascii=False, indent=2, default=float))
    else:
        print(format_answer(final))
    return 0


SHOW_DOC = """`lexkz show`: print one article of the index with its act, status and link.

    lexkz show K1500000414/88/rus
    lexkz show "ст. 88 ТК"
    lexkz show "Еңбек кодексінің 88-бабы" --json

The reference is parsed and bound to its act the way answers' citations are (graph.citations).
The link opens the act at the article (a text fragment, see retrieval.citation_format); the act
URL is printed as the fallback. An unknown article or act is an error (exit 2); a missing index
exit 3.
"""


def cmd_show(args) -> int:
    from graph.citations import find_article
    from index.store import open_index
    from lexkz.common import normalize_lang
    from lexkz.errors import LexkzError
    from retrieval.citation_format import article_link

    if not (args.article or "").strip():
        raise LexkzError('give an article id (K1500000414/88/rus) or a reference like "ст. 88 ТК"')
    from index.asof import AsOfStore
    from index.timeline import parse_date

    day = parse_date(args.as_of) if getattr(args, "as_of", None) else None
    raw = open_index(args.index).articles
    store = AsOfStore(raw, day) if day or "@" not in args.article else raw  # no date: the current edition
    art, message = find_article(args.article, store, normalize_lang(args.lang))
    if art is None:
        raise LexkzError(f"{message}; list articles with `lexkz search`")
    link = article_link(art.url, art.number, art.lang, bool(art.title))
    status = {"in_force": "in force", "repealed": "repealed"}.get(art.status, art.status)
    if args.json:
        print(json.dumps({**art.to_dict(), "deep_link": link}, ensure_ascii=False, indent=2))
        return 0
    heading = f"{art.number}-бап" if art.lang == "kaz" else f"Статья {art.number}"
    print(f"{art.act_title} [{status}]")
    print(f"{heading}{'. ' + art.title if art.title else ''}  ({art.id})")
    if art.valid_from or art.valid_to:
        print(f"version: in force {art.valid_from or '…'} – {art.valid_to or 'open'}"
              + ("  (the corpus lacks the editions up to the next one)" if art.gap else ""))
    print(f"link: {link}")
    print(f"act:  {art.url}")
    print()
    print(art.text.strip())
    return 0


def print_event(node: str, update: dict) -> None:
    """One line per finished node on stderr (the --stream view)."""
    secs = (update.get("timings") or {}).get(node)
    took = f" in {secs:.2f} s" if secs is not None else ""
    if node == "retrieve":
        arts = ", ".join(h["article_id"] for h in update.get("retrieved", []))
        detail = f"{len(update.get('retrieved', []))} articles: {arts}"
    elif node == "generate":
        g = update.get("generation", {})
        detail = (f"{g.get('completion_tokens', 0)} tokens, prompt {update.get('prompt_id')}, "
                  f"{(update.get('generator') or {}).get('backend')}")
    elif node == "verify_citations":
        counts: dict[str, int] = {}
        for c in update.get("citations", []):
            counts[c["status"]] = counts.get(c["status"], 0) + 1
        detail = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no citations"
    else:
        detail = f"{len(update.get('sources', []))} sources"
    print(f"[{node}]{took}: {detail}", file=sys.stderr, flush=True)


def format_answer(final: dict) -> str:
    """The answer, then numbered sources with titles, statuses and links, then warnings."""
    lang = final.get("lang", "rus")
    head, labels = HEADINGS[lang], STATUS_LABELS[lang]
    lines = []
    if (final.get("generator") or {}).get("tiny_random"):
        lines.append("[tiny random model: plumbing check, not a legal answer]")
    lines += [final.get("answer", "").strip(), "", f"{head['sources']}:"]
    for s in final.get("sources") or []:
        article = head["article"].format(number=s["number"])
        point = f"{s['point']} " if s.get("point") else ""
        title = f". {s['title']}" if s.get("title") else ""
        version = f" {version_label(s['valid_from'], lang)}" if s.get("valid_from") else ""
        lines.append(f" {s['n']}. {s['act_title']}, {point}{article}{title}{version} [{labels[s['status']]}]")
        if s.get("deep_link") or s.get("url"):
            lines.append(f"    {s.get('deep_link') or s['url']}")
    if not final.get("sources"):
        lines.append(f" {head['none']}")
    if final.get("warnings"):
        lines += ["", f"{head['warnings']}:"] + [f" - {w}" for w in final["warnings"]]
    return "\n".join(lines)
