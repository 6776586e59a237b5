"""Sanity checks of the explanations, as figures (the tests assert bounds on the same functions).

    .venv/bin/python tools/eval_explanations.py

- Grad-CAM on the cat sample: the share of the heatmap's mass inside a hand-traced outline of the
  cat (``tests/data/cat_mask.json``), and how much hotter per pixel the cat is than the room.
- The same for a small copy of the cat pasted into another sample photo (a tenth of the picture),
  explaining the best-ranked cat class.
- Integrated gradients: over the review sentences of ``tests/data/reviews.tsv``, how much the
  sentiment score of the original label drops when the most-attributed word is deleted, against a
  random word (seeded).
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.explain import heatmap_pixels, most_attributed  # noqa: E402

SAMPLES = ROOT / "assets" / "samples"
DATA = ROOT / "tests" / "data"
CAT_CLASSES = range(281, 286)  # ImageNet's domestic cats: tabby, tiger, Persian, Siamese, Egyptian


def cat_outline() -> list[list[float]]:
    return json.loads((DATA / "cat_mask.json").read_text())["polygon"]


def polygon_mask(size, polygon) -> np.ndarray:
    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon], fill=1)
    return np.asarray(canvas, bool)


@dataclass(frozen=True)
class HeatOnCat:
    label: str
    mass_on_cat: float  # share of the heatmap's mass inside the outline
    cat_area: float  # share of the picture the outline covers
    hotter: float  # mean heat per pixel on the cat / off it, within the region the model saw


def heat_on_cat(tasks, model: str | None = None) -> HeatOnCat:
    why = tasks.explain_image(SAMPLES / "cat.jpg", model=model)
    heat = heatmap_pixels(why)
    cat = polygon_mask((why.width, why.height), cat_outline())
    seen = np.zeros_like(cat)
    left, top, right, bottom = why.box
    seen[top:bottom, left:right] = True
    return HeatOnCat(why.label, float(heat[cat].sum() / heat.sum()), float(cat.mean()),
                     float(heat[cat & seen].mean() / max(heat[~cat & seen].mean(), 1e-9)))


def heat_on_pasted_cat(tasks, background: str = "street.jpg", corner=(40, 60), model: str | None = None) -> HeatOnCat:
    """The cat at 200 x 133 pixels on a 448 x 448 copy of ``background``, its best cat class explained."""
    canvas = Image.open(SAMPLES / background).convert("RGB").resize((448, 448))
    canvas.paste(Image.open(SAMPLES / "cat.jpg").convert("RGB").resize((200, 133)), corner)
    scale_x, scale_y = 200 / 451, 133 / 300
    cat = polygon_mask(canvas.size, [[corner[0] + x * scale_x, corner[1] + y * scale_y] for x, y in cat_outline()])
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    photo = ("composite.png", buffer.getvalue())
    ranked = tasks.classify([photo], model=model, top_k=1000)[0].predictions
    best_cat = next(p for p in ranked if p.index in CAT_CLASSES)
    heat = heatmap_pixels(tasks.explain_image(photo, model=model, index=best_cat.index))
    return HeatOnCat(best_cat.label, float(heat[cat].sum() / heat.sum()), float(cat.mean()),
                     float(heat[cat].mean() / max(heat[~cat].mean(), 1e-9)))


def review_sentences() -> list[str]:
    with (DATA / "reviews.tsv").open(encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle, delimiter="\t")]


@dataclass(frozen=True)
class DeletionDrops:
    top: list[float]  # per text: the original label's probability lost when the most-attributed word goes
    random: list[float]  # the same for a random word
    flips_top: int  # texts whose label changed
    flips_random: int


def deletion_drops(tasks, texts: list[str], seed: int = 17) -> DeletionDrops:
    rng = random.Random(seed)

    def without(text, word):
        return (text[: word.start] + text[word.end :]).replace("  ", " ").strip()

    originals = tasks.sentiment(texts)
    top_texts, random_texts = [], []
    for text in texts:
        why = tasks.explain_sentiment(text)
        top_texts.append(without(text, most_attributed(why)))
        random_texts.append(without(text, rng.choice([w for w in why.words if w.text.isalnum()])))
    after_top, after_random = tasks.sentiment(top_texts), tasks.sentiment(random_texts)
    return DeletionDrops(
        top=[o.score - a.scores[o.label] for o, a in zip(originals, after_top)],
        random=[o.score - a.scores[o.label] for o, a in zip(originals, after_random)],
        flips_top=sum(o.label != a.label for o, a in zip(originals, after_top)),
        flips_random=sum(o.label != a.label for o, a in zip(originals, after_random)))


def main() -> None:
    from services.local import LocalTasks

    tasks = LocalTasks()
    for model in ("efficientnet-lite0", "efficientnet-lite2"):
        on_cat = heat_on_cat(tasks, model)
        print(f"{model}, cat.jpg ({on_cat.label}): {on_cat.mass_on_cat:.1%} of the mass inside the outline "
              f"({on_cat.cat_area:.0%} of the photo); {on_cat.hotter:.1f}x hotter per pixel than the room")
        for background in ("street.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg"):
            for corner in ((40, 60), (200, 220), (40, 240)):
                pasted = heat_on_pasted_cat(tasks, background, corner, model)
                print(f"  pasted on {background} at {corner}: {pasted.mass_on_cat:.1%} of the mass on the cat "
                      f"({pasted.cat_area:.0%} of the picture), {pasted.label}")
    drops = deletion_drops(tasks, review_sentences())
    wins = sum(t > r for t, r in zip(drops.top, drops.random))
    print(f"reviews ({len(drops.top)}): deleting the most-attributed word drops the score by "
          f"{statistics.mean(drops.top):.3f} on average, a random word by {statistics.mean(drops.random):.3f}; "
          f"more in {wins} of {len(drops.top)}; labels flip {drops.flips_top} vs {drops.flips_random} times")


if __name__ == "__main__":
    main()
