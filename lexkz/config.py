"""Config plumbing shared by every stage.

Each stage owns one dataclass (IndexConfig, RetrievalConfig, GenerationConfig,
SFTConfig, EvalConfig). Every field has a default and a one-line help string in
`field(metadata={"help": ...})`. Values come from one TOML file (a section per
stage: [index], [retrieval], [generation], [sft], [eval]); CLI flags override them.

    cfg = load_stage(IndexConfig, "configs/tiny.toml", "index", {"embedding": "minilm"})
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from lexkz.errors import LexkzError

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise LexkzError(f"config file not found: {path} (pass an existing TOML file, e.g. configs/tiny.toml)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LexkzError(f"config file {path} is not valid TOML: {exc}") from exc


def from_dict(cls: type[T], values: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `values`, refusing unknown keys with a clear message."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise LexkzError(
            f"unknown key(s) {', '.join(unknown)} in {where}; "
            f"{cls.__name__} accepts: {', '.join(sorted(names))}"
        )
    return cls(**values)


def load_stage(
    cls: type[T],
    path: str | Path | None = None,
    section: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> T:
    """Defaults <- TOML section <- non-None overrides (e.g. parsed CLI flags)."""
    values: dict[str, Any] = {}
    if path is not None:
        data = read_toml(path)
        values.update(data.get(section, {}) if section else data)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_dict(cls, values, where=f"[{section}] of {path}" if path else cls.__name__)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The resolved config as plain JSON-able data (stored beside every artifact)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def help_of(cls: type, name: str) -> str:
    """The help string of one config field (used for CLI --help texts)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(name)
