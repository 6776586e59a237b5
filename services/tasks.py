"""The one task interface: what every caller (pages, CLI, HTTP API, benchmarks, tests) may ask.

Two implementations: ``services.local.LocalTasks`` (models in this process, through
the manager) and ``services.remote.RayTasks`` (Ray Serve deployments). ``services.api``
picks one once from ``SERVICES_BACKEND``. Adding a task means one abstract method
here and one method in each implementation; nothing else branches on the backend.
"""

from __future__ import annotations

import dataclasses
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import chat
from .catalog import Catalog, check_availability
from .config import LIMITS
from .errors import InputError
from .inputs.images import ImageSource
from .results import (Classification, DetectionResult, EntityResult, Generation, ImageExplanation, Sentiment,
                      TextExplanation, Transcript)
from .tiling import Tiling

NamedImage = tuple[str, ImageSource]  # (file name shown to the user, data)
TranscribeProgress = Callable[[float, float, list], None]  # (done s, total s, segments so far)


@dataclass(frozen=True)
class ModelInfo:
    """One catalog entry as ``python -m services models`` and ``GET /v1/models`` show it."""

    id: str
    task: str
    name: str
    default: bool
    source: str
    licence: str
    size_mb: float
    available: bool
    reason: str  # where the weights come from, or why they cannot be used here

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BackendSummary:
    """What the sidebar and the System page say about where models run."""

    backend: str  # "in-process" | "Ray Serve"
    device: str
    loaded: list[str]
    memory_mb: float
    budget_mb: float | None


def generation_settings(**kwargs):
    """Validated ``GenerationSettings`` (the limits come from ``config``)."""
    from .backends.generation import GenerationSettings

    settings = GenerationSettings(**kwargs)
    if not 1 <= settings.max_new_tokens <= LIMITS.max_new_tokens:
        raise InputError(f"max new tokens must be between 1 and {LIMITS.max_new_tokens}.")
    if not 0 <= settings.temperature <= 5:
        raise InputError("temperature must be between 0 and 5.")
    if not 0 < settings.top_p <= 1:
        raise InputError("top-p must be in (0, 1].")
    if not 0.5 <= settings.repetition_penalty <= 3:
        raise InputError("repetition penalty must be between 0.5 and 3.")
    return settings


def named_images(images: Sequence[NamedImage | str | Path]) -> list[NamedImage]:
    """Paths get their file name; an empty or too large request is refused."""
    named = [(Path(i).name, i) if isinstance(i, (str, Path)) else i for i in images]
    if not named:
        raise InputError("No image was given.")
    if len(named) > LIMITS.max_images_per_request:
        raise InputError(f"{len(named)} images at once; the limit is {LIMITS.max_images_per_request}.")
    return named


def as_messages(messages) -> list[chat.Message]:
    """``chat.Message`` objects, from those or from ``{"role", "content"}`` dicts."""
    return [m if isinstance(m, chat.Message) else chat.message(m["role"], m["content"], i)
            for i, m in enumerate(messages)]


