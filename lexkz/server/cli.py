"""`lexkz serve`: the HTTP API and the web page over one loaded index and generator.

    lexkz serve                                    # .lexkz/index, extractive, http://127.0.0.1:8000/
    lexkz serve --index .lexkz/index --port 8080
    lexkz serve --config configs/ask-qwen3-8b.toml --adapter runs/qwen3-8b-raft/adapter
    LEXKZ_API_TOKEN=secret lexkz serve --host 0.0.0.0   # other hosts need a token (bearer auth on /api/*)

Settings come from the [serve], [generation] and [retrieval] sections of --config; flags
override. The index, the embedder and the generator load once, before the port opens.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from graph.config import GenerationConfig
from lexkz.config import help_of, load_stage
from lexkz.server.config import TOKEN_ENV, ServeConfig


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="HTTP API and web page for asking, searching and reading the law",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", default=None, help=help_of(ServeConfig, "index") + " (default .lexkz/index)")
    p.add_argument("--config", default=None, help="TOML file with [serve], [generation] and [retrieval] sections")
    p.add_argument("--host", default=None, help=help_of(ServeConfig, "host") + " (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help=help_of(ServeConfig, "port") + " (default 8000)")
    p.add_argument("--generator", choices=["hf", "extractive", "openai", "auto"], default=None,
                   help=help_of(GenerationConfig, "backend"))
    p.add_argument("--model", default=None, help=help_of(GenerationConfig, "model"))
    p.add_argument("--adapter", default=None, help=help_of(GenerationConfig, "adapter"))
    p.add_argument("--base-url", default=None, help=help_of(GenerationConfig, "base_url"))
    p.add_argument("--device", default=None, help=help_of(GenerationConfig, "device"))
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    import uvicorn

    from lexkz.server.app import check_bind, create_app
    from retrieval.config import RetrievalConfig

    cfg = load_stage(ServeConfig, args.config, "serve", {"index": args.index, "host": args.host, "port": args.port})
    gen_cfg = load_stage(GenerationConfig, args.config, "generation", {
        "backend": args.generator, "model": args.model, "adapter": args.adapter,
        "base_url": args.base_url, "device": args.device})
    rcfg = load_stage(RetrievalConfig, args.config, "retrieval", {})
    check_bind(cfg.host, os.environ.get(TOKEN_ENV))
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    print(f"loading index {cfg.index} and the {gen_cfg.backend} generator ...", file=sys.stderr, flush=True)
    app = create_app(cfg, gen_cfg, rcfg)
    engine = app.state.engine
    info = engine.generator.info()
    print(f"serving index version {engine.live.version} with {info.get('backend')} {info.get('model') or ''}".rstrip()
          + f" on http://{cfg.host}:{cfg.port}/", file=sys.stderr, flush=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=cfg.log_level, access_log=False)
    return 0
