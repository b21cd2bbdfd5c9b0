"""The stack's configuration, read once into typed objects and validated before any resource exists.

Every key lives in the ``ml-platform`` namespace of a stack file (``stacks/Pulumi.<stack>.yaml``),
except the selected cloud provider's own keys (``aws:region``), which its backend row declares.
Scalar keys are also declared in ``Pulumi.yaml`` so the Pulumi CLI type-checks them; structured
keys (``images``, ``models``, and each backend's settings object) are objects, which
``Pulumi.yaml`` cannot type, so this module and the backends' settings modules are their schema.
Defaults live there and only there; ``tests/test_project_file.py`` keeps ``Pulumi.yaml``'s
declarations equal to them. No backend is named here: backends come from ``components.backends``.

Validation collects every problem and raises one ``ConfigError`` naming, for each, the key, the
bad value and what is allowed. Unknown keys are errors: a typo must never fall back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt

from components import backends, config_keys
from components.build_context import containment_problem, dockerfile_stages
from components.ci import CiSettings
from components.schema import (
    HIDDEN,
    MAX_INT32,
    MAX_MODEL_NAME_LENGTH,
    MISSING,
    NAMESPACE,
    BackendSettings,
    ConfigError,
    Count,
    CpuQuantity,
    DnsName,
    KubernetesVersion,
    MemoryQuantity,
    ModelName,
    NonNegativeInt,
    PodsAtOnce,
    PositiveInt,
    Problem,
    Schema,
    ServiceType,
    StackFacts,
    at_most,
)
from components.workload_options import Autoscaling, ServingEnv, TrainerArg, TrainingEnv

PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""The repository root: build contexts are relative to it."""

SettingsT = TypeVar("SettingsT", bound=BackendSettings)
ProviderT = TypeVar("ProviderT", bound=Schema)

__all__ = ["NAMESPACE", "PROJECT_ROOT", "ConfigError", "Problem", "StackConfig", "from_pulumi", "parse"]

MAX_NODES = 100_000
"""The most pods of a training run: an Indexed Job allows at most 100000 completions (and parallelism)."""
Nodes = Annotated[StrictInt, Field(ge=1), at_most(MAX_NODES, "the most completions an Indexed Job may have")]
MAX_BATCH_SIZE = 2**28
"""The most instances `serving.maxBatchSize` allows: the server refuses a larger MAX_INSTANCES
(images/server/mlserve/settings.py MAX_INSTANCES_LIMIT, the most a 1 GiB body can hold) and would
restart forever. The platform cannot import the server package; a test holds the two equal."""
BatchSize = Annotated[
    StrictInt, Field(ge=1), at_most(MAX_BATCH_SIZE, "the server's bound on MAX_INSTANCES: the most a 1 GiB body holds")
]
Seed = Annotated[StrictInt, Field(ge=0), at_most(2**64 - 1, "the largest seed torch.manual_seed accepts")]
# Kubernetes takes an int64 deadline, but Pulumi waits for an awaited Job up to the deadline plus a
# margin, and that wait must stay a valid Go duration (below 2**63 nanoseconds, 292 years).
DeadlineSeconds = Annotated[
    StrictInt, Field(ge=1), at_most(MAX_INT32, "68 years; Pulumi's wait for the Job must stay a valid duration")
]

RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Namespaces Kubernetes creates and uses; `kube-` is reserved for its own."""


def _own_namespace(name: str) -> str:
    if name in RESERVED_NAMESPACES or name.startswith("kube-"):
        raise ValueError(
            "must be a namespace of the stack's own, not default or a kube-* one (Kubernetes' own: "
            + ", ".join(RESERVED_NAMESPACES[1:])
            + "): the stack labels its namespace for the restricted Pod Security Standard and denies "
            "all ingress there by default, which would break what else runs in it"
        )
    return name


Namespace = Annotated[DnsName, AfterValidator(_own_namespace)]


class ImageConfig(Schema):
    """One container image built from this repository and pushed to the stack's registry."""

    context: str = Field(description="Build context, relative to the project root.")
    dockerfile: str = Field(default="Dockerfile", description="Dockerfile path inside the context.")
    target: str | None = Field(
        default=None,
        description="Multi-stage build target, a stage of the Dockerfile (`FROM ... AS <stage>`); default: the last.",
    )


class Resources(Schema):
    """CPU, memory and GPUs for one container; requests equal limits (Guaranteed QoS for GPUs)."""

    cpu: CpuQuantity = Field(description="CPU, as cores or millicores (e.g. 500m, 2); at least 1m.")
    memory: MemoryQuantity = Field(description="Memory, as a Kubernetes quantity (e.g. 512Mi, 4Gi); at least 1Mi.")
    gpus: NonNegativeInt = Field(
        default=0,
        description="NVIDIA GPUs. On a cluster without GPUs the workload runs on CPU with a warning.",
    )


