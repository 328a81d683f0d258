"""Corpus -> articles -> stores (SQLite articles + FTS5 lexical table, FAISS) with full builds, incremental updates and integrity checks."""
