"""The `lexkz serve` page in a real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright; no browser download) against a real uvicorn server on 127.0.0.1 over the fixture
index with the extractive generator: a Russian and a Kazakh question, the answer and its
citations, the cited article opened in place, the search tab, an empty question's error, the
phone-width layout, and a screenshot of the answered page saved as a test artifact
($LEXKZ_TEST_ARTIFACTS, else the test's temp folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lexkz.server.app import create_app
from lexkz.server.config import ServeConfig
from lexkz.server.engine import Engine
from tests.fixture_corpus import LABOUR
from tests.serve_helpers import CountingExtractive, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the [test] extra")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} missing: apt-get install -y chromium (.ci/run does)")


@pytest.fixture(scope="module")
def server(graph_index):
    engine = Engine(ServeConfig(index=str(graph_index)), generator=CountingExtractive()).warm_up()
    with live_server(create_app(engine=engine, token="")) as url:
        yield url
    engine.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="ru-RU")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    out = Path(os.environ.get("LEXKZ_TEST_ARTIFACTS") or tmp_path_factory.mktemp("serve_artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def ask(page, question: str) -> None:
    page.fill("#question", question)
    page.click("#ask-button")
    page.wait_for_selector("#sources li.source")


def test_russian_question_answer_citation_and_article(page, server, artifacts):
    page.goto(server)
    sync_api.expect(page.locator("#meta")).to_contain_text("версия 1")
    sync_api.expect(page.locator("#meta")).to_contain_text("extractive")
    assert page.locator("#plumbing").is_hidden()  # not a tiny model
    ask(page, "Сколько дней длится ежегодный оплачиваемый трудовой отпуск?")
    sync_api.expect(page.locator("#answer")).to_contain_text("двадцать четыре календарных дня")
    first = page.locator("#sources li.source").first
    sync_api.expect(first.locator(".cite-open")).to_contain_text("Трудовой кодекс Тестовой Республики, ст. 88")
    sync_api.expect(first.locator(".badge")).to_have_attribute("data-status", "supported")
    assert first.locator("a").get_attribute("href").startswith("https://adilet.zan.kz/rus/docs/")
    assert page.locator("#progress li").count() == 4  # the four node events arrived
    first.locator(".cite-open").click()
    view = first.locator(".article-view")
    sync_api.expect(view.locator(".text")).to_contain_text("Работникам предоставляется ежегодный оплачиваемый")
    assert first.locator(".cite-open").get_attribute("aria-expanded") == "true"
    shot = artifacts / "serve-answer-rus.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_kazakh_question_switches_the_page_language(page, server, artifacts):
    page.goto(server)
    ask(page, "Жыл сайынғы ақы төленетін еңбек демалысы қанша күн?")
    assert page.get_attribute("html", "lang") == "kk"
    sync_api.expect(page.locator("#result h3").last).to_have_text("Дереккөздер")
    sync_api.expect(page.locator("#ask-button")).to_have_text("Сұрау")
    sync_api.expect(page.locator("#answer")).to_contain_text("жиырма төрт күн")
    item = page.locator(f'#sources .cite-open[data-article="{LABOUR}/88/kaz"]')
    sync_api.expect(item).to_contain_text("88-бап")
    item.click()
    sync_api.expect(page.locator("#sources .article-view .text").first).to_contain_text("жиырма төрт")
    page.screenshot(path=str(artifacts / "serve-answer-kaz.png"), full_page=True)


def test_empty_question_shows_the_error(page, server):
    page.goto(server)
    page.fill("#question", "   ")
    page.click("#ask-button")
    sync_api.expect(page.locator("#ask-error")).to_be_visible()
    sync_api.expect(page.locator("#ask-error")).to_contain_text("the question is empty")
    assert page.locator("#result").is_hidden()


def test_search_tab_by_keyboard_on_a_phone_screen(browser, server, artifacts):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(server)
        page.focus("#tab-ask")
        page.keyboard.press("ArrowRight")
        sync_api.expect(page.locator("#panel-search")).to_be_visible()
        assert page.evaluate("document.activeElement.id") == "tab-search"
        page.fill("#search-q", "трудовой договор")
        page.keyboard.press("Enter")
        hits = page.locator("#hits li.hit")
        sync_api.expect(hits.first).to_be_visible()
        sync_api.expect(hits.first.locator(".snippet")).not_to_be_empty()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 375  # no sideways scrolling
        hits.first.locator(".cite-open").press("Enter")  # keyboard opens the article
        sync_api.expect(hits.first.locator(".article-view .text")).not_to_be_empty()
        page.screenshot(path=str(artifacts / "serve-search-phone.png"), full_page=True)
    finally:
        context.close()


def test_token_protected_server_asks_for_the_token(browser, graph_index):
    engine = Engine(ServeConfig(index=str(graph_index)), generator=CountingExtractive())
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        with live_server(create_app(engine=engine, token="s3cret")) as url:
            page.goto(url)
            sync_api.expect(page.locator("#token-box")).to_be_visible()  # /api/index answered 401
            sync_api.expect(page.locator("#meta")).to_contain_text("Нужен токен API")
            page.fill("#token", "s3cret")
            ask(page, "Сколько дней длится ежегодный оплачиваемый трудовой отпуск?")
            sync_api.expect(page.locator("#answer")).to_contain_text("двадцать четыре календарных дня")
    finally:
        context.close()
        engine.close()


@pytest.fixture(scope="module")
def const_server(shared_corpus, tmp_path_factory):
    """The server over the 1995 Constitution (2007 and 2022 editions) and the 2026 one."""
    from index.build import build_index
    from index.config import IndexConfig
    from tests.test_asof import link_constitutions

    corpus = link_constitutions(shared_corpus, tmp_path_factory.mktemp("const_corpus_browser"))
    index_dir = tmp_path_factory.mktemp("const_index_browser") / "index"
    build_index(corpus, index_dir, IndexConfig(embedding="hashing:256"), progress=False)
    engine = Engine(ServeConfig(index=str(index_dir)), generator=CountingExtractive()).warm_up()
    with live_server(create_app(engine=engine, token="")) as url:
        yield url
    engine.close()


def test_the_page_answers_for_a_date(page, const_server, artifacts):
    page.goto(const_server)
    page.fill("#as-of", "2008-01-01")
    ask(page, "На какой срок избирается Президент Республики Казахстан?")
    first = page.locator("#sources li.source").first
    sync_api.expect(first.locator(".cite-open")).to_contain_text("(в ред. от 2007-05-21)")
    sync_api.expect(page.locator("#warnings")).to_contain_text("2022-09-17")  # the editions between are missing
    page.screenshot(path=str(artifacts / "serve-answer-as-of.png"), full_page=True)
    page.click("#tab-search")
    page.fill("#search-q", "Президент")
    page.fill("#search-as-of", "1990-01-01")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#hits")).to_contain_text("not in force on that date")
