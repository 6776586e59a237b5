import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Tests never download: hub models are exercised with tiny random models.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DASHBOARD_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SAMPLES = ROOT / "assets" / "samples"
DATA = Path(__file__).resolve().parent / "data"
ARTIFACTS = ROOT / "artifacts"


def free_port() -> int:
    """A loopback port nobody listens on (for servers the tests start)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def streamlit_deprecations(request):
    """Fail any test during which Streamlit warned of a deprecated API (every such warning
    goes through ``streamlit.deprecation_util``, which logs it and may show it on the page)."""
    try:
        from streamlit import deprecation_util
    except ImportError:
        yield []
        return
    records = _Records()
    logger = logging.getLogger("streamlit.deprecation_util")
    deprecation_util._shown_warnings.clear()  # "show once" warnings fire again in each test
    logger.addHandler(records)
    try:
        yield records.messages
    finally:
        logger.removeHandler(records)
    if records.messages and not request.node.get_closest_marker("allow_streamlit_deprecations"):
        pytest.fail("Streamlit deprecation warning(s): " + " | ".join(records.messages), pytrace=False)


@pytest.fixture(scope="session")
def manager():
    """The real process-wide manager with every backend (models load lazily)."""
    from services.manager import default_manager

    return default_manager()


JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
SPEECH_TEXT = (
    "The weather is nice today. We will walk to the park after lunch. "
    "Please remember to bring your camera and a bottle of water."
)


@pytest.fixture(scope="session")
def real_speech() -> tuple[Path, str]:
    """Real read English speech and its transcript."""
    return DATA / "jfk.mp3", JFK_TEXT


@pytest.fixture(scope="session")
def synthetic_speech() -> tuple[Path, str]:
    """Robotic espeak-ng speech (harder for tiny models than real speech)."""
    return DATA / "espeak.wav", SPEECH_TEXT
