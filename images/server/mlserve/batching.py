"""Adaptive micro-batching: concurrent predict requests share one onnxruntime call.

A call takes the requests parsed in the same event-loop iteration (those that arrived together);
while a call runs on the inference thread, later requests queue up to form the next one (up to
`max_instances` rows). Calls thus grow with the load, with no timer to tune. A call that serves
one request, or is expected to be short (LOOP_CALL_SECONDS, by the model's time per instance
measured at load), runs at once on the event loop instead: handing it to the thread and back
would cost more than it frees. onnxruntime releases the GIL while it computes, so a long call on
the thread overlaps with the event loop on a second core. With `max_wait_seconds` > 0 an idle
server also waits that long for company (as Triton's dynamic batcher's `max_queue_delay`); with no
wait set, a request the server knows to be its only one (`alone`) is computed at once, without the
loop iterations a shared call costs (a lone client: 0.60-0.62 of the no-op's req/s through the
batcher, 0.66-0.69 at once, bench/README.md). Each request gets back its own rows only. The
requests of a call are converted and range-checked together (`InputSpec.assemble`, on the loop):
one refused request gets its own 4xx (or, should its check fail unexpectedly, its own 500), the
others still share the call.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from mlserve.inputs import Batch, Request
from mlserve.metrics import Metrics

log = logging.getLogger("server")

Classes = npt.NDArray[np.intp]

LOOP_CALL_SECONDS = 100e-6
"""A call of one request, or of fewer instances than take this long (by the model's time per
instance, measured at load), runs on the event loop: handing it to the inference thread and back
(two thread wake-ups, GIL hand-overs) costs more than it frees, and a lone request has nothing to
overlap with. Measured with the digits model (bench/README.md): batch 1 at 16 clients gave 20.5k
req/s with such calls on the loop and 16.3k with every shared call on the thread; a lone batch-32
request per client, 3.0k on the loop and 2.4k on the thread; shared batch-32 calls at 64 clients,
4.2k on the thread and 3.5k on the loop."""

Assemble = Callable[[Sequence[Request]], tuple[Batch, list[Exception | None]]]
"""`InputSpec.assemble`: the call's batch, and per request None or why it is refused."""
_Waiting = tuple[int, asyncio.Future[list[int]]]
"""An accepted request of a call: its row count, and where its class indices go."""


