"""eval.metrics against hand-computed values, on Russian and Kazakh text and empty answers."""

import pytest

from eval.metrics import (
    citation_scores,
    cosine,
    empty_answer,
    exact_match,
    greedy_match_f1,
    key_info_score,
    key_items,
    length_ratio,
    normalize,
    recall_at_k,
    reciprocal_rank,
    token_f1,
    tokens,
    tokens_per_second,
)


def test_normalize_lowercases_folds_yo_and_strips_punctuation():
    assert normalize("  Ещё — «Трудовой» кодекс!  ") == "еще трудовой кодекс"
    assert normalize("Қызметкер, еңбек шарты.") == "қызметкер еңбек шарты"
    assert normalize(None) == ""


def test_exact_match():
    assert exact_match("Ёлка.", "елка") == 1.0
    assert exact_match("Да", "Нет") == 0.0
    assert exact_match("Иә", "Жоқ", alternatives=["иә!"]) == 1.0
    assert exact_match("", "") == 1.0
    assert exact_match("", "Да") == 0.0


def test_token_f1_russian_by_hand():
    # pred: работник вправе расторгнуть договор (4); ref: + трудовой (5); common 4
    # P = 4/4, R = 4/5, F1 = 2*1*0.8/1.8 = 8/9
    assert token_f1("Работник вправе расторгнуть договор", "работник ВПРАВЕ расторгнуть трудовой договор!") == pytest.approx(8 / 9)
    # multiplicity: pred "да да нет" vs ref "да": common 1, P=1/3, R=1 -> F1 = 0.5
    assert token_f1("да да нет", "да") == pytest.approx(0.5)


def test_token_f1_kazakh_by_hand_and_stemming():
    pred, ref = "Қызметкер демалысқа құқылы", "қызметкер демалыс алуға құқылы"
    # unstemmed common: қызметкер, құқылы -> P = 2/3, R = 2/4, F1 = 2*(2/3)(1/2)/(7/6) = 4/7
    assert token_f1(pred, ref) == pytest.approx(4 / 7)
    # stemmed (first 6 chars): демалысқа -> демалы == демалыс -> демалы; common 3 -> P=1, R=3/4 -> 6/7
    assert token_f1(pred, ref, stem=True, lang="kaz") == pytest.approx(6 / 7)
    # Russian Snowball: "договора" and "договор" share a stem
    assert token_f1("договора", "договор") == 0.0
    assert token_f1("договора", "договор", stem=True, lang="rus") == 1.0
    assert tokens("Договоры", stem=True, lang="rus") == ["договор"]


def test_empty_answer():
    assert empty_answer("") == 1.0 and empty_answer(" ... ") == 1.0 and empty_answer(None) == 1.0
    assert empty_answer("Иә.") == 0.0


def test_token_f1_empty_answers():
    assert token_f1("", "") == 1.0
    assert token_f1("", "что-то") == 0.0
    assert token_f1("ответ", "") == 0.0
    assert token_f1("...", "ответ") == 0.0  # only punctuation is empty


def test_token_f1_takes_best_alternative():
    assert token_f1("один месяц", "тридцать дней", alternatives=["один месяц"]) == 1.0


def test_length_ratio():
    assert length_ratio("а б в", "а б в г д е") == pytest.approx(0.5)
    assert length_ratio("", "а б") == 0.0
    assert length_ratio("а", "") is None


def test_key_items_russian():
    text = "Согласно ст. 113 Трудового кодекса работник предупреждает за один месяц, штраф 10 МРП, Закон от 01.07.2021."
    assert key_items(text, "rus") == {
        "art:113", "act:трудов кодекс", "amount:1 месяц", "amount:10 мрп", "date:2021-07-01",
    }
    assert key_items("Отпуск двадцать четыре календарных дня и 1,5% от 100 000 тенге.", "rus") == {
        "amount:24 день", "amount:1.5 %", "amount:100000 тенге",
    }
    assert key_items("Потребитель – физическое лицо. Понятие «трудовой договор».", "rus") == {
        "term:потребител", "term:трудов договор",
    }
    assert key_items("С 1 июля 2021 года по статье 88-1 Конституции", "rus") == {
        "date:2021-07-01", "art:88-1", "act:конституция",
    }


def test_key_items_kazakh():
    text = "Қызметкерге күнтізбелік жиырма төрт күн демалыс беріледі (88-бап, Еңбек кодексі), 2020 жылғы 7 қазандағы бұйрық."
    assert key_items(text, "kaz") == {"amount:24 день", "art:88", "act:еңбек кодекс", "date:2020-10-07"}


def test_key_info_score_by_hand():
    ref = "Согласно ст. 113 Трудового кодекса работник предупреждает за один месяц."  # 3 items
    # the answer has the article and the term (as digits) but not the act: 2 of 3
    assert key_info_score("По статье 113 нужно предупредить за 1 месяц.", ref, "rus") == pytest.approx(2 / 3)
    assert key_info_score("", ref, "rus") == 0.0
    assert key_info_score("что угодно", "Без ключевых элементов", "rus") is None
    kk_ref = "88-бап бойынша жиырма төрт күн"
    assert key_info_score("24 күн беріледі", kk_ref, "kaz") == pytest.approx(1 / 2)


def test_citation_scores_by_hand():
    gold = [("K1500000414", "113"), ("K1500000414", "113-1")]
    cited = [("K1500000414", "113"), ("K1500000414", "22"), ("K1500000414", "113")]
    res = citation_scores(cited, gold, invented=[False, True, False])
    assert res["citation_precision"] == pytest.approx(1 / 2)  # distinct: {113, 22}
    assert res["citation_recall"] == 1.0
    assert res["invented_citation_rate"] == pytest.approx(1 / 3)
    none_cited = citation_scores([], gold)
    assert none_cited == {"citation_precision": None, "citation_recall": 0.0, "invented_citation_rate": None}
    no_gold = citation_scores(cited, [("K1500000414", None)], invented=[False])
    assert no_gold["citation_precision"] is None and no_gold["citation_recall"] is None


def test_retrieval_metrics_by_hand():
    gold = [("A", "5")]
    retrieved = [("A", "1"), ("B", "5"), ("A", "5"), ("A", "9")]
    assert reciprocal_rank(retrieved, gold) == pytest.approx(1 / 3)
    assert recall_at_k(retrieved, gold, 2) == 0.0
    assert recall_at_k(retrieved, gold, 3) == 1.0
    assert reciprocal_rank([], gold) == 0.0
    assert reciprocal_rank(retrieved, []) is None
    assert recall_at_k(retrieved, [(None, None)], 5) is None


def test_speed_and_vector_metrics():
    assert tokens_per_second(50, 2.0) == 25.0
    assert tokens_per_second(10, 0.0) is None
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([1, 1], [2, 2]) == pytest.approx(1.0)
    # pred tokens [1,0],[0,1]; ref token [1,0]: P = (1 + 0)/2 = 0.5, R = 1 -> F1 = 2/3
    assert greedy_match_f1([[1, 0], [0, 1]], [[1, 0]]) == pytest.approx(2 / 3)
    assert greedy_match_f1([], [[1, 0]]) == 0.0
