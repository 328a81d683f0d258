"""Metric suite, ablation runner and paper-ready reports.

    eval/datasets.py   eval items from JSONL / `datasets` dirs (line-numbered errors, act filter)
    eval/metrics.py    the metric suite: one documented pure function per metric
    eval/stats.py      bootstrap CIs and paired tests (checked against scipy)
    eval/config.py     EvalConfig ([eval] in TOML) and the five conditions
    eval/run.py        `lexkz eval run`: conditions x questions -> rows.jsonl + run.json (resumable)
    eval/report.py     `lexkz eval report`: results.json, Markdown/LaTeX tables, PNGs, key numbers
    eval/data/control_general.jsonl   general rus/kaz questions for the forgetting check
"""
