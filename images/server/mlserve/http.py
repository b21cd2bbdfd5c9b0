"""The small piece of ASGI the server needs: message types, responses, reading a bounded body.

The server speaks ASGI directly (no web framework): it has six routes, and a framework's routing,
dependency solving and response models cost more per request than a digits prediction does
(bench/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: status, body and any headers beyond content-type and content-length."""

    status: int
    body: bytes
    content_type: bytes = JSON
    headers: Iterable[tuple[bytes, bytes]] = ()


def json_response(status: int, payload: object, headers: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    """`payload` as JSON. allow_nan=False: NaN or Infinity would make an answer no JSON parser
    reads, so such a value raises (ValueError) instead of reaching a client."""
    return Response(status, json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(), JSON, headers)


def error(status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    """Every error the server answers, on both ports, is `{"error": message}`."""
    return json_response(status, {"error": message}, headers)


async def send_response(send: Send, response: Response, *, head_only: bool = False, close: bool = False) -> None:
    headers: Headers = [(b"content-type", response.content_type), (b"content-length", b"%d" % len(response.body))]
    headers.extend(response.headers)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else response.body})


class BodyTooLargeError(Exception):
    """The body is over the limit; the message says by how much and which setting it is."""


class ClientGoneError(Exception):
    """The client disconnected before it sent the whole body."""


class BodyTimeoutError(Exception):
    """The body did not arrive within REQUEST_READ_TIMEOUT_SECONDS; the protocol (mlserve.protocol)
    has answered 408 and closed the connection."""


READ_TIMED_OUT = "mlserve.read_timed_out"
"""Scope key the protocol sets on a request whose body it gave up waiting for, before it closes
the connection: the disconnect the app then sees is the server's doing, not the client's."""


IN_FLIGHT = "mlserve.in_flight"
"""Scope key the protocol sets on every request: the server's `InFlight` count (mlserve.protocol),
read by predict to tell a lone request, which gains nothing from waiting to share a call."""


class InFlight:
    """Requests whose head has arrived and whose answer is not complete yet, across one server's
    connections (the protocol keeps it); pipelined requests queued behind others count."""

    __slots__ = ("requests",)

    def __init__(self) -> None:
        self.requests = 0


def alone(scope: Scope) -> bool:
    """The request of `scope` is the only one its server holds (False when no protocol counts)."""
    in_flight: InFlight | None = scope.get(IN_FLIGHT)
    return in_flight is not None and in_flight.requests == 1


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused (BodyTooLargeError) as soon as it is known to pass `limit`
    bytes: from Content-Length before reading, or while a chunked body streams in.

    A body that does not arrive in time is cut by the protocol, which times every request's
    headers and body with one sweep per server rather than a timer per request (a timer here
    would cost predict ~4.5 us of CPU per request): that is BodyTimeoutError, any other
    disconnect ClientGoneError."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLargeError(f"request body is {int(value)} bytes; the limit is {limit} (MAX_BODY_BYTES)")
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _disconnected(scope)
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: one message
        if len(body) > limit:
            raise BodyTooLargeError(f"request body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)")
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise BodyTooLargeError(f"request body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)")
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _disconnected(scope)
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    if size > limit:
        raise BodyTooLargeError(f"request body exceeds the limit of {limit} bytes (MAX_BODY_BYTES)")
    return b"".join(chunks)


def _disconnected(scope: Scope) -> BodyTimeoutError | ClientGoneError:
    if scope.get(READ_TIMED_OUT):
        return BodyTimeoutError(f"the request body did not arrive within {scope[READ_TIMED_OUT]:g} s")
    return ClientGoneError()
