"""Multi-object tracking and counting over a stream of detections, with no video I/O.

The tracker is Roboflow's ``trackers`` (ByteTrack, chosen over SORT and OC-SORT by
``tools/eval_tracking.py``); line crossings come from ``supervision.LineZone``.
Every candidate the detector returned is kept per frame, compactly
(``CandidateStore``), so a new threshold or class set tracks and counts again
without the model and without any frame in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .results import Detection, LineCount, Track, TrackedObject

MAX_CANDIDATES_PER_FRAME = 100  # highest scores kept; a road frame has far fewer objects
TRACKERS = ("bytetrack-biou", "bytetrack", "sort", "ocsort", "cbiou", "botsort")
DEFAULT_TRACKER = "bytetrack-biou"  # measured best by tools/eval_tracking.py (benchmarks/README.md)
LOST_TRACK_S = 1.5
CONFIRM_FRAMES = 2  # frames in a row before a track gets an id
NEW_TRACK_SCORE = 0.6
HIGH_SCORE = 0.5
DUPLICATE_IOU = 0.7  # boxes of different classes overlapping this much are one object


@dataclass(frozen=True)
class CountingLine:
    """A segment in fractions of the frame (0..1). Crossing it downwards (horizontal
    line) or rightwards (vertical line) counts as "in", the other way as "out"."""

    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def horizontal(cls, y: float) -> "CountingLine":
        return cls(0.0, y, 1.0, y)

    @classmethod
    def vertical(cls, x: float) -> "CountingLine":
        return cls(x, 0.0, x, 1.0)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        return (round(self.x1 * width), round(self.y1 * height), round(self.x2 * width), round(self.y2 * height))

    def __post_init__(self) -> None:
        from .errors import InputError

        if not all(0.0 <= v <= 1.0 for v in (self.x1, self.y1, self.x2, self.y2)):
            raise InputError("the counting line must lie inside the frame (positions between 0 and 1)")
        if (self.x1, self.y1) == (self.x2, self.y2):
            raise InputError("the counting line needs two different end points")


@dataclass
class CandidateStore:
    """Every analysed frame's detection candidates as float32 rows (x1 y1 x2 y2 score class)."""

    width: int
    height: int
    labels: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)

    def add(self, time_s: float, detections: Sequence[Detection]) -> np.ndarray:
        best = sorted(detections, key=lambda d: -d.score)[:MAX_CANDIDATES_PER_FRAME]
        row = np.array([(*d.box, d.score, self._class(d.label)) for d in best], np.float32).reshape(-1, 6)
        self.times.append(time_s)
        self.rows.append(row)
        return row

    def _class(self, label: str) -> int:
        if label not in self.labels:
            self.labels.append(label)
        return self.labels.index(label)

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.rows)

    def save(self, path) -> None:
        """To a .npz (plain arrays, no pickle), e.g. to re-track a clip later without the model."""
        lengths = np.array([len(r) for r in self.rows], np.int64)
        rows = np.concatenate(self.rows) if self.rows else np.zeros((0, 6), np.float32)
        np.savez_compressed(path, size=np.array([self.width, self.height]), labels=np.array(self.labels, str),
                            times=np.array(self.times, np.float64), lengths=lengths, rows=rows)

    @classmethod
    def load(cls, path) -> "CandidateStore":
        with np.load(path, allow_pickle=False) as data:
            splits = np.cumsum(data["lengths"])[:-1]
            return cls(width=int(data["size"][0]), height=int(data["size"][1]), labels=[str(x) for x in data["labels"]],
                       times=[float(t) for t in data["times"]], rows=list(np.split(data["rows"], splits)))


def _make_tracker(name: str, fps: float, threshold: float):
    """One of the ``trackers`` library's trackers. A lost track is kept for 1.5 s so that an
    object hidden behind another keeps its id; a new track needs a detection of at least
    ``NEW_TRACK_SCORE`` (or the user's threshold if higher), while detections down to the
    threshold extend existing tracks (ByteTrack's two-stage matching)."""
    import trackers

    new, high = max(threshold, NEW_TRACK_SCORE), max(threshold, HIGH_SCORE)
    variants = {  # (class, its own options); the library counts the lost buffer in frames at 30 fps
        "bytetrack-biou": (trackers.ByteTrackTracker, dict(track_activation_threshold=new, high_conf_det_threshold=high,
                                                          iou=trackers.BIoU(0.5))),
        "bytetrack": (trackers.ByteTrackTracker, dict(track_activation_threshold=new, high_conf_det_threshold=high)),
        "sort": (trackers.SORTTracker, dict(track_activation_threshold=new)),
        "ocsort": (trackers.OCSORTTracker, dict(high_conf_det_threshold=high)),
        "cbiou": (trackers.CBIoUTracker, dict(track_activation_threshold=new, high_conf_det_threshold=high)),
        # no camera-motion compensation: it needs the frames, which this layer does not keep
        "botsort": (trackers.BoTSORTTracker, dict(track_activation_threshold=new, high_conf_det_threshold=high,
                                                  enable_cmc=False)),
    }
    if name in variants:
        kind, options = variants[name]
        return kind(lost_track_buffer=round(LOST_TRACK_S * 30), frame_rate=fps,
                    minimum_consecutive_frames=CONFIRM_FRAMES, **options)
    from .errors import InputError

    raise InputError(f"unknown tracker {name!r}; choose one of {', '.join(TRACKERS)}")


