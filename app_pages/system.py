"""System: which models are loaded, where, how big and how fast; load, unload, warm up."""

import platform

import streamlit as st

from services import remote
from services.catalog import TASKS
from services.config import LIMITS
from services.devices import describe_device
from services.warmup import warm_up
from ui.common import availability, friendly_errors, manager

st.title("System")
mgr = manager()

if remote.enabled():
    st.info("Backend: Ray Serve (`SERVICES_BACKEND=ray`). Each task runs in its own deployment; "
            "this table is what their replicas report.")
    remote_rows = []
    for task in TASKS:
        with friendly_errors(f"Asking the {task} deployment"):
            for status in remote.status(task):
                if status.task == task:
                    remote_rows.append({"model": status.id, "task": task, "loaded": status.loaded, "device": status.device,
                                        "MB": status.memory_mb, "calls": status.calls, "p50 ms": status.p50_ms,
                                        "p95 ms": status.p95_ms, "last error": status.last_error})
    st.dataframe(remote_rows, hide_index=True, width="stretch")
    st.stop()

try:
    import psutil

    rss = psutil.Process().memory_info().rss / 2**20
except ImportError:  # psutil arrives with streamlit's dependencies, but be safe
    rss = float("nan")

budget = f"{mgr.budget_bytes / 2**20:.0f} MB" if mgr.budget_bytes else "no limit"
a, b, c, d = st.columns(4)
a.metric("Device", describe_device(mgr.device))
b.metric("Models loaded", len(mgr.loaded_ids()))
c.metric("Model memory", f"{mgr.used_mb():.0f} MB", help=f"Budget: {budget} (MODEL_MEMORY_BUDGET_MB)")
d.metric("Process memory (RSS)", f"{rss:.0f} MB")
try:
    import torch

    st.caption(f"Python {platform.python_version()}, torch {torch.__version__}, CUDA available: "
               f"{torch.cuda.is_available()}, threads: {torch.get_num_threads()}")
    if torch.cuda.is_available():
        st.caption(f"GPU memory allocated: {torch.cuda.memory_allocated() / 2**20:.0f} MB")
except Exception:
    pass

rows = []
for status in mgr.status():
    ok, reason = availability(status.id)
    rows.append({
        "model": status.id, "task": status.task, "loaded": status.loaded, "device": status.device,
        "precision": status.precision, "MB": status.memory_mb, "load s": status.load_seconds,
        "calls": status.calls, "items": status.items, "items per call": status.mean_batch,
        "p50 ms": status.p50_ms, "p95 ms": status.p95_ms, "evictions": status.evictions,
        "available": ok, "reason / last error": status.last_error or reason,
    })
st.dataframe(rows, hide_index=True, width="stretch")

st.subheader("Load, unload, warm up")
ids = [s.id for s in mgr.catalog]
choice = st.selectbox("Model", ids, index=ids.index(mgr.catalog.default_for("image-classification").id))
col1, col2, col3, col4 = st.columns(4)
if col1.button("Load", width="stretch"):
    with friendly_errors("Loading"), st.spinner(f"Loading {choice}..."):
        mgr.get(choice)
        st.success(f"{choice} is loaded.")
if col2.button("Unload", width="stretch"):
    with friendly_errors("Unloading"):
        st.success(f"{choice} unloaded.") if mgr.unload(choice) else st.info(f"{choice} was not loaded.")
if col3.button("Warm up all defaults", width="stretch"):
    bar = st.progress(0.0, "Warming up...")
    with friendly_errors("Warm-up"):
        report = warm_up(mgr, progress=lambda done, total, name: bar.progress(done / total, f"Warming up {name}..."))
        bar.empty()
        st.dataframe([r.__dict__ for r in report], hide_index=True)
if col4.button("Unload all", width="stretch"):
    mgr.unload_all()
    st.success("All models unloaded.")

with st.expander("Limits (set by environment variables, see README)"):
    st.json(LIMITS.__dict__)
