"""Turning a KServe V1 predict body into the model's input batch, or into a 4xx that says why.

Two paths give the same answers: a fast one for well-formed bodies, and a careful one (pydantic,
strict types) that every other body takes to find the first thing wrong and name it. The fast path
only accepts what the careful one would. It is split in two so that micro-batching pays for numpy
once per call rather than once per request: `decode` (one pass over the bytes, orjson) per request,
then `assemble` (one conversion, two reductions) for all the requests of an onnxruntime call.
"""

from __future__ import annotations

import functools
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


@functools.cache
def _typed_request(depth: int) -> type[_TypedRequest]:
    """The request model for instances nested `depth` deep, for the careful path below. Built on
    first use and kept: the depths asked for are those of a model's accepted shapes (at most three
    per model, `InputSpec.by_depth`), whatever rank its input has."""
    return create_model(f"PredictRequestDepth{depth}", __base__=_TypedRequest, instances=(_instances_type(depth), ...))


def exact(value: float) -> str:
    """The shortest text that reads back as `value` (Python's repr), without a trailing `.0`:
    16.0000001 stays 16.0000001 (`:g` would print 16, which sits inside a range [0, 16])."""
    text = repr(value)
    return text.removesuffix(".0")


def _format_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


Batch = npt.NDArray[np.float32]
"""What the model takes: float32 shaped (n, *input shape)."""
Values = npt.NDArray[np.float64]
"""Parsed instances before the checks, in the client's layout."""
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_RANGE_TEXT = f"at most {np.finfo(np.float32).max!s} in magnitude once rounded to float32"
"""Which numbers a float32 input takes, in words: float32's largest value as float32 prints it."""
FLOAT32_ROUNDING_MAX = float(np.nextafter(2.0**128 - 2.0**103, 0))
"""The largest double that rounds to a finite float32 (FLOAT32_MAX, 3.4028235e+38 as printed);
2**128 - 2**103, halfway to the next power of two, already rounds to inf."""


def rounds_to_float32(value: float) -> bool:
    """Whether `value` becomes a finite float32 when the model takes it: -3.4028235e+38 (float32's
    minimum as printed, a little beyond it as a double) does, 1e39 and 1e300 do not."""
    return abs(value) <= FLOAT32_ROUNDING_MAX


# What a valid body is made of besides its key: digits, number signs, points and exponents, array
# brackets, commas and JSON whitespace. Removing them from a valid body leaves exactly _ONLY_THE_KEY
# ("instances" loses its e's).
_NUMBERS_AND_ARRAYS = b"0123456789+-.eE[], \t\n\r"
_ONLY_THE_KEY = b'{"instancs":}'

