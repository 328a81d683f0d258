"""SFT data: QA field mapping, line-numbered skips, cleaning counts, grouped split without leakage,
RAFT contexts (gold rate ~ p) on a real index of the made-up corpus, corpus-derived pairs from the
real corpus (skipped when absent), the saved dataset and its card."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter

import pytest

from finetune.config import SFTDataConfig, load_data_config
from finetune.data_build import ABSTAIN, build_dataset, clean, leakage, make_examples, split_items
from finetune.data_corpus import TEMPLATES, corpus_pairs
from finetune.data_load import load_qa_file
from lexkz.errors import LexkzError
from tests.fixture_corpus import CONSUMER, LABOUR


def write_jsonl(path, lines):
    path.write_text("\n".join(l if isinstance(l, str) else json.dumps(l, ensure_ascii=False) for l in lines) + "\n",
                    encoding="utf-8")
    return path


# ---------------------------------------------------------------- loading
def test_field_mapping_jsonl(tmp_path):
    f = write_jsonl(tmp_path / "qa.jsonl", [
        {"instruction": "Ответь на вопрос", "input": "Сколько дней отпуска?", "output": "24 календарных дня."},
        {"question": "Что такое кража?", "reference_answer": "Тайное хищение.", "act_code": "K1400000226", "article": 188, "lang": "ru"},
        {"question": "Еңбек шарты қалай жасалады?", "answer": "Жазбаша нысанда жасалады."},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Срок ответа?"},
                      {"role": "assistant", "content": "Десять дней."}], "id": "m1", "lang": "kk"},
    ])
    items, skipped = load_qa_file(f)
    assert skipped == []
    a, b, c, d = items
    assert a["question"] == "Ответь на вопрос\n\nСколько дней отпуска?" and a["answer"] == "24 календарных дня."
    assert a["lang"] == "rus" and a["id"] == "qa:line1" and a["source"] == "qa.jsonl" and a["label"] == "qa"
    assert (b["answer"], b["act_code"], b["article"], b["lang"]) == ("Тайное хищение.", "K1400000226", "188", "rus")
    assert c["lang"] == "kaz"  # detected from the Kazakh letters
    assert (d["question"], d["answer"], d["id"], d["lang"]) == ("Срок ответа?", "Десять дней.", "m1", "kaz")


def test_field_mapping_csv_and_datasets_dir(tmp_path):
    from datasets import Dataset, DatasetDict

    path = tmp_path / "qa.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "answer", "act_code", "article"])
        w.writerow(["Какой срок?", "Один месяц, многострочный\nответ.", "TEST000001", "113"])
        w.writerow(["", "ответ без вопроса", "", ""])
    items, skipped = load_qa_file(path)
    assert [(i["question"], i["article"]) for i in items] == [("Какой срок?", "113")]
    assert "\n" in items[0]["answer"]
    assert skipped == [{"file": str(path), "line": "line 4", "reason": "empty question"}]  # the record after the 2-line one

    ds_dir = tmp_path / "ds"
    DatasetDict({"train": Dataset.from_list([{"question": "Вопрос один?", "answer": "Ответ один."},
                                             {"question": "Вопрос два?", "answer": ""}])}).save_to_disk(str(ds_dir))
    items, skipped = load_qa_file(ds_dir)
    assert [i["question"] for i in items] == ["Вопрос один?"]
    assert skipped[0]["line"] == "train row 2" and skipped[0]["reason"] == "empty answer"


def test_broken_lines_are_reported_with_their_numbers(tmp_path):
    f = write_jsonl(tmp_path / "bad.jsonl", [
        {"question": "Хороший вопрос?", "answer": "Хороший ответ."},
        '{"question": "обрыв',
        '["not", "an", "object"]',
        {"question": "Нет ответа?"},
        {"text": "ни вопроса ни ответа"},
        {"question": "Язык?", "answer": "Какой-то ответ.", "lang": "de"},
        {"messages": [{"role": "user", "content": "только вопрос"}]},
        {"question": "Последний?", "answer": "Последний ответ."},
    ])
    items, skipped = load_qa_file(f)
    assert [i["id"] for i in items] == ["bad:line1", "bad:line8"]
    by_line = {s["line"]: s["reason"] for s in skipped}
    assert list(by_line) == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7"]
    assert by_line["line 2"].startswith("invalid JSON")
    assert "expected a JSON object" in by_line["line 3"]
    assert "no answer field" in by_line["line 4"]
    assert "no question field" in by_line["line 5"]
    assert "unknown language" in by_line["line 6"]
    assert "no assistant turn" in by_line["line 7"]
    with pytest.raises(LexkzError, match="not found") as exc:
        load_qa_file(tmp_path / "missing.jsonl")
    assert exc.value.exit_code == 3


# ---------------------------------------------------------------- cleaning and splits
def item(i, q, a, act="A", art=None, lang="rus"):
    return {"id": str(i), "question": q, "answer": a, "lang": lang, "act_code": act, "article": art,
            "source": "t", "label": "qa"}


def test_cleaning_counts_each_step():
    items = [
        item(1, "Сколько дней отпуска?", "Двадцать четыре дня."),
        item(2, "сколько  дней ОТПУСКА", "Другой ответ тоже."),       # duplicate after normalisation
        item(3, "Кратко?", "Слишком короткий вопрос."),              # question too short (7 < 8 chars)
        item(4, "Можно ли уволиться?", "Да."),                      # trivial answer
        item(5, "Сколько стоит справка?", "Бесплатно"),             # one word: trivial
        item(6, "Что такое договор?", "Соглашение двух сторон."),
        item(7, "Какой язык?", "Ответ на казахском.", lang="kaz"),
    ]
    kept, counts = clean(items, SFTDataConfig(langs=["rus"]))
    assert counts == {"loaded": 7, "after_language_filter": 6, "after_dedup": 5, "after_length_filter": 4,
                      "after_trivial_filter": 2}
    assert [k["id"] for k in kept] == ["1", "6"]


def test_grouped_split_has_zero_leakage_random_split_leaks():
    rng = random.Random(1)
    items = [item(i, f"Вопрос номер {i}?", f"Ответ номер {i} здесь.", art=str(rng.randrange(30))) for i in range(300)]
    items += [item(1000 + i, f"Без статьи {i}?", "Ответ без статьи.") for i in range(20)]
    train, eval_, report = split_items(items, "grouped", 0.2, seed=0)
    assert report["leakage"] == 0.0 and report["leaked_items"] == 0 and report["eval_items_with_article"] > 30
    assert abs(len(eval_) - 64) <= 15 and len(train) + len(eval_) == 320
    assert not {i["article"] for i in train if i["article"]} & {i["article"] for i in eval_ if i["article"]}
    _, _, rand = split_items(items, "random", 0.2, seed=0)
    assert rand["leakage"] > 0.5  # the same items split at random share articles: the metric can fail
    assert leakage(items[:10], items[:10])["leakage"] == 1.0


# ---------------------------------------------------------------- RAFT on a real index
@pytest.fixture(scope="module")
def fixture_index(fixture_corpus, tmp_path_factory):
    from index.build import build_index
    from index.config import IndexConfig

    d = tmp_path_factory.mktemp("ft_index") / "index"
    build_index(fixture_corpus, d, IndexConfig(embedding="hashing:256"), progress=False)
    return d


def test_raft_gold_rate_is_about_p_and_answers_cite_the_gold(fixture_index):
    from index.store import open_index
    from retrieval.hybrid import HybridRetriever

    index = open_index(fixture_index)
    retriever = HybridRetriever(index)
    base = corpus_pairs(index.articles.iter_articles(), per_template=50, templates=["establishes"], seed=0)
    assert len(base) >= 10
    items = [dict(it, id=f"{it['id']}#{r}") for r in range(400 // len(base) + 1) for it in base][:400]
    cfg = SFTDataConfig(mode="rag", corpus_index=str(fixture_index), k=3, p_gold=0.7)
    examples, no_gold = make_examples(items, cfg, random.Random(0), index.articles, retriever)
    assert no_gold == 0 and len(examples) == 400
    rate = sum(e["gold_in_context"] for e in examples) / len(examples)
    assert abs(rate - 0.7) < 0.07, rate  # binomial sd ~0.023
    for e in examples:
        assert len(e["context_ids"]) == 3 and len(set(e["context_ids"])) == 3
        assert (e["gold_article_id"] in e["context_ids"]) == e["gold_in_context"]
        user = e["messages"][1]["content"]
        assert user.startswith("Контекст:")  # both languages label the context so
        assert e["messages"][-1]["role"] == "assistant" and e["prompt_id"] == f"rag_{e['lang']}_v1"
        if e["gold_in_context"]:
            number = e["gold_article_id"].split("/")[1]
            assert number in e["answer"]
        else:
            assert e["answer"] == ABSTAIN[e["lang"]]


def test_build_dataset_rag_end_to_end(fixture_index, tmp_path):
    qa = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "Сколько дней длится ежегодный отпуск?", "answer": "Двадцать четыре календарных дня.",
         "act_code": LABOUR, "article": "88", "lang": "ru"},
        {"question": "Что может потребовать потребитель при недостатках товара?", "answer": "Замены товара или возврата денег.",
         "act_code": CONSUMER, "article": "30"},
        {"question": "Вопрос без статьи о налогах?", "answer": "Ответа в корпусе нет вообще."},
        "{broken",
    ])
    cfg = load_data_config(None, {"qa_files": [str(qa)], "corpus_index": str(fixture_index), "mode": "rag",
                                  "synthetic_per_template": 3, "k": 2, "p_gold": 1.0, "out": str(tmp_path / "data")})
    card = build_dataset(cfg)
    out = tmp_path / "data"
    train = [json.loads(l) for l in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    eval_ = [json.loads(l) for l in (out / "eval.jsonl").read_text(encoding="utf-8").splitlines()]
    assert card["counts"]["train"] == len(train) and card["counts"]["eval"] == len(eval_)
    assert card["rag"]["dropped_without_gold"]["train"] + card["rag"]["dropped_without_gold"]["eval"] == 1
    assert card["rag"]["gold_rate_observed"] == 1.0 and card["split"]["leakage"] == 0.0
    assert card["skipped_count"] == 1 and card["skipped"][0]["line"] == "line 4"
    assert card["mode"] == "rag" and card["seed"] == 0 and card["sources"][0]["sha256"]
    labels = Counter(e["label"] for e in train + eval_)
    assert labels["qa"] == 2 and labels["synthetic"] > 0
    leave = next(e for e in train + eval_ if e["article"] == "88" and e["label"] == "qa")
    assert "ст. 88" in leave["answer"] and f"{LABOUR}/88/rus" in leave["context_ids"]
    from datasets import load_from_disk

    ds = load_from_disk(str(out / "dataset"))
    assert ds["train"].num_rows == len(train) and ds["train"][0]["messages"][0]["role"] == "system"
    assert "RAFT" in (out / "DATA_CARD.md").read_text(encoding="utf-8")
    with pytest.raises(LexkzError, match="already exists") as exc:  # never overwritten
        build_dataset(cfg)
    assert exc.value.exit_code == 4


def test_cli_data_errors(tmp_path, capsys):
    from lexkz.cli import main

    assert main(["finetune", "data", "--qa", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 3
    assert "QA file not found" in capsys.readouterr().err
    assert main(["finetune", "data", "--qa", "x.jsonl", "--mode", "rag", "--out", str(tmp_path / "o")]) == 2
    assert "--corpus-index" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_closed_book_cli_on_fixture_corpus(fixture_corpus, tmp_path):
    from lexkz.cli import main

    out = tmp_path / "cb"
    assert main(["finetune", "data", "--corpus-dir", str(fixture_corpus), "--synthetic", "5",
                 "--mode", "closed_book", "--out", str(out)]) == 0
    rows = [json.loads(l) for l in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and all(r["mode"] == "closed_book" and len(r["messages"]) == 3 for r in rows)
    assert all("Контекст" not in r["messages"][1]["content"] for r in rows)
    assert {r["lang"] for r in rows} == {"rus", "kaz"}


# ---------------------------------------------------------------- the real corpus
def test_corpus_pairs_from_the_real_corpus(shared_corpus):
    from index.ingest import read_corpus

    snapshot = read_corpus(shared_corpus)
    known = {a.id: a for a in snapshot.articles}
    pairs = corpus_pairs(snapshot.articles, per_template=30, seed=3)
    by = Counter((p["lang"], p["template"]) for p in pairs)
    assert set(by) == {(lang, t) for lang in ("rus", "kaz") for t in TEMPLATES}
    assert all(n == 30 for n in by.values())
    for p in pairs:
        assert p["label"] == "synthetic" and p["source"] == "synthetic"
        art = known[p["id"].split(":", 2)[2]]
        assert art.status == "in_force" and art.number == p["article"] and art.act_code == p["act_code"]
        marker = f"{art.number}-ба" if p["lang"] == "kaz" else f"ст. {art.number} "
        assert marker in p["answer"], p["answer"]
        if p["template"] == "quote":
            quote = p["question"].split("«")[-1].rstrip("»?")
            assert quote[:40] in " ".join(art.text.split())


def test_shipped_configs_load_with_the_seed_defaults():
    from pathlib import Path

    from finetune.config import load_sft_config

    root = Path(__file__).resolve().parent.parent / "configs"
    paper = load_sft_config(root / "paper.toml")
    assert (paper.model, paper.lora_r, paper.lora_alpha, paper.lora_dropout) == ("Qwen/Qwen3-8B", 16, 32, 0.05)
    assert (paper.learning_rate, paper.lr_schedule, paper.num_epochs, paper.effective_batch_size) == (2e-4, "cosine", 3, 8)
    assert paper.target_modules == "all" and paper.gradient_checkpointing and paper.load_in_4bit == "auto"
    assert load_data_config(root / "paper.toml").mode == "rag"
    tiny = load_sft_config(root / "tiny.toml")
    assert tiny.model == ".lexkz/tiny-qwen3" and tiny.max_steps > 0
    assert load_data_config(root / "tiny.toml").mode == "closed_book"
