"""Compare mode's widgets: the toggle that adds a second model, each side's header, and the
side-by-side views. The runs and the differences come from ``services.compare``."""

from __future__ import annotations

import html
from collections.abc import Callable

import pandas as pd
import streamlit as st

from services.catalog import ModelSpec
from services.compare import Side, WordDiff, run_side, word_diff
from ui.common import model_picker, tasks

HELP = ("The same input through a second model (or a second setting), side by side. Both models go "
        "through the shared model manager, so the memory budget holds: a model may be unloaded to make room.")


def second_model(task: str, key: str, first: ModelSpec, label: str = "Second model",
                 toggle: str = "Compare two models", same_model: bool = False) -> ModelSpec | None:
    """The compare toggle; when on, a picker preset to another model (an available one if any),
    or with ``same_model`` to the task's default (two settings of one model)."""
    if not st.toggle(toggle, key=f"{key}_on", help=HELP):
        return None
    return model_picker(task, key=f"{key}_model", label=label, avoid=None if same_model else first.id)


def run_two(task: str, sides: list[tuple[ModelSpec, Callable, str]]) -> list[Side]:
    """Each (model, ``call(model_id)``, title) in turn, with a spinner; a side that fails says why."""
    out = []
    for spec, call, title in sides:
        with st.spinner(f"Running {title or spec.name}..."):
            out.append(run_side(tasks(), task, spec.id, call, title or spec.name))
    return out


def header(column, side: Side, extra: str = "") -> bool:
    """The side's title with its time and memory, or why it has no result; True when it has one."""
    column.markdown(f"**{html.escape(side.title)}**")
    if not side.ok:
        column.warning(f"{side.title} could not run: {side.error} Only the other side is shown.")
        return False
    memory = f" · {side.memory_mb:.0f} MB" if side.memory_mb is not None else ""
    column.caption(f"{side.seconds * 1000:.0f} ms{memory}{extra}")
    return True


def sentiment_table(a: Side, b: Side) -> pd.DataFrame:
    """One row per text: each side's label and probability, and whether they agree."""
    rows = []
    for first, second in zip(a.result, b.result):
        rows.append({"text": first.text, "A": first.label, "A confidence": first.score,
                     "B": second.label, "B confidence": second.score, "agree": first.label == second.label})
    return pd.DataFrame(rows)


def diff_html(diff: WordDiff) -> str:
    """B's words against A's: only in A struck through in red, only in B underlined in green."""
    out = []
    for chunk in diff.chunks:
        a, b = html.escape(" ".join(chunk.a)), html.escape(" ".join(chunk.b))
        if chunk.kind == "equal":
            out.append(a)
        if chunk.kind in ("substitute", "delete"):
            out.append(f'<del class="only-a" style="color:#b91c1c">{a}</del>')
        if chunk.kind in ("substitute", "insert"):
            out.append(f'<ins class="only-b" style="color:#15803d">{b}</ins>')
    return f'<div style="line-height:1.9">{" ".join(out)}</div>'


def wer_caption(diff: WordDiff) -> str:
    return (f"Word error rate of B against A: **{diff.wer:.1%}** ({diff.substitutions} substituted, "
            f"{diff.deletions} only in A, {diff.insertions} only in B, of {diff.reference_words} words; "
            "compared lowercased without punctuation).")


def transcripts(a: Side, b: Side) -> None:
    """Both transcripts side by side, then B's words against A's with its WER."""
    for column, side in zip(st.columns(2), (a, b)):
        if header(column, side, _speed(side)):
            column.write(side.result.text or "(no speech found)")
    if a.ok and b.ok:
        diff = word_diff(a.result.text, b.result.text)
        st.markdown(wer_caption(diff))
        st.markdown(diff_html(diff), unsafe_allow_html=True)


def _speed(side: Side) -> str:
    if not side.ok:
        return ""
    return f" · real-time factor {side.result.real_time_factor:.2f}" + ("" if side.result.complete else " · partial")
