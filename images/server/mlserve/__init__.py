"""Model server: settings, model loading, the FastAPI app; `serve.py` beside it runs it."""
