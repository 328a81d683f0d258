"""A corpus with two symlink loops, a symlink to a folder outside it and FIFOs named like act
files: `lexkz index build` (a real subprocess, so a hang fails the test instead of blocking
the suite) finishes, reads the real acts only, and warns about each skipped entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixture_corpus import CONSUMER, LABOUR, OLD_CONST, write_fixture_corpus

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks (POSIX)")

ACT_META = "code: {code}\ntitle_ru: Закон {code}\nstatus: in force\n"
ACT_TEXT = "# Закон\n\n### Статья 1. Первая\n\nТекст первой статьи.\n"


def write_act(folder: Path, code: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "meta.yaml").write_text(ACT_META.format(code=code), encoding="utf-8")
    (folder / "rus.md").write_text(ACT_TEXT, encoding="utf-8")
    return folder


def test_loops_links_and_fifos_do_not_hang_the_build(tmp_path):
    corpus = write_fixture_corpus(tmp_path / "corpus")
    (corpus / "loop_a").symlink_to(".", target_is_directory=True)  # two loops: 2^depth paths if followed
    (corpus / "loop_b").symlink_to(".", target_is_directory=True)
    write_act(tmp_path / "outside" / "OUT1", "OUTSIDE1")
    (corpus / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    fifo_act = corpus / "FIFO1"
    fifo_act.mkdir()
    os.mkfifo(fifo_act / "meta.yaml")  # reading it would block forever
    (fifo_act / "rus.md").write_text(ACT_TEXT, encoding="utf-8")
    parts_act = corpus / "PARTS1"
    parts_act.mkdir()
    (parts_act / "meta.yaml").write_text(ACT_META.format(code="PARTS1"), encoding="utf-8")
    (parts_act / "rus").mkdir()
    (parts_act / "rus" / "001.md").write_text(ACT_TEXT, encoding="utf-8")
    os.mkfifo(parts_act / "rus" / "002.md")
    os.mkfifo(corpus / LABOUR / "kaz.md.tmp")  # not an act file: ignored without a word

    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    try:
        out = subprocess.run([sys.executable, "-m", "lexkz.cli", "index", "build", "--corpus", str(corpus),
                              "--index", str(tmp_path / "ix"), "--embedding", "hashing:64", "--no-progress", "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("index build hung on symlink loops / FIFOs")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report["acts"]) == {LABOUR, CONSUMER, OLD_CONST, "PARTS1"}
    assert report["counts"]["acts"] == 4
    warnings = "\n".join(report["warnings"])
    for name in ("loop_a", "loop_b", "linked"):
        assert f"{corpus / name}: is a symlink to a folder, which is not followed" in warnings
    assert f"{fifo_act}: its meta.yaml is a FIFO, not a regular file; skipped" in warnings
    assert f"{parts_act / 'rus' / '002.md'}: is a FIFO, not a regular file; skipped" in warnings
    assert "kaz.md.tmp" not in warnings and len(report["warnings"]) == 5
