"""Citation parsing (Russian, Kazakh, [n] markers) and verification against a real index:
supported, in the corpus but not retrieved, only in another act, non-existent, unknown act."""

from __future__ import annotations

import pytest

from graph.citations import parse_citations, verify_citations_in
from index.store import open_index
from retrieval.hybrid import HybridRetriever
from tests.fixture_corpus import CONSUMER, LABOUR, OLD_CONST
from tests.graph_fixtures import CONSUMER_LAW, LABOUR_CODE


def numbers(text, lang="rus"):
    return [(c["kind"], c["number"] or c["marker"], c["point"]) for c in parse_citations(text, lang)]


# ------------------------------------------------------------------ parsing


def test_russian_forms():
    assert numbers("См. ст. 113.") == [("article", "113", None)]
    assert numbers("Статья 22 гласит") == [("article", "22", None)]
    assert numbers("статьи 113-1 и 114 ТК РК") == [("article", "113-1", None), ("article", "114", None)]
    assert numbers("по п. 2 ст. 30 ЗПП") == [("article", "30", "п. 2")]
    assert numbers("согласно статьям 10, 11 и 12") == [("article", "10", None), ("article", "11", None),
                                                        ("article", "12", None)]
    assert numbers("в соответствии с частью 1 статьи 5") == [("article", "5", "частью 1")]
    assert numbers("постатейно 5 раз, статус 7") == []  # no article word, no citation


def test_kazakh_forms():
    assert numbers("113-бап", "kaz") == [("article", "113", None)]
    assert numbers("Еңбек кодексінің 113-бабы бойынша", "kaz") == [("article", "113", None)]
    assert numbers("88-1-бабында көрсетілген", "kaz") == [("article", "88-1", None)]
    assert numbers("30-бабының 2-тармағы", "kaz") == [("article", "30", "2-тармақ")]
    assert numbers("88 және 113-баптары", "kaz") == [("article", "88", None), ("article", "113", None)]


def test_markers_and_quotes():
    assert numbers("Отпуск 24 дня [1], переносится [2, 3].") == [("marker", 1, None), ("marker", 2, None),
                                                                  ("marker", 3, None)]
    long_quote = "«" + "Работник вправе, как указано в статье 99 настоящего Кодекса, требовать " * 3 + "»"
    assert numbers(f"Ст. 88 ТК: {long_quote}") == [("article", "88", None)]


def test_act_words_are_kept_for_resolution():
    cits = parse_citations("ст. 88 и ст. 89 Трудового кодекса РК; Еңбек кодексінің 88-бабы және 113-бабы")
    assert cits[0]["act_words"][:2] == ["трудового", "кодекса"]  # shared from the next citation
    assert cits[3]["act_words_before"] == ["еңбек", "кодексінің"]  # shared from the previous one


# ------------------------------------------------------------- verification


@pytest.fixture(scope="module")
def fixture_ctx(graph_index):
    idx = open_index(graph_index)
    hits = HybridRetriever(idx).retrieve("ежегодный оплачиваемый трудовой отпуск", k=3, lang="rus")
    assert hits[0].article_id == f"{LABOUR}/88/rus"
    return hits, idx.articles


def check(answer, fixture_ctx, lang="rus"):
    hits, store = fixture_ctx
    return verify_citations_in(answer, hits, store, lang)


def test_correct_citation_is_supported(fixture_ctx):
    (c,) = check("Отпуск составляет 24 дня (ст. 88 Трудового кодекса).", fixture_ctx)
    assert (c["article_id"], c["status"], c["context_rank"]) == (f"{LABOUR}/88/rus", "supported", 1)
    assert c["url"].endswith(LABOUR) and c["warning"] is None
    (m,) = check("Отпуск составляет 24 дня [1].", fixture_ctx)
    assert (m["article_id"], m["status"]) == (f"{LABOUR}/88/rus", "supported")


def test_existing_article_not_retrieved(fixture_ctx):
    (c,) = check("Увольнение — ст. 113 Трудового кодекса.", fixture_ctx)
    assert (c["article_id"], c["status"]) == (f"{LABOUR}/113/rus", "in_corpus_not_retrieved")
    (z,) = check("Возврат товара: п. 2 ст. 30 ЗПП.", fixture_ctx)
    assert (z["article_id"], z["status"], z["point"]) == (f"{CONSUMER}/30/rus", "in_corpus_not_retrieved", "п. 2")


