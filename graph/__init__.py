"""LangGraph retrieve -> generate -> verify_citations -> respond workflow and its generator backends.

    config.py       GenerationConfig ([generation] in TOML)
    prompts.py      system prompts (rus/kaz, rag/closed_book) with ids; build_messages (light: finetune uses it)
    generators/     hf (Qwen3 + LoRA, 4-bit on CUDA), extractive (no LLM), openai (/v1/chat/completions)
    citations.py    parse_citations, verify_citations_in: act binding + statuses (graph.citations.STATUSES)
    support.py      per-claim support of a citing sentence by the cited article (SupportScorer)
    state.py        AskState (TypedDict), AskContext (retriever, generator, store, config)
    nodes.py        retrieve, generate, verify_citations, respond (plain functions of (state, runtime))
    build.py        build_graph(mode): the wiring, "rag" or "closed_book"
    ask.py          ask (one question through the graph), answer_batch (many, one batched generate), make_context
    cli.py          `lexkz ask`, `lexkz show`
    ask_schema.json JSON schema of `lexkz ask --json`
"""
