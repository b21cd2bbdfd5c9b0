"""Benchmark the model server: throughput and latency against its own no-op route and against
KServe's Python model server on the same model file, plus the cold start.

    python bench/bench_server.py [--model-uri URI] [--seconds 3] [--kserve-python PATH] [--json FILE]

Our server runs as a real process on 127.0.0.1: the production app (`create_app`) and runner
(`serve.run`), plus one route only this script adds, POST /v1/models/{name}:noop, which goes
through the same routing, token check, body reading, metrics and response path and answers a
constant: the ceiling the stack allows, measured in the same run, alternating no-op and predict
slices so that drift on a shared machine hits both alike.

The load comes from another process: wrk (Debian's `wrk`, a C client that barely loads the CPU)
with bench/wrk_post.lua, or where wrk is missing this script's asyncio client in a child process,
which says so (it takes as much CPU as the server on a 2-core machine, so it flatters ratios).

KServe: with --kserve-python (or KSERVE_PYTHON, default .bench-venv/bin/python when it imports
kserve) the same model is served by bench/kserve_digits.py on kserve.ModelServer and loaded the
same way. Everything listens and is loaded on 127.0.0.1 only. Time is bounded: about
(2 routes + KServe) x 6 cells x (warm-up + --seconds), printed before it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
SERVER_DIR = ROOT / "images" / "server"
TRAIN_SCRIPT = ROOT / "images" / "trainer" / "train.py"
WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")
KSERVE_SCRIPT = Path(__file__).with_name("kserve_digits.py")
DEFAULT_KSERVE_PYTHON = ROOT / ".bench-venv" / "bin" / "python"
CONCURRENCY = (1, 16, 64)
BATCH_SIZES = (1, 32)
HOST = "127.0.0.1"


def _serve_with_noop() -> int:
    """Child-process mode: the production app plus the no-op route, run by the production runner.
    BENCH_HTTP / BENCH_LOOP pick uvicorn's HTTP parser and event loop, to measure those levers."""
    sys.path.insert(0, str(SERVER_DIR))
    import serve
    from mlserve.app import create_app
    from mlserve.http import Response
    from mlserve.settings import load_settings

    settings = load_settings()
    serve.configure_logging(settings.log_level)
    app = create_app(settings)
    constant = Response(200, b'{"predictions":[]}')

    async def noop(name: str, body: bytes, scope: Any) -> Response:
        return constant

    app.add_verb("noop", noop)
    if os.environ.get("BENCH_DECOMPOSE") == "1":
        _add_decomposition_routes(app)
    sockets = [
        serve.listen(settings.host, settings.port, "PORT"),
        serve.listen(settings.host, settings.admin_port, "ADMIN_PORT"),
    ]
    http: Literal["h11", "httptools"] = "h11" if os.environ.get("BENCH_HTTP") == "h11" else "httptools"
    loop: Literal["asyncio", "uvloop"] = "asyncio" if os.environ.get("BENCH_LOOP") == "asyncio" else "uvloop"
    return serve.run(app, settings, sockets, http=http, loop=loop)


