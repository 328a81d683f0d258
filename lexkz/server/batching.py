"""One generator shared by concurrent requests: a queue that batches the questions arriving
together into ONE `generate` call.

    q = GenerateQueue(generator, max_batch=8, window_s=0.01)
    gen = q.for_request(on_text=print, cancelled=threading.Event())   # a Generator for one request
    gen.generate([messages])  # waits for its place in a batch; the graph's generate node calls this

A worker thread takes the first waiting question, waits up to `window_s` for more (at most
`max_batch`), drops those whose request was cancelled, and calls the real generator once for
the rest. Generators whose `generate` takes `on_text` (hf) stream text pieces back to each
request as they are produced.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from lexkz.errors import LexkzError


class Cancelled(LexkzError):
    """The request's client went away; its work was dropped."""

    def __init__(self, message: str = "the client disconnected: the question was cancelled"):
        super().__init__(message, 4)


@dataclass
class _Job:
    messages: list
    on_text: Callable[[str], None] | None
    cancelled: threading.Event | None
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None

    def is_cancelled(self) -> bool:
        return self.cancelled is not None and self.cancelled.is_set()


def streams_text(generator) -> bool:
    """True when the generator's generate() takes `on_text(i, piece)` (a token streamer)."""
    try:
        return "on_text" in inspect.signature(generator.generate).parameters
    except (TypeError, ValueError):
        return False


class GenerateQueue:
    def __init__(self, generator, max_batch: int = 8, window_s: float = 0.01):
        if max_batch < 1:
            raise LexkzError(f"max_batch must be at least 1, got {max_batch}")
        self.generator = generator
        self.max_batch = max_batch
        self.window_s = max(0.0, window_s)
        self.streams = streams_text(generator)
        self.batch_sizes: list[int] = []  # one entry per generate call (kept short)
        self.dropped = 0  # questions cancelled before they were generated
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="lexkz-generate", daemon=True)
        self._thread.start()

    def for_request(self, on_text: Callable[[str], None] | None = None,
                    cancelled: threading.Event | None = None) -> "QueuedGenerator":
        return QueuedGenerator(self, on_text, cancelled)

    def submit(self, messages: list, on_text=None, cancelled=None):
        """Queue one prompt and wait for its GenerationResult (raises Cancelled when dropped)."""
        job = _Job(messages, on_text, cancelled)
        if job.is_cancelled():
            raise Cancelled()
        self._q.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ worker
    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        batch, stop = [first], False
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            wait = deadline - time.monotonic()
            try:
                job = self._q.get(timeout=wait) if wait > 0 else self._q.get_nowait()
            except queue.Empty:
                break
            if job is None:
                stop = True
                break
            batch.append(job)
        return batch, stop

    def _run(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            live = []
            for job in batch:
                if job.is_cancelled():
                    self.dropped += 1
                    job.error = Cancelled()
                    job.done.set()
                else:
                    live.append(job)
            if live:
                self._generate(live)
            if stop:
                return

    def _generate(self, jobs: list[_Job]) -> None:
        kwargs = {}
        if self.streams and any(j.on_text for j in jobs):
            def on_text(i: int, piece: str) -> None:
                if jobs[i].on_text and not jobs[i].is_cancelled():
                    jobs[i].on_text(piece)
            kwargs["on_text"] = on_text
        try:
            results = self.generator.generate([j.messages for j in jobs], **kwargs)
            for job, result in zip(jobs, results):
                job.result = result
        except BaseException as exc:  # every waiting request gets the error, the worker lives on
            for job in jobs:
                job.error = exc
        finally:
            self.batch_sizes = (self.batch_sizes + [len(jobs)])[-1000:]
            for job in jobs:
                job.done.set()


class QueuedGenerator:
    """The generator one request's graph run sees: generate() goes through the shared queue."""

    def __init__(self, q: GenerateQueue, on_text=None, cancelled=None):
        self.queue, self.on_text, self.cancelled = q, on_text, cancelled
        self.name = getattr(q.generator, "name", "generator")

    def generate(self, batch: list, progress: bool = False, **overrides) -> list:
        return [self.queue.submit(m, self.on_text, self.cancelled) for m in batch]

    def info(self) -> dict:
        return self.queue.generator.info()
