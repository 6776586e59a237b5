"""HTTP clients in a process of their own, as real API users are, for ``run.py --tasks http``.

    python benchmarks/http_clients.py URL sentiment|classify CLIENTS REQUESTS_PER_CLIENT

Prints one JSON line: throughput (req/s) and the p50 latency (ms) of every request."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import throughput  # noqa: E402

REVIEWS = [line.split("\t")[2] for line in (ROOT / "tests/data/reviews.tsv").read_text().splitlines()[1:]]
CAT = (ROOT / "assets/samples/cat.jpg").read_bytes()


def send(client: httpx.Client, kind: str, i: int) -> None:
    if kind == "sentiment":
        client.post("/v1/sentiment", json={"texts": [REVIEWS[i % len(REVIEWS)]]}).raise_for_status()
    else:
        client.post("/v1/classify", files=[("file", ("cat.jpg", CAT))]).raise_for_status()


def main() -> None:
    url, kind, clients, per_client = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    connections = [httpx.Client(base_url=url, timeout=120) for _ in range(clients)]
    for client in connections:  # connect before the clock starts
        send(client, kind, 0)
    # request i comes from client i // per_client: one keep-alive connection per client thread
    rate, latencies = throughput(lambda i: send(connections[i // per_client], kind, i), clients, per_client)
    for client in connections:
        client.close()
    print(json.dumps({"rps": rate, "p50_ms": statistics.median(latencies) * 1000}))


if __name__ == "__main__":
    main()
