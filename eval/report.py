"""Eval reports: tables with bootstrap CIs and paired tests, figures, key numbers, samples.

    lexkz eval report RUN_DIR                      # writes RUN_DIR/report/
    lexkz eval report RUN_A RUN_B --out DIR        # several runs in one comparison table

Reads each run's run.json and rows.jsonl (written by `lexkz eval run`) and writes:
    results.json              every number below, plus the runs' provenance
    tables.md, tables.tex     mean [95% CI] per metric per condition, per language, and
                              paired-test p-values between conditions; forgetting check
    benchmark_metrics.png     bars with 95% CIs;  token_f1_histogram.png;
    key_info_distribution.png;  generation_time.png
    key_numbers.md            the headline numbers
    samples.md                top-5 and bottom-5 samples (token F1) per condition
With several runs a condition is named "<run label>/<condition>" (e.g. adapters with different
r/alpha/dropout side by side). When a run's generator is a tiny random model, every file says
"plumbing check, not a result".
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from eval.config import CONDITIONS
from eval.stats import bootstrap_ci, paired_comparison
from lexkz.common import read_jsonl, write_json
from lexkz.errors import LexkzError

# (key in row["metrics"], label, higher is better, bounded in [0, 1])
METRICS = [
    ("exact_match", "Exact match", True, True),
    ("token_f1", "Token F1", True, True),
    ("key_info", "Key-info", True, True),
    ("semantic_similarity", "Semantic sim.", True, True),
    ("citation_precision", "Citation P", True, True),
    ("citation_recall", "Citation R", True, True),
    ("invented_citation_rate", "Invented cit.", False, True),
    ("citation_rate_supported", "Cit. supported", True, True),
    ("citation_rate_wrong_act", "Cit. wrong act", False, True),
    ("citation_rate_no_such_point", "Cit. no such point", False, True),
    ("citation_rate_not_supported", "Cit. not supported", False, True),
    ("citation_rate_in_corpus_not_retrieved", "Cit. not retrieved", None, True),
    ("citation_rate_invented", "Cit. invented", False, True),
    ("citation_rate_unresolved", "Cit. unresolved", None, True),
    ("recall_at_k", "Recall@k", True, True),
    ("mrr", "MRR", True, True),
    ("empty_answer", "Empty answer", False, True),
    ("length_ratio", "Length ratio", None, False),
    ("generation_seconds", "Gen. time (s)", False, False),
    ("tokens_per_second", "Tokens/s", True, False),
]
# the comparisons the paper reads first (a − b)
KEY_PAIRS = [("ft", "base"), ("rag", "base"), ("ft_rag", "rag"), ("ft_rag", "ft"), ("ft_rag", "base"), ("rag", "extractive")]
PAIRED_METRICS = ["token_f1", "key_info", "exact_match", "citation_recall", "semantic_similarity"]
PLUMBING = "PLUMBING CHECK, NOT A RESULT: the generator is a tiny random model; these scores only show the pipeline runs."


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """run.json + rows.jsonl of one run (rows that finished; a broken last line is ignored)."""
    run_dir = Path(run_dir)
    record_path, rows_path = run_dir / "run.json", run_dir / "rows.jsonl"
    if not record_path.is_file() or not rows_path.is_file():
        raise LexkzError(f"{run_dir} is not an eval run directory (needs run.json and rows.jsonl): "
                         "run `lexkz eval run --config ...` first", 3)
    record = json.loads(record_path.read_text(encoding="utf-8"))
    rows = [with_citation_statuses(obj) for _, obj, err in read_jsonl(rows_path) if err is None]
    if not rows:
        raise LexkzError(f"{rows_path} has no finished rows: the run has not completed any batch yet", 3)
    return {"dir": str(run_dir), "record": record, "rows": rows,
            "label": record.get("config", {}).get("label") or run_dir.name,
            "tiny": bool(record.get("tiny_random_generator"))}


def with_citation_statuses(row: dict) -> dict:
    """Citation metrics from the row's verified citations (their graph.citations statuses):
    precision counts only `supported` citations, and each status gets its rate. Rows without
    statuses keep the metrics they were written with."""
    from eval.metrics import citation_scores

    cits = row.get("citations")
    if not isinstance(cits, list) or not cits or not all(isinstance(c, dict) and c.get("status") for c in cits):
        return row
    gold = [tuple(g) for g in row.get("gold") or [] if isinstance(g, (list, tuple)) and len(g) == 2]
    scores = citation_scores([(c.get("act_code"), c.get("number")) for c in cits], gold,
                             statuses=[c["status"] for c in cits])
    if not gold:  # without a gold article, keep the written precision/recall (None)
        scores = {k: v for k, v in scores.items() if k not in ("citation_precision", "citation_recall")}
    return {**row, "metrics": {**row.get("metrics", {}), **scores}}


def _values(rows: list[dict], metric: str) -> list[float | None]:
    return [r["metrics"].get(metric) for r in rows]


def summarize(rows: list[dict], seed: int = 0, n_resamples: int = 2000) -> dict[str, dict]:
    """metric -> {mean, lo, hi, n} for the rows of one condition (metrics with no value left out)."""
    out = {}
    for key, *_ in METRICS:
        ci = bootstrap_ci(_values(rows, key), n_resamples=n_resamples, seed=seed)
        if ci["n"]:
            out[key] = ci
    return out


def _by_condition(runs: list[dict], set_name: str) -> dict[str, list[dict]]:
    """Rows per condition, conditions in run order then canonical order (base, ft, rag, ft_rag,
    extractive); with several runs a condition is named "<label>/<condition>"."""
    multi = len(runs) > 1
    keyed: dict[tuple, tuple[str, list[dict]]] = {}
    for i, run in enumerate(runs):
        for row in run["rows"]:
            if row.get("set", "main") != set_name:
                continue
            cond = row["condition"]
            key = (i, CONDITIONS.index(cond) if cond in CONDITIONS else len(CONDITIONS), cond)
            name = f"{run['label']}/{cond}" if multi else cond
            keyed.setdefault(key, (name, []))[1].append(row)
    groups = {name: rows for _, (name, rows) in sorted(keyed.items())}
    for rows in groups.values():
        rows.sort(key=lambda r: r["id"])
    return groups


def paired_tests(groups: dict[str, list[dict]], metrics: list[str], seed: int = 0, n_resamples: int = 2000) -> list[dict]:
    """Paired comparisons a − b on the questions both answered, for every two conditions; a is the
    later one in the canonical order (e.g. "ft − base", "ft_rag − rag"). With several runs only
    pairs inside one run and pairs of the same condition across runs are compared."""
    out = []
    for b, a in itertools.combinations(groups, 2):
        if "/" in a and "/" in b:  # several runs: compare within a run, or the same condition across runs
            (run_a, cond_a), (run_b, cond_b) = a.rsplit("/", 1), b.rsplit("/", 1)
            if run_a != run_b and cond_a != cond_b:
                continue
        by_id_b = {r["id"]: r for r in groups[b]}
        common = [r for r in groups[a] if r["id"] in by_id_b]
        for metric in metrics:
            va = [r["metrics"].get(metric) for r in common]
            vb = [by_id_b[r["id"]]["metrics"].get(metric) for r in common]
            if not any(x is not None and y is not None for x, y in zip(va, vb)):
                continue
            res = paired_comparison(va, vb, n_resamples=n_resamples, seed=seed)
            out.append({"a": a, "b": b, "metric": metric, **res})
    return out


def build_results(runs: list[dict], seed: int = 0, n_resamples: int = 2000) -> dict[str, Any]:
    """All report numbers as one JSON-able dict."""
    main = _by_condition(runs, "main")
    control = _by_condition(runs, "control")
    langs = sorted({r["lang"] for rows in main.values() for r in rows})
    results = {
        "plumbing_check": any(run["tiny"] for run in runs),
        "note": PLUMBING if any(run["tiny"] for run in runs) else "",
        "runs": [{"dir": run["dir"], "label": run["label"], "tiny_random_generator": run["tiny"],
                  "record": run["record"]} for run in runs],
        "conditions": list(main),
        "n_questions": {name: len(rows) for name, rows in main.items()},
        "summary": {name: summarize(rows, seed, n_resamples) for name, rows in main.items()},
        "by_lang": {
            lang: {name: summarize([r for r in rows if r["lang"] == lang], seed, n_resamples)
                   for name, rows in main.items() if any(r["lang"] == lang for r in rows)}
            for lang in langs
        },
        "paired": paired_tests(main, PAIRED_METRICS, seed, n_resamples),
        "paired_by_lang": {
            lang: paired_tests({name: [r for r in rows if r["lang"] == lang] for name, rows in main.items()
                                if any(r["lang"] == lang for r in rows)}, PAIRED_METRICS, seed, n_resamples)
            for lang in langs
        } if len(langs) > 1 else {},
        "control": {
            "summary": {name: summarize(rows, seed, n_resamples) for name, rows in control.items()},
            "paired": paired_tests(control, ["token_f1", "key_info", "exact_match", "semantic_similarity"], seed, n_resamples),
        },
    }
    return results


# ----------------------------------------------------------------------------- tables


def _fmt(ci: dict | None, digits: int = 3) -> str:
    if not ci or ci.get("mean") is None:
        return "–"
    return f"{ci['mean']:.{digits}f} [{ci['lo']:.{digits}f}, {ci['hi']:.{digits}f}]"


def _fmt_p(p: float | None) -> str:
    return "–" if p is None else (f"{p:.3g}" if p >= 0.001 else "<0.001")


def _present_metrics(summary: dict[str, dict]) -> list[tuple]:
    return [m for m in METRICS if any(m[0] in s for s in summary.values())]


def markdown_tables(results: dict) -> str:
    lines = ["# Evaluation tables", ""]
    if results["plumbing_check"]:
        lines += [f"> **{PLUMBING}**", ""]
    lines += ["Mean and bootstrap 95% CI per metric and condition; n = questions with a value.", ""]

    def table(summary: dict[str, dict], title: str) -> None:
        metrics = _present_metrics(summary)
        if not metrics:
            return
        lines.append(f"## {title}")
        lines.append("")
        lines.append("| condition | n | " + " | ".join(m[1] for m in metrics) + " |")
        lines.append("|---|---:|" + "---|" * len(metrics))
        for name, s in summary.items():
            n = max((v["n"] for v in s.values()), default=0)
            lines.append(f"| {name} | {n} | " + " | ".join(_fmt(s.get(m[0])) for m in metrics) + " |")
        lines.append("")

    table(results["summary"], "All questions")
    for lang, summary in results["by_lang"].items():
        table(summary, f"Language: {lang}")
    def paired_table(tests: list[dict], title: str) -> None:
        if not tests:
            return
        lines.extend([f"## {title}", "",
                      "| a | b | metric | n | mean diff [95% CI] | p (permutation) | p (Wilcoxon) |", "|---|---|---|---:|---|---:|---:|"])
        for t in tests:
            lines.append(f"| {t['a']} | {t['b']} | {t['metric']} | {t['n']} | {_fmt({'mean': t['mean_diff'], 'lo': t['lo'], 'hi': t['hi']})} "
                         f"| {_fmt_p(t['p_permutation'])} | {_fmt_p(t['p_wilcoxon'])} |")
        lines.append("")

    paired_table(results["paired"], "Paired tests (a − b on the same questions)")
    for lang, tests in results.get("paired_by_lang", {}).items():
        paired_table(tests, f"Paired tests, language: {lang}")
    if results["control"]["summary"]:
        lines += ["# Forgetting check (general, non-legal control questions, closed-book)", ""]
        table(results["control"]["summary"], "Control set")
        for t in results["control"]["paired"]:
            lines.append(f"- {t['a']} − {t['b']}, {t['metric']}: {_fmt({'mean': t['mean_diff'], 'lo': t['lo'], 'hi': t['hi']})}, "
                         f"p = {_fmt_p(t['p_permutation'])} (permutation), {_fmt_p(t['p_wilcoxon'])} (Wilcoxon), n = {t['n']}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for a, b in [("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#"), ("$", r"\$")]:
        text = text.replace(a, b)
    return text


def latex_tables(results: dict) -> str:
    out = ["% generated by `lexkz eval report`; needs \\usepackage{booktabs,graphicx}"]
    if results["plumbing_check"]:
        out.append(f"% {PLUMBING}")

    def table(summary: dict[str, dict], caption: str) -> None:
        metrics = _present_metrics(summary)
        if not metrics:
            return
        out.append("\\begin{table}[t]\\centering\\small")
        if results["plumbing_check"]:
            caption = "Plumbing check, not a result (tiny random model). " + caption
        out.append(f"\\caption{{{_tex(caption)}}}")
        out.append("\\resizebox{\\linewidth}{!}{\\begin{tabular}{l" + "c" * len(metrics) + "}\\toprule")
        out.append("Condition & " + " & ".join(_tex(m[1]) for m in metrics) + " \\\\\\midrule")
        for name, s in summary.items():
            cells = []
            for m in metrics:
                ci = s.get(m[0])
                cells.append("--" if not ci else f"{ci['mean']:.3f} \\scriptsize[{ci['lo']:.3f}, {ci['hi']:.3f}]")
            out.append(_tex(name) + " & " + " & ".join(cells) + " \\\\")
        out.append("\\bottomrule\\end{tabular}}\\end{table}")

    table(results["summary"], "Mean and bootstrap 95% CI per condition (all questions).")
    for lang, summary in results["by_lang"].items():
        table(summary, f"Mean and bootstrap 95% CI per condition ({lang}).")
    if results["paired"]:
        out.append("\\begin{table}[t]\\centering\\small")
        out.append("\\caption{Paired tests between conditions (a $-$ b).}")
        out.append("\\begin{tabular}{lllrcrr}\\toprule")
        out.append("a & b & metric & n & mean diff [95\\% CI] & $p_{perm}$ & $p_{W}$ \\\\\\midrule")
        for t in results["paired"]:
            out.append(f"{_tex(t['a'])} & {_tex(t['b'])} & {_tex(t['metric'])} & {t['n']} & "
                       f"{t['mean_diff']:.3f} [{t['lo']:.3f}, {t['hi']:.3f}] & {_tex(_fmt_p(t['p_permutation']))} & {_tex(_fmt_p(t['p_wilcoxon']))} \\\\")
        out.append("\\bottomrule\\end{tabular}\\end{table}")
    if results["control"]["summary"]:
        table(results["control"]["summary"], "Forgetting check: general control questions, closed-book.")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- figures


def _figures(results: dict, groups: dict[str, list[dict]], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    banner = "plumbing check, not a result (tiny random model)" if results["plumbing_check"] else ""
    names = list(results["summary"])
    written = []

    def save(fig, name: str) -> None:
        if banner:
            fig.suptitle(banner, color="crimson", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)
        written.append(name)

    bounded = [m for m in _present_metrics(results["summary"]) if m[3]]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(bounded) + 2), 4))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        s = results["summary"][name]
        means = [s[m[0]]["mean"] if m[0] in s else np.nan for m in bounded]
        err = [[s[m[0]]["mean"] - s[m[0]]["lo"] if m[0] in s else 0 for m in bounded],
               [s[m[0]]["hi"] - s[m[0]]["mean"] if m[0] in s else 0 for m in bounded]]
        ax.bar(np.arange(len(bounded)) + i * width, means, width, yerr=err, capsize=3, label=name)
    ax.set_xticks(np.arange(len(bounded)) + width * (len(names) - 1) / 2)
    ax.set_xticklabels([m[1] for m in bounded], rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean (95% bootstrap CI)")
    ax.legend(fontsize=8)
    save(fig, "benchmark_metrics.png")

    for metric, fname, xlabel in [("token_f1", "token_f1_histogram.png", "token F1"),
                                  ("key_info", "key_info_distribution.png", "key-info score")]:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in names:
            vals = [v for v in _values(groups[name], metric) if v is not None]
            if vals:
                ax.hist(vals, bins=np.linspace(0, 1, 11), histtype="step", linewidth=1.5, label=f"{name} (n={len(vals)})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("questions")
        ax.legend(fontsize=8)
        save(fig, fname)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 4))
    for ax, metric, ylabel in [(ax1, "generation_seconds", "seconds per answer"), (ax2, "tokens_per_second", "tokens / s")]:
        means, errs = [], [[], []]
        for name in names:
            ci = results["summary"][name].get(metric)
            means.append(ci["mean"] if ci else 0)
            errs[0].append(ci["mean"] - ci["lo"] if ci else 0)
            errs[1].append(ci["hi"] - ci["mean"] if ci else 0)
        ax.bar(range(len(names)), means, yerr=errs, capsize=3, color="tab:gray")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, fontsize=8)
        ax.set_ylabel(ylabel)
    save(fig, "generation_time.png")
    return written


# ----------------------------------------------------------------------------- key numbers, samples


def key_numbers(results: dict) -> str:
    lines = ["# Key numbers", ""]
    if results["plumbing_check"]:
        lines += [f"**{PLUMBING}**", ""]
    for run in results["runs"]:
        rec = run["record"]
        lines.append(f"- run `{run['label']}`: model `{rec.get('model')}`, adapter `{rec.get('adapter') or '-'}` "
                     f"(sha256 {str(rec.get('adapter_hash') or '-')[:12]}), index version {rec.get('index', {}).get('version', '-')}, "
                     f"seed {rec.get('config', {}).get('seed')}, {rec.get('n_questions', '?')} questions")
    lines.append("")
    for name, s in results["summary"].items():
        parts = [f"{label} {_fmt(s.get(key))}" for key, label, *_ in METRICS
                 if key in ("token_f1", "key_info", "citation_recall", "invented_citation_rate", "recall_at_k", "mrr",
                            "empty_answer", "tokens_per_second") and key in s]
        lines.append(f"- **{name}** (n={results['n_questions'][name]}): " + "; ".join(parts))
    lines.append("")
    multi = len(results["runs"]) > 1
    for t in results["paired"]:
        key_pair = (t["a"], t["b"]) in KEY_PAIRS or (multi and t["a"].split("/")[-1] == t["b"].split("/")[-1])
        if t["metric"] in ("token_f1", "key_info") and key_pair:
            lines.append(f"- {t['a']} − {t['b']}, {t['metric']}: difference {_fmt({'mean': t['mean_diff'], 'lo': t['lo'], 'hi': t['hi']})}, "
                         f"p = {_fmt_p(t['p_permutation'])} (permutation)")
    for t in results["control"]["paired"]:
        if t["metric"] == "token_f1":
            lines.append(f"- forgetting check (control questions), {t['a']} − {t['b']} token F1: "
                         f"{_fmt({'mean': t['mean_diff'], 'lo': t['lo'], 'hi': t['hi']})}, p = {_fmt_p(t['p_permutation'])}")
    return "\n".join(lines) + "\n"


def samples_markdown(results: dict, groups: dict[str, list[dict]], n: int = 5) -> str:
    lines = ["# Top and bottom samples by token F1", ""]
    if results["plumbing_check"]:
        lines += [f"**{PLUMBING}**", ""]
    for name, rows in groups.items():
        ranked = sorted((r for r in rows if r["metrics"].get("token_f1") is not None),
                        key=lambda r: (-r["metrics"]["token_f1"], r["id"]))
        for title, chosen in [("top", ranked[:n]), ("bottom", list(reversed(ranked[-n:])))]:
            lines += [f"## {name}: {title} {len(chosen)}", ""]
            for r in chosen:
                m = r["metrics"]
                lines += [f"### {r['id']} ({r['lang']}) token F1 {m['token_f1']:.3f}, key-info "
                          f"{'–' if m.get('key_info') is None else format(m['key_info'], '.3f')}",
                          f"- question: {r['question']}", f"- reference: {r['reference_answer']}",
                          f"- answer: {r['answer'] or '(empty)'}", ""]
    return "\n".join(lines) + "\n"


def write_report(run_dirs: list[str | Path], out_dir: str | Path | None = None) -> Path:
    """Write every report file for one or more runs; returns the report directory."""
    if not run_dirs:
        raise LexkzError("give at least one eval run directory: lexkz eval report RUN_DIR [RUN_DIR ...]")
    runs = [load_run(d) for d in run_dirs]
    labels = [r["label"] for r in runs]
    if len(set(labels)) != len(labels):
        for i, run in enumerate(runs):  # the same label twice: fall back to unique dir names
            run["label"] = f"{run['label']}-{i + 1}"
    out = Path(out_dir) if out_dir else (Path(run_dirs[0]) / "report" if len(runs) == 1 else None)
    if out is None:
        raise LexkzError("several runs need --out DIR for the combined report")
    out.mkdir(parents=True, exist_ok=True)
    cfg = runs[0]["record"].get("config", {})
    seed, n_resamples = int(cfg.get("seed", 0)), int(cfg.get("bootstrap_resamples", 2000))
    results = build_results(runs, seed, n_resamples)
    groups = _by_condition(runs, "main")
    results["figures"] = _figures(results, groups, out)
    write_json(out / "results.json", results)
    (out / "tables.md").write_text(markdown_tables(results), encoding="utf-8")
    (out / "tables.tex").write_text(latex_tables(results), encoding="utf-8")
    (out / "key_numbers.md").write_text(key_numbers(results), encoding="utf-8")
    (out / "samples.md").write_text(samples_markdown(results, groups), encoding="utf-8")
    return out
