"""The base of every stack-file object, the small types they share, and the shape of a config
problem. Pure pydantic: backends' settings schemas build on it without importing a cloud SDK."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt
from pydantic.alias_generators import to_camel

NAMESPACE = "ml-platform"
"""The project's config namespace: every key of a stack file is `ml-platform:<key>` unless a provider's."""

ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
"""The Service types a model may be served as; each cluster backend says which get an address."""
MAX_INT32 = 2**31 - 1
"""The largest count a stack file may give: Kubernetes' counts (replicas, completions,
backoffLimit) and the clouds' node counts are 32-bit integers."""


def at_most(limit: int, why: str) -> AfterValidator:
    """An integer validator: at most `limit`, saying `why` beside the key and the bad value."""

    def check(value: int) -> int:
        if value > limit:
            raise ValueError(f"must be at most {limit} ({why})")
        return value

    return AfterValidator(check)


NonNegativeInt = Annotated[StrictInt, Field(ge=0), at_most(MAX_INT32, "a 32-bit count, as Kubernetes takes it")]
PositiveInt = Annotated[StrictInt, Field(ge=1), at_most(MAX_INT32, "a 32-bit count, as Kubernetes takes it")]


class Schema(BaseModel):
    """Stack-file objects: camelCase keys, unknown keys rejected, no coercion, immutable once read."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True)


def matching(pattern: str, allowed: str) -> AfterValidator:
    """A string validator: `pattern` must match the whole value; `allowed` says what is, in the
    words the config error shows next to the key and the bad value."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


# Patterns spell digits [0-9], never \d: Python's \d also matches other scripts' digits (full-width
# "512Mi"), which Kubernetes, Docker and the clouds refuse.

# Image names (and other short names of the stack file) are DNS-1123 labels kept short.
_MAX_NAME_LENGTH = 40
# Kubernetes' own quantity grammar, restricted to the positive, human-written forms.
_QUANTITY = re.compile(r"([0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<suffix>m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")


def _quantity(value: str) -> str:
    match = _QUANTITY.fullmatch(value)
    if not match or Decimal(value.removesuffix(match["suffix"] or "")) == 0:
        raise ValueError("must be a positive Kubernetes quantity such as 500m, 2, 512Mi or 4Gi")
    return value


DnsName = Annotated[
    str,
    matching(
        rf"(?=.{{1,{_MAX_NAME_LENGTH}}}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?",
        f"must be a DNS-1123 label of at most {_MAX_NAME_LENGTH} characters "
        "(lower-case letters, digits and '-', starting and ending with a letter or digit)",
    ),
]

KUBERNETES_NAME_LENGTH = 63
"""The longest DNS label: a Service's name, a pod's subdomain and hostname, a label value."""
AUTONAME_SUFFIX_LENGTH = 1 + 8
"""What Pulumi's Kubernetes provider appends to a logical name to auto-name an object: '-' and 8
random hex characters (the offline render's mocks append 7)."""
LONGEST_MODEL_SUFFIX = "-serving-disruption-budget"
"""The longest logical-name suffix the workloads give a model's objects (`<model>-serving` plus
`-disruption-budget`); the others: `-serving-network-policy`, `-training-service-account`,
`-training-rendezvous` (the pods' subdomain), `-train-<12 hex run id>` (the Job; its pods'
hostnames add `-<index>`, at most 5 digits) and the model itself as the `app.kubernetes.io/name`
label. `tests/test_model_name_limits.py` renders a model of the longest name and checks them all."""
MAX_MODEL_NAME_LENGTH = KUBERNETES_NAME_LENGTH - len(LONGEST_MODEL_SUFFIX) - AUTONAME_SUFFIX_LENGTH
ModelName = Annotated[
    str,
    matching(
        rf"(?=.{{1,{MAX_MODEL_NAME_LENGTH}}}\Z)[a-z]([-a-z0-9]*[a-z0-9])?",
        f"must be a DNS-1035 label of at most {MAX_MODEL_NAME_LENGTH} characters (lower-case letters, digits "
        "and '-', starting with a letter, ending with a letter or digit): the Kubernetes names derived from "
        f"it, <model>{LONGEST_MODEL_SUFFIX}-<8 random characters> the longest, must fit in "
        f"{KUBERNETES_NAME_LENGTH} and a Service's must start with a letter",
    ),
]
"""A model's name: it prefixes the names of every object of the model."""
Quantity = Annotated[str, AfterValidator(_quantity)]
"""Any positive Kubernetes quantity; resources use the stricter `CpuQuantity` and `MemoryQuantity`."""

