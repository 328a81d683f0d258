"""Lexical (FTS5 BM25), dense (FAISS), hybrid fusion, reranking and citation formatting.

    text.py             normalise / tokenise / stem (Russian Snowball, Kazakh light stemming)
    embedders.py        get_embedder("minilm" | "hashing[:DIM]" | hub id | local path)
    lexical.py          FtsLexical: BM25 search in the store's SQLite FTS5 table (pre-analysed tokens)
    dense.py            FaissDenseIndex: IndexIDMap2 over flat, or IVF; add/remove/search/save/load
    config.py           RetrievalConfig (the [retrieval] TOML section)
    hybrid.py           HybridRetriever: BM25 + dense, reciprocal-rank fusion, filters, snippets
    rerank.py           CrossEncoderReranker (optional)
    citation_format.py  format_citation(hit, lang) -> ("ст. 113 Трудового кодекса РК", url)
    hit.py              Hit: one retrieved article with its score parts
    cli.py              `lexkz search`
"""
