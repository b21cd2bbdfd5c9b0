"""The base of every stack-file object, the small types they share, and the shape of a config
problem. Pure pydantic: backends' settings schemas build on it without importing a cloud SDK."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt
from pydantic.alias_generators import to_camel

NAMESPACE = "ml-platform"
"""The project's config namespace: every key of a stack file is `ml-platform:<key>` unless a provider's."""

NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


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
ChartVersion = Annotated[
    str, matching(r"\d+\.\d+\.\d+", "must be an exact chart version MAJOR.MINOR.PATCH (no ranges)")
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


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack's config: the full key, the bad value and what is allowed."""

    key: str
    value: Any
    allowed: str

    def __str__(self) -> str:
        shown = "(missing)" if self.value is MISSING else json.dumps(self.value, default=str)
        return f"{self.key} = {shown}: {self.allowed}"


class ConfigError(ValueError):
    """Every problem of a stack's configuration, reported together."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True, kw_only=True)
class StackFacts:
    """What a backend's settings are checked against, beyond themselves (see `BackendSettings.problems`)."""

    kubernetes_version: str
    gpus_per_pod: Sequence[tuple[str, int]] = ()
    """(config key, GPUs) of every workload that asks for GPUs."""


class BackendSettings(Schema):
    """A cluster backend's stack object (`ml-platform:<backend key>`)."""

    def problems(self, key: str, facts: StackFacts) -> list[Problem]:
        """Checks that need the rest of the stack (e.g. a node image's version against
        `kubernetesVersion`); `key` is the full config key of this object. Default: none."""
        return []
