"""`lexkz serve` API over a real fixture index (SQLite + BM25 + FAISS) with the real extractive
and tiny hf generators: every endpoint, validation (422), errors, bearer auth, CORS, the
request log, the SSE stream, batching of concurrent questions into one generate call,
cancellation on client disconnect, and index reload while requests are in flight."""

from __future__ import annotations

import copy
import json
import logging
import shutil
import threading
import time
from pathlib import Path

import httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient

from graph.config import GenerationConfig
from graph.generators import HfGenerator, OpenAIGenerator
from lexkz.cli import main
from lexkz.errors import LexkzError
from lexkz.server.app import check_bind, create_app
from lexkz.server.config import ServeConfig
from lexkz.server.engine import Engine
from tests.fixture_corpus import LABOUR, write_fixture_corpus
from tests.serve_helpers import CountingExtractive, live_server, parse_sse, streaming_chat_server

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "graph" / "ask_schema.json").read_text())
Q_RU = "Сколько дней длится ежегодный оплачиваемый трудовой отпуск?"
Q_KZ = "Жыл сайынғы ақы төленетін еңбек демалысы қанша күн?"
NODES = ["retrieve", "generate", "verify_citations", "respond"]


def without_timings(state: dict) -> dict:
    state = copy.deepcopy(state)
    state.pop("timings", None)
    state.get("generation", {}).pop("seconds", None)
    return state


@pytest.fixture(scope="module")
def gen():
    return CountingExtractive()


@pytest.fixture(scope="module")
def client(graph_index, gen):
    engine = Engine(ServeConfig(index=str(graph_index)), generator=gen).warm_up()
    with TestClient(create_app(engine=engine, token="")) as c:
        yield c
    engine.close()


# ------------------------------------------------------------------ endpoints


def test_ask_gives_the_final_state_of_lexkz_ask(client, graph_index, capsys):
    r = client.post("/api/ask", json={"question": Q_RU, "k": 3})
    assert r.status_code == 200, r.text
    state = r.json()
    jsonschema.validate(state, SCHEMA)
    assert r.headers["x-lexkz-index-version"] == "1"
    assert state["sources"][0]["article_id"] == f"{LABOUR}/88/rus"
    assert "двадцать четыре календарных дня" in state["answer"]
    assert set(state["timings"]) >= {"retrieve", "generate", "verify_citations", "total"}
    # the same graph as the CLI: `lexkz ask --json` gives the same state
    assert main(["ask", Q_RU, "--index", str(graph_index), "--json", "--k", "3"]) == 0
    cli_state = json.loads(capsys.readouterr().out)
    assert without_timings(state) == without_timings(cli_state)


def test_ask_in_kazakh(client):
    state = client.post("/api/ask", json={"question": Q_KZ, "k": 2}).json()
    assert state["lang"] == "kaz" and state["prompt_id"].endswith("kaz_v1")
    assert any(s["article_id"] == f"{LABOUR}/88/kaz" for s in state["sources"])


