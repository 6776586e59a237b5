"""Road-scene detection: boxes on road users in images and short clips."""

import hashlib
import json

import pandas as pd
import streamlit as st

from services import api
from services.backends.detection import MIN_SCORE, ROAD_CLASSES
from services.catalog import PROJECT_ROOT
from services.drawing import draw_detections
from services.video import VideoFrames, annotate_clip, decode_clip
from ui.common import ensure_loaded, friendly_errors, limits_caption, model_picker

SAMPLES = PROJECT_ROOT / "assets" / "samples"

st.title("Road-scene detection")
st.caption("Cars, people, bicycles, lights and signs (COCO classes). " + limits_caption("upload", "pixels", "frames"))

with st.sidebar:
    st.markdown("**Detection settings**")
    spec = model_picker("detection", key="det_model")
    all_classes = st.toggle("All 80 COCO classes", value=False, key="det_all",
                            help="Off: the road preset (person, bicycle, car, motorcycle, bus, truck, traffic light, stop sign).")
    threshold = st.slider("Confidence", 0.05, 0.95, 0.35, 0.05, key="det_threshold",
                          help="Moving this redraws the boxes without running the model again.")
classes = None if all_classes else ROAD_CLASSES

image_tab, clip_tab = st.tabs(["Images", "Video clip"])


@st.cache_data(max_entries=32, show_spinner=False)
def _detect_cached(model_id: str, name: str, data: bytes):
    """All candidates down to the model's floor; the slider filters them afterwards."""
    return api.detect([(name, data)], model=model_id, threshold=MIN_SCORE, classes=None)[0]


def _filter_detections(detections):
    return [d for d in detections if d.score >= threshold and (classes is None or d.label in classes)]


def _filter(result):
    return _filter_detections(result.detections)


with image_tab:
    uploads = st.file_uploader("Images", type=["jpg", "jpeg", "png", "webp", "bmp"], accept_multiple_files=True,
                               key="det_upload")
    sample = st.checkbox("Use the sample street photo (assets/samples/street.jpg)", key="det_sample")
    inputs = [(f.name, f.getvalue()) for f in uploads or []]
    if sample and (SAMPLES / "street.jpg").exists():
        inputs.append(("street.jpg", (SAMPLES / "street.jpg").read_bytes()))
    if inputs and ensure_loaded(spec):
        everything = []
        for name, data in inputs:
            with friendly_errors(f"Detecting in {name}"):
                with st.spinner(f"Detecting objects in {name}..."):
                    result = _detect_cached(spec.id, name, data)
                kept = _filter(result)
                everything.append({**result.to_dict(), "detections": [d.to_dict() for d in kept]})
                col_img, col_counts = st.columns([3, 1])
                col_img.image(draw_detections(data, kept), caption=f"{name}: {len(kept)} objects",
                              use_container_width=True)
                counts = pd.Series([d.label for d in kept], dtype="object").value_counts()
                col_counts.markdown("**Counts**\n\n" + ("\n".join(f"- {label}: **{n}**" for label, n in counts.items())
                                                          or "nothing above the threshold"))
                col_counts.caption(f"{result.seconds * 1000:.0f} ms, {result.width}x{result.height}")
        if everything:
            st.download_button("Download detections (JSON)", json.dumps(everything, indent=2), "detections.json",
                               "application/json")
    elif not inputs:
        st.info("Upload road-scene images or tick the sample.")

with clip_tab:
    clip = st.file_uploader("A short clip (mp4, webm, mov)", type=["mp4", "webm", "mov", "mkv"], key="det_clip")
    every = st.slider("Analyse every n-th frame", 1, 10, 3, key="det_every")
    if clip is not None:
        data = clip.getvalue()
        request = (hashlib.sha256(data).hexdigest(), spec.id, every)
        if st.button("Detect in clip", key="det_clip_go") and ensure_loaded(spec):
            with friendly_errors("Detecting in the clip"):
                bar = st.progress(0.0, "Decoding frames...")
                frames: VideoFrames = decode_clip(data, every=every, name=clip.name)
                per_frame = []
                for i, (time_s, image) in enumerate(frames.frames):
                    bar.progress((i + 1) / len(frames.frames), f"Frame {i + 1} of {len(frames.frames)}")
                    # every candidate is kept, so the slider and class switch redraw without the model
                    found = api.detect_images([(f"{time_s:.2f}s", image)], spec.id, MIN_SCORE, None)[0]
                    per_frame.append((time_s, image, found.detections))
                bar.empty()
                st.session_state.det_clip_result = (request, per_frame, frames.fps / every)
        saved = st.session_state.get("det_clip_result")
        if saved is not None and saved[0] == request:
            _, per_frame, fps = saved
            shown = [(t, img, _filter_detections(dets)) for t, img, dets in per_frame]
            with st.spinner("Drawing the annotated clip..."):
                video = annotate_clip(shown, fps=fps)
            st.video(video)
            st.download_button("Download annotated clip (mp4)", video, "annotated.mp4", "video/mp4")
            over_time = pd.DataFrame(
                [{"time (s)": t, **pd.Series([d.label for d in dets], dtype="object").value_counts().to_dict()}
                 for t, _, dets in shown]
            ).fillna(0).set_index("time (s)")
            st.markdown("**Counts over time**")
            st.line_chart(over_time)
            st.download_button(
                "Download detections (JSON)",
                json.dumps([{"time": t, "detections": [d.to_dict() for d in dets]} for t, _, dets in shown], indent=2),
                "clip_detections.json", "application/json",
            )
