"""Ingest: both corpus layouts, article splitting, metadata, and bad-input errors via the CLI."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from index.ingest import corpus_revision, normalize_status, read_corpus, split_articles
from lexkz.cli import main
from tests.fixture_corpus import CONSUMER, LABOUR, OLD_CONST, write_fixture_corpus

# The splitting regex the corpus README gives, used here as an independent count.
README_HEADING = re.compile(r"^### (?:Статья (\d+(?:-\d+)?)|(\d+(?:-\d+)?)-бап)\b", re.MULTILINE)


@pytest.mark.corpus
def test_shared_corpus_article_counts_match_headings(shared_corpus):
    snap = read_corpus(shared_corpus)
    assert len(snap.acts) >= 9
    by_act_lang: dict[tuple[str, str], list] = {}
    for a in snap.articles:
        by_act_lang.setdefault((a.act_code, a.lang), []).append(a)
    for act in snap.acts:
        for lang in act.langs:
            text = (shared_corpus / act.folder / f"{lang}.md").read_text(encoding="utf-8")
            headings = [m.group(1) or m.group(2) for m in README_HEADING.finditer(text)]
            got = by_act_lang[(act.code, lang)]
            assert len(got) == len(headings), (act.code, lang)
            assert [a.number for a in got] == headings
            meta = yaml.safe_load((shared_corpus / act.folder / "meta.yaml").read_text(encoding="utf-8"))
            assert len(got) == meta["files"][lang]["articles"]
    for a in snap.articles:
        assert a.number and a.text.strip() and a.url.startswith("https://"), a.id
        assert a.id == f"{a.act_code}/{a.number}/{a.lang}"
        assert a.status in ("in_force", "repealed")
        assert (f"/{a.lang}" in a.url), a.url
    assert snap.warnings == []
    acts = {a.code: a for a in snap.acts}
    assert acts["K950001000_"].status == "repealed" and acts["ZAN-223244"].status == "in_force"
    # the 2026 Constitution has no adilet code: its links are the zan.gov.kz pages
    assert acts["ZAN-223244"].url == "https://zan.gov.kz/client/#!/doc/223244/rus"
    assert acts["ZAN-223244"].url_kaz == "https://zan.gov.kz/client/#!/doc/223244/kaz"
    assert acts["K1500000414"].url_kaz == "https://adilet.zan.kz/kaz/docs/K1500000414"
    labour = {a.number: a for a in by_act_lang[("K1500000414", "kaz")]}
    assert labour["1"].title and labour["1"].act_title.startswith("Қазақстан")
    # a heading-only article ("Статья 20. (Исключена ...)") keeps its heading as text
    housing20 = next(a for a in by_act_lang[("Z970000094_", "rus")] if a.number == "20")
    assert "Исключена" in housing20.title and housing20.text == housing20.title


@pytest.mark.corpus
def test_shared_corpus_footnotes_stay_with_their_article(shared_corpus):
    snap = read_corpus(shared_corpus)
    art2 = next(a for a in snap.articles if a.id == "K950001000_/2/rus")
    assert "Сноска. Статья 2 с изменениями" in art2.text
    assert "Сноска. Статья 2" not in next(a for a in snap.articles if a.id == "K950001000_/3/rus").text
    preamble = "Мы, народ Казахстана"
    assert not any(preamble in a.text for a in snap.articles if a.act_code == "K950001000_")


RUS = """# Тестовый закон

Преамбула закона, не статья.

## Глава 1. Общие положения

### Статья 1. Понятия

Текст первой статьи.

Второй абзац первой статьи.

> *Сноска. Статья 1 с изменением, внесенным Законом от 01.01.2020 № 1.*

### Статья 1-1. Вставленная статья

Текст вставленной статьи.

### Статья 3а. Опечатка в заголовке

Этот абзац идёт после нечитаемого заголовка.

### Статья 2. (Исключена Законом от 02.02.2021 № 2)

## Глава 2. Прочее

Сноска к главе, не к статье.

### Статья 4

Статья без заголовка.
"""

KAZ = """# Тестілік заң

### 1-бап. Ұғымдар

Бірінші баптың мәтіні.

> *Ескертпе. 1-бап өзгертілді.*

### 113-1-бап. Қосымша бап

