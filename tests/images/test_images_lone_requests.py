"""A lone request skips micro-batching's wait: the protocol counts the server's requests in flight,
and the batcher computes a request at once when it is the only one (mlserve.protocol,
mlserve.batching)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import uvicorn
from mlserve.batching import MicroBatcher
from mlserve.http import IN_FLIGHT, InFlight
from mlserve.inputs import Batch, InputSpec, InvalidInputError, Request
from mlserve.metrics import Metrics
from mlserve.protocol import protocol_class

SPEC = InputSpec((2,), (0.0, 100.0))


def _sum_of_pixels(batch: Batch) -> npt.NDArray[np.intp]:  # stands in for onnxruntime
    indices: npt.NDArray[np.intp] = batch.sum(axis=1).astype(np.intp)
    return indices


def _request(a: float, b: float) -> Request:
    decoded = SPEC.decode(json.dumps({"instances": [[a, b]]}).encode(), 8)
    assert decoded is not None
    return decoded


def _batcher(max_wait_seconds: float = 0.0) -> MicroBatcher:
    return MicroBatcher(
        _sum_of_pixels,
        SPEC.assemble,
        seconds_per_instance=1e-6,
        max_instances=64,
        max_wait_seconds=max_wait_seconds,
        metrics=Metrics(),
    )


def test_a_lone_request_is_computed_at_once_and_others_wait_for_company() -> None:
    async def scenario(max_wait_seconds: float, alone: bool) -> tuple[list[int], bool]:
        batcher = _batcher(max_wait_seconds)
        try:
            ticks: list[str] = []
            asyncio.get_running_loop().call_soon(ticks.append, "tick")
            answer = await batcher.classify(_request(3, 4), alone=alone)
            return answer, bool(ticks)
        finally:
            batcher.close()

    # Alone, no wait set: answered before the loop runs anything else.
    assert asyncio.run(scenario(0.0, alone=True)) == ([7], False)
    # Not known to be alone: it waits for the end of the loop iteration, for requests that arrived with it.
    assert asyncio.run(scenario(0.0, alone=False)) == ([7], True)
    # A wait for company set (MICRO_BATCH_MAX_WAIT_SECONDS): it is kept, even alone.
    assert asyncio.run(scenario(0.01, alone=True)) == ([7], True)


def test_a_lone_request_refused_gets_its_own_error() -> None:
    async def scenario() -> None:
        batcher = _batcher()
        try:
            with pytest.raises(InvalidInputError, match=r"instances\[0\]\[1\] is 101"):
                await batcher.classify(_request(1, 101), alone=True)
            assert await batcher.classify(_request(1, 2), alone=True) == [3]
        finally:
            batcher.close()

    asyncio.run(scenario())


# ---- the protocol's count, through real sockets and uvicorn ----


class _CountingApp:
    """GET /count answers the server's requests in flight as its scope shows them; GET /hold is
    answered only once /release was asked."""

    def __init__(self) -> None:
        self.released = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/hold":
            await self.released.wait()
        if scope["path"] == "/release":
            self.released.set()
        in_flight: InFlight = scope[IN_FLIGHT]
        body = str(in_flight.requests).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def counting_server() -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    config = uvicorn.Config(
        _CountingApp(), http=protocol_class(30.0), loop="uvloop", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def _bodies(connection: socket.socket, count: int) -> list[int]:
    """The bodies (each a number) of the next `count` answers on `connection`."""
    received = b""
    while len(bodies := _numbers(received)) < count:
        chunk = connection.recv(65536)
        assert chunk, received
        received += chunk
    return bodies


def _numbers(received: bytes) -> list[int]:
    answers = [answer.partition(b"\r\n\r\n") for answer in received.split(b"HTTP/1.1 ")[1:]]
    return [int(body) for _, separator, body in answers if separator and body]


def _count(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(_get("/count"))
        return _bodies(connection, 1)[0]


def _eventually(port: int, expected: int) -> None:
    deadline = time.monotonic() + 5
    while (seen := _count(port)) != expected:
        assert time.monotonic() < deadline, f"in flight {seen}, expected {expected}"
        time.sleep(0.02)


def test_the_protocol_counts_the_requests_in_flight_across_connections(counting_server: int) -> None:
    port = counting_server
    assert _count(port) == 1  # itself only: a lone request
    with socket.create_connection(("127.0.0.1", port), timeout=10) as pipelined:
        pipelined.sendall(_get("/count") + _get("/count"))  # both heads arrive before the first answer
        assert _bodies(pipelined, 2) == [2, 1]
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    for connection in held:
        connection.sendall(_get("/hold"))
    _eventually(port, 3)  # two held and the asking one
    held[0].close()  # a request cut with its connection leaves the count
    _eventually(port, 2)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as malformed:
        malformed.sendall(b"GET /count HTTP/1.1\r\n\r\n")  # no Host: a 400, then closed
        assert malformed.recv(65536).startswith(b"HTTP/1.1 400")
    _eventually(port, 2)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as releasing:
        releasing.sendall(_get("/release"))
        _bodies(releasing, 1)
    assert _bodies(held[1], 1) == [1]  # answered last, by then alone
    held[1].close()
    _eventually(port, 1)
