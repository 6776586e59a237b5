"""Home: what each page does, and which models are ready."""

import streamlit as st

from ui.common import availability, tasks

st.title("Local AI model dashboard")
st.write(
    "Upload an image or audio, or type text, and get predictions from pretrained models running on this machine. "
    "Every page works offline with a bundled model; stronger models from the catalog load when their weights are "
    "cached or downloadable."
)

PAGES = [
    ("Image classification", "app_pages/image_classification.py", "image-classification",
     "ImageNet classes for photos: upload several, use the camera, or try a sample; top-k chart and CSV."),
    ("Text analysis", "app_pages/text_analysis.py", "sentiment",
     "Sentiment with a calibrated confidence, and named entities highlighted in your text."),
    ("Text generation", "app_pages/text_generation.py", "text-generation",
     "A local chat assistant: an instruct model on llama.cpp streams its answers; multi-turn, system prompt, Stop, regenerate, export."),
    ("Speech transcription", "app_pages/speech.py", "speech",
     "Whisper turns speech into text with timestamps; upload or record; TXT, SRT and VTT downloads."),
    ("Road-scene detection", "app_pages/detection.py", "detection",
     "Boxes around cars, people, lights and signs in images and short clips, with counts."),
]

backend = tasks()
loaded = set(backend.summary().loaded)
cols = st.columns(2)
for i, (title, path, task, blurb) in enumerate(PAGES):
    default = backend.catalog.default_for(task)
    ok, reason = availability(default.id)
    with cols[i % 2].container(border=True):
        st.page_link(path, label=f"**{title}**")
        st.write(blurb)
        state = "loaded" if default.id in loaded else ("ready to load" if ok else f"unavailable: {reason}")
        st.caption(f"Default model: {default.name} ({state})")
        if task == "sentiment":
            ner = backend.catalog.default_for("ner")
            ok_ner, reason_ner = availability(ner.id)
            st.caption(f"Entities: {ner.name} ({'loaded' if ner.id in loaded else 'ready to load' if ok_ner else reason_ner})")

st.subheader("Loaded models")
rows = [s for s in backend.status() if s.loaded]
if rows:
    st.dataframe(
        [{"model": s.id, "task": s.task, "device": s.device, "MB": s.memory_mb, "calls": s.calls} for s in rows],
        hide_index=True,
    )
else:
    st.caption("None yet. Models load on first use; the System page can load or warm them up.")
st.page_link("app_pages/system.py", label="System: devices, memory, latency, load/unload")
