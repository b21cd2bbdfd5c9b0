"""A second example model of another input shape, trained and served for real by the same code.

`train.py --dataset breast-cancer` trains an MLP on scikit-learn's Wisconsin breast cancer data
(rows of 30 measurements, labels `malignant` and `benign`); the unchanged server learns the
input shape and the labels from metadata.json alone and serves it over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnxruntime as ort
import pytest
from images_helpers import ACCURACY_BARS, ServerProcess, TrainedModel, run_trainer
from mltrain.data import load_split
from mltrain.training import TrainConfig

pytestmark = pytest.mark.timeout(300)

MODEL = "breast-cancer"
LABELS = ["malignant", "benign"]


@pytest.fixture(scope="module")
def tabular_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """The second model, trained once with nothing but `--dataset`: every other flag the default."""
    path = tmp_path_factory.mktemp("second-model") / MODEL
    result = run_trainer(path.as_uri(), "--dataset", MODEL)
    assert result.returncode == 0, result.stdout
    return TrainedModel(path, path.as_uri(), result.stdout)


@pytest.fixture(scope="module")
def server(tabular_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """images/server/serve.py, unchanged, on the second model (MODEL_NAME as the platform sets it)."""
    process = ServerProcess(
        tmp_path_factory.mktemp("second-server") / "server.log", MODEL_URI=tabular_model.uri, MODEL_NAME=MODEL
    )
    try:
        process.wait_for("/readyz", 200)
        yield process
    finally:
        process.kill()


def test_trainer_defaults_clear_the_bar_on_the_second_model(tabular_model: TrainedModel) -> None:
    """With the trainer's defaults (the ones the platform sets too) the exported model, run by
    onnxruntime, classifies at least ACCURACY_BARS["breast-cancer"] of the 114 held-out rows, and
    metadata.json describes its input, labels and accuracy truthfully."""
    metadata = tabular_model.metadata
    defaults = TrainConfig(output_uri="")
    training = metadata["training"]
    assert training["dataset"] == MODEL
    assert (training["epochs"], training["batch_size"], training["learning_rate"], training["seed"]) == (
        defaults.epochs,
        defaults.batch_size,
        defaults.learning_rate,
        defaults.seed,
    )
    assert metadata["model_name"] == MODEL
    assert metadata["input_shape"] == [30] and metadata["input_range"] == [0.0, 10_000.0]
    assert metadata["class_labels"] == LABELS
    assert (metadata["train_samples"], metadata["test_samples"]) == (455, 114)
    split = load_split(MODEL)
    session = ort.InferenceSession(str(tabular_model.path / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": split.test_inputs})
    accuracy = float((logits.argmax(axis=1) == split.test_labels).mean())
    assert accuracy >= ACCURACY_BARS[MODEL]
    assert abs(accuracy - metadata["test_accuracy"]) <= 1 / len(split.test_labels)


def test_the_same_server_serves_it_over_http(server: ServerProcess, tabular_model: TrainedModel) -> None:
    """The server describes the model from its metadata ([30] inputs, string labels) and answers
    every held-out row, raw measurements in, with the label onnxruntime gives in process: above
    the accuracy bar."""
    status, body = server.get(f"/v1/models/{MODEL}")
    assert status == 200, body
    assert body["input_shape"] == [30] and body["class_labels"] == LABELS
    assert body["version"] == tabular_model.metadata["version"]
    split = load_split(MODEL)
    status, body = server.post(f"/v1/models/{MODEL}:predict", {"instances": split.test_inputs.tolist()})
    assert status == 200, body
    predictions = body["predictions"]
    session = ort.InferenceSession(str(tabular_model.path / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": split.test_inputs})
    assert predictions == [LABELS[i] for i in logits.argmax(axis=1)]
    truth = [LABELS[i] for i in split.test_labels]
    assert np.mean([p == t for p, t in zip(predictions, truth, strict=True)]) >= ACCURACY_BARS[MODEL]


def test_typical_cases_get_the_right_label(server: ServerProcess) -> None:
    """The average held-out malignant tumour and the average benign one, sent as the raw
    measurements a client has, are answered malignant and benign."""
    split = load_split(MODEL)
    typical = [split.test_inputs[split.test_labels == label].mean(axis=0).tolist() for label in (0, 1)]
    status, body = server.post(f"/v1/models/{MODEL}:predict", {"instances": typical})
    assert status == 200, body
    assert body == {"predictions": LABELS}


def test_inputs_shaped_for_the_other_model_are_refused(server: ServerProcess) -> None:
    """The server holds requests to this model's shape: a digits image gets a 422 naming the
    expected [30], and the digits route does not exist on this server."""
    status, body = server.post(f"/v1/models/{MODEL}:predict", {"instances": [[[0.0] * 8] * 8]})
    assert status == 422 and "[30]" in body["error"], body
    status, body = server.post(f"/v1/models/{MODEL}:predict", {"instances": [[1.0] * 64]})
    assert status == 422 and "[30]" in body["error"], body
    assert server.get("/v1/models/digits")[0] == 404
