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

A reader that closes the pipe early (`lexkz index info | head -1`) ends the command quietly
with exit code 141 (128 + SIGPIPE, what a shell reports for `seq 1000000 | head -1`): the
output was cut, so a script with `set -o pipefail` can tell, and no traceback is printed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from lexkz.errors import LexkzError

BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE

COMMAND_MODULES = ["index.cli", "index.history", "retrieval.cli", "graph.cli", "finetune.cli", "eval.cli", "lexkz.tiny", "lexkz.server.cli"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lexkz", description="RAG + fine-tune QA over the law of the Republic of Kazakhstan")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run_command(func, args: argparse.Namespace) -> int:
    """Run one command: a LexkzError becomes "error: <message>" and its exit code."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here rather than at interpreter exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except LexkzError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away: send what is still buffered to /dev/null (so the flush
    at interpreter exit cannot fail again) and exit with 141."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (e.g. captured in tests)
        pass
    return BROKEN_PIPE_EXIT


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
