"""Benchmark the model server: throughput and latency against a no-op route, and cold start.

    python bench/bench_server.py [--model-uri URI] [--seconds 3] [--json results.json]

The server runs as a real uvicorn process on 127.0.0.1. Its app is the production one from
`create_app` plus one extra route, POST /v1/models/{name}:noop, which reads the body through the
same middleware and returns a constant through the same response path: it is the ceiling the
stack allows, measured in the same run. The no-op route exists only in this script's server.

The load generator is a keep-alive HTTP/1.1 client on asyncio (one connection per simulated
client, each sending its next request when the previous answer arrived), in this process. On a
2-core machine client and server share the CPU, so absolute figures are a floor; the ratio
predict / no-op is the number to watch (goal: >= 0.70 at batch 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# Module level: FastAPI resolves the route's (postponed) annotations in this module's globals.
from fastapi import Request

ROOT = Path(__file__).resolve().parents[1]
SERVER_DIR = ROOT / "images" / "server"
TRAIN_SCRIPT = ROOT / "images" / "trainer" / "train.py"
CONCURRENCY = (1, 16, 64)
BATCH_SIZES = (1, 32)


def _serve_with_noop() -> int:
    """Child-process mode: the production app plus the no-op route, run by the production runner."""
    sys.path.insert(0, str(SERVER_DIR))
    import serve
    from mlserve.app import PredictResponse, create_app
    from mlserve.settings import load_settings

    settings = load_settings()
    serve.configure_logging(settings.log_level)
    app = create_app(settings)
    constant = PredictResponse(predictions=[])

    @app.post("/v1/models/{name}:noop", response_model=PredictResponse)
    async def noop(name: str, request: Request) -> PredictResponse:
        await request.body()
        return constant

    return serve.run(app, settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, process: subprocess.Popen, timeout: float = 60.0) -> float:
    """Poll /readyz every 5 ms; return seconds until it answered 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"server not ready after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_env(model_uri: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "MODEL_URI": model_uri,
        "MODEL_NAME": "digits",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
    }


