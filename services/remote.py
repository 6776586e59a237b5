"""Scale out on Ray Serve: the same task API, served by one deployment per task.

``SERVICES_BACKEND=ray`` makes ``services.api`` (so the pages and the CLI) call
these deployments instead of loading models in-process. Each replica holds its
own ``ModelManager``; catalog models are multiplexed (requests for a model go
to replicas that already hold it), replicas autoscale on ongoing requests, and
take a GPU fraction when the cluster has GPUs.

    make serve                     # local Ray cluster + the deployments, on loopback
    SERVICES_BACKEND=ray make run  # the dashboard, calling them
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

APP_NAME = "ai-dashboard"
TASK_DEPLOYMENTS = {
    "image-classification": "ImageClassification",
    "sentiment": "Sentiment",
    "ner": "Entities",
    "text-generation": "TextGeneration",
    "speech": "Speech",
    "detection": "Detection",
}


def enabled() -> bool:
    return os.environ.get("SERVICES_BACKEND", "local").strip().lower() == "ray"


# ---------------------------------------------------------------- server side
class TaskServer:
    """One task's replica: a process-local manager and the task functions of ``services.api``."""

    def __init__(self, task: str) -> None:
        os.environ["SERVICES_BACKEND"] = "local"  # inside a replica, run models here
        from services.manager import default_manager

        self.task = task
        self.manager = default_manager()

    def _model_id(self, model: str | None) -> str:
        return self.manager.catalog.resolve(self.task, model).id

    def call(self, function: str, kwargs: dict) -> Any:
        from services import api

        return getattr(api, function)(**kwargs, manager=self.manager)

    def stream(self, function: str, kwargs: dict) -> Iterator[Any]:
        """Generation pieces (then the final result), or transcription progress (then the transcript)."""
        from services import api

        if function in ("generate_stream", "chat_stream"):
            stream = getattr(api, function)(**kwargs, manager=self.manager)
            yield from stream
            yield stream.result
        elif function == "transcribe":
            import queue

            updates: queue.Queue = queue.Queue()
            done = object()
            box: dict[str, Any] = {}

            def work():
                try:
                    box["result"] = api.transcribe(
                        **kwargs, progress=lambda d, t, s: updates.put(("progress", d, t, s)), manager=self.manager)
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
        return self.manager.status()

    def load(self, model: str | None = None) -> str:
        model_id = self._model_id(model)
        self.manager.get(model_id)
        return model_id


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


def call(task: str, function: str, kwargs: dict) -> Any:
    """Run ``services.api.<function>(**kwargs)`` in the task's deployment and return its result."""
    with _unwrap_errors():
        return _task_handle(task, kwargs.get("model")).remote(function, kwargs).result()


def stream(task: str, function: str, kwargs: dict) -> Iterator[Any]:
    handle = _task_handle(task, kwargs.get("model")).options(stream=True, method_name="streaming")
    with _unwrap_errors():
        yield from handle.remote(function, kwargs)


def load(task: str, model: str | None) -> str:
    with _unwrap_errors():
        return _task_handle(task, model).options(method_name="load").remote(model).result()


def status(task: str) -> list:
    return _task_handle(task, None).options(method_name="status").remote().result()


def main() -> None:
    """``python -m services.remote``: start (or join) a Ray cluster and run the deployments."""
    import argparse
    import time

    import ray
    from ray import serve

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="join this cluster (default: start one)")
    parser.add_argument("--tasks", default=",".join(TASK_DEPLOYMENTS))
    args = parser.parse_args()
    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(include_dashboard=False, logging_level="ERROR")
    serve.start(http_options={"host": "127.0.0.1"})
    for name, bound in build_apps(tuple(args.tasks.split(","))).items():
        serve.run(bound, name=name, route_prefix=None)
        print(f"deployed {name}", flush=True)
    print("Ray Serve is running; start clients with SERVICES_BACKEND=ray (RAY_ADDRESS=auto)", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
