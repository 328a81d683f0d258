"""`lexkz index build|update|info|verify|restore` and `lexkz corpus sync`.

    lexkz index build   --corpus DIR [--index .lexkz/index] [--embedding minilm] [--config TOML]
    lexkz index update  --corpus DIR [--index .lexkz/index] [--embedding MODEL] [--allow-removals] [--json]
    lexkz index info    [--index .lexkz/index] [--json]
    lexkz index verify  [--index .lexkz/index] [--json]        exit 3 when anything is damaged
    lexkz index restore N [--index .lexkz/index]               make complete version N live again
    lexkz corpus sync  --dir DIR [--scope codes ...] [--url-template URL] [--config TOML]

`--corpus` defaults to LEXKZ_CORPUS or ../shared/corpus when present. Settings come from the
[index] section of --config (see configs/index-bge-m3.toml); flags override them.
"""

from __future__ import annotations

import json
import sys

from index.config import IndexConfig
from index.store import DEFAULT_INDEX_DIR
from lexkz.common import default_corpus_dir
from lexkz.config import help_of, load_stage
from lexkz.errors import LexkzError



def _corpus(args) -> str:
    if args.corpus:
        return args.corpus
    found = default_corpus_dir()
    if found is None:
        raise LexkzError("no corpus given: pass --corpus DIR (act folders with meta.yaml + rus.md/kaz.md), "
                         "set LEXKZ_CORPUS, or fetch one with `lexkz corpus sync --dir DIR`")
    return str(found)


def _config(args, **overrides) -> IndexConfig:
    return load_stage(IndexConfig, args.config, "index", overrides)


def cmd_build(args) -> int:
    from index.build import build_index, format_report

    cfg = _config(args, embedding=args.embedding, batch_size=args.batch_size, dense_kind=args.dense_kind)
    report = build_index(_corpus(args), args.index, cfg, progress=not args.no_progress)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 0


def cmd_update(args) -> int:
    from index.build import format_report, update_index

    from lexkz.config import read_toml

    settings = dict(read_toml(args.config).get("index", {})) if args.config else {}
    if args.batch_size:
        settings["batch_size"] = args.batch_size
    report = update_index(_corpus(args), args.index, settings, embedding=args.embedding, progress=not args.no_progress,
                          allow_removals=args.allow_removals)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 0


def index_info(index_dir) -> dict:
    from index.store import list_versions, open_index

    ix = open_index(index_dir)
    m = ix.manifest
    return {
        "index": str(index_dir), "version": m["version"], "versions_on_disk": list_versions(ix.index_dir),
        "previous_version": m.get("previous_version"), "kind": m["kind"], "created_at": m["created_at"],
        "corpus": m["corpus"], "embedding": m["embedding"], "dense": m["dense"], "counts": m["counts"],
        "last_change": m.get("diff"), "acts": ix.articles.acts(), "config": m["config"], "warnings": m.get("warnings", []),
    }


def cmd_info(args) -> int:
    info = index_info(args.index)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    rev = info["corpus"]["revision"]
    rev_txt = rev.get("commit") or ", ".join(f"{k}@{v[:12]}" for k, v in rev.get("commits", {}).items()) or rev["id"][:16]
    emb = info["embedding"]
    c = info["counts"]
    print(f"index      {info['index']}  version {info['version']} ({info['kind']}, {info['created_at']}); "
          f"on disk: {', '.join(map(str, info['versions_on_disk']))}")
    print(f"corpus     {info['corpus']['path']}  revision {rev_txt} ({rev['kind']})")
    print(f"embedding  {emb['model']} ({emb['dim']}-d, query prefix {emb['query_prefix']!r}, passage prefix {emb['passage_prefix']!r}); "
          f"dense {info['dense']['kind']}")
    langs = ", ".join(f"{k} {v}" for k, v in c["by_lang"].items())
    print(f"counts     {c['acts']} acts, {c['articles']} articles ({langs}), {c['passages']} passages")
    for a in info["acts"]:
        print(f"  {a['code']:14s} {a['status']:9s} {'/'.join(a['langs']):8s} {a['title_ru'] or a['title_kz']}")
    return 0


