"""Helpers for the images' tests: paths, free ports, trainer runs and server processes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAINER_DIR = ROOT / "images" / "trainer"
SERVER_DIR = ROOT / "images" / "server"
TRAIN_SCRIPT = TRAINER_DIR / "train.py"
SERVE_SCRIPT = SERVER_DIR / "serve.py"
TORCHRUN = Path(sys.executable).with_name("torchrun")

# The pure-function tests import the images' packages directly.
for directory in (TRAINER_DIR, SERVER_DIR):
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))

# The session's trained model uses the trainer's defaults (test_metadata_describes_the_model
# holds these equal to them), so the accuracy tests also show that the defaults clear the bar.
FIXTURE_EPOCHS = 15
FIXTURE_SEED = 0
# The held-out accuracy each example model must reach, trained with the trainer's defaults.
# Measured at the defaults over seeds 0-4: digits 0.972-0.981 (360 images), breast-cancer
# 0.956-0.965 (114 rows); images/trainer/README.md, "Defaults".
ACCURACY_BARS = {"digits": 0.95, "breast-cancer": 0.92}
# Variables that would make a child think it is part of a distributed job.
_DISTRIBUTED_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_WORLD_SIZE")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DISTRIBUTED_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: held open together while chosen, so that the kernel cannot
    hand the same one out twice (one at a time, it sometimes did: PORT and ADMIN_PORT equal)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def trainer_command(output_uri: str, *flags: str, processes: int = 1) -> list[str]:
    """`python train.py ...`, or with `processes` > 1 the single-node torchrun the Job runs."""
    launcher = [sys.executable]
    if processes > 1:
        launcher = [
            str(TORCHRUN),
            "--nnodes=1",
            f"--nproc-per-node={processes}",
            "--node-rank=0",
            "--master-addr=127.0.0.1",
            f"--master-port={free_port()}",
        ]
    return [*launcher, str(TRAIN_SCRIPT), "--output-uri", output_uri, *flags]


def run_trainer(
    output_uri: str, *flags: str, processes: int = 1, timeout: float = 180, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the trainer to completion (in `cwd`, default this process's); output merged into stdout."""
    return subprocess.run(
        trainer_command(output_uri, *flags, processes=processes),
        cwd=cwd,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    uri: str
    log: str

    @property
    def metadata(self) -> dict:
        return json.loads((self.path / "metadata.json").read_text())


class ServerProcess:
    """`python images/server/serve.py` on 127.0.0.1 with two free ports; logs go to a file.

    `url` is the inference port (PORT, the KServe V1 routes), `admin_url` the admin port
    (ADMIN_PORT: /healthz, /readyz, /metrics)."""

    def __init__(self, log_path: Path, **env: str) -> None:
        self.port, self.admin_port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        self.log_path = log_path
        settings = {
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "ADMIN_PORT": str(self.admin_port),
            "MODEL_NAME": "digits",
            **env,
        }
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(SERVE_SCRIPT)],
                env=child_env(**settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def get(self, path: str, *, admin: bool = False) -> tuple[int, dict]:
        """GET `path` on the inference port (or the admin port); returns status and decoded JSON body."""
        try:
            with urllib.request.urlopen((self.admin_url if admin else self.url) + path, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def post(self, path: str, body: object) -> tuple[int, dict]:
        """POST `body` as JSON to `path`; returns status and decoded JSON body."""
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def wait_for(self, path: str, status: int, timeout: float = 30) -> None:
        """Poll `path` on the admin port (where the probes go) until it answers `status`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if self.get(path, admin=True)[0] == status:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"{path} did not answer {status} within {timeout} s:\n{self.log()}")

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def write_linear_model(directory: Path, input_shape: list[int], classes: int, **metadata: object) -> dict:
    """A model of any input rank at `directory`: ONNX Flatten then MatMul to `classes` scores, with
    a dynamic batch dimension, and a metadata.json the server takes (range [0, 16]), with
    `metadata`'s fields replacing the written ones. Returns the metadata as written."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    size = math.prod(input_shape)
    weights = np.random.default_rng(0).standard_normal((size, classes)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
        ],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    written = {
        "model_name": "linear",
        "version": digest[:12],
        "model_file": "model.onnx",
        "model_sha256": digest,
        "input_name": "input",
        "input_shape": input_shape,
        "input_dtype": "float32",
        "input_range": [0.0, 16.0],
        "output_name": "logits",
        "class_labels": list(range(classes)),
        "test_accuracy": 0.5,
        **metadata,
    }
    (directory / "metadata.json").write_text(json.dumps(written))
    return written
