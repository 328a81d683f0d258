"""ServeConfig: the one config dataclass of the serving stage ([serve] in TOML).

    from lexkz.config import load_stage
    cfg = load_stage(ServeConfig, "configs/serve.toml", "serve", {"port": 8080})
"""

from __future__ import annotations

from dataclasses import dataclass, field

from index.store import DEFAULT_INDEX_DIR

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TOKEN_ENV = "LEXKZ_API_TOKEN"


@dataclass
class ServeConfig:
    index: str = field(default=DEFAULT_INDEX_DIR, metadata={"help": "index folder served (its CURRENT version)"})
    host: str = field(default="127.0.0.1", metadata={"help": f"address to bind; anything but loopback requires ${TOKEN_ENV}"})
    port: int = field(default=8000, metadata={"help": "TCP port"})
    max_k: int = field(default=20, metadata={"help": "largest k a request may ask for (/api/ask, /api/search)"})
    workers: int = field(default=16, metadata={"help": "threads running questions and searches at once"})
    max_batch: int = field(default=8, metadata={"help": "questions at most in one batched generate call"})
    batch_window_ms: float = field(default=20.0, metadata={"help": "how long the generate queue waits for questions still being retrieved before it generates (a lone question never waits)"})
    watch_current_s: float = field(default=2.0, metadata={"help": "seconds between checks of INDEX/CURRENT for a new version (0 = only POST /api/admin/reload)"})
    cors_origins: list = field(default_factory=list, metadata={"help": "origins allowed by CORS (empty = no CORS headers)"})
    log_level: str = field(default="info", metadata={"help": "debug | info | warning"})
