"""`lexkz history` and `lexkz diff`: the versions of one article and what changed between two days.

    lexkz history K950001000_ 41                      # every version: dates, edition, amending act
    lexkz history K950001000_ 41 --as-of 2010-01-01   # only the versions that started by that day
    lexkz diff K950001000_ 41 --from 2008-01-01 --to 2023-01-01   # word-level diff ([-old-] {+new+})

The versions come from the index's timeline (index/timeline.py). A date that is not an ISO
date, or a history date after today, is an error (exit 2); so is a day on which the article
has no version in force ("not in force on that date").
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json

from index.store import DEFAULT_INDEX_DIR
from index.timeline import contains, parse_date
from lexkz.errors import LexkzError


def article_history(store, act_code: str, number: str, lang: str = "rus", until: str | None = None) -> list[dict]:
    """[{article_id, valid_from, valid_to, edition, gap, caused_by, sha256, chars}] oldest first."""
    if until is not None:
        until = parse_date(until, "--as-of")
        if until > dt.date.today().isoformat():
            raise LexkzError(f"--as-of {until} is after today ({dt.date.today().isoformat()}): the history holds "
                             f"only versions that have started; give today's date or an earlier one", 2)
    versions = store.versions(act_code, str(number), lang)
    if not versions:
        known = {a["code"] for a in store.acts()}
        what = f"act {act_code} is not in the index (acts: {', '.join(sorted(known))})" if act_code not in known else \
            f"act {act_code} has no article {number} in language {lang}"
        raise LexkzError(f"{what}: check the act code and article number (`lexkz search` lists articles)", 2)
    out = []
    for art, (vf, vt, edition, gap, caused_by) in versions:
        if until is not None and vf is not None and vf > until:
            continue
        out.append({"article_id": art.id, "valid_from": vf, "valid_to": vt, "edition": edition, "gap": gap,
                    "caused_by": caused_by, "sha256": art.sha256, "chars": len(art.text)})
    return out


def version_on(store, act_code: str, number: str, lang: str, day: str):
    """The Article version in force on `day`, or LexkzError exit 2 naming the known versions."""
    versions = store.versions(act_code, str(number), lang)
    for art, span in versions:
        if contains(span[0], span[1], day):
            return art, span
    known = ", ".join(f"{s[0] or '…'}–{s[1] or '…'}" for _, s in versions) or "none"
    raise LexkzError(f"article {number} of {act_code} ({lang}) is not in force on {day} in this index "
                     f"(not in force on that date; its versions: {known})", 2)


def word_diff(old: str, new: str) -> dict:
    """Word-level diff: {"text": "… [-removed-] {+added+} …", "added": n, "removed": n, "same": bool}."""
    a, b = old.split(), new.split()
    parts, added, removed = [], 0, 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(" ".join(a[i1:i2]))
            continue
        if i2 > i1:
            parts.append("[-" + " ".join(a[i1:i2]) + "-]")
            removed += i2 - i1
        if j2 > j1:
            parts.append("{+" + " ".join(b[j1:j2]) + "+}")
            added += j2 - j1
    return {"text": " ".join(parts), "added": added, "removed": removed, "same": a == b}


def article_diff(store, act_code: str, number: str, lang: str, day_from: str, day_to: str) -> dict:
    day_from, day_to = parse_date(day_from, "--from"), parse_date(day_to, "--to")
    old, old_span = version_on(store, act_code, number, lang, day_from)
    new, new_span = version_on(store, act_code, number, lang, day_to)
    d = word_diff((old.title or "") + "\n" + old.text, (new.title or "") + "\n" + new.text)
    return {"act_code": act_code, "number": str(number), "lang": lang, "from": day_from, "to": day_to,
            "old": {"article_id": old.id, "valid_from": old_span[0], "valid_to": old_span[1]},
            "new": {"article_id": new.id, "valid_from": new_span[0], "valid_to": new_span[1]}, **d}


# ---------------------------------------------------------------- command line


def register(subparsers) -> None:
    h = subparsers.add_parser("history", help="list the versions of one article (dates, amending act)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    h.add_argument("act", help="act code, e.g. K950001000_")
    h.add_argument("article", help="article number, e.g. 41 or 50-1")
    h.add_argument("--as-of", default=None, metavar="YYYY-MM-DD", help="only versions that started by that day (not after today)")
    h.set_defaults(func=cmd_history)
    d = subparsers.add_parser("diff", help="word-level diff of one article between two days",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("act")
    d.add_argument("article")
    d.add_argument("--from", dest="day_from", required=True, metavar="YYYY-MM-DD")
    d.add_argument("--to", dest="day_to", required=True, metavar="YYYY-MM-DD")
    d.set_defaults(func=cmd_diff)
    for p in (h, d):
        p.add_argument("--index", default=DEFAULT_INDEX_DIR, help=f"index folder (default {DEFAULT_INDEX_DIR})")
        p.add_argument("--lang", default="rus", help="rus (default) or kaz")
        p.add_argument("--json", action="store_true", help="print JSON")


def _store(args):
    from index.store import open_index
    from lexkz.common import normalize_lang

    args.lang = normalize_lang(args.lang) or "rus"
    return open_index(args.index).articles


def cmd_history(args) -> int:
    if args.as_of is not None:
        parse_date(args.as_of)  # a bad date fails before the index loads
    rows = article_history(_store(args), args.act, args.article, args.lang, args.as_of)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{args.act} article {args.article} ({args.lang}): {len(rows)} version(s)")
    for r in rows:
        gap = "  [editions between this one and the next are not in the corpus]" if r["gap"] else ""
        print(f"  {r['valid_from'] or '…'} – {r['valid_to'] or 'open'}  {r['article_id']}  ({r['edition']}){gap}")
        if r["caused_by"]:
            print(f"      amended by: {r['caused_by']}")
    return 0


def cmd_diff(args) -> int:
    parse_date(args.day_from, "--from")
    parse_date(args.day_to, "--to")
    d = article_diff(_store(args), args.act, args.article, args.lang, args.day_from, args.day_to)
    if args.json:
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return 0
    print(f"{args.act} article {args.article} ({args.lang}): {d['from']} ({d['old']['article_id']}, in force from "
          f"{d['old']['valid_from']}) -> {d['to']} ({d['new']['article_id']}, from {d['new']['valid_from']})")
    print("no change" if d["same"] else f"+{d['added']} words, -{d['removed']} words")
    print(d["text"])
    return 0
