"""`lexkz eval run|report`: the ablation runner and the report writer.

    lexkz eval run --config configs/tiny-ablation.toml --limit 6 --output-dir runs/eval-tiny
    lexkz eval report runs/eval-tiny
    lexkz eval report runs/eval-r8 runs/eval-r16 --out runs/eval-compare
"""

from __future__ import annotations

from pathlib import Path


def _run(args) -> int:
    from eval.config import EvalConfig
    from eval.run import run_eval
    from lexkz.config import load_stage

    overrides = {
        "limit": args.limit, "output_dir": args.output_dir, "index_dir": args.index,
        "model": args.model, "adapter": args.adapter, "batch_size": args.batch_size, "seed": args.seed,
        "questions": args.questions, "conditions": args.conditions.split(",") if args.conditions else None,
        "report": False if args.no_report else None,
    }
    cfg = load_stage(EvalConfig, args.config, "eval", overrides)
    out = run_eval(cfg, progress=not args.quiet)
    print(f"eval run written to {out}" + (f" (report: {Path(out) / 'report'})" if cfg.report else ""))
    return 0


def _report(args) -> int:
    from eval.report import write_report

    out = write_report(args.run_dirs, args.out)
    print(f"report written to {out}")
    if (Path(out) / "key_numbers.md").is_file():
        print((Path(out) / "key_numbers.md").read_text(encoding="utf-8"))
    return 0


def register(sub) -> None:
    p = sub.add_parser("eval", help="ablation runs and reports")
    esub = p.add_subparsers(dest="eval_command", required=True)

    r = esub.add_parser("run", help="run (or resume) the conditions of an ablation on one question set")
    r.add_argument("--config", required=True, help="TOML file with an [eval] section (e.g. configs/tiny-ablation.toml)")
    r.add_argument("--limit", type=int, help="use only the first N questions")
    r.add_argument("--output-dir", help="run directory (rows.jsonl, run.json, report/)")
    r.add_argument("--index", help="index directory")
    r.add_argument("--model", help="base model (hub id or local path)")
    r.add_argument("--adapter", help="LoRA adapter directory for ft / ft_rag")
    r.add_argument("--questions", nargs="+", help="eval set file(s) (JSONL or datasets dirs)")
    r.add_argument("--conditions", help="comma list of base,ft,rag,ft_rag,extractive")
    r.add_argument("--batch-size", type=int)
    r.add_argument("--seed", type=int)
    r.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_run)

    rep = esub.add_parser("report", help="tables, figures and key numbers for one or more runs")
    rep.add_argument("run_dirs", nargs="+", help="eval run directories")
    rep.add_argument("--out", help="report directory (default RUN_DIR/report; required for several runs)")
    rep.set_defaults(func=_report)
