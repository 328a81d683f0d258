"""GenerationConfig: the one config dataclass of the ask/generation stage ([generation] in TOML).

    from lexkz.config import load_stage
    cfg = load_stage(GenerationConfig, "configs/paper.toml", "generation", {"model": "Qwen/Qwen3-8B"})
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_HF_MODEL = "Qwen/Qwen3-8B"
BACKENDS = ("auto", "hf", "extractive", "openai")


@dataclass
class GenerationConfig:
    backend: str = field(default="auto", metadata={"help": "hf | extractive | openai | auto (hf when a model is set, else extractive)"})
    model: str = field(default="", metadata={"help": "hub id or local path of the Qwen3 model (hf), or the served model name (openai); empty with backend hf = Qwen/Qwen3-8B"})
    adapter: str = field(default="", metadata={"help": "local path of a PEFT LoRA adapter for the hf backend (its base model must match --model)"})
    max_new_tokens: int = field(default=512, metadata={"help": "maximum number of generated tokens per answer"})
    temperature: float = field(default=0.1, metadata={"help": "sampling temperature; 0 means greedy decoding"})
    top_p: float = field(default=0.9, metadata={"help": "nucleus sampling top_p"})
    do_sample: bool = field(default=True, metadata={"help": "sample (seeded); false = greedy decoding"})
    seed: int = field(default=0, metadata={"help": "random seed set before every generate call"})
    batch_size: int = field(default=8, metadata={"help": "prompts per forward batch (hf, left padding) or parallel requests (openai)"})
    dtype: str = field(default="auto", metadata={"help": "auto | bfloat16 | float32 (CPU; auto = float32 for tiny test models, bfloat16 otherwise)"})
    load_in_4bit: bool = field(default=True, metadata={"help": "4-bit NF4 via bitsandbytes when CUDA is present (ignored on CPU)"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "openai backend: base URL of a /v1/chat/completions endpoint (e.g. vLLM)"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "openai backend: name of the environment variable holding the API key (unset = no key)"})
    timeout: float = field(default=120.0, metadata={"help": "openai backend: seconds per HTTP request"})
    retries: int = field(default=3, metadata={"help": "openai backend: retries after a timeout, connection error, 429 or 5xx"})
    retry_backoff: float = field(default=1.0, metadata={"help": "openai backend: first wait between retries in seconds (doubles each retry)"})
    context_chars: int = field(default=4000, metadata={"help": "maximum characters of one article's text in a context block"})
    extractive_articles: int = field(default=3, metadata={"help": "extractive backend: how many top context blocks to quote"})
    extractive_sentences: int = field(default=2, metadata={"help": "extractive backend: sentences quoted per article"})
    retrieval_lang: str = field(default="auto", metadata={"help": "articles retrieved for a question: same (its language), any, or auto (same for Russian, any for Kazakh: the corpus has Kazakh text for few acts)"})
    max_regenerations: int = field(default=1, metadata={"help": "answers whose citations fail verification (invented, wrong act, no such point, not supported) are generated again with the findings, at most this many times (0 = never)"})
    max_question_chars: int = field(default=2000, metadata={"help": "longer questions are refused"})


def resolved_backend(cfg: GenerationConfig) -> str:
    """The backend `auto` stands for: hf when a model is configured, else extractive."""
    if cfg.backend == "auto":
        return "hf" if cfg.model else "extractive"
    return cfg.backend
