"""Dynamic micro-batching: concurrent requests share model calls, keep their order,
and a failure reaches every waiting request."""

import threading
import time


from services.batching import MicroBatcher


def test_concurrent_requests_are_batched_and_results_stay_in_order():
    calls = []

    def run(items):
        calls.append(len(items))
        time.sleep(0.02)
        return [x * 10 for x in items]

    batcher = MicroBatcher(run, max_batch=64, max_wait=0.01)
    results = {}
    barrier = threading.Barrier(8)

    def client(i):
        barrier.wait()
        results[i] = batcher.submit([i, i + 100])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: [i * 10, (i + 100) * 10] for i in range(8)}
    assert sum(calls) == 16 and len(calls) < 8  # fewer model calls than requests


def test_a_lone_request_waits_only_a_few_milliseconds():
    batcher = MicroBatcher(lambda items: items)
    batcher.submit([1])
    started = time.perf_counter()
    assert batcher.submit([2]) == [2]
    assert time.perf_counter() - started < 0.05


def test_batch_size_is_capped():
    sizes = []
    batcher = MicroBatcher(lambda items: sizes.append(len(items)) or items, max_batch=4, max_wait=0.05)
    threads = [threading.Thread(target=batcher.submit, args=([i],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(sizes) == 12 and max(sizes) <= 4


def test_a_failure_reaches_every_request_in_the_batch():
    def run(items):
        time.sleep(0.01)
        raise RuntimeError("model exploded")

    batcher = MicroBatcher(run, max_wait=0.02)
    errors = []

    def client():
        try:
            batcher.submit([1])
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == ["model exploded"] * 4
    assert batcher.submit([]) == []


def test_manager_batches_through_the_model(monkeypatch):
    from services.catalog import Availability, Catalog, ModelSpec
    from services.manager import ModelManager

    class Echo:
        device = "cpu"
        batches = []

        def memory_bytes(self):
            return 1

        def predict(self, items, scale=1):
            time.sleep(0.01)
            self.batches.append(len(items))
            return [i * scale for i in items]

    spec = ModelSpec(id="echo", task="sentiment", name="Echo", backend="echo", source="local", licence="MIT", size_mb=1)
    mgr = ModelManager(Catalog([spec]), device="cpu", loaders={"echo": lambda s, d: Echo()},
                       check=lambda s: Availability(True, "test"))
    out = {}
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, mgr.batched("echo", "predict", [i], scale=2)))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: [2 * i] for i in range(6)}
    status = mgr.status()[0]
    assert status.items == 6 and status.calls == len(Echo.batches) < 6
