"""One generator shared by many concurrent runs of the ask graph, called once per gathered batch.

    batcher = BatchingGenerator(generator, max_batch=8)
    with batcher.run():                       # one question's run of the graph (any thread)
        final = graph.invoke(state, context=AskContext(generator=batcher, ...))

Each graph run holds `run()` while it is in flight. The `generate` node of a run asks the
batcher for one answer and waits; the batch is sent to the real generator as ONE call when
every run still in flight is waiting (or `max_batch` requests are gathered, or, when
`max_wait_s` is set, the oldest has waited that long: a server's bound on waiting for slow runs). A run that never reaches `generate` (no hits) simply ends and no longer
holds the batch back. So `graph.ask.answer_batch` over N questions makes one generate call
per `max_batch` questions, and a server batches the questions that arrive together, with no
second wiring of the graph and no timer in the common case.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager


class _Request:
    __slots__ = ("messages", "overrides", "result", "error", "done", "since")

    def __init__(self, messages, overrides):
        self.messages, self.overrides = messages, overrides
        self.result = self.error = None
        self.done = False
        self.since = time.monotonic()


class BatchingGenerator:
    """Wraps a generator (`generate(batch) -> results`, `info()`); thread-safe."""

    def __init__(self, generator, max_batch: int = 8, max_wait_s: float | None = None):
        self.inner = generator
        self.max_batch = max(1, int(max_batch))
        self.max_wait_s = max_wait_s
        self.calls = 0  # generate calls made on the inner generator
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._active = 0
        self._busy = False

    def __getattr__(self, name):  # info(), name, cfg, load(), ... of the wrapped generator
        return getattr(self.inner, name)

    def add_runs(self, n: int = 1) -> None:
        """Count `n` graph runs as in flight now (before their threads start: no early flush)."""
        with self._cond:
            self._active += n

    def end_run(self) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    @contextmanager
    def run(self):
        """Hold while one graph run is in flight (it may call generate)."""
        self.add_runs(1)
        try:
            yield self
        finally:
            self.end_run()

    def _ready(self) -> bool:
        if not self._pending or self._busy:
            return False
        return (len(self._pending) >= min(self.max_batch, max(self._active, 1))
                or (self.max_wait_s is not None and time.monotonic() - self._pending[0].since >= self.max_wait_s))

    def generate(self, batch: list[list[dict]], **overrides):
        """Answers for `batch` (a list of message lists), gathered with other runs' requests."""
        mine = [_Request(m, overrides) for m in batch]
        with self._cond:
            self._pending.extend(mine)
            self._cond.notify_all()
            while not all(r.done for r in mine):
                if self._ready():
                    self._flush_locked()
                    continue
                self._cond.wait(timeout=None if self.max_wait_s is None else self.max_wait_s / 4)
        errors = [r.error for r in mine if r.error is not None]
        if errors:
            raise errors[0]
        return [r.result for r in mine]

    def _flush_locked(self) -> None:
        """Send up to max_batch pending requests with the same overrides as one call (lock held,
        released while the generator runs so that other runs can queue up)."""
        first = self._pending[0].overrides
        take = [r for r in self._pending if r.overrides == first][: self.max_batch]
        self._pending = [r for r in self._pending if r not in take]
        self._busy = True
        self._cond.release()
        try:
            results = self.inner.generate([r.messages for r in take], **first)
            error = None
        except BaseException as exc:  # handed to every waiting run
            results, error = [None] * len(take), exc
        finally:
            self._cond.acquire()
            self._busy = False
        self.calls += 1
        for r, res in zip(take, results):
            r.result, r.error, r.done = res, error, True
        self._cond.notify_all()
