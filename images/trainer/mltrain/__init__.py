"""Training code for the digits classifier; `train.py` beside this package is the entrypoint."""