class TrainingConfig(Schema):
    """A training run: one Kubernetes Job, re-created whenever its image or settings change."""

    image: DnsName = Field(description="Name of an entry in `images`.")
    epochs: PositiveInt = Field(
        default=15, description="Training epochs; the learning-rate schedule spans them (a new run if changed)."
    )
    batch_size: PositiveInt = Field(default=32, description="Per-process batch size.")
    learning_rate: Annotated[float, Field(gt=0, le=10)] = Field(default=0.003, description="Optimizer step size.")
    seed: Seed = Field(
        default=0, description="Random seed, 0 to 2**64-1 (torch's range); runs with the same seed match on CPU."
    )
    nodes: Nodes = Field(
        default=1,
        description=f"Pods of the Indexed Job, at most {MAX_NODES}; above 1 trains with DDP across pods.",
    )
    processes_per_node: PositiveInt = Field(
        default=1,
        description="torchrun processes per pod; with GPUs, at most `resources.gpus` (a GPU each), normally equal.",
    )
    resources: Resources = Field(
        default=Resources(cpu="1", memory="2Gi"), description="Per-pod resources (default 1 CPU, 2Gi, no GPU)."
    )
    backoff_limit: NonNegativeInt = Field(default=3, description="Pod retries before the Job fails.")
    active_deadline_seconds: DeadlineSeconds = Field(
        default=3600, description="Wall-clock limit of the whole Job, in seconds (at most 2**31-1, 68 years)."
    )
    args: list[TrainerArg] = Field(
        default_factory=list,
        description=(
            "Extra trainer flags, after the platform's (e.g. [--hidden-units, '128']); part of the run id. "
            "The platform's own flags (--epochs, ...) are set by the fields above, never here."
        ),
    )
    env: TrainingEnv = Field(
        default_factory=dict,
        description=(
            "Extra environment variables of the trainer (name: value); part of the run id. "
            "Names the platform, torchrun or the artifact store set are refused."
        ),
    )

    def problems(self, key: str) -> list[Problem]:
        """Checks across fields, each reported against the key it concerns (`key`: this object's)."""
        gpus = self.resources.gpus
        if gpus and self.processes_per_node > gpus:
            return [
                Problem(
                    f"{key}.processesPerNode",
                    self.processes_per_node,
                    f"more processes than {key}.resources.gpus ({gpus}): each process takes a GPU of its own "
                    "(two on one GPU fail at start, NCCL's 'Duplicate GPU'); set processesPerNode to at most "
                    "resources.gpus, normally equal to it",
                )
            ]
        return []


ROLLING_UPDATE_SURGE = 1
"""Server pods a rolling update starts beyond the replica count (it removes none before their
replacements are ready): a Deployment needs room for replicas + this at every update."""


class ServingConfig(Schema):
    """The model server: a Deployment, a Service and a PodDisruptionBudget."""

    image: DnsName = Field(description="Name of an entry in `images`.")
    replicas: PositiveInt = Field(
        default=2,
        description="Server pods; updates roll with no loss of capacity. Conflicts with `autoscaling`.",
    )
    autoscaling: Autoscaling | None = Field(
        default=None,
        description=(
            "A HorizontalPodAutoscaler between minReplicas and maxReplicas on CPU use; "
            "the replica count is then the autoscaler's (set `replicas` or this, not both)."
        ),
    )
    resources: Resources = Field(
        default=Resources(cpu="250m", memory="512Mi"), description="Per-pod resources (default 250m, 512Mi)."
    )
    service_type: ServiceType = Field(
        default="ClusterIP", description="How the Service is exposed; the cluster backend says which it supports."
    )
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = Field(default=80, description="Service port.")
    max_batch_size: BatchSize = Field(
        default=64, description=f"Most instances one predict request may carry (at most {MAX_BATCH_SIZE})."
    )
    require_token: StrictBool = Field(
        default=False,
        description=(
            "Predict routes require `Authorization: Bearer <token>`, the token being the stack's secret "
            "`ml-platform:servingToken` (mounted from a Kubernetes Secret). Default off: anyone who reaches "
            "the Service may predict; turn it on for a LoadBalancer open beyond your network."
        ),
    )
    env: ServingEnv = Field(
        default_factory=dict,
        description=(
            "Extra environment variables of the server (name: value), e.g. LOG_LEVEL. "
            "Names the platform or the artifact store set are refused."
        ),
    )

    def problems(self, key: str) -> list[Problem]:
        """Checks across fields, each reported against the key it concerns (`key`: this object's)."""
        if self.autoscaling is not None and "replicas" in self.model_fields_set:
            return [
                Problem(
                    f"{key}.replicas",
                    self.replicas,
                    "conflicts with autoscaling: the autoscaler owns the replica count, between "
                    "autoscaling.minReplicas and maxReplicas; remove replicas (or autoscaling)",
                )
            ]
        return []


