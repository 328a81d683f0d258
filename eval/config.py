"""EvalConfig: the one config dataclass of the eval stage ([eval] in TOML).

    from lexkz.config import load_stage
    cfg = load_stage(EvalConfig, "configs/tiny-ablation.toml", "eval", {"limit": 5})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from retrieval.config import RetrievalConfig

CONDITIONS = ("base", "ft", "rag", "ft_rag", "extractive")
# condition -> (graph mode, uses the adapter, generator backend)
CONDITION_SPECS = {
    "base": ("closed_book", False, "hf"),
    "ft": ("closed_book", True, "hf"),
    "rag": ("rag", False, "hf"),
    "ft_rag": ("rag", True, "hf"),
    "extractive": ("rag", False, "extractive"),
}
BUILTIN_CONTROL_SET = str(Path(__file__).resolve().parent / "data" / "control_general.jsonl")


@dataclass
class EvalConfig:
    questions: list[str] = field(default_factory=list, metadata={"help": "eval set file(s): JSONL or `datasets` dirs (id, lang, question, reference_answer, act_code?, article?)"})
    limit: int = field(default=0, metadata={"help": "use only the first N questions (after filtering); 0 = all"})
    filter_to_index: bool = field(default=True, metadata={"help": "drop questions whose gold act is not in the index (or that have no act code)"})
    skip_invalid: bool = field(default=False, metadata={"help": "skip malformed eval lines (reported with line numbers) instead of stopping"})
    conditions: list[str] = field(default_factory=lambda: list(CONDITIONS), metadata={"help": "conditions to run: base, ft, rag, ft_rag, extractive"})
    index_dir: str = field(default=".lexkz/index", metadata={"help": "index directory (lexkz index build) for rag, ft_rag and extractive"})
    model: str = field(default="Qwen/Qwen3-8B", metadata={"help": "base model: hub id or local path"})
    adapter: str = field(default="", metadata={"help": "LoRA adapter directory for ft and ft_rag (lexkz finetune train)"})
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig, metadata={"section": "retrieval", "help": "the [retrieval] settings (k, fusion weights, ...) of the same TOML file, as `lexkz ask` reads them"})
    context_chars: int = field(default=4000, metadata={"help": "maximum characters of one retrieved article in the prompt (rag, ft_rag)"})
    batch_size: int = field(default=8, metadata={"help": "questions per batched generate call"})
    max_new_tokens: int = field(default=256, metadata={"help": "maximum generated tokens per answer"})
    do_sample: bool = field(default=False, metadata={"help": "false = greedy decoding (reproducible); true = seeded sampling"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature (used only with do_sample)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus top_p (used only with do_sample)"})
    seed: int = field(default=0, metadata={"help": "seed for generation and for bootstrap resampling"})
    dtype: str = field(default="auto", metadata={"help": "model dtype: auto | bfloat16 | float32"})
    load_in_4bit: bool = field(default=True, metadata={"help": "4-bit NF4 on CUDA (ignored on CPU)"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    share_base_weights: bool = field(default=False, metadata={"help": "load the model once with the adapter and switch the adapter off for base/rag (peft disable_adapter) instead of loading it twice"})
    output_dir: str = field(default="runs/eval", metadata={"help": "run directory: rows.jsonl, run.json and the report go here"})
    control_set: str = field(default=BUILTIN_CONTROL_SET, metadata={"help": "general non-legal questions for the forgetting check (base vs ft, closed-book); empty = skip"})
    control_limit: int = field(default=0, metadata={"help": "use only the first N control questions; 0 = all"})
    semantic_model: str = field(default="", metadata={"help": "embedding model for semantic similarity (e.g. minilm, a hub id or a local path); empty = off"})
    semantic_mode: str = field(default="cosine", metadata={"help": "cosine (sentence embeddings) | greedy (BERTScore-style matching of token embeddings)"})
    stem: bool = field(default=True, metadata={"help": "stem tokens for token F1 (Snowball Russian; Kazakh 6-char prefix)"})
    bootstrap_resamples: int = field(default=2000, metadata={"help": "bootstrap resamples for the 95% CIs"})
    label: str = field(default="", metadata={"help": "name of this run in combined reports (default: the run directory name)"})
    report: bool = field(default=True, metadata={"help": "write the report into the run directory when the run finishes"})