_CPU = re.compile(r"(?P<cores>[0-9]+(\.[0-9]{1,3})?|\.[0-9]{1,3})|(?P<millis>[0-9]+)m")
_BYTE_SUFFIXES = {
    "": 1,
    **{suffix: 1000 ** (power + 1) for power, suffix in enumerate("kMGTPE")},
    **{f"{suffix}i": 1024 ** (power + 1) for power, suffix in enumerate("KMGTPE")},
}
_BYTES = re.compile(r"(?P<number>[0-9]+(\.[0-9]+)?|\.[0-9]+)(?P<suffix>[kMGTPE]|[KMGTPE]i)?")
MIN_BYTES = 1024**2
"""The least memory or storage a stack may ask for, 1Mi: less cannot even start a container."""


def _cpu(value: str) -> str:
    match = _CPU.fullmatch(value)
    allowed = "must be a Kubernetes quantity of CPU: cores (2, 0.5) or millicores (500m), at least 1m"
    if not match:
        raise ValueError(allowed)
    millis = Decimal(match["millis"]) if match["millis"] else Decimal(match["cores"]) * 1000
    if millis < 1:
        raise ValueError(allowed)
    return value


def _bytes(what: str) -> AfterValidator:
    """Memory and storage: bytes with an SI or binary suffix, at least 1Mi. `m` (thousandths) is
    a valid quantity suffix, but `1m` of memory is one millibyte: always a typo for `Mi`."""
    allowed = f"must be a Kubernetes quantity of {what} such as 512Mi or 4Gi, at least 1Mi"

    def check(value: str) -> str:
        if value.endswith("m") and _BYTES.fullmatch(value[:-1]):
            raise ValueError(f"{allowed}; `m` means thousandths of a byte: write Mi for mebibytes")
        match = _BYTES.fullmatch(value)
        if not match:
            raise ValueError(allowed)
        size = Decimal(match["number"]) * _BYTE_SUFFIXES[match["suffix"] or ""]
        if size < MIN_BYTES:
            raise ValueError(f"{allowed} ({value} is {size.normalize():f} bytes)")
        if size != size.to_integral_value():
            raise ValueError(f"{allowed}, in whole bytes")
        return value

    return AfterValidator(check)


CpuQuantity = Annotated[str, AfterValidator(_cpu)]
MemoryQuantity = Annotated[str, _bytes("memory")]
StorageQuantity = Annotated[str, _bytes("storage")]
KubernetesVersion = Annotated[
    str,
    matching(
        r"1\.[0-9]{2}",
        'must be a Kubernetes minor version written "1.NN" and quoted, e.g. "1.33" '
        "(YAML reads an unquoted 1.30 as the number 1.3)",
    ),
]
ChartVersion = Annotated[
    str, matching(r"[0-9]+\.[0-9]+\.[0-9]+", "must be an exact chart version MAJOR.MINOR.PATCH (no ranges)")
]
PinnedImage = Annotated[
    str,
    matching(
        r"[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}",
        "must be an image pinned by digest: name[:tag]@sha256:<64 hex digits>",
    ),
]


MISSING: Any = object()
"""The value of a required key that is absent."""
HIDDEN: Any = object()
"""The value of a secret key: a problem with it never shows the value."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack's config: the full key, the bad value and what is allowed."""

    key: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        if self.value is MISSING:
            shown = "(missing)"
        elif self.value is HIDDEN:
            shown = "(secret value not shown)"
        else:
            shown = json.dumps(self.value, default=str)
        return f"{self.key} = {shown}: {self.allowed}"


