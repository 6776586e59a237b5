"""Image decoding with Pillow: EXIF orientation, any mode to RGB, a pixel limit."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..config import LIMITS
from ..errors import InputError
from .files import read_bytes

ImageSource = bytes | bytearray | str | Path | Image.Image


def load_image(source: ImageSource, name: str = "image", max_pixels: int | None = None) -> Image.Image:
    """Decode ``source`` into an RGB image, or raise ``InputError`` saying why not.

    The pixel limit is checked from the header, before any pixel is decoded, so
    a decompression bomb costs nothing.
    """
    limit = max_pixels or LIMITS.max_image_pixels
    if isinstance(source, Image.Image):
        return _to_rgb(source)
    data = read_bytes(source, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limit:
                raise InputError(
                    f"{name}: {width}x{height} is {width * height / 1e6:.0f} megapixels;"
                    f" the limit is {limit / 1e6:.0f} megapixels"
                )
            image.seek(0)  # animated GIF/WebP: the first frame
            image.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{name}: the image is too large to decode safely") from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not an image file Pillow can read (jpg, png, webp, bmp, gif...)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{name}: the image is corrupt or truncated ({exc})") from None
    if image.width < 1 or image.height < 1:
        raise InputError(f"{name}: the image has no pixels")
    image = ImageOps.exif_transpose(image)
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is flattened onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(array, "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
