"""Make an SFT dataset: QA files + corpus-derived pairs -> cleaning -> split -> chat examples -> disk.

    lexkz finetune data --qa qa.jsonl [--corpus-index INDEX] --mode closed_book|rag --out runs/sft-data
    python -m finetune.data_build --qa qa.jsonl --corpus-dir ../shared/corpus --synthetic 50 --out runs/d

Steps (counts after each are printed and kept in the data card):
  load      QA files (every skipped line with its number and reason) + corpus-derived pairs
  clean     normalised de-duplication of questions, length filters, trivial answers dropped
  split     random, or grouped by article (no article in both splits); leakage = share of eval
            items whose gold article is also in train
  mode      closed_book: question -> answer; rag (RAFT): question + k retrieved articles -> answer
            citing the gold article; the gold is among the k with probability p_gold, the rest
            are distractors. Prompts come from graph.prompts.build_messages (as at inference).
  save      OUT/train.jsonl, OUT/eval.jsonl, OUT/dataset (datasets DatasetDict), OUT/data_card.json
            and OUT/DATA_CARD.md (counts, sources, seed, mode). OUT is written under a temporary
            name and renamed at the end, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

from finetune.config import SFTDataConfig, load_data_config
from finetune.data_corpus import corpus_pairs
from finetune.data_load import format_skipped, load_qa_files
from lexkz.common import append_jsonl, atomic_dir, sha256_file, write_json
from lexkz.config import to_dict
from retrieval.text import fold_for_comparison
from lexkz.cli import run_module
from lexkz.errors import LexkzError

ABSTAIN = {
    "rus": "В найденных статьях ответа на этот вопрос нет.",
    "kaz": "Табылған баптарда бұл сұраққа жауап жоқ.",
}
TRIVIAL_ANSWERS = {"да", "нет", "иә", "жоқ", "yes", "no", "не знаю", "нет ответа", "білмеймін", "na", "n a", "none", "null"}


# ---------------------------------------------------------------- cleaning
normalise = fold_for_comparison  # the key for de-duplication (retrieval.text)


def is_trivial(item: dict, min_words: int) -> bool:
    a = normalise(item["answer"])
    return a in TRIVIAL_ANSWERS or len(a.split()) < min_words or a == normalise(item["question"])


def clean(items: list[dict], cfg: SFTDataConfig) -> tuple[list[dict], dict]:
    """De-duplicate, filter by length, drop trivial answers; returns the items and the counts after each step."""
    counts = {"loaded": len(items)}
    items = [it for it in items if it["lang"] in cfg.langs]
    counts["after_language_filter"] = len(items)
    seen, unique = set(), []
    for it in items:
        key = normalise(it["question"])
        if key not in seen:
            seen.add(key)
            unique.append(it)
    counts["after_dedup"] = len(unique)
    sized = [
        it for it in unique
        if cfg.min_question_chars <= len(it["question"]) <= cfg.max_question_chars
        and cfg.min_answer_chars <= len(it["answer"]) <= cfg.max_answer_chars
    ]
    counts["after_length_filter"] = len(sized)
    kept = [it for it in sized if not is_trivial(it, cfg.min_answer_words)]
    counts["after_trivial_filter"] = len(kept)
    return kept, counts


# ---------------------------------------------------------------- splits
def article_key(item: dict) -> str | None:
    """The gold article of an item, language-independent ("<act_code>/<number>"), or None."""
    if item.get("act_code") and item.get("article"):
        return f"{item['act_code']}/{item['article']}"
    return None


def leakage(train: list[dict], eval_: list[dict]) -> dict:
    """Share of eval items (with a known article) whose gold article also appears in train."""
    train_keys = {k for k in map(article_key, train) if k}
    with_key = [k for k in map(article_key, eval_) if k]
    leaked = sum(1 for k in with_key if k in train_keys)
    return {
        "eval_items_with_article": len(with_key),
        "leaked_items": leaked,
        "leakage": leaked / len(with_key) if with_key else 0.0,
    }


def split_items(items: list[dict], how: str, eval_fraction: float, seed: int) -> tuple[list[dict], list[dict], dict]:
    """Random split, or grouped by article (items without an article are their own group)."""
    rng = random.Random(seed)
    target = round(len(items) * eval_fraction)
    if how == "random":
        order = items[:]
        rng.shuffle(order)
        eval_, train = order[:target], order[target:]
    else:
        groups: dict[str, list[dict]] = {}
        for it in items:
            groups.setdefault(article_key(it) or f"item:{it['id']}", []).append(it)
        keys = sorted(groups)
        rng.shuffle(keys)
        eval_, train = [], []
        for key in keys:
            (eval_ if len(eval_) < target else train).extend(groups[key])
    report = {"how": how, "seed": seed, "eval_fraction": eval_fraction, "train": len(train), "eval": len(eval_)}
    report.update(leakage(train, eval_))
    return train, eval_, report


# ---------------------------------------------------------------- modes
def find_gold(store, item: dict):
    """The gold Article of an item in the article store (its language first), or None."""
    if not article_key(item) or store is None:
        return None
    found = store.find(act_code=item["act_code"], number=item["article"], lang=item["lang"])
    return found[0] if found else None


def cites(answer: str, number: str, lang: str) -> bool:
    n = re.escape(number)
    pattern = rf"{n}-ба[пб]" if lang == "kaz" else rf"(ст\.|стать\w*)\s*{n}(?![\d-])"
    return re.search(pattern, answer, re.I) is not None


def with_citation(answer: str, gold, lang: str) -> str:
    """The answer, with the gold article's reference appended when it does not cite it yet."""
    from retrieval.citation_format import format_citation

    if cites(answer, str(gold.number), lang):
        return answer
    ref, _ = format_citation(gold, lang)
    return f"{answer.rstrip()} ({ref})"


