"""AP@0.5 for car and person on the KITTI development photos, per detection variant.

    .venv/bin/python tools/eval_detection.py [--data ../shared/data/road] [--model nanodet-g]

Scored as the data set's README says (pycocotools, federated by
``exhaustive_category_ids``), twice: with the KITTI "hard" boxes ignored (the
official rule) and with them counted (occluded, truncated and small cars and
people must then be found too). Also the time per image, through the same
service call the page uses.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HARD = ("occluded", "truncated", "height")  # ignore reasons that are real, countable objects
CATEGORIES = {"person": 1, "car": 3}


def _ground_truth(data: Path, with_hard: bool):
    from pycocotools.coco import COCO

    dataset = json.loads((data / "annotations.json").read_text())
    if with_hard:
        for ann in dataset["annotations"]:
            reason = ann.get("attributes", {}).get("ignore_reason", "")
            if ann["iscrowd"] and reason and all(part.startswith(HARD) for part in reason.split(",")):
                ann["iscrowd"] = 0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
    return gt


def ap50(gt, detections: list[dict], category: int) -> float:
    from pycocotools.cocoeval import COCOeval

    images = [i["id"] for i in gt.dataset["images"] if category in i["exhaustive_category_ids"]]
    mine = [d for d in detections if d["category_id"] == category]
    if not mine:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        result = gt.loadRes(mine)
        evaluation = COCOeval(gt, result, "bbox")
        evaluation.params.catIds, evaluation.params.imgIds = [category], images
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[1])


def run_variant(data: Path, images: list[dict], model: str, tiles: bool, **tiling) -> tuple[list[dict], float]:
    from services import api
    from services.tiling import Tiling

    option = Tiling(**tiling) if tiles else None
    found, seconds = [], 0.0
    for image in images:
        started = time.perf_counter()
        result = api.detect([data / "images" / image["file_name"]], model, threshold=0.05, classes=None,
                            tiling=option)[0]
        seconds += time.perf_counter() - started
        for d in result.detections:
            if d.label in CATEGORIES:
                x1, y1, x2, y2 = d.box
                found.append({"image_id": image["id"], "category_id": CATEGORIES[d.label],
                              "bbox": [x1, y1, x2 - x1, y2 - y1], "score": d.score})
    return found, seconds / len(images)


VARIANTS = {
    "whole frame (416)": dict(tiles=False),
    "tiles 416, overlap 0.25, NMS IoU 0.5": dict(tiles=True, overlap=0.25, merge="nms"),
    "tiles 416, overlap 0.25, NMS IoU 0.6": dict(tiles=True, overlap=0.25, merge="nms", threshold=0.6),
    "tiles 416, overlap 0.4, NMS IoU 0.5": dict(tiles=True, overlap=0.4, merge="nms"),
    "tiles 320, overlap 0.25, NMS IoU 0.5": dict(tiles=True, tile=320, overlap=0.25, merge="nms"),
    "tiles 416, overlap 0.25, NMM IoU 0.5": dict(tiles=True, overlap=0.25, merge="nmm-iou"),
    "tiles 416, overlap 0.25, NMM IoS 0.5 (SAHI)": dict(tiles=True, overlap=0.25, merge="nmm"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/road")
    parser.add_argument("--model", default="nanodet-g")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    official, with_hard = _ground_truth(args.data, False), _ground_truth(args.data, True)
    images = official.dataset["images"]
    from services import api

    api.load("detection", args.model)
    print(f"{len(images)} images, model {args.model}\n")
    print("| variant | car AP50 | person AP50 | car AP50 incl. hard | person AP50 incl. hard | ms / image |")
    print("|---|---|---|---|---|---|")
    for name in args.variants:
        found, seconds = run_variant(args.data, images, args.model, **VARIANTS[name])
        row = [ap50(official, found, 3), ap50(official, found, 1), ap50(with_hard, found, 3), ap50(with_hard, found, 1)]
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + f" | {seconds * 1000:.0f} |", flush=True)


if __name__ == "__main__":
    main()