Қосымша мәтін.
"""


def test_split_russian_articles():
    warnings: list[str] = []
    arts = split_articles(RUS, "T1", "Тестовый закон", "rus", "https://adilet.zan.kz/rus/docs/T1", "in_force", "T1/rus.md", warnings)
    assert [a.number for a in arts] == ["1", "1-1", "2", "4"]
    a1 = arts[0]
    assert a1.id == "T1/1/rus" and a1.title == "Понятия" and a1.source == "T1/rus.md:7"
    assert "Второй абзац" in a1.text and "Сноска. Статья 1" in a1.text
    assert "Преамбула" not in "".join(a.text for a in arts)
    assert arts[2].title.startswith("(Исключена") and arts[2].text == arts[2].title
    # the unparseable heading warns with file:line; its text stays with the previous article
    bad_line = RUS.split("\n").index("### Статья 3а. Опечатка в заголовке") + 1
    assert len(warnings) == 1 and warnings[0].startswith(f"T1/rus.md:{bad_line}:") and "Статья 3а" in warnings[0]
    assert "после нечитаемого заголовка" in arts[1].text
    # a chapter heading ends an article: the chapter's footnote is in no article
    assert not any("Сноска к главе" in a.text for a in arts)
    assert arts[3].title == "" and arts[3].text == "Статья без заголовка."
    assert [a.position for a in arts] == [0, 1, 2, 3]
    assert len({a.sha256 for a in arts}) == 4


def test_split_kazakh_articles_and_hash_follows_content():
    arts = split_articles(KAZ, "T1", "Тестілік заң", "kaz", "u", source="kaz.md")
    assert [(a.number, a.title) for a in arts] == [("1", "Ұғымдар"), ("113-1", "Қосымша бап")]
    assert "Ескертпе" in arts[0].text and arts[0].id == "T1/1/kaz"
    again = split_articles(KAZ.replace("Қосымша мәтін.", "Жаңа мәтін."), "T1", "Тестілік заң", "kaz", "u")
    assert again[0].sha256 == arts[0].sha256 and again[1].sha256 != arts[1].sha256


def test_fixture_corpus_layout(fixture_corpus):
    snap = read_corpus(fixture_corpus)
    ids = {a.id for a in snap.articles}
    assert {f"{LABOUR}/88-1/rus", f"{LABOUR}/88-1/kaz", f"{CONSUMER}/30/rus", f"{OLD_CONST}/2/rus"} <= ids
    assert len(snap.articles) == 5 + 5 + 3 + 2
    acts = {a.code: a for a in snap.acts}
    assert acts[OLD_CONST].status == "repealed" and acts[LABOUR].status == "in_force"
    kaz = next(a for a in snap.articles if a.id == f"{LABOUR}/1/kaz")
    assert kaz.url == f"https://adilet.zan.kz/kaz/docs/{LABOUR}" and kaz.act_title.startswith("Тестілік")
    assert snap.revision["kind"] == "files" and len(snap.revision["id"]) == 64


UPSTREAM_META = """act_code: '999'
requisite: Кодекс от 1 января 2020 года № 1. Прекратил действие с 1 июля 2026 года
title:
  rus: Тестовый кодекс
  kaz: Тестілік кодекс
form: КОД
source:
  rus: https://zan.gov.kz/client/#!/doc/999/rus/01.01.2020
"""

UPSTREAM_RUS = """---
version_id: '999_1'
act_code: '999'
language: rus
---

# ТЕСТОВЫЙ КОДЕКС

Вводные слова.

## Глава 1. ОБЩИЕ ПОЛОЖЕНИЯ

<a id="st1"></a>

**Статья 1. Назначение кодекса**

Кодекс регулирует тестовые отношения.

> *Сноска. Статья 1 с изменением.*

<a id="st2"></a>

**Статья 2-1. Правовая основа**

Правовую основу составляет Конституция.
"""

UPSTREAM_KAZ = """---
language: kaz
---

# ТЕСТІЛІК КОДЕКС

<a id="st1"></a>

**1-бап**

