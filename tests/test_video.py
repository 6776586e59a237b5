"""Video: streamed decoding, bad files, tracking and counting with exact ground truth.

The fast tests feed the tracker hand-made detections (every box known); the slow ones run
the bundled detector on the synthetic clip of ``synthetic_video`` and on OpenCV's
hand-counted ``vtest.avi`` (``make clips``).
"""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from services import api, video
from services.errors import Cancelled, InputError
from services.results import Detection
from services.tiling import Tiling, detect_tiled
from services.tracking import CandidateStore, CountingLine, TrackCounter
from services.video_tracking import TrackSettings, track_file

from .synthetic_video import grouped, make_clip

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
VTEST = ROOT / "artifacts" / "clips" / "vtest.avi"
VTEST_COUNTS = ROOT.parent / "shared" / "data" / "road" / "clips" / "vtest_counts.json"


def write_clip(path: Path, frames: int = 10, size=(64, 48), fps: float = 10, times=None, draw=None) -> Path:
    writer = video.VideoWriter(path, size[0], size[1], fps)
    for i in range(frames):
        rgb = np.full((size[1], size[0], 3), 40, np.uint8)
        if draw:
            draw(rgb, i)
        writer.write(rgb, times[i] if times else i / fps)
    writer.close()
    return path


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


