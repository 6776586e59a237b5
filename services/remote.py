"""Scale out on Ray Serve: the same task API, served by one deployment per task.

``SERVICES_BACKEND=ray`` makes ``services.api`` choose ``RayTasks`` (so the pages,
the CLI and the HTTP API call these deployments instead of loading models
in-process). Each replica holds its
own ``ModelManager``; catalog models are multiplexed (requests for a model go
to replicas that already hold it), replicas autoscale on ongoing requests, and
take a GPU fraction when the cluster has GPUs.

    make serve                     # local Ray cluster + the deployments (+ the HTTP API), on loopback
    SERVICES_BACKEND=ray make run  # the dashboard, calling them
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

from services.tasks import BackendSummary, Tasks, as_messages, generation_settings, named_images

APP_NAME = "ai-dashboard"
TASK_DEPLOYMENTS = {
    "image-classification": "ImageClassification",
    "sentiment": "Sentiment",
    "ner": "Entities",
    "text-generation": "TextGeneration",
    "speech": "Speech",
    "detection": "Detection",
}


# ---------------------------------------------------------------- server side
class TaskServer:
    """One task's replica: a process-local manager behind ``LocalTasks``."""

    def __init__(self, task: str) -> None:
        from services.local import LocalTasks

        self.task = task
        self.tasks = LocalTasks()
        self.manager = self.tasks.manager

    def call(self, function: str, kwargs: dict) -> Any:
        return getattr(self.tasks, function)(**kwargs)

    def stream(self, function: str, kwargs: dict) -> Iterator[Any]:
        """Generation pieces (then the final result), or transcription progress (then the transcript)."""
        if function in ("complete_stream", "chat_stream"):
            stream = getattr(self.tasks, function)(**kwargs)
            yield stream.dropped
            yield from stream
            yield stream.result
        elif function == "transcribe":
            import queue

            updates: queue.Queue = queue.Queue()
            done = object()
            box: dict[str, Any] = {}

            def work():
                try:
                    box["result"] = self.tasks.transcribe(
                        **kwargs, progress=lambda d, t, s: updates.put(("progress", d, t, s)))
                except BaseException as exc:  # re-raised on the caller's side below
                    box["error"] = exc
                updates.put(done)

            threading.Thread(target=work, daemon=True).start()
            while (item := updates.get()) is not done:
                yield item
            if "error" in box:
                raise box["error"]
            yield box["result"]
        else:
            raise ValueError(f"no streaming for {function}")

    def status(self) -> list:
        return self.tasks.status()

    def load(self, model: str | None = None) -> str:
        return self.tasks.load(self.task, model)

    def unload(self, model_id: str) -> bool:
        return self.tasks.unload(model_id)

    def warm_up(self) -> list:
        from services.warmup import warm_up

        return warm_up(self.manager, tasks=(self.task,))


def app_name(task: str) -> str:
    return f"{APP_NAME}-{task}"


def build_apps(tasks=tuple(TASK_DEPLOYMENTS)) -> dict:
    """One Ray Serve application per task: ``{app name: bound deployment}``."""
    import ray
    from ray import serve

    gpus = ray.cluster_resources().get("GPU", 0) if ray.is_initialized() else 0
    gpu_share = float(os.environ.get("RAY_GPU_PER_REPLICA", "0.15")) if gpus else 0.0

    @serve.deployment(
        ray_actor_options={"num_cpus": float(os.environ.get("RAY_CPUS_PER_REPLICA", "0")), "num_gpus": gpu_share},
        autoscaling_config={"min_replicas": 1, "max_replicas": int(os.environ.get("RAY_MAX_REPLICAS", "2")),
                            "target_ongoing_requests": 4},
        max_ongoing_requests=16,
    )
    class TaskDeployment(TaskServer):
        @serve.multiplexed(max_num_models_per_replica=3)
        async def model(self, model_id: str) -> str:
            """Load a catalog model in this replica; Serve routes later requests for it here."""
            self.manager.get(model_id)
            return model_id

        async def __call__(self, function: str, kwargs: dict) -> Any:
            model_id = serve.get_multiplexed_model_id()
            if model_id:
                await self.model(model_id)
            return self.call(function, kwargs)

        def streaming(self, function: str, kwargs: dict):
            yield from self.stream(function, kwargs)

    return {app_name(t): TaskDeployment.options(name=TASK_DEPLOYMENTS[t]).bind(t) for t in tasks}


