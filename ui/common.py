"""What every page needs: the shared manager, a model picker, loading with a
spinner, and errors shown as messages, never as tracebacks."""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager

import streamlit as st

from services import api
from services.catalog import ModelSpec, check_availability
from services.config import LIMITS
from services.errors import InputError, ModelUnavailable
from services.tasks import Tasks

log = logging.getLogger("dashboard")


_warm_up_started = threading.Event()


def tasks() -> Tasks:
    """The task backend of this server process (``SERVICES_BACKEND``), shared by every session.

    With ``WARMUP_ON_START=1`` (``make run WARMUP=1``) every default model is
    loaded and exercised in the background as soon as the first page opens.
    """
    chosen = api.tasks()
    if os.environ.get("WARMUP_ON_START") == "1" and not _warm_up_started.is_set():
        _warm_up_started.set()
        threading.Thread(target=chosen.warm_up, name="warm-up", daemon=True).start()
    return chosen


@st.cache_data(ttl=300, show_spinner=False)
def availability(model_id: str) -> tuple[bool, str]:
    spec = tasks().catalog.get(model_id)
    found = check_availability(spec)
    return found.available, found.reason


def model_picker(task: str, key: str, label: str = "Model", avoid: str | None = None) -> ModelSpec:
    """A select box of the task's catalog models; unavailable ones say why.
    ``avoid``: preselect a model other than this one (compare mode's second)."""
    specs = tasks().catalog.for_task(task)
    default_index = next((i for i, s in enumerate(specs) if s.default), 0)
    if avoid is not None:  # another available model, else another one (which then says why it cannot run)
        others = [i for i, s in enumerate(specs) if s.id != avoid]
        default_index = next((i for i in others if availability(specs[i].id)[0]), others[0] if others else default_index)

    def describe(spec: ModelSpec) -> str:
        ok, _ = availability(spec.id)
        tags = " (default)" if spec.default else ""
        return f"{spec.name}{tags}" + ("" if ok else " (unavailable)")

    spec = st.selectbox(label, specs, index=default_index, format_func=describe, key=key)
    ok, reason = availability(spec.id)
    if not ok:
        st.warning(f"{spec.name} cannot be used here: {reason}")
    else:
        st.caption(f"Licence: {spec.licence}. Weights: {reason}.")
    return spec


def ensure_loaded(spec: ModelSpec) -> bool:
    """Load the model with a visible spinner; False (and a message) if it cannot load."""
    ok, reason = availability(spec.id)
    if not ok:
        st.error(f"{spec.name} is unavailable: {reason}")
        return False
    backend = tasks()
    if backend.is_loaded(spec.id):
        return True
    with st.spinner(f"Loading {spec.name}... (the first load may convert weights; later loads are quick)"):
        with friendly_errors("Loading"):
            backend.load(spec.task, spec.id)
            return True
    return False


@contextmanager
def friendly_errors(what: str = "The request"):
    """Turn failures into a message on the page; the page stays usable."""
    try:
        yield
    except InputError as exc:
        st.error(str(exc))
    except ModelUnavailable as exc:
        st.error(f"Model unavailable: {exc}")
    except Exception as exc:
        log.exception("%s failed", what)
        st.error(f"{what} failed: {type(exc).__name__}. The details are in the server log.")


def sidebar() -> None:
    summary = tasks().summary()
    with st.container():
        if summary.backend != "in-process":
            st.markdown(f"**Backend:** {summary.backend} (`SERVICES_BACKEND`)")
        st.markdown(f"**Device:** `{summary.device}`")
        if summary.loaded:
            st.markdown("**Loaded models:**\n" + "\n".join(f"- `{m}`" for m in summary.loaded))
        else:
            st.caption("No model loaded yet; each loads on first use.")
        budget = f"{summary.budget_mb:.0f} MB" if summary.budget_mb else "no limit"
        st.caption(f"Model memory: {summary.memory_mb:.0f} MB (budget: {budget})")


def limits_caption(*names: str) -> str:
    labels = {
        "upload": f"files up to {LIMITS.max_upload_mb} MB",
        "pixels": f"images up to {LIMITS.max_image_pixels / 1e6:.0f} megapixels",
        "images": f"{LIMITS.max_images_per_request} images at once",
        "audio": f"audio up to {LIMITS.max_audio_seconds / 60:.0f} minutes",
        "text": f"text up to {LIMITS.max_text_chars:,} characters",
        "tokens": f"up to {LIMITS.max_new_tokens} new tokens",
        "video": f"clips up to {LIMITS.max_video_seconds / 60:.0f} minutes (larger than {LIMITS.max_video_side} px analysed scaled down)",
    }
    return "Limits: " + ", ".join(labels[n] for n in names) + "."
