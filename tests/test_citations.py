"""Citation parsing (Russian, Kazakh, [n] markers) and verification against a real index:
supported, in the corpus but not retrieved, only in another act, non-existent, unknown act;
hostile text never makes the verifier raise; deep links; `lexkz show`; eval status metrics.
(The adversarial set through the graph is tests/test_citations_adversarial.py.)"""

from __future__ import annotations

import json
import random

import pytest

from graph.citations import ActCatalog, fold, parse_citations, point_text, verify_citations_in
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


def test_markers_quotes_ranges_suffixes_and_lookalikes():
    assert numbers("Отпуск 24 дня [1], переносится [2, 3].") == [("marker", 1, None), ("marker", 2, None),
                                                                  ("marker", 3, None)]
    assert numbers("[1–3]") == [("marker", 1, None), ("marker", 2, None), ("marker", 3, None)]
    long_quote = "«" + "Работник вправе, как указано в статье 99 настоящего Кодекса, требовать " * 3 + "»"
    assert [n for _, n, _ in numbers(f"Ст. 88 ТК: {long_quote}")] == ["88", "99", "99", "99"]  # quotes are read too
    assert [n for _, n, _ in numbers("ст. 10–12 ТК")] == ["10", "11", "12"]
    assert [n for _, n, _ in numbers("ст. 10-12 ТК")] == ["10", "11", "12"]  # a hyphen with a larger number: a range
    assert [n for _, n, _ in numbers("10-12-баптар", "kaz")] == ["10", "11", "12"]
    assert [n for _, n, _ in numbers("статьи 90–9999 ТК")] == ["90", "9999"]  # absurd range: its two ends
    assert [n for _, n, _ in numbers("ст. 9999а")] == ["9999а"]
    assert [n for _, n, _ in numbers("стaтья 88 и cт. 89")] == ["88", "89"]  # Latin a / c
    assert [n for _, n, _ in numbers("ст. 88, 24 дня")] == ["88"]  # 24 дня is not an article
    assert numbers("пп. 3) п. 1 ст. 52") == [("article", "52", "пп. 3) п. 1")]
    assert numbers("52-баптың 1-тармағының 3) тармақшасы", "kaz") == [("article", "52", "3) тармақша, 1-тармақ")]
    assert fold("Стaтья 88–90") == "статья 88–90" and len(fold("İ")) == 1


def test_point_text():
    text = "1. Работник имеет право на:\n1) отпуск;\n2) оплату.\n2. Работник обязан работать."
    assert point_text(text, "2") == "2. Работник обязан работать."
    assert point_text(text, "1", "2") == "1. Работник имеет право на:\n2) оплату.\n"
    assert point_text(text, "3") is None and point_text(text, "1", "5") is None


HOSTILE = [
    "", " ", "ст.", "ст. ", "[", "[]", "[0]", "[-1]", "[" + "9" * 80 + "]", "ст. " + "9" * 5000, "ст. 1–" + "9" * 400,
    "статьи " + ", ".join(str(i) for i in range(2000)) + " ТК", "«" * 500 + "ст. 88" + "»" * 500,
    "«ст. 88 «ТК «РК» » (ст. 90 (УК (ст. 91)))» [1] [1, 2, 3–999999]", "п. " + "1 и " * 500 + "ст. 88",
    "\x00\ud7ff\U0010ffff ст. ٨٨ ТК", "ст. 88-" + "1-" * 300 + "ТК", "88-" * 1000 + "бап",
    "Еңбек " * 2000 + "кодексінің 88-бабы", "ст. 88 " + "Трудового " * 3000 + "кодекса",
]


