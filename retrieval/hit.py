"""One retrieved article with its score parts: what search prints and what the graph cites."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Hit:
    """A retrieved article. `score` is the fused score; `score_parts` holds the parts
    (e.g. {"bm25": 12.3, "bm25_rank": 1, "dense": 0.71, "dense_rank": 3, "rerank": 4.2})."""

    article_id: str
    act_code: str
    act_title: str
    number: str
    title: str
    lang: str
    url: str
    score: float
    status: str = "in_force"
    score_parts: dict = field(default_factory=dict)
    snippet: str = ""
    text: str = ""
    rank: int = 0
    valid_from: str | None = None  # the version (edition) of the article: in force from .. to (None: open)
    valid_to: str | None = None
    gap: bool = False  # the corpus lacks the editions between valid_from and valid_to

    def to_dict(self, with_text: bool = False) -> dict:
        d = asdict(self)
        if not with_text:
            d.pop("text")
        return d
