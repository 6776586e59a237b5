"""The explanation buttons: on request only, never with every prediction (``services.explain``)."""

from __future__ import annotations

import streamlit as st

from services.drawing import draw_heatmap
from ui.common import friendly_errors, tasks
from ui.highlight import attribution_html


def heatmap_button(name: str, data: bytes, model_id: str, index: int, key: str) -> None:
    """A Grad-CAM heatmap of the evidence for class ``index`` over the photo."""
    if st.button("Explain: where is the evidence?", key=key, icon=":material/visibility:",
                 help="Grad-CAM of the top class over the photo (red: strongest evidence); about a tenth of a second."):
        with friendly_errors("Explaining"), st.spinner("Computing the heatmap..."):
            why = tasks().explain_image((name, data), model=model_id, index=index)
            st.image(draw_heatmap(data, why), width="stretch")
            st.caption(f"{why.method} of '{why.label}' ({why.score:.1%}), {why.seconds * 1000:.0f} ms. Red: strongest "
                       "evidence; grey: outside the centre crop the model sees.")


def words_button(text: str, model_id: str) -> None:
    """Each word coloured by its push towards POSITIVE (green) or NEGATIVE (red)."""
    if st.button("Explain: which words decided?", key="ta_explain", icon=":material/visibility:",
                 help="Integrated gradients over the words (about half a second per sentence)."):
        with friendly_errors("Explaining"), st.spinner("Attributing the sentiment to words..."):
            why = tasks().explain_sentiment(text, model=model_id)
            st.markdown(attribution_html(why.text, why.words), unsafe_allow_html=True)
            strongest = sorted(why.words, key=lambda w: -abs(w.score))[:5]
            st.caption(f"{why.method}, {why.seconds * 1000:.0f} ms. Green pushes towards POSITIVE, red towards "
                       "NEGATIVE (hover for the value). Strongest: "
                       + ", ".join(f"'{w.text}' {w.score:+.2f}" for w in strongest)
                       + ("" if why.covered >= len(why.text) else
                          f". Explained: the first {why.covered:,} of {len(why.text):,} characters (128 tokens)."))
