"""The one task interface: both implementations provide every task, the backend is chosen
once from SERVICES_BACKEND, and no service module imports another back."""

import ast
import inspect

import pytest

from services import api
from services.local import LocalTasks
from services.remote import RayTasks
from services.tasks import Tasks

from .conftest import ROOT


def abstract_methods() -> set[str]:
    return set(Tasks.__abstractmethods__)


def test_both_implementations_provide_every_task_with_the_same_signature():
    assert {"classify", "sentiment", "entities", "chat_stream", "complete_stream", "transcribe", "detect",
            "detect_images", "load", "unload", "status", "summary", "warm_up"} <= abstract_methods()
    for cls in (LocalTasks, RayTasks):
        assert not cls.__abstractmethods__, cls
        for name in abstract_methods():
            assert list(inspect.signature(getattr(cls, name)).parameters) == \
                list(inspect.signature(getattr(Tasks, name)).parameters), (cls.__name__, name)


def imports_of(path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "services." + (node.module or "") if node.level else node.module or ""
            found.add(base.rstrip("."))
            found.update(f"{base.rstrip('.')}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_task_module_imports_the_api_facade_or_the_other_backend():
    services = ROOT / "services"
    for name in ("tasks.py", "local.py", "remote.py"):
        assert not {"services.api", "services..api"} & imports_of(services / name), name
    assert not any(i.startswith("services.remote") for i in imports_of(services / "local.py"))
    assert not any(i.startswith("services.local") for i in imports_of(services / "tasks.py"))


def test_nothing_outside_the_facade_branches_on_the_backend():
    for path in [*ROOT.glob("services/**/*.py"), *ROOT.glob("app_pages/*.py"), *ROOT.glob("ui/*.py")]:
        if path.name != "api.py":
            text = path.read_text()
            assert 'environ.get("SERVICES_BACKEND"' not in text and "remote.enabled" not in text, path


def test_the_backend_is_picked_once_from_the_environment(monkeypatch, manager):
    api.use(None)
    try:
        monkeypatch.setenv("SERVICES_BACKEND", "local")
        chosen = api.tasks()
        assert isinstance(chosen, LocalTasks) and api.tasks() is chosen
        monkeypatch.setenv("SERVICES_BACKEND", "ray")  # read once: changing it later changes nothing
        assert api.tasks() is chosen and api.classify.__self__ is chosen
        api.use(None)
        assert isinstance(api.tasks(), RayTasks)  # built without contacting a cluster
        api.use(None)
        monkeypatch.setenv("SERVICES_BACKEND", "grpc")
        with pytest.raises(ValueError, match="SERVICES_BACKEND"):
            api.tasks()
    finally:
        api.use(None)
    with pytest.raises(AttributeError):
        api.no_such_task  # noqa: B018