class Tasks(ABC):
    """Every task, with its inputs validated and typed results (``services.results``)."""

    catalog: Catalog

    # ------------------------------------------------------------------ tasks
    @abstractmethod
    def classify(self, images: Sequence[NamedImage | str | Path], model: str | None = None,
                 top_k: int = 5) -> list[Classification]:
        """Top-k ImageNet classes per image (at most ``MAX_IMAGES_PER_REQUEST`` at once)."""

    @abstractmethod
    def sentiment(self, texts: str | Sequence[str], model: str | None = None) -> list[Sentiment]:
        """POSITIVE/NEGATIVE with a calibrated probability, one per text."""

    @abstractmethod
    def explain_image(self, image: NamedImage | str | Path, model: str | None = None,
                      index: int | None = None) -> ImageExplanation:
        """Where the evidence for class ``index`` (default: the top class) lies in the photo."""

    @abstractmethod
    def explain_sentiment(self, text: str, model: str | None = None) -> TextExplanation:
        """Each word's push towards POSITIVE or NEGATIVE (integrated gradients)."""

    @abstractmethod
    def entities(self, texts: str | Sequence[str], model: str | None = None) -> list[EntityResult]:
        """Named entities with character offsets into each (cleaned) text."""

    @abstractmethod
    def complete_stream(self, prompt: str, settings, model: str | None = None,
                        stop: threading.Event | None = None):
        """Plain continuation of ``prompt`` (no chat template), as a ``TextStream``."""

    @abstractmethod
    def chat_stream(self, messages, settings=None, model: str | None = None, stop: threading.Event | None = None):
        """The model's answer to a conversation ending with the user's turn, as a ``TextStream``.

        The oldest whole turns are dropped when it no longer fits the context
        (``stream.dropped``, known before the first piece); a last message too long
        to fit at all raises ``InputError`` here, not mid-stream."""

    @abstractmethod
    def transcribe(self, audio: bytes | str | Path, model: str | None = None, language: str | None = None,
                   word_timestamps: bool = False, progress: TranscribeProgress | None = None,
                   name: str = "audio", task: str = "transcribe", languages: Sequence[str] = (),
                   budget_seconds: float | None = None, cancel: threading.Event | None = None) -> Transcript:
        """Speech to text (``task="translate"``: to English); ``progress(done_s, total_s, segments)`` is
        called as pieces finish and about once a second between. ``languages`` restricts language
        detection; past ``budget_seconds`` (default: ``LIMITS.transcribe_budget``) or on ``cancel`` the
        transcript so far comes back with ``complete=False``."""

    @abstractmethod
    def detect(self, images: Sequence[NamedImage | str | Path], model: str | None = None, threshold: float = 0.35,
               classes: Sequence[str] | None = None, tiling: Tiling | None = None) -> list[DetectionResult]:
        """Boxes in original-image pixels, filtered by score and (optionally) class.

        ``tiling`` adds sliced inference for small, far objects (``services.tiling``)."""

    @abstractmethod
    def detect_images(self, decoded, model: str | None = None, threshold: float = 0.35, classes=None,
                      tiling: Tiling | None = None) -> list[DetectionResult]:
        """Detection on already decoded RGB images (video frames): ``[(name, PIL image)]``."""

    # ------------------------------------------------------------------ models
    @abstractmethod
    def load(self, task: str, model: str | None = None) -> str:
        """Make sure the model is loaded where it will run; returns its catalog id."""

    @abstractmethod
    def is_loaded(self, model_id: str) -> bool:
        """Whether the model is loaded where it runs (a page skips its loading spinner then)."""

    @abstractmethod
    def unload(self, model_id: str) -> bool:
        """Unload once idle; False if it was not loaded."""

    @abstractmethod
    def status(self) -> list:
        """``ModelStatus`` per catalog model, as the backend's processes report it."""

    @abstractmethod
    def summary(self) -> BackendSummary:
        """Where models run, for the sidebar and the System page."""

    @abstractmethod
    def warm_up(self, progress: Callable[[int, int, str], None] | None = None) -> list:
        """Load every task's default and run one tiny request (``WarmupResult`` per model)."""

    # ------------------------------------------------------------------ shared
    def model_for(self, task: str, model: str | None = None) -> str:
        """The catalog id to use for ``task`` (the default when ``model`` is None)."""
        return self.catalog.resolve(task, model).id

    def models(self) -> list[ModelInfo]:
        """The catalog with availability and reasons (checked on this machine)."""
        rows = []
        for spec in self.catalog:
            found = check_availability(spec)
            rows.append(ModelInfo(id=spec.id, task=spec.task, name=spec.name, default=spec.default,
                                  source=spec.source, licence=spec.licence, size_mb=spec.size_mb,
                                  available=found.available, reason=found.reason))
        return rows

    def generate_stream(self, prompt: str, settings=None, model: str | None = None,
                        stop: threading.Event | None = None, system: str | None = None):
        """A ``TextStream``: iterate for text pieces; ``.result`` holds the ``Generation`` at the end.

        In chat mode (``settings.chat``) the prompt is one user message, after ``system``
        when given; otherwise the model continues the text as it is."""
        settings = settings or generation_settings()
        if settings.chat:
            return self.chat_stream(chat.user_turn([], prompt, system), settings, model, stop)
        return self.complete_stream(prompt, settings, model, stop)

    def generate(self, prompt: str, settings=None, model: str | None = None, system: str | None = None) -> Generation:
        from .backends.generation import drain

        return drain(self.generate_stream(prompt, settings, model, system=system))

    def chat_reply(self, messages, settings=None, model: str | None = None) -> Generation:
        from .backends.generation import drain

        return drain(self.chat_stream(messages, settings, model))

    def track_video(
        self, clip: bytes | str | Path, model: str | None = None, every: int = 1, threshold: float = 0.35,
        classes: Sequence[str] | None = None, line=None, tiling: Tiling | None = None,
        output: str | Path | None = None, progress=None, cancel: threading.Event | None = None,
        candidates=None, name: str | None = None, tracker: str | None = None,
    ):
        """Unique objects in a clip, tracked (and counted across ``line``, a ``CountingLine``).

        Decoding, tracking and drawing run here; frames go to ``detect_images`` a batch
        at a time, so memory stays flat whatever the clip's length. ``output`` gets the
        annotated MP4; ``progress(Progress)`` is called as frames go; setting ``cancel``
        stops it (``Cancelled``). Returns a ``TrackRun``: ``.result`` is the ``VideoTracks``,
        and ``.candidates`` lets a re-count with another threshold or class set skip the model.
        """
        from .video import temporary_folder
        from .video_tracking import TrackSettings, track_file

        settings = TrackSettings(every=every, threshold=threshold, classes=classes, line=line)
        if tracker:
            settings = dataclasses.replace(settings, tracker=tracker)
        # with kept candidates, they are re-tracked: no model
        detector = self._frame_detector(model, tiling) if candidates is None else None
        if isinstance(clip, (bytes, bytearray)):
            with temporary_folder() as folder:
                path = folder / "upload"
                path.write_bytes(clip)
                return track_file(path, settings, detector, name or "clip", output, progress, cancel, candidates)
        return track_file(clip, settings, detector, name or Path(clip).name, output, progress, cancel, candidates)

    def _frame_detector(self, model: str | None, tiling: Tiling | None):
        """Frames -> every candidate down to the model's floor (thresholds apply in the tracker)."""
        from .backends.detection import MIN_SCORE

        model_id = self.load("detection", model)

        def detect_frames(images):
            named = [(str(i), image) for i, image in enumerate(images)]
            return [r.detections for r in self.detect_images(named, model_id, MIN_SCORE, None, tiling)]

        return detect_frames
