"""Speech to text with openai-whisper. Bundled weights are converted once from
CTranslate2 format (``whisper_convert``); audio arrives decoded by PyAV, so
whisper never shells out to ffmpeg."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..catalog import ModelSpec, resolve_path
from ..config import cache_dir
from ..inputs.audio import SAMPLE_RATE
from ..results import Segment, Transcript, Word
from .common import module_bytes

# progress(done_seconds, total_seconds, segments_so_far)
Progress = Callable[[float, float, list[Segment]], None]

_convert_lock = threading.Lock()


def converted_checkpoint(parts: list[Path], name: str) -> Path:
    """The openai-whisper checkpoint for CTranslate2 ``parts``, converted once and cached."""
    from .whisper_convert import convert

    sizes = ":".join(f"{p.name}:{p.stat().st_size}" for p in parts)
    key = hashlib.sha256(sizes.encode()).hexdigest()[:12]
    target = cache_dir() / "whisper" / f"{name}-{key}.pt"
    with _convert_lock:
        if not target.exists():
            convert(parts, target)
    return target


class WhisperModel:
    def __init__(self, model, name: str, device: str) -> None:
        self.model = model
        self.name = name
        self.device = device
        self.dtype = "float16" if device.startswith("cuda") else "float32"  # whisper's own rule (fp16 on CUDA)
        self.multilingual = bool(model.is_multilingual)

    def memory_bytes(self) -> int:
        return module_bytes(self.model)

    def close(self) -> None:
        self.model.to("cpu")
        del self.model

    def detect_language(self, audio: np.ndarray) -> str:
        """The most likely language of the first 30 s (English-only models: "en")."""
        import whisper

        if not self.multilingual:
            return "en"
        window = whisper.pad_or_trim(audio)
        mel = whisper.log_mel_spectrogram(window, self.model.dims.n_mels).to(self.model.device)
        _, probs = self.model.detect_language(mel)
        return max(probs, key=probs.get)

    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None = None,
        word_timestamps: bool = False,
        progress: Progress | None = None,
        beam_size: int | None = None,
    ) -> Transcript:
        import whisper

        if language and not self.multilingual and language != "en":
            from ..errors import InputError

            raise InputError(f"{self.name} is English-only; pick a multilingual model for '{language}'")
        duration = audio.size / SAMPLE_RATE
        started = time.perf_counter()
        language = language or self.detect_language(audio)
        options = dict(
            language=language,
            word_timestamps=word_timestamps,
            fp16=self.device.startswith("cuda"),
            verbose=False,
            condition_on_previous_text=True,
        )
        if beam_size:
            options["beam_size"] = beam_size
        with _progress_to(progress, duration):
            result = whisper.transcribe(self.model, audio, **options)
        segments = [_segment(s) for s in result["segments"]]
        return Transcript(
            text=result["text"].strip(),
            language=result.get("language") or (language or "en"),
            segments=segments,
            duration=round(duration, 3),
            seconds=round(time.perf_counter() - started, 3),
        )


def _segment(raw: dict) -> Segment:
    words = [
        Word(start=round(float(w["start"]), 2), end=round(float(w["end"]), 2), word=w["word"],
             probability=round(float(w.get("probability", 0.0)), 4))
        for w in raw.get("words", []) or []
    ]
    return Segment(start=round(float(raw["start"]), 2), end=round(float(raw["end"]), 2), text=raw["text"].strip(),
                   words=words)


# ---------------------------------------------------------------- progress
# whisper.transcribe reports progress only through a tqdm bar. A shim bar,
# installed once, forwards each update to the callback of the calling thread
# and hands it the segments decoded so far, so pages can show them as they come.
_local = threading.local()


class _ProgressBar:
    def __init__(self, *args, total: int = 0, **kwargs) -> None:
        self.total = total
        self.n = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        self.n += n
        callback = getattr(_local, "callback", None)
        if callback is None:
            return
        frame = sys._getframe(1)
        raw = frame.f_locals.get("all_segments", [])
        segments = [_segment(s) for s in raw]
        total = getattr(_local, "duration", 0.0)
        callback(min(total, self.n * 0.01), total, segments)  # whisper counts 10 ms mel frames


class _TqdmModule:
    tqdm = _ProgressBar


class _progress_to:
    def __init__(self, callback: Progress | None, duration: float) -> None:
        self.callback = callback
        self.duration = duration

    def __enter__(self):
        import importlib

        importlib.import_module("whisper.transcribe").tqdm = _TqdmModule
        _local.callback = self.callback
        _local.duration = self.duration
        return self

    def __exit__(self, *exc) -> None:
        _local.callback = None


# ---------------------------------------------------------------- loading
def load_whisper(spec: ModelSpec, device: str) -> WhisperModel:
    import whisper

    name = spec.option("whisper_name")
    if spec.source == "whisper":
        model = whisper.load_model(name, device=device)
        return WhisperModel(model, name, device)
    parts = [resolve_path(spec)]
    if spec.option("extra_path"):
        parts.append(resolve_path(spec, "extra_path", "extra_package"))
    checkpoint = converted_checkpoint(parts, name)
    model = whisper.load_model(str(checkpoint), device=device)
    if name in whisper._ALIGNMENT_HEADS:  # cross-attention heads that follow time: word timestamps
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
    return WhisperModel(model, name, device)
