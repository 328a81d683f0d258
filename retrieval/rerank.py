"""Optional cross-encoder reranker (sentence-transformers CrossEncoder), loaded on first use.

    rr = CrossEncoderReranker("BAAI/bge-reranker-v2-m3")        # hub id (needs the local HF cache)
    rr = CrossEncoderReranker("/models/my-reranker")            # or a local directory
    rr.score("вопрос", ["текст статьи 1", "текст статьи 2"])  # -> [4.1, -2.3] (higher = better)
"""

from __future__ import annotations

from pathlib import Path

from lexkz.errors import LexkzError


class CrossEncoderReranker:
    """Scores (query, passage) pairs with a cross-encoder; texts are cut to `max_chars`."""

    def __init__(self, model: str, device: str | None = None, batch_size: int = 16, max_chars: int = 2000):
        self.model_id = str(model)
        self.device = device or "cpu"
        self.batch_size = batch_size
        self.max_chars = max_chars
        self._model = None
        path = Path(self.model_id).expanduser()
        if self.model_id.startswith(("/", "./", "../", "~")) and not path.is_dir():
            raise LexkzError(f"reranker directory {self.model_id} does not exist: pass an existing local "
                             "cross-encoder directory, or drop --reranker", exit_code=3)

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import CrossEncoder

            from lexkz.hub import first_line, hub_model_source

            alternative = "or drop the reranker (reranker = '')"
            local_only = hub_model_source(self.model_id, "reranker", alternative)  # fails at once if not local
            try:
                self._model = CrossEncoder(self.model_id, device=self.device, local_files_only=local_only)
            except Exception as exc:
                raise LexkzError(
                    f"cannot load reranker {self.model_id!r} ({type(exc).__name__}: {first_line(exc)}); "
                    f"pass a complete local cross-encoder directory, {alternative}",
                    exit_code=3,
                ) from exc
        return self._model

    def score(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        pairs = [(query, t[: self.max_chars]) for t in texts]
        scores = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True)
        return [float(s) for s in scores.reshape(len(texts), -1)[:, -1]]
