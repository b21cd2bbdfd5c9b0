"""Loading the trained model from a URI."""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass

import fsspec
import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from mlserve.inputs import InputSpec

METADATA_FILE = "metadata.json"


class ModelLoadError(Exception):
    """The model at the URI cannot be served (yet); the message is one line saying why."""


class ModelMetadata(BaseModel):
    """The fields of the trainer's metadata.json that serving depends on."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model_name: str
    version: str
    model_file: str = "model.onnx"
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    input_name: str
    input_shape: list[PositiveInt] = Field(min_length=1)
    input_dtype: str = Field(pattern=r"^float32$")
    output_name: str
    class_labels: list[int | str] = Field(min_length=1)
    test_accuracy: float | None = None


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


@dataclass
class LoadedModel:
    """An onnxruntime session with the metadata it was trained with."""

    metadata: ModelMetadata
    session: ort.InferenceSession
    inputs: InputSpec

    def predict(self, batch: np.ndarray) -> list[int | str]:
        """Class label per row of `batch` (as returned by `inputs.parse`)."""
        (logits,) = self.session.run([self.metadata.output_name], {self.metadata.input_name: batch})
        labels = self.metadata.class_labels
        return [labels[i] for i in logits.argmax(axis=1).tolist()]

    def close(self) -> None:
        # onnxruntime frees the session's memory when the last reference goes.
        del self.session


def load_model(uri: str, inference_threads: int) -> LoadedModel:
    """Read metadata.json and the model file it names from `uri` and open a session.

    metadata.json is written last by the trainer, so its absence means training has not
    finished. Raises ModelLoadError with a one-line reason for anything that goes wrong.
    """
    try:
        fs, root = fsspec.core.url_to_fs(uri)
    except Exception as error:  # noqa: BLE001 - fsspec backends raise their own types; reported as one line
        raise ModelLoadError(f"cannot open {uri}: {_one_line(error)}") from None
    root = root.rstrip("/")
    metadata_path = posixpath.join(root, METADATA_FILE)
    try:
        raw_metadata = fs.cat_file(metadata_path)
    except FileNotFoundError:
        raise ModelLoadError(f"{METADATA_FILE} not found under {uri} (has training finished?)") from None
    except Exception as error:  # noqa: BLE001 - credentials, network, permissions: any backend's type
        raise ModelLoadError(f"cannot read {METADATA_FILE} under {uri}: {_one_line(error)}") from None
    try:
        metadata = ModelMetadata.model_validate(json.loads(raw_metadata))
    except (ValueError, ValidationError) as error:
        raise ModelLoadError(f"{METADATA_FILE} under {uri} is invalid: {_one_line(error)}") from None
    if "/" in metadata.model_file or metadata.model_file in ("", ".", ".."):
        raise ModelLoadError(f"{METADATA_FILE} under {uri} names a model file outside it: {metadata.model_file!r}")
    try:
        model_bytes = fs.cat_file(posixpath.join(root, metadata.model_file))
    except Exception as error:  # noqa: BLE001 - any backend's or onnxruntime's error is one load failure
        raise ModelLoadError(f"cannot read {metadata.model_file} under {uri}: {_one_line(error)}") from None
    digest = hashlib.sha256(model_bytes).hexdigest()
    if digest != metadata.model_sha256:
        raise ModelLoadError(
            f"{metadata.model_file} under {uri} has sha256 {digest[:12]}, metadata says "
            f"{metadata.model_sha256[:12]} (corrupt, or being replaced by a newer run)"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = inference_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: warnings would repeat on every retry
    try:
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - any backend's or onnxruntime's error is one load failure
        raise ModelLoadError(
            f"{metadata.model_file} under {uri} is not a loadable ONNX model: {_one_line(error)}"
        ) from None
    input_shape = tuple(metadata.input_shape)
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    model_input = inputs.get(metadata.input_name)
    if model_input is None or metadata.output_name not in outputs:
        raise ModelLoadError(
            f"{metadata.model_file} under {uri} has inputs {sorted(inputs)} and outputs "
            f"{sorted(outputs)}; metadata names {metadata.input_name!r} and {metadata.output_name!r}"
        )
    if tuple(model_input.shape[1:]) != input_shape:
        raise ModelLoadError(
            f"{metadata.model_file} under {uri} takes {model_input.shape}; metadata says "
            f"[batch, {', '.join(map(str, input_shape))}]"
        )
    try:
        # Runs once so that the first real request does not pay for lazy initialisation.
        (logits,) = session.run(
            [metadata.output_name], {metadata.input_name: np.zeros((2, *input_shape), dtype=np.float32)}
        )
    except Exception as error:  # noqa: BLE001 - any backend's or onnxruntime's error is one load failure
        raise ModelLoadError(f"{metadata.model_file} under {uri} fails on a test input: {_one_line(error)}") from None
    if logits.shape != (2, len(metadata.class_labels)):
        raise ModelLoadError(
            f"{metadata.model_file} under {uri} returns shape {list(logits.shape[1:])} per instance; "
            f"metadata has {len(metadata.class_labels)} class labels"
        )
    return LoadedModel(metadata, session, InputSpec(input_shape))
