"""Model server: settings, model loading, the ASGI app and its two ports; `serve.py` beside it runs it."""
