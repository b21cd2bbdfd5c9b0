"""The stack's configuration, read once into typed objects and validated before any resource exists.

Every key lives in the ``ml-platform`` namespace of a stack file (``stacks/Pulumi.<stack>.yaml``).
Scalar keys are also declared in ``Pulumi.yaml`` so the Pulumi CLI type-checks them; structured
keys (``images``, ``models``, ``kind``, ``eks``) are objects, which ``Pulumi.yaml`` cannot type,
so this module is their schema. Defaults live here and only here; ``tests/test_project_file.py``
keeps ``Pulumi.yaml``'s declarations equal to them.

Validation collects every problem and raises one ``ConfigError`` naming, for each, the key, the
bad value and what is allowed. Unknown keys are errors: a typo must never fall back to a default.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt

from components import backends
from components.cluster.eks_settings import EksSettings
from components.schema import NonNegativeInt, PositiveInt, Schema, matching

NAMESPACE = "ml-platform"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Model and image names are prefixes of generated Kubernetes names (`<model>-train-<run id>`),
# so they stay well under the 63-character label limit.
_MAX_NAME_LENGTH = 40
# Kubernetes' own quantity grammar, restricted to the positive, human-written forms.
_QUANTITY = re.compile(r"(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")


def _quantity(value: str) -> str:
    if not _QUANTITY.fullmatch(value) or float(re.sub(r"[a-zA-Z]+$", "", value)) == 0:
        raise ValueError("must be a positive Kubernetes quantity such as 500m, 2, 512Mi or 4Gi")
    return value


DnsName = Annotated[
    str,
    matching(
        rf"(?=.{{1,{_MAX_NAME_LENGTH}}}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?",
        f"must be a DNS-1123 label of at most {_MAX_NAME_LENGTH} characters "
        "(lower-case letters, digits and '-', starting and ending with a letter or digit)",
    ),
]
Quantity = Annotated[str, AfterValidator(_quantity)]
KubernetesVersion = Annotated[
    str, matching(r"1\.\d{2}", 'must be a Kubernetes minor version written "1.NN", e.g. "1.33"')
]
PinnedImage = Annotated[
    str,
    matching(
        r"[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}",
        "must be an image pinned by digest: name[:tag]@sha256:<64 hex digits>",
    ),
]


class ImageConfig(Schema):
    """One container image built from this repository and pushed to the stack's registry."""

    context: str = Field(description="Build context, relative to the project root.")
    dockerfile: str = Field(default="Dockerfile", description="Dockerfile path inside the context.")
    target: str | None = Field(default=None, description="Multi-stage build target; default: the last stage.")


class Resources(Schema):
    """CPU, memory and GPUs for one container; requests equal limits (Guaranteed QoS for GPUs)."""

    cpu: Quantity = Field(description="CPU, as a Kubernetes quantity (e.g. 500m, 2).")
    memory: Quantity = Field(description="Memory, as a Kubernetes quantity (e.g. 512Mi, 4Gi).")
    gpus: NonNegativeInt = Field(
        default=0,
        description="NVIDIA GPUs. On a cluster without GPUs the workload runs on CPU with a warning.",
    )


class TrainingConfig(Schema):
    """A training run: one Kubernetes Job, re-created whenever its image or settings change."""

    image: DnsName = Field(description="Name of an entry in `images`.")
    epochs: PositiveInt = Field(default=10, description="Training epochs.")
    batch_size: PositiveInt = Field(default=64, description="Per-process batch size.")
    learning_rate: Annotated[float, Field(gt=0, le=10)] = Field(default=0.001, description="Optimizer step size.")
    seed: NonNegativeInt = Field(default=0, description="Random seed; runs with the same seed match on CPU.")
    nodes: PositiveInt = Field(default=1, description="Pods of the Indexed Job; above 1 trains with DDP across pods.")
    processes_per_node: PositiveInt = Field(
        default=1, description="torchrun processes per pod; with GPUs, normally equal to `resources.gpus`."
    )
    resources: Resources = Field(
        default=Resources(cpu="1", memory="2Gi"), description="Per-pod resources (default 1 CPU, 2Gi, no GPU)."
    )
    backoff_limit: NonNegativeInt = Field(default=3, description="Pod retries before the Job fails.")
    active_deadline_seconds: PositiveInt = Field(default=3600, description="Wall-clock limit of the whole Job.")


ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]


