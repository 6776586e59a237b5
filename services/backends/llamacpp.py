"""GGUF chat models on llama.cpp (``xllamacpp``'s prebuilt wheel), shared by every session.

One ``xllamacpp.Server`` per model holds one copy of the weights and several
*slots* (parallel sequences): concurrent chats are decoded together in one batch
(continuous batching), each slot keeps its conversation's KV cache so a follow-up
question only pre-fills the new turn.

We talk to that embedded server over loopback HTTP with a per-process random key
(it listens on 127.0.0.1, on a free port). The in-process call cannot be
interrupted until the first token arrives, whereas closing the HTTP response
cancels the request even during a long prompt's pre-fill, so Stop always works.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..chat import Message
from ..config import llm_context, llm_prompt_cache_mb, llm_slots, llm_threads
from ..errors import InputError, ModelUnavailable
from ..results import Generation
from .generation import GenerationSettings, TextStream, drain

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.2  # an empty piece this often while nothing arrives (pages use it to notice Stop)


def llamacpp_gpu() -> bool:
    """Whether the installed xllamacpp build offloads to a GPU (the PyPI wheel is CPU only)."""
    try:
        import xllamacpp

        return any(str(d.get("type", "")).lower() not in ("cpu", "accel") and "cpu" not in str(d.get("name", "")).lower()
                   for d in xllamacpp.get_device_info())
    except Exception:
        return False


class LlamaCppChat:
    """A GGUF model served by llama.cpp in this process."""

    def __init__(self, path: Path, name: str, n_slots: int | None = None, context: int | None = None) -> None:
        import httpx
        import xllamacpp

        self.path = path
        self.name = name
        self.slots = n_slots or llm_slots()
        self.context_length = context or llm_context()
        self.device = "cpu"
        facts = _gguf_facts(path)
        self.dtype = facts["quantization"]
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = self.slots
        params.n_ctx = self.slots * self.context_length  # split evenly: one long chat cannot starve the others
        params.kv_unified = False
        params.n_batch = 256  # pre-fill in steps of 256 tokens: a cancel is seen within one step
        params.n_ubatch = 256
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = llm_threads()
        params.cache_ram_mib = llm_prompt_cache_mb()  # bounded host-memory prompt cache
        params.n_gpu_layers = 0 if not llamacpp_gpu() else -1
        params.verbosity = -1
        params.endpoint_metrics = False
        params.warmup = True
        self._key = secrets.token_urlsafe(24)
        params.api_keys = [self._key]
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:
            raise ModelUnavailable(f"llama.cpp could not load {path.name}: {exc}") from exc
        address = self._server.listening_address
        self._base = address if address.startswith("http") else f"http://{address}"
        # No keep-alive: llama.cpp closes idle connections, and reusing a closed one fails the next request.
        self._http = httpx.Client(base_url=self._base, headers={"Authorization": f"Bearer {self._key}"},
                                  timeout=httpx.Timeout(30.0, read=None),
                                  limits=httpx.Limits(max_connections=64, max_keepalive_connections=0))
        self._kv_bytes = facts["kv_bytes_per_token"] * params.n_ctx

    # ------------------------------------------------------------------ sizes
    def memory_bytes(self) -> int:
        """The weights (memory-mapped once, shared by all slots) plus every slot's KV cache."""
        return self.path.stat().st_size + self._kv_bytes

    # ------------------------------------------------------------------ tokens
    def count_tokens(self, messages: list[Message]) -> int:
        """Tokens of the chat prompt, by the model's own template and tokenizer."""
        response = self._http.post("/v1/chat/completions/input_tokens",
                                   json={"messages": [m.for_model() for m in messages]})
        response.raise_for_status()
        return int(response.json()["input_tokens"])

    def count_text_tokens(self, text: str) -> int:
        response = self._http.post("/tokenize", json={"content": text, "add_special": True})
        response.raise_for_status()
        return len(response.json()["tokens"])

    # ------------------------------------------------------------------ generation
    def stream(self, prompt: str | list[Message], settings: GenerationSettings,
               stop: threading.Event | None = None) -> TextStream:
        """Text pieces as they come (empty pieces while waiting); ``result`` at the end."""
        if isinstance(prompt, str):
            messages = [Message("user", prompt)] if settings.chat else None
            shown = prompt
        else:
            messages, shown = list(prompt), prompt[-1].content if prompt else ""
        body = _request_body(settings)
        if messages is None:
            path, body["prompt"] = "/v1/completions", prompt
        else:
            path, body["messages"] = "/v1/chat/completions", [m.for_model() for m in messages]
        holder: TextStream

        def pieces() -> Iterator[str]:
            started = time.perf_counter()
            first = 0.0
            parts: list[str] = []
            prefill: dict = {}
            final: dict = {}
            finish = ""
            # Pre-fill first, then decode: the prompt's last token is then always evaluated
            # alone, as it is when the prompt comes from the cache, so the same seed gives
            # the same answer whether or not this conversation was cached.
            for event in self._events(path, dict(body, max_tokens=0), stop):
                if event is None:
                    yield ""
                elif "timings" in event:
                    prefill = event["timings"]
            for event in self._events(path, body, stop):
                if event is None:
                    yield ""
                    continue
                choice = (event.get("choices") or [{}])[0]
                piece = (choice.get("delta") or {}).get("content") if messages is not None else choice.get("text")
                if piece:
                    if not first:
                        first = time.perf_counter() - started
                    parts.append(piece)
                    yield piece
                finish = choice.get("finish_reason") or finish
                if "timings" in event:
                    final = event["timings"]
            stopped = stop is not None and stop.is_set()
            holder.result = Generation(
                prompt=shown, text="".join(parts), tokens=int(final.get("predicted_n", len(parts))),
                seconds=round(time.perf_counter() - started, 4), first_token_seconds=round(first, 4),
                prompt_tokens=int(final.get("prompt_n", 0)) + int(final.get("cache_n", 0)),
                cached_tokens=int(prefill.get("cache_n", 0)),
                finish_reason="stopped" if stopped else {"length": "length"}.get(finish, "stop"),
            )

        holder = TextStream(pieces())
        return holder

    def generate(self, prompt, settings: GenerationSettings, stop: threading.Event | None = None) -> Generation:
        return drain(self.stream(prompt, settings, stop))

    def _events(self, path: str, body: dict, stop: threading.Event | None) -> Iterator[dict | None]:
        """Server-sent events of one request, read in a helper thread; ``None`` as a heartbeat.

        Leaving this generator early (Stop, a closed page) closes the HTTP response,
        which makes llama.cpp cancel the request, pre-fill included.
        """
        events: queue.Queue = queue.Queue()
        done = object()
        box: dict = {}

        def read() -> None:
            try:
                with self._http.stream("POST", path, json=body) as response:
                    box["response"] = response
                    if response.status_code != 200:
                        box["error"] = _error_message(response.read())
                        return
                    for line in response.iter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            events.put(json.loads(line[6:]))
            except Exception as exc:  # closed by the consumer, or the server failed
                box.setdefault("error", "" if box.get("closed") else f"{type(exc).__name__}: {exc}")
            finally:
                events.put(done)

        reader = threading.Thread(target=read, name="llamacpp-stream", daemon=True)
        reader.start()
        try:
            while True:
                if stop is not None and stop.is_set():
                    return
                try:
                    item = events.get(timeout=HEARTBEAT_SECONDS)
                except queue.Empty:
                    yield None
                    continue
                if item is done:
                    break
                yield item
            if box.get("error") and not (stop is not None and stop.is_set()):
                raise _as_error(box["error"])
        finally:
            box["closed"] = True
            response = box.get("response")
            if response is not None and reader.is_alive():
                response.close()

    def close(self) -> None:
        self._http.close()
        server, self._server = self._server, None
        del server  # joins llama.cpp's loop thread and frees the weights


