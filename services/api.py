"""The task API: one function per task, like ``transformers.pipeline`` but shared.

Pages, the CLI, benchmarks and tests all call these. Each takes raw user input
(bytes, paths, strings), validates it in ``inputs``, borrows the model from the
process-wide manager, and returns typed results from ``results``.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from . import chat, remote
from .config import LIMITS
from .errors import InputError
from .inputs import clean_text, decode_audio, load_image
from .inputs.files import read_bytes
from .inputs.images import ImageSource
from .manager import ModelManager, default_manager
from .tiling import Tiling, detect_tiled
from .results import Classification, DetectionResult, EntityResult, Generation, Sentiment, Transcript

NamedImage = tuple[str, ImageSource]  # (file name shown to the user, data)


def _manager(manager: ModelManager | None) -> ModelManager:
    return manager or default_manager()


def load(task: str, model: str | None = None, manager: ModelManager | None = None) -> str:
    """Make sure the model is loaded (here, or in the remote deployment); returns its id."""
    if remote.enabled() and manager is None:
        return remote.load(task, model)
    manager = _manager(manager)
    model_id = model_for(task, model, manager)
    manager.get(model_id)
    return model_id


def model_for(task: str, model: str | None = None, manager: ModelManager | None = None) -> str:
    """The catalog id to use for ``task`` (the default when ``model`` is None)."""
    return _manager(manager).catalog.resolve(task, model).id


def _named(images: Sequence[NamedImage | str | Path]) -> list[NamedImage]:
    named = [(Path(i).name, i) if isinstance(i, (str, Path)) else i for i in images]
    if not named:
        raise InputError("No image was given.")
    if len(named) > LIMITS.max_images_per_request:
        raise InputError(f"{len(named)} images at once; the limit is {LIMITS.max_images_per_request}.")
    return named


def classify(
    images: Sequence[NamedImage | str | Path], model: str | None = None, top_k: int = 5,
    manager: ModelManager | None = None,
) -> list[Classification]:
    """Top-k ImageNet classes per image."""
    if remote.enabled() and manager is None:
        return remote.call("image-classification", "classify",
                           {"images": _as_bytes(_named(images)), "model": model, "top_k": top_k})
    manager = _manager(manager)
    model_id = model_for("image-classification", model, manager)
    decoded = [(name, load_image(data, name)) for name, data in _named(images)]
    manager.get(model_id)  # load outside the timing
    started = time.perf_counter()
    rows = manager.batched(model_id, "predict", [img for _, img in decoded], top_k=top_k)
    each = (time.perf_counter() - started) / len(decoded)
    return [Classification(file=name, predictions=preds, seconds=round(each, 4)) for (name, _), preds in zip(decoded, rows)]


def _as_bytes(named: list[NamedImage]) -> list[NamedImage]:
    """Paths become bytes before they travel to a remote replica."""
    return [(name, data if isinstance(data, (bytes, bytearray)) else read_bytes(data, name)) for name, data in named]


def _remote_text_stream(function: str, kwargs: dict):
    from .backends.generation import Generation, TextStream

    outer: TextStream

    def pieces():
        for item in remote.stream("text-generation", function, kwargs):
            if isinstance(item, Generation):
                outer.result = item
                outer.dropped = item.dropped_messages
            else:
                yield item

    outer = TextStream(pieces())
    return outer


def _texts(texts: str | Sequence[str]) -> list[str]:
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise InputError("No text was given.")
    return [clean_text(t) for t in items]


def _text_task(task: str, function: str, texts, model: str | None, manager: ModelManager | None) -> list:
    """Shared path of the text tasks: remote, or cleaned texts through the batched model."""
    if remote.enabled() and manager is None:
        return remote.call(task, function, {"texts": texts, "model": model})
    manager = _manager(manager)
    return manager.batched(model_for(task, model, manager), "predict", _texts(texts))


def sentiment(texts: str | Sequence[str], model: str | None = None, manager: ModelManager | None = None) -> list[Sentiment]:
    """POSITIVE/NEGATIVE with a calibrated probability, one per text."""
    return _text_task("sentiment", "sentiment", texts, model, manager)


def entities(texts: str | Sequence[str], model: str | None = None, manager: ModelManager | None = None) -> list[EntityResult]:
    """Named entities with character offsets into each (cleaned) text."""
    return _text_task("ner", "entities", texts, model, manager)


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


def generate_stream(
    prompt: str, settings=None, model: str | None = None, stop: threading.Event | None = None,
    manager: ModelManager | None = None, system: str | None = None,
):
    """A ``TextStream``: iterate for text pieces; ``.result`` holds the ``Generation`` at the end.

    In chat mode (``settings.chat``) the prompt is one user message, after ``system``
    when given; otherwise the model continues the text as it is.
    The model is held busy (not evictable) until the stream is exhausted or closed.
    """
    settings = settings or generation_settings()
    if settings.chat:
        return chat_stream(chat.user_turn([], prompt, system), settings, model, stop, manager)
    if remote.enabled() and manager is None:
        return _remote_text_stream("generate_stream", {"prompt": prompt, "settings": settings, "model": model})
    manager = _manager(manager)
    model_id = model_for("text-generation", model, manager)
    prompt = clean_text(prompt, "prompt")

    def run(lm):
        if lm.count_text_tokens(prompt) + settings.max_new_tokens > lm.context_length:
            raise InputError(f"The prompt and {settings.max_new_tokens} new tokens do not fit the model's context "
                             f"of {lm.context_length:,} tokens; shorten the prompt or lower max new tokens.")
        return lm.stream(prompt, settings, stop), 0

    return _held_stream(manager, model_id, run)


def chat_stream(
    messages, settings=None, model: str | None = None, stop: threading.Event | None = None,
    manager: ModelManager | None = None,
):
    """The model's answer to a conversation (``chat.Message`` list ending with the user's turn).

    The oldest whole turns are dropped when the conversation no longer fits the model's
    context (``stream.dropped`` says how many messages, before the first piece); a last
    message too long to fit at all raises ``InputError``. Sessions share one loaded model.
    """
    settings = settings or generation_settings()
    messages = [m if isinstance(m, chat.Message) else chat.message(m["role"], m["content"], i)
                for i, m in enumerate(messages)]
    if remote.enabled() and manager is None:
        return _remote_text_stream("chat_stream", {"messages": messages, "settings": settings, "model": model})
    manager = _manager(manager)
    model_id = model_for("text-generation", model, manager)

    def run(lm):
        fit = chat.fit_to_context(messages, lm.count_tokens, lm.context_length, settings.max_new_tokens)
        return lm.stream(fit.messages, settings, stop), fit.dropped

    return _held_stream(manager, model_id, run)


def _held_stream(manager: ModelManager, model_id: str, run):
    """Borrow the model, check the request, and stream; the model stays busy until the end.

    ``run(model)`` checks the request and returns (its stream, messages dropped to fit the
    context); it runs before this returns, so bad input raises here, not mid-stream."""
    from .backends.generation import TextStream

    holding = manager.use(model_id)
    lm = holding.__enter__()
    try:
        inner, dropped = run(lm)
    except BaseException:
        holding.__exit__(*sys.exc_info())
        raise
    released = threading.Event()

    def release() -> None:  # exactly once: at the end of the stream, or on close() before it started
        if not released.is_set():
            released.set()
            inner.close()
            holding.__exit__(None, None, None)

    def pieces():
        try:
            yield from inner
            result = inner.result
            if result is not None:
                outer.result = dataclasses.replace(result, dropped_messages=outer.dropped, model=model_id)
        finally:
            release()

    outer = TextStream(pieces(), dropped=dropped, on_close=release)
    return outer


def generate(prompt: str, settings=None, model: str | None = None, manager: ModelManager | None = None,
             system: str | None = None) -> Generation:
    from .backends.generation import drain

    return drain(generate_stream(prompt, settings, model, manager=manager, system=system))


def chat_reply(messages, settings=None, model: str | None = None, manager: ModelManager | None = None) -> Generation:
    from .backends.generation import drain

    return drain(chat_stream(messages, settings, model, manager=manager))


def transcribe(
    audio: bytes | str | Path, model: str | None = None, language: str | None = None,
    word_timestamps: bool = False, progress=None, name: str = "audio", manager: ModelManager | None = None,
) -> Transcript:
    """Speech to text; ``progress(done_s, total_s, segments)`` is called as windows finish."""
    if remote.enabled() and manager is None:
        data = audio if isinstance(audio, (bytes, bytearray)) else read_bytes(audio, name)
        kwargs = {"audio": data, "model": model, "language": language, "word_timestamps": word_timestamps, "name": name}
        result = None
        for item in remote.stream("speech", "transcribe", kwargs):
            if isinstance(item, tuple) and item and item[0] == "progress":
                if progress:
                    progress(*item[1:])
            else:
                result = item
        return result
    manager = _manager(manager)
    model_id = model_for("speech", model, manager)
    samples = decode_audio(audio, name)
    with manager.use(model_id) as whisper_model:
        return whisper_model.transcribe(samples, language=language or None, word_timestamps=word_timestamps,
                                        progress=progress)


def detect(
    images: Sequence[NamedImage | str | Path], model: str | None = None, threshold: float = 0.35,
    classes: Sequence[str] | None = None, manager: ModelManager | None = None, tiling: Tiling | None = None,
) -> list[DetectionResult]:
    """Boxes in original-image pixels, filtered by score and (optionally) class.

    ``tiling`` adds sliced inference (overlapping tiles at the detector's resolution,
    merged with the whole frame) for small, far objects; see ``services.tiling``."""
    if remote.enabled() and manager is None:
        return remote.call("detection", "detect", {"images": _as_bytes(_named(images)), "model": model,
                                                   "threshold": threshold, "classes": classes, "tiling": tiling})
    manager = _manager(manager)
    model_id = model_for("detection", model, manager)
    decoded = [(name, load_image(data, name)) for name, data in _named(images)]
    return detect_images(decoded, model_id, threshold, classes, manager, tiling)


def detect_images(decoded, model: str | None = None, threshold: float = 0.35, classes=None,
                  manager: ModelManager | None = None, tiling: Tiling | None = None) -> list[DetectionResult]:
    """Detection on already decoded RGB images, e.g. video frames: ``[(name, PIL image)]``."""
    if remote.enabled() and manager is None:
        return remote.call("detection", "detect_images", {"decoded": list(decoded), "model": model,
                                                          "threshold": threshold, "classes": classes, "tiling": tiling})
    manager = _manager(manager)
    model_id = model_for("detection", model, manager)
    wanted = set(classes) if classes else None
    from .backends.detection import MIN_SCORE

    def predict(images):
        return manager.batched(model_id, "predict", images, threshold=MIN_SCORE)

    manager.get(model_id)
    images = [img for _, img in decoded]
    started = time.perf_counter()
    rows = detect_tiled(images, predict, tiling) if tiling else predict(images)
    each = (time.perf_counter() - started) / max(1, len(decoded))
    results = []
    for (name, img), found in zip(decoded, rows):
        kept = [d for d in found if d.score >= threshold and (wanted is None or d.label in wanted)]
        results.append(DetectionResult(file=name, width=img.width, height=img.height, detections=kept, seconds=round(each, 4)))
    return results


def track_video(
    clip: bytes | str | Path, model: str | None = None, every: int = 1, threshold: float = 0.35,
    classes: Sequence[str] | None = None, line=None, tiling: Tiling | None = None, output: str | Path | None = None,
    progress=None, cancel: threading.Event | None = None, candidates=None, name: str | None = None,
    tracker: str | None = None, manager: ModelManager | None = None,
):
    """Unique objects in a clip, tracked (and counted across ``line``, a ``CountingLine``).

    Streams the file: memory stays flat whatever its length. ``output`` gets the annotated
    MP4; ``progress(Progress)`` is called as frames go; setting ``cancel`` stops it
    (``Cancelled``). Returns a ``TrackRun``: ``.result`` is the ``VideoTracks``, and
    ``.candidates`` lets a re-count with another threshold or class set skip the model.
    """
    from .video import temporary_folder
    from .video_tracking import TrackSettings, track_file

    settings = TrackSettings(every=every, threshold=threshold, classes=classes, line=line)
    if tracker:
        settings = dataclasses.replace(settings, tracker=tracker)
    # with kept candidates, they are re-tracked: no model
    detector = _frame_detector(model, manager, tiling) if candidates is None else None

    if isinstance(clip, (bytes, bytearray)):
        with temporary_folder() as folder:
            path = folder / "upload"
            path.write_bytes(clip)
            return track_file(path, settings, detector, name or "clip", output, progress, cancel, candidates)
    return track_file(clip, settings, detector, name or Path(clip).name, output, progress, cancel, candidates)


def _frame_detector(model: str | None, manager: ModelManager | None, tiling: Tiling | None):
    """Frames -> every candidate down to the model's floor (thresholds apply in the tracker)."""
    from .backends.detection import MIN_SCORE

    model_id = model_for("detection", model, manager)
    load("detection", model_id, manager)

    def detect_frames(images):
        named = [(str(i), image) for i, image in enumerate(images)]
        return [r.detections for r in detect_images(named, model_id, MIN_SCORE, None, manager, tiling)]

    return detect_frames
