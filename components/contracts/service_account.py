"""Each workload runs under its own service account; a backend adds its cloud identity as annotations."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import labels


def workload_service_account(
    name: str,
    model: str,
    namespace: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
    account_name: str | None = None,
) -> k8s.core.v1.ServiceAccount:
    """`account_name`: a fixed name, for identities that must name the account before it exists
    (an IRSA role's trust policy); default: auto-named."""
    return k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=account_name,
            namespace=namespace,
            labels=labels.kubernetes_labels("identity", model),
            annotations=dict(annotations) if annotations else None,
        ),
        # The workloads never call the Kubernetes API.
        automount_service_account_token=False,
        opts=opts,
    )
