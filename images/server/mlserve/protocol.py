"""uvicorn's httptools protocol, with the server's own rules for what happens outside the app.

uvicorn parses requests and calls the app once a request's headers are complete; these rules
need the connection, so they live here (chosen with `uvicorn.Config(http=...)`, uvicorn's way to
pick a protocol):

- Each request must arrive whole, headers and body, within REQUEST_READ_TIMEOUT_SECONDS of the
  connection's start or of the end of the previous answer on it. The clock stops while a complete
  request waits for its answer (a pipelined request behind it is not read meanwhile: uvicorn
  pauses reading) and restarts when the last complete request has been answered. uvicorn's own
  timeout covers only an idle keep-alive connection and stops counting at the first byte, so a
  client trickling a header, holding back a declared body or a chunked body's last chunk would
  keep its connection forever (slowloris). Such a connection is answered 408 and closed; one where
  no request has begun, or whose unfinished request was already answered (a 404 before its body),
  is just closed: a client reads every answer as the answer to one of its requests. One sweep per
  server checks the connections every second (or a quarter of the limit, if shorter) instead of a
  timer per request, which would cost about as much CPU as parsing a batch-1 prediction (4.5 us).
- The server's requests in flight (head arrived, answer not complete) are counted across its
  connections and put in each request's scope (`mlserve.http.IN_FLIGHT`): predict answers a lone
  request at once instead of waiting to share an onnxruntime call with requests that are not there.
- An HTTP/1.1 request without exactly one Host header is a 400 (RFC 9112, section 3.2); the
  parser lets it through.
- A request the parser refuses gets `{"error": "invalid HTTP request: ..."}`, like every other
  error of the server, instead of uvicorn's plain text, after the answers of the requests that
  arrived whole before it (uvicorn wrote its 400 at once and closed, losing those answers); the
  connection is then closed and nothing after the refused request is read.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mlserve.http import IN_FLIGHT, READ_TIMED_OUT, InFlight, error

log = logging.getLogger("server")


class RefusedRequestError(Exception):
    """Raised from a parser callback to stop parsing; the message is the 400's reason."""


