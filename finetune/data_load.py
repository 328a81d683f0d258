"""Read QA files into plain QA items, reporting every skipped line with its number and reason.

Formats: JSONL, CSV, or a `datasets` directory (`save_to_disk`). Field mapping, first match wins:
    instruction [+ input] / output            (Alpaca style)
    question / answer | reference_answer      (../shared/qa uses reference_answer)
    messages: [{role, content}, ...]          (last user turn before the last assistant turn)
Optional: lang (ru/kk/rus/kaz/...; detected from the letters when absent), act_code | act,
article | article_no | article_number, id.

    items, skipped = load_qa_file("qa.jsonl")
    # items: [{"id","question","answer","lang","act_code","article","source","label"}]
    # skipped: [{"file","line","reason"}]
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterator

from lexkz.common import normalize_lang, read_jsonl
from lexkz.errors import LexkzError
from retrieval.text import detect_lang

QUESTION_KEYS = ("question", "instruction", "prompt", "query")
ANSWER_KEYS = ("answer", "reference_answer", "output", "response", "completion")
ACT_KEYS = ("act_code", "act")
ARTICLE_KEYS = ("article", "article_no", "article_number")


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _first(obj: dict, keys: tuple[str, ...], allow_empty: bool = False) -> Any:
    """The value of the first key that holds one (with allow_empty, the first key present)."""
    for k in keys:
        if obj.get(k) not in (None, ""):
            return obj[k]
    if allow_empty:
        return next((obj[k] for k in keys if obj.get(k) is not None), None)
    return None


def map_fields(obj: dict) -> tuple[dict | None, str | None]:
    """One raw record -> (QA item without id/source, None) or (None, reason it was skipped)."""
    if isinstance(obj.get("messages"), list) and obj["messages"]:
        msgs = obj["messages"]
        if not all(isinstance(m, dict) and "role" in m and "content" in m for m in msgs):
            return None, "messages must be a list of {role, content} objects"
        last_asst = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
        if last_asst is None:
            return None, "messages has no assistant turn"
        user = max((i for i, m in enumerate(msgs[:last_asst]) if m["role"] == "user"), default=None)
        if user is None:
            return None, "messages has no user turn before the assistant turn"
        question, answer = _text(msgs[user]["content"]), _text(msgs[last_asst]["content"])
    else:
        q = _first(obj, QUESTION_KEYS, allow_empty=True)
        if q is None:
            return None, f"no question field (expected one of {', '.join(QUESTION_KEYS)} or messages)"
        question = _text(q)
        if obj.get("instruction") and _text(obj.get("input")):
            question = f"{question}\n\n{_text(obj['input'])}"
        a = _first(obj, ANSWER_KEYS, allow_empty=True)
        if a is None:
            return None, f"no answer field (expected one of {', '.join(ANSWER_KEYS)})"
        answer = _text(a)
    if not question:
        return None, "empty question"
    if not answer:
        return None, "empty answer"
    raw_lang = obj.get("lang") or obj.get("language")
    try:
        lang = normalize_lang(raw_lang) if raw_lang else detect_lang(question + " " + answer)
    except LexkzError:
        return None, f"unknown language {raw_lang!r} (use ru/rus or kk/kaz)"
    act = _first(obj, ACT_KEYS)
    article = _first(obj, ARTICLE_KEYS)
    return {
        "question": question,
        "answer": answer,
        "lang": lang,
        "act_code": str(act).strip() if act is not None else None,
        "article": str(article).strip() if article is not None else None,
    }, None


def _records(path: Path) -> Iterator[tuple[str, dict | None, str | None]]:
    """(where, record, error) for each record of a JSONL/CSV file or a datasets directory."""
    if path.is_dir():
        try:
            from datasets import DatasetDict, load_from_disk

            ds = load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise LexkzError(f"{path} is not a `datasets` directory ({exc}); pass a JSONL/CSV file or a save_to_disk dir") from exc
        splits = ds.items() if isinstance(ds, DatasetDict) else [("", ds)]
        for split, part in splits:
            for i, row in enumerate(part, 1):
                yield (f"{split} row {i}" if split else f"row {i}"), dict(row), None
    elif path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames:
                raise LexkzError(f"{path} has no header row: CSV files need a header (question,answer,...)")
            prev = 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    yield f"line {reader.line_num}", None, f"broken CSV ({exc})"
                    continue
                start, prev = prev + 1, reader.line_num
                if None in row:
                    yield f"line {start}", None, f"more cells than header columns ({len(reader.fieldnames)})"
                    continue
                yield f"line {start}", row, None
    else:
        for no, obj, err in read_jsonl(path):
            yield f"line {no}", obj, err


def load_qa_file(path: str | Path) -> tuple[list[dict], list[dict]]:
    """(QA items, skipped records) of one file; items carry id, source (file name) and label "qa"."""
    path = Path(path)
    if not path.exists():
        raise LexkzError(f"QA file not found: {path} (pass JSONL, CSV or a datasets directory with --qa)", 3)
    items, skipped = [], []
    for where, obj, err in _records(path):
        item, reason = (None, err) if err else map_fields(obj)
        if item is None:
            skipped.append({"file": str(path), "line": where, "reason": reason})
            continue
        rid = obj.get("id")
        item["id"] = str(rid) if rid not in (None, "") else f"{path.stem}:{where.replace(' ', '')}"
        item["source"] = path.name
        item["label"] = str(obj.get("label") or "qa")
        items.append(item)
    return items, skipped


def load_qa_files(paths: list[str | Path]) -> tuple[list[dict], list[dict]]:
    items, skipped = [], []
    for p in paths:
        got, bad = load_qa_file(p)
        items += got
        skipped += bad
    return items, skipped


def format_skipped(skipped: list[dict], limit: int = 20) -> str:
    lines = [f"{s['file']} {s['line']}: {s['reason']}" for s in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"... and {len(skipped) - limit} more (all listed in data_card.json)")
    return "\n".join(lines)
