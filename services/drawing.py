"""Boxes and labels drawn onto an image with Pillow."""

from __future__ import annotations

from collections.abc import Collection

from PIL import Image, ImageDraw, ImageFont

from .inputs import load_image
from .results import Detection

PALETTE = {
    "person": (239, 68, 68), "bicycle": (234, 179, 8), "car": (59, 130, 246), "motorcycle": (168, 85, 247),
    "bus": (16, 185, 129), "truck": (20, 184, 166), "traffic light": (249, 115, 22), "stop sign": (220, 38, 38),
}


ONLY_HERE = (219, 39, 119)  # compare mode: a box the other side has no match for


def draw_detections(image: Image.Image | bytes, detections: list[Detection],
                    only_here: Collection[int] = ()) -> Image.Image:
    """Boxes in their class colour; the indices in ``only_here`` in magenta, twice as thick, marked "only"."""
    canvas = load_image(image).copy()  # load_image takes bytes, paths and Pillow images alike
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(max(canvas.size) / 400))
    font = ImageFont.load_default(size=max(12, round(max(canvas.size) / 60)))
    for index, det in enumerate(detections):
        alone = index in only_here
        colour = ONLY_HERE if alone else PALETTE.get(det.label, (100, 116, 139))
        x1, y1, x2, y2 = det.box
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width * 2 if alone else width)
        caption = ("only: " if alone else "") + f"{det.label} {det.score:.0%}"
        left, top, right, bottom = draw.textbbox((x1, y1), caption, font=font)
        lift = bottom - top + 4
        draw.rectangle((x1, y1 - lift, x1 + right - left + 6, y1), fill=colour)
        draw.text((x1 + 3, y1 - lift + 1), caption, fill=(255, 255, 255), font=font)
    return canvas


def draw_tracks(rgb, objects, line: tuple[int, int, int, int] | None = None, totals: tuple[int, int] = (0, 0)):
    """Tracked boxes with their ids (and the counting line) on an RGB frame, with supervision."""
    import cv2
    import numpy as np
    import supervision as sv

    box_annotator, label_annotator, labels = _annotators()
    canvas = np.ascontiguousarray(rgb)
    if objects:
        detections = sv.Detections(
            xyxy=np.array([o.box for o in objects], np.float32),
            class_id=np.array([labels.index(o.label) if o.label in labels else len(labels) - 1 for o in objects]),
            tracker_id=np.array([o.track_id for o in objects]),
        )
        canvas = box_annotator.annotate(canvas, detections)
        canvas = label_annotator.annotate(canvas, detections, labels=[f"#{o.track_id} {o.label}" for o in objects])
    if line is not None:
        x1, y1, x2, y2 = line
        thickness = max(2, round(max(canvas.shape[:2]) / 400))
        cv2.line(canvas, (x1, y1), (x2, y2), (255, 255, 255), thickness + 2)
        cv2.line(canvas, (x1, y1), (x2, y2), (236, 72, 153), thickness)
        cv2.putText(canvas, f"in {totals[0]}  out {totals[1]}", (min(x1, x2) + 8, max(24, min(y1, y2) - 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return canvas


_ANNOTATORS = None


def _annotators():
    """Built once: supervision draws with OpenCV, which takes colours as BGR (our frames are RGB)."""
    global _ANNOTATORS
    if _ANNOTATORS is None:
        import supervision as sv

        labels = list(PALETTE) + ["other"]
        colours = [sv.Color(b, g, r) for r, g, b in list(PALETTE.values()) + [(100, 116, 139)]]
        palette = sv.ColorPalette(colours)
        # the label text is drawn in BGR too: white stays white
        _ANNOTATORS = (
            sv.BoxAnnotator(color=palette, color_lookup=sv.ColorLookup.CLASS, thickness=2),
            sv.LabelAnnotator(color=palette, color_lookup=sv.ColorLookup.CLASS, text_scale=0.5, text_padding=4),
            labels,
        )
    return _ANNOTATORS


def draw_heatmap(image: Image.Image | bytes, explanation, opacity: float = 0.55) -> Image.Image:
    """An ``ImageExplanation`` over its photo (matplotlib's "jet": red is strong evidence); the
    part the model did not see (outside the centre crop) is greyed out."""
    import numpy as np
    from matplotlib import colormaps

    from .explain import heatmap_pixels

    photo = np.asarray(load_image(image), np.float32)
    heat = heatmap_pixels(explanation)
    colours = colormaps["jet"](heat)[..., :3] * 255
    blended = photo * (1 - opacity) + colours * opacity
    left, top, right, bottom = explanation.box
    seen = np.zeros(heat.shape, bool)
    seen[top:bottom, left:right] = True
    grey = photo.mean(-1, keepdims=True) * 0.5 + 64
    return Image.fromarray(np.where(seen[..., None], blended, grey).clip(0, 255).astype(np.uint8))
