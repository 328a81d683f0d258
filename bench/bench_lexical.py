"""Lexical search: the old hand-written BM25 (kept only here, for comparison) against the SQLite
FTS5 table of the index, side by side in one run on the full shared corpus.

Builds a model-free index of the corpus (hashing:64 embedder; only the store and its FTS5
table matter here), builds the old in-memory BM25 on exactly the same passages, and runs the
dev questions of ../shared/qa whose act is in the corpus (`act_code` + `article`), each with
its own language, through both: `search(question, candidates, lang=...)`, the call the
hybrid retriever makes. Reports per system and language:
  - latency p50 / p95 / mean of one search call (wall and CPU time; on a shared machine CPU
    time is the steadier figure), and the ratio FTS5 / old BM25;
  - quality: article R@1 / R@10 and act@10 (passages collapsed to articles, best first);
  - agreement with the old BM25: mean overlap of the top-10 articles, and the share of
    questions where both agree on "gold article in the top 10".
FTS5 column weights (act title : article heading : passage body) are compared with
--weights. A second, synthetic "known item" set (the first body sentence of random
articles, both languages) adds Kazakh queries, which the dev sets barely have.

    python bench/bench_lexical.py                               # default weights + 1:1:1
    python bench/bench_lexical.py --weights 1:1:1 1:2:1 0.5:3:1 --repeat 3

Prints a table and writes bench/results/bench_lexical.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Hashable, Iterable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lexkz.common import default_corpus_dir, normalize_lang, read_jsonl  # noqa: E402
from retrieval.text import analyze  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class OldBm25:
    """The BM25 lexkz used before FTS5 (retrieval/lexical.py up to the FTS5 change), copied here
    for this comparison only: in-memory postings, numpy scoring, idf = log(1 + (N-df+.5)/(df+.5))."""

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = float(k1), float(b)
        self._slot_of: dict[Hashable, int] = {}
        self._ids: list = []
        self._lang: list = []
        self._len: list[int] = []
        self._postings: dict[str, dict[int, int]] = {}
        self._total_len = 0
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._arrays = None

    def add(self, ids: Sequence, texts: Sequence[str], langs: Sequence[str]) -> None:
        for doc_id, text, lang in zip(ids, texts, langs):
            tf = Counter(analyze(text, lang))
            slot = len(self._ids)
            self._ids.append(doc_id)
            self._lang.append(lang)
            n = sum(tf.values())
            self._len.append(n)
            self._total_len += n
            self._slot_of[doc_id] = slot
            for term, count in tf.items():
                self._postings.setdefault(term, {})[slot] = count
        self._cache.clear()
        self._arrays = None

    def _posting_arrays(self, term):
        hit = self._cache.get(term)
        if hit is None:
            plist = self._postings.get(term)
            if not plist:
                return None
            hit = (np.fromiter(plist.keys(), dtype=np.int64, count=len(plist)),
                   np.fromiter(plist.values(), dtype=np.float32, count=len(plist)))
            self._cache[term] = hit
        return hit

    def _doc_arrays(self):
        if self._arrays is None:
            avgdl = self._total_len / max(1, len(self._slot_of))
            lengths = np.asarray(self._len, dtype=np.float32)
            norm = self.k1 * (1 - self.b + self.b * lengths / max(avgdl, 1e-9))
            rus = np.array([lang == "rus" for lang in self._lang], dtype=bool)
            kaz = np.array([lang == "kaz" for lang in self._lang], dtype=bool)
            self._arrays = (norm, rus, kaz)
        return self._arrays

    def search(self, query: str, k: int = 10, lang: str | None = None, allowed: Iterable | None = None):
        if not self._slot_of or k <= 0:
            return []
        terms = Counter(analyze(query, lang))
        if not terms:
            return []
        norm, rus, kaz = self._doc_arrays()
        n_docs = len(self._slot_of)
        scores = np.zeros(len(self._ids), dtype=np.float32)
        for term, qtf in terms.items():
            arrays = self._posting_arrays(term)
            if arrays is None:
                continue
            slots, tf = arrays
            idf = np.log1p((n_docs - len(slots) + 0.5) / (len(slots) + 0.5))
            scores[slots] += qtf * idf * tf * (self.k1 + 1) / (tf + norm[slots])
        if lang == "rus":
            scores[~rus] = 0
        elif lang == "kaz":
            scores[~kaz] = 0
        nz = np.flatnonzero(scores > 0)
        if nz.size == 0:
            return []
        if nz.size > k:
            nz = nz[np.argpartition(-scores[nz], k - 1)[:k]]
        order = nz[np.lexsort((nz, -scores[nz]))]
        return [(self._ids[s], float(scores[s])) for s in order]


def dev_items(qa_dir: Path, acts: set[str]) -> list[dict]:
    items = []
    for f in sorted(qa_dir.glob("*.jsonl")):
        for _, obj, _ in read_jsonl(f):
            if obj and obj.get("act_code") in acts and obj.get("article") and str(obj.get("question") or "").strip():
                items.append({"set": f.name, "question": obj["question"], "act_code": obj["act_code"],
                              "article": str(obj["article"]), "lang": normalize_lang(obj.get("lang")) or "rus"})
    return items


_SENT = re.compile(r"(?<=[.;:!?])\s+")


def known_items(store, n_per_lang: int, seed: int = 0) -> list[dict]:
    """The first body sentence (6-30 words, footnotes skipped) of random articles, per language."""
    rng = random.Random(seed)
    out = []
    for lang in ("rus", "kaz"):
        arts = [a for a in store.iter_articles(lang=lang)]
        rng.shuffle(arts)
        for a in arts:
            for sent in _SENT.split(a.text):
                words = sent.split()
                if 6 <= len(words) <= 30 and not re.match(r"\W*(Сноска|Ескерту|Ескертпе|Исключен|Алып)", sent):
                    out.append({"set": "known_item", "question": " ".join(words), "act_code": a.act_code,
                                "article": a.number, "lang": lang})
                    break
            if sum(1 for it in out if it["lang"] == lang) >= n_per_lang:
                break
    return out


def articles_of(hits, art_of: dict[int, tuple[str, str]], k: int) -> list[tuple[str, str]]:
    seen, out = set(), []
    for pid, _ in hits:
        a = art_of.get(int(pid))
        if a is not None and a not in seen:
            seen.add(a)
            out.append(a)
            if len(out) == k:
                break
    return out


def run_system(name, search, items, art_of, candidates, repeat) -> dict:
    rows = []
    for it in items:
        wall, cpu = [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            hits = search(it["question"], candidates, it["lang"])
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        top = articles_of(hits, art_of, 10)
        gold = (it["act_code"], it["article"])
        rows.append({"wall": min(wall), "cpu": min(cpu), "top": top, "r1": bool(top[:1] == [gold]),
                     "r10": gold in top, "act10": any(a[0] == it["act_code"] for a in top)})
    return {"name": name, "rows": rows}


def summary(rows: list[dict]) -> dict:
    if not rows:
        return {"n": 0}
    wall = np.array([r["wall"] for r in rows]) * 1e3
    cpu = np.array([r["cpu"] for r in rows]) * 1e3
    return {"n": len(rows), "p50_ms": round(float(np.percentile(wall, 50)), 3), "p95_ms": round(float(np.percentile(wall, 95)), 3),
            "mean_ms": round(float(wall.mean()), 3), "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3),
            "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 3),
            "R@1": round(float(np.mean([r["r1"] for r in rows])), 4), "R@10": round(float(np.mean([r["r10"] for r in rows])), 4),
            "act@10": round(float(np.mean([r["act10"] for r in rows])), 4)}


def agreement(a_rows, b_rows) -> dict:
    overlap = [len(set(a["top"]) & set(b["top"])) / max(1, len(set(a["top"]) | set(b["top"]))) for a, b in zip(a_rows, b_rows)]
    same = [a["r10"] == b["r10"] for a, b in zip(a_rows, b_rows)]
    return {"top10_jaccard": round(float(np.mean(overlap)), 4) if overlap else None,
            "R@10_agreement": round(float(np.mean(same)), 4) if same else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="corpus folder (default LEXKZ_CORPUS or ../shared/corpus)")
    ap.add_argument("--qa", default=None, help="Q/A folder (default LEXKZ_QA or ../shared/qa)")
    ap.add_argument("--weights", nargs="+", default=None, help="FTS5 column weights act:title:body (default: the "
                    "product's WEIGHTS and 1:1:1)")
    ap.add_argument("--max-df", nargs="+", type=float, default=None, help="FTS5 max_df_share values to compare "
                    "(default: the product's MAX_DF_SHARE and 1 = no token left out)")
    ap.add_argument("--candidates", type=int, default=100, help="passages per search (RetrievalConfig.candidates)")
    ap.add_argument("--known-items", type=int, default=150, help="synthetic known-item queries per language (0: none)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per query (the fastest counts)")
    ap.add_argument("--out", default=str(RESULTS / "bench_lexical.json"))
    args = ap.parse_args(argv)

    from index.build import build_index
    from index.config import IndexConfig
    from index.store import open_index
    from retrieval import lexical

    corpus = Path(args.corpus) if args.corpus else default_corpus_dir()
    if corpus is None or not corpus.is_dir():
        print("error: no corpus: pass --corpus DIR", file=sys.stderr)
        return 3
    qa_dir = Path(args.qa or os.environ.get("LEXKZ_QA") or corpus.parent / "qa")
    weights = args.weights or [":".join(f"{w:g}" for w in lexical.WEIGHTS), "1:1:1"]
    weights = list(dict.fromkeys(weights))

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        build_index(corpus, Path(tmp) / "ix", IndexConfig(embedding="hashing:64"), progress=False)
        build_s = time.perf_counter() - t
        ix = open_index(Path(tmp) / "ix")
        store = ix.articles
        rowid_art = {rowid: aid for aid, (rowid, _) in store.rows_by_id().items()}
        arts = {a.id: a for a in store.iter_articles()}
        art_of, ids, texts, langs = {}, [], [], []
        for rowid, plist in store.passage_table().items():
            a = arts[rowid_art[rowid]]
            for pid, text in plist:
                art_of[pid] = (a.act_code, a.number)
                ids.append(pid)
                texts.append(text)
                langs.append(a.lang)
        t = time.perf_counter()
        old = OldBm25()
        old.add(ids, texts, langs)
        old_build_s = time.perf_counter() - t
        acts = {a["code"] for a in store.acts()}
        sets = {"dev": dev_items(qa_dir, acts) if qa_dir.is_dir() else [],
                "known_item": known_items(store, args.known_items) if args.known_items else []}
        print(f"{len(ids)} passages of {len(arts)} articles; FTS5 store built with the index in {build_s:.1f} s "
              f"(hashing:64 embedding included), old BM25 in {old_build_s:.1f} s; dev questions: "
              f"{Counter(it['lang'] for it in sets['dev'])}; known items: {Counter(it['lang'] for it in sets['known_item'])}",
              flush=True)

        systems = [("old BM25", lambda q, n, lang: old.search(q, n, lang=lang))]
        max_dfs = list(dict.fromkeys(args.max_df or [lexical.MAX_DF_SHARE, 1.0]))
        for w in weights:
            for mdf in max_dfs:
                fts = lexical.FtsLexical(ix.version_dir / "articles.sqlite", weights=[float(x) for x in w.split(":")],
                                         max_df_share=mdf)
                systems.append((f"FTS5 {w} df{mdf:g}", lambda q, n, lang, fts=fts: fts.search(q, n, lang=lang)))
        for _, search in systems:  # warm caches (stemmer, postings arrays, SQLite pages)
            for it in sets["dev"][:20] + sets["known_item"][:20]:
                search(it["question"], args.candidates, it["lang"])

        results = {}
        for set_name, items in sets.items():
            if not items:
                continue
            runs = [run_system(name, search, items, art_of, args.candidates, args.repeat) for name, search in systems]
            base = runs[0]["rows"]
            out_rows = []
            for run in runs:
                for lang in ("all", "rus", "kaz"):
                    sel = [i for i, it in enumerate(items) if lang == "all" or it["lang"] == lang]
                    if not sel:
                        continue
                    rows = [run["rows"][i] for i in sel]
                    row = {"system": run["name"], "lang": lang, **summary(rows)}
                    if run is not runs[0]:
                        row.update(agreement([base[i] for i in sel], rows))
                        old_p50 = summary([base[i] for i in sel])
                        row["p50_ratio_to_old"] = round(row["p50_ms"] / max(old_p50["p50_ms"], 1e-9), 2)
                        row["cpu_p50_ratio_to_old"] = round(row["cpu_p50_ms"] / max(old_p50["cpu_p50_ms"], 1e-9), 2)
                    out_rows.append(row)
            results[set_name] = out_rows
            print(f"\n{set_name} questions (search(q, {args.candidates}, lang)); latency in ms, best of {args.repeat}")
            head = (f"{'system':>20} {'lang':>4} {'n':>4} {'p50':>7} {'p95':>7} {'cpu p50':>8} {'cpu p95':>8} "
                    f"{'R@1':>6} {'R@10':>6} {'act@10':>6} {'jacc10':>6} {'agreeR10':>8} {'x old':>6}")
            print(head + "\n" + "-" * len(head))
            for r in out_rows:
                print(f"{r['system']:>20} {r['lang']:>4} {r['n']:>4} {r['p50_ms']:>7.2f} {r['p95_ms']:>7.2f} "
                      f"{r['cpu_p50_ms']:>8.2f} {r['cpu_p95_ms']:>8.2f} {r['R@1']:>6.3f} {r['R@10']:>6.3f} {r['act@10']:>6.3f} "
                      f"{r.get('top10_jaccard', float('nan')):>6.3f} {r.get('R@10_agreement', float('nan')):>8.3f} "
                      f"{r.get('p50_ratio_to_old', float('nan')):>6.2f}")
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "benchmark": "bench_lexical", "corpus": str(corpus), "qa": str(qa_dir), "passages": len(ids),
            "articles": len(arts), "candidates": args.candidates, "repeat": args.repeat,
            "fts5_weights_default": list(lexical.WEIGHTS), "fts5_tokenize": lexical.TOKENIZE,
            "sqlite_version": __import__("sqlite3").sqlite_version, "cpu_count": os.cpu_count(),
            "loadavg": os.getloadavg(), "results": results,
        }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
