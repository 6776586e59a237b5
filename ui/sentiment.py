"""Sentiment display: the label with its colour, a table with every class's probability,
and the share of negative / neutral / positive sentences over a document."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import streamlit as st

from services.results import Sentiment

ORDER = ("NEGATIVE", "NEUTRAL", "POSITIVE")
COLOURS = {"NEGATIVE": "#ef4444", "NEUTRAL": "#9ca3af", "POSITIVE": "#22c55e"}
_MARKDOWN_COLOURS = {"NEGATIVE": "red", "NEUTRAL": "gray", "POSITIVE": "green"}
CONFIDENCE_COLUMNS = {
    column: st.column_config.ProgressColumn(column, format="percent", min_value=0, max_value=1)
    for column in ("confidence", *(label.lower() for label in ORDER))
}


def label_markdown(result: Sentiment) -> str:
    """The label in its colour, its probability, then every class's, e.g.
    **NEUTRAL** (71.0% confident) · negative 9% · neutral 71% · positive 20%."""
    colour = _MARKDOWN_COLOURS.get(result.label, "blue")
    others = " · ".join(f"{label.lower()} {p:.0%}" for label, p in result.scores.items())
    return f"**:{colour}[{result.label}]** ({result.score:.1%} confident)" + (f" · {others}" if others else "")


def sentiment_rows(results: list[Sentiment], text_column: str) -> pd.DataFrame:
    """One row per text: the label, its probability, and each class's probability."""
    return pd.DataFrame([
        {text_column: r.text, "label": r.label, "confidence": r.score,
         **{label.lower(): p for label, p in r.scores.items()}}
        for r in results
    ])


def sentence_share_chart(results: list[Sentiment], unit: str) -> None:
    """One stacked bar of how the document's sentences (or lines) split by label."""
    counts = Counter(r.label for r in results)
    total = sum(counts.values())
    labels = [label for label in ORDER if label in counts] + sorted(set(counts) - set(ORDER))
    st.markdown(f"**Share of {total} {unit} by sentiment**")
    shares = pd.DataFrame({"document": [""], **{label.lower(): [counts[label] / total] for label in labels}})
    st.bar_chart(shares, x="document", y=[label.lower() for label in labels], horizontal=True, stack="normalize",
                 color=[COLOURS.get(label, "#60a5fa") for label in labels], height=130, x_label="", y_label="")
    st.caption(" · ".join(f"{label.lower()}: {counts[label]} of {total} ({counts[label] / total:.0%})" for label in labels))
