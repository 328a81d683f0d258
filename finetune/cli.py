"""`lexkz finetune data|train|merge`: the fine-tune stage on the command line.

    lexkz finetune data --qa FILE... [--corpus-index DIR] --mode closed_book|rag --out DIR
    lexkz finetune train --config configs/tiny.toml [--output-dir DIR] [--resume]
    lexkz finetune merge --adapter DIR --out DIR
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("finetune", help="SFT data, QLoRA training, adapter merge")
    fsub = p.add_subparsers(dest="finetune_command", required=True)

    def data(args):
        from finetune.data_build import run_from_args

        return run_from_args(args)

    def train(args):
        from finetune.train import run_from_args

        return run_from_args(args)

    def merge(args):
        from finetune.merge import run_from_args

        return run_from_args(args)

    from finetune import data_build, merge as merge_mod, train as train_mod

    d = fsub.add_parser("data", help="make an SFT dataset (closed_book or RAFT-style rag) with a data card")
    data_build.add_arguments(d)
    d.set_defaults(func=data)
    t = fsub.add_parser("train", help="LoRA / QLoRA fine-tune with trl SFTTrainer; writes the adapter and a run record")
    train_mod.add_arguments(t)
    t.set_defaults(func=train)
    m = fsub.add_parser("merge", help="merge an adapter into its base model (bf16)")
    merge_mod.add_arguments(m)
    m.set_defaults(func=merge)
