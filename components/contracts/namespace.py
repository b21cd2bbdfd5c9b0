"""The workload namespace every backend creates: it enforces the `restricted` Pod Security Standard,
so a workload that would need privileges is rejected at admission, on every cloud alike, and it
denies all ingress to its pods unless a workload's own NetworkPolicy allows it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import labels

POD_SECURITY_LEVEL = "restricted"


def workload_namespace(name: str, namespace: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    pod_security = {f"pod-security.kubernetes.io/{mode}": POD_SECURITY_LEVEL for mode in ("enforce", "audit", "warn")}
    created = k8s.core.v1.Namespace(
        f"{name}-namespace",
        # Outside tooling (kubectl -n, port-forward commands in the README) names it, so no auto-name.
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace, labels={**labels.kubernetes_labels("platform"), **pod_security}
        ),
        opts=opts,
    )
    default_deny_ingress(name, created.metadata.name, opts)
    return created


def default_deny_ingress(
    name: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """The namespace's ingress baseline, also where the namespace is not the stack's own (a shared cluster)."""
    return k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny-ingress",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels.kubernetes_labels("platform")),
        # Selects every pod, allows nothing: ingress is opened per workload, never by default.
        # Egress stays open: artifact stores (S3, GCS) have no fixed addresses to allow.
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress"]
        ),
        opts=opts,
    )
