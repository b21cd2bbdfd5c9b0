"""What the rules read from Kubernetes objects and container images: pure functions over Pulumi's
inputs of `kubernetes:*` resources (`apiVersion`, `kind`, `metadata`, `spec`, camelCase).

Values may be the policy engine's read-only proxies: test with `Mapping` and `Sequence`, never
`dict` and `list` (and remember that a `str` is a `Sequence`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Where each workload type keeps its pod template ({metadata, spec}), from the resource's inputs.
POD_TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:core/v1:PodTemplate": ("template",),
    "kubernetes:core/v1:ReplicationController": ("spec", "template"),
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
}
BATCH_TYPES = frozenset({"kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"})
SERVICE_TYPE = "kubernetes:core/v1:Service"
CONTAINER_SECTIONS = ("initContainers", "containers", "ephemeralContainers")
# Extended resources that mean "a GPU": whole devices and NVIDIA MIG slices.
GPU_RESOURCE_PREFIXES = ("nvidia.com/gpu", "nvidia.com/mig-", "amd.com/gpu")
EXCLUDED_NAMESPACES_DEFAULT: tuple[str, ...] = ("kube-system",)
"""Cluster add-ons (device plugin, autoscaler) come from upstream Helm charts the platform pins but
does not write; workload rules leave their namespace alone unless the pack's config says otherwise."""

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else ()


def dig(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`, or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def number(value: Any) -> float | None:
    """Numbers reach policies as floats over gRPC (`2.0`); booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def quantity(value: float) -> str:
    """`2.0` -> `2`, for messages."""
    return str(int(value)) if value.is_integer() else str(value)


@dataclass(frozen=True, kw_only=True)
class PodTemplate:
    kind: str
    """The workload's kind (Deployment, Job, ...)."""
    namespace: str | None
    metadata: Mapping[str, Any]
    """The pod template's own metadata (labels, annotations)."""
    spec: Mapping[str, Any]
    """The pod spec."""


def pod_template(resource_type: str, props: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of a workload resource, or None for any other resource."""
    path = POD_TEMPLATE_PATHS.get(resource_type)
    if path is None:
        return None
    template = mapping(dig(props, *path) if path else props)
    return PodTemplate(
        kind=resource_type.rsplit(":", 1)[-1],
        namespace=dig(props, "metadata", "namespace"),
        metadata=mapping(template.get("metadata")),
        spec=mapping(template.get("spec")),
    )


def in_scope(template: PodTemplate, excluded_namespaces: Sequence[str]) -> bool:
    return template.namespace not in excluded_namespaces


@dataclass(frozen=True, kw_only=True)
class Container:
    section: str
    """containers, initContainers or ephemeralContainers."""
    name: str
    body: Mapping[str, Any]

    @property
    def label(self) -> str:
        kind = {"initContainers": "init container", "ephemeralContainers": "ephemeral container"}
        return f'{kind.get(self.section, "container")} "{self.name}"'


def containers(spec: Mapping[str, Any]) -> Iterator[Container]:
    for section in CONTAINER_SECTIONS:
        for body in sequence(spec.get(section)):
            body = mapping(body)
            yield Container(section=section, name=str(body.get("name", "?")), body=body)


def gpu_count(container: Container) -> float:
    """GPUs a container asks for, in its limits or requests (extended resources need both equal)."""
    resources = mapping(container.body.get("resources"))
    total = 0.0
    for section in ("limits", "requests"):
        for name, amount in mapping(resources.get(section)).items():
            if name.startswith(GPU_RESOURCE_PREFIXES):
                total = max(total, _count(amount))
    return total


def _count(amount: Any) -> float:
    """A whole-device quantity: a number, or a string such as "1"."""
    value = number(amount)
    if value is not None:
        return value
    try:
        return float(str(amount))
    except ValueError:
        return 0.0


def requests_gpus(spec: Mapping[str, Any]) -> bool:
    return any(gpu_count(container) > 0 for container in containers(spec))


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str
    """Kubernetes spelling: NoSchedule, PreferNoSchedule, NoExecute."""

    @property
    def repels(self) -> bool:
        """Keeps pods without a toleration off the node (PreferNoSchedule only discourages)."""
        return self.effect in ("NoSchedule", "NoExecute")

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}"


CLOUD_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


def taint(key: Any, value: Any, effect: Any) -> Taint:
    """A taint from a cloud API (`NO_SCHEDULE`) or from Kubernetes (`NoSchedule`)."""
    effect = str(effect or "")
    return Taint(str(key or ""), str(value or ""), CLOUD_TAINT_EFFECTS.get(effect, effect))


def tolerates(tolerations: Sequence[Any], node_taint: Taint) -> bool:
    """Kubernetes' toleration matching: key (or an empty key with Exists), value unless Exists,
    effect unless the toleration leaves it empty."""
    for item in tolerations:
        toleration = mapping(item)
        operator = toleration.get("operator") or "Equal"
        key = toleration.get("key") or ""
        effect = toleration.get("effect") or ""
        if effect and effect != node_taint.effect:
            continue
        if operator == "Exists" and (not key or key == node_taint.key):
            return True
        if operator == "Equal" and key == node_taint.key and (toleration.get("value") or "") == node_taint.value:
            return True
    return False


def node_selection(spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], Sequence[Any]]:
    """(nodeSelector, required node-affinity terms) of a pod spec."""
    terms = dig(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    return mapping(spec.get("nodeSelector")), sequence(terms)


def selects(spec: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a pod's nodeSelector and required node affinity admit a node with these labels."""
    selector, terms = node_selection(spec)
    if any(labels.get(key) != value for key, value in selector.items()):
        return False
    return not terms or any(_term_matches(mapping(term), labels) for term in terms)


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for expression in sequence(term.get("matchExpressions")):
        expression = mapping(expression)
        key, operator = expression.get("key"), expression.get("operator")
        values = [str(value) for value in sequence(expression.get("values"))]
        present = key in labels
        matched = {
            "In": present and labels.get(str(key)) in values,
            "NotIn": not present or labels.get(str(key)) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(operator), False)
        if not matched:
            return False
    return True


@dataclass(frozen=True)
class ImageReference:
    text: str
    repository: str
    """Everything before the tag and digest: `registry/path/name`."""
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        return self.digest is not None and _DIGEST.fullmatch(self.digest) is not None

    @property
    def floating(self) -> bool:
        """`:latest`, or no tag and no digest (which Docker reads as `:latest`)."""
        return self.tag == "latest" or (self.tag is None and self.digest is None)


def parse_image(text: str) -> ImageReference:
    name, _, digest = text.partition("@")
    last = name.rsplit("/", 1)[-1]
    repository, tag = (name.rsplit(":", 1)[0], last.rsplit(":", 1)[1]) if ":" in last else (name, None)
    return ImageReference(text=text, repository=repository, tag=tag, digest=digest or None)


def metadata_annotations(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(dig(props, "metadata", "annotations"))
