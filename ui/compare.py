"""Compare mode's widgets: the toggle that adds a second model, each side's header, and the
side-by-side views. The runs and the differences come from ``services.compare``."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable

import pandas as pd
import streamlit as st

from services.catalog import ModelSpec
from services.compare import Side, WordDiff, entities_only_in, match_boxes, run_side, top1_agrees, word_diff
from services.drawing import draw_detections
from ui.common import model_picker, tasks
from ui.highlight import entity_html, legend_html
from ui.sentiment import CONFIDENCE_COLUMNS, sentiment_rows

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


def classifications(name: str, data: bytes, a: Side, b: Side, chart: Callable) -> bool | None:
    """The photo, both top-k charts, and whether the top classes agree (returned; None: a side failed)."""
    col_img, col_a, col_b = st.columns(3)
    col_img.image(data, caption=name, width="stretch")
    for column, side in ((col_a, a), (col_b, b)):
        if header(column, side):
            column.altair_chart(chart(side.result.predictions), width="stretch")
    if a.ok and b.ok:
        first, other = a.result.predictions[0], b.result.predictions[0]
        agree = top1_agrees(a.result, b.result)
        if agree:
            st.success(f"Top-1 agrees: **{first.label}** ({first.score:.1%} vs {other.score:.1%}).")
        else:
            st.warning(f"Top-1 differs: **{first.label}** ({a.title}) vs **{other.label}** ({b.title}).")
        return agree
    return None


def sentiments(a: Side, b: Side) -> None:
    """One row per text with both labels and probabilities and whether they agree (or the side that ran)."""
    shown = [side for column, side in zip(st.columns(2), (a, b)) if header(column, side)]
    if len(shown) == 2:
        table = pd.DataFrame([
            {"text": first.text, "A": first.label, "A confidence": first.score,
             "B": second.label, "B confidence": second.score, "agree": first.label == second.label}
            for first, second in zip(a.result, b.result)])
        st.caption(f"A = {a.title}, B = {b.title}: the labels agree on {int(table['agree'].sum())} of {len(table)}.")
        bar = CONFIDENCE_COLUMNS["confidence"]
        st.dataframe(table, hide_index=True, width="stretch", column_config={"A confidence": bar, "B confidence": bar})
    elif shown:
        st.dataframe(sentiment_rows(shown[0].result, "text"), hide_index=True, width="stretch",
                     column_config=CONFIDENCE_COLUMNS)


def entities(a: Side, b: Side) -> None:
    """Both highlightings; an entity whose span the other side did not find is outlined."""
    only = entities_only_in(a.result, b.result) if a.ok and b.ok else ([], [])
    labels = {e.label for side in (a, b) if side.ok for e in side.result.entities}
    st.markdown(legend_html(sorted(labels)), unsafe_allow_html=True)
    for column, side, alone in zip(st.columns(2), (a, b), only):
        extra = f" · {len(side.result.entities)} entities, {len(alone)} only here" if side.ok else ""
        if header(column, side, extra):
            column.markdown(entity_html(side.result.text, side.result.entities, alone), unsafe_allow_html=True)
    if a.ok and b.ok:
        st.caption("A dashed outline marks an entity whose span the other model did not find.")


def detections(name: str, data: bytes, a: Side, b: Side, keep: Callable) -> None:
    """Both sides' boxes (``keep`` applies the page's threshold and classes), paired by IoU; the
    unpaired in magenta. Times are the detections' own (a cached result is not timed again)."""
    a, b = (dataclasses.replace(s, seconds=s.result.seconds) if s.ok else s for s in (a, b))
    kept = [keep(s.result.detections) if s.ok else [] for s in (a, b)]
    match = match_boxes(*kept)
    for column, side, boxes, alone in zip(st.columns(2), (a, b), kept, (match.only_a, match.only_b)):
        if header(column, side, f" · {len(boxes)} objects, {len(alone)} only here"):
            column.image(draw_detections(data, boxes, set(alone)), width="stretch")
    if a.ok and b.ok:
        st.caption(f"{name}: {len(match.pairs)} boxes in both (same class, IoU at least 0.5); "
                   f"{len(match.only_a)} only in A, {len(match.only_b)} only in B, drawn in magenta.")


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


def stream_answers(models: tuple[ModelSpec, ModelSpec], generate: Callable) -> None:
    """Both answers streamed one after the other, into two columns (``generate(model_id)`` gives a
    ``TextStream``). The text is kept in the session as it comes, so it stays on the page, and a
    Stop (which reruns the page and so ends the stream) keeps what came."""
    kept = st.session_state["gen_compare_answers"] = []
    for column, model in zip(st.columns(2), models):
        entry = {"title": model.name, "text": "", "side": None}
        kept.append(entry)
        top = column.container()  # the header goes above the answer, once it is known

        def call(model_id: str, column=column, entry=entry):
            stream = generate(model_id)

            def pieces():
                for piece in stream:
                    if piece:
                        entry["text"] += piece
                        yield piece

            with column, st.container(border=True):
                st.write_stream(pieces())
            return stream.result

        with column:
            (entry["side"],) = run_two("text-generation", [(model, call, "")])
        _answer_header(top, entry)


def show_answers() -> None:
    """The last comparison's answers (after a rerun), a stopped one marked so."""
    for column, entry in zip(st.columns(2), st.session_state.get("gen_compare_answers", [])):
        _answer_header(column, entry)
        if entry["text"]:
            column.container(border=True).markdown(entry["text"])


def _answer_header(column, entry: dict) -> None:
    side = entry["side"]
    if side is None:
        column.markdown(f"**{html.escape(entry['title'])}**")
        column.caption("Stopped: the text so far.")
    elif header(column, side) and side.result is not None:
        result = side.result
        column.caption(f"{result.tokens} tokens, **{result.tokens_per_second:.1f} tokens/s**, "
                       f"first token after {result.first_token_seconds:.2f} s")
