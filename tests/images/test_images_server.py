"""The model server run for real: `python images/server/serve.py` on a loopback port."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from images_helpers import (
    SERVE_SCRIPT,
    SERVER_DIR,
    ServerProcess,
    TrainedModel,
    child_env,
    free_port,
)
from mltrain.data import load_split

pytestmark = pytest.mark.timeout(300)

MAX_INSTANCES = 64
MAX_BODY_BYTES = 200_000
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


@pytest.fixture(scope="module")
def server(trained_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ready server on the session's trained model, shared by this module's request tests."""
    process = ServerProcess(
        tmp_path_factory.mktemp("server") / "server.log",
        MODEL_URI=trained_model.uri,
        MAX_INSTANCES=str(MAX_INSTANCES),
        MAX_BODY_BYTES=str(MAX_BODY_BYTES),
    )
    try:
        process.wait_for("/readyz", 200)
        yield process
    finally:
        process.kill()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def predict(client: httpx.Client, body: object, name: str = "digits") -> httpx.Response:
    return client.post(
        f"/v1/models/{name}:predict", content=json.dumps(body), headers={"content-type": "application/json"}
    )


def test_health_readiness_and_model_status(client: httpx.Client, trained_model: TrainedModel) -> None:
    """A loaded server is live and ready, lists its model and describes it (KServe V1 GET)."""
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["version"] == trained_model.metadata["version"]
    assert client.get("/v1/models").json() == {"models": ["digits"]}
    status = client.get("/v1/models/digits")
    assert status.status_code == 200
    body = status.json()
    assert body["name"] == "digits" and body["ready"] is True
    assert body["input_shape"] == [1, 8, 8] and body["class_labels"] == list(range(10))


def test_predictions_match_onnxruntime_and_labels(client: httpx.Client, trained_model: TrainedModel) -> None:
    """POST :predict answers {"predictions": [...]} with the model's class for each instance,
    in order: the same classes onnxruntime gives in process, >= 95 % of them right."""
    split = load_split()
    images, labels = split.test_images[:MAX_INSTANCES], split.test_labels[:MAX_INSTANCES]
    response = predict(client, {"instances": images.tolist()})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    session = ort.InferenceSession(str(trained_model.path / "model.onnx"), providers=["CPUExecutionProvider"])
    expected = session.run(["logits"], {"input": images})[0].argmax(axis=1).tolist()
    assert predictions == expected
    assert np.mean(np.array(predictions) == labels) >= 0.95


def test_every_accepted_instance_shape_gives_the_same_answer(client: httpx.Client) -> None:
    """Instances as [1, 8, 8], [8, 8] (sklearn's digits.images) or [64] (digits.data) are the
    same pixels and get the same predictions; integers are accepted as numbers."""
    images = load_split().test_images[:16]
    answers = [
        predict(client, {"instances": images.tolist()}).json()["predictions"],
        predict(client, {"instances": images.reshape(16, 8, 8).tolist()}).json()["predictions"],
        predict(client, {"instances": images.reshape(16, 64).astype(int).tolist()}).json()["predictions"],
    ]
    assert answers[0] == answers[1] == answers[2]