class ModelConfig(Schema):
    """A model: how it is trained and, optionally, how it is served."""

    name: ModelName = Field(
        description=(
            f"Unique model name: a letter first, then lower-case letters, digits and '-', at most "
            f"{MAX_MODEL_NAME_LENGTH} characters; prefixes every resource of the model."
        )
    )
    training: TrainingConfig | None = Field(
        default=None,
        description="Training run: the model's only source, so required (checked with the other problems).",
    )
    serving: ServingConfig | None = Field(default=None, description="Serving; omit for a train-only model.")


class ScalarSettings(Schema):
    """The scalar keys; each is also declared, with the same default, in Pulumi.yaml."""

    cluster_backend: str = Field(default="kind", description="Cluster backend: " + ", ".join(backends.CLUSTERS) + ".")
    registry_backend: str = Field(
        default="local", description="Registry backend: " + ", ".join(backends.REGISTRIES) + "."
    )
    kubernetes_version: KubernetesVersion = Field(default="1.33", description='Kubernetes minor version, e.g. "1.33".')
    namespace: Namespace = Field(
        default="ml-models",
        description=(
            "Namespace of the workloads (Pod Security: restricted, ingress denied by default); "
            "never default or a kube-* namespace."
        ),
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


# Structured keys of every stack, and the schema of their values; each backend adds its own.
COMMON_STRUCTURED_KEYS: dict[str, Any] = {
    "images": dict[DnsName, ImageConfig],
    "models": Annotated[list[ModelConfig], Field(min_length=1)],
    # Validated with the selected backend's own schema (its row's `ci`), a subclass of this one.
    "ci": CiSettings,
}
STRUCTURED_KEYS: dict[str, Any] = {
    **COMMON_STRUCTURED_KEYS,
    **{backend.settings_key: backend.settings for backend in backends.CLUSTERS.values()},
    **{
        backend.settings_key: backend.settings
        for backend in backends.REGISTRIES.values()
        if backend.settings_key is not None
    },
}
REQUIRED_KEYS = ("images", "models")
# Keys that hold secrets, declared by the backends that read them (never given a value in clear).
_ROWS: list[backends.ClusterBackend | backends.RegistryBackend] = [
    *backends.CLUSTERS.values(),
    *backends.REGISTRIES.values(),
]
SERVING_TOKEN_KEY = "servingToken"  # noqa: S105 - the name of a secret config key, not a secret
"""The secret bearer token of the predict routes of models with `serving.requireToken`."""
SECRET_KEYS = frozenset({SERVING_TOKEN_KEY, *(secret.key for backend in _ROWS for secret in backend.secrets)})


@dataclass(frozen=True, kw_only=True)
class Model:
    """A validated model: training is required (validation reports its absence with the other problems)."""

    name: str
    training: TrainingConfig
    serving: ServingConfig | None


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """Everything a stack asks for, validated."""

    settings: ScalarSettings
    images: Mapping[str, ImageConfig]
    models: tuple[Model, ...]
    backend_settings: BackendSettings
    """The settings object of the selected cluster backend (its row's `settings` schema)."""
    provider_settings: Schema | None
    """The selected backend's provider config (e.g. `aws:region`), if its row declares one."""
    warnings: tuple[Problem, ...] = ()
    """Valid but risky choices (from the backend's `warnings`): logged at program start, never silent."""
    registry_settings: BackendSettings | None = None
    """The selected registry backend's own settings object, if its row has one (`ml-platform:registry`)."""
    ci: CiSettings | None = None
    """`ml-platform:ci`, as the selected backend's row types it (`ClusterBackend.ci`); None: no CI identity."""

    def backend_settings_as(self, schema: type[SettingsT]) -> SettingsT:
        """The backend's settings, typed: a backend reads its own settings object only."""
        if not isinstance(self.backend_settings, schema):
            raise TypeError(f"this stack's backend settings are {type(self.backend_settings).__name__}, not {schema}")
        return self.backend_settings

    def provider_settings_as(self, schema: type[ProviderT]) -> ProviderT:
        if not isinstance(self.provider_settings, schema):
            raise TypeError(f"this stack's provider settings are {type(self.provider_settings).__name__}, not {schema}")
        return self.provider_settings

    def registry_settings_as(self, schema: type[SettingsT]) -> SettingsT:
        """The registry's own settings, typed: a registry backend reads its own settings object only."""
        if not isinstance(self.registry_settings, schema):
            raise TypeError(f"this stack's registry settings are {type(self.registry_settings).__name__}, not {schema}")
        return self.registry_settings


def scalar_keys() -> dict[str, pydantic.fields.FieldInfo]:
    """Scalar config keys (camelCase) and their field definitions."""
    return {field.alias or name: field for name, field in ScalarSettings.model_fields.items()}


def parse(raw: Mapping[str, str], secret_keys: Collection[str] = ()) -> StackConfig:
    """Validates raw config values (`namespace:key` -> string, objects as JSON) into a StackConfig.
    The values of `secret_keys` never appear in a problem."""
    try:
        stack = _parse(raw, secret_keys)
    except ConfigError as error:
        raise ConfigError(config_keys.masked(error.problems, secret_keys)) from None
    return dataclasses.replace(stack, warnings=tuple(config_keys.masked(stack.warnings, secret_keys)))


def _parse(raw: Mapping[str, str], secret_keys: Collection[str]) -> StackConfig:
    """`secret_keys`: the full keys whose values were set as secrets (`pulumi config set --secret`)."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    provider_values: dict[str, dict[str, Any]] = {}
    for full_key, text in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace == NAMESPACE:
            values[key] = _decode(key, text)
        else:
            provider_values.setdefault(namespace, {})[key] = text

    known = set(scalar_keys()) | set(STRUCTURED_KEYS) | SECRET_KEYS
    for key in sorted(set(values) - known):
        advice = config_keys.did_you_mean(key, known)
        problems.append(
            Problem(
                f"{NAMESPACE}:{key}", values[key], f"unknown key; {advice}allowed keys: " + ", ".join(sorted(known))
            )
        )
    for key in REQUIRED_KEYS:
        if key not in values:
            problems.append(Problem(f"{NAMESPACE}:{key}", MISSING, "required"))

    scalars = {key: values[key] for key in scalar_keys() if key in values}
    settings = _validate(ScalarSettings, scalars, (), problems)
    images = _validate(COMMON_STRUCTURED_KEYS["images"], values.get("images", {}), ("images",), problems)
    models = _validate_models(values["models"], problems) if "models" in values else []

    backend = None
    registry = None
    if settings is not None:
        backend, registry = _check_backends(settings, problems)
    problems.extend(_check_namespaces(raw, backend))
    problems.extend(_secure_values_of_keys_published_in_clear(raw, secret_keys, backend))
    backend_settings = None
    provider_settings = None
    registry_settings = None
    ci = None
    if registry is not None:
        registry_settings = _validate_registry_settings(registry, values, problems)
    if backend is not None:
        backend_settings = _validate_backend_settings(backend, values, problems)
        provider_settings = _validate_provider(backend, provider_values, problems)
        ci = _validate_ci(backend, values, problems)
        _check_service_types(models, backend, backend_settings, problems)
    if backend is not None and registry is not None:
        _check_secrets(values, secret_keys, backend, backend_settings, registry, registry_settings, problems)
    _check_serving_token(values, secret_keys, models, problems)
    if images is not None:
        _check_references(models, images, problems)
        _check_build_contexts(images, problems)
    warnings: list[Problem] = []
    if settings is not None:
        facts = _stack_facts(
            settings, models, frozenset(key for key in SECRET_KEYS if key in values), provider_settings
        )
        if backend is not None and backend_settings is not None:
            problems.extend(backend_settings.problems(f"{NAMESPACE}:{backend.settings_key}", facts))
            warnings = backend_settings.warnings(f"{NAMESPACE}:{backend.settings_key}", facts)
        if registry is not None and registry_settings is not None:
            problems.extend(registry_settings.problems(f"{NAMESPACE}:{registry.settings_key}", facts))
    _check_unique_names(models, problems)
    _check_workloads(models, problems)

    # Each is None only when validating it added a problem.
    if problems or settings is None or images is None or backend_settings is None:
        raise ConfigError(problems)
    return StackConfig(
        settings=settings,
        images=images,
        models=tuple(
            Model(name=model.name, training=model.training, serving=model.serving)
            for _, model in models
            if model.training is not None
        ),
        backend_settings=backend_settings,
        provider_settings=provider_settings,
        warnings=tuple(warnings),
        registry_settings=registry_settings,
        ci=ci,
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
    if kind is int and re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text


def _validate(schema: Any, value: Any, path: tuple[str | int, ...], problems: list[Problem]) -> Any:
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


def _problem(schema: Any, path: tuple[str | int, ...], detail: Mapping[str, Any]) -> Problem:
    location = path + tuple(detail["loc"])
    key = _format_key(location)
    if detail["type"] == "extra_forbidden":
        allowed = _allowed_keys(schema, tuple(detail["loc"])[:-1])
        advice = config_keys.did_you_mean(str(detail["loc"][-1]), allowed)
        return Problem(key, detail["input"], f"unknown key; {advice}allowed keys: " + ", ".join(allowed))
    if detail["type"] == "missing":
        return Problem(key, MISSING, "required")
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "string_type" and isinstance(detail["input"], bool):
        # `ACCESS_LOG: true` unquoted: YAML gave a boolean (a bool is an int to Python, not to the reader).
        message += "; the stack file gives a boolean here (YAML reads unquoted true and false as booleans): quote it"
    elif detail["type"] == "string_type" and isinstance(detail["input"], (int, float)):
        # `version: 1.30` or `cpu: 0.5` unquoted: YAML gave a number (1.30 became 1.3).
        message += "; the stack file gives a number here (YAML reads unquoted 1.30 as 1.3): quote it"
    return Problem(key, detail["input"], message)


def _format_key(location: tuple[str | int, ...]) -> str:
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


def _allowed_keys(schema: Any, location: tuple[str | int, ...]) -> list[str]:
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


def _check_backends(
    settings: ScalarSettings, problems: list[Problem]
) -> tuple[backends.ClusterBackend | None, backends.RegistryBackend | None]:
    """The selected cluster and registry backends, each if it exists; problems for an unknown backend
    or a pair that does not work together (the registry row says which clusters it serves)."""
    cluster = backends.CLUSTERS.get(settings.cluster_backend)
    registry = backends.REGISTRIES.get(settings.registry_backend)
    if cluster is None:
        problems.append(
            Problem(
                f"{NAMESPACE}:clusterBackend",
                settings.cluster_backend,
                "must be one of " + ", ".join(backends.CLUSTERS),
            )
        )
    if registry is None:
        problems.append(
            Problem(
                f"{NAMESPACE}:registryBackend",
                settings.registry_backend,
                "must be one of " + ", ".join(backends.REGISTRIES),
            )
        )
    elif cluster is not None and not registry.pairs_with(cluster.name):
        serves = ", ".join(registry.clusters or ())
        pairs = [name for name, row in backends.REGISTRIES.items() if row.pairs_with(cluster.name)]
        problems.append(
            Problem(
                f"{NAMESPACE}:registryBackend",
                settings.registry_backend,
                f"registryBackend {registry.name} serves clusterBackend {serves} only; "
                f"clusterBackend {cluster.name} works with: " + ", ".join(pairs),
            )
        )
        return cluster, None
    return cluster, registry


def _validate_registry_settings(
    selected: backends.RegistryBackend, values: Mapping[str, Any], problems: list[Problem]
) -> BackendSettings | None:
    """Validates the selected registry's own settings object, if it has one; another registry's is an error."""
    for backend in backends.REGISTRIES.values():
        key = backend.settings_key
        if key is not None and key != selected.settings_key and key in values:
            problems.append(
                Problem(f"{NAMESPACE}:{key}", values[key], f"only allowed when registryBackend is {backend.name}")
            )
    if selected.settings_key is None or selected.settings is None:
        return None
    key = selected.settings_key
    validated: BackendSettings | None = _validate(selected.settings, values.get(key, {}), (key,), problems)
    return validated


def _check_serving_token(
    values: Mapping[str, Any],
    secret_keys: Collection[str],
    models: Sequence[tuple[int, ModelConfig]],
    problems: list[Problem],
) -> None:
    """The serving token is set, as a secret, exactly when some model's predict routes require it."""
    key = f"{NAMESPACE}:{SERVING_TOKEN_KEY}"
    requiring = [
        f"{NAMESPACE}:models[{i}].serving.requireToken" for i, m in models if m.serving and m.serving.require_token
    ]
    if requiring and SERVING_TOKEN_KEY not in values:
        problems.append(
            Problem(key, MISSING, f"required by {requiring[0]}; set it with `pulumi config set --secret {key}`")
        )
    elif SERVING_TOKEN_KEY in values and not requiring:
        problems.append(Problem(key, HIDDEN, "no model sets serving.requireToken: true, so it would do nothing"))
    if SERVING_TOKEN_KEY in values and key not in secret_keys:
        problems.append(
            Problem(
                key,
                HIDDEN,
                "must be a secret (a value in clear sits in the stack file): remove it, then set it with "
                f"`pulumi config set --secret {key}`",
            )
        )


def _check_secrets(
    values: Mapping[str, Any],
    secret_keys: Collection[str],
    cluster: backends.ClusterBackend,
    cluster_settings: BackendSettings | None,
    registry: backends.RegistryBackend,
    registry_settings: BackendSettings | None,
    problems: list[Problem],
) -> None:
    """Secret keys: only the selected backends' may be set, always as secrets (a value in clear would
    sit in the stack file, in the repository), and those the backends need must be set."""
    selected = [
        ("clusterBackend", cluster.name, cluster.secrets, cluster_settings),
        ("registryBackend", registry.name, registry.secrets, registry_settings),
    ]
    readers: dict[str, str] = {}
    for selector, name, secrets, _ in selected:
        for secret in secrets:
            readers.setdefault(secret.key, f"{selector} {name}")
    owners: list[tuple[str, backends.ClusterBackend | backends.RegistryBackend]] = [
        ("clusterBackend", row) for row in backends.CLUSTERS.values()
    ]
    owners += [("registryBackend", row) for row in backends.REGISTRIES.values()]
    for selector, row in owners:
        for secret in row.secrets:
            if secret.key in values and secret.key not in readers:
                problems.append(
                    Problem(f"{NAMESPACE}:{secret.key}", HIDDEN, f"only allowed when {selector} is {row.name}")
                )
    for key in sorted(readers):
        if key in values and f"{NAMESPACE}:{key}" not in secret_keys:
            problems.append(
                Problem(
                    f"{NAMESPACE}:{key}",
                    HIDDEN,
                    f"must be a secret (a value in clear sits in the stack file): remove it, then set it with "
                    f"`pulumi config set --secret {NAMESPACE}:{key}`",
                )
            )
    for selector, name, secrets, settings in selected:
        required = set(settings.required_secrets()) if settings is not None else set()
        for secret in secrets:
            if (secret.required or secret.key in required) and secret.key not in values:
                problems.append(
                    Problem(
                        f"{NAMESPACE}:{secret.key}",
                        MISSING,
                        f"required by {selector} {name}: {secret.description}; set it with "
                        f"`pulumi config set --secret {NAMESPACE}:{secret.key}`",
                    )
                )


def _secure_values_of_keys_published_in_clear(
    raw: Mapping[str, Any], secret_keys: Collection[str], backend: backends.ClusterBackend | None
) -> list[Problem]:
    """Keys the program reads as plain values but the stack file holds as secure ones: the program
    publishes them in clear (outputs, manifests, cloud tags), so the encryption would only hide the
    value from review of the stack file while promising a secrecy nobody gets. Only the secret keys
    (`SECRET_KEYS`) are read as secrets; a provider's other keys (`aws:secretKey`) are its own."""
    plain = {f"{NAMESPACE}:{key}" for key in (*scalar_keys(), *STRUCTURED_KEYS)}
    if backend is not None and backend.provider is not None:
        fields = backend.provider.schema.model_fields.items()
        plain |= {f"{backend.provider.namespace}:{field.alias or name}" for name, field in fields}
    return [
        Problem(
            key,
            HIDDEN,
            "not a secret: set it in clear (`pulumi config set "
            f"{key} <value>`, without --secret); the stack publishes its value in clear in outputs and manifests",
        )
        for key in sorted(plain & set(secret_keys) & set(raw))
    ]


def _count(parent: str, settings: Schema, field: str) -> Count:
    """`settings.<field>` as the stack file has it (`field` the Python name)."""
    info = type(settings).model_fields[field]
    return Count(
        parent=parent,
        name=info.alias or field,
        value=getattr(settings, field),
        given=field in settings.model_fields_set,
    )


def _pods_per_workload(models: Sequence[tuple[int, ModelConfig]]) -> list[Count]:
    """The most pods each workload may run at once: with an autoscaler, its maximum."""
    pods = []
    for index, model in models:
        key = f"{NAMESPACE}:models[{index}]"
        if model.training is not None:
            pods.append(_count(f"{key}.training", model.training, "nodes"))
        if model.serving is not None and model.serving.autoscaling is not None:
            pods.append(_count(f"{key}.serving.autoscaling", model.serving.autoscaling, "max_replicas"))
        elif model.serving is not None:
            pods.append(_count(f"{key}.serving", model.serving, "replicas"))
    return pods


def _training_pods_at_once(key: str, training: TrainingConfig) -> PodsAtOnce:
    nodes = _count(key, training, "nodes")
    # The pods of a multi-node run rendezvous: all must be scheduled together.
    return PodsAtOnce(
        count=nodes, claim=f"the run's {nodes.value} pods must all run at once ({nodes}: they rendezvous)"
    )


def _serving_pods_at_once(key: str, serving: ServingConfig) -> PodsAtOnce:
    """A Deployment's replicas (the autoscaler's minimum) must all run, and an update adds a pod first."""
    if serving.autoscaling is not None:
        count = _count(f"{key}.autoscaling", serving.autoscaling, "min_replicas")
    else:
        count = _count(key, serving, "replicas")
    pods = count.value + ROLLING_UPDATE_SURGE
    return PodsAtOnce(
        count=count,
        extra=ROLLING_UPDATE_SURGE,
        may_share_gpus=True,
        claim=(
            f"the model's {pods} server pods must all run at once ({count}, and {ROLLING_UPDATE_SURGE} more while "
            "a rolling update replaces them: it starts each new pod before it removes an old one)"
        ),
    )


def _validate_backend_settings(
    selected: backends.ClusterBackend, values: Mapping[str, Any], problems: list[Problem]
) -> BackendSettings | None:
    """Validates the selected backend's settings object; another backend's settings are an error."""
    for backend in backends.CLUSTERS.values():
        if backend is not selected and backend.settings_key in values:
            problems.append(
                Problem(
                    f"{NAMESPACE}:{backend.settings_key}",
                    values[backend.settings_key],
                    f"only allowed when clusterBackend is {backend.name}",
                )
            )
    key = selected.settings_key
    validated: BackendSettings | None = _validate(selected.settings, values.get(key, {}), (key,), problems)
    return validated


def _validate_provider(
    backend: backends.ClusterBackend, provider_values: Mapping[str, Mapping[str, Any]], problems: list[Problem]
) -> Schema | None:
    """The provider keys the backend reads (`aws:region`), checked like the project's own keys."""
    if backend.provider is None:
        return None
    namespace = backend.provider.namespace
    values = provider_values.get(namespace, {})
    try:
        return backend.provider.schema.model_validate(values)
    except pydantic.ValidationError as error:
        for detail in error.errors():
            key = f"{namespace}:" + ".".join(str(part) for part in detail["loc"])
            if detail["type"] == "missing":
                allowed = f"required by clusterBackend {backend.name}; set it with `pulumi config set {key} ...`"
                problems.append(Problem(key, MISSING, allowed))
            else:
                problems.append(Problem(key, detail["input"], detail["msg"].removeprefix("Value error, ")))
        return None


def _stack_facts(
    settings: ScalarSettings,
    models: list[tuple[int, ModelConfig]],
    secrets_set: frozenset[str],
    provider: Schema | None,
) -> StackFacts:
    """What the backend's own checks need to know about the workloads, named by config key."""
    gpus_per_pod: list[tuple[str, int]] = []
    pods_at_once: dict[str, PodsAtOnce] = {}
    service_types: list[tuple[str, str]] = []
    for index, model in models:
        key = f"{NAMESPACE}:models[{index}]"
        if model.training is not None and model.training.resources.gpus:
            gpus_per_pod.append((f"{key}.training.resources.gpus", model.training.resources.gpus))
            pods_at_once[f"{key}.training.resources.gpus"] = _training_pods_at_once(f"{key}.training", model.training)
        if model.serving is not None:
            if model.serving.resources.gpus:
                gpus_key = f"{key}.serving.resources.gpus"
                gpus_per_pod.append((gpus_key, model.serving.resources.gpus))
                pods_at_once[gpus_key] = _serving_pods_at_once(f"{key}.serving", model.serving)
            service_types.append((f"{key}.serving.serviceType", model.serving.service_type))
    return StackFacts(
        kubernetes_version=settings.kubernetes_version,
        gpus_per_pod=tuple(gpus_per_pod),
        pods_at_once=pods_at_once,
        service_types=tuple(service_types),
        pods_per_workload=_pods_per_workload(models),
        secrets_set=secrets_set,
        provider=provider,
    )


def _check_namespaces(raw: Mapping[str, Any], selected: backends.ClusterBackend | None) -> list[Problem]:
    """Keys in a namespace the program does not read (`ml-platfrom:`, `kubernetes:`, another
    backend's provider) would do nothing: each is a problem naming the closest known key. With no
    valid backend selected (already a problem), every backend's provider namespace is accepted."""
    in_use = {NAMESPACE: "this project", **config_keys.ALWAYS_READ}
    elsewhere: dict[str, list[str]] = {}
    known_keys = {f"{NAMESPACE}:{key}" for key in (*scalar_keys(), *STRUCTURED_KEYS)}
    for backend in backends.CLUSTERS.values():
        if backend.provider is None:
            continue
        namespace = backend.provider.namespace
        if selected is None or backend is selected:
            in_use[namespace] = f"clusterBackend {backend.name}'s provider"
            fields = backend.provider.schema.model_fields.items()
            known_keys |= {f"{namespace}:{field.alias or name}" for name, field in fields}
        else:
            elsewhere.setdefault(namespace, []).append(backend.name)
    return config_keys.namespace_problems(
        raw,
        in_use=in_use,
        elsewhere={
            namespace: "when clusterBackend is " + " or ".join(names)
            for namespace, names in elsewhere.items()
            if namespace not in in_use
        },
        known_keys=known_keys,
    )


def _validate_ci(
    backend: backends.ClusterBackend, values: Mapping[str, Any], problems: list[Problem]
) -> CiSettings | None:
    """`ci` with the schema of the backend that builds the identity; an error where none does."""
    if "ci" not in values:
        return None
    if backend.ci is None:
        supported = [name for name, row in backends.CLUSTERS.items() if row.ci is not None]
        problems.append(
            Problem(
                f"{NAMESPACE}:ci",
                values["ci"],
                f"clusterBackend {backend.name} builds no CI identity; only: " + ", ".join(supported),
            )
        )
        return None
    validated: CiSettings | None = _validate(backend.ci, values["ci"], ("ci",), problems)
    return validated


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
                    MISSING,
                    f"model {model.name} {served} no training source; add a training section",
                )
            )


