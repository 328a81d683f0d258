"""LangGraph retrieve -> generate -> verify_citations workflow and its generator backends."""
