"""The same model served the way a user would otherwise serve it: KServe's Python model server.

Runs in KServe's own venv (not a dependency of the image), e.g.:

    python -m venv .bench-venv && .bench-venv/bin/pip install kserve==0.21.0 onnxruntime==1.31.1
    .bench-venv/bin/python bench/kserve_digits.py --model_dir /path/to/model --http_port 8090

A `kserve.Model` that runs onnxruntime on the trainer's model.onnx with one intra-op thread, as our
server does, serving KServe V1 (`POST /v1/models/digits:predict`) on `kserve.ModelServer`
(uvicorn, uvloop and httptools, as installed with kserve; one worker). gRPC and the per-request
log lines (latency, access, trace) are off, as our server has none of them by default. bench_server.py starts it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import kserve  # type: ignore[import-not-found]  # lives in the bench's own venv only
import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]  # onnxruntime ships no type information


class Digits(kserve.Model):  # type: ignore[misc]  # kserve is untyped here
    def __init__(self, name: str, model_dir: Path) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.load()

    def load(self) -> bool:
        meta = json.loads((self.model_dir / "metadata.json").read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.model_dir / meta["model_file"]), options, providers=["CPUExecutionProvider"]
        )
        self.input_name, self.output_name = meta["input_name"], meta["output_name"]
        self.shape = tuple(meta["input_shape"])
        self.labels = meta["class_labels"]
        self.ready = True
        return True

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        batch = np.asarray(payload["instances"], dtype=np.float32).reshape(-1, *self.shape)
        (logits,) = self.session.run([self.output_name], {self.input_name: batch})
        return {"predictions": [self.labels[i] for i in logits.argmax(axis=1).tolist()]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_dir", type=Path, required=True)
    parsed, _ = parser.parse_known_args()  # kserve parses its own flags (--http_port, ...) from argv
    server = kserve.ModelServer(workers=1, enable_grpc=False, enable_latency_logging=False)
    # KServe logs a line per request (access log, trace timings); our server logs none by default.
    for name in ("uvicorn.access", "kserve.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)
    server.start([Digits("digits", parsed.model_dir)])