# ---------------------------------------------------------------- client side
_connect_lock = threading.Lock()


def _connect() -> None:
    import ray

    with _connect_lock:
        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), logging_level="ERROR", log_to_driver=False)


def _task_handle(task: str, model: str | None):
    from ray import serve

    _connect()
    handle = serve.get_app_handle(app_name(task))
    return handle.options(multiplexed_model_id=model) if model else handle


class _unwrap_errors:
    """Ray wraps a replica's exception with its remote traceback; the caller gets the
    original ``InputError`` / ``ModelUnavailable`` so pages and the CLI show one clean line."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        return False


def _call(task: str, function: str, kwargs: dict) -> Any:
    """Run ``LocalTasks.<function>(**kwargs)`` in the task's deployment and return its result."""
    with _unwrap_errors():
        return _task_handle(task, kwargs.get("model")).remote(function, kwargs).result()


def _stream(task: str, function: str, kwargs: dict) -> Iterator[Any]:
    handle = _task_handle(task, kwargs.get("model")).options(stream=True, method_name="streaming")
    with _unwrap_errors():
        yield from handle.remote(function, kwargs)


def _method(task: str, method: str, *args) -> Any:
    with _unwrap_errors():
        return _task_handle(task, None).options(method_name=method).remote(*args).result()


def _as_bytes(named: list) -> list:
    """Paths become bytes before they travel to a remote replica."""
    from services.inputs.files import read_bytes

    return [(name, data if isinstance(data, (bytes, bytearray)) else read_bytes(data, name)) for name, data in named]


class RayTasks(Tasks):
    """``SERVICES_BACKEND=ray``: every task answered by its Ray Serve deployment.

    Inputs travel as bytes (never paths: the replica may be on another machine);
    video decoding and tracking run here, the frames' detection there."""

    def __init__(self) -> None:
        from services.catalog import Catalog

        self.catalog = Catalog.load()

    def classify(self, images, model=None, top_k=5):
        return _call("image-classification", "classify",
                     {"images": _as_bytes(named_images(images)), "model": model, "top_k": top_k})

    def sentiment(self, texts, model=None):
        return _call("sentiment", "sentiment", {"texts": texts, "model": model})

    def explain_image(self, image, model=None, index=None):
        ((name, data),) = _as_bytes(named_images([image]))
        return _call("image-classification", "explain_image", {"image": (name, data), "model": model, "index": index})

    def explain_sentiment(self, text, model=None):
        return _call("sentiment", "explain_sentiment", {"text": text, "model": model})

    def entities(self, texts, model=None):
        return _call("ner", "entities", {"texts": texts, "model": model})

    def complete_stream(self, prompt, settings, model=None, stop=None):
        return _remote_text_stream("complete_stream", {"prompt": prompt, "settings": settings, "model": model}, stop)

    def chat_stream(self, messages, settings=None, model=None, stop=None):
        kwargs = {"messages": as_messages(messages), "settings": settings or generation_settings(), "model": model}
        return _remote_text_stream("chat_stream", kwargs, stop)

    def transcribe(self, audio, model=None, language=None, word_timestamps=False, progress=None, name="audio",
                   task="transcribe", languages=(), budget_seconds=None, cancel=None):
        """``cancel`` stays on this side (an Event does not travel): the replica's time budget bounds the work."""
        from services.inputs.files import read_bytes

        data = audio if isinstance(audio, (bytes, bytearray)) else read_bytes(audio, name)
        kwargs = {"audio": data, "model": model, "language": language, "word_timestamps": word_timestamps, "name": name,
                  "task": task, "languages": tuple(languages or ()), "budget_seconds": budget_seconds}
        result = None
        for item in _stream("speech", "transcribe", kwargs):
            if isinstance(item, tuple) and item and item[0] == "progress":
                if progress:
                    progress(*item[1:])
            else:
                result = item
        return result

    def detect(self, images, model=None, threshold=0.35, classes=None, tiling=None):
        return _call("detection", "detect", {"images": _as_bytes(named_images(images)), "model": model,
                                             "threshold": threshold, "classes": classes, "tiling": tiling})

    def detect_images(self, decoded, model=None, threshold=0.35, classes=None, tiling=None):
        return _call("detection", "detect_images", {"decoded": list(decoded), "model": model,
                                                    "threshold": threshold, "classes": classes, "tiling": tiling})

    def load(self, task, model=None) -> str:
        with _unwrap_errors():
            return _task_handle(task, model).options(method_name="load").remote(model).result()

    def is_loaded(self, model_id: str) -> bool:
        """One call: the status of the deployment of the model's task."""
        task = self.catalog.get(model_id).task
        return any(s.id == model_id and s.loaded for s in _method(task, "status"))

    def unload(self, model_id: str) -> bool:
        return _method(self.catalog.get(model_id).task, "unload", model_id)

    def status(self) -> list:
        """What each task's replica reports about that task's models."""
        rows = []
        for task in TASK_DEPLOYMENTS:
            rows.extend(s for s in _method(task, "status") if s.task == task)
        return rows

    def warm_up(self, progress=None) -> list:
        results = []
        for i, task in enumerate(TASK_DEPLOYMENTS):
            if progress:
                progress(i, len(TASK_DEPLOYMENTS), task)
            results.extend(_method(task, "warm_up"))
        if progress:
            progress(len(TASK_DEPLOYMENTS), len(TASK_DEPLOYMENTS), "done")
        return results

    def summary(self) -> BackendSummary:
        loaded = [s for s in self.status() if s.loaded]
        devices = sorted({s.device for s in loaded}) or ["(none loaded)"]
        return BackendSummary(backend="Ray Serve", device=", ".join(devices), loaded=[s.id for s in loaded],
                              memory_mb=round(sum(s.memory_mb for s in loaded), 1), budget_mb=None)


