"""Per-model bookkeeping: load time, size, calls and latency percentiles."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[rank]


def expected_calibration_error(confidence: list[float], correct: list[bool], bins: int = 10) -> float:
    """Expected calibration error: over equal-width confidence bins (lo, hi], the share of items in
    the bin times |accuracy - mean confidence| there; a confidence of exactly 0 counts in the first."""
    total = 0.0
    for lo in range(bins):
        chosen = [(c, k) for c, k in zip(confidence, correct) if lo / bins < c <= (lo + 1) / bins or (lo == 0 and c == 0)]
        if chosen:
            accuracy = sum(k for _, k in chosen) / len(chosen)
            total += len(chosen) / len(confidence) * abs(accuracy - sum(c for c, _ in chosen) / len(chosen))
    return total


@dataclass
class ModelStats:
    """Mutable counters for one model, guarded by the manager's lock."""

    loads: int = 0
    evictions: int = 0
    calls: int = 0
    items: int = 0
    load_seconds: float = 0.0
    last_error: str = ""
    latencies: deque = field(default_factory=lambda: deque(maxlen=2000))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_call(self, seconds: float, items: int = 1) -> None:
        with self._lock:
            self.calls += 1
            self.items += items
            self.latencies.append(seconds)

    def latency_summary(self) -> tuple[float, float, float]:
        with self._lock:
            values = list(self.latencies)
        return percentile(values, 50), percentile(values, 95), percentile(values, 99)


class Timer:
    """``with Timer() as t: ...; t.seconds``"""

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
