"""Which tracker and settings count unique objects best: unique counts on the hand-counted
development clip (vtest.avi, ../shared/data/road/clips) and on the synthetic clips of the
tests (exact ground truth), per tracker and threshold.

    make clips && .venv/bin/python tools/eval_tracking.py

The detector runs once per clip (its candidates are cached under artifacts/); each
tracker and threshold then re-tracks those candidates, as the page does on a new threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def candidates(clip: Path, every: int, tiling=None):
    """The detector's candidates for the clip, cached beside it (keyed by file size and mtime)."""
    from services import api
    from services.backends.detection import ROAD_CLASSES
    from services.tracking import CandidateStore

    stat = clip.stat()
    cache = ROOT / "artifacts/clips" / f"{clip.stem}-{stat.st_size}-{int(stat.st_mtime)}-{every}-{bool(tiling)}.npz"
    if cache.exists():
        return CandidateStore.load(cache)
    store = api.track_video(clip, every=every, classes=ROAD_CLASSES, tiling=tiling).candidates
    store.save(cache)
    return store


def main() -> None:
    from services import api
    from services.backends.detection import ROAD_CLASSES
    from services.tracking import TRACKERS
    from tests.synthetic_video import make_clip

    parser = argparse.ArgumentParser()
    parser.add_argument("--clip", type=Path, default=ROOT / "artifacts/clips/vtest.avi")
    parser.add_argument("--counts", type=Path, default=ROOT.parent / "shared/data/road/clips/vtest_counts.json")
    parser.add_argument("--thresholds", type=float, nargs="*", default=[0.35, 0.5])
    args = parser.parse_args()
    truth = json.loads(args.counts.read_text())["counts"]
    synthetic = ROOT / "artifacts/clips/synthetic.mp4"
    expected = make_clip(synthetic)
    clips = [("vtest.avi every frame", args.clip, 1), ("vtest.avi every 3rd", args.clip, 3),
             ("synthetic", synthetic, 1)]
    stores = {name: candidates(path, 1) for name, path, _ in clips}
    for name, _, every in clips:  # every n-th frame: the same frames' candidates, subsampled
        store = stores[name]
        stores[name] = type(store)(store.width, store.height, store.labels, store.times[::every], store.rows[::every])
    print(f"hand counts for vtest.avi: person {truth['person']}, car {truth['car']}; synthetic: {expected.counts}\n")
    print("| tracker | threshold | " + " | ".join(name for name, _, _ in clips) + " |")
    print("|---|---|" + "---|" * len(clips))
    for tracker in TRACKERS:
        for threshold in args.thresholds:
            cells = []
            for name, path, every in clips:
                result = api.track_video(path, every=every, threshold=threshold, classes=ROAD_CLASSES,
                                         candidates=stores[name], tracker=tracker).result
                counts = result.counts
                if name == "synthetic":
                    exact = expected.matches(counts)
                    cells.append(("exact " if exact else "") + ", ".join(f"{k} {v}" for k, v in counts.items()))
                else:
                    person, car = counts.get("person", 0), counts.get("car", 0)
                    inside = truth["person"][0] <= person <= truth["person"][1]
                    cells.append(f"person {person}{' (in range)' if inside else ''}, car {car}")
            print(f"| {tracker} | {threshold} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
