"""Speech to text with openai-whisper. Bundled weights are converted once from
CTranslate2 format (``whisper_convert``); audio arrives decoded by PyAV, so
whisper never shells out to ffmpeg."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..catalog import ModelSpec, resolve_path
from ..config import LIMITS, cache_dir
from ..inputs.audio import SAMPLE_RATE
from ..results import LanguageGuess, Segment, Transcript, Word
from .common import module_bytes
from .whisper_budget import Stopped, WorkBudget, install_budget_hook
from .whisper_pieces import Piece, as_loud_as, cut_pieces, is_silent

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


TASKS = ("transcribe", "translate")
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)  # whisper's own, after the first (0.0) pass
# Whisper's hallucination guards (its transcribe() defaults, named here because we apply them per piece)
COMPRESSION_RATIO_MAX = 2.4  # more repetitive than this: decoded again, hotter
LOGPROB_MIN = -1.0  # less likely than this on average: decoded again, hotter
NO_SPEECH_MIN = 0.6  # with a low log probability too: the piece is silence, nothing is kept
UNSURE_LANGUAGE = 0.6  # a detected language below this probability gets a note
# Speech runs at 2-5 tokens a second; a decode that needs more is looping ("the the the..."): capped
TOKENS_PER_SECOND_MAX = 8
TOKENS_MIN = 32
COVERED_SLACK_S = 1.0  # a one-pass decode may leave this much of its piece's end undone
RECHECK_TAIL_S = 3.0  # after "speech over", a loud rest this long is decoded again


def batch_windows() -> int:
    """``WHISPER_BATCH_WINDOWS``: pieces of a long file decoded together (1 = one at a time)."""
    raw = os.environ.get("WHISPER_BATCH_WINDOWS", "").strip()
    return max(1, int(raw)) if raw else 8


class WhisperModel:
    """openai-whisper over pieces of audio cut at pauses: batched, bounded in time, cancellable."""

    def __init__(self, model, name: str, device: str, int8_head: bool = False) -> None:
        self.model = model
        self.name = name
        self.device = device
        self.fp16 = device.startswith("cuda")  # whisper's own rule (fp16 on CUDA)
        self.dtype = "float16" if self.fp16 else ("float32, int8 output head" if int8_head else "float32")
        self.multilingual = bool(model.is_multilingual)
        self._lock = threading.Lock()  # whisper's kv-cache hooks live on the module: one decode at a time
        install_budget_hook(model)

    def memory_bytes(self) -> int:
        return module_bytes(self.model)

    def close(self) -> None:
        self.model.to("cpu")
        del self.model

    # ------------------------------------------------------------ public
    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None = None,
        word_timestamps: bool = False,
        progress: Progress | None = None,
        beam_size: int | None = None,
        task: str = "transcribe",
        languages: Sequence[str] = (),
        budget_seconds: float | None = None,
        cancel: threading.Event | None = None,
        batch: int | None = None,
    ) -> Transcript:
        """``languages`` restricts auto-detection to these codes; ``budget_seconds`` (default from
        ``LIMITS``) bounds the whole request: past it, or on ``cancel``, what is done is returned."""
        language, candidates = check_request(self.name, self.multilingual, language, task, languages)
        duration = audio.size / SAMPLE_RATE
        allowed = budget_seconds if budget_seconds is not None else LIMITS.transcribe_budget(duration)
        run = _Run(self, audio, task, word_timestamps, beam_size, progress, duration)
        budget = WorkBudget(allowed, cancel, heartbeat=run.beat)
        with budget:
            try:
                run.go(language, candidates, batch or batch_windows())
            except Stopped as stop:
                run.stopped = stop.reason
        return run.result(budget)


def check_request(name: str, multilingual: bool, language: str | None, task: str,
                  languages: Sequence[str]) -> tuple[str | None, tuple[str, ...]]:
    """The language code (or None: detect), the detection's candidates; ``InputError`` for what the
    model cannot do (another language or translation on an English-only model) or unknown codes."""
    from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE

    from ..errors import InputError

    if task not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    if task == "translate" and not multilingual:
        raise InputError(f"Whisper {name} is English-only and cannot translate; pick a multilingual "
                         "model such as whisper-base")

    def code(value: str) -> str:
        value = value.strip().lower()
        found = value if value in LANGUAGES else TO_LANGUAGE_CODE.get(value)
        if found is None:
            raise InputError(f"unknown language {value!r}; use a code such as en, de, fr")
        return found

    language = code(language) if language else None
    candidates = tuple(dict.fromkeys(code(c) for c in languages if c.strip()))
    if not multilingual and ((language or "en") != "en" or set(candidates) - {"en"}):
        raise InputError(f"Whisper {name} is English-only; pick a multilingual model for other languages")
    return language, candidates


def ranked_guesses(probs: dict[str, float], candidates: Sequence[str]) -> list[LanguageGuess]:
    """The five likeliest languages, among ``candidates`` when given, renormalised over them."""
    if candidates:
        probs = {c: probs.get(c, 0.0) for c in candidates}
    total = sum(probs.values()) or 1.0
    ranked = sorted(probs.items(), key=lambda kv: kv[1], reverse=True)[:5]
    return [LanguageGuess(code, round(p / total, 4)) for code, p in ranked]


def notes_for(guesses: list[LanguageGuess], language: str, stopped: str, elapsed: float, duration: float,
              covered: float) -> list[str]:
    """What a user should be told about a transcript, the same for every engine."""
    notes = []
    if guesses and guesses[0].probability < UNSURE_LANGUAGE:
        named = ", ".join(f"{g.language} {g.probability:.0%}" for g in guesses[:3])
        notes.append(f"Language detection is unsure ({named}): if the speech is not '{language}', name its "
                     "language or list the expected ones.")
    if stopped == "budget":
        notes.append(f"Stopped after {elapsed:.1f} s, the time budget for {duration:.0f} s of audio: the "
                     f"transcript covers the first {covered:.0f} s. (TRANSCRIBE_BUDGET_FACTOR allows slow models more.)")
    elif stopped == "cancelled":
        notes.append(f"Cancelled: the transcript covers the first {covered:.0f} s of {duration:.0f} s.")
    return notes


class _Run:
    """One request's state: what is decoded so far survives a stop."""

    def __init__(self, owner: WhisperModel, audio, task, word_timestamps, beam_size, progress, duration) -> None:
        self.owner = owner
        self.model = owner.model
        self.audio = audio
        self.task = task
        self.words = word_timestamps
        self.beam_size = beam_size
        self.progress = progress
        self.duration = duration
        self.language = "en"
        self.guesses: list[LanguageGuess] = []
        self.segments: list[Segment] = []
        self.covered = 0.0
        self.stopped = ""
        self.pieces = 0
        self.unsure_pieces = 0

    def beat(self) -> None:
        if self.progress is not None:
            self.progress(self.covered, self.duration, self.segments)

    def go(self, language: str | None, candidates: tuple[str, ...], batch: int) -> None:
        pieces = cut_pieces(self.audio)
        spoken = [p for p in pieces if not is_silent(p.samples(self.audio))]
        self.pieces = len(spoken)
        if language is not None or not self.owner.multilingual:
            self.language = language or "en"
        elif spoken:
            self.language = self.detect(spoken[0], candidates)
        queue = deque(spoken)
        while queue:
            group = [queue.popleft() for _ in range(min(batch, len(queue)))]
            with self.owner._lock:
                found, rest = self.decode_batch(group)
            queue.extendleft(reversed(rest))  # what a decode left undone goes first, as whisper's seek would
            self.segments = sorted(self.segments + found, key=lambda segment: segment.start)
            self.covered = queue[0].start if queue else self.duration
            self.beat()

    # ------------------------------------------------------------ steps
    def mel(self, piece: Piece):
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(piece.samples(self.audio)), self.model.dims.n_mels)
        return mel.to(self.model.device).to(torch.float16 if self.owner.fp16 else torch.float32)

    def detect(self, piece: Piece, candidates: tuple[str, ...]) -> str:
        """Whisper's language identification on the first spoken piece, restricted to ``candidates``."""
        with self.owner._lock, torch.inference_mode():
            _, probs = self.model.detect_language(self.mel(piece))
        self.guesses = ranked_guesses(probs, candidates)
        return self.guesses[0].language

    def decode_batch(self, pieces: list[Piece]) -> tuple[list[Segment], list[Piece]]:
        """One greedy pass over several pieces at once: their segments, and the pieces still to do.
        A piece whose decode fails Whisper's guards is decoded again alone, by whisper.transcribe with
        temperature fallback; one whose decode stopped short of its end leaves the rest as a new piece."""
        import whisper
        from whisper.timing import add_word_timestamps

        mels = torch.stack([self.mel(p) for p in pieces])
        with torch.inference_mode():
            features = self.model.encoder(mels)
            options = whisper.DecodingOptions(task=self.task, language=self.language, fp16=self.owner.fp16,
                                              temperature=0.0, beam_size=self.beam_size,
                                              sample_len=_token_cap(max(p.duration for p in pieces)))
            results = self.model.decode(features, options)
        tokenizer = whisper.tokenizer.get_tokenizer(self.model.is_multilingual, num_languages=self.model.num_languages,
                                                    language=self.language, task=self.task)
        found: list[Segment] = []
        rest: list[Piece] = []
        for piece, mel, result in zip(pieces, mels, results):
            if result.no_speech_prob > NO_SPEECH_MIN and result.avg_logprob < LOGPROB_MIN:
                continue  # silence
            raw = _raw_segments(result.tokens, tokenizer, piece.duration)
            if not raw:
                continue  # nothing said
            if result.compression_ratio > COMPRESSION_RATIO_MAX or result.avg_logprob < LOGPROB_MIN:
                found.extend(self.decode_sequential(piece, FALLBACK_TEMPERATURES))
                continue
            tail = self.unfinished(result.tokens, raw, piece, tokenizer)
            if tail is not None and tail.start - piece.start < COVERED_SLACK_S:
                found.extend(self.decode_sequential(piece))  # no headway: whisper's own loop takes the piece
                continue
            if tail is not None:
                rest.append(tail)
            if self.words and raw:
                add_word_timestamps(segments=raw, model=self.model, tokenizer=tokenizer, mel=mel,
                                    num_frames=int(piece.duration * 100), last_speech_timestamp=0.0)
            found.extend(_segment(r, piece.start) for r in raw if r["text"].strip())
        return found, rest

    def unfinished(self, tokens: list[int], segments: list[dict], piece: Piece, tokenizer) -> Piece | None:
        """The part of ``piece`` a one-pass decode left undone. Output ending on a timestamp pair stopped
        mid-window (whisper's seek goes on from there); output ending on a single timestamp says the
        speech is over, which greedy decoding sometimes says too early (a pause, a new voice): the rest
        is decoded again when it is seconds long and about as loud as the speech before it."""
        begin = tokenizer.timestamp_begin
        tail = Piece(round(piece.start + segments[-1]["end"], 3), piece.end)
        if tail.duration <= COVERED_SLACK_S or is_silent(tail.samples(self.audio)):
            return None
        if len(tokens) >= 2 and tokens[-1] >= begin > tokens[-2]:
            spoken = Piece(piece.start, tail.start)
            if tail.duration < RECHECK_TAIL_S or not as_loud_as(tail.samples(self.audio), spoken.samples(self.audio)):
                return None
        return tail

    def decode_sequential(self, piece: Piece, temperatures=(0.0, *FALLBACK_TEMPERATURES)) -> list[Segment]:
        import whisper

        result = whisper.transcribe(
            self.model, piece.samples(self.audio), language=self.language, task=self.task,
            temperature=temperatures, word_timestamps=self.words, fp16=self.owner.fp16, verbose=None,
            condition_on_previous_text=False, compression_ratio_threshold=COMPRESSION_RATIO_MAX,
            logprob_threshold=LOGPROB_MIN, no_speech_threshold=NO_SPEECH_MIN, beam_size=self.beam_size,
            hallucination_silence_threshold=2.0 if self.words else None, sample_len=_token_cap(piece.duration),
        )
        failed = [s for s in result["segments"]
                  if s["compression_ratio"] > COMPRESSION_RATIO_MAX or s["avg_logprob"] < LOGPROB_MIN]
        if failed:
            self.unsure_pieces += 1
        return [_segment(s, piece.start) for s in result["segments"] if s["text"].strip()]

    # ------------------------------------------------------------ result
    def result(self, budget: WorkBudget) -> Transcript:
        notes = notes_for(self.guesses, self.language, self.stopped, budget.elapsed, self.duration, self.covered)
        if self.unsure_pieces:
            notes.append(f"On {self.unsure_pieces} of {self.pieces} pieces the output stayed repetitive or "
                         "unlikely after every retry: the language may be wrong, or the audio may not be speech.")
        if not self.pieces:
            notes.append("No speech found: the audio is silent.")
        return Transcript(
            text=" ".join(s.text for s in self.segments).strip(),
            language=self.language,
            segments=list(self.segments),
            duration=round(self.duration, 3),
            seconds=round(budget.elapsed, 3),
            task=self.task,
            language_probabilities=list(self.guesses),
            complete=not self.stopped,
            stopped=self.stopped,
            covered=round(self.covered if self.stopped else self.duration, 3),
            budget_seconds=round(budget.seconds, 3),
            notes=notes,
        )


