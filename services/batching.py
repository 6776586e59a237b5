"""Dynamic micro-batching, as Triton's dynamic batcher does it: requests for the
same model that arrive while the model is busy run together as one batch.

There is no batching thread: the first caller runs its own request at once (a
lone user pays nothing), requests that arrive meanwhile queue up, and when the
batch finishes the oldest waiting caller leads the next batch with everything
queued so far. Under load, batches grow by themselves. An optional
``max_wait`` lets a leader wait a few milliseconds for company.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

RunBatch = Callable[[list[Any]], list[Any]]


class _Request:
    __slots__ = ("items", "wake", "lead", "done", "result", "error")

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items
        self.wake = threading.Event()
        self.lead = False
        self.done = False
        self.result: list[Any] | None = None
        self.error: BaseException | None = None


class MicroBatcher:
    """Collects concurrent requests for one (model, settings) pair and runs them together."""

    def __init__(self, run: RunBatch, max_batch: int = 32, max_wait: float = 0.0) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._busy = False
        self.batches = 0
        self.items = 0

    def submit(self, items: Sequence[Any]) -> list[Any]:
        """Results for ``items`` (in order), computed in a shared batch."""
        if not items:
            return []
        request = _Request(items)
        with self._lock:
            self._pending.append(request)
            if not self._busy:
                self._busy = True
                request.lead = True
        while not request.done:
            if request.lead:
                self._lead()
            else:
                request.wake.wait()
                request.wake.clear()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _lead(self) -> None:
        """Run one batch: the oldest pending requests, this leader's first among them."""
        if self.max_wait > 0:
            time.sleep(self.max_wait)
        with self._lock:
            batch, count = [], 0
            while self._pending and (not batch or count + len(self._pending[0].items) <= self.max_batch):
                request = self._pending.pop(0)
                batch.append(request)
                count += len(request.items)
        flat = [item for request in batch for item in request.items]
        try:
            results = self._run(flat)
            if len(results) != len(flat):
                raise RuntimeError(f"batch returned {len(results)} results for {len(flat)} items")
            start = 0
            for request in batch:
                request.result = list(results[start : start + len(request.items)])
                start += len(request.items)
            self.batches += 1
            self.items += len(flat)
        except BaseException as exc:  # every request in the batch learns why
            for request in batch:
                request.error = exc
        with self._lock:
            for request in batch:
                request.done = True
                request.lead = False
                request.wake.set()
            if self._pending:
                nxt = self._pending[0]
                nxt.lead = True
                nxt.wake.set()
            else:
                self._busy = False