class ServerProtocol(HttpToolsProtocol):
    """Create through `protocol_class`, which gives each server a class of its own with its
    time limit (and so its own sweep)."""

    read_timeout_seconds: float = 30.0
    in_flight = InFlight()
    """Replaced by one per server by `protocol_class`."""
    _sweeping = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_since: float | None = None
        """loop.time() since when a request is due; None while a complete request awaits its answer."""
        self._partial = False
        """A request has begun to arrive and is not complete yet."""
        self._head_complete = False
        """The latest request's head is complete (uvicorn has made its cycle: started or queued)."""
        self._requests_complete = 0
        self._responses_complete = 0
        self._unanswered = 0
        """Requests of this connection counted in `in_flight`: head arrived, answer not complete."""
        self._refusal: str | None = None
        """The 400's message for a request the parser refused, held until the earlier ones are answered."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._reading_since = self.loop.time()
        cls = type(self)
        if not cls._sweeping:
            cls._sweeping = True
            _sweep_later(self.loop, self.connections, cls.read_timeout_seconds)

    def data_received(self, data: bytes) -> None:
        if self._refusal is None:  # after a refused request the parser is stuck: the rest is not read
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        # Requests cut with their connection (or never answered: a 400 or 408 closes it) leave the count.
        self.in_flight.requests -= self._unanswered
        self._unanswered = 0
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._partial = True
        self._head_complete = False

    def on_headers_complete(self) -> None:
        hosts = 0
        for name, _ in self.headers:  # a loop: a generator expression costs twice as much per request
            if name == b"host":
                hosts += 1
        if hosts != 1 and self.parser.get_http_version() == "1.1":
            raise RefusedRequestError("an HTTP/1.1 request needs exactly one Host header")
        self.scope[IN_FLIGHT] = self.in_flight  # type: ignore[literal-required]
        self._unanswered += 1
        self.in_flight.requests += 1
        super().on_headers_complete()
        self._head_complete = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._partial = False
        self._requests_complete += 1
        # A request to answer stops the clock; the tail of one answered already (early, before
        # its body) leaves the connection idle from now.
        self._reading_since = None if self._awaiting_answer() else self.loop.time()

    def on_response_complete(self) -> None:
        if self._unanswered:
            self._unanswered -= 1
            self.in_flight.requests -= 1
        super().on_response_complete()
        self._responses_complete += 1
        if not self._awaiting_answer():
            self._reading_since = self.loop.time()
            if self._refusal is not None and not self.transport.is_closing():
                self._answer_and_close(400, self._refusal)

    def _awaiting_answer(self) -> bool:
        """A complete request has not been answered yet (it is handled, or waits in the pipeline)."""
        return self._requests_complete > self._responses_complete

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this while it handles the parser's exception: name what the parser (or
        # on_headers_complete) refused instead of uvicorn's fixed text.
        failure = sys.exception()
        if failure is not None and isinstance(failure.__context__, RefusedRequestError):
            reason = str(failure.__context__)
        elif isinstance(failure, httptools.HttpParserError) and str(failure):
            reason = str(failure)
        else:
            reason = msg
        if not self._awaiting_answer():
            self._answer_and_close(400, f"invalid HTTP request: {reason}")
            return
        # Earlier requests arrived whole and are answered first, in order; this one never runs (its
        # cycle, queued if its head was complete, is dropped), and the 400 follows the last answer.
        self._refusal = f"invalid HTTP request: {reason}"
        if self._partial and self._head_complete and self.pipeline and self.pipeline[0][0] is self.cycle:
            self.pipeline.popleft()

    def overdue(self, now: float) -> bool:
        since = self._reading_since
        return since is not None and now - since >= self.read_timeout_seconds and not self.transport.is_closing()

    def cut_overdue_request(self) -> None:
        """Answer 408 and close; a connection where no request has begun, or whose unfinished
        request has been answered already, is closed without an answer, as uvicorn closes an idle
        keep-alive connection (an answer there could be read by the client as the answer to the
        request it is about to send). A request the app holds with its body still coming is
        marked, so that the app counts the disconnect as this 408."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.more_body or cycle.response_started:
                return  # the app is answering: cut the connection after its answer (next sweep)
            cycle.scope[READ_TIMED_OUT] = self.read_timeout_seconds  # type: ignore[literal-required]
        if not self._partial or self._responses_complete > self._requests_complete:
            self.transport.close()  # nothing begun, or the unfinished request has its answer
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning(
            "closed the connection of %s: no complete request within %gs (REQUEST_READ_TIMEOUT_SECONDS)",
            client,
            self.read_timeout_seconds,
        )
        self._answer_and_close(
            408, f"no complete request within {self.read_timeout_seconds:g} s (REQUEST_READ_TIMEOUT_SECONDS)"
        )

    def _answer_and_close(self, status: int, message: str) -> None:
        """Write `{"error": message}` with Connection: close, outside any request's cycle."""
        response = error(status, message)
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.append(b"content-type: %s\r\ncontent-length: %d\r\n" % (response.content_type, len(response.body)))
        content.extend([b"connection: close\r\n\r\n", response.body])
        self.transport.write(b"".join(content))
        self.transport.close()


def _sweep_later(loop: asyncio.AbstractEventLoop, connections: set[Any], timeout_seconds: float) -> None:
    loop.call_later(min(1.0, timeout_seconds / 4), _sweep, loop, connections, timeout_seconds)


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any], timeout_seconds: float) -> None:
    """Cut every connection whose request is overdue, then come back; runs as long as the loop."""
    now = loop.time()
    for connection in list(connections):
        if isinstance(connection, ServerProtocol) and connection.overdue(now):
            connection.cut_overdue_request()
    _sweep_later(loop, connections, timeout_seconds)


def protocol_class(read_timeout_seconds: float) -> type[ServerProtocol]:
    """ServerProtocol with REQUEST_READ_TIMEOUT_SECONDS: uvicorn creates protocols from a class
    and its own Config, which has no place for the server's settings."""
    return type(
        "ServerProtocol", (ServerProtocol,), {"read_timeout_seconds": read_timeout_seconds, "in_flight": InFlight()}
    )
