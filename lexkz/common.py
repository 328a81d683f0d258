"""Small helpers used across stages: languages, corpus location, JSON/JSONL I/O, hashing."""

from __future__ import annotations

import hashlib
import shutil
from contextlib import contextmanager
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from lexkz.errors import LexkzError

# Internal language codes are the corpus file stems: "rus" and "kaz".
_LANG_ALIASES = {
    "rus": "rus", "ru": "rus", "russian": "rus",
    "kaz": "kaz", "kk": "kaz", "kz": "kaz", "kazakh": "kaz",
}


def normalize_lang(lang: str | None) -> str | None:
    """Map ru/kk/kz/rus/kaz (any case) to "rus"/"kaz"; None stays None."""
    if lang is None:
        return None
    try:
        return _LANG_ALIASES[lang.strip().lower()]
    except KeyError:
        raise LexkzError(f"unknown language {lang!r}: use rus (ru) or kaz (kk)") from None


def default_corpus_dir() -> Path | None:
    """LEXKZ_CORPUS, else ../shared/corpus beside the checkout; None when neither exists."""
    env = os.environ.get("LEXKZ_CORPUS")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parent.parent.parent / "shared" / "corpus")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_dir(out: str | Path) -> Iterator[Path]:
    """Write a folder atomically: yields a fresh temp folder beside `out`, renamed to `out` when
    the block ends without error, removed when it fails (Ctrl-C included). `out` must not exist."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename), UTF-8, pretty."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield (line_no, obj, error) for each non-blank line; a broken line gives obj=None and a reason."""
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield no, None, f"invalid JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(obj, dict):
                yield no, None, f"expected a JSON object, got {type(obj).__name__}"
                continue
            yield no, obj, None


def append_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def library_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed versions of `names` (None for a package that is not installed), for run records."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
