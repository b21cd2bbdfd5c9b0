"""The model server run for real: `python images/server/serve.py` on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import math
import os
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
    free_ports,
    write_linear_model,
)
from mlserve.settings import EXIT_CANNOT_LISTEN, EXIT_INVALID_CONFIGURATION
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
    """The inference port (PORT): the KServe V1 routes."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    """The admin port (ADMIN_PORT): probes and metrics."""
    with httpx.Client(base_url=server.admin_url, timeout=30) as http:
        yield http


def predict(client: httpx.Client, body: object, name: str = "digits") -> httpx.Response:
    return client.post(
        f"/v1/models/{name}:predict", content=json.dumps(body), headers={"content-type": "application/json"}
    )


def _wait_for_load_attempts(server: ServerProcess, attempts: int, timeout_seconds: float = 30.0) -> None:
    """Polls the server's log until it has tried to load the model `attempts` times (a slow runner
    must not fail a fixed sleep)."""
    deadline = time.monotonic() + timeout_seconds
    while len(re.findall(r"model not ready \(attempt \d+\)", server.log())) < attempts:
        assert time.monotonic() < deadline, f"fewer than {attempts} load attempts in {timeout_seconds} s"
        time.sleep(0.05)


def test_health_readiness_and_model_status(
    client: httpx.Client, admin: httpx.Client, trained_model: TrainedModel
) -> None:
    """A loaded server is live and ready (admin port), lists its model and describes it (KServe V1
    GET, inference port), with the input range it accepts."""
    assert admin.get("/healthz").status_code == 200
    ready = admin.get("/readyz")
    assert ready.status_code == 200 and ready.json()["version"] == trained_model.metadata["version"]
    assert client.get("/v1/models").json() == {"models": ["digits"]}
    status = client.get("/v1/models/digits")
    assert status.status_code == 200
    body = status.json()
    assert body["name"] == "digits" and body["ready"] is True
    assert body["input_shape"] == [1, 8, 8] and body["class_labels"] == list(range(10))
    assert body["input_range"] == [0.0, 16.0]


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
        "UTF-8 byte order mark",
        b"\xef\xbb\xbf" + json.dumps({"instances": [IMAGE]}).encode(),
        422,
        "body: must be JSON in UTF-8 without a byte order mark; this one is UTF-8 with a byte order mark",
    ),
    (
        "UTF-16",
        json.dumps({"instances": [IMAGE]}).encode("utf-16"),
        422,
        "body: must be JSON in UTF-8 without a byte order mark; this one is UTF-16",
    ),
    (
        "UTF-16 without a mark",
        json.dumps({"instances": [IMAGE]}).encode("utf-16-be"),
        422,
        "body: must be JSON in UTF-8 without a byte order mark; this one is UTF-16 or UTF-32",
    ),
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


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(json.dumps({"instances": [IMAGE]}).encode())),
        ("gzip", json.dumps({"instances": [IMAGE]}).encode()),
        ("identity, br", json.dumps({"instances": [IMAGE]}).encode()),
    ],
    ids=["gzip body", "plain body said to be gzip", "a list with br"],
)
def test_a_content_encoding_is_refused_with_415(client: httpx.Client, coding: str, body: bytes) -> None:
    """A body with a Content-Encoding other than identity is refused 415 naming what is taken
    (RFC 9110 15.5.16), with Accept-Encoding: identity, and not decoded (a decompression bomb
    would pass MAX_BODY_BYTES). A gzip body got a misleading "Invalid JSON", and a plain body
    with the header was answered 200 as if it were not there."""
    response = client.post(
        "/v1/models/digits:predict",
        content=body,
        headers={"content-type": "application/json", "content-encoding": coding},
    )
    assert response.status_code == 415, response.text
    assert response.headers["accept-encoding"] == "identity"
    error = response.json()["error"]
    assert error.startswith(f"Content-Encoding {coding.split(', ')[-1]!r} is not supported") and "identity" in error
    plain = json.dumps({"instances": [IMAGE]}).encode()
    for explicit in ("identity", "Identity"):
        response = client.post("/v1/models/digits:predict", content=plain, headers={"content-encoding": explicit})
        assert response.status_code == 200, response.text


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


def test_prometheus_metrics_count_requests_by_route(
    client: httpx.Client, admin: httpx.Client, trained_model: TrainedModel
) -> None:
    """/metrics (admin port) exposes request counts labelled by route template (not raw path),
    inference latency and batch sizes, readiness and the loaded version, in Prometheus text format."""
    predict(client, {"instances": [IMAGE]})
    predict(client, {"instances": [[1.0]]})
    response = admin.get("/metrics")
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
    assert re.search(r"model_server_inference_batch_instances_count [1-9]", text)
    assert "model_server_model_ready 1.0" in text
    assert f'model_server_model_info{{name="digits",version="{trained_model.metadata["version"]}"}} 1.0' in text
    assert 'status="500"' not in text


def test_log_lines_are_single_line_events(server: ServerProcess) -> None:
    """Every log line is one timestamped event (what kubectl logs and k9s show well)."""
    lines = [line for line in server.log().splitlines() if line]
    assert lines and all(LOG_LINE.match(line) for line in lines), server.log()
    assert any("model ready name=digits" in line for line in lines)


def _healthcheck(port: int) -> int:
    """The image's HEALTHCHECK command, run as the container runs it (from /app, with ADMIN_PORT set)."""
    return subprocess.run(
        [sys.executable, "-m", "mlserve.healthcheck"],
        cwd=SERVER_DIR,
        env=child_env(ADMIN_PORT=str(port)),
        timeout=30,
        check=False,
    ).returncode


