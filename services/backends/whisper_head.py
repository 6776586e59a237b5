"""An int8 output head for openai-whisper's decoder on the CPU.

Each generated token multiplies the hidden state by the whole token-embedding
matrix (51,864 x d): 80 MB of float32 for tiny, read once per token, which is
most of the decoder's time on a CPU and evicts the rest of the model from the
caches. Stored as int8 with one scale per row (20 MB) and multiplied by
PyTorch's int8 weight-only kernel (``_weight_int8pack_mm``, the one torchao's
int8 weight-only mode uses on the CPU), a token costs about a third as much.
Everything else is openai-whisper's own module; only the last line of
``TextDecoder.forward`` differs. The word-error-rate cost is measured in
benchmarks/README.md ("Speech speed")."""

from __future__ import annotations

import torch
from whisper.model import TextDecoder


class Int8HeadTextDecoder(TextDecoder):
    head_weight: torch.Tensor  # int8 (n_vocab, n_state)
    head_scale: torch.Tensor  # bfloat16 (n_vocab,)

    def forward(self, x, xa, kv_cache=None):  # whisper.model.TextDecoder.forward, but for the head
        offset = next(iter(kv_cache.values())).shape[1] if kv_cache else 0
        x = self.token_embedding(x) + self.positional_embedding[offset: offset + x.shape[-1]]
        x = x.to(xa.dtype)
        for block in self.blocks:
            x = block(x, xa, mask=self.mask, kv_cache=kv_cache)
        x = self.ln(x)
        flat = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        logits = torch._weight_int8pack_mm(flat, self.head_weight, self.head_scale)
        return logits.float().reshape(*x.shape[:-1], -1)


def use_int8_head(model) -> None:
    """Quantize ``model``'s output head in place (CPU, float32 models only)."""
    decoder = model.decoder
    if isinstance(decoder, Int8HeadTextDecoder):
        return
    weight = decoder.token_embedding.weight.detach().float()
    scale = (weight.abs().amax(dim=1) / 127).clamp(min=1e-8)
    decoder.head_weight = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
    decoder.head_scale = scale.to(torch.bfloat16)
    decoder.__class__ = Int8HeadTextDecoder
