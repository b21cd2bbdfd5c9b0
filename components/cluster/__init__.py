"""Cluster backends. Each module provisions one kind of cluster and returns the same contract."""
