"""Helpers for the `lexkz serve` tests: a real uvicorn server on 127.0.0.1 in a thread, an
instrumented extractive generator, and a Server-Sent Events parser."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager

from graph.generators.extractive import ExtractiveGenerator


class CountingExtractive(ExtractiveGenerator):
    """The real extractive generator, counting its generate() calls (batch sizes); `delay`
    seconds of extra work per call make a request's generation take a while."""

    def __init__(self, *args, delay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.delay = delay
        self.calls: list[int] = []

    def generate(self, batch, progress=False, **overrides):
        self.calls.append(len(batch))
        if self.delay:
            time.sleep(self.delay)
        return super().generate(batch, progress, **overrides)


@contextmanager
def live_server(app, timeout: float = 30.0):
    """Serve `app` with uvicorn on a free 127.0.0.1 port in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def parse_sse(text: str) -> list[tuple[str, dict]]:
    """[(event, data)] of a Server-Sent Events body."""
    events = []
    for block in text.strip().split("\n\n"):
        name, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        if data:
            events.append((name, json.loads(data)))
    return events
