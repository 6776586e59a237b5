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


def test_a_model_failure_reaches_every_request_in_the_batch():
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


def test_one_bad_request_does_not_fail_its_batch_mates():
    calls = []

    def run(items):
        calls.append(list(items))
        time.sleep(0.01)
        if "bad" in items:
            raise ValueError("cannot read 'bad'")
        return [item.upper() for item in items]

    batcher = MicroBatcher(run, max_wait=0.05)
    batcher._last_batch = 3  # gather the three below into one batch
    out = {}

    def client(item):
        try:
            out[item] = batcher.submit([item])
        except ValueError as exc:
            out[item] = str(exc)

    threads = [threading.Thread(target=client, args=(item,)) for item in ("a", "bad", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {"a": ["A"], "bad": "cannot read 'bad'", "c": ["C"]}
    assert len(calls[0]) == 3  # they did share a batch first


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


def _run_clients(batcher, count, items_of=lambda i: [i]):
    barrier = threading.Barrier(count)
    out = {}

    def client(i):
        barrier.wait()
        out[i] = batcher.submit(items_of(i))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_batches_never_overlap():
    running, peak, lock = [0], [0], threading.Lock()

    def run(items):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.005)
        with lock:
            running[0] -= 1
        return items

    batcher = MicroBatcher(run, max_batch=3, max_wait=0.002)
    assert _run_clients(batcher, 12) == {i: [i] for i in range(12)}
    assert peak[0] == 1


def test_after_a_crowd_the_next_leader_waits_for_it():
    """Clients that come back one by one after a shared batch are gathered again
    (without the wait the first one back would run alone)."""
    sizes = []
    batcher = MicroBatcher(lambda items: sizes.append(len(items)) or items, max_batch=8, max_wait=0.2)
    batcher._last_batch = 4  # as if a batch of four just finished
    out = {}

    def client(i):
        time.sleep(0.01 * i)  # arrive 10 ms apart
        out[i] = batcher.submit([i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: [i] for i in range(4)} and sizes == [4]


def test_after_a_lone_request_nobody_waits():
    batcher = MicroBatcher(lambda items: items, max_wait=1.0)
    batcher.submit(list(range(20)))  # last batch: one request, however many items
    started = time.perf_counter()
    batcher.submit([2])
    assert time.perf_counter() - started < 0.1


def test_the_wait_for_company_is_bounded():
    batcher = MicroBatcher(lambda items: items, max_wait=0.05)
    batcher._last_batch = 8  # a crowd that does not come back
    started = time.perf_counter()
    assert batcher.submit([1]) == [1]
    assert 0.04 < time.perf_counter() - started < 0.5


def test_staged_models_share_the_network_call_across_options():
    """prepare/finish run per caller; requests with different options share one batch."""
    from services.batching import StagedModel
    from services.catalog import Availability, Catalog, ModelSpec
    from services.manager import ModelManager

    class Doubler(StagedModel):
        device = "cpu"
        batches: list[int] = []
        prepared_in: set[str] = set()

        def memory_bytes(self):
            return 1

        def prepare(self, item):
            self.prepared_in.add(threading.current_thread().name)
            return item * 2

        def run_batch(self, prepared):
            time.sleep(0.02)
            self.batches.append(len(prepared))
            return [p + 1 for p in prepared]

        def finish(self, raw, item, scale=1):
            return (item, raw * scale)

    spec = ModelSpec(id="dbl", task="sentiment", name="Doubler", backend="dbl", source="local", licence="MIT", size_mb=1)
    mgr = ModelManager(Catalog([spec]), device="cpu", loaders={"dbl": lambda s, d: Doubler()},
                       check=lambda s: Availability(True, "test"))
    mgr.get("dbl")
    out = {}
    barrier = threading.Barrier(6)

    def client(i):
        barrier.wait()
        out[i] = mgr.batched("dbl", "predict", [i], scale=i % 2 + 1)

    threads = [threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: [(i, (2 * i + 1) * (i % 2 + 1))] for i in range(6)}
    assert len(Doubler.batches) < 6 and sum(Doubler.batches) == 6
    assert Doubler.prepared_in == {f"client-{i}" for i in range(6)}
    assert mgr.batch_sizes("dbl") == (len(Doubler.batches), 6)
    assert Doubler().predict([3], scale=2) == [(3, 14)]  # unbatched path gives the same


def test_many_clients_at_random_all_get_their_own_results():
    """A stress run: uneven requests, uneven timing, bad requests mixed in; nothing hangs or
    mixes up, and only the bad requests fail (their batch is re-run one request at a time)."""
    import random

    def run(items):
        time.sleep(random.random() / 500)
        if any(i < 0 for i in items):
            raise ValueError("negative")
        return [i * 3 for i in items]

    batcher = MicroBatcher(run, max_batch=8, max_wait=0.002)
    errors: list[str] = []

    def client(seed):
        rnd = random.Random(seed)
        for n in range(40):
            items = [seed * 1000 + n * 10 + k for k in range(rnd.randint(1, 5))]
            if rnd.random() < 0.05:
                items[0] = -1
            time.sleep(rnd.random() / 1000)
            try:
                got = batcher.submit(items)
            except ValueError:
                if items[0] != -1:
                    errors.append(f"{seed}: a good request failed")
                continue
            if items[0] == -1 or got != [i * 3 for i in items]:
                errors.append(f"{seed}: wrong result")

    threads = [threading.Thread(target=client, args=(seed,), daemon=True) for seed in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert errors == []
