"""Server-sent events from blocking work: generation pieces and progress updates.

The model work runs in a worker thread; the response pulls from it without
blocking the event loop. If the client goes away, the work is told to stop."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
from fastapi.sse import EventSourceResponse, format_sse_event

from ..results import to_json
from .problems import detail_for, problem_body, status_for

_END = object()


def event(name: str, data: object) -> str:
    return format_sse_event(event=name, data_str=json.dumps(data, ensure_ascii=False))


def error_event(exc: BaseException) -> str:
    return event("error", problem_body(status_for(exc), detail_for(exc)))


async def _drain(items: Iterator[str], on_close: Callable[[], None]) -> AsyncIterator[str]:
    try:
        while (item := await anyio.to_thread.run_sync(next, items, _END)) is not _END:
            yield item
    finally:
        on_close()


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

    def close() -> None:
        stop.set()
        stream.close()

    return EventSourceResponse(_drain(items(), close))


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
    return EventSourceResponse(_drain(iter(updates.get, _END), cancel.set))