class ServingConfig(Schema):
    """The model server: a Deployment, a Service and a PodDisruptionBudget."""

    image: DnsName = Field(description="Name of an entry in `images`.")
    replicas: PositiveInt = Field(default=2, description="Server pods; updates roll with no loss of capacity.")
    resources: Resources = Field(
        default=Resources(cpu="250m", memory="512Mi"), description="Per-pod resources (default 250m, 512Mi)."
    )
    service_type: ServiceType = Field(
        default="ClusterIP", description="How the Service is exposed; the cluster backend says which it supports."
    )
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = Field(default=80, description="Service port.")
    max_batch_size: PositiveInt = Field(default=64, description="Most instances one predict request may carry.")


class ModelConfig(Schema):
    """A model: how it is trained and, optionally, how it is served."""

    name: DnsName = Field(description="Unique model name; prefixes every resource of the model.")
    training: TrainingConfig | None = Field(
        default=None,
        description="Training run: the model's only source, so required (checked with the other problems).",
    )
    serving: ServingConfig | None = Field(default=None, description="Serving; omit for a train-only model.")


class KindSettings(Schema):
    """The local kind cluster and its registry (clusterBackend: kind)."""

    cluster_name: DnsName | None = Field(
        default=None, description="Name the kind CLI knows the cluster by; default: ml-<stack>."
    )
    node_image: PinnedImage = Field(
        # kind v0.29.0's image for Kubernetes 1.33, as published in kind's release notes.
        default="kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f",
        description="kindest/node image, pinned by digest; its version must match kubernetesVersion.",
    )
    registry_image: PinnedImage = Field(
        default="registry:2.8.3@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373",
        description="Image of the local registry container, pinned by digest.",
    )
    registry_host_port: Annotated[StrictInt, Field(ge=1024, le=65535)] = Field(
        default=5001,
        description="Loopback port the registry is published on; images are tagged localhost:<port>/<name>.",
    )
    artifact_volume_size: Quantity = Field(default="5Gi", description="Size of the model artifact volume.")


class ScalarSettings(Schema):
    """The scalar keys; each is also declared, with the same default, in Pulumi.yaml."""

    cluster_backend: str = Field(default="kind", description="Cluster backend: " + ", ".join(backends.CLUSTERS) + ".")
    registry_backend: str = Field(
        default="local", description="Registry backend: " + ", ".join(backends.REGISTRIES) + "."
    )
    kubernetes_version: KubernetesVersion = Field(default="1.33", description='Kubernetes minor version, e.g. "1.33".')
    namespace: DnsName = Field(
        default="ml-models", description="Namespace of the workloads (Pod Security: restricted)."
    )
    image_platform: Literal["linux/amd64", "linux/arm64"] = Field(
        default="linux/amd64", description="Platform images are built for, whatever the laptop is."
    )
    build_on_preview: StrictBool = Field(
        default=False, description="Build images during `pulumi preview` too (slower previews, earlier errors)."
    )
    await_training: StrictBool = Field(
        default=True,
        description="`pulumi up` waits for each training Job to finish, and serving waits for training.",
    )


# Structured keys and the schema of their values.
STRUCTURED_KEYS: dict[str, Any] = {
    "images": dict[DnsName, ImageConfig],
    "models": Annotated[list[ModelConfig], Field(min_length=1)],
    "kind": KindSettings,
    "eks": EksSettings,
}
BACKEND_SETTINGS_KEYS = {"kind": "kind", "eks": "eks"}
REQUIRED_KEYS = ("images", "models")


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Everything a stack asks for, validated."""

    settings: ScalarSettings
    images: Mapping[str, ImageConfig]
    models: tuple[ModelConfig, ...]
    backend_settings: Any
    """The settings object of the selected cluster backend (e.g. `KindSettings`)."""


@dataclass(frozen=True)
class Problem:
    key: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        shown = "(missing)" if self.value is _MISSING else json.dumps(self.value, default=str)
        return f"{self.key} = {shown}: {self.allowed}"


_MISSING = object()


class ConfigError(ValueError):
    """Every problem of a stack's configuration, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


def scalar_keys() -> dict[str, pydantic.fields.FieldInfo]:
    """Scalar config keys (camelCase) and their field definitions."""
    return {field.alias or name: field for name, field in ScalarSettings.model_fields.items()}