def raft_context(item: dict, gold, retriever, k: int, p_gold: float, rng: random.Random) -> tuple[list, bool]:
    """k articles for the context: the gold one with probability p_gold, the rest retrieved distractors."""
    hits = retriever.retrieve(item["question"], k=k + 3, lang=item["lang"])
    seen, distractors = set(), []
    for h in hits:
        if h.article_id != getattr(gold, "id", None) and h.article_id not in seen:
            seen.add(h.article_id)
            distractors.append(h)
    include = gold is not None and rng.random() < p_gold
    if include:
        context = distractors[: k - 1] + [gold]
        rng.shuffle(context)
    else:
        context = distractors[:k]
    return context, include


def to_example(item: dict, cfg: SFTDataConfig, rng: random.Random, store=None, retriever=None) -> dict | None:
    """One chat example (system + user + assistant) with its provenance; None when rag needs a gold it lacks."""
    from graph.prompts import build_messages, prompt_id

    lang, answer = item["lang"], item["answer"]
    context, gold, in_context = [], None, None
    if cfg.mode == "rag":
        gold = find_gold(store, item)
        if gold is None:
            return None
        context, in_context = raft_context(item, gold, retriever, cfg.k, cfg.p_gold, rng)
        if in_context:
            answer = with_citation(answer, gold, lang)
        elif cfg.absent_gold == "abstain":
            answer = ABSTAIN[lang]
    messages = build_messages(item["question"], context, lang, cfg.mode, max_chars=cfg.context_chars)
    messages.append({"role": "assistant", "content": answer})
    return {
        "id": item["id"],
        "messages": messages,
        "question": item["question"],
        "answer": answer,
        "lang": lang,
        "act_code": item.get("act_code"),
        "article": item.get("article"),
        "source": item["source"],
        "label": item["label"],
        "template": item.get("template"),
        "mode": cfg.mode,
        "prompt_id": prompt_id(lang, cfg.mode),
        "gold_article_id": getattr(gold, "id", None),
        "gold_in_context": in_context,
        "context_ids": [getattr(c, "article_id", None) or getattr(c, "id", None) for c in context],
    }


def make_examples(items: list[dict], cfg: SFTDataConfig, rng: random.Random, store=None, retriever=None,
                  desc: str = "examples") -> tuple[list[dict], int]:
    """Chat examples for `items` (progress bar in rag mode); returns (examples, items dropped for lack of gold)."""
    from tqdm import tqdm

    out, no_gold = [], 0
    for it in tqdm(items, desc=desc, disable=cfg.mode != "rag" or len(items) < 50, mininterval=2):
        ex = to_example(it, cfg, rng, store, retriever)
        if ex is None:
            no_gold += 1
        else:
            out.append(ex)
    return out, no_gold


