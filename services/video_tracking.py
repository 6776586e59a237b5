"""A clip, tracked and counted: decode -> detect in batches -> track -> draw -> encode, streamed.

At most one batch of frames is alive at a time, and the annotated MP4 is written as the
frames go, so memory does not grow with the clip's length. What is kept is the
detections (``CandidateStore``) and the tracks: re-counting with a new threshold needs
neither the model nor the frames, and redrawing decodes the file again.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from . import video
from .drawing import draw_tracks
from .errors import Cancelled
from .results import Detection, VideoTracks
from .tracking import DEFAULT_TRACKER, CandidateStore, CountingLine, TrackCounter

BATCH_FRAMES = 8
DetectBatch = Callable[[list[Image.Image]], list[list[Detection]]]


@dataclass(frozen=True)
class Progress:
    done_s: float  # clip time reached
    total_s: float
    frames: int  # analysed so far
    elapsed_s: float

    @property
    def fraction(self) -> float:
        return min(1.0, self.done_s / self.total_s) if self.total_s else 0.0

    @property
    def eta_s(self) -> float | None:
        """Time left at the rate so far (None until there is a rate)."""
        if self.done_s <= 0 or self.elapsed_s <= 0:
            return None
        return max(0.0, (self.total_s - self.done_s) * self.elapsed_s / self.done_s)


@dataclass(frozen=True)
class TrackSettings:
    every: int = 1
    threshold: float = 0.35
    classes: Sequence[str] | None = None
    line: CountingLine | None = None
    tracker: str = DEFAULT_TRACKER


@dataclass
class TrackRun:
    """The result plus what a later re-count needs (kept by the page, never the frames)."""

    result: VideoTracks
    candidates: CandidateStore = field(repr=False)
    info: video.VideoInfo


def track_file(
    path: str | Path, settings: TrackSettings, detect: DetectBatch | None, name: str = "clip",
    output: str | Path | None = None, progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None, candidates: CandidateStore | None = None,
) -> TrackRun:
    """Track a clip. With ``candidates`` from an earlier run of the same clip and frame step,
    the detector is not called; with no ``output`` as well, the file is not even decoded."""
    if settings.every < 1:
        from .errors import InputError

        raise InputError("analyse every n-th frame: n must be at least 1")
    info = video.probe(path, name)
    started = time.perf_counter()
    fps = info.fps / settings.every
    reuse = candidates is not None
    store = candidates if reuse else CandidateStore(width=0, height=0)
    counter: TrackCounter | None = None
    writer: video.VideoWriter | None = None
    frames_seen = 0
    notes = []
    if info.scale < 1:
        notes.append(f"frames of {info.width}x{info.height} were analysed scaled down to at most "
                     f"{round(info.width * info.scale)}x{round(info.height * info.scale)}")
    try:
        if reuse and output is None:
            stream = ((None, t, rows) for t, rows in zip(store.times, store.rows))
        else:
            stream = _detected(video.frames(path, info, settings.every, name), detect, store, reuse)
        for rgb, time_s, rows in stream:
            if counter is None:
                if not reuse:
                    store.height, store.width = rgb.shape[:2]
                counter = TrackCounter(store.labels, fps, store.width, store.height, settings.threshold,
                                       settings.classes, settings.line, settings.tracker)
                if output is not None:
                    writer = video.VideoWriter(output, store.width, store.height, fps)
                line_px = settings.line.pixels(store.width, store.height) if settings.line else None
            objects = counter.update(time_s, rows)
            if writer is not None:
                writer.write(draw_tracks(rgb, objects, line_px, counter.line_totals()), time_s)
            frames_seen += 1
            if cancel is not None and cancel.is_set():
                raise Cancelled("stopped by the user")
            if progress is not None and (frames_seen % BATCH_FRAMES == 0):
                progress(Progress(time_s, info.duration_s, frames_seen, time.perf_counter() - started))
    finally:
        if writer is not None:
            writer.close()
    tracks = counter.tracks()
    counts: dict[str, int] = {}
    for track in tracks:
        counts[track.label] = counts.get(track.label, 0) + 1
    timeline = [{"second": s, **dict(c)} for s, c in sorted(counter.timeline.items())]
    result = VideoTracks(
        file=name, fps=info.fps, frames=frames_seen, seconds=info.duration_s, counts=dict(sorted(counts.items())),
        line=counter.line_counts(tracks), tracks=tracks, width=store.width, height=store.height,
        every=settings.every, processing_seconds=round(time.perf_counter() - started, 3), timeline=timeline,
        notes=notes,
    )
    return TrackRun(result=result, candidates=store, info=info)


def _detected(frames, detect: DetectBatch | None, store: CandidateStore, reuse: bool):
    """(frame, time, candidate rows) in order: the detector sees ``BATCH_FRAMES`` frames at a time."""
    index = 0
    while batch := list(itertools.islice(frames, BATCH_FRAMES)):
        if reuse:
            for frame in batch:
                if index >= len(store.rows):
                    return
                yield frame.rgb, store.times[index], store.rows[index]
                index += 1
            continue
        found = detect([Image.fromarray(frame.rgb) for frame in batch])
        for frame, detections in zip(batch, found):
            yield frame.rgb, frame.time_s, store.add(frame.time_s, detections)
