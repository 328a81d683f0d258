"""Where a model comes from: a local directory, the local Hugging Face cache, or the hub.

Loading a hub id that is not in the local cache makes transformers / sentence-transformers ask
the hub, and without a network they retry for a minute or more before a long error. This
module decides before any load, at once:

    local_only = hub_model_source("BAAI/bge-m3", "embedding model")
    SentenceTransformer("BAAI/bge-m3", local_files_only=local_only)

- a local directory, or a hub id whose files are in the local cache -> True (load with
  `local_files_only=True`: no network call at all);
- a hub id not in the cache, while the hub answers -> False (the library downloads it);
- a hub id not in the cache, with the hub offline (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE) or
  unreachable (checked with one request, a few seconds at most) -> LexkzError exit 3 that names
  the model and says how to get it into the local cache.
"""

from __future__ import annotations

import os
from pathlib import Path

from lexkz.errors import LexkzError

REACH_TIMEOUT_S = 5.0


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_offline() -> bool:
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def is_repo_id(spec: str) -> bool:
    """"org/name" or "name" as the hub allows them (a path such as ./m, /m or .lexkz/m is not one)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(spec)
    except HFValidationError:
        return False
    return True


def in_local_cache(repo_id: str) -> bool:
    """True when the hub model `repo_id` has its config.json in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - an id the hub library rejects is simply not cached
        return False
    return isinstance(found, str)


def hub_unreachable() -> str | None:
    """None when the hub endpoint answers one HEAD request; else why not (one short line)."""
    import httpx

    try:
        httpx.head(hub_endpoint(), timeout=REACH_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as exc:
        return f"{hub_endpoint()} did not answer ({type(exc).__name__})"
    return None


def how_to_get(spec: str) -> str:
    from huggingface_hub import constants

    return (f"get it on a connected machine with `hf download {spec}` (`huggingface-cli download {spec}` with "
            f"older huggingface_hub) and copy its cache folder (~/.cache/huggingface, or HF_HOME) to "
            f"{Path(constants.HF_HUB_CACHE).parent} here, or pass a local model directory")


def hub_model_source(spec: str, what: str, alternative: str = "") -> bool:
    """True: load `spec` with local_files_only=True; False: let the library download it.
    Raises LexkzError (exit 3) at once when it is neither local nor reachable. `what` names the
    role in "cannot load <what> 'spec'" ("embedding model", "reranker", "model"); `alternative` is added to the hint."""
    if Path(spec).expanduser().is_dir():
        return True
    if not is_repo_id(spec):
        raise LexkzError(f"cannot load {what} {spec!r}: no such directory, and it is not a hub id (org/name); pass an "
                         f"existing local model directory{'; ' + alternative if alternative else ''}", exit_code=3)
    if in_local_cache(spec):
        return True
    why = "the hub is offline here (HF_HUB_OFFLINE=1)" if hub_offline() else hub_unreachable()
    if why is None:
        return False
    raise LexkzError(f"cannot load {what} {spec!r}: it is not in the local Hugging Face cache and {why}; "
                     f"{how_to_get(spec)}{'; ' + alternative if alternative else ''}", exit_code=3)


def first_line(exc: BaseException, limit: int = 600) -> str:
    """The first line of an error's text, whole (URLs are not cut) unless it is very long."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."