def _request_body(settings: GenerationSettings) -> dict:
    greedy = settings.temperature <= 0
    body = {
        "stream": True,
        "max_tokens": settings.max_new_tokens,
        "temperature": 0.0 if greedy else settings.temperature,
        "top_p": settings.top_p,
        "repeat_penalty": settings.repetition_penalty,
        "cache_prompt": True,
        "timings_per_token": False,
    }
    if settings.seed is not None:
        body["seed"] = int(settings.seed)
    return body


def _error_message(raw: bytes) -> str:
    try:
        error = json.loads(raw).get("error", {})
        return str(error.get("message") or error)
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace")[:200]


def _as_error(message: str) -> Exception:
    lowered = message.lower()
    if "context" in lowered or "too long" in lowered or "exceed" in lowered:
        return InputError(f"The prompt does not fit the model's context: {message}")
    return RuntimeError(f"llama.cpp: {message}")


def _gguf_facts(path: Path) -> dict:
    """From the file's header, read once: its quantization (e.g. Q4_K_M, the System page's
    precision) and the bytes of f16 K and V per token of context (layers x KV heads x head size x 2 x 2)."""
    facts = {"quantization": "gguf", "kv_bytes_per_token": 0}
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
        field = reader.fields.get("general.file_type")
        if field is not None:
            facts["quantization"] = gguf.LlamaFileType(int(field.parts[-1][0])).name.replace("MOSTLY_", "")
        arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()

        def value(key: str) -> int:
            return int(reader.fields[f"{arch}.{key}"].parts[-1][0])

        heads = value("attention.head_count")
        kv_heads = value("attention.head_count_kv") if f"{arch}.attention.head_count_kv" in reader.fields else heads
        facts["kv_bytes_per_token"] = value("block_count") * kv_heads * (value("embedding_length") // heads) * 2 * 2
    except Exception:
        log.debug("could not read the GGUF header of %s", path, exc_info=True)
    return facts


def load_gguf_chat(spec, device: str):
    """llama.cpp on CPU (or a GPU build of xllamacpp); on CUDA without one, the
    transformers path on the dequantized weights, so the GPU is still used."""
    from .gguf_files import gguf_path

    path = gguf_path(spec)
    if device.startswith("cuda") and not llamacpp_gpu():
        from .generation import load_causal_lm_from_gguf

        log.info("%s: the installed llama.cpp build has no GPU; using transformers on %s", spec.id, device)
        model = load_causal_lm_from_gguf(path, device)
        model.device_note = "the installed llama.cpp build is CPU-only: transformers runs the dequantized GGUF weights"
        return model
    return LlamaCppChat(path, spec.name)
