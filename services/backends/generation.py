"""Causal language models through transformers: hub models, and the GPU path for
the bundled GGUF files (dequantized once, cached as safetensors) when the
installed llama.cpp has no GPU. Generation is a small explicit loop so each
request has its own random generator (same seed -> same text, even while other
sessions generate), streams text as it comes, and stops when asked."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..catalog import ModelSpec, resolve_path
from ..chat import Message
from ..config import cache_dir, llm_context
from ..results import Generation
from .common import TorchModel, inference_dtype

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling controls; ``temperature`` 0 means greedy decoding."""

    max_new_tokens: int = 128
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    seed: int | None = None
    chat: bool = True


class TextStream:
    """Iterate for text pieces as they are generated; ``result`` is set at the end.

    A piece may be empty: a heartbeat while the model is still reading the prompt,
    so a page can notice Stop. ``dropped`` is known before the first piece: how
    many old messages were left out to fit the context.
    """

    def __init__(self, pieces: Iterator[str], dropped: int = 0, on_close=None) -> None:
        self._pieces = pieces
        self.result: Generation | None = None
        self.dropped = dropped
        self._on_close = on_close

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    def close(self) -> None:
        """End the stream early (or before it began), releasing what it holds."""
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()
        if self._on_close is not None:
            self._on_close()


def drain(stream: TextStream) -> Generation:
    """Run a stream to its end and return its result (the non-streaming call)."""
    for _ in stream:
        pass
    assert stream.result is not None
    return stream.result


class CausalLM(TorchModel):
    def __init__(self, module, tokenizer, device: str) -> None:
        super().__init__(module, device)
        self.tokenizer = tokenizer
        self.dtype = generation_dtype(device)
        self.module.to(self.dtype)
        eos = module.generation_config.eos_token_id if module.generation_config else None
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        if tokenizer.eos_token_id is not None:
            eos.append(tokenizer.eos_token_id)
        self.eos_ids = set(eos)
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        self.context_length = min(int(getattr(module.config, "max_position_embeddings", 2048) or 2048), llm_context())
        self._cache_name: str | None = None

    def encode(self, prompt: "str | list[Message]", chat: bool) -> torch.Tensor:
        if isinstance(prompt, list) or (chat and self.has_chat_template):
            messages = prompt if isinstance(prompt, list) else [Message("user", prompt)]
            if not self.has_chat_template:  # a base model: a plain transcript
                text = "\n".join(f"{m.role}: {m.content}" for m in messages) + "\nassistant:"
                return self.tokenizer(text, return_tensors="pt")["input_ids"]
            ids = self.tokenizer.apply_chat_template([m.for_model() for m in messages], add_generation_prompt=True,
                                                     return_tensors="pt")
            ids = ids["input_ids"] if not isinstance(ids, torch.Tensor) else ids
        else:
            ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"]
        return ids

    def count_tokens(self, messages: "list[Message]") -> int:
        return int(self.encode(list(messages), True).shape[-1])

    def count_text_tokens(self, text: str) -> int:
        return int(self.encode(text, False).shape[-1])

    def stream(self, prompt: "str | list[Message]", settings: GenerationSettings,
               stop: threading.Event | None = None) -> TextStream:
        holder: TextStream
        shown = prompt if isinstance(prompt, str) else (prompt[-1].content if prompt else "")

        def pieces() -> Iterator[str]:
            started = time.perf_counter()
            first = 0.0
            text = ""
            count = 0
            prompt_tokens = 0
            for text_so_far, count, prompt_tokens in self._generate(prompt, settings, stop):
                if not first:
                    first = time.perf_counter() - started
                delta = text_so_far[len(text) :]
                text = text_so_far
                if delta:
                    yield delta
            stopped = stop is not None and stop.is_set()
            holder.result = Generation(
                prompt=shown, text=text, tokens=count, seconds=round(time.perf_counter() - started, 4),
                first_token_seconds=round(first, 4), prompt_tokens=prompt_tokens,
                finish_reason="stopped" if stopped else "length" if count >= settings.max_new_tokens else "stop",
            )

        holder = TextStream(pieces())
        return holder

    def generate(self, prompt, settings: GenerationSettings, stop: threading.Event | None = None) -> Generation:
        return drain(self.stream(prompt, settings, stop))

    def _cache_kwargs(self, out) -> dict:
        """The key/value cache of the last step, under the name this transformers uses."""
        if self._cache_name is None:
            import inspect

            params = inspect.signature(self.module.forward).parameters
            self._cache_name = "cache" if "cache" in params else "past_key_values"
        cache = getattr(out, "cache", None)
        if cache is None:
            cache = out.past_key_values
        return {self._cache_name: cache}

    @torch.inference_mode()
    def _generate(self, prompt, settings: GenerationSettings, stop) -> Iterator[tuple[str, int, int]]:
        """Yields (text so far, tokens so far, prompt tokens) after each new token."""
        from transformers.generation.logits_process import (
            LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopPLogitsWarper,
        )

        ids = self.encode(prompt, settings.chat).to(self.device)
        prompt_tokens = int(ids.shape[-1])
        greedy = settings.temperature <= 0
        processors = LogitsProcessorList()
        if settings.repetition_penalty and settings.repetition_penalty != 1.0:
            processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
        if not greedy:
            processors.append(TemperatureLogitsWarper(settings.temperature))
            if 0 < settings.top_p < 1:
                processors.append(TopPLogitsWarper(settings.top_p))
        generator = torch.Generator(device=self.device)
        generator.manual_seed(settings.seed if settings.seed is not None else int.from_bytes(os.urandom(4), "little"))

        all_ids = ids
        new: list[int] = []
        out = self.module(input_ids=ids, use_cache=True)
        for _ in range(settings.max_new_tokens):
            if stop is not None and stop.is_set():
                break
            scores = processors(all_ids, out.logits[:, -1, :].float())
            if greedy:
                token = scores.argmax(dim=-1, keepdim=True)
            else:
                token = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)
            token_id = int(token)
            if token_id in self.eos_ids:
                break
            new.append(token_id)
            all_ids = torch.cat([all_ids, token], dim=-1)
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                yield text, len(new), prompt_tokens
            out = self.module(input_ids=token, **self._cache_kwargs(out), use_cache=True)
        yield self.tokenizer.decode(new, skip_special_tokens=True), len(new), prompt_tokens


