"""Dynamic micro-batching, as Triton's dynamic batcher does it: requests for the
same model that arrive within a few milliseconds of each other run as one batch.

A request waits at most ``max_wait`` seconds (a few milliseconds) for company
before its batch runs; while a batch runs, new requests queue and form the next
one, so under load batches grow by themselves.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

RunBatch = Callable[[list[Any]], list[Any]]


@dataclass
class _Request:
    items: Sequence[Any]
    future: Future


class MicroBatcher:
    """Collects requests for one (model, settings) pair and runs them together."""

    def __init__(self, run: RunBatch, max_batch: int = 32, max_wait: float = 0.004) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.items = 0

    def submit(self, items: Sequence[Any]) -> list[Any]:
        """Results for ``items`` (in order), computed in a shared batch."""
        if not items:
            return []
        request = _Request(items, Future())
        self._ensure_worker()
        self._queue.put(request)
        return request.future.result()

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._loop, name="micro-batcher", daemon=True)
                self._worker.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            batch, count = [first], len(first.items)
            deadline = time.monotonic() + self.max_wait
            while count < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(nxt)
                count += len(nxt.items)
            self._execute(batch)

    def _execute(self, batch: list[_Request]) -> None:
        flat = [item for request in batch for item in request.items]
        try:
            results = self._run(flat)
            if len(results) != len(flat):
                raise RuntimeError(f"batch returned {len(results)} results for {len(flat)} items")
        except BaseException as exc:  # every waiting request learns why
            for request in batch:
                request.future.set_exception(exc)
            return
        self.batches += 1
        self.items += len(flat)
        start = 0
        for request in batch:
            end = start + len(request.items)
            request.future.set_result(results[start:end])
            start = end
