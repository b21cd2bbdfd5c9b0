"""Loading the trained model from a URI."""

from __future__ import annotations

import hashlib
import json
import posixpath
import time
from dataclasses import dataclass, field
from typing import Annotated

import fsspec  # type: ignore[import-untyped]  # fsspec ships no type information
import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]  # onnxruntime ships no type information
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, ValidationInfo, field_validator

from mlserve.inputs import FLOAT32_RANGE_TEXT, InputSpec, exact, rounds_to_float32

METADATA_FILE = "metadata.json"


class ModelLoadError(Exception):
    """The model at the URI cannot be served (yet).

    `reason` is one line fit for an HTTP answer: it names no URI, bucket or backend error text.
    `detail` adds what only the log may show (the backend's own error); str() is both.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class ModelMetadata(BaseModel):
    """The fields of the trainer's metadata.json that serving depends on, as the serving contract
    (images/README.md) gives them.

    Strict: a value is taken only as the JSON type the contract names, never converted (`true` is
    not the class label 1, `1.0` not the label 1, `"8"` not a dimension, `"0.9"` not an accuracy).
    """

    # allow_inf_nan=False: a NaN test_accuracy would be echoed by GET /v1/models/{name}, and an
    # infinite bound would make the range check meaningless.
    model_config = ConfigDict(extra="ignore", protected_namespaces=(), allow_inf_nan=False, strict=True)

    model_name: str
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    version: str
    """The first 12 hex digits of model_sha256 (after it, so that its validator sees the digest):
    logged and answered as it is."""
    model_file: str = "model.onnx"
    """A file beside metadata.json (shown in /readyz reasons and log lines)."""
    input_name: str
    input_shape: list[PositiveInt] = Field(min_length=1)
    input_dtype: str = Field(pattern=r"^float32$")
    input_range: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None
    """[low, high]: lowest and highest value the model was trained on; inputs outside it are
    refused (422). Both must be float32 numbers once rounded, since the model takes float32."""
    output_name: str
    class_labels: list[int | str] = Field(min_length=1)
    test_accuracy: Annotated[float, Field(ge=0, le=1)] | None = None

    @field_validator("class_labels", mode="before")
    @classmethod
    def _labels_are_ints_or_strings(cls, value: object) -> object:
        # One clear reason instead of the union's two per label ("valid integer", "valid string").
        if isinstance(value, list):
            for index, label in enumerate(value):
                if isinstance(label, bool) or not isinstance(label, int | str):
                    raise ValueError(
                        f"each label must be an integer or a string; [{index}] is {json.dumps(label)[:40]}"
                    )
        return value

    @field_validator("model_file")
    @classmethod
    def _file_beside_metadata(cls, value: str) -> str:
        if "/" in value or value in ("", ".", "..") or not value.isprintable():
            raise ValueError(
                "must name a file beside metadata.json: no '/', not '.' or '..', no control or invisible character"
            )
        return value

    @field_validator("input_range")
    @classmethod
    def _ordered_float32_range(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return None
        low, high = value
        if not (rounds_to_float32(low) and rounds_to_float32(high)):
            raise ValueError(
                f"must be [low, high], each a finite float32 ({FLOAT32_RANGE_TEXT}), got {[exact(v) for v in value]}"
            )
        if low > high:
            raise ValueError(f"must be [low, high] with low <= high, got {[exact(v) for v in value]}")
        return value

    @field_validator("version")
    @classmethod
    def _version_is_the_digest(cls, value: str, info: ValidationInfo) -> str:
        digest = info.data.get("model_sha256")  # absent when invalid: that field's error says why
        if digest is not None and value != digest[:12]:
            raise ValueError("must be the first 12 hex digits of model_sha256")
        return value


def one_line(error: BaseException) -> str:
    """`Type: message` on one line, for a log line."""
    return " ".join(f"{type(error).__name__}: {error}".split())


@dataclass
class LoadedModel:
    """An onnxruntime session with the metadata it was trained with."""

    metadata: ModelMetadata
    session: ort.InferenceSession
    inputs: InputSpec
    seconds_per_instance: float
    """What one more instance adds to a call, measured at load (micro-batching uses it)."""
    label_json: list[bytes] = field(init=False)
    """Each class label as JSON, indexed like the model's outputs: answers are joined from these."""

    def __post_init__(self) -> None:
        self.label_json = [json.dumps(label).encode() for label in self.metadata.class_labels]
        self._output_names = [self.metadata.output_name]
        self._input_name = self.metadata.input_name

    def classify(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.intp]:
        """Index of the highest logit per row of `batch` (shaped like `inputs.parse` returns).

        onnxruntime releases the GIL while it runs, so this may run on a thread of its own."""
        (logits,) = self.session.run(self._output_names, {self._input_name: batch})
        indices: npt.NDArray[np.intp] = logits.argmax(axis=1)
        return indices

    def predict(self, batch: npt.NDArray[np.float32]) -> list[int | str]:
        """Class label per row of `batch`."""
        labels = self.metadata.class_labels
        return [labels[i] for i in self.classify(batch).tolist()]

    def close(self) -> None:
        # onnxruntime frees the session's memory when the last reference goes.
        del self.session


