"""Config plumbing shared by every stage.

Each stage owns one dataclass (IndexConfig, RetrievalConfig, GenerationConfig,
SFTConfig, EvalConfig). Every field has a default and a one-line help string in
`field(metadata={"help": ...})`. Values come from one TOML file (a section per
stage: [index], [retrieval], [generation], [sft], [eval]); CLI flags override them.

    cfg = load_stage(IndexConfig, "configs/tiny.toml", "index", {"embedding": "minilm"})

A stage that uses another stage's settings holds that stage's dataclass as a field marked with
`metadata={"section": "retrieval"}`: load_stage fills it from that section of the same TOML file
(the one `lexkz ask` reads), so e.g. `EvalConfig.retrieval` is the `[retrieval]` of the file.
Overrides for it come as a dict: `{"retrieval": {"k": 3}}`.
"""

from __future__ import annotations

import argparse
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


def nested_sections(cls: type) -> dict[str, tuple[str, type]]:
    """{field name: (TOML section, dataclass)} of the fields of `cls` that hold another stage's config."""
    out = {}
    for f in dataclasses.fields(cls):
        section = f.metadata.get("section")
        if section:
            out[f.name] = (section, type(f.default_factory()))  # type: ignore[misc]
    return out


def from_dict(cls: type[T], values: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `values`, refusing unknown keys with a clear message; a nested
    stage config may be given as a dict (e.g. a stored run record)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    for key in unknown:  # a setting of a nested stage written in the wrong section
        for sub_section, sub in nested_sections(cls).values():
            if key in {f.name for f in dataclasses.fields(sub)}:
                raise LexkzError(f"{key!r} in {where} belongs in the [{sub_section}] section of the same file "
                                 f"(move `{key} = ...` there)")
    if unknown:
        raise LexkzError(
            f"unknown key(s) {', '.join(unknown)} in {where}; "
            f"{cls.__name__} accepts: {', '.join(sorted(names))}"
        )
    values = dict(values)
    for name, (section, sub) in nested_sections(cls).items():
        if isinstance(values.get(name), dict):
            values[name] = from_dict(sub, values[name], where=f"[{section}] of {where}")
    return cls(**values)


def load_stage(
    cls: type[T],
    path: str | Path | None = None,
    section: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> T:
    """Defaults <- TOML section <- non-None overrides (e.g. parsed CLI flags). Nested stage
    configs (fields with a "section") come from their own section of the same file."""
    values: dict[str, Any] = {}
    data = read_toml(path) if path is not None else {}
    if path is not None:
        values.update(data.get(section, {}) if section else data)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for name, (sub_section, sub) in nested_sections(cls).items():
        if name in values:
            raise LexkzError(f"[{section}] of {path} sets {name!r}: put those settings in the [{sub_section}] section")
        sub_over = overrides.pop(name, None) or {}
        values[name] = from_dict(sub, {**data.get(sub_section, {}), **{k: v for k, v in sub_over.items() if v is not None}},
                                 where=f"[{sub_section}] of {path}" if path else sub.__name__)
    values.update(overrides)
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


def add_field_flags(parser, cls: type, names: dict[str, tuple[str, ...] | None] | list[str]) -> None:
    """Add one CLI flag per field of `cls`: `--field-name` (or the given flag names), with the type,
    choices-free parsing and help text taken from the dataclass. Unset flags stay None, so
    `field_overrides` only passes what the user gave."""
    names = dict.fromkeys(names) if isinstance(names, list) else names
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, flags in names.items():
        f = fields[name]
        flags = flags or ("--" + name.replace("_", "-"),)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        kwargs: dict[str, Any] = {"dest": f"{cls.__name__}__{name}", "default": None, "help": f.metadata.get("help", "")}
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(default, list):
            kwargs["nargs"] = "+"
        else:
            kwargs["type"] = type(default)
        parser.add_argument(*flags, **kwargs)


def field_overrides(args, cls: type) -> dict[str, Any]:
    """{field: value} of the flags `add_field_flags` added for `cls` that were given."""
    prefix = f"{cls.__name__}__"
    return {k[len(prefix):]: v for k, v in vars(args).items() if k.startswith(prefix) and v is not None}