def test_image_healthcheck_follows_liveness(server: ServerProcess) -> None:
    """The Dockerfile's HEALTHCHECK passes against a live server's admin port and fails where none
    listens (the inference port has no /healthz)."""
    assert _healthcheck(server.admin_port) == 0
    assert _healthcheck(server.port) == 1
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
    status, body = server.get("/readyz", admin=True)
    deadline = time.monotonic() + 10
    while body["error"] == "model not loaded yet" and time.monotonic() < deadline:  # before the first attempt
        time.sleep(0.05)
        status, body = server.get("/readyz", admin=True)
    assert status == 503 and "metadata.json not found" in body["error"]
    with httpx.Client(base_url=server.url) as http:
        response = predict(http, {"instances": [IMAGE]})
        assert response.status_code == 503 and "not ready" in response.json()["error"]
        assert http.get("/v1/models/digits").status_code == 503
    time.sleep(0.6)
    # The model file alone is not enough: metadata.json is the trainer's "complete" marker.
    shutil.copy(trained_model.path / "model.onnx", model_dir / "model.onnx")
    time.sleep(0.5)
    assert server.get("/readyz", admin=True)[0] == 503
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
        metadata["model_sha256"] = hashlib.sha256(data).hexdigest()
        metadata["version"] = metadata["model_sha256"][:12]
    (model_dir / "model.onnx").write_bytes(data)
    (model_dir / "metadata.json").write_text(json.dumps(metadata))
    server = start_server(MODEL_URI=model_dir.as_uri(), MODEL_LOAD_RETRY_SECONDS="0.2")
    server.wait_for("/healthz", 200)
    _wait_for_load_attempts(server, 2)
    status, body = server.get("/readyz", admin=True)
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
        (
            {"PORT": "9000", "ADMIN_PORT": "9000", "MODEL_URI": "file:///models/x"},
            ["ADMIN_PORT and PORT are both 9000"],
        ),
        ({"MICRO_BATCH_MAX_WAIT_SECONDS": "-1", "MODEL_URI": "file:///models/x"}, ["MICRO_BATCH_MAX_WAIT_SECONDS:"]),
        # Values that would take the node's memory, or a wait that never ends.
        (
            {"INFERENCE_THREADS": "100000000", "MODEL_URI": "file:///models/x"},
            ["INFERENCE_THREADS:", "less than or equal to 64"],
        ),
        ({"MODEL_LOAD_RETRY_SECONDS": "inf", "MODEL_URI": "file:///models/x"}, ["MODEL_LOAD_RETRY_SECONDS:", "finite"]),
        (
            {"MODEL_LOAD_RETRY_SECONDS": "1e300", "MODEL_URI": "file:///models/x"},
            ["MODEL_LOAD_RETRY_SECONDS:", "less than or equal to 3600"],
        ),
        (
            {"GRACEFUL_SHUTDOWN_SECONDS": "10000000000", "MODEL_URI": "file:///models/x"},
            ["GRACEFUL_SHUTDOWN_SECONDS:", "less than or equal to 3600"],
        ),
        (
            {"REQUEST_READ_TIMEOUT_SECONDS": "nan", "MODEL_URI": "file:///models/x"},
            ["REQUEST_READ_TIMEOUT_SECONDS:", "finite"],
        ),
        (
            {"MAX_BODY_BYTES": str(1 << 40), "MODEL_URI": "file:///models/x"},
            ["MAX_BODY_BYTES:", "less than or equal to 1073741824"],
        ),
        # Empty values that would read as something else: every interface, the current directory.
        ({"HOST": "", "MODEL_URI": "file:///models/x"}, ["HOST: is empty"]),
        ({"AUTH_TOKEN_FILE": "", "MODEL_URI": "file:///models/x"}, ["AUTH_TOKEN_FILE: is empty"]),
        # Instance limits beyond what a body within MAX_BODY_BYTES's bound can hold.
        (
            {"MAX_INSTANCES": str(10**24), "MODEL_URI": "file:///models/x"},
            ["MAX_INSTANCES:", "less than or equal to 268435456"],
        ),
        (
            {"MICRO_BATCH_MAX_INSTANCES": str(2**28 + 1), "MODEL_URI": "file:///models/x"},
            ["MICRO_BATCH_MAX_INSTANCES:", "less than or equal to 268435456"],
        ),
        # Locations the server would retry forever: every one but the supported forms.
        ({"MODEL_URI": "s4://bucket/run"}, ["MODEL_URI: 's4://bucket/run': scheme 's4' is not supported"]),
        ({"MODEL_URI": "file://relative/run"}, ["MODEL_URI: 'file://relative/run' is not a local file URI"]),
        ({"MODEL_URI": " "}, ["MODEL_URI: is empty"]),
        (
            {"MODEL_URI": "http://169.254.169.254/latest/meta-data"},
            ["MODEL_URI: 'http://169.254.169.254/latest/meta-data': scheme 'http' is not supported"],
        ),
        ({"MODEL_URI": "S3://bucket/run"}, ["MODEL_URI: 'S3://bucket/run': write the scheme in lower case"]),
        (
            {"MODEL_URI": "/models/x\nINFO forged"},
            ["MODEL_URI: '/models/x\\nINFO forged' has a character that is not printable in it ('\\n')"],
        ),
    ],
    ids=[
        "port not a number",
        "max instances zero",
        "model uri missing",
        "same two ports",
        "negative batch wait",
        "inference threads unbounded",
        "load retry infinite",
        "load retry 1e300",
        "graceful shutdown unbounded",
        "read timeout nan",
        "body limit unbounded",
        "host empty",
        "token file empty",
        "max instances 10**24",
        "micro-batch instances unbounded",
        "model uri s4",
        "model uri relative file",
        "model uri blank",
        "model uri http",
        "model uri upper-case scheme",
        "model uri with a newline",
    ],
)
def test_invalid_settings_stop_the_server_with_a_clear_message(env: dict[str, str], expected: list[str]) -> None:
    """Misconfiguration is a startup error naming the variable (unlike a missing model, which is
    waited for): the process exits 2 with one line, no traceback."""
    base = {k: v for k, v in child_env().items() if k not in ("MODEL_URI", "PORT", "ADMIN_PORT", "MAX_INSTANCES")}
    port, admin_port = free_ports(2)
    base.update(PORT=str(port), ADMIN_PORT=str(admin_port))  # a start that goes wrong does not collide
    result = subprocess.run(
        [sys.executable, str(SERVE_SCRIPT)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_INVALID_CONFIGURATION, result.stderr
    assert "invalid configuration" in result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


# ---- issue 8: what probing as a user and as an attacker found ----


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/models/digits:predict", "POST"),
        ("PUT", "/v1/models/digits:predict", "POST"),
        ("POST", "/v1/models/digits", "GET, HEAD"),
        ("DELETE", "/v1/models", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_naming_the_allowed_ones(client: httpx.Client, method: str, path: str, allow: str) -> None:
    """A known route asked with another method is 405 with an Allow header (not a 404 that says
    the model 'digits:predict' does not exist), and the error names the method to use."""
    response = client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert f"{method} is not allowed" in response.json()["error"]


def test_admin_routes_refuse_other_methods_with_405(admin: httpx.Client) -> None:
    """The admin port's routes are GET (and HEAD) only."""
    response = admin.post("/readyz")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    assert admin.head("/healthz").status_code == 200


def test_each_port_serves_only_its_own_routes(client: httpx.Client, admin: httpx.Client) -> None:
    """The inference port (what a Service exposes) serves the KServe V1 routes and nothing else:
    no metrics, no probes; the admin port serves those and no inference."""
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/"):
        assert client.get(path).status_code == 404, path
    for path in ("/v1/models", "/v1/models/digits"):
        assert admin.get(path).status_code == 404, path
    assert admin.post("/v1/models/digits:predict", json={"instances": [IMAGE]}).status_code == 404
    for path in ("/healthz", "/readyz", "/metrics"):
        assert admin.get(path).status_code == 200, path


ERROR_CASES = [
    ("inference", "GET", "/nowhere", None, 404),
    ("inference", "GET", "/v1/models/digits/extra", None, 404),
    ("inference", "POST", "/v1/models/digits:explain", b"{}", 404),
    ("inference", "GET", "/v1/models/digits:predict", None, 405),
    ("inference", "POST", "/v1/models/other:predict", b"{}", 404),
    ("inference", "POST", "/v1/models/digits:predict", b"{", 422),
    ("inference", "POST", "/v1/models/digits:predict", b"0" * (MAX_BODY_BYTES + 1), 413),
    ("admin", "GET", "/nowhere", None, 404),
    ("admin", "PATCH", "/metrics", None, 405),
]


@pytest.mark.parametrize(
    ("port", "method", "path", "body", "status"), ERROR_CASES, ids=[f"{c[0]} {c[1]} {c[2]}" for c in ERROR_CASES]
)
def test_every_error_has_one_shape(
    client: httpx.Client, admin: httpx.Client, port: str, method: str, path: str, body: bytes | None, status: int
) -> None:
    """Every error on either port, unknown routes included, is JSON `{"error": "<text>"}` and
    nothing else (no framework `{"detail": ...}`)."""
    response = (client if port == "inference" else admin).request(method, path, content=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert list(payload) == ["error"] and isinstance(payload["error"], str) and payload["error"]


OUT_OF_RANGE = [
    ("far below", [[0.0, -1e30, *[0.0] * 62]], "instances[0][1] is -1e+30"),
    ("just above", [[*[0.0] * 63, 16.5]], "instances[0][63] is 16.5"),
    ("second instance, 8x8 layout", [IMAGE, [[0.0] * 8] * 7 + [[0.0] * 7 + [1e39]]], "instances[1][7][7] is 1e+39"),
    ("beyond float32", [[1e300, *[0.0] * 63]], "instances[0][0] is 1e+300"),
    ("above by less than :g shows", [[16.0000001, *[0.0] * 63]], "instances[0][0] is 16.0000001;"),
]


@pytest.mark.parametrize(("instances", "where"), [c[1:] for c in OUT_OF_RANGE], ids=[c[0] for c in OUT_OF_RANGE])
def test_values_outside_the_declared_input_range_are_refused(
    client: httpx.Client, instances: list[object], where: str
) -> None:
    """metadata.json declares input_range [0, 16]; a value outside it is a 422 naming the value,
    where it is (in the client's own layout) and the range, instead of a confident prediction on
    garbage."""
    response = predict(client, {"instances": instances})
    assert response.status_code == 422, response.text
    message = response.json()["error"]
    assert where in message and "input range [0, 16]" in message


def test_the_range_bounds_themselves_are_accepted(client: httpx.Client) -> None:
    """The range is inclusive: 0 and 16, as integers or floats, are valid pixels."""
    response = predict(client, {"instances": [[0, 16.0, *[0] * 62], [16] * 64]})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2


def test_not_ready_answers_do_not_reveal_the_model_uri(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    """Why the model is not loaded is logged with the URI (on EKS it names the bucket), but no
    answer carries it: not /readyz, not a predict or status 503."""
    secret_place = tmp_path / "bucket-acme-prod-4711" / "models" / "digits"
    secret_place.mkdir(parents=True)
    server = start_server(MODEL_URI=secret_place.as_uri(), MODEL_LOAD_RETRY_SECONDS="0.2")
    server.wait_for("/healthz", 200)
    _wait_for_load_attempts(server, 1)
    answers = [server.get("/readyz", admin=True), server.get("/v1/models/digits")]
    with httpx.Client(base_url=server.url) as http:
        response = predict(http, {"instances": [IMAGE]})
        answers.append((response.status_code, response.json()))
    assert [status for status, _ in answers] == [503, 503, 503]
    assert answers[0][1] == {"ready": False, "error": "metadata.json not found (has training finished?)"}
    for _, body in answers:
        assert "acme" not in json.dumps(body) and "file:" not in json.dumps(body), body
    assert "bucket-acme-prod-4711" in server.log()


TOKEN = "s3cr3t-t0ken_for.tests~"


@pytest.fixture
def token_server(
    trained_model: TrainedModel, tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> tuple[ServerProcess, Path]:
    token_file = tmp_path / "secret" / "token"
    token_file.parent.mkdir()
    token_file.write_text(TOKEN + "\n")  # `kubectl create secret --from-file` keeps a trailing newline
    server = start_server(MODEL_URI=trained_model.uri, AUTH_TOKEN_FILE=str(token_file))
    server.wait_for("/readyz", 200)
    return server, token_file


def test_bearer_token_guards_the_inference_port(token_server: tuple[ServerProcess, Path]) -> None:
    """With AUTH_TOKEN_FILE set, every route of the inference port wants `Authorization: Bearer
    <token>`: none or a wrong one is 401 with WWW-Authenticate: Bearer; the admin port (probes,
    scraping) wants none; the token never appears in the log."""
    server, _ = token_server
    body = {"instances": [IMAGE]}
    with httpx.Client(base_url=server.url) as http:
        for path in ("/v1/models", "/v1/models/digits", "/nowhere"):
            missing = http.get(path)
            assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer ")
        wrong = http.post("/v1/models/digits:predict", json=body, headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
        assert list(wrong.json()) == ["error"]
        basic = http.get("/v1/models", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        right = http.post("/v1/models/digits:predict", json=body, headers={"Authorization": f"bearer {TOKEN}"})
        assert right.status_code == 200 and right.json()["predictions"]
    assert server.get("/readyz", admin=True)[0] == 200
    assert TOKEN not in server.log()


def test_a_rotated_token_file_takes_effect_without_a_restart(token_server: tuple[ServerProcess, Path]) -> None:
    """A Kubernetes Secret mounted as a file is updated in place on rotation: the next request
    with the new token is accepted, and from then on the old one is refused."""
    server, token_file = token_server
    token_file.write_text("rotated-token")
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v1/models", headers={"Authorization": "Bearer rotated-token"}).status_code == 200
        assert http.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
    assert "rotated-token" not in server.log()


def _make_token_file(path: Path, kind: str) -> None:
    """An AUTH_TOKEN_FILE of one kind; as a Secret volume does, a symlink for the devices."""
    if kind == "/dev/zero (endless)":
        path.symlink_to("/dev/zero")
    elif kind == "a FIFO (blocks a reader)":
        os.mkfifo(path)
    elif kind == "a directory":
        path.mkdir()
    elif kind == "over the size of a token":
        path.write_text("a" * 5000)
    elif kind != "missing":
        path.write_text(kind)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("missing", "cannot read it"),
        ("", "empty"),
        ("zq9 x7!", "not a bearer"),
        ("over the size of a token", "larger than 4098 bytes"),
        ("/dev/zero (endless)", "not a regular file"),
        ("a FIFO (blocks a reader)", "not a regular file"),
        ("a directory", "not a regular file"),
    ],
)
def test_an_unusable_token_file_stops_the_server(tmp_path: Path, content: str, problem: str) -> None:
    """A missing, empty, malformed or oversized AUTH_TOKEN_FILE is a configuration error (exit 2,
    one line naming the file and never its content), not a server that silently lets everyone in;
    one that is no regular file is refused before it is read (/dev/zero would fill the memory,
    a FIFO would block the start forever)."""
    token_file = tmp_path / "token"
    _make_token_file(token_file, content)
    result = subprocess.run(
        [sys.executable, str(SERVE_SCRIPT)],
        env=child_env(MODEL_URI="file:///models/x", AUTH_TOKEN_FILE=str(token_file), PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_INVALID_CONFIGURATION, result.stderr
    assert f"AUTH_TOKEN_FILE {token_file}" in result.stderr and problem in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert content == "" or content not in result.stderr


def test_a_token_file_swapped_for_a_device_keeps_the_previous_token(
    token_server: tuple[ServerProcess, Path],
) -> None:
    """A token file replaced at runtime by a symlink to /dev/zero (the way a Secret volume swaps
    its files) is refused without reading it: the event loop keeps answering, the previous token
    stays valid, one log line says why (not one per request with a wrong token), and SIGTERM
    still stops the server."""
    server, token_file = token_server
    swap = token_file.with_name("swap")
    swap.symlink_to("/dev/zero")
    swap.replace(token_file)
    with httpx.Client(base_url=server.url, timeout=5) as http:
        for _ in range(3):
            assert http.get("/v1/models", headers={"Authorization": "Bearer another"}).status_code == 401
        assert http.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert server.get("/healthz", admin=True)[0] == 200
    assert server.terminate(timeout=20) == 0
    warnings = [line for line in server.log().splitlines() if "keeping the previous token" in line]
    assert len(warnings) == 1 and "not a regular file" in warnings[0], server.log()


@pytest.mark.parametrize("setting", ["PORT", "ADMIN_PORT"])
def test_a_port_in_use_exits_3_with_one_line(setting: str, trained_model: TrainedModel) -> None:
    """When PORT or ADMIN_PORT is taken the server exits EXIT_CANNOT_LISTEN (3, as the docs and
    mlserve.settings say) with one log line naming the setting and the address."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        port, admin_port = free_ports(2)
        ports = {"PORT": str(port), "ADMIN_PORT": str(admin_port), setting: str(busy)}
        result = subprocess.run(
            [sys.executable, str(SERVE_SCRIPT)],
            env=child_env(MODEL_URI=trained_model.uri, HOST="127.0.0.1", **ports),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == EXIT_CANNOT_LISTEN == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"cannot listen on 127.0.0.1:{busy} ({setting})" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_request_still_uploading_when_the_drain_ends_gets_a_clean_503(
    trained_model: TrainedModel, start_server: Callable[..., ServerProcess]
) -> None:
    """A client that has not finished sending its body when GRACEFUL_SHUTDOWN_SECONDS runs out is
    answered 503 `{"error": ...}` with `Connection: close` (not a plain-text 500), the server logs
    one line about it (no CancelledError traceback) and still exits 0."""
    server = start_server(MODEL_URI=trained_model.uri, GRACEFUL_SHUTDOWN_SECONDS="1")
    server.wait_for("/readyz", 200)
    body = json.dumps({"instances": [IMAGE]}).encode()
    head = (
        f"POST /v1/models/digits:predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(head + body[:10])  # and never the rest
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    head_text, _, payload = response.partition(b"\r\n\r\n")
    assert head_text.startswith(b"HTTP/1.1 503"), response
    assert b"connection: close" in head_text.lower() and b"content-type: application/json" in head_text.lower()
    assert json.loads(payload) == {"error": "the server is shutting down; send the request again"}
    assert server.process.wait(timeout=30) == 0
    log = server.log()
    assert "Traceback" not in log and "CancelledError" not in log and "Exception in ASGI" not in log, log
    assert len(re.findall(r"cut at shutdown", log)) == 1, log
    assert all(LOG_LINE.match(line) for line in log.splitlines() if line), log


# ---- issue 13: micro-batching must not mix up rows ----


@pytest.mark.parametrize(
    "settings",
    [
        {"MICRO_BATCH_MAX_WAIT_SECONDS": "0.005"},
        {"MICRO_BATCH_MAX_WAIT_SECONDS": "0.005", "MICRO_BATCH_MAX_INSTANCES": "5"},
        {"MICRO_BATCHING": "false"},
    ],
    ids=["batched", "batched in calls of at most 5", "not batched"],
)
def test_concurrent_requests_each_get_their_own_rows(
    trained_model: TrainedModel, start_server: Callable[..., ServerProcess], settings: dict[str, str]
) -> None:
    """Many concurrent clients with distinct inputs (different images, 1 to 7 instances, different
    layouts): each answer is exactly what onnxruntime gives for that request's own instances,
    whether or not the server ran them in shared calls; with batching, calls did serve several
    requests at once. Requests refused only once converted (a value out of range, a wrong shape)
    get their own 422 naming the problem, and the requests sharing their call are unaffected."""
    server = start_server(MODEL_URI=trained_model.uri, **settings)
    server.wait_for("/readyz", 200)
    images = load_split().test_images
    session = ort.InferenceSession(str(trained_model.path / "model.onnx"), providers=["CPUExecutionProvider"])
    expected = session.run(["logits"], {"input": images})[0].argmax(axis=1).tolist()
    requests = []
    for index in range(120):
        start, count = (index * 7) % (len(images) - 8), 1 + index % 7
        chunk = images[start : start + count]
        layout = [chunk.tolist(), chunk.reshape(count, 8, 8).tolist(), chunk.reshape(count, 64).tolist()][index % 3]
        wanted: object = expected[start : start + count]
        if index % 10 == 4:  # in the fast path's structure, out of the model's input range
            layout = [[*chunk[0].ravel().tolist()[:-1], 16.5]]
            wanted = (
                "instances[0][63] is 16.5; each value must be in the model's input range [0, 16] "
                "(metadata.json input_range)"
            )
        elif index % 10 == 7:  # in the fast path's structure, the wrong shape
            layout = [chunk[0].ravel().tolist()[:63]]
            wanted = "instances[0] has shape [63]; expected [1, 8, 8], [8, 8] or [64]"
        requests.append((layout, wanted))

    async def run_all() -> list[object]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:

            async def one(instances: list[object]) -> object:
                response = await http.post("/v1/models/digits:predict", json={"instances": instances})
                if response.status_code == 422:
                    return response.json()["error"]
                assert response.status_code == 200, response.text
                return response.json()["predictions"]

            return await asyncio.gather(*(one(instances) for instances, _ in requests))

    answers = asyncio.run(run_all())
    assert answers == [wanted for _, wanted in requests]
    metrics = httpx.get(server.admin_url + "/metrics").text
    calls = {
        runner: float(count)
        for runner, count in re.findall(r'model_server_inference_calls_total\{runner="(\w+)"\} (\S+)', metrics)
    }
    if settings.get("MICRO_BATCHING") == "false":
        assert calls == {"event_loop": sum(isinstance(wanted, list) for _, wanted in requests)}
    else:
        assert sum(calls.values()) < len(requests)  # some calls served several requests
        if "MICRO_BATCH_MAX_INSTANCES" not in settings:
            assert calls.get("inference_thread", 0) > 0, calls  # the long calls ran on the thread


def test_a_five_dimensional_model_answers_each_request_of_a_shared_call_on_its_own(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    """A model whose input has five dimensions: concurrent requests share calls, and the bad ones
    among them (ragged, or nested five deep in the wrong shape, which only the careful path can
    name) each get their own 422 while the good ones sharing their calls get their predictions.
    The careful path knew nesting depths 1 to 4 only: a bad 5-deep request raised KeyError while
    its call was assembled, and every request of that call got a 500."""
    shape = [1, 2, 2, 2, 2]
    write_linear_model(tmp_path / "model", shape, 3)
    server = start_server(
        MODEL_URI=(tmp_path / "model").as_uri(), MODEL_NAME="linear", MICRO_BATCH_MAX_WAIT_SECONDS="0.005"
    )
    server.wait_for("/readyz", 200)
    session = ort.InferenceSession(str(tmp_path / "model" / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    requests: list[tuple[object, object]] = []
    for index in range(60):
        instance = rng.integers(0, 17, size=shape).astype(np.float32)
        if index % 3 == 1:  # ragged: the last innermost row one short
            bad = instance.tolist()
            bad[0][1][1][1].pop()
            requests.append((bad, "instances[0] is ragged; expected [1, 2, 2, 2, 2]"))
        elif index % 3 == 2:  # five deep, wrong shape
            requests.append(
                (
                    np.zeros((1, 2, 2, 2, 3)).tolist(),
                    "instances[0] has shape [1, 2, 2, 2, 3]; expected [1, 2, 2, 2, 2], [2, 2, 2, 2] or [16]",
                )
            )
        else:
            wanted = session.run(["logits"], {"input": instance[None]})[0].argmax(axis=1).tolist()
            requests.append((instance.tolist(), wanted))

    async def run_all() -> list[object]:
        async with httpx.AsyncClient(base_url=server.url, limits=httpx.Limits(max_connections=30), timeout=30) as http:

            async def one(instance: object) -> object:
                response = await http.post("/v1/models/linear:predict", json={"instances": [instance]})
                assert response.status_code in (200, 422), response.text
                payload = response.json()
                return payload["predictions"] if response.status_code == 200 else payload["error"]

            return await asyncio.gather(*(one(instance) for instance, _ in requests))

    assert asyncio.run(run_all()) == [wanted for _, wanted in requests]
    metrics = httpx.get(server.admin_url + "/metrics").text
    calls = sum(float(n) for n in re.findall(r"model_server_inference_calls_total\{runner=\"\w+\"\} (\S+)", metrics))
    assert calls < 40, metrics  # good requests did share calls with others
    assert "Traceback" not in server.log() and " ERROR " not in server.log()


# ---- what probing the server found: load failures of every kind, slow and malformed clients ----


def _fixed_batch_model(trained_model: TrainedModel, model_dir: Path) -> None:
    """The trained model re-declared with a fixed batch of 2: it loads and passes a 2-row test,
    but fails on any other count of rows."""
    import onnx

    model = onnx.load(str(trained_model.path / "model.onnx"))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 2
    data = model.SerializeToString()
    (model_dir / "model.onnx").write_bytes(data)
    metadata = trained_model.metadata
    metadata["model_sha256"] = hashlib.sha256(data).hexdigest()
    metadata["version"] = metadata["model_sha256"][:12]
    (model_dir / "metadata.json").write_text(json.dumps(metadata))


def _spoiled_metadata(trained_model: TrainedModel, model_dir: Path, text: str) -> None:
    shutil.copy(trained_model.path / "model.onnx", model_dir / "model.onnx")
    (model_dir / "metadata.json").write_text(text)


LOAD_FAILURES = [
    ("fixed batch dimension", "model.onnx takes a fixed batch of 2"),
    ("metadata nested too deep", "metadata.json is not JSON"),
    ("NaN test accuracy", "metadata.json is invalid: test_accuracy: Input should be a finite number"),
    ("infinite input range", "metadata.json is invalid: input_range.1: Input should be a finite number"),
    ("input range beyond float32", "metadata.json is invalid: input_range: must be [low, high], each a finite float32"),
    (
        "version forging a log line",
        "metadata.json is invalid: version: must be the first 12 hex digits of model_sha256",
    ),
]


@pytest.mark.parametrize(("failure", "reason"), LOAD_FAILURES, ids=[f[0] for f in LOAD_FAILURES])
def test_every_kind_of_load_failure_is_a_reason_a_metric_and_a_retry(
    trained_model: TrainedModel, tmp_path: Path, start_server: Callable[..., ServerProcess], failure: str, reason: str
) -> None:
    """Whatever fails a load attempt - a model with a fixed batch size (the server batches
    requests), metadata.json nested beyond what json can parse, a NaN or infinite number in it
    (GET /v1/models/{name} would answer invalid JSON), an input range wider than float32 (1e39
    passed it and the model answered from inf), a version that is not the digest's first 12
    digits (a newline in it forged a log line) - /readyz gives a one-line reason, each
    attempt logs one line and counts as a failure, and the loader keeps retrying; no attempt
    leaves /readyz at "model not loaded yet"."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    metadata = json.dumps(trained_model.metadata)
    if failure == "fixed batch dimension":
        _fixed_batch_model(trained_model, model_dir)
    elif failure == "metadata nested too deep":
        _spoiled_metadata(trained_model, model_dir, "[" * 100_000 + "]" * 100_000)
    elif failure == "NaN test accuracy":
        _spoiled_metadata(
            trained_model, model_dir, re.sub(r'"test_accuracy": [0-9.]+', '"test_accuracy": NaN', metadata)
        )
    elif failure == "infinite input range":
        _spoiled_metadata(
            trained_model, model_dir, metadata.replace('"input_range": [0.0, 16.0]', '"input_range": [0, Infinity]')
        )
    elif failure == "input range beyond float32":
        _spoiled_metadata(
            trained_model, model_dir, metadata.replace('"input_range": [0.0, 16.0]', '"input_range": [-1e300, 1e300]')
        )
    else:
        forged = {**trained_model.metadata, "version": "x\n2000-01-01T00:00:00.000Z INFO server model ready"}
        _spoiled_metadata(trained_model, model_dir, json.dumps(forged))
    server = start_server(MODEL_URI=model_dir.as_uri(), MODEL_LOAD_RETRY_SECONDS="0.2")
    server.wait_for("/healthz", 200)
    _wait_for_load_attempts(server, 2)
    status, body = server.get("/readyz", admin=True)
    assert status == 503 and body["error"].startswith(reason), body
    metrics = httpx.get(server.admin_url + "/metrics").text
    failures = re.search(r'model_server_model_load_attempts_total\{outcome="failure"\} (\S+)', metrics)
    assert failures is not None and float(failures.group(1)) >= 2, metrics
    log = server.log()
    assert len(re.findall(rf"model not ready \(attempt \d+\): {re.escape(reason)}", log)) >= 2, log
    assert "Traceback" not in log and all(LOG_LINE.match(line) for line in log.splitlines() if line), log
    assert server.process.poll() is None


def test_answers_are_always_valid_json() -> None:
    """The server's JSON encoder refuses NaN and Infinity (json.dumps would write them, and no
    client could parse the answer): such a value is a 500 `{"error": ...}` at worst."""
    from mlserve.http import json_response

    assert json_response(200, {"test_accuracy": 0.5}).body == b'{"test_accuracy":0.5}'
    for value in (math.nan, math.inf):
        with pytest.raises(ValueError, match="not JSON compliant"):
            json_response(200, {"test_accuracy": value})


def _read_until_closed(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def _answers(received: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """(status line, head, body) of each response in `received`, in order."""
    answers = []
    while received:
        head, _, rest = received.partition(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
        answers.append((head.split(b"\r\n")[0], head.lower(), rest[:length]))
        received = rest[length:]
    return answers


PREDICT_HEAD = b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: x\r\n"
UNFINISHED_REQUESTS = [
    ("nothing sent", b""),
    ("headers never end", PREDICT_HEAD),
    ("body shorter than declared", PREDICT_HEAD + b'Content-Length: 100\r\n\r\n{"inst'),
    ("chunked body without its last chunk", PREDICT_HEAD + b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"ins\r\n'),
    ("answered, body never read", b"GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"),
]


def test_requests_that_never_arrive_whole_are_cut_with_a_408(
    trained_model: TrainedModel, start_server: Callable[..., ServerProcess]
) -> None:
    """Slowloris: connections that never complete a request - headers that never end, a body
    shorter than its Content-Length, a chunked body without its last chunk, a header trickled
    byte by byte - are answered 408 `{"error": ...}` and closed after REQUEST_READ_TIMEOUT_SECONDS,
    instead of being held open forever; one that sends nothing, or whose unfinished request was
    answered already (the unread rest of a body), is closed without a second answer. A keep-alive
    connection whose requests each arrive in time is not cut, however long it lives."""
    server = start_server(MODEL_URI=trained_model.uri, REQUEST_READ_TIMEOUT_SECONDS="1")
    server.wait_for("/readyz", 200)
    started = time.monotonic()
    connections = []
    for _, data in UNFINISHED_REQUESTS:
        connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        connection.sendall(data)
        connections.append(connection)
    trickling = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    trickling.sendall(b"GET /v1/models HTTP/1.1\r\n")
    with httpx.Client(base_url=server.url, timeout=10) as http:  # one keep-alive connection
        for _ in range(8):
            with contextlib.suppress(OSError):  # until the server cuts it
                trickling.sendall(b"X")
            assert http.get("/v1/models").status_code == 200
            time.sleep(0.3)
    connections.append(trickling)
    try:
        names = [name for name, _ in UNFINISHED_REQUESTS] + ["header trickled"]
        for name, connection in zip(names, connections, strict=True):
            answers = _answers(_read_until_closed(connection))
            if name == "nothing sent":  # closed as an idle keep-alive connection is, without an answer
                assert answers == []
                continue
            if name.startswith("answered"):  # its one answer, then closed: no 408 for an answered request
                assert [status for status, _, _ in answers] == [b"HTTP/1.1 200 OK"], answers
                continue
            status_line, head, body = answers[-1]
            assert status_line == b"HTTP/1.1 408 Request Timeout", (name, answers)
            assert b"content-type: application/json" in head and b"connection: close" in head, name
            assert json.loads(body) == {"error": "no complete request within 1 s (REQUEST_READ_TIMEOUT_SECONDS)"}
            assert len(answers) == 1, (name, answers)
    finally:
        for connection in connections:
            connection.close()
    assert time.monotonic() - started < 10
    metrics = httpx.get(server.admin_url + "/metrics").text
    assert 'route="/v1/models/{name}:predict",status="408"} 2.0' in metrics, metrics
    assert server.get("/healthz", admin=True)[0] == 200
    log = server.log()
    assert len(re.findall(r"closed the connection of 127\.0\.0\.1:\d+: no complete request within 1s", log)) == 4, log


def test_the_read_clock_stops_while_a_request_is_answered(
    trained_model: TrainedModel, start_server: Callable[..., ServerProcess]
) -> None:
    """A request pipelined behind a slow one is not cut while the server is busy with the first
    (uvicorn does not read it meanwhile): both are answered. A request answered before its body
    (a 404) whose body then arrives leaves an idle connection, closed without a second answer."""
    server = start_server(
        MODEL_URI=trained_model.uri, REQUEST_READ_TIMEOUT_SECONDS="0.5", MICRO_BATCH_MAX_WAIT_SECONDS="1"
    )
    server.wait_for("/readyz", 200)
    body = json.dumps({"instances": [IMAGE]}).encode()
    request = PREDICT_HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request + body)  # answered after ~1 s: the batcher waits for company
        time.sleep(0.1)
        connection.sendall(request)  # the next request's head while the first is answered ...
        time.sleep(0.05)
        connection.sendall(body)  # ... and its body, all within 0.5 s of the first
        received = b""
        while received.count(b"HTTP/1.1 ") < 2 or not received.endswith(b"]}"):
            chunk = connection.recv(65536)
            assert chunk, received
            received += chunk
    assert [status for status, _, _ in _answers(received)] == [b"HTTP/1.1 200 OK"] * 2, received

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(b"POST /v1/models/nope:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
        time.sleep(0.2)
        connection.sendall(b"abcd")  # the body the 404 did not wait for
        answers = _answers(_read_until_closed(connection))  # closed once idle for 0.5 s
    assert [status for status, _, _ in answers] == [b"HTTP/1.1 404 Not Found"], answers


MALFORMED_REQUESTS = [
    ("unknown method", b"FOO /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", "Invalid method"),
    ("Content-Length not a number", PREDICT_HEAD + b"Content-Length: abc\r\n\r\n{}", "Content-Length"),
    ("bare LF line ends", b"GET /v1/models HTTP/1.1\nHost: x\n\n", "CRLF"),
    ("HTTP/1.1 without Host", b"GET /v1/models HTTP/1.1\r\n\r\n", "needs exactly one Host header"),
    ("HTTP/1.1 with two Hosts", b"GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "exactly one Host"),
]


@pytest.mark.parametrize(
    ("request_bytes", "reason"), [m[1:] for m in MALFORMED_REQUESTS], ids=[m[0] for m in MALFORMED_REQUESTS]
)
def test_malformed_http_gets_a_json_400(server: ServerProcess, request_bytes: bytes, reason: str) -> None:
    """What the HTTP parser refuses, and an HTTP/1.1 request without exactly one Host header (RFC
    9112 requires a 400), is answered like every other error: 400 `{"error": "invalid HTTP
    request: ..."}` as application/json, and the connection closed."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request_bytes)
        ((status_line, head, body),) = _answers(_read_until_closed(connection))
    assert status_line == b"HTTP/1.1 400 Bad Request"
    assert b"content-type: application/json" in head and b"connection: close" in head
    message = json.loads(body)["error"]
    assert message.startswith("invalid HTTP request: ") and reason in message, message


@pytest.mark.parametrize(
    ("request_bytes", "reason"), [m[1:] for m in MALFORMED_REQUESTS], ids=[m[0] for m in MALFORMED_REQUESTS]
)
def test_requests_pipelined_ahead_of_a_malformed_one_keep_their_answers(
    server: ServerProcess, request_bytes: bytes, reason: str
) -> None:
    """Answers go out in request order: requests that arrived whole before the one the parser
    refused are answered first (a predict waits for its call meanwhile), then the 400, then the
    connection closes. Before, the 400 went out at once and the earlier answers were lost."""
    body = json.dumps({"instances": [IMAGE]}).encode()
    predict = PREDICT_HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n" + predict + request_bytes)
        answers = _answers(_read_until_closed(connection))
    statuses = [status for status, _, _ in answers]
    assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request"], answers
    assert json.loads(answers[0][2]) == {"models": ["digits"]}
    assert [type(label) for label in json.loads(answers[1][2])["predictions"]] == [int]
    assert b"connection: close" in answers[2][1] and reason in json.loads(answers[2][2])["error"]


def _model_list_answers(server: ServerProcess) -> float:
    metrics = httpx.get(server.admin_url + "/metrics").text
    found = re.search(
        r'model_server_http_requests_total\{method="GET",route="/v1/models",status="200"\} (\S+)', metrics
    )
    return float(found.group(1)) if found else 0.0


def test_a_malformed_request_whose_head_was_complete_is_not_run(server: ServerProcess) -> None:
    """A request refused in its body (a bad chunk) behind one still answered: its head was complete,
    so uvicorn had queued it to run. It gets the 400 only: the app never runs it (its answer would
    be counted, and never sent)."""
    chunked = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    before = _model_list_answers(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n" + chunked)
        answers = _answers(_read_until_closed(connection))
    assert [status for status, _, _ in answers] == [b"HTTP/1.1 200 OK", b"HTTP/1.1 400 Bad Request"], answers
    time.sleep(0.2)  # a queued request, had it run, would have been counted by now
    assert _model_list_answers(server) == before + 1


def test_http_1_0_needs_no_host_header(server: ServerProcess) -> None:
    """HTTP/1.0 has no Host requirement: such a request is answered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
        ((status_line, _, body),) = _answers(_read_until_closed(connection))
    assert status_line == b"HTTP/1.1 200 OK" and json.loads(body) == {"models": ["digits"]}
