"""kind: a local cluster on the laptop, its local registry, and model artifacts on a volume."""
