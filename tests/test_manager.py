"""The manager's single flight, eviction, busy protection, OOM retry and device choice,
with tiny fake models so it runs in milliseconds."""

import threading
import time

import pytest

from services.catalog import Availability, Catalog, ModelSpec
from services.errors import ModelUnavailable
from services.manager import MB, ModelManager


class FakeModel:
    def __init__(self, spec, device, size_mb):
        self.spec = spec
        self.device = device
        self._bytes = int(size_mb * MB)
        self.closed = False

    def memory_bytes(self):
        return self._bytes

    def close(self):
        self.closed = True


def AVAILABLE(spec):
    return Availability(True, "test model")


def catalog(*sizes):
    return Catalog([
        ModelSpec(id=f"m{i}", task="image-classification", name=f"Model {i}", backend="fake", source="local",
                  licence="MIT", size_mb=size, default=i == 0)
        for i, size in enumerate(sizes)
    ])


def make_manager(sizes, budget=None, delay=0.0, fail=()):
    loads = []
    lock = threading.Lock()

    def loader(spec, device):
        with lock:
            loads.append(spec.id)
        time.sleep(delay)
        if spec.id in fail:
            raise RuntimeError(fail[spec.id]) if isinstance(fail, dict) else RuntimeError("broken weights")
        return FakeModel(spec, device, spec.size_mb)

    mgr = ModelManager(catalog(*sizes), device="cpu", budget_mb=budget, loaders={"fake": loader}, check=AVAILABLE)
    return mgr, loads


def test_sixteen_concurrent_first_requests_load_once():
    mgr, loads = make_manager([10], delay=0.3)
    barrier = threading.Barrier(16)
    got = []

    def worker():
        barrier.wait()
        got.append(mgr.get("m0"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["m0"]
    assert len(got) == 16 and all(m is got[0] for m in got)


def test_least_recently_used_model_is_evicted_when_budget_is_exceeded():
    mgr, loads = make_manager([40, 40, 40], budget=100)
    first = mgr.get("m0")
    mgr.get("m1")
    with mgr.use("m0"):  # m0 is now the most recently used
        pass
    mgr.get("m2")  # 120 MB > 100: the LRU idle model (m1) goes
    assert sorted(mgr.loaded_ids()) == ["m0", "m2"]
    assert mgr.used_mb() <= 100
    assert not first.closed
    status = {s.id: s for s in mgr.status()}
    assert status["m1"].evictions == 1 and not status["m1"].loaded
    mgr.get("m1")  # an evicted model reloads on its next use
    assert loads.count("m1") == 2


def test_a_busy_model_is_never_evicted():
    mgr, _ = make_manager([60, 60], budget=100)
    with mgr.use("m0") as busy:
        mgr.get("m1")  # over budget, but m0 is in use
        assert "m0" in mgr.loaded_ids() and not busy.closed


def test_out_of_memory_while_loading_evicts_idle_models_and_retries_once():
    attempts = []
    mgr, _ = make_manager([10, 10])

    def flaky(spec, device):
        attempts.append(spec.id)
        if spec.id == "m1" and len([a for a in attempts if a == "m1"]) == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return FakeModel(spec, device, spec.size_mb)

    mgr.register("fake", flaky)
    mgr.get("m0")
    mgr.get("m1")
    assert attempts == ["m0", "m1", "m1"]
    assert mgr.loaded_ids() == ["m1"]  # m0 was evicted to make room


def test_a_broken_model_fails_alone_with_its_reason():
    mgr, _ = make_manager([10, 10], fail={"m1": "weights are corrupt"})
    with pytest.raises(ModelUnavailable, match="weights are corrupt"):
        mgr.get("m1")
    assert mgr.get("m0").spec.id == "m0"
    status = {s.id: s for s in mgr.status()}
    assert "weights are corrupt" in status["m1"].last_error
    assert status["m0"].loaded


def test_latency_and_calls_are_recorded():
    mgr, _ = make_manager([10])
    for _ in range(5):
        with mgr.use("m0", items=2):
            time.sleep(0.01)
    status = mgr.status()[0]
    assert status.calls == 5 and status.items == 10
    assert status.p50_ms >= 10 and status.p95_ms >= status.p50_ms


def test_unload_waits_for_the_running_request():
    mgr, _ = make_manager([10])
    released = threading.Event()

    def hold():
        with mgr.use("m0"):
            released.wait(2)

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.05)
    with pytest.raises(TimeoutError):
        mgr.unload("m0", wait=0.1)
    released.set()
    t.join()
    assert mgr.unload("m0") is True
    assert mgr.loaded_ids() == []


def test_device_choice_prefers_cuda_then_mps_then_cpu(monkeypatch):
    import torch

    from services.devices import pick_device

    monkeypatch.delenv("MODEL_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == "cpu"
    monkeypatch.setenv("MODEL_DEVICE", "cuda:1")  # asked for, but absent: fall back
    assert pick_device() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == "cuda:1"


def test_the_manager_puts_models_on_its_device():
    mgr = ModelManager(catalog(10), device="cuda:0", loaders={"fake": lambda s, d: FakeModel(s, d, 1)}, check=AVAILABLE)
    assert mgr.get("m0").device == "cuda:0"


def test_an_unavailable_model_is_refused_before_loading_with_the_reason():
    mgr = ModelManager(catalog(10), device="cpu", loaders={"fake": lambda s, d: FakeModel(s, d, 1)},
                       check=lambda spec: Availability(False, "weights not cached and huggingface.co is unreachable"))
    with pytest.raises(ModelUnavailable, match="unreachable"):
        mgr.get("m0")
    assert "unreachable" in mgr.status()[0].last_error


def test_the_status_says_why_a_model_runs_on_the_cpu(monkeypatch):
    from services.devices import why_cpu

    mgr, _ = make_manager([10, 10])
    mgr.get("m0")
    status = {s.id: s for s in mgr.status()}
    assert status["m0"].device == "cpu" and status["m0"].device_note == why_cpu() != ""
    assert status["m1"].device_note == ""  # not loaded: nothing to explain
    monkeypatch.setenv("MODEL_DEVICE", "cpu")
    assert why_cpu() == "MODEL_DEVICE=cpu"


@pytest.mark.slow
def test_nanodet_asked_for_cuda_without_the_gpu_onnxruntime_says_so():
    """On a GPU machine with the CPU onnxruntime, NanoDet runs on the CPU and the System page
    says why (here no provider is CUDA either, so the same path runs)."""
    import onnxruntime

    from services.backends.detection import load_nanodet

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    model = load_nanodet(Catalog.load().get("nanodet-g"), "cuda")
    assert model.device == "cpu" and "onnxruntime-gpu" in model.device_note and "GPU=1" in model.device_note


def test_make_setup_gpu_installs_the_gpu_extras_and_plain_setup_does_not():
    import subprocess

    from .conftest import ROOT

    gpu = subprocess.run(["make", "-n", "-B", "setup", "GPU=1"], cwd=ROOT, capture_output=True, text=True).stdout
    plain = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "requirements-gpu.txt" in gpu and "uninstall -y -q onnxruntime onnxruntime-gpu" in gpu
    assert "requirements-gpu.txt" not in plain
    assert "onnxruntime-gpu==" in (ROOT / "requirements-gpu.txt").read_text()