def test_stream_sends_node_events_then_the_final_state(client):
    r = client.get("/api/ask/stream", params={"question": Q_RU, "k": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert [e for e, _ in events] == ["node"] * 4 + ["final"]  # extractive does not stream tokens
    assert [d["node"] for e, d in events if e == "node"] == NODES
    retrieved = events[0][1]["update"]["retrieved"]
    assert retrieved[0]["article_id"] == f"{LABOUR}/88/rus" and "text" not in retrieved[0]
    final = events[-1][1]
    jsonschema.validate(final, SCHEMA)
    posted = client.post("/api/ask", json={"question": Q_RU, "k": 2}).json()
    assert without_timings(final) == without_timings(posted)


def test_search_articles_index_health_page_and_schema(client):
    r = client.get("/api/search", params={"q": "ежегодный отпуск", "k": 2})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert len(hits) == 2 and hits[0]["article_id"] == f"{LABOUR}/88/rus" and hits[0]["snippet"]
    acts = client.get("/api/search", params={"q": "отпуск", "act": "TEST000002"}).json()["hits"]
    assert acts == [] or {h["act_code"] for h in acts} == {"TEST000002"}

    art = client.get(f"/api/articles/{LABOUR}/88/rus").json()
    assert art["text"].startswith("Работникам предоставляется") and art["status"] == "in_force"
    assert art["act_title"] == "Трудовой кодекс Тестовой Республики" and art["url"].startswith("https://adilet.zan.kz/")
    assert art["links"]["other_languages"] == {"kaz": f"{LABOUR}/88/kaz"}
    missing = client.get("/api/articles/NOPE/1/rus")
    assert missing.status_code == 404 and "NOPE/1/rus" in missing.json()["error"]
    assert client.get("/api/nothing-here").json() == {"error": "Not Found"}
    assert client.get("/api/ask").status_code == 405

    info = client.get("/api/index").json()
    assert info["version"] == 1 and info["counts"]["articles"] > 0 and info["embedding"].startswith("hashing")
    assert info["generator"]["backend"] == "extractive" and info["generator"]["tiny_random"] is False
    assert client.get("/healthz").json() == {"status": "ok", "index_version": 1}
    page = client.get("/")
    assert page.status_code == 200 and 'id="question"' in page.text
    assert client.get("/static/app.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/search", "/api/articles/{article_id}", "/api/index",
            "/api/admin/reload", "/healthz"} <= set(paths)


# ------------------------------------------------------------------ validation and errors


@pytest.mark.parametrize("body, field", [
    ({"question": ""}, "question"),
    ({"question": "   "}, "question"),
    ({"question": "я" * 2001}, "question"),
    ({"question": Q_RU, "k": 0}, "k"),
    ({"question": Q_RU, "k": 21}, "k"),
    ({"question": Q_RU, "k": "many"}, "k"),
    ({"question": Q_RU, "lang": "eng"}, "lang"),
    ({"question": Q_RU, "mode": "magic"}, "mode"),
    ({"question": Q_RU, "temperature": 2}, "temperature"),
    ({}, "question"),
])
def test_bad_ask_requests_get_422_with_a_message(client, gen, body, field):
    calls = len(gen.calls)
    r = client.post("/api/ask", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(f"{field}: ")
    assert len(gen.calls) == calls  # nothing was generated


def test_bad_query_parameters_get_422(client):
    empty = client.get("/api/ask/stream", params={"question": ""})
    assert empty.status_code == 422 and "the question is empty" in empty.json()["error"]
    unknown = client.get("/api/ask/stream", params={"question": Q_RU, "stream": "yes"})
    assert unknown.status_code == 422 and unknown.json()["error"] == "stream: unknown field (not accepted here)"
    assert client.get("/api/search", params={"q": "отпуск", "k": 500}).status_code == 422
    assert client.get("/api/search", params={"q": ""}).status_code == 422
    assert client.get("/api/search", params={"query": "отпуск"}).status_code == 422
    assert client.post("/api/ask", content=b"not json", headers={"content-type": "application/json"}).status_code == 422


def test_bearer_token_guards_the_api(graph_index):
    engine = Engine(ServeConfig(index=str(graph_index)), generator=CountingExtractive())
    try:
        with TestClient(create_app(engine=engine, token="s3cret")) as c:
            assert c.get("/api/index").status_code == 401
            wrong = c.get("/api/index", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and "bearer token" in wrong.json()["error"]
            assert wrong.headers["www-authenticate"] == "Bearer"
            assert c.post("/api/ask", json={"question": Q_RU}).status_code == 401
            ok = {"Authorization": "Bearer s3cret"}
            assert c.get("/api/index", headers=ok).status_code == 200
            assert c.post("/api/ask", json={"question": Q_RU}, headers=ok).status_code == 200
            assert c.post("/api/admin/reload").status_code == 401
            assert c.post("/api/admin/reload", headers=ok).json() == {"previous": 1, "version": 1, "changed": False}
            assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200  # not under /api
    finally:
        engine.close()


def test_reload_without_a_token_is_refused(client):
    r = client.post("/api/admin/reload")
    assert r.status_code == 403 and "LEXKZ_API_TOKEN" in r.json()["error"]


def test_binding_beyond_loopback_needs_a_token(graph_index, monkeypatch, capsys):
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(LexkzError) as err:
        check_bind("0.0.0.0", None)
    assert err.value.exit_code == 4 and "LEXKZ_API_TOKEN" in str(err.value)
    monkeypatch.delenv("LEXKZ_API_TOKEN", raising=False)
    assert main(["serve", "--index", str(graph_index), "--host", "0.0.0.0"]) == 4
    assert "LEXKZ_API_TOKEN" in capsys.readouterr().err


def test_missing_index_is_a_clear_error(tmp_path, capsys):
    assert main(["serve", "--index", str(tmp_path / "none")]) == 3
    assert "no index at" in capsys.readouterr().err


def test_no_cors_unless_configured(client, graph_index):
    origin = {"Origin": "https://example.org"}
    r = client.get("/api/index", headers=origin)
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/api/ask", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    engine = Engine(ServeConfig(index=str(graph_index), cors_origins=["https://example.org"]), generator=CountingExtractive())
    try:
        with TestClient(create_app(engine=engine, token="")) as c:
            assert c.get("/api/index", headers=origin).headers["access-control-allow-origin"] == "https://example.org"
            other = c.get("/api/index", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
    finally:
        engine.close()


def test_one_log_line_per_request_with_timings(client, caplog):
    with caplog.at_level(logging.INFO, logger="lexkz.serve"):
        client.post("/api/ask", json={"question": Q_RU, "k": 2})
        client.get("/api/search", params={"q": "отпуск"})
        client.post("/api/ask", json={"question": ""})
    lines = [r.getMessage() for r in caplog.records if r.name == "lexkz.serve"]
    assert len(lines) == 3, lines
    ask, search, bad = lines
    assert '"POST /api/ask" 200' in ask and " ms " in ask
    assert all(f"{n}=" in ask for n in ("retrieve", "generate", "verify_citations", "total")) and "index=v1" in ask
    assert '"GET /api/search?q=' in search and " 200 " in search and "hits=" in search
    assert '"POST /api/ask" 422' in bad


# ------------------------------------------------------------------ the tiny hf generator


@pytest.fixture(scope="module")
def hf_client(graph_index, varied_tiny_dir):
    cfg = GenerationConfig(backend="hf", model=str(varied_tiny_dir), do_sample=False, max_new_tokens=12)
    engine = Engine(ServeConfig(index=str(graph_index)), cfg).warm_up()
    with TestClient(create_app(engine=engine, token="")) as c:
        yield c
    engine.close()


def test_hf_stream_sends_tokens_between_generation_start_and_the_final_state(hf_client, graph_index, varied_tiny_dir, capsys):
    r = hf_client.get("/api/ask/stream", params={"question": Q_RU, "k": 2})
    events = parse_sse(r.text)
    kinds = [e for e, _ in events]
    assert kinds[0] == "node" and events[0][1]["node"] == "retrieve"
    tokens = [d["text"] for e, d in events if e == "token"]
    assert len(tokens) >= 2, kinds
    first_token = kinds.index("token")
    assert first_token == 1 and kinds[first_token:first_token + len(tokens)] == ["token"] * len(tokens)
    assert [d["node"] for e, d in events if e == "node"] == NODES and kinds[-1] == "final"
    final = events[-1][1]
    jsonschema.validate(final, SCHEMA)
    assert final["answer"] and final["answer"] == "".join(tokens).strip()
    assert final["generator"]["tiny_random"] is True
    assert any("проверка работы конвейера" in w for w in final["warnings"])
    assert hf_client.get("/api/index").json()["generator"]["tiny_random"] is True
    # the same answer as `lexkz ask --json` with the same model and settings
    posted = hf_client.post("/api/ask", json={"question": Q_RU, "k": 2}).json()
    assert posted["answer"] == final["answer"]
    assert main(["ask", Q_RU, "--index", str(graph_index), "--json", "--k", "2", "--generator", "hf",
                 "--model", str(varied_tiny_dir), "--max-new-tokens", "12", "--temperature", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["answer"] == final["answer"]


def test_hf_streams_each_prompt_of_a_batch_separately(varied_tiny_dir):
    gen = HfGenerator(GenerationConfig(model=str(varied_tiny_dir), do_sample=False, max_new_tokens=10, batch_size=2))
    prompts = [[{"role": "user", "content": q}] for q in (Q_RU, Q_KZ, "Трудовой договор")]
    pieces: dict[int, list[str]] = {0: [], 1: [], 2: []}
    streamed = gen.generate(prompts, on_text=lambda i, piece: pieces[i].append(piece))
    plain = gen.generate(prompts)
    assert [r.text for r in streamed] == [r.text for r in plain]  # streaming changes nothing
    assert all(len(pieces[i]) >= 2 for i in pieces)
    assert ["".join(pieces[i]).strip() for i in range(3)] == [r.text for r in plain]


def test_openai_backend_streams_with_stream_true(graph_index):
    with streaming_chat_server() as (url, requests):
        cfg = GenerationConfig(backend="openai", base_url=url, model="lexkz", timeout=5, retries=0)
        gen = OpenAIGenerator(cfg)
        pieces: dict[int, list[str]] = {0: [], 1: []}
        prompts = [[{"role": "user", "content": Q_RU}], [{"role": "user", "content": Q_KZ}]]
        results = gen.generate(prompts, on_text=lambda i, piece: pieces[i].append(piece))
        assert [len(pieces[i]) for i in (0, 1)] == [6, 6]
        assert ["".join(pieces[i]).strip() for i in (0, 1)] == [r.text for r in results]
        assert results[0].completion_tokens == 6 and results[0].finish_reason == "stop"
        assert all(r["stream"] is True for r in requests)
        assert gen.generate(prompts[:1])[0].text == results[0].text and "stream" not in requests[-1]

        engine = Engine(ServeConfig(index=str(graph_index)), cfg)
        try:
            with TestClient(create_app(engine=engine, token="")) as c:
                events = parse_sse(c.get("/api/ask/stream", params={"question": Q_RU, "k": 2}).text)
            kinds = [e for e, _ in events]
            assert kinds == ["node"] + ["token"] * 6 + ["node"] * 3 + ["final"]
            final = events[-1][1]
            assert final["answer"] == "".join(d["text"] for e, d in events if e == "token").strip()
            assert final["citations"][0]["article_id"] == f"{LABOUR}/88/rus"
        finally:
            engine.close()


# ------------------------------------------------------------------ under load, live server


def test_concurrent_questions_share_one_generate_call(graph_index):
    gen = CountingExtractive()
    engine = Engine(ServeConfig(index=str(graph_index), max_batch=4, batch_window_ms=5000), generator=gen)
    questions = [Q_RU, Q_KZ, "Как расторгнуть трудовой договор по инициативе работника?", "Трудовой договор форма"]
    try:
        t0 = time.monotonic()
        alone = [engine.ask(q, k=3)[0]["answer"] for q in questions]
        assert gen.calls == [1, 1, 1, 1]  # one call of one prompt each
        assert time.monotonic() - t0 < 4.0  # a lone question never waits for the 5 s window
        with live_server(create_app(engine=engine, token="")) as url:
            gen.delay = 1.5  # a first question holds the generator while four more arrive together
            results: dict[int, httpx.Response] = {}

            def post(i):
                results[i] = httpx.post(f"{url}/api/ask", json={"question": questions[i], "k": 3}, timeout=30)

            blocker = threading.Thread(target=lambda: httpx.post(f"{url}/api/ask", json={"question": Q_RU}, timeout=30))
            blocker.start()
            while len(gen.calls) < 5:
                time.sleep(0.01)
            threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads + [blocker]:
                t.join()
            assert gen.calls == [1, 1, 1, 1, 1, 4]  # ONE generate call for the four questions
            assert [results[i].json()["answer"] for i in range(4)] == alone  # each got its own answer
    finally:
        engine.close()


def test_client_disconnect_cancels_its_question(graph_index, caplog):
    gen = CountingExtractive(delay=1.0)
    engine = Engine(ServeConfig(index=str(graph_index), max_batch=1, batch_window_ms=0), generator=gen)
    try:
        with live_server(create_app(engine=engine, token="")) as url, \
                caplog.at_level(logging.INFO, logger="lexkz.serve"):
            busy: dict = {}
            first = threading.Thread(target=lambda: busy.update(r=httpx.post(
                f"{url}/api/ask", json={"question": Q_RU}, timeout=30)))
            first.start()
            while not gen.calls:  # the first question now holds the generator for 1 s
                time.sleep(0.01)
            # a streamed question: the client leaves after the retrieve event
            with httpx.stream("GET", f"{url}/api/ask/stream", params={"question": Q_KZ}, timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("event: node"):
                        break
            # a plain question whose client gives up waiting
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{url}/api/ask", json={"question": "Трудовой договор форма"},
                           timeout=httpx.Timeout(10, read=0.3))
            first.join()
            deadline = time.monotonic() + 10
            while engine.queue.dropped < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert busy["r"].status_code == 200
            assert engine.queue.dropped == 2 and gen.calls == [1]  # neither left question was generated
            time.sleep(0.2)
        lines = [r.getMessage() for r in caplog.records if r.name == "lexkz.serve"]
        assert sum("cancelled: client disconnected" in line for line in lines) == 2, lines
    finally:
        engine.close()


def _copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _amend(corpus: Path) -> None:
    md = corpus / LABOUR / "rus.md"
    md.write_text(md.read_text(encoding="utf-8") + "\n### Статья 200. Сверхурочная работа\n\n"
                  "Сверхурочная работа допускается с письменного согласия работника.\n", encoding="utf-8")


def test_reload_swaps_the_index_without_dropping_requests_in_flight(tmp_path, graph_index):
    from index.build import update_index

    corpus = write_fixture_corpus(tmp_path / "corpus")
    index_dir = _copy_index(graph_index, tmp_path / "index")
    gen = CountingExtractive(delay=0.5)
    engine = Engine(ServeConfig(index=str(index_dir), watch_current_s=0, max_batch=8, batch_window_ms=50), generator=gen)
    auth = {"Authorization": "Bearer s3cret"}
    try:
        with live_server(create_app(engine=engine, token="s3cret")) as url:
            results: list = []
            flight = [threading.Thread(target=lambda: results.append(httpx.post(
                f"{url}/api/ask", json={"question": Q_RU}, headers=auth, timeout=30))) for _ in range(4)]
            for t in flight:
                t.start()
            while not gen.calls:
                time.sleep(0.01)
            _amend(corpus)
            update_index(corpus, index_dir, progress=False)
            r = httpx.post(f"{url}/api/admin/reload", headers=auth, timeout=30)
            assert r.json() == {"previous": 1, "version": 2, "changed": True}
            for t in flight:
                t.join()
            assert [x.status_code for x in results] == [200] * 4
            assert {x.headers["x-lexkz-index-version"] for x in results} == {"1"}  # finished on their version
            new = httpx.post(f"{url}/api/ask", json={"question": "Сверхурочная работа согласие"}, headers=auth, timeout=30)
            assert new.headers["x-lexkz-index-version"] == "2"
            assert any(s["article_id"] == f"{LABOUR}/200/rus" for s in new.json()["sources"])
            assert httpx.get(f"{url}/api/articles/{LABOUR}/200/rus", headers=auth).status_code == 200
    finally:
        engine.close()


def test_a_new_current_version_is_picked_up_by_itself(tmp_path, graph_index):
    from index.build import update_index

    corpus = write_fixture_corpus(tmp_path / "corpus")
    index_dir = _copy_index(graph_index, tmp_path / "index")
    engine = Engine(ServeConfig(index=str(index_dir), watch_current_s=0.1), generator=CountingExtractive())
    try:
        with live_server(create_app(engine=engine, token="")) as url:
            assert httpx.get(f"{url}/api/articles/{LABOUR}/200/rus").status_code == 404
            _amend(corpus)
            update_index(corpus, index_dir, progress=False)
            deadline = time.monotonic() + 20
            while httpx.get(f"{url}/healthz").json()["index_version"] != 2:
                assert time.monotonic() < deadline, "CURRENT was not picked up"
                time.sleep(0.05)
            assert httpx.get(f"{url}/api/articles/{LABOUR}/200/rus").status_code == 200
    finally:
        engine.close()


@pytest.mark.slow
def test_lexkz_serve_process_answers_and_stops_on_sigterm(graph_index, tmp_path):
    """The real `lexkz serve` command in its own process: up, answering, then SIGTERM ends it."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("LEXKZ_API_TOKEN", None)
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "lexkz.cli", "serve", "--index", str(graph_index), "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "lexkz serve did not come up"
            time.sleep(0.2)
        state = httpx.post(f"http://127.0.0.1:{port}/api/ask", json={"question": Q_RU}, timeout=30).json()
        assert state["sources"][0]["article_id"] == f"{LABOUR}/88/rus"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after shutting down
        text = (tmp_path / "serve.log").read_text()
        assert f"on http://127.0.0.1:{port}/" in text and '"POST /api/ask" 200' in text
        assert "Application shutdown complete" in text  # a graceful stop, not a kill
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
