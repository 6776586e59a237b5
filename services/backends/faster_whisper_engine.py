"""The same bundled Whisper weights on faster-whisper (CTranslate2, int8 on the CPU), for users
who prefer that engine. It answers exactly like ``WhisperModel``: language candidates, translation,
a time budget, Cancel and progress, all checked between the segments faster-whisper yields (a
30-second window is the longest it cannot be interrupted)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from ..catalog import ModelSpec, resolve_path
from ..config import LIMITS
from ..inputs.audio import SAMPLE_RATE
from ..results import Segment, Transcript, Word
from .transcription import COMPRESSION_RATIO_MAX, LOGPROB_MIN, NO_SPEECH_MIN, Progress, check_request, notes_for, \
    ranked_guesses
from .whisper_budget import Stopped, WorkBudget


class FasterWhisperModel:
    def __init__(self, model, name: str, device: str, compute_type: str, size_bytes: int) -> None:
        self.model = model
        self.name = name
        self.device = device
        self.dtype = compute_type
        self.multilingual = bool(model.model.is_multilingual)
        self._size = size_bytes

    def memory_bytes(self) -> int:
        return self._size  # CTranslate2 holds the weights outside PyTorch: their file size

    def close(self) -> None:
        del self.model

    def transcribe(self, audio: np.ndarray, language: str | None = None, word_timestamps: bool = False,
                   progress: Progress | None = None, beam_size: int | None = None, task: str = "transcribe",
                   languages: Sequence[str] = (), budget_seconds: float | None = None,
                   cancel: threading.Event | None = None, batch: int | None = None) -> Transcript:
        language, candidates = check_request(self.name, self.multilingual, language, task, languages)
        duration = audio.size / SAMPLE_RATE
        segments: list[Segment] = []
        covered, stopped, guesses = 0.0, "", []
        budget = WorkBudget(budget_seconds if budget_seconds is not None else LIMITS.transcribe_budget(duration),
                            cancel, heartbeat=lambda: progress and progress(covered, duration, segments))
        try:
            if language is None and self.multilingual:
                _, _, probs = self.model.detect_language(audio)
                guesses = ranked_guesses(dict(probs), candidates)
                language = guesses[0].language
            language = language or "en"
            found, _ = self.model.transcribe(
                audio, language=language, task=task, beam_size=beam_size or 5, word_timestamps=word_timestamps,
                condition_on_previous_text=False, compression_ratio_threshold=COMPRESSION_RATIO_MAX,
                log_prob_threshold=LOGPROB_MIN, no_speech_threshold=NO_SPEECH_MIN)
            for raw in found:  # each window is decoded when the generator is advanced
                budget.check()
                segments.append(_segment(raw))
                covered = min(duration, float(raw.end))
                if progress is not None:
                    progress(covered, duration, segments)
            covered = duration
        except Stopped as stop:
            stopped = stop.reason
        return Transcript(
            text=" ".join(s.text for s in segments).strip(), language=language or "en", segments=segments,
            duration=round(duration, 3), seconds=round(budget.elapsed, 3), task=task,
            language_probabilities=guesses, complete=not stopped, stopped=stopped, covered=round(covered, 3),
            budget_seconds=round(budget.seconds, 3),
            notes=notes_for(guesses, language or "en", stopped, budget.elapsed, duration, covered))


def _segment(raw) -> Segment:
    words = [Word(start=round(w.start, 2), end=round(w.end, 2), word=w.word, probability=round(w.probability, 4))
             for w in raw.words or []]
    return Segment(start=round(raw.start, 2), end=round(raw.end, 2), text=raw.text.strip(), words=words)


def load_faster_whisper(spec: ModelSpec, device: str) -> FasterWhisperModel:
    from faster_whisper import WhisperModel as CTranslate2Whisper

    weights = resolve_path(spec)
    cuda = device.startswith("cuda")
    compute_type = "float16" if cuda else "int8"
    model = CTranslate2Whisper(str(weights.parent), device="cuda" if cuda else "cpu", compute_type=compute_type,
                               cpu_threads=torch.get_num_threads())
    return FasterWhisperModel(model, spec.option("whisper_name"), device, compute_type, weights.stat().st_size)