# ---------------------------------------------------------------- the whole step
def build_dataset(cfg: SFTDataConfig, retriever=None) -> dict:
    """Make the dataset described by `cfg` in `cfg.out`; returns the data card."""
    out = Path(cfg.out)
    if out.exists():
        raise LexkzError(f"{out} already exists; pick another --out (datasets are never overwritten)", 4)
    if not cfg.qa_files and cfg.synthetic_per_template <= 0:
        raise LexkzError("no data sources: pass --qa FILE and/or --synthetic N with --corpus-index/--corpus-dir")
    rng = random.Random(cfg.seed)

    # ---- sources
    items, skipped = load_qa_files(cfg.qa_files)
    if skipped:
        print(f"[data] skipped {len(skipped)} records:\n{format_skipped(skipped)}", file=sys.stderr)
    index, store = None, None
    if cfg.corpus_index:
        from index.store import open_index

        index = open_index(cfg.corpus_index)
        store = index.articles
    synthetic = []
    if cfg.synthetic_per_template > 0:
        if store is not None:
            articles = list(store.iter_articles())
        elif cfg.corpus_dir:
            from index.ingest import read_corpus

            articles = read_corpus(cfg.corpus_dir).articles
        else:
            raise LexkzError("corpus-derived pairs need --corpus-index DIR or --corpus-dir DIR")
        synthetic = corpus_pairs(articles, cfg.synthetic_per_template, cfg.templates, cfg.langs, cfg.seed)
    all_items = items + synthetic
    print(f"[data] loaded {len(items)} QA items from {len(cfg.qa_files)} file(s), {len(synthetic)} corpus-derived pairs", flush=True)

    # ---- clean, split
    kept, counts = clean(all_items, cfg)
    print("[data] " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
    if not kept:
        raise LexkzError("no items left after cleaning: check the QA files (see the skipped lines) and the filters")
    train_items, eval_items, split_report = split_items(kept, cfg.split, cfg.eval_fraction, cfg.seed)
    print(f"[data] split {cfg.split}: train {len(train_items)}, eval {len(eval_items)}, leakage {split_report['leakage']:.3f}", flush=True)

    # ---- examples
    if cfg.mode == "rag" and retriever is None:
        from retrieval.hybrid import HybridRetriever

        retriever = HybridRetriever(index, cfg.retrieval)
    train, no_gold_train = make_examples(train_items, cfg, rng, store, retriever, "rag train")
    eval_, no_gold_eval = make_examples(eval_items, cfg, rng, store, retriever, "rag eval")
    if not train:
        raise LexkzError("no training examples: in rag mode every item needs act_code + article found in the index")

    # ---- card
    card = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": cfg.mode,
        "seed": cfg.seed,
        "sources": [{"file": str(f), "sha256": sha256_file(f) if Path(f).is_file() else None,
                     "items": sum(1 for i in items if i["source"] == Path(f).name)} for f in cfg.qa_files],
        "synthetic": {"count": len(synthetic), "per_template": cfg.synthetic_per_template, "templates": cfg.templates,
                      "from": cfg.corpus_index or cfg.corpus_dir or None},
        "corpus_index": {"dir": cfg.corpus_index, "manifest": index.manifest} if index is not None else None,
        "cleaning": counts,
        "split": split_report,
        "counts": {
            "train": len(train), "eval": len(eval_),
            "by_split_lang": {s: dict(Counter(e["lang"] for e in rows)) for s, rows in (("train", train), ("eval", eval_))},
            "by_split_label": {s: dict(Counter(e["label"] for e in rows)) for s, rows in (("train", train), ("eval", eval_))},
            "by_source": dict(Counter(e["source"] for e in train + eval_)),
            "by_template": dict(Counter(e["template"] for e in train + eval_ if e["template"])),
        },
        "skipped_count": len(skipped),
        "skipped": skipped,
        "config": to_dict(cfg),
    }
    if cfg.mode == "rag":
        with_gold = [e for e in train + eval_ if e["gold_article_id"]]
        card["rag"] = {
            "k": cfg.k, "retrieval": to_dict(cfg.retrieval), "p_gold": cfg.p_gold, "absent_gold": cfg.absent_gold, "context_chars": cfg.context_chars,
            "gold_rate_observed": sum(e["gold_in_context"] for e in with_gold) / len(with_gold) if with_gold else None,
            "dropped_without_gold": {"train": no_gold_train, "eval": no_gold_eval},
        }
    save(out, train, eval_, card)
    print(f"[data] wrote {out}: train {len(train)}, eval {len(eval_)}", flush=True)
    return card


