"""Google IAM facts both the workloads' artifact grants and the CI identity use: Workload Identity
Federation for GKE (its pool and how IAM names a Kubernetes service account) and the Cloud Storage
prefix conditions. Pure: no Pulumi import."""

from __future__ import annotations

import json

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
LIST_PREFIX_ATTRIBUTE = "storage.googleapis.com/objectListPrefix"
"""The request attribute naming a listing's prefix; empty on requests that are not listings."""


def workload_pool(project: str) -> str:
    """A GKE cluster's Workload Identity pool: `<project>.svc.id.goog`."""
    return f"{project}.svc.id.goog"


def kubernetes_principal(project_number: str, project: str, namespace: str, service_account: str) -> str:
    """One Kubernetes service account of the project's clusters as an IAM principal (Workload Identity
    Federation for GKE, direct resource access): what a pod running as it is, to Google APIs. The
    pool's parent is named by the project's number, the pool by its ID; any cluster of the project
    with Workload Identity shares the pool, so the same namespace and name there is the same principal."""
    pool = f"projects/{project_number}/locations/global/workloadIdentityPools/{workload_pool(project)}"
    return f"principal://iam.googleapis.com/{pool}/subject/ns/{namespace}/sa/{service_account}"


def object_prefix_condition(bucket: str, prefix: str) -> str:
    """CEL: the request is for an object of `bucket` whose name starts with `prefix`."""
    return f"resource.name.startsWith({json.dumps(f'projects/_/buckets/{bucket}/objects/{prefix}')})"


def list_prefix_condition(prefix: str) -> str:
    """CEL: the request lists objects under `prefix`."""
    attribute = f"api.getAttribute({json.dumps(LIST_PREFIX_ATTRIBUTE)}, {json.dumps('')})"
    return f"{attribute}.startsWith({json.dumps(prefix)})"
