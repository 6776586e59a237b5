"""Typed results per task, shared by pages, CLI and tests.

``to_dict`` gives exactly the JSON shape the CLI prints and the HTTP API returns
(see README); the dataclasses are the API's response schemas, so ``to_dict``
carries every field (plus derived ones such as ``tokens_per_second``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated

from pydantic import Field  # only declares JSON names for the API schema; the classes stay plain dataclasses


class _JsonMixin:
    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Prediction(_JsonMixin):
    label: str
    index: int
    score: float


@dataclass(frozen=True)
class Classification(_JsonMixin):
    file: str
    predictions: list[Prediction]
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"file": self.file, "predictions": [p.to_dict() for p in self.predictions], "seconds": self.seconds}


@dataclass(frozen=True)
class Sentiment(_JsonMixin):
    text: str
    label: str  # "NEGATIVE" | "NEUTRAL" | "POSITIVE" (a two-class model has no NEUTRAL)
    score: float  # probability of ``label``
    scores: dict[str, float] = field(default_factory=dict)  # every class's probability, in the model's order


@dataclass(frozen=True)
class Entity(_JsonMixin):
    text: str
    label: str
    start: int  # character offset into the original text
    end: int
    score: float | None  # calibrated probability that the entity is right; None where the model has none


@dataclass(frozen=True)
class EntityResult(_JsonMixin):
    text: str
    entities: list[Entity]


@dataclass(frozen=True)
class ImageExplanation(_JsonMixin):
    """Where the evidence for one class lies in a photo (``services.explain``)."""

    file: str
    label: str
    index: int
    score: float  # the model's probability of ``label``
    method: str  # "grad-cam" (the last convolution's Grad-CAM) | "occlusion"
    heatmap: list[list[float]]  # rows over the region the model saw, 0..1 (1 = strongest evidence)
    box: tuple[int, int, int, int]  # that region in photo pixels: left, top, right, bottom (the centre crop)
    width: int  # the photo's size
    height: int
    seconds: float = 0.0


@dataclass(frozen=True)
class WordAttribution(_JsonMixin):
    text: str
    start: int  # character offsets into the explained text
    end: int
    score: float  # signed, largest |score| = 1: > 0 pushes towards POSITIVE, < 0 towards NEGATIVE


@dataclass(frozen=True)
class TextExplanation(_JsonMixin):
    """Which words a sentiment decision rests on (integrated gradients, ``services.explain``)."""

    text: str
    label: str  # the model's label for the whole text
    score: float
    method: str
    words: list[WordAttribution]
    covered: int = 0  # characters of ``text`` explained: all of it, or up to the last of the first 128 tokens
    seconds: float = 0.0


@dataclass(frozen=True)
class Generation(_JsonMixin):
    prompt: str
    text: str
    tokens: int
    seconds: float
    first_token_seconds: float = 0.0
    prompt_tokens: int = 0  # tokens of the prompt the model saw (after fitting the context)
    cached_tokens: int = 0  # of which reused from the previous turn's cache (not pre-filled again)
    finish_reason: str = "stop"  # stop (end of answer) | length (max new tokens) | stopped (by the user)
    dropped_messages: int = 0  # oldest messages left out to fit the context
    model: str = ""

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "text": self.text, "tokens": self.tokens, "seconds": self.seconds,
                "first_token_seconds": self.first_token_seconds,
                "tokens_per_second": round(self.tokens_per_second, 2), "prompt_tokens": self.prompt_tokens,
                "cached_tokens": self.cached_tokens, "finish_reason": self.finish_reason, "dropped_messages": self.dropped_messages, "model": self.model}

    @property
    def tokens_per_second(self) -> float:
        """Decoding speed: tokens after the first over the time after the first (the prompt's
        pre-fill is in ``first_token_seconds``), as llama.cpp and ollama report it."""
        decoding = self.seconds - self.first_token_seconds
        if self.tokens > 1 and decoding > 0 and self.first_token_seconds > 0:
            return (self.tokens - 1) / decoding
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Word(_JsonMixin):
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment(_JsonMixin):
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "words": [w.to_dict() for w in self.words]}


@dataclass(frozen=True)
class LanguageGuess(_JsonMixin):
    language: str  # ISO 639-1 code, as Whisper names it
    probability: float


@dataclass(frozen=True)
class Transcript(_JsonMixin):
    text: str
    language: str
    segments: list[Segment]
    duration: float = 0.0
    seconds: float = 0.0  # processing time
    file: str = ""
    task: str = "transcribe"  # or "translate" (to English)
    # Whisper's language detection, best first (empty when the language was given or the model is English-only)
    language_probabilities: list[LanguageGuess] = field(default_factory=list)
    complete: bool = True  # False: stopped early; the segments cover the audio up to ``covered``
    stopped: str = ""  # "", "budget" (the time budget ran out) or "cancelled"
    covered: float = 0.0  # seconds of audio the segments account for
    budget_seconds: float = 0.0  # the most this request was allowed to take
    notes: list[str] = field(default_factory=list)  # what a user should know (unsure language, stopped early)

    @property
    def real_time_factor(self) -> float:
        """Processing time over audio length: below 1 is faster than real time."""
        return round(self.seconds / self.duration, 4) if self.duration > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "text": self.text,
            "language": self.language,
            "task": self.task,
            "language_probabilities": [g.to_dict() for g in self.language_probabilities],
            "segments": [s.to_dict() for s in self.segments],
            "duration": self.duration,
            "seconds": self.seconds,
            "real_time_factor": self.real_time_factor,
            "complete": self.complete,
            "stopped": self.stopped,
            "covered": self.covered,
            "budget_seconds": self.budget_seconds,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Detection(_JsonMixin):
    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original-image pixels

    def to_dict(self) -> dict:
        return {"label": self.label, "score": self.score, "box": [round(v, 1) for v in self.box]}


@dataclass(frozen=True)
class DetectionResult(_JsonMixin):
    file: str
    width: int
    height: int
    detections: list[Detection]
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "width": self.width,
            "height": self.height,
            "detections": [d.to_dict() for d in self.detections],
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class TrackedObject(_JsonMixin):
    """One tracked box in one frame."""

    track_id: int
    label: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Track(_JsonMixin):
    """One object followed through a clip; ``label`` is its most frequent class."""

    id: int
    label: str
    first_s: float
    last_s: float
    frames: int  # analysed frames it was seen in

    @property
    def duration_s(self) -> float:
        return round(self.last_s - self.first_s, 3)


@dataclass(frozen=True)
class LineCount(_JsonMixin):
    """Crossings of the counting line: "in" downwards (or rightwards), "out" the other way."""

    inward: Annotated[int, Field(serialization_alias="in")] = 0
    outward: Annotated[int, Field(serialization_alias="out")] = 0

    def to_dict(self) -> dict:
        return {"in": self.inward, "out": self.outward}


@dataclass(frozen=True)
class VideoTracks:
    """Unique objects in a clip: the tracks, their counts per class and the line crossings.

    ``seconds`` is the length of the clip analysed; ``processing_seconds`` the time it took."""

    file: str
    fps: float
    frames: int  # frames analysed
    seconds: float
    counts: dict[str, int]
    line: dict[str, LineCount] | None
    tracks: list[Track]
    width: int = 0
    height: int = 0
    every: int = 1
    processing_seconds: float = 0.0
    timeline: list[dict] = field(default_factory=list)  # per second: {"second", label: most in view at once}
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "file": self.file, "fps": self.fps, "frames": self.frames, "seconds": self.seconds,
            "counts": self.counts,
            "line": None if self.line is None else {k: v.to_dict() for k, v in self.line.items()},
            "tracks": [t.to_dict() for t in self.tracks],
            "width": self.width, "height": self.height, "every": self.every,
            "processing_seconds": self.processing_seconds,
            "timeline": self.timeline, "notes": self.notes,
        }


def to_json(result: object) -> object:
    """Results (or lists of them) as plain JSON data."""
    if isinstance(result, list):
        return [to_json(r) for r in result]
    return result.to_dict() if hasattr(result, "to_dict") else result