def _check_build_contexts(images: Mapping[str, ImageConfig], problems: list[Problem]) -> None:
    for name, image in images.items():
        problem = _build_context_problem(f"{NAMESPACE}:images.{name}", image)
        if problem is not None:
            problems.append(problem)


def _build_context_problem(key: str, image: ImageConfig) -> Problem | None:
    """The first thing that would fail `docker build` for `image`: the context, the Dockerfile, the target."""
    outside = containment_problem(PROJECT_ROOT, image.context)
    if outside is not None:
        return Problem(f"{key}.context", image.context, outside)
    context = PROJECT_ROOT / image.context
    if not context.is_dir():
        state = "is not a directory" if context.exists() else "does not exist"
        return Problem(
            f"{key}.context",
            image.context,
            f"must be a directory of this repository holding {image.dockerfile}; {_shown(context)} {state}",
        )
    outside = containment_problem(context, image.dockerfile, inside="the build context")
    if outside is not None:
        return Problem(f"{key}.dockerfile", image.dockerfile, outside)
    dockerfile = context / image.dockerfile
    if not dockerfile.is_file():
        state = "is a directory" if dockerfile.is_dir() else "does not exist"
        if "dockerfile" not in image.model_fields_set and not dockerfile.exists():
            # The default Dockerfile is missing: the context is the likelier mistake.
            return Problem(
                f"{key}.context",
                image.context,
                f"must be a directory holding a Dockerfile (or set dockerfile); {_shown(dockerfile)} {state}",
            )
        return Problem(
            f"{key}.dockerfile",
            image.dockerfile,
            f"must be a file inside the build context (a path relative to it); {_shown(dockerfile)} {state}",
        )
    if image.target is not None:
        return _target_problem(f"{key}.target", image.target, dockerfile)
    return None


