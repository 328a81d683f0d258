"""OpenAIGenerator against a real HTTP server on 127.0.0.1 (a thread of this test) with
scripted replies: a timeout and a 500 are retried, exhausted retries and a 4xx give a clear
error, usage counts and the request body are what an OpenAI-compatible server expects, and a
redirect to a second real server on another port is an error: the key never arrives there."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graph.ask import answer_batch
from graph.config import GenerationConfig
from graph.generators import OpenAIGenerator, make_generator
from lexkz.errors import LexkzError


class ScriptedServer:
    """Replies to POST /v1/chat/completions with the scripted actions in order:
    ("slow", seconds) sleeps before answering, ("status", code) answers with that code,
    ("ok", text) answers a completion. Every request body and header set is recorded."""

    def __init__(self, actions):
        self.actions = list(actions)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                    action = server.actions.pop(0) if server.actions else ("ok", "default")
                kind, arg = action
                if kind == "slow":
                    time.sleep(arg)
                    kind, arg = "ok", "too late"
                if kind == "status":
                    self.send_response(arg)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": "scripted"}')
                    return
                text = arg if arg != "echo" else body["messages"][-1]["content"]
                reply = {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 11, "completion_tokens": 3}}
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def cfg(url, **kw):
    base = dict(backend="openai", base_url=url, model="lexkz-qwen3", timeout=0.5, retries=2, retry_backoff=0.01,
                api_key_env="LEXKZ_TEST_KEY", max_new_tokens=64)
    return GenerationConfig(**{**base, **kw})


MSGS = [{"role": "system", "content": "s"}, {"role": "user", "content": "Сколько дней отпуска?"}]


def test_timeout_and_500_are_retried_then_success(monkeypatch):
    monkeypatch.setenv("LEXKZ_TEST_KEY", "sekret")
    with ScriptedServer([("slow", 1.5), ("status", 500), ("ok", "<think>\n\n</think>\n\nОтвет: ст. 88 ТК.")]) as srv:
        gen = make_generator(cfg(srv.url))
        assert isinstance(gen, OpenAIGenerator)
        (res,) = gen.generate([MSGS])
    assert res.text == "Ответ: ст. 88 ТК."  # the think block is dropped
    assert (res.prompt_tokens, res.completion_tokens, res.finish_reason) == (11, 3, "stop")
    assert res.extra["attempts"] == 3
    assert "no reply within 0.5 s" in res.extra["retried_errors"][0] and "HTTP 500" in res.extra["retried_errors"][1]
    assert len(srv.requests) == 3
    req = srv.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sekret"
    body = req["body"]
    assert body["model"] == "lexkz-qwen3" and body["messages"] == MSGS and body["max_tokens"] == 64
    assert body["temperature"] == 0.1 and body["top_p"] == 0.9 and body["seed"] == 0
    assert body["chat_template_kwargs"] == {"enable_thinking": False}


def test_exhausted_retries_give_a_clear_error(monkeypatch):
    monkeypatch.delenv("LEXKZ_TEST_KEY", raising=False)
    with ScriptedServer([("status", 500), ("status", 503), ("status", 502)]) as srv:
        with pytest.raises(LexkzError) as err:
            make_generator(cfg(srv.url)).generate([MSGS])
    msg = str(err.value)
    assert "failed after 3 attempts" in msg and "HTTP 500" in msg and "HTTP 502" in msg and "--base-url" in msg
    assert err.value.exit_code == 3
    assert len(srv.requests) == 3 and srv.requests[0]["auth"] is None  # no key variable: no header


def test_client_error_is_not_retried():
    with ScriptedServer([("status", 400), ("ok", "never")]) as srv:
        with pytest.raises(LexkzError, match="HTTP 400"):
            make_generator(cfg(srv.url)).generate([MSGS])
    assert len(srv.requests) == 1


def test_no_server_is_a_clear_error():
    with ScriptedServer([]) as srv:
        url = srv.url
    with pytest.raises(LexkzError, match="connection failed"):
        make_generator(cfg(url, retries=1)).generate([MSGS])


def test_batch_keeps_order_and_greedy_settings():
    with ScriptedServer([]) as srv:
        gen = make_generator(cfg(srv.url, batch_size=3, do_sample=False))
        batch = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
        srv.actions = [("ok", "echo")] * 5
        results = gen.generate(batch)
    assert [r.text for r in results] == [f"q{i}" for i in range(5)]
    assert all(r["body"]["temperature"] == 0.0 for r in srv.requests)


def test_openai_generator_in_the_closed_book_graph():
    with ScriptedServer([("ok", "Отпуск — 24 дня, ст. 88 Трудового кодекса.")]) as srv:
        (state,) = answer_batch(["Сколько дней отпуска?"], "rus", mode="closed_book",
                                generator=make_generator(cfg(srv.url)))
    assert state["answer"].startswith("Отпуск") and state["generator"]["backend"] == "openai"
    assert state["prompt_id"] == "closed_book_rus_v1"
    assert srv.requests[0]["body"]["messages"][0]["content"].startswith("Вы — юридический помощник")
    (c,) = state["citations"]
    assert c["status"] == "unresolved"  # no index given: nothing to check against


def test_model_name_is_required():
    with pytest.raises(LexkzError, match="--model"):
        OpenAIGenerator(GenerationConfig(backend="openai"))


class _Recorder:
    """A second real server on another port: records the headers of every request (any
    method) and answers a completion, so a followed redirect would succeed and be seen."""

    def __init__(self, redirect_to=None, status=302):
        self.seen: list[dict] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                rec.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                if redirect_to is not None:
                    self.send_response(status)
                    self.send_header("Location", redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps({"choices": [{"message": {"content": "leaked"}, "finish_reason": "stop"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_never_gets_the_key(monkeypatch, status):
    monkeypatch.setenv("LEXKZ_TEST_KEY", "sekret-key")
    other = _Recorder()
    front = _Recorder(redirect_to=other.origin, status=status)
    try:
        with pytest.raises(LexkzError) as err:
            make_generator(cfg(front.origin + "/v1")).generate([MSGS])
    finally:
        front.close()
        other.close()
    assert front.seen and front.seen[0]["headers"].get("Authorization") == "Bearer sekret-key"
    assert len(front.seen) == 1  # a redirect is not retried
    assert all("sekret-key" not in json.dumps(r["headers"]) for r in other.seen) and other.seen == []
    msg = str(err.value)
    assert f"redirect to {other.origin}/v1/chat/completions" in msg and "--base-url" in msg
    assert err.value.exit_code == 3
