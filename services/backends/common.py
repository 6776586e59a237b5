"""Small helpers shared by the torch backends: size, device, precision."""

from __future__ import annotations

import os

import torch


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes held by a module's parameters and buffers (what moving it to a GPU costs)."""
    total = 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        total += tensor.numel() * tensor.element_size()
    return total


def half_precision_ok(device: str) -> bool:
    """fp16 only on CUDA, where it is fast and well supported."""
    return device.startswith("cuda")


def cpu_bf16_ok() -> bool:
    """bfloat16 pays on CPU only where oneDNN runs it natively (AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def inference_dtype(device: str, override_env: str = "MODEL_DTYPE") -> torch.dtype:
    """fp16 on CUDA, bfloat16 on CPUs with native bf16, else float32.

    Reduced precision roughly halves memory traffic, which is what limits these small
    models on CPU; each backend using it checks its outputs against float32 in the tests.
    ``MODEL_DTYPE`` (or the backend's own variable) = float32 / bfloat16 / float16 overrides.
    """
    wanted = os.environ.get(override_env, "").strip().lower() or os.environ.get("MODEL_DTYPE", "auto").strip().lower()
    if wanted in ("float32", "bfloat16", "float16"):
        return getattr(torch, wanted)
    if half_precision_ok(device):
        return torch.float16
    if device == "cpu" and cpu_bf16_ok():
        return torch.bfloat16
    return torch.float32


class TorchModel:
    """Base for backends wrapping one ``nn.Module``: size, device, release."""

    def __init__(self, module: torch.nn.Module, device: str) -> None:
        self.module = module.eval().to(device)
        self.device = device

    def memory_bytes(self) -> int:
        return module_bytes(self.module)

    def close(self) -> None:
        self.module.to("cpu")
        del self.module
