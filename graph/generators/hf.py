"""HfGenerator: a Qwen3 (hub id or local path) with an optional PEFT LoRA adapter.

4-bit NF4 through bitsandbytes when CUDA is present, bf16/fp32 on CPU. Chat template with
`enable_thinking=False`; seeded; temperature 0.1 / top_p 0.9 by default (temperature 0 or
do_sample=False for greedy). Many prompts are generated in batches with left padding, so a
batched greedy run gives the same tokens as one prompt at a time.

    gen = HfGenerator(GenerationConfig(model="Qwen/Qwen3-8B", adapter="runs/sft/adapter"))
    gen.generate([messages], max_new_tokens=256)[0].text
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from graph.config import DEFAULT_HF_MODEL, GenerationConfig
from graph.generators.base import GenerationResult, check_batch, strip_thinking
from lexkz.errors import LexkzError
from lexkz.hub import first_line
from lexkz.tiny import is_tiny_random

OVERRIDABLE = ("max_new_tokens", "temperature", "top_p", "do_sample", "seed", "batch_size")


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1 or Path(name).exists()


def same_base_model(adapter_base: str, model: str) -> bool:
    """True when the adapter's recorded base model and the model to load are the same model:
    equal names, the same local directory, or the same final name (hub id vs a local copy)."""
    if not adapter_base or adapter_base == model:
        return True
    a, b = Path(adapter_base).expanduser(), Path(model).expanduser()
    if a.exists() and b.exists():
        return a.resolve() == b.resolve()
    return a.name.lower() == b.name.lower()


def adapter_base_model(adapter: str | Path) -> str:
    """The base model recorded in an adapter's adapter_config.json (LexkzError when it is not an adapter)."""
    path = Path(adapter).expanduser()
    cfg_file = path / "adapter_config.json"
    if not path.is_dir():
        raise LexkzError(f"adapter not found: {path} (pass the directory written by `lexkz finetune train`, "
                         "the one holding adapter_config.json)", exit_code=3)
    if not cfg_file.is_file():
        raise LexkzError(f"{path} is not a PEFT adapter: adapter_config.json is missing "
                         "(pass the adapter directory saved by save_pretrained)", exit_code=3)
    try:
        return json.loads(cfg_file.read_text(encoding="utf-8")).get("base_model_name_or_path") or ""
    except json.JSONDecodeError as exc:
        raise LexkzError(f"{cfg_file} is not valid JSON ({exc.msg}); re-save the adapter", exit_code=3) from exc


