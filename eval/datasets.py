"""Eval sets: load question/reference items from JSONL files or a `datasets` directory.

One item per line / row:
    {"id": "...", "lang": "ru"|"kk"|"rus"|"kaz", "question": "...", "reference_answer": "...",
     "act_code": "K1500000414"?, "article": "113"?,
     "alternatives": [{"act_code": "...", "article": "..."} | "ACT/NUMBER" | "NUMBER"]?,
     "answer_alternatives": ["another accepted answer"]?}
`alternatives` are accepted alternative gold articles ("NUMBER" alone means the same act);
`answer_alternatives` are accepted alternative answers. Other keys (act_title, source, meta)
are kept in `meta`. The public sets in ../shared/qa have this shape.

    from eval.datasets import load_items, filter_to_acts
    items = load_items(["../shared/qa/nurkal_qwen3_bench500_portal_like.jsonl"])
    items, dropped = filter_to_acts(items, {"K1500000414"})

A malformed line (broken JSON, missing or empty field, unknown language, duplicate id) is
reported with its file and line number; `load_items` raises LexkzError listing them unless
`skip_invalid=True`, which drops them (the reasons go to the `problems` list if given).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from lexkz.common import normalize_lang, read_jsonl, sha256_text
from lexkz.errors import LexkzError

REQUIRED = ("id", "lang", "question", "reference_answer")
KNOWN = set(REQUIRED) | {"act_code", "article", "alternatives", "answer_alternatives", "as_of", "date"}


@dataclass(frozen=True)
class EvalItem:
    id: str
    lang: str  # "rus" | "kaz"
    question: str
    reference_answer: str
    act_code: str | None = None
    article: str | None = None
    alternatives: tuple[tuple[str, str], ...] = ()  # accepted (act_code, number) besides the gold one
    answer_alternatives: tuple[str, ...] = ()
    as_of: str | None = None  # ISO date: the question is about the law in force that day (`as_of` or `date`)
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def gold_articles(self) -> list[tuple[str, str]]:
        """All accepted (act_code, article) pairs; empty when the item has no gold article."""
        gold = [(self.act_code, self.article)] if self.act_code and self.article else []
        return gold + [a for a in self.alternatives if a not in gold]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["alternatives"] = [list(a) for a in self.alternatives]
        d["answer_alternatives"] = list(self.answer_alternatives)
        return d


def _clean_article(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    return str(value).strip()


def _parse_alternatives(value: Any, act_code: str | None) -> tuple[tuple[str, str], ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        raise ValueError("'alternatives' must be a list")
    out = []
    for alt in value:
        if isinstance(alt, dict):
            act, num = alt.get("act_code") or act_code, _clean_article(alt.get("article"))
        elif isinstance(alt, (str, int)):
            text = str(alt).strip()
            act, num = (text.rsplit("/", 1) if "/" in text else (act_code, text))
        else:
            raise ValueError(f"alternative {alt!r} is neither an object nor a string")
        if not act or not num:
            raise ValueError(f"alternative {alt!r} names no act code and article number")
        out.append((str(act), str(num)))
    return tuple(out)


def item_from_dict(obj: dict[str, Any]) -> EvalItem:
    """Validate one raw row; raises ValueError with a reason when it is malformed."""
    for key in REQUIRED:
        value = obj.get(key)
        if value is None or not str(value).strip():
            raise ValueError(f"missing or empty '{key}'")
    try:
        lang = normalize_lang(str(obj["lang"]))
    except LexkzError as exc:
        raise ValueError(str(exc)) from None
    act_code = (str(obj["act_code"]).strip() or None) if obj.get("act_code") else None
    answer_alts = obj.get("answer_alternatives") or []
    if not isinstance(answer_alts, list) or not all(isinstance(a, str) for a in answer_alts):
        raise ValueError("'answer_alternatives' must be a list of strings")
    as_of = obj.get("as_of") or obj.get("date")
    if as_of is not None:
        from index.timeline import parse_date

        try:
            as_of = parse_date(str(as_of), "as_of")
        except LexkzError as exc:
            raise ValueError(str(exc)) from None
    return EvalItem(
        id=str(obj["id"]),
        lang=lang,
        question=str(obj["question"]).strip(),
        reference_answer=str(obj["reference_answer"]).strip(),
        act_code=act_code,
        article=_clean_article(obj.get("article")),
        alternatives=_parse_alternatives(obj.get("alternatives"), act_code),
        answer_alternatives=tuple(answer_alts),
        as_of=as_of,
        meta={k: v for k, v in obj.items() if k not in KNOWN},
    )


def _rows(path: Path) -> Iterable[tuple[int, dict | None, str | None]]:
    """(row number, raw dict or None, error) from a JSONL file or a `datasets` directory."""
    if path.is_dir():
        try:
            from datasets import DatasetDict, load_from_disk

            ds = load_from_disk(str(path))
        except Exception as exc:  # noqa: BLE001 - any load failure is a user error here
            raise LexkzError(f"{path} is not a `datasets` directory saved with save_to_disk ({exc}); "
                             "pass a JSONL file or such a directory") from exc
        if isinstance(ds, DatasetDict):
            split = "test" if "test" in ds else next(iter(ds))
            ds = ds[split]
        for no, row in enumerate(ds, 1):
            yield no, dict(row), None
        return
    yield from read_jsonl(path)


def load_items(
    paths: Iterable[str | Path],
    skip_invalid: bool = False,
    limit: int | None = None,
    problems: list[str] | None = None,
) -> list[EvalItem]:
    """Items of one or more eval files, in file order; ids must be unique across files.

    `limit` keeps the first N valid items. Malformed lines ("file:line: reason") are appended
    to `problems` when given; they raise LexkzError unless `skip_invalid`.
    """
    items: list[EvalItem] = []
    problems = [] if problems is None else problems
    seen: dict[str, str] = {}
    paths = [Path(p) for p in paths]
    if not paths:
        raise LexkzError("no eval questions file given: set `questions` in the [eval] config or pass --questions")
    for path in paths:
        if not path.exists():
            raise LexkzError(f"eval questions file not found: {path} (check `questions` in the [eval] config)", 3)
        for no, obj, err in _rows(path):
            where = f"{path}:{no}"
            if err is None:
                try:
                    item = item_from_dict(obj)
                except ValueError as exc:
                    err = str(exc)
                else:
                    if item.id in seen:
                        err = f"duplicate id {item.id!r} (first at {seen[item.id]})"
                    else:
                        seen[item.id] = where
                        items.append(item)
            if err is not None:
                problems.append(f"{where}: {err}")
    if problems and not skip_invalid:
        shown = "; ".join(problems[:10]) + (f"; ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise LexkzError(f"{len(problems)} malformed eval line(s): {shown}. Fix these lines "
                         "(each needs id, lang ru/kk, question, reference_answer) or set skip_invalid = true")
    if not items:
        raise LexkzError(f"no eval items in {', '.join(map(str, paths))}: each line needs id, lang, question, reference_answer")
    return items[:limit] if limit else items


def filter_to_acts(items: list[EvalItem], act_codes: Iterable[str]) -> tuple[list[EvalItem], int]:
    """Keep the items whose gold act is in `act_codes` (e.g. the acts of the index); items with
    no act code are dropped too. Returns (kept, number dropped)."""
    codes = set(act_codes)
    kept = [it for it in items if it.act_code and it.act_code in codes]
    return kept, len(items) - len(kept)


def items_fingerprint(items: list[EvalItem]) -> str:
    """A hash of the question set (ids, questions, references, gold), stored in run records."""
    return sha256_text("\n".join(
        f"{it.id}\t{it.lang}\t{it.question}\t{it.reference_answer}\t{it.act_code}\t{it.article}" for it in items
    ))
