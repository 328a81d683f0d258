"""SFTConfig: every setting of one fine-tuning run (the [sft] section of a TOML config).

Defaults are the seed's QLoRA recipe: LoRA r 16 / alpha 32 / dropout 0.05 on all attention
and MLP projections, lr 2e-4 cosine with warmup, 3 epochs, effective batch 8, gradient
checkpointing, paged 8-bit AdamW on CUDA (plain AdamW on CPU), 4-bit NF4 base on CUDA.

    cfg = load_sft_config("configs/tiny.toml", {"output_dir": "runs/x"})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lexkz.config import load_stage
from retrieval.config import RetrievalConfig
from lexkz.errors import LexkzError

ATTENTION_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP_MODULES = ["gate_proj", "up_proj", "down_proj"]


@dataclass
class SFTConfig:
    # what to train
    model: str = field(default="Qwen/Qwen3-8B", metadata={"help": "base model: hub id or local path"})
    data: str = field(default="runs/sft-data", metadata={"help": "dataset made by `lexkz finetune data` (a directory with train/eval splits) or a JSONL file of {messages}"})
    output_dir: str = field(default="runs/sft", metadata={"help": "run directory: checkpoints, adapter, run record"})
    max_train_samples: int = field(default=0, metadata={"help": "use at most this many training examples (0 = all)"})
    max_eval_samples: int = field(default=0, metadata={"help": "use at most this many eval examples (0 = all)"})
    # LoRA
    lora_r: int = field(default=16, metadata={"help": "LoRA rank r"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scaling alpha/r, or alpha/sqrt(r) with rsLoRA)"})
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    target_modules: str = field(default="all", metadata={"help": "'all' (attention + MLP projections), 'attention' (q,k,v,o only) or a comma list of module names"})
    use_rslora: bool = field(default=False, metadata={"help": "rank-stabilised LoRA scaling alpha/sqrt(r)"})
    # optimisation
    learning_rate: float = field(default=2e-4, metadata={"help": "peak learning rate"})
    lr_schedule: str = field(default="cosine", metadata={"help": "'cosine' (warmup then cosine decay) or 'flat_cosine' (warmup, constant LR for the first epoch, cosine decay after)"})
    warmup_ratio: float = field(default=0.03, metadata={"help": "share of the training steps used for linear warmup"})
    num_epochs: float = field(default=3.0, metadata={"help": "training epochs"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many optimizer steps (-1 = run the epochs); the schedule is planned over it"})
    per_device_batch_size: int = field(default=2, metadata={"help": "micro-batch per device"})
    effective_batch_size: int = field(default=8, metadata={"help": "examples per optimizer step over all devices (gradient accumulation fills the gap)"})
    max_length: int = field(default=2048, metadata={"help": "longest tokenized example; longer ones are dropped (and counted), never cut, so the answer is always trained"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm"})
    optim: str = field(default="auto", metadata={"help": "'auto' (paged_adamw_8bit on CUDA, adamw_torch on CPU) or any transformers optimizer name"})
    gradient_checkpointing: bool = field(default=True, metadata={"help": "recompute activations in backward to save memory"})
    padding_free: bool = field(default=False, metadata={"help": "pack the micro-batch without padding (needs flash attention on CUDA)"})
    load_in_4bit: Any = field(default="auto", metadata={"help": "4-bit NF4 base (double quant, bf16 compute): 'auto' = on when CUDA is available, or true/false"})
    bf16: Any = field(default="auto", metadata={"help": "bf16 mixed precision: 'auto' = on when CUDA supports it, or true/false"})
    use_liger_kernel: bool = field(default=False, metadata={"help": "Liger Triton kernels for RMSNorm, SwiGLU and RoPE (CUDA; needs the liger-kernel package)"})
    attn_implementation: str = field(default="sdpa", metadata={"help": "attention kernel: sdpa, eager or flash_attention_2"})
    assistant_only_loss: bool = field(default=True, metadata={"help": "loss on the assistant answer tokens only (training template with generation markers)"})
    # evaluation, checkpoints, resume
    eval_steps: int = field(default=50, metadata={"help": "evaluate (and checkpoint) every N optimizer steps; 0 = no evaluation during training"})
    early_stopping_patience: int = field(default=3, metadata={"help": "stop after this many evaluations without a better eval loss (0 = off)"})
    keep_best: bool = field(default=True, metadata={"help": "load the checkpoint with the lowest eval loss at the end (the saved adapter is the best one)"})
    save_steps: int = field(default=0, metadata={"help": "checkpoint every N steps when eval_steps is 0 (0 = only at the end)"})
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints kept on disk (the best one is always kept)"})
    resume: bool = field(default=False, metadata={"help": "resume from the last checkpoint in output_dir"})
    stop_after_steps: int = field(default=0, metadata={"help": "save a checkpoint and stop after N steps (time-boxed sessions; continue with resume=true); 0 = off"})
    logging_steps: int = field(default=10, metadata={"help": "log loss and LR every N steps"})
    seed: int = field(default=42, metadata={"help": "seed for LoRA init, dropout and data order"})


def load_sft_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> SFTConfig:
    """SFTConfig from the [sft] section of `path`, CLI overrides on top; values checked."""
    cfg = load_stage(SFTConfig, path, "sft", overrides)
    check(cfg)
    return cfg


def _tristate(value: Any, name: str) -> Any:
    if isinstance(value, bool) or value == "auto":
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise LexkzError(f"sft.{name} must be true, false or \"auto\", got {value!r}")


def check(cfg: SFTConfig) -> None:
    cfg.load_in_4bit = _tristate(cfg.load_in_4bit, "load_in_4bit")
    cfg.bf16 = _tristate(cfg.bf16, "bf16")
    if cfg.lr_schedule not in ("cosine", "flat_cosine"):
        raise LexkzError(f"sft.lr_schedule must be 'cosine' or 'flat_cosine', got {cfg.lr_schedule!r}")
    if cfg.effective_batch_size < cfg.per_device_batch_size or cfg.per_device_batch_size < 1:
        raise LexkzError(
            f"sft.effective_batch_size ({cfg.effective_batch_size}) must be >= per_device_batch_size "
            f"({cfg.per_device_batch_size}) >= 1"
        )
    if cfg.lora_r < 1 or cfg.max_length < 16:
        raise LexkzError("sft.lora_r must be >= 1 and sft.max_length >= 16")
    target_module_list(cfg)


def target_module_list(cfg: SFTConfig) -> list[str]:
    """The LoRA target module names for `cfg.target_modules`."""
    spec = cfg.target_modules.strip()
    if spec == "all":
        return ATTENTION_MODULES + MLP_MODULES
    if spec == "attention":
        return list(ATTENTION_MODULES)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise LexkzError("sft.target_modules is empty: use 'all', 'attention' or a comma list like 'q_proj,v_proj'")
    return names


@dataclass
class SFTDataConfig:
    """Settings of `lexkz finetune data` (the [sft_data] section): sources, cleaning, split, mode."""

    qa_files: list = field(default_factory=list, metadata={"help": "QA files: JSONL, CSV or datasets directories"})
    corpus_index: str = field(default="", metadata={"help": "index directory: article store for corpus-derived pairs and retrieval for rag mode"})
    corpus_dir: str = field(default="", metadata={"help": "corpus directory read directly for corpus-derived pairs (when no index is given)"})
    synthetic_per_template: int = field(default=0, metadata={"help": "corpus-derived pairs per template and language (0 = none)"})
    templates: list = field(default_factory=lambda: ["establishes", "which_article", "quote"], metadata={"help": "corpus-derived templates to use"})
    langs: list = field(default_factory=lambda: ["rus", "kaz"], metadata={"help": "languages kept"})
    mode: str = field(default="closed_book", metadata={"help": "'closed_book' (question -> answer) or 'rag' (RAFT: question + k retrieved articles -> answer citing the gold one)"})
    k: int = field(default=4, metadata={"help": "rag: articles in each RAFT training context (gold + distractors); the retriever finding them uses the [retrieval] section"})
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig, metadata={"section": "retrieval", "help": "the [retrieval] settings of the same TOML file (fusion weights, query cap, ...), as `lexkz ask` reads them"})
    p_gold: float = field(default=0.8, metadata={"help": "rag: probability that the gold article is among the k passages"})
    absent_gold: str = field(default="abstain", metadata={"help": "rag, gold left out: 'abstain' (answer says the articles do not answer) or 'keep' (original RAFT: same answer)"})
    context_chars: int = field(default=4000, metadata={"help": "rag: characters of each article shown in the context (keep equal to [generation] context_chars, so training and inference prompts match)"})
    split: str = field(default="grouped", metadata={"help": "'grouped' (no article in both train and eval) or 'random'"})
    eval_fraction: float = field(default=0.1, metadata={"help": "share of items in the eval split"})
    min_question_chars: int = field(default=8, metadata={"help": "drop questions shorter than this"})
    max_question_chars: int = field(default=2000, metadata={"help": "drop questions longer than this"})
    min_answer_chars: int = field(default=3, metadata={"help": "drop answers shorter than this"})
    max_answer_chars: int = field(default=4000, metadata={"help": "drop answers longer than this"})
    min_answer_words: int = field(default=2, metadata={"help": "answers with fewer words are trivial and dropped"})
    seed: int = field(default=0, metadata={"help": "seed for sampling, splits and RAFT draws"})
    out: str = field(default="runs/sft-data", metadata={"help": "output directory (must not exist yet)"})


def load_data_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> SFTDataConfig:
    cfg = load_stage(SFTDataConfig, path, "sft_data", overrides)
    if cfg.mode not in ("closed_book", "rag"):
        raise LexkzError(f"sft_data.mode must be 'closed_book' or 'rag', got {cfg.mode!r}")
    if cfg.split not in ("grouped", "random"):
        raise LexkzError(f"sft_data.split must be 'grouped' or 'random', got {cfg.split!r}")
    if cfg.absent_gold not in ("abstain", "keep"):
        raise LexkzError(f"sft_data.absent_gold must be 'abstain' or 'keep', got {cfg.absent_gold!r}")
    if not 0.0 <= cfg.p_gold <= 1.0 or not 0.0 <= cfg.eval_fraction < 1.0 or cfg.k < 1:
        raise LexkzError("sft_data: p_gold must be in [0, 1], eval_fraction in [0, 1), k >= 1")
    if cfg.mode == "rag" and not cfg.corpus_index:
        raise LexkzError("rag mode retrieves contexts from an index: pass --corpus-index DIR (build it with `lexkz index build`)")
    return cfg
