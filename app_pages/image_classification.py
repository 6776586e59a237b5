"""Image classification: ImageNet top-k for uploads, a camera shot, or samples."""


import altair as alt
import pandas as pd
import streamlit as st

from services import api
from services.catalog import PROJECT_ROOT
from ui import compare, explain
from ui.common import ensure_loaded, friendly_errors, limits_caption, model_picker

SAMPLES = PROJECT_ROOT / "assets" / "samples"
SAMPLE_FILES = ["cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg"]

st.title("Image classification")
st.caption("Which of the 1,000 ImageNet classes is in the picture? " + limits_caption("upload", "pixels", "images"))

left, right = st.columns([2, 1])
with right:
    spec = model_picker("image-classification", key="img_model")
    top_k = st.slider("Top-k classes", 1, 10, 5, key="img_topk")
    second = compare.second_model("image-classification", "img_compare", spec)

with left:
    upload_tab, camera_tab, sample_tab = st.tabs(["Upload", "Camera", "Samples"])
    with upload_tab:
        uploads = st.file_uploader(
            "Images (jpg, png, webp, bmp, gif)", type=["jpg", "jpeg", "png", "webp", "bmp", "gif"],
            accept_multiple_files=True, key="img_upload",
        )
    with camera_tab:
        shot = st.camera_input("Take a photo", key="img_camera")
    with sample_tab:
        samples = st.multiselect("Sample photos (scikit-image, public domain / CC0; see assets/samples/LICENSE.md)",
                                 SAMPLE_FILES, key="img_samples")

inputs: list[tuple[str, bytes]] = [(f.name, f.getvalue()) for f in uploads or []]
if shot is not None:
    inputs.append(("camera.jpg", shot.getvalue()))
inputs += [(name, (SAMPLES / name).read_bytes()) for name in samples]

if not inputs:
    st.info("Upload images, take a photo, or pick a sample to classify.")
    st.stop()

if not ensure_loaded(spec):
    st.stop()


def chart(predictions) -> alt.Chart:
    frame = pd.DataFrame([{"class": p.label, "probability": p.score} for p in predictions])
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            y=alt.Y("class:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
            tooltip=["class", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=alt.Step(32))
    )


if second is not None:
    agreements = []
    for name, data in inputs:
        with friendly_errors(f"Classifying {name}"):
            sides = compare.run_two("image-classification", [
                (model, lambda m, n=name, d=data: api.classify([(n, d)], model=m, top_k=top_k)[0], "")
                for model in (spec, second)])
            agreements.append(compare.classifications(name, data, *sides, chart))
    both = [a for a in agreements if a is not None]
    if len(both) > 1:
        st.info(f"Top-1 agrees on {sum(both)} of {len(both)} images.")
    st.stop()

# Each file is decoded on its own so one bad file does not hide the others' results.
results, problems = [], []
with st.spinner(f"Classifying {len(inputs)} image(s)..."):
    for name, data in inputs:
        try:
            results.extend(api.classify([(name, data)], model=spec.id, top_k=top_k))
        except Exception as exc:  # shown per file below
            problems.append((name, exc))

for name, exc in problems:
    with friendly_errors(f"Classifying {name}"):
        raise exc

images = dict(inputs)
if len(results) == 1:
    result = results[0]
    col_img, col_chart = st.columns([1, 2])
    col_img.image(images[result.file], caption=result.file, width="stretch")
    best = result.predictions[0]
    col_chart.subheader(f"{best.label} ({best.score:.1%})")
    col_chart.altair_chart(chart(result.predictions), width="stretch")
    col_chart.caption(f"{spec.name}: {result.seconds * 1000:.0f} ms")
    with col_img:
        explain.heatmap_button(result.file, images[result.file], spec.id, result.predictions, "img_explain")
elif results:
    table = pd.DataFrame(
        [
            {"file": r.file, "top class": r.predictions[0].label, "probability": r.predictions[0].score,
             "top-k": "; ".join(f"{p.label} {p.score:.1%}" for p in r.predictions), "ms": round(r.seconds * 1000, 1)}
            for r in results
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"probability": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})
    csv = pd.DataFrame(
        [{"file": r.file, "rank": i + 1, "label": p.label, "index": p.index, "score": p.score}
         for r in results for i, p in enumerate(r.predictions)]
    ).to_csv(index=False)
    st.download_button("Download CSV", csv, file_name="predictions.csv", mime="text/csv")
    st.caption(f"{spec.name}: {sum(r.seconds for r in results) / len(results) * 1000:.0f} ms per image on average")
    for i, r in enumerate(results):
        with st.expander(f"{r.file}: {r.predictions[0].label} ({r.predictions[0].score:.1%})"):
            c1, c2 = st.columns([1, 2])
            c1.image(images[r.file], width="stretch")
            c2.altair_chart(chart(r.predictions), width="stretch")
            with c1:
                explain.heatmap_button(r.file, images[r.file], spec.id, r.predictions, f"img_explain_{i}")
