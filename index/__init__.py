"""Corpus -> articles -> stores (SQLite articles, BM25, FAISS) with full builds and incremental updates."""
