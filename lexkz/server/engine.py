"""The loaded parts `lexkz serve` answers with, kept for the server's life.

    engine = Engine(ServeConfig(index=".lexkz/index"), GenerationConfig(), RetrievalConfig()).warm_up()
    final, version = engine.ask("Сколько дней отпуска?", k=5)   # final: as `lexkz ask --json`
    engine.search("отпуск", k=10); engine.article("K1500000414/88/rus"); engine.reload()

The index version in use is one `Live` object (index, retriever, version), swapped whole on a
reload; a request takes the Live it started with, so requests in flight finish on their version.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

from graph.ask import ask
from graph.config import GenerationConfig
from graph.generators import make_generator
from graph.nodes import initial_state
from graph.state import AskContext
from index.store import current_version, list_versions, open_index
from lexkz.errors import LexkzError
from graph.batching import Cancelled, GenerateQueue
from lexkz.server.config import ServeConfig
from retrieval.config import RetrievalConfig
from retrieval.hybrid import HybridRetriever

log = logging.getLogger("lexkz.serve")


@dataclasses.dataclass(frozen=True)
class Live:
    index: object
    retriever: HybridRetriever
    version: int


class Engine:
    def __init__(self, cfg: ServeConfig, gen_cfg: GenerationConfig | None = None,
                 retrieval_cfg: RetrievalConfig | None = None, generator=None):
        self.cfg = cfg
        self.gen_cfg = gen_cfg or GenerationConfig()
        self.retrieval_cfg = retrieval_cfg or RetrievalConfig()
        self.default_k = self.retrieval_cfg.k  # the one k default: [retrieval] k
        self.index_dir = Path(cfg.index)
        self.generator = generator or make_generator(self.gen_cfg)
        if hasattr(self.generator, "check"):
            self.generator.check()
        self._reload_lock = threading.Lock()
        self.live = self._open(None)
        self.queue = GenerateQueue(self.generator, cfg.max_batch, cfg.batch_window_ms / 1000)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # ------------------------------------------------------------- loading
    def _open(self, previous: Live | None) -> Live:
        index = open_index(self.index_dir)
        embedder = None
        if previous is not None and previous.index.manifest.get("embedding") == index.manifest.get("embedding"):
            embedder = previous.retriever.embedder  # the same model: keep it loaded
        retriever = HybridRetriever(index, self.retrieval_cfg, embedder=embedder).warm_up()
        return Live(index=index, retriever=retriever, version=index.version)

    def warm_up(self) -> "Engine":
        """Load the generator's model now and answer one question, so the first request is warm."""
        if hasattr(self.generator, "load"):
            self.generator.load()
        try:
            self.ask("прогрев", k=1)
        except LexkzError as exc:  # a warm-up question must never stop the server
            log.warning("warm-up question failed: %s", exc)
        return self

    def reload(self) -> dict:
        """Open the index's CURRENT version and swap it in (requests in flight keep theirs)."""
        with self._reload_lock:
            old = self.live
            if self._is_version_folder():
                return {"previous": old.version, "version": old.version, "changed": False}
            if current_version(self.index_dir) == old.version:
                return {"previous": old.version, "version": old.version, "changed": False}
            new = self._open(old)
            self.live = new
            log.info("index reloaded: version %s -> %s", old.version, new.version)
            return {"previous": old.version, "version": new.version, "changed": True}

    def _is_version_folder(self) -> bool:
        return (self.index_dir / "manifest.json").is_file()

    def start_watching(self) -> None:
        """Check INDEX/CURRENT every watch_current_s seconds and reload on a new version."""
        if self.cfg.watch_current_s <= 0 or self._is_version_folder() or self._watcher is not None:
            return

        def watch():
            while not self._stop.wait(self.cfg.watch_current_s):
                try:
                    if current_version(self.index_dir) != self.live.version:
                        self.reload()
                except Exception as exc:  # a half-written version must not kill the watcher
                    log.warning("index reload failed (still serving version %s): %s", self.live.version, exc)

        self._watcher = threading.Thread(target=watch, name="lexkz-index-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        self.queue.close()

    # ------------------------------------------------------------- answers
    def check_question(self, question: str, lang: str | None, mode: str, k: int, as_of: str | None = None) -> None:
        """LexkzError (exit 2) for a question the graph would refuse, before any work starts."""
        initial_state(question, lang, mode, k, {"as_of": as_of} if as_of else None, self.gen_cfg)

    def ask(self, question: str, *, lang: str | None = None, k: int | None = None, mode: str = "rag",
            act_codes: list[str] | None = None, on_update=None, on_text=None,
            cancelled: threading.Event | None = None, as_of: str | None = None) -> tuple[dict, int]:
        """Run the compiled ask graph for one question; the generate node goes through the
        shared queue. `on_update(node, update)` sees each node event, `on_text(piece)` the
        streamed text; a set `cancelled` stops the run at the next node (raises Cancelled).
        Returns (final state, index version answered from)."""
        live = self.live
        generator = self.queue.for_request(on_text, cancelled)
        ctx = AskContext(retriever=live.retriever if mode == "rag" else None, generator=generator,
                         store=live.index.articles, config=self.gen_cfg)

        def update(node: str, partial: dict) -> None:
            if cancelled is not None and cancelled.is_set():
                raise Cancelled()
            if on_update is not None:
                on_update(node, partial)

        try:
            final = ask(question, lang=lang, mode=mode, k=k or self.default_k,
                        filters={k: v for k, v in (("act_codes", act_codes), ("as_of", as_of)) if v} or None,
                        context=ctx, on_update=update)
        finally:
            generator.close()
        return final, live.version

    def search(self, query: str, *, k: int, lang: str | None = None, act_codes: list[str] | None = None,
               include_repealed: bool = False, as_of: str | None = None) -> dict:
        live = self.live
        hits = live.retriever.retrieve(query, k=k, lang=lang, act_codes=act_codes or None,
                                       include_repealed=include_repealed, as_of=as_of)
        out = {"query": query, "index_version": live.version, "hits": [h.to_dict() for h in hits]}
        if as_of:
            out["as_of"] = as_of
            if not hits:
                out["note"] = f"no article of the acts searched is in force on {as_of}: not in force on that date"
        return out

    def history(self, act_code: str, number: str, lang: str = "rus", as_of: str | None = None) -> dict:
        from index.history import article_history

        live = self.live
        return {"act_code": act_code, "number": number, "lang": lang, "index_version": live.version,
                "versions": article_history(live.index.articles, act_code, number, lang, as_of)}

    def diff(self, act_code: str, number: str, day_from: str, day_to: str, lang: str = "rus") -> dict:
        from index.history import article_diff

        live = self.live
        return {**article_diff(live.index.articles, act_code, number, lang, day_from, day_to),
                "index_version": live.version}

    def article(self, article_id: str) -> dict | None:
        live = self.live
        store = live.index.articles
        art = store.get(article_id)
        if art is None:
            return None
        out = dataclasses.asdict(art)
        other = [a for a in store.find(act_code=art.act_code, number=art.number)
                 if a.id != art.id and "@" not in a.id and a.lang != art.lang]
        out["links"] = {"adilet": art.url, "other_languages": {a.lang: a.id for a in other}}
        out["index_version"] = live.version
        return out

    def summary(self) -> dict:
        live = self.live
        m = live.index.manifest
        return {
            "index": str(self.index_dir), "version": live.version,
            "versions_on_disk": [] if self._is_version_folder() else list_versions(self.index_dir),
            "kind": m.get("kind"), "created_at": m.get("created_at"),
            "corpus_revision": (m.get("corpus") or {}).get("revision"),
            "embedding": (m.get("embedding") or {}).get("model"), "counts": m.get("counts"),
            "acts": live.index.articles.acts(),
            "generator": self.generator.info(),
            "limits": {"max_k": self.cfg.max_k, "default_k": self.default_k,
                       "max_question_chars": self.gen_cfg.max_question_chars},
        }
