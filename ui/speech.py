"""The speech page's progress (with time left and Cancel) and its result, partial or whole."""

from __future__ import annotations

import time

import streamlit as st

from services.results import Segment, Transcript
from services.subtitles import to_srt, to_txt, to_vtt


def clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def live_progress(request: tuple):
    """A progress callback that shows position, time left and the latest segments, and keeps the
    segments so far in the session: a Cancel (a rerun) stops the run but not what it found."""
    bar = st.progress(0.0, "Decoding audio...")
    live = st.empty()
    started = time.perf_counter()

    def show(done: float, total: float, segments: list[Segment]) -> None:
        st.session_state.asr_partial = (request, done, total, list(segments))
        elapsed = time.perf_counter() - started
        left = f" · about {clock(elapsed / done * (total - done))} left" if done > 0 and done < total else ""
        bar.progress(min(1.0, done / total) if total else 1.0, f"{clock(done)} of {clock(total)} transcribed{left}")
        live.markdown("\n\n".join(f"`{clock(s.start)}` {s.text}" for s in segments[-6:]))

    return bar, live, show


def cancelled_partial(request: tuple) -> Transcript | None:
    """What a cancelled run of ``request`` had transcribed, as a transcript marked incomplete."""
    saved = st.session_state.pop("asr_partial", None)
    if saved is None or saved[0] != request:
        return None
    _, done, total, segments = saved
    return Transcript(text=" ".join(s.text for s in segments).strip(), language="", segments=segments,
                      duration=total, complete=False, stopped="cancelled", covered=done,
                      notes=[f"Cancelled: the transcript covers the first {clock(done)} of {clock(total)}."])


def show_result(transcript: Transcript, name: str, words: bool) -> None:
    if transcript.complete:
        st.success(f"Language: **{transcript.language}** · {transcript.duration:.1f} s of audio in "
                   f"{transcript.seconds:.1f} s (real-time factor {transcript.real_time_factor:.2f})"
                   + (" · translated to English" if transcript.task == "translate" else ""))
    for note in transcript.notes:
        st.warning(note)
    if transcript.language_probabilities:
        st.caption("Language detection: " + " · ".join(
            f"{g.language} {g.probability:.0%}" for g in transcript.language_probabilities))
    st.markdown("### Transcript" + ("" if transcript.complete else " (partial)"))
    st.write(transcript.text or "(no speech found)")
    st.markdown("### Segments")
    st.dataframe([{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments], hide_index=True,
                 width="stretch")
    if words:
        with st.expander("Words"):
            st.dataframe([w.to_dict() for s in transcript.segments for w in s.words], hide_index=True)
    stem = name.rsplit(".", 1)[0] + ("" if transcript.complete else "-partial")
    c1, c2, c3 = st.columns(3)
    c1.download_button("TXT", to_txt(transcript), f"{stem}.txt", "text/plain")
    c2.download_button("SRT", to_srt(transcript), f"{stem}.srt", "application/x-subrip")
    c3.download_button("VTT", to_vtt(transcript), f"{stem}.vtt", "text/vtt")
