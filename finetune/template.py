"""The training chat template: the tokenizer's own Qwen3(-style) template plus
`{% generation %}` markers around the assistant ANSWER only.

trl's `assistant_only_loss=True` trains the tokens inside `{% generation %}...{% endgeneration %}`.
The stock Qwen3 template has no markers, and trl's own Qwen3 training template wraps the
`<think>\\n\\n</think>\\n\\n` block too, so the model would spend loss on the empty think block.
Here the markers go around the answer text and the closing `<|im_end|>` only; the text the
template renders stays byte-for-byte the same (checked on probe conversations), so the
model trains on exactly what inference (`enable_thinking=False`) shows it.

    from finetune.template import make_training_template, answer_mask
    tpl = make_training_template(tokenizer.chat_template, tokenizer)
"""

from __future__ import annotations

import re

from lexkz.errors import LexkzError

GEN_OPEN = "{%- generation %}"
GEN_CLOSE = "{%- endgeneration %}"
IM_END = "'<|im_end|>\\n'"  # the Jinja literal as it appears in the template source

# Probe conversations: the patched template must render them exactly as the original does.
PROBES = [
    [{"role": "user", "content": "Вопрос?"}, {"role": "assistant", "content": "Ответ: ст. 1."}],
    [
        {"role": "system", "content": "Система."},
        {"role": "user", "content": "Сұрақ?"},
        {"role": "assistant", "content": "Жауап."},
    ],
    [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
    ],
]


def _assistant_region(template: str) -> tuple[int, int]:
    """Start/end of the assistant branch of the message loop (up to the next role branch)."""
    start = re.search(r"message\.role\s*==\s*[\"']assistant[\"']\s*%\}", template)
    if not start:
        raise LexkzError(
            "the tokenizer's chat template has no `message.role == \"assistant\"` branch: it is not a "
            "Qwen3-style template; pass a template with {% generation %} markers instead"
        )
    nxt = re.search(r"\{%-?\s*elif\s+message\.role\s*==", template[start.end():])
    end = start.end() + nxt.start() if nxt else len(template)
    return start.end(), end


def _patch_region(region: str) -> str:
    # 1. the answer at the end of an output expression: `... + content.lstrip('\n') }}` / `+ content }}`
    region = re.sub(
        r"\s*\+\s*(content(?:\.lstrip\('\\n'\))?)\s*\}\}",
        lambda m: " }}" + GEN_OPEN + "{{- " + m.group(1) + " }}" + GEN_CLOSE,
        region,
    )
    # 2. answer and end-of-turn in one expression: `+ content + '<|im_end|>\n' }}`
    region = re.sub(
        r"\s*\+\s*content\s*\+\s*'<\|im_end\|>\\n'\s*\}\}",
        lambda m: " }}" + GEN_OPEN + "{{- content + '<|im_end|>' }}" + GEN_CLOSE + "{{- '\\n' }}",
        region,
    )
    # 3. a standalone end-of-turn: `{{- '<|im_end|>\n' }}` -> only <|im_end|> is trained, not the newline
    region = re.sub(
        r"\{\{-?\s*'<\|im_end\|>\\n'\s*\}\}",
        lambda m: GEN_OPEN + "{{- '<|im_end|>' }}" + GEN_CLOSE + "{{- '\\n' }}",
        region,
    )
    return region


def make_training_template(chat_template: str, tokenizer=None) -> str:
    """Return `chat_template` with generation markers around the assistant answer + <|im_end|>.

    With `tokenizer`, the result is checked: it renders the probe conversations exactly like
    the original, and its assistant mask is exactly each answer plus <|im_end|>. A template of
    another shape raises LexkzError instead of training on the wrong tokens.
    """
    if isinstance(chat_template, dict):
        chat_template = chat_template.get("default", "")
    if not chat_template:
        raise LexkzError("the tokenizer has no chat template: use a chat model's tokenizer (e.g. Qwen/Qwen3-8B)")
    if re.search(r"\{%-?\s*generation\s*-?%\}", chat_template):
        raise LexkzError(
            "the chat template already has {% generation %} markers; use it as is or start from the "
            "model's stock template (markers here would be nested)"
        )
    start, end = _assistant_region(chat_template)
    patched = chat_template[:start] + _patch_region(chat_template[start:end]) + chat_template[end:]
    if patched == chat_template:
        raise LexkzError("could not find the assistant answer in the chat template: not a Qwen3-style template")
    if tokenizer is not None:
        check_training_template(tokenizer, chat_template, patched)
    return patched


def answer_mask(tokenizer, messages: list[dict], chat_template: str) -> tuple[list[int], list[int]]:
    """Token ids of the rendered conversation and its assistant mask (1 = trained)."""
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, chat_template=chat_template
    )
    return list(out["input_ids"]), list(out["assistant_masks"])


def check_training_template(tokenizer, original: str, patched: str) -> None:
    """Raise LexkzError unless `patched` renders like `original` and masks exactly the answers."""
    for probe in PROBES:
        a = tokenizer.apply_chat_template(probe, tokenize=False, chat_template=original)
        b = tokenizer.apply_chat_template(probe, tokenize=False, chat_template=patched)
        if a != b:
            raise LexkzError(
                "the training template renders differently from the tokenizer's template "
                f"({a[-80:]!r} vs {b[-80:]!r}); pass a template with {{% generation %}} markers"
            )
        ids, mask = answer_mask(tokenizer, probe, patched)
        trained = tokenizer.decode([t for t, m in zip(ids, mask) if m])
        wanted = "".join(m["content"] + "<|im_end|>" for m in probe if m["role"] == "assistant")
        if trained != wanted:
            raise LexkzError(
                f"the training template masks {trained!r} instead of the answers {wanted!r}; "
                "the template is not Qwen3-style, pass one with {% generation %} markers"
            )
