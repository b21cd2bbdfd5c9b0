"""A generic OCI registry (ghcr.io, Docker Hub, Harbor, a company registry): images pushed with a
username and a token from Pulumi secret config, pulled by pods through an imagePullSecret."""
