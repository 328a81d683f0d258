"""FAISS dense store (real flat and IVF indexes) and the embedders."""

from __future__ import annotations

import numpy as np
import pytest

from lexkz.errors import LexkzError
from retrieval.dense import FaissDenseIndex
from retrieval.embedders import HashingEmbedder, get_embedder


def _vecs(n, dim=32, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_flat_search_remove_reconstruct_roundtrip(tmp_path):
    x = _vecs(200)
    ids = np.arange(200) * 10 + 5
    dense = FaissDenseIndex(32)
    dense.add(ids, x)
    assert dense.ntotal == 200 and dense.effective_kind == "flat"
    top = dense.search(x[7], k=3)
    assert top[0][0] == 75 and top[0][1] == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(dense.get_vectors([75, 5]), x[[7, 0]])
    assert dense.remove([75, 123456]) == 1 and dense.ntotal == 199
    assert 75 not in [i for i, _ in dense.search(x[7], k=5)]
    with pytest.raises(KeyError):
        dense.reconstruct(75)
    dense.add([5], x[1:2])  # re-adding an id replaces its vector
    assert dense.ntotal == 199 and np.allclose(dense.reconstruct(5), x[1])
    assert [i for i, _ in dense.search(x[3], k=5, allowed=[5, 15, 25])] and \
        set(i for i, _ in dense.search(x[3], k=5, allowed=[5, 15, 25])) <= {5, 15, 25}
    path = tmp_path / "dense.faiss"
    dense.save(path)
    loaded = FaissDenseIndex.load(path)
    assert loaded.ntotal == 199 and loaded.kind == "flat"
    assert loaded.search(x[9], k=4) == dense.search(x[9], k=4)
    assert sorted(loaded.ids().tolist()) == sorted(dense.ids().tolist())


def test_ivf_stays_flat_until_trainable_then_trains(tmp_path):
    x = _vecs(1000, seed=1)
    ids = np.arange(1000) + 1
    dense = FaissDenseIndex(32, kind="ivf", nlist=8, nprobe=8)  # 8 lists need 8*39=312 vectors
    dense.add(ids[:100], x[:100])
    assert dense.effective_kind == "flat"
    assert dense.search(x[3], k=1)[0][0] == 4
    dense.add(ids[100:], x[100:])
    assert dense.effective_kind == "ivf" and dense.ntotal == 1000
    # nprobe = nlist: IVF is exhaustive, so it agrees with exact search
    flat = FaissDenseIndex(32)
    flat.add(ids, x)
    for q in range(0, 1000, 97):
        assert [i for i, _ in dense.search(x[q], 10)] == [i for i, _ in flat.search(x[q], 10)]
    assert dense.remove([1, 2, 3, 99999]) == 3 and dense.ntotal == 997
    assert 1 not in [i for i, _ in dense.search(x[0], k=5)]
    assert np.allclose(dense.get_vectors([10]), x[9])
    hits = dense.search(x[0], k=5, allowed=[500, 600])
    assert {i for i, _ in hits} == {500, 600}
    path = tmp_path / "ivf.faiss"
    dense.save(path)
    loaded = FaissDenseIndex.load(path)
    assert loaded.effective_kind == "ivf" and loaded.nlist == 8 and loaded.nprobe == 8
    assert loaded.search(x[50], k=5) == dense.search(x[50], k=5)
    assert loaded.remove([51]) == 1 and np.allclose(loaded.reconstruct(52), x[51])


def test_dense_errors(tmp_path):
    with pytest.raises(LexkzError, match="missing"):
        FaissDenseIndex.load(tmp_path / "none.faiss")
    with pytest.raises(LexkzError, match="do not fit"):
        FaissDenseIndex(16).add([1], _vecs(1, dim=8))
    with pytest.raises(LexkzError):
        FaissDenseIndex(16, kind="hnsw")


def test_hashing_embedder_is_deterministic_and_related():
    emb = get_embedder("hashing:256", query_prefix="q: ")
    assert isinstance(emb, HashingEmbedder) and emb.name == "hashing:256" and emb.dim == 256
    texts = ["Работник вправе расторгнуть трудовой договор", "Потребитель требует замены товара", "Суверенитет государства"]
    p = emb.embed_passages(texts)
    assert p.dtype == np.float32 and p.shape == (3, 256)
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(p, get_embedder("hashing:256").embed_passages(texts))
    q = emb.embed_queries("расторжение трудовых договоров")
    assert int(np.argmax(p @ q[0])) == 0


def test_embedder_specs_and_errors(tmp_path):
    assert get_embedder("hashing").dim == 384
    with pytest.raises(LexkzError, match="does not exist"):
        get_embedder(str(tmp_path / "no_model_here"))
    with pytest.raises(LexkzError, match="hashing:DIM"):
        get_embedder("hashing:abc")
    broken = tmp_path / "broken_model"
    broken.mkdir()
    emb = get_embedder(str(broken))  # cheap: nothing loads yet
    with pytest.raises(LexkzError, match="minilm"):
        emb.embed_queries(["x"])


def test_minilm_embedder_loads_offline():
    emb = get_embedder("minilm")
    assert emb.name == "minilm" and emb.dim == 384
    p = emb.embed_passages(["The employee may terminate the contract", "Sovereignty covers the territory"])
    q = emb.embed_queries(["can an employee end his employment contract"])
    assert p.shape == (2, 384) and np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    assert int(np.argmax(p @ q[0])) == 0


def test_query_cap_embeds_only_the_first_tokens_and_restores_the_model_limit():
    emb = get_embedder("minilm")
    limit = emb.model.max_seq_length
    head = "can an employee end his employment contract"
    long_q = head + " " + " ".join(["and what about the holidays the salary and the notice period"] * 20)
    capped = emb.embed_queries([long_q], max_tokens=12)[0]
    assert emb.model.max_seq_length == limit  # the cap is per call
    whole = emb.embed_queries([long_q])[0]
    # 12 tokens = [CLS] + the first 10 word pieces of `head` + [SEP]: the tail is not seen
    assert float(capped @ whole) < 0.95
    assert float(capped @ emb.embed_queries([head], max_tokens=12)[0]) > 0.98


def test_ivf_trained_up_front_takes_vectors_directly():
    x = _vecs(800, seed=2)
    dense = FaissDenseIndex(32, kind="ivf", nlist=4, nprobe=4)
    dense.add([1, 2], x[:2])  # staged in flat, moved on train()
    dense.train(x[:400])
    assert dense.effective_kind == "ivf" and dense.ntotal == 2
    dense.add(np.arange(3, 801), x[2:])
    assert dense.ntotal == 800 and dense.search(x[0], k=1)[0][0] == 1
    with pytest.raises(LexkzError, match="too few"):
        FaissDenseIndex(32, kind="ivf", nlist=64).train(x[:10])
    with pytest.raises(LexkzError, match="flat"):
        FaissDenseIndex(32).train(x)
