"""The prepared device check runs here too (CUDA rows skipped), so it is known to work
before a GPU machine's scarce minutes are spent on it."""

import os
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


# what the device machine's Python does not have (its package list: /work/.library/device/KINDS.md)
NOT_ON_THE_DEVICE = ("av", "streamlit", "spacy", "supervision", "trackers", "cv2", "xllamacpp", "fastapi", "ray",
                     "altair", "uvicorn", "schemathesis")
BLOCKER = f"""
import importlib.abc, sys
class _NotOnTheDevice(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_ON_THE_DEVICE!r}:
            raise ModuleNotFoundError("not on the device machine: " + name)
sys.meta_path.insert(0, _NotOnTheDevice())
"""


def test_the_gpu_check_runs_on_cpu_and_writes_its_table(tmp_path):
    """Run as the device runs it, with the packages that machine lacks made unimportable."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path),
           "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| check | device, precision | result | ok |" in table and "**no**" not in table
    for check in ("EfficientNet-Lite0", "sentiment head", "Whisper", "language model", "NanoDet", "eviction",
                  "single-flight", "out of memory"):
        assert check in table, check
    import torch

    if not torch.cuda.is_available():
        assert "skipped: no CUDA here" in table and "bus found: True" in table
