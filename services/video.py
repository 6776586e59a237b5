"""Video files with PyAV, streamed: frames are decoded, used and dropped one at a time.

Nothing here holds more than a frame or two, so memory stays flat whatever the clip's
length. ``probe`` refuses bad files from their headers before any decoding.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .config import LIMITS
from .errors import InputError

# demuxers that read still images: PyAV opens a JPEG as a one-frame "video"
_IMAGE_FORMATS = ("image2", "_pipe", "gif", "apng")
TEMP_PREFIX = "dashboard-video-"


@dataclass(frozen=True)
class VideoInfo:
    """What the container declares, after rotation (``width`` x ``height`` as shown)."""

    width: int
    height: int
    fps: float
    duration_s: float
    rotation: int  # degrees counter-clockwise, from the display matrix (phone videos)
    codec: str

    @property
    def scale(self) -> float:
        """Down-scaling applied before analysis, so 4K frames cost what full HD does."""
        side = max(self.width, self.height)
        return min(1.0, LIMITS.max_video_side / side) if side else 1.0


@dataclass(frozen=True)
class Frame:
    index: int  # in the file, counting every frame
    time_s: float  # presentation time: right for variable frame rates too
    rgb: np.ndarray  # HxWx3 uint8, upright, at ``VideoInfo.scale``


def _open(path: Path, name: str):
    import av

    if not path.is_file() or path.stat().st_size == 0:
        raise InputError(f"{name}: the file is empty")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, ValueError, OSError, UnicodeDecodeError):
        raise InputError(f"{name}: not a video file that can be decoded") from None


def probe(path: str | Path, name: str = "clip") -> VideoInfo:
    """The clip's declared facts, or ``InputError`` for anything that is not a usable video."""
    import av

    container = _open(Path(path), name)
    try:
        if any(part in container.format.name for part in _IMAGE_FORMATS):
            raise InputError(f"{name}: this is a still image, not a video; use the Images tab (or `detect`)")
        if not container.streams.video:
            raise InputError(f"{name}: the file has no video track")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = (stream.frames or 0) / fps
        if duration > LIMITS.max_video_seconds:
            raise InputError(f"{name}: the clip is {duration / 60:.1f} minutes long; the limit is "
                             f"{LIMITS.max_video_seconds / 60:.0f} minutes (MAX_VIDEO_SECONDS); trim it first")
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise InputError(f"{name}: the video track has no frame size; the file is corrupt")
        rotation = _rotation(container, stream)
        if rotation % 180:
            width, height = height, width
        return VideoInfo(width=width, height=height, fps=round(fps, 3), duration_s=round(duration, 3),
                         rotation=rotation, codec=stream.codec_context.name)
    except av.error.FFmpegError as exc:
        raise InputError(f"{name}: the video is corrupt ({exc})") from None
    finally:
        container.close()


def _rotation(container, stream) -> int:
    """Rotation from the first frame's display matrix (PyAV's ``frame.rotation``); 0 if none."""
    import av

    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0))
    except av.error.FFmpegError:
        raise InputError("the video is corrupt: its first frame cannot be decoded") from None
    return 0


def frames(path: str | Path, info: VideoInfo, every: int = 1, name: str = "clip") -> Iterator[Frame]:
    """Every ``every``-th frame, upright and scaled by ``info.scale``, one at a time.

    A clip that breaks off part-way (truncated) ends at its last good frame; one with
    no good frame at all, or that runs past the length limit, raises ``InputError``.
    """
    import av

    container = _open(Path(path), name)
    yielded = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame-threaded decoding: free speed on every core
        width, height = info.width, info.height
        if info.rotation % 180:
            width, height = height, width  # decoded frames are stored sideways
        size = (max(2, round(width * info.scale)) // 2 * 2, max(2, round(height * info.scale)) // 2 * 2)
        try:
            for index, frame in enumerate(container.decode(stream)):
                time_s = float(frame.time) if frame.time is not None else index / info.fps
                if time_s > LIMITS.max_video_seconds + 1:
                    raise InputError(f"{name}: the clip runs past the {LIMITS.max_video_seconds:.0f} s limit "
                                     "(its header said it was shorter)")
                if index % every:
                    continue
                rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                if info.rotation:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=round(info.rotation / 90) % 4))
                yielded += 1
                yield Frame(index=index, time_s=round(time_s, 3), rgb=rgb)
        except av.error.FFmpegError as exc:
            if not yielded:
                raise InputError(f"{name}: the video is corrupt ({exc})") from None
        if not yielded:
            raise InputError(f"{name}: the clip has no frames that can be decoded")
    finally:
        container.close()


class VideoWriter:
    """An H.264 MP4 written frame by frame (timestamps kept, so variable rates play right)."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float) -> None:
        import av

        self.container = av.open(str(path), mode="w", format="mp4")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        options = {"preset": "veryfast", "crf": "26"} if codec == "libx264" else {}
        self.stream = self.container.add_stream(codec, rate=max(1, round(fps)), options=options)
        self.stream.width, self.stream.height = width - width % 2, height - height % 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = Fraction(1, 1000)
        self._last_pts = -1

    def write(self, rgb: np.ndarray, time_s: float) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(rgb[: self.stream.height, : self.stream.width], format="rgb24")
        frame.pts = max(self._last_pts + 1, round(time_s * 1000))
        frame.time_base = Fraction(1, 1000)
        self._last_pts = frame.pts
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        try:
            self.container.mux(self.stream.encode())
        finally:
            self.container.close()


def new_folder() -> Path:
    """A private folder for an upload and its outputs (``remove_stale_folders`` finds it later)."""
    return Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))


@contextmanager
def temporary_folder() -> Iterator[Path]:
    """A ``new_folder``, deleted afterwards whatever happens."""
    folder = new_folder()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_folders(max_age_s: float = 3600) -> None:
    """Delete kept video folders older than ``max_age_s`` (sessions that ended without cleaning up)."""
    cutoff = time.time() - max_age_s
    for folder in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass
