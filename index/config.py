"""IndexConfig: the one config dataclass of the index stage (build, update, corpus sync).

Loaded from the [index] section of a TOML file (see configs/index-bge-m3.toml) with
`lexkz.config.load_stage(IndexConfig, path, "index", overrides)`; CLI flags override.
Every index version stores the resolved config in its manifest.json; `lexkz index update`
reuses the stored one, so an index always grows with the settings it was built with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Settings that shape the stored vectors and passages: an update must use the stored
# values, and a different request is refused (rebuild instead).
SHAPING_FIELDS = ("embedding", "query_prefix", "passage_prefix", "chunk_chars", "chunk_overlap", "dense_kind",
                  "dense_strip_footnotes", "dense_max_passages")
# Values an index written before a shaping field existed was built with (read from old manifests).
LEGACY_SHAPING = {"dense_strip_footnotes": False, "dense_max_passages": 0}


@dataclass
class IndexConfig:
    embedding: str = field(
        default="e5-small",
        metadata={"help": "embedding model: 'e5-small' (bundled multilingual-e5-small, offline, the default), "
                          "'minilm' (bundled, English-only), 'hashing[:DIM]' (model-free, tests), "
                          "or a sentence-transformers hub id / local path such as BAAI/bge-m3"},
    )
    query_prefix: str = field(default="", metadata={"help": "text put before each query before embedding ('' = the model family's: 'query: ' for E5 hub models; e5-small adds its own)"})
    passage_prefix: str = field(default="", metadata={"help": "text put before each passage before embedding ('' = the model family's: 'passage: ' for E5 hub models)"})
    dense_kind: str = field(
        default="auto",
        metadata={"help": "FAISS index under IndexIDMap2: 'flat' (exact), 'ivf' (approximate, large corpora) or "
                          "'auto' (ivf from ivf_min_passages passages on)"},
    )
    ivf_min_passages: int = field(default=200_000, metadata={"help": "with dense_kind='auto', use IVF from this many passages on"})
    ivf_nlist: int = field(default=0, metadata={"help": "IVF cells (0: about 4*sqrt(passages))"})
    chunk_chars: int = field(default=1200, metadata={"help": "long articles are split into passages of at most about this many characters"})
    chunk_overlap: int = field(default=150, metadata={"help": "characters of the previous passage repeated at the start of the next one"})
    dense_strip_footnotes: bool = field(default=True, metadata={"help": "leave amendment footnotes (Сноска. / Ескерту.) out of the text that is embedded; BM25 and the stored text keep them"})
    dense_max_passages: int = field(default=1, metadata={"help": "embed at most this many passages of each article, from its start (0 = all); BM25 indexes every passage. 1 keeps a full build of the shared corpus with e5-small near 10 minutes on 2 cores at a measured cost of 2 of 78 dev questions at R@1 and none at R@10 (bench/bench_retrieval_quality.py --dense-cap)"})
    batch_size: int = field(default=32, metadata={"help": "passages per embedding batch"})
    keep_versions: int = field(default=2, metadata={"help": "index versions kept on disk: the live one and the ones it replaced "
                                                            "(at least 2, so the previous version is always there to restore)"})
    max_removed_share: float = field(
        default=0.2,
        metadata={"help": "`index update` refuses to remove more than this share of an act's articles in one language "
                          "(an emptied or unparsable rus.md/kaz.md, a deleted act folder) unless --allow-removals is given; "
                          "1 turns the check off"},
    )
    sync_url_template: str = field(
        default="https://github.com/kazakhstan-law/{scope}.git",
        metadata={"help": "git remote of one upstream scope for `lexkz corpus sync`; {scope} is replaced (tests use file://)"},
    )
    sync_scopes: list[str] = field(default_factory=lambda: ["codes"], metadata={"help": "scopes `lexkz corpus sync` fetches when --scope is not given"})

    def __post_init__(self):
        from lexkz.errors import LexkzError

        if self.dense_kind not in ("flat", "ivf", "auto"):
            raise LexkzError(f"dense_kind must be flat, ivf or auto, not {self.dense_kind!r}")
        if self.chunk_chars < 200:
            raise LexkzError(f"chunk_chars={self.chunk_chars} is too small: use 200 or more")
        if not 0 <= self.chunk_overlap < self.chunk_chars // 2:
            raise LexkzError(f"chunk_overlap={self.chunk_overlap} must be between 0 and chunk_chars/2")
        if self.dense_max_passages < 0:
            raise LexkzError(f"dense_max_passages={self.dense_max_passages} must be 0 (all) or more")
        if not 0 <= self.max_removed_share <= 1:
            raise LexkzError(f"max_removed_share={self.max_removed_share} must be between 0 and 1")
        if self.batch_size < 1 or self.keep_versions < 1:
            raise LexkzError("batch_size and keep_versions must be at least 1")
