"""Bounds on one transcription's work: a deadline, a cancel flag and a heartbeat.

Whisper's decoder runs one forward pass per token, and a runaway decode (a wrong
language, temperature fallback after fallback) is thousands of them. A forward
pre-hook on the decoder (and on each encoder block), installed once per model,
asks the calling thread's ``WorkBudget`` before every pass, so a request stops within one token of its
deadline or of Cancel, wherever in whisper's loops it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_current = threading.local()


class Stopped(Exception):
    """Raised inside the decoder when the budget runs out or the request is cancelled."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "budget" or "cancelled"


@dataclass
class WorkBudget:
    seconds: float
    cancel: threading.Event | None = None
    heartbeat: Callable[[], None] | None = None  # called about once a second while decoding
    heartbeat_every: float = 1.0
    started: float = field(default_factory=time.perf_counter)
    _last_beat: float = 0.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def check(self) -> None:
        """Raise ``Stopped`` past the deadline or on cancel; beat now and then (a page may stop us there)."""
        if self.cancel is not None and self.cancel.is_set():
            raise Stopped("cancelled")
        now = time.perf_counter()
        if now - self.started > self.seconds:
            raise Stopped("budget")
        if self.heartbeat is not None and now - self._last_beat >= self.heartbeat_every:
            self._last_beat = now
            self.heartbeat()

    def __enter__(self) -> "WorkBudget":
        _current.budget = self
        return self

    def __exit__(self, *exc) -> None:
        _current.budget = None


def install_budget_hook(model) -> None:
    """Make every decoder pass of ``model`` check the calling thread's budget (once per model)."""
    if getattr(model, "_budget_hook", None) is not None:
        return

    def before_pass(module, args) -> None:
        budget = getattr(_current, "budget", None)
        if budget is not None:
            budget.check()

    hooked = [model.decoder, *model.encoder.blocks]  # the encoder of a batch of pieces takes seconds too
    model._budget_hook = [module.register_forward_pre_hook(before_pass) for module in hooked]
