"""OpenAIGenerator: any OpenAI-compatible /v1/chat/completions endpoint (e.g. vLLM serving
Qwen3-8B with the LoRA adapter), with per-request timeouts and retries, over httpx.

    vllm serve Qwen/Qwen3-8B --enable-lora --lora-modules lexkz=runs/sft/adapter
    lexkz ask "..." --generator openai --base-url http://127.0.0.1:8000/v1 --model lexkz

The key comes from the environment variable named by `api_key_env` (unset: no key is sent).
A timeout, a connection error, 429 or 5xx is retried (waits retry_backoff, doubling); other
4xx fail at once. Prompts of one call go out `batch_size` at a time in parallel threads.
With `generate(..., on_text=f)` the requests ask for `"stream": true` and `f(i, piece)` gets
each piece of answer i as it arrives (a stream that breaks after text was passed on is not
retried: that would repeat the text).
Redirects are never followed (the key would go to whatever host the reply names): a 3xx is
an error that names the target, so the user can set --base-url to it knowingly.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx

from graph.config import GenerationConfig
from graph.generators.base import GenerationResult, check_batch, strip_thinking
from lexkz.errors import LexkzError

OVERRIDABLE = ("max_new_tokens", "temperature", "top_p", "do_sample", "seed", "batch_size")


class _Retryable(Exception):
    pass


class OpenAIGenerator:
    name = "openai"

    def __init__(self, cfg: GenerationConfig | None = None, **kwargs):
        self.cfg = replace(cfg or GenerationConfig(), **kwargs)
        if not self.cfg.model:
            raise LexkzError("the openai generator needs the served model name: pass --model NAME "
                             "(the name vLLM serves, e.g. the --lora-modules name)")
        self.url = self.cfg.base_url.rstrip("/") + "/chat/completions"

    def _payload(self, messages: list[dict], opts: dict) -> dict:
        sample = bool(opts["do_sample"]) and float(opts["temperature"]) > 0
        return {
            "model": self.cfg.model,
            "messages": messages,
            "max_tokens": int(opts["max_new_tokens"]),
            "temperature": float(opts["temperature"]) if sample else 0.0,
            "top_p": float(opts["top_p"]) if sample else 1.0,
            "seed": int(opts["seed"]),
            "chat_template_kwargs": {"enable_thinking": False},  # Qwen3 on vLLM; other servers ignore it
        }

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.cfg.api_key_env or "", "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _check(self, resp: httpx.Response) -> None:
        """Raise for a redirect (never followed) or an error status (5xx/429 retryable)."""
        if resp.is_redirect:
            raise LexkzError(f"{self.url} answered HTTP {resp.status_code} with a redirect to "
                             f"{resp.headers.get('Location', '(no Location)')}; redirects are not followed, so the API key "
                             "is never sent to another address: if that address is the real endpoint, pass it as --base-url",
                             exit_code=3)
        if resp.status_code >= 400:
            detail = resp.read()[:300].decode("utf-8", "replace")
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Retryable(f"HTTP {resp.status_code}: {detail}")
            raise LexkzError(f"{self.url} refused the request: HTTP {resp.status_code}: {detail} "
                             "(check --model, the API key variable and the server's accepted parameters)",
                             exit_code=3)

    def _post(self, client: httpx.Client, payload: dict, on_text=None) -> dict:
        body = json.dumps(payload).encode("utf-8")
        try:
            if payload.get("stream"):
                with client.stream("POST", self.url, content=body, headers=self._headers()) as resp:
                    self._check(resp)
                    return self._read_stream(resp, on_text)
            resp = client.post(self.url, content=body, headers=self._headers())
        except httpx.TimeoutException as exc:
            raise _Retryable(f"no reply within {self.cfg.timeout} s") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"connection failed: {exc!r}") from exc
        self._check(resp)
        try:
            data = resp.json()
            data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Retryable(f"malformed reply: {resp.content[:200]!r}") from exc
        return data

    def _read_stream(self, resp: httpx.Response, on_text) -> dict:
        """A streamed completion (Server-Sent Events of chat.completion.chunk) as one reply."""
        pieces: list[str] = []
        usage, finish = {}, ""
        try:
            for line in resp.iter_lines():
                line = line.strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece:
                        pieces.append(piece)
                        on_text(piece)
                    finish = choice.get("finish_reason") or finish
        except (ValueError, AttributeError, httpx.HTTPError) as exc:
            if pieces:
                raise LexkzError(f"{self.url}: the answer stream broke after {len(''.join(pieces))} characters "
                                 f"({exc.__class__.__name__}: {exc})", exit_code=3) from exc
            raise _Retryable(f"broken stream: {exc}") from exc
        return {"choices": [{"message": {"content": "".join(pieces)}, "finish_reason": finish}], "usage": usage}

    def _one(self, client: httpx.Client, messages: list[dict], opts: dict, on_text=None) -> GenerationResult:
        payload = self._payload(messages, opts)
        if on_text is not None:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        errors = []
        wait = self.cfg.retry_backoff
        t0 = time.perf_counter()
        for attempt in range(self.cfg.retries + 1):
            try:
                data = self._post(client, payload, on_text)
                break
            except _Retryable as exc:
                errors.append(str(exc))
                if attempt < self.cfg.retries:
                    time.sleep(wait)
                    wait *= 2
        else:
            raise LexkzError(
                f"{self.url} failed after {self.cfg.retries + 1} attempts ({'; '.join(errors)}); "
                "check that the server is running (--base-url), or raise --timeout / retries", exit_code=3)
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return GenerationResult(
            text=strip_thinking(choice["message"].get("content") or ""),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=time.perf_counter() - t0, finish_reason=choice.get("finish_reason") or "",
            extra={"attempts": len(errors) + 1, "retried_errors": errors})

    def generate(self, batch: list[list[dict]], progress: bool = False, on_text=None,
                 **overrides) -> list[GenerationResult]:
        check_batch(batch)
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise TypeError(f"unknown generate() override(s): {sorted(unknown)}; allowed: {OVERRIDABLE}")
        opts = {**{k: getattr(self.cfg, k) for k in OVERRIDABLE}, **overrides}
        workers = max(1, min(int(opts["batch_size"]), len(batch)))
        from tqdm.auto import tqdm

        with httpx.Client(timeout=self.cfg.timeout, follow_redirects=False) as client, \
                ThreadPoolExecutor(max_workers=workers) as pool:
            def one(i: int, messages: list[dict]) -> GenerationResult:
                return self._one(client, messages, opts, (lambda piece: on_text(i, piece)) if on_text else None)

            results = pool.map(one, range(len(batch)), batch)
            return list(tqdm(results, total=len(batch), desc="generate", unit="answer",
                             disable=not progress or len(batch) < 2))

    def info(self) -> dict:
        return {"backend": self.name, "model": self.cfg.model, "adapter": None, "base_url": self.cfg.base_url,
                "tiny_random": False, "temperature": self.cfg.temperature, "top_p": self.cfg.top_p,
                "seed": self.cfg.seed, "max_new_tokens": self.cfg.max_new_tokens}

