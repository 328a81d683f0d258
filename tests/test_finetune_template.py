"""The training template: generation markers around the answer only, checked token by token."""

from __future__ import annotations

from pathlib import Path

import pytest

from finetune.template import answer_mask, make_training_template
from lexkz.errors import LexkzError

MESSAGES = [
    {"role": "system", "content": "Отвечай по закону."},
    {"role": "user", "content": "Сколько дней отпуска?"},
    {"role": "assistant", "content": "24 календарных дня (ст. 88 ТК РК)."},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def stock_qwen3_template() -> str:
    """The stock Qwen3 chat template as trl ships it (identical to Qwen/Qwen3-8B's)."""
    import trl.chat_template_utils as ctu

    return (Path(ctu.__file__).parent / "chat_templates" / "qwen3.jinja").read_text(encoding="utf-8")


def expected_mask(tokenizer, messages, template) -> tuple[list[int], list[int]]:
    """Mask built independently from character offsets: 1 exactly on the answer + <|im_end|>."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template)
    answer = messages[-1]["content"] + "<|im_end|>"
    start = text.rindex(answer)
    end = start + len(answer)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [1 if s >= start and e <= end else 0 for s, e in enc["offset_mapping"]]
    return enc["input_ids"], mask


@pytest.mark.parametrize("which", ["tiny", "stock_qwen3"])
def test_mask_is_exactly_the_answer_token_by_token(tokenizer, which):
    original = tokenizer.chat_template if which == "tiny" else stock_qwen3_template()
    training = make_training_template(original, tokenizer)
    # the training template renders exactly what the model sees at inference
    assert tokenizer.apply_chat_template(MESSAGES, tokenize=False, chat_template=training) == \
        tokenizer.apply_chat_template(MESSAGES, tokenize=False, chat_template=original)
    ids, mask = answer_mask(tokenizer, MESSAGES, training)
    want_ids, want_mask = expected_mask(tokenizer, MESSAGES, training)
    assert ids == want_ids
    tokens = tokenizer.convert_ids_to_tokens(ids)
    for i, (tok, got, want) in enumerate(zip(tokens, mask, want_mask)):
        assert got == want, f"token {i} {tok!r}: mask {got}, expected {want}"
    trained = [t for t, m in zip(tokens, mask) if m]
    assert trained[-1] == "<|im_end|>"
    assert "<think>" not in trained and "</think>" not in trained and "<|im_start|>" not in trained
    # every prompt token (system, user, assistant header, empty think block) is untrained
    think_end = max(i for i, t in enumerate(tokens) if t == "</think>")
    assert not any(mask[: think_end + 3])  # "</think>" and the two "\n" after it
    assert tokenizer.decode([t for t, m in zip(ids, mask) if m]) == MESSAGES[-1]["content"] + "<|im_end|>"


def test_trl_labels_follow_the_mask(tiny_model_dir, tokenizer, tmp_path):
    """What trl's SFTTrainer actually trains: labels != -100 only on the answer + <|im_end|>."""
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    tok = tokenizer.__class__.from_pretrained(tiny_model_dir)
    tok.chat_template = make_training_template(tok.chat_template, tok)
    args = trl.SFTConfig(output_dir=str(tmp_path / "trl_probe"), assistant_only_loss=True, report_to="none",
                         use_cpu=True, max_length=512, activation_checkpointing=False)
    trainer = trl.SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), args=args,
                             train_dataset=Dataset.from_list([{"messages": MESSAGES}]), processing_class=tok)
    row = trainer.train_dataset[0]
    labels = row.get("labels") or [t if m else -100 for t, m in zip(row["input_ids"], row["assistant_masks"])]
    trained = [t for t, lab in zip(row["input_ids"], labels) if lab != -100]
    assert tok.decode(trained) == MESSAGES[-1]["content"] + "<|im_end|>"


def test_without_markers_trl_would_train_the_think_block(tokenizer):
    """Control: trl's own Qwen3 training template puts the empty think block in the loss."""
    import trl.chat_template_utils as ctu

    trl_tpl = (Path(ctu.__file__).parent / "chat_templates" / "qwen3_training.jinja").read_text(encoding="utf-8")
    ids, mask = answer_mask(tokenizer, MESSAGES, trl_tpl)
    trained = tokenizer.convert_ids_to_tokens([t for t, m in zip(ids, mask) if m])
    assert "<think>" in trained  # this is what make_training_template avoids


def test_refuses_templates_it_does_not_understand(tokenizer):
    with pytest.raises(LexkzError, match="assistant"):
        make_training_template("{% for m in messages %}{{ m.content }}{% endfor %}", tokenizer)
    with pytest.raises(LexkzError, match="already has"):
        make_training_template("{% generation %}x{% endgeneration %}", tokenizer)
    with pytest.raises(LexkzError, match="no chat template"):
        make_training_template("", tokenizer)
