"""The FastAPI app of `lexkz serve`: the API under /api, the page at /, /healthz.

    app = create_app(ServeConfig(index=".lexkz/index"))      # loads index + generator once, warms up
    uvicorn.run(app, host="127.0.0.1", port=8000)

    POST /api/ask                 the final state, as `lexkz ask --json`
    GET  /api/ask/stream          Server-Sent Events: node events, token pieces (streaming
                                  generators), then the final state (event: final) or event: error
    GET  /api/search              hits with snippets
    GET  /api/articles/{id}       an article's text, act, status and links
    GET  /api/index               the manifest summary, the generator in use, the request limits
    POST /api/admin/reload        pick up a new index version (needs the bearer token)
    GET  /healthz                 liveness and the index version

When a token is set ($LEXKZ_API_TOKEN) every /api/* call needs `Authorization: Bearer TOKEN`.
Bad requests get 422 with {"error": message, "detail": [...]}; errors are {"error": message}.
Each request is logged on one line (logger "lexkz.serve") with its timings.
"""


import asyncio
import hmac
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from index.timeline import parse_date
from lexkz.errors import LexkzError
from graph.batching import Cancelled
from lexkz.server.config import LOOPBACK_HOSTS, TOKEN_ENV, ServeConfig

log = logging.getLogger("lexkz.serve")
STATIC = Path(__file__).resolve().parent / "static"
HTTP_STATUS = {2: 422, 3: 503, 4: 403}  # LexkzError exit code -> HTTP status
EMPTY_QUESTION = "the question is empty: type a question in Russian or Kazakh"


def check_bind(host: str, token: str | None) -> None:
    """Refuse (exit 4) to bind anything but loopback without an API token."""
    if host not in LOOPBACK_HOSTS and not token:
        raise LexkzError(f"binding to {host} exposes the API beyond this machine: set {TOKEN_ENV} to a secret "
                         f"(clients then send 'Authorization: Bearer <token>'), or bind to 127.0.0.1", 4)


def _models(cfg: ServeConfig, max_chars: int):
    """Request models with this server's limits (unknown fields are refused with 422)."""
    Lang = Literal["rus", "kaz", "ru", "kk", "kz"]
    Question = Annotated[str, Field(max_length=max_chars, description="the question, Russian or Kazakh")]
    K = Annotated[int, Field(ge=1, le=cfg.max_k, description="articles retrieved into the context")]

    def not_empty(v: str) -> str:
        if not v.strip():
            raise ValueError(EMPTY_QUESTION)
        return v.strip()

    class _Question(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: Question
        lang: Lang | None = None
        k: K | None = None  # None: the [retrieval] k, the one default
        mode: Literal["rag", "closed_book"] = "rag"
        as_of: str | None = Field(default=None, description="ISO date YYYY-MM-DD: the law in force that day (default: current editions)")
        strip_question = field_validator("question")(not_empty)

    class AskRequest(_Question):
        act_codes: list[str] | None = Field(default=None, max_length=50, description="retrieve only from these acts")

    class AskQuery(_Question):
        act: list[str] = Field(default_factory=list, max_length=50, description="retrieve only from these acts")

    class SearchQuery(BaseModel):
        model_config = ConfigDict(extra="forbid")
        q: Annotated[str, Field(min_length=1, max_length=max_chars, description="search text")]
        k: K | None = None  # None: the [retrieval] k
        lang: Lang | None = None
        act: list[str] = Field(default_factory=list, max_length=50)
        include_repealed: bool = False
        as_of: str | None = Field(default=None, description="ISO date YYYY-MM-DD: the law in force that day (default: current editions)")

    return AskRequest, AskQuery, SearchQuery


def _sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=float)}\n\n"


def _light(update: dict) -> dict:
    """A node event without the retrieved articles' full texts (the final state has them)."""
    if "retrieved" not in update:
        return update
    return {**update, "retrieved": [{k: v for k, v in h.items() if k != "text"} for h in update["retrieved"]]}


