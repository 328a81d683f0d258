"""Retrieval quality side by side on the dev sets: BM25 alone, dense alone and hybrid, for each
candidate embedder (one index each), with the old and the new default compared by paired tests.

Data (evaluation only, never training):
  * every normalised Q/A file in ../shared/qa whose items name an act of the index
    (`act_code`; `article` where the set gives one), zann_pilots_dev.jsonl included;
  * `plain` (ours, bench/data/plain_questions.jsonl): 12 plain everyday questions in Russian and
    Kazakh (leave, dismissal, refunds, theft, probation, marriage), gold article from the corpus
    headings; reported on their own, not in "all";
  * `kk-titles→ru` (synthetic, labelled so): the Kazakh titles of articles of the acts that have
    Kazakh text, searched over the Russian text only (`lang=rus`). It stands in for Kazakh
    questions about acts that have only Russian text, which no dev set holds; titles are easier
    than real questions, so read it for the cross-lingual gap between rows, not as a level.
Metrics: R@1/5/10/50 and MRR on the article (act and number must match; items without an
article count only for act@10), act@10, per language and overall. Paired tests: exact McNemar
(binomial test on the discordant items) on R@1 and R@10, and a paired permutation test on the
reciprocal ranks, between the `--baseline` row and the `--candidate` row.

    python bench/bench_retrieval_quality.py \\
        --index e5=.lexkz/index minilm=bench/results/minilm_index \\
        --baseline minilm:hybrid:old --candidate e5:hybrid:default

Each `--index NAME=DIR` adds rows `NAME:lexical`, `NAME:dense`, `NAME:hybrid:default` (the
RetrievalConfig defaults) and `NAME:hybrid:L:D` for every `--weights L:D` (Russian and Kazakh
questions alike); `NAME:hybrid:old` is the landed default before issue 9 (BM25:dense 3:1, the
question cut to 64 tokens for the dense side). Prints tables and writes
bench/results/retrieval_quality.json. Caveats: the Q/A sets are third-party, small and partly
heuristically labelled (see ../shared/qa/README.md): treat differences of a few points as noise
and read the paired tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lexkz.common import default_corpus_dir, read_jsonl  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CUTS = (1, 5, 10, 50)
OLD_DEFAULT = {"lexical_weight": 3.0, "dense_weight": 1.0, "kaz_lexical_weight": 3.0, "kaz_dense_weight": 1.0, "rrf_k": 60,
               "query_max_tokens": 64}


def load_items(qa_dir: Path, acts: set[str]) -> list[dict]:
    items = []
    for f in sorted(qa_dir.glob("*.jsonl")):
        for _, obj, _ in read_jsonl(f):
            if obj and obj.get("act_code") in acts and str(obj.get("question") or "").strip():
                items.append({"set": f.stem, "question": obj["question"], "act_code": obj["act_code"],
                              "article": str(obj["article"]) if obj.get("article") else None,
                              "lang": "kaz" if obj.get("lang") in ("kk", "kaz") else "rus", "filter_lang": None})
    return items


def kazakh_title_items(store, limit: int) -> list[dict]:
    """Kazakh article titles whose article also exists in Russian: searched over Russian text only."""
    rus = {(a.act_code, a.number) for a in store.iter_articles(lang="rus")}
    kaz = [a for a in store.iter_articles(lang="kaz") if a.title and (a.act_code, a.number) in rus and len(a.title) > 12]
    step = max(1, len(kaz) // limit) if limit else 1
    return [{"set": "kk-titles→ru (synthetic)", "question": a.title, "act_code": a.act_code, "article": a.number,
             "lang": "kaz", "filter_lang": "rus"} for a in kaz[::step][:limit]]


def rank_of(hits, item) -> tuple[int | None, bool]:
    """(1-based rank of the gold article or None, gold act in the top 10)."""
    rank = None
    if item["article"]:
        for i, h in enumerate(hits, 1):
            if h.act_code == item["act_code"] and h.number == item["article"]:
                rank = i
                break
    return rank, any(h.act_code == item["act_code"] for h in hits[:10])


def summarize(ranks: list[int | None], acts: list[bool]) -> dict:
    n = len(ranks)
    out = {"n": n}
    for c in CUTS:
        out[f"R@{c}"] = round(sum(r is not None and r <= c for r in ranks) / n, 4) if n else None
    out["MRR"] = round(sum(1 / r for r in ranks if r) / n, 4) if n else None
    out["act@10"] = round(sum(acts) / len(acts), 4) if acts else None
    return out


def mcnemar(a: list[bool], b: list[bool]) -> dict:
    from scipy.stats import binomtest

    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"baseline_only": only_a, "candidate_only": only_b, "p": round(float(p), 6)}


def paired_permutation(a: list[float], b: list[float]) -> float:
    from scipy.stats import permutation_test

    if not a or np.allclose(a, b):
        return 1.0
    res = permutation_test((np.asarray(a), np.asarray(b)), lambda x, y: np.mean(x - y), permutation_type="samples",
                           n_resamples=9999, random_state=0)
    return round(float(res.pvalue), 6)


class WordLlamaAdapter:
    """Candidate embedder (bench only, not in the product): WordLlama l2_supercat 256-d static token
    embeddings, whose weights ship in the `wordllama` wheel (its tokenizer file is shipped under
    `tokenizers/` while the loader looks in `tokenizer/`: the path is given here explicitly)."""

    name = "wordllama-l2-supercat-256"
    dim = 256
    query_prefix = passage_prefix = ""

    def __init__(self):
        import wordllama
        from wordllama import WordLlama

        pkg = Path(wordllama.__file__).parent
        link = pkg / "tokenizer"
        if not link.exists():
            link.symlink_to(pkg / "tokenizers")
        self.model = WordLlama.load(disable_download=True)

    def _embed(self, texts):
        v = np.asarray(self.model.embed(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def embed_passages(self, texts, batch_size=32, progress=False):
        return self._embed(texts)

    def embed_queries(self, texts, max_tokens=None):
        return self._embed([texts] if isinstance(texts, str) else texts)


def wordllama_index(index_dir: Path, corpus: Path):
    """Build (once) an index of `corpus` with WordLlama; returns (Index, embedder) or None if not installed."""
    try:
        emb = WordLlamaAdapter()
    except ImportError:
        print("wordllama is not installed: its rows are left out (pip install wordllama)", file=sys.stderr)
        return None
    from index.build import build_index
    from index.config import IndexConfig
    from index.store import open_index

    if not (index_dir / "CURRENT").is_file():
        build_index(corpus, index_dir, IndexConfig(embedding=emb.name), embedder=emb, progress=False)
    return open_index(index_dir), emb


class CappedDense:
    """The index's FAISS side seen as if only the first `cap` passages of each article had vectors
    (to compare `dense_max_passages` settings on one index without re-embedding)."""

    def __init__(self, dense, store, cap: int):
        self.inner, self.nprobe = dense, dense.nprobe
        allowed = [pid for plist in store.passage_table().values() for no, (pid, _) in enumerate(plist) if no < cap]
        present = set(dense.ids())
        self.allowed = [p for p in allowed if p in present]
        self.allowed_set = set(self.allowed)
        self.ntotal = len(self.allowed)

    def search(self, vec, k, allowed=None):
        ids = self.allowed if allowed is None else [p for p in allowed if p in self.allowed_set]
        return self.inner.search(vec, k, allowed=ids)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", nargs="+", required=True, metavar="NAME=DIR", help="one index per candidate embedder")
    ap.add_argument("--qa", default=None, help="folder of normalised Q/A JSONL files (default LEXKZ_QA or ../shared/qa)")
    ap.add_argument("--weights", nargs="*", default=[], help="extra hybrid rows: lexical:dense weights")
    ap.add_argument("--rrf-k", nargs="*", type=int, default=[], help="extra hybrid rows with the default weights and this rrf_k")
    ap.add_argument("--dense-cap", nargs="*", type=int, default=[], help="extra rows as if only the first N passages of each article were embedded")
    ap.add_argument("--wordllama", default=None, metavar="DIR", help="also build (once, into DIR) and score a WordLlama index")
    ap.add_argument("--plain", default=str(Path(__file__).resolve().parent / "data" / "plain_questions.jsonl"),
                    help="our plain everyday questions ('' = none)")
    ap.add_argument("--kk-titles", type=int, default=150, help="size of the synthetic kk-titles→ru set (0 = none)")
    ap.add_argument("--baseline", default=None, help="row the paired tests compare against (default NAME:hybrid:old of the last index)")
    ap.add_argument("--candidate", default=None, help="row compared with the baseline (default NAME:hybrid:default of the first index)")
    ap.add_argument("--out", default=str(RESULTS / "retrieval_quality.json"))
    args = ap.parse_args(argv)

    from index.store import open_index
    from retrieval.config import RetrievalConfig
    from retrieval.hybrid import HybridRetriever

    corpus = default_corpus_dir()
    qa_dir = Path(args.qa or os.environ.get("LEXKZ_QA") or (corpus.parent / "qa" if corpus else "qa"))
    indexes, embedders = {}, {}
    for spec in args.index:
        name, _, path = spec.partition("=")
        indexes[name] = open_index(path)
    if args.wordllama:
        built = wordllama_index(Path(args.wordllama), corpus)
        if built:
            indexes["wordllama"], embedders["wordllama"] = built
    first = next(iter(indexes.values()))
    acts = {a["code"] for a in first.articles.acts()}
    items = load_items(qa_dir, acts) if qa_dir.is_dir() else []
    if args.plain:
        items += [{**it, "set": "plain"} for it in load_items(Path(args.plain).parent, acts)
                  if it["set"] == Path(args.plain).stem]
    items += kazakh_title_items(first.articles, args.kk_titles) if args.kk_titles else []
    if not items:
        print(f"error: no question in {qa_dir} names an act of the index", file=sys.stderr)
        return 3
    sets = sorted({it["set"] for it in items})
    print(f"{len(items)} questions: " + ", ".join(f"{s} {sum(it['set'] == s for it in items)}" for s in sets), flush=True)

    rows: dict[str, dict] = {}
    per_item: dict[str, list] = {}
    for name, index in indexes.items():
        settings = [("lexical", {}, "lexical", None), ("dense", {}, "dense", None), ("hybrid:default", {}, "hybrid", None),
                    ("hybrid:old", OLD_DEFAULT, "hybrid", None)]
        for w in args.weights:
            lw, dw = (float(x) for x in w.split(":"))
            settings.append((f"hybrid:{w}", {"lexical_weight": lw, "dense_weight": dw, "kaz_lexical_weight": lw,
                                              "kaz_dense_weight": dw}, "hybrid", None))
        for rk in args.rrf_k:
            settings.append((f"hybrid:rrf_k={rk}", {"rrf_k": rk}, "hybrid", None))
        for cap in args.dense_cap:
            settings.append((f"dense:cap{cap}", {}, "dense", cap))
            settings.append((f"hybrid:default:cap{cap}", {}, "hybrid", cap))
        real_dense = index.dense
        for label, over, mode, cap in settings:
            index.__dict__["dense"] = CappedDense(real_dense, index.articles, cap) if cap else real_dense
            r = HybridRetriever(index, RetrievalConfig(k=max(CUTS), include_repealed=True, **over), embedder=embedders.get(name))
            key = f"{name}:{label}"
            t0 = time.perf_counter()
            results = []
            for it in items:
                hits = r.retrieve(it["question"], mode=mode, lang=it["filter_lang"])
                results.append(rank_of(hits, it))
            secs = time.perf_counter() - t0
            per_item[key] = results
            dev = [i for i, it in enumerate(items) if not it["filter_lang"] and it["set"] != "plain"]
            groups = {"all": dev}
            for lang in ("rus", "kaz"):
                groups[lang] = [i for i in dev if items[i]["lang"] == lang]
            groups["plain"] = [i for i, it in enumerate(items) if it["set"] == "plain"]
            groups["kk-titles→ru"] = [i for i, it in enumerate(items) if it["filter_lang"]]
            row = {"index": name, "embedding": index.manifest["embedding"]["model"], "setting": label, "config": over,
                   "dense_cap": cap, "ms_per_query": round(1000 * secs / len(items), 1)}
            for g, idx in groups.items():
                idx = list(idx)
                with_art = [i for i in idx if items[i]["article"]]
                row[g] = summarize([results[i][0] for i in with_art], [results[i][1] for i in idx])
            rows[key] = row
            print(f"  {key:<34} R@1 {row['all']['R@1']}  R@10 {row['all']['R@10']}  plain R@1 {row['plain']['R@1']}  "
                  f"kk→ru R@10 {row['kk-titles→ru']['R@10']}  ({row['ms_per_query']} ms/q)", flush=True)
        index.__dict__["dense"] = real_dense

    names = list(indexes)
    baseline = args.baseline or f"{names[-1]}:hybrid:old"
    candidate = args.candidate or f"{names[0]}:hybrid:default"
    tests = {}
    real = [i for i, it in enumerate(items) if it["article"] and not it["filter_lang"] and it["set"] != "plain"]
    for a_key, b_key in ((baseline, candidate), (f"{candidate.split(':')[0]}:lexical", candidate)):
        if a_key not in per_item or b_key not in per_item:
            continue
        a, b = per_item[a_key], per_item[b_key]
        t = {}
        for c in (1, 10):
            t[f"R@{c}"] = mcnemar([a[i][0] is not None and a[i][0] <= c for i in real],
                                  [b[i][0] is not None and b[i][0] <= c for i in real])
        t["MRR_permutation_p"] = paired_permutation([1 / a[i][0] if a[i][0] else 0.0 for i in real],
                                                    [1 / b[i][0] if b[i][0] else 0.0 for i in real])
        tests[f"{a_key} vs {b_key}"] = t

    cols = ["R@1", "R@5", "R@10", "R@50", "MRR", "act@10"]
    for g in ("all", "rus", "kaz", "plain", "kk-titles→ru"):
        n = next(iter(rows.values()))[g]["n"]
        if not n:
            continue
        header = f"{g + f' (n={n})':<36}" + "".join(f"{c:>8}" for c in cols)
        print("\n" + header + "\n" + "-" * len(header))
        for key, row in rows.items():
            vals = row[g]
            print(f"{key:<36}" + "".join(f"{vals[c]:>8.3f}" if vals[c] is not None else f"{'-':>8}" for c in cols))
    print("\npaired tests on the real dev questions with an article label (n=%d):" % len(real))
    for name, t in tests.items():
        print(f"  {name}: " + "; ".join(f"{m} only-baseline {v['baseline_only']} only-candidate {v['candidate_only']} "
                                        f"p={v['p']}" for m, v in t.items() if isinstance(v, dict))
              + f"; MRR permutation p={t['MRR_permutation_p']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "retrieval_quality", "indexes": {k: str(v.version_dir) for k, v in indexes.items()},
                               "qa": str(qa_dir), "sets": {s: sum(it["set"] == s for it in items) for s in sets},
                               "baseline": baseline, "candidate": candidate, "rows": list(rows.values()),
                               "paired_tests": tests}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
