"""Sentiment display: the label with its colour, a table with every class's probability,
and the share of negative / neutral / positive sentences over a document."""

from __future__ import annotations

from collections import Counter

import altair as alt
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
    """"**NEUTRAL** (71.0% confident) · negative 9% · neutral 71% · positive 20%"."""
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
    """A one-bar chart of how the document's sentences (or lines) split by label."""
    counts = Counter(r.label for r in results)
    total = sum(counts.values())
    labels = [label for label in ORDER if label in counts] + sorted(set(counts) - set(ORDER))
    data = pd.DataFrame({"label": labels, "share": [counts[label] / total for label in labels],
                         "count": [counts[label] for label in labels], "order": range(len(labels))})
    chart = (
        alt.Chart(data, height=70, title=f"Share of {total} {unit} by sentiment")
        .mark_bar()
        .encode(
            x=alt.X("share:Q", stack="normalize", axis=alt.Axis(format="%", title=None)),
            color=alt.Color("label:N", sort=labels, legend=alt.Legend(orient="bottom", title=None),
                            scale=alt.Scale(domain=labels, range=[COLOURS.get(label, "#60a5fa") for label in labels])),
            order="order:Q",
            tooltip=["label", "count", alt.Tooltip("share:Q", format=".0%")],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.caption(" · ".join(f"{label.lower()}: {counts[label]} of {total} ({counts[label] / total:.0%})" for label in labels))
