"""Sliced inference (as SAHI does it) for small, far objects.

A detector with a 416x416 input sees a 1242x375 road photo at a third of its
resolution, so a car 30 px tall shrinks to 10. Here each image is also cut into
overlapping tiles of the detector's own input size, every tile and the whole frame
go through the model as one batch, and the boxes are merged by class. Measured on
the KITTI development photos (``tools/eval_detection.py``, table in benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .results import Detection

Predict = Callable[[list[Image.Image]], list[list[Detection]]]


@dataclass(frozen=True)
class Tiling:
    tile: int = 416  # the detector's input side: tiles are seen at native resolution
    overlap: float = 0.25  # of a tile, so an object cut at one edge is whole in the neighbour
    merge: str = "nms"  # "nms": keep the best box by IoU (measured best); "nmm": merge by intersection over the smaller (SAHI)
    threshold: float = 0.5

    def windows(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """(left, top, right, bottom) tiles covering the image, evenly spread, none past its edge."""
        return [(x, y, min(width, x + self.tile), min(height, y + self.tile))
                for y in self._starts(height) for x in self._starts(width)]

    def _starts(self, length: int) -> list[int]:
        if length <= self.tile:
            return [0]
        step = self.tile * (1 - self.overlap)
        count = int(np.ceil((length - self.tile) / step)) + 1
        return [round(i * (length - self.tile) / (count - 1)) for i in range(count)]


def detect_tiled(images: Sequence[Image.Image], predict: Predict, tiling: Tiling) -> list[list[Detection]]:
    """Whole frame plus tiles for every image in one ``predict`` call; merged boxes per image."""
    crops: list[Image.Image] = []
    owners: list[tuple[int, int, int]] = []  # (image index, x offset, y offset)
    for i, image in enumerate(images):
        crops.append(image)
        owners.append((i, 0, 0))
        windows = tiling.windows(image.width, image.height)
        if len(windows) > 1:
            for left, top, right, bottom in windows:
                crops.append(image.crop((left, top, right, bottom)))
                owners.append((i, left, top))
    found = predict(crops)
    per_image: list[list[Detection]] = [[] for _ in images]
    for (i, dx, dy), detections in zip(owners, found):
        per_image[i].extend(Detection(d.label, d.score, (d.box[0] + dx, d.box[1] + dy, d.box[2] + dx, d.box[3] + dy))
                            for d in detections)
    return [_merge(detections, tiling) for detections in per_image]


def _merge(detections: list[Detection], tiling: Tiling) -> list[Detection]:
    """Class-wise merging with supervision (NMM by IoS as SAHI does, or NMS by IoU)."""
    if len(detections) < 2:
        return detections
    import supervision as sv

    labels = sorted({d.label for d in detections})
    index = {label: i for i, label in enumerate(labels)}
    merged = sv.Detections(
        xyxy=np.array([d.box for d in detections], np.float32),
        confidence=np.array([d.score for d in detections], np.float32),
        class_id=np.array([index[d.label] for d in detections], int),
    )
    if tiling.merge == "nmm":
        merged = merged.with_nmm(tiling.threshold, overlap_metric=sv.OverlapMetric.IOS)
    elif tiling.merge == "nmm-iou":
        merged = merged.with_nmm(tiling.threshold)
    else:
        merged = merged.with_nms(tiling.threshold)
    order = np.argsort(-merged.confidence)
    return [Detection(labels[int(merged.class_id[j])], round(float(merged.confidence[j]), 4),
                      tuple(float(v) for v in merged.xyxy[j])) for j in order]
