"""The GKE backend: GKE Standard with private nodes and GPU node pools, Artifact Registry, and GCS
artifacts reached through Workload Identity (docs/prod-gke.md)."""
