"""Boxes and labels drawn onto an image with Pillow."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from .inputs import load_image
from .results import Detection

PALETTE = {
    "person": (239, 68, 68), "bicycle": (234, 179, 8), "car": (59, 130, 246), "motorcycle": (168, 85, 247),
    "bus": (16, 185, 129), "truck": (20, 184, 166), "traffic light": (249, 115, 22), "stop sign": (220, 38, 38),
}


def draw_detections(image: Image.Image | bytes, detections: list[Detection]) -> Image.Image:
    canvas = (load_image(image) if not isinstance(image, Image.Image) else image.convert("RGB")).copy()
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(max(canvas.size) / 400))
    font = ImageFont.load_default(size=max(12, round(max(canvas.size) / 60)))
    for det in detections:
        colour = PALETTE.get(det.label, (100, 116, 139))
        x1, y1, x2, y2 = det.box
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        caption = f"{det.label} {det.score:.0%}"
        left, top, right, bottom = draw.textbbox((x1, y1), caption, font=font)
        lift = bottom - top + 4
        draw.rectangle((x1, y1 - lift, x1 + right - left + 6, y1), fill=colour)
        draw.text((x1 + 3, y1 - lift + 1), caption, fill=(255, 255, 255), font=font)
    return canvas