def parse(raw: Mapping[str, str]) -> StackConfig:
    """Validates raw config values (`ml-platform:key` -> string, objects as JSON) into a StackConfig."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for full_key, text in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        values[key] = _decode(key, text)

    known = set(scalar_keys()) | set(STRUCTURED_KEYS)
    for key in sorted(set(values) - known):
        problems.append(
            Problem(f"{NAMESPACE}:{key}", values[key], "unknown key; allowed keys: " + ", ".join(sorted(known)))
        )
    for key in REQUIRED_KEYS:
        if key not in values:
            problems.append(Problem(f"{NAMESPACE}:{key}", _MISSING, "required"))

    scalars = {key: values[key] for key in scalar_keys() if key in values}
    settings = _validate(ScalarSettings, scalars, (), problems)
    images = _validate(STRUCTURED_KEYS["images"], values.get("images", {}), ("images",), problems)
    models = _validate_models(values["models"], problems) if "models" in values else []

    backend_settings = None
    if settings is not None:
        _check_backends(settings, problems)
        backend_settings = _validate_backend_settings(settings, values, problems)
    if images is not None:
        _check_references(models, images, problems)
        _check_build_contexts(images, problems)
    if isinstance(backend_settings, KindSettings):
        _check_kind_version(backend_settings, settings, problems)
    _check_unique_names(models, problems)
    if settings is not None and settings.cluster_backend in backends.CLUSTERS:
        _check_service_types(models, backends.CLUSTERS[settings.cluster_backend], problems)

    # settings and images are None only when validating them added a problem.
    if problems or settings is None or images is None:
        raise ConfigError(problems)
    return StackConfig(
        settings=settings,
        images=images,
        models=tuple(model for _, model in models),
        backend_settings=backend_settings,
    )


def _decode(key: str, text: Any) -> Any:
    """Config values reach the program as strings: objects as JSON, booleans and integers as text."""
    if not isinstance(text, str):
        return text
    if key in STRUCTURED_KEYS:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    field = scalar_keys().get(key)
    kind = _unwrap(field.annotation) if field is not None else str
    if kind is bool and text in ("true", "false"):
        return text == "true"
    if kind is int and re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _validate(schema: Any, value: Any, path: tuple, problems: list[Problem]) -> Any:
    try:
        return pydantic.TypeAdapter(schema).validate_python(value)
    except pydantic.ValidationError as error:
        for detail in error.errors():
            problems.append(_problem(schema, path, detail))
        return None


def _validate_models(raw_models: Any, problems: list[Problem]) -> list[tuple[int, ModelConfig]]:
    """Each model is validated on its own so one bad model does not hide checks on the others."""
    if not isinstance(raw_models, list) or not raw_models:
        _validate(STRUCTURED_KEYS["models"], raw_models, ("models",), problems)
        return []
    models = []
    for index, raw in enumerate(raw_models):
        model = _validate(ModelConfig, raw, ("models", index), problems)
        if model is not None:
            models.append((index, model))
    return models


def _problem(schema: Any, path: tuple, detail: Mapping[str, Any]) -> Problem:
    location = path + tuple(detail["loc"])
    key = _format_key(location)
    if detail["type"] == "extra_forbidden":
        allowed = _allowed_keys(schema, tuple(detail["loc"])[:-1])
        return Problem(key, detail["input"], "unknown key; allowed keys: " + ", ".join(allowed))
    if detail["type"] == "missing":
        return Problem(key, _MISSING, "required")
    message = detail["msg"].removeprefix("Value error, ")
    return Problem(key, detail["input"], message)


def _format_key(location: tuple) -> str:
    text = NAMESPACE
    for index, part in enumerate(location):
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "[key]":  # pydantic's marker for a bad mapping key: the name itself is wrong
            text += " (name)"
        elif index == 0:
            text += f":{part}"
        else:
            text += f".{part}"
    return text


def _allowed_keys(schema: Any, location: tuple) -> list[str]:
    """Walks the schema along an error's location to the object whose keys were wrong."""
    current = schema
    for part in location:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(f for n, f in current.model_fields.items() if (f.alias or n) == part or n == part)
            current = field.annotation
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(field.alias or name for name, field in current.model_fields.items())
    return []