def generation_dtype(device: str) -> torch.dtype:
    """``inference_dtype``: on a bf16 CPU this halves the time per token with unchanged
    perplexity (65.87 vs 65.89 for SmolLM2-135M on our README text). ``GENERATION_DTYPE``
    overrides ``MODEL_DTYPE`` for the language model alone."""
    return inference_dtype(device, override_env="GENERATION_DTYPE")


def load_causal_lm(spec: ModelSpec, device: str) -> CausalLM:
    """A hub causal LM, or a bundled GGUF file dequantized once (``hf_causal_lm`` entries)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec.source != "hub":
        return load_causal_lm_from_gguf(resolve_path(spec), device)
    folder = spec.option("repo")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=generation_dtype(device))
    return CausalLM(model, tokenizer, device)


def load_causal_lm_from_gguf(path: Path, device: str) -> CausalLM:
    """A GGUF file through transformers (dequantized once): the GPU path when llama.cpp has none."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    folder = str(dequantized_gguf(path))
    # Our own converted folder always holds a fast tokenizer.json; naming the class
    # skips AutoTokenizer's first-use imports (1.4 s of a 2.2 s load).
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=generation_dtype(device))
    return CausalLM(model, tokenizer, device)


_convert_lock = threading.Lock()


def dequantized_gguf(gguf_path: Path) -> Path:
    """A safetensors copy of a GGUF model, made once (~16 s) and reused (<1 s)."""
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.name}:{stat.st_size}".encode()).hexdigest()[:12]
    target = cache_dir() / "gguf" / f"{gguf_path.stem}-{key}"
    with _convert_lock:
        if (target / "model.safetensors").exists():
            return target
        log.info("dequantizing %s once into %s", gguf_path.name, target)
        from safetensors.torch import save_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        folder, name = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        save_model(model, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        return target