def test_hostile_text_never_raises(fixture_ctx):
    hits, store = fixture_ctx
    rng = random.Random(7)
    texts = list(HOSTILE)
    for _ in range(30):
        texts.append("".join(chr(rng.choice([rng.randrange(32, 0xD7FF), rng.randrange(0xE000, 0x10FFFF)]))
                             for _ in range(rng.randrange(1, 3000))))
        alphabet = "ст.п[]()«»\"-–— 0123456789абвТКЕңбекбап,ижәне\n"
        texts.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 3000))))
    for text in texts:
        for lang in ("rus", "kaz"):
            cits = verify_citations_in(text, hits, store, lang)
            json.dumps(cits, ensure_ascii=False)
            assert all(c["status"] in ("supported", "wrong_act", "no_such_point", "not_supported",
                                       "in_corpus_not_retrieved", "invented", "unresolved") for c in cits)
    assert verify_citations_in(None, hits, store) == []
    huge = verify_citations_in("ст. " + "9" * 5000 + " ТК", hits, store)
    assert [c["status"] for c in huge] == ["invented"]


def test_catalog_is_built_from_the_index_titles(fixture_ctx):
    hits, store = fixture_ctx
    cat = ActCatalog(store)
    assert set(cat.acts) == {LABOUR, CONSUMER, OLD_CONST}
    assert cat.title(LABOUR, "kaz") == "Тестілік Республиканың Еңбек кодексі"
    assert cat.codes_for(["трудов", "кодекс"]) == [LABOUR]


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
    (z,) = check("Возврат товара: п. 2 ст. 30 ЗПП.", fixture_ctx)  # article 30 has no numbered points
    assert (z["article_id"], z["status"], z["point"]) == (f"{CONSUMER}/30/rus", "no_such_point", "п. 2")
    (w,) = check("Потребитель вправе потребовать замены товара (ст. 30 ЗПП).", fixture_ctx)
    assert (w["article_id"], w["status"]) == (f"{CONSUMER}/30/rus", "in_corpus_not_retrieved")


def test_article_only_in_another_act_is_flagged(fixture_ctx):
    (c,) = check("Замена товара — ст. 30 Трудового кодекса.", fixture_ctx)
    assert c["status"] == "wrong_act" and c["article_id"] is None and c["act_code"] == LABOUR
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


def test_bare_number_is_never_bound_to_the_retrieved_act(fixture_ctx):
    hits, store = fixture_ctx
    (c,) = check("см. ст. 2", fixture_ctx)  # retrieved or not, two acts have an article 2
    assert c["status"] == "unresolved" and c["article_id"] is None
    # a bare number after a named act binds to that act (here the Labour Code), never to whichever
    # act was retrieved; its status then says whether that article was in the retrieved context
    no_labour_2 = [h for h in hits if h.article_id != f"{LABOUR}/2/rus"]
    cits = verify_citations_in("Отпуск 24 дня (ст. 88 Трудового кодекса). Договор — ст. 2.", no_labour_2, store, "rus")
    assert [(x["article_id"], x["status"]) for x in cits][1] == (f"{LABOUR}/2/rus", "in_corpus_not_retrieved")


def test_kazakh_citations_resolve(fixture_ctx):
    cits = check("Еңбек кодексінің 88-бабы және 113-бабы; [1]", fixture_ctx, lang="kaz")
    got = [(c["article_id"], c["status"]) for c in cits]
    # 88 is in the (Russian) context: the same article, so supported; 113 is only in the index
    assert got[0] == (f"{LABOUR}/88/rus", "supported")
    assert got[1] == (f"{LABOUR}/113/kaz", "in_corpus_not_retrieved")
    assert len(cits) == 2  # [1] is article 88 again, in the same sentence: one entry per article and claim
    (bad,) = check("Еңбек кодексінің 30-бабы", fixture_ctx, lang="kaz")
    assert bad["status"] == "wrong_act"


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
    assert got[("59", LABOUR_CODE)] in ("supported", "in_corpus_not_retrieved", "not_supported")  # article 59 exists
    (ok,) = verify_citations_in("Основной оплачиваемый ежегодный трудовой отпуск работникам предоставляется "
                                "продолжительностью двадцать четыре календарных дня (ст. 88 ТК РК).", hits, store, "rus",
                                embedder=idx.embedder())
    assert ok["status"] == "supported" and ok["deep_link"].endswith("#:~:text=%D0%A1%D1%82%D0%B0%D1%82%D1%8C%D1%8F%2088.")
    (changed,) = verify_citations_in("Основной оплачиваемый ежегодный трудовой отпуск работникам предоставляется "
                                     "продолжительностью двадцать восемь календарных дней (ст. 88 ТК РК).", hits, store,
                                     "rus", embedder=idx.embedder())
    assert changed["status"] == "not_supported" and changed["support"]["missing_numbers"] == ["28"]