class RequestLog:
    """ASGI middleware: one log line per request, written when its response has ended."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = {"code": None}
        state = scope.setdefault("state", {})

        async def send_logged(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            ms = (time.perf_counter() - t0) * 1000
            client = (scope.get("client") or ("-", 0))[0]
            query = f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
            path = scope["path"] + (query if len(query) < 200 else query[:200] + "...")
            extra = state.get("log", "")
            log.info('%s "%s %s" %s %.1f ms%s', client, scope["method"], path, status["code"] or "-", ms,
                     f" {extra}" if extra else "")


def _timing_note(final: dict, version: int) -> str:
    t = final.get("timings") or {}
    parts = [f"{k}={v * 1000:.1f}ms" for k, v in t.items() if isinstance(v, (int, float))]
    return f"index=v{version} " + " ".join(parts)


def create_app(cfg: ServeConfig | None = None, gen_cfg=None, retrieval_cfg=None, *, engine=None,
               token: str | None = None, warm_up: bool = True) -> FastAPI:
    """The app over `engine` (made from the configs when not given, loaded and warmed up now).

    `token` defaults to $LEXKZ_API_TOKEN ("" = none); when set, /api/* needs it as a bearer token."""
    from lexkz.server.engine import Engine

    cfg = cfg or (engine.cfg if engine is not None else ServeConfig())
    token = (token if token is not None else os.environ.get(TOKEN_ENV)) or None  # "" = no token
    owns_engine = engine is None
    if engine is None:
        engine = Engine(cfg, gen_cfg, retrieval_cfg)
        if warm_up:
            engine.warm_up()
    pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="lexkz-serve")
    AskRequest, AskQuery, SearchQuery = _models(cfg, engine.gen_cfg.max_question_chars)

    @asynccontextmanager
    async def lifespan(app):
        engine.start_watching()
        yield
        pool.shutdown(wait=False, cancel_futures=True)
        if owns_engine:
            engine.close()

    app = FastAPI(title="lexkz", version="0.1.0", lifespan=lifespan,
                  description="Questions on the law of the Republic of Kazakhstan, answered with checked citations.")
    app.state.engine = engine
    if cfg.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cfg.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(RequestLog)

    # ------------------------------------------------------------- errors
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query"))
            msg = e.get("msg", "").removeprefix("Value error, ")
            if e.get("type") == "extra_forbidden":
                msg = "unknown field (not accepted here)"
            problems.append(f"{where}: {msg}" if where else msg)
        detail = json.loads(json.dumps(exc.errors(), default=str))
        return JSONResponse({"error": "; ".join(problems), "detail": detail}, status_code=422)

    @app.exception_handler(LexkzError)
    async def refused(request: Request, exc: LexkzError):
        status = 499 if isinstance(exc, Cancelled) else HTTP_STATUS.get(exc.exit_code, 500)
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and the router's 404/405
    async def http_error(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    # ------------------------------------------------------------- helpers
    def require_token(request: Request) -> None:
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, f"missing or wrong bearer token: send 'Authorization: Bearer <the server's {TOKEN_ENV}>'",
                                headers={"WWW-Authenticate": "Bearer"})

    async def in_thread(request: Request, func, cancelled: threading.Event | None = None):
        """Run `func` in the pool; a client that disconnects sets `cancelled` (the work stops early)."""
        fut = asyncio.get_running_loop().run_in_executor(pool, func)
        while True:
            done, _ = await asyncio.wait({fut}, timeout=0.05)
            if done:
                return fut.result()
            if cancelled is not None and not cancelled.is_set() and await request.is_disconnected():
                cancelled.set()
                request.state.log = "cancelled: client disconnected"
                log.info("client disconnected: question cancelled")

    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])

    # ------------------------------------------------------------- endpoints
    @api.post("/ask", summary="Answer a question (the final state, as `lexkz ask --json`)")
    async def ask(body: AskRequest, request: Request):
        engine.check_question(body.question, body.lang, body.mode, body.k or engine.default_k, body.as_of)
        cancelled = threading.Event()
        final, version = await in_thread(request, lambda: engine.ask(
            body.question, lang=body.lang, k=body.k, mode=body.mode, act_codes=body.act_codes, cancelled=cancelled,
            as_of=body.as_of), cancelled)
        request.state.log = _timing_note(final, version)
        return JSONResponse(final, headers={"X-Lexkz-Index-Version": str(version)})

    @api.get("/ask/stream", summary="Answer a question as Server-Sent Events",
             description="Events: `node` ({node, update}) as each graph node finishes, `token` ({text}) "
                         "for generators that stream, then `final` (the final state) or `error` ({error, status}).")
    async def ask_stream(params: Annotated[AskQuery, Query()], request: Request):
        engine.check_question(params.question, params.lang, params.mode, params.k or engine.default_k, params.as_of)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()

        def push(event: str, data) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (event, data))

        def work():
            return engine.ask(params.question, lang=params.lang, k=params.k, mode=params.mode,
                              act_codes=params.act or None, cancelled=cancelled, as_of=params.as_of,
                              on_update=lambda node, update: push("node", {"node": node, "update": _light(update)}),
                              on_text=lambda piece: push("token", {"text": piece}))

        async def stream():
            fut = loop.run_in_executor(pool, work)
            fut.add_done_callback(lambda _: events.put_nowait(("done", None)))
            try:
                while True:
                    try:
                        event, data = await asyncio.wait_for(events.get(), timeout=0.1)
                    except asyncio.TimeoutError:
                        if await request.is_disconnected():
                            return
                        continue
                    if event == "done":
                        break
                    yield _sse(event, data)
                try:
                    final, version = fut.result()
                except LexkzError as exc:
                    yield _sse("error", {"error": str(exc), "status": HTTP_STATUS.get(exc.exit_code, 500)})
                    request.state.log = f"error: {exc}"
                    return
                request.state.log = _timing_note(final, version)
                yield _sse("final", final)
            finally:
                if not fut.done():
                    cancelled.set()
                    request.state.log = "cancelled: client disconnected"
                    log.info("client disconnected: question cancelled")

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @api.get("/search", summary="Search articles (hits with snippets)")
    async def search(params: Annotated[SearchQuery, Query()], request: Request):
        if params.as_of is not None:
            params.as_of = parse_date(params.as_of, "as_of")  # 422 with the reason
        result = await in_thread(request, lambda: engine.search(
            params.q, k=params.k or engine.default_k, lang=params.lang, act_codes=params.act,
            include_repealed=params.include_repealed, as_of=params.as_of))
        request.state.log = f"index=v{result['index_version']} hits={len(result['hits'])}"
        return result

    @api.get("/articles/{article_id:path}", summary="An article: text, act, status and links")
    async def article(article_id: str, request: Request):
        found = await in_thread(request, lambda: engine.article(article_id))
        if found is None:
            raise HTTPException(404, f"no article {article_id!r} in index version {engine.live.version} "
                                     "(ids look like <act_code>/<number>/<rus|kaz>)")
        return found

    @api.get("/history/{act}/{article}", summary="The versions of one article: dates, edition, amending act")
    async def history(act: str, article: str, request: Request, lang: Literal["rus", "kaz"] = "rus",
                      as_of: str | None = None):
        return await in_thread(request, lambda: engine.history(act, article, lang, as_of))

    @api.get("/diff/{act}/{article}", summary="Word-level diff of one article between two days")
    async def diff(act: str, article: str, request: Request, lang: Literal["rus", "kaz"] = "rus",
                   day_from: Annotated[str, Query(alias="from")] = ..., day_to: Annotated[str, Query(alias="to")] = ...):
        return await in_thread(request, lambda: engine.diff(act, article, day_from, day_to, lang))

    @api.get("/index", summary="The index manifest summary, the generator in use and the request limits")
    async def index_summary(request: Request):
        return await in_thread(request, engine.summary)

    @api.post("/admin/reload", summary="Pick up a new index version (token-protected)")
    async def reload(request: Request):
        if token is None:
            raise HTTPException(403, f"reload is token-protected: start the server with {TOKEN_ENV} set "
                                     "(or let it pick up INDEX/CURRENT by itself, see watch_current_s)")
        result = await in_thread(request, engine.reload)
        request.state.log = f"index v{result['previous']} -> v{result['version']}"
        return result

    app.include_router(api)

    @app.get("/healthz", summary="Liveness")
    async def healthz():
        return {"status": "ok", "index_version": engine.live.version}

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
