"""Adaptive micro-batching: concurrent predict requests share one onnxruntime call.

A call takes the requests parsed in the same event-loop iteration (those that arrived together);
while a call runs on the inference thread, later requests queue up to form the next one (up to
`max_instances` rows). Calls thus grow with the load, with no timer to tune. A call that serves
one request, or is expected to be short (LOOP_CALL_SECONDS, by the model's time per instance
measured at load), runs at once on the event loop instead: handing it to the thread and back
would cost more than it frees. onnxruntime releases the GIL while it computes, so a long call on
the thread overlaps with the event loop on a second core. With `max_wait_seconds` > 0 an idle
server also waits that long for company (as Triton's dynamic batcher's `max_queue_delay`). Each
request gets back its own rows only.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from mlserve.inputs import Batch
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

_Job = list[tuple[Batch, "asyncio.Future[Classes]"]]


class MicroBatcher:
    """Create and use on the event loop's thread; `close()` stops the inference thread."""

    def __init__(
        self,
        classify: Callable[[Batch], Classes],
        *,
        seconds_per_instance: float,
        max_instances: int,
        max_wait_seconds: float,
        metrics: Metrics,
    ) -> None:
        self._classify = classify
        self._max_instances = max_instances
        self._max_wait = max_wait_seconds
        self._metrics = metrics
        self._loop = asyncio.get_running_loop()
        self._pending: deque[tuple[Batch, asyncio.Future[Classes]]] = deque()
        self._pending_rows = 0
        self._running = False  # the thread has a call in hand
        self._soon = False  # a dispatch is scheduled for the end of this loop iteration
        self._timer: asyncio.TimerHandle | None = None
        self._loop_max_instances = int(LOOP_CALL_SECONDS / max(seconds_per_instance, 1e-9))
        self._on_loop = metrics.inference_calls.labels("event_loop")
        self._on_thread = metrics.inference_calls.labels("inference_thread")
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="inference", daemon=True)
        self._thread.start()

    async def classify(self, batch: Batch) -> Classes:
        """The class index of each row of `batch`, computed in some call with other requests' rows."""
        future: asyncio.Future[Classes] = self._loop.create_future()
        self._pending.append((batch, future))
        self._pending_rows += len(batch)
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
        if self._running or not self._pending:
            return
        job: _Job = []
        rows = 0
        # At least one request; then whole requests while they fit.
        while self._pending and (not job or rows + len(self._pending[0][0]) <= self._max_instances):
            item = self._pending.popleft()
            job.append(item)
            rows += len(item[0])
        self._pending_rows -= rows
        if len(job) == 1 or rows <= self._loop_max_instances:
            self._on_loop.inc()
            self._run_here(job)
            return
        self._on_thread.inc()
        self._running = True
        self._jobs.put(job)

    def _run_here(self, job: _Job) -> None:
        started = time.perf_counter()
        try:
            classes: Classes | None = self._classify(_join(job))
            failure: BaseException | None = None
        except Exception as error:  # noqa: BLE001 - handed to the waiting request, which answers 500
            classes, failure = None, error
        self._finish(job, classes, failure, time.perf_counter() - started)

    def _work(self) -> None:
        """The inference thread: one call per job, results handed back to the loop."""
        while (job := self._jobs.get()) is not None:
            started = time.perf_counter()
            try:
                classes: Classes | None = self._classify(_join(job))
                failure: BaseException | None = None
            except Exception as error:  # noqa: BLE001 - handed to the waiting requests, which answer 500
                classes, failure = None, error
            seconds = time.perf_counter() - started
            self._loop.call_soon_threadsafe(self._finish, job, classes, failure, seconds)

    def _finish(self, job: _Job, classes: Classes | None, failure: BaseException | None, seconds: float) -> None:
        self._running = False
        self._metrics.inference_seconds.observe(seconds)
        offset = 0
        for batch, future in job:
            end = offset + len(batch)
            if not future.done():  # a request cut at shutdown has cancelled its future
                if classes is None:
                    future.set_exception(failure or RuntimeError("inference failed"))
                else:
                    future.set_result(classes[offset:end])
            offset = end
        self._metrics.batch_instances.observe(offset)
        if self._pending:
            self._dispatch()  # these waited for the thread already: no further wait


def _join(job: _Job) -> Batch:
    return job[0][0] if len(job) == 1 else np.concatenate([rows for rows, _ in job])
