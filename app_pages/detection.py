"""Road-scene detection: boxes on road users in photos; clips tracked and counted."""

import json

import pandas as pd
import streamlit as st

from services import api
from services.backends.detection import MIN_SCORE, ROAD_CLASSES
from services.catalog import PROJECT_ROOT
from services.drawing import draw_detections
from services.tiling import Tiling
from services.tracking import CountingLine
from ui import compare
from ui import video as clips
from ui.common import ensure_loaded, friendly_errors, limits_caption, model_picker

SAMPLES = PROJECT_ROOT / "assets" / "samples"

st.title("Road-scene detection")
st.caption("Cars, people, bicycles, lights and signs (COCO classes). " + limits_caption("upload", "pixels", "video"))

with st.sidebar:
    st.markdown("**Detection settings**")
    spec = model_picker("detection", key="det_model")
    all_classes = st.toggle("All 80 COCO classes", value=False, key="det_all",
                            help="Off: the road preset (person, bicycle, car, motorcycle, bus, truck, traffic light, stop sign).")
    threshold = st.slider("Confidence", 0.05, 0.95, 0.35, 0.05, key="det_threshold",
                          help="Moving this redraws the boxes (and re-counts a clip) without running the model again.")
classes = None if all_classes else ROAD_CLASSES

image_tab, clip_tab = st.tabs(["Images", "Video: track and count"])


@st.cache_data(max_entries=32, show_spinner=False)
def _detect_cached(model_id: str, name: str, data: bytes, tiles: bool):
    """All candidates down to the model's floor; the slider filters them afterwards."""
    return api.detect([(name, data)], model=model_id, threshold=MIN_SCORE, classes=None,
                      tiling=Tiling() if tiles else None)[0]


def _filter(detections):
    return [d for d in detections if d.score >= threshold and (classes is None or d.label in classes)]


with image_tab:
    uploads = st.file_uploader("Images", type=["jpg", "jpeg", "png", "webp", "bmp"], accept_multiple_files=True,
                               key="det_upload")
    sample = st.checkbox("Use the sample street photo (assets/samples/street.jpg)", key="det_sample")
    tiles = st.toggle("Find small, far objects (tiles)", value=True, key="det_tiles",
                      help="Also looks at overlapping 416 px tiles at full resolution: on the KITTI road photos car "
                           "AP@0.5 rises from 0.75 to 0.84 and person from 0.42 to 0.70, at about 3x the time.")
    second = compare.second_model("detection", "det_compare", spec, toggle="Compare two models or settings",
                                 same_model=True)
    if second is not None:
        second_tiles = st.toggle("Second side: tiles", value=not tiles, key="det_compare_tiles",
                                 help="Same model with and without tiles shows what tiling adds.")
    inputs = [(f.name, f.getvalue()) for f in uploads or []]
    if sample and (SAMPLES / "street.jpg").exists():
        inputs.append(("street.jpg", (SAMPLES / "street.jpg").read_bytes()))
    if inputs and second is not None and ensure_loaded(spec):
        for name, data in inputs:
            with friendly_errors(f"Detecting in {name}"):
                sides = compare.run_two("detection", [
                    (model, lambda m, t=tiled, n=name, d=data: _detect_cached(m, n, d, t),
                     f"{model.name}" + (", tiles" if tiled else ", no tiles"))
                    for model, tiled in ((spec, tiles), (second, second_tiles))])
                compare.detections(name, data, *sides, keep=_filter)
    elif inputs and ensure_loaded(spec):
        everything = []
        for name, data in inputs:
            with friendly_errors(f"Detecting in {name}"):
                with st.spinner(f"Detecting objects in {name}..."):
                    result = _detect_cached(spec.id, name, data, tiles)
                kept = _filter(result.detections)
                everything.append({**result.to_dict(), "detections": [d.to_dict() for d in kept]})
                col_img, col_counts = st.columns([3, 1])
                col_img.image(draw_detections(data, kept), caption=f"{name}: {len(kept)} objects", width="stretch")
                counts = pd.Series([d.label for d in kept], dtype="object").value_counts()
                col_counts.markdown("**Counts**\n\n" + ("\n".join(f"- {label}: **{n}**" for label, n in counts.items())
                                                          or "nothing above the threshold"))
                col_counts.caption(f"{result.seconds * 1000:.0f} ms, {result.width}x{result.height}"
                                   + (", with tiles" if tiles else ""))
        if everything:
            st.download_button("Download detections (JSON)", json.dumps(everything, indent=2), "detections.json",
                               "application/json")
    elif not inputs:
        st.info("Upload road-scene images or tick the sample.")

with clip_tab:
    clip = st.file_uploader("A clip (mp4, webm, mov, mkv, avi)", type=["mp4", "webm", "mov", "mkv", "avi", "m4v"],
                            key="det_clip")
    left, middle, right = st.columns(3)
    every = left.slider("Analyse every n-th frame", 1, 10, 1, key="det_every",
                        help="1 follows objects best; 2-3 is faster and still tracks walking people and traffic.")
    line_on = middle.toggle("Counting line", value=True, key="det_line_on",
                            help="Counts objects crossing it, in and out, per class (as a traffic counter does).")
    orientation = middle.radio("Line", ["horizontal", "vertical"], horizontal=True, key="det_line_dir",
                               disabled=not line_on, label_visibility="collapsed")
    position = right.slider("Line position (% of the frame)", 5, 95, 50, 5, key="det_line_pos", disabled=not line_on)
    video_tiles = right.toggle("Tiles for far objects (slower)", value=False, key="det_clip_tiles",
                               help="Off by default for video: about 3x the time per frame.")
    line = None
    if line_on:
        line = (CountingLine.horizontal if orientation == "horizontal" else CountingLine.vertical)(position / 100)
    settings = (threshold, classes, line)
    if clip is not None:
        key = (clips.upload_key(clip), spec.id, every, video_tiles)
        if st.session_state.get("det_cancel"):
            st.info("Stopped. Nothing of that run was kept.")
        if st.button("Track and count", key="det_clip_go", type="primary") and ensure_loaded(spec):
            with friendly_errors("Tracking the clip"):
                clips.analyse(clip, key, spec.id, every, Tiling() if video_tiles else None, settings)
                st.rerun()  # show the result without the run's progress bar and Cancel button
        kept = clips.saved()
        if kept is not None and not (kept.folder / "upload").exists():
            clips.forget()  # its temporary folder was cleaned up (over an hour old)
            st.info("The last run's files have expired; press Track and count again.")
            kept = None
        if kept is not None and kept.key == key:
            with friendly_errors("Counting again"):
                run = kept.run if kept.drawn_with == settings else clips.recount(kept, settings)
                clips.show_result(run)
                if kept.drawn_with != settings:
                    st.info("The counts follow the new settings; the clip below still shows the old ones.")
                    if st.button("Redraw the annotated clip", key="det_redraw"):
                        clips.redraw(kept, settings)
                        st.rerun()
                if kept.video is not None and kept.video.exists():
                    st.video(str(kept.video))
                    st.download_button("Annotated clip (MP4)", kept.video.read_bytes(), "annotated.mp4", "video/mp4",
                                       key="det_mp4")
        elif kept is not None:
            st.caption("Settings that change the detections (model, frame step, tiles) need a new run.")
    else:
        st.info("Upload a clip: objects are detected, tracked with ids, counted once each, and counted across a line.")
