"""Clone or update the upstream kazakhstan-law repositories with git.

    lexkz corpus sync --dir corpus-upstream [--scope codes ...] [--url-template URL]

Each scope is one repository, `IndexConfig.sync_url_template` with `{scope}` replaced
(default https://github.com/kazakhstan-law/{scope}.git; tests use a local bare repo via
file://), cloned into DIR/<scope>. Upstream force-pushes its history, so an existing clone
is updated with `git fetch` + `git reset --hard FETCH_HEAD`, never `git pull`. The commit
reached per scope is recorded in DIR/.lexkz-sync.json; `lexkz index update --corpus DIR`
then records those commits as the corpus revision in the index manifest.

git runs through index.gitsafe: a clone's own config (hooks, fsmonitor, filter drivers,
remote.origin.uploadpack, ...) runs nothing, and the fetch names the URL, not the remote.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from index.gitsafe import GitError, run_git
from lexkz.common import write_json
from lexkz.errors import LexkzError

SYNC_FILE = ".lexkz-sync.json"


def _git(args: list[str], cwd: Path | None = None, what: str = "git", checkout: bool = False) -> str:
    try:
        return run_git(args, cwd, timeout=3600, checkout=checkout).strip()
    except GitError as exc:
        if exc.missing:
            raise LexkzError("git is not installed: install git to use `lexkz corpus sync`", 3) from None
        if exc.timed_out:
            raise LexkzError(f"{what} timed out after an hour: check the network and run the sync again", 4) from None
        msg = exc.stderr.splitlines()
        raise LexkzError(f"{what} failed: {' / '.join(msg[-3:]) or str(exc)}; "
                         f"check the URL (sync_url_template) and your network, then run the sync again", 4) from None


def scope_url(template: str, scope: str) -> str:
    if "{scope}" not in template:
        raise LexkzError(f"sync URL template {template!r} has no {{scope}} placeholder: "
                         f"use e.g. https://github.com/kazakhstan-law/{{scope}}.git")
    return template.replace("{scope}", scope)


def sync_scope(dest_dir: Path, scope: str, url: str) -> dict:
    """Clone `url` into dest_dir/scope, or fetch it and hard-reset to the fetched head."""
    if not re.fullmatch(r"[\w.-]+", scope) or scope in (".", ".."):
        raise LexkzError(f"bad scope name {scope!r}: use a repository name such as codes")
    repo = dest_dir / scope
    if (repo / ".git").is_dir() and not (repo / ".git").is_symlink():
        here = [f"--git-dir={repo / '.git'}", f"--work-tree={repo}"]  # not core.worktree of its config
        before = _git([*here, "rev-parse", "HEAD"], repo, f"git rev-parse in {repo}")
        _git([*here, "remote", "set-url", "origin", url], repo, f"git remote set-url in {repo}")
        _git([*here, "fetch", "--force", "--no-tags", "--no-recurse-submodules", "--upload-pack=git-upload-pack",
              url, "HEAD"], repo, f"git fetch {url}")
        _git([*here, "reset", "--hard", "--no-recurse-submodules", "FETCH_HEAD"], repo, f"git reset --hard in {repo}",
             checkout=True)
        action = "updated"
    elif repo.exists() and any(repo.iterdir()):
        raise LexkzError(f"{repo} exists and is not a git clone: move it away or pick another --dir")
    else:
        before = None
        dest_dir.mkdir(parents=True, exist_ok=True)
        _git(["clone", "--quiet", "--no-recurse-submodules", url, str(repo)], None, f"git clone {url}", checkout=True)
        action = "cloned"
    commit = _git(["rev-parse", "HEAD"], repo, f"git rev-parse in {repo}")
    return {"scope": scope, "url": url, "path": str(repo), "action": action, "previous_commit": before,
            "commit": commit, "changed": before != commit,
            "synced_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def sync_corpus(dest_dir: str | Path, scopes: list[str], url_template: str) -> list[dict]:
    """Sync each scope and record the commits reached in DEST/.lexkz-sync.json."""
    dest = Path(dest_dir)
    if dest.exists() and not dest.is_dir():
        raise LexkzError(f"--dir {dest} is a file: pass a directory for the clones")
    if not scopes:
        raise LexkzError("no scope to sync: pass --scope NAME (e.g. codes) or set sync_scopes in the config")
    results = [sync_scope(dest, s, scope_url(url_template, s)) for s in scopes]
    record_file = dest / SYNC_FILE
    record = json.loads(record_file.read_text(encoding="utf-8")) if record_file.is_file() else {}
    record.setdefault("scopes", {})
    for r in results:
        record["scopes"][r["scope"]] = {k: r[k] for k in ("url", "commit", "synced_at")}
    write_json(record_file, record)
    return results