class ConfigError(ValueError):
    """Every problem of a stack's configuration, reported together."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True, kw_only=True)
class Count:
    """A count of a workload's pods as the stack file has it: the key when the stack sets it, else
    the object that would hold it, so that a message never quotes a key the file lacks."""

    parent: str
    """The full key of the object, e.g. `ml-platform:models[0].serving`."""
    name: str
    """The field in it, e.g. `replicas`."""
    value: int
    given: bool
    """The stack sets it; False: `value` is the default."""

    def __str__(self) -> str:
        if self.given:
            return f"{self.parent}.{self.name} = {self.value}"
        return f"{self.parent} ({self.name} {self.value} by default)"

    def at_most(self, limit: int) -> str:
        """Advice to lower it to `limit`."""
        if self.given:
            return f"set {self.parent}.{self.name} to at most {limit}"
        return f"add {self.name} of at most {limit} to {self.parent}"


@dataclass(frozen=True, kw_only=True)
class PodsAtOnce:
    """How many of a workload's pods must be scheduled at the same time, and why."""

    count: Count
    """The setting that decides it."""
    extra: int = 0
    """Pods beyond `count` (a rolling update's surge)."""
    may_share_gpus: bool = False
    """The pods may share a GPU where a pool shares them (servers; never a training run's ranks)."""
    claim: str
    """The sentence that says so, for a message: "the run's 3 pods must all run at once (...)"."""

    @property
    def pods(self) -> int:
        return self.count.value + self.extra


@dataclass(frozen=True, kw_only=True)
class StackFacts:
    """What a backend's settings are checked against, beyond themselves (see `BackendSettings.problems`)."""

    kubernetes_version: str
    gpus_per_pod: Sequence[tuple[str, int]] = ()
    """(config key, GPUs) of every workload that asks for GPUs."""
    pods_at_once: Mapping[str, PodsAtOnce] = field(default_factory=dict)
    """By a key of `gpus_per_pod`: how many of the workload's pods must run at the same time (a
    training run's `nodes`, which rendezvous; a Deployment's replicas, or the autoscaler's minimum,
    and the pod a rolling update adds); absent: 1."""
    service_types: Sequence[tuple[str, str]] = ()
    """(config key, Service type) of every served model."""
    pods_per_workload: Sequence[Count] = ()
    """The most pods each workload may run at once: training `nodes`, serving `replicas` or, with an
    autoscaler, `autoscaling.maxReplicas`."""
    secrets_set: frozenset[str] = frozenset()
    """Secret keys of the project namespace the stack sets (`registryPassword`, without the namespace)."""
    provider: Schema | None = None
    """The backend's validated provider keys (e.g. `gcp:region`), when its row declares them and they are valid."""


@dataclass(frozen=True, kw_only=True)
class SecretKey:
    """A key of the project namespace that holds a secret (`pulumi config set --secret`), read by a
    backend with `Config.require_secret`; never a value in a stack file in clear."""

    key: str
    """Without the namespace: `registryPassword` is `ml-platform:registryPassword`."""
    description: str
    required: bool = False
    """Required whenever the backend is selected; otherwise its settings say when (`required_secrets`)."""


class BackendSettings(Schema):
    """A backend's stack object (`ml-platform:<backend key>`): a cluster's or a registry's."""

    def problems(self, key: str, facts: StackFacts) -> list[Problem]:
        """Checks that need the rest of the stack (e.g. a node image's version against
        `kubernetesVersion`); `key` is the full config key of this object. Default: none."""
        return []

    def warnings(self, key: str, facts: StackFacts) -> list[Problem]:
        """Valid but risky production choices (an API endpoint open to the internet): each says
        what it exposes, how to close it, and the policy rule that flags it. The program logs them
        at start (`pulumi.log.warn`) and the render tool prints them. Default: none."""
        return []

    def required_secrets(self) -> tuple[str, ...]:
        """Secret keys (of the backend row's `secrets`) these settings need, e.g. an object store's
        key only when the object store is chosen. Default: none beyond the row's required ones."""
        return ()

    def offered_service_types(self) -> tuple[str, ...] | None:
        """Service types that get an address, where the stack declares them (a cluster that exists
        already); None: the backend row's `service_types`."""
        return None