def _token_cap(seconds: float) -> int:
    return min(224, max(TOKENS_MIN, int(TOKENS_PER_SECOND_MAX * seconds)))  # 224: whisper's own limit


def _raw_segments(tokens: list[int], tokenizer, duration: float) -> list[dict]:
    """Whisper's <|t|> text <|t|> output as whisper.transcribe's segment dicts, in seconds of the piece."""
    begin = tokenizer.timestamp_begin
    segments: list[dict] = []
    start = 0.0
    text: list[int] = []

    def close(end: float) -> None:
        kept = [t for t in text if t < tokenizer.eot]
        if kept:
            segments.append({"seek": 0, "start": start, "end": min(end, duration), "tokens": kept,
                             "text": tokenizer.decode(kept)})

    for token in tokens:
        if token >= begin:
            at = (token - begin) * 0.02
            if text:
                close(at)
                text = []
            start = at
        else:
            text.append(token)
    if text:
        close(duration)
    return segments


def _segments_from_tokens(tokens: list[int], tokenizer, piece: Piece) -> list[Segment]:
    return [_segment(r, piece.start) for r in _raw_segments(tokens, tokenizer, piece.duration) if r["text"].strip()]


def _segment(raw: dict, offset: float = 0.0) -> Segment:
    words = [
        Word(start=round(offset + float(w["start"]), 2), end=round(offset + float(w["end"]), 2), word=w["word"],
             probability=round(float(w.get("probability", 0.0)), 4))
        for w in raw.get("words", []) or []
    ]
    return Segment(start=round(offset + float(raw["start"]), 2), end=round(offset + float(raw["end"]), 2),
                   text=raw["text"].strip(), words=words)


# ---------------------------------------------------------------- loading
def int8_head_enabled() -> bool:
    """``WHISPER_INT8_HEAD=0`` keeps the float32 output head on the CPU (the default quantizes it)."""
    return os.environ.get("WHISPER_INT8_HEAD", "1").strip() != "0"


def load_whisper(spec: ModelSpec, device: str) -> WhisperModel:
    import whisper

    name = spec.option("whisper_name")
    if spec.source == "whisper":
        model = whisper.load_model(name, device=device)
    else:
        parts = [resolve_path(spec)]
        if spec.option("extra_path"):
            parts.append(resolve_path(spec, "extra_path", "extra_package"))
        model = whisper.load_model(str(converted_checkpoint(parts, name)), device=device)
        if name in whisper._ALIGNMENT_HEADS:  # cross-attention heads that follow time: word timestamps
            model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
    int8_head = device == "cpu" and int8_head_enabled()
    if int8_head:
        from .whisper_head import use_int8_head

        use_int8_head(model)
    return WhisperModel(model, name, device, int8_head=int8_head)
