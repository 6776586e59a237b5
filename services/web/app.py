"""``create_app(tasks)``: one route per task under ``/v1``, over the ``Tasks`` interface.

Uploads are multipart (field ``file``; options as form fields), texts are JSON.
Response bodies are the CLI's JSON shapes (``to_dict`` of the result dataclasses,
which are also the documented response schemas). Routes are plain functions:
FastAPI runs them in its thread pool, so concurrent requests meet in the
manager's micro-batches.
"""

from __future__ import annotations

import threading
from typing import Annotated, Literal

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from ..backends.detection import ROAD_CLASSES
from ..config import LIMITS
from ..results import (Classification, DetectionResult, EntityResult, Generation, ImageExplanation, Sentiment,
                       TextExplanation, Transcript, VideoTracks, to_json)
from ..tasks import ModelInfo, Tasks, generation_settings
from ..tiling import Tiling
from . import problems
from .events import progress_events, token_events
from .guards import BearerKey, BodyLimit
from .schemas import ExplainTextRequest, GenerateRequest, TextsRequest

PROBLEM_SCHEMA = {
    "type": "object", "required": ["title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}},
}


def _problem_doc(description: str) -> dict:
    return {"description": description, "content": {problems.PROBLEM: {"schema": PROBLEM_SCHEMA}}}


ERRORS = {
    400: _problem_doc("a malformed body (e.g. multipart data that cannot be parsed)"),
    401: _problem_doc("API_KEY is set and the bearer token is missing or wrong"),
    413: _problem_doc("the request body is over MAX_UPLOAD_MB"),
    422: _problem_doc("bad input: the CLI's one-line message in `detail`"),
    503: _problem_doc("the model is unavailable here (weights missing or unreachable)"),
}
EVENT_SCHEMA = {  # one server-sent event (OpenAPI 3.1: the stream's `schema` describes each event)
    "type": "object", "required": ["event", "data"],
    "properties": {"event": {"enum": ["token", "progress", "done", "error"]},
                   "data": {"type": "string", "contentMediaType": "application/json",
                            "description": "token: {text}; progress: {done_s, total_s, ...}; done: the result; "
                                           "error: a problem document"}},
}
EVENTS = {200: {"content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
                "description": "the result as JSON, or with `stream` server-sent events ending in `done` (or `error`)"}}

Files = Annotated[list[UploadFile], File(description="one or more files (repeat the field)")]
Model = Annotated[str | None, Form(description="catalog id; the task's default when absent")]


def _read(upload: UploadFile) -> tuple[str, bytes]:
    return upload.filename or "upload", upload.file.read()


def _json(result) -> JSONResponse:
    return JSONResponse(to_json(result))


def create_app(tasks: Tasks | None = None, api_key: str | None = None, max_body_mb: float | None = None) -> FastAPI:
    """The API over ``tasks`` (default: this process's backend from ``SERVICES_BACKEND``)."""
    if tasks is None:
        from .. import api

        tasks = api.tasks()
    # FastAPIOffline: /docs and /redoc with Swagger UI's files served from the package, not a CDN
    app = FastAPIOffline(title="Local AI model dashboard API", version="1", responses=ERRORS,
                         description="The dashboard's tasks over HTTP. Errors are application/problem+json (RFC 9457).")
    problems.install(app)

    @app.get("/health", tags=["service"])
    def health() -> dict:
        summary = tasks.summary()
        return {"status": "ok", "backend": summary.backend, "device": summary.device, "loaded": summary.loaded}

    @app.get("/v1/models", response_model=list[ModelInfo], tags=["service"])
    def models():
        """The catalog: every model with its availability here and the reason."""
        return _json(tasks.models())

    @app.post("/v1/classify", response_model=list[Classification], tags=["tasks"])
    def classify(file: Files, model: Model = None,
                 top_k: Annotated[int, Form(ge=1, le=1000)] = 5):
        """ImageNet top-k classes per image (up to MAX_IMAGES_PER_REQUEST files)."""
        return _json(tasks.classify([_read(f) for f in file], model, top_k))

    @app.post("/v1/explain/image", response_model=ImageExplanation, tags=["explanations"])
    def explain_image(file: Annotated[UploadFile, File(description="one image")], model: Model = None,
                      index: Annotated[int | None, Form(ge=0, le=100_000, description="class index; the top class "
                                                        "when absent")] = None):
        """Grad-CAM (occlusion for a transformer) of one class: ``heatmap`` rows over ``box``, the photo's
        centre crop the model saw, 0..1."""
        return _json(tasks.explain_image(_read(file), model, index))

    @app.post("/v1/explain/sentiment", response_model=TextExplanation, tags=["explanations"])
    def explain_sentiment(body: ExplainTextRequest):
        """Each word's integrated-gradients push towards POSITIVE (> 0) or NEGATIVE (< 0), largest |score| 1."""
        return _json(tasks.explain_sentiment(body.text, body.model))

    @app.post("/v1/detect", response_model=list[DetectionResult], tags=["tasks"])
    def detect(file: Files, model: Model = None,
               threshold: Annotated[float, Form(ge=0, le=1)] = 0.35,
               all_classes: Annotated[bool, Form(description="all 80 COCO classes, not only road users")] = False,
               tiles: Annotated[bool, Form(description="sliced inference for small, far objects")] = True):
        """Boxes (original-image pixels) with labels and scores."""
        return _json(tasks.detect([_read(f) for f in file], model, threshold,
                                  None if all_classes else ROAD_CLASSES, Tiling() if tiles else None))

    @app.post("/v1/track", response_model=VideoTracks, responses=EVENTS, tags=["tasks"])
    def track(file: Annotated[UploadFile, File(description="one video")], model: Model = None,
              every: Annotated[int, Form(ge=1, le=100, description="analyse every N-th frame")] = 1,
              threshold: Annotated[float, Form(ge=0, le=1)] = 0.35,
              line: Annotated[float | None, Form(ge=0, le=1, description="horizontal counting line (0-1 of the height)")] = None,
              line_x: Annotated[float | None, Form(ge=0, le=1, description="vertical counting line (0-1 of the width)")] = None,
              all_classes: Annotated[bool, Form()] = False,
              tiles: Annotated[bool, Form()] = False,
              stream: Annotated[bool, Form(description="`progress` events, then `done` with the result")] = False):
        """Unique objects in a clip, tracked, counted per class and across the line."""
        from ..errors import InputError
        from ..tracking import CountingLine

        if line is not None and line_x is not None:
            raise InputError("give line or line_x, not both")
        counting = CountingLine.horizontal(line) if line is not None else (
            CountingLine.vertical(line_x) if line_x is not None else None)
        name, data = _read(file)
        cancel = threading.Event()

        def work(report=None):
            progress = (lambda p: report({"done_s": round(p.done_s, 2), "total_s": round(p.total_s, 2),
                                          "frames": p.frames})) if report else None
            return tasks.track_video(data, model, every=every, threshold=threshold,
                                     classes=None if all_classes else ROAD_CLASSES, line=counting,
                                     tiling=Tiling() if tiles else None, progress=progress, cancel=cancel,
                                     name=name).result

        return progress_events(work, cancel) if stream else _json(work())

    @app.post("/v1/transcribe", response_model=Transcript, responses=EVENTS, tags=["tasks"])
    def transcribe(file: Annotated[UploadFile, File(description="one audio or video file")], model: Model = None,
                   language: Annotated[str | None, Form(max_length=32, description="e.g. en; detected when absent")] = None,
                   languages: Annotated[str | None, Form(max_length=200, description=(
                       "comma-separated codes the detection may choose from, e.g. en,de"))] = None,
                   task: Annotated[Literal["transcribe", "translate"], Form(
                       description="translate: Whisper's own translation to English (multilingual models)")] = "transcribe",
                   words: Annotated[bool, Form(description="word timestamps")] = False,
                   budget_seconds: Annotated[float | None, Form(gt=0, le=86_400, description=(
                       "stop after this long with what is done (default: 20 s + 1.5 x the audio's length)"))] = None,
                   stream: Annotated[bool, Form(description="`progress` events, then `done`")] = False):
        """Speech to text (or to English) with timestamps (Whisper); the result says whether it is complete."""
        name, data = _read(file)
        cancel = threading.Event()  # set when a streaming client leaves

        def work(report=None):
            progress = (lambda done, total, segments: report(
                {"done_s": round(done, 2), "total_s": round(total, 2), "segments": len(segments)})) if report else None
            return tasks.transcribe(data, model, language or None, words, progress=progress, name=name, task=task,
                                    languages=(languages or "").split(","), budget_seconds=budget_seconds,
                                    cancel=cancel)

        return progress_events(work, cancel) if stream else _json(work())

    @app.post("/v1/sentiment", response_model=list[Sentiment], tags=["tasks"])
    def sentiment(body: TextsRequest):
        """POSITIVE/NEGATIVE with a calibrated probability, per text."""
        return _json(tasks.sentiment(body.texts, body.model))

    @app.post("/v1/entities", response_model=list[EntityResult], tags=["tasks"])
    def entities(body: TextsRequest):
        """Named entities with character offsets into each (cleaned) text."""
        return _json(tasks.entities(body.texts, body.model))

    @app.post("/v1/generate", response_model=Generation, responses=EVENTS, tags=["tasks"])
    def generate(body: GenerateRequest):
        """A chat answer (``prompt`` or ``messages``) or a plain continuation (``chat: false``)."""
        settings = generation_settings(max_new_tokens=body.max_new_tokens, temperature=body.temperature,
                                       top_p=body.top_p, repetition_penalty=body.repetition_penalty,
                                       seed=body.seed, chat=body.chat)
        stop = threading.Event()
        if body.messages is not None:
            messages = ([{"role": "system", "content": body.system}] if body.system else []) + \
                [m.model_dump() for m in body.messages]
            stream = tasks.chat_stream(messages, settings, body.model, stop)
        else:
            stream = tasks.generate_stream(body.prompt, settings, body.model, stop, body.system)
        if body.stream:
            return token_events(stream, stop)
        from ..backends.generation import drain

        return _json(drain(stream))

    app.add_middleware(BodyLimit, max_bytes=int((max_body_mb or LIMITS.max_upload_mb) * 2**20))
    if api_key:
        app.add_middleware(BearerKey, key=api_key)  # added last, so checked first
    return app
