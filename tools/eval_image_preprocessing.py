"""Measure the bundled image classifier's preprocessing against alternatives on
labelled real photos kept outside the project.

    .venv/bin/python tools/eval_image_preprocessing.py PHOTO_DIR

PHOTO_DIR holds the photos and ``labels.tsv`` (columns ``file`` and ``labels``:
accepted ImageNet class names separated by ``|``). Prints top-1, top-5 and the
mean probability given to the right class, per preprocessing variant, and the
time per image of the page's own path (``services.api.classify``).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services import api  # noqa: E402
from services.backends.image_classification import lite_preprocess  # noqa: E402
from services.inputs import load_image  # noqa: E402
from services.manager import default_manager  # noqa: E402


def variant(resize: int, crop: int, interpolation: str, normalise: str):
    from torchvision.transforms import functional as F

    mode = getattr(F.InterpolationMode, interpolation)
    mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
    std = np.array([0.229, 0.224, 0.225], np.float32) * 255

    def run(image):
        image = F.resize(image, resize, interpolation=mode)
        image = F.center_crop(image, crop)
        array = np.asarray(image, dtype=np.float32)
        array = (array - 127.0) / 128.0 if normalise == "lite" else (array - mean) / std
        return torch.from_numpy(array).permute(2, 0, 1)

    return run


def main(folder: Path) -> None:
    with open(folder / "labels.tsv", encoding="utf-8") as f:
        rows = [(r["file"], set(r["labels"].split("|"))) for r in csv.DictReader(f, delimiter="\t")]
    manager = default_manager()
    model = manager.get("efficientnet-lite0")
    images = [(name, load_image(folder / name), labels) for name, labels in rows]
    variants = {
        "shipped: shorter side 256 bicubic, crop 224, (x-127)/128": lite_preprocess(224, 256),
        "bilinear 256, crop 224, (x-127)/128": variant(256, 224, "BILINEAR", "lite"),
        "bicubic 224 (no crop margin), (x-127)/128": variant(224, 224, "BICUBIC", "lite"),
        "bicubic 256, crop 224, ImageNet mean/std": variant(256, 224, "BICUBIC", "imagenet"),
    }
    original = model.preprocess
    print(f"{len(images)} photos\n\n| preprocessing | top-1 | top-5 | mean p(true class) |\n|---|---|---|---|")
    try:
        for title, preprocess in variants.items():
            model.preprocess = preprocess
            top1 = top5 = 0
            probs = []
            for name, image, labels in images:
                preds = model.predict([image], top_k=1000)[0]
                names = [p.label for p in preds]
                top1 += names[0] in labels
                top5 += bool(set(names[:5]) & labels)
                probs.append(sum(p.score for p in preds if p.label in labels))
            n = len(images)
            print(f"| {title} | {top1}/{n} | {top5}/{n} | {np.mean(probs):.3f} |")
    finally:
        model.preprocess = original
    files = [(name, (folder / name).read_bytes()) for name, _, _ in images]
    api.classify(files[:1], manager=manager)
    started = time.perf_counter()
    for item in files:
        api.classify([item], manager=manager)
    print(f"\napi.classify, one photo per call (decode included): {(time.perf_counter() - started) / len(files) * 1000:.0f} ms per image")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
