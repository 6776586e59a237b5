"""Which torch device models run on: CUDA, else Apple MPS, else CPU, or ``MODEL_DEVICE``."""

from __future__ import annotations

import os


def pick_device(override: str | None = None) -> str:
    """Return a device string usable by ``torch.device``.

    ``override`` (or the ``MODEL_DEVICE`` variable) wins when it names a device
    that exists here; a request for a missing accelerator falls back to CPU
    rather than failing every page.
    """
    import torch

    wanted = (override or os.environ.get("MODEL_DEVICE", "")).strip().lower()
    if wanted:
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            return "cpu"
        if wanted == "mps" and not _mps_available(torch):
            return "cpu"
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available(torch):
        return "mps"
    return "cpu"


def why_cpu() -> str:
    """Why ``pick_device`` chose the CPU, in words for the System page ("" when it did not)."""
    import torch

    if pick_device() != "cpu":
        return ""
    wanted = os.environ.get("MODEL_DEVICE", "").strip().lower()
    if wanted == "cpu":
        return "MODEL_DEVICE=cpu"
    if wanted:
        return f"MODEL_DEVICE={wanted} was asked for, but torch sees no such device"
    if torch.version.cuda is None:
        return "this torch build has no CUDA"
    return "no GPU found (torch.cuda.is_available() is False)"


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def describe_device(device: str) -> str:
    """A human label such as ``cuda (NVIDIA H100)`` for the sidebar."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device