def _target_problem(key: str, target: str, dockerfile: Path) -> Problem | None:
    """`docker build --target` names a stage (`FROM ... AS <stage>`), compared ignoring case."""
    try:
        stages = dockerfile_stages(dockerfile)
    except OSError as error:
        return Problem(key, target, f"cannot read {_shown(dockerfile)} to check its stages: {error.strerror or error}")
    if target.lower() in (stage.lower() for stage in stages):
        return None
    if not stages:
        return Problem(key, target, f"{_shown(dockerfile)} names no stage (FROM ... AS <stage>): remove target")
    return Problem(
        key, target, f"must name a stage of {_shown(dockerfile)} (FROM ... AS <stage>): " + ", ".join(stages)
    )


def _shown(path: Path) -> str:
    """A path under the project root as the stack file would write it."""
    return path.relative_to(PROJECT_ROOT).as_posix() if path.is_relative_to(PROJECT_ROOT) else str(path)


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


def _check_workloads(models: list[tuple[int, ModelConfig]], problems: list[Problem]) -> None:
    for index, model in models:
        if model.training is not None:
            problems.extend(model.training.problems(f"{NAMESPACE}:models[{index}].training"))
        if model.serving is not None:
            problems.extend(model.serving.problems(f"{NAMESPACE}:models[{index}].serving"))


def _check_service_types(
    models: list[tuple[int, ModelConfig]],
    cluster: backends.ClusterBackend,
    cluster_settings: BackendSettings | None,
    problems: list[Problem],
) -> None:
    declared = cluster_settings.offered_service_types() if cluster_settings is not None else None
    if declared is None:
        offered, source = cluster.service_types, f"clusterBackend {cluster.name} supports"
    else:
        offered, source = declared, f"{NAMESPACE}:{cluster.settings_key}.serviceTypes declares"
    for index, model in models:
        if model.serving is not None and model.serving.service_type not in offered:
            problems.append(
                Problem(
                    f"{NAMESPACE}:models[{index}].serving.serviceType",
                    model.serving.service_type,
                    f"{source}: " + ", ".join(offered),
                )
            )


def from_pulumi() -> StackConfig:
    """Reads this stack's configuration from the running Pulumi program.

    `pulumi.Config` can only look keys up, and a typo'd key must be an error, so the full set of
    keys comes from the runtime's config map (what the CLI, or the render tool, passed in).
    """
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | {
        key for key in raw if runtime_config.is_config_secret(key)
    }
    return parse(raw, secret_keys)
