"""Load each task's default model and run one tiny request, so the first real
request on every page is fast. Used by the System page and ``make run``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .catalog import TASKS, check_availability
from .manager import ModelManager


@dataclass(frozen=True)
class WarmupResult:
    model: str
    ok: bool
    seconds: float
    message: str


def _exercise(task: str, model) -> None:
    """One small call per task: compiles kernels, fills caches."""
    if task in ("image-classification", "detection"):
        model.predict([Image.new("RGB", (320, 240), (120, 130, 140))])
    elif task in ("sentiment", "ner"):
        model.predict(["A short warm-up sentence about Paris."])
    elif task == "text-generation":
        from .backends.generation import GenerationSettings

        model.generate("Hello", GenerationSettings(max_new_tokens=2, temperature=0))
    elif task == "speech":
        # a faint tone, not silence: silent audio is skipped without running the model
        tone = 0.01 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)
        model.transcribe(tone.astype(np.float32), language="en", budget_seconds=10)


def warm_up(manager: ModelManager, tasks=TASKS, progress: Callable[[int, int, str], None] | None = None) -> list[WarmupResult]:
    results = []
    specs = [manager.catalog.default_for(t) for t in tasks]
    for i, spec in enumerate(specs):
        if progress:
            progress(i, len(specs), spec.name)
        started = time.perf_counter()
        availability = check_availability(spec)
        if not availability.available:
            results.append(WarmupResult(spec.id, False, 0.0, availability.reason))
            continue
        try:
            with manager.use(spec.id) as model:
                _exercise(spec.task, model)
            results.append(WarmupResult(spec.id, True, round(time.perf_counter() - started, 2), "ready"))
        except Exception as exc:  # one broken model must not stop the others
            results.append(WarmupResult(spec.id, False, round(time.perf_counter() - started, 2), f"{type(exc).__name__}: {exc}"))
    if progress:
        progress(len(specs), len(specs), "done")
    return results
