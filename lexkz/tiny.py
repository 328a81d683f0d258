"""Build a tiny random Qwen3 (+ a locally trained byte-level BPE tokenizer with a
Qwen3-style chat template) for CPU smoke runs and tests. No download involved.

    lexkz tiny-model --out .lexkz/tiny-qwen3          # or: python -m lexkz.tiny --out DIR

Scores of this model are plumbing checks, never results: its weights are random.
The saved config carries `"lexkz_tiny_random": true` so reports can say so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# A Qwen3-style template: ChatML turns; the last assistant turn carries an (empty)
# think block; the generation prompt adds an empty think block when enable_thinking=False.
# Like the stock Qwen3 template it has no {% generation %} markers (finetune adds them).
QWEN3_STYLE_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message.role == 'system' %}"
    "{{- '<|im_start|>system\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'user' %}"
    "{{- '<|im_start|>user\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' %}"
    "{%- set content = message.content %}"
    "{%- if '</think>' in content %}{%- set content = content.split('</think>')[-1].lstrip('\\n') %}{%- endif %}"
    "{%- if loop.last %}"
    "{{- '<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n' + content + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

# Made-up training text for the tokenizer (Russian, Kazakh, a little English). Byte-level
# BPE encodes any text, so this only shapes which merges exist.
_TOKENIZER_TEXT = [
    "Статья 1. Основные понятия, используемые в настоящем Кодексе.",
    "Работник имеет право на ежегодный оплачиваемый трудовой отпуск продолжительностью двадцать четыре календарных дня.",
    "Трудовой договор заключается в письменной форме в двух экземплярах.",
    "Кража, то есть тайное хищение чужого имущества, наказывается штрафом или лишением свободы.",
    "Потребитель вправе требовать замены товара ненадлежащего качества.",
    "Согласно ст. 113 Трудового кодекса РК, а также п. 2 ст. 30 Закона о защите прав потребителей.",
    "1-бап. Осы Кодексте пайдаланылатын негізгі ұғымдар.",
    "Қызметкер жыл сайынғы ақы төленетін еңбек демалысына құқылы.",
    "Қазақстан Республикасының Конституциясы. Азаматтың құқықтары мен бостандықтары.",
    "Еңбек шарты жазбаша нысанда жасалады. 113-бап, 22-бабы.",
    "Answer only from the context and cite the articles. Ответ: согласно статье 22.",
    "0 1 2 3 4 5 6 7 8 9 10 100 2015 2026 тенге МРП %",
]


def build_tokenizer(out_dir: Path, vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_TOKENIZER_TEXT * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = QWEN3_STYLE_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_qwen3(out_dir: str | Path, seed: int = 0, hidden_size: int = 64, layers: int = 2,
                     init_std: float | None = None) -> Path:
    """Write a tiny random Qwen3ForCausalLM + tokenizer to `out_dir` and return the path.
    `init_std` redraws the weights at that scale (see `redraw_weights`)."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out)
    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=40960,  # as Qwen3-8B: RAG prompts of the byte-level tiny tokenizer run long
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    config.lexkz_tiny_random = True
    model = Qwen3ForCausalLM(config)
    if init_std:
        redraw_weights(model, init_std, seed + 1)
    model.generation_config = GenerationConfig(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, do_sample=False
    )
    model.save_pretrained(out)
    (out / "LEXKZ_TINY.json").write_text(
        json.dumps({"lexkz_tiny_random": True, "note": "random weights: plumbing checks only, never results"}) + "\n"
    )
    return out


def redraw_weights(model, std: float, seed: int = 1) -> None:
    """Redraw every weight matrix of `model` from N(0, std) in place. At the default init
    (std 0.02) the tiny model answers every prompt with the same special token (empty
    answers), which makes identity checks vacuous; std 0.3 gives prompt-dependent text."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, std, generator=gen)


def varied_copy(model_dir: str | Path, out_dir: str | Path, std: float = 0.3, seed: int = 1) -> Path:
    """Copy a tiny model (tokenizer and marker files too) with its weights redrawn at `std`."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    model_dir, out = Path(model_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    redraw_weights(model, std, seed)
    model.save_pretrained(out)
    for f in model_dir.iterdir():  # tokenizer files and the LEXKZ_TINY.json marker
        if f.is_file() and not (out / f.name).exists():
            shutil.copy(f, out / f.name)
    return out


def train_tiny_adapter(model_dir: str | Path, out_dir: str | Path, steps: int = 8) -> tuple[Path, list[float]]:
    """A real LoRA adapter for a tiny model: `steps` AdamW steps on one chat example (lora_B
    starts at zero, so only training makes it change the model). Returns (adapter dir, losses)."""
    import torch
    from peft import get_peft_model

    from finetune.qlora import lora_config
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(model, lora_config(r=4, alpha=16, dropout=0.0, targets=["q_proj", "v_proj", "o_proj"]))
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Сколько дней отпуска?"},
         {"role": "assistant", "content": "Двадцать четыре календарных дня, ст. 88 Трудового кодекса."}],
        tokenize=False)
    batch = tok(text, return_tensors="pt")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-2)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    out = Path(out_dir)
    model.save_pretrained(out)
    return out, losses


def is_tiny_random(model_path: str | Path | None) -> bool:
    """True when `model_path` is a tiny random model built here (its outputs are plumbing checks)."""
    return model_path is not None and (Path(model_path) / "LEXKZ_TINY.json").is_file()


def register(sub) -> None:
    p = sub.add_parser("tiny-model", help="build a tiny random Qwen3 + tokenizer for CPU smoke runs")
    p.add_argument("--out", default=".lexkz/tiny-qwen3", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-std", type=float, default=None,
                   help="redraw weights at this std (0.3 gives prompt-dependent text instead of empty answers)")
    p.set_defaults(func=lambda a: print(build_tiny_qwen3(a.out, seed=a.seed, init_std=a.init_std)) or 0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(build_tiny_qwen3(a.out, seed=a.seed))
