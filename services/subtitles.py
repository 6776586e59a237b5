"""Transcript exports: plain text, SRT and WebVTT."""

from __future__ import annotations

from .results import Transcript


def _stamp(seconds: float, separator: str) -> str:
    millis = int(round(max(0.0, seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_txt(transcript: Transcript) -> str:
    return "\n".join(s.text for s in transcript.segments) + "\n"


def to_srt(transcript: Transcript) -> str:
    blocks = [
        f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n"
        for i, s in enumerate(transcript.segments, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript) -> str:
    blocks = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n" for s in transcript.segments]
    return "WEBVTT\n\n" + "\n".join(blocks)
