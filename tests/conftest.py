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
