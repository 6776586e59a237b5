"""Synthetic road clips with exact ground truth, for the tracking tests and tools/eval_tracking.py.

Real objects the detector knows (the bus and the white car cut from the sample street
photo) move over a plain textured background: the car passes behind the bus (an
occlusion), leaves the frame on the left and comes back (a second appearance, as a
tracker without re-identification counts it), and both cross the middle line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FPS, FRAMES = 640, 360, 10, 100


VEHICLE = ("car", "truck")  # out of context the car sprite is called either; counted together


@dataclass(frozen=True)
class Expected:
    counts: dict[str, int]  # "vehicle" = car + truck
    line: dict[str, dict[str, int]]  # vertical line at x = 0.5: "in" is rightwards

    def matches(self, counts: dict[str, int]) -> bool:
        return grouped(counts) == self.counts


def grouped(counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for label, n in counts.items():
        key = "vehicle" if label in VEHICLE else label
        out[key] = out.get(key, 0) + n
    return out


def _sprites() -> tuple[Image.Image, Image.Image]:
    street = Image.open(ROOT / "assets/samples/street.jpg").convert("RGB")
    bus = street.crop((66, 116, 471, 391)).resize((230, 156), Image.LANCZOS)
    car = street.crop((6, 288, 67, 331)).resize((120, 85), Image.LANCZOS)
    return bus, car


def _background() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(90 + rng.normal(0, 3, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)


def car_x(frame: int) -> float | None:
    """Right to left over frames 0-39, gone for 40-54, back left to right over 55-99."""
    if frame < 40:
        return 470 - frame * 12.5
    if frame < 55:
        return None
    return -60 + (frame - 55) * 12.0


def frames():
    bus, car = _sprites()
    background = _background()
    for index in range(FRAMES):
        canvas = Image.fromarray(background.copy())
        x = car_x(index)
        if x is not None:
            canvas.paste(car, (round(x), 240))
        if index < 75:  # the bus is drawn last: it hides the car as they pass
            canvas.paste(bus, (round(-40 + index * 6.0), 130))
        yield index / FPS, np.asarray(canvas)


def make_clip(path: str | Path) -> Expected:
    from services.video import VideoWriter

    writer = VideoWriter(path, WIDTH, HEIGHT, FPS)
    try:
        for time_s, rgb in frames():
            writer.write(rgb, time_s)
    finally:
        writer.close()
    return Expected(counts={"bus": 1, "vehicle": 2}, line={"bus": {"in": 1, "out": 0}, "vehicle": {"in": 1, "out": 1}})
