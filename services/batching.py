"""Dynamic micro-batching, as Triton's dynamic batcher does it: requests for the
same model that arrive while the model is busy run together as one batch.

There is no batching thread: the first caller runs its own request at once (a
lone user pays nothing), requests that arrive meanwhile queue up, and when the
batch finishes the oldest waiting caller leads the next batch with everything
queued so far. Under load, batches grow by themselves.

One refinement, measured in ``benchmarks/``:
- *Waiting for the crowd*: when the last batch served several requests, the next
  leader waits (at most ``max_wait``) until as many are queued again (or the batch is
  full). Without it, the first client back after a batch of 8 ran alone and batches
  alternated 1, 7. After a batch of one request (however many items it carried) there
  is no wait, so a lone user still pays nothing.

When a shared batch fails, each of its requests is run again alone, so one user's
bad input fails only that user's request.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

RunBatch = Callable[[list[Any]], list[Any]]


class StagedModel:
    """A model whose per-item work (resizing, top-k, box decoding) is kept apart from
    the network call, so that under dynamic batching only the network call is shared:
    ``prepare`` and ``finish`` run in each caller's own thread, in parallel, and
    ``run_batch`` runs once for everyone. ``predict`` composes the three.
    """

    def prepare(self, item: Any) -> Any:
        """Per-item input work, in the caller's thread."""
        raise NotImplementedError

    def run_batch(self, prepared: Sequence[Any]) -> list[Any]:
        """The network on a batch of prepared items: one raw output per item."""
        raise NotImplementedError

    def finish(self, raw: Any, item: Any, **options: Any) -> Any:
        """Per-item output work (options such as ``top_k`` apply here, not to the batch)."""
        raise NotImplementedError

    def predict(self, items: Sequence[Any], **options: Any) -> list[Any]:
        raw = self.run_batch([self.prepare(item) for item in items])
        return [self.finish(out, item, **options) for out, item in zip(raw, items)]


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

    def __init__(self, run: RunBatch, max_batch: int = 32, max_wait: float = 0.005) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._busy = False  # a leader is collecting or running a batch
        self._last_batch = 1  # requests in the last batch: how much company to wait for
        self.batches = 0
        self.items = 0

    def submit(self, items: Sequence[Any]) -> list[Any]:
        """Results for ``items`` (in order), computed in a shared batch."""
        if not items:
            return []
        request = _Request(items)
        with self._cond:
            self._pending.append(request)
            self._cond.notify_all()  # a leader waiting for company may go now
            if not self._busy:
                self._busy = True
                request.lead = True
        while not request.done:
            if request.lead:
                self._lead(request)
            else:
                request.wake.wait()
                request.wake.clear()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _call(self, items: list[Any]) -> list[Any]:
        results = self._run(items)
        if len(results) != len(items):
            raise RuntimeError(f"batch returned {len(results)} results for {len(items)} items")
        return list(results)

    def _queued_items(self) -> int:
        return sum(len(r.items) for r in self._pending)

    def _lead(self, leader: _Request) -> None:
        """Run one batch of the oldest pending requests (the leader's first among them),
        then hand the lead to the oldest caller still waiting."""
        with self._cond:
            if self._last_batch > 1 and self.max_wait > 0:
                deadline = time.monotonic() + self.max_wait
                while (len(self._pending) < self._last_batch and self._queued_items() < self.max_batch
                       and (left := deadline - time.monotonic()) > 0):
                    self._cond.wait(left)
            leader.lead = False
            batch, count = [], 0
            while self._pending and (not batch or count + len(self._pending[0].items) <= self.max_batch):
                request = self._pending.popleft()
                batch.append(request)
                count += len(request.items)
        flat = [item for request in batch for item in request.items]
        try:
            results = self._call(flat)
            start = 0
            for request in batch:
                request.result = list(results[start : start + len(request.items)])
                start += len(request.items)
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:  # one request's bad item must not fail the others: run each alone
                for request in batch:
                    try:
                        request.result = self._call(list(request.items))
                    except BaseException as own:
                        request.error = own
        with self._cond:
            self.batches += 1
            self.items += len(flat)
            self._last_batch = len(batch)
            for request in batch:
                request.done = True
                request.wake.set()
            if self._pending:
                successor = self._pending[0]
                successor.lead = True
                successor.wake.set()
            else:
                self._busy = False
