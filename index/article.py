"""The unit everything indexes, retrieves and cites: one article of one act in one language."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Article:
    """One article. `id` is stable across editions: "<act_code>/<number>/<lang>".

    `sha256` hashes the article's heading title and text, so an amendment changes it
    and an untouched article keeps it. `status` is "in_force" or "repealed" (from the
    act's meta.yaml). `position` is the article's order inside its act file.
    """

    id: str
    act_code: str
    act_title: str
    number: str
    title: str
    text: str
    lang: str  # "rus" | "kaz"
    url: str
    status: str  # "in_force" | "repealed"
    sha256: str
    position: int = 0
    source: str = ""  # "file:line" of the heading
    # the version in force on a given day (set by index.asof.AsOfStore; None = not resolved)
    valid_from: str | None = None
    valid_to: str | None = None
    gap: bool = False  # the corpus lacks the editions between valid_from and valid_to

    def to_dict(self) -> dict:
        return asdict(self)


def article_id(act_code: str, number: str, lang: str) -> str:
    return f"{act_code}/{number}/{lang}"


def base_id(aid: str) -> str:
    """The id of the current version: "K950001000_/1/rus@2007-05-21" -> "K950001000_/1/rus"."""
    return aid.split("@", 1)[0]
