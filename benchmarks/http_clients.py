"""HTTP clients in a process of their own, as real API users are, for ``run.py --tasks http``.

    python benchmarks/http_clients.py URL sentiment|classify CLIENTS REQUESTS_PER_CLIENT

Prints one JSON line: throughput (req/s) and the p50 latency (ms) of every request."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
REVIEWS = [line.split("\t")[2] for line in (ROOT / "tests/data/reviews.tsv").read_text().splitlines()[1:]]
CAT = (ROOT / "assets/samples/cat.jpg").read_bytes()


def send(client: httpx.Client, kind: str, i: int) -> None:
    if kind == "sentiment":
        client.post("/v1/sentiment", json={"texts": [REVIEWS[i % len(REVIEWS)]]}).raise_for_status()
    else:
        client.post("/v1/classify", files=[("file", ("cat.jpg", CAT))]).raise_for_status()


def main() -> None:
    url, kind, clients, per_client = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker(c: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            send(client, kind, 0)  # connect before the clock starts
            barrier.wait()
            for i in range(per_client):
                started = time.perf_counter()
                send(client, kind, c * per_client + i)
                with lock:
                    latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    print(json.dumps({"rps": clients * per_client / elapsed, "p50_ms": statistics.median(latencies) * 1000}))


if __name__ == "__main__":
    main()