def session_options(inference_threads: int) -> ort.SessionOptions:
    """onnxruntime options, chosen by measurement (bench/README.md): full graph optimisation
    (1.5x faster per call than basic on the digits CNN), one sequential executor, no spinning."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = inference_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle intra-op threads would otherwise spin for work, burning the core the event loop needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: warnings would repeat on every retry
    return options


def load_model(uri: str, inference_threads: int) -> LoadedModel:
    """Read metadata.json and the model file it names from `uri` and open a session.

    metadata.json is written last by the trainer, so its absence means training has not
    finished. Raises ModelLoadError for anything that goes wrong.
    """
    try:
        fs, root = fsspec.core.url_to_fs(uri)
    except Exception as error:  # noqa: BLE001 - fsspec backends raise their own types; reported as one line
        raise ModelLoadError("cannot open MODEL_URI", one_line(error)) from None
    root = root.rstrip("/")
    try:
        raw_metadata = fs.cat_file(posixpath.join(root, METADATA_FILE))
    except FileNotFoundError:
        raise ModelLoadError(f"{METADATA_FILE} not found (has training finished?)") from None
    except Exception as error:  # noqa: BLE001 - credentials, network, permissions: any backend's type
        raise ModelLoadError(f"cannot read {METADATA_FILE}", one_line(error)) from None
    try:
        document = json.loads(raw_metadata)
    except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than json can follow
        raise ModelLoadError(f"{METADATA_FILE} is not JSON", one_line(error)) from None
    try:
        metadata = ModelMetadata.model_validate(document)
    except ValidationError as error:
        raise ModelLoadError(f"{METADATA_FILE} is invalid: {_fields_message(error)}") from None
    try:
        model_bytes = fs.cat_file(posixpath.join(root, metadata.model_file))
    except Exception as error:  # noqa: BLE001 - any backend's error is one load failure
        raise ModelLoadError(f"cannot read {metadata.model_file}", one_line(error)) from None
    digest = hashlib.sha256(model_bytes).hexdigest()
    if digest != metadata.model_sha256:
        raise ModelLoadError(
            f"{metadata.model_file} has sha256 {digest[:12]}, metadata says "
            f"{metadata.model_sha256[:12]} (corrupt, or being replaced by a newer run)"
        )
    try:
        session = ort.InferenceSession(
            model_bytes, session_options(inference_threads), providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # noqa: BLE001 - any onnxruntime error is one load failure
        raise ModelLoadError(f"{metadata.model_file} is not a loadable ONNX model", one_line(error)) from None
    input_shape = tuple(metadata.input_shape)
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    model_input = inputs.get(metadata.input_name)
    if model_input is None or metadata.output_name not in outputs:
        raise ModelLoadError(
            f"{metadata.model_file} has inputs {sorted(inputs)} and outputs {sorted(outputs)}; "
            f"metadata names {metadata.input_name!r} and {metadata.output_name!r}"
        )
    if isinstance(model_input.shape[0], int):
        # The server joins requests into one call (micro-batching) and a request has 1 to
        # MAX_INSTANCES instances: a model exported for a fixed count fails on any other.
        raise ModelLoadError(
            f"{metadata.model_file} takes a fixed batch of {model_input.shape[0]} (input shape {model_input.shape}); "
            "the server batches requests, so the first dimension must be dynamic (the trainer exports it so)"
        )
    if tuple(model_input.shape[1:]) != input_shape:
        raise ModelLoadError(
            f"{metadata.model_file} takes {model_input.shape}; "
            f"metadata says [batch, {', '.join(map(str, input_shape))}]"
        )
    try:
        # Runs once so that the first real request does not pay for lazy initialisation.
        (logits,) = session.run(
            [metadata.output_name], {metadata.input_name: np.zeros((2, *input_shape), dtype=np.float32)}
        )
    except Exception as error:  # noqa: BLE001 - any onnxruntime error is one load failure
        raise ModelLoadError(f"{metadata.model_file} fails on a test input", one_line(error)) from None
    if logits.shape != (2, len(metadata.class_labels)):
        raise ModelLoadError(
            f"{metadata.model_file} returns shape {list(logits.shape[1:])} per instance; "
            f"metadata has {len(metadata.class_labels)} class labels"
        )
    try:
        seconds_per_instance = _seconds_per_instance(session, metadata)
    except Exception as error:  # noqa: BLE001 - any onnxruntime error is one load failure
        raise ModelLoadError(f"{metadata.model_file} fails on a batch of 33 test inputs", one_line(error)) from None
    return LoadedModel(
        metadata, session, InputSpec(input_shape, _value_range(metadata.input_range)), seconds_per_instance
    )


def _value_range(input_range: list[float] | None) -> tuple[float, float] | None:
    return None if input_range is None else (input_range[0], input_range[1])


def _fields_message(error: ValidationError) -> str:
    """`field: problem` for each invalid field, one line (/readyz carries it): names and pydantic's
    words, without the values pydantic's messages would quote; the validators above show only a
    range's numbers or a label cut to 40 characters."""
    parts = []
    for problem in error.errors()[:5]:
        location = ".".join(str(part) for part in problem["loc"]) or "document"
        parts.append(f"{location}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _seconds_per_instance(session: ort.InferenceSession, metadata: ModelMetadata) -> float:
    """The marginal time of one instance: best of five calls with 33 instances, less the best of
    five with 1, over 32. A few milliseconds at load for a small model."""

    def best(rows: int) -> float:
        feed = {metadata.input_name: np.zeros((rows, *metadata.input_shape), dtype=np.float32)}
        times = []
        for _ in range(5):
            started = time.perf_counter()
            session.run([metadata.output_name], feed)
            times.append(time.perf_counter() - started)
        return min(times)

    return max(best(33) - best(1), 0.0) / 32
