"""Short clips with PyAV: frames in, an annotated H.264 clip out."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from .config import LIMITS
from .errors import InputError


@dataclass
class VideoFrames:
    frames: list[tuple[float, Image.Image]]  # (time in seconds, RGB frame)
    fps: float


def decode_clip(data: bytes, every: int = 1, name: str = "clip", max_frames: int | None = None) -> VideoFrames:
    """Every ``every``-th frame, at most ``max_frames`` of them; ``InputError`` if unreadable."""
    import av

    limit = max_frames or LIMITS.max_video_frames
    if not data:
        raise InputError(f"{name}: the file is empty")
    try:
        container = av.open(io.BytesIO(data))
    except (av.error.FFmpegError, ValueError, OSError):
        raise InputError(f"{name}: not a video file that can be decoded") from None
    frames: list[tuple[float, Image.Image]] = []
    try:
        if not container.streams.video:
            raise InputError(f"{name}: the file has no video track")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for index, frame in enumerate(container.decode(stream)):
            if index % every:
                continue
            if len(frames) >= limit:
                raise InputError(f"{name}: more than {limit} frames to analyse; trim the clip or analyse fewer frames")
            time_s = float(frame.time) if frame.time is not None else index / fps
            image = frame.to_image()
            if image.width * image.height > LIMITS.max_image_pixels:
                raise InputError(f"{name}: frames are too large")
            frames.append((round(time_s, 3), image))
    except InputError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        if not frames:
            raise InputError(f"{name}: the video is corrupt ({exc})") from None
    finally:
        container.close()
    if not frames:
        raise InputError(f"{name}: no frames could be decoded")
    return VideoFrames(frames=frames, fps=fps)


def annotate_clip(per_frame, fps: float) -> bytes:
    """Encode annotated frames ((time, image, detections) triples) as an MP4."""
    import av

    from .drawing import draw_detections

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        first = per_frame[0][1]
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=max(1, round(fps)))
        stream.width, stream.height = first.width - first.width % 2, first.height - first.height % 2
        stream.pix_fmt = "yuv420p"
        for _, image, detections in per_frame:
            drawn = draw_detections(image, detections).crop((0, 0, stream.width, stream.height))
            for packet in stream.encode(av.VideoFrame.from_image(drawn)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()