class MicroBatcher:
    """Create and use on the event loop's thread; `close()` stops the inference thread."""

    def __init__(
        self,
        classify: Callable[[Batch], Classes],
        assemble: Assemble,
        *,
        seconds_per_instance: float,
        max_instances: int,
        max_wait_seconds: float,
        metrics: Metrics,
    ) -> None:
        self._classify = classify
        self._assemble = assemble
        self._max_instances = max_instances
        self._max_wait = max_wait_seconds
        self._metrics = metrics
        self._loop = asyncio.get_running_loop()
        self._pending: deque[tuple[Request, asyncio.Future[list[int]]]] = deque()
        self._pending_rows = 0
        self._running = False  # the thread has a call in hand
        self._soon = False  # a dispatch is scheduled for the end of this loop iteration
        self._timer: asyncio.TimerHandle | None = None
        self._loop_max_instances = int(LOOP_CALL_SECONDS / max(seconds_per_instance, 1e-9))
        self._on_loop = metrics.inference_calls.labels("event_loop")
        self._on_thread = metrics.inference_calls.labels("inference_thread")
        self._jobs: queue.SimpleQueue[tuple[Batch, list[_Waiting]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="inference", daemon=True)
        self._thread.start()

    async def classify(self, request: Request, *, alone: bool = False) -> list[int]:
        """The class index of each instance of `request`, computed in some call with other
        requests' instances, or at once when it is `alone` (no other request is in the server,
        so none can join) and the batcher is idle with no wait for company set. Raises
        InvalidInputError when `assemble` refuses the request."""
        if alone and not self._running and not self._pending and self._max_wait == 0:
            return self._classify_now(request)
        future: asyncio.Future[list[int]] = self._loop.create_future()
        self._pending.append((request, future))
        self._pending_rows += len(request)
        if not self._running:
            if self._pending_rows >= self._max_instances:
                self._dispatch()
            elif self._max_wait > 0:
                if self._timer is None:
                    self._timer = self._loop.call_later(self._max_wait, self._dispatch)
            elif not self._soon:
                # After the callbacks already queued in this loop iteration: the requests that
                # arrived together are parsed by then and join this call, at no added wait.
                self._soon = True
                self._loop.call_soon(self._dispatch)
        return await future

    def close(self) -> None:
        """Stop the thread once the calls in hand are done (requests have drained by then)."""
        if self._timer is not None:
            self._timer.cancel()
        self._jobs.put(None)
        self._thread.join(timeout=10)

    def _dispatch(self) -> None:
        self._soon = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while not self._running and self._pending:
            taken: list[tuple[Request, asyncio.Future[list[int]]]] = []
            rows = 0
            # At least one request; then whole requests while they fit.
            while self._pending and (not taken or rows + len(self._pending[0][0]) <= self._max_instances):
                item = self._pending.popleft()
                taken.append(item)
                rows += len(item[0])
            self._pending_rows -= rows
            try:
                batch, refusals = self._assemble([request for request, _ in taken])
            except Exception as error:  # noqa: BLE001 - handed to the waiting requests, which answer 500
                for _, future in taken:
                    if not future.done():
                        future.set_exception(error)
                continue
            waiting: list[_Waiting] = []
            for (request, future), refused in zip(taken, refusals, strict=True):
                if refused is None:
                    waiting.append((len(request), future))
                elif not future.done():  # a request cut at shutdown has cancelled its future
                    future.set_exception(refused)
            if not waiting:
                continue  # every request of this call was refused: on to the next ones
            if len(waiting) == 1 or len(batch) <= self._loop_max_instances:
                self._on_loop.inc()
                self._run_here(batch, waiting)
            else:
                self._on_thread.inc()
                self._running = True
                self._jobs.put((batch, waiting))

    def _classify_now(self, request: Request) -> list[int]:
        batch, (refused,) = self._assemble([request])
        if refused is not None:
            raise refused
        self._on_loop.inc()
        started = time.perf_counter()
        classes = self._classify(batch)
        self._metrics.inference_seconds.observe(time.perf_counter() - started)
        self._metrics.batch_instances.observe(len(batch))
        self._metrics.instances.inc(len(batch))
        return classes.tolist()  # type: ignore[no-any-return]

    def _run_here(self, batch: Batch, waiting: list[_Waiting]) -> None:
        started = time.perf_counter()
        try:
            classes: Classes | None = self._classify(batch)
            failure: BaseException | None = None
        except Exception as error:  # noqa: BLE001 - handed to the waiting request, which answers 500
            classes, failure = None, error
        self._finish(waiting, classes, failure, time.perf_counter() - started, dispatch=False)

    def _work(self) -> None:
        """The inference thread: one call per job, results handed back to the loop."""
        while (job := self._jobs.get()) is not None:
            batch, waiting = job
            started = time.perf_counter()
            try:
                classes: Classes | None = self._classify(batch)
                failure: BaseException | None = None
            except Exception as error:  # noqa: BLE001 - handed to the waiting requests, which answer 500
                classes, failure = None, error
            seconds = time.perf_counter() - started
            self._loop.call_soon_threadsafe(self._finish, waiting, classes, failure, seconds)

    def _finish(
        self,
        waiting: list[_Waiting],
        classes: Classes | None,
        failure: BaseException | None,
        seconds: float,
        *,
        dispatch: bool = True,
    ) -> None:
        self._running = False
        self._metrics.inference_seconds.observe(seconds)
        indices = classes.tolist() if classes is not None else []
        offset = 0
        for rows, future in waiting:
            end = offset + rows
            if not future.done():  # a request cut at shutdown has cancelled its future
                if classes is None:
                    future.set_exception(failure or RuntimeError("inference failed"))
                else:
                    future.set_result(indices[offset:end])
            offset = end
        self._metrics.batch_instances.observe(offset)
        if classes is not None:
            self._metrics.instances.inc(offset)
        if dispatch and self._pending:
            self._dispatch()  # these waited for the thread already: no further wait
