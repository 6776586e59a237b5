"""Server-sent events from blocking work: generation pieces and progress updates.

The model work runs in a worker thread; the response pulls from it without
blocking the event loop. If the client goes away, the work is told to stop."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
from fastapi.sse import EventSourceResponse, format_sse_event

from ..results import to_json
from .problems import detail_for, problem_body, status_for

_END = object()
log = logging.getLogger("services.web")


def event(name: str, data: object) -> str:
    return format_sse_event(event=name, data_str=json.dumps(data, ensure_ascii=False))


def error_event(exc: BaseException) -> str:
    if status_for(exc) == 500:
        log.error("a streamed request failed", exc_info=exc)
    return event("error", problem_body(status_for(exc), detail_for(exc)))


async def drain(items: Iterator[str], stop: Callable[[], None], close: Callable[[], None]) -> AsyncIterator[str]:
    """Pull ``items`` in worker threads. When the response ends early (client gone),
    ``stop()`` is called at once, so the work winds down, and ``close()`` once the step
    in flight has returned (a generator cannot be closed while it runs)."""
    lock = threading.Lock()

    def step():
        with lock:
            return next(items, _END)

    def finish():
        with lock:
            close()

    try:
        while (item := await anyio.to_thread.run_sync(step, abandon_on_cancel=True)) is not _END:
            yield item
    finally:
        stop()
        threading.Thread(target=finish, name="api-stream-close", daemon=True).start()


def token_events(stream, stop: threading.Event) -> EventSourceResponse:
    """``token`` events with ``{"text"}``, then ``done`` with the ``Generation`` (or ``error``)."""

    def items() -> Iterator[str]:
        try:
            for piece in stream:
                if piece:
                    yield event("token", {"text": piece})
            yield event("done", to_json(stream.result))
        except Exception as exc:
            yield error_event(exc)

    return EventSourceResponse(drain(items(), stop.set, stream.close))


def progress_events(work: Callable[[Callable[[dict], None]], object], cancel: threading.Event) -> EventSourceResponse:
    """``progress`` events while ``work(report)`` runs in a thread, then ``done`` with its result."""
    updates: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            updates.put(event("done", to_json(work(lambda p: updates.put(event("progress", p))))))
        except Exception as exc:
            updates.put(error_event(exc))
        updates.put(_END)

    threading.Thread(target=run, name="api-progress", daemon=True).start()
    return EventSourceResponse(drain(iter(updates.get, _END), cancel.set, lambda: None))