# ---------------------------------------------------------------- bad files
def test_empty_file_is_refused(tmp):
    (tmp / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        video.probe(tmp / "empty.mp4", "empty.mp4")


def test_audio_file_has_no_video_track():
    with pytest.raises(InputError, match="no video track"):
        video.probe(DATA / "jfk.mp3", "jfk.mp3")


def test_image_given_as_a_clip_is_refused():
    with pytest.raises(InputError, match="still image"):
        video.probe(ROOT / "assets/samples/cat.jpg", "cat.jpg")


def test_random_bytes_are_not_a_video(tmp):
    (tmp / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(InputError, match="not a video|corrupt|no video"):
        video.probe(tmp / "junk.mp4", "junk.mp4")


def test_truncated_clip_gives_its_good_frames_or_a_clear_error(tmp):
    whole = write_clip(tmp / "whole.mp4", frames=40, size=(160, 120))
    data = whole.read_bytes()
    (tmp / "half.mp4").write_bytes(data[: len(data) // 2])
    # an MP4 cut in half has lost its index (moov at the end): refused, with a message
    with pytest.raises(InputError):
        info = video.probe(tmp / "half.mp4", "half.mp4")
        list(video.frames(tmp / "half.mp4", info, name="half.mp4"))


def test_clip_over_the_length_limit_is_refused_from_its_header(tmp, monkeypatch):
    clip = write_clip(tmp / "long.mp4", frames=30)
    monkeypatch.setattr(video, "LIMITS", dataclasses.replace(video.LIMITS, max_video_seconds=2.0))
    decoded = []
    monkeypatch.setattr(video, "frames", lambda *a, **k: decoded.append(1) or iter(()))
    with pytest.raises(InputError, match="limit is 0 minutes|limit"):
        api.track_video(clip, candidates=CandidateStore(1, 1))
    assert not decoded  # refused before any frame was decoded


def test_zero_length_clip_is_refused(tmp):
    clip = write_clip(tmp / "zero.mp4", frames=0)
    with pytest.raises(InputError):
        info = video.probe(clip, "zero.mp4")
        list(video.frames(clip, info, name="zero.mp4"))


def test_4k_frames_are_analysed_scaled_down_and_say_so(tmp):
    clip = write_clip(tmp / "uhd.mp4", frames=2, size=(3840, 2160))
    info = video.probe(clip, "uhd.mp4")
    assert (info.width, info.height) == (3840, 2160)
    frame = next(video.frames(clip, info))
    assert frame.rgb.shape == (1080, 1920, 3)
    run = track_file(clip, TrackSettings(), detect=lambda images: [[] for _ in images])
    assert run.result.width == 1920 and "scaled down" in run.result.notes[0]


def _rotate_90_clockwise(path: Path) -> None:
    """Set the MP4 track's display matrix to 90 degrees clockwise, as a phone held upright does."""
    data = bytearray(path.read_bytes())
    matrix = data.index(b"tkhd") + 4 + 40
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    path.write_bytes(bytes(data))


def test_phone_rotation_is_applied(tmp):
    def marker(rgb, i):
        rgb[:8, :8] = 255  # top-left as stored

    clip = write_clip(tmp / "phone.mp4", frames=3, size=(64, 32), draw=marker)
    _rotate_90_clockwise(clip)
    info = video.probe(clip)
    assert (info.width, info.height, info.rotation) == (32, 64, -90)
    frame = next(video.frames(clip, info))
    assert frame.rgb.shape == (64, 32, 3)
    assert frame.rgb[:8, -8:].mean() > 200 and frame.rgb[:8, :8].mean() < 60  # now top-right, upright


def test_variable_frame_rate_keeps_real_times(tmp):
    times = [0.0, 0.1, 0.2, 0.7, 0.8, 1.5, 1.6, 1.7]
    clip = write_clip(tmp / "vfr.mp4", frames=len(times), times=times)
    got = [f.time_s for f in video.frames(clip, video.probe(clip))]
    assert got == pytest.approx(times, abs=0.002)


# ---------------------------------------------------------------- tracking, exact ground truth
def _moving(label, start, step, y, size=(40, 40)):
    def box(i):
        x = start + step * i
        return Detection(label, 0.9, (x, y, x + size[0], y + size[1]))
    return box


def _count(frames, line=None, fps=10.0, width=640, height=360, **kwargs):
    store = CandidateStore(width, height)
    counter = TrackCounter(store.labels, fps, width, height, line=line, **kwargs)
    for i, detections in enumerate(frames):
        counter.update(i / fps, store.add(i / fps, detections))
    tracks = counter.tracks()
    return counter, tracks


def test_each_object_is_counted_once_through_an_occlusion_and_again_when_it_returns():
    car = _moving("car", 0, 10, 100)
    person = _moving("person", 600, -8, 250, (20, 50))
    frames = []
    for i in range(60):
        found = []
        if i < 25 or i >= 33:  # the car is hidden for 0.8 s in the middle: same id after
            found.append(car(i))
        if i < 30:  # the person walks out ...
            found.append(person(i))
        if i >= 40:  # ... and a second person appears: a new track
            found.append(_moving("person", 100, 6, 250, (20, 50))(i - 40))
        frames.append(found)
    _, tracks = _count(frames)
    assert sorted(t.label for t in tracks) == ["car", "person", "person"]
    car_track = next(t for t in tracks if t.label == "car")
    assert (car_track.first_s, car_track.last_s) == (0.0, 5.9) and car_track.frames == 52


def test_a_flicker_shorter_than_half_a_second_is_not_counted():
    frames = [[_moving("car", 0, 10, 100)(i)] for i in range(30)]
    for i in range(10, 13):  # 0.3 s of a false person
        frames[i].append(Detection("person", 0.9, (400, 200, 420, 250)))
    _, tracks = _count(frames)
    assert [t.label for t in tracks] == ["car"]
    _, sparse = _count([[Detection("person", 0.9, (400, 200, 420, 250))]] * 2, fps=1.0)  # every 10th of 10 fps
    assert [t.label for t in sparse] == ["person"]  # two analysed frames a second apart are enough


def test_duplicate_boxes_of_two_classes_are_one_object():
    frames = [[Detection("bus", 0.9, (10 + i, 10, 200 + i, 150)), Detection("truck", 0.7, (12 + i, 11, 199 + i, 151))]
              for i in range(20)]
    _, tracks = _count(frames)
    assert [t.label for t in tracks] == ["bus"]


def test_line_counts_in_and_out_per_class():
    frames = []
    for i in range(40):
        frames.append([
            Detection("car", 0.9, (100, 20 + 8 * i, 140, 60 + 8 * i)),  # moves down across y = 180
            Detection("person", 0.9, (400, 330 - 8 * i, 420, 370 - 8 * i)),  # moves up across it
            Detection("car", 0.9, (550, 20, 590, 60)),  # parked: never crosses
        ])
    counter, tracks = _count(frames, line=CountingLine.horizontal(0.5))
    line = {k: v.to_dict() for k, v in counter.line_counts(tracks).items()}
    assert line == {"car": {"in": 1, "out": 0}, "person": {"in": 0, "out": 1}}
    counter, tracks = _count([[Detection("car", 0.9, (20 + 10 * i, 100, 60 + 10 * i, 140))] for i in range(50)],
                             line=CountingLine.vertical(0.5))
    assert {k: v.to_dict() for k, v in counter.line_counts(tracks).items()} == {"car": {"in": 1, "out": 0}}


def test_threshold_and_classes_change_the_counts_without_the_model(tmp):
    clip = write_clip(tmp / "c.mp4", frames=20, size=(320, 240))
    calls = []

    def detect(images):
        calls.append(len(images))
        return [[Detection("car", 0.8, (10.0 + i, 10, 60 + i, 60)), Detection("person", 0.65, (200, 100, 220, 150))]
                for i in range(len(images))]

    first = track_file(clip, TrackSettings(threshold=0.35), detect)
    assert first.result.counts == {"car": 1, "person": 1}
    used = len(calls)
    again = track_file(clip, TrackSettings(threshold=0.7, classes=("car", "person")), None, candidates=first.candidates)
    assert again.result.counts == {"car": 1} and len(calls) == used


def test_counting_line_is_checked():
    with pytest.raises(InputError):
        CountingLine.horizontal(1.5)
    with pytest.raises(InputError):
        CountingLine(0.2, 0.2, 0.2, 0.2)


def test_candidates_round_trip_without_pickle(tmp):
    store = CandidateStore(640, 360)
    store.add(0.0, [Detection("car", 0.9, (1, 2, 3, 4))])
    store.add(0.1, [])
    store.add(0.2, [Detection("person", 0.5, (5, 6, 7, 8)), Detection("car", 0.4, (1, 1, 2, 2))])
    store.save(tmp / "c.npz")
    back = CandidateStore.load(tmp / "c.npz")
    assert back.labels == ["car", "person"] and back.times == store.times
    assert all(np.array_equal(a, b) for a, b in zip(back.rows, store.rows))


# ---------------------------------------------------------------- streaming: memory, cancel, temp files
def test_memory_stays_flat_while_streaming(tmp):
    clip = write_clip(tmp / "m.mp4", frames=300, size=(640, 360))  # 300 frames held would be 200 MB
    tracemalloc.start()
    track_file(clip, TrackSettings(), lambda images: [[] for _ in images], output=tmp / "out.mp4")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 40 * 2**20, peak
    assert len(list(video.frames(tmp / "out.mp4", video.probe(tmp / "out.mp4")))) == 300


def test_cancel_stops_and_keeps_nothing(tmp):
    before = set(Path(tempfile.gettempdir()).glob(video.TEMP_PREFIX + "*"))
    clip = write_clip(tmp / "c.mp4", frames=80, size=(160, 120)).read_bytes()
    stop = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.frames)
        if p.frames >= 16:
            stop.set()

    with pytest.raises(Cancelled):
        api.track_video(clip, candidates=None, progress=progress, cancel=stop, model="nanodet-g")
    assert max(seen) < 80
    assert set(Path(tempfile.gettempdir()).glob(video.TEMP_PREFIX + "*")) == before  # the upload's folder is gone


# ---------------------------------------------------------------- tiling
def test_tiles_cover_the_image_with_overlap():
    tiling = Tiling(tile=416, overlap=0.25)
    windows = tiling.windows(1242, 375)
    assert windows[0][0] == 0 and windows[-1][2] == 1242 and all(w[3] == 375 for w in windows)
    assert all(b[0] < a[2] - 0.2 * 416 for a, b in zip(windows, windows[1:]))  # neighbours overlap
    assert tiling.windows(400, 300) == [(0, 0, 400, 300)]


def test_tiled_boxes_come_back_in_image_pixels_and_merge():
    from PIL import Image

    image = Image.new("RGB", (1000, 300))

    def predict(crops):  # every crop "sees" a box at its own (10, 10); the whole frame sees one too
        return [[Detection("car", 0.9 if c.size == image.size else 0.6, (10, 10, 50, 50))] for c in crops]

    found = detect_tiled([image], predict, Tiling())[0]
    lefts = sorted(round(d.box[0]) for d in found)
    assert lefts[0] == 10 and len(found) == len(Tiling().windows(1000, 300))  # the two at x=10 merged into one
    assert found[0].score == 0.9


# ---------------------------------------------------------------- the real detector
@pytest.mark.slow
def test_synthetic_clip_counts_exactly(tmp):
    expected = make_clip(tmp / "syn.mp4")
    run = api.track_video(tmp / "syn.mp4", line=CountingLine.vertical(0.5), output=tmp / "out.mp4")
    assert expected.matches(run.result.counts), run.result.counts
    line = {}
    for label, c in run.result.line.items():
        key = next(iter(grouped({label: 1})))
        line.setdefault(key, {"in": 0, "out": 0})
        line[key]["in"] += c.inward
        line[key]["out"] += c.outward
    assert line == expected.line
    assert (tmp / "out.mp4").stat().st_size > 10_000


@pytest.mark.slow
def test_cli_track_json(tmp):
    make_clip(tmp / "syn.mp4")
    done = subprocess.run([sys.executable, "-m", "services", "--json", "track", str(tmp / "syn.mp4"), "--every", "2",
                           "--line-x", "0.5"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) >= {"file", "fps", "frames", "seconds", "counts", "line", "tracks"}
    assert data["file"] == "syn.mp4" and data["frames"] == 50 and data["seconds"] == pytest.approx(10, abs=0.2)
    assert grouped(data["counts"]) == {"bus": 1, "vehicle": 2}
    assert set(data["tracks"][0]) == {"id", "label", "first_s", "last_s", "frames"}
    bad = subprocess.run([sys.executable, "-m", "services", "track", str(DATA / "jfk.mp3")], capture_output=True,
                         text=True, cwd=ROOT, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "no video track" in bad.stderr


@pytest.mark.slow
@pytest.mark.skipif(not VTEST.exists(), reason="vtest.avi missing: run `make clips` (make test does)")
def test_hand_counted_pedestrians_of_vtest():
    truth = json.loads(VTEST_COUNTS.read_text())["counts"]
    result = api.track_video(VTEST).result
    low, high = truth["person"]
    assert low <= result.counts.get("person", 0) <= high, result.counts
    assert result.frames == 795 and result.seconds == pytest.approx(79.5, abs=0.2)


def test_detection_scoring_gives_perfect_detections_full_marks():
    """tools/eval_detection.py scores as the road set's README says: its own ground truth scores 1.0."""
    sys.path.insert(0, str(ROOT / "tools"))
    import eval_detection

    road = ROOT.parent / "shared" / "data" / "road"
    if not road.exists():
        pytest.skip("../shared/data/road is not beside the project")
    gt = eval_detection._ground_truth(road, with_hard=False)
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in gt.dataset["annotations"] if not a["iscrowd"]]
    assert eval_detection.ap50(gt, perfect, 3) == pytest.approx(1.0)
    hard = eval_detection._ground_truth(road, with_hard=True)
    assert eval_detection.ap50(hard, perfect, 3) < 0.9  # the hard cars now count, and were not found
