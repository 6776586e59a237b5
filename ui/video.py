"""The clip tab's state: one private temporary folder per session (the upload and the
annotated MP4, never frames), the last tracking run, and progress with Cancel."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from services import api
from services.video import new_folder, remove_stale_folders
from services.video_tracking import Progress, TrackRun


@dataclass
class SavedClip:
    """What the session keeps: detections and tracks (``run``), and where its files are."""

    key: tuple  # (upload hash, model, every, tiling): what the candidates depend on
    run: TrackRun
    folder: Path
    drawn_with: tuple  # (threshold, classes, line) the annotated MP4 shows
    video: Path | None


def upload_key(clip) -> str:
    """A stable hash of the upload, computed once per uploaded file."""
    cache = st.session_state.setdefault("det_clip_hashes", {})
    if clip.file_id not in cache:
        cache.clear()
        cache[clip.file_id] = hashlib.sha256(clip.getvalue()).hexdigest()[:16]
    return cache[clip.file_id]


def saved() -> SavedClip | None:
    return st.session_state.get("det_saved")


def forget() -> None:
    """Drop the kept run and delete its folder."""
    old = st.session_state.pop("det_saved", None)
    if old is not None:
        shutil.rmtree(old.folder, ignore_errors=True)


def _progress_bar(label: str):
    bar = st.progress(0.0, f"{label}...")

    def show(p: Progress) -> None:
        left = f", about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        bar.progress(p.fraction, f"{label}: {p.done_s:.1f} of {p.total_s:.1f} s of video, {p.frames} frames{left}")

    return bar, show


def analyse(clip, key: tuple, model_id: str, every: int, tiling, drawn_with: tuple) -> None:
    """Detect, track and draw the whole clip; on Cancel (a rerun) or failure nothing is kept."""
    remove_stale_folders()
    forget()
    folder = new_folder()
    done = False
    try:
        upload = folder / "upload"
        upload.write_bytes(clip.getvalue())
        threshold, classes, line = drawn_with
        st.button("Cancel", key="det_cancel", icon=":material/cancel:", help="Stop; nothing of this run is kept.")
        bar, show = _progress_bar("Tracking")
        run = api.track_video(upload, model_id, every=every, threshold=threshold, classes=classes, line=line,
                              tiling=tiling, output=folder / "annotated.mp4", progress=show, name=clip.name)
        bar.empty()
        st.session_state.det_saved = SavedClip(key, run, folder, drawn_with, folder / "annotated.mp4")
        done = True
    finally:
        if not done:
            shutil.rmtree(folder, ignore_errors=True)


def recount(clip: SavedClip, settings: tuple) -> TrackRun:
    """Tracks and counts for other settings from the kept detections: no model, no decoding."""
    cache = st.session_state.setdefault("det_recounts", {})
    marker = (clip.key, settings)
    if marker not in cache:
        cache.clear()
        threshold, classes, line = settings
        cache[marker] = api.track_video(clip.folder / "upload", every=clip.key[2], threshold=threshold,
                                        classes=classes, line=line, candidates=clip.run.candidates,
                                        name=clip.run.result.file)
    return cache[marker]


def redraw(clip: SavedClip, settings: tuple) -> None:
    """A new annotated MP4 for the current settings, by decoding the upload again."""
    threshold, classes, line = settings
    target = clip.folder / f"annotated-{abs(hash(settings)) % 10**8}.mp4"
    st.button("Cancel", key="det_cancel", icon=":material/cancel:", help="Stop redrawing.")
    bar, show = _progress_bar("Drawing")
    try:
        api.track_video(clip.folder / "upload", every=clip.key[2], threshold=threshold, classes=classes, line=line,
                        candidates=clip.run.candidates, output=target, progress=show, name=clip.run.result.file)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    bar.empty()
    if clip.video is not None:
        clip.video.unlink(missing_ok=True)
    clip.video, clip.drawn_with = target, settings


def show_result(run: TrackRun) -> None:
    """Headline unique counts, line crossings, the per-track table and counts over time."""
    result = run.result
    st.markdown("**Unique objects** (each tracked object counted once)")
    if result.counts:
        columns = st.columns(min(6, len(result.counts)))
        for i, (label, n) in enumerate(result.counts.items()):
            columns[i % len(columns)].metric(label, n)
    else:
        st.info("No object was tracked at this threshold.")
    if result.line is not None:
        st.markdown("**Counting line** (in: crossing downwards or rightwards; out: the other way)")
        rows = [{"class": label, "in": c.inward, "out": c.outward} for label, c in result.line.items()]
        st.dataframe(pd.DataFrame(rows or [{"class": "(nothing crossed)", "in": 0, "out": 0}]), hide_index=True)
    st.caption(f"{result.frames} frames analysed (every {result.every}) of {result.seconds:.1f} s at "
               f"{result.fps:g} fps, {result.width}x{result.height}; took {result.processing_seconds:.1f} s."
               + "".join(f" Note: {n}." for n in result.notes))
    tracks = pd.DataFrame([{"id": t.id, "class": t.label, "first seen (s)": t.first_s, "last seen (s)": t.last_s,
                            "duration (s)": t.duration_s, "frames": t.frames} for t in result.tracks])
    with st.expander(f"Tracks ({len(result.tracks)})", expanded=False):
        st.dataframe(tracks, hide_index=True)
    if result.timeline:
        st.markdown("**In view over time** (most of each class visible at once, per second)")
        st.line_chart(pd.DataFrame(result.timeline).fillna(0).set_index("second"))
    import json

    left, right = st.columns(2)
    left.download_button("Tracks (CSV)", tracks.to_csv(index=False), "tracks.csv", "text/csv", key="det_csv")
    right.download_button("Result (JSON)", json.dumps(result.to_dict(), indent=2), "tracks.json",
                          "application/json", key="det_json")