class HfGenerator:
    name = "hf"

    def __init__(self, cfg: GenerationConfig | None = None, **kwargs):
        cfg = replace(cfg or GenerationConfig(), **kwargs)
        if not cfg.model:
            cfg = replace(cfg, model=DEFAULT_HF_MODEL)
        self.cfg = cfg
        self.model = None
        self.tokenizer = None
        self.device = None
        self.dtype_name = None
        self.quantization = None
        self.local_files_only = True  # set by check(): False only for a hub id to download

    # ------------------------------------------------------------------ loading
    def check(self) -> None:
        """Fail early (before loading weights) on a missing model/adapter or an adapter for another base."""
        model = self.cfg.model
        if _looks_like_path(model) and not Path(model).expanduser().is_dir():
            raise LexkzError(f"model not found: {model} (pass an existing local model directory or a hub id "
                             "such as Qwen/Qwen3-8B that is in the local Hugging Face cache)", exit_code=3)
        if not _looks_like_path(model):  # a hub id: in the local cache, or the hub must answer (else exit 3 now)
            from lexkz.hub import hub_model_source

            self.local_files_only = hub_model_source(model, "model", "or pass --model with a local model directory")
        if self.cfg.adapter:
            base = adapter_base_model(self.cfg.adapter)
            if not same_base_model(base, model):
                raise LexkzError(
                    f"adapter {self.cfg.adapter} was trained for base model {base!r}, but the generator loads "
                    f"{model!r}; pass --model {base} (or a local copy of that model) or use an adapter "
                    "trained for this model", exit_code=4)

    def load(self) -> None:
        if self.model is not None:
            return
        self.check()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cfg = self.cfg
        model_path = str(Path(cfg.model).expanduser()) if _looks_like_path(cfg.model) else cfg.model
        use_cuda = cfg.device in ("auto", "cuda") and torch.cuda.is_available()
        if cfg.device == "cuda" and not use_cuda:
            raise LexkzError("device cuda requested but CUDA is not available; use --device cpu or auto", exit_code=2)
        kwargs: dict = {}
        if use_cuda and cfg.load_in_4bit:
            from finetune.qlora import nf4_config

            kwargs["quantization_config"] = nf4_config()  # as the adapter was trained
            kwargs["dtype"] = torch.bfloat16
            kwargs["device_map"] = {"": 0}
            self.quantization, self.dtype_name = "nf4", "bfloat16"
        else:
            name = cfg.dtype
            if name == "auto":
                name = "bfloat16" if use_cuda else ("float32" if is_tiny_random(model_path) else "bfloat16")
            if name not in ("bfloat16", "float32", "float16"):
                raise LexkzError(f"unknown dtype {cfg.dtype!r}: use auto, bfloat16 or float32")
            kwargs["dtype"] = getattr(torch, name)
            if use_cuda:
                kwargs["device_map"] = {"": 0}
            self.dtype_name = name
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=self.local_files_only)
            model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=self.local_files_only, **kwargs)
        except OSError as exc:
            raise LexkzError(f"cannot load model {cfg.model!r}: {exc.__class__.__name__}: {first_line(exc)} "
                             "(pass a local model directory, or download the hub model into the HF cache first)",
                             exit_code=3) from exc
        if cfg.adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, str(Path(cfg.adapter).expanduser()))
            except (RuntimeError, ValueError, KeyError) as exc:
                raise LexkzError(f"adapter {cfg.adapter} does not fit model {cfg.model!r} "
                                 f"({str(exc).splitlines()[0][:300]}); use an adapter trained for this base model",
                                 exit_code=4) from exc
        self.use_model(model, tokenizer)

    def use_model(self, model, tokenizer) -> None:
        """Generate with an already built model (load() ends here; bench/gpu_check.py hands in a
        random-weight NF4 Qwen3-8B built on the GPU, which has no checkpoint to load)."""
        model.eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device

    # --------------------------------------------------------------- generation
    def prompt_texts(self, batch: list[list[dict]]) -> list[str]:
        return [
            self.tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True, enable_thinking=False)
            for m in batch
        ]

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = list(ids) if isinstance(ids, (list, tuple)) else ([ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def generate(self, batch: list[list[dict]], progress: bool = False, on_text=None,
                 **overrides) -> list[GenerationResult]:
        """`on_text(i, piece)`, when given, receives each new piece of answer text of prompt i
        as it is generated (what `lexkz serve` streams); the results are the same."""
        check_batch(batch)
        unknown = set(overrides) - set(OVERRIDABLE)
        if unknown:
            raise TypeError(f"unknown generate() override(s): {sorted(unknown)}; allowed: {OVERRIDABLE}")
        if not batch:
            return []
        self.load()
        import torch
        from transformers import GenerationConfig as HfGenerationConfig

        opts = {**{k: getattr(self.cfg, k) for k in OVERRIDABLE}, **overrides}
        sample = bool(opts["do_sample"]) and float(opts["temperature"]) > 0
        eos = self._eos_ids()
        gen_cfg = HfGenerationConfig(
            max_new_tokens=int(opts["max_new_tokens"]), do_sample=sample,
            temperature=float(opts["temperature"]) if sample else None,
            top_p=float(opts["top_p"]) if sample else None, top_k=0 if sample else None,
            eos_token_id=eos, pad_token_id=self.tokenizer.pad_token_id,
        )
        torch.manual_seed(int(opts["seed"]))
        size = max(1, int(opts["batch_size"]))
        chunks = [batch[i:i + size] for i in range(0, len(batch), size)]
        results: list[GenerationResult] = []
        from tqdm.auto import tqdm

        for c, chunk in enumerate(tqdm(chunks, desc="generate", unit="batch", disable=not progress or len(chunks) < 2)):
            t0 = time.perf_counter()
            streamer = _RowStreamer(self.tokenizer, eos, on_text, c * size, len(chunk)) if on_text else None
            enc = self.tokenizer(self.prompt_texts(chunk), return_tensors="pt", padding=True,
                                 padding_side="left", add_special_tokens=False).to(self.device)
            with torch.inference_mode():
                out = self.model.generate(**enc, generation_config=gen_cfg, streamer=streamer)
            new = out[:, enc["input_ids"].shape[1]:].tolist()
            seconds = (time.perf_counter() - t0) / len(chunk)
            for row, mask in zip(new, enc["attention_mask"].tolist()):
                stop = next((i for i, t in enumerate(row) if t in eos), None)
                tokens = row if stop is None else row[:stop]
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                results.append(GenerationResult(
                    text=strip_thinking(text), prompt_tokens=int(sum(mask)),
                    completion_tokens=len(tokens) + (stop is not None), seconds=seconds,
                    finish_reason="stop" if stop is not None else "length",
                    extra={"token_ids": tokens}))
        return results

    def info(self) -> dict:
        return {
            "backend": self.name, "model": self.cfg.model, "adapter": self.cfg.adapter or None,
            "device": str(self.device) if self.device is not None else None, "dtype": self.dtype_name,
            "quantization": self.quantization, "tiny_random": is_tiny_random(self.cfg.model),
            "temperature": self.cfg.temperature, "top_p": self.cfg.top_p, "do_sample": self.cfg.do_sample,
            "seed": self.cfg.seed, "max_new_tokens": self.cfg.max_new_tokens,
        }


class _RowStreamer:
    """A transformers streamer for a batch: decodes each row's new tokens and calls
    `on_text(offset + row, piece)` with the text added since the last call (until the row's EOS)."""

    def __init__(self, tokenizer, eos: list[int], on_text, offset: int, rows: int):
        self.tokenizer, self.eos, self.on_text, self.offset = tokenizer, set(eos), on_text, offset
        self.ids: list[list[int]] = [[] for _ in range(rows)]
        self.sent = [""] * rows
        self.ended = [False] * rows
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:  # the first call carries the prompt ids
            self.prompt_seen = True
            return
        tokens = value.reshape(len(self.ids), -1)[:, -1].tolist()
        for row, token in enumerate(tokens):
            if self.ended[row]:
                continue
            if token in self.eos:
                self.ended[row] = True
                self._emit(row, final=True)
                continue
            self.ids[row].append(token)
            self._emit(row)

    def _emit(self, row: int, final: bool = False) -> None:
        text = self.tokenizer.decode(self.ids[row], skip_special_tokens=True)
        if (text.endswith("\ufffd") and not final) or not text.startswith(self.sent[row]):
            return  # an unfinished multi-byte character: wait for the next token (or the end)
        piece, self.sent[row] = text[len(self.sent[row]):], text
        if piece:
            self.on_text(self.offset + row, piece)

    def end(self) -> None:
        for row in range(len(self.ids)):
            if not self.ended[row]:
                self.ended[row] = True
                self._emit(row, final=True)
