"""Upstream git history (index/ingest.py git_editions): a local repository in the kazakhstan-law
layout with four dated commits of one act (add, amend, exclude an article, re-add it),
`lexkz corpus sync` from a bare remote, `lexkz index build` / `index update`, then as-of
queries, `lexkz history` and the refusal of backwards dates. Real git, SQLite, FAISS."""

from __future__ import annotations

import json
import shutil

import pytest

from index.asof import AsOfStore
from index.store import open_index
from lexkz.cli import main
from retrieval.hybrid import HybridRetriever
from tests.test_sync import git, publish

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

META = """act_code: '999'
title:
  rus: Тестовый кодекс
form: КОД
source:
  rus: https://zan.gov.kz/client/#!/doc/999/rus
version_date: '{date}'
caused_by: '{by}'
"""
ART1 = "**Статья 1. Назначение кодекса**\n\nКодекс регулирует тестовые {what}отношения.\n"
ART2 = "**Статья 2. Правовая основа**\n\nПравовую основу составляет Конституция.\n"
VERSIONS = [  # (version_date, caused_by, article 1 wording, article 2 present)
    ("2020-01-01", "Закон № 1-I (принятие)", "", True),
    ("2021-01-01", "Закон № 2-II (изменение ст. 1)", "и иные ", True),
    ("2022-01-01", "Закон № 3-III (исключение ст. 2)", "и иные ", False),
    ("2023-01-01", "Закон № 4-IV (ст. 2 восстановлена)", "и иные ", True),
]


def write_version(work, date, by, what, with_art2):
    act = work / "02-codes" / "2020" / "0101-testovyi-kodeks-999"
    act.mkdir(parents=True, exist_ok=True)
    (act / "meta.yaml").write_text(META.format(date=date, by=by), encoding="utf-8")
    text = "# ТЕСТОВЫЙ КОДЕКС\n\n## Глава 1. ОБЩИЕ ПОЛОЖЕНИЯ\n\n<a id=\"st1\"></a>\n\n" + ART1.format(what=what)
    if with_art2:
        text += "\n<a id=\"st2\"></a>\n\n" + ART2
    (act / "rus.md").write_text(text, encoding="utf-8")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", f"version {date}", cwd=work)


@pytest.fixture
def upstream(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    write_version(work, *VERSIONS[0])
    return work, publish(work, tmp_path / "remotes")


def test_four_commits_index_every_version(upstream, tmp_path, capsys):
    work, template = upstream
    mirror, ix_dir = tmp_path / "mirror", tmp_path / "ix"
    assert main(["corpus", "sync", "--dir", str(mirror), "--url-template", template]) == 0
    assert main(["index", "build", "--corpus", str(mirror), "--index", str(ix_dir), "--embedding", "hashing:64",
                 "--no-progress"]) == 0
    for v in VERSIONS[1:]:
        write_version(work, *v)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    assert main(["corpus", "sync", "--dir", str(mirror), "--url-template", template]) == 0
    capsys.readouterr()
    assert main(["index", "update", "--corpus", str(mirror), "--index", str(ix_dir), "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    # the old wording of article 1 became a version (vectors kept); the re-added article 2 has the text of 2020
    assert report["reembedded_article_ids"] == ["999/1/rus"]
    assert report["acts"]["999"]["added"] == ["999/1/rus@2020-01-01"]

    store = open_index(ix_dir).articles
    for day, art1, has2 in (("2020-06-01", "тестовые отношения", True), ("2021-06-01", "тестовые и иные отношения", True),
                            ("2022-06-01", "тестовые и иные отношения", False), ("2023-06-01", "тестовые и иные отношения", True)):
        view = AsOfStore(store, day)
        (a1,) = view.find("999", "1", "rus")
        assert art1 in a1.text and not a1.gap, day
        assert bool(view.find("999", "2", "rus")) == has2, day
        hits = {h.number: h for h in HybridRetriever(ix_dir).retrieve("Кодекс регулирует отношения правовую основу",
                                                                      k=5, as_of=day)}
        assert art1 in hits["1"].text and ("2" in hits) == has2, day
    assert AsOfStore(store, "2019-06-01").find("999") == []  # before the first version: not in force
    assert HybridRetriever(ix_dir).retrieve("Кодекс регулирует отношения", as_of="2019-06-01") == []

    # history: article 1 in all four versions, each with its amending act; article 2 not in the third
    assert main(["history", "999", "1", "--index", str(ix_dir), "--json"]) == 0
    h1 = json.loads(capsys.readouterr().out)
    assert [(r["valid_from"], r["valid_to"], r["caused_by"]) for r in h1] == [
        (d, VERSIONS[i + 1][0] if i + 1 < 4 else None, by) for i, (d, by, _, _) in enumerate(VERSIONS)]
    assert [r["article_id"] for r in h1] == ["999/1/rus@2020-01-01"] + ["999/1/rus"] * 3
    assert not any(r["gap"] for r in h1)  # one commit per version: nothing missing in between
    assert main(["history", "999", "2", "--index", str(ix_dir), "--json"]) == 0
    h2 = json.loads(capsys.readouterr().out)
    assert [r["valid_from"] for r in h2] == ["2020-01-01", "2021-01-01", "2023-01-01"]
    assert {r["article_id"] for r in h2} == {"999/2/rus"}  # the same text, stored once
    assert main(["diff", "999", "1", "--index", str(ix_dir), "--from", "2020-06-01", "--to", "2023-06-01", "--json"]) == 0
    assert "{+и иные+}" in json.loads(capsys.readouterr().out)["text"]


def test_backwards_version_dates_are_refused(upstream, tmp_path, capsys):
    work, _ = upstream
    write_version(work, "2019-01-01", "Закон задним числом", "и иные ", True)  # earlier than the first commit
    first = git("rev-list", "--max-parents=0", "HEAD", cwd=work)
    capsys.readouterr()
    assert main(["index", "build", "--corpus", str(work), "--index", str(tmp_path / "ix"), "--embedding", "hashing:64",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "999" in err and first[:12] in err and "backwards" in err
    assert not (tmp_path / "ix" / "CURRENT").exists()
