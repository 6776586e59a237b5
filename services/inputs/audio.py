"""Audio decoding with PyAV (its wheels carry FFmpeg): any container to 16 kHz mono float32."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..config import LIMITS
from ..errors import InputError
from .files import read_bytes

SAMPLE_RATE = 16_000
MIN_SECONDS = 0.1


def decode_audio(source: bytes | str | Path, name: str = "audio", max_seconds: float | None = None) -> np.ndarray:
    """Decode the first audio stream to mono float32 at 16 kHz.

    Raises ``InputError`` for empty, corrupt, silent-free-of-audio (a video with
    no sound track), too short or too long input. The duration limit is
    enforced while decoding, so a two-hour file is refused without decoding it all.
    """
    import av

    limit = max_seconds or LIMITS.max_audio_seconds
    data = read_bytes(source, name)
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise InputError(f"{name}: not an audio file that can be decoded ({_short(exc)})") from None
    try:
        if not container.streams.audio:
            raise InputError(f"{name}: the file has no audio track")
        stream = container.streams.audio[0]
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > limit + 1:
            raise InputError(f"{name}: {declared / 60:.1f} minutes long; the limit is {limit / 60:.0f} minutes")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        total = 0
        max_samples = int(limit * SAMPLE_RATE)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1)
                chunks.append(chunk)
                total += chunk.size
            if total > max_samples:
                raise InputError(f"{name}: longer than the limit of {limit / 60:.0f} minutes")
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except InputError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise InputError(f"{name}: the audio is corrupt or truncated ({_short(exc)})") from None
    finally:
        container.close()
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if audio.size < MIN_SECONDS * SAMPLE_RATE:
        raise InputError(f"{name}: shorter than {MIN_SECONDS} s; nothing to transcribe")
    return np.ascontiguousarray(audio)


def _declared_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
