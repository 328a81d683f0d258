"""RetrievalConfig: the one config dataclass of the retrieval stage.

Loaded from the [retrieval] section of a TOML file with
`lexkz.config.load_stage(RetrievalConfig, path, "retrieval", overrides)`; CLI flags override.
Per-call arguments of `HybridRetriever.retrieve` default to these values. The embedding
model is not set here: it is the one the index was built with (its manifest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lexkz.errors import LexkzError

MODES = ("hybrid", "lexical", "dense")


@dataclass
class RetrievalConfig:
    k: int = field(default=10, metadata={"help": "articles returned per query"})
    mode: str = field(default="hybrid", metadata={"help": "hybrid (BM25 + dense, fused), lexical (BM25 only) or dense (FAISS only)"})
    lexical_weight: float = field(default=1.0, metadata={"help": "weight of the BM25 ranking in reciprocal-rank fusion for Russian (and other non-Kazakh) questions; 1:1 with rrf_k 20 was best at R@1 and R@10 on the Russian dev questions with the default e5-small index (bench/bench_retrieval_quality.py)"})
    dense_weight: float = field(default=1.0, metadata={"help": "weight of the dense ranking in reciprocal-rank fusion for Russian questions"})
    kaz_lexical_weight: float = field(default=1.0, metadata={"help": "weight of the BM25 ranking for Kazakh questions (BM25 cannot match Kazakh words in acts that have only Russian text)"})
    kaz_dense_weight: float = field(default=2.0, metadata={"help": "weight of the dense (cross-lingual) ranking for Kazakh questions: 1:2 kept R@10 of Kazakh titles searched over Russian text at the dense side's level (0.75 vs BM25's 0.02) while BM25 still counts for acts with Kazakh text"})
    rrf_k: int = field(default=20, metadata={"help": "reciprocal-rank fusion constant: score = sum w / (rrf_k + rank); 20 beat the customary 60 at R@10 on the dev sets with equal R@1 (bench/bench_retrieval_quality.py)"})
    candidates: int = field(default=100, metadata={"help": "passages fetched from each of BM25 and FAISS before fusion"})
    include_repealed: bool = field(default=False, metadata={"help": "also return articles of repealed acts"})
    reranker: str = field(default="", metadata={"help": "cross-encoder model id or local path to rerank the top candidates ('' = none)"})
    rerank_top: int = field(default=20, metadata={"help": "fused candidates the reranker rescores"})
    snippet_chars: int = field(default=300, metadata={"help": "length of the snippet cut around the best matching passage"})
    query_max_tokens: int = field(default=64, metadata={"help": "truncate questions to this many tokens for the dense side only (BM25 always sees the whole question); bounds query-embedding time on 2 cores (bench/bench_latency.py); 0 = the model's own limit; use 512 with bge-m3"})
    require_word_match: bool = field(default=True, metadata={"help": "hybrid: when no word of the question occurs anywhere in the indexed text (SQL, code, gibberish), return nothing rather than the dense side's nearest neighbours: cosine similarity alone cannot tell noise from a question (e5-small scores SQL-like text 0.79-0.86 against real questions' 0.82-0.90 on the shared corpus)"})
    parallel: bool = field(default=True, metadata={"help": "hybrid: run the dense side (query embedding + FAISS) in a thread beside the BM25 side; both release the GIL, so on 2+ cores a query costs the slower side, not the sum"})
    nprobe: int = field(default=0, metadata={"help": "IVF lists probed per dense query (0 = the index's default)"})
    device: str = field(default="", metadata={"help": "torch device for the query embedder and reranker ('' = cpu)"})

    def __post_init__(self):
        if self.mode not in MODES:
            raise LexkzError(f"retrieval mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.k < 1 or self.candidates < 1 or self.rerank_top < 1:
            raise LexkzError("k, candidates and rerank_top must be at least 1")
        for lw, dw, name in ((self.lexical_weight, self.dense_weight, ""), (self.kaz_lexical_weight, self.kaz_dense_weight, "kaz_")):
            if lw < 0 or dw < 0 or lw + dw == 0:
                raise LexkzError(f"{name}lexical_weight and {name}dense_weight must be >= 0 and not both 0")
        if self.rrf_k < 0:
            raise LexkzError(f"rrf_k must be >= 0, not {self.rrf_k}")

    def weights(self, question_lang: str) -> tuple[float, float]:
        """(lexical, dense) fusion weights for a question in `question_lang` ("rus"/"kaz")."""
        if question_lang == "kaz":
            return self.kaz_lexical_weight, self.kaz_dense_weight
        return self.lexical_weight, self.dense_weight
