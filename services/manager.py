"""The process-wide model manager.

Loads each catalog model once, shares it across sessions and threads, evicts
least-recently-used idle models when a memory budget would be exceeded, and
records what the System page shows. It never imports Streamlit.

Concurrency rules:
- ``get`` is single-flight: concurrent first callers wait on one load.
- ``use`` marks a model busy while a request runs, so eviction never pulls a
  model out from under a running request.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from .catalog import Availability, Catalog, ModelSpec, check_availability
from .batching import MicroBatcher, StagedModel
from .config import batch_max_items, batch_max_wait_ms, batching_enabled, memory_budget_mb
from .devices import pick_device
from .errors import InputError, ModelUnavailable
from .stats import ModelStats

log = logging.getLogger(__name__)

MB = 1024 * 1024


class LoadedModel(Protocol):
    """What a backend's loader returns; task methods are added per backend."""

    device: str

    def memory_bytes(self) -> int: ...


Loader = Callable[[ModelSpec, str], LoadedModel]


@dataclass(frozen=True)
class ModelStatus:
    """A snapshot of one catalog model, for the System page and ``models`` CLI."""

    id: str
    task: str
    name: str
    loaded: bool
    device: str
    memory_mb: float
    load_seconds: float
    calls: int
    items: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    loads: int
    evictions: int
    last_error: str
    precision: str = ""  # float32 / bfloat16 / float16 where the backend says
    device_note: str = ""  # why it runs where it runs, when that is not the GPU one might expect

    @property
    def mean_batch(self) -> float:
        """Items per model call: above 1 when dynamic batching shared calls."""
        return round(self.items / self.calls, 2) if self.calls else 0.0


@dataclass
class _Entry:
    model: LoadedModel
    bytes: int
    last_used: float
    in_use: int = 0