def test_article_only_in_another_act_is_flagged(fixture_ctx):
    (c,) = check("Замена товара — ст. 30 Трудового кодекса.", fixture_ctx)
    assert c["status"] == "invented" and c["article_id"] is None and c["act_code"] == LABOUR
    assert "30" in c["warning"] and "О защите прав потребителей" in c["warning"]


def test_non_existent_article_is_invented(fixture_ctx):
    (c,) = check("Это следует из ст. 999 ТК.", fixture_ctx)
    assert c["status"] == "invented" and "999" in c["warning"]
    (m,) = check("См. [7].", fixture_ctx)
    assert m["status"] == "invented" and "3" in m["warning"]


def test_unknown_act_and_ambiguous_bare_number(fixture_ctx):
    (c,) = check("ст. 5 Налогового кодекса", fixture_ctx)
    assert c["status"] == "unresolved" and c["article_id"] is None
    # "ст. 31" is not in the hits; the consumer law is the only act with an article 31
    (one,) = check("см. ст. 31", fixture_ctx)
    assert (one["article_id"], one["status"]) == (f"{CONSUMER}/31/rus", "in_corpus_not_retrieved")
    # article 2 exists in the labour code and the old constitution: a bare "ст. 2" is ambiguous
    hits, store = fixture_ctx
    (amb,) = verify_citations_in("см. ст. 2", [], store, "rus")
    assert amb["status"] == "unresolved" and "2" in amb["warning"]


def test_bare_number_resolves_against_hits_first(fixture_ctx):
    hits, store = fixture_ctx
    numbers_in_hits = [h.number for h in hits]
    assert "1" in numbers_in_hits or "2" in numbers_in_hits or "88-1" in numbers_in_hits
    n = next(x for x in numbers_in_hits if x != "88")
    (c,) = check(f"см. ст. {n}", fixture_ctx)
    assert c["status"] == "supported" and c["act_code"] == LABOUR


def test_kazakh_citations_resolve(fixture_ctx):
    cits = check("Еңбек кодексінің 88-бабы және 113-бабы; [1]", fixture_ctx, lang="kaz")
    got = [(c["article_id"], c["status"]) for c in cits]
    # 88 is in the (Russian) context: the same article, so supported; 113 is only in the index
    assert got[0] == (f"{LABOUR}/88/rus", "supported")
    assert got[1] == (f"{LABOUR}/113/kaz", "in_corpus_not_retrieved")
    assert len(cits) == 2  # [1] is article 88 again: one entry per article
    (bad,) = check("Еңбек кодексінің 30-бабы", fixture_ctx, lang="kaz")
    assert bad["status"] == "invented"


def test_repealed_act_named(fixture_ctx):
    (c,) = check("ст. 1 Конституции", fixture_ctx)
    assert (c["article_id"], c["status"]) == (f"{OLD_CONST}/1/rus", "in_corpus_not_retrieved")


def test_real_corpus_acts_and_aliases(labour_index):
    idx = open_index(labour_index)
    store = idx.articles
    hits = HybridRetriever(idx).retrieve("продолжительность основного оплачиваемого ежегодного трудового отпуска",
                                         k=5, lang="rus")
    cits = verify_citations_in(
        "По ст. 88 ТК РК отпуск 24 дня; см. также Еңбек кодексінің 113-бабы, п. 1 ст. 30 Закона РК "
        "«О защите прав потребителей», ст. 7000 Трудового кодекса и ст. 59 Трудового кодекса.", hits, store, "rus")
    got = {(c["number"], c["act_code"]): c["status"] for c in cits}
    assert got[("88", LABOUR_CODE)] == "supported"
    assert got[("113", LABOUR_CODE)] == "in_corpus_not_retrieved"
    assert got[("30", CONSUMER_LAW)] == "in_corpus_not_retrieved"
    assert got[("7000", LABOUR_CODE)] == "invented"
    assert got[("59", LABOUR_CODE)] in ("supported", "in_corpus_not_retrieved")  # the code has article 59
