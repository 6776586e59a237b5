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


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """Clean read English speech: espeak-ng when installed, else the bundled clip."""
    import shutil
    import subprocess

    bundled = DATA / "speech.wav"
    if bundled.exists():
        return bundled
    if shutil.which("espeak-ng") is None:
        pytest.skip("no speech sample and espeak-ng is not installed")
    out = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(out), SPEECH_TEXT], check=True)
    return out


SPEECH_TEXT = (
    "The weather is nice today. We will walk to the park after lunch. "
    "Please remember to bring your camera and a bottle of water."
)
