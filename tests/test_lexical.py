"""Lexical search in a real SQLite FTS5 table: Russian stemming, Kazakh normalisation, filters,
add/remove/update equal to a rebuild, safe MATCH expressions, damaged files."""

from __future__ import annotations

import sqlite3

import pytest

from lexkz.errors import LexkzError
from retrieval import lexical
from retrieval.lexical import FtsLexical, match_expression
from retrieval.text import analyze, detect_lang, normalize

DOCS = {
    1: ("Трудовой кодекс", "Статья 113. Расторжение по инициативе работника",
        "Работник вправе расторгнуть трудовой договор, предупредив работодателя письменно за один месяц.", "rus"),
    2: ("Закон о защите прав потребителей", "Статья 30. Права потребителя",
        "Потребитель вправе потребовать замены товара ненадлежащего качества.", "rus"),
    3: ("Трудовой кодекс", "Статья 88. Ежегодный отпуск",
        "Ежегодный оплачиваемый трудовой отпуск продолжительностью двадцать четыре календарных дня.", "rus"),
    4: ("Еңбек кодексі", "113-бап. Қызметкердің бастамасы",
        "Қызметкер жұмыс берушіні бір айдан кешіктірмей жазбаша ескертіп, еңбек шартын бұзуға құқылы.", "kaz"),
    5: ("Еңбек кодексі", "88-бап. Демалыс",
        "Қызметкерлерге жыл сайынғы ақы төленетін еңбек демалысы беріледі.", "kaz"),
    6: ("Конституция", "Статья 2", "Суверенитет распространяется на всю территорию.", "rus"),
    7: ("Трудовой кодекс", "Статья 88-1. Дополнительные отпуска",
        "Дополнительные отпуска предоставляются работникам, занятым на тяжелых работах.", "rus"),
}


def make_table(path, docs: dict) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute(lexical.SCHEMA)
        lexical.add_rows(db, [lexical.fts_row(pid, *doc) for pid, doc in docs.items()])
    db.close()


@pytest.fixture()
def lex(tmp_path) -> FtsLexical:
    make_table(tmp_path / "a.sqlite", DOCS)
    return FtsLexical(tmp_path / "a.sqlite")


def test_russian_word_forms_find_the_article(lex):
    # none of these surface forms occurs in doc 1 ("расторгнуть трудовой договор ... работодателя")
    hits = lex.search("расторжение трудовых договоров работодателем", 3, lang="rus")
    assert hits[0][0] == 1
    assert lex.search("оплачиваемые отпуска", 3)[0][0] == 3
    assert lex.search("замену товаров потребителям", 3)[0][0] == 2
    # the heading column: a hyphenated article number stays one token
    assert lex.search("статья 88-1", 3)[0][0] == 7


def test_kazakh_normalisation_and_suffixes():
    # Latin look-alikes (e, i, ə) inside Cyrillic words map to Cyrillic; ё -> е
    assert normalize("Eңбек шартi ə ёлка") == "еңбек шарті ә елка"
    assert normalize("K1500000414 code") == "k1500000414 code"  # pure Latin stays Latin
    assert detect_lang("Еңбек кодексі") == "kaz" and detect_lang("Трудовой кодекс") == "rus"
    assert analyze("кодексінің", "kaz") == analyze("кодекс", "kaz")
    assert analyze("қызметкерлерге", "kaz") == analyze("қызметкер", "kaz")
    assert analyze("шартын", "kaz") == analyze("шарт", "kaz")
    assert "88-1" in analyze("Статья 88-1.", "rus") and "113" in analyze("113-бап", "kaz")


def test_kazakh_query_with_lookalikes_and_inflection(lex):
    hits = lex.search("қызметкер eңбек демалыстары", 3, lang="kaz")  # Latin "e", plural + possessive
    assert hits[0][0] == 5
    assert all(DOCS[i][3] == "kaz" for i, _ in hits)


def test_stems_are_stored_as_analysed(tmp_path):
    """FTS5's tokenizer keeps the analysed tokens as they are: its vocabulary is exactly theirs."""
    make_table(tmp_path / "a.sqlite", DOCS)
    db = sqlite3.connect(tmp_path / "a.sqlite")
    db.execute(f"CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, {lexical.TABLE}, 'row')")
    vocab = {r[0] for r in db.execute("SELECT term FROM vocab")}
    expected = {t for act, title, body, lang in DOCS.values() for part in (act, title, body) for t in analyze(part, lang)}
    assert vocab == expected | {"rus", "kaz"}