IMAGE = [[0.0] * 8] * 8
BAD_INPUTS = [
    ("not JSON", b"instances=1", 422, "Invalid JSON"),
    ("JSON but not an object", b"[1, 2]", 422, "body: Input should be an object"),
    ("no instances", b"{}", 422, "instances: Field required"),
    ("empty instances", b'{"instances": []}', 422, "at least 1 item"),
    ("unknown key", b'{"instances": [[1]], "inputs": []}', 422, "inputs: Extra inputs are not permitted"),
    (
        "instance is a number",
        b'{"instances": [1, 2]}',
        422,
        "instances[0] must be an array of numbers shaped [1, 8, 8], [8, 8] or [64]",
    ),
    ("wrong shape", json.dumps({"instances": [[1.0] * 63]}).encode(), 422, "instances[0] has shape [63]"),
    (
        "second instance differs",
        json.dumps({"instances": [IMAGE, IMAGE[:7]]}).encode(),
        422,
        "instances[1] has shape [7, 8]; expected [8, 8] like instances[0]",
    ),
    (
        "ragged instance",
        json.dumps({"instances": [[*IMAGE[:7], [0.0] * 7]]}).encode(),
        422,
        "instances[0] is ragged; expected [8, 8]",
    ),
    (
        "string pixel",
        json.dumps({"instances": [[*[0.0] * 63, "7"]]}).encode(),
        422,
        "instances[0][63]: Input should be a valid number",
    ),
    (
        "null pixel",
        json.dumps({"instances": [[None] * 64]}).encode(),
        422,
        "instances[0][0]: Input should be a valid number",
    ),
    (
        "boolean pixel",
        json.dumps({"instances": [[True] + [0.0] * 63]}).encode(),
        422,
        "instances[0][0]: Input should be a valid number",
    ),
    (
        "NaN pixel",
        b'{"instances": [[NaN' + b", 0" * 63 + b"]]}",
        422,
        "instances[0][0]: Input should be a finite number",
    ),
    ("too deep", json.dumps({"instances": [[[[[0.0]]]]]}).encode(), 422, "got an array nested 4 deep"),
    (
        "too many instances",
        json.dumps({"instances": [[0] * 64] * (MAX_INSTANCES + 1)}).encode(),
        413,
        f"the limit is {MAX_INSTANCES} (MAX_INSTANCES)",
    ),
    (
        "body over the limit",
        b'{"instances": [[' + b"0," * (MAX_BODY_BYTES // 2) + b"0]]}",
        413,
        "MAX_BODY_BYTES",
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_a_4xx_that_says_what_is_wrong(
    client: httpx.Client, body: bytes, status: int, message: str
) -> None:
    """Malformed requests are answered 413 or 422 with {"error": ...} naming the problem and
    where it is, never a 500; the server keeps serving."""
    response = client.post("/v1/models/digits:predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_streamed_body_over_the_limit_is_cut_off(client: httpx.Client) -> None:
    """A chunked body with no Content-Length is counted as it arrives and refused with 413 once
    it passes MAX_BODY_BYTES, so a client cannot make the server buffer without bound."""
    chunk = b"0," * 10_000

    def body() -> Iterator[bytes]:
        yield b'{"instances": [['
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk
        yield b"0]]}"

    response = client.post("/v1/models/digits:predict", content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.json()["error"]


def test_unknown_model_is_404(client: httpx.Client) -> None:
    """Only MODEL_NAME is served; any other name is 404 for both KServe routes."""
    assert client.get("/v1/models/other").status_code == 404
    response = predict(client, {"instances": [IMAGE]}, name="other")
    assert response.status_code == 404
    assert "this server serves 'digits'" in response.json()["error"]


def test_curl_style_form_content_type_is_read_as_json(client: httpx.Client) -> None:
    """`curl -d` sends application/x-www-form-urlencoded; the body is still read as JSON."""
    response = client.post(
        "/v1/models/digits:predict",
        content=json.dumps({"instances": [IMAGE]}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1


def test_prometheus_metrics_count_requests_by_route(client: httpx.Client, trained_model: TrainedModel) -> None:
    """/metrics exposes request counts labelled by route template (not raw path), inference
    latency, readiness and the loaded version, in Prometheus text format."""
    predict(client, {"instances": [IMAGE]})
    predict(client, {"instances": [[1.0]]})
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert re.search(
        r'model_server_http_requests_total\{method="POST",route="/v1/models/\{name\}:predict",status="200"\} [1-9]',
        text,
    )
    assert re.search(
        r'model_server_http_requests_total\{method="POST",route="/v1/models/\{name\}:predict",status="422"\} [1-9]',
        text,
    )
    assert re.search(r"model_server_inference_duration_seconds_count [1-9]", text)
    assert "model_server_model_ready 1.0" in text
    assert f'model_server_model_info{{name="digits",version="{trained_model.metadata["version"]}"}} 1.0' in text
    assert 'status="500"' not in text


def test_log_lines_are_single_line_events(server: ServerProcess) -> None:
    """Every log line is one timestamped event (what kubectl logs and k9s show well)."""
    lines = [line for line in server.log().splitlines() if line]
    assert lines and all(LOG_LINE.match(line) for line in lines), server.log()
    assert any("model ready name=digits" in line for line in lines)


def _healthcheck(port: int) -> int:
    """The image's HEALTHCHECK command, run as the container runs it (from /app, with PORT set)."""
    return subprocess.run(
        [sys.executable, "-m", "mlserve.healthcheck"],
        cwd=SERVER_DIR,
        env=child_env(PORT=str(port)),
        timeout=30,
        check=False,
    ).returncode


def test_image_healthcheck_follows_liveness(server: ServerProcess) -> None:
    """The Dockerfile's HEALTHCHECK passes against a live server and fails where none listens."""
    assert _healthcheck(server.port) == 0
    assert _healthcheck(free_port()) == 1


def test_missing_model_keeps_server_unready_until_it_appears(
    trained_model: TrainedModel, tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    """Started before training finished, the server is live but not ready, logs one line per
    load attempt (no tracebacks, no exit) and becomes ready once metadata.json appears."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    server = start_server(MODEL_URI=model_dir.as_uri(), MODEL_LOAD_RETRY_SECONDS="0.2")
    server.wait_for("/healthz", 200)
    status, body = server.get("/readyz")
    assert status == 503 and "metadata.json not found" in body["error"]
    with httpx.Client(base_url=server.url) as http:
        response = predict(http, {"instances": [IMAGE]})
        assert response.status_code == 503 and "not ready" in response.json()["error"]
        assert http.get("/v1/models/digits").status_code == 503
    time.sleep(0.6)
    # The model file alone is not enough: metadata.json is the trainer's "complete" marker.
    shutil.copy(trained_model.path / "model.onnx", model_dir / "model.onnx")
    time.sleep(0.5)
    assert server.get("/readyz")[0] == 503
    shutil.copy(trained_model.path / "metadata.json", model_dir / "metadata.json")
    server.wait_for("/readyz", 200, timeout=10)
    log = server.log()
    attempts = re.findall(r"WARNING server model not ready \(attempt \d+\): metadata.json not found", log)
    assert len(attempts) >= 3
    assert "Traceback" not in log
    assert all(LOG_LINE.match(line) for line in log.splitlines() if line), log
    assert server.process.poll() is None


@pytest.mark.parametrize(
    ("corruption", "message"),
    [("truncated", "has sha256"), ("garbage with matching checksum", "is not a loadable ONNX model")],
)
def test_corrupt_model_keeps_server_unready_without_crashing(
    trained_model: TrainedModel,
    tmp_path: Path,
    start_server: Callable[..., ServerProcess],
    corruption: str,
    message: str,
) -> None:
    """A model that fails its checksum or does not parse keeps the server unready with a one-line
    reason on /readyz and in the log; the process keeps running and keeps retrying."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    metadata = trained_model.metadata
    data = (trained_model.path / "model.onnx").read_bytes()[:5000]
    if corruption != "truncated":
        import hashlib

        metadata["model_sha256"] = hashlib.sha256(data).hexdigest()
    (model_dir / "model.onnx").write_bytes(data)
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    server = start_server(MODEL_URI=model_dir.as_uri(), MODEL_LOAD_RETRY_SECONDS="0.2")
    server.wait_for("/healthz", 200)
    time.sleep(0.7)
    status, body = server.get("/readyz")
    assert status == 503 and message in body["error"]
    log = server.log()
    assert len(re.findall(r"model not ready \(attempt \d+\)", log)) >= 2
    assert "Traceback" not in log
    assert all(LOG_LINE.match(line) for line in log.splitlines() if line), log
    assert server.process.poll() is None


def test_sigterm_lets_the_in_flight_request_finish(
    trained_model: TrainedModel, start_server: Callable[..., ServerProcess]
) -> None:
    """On SIGTERM (a pod being deleted) the server stops accepting connections but finishes the
    request it is in the middle of, answers it 200, then exits 0."""
    server = start_server(MODEL_URI=trained_model.uri)
    server.wait_for("/readyz", 200)
    images = load_split().test_images[:32]
    body = json.dumps({"instances": images.tolist()}).encode()
    head = (
        f"POST /v1/models/digits:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        # Half the body: the server has started this request and waits for the rest.
        connection.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert server.process.poll() is None, "the server exited with a request in flight"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        connection.sendall(body[len(body) // 2 :])
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", response
    payload = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert len(payload["predictions"]) == 32
    assert server.process.wait(timeout=30) == 0
    assert "Finished server process" in server.log()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PORT": "http", "MODEL_URI": "file:///models/x"}, ["PORT:", "valid integer"]),
        (
            {"MAX_INSTANCES": "0", "MODEL_URI": "file:///models/x"},
            ["MAX_INSTANCES:", "greater than or equal to 1"],
        ),
        ({}, ["MODEL_URI:", "Field required"]),
    ],
    ids=["port not a number", "max instances zero", "model uri missing"],
)
def test_invalid_settings_stop_the_server_with_a_clear_message(env: dict[str, str], expected: list[str]) -> None:
    """Misconfiguration is a startup error naming the variable (unlike a missing model, which is
    waited for): the process exits non-zero with one line, no traceback."""
    base = {k: v for k, v in child_env().items() if k not in ("MODEL_URI", "PORT", "MAX_INSTANCES")}
    result = subprocess.run(
        [sys.executable, str(SERVE_SCRIPT)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "invalid configuration" in result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert "Traceback" not in result.stderr