class TrackCounter:
    """Feeds one frame's candidates at a time; knows the tracks, counts and line crossings so far."""

    def __init__(self, labels: list[str], fps: float, width: int, height: int, threshold: float = 0.35,
                 classes: Sequence[str] | None = None, line: CountingLine | None = None,
                 tracker: str = DEFAULT_TRACKER, min_track_s: float = 0.5) -> None:
        import supervision as sv

        self.labels = labels  # shared with the store: grows as new classes appear
        self.threshold = threshold
        self.frame_interval_s = 1 / fps
        self.wanted = set(classes) if classes else None
        self.min_track_s = min_track_s
        self.tracker = _make_tracker(tracker, fps, threshold)
        self.line = line
        self.zone = None
        if line is not None:
            x1, y1, x2, y2 = line.pixels(width, height)
            if (y1, -x1) > (y2, -x2):  # start at the upper end (the right end if level): then
                x1, y1, x2, y2 = x2, y2, x1, y1  # supervision's "in" is downwards / rightwards
            start, end = sv.Point(x1, y1), sv.Point(x2, y2)
            self.zone = sv.LineZone(start=start, end=end, triggering_anchors=[sv.Position.BOTTOM_CENTER])
        self._votes: dict[int, Counter] = {}
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._frames: Counter = Counter()
        self._crossings: list[tuple[int, str, float]] = []  # (track id, "in" | "out", time)
        self.timeline: dict[int, Counter] = {}  # whole second -> most objects of each class in view at once

    def update(self, time_s: float, rows: np.ndarray) -> list[TrackedObject]:
        """Track this frame's candidates (low scores help keep tracks, as ByteTrack intends)."""
        import supervision as sv

        keep = rows[:, 4] >= min(0.1, self.threshold)
        if self.wanted is not None:
            keep &= np.array([self.labels[int(c)] in self.wanted for c in rows[:, 5]], bool)
        rows = rows[keep]
        detections = sv.Detections(xyxy=rows[:, :4].astype(np.float32), confidence=rows[:, 4].astype(np.float32),
                                   class_id=rows[:, 5].astype(int))
        # one object, one box: the detector's class-wise NMS leaves a bus also boxed as a truck
        detections = detections.with_nms(DUPLICATE_IOU, class_agnostic=True)
        tracked = self.tracker.update(detections)
        if tracked.tracker_id is None or not len(tracked):
            return []
        confirmed = tracked[(tracked.tracker_id >= 0) & (tracked.confidence >= self.threshold * 0.5)]
        if self.zone is not None and len(confirmed):
            crossed_in, crossed_out = self.zone.trigger(confirmed)
            for tid in confirmed.tracker_id[crossed_in]:
                self._crossings.append((int(tid), "in", time_s))
            for tid in confirmed.tracker_id[crossed_out]:
                self._crossings.append((int(tid), "out", time_s))
        second = Counter()
        shown = []
        for box, score, cls, tid in zip(confirmed.xyxy, confirmed.confidence, confirmed.class_id, confirmed.tracker_id):
            tid, label = int(tid), self.labels[int(cls)]
            self._votes.setdefault(tid, Counter())[label] += 1
            if tid not in self._first:  # confirmed on its CONFIRM_FRAMES-th frame: it began that much earlier
                self._first[tid] = max(0.0, round(time_s - (CONFIRM_FRAMES - 1) * self.frame_interval_s, 3))
                self._frames[tid] += CONFIRM_FRAMES - 1
            self._last[tid] = time_s
            self._frames[tid] += 1
            second[label] += 1
            shown.append(TrackedObject(tid, label, round(float(score), 4), tuple(float(v) for v in box)))
        bucket = self.timeline.setdefault(int(time_s), Counter())
        for label, n in second.items():
            bucket[label] = max(bucket[label], n)
        return shown

    def label_of(self, track_id: int) -> str:
        return self._votes[track_id].most_common(1)[0][0]

    def tracks(self) -> list[Track]:
        """Tracks seen long enough to count (``min_track_s``, or two analysed frames when
        frames are further apart than that), with their majority class."""
        out = []
        shortest = max(self.min_track_s, self.frame_interval_s)
        for tid in sorted(self._first):
            first, last = self._first[tid], self._last[tid]
            if last - first + 1e-6 >= shortest:
                out.append(Track(id=tid, label=self.label_of(tid), first_s=round(first, 3), last_s=round(last, 3),
                                 frames=self._frames[tid]))
        return out

    def line_counts(self, tracks: list[Track]) -> dict[str, LineCount] | None:
        if self.zone is None:
            return None
        counted = {t.id: t.label for t in tracks}
        seen: set[tuple[int, str]] = set()
        totals: dict[str, dict[str, int]] = {}
        for tid, direction, _ in self._crossings:
            if tid in counted and (tid, direction) not in seen:
                seen.add((tid, direction))
                totals.setdefault(counted[tid], {"inward": 0, "outward": 0})[direction + "ward"] += 1
        return {label: LineCount(**c) for label, c in sorted(totals.items())}

    def line_totals(self) -> tuple[int, int]:
        return (self.zone.in_count, self.zone.out_count) if self.zone is not None else (0, 0)