def _unwrap(annotation: Any) -> Any:
    """Strips Annotated[...] and `X | None` down to the underlying model or container type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
        else:
            return annotation


def _check_backends(settings: ScalarSettings, problems: list[Problem]) -> None:
    cluster = backends.CLUSTERS.get(settings.cluster_backend)
    if cluster is None:
        problems.append(
            Problem(
                f"{NAMESPACE}:clusterBackend",
                settings.cluster_backend,
                "must be one of " + ", ".join(backends.CLUSTERS),
            )
        )
    if settings.registry_backend not in backends.REGISTRIES:
        problems.append(
            Problem(
                f"{NAMESPACE}:registryBackend",
                settings.registry_backend,
                "must be one of " + ", ".join(backends.REGISTRIES),
            )
        )
    elif cluster is not None and settings.registry_backend not in cluster.registries:
        problems.append(
            Problem(
                f"{NAMESPACE}:registryBackend",
                settings.registry_backend,
                f"clusterBackend {settings.cluster_backend} works with: " + ", ".join(cluster.registries),
            )
        )


def _validate_backend_settings(settings: ScalarSettings, values: Mapping[str, Any], problems: list[Problem]) -> Any:
    """Validates the selected backend's settings object; another backend's settings are an error."""
    selected = None
    for backend, key in BACKEND_SETTINGS_KEYS.items():
        if backend == settings.cluster_backend:
            if key in STRUCTURED_KEYS:
                selected = _validate(STRUCTURED_KEYS[key], values.get(key, {}), (key,), problems)
        elif key in values:
            problems.append(
                Problem(f"{NAMESPACE}:{key}", values[key], f"only allowed when clusterBackend is {backend}")
            )
    return selected


def _check_references(
    models: list[tuple[int, ModelConfig]], images: Mapping[str, ImageConfig], problems: list[Problem]
) -> None:
    allowed = "must name an entry of ml-platform:images (" + ", ".join(sorted(images)) + ")"
    for index, model in models:
        for role in ("training", "serving"):
            workload = getattr(model, role)
            if workload is not None and workload.image not in images:
                problems.append(Problem(f"{NAMESPACE}:models[{index}].{role}.image", workload.image, allowed))
        if model.training is None:
            served = "is served but has" if model.serving is not None else "has"
            problems.append(
                Problem(
                    f"{NAMESPACE}:models[{index}].training",
                    _MISSING,
                    f"model {model.name} {served} no training source; add a training section",
                )
            )


def _check_build_contexts(images: Mapping[str, ImageConfig], problems: list[Problem]) -> None:
    for name, image in images.items():
        dockerfile = PROJECT_ROOT / image.context / image.dockerfile
        if not dockerfile.is_file():
            problems.append(
                Problem(
                    f"{NAMESPACE}:images.{name}.context",
                    image.context,
                    f"must be a directory of this repository holding {image.dockerfile}; {dockerfile} does not exist",
                )
            )


def _check_kind_version(kind: KindSettings, settings: ScalarSettings, problems: list[Problem]) -> None:
    tag = kind.node_image.split("@")[0].rpartition(":")[2]
    if not tag.startswith(f"v{settings.kubernetes_version}."):
        problems.append(
            Problem(
                f"{NAMESPACE}:kind.nodeImage",
                kind.node_image,
                f"its Kubernetes version ({tag}) must match kubernetesVersion {settings.kubernetes_version}",
            )
        )


def _check_unique_names(models: list[tuple[int, ModelConfig]], problems: list[Problem]) -> None:
    seen: dict[str, int] = {}
    for index, model in models:
        if model.name in seen:
            problems.append(
                Problem(
                    f"{NAMESPACE}:models[{index}].name",
                    model.name,
                    f"must be unique; models[{seen[model.name]}] has it too",
                )
            )
        seen.setdefault(model.name, index)


def _check_service_types(
    models: list[tuple[int, ModelConfig]], cluster: backends.ClusterBackend, problems: list[Problem]
) -> None:
    for index, model in models:
        if model.serving is not None and model.serving.service_type not in cluster.service_types:
            problems.append(
                Problem(
                    f"{NAMESPACE}:models[{index}].serving.serviceType",
                    model.serving.service_type,
                    f"clusterBackend {cluster.name} supports: " + ", ".join(cluster.service_types),
                )
            )


def from_pulumi() -> StackConfig:
    """Reads this stack's configuration from the running Pulumi program.

    `pulumi.Config` can only look keys up, and a typo'd key must be an error, so the full set of
    keys comes from the runtime's config map (what the CLI, or the render tool, passed in).
    """
    from pulumi.runtime import config as runtime_config

    return parse({**runtime_config.get_config_env(), **runtime_config.CONFIG.get()})
