"""Data folders run no code. A corpus (or a synced clone) whose .git/config names programs
(fsmonitor, hooks, filter drivers, upload-pack, credential helper, ssh, pager, ...) is read,
built, synced and updated with real git, and none of them runs; nor does git write outside
the clone when its config moves the work tree. And no stored file is unpickled."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from index.ingest import read_corpus
from lexkz.cli import main
from tests.test_ingest import UPSTREAM_RUS, write_upstream_act

ROOT = Path(__file__).resolve().parent.parent
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
HOOKS = ("reference-transaction", "post-checkout", "post-merge", "post-rewrite", "pre-auto-gc", "post-index-change",
         "fsmonitor-watchman", "pre-commit", "post-commit", "push-to-checkout")


def git(*args, cwd=None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True).stdout.strip()


def make_hostile(repo: Path, tmp: Path) -> Path:
    """Point every program-running setting of `repo`'s config at a script that appends to a
    marker file and fails (the filter script passes stdin through, so a filter would "work").
    Returns the marker."""
    marker = tmp / "ran.txt"
    script, filt = tmp / "evil.sh", tmp / "evil-filter.sh"
    script.write_text(f'#!/bin/sh\necho "$0 $*" >> "{marker}"\nexit 1\n', encoding="utf-8")
    filt.write_text(f'#!/bin/sh\necho "$0 $*" >> "{marker}"\nexec cat\n', encoding="utf-8")
    script.chmod(0o755)
    filt.chmod(0o755)
    hooks = tmp / "evil-hooks"
    hooks.mkdir(exist_ok=True)
    for name in HOOKS:
        shutil.copy(script, hooks / name)
    settings = {
        "core.fsmonitor": str(script), "core.hooksPath": str(hooks), "core.sshCommand": str(script),
        "core.askPass": str(script), "credential.helper": f"!{script}", "core.pager": str(script),
        "core.gitProxy": str(script), "diff.external": str(script), "diff.evil.textconv": str(script),
        "filter.evil.clean": str(filt), "filter.evil.smudge": str(filt), "filter.evil.required": "true",
        "remote.origin.uploadpack": str(script), "core.untrackedCache": "false",
    }
    for key, value in settings.items():
        git("config", key, value, cwd=repo)
    return marker


@pytest.fixture
def upstream(tmp_path):
    """A repo with one act whose .gitattributes sends every file through the `evil` filter,
    pushed to a bare remote."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    write_upstream_act(work)
    (work / ".gitattributes").write_text("* filter=evil diff=evil\n", encoding="utf-8")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("clone", "-q", "--bare", str(work), str(tmp_path / "codes.git"))
    git("remote", "add", "origin", str(tmp_path / "codes.git"), cwd=work)
    return work


pytestmark = [pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"), pytest.mark.timeout(300)]


def test_hostile_corpus_config_runs_nothing_on_read_and_build(upstream, tmp_path, capsys):
    work = upstream
    marker = make_hostile(work, tmp_path)
    head = git("rev-parse", "HEAD", cwd=work)

    assert main(["index", "build", "--corpus", str(work), "--index", str(tmp_path / "ix"), "--embedding", "hashing:64",
                 "--no-progress"]) == 0
    rev = read_corpus(work).revision
    assert rev == {"kind": "git", "commit": head, "dirty": False, "id": head}

    rus = next(work.glob("02-codes/*/*-999")) / "rus.md"
    rus.write_text(UPSTREAM_RUS + "\nправка\n", encoding="utf-8")  # stat-dirty: `git status` would clean-filter it
    dirty = read_corpus(work).revision
    assert dirty["dirty"] is True and dirty["commit"] == head and dirty["id"].startswith(head + "+")
    rus.write_text(UPSTREAM_RUS, encoding="utf-8")
    assert read_corpus(work).revision["dirty"] is False
    (rus.parent / "kaz.md").unlink()  # a file of HEAD gone from the folder
    assert read_corpus(work).revision["dirty"] is True
    assert not marker.exists(), marker.read_text()


def test_hostile_clone_config_runs_nothing_on_sync_and_update(upstream, tmp_path, capsys):
    work = upstream
    mirror = tmp_path / "mirror"
    template = f"file://{tmp_path}/{{scope}}.git"
    assert main(["corpus", "sync", "--dir", str(mirror), "--scope", "codes", "--url-template", template]) == 0
    assert main(["index", "build", "--corpus", str(mirror), "--index", str(tmp_path / "ix"),
                 "--embedding", "hashing:64", "--no-progress"]) == 0
    clone = mirror / "codes"
    marker = make_hostile(clone, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    git("config", "core.worktree", str(elsewhere), cwd=clone)  # reset --hard would write there

    act = next(work.glob("02-codes/*/*-999"))
    (act / "rus.md").write_text(UPSTREAM_RUS + "\n**Статья 3. Новая**\n\nНорма.\n", encoding="utf-8")
    git("commit", "-q", "-a", "-m", "second", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    second = git("rev-parse", "HEAD", cwd=work)
    capsys.readouterr()

    assert main(["corpus", "sync", "--dir", str(mirror), "--url-template", template]) == 0, capsys.readouterr().err
    assert "codes: updated" in capsys.readouterr().out
    assert git("rev-parse", "HEAD", cwd=clone) == second
    assert "Статья 3. Новая" in (clone / act.relative_to(work) / "rus.md").read_text(encoding="utf-8")
    assert main(["index", "update", "--corpus", str(mirror), "--index", str(tmp_path / "ix"), "--json",
                 "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["acts"]["999"]["added"] == ["999/3/rus"]
    assert not marker.exists(), marker.read_text()
    assert not elsewhere.exists()


def _loads_pickle(node: ast.AST) -> str | None:
    """'pickle.load' / 'torch.load without weights_only=True' / 'np.load(allow_pickle=True)'."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
    name = node.func.attr
    kw = {k.arg: k.value for k in node.keywords}
    if owner in ("pickle", "cPickle", "dill", "joblib", "cloudpickle") and name in ("load", "loads", "Unpickler"):
        return f"{owner}.{name}"
    if owner == "torch" and name == "load":
        wo = kw.get("weights_only")
        if not (isinstance(wo, ast.Constant) and wo.value is True):
            return "torch.load without weights_only=True"
    if owner in ("np", "numpy") and name == "load":
        ap = kw.get("allow_pickle")
        if isinstance(ap, ast.Constant) and ap.value is True:
            return "np.load(allow_pickle=True)"
    if owner == "pd" and name == "read_pickle":
        return "pd.read_pickle"
    return None


# lexical.pkl is replaced by SQLite FTS5 in the retrieval rework (issue 11 item 2, index side)
KNOWN = {"retrieval/lexical.py"}


def test_no_stored_file_is_unpickled():
    found = []
    for package in ("lexkz", "index", "retrieval", "graph", "finetune", "eval", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                what = _loads_pickle(node)
                if what and rel not in KNOWN:
                    found.append(f"{rel}:{node.lineno}: {what}")
    assert found == []
    # the scan is not vacuous: it sees each form
    for src in ("pickle.load(fh)", "torch.load(p)", "np.load(p, allow_pickle=True)"):
        assert _loads_pickle(ast.parse(src).body[0].value), src
    assert _loads_pickle(ast.parse("torch.load(p, weights_only=True)").body[0].value) is None
