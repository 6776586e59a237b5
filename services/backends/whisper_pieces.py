"""Where to cut long audio into Whisper-sized pieces: at the quietest moment near
each 30-second boundary, so that no word is cut in two and pieces can be decoded
independently (and so in batches). Pieces of digital silence are never decoded,
which is where Whisper likes to hallucinate ("Thank you.")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inputs.audio import SAMPLE_RATE

WINDOW_S = 30.0  # what Whisper's encoder sees at once
SEARCH_FROM_S = 20.0  # the cut goes in the quietest spot between 20 and 30 s into a piece
FRAME_S = 0.02
QUIET_SPAN_S = 0.3  # loudness is averaged over this span when looking for a pause
SILENCE_RMS = 1e-4  # about -80 dBFS: nothing but digital silence or dither
LEAD_S = 0.2  # kept before the first sound of a piece


@dataclass(frozen=True)
class Piece:
    start: float  # seconds into the audio
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def samples(self, audio: np.ndarray) -> np.ndarray:
        return audio[int(round(self.start * SAMPLE_RATE)):int(round(self.end * SAMPLE_RATE))]


def frame_loudness(audio: np.ndarray) -> np.ndarray:
    """RMS per 20 ms frame, a minute at a time (a float64 copy of 30 minutes would be 230 MB)."""
    hop = int(FRAME_S * SAMPLE_RATE)
    frames = audio[: audio.size // hop * hop].reshape(-1, hop)
    step = int(60 / FRAME_S)
    parts = [np.sqrt(np.mean(np.square(frames[i:i + step], dtype=np.float32), axis=1))
             for i in range(0, len(frames), step)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def cut_pieces(audio: np.ndarray) -> list[Piece]:
    """Pieces of at most 30 s covering ``audio`` in order, cut at pauses; digital silence at a
    piece's start is left out."""
    total = audio.size / SAMPLE_RATE
    loudness = frame_loudness(audio)
    span = max(1, int(QUIET_SPAN_S / FRAME_S))
    smooth = np.convolve(loudness, np.ones(span) / span, mode="same") if loudness.size else loudness
    pieces: list[Piece] = []
    start = 0.0
    while total - start > WINDOW_S:
        first = int((start + SEARCH_FROM_S) / FRAME_S)
        last = int((start + WINDOW_S) / FRAME_S)
        window = smooth[first:last]
        quietest = last - 1 - int(np.argmin(window[::-1]))  # the latest of equally quiet spots: near the speech
        cut = quietest * FRAME_S
        pieces.append(Piece(round(start, 3), round(cut, 3)))
        start = cut
    if total - start > 0.05 or not pieces:
        pieces.append(Piece(round(start, 3), round(total, 3)))
    return [_without_leading_silence(p, loudness) for p in pieces]


def _without_leading_silence(piece: Piece, loudness: np.ndarray) -> Piece:
    """Whisper puts a window's first timestamp at 0.00 even after seconds of silence: start at the sound."""
    first = int(piece.start / FRAME_S)
    sound = np.flatnonzero(loudness[first:int(piece.end / FRAME_S)] >= SILENCE_RMS)
    if not sound.size:
        return piece
    start = max(piece.start, (first + sound[0]) * FRAME_S - LEAD_S)
    return Piece(round(float(start), 3), piece.end)


def is_silent(samples: np.ndarray) -> bool:
    loudness = frame_loudness(samples)
    return loudness.size == 0 or float(loudness.max()) < SILENCE_RMS


def as_loud_as(samples: np.ndarray, reference: np.ndarray, within_db: float = 20.0) -> bool:
    """Whether ``samples`` hold sound near the level of ``reference`` (speech, not a noise floor):
    their 95th-percentile frame loudness is at most ``within_db`` below the reference's."""
    mine, theirs = frame_loudness(samples), frame_loudness(reference)
    if not mine.size or not theirs.size:
        return False
    return float(np.percentile(mine, 95)) >= float(np.percentile(theirs, 95)) * 10 ** (-within_db / 20)
