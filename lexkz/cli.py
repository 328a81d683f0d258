"""`lexkz` command line: one entry point; each package adds its own subcommands.

    lexkz index build|update|info     (index.cli)
    lexkz corpus sync                 (index.cli)
    lexkz history|diff                (index.history)
    lexkz search                      (retrieval.cli)
    lexkz ask                         (graph.cli)
    lexkz finetune data|train|merge   (finetune.cli)
    lexkz eval run|report             (eval.cli)
    lexkz tiny-model                  (build a tiny random Qwen3 for CPU smoke runs)

Every module named here exposes `register(subparsers)`; a subcommand sets
`func(args) -> int`. A LexkzError becomes "error: <message>" and its exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from lexkz.errors import LexkzError

COMMAND_MODULES = ["index.cli", "index.history", "retrieval.cli", "graph.cli", "finetune.cli", "eval.cli", "lexkz.tiny", "lexkz.server.cli"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lexkz", description="RAG + fine-tune QA over the law of the Republic of Kazakhstan")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a package still being written must not break the others
            if exc.name and (exc.name == name or name.startswith(exc.name + ".")):
                continue
            raise
        module.register(sub)
    return parser


def run_command(func, args: argparse.Namespace) -> int:
    """Run one command: a LexkzError becomes "error: <message>" and its exit code."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return int(func(args) or 0)
    except LexkzError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run_module(prog: str, doc: str | None, add_arguments, run_from_args, argv: list[str] | None = None) -> int:
    """`python -m <module>` entry point of a module that also serves as a `lexkz` subcommand."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_command(run_from_args, parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
