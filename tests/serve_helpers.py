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


@contextmanager
def streaming_chat_server(words_per_answer: int = 6, delay: float = 0.01):
    """A real OpenAI-style /v1/chat/completions server on 127.0.0.1 (a thread): with
    "stream": true it answers with Server-Sent Events chunks, one word per chunk, then a usage
    chunk and [DONE]; without it, one JSON completion. The answer cites article 88 of the
    labour code so the citation checker has something to verify. Yields (base_url, requests)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    requests: list[dict] = []

    def answer(body: dict) -> list[str]:
        words = ["Согласно", "ст.", "88", "Трудового", "кодекса", "отпуск", "длится", "двадцать", "четыре", "дня."]
        return [w + " " for w in words[:words_per_answer]]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            pieces = answer(body)
            if not body.get("stream"):
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": "".join(pieces)},
                                                "finish_reason": "stop"}],
                                   "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces)}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for i, piece in enumerate(pieces):
                chunk = {"choices": [{"index": 0, "delta": {"content": piece},
                                      "finish_reason": "stop" if i == len(pieces) - 1 else None}]}
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()
                time.sleep(delay)
            usage = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces)}}
            self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
            self.close_connection = True

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