def build_request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _client(port: int, request: bytes, deadline: float, record_after: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    try:
        while True:
            started = time.perf_counter()
            if started >= deadline:
                return errors
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            finished = time.perf_counter()
            if started >= record_after:
                latencies.append(finished - started)
    finally:
        writer.close()


async def _load(port: int, request: bytes, concurrency: int, seconds: float, warmup: float) -> list[float]:
    """Latencies of the requests `concurrency` clients completed in `seconds` after `warmup`."""
    now = time.perf_counter()
    record_after = now + warmup
    deadline = record_after + seconds
    latencies: list[float] = []
    errors = await asyncio.gather(
        *(_client(port, request, deadline, record_after, latencies) for _ in range(concurrency))
    )
    if sum(errors):
        raise RuntimeError(f"{sum(errors)} requests did not answer 200")
    return latencies


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarize(latencies: list[float], seconds: float, cpu_seconds: float) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "requests_per_second": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "server_cpu_us_per_request": 1e6 * cpu_seconds / len(latencies),
        "requests": len(latencies),
    }


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
        port = free_port()
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(SERVER_DIR / "serve.py")],
            env=server_env(model_uri, port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(port, process)
            results.append(time.perf_counter() - started)
        finally:
            stop(process)
    return results


def measure_throughput(model_uri: str, seconds: float, warmup: float, rounds: int) -> list[dict]:
    """Each cell alternates no-op and predict slices `rounds` times, so drift on a shared
    machine hits both routes alike; `seconds` is each route's measured total per cell."""
    from sklearn.datasets import load_digits

    images = load_digits().images
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--internal-serve"],
        env=server_env(model_uri, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows = []
    try:
        wait_ready(port, process)
        for batch in BATCH_SIZES:
            body = json.dumps({"instances": images[:batch].tolist()}).encode()
            for concurrency in CONCURRENCY:
                totals = {route: ([], 0.0) for route in ("noop", "predict")}
                for _ in range(rounds):
                    for route in ("noop", "predict"):
                        request = build_request(f"/v1/models/digits:{route}", body)
                        slice_seconds = seconds / rounds
                        # Warm-up first (CPU counted from after it), then the measured slice.
                        asyncio.run(_load(port, request, concurrency, warmup, 0.0))
                        cpu_before = process_cpu_seconds(process.pid)
                        latencies = asyncio.run(_load(port, request, concurrency, slice_seconds, 0.0))
                        cpu = process_cpu_seconds(process.pid) - cpu_before
                        totals[route][0].extend(latencies)
                        totals[route] = (totals[route][0], totals[route][1] + cpu)
                for route, (latencies, cpu) in totals.items():
                    result = summarize(latencies, seconds, cpu)
                    rows.append({"route": route, "batch": batch, "concurrency": concurrency, **result})
                    print(
                        f"  {route:7} batch={batch:<3} clients={concurrency:<3} "
                        f"{result['requests_per_second']:8.0f} req/s  p50={result['p50_ms']:.2f} ms  "
                        f"p99={result['p99_ms']:.2f} ms  server_cpu={result['server_cpu_us_per_request']:.0f} us/req",
                        flush=True,
                    )
    finally:
        stop(process)
    return rows


def main() -> int:
    if "--internal-serve" in sys.argv:
        return _serve_with_noop()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-uri", help="a trained model; by default one is trained (3 epochs) in a temp dir")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per cell (default 3)")
    parser.add_argument("--warmup", type=float, default=0.3, help="unmeasured seconds before each slice")
    parser.add_argument("--rounds", type=int, default=3, help="alternating no-op/predict slices per cell (default 3)")
    parser.add_argument("--cold-starts", type=int, default=3, help="cold starts to time (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        model_uri = args.model_uri or train_model(Path(scratch))
        print(f"cpus={os.cpu_count()} python={sys.version.split()[0]} model={model_uri}")
        print("throughput (client and server share this machine):")
        rows = measure_throughput(model_uri, args.seconds, args.warmup, args.rounds)
        cold = measure_cold_start(model_uri, args.cold_starts)

    print(
        "\n| batch | clients | no-op req/s | predict req/s | predict/no-op | predict instances/s "
        "| predict p50 / p99 ms | no-op p50 / p99 ms | server CPU us/req predict / no-op |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    ratios = {}
    for batch in BATCH_SIZES:
        for concurrency in CONCURRENCY:
            cell = {r["route"]: r for r in rows if r["batch"] == batch and r["concurrency"] == concurrency}
            noop, predict = cell["noop"], cell["predict"]
            ratio = predict["requests_per_second"] / noop["requests_per_second"]
            ratios[(batch, concurrency)] = ratio
            print(
                f"| {batch} | {concurrency} | {noop['requests_per_second']:.0f} | {predict['requests_per_second']:.0f} "
                f"| {ratio:.2f} | {predict['requests_per_second'] * batch:.0f} "
                f"| {predict['p50_ms']:.2f} / {predict['p99_ms']:.2f} | {noop['p50_ms']:.2f} / {noop['p99_ms']:.2f} "
                f"| {predict['server_cpu_us_per_request']:.0f} / {noop['server_cpu_us_per_request']:.0f} |"
            )
    print(
        f"\ncold start to /readyz 200: median {statistics.median(cold):.2f} s "
        f"(runs: {', '.join(f'{c:.2f}' for c in cold)})"
    )
    worst_batch1 = min(ratios[(1, c)] for c in CONCURRENCY)
    print(f"batch 1 predict/no-op, worst of {CONCURRENCY} clients: {worst_batch1:.2f} (goal >= 0.70)")
    if args.json:
        args.json.write_text(json.dumps({"throughput": rows, "cold_start_seconds": cold}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
