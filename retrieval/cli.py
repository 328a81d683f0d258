"""`lexkz search`: query an index from the command line.

    lexkz search "Как уволиться по собственному желанию?" --index .lexkz/index -k 10
    lexkz search "еңбек демалысы" --lang kaz --act K1500000414 --json
    lexkz search "..." --mode lexical|dense|hybrid --include-repealed --reranker /models/ce

Settings come from the [retrieval] section of --config (RetrievalConfig); flags override.
`--json` prints a list of hits with article_id, act_code, act_title, number, title, lang,
url, score, status, score_parts, snippet (add --with-text for the article text). A missing
index is an error with exit code 3.
"""

from __future__ import annotations

import argparse
import json
import textwrap

from lexkz.config import help_of, load_stage
from lexkz.errors import LexkzError
from index.store import DEFAULT_INDEX_DIR
from retrieval.config import MODES, RetrievalConfig



def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="search the article index (BM25 + dense, fused)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("query", help="the question or keywords")
    p.add_argument("--index", default=DEFAULT_INDEX_DIR, help=f"index folder (default {DEFAULT_INDEX_DIR})")
    p.add_argument("-k", "--k", type=int, default=None, help=help_of(RetrievalConfig, "k"))
    p.add_argument("--lang", default=None, help="only articles in this language: rus (ru) or kaz (kk)")
    p.add_argument("--act", nargs="+", default=None, metavar="CODE", help="only articles of these acts (adilet codes)")
    p.add_argument("--include-repealed", action="store_true", default=None, help=help_of(RetrievalConfig, "include_repealed"))
    p.add_argument("--mode", choices=MODES, default=None, help=help_of(RetrievalConfig, "mode"))
    p.add_argument("--reranker", default=None, help=help_of(RetrievalConfig, "reranker"))
    p.add_argument("--config", default=None, help="TOML file with a [retrieval] section")
    p.add_argument("--json", action="store_true", help="print the hits as a JSON list")
    p.add_argument("--with-text", action="store_true", help="with --json: include each article's full text")
    p.set_defaults(func=cmd_search)


def cmd_search(args) -> int:
    from retrieval.hybrid import HybridRetriever

    if not args.query.strip():
        raise LexkzError("empty query: pass the question in quotes, e.g. lexkz search \"трудовой договор\"")
    cfg = load_stage(RetrievalConfig, args.config, "retrieval",
                     {"k": args.k, "mode": args.mode, "include_repealed": args.include_repealed, "reranker": args.reranker})
    hits = HybridRetriever(args.index, cfg).retrieve(args.query, lang=args.lang, act_codes=args.act)
    if args.json:
        print(json.dumps([h.to_dict(with_text=args.with_text) for h in hits], ensure_ascii=False, indent=2))
        return 0
    print(format_hits(hits))
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
        lines.append(f"{h.rank:>2}. {h.score:8.4f}  {h.article_id}  {head}{repealed}")
        lines.append(f"    {h.act_title}")
        lines.extend(textwrap.wrap(h.snippet, width=100, initial_indent="    ", subsequent_indent="    "))
        lines.append(f"    {h.url}   ({parts})")
        lines.append("")
    return "\n".join(lines).rstrip()