def _add_decomposition_routes(app: Any) -> None:
    """--decompose: two routes that each take one part of predict away, to show what bounds its
    ratio to the no-op. `:nomodel` is predict's own path (the same decode per request, a
    micro-batcher of its own, the same assemble per call, the same answer) with a model that costs
    nothing: the most any model could let predict reach. `:model` skips parsing (the body's
    instances are parsed once, then reused) and goes through the micro-batcher and onnxruntime as
    predict does."""
    import numpy as np
    from mlserve.app import ModelServer, predictions
    from mlserve.batching import MicroBatcher
    from mlserve.http import Response, alone

    parsed: dict[bytes, Any] = {}
    free: list[MicroBatcher] = []

    def costs_nothing(batch: Any) -> Any:
        return np.zeros(len(batch), dtype=np.intp)

    async def no_model(name: str, body: bytes, scope: Any) -> Response:
        model = app.state.model
        if not free:  # made on the event loop, as the server makes its own
            free.append(
                MicroBatcher(
                    costs_nothing,
                    model.inputs.assemble,
                    seconds_per_instance=model.seconds_per_instance,
                    max_instances=app.settings.micro_batch_max_instances,
                    max_wait_seconds=app.settings.micro_batch_max_wait_seconds,
                    metrics=app.metrics,
                )
            )
        request = ModelServer._request(model.inputs, body, app.settings.max_instances)
        return predictions(model.label_json, await free[0].classify(request, alone=alone(scope)))

    async def model_only(name: str, body: bytes, scope: Any) -> Response:
        batch = parsed.get(body)
        if batch is None:
            batch = parsed[body] = app.state.model.inputs.parse(body, app.settings.max_instances)
        return predictions(app.state.model.label_json, await app.state.batcher.classify(batch, alone=alone(scope)))

    app.add_verb("nomodel", no_model)
    app.add_verb("model", model_only)


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports, held open together while chosen (one at a time, the kernel may
    hand out the same port twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until(port: int, path: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Poll GET http://127.0.0.1:port/path every 5 ms; return seconds until it answered 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {path} answered")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{path} did not answer 200 within {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- load generators: each runs in a process of its own ----


class WrkLoad:
    name = "wrk (C, 1 thread)"

    def __init__(self, wrk: str) -> None:
        self.wrk = wrk

    def run(self, url: str, body_file: Path, connections: int, seconds: int) -> dict[str, float]:
        result = subprocess.run(
            [self.wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(WRK_SCRIPT), url],
            env={**os.environ, "WRK_BODY_FILE": str(body_file)},
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        )
        match = re.search(r"^WRKJSON (.*)$", result.stdout, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
        raw = json.loads(match.group(1))
        return {
            "requests": raw["requests"],
            "seconds": raw["duration_us"] / 1e6,
            "errors": raw["non_2xx"] + raw["socket_errors"],
            "p50_ms": raw["p50_us"] / 1000,
            "p99_ms": raw["p99_us"] / 1000,
        }


class PythonLoad:
    name = "Python asyncio client in a child process (no wrk, or --python-client: it competes with the server for CPU)"

    def run(self, url: str, body_file: Path, connections: int, seconds: int) -> dict[str, float]:
        result = subprocess.run(
            [sys.executable, __file__, "--internal-load", url, str(body_file), str(connections), str(seconds)],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        )
        summary: dict[str, float] = json.loads(result.stdout)
        return summary


async def _client(port: int, request: bytes, deadline: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    errors = 0
    try:
        while (started := time.perf_counter()) < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()
    return errors


def _python_load(url: str, body_file: str, connections: str, seconds: str) -> int:
    """Child-process mode of PythonLoad: keep-alive HTTP/1.1, one connection per client."""
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/.*)", url)
    if match is None:
        raise SystemExit("the Python client only targets http://127.0.0.1:PORT/...")
    port, path = int(match.group(1)), match.group(2)
    body = Path(body_file).read_bytes()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    started = time.perf_counter()

    async def load() -> list[int]:
        deadline = time.perf_counter() + float(seconds)
        return await asyncio.gather(*(_client(port, request, deadline, latencies) for _ in range(int(connections))))

    errors = sum(asyncio.run(load()))
    latencies.sort()
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "seconds": time.perf_counter() - started,
                "errors": errors,
                "p50_ms": 1000 * latencies[len(latencies) // 2],
                "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            }
        )
    )
    return 0


# ---- servers under test ----


def our_server(model_uri: str, extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port, admin_port = free_ports(2)
    env = {
        **os.environ,
        "MODEL_URI": model_uri,
        "MODEL_NAME": "digits",
        "HOST": HOST,
        "PORT": str(port),
        "ADMIN_PORT": str(admin_port),
        "LOG_LEVEL": "warning",
        **extra_env,
    }
    process = subprocess.Popen([sys.executable, __file__, "--internal-serve"], env=env)
    wait_until(admin_port, "/readyz", process)
    return process, port


def kserve_server(kserve_python: str, model_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    (port,) = free_ports(1)
    process = subprocess.Popen(
        [kserve_python, str(KSERVE_SCRIPT), "--model_dir", str(model_dir), "--http_port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(port, "/v1/models/digits", process, timeout=120)
    return process, port


def find_kserve_python(flag: str | None) -> str | None:
    candidate = flag or os.environ.get("KSERVE_PYTHON") or str(DEFAULT_KSERVE_PYTHON)
    if not Path(candidate).exists():
        return None
    probe = subprocess.run([candidate, "-c", "import kserve"], capture_output=True, timeout=120, check=False)
    return candidate if probe.returncode == 0 else None


# ---- measurement ----


def measure_cell(
    load: WrkLoad | PythonLoad,
    targets: dict[str, tuple[int, int, str]],
    body_file: Path,
    connections: int,
    seconds: int,
    warmup: int,
) -> dict[str, dict[str, float]]:
    """`targets`: route -> (pid, port, path). Warm each up, then alternate 1 s slices among them."""
    for _, port, path in targets.values():
        load.run(f"http://{HOST}:{port}{path}", body_file, connections, warmup)
    slices: dict[str, list[dict[str, float]]] = {route: [] for route in targets}
    cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
    for _ in range(seconds):
        for route, (pid, port, path) in targets.items():
            before = process_cpu_seconds(pid)
            slices[route].append(load.run(f"http://{HOST}:{port}{path}", body_file, connections, 1))
            cpu[route] += process_cpu_seconds(pid) - before
    results = {}
    for route, runs in slices.items():
        requests = sum(r["requests"] for r in runs)
        errors = sum(r["errors"] for r in runs)
        if errors:
            raise RuntimeError(f"{route}: {errors} requests did not answer 200")
        results[route] = {
            "requests_per_second": requests / sum(r["seconds"] for r in runs),
            # wrk reports percentiles per run; the median of the slices' is robust to one noisy slice.
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "server_cpu_us_per_request": 1e6 * cpu[route] / requests,
        }
    return results


def train_model(directory: Path) -> str:
    uri = (directory / "model").as_uri()
    subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), "--output-uri", uri, "--epochs", "3"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return uri


def measure_cold_start(model_uri: str, repeats: int) -> list[float]:
    """Seconds from spawning `python images/server/serve.py` to /readyz answering 200."""
    results = []
    for _ in range(repeats):
        port, admin_port = free_ports(2)
        env = {**os.environ, "MODEL_URI": model_uri, "HOST": HOST, "PORT": str(port), "ADMIN_PORT": str(admin_port)}
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(SERVER_DIR / "serve.py")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(admin_port, "/readyz", process)
            results.append(time.perf_counter() - started)
        finally:
            stop(process)
    return results


def print_table(rows: list[dict[str, Any]], with_kserve: bool) -> None:
    header = (
        "| batch | clients | no-op req/s | predict req/s | predict / no-op | predict p50 / p99 ms | no-op p50 / p99 ms"
    )
    header += " | server CPU µs/req predict / no-op"
    if with_kserve:
        header += " | KServe req/s | predict / KServe | KServe p50 / p99 ms | KServe CPU µs/req"
    print("\n" + header + " |")
    print("|---" * header.count("|") + "|")
    for row in rows:
        noop, predict = row["noop"], row["predict"]
        ratio = predict["requests_per_second"] / noop["requests_per_second"]
        line = (
            f"| {row['batch']} | {row['clients']} | {noop['requests_per_second']:.0f} "
            f"| {predict['requests_per_second']:.0f} | {ratio:.2f} "
            f"| {predict['p50_ms']:.2f} / {predict['p99_ms']:.2f} | {noop['p50_ms']:.2f} / {noop['p99_ms']:.2f} "
            f"| {predict['server_cpu_us_per_request']:.0f} / {noop['server_cpu_us_per_request']:.0f}"
        )
        if with_kserve:
            kserve = row["kserve"]
            line += (
                f" | {kserve['requests_per_second']:.0f} "
                f"| {predict['requests_per_second'] / kserve['requests_per_second']:.2f} "
                f"| {kserve['p50_ms']:.2f} / {kserve['p99_ms']:.2f} | {kserve['server_cpu_us_per_request']:.0f}"
            )
        print(line + " |")


def print_decomposition(rows: list[dict[str, Any]]) -> None:
    print("\n| batch | clients | route | req/s | / no-op | server CPU µs/req | CPU µs/req over the no-op |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        noop = row["noop"]
        for route, what in (("nomodel", "predict, free model"), ("model", "model only"), ("predict", "predict")):
            r = row[route]
            print(
                f"| {row['batch']} | {row['clients']} | {what} | {r['requests_per_second']:.0f} "
                f"| {r['requests_per_second'] / noop['requests_per_second']:.2f} "
                f"| {r['server_cpu_us_per_request']:.0f} "
                f"| {r['server_cpu_us_per_request'] - noop['server_cpu_us_per_request']:.0f} |"
            )


def print_goals(rows: list[dict[str, Any]], with_kserve: bool) -> None:
    cell = next(r for r in rows if r["batch"] == 1 and r["clients"] == 16)
    noop, predict = cell["noop"], cell["predict"]
    ratio = predict["requests_per_second"] / noop["requests_per_second"]
    p99 = predict["p99_ms"] / noop["p99_ms"]
    print("\ngoals at batch 1, 16 clients:")
    print(f"  predict / no-op throughput {ratio:.2f} (goal >= 0.85): {'met' if ratio >= 0.85 else 'NOT met'}")
    print(f"  predict p99 / no-op p99    {p99:.2f} (goal <= 2.00): {'met' if p99 <= 2 else 'NOT met'}")
    if with_kserve:
        versus = predict["requests_per_second"] / cell["kserve"]["requests_per_second"]
        print(f"  predict / KServe req/s     {versus:.2f} (goal >= 2.00): {'met' if versus >= 2 else 'NOT met'}")


def main() -> int:
    if sys.argv[1:2] == ["--internal-serve"]:
        return _serve_with_noop()
    if sys.argv[1:2] == ["--internal-load"]:
        return _python_load(*sys.argv[2:6])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model-uri", help="a trained model (file://); by default one is trained (3 epochs) in a temp dir"
    )
    parser.add_argument("--seconds", type=int, default=3, help="measured seconds per route and cell, as 1 s slices")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured seconds per route and cell (default 1)")
    parser.add_argument("--cold-starts", type=int, default=3, help="cold starts to time (default 3)")
    parser.add_argument(
        "--kserve-python", help="interpreter of a venv with kserve (default: KSERVE_PYTHON or .bench-venv)"
    )
    parser.add_argument("--no-kserve", action="store_true", help="skip the KServe comparison")
    parser.add_argument("--python-client", action="store_true", help="use the Python client even where wrk exists")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCH_SIZES), help="batch sizes (default 1 32)")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=list(CONCURRENCY), help="connections (default 1 16 64)"
    )
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="NAME=VALUE", help="a setting for our server (repeatable)"
    )
    parser.add_argument(
        "--decompose",
        action="store_true",
        help="also measure predict with a model that costs nothing, and the model alone, against the no-op",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    wrk = None if args.python_client else shutil.which("wrk")
    load: WrkLoad | PythonLoad = WrkLoad(wrk) if wrk else PythonLoad()
    kserve_python = None if args.no_kserve else find_kserve_python(args.kserve_python)
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    if args.decompose:
        extra_env["BENCH_DECOMPOSE"] = "1"
    routes = 2 + (kserve_python is not None) + 2 * args.decompose
    cells = len(args.batches) * len(args.clients)
    print(f"cpus={os.cpu_count()} python={sys.version.split()[0]} load={load.name}")
    print(f"KServe: {kserve_python or 'not found (pass --kserve-python or set KSERVE_PYTHON)'}")
    print(
        f"server settings: {extra_env or 'defaults'}; about {routes * cells * (args.warmup + args.seconds)} s of load"
    )

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        model_uri = args.model_uri or train_model(Path(scratch))
        ours, port = our_server(model_uri, extra_env)
        kserve = None
        try:
            targets = {
                "noop": (ours.pid, port, "/v1/models/digits:noop"),
                "predict": (ours.pid, port, "/v1/models/digits:predict"),
            }
            if args.decompose:
                targets["nomodel"] = (ours.pid, port, "/v1/models/digits:nomodel")
                targets["model"] = (ours.pid, port, "/v1/models/digits:model")
            if kserve_python:
                model_dir = Path(urllib.request.url2pathname(model_uri.removeprefix("file://")))
                kserve, kserve_port = kserve_server(kserve_python, model_dir)
                targets["kserve"] = (kserve.pid, kserve_port, "/v1/models/digits:predict")
            from sklearn.datasets import load_digits  # type: ignore[import-untyped]  # scikit-learn ships no types

            images = load_digits().images
            for batch in args.batches:
                body_file = Path(scratch) / f"body-{batch}.json"
                body_file.write_text(json.dumps({"instances": images[:batch].tolist()}))
                for clients in args.clients:
                    cell = measure_cell(load, targets, body_file, clients, args.seconds, args.warmup)
                    rows.append({"batch": batch, "clients": clients, **cell})
                    print(
                        f"  batch={batch:<3} clients={clients:<3} "
                        + "  ".join(
                            f"{route} {r['requests_per_second']:.0f} req/s p99 {r['p99_ms']:.2f} ms"
                            for route, r in cell.items()
                        ),
                        flush=True,
                    )
        finally:
            stop(ours)
            if kserve is not None:
                stop(kserve)
        cold = measure_cold_start(model_uri, args.cold_starts) if args.cold_starts else []

    print_table(rows, kserve_python is not None)
    if args.decompose:
        print_decomposition(rows)
    if any(r["batch"] == 1 and r["clients"] == 16 for r in rows):
        print_goals(rows, kserve_python is not None)
    if cold:
        print(
            f"\ncold start to /readyz 200: median {statistics.median(cold):.2f} s "
            f"(runs: {', '.join(f'{c:.2f}' for c in cold)})"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"load": load.name, "settings": extra_env, "rows": rows, "cold": cold}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