def _remote_text_stream(function: str, kwargs: dict, stop: threading.Event | None):
    """A ``TextStream`` over the replica's pieces; the first item is the dropped-message count.

    ``stop`` cannot cross processes; setting it ends the stream here (closing the
    generator cancels the streaming call, which stops the replica's decode)."""
    from services.backends.generation import TextStream
    from services.results import Generation

    items = _stream("text-generation", function, kwargs)
    dropped = next(items)

    def pieces():
        try:
            for item in items:
                if isinstance(item, Generation):
                    outer.result = item
                elif stop is not None and stop.is_set():
                    return
                else:
                    yield item
        finally:
            items.close()

    outer = TextStream(pieces(), dropped=dropped)
    return outer


def build_http_app():
    """The HTTP API over ``RayTasks``: built in the ingress replica (Serve's FastAPI ingress)."""
    from services.web.app import create_app
    from services.web.server import ApiSettings

    return create_app(RayTasks(), api_key=ApiSettings.from_env().key)


def build_ingress():
    """The same app as ``make api``, served by Ray Serve's HTTP proxy at ``API_HOST:API_PORT``."""
    from ray import serve

    return serve.deployment(name="HttpApi", max_ongoing_requests=64)(serve.ingress(build_http_app)()).bind()


def main() -> None:
    """``python -m services.remote``: start (or join) a Ray cluster and run the deployments."""
    import argparse
    import time

    import ray
    from ray import serve

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="join this cluster (default: start one)")
    parser.add_argument("--tasks", default=",".join(TASK_DEPLOYMENTS))
    parser.add_argument("--http", action="store_true", help="also serve the HTTP API (API_HOST, API_PORT, API_KEY)")
    args = parser.parse_args()
    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(include_dashboard=False, logging_level="ERROR")
    from services.web.server import ApiSettings

    api_settings = ApiSettings.from_env()
    serve.start(http_options={"host": api_settings.host, "port": api_settings.port})
    for name, bound in build_apps(tuple(args.tasks.split(","))).items():
        serve.run(bound, name=name, route_prefix=None)
        print(f"deployed {name}", flush=True)
    if args.http:
        from services.remote import build_ingress as ingress  # by reference: this file may run as __main__

        serve.run(ingress(), name=f"{APP_NAME}-http", route_prefix="/")
        print(f"HTTP API on {api_settings.url} (docs at /docs)", flush=True)
    print("Ray Serve is running; start clients with SERVICES_BACKEND=ray (RAY_ADDRESS=auto)", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
