"""The explanation buttons: on request only, never with every prediction (``services.explain``).

An explanation, once asked for, stays on the page (kept per input, model and class in the
session, the last few only) until the input or the model changes."""

from __future__ import annotations

import hashlib

import streamlit as st

from services.drawing import draw_heatmap
from ui.common import friendly_errors, tasks
from ui.highlight import attribution_html

KEPT = 8  # explanations kept per session


def _kept(key: tuple):
    return st.session_state.get("explanations", {}).get(key)


def _keep(key: tuple, value) -> None:
    kept = st.session_state.setdefault("explanations", {})
    kept[key] = value
    while len(kept) > KEPT:
        kept.pop(next(iter(kept)))


def heatmap_button(name: str, data: bytes, model_id: str, predictions, key: str) -> None:
    """A Grad-CAM heatmap of the evidence for one of the top-k classes (the top one first)."""
    chosen = st.selectbox("Class to explain", predictions, key=f"{key}_class", format_func=lambda p: p.label)
    wanted = (hashlib.sha256(data).hexdigest(), model_id, chosen.index)
    if st.button("Explain: where is the evidence?", key=key, icon=":material/visibility:",
                 help="Grad-CAM of the chosen class over the photo (red: strongest evidence); about a tenth of a second."):
        with friendly_errors("Explaining"), st.spinner("Computing the heatmap..."):
            _keep(wanted, tasks().explain_image((name, data), model=model_id, index=chosen.index))
    why = _kept(wanted)
    if why is not None:
        st.image(draw_heatmap(data, why), width="stretch")
        st.caption(f"{why.method} of '{why.label}' ({why.score:.1%}), {why.seconds * 1000:.0f} ms. Red: strongest "
                   "evidence; grey: outside the centre crop the model sees.")


def words_button(text: str, model_id: str) -> None:
    """Each word coloured by its push towards POSITIVE (green) or NEGATIVE (red)."""
    wanted = (hashlib.sha256(text.encode()).hexdigest(), model_id)
    if st.button("Explain: which words decided?", key="ta_explain", icon=":material/visibility:",
                 help="Integrated gradients over the words (about half a second per sentence)."):
        with friendly_errors("Explaining"), st.spinner("Attributing the sentiment to words..."):
            _keep(wanted, tasks().explain_sentiment(text, model=model_id))
    why = _kept(wanted)
    if why is not None:
        st.markdown(attribution_html(why.text, why.words), unsafe_allow_html=True)
        strongest = sorted(why.words, key=lambda w: -abs(w.score))[:5]
        st.caption(f"{why.method}, {why.seconds * 1000:.0f} ms. Green pushes towards POSITIVE, red towards "
                   "NEGATIVE (hover for the value). Strongest: "
                   + ", ".join(f"'{w.text}' {w.score:+.2f}" for w in strongest)
                   + ("" if why.covered >= len(why.text) else
                      f". Explained: the first {why.covered:,} of {len(why.text):,} characters (128 tokens)."))
