"""`lexkz corpus sync` against a local bare git repo (file://), then `lexkz index update`:
the index moves from the first commit to the second and reports exactly the changed articles.
Upstream force-pushes, so the second commit here rewrites history (amend + push --force)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from index.store import open_index
from lexkz.cli import main
from tests.test_ingest import UPSTREAM_RUS, write_upstream_act

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args, cwd=None) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def upstream(tmp_path):
    """A work repo with one made-up act in the kazakhstan-law layout, pushed to remotes/codes.git."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    write_upstream_act(work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "first edition", cwd=work)
    return work, publish(work, tmp_path / "remotes")


def publish(work, remotes) -> str:
    """Push `work` to a bare `remotes/codes.git` (its origin); returns the sync URL template."""
    remotes.mkdir()
    git("clone", "-q", "--bare", str(work), str(remotes / "codes.git"))
    git("remote", "add", "origin", str(remotes / "codes.git"), cwd=work)
    return f"file://{remotes}/{{scope}}.git"


def test_sync_then_update_moves_index_to_new_commit(upstream, tmp_path, capsys):
    work, template = upstream
    first = git("rev-parse", "HEAD", cwd=work)
    mirror = tmp_path / "mirror"
    ix_dir = tmp_path / "ix"

    assert main(["corpus", "sync", "--dir", str(mirror), "--scope", "codes", "--url-template", template]) == 0
    assert "codes: cloned" in capsys.readouterr().out
    record = json.loads((mirror / ".lexkz-sync.json").read_text())
    assert record["scopes"]["codes"]["commit"] == first
    assert main(["index", "build", "--corpus", str(mirror), "--index", str(ix_dir), "--embedding", "hashing:64",
                 "--no-progress"]) == 0
    capsys.readouterr()
    ix = open_index(ix_dir)
    assert ix.manifest["corpus"]["revision"]["commits"] == {"codes": first}
    assert ix.articles.count() == 3

    # second edition: article 1 amended, article 3 added; history rewritten and force-pushed
    act = next(work.glob("02-codes/*/*-999"))
    rus = UPSTREAM_RUS.replace("регулирует тестовые отношения", "регулирует тестовые и иные отношения")
    rus += "\n<a id=\"st3\"></a>\n\n**Статья 3. Новая статья**\n\nНовая норма.\n"
    (act / "rus.md").write_text(rus, encoding="utf-8")
    git("commit", "-q", "-a", "--amend", "-m", "second edition", cwd=work)
    git("push", "-q", "--force", "origin", "HEAD:main", cwd=work)
    second = git("rev-parse", "HEAD", cwd=work)
    assert second != first

    assert main(["corpus", "sync", "--dir", str(mirror), "--url-template", template]) == 0  # default scope: codes
    out = capsys.readouterr().out
    assert "codes: updated" in out and second[:12] in out
    assert git("rev-parse", "HEAD", cwd=mirror / "codes") == second
    assert json.loads((mirror / ".lexkz-sync.json").read_text())["scopes"]["codes"]["commit"] == second

    assert main(["index", "update", "--corpus", str(mirror), "--index", str(ix_dir), "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["acts"] == {"999": {"added": ["999/3/rus"], "changed": ["999/1/rus"], "removed": []}}
    assert report["reembedded_articles"] == 2
    ix = open_index(ix_dir)
    assert ix.version == 2 and ix.manifest["corpus"]["revision"]["commits"] == {"codes": second}
    assert "и иные отношения" in ix.articles.get("999/1/rus").text

    # a sync with nothing new keeps the commit; the update then writes nothing
    assert main(["corpus", "sync", "--dir", str(mirror), "--url-template", template]) == 0
    assert "no change" in capsys.readouterr().out
    assert main(["index", "update", "--corpus", str(mirror), "--index", str(ix_dir)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_corpus_that_is_a_git_repo_records_head(upstream, tmp_path):
    work, _ = upstream
    from index.ingest import read_corpus

    snap = read_corpus(work)
    assert snap.revision["kind"] == "git" and snap.revision["commit"] == git("rev-parse", "HEAD", cwd=work)
    assert snap.revision["dirty"] is False
    (next(work.glob("02-codes/*/*-999")) / "rus.md").write_text(UPSTREAM_RUS + "\nправка\n", encoding="utf-8")
    dirty = read_corpus(work).revision
    assert dirty["dirty"] is True and dirty["id"] != snap.revision["id"]


def test_sync_errors(tmp_path, capsys):
    rc = main(["corpus", "sync", "--dir", str(tmp_path / "m"), "--scope", "codes",
               "--url-template", f"file://{tmp_path}/missing/{{scope}}.git"])
    err = capsys.readouterr().err
    assert rc == 4 and "git clone" in err and "failed" in err and "sync_url_template" in err
    rc = main(["corpus", "sync", "--dir", str(tmp_path / "m"), "--url-template", "file:///no/placeholder.git"])
    assert rc == 2 and "{scope}" in capsys.readouterr().err
    (tmp_path / "m" / "codes").mkdir(parents=True)
    (tmp_path / "m" / "codes" / "x.txt").write_text("x")
    rc = main(["corpus", "sync", "--dir", str(tmp_path / "m"), "--url-template", f"file://{tmp_path}/{{scope}}.git"])
    assert rc == 2 and "not a git clone" in capsys.readouterr().err
