"""The task API every caller uses: ``api.classify(...)``, ``api.detect(...)``, ...

Each name is a method of the ``Tasks`` interface (``services.tasks``) on the
implementation chosen once per process from ``SERVICES_BACKEND``: ``local`` (the
default, models in this process) or ``ray`` (Ray Serve deployments). Code that
holds its own manager (tests, benchmarks) uses ``LocalTasks(manager)`` directly.
"""

from __future__ import annotations

import os
import threading

from .errors import InputError, ModelUnavailable  # noqa: F401  (re-exported for pages)
from .tasks import NamedImage, Tasks, generation_settings  # noqa: F401

__all__ = ["InputError", "ModelUnavailable", "NamedImage", "Tasks", "generation_settings", "tasks", "use"]
BACKENDS = ("local", "ray")
_lock = threading.Lock()
_chosen: Tasks | None = None


def backend_name() -> str:
    name = os.environ.get("SERVICES_BACKEND", "local").strip().lower() or "local"
    if name not in BACKENDS:
        raise ValueError(f"SERVICES_BACKEND={name!r}: use one of {', '.join(BACKENDS)}")
    return name


def tasks() -> Tasks:
    """This process's task implementation, picked on first use."""
    global _chosen
    with _lock:
        if _chosen is None:
            if backend_name() == "ray":
                from .remote import RayTasks

                _chosen = RayTasks()
            else:
                from .local import LocalTasks

                _chosen = LocalTasks()
        return _chosen


def use(chosen: Tasks | None) -> None:
    """Replace this process's backend (tests); ``None`` picks again from ``SERVICES_BACKEND`` on next use."""
    global _chosen
    with _lock:
        _chosen = chosen


def __getattr__(name: str):
    """``api.classify`` etc.: the chosen implementation's method of that name."""
    if name.startswith("_") or not hasattr(Tasks, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(tasks(), name)
