"""The workload namespace every backend creates: it enforces the `restricted` Pod Security Standard,
so a workload that would need privileges is rejected at admission, on every cloud alike."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import labels

POD_SECURITY_LEVEL = "restricted"


def workload_namespace(name: str, namespace: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    pod_security = {
        f"pod-security.kubernetes.io/{mode}": POD_SECURITY_LEVEL for mode in ("enforce", "audit", "warn")
    }
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        # Outside tooling (kubectl -n, port-forward commands in the README) names it, so no auto-name.
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=namespace, labels={**labels.kubernetes_labels("platform"), **pod_security}
        ),
        opts=opts,
    )
