"""Generator backends with real components: the tiny random Qwen3 through HfGenerator
(left-padded batches == one by one under greedy decoding, seeding, a trained LoRA adapter,
refusals), and the extractive generator on real prompts. Outputs of the tiny random model
are plumbing checks, never results."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from graph.config import GenerationConfig
from graph.generators import ExtractiveGenerator, HfGenerator, make_generator, strip_thinking
from graph.generators.hf import same_base_model
from graph.prompts import build_messages, parse_context_blocks, prompt_id
from lexkz.errors import LexkzError


QUESTIONS = [
    "Сколько дней отпуска?",
    "Что такое трудовой договор и как его заключают в письменной форме в двух экземплярах?",
    "Кража",
    "Жыл сайынғы еңбек демалысы қанша күн?",
]
HITS = [
    {"act_title": "Трудовой кодекс Тестовой Республики", "number": "88", "title": "Ежегодный отпуск",
     "text": "Работникам предоставляется ежегодный оплачиваемый трудовой отпуск продолжительностью "
             "двадцать четыре календарных дня. Отпуск может быть разделен на части по соглашению сторон."},
    {"act_title": "Трудовой кодекс Тестовой Республики", "number": "2", "title": "Трудовой договор",
     "text": "Трудовой договор заключается в письменной форме в двух экземплярах."},
]


def messages(q):
    return [{"role": "user", "content": q}]


@pytest.fixture(scope="module")
def greedy(varied_tiny_dir):
    return HfGenerator(GenerationConfig(model=str(varied_tiny_dir), do_sample=False, max_new_tokens=8, batch_size=4))


def test_batched_and_one_by_one_greedy_are_identical(greedy):
    batch = [messages(q) for q in QUESTIONS]
    together = greedy.generate(batch)
    alone = [greedy.generate([m], batch_size=1)[0] for m in batch]
    assert [r.extra["token_ids"] for r in together] == [r.extra["token_ids"] for r in alone]
    assert [r.text for r in together] == [r.text for r in alone]
    # the comparison is not vacuous: the prompts have different lengths (so padding is
    # exercised) and give different continuations
    lengths = [r.prompt_tokens for r in together]
    assert len(set(lengths)) == len(lengths)
    assert len({tuple(r.extra["token_ids"]) for r in together}) == len(QUESTIONS)
    assert all(r.completion_tokens == 8 or r.finish_reason == "stop" for r in together)


def test_right_padding_would_change_outputs(greedy):
    """Control for the test above: the same batch right-padded gives other tokens, so the
    identity there really depends on left padding and correct position ids."""
    tok, model = greedy.tokenizer, greedy.model
    texts = greedy.prompt_texts([messages(q) for q in QUESTIONS])
    enc = tok(texts, return_tensors="pt", padding=True, padding_side="right", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    right = [row[enc["input_ids"].shape[1]:].tolist() for row in out]
    left = [r.extra["token_ids"] for r in greedy.generate([messages(q) for q in QUESTIONS])]
    assert any(r[: len(l)] != l for r, l in zip(right, left))


def test_chat_template_disables_thinking(greedy):
    (text,) = greedy.prompt_texts([messages("Вопрос")])
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_sampling_is_seeded(greedy):
    batch = [messages(QUESTIONS[0])]
    a = greedy.generate(batch, do_sample=True, temperature=1.5, top_p=1.0, seed=7, max_new_tokens=6)[0].extra["token_ids"]
    b = greedy.generate(batch, do_sample=True, temperature=1.5, top_p=1.0, seed=7, max_new_tokens=6)[0].extra["token_ids"]
    others = {tuple(greedy.generate(batch, do_sample=True, temperature=1.5, top_p=1.0, seed=s, max_new_tokens=6)[0].extra["token_ids"])
              for s in (1, 2)}
    assert a == b
    assert len(others | {tuple(a)}) > 1
    # temperature 0 means greedy even with do_sample on
    zero = greedy.generate(batch, do_sample=True, temperature=0, seed=3, max_new_tokens=6)[0].extra["token_ids"]
    assert zero == greedy.generate(batch, max_new_tokens=6)[0].extra["token_ids"]


def test_default_decoding_settings():
    cfg = GenerationConfig()
    assert (cfg.temperature, cfg.top_p, cfg.do_sample) == (0.1, 0.9, True)
    assert make_generator(cfg).name == "extractive"  # no model configured
    hf = make_generator(GenerationConfig(backend="hf"))
    assert hf.name == "hf" and hf.cfg.model == "Qwen/Qwen3-8B" and hf.model is None  # lazy: nothing loaded
    with pytest.raises(LexkzError, match="unknown generator backend"):
        make_generator(GenerationConfig(backend="gpt"))


def test_tiny_model_runs_in_float32_and_is_labelled(greedy):
    info = greedy.info()
    assert info["tiny_random"] is True and info["dtype"] == "float32" and info["quantization"] is None


def _logits(gen, text="Сколько дней отпуска?"):
    gen.load()
    ids = gen.tokenizer(gen.prompt_texts([messages(text)]), return_tensors="pt")
    with torch.inference_mode():
        return gen.model(**ids).logits[0, -1]


def test_lora_adapter_loads_and_changes_the_model(varied_tiny_dir, tiny_adapter_dir, greedy):
    tuned = HfGenerator(GenerationConfig(model=str(varied_tiny_dir), adapter=str(tiny_adapter_dir),
                                         do_sample=False, max_new_tokens=12))
    assert not torch.allclose(_logits(tuned), _logits(greedy), atol=1e-4)
    assert tuned.info()["adapter"] == str(tiny_adapter_dir)
    # still batch-consistent with the adapter on
    batch = [messages(q) for q in QUESTIONS[:3]]
    assert [r.text for r in tuned.generate(batch)] == [tuned.generate([m])[0].text for m in batch]


def test_adapter_for_another_base_model_is_refused(varied_tiny_dir, tiny_adapter_dir, tmp_path):
    other = tmp_path / "other_adapter"
    shutil.copytree(tiny_adapter_dir, other)
    cfg_file = other / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["base_model_name_or_path"] = "Qwen/Qwen3-8B"
    cfg_file.write_text(json.dumps(cfg))
    gen = HfGenerator(GenerationConfig(model=str(varied_tiny_dir), adapter=str(other)))
    with pytest.raises(LexkzError, match="trained for base model 'Qwen/Qwen3-8B'") as err:
        gen.generate([messages("x")])
    assert err.value.exit_code == 4 and "--model Qwen/Qwen3-8B" in str(err.value)
    assert gen.model is None  # refused before loading any weights


def test_missing_model_and_adapter(varied_tiny_dir, tmp_path):
    with pytest.raises(LexkzError, match="model not found") as err:
        HfGenerator(GenerationConfig(model=str(tmp_path / "no-model"))).check()
    assert err.value.exit_code == 3
    with pytest.raises(LexkzError, match="adapter not found"):
        HfGenerator(GenerationConfig(model=str(varied_tiny_dir), adapter=str(tmp_path / "none"))).check()
    (tmp_path / "empty").mkdir()
    with pytest.raises(LexkzError, match="adapter_config.json is missing"):
        HfGenerator(GenerationConfig(model=str(varied_tiny_dir), adapter=str(tmp_path / "empty"))).check()


def test_same_base_model_rules(tmp_path):
    assert same_base_model("Qwen/Qwen3-8B", "Qwen/Qwen3-8B")
    assert same_base_model("Qwen/Qwen3-8B", "/models/Qwen3-8B")  # a local copy of the hub model
    assert not same_base_model("Qwen/Qwen3-8B", "Qwen/Qwen3-4B")
    a, b = tmp_path / "a" / "m", tmp_path / "b" / "m2"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    assert not same_base_model(str(a), str(b))
    assert same_base_model(str(a), str(tmp_path / "a" / ".." / "a" / "m"))


def test_extractive_quotes_the_best_sentences_with_citations():
    msgs = build_messages("Сколько дней длится ежегодный отпуск?", HITS, "rus", "rag")
    question, blocks = parse_context_blocks(msgs)
    assert question == "Сколько дней длится ежегодный отпуск?" and [b["n"] for b in blocks] == [1, 2]
    gen = ExtractiveGenerator(GenerationConfig(extractive_sentences=1))
    (res,) = gen.generate([msgs])
    assert "[1] Трудовой кодекс Тестовой Республики, ст. 88. Ежегодный отпуск:" in res.text
    assert "«Работникам предоставляется ежегодный оплачиваемый трудовой отпуск" in res.text
    assert "разделен" not in res.text  # the less relevant sentence was not quoted
    assert res.completion_tokens > 0 and res.prompt_tokens > res.completion_tokens


def test_extractive_without_context_says_so():
    (res,) = ExtractiveGenerator().generate([build_messages("Сколько дней отпуска?", [], "rus", "closed_book")])
    assert "Найденных статей нет" in res.text
    (kaz,) = ExtractiveGenerator().generate([build_messages("Демалыс қанша күн?", [], "kaz", "rag")])
    assert "Табылған баптар жоқ" in kaz.text


def test_prompts_number_blocks_and_record_ids():
    msgs = build_messages("Демалыс қанша күн?", HITS, "kaz", "rag")
    assert "[1] Трудовой кодекс Тестовой Республики, 88-бап. Ежегодный отпуск" in msgs[1]["content"]
    assert "[2]" in msgs[1]["content"] and "Сұрақ: Демалыс қанша күн?" in msgs[1]["content"]
    assert "[n]" in msgs[0]["content"] and "бабы" in msgs[0]["content"]
    closed = build_messages("Сколько?", HITS, "rus", "closed_book")
    assert "[1]" not in closed[1]["content"] and "ст. N" in closed[0]["content"]
    assert {prompt_id(l, m) for l in ("rus", "kaz") for m in ("rag", "closed_book")} == {
        "rag_rus_v1", "rag_kaz_v1", "closed_book_rus_v1", "closed_book_kaz_v1"}


def test_strip_thinking():
    assert strip_thinking("<think>\nhmm\n</think>\n\nОтвет") == "Ответ"
    assert strip_thinking("</think> Ответ") == "Ответ"
    assert strip_thinking("Ответ") == "Ответ"
