"""One generator shared by concurrent graph runs (eval's answer_batch, the server's requests): a
queue that batches the questions arriving together into ONE `generate` call.

    q = GenerateQueue(generator, max_batch=8, window_s=0.01)
    gen = q.for_request(on_text=print, cancelled=threading.Event())   # a Generator for one request
    gen.generate([messages])  # waits for its place in a batch; the graph's generate node calls this

A worker thread takes the first waiting question and everything queued behind it (questions
that arrived while the generator was busy), then, while other requests are still on their way
to generation (retrieving), waits up to `window_s` for them (at most `max_batch` in all); a lone
question never waits. It drops the questions whose request was cancelled and calls the real
generator once for the rest. Generators whose `generate` takes `on_text` (hf) stream text pieces back to each
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
        self._coming = 0  # requests that may still submit a question (see for_request)
        self._lock = threading.Lock()
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="lexkz-generate", daemon=True)
        self._thread.start()

    def for_request(self, on_text: Callable[[str], None] | None = None,
                    cancelled: threading.Event | None = None) -> "QueuedGenerator":
        """The generator for one request; it counts as on its way until it submits or is closed."""
        self._count(+1)
        return QueuedGenerator(self, on_text, cancelled)

    def _count(self, delta: int) -> None:
        with self._lock:
            self._coming += delta

    def submit(self, messages: list, on_text=None, cancelled=None):
        """Queue one prompt and wait for its GenerationResult (raises Cancelled when dropped)."""
        job = _Job(messages, on_text, cancelled)
        if job.is_cancelled():
            self._drop(job)
            raise job.error
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
        batch = [first]
        deadline = time.monotonic() + self.window_s
        while len(batch) < self.max_batch:
            try:
                job = self._q.get_nowait()  # already waiting: always taken
            except queue.Empty:
                wait = deadline - time.monotonic()
                if wait <= 0 or self._coming <= 0:
                    break
                try:
                    job = self._q.get(timeout=min(wait, 0.005))
                except queue.Empty:
                    continue
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _run(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            live = []
            for job in batch:
                if job.is_cancelled():
                    self._drop(job)
                else:
                    live.append(job)
            if live:
                self._generate(live)
            if stop:
                return

    def _drop(self, job: _Job) -> None:
        with self._lock:
            self.dropped += 1
        job.error = Cancelled()
        job.done.set()

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
        self._coming = True

    def close(self) -> None:
        """The request will submit nothing (more): the queue stops waiting for it."""
        if self._coming:
            self._coming = False
            self.queue._count(-1)

    def generate(self, batch: list, progress: bool = False, **overrides) -> list:
        self.close()
        return [self.queue.submit(m, self.on_text, self.cancelled) for m in batch]

    def info(self) -> dict:
        return self.queue.generator.info()