Кодекс тестілік қатынастарды реттейді.
"""


def write_upstream_act(root: Path, rus: str = UPSTREAM_RUS) -> Path:
    d = root / "02-codes" / "2020" / "0101-testovyi-kodeks-999"
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.yaml").write_text(UPSTREAM_META, encoding="utf-8")
    (d / "rus.md").write_text(rus, encoding="utf-8")
    (d / "kaz.md").write_text(UPSTREAM_KAZ, encoding="utf-8")
    return d


def test_upstream_kazakhstan_law_layout(tmp_path):
    write_upstream_act(tmp_path)
    snap = read_corpus(tmp_path)
    (act,) = snap.acts
    assert act.code == "999" and act.title_ru == "Тестовый кодекс" and act.title_kz == "Тестілік кодекс"
    assert act.status == "repealed"  # from the requisite: "Прекратил действие"
    assert act.url == "https://zan.gov.kz/client/#!/doc/999/rus/01.01.2020"
    assert act.url_kaz == "https://zan.gov.kz/client/#!/doc/999/kaz/01.01.2020"
    arts = {a.id: a for a in snap.articles}
    assert set(arts) == {"999/1/rus", "999/2-1/rus", "999/1/kaz"}
    a1 = arts["999/1/rus"]
    assert a1.title == "Назначение кодекса" and "Сноска. Статья 1" in a1.text and "<a id" not in a1.text
    line = UPSTREAM_RUS.split("\n").index("**Статья 1. Назначение кодекса**") + 1
    assert a1.source.endswith(f"rus.md:{line}")  # line numbers count the front matter
    assert arts["999/2-1/rus"].text == "Правовую основу составляет Конституция."
    assert arts["999/1/kaz"].title == "" and "реттейді" in arts["999/1/kaz"].text


@pytest.mark.parametrize("text,expected", [
    ("in force", "in_force"),
    ("in force from 2026-07-01 per its own text (art. 94)", "in_force"),
    ("repealed from 2026-07-01 by the Constitution adopted on 2026-03-15", "repealed"),
    ("historical edition", "repealed"),
    ("Утратил силу", "repealed"),
    ("күшін жойған", "repealed"),
    ("", "in_force"),
    (None, "in_force"),
])
def test_normalize_status(text, expected):
    assert normalize_status(text) == expected


def test_files_revision_changes_with_content(tmp_path):
    root = write_fixture_corpus(tmp_path / "c")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    before = corpus_revision(root, files)
    f = root / CONSUMER / "rus.md"
    f.write_text(f.read_text(encoding="utf-8") + "\nещё строка\n", encoding="utf-8")
    after = corpus_revision(root, files)
    assert before["kind"] == after["kind"] == "files" and before["id"] != after["id"]


# ---- bad input through the real CLI: message says what is wrong and how to fix it


def run_cli(args, capsys):
    rc = main(args)
    return rc, capsys.readouterr().err


def test_missing_corpus_error(tmp_path, capsys):
    rc, err = run_cli(["index", "build", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "ix"),
                       "--embedding", "hashing:64", "--no-progress"], capsys)
    assert rc == 2 and "error: corpus directory" in err and "does not exist" in err and "--corpus" in err
    assert not (tmp_path / "ix").exists()


def test_act_folder_without_meta_error(tmp_path, capsys):
    root = write_fixture_corpus(tmp_path / "c")
    (root / CONSUMER / "meta.yaml").unlink()
    rc, err = run_cli(["index", "build", "--corpus", str(root), "--index", str(tmp_path / "ix"),
                       "--embedding", "hashing:64", "--no-progress"], capsys)
    assert rc == 2 and f"{CONSUMER} has rus.md but no meta.yaml" in err and "add meta.yaml" in err


def test_act_folder_without_text_error(tmp_path, capsys):
    root = write_fixture_corpus(tmp_path / "c")
    (root / OLD_CONST / "rus.md").unlink()
    rc, err = run_cli(["index", "build", "--corpus", str(root), "--index", str(tmp_path / "ix"),
                       "--embedding", "hashing:64", "--no-progress"], capsys)
    assert rc == 2 and f"{OLD_CONST} has meta.yaml but no rus.md or kaz.md" in err and "add the act text" in err


def test_malformed_meta_error(tmp_path, capsys):
    root = write_fixture_corpus(tmp_path / "c")
    (root / CONSUMER / "meta.yaml").write_text("code: [unclosed\n", encoding="utf-8")
    rc, err = run_cli(["index", "build", "--corpus", str(root), "--index", str(tmp_path / "ix"),
                       "--embedding", "hashing:64", "--no-progress"], capsys)
    assert rc == 2 and "meta.yaml is not valid YAML" in err


def test_empty_corpus_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc, err = run_cli(["index", "build", "--corpus", str(tmp_path / "empty"), "--index", str(tmp_path / "ix"),
                       "--embedding", "hashing:64", "--no-progress"], capsys)
    assert rc == 2 and "no acts found" in err


def test_unparseable_heading_warns_and_build_goes_on(tmp_path, capsys):
    root = write_fixture_corpus(tmp_path / "c")
    f = root / CONSUMER / "rus.md"
    f.write_text(f.read_text(encoding="utf-8").replace("### Статья 31.", "### Статья 31б."), encoding="utf-8")
    rc = main(["index", "build", "--corpus", str(root), "--index", str(tmp_path / "ix"), "--embedding", "hashing:64",
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"warning: {CONSUMER}/rus.md:" in out and "cannot parse article heading" in out
    snap = read_corpus(root)
    assert f"{CONSUMER}/31/rus" not in snap.by_id()
    assert "десяти дней" in snap.by_id()[f"{CONSUMER}/30/rus"].text


def test_copy_of_shared_act_reads_the_same(shared_corpus, tmp_path):
    shutil.copytree(shared_corpus / "Z100000274_", tmp_path / "Z100000274_")
    snap = read_corpus(tmp_path)
    meta = yaml.safe_load((shared_corpus / "Z100000274_" / "meta.yaml").read_text(encoding="utf-8"))
    expected = {lang: f["articles"] for lang, f in meta["files"].items()}  # one count per text file
    got = {lang: sum(a.lang == lang for a in snap.articles) for lang in expected}
    assert got == expected and len(snap.articles) == sum(expected.values())


def test_unreadable_corpus_errors(tmp_path, capsys):
    root = write_fixture_corpus(tmp_path / "c")
    (root / CONSUMER / "rus.md").write_bytes(b"\xff\xfe\x00 not utf-8 \xc3\x28")
    rc, err = run_cli(["index", "build", "--corpus", str(root), "--index", str(tmp_path / "ix"),
                       "--embedding", "hashing:64", "--no-progress"], capsys)
    assert rc == 2 and "cannot read" in err and "rus.md" in err and "UTF-8" in err
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    rc, err = run_cli(["index", "build", "--corpus", str(afile), "--index", str(tmp_path / "ix"),
                       "--embedding", "hashing:64", "--no-progress"], capsys)
    assert rc == 2 and "is not a directory" in err
