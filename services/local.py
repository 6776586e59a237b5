"""The task interface in this process: models borrowed from a ``ModelManager``.

Each method takes raw user input (bytes, paths, strings), validates it in
``inputs``, borrows the model from the manager (loaded once, shared by threads,
micro-batched, evicted by the memory budget) and returns typed results.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time

from . import chat
from .devices import describe_device
from .errors import InputError
from .inputs import clean_text, decode_audio, load_image
from .manager import ModelManager, default_manager
from .results import Classification, DetectionResult, Transcript
from .tasks import BackendSummary, Tasks, as_messages, generation_settings, named_images
from .tiling import Tiling, detect_tiled


def _texts(texts) -> list[str]:
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise InputError("No text was given.")
    return [clean_text(t) for t in items]


class LocalTasks(Tasks):
    """``SERVICES_BACKEND=local`` (the default); also what each Ray replica runs."""

    def __init__(self, manager: ModelManager | None = None) -> None:
        self.manager = manager or default_manager()
        self.catalog = self.manager.catalog

    # ------------------------------------------------------------------ tasks
    def classify(self, images, model=None, top_k=5) -> list[Classification]:
        model_id = self.model_for("image-classification", model)
        decoded = [(name, load_image(data, name)) for name, data in named_images(images)]
        self.manager.get(model_id)  # load outside the timing
        started = time.perf_counter()
        rows = self.manager.batched(model_id, "predict", [img for _, img in decoded], top_k=top_k)
        each = (time.perf_counter() - started) / len(decoded)
        return [Classification(file=name, predictions=preds, seconds=round(each, 4))
                for (name, _), preds in zip(decoded, rows)]

    def sentiment(self, texts, model=None):
        return self.manager.batched(self.model_for("sentiment", model), "predict", _texts(texts))

    def explain_image(self, image, model=None, index=None):
        from .explain import explain_image

        model_id = self.model_for("image-classification", model)
        ((name, data),) = named_images([image])
        decoded = load_image(data, name)
        with self.manager.use(model_id) as classifier:
            return explain_image(classifier, decoded, name, index)

    def explain_sentiment(self, text, model=None):
        from .explain import explain_text

        model_id = self.model_for("sentiment", model)
        (cleaned,) = _texts(text)
        with self.manager.use(model_id) as classifier:
            return explain_text(classifier, cleaned)

    def entities(self, texts, model=None):
        return self.manager.batched(self.model_for("ner", model), "predict", _texts(texts))

    def complete_stream(self, prompt, settings, model=None, stop=None):
        model_id = self.model_for("text-generation", model)
        prompt = clean_text(prompt, "prompt")

        def run(lm):
            if lm.count_text_tokens(prompt) + settings.max_new_tokens > lm.context_length:
                raise InputError(f"The prompt and {settings.max_new_tokens} new tokens do not fit the model's context "
                                 f"of {lm.context_length:,} tokens; shorten the prompt or lower max new tokens.")
            return lm.stream(prompt, settings, stop), 0

        return self._held_stream(model_id, run)

    def chat_stream(self, messages, settings=None, model=None, stop=None):
        settings = settings or generation_settings()
        messages = as_messages(messages)
        model_id = self.model_for("text-generation", model)

        def run(lm):
            fit = chat.fit_to_context(messages, lm.count_tokens, lm.context_length, settings.max_new_tokens)
            return lm.stream(fit.messages, settings, stop), fit.dropped

        return self._held_stream(model_id, run)

    def _held_stream(self, model_id: str, run):
        """Borrow the model, check the request, and stream; the model stays busy until the end.

        ``run(model)`` checks the request and returns (its stream, messages dropped to fit the
        context); it runs before this returns, so bad input raises here, not mid-stream."""
        from .backends.generation import TextStream

        holding = self.manager.use(model_id)
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

    def transcribe(self, audio, model=None, language=None, word_timestamps=False, progress=None,
                   name="audio", task="transcribe", languages=(), budget_seconds=None, cancel=None) -> Transcript:
        model_id = self.model_for("speech", model)
        samples = decode_audio(audio, name)
        with self.manager.use(model_id) as whisper_model:
            result = whisper_model.transcribe(samples, language=language or None, word_timestamps=word_timestamps,
                                              progress=progress, task=task, languages=tuple(languages or ()),
                                              budget_seconds=budget_seconds, cancel=cancel)
        return dataclasses.replace(result, file=name)

    def detect(self, images, model=None, threshold=0.35, classes=None, tiling: Tiling | None = None):
        model_id = self.model_for("detection", model)
        decoded = [(name, load_image(data, name)) for name, data in named_images(images)]
        return self.detect_images(decoded, model_id, threshold, classes, tiling)

    def detect_images(self, decoded, model=None, threshold=0.35, classes=None,
                      tiling: Tiling | None = None) -> list[DetectionResult]:
        from .backends.detection import MIN_SCORE

        model_id = self.model_for("detection", model)
        wanted = set(classes) if classes else None

        def predict(images):
            return self.manager.batched(model_id, "predict", images, threshold=MIN_SCORE)

        self.manager.get(model_id)
        images = [img for _, img in decoded]
        started = time.perf_counter()
        rows = detect_tiled(images, predict, tiling) if tiling else predict(images)
        each = (time.perf_counter() - started) / max(1, len(decoded))
        results = []
        for (name, img), found in zip(decoded, rows):
            kept = [d for d in found if d.score >= threshold and (wanted is None or d.label in wanted)]
            results.append(DetectionResult(file=name, width=img.width, height=img.height, detections=kept,
                                           seconds=round(each, 4)))
        return results

    # ------------------------------------------------------------------ models
    def load(self, task, model=None) -> str:
        model_id = self.model_for(task, model)
        self.manager.get(model_id)
        return model_id

    def is_loaded(self, model_id: str) -> bool:
        return self.manager.is_loaded(model_id)

    def unload(self, model_id: str) -> bool:
        self.catalog.get(model_id)  # an unknown id is an error, not "was not loaded"
        return self.manager.unload(model_id)

    def status(self):
        return self.manager.status()

    def warm_up(self, progress=None) -> list:
        from .warmup import warm_up

        return warm_up(self.manager, progress=progress)

    def summary(self) -> BackendSummary:
        budget = self.manager.budget_bytes / 2**20 if self.manager.budget_bytes else None
        return BackendSummary(backend="in-process", device=describe_device(self.manager.device),
                              loaded=self.manager.loaded_ids(), memory_mb=round(self.manager.used_mb(), 1),
                              budget_mb=budget)