# Byte order marks, longest first (UTF-32's little-endian mark begins with UTF-16's).
_BYTE_ORDER_MARKS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xef\xbb\xbf", "UTF-8 with a byte order mark"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _other_encoding(body: bytes) -> str | None:
    """What a body that is not plain UTF-8 JSON is, for the careful path's answer (RFC 8259 asks
    for UTF-8; a parser would only say "Invalid JSON" at column 1), or None. A byte order mark is
    refused rather than skipped: one encoding, no exceptions. Without one, a NUL byte among the
    first four (which no JSON text has) means UTF-16 or UTF-32."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if body.startswith(mark):
            return encoding
    if b"\x00" in body[:4]:
        return "UTF-16 or UTF-32 (it has NUL bytes)"
    return None


DEFERRED_MAX_VALUES = 256
"""Requests of at most this many numbers wait to be converted with the others of their call
(`InputSpec.defers`). Measured with the digits model (bench/README.md)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A predict body that passed the per-request checks of the fast path (`InputSpec.decode`):
    its instances as JSON decoded them, not yet converted, shaped or range-checked."""

    body: bytes
    instances: list[Any]

    def __len__(self) -> int:
        return len(self.instances)


Request = Batch | Decoded
"""One request's instances on their way to the model: checked (a Batch), or decoded, with the rest
of the checks done by `InputSpec.assemble` for many requests at once."""


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
    _low: float = field(init=False)
    _high: float = field(init=False)
    _values_per_instance: int = field(init=False)

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
        low, high = (-FLOAT32_ROUNDING_MAX, FLOAT32_ROUNDING_MAX) if self.value_range is None else self.value_range
        object.__setattr__(self, "_low", low)
        object.__setattr__(self, "_high", high)
        object.__setattr__(self, "_values_per_instance", math.prod(self.shape))

    def parse(self, body: bytes, max_instances: int) -> Batch:
        """Return the body's instances as float32 shaped (n, *shape); raise InvalidInputError."""
        decoded = self.decode(body, max_instances)
        if decoded is not None:
            return self.check(decoded)
        return self._in_range_for_model(self._parse_checked(body, max_instances))

    def check(self, request: Decoded) -> Batch:
        """The rest of `parse` for a decoded body: convert, shape and range-check it now."""
        values = self._values(request.instances)
        if values is None:
            # decode() held its count to the limit already: its own count passes.
            values = self._parse_checked(request.body, len(request))
        return self._in_range_for_model(values)

    def defers(self, request: Decoded) -> bool:
        """Whether `request` is small enough to wait for `assemble`: below DEFERRED_MAX_VALUES
        numbers numpy's fixed cost per conversion outweighs the work; a larger request is better
        converted on arrival, while the inference thread may still be busy with an earlier call."""
        return len(request) * self._values_per_instance <= DEFERRED_MAX_VALUES

    def decode(self, body: bytes, max_instances: int) -> Decoded | None:
        """The per-request half of the fast path: a body made of one "instances" key, arrays and
        numbers only, decoded; its numbers are converted and range-checked later, with other
        requests' (`assemble`). None for any other body: `parse` then names what is wrong.
        Raises TooManyInstancesError."""
        # One pass over the bytes: with the number and array characters removed, a valid body
        # leaves only its key. np.array would quietly turn true, false, null and numeric strings
        # into numbers; none of them gets past this.
        if body.translate(None, _NUMBERS_AND_ARRAYS) != _ONLY_THE_KEY:
            return None
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(document) is not dict:  # the check above lets [{"instances": ...}] through
            return None
        instances = document.get("instances")  # one key, by the check above; which one is checked here
        if type(instances) is not list or not instances:
            return None
        if len(instances) > max_instances:
            raise TooManyInstancesError(
                f"{len(instances)} instances in one request; the limit is {max_instances} (MAX_INSTANCES)"
            )
        return Decoded(body, instances)

    def assemble(self, requests: Sequence[Request]) -> tuple[Batch, list[Exception | None]]:
        """One model batch of the accepted requests' instances, in order, and for each request None
        or why it is refused: the outcome `parse` gives for its body alone (an InvalidInputError),
        or, should checking it fail unexpectedly (a bug), that error, for this request only: no
        request's problem fails the others of its call. Requests that all decoded in one layout
        and are all in range (the usual case) are converted and checked in one numpy call each;
        otherwise each request is checked on its own."""
        decoded = [request for request in requests if isinstance(request, Decoded)]
        if len(decoded) == len(requests):
            try:
                values = self._values([row for request in decoded for row in request.instances])
            except Exception:  # noqa: BLE001 - each request is then checked on its own, below
                values = None
            if values is not None and self._in_range(values):
                return self._for_model(values), [None] * len(requests)
        parts: list[Batch] = []
        outcomes: list[Exception | None] = []
        for request in requests:
            if isinstance(request, Decoded):
                try:
                    request = self.check(request)
                except Exception as refused:  # noqa: BLE001 - a 4xx, or a bug answered 500: this request's alone
                    outcomes.append(refused)
                    continue
            parts.append(request)
            outcomes.append(None)
        batch = np.concatenate(parts) if parts else np.empty((0, *self.shape), dtype=np.float32)
        return batch, outcomes

    def _for_model(self, values: Values) -> Batch:
        return values.astype(np.float32).reshape(len(values), *self.shape)

    def _in_range_for_model(self, values: Values) -> Batch:
        if not self._in_range(values):
            raise self._range_error(values)
        return self._for_model(values)

    def _in_range(self, values: Values) -> bool:
        # Two reductions; NaN cannot get here (both parsers refuse it).
        return bool(values.min() >= self._low and values.max() <= self._high)

    def _range_error(self, values: Values) -> InvalidInputError:
        """Name the first value outside `value_range` (or, without one, beyond float32's range) by
        its place in the client's layout."""
        if self.value_range is None:
            allowed = f"a finite float32 ({FLOAT32_RANGE_TEXT})"
        else:
            allowed = (
                f"in the model's input range [{exact(self._low)}, {exact(self._high)}] (metadata.json input_range)"
            )
        place = np.argwhere((values < self._low) | (values > self._high))[0]
        value = float(values[tuple(place)])
        where = "".join(f"[{i}]" for i in place.tolist())
        return InvalidInputError(f"instances{where} is {exact(value)}; each value must be {allowed}")

    def _values(self, instances: list[Any]) -> Values | None:
        """`instances` as float64 in the client's layout, or None when they are ragged or not in
        one accepted layout (the careful path then says which)."""
        try:
            values = np.array(instances, dtype=np.float64)
        except (ValueError, TypeError):
            return None  # ragged, or nested objects
        if values.shape[1:] != self.by_depth.get(values.ndim - 1):
            return None
        return values

    def _parse_checked(self, body: bytes, max_instances: int) -> Values:
        """The slow path: find the first thing wrong with the body and say what it is."""
        if (encoding := _other_encoding(body)) is not None:
            raise InvalidInputError(f"body: must be JSON in UTF-8 without a byte order mark; this one is {encoding}")
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
            validated = _typed_request(depth)(instances=instances).instances
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
