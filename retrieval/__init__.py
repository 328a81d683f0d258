"""Lexical (BM25), dense (FAISS), hybrid fusion, reranking and citation formatting."""
