"""Turning a KServe V1 predict body into the model's input batch, or into a 4xx that says why."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
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
    return problem.get("msg", "invalid")


def errors_message(errors: Sequence[Any]) -> str:
    """Pydantic errors as `location: message` pairs, the first five of them."""
    parts = []
    for problem in errors[:5]:
        location = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        parts.append(f"{location}: {_problem_text(problem)}")
    return "; ".join(parts)


# Strict numbers reject strings, booleans and null; fail_fast stops at the first bad element,
# so a wrong body costs no more than a right one.
_Number = Annotated[float, Strict(), AllowInfNan(False)]


def _nested(depth: int) -> Any:
    inner: Any = _Number
    for _ in range(depth):
        inner = Annotated[list[inner], Field(fail_fast=True)]
    return inner


# One request model per instance nesting depth (1-4), for the fast path below.
_TYPED_REQUESTS = {
    depth: create_model(
        f"PredictRequestDepth{depth}",
        __config__=ConfigDict(extra="forbid"),
        instances=(Annotated[list[_nested(depth)], Field(min_length=1, fail_fast=True)], ...),
    )
    for depth in range(1, 5)
}
_WHITESPACE = b" \t\r\n"


def _peek_depth(body: bytes) -> int:
    """Nesting depth of the first instance, read from the raw JSON; 0 when it is not obvious.

    Only a guess to pick the typed parser: a wrong guess fails validation and falls back to
    the careful path, so odd but valid JSON is still answered correctly.
    """
    start = body.find(b'"instances"')
    if start < 0:
        return 0
    position = start + len(b'"instances"')
    end = min(len(body), position + 64)
    while position < end and (body[position] in _WHITESPACE or body[position] == ord(":")):
        position += 1
    brackets = 0
    while position < end and (body[position] in _WHITESPACE or body[position] == ord("[")):
        brackets += body[position] == ord("[")
        position += 1
    return brackets - 1


def _format_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


@dataclass(frozen=True)
class InputSpec:
    """The instance shapes a model accepts, by nesting depth, and the batch shape it takes.

    For the digits model, input shape (1, 8, 8), clients may send [1, 8, 8], [8, 8] (one of
    scikit-learn's `digits.images`) or [64] (a row of `digits.data`): the same numbers in
    row-major order. At most one shape per depth, so an instance's depth picks its shape.
    """

    shape: tuple[int, ...]
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

    def parse(self, body: bytes, max_instances: int) -> np.ndarray:
        """Return the body's instances as float32 shaped (n, *shape); raise InvalidInputError."""
        batch = self._parse_fast(body)
        if batch is None:
            return self._parse_checked(body, max_instances)
        if len(batch) > max_instances:
            raise TooManyInstancesError(
                f"{len(batch)} instances in one request; the limit is {max_instances} (MAX_INSTANCES)"
            )
        return batch

    def _parse_fast(self, body: bytes) -> np.ndarray | None:
        """Parse and type-check in one pass for a well-formed body; None for anything else."""
        depth = _peek_depth(body)
        expected = self.by_depth.get(depth)
        if expected is None:
            return None
        try:
            instances = _TYPED_REQUESTS[depth].model_validate_json(body).instances
            batch = np.asarray(instances, dtype=np.float32)
        except (ValidationError, ValueError):
            return None
        if batch.shape[1:] != expected:
            return None
        return batch.reshape(len(batch), *self.shape)

    def _parse_checked(self, body: bytes, max_instances: int) -> np.ndarray:
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

    def to_batch(self, instances: list[Any]) -> np.ndarray:
        """Return `instances` (parsed JSON) as float32 shaped (n, *shape); raise InvalidInputError.

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
        try:
            batch = np.asarray(validated, dtype=np.float32)
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
        return batch.reshape(len(validated), *self.shape)
