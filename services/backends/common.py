"""Small helpers shared by the torch backends."""

from __future__ import annotations

import torch


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes held by a module's parameters and buffers (what moving it to a GPU costs)."""
    total = 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        total += tensor.numel() * tensor.element_size()
    return total


def half_precision_ok(device: str) -> bool:
    """fp16 only on CUDA, where it is fast and well supported; CPU stays fp32."""
    return device.startswith("cuda")


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
