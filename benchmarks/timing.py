"""Closed-loop timing helpers shared by ``run.py`` and ``http_clients.py`` (standard library only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def latencies(call: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        started = time.perf_counter()
        call(i)
        out.append(time.perf_counter() - started)
    return out


def throughput(call: Callable[[int], object], clients: int, per_client: int) -> tuple[float, list[float]]:
    """Requests per second with ``clients`` threads, and every request's latency."""
    lat: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker(c):
        barrier.wait()
        for i in range(per_client):
            started = time.perf_counter()
            call(c * per_client + i)
            with lock:
                lat.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return clients * per_client / (time.perf_counter() - started), lat