def test_lang_and_allowed_filters(lex):
    assert lex.search("трудовой договор", 10, lang="kaz") == []
    assert [i for i, _ in lex.search("трудовой", 10, allowed={3, 6})] == [3]
    assert [i for i, _ in lex.search("трудовой", 10, allowed=[3, 6, 1])] == [i for i, _ in lex.search("трудовой", 10) if i in (1, 3)]
    assert lex.search("трудовой", 10, allowed=[]) == []
    hits = lex.search("вправе трудовой договор", 10)
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    assert len(lex.search("трудовой кодекс отпуск", 2)) == 2
    assert len(lex) == len(DOCS) and 4 in lex and 99 not in lex and sorted(lex.ids()) == sorted(DOCS)


def test_add_remove_update_equal_a_rebuild(tmp_path):
    """Incremental changes (remove, replace, add) give the same hits and scores as a table built
    from the final documents."""
    path = tmp_path / "inc.sqlite"
    make_table(path, DOCS)
    final = dict(DOCS)
    del final[6]
    final[2] = ("Конституция", "Статья 3", "Суверенитет территории неприкосновенен.", "rus")
    final[8] = ("Закон о защите прав потребителей", "Статья 31", "Новый потребитель товара.", "rus")
    db = sqlite3.connect(path)
    with db:  # one transaction, as the store writes it
        lexical.remove_rows(db, [6, 2, 999])
        lexical.add_rows(db, [lexical.fts_row(2, *final[2]), lexical.fts_row(8, *final[8])])
    db.close()
    make_table(tmp_path / "fresh.sqlite", final)
    inc, fresh = FtsLexical(path), FtsLexical(tmp_path / "fresh.sqlite")
    queries = ["суверенитет", "потребитель товара", "трудовой договор отпуск", "еңбек демалысы", "статья 88-1"]
    for q in queries:
        for lang in (None, "rus", "kaz"):
            a, b = inc.search(q, 10, lang=lang), fresh.search(q, 10, lang=lang)
            assert [i for i, _ in a] == [i for i, _ in b], (q, lang)
            assert [round(s, 9) for _, s in a] == [round(s, 9) for _, s in b], (q, lang)
    assert inc.search("суверенитет", 5)[0][0] == 2 and 6 not in inc and len(inc) == len(final)
    assert inc.search("потребовать замены ненадлежащего", 5) == []  # the replaced text is gone


@pytest.mark.parametrize("query", [
    "'; DROP TABLE passages_fts; --", 'body : "x" OR lang : kaz', "NEAR(трудовой договор, 2)", "трудов* ^отпуск",
    '"unbalanced quote', "AND OR NOT", "rowid = 1) OR (1=1", "{act title} : кодекс",
])
def test_user_text_never_reaches_match_as_syntax(lex, query):
    hits = lex.search(query, 5)  # no FTS5 syntax error, whatever the text
    assert all(isinstance(pid, int) and s > 0 for pid, s in hits)
    expr = match_expression(query)
    tokens = analyze(query)
    assert expr.count('"') == 2 * len(tokens)  # every token quoted, nothing else
    assert len(lex) == len(DOCS)  # the table is still there


def test_query_without_tokens_finds_nothing(lex):
    for query in ["", "   ", "?!… — «»", "😀🔥👍", "%%% *** ^^^", "(-)"]:
        assert match_expression(query) is None
        assert lex.search(query, 5) == []
    assert lex.search("трудовой", 0) == []


def test_very_long_query_is_capped(lex):
    query = " ".join(["трудовой договор отпуск работник"] * 300)
    assert len(analyze(query)) > lexical.MAX_QUERY_TOKENS
    assert lex.search(query, 3)[0][0] in (1, 3, 7)


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(LexkzError, match="missing") as e:
        FtsLexical(tmp_path / "nope.sqlite")
    assert e.value.exit_code == 3
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database" * 1000)
    with pytest.raises(LexkzError, match="damaged") as e:
        FtsLexical(bad)
    assert e.value.exit_code == 3
    plain = tmp_path / "plain.sqlite"
    sqlite3.connect(plain).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(LexkzError, match="no lexical table") as e:
        FtsLexical(plain)
    assert e.value.exit_code == 3


def test_damaged_fts_index_gives_a_clear_error(tmp_path):
    path = tmp_path / "a.sqlite"
    make_table(path, DOCS)
    db = sqlite3.connect(path)
    with db:  # overwrite FTS5's index blocks (its shadow table) with garbage
        db.execute(f"UPDATE {lexical.TABLE}_data SET block = randomblob(length(block)) WHERE id > 10")
    db.close()
    lex = FtsLexical(path)
    with pytest.raises(LexkzError, match="lexical search in .* failed") as e:
        for q in ["трудовой договор", "потребитель товара", "еңбек демалысы", "суверенитет"]:
            lex.search(q, 5)
    assert e.value.exit_code == 3 and "lexkz index verify" in str(e.value)
