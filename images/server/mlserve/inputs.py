"""Turning a KServe V1 predict body into the model's input batch, or into a 4xx that says why.

Two paths give the same answers: a fast one (orjson, one numpy conversion, two reductions) for
well-formed bodies, and a careful one (pydantic, strict types) that every other body takes to
find the first thing wrong and name it. The fast path only accepts what the careful one would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    create_model,
)


class InvalidInputError(ValueError):
    """The body does not fit the model; `status` is the HTTP answer, the message says why."""

    status = 422


class TooManyInstancesError(InvalidInputError):
    status = 413


class PredictRequest(BaseModel):
    """KServe V1 request: one entry per instance, each an array of numbers."""

    model_config = ConfigDict(extra="forbid")
    instances: list[Any] = Field(min_length=1)


def _problem_text(problem: Any) -> str:
    if problem.get("type") == "finite_number":
        return "Input should be a finite number"  # pydantic's text does not mention NaN
    return str(problem.get("msg", "invalid"))


def errors_message(errors: Sequence[Any]) -> str:
    """Pydantic errors as `location: message` pairs, the first five of them."""
    parts = []
    for problem in errors[:5]:
        location = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {_problem_text(problem)}")
    return "; ".join(parts)


# Strict numbers reject strings, booleans and null; fail_fast stops at the first bad element.
_Number = Annotated[float, Strict(), AllowInfNan(False)]


def _instances_type(depth: int) -> Any:
    """`instances` as a list of arrays of strict numbers nested `depth` deep."""
    inner: Any = _Number
    for _ in range(depth):
        inner = Annotated[list[inner], Field(fail_fast=True)]
    return Annotated[list[inner], Field(min_length=1, fail_fast=True)]


class _TypedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[Any]


# One request model per instance nesting depth (1-4), for the careful path below.
_TYPED_REQUESTS: dict[int, type[_TypedRequest]] = {
    depth: create_model(f"PredictRequestDepth{depth}", __base__=_TypedRequest, instances=(_instances_type(depth), ...))
    for depth in range(1, 5)
}


def _format_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


Batch = npt.NDArray[np.float32]
"""What the model takes: float32 shaped (n, *input shape)."""
Values = npt.NDArray[np.float64]
"""Parsed instances before the checks, in the client's layout."""
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class InputSpec:
    """The instance shapes a model accepts, by nesting depth, the batch shape it takes, and the
    range its values must lie in.

    For the digits model, input shape (1, 8, 8), clients may send [1, 8, 8], [8, 8] (one of
    scikit-learn's `digits.images`) or [64] (a row of `digits.data`): the same numbers in
    row-major order. At most one shape per depth, so an instance's depth picks its shape.
    `value_range` is metadata.json's `input_range` ([low, high], inclusive), or None for a model
    that declares none (then any finite float32 is accepted).
    """

    shape: tuple[int, ...]
    value_range: tuple[float, float] | None = None
    by_depth: dict[int, tuple[int, ...]] = field(init=False)
    description: str = field(init=False)

    def __post_init__(self) -> None:
        squeezed = self.shape
        while len(squeezed) > 1 and squeezed[0] == 1:
            squeezed = squeezed[1:]
        by_depth: dict[int, tuple[int, ...]] = {}
        for candidate in (self.shape, squeezed, (math.prod(self.shape),)):
            by_depth.setdefault(len(candidate), candidate)
        texts = [_format_shape(s) for s in sorted(by_depth.values(), key=len, reverse=True)]
        description = texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + f" or {texts[-1]}"
        object.__setattr__(self, "by_depth", by_depth)
        object.__setattr__(self, "description", description)

    def parse(self, body: bytes, max_instances: int) -> Batch:
        """Return the body's instances as float32 shaped (n, *shape); raise InvalidInputError."""
        values = self._parse_fast(body, max_instances)
        if values is None:
            values = self._parse_checked(body, max_instances)
        self._check_values(values)
        return values.astype(np.float32).reshape(len(values), *self.shape)

    def _check_values(self, values: Values) -> None:
        """Refuse values outside `value_range` (or, without one, beyond float32's range), naming the
        first such value by its place in the client's layout."""
        if self.value_range is None:
            low, high = -FLOAT32_MAX, FLOAT32_MAX
            allowed = "a finite float32"
        else:
            low, high = self.value_range
            allowed = f"in the model's input range [{low:g}, {high:g}] (metadata.json input_range)"
        # Two reductions; NaN cannot get here (both parsers refuse it).
        if values.min() >= low and values.max() <= high:
            return
        place = np.argwhere((values < low) | (values > high))[0]
        value = float(values[tuple(place)])
        where = "".join(f"[{i}]" for i in place.tolist())
        raise InvalidInputError(f"instances{where} is {value:g}; each value must be {allowed}")

    def _parse_fast(self, body: bytes, max_instances: int) -> Values | None:
        """The instances of a well-formed body, in the client's layout; None for anything else,
        which the careful path then explains."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(document) is not dict or len(document) != 1:
            return None
        instances = document.get("instances")
        if type(instances) is not list or not instances:
            return None
        if len(instances) > max_instances:
            raise TooManyInstancesError(
                f"{len(instances)} instances in one request; the limit is {max_instances} (MAX_INSTANCES)"
            )
        # np.array would quietly turn true, false, null and numeric strings into numbers. A valid
        # body has no string but its key and none of those words: anything else is for the careful
        # path to name.
        if body.count(b'"') != 2 or b"true" in body or b"false" in body or b"null" in body:
            return None
        try:
            values = np.array(instances, dtype=np.float64)
        except (ValueError, TypeError):
            return None  # ragged, or nested objects
        if values.shape[1:] != self.by_depth.get(values.ndim - 1):
            return None
        return values

    def _parse_checked(self, body: bytes, max_instances: int) -> Values:
        """The slow path: find the first thing wrong with the body and say what it is."""
        try:
            instances = PredictRequest.model_validate_json(body).instances
        except ValidationError as error:
            raise InvalidInputError(errors_message(error.errors())) from None
        if len(instances) > max_instances:
            raise TooManyInstancesError(
                f"{len(instances)} instances in one request; the limit is {max_instances} (MAX_INSTANCES)"
            )
        return self.to_batch(instances)

    def to_batch(self, instances: list[Any]) -> Values:
        """Return `instances` (parsed JSON) as float64 in the client's layout, (n, *instance shape);
        raise InvalidInputError.

        Every instance must be an array of finite numbers in one of the accepted shapes, all
        of them in the same shape.
        """
        first = instances[0]
        depth = 0
        while isinstance(first, list):
            depth += 1
            first = first[0] if first else None
        if depth not in self.by_depth:
            got = type(instances[0]).__name__ if depth == 0 else f"an array nested {depth} deep"
            raise InvalidInputError(f"instances[0] must be an array of numbers shaped {self.description}; got {got}")
        expected = self.by_depth[depth]
        try:
            validated = _TYPED_REQUESTS[depth](instances=instances).instances
        except ValidationError as error:
            problem = error.errors()[0]
            where = "".join(f"[{p}]" for p in problem["loc"][1:])  # loc[0] is "instances"
            raise InvalidInputError(f"instances{where}: {_problem_text(problem)}") from None
        batch: Values | None
        try:
            batch = np.asarray(validated, dtype=np.float64)
        except ValueError:
            batch = None  # ragged: find the offending instance below
        if batch is None or batch.shape[1:] != expected:
            for index, instance in enumerate(validated):
                try:
                    shape = np.shape(instance)
                except ValueError:
                    raise InvalidInputError(
                        f"instances[{index}] is ragged; expected {_format_shape(expected)}"
                    ) from None
                if shape != expected:
                    wanted = self.description if index == 0 else f"{_format_shape(expected)} like instances[0]"
                    raise InvalidInputError(f"instances[{index}] has shape {_format_shape(shape)}; expected {wanted}")
            raise InvalidInputError(f"instances must all have shape {_format_shape(expected)}")
        return batch
