"""Labels and cloud tags come from here, so every resource says which project, stack and component
it belongs to. Caller values win over these."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

PART_OF = "ml-platform"


def kubernetes_labels(
    component: str, model: str | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/component": component,
        "ml-platform/stack": pulumi.get_stack(),
    }
    if model is not None:
        labels["app.kubernetes.io/name"] = model
    return {**labels, **(extra or {})}


def selector_labels(component: str, model: str) -> dict[str, str]:
    """The stable subset used in selectors: never includes anything that changes between releases."""
    return {"app.kubernetes.io/name": model, "app.kubernetes.io/component": component}


def cloud_tags(component: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    tags = {
        "project": pulumi.get_project(),
        "stack": pulumi.get_stack(),
        "component": component,
        "managed-by": "pulumi",
    }
    return {**tags, **(extra or {})}
