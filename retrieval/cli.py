"""`lexkz search`: query an index from the command line.

    lexkz search "Как уволиться по собственному желанию?" --index .lexkz/index -k 10
    lexkz search "еңбек демалысы" --lang kaz --act K1500000414 --json
    lexkz search "..." --mode lexical|dense|hybrid --include-repealed --reranker /models/ce
    lexkz search --queries questions.jsonl [--json] > hits.jsonl   # many questions, one process

`--queries FILE.jsonl` answers many questions with the index and model loaded once: one JSON
object per input line ({"question": ..., optional "id", "lang", "act_codes", "k"}), one JSON line
out per question ({"id", "question", "hits": [...], "note"?}); a broken line gives
{"line": N, "error": ...} and the run goes on (exit 2 at the end if any line was bad).

Settings come from the [retrieval] section of --config (RetrievalConfig); flags override.
`--json` prints a list of hits with article_id, act_code, act_title, number, title, lang,
url, score, status, score_parts, snippet (add --with-text for the article text). A missing
index is an error with exit code 3.
"""

from __future__ import annotations

import argparse
import json
import textwrap

from lexkz.config import add_field_flags, field_overrides, load_stage
from lexkz.errors import LexkzError
from index.store import DEFAULT_INDEX_DIR
from retrieval.config import RetrievalConfig



def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="search the article index (BM25 + dense, fused)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("query", nargs="?", default=None, help="the question or keywords")
    p.add_argument("--queries", default=None, metavar="FILE.jsonl", help="answer every question of a JSONL file (one JSON line out each)")
    p.add_argument("--index", default=DEFAULT_INDEX_DIR, help=f"index folder (default {DEFAULT_INDEX_DIR})")
    add_field_flags(p, RetrievalConfig, {"k": ("-k", "--k"), "mode": None, "include_repealed": None, "reranker": None})
    p.add_argument("--lang", default=None, help="only articles in this language: rus (ru) or kaz (kk)")
    p.add_argument("--act", nargs="+", default=None, metavar="CODE", help="only articles of these acts (adilet codes)")
    p.add_argument("--as-of", default=None, metavar="YYYY-MM-DD",
                   help="only the article versions in force that day (default: the current editions)")
    p.add_argument("--config", default=None, help="TOML file with a [retrieval] section")
    p.add_argument("--json", action="store_true", help="print the hits as a JSON list")
    p.add_argument("--with-text", action="store_true", help="with --json: include each article's full text")
    p.set_defaults(func=cmd_search)


def cmd_search(args) -> int:
    from retrieval.hybrid import HybridRetriever

    if (args.query is None) == (args.queries is None):
        raise LexkzError("give either a query or --queries FILE.jsonl, e.g. lexkz search \"трудовой договор\"")
    from index.timeline import parse_date

    if args.as_of is not None:
        args.as_of = parse_date(args.as_of)  # a bad date: exit 2 before the index loads
    cfg = load_stage(RetrievalConfig, args.config, "retrieval", field_overrides(args, RetrievalConfig))
    retriever = HybridRetriever(args.index, cfg)
    if args.queries is not None:
        return _search_many(retriever, args)
    if not args.query.strip():
        raise LexkzError("empty query: pass the question in quotes, e.g. lexkz search \"трудовой договор\"")
    hits = retriever.retrieve(args.query, lang=args.lang, act_codes=args.act, as_of=args.as_of)
    if args.json:
        print(json.dumps([h.to_dict(with_text=args.with_text) for h in hits], ensure_ascii=False, indent=2))
        return 0
    note = None if hits else retriever.empty_note(args.query)
    if note:
        print(f"no hits: {note}")
    elif not hits and args.as_of:
        print(f"no hits: no article of the acts searched is in force on {args.as_of} in this index "
              f"(not in force on that date: the act was not yet in force, already repealed, or the corpus lacks "
              f"its edition of that day; see `lexkz history ACT ARTICLE`)")
    else:
        print(format_hits(hits))
    return 0


def _search_many(retriever, args) -> int:
    """One JSON line per question of args.queries; bad lines are reported in place."""
    from pathlib import Path

    from lexkz.common import read_jsonl

    path = Path(args.queries)
    if not path.is_file():
        raise LexkzError(f"no queries file at {path}: pass a JSONL file with one {{\"question\": ...}} per line", 3)
    retriever.warm_up()
    bad = 0
    for line_no, obj, error in read_jsonl(path):
        question = obj.get("question", obj.get("query")) if isinstance(obj, dict) else None
        if error or not isinstance(question, str) or not question.strip():
            bad += 1
            why = error or 'expected an object with a non-empty "question" string'
            print(json.dumps({"line": line_no, "error": f"{path}:{line_no}: {why}"}, ensure_ascii=False), flush=True)
            continue
        try:
            k = int(obj.get("k") or 0) or None
            hits = retriever.retrieve(question, k=k, lang=obj.get("lang", args.lang),
                                      act_codes=obj.get("act_codes", args.act), as_of=obj.get("as_of", args.as_of))
        except (LexkzError, TypeError, ValueError) as exc:
            bad += 1
            print(json.dumps({"line": line_no, "error": f"{path}:{line_no}: {exc}"}, ensure_ascii=False), flush=True)
            continue
        row = {"id": obj.get("id", line_no), "question": question,
               "hits": [h.to_dict(with_text=args.with_text) for h in hits]}
        note = None if hits else retriever.empty_note(question)
        if note:
            row["note"] = note
        print(json.dumps(row, ensure_ascii=False), flush=True)
    if bad:
        raise LexkzError(f"{bad} line(s) of {path} could not be searched (see the error lines above)", 2)
    return 0


def format_hits(hits) -> str:
    """A ranked table: rank, score, article, act; then the snippet and the URL."""
    if not hits:
        return "no hits (try --include-repealed, another --lang, or fewer filters)"
    lines = []
    for h in hits:
        parts = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in h.score_parts.items())
        repealed = "  [REPEALED]" if h.status == "repealed" else ""
        head = f"{h.number}. {h.title}" if h.title else h.number
        version = f"  (в ред. от {h.valid_from})" if h.valid_from else ""
        lines.append(f"{h.rank:>2}. {h.score:8.4f}  {h.article_id}  {head}{repealed}{version}")
        lines.append(f"    {h.act_title}")
        lines.extend(textwrap.wrap(h.snippet, width=100, initial_indent="    ", subsequent_indent="    "))
        lines.append(f"    {h.url}   ({parts})")
        lines.append("")
    return "\n".join(lines).rstrip()
