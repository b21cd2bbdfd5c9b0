"""Mocks that stand in for the APIs every stack uses (Docker builds, Kubernetes, provider
resources) when a stack's real program runs without a Pulumi engine, the shape in which each
backend adds its own cloud's answers (`BackendMocks`, in `components/backends/<name>/mocks.py`),
and a monitor that records what the program asked for, including the options a reviewer cares about.

Mocks answer for APIs, never for our own code: every answer is what the real API would give back
(an id, a digest, a generated name, a kubeconfig), computed deterministically so two renders of
the same stack are byte-identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import alias_pb2, resource_pb2

FAKE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: mock
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: bW9jaw==}
contexts:
- name: mock
  context: {cluster: mock, user: mock}
current-context: mock
users:
- name: mock
  user: {token: mock}
"""


def short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def auto_name(name: str) -> str:
    """Pulumi's auto-naming: the logical name plus a suffix (random in real life, stable here)."""
    return f"{name}-{short_hash(name, length=7)}"


def _kubernetes(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    state = dict(args.inputs)
    metadata = dict(state.get("metadata") or {})
    metadata.setdefault("name", auto_name(args.name))
    state["metadata"] = metadata
    namespace = metadata.get("namespace")
    return (f"{namespace}/{metadata['name']}" if namespace else metadata["name"]), state


def _docker_image(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    image_name = args.inputs["imageName"]
    repository = image_name.rsplit(":", 1)[0] if ":" in image_name.rsplit("/", 1)[-1] else image_name
    digest = hashlib.sha256(image_name.encode()).hexdigest()
    return f"{repository}@sha256:{digest}", {
        **args.inputs,
        "repoDigest": f"{repository}@sha256:{digest}",
        "baseImageName": image_name,
    }


def _helm_chart(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    # The objects a chart renders are not known offline; the chart's inputs (version, values) are.
    return {"resources": []}


ResourceMock = Callable[[pulumi_mocks.MockResourceArgs], tuple[str, dict[str, Any]]]
CallMock = Callable[[pulumi_mocks.MockCallArgs], dict[str, Any]]
ComponentMock = Callable[[pulumi_mocks.MockResourceArgs], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class BackendMocks:
    """One backend's API answers; `MOCKS` in its package's `mocks` module."""

    resources: Mapping[str, ResourceMock] = field(default_factory=dict)
    """Exact type token -> mock."""
    calls: Mapping[str, CallMock] = field(default_factory=dict)
    """Invoke token -> mock."""
    components: Mapping[str, ComponentMock] = field(default_factory=dict)
    """Multi-language components (custom=False): their outputs are invented, never echoed inputs."""
    packages: Mapping[str, ResourceMock] = field(default_factory=dict)
    """Provider package (`aws`) -> the answer for its resources that have no exact mock."""


@dataclass
class PlatformMocks(pulumi_mocks.Mocks):
    """Answers by type token; backends add theirs with `resources` / `calls`."""

    resources: dict[str, ResourceMock] = field(default_factory=dict)
    """Exact type token -> mock."""
    calls: dict[str, CallMock] = field(default_factory=dict)
    """Invoke token -> mock. An invoke with no mock is an error, never a silent empty answer."""
    components: dict[str, ComponentMock] = field(default_factory=dict)
    """Multi-language components (custom=False): their outputs are invented, never echoed inputs."""
    packages: dict[str, ResourceMock] = field(default_factory=dict)
    """Provider package -> the answer for its resources that have no exact mock."""

    def __post_init__(self) -> None:
        self.resources = {"docker:index/image:Image": _docker_image, **self.resources}
        # Every backend may install charts (metrics-server on kind and EKS).
        self.components = {"kubernetes:helm.sh/v4:Chart": _helm_chart, **self.components}

    def add(self, backend: BackendMocks) -> None:
        self.resources.update(backend.resources)
        self.calls.update(backend.calls)
        self.components.update(backend.components)
        self.packages.update(backend.packages)

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ in self.resources:
            return self.resources[args.typ](args)
        if not args.custom:
            invent = self.components.get(args.typ)
            return short_hash(args.name, length=12), (invent(args) if invent else {})
        if args.typ.startswith("kubernetes:"):
            return _kubernetes(args)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-id", dict(args.inputs)
        package = args.typ.split(":")[0]
        if package in self.packages:
            return self.packages[package](args)
        return cloud_resource(args)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token not in self.calls:
            raise KeyError(f"no mock for invoke {args.token}; add one to its backend's mocks module")
        # The answer and its check failures (none: a mocked API accepts what the program asks).
        return self.calls[args.token](args), []


def cloud_resource(args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
    """Any other custom resource: echo inputs, add the id and name a cloud API would return."""
    resource_id = auto_name(args.name)
    state = {"id": resource_id, **args.inputs}
    state.setdefault("name", resource_id)
    return resource_id, state


@dataclass(frozen=True)
class Registration:
    """What the program asked the engine for: inputs and the options that change how Pulumi acts."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    protect: bool
    ignore_changes: tuple[str, ...]
    delete_before_replace: bool
    replace_on_changes: tuple[str, ...]
    additional_secret_outputs: tuple[str, ...]
    retain_on_delete: bool
    aliases: tuple[str, ...]
    custom_timeouts: dict[str, str]


def _describe_alias(alias: alias_pb2.Alias) -> str:
    """An alias is a full URN, or a spec of what changed (the SDKs add type aliases on their own)."""
    if alias.urn:
        return alias.urn
    spec = alias.spec
    parts = [
        ("name", spec.name),
        ("type", spec.type),
        ("parent", spec.parentUrn),
        ("stack", spec.stack),
        ("project", spec.project),
    ]
    described = " ".join(f"{key}={value}" for key, value in parts if value)
    return str(described + (" noParent" if spec.noParent else ""))


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Records every RegisterResource request, and does not advertise resource references: with
    multi-language components (pulumi-eks) the stock monitor flakes or hangs (pulumi/pulumi#6561)."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: resource_pb2.RegisterResourceRequest) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # pulumi's MockMonitor is untyped
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=bool(request.custom),
                    parent=request.parent,
                    provider=request.provider.rsplit("::", 1)[0] if request.provider else "",
                    dependencies=tuple(sorted(request.dependencies)),
                    inputs=rpc.deserialize_properties(request.object),
                    protect=bool(request.protect),
                    ignore_changes=tuple(request.ignoreChanges),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    replace_on_changes=tuple(request.replaceOnChanges),
                    additional_secret_outputs=tuple(request.additionalSecretOutputs),
                    retain_on_delete=bool(request.retainOnDelete),
                    aliases=tuple(sorted(_describe_alias(alias) for alias in request.aliases)),
                    custom_timeouts={
                        operation: value
                        for operation in ("create", "update", "delete")
                        if (value := getattr(request.customTimeouts, operation))
                    },
                )
            )
        return response

    def SupportsFeature(self, request: resource_pb2.SupportsFeatureRequest) -> Any:  # noqa: N802
        has_support = request.id not in ("outputValues", "resourceReferences")
        return type("SupportsFeatureResponse", (object,), {"hasSupport": has_support})

    def GetDeploymentInfo(self, request: Any) -> resource_pb2.DeploymentInfo:  # noqa: N802
        info = super().GetDeploymentInfo(request)  # type: ignore[no-untyped-call]  # pulumi's MockMonitor is untyped
        features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)