def save(out: Path, train: list[dict], eval_: list[dict], card: dict) -> None:
    """Write everything under a temporary name, then rename it to `out`."""
    from datasets import Dataset, DatasetDict

    with atomic_dir(out) as tmp:
        append_jsonl(tmp / "train.jsonl", train)  # tmp is a fresh folder
        append_jsonl(tmp / "eval.jsonl", eval_)
        splits = {"train": Dataset.from_list(train)}
        if eval_:
            splits["eval"] = Dataset.from_list(eval_)
        DatasetDict(splits).save_to_disk(str(tmp / "dataset"))
        write_json(tmp / "data_card.json", card)
        (tmp / "DATA_CARD.md").write_text(card_markdown(card), encoding="utf-8")


def card_markdown(card: dict) -> str:
    c = card["counts"]
    lines = [
        f"# SFT data card ({card['mode']})", "",
        f"- created {card['created']}, seed {card['seed']}",
        "- sources: " + (", ".join(f"`{Path(s['file']).name}` ({s['items']} items)" for s in card["sources"]) or "none"),
        f"- corpus-derived (synthetic) pairs: {card['synthetic']['count']} from {card['synthetic']['from']}",
        "- cleaning: " + " -> ".join(f"{k} {v}" for k, v in card["cleaning"].items()),
        f"- split: {card['split']['how']}, train {c['train']}, eval {c['eval']}, leakage "
        f"{card['split']['leakage']:.3f} ({card['split']['leaked_items']} of {card['split']['eval_items_with_article']} eval items with an article)",
        f"- languages: {c['by_split_lang']}",
        f"- labels: {c['by_split_label']}",
        f"- skipped records: {card['skipped_count']} (listed in data_card.json)",
    ]
    if "rag" in card:
        r = card["rag"]
        lines.append(f"- RAFT: k={r['k']}, p_gold={r['p_gold']}, observed gold rate {r['gold_rate_observed']}, "
                     f"gold absent -> {r['absent_gold']}, dropped without gold {r['dropped_without_gold']}")
    lines += ["", "Third-party QA data keeps its own licence; do not redistribute it with the model.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- command line
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file with an [sft_data] section")
    p.add_argument("--qa", nargs="+", dest="qa_files", help="QA files (JSONL, CSV or datasets directories)")
    p.add_argument("--corpus-index", dest="corpus_index", help="index dir (article store + retrieval for rag)")
    p.add_argument("--corpus-dir", dest="corpus_dir", help="corpus dir for corpus-derived pairs without an index")
    p.add_argument("--synthetic", type=int, dest="synthetic_per_template", help="corpus-derived pairs per template and language")
    p.add_argument("--mode", choices=["closed_book", "rag"])
    p.add_argument("--k", type=int, help="rag: articles per context")
    p.add_argument("--p-gold", type=float, dest="p_gold", help="rag: probability the gold article is in the context")
    p.add_argument("--split", choices=["grouped", "random"])
    p.add_argument("--eval-fraction", type=float, dest="eval_fraction")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="output directory (must not exist)")


def run_from_args(args: argparse.Namespace) -> int:
    keys = ("qa_files", "corpus_index", "corpus_dir", "synthetic_per_template", "mode", "k", "p_gold", "split",
            "eval_fraction", "seed", "out")
    cfg = load_data_config(args.config, {k: getattr(args, k, None) for k in keys})
    build_dataset(cfg)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_module("python -m finetune.data_build", __doc__, add_arguments, run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())
