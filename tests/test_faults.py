"""Faults stay contained: corrupt weights fail one model with a reason; the
security settings stay on; hub code paths never run remote code."""

import tomllib

import pytest

from services.backends import register_all
from services.catalog import PROJECT_ROOT, Catalog, ModelSpec
from services.errors import ModelUnavailable
from services.manager import ModelManager

from .conftest import SAMPLES
from services.local import LocalTasks


def test_corrupt_weights_fail_alone_and_the_reason_is_recorded(tmp_path):
    broken = tmp_path / "efficientnet-lite0-broken.pth"
    broken.write_bytes(b"PK\x03\x04 this is not a torch checkpoint")
    specs = list(Catalog.load())
    specs.append(ModelSpec(id="broken-lite0", task="image-classification", name="Broken Lite0",
                           backend="efficientnet_lite", source="local", licence="test", size_mb=19,
                           options={"path": str(broken), "arch": "efficientnet-lite0"}))
    manager = ModelManager(Catalog(specs), device="cpu")
    register_all(manager)
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        manager.get("broken-lite0")
    status = {s.id: s for s in manager.status()}
    assert status["broken-lite0"].last_error and not status["broken-lite0"].loaded

    result = LocalTasks(manager).classify([SAMPLES / "cat.jpg"])[0]  # the default still works
    assert "cat" in result.predictions[0].label


def test_pickles_are_never_loaded_unsafely_and_remote_code_is_never_trusted():
    sources = [p.read_text() for p in (PROJECT_ROOT / "services").rglob("*.py")]
    joined = "\n".join(sources)
    assert "trust_remote_code=True" not in joined
    for text in sources:
        for line in text.splitlines():
            if "torch.load(" in line or "load_state_dict_from_url(" in line:
                assert "weights_only=True" in line, line


def test_streamlit_keeps_xsrf_protection_and_hides_error_details():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert config["client"]["showErrorDetails"] == "none"
