"""Dense vector store on FAISS: inner product over L2-normalised vectors (= cosine), with ids.

    dense = FaissDenseIndex(384)                      # IndexIDMap2 over IndexFlatIP (exact)
    dense = FaissDenseIndex(384, kind="ivf")          # IVF for large corpora (approximate)
    dense.add(ids, vecs); dense.remove([3, 4]); dense.search(qvec, k=10) -> [(id, score), ...]
    dense.get_vectors(ids)                            # stored vectors (reuse them in updates)
    dense.save("dense.faiss"); dense = FaissDenseIndex.load("dense.faiss")

Flat uses `IndexIDMap2` (ids map to rows; remove and reconstruct work). IVF keeps the ids in
its own inverted lists (`IndexIVFFlat.add_with_ids`) with a hashtable direct map, because
IndexIDMap2's remove renumbers rows, which an IVF does not do. An "ivf" index stays flat
until enough vectors have been added to train it (39 per list, FAISS's minimum), then it
trains on all vectors it holds and moves them over; `effective_kind` says which one is live.
A small sidecar `<path>.json` keeps kind, nlist and nprobe.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np

from lexkz.common import write_json
from lexkz.errors import LexkzError

MIN_PER_LIST = 39


def default_nlist(n: int) -> int:
    """About 4*sqrt(n) lists, at most n/39 so that each list gets enough training points."""
    return max(1, min(int(4 * math.sqrt(max(n, 1))), n // MIN_PER_LIST))


def _as_ids(ids: Iterable[int]) -> np.ndarray:
    return np.ascontiguousarray(np.fromiter((int(i) for i in ids), dtype=np.int64))


def _as_vecs(vecs, dim: int) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(vecs, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise LexkzError(f"vectors of shape {arr.shape} do not fit a {dim}-d index: embed with the index's model")
    return arr


class FaissDenseIndex:
    """Ids + vectors in FAISS; kind "flat" (exact, default) or "ivf" (trained when vectors suffice)."""

    def __init__(self, dim: int, kind: str = "flat", nlist: int | None = None, nprobe: int = 16):
        if kind not in ("flat", "ivf"):
            raise LexkzError(f"unknown dense index kind {kind!r}: use flat or ivf")
        self.dim = int(dim)
        self.kind = kind
        self.nlist = nlist
        self._nprobe = int(nprobe)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    # ---- state -----------------------------------------------------------------------
    @property
    def effective_kind(self) -> str:
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def nprobe(self) -> int:
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = int(value)
        if isinstance(self._index, faiss.IndexIVF):
            self._index.nprobe = self._nprobe

    def ids(self) -> np.ndarray:
        """All stored ids (int64), in no particular order."""
        index = self._index
        if isinstance(index, faiss.IndexIVF):
            lists = index.invlists
            parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                     for i in range(index.nlist) if lists.list_size(i)]
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return faiss.vector_to_array(index.id_map).astype(np.int64)

    # ---- changes -----------------------------------------------------------------------
    def add(self, ids, vecs) -> None:
        """Add vectors under integer ids; an id already present is replaced."""
        ids = _as_ids(ids)
        vecs = _as_vecs(vecs, self.dim)
        if len(ids) != len(vecs):
            raise ValueError(f"add(): {len(ids)} ids for {len(vecs)} vectors")
        if len(ids) == 0:
            return
        if self.ntotal:
            self.remove(ids)
        self._index.add_with_ids(vecs, ids)
        if self.kind == "ivf" and self.effective_kind == "flat":
            self._maybe_train()

    def _maybe_train(self) -> None:
        n = self.ntotal
        nlist = self.nlist or default_nlist(n)
        if n < max(nlist * MIN_PER_LIST, 2):
            return  # too few vectors for IVF yet: stay exact
        flat = self._index  # IndexIDMap2 over IndexFlatIP: rows in id_map order
        self.train(faiss.downcast_index(flat.index).reconstruct_n(0, n))

    def train(self, sample) -> None:
        """Make an "ivf" index live now, trained on `sample` vectors (e.g. a random subset of
        what will be added); vectors held so far move over. Large builds call this before
        add() so that vectors go straight into the IVF lists."""
        if self.kind != "ivf":
            raise LexkzError("train() is for kind='ivf' indexes; a flat index needs no training")
        sample = _as_vecs(sample, self.dim)
        nlist = self.nlist or default_nlist(len(sample))
        if len(sample) < nlist:
            raise LexkzError(f"{len(sample)} training vectors are too few for {nlist} IVF lists: give at least {nlist * MIN_PER_LIST}")
        staged = self._index
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(sample)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        ivf.nprobe = self._nprobe
        if isinstance(staged, faiss.IndexIDMap2) and staged.ntotal:
            ids = faiss.vector_to_array(staged.id_map).astype(np.int64)
            ivf.add_with_ids(faiss.downcast_index(staged.index).reconstruct_n(0, staged.ntotal), ids)
        elif isinstance(staged, faiss.IndexIVF) and staged.ntotal:
            ids = self.ids()
            ivf.add_with_ids(self.get_vectors(ids), ids)
        self.nlist = nlist
        self._index = ivf

    def remove(self, ids) -> int:
        """Remove ids (unknown ones are ignored); returns how many were removed."""
        ids = _as_ids(ids)
        if len(ids) == 0 or self.ntotal == 0:
            return 0
        if isinstance(self._index, faiss.IndexIVF):
            present = ids[np.isin(ids, self.ids())]  # the hashtable refuses unknown ids
            if len(present) == 0:
                return 0
            sel = faiss.IDSelectorArray(len(present), faiss.swig_ptr(present))
            return int(self._index.remove_ids(sel))
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    # ---- reading -----------------------------------------------------------------------
    def reconstruct(self, doc_id: int) -> np.ndarray:
        """The stored vector of one id; KeyError when absent."""
        try:
            return self._index.reconstruct(int(doc_id))
        except RuntimeError:
            raise KeyError(doc_id) from None

    def get_vectors(self, ids) -> np.ndarray:
        """Stored vectors for `ids` (float32, (n, dim)); KeyError for an id that is absent."""
        ids = _as_ids(ids)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for row, doc_id in enumerate(ids):
            out[row] = self.reconstruct(doc_id)
        return out

    def _params(self, allowed):
        """(search parameters, selector); the caller keeps the selector alive during the search."""
        if allowed is None:
            return None, None
        sel = faiss.IDSelectorBatch(_as_ids(allowed))
        if isinstance(self._index, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=sel, nprobe=self._nprobe), sel
        return faiss.SearchParameters(sel=sel), sel

    def search_batch(self, vecs, k: int = 10, allowed=None) -> list[list[tuple[int, float]]]:
        """Top-k (id, score) per query row, best first; `allowed` restricts to those ids."""
        vecs = _as_vecs(vecs, self.dim)
        if self.ntotal == 0 or k <= 0:
            return [[] for _ in range(len(vecs))]
        k = min(k, self.ntotal)
        params, _selector = self._params(allowed)
        scores, ids = self._index.search(vecs, k, params=params) if params is not None else self._index.search(vecs, k)
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def search(self, vec, k: int = 10, allowed=None) -> list[tuple[int, float]]:
        """Top-k (id, score) for one query vector, best first."""
        return self.search_batch(vec, k, allowed)[0]

    # ---- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write `path` (FAISS) and `path.json` (kind, nlist, nprobe), each atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, path)
        meta = {"dim": self.dim, "kind": self.kind, "nlist": self.nlist, "nprobe": self._nprobe,
                "effective_kind": self.effective_kind, "ntotal": self.ntotal}
        write_json(_sidecar(path), meta)

    @classmethod
    def load(cls, path: str | Path) -> "FaissDenseIndex":
        path = Path(path)
        if not path.is_file():
            raise LexkzError(f"dense index {path} is missing: rebuild the index with `lexkz index build`", exit_code=3)
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise LexkzError(f"dense index {path} is unreadable ({str(exc)[:200]}): rebuild the index with `lexkz index build`", exit_code=3) from exc
        side = _sidecar(path)
        meta = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
        is_ivf = isinstance(index, faiss.IndexIVF)
        obj = cls(index.d, kind=meta.get("kind", "ivf" if is_ivf else "flat"),
                  nlist=index.nlist if is_ivf else meta.get("nlist"), nprobe=meta.get("nprobe", 16))
        if is_ivf:
            if index.direct_map.type != faiss.DirectMap.Hashtable:
                index.set_direct_map_type(faiss.DirectMap.Hashtable)
            index.nprobe = obj._nprobe
        elif not isinstance(index, faiss.IndexIDMap2):
            raise LexkzError(f"dense index {path} is a {type(index).__name__}, not IndexIDMap2 or IVF: rebuild the index", exit_code=3)
        obj._index = index
        return obj


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")