# ------------------------------------------------------------------ lexkz show, eval


def test_show_prints_the_article(capsys, graph_index):
    from lexkz.cli import main

    assert main(["show", "ст. 88 Трудового кодекса", "--index", str(graph_index)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Трудовой кодекс Тестовой Республики [in force]\nСтатья 88. Ежегодный оплачиваемый")
    assert "link: https://adilet.zan.kz/rus/docs/TEST000001#:~:text=" in out and "двадцать четыре" in out
    assert main(["show", f"{LABOUR}/88/kaz", "--index", str(graph_index), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == f"{LABOUR}/88/kaz" and shown["deep_link"].startswith("https://adilet.zan.kz/kaz/docs/")
    assert main(["show", "Еңбек кодексінің 113-бабы", "--index", str(graph_index)]) == 0
    assert "113-бап. Қызметкердің" in capsys.readouterr().out
    for ref in ("ст. 999 ТК", "ст. 5 Налогового кодекса", "просто текст"):
        assert main(["show", ref, "--index", str(graph_index)]) == 2
        assert capsys.readouterr().err.startswith("error: ")


def test_eval_precision_counts_only_supported():
    from eval.metrics import citation_scores

    cited = [("K1", "88"), ("K1", "90"), ("K1", "113")]
    gold = [("K1", "88"), ("K1", "90")]
    res = citation_scores(cited, gold, statuses=["supported", "not_supported", "invented"])
    assert res["citation_precision"] == pytest.approx(1 / 3) and res["citation_recall"] == 1.0
    assert res["invented_citation_rate"] == pytest.approx(1 / 3)
    assert res["citation_rate_not_supported"] == pytest.approx(1 / 3) and res["citation_rate_wrong_act"] == 0.0
    old = citation_scores(cited, gold, [False, False, True])  # without statuses: as before
    assert old["citation_precision"] == pytest.approx(2 / 3) and "citation_rate_supported" not in old


def test_support_scorer_uses_the_embedder_only_where_it_decides():
    from graph.support import SupportScorer, quantities
    from retrieval.embedders import get_embedder

    class Counting:
        def __init__(self):
            self.inner, self.name, self.texts = get_embedder("hashing:256"), "hashing:256", 0

        def embed_queries(self, texts):
            self.texts += len(texts)
            return self.inner.embed_queries(texts)

        def embed_passages(self, texts, **kw):
            self.texts += len(texts)
            return self.inner.embed_passages(texts)

    scope = "Основной оплачиваемый ежегодный трудовой отпуск предоставляется продолжительностью двадцать четыре календарных дня."
    emb = Counting()
    scorer = SupportScorer(emb)
    (wrong,) = scorer.score_many([{"claims": ["Отпуск длится тридцать один день в году"], "scope": scope, "lang": "rus"}])
    assert not wrong["ok"] and wrong["missing_numbers"] == ["31"] and emb.texts == 0  # decided by the number
    (vague,) = scorer.score_many([{"claims": ["Работнику полагается ежегодный отдых по закону страны"], "scope": scope,
                                   "lang": "rus"}])
    assert vague["method"] == "embedding+lexical" and emb.texts > 0
    assert quantities("двадцать четыре календарных дня, 10 МРП и 0,5%") == [("24", "day"), ("10", "mrp"), ("0.5", "percent")]