def cmd_verify(args) -> int:
    from index.integrity import format_verify, verify_index

    report = verify_index(args.index)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_verify(report))
    return 0 if report["ok"] else 3


def cmd_restore(args) -> int:
    from index.versions import restore_version

    report = restore_version(args.index, args.version)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(f"index {report['index']}: version {report['version']} is live (was {report['previous_live']})")
    return 0


def cmd_sync(args) -> int:
    from index.sync import sync_corpus

    cfg = _config(args, sync_url_template=args.url_template)
    results = sync_corpus(args.dir, args.scope or cfg.sync_scopes, cfg.sync_url_template)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for r in results:
            moved = f"{(r['previous_commit'] or '')[:12]} -> {r['commit'][:12]}" if r["changed"] else f"at {r['commit'][:12]} (no change)"
            print(f"{r['scope']}: {r['action']} {r['url']} {moved}")
        print(f"then: lexkz index update --corpus {args.dir} --index {DEFAULT_INDEX_DIR}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p_index = sub.add_parser("index", help="build, update and inspect the article index")
    isub = p_index.add_subparsers(dest="index_command", required=True)

    def common(p, corpus: bool = True):
        if corpus:
            p.add_argument("--corpus", help="corpus dir (default: LEXKZ_CORPUS or ../shared/corpus)")
        p.add_argument("--index", default=DEFAULT_INDEX_DIR, help=f"index dir (default {DEFAULT_INDEX_DIR})")
        p.add_argument("--json", action="store_true", help="print the report as JSON")

    b = isub.add_parser("build", help="full build: embed every article into a new index version")
    common(b)
    b.add_argument("--embedding", help=help_of(IndexConfig, "embedding"))
    b.add_argument("--dense-kind", choices=["flat", "ivf", "auto"], help=help_of(IndexConfig, "dense_kind"))
    b.add_argument("--batch-size", type=int, help=help_of(IndexConfig, "batch_size"))
    b.add_argument("--config", help="TOML file with an [index] section")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build)

    u = isub.add_parser("update", help="incremental update: re-embed only added/changed articles, drop removed ones")
    common(u)
    u.add_argument("--embedding", help="refuse unless the index was built with this model")
    u.add_argument("--batch-size", type=int, help=help_of(IndexConfig, "batch_size"))
    u.add_argument("--config", help="TOML file with an [index] section (vector-shaping settings must match the index)")
    u.add_argument("--no-progress", action="store_true", help="no progress bar")
    u.add_argument("--allow-removals", action="store_true",
                   help="update even when it removes more than max_removed_share ([index] config, default 0.2) "
                        "of an act's articles in one language")
    u.set_defaults(func=cmd_update)

    i = isub.add_parser("info", help="show the live version: corpus revision, model, counts, acts")
    common(i, corpus=False)
    i.set_defaults(func=cmd_info)

    v = isub.add_parser("verify", help="check CURRENT and every version: file hashes, counts, FTS rows, NaN vectors (exit 3 on damage)")
    common(v, corpus=False)
    v.set_defaults(func=cmd_verify)

    r = isub.add_parser("restore", help="make an earlier complete version live again (checked first)")
    r.add_argument("version", type=int, help="version number (a folder under INDEX/versions)")
    common(r, corpus=False)
    r.set_defaults(func=cmd_restore)

    p_corpus = sub.add_parser("corpus", help="fetch the upstream corpus")
    csub = p_corpus.add_subparsers(dest="corpus_command", required=True)
    s = csub.add_parser("sync", help="clone or update (fetch + reset --hard) the kazakhstan-law repositories")
    s.add_argument("--dir", required=True, help="folder for the clones (one per scope)")
    s.add_argument("--scope", nargs="+", help="repositories to sync (default: sync_scopes of the config, i.e. codes)")
    s.add_argument("--url-template", help=help_of(IndexConfig, "sync_url_template"))
    s.add_argument("--config", help="TOML file with an [index] section")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sync)
