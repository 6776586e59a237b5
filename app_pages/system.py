"""System: which models are loaded, where, how big and how fast; load, unload, warm up."""

import platform

import streamlit as st

from services.config import LIMITS
from services.web.server import probe_api
from ui.common import availability, friendly_errors, tasks

st.title("System")
backend = tasks()
summary = backend.summary()

try:
    import psutil

    rss = psutil.Process().memory_info().rss / 2**20
except ImportError:  # psutil arrives with streamlit's dependencies, but be safe
    rss = float("nan")

budget = f"{summary.budget_mb:.0f} MB" if summary.budget_mb else "no limit"
a, b, c, d = st.columns(4)
a.metric("Device", summary.device)
b.metric("Models loaded", len(summary.loaded))
c.metric("Model memory", f"{summary.memory_mb:.0f} MB", help=f"Budget: {budget} (MODEL_MEMORY_BUDGET_MB)")
d.metric("This process (RSS)", f"{rss:.0f} MB")
if summary.backend != "in-process":
    st.info(f"Backend: {summary.backend} (`SERVICES_BACKEND`). Each task runs in its own deployment; "
            "the table is what their replicas report.")
try:
    import torch

    st.caption(f"Python {platform.python_version()}, torch {torch.__version__}, CUDA available: "
               f"{torch.cuda.is_available()}, threads: {torch.get_num_threads()}")
    if torch.cuda.is_available():
        st.caption(f"GPU memory allocated: {torch.cuda.memory_allocated() / 2**20:.0f} MB")
except Exception:
    pass

http_api = probe_api()
if http_api.running:
    st.success(f"HTTP API: running at {http_api.url} (docs at {http_api.url}/docs).", icon=":material/api:")
else:
    st.caption(f"HTTP API: not running at {http_api.url} ({http_api.detail}). Start it with `make api`.")

rows = []
for status in backend.status():
    ok, reason = availability(status.id)
    rows.append({
        "model": status.id, "task": status.task, "loaded": status.loaded, "device": status.device,
        "why this device": status.device_note, "precision": status.precision, "MB": status.memory_mb, "load s": status.load_seconds,
        "calls": status.calls, "items": status.items, "items per call": status.mean_batch,
        "p50 ms": status.p50_ms, "p95 ms": status.p95_ms, "evictions": status.evictions,
        "available": ok, "reason / last error": status.last_error or reason,
    })
st.dataframe(rows, hide_index=True, width="stretch")

st.subheader("Load, unload, warm up")
ids = [s.id for s in backend.catalog]
choice = st.selectbox("Model", ids, index=ids.index(backend.catalog.default_for("image-classification").id))
col1, col2, col3, col4 = st.columns(4)
if col1.button("Load", width="stretch"):
    with friendly_errors("Loading"), st.spinner(f"Loading {choice}..."):
        backend.load(backend.catalog.get(choice).task, choice)
        st.success(f"{choice} is loaded.")
if col2.button("Unload", width="stretch"):
    with friendly_errors("Unloading"):
        st.success(f"{choice} unloaded.") if backend.unload(choice) else st.info(f"{choice} was not loaded.")
if col3.button("Warm up all defaults", width="stretch"):
    bar = st.progress(0.0, "Warming up...")
    with friendly_errors("Warm-up"):
        report = backend.warm_up(progress=lambda done, total, name: bar.progress(done / total, f"Warming up {name}..."))
        bar.empty()
        st.dataframe([r.__dict__ for r in report], hide_index=True)
if col4.button("Unload all", width="stretch"):
    with friendly_errors("Unloading"):
        for model_id in summary.loaded:
            backend.unload(model_id)
        st.success("All models unloaded.")

with st.expander("Limits (set by environment variables, see README)"):
    st.json(LIMITS.__dict__)
