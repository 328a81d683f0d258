"""`lexkz serve`: an HTTP API and a web page over one loaded index and generator.

    config.ServeConfig     the [serve] section (host, port, k bounds, batching, CORS, reload watch)
    batching.GenerateQueue questions arriving together share ONE generate call of the generator
    engine.Engine          index + retriever + generator loaded once; ask/search/article/reload
    app.create_app(...)    the FastAPI app (API under /api, the page at /, /healthz)
    cli.register(...)      `lexkz serve`
"""