class ModelManager:
    """Owns every loaded model in the process."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        device: str | None = None,
        budget_mb: float | None = None,
        loaders: dict[str, Loader] | None = None,
        check: Callable[[ModelSpec], Availability] = check_availability,
    ) -> None:
        self.catalog = catalog
        self.device = device or pick_device()
        self.budget_bytes = int(budget_mb * MB) if budget_mb else None
        self._loaders = loaders if loaders is not None else {}
        self._check = check
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, Future] = {}
        self._stats: dict[str, ModelStats] = {}
        self._batchers: dict[tuple, MicroBatcher] = {}

    # ------------------------------------------------------------------ loading
    def register(self, backend: str, loader: Loader) -> None:
        self._loaders[backend] = loader

    def stats(self, model_id: str) -> ModelStats:
        with self._lock:
            return self._stats.setdefault(model_id, ModelStats())

    def get(self, model_id: str) -> LoadedModel:
        """The loaded model, loading it (once) if needed."""
        spec = self.catalog.get(model_id)
        with self._lock:
            entry = self._entries.get(model_id)
            if entry is not None:
                entry.last_used = time.monotonic()
                return entry.model
            future = self._loading.get(model_id)
            owner = future is None
            if owner:
                future = Future()
                self._loading[model_id] = future
        if not owner:
            return future.result()
        try:
            model = self._load(spec)
        except BaseException as exc:
            with self._lock:
                del self._loading[model_id]
            future.set_exception(exc)
            raise
        with self._lock:
            del self._loading[model_id]
        future.set_result(model)
        return model

    def _load(self, spec: ModelSpec) -> LoadedModel:
        loader = self._loaders.get(spec.backend)
        if loader is None:
            raise ModelUnavailable(f"no loader for backend '{spec.backend}'")
        stats = self.stats(spec.id)
        availability = self._check(spec)
        if not availability.available:
            stats.last_error = availability.reason
            raise ModelUnavailable(f"{spec.name}: {availability.reason}")
        self._make_room(int(spec.size_mb * MB), exclude=spec.id)
        started = time.perf_counter()
        try:
            model = self._load_with_retry(loader, spec)
        except ModelUnavailable as exc:
            stats.last_error = str(exc)
            raise
        except Exception as exc:
            log.warning("loading %s failed: %s", spec.id, exc)
            log.debug("loading %s failed", spec.id, exc_info=True)
            stats.last_error = f"{type(exc).__name__}: {exc}"
            raise ModelUnavailable(f"{spec.name} could not be loaded: {stats.last_error}") from exc
        seconds = time.perf_counter() - started
        size = int(model.memory_bytes())
        with self._lock:
            self._entries[spec.id] = _Entry(model=model, bytes=size, last_used=time.monotonic())
            stats.loads += 1
            stats.load_seconds = seconds
            stats.last_error = ""
        self._make_room(0, exclude=spec.id)
        log.info("loaded %s on %s in %.2fs (%.0f MB)", spec.id, model.device, seconds, size / MB)
        return model

    def _load_with_retry(self, loader: Loader, spec: ModelSpec) -> LoadedModel:
        """Out of memory while loading: evict every idle model and try once more."""
        try:
            return loader(spec, self.device)
        except (MemoryError, RuntimeError) as exc:
            if not _is_out_of_memory(exc):
                raise
            log.warning("out of memory loading %s; evicting idle models and retrying", spec.id)
            self._make_room(None, exclude=spec.id)
            try:
                return loader(spec, self.device)
            except (MemoryError, RuntimeError) as again:
                if _is_out_of_memory(again):
                    raise ModelUnavailable(f"{spec.name}: out of memory even after unloading other models") from again
                raise

    # ------------------------------------------------------------------ using
    @contextmanager
    def use(self, model_id: str, items: int = 1) -> Iterator[Any]:
        """Borrow a model for one request; records latency and blocks eviction meanwhile."""
        while True:
            model = self.get(model_id)
            with self._lock:
                entry = self._entries.get(model_id)
                if entry is not None and entry.model is model:
                    entry.in_use += 1
                    entry.last_used = time.monotonic()
                    break
            # evicted between get() and here: load again
        started = time.perf_counter()
        failed = False
        try:
            yield model
        except InputError:
            failed = True
            raise
        finally:
            with self._lock:
                entry.in_use -= 1
                entry.last_used = time.monotonic()
                self._idle.notify_all()
            if not failed:
                self.stats(model_id).record_call(time.perf_counter() - started, items)

    # ------------------------------------------------------------------ batching
    def batched(self, model_id: str, method: str, items: list, **kwargs) -> list:
        """``model.<method>(items, **kwargs)``, batched with concurrent requests for
        the same model and settings (dynamic micro-batching). Results keep ``items``' order.

        For a ``StagedModel``'s ``predict``, only ``run_batch`` is shared: ``prepare`` and
        ``finish`` run here, in the caller's thread, and requests with different options
        (``top_k``, thresholds) still share one batch."""
        if not batching_enabled():
            with self.use(model_id, items=len(items)) as model:
                return getattr(model, method)(items, **kwargs)
        model = self.get(model_id)
        if method == "predict" and isinstance(model, StagedModel):
            prepared = [model.prepare(item) for item in items]
            raw = self._batcher(model_id, "run_batch", {}, model).submit(prepared)
            return [model.finish(out, item, **kwargs) for out, item in zip(raw, items)]
        return self._batcher(model_id, method, kwargs, model).submit(items)

    def _batcher(self, model_id: str, method: str, kwargs: dict, model: Any) -> MicroBatcher:
        """One batcher per (model, method, settings); a model may cap its batch size
        (``max_batch``) below ``BATCH_MAX_ITEMS``."""
        key = (model_id, method, tuple(sorted(kwargs.items())))
        with self._lock:
            batcher = self._batchers.get(key)
            if batcher is None:
                def run(batch: list) -> list:
                    with self.use(model_id, items=len(batch)) as loaded:
                        return getattr(loaded, method)(batch, **kwargs)

                batcher = self._batchers[key] = MicroBatcher(
                    run, max_batch=min(getattr(model, "max_batch", batch_max_items()), batch_max_items()),
                    max_wait=batch_max_wait_ms() / 1000)
            return batcher

    def batch_sizes(self, model_id: str) -> tuple[int, int]:
        """(batches run, items in them) for ``model_id``: the mean batch size under load."""
        with self._lock:
            found = [b for key, b in self._batchers.items() if key[0] == model_id]
        return sum(b.batches for b in found), sum(b.items for b in found)

    # ------------------------------------------------------------------ eviction
    def _used_bytes(self) -> int:
        return sum(e.bytes for e in self._entries.values())

    def _make_room(self, incoming: int | None, exclude: str) -> None:
        """Evict LRU idle models until ``incoming`` more bytes fit (None: evict all idle)."""
        if incoming is not None and self.budget_bytes is None:
            return
        victims = []
        with self._lock:
            candidates = sorted(
                (e.last_used, mid) for mid, e in self._entries.items() if mid != exclude and e.in_use == 0
            )
            used = self._used_bytes()
            for _, mid in candidates:
                if incoming is not None and used + incoming <= self.budget_bytes:
                    break
                entry = self._entries.pop(mid)
                used -= entry.bytes
                self.stats(mid).evictions += 1
                victims.append((mid, entry))
        for mid, entry in victims:
            log.info("evicted %s (%.0f MB)", mid, entry.bytes / MB)
            _release(entry.model)
        if victims:
            _free_accelerator_memory()

    def unload(self, model_id: str, wait: float = 30.0) -> bool:
        """Unload a model once no request is using it. False if it was not loaded."""
        deadline = time.monotonic() + wait
        with self._lock:
            while True:
                entry = self._entries.get(model_id)
                if entry is None:
                    return False
                if entry.in_use == 0:
                    del self._entries[model_id]
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{model_id} is still busy")
                self._idle.wait(remaining)
        _release(entry.model)
        _free_accelerator_memory()
        return True

    def unload_all(self) -> None:
        for model_id in self.loaded_ids():
            self.unload(model_id)

    # ------------------------------------------------------------------ reporting
    def loaded_ids(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def is_loaded(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._entries

    def used_mb(self) -> float:
        with self._lock:
            return self._used_bytes() / MB

    def status(self) -> list[ModelStatus]:
        out = []
        with self._lock:
            entries = dict(self._entries)
        for spec in self.catalog:
            stats = self.stats(spec.id)
            entry = entries.get(spec.id)
            p50, p95, p99 = stats.latency_summary()
            out.append(
                ModelStatus(
                    id=spec.id,
                    task=spec.task,
                    name=spec.name,
                    loaded=entry is not None,
                    device=entry.model.device if entry else "",
                    memory_mb=round(entry.bytes / MB, 1) if entry else 0.0,
                    load_seconds=round(stats.load_seconds, 3),
                    calls=stats.calls,
                    items=stats.items,
                    p50_ms=round(p50 * 1000, 1),
                    p95_ms=round(p95 * 1000, 1),
                    p99_ms=round(p99 * 1000, 1),
                    loads=stats.loads,
                    evictions=stats.evictions,
                    last_error=stats.last_error,
                    precision=str(getattr(entry.model, "dtype", "")).replace("torch.", "") if entry else "",
                    device_note=self._device_note(entry.model) if entry else "",
                )
            )
        return out

    def _device_note(self, model: Any) -> str:
        note = getattr(model, "device_note", "")
        if not note and model.device == "cpu" and self.device == "cpu":
            from .devices import why_cpu

            note = why_cpu()
        return note

    def availability(self):
        """``{model_id: Availability}`` for the whole catalog."""
        return {spec.id: self._check(spec) for spec in self.catalog}


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def _release(model: Any) -> None:
    close = getattr(model, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # releasing must never fail the caller
            log.exception("closing a model failed")


def _free_accelerator_memory() -> None:
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()


_default_lock = threading.Lock()
_default: ModelManager | None = None


def default_manager() -> ModelManager:
    """The one manager of this process, with every real backend registered."""
    global _default
    with _default_lock:
        if _default is None:
            from .backends import register_all

            manager = ModelManager(Catalog.load(), budget_mb=memory_budget_mb())
            register_all(manager)
            _default = manager
        return _default
