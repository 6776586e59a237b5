"""Speech transcription (or translation to English) with Whisper: upload or record, timestamps,
TXT/SRT/VTT; bounded in time, cancellable, partial results kept."""

import hashlib

import streamlit as st

from services import api
from services.config import LIMITS
from ui import compare
from ui.common import ensure_loaded, friendly_errors, limits_caption, model_picker
from ui.speech import cancelled_partial, clock, live_progress, show_result

LANGUAGES = {"Auto-detect": None, "English": "en", "German": "de", "French": "fr", "Spanish": "es",
             "Italian": "it", "Dutch": "nl", "Portuguese": "pt", "Polish": "pl", "Latin": "la", "Japanese": "ja",
             "Chinese": "zh"}
TASKS = {"Transcribe": "transcribe", "Translate to English": "translate"}


def is_english_only(model) -> bool:
    return model.option("whisper_name", "").endswith(".en")


st.title("Speech transcription")
st.caption("Whisper, running locally. " + limits_caption("audio", "upload")
           + f" A run stops after {LIMITS.transcribe_budget_base_s:.0f} s + "
           f"{LIMITS.transcribe_budget_factor:g}x the audio's length, with what it has.")

with st.sidebar:
    st.markdown("**Transcription settings**")
    spec = model_picker("speech", key="asr_model")
    english_only = is_english_only(spec)
    task_name = st.radio("Task", list(TASKS), key="asr_task", horizontal=True, disabled=english_only,
                         help="Translate uses Whisper's own translation into English.")
    if english_only:
        st.caption(f"{spec.name} is English-only: it cannot translate or hear other languages. "
                   "Pick Whisper base for those.")
    language_name = st.selectbox("Language", list(LANGUAGES), key="asr_lang", disabled=english_only)
    expected = st.multiselect("Expected languages (for auto-detect)", [n for n in LANGUAGES if LANGUAGES[n]],
                              key="asr_expected", disabled=english_only or LANGUAGES[language_name] is not None,
                              help="Detection then only chooses among these: noisy English is not taken for Latin.")
    words = st.toggle("Word timestamps", value=False, key="asr_words")
    second = compare.second_model("speech", "asr_compare", spec)
task = "transcribe" if english_only else TASKS[task_name]
language = "en" if english_only else LANGUAGES[language_name]
candidates = [] if english_only or language else [LANGUAGES[n] for n in expected]

upload_tab, mic_tab = st.tabs(["Upload", "Microphone"])
with upload_tab:
    upload = st.file_uploader("Audio (wav, mp3, m4a, ogg, flac, webm)",
                              type=["wav", "mp3", "m4a", "ogg", "flac", "webm", "opus", "aac"], key="asr_upload")
with mic_tab:
    recording = st.audio_input("Record", key="asr_mic")

source = upload or recording
if source is None:
    st.info("Upload an audio file or record with the microphone.")
    st.stop()

data = source.getvalue()
name = getattr(source, "name", "recording.wav") or "recording.wav"
st.audio(data)
# The transcript is kept per (audio, model, options), so widget changes do not lose it.
request = (hashlib.sha256(data).hexdigest(), spec.id, task, language, tuple(candidates), words)
if second is not None:
    compared = request + (second.id,)
    if st.button("Transcribe with both", type="primary", key="asr_compare_go"):
        with friendly_errors("Transcription"):
            sides = []
            for model in (spec, second):
                bar = st.progress(0.0, f"{model.name}...")

                def advance(done, total, _segments, bar=bar, title=model.name):
                    bar.progress(min(1.0, done / total) if total else 1.0, f"{title}: {clock(done)} of {clock(total)}")

                english = english_only or is_english_only(model)  # both hear the language the first one can
                sides += compare.run_two("speech", [(model, lambda m: api.transcribe(
                    data, model=m, language="en" if english else language, progress=advance, name=name,
                    task="transcribe" if english else task, languages=[] if english else candidates), "")])
            st.session_state.asr_compare = (compared, *sides)
            st.rerun()
    saved = st.session_state.get("asr_compare")
    if saved is not None and saved[0] == compared:
        compare.transcripts(*saved[1:])
    st.stop()

partial = cancelled_partial(request)  # a Cancel click reran the page mid-transcription
if partial is not None:
    st.session_state.asr_result = (request, partial)
if st.button("Transcribe", type="primary", key="asr_go") and ensure_loaded(spec):
    with friendly_errors("Transcription"):
        st.button("Cancel", key="asr_cancel", icon=":material/cancel:", help="Stop; what is transcribed is kept.")
        bar, live, progress = live_progress(request)
        transcript = api.transcribe(data, model=spec.id, language=language, word_timestamps=words, progress=progress,
                                    name=name, task=task, languages=candidates)
        st.session_state.pop("asr_partial", None)
        st.session_state.asr_result = (request, transcript)
        st.rerun()  # show the result without the run's progress bar and Cancel button
    st.session_state.pop("asr_partial", None)  # reached only when the run failed: nothing was cancelled

saved = st.session_state.get("asr_result")
if saved is None or saved[0] != request:
    st.stop()
show_result(saved[1], name, words)
